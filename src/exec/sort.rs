//! τ sort: each worker collects its batches; at the end the sort keys of all
//! rows are evaluated and ordered, and the output gathers the rows in that
//! order from the batches where they are (no other column is concatenated
//! first). One sort key is ordered with Arrow's sort; several are encoded in
//! Arrow's row format, whose rows compare as bytes, and sorted on all workers.
//! When only the first `fetch` rows are needed (ORDER BY ... LIMIT), they are
//! selected first and only they are sorted.

use std::cmp::Ordering;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::{
    concat, interleave_record_batch, lexsort_to_indices, SortColumn, SortOptions,
};
use arrow::row::{RowConverter, SortField};
use rayon::prelude::*;

use super::expr::evaluate;
use super::pipeline::Sink;
use crate::error::Result;
use crate::plan::SortKey;

pub struct SortSink {
    pub keys: Vec<SortKey>,
    pub fetch: Option<usize>,
}

impl Sink for SortSink {
    type State = Vec<RecordBatch>;

    fn init(&self) -> Self::State {
        vec![]
    }

    fn consume(&self, state: &mut Self::State, _morsel: usize, batch: RecordBatch) -> Result<()> {
        state.push(batch);
        Ok(())
    }

    fn merge(&self, mut a: Self::State, b: Self::State) -> Result<Self::State> {
        a.extend(b);
        Ok(a)
    }

    fn finish(&self, state: Self::State) -> Result<Vec<RecordBatch>> {
        let batches: Vec<RecordBatch> = state.into_iter().filter(|b| b.num_rows() > 0).collect();
        if batches.is_empty() {
            return Ok(vec![]);
        }
        let keys = self
            .keys
            .iter()
            .map(|k| {
                let parts = batches
                    .iter()
                    .map(|b| evaluate(&k.expr, b))
                    .collect::<Result<Vec<_>>>()?;
                let parts: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
                Ok(SortColumn {
                    values: concat(&parts)?,
                    options: Some(SortOptions {
                        descending: !k.ascending,
                        nulls_first: k.nulls_first,
                    }),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let order = sorted_rows(&keys, self.fetch)?;
        // Where each batch's rows start among all rows.
        let starts: Vec<usize> = batches
            .iter()
            .scan(0, |start, b| {
                let s = *start;
                *start += b.num_rows();
                Some(s)
            })
            .collect();
        let positions: Vec<(usize, usize)> = order
            .iter()
            .map(|&row| {
                let b = starts.partition_point(|&s| s <= row) - 1;
                (b, row - starts[b])
            })
            .collect();
        let batches: Vec<&RecordBatch> = batches.iter().collect();
        Ok(vec![interleave_record_batch(&batches, &positions)?])
    }
}

/// The numbers of the rows of `keys` in sort order, ties in row order; only
/// the first `fetch` if given.
fn sorted_rows(keys: &[SortColumn], fetch: Option<usize>) -> Result<Vec<usize>> {
    let n = keys.first().map_or(0, |k| k.values.len());
    let converter = (keys.len() > 1)
        .then(|| {
            RowConverter::new(
                keys.iter()
                    .map(|k| {
                        SortField::new_with_options(
                            k.values.data_type().clone(),
                            k.options.unwrap_or_default(),
                        )
                    })
                    .collect(),
            )
        })
        .and_then(|c| c.ok());
    let Some(converter) = converter else {
        let indices = lexsort_to_indices(keys, fetch)?;
        return Ok(indices.values().iter().map(|&i| i as usize).collect());
    };
    let columns: Vec<ArrayRef> = keys.iter().map(|k| k.values.clone()).collect();
    let rows = converter.convert_columns(&columns)?;
    let compare =
        |a: &usize, b: &usize| -> Ordering { rows.row(*a).cmp(&rows.row(*b)).then(a.cmp(b)) };
    let mut order: Vec<usize> = (0..n).collect();
    if let Some(fetch) = fetch.filter(|&f| f < n) {
        if fetch == 0 {
            return Ok(vec![]);
        }
        order.select_nth_unstable_by(fetch - 1, compare);
        order.truncate(fetch);
    }
    order.par_sort_unstable_by(compare);
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::compute::{concat_batches, take_record_batch};
    use arrow::datatypes::DataType;
    use std::sync::Arc;

    use crate::plan::Expr;

    /// Rows `n..n + 40` with repeating keys and NULLs.
    fn batch(n: i64) -> RecordBatch {
        let rows = n..n + 40;
        let k: Int64Array = rows
            .clone()
            .map(|r| (r % 5 != 0).then_some(r % 7))
            .collect();
        let s: StringArray = rows
            .clone()
            .map(|r| (r % 4 != 0).then(|| format!("s{}", r % 3)))
            .collect();
        let id: Int64Array = rows.map(Some).collect();
        RecordBatch::try_from_iter([
            ("k", Arc::new(k) as ArrayRef),
            ("s", Arc::new(s) as ArrayRef),
            ("id", Arc::new(id) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn sorting_batches_matches_arrows_sort_of_their_concatenation() {
        let batches = vec![batch(0), batch(40), batch(80)];
        let whole = concat_batches(&batches[0].schema(), &batches).unwrap();
        let key = |c: usize, name: &str, t: DataType, ascending, nulls_first| SortKey {
            expr: Expr::column(c, name, t),
            ascending,
            nulls_first,
        };
        let orders = [
            vec![key(0, "k", DataType::Int64, true, false)],
            vec![
                key(0, "k", DataType::Int64, false, true),
                key(1, "s", DataType::Utf8, true, false),
            ],
            vec![
                key(1, "s", DataType::Utf8, false, false),
                key(0, "k", DataType::Int64, true, true),
                key(2, "id", DataType::Int64, false, false),
            ],
        ];
        for keys in orders {
            for fetch in [None, Some(0), Some(1), Some(7), Some(500)] {
                let sink = SortSink {
                    keys: keys.clone(),
                    fetch,
                };
                let mut state = sink.init();
                for b in &batches {
                    sink.consume(&mut state, 0, b.clone()).unwrap();
                }
                let sorted = sink.finish(state).unwrap();
                let columns: Vec<SortColumn> = keys
                    .iter()
                    .map(|k| SortColumn {
                        values: evaluate(&k.expr, &whole).unwrap(),
                        options: Some(SortOptions {
                            descending: !k.ascending,
                            nulls_first: k.nulls_first,
                        }),
                    })
                    .collect();
                // Ties broken by row number, as the sink does.
                let mut with_id = columns.clone();
                with_id.push(SortColumn {
                    values: whole.column(2).clone(),
                    options: None,
                });
                let indices = lexsort_to_indices(&with_id, fetch).unwrap();
                let expected = take_record_batch(&whole, &indices).unwrap();
                let key_columns = |b: &RecordBatch| -> Vec<ArrayRef> {
                    keys.iter().map(|k| evaluate(&k.expr, b).unwrap()).collect()
                };
                assert_eq!(sorted.len(), 1);
                assert_eq!(key_columns(&sorted[0]), key_columns(&expected), "{fetch:?}");
                if keys.len() > 1 {
                    assert_eq!(sorted[0], expected, "ties in row order");
                }
            }
        }
    }
}
