//! ⋈ hash join: the right input is built into a hash table, the left input
//! streams through it as an operator of its pipeline.
//!
//! Build: the right input is materialized into one batch, and a counting sort
//! of its row numbers by the slot of their key makes each slot's rows one range
//! of that order, which a probe reads from consecutive memory rather than by
//! following a chain of row numbers across the whole input. The rows themselves
//! stay where they are: a probe gathers the columns of the rows it matched,
//! which costs no more than having moved every row into slot order first.
//!
//! The slot of a key of one integer column whose values have few gaps (at most
//! four slots per row) is the value minus the smallest: the probe indexes an
//! array, with no hashing (a "perfect hash", as TPC-H's dense keys have). With
//! more gaps (at most 256 values of its range per row), the slot is the value's
//! rank among the values present, from a bitmap of them with running counts:
//! no hash table either. Any other key's slot is its number in a [`KeyTable`],
//! looked up only for probe rows whose integer key columns pass their filters
//! (a bitmap of the values present, or for sparser keys of a small build side,
//! of their hashes), so that the many probes a selective build side leaves
//! without a partner skip the hash lookup. Rows with a NULL key never match and
//! are left out (their presence is remembered for NOT IN).
//!
//! Probe: for each left batch, the candidate pairs (left row, right row) with equal
//! keys are gathered, the residual filter is applied to the joined pairs, and the
//! output is built by the join kind: the pairs (inner), plus unmatched left rows with
//! NULLs (left, full), or only the left rows with/without a match (semi, anti).
//! Right rows that found a partner are flagged, so that right and full joins can add
//! the unmatched right rows after the whole left input has been probed.
//!
//! Memory: the right input and its table (about 16 bytes per row plus the keys).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use arrow::array::*;
use arrow::buffer::BooleanBuffer;
use arrow::compute::{concat, take};
use arrow::datatypes::{DataType, Int32Type, Int64Type, SchemaRef};

use super::expr::{evaluate, evaluate_predicate};
use super::key_table::{all_valid, for_each_integer, hash_integer, KeyTable, MISSING};
use super::memory::{batch_size, vec_size, Reservation};
use super::pipeline::{read_through, Operator, Source};
use super::Pipeline;
use crate::buffer_pool::{self, PooledSlice};
use crate::error::Result;
use crate::plan::{Expr, JoinKind};
use crate::types::ScalarValue;
use rayon::prelude::*;

/// The hash table over the right input.
pub struct JoinTable {
    batch: RecordBatch,
    slots: Slots,
    rows: SlotRows,
    has_null_key: bool,
    /// Right rows that matched at least once (right and full joins only).
    matched: Vec<AtomicBool>,
    /// For each key: the smallest and largest right value, for integer and date
    /// keys. A left row outside them cannot match, so scans below may skip
    /// segments whose zone maps lie outside (a runtime filter).
    pub key_ranges: Vec<Option<(ScalarValue, ScalarValue)>>,
    /// For one integer key whose values leave most of their range out: the
    /// set of them (exact or hashed), for a scan below the probe to drop the
    /// rows without a partner before it widens their other columns.
    pub scan_filter: Option<KeyFilter>,
    /// Its bytes, held from the memory pool while it lives.
    memory: Option<Reservation>,
}

/// The right rows of each slot (rows with a NULL key are in none).
enum SlotRows {
    /// Exactly one row per slot, the slot's own number (a dense unique key,
    /// the rows in key order: a dimension table): a probe reads nothing.
    Identity,
    /// At most one row per slot (a unique key): that row, or MISSING. A probe
    /// reads one entry.
    One(Vec<u32>),
    /// Slot `s`'s rows are `order[p]` for `p` in `starts[s]..starts[s + 1]`
    /// (`p` itself where `order` is None).
    Ranges {
        starts: PooledSlice<u32>,
        order: Option<PooledSlice<u32>>,
    },
}

/// How a key finds its slot.
enum Slots {
    /// One integer column: the slot of value `v` is `v - min`.
    Direct { min: i64, max: i64 },
    /// One integer column with more gaps: the slot of a value present is its
    /// rank among the values present (no hash table; see [`RankedValues`]).
    Ranked(RankedValues),
    /// The key's number in the table, looked up only for the rows whose
    /// integer key columns pass their filters (one per column, where it stays
    /// small).
    Hashed(Box<KeyTable>, Vec<Option<KeyFilter>>),
}

/// The values present of one integer key column as a bitmap with, for each
/// 64-bit word, the number of bits set before it: the rank of a value present
/// (how many smaller values are present) is that count plus the bits set below
/// it in its word. A perfect hash of about 3 bits per value of the range, read
/// almost sequentially when probes arrive in key order (clustered data).
struct RankedValues {
    present: Arc<ValueBitmap>,
    ranks: Vec<u32>,
}

