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

use arrow::array::{BooleanArray, RecordBatch};

use super::expr::evaluate;
use super::key_table::{KeyTable, MISSING};
use super::pipeline::Operator;
use crate::error::Result;
use crate::plan::{Expr, JoinKind, LogicalPlan};

/// The probe side may have at most this many estimated rows ...
const PROBE_ROWS_MAX: f64 = 1_000_000.0;
/// ... and at most this fraction of the aggregate input's.
const PROBE_FRACTION_MAX: f64 = 0.25;

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

/// Keeps the rows whose key (`keys` evaluated) is in `set` (NULL keys never are).
pub struct KeySetFilter {
    pub keys: Vec<Expr>,
    pub set: Arc<KeyTable>,
}

impl Operator for KeySetFilter {
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let columns = self
            .keys
            .iter()
            .map(|k| evaluate(k, &batch))
            .collect::<Result<Vec<_>>>()?;
        let mut ids = Vec::with_capacity(batch.num_rows());
        self.set.lookup(&columns, &mut ids)?;
        let mask: BooleanArray = ids.iter().map(|&id| Some(id != MISSING)).collect();
        Ok(arrow::compute::filter_record_batch(&batch, &mask)?)
    }
}
