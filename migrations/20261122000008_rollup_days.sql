-- UTC days whose scans are rolled up into ClickHouse's daily_aggregates. Reports read a
-- contiguous run of these days from the aggregates and everything else from raw events; the
-- scheduler catches up from the last day recorded here.
CREATE TABLE rollup_days (
    date       date PRIMARY KEY,
    rolled_at  timestamptz NOT NULL DEFAULT now()
);
