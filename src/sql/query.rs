//! Binding queries: FROM, WHERE, GROUP BY / aggregates, HAVING, the SELECT list,
//! DISTINCT, ORDER BY and LIMIT, in that order, into a logical plan.
//!
//! Aggregates are found while the SELECT list, HAVING and ORDER BY are bound; the
//! expressions above the Aggregate node are then rewritten so that every group key
//! and aggregate call becomes a reference to the Aggregate's output, and any other
//! column is an error ("must appear in the GROUP BY clause"). ORDER BY expressions
//! that are not in the SELECT list are computed as hidden columns and dropped after
//! the sort.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use sqlparser::ast::{self, SelectItem, SetExpr, TableFactor, Value};

use super::coerce::common_type;
use super::expr::{binary, cast, ExprBinder, AGG_REF_BASE, ALIAS_REF};
use super::scope::Scope;
use super::windows::{self, WindowCall};
use super::{at, object_name};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::etl::{self, CsvOptions, FileFormat};
use crate::plan::{
    schema_of, AggExpr, AggFunc, BinaryOp, Expr, ExternalSource, JoinKind, LogicalPlan, ScalarFunc,
    SortKey,
};
use crate::types::{type_name, ScalarValue};
use crate::{bind_err, unsupported};

/// Binds queries against one catalog snapshot.
pub struct QueryBinder<'a> {
    catalog: &'a Catalog,
    /// The scope of the query enclosing this one (for a subquery).
    outer: Option<&'a Scope>,
    /// The binder of the query enclosing this one, whose own `outer` is the
    /// scope two levels up (and so on).
    parent: Option<&'a QueryBinder<'a>>,
    /// Common table expressions visible here, by name.
    ctes: Vec<(String, LogicalPlan)>,
    /// How many views deep this binder is (views over views), to stop cycles.
    view_depth: usize,
    /// The views and materialized views this query reads (shared with nested binders).
    expanded: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
}

/// Views nested deeper than this are taken to be a cycle.
const MAX_VIEW_DEPTH: usize = 32;

/// Where an ORDER BY key comes from.
enum OrderTarget {
    /// The i-th column of the SELECT list.
    Output(usize),
    /// An expression over the FROM clause (or over the aggregate's output).
    Expr(Expr),
}

impl<'a> QueryBinder<'a> {
    pub fn new(catalog: &'a Catalog) -> Self {
        QueryBinder {
            catalog,
            outer: None,
            parent: None,
            ctes: vec![],
            view_depth: 0,
            expanded: Default::default(),
        }
    }

    /// A binder for a subquery of a query whose FROM scope is `scope`.
    pub fn nested<'s>(&'s self, scope: &'s Scope) -> QueryBinder<'s> {
        QueryBinder {
            catalog: self.catalog,
            outer: Some(scope),
            parent: Some(self),
            ctes: self.ctes.clone(),
            view_depth: self.view_depth,
            expanded: self.expanded.clone(),
        }
    }

    /// The views and materialized views bound so far (by this binder and its
    /// nested ones).
    pub fn expanded_views(&self) -> Vec<String> {
        self.expanded.borrow().clone()
    }

    pub fn outer(&self) -> Option<&Scope> {
        self.outer
    }

