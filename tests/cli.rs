//! End-to-end tests of `olap-cli`: the built binary is run in a temporary
//! directory, as a user would run it, and its stdout, stderr and exit code checked.
//!
//! Most of these need a working engine (CREATE TABLE, INSERT, SELECT, SHOW TABLES,
//! DESCRIBE); the usage-error tests need only the CLI.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A small table with a NULL, a comma inside a string, and a DECIMAL column.
const SETUP: &str = "CREATE TABLE items (id INTEGER, name VARCHAR, price DECIMAL(10,2)); \
    INSERT INTO items VALUES (1, 'apple', 1.50), (2, 'pear, green', NULL), (3, 'fig', 12.25)";

const SELECT: &str = "SELECT id, name, price FROM items ORDER BY id";

/// Runs `olap-cli ARGS` in `dir`, feeding it `stdin` (empty if `None`).
fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_olap-cli"))
        .args(args)
        .current_dir(dir)
        // Keep the shell's history file inside the test directory.
        .env("HOME", dir)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the olap-cli binary runs");
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Asserts that `output` is a success with nothing on stderr, and returns stdout.
fn success(output: &Output) -> String {
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Asserts that `output` is exit code 1 with one `Error: ...` line on stderr,
/// and returns that line.
fn failure(output: &Output) -> String {
    let err = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{err}",
        stdout(output)
    );
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(err.starts_with("Error: "), "stderr: {err}");
    err.trim_end().to_string()
}

fn query(dir: &Path, sql: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--db", "test.db", "query", sql];
    args.extend_from_slice(extra);
    run(dir, &args, None)
}

#[test]
fn query_prints_a_table_with_the_row_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = success(&query(dir.path(), &format!("{SETUP}; {SELECT}"), &[]));
    assert_eq!(
        out,
        "\
+----+-------------+-------+
| id | name        | price |
+==========================+
|  1 | apple       |  1.50 |
|  2 | pear, green |  NULL |
|  3 | fig         | 12.25 |
+----+-------------+-------+
(3 rows)
"
    );
}

#[test]
fn query_prints_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = success(&query(
        dir.path(),
        &format!("{SETUP}; {SELECT}"),
        &["--format", "csv"],
    ));
    assert_eq!(
        out,
        "id,name,price\n1,apple,1.50\n2,\"pear, green\",\n3,fig,12.25\n"
    );
}

#[test]
fn query_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = success(&query(
        dir.path(),
        &format!("{SETUP}; {SELECT}"),
        &["--format", "json"],
    ));
    // DECIMALs keep their exact digits.
    assert!(out.contains(r#""price":1.50"#), "{out}");
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([
            {"id": 1, "name": "apple", "price": 1.5},
            {"id": 2, "name": "pear, green", "price": null},
            {"id": 3, "name": "fig", "price": 12.25},
        ])
    );
    // Keys come in column order.
    let first = out.lines().nth(1).unwrap();
    assert!(first.find("\"id\"") < first.find("\"name\""), "{first}");
}

#[test]
fn format_may_come_before_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = success(&run(
        dir.path(),
        &[
            "--format",
            "csv",
            "--db",
            "x.db",
            "query",
            "SELECT 1 AS one",
        ],
        None,
    ));
    assert_eq!(out, "one\n1\n");
}

#[test]
fn statements_without_columns_print_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = success(&query(dir.path(), "CREATE TABLE t (a INTEGER)", &[]));
    assert_eq!(out, "");
}

#[test]
fn the_database_persists_between_runs() {
    let dir = tempfile::tempdir().unwrap();
    success(&query(dir.path(), SETUP, &[]));
    let out = success(&query(
        dir.path(),
        "SELECT COUNT(*) AS n FROM items",
        &["--format", "csv"],
    ));
    assert_eq!(out, "n\n3\n");
}

#[test]
fn query_reads_sql_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "-- set up; then query\n{SETUP};\n\n/* the query; */\n\
         SELECT id, name, price FROM items\n  WHERE price IS NOT NULL\n  ORDER BY id;\n"
    );
    std::fs::write(dir.path().join("script.sql"), script).unwrap();
    let out = success(&run(
        dir.path(),
        &[
            "--db",
            "test.db",
            "query",
            "-f",
            "script.sql",
            "--format",
            "csv",
        ],
        None,
    ));
    assert_eq!(out, "id,name,price\n1,apple,1.50\n3,fig,12.25\n");
}

#[test]
fn query_reads_sql_from_stdin_with_a_dash() {
    let dir = tempfile::tempdir().unwrap();
    let out = success(&run(
        dir.path(),
        &["--db", "test.db", "query", "-f", "-", "--format", "csv"],
        Some(&format!("{SETUP};\nSELECT name FROM items WHERE id = 3;\n")),
    ));
    assert_eq!(out, "name\nfig\n");
}

#[test]
fn a_failing_query_is_one_error_line_and_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let output = query(dir.path(), "SELECT * FROM no_such_table", &[]);
    failure(&output);
    assert!(output.stdout.is_empty());

    let output = query(dir.path(), "SELEC 1", &[]);
    failure(&output);
    assert!(output.stdout.is_empty());
}

#[test]
fn a_missing_sql_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["query", "-f", "missing.sql"], None);
    let line = failure(&output);
    assert!(line.contains("missing.sql"), "{line}");
    // Nothing was opened, so no database was created.
    assert!(!dir.path().join("olap.db").exists());
}

#[test]
fn usage_errors_exit_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["query"][..],
        &["query", "SELECT 1", "-f", "x.sql"],
        &["--threads", "0", "query", "SELECT 1"],
        &["--threads", "many", "query", "SELECT 1"],
        &["--format", "xml", "query", "SELECT 1"],
        &["--no-such-flag"],
        &["no-such-command"],
    ] {
        let output = run(dir.path(), args, None);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert!(!dir.path().join("olap.db").exists());
}

