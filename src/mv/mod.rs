//! Materialized views: a query whose result is kept in column files.
//!
//! What is stored depends on the query's shape:
//! - An aggregate over inner joins of tables (`SELECT keys, SUM/COUNT/MIN/MAX/AVG
//!   ... GROUP BY keys`): the group keys and one *state* column per aggregate (AVG
//!   is kept as a SUM and a COUNT), plus a hidden COUNT(*). States of two parts of
//!   the input merge by aggregating again (sum of sums, sum of counts, min of mins,
//!   max of maxes), which is what incremental refresh and query rewrite rely on.
//! - Rows of selections, projections and inner joins: the rows themselves.
//! - Anything else: the rows, always recomputed in full.
//!
//! Refresh: when the base tables only had rows appended since the last refresh
//! (same table id, more segments) and exactly one of them changed, only the new
//! segments are read: their states are merged into the stored ones (aggregates) or
//! their rows appended (rows). Otherwise the query runs again in full.

pub mod cube;
pub mod rewrite;
pub mod rollup;

use std::sync::Arc;

use arrow::datatypes::DataType;

use crate::catalog::{BaseSnapshot, Catalog, TableMeta};
use crate::error::Result;
use crate::plan::{schema_of, AggExpr, AggFunc, Expr, JoinKind, LogicalPlan, ScalarFunc};
use crate::storage::TableData;
use crate::types::ScalarValue;

/// How a materialized view's stored rows are kept up to date.
#[derive(Debug, Clone, PartialEq)]
pub enum MvKind {
    /// `keys` group-key columns, then one state column per entry of `merge`, each
    /// merged with that aggregate function.
    Aggregate { keys: usize, merge: Vec<AggFunc> },
    /// Plain rows of a select-project-join query: new rows are appended.
    Rows,
    /// Recomputed in full on every refresh.
    Opaque,
}

/// A materialized view's query, analysed.
#[derive(Debug, Clone)]
pub struct MvDefinition {
    /// Computes the stored rows from the base tables.
    pub state_plan: LogicalPlan,
    /// The view's columns, as expressions over the stored rows.
    pub visible: Vec<Expr>,
    pub names: Vec<String>,
    pub kind: MvKind,
    /// For aggregate views: the aggregates the state columns hold, in order
    /// (AVG(x) appears as SUM(x) and COUNT(x); the last is COUNT(*)).
    pub states: Vec<AggExpr>,
}

/// Analyses the bound plan of a materialized view's query.
pub fn define(plan: LogicalPlan) -> MvDefinition {
    let schema = plan.schema();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    if let LogicalPlan::Project { input, exprs, .. } = &plan {
        if let LogicalPlan::Aggregate {
            input: agg_input,
            group,
            aggs,
            grouping_sets: None,
            ..
        } = input.as_ref()
        {
            if is_spj(agg_input) && aggs.iter().all(|a| !a.distinct && a.merges_as_state()) {
                return define_aggregate(agg_input, group, aggs, exprs, names);
            }
        }
    }
    let visible = plan.output_columns();
    let kind = if is_spj(&plan) {
        MvKind::Rows
    } else {
        MvKind::Opaque
    };
    MvDefinition {
        state_plan: plan,
        visible,
        names,
        kind,
        states: vec![],
    }
}

fn define_aggregate(
    input: &LogicalPlan,
    group: &[Expr],
    aggs: &[AggExpr],
    top: &[Expr],
    names: Vec<String>,
) -> MvDefinition {
    let keys = group.len();
    let mut states: Vec<AggExpr> = vec![];
    let mut merge = vec![];
    // Where each of the view's aggregates is found among the states.
    let mut value_of: Vec<Expr> = vec![];
    let push = |states: &mut Vec<AggExpr>, merge: &mut Vec<AggFunc>, a: AggExpr| {
        let f = match a.func {
            AggFunc::Min => AggFunc::Min,
            AggFunc::Max => AggFunc::Max,
            _ => AggFunc::Sum,
        };
        let i = match states.iter().position(|s| *s == a) {
            Some(i) => i,
            None => {
                states.push(a);
                merge.push(f);
                states.len() - 1
            }
        };
        let t = states[i].data_type.clone();
        Expr::column(keys + i, format!("state{i}"), t)
    };
    for a in aggs {
        let value = match a.func {
            AggFunc::Avg => {
                let arg = a.arg.clone().expect("AVG has an argument");
                let sum = push(&mut states, &mut merge, sum_state(arg.clone()));
                let count = push(&mut states, &mut merge, count_state(arg));
                Expr::Function {
                    func: ScalarFunc::AvgOfState,
                    args: vec![sum, count],
                    data_type: DataType::Float64,
                }
            }
            _ => push(&mut states, &mut merge, a.clone()),
        };
        value_of.push(value);
    }
    push(&mut states, &mut merge, count_star());
    let mut state_exprs: Vec<Expr> = group.to_vec();
    state_exprs.extend(
        states
            .iter()
            .map(|s| Expr::column(0, "", s.data_type.clone())),
    );
    let mut state_names: Vec<String> = (0..keys).map(|i| format!("key{i}")).collect();
    state_names.extend((0..states.len()).map(|i| format!("state{i}")));
    let state_plan = LogicalPlan::Aggregate {
        input: Box::new(input.clone()),
        group: group.to_vec(),
        aggs: states.clone(),
        schema: schema_of(&state_exprs, &state_names),
        grouping_sets: None,
    };
    // The view's columns read the Aggregate's output (keys, then aggregates):
    // point the aggregates at their states.
    let visible = top
        .iter()
        .map(|e| {
            e.clone().transform_up(&mut |x| match x {
                Expr::Column { index, .. } if index >= keys => value_of[index - keys].clone(),
                other => other,
            })
        })
        .collect();
    MvDefinition {
        state_plan,
        visible,
        names,
        kind: MvKind::Aggregate { keys, merge },
        states,
    }
}

