//! Vectorized evaluation of bound expressions over a record batch.
//!
//! Each node evaluates to a whole column (or a constant that is kept as one value
//! until an array is needed), using Arrow's compute kernels: `cmp` for comparisons,
//! `numeric` for checked arithmetic, `boolean` for three-valued AND/OR/NOT, `like`,
//! `zip` for a CASE of columns and literals; a CASE with computed values computes
//! each only for the rows that take its branch, so that a condition guards its
//! value (`CASE WHEN s <> 'abc' THEN CAST(s AS INTEGER) END`). Integer division
//! and modulo by zero, and integer overflow, are errors, as in DuckDB 2.0; DOUBLE
//! division follows IEEE 754.

use std::sync::Arc;

use arrow::array::*;
use arrow::compute::kernels::{boolean, cmp, numeric, zip::zip};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::*;
use arrow::error::ArrowError;

use super::decimal;
use super::like::InOrderPattern;
use crate::error::{Error, Result};
use crate::plan::{BinaryOp, Expr};
use crate::types::{type_name, ScalarValue};

/// The value of an expression over a batch: a column, or one constant.
#[derive(Debug, Clone)]
pub enum ColumnarValue {
    Array(ArrayRef),
    Scalar(ScalarValue),
}

impl ColumnarValue {
    /// The values as an array of `len` rows (a one-row array computed from
    /// constants is repeated, as a constant is).
    pub fn into_array(self, len: usize) -> ArrayRef {
        match self {
            ColumnarValue::Array(a) if a.len() == 1 && len != 1 => {
                match ScalarValue::try_from_array(&a, 0) {
                    Ok(s) => s.to_array(len),
                    Err(_) => a,
                }
            }
            ColumnarValue::Array(a) => a,
            ColumnarValue::Scalar(s) => s.to_array(len),
        }
    }

    fn datum(&self) -> Box<dyn Datum + '_> {
        match self {
            ColumnarValue::Array(a) => Box::new(a),
            ColumnarValue::Scalar(s) => Box::new(Scalar::new(s.to_array(1))),
        }
    }
}

/// Evaluates `expr` over `batch` into a column of `batch.num_rows()` values.
pub fn evaluate(expr: &Expr, batch: &RecordBatch) -> Result<ArrayRef> {
    Ok(eval(expr, batch)?.into_array(batch.num_rows()))
}

/// Evaluates a predicate into a boolean mask where NULL counts as false.
pub fn evaluate_predicate(expr: &Expr, batch: &RecordBatch) -> Result<BooleanArray> {
    let array = evaluate(expr, batch)?;
    let mask = array
        .as_boolean_opt()
        .ok_or_else(|| Error::Execute(format!("predicate {expr} is not boolean")))?;
    Ok(null_as_false(mask))
}

/// A boolean mask with its NULLs as false.
pub fn null_as_false(mask: &BooleanArray) -> BooleanArray {
    match mask.nulls() {
        Some(_) => arrow::compute::prep_null_mask_filter(mask),
        None => mask.clone(),
    }
}

/// Keeps the rows of `batch` for which `predicate` is true.
pub fn filter_batch(batch: &RecordBatch, predicate: &Expr) -> Result<RecordBatch> {
    let mask = evaluate_predicate(predicate, batch)?;
    if mask.true_count() == batch.num_rows() {
        return Ok(batch.clone());
    }
    Ok(crate::buffer_pool::filter_batch(batch, &mask)?)
}

/// Evaluates an expression that has no column references.
pub fn evaluate_constant(expr: &Expr) -> Result<ScalarValue> {
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    match eval(expr, &batch)? {
        ColumnarValue::Scalar(s) => Ok(s),
        ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0),
    }
}

