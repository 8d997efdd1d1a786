-- The patient app and the clinician overview: apps assigned to subjects, and the newest of each
-- subject's readings kept beside their history, so that a patient's home and the clinicians'
-- overview read a few rows instead of whole histories. All are projections, rebuilt from the
-- log; the statements below fill them from the rows an existing database already holds, and
-- pick the same rows a replay does ("newest" is by time, then by submission id's bytes).
--
-- Lines marked `--sqlite:` or `--postgres:` are that engine's alone (see `migrations.rs`).
-- Ids are UUID text where the table is joined with other text-keyed tables (subjects, apps),
-- 16 bytes where it grows with every submission (`news2_scores`).

-- An app asked of a subject on a schedule; `ended_at` is set when it asks for nothing more.
CREATE TABLE assignments (
    tenant_id  TEXT   NOT NULL,
    id         TEXT   NOT NULL,
    subject_id TEXT   NOT NULL,
    app_id     TEXT   NOT NULL,
    schedule   TEXT   NOT NULL,
    starts_on  TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at   BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX assignments_subject ON assignments (tenant_id, subject_id, app_id);

-- The newest submission of each app by each subject, by `authored_at`.
CREATE TABLE latest_submissions (
    tenant_id     TEXT   NOT NULL,
    subject_id    TEXT   NOT NULL,
    app_id        TEXT   NOT NULL,
    authored_at   BIGINT NOT NULL,
    submission_id BYTEA  NOT NULL,
    PRIMARY KEY (tenant_id, subject_id, app_id)
)
--sqlite: WITHOUT ROWID
;

-- The newest observation of each code for each subject.
CREATE TABLE latest_observations (
    tenant_id     TEXT             NOT NULL,
    subject_id    TEXT             NOT NULL,
    code          TEXT             NOT NULL,
    effective_at  BIGINT           NOT NULL,
    submission_id BYTEA            NOT NULL,
    position      BIGINT           NOT NULL,
    value         DOUBLE PRECISION NOT NULL,
    unit          TEXT             NOT NULL,
    PRIMARY KEY (tenant_id, subject_id, code)
)
--sqlite: WITHOUT ROWID
;

-- Every NEWS2 a submission scored: its total, risk band and highest single parameter score.
CREATE TABLE news2_scores (
    tenant_id         TEXT   NOT NULL,
    subject_id        BYTEA  NOT NULL,
    effective_at      BIGINT NOT NULL,
    submission_id     BYTEA  NOT NULL,
    total             BIGINT NOT NULL,
    risk              TEXT   NOT NULL,
    highest_parameter BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subject_id, effective_at, submission_id)
)
--sqlite: WITHOUT ROWID
;

-- Each subject's newest NEWS2.
CREATE TABLE latest_news2 (
    tenant_id         TEXT   NOT NULL,
    subject_id        TEXT   NOT NULL,
    effective_at      BIGINT NOT NULL,
    submission_id     BYTEA  NOT NULL,
    total             BIGINT NOT NULL,
    risk              TEXT   NOT NULL,
    highest_parameter BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subject_id)
)
--sqlite: WITHOUT ROWID
;

