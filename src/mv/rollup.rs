//! Rolling a cube's stored cuboids up from its base cuboid, in memory.
//!
//! The rows of every cuboid are its group keys, then its aggregate states (the
//! same states, in the same order, for every cuboid of a cube). Cuboid `to` is
//! computed from an ancestor `from` (`to`'s dimensions a subset of `from`'s) by
//! grouping `from`'s rows by `to`'s dimensions and merging each state with its
//! function (SUM of sums, MIN of mins, ...). Each cuboid is rolled up from the
//! smallest ancestor computed before it, level by level (a level: the cuboids
//! of as many dimensions), the cuboids of one level side by side on the pool's
//! workers, each aggregated on one thread.
//!
//! Dimension codes: the base cuboid's key columns are coded once. Each
//! dimension's distinct values are numbered densely, and a row's numbers packed
//! into one Int64 (dimension d in bits `shifts[d]..shifts[d] + widths[d]`). Any
//! cuboid then groups by that one integer with the bits of the dimensions it
//! drops cleared: one integer to hash per row, whatever the dimensions' types.
//! The keys are decoded back into columns at the end. When the codes do not fit
//! in 63 bits, the key columns are grouped as they are.
//!
//! After appends, the base cuboid comes as its stored states followed by the
//! states of the new rows: they are merged first, grouped by the whole packed
//! key, on the way to the rollups.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, DictionaryArray, Int64Array, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::exec::{self, expr::cast};
use crate::plan::{AggExpr, AggFunc, Expr};
use crate::storage::reader::{batch_typed_as_columns, decode};

/// The rows of every cuboid of `masks` (bit d: dimension d is a key; `masks[0]`
/// the base cuboid, with every dimension) in its stored schema (`schemas`),
/// rolled up from `base`, the base cuboid's rows. With `merge_base`, the states
/// of a group may come in several rows of `base` (the stored states, then
/// those of appended rows) and are merged first. `merge` is each state's
/// function. Runs on `pool`.
pub fn roll_up(
    base: Vec<RecordBatch>,
    merge_base: bool,
    masks: &[usize],
    schemas: &[SchemaRef],
    merge: &[AggFunc],
    pool: &rayon::ThreadPool,
) -> Result<Vec<Vec<RecordBatch>>> {
    roll_up_packing(
        base,
        merge_base,
        masks,
        schemas,
        merge,
        pool,
        Packing::DEFAULT,
    )
}

/// How [`roll_up`] holds keys (other limits than the default's in tests).
#[derive(Clone, Copy)]
struct Packing {
    /// Dimension codes are packed into one Int64 if they fit in these bits.
    max_bits: u32,
    /// Cuboids whose codes take at most these bits number their groups through
    /// a table of 2^bits entries instead of a hash table.
    direct_bits: u32,
}

impl Packing {
    /// 63 bits; direct tables of up to 2^20 entries (4 MiB).
    const DEFAULT: Packing = Packing {
        max_bits: 63,
        direct_bits: 20,
    };
}

/// [`roll_up`], holding keys as `packing` says.
fn roll_up_packing(
    mut base: Vec<RecordBatch>,
    merge_base: bool,
    masks: &[usize],
    schemas: &[SchemaRef],
    merge: &[AggFunc],
    pool: &rayon::ThreadPool,
    packing: Packing,
) -> Result<Vec<Vec<RecordBatch>>> {
    let dimensions = masks[0].count_ones() as usize;
    let (keys, mut packed) = Keys::pack(&base, dimensions, &schemas[0], packing)?;
    if merge_base {
        packed =
            pool.install(|| keys.aggregate(&packed, masks[0], masks[0], &schemas[0], merge))?;
    }
    let mut rows: Vec<Option<Vec<RecordBatch>>> = vec![None; masks.len()];
    rows[0] = Some(packed);
    let count = |batches: &[RecordBatch]| batches.iter().map(|b| b.num_rows()).sum::<usize>();
    for level in (0..dimensions as u32).rev() {
        let todo: Vec<usize> = (1..masks.len())
            .filter(|&i| masks[i].count_ones() == level)
            .collect();
        let done = &rows;
        let computed = pool.install(|| {
            todo.par_iter()
                .map(|&i| {
                    let (j, from) = (0..masks.len())
                        .filter(|&j| masks[j] & masks[i] == masks[i])
                        .filter_map(|j| Some((j, done[j].as_deref()?)))
                        .min_by_key(|(_, batches)| count(batches))
                        .ok_or_else(|| {
                            Error::Execute(format!(
                                "internal error: cuboid {:b} has no ancestor",
                                masks[i]
                            ))
                        })?;
                    keys.aggregate(from, masks[j], masks[i], &schemas[i], merge)
                })
                .collect::<Result<Vec<_>>>()
        })?;
        for (i, batches) in todo.into_iter().zip(computed) {
            rows[i] = Some(batches);
        }
    }
    // The keys back as columns (the base cuboid's rows as given, unless merged).
    let mut out = Vec::with_capacity(masks.len());
    for (i, batches) in rows.into_iter().enumerate() {
        if i == 0 && !merge_base {
            out.push(std::mem::take(&mut base));
            continue;
        }
        out.push(
            batches
                .unwrap_or_default()
                .iter()
                .map(|b| keys.decode(b, masks[i], &schemas[i]))
                .collect::<Result<_>>()?,
        );
    }
    Ok(out)
}