/// SUM(x) with the argument widened as SUM binds it.
pub fn sum_state(arg: Expr) -> AggExpr {
    let (arg, data_type) = match arg.data_type() {
        DataType::Int32 | DataType::Int64 => (cast(arg, DataType::Int64), DataType::Int64),
        DataType::Decimal128(_, s) => (arg, DataType::Decimal128(38, s)),
        _ => (cast(arg, DataType::Float64), DataType::Float64),
    };
    AggExpr::new(AggFunc::Sum, Some(arg), data_type)
}

pub fn count_state(arg: Expr) -> AggExpr {
    AggExpr::new(AggFunc::Count, Some(arg), DataType::Int64)
}

pub fn count_star() -> AggExpr {
    AggExpr::new(AggFunc::CountStar, None, DataType::Int64)
}

fn cast(e: Expr, to: DataType) -> Expr {
    if e.data_type() == to {
        e
    } else {
        Expr::Cast {
            expr: Box::new(e),
            to,
        }
    }
}

/// Whether a plan only selects, projects and inner-joins table scans.
pub fn is_spj(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Scan { .. } => true,
        LogicalPlan::Filter { input, predicate } => !predicate.has_subquery() && is_spj(input),
        LogicalPlan::Project { input, exprs, .. } => {
            !exprs.iter().any(Expr::has_subquery) && is_spj(input)
        }
        LogicalPlan::Join {
            left,
            right,
            kind: JoinKind::Inner,
            ..
        } => is_spj(left) && is_spj(right),
        _ => false,
    }
}

/// The tables a plan scans, once each, in order of first appearance.
pub fn base_tables(plan: &LogicalPlan) -> Vec<Arc<TableMeta>> {
    let mut out: Vec<Arc<TableMeta>> = vec![];
    collect_scans(plan, &mut |t| {
        if !out.iter().any(|o| o.name.eq_ignore_ascii_case(&t.name)) {
            out.push(t.clone());
        }
    });
    out
}

fn collect_scans(plan: &LogicalPlan, f: &mut impl FnMut(&Arc<TableMeta>)) {
    if let LogicalPlan::Scan { table, .. } = plan {
        f(table);
    }
    for e in plan.expressions() {
        visit_subqueries(e, &mut |q| collect_scans(q, f));
    }
    for input in plan.inputs() {
        collect_scans(input, f);
    }
}

fn visit_subqueries(e: &Expr, f: &mut impl FnMut(&LogicalPlan)) {
    match e {
        Expr::ScalarSubquery(q) | Expr::Exists { subquery: q, .. } => f(&q.0),
        Expr::InSubquery { subquery, expr, .. } => {
            f(&subquery.0);
            visit_subqueries(expr, f);
        }
        other => other
            .children()
            .into_iter()
            .for_each(|c| visit_subqueries(c, f)),
    }
}

/// How often each table is scanned by a plan.
fn scan_count(plan: &LogicalPlan, name: &str) -> usize {
    let mut n = 0;
    collect_scans(plan, &mut |t| {
        if t.name.eq_ignore_ascii_case(name) {
            n += 1;
        }
    });
    n
}

/// The base tables of a plan as they are now in `catalog`.
pub fn snapshot(plan: &LogicalPlan, catalog: &Catalog) -> Vec<BaseSnapshot> {
    base_tables(plan)
        .iter()
        .filter_map(|t| catalog.table(&t.name))
        .map(|t| BaseSnapshot {
            table: t.name.clone(),
            id: t.id,
            segments: t.data.segments.len(),
            rows: t.row_count(),
        })
        .collect()
}

