//! A hash join whose build side does not fit: the Grace hash join.
//!
//! The right (build) input is collected in memory while the pool stays within
//! [`BUILD_SHARE`] of its limit. Past it, the rows collected and all that
//! follow are written to [`PARTITIONS`] spill files by a hash of their join
//! keys; the left (probe) input is then written the same way, its keys cast to
//! the right keys' types so that equal keys land in the same partition (a new
//! file of a partition every [`ROWS_PER_FILE`] rows). Rows with equal keys
//! meet only within a partition, so each is joined alone: its right rows are
//! built into a table when the first of its left files is read, every left
//! file of it is probed as one morsel, and the last one to finish adds the
//! right rows the join kind returns (unmatched ones for right and full joins,
//! the matched or unmatched ones for right semi and anti joins) and drops the
//! table. Only the tables of the partitions being probed are in memory, each
//! about a sixteenth of the build side.
//!
//! A join without equality keys (a cross product) and `NOT IN` (whose answer
//! depends on the whole build side having a NULL key) are not partitioned:
//! they fail with an out-of-memory error past the limit, as before.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};

use super::collect::Buffered;
use super::expr::evaluate;
use super::hash_join::{one_batch, JoinProbe, JoinTable};
use super::memory::MemoryPool;
use super::pipeline::{run, Operator, Sink, Source};
use super::sources::MORSEL_ROWS;
use super::spill::{PartitionWriters, SpillFile, PARTITIONS};
use super::Pipeline;
use crate::error::{Error, Result};
use crate::plan::{Expr, JoinKind};

/// A join's build side stays in memory while the pool holds at most this
/// share of its limit (the table built over it takes about as much again).
pub const BUILD_SHARE: f64 = 0.4;

/// The seed of the hash that partitions both inputs of a join.
const JOIN_SEED: u64 = 0x6a6f_696e;

/// The probe rows per spill file: a morsel of the partitioned join.
const ROWS_PER_FILE: usize = 4 * MORSEL_ROWS;

/// The rows of one input of a join: in memory, or spilled by partition.
pub enum JoinRows {
    InMemory(Vec<RecordBatch>),
    Spilled(Vec<Vec<SpillFile>>),
}

/// Whether a join of `kind` on `on` can be partitioned.
pub fn can_partition(kind: JoinKind, on: &[(Expr, Expr)]) -> bool {
    !on.is_empty() && kind != JoinKind::NullAwareAnti
}

/// A sink that keeps its batches while the pool stays within `share` of its
/// limit (never, for `None`), then writes them and every later batch to
/// partition files by the hash of `keys` cast to `key_types`.
pub struct PartitionSink {
    keys: Vec<Expr>,
    key_types: Vec<DataType>,
    share: Option<f64>,
    memory: Arc<MemoryPool>,
    /// Set by the first worker that writes to disk: the others follow.
    spilling: AtomicBool,
    files: Mutex<Vec<Vec<SpillFile>>>,
}

/// One worker's batches kept, or the files it writes.
pub struct PartitionState {
    held: Buffered,
    writers: Option<PartitionWriters>,
    files: Vec<Vec<SpillFile>>,
}

impl PartitionSink {
    /// The sink of a join's right input (`keys` over `schema`).
    pub fn build_side(
        keys: Vec<Expr>,
        schema: &SchemaRef,
        memory: &Arc<MemoryPool>,
    ) -> Result<Self> {
        let key_types = key_types(&keys, schema)?;
        Ok(Self::new(keys, key_types, Some(BUILD_SHARE), memory))
    }

    /// The sink of a join's left input, partitioned as its right input
    /// (`right_keys` over `right_schema`) is: at once (`share` None), or past
    /// `share` of the memory limit.
    pub fn probe_side(
        keys: Vec<Expr>,
        right_keys: &[Expr],
        right_schema: &SchemaRef,
        share: Option<f64>,
        memory: &Arc<MemoryPool>,
    ) -> Result<Self> {
        let key_types = key_types(right_keys, right_schema)?;
        Ok(Self::new(keys, key_types, share, memory))
    }

    fn new(
        keys: Vec<Expr>,
        key_types: Vec<DataType>,
        share: Option<f64>,
        memory: &Arc<MemoryPool>,
    ) -> Self {
        PartitionSink {
            keys,
            key_types,
            share,
            memory: memory.clone(),
            spilling: AtomicBool::new(share.is_none()),
            files: Mutex::new(vec![]),
        }
    }