    /// The binder of the enclosing query, for names two or more levels up.
    pub fn parent(&self) -> Option<&QueryBinder<'a>> {
        self.parent
    }

    /// An expression binder over `scope` that can bind subqueries.
    fn expr_binder<'s>(&'s self, scope: &'s Scope) -> ExprBinder<'s> {
        ExprBinder::new(scope).with_queries(self)
    }

    /// Binds a whole query (with ORDER BY and LIMIT).
    pub fn bind_query(&self, query: &ast::Query) -> Result<LogicalPlan> {
        if let Some(with) = &query.with {
            let mut binder = QueryBinder {
                catalog: self.catalog,
                outer: self.outer,
                parent: self.parent,
                ctes: self.ctes.clone(),
                view_depth: self.view_depth,
                expanded: self.expanded.clone(),
            };
            for cte in &with.cte_tables {
                let names: Vec<String> = cte
                    .alias
                    .columns
                    .iter()
                    .map(|c| c.name.value.clone())
                    .collect();
                let name = cte.alias.name.value.clone();
                let plan = match with.recursive {
                    true => binder.bind_recursive_cte(&name, &names, &cte.query)?,
                    false => rename_columns(binder.bind_query(&cte.query)?, &names)?,
                };
                binder.ctes.push((name, plan));
            }
            let mut body = query.clone();
            body.with = None;
            return binder.bind_query(&body);
        }
        if query.fetch.is_some() || !query.locks.is_empty() {
            return unsupported!("FETCH / FOR UPDATE clauses");
        }
        let order_by = query.order_by.as_ref().map(|o| &o.kind);
        let (offset, fetch) = self.bind_limit(query.limit_clause.as_ref())?;
        match query.body.as_ref() {
            SetExpr::Select(select) => self.bind_select(select, order_by, offset, fetch),
            other => {
                let plan = self.bind_set_expr(other)?;
                let order_by = order_keys_of(order_by, plan.schema().fields().len());
                let scope = Scope::from_schema(&plan.schema(), None);
                let mut keys = vec![];
                for o in &order_by {
                    let target = match output_position(&o.expr, &plan.schema())? {
                        Some(i) => OrderTarget::Output(i),
                        None => OrderTarget::Expr(self.expr_binder(&scope).bind(&o.expr)?),
                    };
                    keys.push((target, o));
                }
                let width = plan.schema().fields().len();
                let names = field_names(&plan);
                let mut exprs = plan.output_columns();
                let sort_keys = sort_keys(keys, &mut exprs, false)?;
                let plan = if exprs.len() > width {
                    let mut names = names.clone();
                    names.extend((width..exprs.len()).map(|i| format!("#order{i}")));
                    LogicalPlan::project(plan, exprs, names)
                } else {
                    plan
                };
                Ok(finish_query(plan, sort_keys, offset, fetch, width, names))
            }
        }
    }

    /// A CTE of `WITH RECURSIVE`: `anchor UNION [ALL] recursive`, where the
    /// recursive part reads the CTE's own name as the rows the run before added
    /// (a [`LogicalPlan::WorkTable`]); a CTE that does not read itself is an
    /// ordinary one. The recursive part's columns are cast to the anchor's
    /// types; the names are the CTE's column list, or the anchor's.
    fn bind_recursive_cte(
        &mut self,
        name: &str,
        names: &[String],
        query: &ast::Query,
    ) -> Result<LogicalPlan> {
        let SetExpr::SetOperation {
            op: ast::SetOperator::Union,
            set_quantifier,
            left,
            right,
        } = query.body.as_ref()
        else {
            return rename_columns(self.bind_query(query)?, names);
        };
        if query.order_by.is_some() || query.limit_clause.is_some() {
            return unsupported!("ORDER BY or LIMIT on a recursive CTE's UNION");
        }
        let anchor = rename_columns(self.bind_set_expr(left)?, names)?;
        let schema = anchor.schema();
        let id = next_recursion_id();
        self.ctes.push((
            name.to_string(),
            LogicalPlan::WorkTable {
                id,
                schema: schema.clone(),
            },
        ));
        let recursive = self.bind_set_expr(right);
        self.ctes.pop();
        let recursive = recursive?;
        if reads_work_table_in_subquery(&recursive, id) {
            return unsupported!(
                "recursive CTE {name} read inside a subquery of its own recursive part (join it instead)"
            );
        }
        if !reads_work_table(&recursive, id) {
            return rename_columns(self.bind_query(query)?, names);
        }
        let (rs, width) = (recursive.schema(), schema.fields().len());
        if rs.fields().len() != width {
            return bind_err!(
                "the two sides of recursive CTE {name} have {width} and {} columns",
                rs.fields().len()
            );
        }
        let exprs = recursive
            .output_columns()
            .into_iter()
            .zip(schema.fields())
            .map(|(e, f)| cast(e, f.data_type()))
            .collect::<Result<Vec<_>>>()?;
        let recursive = LogicalPlan::project(recursive, exprs, field_names_of_schema(&schema));
        let distinct = !matches!(
            set_quantifier,
            ast::SetQuantifier::All | ast::SetQuantifier::AllByName
        );
        Ok(LogicalPlan::RecursiveCte {
            anchor: Box::new(anchor),
            recursive: Box::new(recursive),
            id,
            distinct,
            schema,
        })
    }

    fn bind_set_expr(&self, body: &SetExpr) -> Result<LogicalPlan> {
        match body {
            SetExpr::Select(select) => self.bind_select(select, None, 0, None),
            SetExpr::Query(q) => self.bind_query(q),
            SetExpr::Values(values) => self.bind_values(values),
            SetExpr::SetOperation {
                op,
                set_quantifier,
                left,
                right,
            } => {
                let all = matches!(
                    set_quantifier,
                    ast::SetQuantifier::All | ast::SetQuantifier::AllByName
                );
                if matches!(op, ast::SetOperator::Minus) {
                    return unsupported!("MINUS (use EXCEPT)");
                }
                let (l, r) = (self.bind_set_expr(left)?, self.bind_set_expr(right)?);
                let (ls, rs) = (l.schema(), r.schema());
                if ls.fields().len() != rs.fields().len() {
                    return bind_err!(
                        "{op} needs the same number of columns on both sides ({} and {})",
                        ls.fields().len(),
                        rs.fields().len()
                    );
                }
                let mut types = vec![];
                for (a, b) in ls.fields().iter().zip(rs.fields()) {
                    types.push(common_type(a.data_type(), b.data_type()).ok_or_else(|| {
                        Error::Bind(format!(
                            "UNION of incompatible types {} and {} in column {}",
                            type_name(a.data_type()),
                            type_name(b.data_type()),
                            a.name()
                        ))
                    })?);
                }
                let names = field_names(&l);
                let cast_side = |p: LogicalPlan| -> Result<LogicalPlan> {
                    let exprs = p
                        .output_columns()
                        .into_iter()
                        .zip(&types)
                        .map(|(e, t)| cast(e, t))
                        .collect::<Result<Vec<_>>>()?;
                    Ok(LogicalPlan::project(p, exprs, names.clone()))
                };
                match op {
                    ast::SetOperator::Union => {
                        let inputs = vec![cast_side(l)?, cast_side(r)?];
                        let schema = inputs[0].schema();
                        let union = LogicalPlan::Union { inputs, schema };
                        Ok(if all { union } else { distinct_rows(union) })
                    }
                    _ if all => intersect_or_except_all(
                        cast_side(l)?,
                        cast_side(r)?,
                        *op == ast::SetOperator::Intersect,
                    ),
                    _ => intersect_or_except(
                        cast_side(l)?,
                        cast_side(r)?,
                        *op == ast::SetOperator::Intersect,
                    ),
                }
            }
            other => unsupported!("query body {other}"),
        }
    }

    /// `VALUES (..), (..)`: each column gets the common type of its rows.
    pub fn bind_values(&self, values: &ast::Values) -> Result<LogicalPlan> {
        let empty = Scope::default();
        let mut rows = vec![];
        for row in &values.rows {
            let bound = row
                .content
                .iter()
                .map(|e| ExprBinder::new(&empty).bind(e))
                .collect::<Result<Vec<_>>>()?;
            if let Some(first) = rows.first() {
                let first: &Vec<Expr> = first;
                if first.len() != bound.len() {
                    return bind_err!(
                        "VALUES lists must all have the same length ({} and {})",
                        first.len(),
                        bound.len()
                    );
                }
            }
            rows.push(bound);
        }
        let width = rows.first().map_or(0, |r| r.len());
        let mut types = vec![DataType::Null; width];
        // String literals take the type of the other values in their column
        // (`('2024-01-02'), (DATE '2024-01-03')`), as when comparing with one.
        let is_string_literal = |e: &Expr| matches!(e, Expr::Literal(ScalarValue::Utf8(_)));
        for row in &rows {
            for (t, e) in types.iter_mut().zip(row) {
                if is_string_literal(e) {
                    continue;
                }
                *t = common_type(t, &e.data_type()).ok_or_else(|| {
                    Error::Bind(format!(
                        "VALUES column has values of incompatible types {} and {}",
                        type_name(t),
                        type_name(&e.data_type())
                    ))
                })?;
            }
        }
        for (i, t) in types.iter_mut().enumerate() {
            if *t == DataType::Null && rows.iter().any(|r| is_string_literal(&r[i])) {
                *t = DataType::Utf8;
            }
        }
        let rows = rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .zip(&types)
                    .map(|(e, t)| cast(e, t))
                    .collect()
            })
            .collect::<Result<Vec<Vec<Expr>>>>()?;
        let fields: Vec<Field> = types
            .iter()
            .enumerate()
            .map(|(i, t)| Field::new(format!("col{i}"), t.clone(), true))
            .collect();
        Ok(LogicalPlan::Values {
            rows,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    fn bind_limit(&self, limit: Option<&ast::LimitClause>) -> Result<(usize, Option<usize>)> {
        let constant = |e: &ast::Expr, what: &str| -> Result<usize> {
            match ExprBinder::new(&Scope::default()).bind(e)? {
                Expr::Literal(ScalarValue::Int32(Some(v))) if v >= 0 => Ok(v as usize),
                Expr::Literal(ScalarValue::Int64(Some(v))) if v >= 0 => Ok(v as usize),
                _ => bind_err!("{what} must be a non-negative integer constant, not {e}"),
            }
        };
        match limit {
            None => Ok((0, None)),
            Some(ast::LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) => {
                if !limit_by.is_empty() {
                    return unsupported!("LIMIT BY");
                }
                let fetch = match limit {
                    Some(ast::Expr::Value(v)) if matches!(v.value, Value::Null) => None,
                    Some(e) => Some(constant(e, "LIMIT")?),
                    None => None,
                };
                let offset = offset
                    .as_ref()
                    .map(|o| constant(&o.value, "OFFSET"))
                    .transpose()?
                    .unwrap_or(0);
                Ok((offset, fetch))
            }
            Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
                Ok((constant(offset, "OFFSET")?, Some(constant(limit, "LIMIT")?)))
            }
        }
    }

    fn bind_select(
        &self,
        select: &ast::Select,
        order_by: Option<&ast::OrderByKind>,
        offset: usize,
        fetch: Option<usize>,
    ) -> Result<LogicalPlan> {
        if select.top.is_some() || select.into.is_some() {
            return unsupported!("TOP / INTO");
        }
        let (mut plan, scope) = self.bind_from(&select.from)?;

        if let Some(predicate) = &select.selection {
            let predicate = self.expr_binder(&scope).bind(predicate)?;
            plan = filter(plan, predicate, "WHERE")?;
        }

        // The SELECT list, over the FROM scope, with aggregate and window calls
        // collected.
        let mut aggs: Vec<AggExpr> = vec![];
        let mut window_calls: Vec<WindowCall> = vec![];
        let named = &select.named_window;
        let mut items: Vec<Expr> = vec![];
        let mut names: Vec<String> = vec![];
        for item in &select.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    items.push(
                        self.expr_binder(&scope)
                            .with_aggregates(&mut aggs)
                            .with_windows(&mut window_calls, named)
                            .bind(e)?,
                    );
                    names.push(column_name(e));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    items.push(
                        self.expr_binder(&scope)
                            .with_aggregates(&mut aggs)
                            .with_windows(&mut window_calls, named)
                            .bind(expr)?,
                    );
                    names.push(alias.value.clone());
                }
                SelectItem::Wildcard(_) => {
                    if scope.columns.is_empty() {
                        return bind_err!("SELECT * needs a FROM clause");
                    }
                    for (i, c) in scope.columns.iter().enumerate() {
                        if c.using_duplicate {
                            continue;
                        }
                        items.push(Expr::column(i, c.name.clone(), c.data_type.clone()));
                        names.push(c.name.clone());
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let qualifier = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) => object_name(n),
                        ast::SelectItemQualifiedWildcardKind::Expr(e) => e.to_string(),
                    };
                    let before = items.len();
                    for (i, c) in scope.columns.iter().enumerate() {
                        if c.qualifier
                            .as_deref()
                            .is_some_and(|q| q.eq_ignore_ascii_case(&qualifier))
                        {
                            items.push(Expr::column(i, c.name.clone(), c.data_type.clone()));
                            names.push(c.name.clone());
                        }
                    }
                    if items.len() == before {
                        return bind_err!(
                            "Referenced table \"{qualifier}\" not found in FROM clause"
                        );
                    }
                }
                other => return unsupported!("select item {other}"),
            }
        }

        let (group, grouping_sets, grouped) =
            self.bind_group_by(&select.group_by, &scope, &items, &names)?;
        let having = select
            .having
            .as_ref()
            .map(|h| self.expr_binder(&scope).with_aggregates(&mut aggs).bind(h))
            .transpose()?;

        let mut order_keys = vec![];
        let order_by = order_keys_of(order_by, items.len());
        for o in &order_by {
            let target = match select_list_position(&o.expr, &names, items.len())? {
                Some(i) => OrderTarget::Output(i),
                None => OrderTarget::Expr(
                    self.expr_binder(&scope)
                        .with_aggregates(&mut aggs)
                        .with_windows(&mut window_calls, named)
                        .bind(&o.expr)?,
                ),
            };
            order_keys.push((target, o));
        }
        let mut qualify = select
            .qualify
            .as_ref()
            .map(|q| {
                self.expr_binder(&scope)
                    .with_aggregates(&mut aggs)
                    .with_windows(&mut window_calls, named)
                    .with_aliases(&names, &items)
                    .bind(q)
            })
            .transpose()?;

        // `GROUPING(y)` may name a SELECT alias `y`.
        let targets = items.clone();
        let aliases = |e: Expr| grouping_aliases(e, &targets, &names);
        items = items.into_iter().map(aliases).collect::<Result<_>>()?;
        let having = having.map(aliases).transpose()?;
        for (target, _) in order_keys.iter_mut() {
            if let OrderTarget::Expr(e) = target {
                *e = aliases(e.clone())?;
            }
        }
        let aggregating = !aggs.is_empty() || grouped || having.is_some();
        if aggregating {
            let n_groups = group.len();
            let mut exprs: Vec<Expr> = group.clone();
            let mut agg_names: Vec<String> = group.iter().map(|g| g.to_string()).collect();
            for a in &aggs {
                exprs.push(Expr::column(0, "", a.data_type.clone()));
                agg_names.push(a.to_string());
            }
            // With grouping sets, the Aggregate's last column is `#grouping_id`.
            let grouping_id = grouping_sets.as_ref().map(|_| {
                exprs.push(Expr::column(0, "", DataType::Int64));
                agg_names.push(GROUPING_ID.to_string());
                exprs.len() - 1
            });
            let schema = schema_of(&exprs, &agg_names);
            plan = LogicalPlan::Aggregate {
                input: Box::new(plan),
                group: group.clone(),
                aggs,
                grouping_sets,
                schema,
            };
            let rewrite = |e: Expr| above_aggregate(e, &group, n_groups, grouping_id);
            items = items.into_iter().map(rewrite).collect::<Result<_>>()?;
            for (target, _) in order_keys.iter_mut() {
                if let OrderTarget::Expr(e) = target {
                    *e = rewrite(e.clone())?;
                }
            }
            if let Some(h) = having {
                plan = filter(plan, rewrite(h)?, "HAVING")?;
            }
            qualify = qualify.map(rewrite).transpose()?;
            window_calls = window_calls
                .into_iter()
                .map(|w| w.try_map(&mut |e| rewrite(e)))
                .collect::<Result<_>>()?;
        } else if items
            .iter()
            .chain(order_keys.iter().filter_map(|(t, _)| match t {
                OrderTarget::Expr(e) => Some(e),
                OrderTarget::Output(_) => None,
            }))
            .any(contains_grouping)
        {
            return bind_err!("GROUPING cannot be used without GROUP BY");
        }

        if !window_calls.is_empty() {
            let (windowed, columns) = windows::plan_windows(plan, window_calls);
            plan = windowed;
            let place = |e: Expr| windows::replace_window_refs(e, &columns);
            items = items.into_iter().map(place).collect();
            for (target, _) in order_keys.iter_mut() {
                if let OrderTarget::Expr(e) = target {
                    *e = place(e.clone());
                }
            }
            qualify = qualify.map(place);
        }
        if let Some(q) = qualify {
            plan = filter(plan, q, "QUALIFY")?;
        }

        let width = items.len();
        let distinct = matches!(select.distinct, Some(ast::Distinct::Distinct));
        if matches!(select.distinct, Some(ast::Distinct::On(_))) {
            return unsupported!("DISTINCT ON");
        }
        let keys = sort_keys(order_keys, &mut items, distinct)?;
        let mut all_names = names.clone();
        all_names.extend((width..items.len()).map(|i| format!("#order{i}")));
        plan = LogicalPlan::project(plan, items, all_names);
        if distinct {
            plan = distinct_rows(plan);
        }
        Ok(finish_query(plan, keys, offset, fetch, width, names))
    }

    /// The GROUP BY keys, and the grouping sets (positions in the keys) when there
    /// is more than one (`GROUPING SETS`, `CUBE`, `ROLLUP`, or plain keys mixed with
    /// them); also whether there is a GROUP BY clause at all (`GROUP BY ()` groups).
    #[allow(clippy::type_complexity)]
    fn bind_group_by(
        &self,
        group_by: &ast::GroupByExpr,
        scope: &Scope,
        items: &[Expr],
        names: &[String],
    ) -> Result<(Vec<Expr>, Option<Vec<Vec<usize>>>, bool)> {
        let exprs = match group_by {
            ast::GroupByExpr::Expressions(exprs, modifiers) => {
                if !modifiers.is_empty() {
                    return unsupported!("GROUP BY modifiers (WITH ROLLUP, WITH CUBE, ...)");
                }
                exprs
            }
            ast::GroupByExpr::All(modifiers) => {
                if !modifiers.is_empty() {
                    return unsupported!("GROUP BY ALL with modifiers");
                }
                // Every SELECT item without an aggregate in it.
                let mut group: Vec<Expr> = vec![];
                for item in items
                    .iter()
                    .filter(|i| !contains_aggregate(i) && !windows::contains_window(i))
                {
                    if !group.contains(item) {
                        group.push(item.clone());
                    }
                }
                let grouped = !group.is_empty();
                return Ok((group, None, grouped));
            }
        };
        // Each item stands for a list of sets; the query's sets are their product.
        let mut sets: Vec<Vec<&ast::Expr>> = vec![vec![]];
        for e in exprs {
            sets = set_product(&sets, &grouping_sets_of(e)?)?;
        }
        let mut group: Vec<Expr> = vec![];
        let mut bound_sets = vec![];
        for set in &sets {
            let mut positions = vec![];
            for e in set {
                let bound = match select_list_position(e, names, items.len())? {
                    // A position, or a SELECT alias that is not also a column of FROM.
                    Some(i) if is_position(e) || !resolves(scope, e) => {
                        let item = items[i].clone();
                        if contains_aggregate(&item) {
                            return bind_err!("GROUP BY cannot refer to an aggregate: {e}");
                        }
                        if windows::contains_window(&item) {
                            return bind_err!("GROUP BY cannot refer to a window function: {e}");
                        }
                        item
                    }
                    _ => self.expr_binder(scope).bind(e)?,
                };
                let position = match group.iter().position(|g| *g == bound) {
                    Some(p) => p,
                    None => {
                        group.push(bound);
                        group.len() - 1
                    }
                };
                positions.push(position);
            }
            positions.sort_unstable();
            positions.dedup();
            bound_sets.push(positions);
        }
        if bound_sets.len() == 1 {
            return Ok((group, None, !exprs.is_empty()));
        }
        if group.len() > MAX_GROUPING_KEYS {
            return bind_err!(
                "GROUPING SETS, CUBE and ROLLUP take at most {MAX_GROUPING_KEYS} distinct keys, not {}",
                group.len()
            );
        }
        Ok((group, Some(bound_sets), true))
    }

    /// Binds the FROM clause into a plan and the scope of its columns.
    fn bind_from(&self, from: &[ast::TableWithJoins]) -> Result<(LogicalPlan, Scope)> {
        match from {
            [] => {
                let schema = Arc::new(Schema::empty());
                Ok((
                    LogicalPlan::Values {
                        rows: vec![vec![]],
                        schema,
                    },
                    Scope::default(),
                ))
            }
            items => {
                // Comma-separated items are cross products; WHERE predicates that
                // link them become join keys in the optimizer.
                // A LATERAL item reads the columns of the items before it.
                let mut result: Option<(LogicalPlan, Scope)> = None;
                for item in items {
                    let next = match result {
                        Some((plan, scope)) if is_lateral(&item.relation) => {
                            let (right, right_scope) =
                                self.nested(&scope).bind_table_factor(&item.relation)?;
                            let joined = lateral_join(plan, right, JoinKind::Inner, None);
                            (joined, scope.concat(right_scope))
                        }
                        Some((plan, scope)) => {
                            let (right, right_scope) = self.bind_table_factor(&item.relation)?;
                            let joined =
                                LogicalPlan::join(plan, right, JoinKind::Inner, vec![], None);
                            (joined, scope.concat(right_scope))
                        }
                        None => self.bind_table_factor(&item.relation)?,
                    };
                    result = Some(self.bind_joins(next, &item.joins)?);
                }
                Ok(result.expect("FROM has at least one item"))
            }
        }
    }

    /// A FROM item's JOIN clauses, joined left to right onto `start`.
    fn bind_joins(
        &self,
        start: (LogicalPlan, Scope),
        joins: &[ast::Join],
    ) -> Result<(LogicalPlan, Scope)> {
        let (mut plan, mut scope) = start;
        let mut using_pairs: Vec<(Expr, Expr)> = vec![];
        for join in joins {
            use ast::JoinOperator as J;
            let (kind, constraint) = match &join.join_operator {
                J::Join(c) | J::Inner(c) => (JoinKind::Inner, Some(c)),
                J::Left(c) | J::LeftOuter(c) => (JoinKind::Left, Some(c)),
                J::Right(c) | J::RightOuter(c) => (JoinKind::Right, Some(c)),
                J::FullOuter(c) => (JoinKind::Full, Some(c)),
                J::CrossJoin(_) => (JoinKind::Inner, None),
                J::Semi(c) | J::LeftSemi(c) => (JoinKind::Semi, Some(c)),
                J::Anti(c) | J::LeftAnti(c) => (JoinKind::Anti, Some(c)),
                other => return unsupported!("join type {other:?}"),
            };
            let lateral = is_lateral(&join.relation);
            let (right, right_scope) = if lateral {
                self.nested(&scope).bind_table_factor(&join.relation)?
            } else {
                self.bind_table_factor(&join.relation)?
            };
            let mut combined = scope.clone().concat(right_scope.clone());
            let filter = match constraint {
                None | Some(ast::JoinConstraint::None) => None,
                Some(ast::JoinConstraint::On(e)) => {
                    let bound = self.expr_binder(&combined).bind(e)?;
                    Some(boolean_condition(bound, "JOIN ... ON")?)
                }
                Some(
                    constraint @ (ast::JoinConstraint::Using(_) | ast::JoinConstraint::Natural),
                ) => {
                    let names: Vec<String> = match constraint {
                        ast::JoinConstraint::Using(names) => {
                            names.iter().map(object_name).collect()
                        }
                        // NATURAL: the columns both sides have, in the left's order.
                        _ => {
                            let names: Vec<String> = scope
                                .columns
                                .iter()
                                .filter(|c| !c.using_duplicate)
                                .filter(|c| {
                                    right_scope.columns.iter().any(|r| {
                                        !r.using_duplicate && r.name.eq_ignore_ascii_case(&c.name)
                                    })
                                })
                                .map(|c| c.name.clone())
                                .collect();
                            if names.is_empty() {
                                return bind_err!("No columns found to join on in NATURAL JOIN");
                            }
                            names
                        }
                    };
                    let left_width = scope.columns.len();
                    let mut conds = vec![];
                    using_pairs.clear();
                    for name in names {
                        let ident = ast::Ident::new(name.clone());
                        let l = scope.resolve(None, &ident)?;
                        let r = right_scope.resolve(None, &ident)?;
                        let Expr::Column { index: ri, .. } = &r else {
                            return bind_err!("USING column {name} is not a column");
                        };
                        // The right copy is reachable only qualified; `*` shows it once.
                        combined.columns[left_width + ri].using_duplicate = true;
                        let r = r.remap_columns(&|i| i + left_width);
                        using_pairs.push((l.clone(), r.clone()));
                        conds.push(binary(BinaryOp::Eq, l, r)?);
                    }
                    Expr::conjunction(conds)
                }
                Some(other) => return unsupported!("join constraint {other:?}"),
            };
            if kind.left_only() {
                combined = scope.clone();
            }
            plan = if lateral {
                if !matches!(kind, JoinKind::Inner | JoinKind::Left) {
                    return unsupported!("{kind:?} JOIN LATERAL (only INNER, CROSS and LEFT)");
                }
                lateral_join(plan, right, kind, filter)
            } else {
                LogicalPlan::join(plan, right, kind, vec![], filter)
            };
            if matches!(kind, JoinKind::Right | JoinKind::Full) && !using_pairs.is_empty() {
                // The visible USING column is whichever side has the value.
                let mut exprs = plan.output_columns();
                for (l, r) in using_pairs.drain(..) {
                    let Expr::Column { index, .. } = l else {
                        continue;
                    };
                    let t = common_type(&l.data_type(), &r.data_type()).unwrap_or(l.data_type());
                    exprs[index] = Expr::Function {
                        func: crate::plan::ScalarFunc::Coalesce,
                        args: vec![cast(l.clone(), &t)?, cast(r, &t)?],
                        data_type: t.clone(),
                    };
                    // The unqualified name is the merged value; the left's own
                    // copy stays reachable qualified, at the end.
                    let mut left_copy = combined.columns[index].clone();
                    left_copy.using_duplicate = true;
                    combined.columns[index].data_type = t;
                    combined.columns[index].qualifier = None;
                    combined.columns.push(left_copy);
                    exprs.push(l);
                }
                plan = LogicalPlan::project(plan, exprs, field_names_of(&combined));
            }
            scope = combined;
        }
        Ok((plan, scope))
    }

    fn bind_table_factor(&self, factor: &TableFactor) -> Result<(LogicalPlan, Scope)> {
        match factor {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                let table_name = object_name(name);
                if let Some(args) = args {
                    let plan = self.bind_table_function(&table_name, &args.args)?;
                    return apply_alias(plan, alias.as_ref(), &table_name);
                }
                if let Some(file) = file_named_in_from(name) {
                    let (plan, stem) = read_file_in_from(file)?;
                    return apply_alias(plan, alias.as_ref(), &stem);
                }
                if let Some((_, plan)) = self
                    .ctes
                    .iter()
                    .rev()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&table_name))
                {
                    return apply_alias(plan.clone(), alias.as_ref(), &table_name);
                }
                if self.catalog.mview(&table_name).is_some()
                    || self.catalog.view(&table_name).is_some()
                {
                    self.expanded.borrow_mut().push(table_name.clone());
                }
                if let Some(mv) = self.catalog.mview(&table_name) {
                    let def = crate::mv::define(self.bind_view(&mv.sql, &mv.name)?);
                    let stored = crate::mv::stored_scan(&mv.data);
                    let plan = LogicalPlan::project(stored, def.visible, def.names);
                    return apply_alias(plan, alias.as_ref(), &mv.name);
                }
                if let Some(view) = self.catalog.view(&table_name) {
                    let plan = self.bind_view(&view.sql, &view.name)?;
                    let plan = rename_columns(plan, &view.columns)?;
                    return apply_alias(plan, alias.as_ref(), &view.name);
                }
                let Some(table) = self.catalog.table(&table_name) else {
                    let span = name.0.first().and_then(|p| p.as_ident()).map(|i| i.span);
                    return Err(Error::Catalog(format!(
                        "Table with name {table_name} does not exist{}",
                        span.map(|s| at(&s)).unwrap_or_default()
                    )));
                };
                let schema = table.schema();
                let plan = LogicalPlan::Scan {
                    projection: (0..schema.fields().len()).collect(),
                    table: table.clone(),
                    filters: vec![],
                    schema,
                };
                apply_alias(plan, alias.as_ref(), &table.name)
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let plan = self.bind_query(subquery)?;
                apply_alias(plan, alias.as_ref(), "")
            }
            // `(a JOIN b ON ...)`: the inner names stay visible unless it has an alias.
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let start = self.bind_table_factor(&table_with_joins.relation)?;
                let (plan, scope) = self.bind_joins(start, &table_with_joins.joins)?;
                match alias {
                    Some(_) => apply_alias(plan, alias.as_ref(), ""),
                    None => Ok((plan, scope)),
                }
            }
            other => unsupported!("FROM item {other}"),
        }
    }

    /// The plan of a stored view's query, bound on its own (no CTEs or outer scope).
    fn bind_view(&self, sql: &str, name: &str) -> Result<LogicalPlan> {
        if self.view_depth >= MAX_VIEW_DEPTH {
            return bind_err!(
                "view {name} refers to itself (through {MAX_VIEW_DEPTH} levels of views)"
            );
        }
        let statements = super::parse(sql)?;
        let [ast::Statement::Query(query)] = statements.as_slice() else {
            return Err(Error::Corrupt(format!(
                "view {name} is not a single query: {sql}"
            )));
        };
        let binder = QueryBinder {
            catalog: self.catalog,
            outer: None,
            parent: None,
            ctes: vec![],
            view_depth: self.view_depth + 1,
            expanded: self.expanded.clone(),
        };
        binder
            .bind_query(query)
            .map_err(|e| Error::Bind(format!("view {name} cannot be used: {e}")))
    }

    /// `read_csv('file', header = true, delim = '|')` and `read_parquet('file')`.
    fn bind_table_function(&self, name: &str, args: &[ast::FunctionArg]) -> Result<LogicalPlan> {
        let format = match name.to_lowercase().as_str() {
            "read_csv" | "read_csv_auto" => FileFormat::Csv,
            "read_parquet" | "parquet_scan" => FileFormat::Parquet,
            other => return bind_err!("unknown table function {other}"),
        };
        let mut path = None;
        let mut csv = CsvOptions::default();
        for arg in args {
            match arg {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) if path.is_none() => {
                    path = Some(string_constant(e, name)?);
                }
                ast::FunctionArg::Named { name: opt, arg, .. } if format == FileFormat::Csv => {
                    let ast::FunctionArgExpr::Expr(value) = arg else {
                        return bind_err!("invalid value for option {opt} of {name}");
                    };
                    set_csv_option(&mut csv, &opt.value, value)?;
                }
                other => return bind_err!("unsupported argument {other} to {name}"),
            }
        }
        let Some(path) = path else {
            return bind_err!("{name} needs a file name");
        };
        read_file(PathBuf::from(path), format, csv)
    }
}

