//! Per-request context: language, identity (session cookie or bearer token),
//! CSRF token; and the access check every route passes through.

use crate::error::{AppError, ErrorCode, ErrorMarker};
use crate::routes::Access;
use crate::AppState;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::Arc;
use vigilo_core::{Lang, Role};
use vigilo_store::{Session, User};

pub const SESSION_COOKIE: &str = "vigilo_session";
pub const CSRF_COOKIE: &str = "vigilo_csrf";
pub const LANG_COOKIE: &str = "vigilo_lang";
pub const CSRF_FIELD: &str = "csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What every handler knows about the request.
#[derive(Clone)]
pub struct Ctx {
    pub lang: Lang,
    pub user: Option<User>,
    pub session: Option<Session>,
    /// Authenticated by API token rather than cookie: no CSRF applies.
    pub via_token: bool,
    /// The token forms must echo: the session's, or the pre-session cookie's.
    pub csrf: String,
    /// The request path is an API path (problem+json, 401 rather than redirect).
    pub api: bool,
    /// Errors are drawn as HTML pages: a non-API path asked for by a browser
    /// (Accept includes text/html); everyone else gets problem+json.
    pub html: bool,
    pub path: String,
    pub secure: bool,
}

impl Ctx {
    pub fn role(&self) -> Role {
        self.user.as_ref().map(|u| u.role()).unwrap_or(Role::Public)
    }
    pub fn username(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.username.as_str())
    }
    pub fn actor(&self) -> String {
        self.user
            .as_ref()
            .map(|u| format!("user:{}", u.username))
            .unwrap_or_else(|| "anonymous".into())
    }
    /// The regulator's staff: reviewers and administrators.
    pub fn is_staff(&self) -> bool {
        matches!(self.role(), Role::Reviewer | Role::Admin)
    }
    /// A vendor's own organisation; `None` for every other role.
    pub fn vendor_org(&self) -> Option<&str> {
        match self.role() {
            Role::Vendor => self.user.as_ref()?.organisation_id.as_deref(),
            _ => None,
        }
    }
    /// Turns a store error into this request's error (for `map_err`).
    pub fn store_err(&self) -> impl Fn(vigilo_store::StoreError) -> AppError + '_ {
        move |e| self.err(e.into())
    }
    /// An error rendered in this request's language and format.
    pub fn err(&self, e: AppError) -> AppError {
        AppError {
            lang: self.lang,
            html: self.html,
            contextual: true,
            ..e
        }
    }
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: Option<i64>,
    http_only: bool,
    secure: bool,
) -> String {
    let mut c = format!("{name}={value}; Path=/; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/federation/") || path.starts_with("/fhir/")
}

