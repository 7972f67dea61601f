//! The materialized-view / cube benchmark: a dashboard of aggregate queries over
//! TPC-H's lineitem ⋈ orders ⋈ customer ⋈ nation (`benches/dashboard.sql`),
//! answered from the base tables, from a cube (or, where `CREATE CUBE` is not
//! available, from materialized views), and by DuckDB; then 1% more orders and
//! lineitems are appended and the cube is refreshed, incrementally, and compared
//! with a full recomputation.
//!
//! `benches/dashboard.sh` runs everything in one command (see BENCHMARKS.md):
//!
//! ```text
//! dashboard export --db DIR --out PARQUET_DIR     # the four tables, for DuckDB
//! dashboard run --db DIR [--duckdb RESULTS_DIR] [--mode auto|cube|views] [--runs 3]
//! ```
//!
//! `run` changes the database (it creates the cube or views and appends rows):
//! give it a copy. It exits with status 1 if a result differs, a query is not
//! answered from a materialized view, or a step fails; the speed goals are
//! reported, not enforced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use olap::{Database, QueryResult};

#[derive(Parser)]
#[command(about = "Dashboard benchmark: base tables vs cube / materialized views vs DuckDB")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes lineitem, orders, customer and nation to DIR/<table>.parquet.
    Export {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Runs the benchmark (changes the database: give it a copy).
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    #[arg(long)]
    db: PathBuf,
    /// The dashboard queries.
    #[arg(long, default_value = "benches/dashboard.sql")]
    queries: PathBuf,
    /// The CREATE CUBE statement.
    #[arg(long, default_value = "benches/dashboard_cube.sql")]
    cube: PathBuf,
    /// The CREATE MATERIALIZED VIEW statements used when there is no cube.
    #[arg(long, default_value = "benches/dashboard_views.sql")]
    views: PathBuf,
    /// auto: the cube if CREATE CUBE works, else the views.
    #[arg(long, value_enum, default_value = "auto")]
    mode: Mode,
    /// DuckDB's timings and results (written by benches/dashboard_duckdb.py).
    #[arg(long)]
    duckdb: Option<PathBuf>,
    /// Runs per query (the minimum and the median are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The fraction of orders (and their lineitems) appended before the refresh.
    #[arg(long, default_value_t = 0.01)]
    append: f64,
    /// How many times to append and refresh (each time another `append` of the
    /// orders): the median refresh time is compared with the full recomputation.
    #[arg(long, default_value_t = 3)]
    refresh_runs: usize,
    /// Append lineitems, refresh, append orders, refresh (each refresh then sees
    /// one changed table), instead of appending both and refreshing once.
    #[arg(long)]
    staged: bool,
    /// Run REFRESH with `SET mv_rewrite = false` (so that no refresh reads
    /// another materialized view).
    #[arg(long)]
    refresh_without_rewrite: bool,
    /// Worker threads (default: the engine's default, one per core).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Auto,
    Cube,
    Views,
}

/// The same allocator as olap-cli (see there).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Export { db, out } => export(&db, &out).map(|()| true),
        Command::Run(args) => run(&args),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(2)
        }
    }
}

type Res<T> = std::result::Result<T, String>;

const TABLES: [&str; 4] = ["lineitem", "orders", "customer", "nation"];

fn export(db: &Path, out: &Path) -> Res<()> {
    let db = Database::open(db).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for table in TABLES {
        let path = out.join(format!("{table}.parquet"));
        let started = Instant::now();
        let rows = sql(
            &db,
            &format!("COPY (SELECT * FROM {table}) TO '{}'", path.display()),
        )?;
        println!(
            "exported {table}: {} rows in {:.0} ms",
            rows.first().map(|r| r[0].as_str()).unwrap_or("?"),
            ms(started)
        );
    }
    Ok(())
}

/// One dashboard query.
struct Query {
    id: String,
    title: String,
    sql: String,
}

