-- Storage layout v3: half the bytes per submission. The log's rows shrink, and the tables that
-- grow with every submission are keyed by a small integer per tenant instead of its id's 36
-- characters.
--
-- Lines marked `--sqlite:` or `--postgres:` are that engine's alone (see `migrations.rs`).
--
-- * A submission's event keeps its payload packed (`packed`, see `packed.rs`): ids as 16
--   bytes, numbers as numbers, the answers and scores as the exact text sent. The packed form
--   unpacks to the JSON text byte for byte, and the chain hash is over that text, so hashes do
--   not change. Every other event, and every event written before this migration, keeps its
--   JSON text in `payload`. Exactly one of the two is set.
-- * Hashes are their 32 bytes, not 64 hex digits, in the log and in the chain heads.
-- * The previous entry's hash is not stored again in each row: it is the hash of the row
--   before in the same tenant's chain, which verification reads in order anyway, and the entry's
--   HMAC covers it, so a removed, inserted or reordered entry still breaks the chain there.
-- * On SQLite the log is clustered by (tenant_id, seq) (`WITHOUT ROWID`): one tree for the
--   rows instead of a rowid table beside its key's index.
-- * `tenants.tenant_key` is the place of the tenant's creation in the platform chain: unique,
--   and the same on every replay, so the projections stay a function of the log. Submissions,
--   observations, NEWS2 scores and idempotency claims are keyed by it. The log keeps the
--   tenant's id in every row: it is what the chain hash covers, and it needs no other table to
--   be read. A row of a tenant with no key fails its NOT NULL here, rather than being dropped.

CREATE TABLE events_v3 (
    tenant_id      TEXT   NOT NULL,
    seq            BIGINT NOT NULL,
    stream_kind    TEXT   NOT NULL,
    stream_id      TEXT   NOT NULL,
    stream_version BIGINT NOT NULL,
    event_type     TEXT   NOT NULL,
    payload        TEXT,
    packed         BYTEA,
    actor          TEXT   NOT NULL,
    recorded_at    BIGINT NOT NULL,
    hash           BYTEA  NOT NULL,
    PRIMARY KEY (tenant_id, seq),
    CHECK ((payload IS NULL) <> (packed IS NULL))
)
--sqlite: WITHOUT ROWID
;
--sqlite: INSERT INTO events_v3 (tenant_id, seq, stream_kind, stream_id, stream_version,
--sqlite:                        event_type, payload, packed, actor, recorded_at, hash)
--sqlite: SELECT tenant_id, seq, stream_kind, stream_id, stream_version, event_type,
--sqlite:        payload, NULL, actor, recorded_at, unhex(hash)
--sqlite: FROM events;
--postgres: INSERT INTO events_v3 (tenant_id, seq, stream_kind, stream_id, stream_version,
--postgres:                        event_type, payload, packed, actor, recorded_at, hash)
--postgres: SELECT tenant_id, seq, stream_kind, stream_id, stream_version, event_type,
--postgres:        payload, NULL, actor, recorded_at, decode(hash, 'hex')
--postgres: FROM events;
DROP TABLE events;
ALTER TABLE events_v3 RENAME TO events;
CREATE UNIQUE INDEX events_stream_version ON events (tenant_id, stream_kind, stream_id, stream_version);

CREATE TABLE chain_heads_v3 (
    tenant_id TEXT   NOT NULL PRIMARY KEY,
    seq       BIGINT NOT NULL,
    hash      BYTEA  NOT NULL
);
--sqlite: INSERT INTO chain_heads_v3 (tenant_id, seq, hash)
--sqlite: SELECT tenant_id, seq, unhex(hash) FROM chain_heads;
--postgres: INSERT INTO chain_heads_v3 (tenant_id, seq, hash)
--postgres: SELECT tenant_id, seq, decode(hash, 'hex') FROM chain_heads;
DROP TABLE chain_heads;
ALTER TABLE chain_heads_v3 RENAME TO chain_heads;

ALTER TABLE tenants ADD COLUMN tenant_key BIGINT;
UPDATE tenants SET tenant_key = (
    SELECT e.seq FROM events e
    WHERE e.tenant_id = '00000000-0000-0000-0000-000000000000' AND e.stream_kind = 'tenant'
      AND e.stream_id = tenants.id AND e.event_type = 'tenant_created');
CREATE UNIQUE INDEX tenants_key ON tenants (tenant_key);

CREATE TABLE submissions_v3 (
    tenant_key  BIGINT NOT NULL,
    event_seq   BIGINT NOT NULL,
    id          BYTEA  NOT NULL,
    subject_id  BYTEA  NOT NULL,
    app_id      BYTEA  NOT NULL,
    app_version BIGINT NOT NULL,
    authored_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_key, event_seq)
)
--sqlite: WITHOUT ROWID
;
INSERT INTO submissions_v3 (tenant_key, event_seq, id, subject_id, app_id, app_version,
                            authored_at, recorded_at)
