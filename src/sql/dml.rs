//! UPDATE, DELETE and TRUNCATE, bound as queries that compute a table's rows
//! after the statement.
//!
//! Column files are never changed in place. A statement that changes rows
//! computes all the rows the table has afterwards; the database writes them to
//! new files and commits them in one new manifest (as CREATE OR REPLACE TABLE
//! does), so a failed or killed statement leaves the table as it was, and
//! materialized views over it see a replaced table (stale; refreshed in full).
//! The queries are built from the statement's own syntax tree, which keeps its
//! positions for errors, and bound like any other query:
//!
//! - `DELETE FROM t WHERE p` keeps `SELECT * FROM t WHERE p IS NOT TRUE`;
//!   `DELETE FROM t USING s WHERE p` keeps the rows for which
//!   `NOT EXISTS (SELECT 1 FROM s WHERE p)`; TRUNCATE keeps none.
//! - `UPDATE t SET c = e WHERE p` reads
//!   `SELECT t.*, hit, CASE WHEN hit THEN e END FROM (SELECT *, p IS TRUE AS hit FROM t) AS t`
//!   and then sets `c` to `CASE WHEN hit THEN CAST(e AS <c's type>) ELSE c END`;
//!   `hit`, the last column, counts the rows changed. `e` is evaluated only
//!   for those rows, so `SET x = 1 / y WHERE y <> 0` does not divide by zero.
//! - `UPDATE t SET c = e FROM s WHERE p` numbers t's rows, LEFT JOINs them to
//!   s on p (with a marker column on s's side: a row matched when it is
//!   there), keeps one match per row number (an arbitrary one, as DuckDB
//!   does) and orders the rows by their numbers again.

use sqlparser::ast::{self, Expr as Ast, SelectItem, SetExpr, Statement, TableFactor};

use super::expr::cast;
use super::query::QueryBinder;
use super::{object_name, ChangedRows, Command};
use crate::catalog::{Catalog, TableMeta};
use crate::error::{Error, Result};
use crate::plan::{Expr, LogicalPlan};
use crate::{bind_err, unsupported};

/// Name of the column that says whether UPDATE changes a row (quoted: `#`
/// names are the engine's own, which no user column has).
const HIT: &str = "\"#hit\"";
/// Name of the marker column on the FROM side of UPDATE ... FROM.
const MATCH: &str = "\"#match\"";
/// Name of the row numbers of UPDATE ... FROM.
const ROW: &str = "\"#row\"";

/// The table a DML statement changes, and how its columns are referred to.
struct Target<'a> {
    table: &'a TableMeta,
    /// The table as a FROM item, with its alias.
    factor: TableFactor,
    /// The alias, or the table's name.
    alias: ast::Ident,
}

pub fn bind_delete(catalog: &Catalog, delete: &ast::Delete) -> Result<Command> {
    if delete.returning.is_some() {
        return unsupported!("DELETE ... RETURNING");
    }
    if !delete.tables.is_empty() || !delete.order_by.is_empty() || delete.limit.is_some() {
        return unsupported!("DELETE of several tables, or with ORDER BY or LIMIT");
    }
    let (ast::FromTable::WithFromKeyword(from) | ast::FromTable::WithoutKeyword(from)) =
        &delete.from;
    let [target] = from.as_slice() else {
        return unsupported!("DELETE from several tables (name one, and the others in USING)");
    };
    let target = resolve(catalog, target, "delete from")?;
    let keep = match (&delete.using, &delete.selection) {
        (None, None) => Ast::Value(ast::Value::Boolean(false).into()),
        (None, Some(p)) => Ast::IsNotTrue(Box::new(p.clone())),
        (Some(using), p) => {
            let mut matches = template("SELECT 1 FROM t")?;
            let select = select_of(&mut matches)?;
            select.from = using.clone();
            select.selection = p.clone();
            Ast::Exists {
                subquery: Box::new(matches),
                negated: true,
            }
        }
    };
    let mut kept = template("SELECT * FROM t")?;
    let select = select_of(&mut kept)?;
    select.from = vec![table_with(target.factor)];
    select.selection = Some(keep);
    Ok(Command::ReplaceRows {
        table: target.table.name.clone(),
        rows: QueryBinder::new(catalog).bind_query(&kept)?,
        changed: ChangedRows::Removed,
    })
}

