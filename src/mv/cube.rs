//! Data cubes: the lattice of group-bys over a set of dimensions, of which a subset
//! of cuboids is materialized (as aggregate materialized views) under a space
//! budget; every other group-by is answered by rolling up its smallest
//! materialized ancestor (the query rewrite picks it).
//!
//! Cuboids are numbered by bit masks over the dimensions (bit i set: dimension i
//! is a group key); the base cuboid has every bit set and is always stored. The
//! others are chosen greedily by benefit per row of space, as in Harinarayan,
//! Rajaraman and Ullman, "Implementing Data Cubes Efficiently" (1996): the benefit
//! of storing cuboid v is, summed over every cuboid w that v can answer (w ⊆ v),
//! how many fewer rows w's cheapest stored ancestor then has to read.

use sqlparser::ast;

use crate::error::{Error, Result};
use crate::sql::CubeDefinition;

/// At most this many dimensions (2^12 cuboids).
pub const MAX_DIMENSIONS: usize = 12;

/// Checks that every measure can be re-aggregated from stored cuboids.
pub fn check_measures(cube: &CubeDefinition) -> Result<()> {
    if cube.dimensions.is_empty() || cube.dimensions.len() > MAX_DIMENSIONS {
        return Err(Error::Bind(format!(
            "a cube needs 1 to {MAX_DIMENSIONS} dimensions, not {}",
            cube.dimensions.len()
        )));
    }
    if cube.measures.is_empty() {
        return Err(Error::Bind("a cube needs at least one measure".into()));
    }
    for m in &cube.measures {
        let ok = match m {
            ast::Expr::Function(f) => {
                let name = f.name.to_string().to_lowercase();
                let distinct = matches!(
                    &f.args,
                    ast::FunctionArguments::List(l)
                        if matches!(l.duplicate_treatment, Some(ast::DuplicateTreatment::Distinct))
                );
                ["sum", "count", "min", "max", "avg"].contains(&name.as_str()) && !distinct
            }
            _ => false,
        };
        if !ok {
            return Err(Error::Bind(format!(
                "cube measure {m} cannot be re-aggregated from cuboids; use SUM, COUNT, MIN, MAX or AVG (without DISTINCT)"
            )));
        }
    }
    Ok(())
}

/// The name of the materialized view holding cuboid `mask`.
pub fn cuboid_name(cube: &str, mask: usize, dimensions: usize) -> String {
    let bits: String = (0..dimensions)
        .map(|i| if mask & (1 << i) != 0 { '1' } else { '0' })
        .collect();
    format!("{cube}_cuboid_{bits}")
}

/// The mask of the cuboid stored as view `name` (the inverse of [`cuboid_name`]).
pub fn cuboid_mask(name: &str, dimensions: usize) -> Option<usize> {
    let bits = name.rsplit_once("_cuboid_")?.1;
    if bits.len() != dimensions {
        return None;
    }
    bits.chars()
        .enumerate()
        .try_fold(0, |mask, (i, c)| match c {
            '1' => Some(mask | 1 << i),
            '0' => Some(mask),
            _ => None,
        })
}

/// The query of cuboid `mask`: the measures grouped by its dimensions.
pub fn cuboid_sql(cube: &CubeDefinition, mask: usize) -> String {
    let dims: Vec<&String> = cube
        .dimensions
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, d)| d)
        .collect();
    let mut select: Vec<String> = dims
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{d} AS dim{i}"))
        .collect();
    select.extend(
        cube.measures
            .iter()
            .enumerate()
            .map(|(i, m)| format!("{m} AS measure{i}")),
    );
    let mut sql = format!("SELECT {} FROM {}", select.join(", "), cube.from);
    if !dims.is_empty() {
        let keys: Vec<&str> = dims.iter().map(|d| d.as_str()).collect();
        sql.push_str(&format!(" GROUP BY {}", keys.join(", ")));
    }
    sql
}

