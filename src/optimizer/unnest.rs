//! General unnesting of correlated subqueries, after Neumann and Kemper's
//! "Unnesting Arbitrary Queries" (the method DuckDB uses).
//!
//! A correlated subquery `q` is a function of the outer columns it reads, C.
//! Instead of running it per outer row, it is rewritten into `q'`, which
//! computes `q` for every value of C at once: the distinct values of C in the
//! outer rows form the *domain* D, and D is pushed down through `q` to where
//! the outer columns are read, the outer references becoming D's columns:
//!
//! - below the lowest correlated operators, `q`'s inputs are crossed with D
//!   (a filter that then compares an inner column with a D column becomes a
//!   join key, so the cross product is a hash join);
//! - projections, filters, windows and unions pass D's columns on;
//! - an aggregate groups by D's columns too; one without GROUP BY keeps its
//!   one row per domain value by a left join from D (COUNT of no rows is 0);
//! - LIMIT (with its ORDER BY) becomes a ROW_NUMBER per domain value;
//! - a join pushes D into the side that reads the outer columns, or into both,
//!   matching their D columns.
//!
//! `q'`'s output is `q`'s columns followed by D's; the outer query then joins
//! its rows with `q'` on C = D (NULL-safely: a NULL outer value is a value of
//! the domain like any other; plain equality for columns that cannot be NULL,
//! such as a NOT NULL column of a table read through projections, filters and
//! inner joins).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};

use crate::error::Result;
use crate::plan::{
    schema_of, AggExpr, AggFunc, BinaryOp, Expr, FrameBound, FrameUnits, JoinKind, LogicalPlan,
    ScalarFunc, SortKey, WindowExpr, WindowFrame, WindowFunc,
};
use crate::types::ScalarValue;
use crate::unsupported;

/// A correlated subquery rewritten for all values of its outer columns.
pub struct Unnested {
    /// The subquery's columns followed by one column per outer column read.
    pub plan: LogicalPlan,
    /// The outer columns read (indexes into the outer row), in the order of
    /// the plan's last columns.
    pub outer: Vec<(usize, String, DataType)>,
    /// Whether each outer column may be NULL.
    pub nullable: Vec<bool>,
}

impl Unnested {
    /// How many columns the subquery itself has (before the domain's).
    pub fn width(&self) -> usize {
        self.plan.schema().fields().len() - self.outer.len()
    }

    /// Join keys matching the outer row (of width `outer_width`, on the left)
    /// with this plan's domain columns (on the right), NULL-safely.
    pub fn keys(&self) -> Vec<(Expr, Expr)> {
        let width = self.width();
        self.outer
            .iter()
            .enumerate()
            .flat_map(|(j, (index, name, t))| {
                equal_keys(
                    Expr::column(*index, name.clone(), t.clone()),
                    Expr::column(width + j, format!("#domain{j}"), t.clone()),
                    self.nullable[j],
                )
            })
            .collect()
    }
}

/// Join keys for `l IS NOT DISTINCT FROM r`: `l = r` when neither can be NULL.
fn equal_keys(l: Expr, r: Expr, nullable: bool) -> Vec<(Expr, Expr)> {
    if nullable {
        Expr::null_safe_keys(l, r)
    } else {
        vec![(l, r)]
    }
}