/// A plan reading the file (or the files of a glob) at `path`.
fn read_file(path: PathBuf, format: FileFormat, csv: CsvOptions) -> Result<LogicalPlan> {
    let schema = etl::scan_files(&path, format, &csv, None)?.0;
    Ok(LogicalPlan::External {
        source: ExternalSource { path, format, csv },
        schema,
    })
}

/// The file name of `FROM 'sales.parquet'`: a single-quoted name in FROM.
fn file_named_in_from(name: &ast::ObjectName) -> Option<&str> {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .filter(|i| i.quote_style == Some('\''))
            .map(|i| i.value.as_str()),
        _ => None,
    }
}

/// `FROM 'file'`: a file read like `read_csv` / `read_parquet` by its extension, and
/// the name it goes by (the file name without its extension, as in DuckDB).
fn read_file_in_from(file: &str) -> Result<(LogicalPlan, String)> {
    let path = PathBuf::from(file);
    let Some(format) = etl::format_from_path(&path) else {
        return bind_err!(
            "cannot tell the format of '{file}' from its name: name a .csv, .tsv, .parquet \
             file, or read it with read_csv('{file}') or read_parquet('{file}')"
        );
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((read_file(path, format, CsvOptions::default())?, stem))
}

/// The keys of an ORDER BY over `width` output columns: `ORDER BY ALL` is every
/// column in turn, by position.
fn order_keys_of(order_by: Option<&ast::OrderByKind>, width: usize) -> Vec<ast::OrderByExpr> {
    match order_by {
        None => vec![],
        Some(ast::OrderByKind::Expressions(keys)) => keys.clone(),
        Some(ast::OrderByKind::All(options)) => (1..=width)
            .map(|i| ast::OrderByExpr {
                expr: ast::Expr::value(Value::Number(i.to_string(), false)),
                options: options.clone(),
                with_fill: None,
            })
            .collect(),
    }
}

/// A number no other recursive CTE has.
fn next_recursion_id() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Whether `plan` reads the work table `id`.
fn reads_work_table(plan: &LogicalPlan, id: usize) -> bool {
    matches!(plan, LogicalPlan::WorkTable { id: i, .. } if *i == id)
        || plan.inputs().into_iter().any(|p| reads_work_table(p, id))
}

/// Whether a subquery in `plan`'s expressions (at any depth) reads the work table `id`.
fn reads_work_table_in_subquery(plan: &LogicalPlan, id: usize) -> bool {
    fn in_expr(e: &Expr, id: usize) -> bool {
        let sub = match e {
            Expr::ScalarSubquery(s)
            | Expr::Exists { subquery: s, .. }
            | Expr::InSubquery { subquery: s, .. }
            | Expr::Quantified { subquery: s, .. } => Some(s),
            _ => None,
        };
        sub.is_some_and(|s| reads_work_table(&s.0, id) || reads_work_table_in_subquery(&s.0, id))
            || e.children().into_iter().any(|c| in_expr(c, id))
    }
    plan.expressions().into_iter().any(|e| in_expr(e, id))
        || plan
            .inputs()
            .into_iter()
            .any(|p| reads_work_table_in_subquery(p, id))
}

fn field_names_of_schema(schema: &arrow::datatypes::SchemaRef) -> Vec<String> {
    schema.fields().iter().map(|f| f.name().clone()).collect()
}

/// Whether a FROM item is `LATERAL (subquery)`.
fn is_lateral(factor: &TableFactor) -> bool {
    matches!(factor, TableFactor::Derived { lateral: true, .. })
}

fn lateral_join(
    left: LogicalPlan,
    right: LogicalPlan,
    kind: JoinKind,
    filter: Option<Expr>,
) -> LogicalPlan {
    let schema = crate::plan::join_schema(&left.schema(), &right.schema(), kind);
    LogicalPlan::LateralJoin {
        left: Box::new(left),
        right: Box::new(right),
        kind,
        filter,
        schema,
    }
}

/// Sets one CSV option from `name = value` (read_csv arguments, COPY options).
pub fn set_csv_option(csv: &mut CsvOptions, name: &str, value: &ast::Expr) -> Result<()> {
    let text = match value {
        ast::Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => s.clone(),
            Value::Boolean(b) => b.to_string(),
            Value::Number(n, _) => n.clone(),
            other => other.to_string(),
        },
        ast::Expr::Identifier(i) => i.value.clone(),
        other => return bind_err!("invalid value {other} for CSV option {name}"),
    };
    let single_char = |what: &str| -> Result<u8> {
        let unescaped = if text == "\\t" { "\t" } else { text.as_str() };
        match unescaped.as_bytes() {
            [c] => Ok(*c),
            _ => bind_err!("{what} must be a single character, not '{text}'"),
        }
    };
    match name.to_lowercase().as_str() {
        "header" => {
            csv.header = Some(match text.to_lowercase().as_str() {
                "true" | "1" | "on" => true,
                "false" | "0" | "off" => false,
                _ => return bind_err!("HEADER must be true or false, not '{text}'"),
            })
        }
        "delim" | "delimiter" | "sep" | "separator" => {
            csv.delimiter = Some(single_char("DELIMITER")?)
        }
        "quote" => csv.quote = single_char("QUOTE")?,
        "escape" => csv.escape = Some(single_char("ESCAPE")?),
        "null" | "nullstr" => csv.null_string = text,
        other => return bind_err!("unknown CSV option {other}"),
    }
    Ok(())
}

