//! Binding window functions: `f(...) OVER (PARTITION BY ... ORDER BY ...
//! frame)`, `OVER w` and `OVER (w ...)` with `WINDOW w AS (...)`, and placing
//! them in the plan.
//!
//! While the SELECT list, ORDER BY and QUALIFY are bound, each window call is
//! collected (its arguments, keys and frame bound over the FROM clause, or
//! over the groups when the query aggregates) and replaced by a placeholder
//! column (`WINDOW_REF_BASE + i`). Once the aggregation is placed, the calls
//! are grouped by their (PARTITION BY, ORDER BY), each group becomes one
//! Window node over the plan so far, and the placeholders become references to
//! the nodes' output columns.

use arrow::datatypes::{DataType, Field, Schema};
use sqlparser::ast;
use std::sync::Arc;

use super::coerce::common_type;
use super::expr::cast;
use crate::error::{Error, Result};
use crate::plan::{
    AggExpr, AggFunc, Expr, FrameBound, FrameUnits, LogicalPlan, SortKey, WindowExpr, WindowFrame,
    WindowFunc,
};
use crate::types::{type_name, ScalarValue};
use crate::{bind_err, unsupported};

/// Column indexes at or above this mark (and below the aggregates' mark)
/// stand for "window call number (index - mark)".
pub const WINDOW_REF_BASE: usize = usize::MAX / 4;

/// Views of window definitions nested deeper than this are a cycle.
const MAX_WINDOW_DEPTH: usize = 32;

/// One window function call of a SELECT, bound.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowCall {
    pub func: WindowFunc,
    pub args: Vec<Expr>,
    pub partition_by: Vec<Expr>,
    pub order_by: Vec<SortKey>,
    pub frame: WindowFrame,
    pub data_type: DataType,
    pub ignore_nulls: bool,
}

impl WindowCall {
    /// This call with `f` applied to each expression it holds.
    pub fn try_map(self, f: &mut impl FnMut(Expr) -> Result<Expr>) -> Result<WindowCall> {
        let expr = WindowExpr {
            func: self.func,
            args: self.args,
            frame: self.frame,
            data_type: self.data_type,
            ignore_nulls: self.ignore_nulls,
        }
        .try_map_expressions(f)?;
        Ok(WindowCall {
            func: expr.func,
            args: expr.args,
            partition_by: self
                .partition_by
                .into_iter()
                .map(&mut *f)
                .collect::<Result<_>>()?,
            order_by: self
                .order_by
                .into_iter()
                .map(|k| {
                    Ok(SortKey {
                        expr: f(k.expr)?,
                        ..k
                    })
                })
                .collect::<Result<_>>()?,
            frame: expr.frame,
            data_type: expr.data_type,
            ignore_nulls: expr.ignore_nulls,
        })
    }
}

/// The window a call names: its inline specification, resolved against the
/// named windows it refers to (`OVER w`, `OVER (w ORDER BY ...)`).
pub fn resolve_window(
    over: &ast::WindowType,
    named: &[ast::NamedWindowDefinition],
) -> Result<ast::WindowSpec> {
    resolve_depth(over, named, 0)
}

fn resolve_depth(
    over: &ast::WindowType,
    named: &[ast::NamedWindowDefinition],
    depth: usize,
) -> Result<ast::WindowSpec> {
    if depth > MAX_WINDOW_DEPTH {
        return bind_err!("window definitions refer to each other in a cycle");
    }
    let lookup = |name: &ast::Ident| -> Result<ast::WindowSpec> {
        let found: Vec<&ast::NamedWindowDefinition> = named
            .iter()
            .filter(|d| d.0.value.eq_ignore_ascii_case(&name.value))
            .collect();
        match found.as_slice() {
            [] => bind_err!("window \"{}\" does not exist", name.value),
            [definition] => match &definition.1 {
                ast::NamedWindowExpr::WindowSpec(spec) => {
                    resolve_depth(&ast::WindowType::WindowSpec(spec.clone()), named, depth + 1)
                }
                ast::NamedWindowExpr::NamedWindow(other) => resolve_depth(
                    &ast::WindowType::NamedWindow(other.clone()),
                    named,
                    depth + 1,
                ),
            },
            _ => bind_err!("window \"{}\" is defined more than once", name.value),
        }
    };
    match over {
        ast::WindowType::NamedWindow(name) => lookup(name),
        ast::WindowType::WindowSpec(spec) => {
            let Some(base_name) = &spec.window_name else {
                return Ok(spec.clone());
            };
            let base = lookup(base_name)?;
            if !spec.partition_by.is_empty() {
                return bind_err!(
                    "window \"{}\" cannot be given another PARTITION BY",
                    base_name.value
                );
            }
            if !base.order_by.is_empty() && !spec.order_by.is_empty() {
                return bind_err!(
                    "cannot override the ORDER BY of window \"{}\"",
                    base_name.value
                );
            }
            if base.window_frame.is_some() {
                return bind_err!(
                    "cannot copy window \"{}\" because it has a frame clause",
                    base_name.value
                );
            }
            Ok(ast::WindowSpec {
                window_name: None,
                partition_by: base.partition_by,
                order_by: if spec.order_by.is_empty() {
                    base.order_by
                } else {
                    spec.order_by.clone()
                },
                window_frame: spec.window_frame.clone(),
            })
        }
    }
}

