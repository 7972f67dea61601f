//! Binding SQL expressions: names become column positions, literals become typed
//! values, operands are cast to the type the operator needs, and aggregate calls
//! are collected into a list (each replaced by a reference the SELECT binder later
//! points at the aggregate's output column).

use arrow::datatypes::DataType;
use sqlparser::ast::{self, BinaryOperator, UnaryOperator, Value};

use super::coerce::{common_type, decimal_arithmetic_type, integer_as_decimal, is_numeric};
use super::query::QueryBinder;
use super::scope::Scope;
use super::windows::{self, WindowCall};
use super::{aggregates, functions};
use super::{convert_type, object_name};
use crate::error::{Error, Result};
use crate::plan::{
    AggExpr, AggFunc, BinaryOp, DatePart, Expr, LogicalPlan, ScalarFunc, SortKey, Subquery,
    WindowFunc,
};
use crate::types::{parse_date, parse_timestamp, type_name, ScalarValue};
use crate::{bind_err, unsupported};

/// Column indexes at or above this mark stand for "aggregate number (index - mark)".
pub const AGG_REF_BASE: usize = usize::MAX / 2;

/// A column with this index, inside `GROUPING(...)`, names a SELECT alias (its
/// `name`) that is not a column of FROM; the SELECT binder resolves it.
pub const ALIAS_REF: usize = AGG_REF_BASE - 1;

/// Binds expressions against one scope; collects aggregate calls and window
/// calls when allowed.
pub struct ExprBinder<'a> {
    scope: &'a Scope,
    aggs: Option<&'a mut Vec<AggExpr>>,
    in_aggregate: bool,
    windows: Option<&'a mut Vec<WindowCall>>,
    /// The SELECT's `WINDOW name AS (...)` definitions.
    named_windows: &'a [ast::NamedWindowDefinition],
    in_window: bool,
    /// SELECT-list names and items a name may refer to when no column has it
    /// (QUALIFY's `rank <= 3` for `RANK() OVER (...) AS rank`).
    aliases: Option<(&'a [String], &'a [Expr])>,
    /// Binds subqueries (and knows the enclosing query's scope, for correlation).
    queries: Option<&'a QueryBinder<'a>>,
    /// How deep the expression being bound is nested so far (see [`MAX_EXPRESSION_DEPTH`]).
    depth: usize,
}

/// The deepest expression bound: parsing, planning and evaluating recurse over an
/// expression's tree, and a chain of `AND`, `OR` or `+` is a tree as deep as it is
/// long. 100,000 levels fit the statement threads' stacks (DuckDB allows 1,000).
pub const MAX_EXPRESSION_DEPTH: usize = 100_000;

impl<'a> ExprBinder<'a> {
    /// A binder for contexts without aggregates or subqueries.
    pub fn new(scope: &'a Scope) -> Self {
        ExprBinder {
            scope,
            aggs: None,
            in_aggregate: false,
            windows: None,
            named_windows: &[],
            in_window: false,
            aliases: None,
            queries: None,
            depth: 0,
        }
    }

    /// Also resolve names that no column has as the SELECT items they alias.
    pub fn with_aliases(mut self, names: &'a [String], items: &'a [Expr]) -> Self {
        self.aliases = Some((names, items));
        self
    }

    /// Also accept window function calls, appending them to `windows`;
    /// `named` are the windows the SELECT defines.
    pub fn with_windows(
        mut self,
        windows: &'a mut Vec<WindowCall>,
        named: &'a [ast::NamedWindowDefinition],
    ) -> Self {
        self.windows = Some(windows);
        self.named_windows = named;
        self
    }

    /// Also accept aggregate calls, appending them to `aggs`.
    pub fn with_aggregates(mut self, aggs: &'a mut Vec<AggExpr>) -> Self {
        self.aggs = Some(aggs);
        self
    }

    /// Also accept subqueries, bound by `queries`; names not found in the scope
    /// are looked up in the scope of the query that encloses `queries`' query.
    pub fn with_queries(mut self, queries: &'a QueryBinder<'a>) -> Self {
        self.queries = Some(queries);
        self
    }

