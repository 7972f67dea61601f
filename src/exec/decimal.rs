//! `+`, `-` and `*` of DECIMAL columns without a check per value.
//!
//! Arrow's kernels check every product and sum for overflow and every result
//! for its precision, one value at a time. Here a bound of the magnitudes of
//! each operand is found first (the power of two above the largest, by OR-ing
//! the values' bits: one pass that the compiler vectorizes); when those
//! bounds prove that no result can leave the result type's precision, the
//! operation runs as plain `i128` arithmetic over the value buffers. Otherwise
//! (values near the limits) the caller falls back to Arrow's checked kernels,
//! which report the overflow. The result type is the one Arrow's kernel gives.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Datum, PrimitiveArray};
use arrow::buffer::{Buffer, NullBuffer, ScalarBuffer};
use arrow::compute::kernels::numeric;
use arrow::datatypes::{DataType, Decimal128Type};

use crate::buffer_pool;
use crate::error::Result;

/// A DECIMAL operand: a column, or one value for every row.
pub enum Operand<'a> {
    Column(&'a PrimitiveArray<Decimal128Type>),
    Constant(i128),
}

#[derive(Clone, Copy, PartialEq)]
pub enum Op {
    Add,
    Sub,
    Mul,
}

impl Operand<'_> {
    /// A bound of the magnitude of the operand's values (NULL slots included):
    /// for a column, the largest magnitude rounded up to a power of two minus
    /// one, found by OR-ing every value's bits (with negative values
    /// complemented), which vectorizes where a running maximum of `i128`s does
    /// not.
    fn max_magnitude(&self) -> u128 {
        match self {
            Operand::Column(a) => {
                let bits = a
                    .values()
                    .iter()
                    .fold(0u128, |acc, &v| acc | (v ^ (v >> 127)) as u128);
                // Every |v| (or |v| - 1 for negative v) is below 2^(bits' width).
                match bits {
                    0 => 1,
                    b => (u128::MAX >> b.leading_zeros()).saturating_add(1),
                }
            }
            Operand::Constant(v) => v.unsigned_abs(),
        }
    }

    fn nulls(&self) -> Option<&NullBuffer> {
        match self {
            Operand::Column(a) => a.nulls(),
            Operand::Constant(_) => None,
        }
    }
}

/// `l op r` for `n` rows (operands of types `l_type` and `r_type`), or None
/// when it must be left to the checked kernels (operand types other than
/// DECIMAL, or values too large to rule out overflow).
pub fn arithmetic(
    op: Op,
    l: &Operand,
    r: &Operand,
    (l_type, r_type): (&DataType, &DataType),
    n: usize,
) -> Option<Result<ArrayRef>> {
    let (DataType::Decimal128(_, ls), DataType::Decimal128(_, rs)) = (l_type, r_type) else {
        return None;
    };
    let result_type = result_type(op, l_type, r_type)?;
    let DataType::Decimal128(precision, scale) = result_type else {
        return None;
    };
    // Add and subtract bring both sides to the result's scale first; a product's
    // scale is the sum of the operands' (anything else is left to Arrow).
    let (lf, rf) = match op {
        Op::Mul if scale != *ls + *rs => return None,
        Op::Mul => (1i128, 1i128),
        Op::Add | Op::Sub => (
            10i128.checked_pow((scale - *ls) as u32)?,
            10i128.checked_pow((scale - *rs) as u32)?,
        ),
    };
    let limit = 10u128.checked_pow(precision as u32)? - 1;
    let (lm, rm) = (
        l.max_magnitude().checked_mul(lf as u128)?,
        r.max_magnitude().checked_mul(rf as u128)?,
    );
    let bound = match op {
        Op::Mul => lm.checked_mul(rm)?,
        Op::Add | Op::Sub => lm.checked_add(rm)?,
    };
    if bound > limit {
        return None;
    }
    // Within 64 bits (the usual case: DECIMAL(15,2) prices and rates), every
    // operand and result fits an i64, whose products are one instruction.
    let values = if bound <= i64::MAX as u128 {
        let (lf, rf) = (lf as i64, rf as i64);
        match op {
            Op::Mul => combine(l, r, n, |a, b| (a as i64 * b as i64) as i128),
            Op::Add => combine(l, r, n, |a, b| (a as i64 * lf + b as i64 * rf) as i128),
            Op::Sub => combine(l, r, n, |a, b| (a as i64 * lf - b as i64 * rf) as i128),
        }
    } else {
        match op {
            Op::Mul => combine(l, r, n, |a, b| a * b),
            Op::Add => combine(l, r, n, |a, b| a * lf + b * rf),
            Op::Sub => combine(l, r, n, |a, b| a * lf - b * rf),
        }
    };
    let nulls = NullBuffer::union(l.nulls(), r.nulls());
    let array = PrimitiveArray::<Decimal128Type>::new(values, nulls).with_data_type(result_type);
    Some(Ok(Arc::new(array)))
}

/// `f(l, r)` for each of `n` rows (NULL slots included: their values are
/// ignored, and `arithmetic`'s bounds cover them too).
fn combine(
    l: &Operand,
    r: &Operand,
    n: usize,
    f: impl Fn(i128, i128) -> i128,
) -> ScalarBuffer<i128> {
    let values = match (l, r) {
        (Operand::Column(a), Operand::Column(b)) => {
            buffer_pool::zip_map(a.values(), b.values(), |&x, &y| f(x, y))
        }
        (Operand::Column(a), Operand::Constant(c)) => buffer_pool::map(a.values(), |&x| f(x, *c)),
        (Operand::Constant(c), Operand::Column(b)) => buffer_pool::map(b.values(), |&y| f(*c, y)),
        (Operand::Constant(x), Operand::Constant(y)) => Buffer::from_vec(vec![f(*x, *y); n]),
    };
    values.into()
}

