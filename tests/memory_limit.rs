//! `SET memory_limit`: hash aggregations and sorts over the limit spill to disk
//! and give the same answer as in memory; other operators over it fail with an
//! out-of-memory error, and the database goes on working.
//!
//! The oracle is the same query without a limit (whose answers the TPC-H and
//! sqllogictest suites check against DuckDB's).

use olap::tpch::generate::generate;
use olap::Database;

/// A fresh database with the TPC-H tables at SF 0.01 (lineitem: 60,175 rows).
fn sf001() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("tpch.db")).unwrap();
    generate(&db, 0.01, false).unwrap();
    (dir, db)
}

/// The rows of `sql`, sorted (the order of GROUP BY output is not defined).
fn sorted_rows(db: &Database, sql: &str) -> Vec<Vec<String>> {
    let mut rows = db.query(sql).unwrap().to_string_rows();
    rows.sort();
    rows
}

/// Runs `sql` without a limit and with one a `fraction` of the memory it held
/// then; checks that the second run spilled, held at most about its limit, and
/// gave the same rows. Returns the peak and limit.
fn same_when_spilled(db: &Database, sql: &str, fraction: f64) -> (usize, usize) {
    let memory = db.memory();
    db.execute("SET memory_limit = '100GB'").unwrap();
    memory.reset_peak();
    let expected = sorted_rows(db, sql);
    let in_memory = memory.peak();
    let limit = (in_memory as f64 * fraction) as usize;
    db.set_memory_limit(limit);
    let spilled_before = memory.spilled();
    memory.reset_peak();
    let got = sorted_rows(db, sql);
    let peak = memory.peak();
    db.execute("SET memory_limit = '100GB'").unwrap();
    assert!(
        memory.spilled() > spilled_before,
        "{sql}: nothing spilled under a limit of {limit} bytes ({in_memory} in memory)"
    );
    assert_eq!(got.len(), expected.len(), "{sql}");
    assert!(
        got == expected,
        "{sql}: different rows when spilled: {got:?} {expected:?}"
    );
    // A hash table grows by doubling: one step may pass a state's share.
    assert!(
        peak <= limit + limit / 4,
        "{sql}: held {peak} bytes under a limit of {limit}"
    );
    assert_eq!(memory.used(), 0, "{sql}: memory still reserved after it");
    (peak, limit)
}

#[test]
fn group_by_over_the_limit_spills_and_gives_the_same_groups() {
    let (_dir, db) = sf001();
    // Each inner GROUP BY holds more than the limit; the outer query sums up
    // its groups (a result that fits), or HAVING keeps a few of them. Sums of
    // doubles are rounded: spilled groups are added up in another order.
    let queries = [
        // Two integer keys (a pair of numbers), accumulators of every kind.
        ("SELECT count(*), sum(k1), sum(k2), sum(c), sum(q), round(sum(a), 3), min(d), max(m), round(sum(sd), 6), \
          count(*) FILTER (WHERE r) FROM (SELECT l_orderkey k1, l_partkey k2, count(*) c, \
          sum(l_quantity) q, avg(l_extendedprice) a, min(l_shipdate) d, max(l_comment) m, \
          stddev_samp(l_tax) sd, bool_or(l_returnflag = 'R') r \
          FROM lineitem GROUP BY l_orderkey, l_partkey)", 0.3),
        // One string key, read dictionary-encoded from the table (spilled as such).
        ("SELECT count(*), min(l_comment), max(l_comment), sum(length(l_comment)), sum(c), \
          sum(d), sum(o) FROM (SELECT l_comment, count(*) c, sum(l_discount) d, \
          max(l_orderkey) o FROM lineitem GROUP BY l_comment)", 0.3),
        // Keys with NULLs, three columns (encoded as rows).
        ("SELECT count(*), count(k), sum(k), count(s), sum(s), min(l_shipmode), sum(c), sum(q) \
          FROM (SELECT CASE WHEN l_linenumber = 1 THEN NULL ELSE l_orderkey END AS k, l_shipmode, \
          CASE WHEN l_suppkey % 3 = 0 THEN NULL ELSE l_suppkey END AS s, count(*) c, \
          sum(l_quantity) q FROM lineitem GROUP BY 1, 2, 3)", 0.3),
        // A tighter limit: the spilled partitions spill again.
        ("SELECT count(*), sum(r), min(m), max(m) FROM (SELECT l_orderkey, l_linenumber, \
          sum(l_extendedprice * (1 - l_discount)) r, min(l_comment) m \
          FROM lineitem GROUP BY l_orderkey, l_linenumber)", 0.1),
        // HAVING over the spilled groups, the few kept returned as they are (339
        // of 7,996: the result must fit in the limit, which is a fraction of what
        // one thread's hash table held when the scan ran on one thread).
        ("SELECT l_partkey, l_suppkey, count(*), sum(l_quantity) FROM lineitem \
          GROUP BY l_partkey, l_suppkey HAVING count(*) > 12", 0.3),
    ];
    for (sql, fraction) in queries {
        let (peak, limit) = same_when_spilled(&db, sql, fraction);
        eprintln!("held {peak} of {limit} bytes: {}", &sql[..60]);
    }
}

