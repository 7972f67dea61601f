//! Data cubes: cuboids chosen under a budget, every group-by over the dimensions
//! answered from the smallest stored cuboid with results identical to the base
//! tables, incremental refresh after appends to joined tables, and bad input.

use olap::Database;

fn rows(db: &Database, sql: &str) -> Vec<Vec<String>> {
    db.query(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .to_string_rows()
}

fn plan(db: &Database, sql: &str) -> String {
    rows(db, &format!("EXPLAIN {sql}"))
        .into_iter()
        .map(|r| r.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Rows from the cube and from the base tables (which must agree), and the
/// cuboid the query read.
fn answer(db: &Database, sql: &str) -> String {
    let explained = plan(db, sql);
    let with = rows(db, sql);
    db.execute("SET mv_rewrite = false").unwrap();
    let without = rows(db, sql);
    db.execute("SET mv_rewrite = true").unwrap();
    assert_eq!(with, without, "{sql}");
    explained
        .split_whitespace()
        .find(|w| w.contains("_cuboid_"))
        .unwrap_or("base tables")
        .to_string()
}

const FROM: &str = "FROM sales JOIN orders ON s_order = o_id JOIN stores ON o_store = st_id";

fn cube_db(budget: &str) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("db")).unwrap();
    db.execute(
        "CREATE TABLE stores (st_id INTEGER, city VARCHAR, region VARCHAR);
         INSERT INTO stores VALUES (1, 'Berlin', 'EU'), (2, 'Paris', 'EU'), (3, 'Austin', 'NA'), (4, 'Lima', NULL);
         CREATE TABLE orders (o_id INTEGER, o_store INTEGER, o_day DATE);
         CREATE TABLE sales (s_order INTEGER, item VARCHAR, qty INTEGER, price DECIMAL(10,2));",
    )
    .unwrap();
    let mut orders = vec![];
    let mut sales = vec![];
    for o in 0..400 {
        orders.push(format!(
            "({o}, {}, DATE '2023-01-01' + {})",
            o % 4 + 1,
            (o * 37) % 700
        ));
        for l in 0..(o % 3 + 1) {
            let item = ["apple", "pear", "plum", "fig"][(o + l) % 4];
            let price = if (o + l) % 11 == 0 {
                "NULL".to_string()
            } else {
                format!("{}.{:02}", (o * 7 + l) % 50, o % 100)
            };
            sales.push(format!("({o}, '{item}', {}, {price})", (o + l) % 9));
        }
    }
    db.execute(&format!("INSERT INTO orders VALUES {}", orders.join(", ")))
        .unwrap();
    db.execute(&format!("INSERT INTO sales VALUES {}", sales.join(", ")))
        .unwrap();
    db.execute(&format!(
        "CREATE CUBE shop ON sales JOIN orders ON s_order = o_id JOIN stores ON o_store = st_id
         DIMENSIONS (region, city, EXTRACT(YEAR FROM o_day), item)
         MEASURES (SUM(price * qty), COUNT(*), AVG(price), MIN(qty), MAX(price), COUNT(price)) {budget}"
    ))
    .unwrap();
    (dir, db)
}

fn dashboard() -> Vec<String> {
    let revenue = "SUM(price * qty), COUNT(*), AVG(price), MIN(qty), MAX(price), COUNT(price)";
    vec![
        format!("SELECT region, {revenue} {FROM} GROUP BY region ORDER BY region"),
        format!("SELECT city, region, {revenue} {FROM} GROUP BY city, region ORDER BY city"),
        format!("SELECT EXTRACT(YEAR FROM o_day) AS y, {revenue} {FROM} GROUP BY EXTRACT(YEAR FROM o_day) ORDER BY y"),
        format!("SELECT item, EXTRACT(YEAR FROM o_day), {revenue} {FROM} GROUP BY 1, 2 ORDER BY 1, 2"),
        format!("SELECT {revenue} {FROM}"),
        format!("SELECT region, item, SUM(price * qty) {FROM} WHERE region = 'EU' GROUP BY region, item ORDER BY 2"),
        format!("SELECT city, COUNT(*) {FROM} WHERE EXTRACT(YEAR FROM o_day) = 2024 GROUP BY city ORDER BY 1"),
        format!("SELECT region, city, EXTRACT(YEAR FROM o_day), item, {revenue} {FROM} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"),
    ]
}

#[test]
fn every_group_by_is_answered_from_a_cuboid_with_identical_results() {
    let (_dir, db) = cube_db("");
    for q in dashboard() {
        let used = answer(&db, &q);
        assert!(
            used.contains("shop_cuboid_"),
            "not answered from the cube: {q}\n{}",
            plan(&db, &q)
        );
    }
    // The grand total reads the smallest cuboid, the all-dimensions one the base.
    assert_eq!(answer(&db, &dashboard()[4]), "shop_cuboid_0000");
    assert_eq!(answer(&db, &dashboard()[7]), "shop_cuboid_1111");
}

#[test]
fn a_small_budget_stores_fewer_cuboids_and_rolls_up_from_ancestors() {
    let (_dir, db) = cube_db("BUDGET 10");
    let stored = rows(&db, "SHOW MATERIALIZED VIEWS");
    assert!(stored.len() < 16, "{stored:?}");
    for q in dashboard() {
        assert!(answer(&db, &q).contains("shop_cuboid_"), "{q}");
    }
    // Refreshed, each stored cuboid is rolled up from its smallest stored
    // ancestor; the answers still equal the base tables'.
    db.execute("INSERT INTO orders VALUES (1000, 2, DATE '2026-06-06'); INSERT INTO sales VALUES (1000, 'pear', 5, 3.25), (3, 'apple', 1, 0.50);")
        .unwrap();
    assert_eq!(rows(&db, "REFRESH CUBE shop")[0][1], "incremental");
    for q in dashboard() {
        assert!(answer(&db, &q).contains("shop_cuboid_"), "{q}");
    }
}

#[test]
fn refresh_is_incremental_after_appends_to_two_joined_tables() {
    let (_dir, db) = cube_db("");
    db.execute(
        "INSERT INTO orders VALUES (1000, 1, DATE '2025-02-02'), (1001, 4, DATE '2023-03-03');
         INSERT INTO sales VALUES (1000, 'apple', 3, 9.99), (1000, 'kiwi', 1, NULL), (1001, 'fig', 2, 1.50), (7, 'plum', 4, 2.25);",
    )
    .unwrap();
    // Stale cuboids are not used.
    assert_eq!(answer(&db, &dashboard()[0]), "base tables");
    let refreshed = rows(&db, "REFRESH CUBE shop");
    assert_eq!(refreshed[0][1], "incremental");
    for q in dashboard() {
        assert!(answer(&db, &q).contains("shop_cuboid_"), "{q}");
    }
    assert_eq!(rows(&db, "REFRESH CUBE shop")[0][1], "up to date");
}

#[test]
fn bad_cubes_are_refused_and_change_nothing() {
    let (_dir, db) = cube_db("");
    let before = rows(&db, "SHOW MATERIALIZED VIEWS");
    for bad in [
        "CREATE CUBE c2 ON sales DIMENSIONS (item) MEASURES (COUNT(DISTINCT qty))",
        "CREATE CUBE c2 ON sales DIMENSIONS (item) MEASURES (qty)",
        "CREATE CUBE c2 ON missing DIMENSIONS (item) MEASURES (COUNT(*))",
        "CREATE CUBE c2 ON sales DIMENSIONS (nope) MEASURES (COUNT(*))",
        "CREATE CUBE shop ON sales DIMENSIONS (item) MEASURES (COUNT(*))",
        "CREATE CUBE sales ON sales DIMENSIONS (item) MEASURES (COUNT(*))",
        "CREATE CUBE c2 ON sales DIMENSIONS (item)",
        "REFRESH CUBE nope",
        "DROP CUBE nope",
    ] {
        assert!(db.execute(bad).is_err(), "{bad}");
    }
    assert_eq!(rows(&db, "SHOW MATERIALIZED VIEWS"), before);
    db.execute("DROP CUBE shop").unwrap();
    assert!(rows(&db, "SHOW MATERIALIZED VIEWS").is_empty());
    assert_eq!(answer(&db, &dashboard()[0]), "base tables");
}
