//! The catalog: the tables of a database and where their data is, kept in one manifest.
//!
//! # The manifest
//!
//! `<db>/manifest.json` is `{"crc32c": N, "catalog": ...}`: the JSON form of [`Catalog`]
//! and the CRC32C of exactly that text, checked on every read. The catalog holds a
//! version number (incremented
//! by every commit), the next file id, and for each table (keyed by its lowercased name)
//! its columns and its [`TableData`]: the column files it uses (name, length, crc32c) and
//! its segments, each with one column chunk per column (file, encoding, buffer offsets and
//! lengths, zone map). The column files under `<db>/data/` are described in
//! [`crate::storage`]; they are immutable, so the manifest alone says what the database
//! holds. Fields are read with `#[serde(default)]`, so fields added later keep older
//! manifests readable.
//!
//! # Atomic commit
//!
//! A statement writes its new column files first (fsynced), then commits a new manifest:
//! it is written to `manifest.json.tmp`, fsynced, renamed over `manifest.json`, and the
//! directory is fsynced. The rename is atomic, so after a crash the manifest is either the
//! old one or the new one, never a mix; files written by a statement that did not commit
//! are unreferenced and removed at the next open by [`remove_unreferenced_files`] (which
//! also removes the files of dropped tables).
//!
//! # Writers and readers
//!
//! One process at a time writes: [`DirLock`] holds an exclusive lock on `<db>/.lock`
//! while a database is open for writing (the OS releases it if the process dies).
//! Any number of processes may open it read-only meanwhile: each holds a shared lock
//! on `<db>/.readers` ([`ReaderLock`]) and reads the manifest of the moment, whose
//! files are immutable. A writer removes unreferenced files only while it can lock
//! `.readers` exclusively, so no file a reader may still map disappears; with readers
//! open they stay until a later commit or open finds none.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::TableData;
use crate::types::SqlType;

/// The manifest's file name inside a database directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The directory of column files inside a database directory.
pub const DATA_DIR: &str = "data";
/// The lock file inside a database directory.
pub const LOCK_FILE: &str = ".lock";
/// The file read-only openers hold a shared lock on.
pub const READERS_FILE: &str = ".readers";

/// The `data/` directory of database directory `dir`.
pub fn data_dir(dir: &Path) -> PathBuf {
    dir.join(DATA_DIR)
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub sql_type: SqlType,
    #[serde(default = "default_true")]
    pub nullable: bool,
}

fn default_true() -> bool {
    true
}

/// A table: its name as created, its columns and its stored data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableMeta {
    pub name: String,
    pub columns: Vec<ColumnDef>,
    #[serde(default)]
    pub data: TableData,
    /// Identifies this incarnation of the table: a table created anew (or replaced)
    /// gets a new id, appends keep it. Materialized views use it to tell appends
    /// from other changes.
    #[serde(default)]
    pub id: u64,
}

impl TableMeta {
    /// The table's Arrow schema (column names as given, types from `SqlType::to_arrow`).
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.sql_type.to_arrow(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }

    pub fn row_count(&self) -> u64 {
        self.data.row_count()
    }

    /// The index of column `name` (case-insensitive).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
            .or_else(|| {
                let lower = name.to_lowercase();
                self.columns
                    .iter()
                    .position(|c| c.name.to_lowercase() == lower)
            })
    }
}

/// A view: a name for a query, stored as its SQL text and bound when used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewMeta {
    pub name: String,
    /// The SELECT statement that defines the view.
    pub sql: String,
    /// Names for the query's columns (`CREATE VIEW v (a, b) AS ...`); may be empty.
    #[serde(default)]
    pub columns: Vec<String>,
}

/// A materialized view: a query whose result is stored in column files, with what
/// its base tables looked like when it was last refreshed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MaterializedView {
    pub name: String,
    /// The defining query.
    pub sql: String,
    /// The stored rows (for an aggregate view: group keys and aggregate states).
    pub data: TableMeta,
    /// The base tables as of the last refresh.
    pub bases: Vec<BaseSnapshot>,
    /// When the last refresh happened (seconds since the Unix epoch).
    pub refreshed_at: u64,
    /// How the last refresh was done: "full" or "incremental".
    pub last_refresh: String,
    /// The cube this view is a cuboid of, if any.
    #[serde(default)]
    pub cube: Option<String>,
}