#[test]
fn joins_over_the_limit_partition_both_inputs_and_give_the_same_rows() {
    let (_dir, db) = sf001();
    // Each join's build side holds more than its share of the limit; the
    // aggregates over the join output hold little (and spill nothing), so what
    // spills is the join's.
    let joins = [
        // One integer key (orders builds).
        "SELECT count(*), sum(o_totalprice), sum(l_quantity) FROM lineitem \
         JOIN orders ON l_orderkey = o_orderkey",
        // Two keys and a residual filter.
        "SELECT count(*), sum(ps_supplycost * l_quantity) FROM lineitem JOIN partsupp \
         ON l_partkey = ps_partkey AND l_suppkey = ps_suppkey AND ps_availqty > l_quantity * 10",
        // A left join with NULL keys on both sides (they match nothing).
        "SELECT count(*), count(b.k), sum(b.k), sum(b.p) FROM \
         (SELECT CASE WHEN l_linenumber = 1 THEN NULL ELSE l_orderkey END AS k FROM lineitem) a \
         LEFT JOIN (SELECT CASE WHEN o_orderkey % 7 = 0 THEN NULL ELSE o_orderkey END AS k, \
         o_totalprice AS p FROM orders) b ON a.k = b.k",
        // A full join: unmatched rows of both sides, an ON condition on one.
        "SELECT count(*), count(c_custkey), count(o_orderkey), sum(o_totalprice) FROM customer \
         FULL JOIN orders ON c_custkey = o_custkey AND o_orderpriority = '1-URGENT'",
        // Semi and anti joins (EXISTS, NOT EXISTS).
        "SELECT count(*), sum(o_totalprice) FROM orders WHERE EXISTS (SELECT 1 FROM lineitem \
         WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)",
        "SELECT count(*), sum(o_totalprice) FROM orders WHERE NOT EXISTS (SELECT 1 FROM lineitem \
         WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)",
        // A string key.
        "SELECT count(*), sum(length(a.o_comment)) FROM orders a JOIN orders b \
         ON a.o_comment = b.o_comment",
        // A GROUP BY over a chain of joins.
        "SELECT n_name, count(*), sum(l_extendedprice) FROM lineitem \
         JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey \
         JOIN nation ON c_nationkey = n_nationkey GROUP BY n_name",
    ];
    for sql in joins {
        let (peak, limit) = same_when_spilled(&db, sql, 0.3);
        eprintln!("held {peak} of {limit} bytes: {}", &sql[..60]);
    }
}

