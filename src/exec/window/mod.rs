//! The window operator: one Window node's functions (which share a PARTITION
//! BY and an ORDER BY) for every row of its input.
//!
//! A sink: the input pipeline's batches are collected on all workers (and put
//! back in input order); then
//!
//! 1. the keys and the functions' arguments are evaluated once over all rows;
//! 2. the rows are dealt into buckets by partition, each bucket grouped by
//!    partition and each partition sorted by the ORDER BY keys, on the
//!    workers side by side (`partitions`), comparing keys packed into
//!    integers (`packed_keys`) where they fit;
//! 3. each function is computed over each partition of a bucket (`functions`
//!    for ranks and values, `aggregates` for aggregates over frames, with the
//!    frames from `frames`), a column per function in the bucket's order;
//! 4. the output is the input's rows as they came, each followed by its
//!    functions' values, gathered back from the buckets' order.
//!
//! Memory: all input rows, plus their keys (packed into integers where they
//! fit, else in Arrow's row format).

mod aggregates;
mod frames;
mod functions;
mod packed_keys;
mod partitions;

use arrow::array::*;
use arrow::compute::{concat_batches, take};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use self::packed_keys::KeyColumn;
use self::partitions::Keys;
use super::collect::Buffered;
use super::expr::evaluate;
use super::memory::MemoryPool;
use super::pipeline::Sink;
use crate::error::Result;
use crate::plan::{Expr, SortKey, WindowExpr};

pub struct WindowSink {
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<SortKey>,
    pub functions: Vec<WindowExpr>,
    pub schema: SchemaRef,
    pub memory: Arc<MemoryPool>,
}

/// The output comes in batches of at most this many rows.
const OUTPUT_ROWS: usize = 1 << 16;

/// One bucket's rows, sorted: row numbers into the input, and the partitions
/// as ranges of positions in that order.
pub struct Bucket {
    pub rows: Vec<u32>,
    pub partitions: Vec<(usize, usize)>,
    /// For each position, where its peer group (equal ORDER BY keys within
    /// the partition) starts and ends.
    pub peers: Vec<(u32, u32)>,
}

/// What the functions read, evaluated over all input rows.
pub struct Inputs {
    /// Per function: its argument columns (see `functions::inputs`).
    pub functions: Vec<Vec<ArrayRef>>,
    /// The first ORDER BY key (RANGE frames with offsets).
    pub order_key: Option<ArrayRef>,
}

impl Sink for WindowSink {
    /// The input batches with their morsel numbers.
    type State = Buffered;

    fn init(&self) -> Self::State {
        Buffered::new(&self.memory, "a window's rows")
    }

    fn consume(&self, state: &mut Self::State, morsel: usize, batch: RecordBatch) -> Result<()> {
        state.push(morsel, batch)
    }

    fn merge(&self, mut a: Self::State, b: Self::State) -> Result<Self::State> {
        a.append(b);
        Ok(a)
    }

    fn finish(&self, state: Self::State) -> Result<Vec<RecordBatch>> {
        // In input order, so that rows without ORDER BY keys (`row_number() OVER
        // ()`) are numbered as the input has them, whatever worker read them.
        let state = state.into_batches();
        let input_schema = match state.first() {
            Some(b) => b.schema(),
            None => return Ok(vec![]),
        };
        let input = concat_in_parallel(&input_schema, &state)?;
        drop(state);
        if input.num_rows() == 0 {
            return Ok(vec![]);
        }
        let (buckets, functions) = rayon::join(
            || self.buckets(&input),
            || {
                self.functions
                    .par_iter()
                    .map(|w| functions::inputs(w, &input))
                    .collect::<Result<Vec<_>>>()
            },
        );
        let inputs = Inputs {
            functions: functions?,
            order_key: match self.order_by.first() {
                Some(k) => Some(evaluate(&k.expr, &input)?),
                None => None,
            },
        };
        let buckets: Vec<Bucket> = buckets?
            .into_iter()
            .filter(|b| !b.rows.is_empty())
            .collect();
        let results = buckets
            .par_iter()
            .map(|bucket| self.compute(&input, &inputs, bucket))
            .collect::<Result<Vec<Vec<ArrayRef>>>>()?;
        self.in_input_order(&input, &buckets, results)
    }
}

impl WindowSink {
    /// The input's rows in buckets of whole partitions, each sorted: by keys
    /// packed into integers where they fit, else by their row format.
    fn buckets(&self, input: &RecordBatch) -> Result<Vec<Bucket>> {
        let partition = self
            .partition_by
            .iter()
            .map(|e| evaluate(e, input))
            .collect::<Result<Vec<_>>>()?;
        let order = self
            .order_by
            .iter()
            .map(|k| evaluate(&k.expr, input))
            .collect::<Result<Vec<_>>>()?;
        let partition: Vec<KeyColumn> = partition
            .iter()
            .map(|values| KeyColumn {
                values,
                ascending: true,
                nulls_first: false,
            })
            .collect();
        let order: Vec<KeyColumn> = order
            .iter()
            .zip(&self.order_by)
            .map(|(values, k)| KeyColumn {
                values,
                ascending: k.ascending,
                nulls_first: k.nulls_first,
            })
            .collect();
        let (n, workers) = (input.num_rows(), rayon::current_num_threads());
        if let Some(packed) = packed_keys::pack(&partition, &order) {
            return Ok(partitions::packed_buckets(
                n,
                &packed,
                !partition.is_empty(),
                workers,
            ));
        }
        let (partition, order) = rayon::join(|| key_rows(&partition), || key_rows(&order));
        let keys = Keys {
            partition: partition?,
            order: order?,
        };
        Ok(partitions::buckets(n, &keys, workers))
    }

