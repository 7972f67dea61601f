//! Binding statements other than plain queries: DDL, INSERT, COPY, SHOW,
//! DESCRIBE, EXPLAIN and SET, each into a [`Command`] (UPDATE and DELETE: `dml`).

use std::path::PathBuf;

use sqlparser::ast::{self, ObjectName, Statement};

use super::expr::cast;
use super::query::QueryBinder;
use super::{convert_sql_type, object_name, Command};
use crate::catalog::{Catalog, ColumnDef};
use crate::error::{Error, Result};
use crate::etl::{format_from_path, CsvOptions, FileFormat};
use crate::plan::{Expr, ExternalSource, LogicalPlan};
use crate::types::ScalarValue;
use crate::{bind_err, unsupported};

/// Binds one parsed statement against the catalog.
pub fn bind_statement(catalog: &Catalog, statement: &Statement) -> Result<Command> {
    let binder = QueryBinder::new(catalog);
    match statement {
        Statement::Query(q) => Ok(Command::Query(binder.bind_query(q)?)),
        Statement::Explain { statement, .. } => match statement.as_ref() {
            Statement::Query(q) => Ok(Command::Explain(binder.bind_query(q)?)),
            other => unsupported!("EXPLAIN of {other}"),
        },
        Statement::CreateTable(ct) => create_table(&binder, ct),
        Statement::Insert(insert) => bind_insert(catalog, &binder, insert),
        Statement::Update(update) => super::dml::bind_update(catalog, update),
        Statement::Delete(delete) => super::dml::bind_delete(catalog, delete),
        Statement::Truncate(truncate) => super::dml::bind_truncate(catalog, truncate),
        Statement::Drop {
            object_type,
            if_exists,
            names,
            ..
        } => match object_type {
            ast::ObjectType::Table => Ok(Command::DropTable {
                names: names.iter().map(object_name).collect(),
                if_exists: *if_exists,
            }),
            ast::ObjectType::MaterializedView => Ok(Command::DropMaterializedView {
                names: names.iter().map(object_name).collect(),
                if_exists: *if_exists,
            }),
            ast::ObjectType::View => Ok(Command::DropView {
                names: names.iter().map(object_name).collect(),
                if_exists: *if_exists,
            }),
            other => unsupported!("DROP {other}"),
        },
        Statement::CreateView(view) => {
            if view.materialized {
                if !view.columns.is_empty() || view.or_replace {
                    return unsupported!(
                        "CREATE OR REPLACE or a column list for a materialized view"
                    );
                }
                let query = binder.bind_query(&view.query)?;
                // Staleness is tracked on tables; a view's definition could change unseen.
                if let Some(v) = binder.expanded_views().first() {
                    return unsupported!(
                        "a materialized view over the view or materialized view {v}; define it over tables"
                    );
                }
                return Ok(Command::CreateMaterializedView {
                    name: object_name(&view.name),
                    sql: view.query.to_string(),
                    query,
                    if_not_exists: view.if_not_exists,
                });
            }
            let name = object_name(&view.name);
            let columns: Vec<String> = view.columns.iter().map(|c| c.name.value.clone()).collect();
            // Bind now so that a view over missing tables or columns is refused.
            let width = binder.bind_query(&view.query)?.schema().fields().len();
            if columns.len() > width {
                return bind_err!(
                    "view {name} names {} columns but its query has {width}",
                    columns.len()
                );
            }
            Ok(Command::CreateView {
                name,
                columns,
                sql: view.query.to_string(),
                or_replace: view.or_replace,
                if_not_exists: view.if_not_exists,
            })
        }
        Statement::ShowTables { .. } => Ok(Command::ShowTables),
        Statement::ShowViews {
            materialized: true, ..
        } => Ok(Command::ShowMaterializedViews),
        Statement::RefreshMaterializedView(r) => Ok(Command::RefreshMaterializedView {
            name: object_name(&r.name),
        }),
        Statement::ExplainTable { table_name, .. } => {
            describe(catalog, &binder, &object_name(table_name))
        }
        Statement::Copy {
            source,
            to,
            target,
            options,
            legacy_options,
            ..
        } => bind_copy(
            &binder,
            catalog,
            source,
            *to,
            target,
            options,
            legacy_options,
        ),
        Statement::Set(set) => match set {
            ast::Set::SingleAssignment {
                variable, values, ..
            } => {
                let value = match values.as_slice() {
                    [ast::Expr::Value(v)] => match &v.value {
                        ast::Value::SingleQuotedString(s) => s.clone(),
                        other => other.to_string(),
                    },
                    [other] => other.to_string(),
                    _ => return bind_err!("SET takes one value"),
                };
                Ok(Command::Set {
                    name: object_name(variable).to_lowercase(),
                    value,
                })
            }
            other => unsupported!("{other}"),
        },
        other => {
            let text = other.to_string();
            let verb: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            unsupported!("statement {verb}")
        }
    }
}

