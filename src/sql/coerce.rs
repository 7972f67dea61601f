//! Implicit type rules, as DuckDB applies them: which common type two operands
//! are compared or combined in, and what type arithmetic produces.

use arrow::datatypes::DataType;

use crate::types::MAX_DECIMAL_PRECISION;

/// Digits needed to the left of the point for an integer type.
fn integer_digits(dt: &DataType) -> Option<i16> {
    match dt {
        DataType::Int32 => Some(10),
        DataType::Int64 => Some(19),
        _ => None,
    }
}

pub fn is_numeric(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int32 | DataType::Int64 | DataType::Float64 | DataType::Decimal128(_, _)
    )
}

pub fn is_integer(dt: &DataType) -> bool {
    matches!(dt, DataType::Int32 | DataType::Int64)
}

fn decimal(int_digits: i16, scale: i16) -> DataType {
    let precision = (int_digits + scale).clamp(1, MAX_DECIMAL_PRECISION as i16);
    DataType::Decimal128(precision as u8, scale.min(precision) as i8)
}

/// The DECIMAL an integer type converts to without loss (`INTEGER` -> `DECIMAL(10,0)`).
pub fn integer_as_decimal(dt: &DataType) -> Option<DataType> {
    integer_digits(dt).map(|d| decimal(d, 0))
}

/// The type both operands of a comparison, CASE branch or IN list are cast to;
/// `None` when there is none (`VARCHAR` with `INTEGER` columns, say).
pub fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    if a == b {
        return Some(a.clone());
    }
    Some(match (a, b) {
        (Null, other) | (other, Null) => other.clone(),
        (Int32, Int64) | (Int64, Int32) => Int64,
        (Date32, Timestamp(..)) | (Timestamp(..), Date32) => crate::types::TIMESTAMP,
        (Float64, x) | (x, Float64) if is_numeric(x) => Float64,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            let scale = (*s1).max(*s2) as i16;
            let int_digits = (*p1 as i16 - *s1 as i16).max(*p2 as i16 - *s2 as i16);
            decimal(int_digits, scale)
        }
        (Decimal128(p, s), int) | (int, Decimal128(p, s)) if is_integer(int) => {
            let int_digits = (*p as i16 - *s as i16).max(integer_digits(int)?);
            decimal(int_digits, *s as i16)
        }
        _ => return None,
    })
}

/// The result type of `+ - *` on two DECIMALs, the same rule Arrow's kernels use.
pub fn decimal_arithmetic_type(plus_minus: bool, a: (u8, i8), b: (u8, i8)) -> Option<DataType> {
    let (p1, s1) = (a.0 as i16, a.1 as i16);
    let (p2, s2) = (b.0 as i16, b.1 as i16);
    let max = MAX_DECIMAL_PRECISION as i16;
    if plus_minus {
        let scale = s1.max(s2);
        let precision = (scale + (p1 - s1).max(p2 - s2) + 1).min(max);
        Some(DataType::Decimal128(precision as u8, scale as i8))
    } else {
        let scale = s1 + s2;
        if scale > max {
            return None;
        }
        let precision = (p1 + p2 + 1).min(max);
        Some(DataType::Decimal128(precision as u8, scale as i8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataType::*;

    #[test]
    fn common_types() {
        assert_eq!(common_type(&Int32, &Int64), Some(Int64));
        assert_eq!(
            common_type(&Int32, &Decimal128(15, 2)),
            Some(Decimal128(15, 2))
        );
        assert_eq!(
            common_type(&Decimal128(15, 2), &Decimal128(4, 3)),
            Some(Decimal128(16, 3))
        );
        assert_eq!(common_type(&Float64, &Decimal128(15, 2)), Some(Float64));
        assert_eq!(common_type(&Utf8, &Int32), None);
        assert_eq!(common_type(&Null, &Date32), Some(Date32));
    }
}
