//! Writing a table's rows into new column files (see the format in [`crate::storage`]).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{
    ArrowNativeType, ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, Float64Type,
    Int32Type, Int64Type, SchemaRef, TimeUnit, TimestampMicrosecondType, ToByteSlice,
};
use rayon::prelude::*;

use super::{
    align_up, packing, BufferRef, ColumnChunk, DataFile, Encoding, SegmentMeta, TableData, ZoneMap,
    HEADER_LEN, MAGIC,
};
use crate::error::{Error, Result};

/// The most entries a dictionary-encoded chunk may have.
pub const MAX_DICTIONARY_ENTRIES: usize = 65535;

/// After this many rows, a chunk whose values were mostly distinct so far is
/// stored plain without looking further.
const EARLY_GUESS_ROWS: usize = 4096;

/// Writes the rows of one statement into one new file per column (or, for less
/// than one segment of rows, one file for all columns).
///
/// If it is dropped without [`TableWriter::finish`] (an error mid-load), it removes the
/// files it created.
pub struct TableWriter {
    data_dir: PathBuf,
    file_prefix: String,
    schema: SchemaRef,
    segment_rows: usize,
    /// Rows not yet written, as column arrays of batches.
    pending: Vec<Vec<ArrayRef>>,
    pending_rows: usize,
    /// One per column; created with the first segment.
    files: Vec<ColumnFile>,
    segments: Vec<SegmentMeta>,
    /// Every file created so far (removed on drop unless finished).
    created: Vec<PathBuf>,
    finished: bool,
}

/// One column file being written (or, `W = Vec<u8>`, a part of one encoded in
/// memory).
struct ColumnFile<W: Write = BufWriter<File>> {
    name: String,
    path: PathBuf,
    out: W,
    pos: u64,
    crc: u32,
}

impl ColumnFile {
    /// Creates the new file `path` (named `name` in the manifest) and writes its
    /// header.
    fn create(name: String, path: PathBuf) -> Result<ColumnFile> {
        super::crash_points::step();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(format!("creating data file {}", path.display()), e))?;
        let mut file = ColumnFile {
            name,
            path,
            out: BufWriter::with_capacity(256 * 1024, file),
            pos: 0,
            crc: 0,
        };
        let mut header = [0u8; HEADER_LEN as usize];
        header[..MAGIC.len()].copy_from_slice(MAGIC);
        if let Err(e) = file.write(&header) {
            let _ = std::fs::remove_file(&file.path);
            return Err(e);
        }
        Ok(file)
    }

    /// Flushes and fsyncs the file: what the manifest records of it.
    fn sync(&mut self) -> Result<DataFile> {
        super::crash_points::step();
        let context = || format!("syncing data file {}", self.path.display());
        self.out.flush().map_err(|e| Error::io(context(), e))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|e| Error::io(context(), e))?;
        Ok(DataFile {
            name: self.name.clone(),
            len: self.pos,
            crc32c: self.crc,
        })
    }
}

impl<W: Write> ColumnFile<W> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io(format!("writing data file {}", self.path.display()), e))?;
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Writes zero bytes up to offset `to` (at most [`super::ALIGNMENT`] ahead).
    fn pad_to(&mut self, to: u64) -> Result<()> {
        const ZEROS: [u8; super::ALIGNMENT as usize] = [0; super::ALIGNMENT as usize];
        self.write(&ZEROS[..(to - self.pos) as usize])
    }

    /// Writes one buffer at the next aligned offset.
    fn write_buffer(&mut self, bytes: &[u8]) -> Result<BufferRef> {
        let start = align_up(self.pos);
        self.pad_to(start)?;
        self.write(bytes)?;
        Ok(BufferRef {
            offset: start,
            len: bytes.len() as u64,
        })
    }
}

/// Whether the engine can store a column of this Arrow type.
pub fn is_storable(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Boolean
            | DataType::Int32
            | DataType::Int64
            | DataType::Float64
            | DataType::Decimal128(_, _)
            | DataType::Date32
            | DataType::Timestamp(TimeUnit::Microsecond, None)
            | DataType::Utf8
    )
}

/// An error for a file prefix that is not a plain file name.
fn check_prefix(file_prefix: &str) -> Result<()> {
    if file_prefix.is_empty() || file_prefix.contains(['/', '\\']) || file_prefix.starts_with('.') {
        return Err(Error::Execute(format!(
            "invalid data file prefix {file_prefix:?}"
        )));
    }
    Ok(())
}

/// The segments of one table of [`write_tables`], encoded in memory.
struct TableImage {
    bytes: Vec<u8>,
    crc: u32,
    /// Buffer offsets from the start of `bytes`.
    segments: Vec<SegmentMeta>,
}

