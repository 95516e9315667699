//! Safety notices: issued by reviewers (from a confirmed signal or directly), public on
//! their own page and the product's page, delivered to every facility deploying the
//! versions, which acknowledges them on `/notices` or through the API.

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult};
use crate::extract::{ApiQuery, PageForm};
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vigilo_core::signal::NoticeKind;
use vigilo_core::{Lang, Role};
use vigilo_store::{NewNotice, Notice};

/// A notice as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NoticeOut {
    pub id: String,
    pub reference: String,
    /// field_safety_notice or suspension
    pub kind: String,
    pub product_id: String,
    pub versions: Vec<String>,
    pub title: String,
    pub body: String,
    /// What facilities must do.
    pub action: String,
    pub issued_at: String,
    /// For a facility's own account: when it acknowledged the notice (absent if not yet).
    pub acknowledged_at: Option<String>,
    /// For a facility's own account: whether the notice concerns its deployments.
    pub concerns_you: bool,
}

fn text(n: &Notice, lang: Lang) -> (String, String, String) {
    match lang {
        Lang::Vi => (n.title_vi.clone(), n.body_vi.clone(), n.action_vi.clone()),
        Lang::En => (n.title_en.clone(), n.body_en.clone(), n.action_en.clone()),
    }
}

fn facility_of(ctx: &Ctx) -> Option<&str> {
    match ctx.role() {
        Role::Reporter => ctx.user.as_ref()?.organisation_id.as_deref(),
        _ => None,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct NoticeQuery {
    /// Only this product's notices.
    pub product: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/notices", tag = "early-warning",
    params(NoticeQuery),
    responses((status = 200, body = [NoticeOut])))]
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<NoticeQuery>,
) -> AppResult<Json<Vec<NoticeOut>>> {
    let store = &state.store;
    let own = match facility_of(&ctx) {
        Some(f) => store.facility_notices(f).await.map_err(ctx.store_err())?,
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for n in store
        .notices(q.product.as_deref().filter(|p| !p.is_empty()))
        .await
        .map_err(ctx.store_err())?
    {
        let mine = own.iter().find(|f| f.notice.id == n.id);
        let (title, body, action) = text(&n, ctx.lang);
        out.push(NoticeOut {
            versions: store
                .notice_versions(&n.id)
                .await
                .map_err(ctx.store_err())?,
            acknowledged_at: mine.and_then(|m| m.acknowledged_at.clone()),
            concerns_you: mine.is_some(),
            id: n.id,
            reference: n.reference,
            kind: n.kind,
            product_id: n.product_id,
            title,
            body,
            action,
            issued_at: n.issued_at,
        });
    }
    Ok(Json(out))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Acknowledged {
    /// Deployments of the facility newly acknowledged (0 when it was already).
    pub deployments: u64,
}

async fn acknowledge(state: &AppState, ctx: &Ctx, id: &str) -> AppResult<u64> {
    let facility = facility_of(ctx).ok_or_else(|| {
        ctx.err(AppError::invalid(
            "only a facility's own account acknowledges a notice",
        ))
    })?;
    let actor = ctx.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
    state
        .store
        .acknowledge_notice(&actor, id, facility)
        .await
        .map_err(ctx.store_err())
}

#[utoipa::path(post, path = "/api/v1/notices/{id}/acknowledge", tag = "early-warning",
    params(("id" = String, Path, description = "Notice id")),
    responses((status = 200, body = Acknowledged), (status = 404, body = crate::error::Problem)))]
