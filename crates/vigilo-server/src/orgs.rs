//! Organisations in the interface: companies registering themselves as vendors,
//! and the administrators' list of organisations.

use crate::ctx::Ctx;
use crate::error::{AppResult, ErrorCode};
use crate::extract::PageForm;
use crate::i18n::Tr;
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use vigilo_core::{OrgKind, Username};
use vigilo_store::{NewOrganisation, Organisation, StoreError};

#[derive(Deserialize, Default, Clone)]
pub struct RegisterForm {
    #[serde(default)]
    pub org_name: String,
    #[serde(default)]
    pub org_name_en: String,
    #[serde(default)]
    pub org_code: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub password: String,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    l: Layout,
    form: RegisterForm,
    error: Option<String>,
    done: Option<String>,
}

pub async fn register_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let page = RegisterPage {
        l: Layout::new(&state, &ctx),
        form: RegisterForm::default(),
        error: None,
        done: None,
    };
    render(&page, &ctx, StatusCode::OK)
}

/// Registrations allowed per address per hour: enough for a company, not for a bot.
const SIGNUPS_PER_HOUR: i64 = 5;

pub async fn register_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    PageForm(form): PageForm<RegisterForm>,
) -> AppResult<Response> {
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let again = |error: String, status: StatusCode| {
        let page = RegisterPage {
            l: Layout::new(&state, &ctx),
            form: RegisterForm {
                password: String::new(),
                ..form.clone()
            },
            error: Some(error),
            done: None,
        };
        render(&page, &ctx, status)
    };
    let key = format!("signup:{}", peer.ip());
    let recent = state
        .store
        .login_failures_since(&key, time::Duration::hours(1))
        .await
        .map_err(|e| ctx.err(e.into()))?;
    if recent >= SIGNUPS_PER_HOUR {
        return again(
            tr.t("reg-throttled"),
            ErrorCode::TooManyRequests.spec().status,
        );
    }
    let code = form.org_code.trim();
    if !(5..=20).contains(&code.len())
        || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return again(
            tr.ta(
                "form-error",
                &[(
                    "reason",
                    format!("{}: 5-20 letters or digits", tr.t("reg-org-code")),
                )],
            ),
            StatusCode::BAD_REQUEST,
        );
    }
    let username = match Username::parse(&form.username) {
        Ok(u) => u,
        Err(e) => {
            return again(
                tr.ta("form-error", &[("reason", e.to_string())]),
                StatusCode::BAD_REQUEST,
            )
        }
    };
    // Every attempt counts toward the limit, successful or not.
    let _ = state.store.record_login_failure(&key).await;
    let result = state
        .store
        .register_vendor(
            NewOrganisation {
                code: code.to_string(),
                kind: OrgKind::Manufacturer,
                name: form.org_name.clone(),
                name_en: Some(form.org_name_en.clone()),
                admin_unit_code: None,
            },
            username,
            &form.display_name,
            form.password.clone(),
        )
        .await;
    match result {
        Ok((org, user)) => {
            let page = RegisterPage {
                done: Some(tr.ta("reg-done", &[("org", org.name), ("user", user.username)])),
                l: Layout::new(&state, &ctx),
                form: RegisterForm::default(),
                error: None,
            };
            render(&page, &ctx, StatusCode::OK)
        }
        Err(e @ (StoreError::Invalid { .. } | StoreError::Conflict { .. })) => again(
            tr.ta("form-error", &[("reason", e.to_string())]),
            StatusCode::BAD_REQUEST,
        ),
        Err(e) => Err(ctx.err(e.into())),
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct OrgForm {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub admin_unit_code: String,
}

pub struct OrgRow {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub unit: String,
}

#[derive(Template)]
#[template(path = "admin_orgs.html")]
struct OrgsPage {
    l: Layout,
    orgs: Vec<OrgRow>,
    form: OrgForm,
    error: Option<String>,
}

async fn orgs_page(
    state: &AppState,
    ctx: &Ctx,
    form: OrgForm,
    error: Option<String>,
) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let orgs: Vec<Organisation> = state
        .store
        .list_organisations(None)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let orgs = orgs
        .into_iter()
        .map(|o| OrgRow {
            kind: l.tr.t(&format!("org-kind-{}", o.kind)),
            code: o.code,
            name: o.name,
            unit: o.admin_unit_code.unwrap_or_default(),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(
        &OrgsPage {
            l,
            orgs,
            form,
            error,
        },
        ctx,
        status,
    )
}

pub async fn admin_orgs(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    orgs_page(
        &state,
        &ctx,
        OrgForm {
            kind: "facility".into(),
            ..OrgForm::default()
        },
        None,
    )
    .await
}

pub async fn admin_create_org(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(form): PageForm<OrgForm>,
) -> AppResult<Response> {
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let kind = match form.kind.parse::<OrgKind>() {
        Ok(k) => k,
        Err(e) => {
            return orgs_page(
                &state,
                &ctx,
                form,
                Some(tr.ta("form-error", &[("reason", e.to_string())])),
            )
            .await
        }
    };
    let unit = Some(form.admin_unit_code.trim().to_string()).filter(|u| !u.is_empty());
    let result = state
        .store
        .create_organisation(
            &ctx.actor(),
            NewOrganisation {
                code: form.code.clone(),
                kind,
                name: form.name.clone(),
                name_en: Some(form.name_en.clone()),
                admin_unit_code: unit,
            },
        )
        .await;
    match result {
        Ok(_) => Ok(Redirect::to("/admin/organisations").into_response()),
        Err(e @ (StoreError::Invalid { .. } | StoreError::Conflict { .. })) => {
            orgs_page(
                &state,
                &ctx,
                form,
                Some(tr.ta("form-error", &[("reason", e.to_string())])),
            )
            .await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}
