//! Generating the TPC-H tables straight into a database.
//!
//! The `tpchgen` crates (the generator of `tpchgen-cli`, byte for byte the data of
//! the reference `dbgen`) produce Arrow record batches; they are streamed into the
//! tables with [`Database::append_batches`], one commit per table, with no CSV or
//! Parquet file in between.
//!
//! Each table is split into parts of about [`ROWS_PER_PART`] rows (tpchgen's own
//! `part`/`part_count` split, which gives the same rows as one generator) that
//! worker threads generate in parallel, while the calling thread writes the batches
//! to the table in part order, so the rows are stored in key order, as `dbgen`
//! writes them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

use crate::error::{Error, Result};
use crate::types::SqlType;
use crate::Database;

/// The eight TPC-H tables, in the order they are generated (small ones first).
pub const TABLES: [&str; 8] = [
    "region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem",
];

/// The target number of rows in one part of a table (one unit of parallel work).
pub const ROWS_PER_PART: u64 = 250_000;

/// The number of rows in each generated record batch.
const BATCH_ROWS: usize = 16_384;

/// Batches a worker may generate ahead of the writer, per part. (Letting workers
/// run a whole part ahead doubled the memory and saved no time.)
const QUEUE_BATCHES: usize = 4;

/// What `generate_tables` did: the tables with their row counts, and how long it took.
#[derive(Debug, Clone)]
pub struct Generated {
    pub scale_factor: f64,
    /// `(table, rows)` in generation order.
    pub tables: Vec<(String, u64)>,
    pub elapsed: Duration,
}

impl Generated {
    /// The number of rows over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Generates the eight TPC-H tables at `scale_factor` into `db`, with a progress
/// bar per table on stderr when `progress` (and stderr is a terminal).
///
/// None of the tables may exist yet: if one does, nothing is changed and the error
/// says to use a fresh database or `DROP TABLE` them. If generation fails midway,
/// the tables this call created are dropped again.
pub fn generate(db: &Database, scale_factor: f64, progress: bool) -> Result<()> {
    generate_tables(db, scale_factor, progress).map(|_| ())
}

/// [`generate`], returning the row count of every table and the time taken.
pub fn generate_tables(db: &Database, scale_factor: f64, progress: bool) -> Result<Generated> {
    if !scale_factor.is_finite() || scale_factor <= 0.0 {
        return Err(Error::Bind(format!(
            "the TPC-H scale factor must be a positive number, not {scale_factor}"
        )));
    }
    let existing: HashSet<String> = db
        .execute("SHOW TABLES")?
        .to_string_rows()
        .into_iter()
        .filter_map(|row| row.into_iter().next())
        .map(|name| name.to_lowercase())
        .collect();
    let clashes: Vec<&str> = TABLES
        .iter()
        .copied()
        .filter(|t| existing.contains(*t))
        .collect();
    if !clashes.is_empty() {
        return Err(Error::Catalog(format!(
            "the database {} already has TPC-H table{} {}: generate into a fresh database \
             (another --db directory), or drop them first (DROP TABLE {})",
            db.path().display(),
            if clashes.len() == 1 { "" } else { "s" },
            clashes.join(", "),
            clashes.join(", ")
        )));
    }

    let start = Instant::now();
    let bars = if progress {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
    };
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut created = vec![];
    let mut tables = vec![];
    for table in TABLES {
        let outcome = db
            .execute(&create_table_sql(table))
            .and_then(|_| {
                created.push(table);
                load_table(db, table, scale_factor, workers, &bars)
            })
            .map_err(|e| match e {
                Error::Load(m) => Error::Load(format!("generating TPC-H table {table}: {m}")),
                other => other,
            });
        match outcome {
            Ok(rows) => tables.push((table.to_string(), rows)),
            Err(e) => {
                // Leave the database as it was; the error that matters is `e`.
                if !created.is_empty() {
                    let _ = db.execute(&format!("DROP TABLE IF EXISTS {}", created.join(", ")));
                }
                return Err(e);
            }
        }
    }
    Ok(Generated {
        scale_factor,
        tables,
        elapsed: start.elapsed(),
    })
}

/// The `CREATE TABLE` statement of a TPC-H table: the generator's column names and
/// types (keys BIGINT or INTEGER, money and quantities DECIMAL(15,2), dates DATE,
/// strings VARCHAR), every column NOT NULL.
///
/// # Panics
/// If `table` is not one of [`TABLES`].
pub fn create_table_sql(table: &str) -> String {
    let schema = table_schema(table);
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {} NOT NULL", f.name(), sql_type(f)))
        .collect();
    format!("CREATE TABLE {table} ({})", columns.join(", "))
}

/// The number of rows of `table` at `scale_factor`, as the generator makes them;
/// `None` for `lineitem`, whose 1 to 7 rows per order are drawn at random (about 4
/// per order: 60175 at SF 0.01, 6001215 at SF 1).
pub fn table_rows(table: &str, scale_factor: f64) -> Option<u64> {
    let scaled = |base: f64| (base * scale_factor) as u64;
    Some(match table {
        "region" => 5,
        "nation" => 25,
        "supplier" => scaled(10_000.0),
        "customer" => scaled(150_000.0),
        "part" => scaled(200_000.0),
        "partsupp" => 4 * scaled(200_000.0),
        "orders" => scaled(1_500_000.0),
        _ => return None,
    })
}

/// The generator's Arrow schema of `table`.
fn table_schema(table: &str) -> SchemaRef {
    match table {
        "region" => RegionArrow::schema_ref(),
        "nation" => NationArrow::schema_ref(),
        "supplier" => SupplierArrow::schema_ref(),
        "customer" => CustomerArrow::schema_ref(),
        "part" => PartArrow::schema_ref(),
        "partsupp" => PartSuppArrow::schema_ref(),
        "orders" => OrderArrow::schema_ref(),
        "lineitem" => LineItemArrow::schema_ref(),
        other => panic!("{other} is not a TPC-H table"),
    }
}

/// The SQL type a generated column is stored as (Utf8View becomes VARCHAR).
fn sql_type(field: &Field) -> SqlType {
    SqlType::from_arrow(field.data_type())
        .unwrap_or_else(|e| panic!("tpchgen column {} has no SQL type: {e}", field.name()))
}

/// The schema of the table as stored: each generated type mapped to its SQL type's
/// Arrow type.
fn stored_schema(table: &str) -> SchemaRef {
    let fields: Vec<Field> = table_schema(table)
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), sql_type(f).to_arrow(), f.is_nullable()))
        .collect();
    Arc::new(Schema::new(fields))
}

