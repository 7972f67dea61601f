//! Reading a file name that may be a glob: `'sales.parquet'`, `'parts/*.csv'`,
//! `'day_??.parquet'`.
//!
//! A name holding `*`, `?` or `[` is expanded (the `glob` crate's rules: `*` and `?`
//! stay within one path component, `**` crosses directories) into the matching files in
//! name order; no match is an error naming the pattern, like DuckDB's. The files are read
//! one after another as one table: the first file gives the column names and types (or
//! the COPY target does), every later file must have as many columns, and its columns
//! are taken by position — CSV fields parse straight into the first file's types, and
//! Parquet columns are cast to them.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::{display_name, scan_csv, scan_parquet, BatchStream, CsvOptions, FileFormat};
use crate::error::{Error, Result};

/// The files `pattern` names: itself when it has no glob characters (a missing file is
/// reported when it is opened), else every match, sorted.
pub fn expand(pattern: &Path) -> Result<Vec<PathBuf>> {
    let text = pattern.to_string_lossy();
    if !text.contains(['*', '?', '[']) {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let bad = |e: String| Error::Load(format!("invalid file pattern \"{text}\": {e}"));
    let mut files = glob::glob(&text)
        .map_err(|e| bad(e.to_string()))?
        .map(|entry| entry.map_err(|e| bad(e.to_string())))
        .filter(|entry| !matches!(entry, Ok(path) if path.is_dir()))
        .collect::<Result<Vec<_>>>()?;
    if files.is_empty() {
        return Err(Error::Load(format!(
            "No files found that match the pattern \"{text}\""
        )));
    }
    files.sort();
    Ok(files)
}

/// Opens every file `pattern` names as one stream of batches in the schema of the
/// first file (or `target`'s, for COPY into a table).
pub fn scan_files(
    pattern: &Path,
    format: FileFormat,
    csv: &CsvOptions,
    target: Option<SchemaRef>,
) -> Result<(SchemaRef, BatchStream)> {
    let files = expand(pattern)?;
    let (schema, first) = open(&files[0], format, csv, target)?;
    if files.len() == 1 {
        return Ok((schema, first));
    }
    let first_name = display_name(&files[0]);
    let csv = csv.clone();
    let rest = files.into_iter().skip(1).map({
        let schema = schema.clone();
        move |file| -> Result<BatchStream> {
            let (file_schema, stream) = open(&file, format, &csv, Some(schema.clone()))?;
            let (have, want) = (file_schema.fields().len(), schema.fields().len());
            if have != want {
                return Err(Error::Load(format!(
                    "'{}' has {have} columns, but '{first_name}' has {want}: \
                     the files of a pattern must have the same columns",
                    display_name(&file)
                )));
            }
            let schema = schema.clone();
            let name = display_name(&file);
            Ok(Box::new(stream.map(move |batch| {
                conform(batch?, &schema).map_err(|e| Error::Load(format!("'{name}': {e}")))
            })))
        }
    });
    let rest = rest.flat_map(|opened| match opened {
        Ok(stream) => stream,
        Err(e) => Box::new(std::iter::once(Err(e))) as BatchStream,
    });
    Ok((schema, Box::new(first.chain(rest))))
}

/// One file; CSV fields parse into `target`'s types when it is given.
fn open(
    file: &Path,
    format: FileFormat,
    csv: &CsvOptions,
    target: Option<SchemaRef>,
) -> Result<(SchemaRef, BatchStream)> {
    match format {
        FileFormat::Csv => scan_csv(file, csv, target),
        FileFormat::Parquet => scan_parquet(file),
    }
}

/// `batch`'s columns, by position, cast to `schema`'s types and names.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| Ok(arrow::compute::cast(column, field.data_type())?))
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_lists_matches_in_name_order_and_names_an_empty_pattern() {
        let dir = std::env::temp_dir().join(format!("olap_expand_{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub.csv")).unwrap();
        for name in ["b.csv", "a.csv", "c.parquet"] {
            std::fs::write(dir.join(name), "x\n1\n").unwrap();
        }
        let found = expand(&dir.join("*.csv")).unwrap();
        assert_eq!(found, vec![dir.join("a.csv"), dir.join("b.csv")]);
        let plain = expand(&dir.join("missing.csv")).unwrap();
        assert_eq!(plain, vec![dir.join("missing.csv")]);
        let err = expand(&dir.join("none_*.csv")).unwrap_err().to_string();
        assert!(
            err.contains("No files found that match the pattern"),
            "{err}"
        );
        assert!(err.contains("none_*.csv"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
