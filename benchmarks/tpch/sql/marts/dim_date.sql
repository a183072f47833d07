/* ---
description: Calendar days over the order dates.
grain: one row per day
materialization: table
order_by: [date_key]
columns:
  date_key: {description: The day, tests: [unique, not_null]}
--- */
WITH bounds AS (
    SELECT assumeNotNull(min(o_orderdate)) AS first_day, assumeNotNull(max(o_orderdate)) AS last_day
    FROM {{ source('tpch', 'orders') }}
)
SELECT toDate(first_day + number) AS date_key, toYear(date_key) AS year,
       toYYYYMM(date_key) AS year_month, toISOWeek(date_key) AS week_of_year,
       toDayOfWeek(date_key) AS day_of_week, monthName(date_key) AS month_name
FROM bounds
ARRAY JOIN range(toUInt32(dateDiff('day', first_day, last_day) + 1)) AS number