/// A data cube: aggregates over a FROM clause grouped by every subset of its
/// dimensions, of which the chosen cuboids are stored as materialized views.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CubeMeta {
    pub name: String,
    pub from: String,
    pub dimensions: Vec<String>,
    pub measures: Vec<String>,
    /// The materialized views holding its cuboids, the base cuboid first.
    pub cuboids: Vec<String>,
}

/// A base table of a materialized view as of its last refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseSnapshot {
    pub table: String,
    pub id: u64,
    pub segments: usize,
    pub rows: u64,
}

/// Every table and view of a database: the content of the manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    /// Incremented by every commit.
    #[serde(default)]
    pub version: u64,
    /// The id of the next file prefix to hand out.
    #[serde(default)]
    pub next_file_id: u64,
    /// The tables, keyed by lowercased name (shared: a query binds a table
    /// without copying its segments' metadata).
    #[serde(default)]
    pub tables: BTreeMap<String, Arc<TableMeta>>,
    /// The views, keyed by lowercased name.
    #[serde(default)]
    pub views: BTreeMap<String, ViewMeta>,
    /// The materialized views, keyed by lowercased name.
    #[serde(default)]
    pub mviews: BTreeMap<String, MaterializedView>,
    /// The data cubes, keyed by lowercased name.
    #[serde(default)]
    pub cubes: BTreeMap<String, CubeMeta>,
    /// The id the next created table gets.
    #[serde(default)]
    pub next_table_id: u64,
    /// The database directory this catalog was loaded from or committed to (not stored);
    /// used to skip file prefixes that exist on disk.
    #[serde(skip)]
    pub dir: Option<PathBuf>,
}

impl Catalog {
    /// Reads `<dir>/manifest.json`, or returns an empty catalog if there is none yet
    /// (creating `dir` and `dir/data` as needed).
    pub fn load(dir: &Path) -> Result<Catalog> {
        let data = data_dir(dir);
        std::fs::create_dir_all(&data)
            .map_err(|e| Error::io(format!("creating database directory {}", data.display()), e))?;
        Catalog::read(dir)
    }

