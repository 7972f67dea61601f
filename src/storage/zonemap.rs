//! Zone maps: the min, max and NULL count of a column chunk, kept in the manifest so
//! that a scan can skip segments where no row can satisfy a filter.
//!
//! `min` and `max` are *bounds*: every non-NULL value `v` of the chunk has
//! `min <= v <= max`. They are the exact extremes except in these cases:
//!
//! * all values are NULL (`null_count == row_count`): both are typed NULLs;
//! * a bound is unknown: it is a typed NULL while some values are not NULL. This happens
//!   for Float64 chunks holding NaN (no upper bound) or infinities (which JSON cannot
//!   store), and for types without statistics;
//! * Utf8 values longer than [`MAX_STRING_BOUND`] bytes: `min` is cut to a prefix and
//!   `max` is cut and rounded up, so they remain bounds but are not values of the chunk;
//! * Float64 zeros: a `min` of zero is stored as `-0.0` and a `max` of zero as `+0.0`, so
//!   the bounds hold whether `-0.0` and `0.0` compare equal (IEEE) or not (total order).
//!
//! Use `null_count == row_count`, not a NULL `min`, to know that a chunk is all NULL.

use std::cmp::Ordering;

use arrow::array::{Array, AsArray};
use arrow::compute;
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float64Type, Int32Type, Int64Type,
    TimestampMicrosecondType,
};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::types::ScalarValue;

/// Utf8 bounds longer than this many bytes are shortened (see the module documentation).
pub const MAX_STRING_BOUND: usize = 256;

/// The statistics of one column chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneMap {
    /// A lower bound of the non-NULL values (a typed NULL when unknown or all NULL).
    pub min: ScalarValue,
    /// An upper bound of the non-NULL values (a typed NULL when unknown or all NULL).
    pub max: ScalarValue,
    /// The number of NULL rows.
    pub null_count: u64,
}

/// A filter on one column that a zone map can test. Values have the column's type.
#[derive(Debug, Clone)]
pub enum ZonePredicate {
    Eq(ScalarValue),
    NotEq(ScalarValue),
    Lt(ScalarValue),
    LtEq(ScalarValue),
    Gt(ScalarValue),
    GtEq(ScalarValue),
    /// `lo <= column AND column <= hi`.
    Between(ScalarValue, ScalarValue),
    InList(Vec<ScalarValue>),
    IsNull,
    IsNotNull,
}

impl ZoneMap {
    /// The zone map of an array (of a storable type; a dictionary of strings is decoded).
    pub fn compute(array: &dyn Array) -> Result<ZoneMap> {
        let null_count = array.null_count() as u64;
        let dt = array.data_type();
        let (min, max) = match dt {
            DataType::Boolean => {
                let a = array.as_boolean();
                (
                    ScalarValue::Boolean(compute::min_boolean(a)),
                    ScalarValue::Boolean(compute::max_boolean(a)),
                )
            }
            DataType::Int32 => {
                let a = array.as_primitive::<Int32Type>();
                (
                    ScalarValue::Int32(compute::min(a)),
                    ScalarValue::Int32(compute::max(a)),
                )
            }
            DataType::Int64 => {
                let a = array.as_primitive::<Int64Type>();
                (
                    ScalarValue::Int64(compute::min(a)),
                    ScalarValue::Int64(compute::max(a)),
                )
            }
            DataType::Date32 => {
                let a = array.as_primitive::<Date32Type>();
                (
                    ScalarValue::Date32(compute::min(a)),
                    ScalarValue::Date32(compute::max(a)),
                )
            }
            DataType::Timestamp(..) => {
                let a = array.as_primitive::<TimestampMicrosecondType>();
                (
                    ScalarValue::Timestamp(compute::min(a)),
                    ScalarValue::Timestamp(compute::max(a)),
                )
            }
            DataType::Decimal128(p, s) => {
                let a = array.as_primitive::<Decimal128Type>();
                (
                    ScalarValue::Decimal128(compute::min(a), *p, *s),
                    ScalarValue::Decimal128(compute::max(a), *p, *s),
                )
            }
            DataType::Float64 => {
                let (min, max) = float_bounds(array.as_primitive::<Float64Type>());
                (ScalarValue::Float64(min), ScalarValue::Float64(max))
            }
            DataType::Utf8 => {
                let a = array.as_string::<i32>();
                (
                    ScalarValue::Utf8(compute::min_string(a).map(string_lower_bound)),
                    ScalarValue::Utf8(compute::max_string(a).and_then(string_upper_bound)),
                )
            }
            DataType::Dictionary(_, value) if value.as_ref() == &DataType::Utf8 => {
                // The bounds of the entries that rows use, without decoding rows.
                let dictionary = array.as_any_dictionary();
                let mut used = vec![false; dictionary.values().len()];
                let keys = dictionary.keys();
                for (row, key) in dictionary.normalized_keys().into_iter().enumerate() {
                    used[key] |= keys.is_valid(row);
                }
                let entries = compute::filter(
                    dictionary.values().as_ref(),
                    &arrow::array::BooleanArray::from(used),
                )?;
                return Ok(ZoneMap {
                    null_count: array.logical_null_count() as u64,
                    ..ZoneMap::compute(entries.as_ref())?
                });
            }
            other => (ScalarValue::null_of(other), ScalarValue::null_of(other)),
        };
        Ok(ZoneMap {
            min,
            max,
            null_count,
        })
    }