fn eval(expr: &Expr, batch: &RecordBatch) -> Result<ColumnarValue> {
    let n = batch.num_rows();
    Ok(match expr {
        Expr::Column { index, name, .. } => {
            let column = batch.columns().get(*index).ok_or_else(|| {
                Error::Execute(format!(
                    "column {name} (#{index}) is missing from the input"
                ))
            })?;
            ColumnarValue::Array(column.clone())
        }
        Expr::Literal(v) => ColumnarValue::Scalar(v.clone()),
        Expr::Binary {
            op,
            left,
            right,
            data_type,
        } => match decimal_op(*op, data_type) {
            Some(_) => {
                let term = decimal_term(expr, batch)?;
                match decimal::evaluate(&term, n) {
                    Some(array) => ColumnarValue::Array(array),
                    None => evaluate_term(term, n)?,
                }
            }
            None => {
                let (l, r) = (eval(left, batch)?, eval(right, batch)?);
                of_type(binary(*op, &l, &r, n)?, data_type)?
            }
        },
        Expr::Not(e) => {
            let v = eval(e, batch)?.into_array(n);
            ColumnarValue::Array(Arc::new(boolean::not(as_bool(&v)?)?))
        }
        Expr::Negate(e) => {
            let v = eval(e, batch)?.into_array(n);
            ColumnarValue::Array(numeric::neg(&v).map_err(overflow)?)
        }
        Expr::IsNull(e) => {
            let v = eval(e, batch)?.into_array(n);
            ColumnarValue::Array(Arc::new(arrow::compute::is_null(&v)?))
        }
        Expr::IsNotNull(e) => {
            let v = eval(e, batch)?.into_array(n);
            ColumnarValue::Array(Arc::new(arrow::compute::is_not_null(&v)?))
        }
        Expr::Cast { expr, to } => match eval(expr, batch)? {
            ColumnarValue::Scalar(s) => {
                let a = cast(&s.to_array(1), to)?;
                ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0)?)
            }
            ColumnarValue::Array(a) => ColumnarValue::Array(cast(&a, to)?),
        },
        Expr::Case {
            branches,
            otherwise,
            data_type,
        } if !branches
            .iter()
            .map(|(_, value)| value)
            .chain(otherwise.as_deref())
            .all(|e| matches!(e, Expr::Column { .. } | Expr::Literal(_))) =>
        {
            ColumnarValue::Array(case_by_rows(
                branches,
                otherwise.as_deref(),
                data_type,
                batch,
            )?)
        }
        Expr::Case {
            branches,
            otherwise,
            data_type,
        } => {
            let mut result = match otherwise {
                Some(e) => eval(e, batch)?.into_array(n),
                None => new_null_array(data_type, n),
            };
            for (cond, value) in branches.iter().rev() {
                let mask = evaluate_predicate(cond, batch)?;
                let value = eval(value, batch)?.into_array(n);
                result = zip(&mask, &value, &result)?;
            }
            ColumnarValue::Array(result)
        }
        Expr::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
        } => {
            let (e, p) = (eval(expr, batch)?, eval(pattern, batch)?);
            if let (
                ColumnarValue::Array(strings),
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(p))),
                false,
            ) = (&e, &p, *case_insensitive)
            {
                if let (Some(strings), Some(p)) =
                    (strings.as_string_opt::<i32>(), InOrderPattern::new(p))
                {
                    return Ok(ColumnarValue::Array(Arc::new(
                        p.evaluate(strings, *negated),
                    )));
                }
            }
            let constant = matches!(
                (&e, &p),
                (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
            );
            let (e, p) = (e.datum(), p.datum());
            let result = match (negated, case_insensitive) {
                (false, false) => arrow::compute::kernels::comparison::like(&*e, &*p)?,
                (true, false) => arrow::compute::kernels::comparison::nlike(&*e, &*p)?,
                (false, true) => arrow::compute::kernels::comparison::ilike(&*e, &*p)?,
                (true, true) => arrow::compute::kernels::comparison::nilike(&*e, &*p)?,
            };
            // Of two constants, a constant (as `binary` keeps them).
            if constant {
                ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)
            } else {
                ColumnarValue::Array(Arc::new(result))
            }
        }
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let e = eval(expr, batch)?;
            let mut result: Option<BooleanArray> = None;
            for item in list {
                let item = eval(item, batch)?;
                let eq = cmp::eq(&*e.datum(), &*item.datum())?;
                let eq = broadcast_bool(eq, n);
                result = Some(match result {
                    None => eq,
                    Some(acc) => boolean::or_kleene(&acc, &eq)?,
                });
            }
            let result = result.unwrap_or_else(|| BooleanArray::from(vec![false; n]));
            let result = if *negated {
                boolean::not(&result)?
            } else {
                result
            };
            ColumnarValue::Array(Arc::new(result))
        }
        Expr::OuterColumn { .. }
        | Expr::Exists { .. }
        | Expr::InSubquery { .. }
        | Expr::Quantified { .. } => {
            return Err(Error::Unsupported(format!(
                "this use of a subquery ({expr}); subqueries are supported in WHERE conditions, \
                 and uncorrelated scalar subqueries anywhere"
            )))
        }
        Expr::ScalarSubquery(_) => {
            return Err(Error::Execute(format!(
                "internal error: subquery {expr} was not evaluated"
            )))
        }
        Expr::Function {
            func,
            args,
            data_type,
        } => {
            let args = args
                .iter()
                .map(|a| eval(a, batch))
                .collect::<Result<Vec<_>>>()?;
            ColumnarValue::Array(super::functions::call(func, &args, n, data_type, expr)?)
        }
    })
}

