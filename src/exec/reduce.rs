//! Aggregates that build a join's hash table, reduced to the keys the other side has.
//!
//! A decorrelated subquery joins its grouped result back to the outer rows on
//! the group keys (TPC-H Q17: the average quantity of every part, joined to the
//! two hundred parts the query wants; Q20 likewise per part and supplier). Every
//! group whose key no outer row has is computed for nothing. When the outer
//! (probe) side is estimated small against the aggregate's input, it is computed
//! first, its join keys collected into a [`KeyTable`], and the aggregate's input
//! keeps only the rows whose group key is among them. Valid for inner, left,
//! semi and anti joins, whose result never shows a build row without a partner.

use std::sync::Arc;

use arrow::array::{BooleanArray, BooleanBufferBuilder, RecordBatch};

use super::expr::evaluate;
use super::hash_join::{passing, KeyFilter, ValueBitmap};
use super::key_table::{KeyTable, MISSING};
use super::pipeline::Operator;
use crate::error::Result;
use crate::plan::{Expr, JoinKind, LogicalPlan};

/// The probe side may have at most this many estimated rows (it is held, or
/// partitioned to disk past its share of the memory limit) ...
const PROBE_ROWS_MAX: f64 = 16_000_000.0;
/// ... and at most this fraction of the aggregate input's (TPC-H Q20: 0.12 by
/// the estimates; Q18, whose every order is a key of its aggregate and where
/// the reduction would drop nothing, 0.25).
const PROBE_FRACTION_MAX: f64 = 0.2;

/// For a join whose right input is an aggregate grouped by the right keys (under
/// projections and filters, say a HAVING): the group expressions the right keys stand for, over the
/// aggregate's input; None when the join does not qualify or would not gain.
pub fn reducible(
    left: &LogicalPlan,
    right: &LogicalPlan,
    kind: JoinKind,
    on: &[(Expr, Expr)],
) -> Option<Vec<Expr>> {
    if on.is_empty()
        || !matches!(
            kind,
            JoinKind::Inner | JoinKind::Left | JoinKind::Semi | JoinKind::Anti
        )
    {
        return None;
    }
    let mut keys: Vec<usize> = on
        .iter()
        .map(|(_, r)| match r {
            Expr::Column { index, .. } => Some(*index),
            _ => None,
        })
        .collect::<Option<_>>()?;
    // Down through projections (of the key columns) and filters.
    let mut plan = right;
    loop {
        match plan {
            LogicalPlan::Project { input, exprs, .. } => {
                keys = keys
                    .iter()
                    .map(|&k| match &exprs[k] {
                        Expr::Column { index, .. } => Some(*index),
                        _ => None,
                    })
                    .collect::<Option<_>>()?;
                plan = input;
            }
            LogicalPlan::Filter { input, .. } => plan = input,
            _ => break,
        }
    }
    let LogicalPlan::Aggregate {
        input,
        group,
        grouping_sets: None,
        ..
    } = plan
    else {
        return None;
    };
    let group_keys: Vec<Expr> = keys
        .iter()
        .map(|&k| group.get(k).cloned())
        .collect::<Option<_>>()?;
    let (probe, input_rows) = (
        crate::optimizer::estimate_rows(left),
        crate::optimizer::estimate_rows(input),
    );
    (probe <= PROBE_ROWS_MAX && probe <= input_rows * PROBE_FRACTION_MAX).then_some(group_keys)
}

/// The set of the key values (`keys` evaluated) of `batches`.
pub fn key_set(batches: &[RecordBatch], keys: &[Expr]) -> Result<Arc<KeyTable>> {
    let types: Vec<_> = keys.iter().map(|k| k.data_type()).collect();
    let mut set = KeyTable::new(&types)?;
    let mut ids = vec![];
    for batch in batches {
        let columns = keys
            .iter()
            .map(|k| evaluate(k, batch))
            .collect::<Result<Vec<_>>>()?;
        ids.clear();
        set.intern(&columns, &mut ids)?;
    }
    Ok(Arc::new(set))
}

/// The most bits of a key set's bitmap (1 MB, a core's cache): unlike a hash
/// join's, it filters an aggregate's whole input, many times the set's rows.
const KEY_SET_BITMAP_BITS_MAX: i64 = 1 << 23;

/// Keeps the rows whose key (`keys` evaluated) is in `set` (NULL keys never are).
pub struct KeySetFilter {
    keys: Vec<Expr>,
    set: Arc<KeyTable>,
    /// For each integer key column whose values in `set` span a small enough
    /// range: a bit per value of it. A row whose value's bit is clear is
    /// dropped without a lookup in `set`; one integer key needs no lookup.
    bitmaps: Vec<Option<KeyFilter>>,
}