/// Builds the [`Ctx`], runs the request, then renders any error in the user's
/// language and format and sets the language and CSRF cookies.
pub async fn context_layer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let headers = req.headers().clone();
    let path = req.uri().path().to_string();
    let api = is_api_path(&path);
    let html = !api
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
    let query_lang = query_param(req.uri().query(), "lang").and_then(Lang::from_tag);
    let lang = Lang::negotiate(
        query_lang.map(|l| l.code()),
        cookie(&headers, LANG_COOKIE),
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let secure = state.config.secure_cookies.unwrap_or_else(|| {
        headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
    });

    let mut user = None;
    let mut session = None;
    let mut via_token = false;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let lookup = match bearer {
        Some(secret) => {
            via_token = true;
            state.store.token_user(secret).await.map(|u| (u, None))
        }
        None => match cookie(&headers, SESSION_COOKIE) {
            Some(tok) => state
                .store
                .session_user(tok)
                .await
                .map(|found| match found {
                    Some((s, u)) => (Some(u), Some(s)),
                    None => (None, None),
                }),
            None => Ok((None, None)),
        },
    };
    match lookup {
        Ok((u, s)) => {
            user = u;
            session = s;
        }
        Err(e) => {
            // Public pages still answer when identity cannot be checked; the
            // access layer refuses protected routes (503) below.
            if !e.is_unavailable() {
                tracing::error!(error = %e, "identity lookup failed");
            }
            if bearer.is_some() || cookie(&headers, SESSION_COOKIE).is_some() {
                let err = AppError::from(e);
                return AppError {
                    lang,
                    html,
                    contextual: true,
                    ..err
                }
                .into_response();
            }
        }
    }
    if bearer.is_some() && user.is_none() {
        return AppError {
            lang,
            html: false,
            contextual: true,
            ..AppError::new(ErrorCode::Unauthenticated)
                .detail("the API token is unknown, expired or revoked")
        }
        .into_response();
    }

    let mut new_csrf_cookie = None;
    let csrf = match &session {
        Some(s) => s.csrf_token.clone(),
        None => match cookie(&headers, CSRF_COOKIE)
            .filter(|c| c.len() == 48 && c.chars().all(|ch| ch.is_ascii_hexdigit()))
        {
            Some(c) => c.to_string(),
            None => {
                let fresh = random_hex(24);
                new_csrf_cookie = Some(fresh.clone());
                fresh
            }
        },
    };

    let ctx = Arc::new(Ctx {
        lang,
        user,
        session,
        via_token,
        csrf,
        api,
        html,
        path,
        secure,
    });
    req.extensions_mut().insert(ctx.clone());
    let mut resp = next.run(req).await;

    // Errors raised without the Ctx (extractor rejections, fallbacks) are
    // rendered again here in the request's language and format.
    if let Some(marker) = resp.extensions().get::<ErrorMarker>().cloned() {
        if !marker.contextual {
            let again = AppError {
                code: marker.code,
                detail: marker.detail,
                retry_after: marker.retry_after,
                lang,
                html,
                contextual: true,
            }
            .into_response();
            let cookies: Vec<HeaderValue> = resp
                .headers()
                .get_all(header::SET_COOKIE)
                .iter()
                .cloned()
                .collect();
            resp = again;
            for c in cookies {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
        }
    }
    // FHIR clients read OperationOutcome, also when the refusal came from a layer in
    // front of the FHIR handlers (login, role, rate limit, load).
    if ctx.path.starts_with("/fhir/") {
        let problem = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
        if let (true, Some(marker)) = (problem, resp.extensions().get::<ErrorMarker>().cloned()) {
            resp = crate::fhir_incidents::outcome_error(
                lang,
                AppError {
                    code: marker.code,
                    detail: marker.detail,
                    retry_after: marker.retry_after,
                    lang,
                    html: false,
                    contextual: true,
                },
            );
        }
    }
    // On a download, `?lang=` chose the file's language, not the interface's: a Vietnamese
    // user fetching the English version of a document keeps Vietnamese pages.
    let download = resp
        .headers()
        .get(header::CONTENT_DISPOSITION)
        .is_some_and(|v| v.as_bytes().starts_with(b"attachment"));
    if let Some(l) = query_lang.filter(|_| !download) {
        if let Ok(v) = HeaderValue::from_str(&set_cookie(
            LANG_COOKIE,
            l.code(),
            Some(31_536_000),
            false,
            secure,
        )) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if let Some(c) = new_csrf_cookie {
        if is_html {
            if let Ok(v) = HeaderValue::from_str(&set_cookie(CSRF_COOKIE, &c, None, true, secure)) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
    }
    if !resp.headers().contains_key(header::CONTENT_LANGUAGE) {
        resp.headers_mut().insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(lang.code()),
        );
    }
    resp
}

pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Constant-time comparison for secrets.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The access check in front of every route: role, then CSRF for state-changing
/// requests made with cookies.
pub async fn access_layer(
    State((access, body_limit)): State<(Access, usize)>,
    req: Request,
    next: Next,
) -> Response {
    let Some(ctx) = req.extensions().get::<Arc<Ctx>>().cloned() else {
        return AppError::new(ErrorCode::Internal).into_response();
    };
    match access.check(ctx.role(), ctx.user.is_some()) {
        AccessDecision::Allow => {}
        AccessDecision::NeedLogin if !ctx.api => {
            let next_path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into());
            let target = format!("/login?next={}", urlencode(&next_path));
            return Redirect::to(&target).into_response();
        }
        AccessDecision::NeedLogin => {
            return ctx
                .err(AppError::new(ErrorCode::Unauthenticated))
                .into_response()
        }
        AccessDecision::Deny => {
            return ctx
                .err(
                    AppError::new(ErrorCode::Forbidden)
                        .detail(format!("this requires one of: {}", access.describe())),
                )
                .into_response()
        }
    }
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && !ctx.via_token {
        if ctx.api {
            // Cookie-authenticated API calls (from our own pages) carry the token in a header.
            let ok = req
                .headers()
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| same_secret(v, &ctx.csrf));
            if ctx.user.is_some() && !ok {
                return ctx
                    .err(AppError::new(ErrorCode::CsrfFailed))
                    .into_response();
            }
        } else {
            // Forms: read the body (bounded), find the csrf field, put the body back.
            let (parts, body) = req.into_parts();
            let bytes = match to_bytes(body, body_limit).await {
                Ok(b) => b,
                Err(_) => {
                    return ctx
                        .err(AppError::new(ErrorCode::PayloadTooLarge))
                        .into_response()
                }
            };
            let multipart = parts
                .headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("multipart/form-data"));
            let from_body = if multipart {
                multipart_field(&parts, &bytes, CSRF_FIELD).await
            } else {
                form_field(&bytes, CSRF_FIELD)
            };
            let token = from_body.or_else(|| {
                parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            });
            if !token.is_some_and(|t| same_secret(&t, &ctx.csrf)) {
                return ctx
                    .err(AppError::new(ErrorCode::CsrfFailed))
                    .into_response();
            }
            let req = Request::from_parts(parts, Body::from(bytes));
            return next.run(req).await;
        }
    }
    next.run(req).await
}

