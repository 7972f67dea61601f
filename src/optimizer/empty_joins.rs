//! Joins that cannot match: an inner or semi join on an integer or date key
//! whose values on its two sides lie in disjoint ranges returns no row, and is
//! replaced by an empty relation, so that neither side is read.
//!
//! The ranges come from the zone maps of the table columns the keys are read
//! from, over the segments the scans read (filters and joins above a scan only
//! remove values). A materialized view's delta meets this case: the new rows of
//! one table joined with the old rows of another that they cannot reference
//! (DuckDB's statistics propagation prunes such joins the same way).
//!
//! An empty relation then empties what consumes it (as DataFusion's
//! `PropagateEmptyRelation` does): filters, projections, sorts, limits,
//! grouped aggregates, the joins that need a row from it; and it leaves the
//! union it is a branch of. A global aggregate keeps its one row.

use super::cardinality::column_range;
use crate::plan::{Expr, JoinKind, LogicalPlan};

pub fn empty_joins(plan: LogicalPlan) -> LogicalPlan {
    let plan = super::map_inputs(plan, &mut empty_joins);
    let empty = match &plan {
        LogicalPlan::Join {
            left,
            right,
            kind,
            on,
            ..
        } => {
            let (left_empty, right_empty) = (is_empty(left), is_empty(right));
            match kind {
                JoinKind::Inner | JoinKind::Semi | JoinKind::RightSemi => {
                    left_empty || right_empty || on.iter().any(|(l, r)| disjoint(left, l, right, r))
                }
                JoinKind::Left | JoinKind::Anti | JoinKind::NullAwareAnti => left_empty,
                JoinKind::Right | JoinKind::RightAnti => right_empty,
                JoinKind::Full => left_empty && right_empty,
            }
        }
        LogicalPlan::Filter { input, .. }
        | LogicalPlan::Project { input, .. }
        | LogicalPlan::Sort { input, .. }
        | LogicalPlan::Limit { input, .. }
        | LogicalPlan::Window { input, .. } => is_empty(input),
        LogicalPlan::LateralJoin { .. }
        | LogicalPlan::RecursiveCte { .. }
        | LogicalPlan::WorkTable { .. } => false,
        LogicalPlan::Aggregate {
            input,
            group,
            grouping_sets,
            ..
        } => {
            let one_row_without_input = match grouping_sets {
                None => group.is_empty(),
                Some(sets) => sets.iter().any(Vec::is_empty),
            };
            is_empty(input) && !one_row_without_input
        }
        LogicalPlan::Union { inputs, .. } => inputs.iter().all(is_empty),
        LogicalPlan::Scan { .. } | LogicalPlan::Values { .. } | LogicalPlan::External { .. } => {
            false
        }
    };
    if empty {
        return LogicalPlan::Values {
            rows: vec![],
            schema: plan.schema(),
        };
    }
    match plan {
        LogicalPlan::Union { inputs, schema } => LogicalPlan::Union {
            inputs: inputs.into_iter().filter(|i| !is_empty(i)).collect(),
            schema,
        },
        other => other,
    }
}

/// Whether `plan` is an empty relation (no rows, none computed).
fn is_empty(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Values { rows, .. } if rows.is_empty())
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
