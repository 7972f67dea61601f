-- A moving average of each part's last four shipments (a sliding ROWS frame
-- over 200,000 partitions of 6 M lineitems), summarized.
SELECT count(*) AS rows, round(sum(moving), 2) AS total
FROM (
  SELECT avg(l_quantity) OVER (PARTITION BY l_partkey ORDER BY l_shipdate, l_orderkey, l_linenumber
                               ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS moving
  FROM lineitem
) m