/// How the rows of a cuboid hold its keys while rolling up.
enum Keys {
    /// One Int64 of packed dimension codes; `values[d]`: dimension d's distinct
    /// values in code order.
    Packed {
        shifts: Vec<u32>,
        widths: Vec<u32>,
        values: Vec<ArrayRef>,
        /// See [`Packing::direct_bits`].
        direct_bits: u32,
    },
    /// The key columns themselves.
    Plain,
}

impl Keys {
    /// Codes for the key columns of the base cuboid (`base`: `dimensions` key
    /// columns, then states; string keys may be dictionary-encoded), if they fit
    /// in `packing.max_bits` bits, and the base cuboid's rows with their keys held that
    /// way (`stored`: the base cuboid's stored schema).
    fn pack(
        base: &[RecordBatch],
        dimensions: usize,
        stored: &SchemaRef,
        packing: Packing,
    ) -> Result<(Keys, Vec<RecordBatch>)> {
        if base.is_empty() {
            return Ok((Keys::Plain, vec![]));
        }
        let (mut codes, mut values, mut widths) = (vec![], vec![], vec![]);
        for d in 0..dimensions {
            let parts: Vec<ArrayRef> = base.iter().map(|b| b.column(d).clone()).collect();
            let (numbers, distinct) = exec::dense_codes(&parts)?;
            widths.push(usize::BITS - distinct.len().saturating_sub(1).leading_zeros());
            codes.push(numbers);
            values.push(distinct);
        }
        if widths.iter().sum::<u32>() > packing.max_bits {
            let plain = |batch: &RecordBatch| {
                let columns = batch
                    .columns()
                    .iter()
                    .zip(stored.fields())
                    .map(|(c, f)| decode(c, f.data_type()))
                    .collect::<Result<_>>()?;
                Ok(RecordBatch::try_new(stored.clone(), columns)?)
            };
            return Ok((Keys::Plain, base.iter().map(plain).collect::<Result<_>>()?));
        }
        let shifts: Vec<u32> = widths
            .iter()
            .scan(0, |at, w| {
                let shift = *at;
                *at += w;
                Some(shift)
            })
            .collect();
        let mut start = 0;
        let mut packed_rows = vec![];
        for batch in base {
            let rows = start..start + batch.num_rows();
            start = rows.end;
            let packed = Int64Array::from_iter_values(rows.map(|r| {
                (0..dimensions)
                    .map(|d| (codes[d][r] as i64) << shifts[d])
                    .sum::<i64>()
            }));
            let mut columns: Vec<ArrayRef> = vec![Arc::new(packed)];
            columns.extend(batch.columns()[dimensions..].iter().cloned());
            let mut fields = vec![Arc::new(packed_field())];
            fields.extend(batch.schema().fields()[dimensions..].iter().cloned());
            packed_rows.push(RecordBatch::try_new(
                Arc::new(Schema::new(fields)),
                columns,
            )?);
        }
        let keys = Keys::Packed {
            shifts,
            widths,
            values,
            direct_bits: packing.direct_bits,
        };
        Ok((keys, packed_rows))
    }