fn string_constant(e: &ast::Expr, what: &str) -> Result<String> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(s.clone()),
            _ => bind_err!("{what} needs a file name string, not {e}"),
        },
        _ => bind_err!("{what} needs a file name string, not {e}"),
    }
}

/// Renames a relation's columns per `AS alias (c1, c2, ...)` and qualifies them.
fn apply_alias(
    plan: LogicalPlan,
    alias: Option<&ast::TableAlias>,
    default: &str,
) -> Result<(LogicalPlan, Scope)> {
    let qualifier = alias
        .map(|a| a.name.value.clone())
        .unwrap_or_else(|| default.to_string());
    let qualifier = (!qualifier.is_empty()).then_some(qualifier);
    let mut scope = Scope::from_schema(&plan.schema(), qualifier.as_deref());
    let renames: Vec<String> = alias
        .map(|a| a.columns.iter().map(|c| c.name.value.clone()).collect())
        .unwrap_or_default();
    if renames.is_empty() {
        return Ok((plan, scope));
    }
    let plan = rename_columns(plan, &renames)?;
    for (c, r) in scope.columns.iter_mut().zip(renames) {
        c.name = r;
    }
    Ok((plan, scope))
}

/// Renames the first `names.len()` output columns of `plan` (`AS t (a, b)`).
fn rename_columns(plan: LogicalPlan, names: &[String]) -> Result<LogicalPlan> {
    if names.is_empty() {
        return Ok(plan);
    }
    let mut all = field_names(&plan);
    if names.len() > all.len() {
        return bind_err!(
            "{} column names were given for a relation with {} columns",
            names.len(),
            all.len()
        );
    }
    all[..names.len()].clone_from_slice(names);
    let exprs = plan.output_columns();
    Ok(LogicalPlan::project(plan, exprs, all))
}

