//! Date and timestamp functions: `date_part` / `EXTRACT`, `date_trunc`,
//! `date_diff` (part boundaries crossed) and `date_sub` (whole parts),
//! `make_date`, `last_day`, `dayname` / `monthname`, `strftime` / `strptime`.
//! A DATE argument counts as midnight of its day. The common parts of a date
//! (year, month, day, ...) come from Arrow's temporal kernel; the rest are
//! computed per row with `chrono`.

use std::sync::Arc;

use arrow::array::*;
use arrow::compute::kernels::temporal::{date_part, DatePart as P};
use arrow::datatypes::*;
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

use crate::error::{Error, Result};
use crate::exec::expr::cast;
use crate::plan::DatePart;
use crate::types::{MICROS_PER_DAY, TIMESTAMP};

const MICROS_PER_SECOND: i64 = 1_000_000;

/// A DATE or TIMESTAMP column as microseconds since the epoch.
fn micros(a: &ArrayRef) -> Result<TimestampMicrosecondArray> {
    Ok(cast(a, &TIMESTAMP)?
        .as_primitive::<TimestampMicrosecondType>()
        .clone())
}

fn datetime(micros: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
}

fn to_micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// `f` of each row's date and time, into a column built by `B`.
fn per_row<T: ArrowPrimitiveType>(
    a: &ArrayRef,
    f: impl Fn(NaiveDateTime, i64) -> Result<T::Native>,
) -> Result<PrimitiveArray<T>> {
    let m = micros(a)?;
    let mut out = PrimitiveBuilder::<T>::with_capacity(m.len());
    for v in m.iter() {
        match v.and_then(|v| datetime(v).map(|t| (t, v))) {
            Some((t, v)) => out.append_value(f(t, v)?),
            None => out.append_null(),
        }
    }
    Ok(out.finish())
}

/// `EXTRACT(part FROM a)`: BIGINT, or DOUBLE for the epoch.
pub fn extract(part: DatePart, a: &ArrayRef) -> Result<ArrayRef> {
    let arrow_part = match part {
        DatePart::Year => Some(P::Year),
        DatePart::IsoYear => Some(P::YearISO),
        DatePart::Quarter => Some(P::Quarter),
        DatePart::Month => Some(P::Month),
        DatePart::Week => Some(P::WeekISO),
        DatePart::Day => Some(P::Day),
        DatePart::DayOfWeek => Some(P::DayOfWeekSunday0),
        DatePart::IsoDayOfWeek => Some(P::DayOfWeekMonday1),
        DatePart::DayOfYear => Some(P::DayOfYear),
        DatePart::Hour => Some(P::Hour),
        DatePart::Minute => Some(P::Minute),
        DatePart::Second => Some(P::Second),
        _ => None,
    };
    if let Some(p) = arrow_part {
        let time_of_day = matches!(p, P::Hour | P::Minute | P::Second);
        let a = if time_of_day {
            cast(a, &TIMESTAMP)?
        } else {
            a.clone()
        };
        return cast(&date_part(&a, p)?, &DataType::Int64);
    }
    Ok(match part {
        DatePart::Epoch => Arc::new(per_row::<Float64Type>(a, |_, v| {
            Ok(v as f64 / MICROS_PER_SECOND as f64)
        })?),
        DatePart::Millisecond => Arc::new(per_row::<Int64Type>(a, |t, v| {
            Ok(t.second() as i64 * 1000 + v.rem_euclid(MICROS_PER_SECOND) / 1000)
        })?),
        DatePart::Microsecond => Arc::new(per_row::<Int64Type>(a, |t, v| {
            Ok(t.second() as i64 * MICROS_PER_SECOND + v.rem_euclid(MICROS_PER_SECOND))
        })?),
        DatePart::Decade => Arc::new(per_row::<Int64Type>(a, |t, _| {
            Ok((t.year() as i64).div_euclid(10))
        })?),
        DatePart::Century => Arc::new(per_row::<Int64Type>(a, |t, _| {
            Ok(ordinal_of(t.year() as i64, 100))
        })?),
        DatePart::Millennium => Arc::new(per_row::<Int64Type>(a, |t, _| {
            Ok(ordinal_of(t.year() as i64, 1000))
        })?),
        _ => unreachable!("the other parts come from Arrow's kernel"),
    })
}

/// The century (`span` 100) or millennium (1000) of a year: 2000 is in the
/// 20th century, 2001 in the 21st.
fn ordinal_of(year: i64, span: i64) -> i64 {
    if year > 0 {
        (year - 1) / span + 1
    } else {
        year / span - 1
    }
}

