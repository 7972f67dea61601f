//! Bound scalar expressions and aggregate calls.
//!
//! The binder produces these from SQL: every column reference is already resolved to
//! an index into the input row of the plan node that evaluates the expression, and
//! every node knows its result type, so the executor never looks at names.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::DataType;

use super::functions::ScalarFunc;
use super::{LogicalPlan, SortKey};
use crate::types::{type_name, ScalarValue};

/// The plan of a subquery inside an expression. Two subqueries are equal only if
/// they are the same one.
#[derive(Debug, Clone)]
pub struct Subquery(pub Arc<LogicalPlan>);

impl PartialEq for Subquery {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Subquery {
    pub fn new(plan: LogicalPlan) -> Subquery {
        Subquery(Arc::new(plan))
    }

    /// Whether the subquery refers to columns of the query around it.
    pub fn is_correlated(&self) -> bool {
        self.0.has_outer_references()
    }
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Plus,
    Minus,
    Multiply,
    Divide,
    IntegerDivide,
    Modulo,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
    Concat,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq
        )
    }

    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryOp::Plus
                | BinaryOp::Minus
                | BinaryOp::Multiply
                | BinaryOp::Divide
                | BinaryOp::IntegerDivide
                | BinaryOp::Modulo
        )
    }

    /// The comparison that holds when the operands are swapped (`a < b` is `b > a`).
    pub fn swap(self) -> BinaryOp {
        match self {
            BinaryOp::Lt => BinaryOp::Gt,
            BinaryOp::LtEq => BinaryOp::GtEq,
            BinaryOp::Gt => BinaryOp::Lt,
            BinaryOp::GtEq => BinaryOp::LtEq,
            other => other,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Plus => "+",
            BinaryOp::Minus => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::IntegerDivide => "//",
            BinaryOp::Modulo => "%",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Concat => "||",
        }
    }
}

/// A bound scalar expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// The column at `index` of the input row; `name` is for display only.
    Column {
        index: usize,
        name: String,
        data_type: DataType,
    },
    Literal(ScalarValue),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
        data_type: DataType,
    },
    Not(Box<Expr>),
    Negate(Box<Expr>),
    IsNull(Box<Expr>),
    IsNotNull(Box<Expr>),
    Cast {
        expr: Box<Expr>,
        to: DataType,
    },
    /// `CASE WHEN c1 THEN r1 ... ELSE e END` (a simple CASE is bound to this form).
    Case {
        branches: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
        data_type: DataType,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
        case_insensitive: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Function {
        func: ScalarFunc,
        args: Vec<Expr>,
        data_type: DataType,
    },
    /// Inside a subquery: the column at `index` of the row of the query
    /// `depth` levels out (1: the enclosing query, 2: the one around it...).
    OuterColumn {
        index: usize,
        name: String,
        data_type: DataType,
        depth: usize,
    },
    /// A subquery that returns one column and at most one row.
    ScalarSubquery(Subquery),
    /// `[NOT] EXISTS (subquery)`.
    Exists {
        subquery: Subquery,
        negated: bool,
    },
    /// `expr [NOT] IN (subquery)`.
    InSubquery {
        expr: Box<Expr>,
        subquery: Subquery,
        negated: bool,
    },
    /// `expr op ANY (subquery)` (or with `all`, `op ALL`), for an `op` other
    /// than the `=` ANY and `<>` ALL of IN and NOT IN.
    Quantified {
        expr: Box<Expr>,
        op: BinaryOp,
        subquery: Subquery,
        all: bool,
    },
}

impl Expr {
    pub fn column(index: usize, name: impl Into<String>, data_type: DataType) -> Expr {
        Expr::Column {
            index,
            name: name.into(),
            data_type,
        }
    }

