//! Subqueries in WHERE become joins, so that no subquery runs once per row.
//!
//! - `EXISTS (q)` / `NOT EXISTS (q)`: a semi / anti join with `q`. The predicates of
//!   `q` that refer to the outer query are pulled out of `q` (through its filters and
//!   projections) and become the join condition.
//! - `x IN (q)` / `x NOT IN (q)`: a semi / null-aware anti join on `x = q.column`,
//!   plus any pulled-up correlated predicates.
//! - A correlated scalar subquery `(SELECT agg(...) FROM ... WHERE inner = outer)`:
//!   its aggregate is grouped by the inner sides of those equalities, and the outer
//!   query is left-joined with the result on them; the subquery becomes a column.
//! - Uncorrelated scalar subqueries stay; the executor computes them once.
//!
//! Subqueries inside a subquery are rewritten first, so each level only sees
//! references to its own enclosing query.

use crate::error::{Error, Result};
use crate::plan::{AggFunc, BinaryOp, Expr, JoinKind, LogicalPlan, ScalarFunc, Subquery};
use crate::types::ScalarValue;
use crate::unsupported;

/// Rewrites every Filter whose predicate has subqueries.
pub fn decorrelate(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = super::try_map_inputs(plan, &mut decorrelate)?;
    match plan {
        LogicalPlan::Filter { input, predicate } if predicate.has_subquery() => {
            rewrite_filter(*input, predicate)
        }
        other => Ok(other),
    }
}

fn rewrite_filter(input: LogicalPlan, predicate: Expr) -> Result<LogicalPlan> {
    let width = input.schema().fields().len();
    let mut plan = input;
    let mut rest = vec![];
    for conjunct in predicate.split_conjunction() {
        let (conjunct, flip) = match conjunct {
            Expr::Not(inner) if matches!(*inner, Expr::Exists { .. } | Expr::InSubquery { .. }) => {
                (*inner, true)
            }
            other => (other, false),
        };
        plan = match conjunct {
            Expr::Exists { subquery, negated } => {
                let kind = if negated != flip {
                    JoinKind::Anti
                } else {
                    JoinKind::Semi
                };
                semi_join(plan, &subquery, None, kind)?
            }
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let kind = if negated != flip {
                    JoinKind::NullAwareAnti
                } else {
                    JoinKind::Semi
                };
                semi_join(plan, &subquery, Some(*expr), kind)?
            }
            other => {
                let other = if flip {
                    Expr::Not(Box::new(other))
                } else {
                    other
                };
                let (joined, rewritten) = replace_scalar_subqueries(plan, other)?;
                rest.push(rewritten);
                joined
            }
        };
    }
    if let Some(predicate) = Expr::conjunction(rest) {
        plan = LogicalPlan::Filter {
            input: Box::new(plan),
            predicate,
        };
    }
    Ok(keep_first_columns(plan, width))
}

/// A projection to the first `width` columns (dropping columns joins added).
fn keep_first_columns(plan: LogicalPlan, width: usize) -> LogicalPlan {
    let schema = plan.schema();
    if schema.fields().len() == width {
        return plan;
    }
    let exprs: Vec<Expr> = schema.fields()[..width]
        .iter()
        .enumerate()
        .map(|(i, f)| Expr::column(i, f.name().clone(), f.data_type().clone()))
        .collect();
    let names = schema.fields()[..width]
        .iter()
        .map(|f| f.name().clone())
        .collect();
    LogicalPlan::project(plan, exprs, names)
}

/// `left ⋉ subquery` (semi, anti, null-aware anti), on `key = subquery.col0` if given.
fn semi_join(
    left: LogicalPlan,
    subquery: &Subquery,
    key: Option<Expr>,
    kind: JoinKind,
) -> Result<LogicalPlan> {
    let sub = decorrelate(subquery.0.as_ref().clone())?;
    let (right, correlated) = pull_up(sub)?;
    if kind == JoinKind::NullAwareAnti && !correlated.is_empty() {
        // Its NULL semantics hold per outer row, within the correlated rows only.
        return unsupported!("NOT IN with a correlated subquery; write it as NOT EXISTS");
    }
    let nl = left.schema().fields().len();
    let filter = Expr::conjunction(correlated.into_iter().map(|p| to_join_row(p, nl)));
    let mut on = vec![];
    if let Some(key) = key {
        let f = right.schema().field(0).clone();
        on.push((
            key,
            Expr::column(0, f.name().clone(), f.data_type().clone()),
        ));
    }
    Ok(LogicalPlan::join(left, right, kind, on, filter))
}

