//! Recycled memory for the columns and tables a query computes.
//!
//! Every morsel of a scan widens its packed columns and computes its
//! expressions into fresh arrays of up to 32 Ki rows (256-512 KiB each), which
//! are dropped a moment later; a join or aggregation builds indexes and bitmaps
//! of megabytes, and the next statement builds them again. Under glibc's
//! malloc, blocks that large are mapped for each allocation, or trimmed from the
//! top of a thread's arena when freed, so the kernel faults them in and zeroes
//! them every time: through the embedded API with the system allocator, that
//! was 60% of TPC-H Q1's time. This pool keeps freed blocks of [`MIN_POOLED`]
//! bytes or more by power-of-two size class and hands them out again, so the
//! engine's speed does not depend on the allocator of the program that links
//! it. As jemalloc and mimalloc do with freed memory, it keeps a block at most
//! [`DECAY`] (blocks idle longer are freed at the pool's next use) and at most
//! [`MAX_IDLE`] bytes in all.
//!
//! A block is a [`Buffer`] (through `Buffer::from_custom_allocation`: when the
//! last array that holds it is dropped, the block goes back), a [`PooledSlice`], a
//! fixed-size slice of zeros for an index, or the memory of a [`PoolVec`] or a
//! hash table, through [`Pool`], an `allocator_api2` allocator: the growable
//! accumulators and key tables of an aggregation. Idle blocks are not counted
//! by the memory limit.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::any::TypeId;
use std::collections::{BTreeMap, VecDeque};
use std::mem::{size_of, MaybeUninit};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use allocator_api2::alloc::{AllocError, Allocator, Global};
use arrow::array::{
    make_array, Array, ArrayData, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder,
    RecordBatch, RecordBatchOptions,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer};
use arrow::compute::{FilterBuilder, FilterPredicate};
use arrow::datatypes::{ArrowNativeType, DataType};
use arrow::error::ArrowError;

/// The smallest block pooled: smaller ones are served well by any malloc from
/// its free lists.
pub const MIN_POOLED: usize = 64 * 1024;
/// The largest block pooled.
pub const MAX_POOLED: usize = MIN_POOLED << (CLASSES - 1);
/// The most bytes the pool keeps for reuse.
pub const MAX_IDLE: usize = 1 << 30;
/// How long an idle block is kept.
pub const DECAY: Duration = Duration::from_secs(10);
/// Size classes MIN_POOLED, 2 * MIN_POOLED, ... (up to 1 GiB).
const CLASSES: usize = 15;
/// Blocks are aligned for any Arrow type (as Arrow's own buffers are).
const ALIGN: usize = 64;

/// The idle blocks, by size class (oldest first), and their total size.
struct Idle {
    classes: [VecDeque<(NonNull<u8>, Instant)>; CLASSES],
    bytes: usize,
    max_bytes: usize,
}

// SAFETY: the pointers are blocks owned by the pool alone, with no thread
// affinity.
unsafe impl Send for Idle {}

static IDLE: Mutex<Idle> = Mutex::new(Idle::new(MAX_IDLE));

impl Idle {
    const fn new(max_bytes: usize) -> Idle {
        Idle {
            classes: [const { VecDeque::new() }; CLASSES],
            bytes: 0,
            max_bytes,
        }
    }

    /// Frees idle blocks, oldest first, until at most `max_bytes` are left.
    fn shrink_to(&mut self, max_bytes: usize) {
        while self.bytes > max_bytes {
            let oldest = (0..CLASSES)
                .filter_map(|c| self.classes[c].front().map(|&(_, since)| (since, c)))
                .min();
            let Some((_, class)) = oldest else { break };
            self.free_oldest(class);
        }
    }

    /// Frees the blocks idle for longer than [`DECAY`].
    fn decay(&mut self, now: Instant) {
        for class in 0..CLASSES {
            while self.classes[class]
                .front()
                .is_some_and(|&(_, since)| now.duration_since(since) >= DECAY)
            {
                self.free_oldest(class);
            }
        }
    }

    /// Frees the block of `class` idle longest, if there is one.
    fn free_oldest(&mut self, class: usize) {
        if let Some((ptr, _)) = self.classes[class].pop_front() {
            self.bytes -= MIN_POOLED << class;
            // SAFETY: allocated by Block::new with this layout; idle.
            unsafe { dealloc(ptr.as_ptr(), pooled_layout(class)) };
        }
    }
}

/// Keeps at most `bytes` (and at most [`MAX_IDLE`]) idle from now on, freeing
/// what is over. A database sets it to a part of its memory limit, so that a
/// low limit is not undone by idle blocks.
pub fn set_max_idle(bytes: usize) {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    idle.max_bytes = bytes.min(MAX_IDLE);
    let max = idle.max_bytes;
    idle.shrink_to(max);
}

/// One block of memory, owned by the Buffer or PooledSlice it backs, and the pool it
/// returns to when it is of a pooled size class.
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
    class: Option<usize>,
    pool: &'static Mutex<Idle>,
    /// Whether [`BOUNDS`] holds a bound of the integers written in it.
    bounded: bool,
}

/// A bound of the magnitudes of the integers written into a block, by the
/// block's first address: (its end, the bound). Whoever writes a block may
/// record what it knows of its values ([`map_bounded`], [`fill_by_chunks`]), so
/// that readers of an array in it need not scan the values for a bound of
/// their own ([`bound_of`]): a packed DECIMAL column widened from `base` plus
/// offsets of `w` bytes lies within `base..base + 2^(8w)`. A block's entry is
/// removed when the block is freed, before its memory can be written again.
/// The type of the values is kept with the bound: only a reader of the same
/// type learns it.
static BOUNDS: Mutex<BTreeMap<usize, Bound>> = Mutex::new(BTreeMap::new());

