//! The executor: turns a logical plan into pipelines and runs them.
//!
//! A pipeline is a source (table scan, or batches in memory), the streaming
//! operators above it (filter, projection), and a sink (collect, sort, aggregate).
//! Nodes that must see all their input before producing output (aggregate, sort,
//! limit, union) end a pipeline; their output becomes the source of the next.
//! Pipelines run on the context's rayon pool, morsel by morsel.

mod aggregate;
mod collect;
pub mod expr;
mod operators;
mod pipeline;
mod sort;
pub mod sources;

use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::compute::concat;

use self::aggregate::AggregateSink;
use self::collect::CollectSink;
use self::operators::{FilterOp, ProjectOp};
use self::pipeline::{run, Operator, Source};
use self::sort::SortSink;
use self::sources::{BatchSource, ScanSource};
use crate::error::Result;
use crate::etl::{self, FileFormat};
use crate::plan::LogicalPlan;
use crate::storage::FileStore;

/// What execution needs besides the plan.
#[derive(Clone)]
pub struct ExecContext {
    pub store: Arc<FileStore>,
    pub pool: Arc<rayon::ThreadPool>,
}

/// Runs `plan` and returns its rows.
pub fn execute(plan: &LogicalPlan, ctx: &ExecContext) -> Result<Vec<RecordBatch>> {
    ctx.pool.install(|| materialize(plan, ctx))
}

/// The whole output of a node.
fn materialize(plan: &LogicalPlan, ctx: &ExecContext) -> Result<Vec<RecordBatch>> {
    match plan {
        LogicalPlan::Aggregate {
            input,
            group,
            aggs,
            schema,
        } => {
            let (source, operators) = pipeline(input, ctx)?;
            let sink = AggregateSink::new(group.clone(), aggs.clone(), schema.clone())?;
            run(source.as_ref(), &operators, &sink)
        }
        LogicalPlan::Sort { input, keys, fetch } => {
            let (source, operators) = pipeline(input, ctx)?;
            let sink = SortSink {
                keys: keys.clone(),
                fetch: *fetch,
                schema: input.schema(),
            };
            run(source.as_ref(), &operators, &sink)
        }
        LogicalPlan::Limit {
            input,
            offset,
            fetch,
        } => {
            let batches = materialize(input, ctx)?;
            Ok(limit(batches, *offset, *fetch))
        }
        LogicalPlan::Union { inputs, .. } => {
            let mut batches = vec![];
            for input in inputs {
                batches.extend(materialize(input, ctx)?);
            }
            Ok(batches)
        }
        _ => {
            let (source, operators) = pipeline(plan, ctx)?;
            run(source.as_ref(), &operators, &CollectSink)
        }
    }
}

type Pipeline = (Box<dyn Source>, Vec<Box<dyn Operator>>);

/// The source and streaming operators that produce `plan`'s rows.
fn pipeline(plan: &LogicalPlan, ctx: &ExecContext) -> Result<Pipeline> {
    Ok(match plan {
        LogicalPlan::Scan {
            table,
            projection,
            filters,
            schema,
        } => (
            Box::new(ScanSource::new(
                table.clone(),
                projection.clone(),
                filters,
                schema.clone(),
                ctx.store.clone(),
            )),
            vec![],
        ),
        LogicalPlan::Filter { input, predicate } => {
            let (source, mut operators) = pipeline(input, ctx)?;
            operators.push(Box::new(FilterOp {
                predicate: predicate.clone(),
            }));
            (source, operators)
        }
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => {
            let (source, mut operators) = pipeline(input, ctx)?;
            operators.push(Box::new(ProjectOp {
                exprs: exprs.clone(),
                schema: schema.clone(),
            }));
            (source, operators)
        }
        LogicalPlan::Values { rows, schema } => {
            let mut batches = vec![];
            for row in rows {
                let one_row = RecordBatch::try_new_with_options(
                    Arc::new(arrow::datatypes::Schema::empty()),
                    vec![],
                    &RecordBatchOptions::new().with_row_count(Some(1)),
                )?;
                batches.push(operators::project_batch(&one_row, row, schema)?);
            }
            let batch = concat_rows(schema, &batches)?;
            (
                Box::new(BatchSource {
                    batches: vec![batch],
                }),
                vec![],
            )
        }
        LogicalPlan::External { source, schema } => {
            let stream = match source.format {
                FileFormat::Csv => etl::scan_csv(&source.path, &source.csv, None)?.1,
                FileFormat::Parquet => etl::scan_parquet(&source.path)?.1,
            };
            let batches = stream
                .map(|b| b.and_then(|b| Ok(b.with_schema(schema.clone())?)))
                .collect::<Result<Vec<_>>>()?;
            (Box::new(BatchSource { batches }), vec![])
        }
        breaker => (
            Box::new(BatchSource {
                batches: materialize(breaker, ctx)?,
            }),
            vec![],
        ),
    })
}

/// One batch holding the rows of `batches` (which may have no columns).
fn concat_rows(
    schema: &arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<RecordBatch> {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let columns = (0..schema.fields().len())
        .map(|i| {
            let parts: Vec<&dyn arrow::array::Array> =
                batches.iter().map(|b| b.column(i).as_ref()).collect();
            Ok(concat(&parts)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

/// Skips `offset` rows, then keeps at most `fetch`.
fn limit(batches: Vec<RecordBatch>, mut offset: usize, fetch: Option<usize>) -> Vec<RecordBatch> {
    let mut remaining = fetch.unwrap_or(usize::MAX);
    let mut out = vec![];
    for batch in batches {
        if remaining == 0 {
            break;
        }
        let n = batch.num_rows();
        if offset >= n {
            offset -= n;
            continue;
        }
        let take = (n - offset).min(remaining);
        out.push(batch.slice(offset, take));
        remaining -= take;
        offset = 0;
    }
    out
}