fn as_bool(a: &ArrayRef) -> Result<&BooleanArray> {
    a.as_boolean_opt().ok_or_else(|| {
        Error::Execute(format!(
            "expected BOOLEAN, got {}",
            type_name(a.data_type())
        ))
    })
}

/// A 1-row boolean result (from two scalars) repeated to `n` rows.
fn broadcast_bool(b: BooleanArray, n: usize) -> BooleanArray {
    if b.len() == n || b.len() != 1 {
        return b;
    }
    let v = if b.is_null(0) { None } else { Some(b.value(0)) };
    BooleanArray::from(vec![v; n])
}

/// Casts with errors instead of silent NULLs (`CAST('abc' AS INTEGER)` fails).
pub fn cast(a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if a.data_type() == to {
        return Ok(a.clone());
    }
    if let (DataType::Timestamp(..), DataType::Utf8) = (a.data_type(), to) {
        // `YYYY-MM-DD HH:MM:SS`, as DuckDB prints it (Arrow puts a `T` between).
        let micros = cast(a, &crate::types::TIMESTAMP)?;
        let micros = micros.as_primitive::<TimestampMicrosecondType>();
        return Ok(Arc::new(
            micros
                .iter()
                .map(|v| v.map(crate::types::format_timestamp))
                .collect::<StringArray>(),
        ));
    }
    if let (DataType::Decimal128(_, s), DataType::Float64) = (a.data_type(), to) {
        // The nearest double (Arrow multiplies by 10^-s, which can be one off).
        let unit = 10f64.powi(*s as i32);
        return Ok(Arc::new(
            a.as_primitive::<Decimal128Type>()
                .unary::<_, Float64Type>(|v| v as f64 / unit),
        ));
    }
    if let (DataType::Utf8, DataType::Int32 | DataType::Int64) = (a.data_type(), to) {
        // A string with a fraction rounds, as DuckDB's cast does ('2.5' -> 3).
        if let Some(whole) = try_integer_cast(a, to) {
            return Ok(whole);
        }
        if let Ok(decimal) = cast(a, &DataType::Decimal128(38, 9)) {
            return cast(&decimal, to);
        }
    }
    // DuckDB rounds when a cast drops digits; Arrow truncates: round first.
    let rounded;
    let a = match (a.data_type(), to) {
        (DataType::Decimal128(_, s), DataType::Int32 | DataType::Int64) if *s > 0 => {
            rounded = round_decimal_to_integer(a.as_primitive::<Decimal128Type>(), *s);
            &rounded
        }
        (DataType::Float64, DataType::Int32 | DataType::Int64) => {
            rounded = Arc::new(
                a.as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(f64::round_ties_even),
            ) as ArrayRef;
            &rounded
        }
        _ => a,
    };
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(a, to, &options).map_err(|e| {
        Error::Execute(format!(
            "Conversion Error: could not convert {} to {}: {e}",
            type_name(a.data_type()),
            type_name(to)
        ))
    })
}