/// Writes the rows of several tables (`tables`: each its schema and batches) into
/// the one new file `<file_prefix>.col`, in segments of up to `segment_rows`
/// rows: one file creation and one fsync for all of them (the cuboids of a
/// cube). The tables are
/// encoded side by side in memory, then written one after another. Returns the
/// file (none if no table has rows) and each table's segments.
pub fn write_tables(
    data_dir: &Path,
    file_prefix: &str,
    tables: &[(SchemaRef, Vec<RecordBatch>)],
    segment_rows: usize,
) -> Result<(Vec<DataFile>, Vec<Vec<SegmentMeta>>)> {
    check_prefix(file_prefix)?;
    let name = format!("{file_prefix}.col");
    let path = data_dir.join(&name);
    let images = tables
        .par_iter()
        .map(|(schema, batches)| encode_table(&name, &path, schema, batches, segment_rows.max(1)))
        .collect::<Result<Vec<TableImage>>>()?;
    if images.iter().all(|i| i.segments.is_empty()) {
        return Ok((vec![], images.into_iter().map(|i| i.segments).collect()));
    }
    let out = ColumnFile::create(name, path.clone())?;
    let written = (|| {
        let mut out = out;
        let mut all_segments = Vec::with_capacity(images.len());
        for image in images {
            out.pad_to(align_up(out.pos))?;
            let start = out.pos;
            super::crash_points::step();
            out.out
                .write_all(&image.bytes)
                .map_err(|e| Error::io(format!("writing data file {}", path.display()), e))?;
            out.crc = crc32c::crc32c_combine(out.crc, image.crc, image.bytes.len());
            out.pos += image.bytes.len() as u64;
            let mut segments = image.segments;
            for buffer in segments
                .iter_mut()
                .flat_map(|s| &mut s.columns)
                .flat_map(|c| &mut c.buffers)
            {
                buffer.offset += start;
            }
            all_segments.push(segments);
        }
        let file = out.sync()?;
        sync_dir(data_dir)?;
        Ok((vec![file], all_segments))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    written
}

/// One table's rows as segments encoded in memory (chunks naming file `name`).
fn encode_table(
    name: &str,
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    segment_rows: usize,
) -> Result<TableImage> {
    check_storable(schema)?;
    // About the size of the arrays (less for dictionary chunks): no regrowing.
    let capacity = batches
        .iter()
        .flat_map(|b| b.columns())
        .map(|c| c.get_buffer_memory_size() + 4 * super::ALIGNMENT as usize)
        .sum();
    let mut image = ColumnFile {
        name: name.to_string(),
        path: path.to_path_buf(),
        out: Vec::with_capacity(capacity),
        pos: 0,
        crc: 0,
    };
    let mut segments = vec![];
    for batch in batches {
        check_types(schema, batch)?;
        let mut start = 0;
        while start < batch.num_rows() {
            let rows = segment_rows.min(batch.num_rows() - start);
            let columns = batch
                .columns()
                .iter()
                .map(|c| write_chunk(&mut image, c.slice(start, rows).as_ref()))
                .collect::<Result<Vec<ColumnChunk>>>()?;
            segments.push(SegmentMeta {
                row_count: rows as u64,
                columns,
            });
            start += rows;
        }
    }
    Ok(TableImage {
        bytes: image.out,
        crc: image.crc,
        segments,
    })
}

/// An error unless `batch` has the columns and types of `schema` (names are not checked).
fn check_types(schema: &SchemaRef, batch: &RecordBatch) -> Result<()> {
    let fields = schema.fields();
    if batch.num_columns() != fields.len() {
        return Err(Error::Execute(format!(
            "internal error: writing {} columns into a table of {}",
            batch.num_columns(),
            fields.len()
        )));
    }
    for (field, column) in fields.iter().zip(batch.columns()) {
        // Strings may come dictionary-encoded.
        let encoded_strings = field.data_type() == &DataType::Utf8
            && matches!(column.data_type(), DataType::Dictionary(_, v) if v.as_ref() == &DataType::Utf8);
        if column.data_type() != field.data_type() && !encoded_strings {
            return Err(Error::Execute(format!(
                "internal error: writing a column of type {} into column {} of type {}",
                column.data_type(),
                field.name(),
                field.data_type()
            )));
        }
    }
    Ok(())
}

/// An error naming the first column of `schema` that cannot be stored.
fn check_storable(schema: &SchemaRef) -> Result<()> {
    match schema.fields().iter().find(|f| !is_storable(f.data_type())) {
        Some(field) => Err(Error::Unsupported(format!(
            "column {} of type {} cannot be stored",
            field.name(),
            field.data_type()
        ))),
        None => Ok(()),
    }
}

impl TableWriter {
    /// Starts a write of rows with `schema` (types Boolean, Int32, Int64, Float64,
    /// Decimal128, Date32, Utf8) into new files `<file_prefix>.c<column>.col` under
    /// `data_dir`. No file is created before the first row is written.
    pub fn new(
        data_dir: &Path,
        file_prefix: &str,
        schema: SchemaRef,
        segment_rows: usize,
    ) -> Result<TableWriter> {
        check_storable(&schema)?;
        check_prefix(file_prefix)?;
        Ok(TableWriter {
            data_dir: data_dir.to_path_buf(),
            file_prefix: file_prefix.to_string(),
            schema,
            segment_rows: segment_rows.max(1),
            pending: Vec::new(),
            pending_rows: 0,
            files: Vec::new(),
            segments: Vec::new(),
            created: Vec::new(),
            finished: false,
        })
    }

    /// The schema of the rows being written.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Buffers rows, writing a segment each time `segment_rows` rows are buffered.
    /// The batch's columns must have the writer's types (names are not checked).
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        check_types(&self.schema, batch)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.pending.push(batch.columns().to_vec());
        self.pending_rows += batch.num_rows();
        if self.pending_rows >= self.segment_rows {
            let columns = self.take_pending()?;
            let total = columns.first().map_or(0, |c| c.len());
            let mut start = 0;
            while total - start >= self.segment_rows {
                let segment: Vec<ArrayRef> = columns
                    .iter()
                    .map(|c| c.slice(start, self.segment_rows))
                    .collect();
                self.write_segment(&segment)?;
                start += self.segment_rows;
            }
            if start < total {
                self.pending_rows = total - start;
                self.pending = vec![columns
                    .iter()
                    .map(|c| c.slice(start, total - start))
                    .collect()];
            }
        }
        Ok(())
    }

    /// Writes the last partial segment, fsyncs every file, and returns what was written
    /// (no files and no segments if no row was written).
    pub fn finish(mut self) -> Result<TableData> {
        if self.pending_rows > 0 {
            let columns = self.take_pending()?;
            // A write of less than one segment goes into a single file: small
            // writes (an INSERT of a few rows, a cuboid) cost one file, not one
            // per column.
            if self.files.is_empty() {
                self.create_files(true)?;
            }
            self.write_segment(&columns)?;
        }
        let data_files = self
            .files
            .iter_mut()
            .map(ColumnFile::sync)
            .collect::<Result<Vec<_>>>()?;
        if !self.files.is_empty() {
            sync_dir(&self.data_dir)?;
        }
        self.finished = true;
        Ok(TableData {
            files: data_files,
            segments: std::mem::take(&mut self.segments),
        })
    }

    /// The buffered rows as one array per column (emptying the buffer).
    fn take_pending(&mut self) -> Result<Vec<ArrayRef>> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        if pending.len() == 1 {
            return Ok(pending.into_iter().next().unwrap_or_default());
        }
        (0..self.schema.fields().len())
            .map(|c| {
                let parts: Vec<&dyn Array> = pending.iter().map(|cols| cols[c].as_ref()).collect();
                Ok(arrow::compute::concat(&parts)?)
            })
            .collect()
    }

    /// Creates the files of this write: one per column, or (`packed`) a single
    /// file that holds every column's chunks.
    fn create_files(&mut self, packed: bool) -> Result<()> {
        let count = if packed {
            1
        } else {
            self.schema.fields().len()
        };
        for column in 0..count {
            let name = if packed {
                format!("{}.col", self.file_prefix)
            } else {
                format!("{}.c{}.col", self.file_prefix, column)
            };
            let path = self.data_dir.join(&name);
            let file = ColumnFile::create(name, path.clone())?;
            self.created.push(path);
            self.files.push(file);
        }
        Ok(())
    }

    /// Appends one segment (one chunk per column, columns in parallel).
    fn write_segment(&mut self, columns: &[ArrayRef]) -> Result<()> {
        super::crash_points::step();
        if self.files.is_empty() {
            self.create_files(false)?;
        }
        let row_count = columns.first().map_or(0, |c| c.len()) as u64;
        let chunks = match self.files.as_mut_slice() {
            [single] => columns
                .iter()
                .map(|array| write_chunk(single, array.as_ref()))
                .collect::<Result<Vec<ColumnChunk>>>()?,
            files => files
                .par_iter_mut()
                .zip(columns.par_iter())
                .map(|(file, array)| write_chunk(file, array.as_ref()))
                .collect::<Result<Vec<ColumnChunk>>>()?,
        };
        self.segments.push(SegmentMeta {
            row_count,
            columns: chunks,
        });
        Ok(())
    }
}