/// `date_trunc(part, a)`: the TIMESTAMP at the start of the part (weeks start
/// on Monday).
pub fn date_trunc(part: DatePart, a: &ArrayRef) -> Result<ArrayRef> {
    let start = |t: NaiveDateTime| -> Option<NaiveDateTime> {
        let d = t.date();
        let first_of = |year: i32, month: u32| NaiveDate::from_ymd_opt(year, month, 1);
        let date = match part {
            DatePart::Millennium => first_of(d.year().div_euclid(1000) * 1000, 1)?,
            DatePart::Century => first_of(d.year().div_euclid(100) * 100, 1)?,
            DatePart::Decade => first_of(d.year().div_euclid(10) * 10, 1)?,
            DatePart::Year => first_of(d.year(), 1)?,
            DatePart::IsoYear => {
                NaiveDate::from_isoywd_opt(d.iso_week().year(), 1, chrono::Weekday::Mon)?
            }
            DatePart::Quarter => first_of(d.year(), (d.month() - 1) / 3 * 3 + 1)?,
            DatePart::Month => first_of(d.year(), d.month())?,
            DatePart::Week => d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64),
            _ => d,
        };
        let time = match part {
            DatePart::Hour => t
                .time()
                .with_minute(0)?
                .with_second(0)?
                .with_nanosecond(0)?,
            DatePart::Minute => t.time().with_second(0)?.with_nanosecond(0)?,
            DatePart::Second => t.time().with_nanosecond(0)?,
            DatePart::Millisecond => t
                .time()
                .with_nanosecond(t.time().nanosecond() / 1_000_000 * 1_000_000)?,
            DatePart::Microsecond | DatePart::Epoch => t.time(),
            _ => chrono::NaiveTime::MIN,
        };
        Some(date.and_time(time))
    };
    Ok(Arc::new(per_row::<TimestampMicrosecondType>(a, |t, _| {
        start(t)
            .map(to_micros)
            .ok_or_else(|| Error::Execute(format!("date_trunc: {t} has no start of its {part:?}")))
    })?))
}

