-- Orders followed by another order of the same customer within 30 days: a
-- correlated EXISTS with one equality and two range conditions.
SELECT count(*) AS orders
FROM orders o
WHERE EXISTS (
  SELECT 1 FROM orders o2
  WHERE o2.o_custkey = o.o_custkey
    AND o2.o_orderdate > o.o_orderdate
    AND o2.o_orderdate <= o.o_orderdate + 30
)
