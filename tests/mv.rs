//! Materialized views: stored results, incremental refresh after appends, and
//! queries answered from a view only when the answer is provably the same.

use olap::Database;

fn rows(db: &Database, sql: &str) -> Vec<Vec<String>> {
    db.query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .to_string_rows()
}

fn explain(db: &Database, sql: &str) -> String {
    rows(db, &format!("EXPLAIN {sql}"))
        .into_iter()
        .map(|r| r.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The query's rows with and without the view rewrite, which must agree; returns
/// whether the view was used.
fn same_with_and_without_rewrite(db: &Database, sql: &str) -> bool {
    db.execute("SET mv_rewrite = true").unwrap();
    let used = explain(db, sql).contains("(materialized view)");
    let with = rows(db, sql);
    db.execute("SET mv_rewrite = false").unwrap();
    let without = rows(db, sql);
    db.execute("SET mv_rewrite = true").unwrap();
    assert_eq!(with, without, "{sql}");
    used
}

fn sales_db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("db")).unwrap();
    db.execute(
        "CREATE TABLE stores (id INTEGER, city VARCHAR, region VARCHAR);
         INSERT INTO stores VALUES (1, 'Berlin', 'EU'), (2, 'Paris', 'EU'), (3, 'Austin', 'NA');
         CREATE TABLE sales (store INTEGER, day DATE, qty INTEGER, price DECIMAL(10,2));
         INSERT INTO sales VALUES
           (1, DATE '2024-01-01', 3, 10.00), (1, DATE '2024-02-01', 1, 2.50),
           (2, DATE '2024-01-15', 2, 4.00), (3, DATE '2024-03-01', NULL, 7.25),
           (3, DATE '2024-03-02', 5, NULL), (2, DATE '2024-02-20', 4, 1.00);
         CREATE MATERIALIZED VIEW by_city_month AS
           SELECT s.city, s.region, EXTRACT(MONTH FROM x.day) AS month,
                  SUM(x.price) AS revenue, COUNT(*) AS n, AVG(x.qty) AS avg_qty,
                  MIN(x.price) AS lo, MAX(x.price) AS hi, COUNT(x.qty) AS qtys
           FROM sales x JOIN stores s ON x.store = s.id
           WHERE x.day >= DATE '2024-01-01'
           GROUP BY s.city, s.region, EXTRACT(MONTH FROM x.day)",
    )
    .unwrap();
    (dir, db)
}

#[test]
fn rewrites_that_must_happen() {
    let (_dir, db) = sales_db();
    let queries = [
        // The same grouping.
        "SELECT s.city, s.region, EXTRACT(MONTH FROM x.day), SUM(x.price), COUNT(*) FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01' GROUP BY s.city, s.region, EXTRACT(MONTH FROM x.day) ORDER BY 1, 3",
        // SUM(qty) is derivable from the SUM that AVG(qty) keeps.
        "SELECT s.city, SUM(x.qty) FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01' GROUP BY s.city ORDER BY 1",
        // Rolled up, with every derivable measure, comma-join spelling, tables swapped.
        "SELECT s.region, SUM(x.price), COUNT(*), AVG(x.qty), MIN(x.price), MAX(x.price), COUNT(x.qty) FROM stores s, sales x WHERE s.id = x.store AND x.day >= DATE '2024-01-01' GROUP BY s.region ORDER BY 1",
        // A grand total.
        "SELECT SUM(x.price), COUNT(*) FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01'",
        // An extra filter on a view key, applied to the stored rows.
        "SELECT s.city, SUM(x.price) FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01' AND s.region = 'EU' GROUP BY s.city ORDER BY 1",
        // MIN/MAX/COUNT DISTINCT of a key.
        "SELECT s.region, MIN(s.city), COUNT(DISTINCT s.city) FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01' GROUP BY s.region ORDER BY 1",
    ];
    for q in queries {
        assert!(same_with_and_without_rewrite(&db, q), "not rewritten: {q}");
    }
}

#[test]
fn rewrites_that_must_not_happen() {
    let (_dir, db) = sales_db();
    let queries = [
        // WHERE not implied by the view's.
        "SELECT s.city, SUM(x.price) FROM sales x JOIN stores s ON x.store = s.id GROUP BY s.city ORDER BY 1",
        // A filter on a column the view does not keep.
        "SELECT s.city, SUM(x.price) FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01' AND x.qty > 2 GROUP BY s.city ORDER BY 1",
        // A group key the view does not have.
        "SELECT x.day, SUM(x.price) FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01' GROUP BY x.day ORDER BY 1",
        // A measure that cannot be derived.
        "SELECT s.city, COUNT(DISTINCT x.qty) FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01' GROUP BY s.city ORDER BY 1",
        "SELECT s.city, SUM(x.qty * 2) FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01' GROUP BY s.city ORDER BY 1",
        // Other tables.
        "SELECT region, COUNT(*) FROM stores GROUP BY region ORDER BY 1",
    ];
    for q in queries {
        assert!(!same_with_and_without_rewrite(&db, q), "rewritten: {q}");
    }
}

