-- Scan events the ingestor could not store (a timestamp ClickHouse cannot hold, …). They are set
-- aside here, with the reason, instead of failing their whole batch again and again: a poison
-- event must not block the pipeline, and must not vanish without a trace either.
CREATE TABLE scan_dead_letters (
    event_id   uuid PRIMARY KEY,
    batch_id   uuid NOT NULL,
    reason     text NOT NULL,
    event      jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