    fn column(&self, qualifier: Option<&ast::Ident>, name: &ast::Ident) -> Result<Expr> {
        if let Some(e) = self.scope.lookup(qualifier, name)? {
            return Ok(e);
        }
        if let (None, Some((names, items))) = (qualifier, self.aliases) {
            if let Some(i) = names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(&name.value))
            {
                return Ok(items[i].clone());
            }
        }
        // The enclosing queries' columns, nearest first (depth 1, 2, ...).
        let mut binder = self.queries;
        let mut depth = 1;
        while let Some(queries) = binder {
            if let Some(outer) = queries.outer() {
                if let Some(Expr::Column {
                    index,
                    name,
                    data_type,
                }) = outer.lookup(qualifier, name)?
                {
                    return Ok(Expr::OuterColumn {
                        index,
                        name,
                        data_type,
                        depth,
                    });
                }
            }
            binder = queries.parent();
            depth += 1;
        }
        Err(self.scope.not_found(qualifier, name))
    }

    /// Binds a subquery in the scope of this expression.
    fn subquery(&self, query: &ast::Query, width_one: bool) -> Result<LogicalPlan> {
        let Some(queries) = self.queries else {
            return unsupported!("subqueries here");
        };
        let plan = queries.nested(self.scope).bind_query(query)?;
        let width = plan.schema().fields().len();
        if width_one && width != 1 {
            return bind_err!("a subquery used as a value must return one column, not {width}");
        }
        Ok(plan)
    }

    pub fn bind(&mut self, expr: &ast::Expr) -> Result<Expr> {
        self.nested(1, |binder| binder.bind_here(expr))
    }

    /// `f` with the depth `levels` deeper, or an error past [`MAX_EXPRESSION_DEPTH`].
    fn nested<T>(&mut self, levels: usize, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.depth += levels;
        let result = if self.depth > MAX_EXPRESSION_DEPTH {
            bind_err!(
                "expression nested too deeply: more than {MAX_EXPRESSION_DEPTH} levels (a chain of AND, OR or arithmetic operators counts one level per operator)"
            )
        } else {
            f(self)
        };
        self.depth -= levels;
        result
    }

    fn bind_here(&mut self, expr: &ast::Expr) -> Result<Expr> {
        match expr {
            ast::Expr::Identifier(ident) => self.column(None, ident),
            ast::Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [qualifier, name] => self.column(Some(qualifier), name),
                [_, qualifier, name] => self.column(Some(qualifier), name),
                _ => bind_err!("unsupported column reference {expr}"),
            },
            ast::Expr::Value(v) => bind_value(&v.value),
            ast::Expr::TypedString(ts) => {
                let text = match &ts.value.value {
                    Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                };
                cast_literal(ScalarValue::Utf8(Some(text)), &convert_type(&ts.data_type)?)
                    .map(Expr::Literal)
            }
            ast::Expr::Interval(iv) => bind_interval(iv).map(Expr::Literal),
            ast::Expr::Nested(e) => self.bind(e),
            ast::Expr::BinaryOp { left, op, right } => {
                // A run of `+ - * / // % ^` is bound as one, without recursion
                // along it.
                if chain_level(op).is_some() {
                    return self.arithmetic_chain(expr);
                }
                let op = binary_op(op)?;
                let (l, r) = (self.bind(left)?, self.bind(right)?);
                binary(op, l, r)
            }
            ast::Expr::UnaryOp { op, expr: inner } => {
                let e = self.bind(inner)?;
                match op {
                    UnaryOperator::Not => Ok(Expr::Not(Box::new(to_boolean(e, "NOT")?))),
                    UnaryOperator::Plus => Ok(e),
                    UnaryOperator::Minus => negate(e),
                    other => unsupported!("operator {other}"),
                }
            }
            ast::Expr::IsNull(e) => Ok(Expr::IsNull(Box::new(self.bind(e)?))),
            ast::Expr::IsNotNull(e) => Ok(Expr::IsNotNull(Box::new(self.bind(e)?))),
            ast::Expr::IsTrue(e) => self.is_bool(e, true, false),
            ast::Expr::IsFalse(e) => self.is_bool(e, false, false),
            ast::Expr::IsNotTrue(e) => self.is_bool(e, true, true),
            ast::Expr::IsNotFalse(e) => self.is_bool(e, false, true),
            ast::Expr::IsDistinctFrom(a, b) | ast::Expr::IsNotDistinctFrom(a, b) => {
                let negate_result = matches!(expr, ast::Expr::IsNotDistinctFrom(..));
                self.distinct_from(a, b, negate_result)
            }
            ast::Expr::Between {
                expr: e,
                negated,
                low,
                high,
            } => {
                let e = self.bind(e)?;
                let ge = binary(BinaryOp::GtEq, e.clone(), self.bind(low)?)?;
                let le = binary(BinaryOp::LtEq, e, self.bind(high)?)?;
                let both = ge.and(le);
                Ok(if *negated {
                    Expr::Not(Box::new(both))
                } else {
                    both
                })
            }
            ast::Expr::In {
                expr: e,
                target,
                negated,
                ..
            } => match target {
                ast::InTarget::List(list) => {
                    let e = self.bind(e)?;
                    let list = list
                        .iter()
                        .map(|x| self.bind(x))
                        .collect::<Result<Vec<_>>>()?;
                    in_list(e, list, *negated)
                }
                ast::InTarget::Subquery(q) => {
                    let (e, subquery) = self.compared_subquery(e, q)?;
                    Ok(Expr::InSubquery {
                        expr: Box::new(e),
                        subquery,
                        negated: *negated,
                    })
                }
                _ => unsupported!("IN with {target}"),
            },
            ast::Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | ast::Expr::AllOp {
                left,
                compare_op,
                right,
            } => {
                let all = matches!(expr, ast::Expr::AllOp { .. });
                let op = binary_op(compare_op)?;
                let ast::Expr::Subquery(q) = right.as_ref() else {
                    return unsupported!("ANY / ALL with something else than a subquery: {expr}");
                };
                if !op.is_comparison() {
                    return bind_err!("ANY / ALL need a comparison, not {}", op.symbol());
                }
                let (e, subquery) = self.compared_subquery(left, q)?;
                Ok(match (op, all) {
                    // `= ANY` is IN, `<> ALL` is NOT IN.
                    (BinaryOp::Eq, false) | (BinaryOp::NotEq, true) => Expr::InSubquery {
                        expr: Box::new(e),
                        subquery,
                        negated: all,
                    },
                    _ => Expr::Quantified {
                        expr: Box::new(e),
                        op,
                        subquery,
                        all,
                    },
                })
            }
            ast::Expr::Like {
                negated,
                expr: e,
                pattern,
                escape_char,
                any,
            }
            | ast::Expr::ILike {
                negated,
                expr: e,
                pattern,
                escape_char,
                any,
            } => {
                if *any {
                    return unsupported!("LIKE ANY");
                }
                let case_insensitive = matches!(expr, ast::Expr::ILike { .. });
                let e = to_string_type(self.bind(e)?, "LIKE")?;
                let pattern = to_string_type(self.bind(pattern)?, "LIKE")?;
                let escape = escape_char.as_deref().map(|c| self.bind(c)).transpose()?;
                let pattern = like_pattern(pattern, escape)?;
                Ok(Expr::Like {
                    expr: Box::new(e),
                    pattern: Box::new(pattern),
                    negated: *negated,
                    case_insensitive,
                })
            }
            ast::Expr::Cast {
                expr: e,
                data_type,
                kind,
                ..
            } => {
                let to = convert_type(data_type)?;
                let e = self.bind(e)?;
                if matches!(kind, ast::CastKind::TryCast | ast::CastKind::SafeCast) {
                    return Ok(try_cast(e, &to));
                }
                cast(e, &to)
            }
            ast::Expr::Extract { field, expr: e, .. } => {
                let part = date_part(field)?;
                functions::extract(part, self.bind(e)?)
            }
            ast::Expr::Floor { expr: e, field } | ast::Expr::Ceil { expr: e, field } => {
                let name = if matches!(expr, ast::Expr::Floor { .. }) {
                    "floor"
                } else {
                    "ceil"
                };
                match field {
                    ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime) => {
                        functions::scalar_function(name, vec![self.bind(e)?])
                    }
                    _ => unsupported!("{expr}"),
                }
            }
            ast::Expr::Position { expr: needle, r#in } => {
                let args = vec![self.bind(r#in)?, self.bind(needle)?];
                functions::scalar_function("strpos", args)
            }
            ast::Expr::Substring {
                expr: e,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.bind(e)?];
                match substring_from {
                    Some(from) => args.push(self.bind(from)?),
                    None => args.push(Expr::Literal(ScalarValue::Int64(Some(1)))),
                }
                if let Some(len) = substring_for {
                    args.push(self.bind(len)?);
                }
                functions::substring(args)
            }
            ast::Expr::Trim {
                expr: e,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                // TRIM([BOTH | LEADING | TRAILING] [chars FROM] s), or trim(s, chars).
                let name = match trim_where {
                    Some(ast::TrimWhereField::Leading) => "ltrim",
                    Some(ast::TrimWhereField::Trailing) => "rtrim",
                    _ => "trim",
                };
                let mut args = vec![self.bind(e)?];
                if let Some(what) = trim_what {
                    args.push(self.bind(what)?);
                }
                match trim_characters.as_deref() {
                    None => {}
                    Some([chars]) => args.push(self.bind(chars)?),
                    Some(_) => return bind_err!("TRIM takes one string of characters"),
                }
                functions::scalar_function(name, args)
            }
            ast::Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(operand.as_deref(), conditions, else_result.as_deref()),
            ast::Expr::Function(f) => self.function(f),
            ast::Expr::Subquery(q) => {
                Ok(Expr::ScalarSubquery(Subquery::new(self.subquery(q, true)?)))
            }
            ast::Expr::Exists { subquery, negated } => Ok(Expr::Exists {
                subquery: Subquery::new(self.subquery(subquery, false)?),
                negated: *negated,
            }),
            ast::Expr::Wildcard(_) | ast::Expr::QualifiedWildcard(..) => {
                bind_err!("* is only allowed in the SELECT list or COUNT(*)")
            }
            other => unsupported!("expression {other}"),
        }
    }

    /// A run of `+ - * / // % ^` without parentheses that has a `^` (or `**`)
    /// in it, bound with DuckDB's precedence: sqlparser gives `^` (its XOR) the
    /// lowest, DuckDB the highest, above `*` (`2 * 3 ^ 2` is 18), left to right
    /// (`2 ^ 3 ^ 2` is 64). The run is read back in order from sqlparser's tree
    /// (its operands and operators are in the text's order whatever the tree's
    /// shape) and regrouped.
    fn arithmetic_chain(&mut self, expr: &ast::Expr) -> Result<Expr> {
        let (mut operands, mut ops) = (vec![], vec![]);
        flatten_chain(expr, &mut operands, &mut ops);
        // The bound chain is as deep as it has operators.
        self.nested(ops.len(), |binder| binder.bind_chain(operands, ops))
    }

    fn bind_chain(&mut self, operands: Vec<&ast::Expr>, ops: Vec<&BinaryOperator>) -> Result<Expr> {
        let mut operands = operands.into_iter();
        let first = operands.next().expect("a chain has an operand");
        // Operator precedence over a stack (every level left-associative): an
        // operator is applied once the next one is not of a higher level.
        let mut values = vec![self.bind(first)?];
        let mut pending: Vec<&BinaryOperator> = vec![];
        let apply = |op: &BinaryOperator, values: &mut Vec<Expr>| -> Result<()> {
            let r = values.pop().expect("an operator has two operands");
            let l = values.pop().expect("an operator has two operands");
            values.push(if is_power(op) {
                functions::power(l, r)?
            } else {
                binary(binary_op(op)?, l, r)?
            });
            Ok(())
        };
        for (op, operand) in ops.into_iter().zip(operands) {
            while let Some(&top) = pending.last() {
                if chain_level(top) < chain_level(op) {
                    break;
                }
                pending.pop();
                apply(top, &mut values)?;
            }
            pending.push(op);
            values.push(self.bind(operand)?);
        }
        while let Some(op) = pending.pop() {
            apply(op, &mut values)?;
        }
        Ok(values.pop().expect("a chain has one operand left"))
    }

    /// `e` and a one-column subquery compared with it (IN, ANY, ALL), both
    /// cast to the type they are compared in.
    fn compared_subquery(&mut self, e: &ast::Expr, q: &ast::Query) -> Result<(Expr, Subquery)> {
        let e = self.bind(e)?;
        let plan = self.subquery(q, true)?;
        let field = plan.schema().field(0).clone();
        let item = Expr::column(0, field.name().clone(), field.data_type().clone());
        let t = comparison_type(&e.data_type(), &item, &e)?;
        let plan = if field.data_type() == &t {
            plan
        } else {
            LogicalPlan::project(plan, vec![cast(item, &t)?], vec![field.name().clone()])
        };
        Ok((cast(e, &t)?, Subquery::new(plan)))
    }

    fn is_bool(&mut self, e: &ast::Expr, value: bool, negated: bool) -> Result<Expr> {
        // `x IS TRUE` is never NULL: coalesce(x = true, false).
        let e = to_boolean(self.bind(e)?, "IS TRUE")?;
        let test = if value { e } else { Expr::Not(Box::new(e)) };
        let never_null = Expr::Function {
            func: ScalarFunc::Coalesce,
            args: vec![test, Expr::Literal(ScalarValue::Boolean(Some(false)))],
            data_type: DataType::Boolean,
        };
        Ok(if negated {
            Expr::Not(Box::new(never_null))
        } else {
            never_null
        })
    }

    fn distinct_from(&mut self, a: &ast::Expr, b: &ast::Expr, not_distinct: bool) -> Result<Expr> {
        // a IS DISTINCT FROM b  ==  CASE WHEN a IS NULL THEN b IS NOT NULL
        //                              WHEN b IS NULL THEN TRUE ELSE a <> b END
        let (a, b) = (self.bind(a)?, self.bind(b)?);
        let ne = binary(BinaryOp::NotEq, a.clone(), b.clone())?;
        let distinct = Expr::Case {
            branches: vec![
                (
                    Expr::IsNull(Box::new(a)),
                    Expr::IsNotNull(Box::new(b.clone())),
                ),
                (
                    Expr::IsNull(Box::new(b)),
                    Expr::Literal(ScalarValue::Boolean(Some(true))),
                ),
            ],
            otherwise: Some(Box::new(ne)),
            data_type: DataType::Boolean,
        };
        Ok(if not_distinct {
            Expr::Not(Box::new(distinct))
        } else {
            distinct
        })
    }

    fn case(
        &mut self,
        operand: Option<&ast::Expr>,
        conditions: &[ast::CaseWhen],
        else_result: Option<&ast::Expr>,
    ) -> Result<Expr> {
        let operand = operand.map(|o| self.bind(o)).transpose()?;
        let mut branches = Vec::with_capacity(conditions.len());
        for when in conditions {
            let cond = self.bind(&when.condition)?;
            let cond = match &operand {
                Some(o) => binary(BinaryOp::Eq, o.clone(), cond)?,
                None => to_boolean(cond, "CASE WHEN")?,
            };
            branches.push((cond, self.bind(&when.result)?));
        }
        let otherwise = else_result.map(|e| self.bind(e)).transpose()?;
        let mut result_type = DataType::Null;
        for t in branches.iter().map(|(_, r)| r).chain(otherwise.iter()) {
            result_type = common_type(&result_type, &t.data_type()).ok_or_else(|| {
                Error::Bind(format!(
                    "CASE branches have incompatible types {} and {}",
                    type_name(&result_type),
                    type_name(&t.data_type())
                ))
            })?;
        }
        let branches = branches
            .into_iter()
            .map(|(c, r)| Ok((c, cast(r, &result_type)?)))
            .collect::<Result<Vec<_>>>()?;
        let otherwise = otherwise
            .map(|e| cast(e, &result_type).map(Box::new))
            .transpose()?;
        Ok(Expr::Case {
            branches,
            otherwise,
            data_type: result_type,
        })
    }

    fn function(&mut self, f: &ast::Function) -> Result<Expr> {
        let name = object_name(&f.name).to_lowercase();
        let empty = vec![];
        let (args, distinct, clauses) = match &f.args {
            ast::FunctionArguments::None => (vec![], false, &empty),
            ast::FunctionArguments::List(list) => (
                list.args.iter().collect::<Vec<_>>(),
                matches!(
                    list.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                ),
                &list.clauses,
            ),
            ast::FunctionArguments::Subquery(_) => return unsupported!("subqueries"),
        };
        if ignores_nulls(f, clauses) && (f.over.is_none() || !windows::skips_nulls(&name)) {
            return unsupported!("IGNORE NULLS in {name} (only LAG, LEAD, FIRST_VALUE, LAST_VALUE and NTH_VALUE take it)");
        }
        if let Some(over) = &f.over {
            return self.window_call(&name, over, &args, distinct, clauses, f);
        }
        if windows::is_window_function(&name) {
            return bind_err!("{name} is a window function: it needs an OVER clause: {f}");
        }
        if let Some(func) = aggregates::aggregate_function(&name) {
            return self.aggregate(&name, func, &args, distinct, clauses, f);
        }
        if f.filter.is_some() || !f.within_group.is_empty() || !clauses.is_empty() {
            return bind_err!(
                "FILTER, WITHIN GROUP and ORDER BY are only allowed in aggregates, not {name}"
            );
        }
        if name == "grouping" || name == "grouping_id" {
            return self.grouping(&args, distinct, f);
        }
        if distinct {
            return bind_err!("DISTINCT is only allowed in aggregate functions, not {name}");
        }
        let args = args
            .iter()
            .map(|a| self.argument(a, f))
            .collect::<Result<Vec<_>>>()?;
        functions::scalar_function(&name, args)
    }

    /// One argument of a call. sqlparser reads `f(a = b)` as a named argument
    /// `a` (DuckDB's dialect allows `name = value`); no function here takes
    /// named arguments, so it is the comparison `a = b`.
    fn argument(&mut self, arg: &ast::FunctionArg, call: &ast::Function) -> Result<Expr> {
        match arg {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => self.bind(e),
            ast::FunctionArg::Named {
                name,
                arg: ast::FunctionArgExpr::Expr(e),
                operator: ast::FunctionArgOperator::Equals,
            } => {
                let left = self.column(None, name)?;
                binary(BinaryOp::Eq, left, self.bind(e)?)
            }
            other => bind_err!("unsupported argument {other} in {call}"),
        }
    }

    /// `GROUPING(k1, ...)`: a placeholder holding the bound keys, which the SELECT
    /// binder turns into bits of the Aggregate's `#grouping_id`.
    fn grouping(
        &mut self,
        args: &[&ast::FunctionArg],
        distinct: bool,
        call: &ast::Function,
    ) -> Result<Expr> {
        if self.in_aggregate {
            return bind_err!("GROUPING cannot be used inside an aggregate function: {call}");
        }
        if self.aggs.is_none() {
            return bind_err!("GROUPING is not allowed here: {call}");
        }
        if distinct || args.is_empty() {
            return bind_err!("GROUPING takes one or more grouping columns: {call}");
        }
        self.in_aggregate = true;
        let keys = args
            .iter()
            .map(|a| self.grouping_key(a))
            .collect::<Result<Vec<_>>>();
        self.in_aggregate = false;
        Ok(functions::call(
            ScalarFunc::Grouping,
            keys?,
            DataType::Int64,
        ))
    }

    /// One argument of GROUPING: a key over FROM, or a SELECT alias (`ALIAS_REF`).
    fn grouping_key(&mut self, arg: &ast::FunctionArg) -> Result<Expr> {
        let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) = arg else {
            return bind_err!("unsupported argument {arg} to GROUPING");
        };
        match e {
            ast::Expr::Identifier(i) if self.scope.lookup(None, i)?.is_none() => Ok(Expr::Column {
                index: ALIAS_REF,
                name: i.value.clone(),
                data_type: DataType::Null,
            }),
            e => self.bind(e),
        }
    }

    fn aggregate(
        &mut self,
        name: &str,
        func: AggFunc,
        args: &[&ast::FunctionArg],
        distinct: bool,
        clauses: &[ast::FunctionArgumentClause],
        call: &ast::Function,
    ) -> Result<Expr> {
        if self.in_aggregate {
            return bind_err!("aggregate function calls cannot be nested: {call}");
        }
        if self.aggs.is_none() {
            return bind_err!("aggregate functions are not allowed here: {call}");
        }
        // The arguments, ORDER BY and FILTER see the rows, not the groups.
        self.in_aggregate = true;
        let parts = self.aggregate_parts(args, clauses, call);
        self.in_aggregate = false;
        let (args, order_by, within_group, filter) = parts?;
        let agg =
            aggregates::bind_aggregate(name, func, args, distinct, order_by, within_group, filter)?;
        let data_type = agg.data_type.clone();
        let aggs = self.aggs.as_mut().expect("checked above");
        let index = match aggs.iter().position(|a| *a == agg) {
            Some(i) => i,
            None => {
                aggs.push(agg);
                aggs.len() - 1
            }
        };
        Ok(Expr::Column {
            index: AGG_REF_BASE + index,
            name: call.to_string(),
            data_type,
        })
    }

    /// A window function call: its window resolved, its arguments, keys and
    /// frame bound (aggregates inside them are the query's), collected, and a
    /// placeholder for its value returned.
    fn window_call(
        &mut self,
        name: &str,
        over: &ast::WindowType,
        args: &[&ast::FunctionArg],
        distinct: bool,
        clauses: &[ast::FunctionArgumentClause],
        call: &ast::Function,
    ) -> Result<Expr> {
        if self.windows.is_none() {
            return bind_err!("window functions are not allowed here: {call}");
        }
        if self.in_window || self.in_aggregate {
            return bind_err!(
                "window functions cannot be nested in other window functions or aggregates: {call}"
            );
        }
        let spec = windows::resolve_window(over, self.named_windows)?;
        self.in_window = true;
        let bound = self.window_parts(name, &spec, args, distinct, clauses, call);
        self.in_window = false;
        let window = bound?;
        let data_type = window.data_type.clone();
        let calls = self.windows.as_mut().expect("checked above");
        let index = match calls.iter().position(|c| *c == window) {
            Some(i) => i,
            None => {
                calls.push(window);
                calls.len() - 1
            }
        };
        Ok(Expr::Column {
            index: windows::WINDOW_REF_BASE + index,
            name: call.to_string(),
            data_type,
        })
    }

    fn window_parts(
        &mut self,
        name: &str,
        spec: &ast::WindowSpec,
        args: &[&ast::FunctionArg],
        distinct: bool,
        clauses: &[ast::FunctionArgumentClause],
        call: &ast::Function,
    ) -> Result<WindowCall> {
        let partition_by = spec
            .partition_by
            .iter()
            .map(|e| self.bind(e))
            .collect::<Result<Vec<_>>>()?;
        let order_by = self.sort_keys(&spec.order_by)?;
        let frame = windows::bind_frame(spec.window_frame.as_ref(), &order_by, &mut |e| {
            ExprBinder::new(&Scope::default()).bind(e)
        })?;
        let (func, args, data_type) = match aggregates::aggregate_function(name) {
            Some(func) => {
                let (args, order, within_group, filter) =
                    self.aggregate_parts(args, clauses, call)?;
                let agg = aggregates::bind_aggregate(
                    name,
                    func,
                    args,
                    distinct,
                    order,
                    within_group,
                    filter,
                )?;
                let t = agg.data_type.clone();
                (
                    WindowFunc::Aggregate(Box::new(windows::window_aggregate(agg)?)),
                    vec![],
                    t,
                )
            }
            None => {
                if distinct || call.filter.is_some() || !clauses.is_empty() {
                    return bind_err!(
                        "DISTINCT, FILTER and ORDER BY are only allowed in aggregates: {call}"
                    );
                }
                let args = args
                    .iter()
                    .map(|a| self.argument(a, call))
                    .collect::<Result<Vec<_>>>()?;
                windows::bind_window_function(name, args)?
            }
        };
        Ok(WindowCall {
            func,
            args,
            partition_by,
            order_by,
            frame,
            data_type,
            ignore_nulls: ignores_nulls(call, clauses),
        })
    }

    /// The arguments (none for `COUNT(*)`), ORDER BY keys, WITHIN GROUP keys and
    /// FILTER condition of an aggregate call.
    #[allow(clippy::type_complexity)]
    fn aggregate_parts(
        &mut self,
        args: &[&ast::FunctionArg],
        clauses: &[ast::FunctionArgumentClause],
        call: &ast::Function,
    ) -> Result<(Vec<Expr>, Vec<SortKey>, Vec<SortKey>, Option<Expr>)> {
        let mut bound = vec![];
        for a in args {
            match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) if args.len() == 1 => {}
                other => bound.push(self.argument(other, call)?),
            }
        }
        let mut order_by = vec![];
        for clause in clauses {
            match clause {
                ast::FunctionArgumentClause::OrderBy(keys) => order_by = self.sort_keys(keys)?,
                other => return unsupported!("{other} in {call}"),
            }
        }
        let within_group = self.sort_keys(&call.within_group)?;
        let filter = match &call.filter {
            Some(f) => Some(to_boolean(self.bind(f)?, "FILTER")?),
            None => None,
        };
        Ok((bound, order_by, within_group, filter))
    }

    fn sort_keys(&mut self, keys: &[ast::OrderByExpr]) -> Result<Vec<SortKey>> {
        keys.iter()
            .map(|o| {
                Ok(SortKey {
                    expr: self.bind(&o.expr)?,
                    ascending: !matches!(o.options.sort, Some(ast::OrderBySort::Desc)),
                    nulls_first: o.options.nulls_first.unwrap_or(false),
                })
            })
            .collect()
    }
}

