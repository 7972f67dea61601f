#!/usr/bin/env python3
"""Fills in the expected results of sqllogictest files from DuckDB.

    pip install duckdb
    testdata/slt/duckdb_expected.py testdata/slt/windows.slt [more.slt ...]

Each file is run from the top against a fresh in-memory DuckDB database, in the
same way `tests/slt.rs` runs it against olap: `__TEST_DIR__` becomes a fresh
temporary directory and `__DATA_DIR__` the absolute path of `testdata/slt/data`.
The file is then rewritten in place:

- `query` records get DuckDB's column types (I integer, R DOUBLE / DECIMAL, T
  anything else) and its rows, printed as olap prints values: NULL as `NULL`, the
  empty string as `(empty)`, booleans as `true` / `false`, DECIMAL at its scale,
  DATE as `YYYY-MM-DD`, TIMESTAMP as `YYYY-MM-DD HH:MM:SS`, DOUBLE as
  `olap::format::format_double` prints it. `rowsort` and `valuesort` sort the rows
  (values) as the runner does.
- `statement ok` must succeed in DuckDB; `statement error` and `query error` must
  fail there (the script stops and names the record otherwise).
- Records under `onlyif olap` are kept as they are and not run in DuckDB; records
  under `skipif olap` run in DuckDB like any other.

The first line of a generated file says which DuckDB version produced it.
"""

import decimal
import datetime
import math
import os
import re
import sys
import tempfile

import duckdb

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
VERSION_LINE = re.compile(r"^# Expected results: DuckDB .*$")


def format_double(v):
    """olap::format::format_double: Rust's shortest round-trip form, no exponent."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == math.trunc(v) and abs(v) < 1e15:
        return f"{v:.1f}"
    return format(decimal.Decimal(repr(v)), "f")


def format_value(v, type_name):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return format_double(v)
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, datetime.datetime):
        text = v.strftime("%Y-%m-%d %H:%M:%S")
        if v.microsecond:
            text += f".{v.microsecond:06d}".rstrip("0")
        return text
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, str):
        return "(empty)" if v == "" else v
    return str(v)


def column_type(type_name):
    t = type_name.upper()
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
             "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"):
        return "I"
    if t in ("DOUBLE", "FLOAT", "REAL") or t.startswith("DECIMAL"):
        return "R"
    return "T"


def parse_records(lines):
    """Splits a file into records: runs of non-blank lines (comments included)."""
    records, current = [], []
    for line in lines:
        if line.strip() == "":
            if current:
                records.append(current)
                current = []
            records.append(None)  # a blank line, kept as it is
        else:
            current.append(line)
    if current:
        records.append(current)
    return records


def substitute(sql, test_dir):
    return sql.replace("__TEST_DIR__", test_dir).replace("__DATA_DIR__", DATA_DIR)


def run_record(con, record, test_dir, where):
    """The record as it should be written, after running it in DuckDB."""
    comments = [l for l in record if l.startswith("#")]
    body = [l for l in record if not l.startswith("#")]
    conditions = []
    while body and body[0].split()[0] in ("skipif", "onlyif"):
        conditions.append(body.pop(0))
    if not body:
        return record
    if any(c.split()[:2] == ["onlyif", "olap"] for c in conditions):
        return record
    head = body[0].split()
    kind = head[0]
    if kind == "statement":
        sql = "\n".join(body[1:])
        expect_error = head[1] == "error"
        try:
            con.execute(substitute(sql, test_dir))
            ok = True
        except duckdb.Error as e:
            ok = False
            message = str(e)
        if expect_error and ok:
            sys.exit(f"{where}: DuckDB accepts a statement expected to fail:\n{sql}")
        if not expect_error and not ok:
            sys.exit(f"{where}: DuckDB fails on a statement expected to succeed:\n{sql}\n{message}")
        return record
    if kind != "query":
        return record
    if len(head) > 1 and head[1] == "error":
        sql = "\n".join(body[1:])
        try:
            con.execute(substitute(sql, test_dir)).fetchall()
        except duckdb.Error:
            return record
        sys.exit(f"{where}: DuckDB accepts a query expected to fail:\n{sql}")
    try:
        separator = body.index("----")
        sql_lines = body[1:separator]
    except ValueError:
        sql_lines = body[1:]
    sort_mode = next((m for m in head[2:] if m in ("rowsort", "valuesort", "nosort")), None)
    sql = "\n".join(sql_lines)
    try:
        cursor = con.execute(substitute(sql, test_dir))
        rows = cursor.fetchall()
        types = [str(d[1]) for d in cursor.description]
    except duckdb.Error as e:
        sys.exit(f"{where}: DuckDB fails on a query:\n{sql}\n{e}")
    if sql.lstrip().upper().startswith("DESCRIBE"):
        # olap's DESCRIBE has DuckDB's first three columns: name, type, null.
        rows, types = [r[:3] for r in rows], types[:3]
    text_rows = [[format_value(v, t) for v, t in zip(row, types)] for row in rows]
    if sort_mode == "rowsort":
        text_rows.sort()
    elif sort_mode == "valuesort":
        values = sorted(v for row in text_rows for v in row)
        text_rows = [[v] for v in values]
    types_text = "".join(column_type(t) for t in types)
    new_head = ["query", types_text] + head[2:]
    out = comments + conditions + [" ".join(new_head)] + sql_lines + ["----"]
    out += [" ".join(r) for r in text_rows]
    return out


def process(path):
    with open(path) as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = f"# Expected results: DuckDB {duckdb.__version__} (Python), by testdata/slt/duckdb_expected.py"
    if lines and VERSION_LINE.match(lines[0]):
        lines[0] = header
    else:
        lines = [header] + lines
    con = duckdb.connect()
    with tempfile.TemporaryDirectory() as test_dir:
        out, line_no = [], 1
        for record in parse_records(lines):
            if record is None:
                out.append("")
                line_no += 1
                continue
            out.extend(run_record(con, record, test_dir, f"{path}:{line_no}"))
            line_no += len(record)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for p in sys.argv[1:]:
        process(p)
        print(f"{p}: expected results from DuckDB {duckdb.__version__}")