/// The names of the window functions that are not aggregates.
/// Whether window function `name` takes `IGNORE NULLS`.
pub fn skips_nulls(name: &str) -> bool {
    matches!(
        name,
        "lag" | "lead" | "first_value" | "first" | "last_value" | "last" | "nth_value"
    )
}

pub fn is_window_function(name: &str) -> bool {
    matches!(
        name,
        "row_number"
            | "rank"
            | "dense_rank"
            | "percent_rank"
            | "cume_dist"
            | "ntile"
            | "lag"
            | "lead"
            | "first_value"
            | "last_value"
            | "nth_value"
            | "first"
            | "last"
    )
}

/// A non-aggregate window function with its arguments checked: the function,
/// its arguments as the operator reads them, and its result type.
pub fn bind_window_function(
    name: &str,
    mut args: Vec<Expr>,
) -> Result<(WindowFunc, Vec<Expr>, DataType)> {
    let arity = |n: std::ops::RangeInclusive<usize>, args: &[Expr]| -> Result<()> {
        if n.contains(&args.len()) {
            Ok(())
        } else {
            bind_err!("{name} does not take {} arguments", args.len())
        }
    };
    let constant_integer = |e: Expr, what: &str| -> Result<Expr> {
        match cast(e, &DataType::Int64)? {
            lit @ Expr::Literal(ScalarValue::Int64(Some(_))) => Ok(lit),
            other => bind_err!("{what} must be a constant integer, not {other}"),
        }
    };
    Ok(match name {
        "row_number" | "rank" | "dense_rank" | "percent_rank" | "cume_dist" => {
            arity(0..=0, &args)?;
            let (func, t) = match name {
                "row_number" => (WindowFunc::RowNumber, DataType::Int64),
                "rank" => (WindowFunc::Rank, DataType::Int64),
                "dense_rank" => (WindowFunc::DenseRank, DataType::Int64),
                "percent_rank" => (WindowFunc::PercentRank, DataType::Float64),
                _ => (WindowFunc::CumeDist, DataType::Float64),
            };
            (func, args, t)
        }
        "ntile" => {
            arity(1..=1, &args)?;
            let n = constant_integer(args.remove(0), "NTILE's number of buckets")?;
            if matches!(n, Expr::Literal(ScalarValue::Int64(Some(v))) if v <= 0) {
                return bind_err!("NTILE's number of buckets must be greater than zero");
            }
            (WindowFunc::Ntile, vec![n], DataType::Int64)
        }
        "lag" | "lead" => {
            arity(1..=3, &args)?;
            let func = if name == "lag" {
                WindowFunc::Lag
            } else {
                WindowFunc::Lead
            };
            let mut value = args.remove(0);
            let offset = match args.is_empty() {
                true => Expr::Literal(ScalarValue::Int64(Some(1))),
                false => constant_integer(args.remove(0), "LAG / LEAD's offset")?,
            };
            let mut bound = match args.pop() {
                None => vec![value, offset],
                Some(default) => {
                    let (vt, dt) = (value.data_type(), default.data_type());
                    let t = common_type(&vt, &dt).ok_or_else(|| {
                        Error::Bind(format!(
                            "{name}'s default of type {} does not match its value's type {}",
                            type_name(&dt),
                            type_name(&vt)
                        ))
                    })?;
                    value = cast(value, &t)?;
                    vec![value, offset, cast(default, &t)?]
                }
            };
            if bound[0].data_type() == DataType::Null {
                bound[0] = cast(bound[0].clone(), &DataType::Int32)?;
            }
            let t = bound[0].data_type();
            (func, bound, t)
        }
        "first_value" | "first" | "last_value" | "last" => {
            arity(1..=1, &args)?;
            let func = if name.starts_with("first") {
                WindowFunc::FirstValue
            } else {
                WindowFunc::LastValue
            };
            let t = args[0].data_type();
            (func, args, t)
        }
        "nth_value" => {
            arity(2..=2, &args)?;
            let n = constant_integer(args.remove(1), "NTH_VALUE's position")?;
            if matches!(n, Expr::Literal(ScalarValue::Int64(Some(v))) if v <= 0) {
                return bind_err!("NTH_VALUE's position must be greater than zero");
            }
            let t = args[0].data_type();
            args.push(n);
            (WindowFunc::NthValue, args, t)
        }
        _ => return bind_err!("unknown window function {name}"),
    })
}

