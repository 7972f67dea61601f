-- The fallback of the dashboard benchmark when CREATE CUBE is not available: a
-- materialized view with every dimension of the cube (benches/dashboard_cube.sql),
-- then one view per grouping the dashboard (benches/dashboard.sql) uses, each
-- with every measure, over the same joins. Created in this order, the smaller
-- views are computed from the first one by the query rewrite (the engine's
-- roll-up); each dashboard query is answered from the smallest view that can.
-- Statements end with `;` (this file is read by benches/dashboard.rs).

CREATE MATERIALIZED VIEW dash_all AS
SELECT n_name, c_mktsegment, l_shipmode, EXTRACT(YEAR FROM o_orderdate) AS o_year, EXTRACT(MONTH FROM o_orderdate) AS o_month, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY n_name, c_mktsegment, l_shipmode, EXTRACT(YEAR FROM o_orderdate), EXTRACT(MONTH FROM o_orderdate);

CREATE MATERIALIZED VIEW dash_total AS
SELECT SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey;

CREATE MATERIALIZED VIEW dash_nation AS
SELECT n_name, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY n_name;

CREATE MATERIALIZED VIEW dash_year AS
SELECT EXTRACT(YEAR FROM o_orderdate) AS o_year, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY EXTRACT(YEAR FROM o_orderdate);

CREATE MATERIALIZED VIEW dash_year_month AS
SELECT EXTRACT(YEAR FROM o_orderdate) AS o_year, EXTRACT(MONTH FROM o_orderdate) AS o_month, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY EXTRACT(YEAR FROM o_orderdate), EXTRACT(MONTH FROM o_orderdate);

CREATE MATERIALIZED VIEW dash_segment AS
SELECT c_mktsegment, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY c_mktsegment;

CREATE MATERIALIZED VIEW dash_shipmode AS
SELECT l_shipmode, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY l_shipmode;

CREATE MATERIALIZED VIEW dash_nation_year AS
SELECT n_name, EXTRACT(YEAR FROM o_orderdate) AS o_year, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY n_name, EXTRACT(YEAR FROM o_orderdate);

CREATE MATERIALIZED VIEW dash_segment_year AS
SELECT c_mktsegment, EXTRACT(YEAR FROM o_orderdate) AS o_year, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY c_mktsegment, EXTRACT(YEAR FROM o_orderdate);

CREATE MATERIALIZED VIEW dash_shipmode_year AS
SELECT l_shipmode, EXTRACT(YEAR FROM o_orderdate) AS o_year, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY l_shipmode, EXTRACT(YEAR FROM o_orderdate);

CREATE MATERIALIZED VIEW dash_shipmode_segment AS
SELECT l_shipmode, c_mktsegment, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY l_shipmode, c_mktsegment;

CREATE MATERIALIZED VIEW dash_nation_segment AS
SELECT n_name, c_mktsegment, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY n_name, c_mktsegment;

CREATE MATERIALIZED VIEW dash_nation_year_month AS
SELECT n_name, EXTRACT(YEAR FROM o_orderdate) AS o_year, EXTRACT(MONTH FROM o_orderdate) AS o_month, SUM(l_extendedprice * (1 - l_discount)) AS revenue, COUNT(*) AS lines, SUM(l_quantity) AS quantity, AVG(l_discount) AS avg_discount, AVG(l_quantity) AS avg_quantity, MIN(l_extendedprice) AS min_price, MAX(l_extendedprice) AS max_price
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
GROUP BY n_name, EXTRACT(YEAR FROM o_orderdate), EXTRACT(MONTH FROM o_orderdate);
