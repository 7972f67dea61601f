//! Parquet reading and writing through parquet's arrow reader and writer.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use ::parquet::arrow::ArrowWriter;
use ::parquet::basic::{Compression, ZstdLevel};
use ::parquet::file::properties::WriterProperties;
use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{Field, Schema, SchemaRef};
use rayon::prelude::*;

use super::{display_name, open_for_read, os_message, BatchStream, TempFile, PARQUET_BATCH_ROWS};
use crate::error::{Error, Result};
use crate::types::SqlType;

/// Rows per row group when writing (DuckDB's default).
const WRITE_ROW_GROUP_ROWS: usize = 122_880;
/// At most this many rows are decoded ahead (in parallel, across row groups).
const READ_AHEAD_ROWS: i64 = 1 << 20;

struct ParquetStream {
    path: PathBuf,
    name: String,
    metadata: ArrowReaderMetadata,
    schema: SchemaRef,
    next_group: usize,
    buffered: VecDeque<RecordBatch>,
    done: bool,
}

impl ParquetStream {
    /// Reads one row group (opening the file anew, so groups can be read in parallel)
    /// and casts its batches to the engine's types.
    fn read_group(&self, group: usize) -> Result<Vec<RecordBatch>> {
        let fail = |e: String| Error::Load(format!("could not read '{}': {e}", self.name));
        let file = std::fs::File::open(&self.path).map_err(|e| fail(os_message(&e)))?;
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(vec![group])
                .with_batch_size(PARQUET_BATCH_ROWS)
                .build()
                .map_err(|e| fail(e.to_string()))?;
        let mut out = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| fail(e.to_string()))?;
            out.push(to_engine_types(&batch, &self.schema).map_err(|e| fail(e.to_string()))?);
        }
        Ok(out)
    }

    fn fill(&mut self) -> Result<()> {
        let groups = self.metadata.metadata().row_groups();
        let threads = rayon::current_num_threads().max(1);
        let mut batch = Vec::new();
        let mut rows = 0i64;
        while self.next_group < groups.len()
            && batch.len() < threads
            && (batch.is_empty() || rows < READ_AHEAD_ROWS)
        {
            rows += groups[self.next_group].num_rows();
            batch.push(self.next_group);
            self.next_group += 1;
        }
        let results: Vec<Result<Vec<RecordBatch>>> = if batch.len() > 1 {
            batch.par_iter().map(|&g| self.read_group(g)).collect()
        } else {
            batch.iter().map(|&g| self.read_group(g)).collect()
        };
        for result in results {
            self.buffered.extend(result?);
        }
        Ok(())
    }
}

impl Iterator for ParquetStream {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = self.buffered.pop_front() {
                return Some(Ok(batch));
            }
            if self.done || self.next_group >= self.metadata.metadata().num_row_groups() {
                self.done = true;
                return None;
            }
            if let Err(e) = self.fill() {
                self.done = true;
                self.buffered.clear();
                return Some(Err(e));
            }
        }
    }
}

/// Casts every column of `batch` to the type `schema` has for it.
fn to_engine_types(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                Ok(arrow::compute::cast(column, field.data_type())?)
            }
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

/// Opens a Parquet file; the schema and batches use only the engine's types.
pub fn scan_parquet(path: &Path) -> Result<(SchemaRef, BatchStream)> {
    let name = display_name(path);
    let file = open_for_read(path)?;
    let metadata = ArrowReaderMetadata::load(&file, Default::default())
        .map_err(|e| Error::Load(format!("'{name}' is not a valid Parquet file: {e}")))?;
    let fields = metadata
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let t = SqlType::from_arrow(f.data_type()).map_err(|_| {
                Error::Load(format!(
                    "'{name}': column '{}' has type {}, which cannot be loaded",
                    f.name(),
                    f.data_type()
                ))
            })?;
            Ok(Field::new(f.name(), t.to_arrow(), true))
        })
        .collect::<Result<Vec<_>>>()?;
    let schema = Arc::new(Schema::new(fields));
    let stream = ParquetStream {
        path: path.to_path_buf(),
        name,
        metadata,
        schema: schema.clone(),
        next_group: 0,
        buffered: VecDeque::new(),
        done: false,
    };
    Ok((schema, Box::new(stream)))
}