SELECT (SELECT t.tenant_key FROM tenants t WHERE t.id = s.tenant_id), s.event_seq, s.id,
       s.subject_id, s.app_id, s.app_version, s.authored_at, s.recorded_at
FROM submissions s;
DROP TABLE submissions;
ALTER TABLE submissions_v3 RENAME TO submissions;
CREATE INDEX submissions_subject_time ON submissions (tenant_key, subject_id, authored_at, id);

CREATE TABLE observations_v3 (
    tenant_key    BIGINT           NOT NULL,
    subject_id    BYTEA            NOT NULL,
    code          TEXT             NOT NULL,
    effective_at  BIGINT           NOT NULL,
    submission_id BYTEA            NOT NULL,
    position      BIGINT           NOT NULL,
    field         TEXT             NOT NULL,
    value         DOUBLE PRECISION NOT NULL,
    unit          TEXT             NOT NULL,
    PRIMARY KEY (tenant_key, subject_id, code, effective_at, submission_id, position)
)
--sqlite: WITHOUT ROWID
;
INSERT INTO observations_v3 (tenant_key, subject_id, code, effective_at, submission_id,
                             position, field, value, unit)
SELECT (SELECT t.tenant_key FROM tenants t WHERE t.id = o.tenant_id), o.subject_id, o.code,
       o.effective_at, o.submission_id, o.position, o.field, o.value, o.unit
FROM observations o;
DROP TABLE observations;
ALTER TABLE observations_v3 RENAME TO observations;

CREATE TABLE news2_scores_v3 (
    tenant_key        BIGINT NOT NULL,
    subject_id        BYTEA  NOT NULL,
    effective_at      BIGINT NOT NULL,
    submission_id     BYTEA  NOT NULL,
    total             BIGINT NOT NULL,
    risk              TEXT   NOT NULL,
    highest_parameter BIGINT NOT NULL,
    PRIMARY KEY (tenant_key, subject_id, effective_at, submission_id)
)
--sqlite: WITHOUT ROWID
;
INSERT INTO news2_scores_v3 (tenant_key, subject_id, effective_at, submission_id, total, risk,
                             highest_parameter)
SELECT (SELECT t.tenant_key FROM tenants t WHERE t.id = n.tenant_id), n.subject_id,
       n.effective_at, n.submission_id, n.total, n.risk, n.highest_parameter
FROM news2_scores n;
DROP TABLE news2_scores;
ALTER TABLE news2_scores_v3 RENAME TO news2_scores;

-- A claim's request hash and stream id are packed (`packed::claim_hash`, `claim_stream`): a
-- tag byte, then 32 or 16 bytes for a SHA-256 in lowercase hex or a canonical UUID (tag 1),
-- or the text as it was (tag 0).
CREATE TABLE idempotency_keys_v3 (
    tenant_key      BIGINT NOT NULL,
    actor           TEXT   NOT NULL,
    idempotency_key TEXT   NOT NULL,
    request_hash    BYTEA  NOT NULL,
    stream_id       BYTEA  NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_key, actor, idempotency_key)
)
--sqlite: WITHOUT ROWID
;
--sqlite: INSERT INTO idempotency_keys_v3 (tenant_key, actor, idempotency_key, request_hash,
--sqlite:                                  stream_id, created_at)
--sqlite: SELECT (SELECT t.tenant_key FROM tenants t WHERE t.id = k.tenant_id), k.actor,
--sqlite:        k.idempotency_key,
--sqlite:        CASE WHEN length(k.request_hash) = 64 AND k.request_hash NOT GLOB '*[^0-9a-f]*'
--sqlite:             THEN unhex('01' || k.request_hash) ELSE unhex('00' || hex(k.request_hash)) END,
--sqlite:        CASE WHEN k.stream_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
--sqlite:             THEN unhex('01' || replace(k.stream_id, '-', ''))
--sqlite:             ELSE unhex('00' || hex(k.stream_id)) END,
--sqlite:        k.created_at
--sqlite: FROM idempotency_keys k;
--postgres: INSERT INTO idempotency_keys_v3 (tenant_key, actor, idempotency_key, request_hash,
--postgres:                                  stream_id, created_at)
--postgres: SELECT (SELECT t.tenant_key FROM tenants t WHERE t.id = k.tenant_id), k.actor,
--postgres:        k.idempotency_key,
--postgres:        CASE WHEN k.request_hash ~ '^[0-9a-f]{64}$'
--postgres:             THEN decode('01' || k.request_hash, 'hex')
--postgres:             ELSE decode('00', 'hex') || convert_to(k.request_hash, 'UTF8') END,
--postgres:        CASE WHEN k.stream_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
--postgres:             THEN decode('01' || replace(k.stream_id, '-', ''), 'hex')
--postgres:             ELSE decode('00', 'hex') || convert_to(k.stream_id, 'UTF8') END,
--postgres:        k.created_at
--postgres: FROM idempotency_keys k;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_v3 RENAME TO idempotency_keys;