impl RankedValues {
    fn new(present: Arc<ValueBitmap>) -> RankedValues {
        let mut ranks = Vec::with_capacity(present.bits.len());
        let mut before = 0u32;
        for word in present.bits.iter() {
            ranks.push(before);
            before += word.count_ones();
        }
        RankedValues { present, ranks }
    }

    /// The number of values present.
    fn len(&self) -> usize {
        self.ranks.last().map_or(0, |&r| r as usize)
            + self
                .present
                .bits
                .last()
                .map_or(0, |w| w.count_ones() as usize)
    }

    /// The rank of `v` if it is present.
    fn rank(&self, v: i64) -> Option<u32> {
        let d = v.wrapping_sub(self.present.min) as u64 as usize;
        let word = *self.present.bits.get(d / 64)?;
        let bit = 1u64 << (d % 64);
        (word & bit != 0).then(|| self.ranks[d / 64] + (word & (bit - 1)).count_ones())
    }
}

/// The set of the build side's values of one integer key column, one bit per
/// value in `[min, min + 64 * bits.len())`: a probe value whose bit is clear
/// has no partner, and is known so without a (cache-missing) hash lookup.
/// Probes arrive in table order, so on clustered keys the bitmap is read
/// almost sequentially.
#[derive(Debug)]
pub(super) struct ValueBitmap {
    min: i64,
    bits: PooledSlice<u64>,
}

/// The most bits a value bitmap may have per build row, and in all (32 MB).
const BITMAP_BITS_PER_ROW: i64 = 256;
const BITMAP_BITS_MAX: i64 = 1 << 28;

impl ValueBitmap {
    /// The most bits of a bitmap of the values of a build side of `rows` rows.
    fn bits_max(rows: usize) -> i64 {
        BITMAP_BITS_MAX.min((rows as i64).max(1024) * BITMAP_BITS_PER_ROW)
    }

    /// The bitmap of `column`'s values within `bounds`, if it has at most
    /// `bits_max` bits.
    fn build(
        column: &ArrayRef,
        (min, max): (i64, i64),
        bits_max: i64,
    ) -> Result<Option<ValueBitmap>> {
        let Some(span) = max.checked_sub(min).and_then(|d| d.checked_add(1)) else {
            return Ok(None);
        };
        if span > bits_max {
            return Ok(None);
        }
        let mut bits = PooledSlice::zeros((span as usize).div_ceil(64));
        for_each_integer(column, |v| {
            if let Some(v) = v {
                let d = (v - min) as usize;
                bits[d / 64] |= 1 << (d % 64);
            }
        })?;
        Ok(Some(ValueBitmap { min, bits }))
    }

    /// The bitmap of the values of `column` (an integer column), if it has
    /// at most `bits_max` bits.
    pub(super) fn of(column: &ArrayRef, bits_max: i64) -> Result<Option<ValueBitmap>> {
        match integer_bounds(column) {
            Some(bounds) => ValueBitmap::build(column, bounds, bits_max),
            None => Ok(None),
        }
    }

    pub(super) fn contains(&self, v: i64) -> bool {
        let d = v.wrapping_sub(self.min) as u64 as usize;
        self.bits
            .get(d / 64)
            .is_some_and(|word| word >> (d % 64) & 1 == 1)
    }
}

/// A filter of the build side's values of one integer key column: a probe
/// value it rejects has no partner.
#[derive(Clone, Debug)]
pub(super) enum KeyFilter {
    /// Exact: one bit per value of the range.
    Values(Arc<ValueBitmap>),
    /// For keys too sparse for that: one bit per hash of the values present.
    Hashes(Arc<HashedBits>),
}

impl KeyFilter {
    pub(super) fn contains(&self, v: i64) -> bool {
        match self {
            KeyFilter::Values(bitmap) => bitmap.contains(v),
            KeyFilter::Hashes(bits) => bits.contains(v),
        }
    }

    /// Whether each value of `column` (an integer column) passes; NULL does not.
    pub(super) fn mask(&self, column: &ArrayRef) -> Result<BooleanArray> {
        if column.null_count() == 0 {
            if let Some(a) = column.as_primitive_opt::<Int64Type>() {
                let v = a.values();
                return Ok(BooleanBuffer::collect_bool(v.len(), |i| self.contains(v[i])).into());
            }
            if let Some(a) = column.as_primitive_opt::<Int32Type>() {
                let v = a.values();
                let pass = |i: usize| self.contains(v[i] as i64);
                return Ok(BooleanBuffer::collect_bool(v.len(), pass).into());
            }
        }
        let pass = passing(std::slice::from_ref(column), &[Some(self.clone())])?;
        Ok(BooleanBuffer::collect_bool(pass.len(), |i| pass[i]).into())
    }
}

