-- User-visible state of long jobs (exports, bulk creates): what `GET /api/v1/jobs/{id}` shows and
-- what admins see and retry. The queue (Redis) carries only the job id; this row is the truth.
-- `attempts` is counted here, so a job that exhausts its retries is marked failed (dead) with its
-- last error whatever the queue does.
CREATE TABLE jobs (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    params          JSONB NOT NULL,
    progress_done   INT NOT NULL DEFAULT 0,
    progress_total  INT NOT NULL DEFAULT 0,
    result          JSONB,
    error           TEXT,
    attempts        INT NOT NULL DEFAULT 0,
    -- Bumped by each admin retry: part of the queue's idempotency key, so a retry is enqueued.
    runs            INT NOT NULL DEFAULT 0,
    file_key        TEXT,
    expires_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX jobs_user ON jobs (user_id, created_at DESC);
CREATE INDEX jobs_status ON jobs (status, created_at DESC);
CREATE INDEX jobs_expiring ON jobs (expires_at) WHERE file_key IS NOT NULL;
CREATE TRIGGER jobs_updated_at BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION set_updated_at();
