//! Built-in scalar functions, a column at a time.
//!
//! The binder has already checked the arguments and cast them to the types each
//! function takes, so a function here reads its arguments as those Arrow types
//! and produces its result type. Arguments arrive as [`ColumnarValue`]s: a
//! constant argument (a pattern, a separator, a date part's format) is seen as
//! one value, so that, say, a regular expression is compiled once per batch.
//! NULL in, NULL out, unless the function says otherwise (`concat`, `coalesce`,
//! `greatest`).

mod dates;
mod math;
mod strings;

use std::sync::Arc;

use arrow::array::*;
use arrow::compute::kernels::{cmp, zip::zip};
use arrow::datatypes::*;

use super::expr::{cast, null_as_false, ColumnarValue};
use crate::error::{Error, Result};
use crate::plan::{Expr, ScalarFunc};
use crate::types::exact_ratio;

/// The value of `func` over `args` (each a column of `n` rows or a constant).
pub fn call(
    func: &ScalarFunc,
    args: &[ColumnarValue],
    n: usize,
    data_type: &DataType,
    expr: &Expr,
) -> Result<ArrayRef> {
    let arrays = || -> Vec<ArrayRef> { args.iter().map(|a| a.clone().into_array(n)).collect() };
    let result = match func {
        ScalarFunc::Extract(part) => dates::extract(*part, &arrays()[0])?,
        ScalarFunc::DateTrunc(part) => dates::date_trunc(*part, &arrays()[0])?,
        ScalarFunc::DateDiff(part) => dates::date_diff(*part, &arrays(), false)?,
        ScalarFunc::DateSub(part) => dates::date_diff(*part, &arrays(), true)?,
        ScalarFunc::MakeDate => dates::make_date(&arrays())?,
        ScalarFunc::LastDay => dates::last_day(&arrays()[0])?,
        ScalarFunc::DayName => dates::day_name(&arrays()[0], false)?,
        ScalarFunc::MonthName => dates::day_name(&arrays()[0], true)?,
        ScalarFunc::Strftime => dates::strftime(&arrays())?,
        ScalarFunc::Strptime => dates::strptime(&arrays())?,
        ScalarFunc::Abs => math::abs(&arrays()[0])?,
        ScalarFunc::Round => math::round(&arrays()[0], digits(args)?, false, data_type)?,
        ScalarFunc::Trunc => math::round(&arrays()[0], digits(args)?, true, data_type)?,
        ScalarFunc::Floor => math::floor_ceil(&arrays()[0], false, data_type)?,
        ScalarFunc::Ceil => math::floor_ceil(&arrays()[0], true, data_type)?,
        ScalarFunc::Sign => math::sign(&arrays()[0])?,
        ScalarFunc::Float(f) => math::float_function(*f, &arrays()[0]),
        ScalarFunc::Power => math::float_binary(&arrays(), f64::powf),
        ScalarFunc::LogBase => math::float_binary(&arrays(), |base, x| x.ln() / base.ln()),
        ScalarFunc::Atan2 => math::float_binary(&arrays(), f64::atan2),
        ScalarFunc::Pi => Arc::new(Float64Array::from_value(std::f64::consts::PI, n)),
        ScalarFunc::Gcd => math::gcd_lcm(&arrays(), false)?,
        ScalarFunc::Lcm => math::gcd_lcm(&arrays(), true)?,
        ScalarFunc::Factorial => math::factorial(&arrays()[0])?,
        ScalarFunc::IsNan => math::float_test(&arrays()[0], f64::is_nan),
        ScalarFunc::IsInf => math::float_test(&arrays()[0], f64::is_infinite),
        ScalarFunc::IsFinite => math::float_test(&arrays()[0], f64::is_finite),
        ScalarFunc::Greatest => greatest_or_least(&arrays(), true)?,
        ScalarFunc::Least => greatest_or_least(&arrays(), false)?,
        ScalarFunc::Coalesce => {
            let arrays = arrays();
            let mut result = arrays[0].clone();
            for next in &arrays[1..] {
                let present = arrow::compute::is_not_null(&result)?;
                result = zip(&present, &result, next)?;
            }
            result
        }
        ScalarFunc::NullIf => {
            let arrays = arrays();
            let equal = cmp::eq(&arrays[0], &arrays[1])?;
            let equal = null_as_false(&equal);
            arrow::compute::nullif(&arrays[0], &equal)?
        }
        ScalarFunc::TryCast => try_cast(&arrays()[0], data_type)?,
        ScalarFunc::SingleRow => {
            let arrays = arrays();
            let counts = typed::<Int64Type>(&arrays[0], "single_row")?;
            if counts.iter().any(|c| c.is_some_and(|c| c > 1)) {
                return Err(Error::Execute(
                    "More than one row returned by a subquery used as an expression".into(),
                ));
            }
            arrays[1].clone()
        }
        ScalarFunc::AvgOfState => {
            let arrays = arrays();
            avg_of_state(&arrays[0], &arrays[1])?
        }
        ScalarFunc::Grouping => {
            return Err(Error::Execute(format!(
                "{expr}: GROUPING is only allowed in a grouped query"
            )))
        }
        string_function => strings::call(string_function, args, n, expr)?,
    };
    if result.data_type() == data_type {
        Ok(result)
    } else {
        cast(&result, data_type)
    }
}