pub async fn api_acknowledge(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Json<Acknowledged>> {
    Ok(Json(Acknowledged {
        deployments: acknowledge(&state, &ctx, &id).await?,
    }))
}

pub struct NoticeRow {
    pub id: String,
    pub reference: String,
    pub kind: String,
    pub product: String,
    pub title: String,
    pub issued: String,
    pub acknowledged: Option<String>,
    pub concerns_you: bool,
}

#[derive(Template)]
#[template(path = "notices.html")]
struct ListPage {
    l: Layout,
    rows: Vec<NoticeRow>,
    is_facility: bool,
}

fn kind_label(code: &str, lang: Lang) -> String {
    code.parse::<NoticeKind>()
        .map(|k| k.label(lang).to_string())
        .unwrap_or_else(|_| code.to_string())
}

pub async fn list_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let l = Layout::new(&state, &ctx);
    let lang = l.tr.lang;
    let store = &state.store;
    let own = match facility_of(&ctx) {
        Some(f) => store.facility_notices(f).await.map_err(ctx.store_err())?,
        None => Vec::new(),
    };
    let products: std::collections::HashMap<String, String> = store
        .incident_product_choices()
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let mut rows: Vec<NoticeRow> = store
        .notices(None)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|n| {
            let mine = own.iter().find(|f| f.notice.id == n.id);
            NoticeRow {
                kind: kind_label(&n.kind, lang),
                product: products.get(&n.product_id).cloned().unwrap_or_default(),
                title: text(&n, lang).0,
                issued: n.issued_at.get(..10).unwrap_or("").into(),
                acknowledged: mine.and_then(|m| m.acknowledged_at.clone()),
                concerns_you: mine.is_some(),
                id: n.id,
                reference: n.reference,
            }
        })
        .collect();
    // A facility's own unacknowledged notices first.
    rows.sort_by_key(|r| !(r.concerns_you && r.acknowledged.is_none()));
    render(
        &ListPage {
            l,
            rows,
            is_facility: facility_of(&ctx).is_some(),
        },
        &ctx,
        StatusCode::OK,
    )
}

