#!/usr/bin/env python3
"""DuckDB's side of the dashboard benchmark (benches/dashboard.sh).

Loads lineitem, orders, customer and nation from the Parquet files that
`dashboard export` wrote into a DuckDB database file (CREATE TABLE t AS SELECT *
FROM 't.parquet'), then runs every query of benches/dashboard.sql --runs times
with --threads threads. Writes OUT/timings.json ({"version", "threads",
"load_ms", "queries": {id: [ms, ...]}}) and OUT/results/<id>.csv (the result,
'|'-delimited with a header, as DuckDB's COPY writes it), which
`dashboard run --duckdb OUT` compares with olap's results.

Needs DuckDB's Python package: pip install duckdb
"""

import argparse
import json
import os
import sys
import time

TABLES = ["lineitem", "orders", "customer", "nation"]


def read_queries(path):
    """(id, title, sql) for each `-- name: <id> <title>` headed query."""
    queries = []
    with open(path) as f:
        for line in f:
            stripped = line.strip()
            if stripped.startswith("-- name:"):
                rest = stripped[len("-- name:"):].strip()
                qid, _, title = rest.partition(" ")
                queries.append([qid, title.strip(), ""])
            elif stripped.startswith("--") or not stripped:
                continue
            elif queries:
                queries[-1][2] += line.rstrip() + "\n"
    return [(q, t, s.strip().rstrip(";").strip()) for q, t, s in queries]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parquet", required=True, help="directory of <table>.parquet")
    p.add_argument("--db", required=True, help="DuckDB database file to create")
    p.add_argument("--queries", default="benches/dashboard.sql")
    p.add_argument("--out", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    try:
        import duckdb
    except ImportError:
        sys.exit("DuckDB's Python package is missing: pip install duckdb")

    os.makedirs(os.path.join(args.out, "results"), exist_ok=True)
    if os.path.exists(args.db):
        os.remove(args.db)
    con = duckdb.connect(args.db)
    con.execute(f"SET threads = {args.threads}")
    started = time.perf_counter()
    for t in TABLES:
        path = os.path.join(args.parquet, f"{t}.parquet").replace("'", "''")
        con.execute(f"CREATE TABLE {t} AS SELECT * FROM '{path}'")
    con.execute("CHECKPOINT")
    load_ms = (time.perf_counter() - started) * 1000
    counts = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    print(f"DuckDB {duckdb.__version__}, threads = {args.threads}: loaded "
          + ", ".join(f"{t} {n}" for t, n in counts.items())
          + f" rows in {load_ms:.0f} ms")

    timings = {}
    for qid, title, sql in read_queries(args.queries):
        times = []
        rows = None
        for _ in range(max(args.runs, 1)):
            t0 = time.perf_counter()
            result = con.execute(sql).fetchall()
            times.append((time.perf_counter() - t0) * 1000)
            rows = len(result)
        timings[qid] = times
        out = os.path.join(args.out, "results", f"{qid}.csv").replace("'", "''")
        con.execute(f"COPY ({sql}) TO '{out}' (HEADER, DELIMITER '|')")
        ordered = sorted(times)
        print(f"  {qid} {title:<48} {rows:>5} rows  min {ordered[0]:>9.3f} ms  "
              f"median {ordered[len(ordered) // 2]:>9.3f} ms")

    with open(os.path.join(args.out, "timings.json"), "w") as f:
        json.dump({"version": duckdb.__version__, "threads": args.threads,
                   "load_ms": load_ms, "counts": counts, "queries": timings}, f, indent=1)
    con.close()


if __name__ == "__main__":
    main()
