/* ---
description: >
  Clickstream activity per day and event type, late arrivals counted apart. Incremental:
  a run rebuilds the days from run_date - lookback_days to run_date and replaces those
  day partitions whole, so events that arrive up to three days late land on their day
  and no other day is touched.
grain: one row per day and event type
materialization: incremental
incremental_strategy: replace_partitions
lookback_days: 3
partition_by: event_date
order_by: [event_date, event_type]
columns:
  event_date:
    description: Day the events happened
    tests: [not_null, {relationships: {to: dim_dates, field: date_day}}]
  event_type: {description: page_view ... purchase, tests: [not_null]}
  events: {description: Number of events}
  sessions: {description: Distinct sessions}
  customers: {description: Distinct signed-in customers}
  late_events: {description: Events that arrived on a later day}
--- */
SELECT
    event_date, event_type,
    count() AS events,
    uniqExact(session_id) AS sessions,
    uniqExactIf(customer_id, customer_id IS NOT NULL) AS customers,
    countIf(is_late) AS late_events
FROM {{ ref('stg_events__events') }}
WHERE event_date <= {run_date:Date}
{% if is_incremental() %}
  AND event_date >= {lookback_start:Date}
{% endif %}
GROUP BY event_date, event_type
