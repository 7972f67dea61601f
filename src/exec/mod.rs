//! The executor: turns a logical plan into pipelines and runs them.
//!
//! A pipeline is a source (table scan, or batches in memory), the streaming
//! operators above it (filter, projection), and a sink (collect, sort, aggregate).
//! Nodes that must see all their input before producing output (aggregate, sort,
//! limit, union) end a pipeline; their output becomes the source of the next.
//! Pipelines run on the context's rayon pool, morsel by morsel.

mod accumulators;
mod aggregate;
mod collect;
mod decimal;
pub mod expr;
mod functions;
mod grace_join;
mod hash_join;
mod key_table;
mod like;
pub mod memory;
mod operators;
mod pipeline;
mod recursion;
mod reduce;
mod shared;
mod sort;
pub mod sources;
mod spill;
mod window;

use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::concat;
use arrow::datatypes::DataType;

pub use self::aggregate::aggregate_numbered;
use self::aggregate::AggregateSink;
use self::collect::CollectSink;
use self::grace_join::{JoinRows, JoinSpec, PartitionSink, PartitionedJoin};
use self::hash_join::{JoinProbe, JoinTable, RightJoinSource};
use self::operators::{FilterOp, ProjectOp};
use self::pipeline::{run, Operator, Sink, Source};
use self::sort::SortSink;
use self::sources::{BatchSource, KeyRange, ScanSource, SpilledSource};
use self::spill::SpillFile;
use crate::error::{Error, Result};
use crate::etl;
use crate::plan::{AggExpr, Expr, JoinKind, LogicalPlan};
use crate::storage::FileStore;
use crate::types::ScalarValue;

/// What execution needs besides the plan.
#[derive(Clone)]
pub struct ExecContext {
    pub store: Arc<FileStore>,
    pub pool: Arc<rayon::ThreadPool>,
    /// The memory limit and what queries hold of it.
    pub memory: Arc<memory::MemoryPool>,
    /// The rows the last run of each running recursive CTE added, by id.
    pub work_tables: Arc<std::collections::HashMap<usize, Arc<Vec<RecordBatch>>>>,
    /// The aggregates the query computes more than once, and their rows.
    pub shared: Arc<shared::SharedAggregates>,
}

/// A recursive CTE that runs this many times without reaching its end is an
/// error (it may never end).
const MAX_RECURSION: usize = 100_000;

/// Runs `plan` and returns its rows.
pub fn execute(plan: &LogicalPlan, ctx: &ExecContext) -> Result<Vec<RecordBatch>> {
    let ctx = &ExecContext {
        shared: Arc::new(shared::SharedAggregates::of(plan)),
        ..ctx.clone()
    };
    ctx.pool.install(|| {
        let plan = evaluate_subqueries(plan.clone(), ctx)?;
        materialize(&plan, ctx)
    })
}

/// Runs `plan` and hands its rows to `each` in order, a window of
/// [`STREAM_WINDOW`] morsels per worker at a time, so that a result larger
/// than memory (`COPY lineitem TO ...`) is never held whole. (What a node at
/// the top holds, say a sort's rows, it holds as in [`execute`].)
pub fn execute_each(
    plan: &LogicalPlan,
    ctx: &ExecContext,
    each: &mut (dyn FnMut(&RecordBatch) -> Result<()> + Send),
) -> Result<()> {
    let ctx = &ExecContext {
        shared: Arc::new(shared::SharedAggregates::of(plan)),
        ..ctx.clone()
    };
    ctx.pool.install(|| {
        let plan = evaluate_subqueries(plan.clone(), ctx)?;
        let (source, operators) = pipeline(&plan, ctx)?;
        let count = source.morsel_count();
        let window = STREAM_WINDOW * rayon::current_num_threads().max(1);
        for start in (0..count).step_by(window) {
            let morsels = sources::MorselRange {
                source: source.as_ref(),
                start,
                end: count.min(start + window),
            };
            for batch in run(&morsels, &operators, &collect_sink(ctx))? {
                each(&batch)?;
            }
        }
        Ok(())
    })
}

/// The morsels per worker that [`execute_each`] runs before it hands on their
/// rows.
const STREAM_WINDOW: usize = 2;

