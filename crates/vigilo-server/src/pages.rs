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
use vigilo_core::{Lang, Role};
use vigilo_store::{AdminUnitRow, AuditEntry, AuditRecord, User};

/// What the layout needs on every page.
pub struct Layout {
    pub tr: Tr,
    pub user: Option<User>,
    pub role_label: String,
    pub csrf: String,
    pub is_admin: bool,
    /// Current path with `lang` replaced, for the language switch link.
    pub switch_href: String,
}

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
        }
    }
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
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/vigilo.css"),
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

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    l: Layout,
    org_name: Option<String>,
}

pub async fn account(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let org_name = match ctx.user.as_ref().and_then(|u| u.organisation_id.clone()) {
        Some(id) => state
            .store
            .organisation(&id)
            .await
            .map_err(|e| ctx.err(e.into()))?
            .map(|o| o.name),
        None => None,
    };
    render(&AccountPage {
        l: Layout::new(&state, &ctx),
        org_name,
    })
    .map_err(|e| ctx.err(e))
}

pub struct UserRow {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    l: Layout,
    users: Vec<UserRow>,
    audit: Vec<AuditRecord>,
    chain_status: String,
    chain_ok: bool,
}

pub async fn admin(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let store = &state.store;
    let l = Layout::new(&state, &ctx);
    let users = store
        .list_users()
        .await
        .map_err(|e| ctx.err(e.into()))?
        .into_iter()
        .map(|u| UserRow {
            role: l.tr.t(&format!("role-{}", u.role)),
            active: !u.is_disabled(),
            username: u.username,
            display_name: u.display_name,
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
    render(&AdminPage {
        l,
        users,
        audit,
        chain_status,
        chain_ok,
    })
    .map_err(|e| ctx.err(e))
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