type BatchIter = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>;

/// The batches of part `part` (1-based) of `part_count` of `table`.
fn part_batches(table: &str, sf: f64, part: i32, part_count: i32) -> BatchIter {
    match table {
        "region" => Box::new(
            RegionArrow::new(RegionGenerator::new(sf, part, part_count))
                .with_batch_size(BATCH_ROWS),
        ),
        "nation" => Box::new(
            NationArrow::new(NationGenerator::new(sf, part, part_count))
                .with_batch_size(BATCH_ROWS),
        ),
        "supplier" => Box::new(
            SupplierArrow::new(SupplierGenerator::new(sf, part, part_count))
                .with_batch_size(BATCH_ROWS),
        ),
        "customer" => Box::new(
            CustomerArrow::new(CustomerGenerator::new(sf, part, part_count))
                .with_batch_size(BATCH_ROWS),
        ),
        "part" => Box::new(
            PartArrow::new(PartGenerator::new(sf, part, part_count)).with_batch_size(BATCH_ROWS),
        ),
        "partsupp" => Box::new(
            PartSuppArrow::new(PartSuppGenerator::new(sf, part, part_count))
                .with_batch_size(BATCH_ROWS),
        ),
        "orders" => Box::new(
            OrderArrow::new(OrderGenerator::new(sf, part, part_count)).with_batch_size(BATCH_ROWS),
        ),
        "lineitem" => Box::new(
            LineItemArrow::new(LineItemGenerator::new(sf, part, part_count))
                .with_batch_size(BATCH_ROWS),
        ),
        other => panic!("{other} is not a TPC-H table"),
    }
}

