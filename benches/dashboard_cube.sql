-- The cube of the dashboard benchmark (benches/dashboard.sql): every dashboard
-- query groups by a subset of these dimensions and uses only these measures, so
-- the smallest cuboid that holds its grouping answers it.
CREATE CUBE dash ON lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey JOIN nation ON c_nationkey = n_nationkey
DIMENSIONS (n_name, c_mktsegment, l_shipmode, EXTRACT(YEAR FROM o_orderdate), EXTRACT(MONTH FROM o_orderdate))
MEASURES (SUM(l_extendedprice * (1 - l_discount)), COUNT(*), SUM(l_quantity), AVG(l_discount), AVG(l_quantity), MIN(l_extendedprice), MAX(l_extendedprice));