/// The bits of the hashes of the build values (a Bloom filter with one hash
/// function): about 16 bits per build row, so that about one probe value in
/// 16 without a partner passes. Kept only while it fits a core's cache, where
/// it rejects a probe faster than a hash lookup finds nothing.
#[derive(Debug)]
pub(super) struct HashedBits {
    /// A hash's bit is its top `64 - shift` bits.
    shift: u32,
    bits: PooledSlice<u64>,
}

const HASHED_BITS_PER_ROW: usize = 16;
const HASHED_BITS_MAX: usize = 1 << 23;

impl HashedBits {
    fn build(column: &ArrayRef, rows: usize) -> Result<Option<HashedBits>> {
        let size = (rows * HASHED_BITS_PER_ROW).max(1024).next_power_of_two();
        if size > HASHED_BITS_MAX {
            return Ok(None);
        }
        let mut filter = HashedBits {
            shift: 64 - size.trailing_zeros(),
            bits: PooledSlice::zeros(size / 64),
        };
        for_each_integer(column, |v| {
            if let Some(v) = v {
                let bit = filter.bit(v);
                filter.bits[bit / 64] |= 1 << (bit % 64);
            }
        })?;
        Ok(Some(filter))
    }

    fn bit(&self, v: i64) -> usize {
        (hash_integer(v) >> self.shift) as usize
    }

    fn contains(&self, v: i64) -> bool {
        let bit = self.bit(v);
        self.bits[bit / 64] >> (bit % 64) & 1 == 1
    }
}

/// The most slots a direct table may have per build row, and in all.
const DIRECT_SLOTS_PER_ROW: i64 = 4;
const DIRECT_SLOTS_MAX: i64 = 1 << 27;

/// The smallest and largest non-NULL value of an integer or date key column
/// (None for other types, or no such value).
fn integer_bounds(column: &ArrayRef) -> Option<(i64, i64)> {
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    for_each_integer(column, |v| {
        if let Some(v) = v {
            min = min.min(v);
            max = max.max(v);
        }
    })
    .ok()?;
    (min <= max).then_some((min, max))
}

/// The bounds of one integer key column, if a direct table over them stays small.
fn direct_range(bounds: &[Option<(i64, i64)>], rows: usize) -> Option<(i64, i64)> {
    let [Some((min, max))] = *bounds else {
        return None;
    };
    let slots = max.checked_sub(min)?.checked_add(1)?;
    (slots <= DIRECT_SLOTS_MAX && slots <= (rows as i64).max(1024) * DIRECT_SLOTS_PER_ROW)
        .then_some((min, max))
}

