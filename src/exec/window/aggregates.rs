//! Aggregates over window frames, without aggregating each frame anew:
//!
//! - frames that are whole partitions: the partitions are groups of one
//!   grouped aggregation, whose result each row takes;
//! - `SUM`, `COUNT` and `AVG`: prefix sums over the bucket's order, a frame's
//!   total being the difference of two (exact in 128 bits for integers and
//!   DECIMALs; for DOUBLEs only frames that start at the partition's first row,
//!   where no difference is taken, so no rounding error comes in);
//! - `MIN` and `MAX`: a monotonic deque, since both ends of the frames only
//!   move forward (each row enters and leaves the deque once);
//! - every other aggregate (and DOUBLE sums over sliding frames): a segment
//!   tree of the aggregate's own states: level 0 holds each row's state, each
//!   level above merges pairs of the one below, and a frame's state merges the
//!   O(log n) nodes that tile it (`Accumulator::merge` with lists of source
//!   and target groups, a level at a time, for a chunk of rows at a time).
//!
//! All paths give one value per position of the bucket.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::*;
use arrow::compute::{concat, take};
use arrow::datatypes::*;

use super::frames::Frames;
use super::Bucket;
use crate::error::{Error, Result};
use crate::exec::aggregate::new_accumulator;
use crate::exec::expr::cast;
use crate::plan::{AggExpr, AggFunc, Expr, SortKey};
use crate::types::{exact_ratio, ScalarValue};

/// Rows of output computed together from the segment tree.
const CHUNK_ROWS: usize = 1 << 14;

/// The aggregate over each position's frame, from its inputs (`AggInput`) in
/// the bucket's order.
pub fn compute(
    agg: &AggExpr,
    values: &[ArrayRef],
    bucket: &Bucket,
    frames: &Frames,
) -> Result<ArrayRef> {
    let result = if frames.whole_partition {
        whole_partitions(agg, values, bucket)?
    } else if let Some(result) = streaming(agg, values, frames)? {
        result
    } else {
        segment_tree(agg, values.to_vec(), frames)?
    };
    cast(&result, &agg.data_type)
}

/// Each partition aggregated as one group, its value given to each of its rows.
fn whole_partitions(agg: &AggExpr, values: &[ArrayRef], bucket: &Bucket) -> Result<ArrayRef> {
    let n = bucket.rows.len();
    let mut groups = vec![0u32; n];
    for (g, &(lo, hi)) in bucket.partitions.iter().enumerate() {
        groups[lo..hi].fill(g as u32);
    }
    let mut acc = new_accumulator(agg)?;
    let count = bucket.partitions.len();
    acc.update(values, &groups, count)?;
    let per_partition = acc.finish(count)?;
    Ok(take(
        per_partition.as_ref(),
        &UInt32Array::from(groups),
        None,
    )?)
}

