//! Damaged files are detected: every data file and the manifest, truncated, with a
//! byte flipped or removed, gives an error naming the file on open or on the first
//! query that reads it, never a crash, a panic or a wrong answer.

use std::fs;
use std::path::{Path, PathBuf};

mod common;
use common::copy_dir;

use olap::{Database, Error};

/// Queries that together read every column of every relation, and their answers
/// on the undamaged database.
const QUERIES: [&str; 4] = [
    "SELECT COUNT(*), SUM(a), MIN(b), MAX(b), SUM(LENGTH(b)) FROM t",
    "SELECT * FROM u ORDER BY k",
    "SELECT * FROM m ORDER BY b",
    "SELECT SUM(a) FROM t WHERE a BETWEEN 1000 AND 2000",
];

fn answers(db: &Database) -> Vec<Result<Vec<Vec<String>>, Error>> {
    QUERIES
        .iter()
        .map(|sql| db.query(sql).map(|r| r.to_string_rows()))
        .collect()
}

/// The ways a file is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    Truncate { keep_per_mille: u64 },
    DropLastByte,
    Flip { at_per_mille: u64 },
    Remove,
}

fn damage(path: &Path, how: Damage) {
    let len = fs::metadata(path).unwrap().len();
    match how {
        Damage::Truncate { keep_per_mille } => {
            let file = fs::OpenOptions::new().write(true).open(path).unwrap();
            file.set_len(len * keep_per_mille / 1000).unwrap();
        }
        Damage::DropLastByte => {
            let file = fs::OpenOptions::new().write(true).open(path).unwrap();
            file.set_len(len - 1).unwrap();
        }
        Damage::Flip { at_per_mille } => {
            let mut bytes = fs::read(path).unwrap();
            let at = ((len * at_per_mille / 1000) as usize).min(bytes.len() - 1);
            bytes[at] ^= 0x5a;
            fs::write(path, bytes).unwrap();
        }
        Damage::Remove => fs::remove_file(path).unwrap(),
    }
}

fn is_named(err: &Error, name: &str) -> bool {
    let msg = err.to_string();
    !msg.contains("internal error") && msg.contains(name)
}

#[test]
fn every_damaged_file_is_detected_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine");
    let work = tmp.path().join("work");
    let expected = {
        let db = Database::open(&pristine).unwrap();
        db.execute(
            "CREATE TABLE digits (d BIGINT); INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
             CREATE TABLE t AS SELECT a.d * 100000 + b.d * 10000 + c.d * 1000 + e.d * 100 + f.d * 10 + g.d AS a, 'x' || (a.d + g.d) AS b
             FROM digits a, digits b, digits c, digits e, digits f, digits g WHERE a.d < 2;
             CREATE TABLE u (k INTEGER, s VARCHAR, p DECIMAL(10,2), day DATE);
             INSERT INTO u VALUES (1, 'one', 1.50, DATE '2024-01-01'), (2, NULL, -2.25, DATE '2024-02-29');
             CREATE MATERIALIZED VIEW m AS SELECT b, COUNT(*) AS n, SUM(a) AS s FROM t GROUP BY b;
             DROP TABLE digits",
        )
        .unwrap();
        let expected = answers(&db);
        assert!(expected.iter().all(|a| a.is_ok()));
        expected.into_iter().map(|a| a.unwrap()).collect::<Vec<_>>()
    };
    let mut files: Vec<PathBuf> = fs::read_dir(pristine.join("data"))
        .unwrap()
        .map(|e| PathBuf::from("data").join(e.unwrap().file_name()))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    files.push(PathBuf::from("manifest.json"));

    let mut damages = vec![
        Damage::Truncate { keep_per_mille: 0 },
        Damage::Truncate {
            keep_per_mille: 500,
        },
        Damage::DropLastByte,
        Damage::Remove,
    ];
    for at_per_mille in [0, 3, 100, 333, 500, 777, 999] {
        damages.push(Damage::Flip { at_per_mille });
    }
    let mut detected = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        for &how in &damages {
            copy_dir(&pristine, &work);
            damage(&work.join(file), how);
            let db = match Database::open(&work) {
                Ok(db) => db,
                Err(err) => {
                    // A damaged manifest is refused on open (a removed one too: the
                    // data files are there).
                    assert!(is_named(&err, name), "{file:?} {how:?}: open says {err}");
                    detected += 1;
                    continue;
                }
            };
            let mut named = false;
            for (sql, (got, want)) in QUERIES.iter().zip(answers(&db).into_iter().zip(&expected)) {
                match got {
                    Ok(rows) => assert_eq!(&rows, want, "{file:?} {how:?}: {sql} answered wrong"),
                    Err(err) => {
                        assert!(is_named(&err, name), "{file:?} {how:?}: {sql} says {err}");
                        named = true;
                    }
                }
            }
            assert!(named, "{file:?} {how:?}: no query noticed");
            detected += 1;
        }
    }
    eprintln!(
        "{detected} damaged files detected ({} files x {} kinds of damage)",
        files.len(),
        damages.len()
    );
}
