//! Constant folding: any sub-expression without column references is evaluated
//! once at plan time (`DATE '1998-12-01' - INTERVAL '90' DAY` becomes a date
//! literal), so scans can compare columns with literals and use zone maps. An
//! expression whose evaluation fails (say, an overflow) is left alone, so the error
//! surfaces when, and only if, the query evaluates it.

use arrow::datatypes::DataType;

use crate::exec::expr::evaluate_constant;
use crate::plan::{BinaryOp, Expr, LogicalPlan, SortKey};
use crate::types::{ScalarValue, MICROS_PER_DAY, TIMESTAMP};

pub fn fold_plan(plan: LogicalPlan) -> LogicalPlan {
    let plan = super::map_inputs(plan, &mut fold_plan);
    match plan {
        LogicalPlan::Filter { input, predicate } => LogicalPlan::Filter {
            input,
            predicate: fold(predicate),
        },
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => LogicalPlan::Project {
            input,
            exprs: exprs.into_iter().map(fold).collect(),
            schema,
        },
        LogicalPlan::Sort { input, keys, fetch } => LogicalPlan::Sort {
            input,
            keys: keys
                .into_iter()
                .map(|k| SortKey {
                    expr: fold(k.expr),
                    ..k
                })
                .collect(),
            fetch,
        },
        other => other,
    }
}

/// Folds the constant parts of one expression.
pub fn fold(expr: Expr) -> Expr {
    expr.transform_up(&mut |e| {
        let constant = !matches!(e, Expr::Literal(_) | Expr::Column { .. })
            && e.children().iter().all(|c| matches!(c, Expr::Literal(_)));
        if !constant {
            return date_comparison(e);
        }
        match evaluate_constant(&e) {
            Ok(v) if v.data_type() == e.data_type() => Expr::Literal(v),
            _ => e,
        }
    })
}

/// `CAST(date AS TIMESTAMP) <op> TIMESTAMP '...'` (what `date_col <= DATE '...' -
/// INTERVAL ...` binds to) as the same comparison of the date with a DATE, so
/// that scans compare the column itself and zone maps apply. A timestamp past
/// midnight lies strictly between its day and the next: `<` and `<=` keep the
/// dates up to its day, `>` and `>=` the dates after it, `=` none.
fn date_comparison(e: Expr) -> Expr {
    let Expr::Binary {
        op,
        left,
        right,
        data_type,
    } = e
    else {
        return e;
    };
    let rebuilt = |left, right| Expr::Binary {
        op,
        left,
        right,
        data_type: DataType::Boolean,
    };
    let (date, micros, op) = match (left.as_ref(), right.as_ref()) {
        (Expr::Cast { expr, to }, Expr::Literal(ScalarValue::Timestamp(Some(t))))
            if op.is_comparison() && expr.data_type() == DataType::Date32 && *to == TIMESTAMP =>
        {
            (expr.as_ref().clone(), *t, op)
        }
        (Expr::Literal(ScalarValue::Timestamp(Some(t))), Expr::Cast { expr, to })
            if op.is_comparison() && expr.data_type() == DataType::Date32 && *to == TIMESTAMP =>
        {
            (expr.as_ref().clone(), *t, op.swap())
        }
        _ => {
            return Expr::Binary {
                op,
                left,
                right,
                data_type,
            }
        }
    };
    let Ok(day) = i32::try_from(micros.div_euclid(MICROS_PER_DAY)) else {
        return rebuilt(left, right);
    };
    let midnight = micros.rem_euclid(MICROS_PER_DAY) == 0;
    let op = match (op, midnight) {
        (_, true) => op,
        (BinaryOp::Lt, false) => BinaryOp::LtEq,
        (BinaryOp::GtEq, false) => BinaryOp::Gt,
        (BinaryOp::LtEq | BinaryOp::Gt, false) => op,
        // Never equal: NULL for a NULL date, else false (or true for `<>`).
        (BinaryOp::Eq | BinaryOp::NotEq, false) => {
            return rebuilt(left, right);
        }
        _ => return rebuilt(left, right),
    };
    Expr::Binary {
        op,
        left: Box::new(date),
        right: Box::new(Expr::Literal(ScalarValue::Date32(Some(day)))),
        data_type: DataType::Boolean,
    }
}