/// DESCRIBE of a table (its declared columns) or a view or materialized view
/// (its query's columns).
fn describe(catalog: &Catalog, binder: &QueryBinder, name: &str) -> Result<Command> {
    let columns = if let Some(table) = catalog.table(name) {
        table.columns.clone()
    } else if catalog.view(name).is_some() || catalog.mview(name).is_some() {
        let query = format!("SELECT * FROM {name}");
        let Some(Statement::Query(q)) = super::parse(&query)?.into_iter().next() else {
            return bind_err!("cannot describe view {name}");
        };
        let plan = binder.bind_query(&q)?;
        plan.schema()
            .fields()
            .iter()
            .map(|f| {
                Ok(ColumnDef {
                    name: f.name().clone(),
                    sql_type: crate::types::SqlType::from_arrow(f.data_type())?,
                    nullable: true,
                })
            })
            .collect::<Result<Vec<_>>>()?
    } else {
        return Err(Error::Catalog(format!(
            "Table with name {name} does not exist"
        )));
    };
    Ok(Command::Describe { columns })
}

fn create_table(binder: &QueryBinder, ct: &ast::CreateTable) -> Result<Command> {
    let name = object_name(&ct.name);
    if let Some(query) = &ct.query {
        if !ct.columns.is_empty() {
            return unsupported!("CREATE TABLE with both columns and AS SELECT");
        }
        return Ok(Command::CreateTableAs {
            name,
            query: binder.bind_query(query)?,
            if_not_exists: ct.if_not_exists,
            or_replace: ct.or_replace,
        });
    }
    if ct.columns.is_empty() {
        return bind_err!("CREATE TABLE {name} needs at least one column");
    }
    let mut columns: Vec<ColumnDef> = vec![];
    for c in &ct.columns {
        if columns
            .iter()
            .any(|x| x.name.eq_ignore_ascii_case(&c.name.value))
        {
            return bind_err!(
                "column \"{}\" is declared twice in table {name}",
                c.name.value
            );
        }
        let mut nullable = true;
        for opt in &c.options {
            match &opt.option {
                ast::ColumnOption::NotNull => nullable = false,
                ast::ColumnOption::Null => nullable = true,
                other => return unsupported!("column option {other}"),
            }
        }
        columns.push(ColumnDef {
            name: c.name.value.clone(),
            sql_type: convert_sql_type(&c.data_type)?,
            nullable,
        });
    }
    Ok(Command::CreateTable {
        name,
        columns,
        if_not_exists: ct.if_not_exists,
        or_replace: ct.or_replace,
    })
}

fn bind_insert(catalog: &Catalog, binder: &QueryBinder, insert: &ast::Insert) -> Result<Command> {
    let table_name = match &insert.table {
        ast::TableObject::TableName(n) => object_name(n),
        other => return unsupported!("INSERT INTO {other}"),
    };
    let table = catalog
        .table(&table_name)
        .ok_or_else(|| Error::Catalog(format!("Table with name {table_name} does not exist")))?;
    if insert.returning.is_some() {
        return unsupported!("INSERT ... RETURNING");
    }
    if insert.on.is_some() || insert.or.is_some() || insert.ignore || insert.replace_into {
        return unsupported!("INSERT OR REPLACE / OR IGNORE / ON CONFLICT (tables have no keys)");
    }
    if insert.overwrite || insert.partitioned.is_some() || !insert.assignments.is_empty() {
        return unsupported!("INSERT OVERWRITE, PARTITION or SET");
    }
    let Some(source) = &insert.source else {
        return bind_err!("INSERT needs VALUES or a SELECT");
    };
    let query = binder.bind_query(source)?;
    let by_name: Vec<ObjectName> = if insert.by_name {
        // INSERT ... BY NAME: the query's column names say which columns they fill.
        if !insert.columns.is_empty() {
            return bind_err!("INSERT BY NAME cannot take a column list");
        }
        query
            .schema()
            .fields()
            .iter()
            .map(|f| ObjectName::from(vec![ast::Ident::new(f.name())]))
            .collect()
    } else {
        insert.columns.clone()
    };
    let targets: Vec<usize> = if by_name.is_empty() {
        (0..table.columns.len()).collect()
    } else {
        let mut targets = vec![];
        for c in &by_name {
            let name = object_name(c);
            let Some(i) = table.column_index(&name) else {
                return bind_err!(
                    "Table \"{}\" does not have a column named \"{name}\"",
                    table.name
                );
            };
            if targets.contains(&i) {
                return bind_err!("column \"{name}\" appears twice in the INSERT column list");
            }
            targets.push(i);
        }
        targets
    };
    let width = query.schema().fields().len();
    if width != targets.len() {
        return bind_err!(
            "table {} has {} columns but {} values were supplied",
            table.name,
            targets.len(),
            width
        );
    }
    let query = shape_to_table(query, &table.columns, &targets)?;
    Ok(Command::Insert {
        table: table.name.clone(),
        query,
    })
}

