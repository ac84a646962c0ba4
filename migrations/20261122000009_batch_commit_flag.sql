-- A batch is recorded (committed = false) before its ClickHouse insert and committed with its
-- usage counts after it. Only a batch found uncommitted (a crash or failure between the two)
-- needs the check for events already in ClickHouse, which keeps that read off the normal path.
ALTER TABLE ingested_batches ADD COLUMN committed boolean NOT NULL DEFAULT true;
