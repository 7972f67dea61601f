//! CREATE / REFRESH / DROP CUBE: a cube's cuboids are materialized views, so
//! they refresh (incrementally after appends) and answer queries (through the
//! view rewrite, from the smallest cuboid that can) like any other.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};

use super::{conform, refreshed_view, Database, NewRows, QueryResult, State};
use crate::catalog::{BaseSnapshot, CubeMeta, MaterializedView, TableMeta};
use crate::error::{Error, Result};
use crate::mv::{
    self,
    cube::{check_measures, choose_cuboids, cuboid_mask, cuboid_name, cuboid_size_sql, cuboid_sql},
};
use crate::sql::{self, CubeDefinition};
use crate::storage::{writer::write_tables, TableData, SEGMENT_ROWS};

impl Database {
    pub(super) fn create_cube(
        &self,
        state: &mut State,
        cube: CubeDefinition,
    ) -> Result<QueryResult> {
        if state.catalog.has_relation(&cube.name) {
            return Err(Error::Catalog(format!(
                "a table, view, materialized view or cube named \"{}\" already exists",
                cube.name
            )));
        }
        check_measures(&cube)?;
        let k = cube.dimensions.len();
        let full = (1usize << k) - 1;
        if let Some(taken) = (0..=full)
            .map(|mask| cuboid_name(&cube.name, mask, k))
            .find(|n| state.catalog.has_relation(n))
        {
            return Err(Error::Catalog(format!(
                "cube {} would store a cuboid as \"{taken}\", which already exists",
                cube.name
            )));
        }

        // The base cuboid first: it answers every group-by, and sizes the others.
        let base = self.build_cuboid(state, &cube, full)?;
        let base_rows = base.data.row_count();
        let mut sizes = vec![0u64; full + 1];
        sizes[full] = base_rows;
        // Count each cuboid's groups over the stored base cuboid (visible to
        // these queries only through a temporary catalog entry).
        let saved = state.catalog.clone();
        state
            .catalog
            .mviews
            .insert(base.name.to_lowercase(), base.clone());
        // The base cuboid stays visible (not yet committed) while the others are
        // sized and built, so that their queries are answered from it.
        let built = (0..full)
            .try_for_each(|mask| {
                let result = self.run_sql(state, &cuboid_size_sql(&base.name, mask, k))?;
                sizes[mask] = result.to_string_rows()[0][0].parse().unwrap_or(1);
                Ok::<_, Error>(())
            })
            .and_then(|()| {
                let budget = cube.budget.unwrap_or(2 * base_rows.max(1));
                let chosen = choose_cuboids(&sizes, k, budget);
                let mut views = vec![base.clone()];
                for &mask in &chosen[1..] {
                    views.push(self.build_cuboid(state, &cube, mask)?);
                }
                Ok(views)
            });
        state.catalog = saved;
        let views = built?;
        let meta = CubeMeta {
            name: cube.name.clone(),
            from: cube.from.clone(),
            dimensions: cube.dimensions.clone(),
            measures: cube.measures.iter().map(|m| m.to_string()).collect(),
            cuboids: views.iter().map(|v| v.name.clone()).collect(),
        };
        let summary = cuboid_summary(&views);
        self.commit_mviews(state, views, Some(meta))?;
        summary
    }

    /// Computes cuboid `mask` of `cube` as a materialized view (uncommitted).
    fn build_cuboid(
        &self,
        state: &mut State,
        cube: &CubeDefinition,
        mask: usize,
    ) -> Result<MaterializedView> {
        let name = cuboid_name(&cube.name, mask, cube.dimensions.len());
        let text = cuboid_sql(cube, mask);
        let query = sql::bind_query_text(&state.catalog, &text)?;
        self.build_mview(state, &name, text, query, Some(cube.name.clone()))
    }

    /// Runs one SQL query against the current state.
    fn run_sql(&self, state: &mut State, text: &str) -> Result<QueryResult> {
        let query = sql::bind_query_text(&state.catalog, text)?;
        self.run_query(state, query)
    }

