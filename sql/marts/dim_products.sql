/* ---
description: >
  Products of the catalogue with their category and current price (the current version of
  snp_products). For the price at the time of an order, join fct_orders.product_sk to
  snp_products.product_sk.
grain: one row per product
materialization: table
order_by: [product_id]
columns:
  product_id: {description: Product key, tests: [unique, not_null]}
  product_sk:
    description: Key of the current version in snp_products
    tests: [unique, not_null, {relationships: {to: snp_products, field: product_sk}}]
  sku: {description: Stock keeping unit, tests: [not_null]}
  product_name: {description: Display name}
  category: {description: Category, tests: [not_null]}
  current_price: {description: Current list price}
  is_active: {description: On sale now}
  current_since: {description: Start of the current version (UTC)}
  versions: {description: "Versions recorded for the product, the current one included"}
--- */
WITH history AS (
    SELECT product_id, count() AS versions
    FROM {{ ref('snp_products') }}
    GROUP BY product_id
)
SELECT
    p.product_id AS product_id, p.product_sk AS product_sk, p.sku, p.product_name, p.category,
    p.price AS current_price, p.is_active,
    p.valid_from AS current_since,
    h.versions AS versions
FROM {{ ref('snp_products') }} AS p
LEFT JOIN history AS h ON h.product_id = p.product_id
WHERE p.is_current