/// The part of a date `EXTRACT(part FROM ...)` names.
fn date_part(field: &ast::DateTimeField) -> Result<DatePart> {
    let name = match field {
        ast::DateTimeField::Week(_) => "week".to_string(),
        ast::DateTimeField::Custom(ident) => ident.value.clone(),
        other => other.to_string(),
    };
    DatePart::from_name(&name).ok_or_else(|| Error::Bind(format!("unknown date part {name}")))
}

/// A numeric or string literal as a typed value: integers as INTEGER or BIGINT,
/// decimal numbers as DECIMAL with exactly their digits, exponents as DOUBLE.
fn bind_value(v: &Value) -> Result<Expr> {
    Ok(Expr::Literal(match v {
        Value::Number(text, _) => number_literal(text)?,
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => {
            ScalarValue::Utf8(Some(s.clone()))
        }
        Value::Boolean(b) => ScalarValue::Boolean(Some(*b)),
        Value::Null => ScalarValue::Null,
        other => return unsupported!("literal {other}"),
    }))
}

pub fn number_literal(text: &str) -> Result<ScalarValue> {
    if let Ok(v) = text.parse::<i32>() {
        return Ok(ScalarValue::Int32(Some(v)));
    }
    if let Ok(v) = text.parse::<i64>() {
        return Ok(ScalarValue::Int64(Some(v)));
    }
    if !text.contains(['e', 'E']) {
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = format!("{int}{frac}");
        let int_len = int.trim_start_matches('0').len();
        let precision = (int_len + frac.len()).max(1);
        if precision <= 38 {
            if let Ok(unscaled) = digits.parse::<i128>() {
                return Ok(ScalarValue::Decimal128(
                    Some(unscaled),
                    precision.max(frac.len()) as u8,
                    frac.len() as i8,
                ));
            }
        }
    }
    text.parse::<f64>()
        .map(|v| ScalarValue::Float64(Some(v)))
        .map_err(|_| Error::Bind(format!("invalid number {text}")))
}

