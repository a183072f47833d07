/* ---
description: >
  Clickstream events, one row per event id (a resent event keeps its latest load), placed on
  the day they happened; `arrived_date` is the day of the file that brought them.
grain: one row per event
materialization: view
columns:
  event_id: {description: Event key, tests: [unique, not_null]}
  event_type: {description: "page_view, product_view, add_to_cart, checkout or purchase"}
  event_at: {description: When the event happened (UTC)}
  event_date: {description: Day the event happened}
  arrived_date: {description: Day of the file the event arrived in}
  is_late: {description: Arrived on a later day than it happened}
  customer_id: {description: "Signed-in customer, null for anonymous visitors"}
  session_id: {description: Browser session}
  product_id: {description: "Product viewed or added, when there is one"}
  order_id: {description: Order of a purchase event}
--- */
SELECT
    event_id, event_type, event_at,
    toDate(event_at) AS event_date,
    _partition AS arrived_date,
    toDate(event_at) < _partition AS is_late,
    customer_id, session_id, product_id, order_id
FROM {{ source('events', 'events') }}
ORDER BY _loaded_at DESC
LIMIT 1 BY event_id
