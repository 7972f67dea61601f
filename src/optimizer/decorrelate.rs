//! Subqueries become joins, so that no subquery runs once per row.
//!
//! Fast paths, for the shapes TPC-H and most queries use:
//!
//! - `[NOT] EXISTS (q)` and `x [NOT] IN (q)` as conditions of a WHERE: a semi
//!   or anti join with `q`; the predicates of `q` that refer to the outer query
//!   are pulled out of `q` (through its filters and projections) and become
//!   the join condition. A correlated `NOT IN` is an anti join on those
//!   predicates and `x = q.col OR q.col IS NULL OR x IS NULL` (so that a NULL
//!   in the outer row's own set, or a NULL x, rejects the row).
//! - A correlated scalar subquery `(SELECT agg(...) FROM ... WHERE inner =
//!   outer)`: its aggregate is grouped by the inner sides of those
//!   equalities, the outer query is left-joined with the result on them, and
//!   the subquery becomes an expression over the joined aggregates (COUNT of
//!   no rows is 0).
//!
//! Every other form is unnested in general (`unnest`): the subquery is
//! computed for all values of the outer columns it reads at once, and joined
//! with the outer rows on those values. A scalar subquery is left-joined (and
//! must give at most one row per outer row); `EXISTS` as a value is a count
//! per domain value; `x IN (q)` as a value is a left join on `x = q.col` for
//! whether it is found, and counts of `q`'s rows and NULLs for the three-valued
//! answer; `x > ANY (q)` and the other quantified comparisons compare `x`
//! with `q`'s minimum or maximum, with the same counts; a LATERAL subquery is
//! joined with the rows before it.
//!
//! Uncorrelated scalar subqueries stay; the executor computes them once.
//! Subqueries inside a subquery are rewritten first, so each level only sees
//! references to its own enclosing query.

use arrow::datatypes::DataType;

use super::unnest::{counts_rows, unnest, unnest_scalar_aggregate, Unnested};
use crate::error::{Error, Result};
use crate::plan::{
    schema_of, AggExpr, AggFunc, BinaryOp, Expr, JoinKind, LogicalPlan, ScalarFunc, Subquery,
};
use crate::types::ScalarValue;
use crate::unsupported;

/// Rewrites every plan node whose expressions have subqueries (bottom up).
pub fn decorrelate(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = super::try_map_inputs(plan, &mut decorrelate)?;
    match plan {
        LogicalPlan::Filter { input, predicate } if predicate.has_subquery() => {
            rewrite_filter(*input, predicate)
        }
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } if exprs.iter().any(needs_unnesting) => {
            let mut unnester = Unnester::new(*input);
            let exprs = exprs
                .into_iter()
                .map(|e| unnester.replace(e))
                .collect::<Result<_>>()?;
            Ok(LogicalPlan::Project {
                input: Box::new(unnester.plan),
                exprs,
                schema,
            })
        }
        LogicalPlan::LateralJoin {
            left,
            right,
            kind,
            filter,
            ..
        } => lateral(*left, *right, kind, filter),
        plan if plan.expressions().into_iter().any(needs_unnesting) => lift_subqueries(plan),
        other => Ok(other),
    }
}

