//! Column pruning: walks the plan from the root, telling each node which of its
//! output columns are needed; each node asks its input only for what it needs in
//! turn. Scans end up reading only the columns the query uses, and unused
//! projections and aggregates disappear, and so do LEFT JOINs whose right side
//! adds no column and at most one match per row.
//!
//! `prune(plan, required)` returns a plan whose output is exactly the `required`
//! columns (sorted positions of the old output), in that order.

use std::sync::Arc;

use arrow::datatypes::Schema;

use crate::plan::{AggExpr, Expr, JoinKind, LogicalPlan, SortKey, WindowExpr};

pub fn prune_columns(plan: LogicalPlan) -> LogicalPlan {
    let all: Vec<usize> = (0..plan.schema().fields().len()).collect();
    prune(plan, &all)
}

/// Sorted, de-duplicated column positions read by `exprs`, plus `extra`.
fn columns_of<'a>(exprs: impl IntoIterator<Item = &'a Expr>, extra: &[usize]) -> Vec<usize> {
    let mut out = extra.to_vec();
    for e in exprs {
        e.collect_columns(&mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Renumbers column references from old positions to positions within `kept`.
fn remap(e: Expr, kept: &[usize]) -> Expr {
    e.remap_columns(&|i| kept.binary_search(&i).expect("pruned a needed column"))
}

/// A projection selecting `required` out of a plan whose output is `have`.
fn select(plan: LogicalPlan, have: &[usize], required: &[usize]) -> LogicalPlan {
    if have == required {
        return plan;
    }
    let position = |r: &usize| have.binary_search(r).expect("required column kept");
    if let LogicalPlan::Project {
        input,
        exprs,
        schema,
    } = plan
    {
        // Select from the projection's own expressions instead of stacking another.
        let fields: Vec<_> = required
            .iter()
            .map(|r| schema.field(position(r)).clone())
            .collect();
        return LogicalPlan::Project {
            input,
            exprs: required
                .iter()
                .map(|r| exprs[position(r)].clone())
                .collect(),
            schema: Arc::new(Schema::new(fields)),
        };
    }
    let schema = plan.schema();
    let exprs: Vec<Expr> = required
        .iter()
        .map(|r| {
            let pos = position(r);
            let f = schema.field(pos);
            Expr::column(pos, f.name().clone(), f.data_type().clone())
        })
        .collect();
    let names = exprs.iter().map(|e| e.to_string()).collect::<Vec<_>>();
    LogicalPlan::project(plan, exprs, names)
}

fn prune(plan: LogicalPlan, required: &[usize]) -> LogicalPlan {
    match plan {
        LogicalPlan::Scan {
            table,
            projection,
            filters,
            schema,
        } => {
            let needed = columns_of(&filters, required);
            let fields: Vec<_> = needed.iter().map(|&i| schema.field(i).clone()).collect();
            let scan = LogicalPlan::Scan {
                table,
                projection: needed.iter().map(|&i| projection[i]).collect(),
                filters: filters.into_iter().map(|f| remap(f, &needed)).collect(),
                schema: Arc::new(Schema::new(fields)),
            };
            select(scan, &needed, required)
        }
        LogicalPlan::Filter { input, predicate } => {
            let needed = columns_of([&predicate], required);
            let filter = LogicalPlan::Filter {
                input: Box::new(prune(*input, &needed)),
                predicate: remap(predicate, &needed),
            };
            select(filter, &needed, required)
        }
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => {
            let kept: Vec<Expr> = required.iter().map(|&i| exprs[i].clone()).collect();
            let needed = columns_of(&kept, &[]);
            let input = prune(*input, &needed);
            let kept: Vec<Expr> = kept.into_iter().map(|e| remap(e, &needed)).collect();
            let fields: Vec<_> = required.iter().map(|&i| schema.field(i).clone()).collect();
            let (input, kept) = merge_projections(input, kept);
            LogicalPlan::Project {
                input: Box::new(input),
                exprs: kept,
                schema: Arc::new(Schema::new(fields)),
            }
        }
        LogicalPlan::Aggregate {
            input,
            group,
            aggs,
            grouping_sets,
            schema,
        } => {
            let n_groups = group.len();
            // With grouping sets, `#grouping_id` follows the aggregates; it is kept
            // (the keys are too: removing one would merge its groups).
            let grouping_id = grouping_sets.as_ref().map(|_| n_groups + aggs.len());
            let kept_aggs: Vec<usize> = (0..aggs.len())
                .filter(|a| required.contains(&(n_groups + a)))
                .collect();
            let aggs: Vec<_> = kept_aggs.iter().map(|&a| aggs[a].clone()).collect();
            let needed = columns_of(
                group
                    .iter()
                    .chain(aggs.iter().flat_map(AggExpr::expressions)),
                &[],
            );
            let input = prune(*input, &needed);
            let group: Vec<Expr> = group.into_iter().map(|e| remap(e, &needed)).collect();
            let aggs = aggs
                .into_iter()
                .map(|a| a.map_expressions(&mut |e| remap(e, &needed)))
                .collect();
            let have: Vec<usize> = (0..n_groups)
                .chain(kept_aggs.iter().map(|a| n_groups + a))
                .chain(grouping_id)
                .collect();
            let fields: Vec<_> = have.iter().map(|&i| schema.field(i).clone()).collect();
            let agg = LogicalPlan::Aggregate {
                input: Box::new(input),
                group,
                aggs,
                grouping_sets,
                schema: Arc::new(Schema::new(fields)),
            };
            select(agg, &have, required)
        }
        LogicalPlan::Window {
            input,
            partition_by,
            order_by,
            functions,
            schema,
        } => {
            // The input's columns the parent or a kept function needs; the
            // functions whose column the parent needs.
            let width = input.schema().fields().len();
            let (kept, functions): (Vec<usize>, Vec<WindowExpr>) = functions
                .into_iter()
                .enumerate()
                .filter(|(f, _)| required.contains(&(width + f)))
                .unzip();
            let passed: Vec<usize> = required.iter().copied().filter(|&c| c < width).collect();
            let needed = columns_of(
                partition_by
                    .iter()
                    .chain(order_by.iter().map(|k| &k.expr))
                    .chain(functions.iter().flat_map(WindowExpr::expressions)),
                &passed,
            );
            let input = prune(*input, &needed);
            if functions.is_empty() {
                return select(input, &needed, required);
            }
            let mut fields: Vec<_> = needed.iter().map(|&i| schema.field(i).clone()).collect();
            fields.extend(kept.iter().map(|f| schema.field(width + f).clone()));
            let mut have = needed.clone();
            have.extend(kept.iter().map(|f| width + f));
            let remap_key = |k: SortKey| SortKey {
                expr: remap(k.expr, &needed),
                ..k
            };
            let window = LogicalPlan::Window {
                input: Box::new(input),
                partition_by: partition_by
                    .into_iter()
                    .map(|e| remap(e, &needed))
                    .collect(),
                order_by: order_by.into_iter().map(remap_key).collect(),
                functions: functions
                    .into_iter()
                    .map(|w| {
                        w.try_map_expressions(&mut |e| Ok(remap(e, &needed)))
                            .expect("an infallible map")
                    })
                    .collect(),
                schema: Arc::new(Schema::new(fields)),
            };
            select(window, &have, required)
        }
        // Unnested before pruning (the first rule); kept whole if not.
        lateral @ LogicalPlan::LateralJoin { .. } => {
            let all: Vec<usize> = (0..lateral.schema().fields().len()).collect();
            select(lateral, &all, required)
        }
        // The recursive part reads every column of the work table: both
        // parts keep all theirs.
        LogicalPlan::RecursiveCte {
            anchor,
            recursive,
            id,
            distinct,
            schema,
        } => {
            let all: Vec<usize> = (0..schema.fields().len()).collect();
            let cte = LogicalPlan::RecursiveCte {
                anchor: Box::new(prune(*anchor, &all)),
                recursive: Box::new(prune(*recursive, &all)),
                id,
                distinct,
                schema,
            };
            select(cte, &all, required)
        }
        table @ LogicalPlan::WorkTable { .. } => {
            let all: Vec<usize> = (0..table.schema().fields().len()).collect();
            select(table, &all, required)
        }
        LogicalPlan::Sort { input, keys, fetch } => {
            let needed = columns_of(keys.iter().map(|k| &k.expr), required);
            let sort = LogicalPlan::Sort {
                input: Box::new(prune(*input, &needed)),
                keys: keys
                    .into_iter()
                    .map(|k| SortKey {
                        expr: remap(k.expr, &needed),
                        ..k
                    })
                    .collect(),
                fetch,
            };
            select(sort, &needed, required)
        }
        LogicalPlan::Join {
            left,
            right,
            kind,
            on,
            filter,
            ..
        } => {
            // Positions in the join's combined row: left columns, then right ones.
            let nl = left.schema().fields().len();
            if kind == JoinKind::Left
                && required.iter().all(|&i| i < nl)
                && unique_on(&right, on.iter().map(|(_, r)| r))
            {
                // Each left row once, and nothing read from the right: the left.
                return prune(*left, required);
            }
            let mut needed = columns_of(filter.iter().chain(on.iter().map(|(l, _)| l)), required);
            let mut right_keys = vec![];
            for (_, r) in &on {
                r.collect_columns(&mut right_keys);
            }
            needed.extend(right_keys.into_iter().map(|i| i + nl));
            needed.sort_unstable();
            needed.dedup();
            let left_req: Vec<usize> = needed.iter().copied().filter(|&i| i < nl).collect();
            let right_req: Vec<usize> = needed
                .iter()
                .filter(|&&i| i >= nl)
                .map(|&i| i - nl)
                .collect();
            let left = prune(*left, &left_req);
            let right = prune(*right, &right_req);
            let position = |i: usize| {
                if i < nl {
                    left_req.binary_search(&i).expect("left column kept")
                } else {
                    left_req.len()
                        + right_req
                            .binary_search(&(i - nl))
                            .expect("right column kept")
                }
            };
            let on = on
                .into_iter()
                .map(|(l, r)| (remap(l, &left_req), remap(r, &right_req)))
                .collect();
            let filter = filter.map(|f| f.remap_columns(&position));
            let have = if kind.left_only() { left_req } else { needed };
            let join = LogicalPlan::join(left, right, kind, on, filter);
            select(join, &have, required)
        }
        LogicalPlan::Limit {
            input,
            offset,
            fetch,
        } => LogicalPlan::Limit {
            input: Box::new(prune(*input, required)),
            offset,
            fetch,
        },
        LogicalPlan::Union { inputs, schema } => {
            let inputs: Vec<LogicalPlan> = inputs.into_iter().map(|p| prune(p, required)).collect();
            let fields: Vec<_> = required.iter().map(|&i| schema.field(i).clone()).collect();
            LogicalPlan::Union {
                inputs,
                schema: Arc::new(Schema::new(fields)),
            }
        }
        leaf @ (LogicalPlan::Values { .. } | LogicalPlan::External { .. }) => {
            let all: Vec<usize> = (0..leaf.schema().fields().len()).collect();
            select(leaf, &all, required)
        }
    }
}

/// Whether `plan` has at most one row for each value of `keys` (columns of its
/// output): an aggregate grouped by columns all among them (or by nothing).
fn unique_on<'a>(plan: &LogicalPlan, keys: impl IntoIterator<Item = &'a Expr>) -> bool {
    let columns: Vec<usize> = keys
        .into_iter()
        .filter_map(|k| match k {
            Expr::Column { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    match plan {
        LogicalPlan::Aggregate {
            group,
            grouping_sets: None,
            ..
        } => (0..group.len()).all(|g| columns.contains(&g)),
        LogicalPlan::Project { input, exprs, .. } => {
            let inner: Vec<Expr> = columns
                .iter()
                .filter_map(|&c| match exprs.get(c) {
                    Some(e @ Expr::Column { .. }) => Some(e.clone()),
                    _ => None,
                })
                .collect();
            unique_on(input, &inner)
        }
        _ => false,
    }
}

/// `exprs` over a projection, rewritten over that projection's input when that
/// costs nothing: when either list only picks columns.
fn merge_projections(input: LogicalPlan, exprs: Vec<Expr>) -> (LogicalPlan, Vec<Expr>) {
    let is_column = |e: &Expr| matches!(e, Expr::Column { .. });
    match input {
        LogicalPlan::Project {
            input: inner,
            exprs: inner_exprs,
            ..
        } if exprs.iter().all(is_column) || inner_exprs.iter().all(is_column) => {
            let merged = exprs
                .into_iter()
                .map(|e| e.inline_columns(&inner_exprs))
                .collect();
            merge_projections(*inner, merged)
        }
        other => (other, exprs),
    }
}
