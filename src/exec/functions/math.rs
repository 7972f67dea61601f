//! Numeric functions: `abs`, `round` / `trunc` (half away from zero / toward
//! zero, to a constant number of digits), `floor` / `ceil`, `sign`, the DOUBLE
//! functions (`ln`, `sqrt`, `sin`, `power`, ...), `gcd` / `lcm` and `factorial`.
//! Integer results that would overflow are errors, as everywhere.

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::*;
use arrow::error::ArrowError;

use super::typed;
use crate::error::{Error, Result};
use crate::exec::expr::{cast, div_round_half_away, overflow};
use crate::plan::FloatFunc;
use crate::types::type_name;

pub fn abs(a: &ArrayRef) -> Result<ArrayRef> {
    let checked = |v: Option<i64>, text: String| {
        v.ok_or_else(|| ArrowError::ArithmeticOverflow(format!("Overflow on abs({text})")))
    };
    Ok(match a.data_type() {
        DataType::Int32 => Arc::new(
            a.as_primitive::<Int32Type>()
                .try_unary::<_, Int32Type, _>(|v| {
                    checked(v.checked_abs().map(i64::from), v.to_string()).map(|v| v as i32)
                })
                .map_err(overflow)?,
        ),
        DataType::Int64 => Arc::new(
            a.as_primitive::<Int64Type>()
                .try_unary::<_, Int64Type, _>(|v| checked(v.checked_abs(), v.to_string()))
                .map_err(overflow)?,
        ),
        DataType::Float64 => Arc::new(
            a.as_primitive::<Float64Type>()
                .unary::<_, Float64Type>(f64::abs),
        ),
        DataType::Decimal128(p, s) => Arc::new(
            a.as_primitive::<Decimal128Type>()
                .unary::<_, Decimal128Type>(i128::abs)
                .with_precision_and_scale(*p, *s)?,
        ),
        other => return Err(Error::Execute(format!("abs of {}", type_name(other)))),
    })
}

/// `round(a, digits)` (half away from zero), or with `toward_zero`,
/// `trunc(a, digits)`; a negative `digits` rounds to tens, hundreds, ...
/// DECIMALs come out at the scale of `out`; NULL digits give NULL.
pub fn round(
    a: &ArrayRef,
    digits: Option<i64>,
    toward_zero: bool,
    out: &DataType,
) -> Result<ArrayRef> {
    let Some(digits) = digits else {
        return Ok(new_null_array(out, a.len()));
    };
    // The unscaled value `v` at `drop` fewer decimal places, then back.
    let round_unscaled = |v: i128, drop: u32| -> Option<i128> {
        let unit = 10i128.checked_pow(drop)?;
        let q = if toward_zero {
            v / unit
        } else {
            div_round_half_away(v, unit)
        };
        Some(q)
    };
    let integers = |v: i128| -> Result<i128, ArrowError> {
        if digits >= 0 {
            return Ok(v);
        }
        let drop = (-digits).min(38) as u32;
        let unit = 10i128.pow(drop);
        round_unscaled(v, drop)
            .and_then(|q| q.checked_mul(unit))
            .ok_or_else(|| ArrowError::ArithmeticOverflow(format!("round({v}, {digits})")))
    };
    Ok(match a.data_type() {
        DataType::Float64 => {
            let f = |v: f64| round_double(v, digits, toward_zero);
            Arc::new(a.as_primitive::<Float64Type>().unary::<_, Float64Type>(f))
        }
        DataType::Int32 => Arc::new(
            a.as_primitive::<Int32Type>()
                .try_unary::<_, Int32Type, _>(|v| {
                    integers(v as i128).and_then(|r| {
                        i32::try_from(r)
                            .map_err(|_| ArrowError::ArithmeticOverflow(format!("round({v})")))
                    })
                })
                .map_err(overflow)?,
        ),
        DataType::Int64 => Arc::new(
            a.as_primitive::<Int64Type>()
                .try_unary::<_, Int64Type, _>(|v| {
                    integers(v as i128).and_then(|r| {
                        i64::try_from(r)
                            .map_err(|_| ArrowError::ArithmeticOverflow(format!("round({v})")))
                    })
                })
                .map_err(overflow)?,
        ),
        DataType::Decimal128(_, s) => {
            let DataType::Decimal128(p_out, s_out) = out else {
                return Err(Error::Execute(format!(
                    "internal error: rounding a DECIMAL to {}",
                    type_name(out)
                )));
            };
            // Round away the digits below 10^-digits: the result has
            // `s - drop` decimals, which is `s_out` or (for negative digits)
            // fewer, then widened to `s_out` = 0.
            let s = *s as i64;
            let drop = (s - digits).clamp(0, 38) as u32;
            let widen = 10i128.pow((drop as i64 + *s_out as i64 - s).max(0) as u32);
            let decimals = a.as_primitive::<Decimal128Type>();
            let rounded = decimals.try_unary::<_, Decimal128Type, _>(|v| {
                round_unscaled(v, drop)
                    .and_then(|r| r.checked_mul(widen))
                    .ok_or_else(|| ArrowError::ArithmeticOverflow(format!("round({v})")))
            });
            Arc::new(
                rounded
                    .map_err(overflow)?
                    .with_precision_and_scale(*p_out, *s_out)?,
            )
        }
        _ => a.clone(),
    })
}