/// How many parts to split `table` into: about `ROWS_PER_PART` rows each, never
/// more parts than the generator has units to split (orders, for lineitem; parts,
/// for partsupp). Region and nation are not split (their generators ignore parts).
fn part_count(table: &str, sf: f64) -> i32 {
    let (units, rows) = match table {
        "region" | "nation" => return 1,
        "lineitem" => {
            let orders = table_rows("orders", sf).unwrap_or(0);
            (orders, orders * 4)
        }
        "partsupp" => (
            table_rows("part", sf).unwrap_or(0),
            table_rows(table, sf).unwrap_or(0),
        ),
        _ => {
            let rows = table_rows(table, sf).unwrap_or(0);
            (rows, rows)
        }
    };
    let parts = rows.div_ceil(ROWS_PER_PART).clamp(1, units.max(1));
    i32::try_from(parts).unwrap_or(i32::MAX)
}

/// Generates `table` (already created, empty) into `db` in one commit; returns its
/// row count.
fn load_table(
    db: &Database,
    table: &'static str,
    sf: f64,
    workers: usize,
    bars: &MultiProgress,
) -> Result<u64> {
    let expected = table_rows(table, sf);
    let bar = bars.add(
        ProgressBar::new(expected.unwrap_or_else(|| 4 * table_rows("orders", sf).unwrap_or(0)))
            .with_style(
                ProgressStyle::with_template(
                    "{prefix:>9} [{bar:30}] {human_pos:>10}/{human_len} rows  {elapsed}",
                )
                .expect("the progress template is valid")
                .progress_chars("=> "),
            )
            .with_prefix(table),
    );
    let schema = stored_schema(table);
    let parts = part_count(table, sf);
    let rows = ordered_parallel(
        parts as usize,
        workers.min(parts as usize).max(1),
        |part| {
            let schema = schema.clone();
            part_batches(table, sf, part as i32 + 1, parts)
                .map(move |batch| conform_to(batch?, &schema))
        },
        |batches| {
            let batches = batches.inspect(|b| {
                if let Ok(b) = b {
                    bar.inc(b.num_rows() as u64);
                }
            });
            db.append_batches(table, batches)
        },
    )?;
    // The lineitem total was an estimate.
    bar.set_length(rows);
    bar.finish();
    Ok(rows)
}

/// A generated batch with its columns cast to the stored types (string views to
/// strings), done on the worker thread so the writer does not have to.
fn conform_to(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                arrow::compute::cast(c, f.data_type())
            }
        })
        .collect::<std::result::Result<Vec<ArrayRef>, ArrowError>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// A message from a worker to the writer about one part.
enum Message {
    Batch(Result<RecordBatch>),
    /// The part is complete.
    Done,
}

/// Runs `parts` batch iterators (made by `make(part)`, 0-based) on `workers`
/// threads and hands their batches, in part order, to `consume` on this thread.
///
/// Workers take parts in increasing order, each with its own bounded channel, so
/// the part the consumer waits for is always being worked on, and at most
/// `workers * QUEUE_BATCHES` batches wait in memory. When `consume` returns (done
/// or failed), the channels close and the workers stop.
fn ordered_parallel<I, R>(
    parts: usize,
    workers: usize,
    make: impl Fn(usize) -> I + Sync,
    consume: impl FnOnce(&mut dyn Iterator<Item = Result<RecordBatch>>) -> Result<R>,
) -> Result<R>
where
    I: Iterator<Item = Result<RecordBatch>>,
{
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..parts)
        .map(|_| sync_channel::<Message>(QUEUE_BATCHES))
        .unzip();
    let senders: Vec<Mutex<Option<SyncSender<Message>>>> =
        senders.into_iter().map(|s| Mutex::new(Some(s))).collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let part = next.fetch_add(1, Ordering::SeqCst);
                    if part >= parts {
                        return;
                    }
                    let Some(sender) = senders[part].lock().ok().and_then(|mut s| s.take()) else {
                        return;
                    };
                    let mut failed = false;
                    for batch in make(part) {
                        failed = batch.is_err();
                        if sender.send(Message::Batch(batch)).is_err() || failed {
                            break;
                        }
                    }
                    if failed || sender.send(Message::Done).is_err() {
                        // The consumer stopped (or will, at the error): so do we.
                        stop.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
        let mut batches = PartsInOrder {
            receivers: receivers.into_iter().enumerate(),
            current: None,
        };
        let outcome = consume(&mut batches);
        stop.store(true, Ordering::Relaxed);
        drop(batches);
        outcome
    })
}