impl JoinTable {
    pub fn build(
        schema: &SchemaRef,
        batches: &[RecordBatch],
        keys: &[Expr],
        track_matches: bool,
    ) -> Result<JoinTable> {
        let batch = concat_in_parallel(schema, batches)?;
        let key_columns = keys
            .iter()
            .map(|k| evaluate(k, &batch))
            .collect::<Result<Vec<_>>>()?;
        let types: Vec<DataType> = key_columns.iter().map(|k| k.data_type().clone()).collect();
        let rows = batch.num_rows();
        let bounds: Vec<Option<(i64, i64)>> = key_columns.iter().map(integer_bounds).collect();
        let mut scan_filter = None;
        let mut slots = match direct_range(&bounds, rows) {
            Some((min, max)) => Slots::Direct { min, max },
            None => {
                let mut bitmaps = key_columns
                    .iter()
                    .zip(&bounds)
                    .map(|(column, bounds)| match bounds {
                        Some(bounds) => {
                            ValueBitmap::build(column, *bounds, ValueBitmap::bits_max(rows))
                        }
                        None => Ok(None),
                    })
                    .collect::<Result<Vec<_>>>()?;
                match bitmaps.as_mut_slice() {
                    [present @ Some(_)] => {
                        let present = Arc::new(present.take().expect("matched"));
                        scan_filter = Some(KeyFilter::Values(Arc::clone(&present)));
                        Slots::Ranked(RankedValues::new(present))
                    }
                    _ => {
                        let filters = bitmaps
                            .into_iter()
                            .zip(&key_columns)
                            .zip(&bounds)
                            .map(|((bitmap, column), bounds)| match (bitmap, bounds) {
                                (Some(bitmap), _) => Ok(Some(KeyFilter::Values(Arc::new(bitmap)))),
                                (None, Some(_)) => Ok(HashedBits::build(column, rows)?
                                    .map(|bits| KeyFilter::Hashes(Arc::new(bits)))),
                                (None, None) => Ok(None),
                            })
                            .collect::<Result<Vec<_>>>()?;
                        Slots::Hashed(Box::new(KeyTable::new(&types)?), filters)
                    }
                }
            }
        };
        if let (Slots::Hashed(_, filters), [_]) = (&slots, &key_columns[..]) {
            scan_filter = filters[0].clone();
        }
        let mut slot_rows = SlotRows::Ranges {
            starts: PooledSlice::zeros(0),
            order: None,
        };
        let mut has_null_key = false;
        if !keys.is_empty() {
            let mut ids = Vec::with_capacity(rows);
            let slot_count = match &mut slots {
                Slots::Direct { min, max } => {
                    for_each_integer(&key_columns[0], |v| {
                        ids.push(v.map_or(0, |v| (v - *min) as u32))
                    })?;
                    (*max - *min + 1) as usize
                }
                Slots::Ranked(ranked) => {
                    for_each_integer(&key_columns[0], |v| {
                        ids.push(v.and_then(|v| ranked.rank(v)).unwrap_or(0))
                    })?;
                    ranked.len()
                }
                Slots::Hashed(table, _) => {
                    table.intern(&key_columns, &mut ids)?;
                    table.len()
                }
            };
            let valid = all_valid(&key_columns, rows);
            has_null_key = valid.contains(&false);
            let (starts, order) = rows_by_slot(&ids, &valid, slot_count);
            // `starts` has one entry per slot and one for the rows with a NULL key.
            let identity = order.iter().enumerate().all(|(i, &row)| row as usize == i);
            slot_rows = if identity && starts.windows(2).all(|w| w[1] - w[0] == 1) {
                SlotRows::Identity
            } else if starts.windows(2).all(|w| w[1] - w[0] <= 1) {
                SlotRows::One(
                    starts
                        .windows(2)
                        .map(|w| {
                            if w[1] > w[0] {
                                order[w[0] as usize]
                            } else {
                                MISSING
                            }
                        })
                        .collect(),
                )
            } else {
                SlotRows::Ranges {
                    starts,
                    order: (!identity).then_some(order),
                }
            };
        }
        if let (Slots::Direct { min, max }, SlotRows::One(_) | SlotRows::Ranges { .. }) =
            (&slots, &slot_rows)
        {
            // Keys that fill less than half their range filter the probe side.
            if rows < ((max - min) as usize) / 2 {
                scan_filter = ValueBitmap::build(&key_columns[0], (*min, *max), i64::MAX)?
                    .map(|bits| KeyFilter::Values(Arc::new(bits)));
            }
        }
        let key_ranges = key_columns
            .iter()
            .zip(&bounds)
            .map(|(column, bounds)| value_range(column.data_type(), *bounds))
            .collect();
        let matched = if track_matches {
            (0..batch.num_rows())
                .map(|_| AtomicBool::new(false))
                .collect()
        } else {
            vec![]
        };
        Ok(JoinTable {
            batch,
            slots,
            rows: slot_rows,
            has_null_key,
            matched,
            key_ranges,
            scan_filter,
            memory: None,
        })
    }

    /// The table with its bytes held by `memory` (an out-of-memory error if
    /// the pool has not room for them).
    pub fn held(mut self, mut memory: Reservation) -> Result<JoinTable> {
        memory.resize(self.memory_size())?;
        self.memory = Some(memory);
        Ok(self)
    }

    /// The bytes of the build rows and of the structures that find them.
    fn memory_size(&self) -> usize {
        let slots = match &self.slots {
            Slots::Direct { .. } => 0,
            Slots::Ranked(r) => r.present.bits.memory_size() + vec_size(&r.ranks),
            Slots::Hashed(table, _) => table.memory_size(),
        };
        let rows = match &self.rows {
            SlotRows::Identity => 0,
            SlotRows::One(rows) => vec_size(rows),
            SlotRows::Ranges { starts, order } => {
                starts.memory_size() + order.as_ref().map_or(0, PooledSlice::memory_size)
            }
        };
        batch_size(&self.batch) + slots + rows + vec_size(&self.matched)
    }

    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// The right rows that a left row matched (`matched`) or that none did, with
    /// only the right columns (right semi and anti joins).
    pub fn right_rows(&self, matched: bool) -> Result<Option<RecordBatch>> {
        let indices: UInt32Array = (0..self.num_rows() as u32)
            .filter(|&i| self.matched[i as usize].load(Ordering::Relaxed) == matched)
            .collect();
        if indices.is_empty() {
            return Ok(None);
        }
        let columns = self
            .batch
            .columns()
            .iter()
            .map(|c| Ok(take(c, &indices, None)?))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(RecordBatch::try_new(self.batch.schema(), columns)?))
    }

    /// The right rows no left row matched, with NULLs for the left columns.
    pub fn unmatched_right(
        &self,
        left_schema: &SchemaRef,
        schema: &SchemaRef,
    ) -> Result<Option<RecordBatch>> {
        let indices: UInt32Array = (0..self.num_rows() as u32)
            .filter(|&i| !self.matched[i as usize].load(Ordering::Relaxed))
            .collect();
        if indices.is_empty() {
            return Ok(None);
        }
        let mut columns: Vec<ArrayRef> = left_schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), indices.len()))
            .collect();
        for c in self.batch.columns() {
            columns.push(take(c, &indices, None)?);
        }
        Ok(Some(RecordBatch::try_new(schema.clone(), columns)?))
    }

    /// The right rows a join of `kind` adds once every left row has probed
    /// the table: the unmatched ones for right and full joins, the matched
    /// (unmatched) ones for right semi (anti) joins.
    pub fn rows_after_probes(
        &self,
        kind: JoinKind,
        left_schema: &SchemaRef,
        schema: &SchemaRef,
    ) -> Result<Option<RecordBatch>> {
        match kind {
            JoinKind::Right | JoinKind::Full => self.unmatched_right(left_schema, schema),
            JoinKind::RightSemi | JoinKind::RightAnti => {
                self.right_rows(kind == JoinKind::RightSemi)
            }
            _ => Ok(None),
        }
    }
}