struct Bound {
    end: usize,
    values: TypeId,
    bound: u128,
}

/// The bound recorded for the block holding all of `values`, if they are of
/// the type it was written with.
pub fn bound_of<T: 'static>(values: &[T]) -> Option<u128> {
    if values.is_empty() {
        return None;
    }
    let start = values.as_ptr() as usize;
    let end = start + std::mem::size_of_val(values);
    let bounds = BOUNDS.lock().unwrap_or_else(|e| e.into_inner());
    let (_, b) = bounds.range(..=start).next_back()?;
    (end <= b.end && b.values == TypeId::of::<T>()).then_some(b.bound)
}

// SAFETY: a block is plain memory, owned by one Block; Buffers only read it.
unsafe impl Send for Block {}
// SAFETY: as above.
unsafe impl Sync for Block {}

fn pooled_layout(class: usize) -> Layout {
    // The sizes are powers of two under isize::MAX, the alignment a power of two.
    Layout::from_size_align(MIN_POOLED << class, ALIGN).expect("a valid layout")
}

/// The class of a block that holds `bytes`, if the pool serves that size.
fn class_of(bytes: usize) -> Option<usize> {
    if !(MIN_POOLED..=MAX_POOLED).contains(&bytes) {
        return None;
    }
    Some(
        bytes
            .div_ceil(MIN_POOLED)
            .next_power_of_two()
            .trailing_zeros() as usize,
    )
}

/// An idle block of `class` from `pool`, if it has one.
fn take_idle(pool: &Mutex<Idle>, class: usize) -> Option<NonNull<u8>> {
    let mut idle = pool.lock().unwrap_or_else(|e| e.into_inner());
    idle.decay(Instant::now());
    let (ptr, _) = idle.classes[class].pop_back()?;
    idle.bytes -= MIN_POOLED << class;
    Some(ptr)
}

/// Keeps `ptr`, a block of `class` no longer used, idle in `pool`; false
/// (the caller frees it) when the pool is full.
fn keep_idle(pool: &Mutex<Idle>, class: usize, ptr: NonNull<u8>) -> bool {
    let mut idle = pool.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    idle.decay(now);
    let size = MIN_POOLED << class;
    if idle.bytes + size > idle.max_bytes {
        return false;
    }
    idle.bytes += size;
    idle.classes[class].push_back((ptr, now));
    true
}

/// A new block of `layout` (of a size other than zero).
fn allocate(layout: Layout) -> NonNull<u8> {
    // SAFETY: the layout's size is not zero.
    NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
}