    /// Cuboid `to`'s rows, rolled up from those of cuboid `from` (`rows`; `to`
    /// has a subset of its dimensions, or the same to merge repeated groups);
    /// `stored`: `to`'s stored schema.
    fn aggregate(
        &self,
        rows: &[RecordBatch],
        from: usize,
        to: usize,
        stored: &SchemaRef,
        merge: &[AggFunc],
    ) -> Result<Vec<RecordBatch>> {
        let schema = self.schema(to, stored);
        let key_count = self.columns(to);
        let column = |c: usize| {
            let field = schema.field(c);
            Expr::column(c, field.name(), field.data_type().clone())
        };
        let aggs: Vec<AggExpr> = merge
            .iter()
            .enumerate()
            .map(|(s, &func)| {
                let data_type = schema.field(key_count + s).data_type().clone();
                AggExpr::new(func, Some(column(key_count + s)), data_type)
            })
            .collect();
        if let Some((keys, groups)) = self.number_groups(rows, to) {
            let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(keys))];
            columns.extend(exec::aggregate_numbered(
                rows,
                &groups,
                columns[0].len(),
                &aggs,
            )?);
            return Ok(vec![RecordBatch::try_new(schema, columns)?]);
        }
        let input = rows
            .iter()
            .map(|b| self.narrow(b, from, to))
            .collect::<Result<Vec<_>>>()?;
        let group = (0..key_count).map(column).collect();
        exec::aggregate_batches(&input, group, aggs, schema)
    }

    /// For packed keys whose codes of cuboid `to`'s dimensions take at most
    /// `direct_bits` bits: each of `to`'s groups (its packed key, with the
    /// other dimensions' bits cleared) and the group number of each row of
    /// `rows`, found in a table indexed by those codes side by side (no
    /// hashing). None otherwise.
    fn number_groups(&self, rows: &[RecordBatch], to: usize) -> Option<(Vec<i64>, Vec<Vec<u32>>)> {
        let Keys::Packed {
            shifts,
            widths,
            direct_bits,
            ..
        } = self
        else {
            return None;
        };
        let kept: Vec<usize> = (0..shifts.len()).filter(|d| to & (1 << d) != 0).collect();
        let bits: u32 = kept.iter().map(|&d| widths[d]).sum();
        if bits > *direct_bits {
            return None;
        }
        let keep = key_bits(shifts, widths, to);
        let mut slots = vec![u32::MAX; 1 << bits];
        let mut keys = vec![];
        let groups = rows
            .iter()
            .map(|batch| {
                let packed = batch.column(0).as_primitive::<Int64Type>();
                packed
                    .values()
                    .iter()
                    .map(|&key| {
                        let (mut index, mut at) = (0usize, 0);
                        for &d in &kept {
                            index |= (code(key, shifts[d], widths[d]) as usize) << at;
                            at += widths[d];
                        }
                        let slot = &mut slots[index];
                        if *slot == u32::MAX {
                            *slot = keys.len() as u32;
                            keys.push(key & keep);
                        }
                        *slot
                    })
                    .collect()
            })
            .collect();
        Some((keys, groups))
    }

    /// The number of key columns of cuboid `mask`'s rows.
    fn columns(&self, mask: usize) -> usize {
        match self {
            Keys::Packed { .. } => 1,
            Keys::Plain => mask.count_ones() as usize,
        }
    }

    /// The schema of cuboid `mask`'s rows (`stored`: its stored schema).
    fn schema(&self, mask: usize, stored: &SchemaRef) -> SchemaRef {
        match self {
            Keys::Packed { .. } => {
                let mut fields = vec![Arc::new(packed_field())];
                fields.extend(
                    stored.fields()[mask.count_ones() as usize..]
                        .iter()
                        .cloned(),
                );
                Arc::new(Schema::new(fields))
            }
            Keys::Plain => stored.clone(),
        }
    }

    /// The rows of cuboid `from` with only the keys of cuboid `to` (a subset).
    fn narrow(&self, batch: &RecordBatch, from: usize, to: usize) -> Result<RecordBatch> {
        let schema = batch.schema();
        let (mut fields, mut columns): (Vec<Arc<Field>>, Vec<ArrayRef>) = match self {
            Keys::Packed { shifts, widths, .. } => {
                let keep = key_bits(shifts, widths, to);
                let packed = batch.column(0).as_primitive::<Int64Type>();
                let kept = Int64Array::from_iter_values(packed.values().iter().map(|k| k & keep));
                (vec![Arc::new(packed_field())], vec![Arc::new(kept)])
            }
            // Dimension d is key number (the dimensions of `from` below d).
            Keys::Plain => (0..usize::BITS as usize)
                .filter(|d| to & (1 << d) != 0)
                .map(|d| (from & ((1 << d) - 1)).count_ones() as usize)
                .map(|c| (schema.fields()[c].clone(), batch.column(c).clone()))
                .unzip(),
        };
        let key_count = self.columns(from);
        fields.extend(schema.fields()[key_count..].iter().cloned());
        columns.extend(batch.columns()[key_count..].iter().cloned());
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    /// Cuboid `mask`'s rows in its stored schema: its keys as columns, string
    /// keys dictionary-encoded over the dimension's distinct values (the writer
    /// stores them so without looking at each row's string).
    fn decode(&self, batch: &RecordBatch, mask: usize, stored: &SchemaRef) -> Result<RecordBatch> {
        let Keys::Packed {
            shifts,
            widths,
            values,
            ..
        } = self
        else {
            return Ok(batch.clone());
        };
        let packed = batch.column(0).as_primitive::<Int64Type>();
        let mut columns: Vec<ArrayRef> = vec![];
        for d in (0..shifts.len()).filter(|d| mask & (1 << d) != 0) {
            let codes = UInt32Array::from_iter_values(
                packed
                    .values()
                    .iter()
                    .map(|&k| code(k, shifts[d], widths[d]) as u32),
            );
            let data_type = stored.field(columns.len()).data_type();
            columns.push(
                if data_type == &DataType::Utf8 && values[d].data_type() == data_type {
                    Arc::new(DictionaryArray::try_new(codes, values[d].clone())?)
                } else {
                    let column = arrow::compute::take(values[d].as_ref(), &codes, None)?;
                    cast(&column, data_type)?
                },
            );
        }
        columns.extend(batch.columns()[1..].iter().cloned());
        batch_typed_as_columns(stored, columns, batch.num_rows())
    }
}