/// A cast of strings to integers that succeeds as Arrow reads them.
fn try_integer_cast(a: &ArrayRef, to: &DataType) -> Option<ArrayRef> {
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(a, to, &options).ok()
}

/// Decimal values rounded half away from zero to whole numbers, as DECIMAL(38,0).
fn round_decimal_to_integer(a: &Decimal128Array, scale: i8) -> ArrayRef {
    let unit = 10i128.pow(scale as u32);
    let rounded = a.unary::<_, Decimal128Type>(|v| div_round_half_away(v, unit));
    Arc::new(rounded.with_data_type(DataType::Decimal128(38, 0)))
}

/// `v / unit` rounded half away from zero.
pub(crate) fn div_round_half_away(v: i128, unit: i128) -> i128 {
    let (q, r) = (v / unit, v % unit);
    if r.abs() * 2 >= unit {
        q + r.signum()
    } else {
        q
    }
}

pub(crate) fn overflow(e: ArrowError) -> Error {
    match e {
        ArrowError::ArithmeticOverflow(msg) => {
            Error::Execute(format!("Out of Range Error: overflow: {msg}"))
        }
        ArrowError::ComputeError(msg) if msg.contains("verflow") => {
            Error::Execute(format!("Out of Range Error: {msg}"))
        }
        other => Error::Arrow(other),
    }
}

fn binary(op: BinaryOp, l: &ColumnarValue, r: &ColumnarValue, n: usize) -> Result<ColumnarValue> {
    if let (ColumnarValue::Scalar(a), ColumnarValue::Scalar(b)) = (l, r) {
        // Both constant: compute on one row and keep the result a constant.
        let one = binary(
            op,
            &ColumnarValue::Array(a.to_array(1)),
            &ColumnarValue::Array(b.to_array(1)),
            1,
        )?
        .into_array(1);
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&one, 0)?));
    }
    let (ld, rd) = (l.datum(), r.datum());
    let array: ArrayRef = match op {
        BinaryOp::Eq => Arc::new(cmp::eq(&*ld, &*rd)?),
        BinaryOp::NotEq => Arc::new(cmp::neq(&*ld, &*rd)?),
        BinaryOp::Lt => Arc::new(cmp::lt(&*ld, &*rd)?),
        BinaryOp::LtEq => Arc::new(cmp::lt_eq(&*ld, &*rd)?),
        BinaryOp::Gt => Arc::new(cmp::gt(&*ld, &*rd)?),
        BinaryOp::GtEq => Arc::new(cmp::gt_eq(&*ld, &*rd)?),
        BinaryOp::And | BinaryOp::Or => {
            let (la, ra) = (l.clone().into_array(n), r.clone().into_array(n));
            let (la, ra) = (as_bool(&la)?, as_bool(&ra)?);
            Arc::new(if op == BinaryOp::And {
                boolean::and_kleene(la, ra)?
            } else {
                boolean::or_kleene(la, ra)?
            })
        }
        BinaryOp::Concat => {
            let (la, ra) = (l.clone().into_array(n), r.clone().into_array(n));
            Arc::new(
                arrow::compute::kernels::concat_elements::concat_elements_utf8(
                    la.as_string::<i32>(),
                    ra.as_string::<i32>(),
                )?,
            )
        }
        BinaryOp::Plus | BinaryOp::Minus => date_or_numeric(op, l, r, n)?,
        BinaryOp::Multiply => within_precision(numeric::mul(&*ld, &*rd).map_err(overflow)?)?,
        // DOUBLE division follows IEEE 754 (1/0 is inf), as in DuckDB.
        BinaryOp::Divide => within_precision(numeric::div(&*ld, &*rd).map_err(overflow)?)?,
        BinaryOp::IntegerDivide | BinaryOp::Modulo => {
            // x // 0 and x % 0 are errors, as in DuckDB 2.0 (but a DOUBLE x % 0
            // is NaN, as IEEE 754 has it).
            let float_modulo =
                op == BinaryOp::Modulo && ld.get().0.data_type() == &DataType::Float64;
            if !float_modulo && has_zero(&r.clone().into_array(n))? {
                return Err(Error::Execute(format!(
                    "Invalid Input Error: Division by zero (a divisor of {} is 0)",
                    op.symbol()
                )));
            }
            let result = match op {
                BinaryOp::Modulo => numeric::rem(&*ld, &*rd),
                _ => numeric::div(&*ld, &*rd),
            };
            result.map_err(overflow)?
        }
    };
    Ok(ColumnarValue::Array(array))
}

