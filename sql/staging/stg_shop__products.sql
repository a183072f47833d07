/* ---
description: Products of the catalogue in the latest extract, with their current price.
grain: one row per product
materialization: view
columns:
  product_id: {description: Product key in the shop, tests: [unique, not_null]}
  sku: {description: Stock keeping unit}
  product_name: {description: Display name}
  category: {description: Catalogue category, tests: [not_null]}
  price: {description: Current list price}
  is_active: {description: Whether the product is on sale}
  updated_at: {description: Last change of the row in the shop (UTC)}
--- */
SELECT product_id, sku, product_name, category, price, is_active, updated_at
FROM {{ source('shop', 'products') }}
WHERE _partition = (SELECT max(_partition) FROM {{ source('shop', 'products') }})
