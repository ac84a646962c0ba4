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
