//! Binding calls of built-in scalar functions by name: each name (and its
//! DuckDB synonyms) maps to a [`ScalarFunc`], its arguments are checked and
//! cast to the types the function takes, and its result type is set as DuckDB
//! sets it (`floor` of a DECIMAL(p,s) is a DECIMAL(p,0), of anything else a
//! DOUBLE; `round(DECIMAL(p,s), n)` is a DECIMAL(p, min(s, n)); `date_trunc`
//! gives a TIMESTAMP; `**` and `power` a DOUBLE; ...).

use std::ops::RangeInclusive;

use arrow::datatypes::DataType;

use super::coerce::{common_type, is_integer, is_numeric};
use super::expr::{binary, cast, to_string_type};
use crate::error::{Error, Result};
use crate::plan::{BinaryOp, DatePart, Expr, FloatFunc, ScalarFunc};
use crate::types::{type_name, ScalarValue, TIMESTAMP};
use crate::{bind_err, unsupported};

pub fn call(func: ScalarFunc, args: Vec<Expr>, data_type: DataType) -> Expr {
    Expr::Function {
        func,
        args,
        data_type,
    }
}

/// Binds a call of the built-in scalar function `name` (lower case).
pub fn scalar_function(name: &str, mut args: Vec<Expr>) -> Result<Expr> {
    let arity = |n: RangeInclusive<usize>, args: &[Expr]| -> Result<()> {
        if n.contains(&args.len()) {
            Ok(())
        } else {
            bind_err!("{name} does not take {} arguments", args.len())
        }
    };
    use DataType::{Boolean, Float64, Int32, Int64, Utf8};
    use ScalarFunc as F;
    let strings = |args: Vec<Expr>| -> Result<Vec<Expr>> {
        args.into_iter().map(|a| to_string_type(a, name)).collect()
    };
    Ok(match name {
        // Strings.
        "upper" | "ucase" | "lower" | "lcase" | "reverse" => {
            arity(1..=1, &args)?;
            let func = match name {
                "upper" | "ucase" => F::Upper,
                "lower" | "lcase" => F::Lower,
                _ => F::Reverse,
            };
            call(func, strings(args)?, Utf8)
        }
        "length" | "char_length" | "character_length" | "len" => {
            arity(1..=1, &args)?;
            call(F::Length, strings(args)?, Int64)
        }
        "strlen" | "octet_length" => {
            arity(1..=1, &args)?;
            call(F::ByteLength, strings(args)?, Int64)
        }
        "trim" | "ltrim" | "rtrim" => {
            arity(1..=2, &args)?;
            let func = match name {
                "trim" => F::Trim,
                "ltrim" => F::LTrim,
                _ => F::RTrim,
            };
            call(func, strings(args)?, Utf8)
        }
        "concat" => {
            if args.is_empty() {
                return bind_err!("concat needs at least one argument");
            }
            let args = args
                .into_iter()
                .map(|a| cast(a, &Utf8))
                .collect::<Result<_>>()?;
            call(F::Concat, args, Utf8)
        }
        "concat_ws" => {
            if args.len() < 2 {
                return bind_err!("concat_ws needs a separator and at least one argument");
            }
            let separator = to_string_type(args.remove(0), name)?;
            let mut all = vec![separator];
            for a in args {
                all.push(cast(a, &Utf8)?);
            }
            call(F::ConcatWs, all, Utf8)
        }
        "replace" => {
            arity(3..=3, &args)?;
            call(F::Replace, strings(args)?, Utf8)
        }
        "strpos" | "instr" | "position" => {
            arity(2..=2, &args)?;
            call(F::StrPos, strings(args)?, Int64)
        }
        "starts_with" | "prefix" | "ends_with" | "suffix" | "contains" => {
            arity(2..=2, &args)?;
            let func = match name {
                "starts_with" | "prefix" => F::StartsWith,
                "ends_with" | "suffix" => F::EndsWith,
                _ => F::Contains,
            };
            call(func, strings(args)?, Boolean)
        }
        "left" | "right" | "repeat" => {
            arity(2..=2, &args)?;
            let func = match name {
                "left" => F::Left,
                "right" => F::Right,
                _ => F::Repeat,
            };
            let count = integer(args.remove(1), name)?;
            call(
                func,
                vec![to_string_type(args.remove(0), name)?, count],
                Utf8,
            )
        }
        "lpad" | "rpad" => {
            arity(3..=3, &args)?;
            let func = if name == "lpad" { F::LPad } else { F::RPad };
            let pad = to_string_type(args.remove(2), name)?;
            let len = integer(args.remove(1), name)?;
            call(
                func,
                vec![to_string_type(args.remove(0), name)?, len, pad],
                Utf8,
            )
        }
        "split_part" => {
            arity(3..=3, &args)?;
            let index = integer(args.remove(2), name)?;
            let mut args = strings(args)?;
            args.push(index);
            call(F::SplitPart, args, Utf8)
        }
        "regexp_matches" => {
            arity(2..=3, &args)?;
            call(F::RegexpMatches, strings(args)?, Boolean)
        }
        "regexp_replace" => {
            arity(3..=4, &args)?;
            call(F::RegexpReplace, strings(args)?, Utf8)
        }
        "regexp_extract" => {
            arity(2..=4, &args)?;
            let mut bound = vec![];
            for (i, a) in args.into_iter().enumerate() {
                bound.push(if i == 2 {
                    integer(a, name)?
                } else {
                    to_string_type(a, name)?
                });
            }
            call(F::RegexpExtract, bound, Utf8)
        }
        "ascii" => {
            arity(1..=1, &args)?;
            call(F::Ascii, strings(args)?, Int32)
        }
        "chr" => {
            arity(1..=1, &args)?;
            call(F::Chr, vec![integer(args.remove(0), name)?], Utf8)
        }
        "substring" | "substr" => {
            arity(2..=3, &args)?;
            substring(args)?
        }

        // Numbers.
        "abs" => {
            arity(1..=1, &args)?;
            let t = numeric(&args[0], name)?;
            // (A NULL argument is a DOUBLE NULL.)
            let arg = cast(args.into_iter().next().expect("one argument"), &t)?;
            call(F::Abs, vec![arg], t)
        }
        "round" | "trunc" => {
            arity(1..=2, &args)?;
            round(name, args)?
        }
        "floor" | "ceil" | "ceiling" => {
            arity(1..=1, &args)?;
            let func = if name == "floor" { F::Floor } else { F::Ceil };
            let t = match numeric(&args[0], name)? {
                DataType::Decimal128(p, _) => DataType::Decimal128(p, 0),
                _ => Float64,
            };
            call(func, args, t)
        }
        "sign" => {
            arity(1..=1, &args)?;
            numeric(&args[0], name)?;
            call(F::Sign, args, Int32)
        }
        "ln" | "log10" | "log2" | "exp" | "sqrt" | "cbrt" | "sin" | "cos" | "tan" | "asin"
        | "acos" | "atan" | "cot" | "degrees" | "radians" | "even" => {
            arity(1..=1, &args)?;
            let f = match name {
                "ln" => FloatFunc::Ln,
                "log10" => FloatFunc::Log10,
                "log2" => FloatFunc::Log2,
                "exp" => FloatFunc::Exp,
                "sqrt" => FloatFunc::Sqrt,
                "cbrt" => FloatFunc::Cbrt,
                "sin" => FloatFunc::Sin,
                "cos" => FloatFunc::Cos,
                "tan" => FloatFunc::Tan,
                "asin" => FloatFunc::Asin,
                "acos" => FloatFunc::Acos,
                "atan" => FloatFunc::Atan,
                "cot" => FloatFunc::Cot,
                "degrees" => FloatFunc::Degrees,
                "radians" => FloatFunc::Radians,
                _ => FloatFunc::Even,
            };
            call(F::Float(f), doubles(args, name)?, Float64)
        }
        "log" if args.len() == 1 => call(F::Float(FloatFunc::Log10), doubles(args, name)?, Float64),
        "log" => {
            arity(2..=2, &args)?;
            call(F::LogBase, doubles(args, name)?, Float64)
        }
        "power" | "pow" => {
            arity(2..=2, &args)?;
            power(args.remove(0), args.remove(0))?
        }
        "atan2" => {
            arity(2..=2, &args)?;
            call(F::Atan2, doubles(args, name)?, Float64)
        }
        "pi" => {
            arity(0..=0, &args)?;
            call(F::Pi, vec![], Float64)
        }
        "gcd" | "lcm" => {
            arity(2..=2, &args)?;
            let func = if name == "gcd" { F::Gcd } else { F::Lcm };
            let args = args
                .into_iter()
                .map(|a| integer(a, name))
                .collect::<Result<_>>()?;
            call(func, args, Int64)
        }
        "factorial" => {
            arity(1..=1, &args)?;
            call(
                F::Factorial,
                vec![integer(args.remove(0), name)?],
                DataType::Decimal128(38, 0),
            )
        }
        "isnan" | "isinf" | "isfinite" => {
            arity(1..=1, &args)?;
            let func = match name {
                "isnan" => F::IsNan,
                "isinf" => F::IsInf,
                _ => F::IsFinite,
            };
            call(func, doubles(args, name)?, Boolean)
        }
        "mod" => {
            arity(2..=2, &args)?;
            binary(BinaryOp::Modulo, args.remove(0), args.remove(0))?
        }
        "greatest" | "least" | "coalesce" | "ifnull" | "nvl" => {
            if args.is_empty() {
                return bind_err!("{name} needs at least one argument");
            }
            if matches!(name, "ifnull" | "nvl") {
                arity(2..=2, &args)?;
            }
            let func = match name {
                "greatest" => F::Greatest,
                "least" => F::Least,
                _ => F::Coalesce,
            };
            let t = unify(&args, name)?;
            let args = args
                .into_iter()
                .map(|a| cast(a, &t))
                .collect::<Result<_>>()?;
            call(func, args, t)
        }
        "nullif" => {
            arity(2..=2, &args)?;
            let t = unify(&args, name)?;
            let args = args
                .into_iter()
                .map(|a| cast(a, &t))
                .collect::<Result<_>>()?;
            call(F::NullIf, args, t)
        }

        // Dates and timestamps.
        "date_part" | "datepart" => {
            arity(2..=2, &args)?;
            let part = part_argument(&args[0], name)?;
            extract(part, args.remove(1))?
        }
        "date_trunc" | "datetrunc" => {
            arity(2..=2, &args)?;
            let part = part_argument(&args[0], name)?;
            let d = temporal(args.remove(1), name)?;
            call(F::DateTrunc(part), vec![d], TIMESTAMP)
        }
        "date_diff" | "datediff" | "date_sub" | "datesub" => {
            arity(3..=3, &args)?;
            let part = part_argument(&args[0], name)?;
            let (a, b) = (
                temporal(args.remove(1), name)?,
                temporal(args.remove(1), name)?,
            );
            let (a, b) = if a.data_type() == b.data_type() {
                (a, b)
            } else {
                (cast(a, &TIMESTAMP)?, cast(b, &TIMESTAMP)?)
            };
            let func = if name.starts_with("date_d") || name == "datediff" {
                F::DateDiff(part)
            } else {
                F::DateSub(part)
            };
            call(func, vec![a, b], Int64)
        }
        "date_add" => {
            arity(2..=2, &args)?;
            binary(BinaryOp::Plus, args.remove(0), args.remove(0))?
        }
        "make_date" => {
            arity(3..=3, &args)?;
            let args = args
                .into_iter()
                .map(|a| integer(a, name))
                .collect::<Result<_>>()?;
            call(F::MakeDate, args, DataType::Date32)
        }
        "last_day" => {
            arity(1..=1, &args)?;
            call(
                F::LastDay,
                vec![temporal(args.remove(0), name)?],
                DataType::Date32,
            )
        }
        "dayname" | "monthname" => {
            arity(1..=1, &args)?;
            let func = if name == "dayname" {
                F::DayName
            } else {
                F::MonthName
            };
            call(func, vec![temporal(args.remove(0), name)?], Utf8)
        }
        "strftime" => {
            arity(2..=2, &args)?;
            let format = to_string_type(args.remove(1), name)?;
            call(
                F::Strftime,
                vec![temporal(args.remove(0), name)?, format],
                Utf8,
            )
        }
        "strptime" => {
            arity(2..=2, &args)?;
            call(F::Strptime, strings(args)?, TIMESTAMP)
        }
        "current_date" | "today" => {
            arity(0..=0, &args)?;
            Expr::Literal(ScalarValue::Date32(Some(today())))
        }
        "year" | "month" | "day" | "quarter" | "dayofweek" | "dayofyear" | "week" | "hour"
        | "minute" | "second" | "millisecond" | "microsecond" | "epoch" | "isodow" | "isoyear"
        | "weekday" | "weekofyear" | "dayofmonth" | "decade" | "century" | "millennium" => {
            arity(1..=1, &args)?;
            let part = DatePart::from_name(name).expect("every name above is a part");
            extract(part, args.remove(0))?
        }
        _ => return bind_err!("unknown function {name}"),
    })
}

