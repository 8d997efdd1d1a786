//! Health-check apps: creation, immutable numbered versions, and the review workflow that
//! stands between an analyst's draft and the patients who fill it in.

use std::sync::Arc;

use hale_domain::app::{VersionAction, transition};
use hale_domain::event::{EventBody, ExpectedVersion, NewEvent, StreamRef, VersionStatus};
use hale_domain::{AppId, RequestContext, Role, TenantId};
use hale_forms::{AppDefinition, CompiledForm};
use hale_store::{AppRow, AppVersionRow, Append};
use serde_json::value::RawValue;

use crate::{Core, CoreError, Target, remember};

pub use hale_domain::app::VersionAction as VersionStep;

/// An app and its versions (one page of them when read with [`Core::get_app`]).
#[derive(Clone, Debug)]
pub struct AppSummary {
    pub app: AppRow,
    pub versions: Vec<AppVersionRow>,
    /// The last version of this page when more follow: where the next page starts.
    pub next: Option<i64>,
}

/// Which page of an app's versions to read, oldest first.
#[derive(Clone, Copy, Debug, Default)]
pub struct VersionPage {
    /// Versions after this number.
    pub after: Option<i64>,
    /// Versions per page, bounded like every listing.
    pub limit: Option<i64>,
}

/// What comes with a workflow step: a comment, and with an approval the id of every lint
/// warning of the version, each one acknowledged by the reviewer.
#[derive(Clone, Debug, Default)]
pub struct StepNote {
    pub comment: Option<String>,
    pub acknowledged: Vec<String>,
}

/// A draft: the definition JSON exactly as the analyst wrote it.
#[derive(Clone, Debug)]
pub struct DraftVersion {
    pub definition: String,
    /// Where an imported definition was written, kept so that the version's lint names the
    /// cell or linkId of each finding; `None` for Hale's own format.
    pub source: Option<crate::app_io::VersionSource>,
}

impl DraftVersion {
    /// A draft in Hale's own format.
    pub fn hale(definition: String) -> Self {
        Self {
            definition,
            source: None,
        }
    }

    /// The source as the draft event records it.
    fn recorded_source(&self) -> Option<Box<RawValue>> {
        self.source
            .as_ref()
            .and_then(|source| RawValue::from_string(source.to_json()).ok())
    }
}

pub(crate) const STAFF: [Role; 5] = [
    Role::TenantAdmin,
    Role::Analyst,
    Role::Reviewer,
    Role::Clinician,
    Role::Researcher,
];

/// Staff see every version; patients and integrations only published ones.
fn sees_drafts(principal: &hale_domain::Principal) -> bool {
    principal.has_any_role(&STAFF) || principal.has_role(Role::PlatformAdmin)
}

fn compile(definition: &str) -> Result<(Box<RawValue>, Box<RawValue>), CoreError> {
    if crate::text::json_has_nul(definition) {
        return Err(CoreError::InvalidDefinition(vec![
            hale_forms::DefinitionError {
                path: String::from("$"),
                code: "invalid_character",
                message: String::from("a definition's text may not contain U+0000"),
            },
        ]));
    }
    let parsed = AppDefinition::from_json(definition).map_err(CoreError::InvalidDefinition)?;
    let compiled = parsed.compile().map_err(CoreError::InvalidDefinition)?;
    let definition = RawValue::from_string(definition.to_owned()).map_err(|_| {
        CoreError::invalid(
            "definition",
            "malformed_definition",
            "definition is not JSON",
        )
    })?;
    let compiled = serde_json::to_string(&compiled)
        .ok()
        .and_then(|text| RawValue::from_string(text).ok())
        .ok_or_else(|| CoreError::internal("a compiled form did not serialise"))?;
    Ok((definition, compiled))
}

fn name_of(name: &str) -> Result<String, CoreError> {
    hale_domain::tenant::parse_display_name(name)
        .map_err(|_| CoreError::invalid("name", "invalid_name", "name must be 1-200 characters"))
}

impl Core {
    /// Creates an app with its first version as a draft.
    pub async fn create_app(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        name: &str,
        draft: DraftVersion,
    ) -> Result<AppSummary, CoreError> {
        let target = Target {
            tenant: Some(tenant),
            kind: "app",
            id: None,
        };
        self.audited::<crate::policy::BuildApps, _>(context, "app.create", target, async {
            let name = name_of(name)?;
            let (definition, compiled) = compile(&draft.definition)?;
            let source = draft.recorded_source();
            let app_id = AppId::from_uuid(self.new_uuid());
            let stream = StreamRef::app(app_id);
            self.store()
                .append(Append {
                    tenant,
                    actor: context.actor(),
                    recorded_at: self.now(),
                    events: vec![
                        NewEvent {
                            stream: stream.clone(),
                            expected: ExpectedVersion::NoStream,
                            body: EventBody::AppCreated { app_id, name },
                        },
                        NewEvent {
                            stream,
                            expected: ExpectedVersion::Exact(1),
                            body: EventBody::AppVersionDrafted {
                                app_id,
                                version: 1,
                                definition,
                                compiled,
                                source,
                            },
                        },
                    ],
                    idempotency: None,
                    preconditions: Vec::new(),
                })
                .await?;
            self.app_summary(tenant, app_id).await
        })
        .await
    }

