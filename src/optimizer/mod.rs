//! Rewrite rules over the logical plan, applied in order:
//!
//! 0. `decorrelate`: subqueries in WHERE become semi, anti and left joins; then
//!    aggregates that a fresh materialized view can answer read it (`mv::rewrite`).
//! 1. `fold_constants`: computes sub-expressions without column references once.
//! 2. `push_filters`: moves predicates down through projections into table scans,
//!    where zone maps can skip whole segments.
//! 3. `push_semi_joins`: a semi or anti join whose condition reads one input of
//!    an inner join below filters that input before the join.
//! 4. `join_order`: orders inner joins by estimated result sizes (`cardinality`)
//!    and builds hash tables on the smaller inputs.
//! 5. `empty_joins`: an inner or semi join on keys whose ranges on its two
//!    sides are disjoint becomes an empty relation, neither side read.
//! 6. `shared_averages`: AVG of a DECIMAL becomes SUM / COUNT, each aggregate
//!    of a grouping computed once however many items use it.
//! 7. `common_subexpressions`: a subexpression of several aggregate arguments
//!    is computed once, in the projection below the aggregate.
//! 8. `prune_columns`: keeps only the columns each node's parent needs, so that
//!    scans read only those columns from disk.
//! 9. `join_sides`: an inner or outer join builds its hash table on the input
//!    of fewer estimated bytes, now that each carries only the columns it
//!    needs (an outer join turns from left to right, or back).
//! 10. `semi_join_sides`: semi and anti joins build their hash table on the
//!     smaller input.

mod cardinality;
mod common_subexpressions;
mod decorrelate;
mod empty_joins;
mod fold_constants;
mod join_order;
mod join_sides;
mod prune_columns;
mod push_filters;
mod push_semi_joins;
mod semi_join_sides;
mod shared_averages;
mod unnest;

use crate::error::Result;
use crate::plan::{Expr, LogicalPlan, Subquery};

pub use cardinality::estimate_rows;
pub use fold_constants::fold;

/// Applies every rule to `plan`.
pub fn optimize(plan: LogicalPlan) -> Result<LogicalPlan> {
    optimize_with(plan, &[])
}

/// Applies every rule, answering aggregates from the materialized views in
/// `views` where they can (`mv::rewrite`).
pub fn optimize_with(
    plan: LogicalPlan,
    views: &[crate::mv::rewrite::Candidate],
) -> Result<LogicalPlan> {
    let plan = decorrelate::decorrelate(plan)?;
    let plan = crate::mv::rewrite::rewrite(plan, views);
    let plan = optimize_subqueries(plan)?;
    let plan = fold_constants::fold_plan(plan);
    let plan = push_filters::push_filters(plan);
    let plan = push_semi_joins::push_semi_joins(plan);
    let plan = join_order::reorder_joins(plan);
    let plan = empty_joins::empty_joins(plan);
    let plan = shared_averages::shared_averages(plan);
    let plan = common_subexpressions::common_subexpressions(plan);
    let plan = prune_columns::prune_columns(plan);
    let plan = join_sides::join_sides(plan);
    Ok(semi_join_sides::semi_join_sides(plan))
}

/// Optimizes the plans of the subqueries left in expressions (uncorrelated scalar
/// subqueries, which the executor computes once).
fn optimize_subqueries(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = try_map_inputs(plan, &mut optimize_subqueries)?;
    plan.try_map_expressions(&mut |e| {
        if !e.has_subquery() {
            return Ok(e);
        }
        let mut error = None;
        let e = e.transform_up(&mut |node| match node {
            Expr::ScalarSubquery(q) if error.is_none() => match optimize(q.0.as_ref().clone()) {
                Ok(p) => Expr::ScalarSubquery(Subquery::new(p)),
                Err(err) => {
                    error = Some(err);
                    Expr::ScalarSubquery(q)
                }
            },
            other => other,
        });
        error.map_or(Ok(e), Err)
    })
}

/// Rebuilds `plan` with the fallible `f` applied to each of its inputs; the first
/// error is returned.
pub(crate) fn try_map_inputs(
    plan: LogicalPlan,
    f: &mut impl FnMut(LogicalPlan) -> Result<LogicalPlan>,
) -> Result<LogicalPlan> {
    plan.try_map_inputs(f)
}

/// Rebuilds `plan` with `f` applied to each of its inputs.
pub(crate) fn map_inputs(
    plan: LogicalPlan,
    f: &mut impl FnMut(LogicalPlan) -> LogicalPlan,
) -> LogicalPlan {
    plan.map_inputs(f)
}

/// Where column `c` of a join's output (the `nl` left columns, then the `nr`
/// right ones) is once the join's inputs trade places.
fn column_after_swap(c: usize, nl: usize, nr: usize) -> usize {
    if c < nl {
        nr + c
    } else {
        c - nl
    }
}
