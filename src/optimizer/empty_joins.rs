//! Joins that cannot match: an inner or semi join on an integer or date key
//! whose values on its two sides lie in disjoint ranges returns no row, and is
//! replaced by an empty relation, so that neither side is read.
//!
//! The ranges come from the zone maps of the table columns the keys are read
//! from, over the segments the scans read (filters and joins above a scan only
//! remove values). A materialized view's delta meets this case: the new rows of
//! one table joined with the old rows of another that they cannot reference
//! (DuckDB's statistics propagation prunes such joins the same way).

use super::cardinality::column_range;
use crate::plan::{Expr, JoinKind, LogicalPlan};

pub fn empty_joins(plan: LogicalPlan) -> LogicalPlan {
    let plan = super::map_inputs(plan, &mut empty_joins);
    let empty = matches!(
        &plan,
        LogicalPlan::Join { left, right, kind: JoinKind::Inner | JoinKind::Semi | JoinKind::RightSemi, on, .. }
            if on.iter().any(|(l, r)| disjoint(left, l, right, r))
    );
    if !empty {
        return plan;
    }
    LogicalPlan::Values {
        rows: vec![],
        schema: plan.schema(),
    }
}

/// Whether key `l` of `left` and key `r` of `right` are known never to be equal.
fn disjoint(left: &LogicalPlan, l: &Expr, right: &LogicalPlan, r: &Expr) -> bool {
    let range = |plan: &LogicalPlan, key: &Expr| match key {
        Expr::Column { index, .. } => column_range(plan, *index),
        _ => None,
    };
    match (range(left, l), range(right, r)) {
        (Some((a, b)), Some((c, d))) => b < c || d < a,
        _ => false,
    }
}