    /// Whether some row of a chunk with these statistics and `row_count` rows may satisfy
    /// `predicate`: false only when no row can. When a value cannot be compared with the
    /// bounds (a NULL, a different type), the answer is true.
    pub fn may_match(&self, predicate: &ZonePredicate, row_count: u64) -> bool {
        let all_null = self.null_count >= row_count;
        match predicate {
            ZonePredicate::IsNull => self.null_count > 0,
            ZonePredicate::IsNotNull => !all_null,
            // A comparison with NULL is never true.
            _ if all_null => false,
            ZonePredicate::Eq(v) => self.may_contain(v),
            ZonePredicate::NotEq(v) => {
                // Prunable only when every non-NULL value equals `v`.
                !(compare(&self.min, v) == Some(Ordering::Equal)
                    && compare(&self.max, v) == Some(Ordering::Equal))
            }
            // Prunable when min >= v.
            ZonePredicate::Lt(v) => !matches!(
                compare(&self.min, v),
                Some(Ordering::Greater | Ordering::Equal)
            ),
            // Prunable when min > v.
            ZonePredicate::LtEq(v) => compare(&self.min, v) != Some(Ordering::Greater),
            // Prunable when max <= v.
            ZonePredicate::Gt(v) => !matches!(
                compare(&self.max, v),
                Some(Ordering::Less | Ordering::Equal)
            ),
            // Prunable when max < v.
            ZonePredicate::GtEq(v) => compare(&self.max, v) != Some(Ordering::Less),
            ZonePredicate::Between(lo, hi) => {
                compare(&self.max, lo) != Some(Ordering::Less)
                    && compare(&self.min, hi) != Some(Ordering::Greater)
            }
            ZonePredicate::InList(values) => values.iter().any(|v| self.may_contain(v)),
        }
    }

    /// Whether `min <= v <= max` may hold.
    fn may_contain(&self, v: &ScalarValue) -> bool {
        compare(&self.min, v) != Some(Ordering::Greater)
            && compare(&self.max, v) != Some(Ordering::Less)
    }
}

/// Compares a bound with a value: `None` when either is NULL or NaN, or they are of
/// different types. Floats compare in total order (bounds are stored so that this is
/// also right for IEEE comparisons, see the module documentation).
fn compare(bound: &ScalarValue, value: &ScalarValue) -> Option<Ordering> {
    match (bound, value) {
        (ScalarValue::Float64(Some(a)), ScalarValue::Float64(Some(b))) => {
            if a.is_nan() || b.is_nan() {
                None
            } else {
                Some(a.total_cmp(b))
            }
        }
        _ => bound.partial_cmp_value(value),
    }
}

/// The bounds of the non-NULL values of a Float64 array (see the module documentation).
fn float_bounds(array: &arrow::array::Float64Array) -> (Option<f64>, Option<f64>) {
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    let mut any = false;
    let mut nan = false;
    let mut scan = |v: f64| {
        if v.is_nan() {
            nan = true;
        } else {
            any = true;
            min = min.min(v);
            max = max.max(v);
        }
    };
    match array.nulls().filter(|n| n.null_count() > 0) {
        None => array.values().iter().for_each(|v| scan(*v)),
        Some(nulls) => nulls.valid_indices().for_each(|i| scan(array.values()[i])),
    }
    if !any {
        return (None, None);
    }
    let min = if min == 0.0 { -0.0 } else { min };
    let max = if max == 0.0 { 0.0 } else { max };
    let min = min.is_finite().then_some(min);
    let max = (max.is_finite() && !nan).then_some(max);
    (min, max)
}

