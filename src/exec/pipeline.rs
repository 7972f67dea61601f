//! Morsel-driven pipelines: a source split into morsels, a chain of streaming
//! operators, and a sink.
//!
//! `run` hands the morsels to rayon; each worker folds the morsels it takes into
//! its own sink state (no locks on the hot path), and the per-worker states are
//! merged pairwise at the end. No operator knows about threads: sources only read
//! one morsel, operators only transform one batch, sinks only consume and merge.

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

/// Runs `source` through `operators` into `sink` on the current rayon pool.
pub fn run<S: Sink>(
    source: &dyn Source,
    operators: &[Box<dyn Operator>],
    sink: &S,
) -> Result<Vec<RecordBatch>> {
    let state = (0..source.morsel_count())
        .into_par_iter()
        .with_max_len(1)
        .try_fold(
            || sink.init(),
            |mut state, morsel| {
                if let Some(mut batch) = source.read(morsel)? {
                    for op in operators {
                        if batch.num_rows() == 0 {
                            break;
                        }
                        batch = op.apply(batch)?;
                    }
                    if batch.num_rows() > 0 {
                        sink.consume(&mut state, morsel, batch)?;
                    }
                }
                Ok(state)
            },
        )
        .try_reduce(|| sink.init(), |a, b| sink.merge(a, b))?;
    sink.finish(state)
}