/// Whether an expression has a subquery the executor cannot evaluate as it
/// is: anything but an uncorrelated scalar subquery.
fn needs_unnesting(e: &Expr) -> bool {
    match e {
        Expr::ScalarSubquery(q) => q.is_correlated(),
        Expr::Exists { .. } | Expr::InSubquery { .. } | Expr::Quantified { .. } => true,
        other => other.children().into_iter().any(needs_unnesting),
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
                let mut unnester = Unnester::new(plan);
                rest.push(unnester.replace(other)?);
                unnester.plan
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

/// `left ⋉ subquery` (semi, anti, null-aware anti), on `key = subquery.col0`
/// if given: with the subquery's correlated predicates pulled up into the
/// join's condition where they can be, else with the subquery unnested.
fn semi_join(
    left: LogicalPlan,
    subquery: &Subquery,
    key: Option<Expr>,
    kind: JoinKind,
) -> Result<LogicalPlan> {
    let sub = decorrelate(subquery.0.as_ref().clone())?;
    let nl = left.schema().fields().len();
    // The subquery's value in its own row.
    let column = |plan: &LogicalPlan| {
        let f = plan.schema().field(0).clone();
        Expr::column(0, f.name().clone(), f.data_type().clone())
    };
    let (right, correlated) = match pull_up(sub.clone()) {
        Ok(pulled) => pulled,
        Err(Error::Unsupported(_)) => return unnested_semi_join(left, sub, key, kind),
        Err(e) => return Err(e),
    };
    let mut conditions: Vec<Expr> = correlated.into_iter().map(|p| to_join_row(p, nl)).collect();
    let mut on = vec![];
    let kind = match (kind, key) {
        (JoinKind::NullAwareAnti, Some(key)) if !conditions.is_empty() => {
            // NOT IN's NULLs count within each outer row's own rows.
            let c = column(&right).remap_columns(&|i| i + nl);
            conditions.push(not_in_match(key, c));
            JoinKind::Anti
        }
        (kind, Some(key)) => {
            on.push((key, column(&right)));
            kind
        }
        (kind, None) => kind,
    };
    Ok(LogicalPlan::join(
        left,
        right,
        kind,
        on,
        Expr::conjunction(conditions),
    ))
}

/// For NOT IN over the joined row: whether a subquery row rules the outer row
/// out: it equals `key`, or either is NULL.
fn not_in_match(key: Expr, column: Expr) -> Expr {
    let eq = Expr::Binary {
        op: BinaryOp::Eq,
        left: Box::new(key.clone()),
        right: Box::new(column.clone()),
        data_type: DataType::Boolean,
    };
    or(
        or(eq, Expr::IsNull(Box::new(column))),
        Expr::IsNull(Box::new(key)),
    )
}

fn or(a: Expr, b: Expr) -> Expr {
    Expr::Binary {
        op: BinaryOp::Or,
        left: Box::new(a),
        right: Box::new(b),
        data_type: DataType::Boolean,
    }
}

/// [`semi_join`] for a subquery whose correlation cannot be pulled up: the
/// subquery unnested, joined on its domain (and `key = col0`).
fn unnested_semi_join(
    left: LogicalPlan,
    sub: LogicalPlan,
    key: Option<Expr>,
    kind: JoinKind,
) -> Result<LogicalPlan> {
    let un = unnest(sub, &left)?;
    let mut on = un.keys();
    let nl = left.schema().fields().len();
    let f = un.plan.schema().field(0).clone();
    let column = Expr::column(0, f.name().clone(), f.data_type().clone());
    let (kind, filter) = match (kind, key) {
        (JoinKind::NullAwareAnti, Some(key)) => (
            JoinKind::Anti,
            Some(not_in_match(key, column.remap_columns(&|i| i + nl))),
        ),
        (kind, Some(key)) => {
            on.push((key, column));
            (kind, None)
        }
        (kind, None) => (kind, None),
    };
    Ok(LogicalPlan::join(left, un.plan, kind, on, filter))
}

/// `left, LATERAL (right)`: the right side unnested, joined on its domain.
fn lateral(
    left: LogicalPlan,
    right: LogicalPlan,
    kind: JoinKind,
    filter: Option<Expr>,
) -> Result<LogicalPlan> {
    let right = decorrelate(right)?;
    if !right.references_beyond(0) {
        return Ok(LogicalPlan::join(left, right, kind, vec![], filter));
    }
    let (nl, nr) = (left.schema().fields().len(), right.schema().fields().len());
    let un = unnest(right, &left)?;
    let on = un.keys();
    let joined = LogicalPlan::join(left, un.plan, kind, on, filter);
    Ok(keep_first_columns(joined, nl + nr))
}

/// An aggregate or a sort whose expressions have subqueries: those
/// expressions computed by a projection below it, unnested there (a sort
/// then drops the extra columns again).
fn lift_subqueries(plan: LogicalPlan) -> Result<LogicalPlan> {
    let input = match &plan {
        LogicalPlan::Aggregate { input, .. } | LogicalPlan::Sort { input, .. } => {
            input.as_ref().clone()
        }
        other => {
            return unsupported!(
                "a subquery here (in a join condition, a window or VALUES); compute it in WHERE or the SELECT list: {}",
                other.display_tree().lines().next().unwrap_or_default()
            )
        }
    };
    let width = input.schema().fields().len();
    let mut lifted: Vec<Expr> = input.output_columns();
    let plan = plan.try_map_expressions(&mut |e| {
        if !needs_unnesting(&e) {
            return Ok(e);
        }
        let t = e.data_type();
        lifted.push(e);
        let i = lifted.len() - 1;
        Ok(Expr::column(i, format!("#subquery{}", i - width), t))
    })?;
    let names = (0..lifted.len()).map(|i| format!("#c{i}")).collect();
    let below = decorrelate(LogicalPlan::project(input, lifted, names))?;
    let plan = super::map_inputs(plan, &mut |_| below.clone());
    Ok(match plan {
        sort @ LogicalPlan::Sort { .. } => keep_first_columns(sort, width),
        other => other,
    })
}

/// Replaces the subqueries of expressions over a plan's rows by columns of
/// joins added to the plan.
struct Unnester {
    plan: LogicalPlan,
}

impl Unnester {
    fn new(plan: LogicalPlan) -> Unnester {
        Unnester { plan }
    }

    /// `e` with each subquery replaced (inner ones first) by an expression
    /// over columns joined to the plan.
    fn replace(&mut self, e: Expr) -> Result<Expr> {
        let mut error = None;
        let e = e.transform_up(&mut |node| {
            if error.is_some() || !needs_unnesting_here(&node) {
                return node;
            }
            match self.value(node.clone()) {
                Ok(v) => v,
                Err(err) => {
                    error = Some(err);
                    node
                }
            }
        });
        error.map_or(Ok(e), Err)
    }

    /// The value of one subquery expression (its inner ones replaced).
    fn value(&mut self, node: Expr) -> Result<Expr> {
        let plan = std::mem::replace(&mut self.plan, empty());
        let (plan, value) = match node {
            Expr::ScalarSubquery(q) => scalar(plan, &q)?,
            Expr::Exists { subquery, negated } => {
                let (plan, v) = exists_value(plan, &subquery)?;
                (plan, negate_if(v, negated))
            }
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let (plan, v) = in_value(plan, *expr, &subquery)?;
                (plan, negate_if(v, negated))
            }
            Expr::Quantified {
                expr,
                op,
                subquery,
                all,
            } => quantified_value(plan, *expr, op, &subquery, all)?,
            other => (plan, other),
        };
        self.plan = plan;
        Ok(value)
    }
}

/// Whether this node itself is a subquery to replace (not its children).
fn needs_unnesting_here(e: &Expr) -> bool {
    match e {
        Expr::ScalarSubquery(q) => q.is_correlated(),
        Expr::Exists { .. } | Expr::InSubquery { .. } | Expr::Quantified { .. } => true,
        _ => false,
    }
}

fn empty() -> LogicalPlan {
    LogicalPlan::Values {
        rows: vec![],
        schema: std::sync::Arc::new(arrow::datatypes::Schema::empty()),
    }
}

fn negate_if(e: Expr, negated: bool) -> Expr {
    if negated {
        Expr::Not(Box::new(e))
    } else {
        e
    }
}

fn lit_bool(v: Option<bool>) -> Expr {
    Expr::Literal(ScalarValue::Boolean(v))
}

fn compare(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    Expr::Binary {
        op,
        left: Box::new(l),
        right: Box::new(r),
        data_type: DataType::Boolean,
    }
}

fn coalesce_zero(e: Expr) -> Expr {
    Expr::Function {
        func: ScalarFunc::Coalesce,
        args: vec![e, Expr::Literal(ScalarValue::Int64(Some(0)))],
        data_type: DataType::Int64,
    }
}

/// A correlated scalar subquery left-joined to `plan`: by the fast path
/// (an aggregate correlated by equalities) or unnested.
fn scalar(plan: LogicalPlan, subquery: &Subquery) -> Result<(LogicalPlan, Expr)> {
    let sub = decorrelate(subquery.0.as_ref().clone())?;
    match join_grouped_aggregate(plan.clone(), sub.clone()) {
        Ok(done) => Ok(done),
        Err(Error::Unsupported(_)) => unnested_scalar(plan, sub),
        Err(e) => Err(e),
    }
}

/// A correlated scalar subquery unnested and left-joined to `plan`. An
/// aggregate without GROUP BY (under a projection) is joined as its groups,
/// its value computed over the joined row; unless the plan gives one row per
/// domain value otherwise (an aggregate under more projections), the rows of
/// each value are counted, and more than one is an error.
fn unnested_scalar(plan: LogicalPlan, sub: LogicalPlan) -> Result<(LogicalPlan, Expr)> {
    if let Some((value, aggregate)) = scalar_aggregate(&sub) {
        return unnested_scalar_aggregate(plan, value, aggregate);
    }
    let single = one_row(&sub);
    let un = unnest(sub, &plan)?;
    let un = if single { un } else { single_row(un) };
    let nl = plan.schema().fields().len();
    let f = un.plan.schema().field(0).clone();
    let on = un.keys();
    let joined = LogicalPlan::join(plan, un.plan, JoinKind::Left, on, None);
    Ok((
        joined,
        Expr::column(nl, f.name().clone(), f.data_type().clone()),
    ))
}

/// `plan` left-joined with the groups of `aggregate` (unnested, one per
/// domain value with rows), and the subquery's value over the joined row.
fn unnested_scalar_aggregate(
    plan: LogicalPlan,
    value: Option<Expr>,
    aggregate: LogicalPlan,
) -> Result<(LogicalPlan, Expr)> {
    let LogicalPlan::Aggregate { aggs, .. } = &aggregate else {
        unreachable!("scalar_aggregate gives an aggregate")
    };
    let counts: Vec<bool> = aggs.iter().map(counts_rows).collect();
    let types: Vec<DataType> = aggs.iter().map(|a| a.data_type.clone()).collect();
    let un = unnest_scalar_aggregate(aggregate, &plan)?;
    let nl = plan.schema().fields().len();
    let on = un.keys();
    let joined = LogicalPlan::join(plan, un.plan, JoinKind::Left, on, None);
    let aggregate_column = |a: usize| {
        let column = Expr::column(nl + a, format!("#agg{a}"), types[a].clone());
        if counts[a] {
            coalesce_zero(column)
        } else {
            column
        }
    };
    Ok((joined, value_over_join_row(value, aggregate_column)))
}

/// A scalar subquery that is an aggregate without GROUP BY, alone or under a
/// projection: the projection's value (None: the aggregate's first column)
/// and the aggregate.
fn scalar_aggregate(sub: &LogicalPlan) -> Option<(Option<Expr>, LogicalPlan)> {
    let (value, aggregate) = match sub {
        LogicalPlan::Project { input, exprs, .. } => (Some(exprs[0].clone()), input.as_ref()),
        aggregate => (None, aggregate),
    };
    match aggregate {
        LogicalPlan::Aggregate {
            group,
            grouping_sets: None,
            ..
        } if group.is_empty() => Some((value, aggregate.clone())),
        _ => None,
    }
}

/// A scalar subquery's value (None: its aggregate's first column) over the
/// row that joins the outer row with its aggregates: each aggregate by
/// `aggregate_column`, the outer references as the outer row's columns.
fn value_over_join_row(value: Option<Expr>, aggregate_column: impl Fn(usize) -> Expr) -> Expr {
    match value {
        None => aggregate_column(0),
        Some(e) => e.transform_up(&mut |x| match x {
            Expr::Column { index, .. } => aggregate_column(index),
            outer @ Expr::OuterColumn { .. } => to_join_row(outer, 0),
            other => other,
        }),
    }
}

/// Whether a subquery's plan gives exactly one row: an aggregate without
/// GROUP BY, under projections.
fn one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Project { input, .. } => one_row(input),
        LogicalPlan::Aggregate {
            group,
            grouping_sets: None,
            ..
        } => group.is_empty(),
        _ => false,
    }
}

