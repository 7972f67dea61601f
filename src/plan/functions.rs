//! The built-in scalar functions an expression can call, and the fields of a
//! date or timestamp that `EXTRACT`, `date_part`, `date_trunc` and `date_diff`
//! name. The binder (`sql::functions`) checks arguments and result types; the
//! executor (`exec::functions`) computes them a column at a time.

/// A field of a date or timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatePart {
    Millennium,
    Century,
    Decade,
    Year,
    /// The year of the ISO week (`isoyear`).
    IsoYear,
    Quarter,
    Month,
    /// The ISO week (Monday first).
    Week,
    Day,
    /// 0 (Sunday) to 6.
    DayOfWeek,
    /// 1 (Monday) to 7.
    IsoDayOfWeek,
    DayOfYear,
    Hour,
    Minute,
    Second,
    Millisecond,
    Microsecond,
    /// Seconds since 1970-01-01 (a DOUBLE).
    Epoch,
}

impl DatePart {
    /// The part a name stands for (`'year'`, `'dow'`, `'hours'`, ...), as DuckDB
    /// spells them.
    pub fn from_name(name: &str) -> Option<DatePart> {
        Some(match name.to_lowercase().as_str() {
            "millennium" | "millennia" | "millenium" | "mil" | "mils" => DatePart::Millennium,
            "century" | "centuries" | "c" | "cent" => DatePart::Century,
            "decade" | "decades" | "dec" | "decs" => DatePart::Decade,
            "year" | "years" | "y" | "yr" | "yrs" | "yy" | "yyyy" => DatePart::Year,
            "isoyear" => DatePart::IsoYear,
            "quarter" | "quarters" | "qtr" => DatePart::Quarter,
            "month" | "months" | "mon" | "mons" => DatePart::Month,
            "week" | "weeks" | "w" | "weekofyear" | "yearweek_iso" => DatePart::Week,
            "day" | "days" | "d" | "dayofmonth" => DatePart::Day,
            "dow" | "dayofweek" | "weekday" => DatePart::DayOfWeek,
            "isodow" => DatePart::IsoDayOfWeek,
            "doy" | "dayofyear" => DatePart::DayOfYear,
            "hour" | "hours" | "h" | "hr" | "hrs" => DatePart::Hour,
            "minute" | "minutes" | "m" | "min" | "mins" => DatePart::Minute,
            "second" | "seconds" | "s" | "sec" | "secs" => DatePart::Second,
            "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" => DatePart::Millisecond,
            "microsecond" | "microseconds" | "us" | "usec" | "usecs" => DatePart::Microsecond,
            "epoch" => DatePart::Epoch,
            _ => return None,
        })
    }
}

/// A function of one DOUBLE that gives a DOUBLE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FloatFunc {
    Ln,
    Log10,
    Log2,
    Exp,
    Sqrt,
    Cbrt,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Cot,
    Degrees,
    Radians,
    /// Rounded away from zero to the next even integer.
    Even,
}

impl FloatFunc {
    pub fn apply(self, x: f64) -> f64 {
        match self {
            FloatFunc::Ln => x.ln(),
            FloatFunc::Log10 => x.log10(),
            FloatFunc::Log2 => x.log2(),
            FloatFunc::Exp => x.exp(),
            FloatFunc::Sqrt => x.sqrt(),
            FloatFunc::Cbrt => x.cbrt(),
            FloatFunc::Sin => x.sin(),
            FloatFunc::Cos => x.cos(),
            FloatFunc::Tan => x.tan(),
            FloatFunc::Asin => x.asin(),
            FloatFunc::Acos => x.acos(),
            FloatFunc::Atan => x.atan(),
            FloatFunc::Cot => 1.0 / x.tan(),
            FloatFunc::Degrees => x.to_degrees(),
            FloatFunc::Radians => x.to_radians(),
            FloatFunc::Even => {
                let away = if x >= 0.0 { x.ceil() } else { x.floor() };
                if away % 2.0 == 0.0 {
                    away
                } else {
                    away + x.signum()
                }
            }
        }
    }
}

