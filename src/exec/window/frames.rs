//! Window frames: for each row of a bucket (see [`Bucket`]), the positions
//! `[start, end)` of the rows its frame holds, in the bucket's order.
//!
//! - ROWS counts positions from the current row, clipped to the partition.
//! - RANGE without offsets: CURRENT ROW is the edge of the row's peer group.
//! - RANGE with an offset compares the ORDER BY key (one key; numbers,
//!   DATEs and TIMESTAMPs): `n PRECEDING` starts at the first row whose key is
//!   at least the current one's minus n (at most plus n, for DESC), found by
//!   binary search among the partition's non-NULL keys. A NULL key is never
//!   reached from a non-NULL one; for a row whose key is NULL an offset bound
//!   is the edge of its (NULL) peer group.
//!
//! A frame that starts at or after its end is empty. As the current row moves
//! forward, both ends of every frame only move forward, which the aggregates
//! rely on.

use arrow::array::*;
use arrow::datatypes::*;

use super::Bucket;
use crate::error::{Error, Result};
use crate::exec::expr::cast;
use crate::plan::{FrameBound, FrameUnits, SortKey, WindowFrame};
use crate::types::{ScalarValue, MICROS_PER_DAY};

/// Every row's frame, in bucket positions.
pub struct Frames {
    pub ranges: Vec<(u32, u32)>,
    /// Every frame is its whole partition.
    pub whole_partition: bool,
    /// Every frame starts at its partition's first row.
    pub from_partition_start: bool,
}

/// The ORDER BY key of a bucket as numbers that compare and add like the
/// key: integers, DECIMALs (unscaled), dates (days), timestamps (µs), or
/// doubles.
enum Keys {
    Exact(Vec<i128>),
    Float(Vec<f64>),
}

pub fn frames(
    frame: &WindowFrame,
    bucket: &Bucket,
    ordered: bool,
    order_key: Option<&ArrayRef>,
    first_key: Option<&SortKey>,
) -> Result<Frames> {
    let whole = frame.is_whole_partition(ordered);
    let n = bucket.rows.len();
    let mut ranges = vec![(0u32, 0u32); n];
    let from_partition_start = frame.start == FrameBound::UnboundedPreceding;
    if whole {
        for &(lo, hi) in &bucket.partitions {
            ranges[lo..hi].fill((lo as u32, hi as u32));
        }
        return Ok(Frames {
            ranges,
            whole_partition: true,
            from_partition_start,
        });
    }
    let has_offset =
        |b: &FrameBound| matches!(b, FrameBound::Preceding(_) | FrameBound::Following(_));
    let range_offsets =
        frame.units == FrameUnits::Range && (has_offset(&frame.start) || has_offset(&frame.end));
    let keys = match (range_offsets, order_key) {
        (true, Some(key)) => Some(keys_of(key)?),
        (true, None) => {
            return Err(Error::Bind(
                "RANGE with an offset needs an ORDER BY key".into(),
            ))
        }
        _ => None,
    };
    let ascending = first_key.is_none_or(|k| k.ascending);
    for &(lo, hi) in &bucket.partitions {
        // The partition's non-NULL keys [nlo, nhi) (NULLs sort to one end).
        let (nlo, nhi) = match (&keys, order_key) {
            (Some(_), Some(key)) => {
                let nlo = (lo..hi).find(|&p| key.is_valid(p)).unwrap_or(hi);
                let nhi = (nlo..hi).find(|&p| key.is_null(p)).unwrap_or(hi);
                (nlo, nhi)
            }
            _ => (lo, hi),
        };
        for (p, range) in ranges.iter_mut().enumerate().take(hi).skip(lo) {
            let bound = |b: &FrameBound, is_end: bool| -> Result<usize> {
                let (peer_start, peer_end) = bucket.peers[p];
                Ok(match b {
                    FrameBound::UnboundedPreceding => lo,
                    FrameBound::UnboundedFollowing => hi,
                    FrameBound::CurrentRow => match frame.units {
                        FrameUnits::Rows => p + is_end as usize,
                        FrameUnits::Range if is_end => peer_end as usize,
                        FrameUnits::Range => peer_start as usize,
                    },
                    FrameBound::Preceding(v) | FrameBound::Following(v) => {
                        let following = matches!(b, FrameBound::Following(_));
                        match frame.units {
                            FrameUnits::Rows => {
                                let d = row_offset(v)?;
                                let at = if following {
                                    p as i64 + d
                                } else {
                                    p as i64 - d
                                } + is_end as i64;
                                at.clamp(lo as i64, hi as i64) as usize
                            }
                            FrameUnits::Range => {
                                let keys = keys.as_ref().expect("keys of a RANGE frame");
                                if p < nlo || p >= nhi {
                                    // A NULL key: the edge of the NULL peers.
                                    if is_end {
                                        peer_end as usize
                                    } else {
                                        peer_start as usize
                                    }
                                } else {
                                    range_bound(keys, v, p, nlo, nhi, following, is_end, ascending)?
                                }
                            }
                        }
                    }
                })
            };
            let (s, e) = (bound(&frame.start, false)?, bound(&frame.end, true)?);
            *range = (s as u32, e.max(s) as u32);
        }
    }
    Ok(Frames {
        ranges,
        whole_partition: false,
        from_partition_start,
    })
}

