//! Cardinality estimates for join ordering, from the statistics storage keeps:
//! row counts, zone maps and dictionary sizes.
//!
//! - A column's number of distinct values (NDV) is traced to the table column it
//!   comes from: for integers and dates at most `max - min + 1` over all segments,
//!   for dictionary-encoded strings at most the largest dictionary, and never more
//!   than the table's rows (nor the rows of the relation it is in).
//! - A scan keeps the fraction of segments its zone maps do not exclude, times the
//!   selectivity of each filter: `col = const` is 1/NDV, a range a third, LIKE a
//!   tenth, anything else a half.
//! - An equi-join keeps |L|·|R| / max(NDV(left key), NDV(right key)), using the
//!   most selective key when there are several.
//! - An integer or date column's range (for `empty_joins`) is that of the zone
//!   maps of the segments its scan reads.

use crate::catalog::TableMeta;
use crate::exec::sources::{matching_segments, segments_read};
use crate::plan::{BinaryOp, Expr, JoinKind, LogicalPlan};
use crate::storage::Encoding;
use crate::types::ScalarValue;

/// Estimated number of rows `plan` returns.
pub fn estimate_rows(plan: &LogicalPlan) -> f64 {
    let rows = match plan {
        LogicalPlan::Scan {
            table,
            projection,
            filters,
            ..
        } => {
            let total = table.data.segments.len().max(1) as f64;
            let kept = matching_segments(table, projection, filters) as f64 / total;
            let selectivity: f64 = filters
                .iter()
                .map(|f| filter_selectivity(plan, f))
                .product();
            table.row_count() as f64 * kept * selectivity
        }
        LogicalPlan::Values { rows, .. } => rows.len() as f64,
        // A guess: some ten runs of about the anchor's size.
        LogicalPlan::RecursiveCte { anchor, .. } => estimate_rows(anchor) * 10.0,
        LogicalPlan::WorkTable { .. } => 1000.0,
        LogicalPlan::External { .. } => 100_000.0,
        LogicalPlan::Filter { input, predicate } => {
            let selectivity: f64 = predicate
                .clone()
                .split_conjunction()
                .iter()
                .map(|p| filter_selectivity(input, p))
                .product();
            estimate_rows(input) * selectivity
        }
        LogicalPlan::Project { input, .. }
        | LogicalPlan::Sort { input, .. }
        | LogicalPlan::Window { input, .. }
        | LogicalPlan::LateralJoin { left: input, .. } => estimate_rows(input),
        LogicalPlan::Limit { input, fetch, .. } => {
            let n = estimate_rows(input);
            fetch.map_or(n, |f| n.min(f as f64))
        }
        LogicalPlan::Aggregate {
            input,
            group,
            grouping_sets,
            ..
        } => {
            let n = estimate_rows(input);
            // Each grouping set has its own groups (a plain GROUP BY is one set).
            let all: Vec<usize> = (0..group.len()).collect();
            let sets = grouping_sets
                .as_deref()
                .unwrap_or(std::slice::from_ref(&all));
            sets.iter()
                .map(|set| {
                    if set.is_empty() {
                        1.0
                    } else {
                        set.iter()
                            .map(|&g| distinct_values(input, &group[g], n))
                            .product::<f64>()
                            .min(n)
                    }
                })
                .sum()
        }
        LogicalPlan::Join {
            left,
            right,
            kind,
            on,
            ..
        } => {
            let (l, r) = (estimate_rows(left), estimate_rows(right));
            let inner = join_rows(left, right, l, r, on);
            match kind {
                JoinKind::Inner => inner,
                JoinKind::Left => inner.max(l),
                JoinKind::Right => inner.max(r),
                JoinKind::Full => inner.max(l).max(r),
                JoinKind::Semi => l.min(inner),
                JoinKind::Anti | JoinKind::NullAwareAnti => l * 0.5,
                JoinKind::RightSemi => r.min(inner),
                JoinKind::RightAnti => r * 0.5,
            }
        }
        LogicalPlan::Union { inputs, .. } => inputs.iter().map(estimate_rows).sum(),
    };
    rows.max(1.0)
}

/// Rows of an equi-join of inputs with `l` and `r` rows.
pub fn join_rows(
    left: &LogicalPlan,
    right: &LogicalPlan,
    l: f64,
    r: f64,
    on: &[(Expr, Expr)],
) -> f64 {
    let selectivity = on
        .iter()
        .map(|(a, b)| {
            let ndv = distinct_values(left, a, l)
                .min(l)
                .max(distinct_values(right, b, r).min(r));
            1.0 / ndv.max(1.0)
        })
        .fold(1.0, f64::min);
    (l * r * selectivity).max(1.0)
}

/// The fraction of `input`'s rows that satisfy `predicate`.
fn filter_selectivity(input: &LogicalPlan, predicate: &Expr) -> f64 {
    match predicate {
        Expr::Binary {
            op, left, right, ..
        } => match op {
            BinaryOp::Eq => match (left.as_ref(), right.as_ref()) {
                (e, Expr::Literal(_)) | (Expr::Literal(_), e) => {
                    1.0 / column_statistics_ndv(input, e).unwrap_or(10.0).max(1.0)
                }
                _ => 0.1,
            },
            BinaryOp::NotEq => 0.9,
            BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => 1.0 / 3.0,
            BinaryOp::And => filter_selectivity(input, left) * filter_selectivity(input, right),
            BinaryOp::Or => {
                (filter_selectivity(input, left) + filter_selectivity(input, right)).min(1.0)
            }
            _ => 0.5,
        },
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let ndv = column_statistics_ndv(input, expr).unwrap_or(10.0);
            let s = (list.len() as f64 / ndv.max(1.0)).min(1.0);
            if *negated {
                1.0 - s
            } else {
                s
            }
        }
        Expr::Like { negated, .. } => {
            if *negated {
                0.9
            } else {
                0.1
            }
        }
        Expr::IsNull(_) => 0.05,
        Expr::Not(inner) => 1.0 - filter_selectivity(input, inner),
        _ => 0.5,
    }
}

