//! The ranking and value window functions over one bucket's partitions, in
//! the bucket's order; aggregates are handed to `aggregates`.
//!
//! Ranks come from positions and peer groups (`RANK` is one more than the
//! position of the row's first peer in its partition, `CUME_DIST` the share of
//! rows up to its last peer); the value functions (`LAG`, `LEAD`,
//! `FIRST_VALUE`, `LAST_VALUE`, `NTH_VALUE`) pick a row of the partition or
//! frame for each row and gather their argument from it in one `take`.

use std::sync::Arc;

use arrow::array::*;
use arrow::compute::kernels::zip::zip;
use arrow::compute::take;

use super::frames::Frames;
use super::{aggregates, Bucket};
use crate::error::{Error, Result};
use crate::exec::aggregate::AggInput;
use crate::exec::expr::{cast, evaluate};
use crate::plan::{Expr, WindowExpr, WindowFunc};
use crate::types::ScalarValue;

/// The columns a call reads, evaluated over all input rows: an aggregate's
/// inputs; the value (and LAG / LEAD's default) of a value function; nothing
/// for ranks.
pub fn inputs(w: &WindowExpr, input: &RecordBatch) -> Result<Vec<ArrayRef>> {
    match &w.func {
        WindowFunc::Aggregate(agg) => Ok(AggInput::of(agg, input)?.values),
        WindowFunc::Lag | WindowFunc::Lead => {
            let mut values = vec![evaluate(&w.args[0], input)?];
            if let Some(default) = w.args.get(2) {
                values.push(evaluate(default, input)?);
            }
            Ok(values)
        }
        WindowFunc::FirstValue | WindowFunc::LastValue | WindowFunc::NthValue => {
            Ok(vec![evaluate(&w.args[0], input)?])
        }
        _ => Ok(vec![]),
    }
}

/// The call's value for each position of `bucket`, from its `values` (see
/// [`inputs`]) in the bucket's order.
pub fn compute(
    w: &WindowExpr,
    values: &[ArrayRef],
    bucket: &Bucket,
    frames: &Frames,
) -> Result<ArrayRef> {
    let n = bucket.rows.len();
    // The partition (lo, hi) of each position.
    let partition_of = || {
        let mut of = vec![(0usize, 0usize); n];
        for &(lo, hi) in &bucket.partitions {
            of[lo..hi].fill((lo, hi));
        }
        of
    };
    let int64 = |f: &dyn Fn(usize, (usize, usize)) -> i64| -> ArrayRef {
        let of = partition_of();
        Arc::new(Int64Array::from_iter_values((0..n).map(|p| f(p, of[p]))))
    };
    let float64 = |f: &dyn Fn(usize, (usize, usize)) -> f64| -> ArrayRef {
        let of = partition_of();
        Arc::new(Float64Array::from_iter_values((0..n).map(|p| f(p, of[p]))))
    };
    let peers = &bucket.peers;
    Ok(match &w.func {
        WindowFunc::RowNumber => int64(&|p, (lo, _)| (p - lo + 1) as i64),
        WindowFunc::Rank => int64(&|p, (lo, _)| (peers[p].0 as usize - lo + 1) as i64),
        WindowFunc::DenseRank => {
            let mut ranks = vec![0i64; n];
            for &(lo, hi) in &bucket.partitions {
                let mut rank = 0;
                for p in lo..hi {
                    if p == peers[p].0 as usize {
                        rank += 1;
                    }
                    ranks[p] = rank;
                }
            }
            Arc::new(Int64Array::from(ranks))
        }
        WindowFunc::PercentRank => float64(&|p, (lo, hi)| {
            if hi - lo <= 1 {
                0.0
            } else {
                (peers[p].0 as usize - lo) as f64 / (hi - lo - 1) as f64
            }
        }),
        WindowFunc::CumeDist => {
            float64(&|p, (lo, hi)| (peers[p].1 as usize - lo) as f64 / (hi - lo) as f64)
        }
        WindowFunc::Ntile => {
            let buckets = constant_integer(w, 0, "NTILE")?;
            if buckets <= 0 {
                return Err(Error::Execute(
                    "Invalid Input Error: NTILE's argument must be greater than zero".into(),
                ));
            }
            int64(&|p, (lo, hi)| ntile(p - lo, hi - lo, buckets as usize) as i64)
        }
        WindowFunc::Lag | WindowFunc::Lead => {
            let offset = match w.args.get(1) {
                Some(_) => constant_integer(w, 1, "LAG / LEAD")?,
                None => 1,
            };
            let offset = if w.func == WindowFunc::Lag {
                -offset
            } else {
                offset
            };
            let of = partition_of();
            let skip = w.ignore_nulls.then(|| NonNulls::of(&values[0]));
            let picked: Vec<Option<usize>> = (0..n)
                .map(|p| {
                    let (lo, hi) = of[p];
                    match &skip {
                        Some(skip) => skip.offset_from(p, offset, (lo, hi)),
                        None => {
                            let at = p as i64 + offset;
                            (at >= lo as i64 && at < hi as i64).then_some(at as usize)
                        }
                    }
                })
                .collect();
            let picked_values = gather(&values[0], &picked)?;
            match values.get(1) {
                None => picked_values,
                Some(default) => {
                    // The default (at the current row) where no row is picked.
                    let default = cast(default, picked_values.data_type())?;
                    let found = BooleanArray::from_iter(picked.iter().map(|p| Some(p.is_some())));
                    zip(&found, &picked_values, &default)?
                }
            }
        }
        WindowFunc::FirstValue | WindowFunc::LastValue | WindowFunc::NthValue => {
            let nth = match w.func {
                WindowFunc::NthValue => constant_integer(w, 1, "NTH_VALUE")?,
                _ => 1,
            };
            if nth <= 0 {
                return Err(Error::Execute(
                    "Invalid Input Error: NTH_VALUE's position must be greater than zero".into(),
                ));
            }
            let skip = w.ignore_nulls.then(|| NonNulls::of(&values[0]));
            let picked: Vec<Option<usize>> = frames
                .ranges
                .iter()
                .map(|&(s, e)| {
                    let (s, e) = (s as usize, e as usize);
                    match (&skip, &w.func) {
                        (Some(skip), WindowFunc::LastValue) => skip.last_in(s, e),
                        (Some(skip), _) => skip.nth_in(s, e, nth as usize),
                        (None, WindowFunc::LastValue) => (e > s).then(|| e - 1),
                        (None, _) => (s + (nth as usize - 1) < e).then(|| s + nth as usize - 1),
                    }
                })
                .collect();
            gather(&values[0], &picked)?
        }
        WindowFunc::Aggregate(agg) => aggregates::compute(agg, values, bucket, frames)?,
    })
}