/// Projects a query's columns onto a table's columns: `targets[i]` is the table
/// column that query column `i` fills; the rest get NULL. Values are cast to the
/// column types.
pub fn shape_to_table(
    query: LogicalPlan,
    columns: &[ColumnDef],
    targets: &[usize],
) -> Result<LogicalPlan> {
    let input_schema = query.schema();
    let mut exprs = vec![];
    for (ci, col) in columns.iter().enumerate() {
        let to = col.sql_type.to_arrow();
        let e = match targets.iter().position(|&t| t == ci) {
            Some(qi) => {
                let f = input_schema.field(qi);
                let source = Expr::column(qi, f.name().clone(), f.data_type().clone());
                cast(source, &to).map_err(|e| match e {
                    Error::Bind(msg) => Error::Bind(format!("column {}: {msg}", col.name)),
                    other => other,
                })?
            }
            None => Expr::Literal(ScalarValue::null_of(&to)),
        };
        exprs.push(e);
    }
    let names = columns.iter().map(|c| c.name.clone()).collect();
    Ok(LogicalPlan::project(query, exprs, names))
}

#[allow(clippy::too_many_arguments)]
fn bind_copy(
    binder: &QueryBinder,
    catalog: &Catalog,
    source: &ast::CopySource,
    to: bool,
    target: &ast::CopyTarget,
    options: &[ast::CopyOption],
    legacy_options: &[ast::CopyLegacyOption],
) -> Result<Command> {
    let ast::CopyTarget::File { filename } = target else {
        return unsupported!("COPY with STDIN, STDOUT or PROGRAM");
    };
    let path = PathBuf::from(filename);
    let mut csv = CsvOptions::default();
    let mut format = format_from_path(&path);
    for opt in options {
        match opt {
            ast::CopyOption::Format(f) => {
                format = Some(match f.value.to_lowercase().as_str() {
                    "csv" => FileFormat::Csv,
                    "parquet" => FileFormat::Parquet,
                    other => return bind_err!("unknown COPY format {other}"),
                })
            }
            ast::CopyOption::Delimiter(c) => csv.delimiter = Some(ascii(*c, "DELIMITER")?),
            ast::CopyOption::Header(h) => csv.header = Some(*h),
            ast::CopyOption::Null(s) => csv.null_string = s.clone(),
            ast::CopyOption::Quote(c) => csv.quote = ascii(*c, "QUOTE")?,
            ast::CopyOption::Escape(c) => csv.escape = Some(ascii(*c, "ESCAPE")?),
            other => return unsupported!("COPY option {other}"),
        }
    }
    for opt in legacy_options {
        match opt {
            ast::CopyLegacyOption::Delimiter(c) => csv.delimiter = Some(ascii(*c, "DELIMITER")?),
            ast::CopyLegacyOption::Header => csv.header = Some(true),
            ast::CopyLegacyOption::Null(s) => csv.null_string = s.clone(),
            ast::CopyLegacyOption::Csv(_) => format = Some(FileFormat::Csv),
            other => return unsupported!("COPY option {other}"),
        }
    }
    let Some(format) = format else {
        return bind_err!(
            "cannot tell the format of '{filename}' from its extension; add (FORMAT csv) or (FORMAT parquet)"
        );
    };
    if to {
        let query = match source {
            ast::CopySource::Query(q) => binder.bind_query(q)?,
            ast::CopySource::Table {
                table_name,
                columns,
            } => {
                let cols = if columns.is_empty() {
                    "*".to_string()
                } else {
                    columns
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let sql = format!("SELECT {cols} FROM {table_name}");
                let parsed = super::parse(&sql)?;
                match parsed.first() {
                    Some(Statement::Query(q)) => binder.bind_query(q)?,
                    _ => return bind_err!("invalid COPY source {table_name}"),
                }
            }
        };
        return Ok(Command::CopyTo {
            query,
            path,
            format,
            csv,
        });
    }
    let ast::CopySource::Table {
        table_name,
        columns,
    } = source
    else {
        return bind_err!("COPY FROM needs a table to load into");
    };
    if !columns.is_empty() {
        return unsupported!("COPY with a column list");
    }
    let name = object_name(table_name);
    let table = catalog
        .table(&name)
        .ok_or_else(|| Error::Catalog(format!("Table with name {name} does not exist")))?;
    Ok(Command::CopyFrom {
        table: table.name.clone(),
        source: ExternalSource { path, format, csv },
    })
}

fn ascii(c: char, what: &str) -> Result<u8> {
    u8::try_from(c)
        .ok()
        .filter(u8::is_ascii)
        .ok_or_else(|| Error::Bind(format!("{what} must be an ASCII character, not '{c}'")))
}