/// Estimated number of distinct values of `expr` over the rows of `plan`: the
/// bound its table column's statistics give, or `plan`'s estimated rows.
///
/// `rows` is `plan`'s estimate, the bound where no statistics tell (passed in, not
/// estimated again: done at every join and aggregate of a deep plan, that would
/// take time exponential in its depth).
pub fn distinct_values(plan: &LogicalPlan, expr: &Expr, rows: f64) -> f64 {
    column_statistics_ndv(plan, expr).unwrap_or(rows)
}

/// The distinct-value bound of a column from its table's statistics, if `expr`
/// is a plain column that comes from a table.
fn column_statistics_ndv(plan: &LogicalPlan, expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Column { index, .. } => {
            let (table, column) = column_origin(plan, *index)?;
            Some(column_ndv(&table, column))
        }
        Expr::Literal(_) => Some(1.0),
        _ => None,
    }
}

/// The table column that output column `index` of `plan` reads, if it is one.
fn column_origin(plan: &LogicalPlan, index: usize) -> Option<(std::sync::Arc<TableMeta>, usize)> {
    match origin_scan(plan, index)? {
        (
            LogicalPlan::Scan {
                table, projection, ..
            },
            i,
        ) => Some((table.clone(), *projection.get(i)?)),
        _ => None,
    }
}

/// The scan whose output column (the number returned) output column `index`
/// of `plan` is, if it is one.
fn origin_scan(plan: &LogicalPlan, index: usize) -> Option<(&LogicalPlan, usize)> {
    match plan {
        LogicalPlan::Scan { .. } => Some((plan, index)),
        LogicalPlan::Filter { input, .. }
        | LogicalPlan::Sort { input, .. }
        | LogicalPlan::Limit { input, .. } => origin_scan(input, index),
        LogicalPlan::Project { input, exprs, .. } => match exprs.get(index)? {
            Expr::Column { index, .. } => origin_scan(input, *index),
            _ => None,
        },
        LogicalPlan::Aggregate { input, group, .. } => match group.get(index)? {
            Expr::Column { index, .. } => origin_scan(input, *index),
            _ => None,
        },
        LogicalPlan::Join { left, right, .. } => {
            let nl = left.schema().fields().len();
            if index < nl {
                origin_scan(left, index)
            } else {
                origin_scan(right, index - nl)
            }
        }
        _ => None,
    }
}

/// The range of an integer or date column of `plan`'s output, from the zone maps
/// of the table column it comes from over the segments its scan reads (filters
/// and joins only remove values); None when unknown.
pub fn column_range(plan: &LogicalPlan, index: usize) -> Option<(i64, i64)> {
    let (scan, i) = origin_scan(plan, index)?;
    let LogicalPlan::Scan {
        table,
        projection,
        filters,
        ..
    } = scan
    else {
        return None;
    };
    let column = *projection.get(i)?;
    let read = segments_read(table, projection, filters);
    segments_range(read.iter().map(|&s| &table.data.segments[s]), column)
}

/// The smallest and largest value of an integer or date table column, by its
/// zone maps (None for other types, NULL-only chunks, and empty tables).
fn table_column_range(table: &TableMeta, column: usize) -> Option<(i64, i64)> {
    segments_range(table.data.segments.iter(), column)
}

/// The smallest and largest value of an integer or date column over some
/// segments, by their zone maps (None for other types, NULL-only chunks, and
/// no segments).
fn segments_range<'a>(
    segments: impl Iterator<Item = &'a crate::storage::SegmentMeta>,
    column: usize,
) -> Option<(i64, i64)> {
    let mut range: Option<(i64, i64)> = None;
    for s in segments {
        let chunk = s.columns.get(column)?;
        let (a, b) = match (&chunk.zone.min, &chunk.zone.max) {
            (ScalarValue::Int32(Some(a)), ScalarValue::Int32(Some(b))) => (*a as i64, *b as i64),
            (ScalarValue::Int64(Some(a)), ScalarValue::Int64(Some(b))) => (*a, *b),
            (ScalarValue::Date32(Some(a)), ScalarValue::Date32(Some(b))) => (*a as i64, *b as i64),
            _ => return None,
        };
        range = Some(range.map_or((a, b), |(lo, hi)| (lo.min(a), hi.max(b))));
    }
    range
}

/// Distinct values of a table column, bounded by its statistics.
fn column_ndv(table: &TableMeta, column: usize) -> f64 {
    let rows = table.row_count() as f64;
    let segments = &table.data.segments;
    let dictionary = segments
        .iter()
        .try_fold(0u32, |d, s| match &s.columns[column].encoding {
            Encoding::Dictionary { entries } => Some(d.max(*entries)),
            _ => None,
        });
    let mut ndv = rows;
    if let Some((lo, hi)) = table_column_range(table, column) {
        ndv = ndv.min((hi - lo) as f64 + 1.0);
    }
    if let Some(d) = dictionary.filter(|_| !segments.is_empty()) {
        ndv = ndv.min(d as f64);
    }
    ndv.max(1.0)
}