/// An unnested scalar subquery reduced to one row per domain value: the
/// value (its maximum, the only one), or an error where there are several.
fn single_row(un: Unnested) -> Unnested {
    let k = un.outer.len();
    let columns = un.plan.output_columns();
    let value = columns[0].clone();
    let t = value.data_type();
    let group: Vec<Expr> = columns[1..=k].to_vec();
    let aggs = vec![
        AggExpr::new(AggFunc::Max, Some(value), t.clone()),
        AggExpr::new(AggFunc::CountStar, None, DataType::Int64),
    ];
    let mut out = group.clone();
    out.extend(
        aggs.iter()
            .map(|a| Expr::column(0, "", a.data_type.clone())),
    );
    let names: Vec<String> = (0..out.len()).map(|i| format!("#c{i}")).collect();
    let grouped = LogicalPlan::Aggregate {
        input: Box::new(un.plan),
        schema: schema_of(&out, &names),
        group,
        aggs,
        grouping_sets: None,
    };
    let checked = Expr::Function {
        func: ScalarFunc::SingleRow,
        args: vec![
            Expr::column(k + 1, "#count", DataType::Int64),
            Expr::column(k, "#value", t.clone()),
        ],
        data_type: t,
    };
    let mut exprs = vec![checked];
    exprs.extend((0..k).map(|j| grouped.output_columns()[j].clone()));
    let names = (0..exprs.len()).map(|i| format!("#c{i}")).collect();
    Unnested {
        plan: LogicalPlan::project(grouped, exprs, names),
        outer: un.outer,
        nullable: un.nullable,
    }
}

