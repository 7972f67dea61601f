//! Pipeline sources: table scans over segments, and batches already in memory.
//!
//! A table scan's morsel is a slice of at most [`MORSEL_ROWS`] rows of one
//! segment: small enough that even a table of one segment keeps every worker
//! busy, large enough that per-batch costs do not count. A smaller table is cut
//! into at least [`MIN_MORSELS`] morsels (of at least [`MIN_MORSEL_ROWS`] rows),
//! so that its work still spreads evenly over the workers. Before reading it, the
//! scan checks each pushed-down predicate of the form `column <op> constant`
//! against the segment's zone map (min, max, null count) and skips the morsel when
//! no row of its segment can match; otherwise it maps the needed columns
//! (zero-copy) and slices them.
//!
//! A pushed-down conjunct that reads one column stored dictionary-encoded in the
//! chunk is evaluated once per dictionary entry (plus once for NULL), and each
//! row takes its entry's answer: a string comparison per distinct value instead
//! of per row. Dictionary columns are decoded to plain strings only for the rows
//! those conjuncts keep; the other conjuncts run on the decoded rows, but for
//! each part of their AND / OR / NOT structure that reads one dictionary column
//! alone, computed per entry the same way (its NULLs kept apart from false):
//! TPC-H Q19's `(p_brand = 'Brand#12' AND p_size <= 5) OR ...` compares
//! strings once per distinct brand. Rows find their entry's answer through the
//! dictionary's keys as they are stored (one or two bytes).
//!
//! A hash join above on one integer key whose build values leave most of their
//! range out hands the scan of its probe side the set of them
//! ([`KeyRange::filter`], with the range that skips segments): the scan drops
//! the rows whose key has no partner before it widens or decodes their other
//! columns (TPC-H Q2 and Q11 keep a fifth and a twenty-fifth of `partsupp`).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray, RecordBatch, RecordBatchOptions,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{
    ArrowDictionaryKeyType, ArrowNativeType, DataType, Field, Schema, SchemaRef, UInt16Type,
    UInt8Type,
};

use super::expr::{evaluate, evaluate_predicate};
use super::hash_join::KeyFilter;
use super::pipeline::Source;
use crate::catalog::TableMeta;
use crate::error::{Error, Result};
use crate::plan::{BinaryOp, Expr};
use crate::storage::reader::{batch_typed_as_columns, decode, StoredColumn};
use crate::storage::{FileStore, ZonePredicate};

/// Rows whose column `column` lies outside `[min, max]`, or is rejected by
/// `filter`, cannot contribute to the query (a join above has no partner for
/// them).
#[derive(Debug, Clone)]
pub struct KeyRange {
    pub column: usize,
    pub min: crate::types::ScalarValue,
    pub max: crate::types::ScalarValue,
    pub(super) filter: Option<KeyFilter>,
}

/// The most rows of one scan morsel.
pub const MORSEL_ROWS: usize = 32 * 1024;
/// How many morsels a scan has at least, unless they would be smaller than
/// [`MIN_MORSEL_ROWS`].
const MIN_MORSELS: usize = 16;
const MIN_MORSEL_ROWS: usize = 4 * 1024;

/// Reads `projection` of a table, morsel by morsel.
pub struct ScanSource {
    pub table: Arc<TableMeta>,
    pub projection: Vec<usize>,
    /// Conjuncts over the projected columns, applied to every segment read.
    pub conjuncts: Vec<Conjunct>,
    /// (table column, predicate) pairs checked against zone maps.
    pub zone_predicates: Vec<(usize, ZonePredicate)>,
    pub schema: SchemaRef,
    pub store: Arc<FileStore>,
    /// (segment, first row, rows) of each morsel, in table order.
    morsels: Vec<(usize, usize, usize)>,
    /// Per projected column: whether it stays dictionary-encoded.
    keep_encoded: Vec<bool>,
    /// Projected integer columns whose rows a join above has no partner for
    /// unless their value passes the filter (its build keys).
    key_filters: Vec<(usize, KeyFilter)>,
}

