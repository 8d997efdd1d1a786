//! Health-check apps, their versions, and the review workflow.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use hale_core::{DraftVersion, ExportFormat, StepNote, VersionPage, VersionStep};
use hale_domain::AppId;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::dto::{AppDto, CreateApp, VersionDto};
use crate::extract::{AppUpload, Context, DATA_FILE_TYPES, FileUpload, JsonBody, Path, Query};
use crate::problem::{ApiError, Problem};
use crate::routes::subjects::path_id;
use hale_core::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/apps", get(list).post(create))
        .route("/tenants/{tenant}/apps/{app}", get(read))
        .route("/tenants/{tenant}/apps/import", post(import))
        .route("/tenants/{tenant}/apps/{app}/versions", post(draft))
        .route(
            "/tenants/{tenant}/apps/{app}/versions/import",
            post(import_version),
        )
        .route(
            "/tenants/{tenant}/apps/{app}/versions/{version}",
            get(export),
        )
        .route(
            "/tenants/{tenant}/apps/{app}/versions/{version}/review",
            get(review),
        )
        .route(
            "/tenants/{tenant}/apps/{app}/versions/{version}/files/{file}",
            put(attach).get(media),
        )
        .route("/tenants/{tenant}/apps/{app}/diff", get(diff))
        .route("/lint", post(lint))
        .route(
            "/tenants/{tenant}/apps/{app}/versions/{version}/{step}",
            post(step),
        )
}

async fn create(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<CreateApp>,
) -> Result<(StatusCode, Json<AppDto>), ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let draft = DraftVersion::hale(body.definition.get().to_owned());
    let summary = state
        .core
        .create_app(&context, tenant, &body.name, draft)
        .await?;
    Ok((StatusCode::CREATED, Json(summary.into())))
}

async fn list(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let apps: Vec<AppDto> = state
        .core
        .list_apps(&context, tenant)
        .await?
        .into_iter()
        .map(AppDto::from)
        .collect();
    Ok(Json(json!({ "items": apps })))
}

/// Which page of an app's versions to read: `cursor` is the `next_cursor` of the page before.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VersionsQuery {
    cursor: Option<i64>,
    limit: Option<i64>,
}

async fn read(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app)): Path<(String, String)>,
    Query(query): Query<VersionsQuery>,
) -> Result<Json<AppDto>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    let page = VersionPage {
        after: query.cursor,
        limit: query.limit,
    };
    Ok(Json(
        state
            .core
            .get_app(&context, tenant, app, page)
            .await?
            .into(),
    ))
}

async fn draft(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app)): Path<(String, String)>,
    JsonBody(body): JsonBody<crate::dto::DraftVersion>,
) -> Result<(StatusCode, Json<VersionDto>), ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    let draft = DraftVersion::hale(body.definition.get().to_owned());
    let version = state
        .core
        .draft_version(&context, tenant, app, draft)
        .await?;
    Ok((StatusCode::CREATED, Json(version.into())))
}

async fn step(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app, version, step)): Path<(String, String, i64, String)>,
    body: axum::body::Bytes,
) -> Result<Json<VersionDto>, ApiError> {
    let step = match step.as_str() {
        "submit" => VersionStep::SubmitForReview,
        "approve" => VersionStep::Approve,
        "reject" => VersionStep::Reject,
        "retire" => VersionStep::Retire,
        _ => return Err(Problem::new(ErrorCode::NotFound, "no such endpoint").into()),
    };
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    // The body is optional: an empty one means no comment and no acknowledgement.
    let note = if body.is_empty() {
        crate::dto::VersionStep::default()
    } else {
        hale_domain::json::from_slice::<crate::dto::VersionStep>(&body).map_err(|_| {
            Problem::new(
                ErrorCode::MalformedRequest,
                "the body must be {\"comment\": \"…\", \"acknowledged\": [\"…\"]} or empty",
            )
        })?
    };
    let note = StepNote {
        comment: note.comment,
        acknowledged: note.acknowledged,
    };
    let row = state
        .core
        .step_version(&context, tenant, app, version, step, note)
        .await?;
    Ok(Json(row.into()))
}

