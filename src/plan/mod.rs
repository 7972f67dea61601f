//! The logical plan: relational operators over bound expressions.

mod expr;
mod logical;

pub use expr::{AggExpr, AggFunc, BinaryOp, DatePart, Expr, ScalarFunc};
pub use logical::{schema_of, ExternalSource, LogicalPlan, SortKey};
