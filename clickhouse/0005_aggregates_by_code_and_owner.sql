-- Dashboards read the aggregates per code (code reports) and per owner (account and project
-- reports). With the default 8,192-row granules a per-code read of 90 days pulled ~745k rows,
-- mostly other codes' uniq states (measured: docs/benchmarks.md); 256-row granules read ~30×
-- less. index_granularity cannot be altered, so the table is rebuilt and swapped in. Run it
-- while no rollup runs (migrations run before workers start).
DROP TABLE IF EXISTS daily_aggregates_rebuilt;
CREATE TABLE daily_aggregates_rebuilt
(
    date          Date,
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
PARTITION BY date
ORDER BY (qr_id, date, dimension, value)
SETTINGS index_granularity = 256;
INSERT INTO daily_aggregates_rebuilt (date, qr_id, user_id, dimension, value, scans, bot_scans, visitors, bot_visitors, project_id)
    SELECT date, qr_id, user_id, dimension, value, scans, bot_scans, visitors, bot_visitors, project_id
    FROM daily_aggregates;
RENAME TABLE daily_aggregates TO daily_aggregates_replaced, daily_aggregates_rebuilt TO daily_aggregates;
DROP TABLE daily_aggregates_replaced;

-- The same days summed over an owner's codes, per project: an account dashboard reads a few
-- hundred rows a day instead of one set per code. Filled by the daily rollup from
-- daily_aggregates (uniqMergeState combines the codes' visitor states); the days already rolled
-- up are filled here.
CREATE TABLE IF NOT EXISTS owner_daily_aggregates
(
    date          Date,
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
PARTITION BY date
ORDER BY (user_id, project_id, date, dimension, value)
SETTINGS index_granularity = 256;
INSERT INTO owner_daily_aggregates (date, user_id, project_id, dimension, value, scans, bot_scans, visitors, bot_visitors)
    SELECT date, user_id, project_id, dimension, value, sum(scans), sum(bot_scans),
           uniqMergeStateIf(visitors, dimension = 'total'), uniqMergeStateIf(bot_visitors, dimension = 'total')
    FROM daily_aggregates
    GROUP BY date, user_id, project_id, dimension, value;

-- A day is rebuilt in these and swapped in whole (REPLACE PARTITION), so a report never sees a
-- day half rebuilt while its rollup re-runs.
CREATE TABLE IF NOT EXISTS daily_aggregates_staging AS daily_aggregates;
CREATE TABLE IF NOT EXISTS owner_daily_aggregates_staging AS owner_daily_aggregates;
