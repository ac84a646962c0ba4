-- Raw scan events: every column of the seed's qr_scan_events and scan_logs. Where the two seeds
-- name one thing twice (event_id/id, device_type/device, referer/referrer) the second name is an
-- ALIAS, so queries written against either seed work. Partitioned by month so retention can drop
-- whole partitions (TTL is not available on 18.16).
CREATE TABLE IF NOT EXISTS scan_events
(
    event_id      UUID,
    qr_id         UUID,
    user_id       UUID,
    project_id    UUID,
    short_code    String,
    scanned_at    DateTime,
    ip            String,
    country       {{lc_string}},
    region        String,
    city          String,
    user_agent    String,
    device_type   {{lc_string}},
    os            {{lc_string}},
    browser       {{lc_string}},
    referer       String,
    is_bot        UInt8,
    visitor_hash  String,
    id            UUID ALIAS event_id,
    device        String ALIAS device_type,
    referrer      String ALIAS referer
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(scanned_at)
ORDER BY (qr_id, scanned_at, event_id);
