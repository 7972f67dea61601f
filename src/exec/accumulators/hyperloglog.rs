//! `approx_count_distinct`: a HyperLogLog sketch per group.
//!
//! Each value is hashed to 64 bits (its bytes in Arrow's row format, so that
//! equal values of any type hash alike). A group first keeps its distinct
//! hashes themselves (exact for small counts, where an estimate's error would
//! show most), and once it has more than `SPARSE_MAX`, 2^10 registers: the top
//! 10 bits of a hash pick a register, which keeps the most leading zeros (+1)
//! seen in the other bits. The estimate is the harmonic-mean formula of
//! Flajolet et al., with linear counting while many registers are empty; its
//! standard error is about 1.04 / sqrt(1024), 3%.

use std::any::Any;
use std::sync::Arc;

use arrow::array::*;
use arrow::row::{RowConverter, SortField};

use crate::error::Result;
use crate::exec::aggregate::{downcast, Accumulator};

const PRECISION: u32 = 10;
const REGISTERS: usize = 1 << PRECISION;
/// Distinct hashes kept exactly before a group switches to registers.
const SPARSE_MAX: usize = 256;

#[derive(Clone)]
enum Sketch {
    /// The distinct hashes seen (sorted and deduplicated whenever it grows
    /// past twice `SPARSE_MAX`).
    Sparse(Vec<u64>),
    Dense(Box<[u8; REGISTERS]>),
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::Sparse(vec![])
    }
}

impl Sketch {
    /// The bytes it holds beyond itself.
    fn heap_size(&self) -> usize {
        match self {
            Sketch::Sparse(hashes) => super::vec_size(hashes),
            Sketch::Dense(registers) => std::mem::size_of_val(registers.as_ref()),
        }
    }

    fn add(&mut self, hash: u64) {
        match self {
            Sketch::Sparse(hashes) => {
                hashes.push(hash);
                if hashes.len() > 2 * SPARSE_MAX {
                    hashes.sort_unstable();
                    hashes.dedup();
                    if hashes.len() > SPARSE_MAX {
                        self.densify();
                    }
                }
            }
            Sketch::Dense(registers) => {
                let index = (hash >> (64 - PRECISION)) as usize;
                let rank = ((hash << PRECISION) | (1 << (PRECISION - 1))).leading_zeros() as u8 + 1;
                registers[index] = registers[index].max(rank);
            }
        }
    }

    fn densify(&mut self) {
        if let Sketch::Sparse(hashes) =
            std::mem::replace(self, Sketch::Dense(Box::new([0; REGISTERS])))
        {
            for h in hashes {
                self.add(h);
            }
        }
    }

    fn merge(&mut self, other: &Sketch) {
        match (&mut *self, other) {
            (Sketch::Dense(a), Sketch::Dense(b)) => {
                for (x, y) in a.iter_mut().zip(b.iter()) {
                    *x = (*x).max(*y);
                }
            }
            (_, Sketch::Sparse(hashes)) => {
                for &h in hashes {
                    self.add(h);
                }
            }
            (Sketch::Sparse(_), Sketch::Dense(_)) => {
                self.densify();
                self.merge(other);
            }
        }
    }

    fn estimate(&mut self) -> i64 {
        match self {
            Sketch::Sparse(hashes) => {
                hashes.sort_unstable();
                hashes.dedup();
                hashes.len() as i64
            }
            Sketch::Dense(registers) => {
                let m = REGISTERS as f64;
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let sum: f64 = registers.iter().map(|&r| 2f64.powi(-(r as i32))).sum();
                let raw = alpha * m * m / sum;
                let empty = registers.iter().filter(|&&r| r == 0).count();
                let estimate = if raw <= 2.5 * m && empty > 0 {
                    m * (m / empty as f64).ln()
                } else {
                    raw
                };
                estimate.round() as i64
            }
        }
    }
}

#[derive(Default)]
pub struct ApproxDistinctAcc {
    groups: Vec<Sketch>,
}

/// A 64-bit hash of each row of `values` (NULL rows: None).
fn hashes(values: &ArrayRef) -> Result<Vec<Option<u64>>> {
    let converter = RowConverter::new(vec![SortField::new(values.data_type().clone())])?;
    let rows = converter.convert_columns(std::slice::from_ref(values))?;
    let state = ahash::RandomState::with_seeds(0x6f6c_6170, 0x686c_6c00, 0x1234_5678, 0x9abc_def0);
    Ok((0..values.len())
        .map(|i| {
            values
                .is_valid(i)
                .then(|| state.hash_one(rows.row(i).as_ref()))
        })
        .collect())
}

impl Accumulator for ApproxDistinctAcc {
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], num_groups: usize) -> Result<()> {
        self.groups.resize(num_groups, Sketch::default());
        let Some(values) = values.first() else {
            return Ok(());
        };
        for (&g, h) in groups.iter().zip(hashes(values)?) {
            if let Some(h) = h {
                self.groups[g as usize].add(h);
            }
        }
        Ok(())
    }

    fn merge(
        &mut self,
        other: &dyn Accumulator,
        from: &[u32],
        into: &[u32],
        num_groups: usize,
    ) -> Result<()> {
        let other = downcast::<ApproxDistinctAcc>(other)?;
        self.groups.resize(num_groups, Sketch::default());
        for (&f, &i) in from.iter().zip(into) {
            if let Some(s) = other.groups.get(f as usize) {
                self.groups[i as usize].merge(s);
            }
        }
        Ok(())
    }

    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.groups.resize(num_groups, Sketch::default());
        Ok(Arc::new(Int64Array::from_iter_values(
            self.groups.iter_mut().map(Sketch::estimate),
        )))
    }

    fn memory_size(&self) -> usize {
        super::vec_size(&self.groups) + self.groups.iter().map(Sketch::heap_size).sum::<usize>()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate_of(values: Vec<i64>) -> i64 {
        let mut acc = ApproxDistinctAcc::default();
        let n = values.len();
        let column: ArrayRef = Arc::new(Int64Array::from(values));
        acc.update(&[column], &vec![0; n], 1).unwrap();
        acc.finish(1)
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(0)
    }

    #[test]
    fn small_counts_are_exact_and_large_ones_close() {
        assert_eq!(estimate_of(vec![1, 2, 2, 3, 3, 3]), 3);
        assert_eq!(estimate_of((0..200).chain(0..200).collect()), 200);
        let large = estimate_of((0..100_000).collect());
        assert!((large - 100_000).abs() < 10_000, "estimate {large}");
    }
}