    /// Reads `<dir>/manifest.json` (an empty catalog if there is none), writing nothing.
    fn read(dir: &Path) -> Result<Catalog> {
        let path = dir.join(MANIFEST_FILE);
        let mut catalog = match std::fs::read(&path) {
            Ok(bytes) => parse_manifest(&bytes, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Catalog::default(),
            Err(e) => return Err(Error::io(format!("reading manifest {}", path.display()), e)),
        };
        for (key, table) in &catalog.tables {
            if *key != table.name.to_lowercase() {
                return Err(Error::Corrupt(format!(
                    "manifest {}: table {} is stored under key {key}",
                    path.display(),
                    table.name
                )));
            }
        }
        catalog.dir = Some(dir.to_path_buf());
        Ok(catalog)
    }

    /// The catalog of the existing database in `dir`, for reading only.
    pub fn open_read_only(dir: &Path) -> Result<Catalog> {
        let manifest = dir.join(MANIFEST_FILE);
        match manifest.try_exists() {
            Ok(true) => Catalog::read(dir),
            Ok(false) => Err(Error::Catalog(format!(
                "{} is not a database (it has no {MANIFEST_FILE}) and cannot be created read-only",
                dir.display()
            ))),
            Err(e) => Err(Error::io(
                format!("reading manifest {}", manifest.display()),
                e,
            )),
        }
    }

    /// The catalog of the database in `dir`; for a directory without one, a new
    /// empty database, its first manifest committed at once (so that data files
    /// never exist without a manifest). A directory that holds data files but
    /// no manifest is refused as corrupt and left as it is: its manifest was
    /// lost, and reading it as empty would delete every data file as
    /// unreferenced.
    pub fn open(dir: &Path) -> Result<Catalog> {
        let manifest = dir.join(MANIFEST_FILE);
        let exists = manifest
            .try_exists()
            .map_err(|e| Error::io(format!("reading manifest {}", manifest.display()), e))?;
        if exists {
            return Catalog::load(dir);
        }
        let data = data_dir(dir);
        let files = match std::fs::read_dir(&data) {
            Ok(entries) => entries.count(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(Error::io(format!("reading {}", data.display()), e)),
        };
        if files > 0 {
            return Err(Error::Corrupt(format!(
                "manifest missing: {} has no {MANIFEST_FILE}, but {} holds {files} data \
                 files (nothing was deleted; restore the manifest from a backup)",
                dir.display(),
                data.display()
            )));
        }
        let mut catalog = Catalog::load(dir)?;
        catalog.commit(dir)?;
        Ok(catalog)
    }

    /// Atomic commit: increments `version`, writes `<dir>/manifest.json.tmp`, fsyncs it,
    /// renames it over `manifest.json` and fsyncs the directory. On error the manifest on
    /// disk (and `version`) stay as they were.
    pub fn commit(&mut self, dir: &Path) -> Result<()> {
        self.version += 1;
        let result = self.write_manifest(dir);
        if result.is_err() {
            self.version -= 1;
        } else {
            self.dir = Some(dir.to_path_buf());
        }
        result
    }

    fn write_manifest(&self, dir: &Path) -> Result<()> {
        let catalog = serde_json::to_string(self)
            .map_err(|e| Error::Execute(format!("cannot encode the manifest: {e}")))?;
        let crc = crc32c::crc32c(catalog.as_bytes());
        let bytes = format!("{{\"crc32c\":{crc},\"catalog\":{catalog}}}");
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let path = dir.join(MANIFEST_FILE);
        let write = || -> std::io::Result<()> {
            crate::storage::crash_points::step();
            let mut file = File::create(&tmp)?;
            file.write_all(bytes.as_bytes())?;
            file.sync_all()
        };
        write().map_err(|e| Error::io(format!("writing manifest {}", tmp.display()), e))?;
        crate::storage::crash_points::step();
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(format!("replacing manifest {}", path.display()), e)
        })?;
        crate::storage::writer::sync_dir(dir)
    }

    /// The table `name` (case-insensitive).
    pub fn table(&self, name: &str) -> Option<&Arc<TableMeta>> {
        self.tables.get(&name.to_lowercase())
    }

    /// The table `name` (case-insensitive), to modify.
    pub fn table_mut(&mut self, name: &str) -> Option<&mut TableMeta> {
        self.tables.get_mut(&name.to_lowercase()).map(Arc::make_mut)
    }

    /// A new unique file prefix for a write (`f000042`). Bumps `next_file_id` (persisted
    /// at the next commit), skipping ids of files that exist in the data directory.
    pub fn allocate_file_prefix(&mut self) -> String {
        if let Some(dir) = &self.dir {
            if let Ok(entries) = std::fs::read_dir(data_dir(dir)) {
                for entry in entries.flatten() {
                    if let Some(id) = entry.file_name().to_str().and_then(file_id) {
                        self.next_file_id = self.next_file_id.max(id.saturating_add(1));
                    }
                }
            }
        }
        for table in self.tables.values() {
            for file in &table.data.files {
                if let Some(id) = file_id(&file.name) {
                    self.next_file_id = self.next_file_id.max(id.saturating_add(1));
                }
            }
        }
        let id = self.next_file_id;
        self.next_file_id += 1;
        format!("f{id:06}")
    }

    /// The view named `name` (case-insensitive).
    pub fn view(&self, name: &str) -> Option<&ViewMeta> {
        self.views.get(&name.to_lowercase())
    }

    /// Whether a table, a view or a materialized view has this name.
    pub fn has_relation(&self, name: &str) -> bool {
        self.table(name).is_some()
            || self.view(name).is_some()
            || self.mview(name).is_some()
            || self.cubes.contains_key(&name.to_lowercase())
    }

    /// The materialized view named `name` (case-insensitive).
    pub fn mview(&self, name: &str) -> Option<&MaterializedView> {
        self.mviews.get(&name.to_lowercase())
    }

    /// A new table id (see `TableMeta::id`).
    pub fn allocate_table_id(&mut self) -> u64 {
        self.next_table_id += 1;
        self.next_table_id
    }

