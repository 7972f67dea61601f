//! Arbitrary SQL through parse, bind, plan and execute on a small database.
//!
//! The database (tables with NULLs in every column, a view and a materialized
//! view) is built once per process and opened read-only, so every input meets
//! the same state (writes are refused). Errors are fine; a panic (reported by
//! the engine as "internal error"), a crash or a multi-line error is a finding.
//!
//! Run: `cargo fuzz run sql -s none -- -max_total_time=600` (see the README).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use olap::Database;

fn database() -> &'static Database {
    static DB: OnceLock<Database> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("olap-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let db = Database::open(&dir).expect("a fresh database");
            db.execute(
                "CREATE TABLE t1 (i INTEGER, b BIGINT, d DECIMAL(10,2), f DOUBLE, s VARCHAR, dt DATE, bo BOOLEAN);
                 INSERT INTO t1 VALUES
                   (1, 10, 1.50, 0.5, 'a', DATE '2024-01-01', TRUE),
                   (2, NULL, -2.25, NULL, 'abc', DATE '2024-02-29', FALSE),
                   (NULL, 7, NULL, 3.5, NULL, NULL, NULL),
                   (2147483647, 9223372036854775807, 99999999.99, 1e300, 'x%', DATE '2024-01-31', FALSE);
                 CREATE TABLE t2 AS SELECT * FROM t1 WHERE i > 1;
                 CREATE VIEW v AS SELECT s, COUNT(*) AS n FROM t1 GROUP BY s;
                 CREATE MATERIALIZED VIEW m AS SELECT bo, SUM(b) AS total FROM t1 GROUP BY bo",
            )
            .expect("the fuzzing database");
        }
        Database::open_read_only(&dir).expect("the fuzzing database, read-only")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = database().execute(sql) {
        let msg = e.to_string();
        assert!(!msg.contains("internal error"), "{sql:?}: {msg}");
        assert!(!msg.contains('\n'), "{sql:?}: {msg}");
    }
});