/// A pulled-up predicate over the join row: outer columns are the left input's,
/// the subquery's columns follow them.
fn to_join_row(predicate: Expr, left_width: usize) -> Expr {
    predicate.transform_up(&mut |e| match e {
        Expr::Column {
            index,
            name,
            data_type,
        } => Expr::column(index + left_width, name, data_type),
        Expr::OuterColumn {
            index,
            name,
            data_type,
        } => Expr::column(index, name, data_type),
        other => other,
    })
}

/// Removes the predicates that refer to the outer query from the filters of
/// `plan` (looking through filters and projections) and returns them, expressed
/// over the new plan's output, which keeps the columns they need.
fn pull_up(plan: LogicalPlan) -> Result<(LogicalPlan, Vec<Expr>)> {
    match plan {
        LogicalPlan::Filter { input, predicate } => {
            let (input, mut pulled) = pull_up(*input)?;
            let (correlated, local): (Vec<Expr>, Vec<Expr>) = predicate
                .split_conjunction()
                .into_iter()
                .partition(Expr::has_outer_references);
            pulled.extend(correlated);
            let plan = match Expr::conjunction(local) {
                Some(predicate) => LogicalPlan::Filter {
                    input: Box::new(input),
                    predicate,
                },
                None => input,
            };
            Ok((plan, pulled))
        }
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => {
            if exprs.iter().any(Expr::has_outer_references) {
                return unsupported!("a subquery that selects columns of the outer query");
            }
            let (input, pulled) = pull_up(*input)?;
            if pulled.is_empty() {
                return Ok((
                    LogicalPlan::Project {
                        input: Box::new(input),
                        exprs,
                        schema,
                    },
                    pulled,
                ));
            }
            // Pass the columns the pulled predicates read through the projection.
            let mut needed = vec![];
            for p in &pulled {
                p.collect_columns(&mut needed);
            }
            needed.sort_unstable();
            needed.dedup();
            let base = exprs.len();
            let input_schema = input.schema();
            let mut names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            let mut exprs = exprs;
            for &c in &needed {
                let f = input_schema.field(c);
                exprs.push(Expr::column(c, f.name().clone(), f.data_type().clone()));
                names.push(f.name().clone());
            }
            let pulled = pulled
                .into_iter()
                .map(|p| p.remap_columns(&|c| base + needed.binary_search(&c).expect("collected")))
                .collect();
            Ok((LogicalPlan::project(input, exprs, names), pulled))
        }
        other if other.has_outer_references() => {
            unsupported!("this correlated subquery (outer references below an aggregate, join, sort or limit)")
        }
        other => Ok((other, vec![])),
    }
}

/// Replaces the correlated scalar subqueries in `expr` by columns of left joins
/// added to `plan`.
fn replace_scalar_subqueries(plan: LogicalPlan, expr: Expr) -> Result<(LogicalPlan, Expr)> {
    let mut plan = Some(plan);
    let mut error: Option<Error> = None;
    let expr = expr.transform_up(&mut |e| match e {
        Expr::ScalarSubquery(q) if q.is_correlated() && error.is_none() => {
            let current = plan.take().expect("plan is put back");
            match join_scalar_subquery(current.clone(), &q) {
                Ok((joined, column)) => {
                    plan = Some(joined);
                    column
                }
                Err(err) => {
                    plan = Some(current);
                    error = Some(err);
                    Expr::ScalarSubquery(q)
                }
            }
        }
        other => other,
    });
    match error {
        Some(e) => Err(e),
        None => Ok((plan.expect("plan is put back"), expr)),
    }
}

