-- Scan ingestion bookkeeping.

-- Batches whose scans are in ClickHouse and counted in usage; a re-delivered batch is skipped.
CREATE TABLE ingested_batches (
    batch_id        UUID PRIMARY KEY,
    events          INT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ingested_batches_created ON ingested_batches (created_at);

-- Counting scans must not look like an edit of the code: updated_at moves only when something
-- other than scans_total changes.
DROP TRIGGER qr_codes_updated_at ON qr_codes;
CREATE TRIGGER qr_codes_updated_at BEFORE UPDATE ON qr_codes FOR EACH ROW
    WHEN (OLD.scans_total IS NOT DISTINCT FROM NEW.scans_total)
    EXECUTE FUNCTION set_updated_at();
