//! Server-rendered pages (askama). Vietnamese by default, English one click away;
//! every page works without JavaScript.

use crate::ctx::{set_cookie, Ctx, SESSION_COOKIE};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::extract::PageForm;
use crate::i18n::Tr;
use crate::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use vigilo_core::{Lang, Role, Username};
use vigilo_store::{AdminUnitRow, AuditEntry, AuditRecord, NewUser, User};

/// What the layout needs on every page.
pub struct Layout {
    pub tr: Tr,
    pub user: Option<User>,
    pub role_label: String,
    pub csrf: String,
    pub is_admin: bool,
    pub is_vendor: bool,
    /// Reviewers and administrators.
    pub is_staff: bool,
    /// Current path with `lang` replaced, for the language switch link.
    pub switch_href: String,
    /// The stylesheet URL, versioned by content so browsers never keep a stale copy.
    pub css_href: &'static str,
}

const STYLESHEET: &str = include_str!("../static/vigilo.css");

static CSS_HREF: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(STYLESHEET.as_bytes()));
    format!("/static/vigilo.css?v={}", &digest[..12])
});

impl Layout {
    pub fn new(state: &AppState, ctx: &Ctx) -> Self {
        let tr = Tr::new(state.i18n.clone(), ctx.lang);
        let role_label = tr.t(&format!("role-{}", ctx.role().as_str()));
        Layout {
            switch_href: format!("{}?lang={}", ctx.path, ctx.lang.other().code()),
            tr,
            user: ctx.user.clone(),
            role_label,
            csrf: ctx.csrf.clone(),
            is_admin: ctx.role() == Role::Admin,
            is_vendor: ctx.role() == Role::Vendor,
            is_staff: matches!(ctx.role(), Role::Admin | Role::Reviewer),
            css_href: CSS_HREF.as_str(),
        }
    }
}

/// Renders a page with a status, turning a template failure into the error page.
pub(crate) fn render_page(t: &impl Template, ctx: &Ctx, status: StatusCode) -> AppResult<Response> {
    let mut resp = render(t).map_err(|e| ctx.err(e))?;
    *resp.status_mut() = status;
    Ok(resp)
}

fn render(t: &impl Template) -> AppResult<Response> {
    match t.render() {
        Ok(html) => Ok(Html(html).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            Err(AppError::new(ErrorCode::Internal))
        }
    }
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            // The URL carries the content hash, so it can be cached for long.
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        STYLESHEET,
    )
}

pub struct AreaCard {
    pub title: String,
    pub desc: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    l: Layout,
    areas: Vec<AreaCard>,
    map_desc: String,
}

pub async fn home(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let (provinces, units) = state
        .store
        .admin_unit_counts()
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let l = Layout::new(&state, &ctx);
    let areas = [
        "directory",
        "appraisal",
        "sandbox",
        "monitoring",
        "warning",
        "federation",
        "navigator",
    ]
    .iter()
    .map(|a| AreaCard {
        title: l.tr.t(&format!("area-{a}")),
        desc: l.tr.t(&format!("area-{a}-desc")),
    })
    .collect();
    let map_desc = l.tr.ta(
        "home-map-desc",
        &[
            ("provinces", provinces.to_string()),
            ("units", group_thousands(units, ctx.lang)),
        ],
    );
    render(&HomePage { l, areas, map_desc }).map_err(|e| ctx.err(e))
}

