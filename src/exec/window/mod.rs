//! The window operator: one Window node's functions (which share a PARTITION
//! BY and an ORDER BY) for every row of its input.
//!
//! A sink: the input pipeline's batches are collected on all workers; then
//!
//! 1. the rows are dealt into buckets by a hash of their partition keys (one
//!    bucket without PARTITION BY), so that every partition lies in one bucket
//!    and the buckets are independent;
//! 2. each bucket is sorted by (partition keys, ORDER BY keys), in Arrow's row
//!    format, on the workers side by side: each partition is then a run of the
//!    bucket's order, and within it the runs of equal ORDER BY keys are the
//!    peer groups;
//! 3. each function is computed over each partition of the bucket
//!    (`functions` for ranks and values, `aggregates` for aggregates over
//!    frames, with the frames from `frames`), a column per function in the
//!    bucket's order;
//! 4. each bucket becomes one output batch: its rows gathered from the input
//!    in that order, then the functions' columns.
//!
//! Memory: all input rows, plus for each bucket its order and key rows.

mod aggregates;
mod frames;
mod functions;

use arrow::array::*;
use arrow::compute::{concat_batches, take};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use rayon::prelude::*;

use super::expr::evaluate;
use super::pipeline::Sink;
use crate::error::Result;
use crate::plan::{Expr, SortKey, WindowExpr};

pub struct WindowSink {
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<SortKey>,
    pub functions: Vec<WindowExpr>,
    pub schema: SchemaRef,
}

/// The order of input rows `a` and `b` by their keys in `rows` (equal without keys).
fn compare(rows: &Option<Rows>, a: u32, b: u32) -> std::cmp::Ordering {
    match rows {
        Some(r) => r.row(a as usize).cmp(&r.row(b as usize)),
        None => std::cmp::Ordering::Equal,
    }
}

/// Below this many rows, all go into one bucket.
const ONE_BUCKET_ROWS: usize = 1 << 14;

/// One bucket's rows, sorted: row numbers into the input, and the partitions
/// as ranges of positions in that order.
pub struct Bucket {
    pub rows: Vec<u32>,
    pub partitions: Vec<(usize, usize)>,
    /// For each position, where its peer group (equal ORDER BY keys within
    /// the partition) starts and ends.
    pub peers: Vec<(u32, u32)>,
}

impl Sink for WindowSink {
    type State = Vec<RecordBatch>;

    fn init(&self) -> Self::State {
        vec![]
    }

    fn consume(&self, state: &mut Self::State, _morsel: usize, batch: RecordBatch) -> Result<()> {
        state.push(batch);
        Ok(())
    }

    fn merge(&self, mut a: Self::State, b: Self::State) -> Result<Self::State> {
        a.extend(b);
        Ok(a)
    }

    fn finish(&self, state: Self::State) -> Result<Vec<RecordBatch>> {
        let input_schema = match state.first() {
            Some(b) => b.schema(),
            None => return Ok(vec![]),
        };
        let input = concat_batches(&input_schema, &state)?;
        drop(state);
        if input.num_rows() == 0 {
            return Ok(vec![]);
        }
        let buckets = self.buckets(&input)?;
        buckets
            .into_par_iter()
            .filter(|b| !b.rows.is_empty())
            .map(|bucket| self.compute(&input, &bucket))
            .collect()
    }
}

