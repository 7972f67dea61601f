//! Window keys packed into integers: PARTITION BY and ORDER BY keys of
//! integer-like columns (integers, dates, timestamps, decimals, booleans) as
//! one number per row that compares as the keys do.
//!
//! Each column's values are shifted by the column's minimum (and flipped for
//! DESC), so that they take only the bits their range needs; a column with
//! NULLs reserves the smallest code (NULLS FIRST) or the largest (NULLS LAST).
//! The columns' codes are laid side by side, the partition columns in the
//! highest bits, so that one integer comparison orders rows by partition, then
//! by ORDER BY key, and the partition is the number shifted right by the ORDER
//! BY columns' bits. Keys of more than 128 bits in all, or of other types,
//! are not packed (the operator then compares them in Arrow's row format).

use arrow::array::*;
use arrow::datatypes::*;
use rayon::prelude::*;

/// The key columns' fields: each row's key is computed when asked for (the
/// keys are read once or twice, in order, and not kept).
pub struct PackedKeys<'a> {
    fields: Vec<Field<'a>>,
    /// How many low bits hold the ORDER BY keys.
    order_bits: u32,
    /// The key's width in bits.
    pub bits: u32,
}

/// One key column: its values, ascending, nulls first.
pub struct KeyColumn<'a> {
    pub values: &'a ArrayRef,
    pub ascending: bool,
    pub nulls_first: bool,
}

/// The partition and ORDER BY columns packed, or None when a column is not
/// integer-like or the keys need more than 128 bits.
pub fn pack<'a>(partition: &[KeyColumn<'a>], order: &[KeyColumn<'a>]) -> Option<PackedKeys<'a>> {
    let fields = partition
        .iter()
        .chain(order)
        .map(Field::of)
        .collect::<Option<Vec<_>>>()?;
    let bits: u32 = fields.iter().map(|f| f.bits).sum();
    if bits > 128 {
        return None;
    }
    let order_bits = fields[partition.len()..].iter().map(|f| f.bits).sum();
    Some(PackedKeys {
        fields,
        order_bits,
        bits,
    })
}

impl PackedKeys<'_> {
    /// Row `r`'s key.
    pub fn key(&self, r: usize) -> u128 {
        self.fields.iter().fold(0u128, |key, f| {
            key.checked_shl(f.bits).unwrap_or(0) | f.code(r)
        })
    }

    /// The partition part of a key.
    pub fn partition(&self, key: u128) -> u128 {
        key.checked_shr(self.order_bits).unwrap_or(0)
    }
}

/// One column's codes: `value - min` (or `max - value` for DESC), shifted by
/// one when NULLs come first.
struct Field<'a> {
    value: Box<dyn Fn(usize) -> i128 + Send + Sync + 'a>,
    nulls: Option<&'a arrow::buffer::NullBuffer>,
    min: i128,
    max: i128,
    /// The code of NULL when NULLs come last: one past the largest value's.
    span: u128,
    ascending: bool,
    nulls_first: bool,
    bits: u32,
}

impl<'a> Field<'a> {
    fn of(column: &KeyColumn<'a>) -> Option<Self> {
        let array = column.values.as_ref();
        let value = integers(array)?;
        let nulls = array.nulls().filter(|n| n.null_count() > 0);
        let valid = |r: &usize| nulls.is_none_or(|n| n.is_valid(*r));
        let (min, max) = (0..array.len())
            .into_par_iter()
            .with_min_len(4096)
            .filter(valid)
            .map(|r| {
                let v = value(r);
                (v, v)
            })
            .reduce(
                || (i128::MAX, i128::MIN),
                |a, b| (a.0.min(b.0), a.1.max(b.1)),
            );
        let span = if min > max {
            0
        } else {
            max.checked_sub(min)? as u128
        };
        let largest = span.checked_add(nulls.is_some() as u128)?;
        Some(Field {
            value,
            nulls,
            min,
            max,
            span: span + 1,
            ascending: column.ascending,
            nulls_first: column.nulls_first,
            bits: 128 - largest.leading_zeros(),
        })
    }

