/* ---
description: One row per calendar day from the first order or event up to the run date.
grain: one row per day
materialization: table
order_by: [date_day]
columns:
  date_day: {description: The day, tests: [unique, not_null]}
  year: {description: Calendar year}
  quarter: {description: Quarter 1-4}
  month: {description: Month 1-12}
  month_name: {description: January ... December}
  iso_week: {description: ISO week number}
  day_of_week: {description: 1 = Monday ... 7 = Sunday}
  day_name: {description: Monday ... Sunday}
  is_weekend: {description: Saturday or Sunday}
--- */
WITH bounds AS (
    SELECT
        least(
            coalesce((SELECT minOrNull(order_date) FROM {{ ref('stg_shop__orders') }}),
                     {run_date:Date}),
            coalesce((SELECT minOrNull(event_date) FROM {{ ref('stg_events__events') }}),
                     {run_date:Date})
        ) AS first_day,
        {run_date:Date} AS last_day
)
SELECT
    toDate(first_day + number) AS date_day,
    toYear(date_day) AS year,
    toQuarter(date_day) AS quarter,
    toMonth(date_day) AS month,
    monthName(date_day) AS month_name,
    toISOWeek(date_day) AS iso_week,
    toDayOfWeek(date_day) AS day_of_week,
    dateName('weekday', date_day) AS day_name,
    toDayOfWeek(date_day) >= 6 AS is_weekend
FROM bounds
ARRAY JOIN range(toUInt32(dateDiff('day', first_day, last_day) + 1)) AS number
