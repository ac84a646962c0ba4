-- Notifications: outgoing webhooks (endpoints, the event outbox, deliveries and their attempts),
-- the scans waiting for their `scans.batch` window, scan milestones, SMS, and the headers an
-- e-mail carries (one-click unsubscribe).

CREATE TABLE webhook_endpoints (
    id                  UUID PRIMARY KEY,
    user_id             UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    url                 TEXT NOT NULL,
    description         TEXT,
    events              TEXT[] NOT NULL,
    enabled             BOOLEAN NOT NULL DEFAULT true,
    -- Signing secrets, sealed with the server key (they must be usable, so they cannot be
    -- hashed). The previous one keeps signing beside the new one for a day after a rotation.
    secret              TEXT NOT NULL,
    previous_secret     TEXT,
    previous_until      TIMESTAMPTZ,
    -- Why it was turned off by us: 'gone' (the receiver answered 410) or 'failing' (5 days of
    -- failures). NULL when enabled, or disabled by its owner.
    disabled_reason     TEXT,
    -- Start of the current run of failed attempts (cleared by a success).
    failing_since       TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_user ON webhook_endpoints (user_id, created_at);
CREATE TRIGGER webhook_endpoints_updated_at BEFORE UPDATE ON webhook_endpoints FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The outbox of events: written in the transaction of the change that caused it, with one
-- delivery per subscribed endpoint; the id is the `webhook-id` receivers de-duplicate on.
CREATE TABLE webhook_events (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type            TEXT NOT NULL,
    data            JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_created ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    id              UUID PRIMARY KEY,
    event_id        UUID NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    endpoint_id     UUID NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),
    attempts        INT NOT NULL DEFAULT 0,
    -- Bumped by a replay: part of the queue's idempotency key. `run_base` is the attempts made
    -- before the replay, so the retry schedule starts over while the log keeps counting.
    run             INT NOT NULL DEFAULT 0,
    run_base        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A worker holds the delivery until then (a killed worker's hold lapses).
    leased_until    TIMESTAMPTZ,
    last_status     INT,
    last_latency_ms INT,
    last_response   TEXT,
    last_error      TEXT,
    last_attempt_at TIMESTAMPTZ,
    delivered_at    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE TRIGGER webhook_deliveries_updated_at BEFORE UPDATE ON webhook_deliveries FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Every attempt, for the delivery log.
CREATE TABLE webhook_attempts (
    delivery_id     UUID NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt         INT NOT NULL,
    at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    status          INT,
    latency_ms      INT NOT NULL,
    response        TEXT,
    error           TEXT,
    PRIMARY KEY (delivery_id, attempt)
);

-- Scans waiting for their `scans.batch` event (written by ingestion for owners that subscribe
-- to it; taken out, at most 1,000 at a time, in the transaction that writes the event).
CREATE TABLE webhook_scan_buffer (
    seq             BIGSERIAL PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scan            JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_scan_buffer_user ON webhook_scan_buffer (user_id, seq);

-- Milestones reached (100, 1,000, 10,000 … scans): each announced once.
CREATE TABLE scan_milestones (
    qr_id           UUID NOT NULL REFERENCES qr_codes(id) ON DELETE CASCADE,
    milestone       BIGINT NOT NULL,
    reached_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (qr_id, milestone)
);

-- Weekly summaries sent: one per account and week (the Monday it covers up to).
CREATE TABLE weekly_summaries (
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    week_start      DATE NOT NULL,
    email_id        UUID REFERENCES outbound_emails(id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, week_start)
);

-- One-click unsubscribe (RFC 8058) rides on these headers.
ALTER TABLE outbound_emails ADD COLUMN headers JSONB NOT NULL DEFAULT '{}'::jsonb;

-- SMS: a phone number verified by a code, and the SMS outbox.
CREATE TABLE user_phones (
    user_id         UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    phone           TEXT NOT NULL,
    -- SHA-256 of the pending code; NULL once verified.
    code_hash       BYTEA,
    code_expires_at TIMESTAMPTZ,
    code_attempts   INT NOT NULL DEFAULT 0,
    verified_at     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER user_phones_updated_at BEFORE UPDATE ON user_phones FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE outbound_sms (
    id              UUID PRIMARY KEY,
    user_id         UUID REFERENCES users(id) ON DELETE SET NULL,
    kind            TEXT NOT NULL,
    to_number       TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INT NOT NULL DEFAULT 0,
    provider_id     TEXT,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ
);
CREATE INDEX outbound_sms_pending ON outbound_sms (created_at) WHERE status = 'pending';