fn group_thousands(n: i64, lang: Lang) -> String {
    let sep = match lang {
        Lang::Vi => '.',
        Lang::En => ',',
    };
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    l: Layout,
    next: String,
    username: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only same-site relative paths may be redirect targets.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

pub async fn login_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<NextQuery>,
) -> AppResult<Response> {
    if ctx.user.is_some() {
        return Ok(Redirect::to(&safe_next(q.next.as_deref())).into_response());
    }
    let page = LoginPage {
        l: Layout::new(&state, &ctx),
        next: safe_next(q.next.as_deref()),
        username: String::new(),
        error: None,
    };
    render(&page).map_err(|e| ctx.err(e))
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

pub async fn login_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    PageForm(form): PageForm<LoginForm>,
) -> AppResult<Response> {
    let cfg = &state.config;
    let username = form.username.trim().to_ascii_lowercase();
    let user_key = format!("user:{username}");
    let ip_key = format!("ip:{}", peer.ip());
    let store = &state.store;
    let by_user = store
        .login_failures_since(&user_key, cfg.login_window)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let by_ip = store
        .login_failures_since(&ip_key, cfg.login_window)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let minutes = cfg.login_window.whole_minutes();
    let l = Layout::new(&state, &ctx);
    if by_user >= cfg.login_max_failures || by_ip >= cfg.login_max_failures * 4 {
        let page = LoginPage {
            error: Some(l.tr.ta("login-throttled", &[("minutes", minutes.to_string())])),
            l,
            next: safe_next(form.next.as_deref()),
            username,
        };
        let mut resp = render(&page).map_err(|e| ctx.err(e))?;
        *resp.status_mut() = ErrorCode::TooManyRequests.spec().status;
        if let Ok(v) = HeaderValue::from_str(&(minutes * 60).to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    let user = store
        .authenticate(&username, &form.password)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let Some(user) = user else {
        let _ = store.record_login_failure(&user_key).await;
        let _ = store.record_login_failure(&ip_key).await;
        let page = LoginPage {
            error: Some(l.tr.t("login-failed")),
            l,
            next: safe_next(form.next.as_deref()),
            username,
        };
        let mut resp = render(&page).map_err(|e| ctx.err(e))?;
        *resp.status_mut() = ErrorCode::LoginFailed.spec().status;
        return Ok(resp);
    };
    let _ = store.clear_login_failures(&user_key).await;
    let (token, _session) = store
        .create_session(&user.id, cfg.session_ttl)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let _ = store
        .record_audit(AuditEntry::new(
            &format!("user:{}", user.username),
            "session.login",
            "user",
            &user.id,
        ))
        .await;
    let mut resp = Redirect::to(&safe_next(form.next.as_deref())).into_response();
    let cookie = set_cookie(
        SESSION_COOKIE,
        &token,
        Some(cfg.session_ttl.whole_seconds()),
        true,
        ctx.secure,
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub async fn logout(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    headers: axum::http::HeaderMap,
) -> AppResult<Response> {
    if let Some(tok) = crate::ctx::cookie(&headers, SESSION_COOKIE) {
        state
            .store
            .delete_session(tok)
            .await
            .map_err(|e| ctx.err(e.into()))?;
    }
    let mut resp = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", Some(0), true, ctx.secure))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    l: Layout,
    org_name: Option<String>,
    tokens: Vec<TokenRow>,
    new_secret: Option<String>,
    error: Option<String>,
}

async fn account_page(
    state: &AppState,
    ctx: &Ctx,
    new_secret: Option<String>,
    error: Option<String>,
) -> AppResult<Response> {
    let Some(user) = ctx.user.as_ref() else {
        return Err(ctx.err(AppError::new(ErrorCode::Unauthenticated)));
    };
    let org_name = match &user.organisation_id {
        Some(id) => state
            .store
            .organisation(id)
            .await
            .map_err(|e| ctx.err(e.into()))?
            .map(|o| o.name),
        None => None,
    };
    let tokens = state
        .store
        .list_tokens(Some(&user.id))
        .await
        .map_err(|e| ctx.err(e.into()))?
        .into_iter()
        .map(|t| TokenRow {
            active: t.revoked_at.is_none(),
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created_at: t.created_at,
            expires_at: t.expires_at,
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut resp = render(&AccountPage {
        l: Layout::new(state, ctx),
        org_name,
        tokens,
        new_secret,
        error,
    })
    .map_err(|e| ctx.err(e))?;
    *resp.status_mut() = status;
    Ok(resp)
}

pub async fn account(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    account_page(&state, &ctx, None, None).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    name: String,
    days: Option<String>,
}

/// Creates an API token for the logged-in user and shows its secret once.
pub async fn create_token(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(form): PageForm<TokenForm>,
) -> AppResult<Response> {
    let Some(user) = ctx.user.as_ref() else {
        return Err(ctx.err(AppError::new(ErrorCode::Unauthenticated)));
    };
    let l = Layout::new(&state, &ctx);
    let days = match form
        .days
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        None => None,
        Some(d) => match d.parse::<i64>() {
            Ok(n) if (1..=3650).contains(&n) => Some(time::Duration::days(n)),
            _ => {
                let reason = l.tr.ta("form-error", &[("reason", "1-3650".into())]);
                return account_page(&state, &ctx, None, Some(reason)).await;
            }
        },
    };
    match state
        .store
        .create_token(&ctx.actor(), &user.username, &form.name, days)
        .await
    {
        Ok((secret, _)) => account_page(&state, &ctx, Some(secret), None).await,
        Err(vigilo_store::StoreError::Invalid { reason, .. }) => {
            let reason = l.tr.ta("form-error", &[("reason", reason)]);
            account_page(&state, &ctx, None, Some(reason)).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

/// Revokes one of the user's own tokens (administrators may revoke any).
pub async fn revoke_token(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let Some(user) = ctx.user.as_ref() else {
        return Err(ctx.err(AppError::new(ErrorCode::Unauthenticated)));
    };
    let owner_ok = ctx.role() == Role::Admin
        || state
            .store
            .list_tokens(Some(&user.id))
            .await
            .map_err(|e| ctx.err(e.into()))?
            .iter()
            .any(|t| t.id == id);
    if !owner_ok {
        // Same answer whether the token exists or belongs to someone else.
        return Err(ctx.err(AppError::not_found()));
    }
    state
        .store
        .revoke_token(&ctx.actor(), &id)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok(Redirect::to("/account").into_response())
}

pub struct UserRow {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub role_label: String,
    pub org_id: String,
    pub org_name: String,
    pub active: bool,
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    l: Layout,
    /// Disabled vendor accounts: self-registrations waiting for activation.
    pending: Vec<UserRow>,
    users: Vec<UserRow>,
    roles: Vec<Choice>,
    orgs: Vec<Choice>,
    audit: Vec<AuditRecord>,
    chain_status: String,
    chain_ok: bool,
    notice: Option<String>,
    error: Option<String>,
    form: NewUserForm,
}

#[derive(Deserialize, Default)]
pub struct AdminQuery {
    created: Option<String>,
    updated: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct NewUserForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub organisation_id: String,
    #[serde(default)]
    pub password: String,
}

async fn admin_page(
    state: &AppState,
    ctx: &Ctx,
    notice: Option<String>,
    error: Option<String>,
    form: NewUserForm,
) -> AppResult<Response> {
    let store = &state.store;
    let l = Layout::new(state, ctx);
    let orgs = store
        .list_organisations(None)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let users: Vec<UserRow> = store
        .list_users()
        .await
        .map_err(|e| ctx.err(e.into()))?
        .into_iter()
        .map(|u| {
            let org = u
                .organisation_id
                .as_ref()
                .and_then(|id| orgs.iter().find(|o| &o.id == id));
            UserRow {
                role_label: l.tr.t(&format!("role-{}", u.role)),
                active: !u.is_disabled(),
                org_id: org.map(|o| o.id.clone()).unwrap_or_default(),
                org_name: org.map(|o| o.name.clone()).unwrap_or_default(),
                role: u.role,
                username: u.username,
                display_name: u.display_name,
            }
        })
        .collect();
    let pending = users
        .iter()
        .filter(|u: &&UserRow| !u.active && u.role == Role::Vendor.as_str())
        .map(|u| UserRow {
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: u.role.clone(),
            role_label: u.role_label.clone(),
            org_id: u.org_id.clone(),
            org_name: u.org_name.clone(),
            active: u.active,
        })
        .collect();
    let roles = Role::ACCOUNT_ROLES
        .iter()
        .map(|r| Choice {
            value: r.as_str().into(),
            label: l.tr.t(&format!("role-{}", r.as_str())),
        })
        .collect();
    let org_choices = orgs
        .into_iter()
        .map(|o| Choice {
            label: format!("{} ({})", o.name, o.code),
            value: o.id,
        })
        .collect();
    let audit = store
        .list_audit(None, 50)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let outcome = store.verify_audit().await.map_err(|e| ctx.err(e.into()))?;
    let (chain_ok, chain_status) = match outcome.first_break {
        None => (
            true,
            l.tr.ta("admin-audit-ok", &[("count", outcome.verified.to_string())]),
        ),
        Some(b) => (
            false,
            l.tr.ta(
                "admin-audit-broken",
                &[("seq", b.seq().to_string()), ("reason", b.to_string())],
            ),
        ),
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut resp = render(&AdminPage {
        l,
        pending,
        users,
        roles,
        orgs: org_choices,
        audit,
        chain_status,
        chain_ok,
        notice,
        error,
        form: NewUserForm {
            password: String::new(),
            ..form
        },
    })
    .map_err(|e| ctx.err(e))?;
    *resp.status_mut() = status;
    Ok(resp)
}

pub async fn admin(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<AdminQuery>,
) -> AppResult<Response> {
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let notice = match (q.created, q.updated) {
        (Some(n), _) => Some(tr.ta("admin-created", &[("name", n)])),
        (_, Some(n)) => Some(tr.ta("admin-updated", &[("name", n)])),
        _ => None,
    };
    admin_page(&state, &ctx, notice, None, NewUserForm::default()).await
}

fn form_error(state: &AppState, ctx: &Ctx, reason: String) -> String {
    Tr::new(state.i18n.clone(), ctx.lang).ta("form-error", &[("reason", reason)])
}

/// After an admin form: back to the admin page with a notice, or the page again
/// with the reason when the store refused something a person can fix.
async fn admin_outcome(
    state: &AppState,
    ctx: &Ctx,
    result: Result<User, vigilo_store::StoreError>,
    notice_key: &str,
    form: NewUserForm,
) -> AppResult<Response> {
    match result {
        Ok(u) => Ok(Redirect::to(&format!(
            "/admin?{notice_key}={}",
            crate::ctx::urlencode(&u.username)
        ))
        .into_response()),
        Err(e) => {
            let reason = fixable(e).map_err(|e| ctx.err(e.into()))?;
            let msg = form_error(state, ctx, reason);
            admin_page(state, ctx, None, Some(msg), form).await
        }
    }
}

/// Store errors a person can fix become a message on the form; others are errors.
fn fixable(e: vigilo_store::StoreError) -> Result<String, vigilo_store::StoreError> {
    match e {
        vigilo_store::StoreError::Invalid { .. }
        | vigilo_store::StoreError::Conflict { .. }
        | vigilo_store::StoreError::NotFound { .. } => Ok(e.to_string()),
        other => Err(other),
    }
}

pub async fn admin_create_user(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(form): PageForm<NewUserForm>,
) -> AppResult<Response> {
    let parsed = Username::parse(&form.username)
        .map_err(|e| {
            format!(
                "{}: {e}",
                Tr::new(state.i18n.clone(), ctx.lang).t("col-username")
            )
        })
        .and_then(|u| {
            form.role
                .parse::<Role>()
                .map(|r| (u, r))
                .map_err(|e| e.to_string())
        });
    let (username, role) = match parsed {
        Ok(v) => v,
        Err(reason) => {
            let msg = form_error(&state, &ctx, reason);
            return admin_page(&state, &ctx, None, Some(msg), form).await;
        }
    };
    let org = Some(form.organisation_id.trim().to_string()).filter(|s| !s.is_empty());
    let result = state
        .store
        .create_user(
            &ctx.actor(),
            NewUser {
                username: username.clone(),
                display_name: form.display_name.clone(),
                password: form.password.clone(),
                role,
                organisation_id: org,
            },
        )
        .await;
    admin_outcome(&state, &ctx, result, "created", form).await
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
    #[serde(default)]
    organisation_id: String,
}

pub async fn admin_set_role(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(username): Path<String>,
    PageForm(form): PageForm<RoleForm>,
) -> AppResult<Response> {
    let role = match form.role.parse::<Role>() {
        Ok(r) => r,
        Err(e) => {
            let msg = form_error(&state, &ctx, e.to_string());
            return admin_page(&state, &ctx, None, Some(msg), NewUserForm::default()).await;
        }
    };
    let org = Some(form.organisation_id.trim().to_string()).filter(|s| !s.is_empty());
    let result = state
        .store
        .set_role(&ctx.actor(), &username, role, org)
        .await;
    admin_outcome(&state, &ctx, result, "updated", NewUserForm::default()).await
}

#[derive(Deserialize)]
pub struct DisableForm {
    disabled: String,
}

pub async fn admin_set_disabled(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(username): Path<String>,
    PageForm(form): PageForm<DisableForm>,
) -> AppResult<Response> {
    let disabled = form.disabled == "1";
    if disabled && ctx.username() == Some(username.to_ascii_lowercase().as_str()) {
        let msg = form_error(&state, &ctx, "you cannot disable your own account".into());
        return admin_page(&state, &ctx, None, Some(msg), NewUserForm::default()).await;
    }
    let result = state
        .store
        .set_disabled(&ctx.actor(), &username, disabled)
        .await;
    admin_outcome(&state, &ctx, result, "updated", NewUserForm::default()).await
}

pub struct ProvinceRow {
    pub code: String,
    pub name: String,
    pub units: usize,
}

#[derive(Template)]
#[template(path = "provinces.html")]
struct ProvincesPage {
    l: Layout,
    provinces: Vec<ProvinceRow>,
}

pub async fn provinces(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let list = state
        .store
        .admin_unit_children("VN")
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let mut provinces = Vec::with_capacity(list.len());
    for p in list {
        let units = state
            .store
            .admin_unit_children(&p.code)
            .await
            .map_err(|e| ctx.err(e.into()))?
            .len();
        provinces.push(ProvinceRow {
            code: p.code,
            name: p.name,
            units,
        });
    }
    render(&ProvincesPage {
        l: Layout::new(&state, &ctx),
        provinces,
    })
    .map_err(|e| ctx.err(e))
}

#[derive(Template)]
#[template(path = "province.html")]
struct ProvincePage {
    l: Layout,
    title: String,
    units: Vec<AdminUnitRow>,
}

pub async fn province(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(code): Path<String>,
) -> AppResult<Response> {
    let unit = state
        .store
        .admin_unit(&code)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .filter(|u| u.level == "province")
        .ok_or_else(|| {
            ctx.err(AppError::not_found().detail(format!("no province has code '{code}'")))
        })?;
    let units = state
        .store
        .admin_unit_children(&unit.code)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let l = Layout::new(&state, &ctx);
    let title = l.tr.ta("units-title", &[("name", unit.name.clone())]);
    render(&ProvincePage { l, title, units }).map_err(|e| ctx.err(e))
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    l: ErrLayout,
    title: String,
    detail: Option<String>,
    status: u16,
}

/// A minimal layout for error pages, which may be drawn without a Ctx.
struct ErrLayout {
    css_href: &'static str,
    lang: &'static str,
    back: &'static str,
    heading: &'static str,
}

pub fn error_page(lang: Lang, status: StatusCode, title: &str, detail: Option<&str>) -> Response {
    let (back, heading) = match lang {
        Lang::Vi => ("Về trang chủ", "Có lỗi xảy ra"),
        Lang::En => ("Back to the home page", "Something went wrong"),
    };
    let page = ErrorPage {
        l: ErrLayout {
            css_href: CSS_HREF.as_str(),
            lang: lang.code(),
            back,
            heading,
        },
        title: title.to_string(),
        detail: detail.map(str::to_string),
        status: status.as_u16(),
    };
    let body = page.render().unwrap_or_else(|_| {
        format!(
            "<!doctype html><title>{}</title><p>{}</p>",
            status.as_u16(),
            title
        )
    });
    (status, Html(body)).into_response()
}
