//! The one error type of the engine: a variant per stage of a statement's path
//! (parse, bind, plan, execute, storage, load), plus wrapped library errors.
//!
//! Every message is one line that names the problem, and where the SQL text has a
//! position for it, the position (`at line L, column C`).

use arrow::error::ArrowError;
use parquet::errors::ParquetError;

/// Every failure of the engine is one of these.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQL text is not valid SQL (or not SQL that `olap` understands).
    #[error("Parser Error: {0}")]
    Parse(String),
    /// The SQL is well formed but names something that does not exist, or mixes types.
    #[error("Binder Error: {0}")]
    Bind(String),
    /// The statement is understood but not supported yet.
    #[error("Not implemented: {0}")]
    Unsupported(String),
    /// A run-time failure while computing a result (overflow, a bad cast, ...).
    #[error("Execution Error: {0}")]
    Execute(String),
    /// A catalog-level conflict: a table that already exists, a missing table on DROP...
    #[error("Catalog Error: {0}")]
    Catalog(String),
    /// A CSV or Parquet file that cannot be loaded, or an export that cannot be written.
    #[error("Load Error: {0}")]
    Load(String),
    /// The database directory holds a file that is not what the manifest says it is.
    #[error("Corrupt database: {0}")]
    Corrupt(String),
    /// An operating-system I/O failure, with what was being done.
    #[error("IO Error: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A query that needs more memory than `memory_limit` allows, where its
    /// operator cannot spill to disk.
    #[error(
        "Out of Memory Error: {what} needs {} more, with {} of the memory_limit of {} in use (SET memory_limit raises it)",
        crate::exec::memory::format_bytes(*requested),
        crate::exec::memory::format_bytes(*used),
        crate::exec::memory::format_bytes(*limit)
    )]
    OutOfMemory {
        what: String,
        requested: usize,
        used: usize,
        limit: usize,
    },
    /// An error raised inside an Arrow kernel.
    #[error("Execution Error: {0}")]
    Arrow(#[from] ArrowError),
    /// An error raised by the Parquet reader or writer.
    #[error("Parquet Error: {0}")]
    Parquet(#[from] ParquetError),
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error with line breaks in its message written as `\n`: a message may
    /// quote the SQL text (a quoted name or string spanning lines), and it stays
    /// one line.
    pub fn one_line(self) -> Self {
        let escape = |m: String| {
            if m.contains(['\n', '\r']) {
                m.replace('\r', "\\r").replace('\n', "\\n")
            } else {
                m
            }
        };
        match self {
            Error::Parse(m) => Error::Parse(escape(m)),
            Error::Bind(m) => Error::Bind(escape(m)),
            Error::Unsupported(m) => Error::Unsupported(escape(m)),
            Error::Execute(m) => Error::Execute(escape(m)),
            Error::Catalog(m) => Error::Catalog(escape(m)),
            Error::Load(m) => Error::Load(escape(m)),
            Error::Corrupt(m) => Error::Corrupt(escape(m)),
            Error::Arrow(e) if e.to_string().contains(['\n', '\r']) => {
                Error::Execute(escape(e.to_string()))
            }
            other => other,
        }
    }

    /// An I/O error with a note of what was being done (`"opening foo.csv"`).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Shorthands that build an `Err` of the given variant from a format string.
#[macro_export]
macro_rules! bind_err {
    ($($arg:tt)*) => { Err($crate::Error::Bind(format!($($arg)*))) };
}

#[macro_export]
macro_rules! unsupported {
    ($($arg:tt)*) => { Err($crate::Error::Unsupported(format!($($arg)*))) };
}

#[macro_export]
macro_rules! exec_err {
    ($($arg:tt)*) => { Err($crate::Error::Execute(format!($($arg)*))) };
}
