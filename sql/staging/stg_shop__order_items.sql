/* ---
description: Order lines in the latest extract.
grain: one row per order line
materialization: view
columns:
  order_item_id: {description: Order line key, tests: [unique, not_null]}
  order_id: {description: The order, tests: [not_null]}
  product_id: {description: The product, tests: [not_null]}
  quantity: {description: Units ordered}
  unit_price: {description: Price of one unit when ordered}
--- */
SELECT order_item_id, order_id, product_id, quantity, unit_price
FROM {{ source('shop', 'order_items') }}
WHERE _partition = (SELECT max(_partition) FROM {{ source('shop', 'order_items') }})
