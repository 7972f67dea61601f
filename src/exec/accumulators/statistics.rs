//! Variance, standard deviation, covariance and correlation of DOUBLEs.
//!
//! Each group keeps its count, means and sums of squared deviations, updated
//! row by row with Welford's method (no catastrophic cancellation, unlike
//! sum-of-squares formulas) and merged with Chan et al.'s pairwise formula.
//! Rows with a NULL input (either input, for the two-variable functions) are
//! skipped. Sample statistics of fewer than two rows are NULL, population ones
//! of none.

use std::any::Any;
use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::Float64Type;

use crate::error::{Error, Result};
use crate::exec::aggregate::{downcast, Accumulator};
use crate::plan::AggFunc;

/// One variable's count, mean and sum of squared deviations from the mean.
#[derive(Clone, Copy, Default)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn add(&mut self, x: f64) {
        self.n += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.n;
        self.m2 += delta * (x - self.mean);
    }

    fn merge(&mut self, other: &Moments) {
        if other.n == 0.0 {
            return;
        }
        let n = self.n + other.n;
        let delta = other.mean - self.mean;
        self.m2 += other.m2 + delta * delta * self.n * other.n / n;
        self.mean += delta * other.n / n;
        self.n = n;
    }
}

fn doubles(values: &[ArrayRef], i: usize) -> Result<&Float64Array> {
    values
        .get(i)
        .and_then(|v| v.as_primitive_opt::<Float64Type>())
        .ok_or_else(|| Error::Execute("internal error: a statistic of non-DOUBLE input".into()))
}

/// `var_samp`, `var_pop`, `stddev_samp`, `stddev_pop`.
pub struct VarianceAcc {
    func: AggFunc,
    groups: Vec<Moments>,
}

impl VarianceAcc {
    pub fn new(func: AggFunc) -> VarianceAcc {
        VarianceAcc {
            func,
            groups: vec![],
        }
    }
}