/// The query counting the groups of cuboid `mask`, over the stored base cuboid.
pub fn cuboid_size_sql(base: &str, mask: usize, dimensions: usize) -> String {
    let keys: Vec<String> = (0..dimensions)
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| format!("dim{i}"))
        .collect();
    if keys.is_empty() {
        return "SELECT 1".to_string();
    }
    let keys = keys.join(", ");
    format!("SELECT COUNT(*) FROM (SELECT {keys} FROM \"{base}\" GROUP BY {keys}) AS groups")
}

/// The cuboids to store, base cuboid first: greedily the one with the largest
/// benefit per row while the extra cuboids' rows fit in `budget`.
pub fn choose_cuboids(sizes: &[u64], dimensions: usize, budget: u64) -> Vec<usize> {
    let full = (1usize << dimensions) - 1;
    let mut chosen = vec![full];
    let mut used = 0u64;
    loop {
        // The rows the cheapest chosen ancestor of each cuboid has.
        let cost: Vec<u64> = (0..=full)
            .map(|w| {
                chosen
                    .iter()
                    .filter(|&&u| u & w == w)
                    .map(|&u| sizes[u])
                    .min()
                    .unwrap_or(u64::MAX)
            })
            .collect();
        let mut best: Option<(f64, usize)> = None;
        for (v, &size) in sizes.iter().enumerate().take(full + 1) {
            if chosen.contains(&v) || used + size > budget {
                continue;
            }
            let benefit: u64 = (0..=full)
                .filter(|&w| v & w == w)
                .map(|w| cost[w].saturating_sub(size))
                .sum();
            let per_row = benefit as f64 / size.max(1) as f64;
            if benefit > 0 && best.is_none_or(|(b, _)| per_row > b) {
                best = Some((per_row, v));
            }
        }
        match best {
            Some((_, v)) => {
                chosen.push(v);
                used += sizes[v];
            }
            None => return chosen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_prefers_small_cuboids_that_many_queries_use() {
        // Dimensions a (bit 0), b (bit 1): sizes of (), a, b, ab.
        let sizes = [1, 10, 90, 100];
        // Budget for everything: all are worth storing.
        let all = choose_cuboids(&sizes, 2, 1000);
        assert_eq!(all[0], 3);
        assert!(all.contains(&1) && all.contains(&0));
        // Room for 10 rows: `()` (benefit 99 for 1 row) beats `a` (180 for 10 rows),
        // and then `a` no longer fits.
        assert_eq!(choose_cuboids(&sizes, 2, 10), vec![3, 0]);
        // No room: only the base cuboid.
        assert_eq!(choose_cuboids(&sizes, 2, 0), vec![3]);
    }

    #[test]
    fn cuboid_queries() {
        let cube = crate::sql::parse_script(
            "CREATE CUBE c ON t DIMENSIONS (a, b) MEASURES (SUM(x), COUNT(*))",
        )
        .unwrap()
        .remove(0);
        let crate::sql::Parsed::CreateCube(cube) = cube else {
            panic!()
        };
        assert_eq!(
            cuboid_sql(&cube, 0b10),
            "SELECT b AS dim0, SUM(x) AS measure0, COUNT(*) AS measure1 FROM t GROUP BY b"
        );
        assert_eq!(
            cuboid_sql(&cube, 0),
            "SELECT SUM(x) AS measure0, COUNT(*) AS measure1 FROM t"
        );
        assert_eq!(cuboid_name("c", 0b10, 2), "c_cuboid_01");
        assert_eq!(cuboid_mask("c_cuboid_01", 2), Some(0b10));
        assert_eq!(cuboid_mask("my_cuboid_cube_cuboid_110", 3), Some(0b011));
        assert_eq!(cuboid_mask("c_cuboid_01", 3), None);
        assert_eq!(cuboid_mask("c", 2), None);
        assert!(check_measures(&cube).is_ok());
    }
}
