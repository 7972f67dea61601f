//! Checking a query result against a reference answer file.
//!
//! The reference files (`answers/sfN/qNN.csv`, written by DuckDB) are `|`-delimited
//! with one header line; a field may be double-quoted per RFC 4180 (`""` inside
//! is a quote, and a quoted field may hold `|` or a line break); an unquoted empty
//! field is NULL. Columns are matched by position, not by name. Each value is
//! compared according to the type of the result's column:
//!
//! - DECIMAL: exactly, by value, at the printed scale (`12.30` equals a DECIMAL
//!   12.3 but not 12.31; a reference with more digits than the result's scale
//!   fails unless the extra digits are zeros).
//! - DOUBLE: relative difference at most 1e-9, or absolute difference at most
//!   1e-9 (for values near zero); NaN equals NaN, infinities equal themselves.
//! - integers: exactly (`7` or `7.00`); strings, dates and booleans: the same text.
//! - NULL only equals NULL (an unquoted empty field); `""` is the empty string.
//!
//! Row order: rows are compared in order first. If that fails, the rows are
//! compared again as sorted multisets, which accepts results whose only difference
//! is the order of rows the query's ORDER BY leaves tied. How much that second
//! comparison is trusted depends on what is known of the query ([`RowOrder`]):
//! with the query's ORDER BY keys (what `bench` passes, from the SQL file), the
//! result must also be sorted by those keys, so only ties can move; with no
//! ORDER BY, any order is fine; without the query ([`compare`]), any reordering
//! of the rows is accepted. When both comparisons fail, the message is the first
//! difference in order.

use std::cmp::Ordering;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::*;
use sqlparser::ast::{self, Expr, OrderByKind, OrderBySort, SetExpr, Statement};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;

use crate::format::value_to_string;
use crate::QueryResult;

/// What is known of the order the rows must be in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOrder {
    /// Nothing: in order, or failing that any reordering of the rows.
    Unknown,
    /// The query's ORDER BY, as output columns: rows must be sorted by these keys
    /// (ties in any order). An empty list (no ORDER BY) allows any order. Keys the
    /// query orders by that are not output columns are left out, from the first
    /// one on, so the check is of the known prefix.
    SortedBy(Vec<SortKey>),
}

/// One ORDER BY key: an output column, its direction and where NULLs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub column: usize,
    pub descending: bool,
    pub nulls_first: bool,
}

/// Compares `result` with the reference file `expected_csv`. `Err` holds the
/// first difference (row, column, both values) or why the file cannot be used.
/// Rows that differ only in order are accepted ([`RowOrder::Unknown`]); use
/// [`compare_query`] to accept only the reordering of ORDER BY ties.
pub fn compare(result: &QueryResult, expected_csv: &Path) -> Result<(), String> {
    compare_text(result, &read(expected_csv)?, &RowOrder::Unknown)
}

/// Compares the result of query `sql` with the reference file `expected_csv`,
/// accepting rows out of order only where the query's ORDER BY leaves ties.
pub fn compare_query(result: &QueryResult, sql: &str, expected_csv: &Path) -> Result<(), String> {
    let order = order_of(sql, result);
    compare_text(result, &read(expected_csv)?, &order)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the reference {}: {e}", path.display()))
}