    /// One bucket's functions' columns, in the bucket's order (the functions
    /// side by side).
    fn compute(
        &self,
        input: &RecordBatch,
        inputs: &Inputs,
        bucket: &Bucket,
    ) -> Result<Vec<ArrayRef>> {
        let indices = UInt32Array::from(bucket.rows.clone());
        let ordered = !self.order_by.is_empty();
        // The first ORDER BY key in the bucket's order (RANGE frames with offsets).
        let order_key = match &inputs.order_key {
            Some(k) => Some(take(k.as_ref(), &indices, None)?),
            None => None,
        };
        self.functions
            .par_iter()
            .zip(&inputs.functions)
            .enumerate()
            .map(|(i, (w, values))| {
                let frames = frames::frames(
                    &w.frame,
                    bucket,
                    ordered,
                    order_key.as_ref(),
                    self.order_by.first(),
                )?;
                let values = values
                    .iter()
                    .map(|v| Ok(take(v.as_ref(), &indices, None)?))
                    .collect::<Result<Vec<ArrayRef>>>()?;
                let column = functions::compute(w, &values, bucket, &frames)?;
                let field = self.schema.field(input.num_columns() + i);
                super::expr::cast(&column, field.data_type())
            })
            .collect()
    }

    /// The input's rows as they came, each followed by its functions' values:
    /// the buckets' columns (in bucket order) gathered back into input order,
    /// in chunks side by side. Only the functions' columns move; the input's
    /// are sliced.
    fn in_input_order(
        &self,
        input: &RecordBatch,
        buckets: &[Bucket],
        results: Vec<Vec<ArrayRef>>,
    ) -> Result<Vec<RecordBatch>> {
        let n = input.num_rows();
        // Each input row's position in the buckets' columns, one after another
        // (each bucket's rows written by a worker: relaxed atomic stores to
        // distinct places).
        let positions: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
        let starts = buckets.iter().scan(0u32, |at, b| {
            let start = *at;
            *at += b.rows.len() as u32;
            Some(start)
        });
        let starts: Vec<u32> = starts.collect();
        buckets.par_iter().zip(starts).for_each(|(bucket, start)| {
            for (p, &r) in bucket.rows.iter().enumerate() {
                positions[r as usize].store(start + p as u32, Ordering::Relaxed);
            }
        });
        let positions: UInt32Array = positions.into_iter().map(AtomicU32::into_inner).collect();
        let columns = (0..self.functions.len())
            .into_par_iter()
            .map(|f| match results.as_slice() {
                [one] => Ok(one[f].clone()),
                all => {
                    let parts: Vec<&dyn Array> = all.iter().map(|r| r[f].as_ref()).collect();
                    Ok(arrow::compute::concat(&parts)?)
                }
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        drop(results);
        (0..n)
            .step_by(OUTPUT_ROWS)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|start| {
                let len = OUTPUT_ROWS.min(n - start);
                let chunk = positions.slice(start, len);
                let mut out: Vec<ArrayRef> = input
                    .columns()
                    .iter()
                    .map(|c| c.slice(start, len))
                    .collect();
                for c in &columns {
                    out.push(take(c.as_ref(), &chunk, None)?);
                }
                Ok(RecordBatch::try_new(self.schema.clone(), out)?)
            })
            .collect()
    }
}

/// `batches` as one batch, its columns concatenated side by side.
fn concat_in_parallel(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    if batches.len() == 1 {
        return Ok(batches[0].clone());
    }
    let columns = (0..schema.fields().len())
        .into_par_iter()
        .map(|c| {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            Ok(arrow::compute::concat(&parts)?)
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    if columns.is_empty() {
        return Ok(concat_batches(schema, batches)?);
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// `keys` in Arrow's row format; None for no keys.
fn key_rows(keys: &[KeyColumn]) -> Result<Option<Rows>> {
    if keys.is_empty() {
        return Ok(None);
    }
    let fields = keys
        .iter()
        .map(|k| {
            SortField::new_with_options(
                k.values.data_type().clone(),
                arrow::compute::SortOptions {
                    descending: !k.ascending,
                    nulls_first: k.nulls_first,
                },
            )
        })
        .collect();
    let converter = RowConverter::new(fields)?;
    let columns: Vec<ArrayRef> = keys.iter().map(|k| k.values.clone()).collect();
    Ok(Some(converter.convert_columns(&columns)?))
}
