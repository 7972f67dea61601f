//! Answering aggregate queries from materialized views.
//!
//! Both the query's aggregate input and the view's are brought into a canonical
//! select-project-join form: the set of tables, the set of conjuncts (join
//! predicates and filters), and the output columns, with every column written as
//! `table.column`. A view can answer the query's aggregate when
//! - both join the same tables, and every conjunct of the view is one of the
//!   query's (the query's other conjuncts must be expressible over the view's
//!   group keys: they become a filter on the stored rows);
//! - every group key of the query is expressible over the view's group keys (the
//!   view's groups roll up into the query's by aggregating again);
//! - every aggregate is derivable from the view's states: SUM from sums, COUNT
//!   from counts, MIN/MAX from mins/maxes, AVG as sum / count; MIN, MAX and
//!   COUNT(DISTINCT) of a group key from the key itself.
//!
//! The query's aggregate is then replaced by an aggregate over the view's stored
//! rows. Among the views that can answer, the one with the fewest rows is used.
//! Stale views never reach this rule.

use std::sync::Arc;

use crate::catalog::TableMeta;
use crate::plan::{AggExpr, AggFunc, BinaryOp, Expr, JoinKind, LogicalPlan, ScalarFunc};

use super::{stored_scan, MvDefinition, MvKind};

/// A materialized view the rule may use.
pub struct Candidate {
    pub name: String,
    pub data: TableMeta,
    pub shape: Arc<ViewShape>,
}

/// What matching needs of an aggregate view's query, in canonical form:
/// computed once per view definition ([`ViewShape::of`]).
pub struct ViewShape {
    /// The tables joined, sorted.
    tables: Vec<String>,
    conjuncts: Vec<Expr>,
    /// The group keys, canonical.
    keys: Vec<Expr>,
    /// Each state: its function, its argument (canonical) and its stored column.
    states: Vec<(AggFunc, Option<Expr>, usize)>,
}

impl ViewShape {
    /// The shape of an aggregate view; None for other views (never candidates).
    pub fn of(def: &MvDefinition) -> Option<ViewShape> {
        let MvKind::Aggregate { keys: n_keys, .. } = def.kind else {
            return None;
        };
        let LogicalPlan::Aggregate {
            input: view_input,
            group: view_group,
            ..
        } = &def.state_plan
        else {
            return None;
        };
        let view = spj(view_input)?;
        let keys: Vec<Expr> = view_group
            .iter()
            .map(|g| canonical(g, &view.columns))
            .collect::<Option<_>>()?;
        debug_assert_eq!(keys.len(), n_keys);
        let states = def
            .states
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let arg = match &s.arg {
                    Some(a) => Some(canonical(a, &view.columns)?),
                    None => None,
                };
                Some((s.func, arg, n_keys + i))
            })
            .collect::<Option<_>>()?;
        let mut tables = view.tables;
        tables.sort();
        Some(ViewShape {
            tables,
            conjuncts: view.conjuncts,
            keys,
            states,
        })
    }
}

/// Rewrites every aggregate that a candidate can answer.
pub fn rewrite(plan: LogicalPlan, candidates: &[Candidate]) -> LogicalPlan {
    if candidates.is_empty() {
        return plan;
    }
    let plan = crate::optimizer::map_inputs(plan, &mut |p| rewrite(p, candidates));
    let LogicalPlan::Aggregate {
        input,
        group,
        aggs,
        schema,
        grouping_sets: None,
    } = &plan
    else {
        return plan;
    };
    let Some(mut query) = spj(input) else {
        return plan;
    };
    query.tables.sort();
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    order.sort_by_key(|c| c.data.row_count());
    for candidate in order {
        if let Some(rewritten) = answer_from(&query, group, aggs, schema, candidate) {
            return rewritten;
        }
    }
    plan
}

/// A count re-aggregated as a sum of counts: over no stored rows (only possible
/// without GROUP BY) the sum is NULL, the count 0.
fn count_of(sum: Expr, grouped: bool) -> Expr {
    if grouped {
        return sum;
    }
    Expr::Function {
        func: ScalarFunc::Coalesce,
        args: vec![
            sum,
            Expr::Literal(crate::types::ScalarValue::Int64(Some(0))),
        ],
        data_type: arrow::datatypes::DataType::Int64,
    }
}

/// A plan in canonical select-project-join form.
struct Spj {
    tables: Vec<String>,
    conjuncts: Vec<Expr>,
    columns: Vec<Option<Expr>>,
}

