/* ---
description: >
  Every version of every customer (SCD type 2): a new version each time the shop changes a
  customer's row (a move to another city, a new name), the last one closed when the
  customer is deleted from the shop. Read it at a point in time with
  `valid_from <= t AND (valid_to IS NULL OR t < valid_to)`.
grain: one row per customer version
materialization: snapshot
strategy: timestamp
unique_key: customer_id
updated_at: updated_at
surrogate_key: customer_sk
columns:
  customer_sk:
    description: Key of this version, cityHash64(customer_id, valid_from)
    tests: [unique, not_null]
  customer_id: {description: Customer key in the shop, tests: [not_null]}
  email: {description: Lower-cased e-mail address}
  full_name: {description: Name}
  city: {description: City of the address in this version}
  country: {description: Country of the address in this version}
  signup_at: {description: When the customer signed up (UTC)}
  updated_at: {description: The shop's change time that opened this version (UTC)}
  valid_from: {description: Start of this version (its updated_at), tests: [not_null]}
  valid_to: {description: End of this version; NULL while it is current}
  is_current: {description: "The customer's latest version, still in the shop"}
--- */
SELECT customer_id, email, full_name, city, country, signup_at, updated_at
FROM {{ ref('stg_shop__customers') }}
