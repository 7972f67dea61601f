//! SQL types and scalar values.
//!
//! `SqlType` is the type a user declares and sees (`DECIMAL(15,2)`); each maps to
//! one Arrow `DataType`, which is what expressions and operators work with.
//! `ScalarValue` is one value of any of those types (or NULL); literals, zone-map
//! bounds and folded constants are scalar values.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest precision of a DECIMAL (it is stored as a 128-bit integer).
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// The Arrow type of a TIMESTAMP: microseconds, no time zone (as DuckDB keeps it).
pub const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A column type as SQL declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SqlType {
    Boolean,
    Integer,
    BigInt,
    Double,
    Decimal(u8, i8),
    Varchar,
    Date,
    /// Microseconds since 1970-01-01 00:00:00, without a time zone.
    Timestamp,
}

impl SqlType {
    /// The Arrow type that holds values of this SQL type.
    pub fn to_arrow(self) -> DataType {
        match self {
            SqlType::Boolean => DataType::Boolean,
            SqlType::Integer => DataType::Int32,
            SqlType::BigInt => DataType::Int64,
            SqlType::Double => DataType::Float64,
            SqlType::Decimal(p, s) => DataType::Decimal128(p, s),
            SqlType::Varchar => DataType::Utf8,
            SqlType::Date => DataType::Date32,
            SqlType::Timestamp => TIMESTAMP,
        }
    }

    /// The SQL type that a column of this Arrow type is stored as, widening types
    /// the engine does not keep (Int8/Int16 to INTEGER, Float32 to DOUBLE, ...).
    pub fn from_arrow(dt: &DataType) -> Result<SqlType> {
        Ok(match dt {
            DataType::Boolean => SqlType::Boolean,
            DataType::Int8 | DataType::Int16 | DataType::Int32 => SqlType::Integer,
            DataType::UInt8 | DataType::UInt16 => SqlType::Integer,
            DataType::Int64 | DataType::UInt32 => SqlType::BigInt,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => SqlType::Double,
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
                SqlType::Decimal(*p, *s)
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::Varchar,
            DataType::Date32 | DataType::Date64 => SqlType::Date,
            DataType::Timestamp(_, _) => SqlType::Timestamp,
            DataType::Dictionary(_, v) => SqlType::from_arrow(v)?,
            // NULL literals without a type (`SELECT NULL`) are stored as INTEGER, as DuckDB does.
            DataType::Null => SqlType::Integer,
            other => {
                return Err(Error::Unsupported(format!(
                    "a column of type {other} cannot be stored; cast it to a supported type"
                )))
            }
        })
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => write!(f, "BOOLEAN"),
            SqlType::Integer => write!(f, "INTEGER"),
            SqlType::BigInt => write!(f, "BIGINT"),
            SqlType::Double => write!(f, "DOUBLE"),
            SqlType::Decimal(p, s) => write!(f, "DECIMAL({p},{s})"),
            SqlType::Varchar => write!(f, "VARCHAR"),
            SqlType::Date => write!(f, "DATE"),
            SqlType::Timestamp => write!(f, "TIMESTAMP"),
        }
    }
}

/// The SQL name of an Arrow type as the engine uses it (for messages and DESCRIBE).
pub fn type_name(dt: &DataType) -> String {
    match SqlType::from_arrow(dt) {
        Ok(t) if !matches!(dt, DataType::Null) => t.to_string(),
        _ => match dt {
            DataType::Null => "NULL".to_string(),
            DataType::Interval(_) => "INTERVAL".to_string(),
            other => other.to_string(),
        },
    }
}

/// One value of a SQL type, or NULL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScalarValue {
    /// A NULL whose type is not known (the literal `NULL`).
    Null,
    Boolean(Option<bool>),
    Int32(Option<i32>),
    Int64(Option<i64>),
    Float64(Option<f64>),
    /// An exact decimal: the unscaled integer, the precision and the scale.
    Decimal128(Option<i128>, u8, i8),
    Utf8(Option<String>),
    /// Days since 1970-01-01.
    Date32(Option<i32>),
    /// Microseconds since 1970-01-01 00:00:00.
    Timestamp(Option<i64>),
    /// An interval of months, days and nanoseconds (`INTERVAL '3' MONTH`).
    Interval(Option<(i32, i32, i64)>),
}

