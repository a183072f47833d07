/* ---
description: >
  Order lines with their order, customer, product and revenue; the star's centre. Each line
  carries the keys of the customer and product versions valid when the order was placed
  (point in time): join customer_sk / product_sk to snp_customers / snp_products for the
  city or the list price at that time. Orders placed before a snapshot began take the
  first version recorded. Incremental: a run upserts the lines of the orders created or
  changed (status) on the run day (the extract holds each order's updated_at, so no
  lookback is needed; after missed days, rebuild with full_refresh=True); readers get one
  row per line (FINAL).
grain: one row per order line
materialization: incremental
incremental_strategy: upsert
unique_key: order_item_id
version: updated_at
lookback_days: 0
on_schema_change: append_new_columns
partition_by: toYYYYMM(order_date)
columns:
  order_item_id: {description: Order line key, tests: [unique, not_null]}
  order_id: {description: Order key, tests: [not_null]}
  customer_id:
    description: Who ordered
    tests: [not_null, {relationships: {to: dim_customers, field: customer_id}}]
  product_id:
    description: What was ordered
    tests: [not_null, {relationships: {to: dim_products, field: product_id}}]
  order_date:
    description: Day the order was placed
    tests: [{relationships: {to: dim_dates, field: date_day}}]
  ordered_at: {description: When the order was placed (UTC)}
  status: {description: "placed, shipped or cancelled"}
  is_cancelled: {description: The order was cancelled}
  quantity: {description: Units}
  unit_price: {description: Price of one unit when ordered}
  line_revenue: {description: quantity x unit_price; 0 for cancelled orders}
  customer_sk:
    description: The customer's version valid at ordered_at
    tests: [not_null, {relationships: {to: snp_customers, field: customer_sk}}]
  product_sk:
    description: The product's version valid at ordered_at
    tests: [not_null, {relationships: {to: snp_products, field: product_sk}}]
  updated_at: {description: Last change of the order (UTC); the version of the row}
--- */
WITH
orders AS (
    SELECT order_id, customer_id, ordered_at, order_date, status, updated_at
    FROM {{ ref('stg_shop__orders') }}
    WHERE order_date <= {run_date:Date}
    {% if is_incremental() %}
      AND updated_at >= toDateTime64({lookback_start:Date}, 3, 'UTC')
    {% endif %}
),
-- the versions of each customer and product; the first one also covers the time before
-- it (orders placed before the snapshot began take the first version recorded)
customer_versions AS (
    SELECT
        customer_id, customer_sk,
        if(valid_from = min(valid_from) OVER (PARTITION BY customer_id),
           toDateTime64(0, 3, 'UTC'), valid_from) AS valid_from
    FROM {{ ref('snp_customers') }}
),
product_versions AS (
    SELECT
        product_id, product_sk,
        if(valid_from = min(valid_from) OVER (PARTITION BY product_id),
           toDateTime64(0, 3, 'UTC'), valid_from) AS valid_from
    FROM {{ ref('snp_products') }}
)
SELECT
    i.order_item_id AS order_item_id, i.order_id AS order_id,
    o.customer_id AS customer_id, i.product_id AS product_id,
    o.order_date AS order_date, o.ordered_at AS ordered_at, o.status AS status,
    o.status = 'cancelled' AS is_cancelled,
    i.quantity AS quantity, i.unit_price AS unit_price,
    if(o.status = 'cancelled', toDecimal128(0, 2), i.quantity * i.unit_price) AS line_revenue,
    cv.customer_sk AS customer_sk,
    pv.product_sk AS product_sk,
    o.updated_at AS updated_at
FROM {{ ref('stg_shop__order_items') }} AS i
INNER JOIN orders AS o ON o.order_id = i.order_id
ASOF LEFT JOIN customer_versions AS cv
    ON cv.customer_id = o.customer_id AND o.ordered_at >= cv.valid_from
ASOF LEFT JOIN product_versions AS pv
    ON pv.product_id = i.product_id AND o.ordered_at >= pv.valid_from
{% if is_incremental() %}
WHERE i.order_id IN (SELECT order_id FROM orders)  -- read only the lines of those orders
{% endif %}