/// Aggregates rows held in memory on the calling thread: no morsels and no
/// per-worker states to merge, so that many small aggregations (the cuboids of a
/// cube) can run side by side, one per worker.
pub fn aggregate_batches(
    batches: &[RecordBatch],
    group: Vec<Expr>,
    aggs: Vec<AggExpr>,
    schema: arrow::datatypes::SchemaRef,
) -> Result<Vec<RecordBatch>> {
    let sink = AggregateSink::new(group, aggs, None, schema)?;
    let mut state = sink.init();
    for (i, batch) in batches.iter().enumerate() {
        if batch.num_rows() > 0 {
            sink.consume(&mut state, i, batch.clone())?;
        }
    }
    sink.finish(state)
}

/// Numbers the distinct values of a column given in `parts` densely, in order
/// of first appearance (NULL is a value too): each row's number, and the values
/// in number order. A part may be a `DictionaryArray` (strings as stored):
/// then its dictionary is numbered, not every row.
pub fn dense_codes(parts: &[ArrayRef]) -> Result<(Vec<u32>, ArrayRef)> {
    let value_type = |a: &ArrayRef| match a.data_type() {
        DataType::Dictionary(_, value) => value.as_ref().clone(),
        other => other.clone(),
    };
    let data_type = parts.first().map_or(DataType::Null, value_type);
    let mut table = key_table::KeyTable::new(std::slice::from_ref(&data_type))?;
    let mut codes = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        if value_type(part) != data_type {
            return Err(Error::Execute(format!(
                "internal error: numbering values of types {data_type} and {}",
                part.data_type()
            )));
        }
        table.intern(std::slice::from_ref(part), &mut codes)?;
    }
    let values = table
        .columns()?
        .pop()
        .ok_or_else(|| Error::Execute("internal error: a key table without its column".into()))?;
    Ok((codes, values))
}

