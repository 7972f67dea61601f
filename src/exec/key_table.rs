//! Dense numbering of key tuples: the hash table under hash aggregation (key →
//! group number) and hash joins (key → the chain of build rows with that key).
//!
//! A key of one integer, date or decimal (of at most 18 digits) column is kept
//! as an `i64` in the table entry
//! itself: hashing is one multiplication and a probe compares the entry, with no
//! indirection. A key of one string column is its UTF-8 bytes. A key of two
//! such columns is the pair of their numbers in a table of their own each, kept
//! in the entry like an integer. Any other key (more columns, wide decimals ...) is
//! encoded with Arrow's row format into bytes
//! that hash and compare as a whole. The bytes of all string and row keys live in
//! one arena and each entry holds its key's hash, so growing the table never
//! rehashes a key and most mismatches are caught without touching the arena. The
//! NULL of a one-column key has a number of its own, handed out on first sight.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBufferBuilder, Date32Array, Decimal128Array, Int32Array,
    Int64Array, PrimitiveArray, StringArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Date32Type, Decimal128Type, Int32Type, Int64Type, UInt8Type};
use arrow::row::{RowConverter, SortField};
use hashbrown::HashTable;
use rayon::prelude::*;

use crate::buffer_pool::{self, Pool, PoolVec, PooledSlice};
use crate::error::Result;

/// The number a lookup gives for a key that is not in the table (or is NULL).
pub const MISSING: u32 = u32::MAX;

pub struct KeyTable {
    /// Entries `(key or hash, number)`: the key itself for integer keys, the
    /// hash of the encoded key otherwise. Empty while `direct` numbers the keys.
    table: HashTable<(u64, u32), Pool>,
    encoding: Encoding,
    len: u32,
    /// For one integer column whose keys lie densely enough: the numbers by
    /// value, instead of `table`.
    direct: Option<DirectIndex>,
    /// While hashing: the number of keys at which a direct index is tried
    /// (again: a worker's keys may be sparse for a while, then fill in).
    next_direct_try: u32,
}

/// Numbers of integer keys by value: key `v` has number `ids[v - min] - 1`
/// (0: not a key). Keys that arrive in order (clustered data) then touch the
/// index sequentially, where a hash table would scatter them; and growing it
/// moves nothing.
struct DirectIndex {
    min: i64,
    ids: PooledSlice<u32>,
}

/// A table of one integer column switches to a direct index once it has this
/// many keys, if they span at most [`DIRECT_SLOTS_PER_KEY`] values each (and
/// [`DIRECT_SLOTS_MAX`] in all); it switches back to hashing if later keys
/// spread out further, and tries again each time its number of keys doubles.
const DIRECT_MIN_KEYS: u32 = 1 << 16;
const DIRECT_SLOTS_PER_KEY: i128 = 32;
const DIRECT_SLOTS_MAX: i128 = 1 << 28;

impl DirectIndex {
    fn get(&self, v: i64) -> Option<u32> {
        let i = v.wrapping_sub(self.min) as u64;
        match self.ids.get(usize::try_from(i).ok()?) {
            Some(&id) if id > 0 => Some(id - 1),
            _ => None,
        }
    }

    /// The largest value it covers.
    fn max(&self) -> i64 {
        self.min + self.ids.len() as i64 - 1
    }

    /// The index over `[min, max]` of `values` (the numbers' keys, all in
    /// that range; `null`'s slot is no key).
    fn build(values: &[i64], null: Option<u32>, min: i64, max: i64) -> DirectIndex {
        let mut ids = PooledSlice::zeros((max - min + 1) as usize);
        for (number, &v) in values.iter().enumerate() {
            if Some(number as u32) != null {
                ids[(v - min) as usize] = number as u32 + 1;
            }
        }
        DirectIndex { min, ids }
    }
}

enum Encoding {
    /// One Int32, Int64 or Date32 column; `values[number]` is the key.
    Integer {
        data_type: DataType,
        values: PoolVec<i64>,
        null: Option<u32>,
    },
    /// One Utf8 column: key `n` is the string in slot `n` of the arena (NULL's
    /// slot is empty).
    Strings { arena: Arena, null: Option<u32> },
    /// Keys in Arrow's row format, in the arena.
    Rows {
        converter: RowConverter,
        arena: Arena,
    },
    /// Two columns, each an integer or date or a string, each numbered by a
    /// one-column table of its own: key `n` is
    /// `pairs[n]`, the first column's number in the high 32 bits, the second's
    /// in the low ones, kept in the entry like an integer key.
    Pair {
        columns: Box<[KeyTable; 2]>,
        pairs: PoolVec<u64>,
    },
}

/// The bytes of keys, one after another: key `n` is `bytes[offsets[n]..offsets[n + 1]]`.
struct Arena {
    bytes: PoolVec<u8>,
    offsets: PoolVec<usize>,
}

impl Arena {
    fn new() -> Arena {
        let mut offsets = PoolVec::default();
        offsets.push(0);
        Arena {
            bytes: PoolVec::default(),
            offsets,
        }
    }

    fn get(&self, n: u32) -> &[u8] {
        &self.bytes[self.offsets[n as usize]..self.offsets[n as usize + 1]]
    }