/// The constant number of digits of `round(x, digits)` / `trunc(x, digits)`
/// (0 without one); None for a NULL.
fn digits(args: &[ColumnarValue]) -> Result<Option<i64>> {
    match args.get(1) {
        None => Ok(Some(0)),
        Some(ColumnarValue::Scalar(s)) => Ok(match s {
            crate::types::ScalarValue::Int64(v) => *v,
            crate::types::ScalarValue::Int32(v) => v.map(i64::from),
            _ => None,
        }),
        Some(ColumnarValue::Array(_)) => Err(Error::Execute(
            "the number of digits to round to must be a constant".into(),
        )),
    }
}

/// `TRY_CAST`: the cast where it succeeds, NULL where it fails.
fn try_cast(a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if let Ok(whole) = cast(a, to) {
        return Ok(whole);
    }
    // Cast row by row, so that each failing row (and only it) becomes NULL.
    let mut parts = Vec::with_capacity(a.len());
    for row in 0..a.len() {
        let one = a.slice(row, 1);
        parts.push(cast(&one, to).unwrap_or_else(|_| new_null_array(to, 1)));
    }
    let refs: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
    Ok(arrow::compute::concat(&refs)?)
}

/// The greatest (or least) non-NULL value of each row; NULL when all are.
fn greatest_or_least(args: &[ArrayRef], greatest: bool) -> Result<ArrayRef> {
    let mut result = args[0].clone();
    for next in &args[1..] {
        // Take `next` where `result` is NULL, or where `next` is better.
        let better = if greatest {
            arrow::compute::kernels::cmp::gt(next, &result)?
        } else {
            arrow::compute::kernels::cmp::lt(next, &result)?
        };
        let better = null_as_false(&better);
        let missing = arrow::compute::is_null(&result)?;
        let take = arrow::compute::or(&better, &missing)?;
        result = zip(&take, next, &result)?;
    }
    Ok(result)
}

/// sum / count as the AVG aggregate computes it (a decimal's unscaled sum divided
/// by count·10^scale, in doubles); NULL where the count is 0 or NULL.
fn avg_of_state(sum: &ArrayRef, count: &ArrayRef) -> Result<ArrayRef> {
    let count = count.as_primitive::<Int64Type>();
    let valid = |i: usize| sum.is_valid(i) && count.is_valid(i) && count.value(i) > 0;
    let result: Float64Array = match sum.data_type() {
        DataType::Decimal128(_, s) => {
            let scale = 10i128.pow(*s as u32);
            let sum = sum.as_primitive::<Decimal128Type>();
            (0..sum.len())
                .map(|i| {
                    valid(i).then(|| exact_ratio(sum.value(i), count.value(i) as i128 * scale))
                })
                .collect()
        }
        DataType::Int64 => {
            let sum = sum.as_primitive::<Int64Type>();
            (0..sum.len())
                .map(|i| {
                    valid(i).then(|| exact_ratio(sum.value(i) as i128, count.value(i) as i128))
                })
                .collect()
        }
        _ => {
            let floats = cast(sum, &DataType::Float64)?;
            let floats = floats.as_primitive::<Float64Type>();
            (0..floats.len())
                .map(|i| valid(i).then(|| floats.value(i) / count.value(i) as f64))
                .collect()
        }
    };
    Ok(Arc::new(result))
}

/// An argument the binder cast to `T`, as that array type.
fn typed<'a, T: ArrowPrimitiveType>(a: &'a ArrayRef, what: &str) -> Result<&'a PrimitiveArray<T>> {
    a.as_primitive_opt::<T>().ok_or_else(|| {
        Error::Execute(format!(
            "internal error: {what} expects {} arguments, not {}",
            T::DATA_TYPE,
            a.data_type()
        ))
    })
}
