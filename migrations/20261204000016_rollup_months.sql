-- Whole months of the daily aggregates summed into ClickHouse `monthly_aggregates` (and the
-- owners' `owner_monthly_aggregates`): a year-long report reads twelve rows per value instead
-- of 365. A month is usable only while every one of its days is rolled up and none was rolled
-- again after the month (`rolled_at` of both taken with clock_timestamp(), when the row is
-- written under the day locks): late scans un-roll a day, the day is rolled again, and the
-- month reads from the days until it is rebuilt.
CREATE TABLE rollup_months (
    month      date PRIMARY KEY CHECK (extract(day FROM month) = 1),
    rolled_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
