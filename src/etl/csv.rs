//! CSV reading (tokenizer, sniffer, typed conversion) and writing. The algorithms are
//! described in the module docs of [`crate::etl`].

use std::collections::HashSet;
use std::io::{Cursor, Read, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use arrow::array::*;
use arrow::compute::kernels::cast_utils::{parse_decimal, Parser};
use arrow::datatypes::*;
use rayon::prelude::*;

use super::{
    display_name, open_for_read, os_message, quote_for_message, BatchStream, CsvOptions, TempFile,
    CSV_BATCH_ROWS, SAMPLE_ROWS,
};
use crate::error::{Error, Result};
use crate::types::type_name;

/// Bytes read from the start of a file to detect the delimiter.
const SNIFF_BYTES: usize = 256 * 1024;
/// Records looked at per candidate delimiter.
const SNIFF_RECORDS: usize = 100;
/// Size of the tokenizer's read buffer.
const READ_BUFFER: usize = 1 << 20;
/// The delimiters tried when none is given, in order of preference.
const DELIMITER_CANDIDATES: [u8; 4] = [b',', b'|', b';', b'\t'];

// ---------------------------------------------------------------------------------
// Records: the tokenizer's output
// ---------------------------------------------------------------------------------

/// A chunk of tokenized records: the unescaped bytes of every field, concatenated;
/// field `i` is `data[bounds[i]..bounds[i + 1]]` and was quoted if `quoted[i]`; record
/// `r` is fields `records[r]..records[r + 1]` and starts on line `lines[r]`.
#[derive(Debug)]
struct Records {
    data: Vec<u8>,
    bounds: Vec<usize>,
    quoted: Vec<bool>,
    records: Vec<usize>,
    lines: Vec<u64>,
}

impl Default for Records {
    fn default() -> Self {
        Records {
            data: Vec::new(),
            bounds: vec![0],
            quoted: Vec::new(),
            records: vec![0],
            lines: Vec::new(),
        }
    }
}

impl Records {
    fn len(&self) -> usize {
        self.lines.len()
    }

    fn num_fields(&self, r: usize) -> usize {
        self.records[r + 1] - self.records[r]
    }

    /// The bytes of field `c` of record `r`, and whether it was quoted.
    #[inline(always)]
    fn field(&self, r: usize, c: usize) -> (&[u8], bool) {
        let i = self.records[r] + c;
        (
            &self.data[self.bounds[i]..self.bounds[i + 1]],
            self.quoted[i],
        )
    }

    /// A blank line: one empty, unquoted field.
    fn is_blank(&self, r: usize) -> bool {
        if self.num_fields(r) != 1 {
            return false;
        }
        let (v, q) = self.field(r, 0);
        v.is_empty() && !q
    }

    /// Drops a partly tokenized record at the end.
    fn truncate_partial(&mut self) {
        let fields = *self.records.last().expect("records starts with 0");
        self.bounds.truncate(fields + 1);
        self.quoted.truncate(fields);
        self.data.truncate(self.bounds[fields]);
    }
}

// ---------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing of the current field consumed yet.
    FieldStart,
    /// Inside an unquoted field.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: a closing quote or half of a doubled one.
    QuoteInQuoted,
    /// Just after the escape character inside a quoted field.
    Escaped,
}

/// A streaming CSV tokenizer: a state machine over the bytes of `reader` that keeps
/// its state across buffer refills, so records may span reads.
struct Tokenizer<R: Read> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    started: bool,
    delim: u8,
    quote: u8,
    escape: u8,
    state: State,
    /// The line (1-based) at the read position.
    line: u64,
    /// A `\r` ended the last record; a `\n` right after it belongs to it.
    skip_lf: bool,
    /// Something of the current record has been consumed.
    in_record: bool,
    record_line: u64,
    cur_quoted: bool,
    name: String,
    /// A record that breaks RFC 4180 (text after a closing quote), found by `step`.
    malformed: Option<String>,
}

impl<R: Read> Tokenizer<R> {
    fn new(reader: R, delim: u8, options: &CsvOptions, name: String, buffer: usize) -> Self {
        Tokenizer {
            reader,
            buf: vec![0; buffer.max(16)],
            pos: 0,
            len: 0,
            eof: false,
            started: false,
            delim,
            quote: options.quote,
            // An escape equal to the quote is RFC 4180 doubling, handled anyway.
            escape: options.escape.unwrap_or(options.quote),
            state: State::FieldStart,
            line: 1,
            skip_lf: false,
            in_record: false,
            record_line: 1,
            cur_quoted: false,
            name,
            malformed: None,
        }
    }

    /// Whether the whole input has been tokenized.
    fn exhausted(&self) -> bool {
        self.eof && self.pos == self.len
    }

    /// Refills the buffer; false at end of input.
    fn fill(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    self.pos = 0;
                    self.len = 0;
                    return Ok(false);
                }
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                    if !self.started {
                        self.started = true;
                        if self.buf[..n].starts_with(&[0xEF, 0xBB, 0xBF]) {
                            self.pos = 3;
                        }
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Load(format!(
                        "could not read '{}': {}",
                        self.name,
                        os_message(&e)
                    )))
                }
            }
        }
    }

    /// Tokenizes records into `out` until it holds `max` records or the input ends.
    /// At the end of input a last record without a line terminator is completed when
    /// `finish_partial`, and dropped otherwise (for a truncated sniffing sample).
    fn read_records(&mut self, max: usize, out: &mut Records, finish_partial: bool) -> Result<()> {
        while out.len() < max {
            if self.pos == self.len && !self.fill()? {
                return self.finish(out, finish_partial);
            }
            self.step(out, max);
            if let Some(message) = self.malformed.take() {
                return Err(Error::Load(message));
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Records, finish_partial: bool) -> Result<()> {
        self.skip_lf = false;
        if !finish_partial {
            out.truncate_partial();
            self.in_record = false;
            self.state = State::FieldStart;
            return Ok(());
        }
        if matches!(self.state, State::Quoted | State::Escaped) {
            return Err(Error::Load(format!(
                "{} line {}: unterminated quoted field (missing closing quote)",
                self.name, self.record_line
            )));
        }
        if self.in_record {
            self.end_record(out);
        }
        Ok(())
    }

    #[inline]
    fn end_field(&mut self, out: &mut Records) {
        out.bounds.push(out.data.len());
        out.quoted.push(self.cur_quoted);
        self.cur_quoted = false;
        self.state = State::FieldStart;
    }

    #[inline]
    fn end_record(&mut self, out: &mut Records) {
        self.end_field(out);
        out.records.push(out.quoted.len());
        out.lines.push(self.record_line);
        self.in_record = false;
    }

    /// Consumes buffered bytes until the buffer is empty or `out` holds `max` records.
    fn step(&mut self, out: &mut Records, max: usize) {
        let (delim, quote, escape) = (self.delim, self.quote, self.escape);
        let len = self.len;
        let mut i = self.pos;
        while i < len {
            match self.state {
                State::FieldStart => {
                    let b = self.buf[i];
                    if self.skip_lf {
                        self.skip_lf = false;
                        if b == b'\n' {
                            i += 1;
                            continue;
                        }
                    }
                    if !self.in_record {
                        self.in_record = true;
                        self.record_line = self.line;
                    }
                    if b == delim {
                        self.end_field(out);
                        i += 1;
                    } else if b == b'\n' || b == b'\r' {
                        self.line += 1;
                        self.skip_lf = b == b'\r';
                        self.end_record(out);
                        i += 1;
                        if out.len() >= max {
                            break;
                        }
                    } else if b == quote && !self.cur_quoted {
                        self.cur_quoted = true;
                        self.state = State::Quoted;
                        i += 1;
                    } else {
                        self.state = State::Unquoted;
                    }
                }
                State::Unquoted => {
                    let start = i;
                    while i < len {
                        let b = self.buf[i];
                        if b == delim || b == b'\n' || b == b'\r' {
                            break;
                        }
                        i += 1;
                    }
                    out.data.extend_from_slice(&self.buf[start..i]);
                    if i < len {
                        // The terminator is handled (and consumed) by FieldStart.
                        self.state = State::FieldStart;
                    }
                }
                State::Quoted => {
                    let start = i;
                    while i < len {
                        let b = self.buf[i];
                        if b == quote || b == escape {
                            break;
                        }
                        if b == b'\n' {
                            self.line += 1;
                        }
                        i += 1;
                    }
                    out.data.extend_from_slice(&self.buf[start..i]);
                    if i < len {
                        self.state = if self.buf[i] == quote {
                            State::QuoteInQuoted
                        } else {
                            State::Escaped
                        };
                        i += 1;
                    }
                }
                State::QuoteInQuoted => {
                    let b = self.buf[i];
                    if b == quote {
                        out.data.push(quote);
                        self.state = State::Quoted;
                        i += 1;
                    } else if b == delim || b == b'\n' || b == b'\r' {
                        self.state = State::FieldStart;
                    } else {
                        // Text after the closing quote (`"a"b`) is refused, as in
                        // DuckDB's strict mode. (A quote inside an unquoted field,
                        // `x"y"z`, is kept as text, as there.)
                        let column = out.quoted.len() - out.records.last().unwrap_or(&0) + 1;
                        self.malformed = Some(format!(
                            "{} line {}, column {column}: text after the closing quote of a quoted field (a quote inside a quoted field is written twice: \"\")",
                            self.name, self.line
                        ));
                        break;
                    }
                }
                State::Escaped => {
                    let b = self.buf[i];
                    if b == b'\n' {
                        self.line += 1;
                    }
                    out.data.push(b);
                    self.state = State::Quoted;
                    i += 1;
                }
            }
        }
        self.pos = i;
    }
}

// ---------------------------------------------------------------------------------
// Value parsing
// ---------------------------------------------------------------------------------

fn as_str(v: &[u8]) -> Option<&str> {
    std::str::from_utf8(v).ok()
}

fn parse_bool(v: &[u8]) -> Option<bool> {
    let v = v.trim_ascii();
    const TRUE: [&[u8]; 5] = [b"true", b"t", b"yes", b"y", b"1"];
    const FALSE: [&[u8]; 5] = [b"false", b"f", b"no", b"n", b"0"];
    if TRUE.iter().any(|t| v.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|f| v.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

/// `[+-]digits`, surrounded by optional blanks.
fn is_integer_text(v: &[u8]) -> bool {
    let v = v.trim_ascii();
    let digits = v
        .strip_prefix(b"-")
        .or_else(|| v.strip_prefix(b"+"))
        .unwrap_or(v);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// `[+-]digits[.digits][e[+-]digits]` (or `.digits`), surrounded by optional blanks:
/// what type inference accepts as a DOUBLE (not `inf`/`nan`, which are usually text).
fn is_decimal_text(v: &[u8]) -> bool {
    let v = v.trim_ascii();
    let v = v
        .strip_prefix(b"-")
        .or_else(|| v.strip_prefix(b"+"))
        .unwrap_or(v);
    let (mantissa, exponent) = match v.iter().position(|&b| b == b'e' || b == b'E') {
        Some(p) => (&v[..p], Some(&v[p + 1..])),
        None => (v, None),
    };
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(p) => (&mantissa[..p], &mantissa[p + 1..]),
        None => (mantissa, &b""[..]),
    };
    let mantissa_ok = (!int.is_empty() || !frac.is_empty())
        && int.iter().all(u8::is_ascii_digit)
        && frac.iter().all(u8::is_ascii_digit);
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e
                .strip_prefix(b"-")
                .or_else(|| e.strip_prefix(b"+"))
                .unwrap_or(e);
            !e.is_empty() && e.iter().all(u8::is_ascii_digit)
        }
    };
    mantissa_ok && exponent_ok
}

/// `[+-]digits` with optional surrounding blanks, checked for overflow.
fn parse_i64(v: &[u8]) -> Option<i64> {
    let v = v.trim_ascii();
    let (negative, digits) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated negatively, so that i64::MIN fits.
    let mut acc: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_sub(i64::from(d))?;
    }
    if negative {
        Some(acc)
    } else {
        acc.checked_neg()
    }
}