impl ScalarValue {
    /// The Arrow type of this value.
    pub fn data_type(&self) -> DataType {
        match self {
            ScalarValue::Null => DataType::Null,
            ScalarValue::Boolean(_) => DataType::Boolean,
            ScalarValue::Int32(_) => DataType::Int32,
            ScalarValue::Int64(_) => DataType::Int64,
            ScalarValue::Float64(_) => DataType::Float64,
            ScalarValue::Decimal128(_, p, s) => DataType::Decimal128(*p, *s),
            ScalarValue::Utf8(_) => DataType::Utf8,
            ScalarValue::Date32(_) => DataType::Date32,
            ScalarValue::Timestamp(_) => TIMESTAMP,
            ScalarValue::Interval(_) => DataType::Interval(IntervalUnit::MonthDayNano),
        }
    }

    /// A NULL of the given type.
    pub fn null_of(dt: &DataType) -> ScalarValue {
        match dt {
            DataType::Boolean => ScalarValue::Boolean(None),
            DataType::Int32 => ScalarValue::Int32(None),
            DataType::Int64 => ScalarValue::Int64(None),
            DataType::Float64 => ScalarValue::Float64(None),
            DataType::Decimal128(p, s) => ScalarValue::Decimal128(None, *p, *s),
            DataType::Utf8 => ScalarValue::Utf8(None),
            DataType::Date32 => ScalarValue::Date32(None),
            DataType::Timestamp(_, _) => ScalarValue::Timestamp(None),
            DataType::Interval(_) => ScalarValue::Interval(None),
            _ => ScalarValue::Null,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(
            self,
            ScalarValue::Null
                | ScalarValue::Boolean(None)
                | ScalarValue::Int32(None)
                | ScalarValue::Int64(None)
                | ScalarValue::Float64(None)
                | ScalarValue::Decimal128(None, _, _)
                | ScalarValue::Utf8(None)
                | ScalarValue::Date32(None)
                | ScalarValue::Timestamp(None)
                | ScalarValue::Interval(None)
        )
    }

    /// An array of `len` copies of this value.
    pub fn to_array(&self, len: usize) -> ArrayRef {
        match self {
            ScalarValue::Null => new_null_array(&DataType::Null, len),
            ScalarValue::Boolean(v) => Arc::new(BooleanArray::from(vec![*v; len])),
            ScalarValue::Int32(v) => Arc::new(Int32Array::from(vec![*v; len])),
            ScalarValue::Int64(v) => Arc::new(Int64Array::from(vec![*v; len])),
            ScalarValue::Float64(v) => Arc::new(Float64Array::from(vec![*v; len])),
            ScalarValue::Decimal128(v, p, s) => Arc::new(
                Decimal128Array::from(vec![*v; len])
                    .with_precision_and_scale(*p, *s)
                    .expect("scalar decimal precision is valid"),
            ),
            ScalarValue::Utf8(v) => Arc::new(StringArray::from(vec![v.as_deref(); len])),
            ScalarValue::Date32(v) => Arc::new(Date32Array::from(vec![*v; len])),
            ScalarValue::Timestamp(v) => Arc::new(TimestampMicrosecondArray::from(vec![*v; len])),
            ScalarValue::Interval(v) => Arc::new(IntervalMonthDayNanoArray::from(vec![
                v.map(
                    |(m, d, n)| IntervalMonthDayNano::new(m, d, n)
                );
                len
            ])),
        }
    }

    /// The value at `row` of an array (NULL if that slot is null).
    pub fn try_from_array(array: &dyn Array, row: usize) -> Result<ScalarValue> {
        let dt = array.data_type();
        if array.is_null(row) {
            return Ok(ScalarValue::null_of(dt));
        }
        Ok(match dt {
            DataType::Null => ScalarValue::Null,
            DataType::Boolean => ScalarValue::Boolean(Some(array.as_boolean().value(row))),
            DataType::Int32 => ScalarValue::Int32(Some(
                array
                    .as_primitive::<arrow::datatypes::Int32Type>()
                    .value(row),
            )),
            DataType::Int64 => ScalarValue::Int64(Some(
                array
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .value(row),
            )),
            DataType::Float64 => ScalarValue::Float64(Some(
                array
                    .as_primitive::<arrow::datatypes::Float64Type>()
                    .value(row),
            )),
            DataType::Decimal128(p, s) => ScalarValue::Decimal128(
                Some(
                    array
                        .as_primitive::<arrow::datatypes::Decimal128Type>()
                        .value(row),
                ),
                *p,
                *s,
            ),
            DataType::Utf8 => {
                ScalarValue::Utf8(Some(array.as_string::<i32>().value(row).to_string()))
            }
            DataType::Date32 => ScalarValue::Date32(Some(
                array
                    .as_primitive::<arrow::datatypes::Date32Type>()
                    .value(row),
            )),
            DataType::Timestamp(TimeUnit::Microsecond, None) => ScalarValue::Timestamp(Some(
                array
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .value(row),
            )),
            DataType::Interval(IntervalUnit::MonthDayNano) => {
                let v = array
                    .as_primitive::<arrow::datatypes::IntervalMonthDayNanoType>()
                    .value(row);
                ScalarValue::Interval(Some((v.months, v.days, v.nanoseconds)))
            }
            DataType::Dictionary(_, _) => {
                let values = arrow::compute::cast(&array.slice(row, 1), &DataType::Utf8)?;
                ScalarValue::try_from_array(&values, 0)?
            }
            other => {
                return Err(Error::Unsupported(format!("values of type {other}")));
            }
        })
    }

    /// Compares two non-null values of the same type; `None` when they are not comparable.
    pub fn partial_cmp_value(&self, other: &ScalarValue) -> Option<Ordering> {
        use ScalarValue::*;
        match (self, other) {
            (Boolean(Some(a)), Boolean(Some(b))) => a.partial_cmp(b),
            (Int32(Some(a)), Int32(Some(b))) => a.partial_cmp(b),
            (Int64(Some(a)), Int64(Some(b))) => a.partial_cmp(b),
            (Float64(Some(a)), Float64(Some(b))) => a.partial_cmp(b),
            (Decimal128(Some(a), _, s1), Decimal128(Some(b), _, s2)) if s1 == s2 => {
                a.partial_cmp(b)
            }
            (Utf8(Some(a)), Utf8(Some(b))) => a.partial_cmp(b),
            (Date32(Some(a)), Date32(Some(b))) => a.partial_cmp(b),
            (Timestamp(Some(a)), Timestamp(Some(b))) => a.partial_cmp(b),
            _ => None,
        }
    }
}

impl fmt::Display for ScalarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_null() {
            return write!(f, "NULL");
        }
        match self {
            ScalarValue::Boolean(Some(v)) => write!(f, "{v}"),
            ScalarValue::Int32(Some(v)) => write!(f, "{v}"),
            ScalarValue::Int64(Some(v)) => write!(f, "{v}"),
            ScalarValue::Float64(Some(v)) => write!(f, "{v}"),
            ScalarValue::Decimal128(Some(v), _, s) => write!(f, "{}", format_decimal(*v, *s)),
            ScalarValue::Utf8(Some(v)) => write!(f, "'{}'", v.replace('\'', "''")),
            ScalarValue::Date32(Some(v)) => write!(f, "DATE '{}'", format_date(*v)),
            ScalarValue::Timestamp(Some(v)) => {
                write!(f, "TIMESTAMP '{}'", format_timestamp(*v))
            }
            ScalarValue::Interval(Some((m, d, n))) => {
                write!(
                    f,
                    "INTERVAL '{m} months {d} days {} seconds'",
                    n / 1_000_000_000
                )
            }
            _ => write!(f, "NULL"),
        }
    }
}