/// A double rounded to `digits` decimals by its exact value (half away from
/// zero, or toward zero), as DuckDB rounds: 2.675 is stored as 2.67499999...,
/// so it rounds to 2.67, though 2.675 * 100 is 267.5 in doubles.
fn round_double(v: f64, digits: i64, toward_zero: bool) -> f64 {
    if !v.is_finite() {
        return v;
    }
    if digits <= 0 || digits > 300 {
        let factor = 10f64.powi(digits.clamp(-300, 300) as i32);
        let x = v * factor;
        let r = if toward_zero { x.trunc() } else { x.round() };
        return if r.is_finite() { r / factor } else { v };
    }
    // The exact decimal expansion to 25 more digits than kept decides.
    let digits = digits as usize;
    let text = format!("{:.*}", digits + 25, v.abs());
    let (kept, rest) = text.split_at(text.len() - 25);
    let up = !toward_zero && rest.as_bytes()[0] >= b'5';
    let mut r: f64 = kept.parse().unwrap_or(v.abs());
    if up {
        r += 10f64.powi(-(digits as i32));
        // Back to the nearest double of the decimal that was meant.
        r = format!("{:.*}", digits, r).parse().unwrap_or(r);
    }
    r.copysign(v)
}

/// `floor` or `ceil`: a DECIMAL to a DECIMAL of scale 0, any other number to
/// a DOUBLE.
pub fn floor_ceil(a: &ArrayRef, ceil: bool, out: &DataType) -> Result<ArrayRef> {
    Ok(match (a.data_type(), out) {
        (DataType::Decimal128(_, s), DataType::Decimal128(p, 0)) => {
            let unit = 10i128.pow(*s as u32);
            let f = |v: i128| {
                let q = v.div_euclid(unit);
                if ceil && v.rem_euclid(unit) != 0 {
                    q + 1
                } else {
                    q
                }
            };
            Arc::new(
                a.as_primitive::<Decimal128Type>()
                    .unary::<_, Decimal128Type>(f)
                    .with_precision_and_scale(*p, 0)?,
            )
        }
        _ => {
            let floats = cast(a, &DataType::Float64)?;
            let f = if ceil { f64::ceil } else { f64::floor };
            Arc::new(
                floats
                    .as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(f),
            )
        }
    })
}

/// -1, 0 or 1 (0 also for NaN), as INTEGER.
pub fn sign(a: &ArrayRef) -> Result<ArrayRef> {
    let floats = cast(a, &DataType::Float64)?;
    let f = |v: f64| {
        if v > 0.0 {
            1
        } else if v < 0.0 {
            -1
        } else {
            0
        }
    };
    Ok(Arc::new(
        floats
            .as_primitive::<Float64Type>()
            .unary::<_, Int32Type>(f),
    ))
}

pub fn float_function(f: FloatFunc, a: &ArrayRef) -> ArrayRef {
    let floats = a.as_primitive::<Float64Type>();
    Arc::new(floats.unary::<_, Float64Type>(|x| f.apply(x)))
}

/// A function of two DOUBLEs.
pub fn float_binary(args: &[ArrayRef], f: impl Fn(f64, f64) -> f64) -> ArrayRef {
    let (a, b) = (
        args[0].as_primitive::<Float64Type>(),
        args[1].as_primitive::<Float64Type>(),
    );
    let result: Float64Array = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| Some(f(x?, y?)))
        .collect();
    Arc::new(result)
}

/// A test of a DOUBLE (`isnan`, `isinf`, `isfinite`).
pub fn float_test(a: &ArrayRef, f: impl Fn(f64) -> bool) -> ArrayRef {
    let floats = a.as_primitive::<Float64Type>();
    Arc::new(floats.iter().map(|v| v.map(&f)).collect::<BooleanArray>())
}

/// `gcd(a, b)` (or with `lcm`, `lcm(a, b)`) of BIGINTs: never negative.
pub fn gcd_lcm(args: &[ArrayRef], lcm: bool) -> Result<ArrayRef> {
    let a = typed::<Int64Type>(&args[0], "gcd")?;
    let b = typed::<Int64Type>(&args[1], "gcd")?;
    let gcd = |mut x: i128, mut y: i128| {
        while y != 0 {
            (x, y) = (y, x % y);
        }
        x.abs()
    };
    let mut out = Int64Builder::with_capacity(a.len());
    for (x, y) in a.iter().zip(b.iter()) {
        let (Some(x), Some(y)) = (x, y) else {
            out.append_null();
            continue;
        };
        let g = gcd(x as i128, y as i128);
        let v = if !lcm {
            g
        } else if g == 0 {
            0
        } else {
            (x as i128 / g * y as i128).abs()
        };
        let v = i64::try_from(v).map_err(|_| {
            Error::Execute(format!(
                "Out of Range Error: {}({x}, {y}) is out of the range of BIGINT",
                if lcm { "lcm" } else { "gcd" }
            ))
        })?;
        out.append_value(v);
    }
    Ok(Arc::new(out.finish()))
}

/// `n!` as a DECIMAL(38,0) (DuckDB's HUGEINT); an error for a negative n or
/// one whose factorial has more than 38 digits.
pub fn factorial(a: &ArrayRef) -> Result<ArrayRef> {
    let n = typed::<Int64Type>(a, "factorial")?;
    let mut out = Decimal128Builder::with_capacity(n.len());
    for v in n.iter() {
        let Some(v) = v else {
            out.append_null();
            continue;
        };
        if v < 0 {
            return Err(Error::Execute(
                "Out of Range Error: factorial of a negative number is undefined".into(),
            ));
        }
        let mut f: i128 = 1;
        for k in 2..=v as i128 {
            f = f
                .checked_mul(k)
                .filter(|f| *f < 10i128.pow(38))
                .ok_or_else(|| {
                    Error::Execute(format!("Out of Range Error: factorial({v}) is too large"))
                })?;
        }
        out.append_value(f);
    }
    Ok(Arc::new(out.finish().with_precision_and_scale(38, 0)?))
}
