-- A first look at olap: load a CSV file into a table, then ask questions of it.
-- Run from the repository root:
--   cargo run --release --bin olap-cli -- --db quickstart.db query -f sql/examples/quickstart.sql

CREATE OR REPLACE TABLE sales AS
    SELECT * FROM read_csv('testdata/slt/data/sales.csv');

SELECT region,
       COUNT(*)                      AS orders,
       SUM(quantity)                 AS units,
       ROUND(SUM(quantity * price), 2) AS revenue,
       MIN(sale_date)                AS first_sale
FROM sales
WHERE sale_date >= DATE '2023-01-01'
GROUP BY region
ORDER BY revenue DESC NULLS LAST;