impl Drop for TableWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.files.clear();
            for path in &self.created {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Fsyncs a directory, so that files created in it survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    super::crash_points::step();
    let context = || format!("syncing directory {}", dir.display());
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(context(), e))
}

/// Writes the buffers of one column chunk and returns its manifest entry.
fn write_chunk<W: Write>(file: &mut ColumnFile<W>, array: &dyn Array) -> Result<ColumnChunk> {
    // Strings given dictionary-encoded keep their entries, or are decoded.
    let reencoded = match array.data_type() {
        DataType::Dictionary(..) => match reencode_dictionary(array) {
            Some(dictionary) => Some(dictionary),
            None => {
                let plain = arrow::compute::cast(array, &DataType::Utf8)?;
                return write_chunk(file, plain.as_ref());
            }
        },
        _ => None,
    };
    let zone = ZoneMap::compute(array)?;
    let mut buffers = Vec::with_capacity(4);
    let nulls = array.nulls().filter(|n| n.null_count() > 0);
    if let Some(nulls) = nulls {
        let bits = nulls.inner().sliced();
        let used = array.len().div_ceil(8);
        buffers.push(file.write_buffer(&bits.as_slice()[..used])?);
    }
    let mut encoding = Encoding::Plain;
    match array.data_type() {
        DataType::Boolean => {
            let values = array.as_boolean().values().sliced();
            let used = array.len().div_ceil(8);
            buffers.push(file.write_buffer(&values.as_slice()[..used])?);
        }
        DataType::Int32
        | DataType::Int64
        | DataType::Date32
        | DataType::Timestamp(..)
        | DataType::Decimal128(..)
            if let Some(packed) = packing::pack(array) =>
        {
            encoding = Encoding::Packed {
                base: packed.base,
                width: packed.width,
            };
            buffers.push(file.write_buffer(&packed.bytes)?);
        }
        DataType::Int32 => buffers.push(write_values::<Int32Type, W>(file, array)?),
        DataType::Int64 => buffers.push(write_values::<Int64Type, W>(file, array)?),
        DataType::Float64 => buffers.push(write_values::<Float64Type, W>(file, array)?),
        DataType::Date32 => buffers.push(write_values::<Date32Type, W>(file, array)?),
        DataType::Timestamp(..) => {
            buffers.push(write_values::<TimestampMicrosecondType, W>(file, array)?)
        }
        DataType::Decimal128(_, _) => buffers.push(write_values::<Decimal128Type, W>(file, array)?),
        DataType::Dictionary(..) => {
            if let Some((keys, dictionary)) = reencoded {
                encoding = write_dictionary(file, keys, &dictionary, &mut buffers)?;
            }
        }
        DataType::Utf8 => {
            let strings = array.as_string::<i32>();
            match dictionary_encode(strings) {
                Some((keys, dictionary)) => {
                    encoding = write_dictionary(file, keys, &dictionary, &mut buffers)?;
                }
                None => {
                    let offsets = strings.value_offsets();
                    let first = offsets.first().copied().unwrap_or(0);
                    let last = offsets.last().copied().unwrap_or(0);
                    if first == 0 {
                        buffers.push(file.write_buffer(as_bytes(offsets))?);
                    } else {
                        let rebased: Vec<i32> = offsets.iter().map(|o| o - first).collect();
                        buffers.push(file.write_buffer(as_bytes(&rebased))?);
                    }
                    let data = &strings.value_data()[first as usize..last as usize];
                    buffers.push(file.write_buffer(data)?);
                }
            }
        }
        other => {
            return Err(Error::Unsupported(format!(
                "a column of type {other} cannot be stored"
            )));
        }
    }
    Ok(ColumnChunk {
        file: file.name.clone(),
        encoding,
        buffers,
        has_nulls: nulls.is_some(),
        zone,
    })
}

