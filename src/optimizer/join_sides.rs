//! Hash tables of joins on the input of fewer bytes.
//!
//! Join ordering builds each hash table on the input of fewer estimated rows,
//! before columns are pruned. But the build side is materialized whole, with
//! every column it carries, while the probe side streams through in morsels:
//! 150,000 customers with their names, addresses and comments cost more to
//! build than 115,000 (price, discount, customer key) rows (TPC-H Q10). And an
//! outer join builds on the side whose rows it need not keep, however large
//! (1.5 M orders for 150,000 customers in Q13's left join).
//!
//! Runs after column pruning, when each input carries only the columns it
//! needs: an inner, left or right join whose build side is estimated at more
//! than [`SWAP_FACTOR`] times the bytes of its probe side, with about as many
//! rows or fewer, swaps them (a left join becomes a right join, and back),
//! and a projection restores the column order. A build side that is an
//! aggregate keeps its place (the executor may compute the probe side first
//! to reduce it).

use arrow::datatypes::{DataType, Schema};

use super::cardinality::estimate_rows;
use super::column_after_swap;
use crate::plan::{Expr, JoinKind, LogicalPlan};

/// How many more bytes the build side must be estimated at for the sides to
/// swap, and how many more rows the probe side may have at most: a build costs
/// per row too (its hash table), so only inputs of about as many rows swap.
const SWAP_FACTOR: f64 = 1.5;
const ROWS_FACTOR: f64 = 1.25;

/// Bytes per value assumed for strings, whose lengths the statistics do not keep.
const STRING_BYTES: f64 = 24.0;

pub fn join_sides(plan: LogicalPlan) -> LogicalPlan {
    let plan = super::map_inputs(plan, &mut join_sides);
    let swapped_kind = match &plan {
        LogicalPlan::Join {
            left,
            right,
            kind,
            on,
            ..
        } if !on.is_empty()
            && !is_aggregate(right)
            && estimate_rows(left) <= ROWS_FACTOR * estimate_rows(right)
            && estimated_bytes(right) > SWAP_FACTOR * estimated_bytes(left) =>
        {
            match kind {
                JoinKind::Inner => Some(JoinKind::Inner),
                JoinKind::Left => Some(JoinKind::Right),
                JoinKind::Right => Some(JoinKind::Left),
                _ => None,
            }
        }
        _ => None,
    };
    let Some(swapped_kind) = swapped_kind else {
        return plan;
    };
    let LogicalPlan::Join {
        left,
        right,
        on,
        filter,
        schema,
        ..
    } = plan
    else {
        unreachable!("a join")
    };
    let (nl, nr) = (left.schema().fields().len(), right.schema().fields().len());
    // The filter reads the left columns, then the right ones: now the other way.
    let filter = filter.map(|f| f.remap_columns(&|c| column_after_swap(c, nl, nr)));
    let on = on.into_iter().map(|(l, r)| (r, l)).collect();
    let swapped = LogicalPlan::join(*right, *left, swapped_kind, on, filter);
    let exprs = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(c, f)| {
            Expr::column(
                column_after_swap(c, nl, nr),
                f.name().clone(),
                f.data_type().clone(),
            )
        })
        .collect();
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    LogicalPlan::project(swapped, exprs, names)
}

/// An aggregate, under projections and filters.
fn is_aggregate(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Aggregate { .. } => true,
        LogicalPlan::Project { input, .. } | LogicalPlan::Filter { input, .. } => {
            is_aggregate(input)
        }
        _ => false,
    }
}

fn estimated_bytes(plan: &LogicalPlan) -> f64 {
    estimate_rows(plan) * row_bytes(&plan.schema())
}

fn row_bytes(schema: &Schema) -> f64 {
    schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary => STRING_BYTES,
            t => t.primitive_width().unwrap_or(8) as f64,
        })
        .sum::<f64>()
        .max(1.0)
}

#[cfg(test)]
mod tests {
    use crate::Database;

    fn rows(db: &Database, sql: &str) -> Vec<Vec<String>> {
        db.query(sql).unwrap().to_string_rows()
    }

