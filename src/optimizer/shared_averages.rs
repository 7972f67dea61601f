//! AVG of a DECIMAL as SUM / COUNT, sharing the aggregates the query computes anyway.
//!
//! An AVG keeps a sum and a count per group, and a query that averages also
//! tends to sum and count the same columns: TPC-H Q1 takes `SUM(l_quantity)`,
//! `AVG(l_quantity)`, `AVG(l_extendedprice)`, `AVG(l_discount)` and `COUNT(*)`,
//! six passes over the rows for sums and counts where three would do. Here each
//! `AVG(x)` of a DECIMAL of at most 18 digits (without DISTINCT, FILTER or ORDER
//! BY) becomes `SUM(x)` and `COUNT(x)`, or `COUNT(*)` when `x` is a column that
//! cannot be NULL; every aggregate is computed once however many averages or
//! other items use it, and a projection above the aggregation divides: the
//! same `avg_of_state` that answers AVG from a materialized view's states, the
//! exact sum divided by count·10^scale and rounded once, as AVG itself does.
//! The sums are exact in either form (128-bit); at most 18 digits, no sum of
//! fewer than 10^20 rows can overflow, so no error changes either.
//!
//! Integers and floats are left alone: SUM of a BIGINT is a BIGINT that can
//! overflow where AVG does not, and a float sum's rounding depends on the
//! order of its additions.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};

use crate::plan::{AggExpr, AggFunc, Expr, LogicalPlan, ScalarFunc};

/// Decimals of at most this many digits are averaged as SUM / COUNT.
const MAX_DIGITS: u8 = 18;

pub fn shared_averages(plan: LogicalPlan) -> LogicalPlan {
    let plan = super::map_inputs(plan, &mut shared_averages);
    match plan {
        LogicalPlan::Aggregate {
            input,
            group,
            aggs,
            grouping_sets: None,
            schema,
        } if aggs.iter().any(splits) => split(*input, group, aggs, schema),
        other => other,
    }
}

/// Whether `agg` is an AVG this rule answers from a sum and a count.
fn splits(agg: &AggExpr) -> bool {
    let plain = !agg.distinct && agg.filter.is_none() && agg.order_by.is_empty();
    let decimal = agg
        .arg
        .as_ref()
        .is_some_and(|a| matches!(a.data_type(), DataType::Decimal128(p, _) if p <= MAX_DIGITS));
    agg.func == AggFunc::Avg && plain && decimal
}

/// The aggregation of `aggs` with each split AVG's sum and count among its
/// aggregates (each once), under a projection that gives `schema` back.
fn split(
    input: LogicalPlan,
    group: Vec<Expr>,
    aggs: Vec<AggExpr>,
    schema: arrow::datatypes::SchemaRef,
) -> LogicalPlan {
    let keys = group.len();
    let mut computed: Vec<AggExpr> = vec![];
    // The column of the new aggregation that holds `agg`, added if it is new.
    let mut column_of = |agg: AggExpr| -> Expr {
        let i = match computed.iter().position(|c| *c == agg) {
            Some(i) => i,
            None => {
                computed.push(agg);
                computed.len() - 1
            }
        };
        let agg = &computed[i];
        Expr::column(keys + i, agg.to_string(), agg.data_type.clone())
    };
    let mut exprs: Vec<Expr> = schema.fields()[..keys]
        .iter()
        .enumerate()
        .map(|(i, f)| Expr::column(i, f.name(), f.data_type().clone()))
        .collect();
    for agg in aggs {
        if !splits(&agg) {
            exprs.push(column_of(agg));
            continue;
        }
        let arg = agg.arg.expect("an AVG that splits has an argument");
        let DataType::Decimal128(_, scale) = arg.data_type() else {
            unreachable!("an AVG that splits is of a decimal")
        };
        let count = match &arg {
            Expr::Column { index, .. } if never_null(&input, *index) => {
                AggExpr::new(AggFunc::CountStar, None, DataType::Int64)
            }
            _ => AggExpr::new(AggFunc::Count, Some(arg.clone()), DataType::Int64),
        };
        let sum = AggExpr::new(AggFunc::Sum, Some(arg), DataType::Decimal128(38, scale));
        exprs.push(Expr::Function {
            func: ScalarFunc::AvgOfState,
            args: vec![column_of(sum), column_of(count)],
            data_type: DataType::Float64,
        });
    }
    let mut fields: Vec<Field> = schema.fields()[..keys]
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend(
        computed
            .iter()
            .map(|agg| Field::new(agg.to_string(), agg.data_type.clone(), true)),
    );
    let aggregate = LogicalPlan::Aggregate {
        input: Box::new(input),
        group,
        aggs: computed,
        grouping_sets: None,
        schema: Arc::new(Schema::new(fields)),
    };
    LogicalPlan::Project {
        input: Box::new(aggregate),
        exprs,
        schema,
    }
}

