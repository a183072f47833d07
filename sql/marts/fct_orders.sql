/* ---
description: Order lines with their order, customer, product and revenue; the star's centre.
grain: one row per order line
materialization: table
order_by: [order_date, order_id, order_item_id]
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
  status: {description: placed, shipped or cancelled}
  is_cancelled: {description: The order was cancelled}
  quantity: {description: Units}
  unit_price: {description: Price of one unit when ordered}
  line_revenue: {description: quantity x unit_price; 0 for cancelled orders}
--- */
SELECT
    i.order_item_id, i.order_id, o.customer_id, i.product_id,
    o.order_date, o.ordered_at, o.status,
    o.status = 'cancelled' AS is_cancelled,
    i.quantity, i.unit_price,
    if(o.status = 'cancelled', toDecimal128(0, 2), i.quantity * i.unit_price) AS line_revenue
FROM {{ ref('stg_shop__order_items') }} AS i
INNER JOIN {{ ref('stg_shop__orders') }} AS o ON o.order_id = i.order_id
WHERE o.order_date <= {run_date:Date}