impl Block {
    /// A block of at least `bytes` (more than zero) bytes: an idle one of its
    /// class from `pool`, or a new one.
    fn new(pool: &'static Mutex<Idle>, bytes: usize) -> Block {
        let class = class_of(bytes);
        let layout = match class {
            Some(class) => pooled_layout(class),
            None => Layout::from_size_align(bytes, ALIGN)
                .unwrap_or_else(|_| handle_alloc_error(Layout::new::<u8>())),
        };
        let ptr = class
            .and_then(|class| take_idle(pool, class))
            .unwrap_or_else(|| allocate(layout));
        Block {
            ptr,
            layout,
            class,
            pool,
            bounded: false,
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if self.bounded {
            let mut bounds = BOUNDS.lock().unwrap_or_else(|e| e.into_inner());
            bounds.remove(&(self.ptr.as_ptr() as usize));
        }
        if let Some(class) = self.class {
            if keep_idle(self.pool, class, self.ptr) {
                return;
            }
        }
        // SAFETY: allocated in Block::new with this layout, and no longer used.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// The allocator of [`PoolVec`]s and of the engine's hash tables: blocks of
/// [`MIN_POOLED`] bytes or more come from the pool and go back to it (growing
/// within a size class keeps the block), smaller ones from the global
/// allocator.
#[derive(Clone, Copy)]
pub struct Pool {
    idle: &'static Mutex<Idle>,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool { idle: &IDLE }
    }
}

impl Pool {
    /// The class of blocks for `layout`, if the pool serves it.
    fn class(layout: Layout) -> Option<usize> {
        class_of(layout.size()).filter(|_| layout.align() <= ALIGN)
    }
}

// SAFETY: a block handed out is owned by its caller until deallocated; a pooled
// one is at least as large and as aligned as its layout asks (its class's
// layout), and is freed with that layout.
unsafe impl Allocator for Pool {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let Some(class) = Pool::class(layout) else {
            return Global.allocate(layout);
        };
        let ptr = take_idle(self.idle, class).unwrap_or_else(|| allocate(pooled_layout(class)));
        Ok(NonNull::slice_from_raw_parts(ptr, layout.size()))
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        match Pool::class(layout) {
            Some(class) if keep_idle(self.idle, class, ptr) => {}
            // SAFETY: allocated by `allocate` with its class's layout.
            Some(class) => unsafe { dealloc(ptr.as_ptr(), pooled_layout(class)) },
            // SAFETY: allocated by Global with this layout (the caller's contract).
            None => unsafe { Global.deallocate(ptr, layout) },
        }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        match (Pool::class(old), Pool::class(new)) {
            // SAFETY: allocated by Global (the caller's contract).
            (None, None) => unsafe { Global.grow(ptr, old, new) },
            (Some(a), Some(b)) if a == b => Ok(NonNull::slice_from_raw_parts(ptr, new.size())),
            _ => {
                let grown = self.allocate(new)?;
                // SAFETY: `old.size()` bytes are valid in both, which are
                // distinct blocks; the old one is not used again.
                unsafe {
                    std::ptr::copy_nonoverlapping(ptr.as_ptr(), grown.cast().as_ptr(), old.size());
                    self.deallocate(ptr, old);
                }
                Ok(grown)
            }
        }
    }
}

/// A growable vector whose memory comes from the pool: the accumulators and
/// key tables of aggregations grow to megabytes one batch at a time, and
/// under glibc's malloc each growth would fault in fresh pages.
#[derive(Clone, Debug)]
pub struct PoolVec<T>(allocator_api2::vec::Vec<T, Pool>);

impl<T> Default for PoolVec<T> {
    fn default() -> PoolVec<T> {
        PoolVec(allocator_api2::vec::Vec::new_in(Pool::default()))
    }
}

impl<T> Deref for PoolVec<T> {
    type Target = allocator_api2::vec::Vec<T, Pool>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T> DerefMut for PoolVec<T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<T> PoolVec<T> {
    /// The bytes it holds (its capacity).
    pub fn memory_size(&self) -> usize {
        self.capacity() * size_of::<T>()
    }
}

impl<T: ArrowNativeType> PoolVec<T> {
    /// Its values as a Buffer, without a copy: the block goes back to the
    /// pool when the last array over it is dropped.
    pub fn into_buffer(self) -> Buffer {
        let bytes = self.len() * size_of::<T>();
        let ptr = NonNull::from(self.0.as_slice()).cast::<u8>();
        // The Buffer only reads the values, which are plain numbers.
        let owner = Arc::new(std::panic::AssertUnwindSafe(self));
        // SAFETY: `bytes` initialized bytes at `ptr`, owned by the vector the
        // Buffer keeps (moving it does not move its heap block).
        unsafe { Buffer::from_custom_allocation(ptr, bytes, owner) }
    }
}

/// `f` of each of `input`, in a Buffer (a pooled block when one serves its size).
pub fn map<S, T: ArrowNativeType>(input: &[S], f: impl Fn(&S) -> T) -> Buffer {
    map_in(&IDLE, input, None, f)
}

/// [`map`] of a function whose every result has a magnitude of at most
/// `bound`, which readers of the buffer learn from [`bound_of`].
pub fn map_bounded<S, T: ArrowNativeType>(input: &[S], bound: u128, f: impl Fn(&S) -> T) -> Buffer {
    map_in(&IDLE, input, Some(bound), f)
}

fn map_in<S, T: ArrowNativeType>(
    pool: &'static Mutex<Idle>,
    input: &[S],
    bound: Option<u128>,
    f: impl Fn(&S) -> T,
) -> Buffer {
    fill_in(pool, input.len(), bound, |out| {
        out.iter_mut().zip(input).for_each(|(o, i)| {
            o.write(f(i));
        })
    })
}

/// A Buffer of `len` values of T written `chunk` (> 0) at a time:
/// `write(start, values)` sets `values` (scratch space in the cache) to those
/// of rows `start..start + values.len()`, which are then copied into place;
/// `bound`, if given, bounds their magnitudes (see [`bound_of`]).
pub fn fill_by_chunks<T: ArrowNativeType>(
    len: usize,
    chunk: usize,
    bound: Option<u128>,
    mut write: impl FnMut(usize, &mut [T]),
) -> Buffer {
    let mut scratch = vec![T::default(); chunk.min(len)];
    fill_in(&IDLE, len, bound, |out| {
        for (i, out) in out.chunks_mut(chunk).enumerate() {
            let values = &mut scratch[..out.len()];
            write(i * chunk, values);
            out.iter_mut().zip(values.iter()).for_each(|(o, v)| {
                o.write(*v);
            });
        }
    })
}

/// A Buffer of `len` values of T, written by `write`, which must write every
/// slot it is given (slices of one length zipped with it do). A pooled block
/// records `bound`, if given: a bound of the magnitude of every value written.
fn fill_in<T: ArrowNativeType + 'static>(
    pool: &'static Mutex<Idle>,
    len: usize,
    bound: Option<u128>,
    write: impl FnOnce(&mut [MaybeUninit<T>]),
) -> Buffer {
    let bytes = len * size_of::<T>();
    if bytes < MIN_POOLED {
        let mut values = Vec::with_capacity(len);
        write(&mut values.spare_capacity_mut()[..len]);
        // SAFETY: `write` wrote all `len` values.
        unsafe { values.set_len(len) };
        return Buffer::from_vec(values);
    }
    let mut block = Block::new(pool, bytes);
    // SAFETY: the block holds at least `len` values of T and is aligned for it;
    // MaybeUninit makes no claim on its contents.
    let out =
        unsafe { std::slice::from_raw_parts_mut(block.ptr.as_ptr().cast::<MaybeUninit<T>>(), len) };
    write(out);
    let ptr = block.ptr;
    if let Some(bound) = bound {
        let start = ptr.as_ptr() as usize;
        let mut bounds = BOUNDS.lock().unwrap_or_else(|e| e.into_inner());
        let values = TypeId::of::<T>();
        let end = start + bytes;
        bounds.insert(start, Bound { end, values, bound });
        block.bounded = true;
    }
    // SAFETY: `write` wrote all `len` values, and the block lives as long as
    // the Buffer.
    unsafe { Buffer::from_custom_allocation(ptr, bytes, Arc::new(block)) }
}

/// The rows a mask keeps, worked out once for every column it filters: columns
/// of fixed-width types are gathered into pooled blocks (Arrow's `filter`
/// allocates each output afresh), others go to Arrow's prepared filter.
pub struct RowFilter {
    predicate: FilterPredicate,
    /// The mask's length, and how many rows it keeps.
    rows: usize,
    kept: usize,
    selection: Selection,
}

/// The kept rows as runs (when most rows are kept, as Arrow's filter decides)
/// or as their indexes.
enum Selection {
    Runs(Vec<(usize, usize)>),
    Indexes(Vec<u32>),
}

impl RowFilter {
    pub fn new(mask: &BooleanArray) -> RowFilter {
        // NULL counts as false, as in a WHERE clause.
        let mask = match mask.nulls() {
            Some(nulls) => mask.values() & nulls.inner(),
            None => mask.values().clone(),
        };
        let (rows, kept) = (mask.len(), mask.count_set_bits());
        let selection = if kept * 5 > rows * 4 {
            Selection::Runs(mask.set_slices().collect())
        } else {
            Selection::Indexes(mask.set_indices().map(|i| i as u32).collect())
        };
        let predicate = FilterBuilder::new(&BooleanArray::new(mask, None)).build();
        RowFilter {
            predicate,
            rows,
            kept,
            selection,
        }
    }

