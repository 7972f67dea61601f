//! Aggregates that one query computes more than once.
//!
//! A CTE read twice is inlined twice (TPC-H Q15 reads `revenue0` in its FROM
//! and again in a scalar subquery), so the same aggregation of the same input
//! appears twice in the plan. Before a query runs, the aggregate subtrees that
//! occur more than once, in the plan and in its uncorrelated scalar
//! subqueries, are found by their text (the plan's `Debug` form: the same
//! operators, expressions, tables and types). The first run of one keeps its
//! result rows for the others, when they are small (at most a sixteenth of the
//! memory limit) and none were spilled. A plan that reads a recursive CTE's
//! work table shares nothing: its input changes from one run to the next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;

use super::memory::batches_size;
use crate::plan::{Expr, LogicalPlan};

/// The repeated aggregates of a query, and the rows of those computed so far.
#[derive(Default)]
pub struct SharedAggregates {
    results: Mutex<HashMap<String, Option<Arc<Vec<RecordBatch>>>>>,
}

impl SharedAggregates {
    /// The aggregates `plan` computes more than once.
    pub fn of(plan: &LogicalPlan) -> SharedAggregates {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut recursive = false;
        each_node(plan, &mut |node| match node {
            LogicalPlan::Aggregate { .. } => *seen.entry(format!("{node:?}")).or_default() += 1,
            LogicalPlan::WorkTable { .. } | LogicalPlan::RecursiveCte { .. } => recursive = true,
            _ => {}
        });
        if recursive {
            seen.clear();
        }
        let results = seen
            .into_iter()
            .filter(|(_, count)| *count > 1)
            .map(|(text, _)| (text, None))
            .collect();
        SharedAggregates {
            results: Mutex::new(results),
        }
    }

    /// The key of `plan` if it is one of the repeated aggregates.
    pub fn key(&self, plan: &LogicalPlan) -> Option<String> {
        let results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        if results.is_empty() {
            return None;
        }
        let text = format!("{plan:?}");
        results.contains_key(&text).then_some(text)
    }

    /// The rows computed for `key`, if they were kept.
    pub fn get(&self, key: &str) -> Option<Arc<Vec<RecordBatch>>> {
        let results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        results.get(key).cloned().flatten()
    }

    /// Keeps the rows of `key` for its other runs, if they take at most
    /// `max_bytes`.
    pub fn keep(&self, key: String, batches: &[RecordBatch], max_bytes: usize) {
        if batches_size(batches) <= max_bytes {
            let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
            results.insert(key, Some(Arc::new(batches.to_vec())));
        }
    }
}

/// Calls `visit` with `plan`, every node below it, and the nodes of the
/// scalar subqueries in their expressions.
fn each_node(plan: &LogicalPlan, visit: &mut impl FnMut(&LogicalPlan)) {
    visit(plan);
    for input in plan.inputs() {
        each_node(input, visit);
    }
    for expr in plan.expressions() {
        each_subquery(expr, visit);
    }
}

fn each_subquery(expr: &Expr, visit: &mut impl FnMut(&LogicalPlan)) {
    if let Expr::ScalarSubquery(q) = expr {
        each_node(&q.0, visit);
    }
    for child in expr.children() {
        each_subquery(child, visit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cte_read_twice_is_one_aggregate_computed_once() {
        let dir = std::env::temp_dir().join(format!("olap-shared-{}", std::process::id()));
        let db = crate::Database::open(&dir).unwrap();
        db.execute("CREATE TABLE t (k INTEGER, v INTEGER)").unwrap();
        db.execute("INSERT INTO t VALUES (1, 10), (1, 5), (2, 7), (3, 15), (NULL, 15)")
            .unwrap();
        let sql = "WITH s AS (SELECT k, SUM(v) AS total FROM t GROUP BY k) \
                   SELECT k FROM s WHERE total = (SELECT MAX(total) FROM s) ORDER BY k";
        let rows = db.query(sql).unwrap().to_string_rows();
        assert_eq!(rows, vec![vec!["1"], vec!["3"], vec!["NULL"]]);

        let catalog = crate::catalog::Catalog::load(&dir).unwrap();
        let plan = crate::sql::bind_query_text(&catalog, sql).unwrap();
        let shared = SharedAggregates::of(&plan);
        assert_eq!(shared.results.lock().unwrap().len(), 1);
        let mut aggregate = None;
        each_node(&plan, &mut |node| {
            if matches!(node, LogicalPlan::Aggregate { .. }) {
                aggregate.get_or_insert_with(|| node.clone());
            }
        });
        let key = shared
            .key(&aggregate.unwrap())
            .expect("a repeated aggregate");
        assert!(shared.get(&key).is_none());
        let batches = db.query("SELECT 1").unwrap().batches;
        shared.keep(key.clone(), &batches, usize::MAX);
        assert_eq!(shared.get(&key).unwrap().len(), batches.len());

        // Nothing is shared once a recursive CTE is involved, nor when no
        // aggregate repeats.
        let recursive = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL \
                         SELECT n + 1 FROM r WHERE n < (SELECT MAX(k) FROM t)) \
                         SELECT (SELECT MAX(k) FROM t), COUNT(*) FROM r";
        let plan = crate::sql::bind_query_text(&catalog, recursive).unwrap();
        assert!(SharedAggregates::of(&plan)
            .results
            .lock()
            .unwrap()
            .is_empty());
        assert_eq!(
            db.query(recursive).unwrap().to_string_rows(),
            vec![vec!["3", "3"]]
        );
        let once = crate::sql::bind_query_text(&catalog, "SELECT SUM(v) FROM t").unwrap();
        assert!(SharedAggregates::of(&once)
            .results
            .lock()
            .unwrap()
            .is_empty());
        drop(db);
        std::fs::remove_dir_all(&dir).ok();
    }
}
