//! The TPC-H commands: `tpch` (generate the tables) and `bench` (run query files,
//! time them, check them). The work is done by `olap::tpch`; this prints it.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use olap::tpch::bench::{query_files, run_bench, BenchOptions, ReportLayout};
use olap::tpch::generate_tables;
use olap::Database;

use crate::failure::{guarded, Failure};

#[derive(Debug, Args)]
pub struct TpchArgs {
    /// The scale factor: 1 is about 1 GB of raw data (6 million lineitem rows).
    #[arg(long, value_name = "N", default_value_t = 0.1)]
    pub sf: f64,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Query files, or directories whose *.sql files run in name order
    /// [default: sql/tpch].
    #[arg(value_name = "FILES")]
    pub paths: Vec<PathBuf>,

    /// How many times to run each query.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,

    /// Check each result against DIR/<query>.csv (a reference answer); exit code 1
    /// if any is wrong.
    #[arg(long, value_name = "DIR")]
    pub check: Option<PathBuf>,
}

/// `tpch --sf N`: generates the eight tables into the database.
pub fn generate(db: &Database, args: &TpchArgs) -> Result<ExitCode, Failure> {
    let progress = io::stderr().is_terminal();
    let generated = guarded(|| generate_tables(db, args.sf, progress))?;
    let rows: Vec<String> = generated
        .tables
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    println!(
        "TPC-H SF {} generated into {} in {:.1} s: {} rows ({})",
        args.sf,
        db.path().display(),
        generated.elapsed.as_secs_f64(),
        generated.total_rows(),
        rows.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// `bench [FILES] --runs N --check DIR`: one line per query as it finishes, then
/// the totals. Exit code 1 if a query failed or a check did not match.
pub fn bench(db: &Database, args: &BenchArgs) -> Result<ExitCode, Failure> {
    let files = guarded(|| query_files(&args.paths))?;
    if let Some(dir) = &args.check {
        if !dir.is_dir() {
            return Err(Failure::new(format!(
                "the reference directory {} does not exist",
                dir.display()
            )));
        }
    }
    let options = BenchOptions {
        runs: args.runs as usize,
        check_dir: args.check.clone(),
    };
    let layout = ReportLayout::new(&files, options.check_dir.is_some());
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "{} quer{} on {}, {} run{} each, {} thread{}",
        files.len(),
        if files.len() == 1 { "y" } else { "ies" },
        db.path().display(),
        options.runs,
        if options.runs == 1 { "" } else { "s" },
        db.threads(),
        if db.threads() == 1 { "" } else { "s" },
    )?;
    writeln!(out, "{}", layout.header())?;
    out.flush()?;
    let mut written = Ok(());
    let report = guarded(|| {
        run_bench(db, &files, &options, |query| {
            if written.is_ok() {
                written = writeln!(out, "{}", layout.line(query)).and_then(|_| out.flush());
            }
        })
    })?;
    written?;
    writeln!(out, "{}", layout.summary(&report))?;
    out.flush()?;
    Ok(if report.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