    /// Adds a new draft version; earlier versions, and submissions made against them, stay as
    /// they are.
    pub async fn draft_version(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app_id: AppId,
        draft: DraftVersion,
    ) -> Result<AppVersionRow, CoreError> {
        self.draft_version_after(context, tenant, app_id, draft, Vec::new())
            .await
    }

    /// [`Core::draft_version`], with `before` appended ahead of the draft on the app's stream
    /// in the same append: the media files it names first, which stand or fall with it.
    pub(crate) async fn draft_version_after(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app_id: AppId,
        draft: DraftVersion,
        before: Vec<EventBody>,
    ) -> Result<AppVersionRow, CoreError> {
        let id = app_id.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "app",
            id: Some(&id),
        };
        self.audited::<crate::policy::BuildApps, _>(context, "app.version.draft", target, async {
            let summary = self.app_summary(tenant, app_id).await?;
            let (definition, compiled) = compile(&draft.definition)?;
            let version = summary.versions.last().map_or(1, |last| last.version + 1);
            let drafted = EventBody::AppVersionDrafted {
                app_id,
                version,
                definition,
                compiled,
                source: draft.recorded_source(),
            };
            let events = before
                .into_iter()
                .chain([drafted])
                .map(|body| NewEvent {
                    stream: StreamRef::app(app_id),
                    expected: ExpectedVersion::Any,
                    body,
                })
                .collect();
            self.store()
                .append(Append {
                    tenant,
                    actor: context.actor(),
                    recorded_at: self.now(),
                    events,
                    idempotency: None,
                    preconditions: Vec::new(),
                })
                .await?;
            self.written_version(tenant, app_id, version).await
        })
        .await
    }

    /// Moves a version through review: submit, approve (publish), reject, retire.
    pub async fn step_version(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app_id: AppId,
        version: i64,
        step: VersionAction,
        note: StepNote,
    ) -> Result<AppVersionRow, CoreError> {
        let StepNote {
            comment,
            acknowledged,
        } = note;
        let id = format!("{app_id}/{version}");
        let target = Target {
            tenant: Some(tenant),
            kind: "app_version",
            id: Some(&id),
        };
        self.audited::<crate::policy::StepVersions, _>(context, "app.version.step", target, async {
            // The status is decided at the app stream's version it was read at, and the step
            // is appended only if the stream is still there: of two concurrent steps one wins
            // and the other is refused, never both applied against the same status.
            let (current, stream_version) = self
                .store()
                .app_version_and_stream_version(tenant, app_id, version)
                .await?
                .ok_or(CoreError::NotFound)?;
            let next = transition(current.status, step, &context.principal, &current.author)
                .map_err(|error| match error {
                    hale_domain::app::WorkflowError::MissingRole => CoreError::Forbidden,
                    hale_domain::app::WorkflowError::SelfApproval => CoreError::SelfApproval,
                    hale_domain::app::WorkflowError::InvalidTransition => {
                        CoreError::InvalidTransition
                    }
                })?;
            if step != VersionAction::Approve && !acknowledged.is_empty() {
                return Err(CoreError::invalid(
                    "acknowledged",
                    "not_an_approval",
                    "only an approval acknowledges lint warnings",
                ));
            }
            // Lint gates review: a version goes to review, and is approved, only without
            // errors, and an approval acknowledges each warning by its id; the report (with
            // the acknowledgements) is recorded with the step.
            let report = match step {
                VersionAction::SubmitForReview | VersionAction::Approve => {
                    let mut report = crate::app_io::stored_lint(&current)?;
                    if !report.is_publishable() {
                        return Err(CoreError::LintFailed(report));
                    }
                    if step == VersionAction::Approve {
                        report
                            .acknowledge(&acknowledged)
                            .map_err(CoreError::WarningsUnacknowledged)?;
                    }
                    serde_json::to_string(&report)
                        .ok()
                        .and_then(|text| RawValue::from_string(text).ok())
                }
                VersionAction::Reject | VersionAction::Retire => None,
            };
            if comment
                .as_deref()
                .is_some_and(crate::text::has_control_character)
            {
                return Err(CoreError::invalid(
                    "comment",
                    "invalid_character",
                    "a comment may not contain control characters other than line breaks and tabs",
                ));
            }
            if comment
                .as_ref()
                .is_some_and(|text| text.chars().count() > 2000)
            {
                return Err(CoreError::invalid(
                    "comment",
                    "too_long",
                    "a comment has at most 2000 characters",
                ));
            }
            self.store()
                .append(Append {
                    tenant,
                    actor: context.actor(),
                    recorded_at: self.now(),
                    events: vec![NewEvent {
                        stream: StreamRef::app(app_id),
                        expected: ExpectedVersion::Exact(stream_version),
                        body: EventBody::AppVersionStatusChanged {
                            app_id,
                            version,
                            status: next,
                            comment,
                            report,
                        },
                    }],
                    idempotency: None,
                    preconditions: Vec::new(),
                })
                .await
                .map_err(|error| match error {
                    hale_store::StoreError::Conflict(_) => CoreError::ConcurrentChange,
                    other => other.into(),
                })?;
            self.written_version(tenant, app_id, version).await
        })
        .await
    }

    pub async fn list_apps(
        &self,
        context: &RequestContext,
        tenant: TenantId,
    ) -> Result<Vec<AppRow>, CoreError> {
        let target = Target {
            tenant: Some(tenant),
            kind: "app",
            id: None,
        };
        self.audited::<crate::policy::ListApps, _>(context, "app.list", target, async {
            let apps = self.store().apps(tenant).await?;
            if sees_drafts(&context.principal) {
                Ok(apps)
            } else {
                Ok(apps
                    .into_iter()
                    .filter(|app| app.current_version.is_some())
                    .collect())
            }
        })
        .await
    }

    /// An app with one page of its versions; patients and integrations see published versions
    /// only.
    pub async fn get_app(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app_id: AppId,
        page: VersionPage,
    ) -> Result<AppSummary, CoreError> {
        let id = app_id.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "app",
            id: Some(&id),
        };
        self.audited::<crate::policy::ReadApps, _>(context, "app.read", target, async {
            let limit = crate::submissions::page_size(page.limit)?;
            let app = self
                .store()
                .app(tenant, app_id)
                .await?
                .ok_or(CoreError::NotFound)?;
            let published_only = !sees_drafts(&context.principal);
            let mut versions = self
                .store()
                .app_version_page(tenant, app_id, page.after, limit, published_only)
                .await?;
            if published_only && page.after.is_none() && versions.is_empty() {
                return Err(CoreError::NotFound);
            }
            let more = versions.len() as i64 > limit;
            versions.truncate(limit as usize);
            let next = more
                .then(|| versions.last().map(|row| row.version))
                .flatten();
            Ok(AppSummary {
                app,
                versions,
                next,
            })
        })
        .await
    }

    /// One version as its reader may see it: patients and integrations reach published
    /// versions only, and anything else looks missing.
    pub(crate) async fn visible_version(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app_id: AppId,
        version: i64,
    ) -> Result<AppVersionRow, CoreError> {
        self.store()
            .app_version(tenant, app_id, version)
            .await?
            .filter(|row| sees_drafts(&context.principal) || row.status == VersionStatus::Published)
            .ok_or(CoreError::NotFound)
    }

    /// A version just written: its absence means the store lost it, not that it is missing.
    async fn written_version(
        &self,
        tenant: TenantId,
        app_id: AppId,
        version: i64,
    ) -> Result<AppVersionRow, CoreError> {
        self.store()
            .app_version(tenant, app_id, version)
            .await?
            .ok_or_else(|| CoreError::internal("an app version just written is missing"))
    }

    async fn app_summary(&self, tenant: TenantId, app_id: AppId) -> Result<AppSummary, CoreError> {
        let app = self
            .store()
            .app(tenant, app_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let versions = self.store().app_versions(tenant, app_id).await?;
        Ok(AppSummary {
            app,
            versions,
            next: None,
        })
    }

    /// The compiled form of a version that was published when first read, from cache when
    /// possible. The cache holds only the immutable compiled form, never the status: whether
    /// the version still takes submissions is checked by the writer, in the transaction that
    /// stores the submission (`Precondition::AppVersionPublished`), on every replica alike.
    /// The rate-limit policy that an app's published form names for its submissions: `None`
    /// when it names none (the caller's own limit, its tenant's default, applies alone) or the
    /// app has no published version. The edge asks before the submission's use case runs, to
    /// count the call under that policy too; it reads form metadata, never PHI.
    pub async fn submission_rate_policy(
        &self,
        tenant: TenantId,
        app: AppId,
        version: Option<i64>,
    ) -> Result<Option<String>, CoreError> {
        match self.published_form(tenant, app, version).await {
            Ok((_, form)) => Ok(form.rate_limit_policy.clone()),
            Err(CoreError::NotFound) => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub(crate) async fn published_form(
        &self,
        tenant: TenantId,
        app_id: AppId,
        version: Option<i64>,
    ) -> Result<(i64, Arc<CompiledForm>), CoreError> {
        let version = match version {
            Some(version) => version,
            None => self
                .store()
                .app(tenant, app_id)
                .await?
                .and_then(|app| app.current_version)
                .ok_or(CoreError::NotFound)?,
        };
        let key = (tenant, app_id, version);
        if let Some(form) = self
            .inner
            .forms
            .read()
            .ok()
            .and_then(|forms| forms.get(&key).cloned())
        {
            return Ok((version, form));
        }
        let row = self
            .store()
            .app_version(tenant, app_id, version)
            .await?
            .filter(|row| row.status == VersionStatus::Published)
            .ok_or(CoreError::NotFound)?;
        let form: CompiledForm = serde_json::from_str(&row.compiled)
            .map_err(|_| CoreError::internal("a stored compiled form does not parse"))?;
        let form = Arc::new(form);
        remember(&self.inner.forms, key, Arc::clone(&form));
        Ok((version, form))
    }
}
