//! Join ordering by greedy operator ordering (GOO).
//!
//! A tree of inner joins is flattened into its relations and the predicates
//! between them (over the concatenation of the relations' columns). Then, while
//! more than one component is left, the two components linked by a predicate whose
//! join has the smallest estimated result are joined (two unlinked components are
//! crossed only when nothing is linked). In each join the smaller input becomes the
//! build (right) side of the hash join, the larger one streams through it. A final
//! projection restores the original column order.

use super::cardinality::{estimate_rows, join_rows};
use super::push_filters::equi_key;
use arrow::datatypes::DataType;

use crate::plan::{BinaryOp, Expr, JoinKind, LogicalPlan};

pub fn reorder_joins(plan: LogicalPlan) -> LogicalPlan {
    if !matches!(
        plan,
        LogicalPlan::Join {
            kind: JoinKind::Inner,
            ..
        }
    ) {
        return super::map_inputs(plan, &mut reorder_joins);
    }
    let schema = plan.schema();
    let mut relations = vec![];
    let mut predicates = vec![];
    flatten(plan, 0, &mut relations, &mut predicates);

    let mut components: Vec<Component> = relations
        .into_iter()
        .map(|(offset, plan)| {
            let width = plan.schema().fields().len();
            Component {
                rows: estimate_rows(&plan),
                columns: (offset..offset + width).collect(),
                plan,
            }
        })
        .collect();

    while components.len() > 1 {
        let (i, j) = best_pair(&components, &predicates);
        let (a, b) = take_pair(&mut components, i, j);
        let joined = join_components(a, b, &mut predicates);
        components.push(joined);
    }
    let result = components.pop().expect("one component");
    // Whatever was not a join predicate (say, a condition on three relations at once
    // that no join covered) is applied on top, and the column order restored.
    let mut plan = result.plan;
    let position = |g: usize| {
        result
            .columns
            .iter()
            .position(|&c| c == g)
            .expect("every column kept")
    };
    if let Some(rest) =
        Expr::conjunction(predicates.into_iter().map(|p| p.remap_columns(&position)))
    {
        plan = LogicalPlan::Filter {
            input: Box::new(plan),
            predicate: rest,
        };
    }
    if result.columns.iter().enumerate().all(|(i, &g)| i == g) {
        return plan;
    }
    let exprs = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(g, f)| Expr::column(position(g), f.name().clone(), f.data_type().clone()))
        .collect();
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    LogicalPlan::project(plan, exprs, names)
}

/// A partial join result: its plan, estimated rows and the global positions of
/// its output columns.
struct Component {
    plan: LogicalPlan,
    rows: f64,
    columns: Vec<usize>,
}

/// Splits a tree of inner joins into relations (each with the global position of
/// its first column) and predicates over global positions.
fn flatten(
    plan: LogicalPlan,
    offset: usize,
    relations: &mut Vec<(usize, LogicalPlan)>,
    predicates: &mut Vec<Expr>,
) {
    match plan {
        LogicalPlan::Join {
            left,
            right,
            kind: JoinKind::Inner,
            on,
            filter,
            ..
        } => {
            let nl = left.schema().fields().len();
            for (l, r) in on {
                let l = l.remap_columns(&|c| c + offset);
                let r = r.remap_columns(&|c| c + offset + nl);
                predicates.push(Expr::Binary {
                    op: BinaryOp::Eq,
                    left: Box::new(l),
                    right: Box::new(r),
                    data_type: DataType::Boolean,
                });
            }
            if let Some(f) = filter {
                predicates.extend(f.remap_columns(&|c| c + offset).split_conjunction());
            }
            flatten(*left, offset, relations, predicates);
            flatten(*right, offset + nl, relations, predicates);
        }
        other => relations.push((offset, reorder_joins(other))),
    }
}

fn columns_of(e: &Expr) -> Vec<usize> {
    let mut out = vec![];
    e.collect_columns(&mut out);
    out
}

/// Whether `p` links components `a` and `b`: it reads both and nothing else.
fn links(p: &Expr, a: &Component, b: &Component) -> bool {
    let cols = columns_of(p);
    let in_a = cols.iter().any(|c| a.columns.contains(c));
    let in_b = cols.iter().any(|c| b.columns.contains(c));
    in_a && in_b
        && cols
            .iter()
            .all(|c| a.columns.contains(c) || b.columns.contains(c))
}

/// The pair of components to join next.
fn best_pair(components: &[Component], predicates: &[Expr]) -> (usize, usize) {
    let mut best: Option<(f64, usize, usize)> = None;
    for i in 0..components.len() {
        for j in i + 1..components.len() {
            let (a, b) = (&components[i], &components[j]);
            let keys: Vec<(Expr, Expr)> = predicates
                .iter()
                .filter(|p| links(p, a, b))
                .filter_map(|p| local_key(p, a, b))
                .collect();
            if keys.is_empty() {
                continue;
            }
            let rows = join_rows(&a.plan, &b.plan, a.rows, b.rows, &keys);
            if best.is_none_or(|(r, _, _)| rows < r) {
                best = Some((rows, i, j));
            }
        }
    }
    if let Some((_, i, j)) = best {
        return (i, j);
    }
    // Nothing links: cross the two smallest.
    let mut order: Vec<usize> = (0..components.len()).collect();
    order.sort_by(|&x, &y| components[x].rows.total_cmp(&components[y].rows));
    (order[0].min(order[1]), order[0].max(order[1]))
}

/// An equality predicate between `a` and `b` as keys over each component's own columns.
fn local_key(p: &Expr, a: &Component, b: &Component) -> Option<(Expr, Expr)> {
    let combined: Vec<usize> = a.columns.iter().chain(&b.columns).copied().collect();
    let local = p
        .clone()
        .remap_columns(&|g| combined.iter().position(|&c| c == g).expect("linked"));
    equi_key(&local, a.columns.len())
}

fn take_pair(components: &mut Vec<Component>, i: usize, j: usize) -> (Component, Component) {
    let b = components.remove(j);
    let a = components.remove(i);
    (a, b)
}

/// Joins two components with every pending predicate they cover; the smaller is built.
fn join_components(a: Component, b: Component, predicates: &mut Vec<Expr>) -> Component {
    let (probe, build) = if a.rows >= b.rows { (a, b) } else { (b, a) };
    let columns: Vec<usize> = probe
        .columns
        .iter()
        .chain(&build.columns)
        .copied()
        .collect();
    let (covered, pending): (Vec<Expr>, Vec<Expr>) = predicates
        .drain(..)
        .partition(|p| columns_of(p).iter().all(|c| columns.contains(c)));
    *predicates = pending;
    let position = |g: usize| columns.iter().position(|&c| c == g).expect("covered");
    let nl = probe.columns.len();
    let (mut on, mut residual) = (vec![], vec![]);
    for p in covered {
        let local = p.remap_columns(&position);
        match equi_key(&local, nl) {
            Some(key) => on.push(key),
            None => residual.push(local),
        }
    }
    let rows = if on.is_empty() {
        probe.rows * build.rows
    } else {
        join_rows(&probe.plan, &build.plan, probe.rows, build.rows, &on)
    };
    let plan = LogicalPlan::join(
        probe.plan,
        build.plan,
        JoinKind::Inner,
        on,
        Expr::conjunction(residual),
    );
    Component {
        plan,
        rows,
        columns,
    }
}