fn spj(plan: &LogicalPlan) -> Option<Spj> {
    match plan {
        LogicalPlan::Scan {
            table,
            projection,
            filters,
            ..
        } => {
            let columns: Vec<Option<Expr>> = projection
                .iter()
                .map(|&c| {
                    let col = &table.columns[c];
                    let name = format!("{}.{}", table.name, col.name).to_lowercase();
                    Some(Expr::column(0, name, col.sql_type.to_arrow()))
                })
                .collect();
            let conjuncts = filters
                .iter()
                .map(|f| canonical(f, &columns))
                .collect::<Option<Vec<_>>>()?;
            Some(Spj {
                tables: vec![table.name.to_lowercase()],
                conjuncts: conjuncts.into_iter().flat_map(split).collect(),
                columns,
            })
        }
        LogicalPlan::Filter { input, predicate } => {
            let mut s = spj(input)?;
            s.conjuncts.extend(split(canonical(predicate, &s.columns)?));
            Some(s)
        }
        LogicalPlan::Project { input, exprs, .. } => {
            let s = spj(input)?;
            let columns = exprs.iter().map(|e| canonical(e, &s.columns)).collect();
            Some(Spj { columns, ..s })
        }
        LogicalPlan::Join {
            left,
            right,
            kind: JoinKind::Inner,
            on,
            filter,
            ..
        } => {
            let (l, r) = (spj(left)?, spj(right)?);
            let mut columns = l.columns.clone();
            columns.extend(r.columns.iter().cloned());
            let mut conjuncts = l.conjuncts;
            conjuncts.extend(r.conjuncts);
            for (a, b) in on {
                let eq = Expr::Binary {
                    op: BinaryOp::Eq,
                    left: Box::new(canonical(a, &l.columns)?),
                    right: Box::new(canonical(b, &r.columns)?),
                    data_type: arrow::datatypes::DataType::Boolean,
                };
                conjuncts.extend(split(eq));
            }
            if let Some(f) = filter {
                conjuncts.extend(split(canonical(f, &columns)?));
            }
            let mut tables = l.tables;
            tables.extend(r.tables);
            Some(Spj {
                tables,
                conjuncts,
                columns,
            })
        }
        _ => None,
    }
}

/// `e` with its column references replaced by their canonical expressions.
fn canonical(e: &Expr, columns: &[Option<Expr>]) -> Option<Expr> {
    if e.has_subquery() || e.has_outer_references() {
        return None;
    }
    let mut ok = true;
    let out = e.clone().transform_up(&mut |x| match x {
        Expr::Column { index, .. } => match columns.get(index).cloned().flatten() {
            Some(c) => c,
            None => {
                ok = false;
                Expr::Literal(crate::types::ScalarValue::Null)
            }
        },
        other => other,
    });
    ok.then_some(out)
}

/// Conjuncts, with the operands of `=` in a fixed order (so `a = b` matches `b = a`).
fn split(e: Expr) -> Vec<Expr> {
    e.split_conjunction()
        .into_iter()
        .map(|c| match c {
            Expr::Binary {
                op: BinaryOp::Eq,
                left,
                right,
                data_type,
            } if left.to_string() > right.to_string() => Expr::Binary {
                op: BinaryOp::Eq,
                left: right,
                right: left,
                data_type,
            },
            other => other,
        })
        .collect()
}

/// `e` (canonical) as an expression over the view's stored row, using its group
/// keys `keys` (canonical), which are its first columns.
fn over_keys(e: &Expr, keys: &[Expr]) -> Option<Expr> {
    if let Some(i) = keys.iter().position(|k| k == e) {
        return Some(Expr::column(i, e.to_string(), e.data_type()));
    }
    match e {
        Expr::Column { .. } => None,
        Expr::Literal(_) => Some(e.clone()),
        other => {
            let mut ok = true;
            let rebuilt = other
                .clone()
                .map_children(&mut |c| match over_keys(&c, keys) {
                    Some(x) => x,
                    None => {
                        ok = false;
                        c
                    }
                });
            ok.then_some(rebuilt)
        }
    }
}