/// The rows of a right, full, right semi or right anti join over a table in
/// memory, as a source: each morsel of the left (probe) pipeline is read and
/// probed, and the last morsel to finish adds the table's
/// [`JoinTable::rows_after_probes`]. The rows stream into the next pipeline
/// instead of being collected first.
pub struct RightJoinSource {
    left: Pipeline,
    probe: JoinProbe,
    left_schema: SchemaRef,
    /// The morsels not yet done.
    morsels_left: AtomicUsize,
}

impl RightJoinSource {
    pub fn new(left: Pipeline, probe: JoinProbe, left_schema: SchemaRef) -> RightJoinSource {
        // One morsel at least: the one that adds the right rows.
        let morsels = left.0.morsel_count().max(1);
        RightJoinSource {
            left,
            probe,
            left_schema,
            morsels_left: AtomicUsize::new(morsels),
        }
    }
}

impl Source for RightJoinSource {
    fn morsel_count(&self) -> usize {
        self.left.0.morsel_count().max(1)
    }

    fn read(&self, morsel: usize) -> Result<Option<RecordBatch>> {
        let (source, operators) = &self.left;
        let mut out = vec![];
        if morsel < source.morsel_count() {
            if let Some(batch) = read_through(source.as_ref(), operators, morsel)? {
                out.push(self.probe.apply(batch)?);
            }
        }
        // AcqRel: the last morsel sees the matches every other one flagged.
        if self.morsels_left.fetch_sub(1, Ordering::AcqRel) == 1 {
            let probe = &self.probe;
            out.extend(probe.table.rows_after_probes(
                probe.kind,
                &self.left_schema,
                &probe.schema,
            )?);
        }
        one_batch(out)
    }
}

/// `batches` (of one schema) as one batch, None if they hold no rows.
pub fn one_batch(mut batches: Vec<RecordBatch>) -> Result<Option<RecordBatch>> {
    batches.retain(|b| b.num_rows() > 0);
    match batches.len() {
        0 => Ok(None),
        1 => Ok(batches.pop()),
        _ => Ok(Some(arrow::compute::concat_batches(
            &batches[0].schema(),
            &batches,
        )?)),
    }
}

/// For each row, whether its key columns pass their filters (a NULL passes
/// none).
pub(super) fn passing(keys: &[ArrayRef], filters: &[Option<KeyFilter>]) -> Result<Vec<bool>> {
    let mut pass = vec![true; keys.first().map_or(0, |k| k.len())];
    for (column, filter) in keys.iter().zip(filters) {
        if let Some(filter) = filter {
            let mut row = 0;
            for_each_integer(column, |v| {
                pass[row] &= v.is_some_and(|v| filter.contains(v));
                row += 1;
            })?;
        }
    }
    Ok(pass)
}

/// The rows whose key columns pass their filters (a NULL passes none).
fn rows_passing(keys: &[ArrayRef], filters: &[Option<KeyFilter>]) -> Result<Vec<u32>> {
    let pass = passing(keys, filters)?;
    Ok((0..pass.len() as u32)
        .filter(|&row| pass[row as usize])
        .collect())
}

