//! The TPC-H benchmark through the embedded API, as a program that links the
//! library builds it: no global allocator is set, so every allocation goes to
//! the system's (glibc's) malloc, and transparent huge pages stay as the host
//! has them. `olap-cli bench` runs the same queries with its own allocator
//! (mimalloc, THP off); comparing the two shows what the library itself owes to
//! the host's allocator.
//!
//! ```text
//! cargo run --release --example bench_api -- --db DIR [--threads N] [--runs N]
//!                      [--memory-limit SIZE] [--check DIR] [FILES|DIRS]
//! ```
//!
//! It prints the same report as `olap-cli bench` (`benches/tpch_vs_duckdb.py
//! --api` reads it) and exits with status 1 if a query failed or a check did not
//! match.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use olap::tpch::bench::{query_files, run_bench, BenchOptions, ReportLayout};
use olap::Database;

#[derive(Parser)]
#[command(about = "TPC-H through the embedded API, with the system allocator")]
struct Cli {
    /// The database directory (opened read-only).
    #[arg(long)]
    db: PathBuf,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// The memory limit, as SET memory_limit reads it (e.g. 8GiB).
    #[arg(long)]
    memory_limit: Option<String>,
    /// How many times to run each query.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Check each result against DIR/<query>.csv.
    #[arg(long)]
    check: Option<PathBuf>,
    /// Query files, or directories of *.sql files [default: sql/tpch].
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> olap::Result<ExitCode> {
    let db = Database::open_read_only(&cli.db)?;
    if let Some(threads) = cli.threads {
        db.set_threads(threads)?;
    }
    if let Some(limit) = &cli.memory_limit {
        db.set_memory_limit(olap::exec::memory::parse_bytes(limit)?);
    }
    let files = query_files(&cli.paths)?;
    let options = BenchOptions {
        runs: cli.runs.max(1),
        check_dir: cli.check,
    };
    let layout = ReportLayout::new(&files, options.check_dir.is_some());
    println!(
        "{} queries on {} through the embedded API (system allocator), {} runs each, {} threads",
        files.len(),
        db.path().display(),
        options.runs,
        db.threads()
    );
    println!("{}", layout.header());
    let report = run_bench(&db, &files, &options, |query| {
        println!("{}", layout.line(query))
    })?;
    println!("{}", layout.summary(&report));
    Ok(if report.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