/// The query's aggregate (input `query` in canonical form, its tables sorted)
/// answered from `candidate`, if it can be.
fn answer_from(
    query: &Spj,
    group: &[Expr],
    aggs: &[AggExpr],
    schema: &arrow::datatypes::SchemaRef,
    candidate: &Candidate,
) -> Option<LogicalPlan> {
    let view = candidate.shape.as_ref();
    if query.tables != view.tables {
        return None;
    }
    if !view.conjuncts.iter().all(|c| query.conjuncts.contains(c)) {
        return None;
    }
    let keys = &view.keys;
    // The query's own conjuncts, applied to the stored rows.
    let residual: Vec<Expr> = query
        .conjuncts
        .iter()
        .filter(|c| !view.conjuncts.contains(c))
        .map(|c| over_keys(c, keys))
        .collect::<Option<_>>()?;
    let new_group: Vec<Expr> = group
        .iter()
        .map(|g| over_keys(&canonical(g, &query.columns)?, keys))
        .collect::<Option<_>>()?;
    let stored_schema = candidate.data.schema();
    let state_column = |func: AggFunc, arg: &Option<Expr>| -> Option<Expr> {
        let (_, _, i) = view
            .states
            .iter()
            .find(|(f, a, _)| *f == func && a == arg)?;
        let f = stored_schema.field(*i);
        Some(Expr::column(*i, f.name().clone(), f.data_type().clone()))
    };
    let merge =
        |func: AggFunc, column: Expr, data_type| AggExpr::new(func, Some(column), data_type);
    let mut new_aggs: Vec<AggExpr> = vec![];
    // For each of the query's aggregates: its value over the new aggregate's output.
    let mut values: Vec<Expr> = vec![];
    let n_groups = new_group.len();
    let add = |a: AggExpr, new_aggs: &mut Vec<AggExpr>| -> Expr {
        let (t, name) = (a.data_type.clone(), a.to_string());
        new_aggs.push(a);
        Expr::column(n_groups + new_aggs.len() - 1, name, t)
    };
    for a in aggs {
        if a.arg2.is_some() || a.filter.is_some() || !a.order_by.is_empty() {
            return None;
        }
        let arg = match &a.arg {
            Some(x) => Some(canonical(x, &query.columns)?),
            None => None,
        };
        let key_arg = arg.as_ref().and_then(|x| over_keys(x, keys));
        let value = match (a.func, a.distinct) {
            (AggFunc::CountStar, _) => {
                let c = state_column(AggFunc::CountStar, &None)?;
                count_of(
                    add(merge(AggFunc::Sum, c, a.data_type.clone()), &mut new_aggs),
                    n_groups > 0,
                )
            }
            (AggFunc::Min | AggFunc::Max, _) if key_arg.is_some() => {
                add(merge(a.func, key_arg?, a.data_type.clone()), &mut new_aggs)
            }
            (AggFunc::Count, true) if key_arg.is_some() => add(
                AggExpr {
                    distinct: true,
                    ..merge(AggFunc::Count, key_arg?, a.data_type.clone())
                },
                &mut new_aggs,
            ),
            (_, true) => return None,
            (AggFunc::Count, false) => {
                let c = state_column(a.func, &arg)?;
                count_of(
                    add(merge(AggFunc::Sum, c, a.data_type.clone()), &mut new_aggs),
                    n_groups > 0,
                )
            }
            (AggFunc::Sum, false) => {
                let c = state_column(a.func, &arg)?;
                add(merge(AggFunc::Sum, c, a.data_type.clone()), &mut new_aggs)
            }
            (AggFunc::Min | AggFunc::Max, false) => {
                let c = state_column(a.func, &arg)?;
                add(merge(a.func, c, a.data_type.clone()), &mut new_aggs)
            }
            (AggFunc::Avg, false) => {
                let sum_arg = super::sum_state(a.arg.clone()?).arg;
                let sum_arg = canonical(&sum_arg?, &query.columns);
                let s = state_column(AggFunc::Sum, &sum_arg)?;
                let c = state_column(AggFunc::Count, &arg)?;
                let (st, ct) = (s.data_type(), c.data_type());
                let s = add(merge(AggFunc::Sum, s, st), &mut new_aggs);
                let c = add(merge(AggFunc::Sum, c, ct), &mut new_aggs);
                Expr::Function {
                    func: ScalarFunc::AvgOfState,
                    args: vec![s, c],
                    data_type: a.data_type.clone(),
                }
            }
            _ => return None,
        };
        values.push(value);
    }

    // Build: stored rows → residual filter → aggregate → the original columns.
    let mut stored = candidate.data.clone();
    stored.name = format!("{} (materialized view)", candidate.name);
    let mut plan = stored_scan(&stored);
    if let Some(predicate) = Expr::conjunction(residual) {
        plan = LogicalPlan::Filter {
            input: Box::new(plan),
            predicate,
        };
    }
    let mut agg_exprs = new_group.clone();
    agg_exprs.extend(
        new_aggs
            .iter()
            .map(|a| Expr::column(0, "", a.data_type.clone())),
    );
    let names: Vec<String> = (0..agg_exprs.len()).map(|i| format!("c{i}")).collect();
    let aggregate = LogicalPlan::Aggregate {
        input: Box::new(plan),
        group: new_group,
        aggs: new_aggs,
        schema: crate::plan::schema_of(&agg_exprs, &names),
        grouping_sets: None,
    };
    let mut exprs: Vec<Expr> = (0..n_groups)
        .map(|i| Expr::column(i, schema.field(i).name().clone(), agg_exprs[i].data_type()))
        .collect();
    exprs.extend(values);
    let exprs = exprs
        .into_iter()
        .zip(schema.fields())
        .map(|(e, f)| {
            if &e.data_type() == f.data_type() {
                e
            } else {
                Expr::Cast {
                    expr: Box::new(e),
                    to: f.data_type().clone(),
                }
            }
        })
        .collect();
    Some(LogicalPlan::Project {
        input: Box::new(aggregate),
        exprs,
        schema: schema.clone(),
    })
}
