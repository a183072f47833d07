/* ---
description: Orders in the latest extract, with their current status.
grain: one row per order
materialization: view
columns:
  order_id: {description: Order key, tests: [unique, not_null]}
  customer_id: {description: Who ordered, tests: [not_null]}
  ordered_at: {description: When the order was placed (UTC)}
  order_date: {description: Day the order was placed}
  status:
    description: placed, shipped or cancelled
    tests: [{accepted_values: {values: [placed, shipped, cancelled]}}]
  updated_at: {description: Last status change (UTC)}
--- */
SELECT order_id, customer_id, ordered_at, toDate(ordered_at) AS order_date, status, updated_at
FROM {{ source('shop', 'orders') }}
WHERE _partition = (SELECT max(_partition) FROM {{ source('shop', 'orders') }})
