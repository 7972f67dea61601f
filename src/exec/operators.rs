//! The streaming operators: σ filter and π projection, one batch at a time.

use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;

use super::expr::{evaluate, filter_batch};
use super::pipeline::Operator;
use crate::error::Result;
use crate::plan::Expr;

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
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &options,
    )?)
}