/// A Filter node, checking that the predicate is boolean.
fn filter(plan: LogicalPlan, predicate: Expr, clause: &str) -> Result<LogicalPlan> {
    Ok(LogicalPlan::Filter {
        input: Box::new(plan),
        predicate: boolean_condition(predicate, clause)?,
    })
}

/// Checks that a condition is BOOLEAN (a NULL literal becomes a BOOLEAN NULL).
fn boolean_condition(predicate: Expr, clause: &str) -> Result<Expr> {
    Ok(match predicate.data_type() {
        DataType::Boolean => predicate,
        DataType::Null => cast(predicate, &DataType::Boolean)?,
        other => {
            return bind_err!(
                "{clause} clause must be a BOOLEAN expression, not {}: {predicate}",
                type_name(&other)
            )
        }
    })
}

/// `l INTERSECT ALL r` / `l EXCEPT ALL r` (multisets, NULLs equal): each side's
/// copies of a row numbered (ROW_NUMBER over all columns); the k-th left copy
/// is kept when the right has (INTERSECT) or has not (EXCEPT) a k-th copy, so
/// that min(m, n) and max(m - n, 0) copies remain.
fn intersect_or_except_all(l: LogicalPlan, r: LogicalPlan, intersect: bool) -> Result<LogicalPlan> {
    let names = field_names(&l);
    let width = names.len();
    let numbered = |p: LogicalPlan| -> LogicalPlan {
        let mut fields: Vec<Arc<Field>> = p.schema().fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new("#copy", DataType::Int64, true)));
        LogicalPlan::Window {
            partition_by: p.output_columns(),
            order_by: vec![],
            functions: vec![crate::plan::WindowExpr {
                func: crate::plan::WindowFunc::RowNumber,
                args: vec![],
                frame: crate::plan::WindowFrame::default_for(false),
                data_type: DataType::Int64,
                ignore_nulls: false,
            }],
            schema: Arc::new(Schema::new(fields)),
            input: Box::new(p),
        }
    };
    let (l, r) = (numbered(l), numbered(r));
    let on: Vec<(Expr, Expr)> = l
        .output_columns()
        .into_iter()
        .zip(r.output_columns())
        .flat_map(|(a, b)| Expr::null_safe_keys(a, b))
        .collect();
    let kind = if intersect {
        JoinKind::Semi
    } else {
        JoinKind::Anti
    };
    let joined = LogicalPlan::join(l, r, kind, on, None);
    let exprs = joined.output_columns().into_iter().take(width).collect();
    Ok(LogicalPlan::project(joined, exprs, names))
}