/// A version with the lint report its approval is checked against (`lint`): each warning
/// has the `id` an approval lists in `acknowledged`.
async fn review(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app, version)): Path<(String, String, i64)>,
) -> Result<Json<Value>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    let (row, lint) = state
        .core
        .review_version(&context, tenant, app, version)
        .await?;
    Ok(Json(json!({
        "version": VersionDto::from(row),
        "lint": lint,
        "publishable": lint.is_publishable(),
    })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    name: Option<String>,
}

/// Creates an app from an uploaded XLSForm, Questionnaire or Hale definition. The answer is
/// the app, with the upload's `lint` (findings by cell or linkId, and the import's notes).
async fn import(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
    Query(query): Query<ImportQuery>,
    AppUpload(source): AppUpload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let imported = state
        .core
        .import_app(&context, tenant, query.name, &source)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(with_lint(AppDto::from(imported.stored), &imported.lint)),
    ))
}

async fn import_version(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app)): Path<(String, String)>,
    AppUpload(source): AppUpload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    let imported = state
        .core
        .import_version(&context, tenant, app, &source)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(with_lint(VersionDto::from(imported.stored), &imported.lint)),
    ))
}

/// Attaches a data file or a media file to a copy of a version, stored as the app's next
/// draft: the answer is that version with its lint.
async fn attach(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app, version, file)): Path<(String, String, i64, String)>,
    upload: FileUpload,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let extension = file.rsplit_once('.').map_or("", |(_, extension)| extension);
    let fits = DATA_FILE_TYPES
        .iter()
        .any(|(known, media_type)| *known == extension && *media_type == upload.media_type)
        || hale_forms::definition::media_type_of(&file) == Some(upload.media_type.as_str());
    if !fits {
        return Err(Problem::new(
            ErrorCode::UnsupportedMediaType,
            "the media type does not fit the file's name: a .csv file is text/csv, a .xml file application/xml, a .png image/png, a .mp3 audio/mpeg, …",
        )
        .into());
    }
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    let imported = state
        .core
        .attach_file(&context, tenant, app, version, &file, upload.bytes)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(with_lint(VersionDto::from(imported.stored), &imported.lint)),
    ))
}

/// A media file of a version, as its labels show it. A data file's rows are in the
/// definition itself, so only media files are read here; any other name is not found.
async fn media(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app, version, file)): Path<(String, String, i64, String)>,
) -> Result<axum::response::Response, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    let content = state
        .core
        .media_file(&context, tenant, app, version, &file)
        .await?;
    let headers = [
        (axum::http::header::CONTENT_TYPE, content.media_type),
        (axum::http::header::ETAG, format!("\"{}\"", content.sha256)),
        (
            axum::http::header::CONTENT_DISPOSITION,
            String::from("inline"),
        ),
    ];
    Ok(axum::response::IntoResponse::into_response((
        headers,
        content.bytes,
    )))
}

/// `body`'s members with the upload's lint beside them.
fn with_lint(body: impl serde::Serialize, lint: &hale_forms::LintReport) -> Value {
    let mut value = serde_json::to_value(body).unwrap_or(Value::Null);
    if let Value::Object(members) = &mut value {
        members.insert(
            String::from("lint"),
            serde_json::to_value(lint).unwrap_or(Value::Null),
        );
    }
    value
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: Option<String>,
}

/// A version's definition: Hale JSON by default, or `?format=questionnaire`.
async fn export(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app, version)): Path<(String, String, i64)>,
    Query(query): Query<ExportQuery>,
) -> Result<Json<Value>, ApiError> {
    let format = match query.format.as_deref() {
        None | Some("hale") => ExportFormat::Hale,
        Some("questionnaire") => ExportFormat::Questionnaire,
        Some(_) => {
            return Err(Problem::new(
                ErrorCode::MalformedRequest,
                "format is hale or questionnaire",
            )
            .into());
        }
    };
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    Ok(Json(
        state
            .core
            .export_version(&context, tenant, app, version, format)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffQuery {
    from: i64,
    to: i64,
}

async fn diff(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app)): Path<(String, String)>,
    Query(query): Query<DiffQuery>,
) -> Result<Json<Value>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    let changes = state
        .core
        .diff_versions(&context, tenant, app, query.from, query.to)
        .await?;
    Ok(Json(
        json!({ "from": query.from, "to": query.to, "changes": changes }),
    ))
}

/// Lints an uploaded definition without storing anything.
async fn lint(
    State(state): State<AppState>,
    Context(context): Context,
    AppUpload(source): AppUpload,
) -> Result<Json<Value>, ApiError> {
    let report = state.core.lint(&context, source).await?;
    Ok(Json(
        json!({ "publishable": report.is_publishable(), "errors": report.errors, "warnings": report.warnings, "infos": report.infos }),
    ))
}
