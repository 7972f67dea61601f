//! Rows into sorted partitions: the buckets of the window operator.
//!
//! The partition keys and ORDER BY keys of all rows are encoded in Arrow's row
//! format (rows that compare as bytes), then, in input order and on all
//! workers, packed into big-endian words that compare as integers: partition
//! keys of at most 16 bytes (all as long) into two words, ORDER BY keys into
//! their first (at most 32) bytes. Each row is dealt into a bucket by a hash of
//! its partition key, carrying its hash and words along, so that a bucket's
//! work reads only its own memory, in order. Then, in each bucket, on the
//! workers side by side:
//!
//! 1. rows are grouped by partition: a hash table (keyed by the hash already
//!    computed, holding the partition's words) numbers the bucket's partitions
//!    in order of first appearance, and a counting sort by that number makes
//!    each partition a run (rows keep their input order within it);
//! 2. each partition is sorted by its ORDER BY words (the row-format bytes
//!    only break ties between keys longer than the words or of unequal
//!    lengths); no comparison ever looks at a partition key. A large partition
//!    of short keys (at most 16 bytes, all as long) is radix sorted instead;
//! 3. the peer groups (runs of equal ORDER BY keys) are found by comparing
//!    neighbours' words.

use std::cmp::Ordering;

use arrow::row::Rows;
use hashbrown::HashTable;
use rayon::prelude::*;

use super::packed_keys::PackedKeys;
use super::Bucket;

/// Below this many rows, all go into one bucket.
const ONE_BUCKET_ROWS: usize = 1 << 14;

/// Partitions of more rows than this are sorted on all workers.
const PARALLEL_SORT_ROWS: usize = 1 << 16;

/// The keys of all input rows in Arrow's row format.
pub struct Keys {
    pub partition: Option<Rows>,
    pub order: Option<Rows>,
}

/// The input's `n` rows dealt into `count` buckets by partition, each grouped
/// by partition and sorted.
pub fn buckets(n: usize, keys: &Keys, workers: usize) -> Vec<Bucket> {
    let count = match &keys.partition {
        Some(_) if n >= ONE_BUCKET_ROWS => workers * 8,
        _ => 1,
    };
    let state = ahash::RandomState::with_seeds(7, 11, 13, 17);
    // Partition keys of at most 16 bytes (one or two numbers, a date, ...) as
    // two words: compared as integers, not as row-format bytes.
    let packed: Option<Vec<[u64; 2]>> = keys
        .partition
        .as_ref()
        .filter(|rows| same_length(rows).is_some_and(|len| len <= 16))
        .map(|rows| {
            (0..n)
                .into_par_iter()
                .map(|r| pack(rows.row(r).data()))
                .collect()
        });
    let hashes: Vec<u64> = match (&keys.partition, &packed) {
        (_, Some(words)) => words.par_iter().map(|w| state.hash_one(w)).collect(),
        (Some(rows), None) => (0..n)
            .into_par_iter()
            .map(|r| state.hash_one(rows.row(r).data()))
            .collect(),
        (None, _) => vec![],
    };
    let dealt = Deal {
        n,
        count,
        keys,
        hashes: &hashes,
        packed: packed.as_deref(),
    };
    let Some(order) = &keys.order else {
        return dealt.sorted_buckets::<0>(true);
    };
    // Every key is as long as the words hold: equal words are equal keys.
    let whole = |width: usize| same_length(order).is_some_and(|len| len <= width);
    let longest = order.iter().map(|r| r.data().len()).max().unwrap_or(0);
    match longest.div_ceil(8) {
        0 | 1 => dealt.sorted_buckets::<1>(whole(8)),
        2 => dealt.sorted_buckets::<2>(whole(16)),
        3 => dealt.sorted_buckets::<3>(whole(24)),
        _ => dealt.sorted_buckets::<4>(whole(32)),
    }
}

/// The length of every row, when all are as long.
fn same_length(rows: &Rows) -> Option<usize> {
    let len = rows.iter().next().map_or(0, |r| r.data().len());
    rows.iter().all(|r| r.data().len() == len).then_some(len)
}

