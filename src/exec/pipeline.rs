//! Morsel-driven pipelines: a source split into morsels, a chain of streaming
//! operators, and a sink.
//!
//! `run` has every worker of the rayon pool take morsels from a shared counter
//! and fold them into its own sink state (no locks on the hot path); the
//! per-worker states are merged pairwise at the end. No operator knows about threads: sources only read
//! one morsel, operators only transform one batch, sinks only consume and merge.

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
}

/// Runs `source` through `operators` into `sink` on the current rayon pool (a
/// source of one morsel on the calling thread alone).
///
/// Every worker of the pool takes morsels from a shared counter, in order, into
/// its one sink state until none are left (or a worker fails); then the
/// states are merged pairwise. One state per worker, not per split of a parallel
/// iterator: each state of an aggregation can hold every group, so more states
/// than workers would only multiply the merging.
pub fn run<S: Sink>(
    source: &dyn Source,
    operators: &[Box<dyn Operator>],
    sink: &S,
) -> Result<Vec<RecordBatch>> {
    let count = source.morsel_count();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let process = |state: &mut S::State, morsel: usize| -> Result<()> {
        if let Some(mut batch) = source.read(morsel)? {
            for op in operators {
                if batch.num_rows() == 0 {
                    break;
                }
                batch = op.apply(batch)?;
            }
            if batch.num_rows() > 0 {
                sink.consume(state, morsel, batch)?;
            }
        }
        Ok(())
    };
    if count <= 1 {
        // One morsel: on this thread, without waking the other workers.
        let mut state = sink.init();
        if count == 1 {
            process(&mut state, 0)?;
        }
        return sink.finish(state);
    }
    let states = rayon::broadcast(|_| {
        let mut state = sink.init();
        while !failed.load(Ordering::Relaxed) {
            let morsel = next.fetch_add(1, Ordering::Relaxed);
            if morsel >= count {
                break;
            }
            if let Err(e) = process(&mut state, morsel) {
                failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(state)
    });
    let state = states
        .into_par_iter()
        .try_reduce_with(|a, b| sink.merge(a, b))
        .unwrap_or_else(|| Ok(sink.init()))?;
    sink.finish(state)
}
