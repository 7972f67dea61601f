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
use super::window::WindowExpr;
use crate::catalog::TableMeta;
use crate::etl::{CsvOptions, FileFormat};

/// One ORDER BY key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub ascending: bool,
    pub nulls_first: bool,
}

/// How a join combines its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    /// Every left row, with NULLs where no right row matches.
    Left,
    Right,
    Full,
    /// The left rows that have a match (each once); only the left columns.
    Semi,
    /// The left rows that have no match; only the left columns.
    Anti,
    /// `NOT IN`: like Anti, but no row qualifies if the right side has a NULL key,
    /// and a left row with a NULL key qualifies only if the right side is empty.
    NullAwareAnti,
    /// The right rows that have a match (each once); only the right columns. A
    /// semi join with its inputs swapped, so that the hash table is built on the
    /// smaller input (chosen by the optimizer's last step).
    RightSemi,
    /// The right rows that have no match; only the right columns.
    RightAnti,
}

impl JoinKind {
    /// Whether the output has only the left input's columns.
    pub fn left_only(self) -> bool {
        matches!(
            self,
            JoinKind::Semi | JoinKind::Anti | JoinKind::NullAwareAnti
        )
    }

    /// Whether the output has only the right input's columns.
    pub fn right_only(self) -> bool {
        matches!(self, JoinKind::RightSemi | JoinKind::RightAnti)
    }
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
    ///
    /// With `grouping_sets` (`GROUPING SETS`, `CUBE`, `ROLLUP`), each set lists the
    /// positions in `group` it groups by: one row per distinct key of each set
    /// (duplicate sets give duplicate rows; an empty set gives one row even over no
    /// input), with the keys not in the set NULL, all computed in one pass. The
    /// output then ends with one more column after the aggregates, `#grouping_id`
    /// (BIGINT): a bit per group key, the first key's the most significant, set
    /// when that key is not in the row's set.
    Aggregate {
        input: Box<LogicalPlan>,
        group: Vec<Expr>,
        aggs: Vec<AggExpr>,
        grouping_sets: Option<Vec<Vec<usize>>>,
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
    /// ⋈: pairs of rows where every `on` pair of keys is equal (NULL never equals)
    /// and `filter` (over left columns followed by right columns) holds. No keys
    /// and no filter is a cross product.
    Join {
        left: Box<LogicalPlan>,
        right: Box<LogicalPlan>,
        kind: JoinKind,
        on: Vec<(Expr, Expr)>,
        filter: Option<Expr>,
        schema: SchemaRef,
    },
    /// ∪ ALL: the rows of every input, in order.
    Union {
        inputs: Vec<LogicalPlan>,
        schema: SchemaRef,
    },
    /// `WITH RECURSIVE`: the rows of `anchor`, then of `recursive` run again
    /// and again over the rows the run before added (read by its
    /// [`LogicalPlan::WorkTable`] of the same `id`) until it adds none; with
    /// `distinct` (UNION), rows already there are not added again.
    RecursiveCte {
        anchor: Box<LogicalPlan>,
        recursive: Box<LogicalPlan>,
        id: usize,
        distinct: bool,
        schema: SchemaRef,
    },
    /// Inside a recursive CTE's recursive part: the rows its last run added.
    WorkTable { id: usize, schema: SchemaRef },
    /// `left, LATERAL (right)` / `left JOIN LATERAL (right) ON filter`: `right`
    /// reads columns of `left`'s row as outer columns of depth 1. Unnested into
    /// a join by the optimizer's first rule; never executed.
    LateralJoin {
        left: Box<LogicalPlan>,
        right: Box<LogicalPlan>,
        kind: JoinKind,
        filter: Option<Expr>,
        schema: SchemaRef,
    },
    /// Window functions: every input row with one more column per function,
    /// computed over the rows of its partition (equal `partition_by` keys) in
    /// `order_by` order. Rows come out grouped by partition.
    Window {
        input: Box<LogicalPlan>,
        partition_by: Vec<Expr>,
        order_by: Vec<SortKey>,
        functions: Vec<WindowExpr>,
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
            | LogicalPlan::Join { schema, .. }
            | LogicalPlan::Union { schema, .. }
            | LogicalPlan::Window { schema, .. }
            | LogicalPlan::LateralJoin { schema, .. }
            | LogicalPlan::RecursiveCte { schema, .. }
            | LogicalPlan::WorkTable { schema, .. } => schema.clone(),
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Sort { input, .. }
            | LogicalPlan::Limit { input, .. } => input.schema(),
        }
    }

