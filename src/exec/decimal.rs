//! `+`, `-` and `*` of DECIMAL columns without a check per value, a whole
//! expression of them in one pass.
//!
//! Arrow's kernels check every product and sum for overflow and every result
//! for its precision, one value at a time, and each operator writes a column
//! of 16-byte values that the next one reads back. Here an expression of
//! `+ - *` over DECIMAL operands (a [`Term`]) is bounded first: a bound of
//! the magnitudes of each column (the one its buffer was written with, see
//! [`buffer_pool::bound_of`]; else the power of two above the largest, by
//! OR-ing the values' bits), from which interval arithmetic bounds every node. When those bounds prove that no node
//! can leave its type's precision, the expression runs as a little postfix
//! program over chunks of rows that stay in the L1 cache, in `i64` lanes when
//! every bound fits 64 bits (DECIMAL(15,2) prices and rates: `price * (1 -
//! discount) * (1 + tax)` is one pass that reads three columns and writes
//! one), else in `i128`. Otherwise (values near the limits) the caller
//! evaluates node by node with Arrow's checked kernels, which report the
//! overflow.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Decimal128Type};

use super::expr::ColumnarValue;
use crate::buffer_pool;
use crate::types::ScalarValue;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Op {
    Add,
    Sub,
    Mul,
}

/// An expression of `+ - *` whose nodes have DECIMAL types; its leaves are
/// evaluated values (columns or constants).
pub enum Term {
    Value(ColumnarValue),
    Node {
        op: Op,
        left: Box<Term>,
        right: Box<Term>,
        data_type: DataType,
    },
}

/// The value of `term` over `n` rows as an array of the root's type, or None
/// when it must be left to the checked kernels (an operand that is not a
/// DECIMAL column or constant, a type that does not follow the scale rules of
/// `+ - *`, or values too large to rule out overflow).
pub fn evaluate(term: &Term, n: usize) -> Option<ArrayRef> {
    let mut program = Program::default();
    let (bound, precision, scale) = program.compile(term, n)?;
    if program
        .leaves
        .iter()
        .all(|l| matches!(l, Leaf::Constant(_)))
    {
        return None;
    }
    let values = if program.widest <= i64::MAX as u128 {
        program.run::<i64>(n, bound)
    } else {
        program.run::<i128>(n, bound)
    };
    let nulls = program
        .nulls
        .iter()
        .fold(None, |acc, n| NullBuffer::union(acc.as_ref(), Some(n)));
    let array = PrimitiveArray::<Decimal128Type>::new(values.into(), nulls)
        .with_data_type(DataType::Decimal128(precision, scale));
    Some(Arc::new(array))
}

enum Leaf<'a> {
    Column(&'a [i128]),
    Constant(i128),
}

enum Step {
    /// Pushes a leaf's values.
    Load(usize),
    /// Pops `r`, then `l`, and pushes `l * r`, or `l * lf ± r * rf`.
    Apply(Op, i128, i128),
    /// Replaces the top `a` by `a * k`, or `a * f ± k` (`k - a * f` when the
    /// constant is on the left): an operation with a constant, `k` already
    /// scaled.
    WithConstant {
        op: Op,
        f: i128,
        k: i128,
        constant_left: bool,
    },
}

/// A term compiled into postfix steps over its leaves.
#[derive(Default)]
struct Program<'a> {
    leaves: Vec<Leaf<'a>>,
    steps: Vec<Step>,
    /// The largest bound of any value the steps compute.
    widest: u128,
    nulls: Vec<NullBuffer>,
    depth: usize,
    max_depth: usize,
}

/// Rows per chunk: eight stacked chunks of `i128` stay within the L1 cache.
const CHUNK: usize = 256;

