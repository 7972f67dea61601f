//! The logical plan: relational operators over bound expressions.

mod expr;
mod logical;

pub use expr::{AggExpr, AggFunc, BinaryOp, DatePart, Expr, ScalarFunc, Subquery};
pub use logical::{join_schema, schema_of, ExternalSource, JoinKind, LogicalPlan, SortKey};
