//! The aggregates that need each group's values in order: `quantile_cont`
//! (and `median`), `quantile_disc`, `mode`, `arg_min` / `arg_max` and
//! `string_agg` (with its ORDER BY).
//!
//! The accumulator keeps the input rows it is given (their non-NULL values,
//! with the group of each) and, when finished, sorts all of them once by
//! (group, sort keys) with Arrow's lexicographic sort; each group is then a
//! run of the sorted order, from which the result is picked (a position for
//! quantiles, the longest run of equal values for mode, the first row for
//! arg_min / arg_max) or joined (string_agg). Memory: every non-NULL input
//! value, as for any holistic aggregate.

use std::any::Any;
use std::sync::Arc;

use arrow::array::*;
use arrow::compute::{concat, lexsort_to_indices, take, SortColumn, SortOptions};
use arrow::datatypes::*;

use crate::error::{Error, Result};
use crate::exec::aggregate::{downcast, Accumulator};
use crate::exec::expr::cast;
use crate::plan::{AggExpr, AggFunc, Expr};
use crate::types::{ScalarValue, TIMESTAMP};

pub struct OrderedAcc {
    func: AggFunc,
    /// The fraction of a quantile.
    fraction: f64,
    /// The separator of string_agg.
    separator: String,
    /// How each sort column after the group orders: the value for quantiles,
    /// mode and arg_min / arg_max, the ORDER BY keys for string_agg.
    sort_options: Vec<SortOptions>,
    out: DataType,
    /// The rows kept: the input columns of each update, NULL values left out.
    parts: Vec<Vec<ArrayRef>>,
    /// The group of each row kept, in the order of `parts`.
    groups: Vec<u32>,
}

impl OrderedAcc {
    pub fn new(agg: &AggExpr) -> Result<OrderedAcc> {
        let constant = |e: &Option<Expr>| match e {
            Some(Expr::Literal(v)) => Some(v.clone()),
            _ => None,
        };
        let fraction = match constant(&agg.arg2) {
            Some(ScalarValue::Float64(Some(q))) => q,
            _ => 0.5,
        };
        let separator = match constant(&agg.arg2) {
            Some(ScalarValue::Utf8(Some(s))) => s,
            _ => ",".to_string(),
        };
        let options = |ascending: bool, nulls_first: bool| SortOptions {
            descending: !ascending,
            nulls_first,
        };
        let sort_options = match agg.func {
            AggFunc::ArgMin | AggFunc::Mode => vec![options(true, false)],
            AggFunc::ArgMax => vec![options(false, false)],
            AggFunc::QuantileCont | AggFunc::QuantileDisc => {
                let ascending = agg.order_by.first().is_none_or(|k| k.ascending);
                vec![options(ascending, false)]
            }
            _ => agg
                .order_by
                .iter()
                .map(|k| options(k.ascending, k.nulls_first))
                .collect(),
        };
        if agg.func == AggFunc::QuantileCont
            && !matches!(
                agg.arg.as_ref().map(|a| a.data_type()),
                Some(
                    DataType::Int32
                        | DataType::Int64
                        | DataType::Float64
                        | DataType::Decimal128(..)
                        | DataType::Date32
                        | DataType::Timestamp(..)
                )
            )
        {
            return Err(Error::Execute(format!(
                "no interpolating quantile of {agg}"
            )));
        }
        Ok(OrderedAcc {
            func: agg.func,
            fraction,
            separator,
            sort_options,
            out: agg.data_type.clone(),
            parts: vec![],
            groups: vec![],
        })
    }

    /// Keeps the rows of `columns` whose value (and, for arg_min / arg_max,
    /// whose ordering value) is not NULL and whose `targets` entry is Some,
    /// in that group.
    fn keep(
        &mut self,
        columns: &[ArrayRef],
        targets: impl Iterator<Item = Option<u32>>,
    ) -> Result<()> {
        let checked = if self.func.has_second_column() { 2 } else { 1 };
        let mut mask = vec![];
        let mut all = true;
        for (row, target) in targets.enumerate() {
            let keep = target.is_some() && columns[..checked].iter().all(|c| c.is_valid(row));
            if let (true, Some(g)) = (keep, target) {
                self.groups.push(g);
            }
            all &= keep;
            mask.push(keep);
        }
        if all {
            self.parts.push(columns.to_vec());
        } else {
            let mask = BooleanArray::from(mask);
            let kept = columns
                .iter()
                .map(|c| Ok(arrow::compute::filter(c.as_ref(), &mask)?))
                .collect::<Result<Vec<_>>>()?;
            self.parts.push(kept);
        }
        Ok(())
    }
}