/// `INTERVAL '3' MONTH`, `INTERVAL '90' DAY`, `INTERVAL '1 year'`, `INTERVAL 2 DAYS`.
fn bind_interval(iv: &ast::Interval) -> Result<ScalarValue> {
    let text = match iv.value.as_ref() {
        ast::Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.clone(),
            other => return bind_err!("invalid interval {other}"),
        },
        other => return unsupported!("interval of a non-constant expression {other}"),
    };
    let mut words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    if let Some(field) = &iv.leading_field {
        words.push(field.to_string());
    }
    let (mut months, mut days, mut nanos) = (0i64, 0i64, 0i64);
    let invalid = || Error::Bind(format!("invalid interval '{text}'"));
    let mut it = words.chunks(2);
    for pair in it.by_ref() {
        let [n, unit] = pair else {
            return Err(invalid());
        };
        let n: i64 = n.parse().map_err(|_| invalid())?;
        match unit.to_lowercase().trim_end_matches('s') {
            "year" => months += 12 * n,
            "month" => months += n,
            "week" => days += 7 * n,
            "day" => days += n,
            "hour" => nanos += n * 3_600_000_000_000,
            "minute" => nanos += n * 60_000_000_000,
            "second" => nanos += n * 1_000_000_000,
            _ => return Err(invalid()),
        }
    }
    let months = i32::try_from(months).map_err(|_| invalid())?;
    let days = i32::try_from(days).map_err(|_| invalid())?;
    Ok(ScalarValue::Interval(Some((months, days, nanos))))
}