/// `EXTRACT(part FROM d)`: BIGINT (the epoch: DOUBLE) of a DATE or TIMESTAMP.
pub fn extract(part: DatePart, d: Expr) -> Result<Expr> {
    let d = temporal(d, "EXTRACT")?;
    let t = if part == DatePart::Epoch {
        DataType::Float64
    } else {
        DataType::Int64
    };
    Ok(call(ScalarFunc::Extract(part), vec![d], t))
}

/// `x ** y` / `x ^ y` / `power(x, y)`: DOUBLE.
pub fn power(x: Expr, y: Expr) -> Result<Expr> {
    let args = doubles(vec![x, y], "power")?;
    Ok(call(ScalarFunc::Power, args, DataType::Float64))
}

/// Today's date (UTC), as `current_date` gives it.
fn today() -> i32 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (seconds / 86_400) as i32
}

/// A DATE or TIMESTAMP argument (a string or NULL is read as a DATE).
fn temporal(e: Expr, what: &str) -> Result<Expr> {
    match e.data_type() {
        DataType::Date32 | DataType::Timestamp(..) => Ok(e),
        DataType::Utf8 | DataType::Null => cast(e, &DataType::Date32),
        other => bind_err!(
            "{what} needs a DATE or TIMESTAMP, not {}",
            type_name(&other)
        ),
    }
}

