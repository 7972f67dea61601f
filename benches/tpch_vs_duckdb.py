#!/usr/bin/env python3
"""TPC-H, olap and DuckDB side by side on the same data, in one command.

    benches/tpch_vs_duckdb.py [--sf 1] [--db DIR] [--work DIR] [--runs 3]
                              [--rounds 1] [--threads 2] [--api] [--plot PNG]
                              [--memory-limit SIZE] [--scaling] [--cold N]
                              [--no-load]

1. builds olap-cli (release) unless --cli is given;
2. generates TPC-H at scale factor --sf into WORK/olap.db (`olap-cli tpch`), or
   uses the database --db DIR;
3. exports the eight tables to Parquet (olap's COPY ... TO), then times the
   loading of those files into a fresh database by both engines: olap
   `CREATE TABLE t AS SELECT * FROM read_parquet(...)`, DuckDB `CREATE TABLE t
   AS SELECT * FROM 'x.parquet'` (the DuckDB file is kept for step 4);
4. runs the 22 queries of sql/tpch hot, --runs times each, with --threads
   threads, in both engines (olap through `olap-cli bench`, DuckDB through its
   Python package, each query's result fetched in full); with --api also
   through olap's embedded API with the system allocator (the example
   `bench_api`, a program that sets no global allocator, as a library user
   builds one); --rounds N repeats all of it N times, the engines taking turns,
   and a query's figure is the median of its per-round medians; with
   --memory-limit both engines run under that limit; with --scaling also with 1
   thread;
5. checks every result of both engines against the reference answers
   (../shared/tpch/answers/sf<N>, computed by DuckDB 2.0.1 from the same
   generator), so that a fast wrong answer cannot count;
6. times --cold runs of Q6 as a whole process (start, open, answer, exit):
   `olap-cli --db DIR query -f q06.sql` and, when the DuckDB CLI is on PATH
   (`pip install duckdb-cli`), `duckdb -readonly FILE < q06.sql` on a file the
   CLI itself loaded (lineitem; the CLI's version may differ from the package's);
7. prints a Markdown report: per-query medians and the ratios, totals, the
   goals of issues 5 and 16, the 1-vs-2-thread speedups, cold start and
   loading; --plot FILE.png draws the per-query ratios to DuckDB (needs
   `pip install matplotlib`).

Exit status 0 when every result of both engines matched the reference; the
speed goals are reported, not enforced. Needs `pip install duckdb`.
"""

import argparse
import csv
import datetime
import decimal
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def sf_name(sf):
    text = f"{sf:g}"
    return f"sf{text}"


def read_reference(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="|", quotechar='"'))
    # An empty line is one NULL (a one-column result).
    return [row or [""] for row in rows[1:]]


def same_value(value, expected):
    """DuckDB's value vs the reference's text: decimals exact, doubles 1e-9."""
    if value is None:
        return expected in ("", "NULL")
    if isinstance(value, bool):
        return str(value).lower() == expected.lower()
    if isinstance(value, float):
        try:
            return math.isclose(value, float(expected), rel_tol=1e-9, abs_tol=1e-12)
        except ValueError:
            return False
    if isinstance(value, (int, decimal.Decimal)):
        try:
            return decimal.Decimal(expected) == value
        except decimal.InvalidOperation:
            return False
    if isinstance(value, datetime.date):
        return value.isoformat() == expected
    return str(value) == expected


def check_rows(rows, reference):
    if len(rows) != len(reference):
        return f"{len(rows)} rows, expected {len(reference)}"
    for i, (row, ref) in enumerate(zip(rows, reference)):
        if len(row) != len(ref):
            return f"row {i + 1}: {len(row)} columns, expected {len(ref)}"
        for j, (v, e) in enumerate(zip(row, ref)):
            if not same_value(v, e):
                return f"row {i + 1} column {j + 1}: {v!r}, expected {e!r}"
    return None


