//! τ sort: each worker collects its batches; at the end the sort keys of all
//! rows are evaluated and ordered, and the output gathers the rows in that
//! order from the batches where they are (no other column is concatenated
//! first). One sort key is ordered with Arrow's sort; several are encoded in
//! Arrow's row format, whose rows compare as bytes, and sorted on all workers.
//! When only the first `fetch` rows are needed (ORDER BY ... LIMIT), they are
//! selected first and only they are sorted.
//!
//! External sort: the buffered rows count against the memory limit; when the
//! sort buffers would fill more than [`BUFFER_FRACTION`] of it, the worker's
//! buffer is sorted and written to a spill file as a run. At the end the runs
//! (and the rows still buffered, sorted) are merged: the keys of each run's
//! current batch are encoded in the row format, and each output row is the
//! least of the runs' next rows.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::{
    concat, interleave_record_batch, lexsort_to_indices, SortColumn, SortOptions,
};
use arrow::row::{RowConverter, Rows, SortField};
use rayon::prelude::*;

use super::expr::evaluate;
use super::memory::{batch_size, MemoryPool, Reservation};
use super::pipeline::Sink;
use super::slices;
use super::spill::{SpillFile, SpillWriter};
use crate::error::Result;
use crate::plan::SortKey;

pub struct SortSink {
    pub keys: Vec<SortKey>,
    pub fetch: Option<usize>,
    pub memory: Arc<MemoryPool>,
}

/// The share of the memory limit that sort buffers may fill: sorting a
/// buffer takes as much again for its output.
const BUFFER_FRACTION: f64 = 0.4;

/// Sorted runs are written and merged in batches of this many rows.
const RUN_BATCH_ROWS: usize = 8192;

/// A worker's rows: those buffered, and the sorted runs spilled before.
pub struct SortState {
    buffered: Vec<RecordBatch>,
    memory: Reservation,
    runs: Vec<SpillFile>,
}

impl Sink for SortSink {
    type State = SortState;

    fn init(&self) -> Self::State {
        SortState {
            buffered: vec![],
            memory: self.memory.reservation("a sort"),
            runs: vec![],
        }
    }

    fn consume(&self, state: &mut Self::State, _morsel: usize, batch: RecordBatch) -> Result<()> {
        let size = state.memory.size() + batch_size(&batch);
        state.buffered.push(batch);
        if !state.memory.try_resize(size, BUFFER_FRACTION) {
            // Sorted and written out, the buffer holds nothing.
            let Some(run) = self.sort_in_memory(std::mem::take(&mut state.buffered))? else {
                return Ok(());
            };
            let mut writer = SpillWriter::new(&self.memory, &run.schema())?;
            for part in slices(run, RUN_BATCH_ROWS) {
                writer.write(&part)?;
            }
            state.runs.push(writer.finish()?);
            state.memory.resize(0)?;
        }
        Ok(())
    }

    fn merge(&self, mut a: Self::State, b: Self::State) -> Result<Self::State> {
        a.buffered.extend(b.buffered);
        a.memory.absorb(b.memory);
        a.runs.extend(b.runs);
        Ok(a)
    }

    fn finish(&self, state: Self::State) -> Result<Vec<RecordBatch>> {
        let sorted = self.sort_in_memory(state.buffered)?;
        if state.runs.is_empty() {
            return Ok(sorted.into_iter().collect());
        }
        let mut runs: Vec<Run> = vec![];
        for run in state.runs {
            runs.push(Box::new(run.read()?));
        }
        if let Some(sorted) = sorted {
            runs.push(Box::new(slices(sorted, RUN_BATCH_ROWS).map(Ok)));
        }
        self.merge_runs(runs)
    }
}

/// A sorted run's rows, batch by batch.
type Run = Box<dyn Iterator<Item = Result<RecordBatch>>>;

/// Where the merge of a run is: its batch, that batch's sort keys as rows,
/// and the next row to output (the batch's length once the run is done).
struct Cursor {
    run: Run,
    batch: RecordBatch,
    keys: Rows,
    next: usize,
}