/// The rows of a plan that only reads a file and picks some of its columns,
/// as a stream read ahead on another thread (so that decoding the file and
/// consuming its rows overlap) without holding all rows at once; None for any
/// other plan. For loading files (CREATE TABLE ... AS SELECT * FROM 'f').
pub fn file_stream(plan: &LogicalPlan) -> Option<Result<etl::BatchStream>> {
    let (source, schema, columns) = match plan {
        LogicalPlan::External { source, schema } => {
            (source, schema.clone(), (0..schema.fields().len()).collect())
        }
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => match input.as_ref() {
            LogicalPlan::External { source, .. } => {
                let columns = exprs
                    .iter()
                    .map(|e| match e {
                        Expr::Column { index, .. } => Some(*index),
                        _ => None,
                    })
                    .collect::<Option<Vec<usize>>>()?;
                (source, schema.clone(), columns)
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(read_file(source).map(|stream| {
        let picked = stream.map(move |batch| {
            let batch = batch?;
            let columns = columns.iter().map(|&c| batch.column(c).clone()).collect();
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        });
        etl::read_ahead(Box::new(picked))
    }))
}

/// The batches of a CSV or Parquet file read by a query.
fn read_file(source: &crate::plan::ExternalSource) -> Result<etl::BatchStream> {
    Ok(etl::scan_files(&source.path, source.format, &source.csv, None)?.1)
}

/// Replaces every (uncorrelated) scalar subquery in the plan by its value,
/// computing each once before the query runs.
fn evaluate_subqueries(plan: LogicalPlan, ctx: &ExecContext) -> Result<LogicalPlan> {
    let plan =
        crate::optimizer::try_map_inputs(plan, &mut |input| evaluate_subqueries(input, ctx))?;
    plan.try_map_expressions(&mut |e| {
        if !e.has_subquery() {
            return Ok(e);
        }
        let mut error = None;
        let e = e.transform_up(&mut |node| match node {
            Expr::ScalarSubquery(q) if error.is_none() => match scalar_value(&q.0, ctx) {
                Ok(v) => Expr::Literal(v),
                Err(err) => {
                    error = Some(err);
                    Expr::ScalarSubquery(q)
                }
            },
            other => other,
        });
        match error {
            Some(err) => Err(err),
            None => Ok(crate::optimizer::fold(e)),
        }
    })
}

/// The value of a subquery used as an expression: NULL for no rows, an error
/// for more than one.
fn scalar_value(plan: &LogicalPlan, ctx: &ExecContext) -> Result<ScalarValue> {
    let plan = evaluate_subqueries(plan.clone(), ctx)?;
    let batches = materialize(&plan, ctx)?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    match rows {
        0 => Ok(ScalarValue::null_of(plan.schema().field(0).data_type())),
        1 => {
            let batch = batches.iter().find(|b| b.num_rows() == 1).expect("one row");
            ScalarValue::try_from_array(batch.column(0), 0)
        }
        _ => Err(Error::Execute(
            "More than one row returned by a subquery used as an expression".into(),
        )),
    }
}

/// The whole output of a node.
fn materialize(plan: &LogicalPlan, ctx: &ExecContext) -> Result<Vec<RecordBatch>> {
    match plan {
        LogicalPlan::Aggregate { .. } => in_memory(run_aggregate(plan, ctx, None)?, ctx),
        LogicalPlan::Sort { input, keys, fetch } => {
            let (source, operators) = pipeline(input, ctx)?;
            let sink = SortSink {
                keys: keys.clone(),
                fetch: *fetch,
                memory: ctx.memory.clone(),
            };
            run(source.as_ref(), &operators, &sink)
        }
        LogicalPlan::Window {
            input,
            partition_by,
            order_by,
            functions,
            schema,
        } => {
            let (source, operators) = pipeline(input, ctx)?;
            let sink = window::WindowSink {
                partition_by: partition_by.clone(),
                order_by: order_by.clone(),
                functions: functions.clone(),
                schema: schema.clone(),
                memory: ctx.memory.clone(),
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
        LogicalPlan::RecursiveCte {
            anchor,
            recursive,
            id,
            distinct,
            schema,
        } => recursive_cte(anchor, recursive, *id, *distinct, schema, ctx),
        LogicalPlan::WorkTable { id, .. } => match ctx.work_tables.get(id) {
            Some(rows) => Ok(rows.as_ref().clone()),
            None => Err(Error::Execute(format!(
                "internal error: the work table of recursive CTE #{id} is missing"
            ))),
        },
        _ => {
            let (source, operators) = pipeline(plan, ctx)?;
            run(source.as_ref(), &operators, &collect_sink(ctx))
        }
    }
}

type Pipeline = (Box<dyn Source>, Vec<Box<dyn Operator>>);

fn collect_sink(ctx: &ExecContext) -> CollectSink {
    CollectSink {
        memory: ctx.memory.clone(),
    }
}

/// `WITH RECURSIVE`: the anchor's rows, then the recursive part's over the
/// rows its last run added, until a run adds none. With `distinct` (UNION),
/// only rows not seen before are added (and seen): a hash table of all rows so
/// far, in Arrow's row format, decides.
fn recursive_cte(
    anchor: &LogicalPlan,
    recursive: &LogicalPlan,
    id: usize,
    distinct: bool,
    schema: &arrow::datatypes::SchemaRef,
    ctx: &ExecContext,
) -> Result<Vec<RecordBatch>> {
    let conform = |batches: Vec<RecordBatch>| -> Result<Vec<RecordBatch>> {
        batches
            .into_iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| Ok(b.with_schema(schema.clone())?))
            .collect()
    };
    let mut seen = match distinct {
        true => Some(recursion::Seen::new(schema)?),
        false => None,
    };
    let mut added = conform(materialize(anchor, ctx)?)?;
    if let Some(seen) = &mut seen {
        added = seen.keep_new(added)?;
    }
    let mut all = added.clone();
    let mut runs = 0;
    while !added.is_empty() {
        runs += 1;
        if runs > MAX_RECURSION {
            return Err(Error::Execute(format!(
                "a recursive CTE did not end after {MAX_RECURSION} iterations"
            )));
        }
        let mut tables = ctx.work_tables.as_ref().clone();
        tables.insert(id, Arc::new(added));
        let inner = ExecContext {
            work_tables: Arc::new(tables),
            ..ctx.clone()
        };
        added = conform(materialize(recursive, &inner)?)?;
        if let Some(seen) = &mut seen {
            added = seen.keep_new(added)?;
        }
        all.extend(added.iter().cloned());
    }
    Ok(all)
}

/// The source and streaming operators that produce `plan`'s rows.
fn pipeline(plan: &LogicalPlan, ctx: &ExecContext) -> Result<Pipeline> {
    pipeline_with(plan, ctx, &[])
}

/// A pipeline whose scan may skip segments outside `ranges` (over `plan`'s output).
fn pipeline_with(plan: &LogicalPlan, ctx: &ExecContext, ranges: &[KeyRange]) -> Result<Pipeline> {
    if let Some(scan) = scan_source(plan, ctx) {
        return Ok((Box::new(scan.with_ranges(ranges)), vec![]));
    }
    Ok(match plan {
        LogicalPlan::Filter { input, predicate } => {
            let (source, mut operators) = pipeline_with(input, ctx, ranges)?;
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
            let below: Vec<KeyRange> = ranges
                .iter()
                .filter_map(|r| match &exprs[r.column] {
                    Expr::Column { index, .. } => Some(KeyRange {
                        column: *index,
                        ..r.clone()
                    }),
                    _ => None,
                })
                .collect();
            let (source, mut operators) = pipeline_with(input, ctx, &below)?;
            operators.push(Box::new(ProjectOp {
                exprs: exprs.clone(),
                schema: schema.clone(),
            }));
            (source, operators)
        }
        LogicalPlan::Join {
            left,
            right,
            kind,
            on,
            ..
        } if !matches!(
            kind,
            JoinKind::Right | JoinKind::Full | JoinKind::RightSemi | JoinKind::RightAnti
        ) =>
        {
            if let Some(group_keys) = reduce::reducible(left, right, *kind, on) {
                // The probe side first: its keys reduce the aggregate that builds
                // (unless it does not fit: then it is partitioned for the join).
                let sink = PartitionSink::probe_side(
                    left_keys(on),
                    &right_keys(on),
                    &right.schema(),
                    Some(grace_join::BUILD_SHARE),
                    &ctx.memory,
                )?;
                let left_batches = match sink.collect(&pipeline(left, ctx)?)? {
                    JoinRows::InMemory(batches) => batches,
                    JoinRows::Spilled(left_files) => {
                        return match join_build(plan, ctx, false)? {
                            JoinBuild::Table(_, probe) => {
                                let source = SpilledSource {
                                    batches: BatchSource::new(vec![]),
                                    files: left_files
                                        .into_iter()
                                        .flatten()
                                        .map(|f| Mutex::new(Some(f)))
                                        .collect(),
                                };
                                Ok((Box::new(source), vec![Box::new(probe)]))
                            }
                            JoinBuild::Spilled(right_files) => {
                                Ok(join_partitions(plan, right_files, left_files, ctx))
                            }
                        };
                    }
                };
                let set = reduce::key_set(&left_batches, &left_keys(on))?;
                let right_batches = materialize_reduced(right, ctx, group_keys, set)?;
                let (_, probe) = join_probe_over(plan, right_batches, false, ctx)?;
                let source = BatchSource::new(left_batches);
                return Ok((Box::new(source), vec![Box::new(probe)]));
            }
            // Ranges on the left columns hold below; an inner or semi join adds the
            // ranges of its build keys (a left row outside them has no partner).
            let nl = left.schema().fields().len();
            let mut below: Vec<KeyRange> =
                ranges.iter().filter(|r| r.column < nl).cloned().collect();
            let (table, probe) = match join_build(plan, ctx, false)? {
                JoinBuild::Table(table, probe) => (table, probe),
                JoinBuild::Spilled(right) => return partitioned_join(plan, right, &below, ctx),
            };
            if matches!(kind, JoinKind::Inner | JoinKind::Semi) {
                below.extend(build_key_ranges(&probe, &table));
            }
            let (source, mut operators) = pipeline_with(left, ctx, &below)?;
            operators.push(Box::new(probe));
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
            let batches = if batches.is_empty() {
                vec![]
            } else {
                vec![concat_rows(schema, &batches)?]
            };
            (Box::new(BatchSource::new(batches)), vec![])
        }
        LogicalPlan::External { source, schema } => {
            let batches = read_file(source)?
                .map(|b| b.and_then(|b| Ok(b.with_schema(schema.clone())?)))
                .collect::<Result<Vec<_>>>()?;
            (Box::new(BatchSource::new(batches)), vec![])
        }
        LogicalPlan::Aggregate { .. } => {
            // Result rows that did not fit in memory are read from disk as
            // their morsels are.
            let (batches, spilled) = run_aggregate(plan, ctx, None)?;
            let source = SpilledSource {
                batches: BatchSource::held(batches, &ctx.memory)?,
                files: spilled.into_iter().map(|f| Mutex::new(Some(f))).collect(),
            };
            (Box::new(source), vec![])
        }
        LogicalPlan::Join {
            kind: JoinKind::Right | JoinKind::Full | JoinKind::RightSemi | JoinKind::RightAnti,
            ..
        } => match join_build(plan, ctx, true)? {
            // Partitioned, the right rows a partition adds follow its probes.
            JoinBuild::Spilled(right) => partitioned_join(plan, right, &[], ctx)?,
            JoinBuild::Table(table, probe) => (right_join_source(plan, table, probe, ctx)?, vec![]),
        },
        breaker => {
            let batches = materialize(breaker, ctx)?;
            (Box::new(BatchSource::held(batches, &ctx.memory)?), vec![])
        }
    })
}

/// The ranges of a join's build keys, on the probe (left) columns they meet: a
/// left row outside them has no partner.
fn build_key_ranges(probe: &JoinProbe, table: &JoinTable) -> Vec<KeyRange> {
    probe
        .left_keys
        .iter()
        .zip(&table.key_ranges)
        .filter_map(|(key, range)| match (key, range) {
            (Expr::Column { index, .. }, Some((min, max))) => Some(KeyRange {
                column: *index,
                min: min.clone(),
                max: max.clone(),
                filter: table.scan_filter.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// A join's right input (an aggregate under projections and filters) computed
/// over only the rows of the aggregate's input whose group keys `keys` are in `set`.
fn materialize_reduced(
    plan: &LogicalPlan,
    ctx: &ExecContext,
    keys: Vec<Expr>,
    set: Arc<key_table::KeyTable>,
) -> Result<Vec<RecordBatch>> {
    match plan {
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => materialize_reduced(input, ctx, keys, set)?
            .iter()
            .map(|b| operators::project_batch(b, exprs, schema))
            .collect(),
        LogicalPlan::Filter { input, predicate } => materialize_reduced(input, ctx, keys, set)?
            .iter()
            .map(|b| expr::filter_batch(b, predicate))
            .collect(),
        LogicalPlan::Aggregate { .. } => {
            let filter = reduce::KeySetFilter::new(keys, set)?;
            in_memory(run_aggregate(plan, ctx, Some(Box::new(filter)))?, ctx)
        }
        _ => materialize(plan, ctx),
    }
}

/// An aggregate's whole result in memory: the rows it spilled read back (an
/// out-of-memory error if they do not fit).
fn in_memory(
    (mut batches, spilled): (Vec<RecordBatch>, Vec<spill::SpillFile>),
    ctx: &ExecContext,
) -> Result<Vec<RecordBatch>> {
    let mut memory = ctx.memory.reservation("a hash aggregate's result");
    for file in spilled {
        let rows = file.read()?.collect::<Result<Vec<_>>>()?;
        memory.grow_by_batches(&rows)?;
        batches.extend(rows);
    }
    Ok(batches)
}

/// Runs an aggregate node, `filter` (if any) applied to its input rows: the
/// result rows in memory, and those written to disk when they did not fit. An
/// aggregate the query repeats runs once ([`shared`]).
fn run_aggregate(
    plan: &LogicalPlan,
    ctx: &ExecContext,
    filter: Option<Box<dyn Operator>>,
) -> Result<(Vec<RecordBatch>, Vec<spill::SpillFile>)> {
    let LogicalPlan::Aggregate {
        input,
        group,
        aggs,
        grouping_sets,
        schema,
    } = plan
    else {
        unreachable!("run_aggregate is called on aggregates")
    };
    // An aggregate computed before in this query: its rows (a filter only
    // drops rows that could not be used).
    let shared = ctx.shared.key(plan);
    if let Some(rows) = shared.as_deref().and_then(|key| ctx.shared.get(key)) {
        return Ok((rows.as_ref().clone(), vec![]));
    }
    let keep = shared.filter(|_| filter.is_none());
    let keys_encoded = match filter {
        None => pipeline_keeping_keys_encoded(input, group, aggs, grouping_sets, ctx)?,
        Some(_) => None,
    };
    let (source, mut operators) = match keys_encoded {
        Some(pipeline) => pipeline,
        None => pipeline(input, ctx)?,
    };
    operators.extend(filter);
    let sink = AggregateSink::new(
        group.clone(),
        aggs.clone(),
        grouping_sets.clone(),
        schema.clone(),
    )?
    .with_memory(ctx.memory.clone());
    let batches = run(source.as_ref(), &operators, &sink)?;
    let spilled = sink.take_spilled_result();
    if let (Some(key), true) = (keep, spilled.is_empty()) {
        ctx.shared.keep(key, &batches, ctx.memory.limit() / 16);
    }
    Ok((batches, spilled))
}

/// For an aggregate whose string group keys are read straight from a scan
/// (directly, or through a projection that only passes them on) and used by
/// nothing else: its input's pipeline with the scan leaving those columns
/// dictionary-encoded where they are stored so, for the key table to number
/// each dictionary entry once instead of hashing every row's string. None for
/// other aggregates, and for keys the key table numbers as rows.
fn pipeline_keeping_keys_encoded(
    input: &LogicalPlan,
    group: &[Expr],
    aggs: &[AggExpr],
    grouping_sets: &Option<Vec<Vec<usize>>>,
    ctx: &ExecContext,
) -> Result<Option<Pipeline>> {
    let types: Vec<DataType> = group.iter().map(|g| g.data_type()).collect();
    if grouping_sets.is_some() || !key_table::KeyTable::numbers_dictionaries(&types) {
        return Ok(None);
    }
    // Columns read by the aggregates' arguments or by key expressions.
    let mut read_otherwise = vec![];
    let computed_keys = group.iter().filter(|g| !matches!(g, Expr::Column { .. }));
    for e in aggs
        .iter()
        .flat_map(AggExpr::expressions)
        .chain(computed_keys)
    {
        e.collect_columns(&mut read_otherwise);
    }
    let keys = group.iter().filter_map(|g| match g {
        Expr::Column {
            index,
            data_type: DataType::Utf8,
            ..
        } if !read_otherwise.contains(index) => Some(*index),
        _ => None,
    });
    let (scan, project, encoded): (&LogicalPlan, Option<&LogicalPlan>, Vec<usize>) = match input {
        LogicalPlan::Scan { .. } => (input, None, keys.collect()),
        LogicalPlan::Project {
            input: scan, exprs, ..
        } if matches!(scan.as_ref(), LogicalPlan::Scan { .. }) => {
            let mut read = vec![];
            for e in exprs {
                e.collect_columns(&mut read);
            }
            let passed_on = |i: usize| match &exprs[i] {
                Expr::Column { index, .. } if read.iter().filter(|&c| c == index).count() == 1 => {
                    Some(*index)
                }
                _ => None,
            };
            (
                scan.as_ref(),
                Some(input),
                keys.filter_map(passed_on).collect(),
            )
        }
        _ => return Ok(None),
    };
    let Some(scan) = scan_source(scan, ctx).filter(|_| !encoded.is_empty()) else {
        return Ok(None);
    };
    let source = scan.keeping_encoded(&encoded);
    let mut operators: Vec<Box<dyn Operator>> = vec![];
    if let Some(LogicalPlan::Project { exprs, schema, .. }) = project {
        operators.push(Box::new(ProjectOp {
            exprs: exprs.clone(),
            schema: schema.clone(),
        }));
    }
    Ok(Some((Box::new(source), operators)))
}

/// The source that reads `plan` if it is a scan.
fn scan_source(plan: &LogicalPlan, ctx: &ExecContext) -> Option<ScanSource> {
    let LogicalPlan::Scan {
        table,
        projection,
        filters,
        schema,
    } = plan
    else {
        return None;
    };
    Some(ScanSource::new(
        table.clone(),
        projection.clone(),
        filters,
        schema.clone(),
        ctx.store.clone(),
    ))
}

/// A join's right input built into a hash table (with the operator that
/// probes it), or partitioned on disk because it did not fit.
enum JoinBuild {
    Table(Arc<JoinTable>, JoinProbe),
    Spilled(Vec<Vec<SpillFile>>),
}

/// Builds the hash table of a join's right input and the operator that probes
/// it, or partitions the input to disk (see [`grace_join`]).
fn join_build(plan: &LogicalPlan, ctx: &ExecContext, track_matches: bool) -> Result<JoinBuild> {
    let LogicalPlan::Join {
        right, kind, on, ..
    } = plan
    else {
        unreachable!("join_build is called on joins")
    };
    let right_batches = if grace_join::can_partition(*kind, on) {
        let sink = PartitionSink::build_side(right_keys(on), &right.schema(), &ctx.memory)?;
        match sink.collect(&pipeline(right, ctx)?)? {
            JoinRows::InMemory(batches) => batches,
            JoinRows::Spilled(files) => return Ok(JoinBuild::Spilled(files)),
        }
    } else {
        materialize(right, ctx)?
    };
    let (table, probe) = join_probe_over(plan, right_batches, track_matches, ctx)?;
    Ok(JoinBuild::Table(table, probe))
}

/// The pipeline of a join whose right rows were partitioned to disk: its left
/// rows (under `ranges`) are partitioned too, and the partitions joined in
/// turn as the morsels of its source.
fn partitioned_join(
    plan: &LogicalPlan,
    right_files: Vec<Vec<SpillFile>>,
    ranges: &[KeyRange],
    ctx: &ExecContext,
) -> Result<Pipeline> {
    let LogicalPlan::Join {
        left, right, on, ..
    } = plan
    else {
        unreachable!("partitioned_join is called on joins")
    };
    let sink = PartitionSink::probe_side(
        left_keys(on),
        &right_keys(on),
        &right.schema(),
        None,
        &ctx.memory,
    )?;
    let left_files = sink.partition(&pipeline_with(left, ctx, ranges)?)?;
    Ok(join_partitions(plan, right_files, left_files, ctx))
}

/// The pipeline that joins the partitions of both inputs of a join in turn.
fn join_partitions(
    plan: &LogicalPlan,
    right_files: Vec<Vec<SpillFile>>,
    left_files: Vec<Vec<SpillFile>>,
    ctx: &ExecContext,
) -> Pipeline {
    let LogicalPlan::Join {
        left,
        right,
        kind,
        on,
        filter,
        schema,
    } = plan
    else {
        unreachable!("join_partitions is called on joins")
    };
    let spec = JoinSpec {
        kind: *kind,
        left_keys: left_keys(on),
        right_keys: right_keys(on),
        filter: filter.clone(),
        left_schema: left.schema(),
        right_schema: right.schema(),
        schema: schema.clone(),
    };
    let source = PartitionedJoin::new(spec, right_files, left_files, &ctx.memory);
    (Box::new(source), vec![])
}

/// The left input's expressions of a join's keys.
fn left_keys(on: &[(Expr, Expr)]) -> Vec<Expr> {
    on.iter().map(|(l, _)| l.clone()).collect()
}

/// The right input's expressions of a join's keys.
fn right_keys(on: &[(Expr, Expr)]) -> Vec<Expr> {
    on.iter().map(|(_, r)| r.clone()).collect()
}

/// The source of a right, full, right semi or right anti join's rows over the
/// table of its right input (see [`RightJoinSource`]). In a right semi or anti
/// join, left rows outside the build keys' ranges cannot flag any right row.
fn right_join_source(
    plan: &LogicalPlan,
    table: Arc<JoinTable>,
    probe: JoinProbe,
    ctx: &ExecContext,
) -> Result<Box<dyn Source>> {
    let LogicalPlan::Join { left, kind, .. } = plan else {
        unreachable!("right_join_source is called on joins")
    };
    let ranges = match kind {
        JoinKind::RightSemi | JoinKind::RightAnti => build_key_ranges(&probe, &table),
        _ => vec![],
    };
    let left_pipeline = pipeline_with(left, ctx, &ranges)?;
    Ok(Box::new(RightJoinSource::new(
        left_pipeline,
        probe,
        left.schema(),
    )))
}

/// The hash table over `right_batches` (a join's right input) and the operator
/// that probes it.
fn join_probe_over(
    plan: &LogicalPlan,
    right_batches: Vec<RecordBatch>,
    track_matches: bool,
    ctx: &ExecContext,
) -> Result<(Arc<JoinTable>, JoinProbe)> {
    let LogicalPlan::Join {
        right,
        kind,
        on,
        filter,
        schema,
        ..
    } = plan
    else {
        unreachable!("join_probe_over is called on joins")
    };
    let table = JoinTable::build(
        &right.schema(),
        &right_batches,
        &right_keys(on),
        track_matches,
    )?
    .held(ctx.memory.reservation("a hash join's build side"))?;
    let table = Arc::new(table);
    let probe = JoinProbe {
        table: table.clone(),
        kind: *kind,
        left_keys: left_keys(on),
        filter: filter.clone(),
        schema: schema.clone(),
    };
    Ok((table, probe))
}

/// `batch` cut into slices of at most `rows` rows (none if it has no rows).
fn slices(batch: RecordBatch, rows: usize) -> impl Iterator<Item = RecordBatch> {
    let rows = rows.max(1);
    (0..batch.num_rows())
        .step_by(rows)
        .map(move |start| batch.slice(start, rows.min(batch.num_rows() - start)))
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