fn parse_i32(v: &[u8]) -> Option<i32> {
    parse_i64(v).and_then(|x| i32::try_from(x).ok())
}

fn parse_f64(v: &[u8]) -> Option<f64> {
    Float64Type::parse(as_str(v)?.trim())
}

/// Strictly `YYYY-MM-DD` (what inference accepts as a DATE).
fn parse_iso_date(v: &[u8]) -> Option<i32> {
    let v = v.trim_ascii();
    let shape = v.len() == 10
        && v.iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape {
        return None;
    }
    Date32Type::parse(as_str(v)?)
}

/// What an inferred column type accepts (used by inference and header detection).
fn fits_inferred(dt: &DataType, v: &[u8]) -> bool {
    match dt {
        DataType::Boolean => {
            let v = v.trim_ascii();
            v.eq_ignore_ascii_case(b"true") || v.eq_ignore_ascii_case(b"false")
        }
        DataType::Int64 => parse_i64(v).is_some(),
        DataType::Float64 => is_decimal_text(v) && parse_f64(v).is_some(),
        DataType::Date32 => parse_iso_date(v).is_some(),
        _ => true,
    }
}

/// Parses one non-NULL value into a target column's type, as the message on failure.
fn check_value(dt: &DataType, v: &[u8]) -> std::result::Result<(), String> {
    let ok = match dt {
        DataType::Boolean => parse_bool(v).is_some(),
        DataType::Int32 => parse_i32(v).is_some(),
        DataType::Int64 => parse_i64(v).is_some(),
        DataType::Float64 => parse_f64(v).is_some(),
        DataType::Date32 => as_str(v).and_then(Date32Type::parse).is_some(),
        DataType::Decimal128(p, s) => return parse_dec(v, *p, *s).map(|_| ()),
        DataType::Utf8 | DataType::LargeUtf8 => as_str(v).is_some(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(parse_failure(dt, v))
    }
}

fn parse_failure(dt: &DataType, v: &[u8]) -> String {
    let text = quote_for_message(&String::from_utf8_lossy(v));
    let name = type_name(dt);
    let integer = matches!(
        dt,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    );
    let decimal = matches!(dt, DataType::Decimal128(_, _));
    if (integer && is_integer_text(v)) || (decimal && is_decimal_text(v)) {
        format!("value '{text}' is out of range for {name}")
    } else {
        format!("could not parse '{text}' as {name}")
    }
}

fn parse_dec(v: &[u8], p: u8, s: i8) -> std::result::Result<i128, String> {
    let text = as_str(v).ok_or_else(|| parse_failure(&DataType::Decimal128(p, s), v))?;
    parse_decimal::<Decimal128Type>(text, p, s)
        .map_err(|_| parse_failure(&DataType::Decimal128(p, s), v))
}

// ---------------------------------------------------------------------------------
// Type inference
// ---------------------------------------------------------------------------------

/// The types a column's values so far all fit.
#[derive(Debug, Clone, Copy)]
struct Candidates {
    boolean: bool,
    int: bool,
    double: bool,
    date: bool,
    seen: bool,
}

impl Candidates {
    fn new() -> Self {
        Candidates {
            boolean: true,
            int: true,
            double: true,
            date: true,
            seen: false,
        }
    }

    fn any(&self) -> bool {
        self.boolean || self.int || self.double || self.date
    }

    /// Narrows by one non-NULL value (all-blank values count as NULL).
    fn update(&mut self, v: &[u8]) {
        if v.trim_ascii().is_empty() {
            return;
        }
        self.seen = true;
        if !self.any() {
            return;
        }
        if self.boolean && !fits_inferred(&DataType::Boolean, v) {
            self.boolean = false;
        }
        if self.int && !fits_inferred(&DataType::Int64, v) {
            self.int = false;
        }
        if self.double && !fits_inferred(&DataType::Float64, v) {
            self.double = false;
        }
        if self.date && !fits_inferred(&DataType::Date32, v) {
            self.date = false;
        }
    }

    fn result(&self) -> DataType {
        if !self.seen {
            DataType::Utf8
        } else if self.boolean {
            DataType::Boolean
        } else if self.int {
            DataType::Int64
        } else if self.double {
            DataType::Float64
        } else if self.date {
            DataType::Date32
        } else {
            DataType::Utf8
        }
    }
}

// ---------------------------------------------------------------------------------
// Sniffing
// ---------------------------------------------------------------------------------

/// How well a delimiter splits the sample: matches the target's width, more than one
/// column, mostly consistent, the most common field count, and how many have it.
type SniffScore = (bool, bool, bool, usize, usize);

/// Picks the delimiter among the candidates (see the module docs for the scoring).
fn sniff_delimiter(
    sample: &[u8],
    truncated: bool,
    options: &CsvOptions,
    target_cols: Option<usize>,
) -> u8 {
    let mut best: Option<(SniffScore, u8)> = None;
    for delim in DELIMITER_CANDIDATES {
        if delim == options.quote || Some(delim) == options.escape {
            continue;
        }
        let mut tok = Tokenizer::new(
            Cursor::new(sample),
            delim,
            options,
            String::new(),
            64 * 1024,
        );
        let mut recs = Records::default();
        // A sniffing error (an unterminated quote in the sample) just ends the sample.
        let _ = tok.read_records(SNIFF_RECORDS, &mut recs, !truncated);
        let counts: Vec<usize> = (0..recs.len())
            .filter(|&r| !recs.is_blank(r))
            .map(|r| recs.num_fields(r))
            .collect();
        if counts.is_empty() {
            continue;
        }
        let mut freq: std::collections::BTreeMap<usize, usize> = Default::default();
        for &c in &counts {
            *freq.entry(c).or_default() += 1;
        }
        let (&mode, &n_mode) = freq
            .iter()
            .max_by_key(|(c, n)| (**n, **c))
            .expect("counts is not empty");
        let trailing = counts.iter().all(|&c| c >= 2)
            && (0..recs.len()).filter(|&r| !recs.is_blank(r)).all(|r| {
                let (v, q) = recs.field(r, recs.num_fields(r) - 1);
                v.is_empty() && !q
            });
        let matches_target = match target_cols {
            Some(t) => mode == t || (trailing && mode == t + 1),
            None => false,
        };
        let key = (
            matches_target,
            mode > 1,
            n_mode * 10 >= counts.len() * 9,
            mode,
            n_mode,
        );
        if best.as_ref().is_none_or(|(k, _)| key > *k) {
            best = Some((key, delim));
        }
    }
    best.map(|(_, d)| d).unwrap_or(b',')
}

/// How the records of a file become batches.
#[derive(Debug)]
struct Plan {
    name: String,
    schema: SchemaRef,
    /// The file's lines have one more, always empty, field than the schema has columns.
    trailing: bool,
    null: Vec<u8>,
}

/// Whether an unquoted field is the NULL text.
#[inline]
fn is_null_text(v: &[u8], quoted: bool, null: &[u8]) -> bool {
    !quoted && v == null
}

/// Header names made usable: trimmed, empty ones named `column{i}`, duplicates
/// (case-insensitively) suffixed `_1`, `_2`...
fn unique_names(raw: Vec<String>) -> Vec<String> {
    let mut used = HashSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, n)| {
            let base = match n.trim() {
                "" => format!("column{i}"),
                t => t.to_string(),
            };
            let mut name = base.clone();
            let mut k = 1;
            while used.contains(&name.to_lowercase()) {
                name = format!("{base}_{k}");
                k += 1;
            }
            used.insert(name.to_lowercase());
            name
        })
        .collect()
}

