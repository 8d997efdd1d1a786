//! Read-model projections: a pure function from each event to the SQL statements that update
//! the read models. The writer runs them in the transaction that appends the event; a rebuild
//! runs them again for every event in the log. Nothing here reads the clock, the database or
//! anything but the event, which is what makes a rebuild reproduce the read models exactly.

use std::collections::BTreeMap;

use hale_domain::event::{EventBody, RecordedEvent};
use serde::Deserialize;

use crate::bulk::{Bind, BulkInsert, Statement};

/// Every table this module writes, in an order safe to empty them.
pub(crate) const TABLES: [&str; 19] = [
    "app_media",
    "latest_news2",
    "news2_scores",
    "latest_observations",
    "latest_submissions",
    "assignments",
    "observations",
    "submissions",
    "app_versions",
    "apps",
    "subject_identifiers",
    "subjects",
    "account_links",
    "api_keys",
    "sessions",
    "recovery_codes",
    "account_invites",
    "accounts",
    "tenants",
];

fn text(value: impl ToString) -> Bind {
    Bind::Text(value.to_string())
}

/// The statements projecting one event other than a submission (submissions go through
/// [`SubmissionRows`], in bulk).
fn single(event: &RecordedEvent, body: &EventBody, out: &mut Vec<Statement>) {
    let tenant = event.tenant_id.to_string();
    let at = Bind::Integer(event.recorded_at.as_micros());
    match body {
        EventBody::TenantCreated {
            tenant_id,
            slug,
            name,
        } => out.push(Statement::new(
            "INSERT INTO tenants (id, slug, name, created_at, tenant_key) \
             VALUES ($1, $2, $3, $4, $5)",
            // The tenant's key in the tables that grow with every submission: its creation's
            // place in the platform chain, unique and the same on every replay.
            vec![
                text(tenant_id),
                text(slug),
                text(name),
                at,
                Bind::Integer(event.seq),
            ],
        )),
        EventBody::SubjectRegistered {
            subject_id,
            identifiers,
            display_name,
            birth_date,
            identifier_keys,
        } => {
            let payload = serde_json::json!({
                "identifiers": identifiers,
                "display_name": display_name,
                "birth_date": birth_date,
            });
            out.push(Statement::new(
                "INSERT INTO subjects (tenant_id, id, created_at, payload) VALUES ($1, $2, $3, $4)",
                vec![text(&tenant), text(subject_id), at, text(payload)],
            ));
            let mut keys = BulkInsert::new(
                "INSERT INTO subject_identifiers (tenant_id, identifier_key, subject_id)",
                3,
            );
            for key in identifier_keys {
                keys.row([text(&tenant), text(key), text(subject_id)]);
            }
            keys.drain_into(out);
        }
        EventBody::AppCreated { app_id, name } => out.push(Statement::new(
            "INSERT INTO apps (tenant_id, id, name, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            vec![
                text(&tenant),
                text(app_id),
                text(name),
                text(&event.actor),
                at,
            ],
        )),
        EventBody::AppVersionDrafted {
            app_id,
            version,
            definition,
            compiled,
            source,
        } => out.push(Statement::new(
            "INSERT INTO app_versions (tenant_id, app_id, version, status, definition, \
             compiled, author, created_at, source) \
             VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8)",
            vec![
                text(&tenant),
                text(app_id),
                Bind::Integer(*version),
                text(definition.get()),
                text(compiled.get()),
                text(&event.actor),
                at,
                Bind::OptionalText(source.as_ref().map(|source| source.get().to_owned())),
            ],
        )),
        EventBody::AppVersionStatusChanged {
            app_id,
            version,
            status,
            comment,
            report,
        } => {
            out.push(Statement::new(
                "UPDATE app_versions SET status = $1, status_by = $2, status_at = $3, \
                 status_comment = $4, report = COALESCE($5, report) \
                 WHERE tenant_id = $6 AND app_id = $7 AND version = $8",
                vec![
                    text(status.as_str()),
                    text(&event.actor),
                    at,
                    Bind::OptionalText(comment.clone()),
                    Bind::OptionalText(report.as_ref().map(|report| report.get().to_owned())),
                    text(&tenant),
                    text(app_id),
                    Bind::Integer(*version),
                ],
            ));
            // The app's current version is its newest published one.
            out.push(Statement::new(
                "UPDATE apps SET current_version = (SELECT MAX(version) FROM app_versions \
                 WHERE tenant_id = $1 AND app_id = $2 AND status = 'published') \
                 WHERE tenant_id = $1 AND id = $2",
                vec![text(&tenant), text(app_id)],
            ));
        }
        EventBody::MediaAttached {
            sha256,
            media_type,
            content,
        } => {
            use base64::Engine as _;
            // The append checked the content; bytes that no longer decode are not projected,
            // so the file reads as missing rather than as something else.
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(content) {
                out.push(Statement::new(
                    "INSERT INTO app_media (tenant_id, sha256, media_type, content) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, sha256) DO NOTHING",
                    vec![
                        text(&tenant),
                        text(sha256),
                        text(media_type),
                        Bind::Blob(bytes),
                    ],
                ));
            }
        }
        EventBody::SubmissionReceived { .. } => {
            let mut rows = SubmissionRows::new();
            rows.add(event, body);
            rows.drain_into(out);
        }
        EventBody::AssignmentMade {
            assignment_id,
            subject_id,
            app_id,
            schedule,
            starts_on,
        } => out.push(Statement::new(
            "INSERT INTO assignments (tenant_id, id, subject_id, app_id, schedule, starts_on, \
             created_by, created_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
            vec![
                text(&tenant),
                text(assignment_id),
                text(subject_id),
                text(app_id),
                // A plain enum of a few words: serialising it cannot fail.
                text(serde_json::to_string(schedule).unwrap_or_default()),
                text(starts_on),
                text(&event.actor),
                at,
            ],
        )),
        EventBody::AssignmentEnded { assignment_id, .. } => out.push(Statement::new(
            "UPDATE assignments SET ended_at = $1 WHERE tenant_id = $2 AND id = $3",
            vec![at, text(&tenant), text(assignment_id)],
        )),
        account => accounts(event, account, out),
    }
}

