//! γ hash aggregation with per-worker partial states.
//!
//! Each worker keeps its own [`KeyTable`] from group key to group number and one
//! accumulator per aggregate, a vector indexed by group number. When two workers'
//! states meet, the smaller table's groups are looked up in the larger one and its
//! accumulators are merged through that mapping. With many groups, the largest
//! state is left as it is instead: the others' keys are looked up in it on all
//! workers, the groups found are merged into it, and the two are finished side
//! by side, the others' groups that were found left out. A global aggregate (no
//! GROUP BY) has exactly one group, even over no rows.
//!
//! Grouping sets (`GROUPING SETS`, `CUBE`, `ROLLUP`) share that one hash table and
//! one pass over the input: the keys of a batch are computed once, then, for each
//! set, encoded with the keys outside the set replaced by NULLs and the set's
//! number appended (so a NULL from the data and a rolled-up key never meet, and a
//! set listed twice has groups of its own), and the rows update the same
//! accumulators. The set number becomes the `#grouping_id` bitmask at the end.
//!
//! Memory: one entry per distinct group per worker, plus, for DISTINCT aggregates,
//! the set of distinct argument values per group.

use std::any::Any;
use std::sync::Arc;

use arrow::array::*;
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::*;

use super::expr::{evaluate, evaluate_predicate};
use super::key_table::{KeyTable, MISSING};
use super::memory::{batch_size, batches_size, vec_size, MemoryPool, Reservation};
use super::pipeline::{merge_pairwise, Sink};
use super::spill::{PartitionWriters, SpillFile, SpillWriter, PARTITIONS};
use crate::buffer_pool::PoolVec;
use crate::error::{Error, Result};
use crate::plan::{AggExpr, AggFunc, Expr};
use crate::types::type_name;
use rayon::prelude::*;

pub struct AggregateSink {
    group: Vec<Expr>,
    aggs: Vec<AggExpr>,
    /// Positions in `group` of each grouping set's keys (None: GROUP BY `group`).
    grouping_sets: Option<Vec<Vec<usize>>>,
    schema: SchemaRef,
    /// The types of the group keys (with the grouping set's number last, for
    /// grouping sets); None for a global aggregate.
    key_types: Option<Vec<DataType>>,
    /// The pool its states are counted in, if they are.
    memory: Option<Arc<MemoryPool>>,
    /// The part of the result written to disk, when it did not fit beside
    /// the rest (see [`AggregateSink::take_spilled_result`]).
    spilled_result: std::sync::Mutex<Vec<SpillFile>>,
}

/// With at least this many groups in all, the workers' states are merged by
/// lookup (see [`AggregateSink::merge_by_lookup`]); fewer are merged pairwise.
const LOOKUP_MERGE_MIN_GROUPS: usize = 1 << 13;

/// Up to this many groups are left out of an output by slicing around them.
const SLICES_MAX: usize = 64;

pub struct AggState {
    /// None for a global aggregate: its one group is number 0.
    groups: Option<KeyTable>,
    accumulators: Vec<Box<dyn Accumulator>>,
    /// The bytes held, when they are counted against the memory limit.
    memory: Option<Reservation>,
    /// The level of spilled rows it aggregates: 0 for the input's rows, 1 for
    /// the rows spilled by those states, and so on.
    level: u32,
    /// Once over its share of memory, the state is frozen: rows of groups it
    /// has still update it, rows of new groups go to these files.
    spill: Option<PartitionWriters>,
}

/// A state that spilled groups are merged into, and its groups that are
/// merged into an earlier one (left out of its output).
struct Target {
    state: AggState,
    absorbed: Vec<u32>,
}

/// The result of a spilled aggregation so far: the batches that fit in
/// memory (their bytes held from the pool), then those written to files.
struct Outputs {
    batches: Vec<RecordBatch>,
    memory: Reservation,
    spilled: Vec<SpillFile>,
    /// The file being written, and its rows so far.
    writing: Option<(SpillWriter, usize)>,
}

/// The share of the memory limit up to which the pool may be filled by the
/// result of a spilled aggregation: the rest goes to disk, leaving room for
/// the states of the spilled partitions still to come.
const RESULT_FRACTION: f64 = 0.5;

/// A spilled result is written in files of about this many rows each.
const RESULT_FILE_ROWS: usize = 1 << 16;

impl Outputs {
    fn add(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        let size = self.memory.size() + batches_size(&batches);
        if self.writing.is_none() && self.memory.try_resize(size, RESULT_FRACTION) {
            self.batches.extend(batches);
            return Ok(());
        }
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let (file, rows) = match &mut self.writing {
                Some(w) => w,
                none => none.insert((SpillWriter::new(self.memory.pool(), &batch.schema())?, 0)),
            };
            file.write(batch)?;
            *rows += batch.num_rows();
            if *rows >= RESULT_FILE_ROWS {
                self.end_file()?;
            }
        }
        Ok(())
    }

    /// Ends the file being written, if any.
    fn end_file(&mut self) -> Result<()> {
        if let Some((file, _)) = self.writing.take() {
            self.spilled.push(file.finish()?);
        }
        Ok(())
    }
}

/// Spilled rows are partitioned again at most this many times (16^8 parts);
/// a state at the last level that is over the limit is an out-of-memory error.
const MAX_SPILL_LEVEL: u32 = 8;

/// The share of the memory limit up to which the pool may be filled while a
/// state of spill level `level` grows: 40% for the input's states (a hash
/// table grows by doubling: one step may take it past its share before it
/// freezes), then half of what is left for each level below, so that the
/// states of every level have room beside those they are merged into.
fn spill_fraction(level: u32) -> f64 {
    1.0 - 0.6 * 0.5f64.powi(level as i32)
}

/// The rows after which a state's bytes are counted again, once the pool is
/// filling up.
const ACCOUNTED_ROWS: usize = 1024;

/// A state of spilled rows may always hold this share of the limit, however
/// full the pool is: each level then aggregates some groups, and the levels
/// below hold ever fewer keys.
const SPILLED_STATE_MIN_SHARE: usize = 32;

impl AggregateSink {
    pub fn new(
        group: Vec<Expr>,
        aggs: Vec<AggExpr>,
        grouping_sets: Option<Vec<Vec<usize>>>,
        schema: SchemaRef,
    ) -> Result<AggregateSink> {
        let key_types = if group.is_empty() && grouping_sets.is_none() {
            None
        } else {
            let mut types: Vec<DataType> = group.iter().map(|g| g.data_type()).collect();
            if grouping_sets.is_some() {
                // The number of the grouping set.
                types.push(DataType::UInt32);
            }
            KeyTable::new(&types)?;
            Some(types)
        };
        // Fail now, not in a worker, if an aggregate has no implementation.
        for a in &aggs {
            new_accumulator(a)?;
        }
        Ok(AggregateSink {
            group,
            aggs,
            grouping_sets,
            schema,
            key_types,
            memory: None,
            spilled_result: Default::default(),
        })
    }

    /// The same aggregation with its states counted in `pool`: a grouped one
    /// spills to disk when they outgrow their share.
    pub fn with_memory(mut self, pool: Arc<MemoryPool>) -> AggregateSink {
        self.memory = Some(pool);
        self
    }

