//! TPC-H at scale factor 0.01 with other parameters than the specification's
//! validation ones: every query of `testdata/tpch_params/` (`qNN_<label>.sql`) must
//! give the answer DuckDB computed for it (`qNN_<label>.csv` beside it; see the
//! README there for how they were made).

use std::path::{Path, PathBuf};

use olap::tpch::check::compare_query;
use olap::tpch::generate::generate;
use olap::Database;

fn params_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tpch_params")
}

/// The query files, sorted by name.
fn queries() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(params_dir())
        .expect("testdata/tpch_params exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
}

/// Runs one query file and compares its result with the `.csv` beside it.
fn check(db: &Database, sql_path: &Path) -> Result<(), String> {
    let sql = std::fs::read_to_string(sql_path).map_err(|e| e.to_string())?;
    let expected = sql_path.with_extension("csv");
    if !expected.is_file() {
        return Err(format!("no reference answer {}", expected.display()));
    }
    let result = db.execute(&sql).map_err(|e| e.to_string())?;
    compare_query(&result, &sql, &expected)
}

#[test]
fn sf001_queries_with_other_parameters_match_duckdb() {
    let files = queries();
    assert!(
        files.len() >= 8,
        "expected at least 8 queries in {}, found {}",
        params_dir().display(),
        files.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("tpch.db")).unwrap();
    generate(&db, 0.01, false).unwrap();

    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            // A panic in one query is reported like an error, and the others still run.
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&db, path)))
                    .unwrap_or_else(|_| Err("panicked".to_string()));
            outcome.err().map(|e| format!("{name}: {e}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} queries differ from DuckDB's answers:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
