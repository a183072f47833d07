/* ---
description: >
  Customers still in the shop with their current attributes (the current version of
  snp_customers) and a summary of their orders. For the attributes at the time of an order,
  join fct_orders.customer_sk to snp_customers.customer_sk.
grain: one row per customer
materialization: table
order_by: [customer_id]
columns:
  customer_id: {description: Customer key, tests: [unique, not_null]}
  customer_sk:
    description: Key of the current version in snp_customers
    tests: [unique, not_null, {relationships: {to: snp_customers, field: customer_sk}}]
  email: {description: E-mail address}
  full_name: {description: Name}
  city: {description: Current city}
  country: {description: Current country}
  signup_date: {description: Day of sign-up}
  current_since: {description: Start of the current version (UTC)}
  versions: {description: "Versions recorded for the customer, the current one included"}
  first_order_date: {description: "Day of the first order, null if none"}
  order_count: {description: "Orders placed, cancelled ones included"}
  is_buyer: {description: Has placed at least one order}
--- */
WITH orders AS (
    SELECT customer_id, min(order_date) AS first_order_date, count() AS order_count
    FROM {{ ref('stg_shop__orders') }}
    GROUP BY customer_id
),
history AS (
    SELECT customer_id, count() AS versions
    FROM {{ ref('snp_customers') }}
    GROUP BY customer_id
)
SELECT
    c.customer_id AS customer_id, c.customer_sk AS customer_sk, c.email, c.full_name, c.city, c.country,
    toDate(c.signup_at) AS signup_date,
    c.valid_from AS current_since,
    h.versions AS versions,
    if(o.order_count > 0, o.first_order_date, NULL) AS first_order_date,
    o.order_count AS order_count,
    o.order_count > 0 AS is_buyer
FROM {{ ref('snp_customers') }} AS c
LEFT JOIN orders AS o ON o.customer_id = c.customer_id
LEFT JOIN history AS h ON h.customer_id = c.customer_id
WHERE c.is_current
