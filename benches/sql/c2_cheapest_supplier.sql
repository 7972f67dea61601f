-- Each small part's cheapest supply cost and how many suppliers offer it below
-- the part's retail price: correlated scalar subqueries in SELECT.
SELECT count(*) AS parts, sum(cheapest) AS cheapest, sum(below) AS offers_below
FROM (
  SELECT p_partkey,
         (SELECT min(ps_supplycost) FROM partsupp WHERE ps_partkey = p_partkey) AS cheapest,
         (SELECT count(*) FROM partsupp WHERE ps_partkey = p_partkey AND ps_supplycost < p_retailprice / 10) AS below
  FROM part
  WHERE p_size <= 25
) x
