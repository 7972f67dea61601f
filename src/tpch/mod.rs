//! TPC-H tooling: generate the benchmark's eight tables into a database, run the
//! 22 queries (`sql/tpch/q01.sql` .. `q22.sql`) as a benchmark, and check their
//! results against reference answers.
//!
//! - [`generate`]: the tables at a scale factor, straight from the `tpchgen`
//!   generator's Arrow batches (`olap-cli tpch --sf N`).
//! - [`bench`]: run query files N times, time them, optionally check them
//!   (`olap-cli bench [FILES|DIRS] --runs N --check DIR`).
//! - [`check`]: compare a query result with a reference CSV file (`|`-delimited,
//!   as DuckDB writes it): DECIMAL exact, DOUBLE to a relative 1e-9.

pub mod bench;
pub mod check;
pub mod generate;

pub use bench::{run_bench, BenchOptions, BenchReport, QueryReport};
pub use check::{compare, compare_text};
pub use generate::{generate, generate_tables, Generated, TABLES};