/// Left-joins `plan` with the decorrelated form of a correlated scalar subquery;
/// returns the join and the expression that now stands for the subquery's value.
fn join_scalar_subquery(plan: LogicalPlan, subquery: &Subquery) -> Result<(LogicalPlan, Expr)> {
    let shape_error = || {
        unsupported!(
            "this correlated scalar subquery: it must be an aggregate without GROUP BY whose \
             WHERE links it to the outer query by equalities"
        )
    };
    let sub = decorrelate(subquery.0.as_ref().clone())?;
    let (value_exprs, aggregate) = match sub {
        LogicalPlan::Project { input, exprs, .. }
            if matches!(*input, LogicalPlan::Aggregate { .. }) =>
        {
            (Some(exprs), *input)
        }
        agg @ LogicalPlan::Aggregate { .. } => (None, agg),
        _ => return shape_error(),
    };
    let LogicalPlan::Aggregate {
        input,
        group,
        aggs,
        grouping_sets,
        ..
    } = aggregate
    else {
        return shape_error();
    };
    if !group.is_empty() || grouping_sets.is_some() {
        return shape_error();
    }
    let (input, pulled) = pull_up(*input)?;
    let (mut inner_keys, mut outer_keys) = (vec![], vec![]);
    for p in pulled {
        let Expr::Binary {
            op: BinaryOp::Eq,
            left,
            right,
            ..
        } = p
        else {
            return shape_error();
        };
        let outer_only = |e: &Expr| e.has_outer_references() && columns(e).is_empty();
        let (inner, outer) = if outer_only(&right) && !left.has_outer_references() {
            (*left, *right)
        } else if outer_only(&left) && !right.has_outer_references() {
            (*right, *left)
        } else {
            return shape_error();
        };
        inner_keys.push(inner);
        outer_keys.push(outer);
    }
    let n_groups = inner_keys.len();
    let counts = aggs
        .iter()
        .map(|a| matches!(a.func, AggFunc::Count | AggFunc::CountStar))
        .collect::<Vec<_>>();
    let mut names: Vec<String> = inner_keys.iter().map(|k| k.to_string()).collect();
    names.extend(aggs.iter().map(|a| a.to_string()));
    let mut out_exprs = inner_keys.clone();
    out_exprs.extend(
        aggs.iter()
            .map(|a| Expr::column(0, "", a.data_type.clone())),
    );
    let agg_schema = crate::plan::schema_of(&out_exprs, &names);
    let grouped = LogicalPlan::Aggregate {
        input: Box::new(input),
        group: inner_keys,
        aggs,
        grouping_sets: None,
        schema: agg_schema.clone(),
    };
    // The value first, then the group keys to join on.
    let value = match value_exprs {
        Some(mut exprs) => exprs.remove(0).remap_columns(&|k| k + n_groups),
        None => {
            let f = agg_schema.field(n_groups);
            Expr::column(n_groups, f.name().clone(), f.data_type().clone())
        }
    };
    // COUNT over no rows is 0, not NULL (a missing group on the left join).
    let count_value = matches!(&value, Expr::Column { index, .. } if *index >= n_groups && counts[index - n_groups]);
    let mut exprs = vec![value];
    let mut right_names = vec!["subquery".to_string()];
    for (i, f) in agg_schema.fields()[..n_groups].iter().enumerate() {
        exprs.push(Expr::column(i, f.name().clone(), f.data_type().clone()));
        right_names.push(f.name().clone());
    }
    let right = LogicalPlan::project(grouped, exprs, right_names);
    let nl = plan.schema().fields().len();
    let right_schema = right.schema();
    let on = outer_keys
        .into_iter()
        .enumerate()
        .map(|(i, outer)| {
            let f = right_schema.field(1 + i);
            (
                to_join_row(outer, nl),
                Expr::column(1 + i, f.name().clone(), f.data_type().clone()),
            )
        })
        .collect();
    let joined = LogicalPlan::join(plan, right, JoinKind::Left, on, None);
    let f = right_schema.field(0);
    let mut column = Expr::column(nl, "subquery", f.data_type().clone());
    if count_value {
        column = Expr::Function {
            func: ScalarFunc::Coalesce,
            args: vec![column, Expr::Literal(ScalarValue::Int64(Some(0)))],
            data_type: f.data_type().clone(),
        };
    }
    Ok((joined, column))
}

fn columns(e: &Expr) -> Vec<usize> {
    let mut out = vec![];
    e.collect_columns(&mut out);
    out
}