    /// The files of the result rows that did not fit in memory after a run:
    /// they follow the batches the run returned.
    pub fn take_spilled_result(&self) -> Vec<SpillFile> {
        std::mem::take(
            &mut self
                .spilled_result
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// An empty state for rows of spill level `level`.
    fn state_at(&self, level: u32) -> AggState {
        AggState {
            groups: self
                .key_types
                .as_ref()
                .map(|t| KeyTable::new(t).expect("checked in AggregateSink::new")),
            accumulators: self
                .aggs
                .iter()
                .map(|a| new_accumulator(a).expect("checked in AggregateSink::new"))
                .collect(),
            memory: self
                .memory
                .as_ref()
                .map(|pool| pool.reservation("a hash aggregate")),
            level,
            spill: None,
        }
    }

    /// Counts `state`'s bytes against the memory limit. A grouped state past
    /// its share freezes (see [`AggState::spill`]); one that cannot spill, or
    /// is frozen and still grows past the limit, is an out-of-memory error.
    fn account(&self, state: &mut AggState) -> Result<()> {
        let Some(memory) = &mut state.memory else {
            return Ok(());
        };
        let size = state.groups.as_ref().map_or(0, KeyTable::memory_size)
            + state
                .accumulators
                .iter()
                .map(|a| a.memory_size())
                .sum::<usize>();
        let can_spill = self.grouping_sets.is_none()
            && self.key_types.is_some()
            && state.spill.is_none()
            && state.level < MAX_SPILL_LEVEL;
        if !can_spill {
            return memory.resize(size);
        }
        let guaranteed = match state.level {
            0 => 0,
            _ => memory.pool().limit() / SPILLED_STATE_MIN_SHARE,
        };
        if size <= guaranteed {
            memory.force_resize(size);
        } else if !memory.try_resize(size, spill_fraction(state.level)) {
            // The bytes are held already: counted, so that others spill.
            memory.force_resize(size);
            state.spill = Some(PartitionWriters::new(u64::from(state.level) + 1));
        }
        Ok(())
    }

    /// Aggregates `batch` into a frozen state: the rows of its groups update
    /// it, the others are spilled.
    fn consume_frozen(&self, state: &mut AggState, batch: RecordBatch) -> Result<()> {
        let (Some(groups), Some(spill), Some(memory)) =
            (&state.groups, &mut state.spill, &state.memory)
        else {
            return Err(Error::Execute(
                "internal error: a frozen aggregate state without keys".into(),
            ));
        };
        let keys = self
            .group
            .iter()
            .map(|g| evaluate(g, &batch))
            .collect::<Result<Vec<_>>>()?;
        let mut ids = Vec::with_capacity(batch.num_rows());
        groups.lookup_groups(&keys, &mut ids)?;
        let found = BooleanArray::from_iter(ids.iter().map(|&id| Some(id != MISSING)));
        let found_rows = found.true_count();
        if found_rows < batch.num_rows() {
            let new = arrow::compute::not(&found)?;
            let keys = keys
                .iter()
                .map(|k| Ok(arrow::compute::filter(k.as_ref(), &new)?))
                .collect::<Result<Vec<_>>>()?;
            spill.write(memory.pool(), &filter_record_batch(&batch, &new)?, &keys)?;
        }
        if found_rows == 0 {
            return Ok(());
        }
        let batch = match found_rows == batch.num_rows() {
            true => batch,
            false => {
                ids.retain(|&id| id != MISSING);
                filter_record_batch(&batch, &found)?
            }
        };
        let num_groups = groups.len();
        for (acc, agg) in state.accumulators.iter_mut().zip(&self.aggs) {
            let input = AggInput::of(agg, &batch)?;
            acc.update(&input.values, &input.groups(&ids), num_groups)?;
        }
        Ok(())
    }

    /// The result of `states` of which some spilled. Each state, then each
    /// partition of the spilled rows (aggregated into a state of the next
    /// level, which may spill in turn), is merged into the states before it
    /// ([`AggregateSink::absorb`]); a state is finished once every partition
    /// spilled below it is, without the groups merged into earlier ones. No
    /// group is thus output twice: the partitions of one level hold different
    /// keys, and a frozen state's spilled rows are of keys it does not have.
    fn finish_spilled(&self, mut states: Vec<AggState>) -> Result<Vec<RecordBatch>> {
        let mut partitions: Vec<Vec<SpillFile>> = (0..PARTITIONS).map(|_| vec![]).collect();
        let mut targets = vec![];
        states.sort_by_key(|s| std::cmp::Reverse(self.num_groups(s)));
        for mut state in states {
            if let Some(spill) = state.spill.take() {
                for (files, more) in partitions.iter_mut().zip(spill.finish()?) {
                    files.extend(more);
                }
            }
            self.absorb(&mut targets, state)?;
        }
        let Some(pool) = &self.memory else {
            return Err(Error::Execute(
                "internal error: a spilled aggregate without a memory pool".into(),
            ));
        };
        let mut outputs = Outputs {
            batches: vec![],
            memory: pool.reservation("a hash aggregate's result"),
            spilled: vec![],
            writing: None,
        };
        for files in partitions {
            self.drain(&mut targets, files, 1, &mut outputs)?;
        }
        while let Some(target) = targets.pop() {
            outputs.add(self.finish_without(target.state, &target.absorbed)?)?;
        }
        outputs.end_file()?;
        self.spilled_result
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(outputs.spilled);
        Ok(outputs.batches)
    }

    /// Aggregates the rows of `files` (of spill level `level`) into a new
    /// state, merges it into `targets`, drains what it spilled in turn, and
    /// adds its output to `outputs`.
    fn drain(
        &self,
        targets: &mut Vec<Target>,
        files: Vec<SpillFile>,
        level: u32,
        outputs: &mut Outputs,
    ) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let mut state = self.state_at(level);
        for file in files {
            for batch in file.read()? {
                let batch = batch?;
                if batch.num_rows() > 0 {
                    self.consume(&mut state, 0, batch)?;
                }
            }
        }
        let spill = state.spill.take();
        self.absorb(targets, state)?;
        if let Some(spill) = spill {
            for files in spill.finish()? {
                self.drain(targets, files, level + 1, outputs)?;
            }
        }
        let target = targets.pop().expect("pushed by absorb");
        outputs.add(self.finish_without(target.state, &target.absorbed)?)
    }

    /// Merges each group of `state` that a target has into the first such
    /// target, then pushes `state` on top of them.
    fn absorb(&self, targets: &mut Vec<Target>, state: AggState) -> Result<()> {
        let Some(groups) = &state.groups else {
            return Err(Error::Execute(
                "internal error: a spilled aggregate without keys".into(),
            ));
        };
        let mut absorbed = vec![false; groups.len()];
        for target in targets.iter_mut() {
            let Some(target_groups) = &target.state.groups else {
                continue;
            };
            let (mut from, mut into) = (vec![], vec![]);
            for (g, f) in target_groups.find_all_of(groups).into_iter().enumerate() {
                if f != MISSING && !absorbed[g] {
                    absorbed[g] = true;
                    from.push(g as u32);
                    into.push(f);
                }
            }
            if from.is_empty() {
                continue;
            }
            let num_groups = target_groups.len();
            for (acc, other) in target
                .state
                .accumulators
                .iter_mut()
                .zip(&state.accumulators)
            {
                acc.merge(other.as_ref(), &from, &into, num_groups)?;
            }
        }
        let absorbed = (0..absorbed.len() as u32)
            .filter(|&g| absorbed[g as usize])
            .collect();
        targets.push(Target { state, absorbed });
        Ok(())
    }

    /// The key columns of grouping set `set` for `keys` (all group keys of `n`
    /// rows): the keys outside the set NULL, then the set's number.
    fn set_keys(&self, set: usize, keys: &[ArrayRef], n: usize) -> Vec<ArrayRef> {
        let members = &self.grouping_sets.as_ref().expect("grouping sets")[set];
        let mut columns: Vec<ArrayRef> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                if members.contains(&i) {
                    k.clone()
                } else {
                    new_null_array(k.data_type(), n)
                }
            })
            .collect();
        columns.push(Arc::new(UInt32Array::from_value(set as u32, n)));
        columns
    }

    /// The `#grouping_id` of set `set`: a bit per group key, the first key's the
    /// most significant, set when the key is not in the set.
    fn grouping_id(&self, set: usize) -> i64 {
        let members = &self.grouping_sets.as_ref().expect("grouping sets")[set];
        let n = self.group.len();
        (0..n)
            .filter(|i| !members.contains(i))
            .map(|i| 1i64 << (n - 1 - i))
            .sum()
    }

    fn num_groups(&self, state: &AggState) -> usize {
        state.groups.as_ref().map_or(1, KeyTable::len)
    }

    /// The result of the workers' `states` (at least two) of a grouped
    /// aggregate: the groups of the largest state, with the groups that the
    /// others share with it merged in; then the others' other groups. The
    /// others are merged pairwise first; their keys are looked up in the
    /// largest state's table on all workers, and the two states are finished
    /// side by side. Unlike merging into the largest state, no new key is
    /// added to its table, so its keys and accumulators are not copied as they
    /// grow.
    fn merge_by_lookup(&self, mut states: Vec<AggState>) -> Result<Vec<RecordBatch>> {
        let largest = (0..states.len())
            .max_by_key(|&i| self.num_groups(&states[i]))
            .expect("at least two states");
        let mut main = states.swap_remove(largest);
        let rest = states
            .into_par_iter()
            .map(Ok)
            .try_reduce_with(|a, b| self.merge(a, b))
            .expect("at least two states")?;
        let (Some(main_groups), Some(rest_groups)) = (&main.groups, &rest.groups) else {
            return Err(Error::Execute(
                "internal error: a grouped aggregate without keys".into(),
            ));
        };
        let found = main_groups.find_all_of(rest_groups);
        let (from, into): (Vec<u32>, Vec<u32>) = (0..found.len() as u32)
            .zip(found.iter().copied())
            .filter(|&(_, f)| f != MISSING)
            .unzip();
        let num_groups = main_groups.len();
        main.accumulators
            .par_iter_mut()
            .zip(rest.accumulators.par_iter())
            .try_for_each(|(acc, other)| acc.merge(other.as_ref(), &from, &into, num_groups))?;
        let (main_batches, rest_batches) =
            rayon::join(|| self.finish(main), || self.finish_without(rest, &from));
        let mut batches = main_batches?;
        batches.extend(rest_batches?);
        Ok(batches)
    }

    /// The output of `state`'s groups but those numbered `left_out` (in
    /// increasing order). A few are cut out by slicing around them, with no
    /// copy; more are filtered out.
    fn finish_without(&self, state: AggState, left_out: &[u32]) -> Result<Vec<RecordBatch>> {
        let num_groups = self.num_groups(&state);
        if left_out.len() == num_groups {
            return Ok(vec![]);
        }
        let batch = match &self.finish(state)?[..] {
            [batch] => batch.clone(),
            batches => concat_batches(&self.schema, batches)?,
        };
        if left_out.len() > SLICES_MAX {
            let mut keep = vec![true; num_groups];
            for &g in left_out {
                keep[g as usize] = false;
            }
            return Ok(vec![filter_record_batch(
                &batch,
                &BooleanArray::from(keep),
            )?]);
        }
        let mut slices = vec![];
        let mut start = 0;
        for end in left_out.iter().map(|&g| g as usize).chain([num_groups]) {
            if end > start {
                slices.push(batch.slice(start, end - start));
            }
            start = end + 1;
        }
        Ok(slices)
    }
}