/// Reads `-- name: <id> <title>` headed queries (see benches/dashboard.sql).
fn read_queries(path: &Path) -> Res<Vec<Query>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut queries: Vec<Query> = vec![];
    for line in text.lines() {
        if let Some(rest) = line.trim().strip_prefix("-- name:") {
            let rest = rest.trim();
            let (id, title) = rest.split_once(' ').unwrap_or((rest, ""));
            queries.push(Query {
                id: id.to_string(),
                title: title.trim().to_string(),
                sql: String::new(),
            });
        } else if line.trim_start().starts_with("--") || line.trim().is_empty() {
            continue;
        } else if let Some(q) = queries.last_mut() {
            q.sql.push_str(line.trim_end());
            q.sql.push('\n');
        }
    }
    for q in &mut queries {
        q.sql = q.sql.trim().trim_end_matches(';').trim().to_string();
        if q.sql.is_empty() {
            return Err(format!("{}: query {} is empty", path.display(), q.id));
        }
    }
    if queries.is_empty() {
        return Err(format!("{}: no `-- name:` queries", path.display()));
    }
    Ok(queries)
}

/// The `;`-separated statements of a file, without `--` comment lines.
fn read_statements(path: &Path) -> Res<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .map(|l| format!("{l}\n"))
        .collect();
    Ok(body
        .split(';')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

/// The object a CREATE statement creates (`CREATE CUBE x` / `CREATE MATERIALIZED VIEW x`).
fn created_name(statement: &str) -> Option<(String, String)> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_uppercase()).collect();
    if upper.len() >= 3 && upper[0] == "CREATE" && upper[1] == "CUBE" {
        return Some(("CUBE".into(), words[2].to_string()));
    }
    if upper.len() >= 4 && upper[0] == "CREATE" && upper[1] == "MATERIALIZED" && upper[2] == "VIEW"
    {
        return Some(("MATERIALIZED VIEW".into(), words[3].to_string()));
    }
    None
}

fn sql(db: &Database, statement: &str) -> Res<Vec<Vec<String>>> {
    db.query(statement)
        .map(|r| r.to_string_rows())
        .map_err(|e| format!("{e}\n  in: {}", one_line(statement)))
}

fn one_line(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 160 {
        format!("{}...", &s[..160])
    } else {
        s
    }
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// Minimum and median of some times.
fn stats(times: &[f64]) -> (f64, f64) {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    let n = t.len();
    let median = if n % 2 == 1 {
        t[n / 2]
    } else {
        (t[n / 2 - 1] + t[n / 2]) / 2.0
    };
    (t[0], median)
}

/// Runs a query `runs` times; the first result and every time.
fn timed(db: &Database, query: &str, runs: usize) -> Res<(QueryResult, Vec<f64>)> {
    let mut first = None;
    let mut times = vec![];
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let result = db
            .query(query)
            .map_err(|e| format!("{e}\n  in: {}", one_line(query)))?;
        times.push(ms(started));
        first.get_or_insert(result);
    }
    Ok((first.unwrap(), times))
}

/// Column names and types, and every row as text: what "identical" compares.
fn fingerprint(r: &QueryResult) -> (Vec<String>, Vec<Vec<String>>) {
    let columns = r
        .schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    (columns, r.to_string_rows())
}

/// Where EXPLAIN says the query reads a materialized view: its name(s).
fn answered_from(db: &Database, query: &str) -> Res<Option<String>> {
    let plan = sql(db, &format!("EXPLAIN {query}"))?;
    let names: Vec<String> = plan
        .iter()
        .map(|r| r.join(" "))
        .filter(|l| l.contains("(materialized view)"))
        .map(|l| {
            let l = l.split(" (materialized view)").next().unwrap_or("");
            l.rsplit("Scan: ").next().unwrap_or(l).trim().to_string()
        })
        .collect();
    Ok((!names.is_empty()).then(|| names.join(", ")))
}

/// DuckDB's side, as written by benches/dashboard_duckdb.py.
struct DuckDb {
    version: String,
    threads: String,
    load_ms: f64,
    times: BTreeMap<String, Vec<f64>>,
    dir: PathBuf,
}