/// An aggregate used as a window function, its FILTER folded into its
/// arguments (a rejected row's value is NULL, which no aggregate counts), so
/// that frames are counted over all rows.
pub fn window_aggregate(mut agg: AggExpr) -> Result<AggExpr> {
    let Some(filter) = agg.filter.take() else {
        return Ok(agg);
    };
    let when = |e: Expr| -> Expr {
        let t = e.data_type();
        Expr::Case {
            branches: vec![(filter.clone(), e)],
            otherwise: None,
            data_type: t,
        }
    };
    if agg.func == AggFunc::CountStar {
        agg.func = AggFunc::Count;
        agg.arg = Some(when(Expr::Literal(ScalarValue::Int64(Some(1)))));
        return Ok(agg);
    }
    agg.arg = agg.arg.map(when);
    if agg.func.has_second_column() {
        agg.arg2 = agg.arg2.map(when);
    }
    Ok(agg)
}

/// The frame of a window call (the default when the query gives none),
/// checked: its offsets are non-negative constants of the right type.
pub fn bind_frame(
    frame: Option<&ast::WindowFrame>,
    order_by: &[SortKey],
    offset: &mut dyn FnMut(&ast::Expr) -> Result<Expr>,
) -> Result<WindowFrame> {
    let Some(frame) = frame else {
        return Ok(WindowFrame::default_for(!order_by.is_empty()));
    };
    let units = match frame.units {
        ast::WindowFrameUnits::Rows => FrameUnits::Rows,
        ast::WindowFrameUnits::Range => FrameUnits::Range,
        ast::WindowFrameUnits::Groups => return unsupported!("GROUPS frames"),
    };
    let mut bound = |b: &ast::WindowFrameBound| -> Result<FrameBound> {
        Ok(match b {
            ast::WindowFrameBound::CurrentRow => FrameBound::CurrentRow,
            ast::WindowFrameBound::Preceding(None) => FrameBound::UnboundedPreceding,
            ast::WindowFrameBound::Following(None) => FrameBound::UnboundedFollowing,
            ast::WindowFrameBound::Preceding(Some(e)) => {
                FrameBound::Preceding(frame_offset(offset(e)?, units, order_by)?)
            }
            ast::WindowFrameBound::Following(Some(e)) => {
                FrameBound::Following(frame_offset(offset(e)?, units, order_by)?)
            }
        })
    };
    let start = bound(&frame.start_bound)?;
    let end = match &frame.end_bound {
        Some(b) => bound(b)?,
        None => FrameBound::CurrentRow,
    };
    use FrameBound as B;
    match (&start, &end) {
        (B::UnboundedFollowing, _) => {
            bind_err!("a window frame cannot start at UNBOUNDED FOLLOWING")
        }
        (_, B::UnboundedPreceding) => bind_err!("a window frame cannot end at UNBOUNDED PRECEDING"),
        (B::CurrentRow, B::Preceding(_)) => {
            bind_err!("a window frame starting at the current row cannot end before it")
        }
        (B::Following(_), B::Preceding(_) | B::CurrentRow) => {
            bind_err!("a window frame starting after the current row cannot end at or before it")
        }
        _ => Ok(WindowFrame { units, start, end }),
    }
}

