-- Customers' own short domains. A domain is the account's once it proves control of it (a
-- `_qrsaas.<domain>` TXT record or an HTTP token); before that anyone may claim it, so only
-- verified (or once-verified, now failing) rows are unique across accounts.
CREATE TABLE domains (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    domain       text        NOT NULL,
    token        text        NOT NULL,
    status       text        NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'verified', 'failing')),
    is_default   boolean     NOT NULL DEFAULT false,
    error        text,
    verified_at  timestamptz,
    checked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, domain)
);
CREATE UNIQUE INDEX domains_owned ON domains (domain) WHERE status <> 'pending';
CREATE UNIQUE INDEX domains_one_default ON domains (user_id) WHERE is_default;
