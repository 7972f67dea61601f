//! Turning result values into text: one function for a single value, used by every
//! output format (the CLI's table, CSV and JSON, and the sqllogictest runner).
//!
//! DECIMAL prints at its exact scale, DATE as `YYYY-MM-DD`, DOUBLE with the shortest
//! representation that reads back to the same value, NULL as `None` (callers choose
//! how to show it).

use arrow::array::{Array, AsArray};
use arrow::datatypes::*;

use crate::types::{format_date, format_decimal, format_timestamp};

/// The text of the value at `row`, or `None` when it is NULL.
pub fn value_to_string(array: &dyn Array, row: usize) -> Option<String> {
    if array.is_null(row) || array.data_type() == &DataType::Null {
        return None;
    }
    Some(match array.data_type() {
        DataType::Boolean => array.as_boolean().value(row).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Float64 => format_double(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, s) => {
            format_decimal(array.as_primitive::<Decimal128Type>().value(row), *s)
        }
        DataType::Utf8 => array.as_string::<i32>().value(row).to_string(),
        DataType::Date32 => format_date(array.as_primitive::<Date32Type>().value(row)),
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            format_timestamp(array.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        _ => arrow::util::display::ArrayFormatter::try_new(array, &Default::default())
            .map(|f| f.value(row).to_string())
            .unwrap_or_else(|e| format!("<{e}>")),
    })
}

/// A DOUBLE as text: integral values keep one decimal (`2.0`), others print the
/// shortest form that parses back to the same number; NaN and infinities by name.
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        "nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

// ---------------------------------------------------------------------------
// Whole results as text: the CLI's `table`, `csv` and `json` output formats.
// ---------------------------------------------------------------------------

use comfy_table::presets::ASCII_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use crate::QueryResult;

/// The result as a boxed ASCII table: a header row with the column names, one line
/// per row, numeric columns right-aligned, NULL shown as `NULL`. No trailing newline
/// and no row-count footer (the CLI prints that).
pub fn render_table(result: &QueryResult) -> String {
    let mut table = Table::new();
    table.load_style(ASCII_FULL_CONDENSED);
    table.set_header(result.schema.fields().iter().map(|f| f.name().as_str()));
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            table.add_row(
                batch
                    .columns()
                    .iter()
                    .map(|c| value_to_string(c, row).unwrap_or_else(|| "NULL".into())),
            );
        }
    }
    for (i, field) in result.schema.fields().iter().enumerate() {
        if field.data_type().is_numeric() {
            if let Some(column) = table.column_mut(i) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    table.to_string()
}

/// The result as RFC 4180 CSV: a header line, then one line per row, each ending in
/// `\n`. A field is quoted when it holds `,`, `"`, CR or LF (embedded quotes doubled);
/// NULL is an empty field and an empty string is `""`, so the two stay apart.
pub fn render_csv(result: &QueryResult) -> String {
    let mut out = String::new();
    let names: Vec<&str> = result
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    push_csv_line(&mut out, names.iter().map(|n| Some(*n)));
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            let values: Vec<Option<String>> = batch
                .columns()
                .iter()
                .map(|c| value_to_string(c, row))
                .collect();
            push_csv_line(&mut out, values.iter().map(|v| v.as_deref()));
        }
    }
    out
}

fn push_csv_line<'a>(out: &mut String, fields: impl Iterator<Item = Option<&'a str>>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        match field {
            None => {}
            Some(s) if s.is_empty() || s.contains([',', '"', '\r', '\n']) => {
                out.push('"');
                out.push_str(&s.replace('"', "\"\""));
                out.push('"');
            }
            Some(s) => out.push_str(s),
        }
    }
    out.push('\n');
}

