/* ---
description: Customers with their current attributes and order history summary.
grain: one row per customer
materialization: table
order_by: [customer_id]
columns:
  customer_id: {description: Customer key, tests: [unique, not_null]}
  email: {description: E-mail address}
  full_name: {description: Name}
  city: {description: Current city}
  country: {description: Current country}
  signup_date: {description: Day of sign-up}
  first_order_date: {description: Day of the first order, null if none}
  order_count: {description: Orders placed, cancelled ones included}
  is_buyer: {description: Has placed at least one order}
--- */
WITH orders AS (
    SELECT customer_id, min(order_date) AS first_order_date, count() AS order_count
    FROM {{ ref('stg_shop__orders') }}
    GROUP BY customer_id
)
SELECT
    c.customer_id, c.email, c.full_name, c.city, c.country,
    toDate(c.signup_at) AS signup_date,
    if(o.order_count > 0, o.first_order_date, NULL) AS first_order_date,
    o.order_count AS order_count,
    o.order_count > 0 AS is_buyer
FROM {{ ref('stg_shop__customers') }} AS c
LEFT JOIN orders AS o ON o.customer_id = c.customer_id