pub fn bind_truncate(catalog: &Catalog, truncate: &ast::Truncate) -> Result<Command> {
    let [target] = truncate.table_names.as_slice() else {
        return unsupported!("TRUNCATE of several tables");
    };
    let sql = format!("DELETE FROM {}", target.name);
    match super::parse(&sql)?.as_slice() {
        [Statement::Delete(delete)] => bind_delete(catalog, delete),
        _ => bind_err!("cannot truncate {}", target.name),
    }
}

pub fn bind_update(catalog: &Catalog, update: &ast::Update) -> Result<Command> {
    if update.returning.is_some() {
        return unsupported!("UPDATE ... RETURNING");
    }
    if !update.order_by.is_empty() || update.limit.is_some() {
        return unsupported!("UPDATE with ORDER BY or LIMIT");
    }
    let target = resolve(catalog, &update.table, "update")?;
    let table = target.table;
    // (column index, new value) of each assignment.
    let mut assignments: Vec<(usize, Ast)> = vec![];
    for a in &update.assignments {
        let ast::AssignmentTarget::ColumnName(name) = &a.target else {
            return unsupported!("UPDATE of a tuple of columns ({})", a.target);
        };
        let column = name.0.last().and_then(|p| p.as_ident()).map(|i| &i.value);
        let Some(index) = column.and_then(|c| table.column_index(c)) else {
            return bind_err!(
                "Referenced update column {name} not found in table {}",
                table.name
            );
        };
        if assignments.iter().any(|(i, _)| *i == index) {
            return bind_err!("Multiple assignments to same column \"{name}\"");
        }
        // No column has a default but NULL.
        let value = match &a.value {
            Ast::Identifier(i)
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default") =>
            {
                Ast::Value(ast::Value::Null.into())
            }
            other => other.clone(),
        };
        assignments.push((index, value));
    }
    let from = match &update.from {
        None => None,
        Some(ast::UpdateTableFromKind::AfterSet(f) | ast::UpdateTableFromKind::BeforeSet(f)) => {
            Some(f.as_slice())
        }
    };
    // SELECT <the table's columns>, <hit>, CASE WHEN <hit> THEN <value> END, ...
    let mut projection: Vec<SelectItem> = table
        .columns
        .iter()
        .map(|c| {
            SelectItem::UnnamedExpr(Ast::CompoundIdentifier(vec![
                target.alias.clone(),
                ast::Ident::with_quote('"', &c.name),
            ]))
        })
        .collect();
    let (mut query, guard) = match from {
        None => marked_rows(&target, update.selection.as_ref())?,
        Some(from) => matched_rows(&target, from, update.selection.as_ref())?,
    };
    projection.push(SelectItem::UnnamedExpr(Ast::IsTrue(Box::new(
        guard.clone(),
    ))));
    for (_, value) in &assignments {
        projection.push(SelectItem::UnnamedExpr(when(&guard, value)?));
    }
    select_of(&mut query)?.projection = projection;
    let plan = QueryBinder::new(catalog)
        .bind_query(&query)
        .map_err(|e| match e {
            // SET and WHERE are per row: an aggregate there made the query a grouped one.
            Error::Bind(msg) if msg.contains("must appear in the GROUP BY clause") => {
                Error::Bind("aggregate functions are not allowed in UPDATE (SET or WHERE)".into())
            }
            other => other,
        })?;
    Ok(Command::ReplaceRows {
        table: table.name.clone(),
        rows: updated_rows(plan, table, &assignments)?,
        changed: ChangedRows::Flagged,
    })
}