    /// The rows of `array` that the mask keeps (an error if their lengths
    /// differ).
    pub fn filter(&self, array: &dyn Array) -> Result<ArrayRef, ArrowError> {
        if array.len() != self.rows {
            return Err(ArrowError::InvalidArgumentError(format!(
                "a filter of {} rows applied to {} rows",
                self.rows,
                array.len()
            )));
        }
        let data = array.to_data();
        let Some((width, bytes)) = fixed_width_values(&data) else {
            return self.predicate.filter(array);
        };
        let gathered = match width {
            1 => self.gather::<u8>(bytes),
            2 => self.gather::<u16>(bytes),
            4 => self.gather::<u32>(bytes),
            8 => self.gather::<u64>(bytes),
            16 => self.gather::<i128>(bytes),
            _ => None,
        };
        let Some(values) = gathered else {
            return self.predicate.filter(array);
        };
        let nulls = match array.logical_nulls() {
            Some(nulls) => {
                let valid = self
                    .predicate
                    .filter(&BooleanArray::new(nulls.into_inner(), None))?;
                Some(NullBuffer::new(valid.as_boolean().values().clone()))
            }
            None => None,
        };
        let data = ArrayData::builder(array.data_type().clone())
            .len(self.kept)
            .add_buffer(values)
            .nulls(nulls)
            .build()?;
        Ok(make_array(data))
    }

