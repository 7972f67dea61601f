-- The two largest lines of each order of a quarter (LATERAL with ORDER BY and
-- LIMIT), and orders with a late line or a high price (EXISTS under OR).
SELECT count(*) AS lines, sum(t.l_extendedprice) AS total,
       count(DISTINCT o_orderkey) FILTER (WHERE late) AS late_or_big
FROM (
  SELECT o_orderkey,
         EXISTS (SELECT 1 FROM lineitem l WHERE l.l_orderkey = o.o_orderkey AND l.l_commitdate < l.l_receiptdate)
           OR o_totalprice > 400000 AS late
  FROM orders o
  WHERE o_orderdate >= DATE '1995-01-01' AND o_orderdate < DATE '1995-04-01'
) o,
LATERAL (
  SELECT l_extendedprice FROM lineitem l
  WHERE l.l_orderkey = o.o_orderkey
  ORDER BY l_extendedprice DESC
  LIMIT 2
) t