#[test]
fn a_right_join_streams_its_rows_into_the_next_pipeline() {
    let (_dir, db) = sf001();
    // TPC-H Q13's join: customer, the build side, fits; the 15,334 rows joined
    // (about 1 MB with their comments) do not, and go straight into the
    // aggregate, the unmatched customers after the last morsel of orders.
    let sql = "SELECT count(*), count(o_orderkey), sum(length(o_comment)), sum(c_custkey) \
               FROM customer LEFT JOIN orders ON c_custkey = o_custkey \
               AND o_comment NOT LIKE '%special%requests%'";
    let plan = db
        .query(&format!("EXPLAIN {sql}"))
        .unwrap()
        .to_string_rows();
    assert!(
        plan.iter()
            .flatten()
            .any(|line| line.contains("Join ⋈ Right")),
        "not a right join: {plan:?}"
    );
    let expected = sorted_rows(&db, sql);
    db.execute("SET memory_limit = '200KB'").unwrap();
    assert_eq!(sorted_rows(&db, sql), expected);
    db.execute("SET memory_limit = '1GB'").unwrap();
}

#[test]
fn order_by_over_the_limit_merges_sorted_runs() {
    let (_dir, db) = sf001();
    let sorts = [
        "SELECT l_comment, l_orderkey, l_linenumber FROM lineitem ORDER BY l_comment, l_orderkey, l_linenumber",
        "SELECT l_orderkey, l_linenumber, l_shipdate FROM lineitem ORDER BY l_shipdate DESC, l_orderkey, l_linenumber LIMIT 1000",
        // (A sort key not in the output would add a projection after the sort, and
        // the sorted rows are held whole between the two: they must fit.)
        "SELECT o_orderkey, o_comment, o_totalprice FROM orders ORDER BY o_totalprice NULLS FIRST, o_orderkey",
    ];
    for sql in sorts {
        let memory = db.memory();
        let expected = db.query(sql).unwrap().to_string_rows();
        memory.reset_peak();
        db.query(sql).unwrap();
        let limit = memory.peak() / 3;
        db.set_memory_limit(limit);
        let spilled = memory.spilled();
        let got = db
            .query(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .to_string_rows();
        db.execute("SET memory_limit = '100GB'").unwrap();
        assert!(memory.spilled() > spilled, "{sql}: no run spilled");
        // Ties are broken by the keys themselves: the order is the same.
        assert!(got == expected, "{sql}: a different order when spilled");
    }
}

#[test]
fn operators_that_cannot_spill_fail_cleanly_and_the_database_goes_on() {
    let (_dir, db) = sf001();
    // A join without equality keys (a cross product under a filter) is not
    // partitioned: its build side (orders' keys, 120 KB) must fit.
    let join = "SELECT count(*) FROM lineitem, orders WHERE l_orderkey < o_orderkey - 14990";
    let expected = db.query(join).unwrap().to_string_rows();
    db.execute("SET memory_limit = '100KB'").unwrap();
    for sql in [
        join,
        "SELECT l_returnflag, l_linestatus, count(*) FROM lineitem GROUP BY ROLLUP (l_returnflag, l_linestatus, l_comment)",
        "SELECT l_orderkey, row_number() OVER (PARTITION BY l_suppkey ORDER BY l_shipdate) FROM lineitem",
        "SELECT * FROM lineitem",
    ] {
        let err = db.query(sql).unwrap_err().to_string();
        assert!(
            err.starts_with("Out of Memory Error: ") && err.contains("memory_limit of 97.7 KiB"),
            "{sql}: {err}"
        );
        assert_eq!(db.memory().used(), 0, "{sql}: memory still reserved");
    }
    db.execute("SET memory_limit = '1GB'").unwrap();
    assert_eq!(db.query(join).unwrap().to_string_rows(), expected);
}

#[test]
fn copy_to_writes_a_table_larger_than_the_limit_as_it_reads_it() {
    let (dir, db) = sf001();
    db.execute(
        "CREATE TABLE big AS SELECT l_orderkey, l_linenumber, x, l_comment, l_extendedprice \
         FROM lineitem, (VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10)) v(x)",
    )
    .unwrap();
    // (A CSV file's DECIMAL column is read back as DOUBLE, as DuckDB infers it.)
    let columns = "l_orderkey, l_linenumber, x, l_comment, CAST(l_extendedprice AS DOUBLE)";
    let expected = db
        .query(&format!("SELECT {columns} FROM big"))
        .unwrap()
        .to_string_rows();
    assert_eq!(expected.len(), 601_750);
    for (file, read) in [("big.parquet", "read_parquet"), ("big.csv", "read_csv")] {
        let path = dir.path().join(file).display().to_string();
        // The table holds about 48 MB as Arrow arrays; the rows are written a
        // window of morsels at a time.
        db.execute("SET memory_limit = '16MB'").unwrap();
        let copy = format!("COPY big TO '{path}'");
        let written = db.execute(&copy).unwrap_or_else(|e| panic!("{copy}: {e}"));
        assert_eq!(written.to_string_rows(), [["601750"]], "{copy}");
        db.execute("SET memory_limit = '1GB'").unwrap();
        let back = db
            .query(&format!("SELECT {columns} FROM {read}('{path}')"))
            .unwrap()
            .to_string_rows();
        let first = back.iter().zip(&expected).position(|(a, b)| a != b);
        assert!(
            back.len() == expected.len() && first.is_none(),
            "{file}: {} rows, the first that differs: {:?}",
            back.len(),
            first.map(|i| (&back[i], &expected[i]))
        );
    }
}

#[test]
fn memory_limit_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("db")).unwrap();
    db.execute("SET memory_limit = '1.5GB'").unwrap();
    assert_eq!(db.memory_limit(), 1_500_000_000);
    db.execute("SET memory_limit = '256MiB'").unwrap();
    assert_eq!(db.memory_limit(), 256 << 20);
    for bad in ["'lots'", "'12 parsecs'", "'-1GB'"] {
        let err = db
            .execute(&format!("SET memory_limit = {bad}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("memory_limit must be a size"), "{bad}: {err}");
    }
    assert_eq!(db.memory_limit(), 256 << 20);
    // Spill files go where temp_directory says; one that does not exist is a
    // clear error when a query needs it.
    let table = "CREATE TABLE t AS SELECT l FROM (VALUES (1), (2), (3)) v(l)";
    db.execute(table).unwrap();
    db.execute("SET temp_directory = '/nonexistent/olap-spill'")
        .unwrap();
    db.execute("SET memory_limit = '1 byte'").unwrap();
    let err = db
        .query("SELECT l FROM t ORDER BY l")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("creating a spill file in /nonexistent/olap-spill"),
        "{err}"
    );
}