fn row_offset(v: &ScalarValue) -> Result<i64> {
    match v {
        ScalarValue::Int64(Some(d)) if *d >= 0 => Ok(*d),
        ScalarValue::Int32(Some(d)) if *d >= 0 => Ok(*d as i64),
        other => Err(Error::Execute(format!(
            "a ROWS frame offset must be a non-negative integer, not {other}"
        ))),
    }
}

/// The frame position of a RANGE offset bound for position `p` (non-NULL key).
#[allow(clippy::too_many_arguments)]
fn range_bound(
    keys: &Keys,
    offset: &ScalarValue,
    p: usize,
    nlo: usize,
    nhi: usize,
    following: bool,
    is_end: bool,
    ascending: bool,
) -> Result<usize> {
    // The key value the bound lies at: forward is +, backward - in ASC order
    // (the other way round for DESC).
    let forward = following == ascending;
    // Start: the first row at or past the value; end: after the last row at
    // or before it, in the sort direction.
    let at_or_past = |before: &dyn Fn(usize) -> bool| -> usize {
        // Keys are sorted in the direction, so `before` holds for a prefix.
        let (mut a, mut b) = (nlo, nhi);
        while a < b {
            let mid = (a + b) / 2;
            if before(mid) {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        a
    };
    Ok(match keys {
        Keys::Exact(k) => {
            let d = exact_offset(offset)?;
            let target = if forward { k[p] + d } else { k[p] - d };
            let past = |x: i128| if ascending { x > target } else { x < target };
            let reached = |x: i128| if ascending { x >= target } else { x <= target };
            if is_end {
                at_or_past(&|q| !past(k[q]))
            } else {
                at_or_past(&|q| !reached(k[q]))
            }
        }
        Keys::Float(k) => {
            let d = float_offset(offset)?;
            let target = if forward { k[p] + d } else { k[p] - d };
            let past = |x: f64| if ascending { x > target } else { x < target };
            let reached = |x: f64| if ascending { x >= target } else { x <= target };
            if is_end {
                at_or_past(&|q| !past(k[q]))
            } else {
                at_or_past(&|q| !reached(k[q]))
            }
        }
    })
}

fn keys_of(key: &ArrayRef) -> Result<Keys> {
    let exact = |values: Vec<i128>| Ok(Keys::Exact(values));
    match key.data_type() {
        DataType::Int32 | DataType::Int64 | DataType::Date32 => {
            let wide = cast(key, &DataType::Int64)?;
            exact(
                wide.as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .map(|&v| v as i128)
                    .collect(),
            )
        }
        DataType::Timestamp(..) => {
            let wide = cast(key, &DataType::Int64)?;
            exact(
                wide.as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .map(|&v| v as i128)
                    .collect(),
            )
        }
        DataType::Decimal128(..) => exact(key.as_primitive::<Decimal128Type>().values().to_vec()),
        DataType::Float64 => Ok(Keys::Float(
            key.as_primitive::<Float64Type>().values().to_vec(),
        )),
        other => Err(Error::Bind(format!(
            "RANGE with an offset needs a numeric, DATE or TIMESTAMP ORDER BY key, not {other}"
        ))),
    }
}

/// A RANGE offset in the key's units (the binder cast it: the key's own type,
/// days for a DATE key, microseconds for a TIMESTAMP key).
fn exact_offset(v: &ScalarValue) -> Result<i128> {
    Ok(match v {
        ScalarValue::Int32(Some(d)) => *d as i128,
        ScalarValue::Int64(Some(d)) => *d as i128,
        ScalarValue::Decimal128(Some(d), _, _) => *d,
        ScalarValue::Interval(Some((0, days, nanos))) => {
            (*days as i128) * MICROS_PER_DAY as i128 + (*nanos as i128) / 1000
        }
        other => {
            return Err(Error::Execute(format!(
                "internal error: a RANGE offset {other} of the wrong type"
            )))
        }
    })
}

fn float_offset(v: &ScalarValue) -> Result<f64> {
    match v {
        ScalarValue::Float64(Some(d)) => Ok(*d),
        other => Err(Error::Execute(format!(
            "internal error: a RANGE offset {other} of the wrong type"
        ))),
    }
}
