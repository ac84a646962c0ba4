-- Foundation schema: the pg tables of seed 000 plus what accounts need.
-- Deviations from the seed, on purpose: timestamps are TIMESTAMPTZ (the API speaks UTC);
-- every mutable table has updated_at maintained by one trigger function.

CREATE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE users (
    id              UUID PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,      -- stored lower-cased (domain::Email)
    name            TEXT,
    avatar_url      TEXT,
    provider        TEXT NOT NULL DEFAULT 'local' CHECK (provider IN ('local', 'google')),
    provider_id     TEXT,
    role            TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    password_hash   TEXT,                       -- argon2id PHC string; NULL for Google-only users
    suspended_at    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- External identities linked to a user; a Google sign-in whose e-mail matches a local user is
-- linked here instead of creating a second account.
CREATE TABLE user_identities (
    provider        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);

-- Opaque session tokens; only their SHA-256 is stored (the tokens carry 256 bits of entropy,
-- so a slow hash would add cost and no protection).
CREATE TABLE sessions (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash      BYTEA NOT NULL UNIQUE,
    ip              TEXT,
    user_agent      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_keys (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    prefix          TEXT NOT NULL UNIQUE,       -- visible part, shown in listings
    key_hash        BYTEA NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at    TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE user_settings (
    user_id         UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    locale          TEXT NOT NULL DEFAULT 'en',
    timezone        TEXT NOT NULL DEFAULT 'UTC',
    default_design  JSONB NOT NULL DEFAULT '{}'::jsonb,
    notifications   JSONB NOT NULL DEFAULT '{}'::jsonb,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER user_settings_updated_at BEFORE UPDATE ON user_settings FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE projects (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    color           TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX projects_user ON projects (user_id, created_at);
CREATE TRIGGER projects_updated_at BEFORE UPDATE ON projects FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE qr_codes (
    id              UUID PRIMARY KEY,
    user_id         UUID REFERENCES users(id) ON DELETE SET NULL,
    project_id      UUID REFERENCES projects(id) ON DELETE SET NULL,
    name            TEXT,
    qr_type         TEXT NOT NULL,
    short_code      TEXT UNIQUE NOT NULL,
    target_url      TEXT,
    design_json     JSONB,
    is_active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX qr_codes_user ON qr_codes (user_id, created_at);
CREATE INDEX qr_codes_project ON qr_codes (project_id);
CREATE TRIGGER qr_codes_updated_at BEFORE UPDATE ON qr_codes FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE qr_type_details (
    qr_id           UUID PRIMARY KEY REFERENCES qr_codes(id) ON DELETE CASCADE,
    type_data       JSONB NOT NULL
);

CREATE TABLE billing_subscriptions (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    stripe_id       TEXT UNIQUE,
    plan_id         TEXT NOT NULL,
    status          TEXT NOT NULL,
    renew_at        TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX billing_subscriptions_user ON billing_subscriptions (user_id);
CREATE TRIGGER billing_subscriptions_updated_at BEFORE UPDATE ON billing_subscriptions FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE billing_usage (
    id              BIGSERIAL PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    date            DATE NOT NULL,
    scans_used      BIGINT NOT NULL DEFAULT 0,
    qr_created      INT NOT NULL DEFAULT 0,
    UNIQUE (user_id, date)
);

CREATE TABLE templates (
    id              UUID PRIMARY KEY,
    name            TEXT NOT NULL,
    category        TEXT,
    image_path      TEXT,
    metadata        JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE template_data (
    id              UUID PRIMARY KEY,
    user_id         UUID REFERENCES users(id) ON DELETE CASCADE,
    template_id     UUID REFERENCES templates(id) ON DELETE CASCADE,
    data            JSONB,
    url_id          TEXT UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Who did what to which entity, written in the same transaction as the change.
CREATE TABLE audit_logs (
    id              UUID PRIMARY KEY,
    actor_user_id   UUID REFERENCES users(id) ON DELETE SET NULL,
    api_key_id      UUID,
    action          TEXT NOT NULL,              -- e.g. project.create, user.suspend
    entity_type     TEXT NOT NULL,
    entity_id       TEXT,
    ip              TEXT,
    request_id      TEXT,
    before          JSONB,
    after           JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_actor ON audit_logs (actor_user_id, created_at DESC);
CREATE INDEX audit_logs_created ON audit_logs (created_at DESC);

-- Transactional outbox for e-mail: the row is written with the change that causes it, the
-- SendEmail job carries only its id, and delivery marks it sent (so a redelivered job is a no-op).
CREATE TABLE outbound_emails (
    id              UUID PRIMARY KEY,
    user_id         UUID REFERENCES users(id) ON DELETE SET NULL,
    kind            TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INT NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ
);
CREATE INDEX outbound_emails_pending ON outbound_emails (created_at) WHERE status = 'pending';
CREATE TRIGGER outbound_emails_updated_at BEFORE UPDATE ON outbound_emails FOR EACH ROW EXECUTE FUNCTION set_updated_at();