    /// Whether the base tables of `mv` changed since its last refresh.
    pub fn is_stale(&self, mv: &MaterializedView) -> bool {
        mv.bases.iter().any(|b| {
            self.table(&b.table)
                .is_none_or(|t| t.id != b.id || t.data.segments.len() != b.segments)
        })
    }

    /// Every data file name referenced by any table.
    pub fn referenced_files(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let stored = self
            .tables
            .values()
            .map(|t| t.as_ref())
            .chain(self.mviews.values().map(|m| &m.data));
        for table in stored {
            names.extend(table.data.files.iter().map(|f| f.name.clone()));
            for segment in &table.data.segments {
                names.extend(segment.columns.iter().map(|c| c.file.clone()));
            }
        }
        names
    }
}

/// The id of a file named `f<digits>.<anything>`.
fn file_id(name: &str) -> Option<u64> {
    let rest = name.strip_prefix('f')?;
    let digits = &rest[..rest.find('.')?];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Deletes the files in `<dir>/data` that no table references (left by a crashed or failed
/// statement, or by DROP), and a `manifest.json.tmp` left by a crash before its rename.
/// Called after open and after DROP.
pub fn remove_unreferenced_files(dir: &Path, catalog: &Catalog) -> Result<()> {
    // A manifest written by a statement killed before renaming it.
    remove_if_present(&dir.join(format!("{MANIFEST_FILE}.tmp")))?;
    // Files a read-only process may still read stay while one is open.
    let readers_path = dir.join(READERS_FILE);
    let readers = open_readers_file(&readers_path);
    if let Some(file) = &readers {
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(()),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("locking {}", readers_path.display()), e))
            }
        }
    }
    let data = data_dir(dir);
    let entries = match std::fs::read_dir(&data) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("listing {}", data.display()), e)),
    };
    let referenced = catalog.referenced_files();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", data.display()), e))?;
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        let name = entry.file_name();
        let keep = name.to_str().is_some_and(|n| referenced.contains(n));
        if is_file && !keep {
            crate::storage::crash_points::step();
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
}

/// Removes file `path`; one that is not there is fine.
fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
    }
}

/// The manifest file: the catalog's JSON and the CRC32C of exactly that text.
#[derive(Deserialize)]
struct ManifestFile<'a> {
    crc32c: u32,
    #[serde(borrow)]
    catalog: &'a serde_json::value::RawValue,
}

/// The catalog in manifest file `bytes` (read from `path`), its checksum verified:
/// a damaged manifest is an error naming it, never a catalog that parses but
/// says something else.
fn parse_manifest(bytes: &[u8], path: &Path) -> Result<Catalog> {
    let corrupt = |why: String| Error::Corrupt(format!("manifest {} {why}", path.display()));
    let unreadable = |e: serde_json::Error| corrupt(format!("cannot be read: {e}"));
    // Written before manifests carried a checksum (the catalog's first field).
    if bytes.starts_with(b"{\"version\":") {
        return serde_json::from_slice(bytes).map_err(unreadable);
    }
    let file: ManifestFile = serde_json::from_slice(bytes).map_err(unreadable)?;
    let text = file.catalog.get();
    if crc32c::crc32c(text.as_bytes()) != file.crc32c {
        return Err(corrupt(
            "is damaged: the checksum of its contents does not match".into(),
        ));
    }
    serde_json::from_str(text).map_err(unreadable)
}

/// `<dir>/.readers`, created if it can be (None where the directory is read-only:
/// no writer can remove files there either).
fn open_readers_file(path: &Path) -> Option<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .or_else(|_| File::open(path))
        .ok()
}

/// A shared lock on `<dir>/.readers`, held by a read-only database for its life:
/// writers leave unreferenced files in place while one is held.
#[derive(Debug)]
pub struct ReaderLock {
    _file: Option<File>,
}

impl ReaderLock {
    /// Waits for a writer removing files to finish, then holds the shared lock.
    pub fn acquire(dir: &Path) -> Result<ReaderLock> {
        let path = dir.join(READERS_FILE);
        let file = open_readers_file(&path);
        if let Some(file) = &file {
            file.lock_shared()
                .map_err(|e| Error::io(format!("locking {}", path.display()), e))?;
        }
        Ok(ReaderLock { _file: file })
    }
}