/// A prefix of `s` (at most [`MAX_STRING_BOUND`] bytes), which is <= `s`.
fn string_lower_bound(s: &str) -> String {
    if s.len() <= MAX_STRING_BOUND {
        return s.to_string();
    }
    let mut end = MAX_STRING_BOUND;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A string of at most [`MAX_STRING_BOUND`] bytes that is >= `s` (and so >= every string
/// <= `s`), or `None` when there is none short enough.
fn string_upper_bound(s: &str) -> Option<String> {
    if s.len() <= MAX_STRING_BOUND {
        return Some(s.to_string());
    }
    let mut end = MAX_STRING_BOUND;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    // Replace the last character that has a successor by that successor and drop the
    // rest: the result is greater than every string starting with the kept prefix.
    let mut chars: Vec<char> = s[..end].chars().collect();
    while let Some(c) = chars.pop() {
        if let Some(next) = next_char(c) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The next Unicode scalar value after `c` (UTF-8 byte order is code point order).
fn next_char(c: char) -> Option<char> {
    let mut u = c as u32 + 1;
    if u == 0xD800 {
        u = 0xE000;
    }
    char::from_u32(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::*;
    use std::sync::Arc;
    use ZonePredicate::*;

    fn i(v: i32) -> ScalarValue {
        ScalarValue::Int32(Some(v))
    }

    #[test]
    fn computes_bounds_for_every_type() {
        let z =
            ZoneMap::compute(&Int32Array::from(vec![Some(5), None, Some(-3), Some(9)])).unwrap();
        assert_eq!(
            (z.min.clone(), z.max.clone(), z.null_count),
            (i(-3), i(9), 1)
        );
        let z = ZoneMap::compute(&Int64Array::from(vec![7i64, 2])).unwrap();
        assert_eq!(
            (z.min, z.max),
            (ScalarValue::Int64(Some(2)), ScalarValue::Int64(Some(7)))
        );
        let z = ZoneMap::compute(&BooleanArray::from(vec![Some(true), None])).unwrap();
        assert_eq!(
            (z.min, z.max, z.null_count),
            (
                ScalarValue::Boolean(Some(true)),
                ScalarValue::Boolean(Some(true)),
                1
            )
        );
        let z = ZoneMap::compute(&Date32Array::from(vec![10, 3])).unwrap();
        assert_eq!(
            (z.min, z.max),
            (ScalarValue::Date32(Some(3)), ScalarValue::Date32(Some(10)))
        );
        let d = Decimal128Array::from(vec![150i128, -20])
            .with_precision_and_scale(10, 2)
            .unwrap();
        let z = ZoneMap::compute(&d).unwrap();
        assert_eq!(z.min, ScalarValue::Decimal128(Some(-20), 10, 2));
        assert_eq!(z.max, ScalarValue::Decimal128(Some(150), 10, 2));
        let z = ZoneMap::compute(&StringArray::from(vec![Some("pear"), Some(""), None])).unwrap();
        assert_eq!(z.min, ScalarValue::Utf8(Some(String::new())));
        assert_eq!(z.max, ScalarValue::Utf8(Some("pear".into())));
        let z = ZoneMap::compute(&Float64Array::from(vec![1.5, -2.0])).unwrap();
        assert_eq!(
            (z.min, z.max),
            (
                ScalarValue::Float64(Some(-2.0)),
                ScalarValue::Float64(Some(1.5))
            )
        );
        let dict: DictionaryArray<arrow::datatypes::UInt8Type> =
            vec!["b", "a", "c"].into_iter().collect();
        let z = ZoneMap::compute(&dict).unwrap();
        assert_eq!(z.min, ScalarValue::Utf8(Some("a".into())));
        assert_eq!(z.max, ScalarValue::Utf8(Some("c".into())));
    }

    #[test]
    fn all_null_chunks_have_typed_null_bounds() {
        let z = ZoneMap::compute(&Int32Array::from(vec![None, None, None])).unwrap();
        assert_eq!(
            (z.min.clone(), z.max.clone(), z.null_count),
            (ScalarValue::Int32(None), ScalarValue::Int32(None), 3)
        );
        assert!(z.may_match(&IsNull, 3));
        assert!(!z.may_match(&IsNotNull, 3));
        for p in [
            Eq(i(1)),
            NotEq(i(1)),
            Lt(i(1)),
            LtEq(i(1)),
            Gt(i(1)),
            GtEq(i(1)),
            Between(i(0), i(9)),
            InList(vec![i(1)]),
        ] {
            assert!(!z.may_match(&p, 3), "{p:?}");
        }
        let z = ZoneMap::compute(&StringArray::from(vec![None::<&str>])).unwrap();
        assert_eq!(z.min, ScalarValue::Utf8(None));
        let z = ZoneMap::compute(&Float64Array::from(vec![None, None])).unwrap();
        assert_eq!(z.max, ScalarValue::Float64(None));
        // An empty chunk matches nothing.
        let z = ZoneMap::compute(&Int32Array::from(Vec::<i32>::new())).unwrap();
        assert!(!z.may_match(&IsNull, 0));
        assert!(!z.may_match(&IsNotNull, 0));
        assert!(!z.may_match(&Eq(i(1)), 0));
    }

    #[test]
    fn may_match_each_predicate() {
        // values 10..=20, one NULL, 12 rows
        let mut v: Vec<Option<i32>> = (10..=20).map(Some).collect();
        v.push(None);
        let z = ZoneMap::compute(&Int32Array::from(v)).unwrap();
        let m = |p: ZonePredicate| z.may_match(&p, 12);
        assert!(m(Eq(i(10))) && m(Eq(i(15))) && m(Eq(i(20))));
        assert!(!m(Eq(i(9))) && !m(Eq(i(21))));
        assert!(m(NotEq(i(15))));
        assert!(m(Lt(i(11))) && !m(Lt(i(10))));
        assert!(m(LtEq(i(10))) && !m(LtEq(i(9))));
        assert!(m(Gt(i(19))) && !m(Gt(i(20))));
        assert!(m(GtEq(i(20))) && !m(GtEq(i(21))));
        assert!(m(Between(i(0), i(10))) && m(Between(i(20), i(30))) && m(Between(i(12), i(13))));
        assert!(!m(Between(i(0), i(9))) && !m(Between(i(21), i(30))));
        assert!(m(InList(vec![i(1), i(15)])) && !m(InList(vec![i(1), i(30)])));
        assert!(!m(InList(vec![])));
        assert!(m(IsNull) && m(IsNotNull));
        // Without the NULL row: IS NULL can be pruned.
        let z2 = ZoneMap::compute(&Int32Array::from(vec![1, 2])).unwrap();
        assert!(!z2.may_match(&IsNull, 2) && z2.may_match(&IsNotNull, 2));
        // Constant chunk: `<> c` prunable.
        let c = ZoneMap::compute(&Int32Array::from(vec![Some(4), None, Some(4)])).unwrap();
        assert!(!c.may_match(&NotEq(i(4)), 3) && c.may_match(&NotEq(i(5)), 3));
        assert!(c.may_match(&IsNull, 3));
    }

    #[test]
    fn incomparable_values_never_prune() {
        let z = ZoneMap::compute(&Int32Array::from(vec![1, 2])).unwrap();
        for p in [
            Eq(ScalarValue::Int64(Some(100))),
            Lt(ScalarValue::Utf8(Some("a".into()))),
            Gt(ScalarValue::Null),
            Eq(ScalarValue::Int32(None)),
            NotEq(ScalarValue::Int32(None)),
            Between(ScalarValue::Null, i(5)),
            InList(vec![i(100), ScalarValue::Null]),
        ] {
            assert!(z.may_match(&p, 2), "{p:?}");
        }
        let d = Decimal128Array::from(vec![150i128])
            .with_precision_and_scale(10, 2)
            .unwrap();
        let z = ZoneMap::compute(&d).unwrap();
        // Different scale: not compared.
        assert!(z.may_match(&Eq(ScalarValue::Decimal128(Some(1), 10, 0)), 1));
        assert!(!z.may_match(&Eq(ScalarValue::Decimal128(Some(100), 10, 2)), 1));
        // Unknown bounds of a chunk that is not all NULL.
        let u = ZoneMap {
            min: ScalarValue::Int32(None),
            max: ScalarValue::Int32(None),
            null_count: 0,
        };
        assert!(
            u.may_match(&Eq(i(1)), 5) && u.may_match(&Lt(i(1)), 5) && u.may_match(&NotEq(i(1)), 5)
        );
    }

    #[test]
    fn floats_with_nan_zeros_and_infinities() {
        let f = |v: f64| ScalarValue::Float64(Some(v));
        let z = ZoneMap::compute(&Float64Array::from(vec![1.0, f64::NAN, 3.0])).unwrap();
        assert_eq!(z.min, f(1.0));
        assert_eq!(z.max, ScalarValue::Float64(None));
        assert!(z.may_match(&Gt(f(100.0)), 3));
        assert!(!z.may_match(&Lt(f(0.5)), 3));
        assert!(z.may_match(&Eq(f(f64::NAN)), 3));
        let z = ZoneMap::compute(&Float64Array::from(vec![f64::NAN])).unwrap();
        assert!(z.may_match(&Lt(f(0.0)), 1) && z.may_match(&Gt(f(0.0)), 1));
        // Zeros: -0.0 and 0.0 may be equal or ordered; never prune either way.
        let z = ZoneMap::compute(&Float64Array::from(vec![0.0, 1.0])).unwrap();
        assert!(z.may_match(&Eq(f(-0.0)), 2) && z.may_match(&Lt(f(0.0)), 2));
        let z = ZoneMap::compute(&Float64Array::from(vec![-0.0, -1.0])).unwrap();
        assert!(z.may_match(&Eq(f(0.0)), 2) && z.may_match(&Gt(f(-0.0)), 2));
        let z = ZoneMap::compute(&Float64Array::from(vec![f64::NEG_INFINITY, 5.0])).unwrap();
        assert_eq!(
            (z.min.clone(), z.max.clone()),
            (ScalarValue::Float64(None), f(5.0))
        );
        assert!(z.may_match(&Lt(f(-1e300)), 2) && !z.may_match(&Gt(f(5.0)), 2));
        // Bounds survive the manifest's JSON.
        let z = ZoneMap::compute(&Float64Array::from(vec![0.0, -0.0])).unwrap();
        let back: ZoneMap = serde_json::from_str(&serde_json::to_string(&z).unwrap()).unwrap();
        assert!(
            matches!(back.min, ScalarValue::Float64(Some(v)) if v == 0.0 && v.is_sign_negative())
        );
        assert!(
            matches!(back.max, ScalarValue::Float64(Some(v)) if v == 0.0 && v.is_sign_positive())
        );
    }

    #[test]
    fn strings_compare_bytewise_and_long_bounds_are_shortened() {
        let s = |v: &str| ScalarValue::Utf8(Some(v.to_string()));
        let z = ZoneMap::compute(&StringArray::from(vec!["banana", "apple", "cherry"])).unwrap();
        assert!(z.may_match(&Eq(s("banana")), 3));
        assert!(!z.may_match(&Eq(s("aaa")), 3) && !z.may_match(&Eq(s("zz")), 3));
        assert!(!z.may_match(&Lt(s("apple")), 3) && z.may_match(&LtEq(s("apple")), 3));
        assert!(!z.may_match(&Gt(s("cherry")), 3) && z.may_match(&Gt(s("cherrx")), 3));

        let long_a = format!("{}{}", "a".repeat(300), "b");
        let long_z = format!("{}é{}", "z".repeat(255), "q".repeat(50));
        let arr: ArrayRef = Arc::new(StringArray::from(vec![long_a.as_str(), long_z.as_str()]));
        let z = ZoneMap::compute(arr.as_ref()).unwrap();
        let (ScalarValue::Utf8(Some(min)), ScalarValue::Utf8(Some(max))) = (&z.min, &z.max) else {
            panic!("bounds expected")
        };
        assert!(min.len() <= MAX_STRING_BOUND && max.len() <= MAX_STRING_BOUND);
        assert!(min.as_str() <= long_a.as_str() && max.as_str() >= long_z.as_str());
        assert!(z.may_match(&Eq(s(&long_a)), 2) && z.may_match(&Eq(s(&long_z)), 2));
        assert!(!z.may_match(&Gt(ScalarValue::Utf8(Some(max.clone()))), 2));
        assert_eq!(string_upper_bound(&"\u{10FFFF}".repeat(100)), None);
        assert_eq!(
            string_upper_bound(&format!("a{}", "\u{10FFFF}".repeat(100))).as_deref(),
            Some("b")
        );
        assert_eq!(next_char('\u{D7FF}'), Some('\u{E000}'));
    }
}