/// The first `8 * W` bytes as `W` big-endian words, zero-padded.
fn pack<const W: usize>(bytes: &[u8]) -> [u64; W] {
    let mut words = [0u64; W];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
        let mut buf = [0u8; 8];
        buf[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_be_bytes(buf);
    }
    words
}

/// What dealing the rows into buckets reads: the partition keys' hashes and
/// (when short) words, in input order.
struct Deal<'a> {
    n: usize,
    count: usize,
    keys: &'a Keys,
    hashes: &'a [u64],
    packed: Option<&'a [[u64; 2]]>,
}

/// One bucket's rows (in input order), with their partition hashes and words
/// and their ORDER BY words.
struct Dealt<const W: usize> {
    rows: Vec<u32>,
    hashes: Vec<u64>,
    partition: Vec<[u64; 2]>,
    order: Vec<[u64; W]>,
}

/// The bucket of a row whose partition key has hash `h`, of `count`.
fn destination(h: u64, count: usize) -> u16 {
    ((h >> 32) as usize % count) as u16
}

/// Rows dealt into buckets: each row's bucket, and how many rows each run of
/// `run` rows sends to each bucket.
struct Dealer<'a> {
    destinations: &'a [u16],
    run: usize,
    counts: Vec<Vec<usize>>,
}

impl<'a> Dealer<'a> {
    /// Each worker deals a run of rows into its own region of every bucket
    /// (the regions lie in input order).
    fn new(destinations: &'a [u16], count: usize) -> Self {
        let run = destinations
            .len()
            .div_ceil(rayon::current_num_threads() * 4)
            .max(1);
        let counts = destinations
            .par_chunks(run)
            .map(|run| {
                let mut counts = vec![0; count];
                for &d in run {
                    counts[d as usize] += 1;
                }
                counts
            })
            .collect();
        Dealer {
            destinations,
            run,
            counts,
        }
    }

    /// Per bucket, the `value` of each of its rows, in input order: each run
    /// of rows writes into its own region of every bucket, on the workers.
    fn values<T: Copy + Send + Sync>(
        &self,
        zero: T,
        value: impl Fn(usize) -> T + Sync,
    ) -> Vec<Vec<T>> {
        let buckets = self.counts.first().map_or(0, |c| c.len());
        let mut out: Vec<Vec<T>> = (0..buckets)
            .map(|b| vec![zero; self.counts.iter().map(|c| c[b]).sum()])
            .collect();
        let mut regions: Vec<Vec<&mut [T]>> = self.counts.iter().map(|_| vec![]).collect();
        for (b, bucket) in out.iter_mut().enumerate() {
            let mut rest: &mut [T] = bucket;
            for (region, counts) in regions.iter_mut().zip(&self.counts) {
                let (mine, after) = std::mem::take(&mut rest).split_at_mut(counts[b]);
                region.push(mine);
                rest = after;
            }
        }
        regions
            .into_par_iter()
            .zip(self.destinations.par_chunks(self.run))
            .enumerate()
            .for_each(|(i, (mut regions, destinations))| {
                let mut at = vec![0; buckets];
                for (r, &d) in destinations.iter().enumerate() {
                    let d = d as usize;
                    regions[d][at[d]] = value(i * self.run + r);
                    at[d] += 1;
                }
            });
        out
    }
}