    pub fn data_type(&self) -> DataType {
        match self {
            Expr::Column { data_type, .. } => data_type.clone(),
            Expr::Literal(v) => v.data_type(),
            Expr::Binary { data_type, .. } => data_type.clone(),
            Expr::Not(_)
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::Like { .. }
            | Expr::InList { .. } => DataType::Boolean,
            Expr::Negate(e) => e.data_type(),
            Expr::Cast { to, .. } => to.clone(),
            Expr::Case { data_type, .. } => data_type.clone(),
            Expr::Function { data_type, .. } => data_type.clone(),
            Expr::OuterColumn { data_type, .. } => data_type.clone(),
            Expr::ScalarSubquery(q) => q.0.schema().field(0).data_type().clone(),
            Expr::Exists { .. } | Expr::InSubquery { .. } | Expr::Quantified { .. } => {
                DataType::Boolean
            }
        }
    }

    /// Whether this expression contains a subquery.
    pub fn has_subquery(&self) -> bool {
        matches!(
            self,
            Expr::ScalarSubquery(_)
                | Expr::Exists { .. }
                | Expr::InSubquery { .. }
                | Expr::Quantified { .. }
        ) || self.children().into_iter().any(Expr::has_subquery)
    }

    /// Whether this expression refers to the columns of a query enclosing
    /// its own (also from inside its subqueries).
    pub fn has_outer_references(&self) -> bool {
        self.references_beyond(0)
    }

    /// Whether this expression, `level` subqueries deep inside some plan,
    /// refers to a query outside that plan (an outer column more levels out
    /// than `level`).
    pub fn references_beyond(&self, level: usize) -> bool {
        match self {
            Expr::OuterColumn { depth, .. } => *depth > level,
            Expr::ScalarSubquery(q) | Expr::Exists { subquery: q, .. } => {
                q.0.references_beyond(level + 1)
            }
            Expr::InSubquery { expr, subquery, .. } | Expr::Quantified { expr, subquery, .. } => {
                expr.references_beyond(level) || subquery.0.references_beyond(level + 1)
            }
            other => other
                .children()
                .into_iter()
                .any(|c| c.references_beyond(level)),
        }
    }

    /// An outer column reference seen from one query level further out (its
    /// depth one less); anything else as it is.
    pub fn one_level_nearer(self) -> Expr {
        match self {
            Expr::OuterColumn {
                index,
                name,
                data_type,
                depth,
            } => Expr::OuterColumn {
                index,
                name,
                data_type,
                depth: depth - 1,
            },
            other => other,
        }
    }

    /// This expression with the outer columns of `depth` renumbered by `f`
    /// (see [`LogicalPlan::map_outer_columns`]).
    pub fn map_outer_columns(
        self,
        depth: usize,
        f: &mut dyn FnMut(usize) -> crate::Result<usize>,
    ) -> crate::Result<Expr> {
        let inner = |q: Subquery, f: &mut dyn FnMut(usize) -> crate::Result<usize>| {
            Ok::<_, crate::Error>(Subquery::new(
                q.0.as_ref().clone().map_outer_columns(depth + 1, f)?,
            ))
        };
        Ok(match self {
            Expr::OuterColumn {
                index,
                name,
                data_type,
                depth: d,
            } if d == depth => Expr::OuterColumn {
                index: f(index)?,
                name,
                data_type,
                depth: d,
            },
            Expr::ScalarSubquery(q) => Expr::ScalarSubquery(inner(q, f)?),
            Expr::Exists { subquery, negated } => Expr::Exists {
                subquery: inner(subquery, f)?,
                negated,
            },
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => Expr::InSubquery {
                expr: Box::new(expr.map_outer_columns(depth, f)?),
                subquery: inner(subquery, f)?,
                negated,
            },
            Expr::Quantified {
                expr,
                op,
                subquery,
                all,
            } => Expr::Quantified {
                expr: Box::new(expr.map_outer_columns(depth, f)?),
                op,
                subquery: inner(subquery, f)?,
                all,
            },
            other => {
                let mut error = None;
                let e = other.map_children(&mut |c| match c.map_outer_columns(depth, f) {
                    Ok(c) => c,
                    Err(e) => {
                        error.get_or_insert(e);
                        Expr::Literal(ScalarValue::Null)
                    }
                });
                return error.map_or(Ok(e), Err);
            }
        })
    }