impl KeySetFilter {
    pub fn new(keys: Vec<Expr>, set: Arc<KeyTable>) -> Result<KeySetFilter> {
        let bitmaps = set
            .columns()?
            .iter()
            .map(|column| {
                Ok(ValueBitmap::of(column, KEY_SET_BITMAP_BITS_MAX)?
                    .map(|bits| KeyFilter::Values(std::sync::Arc::new(bits))))
            })
            .collect::<Result<_>>()?;
        Ok(KeySetFilter { keys, set, bitmaps })
    }

    /// Whether the bitmaps alone decide (one key, with a bitmap).
    fn exact(&self) -> bool {
        matches!(self.bitmaps.as_slice(), [Some(_)])
    }
}

impl Operator for KeySetFilter {
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let columns = |batch: &RecordBatch| {
            self.keys
                .iter()
                .map(|k| evaluate(k, batch))
                .collect::<Result<Vec<_>>>()
        };
        let mut batch = batch;
        if self.bitmaps.iter().any(Option::is_some) {
            let pass = passing(&columns(&batch)?, &self.bitmaps)?;
            batch = arrow::compute::filter_record_batch(&batch, &BooleanArray::from(pass))?;
            if self.exact() {
                return Ok(batch);
            }
        }
        let mut ids = Vec::with_capacity(batch.num_rows());
        self.set.lookup(&columns(&batch)?, &mut ids)?;
        let mut keep = BooleanBufferBuilder::new(batch.num_rows());
        for id in ids {
            keep.append(id != MISSING);
        }
        let mask = BooleanArray::new(keep.finish(), None);
        Ok(arrow::compute::filter_record_batch(&batch, &mask)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, AsArray, Int64Array};
    use arrow::datatypes::{DataType, Int64Type};

    fn column(values: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(Int64Array::from(values))
    }

    /// The values of column 0 of the rows `filter` keeps.
    fn kept(filter: &KeySetFilter, batch: &RecordBatch) -> Vec<Option<i64>> {
        let out = filter.apply(batch.clone()).unwrap();
        out.column(0).as_primitive::<Int64Type>().iter().collect()
    }

    #[test]
    fn rows_whose_keys_are_in_the_set_are_kept() {
        let rows = RecordBatch::try_from_iter([
            (
                "k",
                column(vec![
                    Some(3),
                    None,
                    Some(7),
                    Some(1 << 40),
                    Some(3),
                    Some(-2),
                ]),
            ),
            (
                "v",
                column(vec![Some(1), Some(1), Some(2), Some(2), Some(1), Some(1)]),
            ),
        ])
        .unwrap();
        let k = Expr::column(0, "k", DataType::Int64);
        let v = Expr::column(1, "v", DataType::Int64);
        // The set of the rows of `columns`, as a key set.
        let set_of = |columns: Vec<ArrayRef>| {
            let width = columns.len();
            let batch = RecordBatch::try_from_iter(
                columns
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| (format!("c{i}"), c)),
            )
            .unwrap();
            let keys: Vec<Expr> = (0..width)
                .map(|i| Expr::column(i, format!("c{i}"), DataType::Int64))
                .collect();
            key_set(&[batch], &keys).unwrap()
        };
        // Dense keys (a bitmap), sparse ones (lookups), and two columns.
        let dense = KeySetFilter::new(
            vec![k.clone()],
            set_of(vec![column(vec![Some(3), Some(-2), None, Some(5)])]),
        )
        .unwrap();
        assert!(dense.exact());
        assert_eq!(kept(&dense, &rows), [Some(3), Some(3), Some(-2)]);
        let sparse = KeySetFilter::new(
            vec![k.clone()],
            set_of(vec![column(vec![Some(7), Some(1 << 40)])]),
        )
        .unwrap();
        assert!(!sparse.exact());
        assert_eq!(kept(&sparse, &rows), [Some(7), Some(1 << 40)]);
        let pairs = KeySetFilter::new(
            vec![k.clone(), v.clone()],
            // (7, 2) passes both columns' bitmaps, but is no pair of the set.
            set_of(vec![
                column(vec![Some(3), Some(7), Some(9)]),
                column(vec![Some(1), Some(1), Some(2)]),
            ]),
        )
        .unwrap();
        assert_eq!(kept(&pairs, &rows), [Some(3), Some(3)]);
    }
}
