-- TPC-H Q4: order priority checking -- other parameters: date 1996-10-01 (+ 3 months crosses a year)
select
    o_orderpriority,
    count(*) as order_count
from
    orders
where
    o_orderdate >= date '1996-10-01'
    and o_orderdate < date '1996-10-01' + interval '3' month
    and exists (
        select
            *
        from
            lineitem
        where
            l_orderkey = o_orderkey
            and l_commitdate < l_receiptdate
    )
group by
    o_orderpriority
order by
    o_orderpriority;