    /// Join keys for `l IS NOT DISTINCT FROM r`: both NULL, or equal (NULL
    /// stands in as a value of the type in the second key).
    pub fn null_safe_keys(l: Expr, r: Expr) -> Vec<(Expr, Expr)> {
        let t = l.data_type();
        let zero = match &t {
            DataType::Boolean => ScalarValue::Boolean(Some(false)),
            DataType::Int32 => ScalarValue::Int32(Some(0)),
            DataType::Int64 => ScalarValue::Int64(Some(0)),
            DataType::Float64 => ScalarValue::Float64(Some(0.0)),
            DataType::Decimal128(p, s) => ScalarValue::Decimal128(Some(0), *p, *s),
            DataType::Utf8 => ScalarValue::Utf8(Some(String::new())),
            DataType::Date32 => ScalarValue::Date32(Some(0)),
            DataType::Timestamp(..) => ScalarValue::Timestamp(Some(0)),
            _ => ScalarValue::Int32(Some(0)),
        };
        let coalesce = |e: Expr| Expr::Function {
            func: ScalarFunc::Coalesce,
            args: vec![e, Expr::Literal(zero.clone())],
            data_type: t.clone(),
        };
        vec![
            (
                Expr::IsNull(Box::new(l.clone())),
                Expr::IsNull(Box::new(r.clone())),
            ),
            (coalesce(l), coalesce(r)),
        ]
    }

    /// `AND` of two boolean expressions.
    pub fn and(self, other: Expr) -> Expr {
        Expr::Binary {
            op: BinaryOp::And,
            left: Box::new(self),
            right: Box::new(other),
            data_type: DataType::Boolean,
        }
    }