/// `EXISTS (q)` as a value over `plan`'s rows: uncorrelated, a scalar
/// subquery counting `q`'s first row; correlated, the count of its rows per
/// domain value, left-joined.
fn exists_value(plan: LogicalPlan, subquery: &Subquery) -> Result<(LogicalPlan, Expr)> {
    let sub = decorrelate(subquery.0.as_ref().clone())?;
    let count = AggExpr::new(AggFunc::CountStar, None, DataType::Int64);
    if !sub.has_outer_references() {
        let first = LogicalPlan::Limit {
            input: Box::new(sub),
            offset: 0,
            fetch: Some(1),
        };
        let counted = aggregate(first, vec![], vec![count]);
        let c = counted.output_columns()[0].clone();
        let positive = compare(BinaryOp::Gt, c, Expr::Literal(ScalarValue::Int64(Some(0))));
        let exists = LogicalPlan::project(counted, vec![positive], vec!["exists".into()]);
        return Ok((plan, Expr::ScalarSubquery(Subquery::new(exists))));
    }
    let (plan, columns) = join_counts(plan, sub, |_| vec![count])?;
    let positive = compare(
        BinaryOp::Gt,
        coalesce_zero(columns[0].clone()),
        Expr::Literal(ScalarValue::Int64(Some(0))),
    );
    Ok((plan, positive))
}

