//! A statement happens completely or not at all, bad files give errors (never a
//! panic or a wrong answer), and a crash at any point leaves a usable database.

use std::fs;
use std::io::Write;
use std::path::Path;

use olap::{Database, Error};

fn count(db: &Database, table: &str) -> String {
    db.query(&format!("SELECT COUNT(*) FROM {table}"))
        .expect("count")
        .to_string_rows()[0][0]
        .clone()
}

fn data_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join("data"))
        .expect("data dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn failed_copy_leaves_table_and_files_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = Database::open(&dir).unwrap();
    db.execute("CREATE TABLE t (id BIGINT, name VARCHAR); INSERT INTO t VALUES (1, 'a')")
        .unwrap();
    let files_before = data_files(&dir);

    // 300 000 good rows (more than two segments are written) and then a bad one.
    let csv = tmp.path().join("big.csv");
    let mut f = fs::File::create(&csv).unwrap();
    for i in 0..300_000 {
        writeln!(f, "{i},name{}", i % 7).unwrap();
    }
    writeln!(f, "oops,bad").unwrap();
    drop(f);

    let err = db
        .execute(&format!("COPY t FROM '{}'", csv.display()))
        .unwrap_err();
    assert!(matches!(err, Error::Load(_)), "{err}");
    assert!(
        err.to_string().contains("300001"),
        "error names the line: {err}"
    );
    assert_eq!(count(&db, "t"), "1");
    assert_eq!(data_files(&dir), files_before);

    // The same file without the bad line loads completely.
    let good = tmp.path().join("good.csv");
    let text = fs::read_to_string(&csv).unwrap();
    fs::write(&good, text.trim_end().rsplit_once('\n').unwrap().0).unwrap();
    db.execute(&format!("COPY t FROM '{}'", good.display()))
        .unwrap();
    assert_eq!(count(&db, "t"), "300001");
    let sum = db
        .query("SELECT SUM(id), COUNT(DISTINCT name) FROM t")
        .unwrap();
    assert_eq!(sum.to_string_rows()[0], vec!["44999850001", "8"]);
}

#[test]
fn data_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    {
        let db = Database::open(&dir).unwrap();
        db.execute(
            "CREATE TABLE t (a INTEGER, b DECIMAL(12,2), c VARCHAR, d DATE, e BOOLEAN, f DOUBLE);
             INSERT INTO t VALUES (1, 1.50, 'x', DATE '2020-02-29', true, 0.5), (NULL, NULL, NULL, NULL, NULL, NULL)",
        )
        .unwrap();
    }
    let db = Database::open(&dir).unwrap();
    let rows = db
        .query("SELECT * FROM t ORDER BY a")
        .unwrap()
        .to_string_rows();
    assert_eq!(rows[0], vec!["1", "1.50", "x", "2020-02-29", "true", "0.5"]);
    assert_eq!(rows[1], vec!["NULL"; 6]);
}

#[test]
fn second_open_of_a_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let _db = Database::open(tmp.path()).unwrap();
    let err = Database::open(tmp.path()).err().expect("locked");
    assert!(err.to_string().contains("locked"), "{err}");
}

#[test]
fn corrupt_column_file_is_an_error_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    {
        let db = Database::open(&dir).unwrap();
        // A write of a few rows is one file holding both columns.
        db.execute("CREATE TABLE t AS SELECT 42 AS x, 'hello' AS y")
            .unwrap();
        db.execute("CREATE TABLE u AS SELECT 43 AS x, 'world' AS y")
            .unwrap();
    }
    // Truncate one file and flip a byte in the other.
    let files = data_files(&dir);
    assert_eq!(files.len(), 2);
    let first = dir.join("data").join(&files[0]);
    let len = fs::metadata(&first).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let second = dir.join("data").join(&files[1]);
    let mut bytes = fs::read(&second).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&second, bytes).unwrap();

    let db = Database::open(&dir).unwrap();
    for sql in [
        "SELECT x FROM t",
        "SELECT y FROM t",
        "SELECT x FROM u",
        "SELECT y FROM u",
    ] {
        let err = db.query(sql).unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{sql}: {err}");
    }
}

/// A lost manifest is corruption, not an empty database: the open is refused
/// with an error naming it, and no data file is deleted (restoring the
/// manifest brings the table back).
#[test]
fn missing_manifest_is_refused_and_deletes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    {
        let db = Database::open(&dir).unwrap();
        db.execute("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1), (2)")
            .unwrap();
    }
    let files_before = data_files(&dir);
    assert!(!files_before.is_empty());
    let manifest = dir.join("manifest.json");
    let saved = tmp.path().join("manifest.saved");
    fs::rename(&manifest, &saved).unwrap();

    let err = Database::open(&dir).err().expect("refused");
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with("Corrupt database: manifest missing") && message.contains("db"),
        "{message}"
    );
    assert_eq!(data_files(&dir), files_before);
    assert!(!manifest.exists());

    fs::rename(&saved, &manifest).unwrap();
    let db = Database::open(&dir).unwrap();
    assert_eq!(count(&db, "t"), "2");
}

