//! The rows a recursive CTE with UNION has produced so far, to keep only new
//! ones: each row in Arrow's row format, in a hash set.

use std::collections::HashSet;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};

use crate::error::Result;

pub struct Seen {
    converter: RowConverter,
    rows: HashSet<Vec<u8>>,
}

impl Seen {
    pub fn new(schema: &SchemaRef) -> Result<Seen> {
        let fields = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(Seen {
            converter: RowConverter::new(fields)?,
            rows: HashSet::new(),
        })
    }

    /// The rows of `batches` not seen before (each once), now seen.
    pub fn keep_new(&mut self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        let mut kept = vec![];
        for batch in batches {
            let rows = self.converter.convert_columns(batch.columns())?;
            let mask: BooleanArray = rows
                .iter()
                .map(|r| Some(self.rows.insert(r.as_ref().to_vec())))
                .collect();
            let new = filter_record_batch(&batch, &mask)?;
            if new.num_rows() > 0 {
                kept.push(new);
            }
        }
        Ok(kept)
    }
}