/// `l INTERSECT r` / `l EXCEPT r` (set semantics, NULLs equal): the rows of both,
/// each tagged with its side, grouped by all columns; a group qualifies when it has
/// rows from both sides (INTERSECT) or only from the left (EXCEPT).
fn intersect_or_except(l: LogicalPlan, r: LogicalPlan, intersect: bool) -> Result<LogicalPlan> {
    let names = field_names(&l);
    let width = names.len();
    let tag = |p: LogicalPlan, side: i32| {
        let mut exprs = p.output_columns();
        exprs.push(Expr::Literal(ScalarValue::Int32(Some(side))));
        let mut tagged_names = names.clone();
        tagged_names.push("#side".into());
        LogicalPlan::project(p, exprs, tagged_names)
    };
    let inputs = vec![tag(l, 0), tag(r, 1)];
    let schema = inputs[0].schema();
    let union = LogicalPlan::Union { inputs, schema };
    let side = Expr::column(width, "#side", DataType::Int32);
    let group: Vec<Expr> = union.output_columns().into_iter().take(width).collect();
    let agg = |func| AggExpr::new(func, Some(side.clone()), DataType::Int32);
    let aggs = vec![agg(AggFunc::Min), agg(AggFunc::Max)];
    let mut agg_exprs = group.clone();
    agg_exprs.extend([
        Expr::column(0, "#min", DataType::Int32),
        Expr::column(0, "#max", DataType::Int32),
    ]);
    let mut agg_names = names.clone();
    agg_names.extend(["#min".to_string(), "#max".to_string()]);
    let aggregate = LogicalPlan::Aggregate {
        input: Box::new(union),
        group,
        aggs,
        grouping_sets: None,
        schema: schema_of(&agg_exprs, &agg_names),
    };
    let min = Expr::column(width, "#min", DataType::Int32);
    let max = Expr::column(width + 1, "#max", DataType::Int32);
    let lit = |v| Expr::Literal(ScalarValue::Int32(Some(v)));
    let predicate = if intersect {
        binary(BinaryOp::Eq, min, lit(0))?.and(binary(BinaryOp::Eq, max, lit(1))?)
    } else {
        binary(BinaryOp::Eq, max, lit(0))?
    };
    let filtered = LogicalPlan::Filter {
        input: Box::new(aggregate),
        predicate,
    };
    let exprs = filtered.output_columns().into_iter().take(width).collect();
    Ok(LogicalPlan::project(filtered, exprs, names))
}

