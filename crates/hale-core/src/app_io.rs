//! Apps in and out: import from an XLSForm (xlsx or CSV), a FHIR Questionnaire or Hale's own
//! JSON; lint; export as Hale JSON or a Questionnaire; and the diff of two versions.

use hale_domain::{AppId, RequestContext, TenantId};
use hale_forms::{AppDefinition, Change, LintReport};

use crate::apps::{AppSummary, DraftVersion};
use crate::{Core, CoreError, Target};

/// Where an app definition comes from.
#[derive(Clone, Debug)]
pub enum AppSource {
    /// An XLSForm workbook (`.xlsx`).
    Xlsx(Vec<u8>),
    /// An XLSForm as CSV sheets.
    Csv {
        survey: String,
        choices: Option<String>,
        settings: Option<String>,
    },
    /// A FHIR R4 Questionnaire resource.
    Questionnaire(serde_json::Value),
    /// Hale's own format, `hale.app/1`.
    Hale(String),
}

/// How to export a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Hale,
    Questionnaire,
}

/// Turns any source into a definition; every problem is reported at once.
pub fn read_definition(source: &AppSource) -> Result<AppDefinition, CoreError> {
    match source {
        AppSource::Xlsx(bytes) => {
            hale_forms::xlsform::import_xlsx(bytes).map_err(CoreError::InvalidSpreadsheet)
        }
        AppSource::Csv {
            survey,
            choices,
            settings,
        } => hale_forms::xlsform::import_csv(survey, choices.as_deref(), settings.as_deref())
            .map_err(CoreError::InvalidSpreadsheet),
        AppSource::Questionnaire(resource) => {
            hale_forms::questionnaire::import(resource).map_err(CoreError::InvalidDefinition)
        }
        AppSource::Hale(text) => {
            AppDefinition::from_json(text).map_err(CoreError::InvalidDefinition)
        }
    }
}

/// Lints a definition read from any source (no storage involved).
pub fn lint_source(source: &AppSource) -> Result<LintReport, CoreError> {
    Ok(hale_forms::lint(&read_definition(source)?))
}

impl Core {
    /// Creates an app whose first draft is the imported definition.
    pub async fn import_app(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        name: Option<String>,
        source: &AppSource,
    ) -> Result<AppSummary, CoreError> {
        let definition = read_definition(source)?;
        let name = name.unwrap_or_else(|| {
            definition
                .title
                .in_language(&definition.default_language)
                .to_owned()
        });
        self.create_app(
            context,
            tenant,
            &name,
            DraftVersion {
                definition: definition.to_json(),
            },
        )
        .await
    }

    /// Adds the imported definition as the app's next draft version.
    pub async fn import_version(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app: AppId,
        source: &AppSource,
    ) -> Result<hale_store::AppVersionRow, CoreError> {
        let definition = read_definition(source)?;
        self.draft_version(
            context,
            tenant,
            app,
            DraftVersion {
                definition: definition.to_json(),
            },
        )
        .await
    }

    /// One version's definition, as Hale JSON or as a FHIR Questionnaire.
    pub async fn export_version(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app: AppId,
        version: i64,
        format: ExportFormat,
    ) -> Result<serde_json::Value, CoreError> {
        let id = format!("{app}/{version}");
        let target = Target {
            tenant: Some(tenant),
            kind: "app_version",
            id: Some(&id),
        };
        self.audited(context, "app.version.read", target, async {
            // One row, not the app's every version: a long-lived app has many.
            let row = self.visible_version(context, tenant, app, version).await?;
            let definition = stored_definition(&row.definition)?;
            Ok(match format {
                ExportFormat::Hale => serde_json::to_value(&definition)
                    .map_err(|_| CoreError::internal("a definition did not serialise"))?,
                ExportFormat::Questionnaire => hale_forms::questionnaire::export(&definition),
            })
        })
        .await
    }

    /// What changed from one version to another, for review.
    pub async fn diff_versions(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app: AppId,
        from: i64,
        to: i64,
    ) -> Result<Vec<Change>, CoreError> {
        let id = app.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "app",
            id: Some(&id),
        };
        self.audited(context, "app.version.diff", target, async {
            crate::require(&context.principal, &crate::apps::STAFF)?;
            let find = |version: i64| async move {
                self.store()
                    .app_version(tenant, app, version)
                    .await?
                    .ok_or(CoreError::NotFound)
                    .and_then(|row| stored_definition(&row.definition))
            };
            let (before, after) = (find(from).await?, find(to).await?);
            Ok(hale_forms::diff(&before, &after))
        })
        .await
    }
}

/// A definition as stored; it passed compile when drafted, so failure here means corruption.
pub(crate) fn stored_definition(text: &str) -> Result<AppDefinition, CoreError> {
    AppDefinition::from_json(text)
        .map_err(|_| CoreError::internal("a stored app definition no longer parses"))
}
