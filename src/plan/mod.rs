//! The logical plan: relational operators over bound expressions.

mod expr;
mod functions;
mod logical;
mod window;

pub use expr::{AggExpr, AggFunc, BinaryOp, Expr, Subquery};
pub use functions::{DatePart, FloatFunc, ScalarFunc};
pub use logical::{join_schema, schema_of, ExternalSource, JoinKind, LogicalPlan, SortKey};
pub use window::{FrameBound, FrameUnits, WindowExpr, WindowFrame, WindowFunc};