    fn push(&mut self, key: &[u8]) {
        self.bytes.extend_from_slice(key);
        self.offsets.push(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// A well-mixed 64-bit hash of an integer key (a folded multiplication).
pub(super) fn hash_integer(value: i64) -> u64 {
    let product = (value as u64 ^ 0x243F_6A88_85A3_08D3) as u128 * 0x9E37_79B9_7F4A_7C15u128;
    (product as u64) ^ ((product >> 64) as u64)
}

/// The hash of an entry whose key is kept inline (integer and pair keys).
fn inline_entry_hash(entry: &(u64, u32)) -> u64 {
    hash_integer(entry.0 as i64)
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    const SEEDS: (u64, u64, u64, u64) = (
        0x1319_8A2E_0370_7344,
        0xA409_3822_299F_31D0,
        0x082E_FA98_EC4E_6C89,
        0x4528_21E6_38D0_1377,
    );
    ahash::RandomState::with_seeds(SEEDS.0, SEEDS.1, SEEDS.2, SEEDS.3).hash_one(bytes)
}

/// Calls `f(value)` for each value of an Int32, Int64, Date32 or (at most 18
/// digits) Decimal128 column, in order (None for NULL); an error for other
/// types, and for a decimal beyond its precision.
pub(super) fn for_each_integer(column: &ArrayRef, mut f: impl FnMut(Option<i64>)) -> Result<()> {
    fn each<T>(a: &PrimitiveArray<T>, f: &mut impl FnMut(Option<i64>))
    where
        T: arrow::datatypes::ArrowPrimitiveType,
        T::Native: Into<i64>,
    {
        match a.nulls().filter(|n| n.null_count() > 0) {
            None => a.values().iter().for_each(|&v| f(Some(v.into()))),
            Some(nulls) => a
                .values()
                .iter()
                .enumerate()
                .for_each(|(i, &v)| f(nulls.is_valid(i).then(|| v.into()))),
        }
    }
    match column.data_type() {
        DataType::Int32 => each(column.as_primitive::<Int32Type>(), &mut f),
        DataType::Date32 => each(column.as_primitive::<Date32Type>(), &mut f),
        DataType::Int64 => each(column.as_primitive::<Int64Type>(), &mut f),
        DataType::Decimal128(p, _) if *p <= MAX_DECIMAL64_DIGITS => {
            let a = column.as_primitive::<Decimal128Type>();
            let mut wide = false;
            let mut narrow = |v: i128| {
                i64::try_from(v).unwrap_or_else(|_| {
                    wide = true;
                    0
                })
            };
            match a.nulls().filter(|n| n.null_count() > 0) {
                None => a.values().iter().for_each(|&v| f(Some(narrow(v)))),
                Some(nulls) => a
                    .values()
                    .iter()
                    .enumerate()
                    .for_each(|(i, &v)| f(nulls.is_valid(i).then(|| narrow(v)))),
            }
            if wide {
                return Err(crate::error::Error::Execute(format!(
                    "internal error: a {} key value beyond its precision",
                    column.data_type()
                )));
            }
        }
        other => {
            return Err(crate::error::Error::Execute(format!(
                "internal error: an integer key of type {other}"
            )))
        }
    }
    Ok(())
}

impl KeyTable {
    /// An empty table for keys of these column types.
    pub fn new(types: &[DataType]) -> Result<KeyTable> {
        let encoding = match types {
            [t] if integer_key(t) => Encoding::Integer {
                data_type: t.clone(),
                values: PoolVec::default(),
                null: None,
            },
            [DataType::Utf8] => Encoding::Strings {
                arena: Arena::new(),
                null: None,
            },
            [a, b] if [a, b].iter().all(|t| one_column_key(t)) => Encoding::Pair {
                columns: Box::new([
                    KeyTable::new(std::slice::from_ref(a))?,
                    KeyTable::new(std::slice::from_ref(b))?,
                ]),
                pairs: PoolVec::default(),
            },
            _ => Encoding::Rows {
                converter: RowConverter::new(
                    types.iter().map(|t| SortField::new(t.clone())).collect(),
                )?,
                arena: Arena::new(),
            },
        };
        Ok(KeyTable {
            table: HashTable::new_in(Pool::default()),
            encoding,
            len: 0,
            direct: None,
            next_direct_try: DIRECT_MIN_KEYS,
        })
    }

    /// Whether keys of these column types may come dictionary-encoded where a
    /// column is Utf8 (one string column, or a pair): each entry is numbered once.
    pub fn numbers_dictionaries(types: &[DataType]) -> bool {
        match KeyTable::new(types) {
            Ok(t) => matches!(t.encoding, Encoding::Strings { .. } | Encoding::Pair { .. }),
            Err(_) => false,
        }
    }

    /// The bytes the table holds (entries, keys, index).
    pub fn memory_size(&self) -> usize {
        let arena = |a: &Arena| a.bytes.memory_size() + a.offsets.memory_size();
        let encoding = match &self.encoding {
            Encoding::Integer { values, .. } => values.memory_size(),
            Encoding::Strings { arena: a, .. } => arena(a),
            Encoding::Rows { arena: a, .. } => arena(a),
            Encoding::Pair { columns, pairs } => {
                pairs.memory_size() + columns.iter().map(KeyTable::memory_size).sum::<usize>()
            }
        };
        // hashbrown: an entry and a control byte per bucket.
        let table = self.table.capacity() * (std::mem::size_of::<(u64, u32)>() + 1);
        let direct = self.direct.as_ref().map_or(0, |d| d.ids.memory_size());
        table + encoding + direct
    }

    /// The number of distinct keys (NULL included).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Appends to `ids` the number of each row's key, numbering new keys from
    /// `len()` on in order of first appearance.
    pub fn intern(&mut self, keys: &[ArrayRef], ids: &mut Vec<u32>) -> Result<()> {
        ids.reserve(keys.first().map_or(0, |k| k.len()));
        if self.intern_dictionary_pairs(keys, ids)? {
            return Ok(());
        }
        if let Encoding::Pair { columns, .. } = &mut self.encoding {
            let (first, second) = pair_numbers(columns.iter_mut(), keys, KeyTable::intern)?;
            // Pairs of small column numbers are looked up in an array.
            let mut small = [MISSING; SMALL_PAIRS * SMALL_PAIRS];
            for (a, b) in first.into_iter().zip(second) {
                let id = if (a as usize) < SMALL_PAIRS && (b as usize) < SMALL_PAIRS {
                    let slot = &mut small[a as usize * SMALL_PAIRS + b as usize];
                    if *slot == MISSING {
                        *slot = self.intern_pair(pair(a, b));
                    }
                    *slot
                } else {
                    self.intern_pair(pair(a, b))
                };
                ids.push(id);
            }
            return Ok(());
        }
        if let Some(dictionary) = one_column_dictionary(keys) {
            // An entry is numbered when a row first uses it (unused entries are
            // no keys), the other rows by their entry's number.
            let values = dictionary.values();
            let valid = dictionary.keys().logical_nulls();
            let mut entries = vec![MISSING; values.len()];
            let mut number = vec![];
            for (row, key) in dictionary.normalized_keys().into_iter().enumerate() {
                if valid.as_ref().is_some_and(|v| v.is_null(row)) {
                    ids.push(self.intern_null());
                    continue;
                }
                if entries[key] == MISSING {
                    number.clear();
                    self.intern(&[values.slice(key, 1)], &mut number)?;
                    entries[key] = number[0];
                }
                ids.push(entries[key]);
            }
            return Ok(());
        }
        let rows = match &self.encoding {
            Encoding::Integer { .. } => {
                // A run of equal keys (clustered data) is looked up once.
                let mut last: Option<(Option<i64>, u32)> = None;
                for_each_integer(&keys[0], |key| {
                    let id = match last {
                        Some((k, id)) if k == key => id,
                        _ => match key {
                            Some(v) => self.intern_integer(v),
                            None => self.intern_null(),
                        },
                    };
                    last = Some((key, id));
                    ids.push(id);
                })?;
                return Ok(());
            }
            Encoding::Strings { .. } => {
                for key in strings(&keys[0])?.iter() {
                    ids.push(match key {
                        Some(v) => self.intern_bytes(v.as_bytes()),
                        None => self.intern_null(),
                    });
                }
                return Ok(());
            }
            Encoding::Rows { converter, .. } => converter.convert_columns(keys)?,
            Encoding::Pair { .. } => unreachable!("pair keys are numbered above"),
        };
        for row in rows.iter() {
            ids.push(self.intern_bytes(row.as_ref()));
        }
        Ok(())
    }

    /// Numbers pairs of two dictionary columns of few entries each (TPC-H
    /// Q1's flags) through a table indexed by both entries, straight from
    /// the columns' keys; false (nothing done) for other keys. A pair of
    /// entries is numbered when a row first uses it.
    fn intern_dictionary_pairs(&mut self, keys: &[ArrayRef], ids: &mut Vec<u32>) -> Result<bool> {
        let (Encoding::Pair { .. }, [a, b]) = (&self.encoding, keys) else {
            return Ok(false);
        };
        let (Some(a), Some(b)) = (
            a.as_dictionary_opt::<UInt8Type>(),
            b.as_dictionary_opt::<UInt8Type>(),
        ) else {
            return Ok(false);
        };
        let width = b.values().len();
        if a.keys().null_count() > 0
            || b.keys().null_count() > 0
            || a.values().len() * width > DICTIONARY_PAIRS_MAX
        {
            return Ok(false);
        }
        let mut numbers = vec![MISSING; a.values().len() * width];
        let mut entry = vec![];
        for (&ka, &kb) in a.keys().values().iter().zip(b.keys().values().iter()) {
            let slot = &mut numbers[ka as usize * width + kb as usize];
            if *slot == MISSING {
                let Encoding::Pair { columns, .. } = &mut self.encoding else {
                    unreachable!("a pair table")
                };
                entry.clear();
                columns[0].intern(&[a.values().slice(ka as usize, 1)], &mut entry)?;
                columns[1].intern(&[b.values().slice(kb as usize, 1)], &mut entry)?;
                *slot = self.intern_pair(pair(entry[0], entry[1]));
            }
            ids.push(*slot);
        }
        Ok(true)
    }

    /// Before `others` (the keys of another table, `null` its NULL's number)
    /// are added: a direct index is widened once to exactly the range of both
    /// tables' keys, if they lie densely enough, rather than by doubling as
    /// they arrive (which would leave it up to twice as large).
    fn cover_exactly(&mut self, others: &[i64], null: Option<u32>) {
        let (
            Some(direct),
            Encoding::Integer {
                values, null: ours, ..
            },
        ) = (&self.direct, &self.encoding)
        else {
            return;
        };
        let (lo, hi) = others
            .iter()
            .enumerate()
            .filter(|&(n, _)| Some(n as u32) != null)
            .fold((direct.min, direct.max()), |(lo, hi), (_, &v)| {
                (lo.min(v), hi.max(v))
            });
        let needed = i128::from(hi) - i128::from(lo) + 1;
        let keys = i128::from(self.len) + others.len() as i128;
        if (lo, hi) != (direct.min, direct.max())
            && needed <= (keys * DIRECT_SLOTS_PER_KEY).min(DIRECT_SLOTS_MAX)
        {
            self.direct = Some(DirectIndex::build(values, *ours, lo, hi));
        }
    }

    fn intern_integer(&mut self, v: i64) -> u32 {
        if let Some(direct) = &mut self.direct {
            let i = v.wrapping_sub(direct.min) as u64;
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| direct.ids.get_mut(i)) {
                if *slot == 0 {
                    *slot = self.len + 1;
                    if let Encoding::Integer { values, .. } = &mut self.encoding {
                        values.push(v);
                    }
                    self.len += 1;
                }
                return *slot - 1;
            }
            // Outside the index: widen it, or go back to hashing.
            self.redirect(v);
            return self.intern_integer(v);
        }
        let hash = hash_integer(v);
        if let Some(e) = self.table.find(hash, |e| e.0 == v as u64) {
            return e.1;
        }
        let id = self.len;
        self.table
            .insert_unique(hash, (v as u64, id), inline_entry_hash);
        if let Encoding::Integer { values, .. } = &mut self.encoding {
            values.push(v);
        }
        self.len += 1;
        if self.len == self.next_direct_try {
            self.redirect(v);
        }
        id
    }

    /// Numbers the keys of a one-integer-column table with a direct index
    /// that also covers `v` if they lie densely enough, else with the hash
    /// table. The index gets room to grow in the direction of `v` (its width
    /// doubles, within the density budget); too little room left means hashing,
    /// so that widening stays rare.
    fn redirect(&mut self, v: i64) {
        let Encoding::Integer { values, null, .. } = &self.encoding else {
            return;
        };
        let keys = values
            .iter()
            .enumerate()
            .filter(|&(n, _)| Some(n as u32) != *null);
        let (lo, hi) = keys.fold((v, v), |(lo, hi), (_, &k)| (lo.min(k), hi.max(k)));
        let needed = i128::from(hi) - i128::from(lo) + 1;
        let allowed = (i128::from(self.len + 1) * DIRECT_SLOTS_PER_KEY).min(DIRECT_SLOTS_MAX);
        let width = self.direct.as_ref().map_or(0, |d| d.ids.len() as i128);
        let span = (2 * needed.max(width)).min(allowed);
        let grows_enough = width == 0 || span >= width + width / 4;
        let direct = if needed <= allowed && grows_enough {
            let downward = self.direct.as_ref().is_some_and(|d| v < d.min);
            let (min, max) = if downward {
                (i128::from(hi) - span + 1, i128::from(hi))
            } else {
                (i128::from(lo), i128::from(lo) + span - 1)
            };
            match (i64::try_from(min), i64::try_from(max)) {
                (Ok(min), Ok(max)) => Some(DirectIndex::build(values, *null, min, max)),
                _ => None,
            }
        } else {
            None
        };
        let was_direct = self.direct.is_some();
        self.direct = direct;
        self.next_direct_try = self.len.saturating_mul(2);
        if self.direct.is_some() {
            self.table = HashTable::new_in(Pool::default());
        } else if was_direct {
            // Back to hashing: every key into the table.
            self.table.reserve(values.len(), inline_entry_hash);
            for (number, &k) in values.iter().enumerate() {
                if Some(number as u32) != *null {
                    let hash = hash_integer(k);
                    self.table
                        .insert_unique(hash, (k as u64, number as u32), inline_entry_hash);
                }
            }
        }
    }

    fn intern_pair(&mut self, key: u64) -> u32 {
        let hash = hash_integer(key as i64);
        if let Some(e) = self.table.find(hash, |e| e.0 == key) {
            return e.1;
        }
        let id = self.len;
        self.table.insert_unique(hash, (key, id), inline_entry_hash);
        if let Encoding::Pair { pairs, .. } = &mut self.encoding {
            pairs.push(key);
        }
        self.len += 1;
        id
    }

    fn intern_null(&mut self) -> u32 {
        let id = self.len;
        let null = match &mut self.encoding {
            Encoding::Integer { values, null, .. } => {
                if null.is_none() {
                    values.push(0);
                }
                null
            }
            Encoding::Strings { arena, null } => {
                if null.is_none() {
                    arena.push(b"");
                }
                null
            }
            Encoding::Rows { .. } | Encoding::Pair { .. } => {
                unreachable!("NULL keys of several columns are numbered as rows")
            }
        };
        if null.is_none() {
            self.len += 1;
        }
        *null.get_or_insert(id)
    }

    /// The arena of a string or row key table.
    fn arena(&self) -> &Arena {
        match &self.encoding {
            Encoding::Strings { arena, .. } | Encoding::Rows { arena, .. } => arena,
            Encoding::Integer { .. } | Encoding::Pair { .. } => {
                unreachable!("integer keys have no arena")
            }
        }
    }

    fn intern_bytes(&mut self, key: &[u8]) -> u32 {
        let hash = hash_bytes(key);
        if let Some(id) = self.find_bytes(hash, key) {
            return id;
        }
        let id = self.len;
        self.table.insert_unique(hash, (hash, id), |e| e.0);
        match &mut self.encoding {
            Encoding::Strings { arena, .. } | Encoding::Rows { arena, .. } => arena.push(key),
            Encoding::Integer { .. } | Encoding::Pair { .. } => {
                unreachable!("integer keys have no arena")
            }
        }
        self.len += 1;
        id
    }

    fn find_bytes(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let arena = self.arena();
        self.table
            .find(hash, |e| e.0 == hash && arena.get(e.1) == key)
            .map(|e| e.1)
    }

    /// Appends to `ids` the number of each row's key, or [`MISSING`] for keys
    /// not in the table and for keys with a NULL in any column.
    pub fn lookup(&self, keys: &[ArrayRef], ids: &mut Vec<u32>) -> Result<()> {
        self.lookup_with(keys, ids, false)
    }

    /// As [`KeyTable::lookup`], but a NULL is a key as any other (as grouping
    /// numbers it): a key with NULLs has the number it was interned with.
    pub fn lookup_groups(&self, keys: &[ArrayRef], ids: &mut Vec<u32>) -> Result<()> {
        self.lookup_with(keys, ids, true)
    }

    /// The number of the NULL key of a one-column table, if it has one.
    fn null_number(&self) -> Option<u32> {
        match &self.encoding {
            Encoding::Integer { null, .. } | Encoding::Strings { null, .. } => *null,
            Encoding::Rows { .. } | Encoding::Pair { .. } => None,
        }
    }

    fn lookup_with(&self, keys: &[ArrayRef], ids: &mut Vec<u32>, nulls: bool) -> Result<()> {
        // The number of a NULL key (of one column).
        let null = || match nulls {
            true => self.null_number().unwrap_or(MISSING),
            false => MISSING,
        };
        if let Some(dictionary) = one_column_dictionary(keys) {
            let mut entries = Vec::with_capacity(dictionary.values().len());
            self.lookup_with(
                std::slice::from_ref(dictionary.values()),
                &mut entries,
                nulls,
            )?;
            let valid = dictionary.keys().logical_nulls();
            for (row, key) in dictionary.normalized_keys().into_iter().enumerate() {
                let is_null = valid.as_ref().is_some_and(|v| v.is_null(row));
                ids.push(if is_null { null() } else { entries[key] });
            }
            return Ok(());
        }
        match &self.encoding {
            Encoding::Integer { .. } => {
                let mut last: Option<(Option<i64>, u32)> = None;
                for_each_integer(&keys[0], |key| {
                    let id = match (last, key) {
                        (Some((k, id)), _) if k == key => id,
                        (_, Some(v)) => self.find_integer(v).unwrap_or(MISSING),
                        (_, None) => null(),
                    };
                    last = Some((key, id));
                    ids.push(id);
                })?;
            }
            Encoding::Strings { .. } => {
                for key in strings(&keys[0])?.iter() {
                    let id = match key {
                        Some(v) => {
                            let bytes = v.as_bytes();
                            self.find_bytes(hash_bytes(bytes), bytes).unwrap_or(MISSING)
                        }
                        None => null(),
                    };
                    ids.push(id);
                }
            }
            Encoding::Rows { converter, .. } => {
                let rows = converter.convert_columns(keys)?;
                let valid = match nulls {
                    true => vec![true; rows.num_rows()],
                    false => all_valid(keys, rows.num_rows()),
                };
                for (row, valid) in rows.iter().zip(valid) {
                    let row = row.as_ref();
                    let id = if valid {
                        self.find_bytes(hash_bytes(row), row).unwrap_or(MISSING)
                    } else {
                        MISSING
                    };
                    ids.push(id);
                }
            }
            Encoding::Pair { columns, .. } => {
                let (first, second) = pair_numbers(columns.iter(), keys, |t, k, ids| {
                    t.lookup_with(k, ids, nulls)
                })?;
                for (a, b) in first.into_iter().zip(second) {
                    let id = if a == MISSING || b == MISSING {
                        MISSING
                    } else {
                        self.find_integer(pair(a, b) as i64).unwrap_or(MISSING)
                    };
                    ids.push(id);
                }
            }
        }
        Ok(())
    }

    /// The number of integer key `v` (a table of one integer column).
    pub(super) fn find_integer(&self, v: i64) -> Option<u32> {
        if let Some(direct) = &self.direct {
            return direct.get(v);
        }
        self.table
            .find(hash_integer(v), |e| e.0 == v as u64)
            .map(|e| e.1)
    }

    /// Adds the keys of `other` (a table for the same key types); returns, for
    /// each of its numbers, the number of the same key here.
    pub fn merge(&mut self, other: &KeyTable) -> Vec<u32> {
        // Room for every key of `other` at once rather than by doubling.
        let integer_entries = matches!(
            self.encoding,
            Encoding::Integer { .. } | Encoding::Pair { .. }
        );
        let reserve = if self.direct.is_some() {
            0
        } else {
            other.len()
        };
        self.table.reserve(reserve, |e| {
            if integer_entries {
                inline_entry_hash(e)
            } else {
                e.0
            }
        });
        match &other.encoding {
            Encoding::Integer { values, null, .. } => {
                self.cover_exactly(values, *null);
                values
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        if Some(i as u32) == *null {
                            self.intern_null()
                        } else {
                            self.intern_integer(v)
                        }
                    })
                    .collect()
            }
            Encoding::Strings { arena, null } => (0..arena.len() as u32)
                .map(|n| {
                    if Some(n) == *null {
                        self.intern_null()
                    } else {
                        self.intern_bytes(arena.get(n))
                    }
                })
                .collect(),
            Encoding::Rows { arena, .. } => (0..arena.len() as u32)
                .map(|n| self.intern_bytes(arena.get(n)))
                .collect(),
            Encoding::Pair { columns, pairs } => {
                let Encoding::Pair { columns: ours, .. } = &mut self.encoding else {
                    unreachable!("tables for the same key types")
                };
                let first = ours[0].merge(&columns[0]);
                let second = ours[1].merge(&columns[1]);
                pairs
                    .iter()
                    .map(|&p| {
                        let (a, b) = unpair(p);
                        self.intern_pair(pair(first[a as usize], second[b as usize]))
                    })
                    .collect()
            }
        }
    }

