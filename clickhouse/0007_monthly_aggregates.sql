-- Whole months of daily_aggregates and owner_daily_aggregates, summed by the monthly rollup
-- (src/rollups/monthly.rs) once every day of the month is rolled up. Reports over long ranges
-- read the months they cover whole from here and the rest from the daily tables. `month` is
-- the month's first day.
CREATE TABLE IF NOT EXISTS monthly_aggregates
(
    month         Date,
    qr_id         UUID,
    user_id       UUID,
    dimension     Enum8('total' = 0, 'country' = 1, 'city' = 2, 'device' = 3, 'os' = 4, 'browser' = 5, 'referer' = 6),
    value         String,
    scans         UInt64,
    bot_scans     UInt64,
    visitors      AggregateFunction(uniq, String),
    bot_visitors  AggregateFunction(uniq, String),
    project_id    UUID
)
ENGINE = SummingMergeTree
PARTITION BY month
ORDER BY (qr_id, month, dimension, value)
SETTINGS index_granularity = 256;

CREATE TABLE IF NOT EXISTS owner_monthly_aggregates
(
    month         Date,
    user_id       UUID,
    project_id    UUID,
    dimension     Enum8('total' = 0, 'country' = 1, 'city' = 2, 'device' = 3, 'os' = 4, 'browser' = 5, 'referer' = 6),
    value         String,
    scans         UInt64,
    bot_scans     UInt64,
    visitors      AggregateFunction(uniq, String),
    bot_visitors  AggregateFunction(uniq, String)
)
ENGINE = SummingMergeTree
PARTITION BY month
ORDER BY (user_id, project_id, month, dimension, value)
SETTINGS index_granularity = 256;

-- A month is rebuilt in these and swapped in whole, as the days are.
CREATE TABLE IF NOT EXISTS monthly_aggregates_staging AS monthly_aggregates;
CREATE TABLE IF NOT EXISTS owner_monthly_aggregates_staging AS owner_monthly_aggregates;