/// A frame offset as the operator reads it: a non-negative BIGINT for ROWS;
/// for RANGE, a value of the (single) ORDER BY key's type, or for a DATE key a
/// number of days (an INTERVAL of whole days too), for a TIMESTAMP key an
/// INTERVAL without months.
fn frame_offset(e: Expr, units: FrameUnits, order_by: &[SortKey]) -> Result<ScalarValue> {
    let Expr::Literal(v) = e else {
        return unsupported!("a window frame offset that is not a constant: {e}");
    };
    if v.is_null() {
        return bind_err!("a window frame offset cannot be NULL");
    }
    let negative = match &v {
        ScalarValue::Int32(Some(x)) => *x < 0,
        ScalarValue::Int64(Some(x)) => *x < 0,
        ScalarValue::Float64(Some(x)) => *x < 0.0,
        ScalarValue::Decimal128(Some(x), _, _) => *x < 0,
        ScalarValue::Interval(Some((m, d, n))) => *m < 0 || *d < 0 || *n < 0,
        _ => false,
    };
    if negative {
        return bind_err!("a window frame offset cannot be negative: {v}");
    }
    let literal = |v: ScalarValue, t: &DataType| -> Result<ScalarValue> {
        match cast(Expr::Literal(v), t)? {
            Expr::Literal(v) => Ok(v),
            other => bind_err!("a window frame offset {other} is not a constant"),
        }
    };
    if units == FrameUnits::Rows {
        return match v {
            ScalarValue::Int32(_) | ScalarValue::Int64(_) => literal(v, &DataType::Int64),
            other => bind_err!("a ROWS frame offset must be an integer, not {other}"),
        };
    }
    let [key] = order_by else {
        return bind_err!("a RANGE frame with an offset needs exactly one ORDER BY key");
    };
    let key_type = key.expr.data_type();
    match (&key_type, &v) {
        (DataType::Date32, ScalarValue::Interval(Some((0, days, 0)))) => {
            Ok(ScalarValue::Int64(Some(*days as i64)))
        }
        (DataType::Date32, ScalarValue::Int32(_) | ScalarValue::Int64(_)) => {
            literal(v, &DataType::Int64)
        }
        (DataType::Timestamp(..), ScalarValue::Interval(Some((0, _, _)))) => Ok(v),
        (DataType::Int32 | DataType::Int64, ScalarValue::Int32(_) | ScalarValue::Int64(_)) => {
            literal(v, &DataType::Int64)
        }
        (DataType::Decimal128(_, s), _) => literal(v, &DataType::Decimal128(38, *s)),
        (DataType::Float64, _) => literal(v, &DataType::Float64),
        (t, v) => bind_err!(
            "a RANGE frame offset {v} does not fit an ORDER BY key of type {}",
            type_name(t)
        ),
    }
}

/// Window nodes over `plan` for `calls` (grouped by PARTITION BY and ORDER
/// BY, a node per group, in the order of their first call), and the output
/// column of each call.
pub fn plan_windows(mut plan: LogicalPlan, calls: Vec<WindowCall>) -> (LogicalPlan, Vec<usize>) {
    let mut columns = vec![0; calls.len()];
    let mut placed = vec![false; calls.len()];
    for first in 0..calls.len() {
        if placed[first] {
            continue;
        }
        let (partition_by, order_by) = (&calls[first].partition_by, &calls[first].order_by);
        let width = plan.schema().fields().len();
        let mut fields: Vec<Arc<Field>> = plan.schema().fields().iter().cloned().collect();
        let mut functions = vec![];
        for i in first..calls.len() {
            let c = &calls[i];
            if placed[i] || c.partition_by != *partition_by || c.order_by != *order_by {
                continue;
            }
            placed[i] = true;
            columns[i] = width + functions.len();
            fields.push(Arc::new(Field::new(
                format!("#window{i}"),
                c.data_type.clone(),
                true,
            )));
            functions.push(WindowExpr {
                func: c.func.clone(),
                args: c.args.clone(),
                frame: c.frame.clone(),
                data_type: c.data_type.clone(),
                ignore_nulls: c.ignore_nulls,
            });
        }
        plan = LogicalPlan::Window {
            input: Box::new(plan),
            partition_by: partition_by.clone(),
            order_by: order_by.clone(),
            functions,
            schema: Arc::new(Schema::new(fields)),
        };
    }
    (plan, columns)
}

/// `e` with each window placeholder replaced by its call's output column.
pub fn replace_window_refs(e: Expr, columns: &[usize]) -> Expr {
    e.transform_up(&mut |x| match x {
        Expr::Column {
            index,
            name,
            data_type,
        } if is_window_ref(index) => Expr::Column {
            index: columns[index - WINDOW_REF_BASE],
            name,
            data_type,
        },
        other => other,
    })
}

/// Whether a column index is a window placeholder.
pub fn is_window_ref(index: usize) -> bool {
    (WINDOW_REF_BASE..super::expr::ALIAS_REF).contains(&index)
}

/// Whether an expression has a window placeholder in it.
pub fn contains_window(e: &Expr) -> bool {
    matches!(e, Expr::Column { index, .. } if is_window_ref(*index))
        || e.children().into_iter().any(contains_window)
}
