//! Predicate pushdown: a filter's conjuncts move down through projections (with
//! the projected expressions substituted in) and joins, into the table scans,
//! where zone maps can skip whole segments.
//!
//! Below a window, only conjuncts on its partition keys go (they keep or drop
//! whole partitions).
//!
//! At a join, a conjunct that reads only one side moves to that side when the
//! join kind allows it (never to the side an outer join preserves); one that reads
//! both sides of an inner join becomes part of the join condition. Equalities
//! between an expression of each side become the join's keys (`on`), the rest its
//! residual filter.

use crate::plan::{BinaryOp, Expr, JoinKind, LogicalPlan};

pub fn push_filters(plan: LogicalPlan) -> LogicalPlan {
    match plan {
        LogicalPlan::Filter { input, predicate } => {
            let input = push_filters(*input);
            let conjuncts = predicate
                .split_conjunction()
                .into_iter()
                .flat_map(factor_or)
                .collect();
            push_into(input, conjuncts)
        }
        LogicalPlan::Join { .. } => push_into(super::map_inputs(plan, &mut push_filters), vec![]),
        other => super::map_inputs(other, &mut push_filters),
    }
}

/// Places `predicates` (over `plan`'s output) as deep as they can go.
fn push_into(plan: LogicalPlan, predicates: Vec<Expr>) -> LogicalPlan {
    match plan {
        LogicalPlan::Join {
            left,
            right,
            kind,
            on,
            filter,
            ..
        } => push_into_join(*left, *right, kind, on, filter, predicates),
        plan if predicates.is_empty() => plan,
        LogicalPlan::Scan {
            table,
            projection,
            mut filters,
            schema,
        } => {
            // (A join's filter is pushed again each time predicates reach the
            // join from above: what is already here is not added twice.)
            // Texts first: thousands of conjuncts are not compared pairwise.
            let mut texts: std::collections::HashSet<String> =
                filters.iter().map(|f| f.to_string()).collect();
            for p in predicates {
                if texts.insert(p.to_string()) || !filters.contains(&p) {
                    filters.push(p);
                }
            }
            LogicalPlan::Scan {
                table,
                projection,
                filters,
                schema,
            }
        }
        LogicalPlan::Filter { input, predicate } => {
            let mut all = predicate.split_conjunction();
            all.extend(predicates);
            push_into(*input, all)
        }
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => {
            let substituted = predicates
                .into_iter()
                .map(|p| p.inline_columns(&exprs))
                .collect();
            LogicalPlan::Project {
                input: Box::new(push_into(*input, substituted)),
                exprs,
                schema,
            }
        }
        LogicalPlan::Window {
            input,
            partition_by,
            order_by,
            functions,
            schema,
        } => {
            // A condition on the partition keys alone keeps or drops whole
            // partitions, which leaves the others' window values as they are.
            let keys: Vec<usize> = partition_by
                .iter()
                .filter_map(|e| match e {
                    Expr::Column { index, .. } => Some(*index),
                    _ => None,
                })
                .collect();
            let (below, above): (Vec<Expr>, Vec<Expr>) = predicates.into_iter().partition(|p| {
                let mut read = vec![];
                p.collect_columns(&mut read);
                !p.has_subquery() && read.iter().all(|c| keys.contains(c))
            });
            let window = LogicalPlan::Window {
                input: Box::new(push_into(*input, below)),
                partition_by,
                order_by,
                functions,
                schema,
            };
            filter_above(window, above)
        }
        other => filter_above(other, predicates),
    }
}

/// `(a AND b) OR (a AND c)` as the conjuncts `a` and `b OR c`, so that a condition
/// every branch shares (often a join key) can be pushed down on its own.
fn factor_or(p: Expr) -> Vec<Expr> {
    let Expr::Binary {
        op: BinaryOp::Or, ..
    } = &p
    else {
        return vec![p];
    };
    let branches: Vec<Vec<Expr>> = split_disjunction(p)
        .into_iter()
        .map(Expr::split_conjunction)
        .collect();
    let common: Vec<Expr> = branches[0]
        .iter()
        .filter(|c| branches[1..].iter().all(|b| b.contains(c)))
        .cloned()
        .collect();
    if common.is_empty() {
        return vec![disjunction(branches)];
    }
    let rest: Vec<Vec<Expr>> = branches
        .into_iter()
        .map(|b| b.into_iter().filter(|c| !common.contains(c)).collect())
        .collect();
    let mut out = common;
    // If a branch is now empty, it is always true, and so is the OR.
    if rest.iter().all(|b| !b.is_empty()) {
        out.push(disjunction(rest));
    }
    out
}

