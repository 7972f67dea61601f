//! Runs every sqllogictest file under `testdata/slt/` against a fresh database.
//!
//! Each file gets its own empty database directory; in the SQL, `__TEST_DIR__` is
//! replaced by a fresh temporary directory and `__DATA_DIR__` by the absolute path
//! of `testdata/slt/data`. Values print as `olap::format` prints them, with NULL as
//! `NULL` and the empty string as `(empty)`. `SLT=name` runs only the files whose
//! name contains `name`.

use std::path::{Path, PathBuf};

use arrow::datatypes::DataType;
use sqllogictest::{DBOutput, DefaultColumnType, Runner};

struct OlapDb {
    db: olap::Database,
    test_dir: PathBuf,
    data_dir: PathBuf,
}

impl sqllogictest::DB for OlapDb {
    type Error = olap::Error;
    type ColumnType = DefaultColumnType;

    fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, olap::Error> {
        let sql = sql
            .replace("__TEST_DIR__", &self.test_dir.display().to_string())
            .replace("__DATA_DIR__", &self.data_dir.display().to_string());
        let result = self.db.execute(&sql)?;
        if result.schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = result
            .schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int32 | DataType::Int64 => DefaultColumnType::Integer,
                DataType::Float64 | DataType::Decimal128(..) => DefaultColumnType::FloatingPoint,
                _ => DefaultColumnType::Text,
            })
            .collect();
        let rows = result
            .to_string_rows()
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| {
                        if v.is_empty() {
                            "(empty)".to_string()
                        } else {
                            v
                        }
                    })
                    .collect()
            })
            .collect();
        Ok(DBOutput::Rows { types, rows })
    }

    fn engine_name(&self) -> &str {
        "olap"
    }
}

/// The `.slt` files of `dir`; with `SLT=name` in the environment, only those
/// whose name contains `name` (`SLT=window cargo test --test slt`).
fn slt_files(dir: &Path) -> Vec<PathBuf> {
    let only = std::env::var("SLT").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("testdata/slt exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(&only))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn sqllogictest_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/slt");
    let data_dir = root.join("data");
    let mut failures = vec![];
    let files = slt_files(&root);
    assert!(
        !files.is_empty(),
        "no .slt files found in {}",
        root.display()
    );
    for file in &files {
        let scratch = tempfile::tempdir().expect("temp dir");
        let db_dir = scratch.path().join("db");
        let test_dir = scratch.path().join("files");
        std::fs::create_dir_all(&test_dir).expect("test dir");
        let data_dir = data_dir.clone();
        let mut runner = Runner::new(move || {
            let db = olap::Database::open(&db_dir);
            let test_dir = test_dir.clone();
            let data_dir = data_dir.clone();
            async move {
                Ok(OlapDb {
                    db: db?,
                    test_dir,
                    data_dir,
                })
            }
        });
        if let Err(e) = runner.run_file(file) {
            failures.push(format!("{}: {}", file.display(), e.display(false)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