/// A DECIMAL result of Arrow's checked kernels, whose values fit `i128` but
/// may have more digits than the type's precision (`d + 1` on 38 nines): an
/// overflow error then, as in PostgreSQL and DuckDB. Other results as they are.
fn within_precision(result: ArrayRef) -> Result<ArrayRef> {
    if let DataType::Decimal128(precision, scale) = *result.data_type() {
        let values = result.as_primitive::<Decimal128Type>();
        if values.validate_decimal_precision(precision).is_err() {
            return Err(Error::Execute(format!(
                "Out of Range Error: overflow: a result does not fit DECIMAL({precision},{scale})"
            )));
        }
    }
    Ok(result)
}

/// Whether a column of divisors holds a zero (NULLs do not count).
fn has_zero(divisors: &ArrayRef) -> Result<bool> {
    let zero = cast(
        &ScalarValue::Int32(Some(0)).to_array(1),
        divisors.data_type(),
    )?;
    Ok(cmp::eq(divisors, &Scalar::new(zero))?.true_count() > 0)
}

/// `+` and `-`, including DATE ± INTERVAL, DATE ± days and DATE - DATE.
fn date_or_numeric(
    op: BinaryOp,
    l: &ColumnarValue,
    r: &ColumnarValue,
    n: usize,
) -> Result<ArrayRef> {
    let lt = match l {
        ColumnarValue::Array(a) => a.data_type().clone(),
        ColumnarValue::Scalar(s) => s.data_type(),
    };
    let rt = match r {
        ColumnarValue::Array(a) => a.data_type().clone(),
        ColumnarValue::Scalar(s) => s.data_type(),
    };
    let arith = |a: &dyn Datum, b: &dyn Datum| -> Result<ArrayRef> {
        let result = if op == BinaryOp::Plus {
            numeric::add(a, b)
        } else {
            numeric::sub(a, b)
        };
        result.map_err(overflow)
    };
    match (&lt, &rt) {
        (DataType::Date32, DataType::Int32) | (DataType::Date32, DataType::Date32) => {
            let la = cast(&l.clone().into_array(n), &DataType::Int32)?;
            let ra = cast(&r.clone().into_array(n), &DataType::Int32)?;
            let days = arith(&la, &ra)?;
            if rt == DataType::Date32 {
                cast(&days, &DataType::Int64)
            } else {
                cast(&days, &DataType::Date32)
            }
        }
        _ => within_precision(arith(&*l.datum(), &*r.datum())?),
    }
}

/// The operator of a DECIMAL `+ - *` node, which [`decimal::evaluate`] may
/// compute together with the nodes below it.
fn decimal_op(op: BinaryOp, data_type: &DataType) -> Option<decimal::Op> {
    if !matches!(data_type, DataType::Decimal128(..)) {
        return None;
    }
    match op {
        BinaryOp::Plus => Some(decimal::Op::Add),
        BinaryOp::Minus => Some(decimal::Op::Sub),
        BinaryOp::Multiply => Some(decimal::Op::Mul),
        _ => None,
    }
}

/// `expr` as a [`decimal::Term`]: its DECIMAL `+ - *` nodes, over the values of
/// the other expressions below them.
fn decimal_term(expr: &Expr, batch: &RecordBatch) -> Result<decimal::Term> {
    if let Expr::Binary {
        op,
        left,
        right,
        data_type,
    } = expr
    {
        if let Some(op) = decimal_op(*op, data_type) {
            return Ok(decimal::Term::Node {
                op,
                left: Box::new(decimal_term(left, batch)?),
                right: Box::new(decimal_term(right, batch)?),
                data_type: data_type.clone(),
            });
        }
    }
    Ok(decimal::Term::Value(eval(expr, batch)?))
}