    /// The kept values of `bytes` (values of T), or None if they are not
    /// aligned for T.
    fn gather<T: ArrowNativeType>(&self, bytes: &[u8]) -> Option<Buffer> {
        // SAFETY: every bit pattern is a value of the integer types used here.
        let (head, values, _) = unsafe { bytes.align_to::<T>() };
        if !head.is_empty() {
            return None;
        }
        Some(fill_in(&IDLE, self.kept, None, |out| {
            match &self.selection {
                Selection::Runs(runs) => {
                    let mut at = 0;
                    for &(start, end) in runs {
                        let run = &values[start..end];
                        for (slot, &v) in out[at..at + run.len()].iter_mut().zip(run) {
                            slot.write(v);
                        }
                        at += run.len();
                    }
                }
                Selection::Indexes(indexes) => gather_into(out, values, indexes),
            }
        }))
    }
}

/// `values[i]` for each of `indexes`, written to `out`.
fn gather_into<T: Copy>(out: &mut [MaybeUninit<T>], values: &[T], indexes: &[u32]) {
    for (slot, &i) in out.iter_mut().zip(indexes) {
        slot.write(values[i as usize]);
    }
}

/// The values of `bytes` (values of T) at `indexes`, in a pooled block, or None
/// if they are not aligned for T.
fn gather_at<T: ArrowNativeType>(bytes: &[u8], indexes: &[u32]) -> Option<Buffer> {
    // SAFETY: every bit pattern is a value of the integer types used here.
    let (head, values, _) = unsafe { bytes.align_to::<T>() };
    if !head.is_empty() {
        return None;
    }
    Some(fill_in(&IDLE, indexes.len(), None, |out| {
        gather_into(out, values, indexes)
    }))
}

/// The rows `indexes` of `array` (each within it), as `arrow::compute::take`
/// gives them, gathered into pooled blocks (Arrow's `take` allocates each
/// output afresh): the values of a fixed-width type and the keys of a
/// dictionary; other arrays go to Arrow's `take`. (Strings are not gathered
/// here: Arrow's `take` copies them as fast, the time going to cache misses
/// on the strings read.)
pub fn take(array: &dyn Array, indexes: &[u32]) -> Result<ArrayRef, ArrowError> {
    let data = array.to_data();
    let gathered = values_or_keys(&data).and_then(|(w, bytes)| gather_fixed(w, bytes, indexes));
    let Some(values) = gathered else {
        let indexes = arrow::array::UInt32Array::from(indexes.to_vec());
        return arrow::compute::take(array, &indexes, None);
    };
    let nulls = data.nulls().filter(|n| n.null_count() > 0).map(|n| {
        NullBuffer::new(BooleanBuffer::collect_bool(indexes.len(), |k| {
            n.is_valid(indexes[k] as usize)
        }))
    });
    let builder = ArrayData::builder(array.data_type().clone())
        .len(indexes.len())
        .add_buffer(values)
        .child_data(data.child_data().to_vec())
        .nulls(nulls);
    // SAFETY: every value (a dictionary key within its values) and NULL was
    // copied from a valid array of the same type, and the buffer holds
    // `indexes.len()` values. `build` would check every dictionary key again.
    Ok(make_array(unsafe { builder.build_unchecked() }))
}

/// The values of `bytes` (of `width` bytes each) at `indexes`, in a pooled
/// block, or None if they are not aligned for their type.
fn gather_fixed(width: usize, bytes: &[u8], indexes: &[u32]) -> Option<Buffer> {
    match width {
        1 => gather_at::<u8>(bytes, indexes),
        2 => gather_at::<u16>(bytes, indexes),
        4 => gather_at::<u32>(bytes, indexes),
        8 => gather_at::<u64>(bytes, indexes),
        16 => gather_at::<i128>(bytes, indexes),
        _ => None,
    }
}

/// [`fixed_width_values`], or for a dictionary the width and bytes of its keys.
fn values_or_keys(data: &ArrayData) -> Option<(usize, &[u8])> {
    match data.data_type() {
        DataType::Dictionary(key, _) => {
            let width = key.primitive_width()?;
            Some((width, row_bytes(data, width)?))
        }
        _ => fixed_width_values(data),
    }
}

/// The bytes of the rows of `data` in its first buffer, `width` bytes a row.
fn row_bytes(data: &ArrayData, width: usize) -> Option<&[u8]> {
    let start = data.offset() * width;
    data.buffers()
        .first()?
        .as_slice()
        .get(start..start + data.len() * width)
}

/// The width of the values of `data` and the bytes of its rows, for an array
/// of a fixed-width type (not Boolean, whose values are bits).
fn fixed_width_values(data: &ArrayData) -> Option<(usize, &[u8])> {
    let width = data.data_type().primitive_width()?;
    if data.data_type() == &DataType::Boolean || data.buffers().len() != 1 {
        return None;
    }
    Some((width, row_bytes(data, width)?))
}

/// The rows of `batch` that `mask` keeps (NULL: not kept), as
/// `arrow::compute::filter_record_batch` gives them.
pub fn filter_batch(batch: &RecordBatch, mask: &BooleanArray) -> Result<RecordBatch, ArrowError> {
    let filter = RowFilter::new(mask);
    let columns = batch
        .columns()
        .iter()
        .map(|c| filter.filter(c.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new_with_options(
        batch.schema(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(filter.kept)),
    )
}

/// `parts` (arrays of one fixed-width, string or binary type, e.g. a join's
/// build side in batches) as one array in pooled blocks, or None for other
/// types.
pub fn concat(parts: &[&dyn Array]) -> Option<Result<ArrayRef, ArrowError>> {
    let data_type = parts.first()?.data_type();
    if parts.iter().any(|p| p.data_type() != data_type) {
        return None;
    }
    let buffers = match data_type {
        DataType::Utf8 | DataType::Binary => concat_bytes(parts)?,
        _ => vec![concat_fixed(parts)?],
    };
    let rows = parts.iter().map(|p| p.len()).sum();
    let nulls = parts.iter().any(|p| p.null_count() > 0).then(|| {
        let mut valid = BooleanBufferBuilder::new(rows);
        for p in parts {
            match p.logical_nulls() {
                Some(n) => valid.append_buffer(n.inner()),
                None => valid.append_n(p.len(), true),
            }
        }
        NullBuffer::new(valid.finish())
    });
    let builder = ArrayData::builder(data_type.clone())
        .len(rows)
        .buffers(buffers)
        .nulls(nulls);
    // SAFETY: the values (whole UTF-8 strings) and NULLs are those of valid
    // arrays of this type, in order, the offsets rising from 0 to the bytes
    // copied. `build` would check every string again.
    Some(Ok(make_array(unsafe { builder.build_unchecked() })))
}

/// The values of `parts` (of a fixed-width type) one after another.
fn concat_fixed(parts: &[&dyn Array]) -> Option<Buffer> {
    let data: Vec<ArrayData> = parts.iter().map(|p| p.to_data()).collect();
    let slices = data
        .iter()
        .map(|d| Some(fixed_width_values(d)?.1))
        .collect::<Option<Vec<_>>>()?;
    Some(copy_in(&slices))
}

/// The offsets and bytes of `parts` (strings or byte strings) one after
/// another, or None when they pass `i32` offsets.
fn concat_bytes(parts: &[&dyn Array]) -> Option<Vec<Buffer>> {
    let parts = parts
        .iter()
        .map(|p| match p.as_string_opt::<i32>() {
            Some(strings) => Some((strings.value_offsets(), strings.values().as_slice())),
            None => p
                .as_binary_opt::<i32>()
                .map(|bytes| (bytes.value_offsets(), bytes.values().as_slice())),
        })
        .collect::<Option<Vec<_>>>()?;
    let slices: Vec<&[u8]> = parts
        .iter()
        .map(|(offsets, values)| &values[offsets[0] as usize..offsets[offsets.len() - 1] as usize])
        .collect();
    if slices.iter().map(|s| s.len()).sum::<usize>() > i32::MAX as usize {
        return None;
    }
    let rows: usize = parts.iter().map(|(offsets, _)| offsets.len() - 1).sum();
    let offsets = fill_in(&IDLE, rows + 1, None, |out: &mut [MaybeUninit<i32>]| {
        out[0].write(0);
        let (mut at, mut end) = (1, 0);
        for (offsets, _) in &parts {
            let shift = end - offsets[0];
            for (slot, &o) in out[at..].iter_mut().zip(&offsets[1..]) {
                slot.write(o + shift);
            }
            at += offsets.len() - 1;
            end = offsets[offsets.len() - 1] + shift;
        }
    });
    Some(vec![offsets, copy_in(&slices)])
}

/// `slices` one after another in a pooled block.
fn copy_in(slices: &[&[u8]]) -> Buffer {
    let bytes = slices.iter().map(|s| s.len()).sum();
    fill_in(&IDLE, bytes, None, |out: &mut [MaybeUninit<u8>]| {
        let mut at = 0;
        for slice in slices {
            for (slot, &b) in out[at..at + slice.len()].iter_mut().zip(slice.iter()) {
                slot.write(b);
            }
            at += slice.len();
        }
    })
}

/// A fixed number of integer slots, all zero at first, in a pooled block: the
/// direct indexes and bitmaps of joins and aggregations.
pub struct PooledSlice<T: ArrowNativeType> {
    block: Option<Block>,
    len: usize,
    _values: std::marker::PhantomData<T>,
}

impl<T: ArrowNativeType> PooledSlice<T> {
    /// `len` zeros. They are written out even in fresh memory: a table read
    /// before it is written (a probe that finds an empty slot) would otherwise
    /// map each page to the kernel's shared zero page first and copy it on the
    /// first write, a second page fault and a TLB flush on every other core.
    pub fn zeros(len: usize) -> PooledSlice<T> {
        PooledSlice::zeros_in(&IDLE, len)
    }

    fn zeros_in(pool: &'static Mutex<Idle>, len: usize) -> PooledSlice<T> {
        // SAFETY: all-zero bytes are a valid value of every Arrow native type.
        PooledSlice::written_in(pool, len, |ptr, bytes| unsafe { ptr.write_bytes(0, bytes) })
    }

    /// `len` slots from `pool`, their bytes all written by `write(ptr, bytes)`.
    fn written_in(
        pool: &'static Mutex<Idle>,
        len: usize,
        write: impl FnOnce(*mut u8, usize),
    ) -> PooledSlice<T> {
        let bytes = len * size_of::<T>();
        let block = (bytes > 0).then(|| Block::new(pool, bytes));
        if let Some(block) = &block {
            write(block.ptr.as_ptr(), bytes);
        }
        PooledSlice {
            block,
            len,
            _values: std::marker::PhantomData,
        }
    }

    /// The bytes it holds (its block's size).
    pub fn memory_size(&self) -> usize {
        self.block.as_ref().map_or(0, |b| b.layout.size())
    }
}

impl<T: ArrowNativeType> Deref for PooledSlice<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &self.block {
            // SAFETY: `len` initialized values of T, aligned, owned by self.
            Some(b) => unsafe { std::slice::from_raw_parts(b.ptr.as_ptr().cast::<T>(), self.len) },
            None => &[],
        }
    }
}

impl<T: ArrowNativeType> DerefMut for PooledSlice<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.block {
            // SAFETY: as in deref, and borrowed mutably through self.
            Some(b) => unsafe {
                std::slice::from_raw_parts_mut(b.ptr.as_ptr().cast::<T>(), self.len)
            },
            None => &mut [],
        }
    }
}