/// A built-in scalar function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScalarFunc {
    // Dates and timestamps.
    /// `EXTRACT(part FROM d)`, `date_part('part', d)`: BIGINT (Epoch: DOUBLE).
    Extract(DatePart),
    /// `date_trunc('part', d)`: a TIMESTAMP at the start of the part.
    DateTrunc(DatePart),
    /// `date_diff('part', a, b)`: the part boundaries from a to b (BIGINT).
    DateDiff(DatePart),
    /// `date_sub('part', a, b)`: whole parts from a to b (BIGINT).
    DateSub(DatePart),
    /// `make_date(year, month, day)`.
    MakeDate,
    /// The last day of the month of a date.
    LastDay,
    DayName,
    MonthName,
    /// `strftime(d, format)`.
    Strftime,
    /// `strptime(text, format)`: a TIMESTAMP.
    Strptime,

    // Strings.
    /// `SUBSTRING(s, start [, length])` with 1-based start.
    Substring,
    Upper,
    Lower,
    /// Length in characters.
    Length,
    /// Length in bytes (`strlen`, `octet_length`).
    ByteLength,
    /// `trim(s [, characters])`: both ends (by default, spaces only).
    Trim,
    LTrim,
    RTrim,
    /// Any number of arguments as text, NULLs skipped.
    Concat,
    /// `concat_ws(separator, ...)`: NULL separator gives NULL, NULL arguments are skipped.
    ConcatWs,
    Replace,
    /// 1-based position of a substring in characters, 0 when absent.
    StrPos,
    Left,
    Right,
    Repeat,
    /// Reversed by grapheme clusters.
    Reverse,
    LPad,
    RPad,
    SplitPart,
    StartsWith,
    EndsWith,
    Contains,
    /// `regexp_matches(s, pattern [, options])`: whether the pattern occurs.
    RegexpMatches,
    /// `regexp_replace(s, pattern, replacement [, options])`.
    RegexpReplace,
    /// `regexp_extract(s, pattern [, group [, options]])`.
    RegexpExtract,
    /// The code point of the first character.
    Ascii,
    /// The character of a code point.
    Chr,

    // Numbers.
    Abs,
    /// `ROUND(x [, digits])`, half away from zero.
    Round,
    /// `TRUNC(x [, digits])`, toward zero.
    Trunc,
    Floor,
    Ceil,
    /// -1, 0 or 1.
    Sign,
    Float(FloatFunc),
    /// `power(x, y)`, `x ** y`, `x ^ y`: DOUBLE.
    Power,
    /// `log(base, x)`.
    LogBase,
    Atan2,
    Pi,
    Gcd,
    Lcm,
    Factorial,
    IsNan,
    IsInf,
    IsFinite,
    /// The greatest of the non-NULL arguments.
    Greatest,
    Least,

    // Others.
    /// First non-NULL argument.
    Coalesce,
    /// `NULLIF(a, b)`.
    NullIf,
    /// `TRY_CAST(x AS type)`: NULL where the cast fails.
    TryCast,
    /// `GROUPING(keys...)` as bound over the FROM clause. Only a placeholder: the
    /// SELECT binder replaces it by bits of the Aggregate's `#grouping_id` (or 0)
    /// when it rewrites expressions above the Aggregate, so it is never evaluated.
    Grouping,
    /// `single_row(count, value)`: the value of an unnested scalar subquery,
    /// an error where its row count is more than one.
    SingleRow,
    /// `AVG` from a stored SUM and COUNT (materialized views): the same arithmetic
    /// as the AVG aggregate, so that both give identical doubles.
    AvgOfState,
}

impl ScalarFunc {
    pub fn name(&self) -> String {
        match self {
            ScalarFunc::Extract(p) => format!("extract_{p:?}").to_lowercase(),
            ScalarFunc::DateTrunc(p) => format!("date_trunc_{p:?}").to_lowercase(),
            ScalarFunc::DateDiff(p) => format!("date_diff_{p:?}").to_lowercase(),
            ScalarFunc::DateSub(p) => format!("date_sub_{p:?}").to_lowercase(),
            ScalarFunc::Float(f) => format!("{f:?}").to_lowercase(),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}