/// A text field of a multipart form (file uploads). Forms put `csrf` first, so
/// this reads only the start of the body.
async fn multipart_field(
    parts: &axum::http::request::Parts,
    body: &axum::body::Bytes,
    name: &str,
) -> Option<String> {
    use axum::extract::{FromRequest, Multipart};
    let mut probe = Request::new(Body::from(body.clone()));
    *probe.headers_mut() = parts.headers.clone();
    *probe.extensions_mut() = parts.extensions.clone();
    let mut form = Multipart::from_request(probe, &()).await.ok()?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)])
        .map(|e| e.trim_start_matches("x=").to_string())
        .unwrap_or_default()
}

pub enum AccessDecision {
    Allow,
    NeedLogin,
    Deny,
}

impl Access {
    pub fn check(&self, role: Role, logged_in: bool) -> AccessDecision {
        match self {
            Access::Public => AccessDecision::Allow,
            Access::Authenticated if logged_in => AccessDecision::Allow,
            Access::Authenticated => AccessDecision::NeedLogin,
            Access::Roles(roles) if roles.contains(&role) => AccessDecision::Allow,
            Access::Roles(_) if !logged_in => AccessDecision::NeedLogin,
            Access::Roles(_) => AccessDecision::Deny,
        }
    }
    pub fn describe(&self) -> String {
        match self {
            Access::Public => "anyone".into(),
            Access::Authenticated => "any logged-in account".into(),
            Access::Roles(r) => r.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
        }
    }
}

/// Security headers on every response; pages are same-origin only. HSTS only when the
/// request came over TLS (the proxy says so, or the operator declared it): over plain
/// HTTP on a station's LAN it would be ignored, and on a misconfigured host it would lock
/// browsers out.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let over_tls = state.config.secure_cookies.unwrap_or_else(|| {
        req.headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
    });
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if over_tls {
        h.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    resp
}

/// Logs method, route and status; never query strings, bodies or identities.
pub async fn access_log(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req.uri().path().to_string();
    let start = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(%method, route, status = status.as_u16(), ms, "request");
    } else {
        tracing::info!(%method, route, status = status.as_u16(), ms, "request");
    }
    resp
}