    /// Runs a pipeline into the sink: its rows in memory, or by partition.
    pub fn collect(self, (source, operators): &Pipeline) -> Result<JoinRows> {
        let source = source.as_ref();
        let batches = run(source, operators, &self)?;
        if !self.spilling.load(Ordering::Relaxed) {
            return Ok(JoinRows::InMemory(batches));
        }
        let mut files = self.files.into_inner().unwrap_or_else(|e| e.into_inner());
        files.resize_with(PARTITIONS, Vec::new);
        Ok(JoinRows::Spilled(files))
    }

    /// Runs a pipeline into the sink of a probe side: its rows by partition.
    pub fn partition(self, pipeline: &Pipeline) -> Result<Vec<Vec<SpillFile>>> {
        match self.collect(pipeline)? {
            JoinRows::Spilled(files) => Ok(files),
            JoinRows::InMemory(_) => Err(Error::Execute(
                "internal error: a join's probe side was kept in memory".into(),
            )),
        }
    }

    /// Writes `batch` to `state`'s partition files (opened on first use).
    fn write(&self, state: &mut PartitionState, batch: &RecordBatch) -> Result<()> {
        let writers = state.writers.get_or_insert_with(|| {
            PartitionWriters::new(JOIN_SEED).with_rows_per_file(ROWS_PER_FILE)
        });
        let keys = self
            .keys
            .iter()
            .zip(&self.key_types)
            .map(|(key, to)| {
                let column = evaluate(key, batch)?;
                Ok(match column.data_type() == to {
                    true => column,
                    false => arrow::compute::cast(&column, to)?,
                })
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        writers.write(&self.memory, batch, &keys)
    }

    /// Writes the batches `state` keeps to its files.
    fn spill_held(&self, state: &mut PartitionState) -> Result<()> {
        for batch in state.held.take_batches() {
            self.write(state, &batch)?;
        }
        Ok(())
    }

    /// `state`'s files, all written.
    fn finish_files(&self, mut state: PartitionState) -> Result<Vec<Vec<SpillFile>>> {
        self.spill_held(&mut state)?;
        let mut files = state.files;
        if let Some(writers) = state.writers {
            add_files(&mut files, writers.finish()?);
        }
        Ok(files)
    }
}

/// Adds `more` files to `files`, partition by partition.
fn add_files(files: &mut Vec<Vec<SpillFile>>, more: Vec<Vec<SpillFile>>) {
    files.resize_with(PARTITIONS, Vec::new);
    for (mine, theirs) in files.iter_mut().zip(more) {
        mine.extend(theirs);
    }
}

impl Sink for PartitionSink {
    type State = PartitionState;

    fn init(&self) -> PartitionState {
        PartitionState {
            held: Buffered::new(&self.memory, "a hash join's build side"),
            writers: None,
            files: vec![],
        }
    }

    fn consume(&self, state: &mut PartitionState, morsel: usize, batch: RecordBatch) -> Result<()> {
        let batch = match (self.spilling.load(Ordering::Relaxed), self.share) {
            (false, Some(share)) => match state.held.try_push(morsel, batch, share) {
                None => return Ok(()),
                Some(batch) => batch,
            },
            _ => batch,
        };
        self.spilling.store(true, Ordering::Relaxed);
        self.spill_held(state)?;
        self.write(state, &batch)
    }

    fn merge(&self, mut a: PartitionState, b: PartitionState) -> Result<PartitionState> {
        if !self.spilling.load(Ordering::Relaxed) {
            a.held.append(b.held);
            return Ok(a);
        }
        let files = self.finish_files(b)?;
        add_files(&mut a.files, files);
        Ok(a)
    }

    fn finish(&self, state: PartitionState) -> Result<Vec<RecordBatch>> {
        if !self.spilling.load(Ordering::Relaxed) {
            return Ok(state.held.into_batches());
        }
        let files = self.finish_files(state)?;
        add_files(
            &mut self.files.lock().unwrap_or_else(|e| e.into_inner()),
            files,
        );
        Ok(vec![])
    }
}

/// The types of `keys` over `schema`, dictionaries as their values'.
fn key_types(keys: &[Expr], schema: &SchemaRef) -> Result<Vec<DataType>> {
    let empty = RecordBatch::new_empty(schema.clone());
    keys.iter()
        .map(|k| {
            Ok(match evaluate(k, &empty)?.data_type() {
                DataType::Dictionary(_, value) => value.as_ref().clone(),
                other => other.clone(),
            })
        })
        .collect()
}

/// What a partitioned join needs to join one partition.
pub struct JoinSpec {
    pub kind: JoinKind,
    pub left_keys: Vec<Expr>,
    pub right_keys: Vec<Expr>,
    pub filter: Option<Expr>,
    pub left_schema: SchemaRef,
    pub right_schema: SchemaRef,
    /// The join's output.
    pub schema: SchemaRef,
}

/// The source of a partitioned join's rows: one morsel per left file (and one
/// for a partition with no left rows whose right rows come out unmatched).
pub struct PartitionedJoin {
    spec: JoinSpec,
    memory: Arc<MemoryPool>,
    partitions: Vec<Mutex<Partition>>,
    /// The partition and left file of each morsel.
    morsels: Vec<(usize, Mutex<Option<SpillFile>>)>,
}

/// One partition's right rows, then their table while its left files are probed.
struct Partition {
    right: Vec<SpillFile>,
    table: Option<Arc<JoinTable>>,
    /// The morsels of the partition not yet done.
    morsels_left: usize,
}

impl PartitionedJoin {
    pub fn new(
        spec: JoinSpec,
        right: Vec<Vec<SpillFile>>,
        left: Vec<Vec<SpillFile>>,
        memory: &Arc<MemoryPool>,
    ) -> PartitionedJoin {
        let right_rows_out = matches!(
            spec.kind,
            JoinKind::Right | JoinKind::Full | JoinKind::RightAnti
        );
        let left_rows_out = matches!(spec.kind, JoinKind::Left | JoinKind::Full | JoinKind::Anti);
        let mut partitions = vec![];
        let mut morsels = vec![];
        for (p, (right, left)) in right.into_iter().zip(left).enumerate() {
            // A partition without rows on one side gives rows only where the
            // join keeps unmatched rows of the other.
            let files: Vec<Option<SpillFile>> = match (right.is_empty(), left.is_empty()) {
                (_, false) if !right.is_empty() || left_rows_out => {
                    left.into_iter().map(Some).collect()
                }
                (false, true) if right_rows_out => vec![None],
                _ => vec![],
            };
            partitions.push(Mutex::new(Partition {
                right,
                table: None,
                morsels_left: files.len(),
            }));
            morsels.extend(files.into_iter().map(|f| (p, Mutex::new(f))));
        }
        PartitionedJoin {
            spec,
            memory: memory.clone(),
            partitions,
            morsels,
        }
    }

    /// Partition `p`'s table, built on first use.
    fn table(&self, p: usize) -> Result<Arc<JoinTable>> {
        let mut partition = self.partitions[p].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(table) = &partition.table {
            return Ok(table.clone());
        }
        let batches = read_all(std::mem::take(&mut partition.right))?;
        let track_matches = matches!(
            self.spec.kind,
            JoinKind::Right | JoinKind::Full | JoinKind::RightSemi | JoinKind::RightAnti
        );
        let table = JoinTable::build(
            &self.spec.right_schema,
            &batches,
            &self.spec.right_keys,
            track_matches,
        )?
        .held(
            self.memory
                .reservation("a hash join's build side (one partition)"),
        )?;
        let table = Arc::new(table);
        partition.table = Some(table.clone());
        Ok(table)
    }

    /// Marks one morsel of partition `p` done; the table if it was the last.
    fn done(&self, p: usize) -> Option<Arc<JoinTable>> {
        let mut partition = self.partitions[p].lock().unwrap_or_else(|e| e.into_inner());
        partition.morsels_left -= 1;
        match partition.morsels_left {
            0 => partition.table.take(),
            _ => None,
        }
    }
}

/// The batches of `files`, in order.
fn read_all(files: Vec<SpillFile>) -> Result<Vec<RecordBatch>> {
    let mut batches = vec![];
    for file in files {
        for batch in file.read()? {
            batches.push(batch?);
        }
    }
    Ok(batches)
}

impl Source for PartitionedJoin {
    fn morsel_count(&self) -> usize {
        self.morsels.len()
    }

    fn read(&self, morsel: usize) -> Result<Option<RecordBatch>> {
        let (p, file) = &self.morsels[morsel];
        let file = file.lock().unwrap_or_else(|e| e.into_inner()).take();
        let table = self.table(*p)?;
        let spec = &self.spec;
        let mut out = vec![];
        if let Some(file) = file {
            let left = read_all(vec![file])?;
            let left = arrow::compute::concat_batches(&spec.left_schema, &left)?;
            let probe = JoinProbe {
                table: table.clone(),
                kind: spec.kind,
                left_keys: spec.left_keys.clone(),
                filter: spec.filter.clone(),
                schema: spec.schema.clone(),
            };
            out.push(probe.apply(left)?);
        }
        drop(table);
        if let Some(table) = self.done(*p) {
            out.extend(table.rows_after_probes(spec.kind, &spec.left_schema, &spec.schema)?);
        }
        one_batch(out)
    }
}