impl SortSink {
    /// `batches`' rows in order (only the first `fetch`), in one batch; None
    /// without rows. The sort keys of all rows are evaluated and ordered, and
    /// the output gathers the rows from the batches where they are.
    fn sort_in_memory(&self, batches: Vec<RecordBatch>) -> Result<Option<RecordBatch>> {
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        if batches.is_empty() {
            return Ok(None);
        }
        let keys = self
            .keys
            .iter()
            .map(|k| {
                let parts = batches
                    .iter()
                    .map(|b| evaluate(&k.expr, b))
                    .collect::<Result<Vec<_>>>()?;
                let parts: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
                Ok(SortColumn {
                    values: concat(&parts)?,
                    options: Some(self.options(k)),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let order = sorted_rows(&keys, self.fetch)?;
        // Where each batch's rows start among all rows.
        let starts: Vec<usize> = batches
            .iter()
            .scan(0, |start, b| {
                let s = *start;
                *start += b.num_rows();
                Some(s)
            })
            .collect();
        let positions: Vec<(usize, usize)> = order
            .iter()
            .map(|&row| {
                let b = starts.partition_point(|&s| s <= row) - 1;
                (b, row - starts[b])
            })
            .collect();
        let batches: Vec<&RecordBatch> = batches.iter().collect();
        Ok(Some(interleave_record_batch(&batches, &positions)?))
    }

    fn options(&self, key: &SortKey) -> SortOptions {
        SortOptions {
            descending: !key.ascending,
            nulls_first: key.nulls_first,
        }
    }

    /// The sort keys of `batch`.
    fn key_columns(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        self.keys.iter().map(|k| evaluate(&k.expr, batch)).collect()
    }

    /// The sort keys of `batch` in Arrow's row format.
    fn key_rows(&self, converter: &RowConverter, batch: &RecordBatch) -> Result<Rows> {
        Ok(converter.convert_columns(&self.key_columns(batch)?)?)
    }

    /// The rows of sorted `runs` merged in order (the first `fetch`): each
    /// output row is the least next row of any run, the earlier run's on a tie
    /// (so that runs spilled in input order keep ties in input order).
    fn merge_runs(&self, runs: Vec<Run>) -> Result<Vec<RecordBatch>> {
        let mut converter = None;
        let mut cursors = vec![];
        for mut run in runs {
            let Some(batch) = next_batch(&mut run)? else {
                continue;
            };
            let converter = match &converter {
                Some(c) => c,
                None => {
                    let fields = self
                        .key_columns(&batch)?
                        .iter()
                        .zip(&self.keys)
                        .map(|(c, k)| {
                            SortField::new_with_options(c.data_type().clone(), self.options(k))
                        })
                        .collect();
                    converter.insert(RowConverter::new(fields)?)
                }
            };
            let keys = self.key_rows(converter, &batch)?;
            cursors.push(Cursor {
                run,
                batch,
                keys,
                next: 0,
            });
        }
        let Some(converter) = converter else {
            return Ok(vec![]);
        };
        let mut wanted = self.fetch.unwrap_or(usize::MAX);
        let mut output = vec![];
        // The rows picked since the last output batch: (cursor, row).
        let mut picked: Vec<(usize, usize)> = vec![];
        let flush =
            |cursors: &[Cursor], picked: &mut Vec<(usize, usize)>| -> Result<Option<RecordBatch>> {
                if picked.is_empty() {
                    return Ok(None);
                }
                let batches: Vec<&RecordBatch> = cursors.iter().map(|c| &c.batch).collect();
                let batch = interleave_record_batch(&batches, picked)?;
                picked.clear();
                Ok(Some(batch))
            };
        while wanted > 0 {
            let least = (0..cursors.len())
                .filter(|&c| cursors[c].next < cursors[c].batch.num_rows())
                .min_by(|&a, &b| {
                    let (a, b) = (&cursors[a], &cursors[b]);
                    a.keys.row(a.next).cmp(&b.keys.row(b.next))
                });
            let Some(c) = least else {
                break;
            };
            picked.push((c, cursors[c].next));
            cursors[c].next += 1;
            wanted -= 1;
            let cursor_done = cursors[c].next == cursors[c].batch.num_rows();
            if cursor_done || picked.len() == RUN_BATCH_ROWS {
                output.extend(flush(&cursors, &mut picked)?);
            }
            if cursor_done {
                if let Some(batch) = next_batch(&mut cursors[c].run)? {
                    cursors[c].keys = self.key_rows(&converter, &batch)?;
                    cursors[c].batch = batch;
                    cursors[c].next = 0;
                }
            }
        }
        output.extend(flush(&cursors, &mut picked)?);
        Ok(output)
    }
}

/// The next batch with rows of `run`.
fn next_batch(run: &mut Run) -> Result<Option<RecordBatch>> {
    for batch in run.by_ref() {
        let batch = batch?;
        if batch.num_rows() > 0 {
            return Ok(Some(batch));
        }
    }
    Ok(None)
}

/// The numbers of the rows of `keys` in sort order, ties in row order; only
/// the first `fetch` if given.
fn sorted_rows(keys: &[SortColumn], fetch: Option<usize>) -> Result<Vec<usize>> {
    let n = keys.first().map_or(0, |k| k.values.len());
    let converter = (keys.len() > 1)
        .then(|| {
            RowConverter::new(
                keys.iter()
                    .map(|k| {
                        SortField::new_with_options(
                            k.values.data_type().clone(),
                            k.options.unwrap_or_default(),
                        )
                    })
                    .collect(),
            )
        })
        .and_then(|c| c.ok());
    let Some(converter) = converter else {
        let indices = lexsort_to_indices(keys, fetch)?;
        return Ok(indices.values().iter().map(|&i| i as usize).collect());
    };
    let columns: Vec<ArrayRef> = keys.iter().map(|k| k.values.clone()).collect();
    let rows = converter.convert_columns(&columns)?;
    let compare =
        |a: &usize, b: &usize| -> Ordering { rows.row(*a).cmp(&rows.row(*b)).then(a.cmp(b)) };
    let mut order: Vec<usize> = (0..n).collect();
    if let Some(fetch) = fetch.filter(|&f| f < n) {
        if fetch == 0 {
            return Ok(vec![]);
        }
        order.select_nth_unstable_by(fetch - 1, compare);
        order.truncate(fetch);
    }
    order.par_sort_unstable_by(compare);
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::compute::{concat_batches, take_record_batch};
    use arrow::datatypes::DataType;
    use std::sync::Arc;

    use crate::plan::Expr;

    /// Rows `n..n + 40` with repeating keys and NULLs.
    fn batch(n: i64) -> RecordBatch {
        let rows = n..n + 40;
        let k: Int64Array = rows
            .clone()
            .map(|r| (r % 5 != 0).then_some(r % 7))
            .collect();
        let s: StringArray = rows
            .clone()
            .map(|r| (r % 4 != 0).then(|| format!("s{}", r % 3)))
            .collect();
        let id: Int64Array = rows.map(Some).collect();
        RecordBatch::try_from_iter([
            ("k", Arc::new(k) as ArrayRef),
            ("s", Arc::new(s) as ArrayRef),
            ("id", Arc::new(id) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn sorting_batches_matches_arrows_sort_of_their_concatenation() {
        let batches = vec![batch(0), batch(40), batch(80)];
        let whole = concat_batches(&batches[0].schema(), &batches).unwrap();
        let key = |c: usize, name: &str, t: DataType, ascending, nulls_first| SortKey {
            expr: Expr::column(c, name, t),
            ascending,
            nulls_first,
        };
        let orders = [
            vec![key(0, "k", DataType::Int64, true, false)],
            vec![
                key(0, "k", DataType::Int64, false, true),
                key(1, "s", DataType::Utf8, true, false),
            ],
            vec![
                key(1, "s", DataType::Utf8, false, false),
                key(0, "k", DataType::Int64, true, true),
                key(2, "id", DataType::Int64, false, false),
            ],
        ];
        // Without a limit, in memory; with a limit of one byte, each batch
        // spilled as a run of its own, and the runs merged.
        let cases = orders.iter().flat_map(|keys| {
            [None, Some(0), Some(1), Some(7), Some(500)]
                .into_iter()
                .flat_map(move |fetch| [usize::MAX, 1].map(|limit| (keys, fetch, limit)))
        });
        for (keys, fetch, limit) in cases {
            {
                let pool = MemoryPool::new(limit);
                let sink = SortSink {
                    keys: keys.clone(),
                    fetch,
                    memory: pool.clone(),
                };
                let mut state = sink.init();
                for b in &batches {
                    sink.consume(&mut state, 0, b.clone()).unwrap();
                }
                let spilled = !state.runs.is_empty();
                assert_eq!(spilled, limit == 1);
                let sorted = sink.finish(state).unwrap();
                let sorted = concat_batches(&whole.schema(), &sorted).unwrap();
                let columns: Vec<SortColumn> = keys
                    .iter()
                    .map(|k| SortColumn {
                        values: evaluate(&k.expr, &whole).unwrap(),
                        options: Some(SortOptions {
                            descending: !k.ascending,
                            nulls_first: k.nulls_first,
                        }),
                    })
                    .collect();
                // Ties broken by row number, as the sink does.
                let mut with_id = columns.clone();
                with_id.push(SortColumn {
                    values: whole.column(2).clone(),
                    options: None,
                });
                let indices = lexsort_to_indices(&with_id, fetch).unwrap();
                let expected = take_record_batch(&whole, &indices).unwrap();
                let key_columns = |b: &RecordBatch| -> Vec<ArrayRef> {
                    keys.iter().map(|k| evaluate(&k.expr, b).unwrap()).collect()
                };
                assert_eq!(
                    key_columns(&sorted),
                    key_columns(&expected),
                    "{fetch:?} {limit}"
                );
                if keys.len() > 1 {
                    assert_eq!(sorted, expected, "ties in row order");
                }
            }
        }
    }
}
