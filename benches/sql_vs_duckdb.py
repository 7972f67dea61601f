#!/usr/bin/env python3
"""Query files over TPC-H, olap and DuckDB side by side on the same data.

    benches/sql_vs_duckdb.py [--sf 1] [--db DIR] [--work DIR] [--runs 5]
                             [--threads 2] [--queries benches/sql]

The queries of benches/sql are analysts' SQL beyond TPC-H: window functions
(ranks, sliding frames, LAG, whole-partition shares) and correlated
subqueries, each summarized to a small result so that the time is the
engine's, not the transfer's.

1. builds olap-cli (release) unless --cli is given;
2. generates TPC-H at --sf into WORK/olap.db, or uses --db DIR;
3. exports the tables to Parquet and loads them into DuckDB;
4. runs each query hot, --runs times, in DuckDB (its Python package) and
   writes DuckDB's result as the reference answer;
5. runs the same files in olap (`olap-cli bench --check`), so that each olap
   result is checked against DuckDB's;
6. prints a Markdown table: best times, the ratio olap / DuckDB, and the check.

Exit status 0 when every olap result matched DuckDB's. Needs `pip install duckdb`.
"""

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time

TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    return subprocess.run(cmd, check=True, text=True, capture_output=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sf", type=float, default=1.0)
    p.add_argument("--db", help="an existing olap database with the TPC-H tables")
    p.add_argument("--work", help="work directory (default: a new temporary one)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--queries", default=os.path.join(ROOT, "benches", "sql"))
    p.add_argument("--cli", help="olap-cli to use (default: build target/release/olap-cli)")
    args = p.parse_args()
    try:
        import duckdb
    except ImportError:
        sys.exit("DuckDB's Python package is missing: pip install duckdb")

    cli = args.cli
    if not cli:
        print("== building olap-cli (release)", flush=True)
        subprocess.run(["cargo", "build", "--release", "--bin", "olap-cli"], check=True, cwd=ROOT)
        cli = os.path.join(ROOT, "target", "release", "olap-cli")
    work = args.work or tempfile.mkdtemp(prefix="olap-sql-")
    os.makedirs(work, exist_ok=True)
    db = args.db or os.path.join(work, "olap.db")
    if not os.path.exists(db):
        print(f"== generating TPC-H SF {args.sf:g} into {db}", flush=True)
        subprocess.run([cli, "--db", db, "tpch", "--sf", f"{args.sf:g}"], check=True)

    parquet = os.path.join(work, "parquet")
    os.makedirs(parquet, exist_ok=True)
    print("== exporting the tables to Parquet and loading them into DuckDB", flush=True)
    run([cli, "--db", db, "query", "; ".join(
        f"COPY {t} TO '{os.path.join(parquet, t)}.parquet' (FORMAT PARQUET)" for t in TABLES)])
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    for t in TABLES:
        con.execute(f"CREATE TABLE {t} AS SELECT * FROM '{os.path.join(parquet, t)}.parquet'")

    answers = os.path.join(work, "answers")
    os.makedirs(answers, exist_ok=True)
    files = sorted(f for f in os.listdir(args.queries) if f.endswith(".sql"))
    duck = {}
    for name in files:
        stem = name[:-4]
        sql = open(os.path.join(args.queries, name)).read().strip().rstrip(";")
        best = None
        for _ in range(args.runs):
            start = time.perf_counter()
            con.execute(sql).fetchall()
            ms = (time.perf_counter() - start) * 1000
            best = ms if best is None else min(best, ms)
        duck[stem] = best
        out = os.path.join(answers, stem + ".csv")
        con.execute(f"COPY ({sql}) TO '{out}' (HEADER, DELIMITER '|')")
        print(f"   duckdb {stem}: {best:.1f} ms", flush=True)

    print("== olap", flush=True)
    bench = run([cli, "--db", db, "--threads", str(args.threads), "bench", args.queries,
                 "--runs", str(args.runs), "--check", answers])
    olap, checks = {}, {}
    for line in bench.stdout.splitlines():
        m = re.match(r"^(\S+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(.*)$", line)
        if m and m.group(1) in duck:
            olap[m.group(1)] = float(m.group(3))
            checks[m.group(1)] = m.group(5).strip()

    git = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print()
    print(f"## {os.path.basename(args.queries)} at TPC-H SF {args.sf:g}: olap vs DuckDB {duckdb.__version__}")
    print()
    print(f"- {stamp}, olap git {git}, {os.cpu_count()} cores, threads = {args.threads}, best of {args.runs}")
    print()
    print("| query | olap ms | DuckDB ms | olap / DuckDB | olap's result |")
    print("|---|---:|---:|---:|---|")
    for stem in sorted(duck):
        o = olap.get(stem)
        ratio = f"{o / duck[stem]:.2f}x" if o else "-"
        shown = f"{o:.1f}" if o else "failed"
        print(f"| {stem} | {shown} | {duck[stem]:.1f} | {ratio} | {checks.get(stem, 'missing')} |")
    total_o, total_d = sum(olap.values()), sum(duck[s] for s in olap)
    if olap:
        print(f"| total | {total_o:.1f} | {total_d:.1f} | {total_o / total_d:.2f}x | |")
    ok = len(olap) == len(duck) and all(c == "ok" for c in checks.values())
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
