-- Changes of a code set to apply at a given time (a campaign's new page at midnight). The
-- scheduler applies each exactly once: the change and the row's move to `applied` commit in
-- one transaction, guarded by `status = 'pending'`.
CREATE TABLE qr_code_schedules (
    id             uuid        PRIMARY KEY,
    qr_id          uuid        NOT NULL REFERENCES qr_codes (id) ON DELETE CASCADE,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key_id     uuid,
    at             timestamptz NOT NULL,
    -- The PATCH body to apply, checked when scheduled and again when applied.
    changes        jsonb       NOT NULL,
    status         text        NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'applied', 'cancelled', 'failed')),
    -- The version the change made, once applied; why it could not be, when failed.
    version        integer,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
CREATE INDEX qr_code_schedules_due ON qr_code_schedules (at) WHERE status = 'pending';
CREATE INDEX qr_code_schedules_code ON qr_code_schedules (qr_id, at);
