-- TPC-H Q6: forecasting revenue change -- other parameters: date 1997-01-01, discount 0.03 +- 0.01, quantity < 25
select
    sum(l_extendedprice * l_discount) as revenue
from
    lineitem
where
    l_shipdate >= date '1997-01-01'
    and l_shipdate < date '1997-01-01' + interval '1' year
    and l_discount between 0.03 - 0.01 and 0.03 + 0.01
    and l_quantity < 25;