pub struct RecipientRow {
    pub facility: String,
    pub version: String,
    pub acknowledged: Option<String>,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct DetailPage {
    l: Layout,
    n: Notice,
    kind: String,
    product: String,
    versions: String,
    title: String,
    body: String,
    action: String,
    recipients: Vec<RecipientRow>,
    acknowledged: usize,
    show_recipients: bool,
    can_acknowledge: bool,
    acknowledged_at: Option<String>,
}

pub async fn detail_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let store = &state.store;
    let n = store
        .notice(&id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let l = Layout::new(&state, &ctx);
    let lang = l.tr.lang;
    let product = store
        .product(&n.product_id)
        .await
        .map_err(ctx.store_err())?
        .map(|p| p.name)
        .unwrap_or_default();
    let recipients = store
        .notice_recipients(&id)
        .await
        .map_err(ctx.store_err())?;
    let mine = facility_of(&ctx).map(|f| {
        recipients
            .iter()
            .filter(|r| r.facility_id == f)
            .collect::<Vec<_>>()
    });
    let can_acknowledge = mine.as_ref().is_some_and(|m| !m.is_empty());
    let acknowledged_at = mine
        .as_ref()
        .and_then(|m| m.iter().find_map(|r| r.acknowledged_at.clone()));
    let (title, body, action) = text(&n, lang);
    render(
        &DetailPage {
            kind: kind_label(&n.kind, lang),
            versions: store
                .notice_versions(&id)
                .await
                .map_err(ctx.store_err())?
                .join(", "),
            acknowledged: recipients
                .iter()
                .filter(|r| r.acknowledged_at.is_some())
                .count(),
            show_recipients: ctx.is_staff(),
            recipients: if ctx.is_staff() {
                recipients
                    .iter()
                    .map(|r| RecipientRow {
                        facility: r.facility_name.clone(),
                        version: r.version.clone(),
                        acknowledged: r.acknowledged_at.clone(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            can_acknowledge,
            acknowledged_at,
            product,
            title,
            body,
            action,
            l,
            n,
        },
        &ctx,
        StatusCode::OK,
    )
}

pub async fn acknowledge_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    acknowledge(&state, &ctx, &id).await?;
    Ok(Redirect::to(&format!("/notices/{id}")).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    pub signal: Option<String>,
    pub product: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeForm {
    #[serde(default)]
    pub signal_id: String,
    #[serde(default)]
    pub product_id: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub versions: String,
    #[serde(default)]
    pub title_vi: String,
    #[serde(default)]
    pub title_en: String,
    #[serde(default)]
    pub body_vi: String,
    #[serde(default)]
    pub body_en: String,
    #[serde(default)]
    pub action_vi: String,
    #[serde(default)]
    pub action_en: String,
}

pub struct VersionOpt {
    pub id: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "notice_form.html")]
struct FormPage {
    l: Layout,
    f: NoticeForm,
    product: String,
    versions: Vec<VersionOpt>,
    evidence: String,
    errors: Vec<String>,
}

async fn form_view(
    state: &AppState,
    ctx: &Ctx,
    mut f: NoticeForm,
    errors: Vec<String>,
    status: StatusCode,
) -> AppResult<Response> {
    let store = &state.store;
    let mut evidence = String::new();
    if !f.signal_id.is_empty() {
        let s = store
            .signal(&f.signal_id)
            .await
            .map_err(ctx.store_err())?
            .ok_or_else(|| ctx.err(AppError::not_found()))?;
        if f.product_id.is_empty() {
            f.product_id = s.product_id.clone().unwrap_or_default();
        }
        if f.versions.is_empty() {
            f.versions = s.version_id.clone().unwrap_or_default();
        }
        evidence = format!(
            "{} · {} · {} {} / {:.2} · {} {:.3}",
            s.method, s.product_label, s.code, s.observed, s.expected, s.score_label, s.score
        );
    }
    let product = store
        .product(&f.product_id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| {
            ctx.err(AppError::invalid(
                "choose the product: open the form from a confirmed signal, or add ?product=ID",
            ))
        })?;
    let versions = store
        .versions(&product.id)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|v| VersionOpt {
            id: v.id,
            label: v.version,
        })
        .collect();
    if f.kind.is_empty() {
        f.kind = NoticeKind::FieldSafetyNotice.code().into();
    }
    render(
        &FormPage {
            l: Layout::new(state, ctx),
            product: product.name,
            versions,
            evidence,
            errors,
            f,
        },
        ctx,
        status,
    )
}

pub async fn new_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<NewQuery>,
) -> AppResult<Response> {
    let f = NoticeForm {
        signal_id: q.signal.unwrap_or_default(),
        product_id: q.product.unwrap_or_default(),
        ..Default::default()
    };
    form_view(&state, &ctx, f, Vec::new(), StatusCode::OK).await
}

pub async fn create_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(f): PageForm<NoticeForm>,
) -> AppResult<Response> {
    let kind: NoticeKind = match f.kind.parse() {
        Ok(k) => k,
        Err(e) => {
            return form_view(
                &state,
                &ctx,
                f,
                vec![format!("{e}")],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let versions: Vec<String> = f
        .versions
        .split([',', ' '])
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    let actor = ctx.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
    let issued = state
        .store
        .issue_notice(
            &actor,
            &NewNotice {
                kind,
                product_id: &f.product_id,
                version_ids: &versions,
                signal_id: Some(f.signal_id.as_str()).filter(|s| !s.is_empty()),
                title_vi: &f.title_vi,
                title_en: &f.title_en,
                body_vi: &f.body_vi,
                body_en: &f.body_en,
                action_vi: &f.action_vi,
                action_en: &f.action_en,
            },
        )
        .await;
    match issued {
        Ok(i) => Ok(Redirect::to(&format!("/notices/{}", i.notice.id)).into_response()),
        Err(e @ vigilo_store::StoreError::Invalid { .. }) => {
            form_view(
                &state,
                &ctx,
                f,
                vec![e.to_string()],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(ctx.store_err()(e)),
    }
}

/// The product page's list of notices (public).
pub struct ProductNotice {
    pub id: String,
    pub reference: String,
    pub kind: String,
    pub title: String,
    pub issued: String,
}

pub async fn product_notices(
    state: &AppState,
    ctx: &Ctx,
    lang: Lang,
    product_id: &str,
) -> AppResult<Vec<ProductNotice>> {
    Ok(state
        .store
        .notices(Some(product_id))
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|n| ProductNotice {
            kind: kind_label(&n.kind, lang),
            title: text(&n, lang).0,
            issued: n.issued_at.get(..10).unwrap_or("").into(),
            id: n.id,
            reference: n.reference,
        })
        .collect())
}