impl Sink for AggregateSink {
    type State = AggState;

    fn init(&self) -> AggState {
        self.state_at(0)
    }

    fn consume(&self, state: &mut AggState, _morsel: usize, batch: RecordBatch) -> Result<()> {
        // Where a batch could take the states near their share of memory (a
        // state may grow by a few times the bytes of its input), it goes in
        // slices, each counted: a state then freezes close to its share.
        let near_share = |m: &Reservation| {
            let growth = 4 * batch_size(&batch);
            (m.pool().used() + growth) as f64 > m.pool().limit() as f64 * spill_fraction(0)
        };
        let rows = match &state.memory {
            Some(m) if near_share(m) => ACCOUNTED_ROWS,
            _ => batch.num_rows(),
        };
        for slice in super::slices(batch, rows) {
            match state.spill {
                Some(_) => self.consume_frozen(state, slice)?,
                None => self.consume_in_memory(state, slice)?,
            }
            self.account(state)?;
        }
        Ok(())
    }

    fn merge(&self, a: AggState, b: AggState) -> Result<AggState> {
        if a.spill.is_some() || b.spill.is_some() {
            return Err(Error::Execute(
                "internal error: merging spilled aggregate states pairwise".into(),
            ));
        }
        let (mut big, small) = if self.num_groups(&a) >= self.num_groups(&b) {
            (a, b)
        } else {
            (b, a)
        };
        let mapping = match (&mut big.groups, &small.groups) {
            (Some(big), Some(small)) => big.merge(small),
            _ => vec![0],
        };
        let num_groups = self.num_groups(&big);
        let from: Vec<u32> = (0..mapping.len() as u32).collect();
        for (acc, other) in big.accumulators.iter_mut().zip(&small.accumulators) {
            acc.merge(other.as_ref(), &from, &mapping, num_groups)?;
        }
        // The merged state holds at most about what the two held.
        if let (Some(memory), Some(other)) = (&mut big.memory, small.memory) {
            memory.absorb(other);
        }
        self.account(&mut big)?;
        Ok(big)
    }

    fn merge_and_finish(&self, states: Vec<AggState>) -> Result<Vec<RecordBatch>> {
        if states.iter().any(|s| s.spill.is_some()) {
            return self.finish_spilled(states);
        }
        let groups: usize = states.iter().map(|s| self.num_groups(s)).sum();
        if states.len() < 2
            || self.grouping_sets.is_some()
            || self.key_types.is_none()
            || groups < LOOKUP_MERGE_MIN_GROUPS
        {
            return merge_pairwise(self, states);
        }
        self.merge_by_lookup(states)
    }

    fn finish(&self, state: AggState) -> Result<Vec<RecordBatch>> {
        match state.spill {
            Some(_) => self.finish_spilled(vec![state]),
            None => self.finish_in_memory(state),
        }
    }
}

impl AggregateSink {
    /// Aggregates `batch` into a state that is not frozen.
    fn consume_in_memory(&self, state: &mut AggState, batch: RecordBatch) -> Result<()> {
        if let (Some(sets), Some(groups)) = (&self.grouping_sets, &mut state.groups) {
            let n = batch.num_rows();
            let keys = self
                .group
                .iter()
                .map(|g| evaluate(g, &batch))
                .collect::<Result<Vec<_>>>()?;
            let inputs = self
                .aggs
                .iter()
                .map(|a| AggInput::of(a, &batch))
                .collect::<Result<Vec<_>>>()?;
            let mut ids = Vec::with_capacity(n);
            for set in 0..sets.len() {
                ids.clear();
                groups.intern(&self.set_keys(set, &keys, n), &mut ids)?;
                let num_groups = groups.len();
                for (acc, input) in state.accumulators.iter_mut().zip(&inputs) {
                    acc.update(&input.values, &input.groups(&ids), num_groups)?;
                }
            }
            return Ok(());
        }
        let n = batch.num_rows();
        let group_ids: Vec<u32> = match &mut state.groups {
            None => vec![0; n],
            Some(groups) => {
                let keys = self
                    .group
                    .iter()
                    .map(|g| evaluate(g, &batch))
                    .collect::<Result<Vec<_>>>()?;
                let mut ids = Vec::with_capacity(n);
                groups.intern(&keys, &mut ids)?;
                ids
            }
        };
        let num_groups = self.num_groups(state);
        for (acc, agg) in state.accumulators.iter_mut().zip(&self.aggs) {
            let input = AggInput::of(agg, &batch)?;
            acc.update(&input.values, &input.groups(&group_ids), num_groups)?;
        }
        Ok(())
    }

    /// The output of a state that did not spill.
    fn finish_in_memory(&self, mut state: AggState) -> Result<Vec<RecordBatch>> {
        if let (Some(sets), Some(groups)) = (&self.grouping_sets, &mut state.groups) {
            // An empty grouping set has its one group even when no row came.
            let no_keys: Vec<ArrayRef> = self
                .group
                .iter()
                .map(|g| new_null_array(&g.data_type(), 1))
                .collect();
            for (set, members) in sets.iter().enumerate() {
                if members.is_empty() {
                    groups.intern(&self.set_keys(set, &no_keys, 1), &mut vec![])?;
                }
            }
        }
        let num_groups = self.num_groups(&state);
        let mut columns: Vec<ArrayRef> = vec![];
        let mut grouping_id = None;
        if let Some(groups) = &state.groups {
            columns = groups.columns()?;
            if self.grouping_sets.is_some() {
                let sets = columns.pop().expect("the grouping set column");
                let ids: Int64Array = sets
                    .as_primitive::<UInt32Type>()
                    .values()
                    .iter()
                    .map(|&s| self.grouping_id(s as usize))
                    .collect();
                grouping_id = Some(Arc::new(ids) as ArrayRef);
            }
        }
        for acc in state.accumulators.iter_mut() {
            columns.push(acc.finish(num_groups)?);
        }
        columns.extend(grouping_id);
        let columns = columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(c, f)| super::expr::cast(&c, f.data_type()))
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(num_groups));
        Ok(vec![RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?])
    }
}

/// What one aggregate reads of a batch: its argument, its second argument when
/// that is a column (`covar_pop(y, x)`, `arg_min(a, v)`), and the keys of its
/// ORDER BY (`string_agg`), of the rows its FILTER keeps.
pub(super) struct AggInput {
    pub(super) values: Vec<ArrayRef>,
    /// The rows kept, if a FILTER drops some.
    kept: Option<BooleanArray>,
}

impl AggInput {
    pub(super) fn of(agg: &AggExpr, batch: &RecordBatch) -> Result<AggInput> {
        let mut exprs: Vec<&Expr> = agg.arg.iter().collect();
        if let (true, Some(arg2)) = (agg.func.has_second_column(), &agg.arg2) {
            exprs.push(arg2);
        }
        if agg.func == AggFunc::StringAgg {
            exprs.extend(agg.order_by.iter().map(|k| &k.expr));
        }
        let mut values = exprs
            .into_iter()
            .map(|e| evaluate(e, batch))
            .collect::<Result<Vec<_>>>()?;
        let kept = match &agg.filter {
            Some(f) => {
                let mask = evaluate_predicate(f, batch)?;
                for v in values.iter_mut() {
                    *v = arrow::compute::filter(v.as_ref(), &mask)?;
                }
                Some(mask)
            }
            None => None,
        };
        Ok(AggInput { values, kept })
    }

