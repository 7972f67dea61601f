//! Loading and exporting data: CSV and Parquet files in, CSV and Parquet files out.
//!
//! The SQL layer calls [`scan_csv`] / [`scan_parquet`] for `COPY t FROM 'f'`,
//! `read_csv('f')`, `read_parquet('f')` and `FROM 'f.csv'` (through [`scan_files`], which
//! also expands globs such as `'parts/*.parquet'` into several files read as one), and
//! [`write_csv`] / [`write_parquet`] for `COPY (SELECT ...) TO 'f'`. Scans are lazy: they return a schema and a
//! [`BatchStream`] that reads the file as it is pulled, a batch at a time, so a file
//! larger than memory can be loaded. Every batch uses only the engine's stored types
//! (BOOLEAN, INTEGER, BIGINT, DOUBLE, DECIMAL(p,s), VARCHAR, DATE).
//!
//! # CSV reading
//!
//! The CSV reader is our own byte-level state machine (not arrow-csv), so that errors
//! can name the *physical* line of a record (quoted fields may span lines), so that a
//! quoted empty field (`""`, an empty string) can be told apart from an unquoted one
//! (NULL), and so that a TPC-H style trailing delimiter (`a|b|c|`) can be tolerated.
//!
//! * **Tokenizing.** A background thread reads the file through a 1 MiB buffer and
//!   splits it into records of fields: the delimiter ends a field; `\n`, `\r\n` or a lone
//!   `\r` ends a record; a field that starts with the quote character runs to the
//!   matching quote, where a doubled quote (RFC 4180) or, with `escape`, the escape
//!   character followed by any byte stands for that byte; text after a closing quote is
//!   kept (lenient). A UTF-8 byte order mark is skipped. Blank lines are skipped, except
//!   in a one-column file where a blank line is a NULL. Records are handed over in chunks
//!   of [`CSV_BATCH_ROWS`] through a channel of depth 2, so tokenizing the next chunk
//!   overlaps with converting the current one. An unterminated quote is an error naming
//!   the line where the field started.
//! * **Converting.** Each chunk becomes one `RecordBatch`; its columns are parsed in
//!   parallel (rayon). An unquoted field equal to `null_string` (default: empty) is NULL;
//!   in a non-VARCHAR column an empty or all-blank field is NULL too. Numbers and dates
//!   may carry surrounding blanks. BOOLEAN accepts true/false/t/f/yes/no/y/n/1/0 (any
//!   case). INTEGER/BIGINT are decimal integers with an optional sign (overflow is an
//!   error); DOUBLE is arrow's float syntax (also `inf`, `NaN`); DATE is `YYYY-MM-DD`
//!   (also `YYYYMMDD` and a timestamp whose date part is taken). VARCHAR values must be
//!   UTF-8 (checked once per column of a chunk). A NULL in a non-nullable target column
//!   is an error. DECIMAL(p,s) is parsed exactly (arrow's
//!   `parse_decimal`): extra fractional digits round half away from zero like DuckDB
//!   (`'1.005'` into DECIMAL(10,2) is 1.01, `'-1.005'` is -1.01), an exponent is allowed
//!   (`1.5e2`), and a value with more than p-s integer digits is an error. A record
//!   with the wrong number of fields, or a value that does not parse, fails the scan
//!   with `Error::Load("f.csv line 3, column 2 (price): could not parse 'abc' as
//!   DECIMAL(10,2)")`; the line is the physical line (1-based, the header is line 1)
//!   where the record starts. When several columns of a chunk fail, the first record
//!   (then the first column) is reported.
//! * **Target schema** (`COPY t FROM`): fields map by position to the target's
//!   columns and parse straight into its types. If a record of the first chunk has one
//!   field more than the target and that last field is empty (`a|b|c|`), a trailing
//!   delimiter is tolerated on every line (an extra field that is not empty is an error).
//!
//! # CSV sniffing (when options are not given)
//!
//! * **Delimiter**: each of `,` `|` `;` `\t` tokenizes the first 256 KiB (at most 100
//!   records, quotes respected). A candidate scores by, in order: giving the target's
//!   column count (when there is a target), giving more than one column, at least 90%
//!   of the records having the most common field count, that count, and the number
//!   of such records; ties go to the earlier candidate, and `,` is the fallback.
//! * **Types** (no target): the first [`SAMPLE_ROWS`] records are sampled; for each
//!   column the first of BOOLEAN (`true`/`false`), BIGINT, DOUBLE (digits, `.`,
//!   exponent), DATE (`YYYY-MM-DD`) that every non-NULL value parses as is chosen, and
//!   VARCHAR otherwise (also for an all-NULL column). A value after the sample that does
//!   not fit the inferred type fails the scan with the line, like DuckDB.
//! * **Header** (no target): the sampled lines below the first give each column a
//!   type. If some column is not VARCHAR, the first line is a header when none of its
//!   values in those typed columns fits the type (a number under `id`...), with at least
//!   one of them non-empty (an empty name, as pandas writes for its index, is allowed).
//!   If every column is VARCHAR, the first line is a header when all its values are
//!   non-empty and none occurs again in its column in the sample (a header name is not
//!   a data value; like DuckDB, a file of text only is thus usually taken to have a
//!   header). A file of one line is a header when all its values are non-empty text
//!   (not numbers, booleans or dates). Names come from the header (trimmed; an empty
//!   name becomes `column{i}`, a duplicate gets `_1`, `_2`... appended,
//!   case-insensitively) or are `column0`, `column1`...
//! * **Header** (with a target): the first line is a header when it has a value that
//!   fails to parse as its (non-VARCHAR) column type while no other typed column's
//!   value parses, or when its values equal the target's column names
//!   (case-insensitively).
//! * **Trailing delimiter** (no target): when every sampled line (header included) has
//!   at least two fields and its last one is empty, the last field is taken as a
//!   trailing delimiter and dropped, so TPC-H `.tbl` files load with the right columns.
//! * An empty file has one VARCHAR column `column0` and no rows.
//!
//! # CSV writing
//!
//! A header line (unless `header == Some(false)`), then one line per row ending in `\n`,
//! fields separated by the delimiter (default `,`, or a tab for a `.tsv` path). Values
//! are rendered as [`crate::format::value_to_string`] renders them (exact decimals,
//! `YYYY-MM-DD` dates; integers, booleans, decimals and dates are written without
//! going through a `String`, which a test checks gives the same text); NULL (also every
//! value of a column of type NULL) is written as `null_string` (default: nothing). A
//! field is quoted (RFC 4180) when it contains the delimiter, the quote, the escape
//! character, CR or LF, or when it equals `null_string` (so an empty string is written
//! `""` and reads back as an empty string, not NULL); an embedded quote is doubled (or
//! preceded by `escape` when one is set). Batches are rendered in parallel in slices of
//! 16K rows and written in order.
//!
//! # Parquet
//!
//! Reading uses parquet's arrow reader; up to one row group per core is decoded at
//! once (in parallel), batches come out in file order. Each column is cast to the type
//! [`SqlType::from_arrow`] maps it to (INT8/INT16 to INTEGER, FLOAT to DOUBLE,
//! dictionary strings to VARCHAR...); a column of a type the engine cannot store is an
//! error naming the column, and a file that is not Parquet (or is truncated) is an
//! `Error::Load` naming the file. Writing uses `ArrowWriter` with zstd (level 1)
//! compression and row groups of 122 880 rows; every column is written nullable, and
//! the schema's own types are kept (a column of type NULL reads back as INTEGER).
//!
//! Both writers write to a temporary file in the target directory and rename it into
//! place when done, so a failed export leaves nothing behind.
//!
//! [`SqlType::from_arrow`]: crate::types::SqlType::from_arrow