/// A new database has its (empty) manifest from the start.
#[test]
fn a_new_database_has_a_manifest_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    drop(Database::open(&dir).unwrap());
    assert!(dir.join("manifest.json").exists());
    let db = Database::open(&dir).unwrap();
    assert!(db.query("SELECT 1").is_ok());
}

#[test]
fn crash_leftovers_are_ignored_and_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    {
        let db = Database::open(&dir).unwrap();
        db.execute("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1), (2)")
            .unwrap();
    }
    let files_before = data_files(&dir);
    // A crash after writing new files and a new manifest, before the rename.
    fs::write(dir.join("data").join("f999999.c0.col"), b"half-written").unwrap();
    fs::write(dir.join("manifest.json.tmp"), b"{\"trunc").unwrap();

    let db = Database::open(&dir).unwrap();
    assert_eq!(count(&db, "t"), "2");
    assert_eq!(data_files(&dir), files_before);
    assert!(!dir.join("manifest.json.tmp").exists());
}

#[test]
fn garbage_sql_gives_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    db.execute("CREATE TABLE t (a INTEGER, s VARCHAR, d DATE, m DECIMAL(5,2))")
        .unwrap();
    db.execute("INSERT INTO t VALUES (1, 'x', DATE '2020-01-01', 1.25)")
        .unwrap();
    let inputs = [
        "",
        ";",
        "SELEC 1",
        "SELECT",
        "SELECT * FROM",
        "SELECT a FROM t WHERE",
        "SELECT (((((1",
        "SELECT 'unterminated",
        "SELECT a + s FROM t",
        "SELECT d + d FROM t",
        "SELECT m * m * m * m * m * m * m * m * m * m FROM t",
        "SELECT SUM(s) FROM t",
        "SELECT SUM(SUM(a)) FROM t",
        "SELECT a FROM t GROUP BY s",
        "SELECT * FROM t ORDER BY 5",
        "SELECT * FROM t LIMIT -1",
        "SELECT CAST(s AS INTEGER) FROM t",
        "SELECT CAST('2020-13-45' AS DATE)",
        "SELECT 9223372036854775807 + 1",
        "SELECT -2147483648 - 1::INTEGER",
        "SELECT 1 // 0, 1 % 0, 1 / 0",
        "SELECT SUBSTRING(s, -5, -1) FROM t",
        "SELECT * FROM read_csv('/no/such/file.csv')",
        "SELECT * FROM read_parquet('/etc/hostname')",
        "COPY t FROM '/no/such/file.csv'",
        "INSERT INTO t VALUES (1)",
        "INSERT INTO t VALUES ('x', 1, 1, 1)",
        "INSERT INTO t (zz) VALUES (1)",
        "CREATE TABLE t (a INTEGER)",
        "CREATE TABLE u (a DECIMAL(50,2))",
        "DROP TABLE nope",
        "DESCRIBE nope",
        "SET threads = 0",
        "SET nonsense = 1",
        "SELECT a FROM t t1, t t2",
        "SELECT (SELECT 1)",
        "SELECT ROUND(m, a) FROM t",
        // Messages that quote SQL text spanning lines stay one line.
        "SELECT 1\n`from\n  t` WHERE",
        "SELECT \"no\nsuch\" FROM t",
        "SELECT 'multi\nline' + 1",
    ];
    for sql in inputs {
        match db.execute(sql) {
            Ok(_) => {}
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "{sql}: multi-line error {msg}");
                assert!(!msg.contains("internal error"), "{sql}: {msg}");
            }
        }
    }
    assert_eq!(count(&db, "t"), "1");
}

/// A 300,000-row table `t (a BIGINT, b VARCHAR)`: more than two segments.
fn big_table(db: &Database) {
    db.execute(
        "CREATE TABLE digits (d BIGINT); INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
         CREATE TABLE t AS SELECT a.d * 100000 + b.d * 10000 + c.d * 1000 + e.d * 100 + f.d * 10 + g.d AS a, 'x' || (a.d + g.d) AS b
         FROM digits a, digits b, digits c, digits e, digits f, digits g WHERE a.d < 3",
    )
    .unwrap();
}

fn sum_and_count(db: &Database) -> Vec<String> {
    db.query("SELECT SUM(a), COUNT(*), COUNT(DISTINCT b) FROM t")
        .unwrap()
        .to_string_rows()[0]
        .clone()
}

