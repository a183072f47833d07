/* ---
description: Products of the catalogue with their category and current price.
grain: one row per product
materialization: table
order_by: [product_id]
columns:
  product_id: {description: Product key, tests: [unique, not_null]}
  sku: {description: Stock keeping unit, tests: [not_null]}
  product_name: {description: Display name}
  category: {description: Category, tests: [not_null]}
  current_price: {description: Current list price}
  is_active: {description: On sale now}
--- */
SELECT product_id, sku, product_name, category, price AS current_price, is_active
FROM {{ ref('stg_shop__products') }}
