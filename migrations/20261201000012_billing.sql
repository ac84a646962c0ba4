-- Billing: plans held by accounts, Stripe customers and subscriptions, the events Stripe sent,
-- metered usage, credits, and the notices that must go out once.

-- One row per account that billing has touched. `plan_id` is an operator's choice (NULL: the
-- configured default); a live Stripe subscription takes precedence over both. Limit checks lock
-- this row, so concurrent creates of one account are admitted one at a time.
CREATE TABLE billing_accounts (
    user_id             UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    plan_id             TEXT,
    -- Dynamic codes with status 'active', kept by the trigger below in the transaction of
    -- every change to a code (so the limit check reads one locked row instead of counting).
    active_dynamic_codes INT NOT NULL DEFAULT 0,
    -- Created once, on the first checkout; kept when the account is deleted (operator records).
    stripe_customer_id  TEXT UNIQUE,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER billing_accounts_updated_at BEFORE UPDATE ON billing_accounts FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The seed's table, as Stripe last told us (re-fetched on every event, so the order in which
-- events arrive does not matter). `renew_at` is the end of the current period.
ALTER TABLE billing_subscriptions
    ADD COLUMN stripe_customer_id   TEXT,
    ADD COLUMN stripe_price_id      TEXT,
    ADD COLUMN interval             TEXT CHECK (interval IN ('month', 'year')),
    ADD COLUMN current_period_start TIMESTAMPTZ,
    ADD COLUMN cancel_at_period_end BOOLEAN NOT NULL DEFAULT false,
    -- When the subscription first went past_due (cleared when paid): the grace period runs from here.
    ADD COLUMN past_due_since       TIMESTAMPTZ,
    ADD COLUMN stripe_created       TIMESTAMPTZ;

-- Every Stripe event handled, recorded in the transaction of its effect: a redelivery finds its
-- id and does nothing.
CREATE TABLE stripe_events (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    user_id         UUID REFERENCES users(id) ON DELETE SET NULL,
    created         TIMESTAMPTZ NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Usage as it happens, keyed by what caused it (a scan batch per owner and day, an export):
-- written in the transaction of the cause, so a redelivered batch or a re-run job adds nothing.
-- The usage meter folds pending rows into the daily counters of `billing_usage`.
CREATE TABLE usage_events (
    key             TEXT PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day             DATE NOT NULL,
    scans           BIGINT NOT NULL DEFAULT 0,
    exports         INT NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    folded_at       TIMESTAMPTZ
);
CREATE INDEX usage_events_pending ON usage_events (created_at) WHERE folded_at IS NULL;
CREATE INDEX usage_events_folded ON usage_events (folded_at) WHERE folded_at IS NOT NULL;

ALTER TABLE billing_usage
    ADD COLUMN exports          INT NOT NULL DEFAULT 0,
    -- Scans beyond the plan's quota (served and stored like any other).
    ADD COLUMN scans_over_quota BIGINT NOT NULL DEFAULT 0;

-- 80 % / 100 % notices: one per account, period, quota and threshold.
CREATE TABLE usage_alerts (
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    period_start    DATE NOT NULL,
    quota           TEXT NOT NULL,
    threshold       INT NOT NULL CHECK (threshold IN (80, 100)),
    email_id        UUID REFERENCES outbound_emails(id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, period_start, quota, threshold)
);

-- Append-only credit ledger; the balance is the sum. Grants and purchases are positive (a lot,
-- possibly expiring), spends and expiries negative. `key` makes each entry happen once (a
-- Stripe session, a code, a block of scans, a lot's expiry).
CREATE TABLE credit_ledger (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- Zero only for the expiry of a lot spent in full (it marks the lot as done).
    amount          INT NOT NULL CHECK (amount <> 0 OR kind = 'expiry'),
    kind            TEXT NOT NULL CHECK (kind IN ('grant', 'purchase', 'spend', 'expiry')),
    reason          TEXT NOT NULL,
    key             TEXT NOT NULL UNIQUE,
    -- Spends: which quota they paid for, in which period.
    quota           TEXT,
    period_start    DATE,
    -- Lots (grant, purchase): when what is left of them expires.
    expires_at      TIMESTAMPTZ,
    -- Expiries: the lot that expired.
    lot_id          UUID REFERENCES credit_ledger(id),
    actor_user_id   UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((kind IN ('grant', 'purchase')) = (amount > 0))
);
CREATE INDEX credit_ledger_user ON credit_ledger (user_id, created_at);
CREATE INDEX credit_ledger_expiring ON credit_ledger (expires_at) WHERE expires_at IS NOT NULL;

-- Over-quota scans reported to Stripe Billing Meters: one row per account and hour, written
-- before the report is sent and reused by every retry (with the same identifier, which Stripe
-- de-duplicates), so an hour is billed once.
CREATE TABLE meter_reports (
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hour            TIMESTAMPTZ NOT NULL,
    event_name      TEXT NOT NULL,
    stripe_customer_id TEXT NOT NULL,
    quantity        BIGINT NOT NULL CHECK (quantity > 0),
    identifier      TEXT NOT NULL UNIQUE,
    reported_at     TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, hour)
);
CREATE INDEX meter_reports_unsent ON meter_reports (created_at) WHERE reported_at IS NULL;

-- Other notices that go out once per cause (payment failed, grace ended …).
CREATE TABLE billing_notices (
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    ref             TEXT NOT NULL,
    email_id        UUID REFERENCES outbound_emails(id) ON DELETE SET NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind, ref)
);