impl<'a> Program<'a> {
    /// Appends the steps of `term`; its bound, precision and scale.
    fn compile(&mut self, term: &'a Term, n: usize) -> Option<(u128, u8, i8)> {
        let (op, left, right, data_type) = match term {
            Term::Value(value) => return self.leaf(value, n),
            Term::Node {
                op,
                left,
                right,
                data_type,
            } => (*op, left, right, data_type),
        };
        let DataType::Decimal128(precision, scale) = *data_type else {
            return None;
        };
        // One constant operand is folded into the step rather than loaded.
        let (lc, rc) = (constant(left), constant(right));
        let (lm, ls) = match (lc, rc) {
            (Some((v, s)), None) => (v.unsigned_abs(), s),
            _ => self.compile(left, n).map(|(m, _, s)| (m, s))?,
        };
        let (rm, rs) = match (lc, rc) {
            (None, Some((v, s))) => (v.unsigned_abs(), s),
            _ => self.compile(right, n).map(|(m, _, s)| (m, s))?,
        };
        // Add and subtract bring both sides to the result's scale first; a
        // product's scale is the sum of the operands'.
        let factor = |from: i8| 10i128.checked_pow(u32::try_from(scale - from).ok()?);
        let (lf, rf) = match op {
            Op::Mul if scale != ls + rs => return None,
            Op::Mul => (1, 1),
            Op::Add | Op::Sub => (factor(ls)?, factor(rs)?),
        };
        let (lm, rm) = (lm.checked_mul(lf as u128)?, rm.checked_mul(rf as u128)?);
        let bound = match op {
            Op::Mul => lm.checked_mul(rm)?,
            Op::Add | Op::Sub => lm.checked_add(rm)?,
        };
        if bound > 10u128.checked_pow(precision as u32)? - 1 {
            return None;
        }
        self.widest = self.widest.max(lm).max(rm).max(bound);
        // |v| * f is within a bound checked above.
        let step = match (lc, rc) {
            (None, Some((v, _))) => Step::WithConstant {
                op,
                f: lf,
                k: v * rf,
                constant_left: false,
            },
            (Some((v, _)), None) => Step::WithConstant {
                op,
                f: rf,
                k: v * lf,
                constant_left: true,
            },
            _ => {
                self.depth -= 1;
                Step::Apply(op, lf, rf)
            }
        };
        self.steps.push(step);
        Some((bound, precision, scale))
    }

    fn leaf(&mut self, value: &'a ColumnarValue, n: usize) -> Option<(u128, u8, i8)> {
        let (leaf, bound, data_type) = match value {
            ColumnarValue::Scalar(ScalarValue::Decimal128(Some(v), p, s)) => (
                Leaf::Constant(*v),
                v.unsigned_abs(),
                DataType::Decimal128(*p, *s),
            ),
            ColumnarValue::Array(a) if a.len() == n => {
                let values = a.as_primitive_opt::<Decimal128Type>()?;
                self.nulls.extend(values.nulls().cloned());
                let values = values.values();
                let bound = buffer_pool::bound_of(values).unwrap_or_else(|| max_magnitude(values));
                (Leaf::Column(values), bound, a.data_type().clone())
            }
            _ => return None,
        };
        let DataType::Decimal128(precision, scale) = data_type else {
            return None;
        };
        self.leaves.push(leaf);
        self.steps.push(Step::Load(self.leaves.len() - 1));
        self.depth += 1;
        self.max_depth = self.max_depth.max(self.depth);
        Some((bound, precision, scale))
    }

    /// The root's values for `n` rows (NULL slots included: their values are
    /// ignored, and the bounds cover them too), computed in lanes of `L`, in a
    /// buffer that remembers `bound`, the root's.
    fn run<L: Lane>(&self, n: usize, bound: u128) -> arrow::buffer::Buffer {
        let mut stack = vec![[L::default(); CHUNK]; self.max_depth];
        buffer_pool::fill_by_chunks(n, CHUNK, Some(bound), |start, out: &mut [i128]| {
            let len = out.len();
            let mut top = 0;
            for step in &self.steps {
                match *step {
                    Step::Load(leaf) => {
                        let to = &mut stack[top][..len];
                        match self.leaves[leaf] {
                            Leaf::Column(values) => {
                                let from = &values[start..start + len];
                                to.iter_mut()
                                    .zip(from)
                                    .for_each(|(t, &v)| *t = L::narrow(v));
                            }
                            Leaf::Constant(v) => to.fill(L::narrow(v)),
                        }
                        top += 1;
                    }
                    Step::WithConstant {
                        op,
                        f,
                        k,
                        constant_left,
                    } => {
                        let values = &mut stack[top - 1][..len];
                        with_constant(op, values, L::narrow(f), L::narrow(k), constant_left);
                    }
                    Step::Apply(op, lf, rf) => {
                        top -= 1;
                        let (below, above) = stack.split_at_mut(top);
                        let (l, r) = (&mut below[top - 1][..len], &above[0][..len]);
                        apply(op, l, r, L::narrow(lf), L::narrow(rf));
                    }
                }
            }
            out.iter_mut()
                .zip(&stack[0][..len])
                .for_each(|(o, v)| *o = v.widen());
        })
    }
}

/// The value and scale of a DECIMAL constant term.
fn constant(term: &Term) -> Option<(i128, i8)> {
    match term {
        Term::Value(ColumnarValue::Scalar(ScalarValue::Decimal128(Some(v), _, s))) => {
            Some((*v, *s))
        }
        _ => None,
    }
}

