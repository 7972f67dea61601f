-- The three most expensive orders of each customer (rank within 100,000
-- partitions of 1.5 M orders), summarized.
SELECT count(*) AS orders, sum(o_totalprice) AS total, max(r) AS worst_rank
FROM (
  SELECT o_custkey, o_totalprice, rank() OVER (PARTITION BY o_custkey ORDER BY o_totalprice DESC) AS r
  FROM orders
) ranked
WHERE r <= 3
