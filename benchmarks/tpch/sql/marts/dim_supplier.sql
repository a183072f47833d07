/* ---
description: Suppliers with their nation and region.
grain: one row per supplier
materialization: table
order_by: [supplier_key]
columns:
  supplier_key: {description: TPC-H s_suppkey, tests: [unique, not_null]}
  name: {description: Supplier name}
  nation: {description: Nation name, tests: [not_null]}
  region: {description: Region name, tests: [not_null]}
--- */
SELECT s.s_suppkey AS supplier_key, s.s_name AS name, s.s_address AS address,
       n.n_name AS nation, r.r_name AS region, s.s_phone AS phone
FROM {{ source('tpch', 'supplier') }} AS s
INNER JOIN {{ source('tpch', 'nation') }} AS n ON n.n_nationkey = s.s_nationkey
INNER JOIN {{ source('tpch', 'region') }} AS r ON r.r_regionkey = n.n_regionkey
