//! Column storage: immutable column files, memory-mapped and read without copying.
//!
//! # On-disk format
//!
//! A database directory holds `manifest.json` (the catalog, see [`crate::catalog`]) and a
//! `data/` directory of column files. A table is a list of *segments* (row groups of up to
//! [`SEGMENT_ROWS`] rows); a segment holds one *column chunk* per column.
//!
//! One write (an INSERT, COPY or CREATE TABLE AS) produces one file per column,
//! `data/<prefix>.c<column>.col`, holding that write's chunks of that column one after
//! another; a write of less than one segment produces a single file `data/<prefix>.col`
//! holding the chunks of all its columns (a file per column would cost a file creation
//! and an fsync per column for a few rows). A cube's refresh writes the rows of all its
//! cuboids into one such file, which their tables then share. Files are never modified
//! once written; a DROP or a failed statement leaves
//! files that no table references, and those are deleted (see
//! [`crate::catalog::remove_unreferenced_files`]).
//!
//! A column file is:
//!
//! ```text
//! offset 0   64-byte header: the magic "OLAPCOL\x01", then zero bytes
//! offset 64  the buffers of the first chunk, then of the next chunk, ...
//! ```
//!
//! Every buffer starts at an offset that is a multiple of 64 ([`ALIGNMENT`]); the gaps are
//! zero bytes. Since a memory mapping starts on a page boundary, each buffer of a mapped
//! file is suitably aligned to be wrapped as an Arrow [`arrow::buffer::Buffer`] in place.
//! Values are stored in the machine's native byte order (little-endian on every supported
//! platform), in Arrow's layout:
//!
//! | type | buffers of a plain chunk |
//! |------|--------------------------|
//! | Boolean | values, bit-packed (bit `i` of byte `i / 8`, least significant bit first) |
//! | Int32, Date32 | values, 4 bytes each |
//! | Int64, Float64, Timestamp(µs) | values, 8 bytes each |
//! | Decimal128(p, s) | unscaled values, 16 bytes each |
//! | Utf8 | `rows + 1` i32 offsets (the first is 0), then the UTF-8 bytes |
//!
//! A Utf8 chunk with few distinct values (at most 65535, and at most half its rows) is
//! dictionary encoded instead ([`Encoding::Dictionary`]): its buffers are the keys (one
//! `u8` per row when the dictionary has at most 256 entries, else one `u16`), then the
//! dictionary as a plain Utf8 array (`entries + 1` offsets, then bytes). Dictionary entries
//! are distinct and sorted in ascending byte order, so key order is value order.
//!
//! An Int32, Date32, Int64, Timestamp or Decimal128 chunk whose values lie close together is stored
//! packed instead ([`Encoding::Packed`], see [`packing`]): each value as its difference
//! from the chunk's smallest one, `base`, in `width` bytes (1, 2, 4 or 8, unsigned,
//! fewer than the type's own). The reader widens the rows it reads (a copy, where other
//! chunks are read in place). Chunks written before packing existed may hold
//! [`Encoding::Narrow`] decimals: 8-byte signed values, read as well.
//!
//! When a chunk has NULLs (`has_nulls`), a validity bitmap comes first: one bit per row in
//! Arrow's bit layout starting at bit 0, set for valid rows. The key (or value) of a NULL
//! row is unspecified.
//!
//! The file itself holds no metadata beyond the header: the manifest records for each
//! chunk its file, encoding, buffers (offset and length in bytes), whether it has NULLs and
//! its zone map ([`ZoneMap`]: min, max and NULL count, used to skip segments), and for each
//! file its length and crc32c. The reader ([`FileStore`]) checks length and checksum the
//! first time it maps a file in a process, then that every buffer lies inside the file and
//! is aligned, and validates the Arrow arrays it builds, so a damaged file gives
//! [`crate::Error::Corrupt`] rather than a crash.

pub mod crash_points;
pub mod packing;
pub mod reader;
pub mod writer;
pub mod zonemap;

pub use reader::FileStore;
pub use writer::TableWriter;
pub use zonemap::{ZoneMap, ZonePredicate};

use serde::{Deserialize, Serialize};

/// The default number of rows of a segment.
pub const SEGMENT_ROWS: usize = 131072;

/// Every buffer of a column file starts at a multiple of this many bytes.
pub const ALIGNMENT: u64 = 64;

/// The first bytes of every column file.
pub const MAGIC: &[u8; 8] = b"OLAPCOL\x01";

/// The length of a column file's header (the magic, padded to [`ALIGNMENT`]).
pub const HEADER_LEN: u64 = ALIGNMENT;

/// One column file, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// The file name inside the `data/` directory.
    pub name: String,
    /// Its length in bytes.
    pub len: u64,
    /// The crc32c of its whole content.
    pub crc32c: u32,
}

/// Where one buffer lies inside a column file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferRef {
    /// Byte offset from the start of the file (a multiple of [`ALIGNMENT`]).
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// How a column chunk is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// The Arrow layout of the column's type.
    Plain,
    /// Keys into a dictionary of `entries` distinct, sorted strings (Utf8 only).
    Dictionary { entries: u32 },
    /// Decimal128 values as i64 (widened on read; no longer written: cuboid
    /// files of earlier versions hold them).
    Narrow,
    /// Integers, dates or decimals as their differences from `base`, `width`
    /// bytes each (see [`packing`]).
    Packed { base: i64, width: u8 },
}

/// One column of one segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnChunk {
    /// The name of the file (in `data/`) that holds the chunk's buffers.
    pub file: String,
    pub encoding: Encoding,
    /// The validity bitmap first if `has_nulls`, then the buffers of the encoding.
    pub buffers: Vec<BufferRef>,
    pub has_nulls: bool,
    pub zone: ZoneMap,
}

/// One segment (row group) of a table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentMeta {
    pub row_count: u64,
    /// One chunk per column of the table, in column order.
    pub columns: Vec<ColumnChunk>,
}

/// The stored data of one table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TableData {
    /// Every file that holds a chunk of this table.
    #[serde(default)]
    pub files: Vec<DataFile>,
    /// The segments, in row order.
    #[serde(default)]
    pub segments: Vec<SegmentMeta>,
}

impl TableData {
    /// The number of rows of the table.
    pub fn row_count(&self) -> u64 {
        self.segments.iter().map(|s| s.row_count).sum()
    }

    /// Appends the files and segments of another write after this table's.
    pub fn append(&mut self, other: TableData) {
        self.files.extend(other.files);
        self.segments.extend(other.segments);
    }

    /// The manifest entry of file `name`.
    pub fn file(&self, name: &str) -> Option<&DataFile> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// `pos` rounded up to a multiple of [`ALIGNMENT`].
pub(crate) fn align_up(pos: u64) -> u64 {
    pos.div_ceil(ALIGNMENT) * ALIGNMENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_data_appends_and_counts() {
        let seg = |n| SegmentMeta {
            row_count: n,
            columns: vec![],
        };
        let mut a = TableData {
            files: vec![DataFile {
                name: "a".into(),
                len: 1,
                crc32c: 2,
            }],
            segments: vec![seg(3)],
        };
        a.append(TableData {
            files: vec![],
            segments: vec![seg(4), seg(5)],
        });
        assert_eq!(a.row_count(), 12);
        assert_eq!(a.segments.len(), 3);
        assert!(a.file("a").is_some());
        assert_eq!(align_up(0), 0);
        assert_eq!(align_up(1), 64);
        assert_eq!(align_up(64), 64);
        assert_eq!(align_up(65), 128);
    }
}