/// SUM, COUNT, AVG, MIN and MAX over any frames, when their input allows
/// (see the module's doc); None for other aggregates.
fn streaming(agg: &AggExpr, values: &[ArrayRef], frames: &Frames) -> Result<Option<ArrayRef>> {
    if agg.distinct {
        return Ok(None);
    }
    let ranges = &frames.ranges;
    if agg.func == AggFunc::CountStar {
        let counts = ranges.iter().map(|&(s, e)| (e - s) as i64);
        return Ok(Some(Arc::new(Int64Array::from_iter_values(counts))));
    }
    let Some(value) = values.first() else {
        return Ok(None);
    };
    let counts = prefix_counts(value);
    let count = |s: u32, e: u32| counts[e as usize] - counts[s as usize];
    Ok(match agg.func {
        AggFunc::Count => Some(Arc::new(Int64Array::from_iter_values(
            ranges.iter().map(|&(s, e)| count(s, e)),
        ))),
        AggFunc::Sum | AggFunc::Avg => {
            let avg = agg.func == AggFunc::Avg;
            match value.data_type() {
                DataType::Float64 if frames.from_partition_start => {
                    let sums = prefix_float_sums(value.as_primitive::<Float64Type>(), ranges);
                    let out: Float64Array = ranges
                        .iter()
                        .zip(sums)
                        .map(|(&(s, e), sum)| {
                            let c = count(s, e);
                            (c > 0).then(|| if avg { sum / c as f64 } else { sum })
                        })
                        .collect();
                    Some(Arc::new(out))
                }
                DataType::Int32 | DataType::Int64 | DataType::Decimal128(..) => {
                    let Some(sums) = prefix_exact_sums(value)? else {
                        return Ok(None);
                    };
                    let scale = match value.data_type() {
                        DataType::Decimal128(_, s) => 10i128.pow(*s as u32),
                        _ => 1,
                    };
                    let total = |s: u32, e: u32| sums[e as usize] - sums[s as usize];
                    if avg {
                        let out: Float64Array = ranges
                            .iter()
                            .map(|&(s, e)| {
                                let c = count(s, e);
                                (c > 0).then(|| exact_ratio(total(s, e), c as i128 * scale))
                            })
                            .collect();
                        Some(Arc::new(out))
                    } else {
                        Some(exact_totals(ranges, &total, &count, &agg.data_type)?)
                    }
                }
                _ => None,
            }
        }
        AggFunc::Min | AggFunc::Max => {
            let monotone = ranges
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1);
            match (monotone, keys_of(value)?) {
                (true, Some(keys)) => {
                    let picked = sliding_extreme(&keys, value, ranges, agg.func == AggFunc::Min);
                    Some(take(value.as_ref(), &picked, None)?)
                }
                _ => None,
            }
        }
        _ => None,
    })
}

/// How many of the first i values are not NULL, for each i (n + 1 entries).
fn prefix_counts(value: &ArrayRef) -> Vec<i64> {
    let mut counts = Vec::with_capacity(value.len() + 1);
    let mut c = 0;
    counts.push(0);
    for i in 0..value.len() {
        c += value.is_valid(i) as i64;
        counts.push(c);
    }
    counts
}

/// The sum of the first i values (NULLs as 0), exactly; None if a sum does
/// not fit in 128 bits.
fn prefix_exact_sums(value: &ArrayRef) -> Result<Option<Vec<i128>>> {
    let wide: Vec<i128> = match value.data_type() {
        DataType::Decimal128(..) => value.as_primitive::<Decimal128Type>().values().to_vec(),
        _ => {
            let ints = cast(value, &DataType::Int64)?;
            ints.as_primitive::<Int64Type>()
                .values()
                .iter()
                .map(|&v| v as i128)
                .collect()
        }
    };
    let mut sums = Vec::with_capacity(wide.len() + 1);
    let mut total: i128 = 0;
    sums.push(0);
    for (i, v) in wide.into_iter().enumerate() {
        if value.is_valid(i) {
            match total.checked_add(v) {
                Some(t) => total = t,
                None => return Ok(None),
            }
        }
        sums.push(total);
    }
    Ok(Some(sums))
}

/// The running sum of each frame's DOUBLE values, for frames that all start
/// at their partition's first row: added in order, one value at a time.
fn prefix_float_sums(value: &Float64Array, ranges: &[(u32, u32)]) -> Vec<f64> {
    let mut out = Vec::with_capacity(ranges.len());
    let (mut start, mut upto, mut sum) = (u32::MAX, 0u32, 0.0);
    for &(s, e) in ranges {
        if s != start {
            (start, upto, sum) = (s, s, 0.0);
        }
        while upto < e {
            if value.is_valid(upto as usize) {
                sum += value.value(upto as usize);
            }
            upto += 1;
        }
        out.push(sum);
    }
    out
}

