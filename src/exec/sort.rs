//! τ sort: each worker collects its batches; at the end they are concatenated and
//! sorted with Arrow's lexicographic sort (a partial sort when only the first
//! `fetch` rows are needed, as under ORDER BY ... LIMIT).

use arrow::array::RecordBatch;
use arrow::compute::{
    concat_batches, lexsort_to_indices, take_record_batch, SortColumn, SortOptions,
};
use arrow::datatypes::SchemaRef;

use super::expr::evaluate;
use super::pipeline::Sink;
use crate::error::Result;
use crate::plan::SortKey;

pub struct SortSink {
    pub keys: Vec<SortKey>,
    pub fetch: Option<usize>,
    pub schema: SchemaRef,
}

impl Sink for SortSink {
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
        let batch = concat_batches(&self.schema, &state)?;
        if batch.num_rows() == 0 {
            return Ok(vec![]);
        }
        let columns = self
            .keys
            .iter()
            .map(|k| {
                Ok(SortColumn {
                    values: evaluate(&k.expr, &batch)?,
                    options: Some(SortOptions {
                        descending: !k.ascending,
                        nulls_first: k.nulls_first,
                    }),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let indices = lexsort_to_indices(&columns, self.fetch)?;
        Ok(vec![take_record_batch(&batch, &indices)?])
    }
}