fn split_disjunction(p: Expr) -> Vec<Expr> {
    match p {
        Expr::Binary {
            op: BinaryOp::Or,
            left,
            right,
            ..
        } => {
            let mut v = split_disjunction(*left);
            v.extend(split_disjunction(*right));
            v
        }
        other => vec![other],
    }
}

fn disjunction(branches: Vec<Vec<Expr>>) -> Expr {
    branches
        .into_iter()
        .map(|b| Expr::conjunction(b).expect("branch has conjuncts"))
        .reduce(|a, b| Expr::Binary {
            op: BinaryOp::Or,
            left: Box::new(a),
            right: Box::new(b),
            data_type: arrow::datatypes::DataType::Boolean,
        })
        .expect("at least one branch")
}

fn filter_above(plan: LogicalPlan, predicates: Vec<Expr>) -> LogicalPlan {
    match Expr::conjunction(predicates) {
        Some(predicate) => LogicalPlan::Filter {
            input: Box::new(plan),
            predicate,
        },
        None => plan,
    }
}

/// Which inputs of a join a predicate over the join row reads.
fn sides(e: &Expr, left_width: usize) -> (bool, bool) {
    let mut cols = vec![];
    e.collect_columns(&mut cols);
    (
        cols.iter().any(|&c| c < left_width),
        cols.iter().any(|&c| c >= left_width),
    )
}

fn push_into_join(
    left: LogicalPlan,
    right: LogicalPlan,
    kind: JoinKind,
    mut on: Vec<(Expr, Expr)>,
    filter: Option<Expr>,
    above: Vec<Expr>,
) -> LogicalPlan {
    let nl = left.schema().fields().len();
    let (mut to_left, mut to_right, mut keep_above, mut condition) =
        (vec![], vec![], vec![], vec![]);
    let shift_right = |e: Expr| e.remap_columns(&|c| c - nl);
    // Predicates from above the join.
    for p in above {
        let (l, r) = sides(&p, nl);
        match kind {
            _ if kind.left_only() => to_left.push(p),
            JoinKind::Inner if !r => to_left.push(p),
            JoinKind::Inner if !l => to_right.push(shift_right(p)),
            JoinKind::Inner => condition.push(p),
            JoinKind::Left if !r => to_left.push(p),
            JoinKind::Right if !l && r => to_right.push(shift_right(p)),
            _ => keep_above.push(p),
        }
    }
    // The join's own condition: a side the join does not preserve can be filtered first.
    for p in filter.map(Expr::split_conjunction).unwrap_or_default() {
        let (l, r) = sides(&p, nl);
        let right_filterable = matches!(kind, JoinKind::Inner | JoinKind::Left) || kind.left_only();
        let left_filterable = matches!(kind, JoinKind::Inner | JoinKind::Right | JoinKind::Semi);
        if l && !r && left_filterable {
            to_left.push(p);
        } else if r && !l && right_filterable {
            to_right.push(shift_right(p));
        } else {
            condition.push(p);
        }
    }
    // A disjunction over both sides of an inner join implies, for each side, the
    // disjunction of what each branch asks of that side alone: that filters the
    // side before the join (it stays in the condition too).
    if kind == JoinKind::Inner {
        for p in &condition {
            if let Some(l) = implied_by_or(p, nl, true) {
                to_left.push(l);
            }
            if let Some(r) = implied_by_or(p, nl, false) {
                to_right.push(shift_right(r));
            }
        }
    }
    // Equalities between the two sides become keys (not for NOT IN, whose key is special).
    let mut residual = vec![];
    for p in condition {
        match equi_key(&p, nl) {
            Some((l, r)) if kind != JoinKind::NullAwareAnti => on.push((l, r)),
            _ => residual.push(p),
        }
    }
    let left = push_into(left, to_left);
    let right = push_into(right, to_right);
    let join = LogicalPlan::join(left, right, kind, on, Expr::conjunction(residual));
    filter_above(join, keep_above)
}

/// For a disjunction `p` over a join row: the disjunction, over its branches, of
/// each branch's conjuncts that read only the left (`left`) or only the right
/// input; None if `p` is no disjunction or a branch has no such conjunct.
/// `(l1 AND r1) OR (l2 AND r2)` implies `l1 OR l2` and `r1 OR r2`.
fn implied_by_or(p: &Expr, left_width: usize, left: bool) -> Option<Expr> {
    if !matches!(
        p,
        Expr::Binary {
            op: BinaryOp::Or,
            ..
        }
    ) {
        return None;
    }
    let branches: Vec<Vec<Expr>> = split_disjunction(p.clone())
        .into_iter()
        .map(|branch| {
            branch
                .split_conjunction()
                .into_iter()
                .filter(|c| sides(c, left_width) == (left, !left))
                .collect()
        })
        .collect();
    if branches.iter().any(Vec::is_empty) {
        return None;
    }
    Some(disjunction(branches))
}