/// A LIKE pattern in the form Arrow's kernel reads, where `\` escapes the next
/// character: in SQL a backslash is an ordinary character unless it is the
/// ESCAPE character, which makes the `%`, `_` or itself after it literal.
fn like_pattern(pattern: Expr, escape: Option<Expr>) -> Result<Expr> {
    let escape = match escape {
        None => None,
        Some(Expr::Literal(ScalarValue::Utf8(Some(e)))) if e.chars().count() == 1 => {
            e.chars().next()
        }
        Some(Expr::Literal(ScalarValue::Utf8(Some(e)))) if e.is_empty() => None,
        Some(other) => return bind_err!("LIKE's ESCAPE must be one character, not {other}"),
    };
    match pattern {
        Expr::Literal(ScalarValue::Utf8(Some(p))) => {
            let mut out = String::with_capacity(p.len() + 4);
            let mut chars = p.chars();
            while let Some(c) = chars.next() {
                if Some(c) == escape {
                    match chars.next() {
                        Some(next @ ('%' | '_')) => {
                            out.push('\\');
                            out.push(next);
                        }
                        Some('\\') => out.push_str("\\\\"),
                        Some(next) if Some(next) == escape => out.push(next),
                        _ => {
                            return bind_err!(
                                "LIKE pattern '{p}' must not end with its ESCAPE character, and \
                                 it may escape only %, _ and itself"
                            )
                        }
                    }
                } else if c == '\\' {
                    out.push_str("\\\\");
                } else {
                    out.push(c);
                }
            }
            Ok(Expr::Literal(ScalarValue::Utf8(Some(out))))
        }
        p if escape.is_some() => {
            unsupported!("LIKE ... ESCAPE with a pattern that is not a constant: {p}")
        }
        // A pattern computed per row: its backslashes made literal.
        p => functions::scalar_function(
            "replace",
            vec![
                p,
                Expr::Literal(ScalarValue::Utf8(Some("\\".into()))),
                Expr::Literal(ScalarValue::Utf8(Some("\\\\".into()))),
            ],
        ),
    }
}