fn read_duckdb(dir: &Path) -> Res<DuckDb> {
    let path = dir.join("timings.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut times = BTreeMap::new();
    if let Some(q) = v["queries"].as_object() {
        for (id, t) in q {
            let list = t
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default();
            times.insert(id.clone(), list);
        }
    }
    Ok(DuckDb {
        version: v["version"].as_str().unwrap_or("?").to_string(),
        threads: v["threads"].to_string(),
        load_ms: v["load_ms"].as_f64().unwrap_or(f64::NAN),
        times,
        dir: dir.to_path_buf(),
    })
}

struct Row {
    id: String,
    title: String,
    rows: usize,
    base: (f64, f64),
    mv: (f64, f64),
    duck: Option<(f64, f64)>,
    from: String,
    identical: bool,
    duck_match: Option<Result<(), String>>,
}

fn run(args: &RunArgs) -> Res<bool> {
    let queries = read_queries(&args.queries)?;
    let db = Database::open(&args.db).map_err(|e| e.to_string())?;
    if let Some(t) = args.threads {
        db.set_threads(t).map_err(|e| e.to_string())?;
    }
    let duck = args.duckdb.as_deref().map(read_duckdb).transpose()?;
    let mut ok = true;
    let mut problems: Vec<String> = vec![];
    let count = |db: &Database, t: &str| -> Res<i64> {
        sql(db, &format!("SELECT COUNT(*) FROM {t}"))?[0][0]
            .parse::<i64>()
            .map_err(|e| e.to_string())
    };
    println!(
        "database {}: lineitem {} rows, orders {}, customer {}, nation {}; {} worker threads; {} runs per query",
        args.db.display(),
        count(&db, "lineitem")?,
        count(&db, "orders")?,
        count(&db, "customer")?,
        count(&db, "nation")?,
        db.threads(),
        args.runs
    );

    // What planning costs before any materialized view exists (SELECT 1).
    let trivial_before = stats(&timed(&db, "SELECT 1", 20)?.1).0;

    // (a) The base tables.
    println!(
        "\n(a) {} dashboard queries on the base tables (SET mv_rewrite = false)",
        queries.len()
    );
    sql(&db, "SET mv_rewrite = false")?;
    let mut base = vec![];
    for q in &queries {
        if let Some(from) = answered_from(&db, &q.sql)? {
            return Err(format!("{}: read {from} with mv_rewrite = false", q.id));
        }
        let (result, times) = timed(&db, &q.sql, args.runs)?;
        let (min, median) = stats(&times);
        println!(
            "  {} {:<48} {:>5} rows  min {:>9.3} ms  median {:>9.3} ms",
            q.id,
            q.title,
            result.num_rows(),
            min,
            median
        );
        base.push((result, (min, median)));
    }

    // (b) The cube, or the views.
    let cube_sql = read_statements(&args.cube)?;
    let views_sql = read_statements(&args.views)?;
    sql(&db, "SET mv_rewrite = true")?;
    let mut used_cube = false;
    let mut create_ms = 0.0;
    let mut cube_error = None;
    if args.mode != Mode::Views {
        let started = Instant::now();
        let mut failed = None;
        for s in &cube_sql {
            if let Err(e) = sql(&db, s) {
                failed = Some(e);
                break;
            }
        }
        match failed {
            None => {
                used_cube = true;
                create_ms = ms(started);
            }
            Some(e) if args.mode == Mode::Cube => return Err(format!("CREATE CUBE failed: {e}")),
            Some(e) => cube_error = Some(e),
        }
    }
    let definitions: &[String] = if used_cube { &cube_sql } else { &views_sql };
    let objects: Vec<(String, String)> =
        definitions.iter().filter_map(|s| created_name(s)).collect();
    if used_cube {
        println!(
            "\n(b) answering from a CUBE ({}): created in {create_ms:.0} ms",
            args.cube.display()
        );
    } else {
        if let Some(e) = &cube_error {
            println!(
                "\n(b) CREATE CUBE is not available ({}), so: MATERIALIZED VIEWS",
                one_line(e.lines().next().unwrap_or(""))
            );
        } else {
            println!("\n(b) answering from MATERIALIZED VIEWS (--mode views)");
        }
        let started = Instant::now();
        for s in &views_sql {
            let t = Instant::now();
            let r = sql(&db, s)?;
            let name = created_name(s).map(|(_, n)| n).unwrap_or_default();
            println!(
                "  {name:<24} {:>7} rows  {:>9.1} ms",
                r.first().map(|r| r[0].as_str()).unwrap_or("?"),
                ms(t)
            );
        }
        create_ms = ms(started);
        println!("  {} views created in {create_ms:.0} ms", views_sql.len());
    }
    let mv_kind = if used_cube { "cube" } else { "views" };
    print_mviews(&db)?;
    let trivial_after = stats(&timed(&db, "SELECT 1", 20)?.1).0;
    println!("  SELECT 1 takes {trivial_after:.3} ms now, {trivial_before:.3} ms before");

    // (c) The same queries, answered from the cube / views.
    println!("\n(c) the dashboard answered from the {mv_kind} (SET mv_rewrite = true)");
    let mut table: Vec<Row> = vec![];
    for (q, (base_result, base_t)) in queries.iter().zip(&base) {
        let from = answered_from(&db, &q.sql)?;
        if from.is_none() {
            ok = false;
            problems.push(format!("{}: EXPLAIN shows no materialized view", q.id));
        }
        let (result, times) = timed(&db, &q.sql, args.runs)?;
        let identical = fingerprint(&result) == fingerprint(base_result);
        if !identical {
            ok = false;
            problems.push(format!(
                "{}: the {mv_kind}' result differs from the base tables' result",
                q.id
            ));
        }
        let mv = stats(&times);
        println!(
            "  {} min {:>8.3} ms  median {:>8.3} ms  from {}  {}",
            q.id,
            mv.0,
            mv.1,
            from.as_deref().unwrap_or("THE BASE TABLES"),
            if identical { "identical" } else { "DIFFERENT" }
        );
        // (d) DuckDB's answer and time.
        let (duck_t, duck_match) = match &duck {
            Some(d) => {
                let t = d
                    .times
                    .get(&q.id)
                    .filter(|t| !t.is_empty())
                    .map(|t| stats(t));
                let path = d.dir.join("results").join(format!("{}.csv", q.id));
                let m = olap::tpch::check::compare_query(base_result, &q.sql, &path)
                    .and_then(|()| olap::tpch::check::compare_query(&result, &q.sql, &path));
                if let Err(e) = &m {
                    ok = false;
                    problems.push(format!("{}: DuckDB's result differs: {e}", q.id));
                }
                (t, Some(m))
            }
            None => (None, None),
        };
        table.push(Row {
            id: q.id.clone(),
            title: q.title.clone(),
            rows: result.num_rows(),
            base: *base_t,
            mv,
            duck: duck_t,
            from: from.unwrap_or_else(|| "-".into()),
            identical,
            duck_match,
        });
    }

    // (e) Append 1% more orders and their lineitems; refresh; recompute in full.
    let refresh = append_and_refresh(&db, args, used_cube, &objects, &queries, &mut problems)?;
    if !refresh.verified {
        ok = false;
    }

    // The report.
    println!("\n## Results\n");
    println!(
        "answered from: {}",
        if used_cube {
            "a CUBE (CREATE CUBE)".to_string()
        } else {
            format!(
                "MATERIALIZED VIEWS ({} views; {})",
                views_sql.len(),
                if cube_error.is_some() {
                    "CREATE CUBE is not available"
                } else {
                    "--mode views"
                }
            )
        }
    );
    if let Some(d) = &duck {
        println!(
            "DuckDB {} (threads = {}), tables loaded from Parquet in {:.0} ms",
            d.version, d.threads, d.load_ms
        );
    }
    println!("creation of the {mv_kind}: {create_ms:.0} ms");
    println!(
        "SELECT 1: {trivial_after:.3} ms with the {mv_kind}, {trivial_before:.3} ms without (the fixed cost of every query)\n"
    );
    println!("| query | rows | base min (median) ms | {mv_kind} min (median) ms | DuckDB min (median) ms | vs base | vs DuckDB | answered from | same as base | same as DuckDB |");
    println!("|---|--:|--:|--:|--:|--:|--:|---|---|---|");
    let (mut tb, mut tm, mut td) = (0.0, 0.0, 0.0);
    let mut worst_base = f64::INFINITY;
    let mut worst_duck = f64::INFINITY;
    for r in &table {
        tb += r.base.0;
        tm += r.mv.0;
        let vs_base = r.base.0 / r.mv.0;
        worst_base = worst_base.min(vs_base);
        let (duck_cell, vs_duck) = match r.duck {
            Some(d) => {
                td += d.0;
                worst_duck = worst_duck.min(d.0 / r.mv.0);
                (
                    format!("{:.1} ({:.1})", d.0, d.1),
                    format!("{:.0}×", d.0 / r.mv.0),
                )
            }
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} {} | {} | {:.1} ({:.1}) | {:.3} ({:.3}) | {} | {:.0}× | {} | {} | {} | {} |",
            r.id,
            r.title,
            r.rows,
            r.base.0,
            r.base.1,
            r.mv.0,
            r.mv.1,
            duck_cell,
            vs_base,
            vs_duck,
            r.from,
            if r.identical { "yes" } else { "NO" },
            match &r.duck_match {
                Some(Ok(())) => "yes",
                Some(Err(_)) => "NO",
                None => "-",
            }
        );
    }
    let duck_total = duck.as_ref().map(|_| td);
    println!(
        "| **total** | | **{tb:.1}** | **{tm:.3}** | **{}** | **{:.0}×** | **{}** | | | |",
        duck_total.map(|t| format!("{t:.1}")).unwrap_or("-".into()),
        tb / tm,
        duck_total
            .map(|t| format!("{:.0}×", t / tm))
            .unwrap_or("-".into()),
    );
    println!(
        "\nspeedup (minimums): total {:.0}× vs the base tables, lowest per query {:.0}×",
        tb / tm,
        worst_base
    );
    if let Some(t) = duck_total {
        println!(
            "speedup (minimums): total {:.0}× vs DuckDB, lowest per query {:.0}×",
            t / tm,
            worst_duck
        );
    }

    println!(
        "\n### Refresh after appending {} orders and {} lineitems ({:.2}% / {:.2}%) per run\n",
        refresh.orders, refresh.lineitems, refresh.orders_pct, refresh.lineitems_pct
    );
    println!(
        "- appending: orders {:.0} ms, lineitems {:.0} ms",
        refresh.append_orders_ms, refresh.append_lineitem_ms
    );
    println!(
        "- refresh{} ({}): median {:.1} ms of {} runs ({}), each after appending as many rows again; kinds reported: {}",
        if args.staged {
            " (staged: after each table's append)"
        } else {
            ""
        },
        refresh.statements,
        refresh.refresh_ms,
        refresh.refresh_runs.len(),
        refresh
            .refresh_runs
            .iter()
            .map(|t| format!("{t:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        refresh.kinds
    );
    println!(
        "- full recomputation ({}): {:.1} ms",
        refresh.full_how, refresh.full_ms
    );
    println!(
        "- incremental / full: {:.1}× faster",
        refresh.full_ms / refresh.refresh_ms
    );
    println!(
        "- for scale: one aggregate of the join at the finest grouping, from the base tables (the least any full recomputation reads): {:.1} ms, {:.1}× the refresh",
        refresh.one_pass_ms,
        refresh.one_pass_ms / refresh.refresh_ms
    );
    println!(
        "- after the refresh, every query answered from the {mv_kind} equals the base tables: {}",
        if refresh.verified { "yes" } else { "NO" }
    );

    println!("\n### Goals\n");
    let goal = |met: bool| if met { "met" } else { "MISSED" };
    // The queries below 100×, as "d14 (40×)".
    let below = |ratio: &dyn Fn(&Row) -> Option<f64>| -> String {
        let slow: Vec<String> = table
            .iter()
            .filter_map(|r| {
                ratio(r)
                    .filter(|x| *x < 100.0)
                    .map(|x| format!("{} ({x:.0}×)", r.id))
            })
            .collect();
        if slow.is_empty() {
            String::new()
        } else {
            format!("; below 100×: {}", slow.join(", "))
        }
    };
    let n = table.len();
    let base_ok = table.iter().filter(|r| r.base.0 / r.mv.0 >= 100.0).count();
    println!(
        "- every query ≥ 100× faster than on the base tables: {} ({base_ok} of {n}; lowest {:.0}×, total {:.0}×{})",
        goal(base_ok == n),
        worst_base,
        tb / tm,
        below(&|r| Some(r.base.0 / r.mv.0))
    );
    if let Some(t) = duck_total {
        let duck_ok = table
            .iter()
            .filter(|r| r.duck.is_some_and(|d| d.0 / r.mv.0 >= 100.0))
            .count();
        println!(
            "- every query ≥ 100× faster than DuckDB: {} ({duck_ok} of {n}; lowest {:.0}×, total {:.0}×{})",
            goal(duck_ok == n),
            worst_duck,
            t / tm,
            below(&|r| r.duck.map(|d| d.0 / r.mv.0))
        );
    }
    let identical = table.iter().all(|r| r.identical);
    let duck_same = table.iter().all(|r| !matches!(r.duck_match, Some(Err(_))));
    println!(
        "- identical results: {} (base vs {mv_kind}: {}{}; after the refresh: {})",
        goal(identical && duck_same && refresh.verified),
        if identical {
            "all identical"
        } else {
            "DIFFERENCES"
        },
        if duck.is_some() {
            if duck_same {
                ", DuckDB: all equal"
            } else {
                ", DuckDB: DIFFERENCES"
            }
        } else {
            ""
        },
        if refresh.verified {
            "all identical"
        } else {
            "DIFFERENCES"
        }
    );
    let ratio = refresh.full_ms / refresh.refresh_ms;
    println!(
        "- incremental refresh ≥ 20× faster than a full refresh: {} ({ratio:.1}×; reported: {})",
        goal(ratio >= 20.0),
        refresh.kinds
    );
    if !problems.is_empty() {
        println!("\nPROBLEMS:");
        for p in &problems {
            println!("- {p}");
        }
    }
    Ok(ok)
}

fn print_mviews(db: &Database) -> Res<()> {
    let rows = sql(db, "SHOW MATERIALIZED VIEWS")?;
    let total: i64 = rows.iter().filter_map(|r| r[2].parse::<i64>().ok()).sum();
    println!(
        "  SHOW MATERIALIZED VIEWS: {} views, {total} stored rows: {}",
        rows.len(),
        rows.iter()
            .map(|r| format!("{} ({})", r[0], r[2]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

struct Refresh {
    orders: i64,
    lineitems: i64,
    orders_pct: f64,
    lineitems_pct: f64,
    append_orders_ms: f64,
    append_lineitem_ms: f64,
    statements: String,
    /// The median of `refresh_runs`.
    refresh_ms: f64,
    refresh_runs: Vec<f64>,
    kinds: String,
    full_how: String,
    full_ms: f64,
    /// One aggregate of the join at the base cuboid's grouping (the least a full
    /// recomputation must do), on the appended data.
    one_pass_ms: f64,
    verified: bool,
}

/// `INSERT INTO t SELECT <columns, key shifted> FROM t WHERE key <= limit`.
fn append_sql(db: &Database, table: &str, key: &str, offset: i64, limit: i64) -> Res<String> {
    let columns: Vec<String> = sql(db, &format!("DESCRIBE {table}"))?
        .into_iter()
        .map(|r| {
            if r[0] == key {
                format!("{key} + {offset}")
            } else {
                r[0].clone()
            }
        })
        .collect();
    Ok(format!(
        "INSERT INTO {table} SELECT {} FROM {table} WHERE {key} <= {limit}",
        columns.join(", ")
    ))
}

/// The refresh kinds a REFRESH result reports (any cell that names one).
fn kinds_of(rows: &[Vec<String>]) -> Vec<String> {
    rows.iter()
        .flat_map(|r| r.iter())
        .filter(|c| ["incremental", "full", "up to date"].contains(&c.to_lowercase().as_str()))
        .cloned()
        .collect()
}

fn refresh_all(
    db: &Database,
    args: &RunArgs,
    objects: &[(String, String)],
    kinds: &mut Vec<String>,
) -> Res<f64> {
    if args.refresh_without_rewrite {
        sql(db, "SET mv_rewrite = false")?;
    }
    let started = Instant::now();
    for (kind, name) in objects {
        let t = Instant::now();
        let rows = sql(db, &format!("REFRESH {kind} {name}"))?;
        let elapsed = ms(t);
        let k = kinds_of(&rows);
        println!(
            "  REFRESH {kind} {name}: {elapsed:.1} ms, reported {}",
            rows.iter()
                .map(|r| r.join(" "))
                .collect::<Vec<_>>()
                .join("; ")
        );
        kinds.extend(k);
    }
    let total = ms(started);
    sql(db, "SET mv_rewrite = true")?;
    Ok(total)
}

fn summarize(kinds: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for k in kinds {
        *counts.entry(k.as_str()).or_default() += 1;
    }
    if counts.is_empty() {
        return "none reported".into();
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k} × {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn append_and_refresh(
    db: &Database,
    args: &RunArgs,
    used_cube: bool,
    objects: &[(String, String)],
    queries: &[Query],
    problems: &mut Vec<String>,
) -> Res<Refresh> {
    let first = |q: &str| -> Res<i64> {
        sql(db, q)?[0][0]
            .parse::<i64>()
            .map_err(|e| format!("{q}: {e}"))
    };
    let max_key = first("SELECT MAX(o_orderkey) FROM orders")?;
    let orders_before = first("SELECT COUNT(*) FROM orders")?;
    let lineitems_before = first("SELECT COUNT(*) FROM lineitem")?;
    // Order keys are spread evenly over 1..max: the first `append` of the range
    // holds about that fraction of the orders.
    let limit = ((max_key as f64) * args.append).round() as i64;
    let runs = args.refresh_runs.max(1);
    let mut kinds = vec![];
    let mut refresh_runs = vec![];
    let (mut append_orders_ms, mut append_lineitem_ms) = (0.0, 0.0);
    for run in 0..runs {
        // Each run appends the same orders again, with keys above all so far.
        let offset = first("SELECT MAX(o_orderkey) FROM orders")?;
        let orders_sql = append_sql(db, "orders", "o_orderkey", offset, limit)?;
        let lineitem_sql = append_sql(db, "lineitem", "l_orderkey", offset, limit)?;
        println!(
            "\n(e) run {} of {runs}: appending the orders with o_orderkey <= {limit} (and their lineitems) again, keys + {offset}",
            run + 1
        );
        let mut refresh_ms = 0.0;
        let t = Instant::now();
        if args.staged {
            sql(db, &lineitem_sql)?;
            append_lineitem_ms = ms(t);
            refresh_ms += refresh_all(db, args, objects, &mut kinds)?;
            let t = Instant::now();
            sql(db, &orders_sql)?;
            append_orders_ms = ms(t);
            refresh_ms += refresh_all(db, args, objects, &mut kinds)?;
        } else {
            sql(db, &orders_sql)?;
            append_orders_ms = ms(t);
            let t = Instant::now();
            sql(db, &lineitem_sql)?;
            append_lineitem_ms = ms(t);
            refresh_ms += refresh_all(db, args, objects, &mut kinds)?;
        }
        println!("  refresh {refresh_ms:.1} ms");
        refresh_runs.push(refresh_ms);
    }
    // Per run (every run appends the same rows).
    let orders = (first("SELECT COUNT(*) FROM orders")? - orders_before) / runs as i64;
    let lineitems = (first("SELECT COUNT(*) FROM lineitem")? - lineitems_before) / runs as i64;
    let refresh_ms = stats(&refresh_runs).1;
    println!(
        "  appended {orders} orders ({append_orders_ms:.0} ms) and {lineitems} lineitems ({append_lineitem_ms:.0} ms) per run; refresh median {refresh_ms:.1} ms"
    );
    print_mviews(db)?;

    // Every query again: from the refreshed cube / views, and from the base tables.
    let mut verified = true;
    for q in queries {
        sql(db, "SET mv_rewrite = true")?;
        let from = answered_from(db, &q.sql)?;
        let mv = db.query(&q.sql).map_err(|e| e.to_string())?;
        sql(db, "SET mv_rewrite = false")?;
        let base = db.query(&q.sql).map_err(|e| e.to_string())?;
        let same = fingerprint(&mv) == fingerprint(&base);
        if from.is_none() {
            verified = false;
            problems.push(format!(
                "{} after the refresh: not answered from a materialized view",
                q.id
            ));
        }
        if !same {
            verified = false;
            let (a, b) = (mv.to_string_rows(), base.to_string_rows());
            let diff = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x != y)
                .map(|i| format!("row {}: {:?} vs base {:?}", i + 1, a[i], b[i]))
                .unwrap_or_else(|| format!("{} rows vs base {}", a.len(), b.len()));
            problems.push(format!(
                "{} after the refresh: differs from the base tables ({diff})",
                q.id
            ));
        }
        println!(
            "  {} after refresh: from {}, {}",
            q.id,
            from.as_deref().unwrap_or("THE BASE TABLES"),
            if same {
                "identical to the base tables"
            } else {
                "DIFFERENT from the base tables"
            }
        );
    }
    sql(db, "SET mv_rewrite = true")?;

    // A full recomputation on the appended data: drop and create again (in the
    // same order, so views may be built from views created before them, as the
    // refresh may). Without DROP CUBE: a second cube, with the rewrite off so that
    // it is computed from the base tables.
    // The least work of any full recomputation: one aggregate of the join at the
    // finest grouping (the first view of the views file), from the base tables.
    let finest = read_statements(&args.views)?
        .into_iter()
        .next()
        .and_then(|s| s.to_uppercase().find("SELECT").map(|i| s[i..].to_string()))
        .ok_or("the views file does not start with a CREATE MATERIALIZED VIEW ... AS SELECT")?;
    sql(db, "SET mv_rewrite = false")?;
    let started = Instant::now();
    sql(db, &finest)?;
    let one_pass_ms = ms(started);
    sql(db, "SET mv_rewrite = true")?;
    println!("  one aggregate of the join at the finest grouping (no view): {one_pass_ms:.1} ms");

    let definitions = read_statements(if used_cube { &args.cube } else { &args.views })?;
    let dropped = objects
        .iter()
        .rev()
        .try_for_each(|(kind, name)| sql(db, &format!("DROP {kind} {name}")).map(|_| ()));
    let (full_how, full_ms) = match dropped {
        Ok(()) => {
            let started = Instant::now();
            for s in &definitions {
                sql(db, s)?;
            }
            let how = if used_cube {
                "DROP CUBE, then CREATE CUBE again".to_string()
            } else {
                format!("DROP, then CREATE the {} views again", definitions.len())
            };
            (how, ms(started))
        }
        Err(e) => {
            println!(
                "  (cannot drop: {}; timing a second copy instead)",
                e.lines().next().unwrap_or("")
            );
            sql(db, "SET mv_rewrite = false")?;
            let started = Instant::now();
            for s in &definitions {
                let (_, name) = created_name(s).ok_or("no name")?;
                let renamed = s.replacen(&name, &format!("{name}_full"), 1);
                sql(db, &renamed)?;
            }
            let t = ms(started);
            sql(db, "SET mv_rewrite = true")?;
            (
                "a second copy created with SET mv_rewrite = false".to_string(),
                t,
            )
        }
    };
    println!("  full recomputation ({full_how}): {full_ms:.1} ms");
    Ok(Refresh {
        orders,
        lineitems,
        orders_pct: 100.0 * orders as f64 / orders_before as f64,
        lineitems_pct: 100.0 * lineitems as f64 / lineitems_before as f64,
        append_orders_ms,
        append_lineitem_ms,
        statements: match objects {
            [(kind, name)] => format!("REFRESH {kind} {name}"),
            _ => format!(
                "REFRESH MATERIALIZED VIEW of each of the {} views",
                objects.len()
            ),
        },
        refresh_ms,
        refresh_runs,
        kinds: summarize(&kinds),
        full_how,
        full_ms,
        one_pass_ms,
        verified,
    })
}