    #[test]
    fn the_input_of_fewer_bytes_is_built() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("db")).unwrap();
        // 100 wide rows against 110 narrow ones: join ordering builds on the
        // wide input (fewer rows); it carries more bytes.
        let wide: Vec<String> = (0..100)
            .map(|i| format!("({i}, 'name {i}', 'street {i}', 'a longer comment {i}')"))
            .collect();
        let narrow: Vec<String> = (0..110).map(|i| format!("({}, {i})", i % 50)).collect();
        db.execute(&format!(
            "CREATE TABLE wide (id INTEGER, name VARCHAR, street VARCHAR, note VARCHAR);
             INSERT INTO wide VALUES {};
             CREATE TABLE narrow (k INTEGER, v INTEGER);
             INSERT INTO narrow VALUES {};",
            wide.join(", "),
            narrow.join(", ")
        ))
        .unwrap();
        let sql = "SELECT note, v, name FROM narrow JOIN wide ON k = id ORDER BY v";
        let plan: Vec<String> = rows(&db, &format!("EXPLAIN {sql}"))
            .into_iter()
            .map(|r| r.join(" "))
            .collect();
        let join = plan.iter().position(|l| l.contains("Join")).unwrap();
        assert!(plan[join + 1].contains("Scan: wide"), "{plan:#?}");
        assert!(plan[join + 2].contains("Scan: narrow"), "{plan:#?}");
        let result = rows(&db, sql);
        assert_eq!(result.len(), 110);
        assert_eq!(result[0], ["a longer comment 0", "0", "name 0"]);
        assert_eq!(result[109], ["a longer comment 9", "109", "name 9"]);
        // A condition besides the keys reads both sides' columns, swapped too.
        let sql = "SELECT COUNT(*), MIN(v), MAX(street) FROM narrow JOIN wide ON k = id AND v > id";
        let plan = rows(&db, &format!("EXPLAIN {sql}"));
        let join = plan.iter().position(|l| l[0].contains("Join")).unwrap();
        assert!(plan[join + 1][0].contains("Scan: wide"), "{plan:#?}");
        assert_eq!(rows(&db, sql), [["60", "50", "street 9"]]);
    }

    #[test]
    fn outer_joins_build_on_the_smaller_input_and_keep_the_rows_they_must() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("db")).unwrap();
        let customers: Vec<String> = (0..100).map(|i| format!("({i})")).collect();
        // Customers 80..99 have no orders.
        let orders: Vec<String> = (0..1000)
            .map(|i| format!("({i}, {}, {i})", i % 80))
            .collect();
        db.execute(&format!(
            "CREATE TABLE cust (id INTEGER);
             INSERT INTO cust VALUES {};
             CREATE TABLE ord (ok INTEGER, ck INTEGER, v INTEGER);
             INSERT INTO ord VALUES {};",
            customers.join(", "),
            orders.join(", ")
        ))
        .unwrap();
        let join_line = |sql: &str| -> (String, String) {
            let plan: Vec<String> = rows(&db, &format!("EXPLAIN {sql}"))
                .into_iter()
                .map(|r| r.join(" "))
                .collect();
            let join = plan.iter().position(|l| l.contains("Join")).unwrap();
            (plan[join].clone(), plan[join + 1..].join("\n"))
        };
        // Counts per customer, and how many customers have each count.
        let expected = [["0", "20"], ["12", "40"], ["13", "40"]];
        let expected_filtered = [["0", "20"], ["6", "60"], ["7", "20"]];
        let sqls = [
            // The customers must all stay: built on, they are a right join's.
            "FROM cust LEFT JOIN ord ON id = ck",
            "FROM ord RIGHT JOIN cust ON id = ck",
        ];
        for from in sqls {
            for (condition, expected) in [("", &expected), (" AND v >= 500", &expected_filtered)] {
                let from = format!("{from}{condition}");
                let sql = format!(
                    "SELECT n, COUNT(*) FROM (SELECT id, COUNT(ok) AS n {from} GROUP BY id) \
                     GROUP BY n ORDER BY n"
                );
                let (join, below) = join_line(&sql);
                assert!(join.contains("Right"), "{join}");
                // The build side (the join's last input) is the customers.
                assert!(
                    below
                        .trim_end()
                        .ends_with("Scan: cust columns=[id] segments=1/1"),
                    "{below}"
                );
                assert_eq!(
                    rows(&db, &sql),
                    expected.map(|r| r.map(String::from)),
                    "{sql}"
                );
            }
        }
        // Every order stays: the right join becomes a left join.
        let sql = "SELECT COUNT(*), COUNT(id) FROM cust RIGHT JOIN ord ON id = ck AND id < 40";
        let (join, below) = join_line(sql);
        assert!(join.contains("Left"), "{join}");
        assert!(
            below
                .trim_end()
                .ends_with("Scan: cust columns=[id] filters=[(id < 40)] segments=1/1"),
            "{below}"
        );
        assert_eq!(rows(&db, sql), [["1000", "520"]]);
    }
}
