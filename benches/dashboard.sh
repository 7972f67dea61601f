#!/usr/bin/env bash
# The materialized-view / cube benchmark, in one command (see BENCHMARKS.md):
#
#   benches/dashboard.sh [--sf N] [--db DIR] [--work DIR] [--runs N] [--threads N] [-- RUN_OPTIONS]
#
# 1. builds olap-cli and the benchmark program (examples/dashboard.rs), release;
# 2. generates TPC-H at scale factor N (default 1) into a work directory, or
#    copies the database --db DIR there (the benchmark appends rows to it);
# 3. exports lineitem, orders, customer and nation to Parquet and loads them into
#    DuckDB (benches/dashboard_duckdb.py; `pip install duckdb`), which runs the
#    dashboard (benches/dashboard.sql) --runs times with --threads threads;
# 4. runs the dashboard on olap's base tables, creates the cube (or, without
#    CREATE CUBE, the views of benches/dashboard_views.sql), runs it again from
#    the cube, compares every result with the base tables' and DuckDB's, appends
#    1% more orders and lineitems and refreshes (three times: the median refresh
#    counts), and times a full recomputation; prints the per-query table and the
#    refresh figures.
#
# Options after `--` go to `dashboard run` (--mode auto|cube|views, --staged,
# --refresh-without-rewrite, --append FRACTION, --refresh-runs N). The work directory (default: a
# new one under ${TMPDIR:-/tmp}) is removed at the end unless --work was given.
# Exit status: 0 if every result was identical and every query was answered from
# the cube / views; the speed goals are reported, not enforced.
set -euo pipefail
cd "$(dirname "$0")/.."

sf=1
db=""
work=""
runs=3
threads=2
run_options=()
while [ $# -gt 0 ]; do
    case "$1" in
        --sf) sf="$2"; shift 2 ;;
        --db) db="$2"; shift 2 ;;
        --work) work="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --) shift; run_options=("$@"); break ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

keep_work=1
if [ -z "$work" ]; then
    work="$(mktemp -d "${TMPDIR:-/tmp}/olap-dashboard.XXXXXX")"
    keep_work=0
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

python3 -c "import duckdb" 2>/dev/null || {
    echo "DuckDB's Python package is missing: pip install duckdb" >&2
    exit 2
}

echo "== build (release)"
cargo build --release --bin olap-cli --example dashboard 2>&1 | tail -1
cli=target/release/olap-cli
bench=target/release/examples/dashboard

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== git: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"

rm -rf "$work/olap.db" "$work/parquet" "$work/duckdb" "$work/duckdb.db"
if [ -n "$db" ]; then
    echo "== copying $db to $work/olap.db"
    cp -r "$db" "$work/olap.db"
    rm -f "$work/olap.db/.lock"
else
    echo "== generating TPC-H SF $sf into $work/olap.db"
    "$cli" --db "$work/olap.db" tpch --sf "$sf"
fi

echo "== exporting to Parquet for DuckDB"
"$bench" export --db "$work/olap.db" --out "$work/parquet"

echo "== DuckDB"
python3 benches/dashboard_duckdb.py --parquet "$work/parquet" --db "$work/duckdb.db" \
    --queries benches/dashboard.sql --out "$work/duckdb" --runs "$runs" --threads "$threads"
rm -rf "$work/parquet" "$work/duckdb.db"

echo "== olap"
status=0
"$bench" run --db "$work/olap.db" --duckdb "$work/duckdb" --runs "$runs" --threads "$threads" \
    ${run_options[@]+"${run_options[@]}"} || status=$?
if [ "$keep_work" = 1 ]; then
    echo "(work directory kept: $work)"
fi
exit $status