/// The positions of the non-NULL values of a column (`IGNORE NULLS`), to find
/// the n-th non-NULL value before or after a position, or in a frame.
struct NonNulls {
    /// The positions that hold a value, in order.
    positions: Vec<usize>,
    /// `before[p]`: how many of them are before position `p` (n + 1 entries).
    before: Vec<usize>,
}

impl NonNulls {
    fn of(values: &ArrayRef) -> NonNulls {
        let mut positions = vec![];
        let mut before = Vec::with_capacity(values.len() + 1);
        for p in 0..values.len() {
            before.push(positions.len());
            if values.is_valid(p) {
                positions.push(p);
            }
        }
        before.push(positions.len());
        NonNulls { positions, before }
    }

    /// LAG / LEAD: the `offset`-th value-holding position before (negative) or
    /// after (positive) `p` within its partition `[lo, hi)`; `p` itself for 0.
    fn offset_from(&self, p: usize, offset: i64, (lo, hi): (usize, usize)) -> Option<usize> {
        let index = match offset {
            0 => return Some(p),
            o if o < 0 => self.before[p] as i64 + o,
            o => self.before[p + 1] as i64 + o - 1,
        };
        (index >= self.before[lo] as i64 && index < self.before[hi] as i64)
            .then(|| self.positions[index as usize])
    }

    /// The n-th (1-based) value-holding position of the frame `[s, e)`.
    fn nth_in(&self, s: usize, e: usize, n: usize) -> Option<usize> {
        let index = self.before[s] + n - 1;
        (index < self.before[e]).then(|| self.positions[index])
    }

    /// The last value-holding position of the frame `[s, e)`.
    fn last_in(&self, s: usize, e: usize) -> Option<usize> {
        (self.before[e] > self.before[s]).then(|| self.positions[self.before[e] - 1])
    }
}

/// `values` at the picked positions (NULL where none is).
fn gather(values: &ArrayRef, picked: &[Option<usize>]) -> Result<ArrayRef> {
    let rows: UInt32Array = picked.iter().map(|p| p.map(|p| p as u32)).collect();
    Ok(take(values.as_ref(), &rows, None)?)
}

/// Argument `i` of `w`, which the binder made a constant integer.
fn constant_integer(w: &WindowExpr, i: usize, what: &str) -> Result<i64> {
    match w.args.get(i) {
        Some(Expr::Literal(ScalarValue::Int64(Some(v)))) => Ok(*v),
        _ => Err(Error::Execute(format!(
            "internal error: {what}'s argument is not a constant integer"
        ))),
    }
}

/// The bucket (1-based) of position `p` of `rows` rows dealt into `buckets`
/// buckets of sizes differing by at most one, the larger first.
fn ntile(p: usize, rows: usize, buckets: usize) -> usize {
    let (size, extra) = (rows / buckets, rows % buckets);
    let large = extra * (size + 1);
    if p < large {
        p / (size + 1) + 1
    } else {
        extra + (p - large) / size.max(1) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::ntile;

    #[test]
    fn ntile_deals_the_larger_buckets_first() {
        let deal = |rows, buckets| {
            (0..rows)
                .map(|p| ntile(p, rows, buckets))
                .collect::<Vec<_>>()
        };
        assert_eq!(deal(5, 2), vec![1, 1, 1, 2, 2]);
        assert_eq!(deal(3, 5), vec![1, 2, 3]);
        assert_eq!(deal(7, 3), vec![1, 1, 1, 2, 2, 3, 3]);
    }
}
