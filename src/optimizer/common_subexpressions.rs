//! Common subexpressions of an aggregate's arguments, computed once.
//!
//! A computed subexpression (an operator, cast or function over columns: not a
//! bare column or literal, no subquery, not inside a CASE branch) that occurs in
//! two or more of an aggregate's arguments becomes a column of the projection below the
//! aggregate, and the arguments read that column: it is evaluated once per
//! batch instead of once per argument. TPC-H Q1 sums `l_extendedprice * (1 -
//! l_discount)` alone and times `(1 + l_tax)`. The largest repeated
//! subexpressions are taken first (one inside a taken one is left to it). A
//! projection already below the aggregate gets the new columns appended, its
//! own expressions substituted in, so that the aggregate's input stays one
//! projection over its source.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema};

use crate::plan::{AggExpr, Expr, LogicalPlan};

/// The most expression nodes, over all of an aggregate's arguments, searched for
/// common subexpressions.
const MAX_NODES: usize = 2000;

pub fn common_subexpressions(plan: LogicalPlan) -> LogicalPlan {
    let plan = super::map_inputs(plan, &mut common_subexpressions);
    let LogicalPlan::Aggregate {
        input,
        group,
        mut aggs,
        grouping_sets,
        schema,
    } = plan
    else {
        return plan;
    };
    let chosen = repeated_subexpressions(&aggs);
    if chosen.is_empty() {
        return LogicalPlan::Aggregate {
            input,
            group,
            aggs,
            grouping_sets,
            schema,
        };
    }
    let width = input.schema().fields().len();
    let columns: Vec<Expr> = chosen
        .iter()
        .enumerate()
        .map(|(k, e)| Expr::column(width + k, format!("#common{k}"), e.data_type()))
        .collect();
    for agg in &mut aggs {
        if let Some(arg) = agg.arg.take() {
            agg.arg = Some(
                arg.transform_up(&mut |e| match chosen.iter().position(|c| *c == e) {
                    Some(k) => columns[k].clone(),
                    None => e,
                }),
            );
        }
    }
    LogicalPlan::Aggregate {
        input: Box::new(with_columns(*input, chosen)),
        group,
        aggs,
        grouping_sets,
        schema,
    }
}

/// `input` with the columns `computed` (over its output) appended, named
/// `#common<k>`: in its own projection if it is one, else in a new one.
fn with_columns(input: LogicalPlan, computed: Vec<Expr>) -> LogicalPlan {
    let appended: Vec<Field> = computed
        .iter()
        .enumerate()
        .map(|(k, e)| Field::new(format!("#common{k}"), e.data_type(), true))
        .collect();
    let (source, mut exprs, mut fields, computed) = match input {
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => {
            let substituted: Vec<Expr> = computed
                .into_iter()
                .map(|c| c.inline_columns(&exprs))
                .collect();
            let fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            (*input, exprs, fields, substituted)
        }
        other => {
            let schema = other.schema();
            let exprs = schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| Expr::column(i, f.name(), f.data_type().clone()))
                .collect();
            let fields = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            (other, exprs, fields, computed)
        }
    };
    exprs.extend(computed);
    fields.extend(appended);
    LogicalPlan::Project {
        input: Box::new(source),
        exprs,
        schema: Arc::new(Schema::new(fields)),
    }
}

/// The computed subexpressions that occur twice or more in `aggs`' arguments,
/// largest first, none inside another. They are found by comparing every pair:
/// arguments too large for that (a chain of thousands of `+`) get none.
fn repeated_subexpressions(aggs: &[AggExpr]) -> Vec<Expr> {
    let nodes: usize = aggs.iter().filter_map(|a| a.arg.as_ref()).map(size).sum();
    if nodes > MAX_NODES {
        return vec![];
    }
    let mut seen: Vec<(&Expr, usize)> = vec![];
    for arg in aggs.iter().filter_map(|a| a.arg.as_ref()) {
        count_computed(arg, &mut seen);
    }
    let mut repeated: Vec<&Expr> = seen
        .into_iter()
        .filter(|(_, n)| *n >= 2)
        .map(|(e, _)| e)
        .collect();
    repeated.sort_by_key(|e| std::cmp::Reverse(size(e)));
    let mut chosen: Vec<Expr> = vec![];
    for e in repeated {
        if !chosen.iter().any(|c| contains(c, e)) {
            chosen.push(e.clone());
        }
    }
    chosen
}

/// Counts, in `seen`, each computed subexpression of `expr` (itself included)
/// that is evaluated for every row: not inside a CASE, whose branches are
/// evaluated only for the rows that take them (computing one for every row
/// could divide by zero or overflow where the query does not).
fn count_computed<'a>(expr: &'a Expr, seen: &mut Vec<(&'a Expr, usize)>) {
    if expr.has_subquery() {
        return;
    }
    if !matches!(expr, Expr::Column { .. } | Expr::Literal(_)) {
        match seen.iter_mut().find(|(e, _)| *e == expr) {
            Some((_, n)) => *n += 1,
            None => seen.push((expr, 1)),
        }
    }
    if matches!(expr, Expr::Case { .. }) {
        return;
    }
    for child in expr.children() {
        count_computed(child, seen);
    }
}

/// The number of nodes of `expr`.
fn size(expr: &Expr) -> usize {
    1 + expr.children().into_iter().map(size).sum::<usize>()
}

/// Whether `inner` occurs in `outer` (or is it).
fn contains(outer: &Expr, inner: &Expr) -> bool {
    outer == inner || outer.children().into_iter().any(|c| contains(c, inner))
}