impl<T: ArrowNativeType> Clone for PooledSlice<T> {
    fn clone(&self) -> PooledSlice<T> {
        let pool = self.block.as_ref().map_or(&IDLE, |b| b.pool);
        let from = self.as_ptr().cast::<u8>();
        // SAFETY: both blocks hold `bytes` bytes and do not overlap.
        PooledSlice::written_in(pool, self.len, |to, bytes| unsafe {
            std::ptr::copy_nonoverlapping(from, to, bytes)
        })
    }
}

impl<T: ArrowNativeType> std::fmt::Debug for PooledSlice<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PooledSlice({} of {})",
            self.len,
            std::any::type_name::<T>()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_pool(max_bytes: usize) -> &'static Mutex<Idle> {
        Box::leak(Box::new(Mutex::new(Idle::new(max_bytes))))
    }

    fn idle(pool: &Mutex<Idle>) -> usize {
        pool.lock().unwrap().bytes
    }

    #[test]
    fn a_bound_is_known_to_readers_of_its_block_alone() {
        let pool = test_pool(4 << 20);
        let values: Vec<i128> = (0..10_000).map(|i| i - 5000).collect();
        let write = |out: &mut [MaybeUninit<i128>]| {
            out.iter_mut().zip(&values).for_each(|(o, &v)| {
                o.write(v);
            })
        };
        let buffer = fill_in(pool, values.len(), Some(5000), write);
        let written: &[i128] = buffer.typed_data();
        assert_eq!(written, &values[..]);
        assert_eq!(bound_of(written), Some(5000));
        assert_eq!(bound_of(&written[100..200]), Some(5000));
        // A view of another type, and memory outside the block, learn nothing.
        assert_eq!(bound_of(buffer.typed_data::<u64>()), None);
        assert_eq!(bound_of(&values), None);
        // Freed, the block forgets its bound before it is written again.
        let start = written.as_ptr() as usize;
        drop(buffer);
        assert!(!BOUNDS.lock().unwrap().contains_key(&start));
        let again = fill_in(pool, values.len(), None, write);
        assert_eq!(again.as_ptr() as usize, start, "the idle block is reused");
        assert_eq!(bound_of(again.typed_data::<i128>()), None);
        // Small buffers are not pooled, and keep no bound.
        let small = map_bounded(&values[..10], 5000, |&v| v);
        assert_eq!(bound_of(small.typed_data::<i128>()), None);
    }

    #[test]
    fn pooled_vectors_keep_their_values_as_they_grow_and_reuse_blocks() {
        let pool = Pool {
            idle: test_pool(4 << 20),
        };
        let mut v = PoolVec(allocator_api2::vec::Vec::new_in(pool));
        // Doubling from the global allocator's sizes through five pooled classes.
        (0..100_000i64).for_each(|x| v.push(x));
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as i64));
        assert_eq!(v.memory_size(), 1 << 20);
        let smaller = (1 << 16) + (1 << 17) + (1 << 18) + (1 << 19);
        assert_eq!(idle(pool.idle), smaller, "the smaller blocks went back");
        let mut w = PoolVec(allocator_api2::vec::Vec::<i64, Pool>::with_capacity_in(
            70_000, pool,
        ));
        let address = w.as_ptr();
        w.reserve_exact(120_000);
        assert_eq!(
            w.as_ptr(),
            address,
            "growing within a class keeps the block"
        );
        let address = v.as_ptr();
        let buffer = v.into_buffer();
        assert_eq!(buffer.len(), 800_000);
        assert!(buffer
            .typed_data::<i64>()
            .iter()
            .enumerate()
            .all(|(i, &x)| x == i as i64));
        drop(buffer);
        assert_eq!(idle(pool.idle), smaller + (1 << 20));
        let mut again = PoolVec(allocator_api2::vec::Vec::new_in(pool));
        again.resize(100_000, 0u64);
        assert_eq!(
            again.as_ptr().cast::<i64>(),
            address,
            "the idle block is reused"
        );
        assert!(again.iter().all(|&x| x == 0));
    }

    #[test]
    fn size_classes_cover_the_pooled_sizes() {
        assert_eq!(class_of(MIN_POOLED - 1), None);
        assert_eq!(class_of(MIN_POOLED), Some(0));
        assert_eq!(class_of(MIN_POOLED + 1), Some(1));
        assert_eq!(class_of(4 * MIN_POOLED), Some(2));
        assert_eq!(class_of(MAX_POOLED), Some(CLASSES - 1));
        assert_eq!(class_of(MAX_POOLED + 1), None);
    }

    #[test]
    fn buffers_hold_their_values_and_their_blocks_are_reused() {
        let pool = test_pool(4 << 20);
        let n = 100_000; // 800,000 bytes: the class of 1 MiB
        let numbers: Vec<i64> = (0..n as i64).collect();
        let first = map_in(pool, &numbers, None, |&i| i);
        assert_eq!(first.typed_data::<i64>().len(), n);
        assert!(first
            .typed_data::<i64>()
            .iter()
            .enumerate()
            .all(|(i, &v)| v == i as i64));
        let address = first.as_ptr();
        let copy = first.clone();
        drop(first);
        assert_eq!(idle(pool), 0, "a block is in use while any Buffer holds it");
        drop(copy);
        assert_eq!(idle(pool), 1 << 20);
        let again = map_in(pool, &numbers, None, |&i| -i);
        assert_eq!(again.as_ptr(), address);
        assert_eq!(idle(pool), 0);
        assert!(again
            .typed_data::<i64>()
            .iter()
            .enumerate()
            .all(|(i, &v)| v == -(i as i64)));
        // The pool keeps at most its maximum.
        let bytes = vec![7u8; 1 << 20];
        let many: Vec<Buffer> = (0..6).map(|_| map_in(pool, &bytes, None, |&b| b)).collect();
        drop(many);
        assert_eq!(idle(pool), 4 << 20);
        // Small buffers are ordinary allocations.
        assert_eq!(
            map_in(pool, &[1i32, 2, 3], None, |&i| i).typed_data::<i32>(),
            &[1, 2, 3]
        );
        assert_eq!(map_in(pool, &[] as &[u8], None, |&i| i as i64).len(), 0);
        assert_eq!(idle(pool), 4 << 20);
        // Chunk by chunk, the last one shorter.
        let squares = fill_by_chunks(n, 1000, None, |start, out: &mut [i64]| {
            for (i, o) in out.iter_mut().enumerate() {
                *o = ((start + i) * (start + i)) as i64;
            }
        });
        let squares = squares.typed_data::<i64>();
        assert_eq!(squares.len(), n);
        assert!(squares
            .iter()
            .enumerate()
            .all(|(i, &s)| s == (i * i) as i64));
    }

    #[test]
    fn slots_are_zeros_even_in_a_reused_block() {
        let pool = test_pool(4 << 20);
        let mut slots = PooledSlice::<u32>::zeros_in(pool, 50_000);
        slots.iter_mut().for_each(|s| *s = 9);
        let copy = slots.clone();
        assert!(copy.iter().all(|&s| s == 9));
        drop((slots, copy));
        assert_eq!(idle(pool), 2 * 256 * 1024);
        let again = PooledSlice::<u32>::zeros_in(pool, 60_000);
        assert_eq!(again.len(), 60_000);
        assert!(again.iter().all(|&s| s == 0));
        assert!(PooledSlice::<u64>::zeros_in(pool, 0).is_empty());
        // Smaller than any class: allocated and freed alone.
        let small = PooledSlice::<u8>::zeros_in(pool, MIN_POOLED - 1);
        assert!(small.iter().all(|&s| s == 0));
        drop(small);
        assert_eq!(idle(pool), 256 * 1024);
    }

    #[test]
    fn idle_blocks_are_freed_after_the_decay_or_past_the_maximum() {
        let pool = test_pool(4 << 20);
        drop(PooledSlice::<u8>::zeros_in(pool, MIN_POOLED));
        assert_eq!(idle(pool), MIN_POOLED);
        pool.lock().unwrap().decay(Instant::now() + DECAY);
        assert_eq!(idle(pool), 0);
        let blocks: Vec<_> = (0..4)
            .map(|_| PooledSlice::<u8>::zeros_in(pool, MIN_POOLED))
            .collect();
        drop(blocks);
        assert_eq!(idle(pool), 4 * MIN_POOLED);
        pool.lock().unwrap().shrink_to(MIN_POOLED + 1);
        assert_eq!(idle(pool), MIN_POOLED);
    }

    /// Arrays of several types and layouts (sliced, with NULLs), in pieces.
    fn arrays(n: usize) -> Vec<ArrayRef> {
        use arrow::array::{
            Date32Array, Decimal128Array, Int32Array, Int64Array, StringArray, UInt8Array,
        };
        let wide: Vec<i128> = (0..n as i128).map(|i| i * 1_000_000_007).collect();
        vec![
            Arc::new(Int32Array::from_iter(
                (0..n as i32).map(|i| (i % 7 != 0).then_some(i)),
            )),
            Arc::new(Int64Array::from_iter_values(0..n as i64 + 5).slice(5, n)) as ArrayRef,
            Arc::new(UInt8Array::from_iter_values((0..n).map(|i| i as u8))),
            Arc::new(Date32Array::from_iter_values(0..n as i32)),
            Arc::new(
                Decimal128Array::from(wide)
                    .with_precision_and_scale(38, 2)
                    .unwrap(),
            ),
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| (i % 3 != 0).then(|| i.to_string())),
            )),
            Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 2 == 0)))),
        ]
    }

    #[test]
    fn row_filters_keep_what_arrow_filter_keeps() {
        let n = 70_000; // over MIN_POOLED bytes for the wider types
        let masks = [
            BooleanArray::from_iter((0..n).map(|i| Some(i % 1000 < 900))), // long runs
            BooleanArray::from_iter((0..n).map(|i| Some(i % 3 == 1))),     // row by row
            BooleanArray::from_iter((0..n).map(|i| (i % 5 != 0).then_some(i % 2 == 0))), // NULLs
            BooleanArray::from(vec![false; n]),
            BooleanArray::from(vec![true; n]),
        ];
        for mask in &masks {
            let filter = RowFilter::new(mask);
            for array in arrays(n) {
                let ours = filter.filter(array.as_ref()).unwrap();
                let theirs = arrow::compute::filter(array.as_ref(), mask).unwrap();
                assert_eq!(ours.as_ref(), theirs.as_ref(), "{}", array.data_type());
                assert!(filter.filter(array.slice(1, n - 1).as_ref()).is_err());
            }
        }
    }

    #[test]
    fn take_gathers_what_arrow_take_gathers() {
        use arrow::array::{DictionaryArray, StringArray, UInt32Array};
        use arrow::datatypes::UInt16Type;
        let n = 70_000;
        let mut all = arrays(n);
        let strings =
            StringArray::from_iter((0..n + 3).map(|i| (i % 4 != 1).then(|| "x".repeat(i % 9))));
        all.push(Arc::new(strings.slice(3, n)));
        let keys = arrow::array::UInt16Array::from_iter(
            (0..n).map(|i| (i % 6 != 0).then_some((i % 3) as u16)),
        );
        let values = Arc::new(StringArray::from(vec!["a", "bb", "ccc"]));
        all.push(Arc::new(
            DictionaryArray::<UInt16Type>::try_new(keys, values).unwrap(),
        ));
        let orders: [Vec<u32>; 4] = [
            (0..n as u32).rev().collect(),
            (0..n as u32).filter(|i| i % 3 == 1).collect(),
            (0..3 * n as u32).map(|i| (i * 7919) % n as u32).collect(), // repeats
            vec![],
        ];
        for array in &all {
            for indexes in &orders {
                let ours = take(array.as_ref(), indexes).unwrap();
                let theirs =
                    arrow::compute::take(array.as_ref(), &UInt32Array::from(indexes.clone()), None)
                        .unwrap();
                assert_eq!(ours.as_ref(), theirs.as_ref(), "{}", array.data_type());
                ours.to_data().validate_full().unwrap();
            }
        }
    }

    #[test]
    fn concat_joins_what_arrow_concat_joins() {
        let n = 30_000;
        for array in arrays(n) {
            let parts = [
                array.slice(0, 10_000),
                array.slice(10_000, 1),
                array.slice(10_001, n - 10_001),
            ];
            let parts: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
            let theirs = arrow::compute::concat(&parts).unwrap();
            match concat(&parts) {
                Some(ours) => {
                    let ours = ours.unwrap();
                    assert_eq!(ours.as_ref(), theirs.as_ref());
                    ours.to_data().validate_full().unwrap();
                }
                None => assert_eq!(array.data_type(), &DataType::Boolean),
            }
        }
    }
}