/// The schema and header of a file without a target, from its first records.
/// Returns the plan and the index of the first record that is data.
fn infer_plan(recs: &Records, options: &CsvOptions, name: &str) -> (Plan, usize) {
    let null = options.null_string.as_bytes().to_vec();
    let first = (0..recs.len()).find(|&r| !recs.is_blank(r));
    let Some(first) = first else {
        // Empty (or blank) file: one VARCHAR column, and any blank lines are NULLs.
        let schema = Schema::new(vec![Field::new("column0", DataType::Utf8, true)]);
        let plan = Plan {
            name: name.to_string(),
            schema: Arc::new(schema),
            trailing: false,
            null,
        };
        return (plan, 0);
    };
    let width = recs.num_fields(first);
    let non_blank = || (first..recs.len()).filter(|&r| !recs.is_blank(r));
    let trailing = width >= 2
        && non_blank().all(|r| {
            let n = recs.num_fields(r);
            let (v, q) = recs.field(r, n - 1);
            n == width && v.is_empty() && !q
        });
    let ncols = if trailing { width - 1 } else { width };
    let fits_width = |r: usize| {
        let n = recs.num_fields(r);
        n == ncols || (trailing && n == ncols + 1)
    };
    let value = |r: usize, c: usize| -> Option<&[u8]> {
        let (v, q) = recs.field(r, c);
        (!is_null_text(v, q, &null)).then_some(v)
    };

    // Candidate types of the records below the first one, and with the first one.
    let below: Vec<usize> = ((first + 1)..recs.len())
        .filter(|&r| (ncols == 1 || !recs.is_blank(r)) && fits_width(r))
        .collect();
    let mut cand_below = vec![Candidates::new(); ncols];
    for &r in &below {
        for (c, cand) in cand_below.iter_mut().enumerate() {
            if let Some(v) = value(r, c) {
                cand.update(v);
            }
        }
    }
    let first_values: Vec<Option<&[u8]>> = (0..ncols).map(|c| value(first, c)).collect();
    let has_header = options.header.unwrap_or_else(|| {
        if !fits_width(first) {
            return false;
        }
        let present = |v: &Option<&[u8]>| v.is_some_and(|v| !v.trim_ascii().is_empty());
        let all_present = first_values.iter().all(present);
        if below.is_empty() {
            // A single line: a header if all its values are text (no numbers,
            // booleans or dates).
            return all_present
                && first_values.iter().flatten().all(|v| {
                    let mut c = Candidates::new();
                    c.update(v);
                    c.result() == DataType::Utf8
                });
        }
        let types: Vec<DataType> = cand_below.iter().map(Candidates::result).collect();
        let typed: Vec<usize> = (0..ncols).filter(|&c| types[c] != DataType::Utf8).collect();
        if !typed.is_empty() {
            // A header if no typed column's first value fits its type, and one is there
            // (an empty name, as pandas writes for its index, is allowed).
            return typed.iter().any(|&c| present(&first_values[c]))
                && typed.iter().all(|&c| match first_values[c] {
                    Some(v) if !v.trim_ascii().is_empty() => !fits_inferred(&types[c], v),
                    _ => true,
                });
        }
        // All text: a header if all its values are there and none occurs again below.
        all_present && (0..ncols).all(|c| below.iter().all(|&r| value(r, c) != first_values[c]))
    });
    let types: Vec<DataType> = if has_header {
        cand_below.iter().map(Candidates::result).collect()
    } else {
        let mut all = cand_below;
        for (c, cand) in all.iter_mut().enumerate() {
            if let Some(v) = first_values[c] {
                cand.update(v);
            }
        }
        all.iter().map(Candidates::result).collect()
    };
    let names: Vec<String> = if has_header {
        unique_names(
            (0..ncols)
                .map(|c| {
                    if c < recs.num_fields(first) {
                        String::from_utf8_lossy(recs.field(first, c).0).into_owned()
                    } else {
                        String::new()
                    }
                })
                .collect(),
        )
    } else {
        (0..ncols).map(|c| format!("column{c}")).collect()
    };
    let fields: Vec<Field> = names
        .into_iter()
        .zip(types)
        .map(|(n, t)| Field::new(n, t, true))
        .collect();
    let plan = Plan {
        name: name.to_string(),
        schema: Arc::new(Schema::new(fields)),
        trailing,
        null,
    };
    (plan, if has_header { first + 1 } else { 0 })
}

/// The plan for loading into `target`, from the file's first records.
/// Returns the plan and the index of the first record that is data.
fn target_plan(
    recs: &Records,
    options: &CsvOptions,
    name: &str,
    target: SchemaRef,
) -> (Plan, usize) {
    let null = options.null_string.as_bytes().to_vec();
    let ncols = target.fields().len();
    let candidates = || (0..recs.len()).filter(|&r| ncols == 1 || !recs.is_blank(r));
    // One empty field too many on some line: a trailing delimiter (`a|b|c|`).
    let trailing = candidates().any(|r| {
        let n = recs.num_fields(r);
        let (v, q) = recs.field(r, n - 1);
        n == ncols + 1 && v.is_empty() && !q
    });
    let first = candidates().next();
    let has_header = match (options.header, first) {
        (_, None) => false,
        (Some(h), _) => h,
        (None, Some(first)) => {
            let n = recs.num_fields(first);
            if n != ncols && !(trailing && n == ncols + 1) {
                false
            } else {
                let values: Vec<Option<&[u8]>> = (0..ncols)
                    .map(|c| {
                        let (v, q) = recs.field(first, c);
                        (!is_null_text(v, q, &null)).then_some(v)
                    })
                    .collect();
                let names_match = values.iter().zip(target.fields()).all(|(v, f)| {
                    v.is_some_and(|v| {
                        String::from_utf8_lossy(v.trim_ascii()).eq_ignore_ascii_case(f.name())
                    })
                });
                let (mut fails, mut parses) = (0, 0);
                for (v, f) in values.iter().zip(target.fields()) {
                    let typed = !matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8);
                    match v {
                        Some(v) if typed && !v.trim_ascii().is_empty() => {
                            if check_value(f.data_type(), v).is_ok() {
                                parses += 1;
                            } else {
                                fails += 1;
                            }
                        }
                        _ => {}
                    }
                }
                names_match || (fails > 0 && parses == 0)
            }
        }
    };
    let plan = Plan {
        name: name.to_string(),
        schema: target,
        trailing,
        null,
    };
    let start = match (has_header, first) {
        (true, Some(f)) => f + 1,
        _ => 0,
    };
    (plan, start)
}

// ---------------------------------------------------------------------------------
// Conversion of records to a batch
// ---------------------------------------------------------------------------------

type ColumnError = (usize, String);

impl Plan {
    /// The records from `start` on that are rows, checking their field counts.
    fn rows(&self, recs: &Records, start: usize) -> Result<Vec<usize>> {
        let ncols = self.schema.fields().len();
        let mut rows = Vec::with_capacity(recs.len().saturating_sub(start));
        for r in start..recs.len() {
            let n = recs.num_fields(r);
            if n == ncols {
                rows.push(r);
            } else if ncols != 1 && recs.is_blank(r) {
                continue;
            } else if self.trailing && n == ncols + 1 && {
                let (v, q) = recs.field(r, ncols);
                v.is_empty() && !q
            } {
                rows.push(r);
            } else {
                let mut msg = format!(
                    "{} line {}: expected {ncols} field{} but found {n}",
                    self.name,
                    recs.lines[r],
                    if ncols == 1 { "" } else { "s" }
                );
                if n > ncols {
                    let (v, _) = recs.field(r, ncols);
                    if !v.is_empty() {
                        msg.push_str(&format!(
                            " ('{}' after the last column)",
                            quote_for_message(&String::from_utf8_lossy(v))
                        ));
                    }
                }
                return Err(Error::Load(msg));
            }
        }
        Ok(rows)
    }