/// `^` (sqlparser's XOR in DuckDB's dialect; `**` is tokenized to it): power.
fn is_power(op: &BinaryOperator) -> bool {
    matches!(op, BinaryOperator::BitwiseXor | BinaryOperator::PGExp)
}

/// The precedence of an arithmetic operator in DuckDB: 3 for `^`, 2 for `* /
/// // %`, 1 for `+ -`; None for other operators.
fn chain_level(op: &BinaryOperator) -> Option<u8> {
    match op {
        _ if is_power(op) => Some(3),
        BinaryOperator::Multiply
        | BinaryOperator::Divide
        | BinaryOperator::Modulo
        | BinaryOperator::DuckIntegerDivide
        | BinaryOperator::MyIntegerDivide => Some(2),
        BinaryOperator::Plus | BinaryOperator::Minus => Some(1),
        _ => None,
    }
}

/// The operands and operators of an arithmetic run, in the text's order.
fn flatten_chain<'e>(
    e: &'e ast::Expr,
    operands: &mut Vec<&'e ast::Expr>,
    ops: &mut Vec<&'e BinaryOperator>,
) {
    // Down the left spine (the parser's chains are left-deep) without recursion;
    // right operands that are runs themselves recurse.
    let mut spine = vec![];
    let mut e = e;
    while let ast::Expr::BinaryOp { left, op, right } = e {
        if chain_level(op).is_none() {
            break;
        }
        spine.push((op, right.as_ref()));
        e = left;
    }
    operands.push(e);
    for (op, right) in spine.into_iter().rev() {
        ops.push(op);
        flatten_chain(right, operands, ops);
    }
}

