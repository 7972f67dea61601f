//! TPC-H at scale factor 0.01: generate the tables, run the queries of
//! `sql/tpch/`, and check their results against the reference answers that DuckDB
//! computed (`../shared/tpch/answers/sf0.01`, beside the repository).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use olap::tpch::check::compare_query;
use olap::tpch::generate::{generate, table_rows, TABLES};
use olap::Database;

/// The rows of each table at SF 0.01 (`lineitem` has a random 1 to 7 per order).
const SF001_ROWS: [(&str, u64); 8] = [
    ("region", 5),
    ("nation", 25),
    ("supplier", 100),
    ("customer", 1_500),
    ("part", 2_000),
    ("partsupp", 8_000),
    ("orders", 15_000),
    ("lineitem", 60_175),
];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn query_dir() -> PathBuf {
    manifest_dir().join("sql/tpch")
}

/// The reference answers at SF 0.01, which must be there.
fn answers() -> PathBuf {
    answers_at("sf0.01")
}

/// The reference answers at one scale factor (`sf0.1`), which must be there.
fn answers_at(scale: &str) -> PathBuf {
    let dir = manifest_dir().join("../shared/tpch/answers").join(scale);
    assert!(
        dir.is_dir(),
        "the TPC-H reference answers are missing: expected them in {} \
         (the shared/ directory beside the repository)",
        dir.display()
    );
    dir
}

/// A fresh database with the TPC-H tables at SF 0.01.
fn sf001() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("tpch.db")).unwrap();
    generate(&db, 0.01, false).unwrap();
    (dir, db)
}

/// Runs query `name` (`q01`) and compares it with its reference answer.
fn check_query(db: &Database, name: &str) -> Result<(), String> {
    check_query_against(db, name, &answers())
}

fn check_query_against(db: &Database, name: &str, answers: &Path) -> Result<(), String> {
    let path = query_dir().join(format!("{name}.sql"));
    let sql = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let result = db.execute(&sql).map_err(|e| e.to_string())?;
    compare_query(&result, &sql, &answers.join(format!("{name}.csv")))
}

/// The 22 queries that differ from the answers in `answers`.
fn failing_queries(db: &Database, answers: &Path) -> Vec<String> {
    (1..=22)
        .map(|n| format!("q{n:02}"))
        .filter_map(|name| {
            check_query_against(db, &name, answers)
                .err()
                .map(|e| format!("{name}: {e}"))
        })
        .collect()
}

fn count(db: &Database, table: &str) -> u64 {
    let rows = db
        .execute(&format!("SELECT count(*) FROM {table}"))
        .unwrap()
        .to_string_rows();
    rows[0][0].parse().unwrap()
}

#[test]
fn sf001_tables_and_single_table_queries() {
    let answers = answers();
    let (_dir, db) = sf001();
    for (table, rows) in SF001_ROWS {
        assert_eq!(count(&db, table), rows, "rows of {table}");
        if table != "lineitem" {
            assert_eq!(table_rows(table, 0.01), Some(rows), "table_rows({table})");
        }
    }
    // The types are the generator's, mapped to the engine's.
    let describe = db.execute("DESCRIBE lineitem").unwrap().to_string_rows();
    let types: Vec<String> = describe
        .iter()
        .map(|r| format!("{} {}", r[0], r[1]))
        .collect();
    assert_eq!(
        types[..8],
        [
            "l_orderkey BIGINT",
            "l_partkey BIGINT",
            "l_suppkey BIGINT",
            "l_linenumber INTEGER",
            "l_quantity DECIMAL(15,2)",
            "l_extendedprice DECIMAL(15,2)",
            "l_discount DECIMAL(15,2)",
            "l_tax DECIMAL(15,2)",
        ]
    );
    assert_eq!(describe[10][1], "DATE");
    assert_eq!(describe[15][1], "VARCHAR");

    // The single-table queries.
    for name in ["q01", "q06"] {
        if let Err(difference) = check_query(&db, name) {
            panic!("{name} differs from {}: {difference}", answers.display());
        }
    }

    // Generating again into the same database fails and changes nothing.
    let err = generate(&db, 0.01, false).unwrap_err().to_string();
    assert!(
        err.contains("already has TPC-H tables") && err.contains("DROP TABLE"),
        "{err}"
    );
    assert_eq!(count(&db, "lineitem"), 60_175);
    // Once they are dropped, it works.
    db.execute(&format!("DROP TABLE {}", TABLES.join(", ")))
        .unwrap();
    generate(&db, 0.01, false).unwrap();
    assert_eq!(count(&db, "orders"), 15_000);
}