    /// The group numbers of the rows kept.
    fn groups<'a>(&self, ids: &'a [u32]) -> std::borrow::Cow<'a, [u32]> {
        match &self.kept {
            None => std::borrow::Cow::Borrowed(ids),
            Some(mask) => std::borrow::Cow::Owned(
                ids.iter()
                    .zip(mask.values().iter())
                    .filter(|(_, keep)| *keep)
                    .map(|(&g, _)| g)
                    .collect(),
            ),
        }
    }
}

/// The aggregates `aggs` of rows already numbered by group (`groups[b]`: the
/// group number of each row of `batches[b]`, all below `num_groups`), without
/// a hash table: one array per aggregate, indexed by group number.
pub fn aggregate_numbered(
    batches: &[RecordBatch],
    groups: &[Vec<u32>],
    num_groups: usize,
    aggs: &[AggExpr],
) -> Result<Vec<ArrayRef>> {
    let mut accumulators = aggs
        .iter()
        .map(new_accumulator)
        .collect::<Result<Vec<_>>>()?;
    for (batch, ids) in batches.iter().zip(groups) {
        for (acc, agg) in accumulators.iter_mut().zip(aggs) {
            let input = AggInput::of(agg, batch)?;
            acc.update(&input.values, &input.groups(ids), num_groups)?;
        }
    }
    accumulators
        .iter_mut()
        .map(|acc| acc.finish(num_groups))
        .collect()
}

pub(super) trait Accumulator: Send + Sync {
    /// Adds row i of `values` (the aggregate's inputs: see [`AggInput`]; none
    /// for COUNT(*)) to group `groups[i]`; there are now `num_groups` groups.
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], num_groups: usize) -> Result<()>;
    /// Adds `other`'s group `from[i]` into this one's group `into[i]`, for
    /// each `i` (a group that `other` has not seen adds nothing); there are
    /// now `num_groups` groups.
    fn merge(
        &mut self,
        other: &dyn Accumulator,
        from: &[u32],
        into: &[u32],
        num_groups: usize,
    ) -> Result<()>;
    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef>;
    /// The bytes of the state held (for the memory limit).
    fn memory_size(&self) -> usize;
    fn as_any(&self) -> &dyn Any;
}

pub(super) fn new_accumulator(agg: &AggExpr) -> Result<Box<dyn Accumulator>> {
    if agg.distinct {
        if agg.func.has_second_column() {
            return Err(Error::Unsupported(format!("DISTINCT in {agg}")));
        }
        let arg_type = agg
            .arg
            .as_ref()
            .map(|a| a.data_type())
            .unwrap_or(DataType::Null);
        let agg = agg.clone();
        return Ok(Box::new(DistinctAcc {
            pairs: KeyTable::new(&[DataType::Int64, arg_type])?,
            make_inner: Box::new(move || plain_accumulator(&agg)),
        }));
    }
    plain_accumulator(agg)
}

fn plain_accumulator(agg: &AggExpr) -> Result<Box<dyn Accumulator>> {
    let (func, out) = (agg.func, &agg.data_type);
    let arg_type = agg.arg.as_ref().map(|a| a.data_type());
    let arg = arg_type.as_ref();
    if let Some(acc) = super::accumulators::new(agg)? {
        return Ok(acc);
    }
    let unsupported = || {
        Err(Error::Execute(format!(
            "no {func:?} aggregate for {}",
            arg.map(type_name).unwrap_or_default()
        )))
    };
    Ok(match (func, arg) {
        (AggFunc::CountStar, _) | (AggFunc::Count, _) => Box::new(CountAcc {
            counts: PoolVec::default(),
        }),
        (AggFunc::Sum, Some(DataType::Int64)) => Box::new(SumAcc::<Int64Type>::new(out)),
        (AggFunc::Sum, Some(DataType::Float64)) => Box::new(SumAcc::<Float64Type>::new(out)),
        (AggFunc::Sum, Some(DataType::Decimal128(..))) => {
            Box::new(SumAcc::<Decimal128Type>::new(out))
        }
        (
            AggFunc::Avg,
            Some(
                t @ (DataType::Int32
                | DataType::Int64
                | DataType::Decimal128(..)
                | DataType::Float64),
            ),
        ) => Box::new(AvgAcc {
            input: t.clone(),
            exact: PoolVec::default(),
            float: PoolVec::default(),
            counts: PoolVec::default(),
            bound: 0,
        }),
        (AggFunc::Min | AggFunc::Max, Some(t)) => {
            let min = func == AggFunc::Min;
            match t {
                DataType::Int32 => Box::new(MinMaxAcc::<Int32Type>::new(min, out)),
                DataType::Int64 => Box::new(MinMaxAcc::<Int64Type>::new(min, out)),
                DataType::Float64 => Box::new(MinMaxAcc::<Float64Type>::new(min, out)),
                DataType::Decimal128(..) => Box::new(MinMaxAcc::<Decimal128Type>::new(min, out)),
                DataType::Date32 => Box::new(MinMaxAcc::<Date32Type>::new(min, out)),
                DataType::Timestamp(TimeUnit::Microsecond, None) => {
                    Box::new(MinMaxAcc::<TimestampMicrosecondType>::new(min, out))
                }
                DataType::Utf8 | DataType::Boolean => Box::new(MinMaxGeneric {
                    min,
                    values: vec![],
                    string_bytes: 0,
                    data_type: t.clone(),
                }),
                _ => return unsupported(),
            }
        }
        _ => return unsupported(),
    })
}

pub(super) fn downcast<T: 'static>(other: &dyn Accumulator) -> Result<&T> {
    other
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| Error::Execute("internal error: merging different accumulators".into()))
}

struct CountAcc {
    counts: PoolVec<i64>,
}