/// What an incremental refresh computes: when the base tables only had rows
/// appended, the new part of the view's result as a union of delta terms (for
/// changed tables T1..Tn: the term for Tj reads Tj's new segments, the tables
/// before it whole and the changed tables after it as they were). `None` when a
/// full refresh is needed.
pub fn delta_plan(
    def: &MvDefinition,
    bases: &[BaseSnapshot],
    catalog: &Catalog,
) -> Option<LogicalPlan> {
    if def.kind == MvKind::Opaque {
        return None;
    }
    // (new segments only, as before) of each changed table
    let mut changed: Vec<(Arc<TableMeta>, Arc<TableMeta>)> = vec![];
    for b in bases {
        let now = catalog.table(&b.table)?;
        if now.id != b.id || now.data.segments.len() < b.segments {
            return None;
        }
        if now.data.segments.len() == b.segments {
            continue;
        }
        if scan_count(&def.state_plan, &now.name) != 1 {
            return None;
        }
        let part = |segments: &[crate::storage::SegmentMeta]| {
            let mut t = now.as_ref().clone();
            t.data = TableData {
                files: now.data.files.clone(),
                segments: segments.to_vec(),
            };
            Arc::new(t)
        };
        changed.push((
            part(&now.data.segments[b.segments..]),
            part(&now.data.segments[..b.segments]),
        ));
    }
    if changed.is_empty() {
        return None;
    }
    let terms: Vec<LogicalPlan> = (0..changed.len())
        .map(|j| {
            let mut plan = with_table(def.state_plan.clone(), &changed[j].0);
            for (_, old) in &changed[j + 1..] {
                plan = with_table(plan, old);
            }
            plan
        })
        .collect();
    let schema = terms[0].schema();
    Some(if terms.len() == 1 {
        terms.into_iter().next().expect("one term")
    } else {
        LogicalPlan::Union {
            inputs: terms,
            schema,
        }
    })
}

/// The states of each input row of the aggregates of a delta plan (an aggregate,
/// or a union of them), not aggregated: the group keys, then per state SUM(x) and
/// MIN/MAX(x) as x, COUNT(x) as 1 (0 for NULL), COUNT(*) as 1. Merging these rows
/// with the states' functions gives the aggregates' states, so a caller that
/// merges anyway (the cube refresh) need not aggregate twice.
pub fn row_states(plan: LogicalPlan) -> LogicalPlan {
    match plan {
        LogicalPlan::Aggregate {
            input,
            mut group,
            aggs,
            schema,
            grouping_sets: None,
        } => {
            group.extend(aggs.iter().map(row_state));
            LogicalPlan::Project {
                input,
                exprs: group,
                schema,
            }
        }
        LogicalPlan::Union { inputs, schema } => LogicalPlan::Union {
            inputs: inputs.into_iter().map(row_states).collect(),
            schema,
        },
        other => other,
    }
}

/// One row's contribution to the state of `agg` (see [`row_states`]).
fn row_state(agg: &AggExpr) -> Expr {
    let one = || Expr::Literal(ScalarValue::Int64(Some(1)));
    match (&agg.func, &agg.arg) {
        (AggFunc::Count, Some(arg)) => Expr::Case {
            branches: vec![(
                Expr::IsNull(Box::new(arg.clone())),
                Expr::Literal(ScalarValue::Int64(Some(0))),
            )],
            otherwise: Some(Box::new(one())),
            data_type: DataType::Int64,
        },
        (_, Some(arg)) => cast(arg.clone(), agg.data_type.clone()),
        (_, None) => one(),
    }
}

/// `plan` with the scans of `table` reading `table` as given (its new segments).
pub fn with_table(plan: LogicalPlan, table: &Arc<TableMeta>) -> LogicalPlan {
    let plan = crate::optimizer::map_inputs(plan, &mut |p| with_table(p, table));
    match plan {
        LogicalPlan::Scan {
            table: t,
            projection,
            filters,
            schema,
        } if t.name.eq_ignore_ascii_case(&table.name) => LogicalPlan::Scan {
            table: table.clone(),
            projection,
            filters,
            schema,
        },
        other => other,
    }
}

/// The plan that merges stored aggregate states (`stored`) with new ones (`delta`).
pub fn merge_plan(
    stored: LogicalPlan,
    delta: LogicalPlan,
    keys: usize,
    merge: &[AggFunc],
) -> Result<LogicalPlan> {
    let schema = stored.schema();
    let union = LogicalPlan::Union {
        inputs: vec![stored, delta],
        schema: schema.clone(),
    };
    let columns = union.output_columns();
    let group: Vec<Expr> = columns[..keys].to_vec();
    let aggs: Vec<AggExpr> = merge
        .iter()
        .zip(&columns[keys..])
        .map(|(f, c)| AggExpr::new(*f, Some(c.clone()), c.data_type()))
        .collect();
    Ok(LogicalPlan::Aggregate {
        input: Box::new(union),
        group,
        aggs,
        schema,
        grouping_sets: None,
    })
}

/// A scan of a materialized view's stored rows.
pub fn stored_scan(data: &TableMeta) -> LogicalPlan {
    let schema = data.schema();
    LogicalPlan::Scan {
        projection: (0..schema.fields().len()).collect(),
        table: Arc::new(data.clone()),
        filters: vec![],
        schema,
    }
}