#[test]
fn help_and_version_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let out = success(&run(dir.path(), &["--help"], None));
    assert!(out.contains("query") && out.contains("--db"), "{out}");
    let out = success(&run(dir.path(), &["query", "--help"], None));
    assert!(out.contains("--file"), "{out}");
    let out = success(&run(dir.path(), &["--version"], None));
    assert!(out.starts_with("olap-cli "), "{out}");
}

#[test]
fn the_default_database_is_olap_db_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = success(&run(
        dir.path(),
        &["query", "CREATE TABLE t (a INTEGER)"],
        None,
    ));
    assert_eq!(out, "");
    assert!(dir.path().join("olap.db").is_dir());
    let out = success(&run(
        dir.path(),
        &["--format", "csv", "query", "SELECT COUNT(*) AS n FROM t"],
        None,
    ));
    assert_eq!(out, "n\n0\n");
}

#[test]
fn threads_can_be_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = success(&query(
        dir.path(),
        &format!("{SETUP}; SELECT SUM(price) AS total FROM items"),
        &["--threads", "2", "--format", "csv"],
    ));
    assert_eq!(out, "total\n13.75\n");
}

#[test]
fn the_shell_reads_statements_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let input = "\
CREATE TABLE items (id INTEGER,
  name VARCHAR);
.tables
.mode csv
INSERT INTO items VALUES (1, 'a;b'), -- a comment; not the end
  (2, 'c');
SELECT name
FROM items
ORDER BY id;
SELECT 1 AS one; SELECT 2 AS two;
.timer on
SELECT 42 AS answer;
.quit
SELECT 'never run' AS x;
";
    let output = run(dir.path(), &["--db", "test.db"], Some(input));
    let out = success(&output);
    // The prompt and banner are only for terminals.
    assert!(!out.contains("olap>"), "{out}");
    let (tables, rest) = out.split_once("(1 row)\n").expect("a table of tables");
    assert!(tables.contains("| items"), "{out}");
    // (The INSERT may print its row count first.)
    assert!(
        rest.contains("name\na;b\nc\none\n1\ntwo\n2\nanswer\n42\nRun Time: "),
        "{out}"
    );
    assert!(rest.trim_end().ends_with(" s"), "{out}");
    assert!(!out.contains("never run"), "{out}");
}

#[test]
fn the_shell_reports_errors_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let input = "\
SELECT * FROM no_such_table;
.mode csv
SELECT 'still here' AS status;
";
    let output = run(dir.path(), &["--db", "test.db"], Some(input));
    // One error line; the script's exit code says something failed.
    failure(&output);
    assert_eq!(stdout(&output), "status\nstill here\n");

    let output = run(
        dir.path(),
        &["--db", "test.db"],
        Some(".nonsense\n.mode xml\n"),
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err.lines().all(|l| l.starts_with("Error: ")), "{err}");
}

#[test]
fn the_shell_runs_a_last_statement_without_a_semicolon() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &["--db", "test.db", "--format", "csv"],
        Some("SELECT 1 AS one"),
    );
    assert_eq!(success(&output), "one\n1\n");
}

#[test]
fn the_shell_describes_tables() {
    let dir = tempfile::tempdir().unwrap();
    success(&query(dir.path(), SETUP, &[]));
    let input = "CREATE TABLE other (x DATE);\n.schema items\n.schema\n";
    let out = success(&run(dir.path(), &["--db", "test.db"], Some(input)));
    let (one, all) = out.split_once("(3 rows)\n").expect("DESCRIBE items");
    for column in ["id", "name", "price", "DECIMAL(10,2)"] {
        assert!(one.contains(column), "{out}");
    }
    // With no table, every table is described under its name.
    assert!(
        all.contains("items:\n") && all.contains("other:\n"),
        "{out}"
    );
    assert!(all.contains("DATE"), "{out}");
}

#[test]
fn the_shell_prints_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = success(&run(dir.path(), &["--db", "test.db"], Some(".help\n")));
    for command in [".tables", ".schema", ".mode", ".timer", ".exit"] {
        assert!(out.contains(command), "{out}");
    }
}

#[test]
fn memory_limit_spills_a_big_group_by_and_refuses_what_cannot_spill() {
    let dir = tempfile::tempdir().unwrap();
    // 100,000 distinct keys.
    success(&query(
        dir.path(),
        "CREATE TABLE digits (d BIGINT); INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
         CREATE TABLE t AS SELECT a.d * 10000 + b.d * 1000 + c.d * 100 + e.d * 10 + f.d AS k
         FROM digits a, digits b, digits c, digits e, digits f",
        &[],
    ));
    let groups = "SELECT count(*) AS n, sum(c) AS rows, sum(k) AS keys FROM (SELECT k, count(*) AS c FROM t GROUP BY k)";
    let out = success(&query(
        dir.path(),
        groups,
        &["--memory-limit", "1MB", "--format", "csv"],
    ));
    assert_eq!(out, "n,rows,keys\n100000,100000,4999950000\n");
    let err = failure(&query(
        dir.path(),
        "SELECT * FROM t",
        &["--memory-limit", "10KB"],
    ));
    assert!(err.starts_with("Error: Out of Memory Error: "), "{err}");
    assert!(err.contains("memory_limit of 9.8 KiB"), "{err}");
    let out = run(
        dir.path(),
        &[
            "--db",
            "test.db",
            "--memory-limit",
            "lots",
            "query",
            "SELECT 1",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("memory_limit must be a size"),
        "{}",
        stderr(&out)
    );
}