/// Compares `result` with reference text (header line and rows, `|`-delimited).
pub fn compare_text(result: &QueryResult, expected: &str, order: &RowOrder) -> Result<(), String> {
    let mut records = parse_reference(expected)?;
    if records.is_empty() {
        return Err("the reference is empty (not even a header line)".to_string());
    }
    let header = records.remove(0);
    let names: Vec<&str> = result
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    if header.len() != names.len() {
        return Err(format!(
            "expected {} columns ({}), got {} ({})",
            header.len(),
            header
                .iter()
                .map(|h| h.as_deref().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(", "),
            names.len(),
            names.join(", ")
        ));
    }
    let actual = values(result);
    if records.len() != actual.len() {
        return Err(format!(
            "expected {} rows, got {}",
            records.len(),
            actual.len()
        ));
    }
    let in_order = first_difference(&actual, &records, &names);
    let Some(difference) = in_order else {
        return Ok(());
    };
    let allowed = match order {
        RowOrder::Unknown => true,
        RowOrder::SortedBy(keys) => is_sorted_by(&actual, keys),
    };
    if allowed {
        let kinds: Vec<Kind> = result
            .schema
            .fields()
            .iter()
            .map(|f| kind(f.data_type()))
            .collect();
        let mut actual_sorted: Vec<&Vec<Value>> = actual.iter().collect();
        actual_sorted.sort_by_cached_key(|row| row.iter().map(Value::sort_key).collect::<Vec<_>>());
        let mut expected_sorted: Vec<&Vec<Option<String>>> = records.iter().collect();
        expected_sorted.sort_by_cached_key(|row| {
            row.iter()
                .zip(&kinds)
                .map(|(field, kind)| text_sort_key(field.as_deref(), *kind))
                .collect::<Vec<_>>()
        });
        let mismatch = actual_sorted.iter().zip(&expected_sorted).any(|(a, e)| {
            a.iter()
                .zip(e.iter())
                .any(|(a, e)| !a.matches(e.as_deref()))
        });
        if !mismatch {
            return Ok(());
        }
    }
    Err(difference)
}

/// The first cell that differs, as a message, or `None` if all match.
fn first_difference(
    actual: &[Vec<Value>],
    expected: &[Vec<Option<String>>],
    names: &[&str],
) -> Option<String> {
    for (r, (a_row, e_row)) in actual.iter().zip(expected).enumerate() {
        for (c, (a, e)) in a_row.iter().zip(e_row).enumerate() {
            if !a.matches(e.as_deref()) {
                return Some(format!(
                    "row {}, column {} ({}): expected {}, got {}",
                    r + 1,
                    c + 1,
                    names[c],
                    e.as_deref()
                        .map(|s| format!("{s:?}"))
                        .unwrap_or_else(|| "NULL".to_string()),
                    a.display()
                ));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------
// The reference file
// ---------------------------------------------------------------------------

/// Splits `|`-delimited text into records of fields (`None` for an unquoted empty
/// field, i.e. NULL). Every `\n` (or `\r\n`) outside quotes ends a record.
pub fn parse_reference(text: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let mut records = vec![];
    let mut record: Vec<Option<String>> = vec![];
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut at_record_start = true;
    while chars.peek().is_some() {
        at_record_start = false;
        // One field.
        let field = if chars.peek() == Some(&'"') {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    None => return Err(format!("line {line}: a quoted field is not closed")),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        value.push('"');
                    }
                    Some('"') => break,
                    Some(c) => {
                        if c == '\n' {
                            line += 1;
                        }
                        value.push(c)
                    }
                }
            }
            match chars.peek() {
                None | Some('|') | Some('\n') | Some('\r') => {}
                Some(c) => {
                    return Err(format!(
                        "line {line}: unexpected {c:?} after a closing quote"
                    ))
                }
            }
            Some(value)
        } else {
            let mut value = String::new();
            while let Some(&c) = chars.peek() {
                if c == '|' || c == '\n' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            if chars.peek() == Some(&'\n') && value.ends_with('\r') {
                value.pop();
            }
            (!value.is_empty()).then_some(value)
        };
        record.push(field);
        if chars.peek() == Some(&'\r') {
            chars.next();
        }
        match chars.next() {
            Some('|') => {
                if chars.peek().is_none() {
                    record.push(None);
                }
            }
            Some('\n') | None => {
                records.push(std::mem::take(&mut record));
                line += 1;
                at_record_start = true;
            }
            Some(c) => return Err(format!("line {line}: unexpected {c:?}")),
        }
    }
    if !at_record_start {
        records.push(record);
    }
    if let Some(width) = records.first().map(Vec::len) {
        if let Some((i, r)) = records.iter().enumerate().find(|(_, r)| r.len() != width) {
            return Err(format!(
                "reference line {} has {} fields but the header has {width}",
                i + 1,
                r.len()
            ));
        }
    }
    Ok(records)
}

// ---------------------------------------------------------------------------
// Result values and how they match reference text
// ---------------------------------------------------------------------------

/// How a column's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Decimal,
    Double,
    Text,
}

fn kind(dt: &DataType) -> Kind {
    match dt {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Kind::Integer,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => Kind::Decimal,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Kind::Double,
        _ => Kind::Text,
    }
}

/// One value of a result.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Integer(i128),
    /// Unscaled value and scale.
    Decimal(i128, u32),
    Double(f64),
    Text(String),
}

/// Every row of `result` as values.
fn values(result: &QueryResult) -> Vec<Vec<Value>> {
    let mut rows = Vec::with_capacity(result.num_rows());
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| value(c.as_ref(), row))
                    .collect(),
            );
        }
    }
    rows
}