    /// A reference to each output column of this node, in order.
    pub fn output_columns(&self) -> Vec<Expr> {
        self.schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| Expr::column(i, f.name().clone(), f.data_type().clone()))
            .collect()
    }

    /// The inputs of this node.
    pub fn inputs(&self) -> Vec<&LogicalPlan> {
        match self {
            LogicalPlan::Scan { .. }
            | LogicalPlan::Values { .. }
            | LogicalPlan::External { .. }
            | LogicalPlan::WorkTable { .. } => {
                vec![]
            }
            LogicalPlan::RecursiveCte {
                anchor, recursive, ..
            } => vec![anchor, recursive],
            LogicalPlan::Filter { input, .. }
            | LogicalPlan::Project { input, .. }
            | LogicalPlan::Aggregate { input, .. }
            | LogicalPlan::Sort { input, .. }
            | LogicalPlan::Limit { input, .. }
            | LogicalPlan::Window { input, .. } => vec![input],
            LogicalPlan::Join { left, right, .. }
            | LogicalPlan::LateralJoin { left, right, .. } => {
                vec![left, right]
            }
            LogicalPlan::Union { inputs, .. } => inputs.iter().collect(),
        }
    }

    /// A join of `left` and `right`, with the output schema its kind implies.
    pub fn join(
        left: LogicalPlan,
        right: LogicalPlan,
        kind: JoinKind,
        on: Vec<(Expr, Expr)>,
        filter: Option<Expr>,
    ) -> LogicalPlan {
        let schema = join_schema(&left.schema(), &right.schema(), kind);
        LogicalPlan::Join {
            left: Box::new(left),
            right: Box::new(right),
            kind,
            on,
            filter,
            schema,
        }
    }

    /// Every expression held by this node (not its inputs').
    pub fn expressions(&self) -> Vec<&Expr> {
        match self {
            LogicalPlan::Scan { filters, .. } => filters.iter().collect(),
            LogicalPlan::Values { rows, .. } => rows.iter().flatten().collect(),
            LogicalPlan::Filter { predicate, .. } => vec![predicate],
            LogicalPlan::Project { exprs, .. } => exprs.iter().collect(),
            LogicalPlan::Aggregate { group, aggs, .. } => group
                .iter()
                .chain(aggs.iter().flat_map(AggExpr::expressions))
                .collect(),
            LogicalPlan::Sort { keys, .. } => keys.iter().map(|k| &k.expr).collect(),
            LogicalPlan::Window {
                partition_by,
                order_by,
                functions,
                ..
            } => partition_by
                .iter()
                .chain(order_by.iter().map(|k| &k.expr))
                .chain(functions.iter().flat_map(WindowExpr::expressions))
                .collect(),
            LogicalPlan::Join { on, filter, .. } => on
                .iter()
                .flat_map(|(l, r)| [l, r])
                .chain(filter.iter())
                .collect(),
            LogicalPlan::LateralJoin { filter, .. } => filter.iter().collect(),
            LogicalPlan::RecursiveCte { .. } | LogicalPlan::WorkTable { .. } => vec![],
            LogicalPlan::External { .. }
            | LogicalPlan::Limit { .. }
            | LogicalPlan::Union { .. } => vec![],
        }
    }

    /// Rebuilds this node with `f` applied to each expression it holds (not to
    /// its inputs' expressions).
    pub fn try_map_expressions(
        self,
        f: &mut impl FnMut(Expr) -> crate::Result<Expr>,
    ) -> crate::Result<LogicalPlan> {
        let all = |v: Vec<Expr>, f: &mut dyn FnMut(Expr) -> crate::Result<Expr>| {
            v.into_iter().map(f).collect::<crate::Result<Vec<_>>>()
        };
        Ok(match self {
            LogicalPlan::Scan {
                table,
                projection,
                filters,
                schema,
            } => LogicalPlan::Scan {
                table,
                projection,
                filters: all(filters, f)?,
                schema,
            },
            LogicalPlan::Values { rows, schema } => LogicalPlan::Values {
                rows: rows
                    .into_iter()
                    .map(|r| all(r, f))
                    .collect::<crate::Result<_>>()?,
                schema,
            },
            LogicalPlan::Filter { input, predicate } => LogicalPlan::Filter {
                input,
                predicate: f(predicate)?,
            },
            LogicalPlan::Project {
                input,
                exprs,
                schema,
            } => LogicalPlan::Project {
                input,
                exprs: all(exprs, f)?,
                schema,
            },
            LogicalPlan::Aggregate {
                input,
                group,
                aggs,
                grouping_sets,
                schema,
            } => LogicalPlan::Aggregate {
                input,
                grouping_sets,
                group: all(group, f)?,
                aggs: aggs
                    .into_iter()
                    .map(|a| a.try_map_expressions(f))
                    .collect::<crate::Result<_>>()?,
                schema,
            },
            LogicalPlan::Sort { input, keys, fetch } => LogicalPlan::Sort {
                input,
                keys: keys
                    .into_iter()
                    .map(|k| {
                        Ok(SortKey {
                            expr: f(k.expr)?,
                            ..k
                        })
                    })
                    .collect::<crate::Result<_>>()?,
                fetch,
            },
            LogicalPlan::Join {
                left,
                right,
                kind,
                on,
                filter,
                schema,
            } => LogicalPlan::Join {
                left,
                right,
                kind,
                on: on
                    .into_iter()
                    .map(|(l, r)| Ok((f(l)?, f(r)?)))
                    .collect::<crate::Result<_>>()?,
                filter: filter.map(&mut *f).transpose()?,
                schema,
            },
            LogicalPlan::Window {
                input,
                partition_by,
                order_by,
                functions,
                schema,
            } => LogicalPlan::Window {
                input,
                partition_by: all(partition_by, f)?,
                order_by: order_by
                    .into_iter()
                    .map(|k| {
                        Ok(SortKey {
                            expr: f(k.expr)?,
                            ..k
                        })
                    })
                    .collect::<crate::Result<_>>()?,
                functions: functions
                    .into_iter()
                    .map(|w| w.try_map_expressions(f))
                    .collect::<crate::Result<_>>()?,
                schema,
            },
            LogicalPlan::LateralJoin {
                left,
                right,
                kind,
                filter,
                schema,
            } => LogicalPlan::LateralJoin {
                left,
                right,
                kind,
                filter: filter.map(&mut *f).transpose()?,
                schema,
            },
            other @ (LogicalPlan::External { .. }
            | LogicalPlan::Limit { .. }
            | LogicalPlan::Union { .. }
            | LogicalPlan::RecursiveCte { .. }
            | LogicalPlan::WorkTable { .. }) => other,
        })
    }

    /// Whether any expression in this plan refers to an enclosing query's columns.
    pub fn has_outer_references(&self) -> bool {
        self.references_beyond(0)
    }

    /// Whether this plan, `level` subqueries deep inside another, refers to a
    /// query outside that other plan (see [`Expr::references_beyond`]).
    pub fn references_beyond(&self, level: usize) -> bool {
        self.expressions()
            .into_iter()
            .any(|e| e.references_beyond(level))
            || self
                .inputs()
                .into_iter()
                .any(|i| i.references_beyond(level))
    }

    /// This node with `f` applied to each of its inputs.
    pub fn map_inputs(self, f: &mut impl FnMut(LogicalPlan) -> LogicalPlan) -> LogicalPlan {
        let mut bx = |p: Box<LogicalPlan>| Box::new(f(*p));
        match self {
            leaf @ (LogicalPlan::Scan { .. }
            | LogicalPlan::Values { .. }
            | LogicalPlan::External { .. }
            | LogicalPlan::WorkTable { .. }) => leaf,
            LogicalPlan::RecursiveCte {
                anchor,
                recursive,
                id,
                distinct,
                schema,
            } => LogicalPlan::RecursiveCte {
                anchor: bx(anchor),
                recursive: bx(recursive),
                id,
                distinct,
                schema,
            },
            LogicalPlan::Filter { input, predicate } => LogicalPlan::Filter {
                input: bx(input),
                predicate,
            },
            LogicalPlan::Project {
                input,
                exprs,
                schema,
            } => LogicalPlan::Project {
                input: bx(input),
                exprs,
                schema,
            },
            LogicalPlan::Aggregate {
                input,
                group,
                aggs,
                grouping_sets,
                schema,
            } => LogicalPlan::Aggregate {
                input: bx(input),
                group,
                aggs,
                grouping_sets,
                schema,
            },
            LogicalPlan::Sort { input, keys, fetch } => LogicalPlan::Sort {
                input: bx(input),
                keys,
                fetch,
            },
            LogicalPlan::Limit {
                input,
                offset,
                fetch,
            } => LogicalPlan::Limit {
                input: bx(input),
                offset,
                fetch,
            },
            LogicalPlan::Join {
                left,
                right,
                kind,
                on,
                filter,
                schema,
            } => LogicalPlan::Join {
                left: bx(left),
                right: bx(right),
                kind,
                on,
                filter,
                schema,
            },
            LogicalPlan::Union { inputs, schema } => LogicalPlan::Union {
                inputs: inputs.into_iter().map(f).collect(),
                schema,
            },
            LogicalPlan::LateralJoin {
                left,
                right,
                kind,
                filter,
                schema,
            } => LogicalPlan::LateralJoin {
                left: bx(left),
                right: bx(right),
                kind,
                filter,
                schema,
            },
            LogicalPlan::Window {
                input,
                partition_by,
                order_by,
                functions,
                schema,
            } => LogicalPlan::Window {
                input: bx(input),
                partition_by,
                order_by,
                functions,
                schema,
            },
        }
    }

    /// This node with the fallible `f` applied to each of its inputs; the
    /// first error is returned.
    pub fn try_map_inputs(
        self,
        f: &mut impl FnMut(LogicalPlan) -> crate::Result<LogicalPlan>,
    ) -> crate::Result<LogicalPlan> {
        let mut error = None;
        let plan = self.map_inputs(&mut |input| match f(input) {
            Ok(p) => p,
            Err(e) => {
                error.get_or_insert(e);
                LogicalPlan::Values {
                    rows: vec![],
                    schema: Arc::new(Schema::empty()),
                }
            }
        });
        error.map_or(Ok(plan), Err)
    }

    /// This plan with the outer columns it reads `depth` levels out (1: those
    /// of the query it is a subquery of) renumbered by `f`, in its own
    /// expressions and its subqueries' (where they are one level further).
    pub fn map_outer_columns(
        self,
        depth: usize,
        f: &mut dyn FnMut(usize) -> crate::Result<usize>,
    ) -> crate::Result<LogicalPlan> {
        let plan = self.try_map_expressions(&mut |e| e.map_outer_columns(depth, f))?;
        plan.try_map_inputs(&mut |input| input.map_outer_columns(depth, f))
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
            LogicalPlan::Aggregate {
                group,
                aggs,
                grouping_sets,
                ..
            } => {
                let aggs: Vec<String> = aggs.iter().map(|a| a.to_string()).collect();
                let sets = grouping_sets
                    .as_ref()
                    .map(|sets| {
                        let sets: Vec<String> = sets
                            .iter()
                            .map(|s| {
                                let keys: Vec<String> =
                                    s.iter().map(|&i| group[i].to_string()).collect();
                                format!("({})", keys.join(", "))
                            })
                            .collect();
                        format!(" sets=[{}]", sets.join(", "))
                    })
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{pad}Aggregate γ: group=[{}]{sets} aggregates=[{}]",
                    list(group),
                    aggs.join(", ")
                )
            }
            LogicalPlan::Sort { keys, fetch, .. } => {
                let top = fetch.map(|n| format!(" top={n}")).unwrap_or_default();
                writeln!(out, "{pad}Sort τ: {}{top}", sort_keys_text(keys))
            }
            LogicalPlan::Window {
                partition_by,
                order_by,
                functions,
                ..
            } => {
                let functions: Vec<String> = functions.iter().map(|w| w.to_string()).collect();
                writeln!(
                    out,
                    "{pad}Window: partition=[{}] order=[{}] functions=[{}]",
                    list(partition_by),
                    sort_keys_text(order_by),
                    functions.join(", ")
                )
            }
            LogicalPlan::Limit { offset, fetch, .. } => {
                let fetch = fetch.map(|n| n.to_string()).unwrap_or_else(|| "ALL".into());
                writeln!(out, "{pad}Limit λ: {fetch} offset {offset}")
            }
            LogicalPlan::Join {
                kind, on, filter, ..
            } => {
                let keys: Vec<String> = on.iter().map(|(l, r)| format!("{l} = {r}")).collect();
                let mut line = format!("{pad}Join ⋈ {kind:?}");
                if !keys.is_empty() {
                    let _ = write!(line, " on=[{}]", keys.join(", "));
                }
                if let Some(f) = filter {
                    let _ = write!(line, " filter={f}");
                }
                if keys.is_empty() && filter.is_none() {
                    line.push_str(" (cross product)");
                }
                writeln!(out, "{line}")
            }
            LogicalPlan::Union { .. } => writeln!(out, "{pad}Union ∪ ALL"),
            LogicalPlan::RecursiveCte { id, distinct, .. } => {
                let union = if *distinct { "UNION" } else { "UNION ALL" };
                writeln!(out, "{pad}RecursiveCte #{id} ({union})")
            }
            LogicalPlan::WorkTable { id, .. } => writeln!(out, "{pad}WorkTable #{id}"),
            LogicalPlan::LateralJoin { kind, filter, .. } => {
                let filter = filter
                    .as_ref()
                    .map(|f| format!(" filter={f}"))
                    .unwrap_or_default();
                writeln!(out, "{pad}LateralJoin {kind:?}{filter}")
            }
        };
        for input in self.inputs() {
            input.write_tree(out, depth + 1);
        }
    }
}

