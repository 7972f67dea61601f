//! Reading column chunks from memory-mapped column files, without copying (but
//! for packed chunks, widened as they are read).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow::array::{make_array, ArrayData, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use memmap2::Mmap;

use super::packing::PackedRows;
use super::{
    ColumnChunk, DataFile, Encoding, SegmentMeta, TableData, ALIGNMENT, HEADER_LEN, MAGIC,
};
use crate::buffer_pool::RowFilter;
use crate::error::{Error, Result};

/// One file's mapping, filled the first time the file is read.
type Slot = Arc<Mutex<Option<Buffer>>>;

/// Maps column files and builds Arrow arrays over them.
///
/// Each file is mapped once per store (and its length and crc32c checked then); the
/// mapping stays alive while any array built over it does. Each chunk's array is
/// built (and validated: offsets, UTF-8) once per store too, and kept.
pub struct FileStore {
    data_dir: PathBuf,
    files: Mutex<HashMap<String, Slot>>,
    /// Arrays built so far, by (file, offset of the chunk's first buffer).
    chunks: Mutex<HashMap<(String, u64), ArrayRef>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl FileStore {
    /// A store reading files from `data_dir` (the database's `data/` directory).
    pub fn new(data_dir: impl Into<PathBuf>) -> FileStore {
        FileStore {
            data_dir: data_dir.into(),
            files: Mutex::new(HashMap::new()),
            chunks: Mutex::new(HashMap::new()),
        }
    }

    /// The directory the files are read from.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The column `column` of `segment` as a plain Arrow array of `data_type`
    /// (zero-copy for plain chunks; dictionary chunks are decoded).
    pub fn read_column(
        &self,
        table: &TableData,
        segment: &SegmentMeta,
        column: usize,
        data_type: &DataType,
    ) -> Result<ArrayRef> {
        let rows = 0..segment.row_count as usize;
        self.read_column_rows(table, segment, column, data_type, rows)
    }

    /// Rows `rows` of [`FileStore::read_column`] (only those are decoded).
    pub fn read_column_rows(
        &self,
        table: &TableData,
        segment: &SegmentMeta,
        column: usize,
        data_type: &DataType,
        rows: std::ops::Range<usize>,
    ) -> Result<ArrayRef> {
        let array = self.read_encoded_rows(table, segment, column, data_type, rows)?;
        decode(&array, data_type)
    }

    /// Rows `rows` of [`FileStore::read_column_encoded`]: for a dictionary chunk,
    /// a slice of its keys over the whole dictionary (decode with [`decode`]).
    pub fn read_encoded_rows(
        &self,
        table: &TableData,
        segment: &SegmentMeta,
        column: usize,
        data_type: &DataType,
        rows: std::ops::Range<usize>,
    ) -> Result<ArrayRef> {
        Ok(self
            .read_stored_rows(table, segment, column, data_type, rows)?
            .widen())
    }

    /// Rows `rows` of column `column` of `segment` as stored: packed chunks not
    /// yet widened, the others as [`FileStore::read_encoded_rows`] gives them.
    pub fn read_stored_rows(
        &self,
        table: &TableData,
        segment: &SegmentMeta,
        column: usize,
        data_type: &DataType,
        rows: std::ops::Range<usize>,
    ) -> Result<StoredColumn> {
        let chunk = chunk_of(segment, column)?;
        if let Encoding::Packed { base, width } = chunk.encoding {
            let packed = self.read_packed(table, segment, chunk, data_type, (base, width), rows)?;
            return Ok(StoredColumn::Packed(packed));
        }
        let whole = self.read_column_encoded(table, segment, column, data_type)?;
        if rows.end > whole.len() || rows.start > rows.end {
            return Err(Error::Execute(format!(
                "internal error: rows {rows:?} of a chunk of {}",
                whole.len()
            )));
        }
        Ok(StoredColumn::Array(if rows.len() == whole.len() {
            whole
        } else {
            whole.slice(rows.start, rows.len())
        }))
    }

    /// Every row of `table` (of `schema`), a batch per segment, each column as
    /// stored ([`FileStore::read_column_encoded`]: strings of dictionary chunks
    /// stay dictionary-encoded, the batch's schema says so).
    pub fn read_table_encoded(
        &self,
        table: &TableData,
        schema: &SchemaRef,
    ) -> Result<Vec<RecordBatch>> {
        table
            .segments
            .iter()
            .map(|segment| {
                let columns = schema
                    .fields()
                    .iter()
                    .enumerate()
                    .map(|(c, f)| self.read_column_encoded(table, segment, c, f.data_type()))
                    .collect::<Result<Vec<_>>>()?;
                batch_typed_as_columns(schema, columns, segment.row_count as usize)
            })
            .collect()
    }

    /// The column `column` of `segment` as stored, without copying: a plain array of
    /// `data_type`, or for a dictionary-encoded Utf8 chunk a `DictionaryArray` with
    /// `UInt8` keys (at most 256 entries) or `UInt16` keys, over sorted distinct values.
    pub fn read_column_encoded(
        &self,
        table: &TableData,
        segment: &SegmentMeta,
        column: usize,
        data_type: &DataType,
    ) -> Result<ArrayRef> {
        let chunk = chunk_of(segment, column)?;
        if let Encoding::Packed { .. } = chunk.encoding {
            let rows = 0..segment.row_count as usize;
            return self.read_encoded_rows(table, segment, column, data_type, rows);
        }
        let key = (
            chunk.file.clone(),
            chunk.buffers.first().map_or(0, |b| b.offset),
        );
        if let Some(array) = lock(&self.chunks).get(&key) {
            if array.len() as u64 == segment.row_count {
                return Ok(array.clone());
            }
        }
        let array = self.build_chunk(table, segment, chunk, data_type)?;
        lock(&self.chunks).insert(key, array.clone());
        Ok(array)
    }

    /// Rows `rows` of a packed chunk ([`Encoding::Packed`]), not yet widened.
    fn read_packed(
        &self,
        table: &TableData,
        segment: &SegmentMeta,
        chunk: &ColumnChunk,
        data_type: &DataType,
        (base, width): (i64, u8),
        rows: std::ops::Range<usize>,
    ) -> Result<PackedRows> {
        let corrupt = |what: String| Error::Corrupt(format!("data file {}: {what}", chunk.file));
        let (all_rows, nulls, buffers) = self.chunk_buffers(table, segment, chunk)?;
        let [stored] = buffers.as_slice() else {
            return Err(corrupt(format!(
                "a packed chunk has {} buffers, 1 expected",
                buffers.len()
            )));
        };
        if rows.end > all_rows || rows.start > rows.end {
            return Err(Error::Execute(format!(
                "internal error: rows {rows:?} of a chunk of {all_rows}"
            )));
        }
        if stored.len() != all_rows * width as usize {
            return Err(corrupt(format!(
                "a packed chunk of {all_rows} rows has {} bytes",
                stored.len()
            )));
        }
        let nulls =
            match nulls {
                Some(bits) if bits.len() * 8 >= all_rows => Some(NullBuffer::new(
                    BooleanBuffer::new(bits, rows.start, rows.len()),
                )),
                Some(_) => return Err(corrupt("a validity buffer is too short".into())),
                None => None,
            };
        PackedRows::new(stored, nulls, data_type, base, width, rows).map_err(corrupt)
    }

    /// A chunk's rows, validity buffer (if it has NULLs) and other buffers, as
    /// slices of its mapped file.
    fn chunk_buffers(
        &self,
        table: &TableData,
        segment: &SegmentMeta,
        chunk: &ColumnChunk,
    ) -> Result<(usize, Option<Buffer>, Vec<Buffer>)> {
        let file = table.file(&chunk.file).ok_or_else(|| {
            Error::Corrupt(format!(
                "data file {} is not listed in the manifest",
                chunk.file
            ))
        })?;
        let whole = self.mapped(file)?;
        let corrupt = |what: String| Error::Corrupt(format!("data file {}: {what}", chunk.file));
        let rows = usize::try_from(segment.row_count)
            .map_err(|_| corrupt(format!("{} rows in a segment", segment.row_count)))?;
        let mut buffers = slice_buffers(&whole, chunk).map_err(corrupt)?;
        let nulls = if chunk.has_nulls {
            if buffers.is_empty() {
                return Err(corrupt("a chunk with NULLs has no validity buffer".into()));
            }
            Some(buffers.remove(0))
        } else {
            None
        };
        Ok((rows, nulls, buffers))
    }

    /// Maps and validates one chunk (not a packed one).
    fn build_chunk(
        &self,
        table: &TableData,
        segment: &SegmentMeta,
        chunk: &ColumnChunk,
        data_type: &DataType,
    ) -> Result<ArrayRef> {
        let corrupt = |what: String| Error::Corrupt(format!("data file {}: {what}", chunk.file));
        let (rows, nulls, buffers) = self.chunk_buffers(table, segment, chunk)?;
        let build = |dt: DataType,
                     len: usize,
                     nulls: Option<Buffer>,
                     buffers: Vec<Buffer>,
                     children: Vec<ArrayData>| {
            ArrayData::try_new(dt, len, nulls, 0, buffers, children)
                .map_err(|e| corrupt(format!("invalid column chunk: {e}")))
        };
        let expect = |n: usize, buffers: &Vec<Buffer>| {
            if buffers.len() == n {
                Ok(())
            } else {
                Err(corrupt(format!(
                    "a {data_type} chunk has {} buffers, {n} expected",
                    buffers.len()
                )))
            }
        };
        let data = match (&chunk.encoding, data_type) {
            (
                Encoding::Plain,
                DataType::Boolean
                | DataType::Int32
                | DataType::Int64
                | DataType::Float64
                | DataType::Decimal128(_, _)
                | DataType::Date32
                | DataType::Timestamp(..),
            ) => {
                expect(1, &buffers)?;
                build(data_type.clone(), rows, nulls, buffers, vec![])?
            }
            (Encoding::Plain, DataType::Utf8) => {
                expect(2, &buffers)?;
                build(DataType::Utf8, rows, nulls, buffers, vec![])?
            }
            (Encoding::Dictionary { entries }, DataType::Utf8) => {
                expect(3, &buffers)?;
                let mut buffers = buffers.into_iter();
                let (Some(keys), Some(offsets), Some(values)) =
                    (buffers.next(), buffers.next(), buffers.next())
                else {
                    return Err(corrupt("a dictionary chunk misses buffers".into()));
                };
                let entries = *entries as usize;
                let dictionary =
                    build(DataType::Utf8, entries, None, vec![offsets, values], vec![])?;
                let key_type = if entries <= 256 {
                    DataType::UInt8
                } else {
                    DataType::UInt16
                };
                let dt = DataType::Dictionary(Box::new(key_type), Box::new(DataType::Utf8));
                build(dt, rows, nulls, vec![keys], vec![dictionary])?
            }
            (Encoding::Narrow, DataType::Decimal128(..)) => {
                expect(1, &buffers)?;
                if buffers[0].len() != rows * 8 {
                    return Err(corrupt(format!(
                        "a narrow chunk of {rows} rows has {} bytes",
                        buffers[0].len()
                    )));
                }
                let narrow = ScalarBuffer::<i64>::new(buffers[0].clone(), 0, rows);
                let wide: ScalarBuffer<i128> = narrow.iter().map(|&v| i128::from(v)).collect();
                build(
                    data_type.clone(),
                    rows,
                    nulls,
                    vec![wide.into_inner()],
                    vec![],
                )?
            }
            (Encoding::Packed { .. }, _) => {
                return Err(Error::Execute(
                    "internal error: a packed chunk read whole".into(),
                ));
            }
            (Encoding::Narrow, other) => {
                return Err(corrupt(format!(
                    "a column of type {other} is stored narrow"
                )));
            }
            (Encoding::Dictionary { .. }, other) => {
                return Err(corrupt(format!(
                    "a column of type {other} is dictionary encoded"
                )));
            }
            (Encoding::Plain, other) => {
                return Err(Error::Unsupported(format!(
                    "reading a stored column of type {other}"
                )));
            }
        };
        Ok(make_array(data))
    }

    /// Forgets cached mappings of these files (called before they are deleted).
    pub fn forget(&self, names: &[String]) {
        let mut files = lock(&self.files);
        for name in names {
            files.remove(name);
        }
        lock(&self.chunks).retain(|(file, _), _| !names.contains(file));
    }

    /// The whole mapped file as one buffer, mapping and checking it on first use.
    fn mapped(&self, file: &DataFile) -> Result<Buffer> {
        let slot = lock(&self.files)
            .entry(file.name.clone())
            .or_default()
            .clone();
        let mut slot = lock(&slot);
        if let Some(buffer) = slot.as_ref() {
            return Ok(buffer.clone());
        }
        let buffer = map_file(&self.data_dir, file)?;
        *slot = Some(buffer.clone());
        Ok(buffer)
    }

    /// The cached mapping of a file, if it is mapped.
    #[cfg(test)]
    fn cached(&self, name: &str) -> Option<Buffer> {
        let slot = lock(&self.files).get(name).cloned()?;
        let slot = lock(&slot);
        slot.clone()
    }
}

/// A batch of `rows` rows of `columns` with the names of `schema`'s fields but
/// the columns' own types (dictionary-encoded strings where `schema` says Utf8,
/// say): `schema` itself when the types are its own, the usual case.
pub fn batch_typed_as_columns(
    schema: &SchemaRef,
    columns: Vec<ArrayRef>,
    rows: usize,
) -> Result<RecordBatch> {
    let same_types = schema
        .fields()
        .iter()
        .zip(&columns)
        .all(|(f, c)| f.data_type() == c.data_type());
    let schema = if same_types {
        schema.clone()
    } else {
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
            .collect();
        Arc::new(Schema::new(fields))
    };
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

/// Rows of a column as stored ([`FileStore::read_stored_rows`]).
#[derive(Debug, Clone)]
pub enum StoredColumn {
    /// Plain, or dictionary-encoded strings.
    Array(ArrayRef),
    /// Packed integers, dates or decimals, not yet widened.
    Packed(PackedRows),
}

impl StoredColumn {
    /// The rows as an array: packed ones widened, the others as they are.
    pub fn widen(&self) -> ArrayRef {
        match self {
            StoredColumn::Array(array) => array.clone(),
            StoredColumn::Packed(packed) => packed.widen(),
        }
    }

    /// The rows `predicate` keeps, still as stored.
    pub fn filter(&self, predicate: &RowFilter) -> Result<StoredColumn> {
        Ok(match self {
            StoredColumn::Array(array) => StoredColumn::Array(predicate.filter(array.as_ref())?),
            StoredColumn::Packed(packed) => StoredColumn::Packed(packed.filter(predicate)?),
        })
    }
}

/// Column `column`'s chunk of `segment`.
fn chunk_of(segment: &SegmentMeta, column: usize) -> Result<&ColumnChunk> {
    segment.columns.get(column).ok_or_else(|| {
        Error::Corrupt(format!(
            "a segment has {} columns in the manifest, column {column} was read",
            segment.columns.len()
        ))
    })
}

/// A column as read ([`FileStore::read_encoded_rows`]) as a plain array of
/// `data_type`: dictionary chunks are decoded, plain ones returned as they are.
pub fn decode(array: &ArrayRef, data_type: &DataType) -> Result<ArrayRef> {
    if array.data_type() == data_type {
        Ok(array.clone())
    } else {
        Ok(arrow::compute::cast(array, data_type)?)
    }
}

/// Maps a file after checking that its length and crc32c are what the manifest says.
fn map_file(data_dir: &Path, file: &DataFile) -> Result<Buffer> {
    let name = &file.name;
    let corrupt = |what: String| Error::Corrupt(format!("data file {name}: {what}"));
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::Corrupt(format!(
            "invalid data file name {name:?} in the manifest"
        )));
    }
    let path = data_dir.join(name);
    let handle = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(corrupt(format!("missing ({})", path.display())))
        }
        Err(e) => {
            return Err(Error::io(
                format!("opening data file {}", path.display()),
                e,
            ))
        }
    };
    let actual = handle
        .metadata()
        .map_err(|e| Error::io(format!("reading metadata of {}", path.display()), e))?
        .len();
    if actual != file.len {
        return Err(corrupt(format!(
            "{actual} bytes, the manifest says {} (truncated or overwritten)",
            file.len
        )));
    }
    if actual < HEADER_LEN {
        return Err(corrupt("too short for a column file".into()));
    }
    let len = usize::try_from(actual).map_err(|_| corrupt("too large to map".into()))?;
    // SAFETY: column files are immutable once written and only deleted after `forget`;
    // the length was checked above, so every byte of the mapping is backed by the file.
    let mmap = unsafe { Mmap::map(&handle) }
        .map_err(|e| Error::io(format!("mapping data file {}", path.display()), e))?;
    if mmap.len() != len {
        return Err(corrupt(format!(
            "mapped {} bytes, expected {len}",
            mmap.len()
        )));
    }
    let crc = crc32c::crc32c(&mmap);
    if crc != file.crc32c {
        return Err(corrupt(format!(
            "checksum {crc:08x} does not match the manifest's {:08x} (the file was altered)",
            file.crc32c
        )));
    }
    if &mmap[..MAGIC.len()] != MAGIC {
        return Err(corrupt("not a column file".into()));
    }
    let ptr =
        NonNull::new(mmap.as_ptr() as *mut u8).ok_or_else(|| corrupt("mapped at null".into()))?;
    if ptr.as_ptr().align_offset(ALIGNMENT as usize) != 0 {
        return Err(corrupt("mapping is not aligned".into()));
    }
    // SAFETY: `ptr` points to `len` readable bytes owned by the mapping, which the buffer
    // keeps alive (the `Arc<Mmap>`), and which are never written through.
    Ok(unsafe { Buffer::from_custom_allocation(ptr, len, Arc::new(mmap)) })
}

