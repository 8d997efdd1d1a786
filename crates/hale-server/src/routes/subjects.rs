//! Subjects (patients), and each subject's submissions and observations.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use hale_core::Listing;
use hale_domain::{SubjectId, Timestamp};
use serde::Deserialize;

use crate::AppState;
use crate::dto::{
    ObservationDto, PageDto, RegisterSubject, SubjectDto, SubmissionDto, decode_cursor,
};
use crate::extract::{Context, JsonBody, Path, Query};
use crate::problem::{ApiError, Problem};
use hale_core::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/subjects", get(list).post(register))
        .route("/tenants/{tenant}/subjects/{subject}", get(read))
        .route(
            "/tenants/{tenant}/subjects/{subject}/submissions",
            get(submissions),
        )
        .route(
            "/tenants/{tenant}/subjects/{subject}/observations",
            get(observations),
        )
}

/// Query parameters of the list endpoints.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
    code: Option<String>,
}

impl ListQuery {
    fn into_listing(self) -> Result<Listing, ApiError> {
        let time = |text: Option<String>, name: &str| {
            text.map(|text| Timestamp::parse_rfc3339(&text))
                .transpose()
                .map_err(|_| {
                    ApiError::from(Problem::new(
                        ErrorCode::MalformedRequest,
                        format!("{name} must be an RFC 3339 date-time with offset"),
                    ))
                })
        };
        Ok(Listing {
            range: hale_core::TimeRange {
                since: time(self.since, "since")?,
                until: time(self.until, "until")?,
            },
            after: self.cursor.as_deref().map(decode_cursor).transpose()?,
            limit: self.limit,
            code: self.code,
        })
    }
}

/// Parses a path id; an id that cannot exist is simply not found.
pub fn path_id<T: std::str::FromStr>(text: &str) -> Result<T, ApiError> {
    text.parse()
        .map_err(|_| Problem::new(ErrorCode::NotFound, "not found").into())
}

async fn register(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<RegisterSubject>,
) -> Result<(StatusCode, Json<SubjectDto>), ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let subject = state
        .core
        .register_subject(&context, tenant, body.into())
        .await?;
    Ok((StatusCode::CREATED, Json(subject.into())))
}

async fn list(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<PageDto<SubjectDto>>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let listing = query.into_listing()?;
    let page = state
        .core
        .list_subjects(&context, tenant, listing.after, listing.limit)
        .await?;
    Ok(Json(PageDto::from_page(page, SubjectDto::from)))
}

async fn read(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, subject)): Path<(String, String)>,
) -> Result<Json<SubjectDto>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let subject: SubjectId = path_id(&subject)?;
    Ok(Json(
        state
            .core
            .get_subject(&context, tenant, subject)
            .await?
            .into(),
    ))
}

async fn submissions(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, subject)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Result<Json<PageDto<SubmissionDto>>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let subject: SubjectId = path_id(&subject)?;
    let page = state
        .core
        .list_submissions(&context, tenant, subject, query.into_listing()?)
        .await?;
    Ok(Json(PageDto::from_page(page, SubmissionDto::from)))
}

async fn observations(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, subject)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Result<Json<PageDto<ObservationDto>>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let subject: SubjectId = path_id(&subject)?;
    let page = state
        .core
        .list_observations(&context, tenant, subject, query.into_listing()?)
        .await?;
    Ok(Json(PageDto::from_page(page, ObservationDto::from)))
}