/// `num / den` as the nearest double (the quotient is computed in integers to
/// 20 significant digits and rounded once), as DuckDB's AVG of integers and
/// decimals gives it.
pub fn exact_ratio(num: i128, den: i128) -> f64 {
    if den == 0 {
        return f64::NAN;
    }
    // Both exact as doubles: IEEE division rounds the exact quotient once.
    const EXACT: i128 = 1 << 53;
    if num.abs() <= EXACT && den.abs() <= EXACT {
        return num as f64 / den as f64;
    }
    let negative = (num < 0) != (den < 0);
    let (mut num, den) = (num.unsigned_abs(), den.unsigned_abs());
    let mut shift = 0i32;
    while num / den < 10u128.pow(19) && shift < 60 {
        match num.checked_mul(10) {
            Some(n) => num = n,
            None => break,
        }
        shift += 1;
    }
    let value: f64 = format!("{}e-{shift}", num / den)
        .parse()
        .unwrap_or(f64::NAN);
    if negative {
        -value
    } else {
        value
    }
}

/// `unscaled / 10^scale` printed exactly (`12345, 2` prints `123.45`).
pub fn format_decimal(unscaled: i128, scale: i8) -> String {
    if scale <= 0 {
        let mut s = unscaled.to_string();
        s.extend(std::iter::repeat_n('0', (-scale) as usize));
        return s;
    }
    let scale = scale as usize;
    let negative = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let digits = if digits.len() <= scale {
        format!("{}{}", "0".repeat(scale + 1 - digits.len()), digits)
    } else {
        digits
    };
    let (int, frac) = digits.split_at(digits.len() - scale);
    format!("{}{int}.{frac}", if negative { "-" } else { "" })
}

