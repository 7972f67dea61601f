//! `olap`: an embedded columnar OLAP engine.
//!
//! A database is a directory. Open it, load data, and answer SQL over it:
//!
//! ```
//! # fn main() -> olap::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("olap-doc-{}", std::process::id()));
//! let db = olap::Database::open(&dir)?;
//! db.execute("CREATE TABLE sales (store VARCHAR, revenue DECIMAL(10,2))")?;
//! db.execute("INSERT INTO sales VALUES ('north', 10.50), ('south', 4.25), ('north', 1.25)")?;
//! let result = db.query("SELECT store, SUM(revenue) AS total FROM sales GROUP BY store ORDER BY store")?;
//! assert_eq!(result.num_rows(), 2);
//! assert_eq!(result.to_string_rows()[0], vec!["north", "11.75"]);
//! # drop(db); std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

pub mod catalog;
mod database;
pub mod error;
pub mod etl;
pub mod exec;
pub mod format;
pub mod optimizer;
pub mod plan;
pub mod sql;
pub mod storage;
pub mod types;

pub use database::{Database, QueryResult};
pub use error::{Error, Result};