    /// Converts records from `start` on into a batch (`None` when there are no rows).
    fn convert(&self, recs: &Records, start: usize) -> Result<Option<RecordBatch>> {
        let rows = self.rows(recs, start)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let fields = self.schema.fields();
        let build = |c: usize| build_column(recs, &rows, c, &fields[c], &self.null);
        let results: Vec<std::result::Result<ArrayRef, ColumnError>> =
            if rows.len() * fields.len() >= 4096 && fields.len() > 1 {
                (0..fields.len()).into_par_iter().map(build).collect()
            } else {
                (0..fields.len()).map(build).collect()
            };
        let mut columns = Vec::with_capacity(fields.len());
        let mut first_error: Option<(usize, usize, String)> = None;
        for (c, result) in results.into_iter().enumerate() {
            match result {
                Ok(a) => columns.push(a),
                Err((r, msg)) => {
                    if first_error.as_ref().is_none_or(|(er, _, _)| r < *er) {
                        first_error = Some((r, c, msg));
                    }
                }
            }
        }
        if let Some((r, c, msg)) = first_error {
            return Err(Error::Load(format!(
                "{} line {}, column {} ({}): {msg}",
                self.name,
                recs.lines[r],
                c + 1,
                fields[c].name()
            )));
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
            .map_err(|e| Error::Load(format!("{}: {e}", self.name)))?;
        Ok(Some(batch))
    }
}

fn build_primitive<T: ArrowPrimitiveType>(
    recs: &Records,
    rows: &[usize],
    col: usize,
    field: &Field,
    null: &[u8],
    parse: impl Fn(&[u8]) -> Option<T::Native>,
) -> std::result::Result<ArrayRef, ColumnError> {
    let dt = field.data_type();
    let mut builder = PrimitiveBuilder::<T>::with_capacity(rows.len()).with_data_type(dt.clone());
    for &r in rows {
        let (v, q) = recs.field(r, col);
        if is_null_text(v, q, null) || v.trim_ascii().is_empty() {
            if !field.is_nullable() {
                return Err((r, "NULL value in a NOT NULL column".to_string()));
            }
            builder.append_null();
            continue;
        }
        match parse(v) {
            Some(x) => builder.append_value(x),
            None => {
                let msg = match dt {
                    DataType::Decimal128(p, s) => parse_dec(v, *p, *s)
                        .err()
                        .unwrap_or_else(|| parse_failure(dt, v)),
                    _ => parse_failure(dt, v),
                };
                return Err((r, msg));
            }
        }
    }
    Ok(Arc::new(builder.finish()))
}

fn build_column(
    recs: &Records,
    rows: &[usize],
    col: usize,
    field: &Field,
    null: &[u8],
) -> std::result::Result<ArrayRef, ColumnError> {
    match field.data_type() {
        DataType::Boolean => {
            let mut builder = BooleanBuilder::with_capacity(rows.len());
            for &r in rows {
                let (v, q) = recs.field(r, col);
                if is_null_text(v, q, null) || v.trim_ascii().is_empty() {
                    if !field.is_nullable() {
                        return Err((r, "NULL value in a NOT NULL column".to_string()));
                    }
                    builder.append_null();
                } else {
                    match parse_bool(v) {
                        Some(b) => builder.append_value(b),
                        None => return Err((r, parse_failure(field.data_type(), v))),
                    }
                }
            }
            Ok(Arc::new(builder.finish()))
        }
        DataType::Int32 => build_primitive::<Int32Type>(recs, rows, col, field, null, parse_i32),
        DataType::Int64 => build_primitive::<Int64Type>(recs, rows, col, field, null, parse_i64),
        DataType::Float64 => {
            build_primitive::<Float64Type>(recs, rows, col, field, null, parse_f64)
        }
        DataType::Date32 => build_primitive::<Date32Type>(recs, rows, col, field, null, |v| {
            Date32Type::parse(as_str(v)?)
        }),
        DataType::Decimal128(p, s) => {
            let (p, s) = (*p, *s);
            build_primitive::<Decimal128Type>(recs, rows, col, field, null, |v| {
                parse_dec(v, p, s).ok()
            })
        }
        DataType::Utf8 => build_strings(recs, rows, col, field, null),
        other => build_by_cast(recs, rows, col, field, null, other),
    }
}

/// A VARCHAR column: the bytes are copied into one values buffer, and UTF-8 is checked
/// once for the whole buffer (and at every value boundary) by `StringArray::try_new`;
/// only when that fails is the offending value looked for.
fn build_strings(
    recs: &Records,
    rows: &[usize],
    col: usize,
    field: &Field,
    null: &[u8],
) -> std::result::Result<ArrayRef, ColumnError> {
    let bytes: usize = rows.iter().map(|&r| recs.field(r, col).0.len()).sum();
    if bytes > i32::MAX as usize {
        return Err((
            rows[0],
            "the VARCHAR values of a batch exceed 2 GiB".to_string(),
        ));
    }
    let mut values: Vec<u8> = Vec::with_capacity(bytes);
    let mut offsets: Vec<i32> = Vec::with_capacity(rows.len() + 1);
    let mut nulls = arrow::array::NullBufferBuilder::new(rows.len());
    offsets.push(0);
    for &r in rows {
        let (v, q) = recs.field(r, col);
        if is_null_text(v, q, null) {
            if !field.is_nullable() {
                return Err((r, "NULL value in a NOT NULL column".to_string()));
            }
            nulls.append_null();
        } else {
            values.extend_from_slice(v);
            nulls.append_non_null();
        }
        offsets.push(values.len() as i32);
    }
    let offsets = arrow::buffer::OffsetBuffer::new(offsets.into());
    match StringArray::try_new(offsets, values.into(), nulls.finish()) {
        Ok(array) => Ok(Arc::new(array)),
        Err(e) => {
            for &r in rows {
                if std::str::from_utf8(recs.field(r, col).0).is_err() {
                    return Err((r, "invalid UTF-8 in a VARCHAR value".to_string()));
                }
            }
            Err((rows[0], e.to_string()))
        }
    }
}

/// Any other target type: read as text, then cast (the failing row is found on error).
fn build_by_cast(
    recs: &Records,
    rows: &[usize],
    col: usize,
    field: &Field,
    null: &[u8],
    dt: &DataType,
) -> std::result::Result<ArrayRef, ColumnError> {
    let text_field = Field::new(field.name(), DataType::Utf8, field.is_nullable());
    let text = build_column(recs, rows, col, &text_field, null)?;
    let strict = arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    match arrow::compute::cast_with_options(&text, dt, &strict) {
        Ok(a) => Ok(a),
        Err(e) => {
            for (i, &r) in rows.iter().enumerate() {
                if arrow::compute::cast_with_options(&text.slice(i, 1), dt, &strict).is_err() {
                    return Err((r, parse_failure(dt, recs.field(r, col).0)));
                }
            }
            Err((
                rows[0],
                format!("could not convert to {}: {e}", type_name(dt)),
            ))
        }
    }
}

// ---------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------

type FileTokenizer = Tokenizer<Box<dyn Read + Send>>;

struct CsvStream {
    plan: Arc<Plan>,
    /// The first chunk (already tokenized for sniffing) and its first data record.
    pending: Option<(Records, usize)>,
    /// The tokenizer, until the background thread takes it.
    tokenizer: Option<FileTokenizer>,
    rx: Option<Receiver<Result<Records>>>,
    done: bool,
}

impl CsvStream {
    fn start_thread(&mut self) -> Result<()> {
        let Some(mut tok) = self.tokenizer.take() else {
            return Ok(());
        };
        if tok.exhausted() {
            return Ok(());
        }
        let (tx, rx) = sync_channel::<Result<Records>>(2);
        std::thread::Builder::new()
            .name("olap-csv-reader".to_string())
            .spawn(move || loop {
                let mut recs = Records::default();
                match tok.read_records(CSV_BATCH_ROWS, &mut recs, true) {
                    Ok(()) => {
                        if recs.len() == 0 || tx.send(Ok(recs)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            })
            .map_err(|e| Error::io("starting the CSV reader thread", e))?;
        self.rx = Some(rx);
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if let Some((recs, start)) = self.pending.take() {
            if let Some(batch) = self.plan.convert(&recs, start)? {
                return Ok(Some(batch));
            }
        }
        if self.rx.is_none() {
            self.start_thread()?;
        }
        let Some(rx) = &self.rx else {
            return Ok(None);
        };
        while let Ok(chunk) = rx.recv() {
            if let Some(batch) = self.plan.convert(&chunk?, 0)? {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    }
}

impl Iterator for CsvStream {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                self.rx = None;
                Some(Err(e))
            }
        }
    }
}

/// Reads up to `limit` bytes from the start of `file`.
fn read_prefix(file: &mut std::fs::File, limit: usize, name: &str) -> Result<Vec<u8>> {
    let mut sample = Vec::with_capacity(limit.min(64 * 1024));
    Read::by_ref(file)
        .take(limit as u64)
        .read_to_end(&mut sample)
        .map_err(|e| Error::Load(format!("could not read '{name}': {}", os_message(&e))))?;
    Ok(sample)
}

/// Opens a CSV file for reading; see [`crate::etl`] for the sniffing and parsing rules.
///
/// With `target` (COPY into an existing table) fields map by position to its columns
/// and parse straight into its types; without, the schema is inferred from the first
/// records. The batches are read lazily, in chunks of [`CSV_BATCH_ROWS`] records.
pub fn scan_csv(
    path: &Path,
    options: &CsvOptions,
    target: Option<SchemaRef>,
) -> Result<(SchemaRef, BatchStream)> {
    let name = display_name(path);
    if let Some(t) = &target {
        if t.fields().is_empty() {
            return Err(Error::Load(format!(
                "cannot load '{name}' into a table without columns"
            )));
        }
    }
    if options.delimiter == Some(options.quote) {
        return Err(Error::Load(format!(
            "'{name}': the delimiter and the quote character must differ"
        )));
    }
    if matches!(options.delimiter, Some(b'\n' | b'\r')) || matches!(options.quote, b'\n' | b'\r') {
        return Err(Error::Load(format!(
            "'{name}': the delimiter and quote cannot be a line break"
        )));
    }
    let mut file = open_for_read(path)?;
    let sample = read_prefix(&mut file, SNIFF_BYTES, &name)?;
    let truncated = sample.len() == SNIFF_BYTES;
    let delim = match options.delimiter {
        Some(d) => d,
        None => {
            let body = sample.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(&sample);
            sniff_delimiter(
                body,
                truncated,
                options,
                target.as_ref().map(|t| t.fields().len()),
            )
        }
    };
    let reader: Box<dyn Read + Send> = Box::new(Cursor::new(sample).chain(file));
    let mut tokenizer = Tokenizer::new(reader, delim, options, name.clone(), READ_BUFFER);
    let mut first = Records::default();
    let first_chunk = if target.is_some() {
        CSV_BATCH_ROWS
    } else {
        SAMPLE_ROWS
    };
    tokenizer.read_records(first_chunk, &mut first, true)?;
    let (plan, start) = match target {
        Some(t) => target_plan(&first, options, &name, t),
        None => infer_plan(&first, options, &name),
    };
    let plan = Arc::new(plan);
    let schema = plan.schema.clone();
    let stream = CsvStream {
        plan,
        pending: Some((first, start)),
        tokenizer: Some(tokenizer),
        rx: None,
        done: false,
    };
    Ok((schema, Box::new(stream)))
}

// ---------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------

struct CsvFormat<'a> {
    delim: u8,
    quote: u8,
    escape: Option<u8>,
    null: &'a [u8],
}

impl CsvFormat<'_> {
    fn needs_quotes(&self, v: &[u8]) -> bool {
        v == self.null
            || v.iter().any(|&b| {
                b == self.delim
                    || b == self.quote
                    || b == b'\n'
                    || b == b'\r'
                    || Some(b) == self.escape
            })
    }

    fn write_field(&self, out: &mut Vec<u8>, v: &[u8]) {
        if !self.needs_quotes(v) {
            out.extend_from_slice(v);
            return;
        }
        out.push(self.quote);
        for &b in v {
            if b == self.quote || Some(b) == self.escape {
                out.push(self.escape.unwrap_or(self.quote));
            }
            out.push(b);
        }
        out.push(self.quote);
    }

