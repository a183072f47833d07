/* ---
description: >
  Order lines joined with their order (the lineorder fact of the Star Schema Benchmark).
  Incremental: a run appends the lines of the day folders (raw `_partition`) newer than the
  newest batch_day the fact holds, so a run with no new day appends nothing. A day folder
  whose files change after it was loaded needs models.build(..., full_refresh=True).
grain: one row per order line
materialization: incremental
incremental_strategy: append
# a sort-merge join that spills past 128 MB (as fast here as the hash join), and rows written
# in blocks of a quarter million: at SF 10 the build peaks at 1.1 GB (2.0 GB with 1M-row blocks)
settings:
  join_algorithm: full_sorting_merge
  max_bytes_before_external_sort: 134217728
  min_insert_block_size_rows: 262144
  min_insert_block_size_bytes: 67108864
order_by: [order_date, order_key, line_number]
partition_by: toYear(order_date)
columns:
  order_key: {description: TPC-H l_orderkey, tests: [not_null]}
  line_number: {description: Line of the order}
  customer_key:
    description: Who ordered
    tests: [{relationships: {to: dim_customer, field: customer_key}}]
  part_key:
    description: The part
    tests: [{relationships: {to: dim_part, field: part_key}}]
  supplier_key:
    description: The supplier
    tests: [{relationships: {to: dim_supplier, field: supplier_key}}]
  order_date:
    description: Day of the order
    tests: [{relationships: {to: dim_date, field: date_key}}]
  revenue: {description: extendedprice x (1 - discount)}
  batch_day: {description: The day folder the line was loaded from (raw _partition)}
--- */
WITH lines AS (
    SELECT * FROM {{ source('tpch', 'lineitem') }}
    {% if is_incremental() %}
    WHERE _partition > (SELECT max(batch_day) FROM {{ this }})
    {% endif %}
),
orders AS (
    SELECT * FROM {{ source('tpch', 'orders') }}
    {% if is_incremental() %}
    WHERE o_orderkey IN (SELECT l_orderkey FROM lines)  -- only the orders of those lines
    {% endif %}
)
SELECT
    l.l_orderkey AS order_key, l.l_linenumber AS line_number,
    o.o_custkey AS customer_key, l.l_partkey AS part_key, l.l_suppkey AS supplier_key,
    o.o_orderdate AS order_date, o.o_orderpriority AS order_priority,
    o.o_shippriority AS ship_priority, l.l_quantity AS quantity,
    l.l_extendedprice AS extended_price, o.o_totalprice AS order_total_price,
    l.l_discount AS discount, l.l_extendedprice * (1 - l.l_discount) AS revenue,
    l.l_tax AS tax, l.l_commitdate AS commit_date, l.l_shipmode AS ship_mode,
    l._partition AS batch_day
FROM lines AS l
INNER JOIN orders AS o ON o.o_orderkey = l.l_orderkey