/// Days since the epoch printed as `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    match arrow::temporal_conversions::date32_to_datetime(days) {
        Some(dt) => dt.format("%Y-%m-%d").to_string(),
        None => format!("<invalid date {days}>"),
    }
}

/// Microseconds since the epoch printed as `YYYY-MM-DD HH:MM:SS`, with the
/// fraction of a second when there is one (as DuckDB prints a TIMESTAMP).
pub fn format_timestamp(micros: i64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_micros(micros) else {
        return format!("<invalid timestamp {micros}>");
    };
    let t = t.naive_utc();
    let fraction = micros.rem_euclid(1_000_000);
    if fraction == 0 {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        let digits = format!("{fraction:06}");
        format!(
            "{}.{}",
            t.format("%Y-%m-%d %H:%M:%S"),
            digits.trim_end_matches('0')
        )
    }
}

/// Parses `YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]` (or with `T` between date and time)
/// into microseconds since the epoch.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(days) = parse_date(text) {
        return Some(days as i64 * MICROS_PER_DAY);
    }
    let formats = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ];
    formats.iter().find_map(|f| {
        chrono::NaiveDateTime::parse_from_str(text, f)
            .ok()
            .map(|t| t.and_utc().timestamp_micros())
    })
}

/// Parses `YYYY-MM-DD` into days since the epoch.
pub fn parse_date(text: &str) -> Option<i32> {
    let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from(date.signed_duration_since(epoch).num_days()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_print_exactly() {
        assert_eq!(format_decimal(12345, 2), "123.45");
        assert_eq!(format_decimal(-5, 2), "-0.05");
        assert_eq!(format_decimal(0, 2), "0.00");
        assert_eq!(format_decimal(7, 0), "7");
    }

    #[test]
    fn ratios_round_once() {
        assert_eq!(exact_ratio(1, 3), 1.0 / 3.0);
        assert_eq!(exact_ratio(-10, 4), -2.5);
        assert_eq!(exact_ratio(0, 7), 0.0);
        assert_eq!(exact_ratio(171589, 9420), 171589.0 / 9420.0);
        // Past 2^53 the operands are not doubles; the quotient is still rounded once.
        let big = (1i128 << 60) + 1;
        assert_eq!(exact_ratio(big * 3, 3), big as f64);
        assert_eq!(exact_ratio(10i128.pow(30) + 7, 10i128.pow(12)), 1e18);
    }

    #[test]
    fn timestamps_round_trip() {
        let t = parse_timestamp("1998-12-01 12:34:56").unwrap();
        assert_eq!(format_timestamp(t), "1998-12-01 12:34:56");
        assert_eq!(parse_timestamp("1970-01-01"), Some(0));
        let t = parse_timestamp("1969-12-31 23:59:59.25").unwrap();
        assert_eq!(t, -750_000);
        assert_eq!(format_timestamp(t), "1969-12-31 23:59:59.25");
        assert_eq!(parse_timestamp("1998-12-01 25:00:00"), None);
    }

    #[test]
    fn dates_round_trip() {
        let d = parse_date("1998-12-01").unwrap();
        assert_eq!(format_date(d), "1998-12-01");
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1998-13-01"), None);
    }
}