#[test]
fn failed_update_or_delete_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let db = Database::open(&dir).unwrap();
    big_table(&db);
    let before = sum_and_count(&db);
    let files_before = data_files(&dir);

    // Each fails on the last row, after the other rows' new values are computed.
    for sql in [
        "UPDATE t SET a = a + 1 // (a - 299999)",
        "UPDATE t SET b = 'y' WHERE 1 // (a - 299999) >= 0",
        "DELETE FROM t WHERE a < 1 // (a - 299999)",
        "UPDATE t SET a = NULL::BIGINT + 1 // (a - 299999)",
    ] {
        let err = db.execute(sql).unwrap_err();
        assert!(err.to_string().contains("Division by zero"), "{sql}: {err}");
        assert_eq!(sum_and_count(&db), before, "{sql}");
        assert_eq!(data_files(&dir), files_before, "{sql}");
    }

    // Done for real: new files replace the old ones, and survive a reopen.
    db.execute("UPDATE t SET a = a * 2 WHERE a % 2 = 1; DELETE FROM t WHERE a >= 400000")
        .unwrap();
    let after = sum_and_count(&db);
    // DuckDB 2.0.1 gives the same.
    assert_eq!(after, vec!["42499850000", "250000", "11"]);
    assert_ne!(data_files(&dir), files_before);
    drop(db);
    let db = Database::open(&dir).unwrap();
    assert_eq!(sum_and_count(&db), after);
}

/// An UPDATE killed at some moment (SIGKILL, from the start to the end of the
/// statement) leaves the table as before it or as after it, never in between.
#[test]
fn killed_update_leaves_the_table_before_or_after() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let mut expected = {
        let db = Database::open(&dir).unwrap();
        big_table(&db);
        sum_and_count(&db)
    };
    let files = data_files(&dir).len();
    let mut outcomes = [0, 0];
    for delay_ms in (0..=60).step_by(3).chain([100, 200, 400]) {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_olap-cli"))
            .arg("--db")
            .arg(&dir)
            .args(["query", "UPDATE t SET a = a + 1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let db = Database::open(&dir).unwrap();
        let now = sum_and_count(&db);
        let mut after = expected.clone();
        after[0] = (expected[0].parse::<u64>().unwrap() + 300_000).to_string();
        if now == after {
            outcomes[1] += 1;
            expected = after;
        } else {
            assert_eq!(now, expected, "killed after {delay_ms} ms");
            outcomes[0] += 1;
        }
        // The files of an interrupted statement are removed on open.
        assert_eq!(data_files(&dir).len(), files, "killed after {delay_ms} ms");
    }
    eprintln!(
        "killed UPDATEs: {} left the table before, {} after",
        outcomes[0], outcomes[1]
    );
}

/// `Database` is `Send + Sync`: threads share one, each query sees a committed
/// state (never a half-done INSERT) while another thread inserts.
#[test]
fn threads_query_while_another_inserts() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Database>();
    let tmp = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(Database::open(tmp.path()).unwrap());
    db.execute("CREATE TABLE t (batch BIGINT, v BIGINT)")
        .unwrap();
    let inserts = 40;
    std::thread::scope(|scope| {
        let writer = db.clone();
        scope.spawn(move || {
            for batch in 0..inserts {
                let values: Vec<String> = (0..100).map(|v| format!("({batch}, {v})")).collect();
                writer
                    .execute(&format!("INSERT INTO t VALUES {}", values.join(", ")))
                    .unwrap();
            }
        });
        for _ in 0..3 {
            let reader = db.clone();
            scope.spawn(move || {
                let mut seen = 0;
                while seen < inserts {
                    let row = reader
                        .query("SELECT COUNT(*), COUNT(DISTINCT batch), SUM(v) FROM t")
                        .unwrap()
                        .to_string_rows()[0]
                        .clone();
                    let batches: u64 = row[1].parse().unwrap();
                    // Whole INSERTs only: 100 rows and a sum of 4950 each.
                    assert_eq!(row[0], (batches * 100).to_string(), "{row:?}");
                    if batches > 0 {
                        assert_eq!(row[2], (batches * 4950).to_string(), "{row:?}");
                    }
                    seen = batches;
                }
            });
        }
    });
    assert_eq!(count(&db, "t"), (inserts * 100).to_string());
}