/// Writes a dictionary chunk's buffers (keys, offsets, bytes) after `buffers`;
/// returns its encoding.
fn write_dictionary<W: Write>(
    file: &mut ColumnFile<W>,
    keys: Keys,
    dictionary: &[&str],
    buffers: &mut Vec<BufferRef>,
) -> Result<Encoding> {
    match keys {
        Keys::U8(k) => buffers.push(file.write_buffer(&k)?),
        Keys::U16(k) => buffers.push(file.write_buffer(as_bytes(&k))?),
    }
    let mut offsets = Vec::with_capacity(dictionary.len() + 1);
    let mut data = Vec::new();
    offsets.push(0i32);
    for s in dictionary {
        data.extend_from_slice(s.as_bytes());
        offsets.push(data.len() as i32);
    }
    buffers.push(file.write_buffer(as_bytes(&offsets))?);
    buffers.push(file.write_buffer(&data)?);
    Ok(Encoding::Dictionary {
        entries: dictionary.len() as u32,
    })
}

fn write_values<T: ArrowPrimitiveType, W: Write>(
    file: &mut ColumnFile<W>,
    array: &dyn Array,
) -> Result<BufferRef> {
    let values = array.as_primitive::<T>().values();
    file.write_buffer(values.inner().as_slice())
}