/// `a = a * k`, `a * f ± k`, or `k - a * f` (constant on the left), for each
/// `a` of `values`.
fn with_constant<L: Lane>(op: Op, values: &mut [L], f: L, k: L, constant_left: bool) {
    let one = L::narrow(1);
    let values = values.iter_mut();
    match (op, constant_left) {
        (Op::Mul, _) => values.for_each(|a| *a = a.mul(k)),
        (Op::Add, _) if f == one => values.for_each(|a| *a = a.add(k)),
        (Op::Add, _) => values.for_each(|a| *a = a.mul(f).add(k)),
        (Op::Sub, false) if f == one => values.for_each(|a| *a = a.sub(k)),
        (Op::Sub, false) => values.for_each(|a| *a = a.mul(f).sub(k)),
        (Op::Sub, true) if f == one => values.for_each(|a| *a = k.sub(*a)),
        (Op::Sub, true) => values.for_each(|a| *a = k.sub(a.mul(f))),
    }
}

/// `l = l op r`, element by element; `l * lf ± r * rf` for add and subtract.
fn apply<L: Lane>(op: Op, l: &mut [L], r: &[L], lf: L, rf: L) {
    let pairs = l.iter_mut().zip(r);
    let one = L::narrow(1);
    match op {
        Op::Mul => pairs.for_each(|(a, &b)| *a = a.mul(b)),
        Op::Add if lf == one && rf == one => pairs.for_each(|(a, &b)| *a = a.add(b)),
        Op::Sub if lf == one && rf == one => pairs.for_each(|(a, &b)| *a = a.sub(b)),
        Op::Add => pairs.for_each(|(a, &b)| *a = a.mul(lf).add(b.mul(rf))),
        Op::Sub => pairs.for_each(|(a, &b)| *a = a.mul(lf).sub(b.mul(rf))),
    }
}

/// The integers a program computes in: `i64` where the bounds allow, else
/// `i128`. Wrapping arithmetic, which the bounds keep from wrapping.
trait Lane: Copy + Default + PartialEq {
    fn narrow(v: i128) -> Self;
    fn widen(self) -> i128;
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
}

macro_rules! lane {
    ($t:ty) => {
        impl Lane for $t {
            fn narrow(v: i128) -> Self {
                v as $t
            }
            fn widen(self) -> i128 {
                self as i128
            }
            fn add(self, other: Self) -> Self {
                self.wrapping_add(other)
            }
            fn sub(self, other: Self) -> Self {
                self.wrapping_sub(other)
            }
            fn mul(self, other: Self) -> Self {
                self.wrapping_mul(other)
            }
        }
    };
}
lane!(i64);
lane!(i128);