/// The result as a JSON array with one object per row (one per line), keys being
/// the column names in order. Integers, doubles and DECIMALs are JSON numbers
/// (a DECIMAL with its exact digits, `123.45`), booleans `true`/`false`, NULL
/// `null`, dates and strings JSON strings. A NaN or infinite double is `null`.
/// No trailing newline.
pub fn render_json(result: &QueryResult) -> String {
    let keys: Vec<String> = result
        .schema
        .fields()
        .iter()
        .map(|f| json_string(f.name()))
        .collect();
    let mut objects = Vec::with_capacity(result.num_rows());
    for batch in &result.batches {
        for row in 0..batch.num_rows() {
            let mut object = String::from("{");
            for (i, column) in batch.columns().iter().enumerate() {
                if i > 0 {
                    object.push(',');
                }
                object.push_str(&keys[i]);
                object.push(':');
                object.push_str(&json_value(column, row));
            }
            object.push('}');
            objects.push(object);
        }
    }
    if objects.is_empty() {
        "[]".to_string()
    } else {
        format!("[\n{}\n]", objects.join(",\n"))
    }
}

/// One value as JSON text.
fn json_value(array: &dyn Array, row: usize) -> String {
    let Some(text) = value_to_string(array, row) else {
        return "null".to_string();
    };
    match array.data_type() {
        DataType::Boolean => text,
        dt if dt.is_numeric() => {
            if is_json_number(&text) {
                text
            } else if dt.is_floating() {
                // NaN and the infinities have no JSON spelling.
                "null".to_string()
            } else {
                json_string(&text)
            }
        }
        _ => json_string(&text),
    }
}

/// `s` as a quoted, escaped JSON string.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("serializing a str cannot fail")
}

