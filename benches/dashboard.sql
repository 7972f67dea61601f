-- The materialized-view / cube benchmark's dashboard: aggregate queries over
-- lineitem ⋈ orders ⋈ customer ⋈ nation, all with the same joins and no other
-- filter (one query drills into a nation), so that one cube answers all of them.
-- revenue = SUM(l_extendedprice * (1 - l_discount)).
-- Format (read by benches/dashboard.rs and benches/dashboard_duckdb.py): each
-- query is preceded by a line `-- name: <id> <description>` and ends with `;`.

-- name: d01 revenue by nation
SELECT n_name, SUM(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY n_name
ORDER BY n_name;

-- name: d02 revenue by year
SELECT EXTRACT(YEAR FROM o_orderdate) AS o_year, SUM(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY EXTRACT(YEAR FROM o_orderdate)
ORDER BY o_year;

-- name: d03 revenue by year and month
SELECT EXTRACT(YEAR FROM o_orderdate) AS o_year, EXTRACT(MONTH FROM o_orderdate) AS o_month, SUM(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY EXTRACT(YEAR FROM o_orderdate), EXTRACT(MONTH FROM o_orderdate)
ORDER BY o_year, o_month;

-- name: d04 revenue by market segment
SELECT c_mktsegment, SUM(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY c_mktsegment
ORDER BY c_mktsegment;

-- name: d05 revenue by ship mode
SELECT l_shipmode, SUM(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY l_shipmode
ORDER BY l_shipmode;

-- name: d06 revenue by nation and year
SELECT n_name, EXTRACT(YEAR FROM o_orderdate) AS o_year, SUM(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY n_name, EXTRACT(YEAR FROM o_orderdate)
ORDER BY n_name, o_year;

-- name: d07 revenue by segment and year
SELECT c_mktsegment, EXTRACT(YEAR FROM o_orderdate) AS o_year, SUM(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY c_mktsegment, EXTRACT(YEAR FROM o_orderdate)
ORDER BY c_mktsegment, o_year;

-- name: d08 revenue by ship mode and year
SELECT l_shipmode, EXTRACT(YEAR FROM o_orderdate) AS o_year, SUM(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY l_shipmode, EXTRACT(YEAR FROM o_orderdate)
ORDER BY l_shipmode, o_year;

-- name: d09 grand total
SELECT SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey;

-- name: d10 average discount and quantity by segment
SELECT c_mktsegment, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, COUNT(*) AS lines
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY c_mktsegment
ORDER BY c_mktsegment;

-- name: d11 lines and quantity by ship mode and segment
SELECT l_shipmode, c_mktsegment, COUNT(*) AS lines, SUM(l_quantity) AS quantity, SUM(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY l_shipmode, c_mktsegment
ORDER BY l_shipmode, c_mktsegment;

-- name: d12 price range and lines by year
SELECT EXTRACT(YEAR FROM o_orderdate) AS o_year, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price, COUNT(*) AS lines
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY EXTRACT(YEAR FROM o_orderdate)
ORDER BY o_year;

-- name: d13 revenue by nation and segment
SELECT n_name, c_mktsegment, SUM(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY n_name, c_mktsegment
ORDER BY n_name, c_mktsegment;

-- name: d14 one nation drilled down by year and month
SELECT EXTRACT(YEAR FROM o_orderdate) AS o_year, EXTRACT(MONTH FROM o_orderdate) AS o_month, SUM(l_extendedprice * (1 - l_discount)) AS revenue, AVG(l_discount) AS avg_discount
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
WHERE n_name = 'GERMANY'
GROUP BY EXTRACT(YEAR FROM o_orderdate), EXTRACT(MONTH FROM o_orderdate)
ORDER BY o_year, o_month;