/// An exclusive lock on `<dir>/.lock`, held for the life of the value.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Locks database directory `dir` (creating it if needed). A second lock of the same
    /// directory, by this or another process, fails with `Error::Catalog`.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating database directory {}", dir.display()), e))?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(format!("opening lock file {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file, path }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Catalog(format!(
                "database {} is locked by another process that writes to it (it can be opened read-only meanwhile)",
                dir.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(Error::io(format!("locking {}", path.display()), e))
            }
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{FileStore, TableWriter};
    use arrow::array::{ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Int32Type};

    fn temp_dir(tag: &str) -> PathBuf {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("olap-catalog-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn sales() -> TableMeta {
        TableMeta {
            id: 1,
            name: "Sales".into(),
            columns: vec![
                ColumnDef {
                    name: "Store".into(),
                    sql_type: SqlType::Varchar,
                    nullable: true,
                },
                ColumnDef {
                    name: "qty".into(),
                    sql_type: SqlType::Integer,
                    nullable: false,
                },
            ],
            data: TableData::default(),
        }
    }

    /// Writes `rows` rows into table `sales` of `catalog` (as a statement would).
    fn insert(dir: &Path, catalog: &mut Catalog, rows: i32) -> TableData {
        let prefix = catalog.allocate_file_prefix();
        let schema = catalog.table("sales").unwrap().schema();
        let mut w = TableWriter::new(&data_dir(dir), &prefix, schema.clone(), 4).unwrap();
        let stores: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("s{}", i % 2)),
        ));
        let qty: ArrayRef = Arc::new(Int32Array::from_iter_values(0..rows));
        w.push(&RecordBatch::try_new(schema, vec![stores, qty]).unwrap())
            .unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn empty_directory_gives_empty_catalog() {
        let dir = temp_dir("empty");
        let c = Catalog::load(&dir).unwrap();
        assert!(c.tables.is_empty() && c.version == 0);
        assert!(dir.join("data").is_dir());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn commit_and_reload() {
        let dir = temp_dir("commit");
        let mut c = Catalog::load(&dir).unwrap();
        c.tables.insert("sales".into(), Arc::new(sales()));
        let data = insert(&dir, &mut c, 10);
        c.table_mut("SALES").unwrap().data.append(data);
        c.commit(&dir).unwrap();
        assert_eq!(c.version, 1);
        assert!(!dir.join("manifest.json.tmp").exists());

        let back = Catalog::load(&dir).unwrap();
        assert_eq!(back.version, 1);
        assert_eq!(back.next_file_id, c.next_file_id);
        let t = back.table("sAlEs").unwrap();
        assert_eq!(t.row_count(), 10);
        assert_eq!(t.data.segments.len(), 3);
        assert_eq!(t.columns, sales().columns);
        assert_eq!(t.column_index("STORE"), Some(0));
        assert_eq!(t.column_index("Qty"), Some(1));
        assert_eq!(t.column_index("nope"), None);
        let schema = t.schema();
        assert_eq!(schema.field(0).name(), "Store");
        assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
        assert!(!schema.field(1).is_nullable());
        // The reloaded manifest reads the data back.
        let store = FileStore::new(data_dir(&dir));
        let seg = &t.data.segments[2];
        let q = store
            .read_column(&t.data, seg, 1, &DataType::Int32)
            .unwrap();
        assert_eq!(q.as_primitive::<Int32Type>().values().to_vec(), vec![8, 9]);
        let s = store
            .read_column(&t.data, &t.data.segments[0], 0, &DataType::Utf8)
            .unwrap();
        assert_eq!(s.as_string::<i32>().value(1), "s1");

        // A second commit bumps the version; the unrelated field default keeps working.
        let mut again = back.clone();
        again.commit(&dir).unwrap();
        assert_eq!(Catalog::load(&dir).unwrap().version, 2);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn failed_commit_keeps_the_old_manifest() {
        let dir = temp_dir("failcommit");
        let mut c = Catalog::load(&dir).unwrap();
        c.tables.insert("sales".into(), Arc::new(sales()));
        c.commit(&dir).unwrap();
        // A directory where the temporary manifest should go makes the write fail.
        std::fs::create_dir(dir.join("manifest.json.tmp")).unwrap();
        c.tables.clear();
        assert!(matches!(c.commit(&dir), Err(Error::Io { .. })));
        assert_eq!(c.version, 1);
        let back = Catalog::load(&dir).unwrap();
        assert_eq!(back.version, 1);
        assert!(back.table("sales").is_some());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn garbage_manifest_is_corrupt() {
        let dir = temp_dir("garbage");
        std::fs::create_dir_all(&dir).unwrap();
        for garbage in [&b"{not json"[..], b"", b"\xff\xfe", b"{\"tables\": 3}"] {
            std::fs::write(dir.join(MANIFEST_FILE), garbage).unwrap();
            let err = Catalog::load(&dir).unwrap_err();
            assert!(
                matches!(&err, Error::Corrupt(m) if m.contains("manifest.json")),
                "{err}"
            );
        }
        // Older manifests without newer fields still load.
        std::fs::write(dir.join(MANIFEST_FILE), b"{\"version\": 7}").unwrap();
        assert_eq!(Catalog::load(&dir).unwrap().version, 7);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn second_lock_fails_until_released() {
        let dir = temp_dir("lock");
        let lock = DirLock::acquire(&dir).unwrap();
        let err = DirLock::acquire(&dir).unwrap_err();
        assert!(
            matches!(&err, Error::Catalog(m) if m.contains("is locked by another process")),
            "{err}"
        );
        drop(lock);
        let again = DirLock::acquire(&dir).unwrap();
        assert!(again.path().ends_with(".lock"));
        drop(again);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn unreferenced_files_are_removed_and_prefixes_stay_unique() {
        let dir = temp_dir("gc");
        let mut c = Catalog::load(&dir).unwrap();
        c.tables.insert("sales".into(), Arc::new(sales()));
        let kept = insert(&dir, &mut c, 6);
        c.table_mut("sales").unwrap().data.append(kept);
        c.commit(&dir).unwrap();
        // A statement that wrote files but never committed (a crash).
        let mut uncommitted = c.clone();
        let orphan = insert(&dir, &mut uncommitted, 3);
        let orphan_names: Vec<String> = orphan.files.iter().map(|f| f.name.clone()).collect();
        // The in-memory catalog (which never saw that prefix) still skips it.
        let mut reloaded = Catalog::load(&dir).unwrap();
        let prefix = reloaded.allocate_file_prefix();
        assert!(orphan_names
            .iter()
            .all(|n| !n.starts_with(&format!("{prefix}."))));
        std::fs::write(data_dir(&dir).join("stray.tmp"), b"x").unwrap();
        std::fs::create_dir(data_dir(&dir).join("subdir")).unwrap();

        remove_unreferenced_files(&dir, &reloaded).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(data_dir(&dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut expected: Vec<String> = reloaded.referenced_files().into_iter().collect();
        expected.push("subdir".into());
        expected.sort();
        assert_eq!(left, expected);
        assert_eq!(reloaded.referenced_files().len(), 2);
        // Data still reads after the cleanup.
        let t = reloaded.table("sales").unwrap();
        let store = FileStore::new(data_dir(&dir));
        assert!(store
            .read_column(&t.data, &t.data.segments[0], 1, &DataType::Int32)
            .is_ok());

        // DROP: no table references anything, so everything goes.
        reloaded.tables.clear();
        reloaded.commit(&dir).unwrap();
        remove_unreferenced_files(&dir, &reloaded).unwrap();
        assert_eq!(std::fs::read_dir(data_dir(&dir)).unwrap().count(), 1); // subdir
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn file_ids_parse() {
        assert_eq!(file_id("f000042.c3.col"), Some(42));
        assert_eq!(file_id("f7.x"), Some(7));
        assert_eq!(file_id("f.c1.col"), None);
        assert_eq!(file_id("g000001.c0.col"), None);
        assert_eq!(file_id("f12"), None);
        let mut c = Catalog::default();
        assert_eq!(c.allocate_file_prefix(), "f000000");
        assert_eq!(c.allocate_file_prefix(), "f000001");
        assert_eq!(c.next_file_id, 2);
    }
}