use std::path::Path;

use arrow::array::RecordBatch;

use crate::error::{Error, Result};

mod csv;
mod files;
mod parquet;

pub use self::csv::{scan_csv, write_csv, CsvFileWriter};
pub use self::files::{expand, scan_files};
pub use self::parquet::{scan_parquet, write_parquet, ParquetFileWriter};

/// A lazily read sequence of record batches.
pub type BatchStream = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// How many batches [`read_ahead`] decodes before they are consumed.
const READ_AHEAD_BATCHES: usize = 4;

/// `stream` produced on a thread of its own, a few batches ahead of its
/// consumer (which then overlaps its work with the decoding). Dropping the
/// result stops the producer at its next batch.
pub fn read_ahead(stream: BatchStream) -> BatchStream {
    let (sender, receiver) = std::sync::mpsc::sync_channel(READ_AHEAD_BATCHES);
    std::thread::spawn(move || {
        for batch in stream {
            let failed = batch.is_err();
            if sender.send(batch).is_err() || failed {
                break;
            }
        }
    });
    Box::new(receiver.into_iter())
}

/// Rows per batch produced by the CSV reader.
pub const CSV_BATCH_ROWS: usize = 32 * 1024;
/// Rows per batch produced by the Parquet reader.
pub const PARQUET_BATCH_ROWS: usize = 64 * 1024;
/// Records sampled from the start of a CSV file to infer its column types.
pub const SAMPLE_ROWS: usize = 20 * 1024;