    /// For each key of `other` (a table for the same key types), by number:
    /// its number here, or [`MISSING`]. Looked up on all workers.
    pub fn find_all_of(&self, other: &KeyTable) -> Vec<u32> {
        let numbers = (0..other.len).into_par_iter().with_min_len(1 << 12);
        let (ours_null, others_null) = (self.null_number(), other.null_number());
        let found = |number: Option<u32>| number.unwrap_or(MISSING);
        match &other.encoding {
            Encoding::Integer { values, .. } => numbers
                .map(|n| {
                    found(if Some(n) == others_null {
                        ours_null
                    } else {
                        self.find_integer(values[n as usize])
                    })
                })
                .collect(),
            Encoding::Strings { arena, .. } | Encoding::Rows { arena, .. } => numbers
                .map(|n| {
                    found(if Some(n) == others_null {
                        ours_null
                    } else {
                        self.find_bytes(hash_bytes(arena.get(n)), arena.get(n))
                    })
                })
                .collect(),
            Encoding::Pair { columns, pairs } => {
                let Encoding::Pair { columns: ours, .. } = &self.encoding else {
                    unreachable!("tables for the same key types")
                };
                let (first, second) = rayon::join(
                    || ours[0].find_all_of(&columns[0]),
                    || ours[1].find_all_of(&columns[1]),
                );
                numbers
                    .map(|n| {
                        let (a, b) = unpair(pairs[n as usize]);
                        let (a, b) = (first[a as usize], second[b as usize]);
                        if a == MISSING || b == MISSING {
                            return MISSING;
                        }
                        let key = pair(a, b);
                        found(
                            self.table
                                .find(hash_integer(key as i64), |e| e.0 == key)
                                .map(|e| e.1),
                        )
                    })
                    .collect()
            }
        }
    }

