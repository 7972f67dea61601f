//! The names visible to an expression: the columns of the FROM clause, each with
//! the table name or alias that qualifies it.

use arrow::datatypes::{DataType, SchemaRef};
use sqlparser::ast::Ident;

use super::at;
use crate::error::{Error, Result};
use crate::plan::Expr;

#[derive(Debug, Clone)]
pub struct ScopeColumn {
    pub qualifier: Option<String>,
    pub name: String,
    pub data_type: DataType,
    /// The right-hand copy of a `JOIN ... USING` column: found only when qualified.
    pub using_duplicate: bool,
}

/// The columns of a relation, in the order of its output row.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub columns: Vec<ScopeColumn>,
}

impl Scope {
    /// The columns of `schema`, all qualified by `qualifier`.
    pub fn from_schema(schema: &SchemaRef, qualifier: Option<&str>) -> Scope {
        Scope {
            columns: schema
                .fields()
                .iter()
                .map(|f| ScopeColumn {
                    qualifier: qualifier.map(str::to_string),
                    name: f.name().clone(),
                    data_type: f.data_type().clone(),
                    using_duplicate: false,
                })
                .collect(),
        }
    }

    /// This scope's columns followed by `other`'s (the scope of a join).
    pub fn concat(mut self, other: Scope) -> Scope {
        self.columns.extend(other.columns);
        self
    }

    /// The column named `name` (qualified by `qualifier` if given), case-insensitively.
    pub fn resolve(&self, qualifier: Option<&Ident>, name: &Ident) -> Result<Expr> {
        self.lookup(qualifier, name)?
            .ok_or_else(|| self.not_found(qualifier, name))
    }

    /// Like `resolve`, but `None` when there is no such column (an ambiguous name
    /// is still an error).
    pub fn lookup(&self, qualifier: Option<&Ident>, name: &Ident) -> Result<Option<Expr>> {
        let matches: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                !(c.using_duplicate && qualifier.is_none())
                    && c.name.eq_ignore_ascii_case(&name.value)
                    && qualifier.is_none_or(|q| {
                        c.qualifier
                            .as_deref()
                            .is_some_and(|cq| cq.eq_ignore_ascii_case(&q.value))
                    })
            })
            .map(|(i, _)| i)
            .collect();
        match matches.as_slice() {
            [] => Ok(None),
            [i] => {
                let c = &self.columns[*i];
                Ok(Some(Expr::column(*i, c.name.clone(), c.data_type.clone())))
            }
            _ => Err(Error::Bind(format!(
                "Ambiguous reference to column \"{}\"{}",
                full_name(qualifier, name),
                at(&name.span)
            ))),
        }
    }

    /// The error for a name that no column has.
    pub fn not_found(&self, qualifier: Option<&Ident>, name: &Ident) -> Error {
        let mut msg = format!(
            "Referenced column \"{}\" not found",
            full_name(qualifier, name)
        );
        if !self.columns.is_empty() {
            // Not the engine's own columns (`#...`).
            let names: Vec<&str> = self
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .filter(|n| !n.starts_with('#'))
                .collect();
            msg.push_str(&format!(" (candidates: {})", names.join(", ")));
        }
        Error::Bind(format!("{msg}{}", at(&name.span)))
    }
}

fn full_name(qualifier: Option<&Ident>, name: &Ident) -> String {
    match qualifier {
        Some(q) => format!("{}.{}", q.value, name.value),
        None => name.value.clone(),
    }
}