/// The statements projecting an account event. Every one also records the account stream's
/// version, which a sign-in appends against so that a TOTP step or recovery code is spent once.
fn accounts(event: &RecordedEvent, body: &EventBody, out: &mut Vec<Statement>) {
    let tenant = event.tenant_id.to_string();
    let at = Bind::Integer(event.recorded_at.as_micros());
    let optional_time = |time: &Option<hale_domain::Timestamp>| {
        Bind::OptionalInteger(time.map(|time| time.as_micros()))
    };
    let account = match body {
        EventBody::AccountCreated {
            account_id,
            kind,
            username,
            display_name,
            roles,
            subject_id,
            password_hash,
            ..
        } => {
            out.push(Statement::new(
                "INSERT INTO accounts (tenant_id, id, kind, username, display_name, roles, \
                 subject_id, disabled, password_hash, version, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, 0, $9)",
                vec![
                    text(&tenant),
                    text(account_id),
                    text(kind),
                    text(username),
                    text(display_name),
                    text(roles.join(" ")),
                    Bind::OptionalText(subject_id.map(|id| id.to_string())),
                    Bind::OptionalText(password_hash.clone()),
                    at,
                ],
            ));
            account_id
        }
        EventBody::AccountInvited {
            account_id,
            invite_hash,
            expires_at,
        } => {
            out.push(Statement::new(
                "INSERT INTO account_invites (invite_hash, tenant_id, account_id, expires_at) \
                 VALUES ($1, $2, $3, $4)",
                vec![
                    text(invite_hash),
                    text(&tenant),
                    text(account_id),
                    Bind::Integer(expires_at.as_micros()),
                ],
            ));
            account_id
        }
        EventBody::PasswordSet {
            account_id,
            password_hash,
        } => {
            out.push(Statement::new(
                "UPDATE accounts SET password_hash = $1 WHERE id = $2",
                vec![text(password_hash), text(account_id)],
            ));
            out.push(Statement::new(
                "DELETE FROM account_invites WHERE account_id = $1",
                vec![text(account_id)],
            ));
            account_id
        }
        EventBody::MfaEnrolled {
            account_id,
            totp_secret,
            totp_step,
            recovery_code_hashes,
        } => {
            out.push(Statement::new(
                "UPDATE accounts SET totp_secret = $1, totp_last_step = $2 WHERE id = $3",
                vec![
                    text(totp_secret),
                    Bind::Integer(*totp_step),
                    text(account_id),
                ],
            ));
            out.push(Statement::new(
                "DELETE FROM recovery_codes WHERE account_id = $1",
                vec![text(account_id)],
            ));
            let mut codes = BulkInsert::new(
                "INSERT INTO recovery_codes (tenant_id, account_id, code_hash, used_at)",
                4,
            );
            for hash in recovery_code_hashes {
                codes.row([
                    text(&tenant),
                    text(account_id),
                    text(hash),
                    Bind::OptionalInteger(None),
                ]);
            }
            codes.drain_into(out);
            account_id
        }
        EventBody::SignedIn {
            account_id,
            session_hash,
            csrf_hash,
            expires_at,
            mfa,
            method,
            totp_step,
            recovery_code_hash,
            roles,
        } => {
            out.push(Statement::new(
                "INSERT INTO sessions (session_hash, tenant_id, account_id, csrf_hash, mfa, \
                 method, created_at, expires_at, roles) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                vec![
                    text(session_hash),
                    text(&tenant),
                    text(account_id),
                    text(csrf_hash),
                    Bind::Integer(i64::from(*mfa)),
                    text(method),
                    at.clone(),
                    Bind::Integer(expires_at.as_micros()),
                    Bind::OptionalText(roles.as_ref().map(|roles| roles.join(" "))),
                ],
            ));
            if let Some(step) = totp_step {
                out.push(Statement::new(
                    "UPDATE accounts SET totp_last_step = $1 WHERE id = $2",
                    vec![Bind::Integer(*step), text(account_id)],
                ));
            }
            if let Some(hash) = recovery_code_hash {
                out.push(Statement::new(
                    "UPDATE recovery_codes SET used_at = $1 WHERE account_id = $2 AND code_hash = $3",
                    vec![at.clone(), text(account_id), text(hash)],
                ));
            }
            account_id
        }
        EventBody::SignedOut {
            account_id,
            session_hash,
        } => {
            out.push(Statement::new(
                "DELETE FROM sessions WHERE session_hash = $1 AND account_id = $2",
                vec![text(session_hash), text(account_id)],
            ));
            account_id
        }
        EventBody::SignedOutEverywhere { account_id } => {
            out.push(Statement::new(
                "DELETE FROM sessions WHERE account_id = $1",
                vec![text(account_id)],
            ));
            out.push(Statement::new(
                "UPDATE accounts SET signed_out_at = $1 WHERE id = $2",
                vec![at.clone(), text(account_id)],
            ));
            account_id
        }
        EventBody::AccountDisabled { account_id } => {
            out.push(Statement::new(
                "UPDATE accounts SET disabled = 1 WHERE id = $1",
                vec![text(account_id)],
            ));
            out.push(Statement::new(
                "DELETE FROM sessions WHERE account_id = $1",
                vec![text(account_id)],
            ));
            account_id
        }
        EventBody::AccountLinked {
            account_id,
            issuer,
            external_subject,
        } => {
            out.push(Statement::new(
                "INSERT INTO account_links (issuer, external_subject, tenant_id, account_id) \
                 VALUES ($1, $2, $3, $4)",
                vec![
                    text(issuer),
                    text(external_subject),
                    text(&tenant),
                    text(account_id),
                ],
            ));
            account_id
        }
        EventBody::ApiKeyCreated {
            account_id,
            key_id,
            key_hash,
            label,
            scopes,
            expires_at,
        } => {
            out.push(Statement::new(
                "INSERT INTO api_keys (key_hash, tenant_id, id, account_id, label, scopes, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                vec![
                    text(key_hash),
                    text(&tenant),
                    text(key_id),
                    text(account_id),
                    text(label),
                    text(scopes),
                    at.clone(),
                    optional_time(expires_at),
                ],
            ));
            account_id
        }
        EventBody::ApiKeyRevoked { account_id, key_id } => {
            out.push(Statement::new(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND account_id = $3",
                vec![at.clone(), text(key_id), text(account_id)],
            ));
            account_id
        }
        _ => return,
    };
    out.push(Statement::new(
        "UPDATE accounts SET version = $1 WHERE id = $2",
        vec![Bind::Integer(event.stream_version), text(account)],
    ));
}

