/* ---
description: >
  Every version of every product (SCD type 2): a new version each time the shop changes a
  product (price, being taken off sale). The price of a version is the list price while it
  was valid, so an order line joined to the version valid at its time sees its price.
grain: one row per product version
materialization: snapshot
strategy: timestamp
unique_key: product_id
updated_at: updated_at
surrogate_key: product_sk
columns:
  product_sk:
    description: Key of this version, cityHash64(product_id, valid_from)
    tests: [unique, not_null]
  product_id: {description: Product key in the shop, tests: [not_null]}
  sku: {description: Stock keeping unit}
  product_name: {description: Display name}
  category: {description: Catalogue category, tests: [not_null]}
  price: {description: List price while this version was valid}
  is_active: {description: On sale in this version}
  updated_at: {description: The shop's change time that opened this version (UTC)}
  valid_from: {description: Start of this version (its updated_at), tests: [not_null]}
  valid_to: {description: End of this version; NULL while it is current}
  is_current: {description: "The product's latest version, still in the shop"}
--- */
SELECT product_id, sku, product_name, category, price, is_active, updated_at
FROM {{ ref('stg_shop__products') }}
