//! Hash tables for semi and anti joins on the smaller input.
//!
//! `A SEMI B` keeps the rows of A that have a partner in B, and is executed by
//! building a hash table on B and streaming A through it. When A is much smaller
//! than B (TPC-H Q4: the orders of one quarter against every lineitem), building
//! on A is cheaper: the join becomes `B RIGHT SEMI A`, which streams B, flags the
//! rows of A that found a partner, and emits them at the end (anti joins emit
//! the unflagged ones). Runs last, after column pruning: no other rule sees the
//! right-side kinds. NOT IN (null-aware anti join) keeps its sides.

use super::cardinality::estimate_rows;
use super::column_after_swap;
use crate::plan::{JoinKind, LogicalPlan};

/// How much smaller the left input must be estimated for the sides to swap.
const SWAP_FACTOR: f64 = 4.0;

pub fn semi_join_sides(plan: LogicalPlan) -> LogicalPlan {
    let plan = super::map_inputs(plan, &mut semi_join_sides);
    let swap = matches!(
        &plan,
        LogicalPlan::Join { left, right, kind: JoinKind::Semi | JoinKind::Anti, .. }
            if estimate_rows(left) * SWAP_FACTOR < estimate_rows(right)
    );
    if !swap {
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
    let (nl, nr) = (left.schema().fields().len(), right.schema().fields().len());
    // The filter reads the left columns, then the right ones: now the other way.
    let filter = filter.map(|f| f.remap_columns(&|c| column_after_swap(c, nl, nr)));
    LogicalPlan::Join {
        left: right,
        right: left,
        kind: if kind == JoinKind::Semi {
            JoinKind::RightSemi
        } else {
            JoinKind::RightAnti
        },
        on: on.into_iter().map(|(l, r)| (r, l)).collect(),
        filter,
        schema,
    }
}