    fn code(&self, r: usize) -> u128 {
        let Some(nulls) = self.nulls else {
            return self.value_code(r);
        };
        match (nulls.is_valid(r), self.nulls_first) {
            (false, true) => 0,
            (false, false) => self.span,
            (true, true) => self.value_code(r) + 1,
            (true, false) => self.value_code(r),
        }
    }

    fn value_code(&self, r: usize) -> u128 {
        let v = (self.value)(r);
        if self.ascending {
            (v - self.min) as u128
        } else {
            (self.max - v) as u128
        }
    }
}

/// Row `r`'s value of an integer-like array as an i128 (None for other types;
/// meaningless at NULLs).
fn integers(array: &dyn Array) -> Option<Box<dyn Fn(usize) -> i128 + Send + Sync + '_>> {
    fn of<T>(array: &dyn Array) -> Box<dyn Fn(usize) -> i128 + Send + Sync + '_>
    where
        T: ArrowPrimitiveType,
        T::Native: Into<i128>,
    {
        let values = array.as_primitive::<T>().values();
        Box::new(move |r| values[r].into())
    }
    Some(match array.data_type() {
        DataType::Int8 => of::<Int8Type>(array),
        DataType::Int16 => of::<Int16Type>(array),
        DataType::Int32 => of::<Int32Type>(array),
        DataType::Int64 => of::<Int64Type>(array),
        DataType::UInt8 => of::<UInt8Type>(array),
        DataType::UInt16 => of::<UInt16Type>(array),
        DataType::UInt32 => of::<UInt32Type>(array),
        DataType::UInt64 => of::<UInt64Type>(array),
        DataType::Date32 => of::<Date32Type>(array),
        DataType::Date64 => of::<Date64Type>(array),
        DataType::Time32(TimeUnit::Second) => of::<Time32SecondType>(array),
        DataType::Time32(TimeUnit::Millisecond) => of::<Time32MillisecondType>(array),
        DataType::Time64(TimeUnit::Microsecond) => of::<Time64MicrosecondType>(array),
        DataType::Time64(TimeUnit::Nanosecond) => of::<Time64NanosecondType>(array),
        DataType::Timestamp(TimeUnit::Second, _) => of::<TimestampSecondType>(array),
        DataType::Timestamp(TimeUnit::Millisecond, _) => of::<TimestampMillisecondType>(array),
        DataType::Timestamp(TimeUnit::Microsecond, _) => of::<TimestampMicrosecondType>(array),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => of::<TimestampNanosecondType>(array),
        DataType::Decimal128(_, _) => of::<Decimal128Type>(array),
        DataType::Boolean => {
            let values = array.as_boolean().values();
            Box::new(move |r| values.value(r) as i128)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Packed keys order rows as a comparison of the columns does: ASC and
    /// DESC, NULLS FIRST and LAST, negative values.
    #[test]
    fn packed_keys_compare_as_the_columns() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(3),
            None,
            Some(-5),
            Some(3),
            Some(7),
        ]));
        let b: ArrayRef = Arc::new(Date32Array::from(vec![
            Some(10),
            Some(2),
            None,
            Some(1),
            Some(10),
        ]));
        let packed = pack(
            &[KeyColumn {
                values: &a,
                ascending: true,
                nulls_first: false,
            }],
            &[KeyColumn {
                values: &b,
                ascending: false,
                nulls_first: true,
            }],
        )
        .unwrap();
        let mut order: Vec<usize> = (0..5).collect();
        order.sort_by_key(|&r| packed.key(r));
        // a ASC NULLS LAST: -5, 3, 3, 7, NULL; within a = 3, b DESC: 10 then 1.
        assert_eq!(order, vec![2, 0, 3, 4, 1]);
        let partition = |r: usize| packed.partition(packed.key(r));
        assert_eq!(partition(0), partition(3));
        assert_ne!(partition(0), partition(4));
    }

    #[test]
    fn strings_and_wide_keys_are_not_packed() {
        let s: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
        let column = |values| KeyColumn {
            values,
            ascending: true,
            nulls_first: false,
        };
        assert!(pack(&[column(&s)], &[]).is_none());
        let wide: ArrayRef = Arc::new(Int64Array::from(vec![i64::MIN, i64::MAX]));
        assert!(pack(&[column(&wide), column(&wide)], &[column(&wide)]).is_none());
    }
}
