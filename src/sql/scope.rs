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
                })
                .collect(),
        }
    }

    /// The column named `name` (qualified by `qualifier` if given), case-insensitively.
    pub fn resolve(&self, qualifier: Option<&Ident>, name: &Ident) -> Result<Expr> {
        let matches: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.name.eq_ignore_ascii_case(&name.value)
                    && qualifier.is_none_or(|q| {
                        c.qualifier
                            .as_deref()
                            .is_some_and(|cq| cq.eq_ignore_ascii_case(&q.value))
                    })
            })
            .map(|(i, _)| i)
            .collect();
        let full_name = match qualifier {
            Some(q) => format!("{}.{}", q.value, name.value),
            None => name.value.clone(),
        };
        match matches.as_slice() {
            [i] => {
                let c = &self.columns[*i];
                Ok(Expr::column(*i, c.name.clone(), c.data_type.clone()))
            }
            [] => {
                let mut msg = format!("Referenced column \"{full_name}\" not found");
                if !self.columns.is_empty() {
                    let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
                    msg.push_str(&format!(" (candidates: {})", names.join(", ")));
                }
                Err(Error::Bind(format!("{msg}{}", at(&name.span))))
            }
            _ => Err(Error::Bind(format!(
                "Ambiguous reference to column \"{full_name}\"{}",
                at(&name.span)
            ))),
        }
    }
}