/// The date part a constant string names (`date_part('year', d)`).
fn part_argument(e: &Expr, what: &str) -> Result<DatePart> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(name))) => DatePart::from_name(name)
            .ok_or_else(|| Error::Bind(format!("{what}: unknown date part '{name}'"))),
        other => unsupported!("{what} with a date part that is not a constant string: {other}"),
    }
}

fn numeric(e: &Expr, what: &str) -> Result<DataType> {
    let t = e.data_type();
    if is_numeric(&t) {
        Ok(t)
    } else if t == DataType::Null {
        Ok(DataType::Float64)
    } else {
        bind_err!("{what} needs a number, not {}", type_name(&t))
    }
}

/// Arguments cast to DOUBLE (numbers and NULL only).
fn doubles(args: Vec<Expr>, what: &str) -> Result<Vec<Expr>> {
    args.into_iter()
        .map(|a| {
            numeric(&a, what)?;
            cast(a, &DataType::Float64)
        })
        .collect()
}

/// An integer argument, as BIGINT.
fn integer(e: Expr, what: &str) -> Result<Expr> {
    let t = e.data_type();
    if !is_integer(&t) && t != DataType::Null {
        return bind_err!("{what} needs an integer, not {}: {e}", type_name(&t));
    }
    cast(e, &DataType::Int64)
}