/// ORDER BY keys as EXPLAIN prints them.
fn sort_keys_text(keys: &[SortKey]) -> String {
    keys.iter()
        .map(|k| {
            format!(
                "{} {} NULLS {}",
                k.expr,
                if k.ascending { "ASC" } else { "DESC" },
                if k.nulls_first { "FIRST" } else { "LAST" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
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

/// The output schema of a join: left then right columns, or only left for
/// semi and anti joins. Columns on the side that may be NULL-extended are nullable.
pub fn join_schema(left: &SchemaRef, right: &SchemaRef, kind: JoinKind) -> SchemaRef {
    if kind.left_only() {
        return left.clone();
    }
    if kind.right_only() {
        return right.clone();
    }
    let nullable = |f: &Arc<Field>, extended: bool| {
        Arc::new(
            f.as_ref()
                .clone()
                .with_nullable(f.is_nullable() || extended),
        )
    };
    let left_extended = matches!(kind, JoinKind::Right | JoinKind::Full);
    let right_extended = matches!(kind, JoinKind::Left | JoinKind::Full);
    let fields: Vec<Arc<Field>> = left
        .fields()
        .iter()
        .map(|f| nullable(f, left_extended))
        .chain(right.fields().iter().map(|f| nullable(f, right_extended)))
        .collect();
    Arc::new(Schema::new(fields))
}