impl Accumulator for CountAcc {
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], num_groups: usize) -> Result<()> {
        let values = values.first();
        self.counts.resize(num_groups, 0);
        match values.filter(|v| v.null_count() > 0) {
            None => add_by_group(&mut self.counts, None, groups, groups, |_| 1),
            Some(v) => {
                for (i, &g) in groups.iter().enumerate() {
                    if v.is_valid(i) {
                        self.counts[g as usize] += 1;
                    }
                }
            }
        }
        Ok(())
    }

    fn merge(
        &mut self,
        other: &dyn Accumulator,
        from: &[u32],
        into: &[u32],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<CountAcc>(other)?;
        self.counts.resize(num_groups, 0);
        for (&f, &i) in from.iter().zip(into) {
            self.counts[i as usize] += other.counts.get(f as usize).unwrap_or(&0);
        }
        Ok(())
    }

    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.counts.resize(num_groups, 0);
        let counts = std::mem::take(&mut self.counts).into_buffer();
        Ok(Arc::new(Int64Array::new(counts.into(), None)))
    }

    fn memory_size(&self) -> usize {
        self.counts.memory_size()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Numbers summed with overflow checks (none for floats).
trait Summable: ArrowNativeTypeOp {
    /// At least the absolute value minus one (for integers, the value with
    /// its bits flipped when negative: no carry to wait on, unlike `abs`).
    fn magnitude(self) -> u128;
    /// A sum of values whose magnitudes add up to at most this cannot overflow.
    const SAFE_TOTAL: u128;

    /// [`add_by_group`] of `values`, unchecked, unless adding the batch's
    /// magnitude to `bound` (the sum of the magnitudes of all values added to
    /// `totals` so far) could take a sum past [`Self::SAFE_TOTAL`]: then
    /// nothing is added and the answer is false.
    fn add_unchecked(
        totals: &mut [Self],
        seen: Option<&mut [bool]>,
        groups: &[u32],
        values: &[Self],
        bound: &mut u128,
    ) -> bool {
        add_within(totals, seen, groups, values, bound, Self::SAFE_TOTAL, |v| v)
    }
}

/// [`add_by_group`] of `to_total(values[i])`, unless the batch's magnitude
/// added to `bound` passes `safe` (see [`Summable::add_unchecked`]).
fn add_within<T: ArrowNativeTypeOp, V: Summable>(
    totals: &mut [T],
    seen: Option<&mut [bool]>,
    groups: &[u32],
    values: &[V],
    bound: &mut u128,
    safe: u128,
    to_total: impl Fn(V) -> T,
) -> bool {
    *bound = bound.saturating_add(batch_magnitude(values));
    if *bound > safe {
        return false;
    }
    add_by_group(totals, seen, groups, values, to_total);
    true
}

impl Summable for i64 {
    fn magnitude(self) -> u128 {
        (self ^ (self >> 63)) as u64 as u128
    }
    const SAFE_TOTAL: u128 = i64::MAX as u128;
}

impl Summable for i128 {
    fn magnitude(self) -> u128 {
        (self ^ (self >> 127)) as u128
    }
    const SAFE_TOTAL: u128 = i128::MAX as u128;

    fn add_unchecked(
        totals: &mut [i128],
        seen: Option<&mut [bool]>,
        groups: &[u32],
        values: &[i128],
        bound: &mut u128,
    ) -> bool {
        add_wide_unchecked(totals, seen, groups, values, bound)
    }
}

/// [`Summable::add_unchecked`] of `values` into `i128` totals. With few
/// groups, the lanes of partial totals are `i64`s (half the width to add and
/// store) and the batch's magnitude is the one its buffer was written with
/// (`buffer_pool::bound_of`), or found in the same pass: when it turns
/// out not to fit 64 bits (it seldom does: DECIMAL(15,2) prices fit, batch by
/// batch), the batch is added again in `i128` lanes.
fn add_wide_unchecked<V: Summable + Into<i128>>(
    totals: &mut [i128],
    seen: Option<&mut [bool]>,
    groups: &[u32],
    values: &[V],
    bound: &mut u128,
) -> bool {
    if totals.len() > LANE_GROUPS {
        return add_within(
            totals,
            seen,
            groups,
            values,
            bound,
            i128::SAFE_TOTAL,
            V::into,
        );
    }
    let to_lane = |v: V| v.into() as i64;
    let (lanes, touched, largest) = match crate::buffer_pool::bound_of(values) {
        Some(known) => {
            let (lanes, touched, _) = lanes_by_group(groups, values, to_lane, |_| 0);
            (lanes, touched, known)
        }
        None => lanes_by_group(groups, values, to_lane, V::magnitude),
    };
    let magnitude = largest
        .saturating_add(1)
        .saturating_mul(values.len() as u128);
    *bound = bound.saturating_add(magnitude);
    if *bound > i128::SAFE_TOTAL {
        return false;
    }
    if magnitude <= i64::MAX as u128 {
        add_lanes(totals, seen, &lanes, touched, i128::from);
    } else {
        let (lanes, touched, _) = lanes_by_group(groups, values, V::into, |_| 0);
        add_lanes(totals, seen, &lanes, touched, |l| l);
    }
    true
}

impl Summable for f64 {
    fn magnitude(self) -> u128 {
        0
    }
    const SAFE_TOTAL: u128 = u128::MAX;
}

/// A bound of the largest absolute value among `values` (the one their buffer
/// was written with, if known) times their number: a bound of how much they
/// can add to any sum.
/// (The bitwise OR of the magnitudes, plus one, is at least the largest
/// absolute value, and a fold of ORs has no compare to wait on.)
fn batch_magnitude<N: Summable>(values: &[N]) -> u128 {
    let largest = crate::buffer_pool::bound_of(values)
        .unwrap_or_else(|| values.iter().fold(0, |bits, v| bits | v.magnitude()));
    largest
        .saturating_add(1)
        .saturating_mul(values.len() as u128)
}

/// Up to this many groups, [`add_by_group`] adds in lanes.
const LANE_GROUPS: usize = 64;
const LANES: usize = 4;

/// Adds `to_total(values[i])` to `totals[groups[i]]`, wrapping, and marks the
/// groups in `seen`. With few groups, consecutive rows often belong to the same
/// group, and each add would wait for the previous one's store to the same
/// total; so rows take turns among four lanes of partial totals, which are
/// added up at the end.
fn add_by_group<T: ArrowNativeTypeOp, V: Copy>(
    totals: &mut [T],
    mut seen: Option<&mut [bool]>,
    groups: &[u32],
    values: &[V],
    to_total: impl Fn(V) -> T,
) {
    if totals.len() > LANE_GROUPS {
        for (&g, &v) in groups.iter().zip(values) {
            let total = &mut totals[g as usize];
            *total = total.add_wrapping(to_total(v));
            if let Some(seen) = &mut seen {
                seen[g as usize] = true;
            }
        }
        return;
    }
    let (lanes, touched, _) = lanes_by_group(groups, values, to_total, |_| 0);
    add_lanes(totals, seen, &lanes, touched, |l| l);
}

/// Lanes of partial totals by group (fewer than [`LANE_GROUPS`]) of
/// `to_lane(values[i])` for group `groups[i]`, rows taking turns among the
/// lanes; a bit per group that had a row; and the OR of the values'
/// `magnitude`s (see [`batch_magnitude`]).
fn lanes_by_group<L: ArrowNativeTypeOp, V: Copy>(
    groups: &[u32],
    values: &[V],
    to_lane: impl Fn(V) -> L,
    magnitude: impl Fn(V) -> u128,
) -> ([[L; LANE_GROUPS]; LANES], u64, u128) {
    let mut lanes = [[L::ZERO; LANE_GROUPS]; LANES];
    // One set of bits per lane: no lane waits on another's.
    let mut touched = [0u64; LANES];
    let mut largest = 0;
    let (group_chunks, group_rest) = groups.as_chunks::<LANES>();
    let (value_chunks, value_rest) = values.as_chunks::<LANES>();
    // Group numbers are below LANE_GROUPS (a power of two): masked, they
    // index the lanes without a bounds check.
    let slot = |g: u32| g as usize & (LANE_GROUPS - 1);
    for (gs, vs) in group_chunks.iter().zip(value_chunks) {
        for lane in 0..LANES {
            let g = slot(gs[lane]);
            let total = &mut lanes[lane][g];
            *total = total.add_wrapping(to_lane(vs[lane]));
            touched[lane] |= 1 << g;
            largest |= magnitude(vs[lane]);
        }
    }
    for (&g, &v) in group_rest.iter().zip(value_rest) {
        let g = slot(g);
        let total = &mut lanes[0][g];
        *total = total.add_wrapping(to_lane(v));
        touched[0] |= 1 << g;
        largest |= magnitude(v);
    }
    (lanes, touched.iter().fold(0, |all, t| all | t), largest)
}

/// Adds the lanes' partial totals into `totals`, and marks the groups
/// `touched` in `seen`.
fn add_lanes<T: ArrowNativeTypeOp, L: Copy>(
    totals: &mut [T],
    seen: Option<&mut [bool]>,
    lanes: &[[L; LANE_GROUPS]; LANES],
    touched: u64,
    to_total: impl Fn(L) -> T,
) {
    for lane in lanes {
        for (total, &partial) in totals.iter_mut().zip(lane) {
            *total = total.add_wrapping(to_total(partial));
        }
    }
    if let Some(seen) = seen {
        for (g, seen) in seen.iter_mut().enumerate() {
            *seen |= touched >> g & 1 == 1;
        }
    }
}

/// SUM with overflow checks for integers and decimals; NULL for groups with no
/// values. While the magnitudes of all values added so far sum to less than the
/// type's limit, no group's sum can overflow, and batches are added unchecked.
struct SumAcc<T: ArrowPrimitiveType> {
    sums: PoolVec<T::Native>,
    seen: PoolVec<bool>,
    /// The sum of the magnitudes of every value added (saturating).
    bound: u128,
    out: DataType,
}

impl<T: ArrowPrimitiveType> SumAcc<T>
where
    T::Native: Summable,
{
    fn new(out: &DataType) -> Self {
        SumAcc {
            sums: PoolVec::default(),
            seen: PoolVec::default(),
            bound: 0,
            out: out.clone(),
        }
    }

    fn add(&mut self, g: usize, v: T::Native) -> Result<()> {
        self.sums[g] = self.sums[g]
            .add_checked(v)
            .map_err(|_| Error::Execute("Out of Range Error: overflow in SUM".into()))?;
        self.seen[g] = true;
        Ok(())
    }

    fn resize(&mut self, n: usize) {
        self.sums.resize(n, T::Native::default());
        self.seen.resize(n, false);
    }
}

impl<T: ArrowPrimitiveType> Accumulator for SumAcc<T>
where
    T::Native: Summable,
{
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], num_groups: usize) -> Result<()> {
        let values = values.first();
        self.resize(num_groups);
        let Some(values) = values else { return Ok(()) };
        let values = values.as_primitive::<T>();
        if values.null_count() == 0 {
            let values = values.values();
            let (sums, seen) = (&mut self.sums, Some(&mut self.seen[..]));
            if !T::Native::add_unchecked(sums, seen, groups, values, &mut self.bound) {
                for (&g, &v) in groups.iter().zip(values.iter()) {
                    self.add(g as usize, v)?;
                }
            }
        } else {
            for (&g, v) in groups.iter().zip(values.iter()) {
                if let Some(v) = v {
                    self.add(g as usize, v)?;
                }
            }
        }
        Ok(())
    }

    fn merge(
        &mut self,
        other: &dyn Accumulator,
        from: &[u32],
        into: &[u32],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<SumAcc<T>>(other)?;
        self.resize(num_groups);
        self.bound = self.bound.saturating_add(other.bound);
        for (&f, &i) in from.iter().zip(into) {
            if other.seen.get(f as usize) == Some(&true) {
                self.add(i as usize, other.sums[f as usize])?;
            }
        }
        Ok(())
    }

    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.resize(num_groups);
        let seen = std::mem::take(&mut self.seen);
        let nulls = NullBuffer::from(BooleanBuffer::collect_bool(num_groups, |g| seen[g]));
        let sums = std::mem::take(&mut self.sums).into_buffer();
        let array =
            PrimitiveArray::<T>::new(sums.into(), Some(nulls).filter(|n| n.null_count() > 0));
        Ok(Arc::new(array.with_data_type(self.out.clone())))
    }

    fn memory_size(&self) -> usize {
        self.sums.memory_size() + self.seen.memory_size()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// AVG: integer and decimal sums are kept exactly (i128), then divided as DOUBLE.
struct AvgAcc {
    input: DataType,
    exact: PoolVec<i128>,
    float: PoolVec<f64>,
    counts: PoolVec<i64>,
    /// The sum of the magnitudes of every exact value added (see [`SumAcc`]).
    bound: u128,
}

impl AvgAcc {
    fn resize(&mut self, n: usize) {
        self.exact.resize(n, 0);
        self.float.resize(n, 0.0);
        self.counts.resize(n, 0);
    }

    fn add_exact(&mut self, g: usize, v: i128) -> Result<()> {
        self.exact[g] = self.exact[g]
            .checked_add(v)
            .ok_or_else(|| Error::Execute("Out of Range Error: overflow in AVG".into()))?;
        self.counts[g] += 1;
        Ok(())
    }

    /// Adds exact values (no NULLs), unchecked while no sum can overflow.
    fn add_all_exact<N: Summable + Into<i128>>(
        &mut self,
        groups: &[u32],
        values: &[N],
    ) -> Result<()> {
        if add_wide_unchecked(&mut self.exact, None, groups, values, &mut self.bound) {
            add_by_group(&mut self.counts, None, groups, groups, |_| 1);
            return Ok(());
        }
        for (&g, &v) in groups.iter().zip(values) {
            self.add_exact(g as usize, v.into())?;
        }
        Ok(())
    }
}

impl Accumulator for AvgAcc {
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], num_groups: usize) -> Result<()> {
        let values = values.first();
        self.resize(num_groups);
        let Some(values) = values else { return Ok(()) };
        if values.null_count() == 0 {
            match &self.input {
                DataType::Int64 => {
                    return self.add_all_exact(groups, values.as_primitive::<Int64Type>().values())
                }
                DataType::Decimal128(..) => {
                    return self
                        .add_all_exact(groups, values.as_primitive::<Decimal128Type>().values())
                }
                _ => {}
            }
        }
        match &self.input {
            DataType::Float64 => {
                for (&g, v) in groups
                    .iter()
                    .zip(values.as_primitive::<Float64Type>().iter())
                {
                    if let Some(v) = v {
                        self.float[g as usize] += v;
                        self.counts[g as usize] += 1;
                    }
                }
            }
            DataType::Int32 => {
                for (&g, v) in groups.iter().zip(values.as_primitive::<Int32Type>().iter()) {
                    if let Some(v) = v {
                        self.add_exact(g as usize, v as i128)?;
                    }
                }
            }
            DataType::Int64 => {
                for (&g, v) in groups.iter().zip(values.as_primitive::<Int64Type>().iter()) {
                    if let Some(v) = v {
                        self.add_exact(g as usize, v as i128)?;
                    }
                }
            }
            _ => {
                for (&g, v) in groups
                    .iter()
                    .zip(values.as_primitive::<Decimal128Type>().iter())
                {
                    if let Some(v) = v {
                        self.add_exact(g as usize, v)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn merge(
        &mut self,
        other: &dyn Accumulator,
        from: &[u32],
        into: &[u32],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<AvgAcc>(other)?;
        self.resize(num_groups);
        self.bound = self.bound.saturating_add(other.bound);
        for (&f, &i) in from.iter().zip(into) {
            let (g, t) = (f as usize, i as usize);
            if g >= other.counts.len() {
                continue;
            }
            self.exact[t] = self.exact[t]
                .checked_add(other.exact[g])
                .ok_or_else(|| Error::Execute("Out of Range Error: overflow in AVG".into()))?;
            self.float[t] += other.float[g];
            self.counts[t] += other.counts[g];
        }
        Ok(())
    }

    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.resize(num_groups);
        let scale = match self.input {
            DataType::Decimal128(_, s) => 10i128.pow(s as u32),
            _ => 1,
        };
        let float_input = self.input == DataType::Float64;
        let result: Float64Array = (0..num_groups)
            .map(|g| {
                let n = self.counts[g];
                (n > 0).then(|| {
                    if float_input {
                        self.float[g] / n as f64
                    } else {
                        // One rounding, like DuckDB: sum / (count * 10^scale).
                        crate::types::exact_ratio(self.exact[g], n as i128 * scale)
                    }
                })
            })
            .collect();
        Ok(Arc::new(result))
    }

    fn memory_size(&self) -> usize {
        self.exact.memory_size() + self.float.memory_size() + self.counts.memory_size()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// MIN / MAX over a primitive type, by the type's total order.
struct MinMaxAcc<T: ArrowPrimitiveType> {
    min: bool,
    values: PoolVec<Option<T::Native>>,
    out: DataType,
}

impl<T: ArrowPrimitiveType> MinMaxAcc<T> {
    fn new(min: bool, out: &DataType) -> Self {
        MinMaxAcc {
            min,
            values: PoolVec::default(),
            out: out.clone(),
        }
    }

    fn offer(&mut self, g: usize, v: T::Native) {
        let better = match self.values[g] {
            None => true,
            Some(cur) => {
                let ord = v.compare(cur);
                if self.min {
                    ord.is_lt()
                } else {
                    ord.is_gt()
                }
            }
        };
        if better {
            self.values[g] = Some(v);
        }
    }
}

impl<T: ArrowPrimitiveType> Accumulator for MinMaxAcc<T> {
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], num_groups: usize) -> Result<()> {
        let values = values.first();
        self.values.resize(num_groups, None);
        let Some(values) = values else { return Ok(()) };
        let values = values.as_primitive::<T>();
        if values.null_count() == 0 {
            // One loop per direction: no test of `min` per value.
            let pairs = groups.iter().zip(values.values().iter());
            let slots = &mut self.values;
            if self.min {
                for (&g, &v) in pairs {
                    let slot = &mut slots[g as usize];
                    if slot.is_none_or(|cur| v.compare(cur).is_lt()) {
                        *slot = Some(v);
                    }
                }
            } else {
                for (&g, &v) in pairs {
                    let slot = &mut slots[g as usize];
                    if slot.is_none_or(|cur| v.compare(cur).is_gt()) {
                        *slot = Some(v);
                    }
                }
            }
            return Ok(());
        }
        for (&g, v) in groups.iter().zip(values.iter()) {
            if let Some(v) = v {
                self.offer(g as usize, v);
            }
        }
        Ok(())
    }

    fn merge(
        &mut self,
        other: &dyn Accumulator,
        from: &[u32],
        into: &[u32],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<MinMaxAcc<T>>(other)?;
        self.values.resize(num_groups, None);
        for (&f, &i) in from.iter().zip(into) {
            if let Some(&Some(v)) = other.values.get(f as usize) {
                self.offer(i as usize, v);
            }
        }
        Ok(())
    }

    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.values.resize(num_groups, None);
        let array: PrimitiveArray<T> = self.values.iter().copied().collect();
        Ok(Arc::new(array.with_data_type(self.out.clone())))
    }

    fn memory_size(&self) -> usize {
        self.values.memory_size()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// MIN / MAX over strings and booleans, one owned value per group.
struct MinMaxGeneric {
    min: bool,
    values: Vec<Option<crate::types::ScalarValue>>,
    /// The bytes of the strings among `values`.
    string_bytes: usize,
    data_type: DataType,
}

impl MinMaxGeneric {
    fn offer(&mut self, g: usize, v: crate::types::ScalarValue) {
        let better = match &self.values[g] {
            None => true,
            Some(cur) => match v.partial_cmp_value(cur) {
                Some(ord) if self.min => ord.is_lt(),
                Some(ord) => ord.is_gt(),
                None => false,
            },
        };
        if better {
            let string_bytes = |v: &Option<crate::types::ScalarValue>| match v {
                Some(crate::types::ScalarValue::Utf8(Some(s))) => s.capacity(),
                _ => 0,
            };
            let old = self.values[g].replace(v);
            self.string_bytes =
                self.string_bytes + string_bytes(&self.values[g]) - string_bytes(&old);
        }
    }
}

impl Accumulator for MinMaxGeneric {
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], num_groups: usize) -> Result<()> {
        let values = values.first();
        self.values.resize(num_groups, None);
        let Some(values) = values else { return Ok(()) };
        for (i, &g) in groups.iter().enumerate() {
            if values.is_valid(i) {
                // Compare in place before allocating a value.
                let candidate = crate::types::ScalarValue::try_from_array(values, i)?;
                self.offer(g as usize, candidate);
            }
        }
        Ok(())
    }

    fn merge(
        &mut self,
        other: &dyn Accumulator,
        from: &[u32],
        into: &[u32],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<MinMaxGeneric>(other)?;
        self.values.resize(num_groups, None);
        for (&f, &i) in from.iter().zip(into) {
            if let Some(Some(v)) = other.values.get(f as usize) {
                self.offer(i as usize, v.clone());
            }
        }
        Ok(())
    }

    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.values.resize(num_groups, None);
        let arrays = self
            .values
            .iter()
            .map(|v| match v {
                Some(v) => v.to_array(1),
                None => new_null_array(&self.data_type, 1),
            })
            .collect::<Vec<_>>();
        let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
        if refs.is_empty() {
            return Ok(new_empty_array(&self.data_type));
        }
        Ok(arrow::compute::concat(&refs)?)
    }

    fn memory_size(&self) -> usize {
        vec_size(&self.values) + self.string_bytes
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `agg(DISTINCT x)`: the distinct (group, value) pairs, numbered by a
/// [`KeyTable`] (one hash table for all groups), fed to a plain accumulator at
/// the end. NULL values are left out.
struct DistinctAcc {
    pairs: KeyTable,
    make_inner: Box<dyn Fn() -> Result<Box<dyn Accumulator>> + Send + Sync>,
}

impl DistinctAcc {
    /// The pairs as columns: group (Int64), value.
    fn pair_columns(&self) -> Result<[ArrayRef; 2]> {
        <[ArrayRef; 2]>::try_from(self.pairs.columns()?)
            .map_err(|_| Error::Execute("internal error: distinct pairs".into()))
    }

    /// Adds the pairs (`groups[i]`, `values[i]`) whose value is not NULL.
    fn add(&mut self, groups: impl Iterator<Item = u32>, values: &ArrayRef) -> Result<()> {
        let groups: ArrayRef = Arc::new(Int64Array::from_iter_values(groups.map(i64::from)));
        let mut keys = vec![groups, values.clone()];
        if let Some(valid) = values.logical_nulls() {
            let valid = BooleanArray::new(valid.into_inner(), None);
            for key in keys.iter_mut() {
                *key = arrow::compute::filter(key.as_ref(), &valid)?;
            }
        }
        self.pairs.intern(&keys, &mut vec![])
    }
}

impl Accumulator for DistinctAcc {
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], _num_groups: usize) -> Result<()> {
        let values = values.first();
        match values {
            Some(values) => self.add(groups.iter().copied(), values),
            None => Ok(()),
        }
    }

    fn merge(
        &mut self,
        other: &dyn Accumulator,
        from: &[u32],
        into: &[u32],
        _num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<DistinctAcc>(other)?;
        let [groups, values] = &other.pair_columns()?;
        // Other's groups by number: where each goes here (a window's segment
        // tree merges one group into several).
        let targets = super::accumulators::targets_of(from, into);
        let (mut rows, mut into_groups) = (vec![], vec![]);
        for (r, &g) in groups
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .enumerate()
        {
            for &t in targets.get(g as usize).map_or(&[][..], |t| t.as_slice()) {
                rows.push(r as u32);
                into_groups.push(t);
            }
        }
        let values = arrow::compute::take(values.as_ref(), &UInt32Array::from(rows), None)?;
        self.add(into_groups.into_iter(), &values)
    }

    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef> {
        let [groups, values] = self.pair_columns()?;
        let groups: Vec<u32> = groups
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .map(|&g| g as u32)
            .collect();
        let mut inner = (self.make_inner)()?;
        inner.update(&[values], &groups, num_groups)?;
        inner.finish(num_groups)
    }

    fn memory_size(&self) -> usize {
        self.pairs.memory_size()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds `batches` (each a column of values, with one group per value's
    /// position in `groups`) to `acc`, then finishes its `num_groups` groups.
    fn accumulate(
        mut acc: Box<dyn Accumulator>,
        batches: Vec<ArrayRef>,
        groups: &[u32],
        num_groups: usize,
    ) -> Result<ArrayRef> {
        for values in batches {
            let n = values.len();
            acc.update(&[values], &groups[..n], num_groups)?;
        }
        acc.finish(num_groups)
    }

    #[test]
    fn adding_by_group_in_lanes_matches_one_add_per_row() {
        for num_groups in [1, 3, LANE_GROUPS, LANE_GROUPS + 1, 1000] {
            for rows in [0, 1, 3, 4, 5, 1001] {
                // Runs of groups, some groups never used.
                let groups: Vec<u32> = (0..rows)
                    .map(|i: u32| (i / 3 * 7 % num_groups as u32) & !1)
                    .collect();
                let values: Vec<i64> = (0..rows).map(|i| i as i64 * 31 - 400).collect();
                let mut expected = vec![5i64; num_groups];
                let mut expected_seen = vec![false; num_groups];
                for (&g, &v) in groups.iter().zip(&values) {
                    expected[g as usize] += v;
                    expected_seen[g as usize] = true;
                }
                let mut totals = vec![5i64; num_groups];
                let mut seen = vec![false; num_groups];
                add_by_group(&mut totals, Some(&mut seen), &groups, &values, |v| v);
                assert_eq!(totals, expected, "{num_groups} groups, {rows} rows");
                assert_eq!(seen, expected_seen, "{num_groups} groups, {rows} rows");
                // Into i128 totals, through i64 lanes where the batch allows.
                let wide: Vec<i128> = values.iter().map(|&v| v as i128).collect();
                let mut totals = vec![5i128; num_groups];
                let mut seen = vec![false; num_groups];
                let mut bound = 0;
                let seen_in = Some(&mut seen[..]);
                assert!(i128::add_unchecked(
                    &mut totals,
                    seen_in,
                    &groups,
                    &wide,
                    &mut bound
                ));
                assert!(bound >= wide.iter().map(|v| v.unsigned_abs()).sum::<u128>());
                let expected: Vec<i128> = expected.iter().map(|&t| t as i128).collect();
                assert_eq!(totals, expected, "{num_groups} groups, {rows} rows, i128");
                assert_eq!(
                    seen, expected_seen,
                    "{num_groups} groups, {rows} rows, i128"
                );
            }
        }
    }

    #[test]
    fn batch_magnitudes_bound_every_sum_of_the_batch() {
        let cases: Vec<Vec<i64>> = vec![
            vec![],
            vec![0],
            vec![-1, -1, -1],
            vec![i64::MIN],
            vec![i64::MAX, i64::MIN],
            vec![7, -8, 1 << 40],
        ];
        for values in cases {
            let sum_of_abs: u128 = values.iter().map(|v| v.unsigned_abs() as u128).sum();
            assert!(batch_magnitude(&values) >= sum_of_abs, "{values:?}");
            let wide: Vec<i128> = values.iter().map(|&v| v as i128).collect();
            assert!(batch_magnitude(&wide) >= sum_of_abs, "{values:?}");
        }
        // A batch of i128 values too large for i64 lanes still sums exactly.
        let values = vec![i64::MAX as i128, i64::MAX as i128, -3];
        let mut totals = vec![0i128; 2];
        let mut add = |bound: u128| {
            let mut bound = bound;
            i128::add_unchecked(&mut totals, None, &[0, 0, 1], &values, &mut bound)
        };
        assert!(add(0));
        // One that could overflow its totals adds nothing.
        assert!(!add(i128::MAX as u128 - 5));
        assert_eq!(totals, vec![2 * i64::MAX as i128, -3]);
    }

    /// The accumulator of `func` over a column of type `arg`, giving `out`.
    fn accumulator(func: AggFunc, arg: &DataType, out: &DataType) -> Result<Box<dyn Accumulator>> {
        let column = Expr::column(0, "x", arg.clone());
        plain_accumulator(&AggExpr::new(func, Some(column), out.clone()))
    }

    #[test]
    fn sums_wrap_never_unchecked_sums_only_while_no_overflow_is_possible() {
        let int = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as ArrayRef;
        let sum = || accumulator(AggFunc::Sum, &DataType::Int64, &DataType::Int64);
        // Two large values into two groups: unchecked, and exact.
        let big = i64::MAX / 2;
        let out = accumulate(sum().unwrap(), vec![int(vec![big, big])], &[0, 1], 2).unwrap();
        assert_eq!(out.as_primitive::<Int64Type>().values(), &[big, big]);
        // The same into one group, then more: checked, and the overflow is an error.
        let err = accumulate(
            sum().unwrap(),
            vec![int(vec![big, big]), int(vec![100])],
            &[0, 0],
            1,
        );
        assert!(err.unwrap_err().to_string().contains("overflow"));
        // Decimals near the 128-bit limit.
        let dec = |v: Vec<i128>| {
            Arc::new(
                Decimal128Array::from(v)
                    .with_precision_and_scale(38, 0)
                    .unwrap(),
            ) as ArrayRef
        };
        let t = DataType::Decimal128(38, 0);
        let err = accumulate(
            accumulator(AggFunc::Sum, &t, &t).unwrap(),
            vec![dec(vec![i128::MAX - 5, 10])],
            &[0, 0],
            1,
        );
        assert!(err.unwrap_err().to_string().contains("overflow"));
        // AVG sums BIGINTs in 128 bits: no overflow, exact mean.
        let avg = accumulator(AggFunc::Avg, &DataType::Int64, &DataType::Float64);
        let out = accumulate(
            avg.unwrap(),
            vec![int(vec![i64::MAX, i64::MAX])],
            &[0, 0],
            1,
        )
        .unwrap();
        assert_eq!(out.as_primitive::<Float64Type>().value(0), i64::MAX as f64);
    }

    #[test]
    fn min_and_max_without_nulls() {
        let values = Arc::new(Int32Array::from(vec![5, -3, 9, 9, 0])) as ArrayRef;
        let run = |func| {
            let acc = accumulator(func, &DataType::Int32, &DataType::Int32).unwrap();
            let out = accumulate(acc, vec![values.clone()], &[0, 0, 1, 2, 2], 4).unwrap();
            out.as_primitive::<Int32Type>().iter().collect::<Vec<_>>()
        };
        assert_eq!(run(AggFunc::Min), vec![Some(-3), Some(9), Some(0), None]);
        assert_eq!(run(AggFunc::Max), vec![Some(5), Some(9), Some(9), None]);
    }

    /// `GROUP BY GROUPING SETS ((k), (), ())` with SUM(x) and COUNT(*).
    fn rollup_sink() -> AggregateSink {
        let aggs = vec![
            AggExpr::new(
                AggFunc::Sum,
                Some(Expr::column(1, "x", DataType::Int64)),
                DataType::Int64,
            ),
            AggExpr::new(AggFunc::CountStar, None, DataType::Int64),
        ];
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, true),
            Field::new("sum", DataType::Int64, true),
            Field::new("count", DataType::Int64, true),
            Field::new("#grouping_id", DataType::Int64, true),
        ]));
        let group = vec![Expr::column(0, "k", DataType::Int32)];
        AggregateSink::new(group, aggs, Some(vec![vec![0], vec![], vec![]]), schema).unwrap()
    }

    fn batch(k: Vec<Option<i32>>, x: Vec<i64>) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("k", Arc::new(Int32Array::from(k)) as ArrayRef),
            ("x", Arc::new(Int64Array::from(x)) as ArrayRef),
        ])
        .unwrap()
    }

    /// The output rows as (k, sum, count, grouping id), sorted.
    fn rows(batches: Vec<RecordBatch>) -> Vec<(Option<i32>, Option<i64>, i64, i64)> {
        let mut out = vec![];
        for b in batches {
            let k = b.column(0).as_primitive::<Int32Type>();
            let sum = b.column(1).as_primitive::<Int64Type>();
            let count = b.column(2).as_primitive::<Int64Type>();
            let id = b.column(3).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                out.push((
                    k.is_valid(i).then(|| k.value(i)),
                    sum.is_valid(i).then(|| sum.value(i)),
                    count.value(i),
                    id.value(i),
                ));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn grouping_sets_merge_worker_states() {
        let sink = rollup_sink();
        let mut a = sink.init();
        sink.consume(&mut a, 0, batch(vec![Some(1), None], vec![10, 20]))
            .unwrap();
        let mut b = sink.init();
        sink.consume(&mut b, 1, batch(vec![Some(1), Some(2)], vec![1, 2]))
            .unwrap();
        let merged = sink.merge(sink.init(), sink.merge(a, b).unwrap()).unwrap();
        assert_eq!(
            rows(sink.finish(merged).unwrap()),
            vec![
                // NULL from the data (grouping id 0) and the two global sets (id 1).
                (None, Some(20), 1, 0),
                (None, Some(33), 4, 1),
                (None, Some(33), 4, 1),
                (Some(1), Some(11), 2, 0),
                (Some(2), Some(2), 1, 0),
            ]
        );
    }

    #[test]
    fn empty_grouping_sets_have_a_row_without_input() {
        let sink = rollup_sink();
        let state = sink.merge(sink.init(), sink.init()).unwrap();
        assert_eq!(
            rows(sink.finish(state).unwrap()),
            vec![(None, None, 0, 1), (None, None, 0, 1)]
        );
    }

    /// A sink grouping by the columns `keys` of [`keyed_batch`]'s rows, with
    /// SUM(x), COUNT(*), MIN(x) and COUNT(DISTINCT x).
    fn keyed_sink(keys: &[usize]) -> AggregateSink {
        let fields = [
            Field::new("i", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("d", DataType::Int32, true),
        ];
        let x = Expr::column(3, "x", DataType::Int64);
        let agg = |func, distinct| AggExpr {
            distinct,
            ..AggExpr::new(
                func,
                (func != AggFunc::CountStar).then(|| x.clone()),
                DataType::Int64,
            )
        };
        let aggs = vec![
            agg(AggFunc::Sum, false),
            agg(AggFunc::CountStar, false),
            agg(AggFunc::Min, false),
            agg(AggFunc::Count, true),
        ];
        let mut out: Vec<Field> = keys.iter().map(|&k| fields[k].clone()).collect();
        for name in ["sum", "count", "min", "distinct"] {
            out.push(Field::new(name, DataType::Int64, true));
        }
        let group = keys
            .iter()
            .map(|&k| Expr::column(k, fields[k].name(), fields[k].data_type().clone()))
            .collect();
        AggregateSink::new(group, aggs, None, Arc::new(Schema::new(out))).unwrap()
    }

    /// Rows with keys from `keys` (each key twice): an integer (NULL for
    /// multiples of 1000), a string of it, and its remainder by 7.
    fn keyed_batch(keys: std::ops::Range<i64>) -> RecordBatch {
        let keys = keys.flat_map(|k| [k, k]);
        let i: Int64Array = keys.clone().map(|k| (k % 1000 != 0).then_some(k)).collect();
        let s: StringArray = keys.clone().map(|k| Some(format!("s{k}"))).collect();
        let d: Int32Array = keys.clone().map(|k| Some((k % 7) as i32)).collect();
        let x: Int64Array = keys.map(|k| (k % 3 != 0).then_some(k % 11)).collect();
        RecordBatch::try_from_iter([
            ("i", Arc::new(i) as ArrayRef),
            ("s", Arc::new(s) as ArrayRef),
            ("d", Arc::new(d) as ArrayRef),
            ("x", Arc::new(x) as ArrayRef),
        ])
        .unwrap()
    }

    fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
        let mut rows = vec![];
        for b in batches {
            for r in 0..b.num_rows() {
                let row: Vec<String> = b
                    .columns()
                    .iter()
                    .map(|c| arrow::util::display::array_value_to_string(c, r).unwrap())
                    .collect();
                rows.push(row.join("|"));
            }
        }
        rows.sort();
        rows
    }

    #[test]
    fn merging_by_lookup_matches_merging_pairwise() {
        // Key ranges of workers: overlapping (by many keys, by a few), the
        // same, and disjoint.
        let cases: [&[std::ops::Range<i64>]; 4] = [
            &[0..6000, 4000..10000, 20000..23000],
            &[0..6000, 5990..12000],
            &[0..9000, 0..9000],
            &[0..5000, 5000..10000],
        ];
        // One integer, one string, a pair, and several columns (row format).
        for keys in [&[0][..], &[1], &[0, 2], &[0, 1, 2]] {
            let sink = keyed_sink(keys);
            for ranges in cases {
                let states = || {
                    ranges.iter().map(|r| {
                        let mut state = sink.init();
                        sink.consume(&mut state, 0, keyed_batch(r.clone())).unwrap();
                        state
                    })
                };
                let total: usize = states().map(|s| sink.num_groups(&s)).sum();
                assert!(total >= LOOKUP_MERGE_MIN_GROUPS);
                let by_lookup = sink.merge_and_finish(states().collect()).unwrap();
                let pairwise = merge_pairwise(&sink, states().collect()).unwrap();
                assert_eq!(
                    sorted_rows(&by_lookup),
                    sorted_rows(&pairwise),
                    "{keys:?} {ranges:?}"
                );
            }
        }
    }
}
