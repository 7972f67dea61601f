//! The embedded API: `Database::open`, `execute`, `query`.
//!
//! Every statement takes the same path: parse, bind against the catalog, then
//! either optimize and execute a query plan, or apply a catalog change. A change
//! writes its new column files first and then commits a new manifest atomically,
//! so a statement that fails (or a process that dies) leaves the database as it was.
//!
//! # Concurrency
//!
//! A `Database` is `Send + Sync`. Statements bind and commit one at a time (under
//! the state lock); a query then runs outside it, on the catalog it was bound to,
//! so queries from several threads run at once, beside a writing statement. While
//! queries run (`files_in_use`), commits leave the files they no longer reference
//! in place. [`Database::open_read_only`] opens a directory another process writes
//! to: each statement sees the manifest last committed (see [`crate::catalog`]).

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::catalog::{
    self, Catalog, ColumnDef, CubeMeta, DirLock, MaterializedView, ReaderLock, TableMeta, ViewMeta,
};
use crate::error::{Error, Result};
use crate::etl::{self, FileFormat};
use crate::exec::memory::{self, MemoryPool};
use crate::exec::{self, expr::cast, ExecContext};
use crate::mv;

mod cube;
use crate::mv::rewrite::{Candidate, ViewShape};
use crate::optimizer::optimize_with;
use crate::plan::{ExternalSource, LogicalPlan};
use crate::sql::{self, ChangedRows, Command, Parsed};
use crate::storage::{FileStore, TableData, TableWriter, SEGMENT_ROWS};
use crate::types::SqlType;

/// An open database directory.
pub struct Database {
    dir: PathBuf,
    store: Arc<FileStore>,
    state: Mutex<State>,
    /// The materialized views queries may read, for one catalog version.
    candidates: Mutex<Option<CandidateCache>>,
    /// The shapes of materialized views' queries (None: not an aggregate view)
    /// by view name, with the SQL they were bound from.
    shapes: Mutex<std::collections::HashMap<String, ShapeEntry>>,
    /// Held shared by every query running outside the state lock; commits remove
    /// unreferenced files only when they can take it exclusively.
    files_in_use: RwLock<()>,
    access: Access,
}

/// How a database directory is open.
enum Access {
    /// For reading and writing, by this process only.
    Write(#[allow(dead_code)] DirLock),
    /// For reading, beside other readers and one writer.
    Read(#[allow(dead_code)] ReaderLock),
}

/// What identifies one version of the manifest file on disk (a commit replaces the
/// file by renaming a new one over it).
type ManifestStamp = Option<(u64, std::time::SystemTime, u64)>;

fn manifest_stamp(dir: &Path) -> ManifestStamp {
    let meta = std::fs::metadata(dir.join(catalog::MANIFEST_FILE)).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.len(), meta.modified().ok()?, inode))
}

/// Rewrite candidates and the (catalog version, sum of view data ids) they were
/// made for.
type CandidateCache = ((u64, u64), Arc<Vec<Candidate>>);
/// A view's definition text and the shape of its query (None: not an aggregate).
type ShapeEntry = (String, Option<Arc<ViewShape>>);

struct State {
    catalog: Catalog,
    /// The manifest `catalog` was read from (read-only databases reread it when it changes).
    manifest: ManifestStamp,
    threads: usize,
    pool: Arc<rayon::ThreadPool>,
    /// Whether queries may be answered from materialized views (`SET mv_rewrite`).
    mv_rewrite: bool,
    /// The memory limit (`SET memory_limit`) and what queries hold of it.
    memory: Arc<MemoryPool>,
}

/// The result of a statement: an Arrow schema and the record batches that hold the rows.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    /// A result with no columns and no rows (what DDL statements return).
    pub fn empty() -> QueryResult {
        QueryResult {
            schema: Arc::new(Schema::empty()),
            batches: vec![],
        }
    }

    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// Every row as text, one string per column (NULL as `NULL`).
    pub fn to_string_rows(&self) -> Vec<Vec<String>> {
        let mut rows = Vec::with_capacity(self.num_rows());
        for batch in &self.batches {
            for row in 0..batch.num_rows() {
                rows.push(
                    batch
                        .columns()
                        .iter()
                        .map(|c| {
                            crate::format::value_to_string(c, row).unwrap_or_else(|| "NULL".into())
                        })
                        .collect(),
                );
            }
        }
        rows
    }

    /// A one-column result of strings.
    fn strings(name: &str, values: Vec<String>) -> Result<QueryResult> {
        Self::columns(vec![(
            name,
            Arc::new(StringArray::from(values)) as ArrayRef,
        )])
    }

    fn columns(columns: Vec<(&str, ArrayRef)>) -> Result<QueryResult> {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(
            schema.clone(),
            columns.into_iter().map(|(_, a)| a).collect(),
        )?;
        Ok(QueryResult {
            schema,
            batches: vec![batch],
        })
    }

    /// The `Count` result of a statement that changed `rows` rows.
    fn count(rows: u64) -> Result<QueryResult> {
        Self::columns(vec![(
            "Count",
            Arc::new(arrow::array::Int64Array::from(vec![rows as i64])),
        )])
    }
}

