//! The streaming operators: σ filter and π projection, one batch at a time.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::expr::{evaluate, filter_batch};
use super::pipeline::Operator;
use crate::error::Result;
use crate::plan::Expr;
use crate::storage::reader::batch_typed_as_columns;

/// Keeps the rows for which the predicate is true (NULL counts as false).
pub struct FilterOp {
    pub predicate: Expr,
}

impl Operator for FilterOp {
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        filter_batch(&batch, &self.predicate)
    }
}

/// Computes one output column per expression.
pub struct ProjectOp {
    pub exprs: Vec<Expr>,
    pub schema: SchemaRef,
}

impl Operator for ProjectOp {
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        project_batch(&batch, &self.exprs, &self.schema)
    }
}

/// Evaluates `exprs` over `batch` into a batch of `schema`.
pub fn project_batch(
    batch: &RecordBatch,
    exprs: &[Expr],
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let columns = exprs
        .iter()
        .map(|e| evaluate(e, batch))
        .collect::<Result<Vec<_>>>()?;
    // Strings passed on dictionary-encoded (see ScanSource::keeping_encoded)
    // keep their type.
    batch_typed_as_columns(schema, columns, batch.num_rows())
}