/// Chains of 10,000 `OR`s, `AND`s or `+`s are planned and evaluated (the
/// expression trees are that deep); much deeper ones are refused, not a crash.
#[test]
fn long_chains_work_and_deeper_ones_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Database::open(tmp.path()).unwrap();
    db.execute("CREATE TABLE t (d BIGINT); INSERT INTO t VALUES (1), (5), (20000)")
        .unwrap();
    let chain = |n: usize, term: &dyn Fn(usize) -> String, op: &str| {
        (0..n).map(term).collect::<Vec<_>>().join(op)
    };
    let first = |sql: &str| db.query(sql).unwrap().to_string_rows()[0][0].clone();
    let n = 10_000;
    let ones = chain(n, &|_| "1".into(), " + ");
    assert_eq!(first(&format!("SELECT {ones}")), "10000");
    let sums = chain(n, &|_| "d".into(), " + ");
    assert_eq!(first(&format!("SELECT SUM({sums}) FROM t")), "200060000");
    let any = chain(n, &|i| format!("(d = {i} AND d > 0)"), " OR ");
    assert_eq!(first(&format!("SELECT COUNT(*) FROM t WHERE {any}")), "2");
    let none = chain(n, &|i| format!("d <> {i}"), " AND ");
    assert_eq!(first(&format!("SELECT COUNT(*) FROM t WHERE {none}")), "1");

    let deep = chain(200_000, &|i| format!("d <> {i}"), " AND ");
    let err = db
        .query(&format!("SELECT COUNT(*) FROM t WHERE {deep}"))
        .unwrap_err();
    assert!(err.to_string().contains("nested too deeply"), "{err}");
}

/// One writer at a time; readers (`open_read_only`, `--read-only`) beside it, in
/// this process or others, each statement seeing a whole committed state, while
/// the writer replaces the table's files again and again.
#[test]
fn readers_see_committed_states_while_a_writer_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let writer = Database::open(&dir).unwrap();
    writer
        .execute(
            "CREATE TABLE digits (d BIGINT); INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
             CREATE TABLE t AS SELECT a.d * 10 + b.d AS v FROM digits a, digits b",
        )
        .unwrap();
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_olap-cli"))
            .arg("--db")
            .arg(&dir)
            .args(["--format", "csv"])
            .args(args)
            .output()
            .unwrap()
    };
    let second_writer = cli(&["query", "SELECT 1"]);
    assert!(!second_writer.status.success());
    assert!(String::from_utf8_lossy(&second_writer.stderr).contains("is locked"));
    let refused = cli(&["--read-only", "query", "INSERT INTO t VALUES (1)"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("read-only"));
    assert!(Database::open_read_only(tmp.path().join("nothing")).is_err());

    // 100 rows v, v + 1, ..., v + 99 in every committed state.
    let invariant = "SELECT COUNT(*), MAX(v) - MIN(v), SUM(v) - 100 * MIN(v), MIN(v) FROM t";
    let check = |row: &[String]| {
        assert_eq!(row[..3], ["100", "99", "4950"], "{row:?}");
        row[3].parse::<i64>().unwrap()
    };
    let reader = Database::open_read_only(&dir).unwrap();
    let updates = 30;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..updates {
                writer.execute("UPDATE t SET v = v + 1").unwrap();
            }
        });
        scope.spawn(|| {
            let mut last = 0;
            while last < updates {
                let row = &reader.query(invariant).unwrap().to_string_rows()[0];
                let min = check(row);
                assert!(min >= last, "went back from {last} to {min}");
                last = min;
            }
        });
        scope.spawn(|| {
            for _ in 0..5 {
                let out = cli(&["--read-only", "query", invariant]);
                let text = String::from_utf8_lossy(&out.stdout);
                let stderr = String::from_utf8_lossy(&out.stderr);
                let row: Vec<String> = text
                    .lines()
                    .nth(1)
                    .unwrap_or_else(|| panic!("{stderr}"))
                    .split(',')
                    .map(str::to_string)
                    .collect();
                check(&row);
            }
        });
    });
    // With the reader gone, the next commit removes the files replaced meanwhile.
    let kept = data_files(&dir).len();
    drop(reader);
    writer.execute("UPDATE t SET v = v + 1").unwrap();
    assert!(data_files(&dir).len() < kept);
    drop(writer);
    let reopened = Database::open(&dir).unwrap();
    assert_eq!(
        check(&reopened.query(invariant).unwrap().to_string_rows()[0]),
        updates + 1
    );
}

#[test]
fn a_read_only_open_writes_no_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    drop(Database::open(&dir).unwrap());
    // An empty database whose (empty) data directory went away.
    std::fs::remove_dir(dir.join("data")).unwrap();
    let db = Database::open_read_only(&dir).unwrap();
    assert_eq!(db.query("SELECT 1 + 1").unwrap().to_string_rows(), [["2"]]);
    assert!(!dir.join("data").exists(), "a reader created data/");
}