--sqlite: INSERT INTO latest_submissions (tenant_id, subject_id, app_id, authored_at, submission_id)
--sqlite: SELECT tenant_id,
--sqlite:        lower(substr(hex(subject_id), 1, 8) || '-' || substr(hex(subject_id), 9, 4) || '-' || substr(hex(subject_id), 13, 4) || '-' || substr(hex(subject_id), 17, 4) || '-' || substr(hex(subject_id), 21)),
--sqlite:        lower(substr(hex(app_id), 1, 8) || '-' || substr(hex(app_id), 9, 4) || '-' || substr(hex(app_id), 13, 4) || '-' || substr(hex(app_id), 17, 4) || '-' || substr(hex(app_id), 21)),
--sqlite:        authored_at, id
--sqlite: FROM (SELECT tenant_id, subject_id, app_id, authored_at, id, ROW_NUMBER() OVER (
--sqlite:         PARTITION BY tenant_id, subject_id, app_id ORDER BY authored_at DESC, id DESC) AS newest
--sqlite:       FROM submissions) AS ranked
--sqlite: WHERE newest = 1;
--postgres: INSERT INTO latest_submissions (tenant_id, subject_id, app_id, authored_at, submission_id)
--postgres: SELECT tenant_id, encode(subject_id, 'hex')::uuid::text, encode(app_id, 'hex')::uuid::text, authored_at, id
--postgres: FROM (SELECT tenant_id, subject_id, app_id, authored_at, id, ROW_NUMBER() OVER (
--postgres:         PARTITION BY tenant_id, subject_id, app_id ORDER BY authored_at DESC, id DESC) AS newest
--postgres:       FROM submissions) AS ranked
--postgres: WHERE newest = 1;

--sqlite: INSERT INTO latest_observations (tenant_id, subject_id, code, effective_at, submission_id, position, value, unit)
--sqlite: SELECT tenant_id,
--sqlite:        lower(substr(hex(subject_id), 1, 8) || '-' || substr(hex(subject_id), 9, 4) || '-' || substr(hex(subject_id), 13, 4) || '-' || substr(hex(subject_id), 17, 4) || '-' || substr(hex(subject_id), 21)),
--sqlite:        code, effective_at, submission_id, position, value, unit
--sqlite: FROM (SELECT tenant_id, subject_id, code, effective_at, submission_id, position, value, unit, ROW_NUMBER() OVER (
--sqlite:         PARTITION BY tenant_id, subject_id, code ORDER BY effective_at DESC, submission_id DESC, position DESC) AS newest
--sqlite:       FROM observations) AS ranked
--sqlite: WHERE newest = 1;
--postgres: INSERT INTO latest_observations (tenant_id, subject_id, code, effective_at, submission_id, position, value, unit)
--postgres: SELECT tenant_id, encode(subject_id, 'hex')::uuid::text, code, effective_at, submission_id, position, value, unit
--postgres: FROM (SELECT tenant_id, subject_id, code, effective_at, submission_id, position, value, unit, ROW_NUMBER() OVER (
--postgres:         PARTITION BY tenant_id, subject_id, code ORDER BY effective_at DESC, submission_id DESC, position DESC) AS newest
--postgres:       FROM observations) AS ranked
--postgres: WHERE newest = 1;