/// `SELECT ... FROM (SELECT *, p IS TRUE AS hit FROM t) AS t` (the select list
/// to be filled in), and the column that says whether UPDATE changes a row.
fn marked_rows(target: &Target, selection: Option<&Ast>) -> Result<(ast::Query, Ast)> {
    let mut marked = template(&format!("SELECT *, true AS {HIT} FROM t"))?;
    let select = select_of(&mut marked)?;
    select.from = vec![table_with(target.factor.clone())];
    if let (Some(SelectItem::ExprWithAlias { expr, .. }), Some(p)) =
        (select.projection.get_mut(1), selection)
    {
        *expr = Ast::IsTrue(Box::new(p.clone()));
    }
    let hit = Ast::Identifier(ast::Ident::with_quote('"', unquoted(HIT)));
    Ok((derived(marked, &target.alias)?, hit))
}

/// UPDATE ... FROM: `SELECT ... FROM (SELECT *, row_number() OVER () AS row
/// FROM t) AS t LEFT JOIN (<from> CROSS JOIN (SELECT true AS match)) ON p`, one
/// match kept per row, in row order (the select list to be filled in), and the
/// column that says whether a row has a match (true or NULL).
fn matched_rows(
    target: &Target,
    from: &[ast::TableWithJoins],
    selection: Option<&Ast>,
) -> Result<(ast::Query, Ast)> {
    let mut query = template(&format!(
        "SELECT 1 FROM (SELECT *, row_number() OVER () AS {ROW} FROM t) AS t \
         LEFT JOIN (s CROSS JOIN (SELECT true AS {MATCH}) AS \"#marker\") ON true \
         QUALIFY row_number() OVER (PARTITION BY {ROW}) = 1 \
         ORDER BY {ROW}"
    ))?;
    let select = select_of(&mut query)?;
    let [numbered] = select.from.as_mut_slice() else {
        return internal();
    };
    set_derived_target(&mut numbered.relation, target)?;
    let [join] = numbered.joins.as_mut_slice() else {
        return internal();
    };
    if let Some(p) = selection {
        match &mut join.join_operator {
            ast::JoinOperator::Left(c) | ast::JoinOperator::LeftOuter(c) => {
                *c = ast::JoinConstraint::On(p.clone())
            }
            _ => return internal(),
        }
    }
    let TableFactor::NestedJoin {
        table_with_joins, ..
    } = &mut join.relation
    else {
        return internal();
    };
    // (<first FROM item> CROSS JOIN <the others> ... CROSS JOIN <marker>)
    let marker = table_with_joins.joins.pop().ok_or_else(internal_error)?;
    let (first, rest) = from.split_first().ok_or_else(internal_error)?;
    table_with_joins.relation = first.relation.clone();
    table_with_joins.joins = first.joins.clone();
    for item in rest {
        let mut cross = marker.clone();
        cross.relation = as_factor(item);
        table_with_joins.joins.push(cross);
    }
    table_with_joins.joins.push(marker);
    let matched = Ast::Identifier(ast::Ident::with_quote('"', unquoted(MATCH)));
    Ok((query, matched))
}

/// `CASE WHEN guard THEN value END`.
fn when(guard: &Ast, value: &Ast) -> Result<Ast> {
    let mut query = template("SELECT CASE WHEN true THEN 1 END")?;
    let Some(SelectItem::UnnamedExpr(mut case)) = select_of(&mut query)?.projection.pop() else {
        return internal();
    };
    let Ast::Case { conditions, .. } = &mut case else {
        return internal();
    };
    conditions[0].condition = guard.clone();
    conditions[0].result = value.clone();
    Ok(case)
}

