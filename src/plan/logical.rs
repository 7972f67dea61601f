//! The logical plan: a tree of relational operators (σ filter, π project, γ
//! aggregate, τ sort, λ limit, ∪ union, and the leaves that produce rows).
//!
//! Every node knows its output schema; expressions inside a node refer to the
//! columns of its input by position. `EXPLAIN` prints the tree with `display_tree`.

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};

use super::expr::{AggExpr, Expr};
use crate::catalog::TableMeta;
use crate::etl::{CsvOptions, FileFormat};

/// One ORDER BY key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub ascending: bool,
    pub nulls_first: bool,
}

/// A file read by `read_csv(...)` / `read_parquet(...)` in FROM.
#[derive(Debug, Clone)]
pub struct ExternalSource {
    pub path: PathBuf,
    pub format: FileFormat,
    pub csv: CsvOptions,
}

/// A relational operator tree.
#[derive(Debug, Clone)]
pub enum LogicalPlan {
    /// Reads `projection` (column indexes of the table) from every segment whose
    /// zone maps do not exclude `filters`, and keeps the rows that satisfy them.
    /// `filters` refer to the projected columns.
    Scan {
        table: Arc<TableMeta>,
        projection: Vec<usize>,
        filters: Vec<Expr>,
        schema: SchemaRef,
    },
    /// Literal rows (`VALUES`, or the single empty row of a SELECT without FROM).
    Values {
        rows: Vec<Vec<Expr>>,
        schema: SchemaRef,
    },
    /// A CSV or Parquet file read in a query.
    External {
        source: ExternalSource,
        schema: SchemaRef,
    },
    /// σ: the rows of `input` for which `predicate` is true.
    Filter {
        input: Box<LogicalPlan>,
        predicate: Expr,
    },
    /// π: one output column per expression.
    Project {
        input: Box<LogicalPlan>,
        exprs: Vec<Expr>,
        schema: SchemaRef,
    },
    /// γ: one row per distinct `group` key (one row in all when `group` is empty),
    /// with the group keys followed by the aggregates.
    Aggregate {
        input: Box<LogicalPlan>,
        group: Vec<Expr>,
        aggs: Vec<AggExpr>,
        schema: SchemaRef,
    },
    /// τ: rows ordered by `keys`; only the first `fetch` are needed when given.
    Sort {
        input: Box<LogicalPlan>,
        keys: Vec<SortKey>,
        fetch: Option<usize>,
    },
    /// λ: skips `offset` rows, then keeps at most `fetch`.
    Limit {
        input: Box<LogicalPlan>,
        offset: usize,
        fetch: Option<usize>,
    },
    /// ∪ ALL: the rows of every input, in order.
    Union {
        inputs: Vec<LogicalPlan>,
        schema: SchemaRef,
    },
}

impl LogicalPlan {
    pub fn schema(&self) -> SchemaRef {
        match self {
            LogicalPlan::Scan { schema, .. }
            | LogicalPlan::Values { schema, .. }
            | LogicalPlan::External { schema, .. }
            | LogicalPlan::Project { schema, .. }
            | LogicalPlan::Aggregate { schema, .. }
            | LogicalPlan::Union { schema, .. } => schema.clone(),
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Sort { input, .. }
            | LogicalPlan::Limit { input, .. } => input.schema(),
        }
    }

    /// The inputs of this node.
    pub fn inputs(&self) -> Vec<&LogicalPlan> {
        match self {
            LogicalPlan::Scan { .. }
            | LogicalPlan::Values { .. }
            | LogicalPlan::External { .. } => {
                vec![]
            }
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Project { input, .. }
            | LogicalPlan::Aggregate { input, .. }
            | LogicalPlan::Sort { input, .. }
            | LogicalPlan::Limit { input, .. } => vec![input],
            LogicalPlan::Union { inputs, .. } => inputs.iter().collect(),
        }
    }

    /// A projection of `exprs` over `input`, named `names`.
    pub fn project(input: LogicalPlan, exprs: Vec<Expr>, names: Vec<String>) -> LogicalPlan {
        let schema = schema_of(&exprs, &names);
        LogicalPlan::Project {
            input: Box::new(input),
            exprs,
            schema,
        }
    }

    /// The plan as an indented tree, one operator per line (EXPLAIN's output).
    pub fn display_tree(&self) -> String {
        let mut out = String::new();
        self.write_tree(&mut out, 0);
        out
    }

    fn write_tree(&self, out: &mut String, depth: usize) {
        let pad = "  ".repeat(depth);
        let list = |exprs: &[Expr]| {
            exprs
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = match self {
            LogicalPlan::Scan {
                table,
                projection,
                filters,
                ..
            } => {
                let cols: Vec<&str> = projection
                    .iter()
                    .map(|&i| table.columns[i].name.as_str())
                    .collect();
                let mut line = format!("{pad}Scan: {} columns=[{}]", table.name, cols.join(", "));
                if !filters.is_empty() {
                    let _ = write!(line, " filters=[{}]", list(filters));
                }
                let read = crate::exec::sources::matching_segments(table, projection, filters);
                let total = table.data.segments.len();
                writeln!(out, "{line} segments={read}/{total}")
            }
            LogicalPlan::Values { rows, .. } => writeln!(out, "{pad}Values: {} rows", rows.len()),
            LogicalPlan::External { source, .. } => {
                writeln!(
                    out,
                    "{pad}ReadFile: {} ({:?})",
                    source.path.display(),
                    source.format
                )
            }
            LogicalPlan::Filter { predicate, .. } => writeln!(out, "{pad}Filter σ: {predicate}"),
            LogicalPlan::Project { exprs, schema, .. } => {
                let items: Vec<String> = exprs
                    .iter()
                    .zip(schema.fields())
                    .map(|(e, f)| {
                        let text = e.to_string();
                        if &text == f.name() {
                            text
                        } else {
                            format!("{text} AS {}", f.name())
                        }
                    })
                    .collect();
                writeln!(out, "{pad}Project π: {}", items.join(", "))
            }
            LogicalPlan::Aggregate { group, aggs, .. } => {
                let aggs: Vec<String> = aggs.iter().map(|a| a.to_string()).collect();
                writeln!(
                    out,
                    "{pad}Aggregate γ: group=[{}] aggregates=[{}]",
                    list(group),
                    aggs.join(", ")
                )
            }
            LogicalPlan::Sort { keys, fetch, .. } => {
                let keys: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        format!(
                            "{} {} NULLS {}",
                            k.expr,
                            if k.ascending { "ASC" } else { "DESC" },
                            if k.nulls_first { "FIRST" } else { "LAST" }
                        )
                    })
                    .collect();
                let top = fetch.map(|n| format!(" top={n}")).unwrap_or_default();
                writeln!(out, "{pad}Sort τ: {}{top}", keys.join(", "))
            }
            LogicalPlan::Limit { offset, fetch, .. } => {
                let fetch = fetch.map(|n| n.to_string()).unwrap_or_else(|| "ALL".into());
                writeln!(out, "{pad}Limit λ: {fetch} offset {offset}")
            }
            LogicalPlan::Union { .. } => writeln!(out, "{pad}Union ∪ ALL"),
        };
        for input in self.inputs() {
            input.write_tree(out, depth + 1);
        }
    }
}

/// The schema of a row of `exprs` named `names` (every column nullable).
pub fn schema_of(exprs: &[Expr], names: &[String]) -> SchemaRef {
    Arc::new(Schema::new(
        exprs
            .iter()
            .zip(names)
            .map(|(e, n)| Field::new(n, e.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}