/// A pushed-down conjunct, with what its evaluation per dictionary entry needs.
pub struct Conjunct {
    pub expr: Expr,
    /// For a conjunct that reads exactly one column (and no subquery): that
    /// projected column, and the conjunct rewritten over a batch of that column
    /// alone.
    single_column: Option<(usize, Expr)>,
    /// For `column <op> constant`: the projected column and the comparison, which
    /// a packed column evaluates on its packed values.
    comparison: Option<(usize, ZonePredicate)>,
}

impl Conjunct {
    fn new(expr: &Expr) -> Conjunct {
        let mut read = vec![];
        expr.collect_columns(&mut read);
        read.dedup();
        let single_column = match read[..] {
            [column] if !expr.has_subquery() => Some((column, expr.clone().remap_columns(&|_| 0))),
            _ => None,
        };
        Conjunct {
            expr: expr.clone(),
            single_column,
            comparison: zone_predicate(expr),
        }
    }
}

impl ScanSource {
    pub fn new(
        table: Arc<TableMeta>,
        projection: Vec<usize>,
        filters: &[Expr],
        schema: SchemaRef,
        store: Arc<FileStore>,
    ) -> ScanSource {
        let conjuncts: Vec<Conjunct> = filters.iter().map(Conjunct::new).collect();
        let zone_predicates = conjuncts
            .iter()
            .filter_map(|c| c.comparison.clone())
            .map(|(i, p)| (projection[i], p))
            .collect();
        let morsel_rows = (table.row_count() as usize)
            .div_ceil(MIN_MORSELS)
            .clamp(MIN_MORSEL_ROWS, MORSEL_ROWS);
        let morsels = table
            .data
            .segments
            .iter()
            .enumerate()
            .flat_map(|(i, segment)| {
                let rows = segment.row_count as usize;
                (0..rows)
                    .step_by(morsel_rows)
                    .map(move |start| (i, start, morsel_rows.min(rows - start)))
            })
            .collect();
        ScanSource {
            conjuncts,
            zone_predicates,
            morsels,
            keep_encoded: vec![false; projection.len()],
            key_filters: vec![],
            table,
            projection,
            schema,
            store,
        }
    }

    /// Leaves these projected columns (strings) dictionary-encoded where their
    /// chunks are: batches then carry `DictionaryArray`s there (their schema
    /// says so), for a consumer that takes them (see [`super::key_table`]).
    pub fn keeping_encoded(mut self, columns: &[usize]) -> ScanSource {
        for &c in columns {
            if let Some(keep) = self.keep_encoded.get_mut(c) {
                *keep = true;
            }
        }
        self
    }

    /// Also skips segments whose zone maps put projected column `column` wholly
    /// outside `[min, max]` (key ranges of the hash joins above).
    pub fn with_ranges(mut self, ranges: &[KeyRange]) -> ScanSource {
        for r in ranges {
            self.zone_predicates.push((
                self.projection[r.column],
                ZonePredicate::Between(r.min.clone(), r.max.clone()),
            ));
            if let Some(filter) = &r.filter {
                self.key_filters.push((r.column, filter.clone()));
            }
        }
        self
    }

    /// Whether the zone maps of segment `i` admit a matching row.
    pub fn segment_may_match(&self, i: usize) -> bool {
        segment_may_match(&self.table, i, &self.zone_predicates)
    }
}

fn segment_may_match(table: &TableMeta, i: usize, predicates: &[(usize, ZonePredicate)]) -> bool {
    let segment = &table.data.segments[i];
    predicates.iter().all(|(column, predicate)| {
        segment.columns[*column]
            .zone
            .may_match(predicate, segment.row_count)
    })
}

/// How many segments of `table` a scan with these `filters` (over the projected
/// columns) reads after zone-map pruning.
pub fn matching_segments(table: &TableMeta, projection: &[usize], filters: &[Expr]) -> usize {
    segments_read(table, projection, filters).len()
}