/// The chunk's buffers as slices of the mapped file, after checking that each is
/// aligned and inside the file.
fn slice_buffers(whole: &Buffer, chunk: &ColumnChunk) -> std::result::Result<Vec<Buffer>, String> {
    chunk
        .buffers
        .iter()
        .map(|b| {
            let inside = b
                .offset
                .checked_add(b.len)
                .is_some_and(|end| end <= whole.len() as u64);
            if !inside || b.offset < HEADER_LEN {
                return Err(format!(
                    "buffer at {} of {} bytes is outside the file ({} bytes)",
                    b.offset,
                    b.len,
                    whole.len()
                ));
            }
            if b.offset % ALIGNMENT != 0 {
                return Err(format!("buffer at {} is not aligned", b.offset));
            }
            Ok(whole.slice_with_length(b.offset as usize, b.len as usize))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{BufferRef, TableWriter};
    use arrow::array::*;
    use arrow::datatypes::{Field, Schema, SchemaRef};

    fn temp_dir(tag: &str) -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("olap-reader-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes `arrays` (one column each) in batches of `batch_rows`, reads every segment
    /// back and checks that the concatenation equals the input.
    fn round_trip(arrays: Vec<ArrayRef>, segment_rows: usize, batch_rows: usize) -> TableData {
        let dir = temp_dir("rt");
        let schema: SchemaRef = Arc::new(Schema::new(
            arrays
                .iter()
                .enumerate()
                .map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let rows = arrays.first().map_or(0, |a| a.len());
        let mut w = TableWriter::new(&dir, "f000001", schema.clone(), segment_rows).unwrap();
        let mut start = 0;
        loop {
            let n = batch_rows.min(rows - start);
            let cols: Vec<ArrayRef> = arrays.iter().map(|a| a.slice(start, n)).collect();
            w.push(&RecordBatch::try_new(schema.clone(), cols).unwrap())
                .unwrap();
            start += n;
            if start >= rows {
                break;
            }
        }
        let data = w.finish().unwrap();
        assert_eq!(data.row_count() as usize, rows);
        let expected_segments = rows.div_ceil(segment_rows);
        assert_eq!(data.segments.len(), expected_segments);
        let store = FileStore::new(&dir);
        for (c, expected) in arrays.iter().enumerate() {
            let parts: Vec<ArrayRef> = data
                .segments
                .iter()
                .map(|s| {
                    let a = store
                        .read_column(&data, s, c, expected.data_type())
                        .unwrap();
                    assert_eq!(a.len() as u64, s.row_count);
                    assert_eq!(a.data_type(), expected.data_type());
                    // the zone map of the chunk is that of the values read back
                    assert_eq!(
                        ZoneMapCheck(&s.columns[c].zone),
                        ZoneMapCheck(&crate::storage::ZoneMap::compute(a.as_ref()).unwrap())
                    );
                    // a range of rows reads as the same slice (read twice: built
                    // once, then from the store's cache)
                    let n = a.len();
                    for _ in 0..2 {
                        let part = store
                            .read_column_rows(&data, s, c, expected.data_type(), n / 3..n)
                            .unwrap();
                        assert_eq!(part.to_data(), a.slice(n / 3, n - n / 3).to_data());
                    }
                    let beyond =
                        store.read_column_rows(&data, s, c, expected.data_type(), 0..n + 1);
                    assert!(beyond.is_err());
                    a
                })
                .collect();
            if parts.is_empty() {
                assert_eq!(expected.len(), 0);
                continue;
            }
            let refs: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
            let back = arrow::compute::concat(&refs).unwrap();
            assert_eq!(back.to_data(), expected.to_data(), "column {c}");
        }
        std::fs::remove_dir_all(&dir).ok();
        data
    }

    /// Zone maps compared by their JSON (floats: -0.0 vs 0.0, NaN-free here).
    #[derive(Debug)]
    struct ZoneMapCheck<'a>(&'a crate::storage::ZoneMap);
    impl PartialEq for ZoneMapCheck<'_> {
        fn eq(&self, other: &Self) -> bool {
            serde_json::to_string(self.0).unwrap() == serde_json::to_string(other.0).unwrap()
        }
    }

    fn all_types(n: usize, nulls: bool) -> Vec<ArrayRef> {
        let valid = |i: usize| !nulls || i % 3 != 1;
        vec![
            Arc::new(BooleanArray::from_iter(
                (0..n).map(|i| valid(i).then_some(i % 5 < 2)),
            )),
            Arc::new(Int32Array::from_iter(
                (0..n).map(|i| valid(i).then_some(i as i32 - 7)),
            )),
            Arc::new(Int64Array::from_iter(
                (0..n).map(|i| valid(i).then_some(i as i64 * 1_000_000_007)),
            )),
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| valid(i).then_some(i as f64 / 3.0 - 1.0)),
            )),
            Arc::new(
                Decimal128Array::from_iter(
                    (0..n).map(|i| valid(i).then_some(i as i128 * 101 - 5000)),
                )
                .with_precision_and_scale(15, 2)
                .unwrap(),
            ),
            Arc::new(Date32Array::from_iter(
                (0..n).map(|i| valid(i).then_some(i as i32 + 9000)),
            )),
            // distinct strings (plain), including empty strings
            Arc::new(StringArray::from_iter((0..n).map(|i| {
                valid(i).then(|| {
                    if i % 4 == 0 {
                        String::new()
                    } else {
                        format!("s{i}é")
                    }
                })
            }))),
            // repeated strings (dictionary), including empty strings
            Arc::new(StringArray::from_iter((0..n).map(|i| {
                valid(i).then(|| ["", "north", "south"][(i / 2) % 3].to_string())
            }))),
        ]
    }

    #[test]
    fn round_trip_every_type() {
        for nulls in [false, true] {
            for (rows, seg, batch) in [
                (0, 4, 3),
                (1, 4, 1),
                (4, 4, 4),
                (5, 4, 2),
                (1000, 1000, 1000),
                (1001, 1000, 333),
                (2500, 1000, 2500),
            ] {
                round_trip(all_types(rows, nulls), seg, batch);
            }
        }
    }

    #[test]
    fn round_trip_all_null_and_sliced_input() {
        let n = 10;
        let arrays: Vec<ArrayRef> = all_types(n, false)
            .iter()
            .map(|a| new_null_array(a.data_type(), n))
            .collect();
        let data = round_trip(arrays, 4, 10);
        assert!(data.segments[0]
            .columns
            .iter()
            .all(|c| c.has_nulls && c.zone.null_count == 4));
        // Input arrays with non-zero offsets (bits not byte-aligned).
        let arrays: Vec<ArrayRef> = all_types(103, true)
            .iter()
            .map(|a| a.slice(3, 97))
            .collect();
        round_trip(arrays, 10, 7);
        let data = round_trip(all_types(64, false), 64, 64);
        assert!(data.segments[0].columns.iter().all(|c| !c.has_nulls));
    }

    #[test]
    fn reads_are_zero_copy_and_dictionaries_stay_encoded() {
        let dir = temp_dir("zc");
        let arrays = all_types(2000, true);
        let schema: SchemaRef = Arc::new(Schema::new(
            arrays
                .iter()
                .enumerate()
                .map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let mut w = TableWriter::new(&dir, "f000009", schema.clone(), 1000).unwrap();
        w.push(&RecordBatch::try_new(schema.clone(), arrays).unwrap())
            .unwrap();
        let data = w.finish().unwrap();
        let store = FileStore::new(&dir);
        let seg = &data.segments[1];
        let inside = |name: &str, ptr: *const u8| {
            let whole = store.cached(name).unwrap();
            let range = whole.as_ptr() as usize..whole.as_ptr() as usize + whole.len();
            assert!(range.contains(&(ptr as usize)), "{name}");
        };
        for (c, field) in schema.fields().iter().enumerate() {
            let a = store
                .read_column_encoded(&data, seg, c, field.data_type())
                .unwrap();
            let d = a.to_data();
            // Packed chunks are widened into memory of their own.
            if !matches!(seg.columns[c].encoding, Encoding::Packed { .. }) {
                for b in d.buffers() {
                    inside(&seg.columns[c].file, b.as_ptr());
                }
            }
            inside(&seg.columns[c].file, d.nulls().unwrap().buffer().as_ptr());
        }
        let dict = store
            .read_column_encoded(&data, seg, 7, &DataType::Utf8)
            .unwrap();
        assert_eq!(
            dict.data_type(),
            &DataType::Dictionary(Box::new(DataType::UInt8), Box::new(DataType::Utf8))
        );
        let dict = dict.as_dictionary::<arrow::datatypes::UInt8Type>();
        let values = dict.values().as_string::<i32>();
        assert_eq!(
            values.iter().collect::<Vec<_>>(),
            vec![Some(""), Some("north"), Some("south")]
        );
        inside(
            &seg.columns[7].file,
            dict.values().to_data().buffers()[0].as_ptr(),
        );
        let plain = store.read_column(&data, seg, 7, &DataType::Utf8).unwrap();
        assert_eq!(plain.data_type(), &DataType::Utf8);
        assert_eq!(
            plain.as_string::<i32>().value(2),
            ["", "north", "south"][(1002 / 2) % 3]
        );
        // Arrays keep the mapping alive after the store forgets it.
        let a = store
            .read_column(&data, seg, 3, &DataType::Float64)
            .unwrap();
        store.forget(
            &data
                .files
                .iter()
                .map(|f| f.name.clone())
                .collect::<Vec<_>>(),
        );
        assert!(store.cached(&seg.columns[3].file).is_none());
        assert_eq!(
            a.as_primitive::<arrow::datatypes::Float64Type>().value(2),
            1002.0 / 3.0 - 1.0
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    fn write_ints(dir: &Path, rows: i32) -> TableData {
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, true)]));
        let mut w = TableWriter::new(dir, "f000005", schema.clone(), 100).unwrap();
        let a: ArrayRef = Arc::new(Int32Array::from_iter_values(0..rows));
        w.push(&RecordBatch::try_new(schema, vec![a]).unwrap())
            .unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn truncated_or_altered_files_are_corrupt() {
        let dir = temp_dir("corrupt");
        let data = write_ints(&dir, 1000);
        let path = dir.join(&data.files[0].name);
        let original = std::fs::read(&path).unwrap();
        let read = |data: &TableData| {
            FileStore::new(&dir).read_column(data, &data.segments[3], 0, &DataType::Int32)
        };
        assert!(read(&data).is_ok());

        // truncated
        std::fs::write(&path, &original[..original.len() - 10]).unwrap();
        let err = read(&data).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt(m) if m.contains(&data.files[0].name)),
            "{err}"
        );
        // a flipped byte
        let mut flipped = original.clone();
        flipped[700] ^= 0x40;
        std::fs::write(&path, &flipped).unwrap();
        let err = read(&data).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt(m) if m.contains("checksum")),
            "{err}"
        );
        // missing
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(read(&data), Err(Error::Corrupt(_))));
        std::fs::write(&path, &original).unwrap();
        assert!(read(&data).is_ok());

        // A manifest whose buffers do not fit the file, or do not make a valid array.
        let store = FileStore::new(&dir);
        let mut bad = data.clone();
        bad.segments[3].columns[0].buffers[0] = BufferRef {
            offset: original.len() as u64 - 64,
            len: 400,
        };
        assert!(matches!(
            store.read_column(&bad, &bad.segments[3], 0, &DataType::Int32),
            Err(Error::Corrupt(_))
        ));
        bad.segments[3].columns[0].buffers[0] = BufferRef { offset: 65, len: 4 };
        assert!(matches!(
            store.read_column(&bad, &bad.segments[3], 0, &DataType::Int32),
            Err(Error::Corrupt(_))
        ));
        bad.segments[3].columns[0].buffers[0] = BufferRef {
            offset: u64::MAX - 3,
            len: 8,
        };
        assert!(matches!(
            store.read_column(&bad, &bad.segments[3], 0, &DataType::Int32),
            Err(Error::Corrupt(_))
        ));
        bad.segments[3].columns[0].buffers[0] = BufferRef { offset: 64, len: 8 };
        assert!(matches!(
            store.read_column(&bad, &bad.segments[3], 0, &DataType::Int32),
            Err(Error::Corrupt(_))
        ));
        bad.segments[3].row_count = u64::MAX;
        assert!(matches!(
            store.read_column(&bad, &bad.segments[3], 0, &DataType::Int32),
            Err(Error::Corrupt(_))
        ));
        let mut bad = data.clone();
        bad.segments[3].columns[0].has_nulls = true;
        assert!(matches!(
            store.read_column(&bad, &bad.segments[3], 0, &DataType::Int32),
            Err(Error::Corrupt(_))
        ));
        let mut bad = data.clone();
        bad.segments[3].columns[0].encoding = Encoding::Dictionary { entries: 3 };
        assert!(matches!(
            store.read_column(&bad, &bad.segments[3], 0, &DataType::Int32),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            store.read_column(&bad, &bad.segments[3], 0, &DataType::Utf8),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            store.read_column(&data, &data.segments[3], 1, &DataType::Int32),
            Err(Error::Corrupt(_))
        ));
        let mut bad = data.clone();
        bad.files[0].name = "../escape".into();
        bad.segments[3].columns[0].file = "../escape".into();
        assert!(matches!(
            store.read_column(&bad, &bad.segments[3], 0, &DataType::Int32),
            Err(Error::Corrupt(_))
        ));
        // The good manifest still reads.
        let a = store
            .read_column(&data, &data.segments[3], 0, &DataType::Int32)
            .unwrap();
        assert_eq!(
            a.as_primitive::<arrow::datatypes::Int32Type>().value(0),
            300
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn corrupt_string_chunks_are_errors_not_panics() {
        let dir = temp_dir("strings");
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let mut w = TableWriter::new(&dir, "f000006", schema.clone(), 100).unwrap();
        let plain: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..100).map(|i| format!("v{i}")),
        ));
        w.push(&RecordBatch::try_new(schema.clone(), vec![plain]).unwrap())
            .unwrap();
        let dict: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..100).map(|i| ["a", "b"][i % 2]),
        ));
        w.push(&RecordBatch::try_new(schema, vec![dict]).unwrap())
            .unwrap();
        let data = w.finish().unwrap();
        let store = FileStore::new(&dir);
        // offsets and data swapped
        let mut bad = data.clone();
        bad.segments[0].columns[0].buffers.swap(0, 1);
        assert!(matches!(
            store.read_column(&bad, &bad.segments[0], 0, &DataType::Utf8),
            Err(Error::Corrupt(_))
        ));
        // too many dictionary entries for the keys' width and the buffers
        let mut bad = data.clone();
        bad.segments[1].columns[0].encoding = Encoding::Dictionary { entries: 1000 };
        assert!(matches!(
            store.read_column(&bad, &bad.segments[1], 0, &DataType::Utf8),
            Err(Error::Corrupt(_))
        ));
        // keys out of the dictionary's range
        let mut bad = data.clone();
        bad.segments[1].columns[0].encoding = Encoding::Dictionary { entries: 1 };
        assert!(matches!(
            store.read_column(&bad, &bad.segments[1], 0, &DataType::Utf8),
            Err(Error::Corrupt(_))
        ));
        let a = store
            .read_column(&data, &data.segments[1], 0, &DataType::Utf8)
            .unwrap();
        assert_eq!(a.as_string::<i32>().value(3), "b");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn store_is_send_and_sync_and_reads_in_parallel() {
        fn check<T: Send + Sync>() {}
        check::<FileStore>();
        let dir = temp_dir("par");
        let data = write_ints(&dir, 1000);
        let store = FileStore::new(&dir);
        use rayon::prelude::*;
        let total: i64 = data
            .segments
            .par_iter()
            .map(|s| {
                let a = store.read_column(&data, s, 0, &DataType::Int32).unwrap();
                a.as_primitive::<arrow::datatypes::Int32Type>()
                    .values()
                    .iter()
                    .map(|v| *v as i64)
                    .sum::<i64>()
            })
            .sum();
        assert_eq!(total, (0..1000).sum::<i64>());
        std::fs::remove_dir_all(&dir).ok();
    }
}
