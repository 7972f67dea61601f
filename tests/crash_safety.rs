//! Crash safety: every kind of write, killed at each of its steps, leaves a
//! database that opens with the state of before or of after the statement.
//!
//! A statement runs in a child `olap-cli` with `OLAP_CRASH_AT=k`, which kills it
//! with SIGKILL before the `k`th step of a write that reaches the disk (a data file
//! created, a segment or image written, a file or directory synced, the manifest
//! written or renamed, a file removed: see `olap::storage::crash_points`), for
//! k = 1, 2, 3, ... until the statement completes. After every kill the database is
//! reopened here and must hold exactly the state of before or of after the
//! statement, with no file left behind by the killed statement.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

mod common;
use common::copy_dir;

use olap::Database;

/// What a database holds: its relations, their contents (all rows of the small
/// ones, aggregates of the large `(a BIGINT, b VARCHAR)` tables), and a query a
/// cube answers.
fn fingerprint(dir: &Path) -> Vec<String> {
    let db = Database::open(dir).expect("a killed statement leaves a database that opens");
    let query = |sql: &str| db.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    for name in query("SHOW TABLES").to_string_rows() {
        let name = &name[0];
        let rows = query(&format!("SELECT COUNT(*) FROM \"{name}\"")).to_string_rows()[0][0]
            .parse::<u64>()
            .unwrap();
        let content = if rows <= 1000 {
            let mut rows = query(&format!("SELECT * FROM \"{name}\"")).to_string_rows();
            rows.sort();
            rows
        } else {
            query(&format!(
                "SELECT COUNT(*), SUM(a), SUM(a * a % 1000003), COUNT(DISTINCT b), MIN(b), MAX(b), SUM(LENGTH(b)) FROM \"{name}\""
            ))
            .to_string_rows()
        };
        let mut hasher = DefaultHasher::new();
        content.hash(&mut hasher);
        out.push(format!("{name}: {rows} rows, {:016x}", hasher.finish()));
    }
    for row in query("SHOW MATERIALIZED VIEWS").to_string_rows() {
        out.push(format!(
            "materialized view {}: stale {}",
            row[0],
            row.join("|").contains("true")
        ));
    }
    if out.iter().any(|line| line.starts_with("c_")) {
        out.push(format!(
            "cube answer {:?}",
            query("SELECT b, SUM(a), COUNT(*) FROM t GROUP BY b ORDER BY b").to_string_rows()
        ));
    }
    out
}

/// The names in `<dir>/data`, and whether a temporary manifest is there.
fn files(dir: &Path) -> (Vec<String>, bool) {
    let mut names: Vec<String> = fs::read_dir(dir.join("data"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    (names, dir.join("manifest.json.tmp").exists())
}

/// Runs `sql` in a child process (killed at step `crash_at`, if given); whether it
/// completed.
fn run_child(dir: &Path, sql: &str, crash_at: Option<u64>) -> bool {
    let mut command = Command::new(env!("CARGO_BIN_EXE_olap-cli"));
    command.arg("--db").arg(dir).args(["query", sql]);
    if let Some(k) = crash_at {
        command.env(
            olap::storage::crash_points::CRASH_AT_VARIABLE,
            k.to_string(),
        );
    }
    let output = command.output().unwrap();
    match output.status.signal() {
        Some(9) => false,
        _ => {
            assert!(
                output.status.success(),
                "{sql} (crash at {crash_at:?}) failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            true
        }
    }
}

/// The steps to kill at: every one up to 12, then every quarter further.
fn next_step(k: u64) -> u64 {
    if k < 12 {
        k + 1
    } else {
        k + k / 4
    }
}

#[test]
fn every_write_killed_at_any_step_leaves_before_or_after() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let work = tmp.path().join("work");
    let csv = tmp.path().join("more.csv");
    let mut lines = String::from("a,b\n");
    for i in 0..5000 {
        lines.push_str(&format!("{},y{}\n", 2_000_000 + i, i % 7));
    }
    fs::write(&csv, lines).unwrap();
    {
        let db = Database::open(&state).unwrap();
        db.execute(
            "CREATE TABLE digits (d BIGINT); INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
             CREATE TABLE t AS SELECT a.d * 10000 + b.d * 1000 + c.d * 100 + e.d * 10 + f.d AS a, 'x' || (a.d + f.d) AS b
             FROM digits a, digits b, digits c, digits e, digits f;
             INSERT INTO t SELECT a + 100000, b FROM t WHERE a < 50000;
             CREATE MATERIALIZED VIEW m AS SELECT b, SUM(a) AS s, COUNT(*) AS n FROM t GROUP BY b",
        )
        .unwrap();
    }
    let statements = [
        "CREATE TABLE u AS SELECT a, b FROM t WHERE a % 3 = 0".to_string(),
        "INSERT INTO t SELECT a + 1000000, b FROM t".to_string(),
        format!("COPY t FROM '{}' (HEADER)", csv.display()),
        "REFRESH MATERIALIZED VIEW m".to_string(),
        "CREATE CUBE c ON t DIMENSIONS (b) MEASURES (SUM(a), COUNT(*))".to_string(),
        "UPDATE u SET a = a + 1 WHERE a % 2 = 0".to_string(),
        "DELETE FROM u WHERE a < 50000".to_string(),
        "DROP TABLE u".to_string(),
        "DROP CUBE c".to_string(),
    ];
    let mut kill_points = 0;
    let mut outcomes = [0, 0];
    for sql in &statements {
        let before = (fingerprint(&state), files(&state));
        copy_dir(&state, &work);
        assert!(run_child(&work, sql, None));
        let after = (fingerprint(&work), files(&work));
        assert_ne!(before.0, after.0, "{sql} changes nothing");
        let mut k = 1;
        loop {
            copy_dir(&state, &work);
            if run_child(&work, sql, Some(k)) {
                eprintln!("{sql}: completed with a crash point at step {k}");
                break;
            }
            kill_points += 1;
            let now = (fingerprint(&work), files(&work));
            if now == before {
                outcomes[0] += 1;
            } else {
                assert_eq!(now, after, "{sql} killed at step {k}");
                outcomes[1] += 1;
            }
            k = next_step(k);
        }
        copy_dir(&work, &state);
        assert_eq!(fingerprint(&state), after.0);
    }
    eprintln!(
        "{kill_points} kill points over {} statements: {} left the state before, {} after",
        statements.len(),
        outcomes[0],
        outcomes[1]
    );
    assert!(kill_points >= 50, "only {kill_points} kill points");
}