/// The type Arrow's kernel gives `l op r` (computed on one row of zeros).
fn result_type(op: Op, l: &DataType, r: &DataType) -> Option<DataType> {
    let zero = |t: &DataType| -> ArrayRef {
        Arc::new(PrimitiveArray::<Decimal128Type>::from(vec![0i128]).with_data_type(t.clone()))
    };
    let (a, b) = (zero(l), zero(r));
    let (a, b): (&dyn Datum, &dyn Datum) = (&a, &b);
    let out = match op {
        Op::Add => numeric::add(a, b),
        Op::Sub => numeric::sub(a, b),
        Op::Mul => numeric::mul(a, b),
    };
    Some(out.ok()?.data_type().clone())
}

/// An operand as a DECIMAL column or constant, if it is one.
pub fn operand(array: &ArrayRef, constant: bool) -> Option<Operand<'_>> {
    let a = array.as_primitive_opt::<Decimal128Type>()?;
    if constant {
        (a.len() == 1 && a.is_valid(0)).then(|| Operand::Constant(a.value(0)))
    } else {
        Some(Operand::Column(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimals(values: Vec<Option<i128>>, p: u8, s: i8) -> ArrayRef {
        Arc::new(
            PrimitiveArray::<Decimal128Type>::from(values)
                .with_data_type(DataType::Decimal128(p, s)),
        )
    }

    /// The fast path's result equals Arrow's checked kernel's, type included.
    fn same_as_arrow(op: Op, l: &ArrayRef, r: &ArrayRef) {
        let fast = arithmetic(
            op,
            &operand(l, false).unwrap(),
            &operand(r, false).unwrap(),
            (l.data_type(), r.data_type()),
            l.len(),
        )
        .expect("fast path taken")
        .unwrap();
        let (a, b): (&dyn Datum, &dyn Datum) = (l, r);
        let arrow = match op {
            Op::Add => numeric::add(a, b),
            Op::Sub => numeric::sub(a, b),
            Op::Mul => numeric::mul(a, b),
        }
        .unwrap();
        assert_eq!(fast.to_data(), arrow.to_data());
    }

    #[test]
    fn agrees_with_arrow() {
        let price = decimals(vec![Some(123456), None, Some(-99), Some(0)], 15, 2);
        let discount = decimals(vec![Some(5), Some(7), None, Some(10)], 15, 2);
        let rate = decimals(vec![Some(1), Some(2), Some(3), Some(-4)], 4, 0);
        // Beyond 64 bits (products near 10^30), still within 38 digits.
        let wide = decimals(
            vec![Some(10i128.pow(15) + 7), Some(-(10i128.pow(14))), None],
            20,
            4,
        );
        let wider = decimals(vec![Some(3 * 10i128.pow(15)), Some(5), Some(1)], 17, 1);
        for op in [Op::Add, Op::Sub, Op::Mul] {
            same_as_arrow(op, &price, &discount);
            same_as_arrow(op, &price, &rate);
            same_as_arrow(op, &rate, &discount);
            same_as_arrow(op, &wide, &wider);
        }
    }

    #[test]
    fn leaves_possible_overflow_to_the_checked_kernel() {
        let big = decimals(vec![Some(10i128.pow(38) - 5), Some(1)], 38, 0);
        let ten = decimals(vec![Some(10), Some(10)], 38, 0);
        let l = operand(&big, false).unwrap();
        let r = operand(&ten, false).unwrap();
        let types = (big.data_type(), ten.data_type());
        assert!(arithmetic(Op::Mul, &l, &r, types, 2).is_none());
        assert!(arithmetic(Op::Add, &l, &r, types, 2).is_none());
    }

    #[test]
    fn magnitude_bounds_cover_every_value() {
        let cases: Vec<Vec<i128>> = vec![
            vec![0, 0],
            vec![-1],
            vec![1],
            vec![5, -8, 7],
            vec![-1024, 1023],
            vec![i64::MAX as i128, i64::MIN as i128],
            vec![i128::MAX, 3],
            vec![i128::MIN + 1],
        ];
        for values in cases {
            let array = PrimitiveArray::<Decimal128Type>::from(values.clone());
            let bound = Operand::Column(&array).max_magnitude();
            let largest = values.iter().map(|v| v.unsigned_abs()).max().unwrap();
            assert!(bound >= largest, "{values:?}: {bound} < {largest}");
            // At most twice the largest (a power of two), or 1 for zeros.
            assert!(bound <= (2 * largest).max(1), "{values:?}: {bound}");
        }
    }

    #[test]
    fn constants() {
        let one = decimals(vec![Some(1)], 1, 0);
        let discount = decimals(vec![Some(5), None, Some(100)], 15, 2);
        let fast = arithmetic(
            Op::Sub,
            &operand(&one, true).unwrap(),
            &operand(&discount, false).unwrap(),
            (one.data_type(), discount.data_type()),
            3,
        )
        .unwrap()
        .unwrap();
        let arrow = numeric::sub(&arrow::array::Scalar::new(one.clone()), &discount).unwrap();
        assert_eq!(fast.to_data(), arrow.to_data());
    }
}
