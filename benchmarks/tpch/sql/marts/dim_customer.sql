/* ---
description: Customers with their nation and region (Star Schema Benchmark style).
grain: one row per customer
materialization: table
order_by: [customer_key]
columns:
  customer_key: {description: TPC-H c_custkey, tests: [unique, not_null]}
  name: {description: Customer name}
  nation: {description: Nation name, tests: [not_null]}
  region: {description: Region name, tests: [not_null]}
  mktsegment: {description: Market segment}
--- */
SELECT c.c_custkey AS customer_key, c.c_name AS name, c.c_address AS address,
       n.n_name AS nation, r.r_name AS region, c.c_phone AS phone, c.c_mktsegment AS mktsegment
FROM {{ source('tpch', 'customer') }} AS c
INNER JOIN {{ source('tpch', 'nation') }} AS n ON n.n_nationkey = c.c_nationkey
INNER JOIN {{ source('tpch', 'region') }} AS r ON r.r_regionkey = n.n_regionkey
