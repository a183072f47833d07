/* ---
description: Customers as the shop database holds them in the latest extract, cleaned.
grain: one row per customer
materialization: view
columns:
  customer_id: {description: Customer key in the shop, tests: [unique, not_null]}
  email: {description: Lower-cased e-mail address, tests: [not_null]}
  full_name: {description: Name as entered}
  city: {description: City of the current address}
  country: {description: Country of the current address}
  signup_at: {description: When the customer signed up (UTC)}
  updated_at: {description: Last change of the row in the shop (UTC)}
--- */
SELECT
    customer_id,
    lower(trimBoth(email)) AS email,
    trimBoth(full_name) AS full_name,
    city,
    country,
    signup_at,
    updated_at
FROM {{ source('shop', 'customers') }}
WHERE _partition = (SELECT max(_partition) FROM {{ source('shop', 'customers') }})