    /// The keys as columns, in the order of their numbers.
    pub fn columns(&self) -> Result<Vec<ArrayRef>> {
        match &self.encoding {
            Encoding::Integer {
                data_type,
                values,
                null,
            } => {
                let nulls = null.map(|n| {
                    let mut valid = BooleanBufferBuilder::new(values.len());
                    valid.append_n(values.len(), true);
                    valid.set_bit(n as usize, false);
                    NullBuffer::from(valid.finish())
                });
                let array: ArrayRef = match data_type {
                    DataType::Int32 => Arc::new(Int32Array::new(
                        buffer_pool::map(values, |&v| v as i32).into(),
                        nulls,
                    )),
                    DataType::Date32 => Arc::new(Date32Array::new(
                        buffer_pool::map(values, |&v| v as i32).into(),
                        nulls,
                    )),
                    DataType::Decimal128(..) => Arc::new(
                        Decimal128Array::new(
                            buffer_pool::map(values, |&v| v as i128).into(),
                            nulls,
                        )
                        .with_data_type(data_type.clone()),
                    ),
                    _ => Arc::new(Int64Array::new(
                        buffer_pool::map(values, |&v| v).into(),
                        nulls,
                    )),
                };
                Ok(vec![array])
            }
            Encoding::Strings { arena, null } => {
                let values = (0..arena.len() as u32)
                    .map(|n| {
                        (Some(n) != *null)
                            .then(|| std::str::from_utf8(arena.get(n)))
                            .transpose()
                    })
                    .collect::<std::result::Result<StringArray, _>>()
                    .map_err(|e| {
                        crate::error::Error::Execute(format!(
                            "internal error: a key is not UTF-8: {e}"
                        ))
                    })?;
                Ok(vec![std::sync::Arc::new(values)])
            }
            Encoding::Rows { converter, arena } => {
                let parser = converter.parser();
                let rows = (0..arena.len() as u32).map(|n| parser.parse(arena.get(n)));
                Ok(converter.convert_rows(rows)?)
            }
            Encoding::Pair { columns, pairs } => {
                let mut out = vec![];
                for (c, table) in columns.iter().enumerate() {
                    let values = table.columns()?.pop().ok_or_else(|| {
                        crate::error::Error::Execute(
                            "internal error: a key table without its column".into(),
                        )
                    })?;
                    let numbers: Vec<u32> = pairs
                        .iter()
                        .map(|&p| {
                            let (a, b) = unpair(p);
                            if c == 0 {
                                a
                            } else {
                                b
                            }
                        })
                        .collect();
                    out.push(buffer_pool::take(values.as_ref(), &numbers)?);
                }
                Ok(out)
            }
        }
    }
}

