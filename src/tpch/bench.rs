//! Running query files as a benchmark: each file N times, timed, its first result
//! optionally checked against a reference answer (see [`super::check`]).
//!
//! `olap-cli bench` prints one line per query as it finishes (name, rows, minimum
//! and median time, check), then the totals; the functions that make those lines
//! are here so that the output is the same wherever it is printed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::tpch::check;
use crate::Database;

/// The default directory of query files, relative to the working directory.
pub const DEFAULT_QUERY_DIR: &str = "sql/tpch";

/// How to run the benchmark.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// How many times each query runs (at least 1).
    pub runs: usize,
    /// Where the reference answers are: `<dir>/<stem>.csv` for query file `<stem>.sql`.
    pub check_dir: Option<PathBuf>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            runs: 3,
            check_dir: None,
        }
    }
}

/// What happened to one query file.
#[derive(Debug, Clone)]
pub struct QueryReport {
    /// The file's stem (`q01`).
    pub name: String,
    pub path: PathBuf,
    /// Rows of the result (of the first run), if it ran.
    pub rows: Option<usize>,
    /// The time of every run that succeeded.
    pub times: Vec<Duration>,
    /// The one-line error, if a run failed (later runs are then skipped).
    pub error: Option<String>,
    /// With a check directory: `Ok` if the result matches the reference, else the
    /// first difference. `None` when not checked (or when the query failed).
    pub check: Option<std::result::Result<(), String>>,
}

impl QueryReport {
    /// The fastest run.
    pub fn min(&self) -> Option<Duration> {
        self.times.iter().min().copied()
    }

    /// The median run (the mean of the two middle ones for an even count).
    pub fn median(&self) -> Option<Duration> {
        let mut times = self.times.clone();
        times.sort();
        let n = times.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(times[n / 2]),
            _ => Some((times[n / 2 - 1] + times[n / 2]) / 2),
        }
    }

    /// Whether the query ran and, if checked, matched its reference.
    pub fn passed(&self) -> bool {
        self.error.is_none() && !matches!(self.check, Some(Err(_)))
    }
}

/// The reports of every query of a run of the benchmark.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub queries: Vec<QueryReport>,
    /// Whether results were checked (`--check`).
    pub checked: bool,
    pub runs: usize,
}

impl BenchReport {
    /// The sum of the minimum times of the queries that ran.
    pub fn total_min(&self) -> Duration {
        self.queries.iter().filter_map(QueryReport::min).sum()
    }

    /// The sum of the median times of the queries that ran.
    pub fn total_median(&self) -> Duration {
        self.queries.iter().filter_map(QueryReport::median).sum()
    }

    /// How many queries ran without error.
    pub fn ran(&self) -> usize {
        self.queries.iter().filter(|q| q.error.is_none()).count()
    }

    /// How many queries ran and matched their reference.
    pub fn correct(&self) -> usize {
        self.queries
            .iter()
            .filter(|q| q.error.is_none() && matches!(q.check, Some(Ok(()))))
            .count()
    }

    /// Whether every query ran and (when checked) was correct.
    pub fn all_passed(&self) -> bool {
        self.queries.iter().all(QueryReport::passed)
    }
}

/// The query files named by `paths`: a file as is, a directory as its `*.sql`
/// files in name order. No paths means [`DEFAULT_QUERY_DIR`].
pub fn query_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let default = [PathBuf::from(DEFAULT_QUERY_DIR)];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut files = vec![];
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| Error::io(format!("reading directory {}", path.display()), e))?;
            let mut sql: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sql"))
                .collect();
            if sql.is_empty() {
                return Err(Error::Load(format!(
                    "{} holds no .sql files",
                    path.display()
                )));
            }
            sql.sort();
            files.extend(sql);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(Error::Load(format!(
                "{} is neither a query file nor a directory of them",
                path.display()
            )));
        }
    }
    Ok(files)
}

/// Runs every query file `options.runs` times, calling `on_query` with each
/// report as soon as the query is done. A query that fails is reported and the
/// run goes on. Fails only if a query file cannot be read.
pub fn run_bench(
    db: &Database,
    files: &[PathBuf],
    options: &BenchOptions,
    mut on_query: impl FnMut(&QueryReport),
) -> Result<BenchReport> {
    let mut queries = vec![];
    for file in files {
        let report = run_query_file(db, file, options)?;
        on_query(&report);
        queries.push(report);
    }
    Ok(BenchReport {
        queries,
        checked: options.check_dir.is_some(),
        runs: options.runs.max(1),
    })
}

/// Runs one query file `options.runs` times and checks its first result.
pub fn run_query_file(db: &Database, file: &Path, options: &BenchOptions) -> Result<QueryReport> {
    let sql = std::fs::read_to_string(file)
        .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
    let mut report = QueryReport {
        name: query_name(file),
        path: file.to_path_buf(),
        rows: None,
        times: vec![],
        error: None,
        check: None,
    };
    for run in 0..options.runs.max(1) {
        let start = Instant::now();
        match db.execute(&sql) {
            Ok(result) => {
                report.times.push(start.elapsed());
                if run == 0 {
                    report.rows = Some(result.num_rows());
                    if let Some(dir) = &options.check_dir {
                        let reference = dir.join(format!("{}.csv", report.name));
                        report.check = Some(if reference.is_file() {
                            check::compare_query(&result, &sql, &reference)
                        } else {
                            Err(format!("no reference answer {}", reference.display()))
                        });
                    }
                }
            }
            Err(e) => {
                report.error = Some(one_line(&e.to_string()));
                report.check = None;
                break;
            }
        }
    }
    Ok(report)
}