fn value(array: &dyn Array, row: usize) -> Value {
    if array.is_null(row) || array.data_type() == &DataType::Null {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Int8 => Value::Integer(array.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => Value::Integer(array.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => Value::Integer(array.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => Value::Integer(array.as_primitive::<Int64Type>().value(row).into()),
        DataType::UInt8 => Value::Integer(array.as_primitive::<UInt8Type>().value(row).into()),
        DataType::UInt16 => Value::Integer(array.as_primitive::<UInt16Type>().value(row).into()),
        DataType::UInt32 => Value::Integer(array.as_primitive::<UInt32Type>().value(row).into()),
        DataType::UInt64 => Value::Integer(array.as_primitive::<UInt64Type>().value(row).into()),
        DataType::Decimal128(_, s) if *s >= 0 => {
            Value::Decimal(array.as_primitive::<Decimal128Type>().value(row), *s as u32)
        }
        DataType::Float32 => Value::Double(array.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Value::Double(array.as_primitive::<Float64Type>().value(row)),
        dt => {
            let text = value_to_string(array, row).unwrap_or_default();
            match kind(dt) {
                // Other decimal widths: through their text.
                Kind::Decimal => match parse_decimal(&text) {
                    Some((v, s)) => Value::Decimal(v, s),
                    None => Value::Text(text),
                },
                _ => Value::Text(text),
            }
        }
    }
}

impl Value {
    /// Whether this value equals the reference field `expected` (`None`: NULL).
    fn matches(&self, expected: Option<&str>) -> bool {
        let Some(e) = expected else {
            return *self == Value::Null;
        };
        match self {
            Value::Null => false,
            Value::Integer(v) => parse_decimal(e).is_some_and(|d| decimal_eq((*v, 0), d)),
            Value::Decimal(v, s) => parse_decimal(e).is_some_and(|d| decimal_eq((*v, *s), d)),
            Value::Double(v) => parse_double(e).is_some_and(|e| doubles_match(*v, e)),
            Value::Text(t) => t == e,
        }
    }

    /// How this value is shown in a message.
    fn display(&self) -> String {
        match self {
            Value::Null => "NULL".to_string(),
            Value::Integer(v) => v.to_string(),
            Value::Decimal(v, s) => crate::types::format_decimal(*v, *s as i8),
            Value::Double(v) => crate::format::format_double(*v),
            Value::Text(t) => format!("{t:?}"),
        }
    }

    fn sort_key(&self) -> SortValue {
        match self {
            Value::Null => SortValue::Null,
            Value::Integer(v) => SortValue::Number(*v as f64),
            Value::Decimal(v, s) => SortValue::Number(*v as f64 / 10f64.powi(*s as i32)),
            Value::Double(v) => SortValue::Number(*v),
            Value::Text(t) => SortValue::Text(t.clone()),
        }
    }

    /// The order of two values of one column, NULLs first.
    fn cmp_in_column(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            (Value::Integer(a), Value::Integer(b)) => a.cmp(b),
            (Value::Decimal(a, s), Value::Decimal(b, t)) if s == t => a.cmp(b),
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            (a, b) => a.sort_key().cmp(&b.sort_key()),
        }
    }
}

/// A value as a sort key that a reference field can also be turned into.
#[derive(Debug, Clone, PartialEq)]
enum SortValue {
    Null,
    Number(f64),
    Text(String),
}

impl Eq for SortValue {}

impl PartialOrd for SortValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SortValue {
    fn cmp(&self, other: &Self) -> Ordering {
        use SortValue::*;
        let rank = |v: &SortValue| match v {
            Null => 0,
            Number(_) => 1,
            Text(_) => 2,
        };
        match (self, other) {
            (Number(a), Number(b)) => a.total_cmp(b),
            (Text(a), Text(b)) => a.cmp(b),
            (a, b) => rank(a).cmp(&rank(b)),
        }
    }
}

/// The sort key of a reference field in a column of kind `kind`.
fn text_sort_key(field: Option<&str>, kind: Kind) -> SortValue {
    match field {
        None => SortValue::Null,
        Some(text) if kind != Kind::Text => match parse_double(text) {
            Some(v) => SortValue::Number(v),
            None => SortValue::Text(text.to_string()),
        },
        Some(text) => SortValue::Text(text.to_string()),
    }
}

/// Whether rows are in the order of `keys` (ties in any order).
fn is_sorted_by(rows: &[Vec<Value>], keys: &[SortKey]) -> bool {
    rows.windows(2).all(|pair| {
        for key in keys {
            let (a, b) = (&pair[0][key.column], &pair[1][key.column]);
            let ordering = match (a, b) {
                (Value::Null, Value::Null) => Ordering::Equal,
                (Value::Null, _) if key.nulls_first => Ordering::Less,
                (Value::Null, _) => Ordering::Greater,
                (_, Value::Null) if key.nulls_first => Ordering::Greater,
                (_, Value::Null) => Ordering::Less,
                _ if key.descending => b.cmp_in_column(a),
                _ => a.cmp_in_column(b),
            };
            match ordering {
                Ordering::Less => return true,
                Ordering::Greater => return false,
                Ordering::Equal => {}
            }
        }
        true
    })
}

/// A decimal number's text (`-12.340`, `7`, `.5`) as unscaled value and scale;
/// `None` if it is not one (an exponent, `inf`, text...).
fn parse_decimal(text: &str) -> Option<(i128, u32)> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut value: i128 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    Some((if negative { -value } else { value }, fraction.len() as u32))
}

/// Whether two (unscaled, scale) decimals are the same number.
fn decimal_eq(a: (i128, u32), b: (i128, u32)) -> bool {
    let scale = a.1.max(b.1);
    let rescale =
        |(v, s): (i128, u32)| 10i128.checked_pow(scale - s).and_then(|f| v.checked_mul(f));
    match (rescale(a), rescale(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// A DOUBLE's text, including `inf`, `-inf`, `nan` (any case, as DuckDB prints them).
fn parse_double(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok()
}

/// The relative (and, near zero, absolute) tolerance of DOUBLE comparisons.
pub const DOUBLE_TOLERANCE: f64 = 1e-9;

/// Whether two DOUBLEs are equal within `DOUBLE_TOLERANCE`.
fn doubles_match(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    let difference = (a - b).abs();
    difference <= DOUBLE_TOLERANCE || difference <= DOUBLE_TOLERANCE * a.abs().max(b.abs())
}

// ---------------------------------------------------------------------------
// The ORDER BY of a query
// ---------------------------------------------------------------------------

/// The row order query `sql` asks for, in terms of `result`'s columns: the ORDER
/// BY of its last statement, each key an output column named by the key (`revenue
/// desc`, `o.o_orderdate`) or its position (`2`). Keys that are expressions of
/// other columns end the list. `Unknown` if the SQL does not parse.
pub fn order_of(sql: &str, result: &QueryResult) -> RowOrder {
    let Ok(statements) = Parser::parse_sql(&DuckDbDialect {}, sql) else {
        return RowOrder::Unknown;
    };
    let Some(Statement::Query(query)) = statements.last() else {
        return RowOrder::Unknown;
    };
    let exprs = match query.order_by.as_ref().map(|o| &o.kind) {
        None => return RowOrder::SortedBy(vec![]),
        Some(OrderByKind::Expressions(exprs)) => exprs,
        Some(OrderByKind::All(_)) => return RowOrder::Unknown,
    };
    let names: Vec<String> = result
        .schema
        .fields()
        .iter()
        .map(|f| f.name().to_lowercase())
        .collect();
    let aliases = select_aliases(&query.body);
    let mut keys = vec![];
    for item in exprs {
        let column = match &item.expr {
            Expr::Identifier(ident) => find_column(&names, &aliases, &ident.value),
            Expr::CompoundIdentifier(parts) => parts
                .last()
                .and_then(|ident| find_column(&names, &aliases, &ident.value)),
            Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => n
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1 && n <= names.len())
                    .map(|n| n - 1),
                _ => None,
            },
            _ => None,
        };
        let Some(column) = column else { break };
        keys.push(SortKey {
            column,
            descending: matches!(item.options.sort, Some(OrderBySort::Desc)),
            // DuckDB's default: NULLs last, whatever the direction.
            nulls_first: item.options.nulls_first.unwrap_or(false),
        });
    }
    RowOrder::SortedBy(keys)
}

/// The output column named `name`: by the result's column names, or else by the
/// select list's aliases (the result may name columns differently).
fn find_column(names: &[String], aliases: &[Option<String>], name: &str) -> Option<usize> {
    let name = name.to_lowercase();
    names.iter().position(|n| *n == name).or_else(|| {
        (aliases.len() == names.len())
            .then(|| {
                aliases
                    .iter()
                    .position(|a| a.as_deref() == Some(name.as_str()))
            })
            .flatten()
    })
}

/// The alias or plain column name of each select item of a SELECT body.
fn select_aliases(body: &SetExpr) -> Vec<Option<String>> {
    let SetExpr::Select(select) = body else {
        return vec![];
    };
    select
        .projection
        .iter()
        .map(|item| match item {
            ast::SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
            ast::SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.value.to_lowercase()),
            ast::SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                parts.last().map(|i| i.value.to_lowercase())
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array, RecordBatch,
        StringArray,
    };
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn result(columns: Vec<(&str, ArrayRef)>) -> QueryResult {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(
            schema.clone(),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap();
        QueryResult {
            schema,
            batches: vec![batch],
        }
    }

    fn decimals(values: &[Option<i128>], scale: i8) -> ArrayRef {
        Arc::new(
            Decimal128Array::from(values.to_vec())
                .with_precision_and_scale(38, scale)
                .unwrap(),
        )
    }

    fn check(r: &QueryResult, text: &str) -> Result<(), String> {
        compare_text(r, text, &RowOrder::Unknown)
    }

    #[test]
    fn decimals_are_exact_at_the_printed_scale() {
        let r = result(vec![("sum", decimals(&[Some(5658655440073)], 2))]);
        assert_eq!(check(&r, "sum\n56586554400.73\n"), Ok(()));
        // Trailing zeros of a wider scale are the same number.
        assert_eq!(check(&r, "sum\n56586554400.7300\n"), Ok(()));
        let err = check(&r, "sum\n56586554400.74\n").unwrap_err();
        assert_eq!(
            err,
            "row 1, column 1 (sum): expected \"56586554400.74\", got 56586554400.73"
        );
        // A reference with more (non-zero) digits than the result has.
        assert!(check(&r, "sum\n56586554400.731\n").is_err());
        // Not a plain decimal.
        assert!(check(&r, "sum\n5.658655440073e10\n").is_err());
        let negative = result(vec![("d", decimals(&[Some(-50)], 2))]);
        assert_eq!(check(&negative, "d\n-0.50\n"), Ok(()));
        assert!(check(&negative, "d\n0.50\n").is_err());
    }

    #[test]
    fn doubles_have_a_relative_tolerance() {
        let r = result(vec![(
            "avg",
            Arc::new(Float64Array::from(vec![25.522005853257337, 0.0, 1e-12])) as ArrayRef,
        )]);
        assert_eq!(check(&r, "avg\n25.522005853257337\n0.0\n0\n"), Ok(()));
        // Within 1e-9 relative.
        assert_eq!(check(&r, "avg\n25.52200585325\n0.0\n0.0\n"), Ok(()));
        // Outside it.
        let err = check(&r, "avg\n25.5220058\n0.0\n0.0\n").unwrap_err();
        assert!(err.starts_with("row 1, column 1 (avg)"), "{err}");
        // Near zero, absolute 1e-9.
        assert!(check(&r, "avg\n25.522005853257337\n0.0\n1e-3\n").is_err());
        let special = result(vec![(
            "x",
            Arc::new(Float64Array::from(vec![
                f64::INFINITY,
                f64::NAN,
                f64::NEG_INFINITY,
            ])) as ArrayRef,
        )]);
        assert_eq!(check(&special, "x\ninf\nnan\n-inf\n"), Ok(()));
        assert!(check(&special, "x\ninf\nnan\ninf\n").is_err());
    }

    #[test]
    fn integers_strings_dates_exact() {
        let r = result(vec![
            ("n", Arc::new(Int64Array::from(vec![1478493])) as ArrayRef),
            ("s", Arc::new(StringArray::from(vec!["Supplier#000005359"]))),
            ("d", Arc::new(Date32Array::from(vec![9204]))),
            ("k", Arc::new(Int32Array::from(vec![7]))),
        ]);
        let header = "n|s|d|k\n";
        assert_eq!(
            check(
                &r,
                &format!("{header}1478493|\"Supplier#000005359\"|1995-03-15|7\n")
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &r,
                &format!("{header}1478493|Supplier#000005359|1995-03-15|7.00\n")
            ),
            Ok(())
        );
        let err = check(
            &r,
            &format!("{header}1478494|Supplier#000005359|1995-03-15|7\n"),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "row 1, column 1 (n): expected \"1478494\", got 1478493"
        );
        let err = check(
            &r,
            &format!("{header}1478493|Supplier#00000535|1995-03-15|7\n"),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "row 1, column 2 (s): expected \"Supplier#00000535\", got \"Supplier#000005359\""
        );
        assert!(check(
            &r,
            &format!("{header}1478493|Supplier#000005359|1995-03-16|7\n")
        )
        .is_err());
        assert!(check(
            &r,
            &format!("{header}1478493|Supplier#000005359|1995-03-15|7.5\n")
        )
        .is_err());
    }

    #[test]
    fn quoted_fields_follow_rfc4180() {
        let r = result(vec![
            (
                "s",
                Arc::new(StringArray::from(vec!["a|b \"quoted\"", "two\nlines", ""])) as ArrayRef,
            ),
            ("n", Arc::new(Int32Array::from(vec![1, 2, 3]))),
        ]);
        assert_eq!(
            check(
                &r,
                "s|n\n\"a|b \"\"quoted\"\"\"|1\n\"two\nlines\"|2\n\"\"|3\n"
            ),
            Ok(())
        );
        // CRLF line ends.
        assert_eq!(
            check(
                &r,
                "s|n\r\n\"a|b \"\"quoted\"\"\"|1\r\n\"two\nlines\"|2\r\n\"\"|3\r\n"
            ),
            Ok(())
        );
        let err = check(&r, "s|n\n\"a|b \"quoted\"|1\n").unwrap_err();
        assert!(err.contains("after a closing quote"), "{err}");
    }

    #[test]
    fn nulls_are_unquoted_empty_fields() {
        let r = result(vec![
            (
                "s",
                Arc::new(StringArray::from(vec![None, Some("")])) as ArrayRef,
            ),
            ("d", decimals(&[None, Some(1)], 2)),
        ]);
        assert_eq!(check(&r, "s|d\n|\n\"\"|0.01\n"), Ok(()));
        // NULL is not the empty string, and the other way round.
        let err = check(&r, "s|d\n\"\"|\n\"\"|0.01\n").unwrap_err();
        assert_eq!(err, "row 1, column 1 (s): expected \"\", got NULL");
        let err = check(&r, "s|d\n|\n|0.01\n").unwrap_err();
        assert_eq!(err, "row 2, column 1 (s): expected NULL, got \"\"");
        let err = check(&r, "s|d\n|0.00\n\"\"|0.01\n").unwrap_err();
        assert_eq!(err, "row 1, column 2 (d): expected \"0.00\", got NULL");
        // A one-column NULL row is an empty line.
        let one = result(vec![(
            "x",
            Arc::new(Int32Array::from(vec![None, Some(1)])) as ArrayRef,
        )]);
        assert_eq!(check(&one, "x\n\n1\n"), Ok(()));
    }

    #[test]
    fn shape_mismatches() {
        let r = result(vec![
            ("a", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            ("b", Arc::new(Int32Array::from(vec![3, 4]))),
        ]);
        assert_eq!(
            check(&r, "a\n1\n2\n").unwrap_err(),
            "expected 1 columns (a), got 2 (a, b)"
        );
        assert_eq!(
            check(&r, "a|b\n1|3\n").unwrap_err(),
            "expected 1 rows, got 2"
        );
        assert!(check(&r, "").is_err());
        let err = check(&r, "a|b\n1|3\n2\n").unwrap_err();
        assert!(err.contains("has 1 fields but the header has 2"), "{err}");
        // Headers are not compared: columns match by position.
        assert_eq!(check(&r, "x|sum(y)\n1|3\n2|4\n"), Ok(()));
    }

    #[test]
    fn row_order_and_ties() {
        // Sorted by k descending; the two k = 5 rows are tied.
        let r = result(vec![
            (
                "k",
                Arc::new(Int32Array::from(vec![9, 5, 5, 1])) as ArrayRef,
            ),
            ("v", Arc::new(StringArray::from(vec!["a", "c", "b", "d"]))),
        ]);
        let expected = "k|v\n9|a\n5|b\n5|c\n1|d\n";
        let keys = RowOrder::SortedBy(vec![SortKey {
            column: 0,
            descending: true,
            nulls_first: false,
        }]);
        // Tied rows may come in any order.
        assert_eq!(compare_text(&r, expected, &keys), Ok(()));
        assert_eq!(compare_text(&r, expected, &RowOrder::Unknown), Ok(()));
        // But rows out of ORDER BY order fail, with the first in-order difference.
        let reversed = result(vec![
            (
                "k",
                Arc::new(Int32Array::from(vec![1, 5, 5, 9])) as ArrayRef,
            ),
            ("v", Arc::new(StringArray::from(vec!["d", "b", "c", "a"]))),
        ]);
        assert_eq!(
            compare_text(&reversed, expected, &keys).unwrap_err(),
            "row 1, column 1 (k): expected \"9\", got 1"
        );
        // Without ORDER BY, any order.
        assert_eq!(
            compare_text(&reversed, expected, &RowOrder::SortedBy(vec![])),
            Ok(())
        );
        // Different rows fail whatever the order.
        let other = "k|v\n9|a\n5|b\n5|x\n1|d\n";
        assert_eq!(
            compare_text(&r, other, &keys).unwrap_err(),
            "row 2, column 2 (v): expected \"b\", got \"c\""
        );
    }

    #[test]
    fn order_keys_come_from_the_query() {
        let r = result(vec![
            (
                "l_orderkey",
                Arc::new(Int32Array::from(vec![1])) as ArrayRef,
            ),
            ("revenue", decimals(&[Some(1)], 2)),
            ("o_orderdate", Arc::new(Date32Array::from(vec![1]))),
        ]);
        let sql = "-- Q3\nselect l_orderkey, sum(x) as revenue, o.o_orderdate from t \
                   group by 1, 3 order by revenue desc, o.o_orderdate limit 10;";
        assert_eq!(
            order_of(sql, &r),
            RowOrder::SortedBy(vec![
                SortKey {
                    column: 1,
                    descending: true,
                    nulls_first: false
                },
                SortKey {
                    column: 2,
                    descending: false,
                    nulls_first: false
                },
            ])
        );
        assert_eq!(
            order_of("select 1 order by 3 desc nulls first, 1", &r),
            RowOrder::SortedBy(vec![
                SortKey {
                    column: 2,
                    descending: true,
                    nulls_first: true
                },
                SortKey {
                    column: 0,
                    descending: false,
                    nulls_first: false
                },
            ])
        );
        // An expression key ends the known prefix.
        assert_eq!(
            order_of("select a from t order by revenue, a + 1, l_orderkey", &r),
            RowOrder::SortedBy(vec![SortKey {
                column: 1,
                descending: false,
                nulls_first: false
            }])
        );
        assert_eq!(order_of("select a from t", &r), RowOrder::SortedBy(vec![]));
        assert_eq!(order_of("not sql at all", &r), RowOrder::Unknown);
    }
}
