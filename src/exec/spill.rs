//! Rows written to disk by an operator over its memory, and read back.
//!
//! A spill file is an Arrow IPC stream in an anonymous temporary file (in the
//! pool's temporary directory, unlinked as it is created), so it is gone when
//! dropped, and when the process is killed. Hash aggregation spreads the rows
//! it spills over [`PARTITIONS`] files by a hash of their group keys, seeded
//! per level of recursion ([`partitions_of`]), so each file holds whole
//! groups; sort writes each sorted run to a file of its own.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::row::{RowConverter, SortField};

use super::memory::MemoryPool;
use crate::error::{Error, Result};

/// The number of files the rows spilled by one aggregation level spread over.
pub const PARTITIONS: usize = 16;

/// A spill file being written.
pub struct SpillWriter {
    writer: StreamWriter<BufWriter<File>>,
    pool: Arc<MemoryPool>,
}

/// A spill file written: its batches can be read back once.
pub struct SpillFile {
    file: File,
}

impl SpillWriter {
    /// A new spill file in `pool`'s temporary directory for batches of
    /// `schema`; its bytes are counted in the pool's spilled bytes.
    pub fn new(pool: &Arc<MemoryPool>, schema: &SchemaRef) -> Result<SpillWriter> {
        let dir = pool.temp_directory();
        let file = tempfile::tempfile_in(&dir).map_err(|e| {
            Error::io(
                format!(
                    "creating a spill file in {} (SET temp_directory)",
                    dir.display()
                ),
                e,
            )
        })?;
        let writer = StreamWriter::try_new(BufWriter::new(file), schema)?;
        Ok(SpillWriter {
            writer,
            pool: pool.clone(),
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        Ok(self.writer.write(batch)?)
    }

    pub fn finish(mut self) -> Result<SpillFile> {
        self.writer.finish()?;
        let mut file = self
            .writer
            .into_inner()?
            .into_inner()
            .map_err(|e| Error::io("writing a spill file", e.into_error()))?;
        let bytes = file
            .stream_position()
            .map_err(|e| Error::io("writing a spill file", e))?;
        self.pool.add_spilled(bytes as usize);
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("rereading a spill file", e))?;
        Ok(SpillFile { file })
    }
}

impl SpillFile {
    /// The batches written, in order.
    pub fn read(self) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
        let reader = StreamReader::try_new(BufReader::new(self.file), None)?;
        Ok(reader.map(|b| b.map_err(Error::from)))
    }
}

/// Spill files being written, one per partition, each opened on first use
/// (and, with a row limit per file, followed by another when it is full).
pub struct PartitionWriters {
    /// The file being written of each partition, and the rows written to it.
    writers: Vec<Option<(SpillWriter, usize)>>,
    /// The full files of each partition.
    full: Vec<Vec<SpillFile>>,
    /// The seed of the hash that picks the partition.
    seed: u64,
    rows_per_file: usize,
}

impl PartitionWriters {
    pub fn new(seed: u64) -> PartitionWriters {
        PartitionWriters {
            writers: (0..PARTITIONS).map(|_| None).collect(),
            full: (0..PARTITIONS).map(|_| vec![]).collect(),
            seed,
            rows_per_file: usize::MAX,
        }
    }

    /// Writers that start a new file of a partition once its file holds `rows`
    /// rows, so that the files can be read as morsels of a bounded size.
    pub fn with_rows_per_file(self, rows: usize) -> PartitionWriters {
        PartitionWriters {
            rows_per_file: rows,
            ..self
        }
    }

    /// Writes each row of `batch` to the partition of its `keys`.
    pub fn write(
        &mut self,
        pool: &Arc<MemoryPool>,
        batch: &RecordBatch,
        keys: &[ArrayRef],
    ) -> Result<()> {
        let partitions = partitions_of(keys, self.seed)?;
        let mut rows: Vec<Vec<u32>> = vec![vec![]; PARTITIONS];
        for (row, &p) in partitions.iter().enumerate() {
            rows[p as usize].push(row as u32);
        }
        for (p, rows) in rows.into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let part = arrow::compute::take_record_batch(batch, &UInt32Array::from(rows))?;
            if let Some((writer, written)) = self.writers[p].take() {
                if written >= self.rows_per_file {
                    self.full[p].push(writer.finish()?);
                } else {
                    self.writers[p] = Some((writer, written));
                }
            }
            let (writer, written) = match &mut self.writers[p] {
                Some(w) => w,
                empty => empty.insert((SpillWriter::new(pool, &batch.schema())?, 0)),
            };
            writer.write(&part)?;
            *written += part.num_rows();
        }
        Ok(())
    }

    /// The files written, by partition.
    pub fn finish(self) -> Result<Vec<Vec<SpillFile>>> {
        self.full
            .into_iter()
            .zip(self.writers)
            .map(|(mut files, writer)| {
                if let Some((writer, _)) = writer {
                    files.push(writer.finish()?);
                }
                Ok(files)
            })
            .collect()
    }
}

/// The partition of each row of `keys`: a hash of the row's key values (the
/// same for equal keys, NULLs included, whether a string column is
/// dictionary-encoded or not) seeded by `seed`.
fn partitions_of(keys: &[ArrayRef], seed: u64) -> Result<Vec<u32>> {
    let plain = keys
        .iter()
        .map(|k| match k.data_type() {
            DataType::Dictionary(_, value) => Ok(arrow::compute::cast(k, value)?),
            _ => Ok(k.clone()),
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    let converter = RowConverter::new(
        plain
            .iter()
            .map(|k| SortField::new(k.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&plain)?;
    let hasher = ahash::RandomState::with_seeds(seed, seed ^ 0x9E37_79B9_7F4A_7C15, 7, 11);
    Ok(rows
        .iter()
        .map(|r| (hasher.hash_one(r.as_ref()) % PARTITIONS as u64) as u32)
        .collect())
}
