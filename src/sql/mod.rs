//! The SQL front end: `sqlparser` turns text into an AST, and the binder turns each
//! statement into a [`Command`]: a logical plan for queries, or a description of
//! the catalog change for DDL and DML. Binding resolves every name against the
//! catalog, so a bad name or type is reported before anything runs.

mod aggregates;
mod coerce;
mod dml;
pub mod expr;
mod functions;
mod query;
mod scope;
mod script;
mod statement;
mod windows;

use std::path::PathBuf;

use arrow::datatypes::DataType;
use sqlparser::ast::{self, ObjectName};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Span, Token, TokenWithSpan, Tokenizer};

use crate::catalog::ColumnDef;
use crate::error::{Error, Result};
use crate::etl::{CsvOptions, FileFormat};
use crate::plan::{ExternalSource, LogicalPlan};
use crate::types::{SqlType, MAX_DECIMAL_PRECISION};
use crate::unsupported;

pub use query::QueryBinder;
pub use script::{parse_script, CubeDefinition, Parsed};
pub use statement::bind_statement;

/// What a statement asks the database to do, fully bound.
#[derive(Debug)]
pub enum Command {
    Query(LogicalPlan),
    Explain(LogicalPlan),
    CreateTable {
        name: String,
        columns: Vec<ColumnDef>,
        if_not_exists: bool,
        or_replace: bool,
    },
    CreateTableAs {
        name: String,
        query: LogicalPlan,
        if_not_exists: bool,
        or_replace: bool,
    },
    /// Appends the rows of `query`, already shaped and typed as the table's columns.
    Insert {
        table: String,
        query: LogicalPlan,
    },
    DropTable {
        names: Vec<String>,
        if_exists: bool,
    },
    /// A view, checked by binding `query` now; `sql` is what the catalog keeps.
    CreateView {
        name: String,
        sql: String,
        /// Names for the query's columns, if the statement gives them.
        columns: Vec<String>,
        or_replace: bool,
        if_not_exists: bool,
    },
    DropView {
        names: Vec<String>,
        if_exists: bool,
    },
    CreateMaterializedView {
        name: String,
        sql: String,
        query: LogicalPlan,
        if_not_exists: bool,
    },
    RefreshMaterializedView {
        name: String,
    },
    DropMaterializedView {
        names: Vec<String>,
        if_exists: bool,
    },
    ShowMaterializedViews,
    ShowTables,
    /// The columns of a table or view.
    Describe {
        columns: Vec<ColumnDef>,
    },
    CopyFrom {
        table: String,
        source: ExternalSource,
    },
    CopyTo {
        query: LogicalPlan,
        path: PathBuf,
        format: FileFormat,
        csv: CsvOptions,
    },
    Set {
        name: String,
        value: String,
    },
    /// UPDATE, DELETE, TRUNCATE: the table's rows become those of `rows`, in the
    /// table's columns (see `dml`).
    ReplaceRows {
        table: String,
        rows: LogicalPlan,
        changed: ChangedRows,
    },
}

/// How a [`Command::ReplaceRows`] tells the number of rows its statement changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangedRows {
    /// The rows it removed: as many as the table has fewer.
    Removed,
    /// One more, last BOOLEAN column, true in each row it changed (not stored).
    Flagged,
}

/// Splits SQL text into parsed statements.
pub fn parse(sql: &str) -> Result<Vec<ast::Statement>> {
    let dialect = DuckDbDialect {};
    Parser::new(&dialect)
        .with_tokens_with_locations(tokenize(sql)?)
        .parse_statements()
        .map_err(parse_error)
}

/// A parser error as the engine reports it.
pub fn parse_error(e: ParserError) -> Error {
    let msg = e.to_string();
    let msg = msg
        .strip_prefix("sql parser error: ")
        .unwrap_or(&msg)
        .to_string();
    Error::Parse(msg)
}

