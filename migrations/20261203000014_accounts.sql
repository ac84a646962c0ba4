-- Scoped, expiring API keys. Keys made before scopes existed keep what they had: every scope.
ALTER TABLE api_keys ADD COLUMN scopes TEXT[];
UPDATE api_keys SET scopes = ARRAY['codes:write', 'analytics:read', 'exports:write', 'webhooks:write',
                                   'billing:write', 'account:admin', 'codes:read', 'exports:read',
                                   'webhooks:read', 'billing:read', 'account:read'];
ALTER TABLE api_keys ALTER COLUMN scopes SET NOT NULL;
ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMPTZ;

-- Sessions show when they were last used (the device list).
ALTER TABLE sessions ADD COLUMN last_used_at TIMESTAMPTZ;

-- Single-use links sent by e-mail: password reset, address verification, address change.
-- Only the token's hash is kept.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;
CREATE TABLE account_tokens (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('password_reset', 'verify_email', 'change_email')),
    token_hash  BYTEA NOT NULL UNIQUE,
    new_email   TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

-- What is kept of a deleted account, for the operator's records: its Stripe customer (invoices
-- live there) and when it went. Everything personal is erased with the user row.
CREATE TABLE deleted_accounts (
    user_id            UUID PRIMARY KEY,
    stripe_customer_id TEXT,
    deleted_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Destinations this service refuses (phishing, malware hosts): a host (matching itself and its
-- subdomains) or a pattern with `*`. More come from the file named by
-- QRSAAS_TARGETS__BLOCKLIST_FILE.
CREATE TABLE destination_blocklist (
    id          UUID PRIMARY KEY,
    pattern     TEXT NOT NULL UNIQUE,
    reason      TEXT,
    created_by  UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- "Report this code" from landing pages, for the operator's queue.
CREATE TABLE abuse_reports (
    id          UUID PRIMARY KEY,
    qr_id       UUID NOT NULL REFERENCES qr_codes(id) ON DELETE CASCADE,
    reason      TEXT NOT NULL CHECK (reason IN ('phishing', 'malware', 'spam', 'illegal', 'other')),
    details     TEXT,
    reporter_ip TEXT,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX abuse_reports_open ON abuse_reports (status, created_at DESC);

-- Optional two-factor sign-in (TOTP, RFC 6238). The secret is pending until a first code
-- confirms it; the last accepted time step refuses a code's replay. Recovery codes are single
-- use and kept as hashes.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_enabled_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
CREATE TABLE recovery_codes (
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  BYTEA NOT NULL,
    used_at    TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);