/// `date_diff(part, a, b)`: the boundaries of the part crossed from `a` to `b`
/// (negative when `b` is earlier; weeks are whole 7-day spans); with `whole`,
/// `date_sub(part, a, b)`: the whole parts from `a` to `b`.
pub fn date_diff(part: DatePart, args: &[ArrayRef], whole: bool) -> Result<ArrayRef> {
    let (a, b) = (micros(&args[0])?, micros(&args[1])?);
    let mut out = Int64Builder::with_capacity(a.len());
    for (x, y) in a.iter().zip(b.iter()) {
        match (x, y) {
            (Some(x), Some(y)) => out.append_value(diff(part, x, y, whole)?),
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn diff(part: DatePart, x: i64, y: i64, whole: bool) -> Result<i64> {
    let (Some(tx), Some(ty)) = (datetime(x), datetime(y)) else {
        return Err(Error::Execute("date_diff: a timestamp out of range".into()));
    };
    let units = |unit: i64| {
        if whole {
            (y - x) / unit
        } else {
            y.div_euclid(unit) - x.div_euclid(unit)
        }
    };
    let months = |span: i64| -> i64 {
        let index = |t: NaiveDateTime| t.year() as i64 * 12 + t.month0() as i64;
        if !whole {
            return index(ty).div_euclid(span) - index(tx).div_euclid(span);
        }
        // Whole months: one less when the later date's place in its month
        // comes before the earlier's (the end of a month completes one).
        let (early, late, sign) = if x <= y { (tx, ty, 1) } else { (ty, tx, -1) };
        let mut n = index(late) - index(early);
        let last_day = days_in_month(late.year(), late.month()).unwrap_or(31);
        let early_day = early.day().min(last_day);
        if (early_day, early.time()) > (late.day(), late.time()) {
            n -= 1;
        }
        sign * (n / span)
    };
    let year_of = |t: NaiveDateTime, iso: bool| {
        if iso {
            t.iso_week().year() as i64
        } else {
            t.year() as i64
        }
    };
    Ok(match part {
        DatePart::Millennium | DatePart::Century | DatePart::Decade if whole => {
            months(12) / span_years(part)
        }
        DatePart::Millennium | DatePart::Century | DatePart::Decade => {
            let span = span_years(part);
            year_of(ty, false).div_euclid(span) - year_of(tx, false).div_euclid(span)
        }
        DatePart::Year if whole => months(12),
        DatePart::Year => year_of(ty, false) - year_of(tx, false),
        DatePart::IsoYear => year_of(ty, true) - year_of(tx, true),
        DatePart::Quarter => months(3),
        DatePart::Month => months(1),
        DatePart::Week => {
            let days = if whole {
                (y - x) / MICROS_PER_DAY
            } else {
                y.div_euclid(MICROS_PER_DAY) - x.div_euclid(MICROS_PER_DAY)
            };
            days / 7
        }
        DatePart::Day | DatePart::DayOfWeek | DatePart::IsoDayOfWeek | DatePart::DayOfYear => {
            units(MICROS_PER_DAY)
        }
        DatePart::Hour => units(3600 * MICROS_PER_SECOND),
        DatePart::Minute => units(60 * MICROS_PER_SECOND),
        DatePart::Second | DatePart::Epoch => units(MICROS_PER_SECOND),
        DatePart::Millisecond => units(1000),
        DatePart::Microsecond => y - x,
    })
}

fn span_years(part: DatePart) -> i64 {
    match part {
        DatePart::Millennium => 1000,
        DatePart::Century => 100,
        _ => 10,
    }
}

fn days_in_month(year: i32, month: u32) -> Option<u32> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = first.checked_add_months(chrono::Months::new(1))?;
    Some((next - first).num_days() as u32)
}

/// Days since the epoch of a calendar date.
fn epoch_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch")).num_days() as i32
}

/// `make_date(year, month, day)`: an error for a date that does not exist.
pub fn make_date(args: &[ArrayRef]) -> Result<ArrayRef> {
    let part = |i: usize| cast(&args[i], &DataType::Int64);
    let (y, m, d) = (part(0)?, part(1)?, part(2)?);
    let (y, m, d) = (
        y.as_primitive::<Int64Type>(),
        m.as_primitive::<Int64Type>(),
        d.as_primitive::<Int64Type>(),
    );
    let mut out = Date32Builder::with_capacity(y.len());
    for row in 0..y.len() {
        if y.is_null(row) || m.is_null(row) || d.is_null(row) {
            out.append_null();
            continue;
        }
        let (yv, mv, dv) = (y.value(row), m.value(row), d.value(row));
        let date = i32::try_from(yv).ok().and_then(|yv| {
            NaiveDate::from_ymd_opt(yv, u32::try_from(mv).ok()?, u32::try_from(dv).ok()?)
        });
        match date {
            Some(date) => out.append_value(epoch_days(date)),
            None => {
                return Err(Error::Execute(format!(
                    "Conversion Error: Date out of range: {yv}-{mv}-{dv}"
                )))
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

/// The last day of each date's month, as a DATE.
pub fn last_day(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(Arc::new(per_row::<Date32Type>(a, |t, _| {
        let d = t.date();
        let days = days_in_month(d.year(), d.month()).unwrap_or(31);
        Ok(epoch_days(d.with_day(days).unwrap_or(d)))
    })?))
}

/// The English name of each date's weekday (or, with `month`, of its month).
pub fn day_name(a: &ArrayRef, month: bool) -> Result<ArrayRef> {
    let m = micros(a)?;
    let format = if month { "%B" } else { "%A" };
    Ok(Arc::new(
        m.iter()
            .map(|v| v.and_then(datetime).map(|t| t.format(format).to_string()))
            .collect::<StringArray>(),
    ))
}

/// The items of a `strftime` / `strptime` format, or an error naming it.
fn format_items(format: &str) -> Result<Vec<chrono::format::Item<'_>>> {
    chrono::format::StrftimeItems::new(format)
        .parse()
        .map_err(|_| {
            Error::Execute(format!(
                "Invalid Input Error: invalid format string '{format}'"
            ))
        })
}

/// `strftime(a, format)`.
pub fn strftime(args: &[ArrayRef]) -> Result<ArrayRef> {
    let m = micros(&args[0])?;
    let formats = args[1].as_string::<i32>();
    let mut out = StringBuilder::with_capacity(m.len(), m.len() * 16);
    for row in 0..m.len() {
        let (Some(t), true) = (
            m.is_valid(row).then(|| datetime(m.value(row))).flatten(),
            formats.is_valid(row),
        ) else {
            out.append_null();
            continue;
        };
        let items = format_items(formats.value(row))?;
        out.append_value(t.format_with_items(items.into_iter()).to_string());
    }
    Ok(Arc::new(out.finish()))
}

/// `strptime(text, format)`: a TIMESTAMP; an error when the text does not fit.
pub fn strptime(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (texts, formats) = (args[0].as_string::<i32>(), args[1].as_string::<i32>());
    let mut out = TimestampMicrosecondBuilder::with_capacity(texts.len());
    for row in 0..texts.len() {
        if texts.is_null(row) || formats.is_null(row) {
            out.append_null();
            continue;
        }
        let (text, format) = (texts.value(row), formats.value(row));
        format_items(format)?;
        let parsed = NaiveDateTime::parse_from_str(text, format).or_else(|_| {
            NaiveDate::parse_from_str(text, format).map(|d| d.and_time(chrono::NaiveTime::MIN))
        });
        match parsed {
            Ok(t) => out.append_value(to_micros(t)),
            Err(_) => {
                return Err(Error::Execute(format!(
                    "Invalid Input Error: Could not parse string \"{text}\" according to format specifier \"{format}\""
                )))
            }
        }
    }
    Ok(Arc::new(out.finish()))
}