impl Deal<'_> {
    /// The buckets, with ORDER BY keys packed into `W` words (`whole`: every
    /// key fits them and all are as long).
    fn sorted_buckets<const W: usize>(&self, whole: bool) -> Vec<Bucket> {
        let n = self.n;
        let destinations: Vec<u16> = match self.count {
            1 => vec![0; n],
            count => self
                .hashes
                .par_iter()
                .map(|&h| destination(h, count))
                .collect(),
        };
        let deal = Dealer::new(&destinations, self.count);
        let rows = deal.values(0, |r| r as u32);
        let mut hashes = match self.hashes {
            [] => vec![],
            all => deal.values(0, |r| all[r]),
        };
        let mut partition = match self.packed {
            Some(words) => deal.values([0; 2], |r| words[r]),
            None => vec![],
        };
        let mut order: Vec<Vec<[u64; W]>> = match &self.keys.order {
            Some(keys) if W > 0 => deal.values([0; W], |r| pack(keys.row(r).data())),
            _ => deal.values([0; W], |_| [0; W]),
        };
        rows.into_iter()
            .enumerate()
            .map(|(b, rows)| Dealt {
                rows,
                hashes: hashes.get_mut(b).map(std::mem::take).unwrap_or_default(),
                partition: partition.get_mut(b).map(std::mem::take).unwrap_or_default(),
                order: std::mem::take(&mut order[b]),
            })
            .collect::<Vec<_>>()
            .into_par_iter()
            .filter(|b| !b.rows.is_empty())
            .map(|b| self.bucket(b, whole))
            .collect()
    }

    /// One bucket's rows grouped by partition, each sorted.
    fn bucket<const W: usize>(&self, dealt: Dealt<W>, whole: bool) -> Bucket {
        let n = dealt.rows.len();
        let (slots, partitions) = match (&self.keys.partition, self.packed) {
            (_, Some(_)) => group(&dealt.hashes, |i| dealt.partition[i], |a, b| a == b),
            (Some(keys), None) => group(
                &dealt.hashes,
                |i| dealt.rows[i],
                |&a, &b| keys.row(a as usize) == keys.row(b as usize),
            ),
            (None, _) => ((0..n as u32).collect(), vec![(0, n)]),
        };
        let mut records: Vec<Record<W>> = vec![([0; W], 0); n];
        for ((&slot, &row), &words) in slots.iter().zip(&dealt.rows).zip(&dealt.order) {
            records[slot as usize] = (words, row);
        }
        drop(dealt);
        let order = self.keys.order.as_ref();
        // Rows whose words are equal compare by their bytes unless `whole`.
        let same_bytes = |a: u32, b: u32| match order {
            Some(keys) if !whole => keys.row(a as usize).cmp(&keys.row(b as usize)),
            _ => Ordering::Equal,
        };
        if W > 0 {
            let by_key = |a: &Record<W>, b: &Record<W>| {
                a.0.cmp(&b.0)
                    .then_with(|| same_bytes(a.1, b.1))
                    .then(a.1.cmp(&b.1))
            };
            for &(lo, hi) in &partitions {
                let part = &mut records[lo..hi];
                if whole && W <= 2 && part.len() > PARALLEL_SORT_ROWS {
                    // The rows of a partition are in input order: a stable sort by the
                    // words alone breaks ties by row number too.
                    radix_sort(part);
                } else if part.len() > PARALLEL_SORT_ROWS {
                    part.par_sort_unstable_by(by_key);
                } else {
                    part.sort_unstable_by(by_key);
                }
            }
        }
        let same_as_previous = |p: usize| {
            let (a, b) = (&records[p - 1], &records[p]);
            a.0 == b.0 && same_bytes(a.1, b.1) == Ordering::Equal
        };
        let mut peers = vec![(0u32, 0u32); n];
        for &(lo, hi) in &partitions {
            let mut peer = lo;
            while peer < hi {
                let mut end = peer + 1;
                while end < hi && same_as_previous(end) {
                    end += 1;
                }
                peers[peer..end].fill((peer as u32, end as u32));
                peer = end;
            }
        }
        Bucket {
            rows: records.iter().map(|&(_, r)| r).collect(),
            partitions,
            peers,
        }
    }
}

