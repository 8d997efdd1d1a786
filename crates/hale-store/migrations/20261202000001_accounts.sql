-- Accounts replace one-token-one-principal: a person or an integration is one account with its
-- roles, and its credentials (password, TOTP, recovery codes, web sessions, API keys, links to
-- an OpenID provider) are its own rows. Secrets are stored only as hashes (Argon2id for
-- passwords, SHA-256 for high-entropy random tokens).
DROP TABLE access_tokens;

CREATE TABLE accounts (
    tenant_id      TEXT   NOT NULL,
    id             TEXT   NOT NULL PRIMARY KEY,
    kind           TEXT   NOT NULL,
    username       TEXT   NOT NULL,
    display_name   TEXT   NOT NULL,
    roles          TEXT   NOT NULL,
    subject_id     TEXT,
    disabled       BIGINT NOT NULL,
    password_hash  TEXT,
    totp_secret    TEXT,
    totp_last_step BIGINT,
    signed_out_at  BIGINT,
    version        BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX accounts_username ON accounts (tenant_id, username);

CREATE TABLE account_invites (
    invite_hash TEXT   NOT NULL PRIMARY KEY,
    tenant_id   TEXT   NOT NULL,
    account_id  TEXT   NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    tenant_id  TEXT   NOT NULL,
    account_id TEXT   NOT NULL,
    code_hash  TEXT   NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (account_id, code_hash)
);

CREATE TABLE sessions (
    session_hash TEXT   NOT NULL PRIMARY KEY,
    tenant_id    TEXT   NOT NULL,
    account_id   TEXT   NOT NULL,
    csrf_hash    TEXT   NOT NULL,
    mfa          BIGINT NOT NULL,
    method       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE api_keys (
    key_hash   TEXT   NOT NULL PRIMARY KEY,
    tenant_id  TEXT   NOT NULL,
    id         TEXT   NOT NULL UNIQUE,
    account_id TEXT   NOT NULL,
    label      TEXT   NOT NULL,
    scopes     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_id);

CREATE TABLE account_links (
    issuer           TEXT NOT NULL,
    external_subject TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    PRIMARY KEY (issuer, external_subject)
);

-- When a session or API key was last used: written at most once a minute per credential, outside
-- the event log (like idempotency_keys, not a projection, never rebuilt).
CREATE TABLE credential_activity (
    credential_hash TEXT   NOT NULL PRIMARY KEY,
    last_used_at    BIGINT NOT NULL
);
