//! Rows into sorted partitions: the buckets of the window operator.
//!
//! The partition keys and ORDER BY keys of all rows are encoded in Arrow's row
//! format (rows that compare as bytes). Each row is dealt into a bucket by a
//! hash of its partition key bytes; then, in each bucket, on the workers side
//! by side:
//!
//! 1. rows are grouped by partition: a hash table (keyed by the hash already
//!    computed) numbers the bucket's partitions in order of first appearance,
//!    and a counting sort by that number makes each partition a run; partition
//!    keys of at most 16 bytes, all as long, are compared as two words;
//! 2. each partition is sorted by its ORDER BY key bytes, packed into
//!    big-endian words that compare as integers (the bytes themselves only
//!    break ties between rows longer than the words), copied out of the row
//!    format in partition order first, so that the sorts read memory in
//!    order; no comparison ever looks at a partition key. A large partition
//!    of short keys (at most 16 bytes, all as long) is radix sorted instead;
//! 3. the peer groups (runs of equal ORDER BY keys) are found by comparing
//!    neighbours' words.

use std::cmp::Ordering;

use arrow::row::Rows;
use hashbrown::HashTable;
use rayon::prelude::*;

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
        .filter(|rows| {
            let len = rows.iter().next().map_or(0, |r| r.data().len());
            len <= 16 && rows.iter().all(|r| r.data().len() == len)
        })
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
    let mut members: Vec<Vec<u32>> = vec![vec![]; count];
    if count > 1 {
        for (r, h) in hashes.iter().enumerate() {
            members[(h >> 32) as usize % count].push(r as u32);
        }
    } else {
        members[0] = (0..n as u32).collect();
    }
    // The shortest and longest ORDER BY key rows.
    let lengths = keys.order.as_ref().map(|order| {
        order
            .iter()
            .map(|r| r.data().len())
            .fold((usize::MAX, 0), |(lo, hi), l| (lo.min(l), hi.max(l)))
    });
    members
        .into_par_iter()
        .filter(|m| !m.is_empty())
        .map(|rows| bucket(rows, &hashes, packed.as_deref(), keys, lengths))
        .collect()
}

/// Up to 16 bytes as two big-endian words, zero-padded (used only when every
/// row is as long, so that equal words mean equal bytes).
fn pack(bytes: &[u8]) -> [u64; 2] {
    let mut buf = [0u8; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    [
        u64::from_be_bytes(buf[..8].try_into().expect("8 bytes")),
        u64::from_be_bytes(buf[8..].try_into().expect("8 bytes")),
    ]
}

/// One bucket's rows (in input order) grouped by partition, each sorted.
fn bucket(
    rows: Vec<u32>,
    hashes: &[u64],
    packed: Option<&[[u64; 2]]>,
    keys: &Keys,
    lengths: Option<(usize, usize)>,
) -> Bucket {
    let n = rows.len();
    let (slots, partitions) = match (&keys.partition, packed) {
        (_, Some(words)) => group(&rows, hashes, |a, b| words[a] == words[b]),
        (Some(partition), None) => {
            group(&rows, hashes, |a, b| partition.row(a) == partition.row(b))
        }
        (None, _) => ((0..n as u32).collect(), vec![(0, n)]),
    };
    let (rows, sorted) = match (&keys.order, lengths) {
        (Some(order), Some((min, max))) => {
            sort_partitions(&rows, &slots, &partitions, order, min == max, max)
        }
        _ => {
            let mut placed = vec![0u32; n];
            for (&r, &slot) in rows.iter().zip(&slots) {
                placed[slot as usize] = r;
            }
            (placed, None)
        }
    };
    // Whether position p (not a partition's first) has the ORDER BY key of p - 1.
    let same_as_previous = |p: usize| match (&sorted, &keys.order) {
        (Some(equal), _) => equal[p],
        (None, Some(order)) => order.row(rows[p - 1] as usize) == order.row(rows[p] as usize),
        (None, None) => true,
    };
    let mut peers = vec![(0u32, 0u32); rows.len()];
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
        rows,
        partitions,
        peers,
    }
}