/// `x IN (q)` as a value: whether `x` is among `q`'s values (a left join on
/// `x = q.col` with `q`'s distinct values per domain value), else NULL when
/// `x` is NULL and `q` has rows, or `q` has a NULL, else false.
fn in_value(plan: LogicalPlan, x: Expr, subquery: &Subquery) -> Result<(LogicalPlan, Expr)> {
    let sub = decorrelate(subquery.0.as_ref().clone())?;
    let col = sub.output_columns()[0].clone();
    let t = col.data_type();
    // Found: the distinct non-NULL (value, domain) pairs, joined on both.
    let un = unnested_or_alone(sub.clone(), &plan)?;
    let k = un.outer.len();
    let columns = un.plan.output_columns();
    let mut keys = vec![columns[0].clone()];
    keys.extend(columns[columns.len() - k..].iter().cloned());
    let not_null = LogicalPlan::Filter {
        input: Box::new(un.plan.clone()),
        predicate: Expr::IsNotNull(Box::new(columns[0].clone())),
    };
    let distinct = aggregate(not_null, keys, vec![]);
    let found = Unnested {
        plan: distinct,
        outer: un.outer.clone(),
        nullable: un.nullable.clone(),
    };
    let nl = plan.schema().fields().len();
    let mut on = found.keys();
    on.push((x.clone(), Expr::column(0, "#value", t.clone())));
    let joined = LogicalPlan::join(plan, found.plan, JoinKind::Left, on, None);
    let is_found = Expr::IsNotNull(Box::new(Expr::column(nl, "#value", t.clone())));
    // Rows and non-NULL values per domain value.
    let (joined, counts) = join_counts(joined, sub, |col| {
        vec![
            AggExpr::new(AggFunc::CountStar, None, DataType::Int64),
            AggExpr::new(AggFunc::Count, Some(col), DataType::Int64),
        ]
    })?;
    let (n, nn) = (
        coalesce_zero(counts[0].clone()),
        coalesce_zero(counts[1].clone()),
    );
    let value = three_valued(is_found, n, nn, x, false);
    Ok((joined, value))
}