/// The format of a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
}

/// The format of a file by its extension (case-insensitive): `.csv`, `.tsv`, `.txt` and
/// `.tbl` (TPC-H dbgen's pipe-separated files) are CSV, `.parquet` and `.pq` are
/// Parquet, anything else is `None`.
pub fn format_from_path(path: &Path) -> Option<FileFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" | "tsv" | "txt" | "tbl" => Some(FileFormat::Csv),
        "parquet" | "pq" => Some(FileFormat::Parquet),
        _ => None,
    }
}

/// How a CSV file is read or written.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Whether the first line is a header; `None` detects it (see the module docs).
    /// When writing, `Some(false)` omits the header line.
    pub header: Option<bool>,
    /// The field delimiter; `None` detects it among `,` `|` `;` and tab when reading, and
    /// is `,` (a tab for `.tsv`) when writing.
    pub delimiter: Option<u8>,
    /// The quote character, `"` by default.
    pub quote: u8,
    /// The escape character inside quoted fields; `None` means RFC 4180 doubled quotes.
    pub escape: Option<u8>,
    /// The text of NULL: an unquoted field equal to it is NULL. Empty by default.
    pub null_string: String,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: None,
            delimiter: None,
            quote: b'"',
            escape: None,
            null_string: String::new(),
        }
    }
}

/// An OS error's message without the `(os error N)` suffix.
pub(crate) fn os_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Opens `path` for reading, as `Error::Load("could not open 'x': reason")` on failure.
pub(crate) fn open_for_read(path: &Path) -> Result<std::fs::File> {
    let fail =
        |reason: String| Error::Load(format!("could not open '{}': {reason}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| fail(os_message(&e)))?;
    match file.metadata() {
        Ok(m) if m.is_dir() => Err(fail("Is a directory".to_string())),
        _ => Ok(file),
    }
}

/// A temporary file beside `path` that becomes `path` on [`TempFile::commit`] and is
/// removed if dropped before that.
pub(crate) struct TempFile {
    temp: std::path::PathBuf,
    target: std::path::PathBuf,
    file: Option<std::fs::File>,
    done: bool,
}

impl TempFile {
    pub(crate) fn create(path: &Path) -> Result<TempFile> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let fail =
            |reason: String| Error::Load(format!("could not write '{}': {reason}", path.display()));
        let name = path
            .file_name()
            .ok_or_else(|| fail("not a file name".to_string()))?
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            return Err(fail("Is a directory".to_string()));
        }
        let temp_name = format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let temp = path.with_file_name(temp_name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| fail(os_message(&e)))?;
        Ok(TempFile {
            temp,
            target: path.to_path_buf(),
            file: Some(file),
            done: false,
        })
    }

    /// The open temporary file (to wrap in a writer).
    pub(crate) fn take_file(&mut self) -> std::fs::File {
        self.file.take().expect("temp file taken once")
    }

    /// Renames the temporary file into place.
    pub(crate) fn commit(mut self) -> Result<()> {
        self.file = None;
        std::fs::rename(&self.temp, &self.target).map_err(|e| {
            Error::Load(format!(
                "could not write '{}': {}",
                self.target.display(),
                os_message(&e)
            ))
        })?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            self.file = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// A short, single-line rendering of a value for an error message.
pub(crate) fn quote_for_message(text: &str) -> String {
    let mut out: String = text.chars().take(60).collect();
    if out.len() < text.len() {
        out.push_str("...");
    }
    out.replace('\n', "\\n").replace('\r', "\\r")
}

/// The file name used in messages: the path as given.
pub(crate) fn display_name(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etl_format_from_extension() {
        assert_eq!(format_from_path(Path::new("a.csv")), Some(FileFormat::Csv));
        assert_eq!(format_from_path(Path::new("a.TSV")), Some(FileFormat::Csv));
        assert_eq!(
            format_from_path(Path::new("dir/a.txt")),
            Some(FileFormat::Csv)
        );
        assert_eq!(
            format_from_path(Path::new("a.parquet")),
            Some(FileFormat::Parquet)
        );
        assert_eq!(
            format_from_path(Path::new("a.PQ")),
            Some(FileFormat::Parquet)
        );
        assert_eq!(format_from_path(Path::new("a.json")), None);
        assert_eq!(format_from_path(Path::new("a")), None);
        assert_eq!(format_from_path(Path::new("a.csv.gz")), None);
    }

    #[test]
    fn etl_os_message_strips_code() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(os_message(&e), "No such file or directory");
    }
}