impl Accumulator for VarianceAcc {
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], num_groups: usize) -> Result<()> {
        self.groups.resize(num_groups, Moments::default());
        let x = doubles(values, 0)?;
        for (row, &g) in groups.iter().enumerate() {
            if x.is_valid(row) {
                self.groups[g as usize].add(x.value(row));
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
        let other = downcast::<VarianceAcc>(other)?;
        self.groups.resize(num_groups, Moments::default());
        for (&f, &i) in from.iter().zip(into) {
            if let Some(m) = other.groups.get(f as usize) {
                self.groups[i as usize].merge(m);
            }
        }
        Ok(())
    }

    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.groups.resize(num_groups, Moments::default());
        let sample = matches!(self.func, AggFunc::VarSamp | AggFunc::StddevSamp);
        let root = matches!(self.func, AggFunc::StddevSamp | AggFunc::StddevPop);
        let result: Float64Array = self
            .groups
            .iter()
            .map(|m| {
                let divisor = if sample { m.n - 1.0 } else { m.n };
                (divisor > 0.0).then(|| {
                    let variance = m.m2 / divisor;
                    if root {
                        variance.sqrt()
                    } else {
                        variance
                    }
                })
            })
            .collect();
        Ok(Arc::new(result))
    }

    fn memory_size(&self) -> usize {
        super::vec_size(&self.groups)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Two variables' moments and the sum of products of their deviations.
#[derive(Clone, Copy, Default)]
struct CoMoments {
    y: Moments,
    x: Moments,
    /// Σ (x - mean x)(y - mean y).
    c: f64,
}

/// `covar_samp(y, x)`, `covar_pop(y, x)`, `corr(y, x)`.
pub struct CovarianceAcc {
    func: AggFunc,
    groups: Vec<CoMoments>,
}

impl CovarianceAcc {
    pub fn new(func: AggFunc) -> CovarianceAcc {
        CovarianceAcc {
            func,
            groups: vec![],
        }
    }
}

impl Accumulator for CovarianceAcc {
    fn update(&mut self, values: &[ArrayRef], groups: &[u32], num_groups: usize) -> Result<()> {
        self.groups.resize(num_groups, CoMoments::default());
        let (y, x) = (doubles(values, 0)?, doubles(values, 1)?);
        for (row, &g) in groups.iter().enumerate() {
            if y.is_null(row) || x.is_null(row) {
                continue;
            }
            let (yv, xv) = (y.value(row), x.value(row));
            let s = &mut self.groups[g as usize];
            // The x deviation from the old mean times the y deviation from the new.
            let dx = xv - s.x.mean;
            s.x.add(xv);
            s.y.add(yv);
            s.c += dx * (yv - s.y.mean);
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
        let other = downcast::<CovarianceAcc>(other)?;
        self.groups.resize(num_groups, CoMoments::default());
        for (&f, &i) in from.iter().zip(into) {
            let Some(b) = other.groups.get(f as usize) else {
                continue;
            };
            let a = &mut self.groups[i as usize];
            if b.x.n == 0.0 {
                continue;
            }
            let n = a.x.n + b.x.n;
            let (dx, dy) = (b.x.mean - a.x.mean, b.y.mean - a.y.mean);
            a.c += b.c + dx * dy * a.x.n * b.x.n / n;
            a.x.merge(&b.x);
            a.y.merge(&b.y);
        }
        Ok(())
    }

    fn finish(&mut self, num_groups: usize) -> Result<ArrayRef> {
        self.groups.resize(num_groups, CoMoments::default());
        let result: Float64Array = self
            .groups
            .iter()
            .map(|s| {
                let n = s.x.n;
                match self.func {
                    AggFunc::CovarSamp => (n > 1.0).then(|| s.c / (n - 1.0)),
                    AggFunc::CovarPop => (n > 0.0).then(|| s.c / n),
                    // NaN when either variable is constant (0 / 0), as in DuckDB.
                    _ => (n > 0.0).then(|| s.c / (s.x.m2 * s.y.m2).sqrt()),
                }
            })
            .collect();
        Ok(Arc::new(result))
    }

    fn memory_size(&self) -> usize {
        super::vec_size(&self.groups)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(v: &[f64]) -> ArrayRef {
        Arc::new(Float64Array::from(v.to_vec()))
    }

    #[test]
    fn merged_moments_match_one_pass() {
        let xs = [1.0, 4.0, 9.0, 16.0, 25.0, 2.5];
        let mut one = VarianceAcc::new(AggFunc::VarSamp);
        one.update(&[column(&xs)], &[0; 6], 1).unwrap();
        let (mut a, mut b) = (
            VarianceAcc::new(AggFunc::VarSamp),
            VarianceAcc::new(AggFunc::VarSamp),
        );
        a.update(&[column(&xs[..2])], &[0; 2], 1).unwrap();
        b.update(&[column(&xs[2..])], &[0; 4], 1).unwrap();
        a.merge(&b, &[0], &[0], 1).unwrap();
        let (one, merged) = (one.finish(1).unwrap(), a.finish(1).unwrap());
        let (one, merged) = (
            one.as_primitive::<Float64Type>().value(0),
            merged.as_primitive::<Float64Type>().value(0),
        );
        let mean = xs.iter().sum::<f64>() / 6.0;
        let exact = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 5.0;
        assert!((one - exact).abs() < 1e-9 && (merged - exact).abs() < 1e-9);
    }

    #[test]
    fn covariance_of_a_line_and_correlation_one() {
        let (ys, xs) = ([2.0, 4.0, 6.0, 8.0], [1.0, 2.0, 3.0, 4.0]);
        let run = |func| {
            let mut acc = CovarianceAcc::new(func);
            acc.update(&[column(&ys), column(&xs)], &[0; 4], 1).unwrap();
            acc.finish(1)
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(0)
        };
        assert_eq!(run(AggFunc::CovarPop), 2.5);
        assert!((run(AggFunc::CovarSamp) - 10.0 / 3.0).abs() < 1e-12);
        assert!((run(AggFunc::Corr) - 1.0).abs() < 1e-12);
    }
}
