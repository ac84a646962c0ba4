-- Monthly usage statements: one row per user and calendar month (UTC), written once by the
-- monthly `Statements` run. The primary key makes the run idempotent: a re-run or a second
-- scheduler finds the row and neither rewrites it nor sends its e-mail again.
CREATE TABLE usage_statements (
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    month           DATE NOT NULL CHECK (EXTRACT(DAY FROM month) = 1),
    scans           BIGINT NOT NULL,
    codes_created   INT NOT NULL,
    exports         INT NOT NULL,
    -- The outbox e-mail that carried it; NULL when the user opted out of statements.
    email_id        UUID REFERENCES outbound_emails(id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, month)
);
-- Exports finished in a month, for the statement's count (codes created use qr_codes_user).
CREATE INDEX jobs_user_kind_finished ON jobs (user_id, kind, finished_at) WHERE status = 'succeeded';