/// `x op ANY (q)` / `x op ALL (q)`: `x` compared with `q`'s least or greatest
/// value (per domain value), with `q`'s counts of rows and non-NULL values
/// for the three-valued answer.
fn quantified_value(
    plan: LogicalPlan,
    x: Expr,
    op: BinaryOp,
    subquery: &Subquery,
    all: bool,
) -> Result<(LogicalPlan, Expr)> {
    let sub = decorrelate(subquery.0.as_ref().clone())?;
    let t = sub.output_columns()[0].data_type();
    let (plan, stats) = join_counts(plan, sub, |col| {
        vec![
            AggExpr::new(AggFunc::CountStar, None, DataType::Int64),
            AggExpr::new(AggFunc::Count, Some(col.clone()), DataType::Int64),
            AggExpr::new(AggFunc::Min, Some(col.clone()), t.clone()),
            AggExpr::new(AggFunc::Max, Some(col), t.clone()),
        ]
    })?;
    let (n, nn) = (
        coalesce_zero(stats[0].clone()),
        coalesce_zero(stats[1].clone()),
    );
    let (min, max) = (stats[2].clone(), stats[3].clone());
    let cmp = |op, bound: &Expr| compare(op, x.clone(), bound.clone());
    let differs = || or(cmp(BinaryOp::NotEq, &min), cmp(BinaryOp::NotEq, &max));
    // ANY: whether some value satisfies `x op value`; ALL: whether some value
    // does not (the answer decided either way by a bound).
    let decided = match (all, op) {
        (false, BinaryOp::Gt) => cmp(BinaryOp::Gt, &min),
        (false, BinaryOp::GtEq) => cmp(BinaryOp::GtEq, &min),
        (false, BinaryOp::Lt) => cmp(BinaryOp::Lt, &max),
        (false, BinaryOp::LtEq) => cmp(BinaryOp::LtEq, &max),
        (false, BinaryOp::NotEq) | (true, BinaryOp::Eq) => differs(),
        (true, BinaryOp::Gt) => cmp(BinaryOp::LtEq, &max),
        (true, BinaryOp::GtEq) => cmp(BinaryOp::Lt, &max),
        (true, BinaryOp::Lt) => cmp(BinaryOp::GtEq, &min),
        (true, BinaryOp::LtEq) => cmp(BinaryOp::Gt, &min),
        (_, other) => return unsupported!("{} ANY / ALL", other.symbol()),
    };
    Ok((plan, three_valued(decided, n, nn, x, all)))
}

/// The three-valued answer of `x IN (q)`, `x op ANY (q)` (or, with `all`,
/// `x op ALL (q)`) from `decided` (a value of `q` settles the answer: true for
/// ANY, false for ALL), the number of `q`'s rows `n` and of its non-NULL values
/// `nn`: over no rows ANY is false and ALL true; undecided, a NULL `x` or a
/// NULL value leaves it NULL.
fn three_valued(decided: Expr, n: Expr, nn: Expr, x: Expr, all: bool) -> Expr {
    let zero = Expr::Literal(ScalarValue::Int64(Some(0)));
    let empty = compare(BinaryOp::Eq, n.clone(), zero);
    let unknown = or(compare(BinaryOp::Lt, nn, n), Expr::IsNull(Box::new(x)));
    let branches = if all {
        vec![
            (empty, lit_bool(Some(true))),
            (decided, lit_bool(Some(false))),
            (unknown, lit_bool(None)),
        ]
    } else {
        vec![
            (decided, lit_bool(Some(true))),
            (empty, lit_bool(Some(false))),
            (unknown, lit_bool(None)),
        ]
    };
    Expr::Case {
        branches,
        otherwise: Some(Box::new(lit_bool(Some(all)))),
        data_type: DataType::Boolean,
    }
}

/// `sub` unnested over `plan`'s rows, or as it is when it is not correlated
/// (no domain columns).
fn unnested_or_alone(sub: LogicalPlan, plan: &LogicalPlan) -> Result<Unnested> {
    if sub.has_outer_references() {
        unnest(sub, plan)
    } else {
        Ok(Unnested {
            plan: sub,
            outer: vec![],
            nullable: vec![],
        })
    }
}