/// A bound of the magnitude of `values` (NULL slots included): the largest
/// magnitude rounded up to a power of two minus one, found by OR-ing every
/// value's bits (with negative values complemented), which vectorizes where a
/// running maximum of `i128`s does not.
fn max_magnitude(values: &[i128]) -> u128 {
    let bits = values
        .iter()
        .fold(0u128, |acc, &v| acc | (v ^ (v >> 127)) as u128);
    // Every |v| (or |v| - 1 for negative v) is below 2^(bits' width).
    match bits {
        0 => 1,
        b => (u128::MAX >> b.leading_zeros()).saturating_add(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Datum;
    use arrow::compute::kernels::numeric;

    fn decimals(values: Vec<Option<i128>>, p: u8, s: i8) -> ArrayRef {
        Arc::new(
            PrimitiveArray::<Decimal128Type>::from(values)
                .with_data_type(DataType::Decimal128(p, s)),
        )
    }

    fn column(a: &ArrayRef) -> Term {
        Term::Value(ColumnarValue::Array(a.clone()))
    }

    fn constant(v: i128, p: u8, s: i8) -> Term {
        Term::Value(ColumnarValue::Scalar(ScalarValue::Decimal128(
            Some(v),
            p,
            s,
        )))
    }

    /// Arrow's checked kernel on one node: its result, whose type the node gets.
    fn arrow_op(op: Op, l: &dyn Datum, r: &dyn Datum) -> ArrayRef {
        match op {
            Op::Add => numeric::add(l, r),
            Op::Sub => numeric::sub(l, r),
            Op::Mul => numeric::mul(l, r),
        }
        .unwrap()
    }

    fn node(op: Op, left: Term, right: Term, data_type: &DataType) -> Term {
        Term::Node {
            op,
            left: Box::new(left),
            right: Box::new(right),
            data_type: data_type.clone(),
        }
    }

    /// The one-pass result equals Arrow's checked kernel's, type included.
    fn same_as_arrow(op: Op, l: &ArrayRef, r: &ArrayRef) {
        let arrow = arrow_op(op, l, r);
        let term = node(op, column(l), column(r), arrow.data_type());
        let fast = evaluate(&term, l.len()).expect("fast path taken");
        assert_eq!(fast.to_data(), arrow.to_data(), "{op:?}");
    }

    #[test]
    fn agrees_with_arrow() {
        let price = decimals(vec![Some(123456), None, Some(-99), Some(0)], 15, 2);
        let discount = decimals(vec![Some(5), Some(7), None, Some(10)], 15, 2);
        let rate = decimals(vec![Some(1), Some(2), Some(3), Some(-4)], 4, 0);
        // Beyond 64 bits (products near 10^30), still within 38 digits.
        let wide = decimals(
            vec![Some(10i128.pow(15) + 7), Some(-(10i128.pow(14))), None],
            20,
            4,
        );
        let wider = decimals(vec![Some(3 * 10i128.pow(15)), Some(5), Some(1)], 17, 1);
        for op in [Op::Add, Op::Sub, Op::Mul] {
            same_as_arrow(op, &price, &discount);
            same_as_arrow(op, &price, &rate);
            same_as_arrow(op, &rate, &discount);
            same_as_arrow(op, &wide, &wider);
        }
    }

    #[test]
    fn a_whole_expression_agrees_with_arrow_node_by_node() {
        // price * (1 - discount) * (1 + tax), over more rows than one chunk.
        let rows = CHUNK * 3 + 17;
        let values = |f: fn(i128) -> i128| (0..rows as i128).map(|i| Some(f(i))).collect();
        let price = decimals(values(|i| 90_000 + i * 7919 % 10_000_000), 15, 2);
        let discount = decimals(values(|i| i % 11), 15, 2);
        let mut tax = values(|i| i % 9);
        tax[5] = None;
        let tax = decimals(tax, 15, 2);
        let one = decimals(vec![Some(1)], 1, 0);
        let one = arrow::array::Scalar::new(one);

        let net = arrow_op(Op::Sub, &one, &discount);
        let discounted = arrow_op(Op::Mul, &price, &net);
        let rate = arrow_op(Op::Add, &one, &tax);
        let charge = arrow_op(Op::Mul, &discounted, &rate);

        let term = node(
            Op::Mul,
            node(
                Op::Mul,
                column(&price),
                node(
                    Op::Sub,
                    constant(1, 1, 0),
                    column(&discount),
                    net.data_type(),
                ),
                discounted.data_type(),
            ),
            node(Op::Add, constant(1, 1, 0), column(&tax), rate.data_type()),
            charge.data_type(),
        );
        let fast = evaluate(&term, rows).expect("fast path taken");
        assert_eq!(fast.to_data(), charge.to_data());
    }

    #[test]
    fn constants_on_either_side_agree_with_arrow() {
        let price = decimals(vec![Some(123456), None, Some(-99), Some(0)], 15, 2);
        for (v, p, s) in [(3, 1, 0), (-25, 4, 1), (7, 5, 3)] {
            let c = arrow::array::Scalar::new(decimals(vec![Some(v)], p, s));
            for op in [Op::Add, Op::Sub, Op::Mul] {
                let left = arrow_op(op, &c, &price);
                let term = node(op, constant(v, p, s), column(&price), left.data_type());
                let fast = evaluate(&term, 4).expect("fast path taken");
                assert_eq!(fast.to_data(), left.to_data(), "{v} {op:?} price");
                let right = arrow_op(op, &price, &c);
                let term = node(op, column(&price), constant(v, p, s), right.data_type());
                let fast = evaluate(&term, 4).expect("fast path taken");
                assert_eq!(fast.to_data(), right.to_data(), "price {op:?} {v}");
            }
        }
    }

    #[test]
    fn leaves_possible_overflow_to_the_checked_kernel() {
        let big = decimals(vec![Some(10i128.pow(38) - 5), Some(1)], 38, 0);
        let ten = decimals(vec![Some(10), Some(10)], 38, 0);
        let t = DataType::Decimal128(38, 0);
        for op in [Op::Mul, Op::Add] {
            assert!(evaluate(&node(op, column(&big), column(&ten), &t), 2).is_none());
        }
        // A node whose type does not follow the scale rules, and constants only.
        let odd = DataType::Decimal128(38, 3);
        assert!(evaluate(&node(Op::Mul, column(&ten), column(&ten), &odd), 2).is_none());
        let both = node(Op::Add, constant(1, 1, 0), constant(2, 1, 0), &t);
        assert!(evaluate(&both, 2).is_none());
    }

    #[test]
    fn magnitude_bounds_cover_every_value() {
        let cases: Vec<Vec<i128>> = vec![
            vec![0, 0],
            vec![-1],
            vec![1],
            vec![5, -8, 7],
            vec![-1024, 1023],
            vec![i64::MAX as i128, i64::MIN as i128],
            vec![i128::MAX, 3],
            vec![i128::MIN + 1],
        ];
        for values in cases {
            let bound = max_magnitude(&values);
            let largest = values.iter().map(|v| v.unsigned_abs()).max().unwrap();
            assert!(bound >= largest, "{values:?}: {bound} < {largest}");
            // At most twice the largest (a power of two), or 1 for zeros.
            assert!(bound <= (2 * largest).max(1), "{values:?}: {bound}");
        }
    }
}