/// Where each of `rows` goes when they are grouped by their partition keys,
/// and the partitions' ranges: the partitions are numbered in order of first
/// appearance by a hash table, then placed by a counting sort on that number
/// (each partition's rows stay in input order).
fn group(
    rows: &[u32],
    hashes: &[u64],
    same_key: impl Fn(usize, usize) -> bool,
) -> (Vec<u32>, Vec<(usize, usize)>) {
    // (first row of the partition, its number)
    let mut table: HashTable<(u32, u32)> = HashTable::new();
    let mut numbers = Vec::with_capacity(rows.len());
    let mut sizes: Vec<usize> = vec![];
    for &r in rows {
        let h = hashes[r as usize];
        let number = match table.find(h, |&(first, _)| same_key(first as usize, r as usize)) {
            Some(&(_, number)) => number,
            None => {
                let number = sizes.len() as u32;
                table.insert_unique(h, (r, number), |&(first, _)| hashes[first as usize]);
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

/// `rows` placed at their `slots`, each partition sorted by the rows' keys
/// (ties by row number). Each row's first bytes are packed into words in
/// input order (the order the keys lie in memory), then placed, so that the
/// sorts read memory in order. When every row is as long (`whole`) and at most
/// 32 bytes, also returns for each sorted position whether its key equals the
/// one before (its words do).
fn sort_partitions(
    rows: &[u32],
    slots: &[u32],
    partitions: &[(usize, usize)],
    keys: &Rows,
    whole: bool,
    max: usize,
) -> (Vec<u32>, Option<Vec<bool>>) {
    match max.div_ceil(8) {
        0 | 1 => sort_packed::<1>(rows, slots, partitions, keys, whole),
        2 => sort_packed::<2>(rows, slots, partitions, keys, whole),
        3 => sort_packed::<3>(rows, slots, partitions, keys, whole),
        4 => sort_packed::<4>(rows, slots, partitions, keys, whole),
        _ => {
            let (sorted, _) = sort_packed::<4>(rows, slots, partitions, keys, false);
            (sorted, None)
        }
    }
}

/// [`sort_partitions`] with each row's first `8 * W` bytes as `W` big-endian
/// words; the bytes themselves are compared only when the words are equal and
/// `whole` (every row is as long, at most `8 * W` bytes) does not say they are.
fn sort_packed<const W: usize>(
    rows: &[u32],
    slots: &[u32],
    partitions: &[(usize, usize)],
    keys: &Rows,
    whole: bool,
) -> (Vec<u32>, Option<Vec<bool>>) {
    let pack = |r: u32| -> [u64; W] {
        let bytes = keys.row(r as usize).data();
        let mut buf = [0u8; 32];
        let take = bytes.len().min(8 * W);
        buf[..take].copy_from_slice(&bytes[..take]);
        let mut words = [0u64; W];
        for (w, word) in words.iter_mut().enumerate() {
            *word = u64::from_be_bytes(buf[w * 8..w * 8 + 8].try_into().expect("8 bytes"));
        }
        words
    };
    let mut records: Vec<([u64; W], u32)> = vec![([0; W], 0); rows.len()];
    for (&r, &slot) in rows.iter().zip(slots) {
        records[slot as usize] = (pack(r), r);
    }
    let order = |a: &([u64; W], u32), b: &([u64; W], u32)| -> Ordering {
        a.0.cmp(&b.0)
            .then_with(|| {
                if whole {
                    Ordering::Equal
                } else {
                    keys.row(a.1 as usize).cmp(&keys.row(b.1 as usize))
                }
            })
            .then(a.1.cmp(&b.1))
    };
    for &(lo, hi) in partitions {
        let part = &mut records[lo..hi];
        if whole && W <= 2 && part.len() > PARALLEL_SORT_ROWS {
            // The rows of a partition are in input order: a stable sort by the
            // words alone breaks ties by row number too.
            radix_sort(part);
        } else if part.len() > PARALLEL_SORT_ROWS {
            part.par_sort_unstable_by(order);
        } else {
            part.sort_unstable_by(order);
        }
    }
    let sorted = records.iter().map(|(_, r)| *r).collect();
    let equal = whole.then(|| {
        let mut equal = Vec::with_capacity(records.len());
        equal.push(false);
        equal.extend(records.windows(2).map(|pair| pair[0].0 == pair[1].0));
        equal
    });
    (sorted, equal)
}

/// A row's ORDER BY key packed into words, and the row's number.
type Record<const W: usize> = ([u64; W], u32);

/// Sorts `records` stably by their words: a least-significant-digit radix
/// sort, a byte at a time, skipping the bytes in which all words agree.
fn radix_sort<const W: usize>(records: &mut [Record<W>]) {
    let n = records.len();
    let byte = |r: &Record<W>, d: usize| ((r.0[W - 1 - d / 8] >> ((d % 8) * 8)) & 0xff) as usize;
    let mut counts = vec![[0usize; 256]; 8 * W];
    for r in records.iter() {
        for (d, c) in counts.iter_mut().enumerate() {
            c[byte(r, d)] += 1;
        }
    }
    let mut buffer = records.to_vec();
    let mut in_buffer = false;
    for (d, c) in counts.iter().enumerate() {
        if c.contains(&n) {
            continue;
        }
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
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::row::{RowConverter, SortField};
    use std::sync::Arc;

    fn rows(column: ArrayRef) -> Rows {
        let converter =
            RowConverter::new(vec![SortField::new(column.data_type().clone())]).unwrap();
        converter.convert_columns(&[column]).unwrap()
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