/// `plan` left-joined with the aggregates `aggs(q.col0)` of `sub`'s rows per
/// domain value (or over all of them, uncorrelated); the aggregates' columns
/// in the joined row (NULL where a domain value has no rows).
fn join_counts(
    plan: LogicalPlan,
    sub: LogicalPlan,
    aggs: impl FnOnce(Expr) -> Vec<AggExpr>,
) -> Result<(LogicalPlan, Vec<Expr>)> {
    let un = unnested_or_alone(sub, &plan)?;
    let k = un.outer.len();
    let columns = un.plan.output_columns();
    let group: Vec<Expr> = columns[columns.len() - k..].to_vec();
    let aggs = aggs(columns[0].clone());
    let n_aggs = aggs.len();
    let grouped = aggregate(un.plan, group, aggs);
    // [domain, aggregates] as [aggregates, domain], for the join keys.
    let out = grouped.output_columns();
    let mut exprs: Vec<Expr> = out[k..].to_vec();
    exprs.extend(out[..k].iter().cloned());
    let names = (0..exprs.len()).map(|i| format!("#c{i}")).collect();
    let counted = Unnested {
        plan: LogicalPlan::project(grouped, exprs, names),
        outer: un.outer,
        nullable: un.nullable,
    };
    let nl = plan.schema().fields().len();
    let on = counted.keys();
    let schema = counted.plan.schema();
    let joined = LogicalPlan::join(plan, counted.plan, JoinKind::Left, on, None);
    let columns = (0..n_aggs)
        .map(|a| {
            let f = schema.field(a);
            Expr::column(nl + a, f.name().clone(), f.data_type().clone())
        })
        .collect();
    Ok((joined, columns))
}

fn aggregate(input: LogicalPlan, group: Vec<Expr>, aggs: Vec<AggExpr>) -> LogicalPlan {
    let mut out = group.clone();
    out.extend(
        aggs.iter()
            .map(|a| Expr::column(0, "", a.data_type.clone())),
    );
    let names: Vec<String> = (0..out.len()).map(|i| format!("#c{i}")).collect();
    LogicalPlan::Aggregate {
        input: Box::new(input),
        schema: schema_of(&out, &names),
        group,
        aggs,
        grouping_sets: None,
    }
}

/// The fast path of a correlated scalar subquery: an aggregate without GROUP
/// BY (under a projection) whose correlated predicates are equalities between
/// an inner and an outer expression. It is grouped by the inner sides, the
/// outer query left-joined with it on the outer sides, and its value computed
/// over the joined row (where COUNT of no rows is 0, not NULL).
fn join_grouped_aggregate(plan: LogicalPlan, sub: LogicalPlan) -> Result<(LogicalPlan, Expr)> {
    let shape_error = || {
        unsupported!(
            "this correlated scalar subquery: it must be an aggregate without GROUP BY whose \
             WHERE links it to the outer query by equalities"
        )
    };
    let (value, root) = match sub {
        LogicalPlan::Project {
            input, mut exprs, ..
        } if matches!(*input, LogicalPlan::Aggregate { .. }) => (Some(exprs.remove(0)), *input),
        agg @ LogicalPlan::Aggregate { .. } => (None, agg),
        _ => return shape_error(),
    };
    let LogicalPlan::Aggregate {
        input,
        group,
        aggs,
        grouping_sets,
        ..
    } = root
    else {
        return shape_error();
    };
    let reads_outer = |a: &AggExpr| a.expressions().into_iter().any(Expr::has_outer_references);
    if !group.is_empty() || grouping_sets.is_some() || aggs.iter().any(reads_outer) {
        return shape_error();
    }
    let (input, pulled) = pull_up(*input)?;
    if pulled.is_empty() {
        return shape_error();
    }
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
    let counts: Vec<bool> = aggs.iter().map(counts_rows).collect();
    let agg_types: Vec<DataType> = aggs.iter().map(|a| a.data_type.clone()).collect();
    let grouped = aggregate(input, inner_keys, aggs);
    let nl = plan.schema().fields().len();
    let on = outer_keys
        .into_iter()
        .enumerate()
        .map(|(i, outer)| (to_join_row(outer, nl), grouped.output_columns()[i].clone()))
        .collect();
    let joined = LogicalPlan::join(plan, grouped, JoinKind::Left, on, None);
    // An aggregate of the subquery as a column of the joined row.
    let aggregate_column = |a: usize| {
        let column = Expr::column(nl + n_groups + a, format!("#agg{a}"), agg_types[a].clone());
        if counts[a] {
            coalesce_zero(column)
        } else {
            column
        }
    };
    Ok((joined, value_over_join_row(value, aggregate_column)))
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
            depth: 1,
        } => Expr::column(index, name, data_type),
        // A reference further out is one level less far from the outer query.
        outer @ Expr::OuterColumn { .. } => outer.one_level_nearer(),
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

fn columns(e: &Expr) -> Vec<usize> {
    let mut out = vec![];
    e.collect_columns(&mut out);
    out
}
