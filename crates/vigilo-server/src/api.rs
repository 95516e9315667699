//! The JSON API under `/api/v1`. Wire types are declared here and converted from
//! the store's types by hand: their shape is a compatibility promise.

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult, ErrorCode, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use vigilo_core::{OrgKind, Role, Username};
use vigilo_store::{AdminUnitRow, AuditRecord, NewOrganisation, NewUser, Organisation, User};

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    pub status: &'static str,
    pub database: &'static str,
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "The database answers", body = Ready),
              (status = 503, description = "The database is unreachable", body = Problem)))]
pub async fn readyz(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Json<Ready>> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(Ready {
            status: "ready",
            database: state.store.backend().name(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ctx.err(AppError::new(ErrorCode::Unavailable).retry_after(5)))
        }
    }
}

pub async fn openapi_json() -> Response {
    match crate::openapi::document_json() {
        Ok(s) => ([(axum::http::header::CONTENT_TYPE, "application/json")], s).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "openapi serialisation failed");
            AppError::new(ErrorCode::Internal).into_response()
        }
    }
}

/// An account as the API shows it (never the password hash).
#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// reporter, vendor, reviewer, admin or peer.
    pub role: String,
    pub organisation_id: Option<String>,
    pub disabled: bool,
    pub created_at: String,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        UserOut {
            disabled: u.is_disabled(),
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role,
            organisation_id: u.organisation_id,
            created_at: u.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: UserOut,
    /// Echo this in `X-CSRF-Token` on state-changing calls made with the session cookie.
    pub csrf_token: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "accounts",
    responses((status = 200, body = Me), (status = 401, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn me(Extension(ctx): Extension<Arc<Ctx>>) -> AppResult<Json<Me>> {
    let user = ctx
        .user
        .clone()
        .ok_or_else(|| ctx.err(AppError::new(ErrorCode::Unauthenticated)))?;
    Ok(Json(Me {
        user: user.into(),
        csrf_token: ctx.session.as_ref().map(|s| s.csrf_token.clone()),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct AdminUnitOut {
    pub code: String,
    pub name: String,
    pub short_name: String,
    /// nation, province or local (commune, ward, special zone).
    pub level: String,
    pub unit_type: String,
    pub parent_code: Option<String>,
    pub area_km2: Option<f64>,
}

impl From<AdminUnitRow> for AdminUnitOut {
    fn from(u: AdminUnitRow) -> Self {
        AdminUnitOut {
            code: u.code,
            name: u.name,
            short_name: u.short_name,
            level: u.level,
            unit_type: u.unit_type,
            parent_code: u.parent_code,
            area_km2: u.area_km2,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct AdminUnitQuery {
    /// Children of this unit (`VN` for the provinces). Default `VN`.
    pub parent: Option<String>,
    /// Search by name, without diacritics if you like ("da nang").
    pub q: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AdminUnitList {
    pub items: Vec<AdminUnitOut>,
}

#[utoipa::path(get, path = "/api/v1/admin-units", tag = "reference",
    params(AdminUnitQuery),
    responses((status = 200, body = AdminUnitList)))]
pub async fn admin_units(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<AdminUnitQuery>,
) -> AppResult<Json<AdminUnitList>> {
    let rows = match q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => state.store.search_admin_units(text, 100).await,
        None => {
            state
                .store
                .admin_unit_children(q.parent.as_deref().unwrap_or("VN"))
                .await
        }
    }
    .map_err(|e| ctx.err(e.into()))?;
    Ok(Json(AdminUnitList {
        items: rows.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/admin-units/{code}", tag = "reference",
    params(("code" = String, Path, description = "Unit code, e.g. 01 or 00004")),
    responses((status = 200, body = AdminUnitOut), (status = 404, body = Problem)))]
pub async fn admin_unit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(code): Path<String>,
) -> AppResult<Json<AdminUnitOut>> {
    state
        .store
        .admin_unit(&code)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .map(|u| Json(u.into()))
        .ok_or_else(|| {
            ctx.err(
                AppError::not_found().detail(format!("no administrative unit has code '{code}'")),
            )
        })
}

#[derive(Serialize, ToSchema)]
pub struct OrganisationOut {
    pub id: String,
    pub code: String,
    /// manufacturer, facility or regulator.
    pub kind: String,
    pub name: String,
    pub name_en: Option<String>,
    pub admin_unit_code: Option<String>,
    pub created_at: String,
}

impl From<Organisation> for OrganisationOut {
    fn from(o: Organisation) -> Self {
        OrganisationOut {
            id: o.id,
            code: o.code,
            kind: o.kind,
            name: o.name,
            name_en: o.name_en,
            admin_unit_code: o.admin_unit_code,
            created_at: o.created_at,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct OrgQuery {
    /// manufacturer, facility or regulator.
    pub kind: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrganisationList {
    pub items: Vec<OrganisationOut>,
}

#[utoipa::path(get, path = "/api/v1/organisations", tag = "organisations",
    params(OrgQuery),
    responses((status = 200, body = OrganisationList), (status = 400, body = Problem)))]
pub async fn list_organisations(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> AppResult<Json<OrganisationList>> {
    let kind = match q.kind.as_deref() {
        Some(k) => Some(
            k.parse::<OrgKind>()
                .map_err(|e| ctx.err(AppError::invalid(e.to_string())))?,
        ),
        None => None,
    };
    let items = state
        .store
        .list_organisations(kind)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok(Json(OrganisationList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationIn {
    pub code: String,
    /// manufacturer, facility or regulator.
    pub kind: String,
    pub name: String,
    pub name_en: Option<String>,
    /// Required for facilities: the commune, ward or special zone code.
    pub admin_unit_code: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/organisations", tag = "organisations",
    request_body = OrganisationIn,
    responses((status = 201, body = OrganisationOut), (status = 400, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_organisation(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    body: Result<ApiJson<OrganisationIn>, AppError>,
) -> AppResult<(StatusCode, Json<OrganisationOut>)> {
    let ApiJson(input) = body.map_err(|e| ctx.err(e))?;
    let kind = input
        .kind
        .parse::<OrgKind>()
        .map_err(|e| ctx.err(AppError::invalid(format!("kind: {e}"))))?;
    let org = state
        .store
        .create_organisation(
            &ctx.actor(),
            NewOrganisation {
                code: input.code,
                kind,
                name: input.name,
                name_en: input.name_en,
                admin_unit_code: input.admin_unit_code,
            },
        )
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok((StatusCode::CREATED, Json(org.into())))
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserOut>,
}

#[utoipa::path(get, path = "/api/v1/organisations/{id}/members", tag = "organisations",
    params(("id" = String, Path, description = "Organisation id")),
    responses((status = 200, body = UserList), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
/// Accounts of one organisation. Vendors and facility reporters see only their own.
pub async fn organisation_members(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Json<UserList>> {
    let role = ctx.role();
    if matches!(role, Role::Vendor | Role::Reporter) {
        let own = ctx.user.as_ref().and_then(|u| u.organisation_id.as_deref());
        if own != Some(id.as_str()) {
            return Err(ctx.err(
                AppError::new(ErrorCode::Forbidden)
                    .detail("you can see only your own organisation"),
            ));
        }
    }
    if state
        .store
        .organisation(&id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .is_none()
    {
        return Err(ctx.err(AppError::not_found().detail(format!("no organisation has id '{id}'"))));
    }
    let users = state
        .store
        .list_users()
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok(Json(UserList {
        items: users
            .into_iter()
            .filter(|u| u.organisation_id.as_deref() == Some(id.as_str()))
            .map(Into::into)
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "accounts",
    responses((status = 200, body = UserList), (status = 403, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Json<UserList>> {
    let users = state
        .store
        .list_users()
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok(Json(UserList {
        items: users.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    pub username: String,
    pub display_name: Option<String>,
    /// At least 10 characters.
    pub password: String,
    /// reporter, vendor, reviewer, admin or peer.
    pub role: String,
    /// Required for vendors (a manufacturer) and reporters (a facility).
    pub organisation_id: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "accounts",
    request_body = UserIn,
    responses((status = 201, body = UserOut), (status = 400, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn create_user(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    body: Result<ApiJson<UserIn>, AppError>,
) -> AppResult<(StatusCode, Json<UserOut>)> {
    let ApiJson(input) = body.map_err(|e| ctx.err(e))?;
    let username = Username::parse(&input.username)
        .map_err(|e| ctx.err(AppError::invalid(format!("username: {e}"))))?;
    let role = input
        .role
        .parse::<Role>()
        .map_err(|e| ctx.err(AppError::invalid(format!("role: {e}"))))?;
    let user = state
        .store
        .create_user(
            &ctx.actor(),
            NewUser {
                username,
                display_name: input.display_name.unwrap_or_default(),
                password: input.password,
                role,
                organisation_id: input.organisation_id,
            },
        )
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[derive(Serialize, ToSchema)]
pub struct AuditOut {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub hash: String,
}

impl From<AuditRecord> for AuditOut {
    fn from(a: AuditRecord) -> Self {
        let parse = |s: Option<String>| s.and_then(|t| serde_json::from_str(&t).ok());
        AuditOut {
            seq: a.seq,
            at: a.at,
            actor: a.actor,
            action: a.action,
            object_type: a.object_type,
            object_id: a.object_id,
            before: parse(a.before_json),
            after: parse(a.after_json),
            hash: a.hash,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct AuditQuery {
    /// Cursor: return rows older than this sequence number.
    pub before: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditOut>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_cursor: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn list_audit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> AppResult<Json<AuditPage>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state
        .store
        .list_audit(q.before, limit)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let next_cursor = if rows.len() as i64 == limit {
        rows.last().map(|r| r.seq).filter(|s| *s > 1)
    } else {
        None
    };
    Ok(Json(AuditPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct AuditVerification {
    pub intact: bool,
    pub verified_rows: u64,
    pub first_broken_row: Option<i64>,
    pub reason: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = AuditVerification), (status = 403, body = Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn verify_audit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Json<AuditVerification>> {
    let out = state
        .store
        .verify_audit()
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok(Json(AuditVerification {
        intact: out.first_break.is_none(),
        verified_rows: out.verified,
        first_broken_row: out.first_break.as_ref().map(|b| b.seq()),
        reason: out.first_break.map(|b| b.to_string()),
    }))
}