    /// REFRESH CUBE: the base cuboid is refreshed like a materialized view
    /// (incrementally after appends) but not written yet; then every other stored
    /// cuboid is rolled up in memory from its smallest refreshed ancestor, level
    /// by level (the cuboids of a level side by side, one per worker); last, all
    /// cuboids are written into one file and committed together.
    pub(super) fn refresh_cube(&self, state: &mut State, name: &str) -> Result<QueryResult> {
        let Some(cube) = state.catalog.cubes.get(&name.to_lowercase()).cloned() else {
            return Err(Error::Catalog(format!(
                "Cube with name {name} does not exist"
            )));
        };
        let started = std::time::Instant::now();
        let lost = |cuboid: &str| Error::Corrupt(format!("cube {name} lost its cuboid {cuboid}"));
        let k = cube.dimensions.len();
        let views = cube
            .cuboids
            .iter()
            .map(|c| state.catalog.mview(c).cloned().ok_or_else(|| lost(c)))
            .collect::<Result<Vec<MaterializedView>>>()?;
        let masks = views
            .iter()
            .map(|v| cuboid_mask(&v.name, k).ok_or_else(|| lost(&v.name)))
            .collect::<Result<Vec<usize>>>()?;
        let mode = if views.iter().any(|v| state.catalog.is_stale(v)) {
            // The base cuboid's rows: the new states of the base tables' appended
            // rows after the stored ones (merged while rolling up), or all anew.
            let (rows, bases, mode) = self.refresh_rows(state, &views[0], false)?;
            let data = &views[0].data;
            // Stored rows as stored (strings dictionary-encoded: the rollup
            // numbers dictionaries, not rows); new rows in the stored types.
            let stored = || self.store.read_table_encoded(&data.data, &data.schema());
            let computed = |batches: Vec<RecordBatch>| {
                batches
                    .iter()
                    .map(|b| conform(b, &data.schema(), &data.columns, &data.name))
                    .collect::<Result<Vec<_>>>()
            };
            let (base, merge) = match rows {
                NewRows::Replace(result) => (computed(result.batches)?, false),
                NewRows::Unchanged => (stored()?, false),
                NewRows::States(delta) => {
                    let mut rows = stored()?;
                    rows.extend(computed(delta.batches)?);
                    (rows, true)
                }
                NewRows::Append(_) => return Err(lost(&views[0].name)),
            };
            let rows = self.roll_up(state, &views, &masks, base, merge)?;
            let refreshed = self.write_cuboids(state, views, rows, bases, mode)?;
            self.commit_mviews(state, refreshed, None)?;
            mode
        } else {
            "up to date"
        };
        let rows: u64 = cube
            .cuboids
            .iter()
            .filter_map(|c| state.catalog.mview(c))
            .map(|v| v.data.row_count())
            .sum();
        QueryResult::columns(vec![
            (
                "cube",
                Arc::new(StringArray::from(vec![cube.name.clone()])) as ArrayRef,
            ),
            (
                "refresh",
                Arc::new(StringArray::from(vec![mode.to_string()])),
            ),
            (
                "cuboids",
                Arc::new(Int64Array::from(vec![cube.cuboids.len() as i64])),
            ),
            ("rows", Arc::new(Int64Array::from(vec![rows as i64]))),
            (
                "ms",
                Arc::new(arrow::array::Float64Array::from(vec![
                    started.elapsed().as_secs_f64() * 1000.0,
                ])),
            ),
        ])
    }

    /// The rows of every stored cuboid (`views`, with `masks`), given the base
    /// cuboid's (`base`; with `merge_base`, states of the same group may repeat
    /// and are merged first): see [`mv::rollup`].
    fn roll_up(
        &self,
        state: &State,
        views: &[MaterializedView],
        masks: &[usize],
        base: Vec<RecordBatch>,
        merge_base: bool,
    ) -> Result<Vec<Vec<RecordBatch>>> {
        let plan = sql::bind_query_text(&state.catalog, &views[0].sql)?;
        let mv::MvKind::Aggregate { merge, .. } = mv::define(plan).kind else {
            return Err(Error::Corrupt(format!(
                "the base cuboid {} is not an aggregate",
                views[0].name
            )));
        };
        let schemas: Vec<_> = views.iter().map(|v| v.data.schema()).collect();
        mv::rollup::roll_up(base, merge_base, masks, &schemas, &merge, &state.pool)
    }

    /// Writes the refreshed rows of every cuboid into one new file: the views
    /// with their new data (uncommitted).
    fn write_cuboids(
        &self,
        state: &mut State,
        views: Vec<MaterializedView>,
        rows: Vec<Vec<RecordBatch>>,
        bases: Vec<BaseSnapshot>,
        mode: &str,
    ) -> Result<Vec<MaterializedView>> {
        let prefix = state.catalog.allocate_file_prefix();
        let tables: Vec<_> = views.iter().map(|v| v.data.schema()).zip(rows).collect();
        let (files, segments) = state
            .pool
            .install(|| write_tables(&self.dir.join("data"), &prefix, &tables, SEGMENT_ROWS))?;
        Ok(views
            .into_iter()
            .zip(segments)
            .map(|(view, segments)| {
                let data = TableMeta {
                    data: TableData {
                        files: files.clone(),
                        segments,
                    },
                    id: state.catalog.allocate_table_id(),
                    ..view.data.clone()
                };
                refreshed_view(view, data, bases.clone(), mode)
            })
            .collect())
    }

    pub(super) fn drop_cube(
        &self,
        state: &mut State,
        name: &str,
        if_exists: bool,
    ) -> Result<QueryResult> {
        if !state.catalog.cubes.contains_key(&name.to_lowercase()) {
            if if_exists {
                return Ok(QueryResult::empty());
            }
            return Err(Error::Catalog(format!(
                "Cube with name {name} does not exist"
            )));
        }
        self.commit_change(state, |catalog| {
            if let Some(cube) = catalog.cubes.remove(&name.to_lowercase()) {
                for cuboid in &cube.cuboids {
                    catalog.mviews.remove(&cuboid.to_lowercase());
                }
            }
            Ok(())
        })?;
        Ok(QueryResult::empty())
    }
}

/// One row per stored cuboid: its view name and rows.
fn cuboid_summary(views: &[MaterializedView]) -> Result<QueryResult> {
    QueryResult::columns(vec![
        (
            "cuboid",
            Arc::new(StringArray::from(
                views.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "rows",
            Arc::new(Int64Array::from(
                views
                    .iter()
                    .map(|v| v.data.row_count() as i64)
                    .collect::<Vec<_>>(),
            )),
        ),
    ])
}