-- Statements now say which plan applied and what was over quota or paid with credits.
ALTER TABLE usage_statements
    ADD COLUMN plan_id          TEXT,
    ADD COLUMN limits           JSONB,
    ADD COLUMN scans_over_quota BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN credits_spent    INT NOT NULL DEFAULT 0;

-- Codes are counted where they change, in the same transaction: the account's active dynamic
-- codes, and codes created per day (UTC) in `billing_usage.qr_created`. Whatever path changes
-- a code (the API, bulk create, an operator's block, a product's cascade) keeps them exact.
CREATE FUNCTION count_codes() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.dynamic AND OLD.status = 'active' AND OLD.user_id IS NOT NULL THEN
        UPDATE billing_accounts SET active_dynamic_codes = active_dynamic_codes - 1
        WHERE user_id = OLD.user_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.dynamic AND NEW.status = 'active' AND NEW.user_id IS NOT NULL THEN
        INSERT INTO billing_accounts (user_id, active_dynamic_codes) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE
        SET active_dynamic_codes = billing_accounts.active_dynamic_codes + 1;
    END IF;
    IF TG_OP = 'INSERT' AND NEW.user_id IS NOT NULL THEN
        INSERT INTO billing_usage (user_id, date, qr_created)
        VALUES (NEW.user_id, (NEW.created_at AT TIME ZONE 'UTC')::date, 1)
        ON CONFLICT (user_id, date) DO UPDATE SET qr_created = billing_usage.qr_created + 1;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER qr_codes_counted AFTER INSERT OR DELETE OR UPDATE OF status, dynamic, user_id
    ON qr_codes FOR EACH ROW EXECUTE FUNCTION count_codes();

-- The counts of codes that exist already.
INSERT INTO billing_accounts (user_id, active_dynamic_codes)
    SELECT user_id, count(*) FROM qr_codes
    WHERE dynamic AND status = 'active' AND user_id IS NOT NULL GROUP BY user_id;
INSERT INTO billing_usage (user_id, date, qr_created)
    SELECT user_id, (created_at AT TIME ZONE 'UTC')::date, count(*) FROM qr_codes
    WHERE user_id IS NOT NULL GROUP BY 1, 2
    ON CONFLICT (user_id, date) DO UPDATE SET qr_created = EXCLUDED.qr_created;

-- Exports asked for in a period are counted from the jobs (a few per month).
CREATE INDEX jobs_user_kind_created ON jobs (user_id, kind, created_at);