/// Decimals of at most this many digits are integer keys (their values fit
/// in 64 bits).
const MAX_DECIMAL64_DIGITS: u8 = 18;

/// Whether a key of this one column is kept as an `i64`.
fn integer_key(data_type: &DataType) -> bool {
    match data_type {
        DataType::Int32 | DataType::Int64 | DataType::Date32 => true,
        DataType::Decimal128(p, _) => *p <= MAX_DECIMAL64_DIGITS,
        _ => false,
    }
}

/// Whether a key of this column is numbered by a table of its own in a pair
/// of columns (an integer, a date or a string: a pair with a decimal is
/// faster as one row-format key).
fn one_column_key(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int32 | DataType::Int64 | DataType::Date32 | DataType::Utf8
    )
}

/// The key column if `keys` is one dictionary-encoded column (strings as
/// stored): numbered by its entries, then each row by its entry's number.
fn one_column_dictionary(keys: &[ArrayRef]) -> Option<&dyn arrow::array::AnyDictionaryArray> {
    match keys {
        [key] => key.as_any_dictionary_opt(),
        _ => None,
    }
}

/// The numbers of each row's two key columns in their own tables, by `number`
/// (intern or lookup).
fn pair_numbers<T>(
    columns: T,
    keys: &[ArrayRef],
    mut number: impl FnMut(T::Item, &[ArrayRef], &mut Vec<u32>) -> Result<()>,
) -> Result<(Vec<u32>, Vec<u32>)>
where
    T: IntoIterator,
{
    let mut numbers = [vec![], vec![]];
    for ((table, key), out) in columns.into_iter().zip(keys).zip(numbers.iter_mut()) {
        number(table, std::slice::from_ref(key), out)?;
    }
    let [first, second] = numbers;
    Ok((first, second))
}

