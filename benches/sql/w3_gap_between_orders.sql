-- Customers' gaps of more than 100 days between consecutive orders (LAG).
SELECT count(*) AS long_gaps, max(gap) AS longest
FROM (
  SELECT o_orderdate - lag(o_orderdate) OVER (PARTITION BY o_custkey ORDER BY o_orderdate, o_orderkey) AS gap
  FROM orders
) g
WHERE gap > 100