impl Accumulator for OrderedAcc {
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], _num_groups: usize) -> Result<()> {
        if values.is_empty() {
            return Err(Error::Execute(
                "internal error: an ordered aggregate without input".into(),
            ));
        }
        self.keep(values, groups.iter().map(|&g| Some(g)))
    }

    fn merge(
        &mut self,
        other: &dyn Accumulator,
        from: &[u32],
        into: &[u32],
        _num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<OrderedAcc>(other)?;
        // A group of `other` may go into several groups here (a window's
        // segment tree merges one node into many frames).
        let targets = super::targets_of(from, into);
        let mut start = 0;
        for part in &other.parts {
            let len = part.first().map_or(0, |c| c.len());
            let (mut rows, mut groups) = (vec![], vec![]);
            for (r, &g) in other.groups[start..start + len].iter().enumerate() {
                for &t in targets.get(g as usize).map_or(&[][..], |t| t.as_slice()) {
                    rows.push(r as u32);
                    groups.push(t);
                }
            }
            start += len;
            if rows.is_empty() {
                continue;
            }
            let rows = UInt32Array::from(rows);
            let taken = part
                .iter()
                .map(|c| Ok(take(c.as_ref(), &rows, None)?))
                .collect::<Result<Vec<_>>>()?;
            self.parts.push(taken);
            self.groups.extend(groups);
        }
        Ok(())
    }

    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef> {
        if self.groups.is_empty() {
            return Ok(new_null_array(&self.out, num_groups));
        }
        let width = self.parts[0].len();
        let columns = (0..width)
            .map(|k| {
                let pieces: Vec<&dyn Array> = self.parts.iter().map(|p| p[k].as_ref()).collect();
                Ok(concat(&pieces)?)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let groups: ArrayRef = Arc::new(UInt32Array::from(std::mem::take(&mut self.groups)));
        self.parts.clear();
        // Sort by group, then: the value (quantiles, mode), the ordering value
        // (arg_min / arg_max), the ORDER BY keys (string_agg; the value itself
        // when DISTINCT left only it).
        let keys: Vec<&ArrayRef> = match self.func {
            AggFunc::ArgMin | AggFunc::ArgMax => vec![&columns[1]],
            AggFunc::StringAgg if columns.len() > 1 => columns[1..].iter().collect(),
            AggFunc::StringAgg if self.sort_options.is_empty() => vec![],
            _ => vec![&columns[0]],
        };
        let mut sort = vec![SortColumn {
            values: groups.clone(),
            options: None,
        }];
        for (k, key) in keys.into_iter().enumerate() {
            sort.push(SortColumn {
                values: key.clone(),
                options: self.sort_options.get(k).copied(),
            });
        }
        let order = lexsort_to_indices(&sort, None)?;
        let groups = groups.as_primitive::<UInt32Type>();
        // Each group's run [start, end) of `order`.
        let mut runs: Vec<Option<(usize, usize)>> = vec![None; num_groups];
        let mut start = 0;
        let order_values = order.values();
        while start < order_values.len() {
            let g = groups.value(order_values[start] as usize);
            let mut end = start + 1;
            while end < order_values.len() && groups.value(order_values[end] as usize) == g {
                end += 1;
            }
            runs[g as usize] = Some((start, end));
            start = end;
        }
        let value = &columns[0];
        let picked = |pick: &dyn Fn(usize, usize) -> usize| -> Result<ArrayRef> {
            let indices: UInt32Array = runs
                .iter()
                .map(|r| r.map(|(s, e)| order_values[pick(s, e)]))
                .collect();
            let result = take(value.as_ref(), &indices, None)?;
            cast(&result, &self.out)
        };
        match self.func {
            AggFunc::ArgMin | AggFunc::ArgMax => picked(&|s, _| s),
            AggFunc::QuantileDisc => {
                let q = self.fraction;
                picked(&|s, e| {
                    let n = (e - s) as f64;
                    s + ((n * q).ceil() as usize).saturating_sub(1).min(e - s - 1)
                })
            }
            AggFunc::Mode => {
                let equal =
                    make_comparator(value.as_ref(), value.as_ref(), SortOptions::default())?;
                picked(&|s, e| {
                    let (mut best, mut best_len, mut run) = (s, 0, s);
                    for i in s..=e {
                        let same = i < e
                            && equal(order_values[run] as usize, order_values[i] as usize).is_eq();
                        if !same {
                            if i - run > best_len {
                                (best, best_len) = (run, i - run);
                            }
                            run = i;
                        }
                    }
                    best
                })
            }
            AggFunc::QuantileCont => self.interpolate(value, &runs, order_values),
            AggFunc::StringAgg => {
                let strings = value.as_string::<i32>();
                let mut out = StringBuilder::with_capacity(num_groups, strings.value_data().len());
                for run in &runs {
                    match run {
                        Some((s, e)) => {
                            let mut text = String::new();
                            for (k, &i) in order_values[*s..*e].iter().enumerate() {
                                if k > 0 {
                                    text.push_str(&self.separator);
                                }
                                text.push_str(strings.value(i as usize));
                            }
                            out.append_value(text);
                        }
                        None => out.append_null(),
                    }
                }
                Ok(Arc::new(out.finish()))
            }
            other => Err(Error::Execute(format!(
                "internal error: {} is not an ordered aggregate",
                other.name()
            ))),
        }
    }

    fn memory_size(&self) -> usize {
        super::vec_size(&self.groups)
            + self
                .parts
                .iter()
                .flatten()
                .map(|a| crate::exec::memory::array_size(a.as_ref()))
                .sum::<usize>()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl OrderedAcc {
    /// `quantile_cont`: the value at position (n - 1)·q of each group's sorted
    /// values, between the two around it: a DOUBLE for numbers, the DECIMAL
    /// truncated toward zero at its scale, a TIMESTAMP for dates (as DuckDB).
    fn interpolate(
        &self,
        value: &ArrayRef,
        runs: &[Option<(usize, usize)>],
        order: &[u32],
    ) -> Result<ArrayRef> {
        // Each group's two neighbouring rows and the weight of the upper one.
        let around = |(s, e): (usize, usize)| {
            let h = (e - s - 1) as f64 * self.fraction;
            let (lo, hi) = (h.floor(), h.ceil());
            (
                order[s + lo as usize] as usize,
                order[s + hi as usize] as usize,
                h - lo,
            )
        };
        Ok(match value.data_type() {
            DataType::Decimal128(..) => {
                let v = value.as_primitive::<Decimal128Type>();
                let result: Decimal128Array = runs
                    .iter()
                    .map(|r| {
                        r.map(|r| {
                            let (lo, hi, w) = around(r);
                            // The whole value truncated (-3.75 and -2.50: -3.12).
                            let (a, b) = (v.value(lo), v.value(hi));
                            let delta = (b - a) as f64 * w;
                            let total = a as f64 + delta;
                            if total.abs() < 2f64.powi(53) {
                                total.trunc() as i128
                            } else {
                                a + delta.trunc() as i128
                            }
                        })
                    })
                    .collect();
                Arc::new(result.with_data_type(self.out.clone()))
            }
            DataType::Date32 | DataType::Timestamp(..) => {
                let micros = cast(value, &TIMESTAMP)?;
                let v = micros.as_primitive::<TimestampMicrosecondType>();
                let result: TimestampMicrosecondArray = runs
                    .iter()
                    .map(|r| {
                        r.map(|r| {
                            let (lo, hi, w) = around(r);
                            let (a, b) = (v.value(lo), v.value(hi));
                            a + ((b - a) as f64 * w).trunc() as i64
                        })
                    })
                    .collect();
                Arc::new(result)
            }
            _ => {
                let floats = cast(value, &DataType::Float64)?;
                let v = floats.as_primitive::<Float64Type>();
                let result: Float64Array = runs
                    .iter()
                    .map(|r| {
                        r.map(|r| {
                            let (lo, hi, w) = around(r);
                            let (a, b) = (v.value(lo), v.value(hi));
                            a + (b - a) * w
                        })
                    })
                    .collect();
                Arc::new(result)
            }
        })
    }
}
