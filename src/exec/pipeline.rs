//! Morsel-driven pipelines: a source split into morsels, a chain of streaming
//! operators, and a sink.
//!
//! `run` has every worker of the rayon pool take morsels (its own contiguous
//! range first, then the rest of the others') and fold them into its own sink
//! state (no locks on the hot path); the per-worker states are merged pairwise
//! at the end. No operator knows about threads: sources only read one morsel,
//! operators only transform one batch, sinks only consume and merge.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arrow::array::RecordBatch;
use rayon::prelude::*;

use crate::error::Result;

/// Where a pipeline's rows come from: a fixed number of independent morsels.
pub trait Source: Send + Sync {
    fn morsel_count(&self) -> usize;
    /// The rows of one morsel; `None` when the morsel holds no rows for this query
    /// (pruned by zone maps, or empty after a pushed-down filter).
    fn read(&self, morsel: usize) -> Result<Option<RecordBatch>>;
}

/// A streaming operator: one batch in, one batch out (filter, projection).
pub trait Operator: Send + Sync {
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch>;
}

/// The end of a pipeline, with a state per worker.
pub trait Sink: Send + Sync {
    type State: Send;
    fn init(&self) -> Self::State;
    /// Consumes one non-empty batch, produced from morsel number `morsel`.
    fn consume(&self, state: &mut Self::State, morsel: usize, batch: RecordBatch) -> Result<()>;
    fn merge(&self, a: Self::State, b: Self::State) -> Result<Self::State>;
    fn finish(&self, state: Self::State) -> Result<Vec<RecordBatch>>;
    /// The result of the workers' `states` (at least one): by default, merged
    /// pairwise, then finished.
    fn merge_and_finish(&self, states: Vec<Self::State>) -> Result<Vec<RecordBatch>> {
        merge_pairwise(self, states)
    }
}

/// `states` merged pairwise (in parallel where pairs are independent), then
/// finished.
pub fn merge_pairwise<S: Sink + ?Sized>(
    sink: &S,
    states: Vec<S::State>,
) -> Result<Vec<RecordBatch>> {
    let state = states
        .into_par_iter()
        .map(Ok)
        .try_reduce_with(|a, b| sink.merge(a, b))
        .unwrap_or_else(|| Ok(sink.init()))?;
    sink.finish(state)
}

/// The morsels `0..count` split into one contiguous range per worker, each
/// handed out from its front: a worker takes its own range's morsels in order,
/// then helps with what is left of the others'. Each worker thus sees mostly
/// neighbouring morsels (on clustered data, keys of a narrow range), where one
/// shared counter would deal them out alternately.
struct MorselRanges {
    /// (next morsel, end) of each worker's range.
    ranges: Vec<(AtomicUsize, usize)>,
}

impl MorselRanges {
    fn new(count: usize, workers: usize) -> MorselRanges {
        let workers = workers.max(1);
        let ranges = (0..workers)
            .map(|w| {
                (
                    AtomicUsize::new(count * w / workers),
                    count * (w + 1) / workers,
                )
            })
            .collect();
        MorselRanges { ranges }
    }

    fn len(&self) -> usize {
        self.ranges.len()
    }

    /// The next morsel of range `r`, if any is left.
    fn take(&self, r: usize) -> Option<usize> {
        let (next, end) = self.ranges.get(r)?;
        let morsel = next.fetch_add(1, Ordering::Relaxed);
        (morsel < *end).then_some(morsel)
    }
}

/// The rows of morsel `morsel` of `source` through `operators`, None if none
/// are left.
pub fn read_through(
    source: &dyn Source,
    operators: &[Box<dyn Operator>],
    morsel: usize,
) -> Result<Option<RecordBatch>> {
    let Some(mut batch) = source.read(morsel)? else {
        return Ok(None);
    };
    for op in operators {
        if batch.num_rows() == 0 {
            break;
        }
        batch = op.apply(batch)?;
    }
    Ok((batch.num_rows() > 0).then_some(batch))
}

/// Runs `source` through `operators` into `sink` on the current rayon pool (a
/// source of one morsel on the calling thread alone).
///
/// Every worker of the pool takes morsels (see [`MorselRanges`]) into its one
/// sink state until none are left (or a worker fails); then the
/// states are merged pairwise. One state per worker, not per split of a parallel
/// iterator: each state of an aggregation can hold every group, so more states
/// than workers would only multiply the merging.
pub fn run<S: Sink>(
    source: &dyn Source,
    operators: &[Box<dyn Operator>],
    sink: &S,
) -> Result<Vec<RecordBatch>> {
    let count = source.morsel_count();
    let ranges = MorselRanges::new(count, rayon::current_num_threads());
    let failed = AtomicBool::new(false);
    let process = |state: &mut S::State, morsel: usize| -> Result<()> {
        match read_through(source, operators, morsel)? {
            Some(batch) => sink.consume(state, morsel, batch),
            None => Ok(()),
        }
    };
    if count <= 1 {
        // One morsel: on this thread, without waking the other workers.
        let mut state = sink.init();
        if count == 1 {
            process(&mut state, 0)?;
        }
        return sink.finish(state);
    }
    let states = rayon::broadcast(|ctx| {
        let mut state = sink.init();
        let mut mine = true;
        while !failed.load(Ordering::Relaxed) {
            // This worker's own range first, then what is left of the others'.
            let morsel = if mine { ranges.take(ctx.index()) } else { None };
            let morsel = match morsel {
                Some(m) => m,
                None => {
                    mine = false;
                    match (0..ranges.len()).find_map(|r| ranges.take(r)) {
                        Some(m) => m,
                        None => break,
                    }
                }
            };
            if let Err(e) = process(&mut state, morsel) {
                failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(state)
    });
    let states = states.into_iter().collect::<Result<Vec<_>>>()?;
    sink.merge_and_finish(states)
}
