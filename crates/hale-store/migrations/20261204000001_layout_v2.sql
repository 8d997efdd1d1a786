-- Storage layout v2: each fact stored once, compact keys, rows clustered for the queries
-- they serve.
--
-- A line that starts with `--sqlite:` or `--postgres:` is that engine's alone: the store
-- removes the marker before running the migration on that engine (`migrations.rs`), and the
-- other engine reads the line as a comment. Every other line is run by both, as written.
--
-- * The submission's event holds its answers, scores and actor; the
--   submissions read model keeps what queries filter and sort on and points at its event
--   (tenant_id, event_seq), so the answers are stored once and one sealed value per
--   submission will cover them. Ordered by event, so new rows go at the end of the tree.
-- * Observations are typed columns clustered by (tenant, subject, code, time): the one tree a
--   subject's readings of one code are read from, no secondary index.
-- * Ids of submissions, subjects and apps in these two tables are 16 bytes, not 36 characters.
-- * Idempotency claims are one clustered tree (no rowid table beside the key's index).

CREATE TABLE submissions_v2 (
    tenant_id   TEXT   NOT NULL,
    event_seq   BIGINT NOT NULL,
    id          BYTEA  NOT NULL,
    subject_id  BYTEA  NOT NULL,
    app_id      BYTEA  NOT NULL,
    app_version BIGINT NOT NULL,
    authored_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, event_seq)
)
--sqlite: WITHOUT ROWID
;

--sqlite: INSERT INTO submissions_v2 (tenant_id, event_seq, id, subject_id, app_id, app_version, authored_at, recorded_at)
--sqlite: SELECT s.tenant_id, e.seq, unhex(replace(s.id, '-', '')), unhex(replace(s.subject_id, '-', '')),
--sqlite:        unhex(replace(s.app_id, '-', '')), s.app_version, s.authored_at, s.recorded_at
--sqlite: FROM submissions s JOIN events e ON e.tenant_id = s.tenant_id
--sqlite:  AND e.stream_kind = 'submission' AND e.stream_id = s.id AND e.stream_version = 1;
--postgres: INSERT INTO submissions_v2 (tenant_id, event_seq, id, subject_id, app_id, app_version, authored_at, recorded_at)
--postgres: SELECT s.tenant_id, e.seq, decode(replace(s.id, '-', ''), 'hex'),
--postgres:        decode(replace(s.subject_id, '-', ''), 'hex'), decode(replace(s.app_id, '-', ''), 'hex'),
--postgres:        s.app_version, s.authored_at, s.recorded_at
--postgres: FROM submissions s JOIN events e ON e.tenant_id = s.tenant_id
--postgres:  AND e.stream_kind = 'submission' AND e.stream_id = s.id AND e.stream_version = 1;

DROP TABLE submissions;
ALTER TABLE submissions_v2 RENAME TO submissions;
CREATE INDEX submissions_subject_time ON submissions (tenant_id, subject_id, authored_at, id);

CREATE TABLE observations_v2 (
    tenant_id     TEXT             NOT NULL,
    subject_id    BYTEA            NOT NULL,
    code          TEXT             NOT NULL,
    effective_at  BIGINT           NOT NULL,
    submission_id BYTEA            NOT NULL,
    position      BIGINT           NOT NULL,
    field         TEXT             NOT NULL,
    value         DOUBLE PRECISION NOT NULL,
    unit          TEXT             NOT NULL,
    PRIMARY KEY (tenant_id, subject_id, code, effective_at, submission_id, position)
)
--sqlite: WITHOUT ROWID
;

--sqlite: INSERT INTO observations_v2 (tenant_id, subject_id, code, effective_at, submission_id, position, field, value, unit)
--sqlite: SELECT tenant_id, unhex(replace(subject_id, '-', '')), code, effective_at,
--sqlite:        unhex(replace(submission_id, '-', '')), position, json_extract(payload, '$.field'),
--sqlite:        json_extract(payload, '$.value'), json_extract(payload, '$.unit')
--sqlite: FROM observations;
--postgres: INSERT INTO observations_v2 (tenant_id, subject_id, code, effective_at, submission_id, position, field, value, unit)
--postgres: SELECT tenant_id, decode(replace(subject_id, '-', ''), 'hex'), code, effective_at,
--postgres:        decode(replace(submission_id, '-', ''), 'hex'), position, payload::json ->> 'field',
--postgres:        (payload::json ->> 'value')::double precision, payload::json ->> 'unit'
--postgres: FROM observations;

DROP TABLE observations;
ALTER TABLE observations_v2 RENAME TO observations;

CREATE TABLE idempotency_keys_v2 (
    tenant_id       TEXT   NOT NULL,
    actor           TEXT   NOT NULL,
    idempotency_key TEXT   NOT NULL,
    request_hash    TEXT   NOT NULL,
    stream_id       TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, actor, idempotency_key)
)
--sqlite: WITHOUT ROWID
;
INSERT INTO idempotency_keys_v2 (tenant_id, actor, idempotency_key, request_hash, stream_id, created_at)
SELECT tenant_id, actor, idempotency_key, request_hash, stream_id, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_v2 RENAME TO idempotency_keys;