/// The bits of a packed key that hold the codes of cuboid `mask`'s dimensions.
fn key_bits(shifts: &[u32], widths: &[u32], mask: usize) -> i64 {
    (0..shifts.len())
        .filter(|d| mask & (1 << d) != 0)
        .map(|d| ((1i64 << widths[d]) - 1) << shifts[d])
        .sum()
}

/// The code of the dimension at bits `shift..shift + width` of packed `key`.
fn code(key: i64, shift: u32, width: u32) -> i64 {
    (key >> shift) & ((1i64 << width) - 1)
}

fn packed_field() -> Field {
    Field::new("packed_key", DataType::Int64, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;

    /// A base cuboid over dimensions (name: Utf8, year: Int64) with states
    /// (SUM: Int64, MIN: Int64), in two batches.
    fn base() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("key0", DataType::Utf8, true),
            Field::new("key1", DataType::Int64, true),
            Field::new("state0", DataType::Int64, true),
            Field::new("state1", DataType::Int64, true),
        ]));
        let batch =
            |names: Vec<Option<&str>>, years: Vec<Option<i64>>, sums: Vec<i64>, mins: Vec<i64>| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(StringArray::from(names)),
                        Arc::new(Int64Array::from(years)),
                        Arc::new(Int64Array::from(sums)),
                        Arc::new(Int64Array::from(mins)),
                    ],
                )
                .unwrap()
            };
        let batches = vec![
            batch(
                vec![Some("a"), Some("b"), None],
                vec![Some(2020), Some(2020), Some(2021)],
                vec![1, 2, 4],
                vec![5, 3, 9],
            ),
            batch(
                vec![Some("a"), Some("b")],
                vec![Some(2021), None],
                vec![8, 16],
                vec![1, 7],
            ),
        ];
        (schema, batches)
    }

    /// Packed keys numbered by hashing, and keys not packed.
    const OTHER_PACKINGS: [Packing; 2] = [
        Packing {
            max_bits: 63,
            direct_bits: 0,
        },
        Packing {
            max_bits: 0,
            direct_bits: 0,
        },
    ];

    fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
        let mut rows: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows()).map(move |r| {
                    b.columns()
                        .iter()
                        .map(|c| {
                            arrow::util::display::array_value_to_string(c, r).unwrap_or_default()
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                })
            })
            .collect();
        rows.sort();
        rows
    }

    /// The stored schema of a cuboid with these keys (and the two states).
    fn stored(keys: &[(&str, DataType)]) -> SchemaRef {
        let mut fields: Vec<Field> = keys
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect();
        fields.push(Field::new("state0", DataType::Int64, true));
        fields.push(Field::new("state1", DataType::Int64, true));
        Arc::new(Schema::new(fields))
    }

    /// [`roll_up_packing`] of the base cuboid's states (SUM, MIN) on two workers.
    fn roll(
        base: &[RecordBatch],
        merge_base: bool,
        masks: &[usize],
        schemas: &[SchemaRef],
        packing: Packing,
    ) -> Vec<Vec<RecordBatch>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let merge = [AggFunc::Sum, AggFunc::Min];
        roll_up_packing(
            base.to_vec(),
            merge_base,
            masks,
            schemas,
            &merge,
            &pool,
            packing,
        )
        .unwrap()
    }

    /// Every way of holding keys.
    fn packings() -> impl Iterator<Item = Packing> {
        [Packing::DEFAULT].into_iter().chain(OTHER_PACKINGS)
    }

    #[test]
    fn packed_and_plain_keys_roll_up_alike() {
        let (schema, batches) = base();
        let masks = [0b11, 0b01, 0b10, 0b00];
        let schemas = vec![
            schema.clone(),
            stored(&[("key0", DataType::Utf8)]),
            stored(&[("key0", DataType::Int64)]),
            stored(&[]),
        ];
        let packed = roll(&batches, false, &masks, &schemas, Packing::DEFAULT);
        for packing in OTHER_PACKINGS {
            let other = roll(&batches, false, &masks, &schemas, packing);
            for (p, q) in packed.iter().zip(&other) {
                assert_eq!(sorted_rows(p), sorted_rows(q));
            }
        }
        // By name (NULL a name of its own), by year, and the grand total.
        assert_eq!(sorted_rows(&packed[1]), vec!["a|9|1", "b|18|3", "|4|9"]);
        assert_eq!(
            sorted_rows(&packed[2]),
            vec!["2020|3|3", "2021|12|1", "|16|7"]
        );
        assert_eq!(sorted_rows(&packed[3]), vec!["31|1"]);
        // The stored names and types; string keys may be dictionary-encoded.
        for (cuboid, schema) in packed.iter().zip(&schemas) {
            for batch in cuboid {
                for (field, column) in schema.fields().iter().zip(batch.columns()) {
                    let decoded = decode(column, field.data_type()).unwrap();
                    assert_eq!(decoded.data_type(), field.data_type());
                }
                let names = |s: &Schema| {
                    s.fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect::<Vec<_>>()
                };
                assert_eq!(names(&batch.schema()), names(schema));
            }
        }
    }

    #[test]
    fn stored_rows_may_come_dictionary_encoded() {
        // The first batch as read from storage: names as a dictionary.
        let (schema, mut batches) = base();
        let names = arrow::compute::cast(
            batches[0].column(0),
            &DataType::Dictionary(Box::new(DataType::UInt8), Box::new(DataType::Utf8)),
        )
        .unwrap();
        let mut columns = batches[0].columns().to_vec();
        columns[0] = names;
        batches[0] = batch_typed_as_columns(&schema, columns, batches[0].num_rows()).unwrap();
        let masks = [0b11, 0b00];
        let schemas = vec![schema, stored(&[])];
        let (_, plain) = base();
        for packing in packings() {
            let out = roll(&batches, true, &masks, &schemas, packing);
            let expected = roll(&plain, true, &masks, &schemas, packing);
            assert_eq!(sorted_rows(&out[0]), sorted_rows(&expected[0]));
            assert_eq!(sorted_rows(&out[1]), vec!["31|1"]);
        }
    }

    #[test]
    fn repeated_groups_of_the_base_are_merged_first() {
        let (schema, mut batches) = base();
        // The states of new rows of group (a, 2020), after the stored ones.
        batches.push(
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(vec!["a"])),
                    Arc::new(Int64Array::from(vec![2020])),
                    Arc::new(Int64Array::from(vec![10])),
                    Arc::new(Int64Array::from(vec![0])),
                ],
            )
            .unwrap(),
        );
        let masks = [0b11, 0b00];
        let schemas = vec![schema, stored(&[])];
        for packing in packings() {
            let out = roll(&batches, true, &masks, &schemas, packing);
            assert_eq!(
                sorted_rows(&out[0]),
                vec![
                    "a|2020|11|0",
                    "a|2021|8|1",
                    "b|2020|2|3",
                    "b||16|7",
                    "|2021|4|9"
                ]
            );
            assert_eq!(sorted_rows(&out[1]), vec!["41|0"]);
        }
    }
}