def olap_bench(cmd, answers):
    """{query: median ms}, {query: 'ok' or the mismatch}, peak RSS in MiB, from
    the report of `olap-cli bench` or of the example bench_api (one format)."""
    if answers:
        cmd = cmd + ["--check", answers]
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(cmd, text=True, stdout=out, stderr=err)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    peak_mib = usage.ru_maxrss / 1024
    times, checks = {}, {}
    for line in stdout.splitlines():
        m = re.match(r"^(q\d\d)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(.*)$", line)
        if m:
            times[m.group(1)] = float(m.group(4))
            checks[m.group(1)] = m.group(5).strip()
    if not times:
        sys.exit(f"{cmd[0]} printed no timings:\n{stdout}\n{stderr}")
    return times, checks, peak_mib


def cli_command(cli, db, queries, runs, threads, memory_limit):
    cmd = [cli, "--db", db, "--threads", str(threads)]
    if memory_limit:
        cmd += ["--memory-limit", memory_limit]
    return cmd + ["bench", queries, "--runs", str(runs)]


def api_command(api, db, queries, runs, threads, memory_limit):
    cmd = [api, "--db", db, "--threads", str(threads), "--runs", str(runs)]
    if memory_limit:
        cmd += ["--memory-limit", memory_limit]
    return cmd + [queries]


def duckdb_bench(con, queries, runs, threads, answers):
    con.execute(f"SET threads = {threads}")
    times, checks = {}, {}
    for name in sorted(os.listdir(queries)):
        if not name.endswith(".sql"):
            continue
        q = name[:-4]
        with open(os.path.join(queries, name)) as f:
            sql = f.read()
        samples, rows = [], None
        for _ in range(runs):
            start = time.perf_counter()
            rows = con.execute(sql).fetchall()
            samples.append((time.perf_counter() - start) * 1000)
        times[q] = statistics.median(samples)
        if answers:
            problem = check_rows(rows, read_reference(os.path.join(answers, q + ".csv")))
            checks[q] = "ok" if problem is None else problem
        else:
            checks[q] = "unchecked"
    return times, checks


def merge_rounds(rounds):
    """The median over rounds of each query's time; the first mismatch found."""
    # Rounded: with an even number of rounds the median is a mean of two.
    times = {
        q: round(statistics.median(r[0][q] for r in rounds if q in r[0]), 2)
        for q in rounds[0][0]
    }
    checks = {}
    for r in rounds:
        for q, c in r[1].items():
            if checks.get(q, "ok") in ("ok", "unchecked"):
                checks[q] = c
    return times, checks


