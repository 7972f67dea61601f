//! `olap-cli`: the command-line shell of the `olap` engine.
//!
//! ```text
//! olap-cli [--db DIR] [--threads N] [--format table|csv|json] query "SQL; SQL; ..."
//! olap-cli [--db DIR] query -f file.sql        (`-f -` reads standard input)
//! olap-cli [--db DIR]                          (the interactive shell)
//! olap-cli [--db DIR] tpch [--sf N]            (generate the TPC-H tables)
//! olap-cli [--db DIR] bench [FILES|DIRS] [--runs N] [--check DIR]
//! ```
//!
//! Every error is one line, `Error: <message>`, on stderr, and exit code 1.

#[path = "olap_cli/failure.rs"]
mod failure;
#[path = "olap_cli/output.rs"]
mod output;
#[path = "olap_cli/repl.rs"]
mod repl;
#[path = "olap_cli/statements.rs"]
mod statements;
#[path = "olap_cli/tpch.rs"]
mod tpch;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use olap::Database;

/// mimalloc keeps freed memory for reuse: glibc's malloc returns every large
/// block to the kernel, and a query then spends a fifth of its time in page
/// faults on fresh memory. (The library leaves the choice to its host program.)
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v2 and v3 alike).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the kernel after 10 s unused instead of 10 ms: a
/// query's hash tables and buffers are then reused by the next statement (or
/// run of a benchmark) instead of being faulted in and zeroed by the kernel
/// again, which took a fifth to a third of the time of the large joins and
/// aggregations at SF 10. A process that sits idle still gives it back.
///
/// And no transparent huge pages: with them, the kernel's time to fault in
/// fresh memory varied from run to run by seconds at SF 10 (a 2 MiB page is
/// zeroed, or first compacted, at once), where 4 KiB pages cost a steady
/// fraction of that (SF 10 suite, best of 3: 5.8-6.0 s with, 5.7 s without).
/// mimalloc's own switch for them (`allow_thp`) comes too late: its first
/// arena is mapped before `main`.
fn tune_allocator() {
    // SAFETY: sets one option before any thread but this one exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
    // SAFETY: a flag of this process; an old kernel without it returns an error,
    // which changes nothing.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0)
    };
}

use failure::{guarded, Failure};
use output::Format;

/// The database directory used when `--db` is not given.
const DEFAULT_DB: &str = "olap.db";

/// An embedded columnar OLAP engine: query a database directory with SQL.
#[derive(Debug, Parser)]
#[command(name = "olap-cli", version)]
struct Cli {
    /// The database directory (created on first use).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DB, global = true)]
    db: PathBuf,

    /// The number of worker threads for queries.
    #[arg(long, value_name = "N", global = true,
          value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,

    /// The memory queries may hold (`1GB`, `512MiB`; default: 80% of the
    /// machine's): hash aggregations and sorts beyond it spill to disk, other
    /// operators fail with an out-of-memory error. Same as SET memory_limit.
    #[arg(long, value_name = "SIZE", global = true, value_parser = parse_memory_limit)]
    memory_limit: Option<usize>,

    /// How results are printed.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    format: Format,

    /// Open the existing database for reading only, beside a process that writes
    /// to it (each statement sees what was last committed).
    #[arg(long, global = true)]
    read_only: bool,

    /// What to do; without a command, start the interactive shell.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run SQL statements and print the result of the last one.
    Query(QueryArgs),
    /// Generate the eight TPC-H tables at a scale factor into the database (which
    /// must not have them yet).
    Tpch(tpch::TpchArgs),
    /// Run query files (default: sql/tpch/*.sql) several times each, print their
    /// times, and with --check compare the results with reference answers.
    Bench(tpch::BenchArgs),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct QueryArgs {
    /// The SQL text: one or more statements separated by `;`.
    sql: Option<String>,

    /// Read the SQL from FILE (`-` for standard input).
    #[arg(short, long, value_name = "FILE")]
    file: Option<PathBuf>,
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    failure::install_panic_hook();
    match run(&cli) {
        Ok(code) => code,
        Err(failure @ Failure::Message(_)) => {
            failure.report();
            ExitCode::FAILURE
        }
        Err(Failure::OutputClosed) => ExitCode::SUCCESS,
    }
}

fn run(cli: &Cli) -> Result<ExitCode, Failure> {
    match &cli.command {
        Some(Command::Query(args)) => {
            let sql = read_sql(args)?;
            let db = open(cli)?;
            run_query(&db, &sql, cli.format)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Tpch(args)) => tpch::generate(&open(cli)?, args),
        Some(Command::Bench(args)) => tpch::bench(&open(cli)?, args),
        None => repl::run(&open(cli)?, &cli.db, cli.format),
    }
}

/// Opens the database of `--db` and applies `--threads`.
fn open(cli: &Cli) -> Result<Database, Failure> {
    let db = guarded(|| {
        if cli.read_only {
            Database::open_read_only(&cli.db)
        } else {
            Database::open(&cli.db)
        }
    })?;
    if let Some(threads) = cli.threads {
        guarded(|| db.set_threads(threads.into()))?;
    }
    if let Some(bytes) = cli.memory_limit {
        db.set_memory_limit(bytes);
    }
    Ok(db)
}

fn parse_memory_limit(text: &str) -> Result<usize, String> {
    olap::exec::memory::parse_bytes(text).map_err(|e| e.to_string())
}

/// The SQL of `query`: the argument, or the contents of `-f FILE`.
fn read_sql(args: &QueryArgs) -> Result<String, Failure> {
    match (&args.sql, &args.file) {
        (Some(sql), _) => Ok(sql.clone()),
        (None, Some(path)) if path == Path::new("-") => {
            let mut sql = String::new();
            std::io::stdin()
                .read_to_string(&mut sql)
                .map_err(|e| Failure::new(format!("reading standard input: {e}")))?;
            Ok(sql)
        }
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| Failure::new(format!("reading {}: {e}", path.display()))),
        (None, None) => Err(Failure::new(
            "no SQL given; pass it as an argument or with -f FILE",
        )),
    }
}

/// Runs `sql` and prints the result of its last statement.
fn run_query(db: &Database, sql: &str, format: Format) -> Result<(), Failure> {
    let result = guarded(|| db.execute(sql))?;
    output::print_result(&result, format)?;
    Ok(())
}
