//! The accumulators of the aggregates beyond COUNT / SUM / AVG / MIN / MAX
//! (which live with the hash aggregation in `aggregate.rs`, tuned for speed):
//!
//! - `statistics`: variance, standard deviation, covariance and correlation,
//!   by Welford's streaming update, merged with Chan's formula;
//! - `ordered`: the aggregates that need their group's values in order
//!   (quantiles and median, mode, arg_min / arg_max, string_agg): the values
//!   are kept and sorted once, by group and value, at the end;
//! - `hyperloglog`: approx_count_distinct;
//! - `boolean`: bool_and / bool_or.
//!
//! Each keeps one state per group number, like every accumulator.

mod boolean;
mod hyperloglog;
mod ordered;
mod statistics;

use super::aggregate::Accumulator;
pub(super) use super::memory::vec_size;
use crate::error::Result;
use crate::plan::{AggExpr, AggFunc};

/// For each group number of a merge's source, the groups it goes into.
pub(super) fn targets_of(from: &[u32], into: &[u32]) -> Vec<Vec<u32>> {
    let mut targets = vec![vec![]; from.iter().max().map_or(0, |&f| f as usize + 1)];
    for (&f, &i) in from.iter().zip(into) {
        targets[f as usize].push(i);
    }
    targets
}

/// The accumulator of `agg` if it is one of these; None for the others.
pub(super) fn new(agg: &AggExpr) -> Result<Option<Box<dyn Accumulator>>> {
    Ok(Some(match agg.func {
        AggFunc::StddevSamp | AggFunc::StddevPop | AggFunc::VarSamp | AggFunc::VarPop => {
            Box::new(statistics::VarianceAcc::new(agg.func))
        }
        AggFunc::CovarSamp | AggFunc::CovarPop | AggFunc::Corr => {
            Box::new(statistics::CovarianceAcc::new(agg.func))
        }
        AggFunc::QuantileCont
        | AggFunc::QuantileDisc
        | AggFunc::Mode
        | AggFunc::ArgMin
        | AggFunc::ArgMax
        | AggFunc::StringAgg => Box::new(ordered::OrderedAcc::new(agg)?),
        AggFunc::ApproxCountDistinct => Box::new(hyperloglog::ApproxDistinctAcc::default()),
        AggFunc::BoolAnd | AggFunc::BoolOr => {
            Box::new(boolean::BoolAcc::new(agg.func == AggFunc::BoolAnd))
        }
        AggFunc::CountStar
        | AggFunc::Count
        | AggFunc::Sum
        | AggFunc::Avg
        | AggFunc::Min
        | AggFunc::Max => return Ok(None),
    }))
}