/// Whether output column `index` of `plan` may hold a NULL (false only where
/// that is certain: a NOT NULL table column, passed on unchanged).
fn may_be_null(plan: &LogicalPlan, index: usize) -> bool {
    match plan {
        LogicalPlan::Scan { schema, .. } => schema.field(index).is_nullable(),
        LogicalPlan::Filter { input, .. }
        | LogicalPlan::Sort { input, .. }
        | LogicalPlan::Limit { input, .. } => may_be_null(input, index),
        LogicalPlan::Project { input, exprs, .. } => match exprs.get(index) {
            Some(Expr::Column { index: i, .. }) => may_be_null(input, *i),
            _ => true,
        },
        LogicalPlan::Window { input, .. } => {
            index >= input.schema().fields().len() || may_be_null(input, index)
        }
        LogicalPlan::Join {
            left, right, kind, ..
        } => {
            let nl = left.schema().fields().len();
            match kind {
                JoinKind::Inner => {
                    if index < nl {
                        may_be_null(left, index)
                    } else {
                        may_be_null(right, index - nl)
                    }
                }
                JoinKind::Left if index < nl => may_be_null(left, index),
                k if k.left_only() => may_be_null(left, index),
                _ => true,
            }
        }
        _ => true,
    }
}

/// `q` (a subquery of a query whose rows are `outer`; its nested subqueries
/// already unnested) for every value of the outer columns it reads.
pub fn unnest(q: LogicalPlan, outer: &LogicalPlan) -> Result<Unnested> {
    let (domain, columns) = domain_of(&q, outer);
    Ok(Unnested {
        plan: push(q, &domain)?,
        outer: columns,
        nullable: domain.nullable,
    })
}

/// `q`, an aggregate without GROUP BY (a scalar subquery's), unnested for the
/// domain values its input has rows for: the caller left-joins the outer rows
/// with it and reads the aggregates of a value it lacks as over no rows
/// ([`counts_rows`]: 0, the others NULL). This saves the domain's left join.
pub fn unnest_scalar_aggregate(q: LogicalPlan, outer: &LogicalPlan) -> Result<Unnested> {
    let (domain, columns) = domain_of(&q, outer);
    let plan = match q {
        aggregate @ LogicalPlan::Aggregate { .. } if aggregate.references_beyond(0) => {
            push_aggregate(aggregate, &domain, false)?
        }
        other => push(other, &domain)?,
    };
    Ok(Unnested {
        plan,
        outer: columns,
        nullable: domain.nullable,
    })
}

/// The domain of `q` over the rows of `outer`, and the outer columns it has.
fn domain_of(q: &LogicalPlan, outer: &LogicalPlan) -> (Domain, Vec<(usize, String, DataType)>) {
    let mut columns = vec![];
    collect_outer(q, &mut columns);
    columns.sort_by_key(|(i, _, _)| *i);
    columns.dedup_by_key(|(i, _, _)| *i);
    let group: Vec<Expr> = columns
        .iter()
        .map(|(i, n, t)| Expr::column(*i, n.clone(), t.clone()))
        .collect();
    let names: Vec<String> = (0..group.len()).map(|j| format!("#domain{j}")).collect();
    let plan = LogicalPlan::Aggregate {
        input: Box::new(outer.clone()),
        schema: schema_of(&group, &names),
        group,
        aggs: vec![],
        grouping_sets: None,
    };
    let domain = Domain {
        plan,
        columns: columns.iter().map(|(i, _, _)| *i).collect(),
        nullable: columns
            .iter()
            .map(|(i, _, _)| may_be_null(outer, *i))
            .collect(),
    };
    (domain, columns)
}

/// The domain: the distinct values of the outer columns the subquery reads.
struct Domain {
    plan: LogicalPlan,
    /// The outer column behind each of the domain's columns.
    columns: Vec<usize>,
    /// Whether each of them may be NULL.
    nullable: Vec<bool>,
}

impl Domain {
    fn width(&self) -> usize {
        self.columns.len()
    }