/// `round(x [, digits])` / `trunc(x [, digits])`: integers and doubles keep
/// their type, a DECIMAL(p, s) becomes DECIMAL(p, min(s, max(digits, 0))).
fn round(name: &str, mut args: Vec<Expr>) -> Result<Expr> {
    let func = if name == "round" {
        ScalarFunc::Round
    } else {
        ScalarFunc::Trunc
    };
    let t = numeric(&args[0], name)?;
    let x = cast(args.remove(0), &t)?;
    let digits = match args.pop() {
        Some(d) => {
            let d = integer(d, name)?;
            if !matches!(d, Expr::Literal(_)) {
                return bind_err!("{name}'s number of digits must be a constant");
            }
            Some(d)
        }
        None => None,
    };
    let places = match &digits {
        Some(Expr::Literal(ScalarValue::Int64(Some(d)))) => *d,
        _ => 0,
    };
    let out = match t {
        DataType::Decimal128(p, s) => DataType::Decimal128(p, (s as i64).min(places.max(0)) as i8),
        other => other,
    };
    let mut args = vec![x];
    args.extend(digits);
    Ok(call(func, args, out))
}

pub fn unify(args: &[Expr], what: &str) -> Result<DataType> {
    args.iter().try_fold(DataType::Null, |acc, a| {
        common_type(&acc, &a.data_type()).ok_or_else(|| {
            Error::Bind(format!(
                "{what}: arguments of types {} and {} have no common type",
                type_name(&acc),
                type_name(&a.data_type())
            ))
        })
    })
}

pub fn substring(mut args: Vec<Expr>) -> Result<Expr> {
    let s = to_string_type(args.remove(0), "SUBSTRING")?;
    let mut bound = vec![s];
    for a in args {
        bound.push(integer(a, "SUBSTRING")?);
    }
    Ok(call(ScalarFunc::Substring, bound, DataType::Utf8))
}