/// Whether `s` is a number by JSON's grammar: `-? int frac? exp?`.
fn is_json_number(s: &str) -> bool {
    fn digits(b: &[u8], mut i: usize) -> usize {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    }
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(b, i),
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(b, i + 1);
        if end == i + 1 {
            return false;
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(b, i);
        if end == i {
            return false;
        }
        i = end;
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, Int64Array,
        RecordBatch, StringArray,
    };
    use arrow::datatypes::{Field, Schema};

    use super::*;

    /// Three rows over every engine type, with NULLs and awkward strings.
    fn sample() -> QueryResult {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("price", DataType::Decimal128(10, 2), true),
            Field::new("ratio", DataType::Float64, true),
            Field::new("big", DataType::Int64, true),
            Field::new("ok", DataType::Boolean, true),
            Field::new("day", DataType::Date32, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![Some(1), Some(22), None])),
            Arc::new(StringArray::from(vec![
                Some("plain"),
                Some("a,\"quoted\"\nline"),
                None,
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(12345), Some(-50), None])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(Float64Array::from(vec![Some(0.5), Some(2.0), None])),
            Arc::new(Int64Array::from(vec![Some(-7), Some(9_000_000_000), None])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            // 1994-01-01 is day 8766 after the epoch.
            Arc::new(Date32Array::from(vec![Some(8766), Some(0), None])),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        // Split into two batches to check that every batch is rendered.
        QueryResult {
            schema,
            batches: vec![batch.slice(0, 2), batch.slice(2, 1)],
        }
    }

    fn empty() -> QueryResult {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        QueryResult {
            schema,
            batches: vec![],
        }
    }

    #[test]
    fn table_has_header_rows_and_nulls() {
        let table = render_table(&sample());
        let lines: Vec<&str> = table.lines().collect();
        // top border, header, separator, 4 content lines (one row spans two), bottom.
        assert_eq!(lines.len(), 8, "{table}");
        assert!(
            lines[1].contains("id") && lines[1].contains("price"),
            "{table}"
        );
        assert!(
            lines[3].contains("plain") && lines[3].contains("1994-01-01"),
            "{table}"
        );
        assert!(
            lines[3].contains("123.45") && lines[3].contains("true"),
            "{table}"
        );
        assert!(lines[6].contains("NULL"), "{table}");
        assert!(!table.ends_with('\n'));
    }

    #[test]
    fn table_right_aligns_numbers_only() {
        let table = render_table(&sample());
        let lines: Vec<&str> = table.lines().collect();
        let cells = |line: &str| -> Vec<String> {
            line.trim_matches('|')
                .split('|')
                .map(String::from)
                .collect()
        };
        let first = cells(lines[3]);
        let second = cells(lines[4]);
        // id: 1 is right-aligned under 22.
        assert!(
            first[0].ends_with("1 ") && first[0].starts_with("  "),
            "{first:?}"
        );
        assert!(second[0].ends_with("22 "), "{second:?}");
        // name: left-aligned.
        assert!(first[1].starts_with(" plain "), "{first:?}");
        // price: right-aligned.
        assert!(first[2].ends_with(" 123.45 "), "{first:?}");
        assert_eq!(second[2], "  -0.50 ");
    }

    #[test]
    fn table_layout() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("price", DataType::Decimal128(10, 2), true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec!["apple", "pear, green", "fig"])),
                Arc::new(
                    Decimal128Array::from(vec![Some(150), None, Some(1225)])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap();
        let table = render_table(&QueryResult {
            schema,
            batches: vec![batch],
        });
        assert_eq!(
            table,
            "\
+----+-------------+-------+
| id | name        | price |
+==========================+
|  1 | apple       |  1.50 |
|  2 | pear, green |  NULL |
|  3 | fig         | 12.25 |
+----+-------------+-------+"
        );
    }

    #[test]
    fn table_of_no_rows_is_just_the_header() {
        let table = render_table(&empty());
        assert_eq!(table, "+---+---+\n| a | b |\n+=======+\n+---+---+");
    }

    #[test]
    fn csv_quotes_per_rfc4180() {
        let csv = render_csv(&sample());
        assert_eq!(
            csv,
            "id,name,price,ratio,big,ok,day\n\
             1,plain,123.45,0.5,-7,true,1994-01-01\n\
             22,\"a,\"\"quoted\"\"\nline\",-0.50,2.0,9000000000,false,1970-01-01\n\
             ,,,,,,\n"
        );
    }

    #[test]
    fn csv_tells_empty_strings_from_nulls() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("with space", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some(""), None])),
                Arc::new(StringArray::from(vec![Some("a b"), Some("x\ry")])),
            ],
        )
        .unwrap();
        let csv = render_csv(&QueryResult {
            schema,
            batches: vec![batch],
        });
        assert_eq!(csv, "s,with space\n\"\",a b\n,\"x\ry\"\n");
        assert_eq!(render_csv(&empty()), "a,b\n");
    }

    #[test]
    fn json_types_and_nulls() {
        let json = render_json(&sample());
        assert_eq!(
            json,
            "[\n\
             {\"id\":1,\"name\":\"plain\",\"price\":123.45,\"ratio\":0.5,\"big\":-7,\"ok\":true,\"day\":\"1994-01-01\"},\n\
             {\"id\":22,\"name\":\"a,\\\"quoted\\\"\\nline\",\"price\":-0.50,\"ratio\":2.0,\"big\":9000000000,\"ok\":false,\"day\":\"1970-01-01\"},\n\
             {\"id\":null,\"name\":null,\"price\":null,\"ratio\":null,\"big\":null,\"ok\":null,\"day\":null}\n\
             ]"
        );
        // It parses, and the values come back with their types.
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        let rows = parsed.as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["price"].as_f64(), Some(123.45));
        assert_eq!(rows[1]["big"].as_i64(), Some(9_000_000_000));
        assert_eq!(rows[1]["name"].as_str(), Some("a,\"quoted\"\nline"));
        assert!(rows[2]["id"].is_null());
        assert_eq!(render_json(&empty()), "[]");
    }

    #[test]
    fn json_non_finite_doubles_are_null() {
        let schema = Arc::new(Schema::new(vec![Field::new("d", DataType::Float64, false)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Float64Array::from(vec![
                f64::NAN,
                f64::INFINITY,
                1e300,
            ]))],
        )
        .unwrap();
        let json = render_json(&QueryResult {
            schema,
            batches: vec![batch],
        });
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(parsed[0]["d"].is_null() && parsed[1]["d"].is_null());
        assert_eq!(parsed[2]["d"].as_f64(), Some(1e300));
    }

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-0.50", "123.45", "1e5", "2.5E-3", "12300"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in ["", "-", ".5", "01", "1.", "nan", "inf", "1e", "+1", "1.2.3"] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