/// The tokens of SQL text in DuckDB's dialect, with `**` (two adjacent `*`,
/// DuckDB's power operator, which sqlparser does not know) as `^`, its synonym,
/// and `IGNORE NULLS` / `RESPECT NULLS` moved out of a call's parentheses. An
/// empty quoted identifier (`""`) is an error, as in PostgreSQL and DuckDB: no
/// table, column or alias may be named by nothing.
pub fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>> {
    let dialect = DuckDbDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| Error::Parse(e.to_string()))?;
    let mut merged: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    for t in tokens {
        if matches!(&t.token, Token::Word(w) if w.quote_style.is_some() && w.value.is_empty()) {
            return Err(Error::Parse(format!(
                "zero-length delimited identifier{}",
                at(&t.span)
            )));
        }
        if let (Token::Mul, Some(prev)) = (&t.token, merged.last_mut()) {
            if prev.token == Token::Mul && prev.span.end == t.span.start {
                prev.token = Token::Caret;
                prev.span.end = t.span.end;
                continue;
            }
        }
        merged.push(t);
    }
    Ok(null_treatment_after_parentheses(merged))
}

/// DuckDB writes `IGNORE NULLS` inside a window function's parentheses
/// (`lag(x IGNORE NULLS)`); sqlparser's DuckDB dialect reads it only after them
/// (`lag(x) IGNORE NULLS`): `IGNORE | RESPECT NULLS )` becomes `) IGNORE NULLS`.
fn null_treatment_after_parentheses(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let word = |t: &TokenWithSpan, text: &str| matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(text));
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if word(&tokens[i], "IGNORE") || word(&tokens[i], "RESPECT") {
            let next: Vec<usize> = (i + 1..tokens.len())
                .filter(|&j| !matches!(tokens[j].token, Token::Whitespace(_)))
                .take(2)
                .collect();
            if let [nulls, paren] = next[..] {
                if word(&tokens[nulls], "NULLS") && tokens[paren].token == Token::RParen {
                    out.push(tokens[paren].clone());
                    out.push(TokenWithSpan::new(
                        Token::Whitespace(sqlparser::tokenizer::Whitespace::Space),
                        tokens[paren].span,
                    ));
                    out.extend(tokens[i..=nulls].iter().cloned());
                    i = paren + 1;
                    continue;
                }
            }
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    out
}

/// Binds the text of one query (a stored view's, say) against `catalog`.
pub fn bind_query_text(catalog: &crate::catalog::Catalog, text: &str) -> Result<LogicalPlan> {
    let statements = parse(text)?;
    let [ast::Statement::Query(query)] = statements.as_slice() else {
        return Err(Error::Bind(format!("not a single query: {text}")));
    };
    QueryBinder::new(catalog).bind_query(query)
}

/// ` at line L, column C` for a span that has a position, or nothing.
pub fn at(span: &Span) -> String {
    if span.start.line == 0 {
        String::new()
    } else {
        format!(" at line {}, column {}", span.start.line, span.start.column)
    }
}

/// The dotted text of an object name (`schema.table`).
pub fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) => i.value.clone(),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The SQL type named by a parsed data type.
pub fn convert_sql_type(dt: &ast::DataType) -> Result<SqlType> {
    use ast::DataType as T;
    Ok(match dt {
        T::Boolean | T::Bool => SqlType::Boolean,
        T::Int(_) | T::Integer(_) | T::Int4(_) | T::SmallInt(_) | T::TinyInt(_) | T::Int2(_) => {
            SqlType::Integer
        }
        T::BigInt(_) | T::Int8(_) | T::Int64 => SqlType::BigInt,
        T::Double(_)
        | T::DoublePrecision
        | T::Float(_)
        | T::Float8
        | T::Float64
        | T::Real
        | T::Float4 => SqlType::Double,
        T::Decimal(info) | T::Numeric(info) | T::Dec(info) => {
            let (p, s) = match info {
                ast::ExactNumberInfo::None => (18, 3),
                ast::ExactNumberInfo::Precision(p) => (*p, 0),
                ast::ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s as u64),
            };
            if p == 0 || p > MAX_DECIMAL_PRECISION as u64 || s > p {
                return Err(Error::Bind(format!(
                    "DECIMAL({p},{s}) is out of range: precision must be 1..=38 and scale at most the precision"
                )));
            }
            SqlType::Decimal(p as u8, s as i8)
        }
        T::Varchar(_)
        | T::Text
        | T::String(_)
        | T::Char(_)
        | T::CharVarying(_)
        | T::Character(_) => SqlType::Varchar,
        T::Date => SqlType::Date,
        T::Timestamp(_, ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone)
        | T::Datetime(_)
        | T::TimestampNtz(_) => SqlType::Timestamp,
        other => return unsupported!("type {other}"),
    })
}

/// The Arrow type of a parsed data type.
pub fn convert_type(dt: &ast::DataType) -> Result<DataType> {
    convert_sql_type(dt).map(SqlType::to_arrow)
}