#[test]
fn stale_views_are_never_used_and_refresh_is_incremental_after_appends() {
    let (_dir, db) = sales_db();
    let q = "SELECT s.region, SUM(x.price), COUNT(*), AVG(x.qty) FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01' GROUP BY s.region ORDER BY 1";
    assert!(same_with_and_without_rewrite(&db, q));
    db.execute(
        "INSERT INTO sales VALUES (3, DATE '2024-04-01', 2, 3.00), (1, DATE '2023-12-31', 9, 9.00)",
    )
    .unwrap();
    let show = rows(&db, "SHOW MATERIALIZED VIEWS");
    assert_eq!(show[0][0], "by_city_month");
    assert_eq!(show[0][5], "true", "stale after an insert: {show:?}");
    assert!(
        !same_with_and_without_rewrite(&db, q),
        "a stale view was used"
    );

    let refresh = rows(&db, "REFRESH MATERIALIZED VIEW by_city_month");
    assert_eq!(refresh[0][1], "incremental");
    assert!(same_with_and_without_rewrite(&db, q));
    // The view holds what a full recomputation gives.
    let stored = rows(&db, "SELECT * FROM by_city_month ORDER BY city, month");
    db.execute("CREATE MATERIALIZED VIEW fresh AS SELECT s.city, s.region, EXTRACT(MONTH FROM x.day) AS month, SUM(x.price) AS revenue, COUNT(*) AS n, AVG(x.qty) AS avg_qty, MIN(x.price) AS lo, MAX(x.price) AS hi, COUNT(x.qty) AS qtys FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01' GROUP BY s.city, s.region, EXTRACT(MONTH FROM x.day)").unwrap();
    assert_eq!(
        stored,
        rows(&db, "SELECT * FROM fresh ORDER BY city, month")
    );
    assert_eq!(
        rows(&db, "REFRESH MATERIALIZED VIEW by_city_month")[0][1],
        "up to date"
    );

    // Replacing a base table is not an append: a full refresh.
    db.execute("CREATE OR REPLACE TABLE stores AS SELECT * FROM stores")
        .unwrap();
    assert_eq!(
        rows(&db, "REFRESH MATERIALIZED VIEW by_city_month")[0][1],
        "full"
    );
    assert_eq!(
        stored,
        rows(&db, "SELECT * FROM by_city_month ORDER BY city, month")
    );
}

#[test]
fn views_survive_reopen_and_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let db = Database::open(&path).unwrap();
        db.execute("CREATE TABLE t (k VARCHAR, v INTEGER); INSERT INTO t VALUES ('a', 1), ('b', 2), ('a', 3)").unwrap();
        db.execute("CREATE MATERIALIZED VIEW mv AS SELECT k, SUM(v) AS s FROM t GROUP BY k")
            .unwrap();
        for bad in [
            "CREATE MATERIALIZED VIEW bad AS SELECT * FROM missing",
            "CREATE MATERIALIZED VIEW mv AS SELECT 1",
            "CREATE MATERIALIZED VIEW t AS SELECT 1",
            "REFRESH MATERIALIZED VIEW nope",
            "DROP MATERIALIZED VIEW nope",
        ] {
            assert!(db.execute(bad).is_err(), "{bad}");
        }
    }
    let db = Database::open(&path).unwrap();
    assert_eq!(
        rows(&db, "SELECT * FROM mv ORDER BY k"),
        vec![vec!["a", "4"], vec!["b", "2"]]
    );
    assert_eq!(rows(&db, "SHOW MATERIALIZED VIEWS").len(), 1);
    db.execute("DROP MATERIALIZED VIEW mv").unwrap();
    assert!(db.query("SELECT * FROM mv").is_err());
    assert!(db.execute("REFRESH MATERIALIZED VIEW mv").is_err());
}

#[test]
fn an_incremental_refresh_never_reads_another_view() {
    // The delta of one view must not be answered from another fresh view that
    // holds the whole table (that would add old rows twice).
    let (_dir, db) = sales_db();
    let by_region = "SELECT s.region, SUM(x.price) AS revenue, COUNT(*) AS n FROM sales x JOIN stores s ON x.store = s.id WHERE x.day >= DATE '2024-01-01' GROUP BY s.region";
    db.execute(&format!(
        "CREATE MATERIALIZED VIEW by_region AS {by_region}"
    ))
    .unwrap();
    db.execute("INSERT INTO sales VALUES (1, DATE '2024-05-05', 1, 1.00)")
        .unwrap();
    assert_eq!(
        rows(&db, "REFRESH MATERIALIZED VIEW by_city_month")[0][1],
        "incremental"
    );
    assert_eq!(
        rows(&db, "REFRESH MATERIALIZED VIEW by_region")[0][1],
        "incremental"
    );
    db.execute("SET mv_rewrite = false").unwrap();
    let expected = rows(&db, &format!("{by_region} ORDER BY 1"));
    assert_eq!(rows(&db, "SELECT * FROM by_region ORDER BY 1"), expected);
    assert!(same_with_and_without_rewrite(
        &db,
        &format!("{by_region} ORDER BY 1")
    ));
}
