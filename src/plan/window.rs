//! Window functions in the logical plan: what one call of a window function
//! computes for each row (`RANK()`, `LAG(x, 2)`, `SUM(x)` over a frame), and
//! the frame of rows an aggregate or a value function sees.
//!
//! The calls of one [`LogicalPlan::Window`](super::LogicalPlan::Window) node
//! share its PARTITION BY and ORDER BY; a query whose window functions use
//! several windows gets one node per window, stacked.

use std::fmt;

use arrow::datatypes::DataType;

use super::expr::{AggExpr, Expr};
use crate::types::ScalarValue;

/// A window function.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowFunc {
    RowNumber,
    Rank,
    DenseRank,
    PercentRank,
    CumeDist,
    /// `NTILE(n)`: `args[0]` is the constant n.
    Ntile,
    /// `LAG(x [, offset [, default]])`: the value `offset` rows before.
    Lag,
    Lead,
    FirstValue,
    LastValue,
    /// `NTH_VALUE(x, n)`: the n-th row of the frame.
    NthValue,
    /// An aggregate over the frame. Its FILTER, if any, is already folded into
    /// its argument (rows it rejects are NULL), so that frames count positions.
    Aggregate(Box<AggExpr>),
}

/// Whether a frame counts rows or compares ORDER BY values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameUnits {
    Rows,
    Range,
}

/// One end of a frame. An offset is a non-negative constant: a number of rows
/// (ROWS), or a distance in the ORDER BY key's type (RANGE).
#[derive(Debug, Clone, PartialEq)]
pub enum FrameBound {
    UnboundedPreceding,
    Preceding(ScalarValue),
    CurrentRow,
    Following(ScalarValue),
    UnboundedFollowing,
}

/// The rows around the current one that a window aggregate or value function
/// sees: `units BETWEEN start AND end`.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowFrame {
    pub units: FrameUnits,
    pub start: FrameBound,
    pub end: FrameBound,
}

impl WindowFrame {
    /// The frame of a window without ORDER BY: the whole partition (with ORDER
    /// BY: RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW, the row's peers
    /// included).
    pub fn default_for(ordered: bool) -> WindowFrame {
        WindowFrame {
            units: FrameUnits::Range,
            start: FrameBound::UnboundedPreceding,
            end: if ordered {
                FrameBound::CurrentRow
            } else {
                FrameBound::UnboundedFollowing
            },
        }
    }

    /// Whether every row's frame is its whole partition.
    pub fn is_whole_partition(&self, ordered: bool) -> bool {
        self.start == FrameBound::UnboundedPreceding
            && (self.end == FrameBound::UnboundedFollowing
                || (!ordered
                    && self.units == FrameUnits::Range
                    && self.end == FrameBound::CurrentRow))
    }
}

/// One window function call of a Window node.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowExpr {
    pub func: WindowFunc,
    /// The arguments of a non-aggregate function (an aggregate keeps its own).
    pub args: Vec<Expr>,
    pub frame: WindowFrame,
    pub data_type: DataType,
    /// `IGNORE NULLS` (LAG, LEAD, FIRST_VALUE, LAST_VALUE, NTH_VALUE): rows whose
    /// value is NULL are skipped when counting offsets and positions.
    pub ignore_nulls: bool,
}

impl WindowExpr {
    /// Every expression the call reads.
    pub fn expressions(&self) -> Vec<&Expr> {
        match &self.func {
            WindowFunc::Aggregate(a) => a.expressions(),
            _ => self.args.iter().collect(),
        }
    }

    /// This call with `f` applied to each of its expressions.
    pub fn try_map_expressions(
        self,
        f: &mut impl FnMut(Expr) -> crate::Result<Expr>,
    ) -> crate::Result<WindowExpr> {
        Ok(WindowExpr {
            func: match self.func {
                WindowFunc::Aggregate(a) => {
                    WindowFunc::Aggregate(Box::new(a.try_map_expressions(f)?))
                }
                other => other,
            },
            args: self
                .args
                .into_iter()
                .map(&mut *f)
                .collect::<crate::Result<_>>()?,
            ..self
        })
    }
}

impl fmt::Display for FrameBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameBound::UnboundedPreceding => write!(f, "UNBOUNDED PRECEDING"),
            FrameBound::Preceding(v) => write!(f, "{v} PRECEDING"),
            FrameBound::CurrentRow => write!(f, "CURRENT ROW"),
            FrameBound::Following(v) => write!(f, "{v} FOLLOWING"),
            FrameBound::UnboundedFollowing => write!(f, "UNBOUNDED FOLLOWING"),
        }
    }
}

impl fmt::Display for WindowExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.func {
            WindowFunc::Aggregate(a) => write!(f, "{a}")?,
            other => {
                let args: Vec<String> = self.args.iter().map(|a| a.to_string()).collect();
                write!(
                    f,
                    "{}({})",
                    format!("{other:?}").to_lowercase(),
                    args.join(", ")
                )?
            }
        }
        if self.ignore_nulls {
            write!(f, " IGNORE NULLS")?;
        }
        let units = match self.frame.units {
            FrameUnits::Rows => "ROWS",
            FrameUnits::Range => "RANGE",
        };
        write!(
            f,
            " {units} BETWEEN {} AND {}",
            self.frame.start, self.frame.end
        )
    }
}