/// A term node by node with Arrow's checked kernels, which report overflow.
fn evaluate_term(term: decimal::Term, n: usize) -> Result<ColumnarValue> {
    match term {
        decimal::Term::Value(value) => Ok(value),
        decimal::Term::Node {
            op,
            left,
            right,
            data_type,
        } => {
            let op = match op {
                decimal::Op::Add => BinaryOp::Plus,
                decimal::Op::Sub => BinaryOp::Minus,
                decimal::Op::Mul => BinaryOp::Multiply,
            };
            let (l, r) = (evaluate_term(*left, n)?, evaluate_term(*right, n)?);
            of_type(binary(op, &l, &r, n)?, &data_type)
        }
    }
}

/// A result cast to the type its expression has in the plan (Arrow's kernels
/// may give another precision).
fn of_type(result: ColumnarValue, data_type: &DataType) -> Result<ColumnarValue> {
    Ok(match result {
        ColumnarValue::Array(a) if a.data_type() != data_type => {
            ColumnarValue::Array(cast(&a, data_type)?)
        }
        other => other,
    })
}

/// CASE with each branch's value computed only for the rows that take it (the
/// first branch whose condition holds, conditions tried in order on the rows
/// no branch took yet; the ELSE for the rest): a value that fails where its
/// condition guards against it (a CAST that cannot convert, an integer
/// division by zero, an overflow) is never computed there, as SQL requires.
/// (A CASE whose values are all columns and literals, which cannot fail, is
/// computed for every row and zipped instead.)
fn case_by_rows(
    branches: &[(Expr, Expr)],
    otherwise: Option<&Expr>,
    data_type: &DataType,
    batch: &RecordBatch,
) -> Result<ArrayRef> {
    let n = batch.num_rows();
    // Piece 0 is the NULL of the rows that no branch takes and no ELSE covers;
    // each row's value is `pieces[p][i]` for its `(p, i)` in `sources`.
    let mut pieces: Vec<ArrayRef> = vec![new_null_array(data_type, 1)];
    let mut sources: Vec<(usize, usize)> = vec![(0, 0); n];
    let mut computed = |value: &Expr, rows: &[u32], pieces: &mut Vec<ArrayRef>| -> Result<()> {
        let values = eval(value, &rows_of(batch, rows)?)?.into_array(rows.len());
        for (i, &row) in rows.iter().enumerate() {
            sources[row as usize] = (pieces.len(), i);
        }
        pieces.push(values);
        Ok(())
    };
    let mut untaken: Vec<u32> = (0..n as u32).collect();
    for (condition, value) in branches {
        if untaken.is_empty() {
            break;
        }
        let holds = evaluate_predicate(condition, &rows_of(batch, &untaken)?)?;
        let (mut taken, mut rest) = (vec![], vec![]);
        for (i, &row) in untaken.iter().enumerate() {
            if holds.value(i) {
                taken.push(row);
            } else {
                rest.push(row);
            }
        }
        if !taken.is_empty() {
            computed(value, &taken, &mut pieces)?;
        }
        untaken = rest;
    }
    if let (Some(value), false) = (otherwise, untaken.is_empty()) {
        computed(value, &untaken, &mut pieces)?;
    }
    let pieces: Vec<&dyn Array> = pieces.iter().map(|p| p.as_ref()).collect();
    Ok(arrow::compute::interleave(&pieces, &sources)?)
}

/// Rows `rows` of `batch`, in that order.
fn rows_of(batch: &RecordBatch, rows: &[u32]) -> Result<RecordBatch> {
    if rows.len() == batch.num_rows() && rows.iter().enumerate().all(|(i, &r)| r as usize == i) {
        return Ok(batch.clone());
    }
    let indexes = UInt32Array::from(rows.to_vec());
    let columns = batch
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c.as_ref(), &indexes, None))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new_with_options(
        batch.schema(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )?)
}