fn binary_op(op: &BinaryOperator) -> Result<BinaryOp> {
    Ok(match op {
        BinaryOperator::Plus => BinaryOp::Plus,
        BinaryOperator::Minus => BinaryOp::Minus,
        BinaryOperator::Multiply => BinaryOp::Multiply,
        BinaryOperator::Divide => BinaryOp::Divide,
        BinaryOperator::DuckIntegerDivide | BinaryOperator::MyIntegerDivide => {
            BinaryOp::IntegerDivide
        }
        BinaryOperator::Modulo => BinaryOp::Modulo,
        BinaryOperator::Eq => BinaryOp::Eq,
        BinaryOperator::NotEq => BinaryOp::NotEq,
        BinaryOperator::Lt => BinaryOp::Lt,
        BinaryOperator::LtEq => BinaryOp::LtEq,
        BinaryOperator::Gt => BinaryOp::Gt,
        BinaryOperator::GtEq => BinaryOp::GtEq,
        BinaryOperator::And => BinaryOp::And,
        BinaryOperator::Or => BinaryOp::Or,
        BinaryOperator::StringConcat => BinaryOp::Concat,
        other => return unsupported!("operator {other}"),
    })
}

/// `TRY_CAST(e AS to)`: a literal is converted now (NULL if it cannot be).
fn try_cast(e: Expr, to: &DataType) -> Expr {
    if &e.data_type() == to {
        return e;
    }
    match e {
        Expr::Literal(v) => {
            Expr::Literal(cast_literal(v, to).unwrap_or_else(|_| ScalarValue::null_of(to)))
        }
        e => functions::call(ScalarFunc::TryCast, vec![e], to.clone()),
    }
}

/// Casts `e` to `to`; literals are converted now (so a bad literal is an error
/// before any row is read), other expressions get a CAST node.
pub fn cast(e: Expr, to: &DataType) -> Result<Expr> {
    if &e.data_type() == to {
        return Ok(e);
    }
    if let Expr::Literal(v) = e {
        return cast_literal(v, to).map(Expr::Literal);
    }
    Ok(Expr::Cast {
        expr: Box::new(e),
        to: to.clone(),
    })
}

/// Converts a literal value to another type, with a clear error when it cannot be.
pub fn cast_literal(v: ScalarValue, to: &DataType) -> Result<ScalarValue> {
    if &v.data_type() == to {
        return Ok(v);
    }
    if v.is_null() {
        return Ok(ScalarValue::null_of(to));
    }
    if let (ScalarValue::Utf8(Some(s)), DataType::Date32) = (&v, to) {
        return parse_date(s)
            .map(|d| ScalarValue::Date32(Some(d)))
            .ok_or_else(|| {
                Error::Bind(format!(
                    "Conversion Error: invalid date '{s}' (expected YYYY-MM-DD)"
                ))
            });
    }
    if let (ScalarValue::Utf8(Some(s)), DataType::Timestamp(..)) = (&v, to) {
        return parse_timestamp(s)
            .map(|t| ScalarValue::Timestamp(Some(t)))
            .ok_or_else(|| {
                Error::Bind(format!(
                    "Conversion Error: invalid timestamp '{s}': malformed, or a field value out of range (expected YYYY-MM-DD HH:MM:SS)"
                ))
            });
    }
    let converted = crate::exec::expr::cast(&v.to_array(1), to).map_err(|_| {
        Error::Bind(format!(
            "Conversion Error: could not convert {v} to {}",
            type_name(to)
        ))
    })?;
    ScalarValue::try_from_array(&converted, 0)
}

fn to_boolean(e: Expr, what: &str) -> Result<Expr> {
    match e.data_type() {
        DataType::Boolean => Ok(e),
        DataType::Null => cast(e, &DataType::Boolean),
        DataType::Utf8 if matches!(e, Expr::Literal(_)) => cast(e, &DataType::Boolean),
        other => bind_err!("{what} needs a BOOLEAN, not {}: {e}", type_name(&other)),
    }
}

pub(super) fn to_string_type(e: Expr, what: &str) -> Result<Expr> {
    match e.data_type() {
        DataType::Utf8 => Ok(e),
        DataType::Null => cast(e, &DataType::Utf8),
        other => bind_err!("{what} needs a VARCHAR, not {}: {e}", type_name(&other)),
    }
}

fn negate(e: Expr) -> Result<Expr> {
    let t = e.data_type();
    if let Expr::Literal(v) = &e {
        let negated = match v {
            ScalarValue::Int32(Some(x)) => x.checked_neg().map(|x| ScalarValue::Int32(Some(x))),
            ScalarValue::Int64(Some(x)) => x.checked_neg().map(|x| ScalarValue::Int64(Some(x))),
            ScalarValue::Float64(Some(x)) => Some(ScalarValue::Float64(Some(-x))),
            ScalarValue::Decimal128(Some(x), p, s) => {
                Some(ScalarValue::Decimal128(Some(-x), *p, *s))
            }
            _ => None,
        };
        if let Some(v) = negated {
            return Ok(Expr::Literal(v));
        }
    }
    match t {
        DataType::Int32
        | DataType::Int64
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Null => Ok(Expr::Negate(Box::new(e))),
        DataType::Interval(_) => Ok(Expr::Negate(Box::new(e))),
        other => bind_err!("cannot negate a {}: {e}", type_name(&other)),
    }
}

/// `e IN (list)` with every item cast to the common type.
pub fn in_list(e: Expr, list: Vec<Expr>, negated: bool) -> Result<Expr> {
    let mut t = e.data_type();
    for item in &list {
        t = comparison_type(&t, item, &e)?;
    }
    let e = cast(e, &t)?;
    let list = list
        .into_iter()
        .map(|i| cast(i, &t))
        .collect::<Result<_>>()?;
    Ok(Expr::InList {
        expr: Box::new(e),
        list,
        negated,
    })
}