    /// The domain's columns, read at `base` (after `base` other columns).
    fn columns_at(&self, base: usize) -> Vec<Expr> {
        self.plan
            .schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(j, f)| Expr::column(base + j, f.name().clone(), f.data_type().clone()))
            .collect()
    }

    /// `e` (over a row whose domain columns start at `base`) with its outer
    /// references read from those columns; references further out come one
    /// level nearer.
    fn resolve(&self, e: Expr, base: usize) -> Expr {
        e.transform_up(&mut |x| match x {
            Expr::OuterColumn {
                index,
                name,
                data_type,
                depth: 1,
            } => {
                let j = self
                    .columns
                    .iter()
                    .position(|&c| c == index)
                    .expect("every outer column is in the domain");
                Expr::column(base + j, name, data_type)
            }
            outer @ Expr::OuterColumn { .. } => outer.one_level_nearer(),
            other => other,
        })
    }

    fn resolve_key(&self, k: SortKey, base: usize) -> SortKey {
        SortKey {
            expr: self.resolve(k.expr, base),
            ..k
        }
    }
}

/// The outer columns (depth 1) `plan`'s own expressions read.
fn collect_outer(plan: &LogicalPlan, out: &mut Vec<(usize, String, DataType)>) {
    for e in plan.expressions() {
        collect_outer_expr(e, out);
    }
    for input in plan.inputs() {
        collect_outer(input, out);
    }
}

fn collect_outer_expr(e: &Expr, out: &mut Vec<(usize, String, DataType)>) {
    if let Expr::OuterColumn {
        index,
        name,
        data_type,
        depth: 1,
    } = e
    {
        out.push((*index, name.clone(), data_type.clone()));
    }
    for c in e.children() {
        collect_outer_expr(c, out);
    }
}