    /// The direct children of this expression.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Column { .. }
            | Expr::Literal(_)
            | Expr::OuterColumn { .. }
            | Expr::ScalarSubquery(_)
            | Expr::Exists { .. } => vec![],
            Expr::InSubquery { expr, .. } | Expr::Quantified { expr, .. } => vec![expr],
            Expr::Binary { left, right, .. } => vec![left, right],
            Expr::Not(e) | Expr::Negate(e) | Expr::IsNull(e) | Expr::IsNotNull(e) => vec![e],
            Expr::Cast { expr, .. } => vec![expr],
            Expr::Case {
                branches,
                otherwise,
                ..
            } => {
                let mut v: Vec<&Expr> = branches.iter().flat_map(|(c, r)| [c, r]).collect();
                v.extend(otherwise.as_deref());
                v
            }
            Expr::Like { expr, pattern, .. } => vec![expr, pattern],
            Expr::InList { expr, list, .. } => std::iter::once(&**expr).chain(list).collect(),
            Expr::Function { args, .. } => args.iter().collect(),
        }
    }

    /// Rebuilds this expression with `f` applied to every child (bottom-up callers
    /// call `map_children` inside `f`).
    pub fn map_children(self, f: &mut impl FnMut(Expr) -> Expr) -> Expr {
        let mut bx = |e: Box<Expr>| Box::new(f(*e));
        match self {
            e @ (Expr::Column { .. }
            | Expr::Literal(_)
            | Expr::OuterColumn { .. }
            | Expr::ScalarSubquery(_)
            | Expr::Exists { .. }) => e,
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => Expr::InSubquery {
                expr: bx(expr),
                subquery,
                negated,
            },
            Expr::Quantified {
                expr,
                op,
                subquery,
                all,
            } => Expr::Quantified {
                expr: bx(expr),
                op,
                subquery,
                all,
            },
            Expr::Binary {
                op,
                left,
                right,
                data_type,
            } => Expr::Binary {
                op,
                left: bx(left),
                right: bx(right),
                data_type,
            },
            Expr::Not(e) => Expr::Not(bx(e)),
            Expr::Negate(e) => Expr::Negate(bx(e)),
            Expr::IsNull(e) => Expr::IsNull(bx(e)),
            Expr::IsNotNull(e) => Expr::IsNotNull(bx(e)),
            Expr::Cast { expr, to } => Expr::Cast { expr: bx(expr), to },
            Expr::Case {
                branches,
                otherwise,
                data_type,
            } => Expr::Case {
                branches: branches.into_iter().map(|(c, r)| (f(c), f(r))).collect(),
                otherwise: otherwise.map(|e| Box::new(f(*e))),
                data_type,
            },
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => Expr::Like {
                expr: bx(expr),
                pattern: bx(pattern),
                negated,
                case_insensitive,
            },
            Expr::InList {
                expr,
                list,
                negated,
            } => Expr::InList {
                expr: bx(expr),
                list: list.into_iter().map(&mut *f).collect(),
                negated,
            },
            Expr::Function {
                func,
                args,
                data_type,
            } => Expr::Function {
                func,
                args: args.into_iter().map(f).collect(),
                data_type,
            },
        }
    }

    /// Rewrites every node bottom-up with `f`.
    pub fn transform_up(self, f: &mut impl FnMut(Expr) -> Expr) -> Expr {
        let rebuilt = self.map_children(&mut |child| child.transform_up(f));
        f(rebuilt)
    }

    /// This expression over the input of a projection of `exprs`: each column
    /// reference replaced by the expression that column projects.
    pub fn inline_columns(self, exprs: &[Expr]) -> Expr {
        self.transform_up(&mut |e| match e {
            Expr::Column { index, .. } => exprs[index].clone(),
            other => other,
        })
    }

    /// Indexes of every input column this expression reads.
    pub fn collect_columns(&self, out: &mut Vec<usize>) {
        if let Expr::Column { index, .. } = self {
            out.push(*index);
        }
        for child in self.children() {
            child.collect_columns(out);
        }
    }

    /// Renumbers column references through `map` (old index -> new index).
    pub fn remap_columns(self, map: &impl Fn(usize) -> usize) -> Expr {
        self.transform_up(&mut |e| match e {
            Expr::Column {
                index,
                name,
                data_type,
            } => Expr::Column {
                index: map(index),
                name,
                data_type,
            },
            other => other,
        })
    }

    /// Splits `a AND b AND c` into its conjuncts.
    pub fn split_conjunction(self) -> Vec<Expr> {
        match self {
            Expr::Binary {
                op: BinaryOp::And,
                left,
                right,
                ..
            } => {
                let mut v = left.split_conjunction();
                v.extend(right.split_conjunction());
                v
            }
            other => vec![other],
        }
    }

    /// Joins predicates with AND (`None` for an empty list).
    pub fn conjunction(predicates: impl IntoIterator<Item = Expr>) -> Option<Expr> {
        predicates.into_iter().reduce(Expr::and)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column { name, .. } => write!(f, "{name}"),
            Expr::Literal(v) => write!(f, "{v}"),
            Expr::Binary {
                op, left, right, ..
            } => write!(f, "({left} {} {right})", op.symbol()),
            Expr::Not(e) => write!(f, "(NOT {e})"),
            Expr::Negate(e) => write!(f, "(- {e})"),
            Expr::IsNull(e) => write!(f, "({e} IS NULL)"),
            Expr::IsNotNull(e) => write!(f, "({e} IS NOT NULL)"),
            Expr::Cast { expr, to } => write!(f, "CAST({expr} AS {})", type_name(to)),
            Expr::Case {
                branches,
                otherwise,
                ..
            } => {
                write!(f, "CASE")?;
                for (c, r) in branches {
                    write!(f, " WHEN {c} THEN {r}")?;
                }
                if let Some(e) = otherwise {
                    write!(f, " ELSE {e}")?;
                }
                write!(f, " END")
            }
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => {
                let not = if *negated { "NOT " } else { "" };
                let op = if *case_insensitive { "ILIKE" } else { "LIKE" };
                write!(f, "({expr} {not}{op} {pattern})")
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let items: Vec<String> = list.iter().map(|e| e.to_string()).collect();
                let not = if *negated { "NOT " } else { "" };
                write!(f, "({expr} {not}IN ({}))", items.join(", "))
            }
            Expr::Function { func, args, .. } => {
                let items: Vec<String> = args.iter().map(|e| e.to_string()).collect();
                write!(f, "{}({})", func.name(), items.join(", "))
            }
            Expr::OuterColumn { name, .. } => write!(f, "outer.{name}"),
            Expr::ScalarSubquery(_) => write!(f, "(subquery)"),
            Expr::Exists { negated, .. } => {
                write!(f, "{}EXISTS(subquery)", if *negated { "NOT " } else { "" })
            }
            Expr::InSubquery { expr, negated, .. } => {
                write!(
                    f,
                    "({expr} {}IN (subquery))",
                    if *negated { "NOT " } else { "" }
                )
            }
            Expr::Quantified { expr, op, all, .. } => {
                let q = if *all { "ALL" } else { "ANY" };
                write!(f, "({expr} {} {q} (subquery))", op.symbol())
            }
        }
    }
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggFunc {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// `stddev_samp` (`stddev`): the sample standard deviation (DOUBLE).
    StddevSamp,
    StddevPop,
    /// `var_samp` (`variance`).
    VarSamp,
    VarPop,
    /// `covar_samp(y, x)`: `arg` is y, `arg2` x.
    CovarSamp,
    CovarPop,
    /// `corr(y, x)`.
    Corr,
    /// `quantile_cont(x, q)` (`median` is q = 0.5): interpolated; `arg2` is the
    /// constant fraction q, `order_by` (one key, the argument) its direction.
    QuantileCont,
    /// `quantile_disc(x, q)`: the value at position ceil(n·q) - 1 of the sorted values.
    QuantileDisc,
    /// The most frequent value.
    Mode,
    /// `arg_min(a, v)`: `a` of the row with the least `v` (`arg2`).
    ArgMin,
    ArgMax,
    /// A HyperLogLog estimate of `COUNT(DISTINCT x)`.
    ApproxCountDistinct,
    /// `string_agg(s, separator)`: `arg2` is the constant separator, `order_by`
    /// the order of the values.
    StringAgg,
    BoolAnd,
    BoolOr,
}

