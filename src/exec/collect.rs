//! The collecting sink: keeps every batch with its morsel number and returns them
//! in morsel order, so that a parallel scan still yields rows in table order.

use arrow::array::RecordBatch;

use super::pipeline::Sink;
use crate::error::Result;

pub struct CollectSink;

impl Sink for CollectSink {
    type State = Vec<(usize, RecordBatch)>;

    fn init(&self) -> Self::State {
        vec![]
    }

    fn consume(&self, state: &mut Self::State, morsel: usize, batch: RecordBatch) -> Result<()> {
        state.push((morsel, batch));
        Ok(())
    }

    fn merge(&self, mut a: Self::State, b: Self::State) -> Result<Self::State> {
        a.extend(b);
        Ok(a)
    }

    fn finish(&self, mut state: Self::State) -> Result<Vec<RecordBatch>> {
        state.sort_by_key(|(morsel, _)| *morsel);
        Ok(state.into_iter().map(|(_, b)| b).collect())
    }
}