/// The type `left` and `right` are compared in: their common type, or the other
/// side's type for a string literal (`date_col = '1998-12-01'`).
fn comparison_type(left_type: &DataType, right: &Expr, left: &Expr) -> Result<DataType> {
    let right_type = right.data_type();
    if let Some(t) = common_type(left_type, &right_type) {
        return Ok(t);
    }
    match (left, right) {
        (_, Expr::Literal(ScalarValue::Utf8(_))) => Ok(left_type.clone()),
        (Expr::Literal(ScalarValue::Utf8(_)), _) => Ok(right_type),
        _ => bind_err!(
            "Cannot compare values of type {} and {}: {left} and {right}; add an explicit CAST",
            type_name(left_type),
            type_name(&right_type)
        ),
    }
}

/// A binary operation with operands cast as the operator needs and its result type.
pub fn binary(op: BinaryOp, left: Expr, right: Expr) -> Result<Expr> {
    let (lt, rt) = (left.data_type(), right.data_type());
    let make = |op, l, r, t| Expr::Binary {
        op,
        left: Box::new(l),
        right: Box::new(r),
        data_type: t,
    };
    if op.is_comparison() {
        let t = if matches!(left, Expr::Literal(ScalarValue::Utf8(_)))
            && !matches!(right, Expr::Literal(_))
        {
            comparison_type(&rt, &left, &right)?
        } else {
            comparison_type(&lt, &right, &left)?
        };
        return Ok(make(
            op,
            cast(left, &t)?,
            cast(right, &t)?,
            DataType::Boolean,
        ));
    }
    match op {
        BinaryOp::And | BinaryOp::Or => {
            let what = op.symbol();
            Ok(make(
                op,
                to_boolean(left, what)?,
                to_boolean(right, what)?,
                DataType::Boolean,
            ))
        }
        BinaryOp::Concat => {
            let l = cast(left, &DataType::Utf8)?;
            let r = cast(right, &DataType::Utf8)?;
            Ok(make(op, l, r, DataType::Utf8))
        }
        _ => arithmetic(op, left, right),
    }
}

fn arithmetic(op: BinaryOp, left: Expr, right: Expr) -> Result<Expr> {
    use DataType::*;
    let (lt, rt) = (left.data_type(), right.data_type());
    let make = |l, r, t| {
        Ok(Expr::Binary {
            op,
            left: Box::new(l),
            right: Box::new(r),
            data_type: t,
        })
    };
    // Formatted only when needed: the operands may be a chain of thousands.
    let mismatch = |left: &Expr, right: &Expr| {
        Err(Error::Bind(format!(
            "No operator {} for {} and {}: {left} {} {right}",
            op.symbol(),
            type_name(&lt),
            type_name(&rt),
            op.symbol()
        )))
    };
    // Dates: date ± interval (a TIMESTAMP, as in DuckDB), timestamp ± interval,
    // date ± integer days, date - date.
    let ts = crate::types::TIMESTAMP;
    match (&lt, &rt, op) {
        (Date32 | Timestamp(..), Interval(_), BinaryOp::Plus | BinaryOp::Minus) => {
            return make(cast(left, &ts)?, right, ts)
        }
        (Interval(_), Date32 | Timestamp(..), BinaryOp::Plus) => {
            return make(cast(right, &ts)?, left, ts)
        }
        (Date32, Int32 | Int64, BinaryOp::Plus | BinaryOp::Minus) => {
            return make(left, cast(right, &Int32)?, Date32)
        }
        (Int32 | Int64, Date32, BinaryOp::Plus) => return make(right, cast(left, &Int32)?, Date32),
        (Date32, Date32, BinaryOp::Minus) => return make(left, right, Int64),
        (Date32 | Timestamp(..), _, _)
        | (_, Date32 | Timestamp(..), _)
        | (Interval(_), _, _)
        | (_, Interval(_), _) => return mismatch(&left, &right),
        _ => {}
    }
    let numeric_or_null = |t: &DataType| is_numeric(t) || *t == Null;
    if !numeric_or_null(&lt) || !numeric_or_null(&rt) {
        return mismatch(&left, &right);
    }
    let common = common_type(&lt, &rt).unwrap_or(Float64);
    let common = if common == Null { Int32 } else { common };
    match op {
        BinaryOp::Divide => {
            // `/` is always a DOUBLE division (DuckDB); x / 0 is NULL.
            make(cast(left, &Float64)?, cast(right, &Float64)?, Float64)
        }
        BinaryOp::IntegerDivide | BinaryOp::Modulo => match common {
            Decimal128(..) if op == BinaryOp::IntegerDivide => {
                make(cast(left, &Float64)?, cast(right, &Float64)?, Float64)
            }
            t => make(cast(left, &t)?, cast(right, &t)?, t),
        },
        BinaryOp::Plus | BinaryOp::Minus | BinaryOp::Multiply => match common {
            Decimal128(..) => {
                let to_dec = |t: &DataType| match t {
                    Decimal128(p, s) => Some((*p, *s)),
                    other => match integer_as_decimal(other) {
                        Some(Decimal128(p, s)) => Some((p, s)),
                        _ => None,
                    },
                };
                let (a, b) = (
                    to_dec(&lt).unwrap_or((38, 0)),
                    to_dec(&rt).unwrap_or((38, 0)),
                );
                let plus_minus = op != BinaryOp::Multiply;
                let Some(result) = decimal_arithmetic_type(plus_minus, a, b) else {
                    return bind_err!("DECIMAL multiplication would exceed 38 digits of scale");
                };
                let l = cast(left, &Decimal128(a.0, a.1))?;
                let r = cast(right, &Decimal128(b.0, b.1))?;
                make(l, r, result)
            }
            t => make(cast(left, &t)?, cast(right, &t)?, t),
        },
        _ => mismatch(&left, &right),
    }
}

/// Whether a call says `IGNORE NULLS` (after its arguments, or inside them).
fn ignores_nulls(call: &ast::Function, clauses: &[ast::FunctionArgumentClause]) -> bool {
    let ignore = ast::NullTreatment::IgnoreNulls;
    call.null_treatment == Some(ignore)
        || clauses.iter().any(
            |c| matches!(c, ast::FunctionArgumentClause::IgnoreOrRespectNulls(t) if *t == ignore),
        )
}