fn names_of(plan: &LogicalPlan) -> Vec<String> {
    plan.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// A projection of `plan` to the columns `picked` (by position).
fn pick(plan: LogicalPlan, picked: &[usize]) -> LogicalPlan {
    let columns = plan.output_columns();
    let names = names_of(&plan);
    let exprs: Vec<Expr> = picked.iter().map(|&i| columns[i].clone()).collect();
    let names: Vec<String> = picked.iter().map(|&i| names[i].clone()).collect();
    LogicalPlan::project(plan, exprs, names)
}

/// `plan` (a part of the subquery) for every domain value: its columns, then
/// the domain's.
fn push(plan: LogicalPlan, domain: &Domain) -> Result<LogicalPlan> {
    if !plan.references_beyond(0) {
        // Nothing below reads the outer query: every row with every value.
        return Ok(LogicalPlan::join(
            plan,
            domain.plan.clone(),
            JoinKind::Inner,
            vec![],
            None,
        ));
    }
    let k = domain.width();
    Ok(match plan {
        LogicalPlan::Filter { input, predicate } => {
            let width = input.schema().fields().len();
            let input = push(*input, domain)?;
            LogicalPlan::Filter {
                input: Box::new(input),
                predicate: domain.resolve(predicate, width),
            }
        }
        LogicalPlan::Project { input, exprs, .. } => {
            let width = input.schema().fields().len();
            let mut names: Vec<String> = (0..exprs.len()).map(|i| format!("#c{i}")).collect();
            let input = push(*input, domain)?;
            let mut exprs: Vec<Expr> = exprs
                .into_iter()
                .map(|e| domain.resolve(e, width))
                .collect();
            exprs.extend(domain.columns_at(width));
            names.extend((0..k).map(|j| format!("#domain{j}")));
            LogicalPlan::project(input, exprs, names)
        }
        aggregate @ LogicalPlan::Aggregate { .. } => push_aggregate(aggregate, domain, true)?,
        LogicalPlan::Sort { input, keys, fetch } => match fetch {
            None => {
                let width = input.schema().fields().len();
                LogicalPlan::Sort {
                    input: Box::new(push(*input, domain)?),
                    keys: keys
                        .into_iter()
                        .map(|key| domain.resolve_key(key, width))
                        .collect(),
                    fetch: None,
                }
            }
            Some(fetch) => limit_per_domain(*input, keys, 0, Some(fetch), domain)?,
        },
        LogicalPlan::Limit {
            input,
            offset,
            fetch,
        } => match *input {
            LogicalPlan::Sort { input, keys, .. } => {
                limit_per_domain(*input, keys, offset, fetch, domain)?
            }
            other => limit_per_domain(other, vec![], offset, fetch, domain)?,
        },
        LogicalPlan::Union { inputs, schema } => {
            let inputs = inputs
                .into_iter()
                .map(|i| push(i, domain))
                .collect::<Result<Vec<_>>>()?;
            let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
            fields.extend(domain.plan.schema().fields().iter().cloned());
            LogicalPlan::Union {
                inputs,
                schema: Arc::new(Schema::new(fields)),
            }
        }
        LogicalPlan::Window {
            input,
            partition_by,
            order_by,
            functions,
            schema,
        } => {
            let width = input.schema().fields().len();
            let input = push(*input, domain)?;
            let mut partition_by: Vec<Expr> = partition_by
                .into_iter()
                .map(|e| domain.resolve(e, width))
                .collect();
            partition_by.extend(domain.columns_at(width));
            let functions: Vec<WindowExpr> = functions
                .into_iter()
                .map(|w| {
                    w.try_map_expressions(&mut |e| Ok(domain.resolve(e, width)))
                        .expect("an infallible map")
                })
                .collect();
            let n_functions = functions.len();
            let mut fields: Vec<Arc<Field>> = input.schema().fields().iter().cloned().collect();
            fields.extend(schema.fields()[width..].iter().cloned());
            let window = LogicalPlan::Window {
                input: Box::new(input),
                partition_by,
                order_by: order_by
                    .into_iter()
                    .map(|key| domain.resolve_key(key, width))
                    .collect(),
                functions,
                schema: Arc::new(Schema::new(fields)),
            };
            // [input, domain, functions] as [input, functions, domain].
            let mut order: Vec<usize> = (0..width).collect();
            order.extend(width + k..width + k + n_functions);
            order.extend(width..width + k);
            pick(window, &order)
        }
        LogicalPlan::Join {
            left,
            right,
            kind,
            on,
            filter,
            ..
        } => push_join(*left, *right, kind, on, filter, domain)?,
        other => {
            return unsupported!(
                "a correlated subquery of this shape: {}",
                other.display_tree()
            )
        }
    })
}

/// An aggregate of the subquery for every domain value: grouped by the
/// domain's columns too. Without GROUP BY, a domain value whose input has no
/// rows still has its row (COUNT 0, the other aggregates NULL) when
/// `every_value`, by a left join from the domain.
fn push_aggregate(plan: LogicalPlan, domain: &Domain, every_value: bool) -> Result<LogicalPlan> {
    let LogicalPlan::Aggregate {
        input,
        group,
        aggs,
        grouping_sets,
        schema,
    } = plan
    else {
        unreachable!("push_aggregate of an aggregate")
    };
    let k = domain.width();
    if grouping_sets.is_some() {
        return unsupported!("GROUPING SETS in a correlated subquery");
    }
    let width = input.schema().fields().len();
    let input = push(*input, domain)?;
    let n_groups = group.len();
    let mut new_group: Vec<Expr> = group
        .into_iter()
        .map(|e| domain.resolve(e, width))
        .collect();
    new_group.extend(domain.columns_at(width));
    let aggs: Vec<AggExpr> = aggs
        .into_iter()
        .map(|a| a.map_expressions(&mut |e| domain.resolve(e, width)))
        .collect();
    let mut out: Vec<Expr> = new_group.clone();
    out.extend(
        aggs.iter()
            .map(|a| Expr::column(0, "", a.data_type.clone())),
    );
    let mut names: Vec<String> = (0..new_group.len()).map(|i| format!("#g{i}")).collect();
    names.extend(aggs.iter().map(|a| a.to_string()));
    let n_aggs = aggs.len();
    let counts: Vec<bool> = aggs.iter().map(counts_rows).collect();
    let grouped = LogicalPlan::Aggregate {
        input: Box::new(input),
        schema: schema_of(&out, &names),
        group: new_group,
        aggs,
        grouping_sets: None,
    };
    if n_groups > 0 || !every_value {
        // [group, domain, aggregates] as [group, aggregates, domain]
        // (without GROUP BY, the domain values with no input rows have
        // no row).
        let mut order: Vec<usize> = (0..n_groups).collect();
        order.extend(n_groups + k..n_groups + k + n_aggs);
        order.extend(n_groups..n_groups + k);
        return Ok(pick(grouped, &order));
    }
    // Without GROUP BY every domain value has its one row, over no
    // input rows too: the domain left-joined with the groups.
    let on: Vec<(Expr, Expr)> = (0..k)
        .flat_map(|j| {
            let d = domain.columns_at(0)[j].clone();
            let g = grouped.output_columns()[j].clone();
            equal_keys(d, g, domain.nullable[j])
        })
        .collect();
    let joined = LogicalPlan::join(domain.plan.clone(), grouped, JoinKind::Left, on, None);
    let columns = joined.output_columns();
    let mut exprs: Vec<Expr> = (0..n_aggs)
        .map(|a| {
            let value = columns[k + k + a].clone();
            if counts[a] {
                Expr::Function {
                    func: ScalarFunc::Coalesce,
                    args: vec![value, Expr::Literal(ScalarValue::Int64(Some(0)))],
                    data_type: DataType::Int64,
                }
            } else {
                value
            }
        })
        .collect();
    exprs.extend(columns[..k].iter().cloned());
    let mut names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    names.extend((0..k).map(|j| format!("#domain{j}")));
    Ok(LogicalPlan::project(joined, exprs, names))
}

/// Whether an aggregate counts rows (0, not NULL, over none).
pub fn counts_rows(a: &AggExpr) -> bool {
    matches!(
        a.func,
        AggFunc::Count | AggFunc::CountStar | AggFunc::ApproxCountDistinct
    )
}

/// `LIMIT fetch OFFSET offset` of `input` in `keys` order, per domain value:
/// the rows whose ROW_NUMBER() over their domain value is in range.
fn limit_per_domain(
    input: LogicalPlan,
    keys: Vec<SortKey>,
    offset: usize,
    fetch: Option<usize>,
    domain: &Domain,
) -> Result<LogicalPlan> {
    let width = input.schema().fields().len();
    let k = domain.width();
    let input = push(input, domain)?;
    let mut fields: Vec<Arc<Field>> = input.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new("#row_number", DataType::Int64, true)));
    let window = LogicalPlan::Window {
        input: Box::new(input),
        partition_by: domain.columns_at(width),
        order_by: keys
            .into_iter()
            .map(|key| domain.resolve_key(key, width))
            .collect(),
        functions: vec![WindowExpr {
            func: WindowFunc::RowNumber,
            args: vec![],
            frame: WindowFrame {
                units: FrameUnits::Rows,
                start: FrameBound::UnboundedPreceding,
                end: FrameBound::CurrentRow,
            },
            data_type: DataType::Int64,
            ignore_nulls: false,
        }],
        schema: Arc::new(Schema::new(fields)),
    };
    let row_number = Expr::column(width + k, "#row_number", DataType::Int64);
    let bound = |op, v: usize| Expr::Binary {
        op,
        left: Box::new(row_number.clone()),
        right: Box::new(Expr::Literal(ScalarValue::Int64(Some(v as i64)))),
        data_type: DataType::Boolean,
    };
    let mut conditions = vec![bound(BinaryOp::Gt, offset)];
    if let Some(fetch) = fetch {
        conditions.push(bound(BinaryOp::LtEq, offset + fetch));
    }
    let filtered = LogicalPlan::Filter {
        input: Box::new(window),
        predicate: Expr::conjunction(conditions).expect("a bound"),
    };
    Ok(pick(filtered, &(0..width + k).collect::<Vec<_>>()))
}

