//! CREATE / REFRESH / DROP CUBE: a cube's cuboids are materialized views, so
//! they refresh (incrementally after appends) and answer queries (through the
//! view rewrite, from the smallest cuboid that can) like any other.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};

use super::{Database, QueryResult, State};
use crate::catalog::{CubeMeta, MaterializedView};
use crate::error::{Error, Result};
use crate::mv::cube::{check_measures, choose_cuboids, cuboid_name, cuboid_size_sql, cuboid_sql};
use crate::sql::{self, CubeDefinition};

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

    pub(super) fn refresh_cube(&self, state: &mut State, name: &str) -> Result<QueryResult> {
        let Some(cube) = state.catalog.cubes.get(&name.to_lowercase()).cloned() else {
            return Err(Error::Catalog(format!(
                "Cube with name {name} does not exist"
            )));
        };
        let started = std::time::Instant::now();
        // The base cuboid first (incrementally after appends); then the others from
        // the largest down, each recomputed from its smallest fresh ancestor (which
        // the view rewrite finds), every refreshed cuboid joining the candidates.
        let mut order: Vec<usize> = (1..cube.cuboids.len()).collect();
        let rows_of = |i: usize| {
            state
                .catalog
                .mview(&cube.cuboids[i])
                .map_or(0, |v| v.data.row_count())
        };
        order.sort_by_key(|&i| std::cmp::Reverse(rows_of(i)));
        order.insert(0, 0);
        let mut views = vec![];
        let mut mode = "up to date";
        let saved = state.catalog.clone();
        let refreshed = order.iter().try_for_each(|&i| {
            let cuboid = &cube.cuboids[i];
            let view =
                state.catalog.mview(cuboid).cloned().ok_or_else(|| {
                    Error::Corrupt(format!("cube {name} lost its cuboid {cuboid}"))
                })?;
            let (view, how) = self.refreshed(state, view, i == 0)?;
            if i == 0 {
                mode = how;
            }
            state
                .catalog
                .mviews
                .insert(view.name.to_lowercase(), view.clone());
            views.push(view);
            Ok::<_, Error>(())
        });
        state.catalog = saved;
        refreshed?;
        let rows: u64 = views.iter().map(|v| v.data.row_count()).sum();
        self.commit_mviews(state, views, None)?;
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