/// DISTINCT as an aggregate grouping by every column.
fn distinct_rows(plan: LogicalPlan) -> LogicalPlan {
    let schema = plan.schema();
    let group = plan.output_columns();
    LogicalPlan::Aggregate {
        input: Box::new(plan),
        group,
        aggs: vec![],
        grouping_sets: None,
        schema,
    }
}

fn field_names_of(scope: &Scope) -> Vec<String> {
    scope.columns.iter().map(|c| c.name.clone()).collect()
}

fn field_names(plan: &LogicalPlan) -> Vec<String> {
    plan.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// Sort keys over the projection `exprs`, appending hidden columns for ORDER BY
/// expressions that are not in it.
fn sort_keys(
    order_keys: Vec<(OrderTarget, &ast::OrderByExpr)>,
    exprs: &mut Vec<Expr>,
    distinct: bool,
) -> Result<Vec<SortKey>> {
    let mut keys = vec![];
    for (target, o) in order_keys {
        let index = match target {
            OrderTarget::Output(i) => i,
            OrderTarget::Expr(e) => match exprs.iter().position(|x| *x == e) {
                Some(i) => i,
                None if distinct => {
                    return bind_err!(
                    "for SELECT DISTINCT, ORDER BY expressions must appear in the SELECT list: {}",
                    o.expr
                )
                }
                None => {
                    exprs.push(e);
                    exprs.len() - 1
                }
            },
        };
        let ascending = !matches!(o.options.sort, Some(ast::OrderBySort::Desc));
        // DuckDB's default: NULLS LAST for both directions.
        let nulls_first = o.options.nulls_first.unwrap_or(false);
        let e = &exprs[index];
        keys.push(SortKey {
            expr: Expr::column(index, e.to_string(), e.data_type()),
            ascending,
            nulls_first,
        });
    }
    Ok(keys)
}

/// Sort, limit, then drop hidden ORDER BY columns beyond `width`.
fn finish_query(
    mut plan: LogicalPlan,
    keys: Vec<SortKey>,
    offset: usize,
    fetch: Option<usize>,
    width: usize,
    names: Vec<String>,
) -> LogicalPlan {
    if !keys.is_empty() {
        plan = LogicalPlan::Sort {
            input: Box::new(plan),
            keys,
            fetch: fetch.map(|f| f + offset),
        };
    }
    if offset > 0 || fetch.is_some() {
        plan = LogicalPlan::Limit {
            input: Box::new(plan),
            offset,
            fetch,
        };
    }
    if plan.schema().fields().len() > width {
        let exprs = plan.output_columns().into_iter().take(width).collect();
        plan = LogicalPlan::project(plan, exprs, names);
    }
    plan
}

/// Rewrites an expression bound over FROM to one over the Aggregate's output:
/// group keys and aggregate references become its columns.
fn above_aggregate(
    e: Expr,
    group: &[Expr],
    n_groups: usize,
    grouping_id: Option<usize>,
) -> Result<Expr> {
    let mut error = None;
    let result = rewrite_above(e, group, n_groups, grouping_id, &mut error);
    match error {
        Some(err) => Err(err),
        None => Ok(result),
    }
}

fn rewrite_above(
    e: Expr,
    group: &[Expr],
    n_groups: usize,
    grouping_id: Option<usize>,
    error: &mut Option<Error>,
) -> Expr {
    if let Expr::Function {
        func: ScalarFunc::Grouping,
        args,
        ..
    } = e
    {
        return grouping_bits(args, group, grouping_id).unwrap_or_else(|err| {
            error.get_or_insert(err);
            Expr::Literal(ScalarValue::Int64(Some(0)))
        });
    }
    if let Some(i) = group.iter().position(|g| *g == e) {
        return Expr::column(i, e.to_string(), e.data_type());
    }
    match e {
        Expr::Column {
            index,
            name,
            data_type,
        } if index >= AGG_REF_BASE => Expr::Column {
            index: n_groups + index - AGG_REF_BASE,
            name,
            data_type,
        },
        Expr::Column { index, .. } if windows::is_window_ref(index) => e,
        // A subquery's outer columns were the FROM clause's; now they are the
        // group keys' (and must be group keys).
        Expr::ScalarSubquery(_)
        | Expr::Exists { .. }
        | Expr::InSubquery { .. }
        | Expr::Quantified { .. } => {
            let e = e.map_children(&mut |c| rewrite_above(c, group, n_groups, grouping_id, error));
            let mut to_group = |index: usize| {
                group
                    .iter()
                    .position(|g| matches!(g, Expr::Column { index: i, .. } if *i == index))
                    .ok_or_else(|| {
                        Error::Bind(
                            "a subquery of a grouped query may only read the outer query's GROUP BY columns"
                                .into(),
                        )
                    })
            };
            match e.clone().map_outer_columns(0, &mut to_group) {
                Ok(mapped) => mapped,
                Err(err) => {
                    error.get_or_insert(err);
                    e
                }
            }
        }
        Expr::Column { ref name, .. } => {
            error.get_or_insert_with(|| {
                Error::Bind(format!(
                    "column \"{name}\" must appear in the GROUP BY clause or must be part of an aggregate function"
                ))
            });
            e
        }
        other => other.map_children(&mut |c| rewrite_above(c, group, n_groups, grouping_id, error)),
    }
}

fn contains_aggregate(e: &Expr) -> bool {
    matches!(e, Expr::Column { index, .. } if *index >= AGG_REF_BASE)
        || contains_grouping(e)
        || e.children().into_iter().any(contains_aggregate)
}

fn contains_grouping(e: &Expr) -> bool {
    matches!(
        e,
        Expr::Function {
            func: ScalarFunc::Grouping,
            ..
        }
    ) || e.children().into_iter().any(contains_grouping)
}

/// Replaces the SELECT aliases named in GROUPING's arguments by their expressions.
fn grouping_aliases(e: Expr, items: &[Expr], names: &[String]) -> Result<Expr> {
    if !contains_grouping(&e) {
        return Ok(e);
    }
    let mut error = None;
    let e = e.transform_up(&mut |x| match x {
        Expr::Column {
            index: ALIAS_REF,
            ref name,
            ..
        } => match names.iter().position(|n| n.eq_ignore_ascii_case(name)) {
            Some(i) if !contains_aggregate(&items[i]) => items[i].clone(),
            Some(_) => {
                error.get_or_insert_with(|| {
                    Error::Bind(format!("GROUPING cannot refer to an aggregate: {name}"))
                });
                x
            }
            None => {
                error.get_or_insert_with(|| {
                    Error::Bind(format!("Referenced column \"{name}\" not found"))
                });
                x
            }
        },
        other => other,
    });
    error.map_or(Ok(e), Err)
}

/// The name of the Aggregate's column that tells which grouping set a row is of.
const GROUPING_ID: &str = "#grouping_id";
/// At most this many distinct keys with grouping sets (bits of `#grouping_id`).
const MAX_GROUPING_KEYS: usize = 62;
/// At most this many grouping sets in one query.
const MAX_GROUPING_SETS: usize = 4096;

/// The grouping sets one GROUP BY item stands for, each a list of key expressions:
/// a plain key is one set of itself, `()` the empty set, `ROLLUP (a, b)` the sets
/// (a, b), (a), (); `CUBE (a, b)` every subset; `GROUPING SETS (...)` each of its
/// items (an item in parentheses is the product of its elements' sets). A
/// parenthesized list inside ROLLUP or CUBE is one unit.
fn grouping_sets_of(e: &ast::Expr) -> Result<Vec<Vec<&ast::Expr>>> {
    match e {
        ast::Expr::GroupingSets(lists) => {
            let mut sets = vec![];
            for list in lists {
                let mut product: Vec<Vec<&ast::Expr>> = vec![vec![]];
                for item in list {
                    product = set_product(&product, &grouping_sets_of(item)?)?;
                }
                sets.extend(product);
                if sets.len() > MAX_GROUPING_SETS {
                    return too_many_sets();
                }
            }
            Ok(sets)
        }
        ast::Expr::Rollup(lists) => Ok(rollup(units_of(lists))),
        ast::Expr::Cube(lists) => cube(units_of(lists)),
        ast::Expr::Tuple(items) => {
            let mut product: Vec<Vec<&ast::Expr>> = vec![vec![]];
            for item in items {
                product = set_product(&product, &grouping_sets_of(item)?)?;
            }
            Ok(product)
        }
        // `ROLLUP (...)` / `CUBE (...)` nested in GROUPING SETS parse as calls.
        ast::Expr::Function(f)
            if matches!(
                object_name(&f.name).to_lowercase().as_str(),
                "rollup" | "cube"
            ) && f.over.is_none()
                && f.filter.is_none() =>
        {
            let ast::FunctionArguments::List(list) = &f.args else {
                return bind_err!("{e} needs a list of keys");
            };
            let mut units = vec![];
            for arg in &list.args {
                match arg {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(ast::Expr::Tuple(
                        items,
                    ))) => units.push(items.iter().collect()),
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(item)) => {
                        units.push(vec![item])
                    }
                    other => return bind_err!("unsupported argument {other} in {e}"),
                }
            }
            if object_name(&f.name).eq_ignore_ascii_case("rollup") {
                Ok(rollup(units))
            } else {
                cube(units)
            }
        }
        other => Ok(vec![vec![other]]),
    }
}

