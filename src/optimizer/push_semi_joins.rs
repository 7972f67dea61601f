//! Semi and anti joins pushed below inner joins.
//!
//! A subquery in WHERE (`x IN (SELECT ...)`, `EXISTS (...)`) becomes a semi or
//! anti join over the whole FROM clause. When its condition reads the columns of
//! only one input of an inner join below, it filters that input alone, before
//! the join: `(A ⋈ B) ⋉ S = (A ⋉ S) ⋈ B` when the condition reads only A (TPC-H
//! Q18: the orders with a large quantity are picked before lineitem is joined
//! to them). Only when the inner join is not estimated to shrink A: otherwise the
//! semi join meets fewer rows above it (TPC-H Q21, where the other joins keep one
//! nation's suppliers). Runs after predicate pushdown and before join ordering,
//! which then sees the smaller input.

use super::cardinality::estimate_rows;
use crate::plan::{Expr, JoinKind, LogicalPlan};

pub fn push_semi_joins(plan: LogicalPlan) -> LogicalPlan {
    let plan = super::map_inputs(plan, &mut push_semi_joins);
    let over_inner_join = matches!(
        &plan,
        LogicalPlan::Join {
            left,
            kind: JoinKind::Semi | JoinKind::Anti | JoinKind::NullAwareAnti,
            ..
        } if matches!(left.as_ref(), LogicalPlan::Join { kind: JoinKind::Inner, .. })
    );
    if !over_inner_join {
        return plan;
    }
    let LogicalPlan::Join {
        left,
        right,
        kind,
        on,
        filter,
        schema,
    } = plan
    else {
        unreachable!("a semi or anti join")
    };
    let joined_rows = estimate_rows(&left);
    let LogicalPlan::Join {
        left: a,
        right: b,
        on: inner_on,
        filter: inner_filter,
        ..
    } = *left
    else {
        unreachable!("over an inner join")
    };
    let (na, nb) = (a.schema().fields().len(), b.schema().fields().len());
    let n_left = na + nb;
    // The columns of the inner join's output that the condition reads.
    let mut read = vec![];
    for (l, _) in &on {
        l.collect_columns(&mut read);
    }
    if let Some(f) = &filter {
        let mut columns = vec![];
        f.collect_columns(&mut columns);
        read.extend(columns.into_iter().filter(|&c| c < n_left));
    }
    let inner = |a: LogicalPlan, b: LogicalPlan| {
        LogicalPlan::join(
            a,
            b,
            JoinKind::Inner,
            inner_on.clone(),
            inner_filter.clone(),
        )
    };
    let worth = |input: &LogicalPlan| estimate_rows(input) <= joined_rows;
    if read.iter().all(|&c| c < na) && worth(&a) {
        // Over (A, S): the subquery's columns move left by B's width.
        let filter = filter.map(|f| f.remap_columns(&|c| if c < n_left { c } else { c - nb }));
        let semi = push_semi_joins(LogicalPlan::join(*a, *right, kind, on, filter));
        return inner(semi, *b);
    }
    if read.iter().all(|&c| c >= na) && worth(&b) {
        // Over (B, S): every column moves left by A's width.
        let shift = |e: Expr| e.remap_columns(&|c| c - na);
        let on = on.into_iter().map(|(l, r)| (shift(l), r)).collect();
        let filter = filter.map(shift);
        let semi = push_semi_joins(LogicalPlan::join(*b, *right, kind, on, filter));
        return inner(*a, semi);
    }
    LogicalPlan::Join {
        left: Box::new(inner(*a, *b)),
        right,
        kind,
        on,
        filter,
        schema,
    }
}