-- A NEWS2 counts only with its total, risk and all seven parameter scores, as in the
-- projection (SQLite's max() of several values is NULL when any is).
--sqlite: INSERT INTO news2_scores (tenant_id, subject_id, effective_at, submission_id, total, risk, highest_parameter)
--sqlite: SELECT tenant_id, subject_id, authored_at, id, total, risk, highest FROM (
--sqlite:   SELECT s.tenant_id, s.subject_id, s.authored_at, s.id,
--sqlite:          json_extract(e.payload, '$.submission_received.scores.news2.total') AS total,
--sqlite:          json_extract(e.payload, '$.submission_received.scores.news2.risk') AS risk,
--sqlite:          max(json_extract(e.payload, '$.submission_received.scores.news2.parameters.respiration_rate'),
--sqlite:              json_extract(e.payload, '$.submission_received.scores.news2.parameters.spo2'),
--sqlite:              json_extract(e.payload, '$.submission_received.scores.news2.parameters.air_or_oxygen'),
--sqlite:              json_extract(e.payload, '$.submission_received.scores.news2.parameters.systolic_bp'),
--sqlite:              json_extract(e.payload, '$.submission_received.scores.news2.parameters.pulse'),
--sqlite:              json_extract(e.payload, '$.submission_received.scores.news2.parameters.consciousness'),
--sqlite:              json_extract(e.payload, '$.submission_received.scores.news2.parameters.temperature')) AS highest
--sqlite:   FROM submissions s JOIN events e ON e.tenant_id = s.tenant_id AND e.seq = s.event_seq) AS scored
--sqlite: WHERE total IS NOT NULL AND risk IS NOT NULL AND highest IS NOT NULL;
--postgres: INSERT INTO news2_scores (tenant_id, subject_id, effective_at, submission_id, total, risk, highest_parameter)
--postgres: SELECT tenant_id, subject_id, authored_at, id, total, risk,
--postgres:        GREATEST(respiration_rate, spo2, air_or_oxygen, systolic_bp, pulse, consciousness, temperature) FROM (
--postgres:   SELECT s.tenant_id, s.subject_id, s.authored_at, s.id,
--postgres:          (e.payload::json #>> '{submission_received,scores,news2,total}')::bigint AS total,
--postgres:          e.payload::json #>> '{submission_received,scores,news2,risk}' AS risk,
--postgres:          (e.payload::json #>> '{submission_received,scores,news2,parameters,respiration_rate}')::bigint AS respiration_rate,
--postgres:          (e.payload::json #>> '{submission_received,scores,news2,parameters,spo2}')::bigint AS spo2,
--postgres:          (e.payload::json #>> '{submission_received,scores,news2,parameters,air_or_oxygen}')::bigint AS air_or_oxygen,
--postgres:          (e.payload::json #>> '{submission_received,scores,news2,parameters,systolic_bp}')::bigint AS systolic_bp,
--postgres:          (e.payload::json #>> '{submission_received,scores,news2,parameters,pulse}')::bigint AS pulse,
--postgres:          (e.payload::json #>> '{submission_received,scores,news2,parameters,consciousness}')::bigint AS consciousness,
--postgres:          (e.payload::json #>> '{submission_received,scores,news2,parameters,temperature}')::bigint AS temperature
--postgres:   FROM submissions s JOIN events e ON e.tenant_id = s.tenant_id AND e.seq = s.event_seq) AS scored
--postgres: WHERE total IS NOT NULL AND risk IS NOT NULL AND respiration_rate IS NOT NULL AND spo2 IS NOT NULL AND air_or_oxygen IS NOT NULL AND systolic_bp IS NOT NULL AND pulse IS NOT NULL AND consciousness IS NOT NULL AND temperature IS NOT NULL;

--sqlite: INSERT INTO latest_news2 (tenant_id, subject_id, effective_at, submission_id, total, risk, highest_parameter)
--sqlite: SELECT tenant_id,
--sqlite:        lower(substr(hex(subject_id), 1, 8) || '-' || substr(hex(subject_id), 9, 4) || '-' || substr(hex(subject_id), 13, 4) || '-' || substr(hex(subject_id), 17, 4) || '-' || substr(hex(subject_id), 21)),
--sqlite:        effective_at, submission_id, total, risk, highest_parameter
--sqlite: FROM (SELECT tenant_id, subject_id, effective_at, submission_id, total, risk, highest_parameter, ROW_NUMBER() OVER (
--sqlite:         PARTITION BY tenant_id, subject_id ORDER BY effective_at DESC, submission_id DESC) AS newest
--sqlite:       FROM news2_scores) AS ranked
--sqlite: WHERE newest = 1;
--postgres: INSERT INTO latest_news2 (tenant_id, subject_id, effective_at, submission_id, total, risk, highest_parameter)
--postgres: SELECT tenant_id, encode(subject_id, 'hex')::uuid::text, effective_at, submission_id, total, risk, highest_parameter
--postgres: FROM (SELECT tenant_id, subject_id, effective_at, submission_id, total, risk, highest_parameter, ROW_NUMBER() OVER (
--postgres:         PARTITION BY tenant_id, subject_id ORDER BY effective_at DESC, submission_id DESC) AS newest
--postgres:       FROM news2_scores) AS ranked
--postgres: WHERE newest = 1;