/// Whether column `column` of `plan`'s output is known never to be NULL: a
/// NOT NULL column of a table, passed up through filters, projections, sorts
/// and limits (anything else, joins included, is not looked into).
fn never_null(plan: &LogicalPlan, column: usize) -> bool {
    match plan {
        LogicalPlan::Scan { schema, .. } => schema
            .fields()
            .get(column)
            .is_some_and(|f| !f.is_nullable()),
        LogicalPlan::Filter { input, .. }
        | LogicalPlan::Sort { input, .. }
        | LogicalPlan::Limit { input, .. } => never_null(input, column),
        LogicalPlan::Project { input, exprs, .. } => match exprs.get(column) {
            Some(Expr::Column { index, .. }) => never_null(input, *index),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::Database;

    /// Rows of `sql`, each row's values joined by `|`.
    fn rows(db: &Database, sql: &str) -> Vec<String> {
        let result = db.query(sql).unwrap();
        result
            .to_string_rows()
            .iter()
            .map(|r| r.join("|"))
            .collect()
    }

    #[test]
    fn averages_from_shared_sums_and_counts_give_what_avg_gives() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        db.execute(
            "CREATE TABLE t (g INTEGER NOT NULL, x DECIMAL(15,2) NOT NULL, y DECIMAL(9,3), \
             z DECIMAL(30,2), i BIGINT)",
        )
        .unwrap();
        db.execute(
            "INSERT INTO t VALUES (1, 1.10, 2.125, 1.00, 5), (1, 2.20, NULL, 2.00, 6), \
             (2, 3.35, NULL, 3.00, 7), (2, -0.01, 0.333, NULL, NULL), (3, 7.00, NULL, NULL, 1)",
        )
        .unwrap();
        let plan = rows(
            &db,
            "EXPLAIN SELECT g, SUM(x), AVG(x), AVG(y), COUNT(*) FROM t GROUP BY g",
        )
        .join("\n");
        // AVG(x) shares SUM(x) and COUNT(*) (x is NOT NULL); AVG(y) counts y.
        assert!(
            plan.contains("aggregates=[sum(x), count_star(), sum(y), count(y)]"),
            "{plan}"
        );
        assert!(
            plan.contains("avgofstate(sum(x), count_star()) AS AVG(x)"),
            "{plan}"
        );
        // What DuckDB answers: the wide decimal and the integer are averaged
        // by AVG itself; a group of NULLs, and no rows at all, average to NULL.
        let cases = [
            (
                "SELECT g, SUM(x), AVG(x), AVG(y), AVG(z), AVG(i), COUNT(*) FROM t GROUP BY g ORDER BY g",
                vec![
                    "1|3.30|1.65|2.125|1.5|5.5|2",
                    "2|3.34|1.67|0.333|3.0|7.0|2",
                    "3|7.00|7.0|NULL|NULL|1.0|1",
                ],
            ),
            ("SELECT AVG(x), AVG(y), AVG(x + y) FROM t", vec!["2.728|1.229|1.774"]),
            ("SELECT AVG(x), AVG(y), COUNT(*) FROM t WHERE g > 5", vec!["NULL|NULL|0"]),
            (
                "SELECT g, AVG(y) FROM t GROUP BY g HAVING AVG(x) > 1 ORDER BY 2 NULLS FIRST",
                vec!["3|NULL", "2|0.333", "1|2.125"],
            ),
        ];
        for (sql, expected) in cases {
            assert_eq!(rows(&db, sql), expected, "{sql}");
        }
    }
}
