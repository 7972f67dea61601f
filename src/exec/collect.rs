//! The collecting sink: keeps every batch with its morsel number and returns them
//! in morsel order, so that a parallel scan still yields rows in table order.
//! The batches kept count against the memory limit ([`Buffered`]).

use std::sync::Arc;

use arrow::array::RecordBatch;

use super::memory::{batch_size, MemoryPool, Reservation};
use super::pipeline::Sink;
use crate::error::Result;

pub struct CollectSink {
    pub memory: Arc<MemoryPool>,
}

impl Sink for CollectSink {
    type State = Buffered;

    fn init(&self) -> Self::State {
        Buffered::new(&self.memory, "collecting rows")
    }

    fn consume(&self, state: &mut Self::State, morsel: usize, batch: RecordBatch) -> Result<()> {
        state.push(morsel, batch)
    }

    fn merge(&self, mut a: Self::State, b: Self::State) -> Result<Self::State> {
        a.append(b);
        Ok(a)
    }

    fn finish(&self, state: Self::State) -> Result<Vec<RecordBatch>> {
        Ok(state.into_batches())
    }
}

/// Batches kept with the numbers of the morsels they came from, their bytes
/// held from the memory pool (a batch past the limit is an out-of-memory
/// error).
pub struct Buffered {
    batches: Vec<(usize, RecordBatch)>,
    memory: Reservation,
}

impl Buffered {
    /// An empty buffer; `what` names it in an out-of-memory error.
    pub fn new(pool: &Arc<MemoryPool>, what: &'static str) -> Buffered {
        Buffered {
            batches: vec![],
            memory: pool.reservation(what),
        }
    }

    pub fn push(&mut self, morsel: usize, batch: RecordBatch) -> Result<()> {
        self.memory.grow_by_batches(std::slice::from_ref(&batch))?;
        self.batches.push((morsel, batch));
        Ok(())
    }

    /// Keeps `batch` if the pool then stays within `share` of its limit;
    /// otherwise gives it back.
    pub fn try_push(
        &mut self,
        morsel: usize,
        batch: RecordBatch,
        share: f64,
    ) -> Option<RecordBatch> {
        let size = self.memory.size() + batch_size(&batch);
        if !self.memory.try_resize(size, share) {
            return Some(batch);
        }
        self.batches.push((morsel, batch));
        None
    }

    /// Takes over `other`'s batches and the bytes they hold.
    pub fn append(&mut self, other: Buffered) {
        self.batches.extend(other.batches);
        self.memory.absorb(other.memory);
    }

    /// The batches in morsel order (their bytes given back).
    pub fn into_batches(mut self) -> Vec<RecordBatch> {
        self.take_batches()
    }

    /// Takes out the batches, in morsel order (their bytes given back).
    pub fn take_batches(&mut self) -> Vec<RecordBatch> {
        self.memory.try_resize(0, 1.0);
        self.batches.sort_by_key(|(morsel, _)| *morsel);
        std::mem::take(&mut self.batches)
            .into_iter()
            .map(|(_, b)| b)
            .collect()
    }
}