/// A NEWS2 as a submission's scores hold it (`{"news2": {"total", "risk", "parameters"}}`).
#[derive(Deserialize)]
struct Scores {
    news2: Option<News2>,
}

#[derive(Deserialize)]
struct News2 {
    total: i64,
    risk: String,
    parameters: News2Parameters,
}

/// Each parameter's score; a NEWS2 is only scored with all seven (the migration that fills
/// `news2_scores` from existing rows requires them all too).
#[derive(Deserialize)]
struct News2Parameters {
    respiration_rate: i64,
    spo2: i64,
    air_or_oxygen: i64,
    systolic_bp: i64,
    pulse: i64,
    consciousness: i64,
    temperature: i64,
}

impl News2Parameters {
    fn highest(&self) -> i64 {
        [
            self.respiration_rate,
            self.spo2,
            self.air_or_oxygen,
            self.systolic_bp,
            self.pulse,
            self.consciousness,
            self.temperature,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

/// The newest of something, by time and then by submission id's bytes: a total order, so a
/// replay keeps the same row however its events are grouped into batches.
type Newest = (i64, Vec<u8>);

/// A newest observation: its time and submission, then its position; its value and unit.
type NewestObservation = ((Newest, i64), f64, String);

/// A newest NEWS2: its time and submission; its total, risk and highest parameter score.
type NewestNews2 = (Newest, i64, String, i64);

/// Submission and observation rows gathered for multi-row inserts: submissions are the bulk of
/// all events, so a batch of them costs a few statements. The newest-of tables keep one row
/// per key of the batch (PostgreSQL updates a row once per statement), and their upserts keep
/// whichever of the stored and the new row is newer.
struct SubmissionRows {
    submissions: BulkInsert,
    observations: BulkInsert,
    news2: BulkInsert,
    /// (tenant, subject, app) → newest submission.
    latest_submissions: BTreeMap<(String, String, String), Newest>,
    /// (tenant, subject, code) → newest observation.
    latest_observations: BTreeMap<(String, String, String), NewestObservation>,
    /// (tenant, subject) → newest NEWS2.
    latest_news2: BTreeMap<(String, String), NewestNews2>,
}

impl SubmissionRows {
    fn new() -> Self {
        Self {
            submissions: BulkInsert::new(
                "INSERT INTO submissions (tenant_key, event_seq, id, subject_id, app_id, \
                 app_version, authored_at, recorded_at)",
                8,
            )
            .tenant_keyed(),
            observations: BulkInsert::new(
                "INSERT INTO observations (tenant_key, subject_id, code, effective_at, \
                 submission_id, position, field, value, unit)",
                9,
            )
            .tenant_keyed(),
            news2: BulkInsert::new(
                "INSERT INTO news2_scores (tenant_key, subject_id, effective_at, \
                 submission_id, total, risk, highest_parameter)",
                7,
            )
            .tenant_keyed(),
            latest_submissions: BTreeMap::new(),
            latest_observations: BTreeMap::new(),
            latest_news2: BTreeMap::new(),
        }
    }

    /// Gathers the rows of a `SubmissionReceived` event; ignores any other event. The answers
    /// and scores stay in the event alone: the submission row points at it by `event_seq`.
    fn add(&mut self, event: &RecordedEvent, body: &EventBody) {
        let EventBody::SubmissionReceived {
            submission_id,
            subject_id,
            app_id,
            app_version,
            authored_at,
            observations,
            scores,
            ..
        } = body
        else {
            return;
        };
        let tenant = event.tenant_id.to_string();
        let submission = Bind::id(submission_id.as_uuid());
        let subject = Bind::id(subject_id.as_uuid());
        let authored = authored_at.as_micros();
        let newest: Newest = (authored, submission_id.as_uuid().as_bytes().to_vec());
        self.submissions.row([
            text(&tenant),
            Bind::Integer(event.seq),
            submission.clone(),
            subject.clone(),
            Bind::id(app_id.as_uuid()),
            Bind::Integer(*app_version),
            Bind::Integer(authored),
            Bind::Integer(event.recorded_at.as_micros()),
        ]);
        keep_newest(
            &mut self.latest_submissions,
            (tenant.clone(), subject_id.to_string(), app_id.to_string()),
            newest.clone(),
            |kept| kept,
        );
        for observation in observations {
            self.observations.row([
                text(&tenant),
                subject.clone(),
                text(&observation.code),
                Bind::Integer(authored),
                submission.clone(),
                Bind::Integer(i64::from(observation.index)),
                text(&observation.field),
                Bind::Real(observation.value),
                text(&observation.unit),
            ]);
            // Within one submission, the later position of a code is the newer.
            keep_newest(
                &mut self.latest_observations,
                (
                    tenant.clone(),
                    subject_id.to_string(),
                    observation.code.clone(),
                ),
                (
                    (newest.clone(), i64::from(observation.index)),
                    observation.value,
                    observation.unit.clone(),
                ),
                |kept| &kept.0,
            );
        }
        let news2 = scores
            .as_ref()
            .and_then(|scores| serde_json::from_str::<Scores>(scores.get()).ok())
            .and_then(|scores| scores.news2);
        if let Some(news2) = news2 {
            let highest = news2.parameters.highest();
            self.news2.row([
                text(&tenant),
                subject,
                Bind::Integer(authored),
                submission,
                Bind::Integer(news2.total),
                text(&news2.risk),
                Bind::Integer(highest),
            ]);
            keep_newest(
                &mut self.latest_news2,
                (tenant, subject_id.to_string()),
                (newest, news2.total, news2.risk, highest),
                |kept| &kept.0,
            );
        }
    }

    fn drain_into(&mut self, out: &mut Vec<Statement>) {
        self.submissions.drain_into(out);
        self.observations.drain_into(out);
        self.news2.drain_into(out);
        let mut submissions = BulkInsert::new(
            "INSERT INTO latest_submissions (tenant_id, subject_id, app_id, authored_at, \
             submission_id)",
            5,
        )
        .upsert(
            "ON CONFLICT (tenant_id, subject_id, app_id) DO UPDATE SET \
             authored_at = excluded.authored_at, submission_id = excluded.submission_id \
             WHERE (excluded.authored_at, excluded.submission_id) > \
             (latest_submissions.authored_at, latest_submissions.submission_id)",
        );
        for ((tenant, subject, app), (at, id)) in std::mem::take(&mut self.latest_submissions) {
            submissions.row([
                text(tenant),
                text(subject),
                text(app),
                Bind::Integer(at),
                Bind::Blob(id),
            ]);
        }
        submissions.drain_into(out);
        let mut observations = BulkInsert::new(
            "INSERT INTO latest_observations (tenant_id, subject_id, code, effective_at, \
             submission_id, position, value, unit)",
            8,
        )
        .upsert(
            "ON CONFLICT (tenant_id, subject_id, code) DO UPDATE SET \
             effective_at = excluded.effective_at, submission_id = excluded.submission_id, \
             position = excluded.position, value = excluded.value, unit = excluded.unit \
             WHERE (excluded.effective_at, excluded.submission_id, excluded.position) > \
             (latest_observations.effective_at, latest_observations.submission_id, \
             latest_observations.position)",
        );
        for ((tenant, subject, code), (((at, id), position), value, unit)) in
            std::mem::take(&mut self.latest_observations)
        {
            observations.row([
                text(tenant),
                text(subject),
                text(code),
                Bind::Integer(at),
                Bind::Blob(id),
                Bind::Integer(position),
                Bind::Real(value),
                text(unit),
            ]);
        }
        observations.drain_into(out);
        let mut news2 = BulkInsert::new(
            "INSERT INTO latest_news2 (tenant_id, subject_id, effective_at, submission_id, \
             total, risk, highest_parameter)",
            7,
        )
        .upsert(
            "ON CONFLICT (tenant_id, subject_id) DO UPDATE SET \
             effective_at = excluded.effective_at, submission_id = excluded.submission_id, \
             total = excluded.total, risk = excluded.risk, \
             highest_parameter = excluded.highest_parameter \
             WHERE (excluded.effective_at, excluded.submission_id) > \
             (latest_news2.effective_at, latest_news2.submission_id)",
        );
        for ((tenant, subject), ((at, id), total, risk, highest)) in
            std::mem::take(&mut self.latest_news2)
        {
            news2.row([
                text(tenant),
                text(subject),
                Bind::Integer(at),
                Bind::Blob(id),
                Bind::Integer(total),
                text(risk),
                Bind::Integer(highest),
            ]);
        }
        news2.drain_into(out);
    }
}

/// Keeps `candidate` under `key` unless what is kept there already is at least as new, by the
/// order `newest` reads from each.
fn keep_newest<K: Ord, V, O: Ord>(
    kept: &mut BTreeMap<K, V>,
    key: K,
    candidate: V,
    newest: impl Fn(&V) -> &O,
) {
    let newer = kept
        .get(&key)
        .is_none_or(|current| newest(current) < newest(&candidate));
    if newer {
        kept.insert(key, candidate);
    }
}

/// The statements projecting many events, in log order: submissions in multi-row inserts,
/// everything else one by one (pending submission rows go first, so order is kept).
pub(crate) fn statements<'a>(
    events: impl IntoIterator<Item = (&'a RecordedEvent, &'a EventBody)>,
) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut rows = SubmissionRows::new();
    for (event, body) in events {
        if matches!(body, EventBody::SubmissionReceived { .. }) {
            rows.add(event, body);
        } else {
            rows.drain_into(&mut out);
            single(event, body, &mut out);
        }
    }
    rows.drain_into(&mut out);
    out
}