impl WindowSink {
    /// The input's rows dealt into buckets by partition, each sorted.
    fn buckets(&self, input: &RecordBatch) -> Result<Vec<Bucket>> {
        let n = input.num_rows();
        let partition_rows = self.key_rows(input, &self.partition_by, &[])?;
        let order_options: Vec<_> = self
            .order_by
            .iter()
            .map(|k| (k.ascending, k.nulls_first))
            .collect();
        let order_exprs: Vec<Expr> = self.order_by.iter().map(|k| k.expr.clone()).collect();
        let order_rows = self.key_rows(input, &order_exprs, &order_options)?;
        let count = if self.partition_by.is_empty() || n < ONE_BUCKET_ROWS {
            1
        } else {
            rayon::current_num_threads() * 8
        };
        let mut members: Vec<Vec<u32>> = vec![vec![]; count];
        match &partition_rows {
            Some(rows) if count > 1 => {
                let state = ahash::RandomState::with_seeds(7, 11, 13, 17);
                for row in 0..n {
                    let bucket = state.hash_one(rows.row(row).as_ref()) as usize % count;
                    members[bucket].push(row as u32);
                }
            }
            _ => members[0] = (0..n as u32).collect(),
        }
        let same = |rows: &Option<Rows>, a: u32, b: u32| match rows {
            Some(r) => r.row(a as usize) == r.row(b as usize),
            None => true,
        };
        Ok(members
            .into_par_iter()
            .map(|mut rows| {
                rows.par_sort_unstable_by(|&a, &b| {
                    compare(&partition_rows, a, b)
                        .then_with(|| compare(&order_rows, a, b))
                        .then(a.cmp(&b))
                });
                let mut partitions = vec![];
                let mut peers = vec![(0u32, 0u32); rows.len()];
                let mut start = 0;
                while start < rows.len() {
                    let mut end = start + 1;
                    while end < rows.len() && same(&partition_rows, rows[start], rows[end]) {
                        end += 1;
                    }
                    let mut peer = start;
                    while peer < end {
                        let mut peer_end = peer + 1;
                        while peer_end < end && same(&order_rows, rows[peer], rows[peer_end]) {
                            peer_end += 1;
                        }
                        for p in &mut peers[peer..peer_end] {
                            *p = (peer as u32, peer_end as u32);
                        }
                        peer = peer_end;
                    }
                    partitions.push((start, end));
                    start = end;
                }
                Bucket {
                    rows,
                    partitions,
                    peers,
                }
            })
            .collect())
    }

    /// `exprs` over the input in Arrow's row format, ordered as `options`
    /// (ascending, nulls first) say (ascending when not given); None for none.
    fn key_rows(
        &self,
        input: &RecordBatch,
        exprs: &[Expr],
        options: &[(bool, bool)],
    ) -> Result<Option<Rows>> {
        if exprs.is_empty() {
            return Ok(None);
        }
        let columns = exprs
            .iter()
            .map(|e| evaluate(e, input))
            .collect::<Result<Vec<_>>>()?;
        let fields = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (ascending, nulls_first) = options.get(i).copied().unwrap_or((true, false));
                SortField::new_with_options(
                    c.data_type().clone(),
                    arrow::compute::SortOptions {
                        descending: !ascending,
                        nulls_first,
                    },
                )
            })
            .collect();
        let converter = RowConverter::new(fields)?;
        Ok(Some(converter.convert_columns(&columns)?))
    }

    /// One bucket's output: its rows in order, then each function's column.
    fn compute(&self, input: &RecordBatch, bucket: &Bucket) -> Result<RecordBatch> {
        let indices = UInt32Array::from(bucket.rows.clone());
        let mut columns = input
            .columns()
            .iter()
            .map(|c| Ok(take(c.as_ref(), &indices, None)?))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let ordered = !self.order_by.is_empty();
        // The first ORDER BY key in the bucket's order (RANGE frames with offsets).
        let order_key = match self.order_by.first() {
            Some(k) => Some(take(evaluate(&k.expr, input)?.as_ref(), &indices, None)?),
            None => None,
        };
        for w in &self.functions {
            let frames = frames::frames(
                &w.frame,
                bucket,
                ordered,
                order_key.as_ref(),
                self.order_by.first(),
            )?;
            let column = functions::compute(w, input, bucket, &indices, &frames)?;
            columns.push(column);
        }
        let columns = columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(c, f)| super::expr::cast(&c, f.data_type()))
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}