/// SUM of integers or DECIMALs per frame, in the aggregate's type (BIGINT
/// sums that do not fit are an error, as in a grouped SUM); NULL for frames
/// without a value.
fn exact_totals(
    ranges: &[(u32, u32)],
    total: &dyn Fn(u32, u32) -> i128,
    count: &dyn Fn(u32, u32) -> i64,
    out: &DataType,
) -> Result<ArrayRef> {
    let totals = ranges
        .iter()
        .map(|&(s, e)| (count(s, e) > 0).then(|| total(s, e)));
    Ok(match out {
        DataType::Decimal128(p, s) => Arc::new(
            totals
                .collect::<Decimal128Array>()
                .with_precision_and_scale(*p, *s)?,
        ),
        _ => {
            let mut b = Int64Builder::with_capacity(ranges.len());
            for t in totals {
                match t {
                    None => b.append_null(),
                    Some(t) => b.append_value(i64::try_from(t).map_err(|_| {
                        Error::Execute("Out of Range Error: overflow in SUM of BIGINT".into())
                    })?),
                }
            }
            Arc::new(b.finish())
        }
    })
}

/// A column's values as numbers ordered like them, for MIN / MAX.
enum Keys {
    Exact(Vec<i128>),
    Float(Vec<f64>),
}

fn keys_of(value: &ArrayRef) -> Result<Option<Keys>> {
    Ok(Some(match value.data_type() {
        DataType::Int32 | DataType::Int64 | DataType::Date32 | DataType::Timestamp(..) => {
            let wide = cast(value, &DataType::Int64)?;
            Keys::Exact(
                wide.as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .map(|&v| v as i128)
                    .collect(),
            )
        }
        DataType::Decimal128(..) => {
            Keys::Exact(value.as_primitive::<Decimal128Type>().values().to_vec())
        }
        DataType::Float64 => Keys::Float(value.as_primitive::<Float64Type>().values().to_vec()),
        _ => return Ok(None),
    }))
}

/// The position of each frame's least (or greatest) non-NULL value, with a
/// deque of the candidates in the frame (positions whose values increase, for
/// the least, from front to back).
fn sliding_extreme(
    keys: &Keys,
    value: &ArrayRef,
    ranges: &[(u32, u32)],
    least: bool,
) -> UInt32Array {
    let better_or_equal = |a: usize, b: usize| -> bool {
        let ord = match keys {
            Keys::Exact(k) => k[a].cmp(&k[b]),
            Keys::Float(k) => k[a].total_cmp(&k[b]),
        };
        if least {
            ord.is_le()
        } else {
            ord.is_ge()
        }
    };
    let mut deque: VecDeque<usize> = VecDeque::new();
    let mut next = 0usize;
    ranges
        .iter()
        .map(|&(s, e)| {
            let (s, e) = (s as usize, e as usize);
            while next < e {
                if value.is_valid(next) {
                    while deque.back().is_some_and(|&b| better_or_equal(next, b)) {
                        deque.pop_back();
                    }
                    deque.push_back(next);
                }
                next += 1;
            }
            while deque.front().is_some_and(|&f| f < s) {
                deque.pop_front();
            }
            deque.front().filter(|&&f| f < e).map(|&f| f as u32)
        })
        .collect()
}