/// The bytes of a slice of plain numbers.
fn as_bytes<T: ArrowNativeType>(values: &[T]) -> &[u8] {
    values.to_byte_slice()
}

/// Dictionary keys, one per row.
enum Keys {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

/// The keys and sorted dictionary of a Utf8 chunk, if it has few enough distinct values
/// (at least one, at most [`MAX_DICTIONARY_ENTRIES`] and at most half its rows).
fn dictionary_encode(array: &StringArray) -> Option<(Keys, Vec<&str>)> {
    let rows = array.len();
    let limit = MAX_DICTIONARY_ENTRIES.min(rows / 2);
    if limit == 0 {
        return None;
    }
    let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
    let mut ids: HashMap<&str, u32, _> = HashMap::with_hasher(hasher);
    let mut row_ids: Vec<u32> = Vec::with_capacity(rows);
    let nulls = array.nulls().filter(|n| n.null_count() > 0);
    for row in 0..rows {
        if nulls.is_some_and(|n| n.is_null(row)) {
            row_ids.push(0);
            continue;
        }
        let next = ids.len() as u32;
        let id = *ids.entry(array.value(row)).or_insert(next);
        // More distinct values than allowed, or (a cheap early guess) more than
        // half of the first rows distinct: stored plain.
        if ids.len() > limit || (row + 1 == EARLY_GUESS_ROWS && ids.len() > EARLY_GUESS_ROWS / 2) {
            return None;
        }
        row_ids.push(id);
    }
    if ids.is_empty() {
        return None;
    }
    let mut entries: Vec<(&str, u32)> = ids.into_iter().collect();
    entries.sort_unstable();
    let mut remap = vec![0u32; entries.len()];
    for (sorted, (_, id)) in entries.iter().enumerate() {
        remap[*id as usize] = sorted as u32;
    }
    let keys = if entries.len() <= 256 {
        Keys::U8(row_ids.iter().map(|id| remap[*id as usize] as u8).collect())
    } else {
        Keys::U16(
            row_ids
                .iter()
                .map(|id| remap[*id as usize] as u16)
                .collect(),
        )
    };
    Some((keys, entries.into_iter().map(|(s, _)| s).collect()))
}

/// [`dictionary_encode`] for a chunk given dictionary-encoded (a `DictionaryArray`
/// of Utf8 values, as a cube's rollup gives its string keys): the entries its
/// rows use, sorted and deduplicated, without looking at every row's string.
/// None if it should be stored plain (too many entries, NULL entries).
fn reencode_dictionary(array: &dyn Array) -> Option<(Keys, Vec<&str>)> {
    let input = array.as_any_dictionary_opt()?;
    let values = input.values().as_string_opt::<i32>()?;
    if values.null_count() > 0 {
        return None;
    }
    let keys = input.normalized_keys();
    let nulls = input.keys().nulls().filter(|n| n.null_count() > 0);
    let mut used = vec![false; values.len()];
    for (row, &key) in keys.iter().enumerate() {
        if nulls.is_none_or(|n| n.is_valid(row)) {
            used[key] = true;
        }
    }
    let mut entries: Vec<(&str, usize)> = (0..values.len())
        .filter(|&i| used[i])
        .map(|i| (values.value(i), i))
        .collect();
    if entries.is_empty() || entries.len() > MAX_DICTIONARY_ENTRIES.min(keys.len() / 2) {
        return None;
    }
    entries.sort_unstable();
    let mut remap = vec![0u32; values.len()];
    let mut dictionary: Vec<&str> = Vec::with_capacity(entries.len());
    for (value, i) in entries {
        if dictionary.last() != Some(&value) {
            dictionary.push(value);
        }
        remap[i] = dictionary.len() as u32 - 1;
    }
    let key = |row: usize, &k: &usize| match nulls {
        Some(n) if n.is_null(row) => 0,
        _ => remap[k],
    };
    let keys = if dictionary.len() <= 256 {
        Keys::U8(
            keys.iter()
                .enumerate()
                .map(|(r, k)| key(r, k) as u8)
                .collect(),
        )
    } else {
        Keys::U16(
            keys.iter()
                .enumerate()
                .map(|(r, k)| key(r, k) as u16)
                .collect(),
        )
    };
    Some((keys, dictionary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn temp_dir(tag: &str) -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("olap-writer-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn one_column(dt: DataType) -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("c", dt, true)]))
    }

    fn batch(schema: &SchemaRef, array: ArrayRef) -> RecordBatch {
        RecordBatch::try_new(schema.clone(), vec![array]).unwrap()
    }

    #[test]
    fn zero_rows_writes_nothing() {
        let dir = temp_dir("zero");
        let schema = one_column(DataType::Int32);
        let mut w = TableWriter::new(&dir, "f000001", schema.clone(), 4).unwrap();
        w.push(&batch(
            &schema,
            Arc::new(Int32Array::from(Vec::<i32>::new())),
        ))
        .unwrap();
        let data = w.finish().unwrap();
        assert!(data.files.is_empty() && data.segments.is_empty());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn segments_split_at_segment_rows_and_buffers_are_aligned() {
        let dir = temp_dir("split");
        let schema = one_column(DataType::Int32);
        let mut w = TableWriter::new(&dir, "f000002", schema.clone(), 4).unwrap();
        // 3 + 7 + 1 rows = 11 = 4 + 4 + 3
        for n in [3, 7, 1] {
            w.push(&batch(
                &schema,
                Arc::new(Int32Array::from_iter_values(0..n)),
            ))
            .unwrap();
        }
        let data = w.finish().unwrap();
        let counts: Vec<u64> = data.segments.iter().map(|s| s.row_count).collect();
        assert_eq!(counts, vec![4, 4, 3]);
        assert_eq!(data.files.len(), 1);
        let bytes = std::fs::read(dir.join("f000002.c0.col")).unwrap();
        assert_eq!(bytes.len() as u64, data.files[0].len);
        assert_eq!(crc32c::crc32c(&bytes), data.files[0].crc32c);
        assert_eq!(&bytes[..8], MAGIC);
        for seg in &data.segments {
            for b in &seg.columns[0].buffers {
                assert_eq!(b.offset % 64, 0);
                assert!(b.offset + b.len <= bytes.len() as u64);
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_write_of_less_than_a_segment_is_one_file() {
        let dir = temp_dir("packed");
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        let mut w = TableWriter::new(&dir, "f000005", schema.clone(), 4).unwrap();
        let rows = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec!["x", "yy", "zzz"])),
            ],
        )
        .unwrap();
        w.push(&rows).unwrap();
        let data = w.finish().unwrap();
        assert_eq!(data.files.len(), 1);
        assert_eq!(data.files[0].name, "f000005.col");
        let bytes = std::fs::read(dir.join("f000005.col")).unwrap();
        assert_eq!(bytes.len() as u64, data.files[0].len);
        let mut buffers: Vec<&BufferRef> = data.segments[0]
            .columns
            .iter()
            .inspect(|c| assert_eq!(c.file, "f000005.col"))
            .flat_map(|c| &c.buffers)
            .collect();
        buffers.sort_by_key(|b| b.offset);
        for pair in buffers.windows(2) {
            assert!(pair[0].offset + pair[0].len <= pair[1].offset);
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn several_tables_in_one_file() {
        let dir = temp_dir("tables");
        let ints = one_column(DataType::Int64);
        let strings = one_column(DataType::Utf8);
        let tables = vec![
            (
                ints.clone(),
                vec![batch(&ints, Arc::new(Int64Array::from(vec![1, 2, 3])))],
            ),
            (strings.clone(), vec![]),
            (
                strings.clone(),
                vec![batch(&strings, Arc::new(StringArray::from(vec!["a", "b"])))],
            ),
        ];
        let (files, segments) = write_tables(&dir, "f000007", &tables, 2).unwrap();
        // One file, holding two segments of the first table and one of the third.
        assert_eq!(files.len(), 1);
        let bytes = std::fs::read(dir.join("f000007.col")).unwrap();
        assert_eq!(bytes.len() as u64, files[0].len);
        assert_eq!(crc32c::crc32c(&bytes), files[0].crc32c);
        assert_eq!(
            segments.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2, 0, 1]
        );
        let store = crate::storage::FileStore::new(&dir);
        let read = |segments: &[SegmentMeta], t: &DataType| -> Vec<ArrayRef> {
            let data = TableData {
                files: files.clone(),
                segments: segments.to_vec(),
            };
            data.segments
                .iter()
                .map(|s| store.read_column(&data, s, 0, t).unwrap())
                .collect()
        };
        let ints_read = read(&segments[0], &DataType::Int64);
        assert_eq!(ints_read[0].as_primitive::<Int64Type>().values(), &[1, 2]);
        assert_eq!(ints_read[1].as_primitive::<Int64Type>().values(), &[3]);
        let strings_read = read(&segments[2], &DataType::Utf8);
        assert_eq!(strings_read[0].as_string::<i32>().value(1), "b");
        // No rows at all: no file.
        let (files, _) = write_tables(&dir, "f000008", &tables[1..2], 2).unwrap();
        assert!(files.is_empty() && !dir.join("f000008.col").exists());
        // A batch of other types is refused, and leaves no file.
        let wrong = vec![(ints.clone(), tables[2].1.clone())];
        assert!(write_tables(&dir, "f000009", &wrong, 2).is_err());
        assert!(!dir.join("f000009.col").exists());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn strings_given_dictionary_encoded_are_stored_like_plain_ones() {
        use arrow::array::{DictionaryArray, UInt32Array};
        let dir = temp_dir("given_dict");
        let schema = one_column(DataType::Utf8);
        // Unsorted entries, one unused ("q") and one twice ("b"); NULL keys.
        let values: ArrayRef = Arc::new(StringArray::from(vec!["x", "b", "q", "a", "b"]));
        let keys: Vec<Option<u32>> = (0..40u32)
            .map(|i| (i % 6 != 5).then_some([0, 1, 3, 4][i as usize % 4]))
            .collect();
        let given = DictionaryArray::try_new(UInt32Array::from(keys), values).unwrap();
        let plain = arrow::compute::cast(&given, &DataType::Utf8).unwrap();
        // Every row distinct: stored plain, from the dictionary too.
        let distinct: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..40).map(|i| format!("v{i}")),
        ));
        let distinct_given = arrow::compute::cast(
            &distinct,
            &DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8)),
        )
        .unwrap();
        let table = |columns: Vec<ArrayRef>| {
            let batches = columns
                .into_iter()
                .map(|c| {
                    RecordBatch::try_new_with_options(
                        Arc::new(arrow::datatypes::Schema::new(vec![
                            arrow::datatypes::Field::new("c", c.data_type().clone(), true),
                        ])),
                        vec![c],
                        &Default::default(),
                    )
                    .unwrap()
                })
                .collect();
            (schema.clone(), batches)
        };
        let tables = vec![
            table(vec![Arc::new(given), distinct_given]),
            table(vec![plain.clone(), distinct.clone()]),
        ];
        let (files, segments) = write_tables(&dir, "f000010", &tables, 64).unwrap();
        let strip = |s: &[SegmentMeta]| {
            s.iter()
                .map(|s| {
                    let c = &s.columns[0];
                    (c.encoding.clone(), c.has_nulls, format!("{:?}", c.zone))
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&segments[0]), strip(&segments[1]));
        assert_eq!(
            segments[0][0].columns[0].encoding,
            Encoding::Dictionary { entries: 3 }
        );
        assert_eq!(segments[0][1].columns[0].encoding, Encoding::Plain);
        let store = crate::storage::FileStore::new(&dir);
        let data = TableData {
            files,
            segments: segments[0].clone(),
        };
        let read: Vec<ArrayRef> = data
            .segments
            .iter()
            .map(|s| store.read_column(&data, s, 0, &DataType::Utf8).unwrap())
            .collect();
        assert_eq!(&read[0], &plain);
        assert_eq!(&read[1], &distinct);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn close_values_are_stored_packed() {
        use arrow::array::{Decimal128Array, Int64Array};
        let dir = temp_dir("packed");
        let dt = DataType::Decimal128(38, 2);
        let schema = one_column(dt.clone());
        let decimals = |values: Vec<Option<i128>>| -> ArrayRef {
            Arc::new(Decimal128Array::from(values).with_data_type(dt.clone()))
        };
        let small = decimals(vec![Some(-5), None, Some(250)]);
        let large = decimals(vec![Some(-1), Some(u64::MAX as i128), None]);
        let tables = vec![(
            schema.clone(),
            vec![batch(&schema, small.clone()), batch(&schema, large.clone())],
        )];
        let (files, segments) = write_tables(&dir, "f000011", &tables, 8).unwrap();
        let encodings: Vec<Encoding> = segments[0]
            .iter()
            .map(|s| s.columns[0].encoding.clone())
            .collect();
        let packed = Encoding::Packed { base: -5, width: 1 };
        assert_eq!(encodings, vec![packed.clone(), Encoding::Plain]);
        let data = TableData {
            files,
            segments: segments[0].clone(),
        };
        let store = crate::storage::FileStore::new(&dir);
        for (segment, expected) in data.segments.iter().zip([&small, &large]) {
            assert_eq!(
                &store.read_column(&data, segment, 0, &dt).unwrap(),
                expected
            );
        }
        // Some rows of a packed chunk.
        let rows = store
            .read_encoded_rows(&data, &data.segments[0], 0, &dt, 1..3)
            .unwrap();
        assert_eq!(&rows, &small.slice(1, 2));
        // A packed chunk of the wrong length or type is an error.
        let mut bad = data.clone();
        bad.segments[0].columns[0].buffers[1].len -= 1;
        assert!(matches!(
            store.read_column(&bad, &bad.segments[0], 0, &dt),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            store.read_column(&data, &data.segments[0], 0, &DataType::Utf8),
            Err(Error::Corrupt(_))
        ));
        // A table's own files pack too.
        let mut w = TableWriter::new(&dir, "f000012", schema.clone(), 8).unwrap();
        w.push(&batch(&schema, small)).unwrap();
        let data = w.finish().unwrap();
        assert_eq!(data.segments[0].columns[0].encoding, packed);
        // Chunks of 8-byte decimals written by earlier versions (`Narrow`) are
        // read: the layout of a plain Int64 chunk.
        let schema = one_column(DataType::Int64);
        let wide = vec![Some(i64::MIN), None, Some(-5), Some(i64::MAX)];
        let mut w = TableWriter::new(&dir, "f000013", schema.clone(), 8).unwrap();
        w.push(&batch(&schema, Arc::new(Int64Array::from(wide.clone()))))
            .unwrap();
        let mut data = w.finish().unwrap();
        assert_eq!(data.segments[0].columns[0].encoding, Encoding::Plain);
        data.segments[0].columns[0].encoding = Encoding::Narrow;
        let expected = decimals(wide.iter().map(|v| v.map(i128::from)).collect());
        assert_eq!(
            &store.read_column(&data, &data.segments[0], 0, &dt).unwrap(),
            &expected
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn dictionary_or_plain() {
        let dir = temp_dir("dict");
        let schema = one_column(DataType::Utf8);
        let mut w = TableWriter::new(&dir, "f000003", schema.clone(), 1000).unwrap();
        // few distinct values: dictionary with u8 keys
        let few: Vec<Option<&str>> = (0..1000)
            .map(|i| {
                if i % 7 == 0 {
                    None
                } else {
                    Some(["x", "", "b"][i % 3])
                }
            })
            .collect();
        w.push(&batch(&schema, Arc::new(StringArray::from(few))))
            .unwrap();
        // all distinct: plain
        let distinct: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
        w.push(&batch(
            &schema,
            Arc::new(StringArray::from_iter_values(distinct.iter())),
        ))
        .unwrap();
        // 300 distinct values: dictionary with u16 keys
        let many: Vec<String> = (0..1000).map(|i| format!("k{}", i % 300)).collect();
        w.push(&batch(
            &schema,
            Arc::new(StringArray::from_iter_values(many.iter())),
        ))
        .unwrap();
        // all NULL: plain
        w.push(&batch(
            &schema,
            Arc::new(StringArray::from(vec![None::<&str>; 1000])),
        ))
        .unwrap();
        let data = w.finish().unwrap();
        let enc: Vec<Encoding> = data
            .segments
            .iter()
            .map(|s| s.columns[0].encoding.clone())
            .collect();
        assert_eq!(
            enc,
            vec![
                Encoding::Dictionary { entries: 3 },
                Encoding::Plain,
                Encoding::Dictionary { entries: 300 },
                Encoding::Plain
            ]
        );
        let c0 = &data.segments[0].columns[0];
        assert!(c0.has_nulls);
        assert_eq!(c0.buffers.len(), 4);
        assert_eq!(c0.buffers[1].len, 1000); // u8 keys
        assert_eq!(data.segments[2].columns[0].buffers[0].len, 2000); // u16 keys
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn dropping_without_finish_removes_files() {
        let dir = temp_dir("drop");
        let schema = one_column(DataType::Int32);
        let mut w = TableWriter::new(&dir, "f000004", schema.clone(), 2).unwrap();
        w.push(&batch(&schema, Arc::new(Int32Array::from(vec![1, 2, 3]))))
            .unwrap();
        assert!(dir.join("f000004.c0.col").exists());
        drop(w);
        assert!(!dir.join("f000004.c0.col").exists());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rejects_bad_types_and_existing_files() {
        let dir = temp_dir("bad");
        let schema = one_column(DataType::Float32);
        assert!(matches!(
            TableWriter::new(&dir, "f1", schema, 4),
            Err(Error::Unsupported(_))
        ));
        let schema = one_column(DataType::Int32);
        let mut w = TableWriter::new(&dir, "f2", schema.clone(), 4).unwrap();
        let wrong = Arc::new(Schema::new(vec![Field::new("c", DataType::Int64, true)]));
        let b = RecordBatch::try_new(
            wrong,
            vec![Arc::new(arrow::array::Int64Array::from(vec![1i64]))],
        )
        .unwrap();
        assert!(w.push(&b).is_err());
        std::fs::write(dir.join("f3.c0.col"), b"x").unwrap();
        let mut w = TableWriter::new(&dir, "f3", schema.clone(), 4).unwrap();
        assert!(matches!(
            w.push(&batch(
                &schema,
                Arc::new(Int32Array::from(vec![1, 2, 3, 4]))
            )),
            Err(Error::Io { .. })
        ));
        drop(w);
        // The existing file is not the writer's: it stays.
        assert!(dir.join("f3.c0.col").exists());
        std::fs::remove_dir_all(&dir).ok();
    }
}
