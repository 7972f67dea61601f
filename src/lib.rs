//! `olap`: an embedded columnar OLAP engine.
//!
//! A database is a directory: open it, load data, and answer SQL over it. The
//! path of a query is `sql` (parse, bind) → `plan` → `optimizer` → `exec`, over
//! `storage` and `catalog`; see the README below.
#![doc = include_str!("../README.md")]

pub mod buffer_pool;
pub mod catalog;
mod database;
pub mod error;
pub mod etl;
pub mod exec;
pub mod format;
pub mod mv;
pub mod optimizer;
pub mod plan;
pub mod sql;
pub mod storage;
pub mod tpch;
pub mod types;

pub use database::{Database, QueryResult};
pub use error::{Error, Result};