/// A query's name: its file's stem.
pub fn query_name(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string())
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------
// The printed report
// ---------------------------------------------------------------------------

/// Lays out the benchmark's lines: fixed-width columns, the query names as wide
/// as the longest.
#[derive(Debug, Clone)]
pub struct ReportLayout {
    name_width: usize,
    checked: bool,
}

impl ReportLayout {
    pub fn new(files: &[PathBuf], checked: bool) -> Self {
        let name_width = files
            .iter()
            .map(|f| query_name(f).chars().count())
            .chain(["query".len(), "total".len()])
            .max()
            .unwrap_or(5);
        ReportLayout {
            name_width,
            checked,
        }
    }

    /// The column headings.
    pub fn header(&self) -> String {
        format!(
            "{:<w$}  {:>8}  {:>10}  {:>10}  {}",
            "query",
            "rows",
            "min ms",
            "median ms",
            if self.checked { "check" } else { "status" },
            w = self.name_width
        )
    }

    /// The line of one query.
    pub fn line(&self, q: &QueryReport) -> String {
        let status = match (&q.error, &q.check) {
            (Some(e), _) => format!("error: {e}"),
            (None, Some(Ok(()))) => "ok".to_string(),
            (None, Some(Err(d))) => format!("WRONG: {d}"),
            (None, None) => "ok".to_string(),
        };
        format!(
            "{:<w$}  {:>8}  {:>10}  {:>10}  {status}",
            q.name,
            q.rows.map_or("-".to_string(), |r| r.to_string()),
            ms(q.min()),
            ms(q.median()),
            w = self.name_width
        )
    }

    /// The totals after the last query: sums of the minimum and median times (of
    /// the queries that ran), and with checks, how many were correct.
    pub fn summary(&self, report: &BenchReport) -> String {
        let total = report.queries.len();
        let mut text = format!(
            "{:<w$}  {:>8}  {:>10}  {:>10}  {} of {total} queries ran, {} run{} each",
            "total",
            "",
            ms(Some(report.total_min())),
            ms(Some(report.total_median())),
            report.ran(),
            report.runs,
            if report.runs == 1 { "" } else { "s" },
            w = self.name_width
        );
        if self.checked {
            text.push_str(&format!("\n{} of {total} correct", report.correct()));
        }
        text
    }
}

/// A duration in milliseconds with one decimal, or `-`.
fn ms(d: Option<Duration>) -> String {
    d.map_or("-".to_string(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(
        times: &[u64],
        error: Option<&str>,
        check: Option<Result<(), String>>,
    ) -> QueryReport {
        QueryReport {
            name: "q01".into(),
            path: "sql/tpch/q01.sql".into(),
            rows: error.is_none().then_some(4),
            times: times.iter().map(|&t| Duration::from_millis(t)).collect(),
            error: error.map(String::from),
            check,
        }
    }

    #[test]
    fn min_and_median() {
        let q = report(&[30, 10, 20], None, None);
        assert_eq!(q.min(), Some(Duration::from_millis(10)));
        assert_eq!(q.median(), Some(Duration::from_millis(20)));
        let q = report(&[40, 10, 20, 30], None, None);
        assert_eq!(q.median(), Some(Duration::from_millis(25)));
        assert_eq!(report(&[], Some("x"), None).median(), None);
    }

    #[test]
    fn lines_and_totals() {
        let files = vec![PathBuf::from("sql/tpch/q01.sql")];
        let layout = ReportLayout::new(&files, true);
        let ok = report(&[12, 10, 11], None, Some(Ok(())));
        let wrong = report(
            &[5],
            None,
            Some(Err("row 1, column 2 (x): expected 1, got 2".into())),
        );
        let failed = report(&[], Some("Not implemented: joins"), None);
        assert_eq!(
            layout.header(),
            "query      rows      min ms   median ms  check"
        );
        assert_eq!(
            layout.line(&ok),
            "q01           4        10.0        11.0  ok"
        );
        assert!(layout
            .line(&wrong)
            .ends_with("WRONG: row 1, column 2 (x): expected 1, got 2"));
        assert_eq!(
            layout.line(&failed),
            "q01           -           -           -  error: Not implemented: joins"
        );
        let bench = BenchReport {
            queries: vec![ok, wrong, failed],
            checked: true,
            runs: 3,
        };
        assert_eq!(bench.correct(), 1);
        assert_eq!(bench.ran(), 2);
        assert!(!bench.all_passed());
        assert_eq!(
            layout.summary(&bench),
            "total                  15.0        16.0  2 of 3 queries ran, 3 runs each\n1 of 3 correct"
        );
    }

    #[test]
    fn directories_expand_to_sorted_sql_files() {
        let dir = std::env::temp_dir().join(format!("olap-bench-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["q10.sql", "q02.sql", "notes.txt", "q01.sql"] {
            std::fs::write(dir.join(name), "SELECT 1").unwrap();
        }
        let files = query_files(std::slice::from_ref(&dir)).unwrap();
        let names: Vec<String> = files.iter().map(|f| query_name(f)).collect();
        assert_eq!(names, ["q01", "q02", "q10"]);
        let err = query_files(&[dir.join("missing.sql")]).unwrap_err();
        assert!(err.to_string().contains("neither a query file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