/// The bytes of the files under `dir`.
fn size_on_disk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                size_on_disk(&p)
            } else {
                p.metadata().unwrap().len()
            }
        })
        .sum()
}

#[test]
fn rows_read_from_mapped_files_count_once_not_once_per_morsel() {
    // A morsel's strings and unpacked integers are slices of a column file
    // mapped whole; counting the whole mapping for each morsel made collecting
    // lineitem at SF 1 (COPY lineitem TO ...) fail under the default limit.
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("db")).unwrap();
    db.execute("CREATE TABLE d AS SELECT * FROM (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) v(x)")
        .unwrap();
    db.execute(
        "CREATE TABLE t AS SELECT i, i * 2654435761 AS h, 'row number ' || i AS s FROM \
         (SELECT 1 + a.x + 10 * b.x + 100 * c.x + 1000 * e.x + 10000 * f.x + 100000 * g.x AS i \
          FROM d a, d b, d c, d e, d f, d g) WHERE i <= 400000",
    )
    .unwrap();
    let on_disk = size_on_disk(&dir.path().join("db")) as usize;
    let memory = db.memory();
    memory.reset_peak();
    assert_eq!(
        db.query("SELECT s, h, i FROM t").unwrap().num_rows(),
        400_000
    );
    let peak = memory.peak();
    assert!(
        peak <= 3 * on_disk,
        "held {peak} bytes for {on_disk} bytes of files"
    );
    db.set_memory_limit(4 * on_disk);
    let out = dir.path().join("t.parquet");
    db.execute(&format!("COPY t TO '{}' (FORMAT PARQUET)", out.display()))
        .unwrap();
    let back = db
        .query(&format!(
            "SELECT count(*), sum(i) FROM read_parquet('{}')",
            out.display()
        ))
        .unwrap()
        .to_string_rows();
    assert_eq!(
        back,
        vec![vec!["400000".to_string(), "80000200000".to_string()]]
    );
}
