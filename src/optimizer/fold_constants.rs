//! Constant folding: any sub-expression without column references is evaluated
//! once at plan time (`DATE '1998-12-01' - INTERVAL '90' DAY` becomes a date
//! literal), so scans can compare columns with literals and use zone maps. An
//! expression whose evaluation fails (say, an overflow) is left alone, so the error
//! surfaces when, and only if, the query evaluates it.

use crate::exec::expr::evaluate_constant;
use crate::plan::{Expr, LogicalPlan, SortKey};

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
            return e;
        }
        match evaluate_constant(&e) {
            Ok(v) if v.data_type() == e.data_type() => Expr::Literal(v),
            _ => e,
        }
    })
}