/// Where each of a bucket's rows goes when they are grouped by their partition
/// keys (`key` of a row, compared by `same`), and the partitions' ranges: the
/// partitions are numbered in order of first appearance by a hash table, then
/// placed by a counting sort on that number (each partition's rows stay in
/// input order).
fn group<K: Copy>(
    hashes: &[u64],
    key: impl Fn(usize) -> K,
    same: impl Fn(&K, &K) -> bool,
) -> (Vec<u32>, Vec<(usize, usize)>) {
    // (the partition's key, its hash, its number)
    let mut table: HashTable<(K, u64, u32)> = HashTable::new();
    let mut numbers = Vec::with_capacity(hashes.len());
    let mut sizes: Vec<usize> = vec![];
    for (i, &h) in hashes.iter().enumerate() {
        let k = key(i);
        let number = match table.find(h, |(other, _, _)| same(other, &k)) {
            Some(&(_, _, number)) => number,
            None => {
                let number = sizes.len() as u32;
                table.insert_unique(h, (k, h, number), |&(_, h, _)| h);
                sizes.push(0);
                number
            }
        };
        sizes[number as usize] += 1;
        numbers.push(number);
    }
    let mut starts = Vec::with_capacity(sizes.len());
    let mut ranges = Vec::with_capacity(sizes.len());
    let mut at = 0;
    for &size in &sizes {
        starts.push(at);
        ranges.push((at, at + size));
        at += size;
    }
    let slots = numbers
        .iter()
        .map(|&number| {
            let slot = &mut starts[number as usize];
            *slot += 1;
            (*slot - 1) as u32
        })
        .collect();
    (slots, ranges)
}

/// The input's `n` rows dealt into buckets by partition, each grouped by
/// partition and sorted, from keys packed into integers (`packed_keys`): a
/// bucket's rows are sorted by their keys (partition first), with ties in
/// input order; the partitions are the runs of equal partition parts, the
/// peer groups the runs of equal keys.
pub fn packed_buckets(
    n: usize,
    keys: &PackedKeys,
    partitioned: bool,
    workers: usize,
) -> Vec<Bucket> {
    if keys.bits <= 64 {
        packed_buckets_of::<1>(n, keys, partitioned, workers)
    } else {
        packed_buckets_of::<2>(n, keys, partitioned, workers)
    }
}

/// [`packed_buckets`] with keys of `W` words.
fn packed_buckets_of<const W: usize>(
    n: usize,
    keys: &PackedKeys,
    partitioned: bool,
    workers: usize,
) -> Vec<Bucket> {
    let count = if partitioned && n >= ONE_BUCKET_ROWS {
        workers * 8
    } else {
        1
    };
    let state = ahash::RandomState::with_seeds(7, 11, 13, 17);
    let destinations: Vec<u16> = match count {
        1 => vec![0; n],
        count => (0..n)
            .into_par_iter()
            .with_min_len(4096)
            .map(|r| destination(state.hash_one(keys.partition(keys.key(r))), count))
            .collect(),
    };
    let deal = Dealer::new(&destinations, count);
    let rows = deal.values(0, |r| r as u32);
    let words = deal.values([0; W], |r| {
        let key = keys.key(r);
        let mut words = [0u64; W];
        for (i, word) in words.iter_mut().rev().enumerate() {
            *word = (key >> (64 * i)) as u64;
        }
        words
    });
    rows.into_iter()
        .zip(words)
        .collect::<Vec<_>>()
        .into_par_iter()
        .filter(|(rows, _)| !rows.is_empty())
        .map(|(rows, words)| {
            let mut records: Vec<Record<W>> = words.into_iter().zip(rows).collect();
            if records.len() > 256 {
                radix_sort(&mut records);
            } else {
                records.sort_unstable();
            }
            let n = records.len();
            let mut peers = vec![(0u32, 0u32); n];
            let mut peer = 0;
            for p in 1..=n {
                if p == n || records[p].0 != records[peer].0 {
                    peers[peer..p].fill((peer as u32, p as u32));
                    peer = p;
                }
            }
            let partitions = if partitioned {
                // Peer groups never straddle partitions: a partition is a run of them.
                let partition = |p: usize| {
                    keys.partition(
                        records[p]
                            .0
                            .iter()
                            .fold(0u128, |k, &w| (k << 64) | w as u128),
                    )
                };
                let mut partitions = vec![];
                let mut start = 0;
                let mut p = 0;
                while p < n {
                    let next = peers[p].1 as usize;
                    if next == n || partition(next) != partition(start) {
                        partitions.push((start, next));
                        start = next;
                    }
                    p = next;
                }
                partitions
            } else {
                vec![(0, n)]
            };
            Bucket {
                rows: records.iter().map(|&(_, r)| r).collect(),
                partitions,
                peers,
            }
        })
        .collect()
}

