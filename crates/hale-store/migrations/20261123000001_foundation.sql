-- One schema for SQLite and PostgreSQL: only types and statements both engines read the same
-- way (TEXT, BIGINT, composite primary keys, plain indexes). Times are microseconds since the
-- Unix epoch (UTC); ids are UUID text; hashes are lowercase hex.

-- The append-only event log: one hash chain per tenant.
CREATE TABLE events (
    tenant_id      TEXT   NOT NULL,
    seq            BIGINT NOT NULL,
    stream_kind    TEXT   NOT NULL,
    stream_id      TEXT   NOT NULL,
    stream_version BIGINT NOT NULL,
    event_type     TEXT   NOT NULL,
    payload        TEXT   NOT NULL,
    actor          TEXT   NOT NULL,
    recorded_at    BIGINT NOT NULL,
    prev_hash      TEXT   NOT NULL,
    hash           TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE UNIQUE INDEX events_stream_version ON events (tenant_id, stream_kind, stream_id, stream_version);

-- The head of each tenant's chain, locked by the writer that extends it.
CREATE TABLE chain_heads (
    tenant_id TEXT   NOT NULL PRIMARY KEY,
    seq       BIGINT NOT NULL,
    hash      TEXT   NOT NULL
);

-- Command-side deduplication of retried requests (not a projection: never rebuilt).
CREATE TABLE idempotency_keys (
    tenant_id       TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    idempotency_key TEXT   NOT NULL,
    request_hash    TEXT   NOT NULL,
    stream_id       TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, actor, idempotency_key)
);

-- Read models, rebuilt from the log by `hale projections rebuild`.
CREATE TABLE tenants (
    id         TEXT   NOT NULL PRIMARY KEY,
    slug       TEXT   NOT NULL UNIQUE,
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE access_tokens (
    token_hash   TEXT   NOT NULL PRIMARY KEY,
    principal_id TEXT   NOT NULL,
    tenant_id    TEXT,
    roles        TEXT   NOT NULL,
    subject_id   TEXT,
    label        TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE subjects (
    tenant_id  TEXT   NOT NULL,
    id         TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    payload    TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX subjects_created ON subjects (tenant_id, created_at, id);

CREATE TABLE subject_identifiers (
    tenant_id      TEXT NOT NULL,
    identifier_key TEXT NOT NULL,
    subject_id     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, identifier_key)
);

CREATE TABLE apps (
    tenant_id       TEXT   NOT NULL,
    id              TEXT   NOT NULL,
    name            TEXT   NOT NULL,
    created_by      TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    current_version BIGINT,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE app_versions (
    tenant_id      TEXT   NOT NULL,
    app_id         TEXT   NOT NULL,
    version        BIGINT NOT NULL,
    status         TEXT   NOT NULL,
    definition     TEXT   NOT NULL,
    compiled       TEXT   NOT NULL,
    author         TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    status_by      TEXT,
    status_at      BIGINT,
    status_comment TEXT,
    report         TEXT,
    PRIMARY KEY (tenant_id, app_id, version)
);

CREATE TABLE submissions (
    tenant_id   TEXT   NOT NULL,
    id          TEXT   NOT NULL,
    subject_id  TEXT   NOT NULL,
    app_id      TEXT   NOT NULL,
    app_version BIGINT NOT NULL,
    authored_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    payload     TEXT   NOT NULL,
    scores      TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX submissions_subject_time ON submissions (tenant_id, subject_id, authored_at, id);

CREATE TABLE observations (
    tenant_id     TEXT   NOT NULL,
    submission_id TEXT   NOT NULL,
    position      BIGINT NOT NULL,
    subject_id    TEXT   NOT NULL,
    code          TEXT   NOT NULL,
    effective_at  BIGINT NOT NULL,
    payload       TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, submission_id, position)
);
CREATE INDEX observations_subject_time ON observations (tenant_id, subject_id, effective_at, submission_id, position);
CREATE INDEX observations_subject_code_time ON observations (tenant_id, subject_id, code, effective_at);