impl AggFunc {
    /// Whether `arg2` is a column read per row (not a constant parameter).
    pub fn has_second_column(self) -> bool {
        matches!(
            self,
            AggFunc::CovarSamp
                | AggFunc::CovarPop
                | AggFunc::Corr
                | AggFunc::ArgMin
                | AggFunc::ArgMax
        )
    }

    /// The SQL name of the function.
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::CountStar => "count_star",
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Avg => "avg",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::StddevSamp => "stddev_samp",
            AggFunc::StddevPop => "stddev_pop",
            AggFunc::VarSamp => "var_samp",
            AggFunc::VarPop => "var_pop",
            AggFunc::CovarSamp => "covar_samp",
            AggFunc::CovarPop => "covar_pop",
            AggFunc::Corr => "corr",
            AggFunc::QuantileCont => "quantile_cont",
            AggFunc::QuantileDisc => "quantile_disc",
            AggFunc::Mode => "mode",
            AggFunc::ArgMin => "arg_min",
            AggFunc::ArgMax => "arg_max",
            AggFunc::ApproxCountDistinct => "approx_count_distinct",
            AggFunc::StringAgg => "string_agg",
            AggFunc::BoolAnd => "bool_and",
            AggFunc::BoolOr => "bool_or",
        }
    }
}