    fn write_batch(&self, batch: &RecordBatch, out: &mut Vec<u8>) {
        let columns: Vec<TextColumn> = batch.columns().iter().map(TextColumn::new).collect();
        // Logical nulls: a column of type NULL (`SELECT NULL AS x`) has no null buffer.
        let nulls: Vec<Option<arrow::buffer::NullBuffer>> =
            batch.columns().iter().map(|c| c.logical_nulls()).collect();
        let mut scratch = Vec::with_capacity(64);
        for row in 0..batch.num_rows() {
            for (c, column) in columns.iter().enumerate() {
                if c > 0 {
                    out.push(self.delim);
                }
                if nulls[c].as_ref().is_some_and(|n| n.is_null(row)) {
                    out.extend_from_slice(self.null);
                } else if let TextColumn::Utf8(strings) = column {
                    self.write_field(out, strings.value(row).as_bytes());
                } else {
                    scratch.clear();
                    column.render(row, &mut scratch);
                    self.write_field(out, &scratch);
                }
            }
            out.push(b'\n');
        }
    }
}

/// A column downcast once per batch, to render its non-NULL values as text.
///
/// Integers, booleans, decimals and dates (years 0 to 9999) are written straight into
/// the output buffer; the text is the same as [`crate::format::value_to_string`]'s
/// (exact decimals at their scale, `YYYY-MM-DD`), which renders every other value
/// (and is checked against these in the tests).
enum TextColumn<'a> {
    Utf8(&'a StringArray),
    Boolean(&'a BooleanArray),
    Int32(&'a Int32Array),
    Int64(&'a Int64Array),
    Decimal(&'a Decimal128Array, i8),
    Date(&'a Date32Array),
    Other(&'a dyn Array),
}

impl<'a> TextColumn<'a> {
    fn new(array: &'a ArrayRef) -> Self {
        match array.data_type() {
            DataType::Utf8 => TextColumn::Utf8(array.as_string::<i32>()),
            DataType::Boolean => TextColumn::Boolean(array.as_boolean()),
            DataType::Int32 => TextColumn::Int32(array.as_primitive::<Int32Type>()),
            DataType::Int64 => TextColumn::Int64(array.as_primitive::<Int64Type>()),
            DataType::Decimal128(_, s) => {
                TextColumn::Decimal(array.as_primitive::<Decimal128Type>(), *s)
            }
            DataType::Date32 => TextColumn::Date(array.as_primitive::<Date32Type>()),
            _ => TextColumn::Other(array.as_ref()),
        }
    }

    /// Appends the text of the (non-NULL) value at `row`.
    fn render(&self, row: usize, out: &mut Vec<u8>) {
        match self {
            TextColumn::Utf8(a) => out.extend_from_slice(a.value(row).as_bytes()),
            TextColumn::Boolean(a) => {
                out.extend_from_slice(if a.value(row) { b"true" } else { b"false" })
            }
            TextColumn::Int32(a) => push_integer(out, a.value(row) as i128),
            TextColumn::Int64(a) => push_integer(out, a.value(row) as i128),
            TextColumn::Decimal(a, scale) => push_decimal(out, a.value(row), *scale),
            TextColumn::Date(a) => {
                if !push_date(out, a.value(row)) {
                    push_text(out, *a, row);
                }
            }
            TextColumn::Other(a) => push_text(out, *a, row),
        }
    }
}

fn push_text(out: &mut Vec<u8>, array: &dyn Array, row: usize) {
    if let Some(text) = crate::format::value_to_string(array, row) {
        out.extend_from_slice(text.as_bytes());
    }
}

/// The decimal digits of `v` (no sign) at the end of `buf`; returns where they start.
fn digits_of(mut v: u128, buf: &mut [u8; 40]) -> usize {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return i;
        }
    }
}

fn push_integer(out: &mut Vec<u8>, v: i128) {
    let mut buf = [0u8; 40];
    if v < 0 {
        out.push(b'-');
    }
    let start = digits_of(v.unsigned_abs(), &mut buf);
    out.extend_from_slice(&buf[start..]);
}

/// `unscaled / 10^scale` exactly, like `crate::types::format_decimal`.
fn push_decimal(out: &mut Vec<u8>, unscaled: i128, scale: i8) {
    if scale <= 0 {
        push_integer(out, unscaled);
        out.extend(std::iter::repeat_n(b'0', (-(scale as i16)) as usize));
        return;
    }
    let scale = scale as usize;
    let mut buf = [0u8; 40];
    let start = digits_of(unscaled.unsigned_abs(), &mut buf);
    let digits = &buf[start..];
    if unscaled < 0 {
        out.push(b'-');
    }
    if digits.len() <= scale {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', scale - digits.len()));
        out.extend_from_slice(digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    }
}

/// Days since 1970-01-01 as `YYYY-MM-DD` for years 0 to 9999 (false otherwise).
fn push_date(out: &mut Vec<u8>, days: i32) -> bool {
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return false;
    }
    let digit = |v: i64| b'0' + v as u8;
    out.extend_from_slice(&[
        digit(year / 1000),
        digit(year / 100 % 10),
        digit(year / 10 % 10),
        digit(year % 10),
        b'-',
        digit(month / 10),
        digit(month % 10),
        b'-',
        digit(day / 10),
        digit(day % 10),
    ]);
    true
}

/// Writes `batches` as a CSV file (see [`crate::etl`] for the format) through a
/// temporary file renamed into place. Returns the number of rows written.
pub fn write_csv(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    options: &CsvOptions,
) -> Result<u64> {
    let mut writer = CsvFileWriter::create(path, schema, options)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()
}

/// A CSV file being written, batch by batch, to a temporary file that
/// [`CsvFileWriter::finish`] renames into place (dropped unfinished, say after
/// an error, it is removed and the target left as it was).
pub struct CsvFileWriter<'a> {
    name: String,
    format: CsvFormat<'a>,
    width: usize,
    out: std::io::BufWriter<std::fs::File>,
    temp: TempFile,
    rows: u64,
}

impl<'a> CsvFileWriter<'a> {
    /// A new file at `path` for rows of `schema`, its header written (unless
    /// `options` say none).
    pub fn create(
        path: &Path,
        schema: &SchemaRef,
        options: &'a CsvOptions,
    ) -> Result<CsvFileWriter<'a>> {
        let name = display_name(path);
        let is_tsv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
        let delim = options
            .delimiter
            .unwrap_or(if is_tsv { b'\t' } else { b',' });
        if delim == options.quote || matches!(delim, b'\n' | b'\r') {
            return Err(Error::Load(format!(
                "could not write '{name}': invalid delimiter for the quote character"
            )));
        }
        let format = CsvFormat {
            delim,
            quote: options.quote,
            escape: options.escape.filter(|&e| e != options.quote),
            null: options.null_string.as_bytes(),
        };
        let mut temp = TempFile::create(path)?;
        let out = std::io::BufWriter::with_capacity(1 << 20, temp.take_file());
        let mut writer = CsvFileWriter {
            name,
            format,
            width: schema.fields().len(),
            out,
            temp,
            rows: 0,
        };
        if options.header != Some(false) {
            let mut line = Vec::new();
            for (c, field) in schema.fields().iter().enumerate() {
                if c > 0 {
                    line.push(delim);
                }
                writer
                    .format
                    .write_field(&mut line, field.name().as_bytes());
            }
            line.push(b'\n');
            writer.write_bytes(&line)?;
        }
        Ok(writer)
    }

    fn fail(&self, e: &std::io::Error) -> Error {
        Error::Load(format!(
            "could not write '{}': {}",
            self.name,
            os_message(e)
        ))
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        match self.out.write_all(bytes) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(&e)),
        }
    }

    /// Renders `batch` (in parallel, a window of slices at a time) and writes
    /// it.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_columns() != self.width {
            return Err(Error::Load(format!(
                "could not write '{}': a batch has {} columns but the schema has {}",
                self.name,
                batch.num_columns(),
                self.width
            )));
        }
        const SLICE_ROWS: usize = 16 * 1024;
        let slices: Vec<RecordBatch> = (0..batch.num_rows())
            .step_by(SLICE_ROWS)
            .map(|off| batch.slice(off, SLICE_ROWS.min(batch.num_rows() - off)))
            .collect();
        let window = (rayon::current_num_threads() * 2).max(1);
        for group in slices.chunks(window) {
            let format = &self.format;
            let rendered: Vec<Vec<u8>> = group
                .par_iter()
                .map(|b| {
                    let mut buf = Vec::with_capacity(b.num_rows() * 64);
                    format.write_batch(b, &mut buf);
                    buf
                })
                .collect();
            for (buf, b) in rendered.iter().zip(group) {
                self.write_bytes(buf)?;
                self.rows += b.num_rows() as u64;
            }
        }
        Ok(())
    }

    /// Flushes and syncs the file and renames it into place; the rows written.
    pub fn finish(self) -> Result<u64> {
        let CsvFileWriter {
            name,
            out,
            temp,
            rows,
            ..
        } = self;
        let fail = |e: std::io::Error| {
            Error::Load(format!("could not write '{name}': {}", os_message(&e)))
        };
        let file = out.into_inner().map_err(|e| fail(e.into_error()))?;
        file.sync_all().map_err(fail)?;
        drop(file);
        temp.commit()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etl::FileFormat;

    fn tmpdir() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    fn write_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn read_all(
        path: &Path,
        options: &CsvOptions,
        target: Option<SchemaRef>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let (schema, stream) = scan_csv(path, options, target)?;
        let batches = stream.collect::<Result<Vec<_>>>()?;
        for b in &batches {
            assert_eq!(b.schema(), schema);
        }
        Ok((schema, batches))
    }

    /// Every row as text, NULL as "NULL".
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

    fn types(schema: &SchemaRef) -> Vec<String> {
        schema
            .fields()
            .iter()
            .map(|f| type_name(f.data_type()))
            .collect()
    }

    fn names(schema: &SchemaRef) -> Vec<String> {
        schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    fn testdata(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/etl")
            .join(name)
    }

    fn load_err(r: Result<(SchemaRef, Vec<RecordBatch>)>) -> String {
        match r {
            Err(Error::Load(m)) => m,
            Err(e) => panic!("expected a load error, got {e}"),
            Ok((_, b)) => panic!("expected an error, got rows {:?}", rows(&b)),
        }
    }

    #[test]
    fn infers_each_type() {
        let dir = tmpdir();
        let p = write_file(
            dir.path(),
            "t.csv",
            "b,i,d,dt,s,n,mixed\ntrue,1,1.5,2024-01-31,x,,1\nFALSE,-20,2,1999-12-01,y,,2.5\n,300,3e2,,z,,\n",
        );
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["b", "i", "d", "dt", "s", "n", "mixed"]);
        assert_eq!(
            types(&schema),
            ["BOOLEAN", "BIGINT", "DOUBLE", "DATE", "VARCHAR", "VARCHAR", "DOUBLE"]
        );
        assert_eq!(
            rows(&batches),
            vec![
                vec!["true", "1", "1.5", "2024-01-31", "x", "NULL", "1.0"],
                vec!["false", "-20", "2.0", "1999-12-01", "y", "NULL", "2.5"],
                vec!["NULL", "300", "300.0", "NULL", "z", "NULL", "NULL"],
            ]
        );
    }

    #[test]
    fn inference_falls_back_to_varchar() {
        let dir = tmpdir();
        let p = write_file(
            dir.path(),
            "t.csv",
            "a,b,c,d\n1,true,2024-01-01,1\nx,1,2024-13-01,99999999999999999999999\n",
        );
        let (schema, _) = read_all(&p, &CsvOptions::default(), None).unwrap();
        // 99999999999999999999999 overflows BIGINT but is a DOUBLE.
        assert_eq!(types(&schema), ["VARCHAR", "VARCHAR", "VARCHAR", "DOUBLE"]);
    }

    #[test]
    fn header_detected_when_types_differ() {
        let dir = tmpdir();
        let p = write_file(dir.path(), "t.csv", "id,name\n1,alice\n2,bob\n");
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["id", "name"]);
        assert_eq!(types(&schema), ["BIGINT", "VARCHAR"]);
        assert_eq!(rows(&batches).len(), 2);
    }

    #[test]
    fn no_header_when_first_line_fits() {
        let dir = tmpdir();
        let p = write_file(dir.path(), "t.csv", "1,alice\n2,bob\n");
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["column0", "column1"]);
        assert_eq!(types(&schema), ["BIGINT", "VARCHAR"]);
        assert_eq!(rows(&batches), vec![vec!["1", "alice"], vec!["2", "bob"]]);
    }

    #[test]
    fn header_detection_all_varchar() {
        let dir = tmpdir();
        // The first line's values do not recur below: a header.
        let p = write_file(dir.path(), "a.csv", "name,city\nalice,paris\nbob,paris\n");
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["name", "city"]);
        assert_eq!(rows(&batches).len(), 2);
        // "x" recurs in the first column: data.
        let p = write_file(dir.path(), "b.csv", "x,y\nx,z\n");
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["column0", "column1"]);
        assert_eq!(rows(&batches).len(), 2);
        // An empty value in the first line: data.
        let p = write_file(dir.path(), "c.csv", "a,\nb,c\n");
        let (schema, _) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["column0", "column1"]);
    }

    #[test]
    fn header_with_an_empty_name_or_a_bad_first_row() {
        let dir = tmpdir();
        // pandas writes an empty name for its index column.
        let p = write_file(dir.path(), "p.csv", ",a,b\n0,1,x\n1,3,y\n");
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["column0", "a", "b"]);
        assert_eq!(types(&schema), ["BIGINT", "BIGINT", "VARCHAR"]);
        assert_eq!(rows(&batches).len(), 2);
        // A first row whose typed values partly fit is data (its column turns VARCHAR).
        let p = write_file(dir.path(), "q.csv", "1,abc\n2,2.5\n");
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(types(&schema), ["BIGINT", "VARCHAR"]);
        assert_eq!(rows(&batches).len(), 2);
    }

    #[test]
    fn header_forced_either_way() {
        let dir = tmpdir();
        let p = write_file(dir.path(), "t.csv", "1,2\n3,4\n");
        let opts = CsvOptions {
            header: Some(true),
            ..Default::default()
        };
        let (schema, batches) = read_all(&p, &opts, None).unwrap();
        assert_eq!(names(&schema), ["1", "2"]);
        assert_eq!(rows(&batches), vec![vec!["3", "4"]]);
        let p = write_file(dir.path(), "u.csv", "id,name\n1,alice\n");
        let opts = CsvOptions {
            header: Some(false),
            ..Default::default()
        };
        let (schema, batches) = read_all(&p, &opts, None).unwrap();
        assert_eq!(types(&schema), ["VARCHAR", "VARCHAR"]);
        assert_eq!(rows(&batches), vec![vec!["id", "name"], vec!["1", "alice"]]);
    }

    #[test]
    fn duplicate_and_empty_header_names() {
        let dir = tmpdir();
        let p = write_file(dir.path(), "t.csv", "a,A,,a\n1,2,3,4\n");
        let opts = CsvOptions {
            header: Some(true),
            ..Default::default()
        };
        let (schema, _) = read_all(&p, &opts, None).unwrap();
        assert_eq!(names(&schema), ["a", "A_1", "column2", "a_2"]);
    }

    #[test]
    fn single_line_files() {
        let dir = tmpdir();
        let p = write_file(dir.path(), "h.csv", "name,city\n");
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["name", "city"]);
        assert!(batches.is_empty());
        let p = write_file(dir.path(), "d.csv", "1,2");
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(types(&schema), ["BIGINT", "BIGINT"]);
        assert_eq!(rows(&batches), vec![vec!["1", "2"]]);
    }

    #[test]
    fn detects_delimiters() {
        let dir = tmpdir();
        for (delim, text) in [
            (',', "a,b,c\n1,2,3\n"),
            ('|', "a|b|c\n1|2,5|3\n4|5|6\n"),
            (';', "a;b;c\n1,5;2,5;3\n"),
            ('\t', "a\tb\tc\n1\t2\t3\n"),
        ] {
            let p = write_file(dir.path(), "t.csv", text);
            let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
            assert_eq!(names(&schema), ["a", "b", "c"], "delimiter {delim:?}");
            assert_eq!(rows(&batches)[0].len(), 3);
        }
        // Quoted delimiters do not count.
        let p = write_file(dir.path(), "q.csv", "a|b\n\"x,y,z\"|1\n\"p,q,r\"|2\n");
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["a", "b"]);
        assert_eq!(rows(&batches)[0], vec!["x,y,z", "1"]);
    }

    #[test]
    fn fixture_files() {
        let (schema, batches) =
            read_all(&testdata("people.csv"), &CsvOptions::default(), None).unwrap();
        assert_eq!(
            names(&schema),
            ["id", "name", "birthday", "score", "active"]
        );
        assert_eq!(
            types(&schema),
            ["BIGINT", "VARCHAR", "DATE", "DOUBLE", "BOOLEAN"]
        );
        let r = rows(&batches);
        assert_eq!(r.len(), 4);
        assert_eq!(
            r[1],
            vec![
                "2",
                "Bob \"the builder\", Jr.",
                "1985-12-31",
                "NULL",
                "false"
            ]
        );
        assert_eq!(r[2][1], "multi\nline");
        assert_eq!(r[3][1], "");

        // TPC-H style: pipes and a trailing delimiter, no header.
        let (schema, batches) =
            read_all(&testdata("region.tbl"), &CsvOptions::default(), None).unwrap();
        assert_eq!(types(&schema), ["BIGINT", "VARCHAR", "VARCHAR"]);
        assert_eq!(rows(&batches).len(), 5);
        assert_eq!(rows(&batches)[4][1], "MIDDLE EAST");
    }

    #[test]
    fn quoted_fields() {
        let dir = tmpdir();
        let p = write_file(
            dir.path(),
            "t.csv",
            "a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n\"line1\nline2\",\"\"\r\nplain,\r\n",
        );
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["a", "b"]);
        assert_eq!(
            rows(&batches),
            vec![
                vec!["x, y", "say \"hi\""],
                vec!["line1\nline2", ""],
                vec!["plain", "NULL"],
            ]
        );
    }

    /// Stray quotes, as DuckDB's strict mode reads them: inside an unquoted field
    /// a quote is text; after a closing quote, text is an error naming the spot.
    #[test]
    fn stray_quotes() {
        let dir = tmpdir();
        let p = write_file(dir.path(), "t.csv", "a,b,c\n1,x\"y\"z,1.5\n");
        let (_, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(rows(&batches), vec![vec!["1", "x\"y\"z", "1.5"]]);
        for (text, spot) in [
            ("a,b,c\n1,x,1.5\n2,\"a\"b,2.5\n", "line 3, column 2"),
            ("a,b\n\"multi\nline\"x,1\n", "line 3, column 1"),
            ("a,b\n1,\"x\" \n", "line 2, column 2"),
        ] {
            let p = write_file(dir.path(), "u.csv", text);
            let msg = load_err(read_all(&p, &CsvOptions::default(), None));
            assert!(
                msg.contains(&format!("{spot}: text after the closing quote")),
                "{text:?}: {msg}"
            );
        }
    }

    #[test]
    fn escape_character() {
        let dir = tmpdir();
        let p = write_file(dir.path(), "t.csv", "a,b\n\"x\\\"y\",\"back\\\\slash\"\n");
        let opts = CsvOptions {
            escape: Some(b'\\'),
            ..Default::default()
        };
        let (_, batches) = read_all(&p, &opts, None).unwrap();
        assert_eq!(rows(&batches), vec![vec!["x\"y", "back\\slash"]]);
    }

    #[test]
    fn null_string_option() {
        let dir = tmpdir();
        let p = write_file(dir.path(), "t.csv", "a,b\nNA,1\n\"NA\",NA\n,2\n");
        let opts = CsvOptions {
            null_string: "NA".into(),
            ..Default::default()
        };
        let (schema, batches) = read_all(&p, &opts, None).unwrap();
        assert_eq!(types(&schema), ["VARCHAR", "BIGINT"]);
        assert_eq!(
            rows(&batches),
            vec![vec!["NULL", "1"], vec!["NA", "NULL"], vec!["", "2"]]
        );
    }

    fn target(fields: Vec<(&str, DataType)>) -> SchemaRef {
        Arc::new(Schema::new(
            fields
                .into_iter()
                .map(|(n, t)| Field::new(n, t, true))
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn target_schema_decimal_and_date() {
        let dir = tmpdir();
        let p = write_file(
            dir.path(),
            "t.csv",
            "id|price|day|ok|name\n1|12.5|2024-02-29|t|a\n2| -0.015 |1970-01-01|0|b\n3|1.005||yes|\n4|1e2|20240101|false|d\n",
        );
        let t = target(vec![
            ("id", DataType::Int32),
            ("price", DataType::Decimal128(10, 2)),
            ("day", DataType::Date32),
            ("ok", DataType::Boolean),
            ("name", DataType::Utf8),
        ]);
        let (schema, batches) = read_all(&p, &CsvOptions::default(), Some(t.clone())).unwrap();
        assert_eq!(schema, t);
        assert_eq!(
            rows(&batches),
            vec![
                vec!["1", "12.50", "2024-02-29", "true", "a"],
                // Rounded half away from zero, like DuckDB.
                vec!["2", "-0.02", "1970-01-01", "false", "b"],
                vec!["3", "1.01", "NULL", "true", "NULL"],
                vec!["4", "100.00", "2024-01-01", "false", "d"],
            ]
        );
    }

    #[test]
    fn target_header_detection() {
        let dir = tmpdir();
        let t = target(vec![("a", DataType::Utf8), ("b", DataType::Utf8)]);
        // All-VARCHAR target: a header only when it spells the column names.
        let p = write_file(dir.path(), "t.csv", "A,b\nx,y\n");
        let (_, batches) = read_all(&p, &CsvOptions::default(), Some(t.clone())).unwrap();
        assert_eq!(rows(&batches), vec![vec!["x", "y"]]);
        let p = write_file(dir.path(), "u.csv", "p,q\nx,y\n");
        let (_, batches) = read_all(&p, &CsvOptions::default(), Some(t)).unwrap();
        assert_eq!(rows(&batches).len(), 2);
        // A typed target: a header when its values do not parse.
        let t = target(vec![("k", DataType::Int64), ("v", DataType::Float64)]);
        let p = write_file(dir.path(), "v.csv", "key,value\n1,2.5\n");
        let (_, batches) = read_all(&p, &CsvOptions::default(), Some(t.clone())).unwrap();
        assert_eq!(rows(&batches), vec![vec!["1", "2.5"]]);
        // ...but a bad first data row is reported, not skipped.
        let p = write_file(dir.path(), "w.csv", "1,abc\n2,2.5\n");
        let msg = load_err(read_all(&p, &CsvOptions::default(), Some(t)));
        assert!(msg.contains("line 1, column 2 (v)"), "{msg}");
    }

    #[test]
    fn target_trailing_delimiter() {
        let dir = tmpdir();
        let p = write_file(
            dir.path(),
            "region.tbl",
            "0|AFRICA|lar deposits|\n1|AMERICA|hs use ironic|\n",
        );
        let t = target(vec![
            ("r_regionkey", DataType::Int32),
            ("r_name", DataType::Utf8),
            ("r_comment", DataType::Utf8),
        ]);
        let opts = CsvOptions {
            delimiter: Some(b'|'),
            ..Default::default()
        };
        let (_, batches) = read_all(&p, &opts, Some(t.clone())).unwrap();
        assert_eq!(rows(&batches)[1], vec!["1", "AMERICA", "hs use ironic"]);
        // Also detected without a delimiter option.
        let (_, batches) = read_all(&p, &CsvOptions::default(), Some(t.clone())).unwrap();
        assert_eq!(rows(&batches).len(), 2);
        // A non-empty extra field is an error.
        let p = write_file(dir.path(), "bad.tbl", "0|AFRICA|x|\n1|AMERICA|y|z\n");
        let msg = load_err(read_all(&p, &opts, Some(t)));
        assert!(
            msg.contains("line 2") && msg.contains("expected 3 fields but found 4"),
            "{msg}"
        );
    }

    #[test]
    fn unparsable_value_names_line_and_column() {
        let dir = tmpdir();
        let p = write_file(dir.path(), "data.csv", "id,price\n1,1.50\n2,abc\n");
        let t = target(vec![
            ("id", DataType::Int32),
            ("price", DataType::Decimal128(10, 2)),
        ]);
        let msg = load_err(read_all(&p, &CsvOptions::default(), Some(t.clone())));
        assert!(
            msg.ends_with(
                "data.csv line 3, column 2 (price): could not parse 'abc' as DECIMAL(10,2)"
            ),
            "{msg}"
        );
        // Overflow of the precision.
        let p = write_file(dir.path(), "big.csv", "1,123456789.5\n");
        let msg = load_err(read_all(&p, &CsvOptions::default(), Some(t.clone())));
        assert!(
            msg.contains("line 1, column 2 (price)") && msg.contains("out of range"),
            "{msg}"
        );
        // Integer overflow.
        let p = write_file(dir.path(), "int.csv", "1,1\n3000000000,2\n");
        let msg = load_err(read_all(&p, &CsvOptions::default(), Some(t.clone())));
        assert!(
            msg.contains("line 2, column 1 (id)") && msg.contains("out of range for INTEGER"),
            "{msg}"
        );
        // A bad date; line numbers count physical lines (quoted newlines included).
        let t = target(vec![("s", DataType::Utf8), ("d", DataType::Date32)]);
        let p = write_file(
            dir.path(),
            "date.csv",
            "\"a\nb\",2024-01-01\nc,2024-02-30\n",
        );
        let msg = load_err(read_all(&p, &CsvOptions::default(), Some(t)));
        assert!(
            msg.contains("line 3, column 2 (d): could not parse '2024-02-30' as DATE"),
            "{msg}"
        );
    }

    #[test]
    fn inferred_type_violated_after_sample() {
        let dir = tmpdir();
        let mut text = String::from("n\n");
        for i in 0..(SAMPLE_ROWS + 10) {
            text.push_str(&format!("{i}\n"));
        }
        text.push_str("oops\n");
        let p = write_file(dir.path(), "t.csv", &text);
        let msg = load_err(read_all(&p, &CsvOptions::default(), None));
        let line = SAMPLE_ROWS + 12;
        assert!(
            msg.contains(&format!(
                "line {line}, column 1 (n): could not parse 'oops' as BIGINT"
            )),
            "{msg}"
        );
    }

    #[test]
    fn malformed_rows() {
        let dir = tmpdir();
        let p = write_file(dir.path(), "t.csv", "a,b\n1,2\n3,4,5\n");
        let msg = load_err(read_all(&p, &CsvOptions::default(), None));
        assert!(
            msg.contains("t.csv line 3: expected 2 fields but found 3"),
            "{msg}"
        );
        let p = write_file(dir.path(), "u.csv", "a,b\n1,2\n3\n");
        let msg = load_err(read_all(&p, &CsvOptions::default(), None));
        assert!(
            msg.contains("line 3: expected 2 fields but found 1"),
            "{msg}"
        );
        let p = write_file(dir.path(), "v.csv", "a,b\n1,\"open\n2,3\n");
        let msg = load_err(read_all(&p, &CsvOptions::default(), None));
        assert!(msg.contains("line 2: unterminated quoted field"), "{msg}");
    }

    #[test]
    fn missing_and_empty_files() {
        let dir = tmpdir();
        let msg = load_err(read_all(
            &dir.path().join("x.csv"),
            &CsvOptions::default(),
            None,
        ));
        assert!(
            msg.starts_with("could not open '")
                && msg.ends_with("x.csv': No such file or directory"),
            "{msg}"
        );
        let msg = load_err(read_all(dir.path(), &CsvOptions::default(), None));
        assert!(msg.ends_with("Is a directory"), "{msg}");

        let p = write_file(dir.path(), "empty.csv", "");
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["column0"]);
        assert!(batches.is_empty());
        let t = target(vec![("a", DataType::Int32), ("b", DataType::Utf8)]);
        let (_, batches) = read_all(&p, &CsvOptions::default(), Some(t.clone())).unwrap();
        assert!(batches.is_empty());
        let opts = CsvOptions {
            header: Some(true),
            ..Default::default()
        };
        let (_, batches) = read_all(&p, &opts, Some(t)).unwrap();
        assert!(batches.is_empty());
    }

    #[test]
    fn blank_lines_and_bom() {
        let dir = tmpdir();
        let p = write_file(dir.path(), "t.csv", "\u{feff}a,b\n\n1,2\n\n3,4\n\n");
        let (schema, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&schema), ["a", "b"]);
        assert_eq!(rows(&batches), vec![vec!["1", "2"], vec!["3", "4"]]);
    }

    #[test]
    fn large_file_streams_in_batches() {
        let dir = tmpdir();
        let n = CSV_BATCH_ROWS * 2 + SAMPLE_ROWS + 7;
        let mut text = String::from("k,v,s\n");
        for i in 0..n {
            text.push_str(&format!("{i},{}.25,\"s,{i}\"\n", i % 1000));
        }
        let p = write_file(dir.path(), "big.csv", &text);
        let (schema, stream) = scan_csv(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(types(&schema), ["BIGINT", "DOUBLE", "VARCHAR"]);
        let batches: Vec<RecordBatch> = stream.collect::<Result<_>>().unwrap();
        assert!(batches.len() >= 3);
        assert!(batches.iter().all(|b| b.num_rows() <= CSV_BATCH_ROWS));
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(total, n);
        let all = rows(&batches);
        assert_eq!(
            all[n - 1],
            vec![
                (n - 1).to_string(),
                format!("{}.25", (n - 1) % 1000),
                format!("s,{}", n - 1)
            ]
        );
        // Dropping a stream part way is fine.
        let (_, mut stream) = scan_csv(&p, &CsvOptions::default(), None).unwrap();
        assert!(stream.next().unwrap().is_ok());
        assert!(stream.next().unwrap().is_ok());
        drop(stream);
    }

    fn sample_batch() -> (SchemaRef, RecordBatch) {
        let schema = target(vec![
            ("b", DataType::Boolean),
            ("i", DataType::Int32),
            ("l", DataType::Int64),
            ("f", DataType::Float64),
            ("d", DataType::Decimal128(12, 3)),
            ("s", DataType::Utf8),
            ("dt", DataType::Date32),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            Arc::new(Int32Array::from(vec![Some(1), Some(-2), None])),
            Arc::new(Int64Array::from(vec![None, Some(1 << 40), Some(-7)])),
            Arc::new(Float64Array::from(vec![Some(1.5), Some(-0.1), None])),
            Arc::new(
                Decimal128Array::from(vec![Some(12345), None, Some(-5)])
                    .with_precision_and_scale(12, 3)
                    .unwrap(),
            ),
            Arc::new(StringArray::from(vec![
                Some("plain"),
                Some("a,b \"q\"\nnext"),
                Some(""),
            ])),
            Arc::new(Date32Array::from(vec![Some(0), Some(19_782), None])),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        (schema, batch)
    }

    #[test]
    fn csv_round_trip() {
        let dir = tmpdir();
        let (schema, batch) = sample_batch();
        let p = dir.path().join("out.csv");
        let n = write_csv(
            &p,
            &schema,
            &[batch.clone(), batch.slice(1, 2)],
            &CsvOptions::default(),
        )
        .unwrap();
        assert_eq!(n, 5);
        // Back into the same schema, and with inference.
        let (_, batches) = read_all(&p, &CsvOptions::default(), Some(schema.clone())).unwrap();
        let mut expected = rows(std::slice::from_ref(&batch));
        expected.extend(rows(&[batch.slice(1, 2)]));
        assert_eq!(rows(&batches), expected);
        let (inferred, batches) = read_all(&p, &CsvOptions::default(), None).unwrap();
        assert_eq!(names(&inferred), names(&schema));
        assert_eq!(
            types(&inferred),
            ["BOOLEAN", "BIGINT", "BIGINT", "DOUBLE", "DOUBLE", "VARCHAR", "DATE"]
        );
        assert_eq!(rows(&batches)[1][5], "a,b \"q\"\nnext");
        assert_eq!(rows(&batches)[2][5], "");
        // With options: no header, a pipe, a NULL text.
        let opts = CsvOptions {
            header: Some(false),
            delimiter: Some(b'|'),
            null_string: "\\N".into(),
            ..Default::default()
        };
        let p2 = dir.path().join("out2.csv");
        write_csv(&p2, &schema, std::slice::from_ref(&batch), &opts).unwrap();
        let (_, batches) = read_all(&p2, &opts, Some(schema.clone())).unwrap();
        assert_eq!(rows(&batches), rows(&[batch]));
    }

    #[test]
    fn write_csv_null_typed_column() {
        let dir = tmpdir();
        let schema = target(vec![("n", DataType::Null), ("i", DataType::Int32)]);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(NullArray::new(2)),
                Arc::new(Int32Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let p = dir.path().join("n.csv");
        write_csv(&p, &schema, &[batch], &CsvOptions::default()).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "n,i\n,1\n,2\n");
    }

    #[test]
    fn write_csv_quotes_rfc4180() {
        let dir = tmpdir();
        let schema = target(vec![("x y", DataType::Utf8), ("n", DataType::Int32)]);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("plain"),
                    Some("with,comma"),
                    Some("with \"quote\""),
                    Some("two\nlines"),
                    Some("cr\r"),
                    Some(""),
                    None,
                ])),
                Arc::new(Int32Array::from(vec![
                    Some(1),
                    None,
                    Some(3),
                    Some(4),
                    Some(5),
                    Some(6),
                    Some(7),
                ])),
            ],
        )
        .unwrap();
        let p = dir.path().join("q.csv");
        write_csv(&p, &schema, &[batch], &CsvOptions::default()).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "x y,n\nplain,1\n\"with,comma\",\n\"with \"\"quote\"\"\",3\n\"two\nlines\",4\n\"cr\r\",5\n\"\",6\n,7\n"
        );
        // No temp file is left behind.
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn write_csv_failure_leaves_nothing() {
        let dir = tmpdir();
        let (schema, batch) = sample_batch();
        let p = dir.path().join("no/such/dir/out.csv");
        match write_csv(
            &p,
            &schema,
            std::slice::from_ref(&batch),
            &CsvOptions::default(),
        ) {
            Err(Error::Load(m)) => assert!(
                m.contains("could not write") && m.contains("No such file"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
        // A batch that does not match the schema.
        let p = dir.path().join("out.csv");
        let narrow = target(vec![("a", DataType::Int32)]);
        assert!(write_csv(&p, &narrow, &[batch], &CsvOptions::default()).is_err());
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
        // A TSV path defaults to tabs.
        let p = dir.path().join("out.tsv");
        assert_eq!(crate::etl::format_from_path(&p), Some(FileFormat::Csv));
        let (schema, batch) = sample_batch();
        write_csv(&p, &schema, &[batch], &CsvOptions::default()).unwrap();
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .starts_with("b\ti\tl\tf\td\ts\tdt\n"));
    }

    #[test]
    fn fast_rendering_matches_value_to_string() {
        let check = |array: ArrayRef| {
            let column = TextColumn::new(&array);
            for row in 0..array.len() {
                let mut out = Vec::new();
                column.render(row, &mut out);
                let expected = crate::format::value_to_string(&array, row).unwrap();
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    expected,
                    "row {row} of {array:?}"
                );
            }
        };
        let days: Vec<i32> = (-800_000..3_000_000)
            .step_by(997)
            .chain([0, -1, 59, 10_956, 2_932_896, -719_528, -719_529])
            .collect();
        check(Arc::new(Date32Array::from(days)));
        check(Arc::new(Int64Array::from(vec![
            0,
            1,
            -1,
            i64::MAX,
            i64::MIN,
            1234567890,
        ])));
        check(Arc::new(Int32Array::from(vec![
            0,
            7,
            -7,
            i32::MAX,
            i32::MIN,
        ])));
        check(Arc::new(BooleanArray::from(vec![true, false])));
        let values = vec![
            0i128,
            1,
            -1,
            5,
            -5,
            99,
            100,
            -100,
            12345,
            -12345,
            10i128.pow(37),
            -(10i128.pow(37)) + 1,
        ];
        for scale in [0i8, 1, 2, 3, 10, 37] {
            let array = Decimal128Array::from(values.clone())
                .with_precision_and_scale(38, scale)
                .unwrap();
            check(Arc::new(array));
        }
        let array = Decimal128Array::from(values)
            .with_precision_and_scale(38, -2)
            .unwrap();
        check(Arc::new(array));
    }

    #[test]
    fn integer_parsing() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b" +42 "), Some(42));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
        for bad in [&b""[..], b"-", b"+", b"1a", b"1.0", b"1 2", b"--1", b"0x10"] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_i32(b"-2147483648"), Some(i32::MIN));
        assert_eq!(parse_i32(b"2147483648"), None);
        assert_eq!(parse_f64(b" 2.5e3 "), Some(2500.0));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_f64(b"NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_f64(b"1,5"), None);
    }

    #[test]
    fn inference_shapes() {
        for yes in [
            &b"1"[..],
            b"-1.5",
            b"+.5",
            b"5.",
            b"1e10",
            b"1.5E-3",
            b" 7 ",
        ] {
            assert!(
                fits_inferred(&DataType::Float64, yes),
                "{:?}",
                String::from_utf8_lossy(yes)
            );
        }
        for no in [
            &b"inf"[..],
            b"nan",
            b"1e",
            b".",
            b"e5",
            b"1.2.3",
            b"0x1",
            b"1_000",
        ] {
            assert!(
                !fits_inferred(&DataType::Float64, no),
                "{:?}",
                String::from_utf8_lossy(no)
            );
        }
        assert!(fits_inferred(&DataType::Date32, b"2024-02-29"));
        assert!(!fits_inferred(&DataType::Date32, b"2023-02-29"));
        assert!(!fits_inferred(&DataType::Date32, b"20240229"));
        assert!(!fits_inferred(&DataType::Date32, b"2024-2-9"));
        assert!(fits_inferred(&DataType::Boolean, b"TRUE"));
        assert!(!fits_inferred(&DataType::Boolean, b"1"));
    }

    #[test]
    fn random_input_never_panics() {
        let dir = tmpdir();
        let alphabet: &[u8] = b",,||;\t\"\"\n\n\r\\ a1-.e2024T\xff\xc3";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let targets = [
            None,
            Some(target(vec![("a", DataType::Int32), ("b", DataType::Utf8)])),
            Some(target(vec![
                ("d", DataType::Decimal128(5, 2)),
                ("t", DataType::Date32),
                ("f", DataType::Float64),
            ])),
            Some(target(vec![("x", DataType::Boolean)])),
        ];
        for i in 0..600 {
            let len = (next() % 80) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let p = dir.path().join("r.csv");
            std::fs::write(&p, &bytes).unwrap();
            let options = CsvOptions {
                header: [None, Some(true), Some(false)][i % 3],
                escape: if i % 5 == 0 { Some(b'\\') } else { None },
                ..Default::default()
            };
            for t in &targets {
                // Any result is fine; a panic fails the test.
                if let Ok((_, stream)) = scan_csv(&p, &options, t.clone()) {
                    for batch in stream {
                        if batch.is_err() {
                            break;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sniffer_prefers_consistent_columns() {
        let opts = CsvOptions::default();
        assert_eq!(
            sniff_delimiter(b"a;b;c\n1,5;2,5;3\n", false, &opts, None),
            b';'
        );
        assert_eq!(
            sniff_delimiter(b"single\nvalue\n", false, &opts, None),
            b','
        );
        assert_eq!(sniff_delimiter(b"a\tb\n1\t2\n", false, &opts, None), b'\t');
        assert_eq!(
            sniff_delimiter(b"a,b|c\n1,2|3\n", false, &opts, Some(2)),
            b','
        );
        assert_eq!(
            sniff_delimiter(b"a,b|c|\n1,2|3|\n", false, &opts, Some(2)),
            b'|'
        );
    }

    #[test]
    fn tokenizer_across_small_buffers() {
        let text = b"a,\"b\"\"c\",d\r\n\"x\ny\",,\"\"\rlast,1,2";
        let opts = CsvOptions::default();
        for size in [16, 17, 19, 64] {
            let mut tok = Tokenizer::new(Cursor::new(&text[..]), b',', &opts, "t".into(), size);
            let mut recs = Records::default();
            tok.read_records(usize::MAX, &mut recs, true).unwrap();
            assert_eq!(recs.len(), 3, "buffer {size}");
            assert_eq!(recs.lines, vec![1, 2, 4]);
            assert_eq!(recs.field(0, 1), (&b"b\"c"[..], true));
            assert_eq!(recs.field(1, 0), (&b"x\ny"[..], true));
            assert_eq!(recs.field(1, 1), (&b""[..], false));
            assert_eq!(recs.field(1, 2), (&b""[..], true));
            assert_eq!(recs.field(2, 0), (&b"last"[..], false));
        }
    }
}