/// Any aggregate over any frames, from a segment tree of its states.
fn segment_tree(agg: &AggExpr, mut values: Vec<ArrayRef>, frames: &Frames) -> Result<ArrayRef> {
    let n = frames.ranges.len();
    let mut agg = agg.clone();
    if agg.func == AggFunc::StringAgg && agg.order_by.is_empty() {
        // Merged nodes come out of order: join the values in the frame's order.
        values.push(Arc::new(Int64Array::from_iter_values(0..n as i64)));
        agg.order_by = vec![SortKey {
            expr: Expr::Literal(ScalarValue::Int64(Some(0))),
            ascending: true,
            nulls_first: false,
        }];
    }
    // Level 0: one group per row; level k + 1 merges the pairs of level k.
    let mut levels = vec![new_accumulator(&agg)?];
    let identity: Vec<u32> = (0..n as u32).collect();
    levels[0].update(&values, &identity, n)?;
    let mut width = n;
    while width > 1 {
        let parent = width.div_ceil(2);
        let mut level = new_accumulator(&agg)?;
        let from: Vec<u32> = (0..width as u32).collect();
        let into: Vec<u32> = from.iter().map(|&i| i / 2).collect();
        level.merge(
            levels.last().expect("a level").as_ref(),
            &from,
            &into,
            parent,
        )?;
        levels.push(level);
        width = parent;
    }
    let mut parts = vec![];
    for chunk_start in (0..n).step_by(CHUNK_ROWS) {
        let chunk = &frames.ranges[chunk_start..(chunk_start + CHUNK_ROWS).min(n)];
        let mut pairs: Vec<(Vec<u32>, Vec<u32>)> = vec![(vec![], vec![]); levels.len()];
        for (row, &(s, e)) in chunk.iter().enumerate() {
            let (mut l, mut r, mut k) = (s as usize, e as usize, 0);
            while l < r {
                if l & 1 == 1 {
                    pairs[k].0.push(l as u32);
                    pairs[k].1.push(row as u32);
                    l += 1;
                }
                if r & 1 == 1 {
                    r -= 1;
                    pairs[k].0.push(r as u32);
                    pairs[k].1.push(row as u32);
                }
                (l, r, k) = (l / 2, r / 2, k + 1);
            }
        }
        let mut out = new_accumulator(&agg)?;
        for (level, (from, into)) in levels.iter().zip(&pairs) {
            if !from.is_empty() {
                out.merge(level.as_ref(), from, into, chunk.len())?;
            }
        }
        parts.push(out.finish(chunk.len())?);
    }
    let parts: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
    Ok(concat(&parts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(ranges: Vec<(u32, u32)>) -> Frames {
        Frames {
            ranges,
            whole_partition: false,
            from_partition_start: false,
        }
    }

    /// Every frame of the streaming paths and of the segment tree against a
    /// sum computed frame by frame.
    #[test]
    fn sliding_sums_and_extremes_match_frame_by_frame() {
        let values: Vec<Option<i64>> = (0..37)
            .map(|i| (i % 5 != 3).then_some((i * 7919 % 23) - 11))
            .collect();
        let column: ArrayRef = Arc::new(Int64Array::from(values.clone()));
        let ranges: Vec<(u32, u32)> = (0..37u32)
            .map(|p| (p.saturating_sub(4), (p + 3).min(37)))
            .collect();
        let expected = |f: &dyn Fn(&[i64]) -> Option<i64>| -> Vec<Option<i64>> {
            ranges
                .iter()
                .map(|&(s, e)| {
                    let present: Vec<i64> = values[s as usize..e as usize]
                        .iter()
                        .flatten()
                        .copied()
                        .collect();
                    f(&present)
                })
                .collect()
        };
        let run = |func, tree: bool| -> Vec<Option<i64>> {
            let agg = AggExpr::new(
                func,
                Some(Expr::column(0, "x", DataType::Int64)),
                DataType::Int64,
            );
            let f = frames(ranges.clone());
            let out = if tree {
                segment_tree(&agg, vec![column.clone()], &f).unwrap()
            } else {
                streaming(&agg, std::slice::from_ref(&column), &f)
                    .unwrap()
                    .unwrap()
            };
            out.as_primitive::<Int64Type>().iter().collect()
        };
        let sum = expected(&|v| (!v.is_empty()).then(|| v.iter().sum()));
        let min = expected(&|v| v.iter().min().copied());
        let max = expected(&|v| v.iter().max().copied());
        for tree in [false, true] {
            assert_eq!(run(AggFunc::Sum, tree), sum);
            assert_eq!(run(AggFunc::Min, tree), min);
            assert_eq!(run(AggFunc::Max, tree), max);
        }
    }
}