/// The units of a ROLLUP or CUBE: each parenthesized list, or single key.
fn units_of(lists: &[Vec<ast::Expr>]) -> Vec<Vec<&ast::Expr>> {
    lists.iter().map(|l| l.iter().collect()).collect()
}

/// `ROLLUP (u1, ..., un)`: the sets u1..un, u1..un-1, ..., ().
fn rollup(units: Vec<Vec<&ast::Expr>>) -> Vec<Vec<&ast::Expr>> {
    (0..=units.len())
        .rev()
        .map(|n| units[..n].concat())
        .collect()
}

/// `CUBE (u1, ..., un)`: every subset of the units.
fn cube(units: Vec<Vec<&ast::Expr>>) -> Result<Vec<Vec<&ast::Expr>>> {
    let n = units.len();
    if n >= 63 || 1usize << n > MAX_GROUPING_SETS {
        return too_many_sets();
    }
    Ok((0..1usize << n)
        .rev()
        .map(|mask| {
            (0..n)
                .filter(|j| mask & (1 << (n - 1 - j)) != 0)
                .flat_map(|j| units[j].iter().copied())
                .collect()
        })
        .collect())
}

/// Every concatenation of a set of `a` with a set of `b`.
fn set_product<'e>(
    a: &[Vec<&'e ast::Expr>],
    b: &[Vec<&'e ast::Expr>],
) -> Result<Vec<Vec<&'e ast::Expr>>> {
    if a.len().saturating_mul(b.len()) > MAX_GROUPING_SETS {
        return too_many_sets();
    }
    Ok(a.iter()
        .flat_map(|x| b.iter().map(move |y| [x.as_slice(), y.as_slice()].concat()))
        .collect())
}

fn too_many_sets<T>() -> Result<T> {
    bind_err!("a GROUP BY may have at most {MAX_GROUPING_SETS} grouping sets")
}

/// `GROUPING(k1, ..., kn)` above the Aggregate: bit i (from the most significant)
/// is 1 when `ki` is not in the row's grouping set, taken from `#grouping_id`
/// (whose bits are over all of `group`); 0 without grouping sets.
fn grouping_bits(args: Vec<Expr>, group: &[Expr], grouping_id: Option<usize>) -> Result<Expr> {
    let mut positions = vec![];
    for a in &args {
        match group.iter().position(|g| g == a) {
            Some(p) => positions.push(p),
            None => return bind_err!("GROUPING child \"{a}\" must be a grouping column"),
        }
    }
    if positions.len() > MAX_GROUPING_KEYS {
        return bind_err!("GROUPING takes at most {MAX_GROUPING_KEYS} arguments");
    }
    let int = |v: i64| Expr::Literal(ScalarValue::Int64(Some(v)));
    let Some(index) = grouping_id else {
        return Ok(int(0));
    };
    let id = Expr::column(index, GROUPING_ID, DataType::Int64);
    let n = group.len();
    if positions.iter().copied().eq(0..n) {
        return Ok(id);
    }
    let op = |op, l, r| Expr::Binary {
        op,
        left: Box::new(l),
        right: Box::new(r),
        data_type: DataType::Int64,
    };
    let k = positions.len();
    let terms = positions.iter().enumerate().map(|(j, &p)| {
        let shift = n - 1 - p;
        let shifted = if shift == 0 {
            id.clone()
        } else {
            op(BinaryOp::IntegerDivide, id.clone(), int(1 << shift))
        };
        let bit = op(BinaryOp::Modulo, shifted, int(2));
        match k - 1 - j {
            0 => bit,
            w => op(BinaryOp::Multiply, bit, int(1 << w)),
        }
    });
    Ok(terms
        .reduce(|a, b| op(BinaryOp::Plus, a, b))
        .expect("GROUPING has arguments"))
}

fn is_position(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Value(v) if matches!(v.value, Value::Number(..)))
}

fn resolves(scope: &Scope, e: &ast::Expr) -> bool {
    match e {
        ast::Expr::Identifier(i) => scope.resolve(None, i).is_ok(),
        _ => true,
    }
}

/// The SELECT-list position an ORDER BY / GROUP BY item names: an integer position
/// (1-based) or an output column name.
fn select_list_position(e: &ast::Expr, names: &[String], width: usize) -> Result<Option<usize>> {
    match e {
        ast::Expr::Value(v) => match &v.value {
            Value::Number(n, _) => match n.parse::<usize>() {
                Ok(k) if (1..=width).contains(&k) => Ok(Some(k - 1)),
                _ => bind_err!("position {n} is not in the SELECT list (1 to {width})"),
            },
            _ => Ok(None),
        },
        ast::Expr::Identifier(i) => Ok(names.iter().position(|n| n.eq_ignore_ascii_case(&i.value))),
        _ => Ok(None),
    }
}

fn output_position(e: &ast::Expr, schema: &arrow::datatypes::SchemaRef) -> Result<Option<usize>> {
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    select_list_position(e, &names, names.len())
}

/// The output name of an unaliased SELECT item.
fn column_name(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Identifier(i) => i.value.clone(),
        ast::Expr::CompoundIdentifier(parts) => {
            parts.last().map(|i| i.value.clone()).unwrap_or_default()
        }
        ast::Expr::Nested(inner) => column_name(inner),
        other => other.to_string(),
    }
}