/// The batches of every part's channel, one part after the other.
struct PartsInOrder {
    receivers: std::iter::Enumerate<std::vec::IntoIter<Receiver<Message>>>,
    current: Option<(usize, Receiver<Message>)>,
}

impl Iterator for PartsInOrder {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.current.is_none() {
                self.current = Some(self.receivers.next()?);
            }
            let (part, receiver) = self.current.as_ref().expect("set above");
            match receiver.recv() {
                Ok(Message::Batch(batch)) => return Some(batch),
                Ok(Message::Done) => self.current = None,
                Err(_) => {
                    let part = *part;
                    self.current = None;
                    return Some(Err(Error::Load(format!(
                        "the generator of part {} stopped before its end",
                        part + 1
                    ))));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_uses_engine_types() {
        assert_eq!(
            create_table_sql("region"),
            "CREATE TABLE region (r_regionkey BIGINT NOT NULL, r_name VARCHAR NOT NULL, \
             r_comment VARCHAR NOT NULL)"
        );
        let lineitem = create_table_sql("lineitem");
        assert!(
            lineitem.contains("l_quantity DECIMAL(15,2) NOT NULL"),
            "{lineitem}"
        );
        assert!(
            lineitem.contains("l_linenumber INTEGER NOT NULL"),
            "{lineitem}"
        );
        assert!(lineitem.contains("l_shipdate DATE NOT NULL"), "{lineitem}");
    }

    #[test]
    fn parts_split_big_tables_only() {
        assert_eq!(part_count("nation", 10.0), 1);
        assert_eq!(part_count("supplier", 0.01), 1);
        assert_eq!(part_count("orders", 1.0), 6);
        assert_eq!(part_count("lineitem", 1.0), 24);
        assert_eq!(part_count("lineitem", 0.01), 1);
    }

    #[test]
    fn parallel_parts_arrive_in_order() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "v",
            arrow::datatypes::DataType::Int64,
            false,
        )]));
        let seen = ordered_parallel(
            7,
            3,
            |part| {
                let schema = schema.clone();
                (0..5).map(move |i| {
                    let values = arrow::array::Int64Array::from(vec![(part * 10 + i) as i64]);
                    Ok(RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).unwrap())
                })
            },
            |batches| {
                Ok(batches
                    .map(|b| {
                        let b = b.unwrap();
                        let c = b.column(0).as_any();
                        c.downcast_ref::<arrow::array::Int64Array>()
                            .unwrap()
                            .value(0)
                    })
                    .collect::<Vec<_>>())
            },
        )
        .unwrap();
        let expected: Vec<i64> = (0..7)
            .flat_map(|p| (0..5).map(move |i| p * 10 + i))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_failing_consumer_stops_the_workers() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "v",
            arrow::datatypes::DataType::Int64,
            false,
        )]));
        let outcome: Result<()> = ordered_parallel(
            50,
            2,
            |_| {
                let schema = schema.clone();
                (0..1000).map(move |i| {
                    let values = arrow::array::Int64Array::from(vec![i as i64]);
                    Ok(RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).unwrap())
                })
            },
            |batches| {
                batches.take(3).for_each(drop);
                Err(Error::Load("stop".into()))
            },
        );
        assert!(outcome.is_err());
    }

    #[test]
    fn a_failing_part_is_an_error() {
        let outcome: Result<usize> = ordered_parallel(
            3,
            2,
            |part| {
                (0..2).map(move |_| {
                    if part == 1 {
                        Err(Error::Load("broken".into()))
                    } else {
                        Ok(RecordBatch::new_empty(Arc::new(Schema::empty())))
                    }
                })
            },
            |batches| batches.collect::<Result<Vec<_>>>().map(|v| v.len()),
        );
        assert!(matches!(outcome, Err(Error::Load(m)) if m == "broken"));
    }
}
