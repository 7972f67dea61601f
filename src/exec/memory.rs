//! Memory accounting against the database's `memory_limit`.
//!
//! One [`MemoryPool`] per database counts the bytes that its queries hold in
//! operator state: hash tables and accumulators of aggregations, buffered
//! rows of sorts and windows, build sides of hash joins, and the rows
//! materialized between pipelines. Each holder keeps a [`Reservation`] that
//! it resizes as it grows (a compare-and-swap on one counter, no lock) and
//! that gives its bytes back when dropped. A reservation that would take the
//! pool past its limit fails with [`Error::OutOfMemory`]; the operators that
//! can spill (hash aggregation, sort) ask first with
//! [`Reservation::try_resize`] and write rows to disk instead.
//!
//! The figures are the sizes of the Arrow buffers and vectors held, not what
//! the allocator has handed out: a limit bounds the engine's working memory,
//! as DuckDB's does, not the process's resident size.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, RecordBatch};

use crate::error::{Error, Result};

/// The bytes a database's queries may hold, and hold now.
#[derive(Debug)]
pub struct MemoryPool {
    limit: AtomicUsize,
    used: AtomicUsize,
    /// The most bytes reserved at once since the last [`MemoryPool::reset_peak`].
    peak: AtomicUsize,
    /// The bytes written to spill files since the pool was made.
    spilled: AtomicUsize,
    /// Where spilled rows are written (`SET temp_directory`).
    temp_directory: Mutex<std::path::PathBuf>,
}

/// The buffer pool keeps idle at most this part of the memory limit (see
/// `buffer_pool::set_max_idle`).
const IDLE_SHARE: usize = 8;

impl MemoryPool {
    /// A pool of `limit` bytes, spilling into the system's temporary directory.
    pub fn new(limit: usize) -> Arc<MemoryPool> {
        Arc::new(MemoryPool {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            spilled: AtomicUsize::new(0),
            temp_directory: Mutex::new(std::env::temp_dir()),
        })
    }

    /// The default limit, as DuckDB's: 80% of the machine's physical memory
    /// (8 GiB where that cannot be read).
    pub fn default_limit() -> usize {
        physical_memory().map_or(8 << 30, |m| m / 10 * 8)
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
        crate::buffer_pool::set_max_idle(limit / IDLE_SHARE);
    }

    /// The bytes reserved now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The most bytes reserved at once since the last reset.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Starts measuring the peak again from what is reserved now.
    pub fn reset_peak(&self) {
        self.peak.store(self.used(), Ordering::Relaxed);
    }

    /// The bytes written to spill files so far.
    pub fn spilled(&self) -> usize {
        self.spilled.load(Ordering::Relaxed)
    }

    pub(super) fn add_spilled(&self, bytes: usize) {
        self.spilled.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn temp_directory(&self) -> std::path::PathBuf {
        self.temp_directory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_temp_directory(&self, dir: std::path::PathBuf) {
        *self
            .temp_directory
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = dir;
    }

    /// An empty reservation for `what` (named in an out-of-memory error).
    pub fn reservation(self: &Arc<MemoryPool>, what: &'static str) -> Reservation {
        Reservation {
            pool: self.clone(),
            size: 0,
            what,
        }
    }

    /// Takes `bytes` more if the pool then stays within `limit`.
    fn take(&self, bytes: usize, limit: usize) -> bool {
        let taken = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= limit)
            });
        if let Ok(before) = taken {
            self.peak.fetch_max(before + bytes, Ordering::Relaxed);
        }
        taken.is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Bytes held from a [`MemoryPool`] by one operator state, given back on drop.
#[derive(Debug)]
pub struct Reservation {
    pool: Arc<MemoryPool>,
    size: usize,
    what: &'static str,
}

impl Reservation {
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn pool(&self) -> &Arc<MemoryPool> {
        &self.pool
    }

