-- Orders worth more than twice their customer's average order: a correlated
-- scalar subquery in WHERE (one aggregate per customer, joined back).
SELECT count(*) AS orders, sum(o_totalprice) AS total
FROM orders o
WHERE o_totalprice > 2 * (SELECT avg(o_totalprice) FROM orders i WHERE i.o_custkey = o.o_custkey)
