-- Daily rollups, one row per (code, day, dimension, value) instead of the seed's Map columns
-- (Map does not exist on 18.16). dimension 'total' carries the day's totals with value ''.
-- Partitioned by day so a re-run of a day's rollup replaces that partition exactly.
-- Read with sum(scans) and uniqMerge(visitors) ... GROUP BY: never rely on merges having run.
CREATE TABLE IF NOT EXISTS daily_aggregates
(
    date          Date,
    qr_id         UUID,
    user_id       UUID,
    dimension     Enum8('total' = 0, 'country' = 1, 'city' = 2, 'device' = 3, 'os' = 4, 'browser' = 5, 'referer' = 6),
    value         String,
    scans         UInt64,
    bot_scans     UInt64,
    visitors      AggregateFunction(uniq, String)
)
ENGINE = SummingMergeTree
PARTITION BY date
ORDER BY (qr_id, date, dimension, value);