def plot_ratios(path, title, d_times, series):
    """A PNG of each query's time over DuckDB's, one bar per olap build."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is missing, no plot: pip install matplotlib)")
        return
    names = sorted(d_times)
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for i, (label, times) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(names))]
        ax.bar(xs, [times[q] / d_times[q] for q in names], width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names)
    ax.set_ylabel("time / DuckDB's (lower is better)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"(plot written to {path})")


def cold_runs(cmd, n, stdin_path=None):
    samples = []
    for _ in range(n):
        stdin = open(stdin_path) if stdin_path else subprocess.DEVNULL
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdin=stdin, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
        if stdin_path:
            stdin.close()
    return statistics.median(samples), min(samples)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sf", type=float, default=1.0)
    p.add_argument("--db", help="an existing olap database with the TPC-H tables")
    p.add_argument("--work", help="work directory (default: a new temporary one, removed)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=1, help="repeat the hot runs, engines in turn")
    p.add_argument("--api", action="store_true", help="also time the embedded API (bench_api)")
    p.add_argument("--plot", help="write a PNG of the per-query ratios to DuckDB")
    p.add_argument("--memory-limit", help="run both engines under this memory_limit (e.g. 8GiB)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--scaling", action="store_true", help="also run with 1 thread")
    p.add_argument("--cold", type=int, default=10, help="cold-start runs of Q6 (0: none)")
    p.add_argument("--no-load", action="store_true", help="skip timing the loading")
    p.add_argument("--answers", help="reference answers (default ../shared/tpch/answers/sfN)")
    p.add_argument("--cli", help="olap-cli to use (default: build target/release/olap-cli)")
    args = p.parse_args()

    try:
        import duckdb
    except ImportError:
        sys.exit("DuckDB's Python package is missing: pip install duckdb")

    os.chdir(ROOT)
    cli = args.cli
    if not cli:
        print("== building olap-cli (release)", flush=True)
        subprocess.run(["cargo", "build", "--release", "--bin", "olap-cli"], check=True)
        cli = os.path.join(ROOT, "target", "release", "olap-cli")
    api = None
    if args.api:
        print("== building the example bench_api (release)", flush=True)
        subprocess.run(["cargo", "build", "--release", "--example", "bench_api"], check=True)
        api = os.path.join(ROOT, "target", "release", "examples", "bench_api")
    answers = args.answers or os.path.join(ROOT, "..", "shared", "tpch", "answers", sf_name(args.sf))
    if not os.path.isdir(answers):
        print(f"(no reference answers at {answers}: results are not checked)")
        answers = None
    queries = os.path.join(ROOT, "sql", "tpch")

    work = args.work or tempfile.mkdtemp(prefix="olap-tpch-")
    os.makedirs(work, exist_ok=True)
    try:
        git = run(["git", "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet"]).returncode != 0
    except (subprocess.CalledProcessError, FileNotFoundError):
        git, dirty = "?", False
    cpu = ""
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = [
        f"## TPC-H SF {args.sf:g}: olap vs DuckDB {duckdb.__version__}",
        "",
        f"- machine: {os.cpu_count()} cores, {cpu or platform.machine()}; {stamp}",
        f"- olap: git {git}{' (with uncommitted changes)' if dirty else ''}",
        f"- hot runs: median of {args.runs} per query"
        + (f", median of {args.rounds} rounds (engines in turn)" if args.rounds > 1 else "")
        + f", threads = {args.threads}"
        + (f", memory_limit = {args.memory_limit}" if args.memory_limit else ""),
        "",
    ]
    try:
        db = args.db
        if not db:
            db = os.path.join(work, "olap.db")
            if not os.path.exists(db):
                print(f"== generating TPC-H SF {args.sf:g} into {db}", flush=True)
                subprocess.run([cli, "--db", db, "tpch", "--sf", f"{args.sf:g}"], check=True)

        parquet = os.path.join(work, "parquet")
        os.makedirs(parquet, exist_ok=True)
        print("== exporting the tables to Parquet", flush=True)
        copies = "; ".join(
            f"COPY {t} TO '{os.path.join(parquet, t)}.parquet' (FORMAT PARQUET)" for t in TABLES
        )
        run([cli, "--db", db, "query", copies])

        load = {}
        duck_file = os.path.join(work, "duckdb.db")
        if os.path.exists(duck_file):
            os.remove(duck_file)
        con = duckdb.connect(duck_file)
        con.execute(f"SET threads = {args.threads}")
        start = time.perf_counter()
        for t in TABLES:
            con.execute(f"CREATE TABLE {t} AS SELECT * FROM '{os.path.join(parquet, t)}.parquet'")
        con.execute("CHECKPOINT")
        load["duckdb"] = (time.perf_counter() - start) * 1000
        if not args.no_load:
            print("== loading Parquet into a fresh olap database", flush=True)
            fresh = os.path.join(work, "olap_load.db")
            shutil.rmtree(fresh, ignore_errors=True)
            ctas = "; ".join(
                f"CREATE TABLE {t} AS SELECT * FROM read_parquet('{os.path.join(parquet, t)}.parquet')"
                for t in TABLES
            )
            start = time.perf_counter()
            run([cli, "--db", fresh, "--threads", str(args.threads), "query", ctas])
            load["olap"] = (time.perf_counter() - start) * 1000
            shutil.rmtree(fresh, ignore_errors=True)

        if args.memory_limit:
            con.execute(f"SET memory_limit = '{args.memory_limit}'")
        o_rounds, a_rounds, d_rounds, o_peak, a_peak = [], [], [], 0, 0
        for r in range(args.rounds):
            print(f"== hot runs, {args.threads} threads, round {r + 1} of {args.rounds}", flush=True)
            bench = (db, queries, args.runs, args.threads, args.memory_limit)
            *result, peak = olap_bench(cli_command(cli, *bench), answers)
            o_rounds.append(result)
            o_peak = max(o_peak, peak)
            if api:
                *result, peak = olap_bench(api_command(api, *bench), answers)
                a_rounds.append(result)
                a_peak = max(a_peak, peak)
            d_rounds.append(duckdb_bench(con, queries, args.runs, args.threads, answers))
        (o_times, o_checks), (d_times, d_checks) = merge_rounds(o_rounds), merge_rounds(d_rounds)
        a_times, a_checks = merge_rounds(a_rounds) if api else ({}, {})
        # DuckDB runs in this process: its peak so far (loading included if timed).
        d_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        scaling = None
        if args.scaling and args.threads != 1:
            print("== hot runs, 1 thread", flush=True)
            o1, _, _ = olap_bench(cli_command(cli, db, queries, args.runs, 1, args.memory_limit), None)
            d1, _ = duckdb_bench(con, queries, args.runs, 1, None)
            scaling = (o1, d1)
        con.close()

        cold = None
        if args.cold > 0:
            print("== cold start (Q6 as a whole process)", flush=True)
            q6 = os.path.join(queries, "q06.sql")
            cold = {"olap": cold_runs([cli, "--db", db, "query", "-f", q6], args.cold)}
            duck_cli = shutil.which("duckdb")
            if duck_cli:
                # The CLI may be another DuckDB version than the Python package:
                # it gets a file of its own, with the one table Q6 reads.
                version = run([duck_cli, "--version"]).stdout.strip()
                cli_file = os.path.join(work, "duckdb_cli.db")
                if os.path.exists(cli_file):
                    os.remove(cli_file)
                lineitem = os.path.join(parquet, "lineitem.parquet")
                run([duck_cli, cli_file, "-c", f"CREATE TABLE lineitem AS SELECT * FROM '{lineitem}'"])
                cold["duckdb"] = cold_runs([duck_cli, "-readonly", cli_file], args.cold, q6)
                cold["duckdb_version"] = version
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    names = sorted(set(o_times) | set(d_times))
    api_columns = " olap API ms | API / DuckDB | API / CLI |" if api else ""
    report += [
        f"| query | olap ms | DuckDB ms | olap / DuckDB |{api_columns} olap result | DuckDB result |",
        "|---|--:|--:|--:|" + ("--:|--:|--:|" if api else "") + "---|---|",
    ]
    for q in names:
        o, d, a = o_times.get(q), d_times.get(q), a_times.get(q)
        ratio = f"{o / d:.2f}" if o is not None and d else "-"
        api_cells = f" {a} | {a / d:.2f} | {a / o:.2f} |" if a is not None else (" - | - | - |" if api else "")
        check = o_checks.get(q, "-")
        if api and a_checks.get(q) != check:
            check += f" (API: {a_checks.get(q, '-')})"
        report.append(f"| {q} | {o if o is not None else '-'} | {d:.1f} | {ratio} |{api_cells} {check} | {d_checks.get(q, '-')} |")
    o_total, d_total = sum(o_times.values()), sum(d_times.values())
    a_total = sum(a_times.values())
    api_total = f" **{a_total:.1f}** | **{a_total / d_total:.2f}** | **{a_total / o_total:.2f}** |" if api else ""
    report.append(f"| **total** | **{o_total:.1f}** | **{d_total:.1f}** | **{o_total / d_total:.2f}** |{api_total} | |")
    worst = max(names, key=lambda q: o_times[q] / d_times[q])
    all_checks = list(o_checks.values()) + list(a_checks.values()) + list(d_checks.values())
    all_ok = all(v in ("ok", "unchecked") for v in all_checks)
    report += [
        "",
        "### Goals (issue 5)",
        "",
        f"- total at most 1.5x DuckDB's: {'met' if o_total <= 1.5 * d_total else 'MISSED'} "
        f"({o_total:.0f} ms vs {d_total:.0f} ms, {o_total / d_total:.2f}x)",
        f"- no query slower than 3x DuckDB's: "
        f"{'met' if o_times[worst] <= 3 * d_times[worst] else 'MISSED'} "
        f"(worst {worst}: {o_times[worst] / d_times[worst]:.2f}x)",
        f"- olap's peak memory during the hot runs: {o_peak:.0f} MiB; DuckDB's (this "
        f"Python process, its loading included): {d_peak:.0f} MiB",
        f"- every result matches the reference answers: "
        f"{'yes' if all_ok else 'NO'}{'' if answers else ' (not checked)'}",
    ]
    if api:
        at_most = [q for q in names if a_times[q] <= d_times[q]]
        slowest = sorted(names, key=lambda q: a_times[q] / d_times[q], reverse=True)[:3]
        report += [
            "",
            "### Goals (issue 16)",
            "",
            f"- embedded API, system allocator: every query at most 1.0x DuckDB's: "
            f"{'met' if len(at_most) == len(names) else 'MISSED'} ({len(at_most)} of {len(names)}; "
            f"slowest: {', '.join(f'{q} {a_times[q] / d_times[q]:.2f}x' for q in slowest)})",
            f"- API total at most 0.7x DuckDB's: {'met' if a_total <= 0.7 * d_total else 'MISSED'} "
            f"({a_total:.0f} ms vs {d_total:.0f} ms, {a_total / d_total:.2f}x)",
            f"- API within 10% of the CLI: {'met' if a_total <= 1.1 * o_total else 'MISSED'} "
            f"({a_total:.0f} ms vs {o_total:.0f} ms, {a_total / o_total:.2f}x); "
            f"peak memory {a_peak:.0f} MiB vs {o_peak:.0f} MiB",
        ]
    if args.plot:
        series = [("olap-cli / DuckDB", o_times)] + ([("embedded API / DuckDB", a_times)] if api else [])
        plot_ratios(args.plot, f"TPC-H SF {args.sf:g}, threads = {args.threads}, git {git}", d_times, series)
    if scaling:
        o1, d1 = scaling
        o1_total, d1_total = sum(o1.values()), sum(d1.values())
        report.append(
            f"- 2 threads vs 1: olap {o1_total:.0f} -> {o_total:.0f} ms "
            f"({o1_total / o_total:.2f}x, goal 1.7x: {'met' if o1_total / o_total >= 1.7 else 'MISSED'}); "
            f"DuckDB {d1_total:.0f} -> {d_total:.0f} ms ({d1_total / d_total:.2f}x)"
        )
    if cold:
        line = f"- cold start, Q6 as a process (median of {args.cold}): olap {cold['olap'][0]:.0f} ms"
        if "duckdb" in cold:
            ratio = cold["olap"][0] / cold["duckdb"][0]
            line += (
                f", DuckDB CLI ({cold['duckdb_version']}) {cold['duckdb'][0]:.0f} ms: {ratio:.2f}x "
                f"(goal 1.5x: {'met' if ratio <= 1.5 else 'MISSED'})"
            )
        else:
            line += " (DuckDB CLI not on PATH: pip install duckdb-cli)"
        report.append(line)
    if "olap" in load:
        report.append(
            f"- loading the eight tables from Parquet: olap {load['olap']:.0f} ms, DuckDB "
            f"{load['duckdb']:.0f} ms (goal: olap at most DuckDB's: "
            f"{'met' if load['olap'] <= load['duckdb'] else 'MISSED'})"
        )
    print("\n".join(report))
    if not all_ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