/// The numbers of the segments of `table` whose zone maps do not exclude `filters`.
pub fn segments_read(table: &TableMeta, projection: &[usize], filters: &[Expr]) -> Vec<usize> {
    let predicates: Vec<(usize, ZonePredicate)> = filters
        .iter()
        .filter_map(zone_predicate)
        .map(|(i, p)| (projection[i], p))
        .collect();
    (0..table.data.segments.len())
        .filter(|&i| segment_may_match(table, i, &predicates))
        .collect()
}

impl Source for ScanSource {
    fn morsel_count(&self) -> usize {
        self.morsels.len()
    }

    fn read(&self, morsel: usize) -> Result<Option<RecordBatch>> {
        let (index, start, rows) = self.morsels[morsel];
        if !self.segment_may_match(index) {
            return Ok(None);
        }
        let segment = &self.table.data.segments[index];
        let mut columns = self
            .projection
            .iter()
            .zip(self.schema.fields())
            .map(|(&c, f)| {
                self.store.read_stored_rows(
                    &self.table.data,
                    segment,
                    c,
                    f.data_type(),
                    start..start + rows,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        // Conjuncts over one dictionary column (entry by entry) or comparing one
        // packed column with a constant (on the packed values).
        let mut mask: Option<BooleanArray> = None;
        let mut rest = vec![];
        for conjunct in &self.conjuncts {
            let on_stored = match dictionary_mask(conjunct, &columns, &self.schema)? {
                Some(m) => Some(m),
                None => packed_mask(conjunct, &columns),
            };
            match on_stored {
                Some(m) => {
                    mask = Some(match mask {
                        Some(before) => arrow::compute::and(&before, &m)?,
                        None => m,
                    })
                }
                None => rest.push(conjunct.expr.clone()),
            }
        }
        // Rows whose join key has no partner above, before the other columns
        // are widened.
        for (column, filter) in &self.key_filters {
            let keys = columns[*column].widen();
            let pass = filter.mask(&keys)?;
            columns[*column] = StoredColumn::Array(keys);
            mask = Some(match mask {
                Some(before) => arrow::compute::and(&before, &pass)?,
                None => pass,
            });
        }
        let mut rows = rows;
        if let Some(mask) = mask {
            rows = keep_rows(&mut columns, &mask, rows)?;
        }
        // The other conjuncts read their columns decoded, but for their parts
        // over one dictionary column, computed per entry; the rows they drop
        // are dropped before the other columns are widened or decoded.
        if let Some(rest) = Expr::conjunction(rest).filter(|_| rows > 0) {
            let width = columns.len();
            let mut per_entry = vec![];
            let rest = self.per_entry_parts(rest, &columns, width, &mut per_entry)?;
            let mut read = vec![];
            rest.collect_columns(&mut read);
            read.sort_unstable();
            read.dedup();
            let mut fields = Vec::with_capacity(read.len());
            let mut decoded = Vec::with_capacity(read.len());
            for &c in &read {
                let (field, array) = match c.checked_sub(width) {
                    Some(k) => (
                        Field::new(format!("#part{k}"), DataType::Boolean, true),
                        Arc::clone(&per_entry[k]),
                    ),
                    None => {
                        let field = self.schema.field(c).clone();
                        let array = decode(&columns[c].widen(), field.data_type())?;
                        columns[c] = StoredColumn::Array(array.clone());
                        (field, array)
                    }
                };
                fields.push(field);
                decoded.push(array);
            }
            // Evaluated over a batch of the columns it reads.
            let rest = rest.remap_columns(&|c| read.binary_search(&c).unwrap_or(0));
            let as_read = RecordBatch::try_new_with_options(
                Arc::new(Schema::new(fields)),
                decoded,
                &RecordBatchOptions::new().with_row_count(Some(rows)),
            )?;
            rows = keep_rows(&mut columns, &evaluate_predicate(&rest, &as_read)?, rows)?;
        }
        let columns = columns
            .iter()
            .zip(self.schema.fields())
            .zip(&self.keep_encoded)
            .map(|((c, f), &keep)| {
                let c = c.widen();
                if keep {
                    Ok(c)
                } else {
                    decode(&c, f.data_type())
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(batch_typed_as_columns(&self.schema, columns, rows)?))
    }
}

impl ScanSource {
    /// `expr` with each part of its AND / OR / NOT structure that reads just
    /// one column, dictionary-encoded in this chunk, replaced by column `width +
    /// k` of its values in `computed` (NULLs kept: a part's NULL and false
    /// differ under NOT), computed once per dictionary entry.
    fn per_entry_parts(
        &self,
        expr: Expr,
        columns: &[StoredColumn],
        width: usize,
        computed: &mut Vec<ArrayRef>,
    ) -> Result<Expr> {
        let mut read = vec![];
        expr.collect_columns(&mut read);
        read.dedup();
        if let ([column], false) = (&read[..], expr.has_subquery()) {
            let StoredColumn::Array(array) = &columns[*column] else {
                return Ok(expr);
            };
            if array.as_any_dictionary_opt().is_none() || expr.data_type() != DataType::Boolean {
                return Ok(expr);
            }
            let over_column = expr.remap_columns(&|_| 0);
            let values = per_entry(&over_column, array, self.schema.field(*column))?;
            computed.push(Arc::new(values));
            let name = format!("#part{}", computed.len() - 1);
            return Ok(Expr::column(
                width + computed.len() - 1,
                name,
                DataType::Boolean,
            ));
        }
        let mut parts = |e: Expr| self.per_entry_parts(e, columns, width, computed);
        Ok(match expr {
            Expr::Binary {
                op: op @ (BinaryOp::And | BinaryOp::Or),
                left,
                right,
                data_type,
            } => Expr::Binary {
                op,
                left: Box::new(parts(*left)?),
                right: Box::new(parts(*right)?),
                data_type,
            },
            Expr::Not(e) => Expr::Not(Box::new(parts(*e)?)),
            other => other,
        })
    }
}

/// Keeps the rows of `columns` (`rows` of them) where `mask` is true; returns
/// how many.
fn keep_rows(columns: &mut [StoredColumn], mask: &BooleanArray, rows: usize) -> Result<usize> {
    let kept = mask.true_count();
    if kept < rows {
        // The mask's runs or indexes worked out once for every column.
        let predicate = crate::buffer_pool::RowFilter::new(mask);
        for column in columns.iter_mut() {
            *column = column.filter(&predicate)?;
        }
    }
    Ok(kept)
}

/// For `column <op> constant` over a packed column: its value for each row,
/// computed on the packed values (NULL counting as false, as in a filter).
fn packed_mask(conjunct: &Conjunct, columns: &[StoredColumn]) -> Option<BooleanArray> {
    let (column, comparison) = conjunct.comparison.as_ref()?;
    let StoredColumn::Packed(packed) = &columns[*column] else {
        return None;
    };
    let mask = packed.evaluate(comparison)?;
    Some(match mask.nulls() {
        Some(nulls) => BooleanArray::new(mask.values() & nulls.inner(), None),
        None => mask,
    })
}

/// For a conjunct that reads one column, dictionary-encoded in this chunk: its
/// value for each row, computed once per dictionary entry (NULL counting as
/// false, as in a filter). None for other conjuncts.
fn dictionary_mask(
    conjunct: &Conjunct,
    columns: &[StoredColumn],
    schema: &SchemaRef,
) -> Result<Option<BooleanArray>> {
    let Some((column, over_column)) = &conjunct.single_column else {
        return Ok(None);
    };
    let StoredColumn::Array(array) = &columns[*column] else {
        return Ok(None);
    };
    if array.as_any_dictionary_opt().is_none() {
        return Ok(None);
    }
    let on_entries = on_entries(over_column, array, schema.field(*column))?;
    let true_on = |e: usize| on_entries.is_valid(e) && on_entries.value(e);
    Ok(Some(BooleanArray::new(by_entry(array, true_on), None)))
}

/// The value of `over_column` (a boolean expression of column 0 alone, `field`)
/// for each row of `array`, a dictionary, NULLs kept: computed once per entry,
/// and once for NULL, then looked up by each row's key.
fn per_entry(over_column: &Expr, array: &ArrayRef, field: &Field) -> Result<BooleanArray> {
    let on_entries = on_entries(over_column, array, field)?;
    let values = by_entry(array, |e| on_entries.value(e));
    let nulls = (on_entries.null_count() > 0)
        .then(|| NullBuffer::new(by_entry(array, |e| on_entries.is_valid(e))));
    Ok(BooleanArray::new(values, nulls))
}

/// `over_column` evaluated on each entry of the dictionary `array`, then on NULL
/// (the answer for the rows whose value is NULL).
fn on_entries(over_column: &Expr, array: &ArrayRef, field: &Field) -> Result<BooleanArray> {
    let dictionary = array
        .as_any_dictionary_opt()
        .ok_or_else(|| Error::Execute("internal error: entries of a plain column".into()))?;
    let values = arrow::compute::concat(&[
        dictionary.values().as_ref(),
        arrow::array::new_null_array(dictionary.values().data_type(), 1).as_ref(),
    ])?;
    let field = field
        .clone()
        .with_data_type(values.data_type().clone())
        .with_nullable(true);
    let entry_batch = RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![values])?;
    let answers = evaluate(over_column, &entry_batch)?;
    answers
        .as_boolean_opt()
        .cloned()
        .ok_or_else(|| Error::Execute(format!("predicate {over_column} is not boolean")))
}

/// `bit(entry)` for each row of the dictionary `array`: its key's entry, or
/// the one after the last for a NULL key.
fn by_entry(array: &ArrayRef, bit: impl Fn(usize) -> bool) -> BooleanBuffer {
    let table: Vec<bool> = match array.as_any_dictionary_opt() {
        Some(d) => (0..=d.values().len()).map(&bit).collect(),
        None => vec![],
    };
    fn rows<K: ArrowDictionaryKeyType>(keys: &PrimitiveArray<K>, table: &[bool]) -> BooleanBuffer {
        let null = table.len() - 1;
        let values = keys.values();
        match keys.nulls() {
            None => BooleanBuffer::collect_bool(values.len(), |row| table[values[row].as_usize()]),
            Some(nulls) => BooleanBuffer::collect_bool(values.len(), |row| {
                table[if nulls.is_valid(row) {
                    values[row].as_usize()
                } else {
                    null
                }]
            }),
        }
    }
    if let Some(d) = array.as_dictionary_opt::<UInt8Type>() {
        return rows(d.keys(), &table);
    }
    if let Some(d) = array.as_dictionary_opt::<UInt16Type>() {
        return rows(d.keys(), &table);
    }
    let dictionary = array.as_any_dictionary_opt().expect("a dictionary");
    let keys = dictionary.normalized_keys();
    let null = table.len() - 1;
    BooleanBuffer::collect_bool(keys.len(), |row| {
        table[if array.is_valid(row) { keys[row] } else { null }]
    })
}

/// `column <op> constant` (either way round) as a zone-map predicate on that column.
fn zone_predicate(e: &Expr) -> Option<(usize, ZonePredicate)> {
    match e {
        Expr::Binary {
            op, left, right, ..
        } if op.is_comparison() => {
            let (index, value, op) = match (left.as_ref(), right.as_ref()) {
                (Expr::Column { index, .. }, Expr::Literal(v)) => (*index, v.clone(), *op),
                (Expr::Literal(v), Expr::Column { index, .. }) => (*index, v.clone(), op.swap()),
                _ => return None,
            };
            let predicate = match op {
                BinaryOp::Eq => ZonePredicate::Eq(value),
                BinaryOp::NotEq => ZonePredicate::NotEq(value),
                BinaryOp::Lt => ZonePredicate::Lt(value),
                BinaryOp::LtEq => ZonePredicate::LtEq(value),
                BinaryOp::Gt => ZonePredicate::Gt(value),
                BinaryOp::GtEq => ZonePredicate::GtEq(value),
                _ => return None,
            };
            Some((index, predicate))
        }
        Expr::InList {
            expr,
            list,
            negated: false,
        } => match expr.as_ref() {
            Expr::Column { index, .. } => {
                let values = list
                    .iter()
                    .map(|e| match e {
                        Expr::Literal(v) => Some(v.clone()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some((*index, ZonePredicate::InList(values)))
            }
            _ => None,
        },
        Expr::IsNull(inner) => match inner.as_ref() {
            Expr::Column { index, .. } => Some((*index, ZonePredicate::IsNull)),
            _ => None,
        },
        Expr::IsNotNull(inner) => match inner.as_ref() {
            Expr::Column { index, .. } => Some((*index, ZonePredicate::IsNotNull)),
            _ => None,
        },
        _ => None,
    }
}

/// Batches already in memory, one morsel each.
pub struct BatchSource {
    pub batches: Vec<RecordBatch>,
    /// Their bytes, held from the memory pool while they are.
    pub memory: Option<super::memory::Reservation>,
}

impl BatchSource {
    /// A source of `batches`, not counted against the memory limit.
    pub fn new(batches: Vec<RecordBatch>) -> BatchSource {
        BatchSource {
            batches,
            memory: None,
        }
    }

    /// A source of `batches` whose bytes it holds from `pool` (an
    /// out-of-memory error if they do not fit).
    pub fn held(
        batches: Vec<RecordBatch>,
        pool: &std::sync::Arc<super::memory::MemoryPool>,
    ) -> Result<BatchSource> {
        let mut memory = pool.reservation("rows kept between pipelines");
        memory.grow_by_batches(&batches)?;
        Ok(BatchSource {
            batches,
            memory: Some(memory),
        })
    }
}

impl Source for BatchSource {
    fn morsel_count(&self) -> usize {
        self.batches.len()
    }

    fn read(&self, morsel: usize) -> Result<Option<RecordBatch>> {
        Ok(Some(self.batches[morsel].clone()))
    }
}

/// Rows of which some were spilled to disk: batches in memory, one morsel
/// each, then files, one morsel each (read when its morsel is, once).
pub struct SpilledSource {
    pub batches: BatchSource,
    pub files: Vec<std::sync::Mutex<Option<super::spill::SpillFile>>>,
}

impl Source for SpilledSource {
    fn morsel_count(&self) -> usize {
        self.batches.morsel_count() + self.files.len()
    }

    fn read(&self, morsel: usize) -> Result<Option<RecordBatch>> {
        let in_memory = self.batches.morsel_count();
        if morsel < in_memory {
            return self.batches.read(morsel);
        }
        let file = self.files[morsel - in_memory]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| {
                crate::error::Error::Execute("internal error: a spilled morsel read twice".into())
            })?;
        let batches = file.read()?.collect::<Result<Vec<_>>>()?;
        match &batches[..] {
            [] => Ok(None),
            [batch] => Ok(Some(batch.clone())),
            [first, ..] => Ok(Some(arrow::compute::concat_batches(
                &first.schema(),
                &batches,
            )?)),
        }
    }
}

/// Morsels `start..end` of another source.
pub struct MorselRange<'a> {
    pub source: &'a dyn Source,
    pub start: usize,
    pub end: usize,
}

impl Source for MorselRange<'_> {
    fn morsel_count(&self) -> usize {
        self.end - self.start
    }

    fn read(&self, morsel: usize) -> Result<Option<RecordBatch>> {
        self.source.read(self.start + morsel)
    }
}