/// A join inside the subquery, for every domain value: the domain pushed into
/// the side that reads the outer query (the preserved side of an outer join
/// may not be the only one), or into both, their domain columns matched.
fn push_join(
    left: LogicalPlan,
    right: LogicalPlan,
    kind: JoinKind,
    on: Vec<(Expr, Expr)>,
    filter: Option<Expr>,
    domain: &Domain,
) -> Result<LogicalPlan> {
    let k = domain.width();
    let (nl, nr) = (left.schema().fields().len(), right.schema().fields().len());
    let (lc, rc) = (left.references_beyond(0), right.references_beyond(0));
    let condition_reads_outer = on
        .iter()
        .any(|(l, r)| l.references_beyond(0) || r.references_beyond(0))
        || filter.as_ref().is_some_and(|f| f.references_beyond(0));
    let left_side = matches!(
        kind,
        JoinKind::Inner
            | JoinKind::Left
            | JoinKind::Semi
            | JoinKind::Anti
            | JoinKind::NullAwareAnti
    );
    let right_side = matches!(
        kind,
        JoinKind::Right | JoinKind::RightSemi | JoinKind::RightAnti
    );
    // Left only: [left, domain, right]; the right's columns move by k.
    if left_side && !rc {
        let left = push(left, domain)?;
        let shift = |e: Expr| e.remap_columns(&|c| if c >= nl { c + k } else { c });
        let on = on
            .into_iter()
            .map(|(l, r)| (domain.resolve(l, nl), domain.resolve(r, nl)))
            .collect();
        let filter = filter.map(|f| domain.resolve(shift(f), nl));
        let joined = LogicalPlan::join(left, right, kind, on, filter);
        if kind.left_only() {
            return Ok(joined);
        }
        let mut order: Vec<usize> = (0..nl).collect();
        order.extend(nl + k..nl + k + nr);
        order.extend(nl..nl + k);
        return Ok(pick(joined, &order));
    }
    // Right only: [left, right, domain].
    if right_side && !lc && !condition_reads_outer {
        let right = push(right, domain)?;
        return Ok(LogicalPlan::join(left, right, kind, on, filter));
    }
    // Both sides: [left, domain, right, domain], the domains matched.
    let left = push(left, domain)?;
    let right = push(right, domain)?;
    let shift = |e: Expr| e.remap_columns(&|c| if c >= nl { c + k } else { c });
    let mut on: Vec<(Expr, Expr)> = on
        .into_iter()
        .map(|(l, r)| (domain.resolve(l, nl), domain.resolve(r, nl)))
        .collect();
    let left_domain = domain.columns_at(nl);
    let right_domain = domain.columns_at(nr);
    for (j, (l, r)) in left_domain.into_iter().zip(right_domain).enumerate() {
        on.extend(equal_keys(l, r, domain.nullable[j]));
    }
    let filter = filter.map(|f| domain.resolve(shift(f), nl));
    let joined = LogicalPlan::join(left, right, kind, on, filter);
    if kind.left_only() {
        return Ok(joined);
    }
    if kind.right_only() {
        return Ok(joined);
    }
    let columns = joined.output_columns();
    let mut exprs: Vec<Expr> = columns[..nl].to_vec();
    exprs.extend(columns[nl + k..nl + k + nr].iter().cloned());
    for j in 0..k {
        let (l, r) = (columns[nl + j].clone(), columns[nl + k + nr + j].clone());
        exprs.push(match kind {
            JoinKind::Right => r,
            JoinKind::Full => {
                let t = l.data_type();
                Expr::Function {
                    func: ScalarFunc::Coalesce,
                    args: vec![l, r],
                    data_type: t,
                }
            }
            _ => l,
        });
    }
    let names = (0..exprs.len()).map(|i| format!("#c{i}")).collect();
    Ok(LogicalPlan::project(joined, exprs, names))
}
