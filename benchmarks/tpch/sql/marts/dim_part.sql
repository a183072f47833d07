/* ---
description: Parts with manufacturer, brand and category.
grain: one row per part
materialization: table
order_by: [part_key]
columns:
  part_key: {description: TPC-H p_partkey, tests: [unique, not_null]}
  mfgr: {description: Manufacturer}
  category: {description: Manufacturer and brand group}
  brand: {description: Brand}
--- */
SELECT p_partkey AS part_key, p_name AS name, p_mfgr AS mfgr,
       concat(p_mfgr, '#', substring(p_brand, 7, 1)) AS category, p_brand AS brand,
       p_type AS type, p_size AS size, p_container AS container
FROM {{ source('tpch', 'part') }}