/// `a = b` with `a` over the left input and `b` over the right (either way round),
/// as (left key, right key over the right input's columns).
pub fn equi_key(p: &Expr, left_width: usize) -> Option<(Expr, Expr)> {
    let Expr::Binary {
        op: BinaryOp::Eq,
        left,
        right,
        ..
    } = p
    else {
        return None;
    };
    let (a, b) = (sides(left, left_width), sides(right, left_width));
    let shift = |e: &Expr| e.clone().remap_columns(&|c| c - left_width);
    match (a, b) {
        ((true, false), (false, true)) => Some(((**left).clone(), shift(right))),
        ((false, true), (true, false)) => Some(((**right).clone(), shift(left))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ScalarValue;
    use arrow::datatypes::DataType;

    fn eq(column: usize, value: i64) -> Expr {
        Expr::Binary {
            op: BinaryOp::Eq,
            left: Box::new(Expr::column(column, format!("c{column}"), DataType::Int64)),
            right: Box::new(Expr::Literal(ScalarValue::Int64(Some(value)))),
            data_type: DataType::Boolean,
        }
    }

    fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
        Expr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
            data_type: DataType::Boolean,
        }
    }

    #[test]
    fn a_disjunction_over_both_sides_implies_one_per_side() {
        // (c0 = 1 AND c2 = 5) OR (c1 = 2 AND c0 = 3 AND c3 = 7), left width 2
        let p = binary(
            BinaryOp::Or,
            binary(BinaryOp::And, eq(0, 1), eq(2, 5)),
            binary(
                BinaryOp::And,
                binary(BinaryOp::And, eq(1, 2), eq(0, 3)),
                eq(3, 7),
            ),
        );
        let left = implied_by_or(&p, 2, true).unwrap();
        assert_eq!(
            left,
            binary(
                BinaryOp::Or,
                eq(0, 1),
                binary(BinaryOp::And, eq(1, 2), eq(0, 3))
            )
        );
        let right = implied_by_or(&p, 2, false).unwrap();
        assert_eq!(right, binary(BinaryOp::Or, eq(2, 5), eq(3, 7)));
        // A branch asks nothing of the right side: nothing is implied for it.
        let q = binary(
            BinaryOp::Or,
            eq(0, 1),
            binary(BinaryOp::And, eq(1, 2), eq(2, 3)),
        );
        assert!(implied_by_or(&q, 2, false).is_none());
        assert!(implied_by_or(&q, 2, true).is_some());
        // Not a disjunction.
        assert!(implied_by_or(&eq(0, 1), 2, true).is_none());
    }

    #[test]
    fn only_conditions_on_partition_keys_go_below_a_window() {
        use crate::plan::{WindowExpr, WindowFrame, WindowFunc};
        use arrow::datatypes::{Field, Schema};
        use std::sync::Arc;
        let fields: Vec<Field> = (0..3)
            .map(|i| Field::new(format!("c{i}"), DataType::Int64, true))
            .collect();
        let values = LogicalPlan::Values {
            rows: vec![],
            schema: Arc::new(Schema::new(fields[..2].to_vec())),
        };
        let window = LogicalPlan::Window {
            input: Box::new(values),
            partition_by: vec![Expr::column(0, "c0", DataType::Int64)],
            order_by: vec![],
            functions: vec![WindowExpr {
                func: WindowFunc::RowNumber,
                args: vec![],
                frame: WindowFrame::default_for(false),
                data_type: DataType::Int64,
                ignore_nulls: false,
            }],
            schema: Arc::new(Schema::new(fields)),
        };
        let plan = LogicalPlan::Filter {
            input: Box::new(window),
            predicate: eq(0, 1).and(eq(1, 2)).and(eq(2, 3)),
        };
        // Above: c1 = 2 (not a partition key) and c2 = 3 (the window's value);
        // below: c0 = 1.
        let LogicalPlan::Filter { input, predicate } = push_filters(plan) else {
            panic!("a filter stays above the window");
        };
        assert_eq!(predicate, eq(1, 2).and(eq(2, 3)));
        let LogicalPlan::Window { input, .. } = *input else {
            panic!("the window is below the filter");
        };
        assert!(matches!(*input, LogicalPlan::Filter { predicate, .. } if predicate == eq(0, 1)));
    }
}