/// One aggregate call of an Aggregate node: `func(DISTINCT? arg [, arg2]
/// [ORDER BY ...]) [FILTER (WHERE filter)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggExpr {
    pub func: AggFunc,
    pub arg: Option<Expr>,
    /// The second argument of two-argument aggregates (a constant for
    /// quantiles and `string_agg`).
    pub arg2: Option<Expr>,
    pub distinct: bool,
    /// `FILTER (WHERE ...)`: only the rows where it is true are aggregated.
    pub filter: Option<Expr>,
    /// `ORDER BY` inside the call, or `WITHIN GROUP (ORDER BY ...)`.
    pub order_by: Vec<SortKey>,
    pub data_type: DataType,
}

impl AggExpr {
    /// `func(arg)` of type `data_type`, without the optional clauses.
    pub fn new(func: AggFunc, arg: Option<Expr>, data_type: DataType) -> AggExpr {
        AggExpr {
            func,
            arg,
            arg2: None,
            distinct: false,
            filter: None,
            order_by: vec![],
            data_type,
        }
    }

    /// Whether partial results of this aggregate over parts of its input merge
    /// into the whole's by re-aggregating them (SUM of sums, MIN of mins...),
    /// as materialized views and cubes store them.
    pub fn merges_as_state(&self) -> bool {
        matches!(
            self.func,
            AggFunc::CountStar
                | AggFunc::Count
                | AggFunc::Sum
                | AggFunc::Avg
                | AggFunc::Min
                | AggFunc::Max
        ) && self.arg2.is_none()
            && self.filter.is_none()
            && self.order_by.is_empty()
    }

    /// Every expression of the call: arguments, filter and order keys.
    pub fn expressions(&self) -> Vec<&Expr> {
        let mut v: Vec<&Expr> = self.arg.iter().chain(self.arg2.iter()).collect();
        v.extend(self.filter.iter());
        v.extend(self.order_by.iter().map(|k| &k.expr));
        v
    }

    /// This call with `f` applied to each of its expressions.
    pub fn try_map_expressions(
        self,
        f: &mut impl FnMut(Expr) -> crate::Result<Expr>,
    ) -> crate::Result<AggExpr> {
        Ok(AggExpr {
            arg: self.arg.map(&mut *f).transpose()?,
            arg2: self.arg2.map(&mut *f).transpose()?,
            filter: self.filter.map(&mut *f).transpose()?,
            order_by: self
                .order_by
                .into_iter()
                .map(|k| {
                    Ok(SortKey {
                        expr: f(k.expr)?,
                        ..k
                    })
                })
                .collect::<crate::Result<_>>()?,
            ..self
        })
    }

    /// This call with `f` applied to each of its expressions.
    pub fn map_expressions(self, f: &mut impl FnMut(Expr) -> Expr) -> AggExpr {
        self.try_map_expressions(&mut |e| Ok(f(e)))
            .expect("an infallible map")
    }
}

impl fmt::Display for AggExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.func == AggFunc::CountStar {
            write!(f, "count_star()")?;
        } else {
            let distinct = if self.distinct { "DISTINCT " } else { "" };
            write!(f, "{}({distinct}", self.func.name())?;
            if let Some(a) = &self.arg {
                write!(f, "{a}")?;
            }
            if let Some(a) = &self.arg2 {
                write!(f, ", {a}")?;
            }
            if !self.order_by.is_empty() {
                let keys: Vec<String> = self
                    .order_by
                    .iter()
                    .map(|k| format!("{}{}", k.expr, if k.ascending { "" } else { " DESC" }))
                    .collect();
                write!(f, " ORDER BY {}", keys.join(", "))?;
            }
            write!(f, ")")?;
        }
        if let Some(filter) = &self.filter {
            write!(f, " FILTER (WHERE {filter})")?;
        }
        Ok(())
    }
}