/// Writes `batches` as a zstd-compressed Parquet file through a temporary file renamed
/// into place. Returns the number of rows written.
pub fn write_parquet(path: &Path, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<u64> {
    let mut writer = ParquetFileWriter::create(path, schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()
}

/// A zstd-compressed Parquet file being written, batch by batch, to a temporary
/// file that [`ParquetFileWriter::finish`] renames into place (dropped
/// unfinished, say after an error, it is removed and the target left as it was).
pub struct ParquetFileWriter {
    name: String,
    /// Every column nullable and no metadata: what the engine reads back is its
    /// own types.
    schema: SchemaRef,
    writer: ArrowWriter<std::fs::File>,
    temp: TempFile,
    rows: u64,
}

impl ParquetFileWriter {
    pub fn create(path: &Path, schema: &SchemaRef) -> Result<ParquetFileWriter> {
        let name = display_name(path);
        let fail = |e: String| Error::Load(format!("could not write '{name}': {e}"));
        let schema = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), f.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let level = ZstdLevel::try_new(1).map_err(|e| fail(e.to_string()))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(WRITE_ROW_GROUP_ROWS))
            .build();
        let mut temp = TempFile::create(path)?;
        let writer = ArrowWriter::try_new(temp.take_file(), schema.clone(), Some(props))
            .map_err(|e| fail(e.to_string()))?;
        Ok(ParquetFileWriter {
            name,
            schema,
            writer,
            temp,
            rows: 0,
        })
    }

    fn fail(&self, e: impl std::fmt::Display) -> Error {
        Error::Load(format!("could not write '{}': {e}", self.name))
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_columns() != self.schema.fields().len() {
            return Err(self.fail(format!(
                "a batch has {} columns but the schema has {}",
                batch.num_columns(),
                self.schema.fields().len()
            )));
        }
        let batch = to_engine_types(batch, &self.schema).map_err(|e| self.fail(e))?;
        if let Err(e) = self.writer.write(&batch) {
            return Err(self.fail(e));
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Writes the footer, syncs the file and renames it into place; the rows
    /// written.
    pub fn finish(self) -> Result<u64> {
        let ParquetFileWriter {
            name,
            writer,
            temp,
            rows,
            ..
        } = self;
        let fail = |e: String| Error::Load(format!("could not write '{name}': {e}"));
        let file = writer.into_inner().map_err(|e| fail(e.to_string()))?;
        file.sync_all().map_err(|e| fail(os_message(&e)))?;
        drop(file);
        temp.commit()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::*;
    use arrow::datatypes::{DataType, Int32Type, Int64Type};

    fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
        let mut out = vec![];
        for b in batches {
            for r in 0..b.num_rows() {
                out.push(
                    b.columns()
                        .iter()
                        .map(|c| {
                            crate::format::value_to_string(c, r).unwrap_or_else(|| "NULL".into())
                        })
                        .collect(),
                );
            }
        }
        out
    }

    fn read_all(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let (schema, stream) = scan_parquet(path)?;
        let batches = stream.collect::<Result<Vec<_>>>()?;
        Ok((schema, batches))
    }

    fn load_err(r: Result<(SchemaRef, Vec<RecordBatch>)>) -> String {
        match r {
            Err(Error::Load(m)) => m,
            Err(e) => panic!("expected a load error, got {e}"),
            Ok(_) => panic!("expected an error"),
        }
    }

    fn every_type() -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("b", DataType::Boolean, true),
            Field::new("i", DataType::Int32, true),
            Field::new("l", DataType::Int64, false),
            Field::new("f", DataType::Float64, true),
            Field::new("d", DataType::Decimal128(15, 2), true),
            Field::new("s", DataType::Utf8, true),
            Field::new("dt", DataType::Date32, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            Arc::new(Int32Array::from(vec![None, Some(i32::MIN), Some(7)])),
            Arc::new(Int64Array::from(vec![1, i64::MAX, -3])),
            Arc::new(Float64Array::from(vec![
                Some(0.1),
                Some(f64::INFINITY),
                None,
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(12_345_678_901_234), None, Some(-1)])
                    .with_precision_and_scale(15, 2)
                    .unwrap(),
            ),
            Arc::new(StringArray::from(vec![
                Some("héllo, \"world\""),
                Some(""),
                None,
            ])),
            Arc::new(Date32Array::from(vec![Some(-1), None, Some(10_000)])),
        ];
        (
            schema.clone(),
            RecordBatch::try_new(schema, columns).unwrap(),
        )
    }

    #[test]
    fn round_trip_every_type_with_nulls() {
        let dir = tempfile::tempdir().unwrap();
        let (schema, batch) = every_type();
        let p = dir.path().join("all.parquet");
        let n = write_parquet(&p, &schema, &[batch.clone(), batch.slice(0, 1)]).unwrap();
        assert_eq!(n, 4);
        let (read_schema, batches) = read_all(&p).unwrap();
        let types: Vec<&DataType> = read_schema.fields().iter().map(|f| f.data_type()).collect();
        let expected: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(types, expected);
        let mut want = rows(std::slice::from_ref(&batch));
        want.extend(rows(&[batch.slice(0, 1)]));
        assert_eq!(rows(&batches), want);
        assert_eq!(rows(&batches)[2][3], "NULL");
        assert_eq!(rows(&batches)[0][4], "123456789012.34");
        // Only the final file is left.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn null_typed_column_reads_back_as_integer() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Null, true),
            Field::new("i", DataType::Int32, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(NullArray::new(2)),
                Arc::new(Int32Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let p = dir.path().join("n.parquet");
        assert_eq!(write_parquet(&p, &schema, &[batch]).unwrap(), 2);
        let (schema, batches) = read_all(&p).unwrap();
        assert_eq!(schema.field(0).data_type(), &DataType::Int32);
        assert_eq!(rows(&batches), vec![vec!["NULL", "1"], vec!["NULL", "2"]]);
    }

    #[test]
    fn narrow_types_are_widened() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("i8", DataType::Int8, true),
            Field::new("u32", DataType::UInt32, true),
            Field::new("f32", DataType::Float32, true),
            Field::new("big", DataType::LargeUtf8, true),
            Field::new(
                "dict",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
        ]));
        let dict: DictionaryArray<Int32Type> = vec!["a", "b", "a"].into_iter().collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int8Array::from(vec![Some(-1), None, Some(3)])),
                Arc::new(UInt32Array::from(vec![Some(u32::MAX), Some(0), None])),
                Arc::new(Float32Array::from(vec![Some(0.5), None, Some(-2.0)])),
                Arc::new(LargeStringArray::from(vec![Some("x"), None, Some("z")])),
                Arc::new(dict),
            ],
        )
        .unwrap();
        // Written with parquet's own writer, not ours (which keeps only engine types).
        let p = dir.path().join("narrow.parquet");
        let file = std::fs::File::create(&p).unwrap();
        let mut w = ArrowWriter::try_new(file, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let (schema, batches) = read_all(&p).unwrap();
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| crate::types::type_name(f.data_type()))
            .collect();
        assert_eq!(types, ["INTEGER", "BIGINT", "DOUBLE", "VARCHAR", "VARCHAR"]);
        assert_eq!(
            rows(&batches),
            vec![
                vec!["-1", "4294967295", "0.5", "x", "a"],
                vec!["NULL", "0", "NULL", "NULL", "b"],
                vec!["3", "NULL", "-2.0", "z", "a"],
            ]
        );
    }

    #[test]
    fn unsupported_column_type_names_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("ok", DataType::Int32, true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
                true,
            ),
        ]));
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int32Array::from(vec![1])), Arc::new(list)],
        )
        .unwrap();
        let p = dir.path().join("list.parquet");
        let mut w = ArrowWriter::try_new(std::fs::File::create(&p).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let msg = load_err(read_all(&p));
        assert!(msg.contains("column 'tags'"), "{msg}");
    }

    #[test]
    fn not_parquet_missing_and_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fake.parquet");
        std::fs::write(&p, "id,name\n1,x\n").unwrap();
        let msg = load_err(read_all(&p));
        assert!(
            msg.contains("fake.parquet") && msg.contains("not a valid Parquet file"),
            "{msg}"
        );

        let msg = load_err(read_all(&dir.path().join("none.parquet")));
        assert!(
            msg.contains("could not open") && msg.contains("No such file or directory"),
            "{msg}"
        );

        let (schema, batch) = every_type();
        let good = dir.path().join("good.parquet");
        write_parquet(&good, &schema, &[batch]).unwrap();
        let bytes = std::fs::read(&good).unwrap();
        let cut = dir.path().join("cut.parquet");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let msg = load_err(read_all(&cut));
        assert!(msg.contains("cut.parquet"), "{msg}");
        let empty = dir.path().join("empty.parquet");
        std::fs::write(&empty, b"").unwrap();
        let msg = load_err(read_all(&empty));
        assert!(msg.contains("empty.parquet"), "{msg}");
    }

    #[test]
    fn many_row_groups_stay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let n = (WRITE_ROW_GROUP_ROWS * 3 + 5) as i64;
        let batches: Vec<RecordBatch> = (0..n)
            .step_by(50_000)
            .map(|start| {
                let end = (start + 50_000).min(n);
                RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(Int64Array::from_iter_values(start..end))],
                )
                .unwrap()
            })
            .collect();
        let p = dir.path().join("big.parquet");
        assert_eq!(write_parquet(&p, &schema, &batches).unwrap(), n as u64);
        let (_, read) = read_all(&p).unwrap();
        let mut expect = 0i64;
        for b in &read {
            assert!(b.num_rows() <= PARQUET_BATCH_ROWS);
            for v in b.column(0).as_primitive::<Int64Type>().values() {
                assert_eq!(*v, expect);
                expect += 1;
            }
        }
        assert_eq!(expect, n);
    }

    #[test]
    fn write_failures() {
        let dir = tempfile::tempdir().unwrap();
        let (schema, batch) = every_type();
        let p = dir.path().join("missing/dir/x.parquet");
        match write_parquet(&p, &schema, std::slice::from_ref(&batch)) {
            Err(Error::Load(m)) => assert!(m.contains("could not write"), "{m}"),
            other => panic!("{other:?}"),
        }
        let p = dir.path().join("x.parquet");
        let narrow = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)]));
        assert!(write_parquet(&p, &narrow, &[batch]).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // No batches: a valid, empty file.
        write_parquet(&p, &schema, &[]).unwrap();
        let (read_schema, batches) = read_all(&p).unwrap();
        assert_eq!(read_schema.fields().len(), 7);
        assert!(batches.is_empty());
    }
}
