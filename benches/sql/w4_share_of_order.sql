-- Each line's share of its order's value (a whole-partition SUM over 1.5 M
-- partitions), and the running total of daily revenue (one partition, RANGE).
SELECT round(avg(share), 6) AS avg_share, max(running) AS running_total
FROM (
  SELECT l_extendedprice / sum(l_extendedprice) OVER (PARTITION BY l_orderkey) AS share,
         sum(l_extendedprice) OVER (ORDER BY l_shipdate) AS running
  FROM lineitem
) s