impl Database {
    /// Opens (creating if needed) the database in directory `path` for reading and
    /// writing. Only one such `Database` at a time, in any process, may have a
    /// directory open (a second gets "database ... is locked by another
    /// process"); readers use [`Database::open_read_only`] beside it.
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        let dir = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let lock = DirLock::acquire(&dir)?;
        let catalog = Catalog::open(&dir)?;
        catalog::remove_unreferenced_files(&dir, &catalog)?;
        Database::with_catalog(dir, catalog, Access::Write(lock))
    }

    /// Opens the existing database in directory `path` for reading only, beside
    /// any number of other readers and one writer (in this or another process).
    /// Each statement reads the state last committed when it starts; statements
    /// that would change the database are refused.
    ///
    /// While a read-only database is open, writers keep the files it may read
    /// (data replaced or dropped since is removed once no reader is open).
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Database> {
        let dir = path.as_ref().to_path_buf();
        // Locked before the manifest is read: from here on no file it names is removed.
        let lock = ReaderLock::acquire(&dir)?;
        let catalog = Catalog::open_read_only(&dir)?;
        Database::with_catalog(dir, catalog, Access::Read(lock))
    }

    fn with_catalog(dir: PathBuf, catalog: Catalog, access: Access) -> Result<Database> {
        let threads = rayon::current_num_threads().max(1);
        Ok(Database {
            store: Arc::new(FileStore::new(dir.join("data"))),
            state: Mutex::new(State {
                manifest: manifest_stamp(&dir),
                catalog,
                threads,
                pool: build_pool(threads)?,
                mv_rewrite: true,
                memory: MemoryPool::new(MemoryPool::default_limit()),
            }),
            candidates: Mutex::new(None),
            shapes: Mutex::new(Default::default()),
            files_in_use: RwLock::new(()),
            dir,
            access,
        })
    }

    /// Whether this database was opened with [`Database::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        matches!(self.access, Access::Read(_))
    }

    /// Runs one or more `;`-separated statements and returns the result of the last.
    pub fn execute(&self, sql: &str) -> Result<QueryResult> {
        on_deep_stack(|| self.execute_here(sql)).map_err(Error::one_line)
    }

    fn execute_here(&self, sql: &str) -> Result<QueryResult> {
        let mut last = QueryResult::empty();
        for statement in sql::parse_script(sql)? {
            // A panic is a bug; should one happen, report it as an error. The
            // catalog in memory changes only after a commit, so it stays consistent.
            last = std::panic::catch_unwind(AssertUnwindSafe(|| self.statement(statement)))
                .unwrap_or_else(|panic| {
                    Err(Error::Execute(format!(
                        "internal error: {}",
                        panic_message(&panic)
                    )))
                })?;
        }
        Ok(last)
    }

    /// Binds and runs one statement: a query outside the state lock, anything else
    /// under it.
    fn statement(&self, statement: Parsed) -> Result<QueryResult> {
        let mut state = self.lock();
        self.read_latest_manifest(&mut state)?;
        let statement = match statement {
            Parsed::Sql(statement) => statement,
            Parsed::CreateCube(cube) => {
                self.check_writable()?;
                return self.create_cube(&mut state, cube);
            }
            Parsed::RefreshCube(name) => {
                self.check_writable()?;
                return self.refresh_cube(&mut state, &name);
            }
            Parsed::DropCube { name, if_exists } => {
                self.check_writable()?;
                return self.drop_cube(&mut state, &name, if_exists);
            }
        };
        match sql::bind_statement(&state.catalog, &statement)? {
            Command::Query(plan) => {
                let plan = self.optimize(&state, plan)?;
                let context = self.context(&state);
                // Taken before the state lock is let go: no commit removes a file
                // the plan reads until the query is done.
                let _in_use = self.files_in_use.read().unwrap_or_else(|p| p.into_inner());
                drop(state);
                Ok(QueryResult {
                    schema: plan.schema(),
                    batches: exec::execute(&plan, &context)?,
                })
            }
            command => {
                if changes_database(&command) {
                    self.check_writable()?;
                }
                self.run(&mut state, command)
            }
        }
    }

    /// For a read-only database: the catalog of the manifest last committed, if a
    /// writer has committed since it was read.
    fn read_latest_manifest(&self, state: &mut State) -> Result<()> {
        if !self.is_read_only() {
            return Ok(());
        }
        // The stamp first: a commit right after it is read again next time.
        let stamp = manifest_stamp(&self.dir);
        if stamp != state.manifest {
            state.catalog = Catalog::open_read_only(&self.dir)?;
            state.manifest = stamp;
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<()> {
        if self.is_read_only() {
            return Err(Error::Catalog(format!(
                "database {} is open read-only: this statement would change it",
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// Runs one or more statements and returns the result of the last (same as `execute`).
    pub fn query(&self, sql: &str) -> Result<QueryResult> {
        self.execute(sql)
    }

    /// Sets the number of worker threads used by queries (`SET threads = N`).
    pub fn set_threads(&self, threads: usize) -> Result<()> {
        if threads == 0 {
            return Err(Error::Bind("threads must be at least 1".into()));
        }
        let mut state = self.lock();
        state.pool = build_pool(threads)?;
        state.threads = threads;
        Ok(())
    }

    /// Sets the memory limit of queries in bytes (`SET memory_limit = '1GB'`;
    /// by default 80% of the machine's memory). A hash aggregation or sort
    /// that would exceed it spills to disk; any other operator fails with an
    /// out-of-memory error.
    pub fn set_memory_limit(&self, bytes: usize) {
        self.lock().memory.set_limit(bytes);
    }

    /// The memory limit of queries in bytes.
    pub fn memory_limit(&self) -> usize {
        self.lock().memory.limit()
    }

    /// The memory pool of this database's queries: its limit, the bytes held
    /// now and at most, and the bytes spilled to disk.
    pub fn memory(&self) -> Arc<MemoryPool> {
        self.lock().memory.clone()
    }

    /// Appends record batches to an existing table in one transaction: columns
    /// match the table's by position and are cast to its types. Returns the number
    /// of rows added. This is the bulk-load path for Rust programs (and the TPC-H
    /// generator); SQL uses INSERT and COPY.
    pub fn append_batches(
        &self,
        table: &str,
        batches: impl Iterator<Item = Result<RecordBatch>>,
    ) -> Result<u64> {
        self.check_writable()?;
        let mut state = self.lock();
        let meta = state
            .catalog
            .table(table)
            .ok_or_else(|| Error::Catalog(format!("Table with name {table} does not exist")))?;
        let target = meta.schema();
        let width = target.fields().len();
        let name = meta.name.clone();
        let batches = batches.map(move |b| {
            let b = b?;
            if b.num_columns() != width {
                return Err(Error::Load(format!(
                    "table {name} has {width} columns but the batch has {}",
                    b.num_columns()
                )));
            }
            Ok(b)
        });
        self.append_and_commit(&mut state, table, batches)
    }

    /// The number of worker threads queries use.
    pub fn threads(&self) -> usize {
        self.lock().threads
    }

    /// The directory of this database.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn context(&self, state: &State) -> ExecContext {
        ExecContext {
            store: self.store.clone(),
            pool: state.pool.clone(),
            memory: state.memory.clone(),
            work_tables: Default::default(),
            shared: Default::default(),
        }
    }

    /// Optimizes and runs a query plan.
    fn run_query(&self, state: &State, plan: LogicalPlan) -> Result<QueryResult> {
        let plan = self.optimize(state, plan)?;
        self.execute_optimized(state, &plan)
    }

    /// `plan` optimized, answered from materialized views where it can be.
    fn optimize(&self, state: &State, plan: LogicalPlan) -> Result<LogicalPlan> {
        optimize_with(plan, &self.rewrite_candidates(state))
    }

    fn execute_optimized(&self, state: &State, plan: &LogicalPlan) -> Result<QueryResult> {
        let batches = exec::execute(plan, &self.context(state))?;
        Ok(QueryResult {
            schema: plan.schema(),
            batches,
        })
    }

    fn run(&self, state: &mut State, command: Command) -> Result<QueryResult> {
        match command {
            Command::Query(plan) => self.run_query(state, plan),
            Command::Explain(plan) => {
                let text = optimize_with(plan, &self.rewrite_candidates(state))?.display_tree();
                QueryResult::strings("plan", text.lines().map(str::to_string).collect())
            }
            Command::CreateTable {
                name,
                columns,
                if_not_exists,
                or_replace,
            } => {
                if !self.check_new_table(state, &name, if_not_exists, or_replace)? {
                    return Ok(QueryResult::empty());
                }
                let id = state.catalog.allocate_table_id();
                self.commit_table(
                    state,
                    TableMeta {
                        name,
                        columns,
                        data: TableData::default(),
                        id,
                    },
                )?;
                Ok(QueryResult::empty())
            }
            Command::CreateTableAs {
                name,
                query,
                if_not_exists,
                or_replace,
            } => {
                if !self.check_new_table(state, &name, if_not_exists, or_replace)? {
                    return Ok(QueryResult::empty());
                }
                let table = self.compute_table(state, &name, query)?;
                let rows = table.row_count();
                self.commit_table(state, table)?;
                QueryResult::count(rows)
            }
            Command::Insert { table, query } => {
                let batches = self.run_query(state, query)?.batches;
                let rows = self.append_and_commit(state, &table, batches.into_iter().map(Ok))?;
                QueryResult::count(rows)
            }
            Command::ReplaceRows {
                table,
                rows,
                changed,
            } => QueryResult::count(self.replace_rows(state, &table, rows, changed)?),
            Command::CopyFrom { table, source } => {
                QueryResult::count(self.copy_from(state, &table, &source)?)
            }
            Command::CopyTo {
                query,
                path,
                format,
                csv,
            } => {
                // Written as the rows come, a window of morsels at a time.
                let plan = self.optimize(state, query)?;
                let context = self.context(state);
                let rows = match format {
                    FileFormat::Csv => {
                        let mut file = etl::CsvFileWriter::create(&path, &plan.schema(), &csv)?;
                        exec::execute_each(&plan, &context, &mut |b| file.write(b))?;
                        file.finish()?
                    }
                    FileFormat::Parquet => {
                        let mut file = etl::ParquetFileWriter::create(&path, &plan.schema())?;
                        exec::execute_each(&plan, &context, &mut |b| file.write(b))?;
                        file.finish()?
                    }
                };
                QueryResult::count(rows)
            }
            Command::DropTable { names, if_exists } => {
                let mut dropped = vec![];
                self.commit_change(state, |catalog| {
                    for name in &names {
                        match catalog.tables.remove(&name.to_lowercase()) {
                            Some(t) => dropped.extend(t.data.files.iter().map(|f| f.name.clone())),
                            None if if_exists => {}
                            None => {
                                return Err(Error::Catalog(format!(
                                    "Table with name {name} does not exist"
                                )))
                            }
                        }
                    }
                    Ok(())
                })?;
                self.store.forget(&dropped);
                Ok(QueryResult::empty())
            }
            Command::CreateMaterializedView {
                name,
                sql,
                query,
                if_not_exists,
            } => {
                if state.catalog.mview(&name).is_some() && if_not_exists {
                    return Ok(QueryResult::empty());
                }
                if state.catalog.has_relation(&name) {
                    return Err(Error::Catalog(format!(
                        "a table, view, materialized view or cube named \"{name}\" already exists"
                    )));
                }
                let view = self.build_mview(state, &name, sql, query, None)?;
                let rows = view.data.row_count();
                self.commit_mviews(state, vec![view], None)?;
                QueryResult::count(rows)
            }
            Command::RefreshMaterializedView { name } => self.refresh_mview(state, &name),
            Command::DropMaterializedView { names, if_exists } => {
                self.commit_change(state, |catalog| {
                    for name in &names {
                        if catalog.mviews.remove(&name.to_lowercase()).is_none() && !if_exists {
                            return Err(Error::Catalog(format!(
                                "Materialized view with name {name} does not exist"
                            )));
                        }
                    }
                    Ok(())
                })?;
                Ok(QueryResult::empty())
            }
            Command::ShowMaterializedViews => {
                let views: Vec<&MaterializedView> = state.catalog.mviews.values().collect();
                let text = |f: &dyn Fn(&MaterializedView) -> String| -> ArrayRef {
                    Arc::new(StringArray::from(
                        views.iter().map(|v| f(v)).collect::<Vec<_>>(),
                    ))
                };
                let rows: ArrayRef = Arc::new(arrow::array::Int64Array::from(
                    views
                        .iter()
                        .map(|v| v.data.row_count() as i64)
                        .collect::<Vec<_>>(),
                ));
                let stale: ArrayRef = Arc::new(arrow::array::BooleanArray::from(
                    views
                        .iter()
                        .map(|v| state.catalog.is_stale(v))
                        .collect::<Vec<_>>(),
                ));
                QueryResult::columns(vec![
                    ("name", text(&|v| v.name.clone())),
                    ("definition", text(&|v| v.sql.clone())),
                    ("rows", rows),
                    ("last_refresh", text(&|v| format_time(v.refreshed_at))),
                    ("refresh", text(&|v| v.last_refresh.clone())),
                    ("stale", stale),
                ])
            }
            Command::ShowTables => {
                let mut names: Vec<String> = state
                    .catalog
                    .tables
                    .values()
                    .map(|t| t.name.clone())
                    .chain(state.catalog.views.values().map(|v| v.name.clone()))
                    .chain(state.catalog.mviews.values().map(|v| v.name.clone()))
                    .collect();
                names.sort_by_key(|n| n.to_lowercase());
                QueryResult::strings("name", names)
            }
            Command::CreateView {
                name,
                sql,
                columns,
                or_replace,
                if_not_exists,
            } => {
                if state.catalog.view(&name).is_none() && state.catalog.has_relation(&name) {
                    return Err(Error::Catalog(format!(
                        "a table, materialized view or cube named \"{name}\" already exists"
                    )));
                }
                if state.catalog.view(&name).is_some() && !or_replace {
                    if if_not_exists {
                        return Ok(QueryResult::empty());
                    }
                    return Err(Error::Catalog(format!(
                        "View with name \"{name}\" already exists"
                    )));
                }
                self.commit_change(state, |catalog| {
                    let view = ViewMeta { name, sql, columns };
                    catalog.views.insert(view.name.to_lowercase(), view);
                    Ok(())
                })?;
                Ok(QueryResult::empty())
            }
            Command::DropView { names, if_exists } => {
                self.commit_change(state, |catalog| {
                    for name in &names {
                        if catalog.views.remove(&name.to_lowercase()).is_none() && !if_exists {
                            return Err(Error::Catalog(format!(
                                "View with name {name} does not exist"
                            )));
                        }
                    }
                    Ok(())
                })?;
                Ok(QueryResult::empty())
            }

            Command::Describe { columns } => {
                let col = |f: &dyn Fn(&ColumnDef) -> String| -> ArrayRef {
                    Arc::new(StringArray::from(columns.iter().map(f).collect::<Vec<_>>()))
                };
                QueryResult::columns(vec![
                    ("column_name", col(&|c| c.name.clone())),
                    ("column_type", col(&|c| c.sql_type.to_string())),
                    (
                        "null",
                        col(&|c| if c.nullable { "YES" } else { "NO" }.to_string()),
                    ),
                ])
            }
            Command::Set { name, value } => match name.as_str() {
                "threads" | "worker_threads" => {
                    let n: usize = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        Error::Bind(format!("threads must be a positive integer, not {value}"))
                    })?;
                    state.pool = build_pool(n)?;
                    state.threads = n;
                    Ok(QueryResult::empty())
                }
                "mv_rewrite" => {
                    state.mv_rewrite = match value.to_lowercase().as_str() {
                        "true" | "on" | "1" => true,
                        "false" | "off" | "0" => false,
                        _ => {
                            return Err(Error::Bind(format!(
                                "mv_rewrite must be true or false, not {value}"
                            )))
                        }
                    };
                    Ok(QueryResult::empty())
                }
                "memory_limit" | "max_memory" => {
                    state.memory.set_limit(memory::parse_bytes(&value)?);
                    Ok(QueryResult::empty())
                }
                "temp_directory" => {
                    state.memory.set_temp_directory(PathBuf::from(value));
                    Ok(QueryResult::empty())
                }
                other => Err(Error::Bind(format!(
                    "unknown setting {other} (known: threads, memory_limit, temp_directory, mv_rewrite)"
                ))),
            },
        }
    }

    /// The materialized views queries may be answered from: the fresh aggregate
    /// views, unless `SET mv_rewrite = false`.
    fn rewrite_candidates(&self, state: &State) -> Arc<Vec<Candidate>> {
        if !state.mv_rewrite || state.catalog.mviews.is_empty() {
            return Arc::new(vec![]);
        }
        // Binding every view's query for every query would cost more than the
        // answer: keep the candidates until the catalog changes.
        // Views are refreshed in memory before a commit (cubes): their data ids tell.
        let key = (
            state.catalog.version,
            state
                .catalog
                .mviews
                .values()
                .map(|v| v.data.id)
                .sum::<u64>(),
        );
        let mut cache = self.candidates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, candidates)) = cache.as_ref() {
            if *k == key {
                return candidates.clone();
            }
        }
        let catalog = &state.catalog;
        let candidates: Arc<Vec<Candidate>> = Arc::new(
            catalog
                .mviews
                .values()
                .filter(|v| !catalog.is_stale(v))
                .filter_map(|v| {
                    Some(Candidate {
                        name: v.name.clone(),
                        data: v.data.clone(),
                        shape: self.shape(catalog, v)?,
                    })
                })
                .collect(),
        );
        *cache = Some((key, candidates.clone()));
        candidates
    }

    /// The shape of a materialized view's query, bound once per definition text.
    fn shape(&self, catalog: &Catalog, view: &MaterializedView) -> Option<Arc<ViewShape>> {
        let mut known = self.shapes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((sql, shape)) = known.get(&view.name) {
            if *sql == view.sql {
                return shape.clone();
            }
        }
        let definition = mv::define(sql::bind_query_text(catalog, &view.sql).ok()?);
        let shape = ViewShape::of(&definition).map(Arc::new);
        known.insert(view.name.clone(), (view.sql.clone(), shape.clone()));
        shape
    }

    /// Runs `plan` and writes its rows into the new files of a table named `name`
    /// (uncommitted): CREATE TABLE AS, and the stored rows of materialized views.
    fn compute_table(&self, state: &mut State, name: &str, plan: LogicalPlan) -> Result<TableMeta> {
        let plan = self.optimize(state, plan)?;
        if let Some(stream) = exec::file_stream(&plan) {
            // A file loaded as it is read, not held in memory whole.
            let mut data = self.new_table(state, name, &plan.schema())?;
            let pool = state.pool.clone();
            pool.install(|| self.append(state, &mut data, stream?))?;
            return Ok(data);
        }
        let result = self.execute_optimized(state, &plan)?;
        self.table_of(state, name, result)
    }

    /// Writes `result` into the new files of a table named `name` (uncommitted).
    fn table_of(&self, state: &mut State, name: &str, result: QueryResult) -> Result<TableMeta> {
        let mut data = self.new_table(state, name, &result.schema)?;
        self.append(state, &mut data, result.batches.into_iter().map(Ok))?;
        Ok(data)
    }

    /// An empty table named `name` with the columns of `schema` (all nullable).
    fn new_table(&self, state: &mut State, name: &str, schema: &SchemaRef) -> Result<TableMeta> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                Ok(ColumnDef {
                    name: f.name().clone(),
                    sql_type: SqlType::from_arrow(f.data_type())?,
                    nullable: true,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TableMeta {
            name: name.to_string(),
            columns,
            data: TableData::default(),
            id: state.catalog.allocate_table_id(),
        })
    }

    /// Computes a materialized view of `query` (bound from `sql`), uncommitted.
    fn build_mview(
        &self,
        state: &mut State,
        name: &str,
        sql: String,
        query: LogicalPlan,
        cube: Option<String>,
    ) -> Result<MaterializedView> {
        let bases = mv::snapshot(&query, &state.catalog);
        let def = mv::define(query);
        let data = self.compute_table(state, name, def.state_plan)?;
        Ok(MaterializedView {
            name: name.to_string(),
            sql,
            data,
            bases,
            refreshed_at: now(),
            last_refresh: "full".into(),
            cube,
        })
    }

    /// Commits new or refreshed materialized views (and a new or changed cube).
    fn commit_mviews(
        &self,
        state: &mut State,
        views: Vec<MaterializedView>,
        cube: Option<CubeMeta>,
    ) -> Result<()> {
        self.commit_change(state, |catalog| {
            for view in views {
                catalog.mviews.insert(view.name.to_lowercase(), view);
            }
            if let Some(cube) = cube {
                catalog.cubes.insert(cube.name.to_lowercase(), cube);
            }
            Ok(())
        })
    }

    /// A materialized view brought up to date (uncommitted), and how: "up to
    /// date", "incremental" (only appends to its base tables: the delta is merged
    /// in) or "full".
    fn refreshed(
        &self,
        state: &mut State,
        view: MaterializedView,
    ) -> Result<(MaterializedView, &'static str)> {
        let (rows, bases, mode) = self.refresh_rows(state, &view, true)?;
        let data = match rows {
            NewRows::Unchanged => view.data.clone(),
            NewRows::Append(result) => {
                let mut data = view.data.clone();
                self.append(state, &mut data, result.batches.into_iter().map(Ok))?;
                data
            }
            NewRows::Replace(result) => self.table_of(state, &view.name, result)?,
            NewRows::States(_) => unreachable!("the states are merged in"),
        };
        Ok((refreshed_view(view, data, bases, mode), mode))
    }

    /// What refreshing a materialized view changes in its stored rows (computed,
    /// not written), the base tables they then reflect, and how: "up to date",
    /// "incremental" (only appends to its base tables: the delta is merged into
    /// the stored states, or its rows appended) or "full". With `merge_states`
    /// false, an aggregate view's delta is returned unmerged (`NewRows::States`).
    fn refresh_rows(
        &self,
        state: &mut State,
        view: &MaterializedView,
        merge_states: bool,
    ) -> Result<(NewRows, Vec<catalog::BaseSnapshot>, &'static str)> {
        let name = &view.name;
        let plan = sql::bind_query_text(&state.catalog, &view.sql).map_err(|e| {
            Error::Bind(format!("materialized view {name} cannot be refreshed: {e}"))
        })?;
        let bases = mv::snapshot(&plan, &state.catalog);
        let def = mv::define(plan);
        if !state.catalog.is_stale(view) {
            return Ok((NewRows::Unchanged, bases, "up to date"));
        }
        let Some(delta) = mv::delta_plan(&def, &view.bases, &state.catalog) else {
            let rows = self.run_query(state, def.state_plan)?;
            return Ok((NewRows::Replace(rows), bases, "full"));
        };
        // The delta reads only new segments: no other view may answer it.
        let rewrite = std::mem::replace(&mut state.mv_rewrite, false);
        let rows = match &def.kind {
            mv::MvKind::Aggregate { keys, merge } if merge_states => {
                mv::merge_plan(mv::stored_scan(&view.data), delta, *keys, merge)
                    .and_then(|merged| self.run_query(state, merged))
                    .map(NewRows::Replace)
            }
            mv::MvKind::Aggregate { .. } => self
                .run_query(state, mv::row_states(delta))
                .map(NewRows::States),
            _ => self.run_query(state, delta).map(NewRows::Append),
        };
        state.mv_rewrite = rewrite;
        Ok((rows?, bases, "incremental"))
    }

    /// REFRESH MATERIALIZED VIEW: incremental when only appends happened to one
    /// base table, in full otherwise; nothing when nothing changed.
    fn refresh_mview(&self, state: &mut State, name: &str) -> Result<QueryResult> {
        let Some(view) = state.catalog.mview(name).cloned() else {
            return Err(Error::Catalog(format!(
                "Materialized view with name {name} does not exist"
            )));
        };
        let started = std::time::Instant::now();
        let (refreshed, mode) = self.refreshed(state, view)?;
        let rows = refreshed.data.row_count();
        self.commit_mviews(state, vec![refreshed], None)?;
        QueryResult::columns(vec![
            (
                "view",
                Arc::new(StringArray::from(vec![name.to_string()])) as ArrayRef,
            ),
            (
                "refresh",
                Arc::new(StringArray::from(vec![mode.to_string()])),
            ),
            (
                "rows",
                Arc::new(arrow::array::Int64Array::from(vec![rows as i64])),
            ),
            (
                "ms",
                Arc::new(arrow::array::Float64Array::from(vec![
                    started.elapsed().as_secs_f64() * 1000.0,
                ])),
            ),
        ])
    }

    /// Whether to go on creating table `name`: false for IF NOT EXISTS on an
    /// existing table, an error if it exists otherwise (unless OR REPLACE).
    fn check_new_table(
        &self,
        state: &State,
        name: &str,
        if_not_exists: bool,
        or_replace: bool,
    ) -> Result<bool> {
        let table = state.catalog.table(name);
        if table.is_none() && state.catalog.has_relation(name) {
            return Err(Error::Catalog(format!(
                "a view, materialized view or cube named \"{name}\" already exists"
            )));
        }
        match table {
            None => Ok(true),
            Some(_) if or_replace => Ok(true),
            Some(_) if if_not_exists => Ok(false),
            Some(t) => Err(Error::Catalog(format!(
                "Table with name \"{}\" already exists",
                t.name
            ))),
        }
    }

    /// Commits `table` (new or replacing one of the same name) in a new manifest.
    fn commit_table(&self, state: &mut State, table: TableMeta) -> Result<()> {
        self.commit_change(state, |catalog| {
            catalog
                .tables
                .insert(table.name.to_lowercase(), Arc::new(table));
            Ok(())
        })
    }

    /// Applies `change` to a copy of the catalog and commits it; the copy becomes
    /// the catalog only once its manifest is durable. Files no manifest references
    /// any more (replaced or dropped data, or the new files of a failed commit) are
    /// removed afterwards, or else on the next open.
    fn commit_change(
        &self,
        state: &mut State,
        change: impl FnOnce(&mut Catalog) -> Result<()>,
    ) -> Result<()> {
        let mut catalog = state.catalog.clone();
        let result = change(&mut catalog).and_then(|()| catalog.commit(&self.dir));
        if result.is_ok() {
            state.catalog = catalog;
        }
        // Files queries running now may read stay until a later commit.
        if let Ok(_no_query) = self.files_in_use.try_write() {
            let _ = catalog::remove_unreferenced_files(&self.dir, &state.catalog);
        }
        result
    }

    /// Writes `batches` as new segments of `table` (in memory only until committed).
    fn append(
        &self,
        state: &mut State,
        table: &mut TableMeta,
        batches: impl Iterator<Item = Result<RecordBatch>>,
    ) -> Result<u64> {
        let schema = table.schema();
        let prefix = state.catalog.allocate_file_prefix();
        let mut writer = TableWriter::new(
            &self.dir.join("data"),
            &prefix,
            schema.clone(),
            SEGMENT_ROWS,
        )?;
        let mut rows = 0u64;
        for batch in batches {
            let batch = conform(&batch?, &schema, &table.columns, &table.name)?;
            rows += batch.num_rows() as u64;
            writer.push(&batch)?;
        }
        let data: TableData = writer.finish()?;
        table.data.append(data);
        Ok(rows)
    }

    fn append_and_commit(
        &self,
        state: &mut State,
        table: &str,
        batches: impl Iterator<Item = Result<RecordBatch>>,
    ) -> Result<u64> {
        let mut meta = state
            .catalog
            .table(table)
            .map(|t| t.as_ref().clone())
            .ok_or_else(|| Error::Catalog(format!("Table with name {table} does not exist")))?;
        let rows = self.append(state, &mut meta, batches)?;
        self.commit_table(state, meta)?;
        Ok(rows)
    }

    /// UPDATE / DELETE / TRUNCATE: writes the rows of `rows` as the table's new
    /// data (new files, a new table id, so views over it see a replaced table)
    /// and commits them; returns how many rows the statement changed. Nothing is
    /// written when none changed.
    fn replace_rows(
        &self,
        state: &mut State,
        table: &str,
        rows: LogicalPlan,
        changed: ChangedRows,
    ) -> Result<u64> {
        let old = state
            .catalog
            .table(table)
            .cloned()
            .ok_or_else(|| Error::Catalog(format!("Table with name {table} does not exist")))?;
        let mut batches = self.run_query(state, rows)?.batches;
        let count = match changed {
            ChangedRows::Removed => {
                let kept: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
                old.row_count().saturating_sub(kept)
            }
            ChangedRows::Flagged => {
                let mut count = 0;
                for batch in &mut batches {
                    let flag = batch.num_columns() - 1;
                    use arrow::array::AsArray;
                    let Some(hits) = batch.column(flag).as_boolean_opt() else {
                        return Err(Error::Execute(
                            "the changed-rows flag is not BOOLEAN".into(),
                        ));
                    };
                    count += hits.true_count() as u64;
                    batch.remove_column(flag);
                }
                count
            }
        };
        if count == 0 {
            return Ok(0);
        }
        let mut new = TableMeta {
            name: old.name.clone(),
            columns: old.columns.clone(),
            data: TableData::default(),
            id: state.catalog.allocate_table_id(),
        };
        self.append(state, &mut new, batches.into_iter().map(Ok))?;
        self.commit_table(state, new)?;
        let replaced: Vec<String> = old.data.files.iter().map(|f| f.name.clone()).collect();
        self.store.forget(&replaced);
        Ok(count)
    }

    fn copy_from(&self, state: &mut State, table: &str, source: &ExternalSource) -> Result<u64> {
        let meta = state
            .catalog
            .table(table)
            .ok_or_else(|| Error::Catalog(format!("Table with name {table} does not exist")))?;
        let target = meta.schema();
        let (file_schema, stream) = etl::scan_files(
            &source.path,
            source.format,
            &source.csv,
            Some(target.clone()),
        )?;
        if file_schema.fields().len() != target.fields().len() {
            return Err(Error::Load(format!(
                "{} has {} columns but table {} has {}",
                source.path.display(),
                file_schema.fields().len(),
                meta.name,
                target.fields().len()
            )));
        }
        let path = source.path.display().to_string();
        let batches = etl::read_ahead(stream).map(move |b| {
            b.and_then(|b| {
                // Columns match by position; cast to the table's types.
                let columns = b
                    .columns()
                    .iter()
                    .zip(target.fields())
                    .map(|(c, f)| {
                        cast(c, f.data_type())
                            .map_err(|e| Error::Load(format!("{path}: column {}: {e}", f.name())))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(RecordBatch::try_new(target.clone(), columns)?)
            })
        });
        self.append_and_commit(state, table, batches)
    }
}

/// How a refresh changes a materialized view's stored rows.
enum NewRows {
    Unchanged,
    /// New rows after the stored ones.
    Append(QueryResult),
    /// All rows anew.
    Replace(QueryResult),
    /// An aggregate view's states of each new row (`mv::row_states`), not yet
    /// merged into the stored ones.
    States(QueryResult),
}

/// `view` with new stored rows `data`, refreshed now (`mode`: see `refresh_rows`).
fn refreshed_view(
    view: MaterializedView,
    data: TableMeta,
    bases: Vec<catalog::BaseSnapshot>,
    mode: &str,
) -> MaterializedView {
    let last_refresh = if mode == "up to date" {
        view.last_refresh.clone()
    } else {
        mode.to_string()
    };
    MaterializedView {
        data,
        bases,
        refreshed_at: now(),
        last_refresh,
        ..view
    }
}

/// Casts a batch to the table's schema and checks NOT NULL constraints.
fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
    columns: &[ColumnDef],
    table: &str,
) -> Result<RecordBatch> {
    let mut arrays = Vec::with_capacity(columns.len());
    for ((array, field), def) in batch.columns().iter().zip(schema.fields()).zip(columns) {
        if !def.nullable && array.null_count() > 0 {
            return Err(Error::Execute(format!(
                "Constraint Error: NOT NULL constraint failed: {table}.{}",
                def.name
            )));
        }
        let array = if array.data_type() == &DataType::Null {
            arrow::array::new_null_array(field.data_type(), array.len())
        } else {
            cast(array, field.data_type())?
        };
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

/// Whether a statement (other than a query) changes what the database holds.
fn changes_database(command: &Command) -> bool {
    !matches!(
        command,
        Command::Query(_)
            | Command::Explain(_)
            | Command::ShowTables
            | Command::ShowMaterializedViews
            | Command::Describe { .. }
            | Command::CopyTo { .. }
            | Command::Set { .. }
    )
}

/// The stack of the threads that parse, plan and run statements: parsing, binding,
/// optimizing and evaluating an expression recurse over its tree, and a chain of
/// 10,000 `OR`s or `+`s is a tree that deep. Only the pages used are ever committed.
const DEEP_STACK: usize = 1 << 30;

/// `f` on a thread of its own with a [`DEEP_STACK`].
fn on_deep_stack<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("olap-statement".into())
            .stack_size(DEEP_STACK)
            .spawn_scoped(scope, f)
            .map_err(|e| Error::Execute(format!("cannot start a statement thread: {e}")))?
            .join()
            .unwrap_or_else(|panic| {
                Err(Error::Execute(format!(
                    "internal error: {}",
                    panic_message(&panic)
                )))
            })
    })
}

fn build_pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .stack_size(DEEP_STACK)
        .thread_name(|i| format!("olap-worker-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| Error::Execute(format!("cannot start {threads} worker threads: {e}")))
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

/// Seconds since the Unix epoch.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A time in seconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC.
fn format_time(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}
