//! Printing results: the three output formats and what surrounds them.

use std::fmt;
use std::io::{self, Write};

use clap::ValueEnum;
use olap::format::{render_csv, render_json, render_table};
use olap::QueryResult;

/// How results are printed (`--format`, `.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A boxed table followed by the row count.
    Table,
    /// RFC 4180 CSV with a header line.
    Csv,
    /// A JSON array with one object per row.
    Json,
}

impl Format {
    /// The format named `name` (`table`, `csv`, `json`; any case).
    pub fn parse(name: &str) -> Option<Format> {
        Format::from_str(name, true).ok()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.to_possible_value().expect("no variant is skipped");
        f.write_str(value.get_name())
    }
}

/// The text printed for `result` in `format`: nothing for a statement without
/// columns (CREATE TABLE, INSERT ...), and in table mode a `(N rows)` line after
/// the table. Ends in a newline unless empty.
pub fn result_text(result: &QueryResult, format: Format) -> String {
    if result.schema.fields().is_empty() {
        return String::new();
    }
    match format {
        Format::Table => {
            let rows = result.num_rows();
            let noun = if rows == 1 { "row" } else { "rows" };
            format!("{}\n({rows} {noun})\n", render_table(result))
        }
        Format::Csv => render_csv(result),
        Format::Json => render_json(result) + "\n",
    }
}

/// Prints `result` on stdout in `format`.
pub fn print_result(result: &QueryResult, format: Format) -> io::Result<()> {
    print_text(&result_text(result, format))
}

/// Prints `text` on stdout as is, and flushes it.
pub fn print_text(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}