/// `batches` as one batch, its columns concatenated side by side on the
/// workers (the build side of a join is materialized on one thread).
fn concat_in_parallel(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let columns = (0..schema.fields().len())
        .into_par_iter()
        .map(|c| {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            Ok(match parts.as_slice() {
                [] => new_empty_array(schema.field(c).data_type()),
                [_] => batches[0].column(c).clone(),
                _ => match buffer_pool::concat(&parts) {
                    Some(array) => array?,
                    None => concat(&parts)?,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )?)
}

/// A counting sort of the build rows by slot (`ids[row]`, for the rows with a
/// `valid` key): where each slot's rows start (and, last, where the rows with
/// a NULL key start), and the rows in that order, each slot's in row order.
fn rows_by_slot(
    ids: &[u32],
    valid: &[bool],
    slot_count: usize,
) -> (PooledSlice<u32>, PooledSlice<u32>) {
    let mut starts = PooledSlice::zeros(slot_count + 1);
    for (&id, &valid) in ids.iter().zip(valid) {
        if valid {
            starts[id as usize + 1] += 1;
        }
    }
    for s in 1..starts.len() {
        starts[s] += starts[s - 1];
    }
    let mut next = starts.clone();
    let mut order = PooledSlice::zeros(ids.len());
    for (row, (&id, &valid)) in ids.iter().zip(valid).enumerate() {
        let slot = if valid { id as usize } else { slot_count };
        order[next[slot] as usize] = row as u32;
        next[slot] += 1;
    }
    (starts, order)
}

/// Integer or date key bounds as values of the key's type.
fn value_range(
    data_type: &DataType,
    bounds: Option<(i64, i64)>,
) -> Option<(ScalarValue, ScalarValue)> {
    let (lo, hi) = bounds?;
    let make = |v: i64| match data_type {
        DataType::Int32 => Some(ScalarValue::Int32(Some(v as i32))),
        DataType::Int64 => Some(ScalarValue::Int64(Some(v))),
        DataType::Date32 => Some(ScalarValue::Date32(Some(v as i32))),
        _ => None,
    };
    Some((make(lo)?, make(hi)?))
}

/// Probes left batches against a `JoinTable`.
pub struct JoinProbe {
    pub table: Arc<JoinTable>,
    pub kind: JoinKind,
    pub left_keys: Vec<Expr>,
    pub filter: Option<Expr>,
    pub schema: SchemaRef,
}

impl JoinProbe {
    /// Candidate pairs (left row, right row) with equal keys; all pairs when there
    /// are no keys (a cross product).
    fn candidates(&self, batch: &RecordBatch) -> Result<(Vec<u32>, Vec<u32>, Vec<bool>)> {
        let n = batch.num_rows();
        let (mut left, mut right) = (vec![], vec![]);
        if self.left_keys.is_empty() {
            let m = self.table.num_rows() as u32;
            for i in 0..n as u32 {
                left.extend(std::iter::repeat_n(i, m as usize));
                right.extend(0..m);
            }
            return Ok((left, right, vec![true; n]));
        }
        let keys = self
            .left_keys
            .iter()
            .map(|k| evaluate(k, batch))
            .collect::<Result<Vec<_>>>()?;
        let valid = all_valid(&keys, n);
        let mut ids = Vec::with_capacity(n);
        match &self.table.slots {
            Slots::Direct { min, max } => {
                for_each_integer(&keys[0], |v| {
                    ids.push(match v {
                        Some(v) if v >= *min && v <= *max => (v - min) as u32,
                        _ => MISSING,
                    })
                })?;
            }
            Slots::Ranked(ranked) => {
                for_each_integer(&keys[0], |v| {
                    ids.push(v.and_then(|v| ranked.rank(v)).unwrap_or(MISSING))
                })?;
            }
            Slots::Hashed(table, filters) => {
                if filters.iter().any(Option::is_some) {
                    let passing = rows_passing(&keys, filters)?;
                    if passing.len() == n {
                        table.lookup(&keys, &mut ids)?;
                    } else {
                        let passing = UInt32Array::from(passing);
                        let keys = keys
                            .iter()
                            .map(|k| Ok(take(k, &passing, None)?))
                            .collect::<Result<Vec<_>>>()?;
                        let mut found = Vec::with_capacity(passing.len());
                        table.lookup(&keys, &mut found)?;
                        ids.resize(n, MISSING);
                        for (&row, id) in passing.values().iter().zip(found) {
                            ids[row as usize] = id;
                        }
                    }
                } else {
                    table.lookup(&keys, &mut ids)?;
                }
            }
        }
        match &self.table.rows {
            SlotRows::Identity => {
                for (i, &id) in ids.iter().enumerate() {
                    if id != MISSING {
                        left.push(i as u32);
                        right.push(id);
                    }
                }
            }
            SlotRows::One(row_of_slot) => {
                for (i, &id) in ids.iter().enumerate() {
                    if let Some(&row) = row_of_slot.get(id as usize).filter(|&&r| r != MISSING) {
                        left.push(i as u32);
                        right.push(row);
                    }
                }
            }
            SlotRows::Ranges { starts, order } => {
                for (i, &id) in ids.iter().enumerate() {
                    if id == MISSING {
                        continue;
                    }
                    let rows = starts[id as usize]..starts[id as usize + 1];
                    left.extend(std::iter::repeat_n(i as u32, rows.len()));
                    match order {
                        Some(order) => {
                            right.extend_from_slice(&order[rows.start as usize..rows.end as usize])
                        }
                        None => right.extend(rows),
                    }
                }
            }
        }
        Ok((left, right, valid))
    }

    /// The joined rows for the pairs, and which pairs pass the residual filter.
    fn pairs(
        &self,
        batch: &RecordBatch,
        left: &[u32],
        right: &[u32],
    ) -> Result<(RecordBatch, Option<BooleanArray>)> {
        let mut columns = Vec::with_capacity(batch.num_columns() + self.table.batch.num_columns());
        for c in batch.columns() {
            columns.push(buffer_pool::take(c, left)?);
        }
        for c in self.table.batch.columns() {
            columns.push(buffer_pool::take(c, right)?);
        }
        let fields: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .chain(self.table.batch.schema().fields().iter())
            .cloned()
            .collect();
        let schema = Arc::new(arrow::datatypes::Schema::new(fields));
        let options = RecordBatchOptions::new().with_row_count(Some(left.len()));
        let joined = RecordBatch::try_new_with_options(schema, columns, &options)?;
        let mask = match &self.filter {
            Some(f) => Some(evaluate_predicate(f, &joined)?),
            None => None,
        };
        Ok((joined, mask))
    }

    fn output(&self, columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?)
    }

    fn take_left(&self, batch: &RecordBatch, keep: impl Fn(usize) -> bool) -> Result<RecordBatch> {
        let indices: Vec<u32> = (0..batch.num_rows() as u32)
            .filter(|&i| keep(i as usize))
            .collect();
        let columns = batch
            .columns()
            .iter()
            .map(|c| Ok(buffer_pool::take(c, &indices)?))
            .collect::<Result<Vec<_>>>()?;
        self.output(columns, indices.len())
    }
}

impl Operator for JoinProbe {
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        if self.kind == JoinKind::NullAwareAnti
            && self.table.num_rows() > 0
            && self.table.has_null_key
        {
            return self.take_left(&batch, |_| false);
        }
        let (left, right, key_valid) = self.candidates(&batch)?;
        let (joined, mask) = self.pairs(&batch, &left, &right)?;
        let passes = |p: usize| mask.as_ref().is_none_or(|m| m.value(p));
        let mut left_matched = vec![false; n];
        for p in 0..left.len() {
            if passes(p) {
                left_matched[left[p] as usize] = true;
                if !self.table.matched.is_empty() {
                    self.table.matched[right[p] as usize].store(true, Ordering::Relaxed);
                }
            }
        }
        match self.kind {
            // The matched right rows are flagged: they come out at the end.
            JoinKind::RightSemi | JoinKind::RightAnti => {
                Ok(RecordBatch::new_empty(self.schema.clone()))
            }
            JoinKind::Semi => self.take_left(&batch, |i| left_matched[i]),
            JoinKind::Anti => self.take_left(&batch, |i| !left_matched[i]),
            JoinKind::NullAwareAnti => {
                let build_empty = self.table.num_rows() == 0;
                self.take_left(&batch, |i| {
                    build_empty || (key_valid[i] && !left_matched[i])
                })
            }
            JoinKind::Inner | JoinKind::Right => {
                let joined = match &mask {
                    Some(m) => buffer_pool::filter_batch(&joined, m)?,
                    None => joined,
                };
                self.output(joined.columns().to_vec(), joined.num_rows())
            }
            JoinKind::Left | JoinKind::Full => {
                let joined = match &mask {
                    Some(m) => buffer_pool::filter_batch(&joined, m)?,
                    None => joined,
                };
                let unmatched: UInt32Array = (0..n as u32)
                    .filter(|&i| !left_matched[i as usize])
                    .collect();
                let extra = unmatched.len();
                let mut columns = Vec::with_capacity(joined.num_columns());
                for (i, c) in joined.columns().iter().enumerate() {
                    let tail = if i < batch.num_columns() {
                        take(batch.column(i), &unmatched, None)?
                    } else {
                        new_null_array(c.data_type(), extra)
                    };
                    columns.push(arrow::compute::concat(&[c.as_ref(), tail.as_ref()])?);
                }
                self.output(columns, joined.num_rows() + extra)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_bits_pass_every_build_value_and_reject_most_others() {
        let values: Vec<i64> = (0..1000).map(|i| i * 7919 - 3_000_000).collect();
        let column: ArrayRef = Arc::new(Int64Array::from(values.clone()));
        let filter = HashedBits::build(&column, values.len()).unwrap().unwrap();
        assert!(values.iter().all(|&v| filter.contains(v)));
        let others = (0..100_000)
            .filter(|&i| filter.contains(i * 7919 + 1))
            .count();
        assert!(others < 100_000 / 8, "{others} of 100000 other values pass");
        let too_many: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1_000_000));
        assert!(HashedBits::build(&too_many, 1_000_000).unwrap().is_none());
    }

    #[test]
    fn ranks_number_the_values_present_in_order() {
        let values = vec![
            Some(-70),
            None,
            Some(5),
            Some(200),
            Some(5),
            Some(63),
            Some(64),
        ];
        let column: ArrayRef = Arc::new(Int64Array::from(values));
        let present = ValueBitmap::build(&column, (-70, 200), ValueBitmap::bits_max(7))
            .unwrap()
            .unwrap();
        let ranked = RankedValues::new(Arc::new(present));
        assert_eq!(ranked.len(), 5);
        let ranks: Vec<Option<u32>> = [-71, -70, 0, 5, 63, 64, 65, 200, 201, i64::MIN, i64::MAX]
            .iter()
            .map(|&v| ranked.rank(v))
            .collect();
        let none = None;
        assert_eq!(
            ranks,
            vec![
                none,
                Some(0),
                none,
                Some(1),
                Some(2),
                Some(3),
                none,
                Some(4),
                none,
                none,
                none
            ]
        );
    }

    /// The (left key, right value) pairs of an inner join of `left` keys with
    /// a right side of `right` (key, value) rows.
    fn inner_join(
        left: Vec<Option<i64>>,
        right: Vec<(Option<i64>, i64)>,
    ) -> (Vec<(i64, i64)>, bool) {
        use arrow::datatypes::{Field, Schema};
        let right_schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("v", DataType::Int64, false),
        ]));
        let (keys, values): (Vec<Option<i64>>, Vec<i64>) = right.into_iter().unzip();
        let batch = RecordBatch::try_new(
            right_schema.clone(),
            vec![
                Arc::new(Int64Array::from(keys)),
                Arc::new(Int64Array::from(values)),
            ],
        )
        .unwrap();
        let key = Expr::column(0, "k", DataType::Int64);
        let table =
            JoinTable::build(&right_schema, &[batch], std::slice::from_ref(&key), false).unwrap();
        let identity = matches!(table.rows, SlotRows::Identity);
        let schema = Arc::new(Schema::new(vec![
            Field::new("l", DataType::Int64, true),
            Field::new("k", DataType::Int64, true),
            Field::new("v", DataType::Int64, false),
        ]));
        let probe = JoinProbe {
            table: Arc::new(table),
            kind: JoinKind::Inner,
            left_keys: vec![Expr::column(0, "l", DataType::Int64)],
            filter: None,
            schema,
        };
        let left =
            RecordBatch::try_from_iter([("l", Arc::new(Int64Array::from(left)) as ArrayRef)])
                .unwrap();
        let out = probe.apply(left).unwrap();
        let l = out.column(0).as_primitive::<arrow::datatypes::Int64Type>();
        let v = out.column(2).as_primitive::<arrow::datatypes::Int64Type>();
        (
            (0..out.num_rows())
                .map(|r| (l.value(r), v.value(r)))
                .collect(),
            identity,
        )
    }

    #[test]
    fn a_dense_build_side_in_key_order_is_probed_by_slot_number() {
        let probes = vec![
            Some(0),
            Some(12),
            None,
            Some(10),
            Some(11),
            Some(13),
            Some(10),
        ];
        // Keys 10, 11, 12 in order (a NULL key last): each slot's row is the slot.
        let (pairs, identity) = inner_join(
            probes.clone(),
            vec![(Some(10), 100), (Some(11), 110), (Some(12), 120), (None, 0)],
        );
        assert!(identity);
        assert_eq!(pairs, [(12, 120), (10, 100), (11, 110), (10, 100)]);
        // The same keys out of order, or with a gap: not the slot's number.
        let (pairs, identity) = inner_join(
            probes.clone(),
            vec![(Some(11), 110), (Some(10), 100), (Some(12), 120)],
        );
        assert!(!identity);
        assert_eq!(pairs, [(12, 120), (10, 100), (11, 110), (10, 100)]);
        let (pairs, identity) = inner_join(probes, vec![(Some(10), 100), (Some(12), 120)]);
        assert!(!identity);
        assert_eq!(pairs, [(12, 120), (10, 100), (10, 100)]);
    }
}