    /// Holds `size` bytes, or fails with an out-of-memory error (holding what
    /// it held) if the pool has not that much left.
    pub fn resize(&mut self, size: usize) -> Result<()> {
        if self.try_resize(size, 1.0) {
            return Ok(());
        }
        Err(Error::OutOfMemory {
            what: self.what.to_string(),
            requested: size - self.size,
            used: self.pool.used(),
            limit: self.pool.limit(),
        })
    }

    /// Holds `size` bytes if the pool then stays within `fraction` of its
    /// limit (shrinking always succeeds); whether it does.
    pub fn try_resize(&mut self, size: usize, fraction: f64) -> bool {
        if size <= self.size {
            self.pool.give_back(self.size - size);
            self.size = size;
            return true;
        }
        let limit = (self.pool.limit() as f64 * fraction) as usize;
        if !self.pool.take(size - self.size, limit) {
            return false;
        }
        self.size = size;
        true
    }

    /// Holds `size` bytes even past the limit: for bytes already in use, that
    /// others should see (and spill or fail) rather than this holder.
    pub fn force_resize(&mut self, size: usize) {
        if !self.try_resize(size, 1.0) {
            let before = self
                .pool
                .used
                .fetch_add(size - self.size, Ordering::Relaxed);
            self.pool
                .peak
                .fetch_max(before + size - self.size, Ordering::Relaxed);
            self.size = size;
        }
    }

    /// Takes over the bytes `other` holds.
    pub fn absorb(&mut self, mut other: Reservation) {
        self.size += std::mem::take(&mut other.size);
    }

    /// Holds `batches`' bytes more, or fails as [`Reservation::resize`] does.
    pub fn grow_by_batches(&mut self, batches: &[RecordBatch]) -> Result<()> {
        self.resize(self.size + batches_size(batches))
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.pool.give_back(self.size);
    }
}

/// The bytes of `batches`' rows: of the parts of their buffers they use, not of
/// the whole buffers, since a scan's morsel is a slice of a column file mapped
/// whole (counting its capacity counted the file once per morsel).
pub fn batches_size(batches: &[RecordBatch]) -> usize {
    batches.iter().map(batch_size).sum()
}

/// The bytes of one batch's rows, as [`batches_size`] counts them.
pub fn batch_size(batch: &RecordBatch) -> usize {
    batch.columns().iter().map(|c| array_size(c.as_ref())).sum()
}

/// The bytes of the rows of `array`, as [`batches_size`] counts them.
pub fn array_size(array: &dyn Array) -> usize {
    let data = array.to_data();
    data.get_slice_memory_size()
        .unwrap_or_else(|_| array.get_array_memory_size())
}

/// The bytes of a vector's allocation.
pub fn vec_size<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

/// The machine's physical memory, from /proc/meminfo.
fn physical_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `bytes` as DuckDB shows sizes: "1.5 GiB", "300.0 MiB", "12 bytes".
pub fn format_bytes(bytes: usize) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A size as `SET memory_limit` takes it: a number and a unit (`'1GB'`,
/// `'512 MiB'`, `'2.5GB'`; KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of
/// 1024, as in DuckDB; a bare number is bytes).
pub fn parse_bytes(text: &str) -> Result<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        Error::Bind(format!(
            "memory_limit must be a size such as '1GB' or '512MiB', not '{text}'"
        ))
    };
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = number * scale;
    if !bytes.is_finite() || bytes >= usize::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_duckdb_reads_them() {
        assert_eq!(parse_bytes("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_bytes("512 MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2.5gb").unwrap(), 2_500_000_000);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("1 parsec").is_err());
    }

    #[test]
    fn reservations_stay_within_the_limit_and_give_back_on_drop() {
        let pool = MemoryPool::new(1000);
        let mut a = pool.reservation("a");
        a.resize(600).unwrap();
        let mut b = pool.reservation("b");
        let err = b.resize(500).unwrap_err().to_string();
        assert!(err.starts_with("Out of Memory Error"), "{err}");
        assert!(!b.try_resize(300, 0.5));
        b.resize(400).unwrap();
        drop(a);
        assert_eq!(pool.used(), 400);
        b.resize(100).unwrap();
        assert_eq!(pool.used(), 100);
    }
}