/// A row's ORDER BY key packed into words, and the row's number.
type Record<const W: usize> = ([u64; W], u32);

/// Sorts `records` stably by their words: a least-significant-digit radix
/// sort, a byte at a time, only over the bytes in which some words differ
/// (one pass finds them, one more counts them all).
fn radix_sort<const W: usize>(records: &mut [Record<W>]) {
    let Some(&(first, _)) = records.first() else {
        return;
    };
    let byte = |r: &Record<W>, d: usize| ((r.0[W - 1 - d / 8] >> ((d % 8) * 8)) & 0xff) as usize;
    let mut differ = [0u64; W];
    for (words, _) in records.iter() {
        for ((d, w), f) in differ.iter_mut().zip(words).zip(&first) {
            *d |= w ^ f;
        }
    }
    let digits: Vec<usize> = (0..8 * W)
        .filter(|&d| (differ[W - 1 - d / 8] >> ((d % 8) * 8)) & 0xff != 0)
        .collect();
    let mut counts = vec![[0usize; 256]; digits.len()];
    for r in records.iter() {
        for (&d, c) in digits.iter().zip(counts.iter_mut()) {
            c[byte(r, d)] += 1;
        }
    }
    let mut buffer = records.to_vec();
    let mut in_buffer = false;
    for (&d, c) in digits.iter().zip(&counts) {
        let mut next = [0usize; 256];
        let mut at = 0;
        for (b, &k) in c.iter().enumerate() {
            next[b] = at;
            at += k;
        }
        let (from, to): (&[Record<W>], &mut [Record<W>]) = if in_buffer {
            (&buffer, records)
        } else {
            (records, &mut buffer)
        };
        for r in from {
            let b = byte(r, d);
            to[next[b]] = *r;
            next[b] += 1;
        }
        in_buffer = !in_buffer;
    }
    if in_buffer {
        records.copy_from_slice(&buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::super::packed_keys::{self, KeyColumn};
    use super::*;
    use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
    use arrow::row::{RowConverter, SortField};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn rows(column: ArrayRef) -> Rows {
        let converter =
            RowConverter::new(vec![SortField::new(column.data_type().clone())]).unwrap();
        converter.convert_columns(&[column]).unwrap()
    }

    /// A partition's rows in order, with their peer groups relative to it.
    type Partition = (Vec<u32>, Vec<(u32, u32)>);

    /// Each partition, keyed by its first row.
    fn canonical(buckets: &[Bucket]) -> BTreeMap<u32, Partition> {
        let mut out = BTreeMap::new();
        for b in buckets {
            for &(lo, hi) in &b.partitions {
                let rows = b.rows[lo..hi].to_vec();
                let peers = b.peers[lo..hi]
                    .iter()
                    .map(|&(s, e)| (s - lo as u32, e - lo as u32))
                    .collect();
                out.insert(*rows.iter().min().unwrap(), (rows, peers));
            }
        }
        out
    }

    /// Keys packed into integers give the same partitions, orders and peer
    /// groups as the row format: NULLs first and last, ASC and DESC, ties,
    /// two ORDER BY columns, with and without partitions.
    #[test]
    fn packed_keys_sort_as_the_row_format() {
        let n = 30_000;
        let partition: ArrayRef = Arc::new(Int64Array::from_iter(
            (0..n).map(|i| (i % 23 != 0).then_some((i * 7) % 301 - 150)),
        ));
        let first: ArrayRef = Arc::new(Int32Array::from_iter(
            (0..n).map(|i| (i % 11 != 0).then_some(((i * 13) % 37) as i32)),
        ));
        let second: ArrayRef = Arc::new(Int64Array::from_iter((0..n).map(|i| (i * 31) % 5)));
        for (ascending, nulls_first) in [(true, false), (false, true), (true, true), (false, false)]
        {
            for partitioned in [true, false] {
                let column = |values| KeyColumn {
                    values,
                    ascending,
                    nulls_first,
                };
                let partition_keys: Vec<KeyColumn> = if partitioned {
                    vec![column(&partition)]
                } else {
                    vec![]
                };
                let order_keys = vec![column(&first), column(&second)];
                let packed = packed_keys::pack(&partition_keys, &order_keys).unwrap();
                let from_packed = packed_buckets(n as usize, &packed, partitioned, 2);
                let keys = Keys {
                    partition: partitioned
                        .then(|| rows_of(std::slice::from_ref(&partition), true, false)),
                    order: Some(rows_of(
                        &[first.clone(), second.clone()],
                        ascending,
                        nulls_first,
                    )),
                };
                let from_rows = buckets(n as usize, &keys, 2);
                assert_eq!(canonical(&from_packed), canonical(&from_rows));
            }
        }
    }

    fn rows_of(columns: &[ArrayRef], ascending: bool, nulls_first: bool) -> Rows {
        let options = arrow::compute::SortOptions {
            descending: !ascending,
            nulls_first,
        };
        let fields = columns
            .iter()
            .map(|c| SortField::new_with_options(c.data_type().clone(), options))
            .collect();
        RowConverter::new(fields)
            .unwrap()
            .convert_columns(columns)
            .unwrap()
    }

    #[test]
    fn radix_sort_is_a_stable_sort_by_the_words() {
        let mut x: u64 = 12345;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut one: Vec<([u64; 1], u32)> = (0..5000)
            .map(|i| ([((next() % 300) << 20) | 7], i))
            .collect();
        let mut two: Vec<([u64; 2], u32)> = (0..5000).map(|i| ([next() % 3, next()], i)).collect();
        let mut expected_one = one.clone();
        expected_one.sort_by_key(|r| r.0);
        let mut expected_two = two.clone();
        expected_two.sort_by_key(|r| r.0);
        radix_sort(&mut one);
        radix_sort(&mut two);
        assert_eq!(one, expected_one);
        assert_eq!(two, expected_two);
    }

    /// Every bucket holds whole partitions, each sorted by its ORDER BY key,
    /// with the right peer groups: checked against a plain sort.
    #[test]
    fn buckets_hold_whole_sorted_partitions() {
        let n = 40_000;
        let partition: ArrayRef = Arc::new(Int64Array::from_iter((0..n).map(|i| (i * 7) % 301)));
        let order: ArrayRef = Arc::new(StringArray::from_iter(
            (0..n).map(|i| (i % 17 != 0).then(|| format!("k{}", (i * 13) % 97))),
        ));
        let keys = Keys {
            partition: Some(rows(partition.clone())),
            order: Some(rows(order.clone())),
        };
        let buckets = buckets(n as usize, &keys, 2);
        assert!(buckets.len() > 1);
        let mut seen = 0;
        let order_rows = keys.order.as_ref().unwrap();
        let partition_rows = keys.partition.as_ref().unwrap();
        let mut partitions_seen = std::collections::HashSet::new();
        for b in &buckets {
            for &(lo, hi) in &b.partitions {
                let first = partition_rows.row(b.rows[lo] as usize);
                assert!(
                    partitions_seen.insert(first.data().to_vec()),
                    "a partition in two places"
                );
                for p in lo..hi {
                    assert_eq!(partition_rows.row(b.rows[p] as usize), first);
                    if p > lo {
                        let (x, y) = (
                            order_rows.row(b.rows[p - 1] as usize),
                            order_rows.row(b.rows[p] as usize),
                        );
                        assert!(x <= y);
                        assert_eq!(b.peers[p].0 == b.peers[p - 1].0, x == y);
                    }
                }
                seen += hi - lo;
            }
        }
        assert_eq!(seen, n as usize);
    }
}
