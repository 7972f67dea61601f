//! Frame-of-reference packing of integers, dates and decimals ([`Encoding::Packed`]).
//!
//! A chunk of Int32, Date32, Int64 or Decimal128 values is stored as each value's
//! difference from the chunk's smallest value (`base`), in the fewest of 1, 2, 4 or 8
//! bytes that hold the largest difference, when that is fewer bytes than the type's
//! own. TPC-H's `l_discount` (DECIMAL(15,2), 16 bytes in Arrow) takes 1 byte a value,
//! its dates 2, its keys 4. The reader widens the rows it is asked for back to the
//! type's own layout, a loop the compiler vectorizes: reading a few bytes a value
//! from memory and widening them in cache costs less than reading the wide values.
//!
//! [`Encoding::Packed`]: super::Encoding::Packed

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array,
    PrimitiveArray, Scalar, TimestampMicrosecondArray, UInt64Array,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};
use arrow::compute::kernels::cmp;
use arrow::datatypes::{
    ArrowNativeType, ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, ToByteSlice, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use arrow::error::ArrowError;

use super::ZonePredicate;
use crate::buffer_pool::RowFilter;
use crate::types::ScalarValue;

/// A chunk's values packed: the base, the bytes per value, and the packed values.
pub struct Packed {
    pub base: i64,
    pub width: u8,
    pub bytes: Vec<u8>,
}

/// The bytes a value of `data_type` takes unpacked, for the types that pack.
fn native_width(data_type: &DataType) -> Option<u8> {
    match data_type {
        DataType::Int32 | DataType::Date32 => Some(4),
        DataType::Int64 | DataType::Timestamp(TimeUnit::Microsecond, None) => Some(8),
        DataType::Decimal128(..) => Some(16),
        _ => None,
    }
}

/// `array` packed, if its type packs and packing saves bytes. The values of NULL
/// rows are stored as 0 (the base).
pub fn pack(array: &dyn Array) -> Option<Packed> {
    let native = native_width(array.data_type())?;
    let values: Vec<i128> = match array.data_type() {
        DataType::Int32 => widened(array.as_primitive::<Int32Type>().values()),
        DataType::Date32 => widened(array.as_primitive::<Date32Type>().values()),
        DataType::Int64 => widened(array.as_primitive::<Int64Type>().values()),
        DataType::Timestamp(..) => {
            widened(array.as_primitive::<TimestampMicrosecondType>().values())
        }
        DataType::Decimal128(..) => array.as_primitive::<Decimal128Type>().values().to_vec(),
        _ => return None,
    };
    let valid = |row: usize| array.is_valid(row);
    let mut range: Option<(i128, i128)> = None;
    for (row, &v) in values.iter().enumerate() {
        if array.null_count() == 0 || valid(row) {
            range = Some(match range {
                Some((lo, hi)) => (lo.min(v), hi.max(v)),
                None => (v, v),
            });
        }
    }
    let (min, max) = range.unwrap_or((0, 0));
    let base = i64::try_from(min).ok()?;
    let spread = u128::try_from(max.checked_sub(min)?).ok()?;
    let width: u8 = match spread {
        s if s <= u8::MAX as u128 => 1,
        s if s <= u16::MAX as u128 => 2,
        s if s <= u32::MAX as u128 => 4,
        s if s <= u64::MAX as u128 => 8,
        _ => return None,
    };
    if width >= native {
        return None;
    }
    let offsets: Vec<u64> = values
        .iter()
        .enumerate()
        .map(|(row, &v)| {
            if array.null_count() == 0 || valid(row) {
                (v - min) as u64
            } else {
                0
            }
        })
        .collect();
    let bytes = match width {
        1 => offsets.iter().map(|&d| d as u8).collect(),
        2 => narrowed(&offsets, |d| d as u16),
        4 => narrowed(&offsets, |d| d as u32),
        _ => narrowed(&offsets, |d| d),
    };
    Some(Packed { base, width, bytes })
}

/// The bytes of `offsets`, each converted by `to`.
fn narrowed<T: ArrowNativeType>(offsets: &[u64], to: impl Fn(u64) -> T) -> Vec<u8> {
    let values: Vec<T> = offsets.iter().map(|&d| to(d)).collect();
    values.to_byte_slice().to_vec()
}

fn widened<T: Copy + Into<i128>>(values: &[T]) -> Vec<i128> {
    values.iter().map(|&v| v.into()).collect()
}

/// Rows of a packed chunk as read, not yet widened: each row's difference from
/// `base` in an unsigned integer array (UInt8 to UInt64, as wide as the chunk
/// stores them) over the mapped file, with the rows' NULLs.
#[derive(Debug, Clone)]
pub struct PackedRows {
    pub offsets: ArrayRef,
    pub base: i64,
    /// The column's type, which [`PackedRows::widen`] gives.
    pub data_type: DataType,
}

impl PackedRows {
    /// Rows `rows` of a packed chunk of `data_type` whose packed values are
    /// `stored` and whose NULLs (for those rows) are `nulls`. An error names what
    /// does not fit.
    pub fn new(
        stored: &Buffer,
        nulls: Option<NullBuffer>,
        data_type: &DataType,
        base: i64,
        width: u8,
        rows: Range<usize>,
    ) -> Result<PackedRows, String> {
        let native = native_width(data_type)
            .ok_or_else(|| format!("a column of type {data_type} is stored packed"))?;
        if !matches!(width, 1 | 2 | 4 | 8) || width >= native {
            return Err(format!(
                "{width} bytes a value in a packed {data_type} chunk"
            ));
        }
        let start = rows.start * width as usize;
        let len = rows.len() * width as usize;
        if start.checked_add(len).is_none_or(|end| end > stored.len()) {
            return Err(format!(
                "rows {rows:?} of a packed chunk of {} bytes",
                stored.len()
            ));
        }
        if nulls.as_ref().is_some_and(|n| n.len() != rows.len()) {
            return Err("the validity of a packed chunk has the wrong length".into());
        }
        let mut slice = stored.slice_with_length(start, len);
        if slice.as_ptr().align_offset(width as usize) != 0 {
            slice = Buffer::from(slice.as_slice()); // a copy, aligned
        }
        fn offsets<T: ArrowPrimitiveType>(values: Buffer, nulls: Option<NullBuffer>) -> ArrayRef {
            let len = values.len() / std::mem::size_of::<T::Native>();
            Arc::new(PrimitiveArray::<T>::new(
                ScalarBuffer::new(values, 0, len),
                nulls,
            ))
        }
        let offsets = match width {
            1 => offsets::<UInt8Type>(slice, nulls),
            2 => offsets::<UInt16Type>(slice, nulls),
            4 => offsets::<UInt32Type>(slice, nulls),
            _ => offsets::<UInt64Type>(slice, nulls),
        };
        Ok(PackedRows {
            offsets,
            base,
            data_type: data_type.clone(),
        })
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The rows `predicate` keeps, still packed.
    pub fn filter(&self, predicate: &RowFilter) -> Result<PackedRows, ArrowError> {
        Ok(PackedRows {
            offsets: predicate.filter(self.offsets.as_ref())?,
            ..self.clone()
        })
    }

    /// The rows in the column type's own layout.
    pub fn widen(&self) -> ArrayRef {
        let offsets = self.offsets.as_ref();
        let nulls = offsets.nulls().cloned();
        let values = match offsets.data_type() {
            DataType::UInt8 => self.widen_from(offsets.as_primitive::<UInt8Type>().values()),
            DataType::UInt16 => self.widen_from(offsets.as_primitive::<UInt16Type>().values()),
            DataType::UInt32 => self.widen_from(offsets.as_primitive::<UInt32Type>().values()),
            _ => self.widen_from(offsets.as_primitive::<UInt64Type>().values()),
        };
        let len = offsets.len();
        match self.data_type {
            DataType::Int32 => Arc::new(Int32Array::new(ScalarBuffer::new(values, 0, len), nulls)),
            DataType::Date32 => {
                Arc::new(Date32Array::new(ScalarBuffer::new(values, 0, len), nulls))
            }
            DataType::Int64 => Arc::new(Int64Array::new(ScalarBuffer::new(values, 0, len), nulls)),
            DataType::Timestamp(..) => Arc::new(TimestampMicrosecondArray::new(
                ScalarBuffer::new(values, 0, len),
                nulls,
            )),
            _ => Arc::new(
                Decimal128Array::new(ScalarBuffer::new(values, 0, len), nulls)
                    .with_data_type(self.data_type.clone()),
            ),
        }
    }

    /// `base` plus each of `stored`, as values of the column type's width.
    fn widen_from<S: Copy + Into<u64>>(&self, stored: &[S]) -> Buffer {
        let base = self.base;
        match native_width(&self.data_type) {
            // A 4-byte type packs into at most 2 bytes, so the sum stays in range
            // for the values written; corrupt input only wraps.
            Some(4) => widen(stored, |d| (base as i32).wrapping_add(d as i32)),
            Some(8) => widen(stored, |d| base.wrapping_add(d as i64)),
            // No wrapping: every value lies within `base..base + 2^(8 * width)`.
            _ => {
                let top = base as i128 + (u64::MAX >> (64 - 8 * size_of::<S>())) as i128;
                let bound = (base as i128).unsigned_abs().max(top.unsigned_abs());
                crate::buffer_pool::map_bounded(stored, bound, |&d| base as i128 + d.into() as i128)
            }
        }
    }

    /// `column <op> constant` on the packed values, without widening them (NULL
    /// rows, and every row for a NULL constant, are NULL), or None for other
    /// predicates, and for constants this column's values cannot be compared
    /// with exactly.
    pub fn evaluate(&self, predicate: &ZonePredicate) -> Option<BooleanArray> {
        // The value compared with, and the answer for every row when it lies
        // below all the chunk's values, and above all of them.
        let (value, below, above) = match predicate {
            ZonePredicate::Eq(v) => (v, false, false),
            ZonePredicate::NotEq(v) => (v, true, true),
            ZonePredicate::Lt(v) | ZonePredicate::LtEq(v) => (v, false, true),
            ZonePredicate::Gt(v) | ZonePredicate::GtEq(v) => (v, true, false),
            _ => return None,
        };
        let Some(value) = self.unscaled(value)? else {
            return Some(BooleanArray::new_null(self.len()));
        };
        let max = match self.offsets.data_type() {
            DataType::UInt8 => u8::MAX as i128,
            DataType::UInt16 => u16::MAX as i128,
            DataType::UInt32 => u32::MAX as i128,
            _ => u64::MAX as i128,
        };
        // The constant's offset from the base; outside 0..=max, the answer is
        // the same for every row.
        let d = value - self.base as i128;
        let constant = |answer: bool| {
            let values = BooleanBuffer::collect_bool(self.len(), |_| answer);
            Some(BooleanArray::new(values, self.offsets.nulls().cloned()))
        };
        if d < 0 {
            return constant(below);
        }
        if d > max {
            return constant(above);
        }
        let scalar = UInt64Array::from(vec![d as u64]);
        let scalar = arrow::compute::cast(&scalar, self.offsets.data_type()).ok()?;
        let scalar = Scalar::new(scalar);
        let offsets = &self.offsets;
        match predicate {
            ZonePredicate::Eq(_) => cmp::eq(offsets, &scalar),
            ZonePredicate::NotEq(_) => cmp::neq(offsets, &scalar),
            ZonePredicate::Lt(_) => cmp::lt(offsets, &scalar),
            ZonePredicate::LtEq(_) => cmp::lt_eq(offsets, &scalar),
            ZonePredicate::Gt(_) => cmp::gt(offsets, &scalar),
            _ => cmp::gt_eq(offsets, &scalar),
        }
        .ok()
    }

    /// `value` in this column's representation (days, unscaled decimal): None
    /// when it has no exact one, Some(None) for NULL.
    fn unscaled(&self, value: &ScalarValue) -> Option<Option<i128>> {
        Some(match (&self.data_type, value) {
            (DataType::Int32 | DataType::Int64, ScalarValue::Int32(v)) => v.map(i128::from),
            (DataType::Int32 | DataType::Int64, ScalarValue::Int64(v)) => v.map(i128::from),
            (DataType::Date32, ScalarValue::Date32(v)) => v.map(i128::from),
            (DataType::Timestamp(..), ScalarValue::Timestamp(v)) => v.map(i128::from),
            (DataType::Decimal128(_, scale), ScalarValue::Decimal128(v, _, s)) if s <= scale => {
                let factor = 10i128.checked_pow(u32::try_from(scale - s).ok()?)?;
                match v {
                    Some(v) => Some(v.checked_mul(factor)?),
                    None => None,
                }
            }
            _ => return None,
        })
    }
}

fn widen<S: Copy + Into<u64>, T: ArrowNativeType>(stored: &[S], add: impl Fn(u64) -> T) -> Buffer {
    crate::buffer_pool::map(stored, |&s| add(s.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(array: &dyn Array, rows: Range<usize>) -> (PackedRows, u8) {
        let packed = pack(array).unwrap();
        let stored = Buffer::from_vec(packed.bytes);
        let nulls = array.nulls().map(|n| n.slice(rows.start, rows.len()));
        let dt = array.data_type();
        let rows = PackedRows::new(&stored, nulls, dt, packed.base, packed.width, rows).unwrap();
        (rows, packed.width)
    }

    /// The bytes a value takes packed (None: not packed), after checking that
    /// every row and any range of them read back.
    fn round_trip(array: ArrayRef) -> Option<u8> {
        pack(array.as_ref())?;
        let rows = array.len();
        let (all, width) = read(array.as_ref(), 0..rows);
        assert_eq!(all.widen().as_ref(), array.as_ref());
        if rows > 2 {
            let (part, _) = read(array.as_ref(), 1..rows - 1);
            assert_eq!(part.widen().as_ref(), array.slice(1, rows - 2).as_ref());
        }
        Some(width)
    }

    #[test]
    fn widened_decimals_carry_a_bound_of_their_values() {
        let dt = DataType::Decimal128(18, 2);
        // Ranges that pack into 1, 2, 4 and 8 bytes, negative and positive,
        // with enough rows for a pooled block.
        for (low, step) in [
            (-100i128, 0i128),
            (-9_000, 1),
            (5, 97),
            (-(1 << 40), 1 << 22),
        ] {
            let values: Vec<i128> = (0..8192).map(|i| low + (i % 251) * step).collect();
            let array = Decimal128Array::from(values.clone()).with_data_type(dt.clone());
            let (rows, _) = read(&array, 0..values.len());
            let widened = rows.widen();
            let widened = widened.as_primitive::<Decimal128Type>().values();
            assert_eq!(&widened[..], &values[..]);
            let bound = crate::buffer_pool::bound_of(&widened[..]).expect("a bound");
            assert!(
                values.iter().all(|v| v.unsigned_abs() <= bound),
                "{low} {step}"
            );
        }
    }

    #[test]
    fn each_type_packs_into_the_fewest_bytes() {
        let ints = Int32Array::from(vec![Some(-100), None, Some(100), Some(7)]);
        assert_eq!(round_trip(Arc::new(ints)), Some(1));
        let ints = Int32Array::from(vec![0, 65535]);
        assert_eq!(round_trip(Arc::new(ints)), Some(2));
        // 4 bytes would save nothing for a 4-byte type.
        let ints = Int32Array::from(vec![i32::MIN, i32::MAX]);
        assert_eq!(round_trip(Arc::new(ints)), None);
        let dates = Date32Array::from(vec![8036, 10591, 9000]);
        assert_eq!(round_trip(Arc::new(dates)), Some(2));
        let longs = Int64Array::from(vec![Some(1 << 40), Some((1 << 40) + 4_000_000), None]);
        assert_eq!(round_trip(Arc::new(longs)), Some(4));
        let longs = Int64Array::from(vec![i64::MIN, -1]);
        assert_eq!(round_trip(Arc::new(longs)), None);
        let dt = DataType::Decimal128(15, 2);
        let decimals = |v: Vec<Option<i128>>| Decimal128Array::from(v).with_data_type(dt.clone());
        let small = decimals(vec![Some(0), Some(10), None]);
        assert_eq!(round_trip(Arc::new(small)), Some(1));
        let prices = decimals(vec![Some(90_000), Some(10_494_950)]);
        assert_eq!(round_trip(Arc::new(prices)), Some(4));
        let wide = decimals(vec![Some(i64::MIN as i128), Some(i64::MAX as i128)]);
        assert_eq!(round_trip(Arc::new(wide)), Some(8));
        // A base beyond i64, or a spread beyond u64, stays plain.
        let huge = decimals(vec![Some(i64::MAX as i128 + 1)]);
        assert_eq!(round_trip(Arc::new(huge)), None);
        let spread = decimals(vec![Some(-1), Some(u64::MAX as i128)]);
        assert_eq!(round_trip(Arc::new(spread)), None);
        // All NULL, and empty.
        assert_eq!(
            round_trip(Arc::new(Int64Array::from(vec![None, None]))),
            Some(1)
        );
        assert_eq!(
            round_trip(Arc::new(Int64Array::from(Vec::<i64>::new()))),
            Some(1)
        );
    }

    #[test]
    fn bad_widths_and_ranges_are_errors() {
        let stored = Buffer::from_vec(vec![0u8; 8]);
        let new = |dt: &DataType, width, rows| PackedRows::new(&stored, None, dt, 0, width, rows);
        assert!(new(&DataType::Int32, 4, 0..2).is_err());
        assert!(new(&DataType::Int64, 3, 0..2).is_err());
        assert!(new(&DataType::Utf8, 1, 0..2).is_err());
        assert!(new(&DataType::Int64, 2, 0..5).is_err());
        assert!(new(&DataType::Int64, 2, 3..4).is_ok());
        let nulls = NullBuffer::new_null(3);
        let packed = PackedRows::new(&stored, Some(nulls), &DataType::Int64, 0, 2, 0..2);
        assert!(packed.is_err());
    }

    #[test]
    fn comparisons_on_packed_values_match_comparisons_on_widened_ones() {
        use crate::plan::BinaryOp;
        let dt = DataType::Decimal128(15, 2);
        let values: Vec<Option<i128>> = vec![Some(4), None, Some(5), Some(7), Some(300), Some(6)];
        let array = Decimal128Array::from(values.clone()).with_data_type(dt.clone());
        let (packed, width) = read(&array, 0..values.len());
        assert_eq!(width, 2);
        let decimal = |v: i128, s: i8| ScalarValue::Decimal128(Some(v), 15, s);
        let constants = [
            decimal(-100, 2),
            decimal(4, 2),
            decimal(6, 2),
            decimal(300, 2),
            decimal(100_000, 2),
            decimal(i64::MAX as i128, 2),
            decimal(3, 1), // 0.3 = 0.30
            decimal(1, 0),
            ScalarValue::Decimal128(None, 15, 2),
        ];
        type Predicate = fn(ScalarValue) -> ZonePredicate;
        let predicates: [(Predicate, BinaryOp); 6] = [
            (ZonePredicate::Eq, BinaryOp::Eq),
            (ZonePredicate::NotEq, BinaryOp::NotEq),
            (ZonePredicate::Lt, BinaryOp::Lt),
            (ZonePredicate::LtEq, BinaryOp::LtEq),
            (ZonePredicate::Gt, BinaryOp::Gt),
            (ZonePredicate::GtEq, BinaryOp::GtEq),
        ];
        for constant in &constants {
            for (predicate, op) in &predicates {
                let got = packed.evaluate(&predicate(constant.clone())).unwrap();
                // Both sides at scale 2 (the constants' scales are at most 2).
                let ScalarValue::Decimal128(c, _, scale) = constant else {
                    unreachable!()
                };
                let c = c.map(|c| c * 10i128.pow(2 - *scale as u32));
                let want: BooleanArray = values
                    .iter()
                    .map(|v| {
                        let (v, c) = ((*v)?, c?);
                        Some(match op {
                            BinaryOp::Eq => v == c,
                            BinaryOp::NotEq => v != c,
                            BinaryOp::Lt => v < c,
                            BinaryOp::LtEq => v <= c,
                            BinaryOp::Gt => v > c,
                            _ => v >= c,
                        })
                    })
                    .collect();
                assert_eq!(got, want, "{op:?} {constant:?}");
            }
        }
        // A constant with more digits than the column is left to the
        // expression evaluator, as are other predicates.
        assert!(packed
            .evaluate(&ZonePredicate::Eq(decimal(45, 3)))
            .is_none());
        assert!(packed.evaluate(&ZonePredicate::IsNull).is_none());
        let dates = Date32Array::from(vec![10, 20, 30]);
        let (packed, _) = read(&dates, 0..3);
        let got = packed
            .evaluate(&ZonePredicate::Lt(ScalarValue::Date32(Some(20))))
            .unwrap();
        assert_eq!(got, BooleanArray::from(vec![true, false, false]));
        assert!(packed
            .evaluate(&ZonePredicate::Lt(ScalarValue::Int32(Some(20))))
            .is_none());
    }
}
