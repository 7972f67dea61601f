-- TPC-H Q16: parts/supplier relationship -- other parameters: brand Brand#23, type PROMO BRUSHED%, sizes 1, 4, 7, 10, 13, 16, 20, 50
select
    p_brand,
    p_type,
    p_size,
    count(distinct ps_suppkey) as supplier_cnt
from
    partsupp,
    part
where
    p_partkey = ps_partkey
    and p_brand <> 'Brand#23'
    and p_type not like 'PROMO BRUSHED%'
    and p_size in (1, 4, 7, 10, 13, 16, 20, 50)
    and ps_suppkey not in (
        select
            s_suppkey
        from
            supplier
        where
            s_comment like '%Customer%Complaints%'
    )
group by
    p_brand,
    p_type,
    p_size
order by
    supplier_cnt desc,
    p_brand,
    p_type,
    p_size;