#[test]
fn bad_scale_factors_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("tpch.db")).unwrap();
    for sf in [0.0, -1.0, f64::NAN] {
        let err = generate(&db, sf, false).unwrap_err().to_string();
        assert!(err.contains("scale factor"), "{err}");
    }
    assert!(db
        .execute("SHOW TABLES")
        .unwrap()
        .to_string_rows()
        .is_empty());
}

#[test]
fn sf001_all_22_queries_match_the_reference() {
    let (_dir, db) = sf001();
    let failures = failing_queries(&db, &answers());
    assert!(
        failures.is_empty(),
        "{} of 22 queries differ from the reference:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// SF 0.1 (600 000 lineitem rows, a few seconds) catches what only more data shows.
#[test]
fn sf01_all_22_queries_match_the_reference() {
    let answers = answers_at("sf0.1");
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("tpch.db")).unwrap();
    generate(&db, 0.1, false).unwrap();
    let failures = failing_queries(&db, &answers);
    assert!(
        failures.is_empty(),
        "{} of 22 queries differ from the reference at SF 0.1:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Under a limit of about a fortieth of what they hold in memory, hash
    // joins (Q9's five), aggregations (Q18's 150,000 orders) and sorts spill,
    // and Q13's right join streams its rows into its aggregate.
    db.execute("SET memory_limit = '1MB'").unwrap();
    let spilled = db.memory().spilled();
    let failures = failing_queries(&db, &answers);
    assert!(
        failures.is_empty(),
        "{} of 22 queries differ from the reference at SF 0.1 under a 1 MB limit:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        db.memory().spilled() > spilled,
        "nothing spilled under 1 MB"
    );
}

fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_olap-cli"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the olap-cli binary runs")
}

#[test]
fn cli_generates_and_benches() {
    let answers = answers();
    let answers = answers.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["--db", "t.db", "tpch", "--sf", "0.01"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("lineitem 60175"), "{stdout}");

    let q01 = query_dir().join("q01.sql");
    let q06 = query_dir().join("q06.sql");
    let (q01, q06) = (q01.to_str().unwrap(), q06.to_str().unwrap());
    let out = cli(
        dir.path(),
        &[
            "--db", "t.db", "bench", q01, q06, "--runs", "2", "--check", answers,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("2 queries on t.db, 2 runs each"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("query") && lines[1].ends_with("check"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("q01") && lines[2].ends_with("  ok"),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("q06") && lines[3].ends_with("  ok"),
        "{stdout}"
    );
    assert!(lines[4].starts_with("total"), "{stdout}");
    assert_eq!(lines[5], "2 of 2 correct", "{stdout}");

    // A wrong answer, and a query that fails: both reported, the run goes on, exit 1.
    let refs = dir.path().join("refs");
    std::fs::create_dir(&refs).unwrap();
    std::fs::write(refs.join("q06.csv"), "revenue\n1.00\n").unwrap();
    std::fs::write(refs.join("bad.csv"), "x\n1\n").unwrap();
    let bad = dir.path().join("bad.sql");
    std::fs::write(&bad, "SELECT nope FROM lineitem").unwrap();
    let out = cli(
        dir.path(),
        &[
            "--db",
            "t.db",
            "bench",
            bad.to_str().unwrap(),
            q06,
            "--runs",
            "1",
            "--check",
            refs.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout.contains("error: Binder Error"), "{stdout}");
    assert!(
        stdout.contains("WRONG: row 1, column 1 (revenue): expected \"1.00\", got "),
        "{stdout}"
    );
    assert!(stdout.ends_with("0 of 2 correct\n"), "{stdout}");

    // The same database again: a clear error.
    let out = cli(dir.path(), &["--db", "t.db", "tpch", "--sf", "0.01"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("Error: Catalog Error: the database t.db already has"),
        "{stderr}"
    );
}