/// The table's columns after UPDATE, from `plan`'s columns: the old values, the
/// hit flag, then the new value of each assignment (NULL where not hit).
fn updated_rows(
    plan: LogicalPlan,
    table: &TableMeta,
    assignments: &[(usize, Ast)],
) -> Result<LogicalPlan> {
    let schema = plan.schema();
    let column = |i: usize| {
        let f = schema.field(i);
        Expr::column(i, f.name().clone(), f.data_type().clone())
    };
    let width = table.columns.len();
    let hit = column(width);
    let mut exprs = vec![];
    for (ci, def) in table.columns.iter().enumerate() {
        let to = def.sql_type.to_arrow();
        let old = cast(column(ci), &to)?;
        exprs.push(match assignments.iter().position(|(i, _)| *i == ci) {
            None => old,
            Some(a) => {
                let new = cast(column(width + 1 + a), &to).map_err(|e| match e {
                    Error::Bind(msg) => Error::Bind(format!("column {}: {msg}", def.name)),
                    other => other,
                })?;
                Expr::Case {
                    branches: vec![(hit.clone(), new)],
                    otherwise: Some(Box::new(old)),
                    data_type: to,
                }
            }
        });
    }
    exprs.push(hit);
    let mut names: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
    names.push(unquoted(HIT).to_string());
    Ok(LogicalPlan::project(plan, exprs, names))
}

/// The table a DML statement names, which must be a base table.
fn resolve<'a>(catalog: &'a Catalog, item: &ast::TableWithJoins, verb: &str) -> Result<Target<'a>> {
    let TableFactor::Table {
        name, alias, args, ..
    } = &item.relation
    else {
        return unsupported!("{verb} {}: name a table", item.relation);
    };
    if !item.joins.is_empty() || args.is_some() {
        return unsupported!("{verb} {item}: name a table (and the others in FROM or USING)");
    }
    let table_name = object_name(name);
    let Some(table) = catalog.table(&table_name) else {
        if catalog.has_relation(&table_name) {
            return bind_err!(
                "Can only {verb} base table: {table_name} is a view, materialized view or cube"
            );
        }
        return Err(Error::Catalog(format!(
            "Table with name {table_name} does not exist"
        )));
    };
    let alias_name = alias
        .as_ref()
        .map(|a| a.name.clone())
        .unwrap_or_else(|| ast::Ident::with_quote('"', &table.name));
    Ok(Target {
        table,
        factor: item.relation.clone(),
        alias: alias_name,
    })
}

/// `(query) AS alias` as the only FROM item of `SELECT 1`.
fn derived(query: ast::Query, alias: &ast::Ident) -> Result<ast::Query> {
    let mut outer = template("SELECT 1 FROM (SELECT 1) AS t")?;
    let select = select_of(&mut outer)?;
    match &mut select.from[0].relation {
        TableFactor::Derived {
            subquery,
            alias: Some(a),
            ..
        } => {
            **subquery = query;
            a.name = alias.clone();
        }
        _ => return internal(),
    }
    Ok(outer)
}

/// Puts the target table into the template's `(SELECT ... FROM t) AS t`.
fn set_derived_target(factor: &mut TableFactor, target: &Target) -> Result<()> {
    let TableFactor::Derived {
        subquery,
        alias: Some(a),
        ..
    } = factor
    else {
        return internal();
    };
    a.name = target.alias.clone();
    select_of(subquery)?.from = vec![table_with(target.factor.clone())];
    Ok(())
}

fn table_with(relation: TableFactor) -> ast::TableWithJoins {
    ast::TableWithJoins {
        relation,
        joins: vec![],
    }
}

/// A FROM item as one table factor (parenthesized when it has joins).
fn as_factor(item: &ast::TableWithJoins) -> TableFactor {
    if item.joins.is_empty() {
        item.relation.clone()
    } else {
        TableFactor::NestedJoin {
            table_with_joins: Box::new(item.clone()),
            alias: None,
        }
    }
}

/// A query of ours, parsed.
fn template(sql: &str) -> Result<ast::Query> {
    match super::parse(sql)?.pop() {
        Some(Statement::Query(q)) => Ok(*q),
        _ => internal(),
    }
}

fn select_of(query: &mut ast::Query) -> Result<&mut ast::Select> {
    match query.body.as_mut() {
        SetExpr::Select(s) => Ok(s),
        _ => Err(internal_error()),
    }
}

/// A quoted name of ours without its quotes.
fn unquoted(name: &str) -> &str {
    name.trim_matches('"')
}

fn internal_error() -> Error {
    Error::Bind("internal error: a DML query template does not have the expected shape".into())
}

fn internal<T>() -> Result<T> {
    Err(internal_error())
}