/// Pairs of column numbers below this are numbered through an array per batch.
const SMALL_PAIRS: usize = 16;

/// Pairs of dictionary entries are numbered through a table of them when
/// there are at most this many.
const DICTIONARY_PAIRS_MAX: usize = 4096;

/// The key of a pair of column numbers.
fn pair(first: u32, second: u32) -> u64 {
    ((first as u64) << 32) | second as u64
}

/// The column numbers of a pair key.
fn unpair(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// A Utf8 key column as a string array; an error for other types.
fn strings(column: &ArrayRef) -> Result<&StringArray> {
    column.as_string_opt::<i32>().ok_or_else(|| {
        crate::error::Error::Execute(format!(
            "internal error: a string key of type {}",
            column.data_type()
        ))
    })
}

/// For each of `rows` rows: whether every key column is non-NULL there.
pub fn all_valid(columns: &[ArrayRef], rows: usize) -> Vec<bool> {
    let mut valid = vec![true; rows];
    for c in columns {
        if let Some(nulls) = c.logical_nulls() {
            for (v, ok) in valid.iter_mut().zip(nulls.iter()) {
                *v &= ok;
            }
        }
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Int32Array, Int64Array, StringArray};
    use std::sync::Arc;

    fn numbers(table: &mut KeyTable, keys: &[ArrayRef]) -> Vec<u32> {
        let mut ids = vec![];
        table.intern(keys, &mut ids).unwrap();
        ids
    }

    /// A DECIMAL of at most 18 digits is an integer key that comes back as
    /// the same decimal type; a wider one is a row-format key.
    #[test]
    fn narrow_decimal_keys_are_integer_keys() {
        let t = DataType::Decimal128(15, 2);
        let mut table = KeyTable::new(std::slice::from_ref(&t)).unwrap();
        assert!(matches!(table.encoding, Encoding::Integer { .. }));
        let a: ArrayRef = Arc::new(
            Decimal128Array::from(vec![Some(-12345), None, Some(99), Some(-12345)])
                .with_data_type(t.clone()),
        );
        assert_eq!(
            numbers(&mut table, std::slice::from_ref(&a)),
            vec![0, 1, 2, 0]
        );
        let mut found = vec![];
        table.lookup(std::slice::from_ref(&a), &mut found).unwrap();
        assert_eq!(found, vec![0, MISSING, 2, 0]);
        let expected: ArrayRef =
            Arc::new(Decimal128Array::from(vec![Some(-12345), None, Some(99)]).with_data_type(t));
        assert_eq!(&table.columns().unwrap()[0], &expected);
        let wide = KeyTable::new(&[DataType::Decimal128(38, 0)]).unwrap();
        assert!(matches!(wide.encoding, Encoding::Rows { .. }));
        // A value beyond the declared precision is an error, not a wrong key.
        let beyond: ArrayRef = Arc::new(
            Decimal128Array::from(vec![i128::from(i64::MAX) + 1])
                .with_data_type(DataType::Decimal128(18, 0)),
        );
        assert!(for_each_integer(&beyond, |_| {}).is_err());
    }

    #[test]
    fn integer_keys_number_in_order_of_first_appearance_with_null_a_key() {
        let mut t = KeyTable::new(&[DataType::Int64]).unwrap();
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), None, Some(7), Some(-1)]));
        assert_eq!(numbers(&mut t, &[a]), vec![0, 1, 0, 2]);
        let b: ArrayRef = Arc::new(Int64Array::from(vec![Some(-1), None, Some(0)]));
        assert_eq!(numbers(&mut t, std::slice::from_ref(&b)), vec![2, 1, 3]);
        let mut found = vec![];
        t.lookup(&[b], &mut found).unwrap();
        assert_eq!(found, vec![2, MISSING, 3]);
        let columns = t.columns().unwrap();
        let expected: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), None, Some(-1), Some(0)]));
        assert_eq!(&columns[0], &expected);
    }

    #[test]
    fn dense_integer_keys_switch_to_a_direct_index_and_back() {
        // Keys 0, 3, 6, ... (then also below and far above), with NULLs and
        // repeats: numbered in order of first appearance whatever the index.
        let mut t = KeyTable::new(&[DataType::Int64]).unwrap();
        let mut expected: Vec<Option<i64>> = vec![];
        let mut numbered = std::collections::HashMap::new();
        let mut check = |t: &mut KeyTable, keys: Vec<Option<i64>>| {
            let array: ArrayRef = Arc::new(Int64Array::from(keys.clone()));
            let ids = numbers(t, std::slice::from_ref(&array));
            for (key, id) in keys.iter().zip(&ids) {
                let number = *numbered.entry(*key).or_insert_with(|| {
                    expected.push(*key);
                    expected.len() - 1
                });
                assert_eq!(*id as usize, number, "{key:?}");
            }
            let mut found = vec![];
            t.lookup(&[array], &mut found).unwrap();
            let want: Vec<u32> = keys
                .iter()
                .zip(&ids)
                .map(|(k, &id)| if k.is_some() { id } else { MISSING })
                .collect();
            assert_eq!(found, want);
        };
        let dense: Vec<Option<i64>> = (0..100_000).map(|i| Some(i * 3)).collect();
        check(&mut t, dense.clone());
        assert!(t.direct.is_some());
        check(&mut t, vec![None, Some(-5), Some(300_000), Some(3), None]);
        assert!(t.direct.is_some());
        check(&mut t, dense);
        check(&mut t, vec![Some(1 << 40), Some(6), Some(i64::MIN)]);
        assert!(t.direct.is_none());
        check(&mut t, vec![Some(9), Some(1 << 40), Some(301_000)]);
        let columns = t.columns().unwrap();
        let keys: ArrayRef = Arc::new(Int64Array::from(expected));
        assert_eq!(&columns[0], &keys);
    }

    #[test]
    fn merging_direct_tables_widens_the_index_once_to_both_ranges() {
        let keys = |range: std::ops::Range<i64>| -> ArrayRef {
            Arc::new(Int64Array::from_iter(
                range.map(|v| (v % 1000 != 0).then_some(v * 3)),
            ))
        };
        let mut low = KeyTable::new(&[DataType::Int64]).unwrap();
        let mut high = KeyTable::new(&[DataType::Int64]).unwrap();
        numbers(&mut low, &[keys(0..200_000)]);
        numbers(&mut high, &[keys(300_000..500_000)]);
        assert!(low.direct.is_some() && high.direct.is_some());
        let low_len = low.len() as u32;
        let mapping = low.merge(&high);
        let width = low.direct.as_ref().map(|d| (d.min, d.max()));
        assert_eq!(width, Some((3, 1_499_997)));
        // The NULL (number 0 of both) is one key; the others are new.
        assert_eq!(mapping[0], 0);
        for (n, &m) in mapping.iter().enumerate().skip(1) {
            assert_eq!(m, low_len + n as u32 - 1, "key {n} of the other table");
        }
        let mut found = vec![];
        low.lookup(&[keys(0..500_000)], &mut found).unwrap();
        assert_eq!(found[0], MISSING);
        assert_eq!(found[1], 1);
        assert_eq!(found[250_000], MISSING);
        assert_eq!(found[300_001], low_len);
        assert_eq!(found[499_999], low_len + 199_799);
    }

    #[test]
    fn pairs_of_integer_keys_number_lookup_and_merge() {
        let types = [DataType::Int64, DataType::Int32];
        let mut t = KeyTable::new(&types).unwrap();
        let keys: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![
                Some(5),
                Some(5),
                None,
                Some(7),
                Some(5),
                None,
            ])),
            Arc::new(Int32Array::from(vec![
                Some(1),
                Some(2),
                Some(1),
                Some(1),
                Some(1),
                Some(1),
            ])),
        ];
        assert_eq!(numbers(&mut t, &keys), vec![0, 1, 2, 3, 0, 2]);
        let mut found = vec![];
        t.lookup(&keys, &mut found).unwrap();
        assert_eq!(found, vec![0, 1, MISSING, 3, 0, MISSING]);
        let mut u = KeyTable::new(&types).unwrap();
        let more: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(7), Some(-7)])),
            Arc::new(Int32Array::from(vec![Some(1), None])),
        ];
        numbers(&mut u, &more);
        assert_eq!(t.merge(&u), vec![3, 4]);
        let columns = t.columns().unwrap();
        let first: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(5),
            Some(5),
            None,
            Some(7),
            Some(-7),
        ]));
        let second: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(1),
            Some(2),
            Some(1),
            Some(1),
            None,
        ]));
        assert_eq!(columns, vec![first, second]);
    }

    #[test]
    fn composite_keys_and_merge() {
        let types = [DataType::Utf8, DataType::Int64];
        let mut t = KeyTable::new(&types).unwrap();
        let keys: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("a"),
                None,
                Some("a"),
            ])),
            Arc::new(Int64Array::from(vec![1, 2, 1, 1])),
        ];
        assert_eq!(numbers(&mut t, &keys), vec![0, 1, 2, 0]);
        let mut found = vec![];
        t.lookup(&keys, &mut found).unwrap();
        assert_eq!(found, vec![0, 1, MISSING, 0]);

        let mut u = KeyTable::new(&types).unwrap();
        let more: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["b", "a"])),
            Arc::new(Int64Array::from(vec![1, 2])),
        ];
        numbers(&mut u, &more);
        assert_eq!(t.merge(&u), vec![3, 1]);
        assert_eq!(t.len(), 4);
        let columns = t.columns().unwrap();
        assert_eq!(columns[0].len(), 4);
        assert_eq!(columns[0].as_string::<i32>().value(3), "b");
    }

    #[test]
    fn dictionary_encoded_keys_number_like_plain_ones() {
        use arrow::array::{DictionaryArray, UInt8Array};
        // Entries unsorted, one unused; NULL keys.
        let values: ArrayRef = Arc::new(StringArray::from(vec!["x", "", "y", "unused"]));
        let dictionary: ArrayRef = Arc::new(
            DictionaryArray::try_new(
                UInt8Array::from(vec![Some(2), None, Some(0), Some(1), Some(2), None]),
                values,
            )
            .unwrap(),
        );
        let plain = arrow::compute::cast(&dictionary, &DataType::Utf8).unwrap();
        let years: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2, 2, 1, 3]));
        for keys in [vec![plain.clone()], vec![plain.clone(), years.clone()]] {
            let encoded: Vec<ArrayRef> = std::iter::once(dictionary.clone())
                .chain(keys[1..].iter().cloned())
                .collect();
            let types: Vec<DataType> = keys.iter().map(|k| k.data_type().clone()).collect();
            let (mut a, mut b) = (
                KeyTable::new(&types).unwrap(),
                KeyTable::new(&types).unwrap(),
            );
            // Plain then encoded rows into one table, the other way round into the other.
            let mut first = numbers(&mut a, &keys);
            first.extend(numbers(&mut a, &encoded));
            let mut second = numbers(&mut b, &encoded);
            second.extend(numbers(&mut b, &keys));
            assert_eq!(first, second);
            assert_eq!(first[..6], first[6..]);
            assert_eq!(a.columns().unwrap(), b.columns().unwrap());
            // Lookups: NULL keys never match.
            let (mut plain_found, mut encoded_found) = (vec![], vec![]);
            a.lookup(&keys, &mut plain_found).unwrap();
            a.lookup(&encoded, &mut encoded_found).unwrap();
            assert_eq!(plain_found, encoded_found);
            assert_eq!(plain_found[1], MISSING);
            assert_eq!(plain_found[0], first[0]);
        }
    }

    #[test]
    fn pairs_of_dictionary_columns_number_like_plain_ones() {
        use arrow::array::{DictionaryArray, UInt8Array};
        let dictionary = |keys: Vec<u8>, values: Vec<Option<&str>>| -> ArrayRef {
            Arc::new(
                DictionaryArray::try_new(
                    UInt8Array::from(keys),
                    Arc::new(StringArray::from(values)),
                )
                .unwrap(),
            )
        };
        // Two batches whose dictionaries list the entries differently, with
        // unused entries and a NULL entry.
        let batches = [
            [
                dictionary(
                    vec![2, 0, 2, 1, 0, 3],
                    vec![Some("R"), Some("A"), Some("N"), None],
                ),
                dictionary(
                    vec![0, 1, 1, 0, 0, 1],
                    vec![Some("F"), Some("O"), Some("unused")],
                ),
            ],
            [
                dictionary(
                    vec![0, 1, 3, 1],
                    vec![Some("N"), Some("A"), Some("unused"), None],
                ),
                dictionary(vec![1, 0, 1, 2], vec![Some("O"), Some("F"), Some("Z")]),
            ],
        ];
        let types = [DataType::Utf8, DataType::Utf8];
        let (mut encoded, mut plain) = (
            KeyTable::new(&types).unwrap(),
            KeyTable::new(&types).unwrap(),
        );
        for batch in &batches {
            let decoded: Vec<ArrayRef> = batch
                .iter()
                .map(|c| arrow::compute::cast(c, &DataType::Utf8).unwrap())
                .collect();
            assert_eq!(numbers(&mut encoded, batch), numbers(&mut plain, &decoded));
        }
        assert_eq!(encoded.len(), 9);
        assert_eq!(encoded.columns().unwrap(), plain.columns().unwrap());
    }

    #[test]
    fn keys_of_every_kind_round_trip_and_nulls_group_together() {
        use arrow::array::{BooleanArray, Date32Array, Decimal128Array, Int32Array};
        let decimal = DataType::Decimal128(20, 2);
        let types = [
            DataType::Int32,
            DataType::Date32,
            DataType::Boolean,
            decimal.clone(),
            DataType::Utf8,
        ];
        let keys: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(vec![
                Some(1),
                None,
                Some(1),
                None,
                Some(-5),
            ])),
            Arc::new(Date32Array::from(vec![
                Some(10),
                None,
                Some(10),
                None,
                Some(0),
            ])),
            Arc::new(BooleanArray::from(vec![
                Some(true),
                None,
                Some(true),
                None,
                Some(false),
            ])),
            Arc::new(
                Decimal128Array::from(vec![Some(-1), None, Some(-1), None, Some(i128::MAX)])
                    .with_data_type(decimal),
            ),
            Arc::new(StringArray::from(vec![
                Some(""),
                None,
                Some(""),
                None,
                Some("x"),
            ])),
        ];
        let mut t = KeyTable::new(&types).unwrap();
        assert_eq!(numbers(&mut t, &keys), vec![0, 1, 0, 1, 2]);
        let back = t.columns().unwrap();
        for (column, key) in back.iter().zip(&keys) {
            let expected = arrow::compute::take(
                key.as_ref(),
                &arrow::array::UInt32Array::from(vec![0, 1, 4]),
                None,
            )
            .unwrap();
            assert_eq!(column.to_data(), expected.to_data());
        }
        // A lookup: NULL keys and unseen strings are missing.
        let probe: Vec<ArrayRef> = keys.iter().map(|k| k.slice(2, 3)).collect();
        let mut found = vec![];
        t.lookup(&probe, &mut found).unwrap();
        assert_eq!(found, vec![0, MISSING, 2]);
    }

    #[test]
    fn one_string_column_with_null_and_empty_string_as_distinct_keys() {
        let mut t = KeyTable::new(&[DataType::Utf8]).unwrap();
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("x"),
            None,
            Some(""),
            Some("x"),
            None,
        ]));
        assert_eq!(numbers(&mut t, &[a]), vec![0, 1, 2, 0, 1]);
        // Lookups: NULL and unknown keys are missing; "" is found.
        let probe: ArrayRef = Arc::new(StringArray::from(vec![
            Some(""),
            None,
            Some("y"),
            Some("x"),
        ]));
        let mut ids = vec![];
        t.lookup(&[probe], &mut ids).unwrap();
        assert_eq!(ids, vec![2, MISSING, MISSING, 0]);
        // Merging another table maps its keys (and its NULL) onto these.
        let mut other = KeyTable::new(&[DataType::Utf8]).unwrap();
        let b: ArrayRef = Arc::new(StringArray::from(vec![Some("z"), None, Some("x")]));
        numbers(&mut other, &[b]);
        assert_eq!(t.merge(&other), vec![3, 1, 0]);
        let keys = t.columns().unwrap();
        let keys = keys[0].as_string::<i32>();
        let back: Vec<Option<&str>> = keys.iter().collect();
        assert_eq!(back, vec![Some("x"), None, Some(""), Some("z")]);
    }

    #[test]
    fn merging_maps_string_keys() {
        let types = [DataType::Utf8, DataType::Utf8];
        let pair = |a: Vec<Option<&str>>, b: Vec<Option<&str>>| -> Vec<ArrayRef> {
            vec![
                Arc::new(StringArray::from(a)),
                Arc::new(StringArray::from(b)),
            ]
        };
        let mut t = KeyTable::new(&types).unwrap();
        numbers(
            &mut t,
            &pair(vec![Some("a"), Some("b")], vec![Some("x"), None]),
        );
        let mut u = KeyTable::new(&types).unwrap();
        numbers(
            &mut u,
            &pair(
                vec![Some("b"), Some("a"), None],
                vec![None, Some("y"), Some("x")],
            ),
        );
        assert_eq!(t.merge(&u), vec![1, 2, 3]);
        let columns = t.columns().unwrap();
        let strings = |c: &ArrayRef| -> Vec<Option<String>> {
            c.as_string::<i32>()
                .iter()
                .map(|s| s.map(str::to_string))
                .collect()
        };
        let s = |v: &str| Some(v.to_string());
        assert_eq!(strings(&columns[0]), vec![s("a"), s("b"), s("a"), None]);
        assert_eq!(strings(&columns[1]), vec![s("x"), None, s("y"), s("x")]);
    }

    #[test]
    fn other_keys_use_the_row_format() {
        let mut t = KeyTable::new(&[DataType::Float64, DataType::Int64]).unwrap();
        let keys: Vec<ArrayRef> = vec![
            Arc::new(arrow::array::Float64Array::from(vec![0.5, 0.5, f64::NAN])),
            Arc::new(Int64Array::from(vec![1, 1, 1])),
        ];
        assert_eq!(numbers(&mut t, &keys), vec![0, 0, 1]);
        assert_eq!(t.columns().unwrap()[0].len(), 2);
    }

    #[test]
    fn many_integer_keys_survive_growth() {
        let mut t = KeyTable::new(&[DataType::Int32]).unwrap();
        let a: ArrayRef = Arc::new(arrow::array::Int32Array::from_iter_values(
            (0..100_000).map(|i| i * 7919 % 100_003),
        ));
        let first = numbers(&mut t, std::slice::from_ref(&a));
        assert_eq!(first, (0..100_000).collect::<Vec<u32>>());
        assert_eq!(numbers(&mut t, &[a]), first);
    }
}
