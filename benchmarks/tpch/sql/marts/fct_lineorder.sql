/* ---
description: Order lines joined with their order (the lineorder fact of the Star Schema Benchmark).
grain: one row per order line
materialization: table
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
--- */
SELECT
    l.l_orderkey AS order_key, l.l_linenumber AS line_number,
    o.o_custkey AS customer_key, l.l_partkey AS part_key, l.l_suppkey AS supplier_key,
    o.o_orderdate AS order_date, o.o_orderpriority AS order_priority,
    o.o_shippriority AS ship_priority, l.l_quantity AS quantity,
    l.l_extendedprice AS extended_price, o.o_totalprice AS order_total_price,
    l.l_discount AS discount, l.l_extendedprice * (1 - l.l_discount) AS revenue,
    l.l_tax AS tax, l.l_commitdate AS commit_date, l.l_shipmode AS ship_mode
FROM {{ source('tpch', 'lineitem') }} AS l
INNER JOIN {{ source('tpch', 'orders') }} AS o ON o.o_orderkey = l.l_orderkey
