//! The reviewer's signal desk: the list of signals found by the detection job, each with
//! its evidence and reports, and the review workflow (new, under review, confirmed,
//! refuted). Confirmed signals lead to safety notices (`notices.rs`).

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult};
use crate::extract::{ApiQuery, PageForm};
use crate::incident_signals::{run_signals, DetectOptions};
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vigilo_core::signal::{signal_commands, SignalCommand, SignalMethod, SignalState};
use vigilo_core::Lang;
use vigilo_store::{Signal, SignalFilter};

/// A signal as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignalOut {
    pub id: String,
    pub method: String,
    pub product_key: String,
    pub product_label: String,
    pub product_id: Option<String>,
    pub version_id: Option<String>,
    pub code: String,
    pub region: String,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub observed: i64,
    pub expected: f64,
    pub score_label: String,
    pub score: f64,
    /// Counts, expected counts and every score computed, as the job found them.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    pub state: String,
    /// False when the latest run no longer found it (it stays for the record).
    pub still_detected: bool,
    pub first_detected_at: String,
    pub last_detected_at: String,
    /// The reports behind it (ids; `/api/v1/incidents/{id}`).
    pub incidents: Vec<String>,
}

fn out(s: Signal, incidents: Vec<String>) -> SignalOut {
    SignalOut {
        evidence: serde_json::from_str(&s.evidence_json).unwrap_or(serde_json::Value::Null),
        id: s.id,
        method: s.method,
        product_key: s.product_key,
        product_label: s.product_label,
        product_id: s.product_id,
        version_id: s.version_id,
        code: s.code,
        region: s.region,
        window_start: s.window_start,
        window_end: s.window_end,
        observed: s.observed,
        expected: s.expected,
        score_label: s.score_label,
        score: s.score,
        state: s.state,
        still_detected: s.still_detected != 0,
        first_detected_at: s.first_detected_at,
        last_detected_at: s.last_detected_at,
        incidents,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SignalQuery {
    /// new, under_review, confirmed, refuted
    pub state: Option<String>,
    /// disproportionality, rate, cluster
    pub method: Option<String>,
    pub product: Option<String>,
}

fn filter_of(ctx: &Ctx, q: &SignalQuery) -> AppResult<SignalFilter> {
    let bad = |e: vigilo_core::directory::UnknownCode| ctx.err(AppError::invalid(e.to_string()));
    Ok(SignalFilter {
        state: match q.state.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(s.parse::<SignalState>().map_err(bad)?),
            None => None,
        },
        method: match q.method.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(s.parse::<SignalMethod>().map_err(bad)?),
            None => None,
        },
        product_id: q.product.clone().filter(|p| !p.is_empty()),
        limit: 500,
    })
}

#[utoipa::path(get, path = "/api/v1/signals", tag = "early-warning",
    params(SignalQuery),
    responses((status = 200, body = [SignalOut]), (status = 401, body = crate::error::Problem)))]
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<SignalQuery>,
) -> AppResult<Json<Vec<SignalOut>>> {
    let f = filter_of(&ctx, &q)?;
    let rows = state.store.signals(&f).await.map_err(ctx.store_err())?;
    Ok(Json(rows.into_iter().map(|s| out(s, Vec::new())).collect()))
}

async fn signal_for(state: &AppState, ctx: &Ctx, id: &str) -> AppResult<Signal> {
    state
        .store
        .signal(id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))
}

#[utoipa::path(get, path = "/api/v1/signals/{id}", tag = "early-warning",
    params(("id" = String, Path, description = "Signal id")),
    responses((status = 200, body = SignalOut), (status = 404, body = crate::error::Problem)))]
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Json<SignalOut>> {
    let s = signal_for(&state, &ctx, &id).await?;
    let incidents = state
        .store
        .signal_incident_ids(&id)
        .await
        .map_err(ctx.store_err())?;
    Ok(Json(out(s, incidents)))
}

pub struct Row {
    pub id: String,
    pub method: String,
    pub product: String,
    pub code: String,
    pub region: String,
    pub observed: i64,
    pub expected: String,
    pub score: String,
    pub state: String,
    pub current: bool,
    pub last: String,
}

#[derive(Template)]
#[template(path = "signals.html")]
struct ListPage {
    l: Layout,
    rows: Vec<Row>,
    ran: Option<String>,
}

fn label<T: std::str::FromStr + Copy>(code: &str, f: impl Fn(T) -> &'static str) -> String {
    code.parse::<T>()
        .map(|v| f(v).to_string())
        .unwrap_or_else(|_| code.to_string())
}

fn score_text(label: &str, score: f64) -> String {
    if label == "p" {
        format!("p = {score:.1e}")
    } else {
        format!("{label} {score:.2}")
    }
}

async fn list_view(
    state: &AppState,
    ctx: &Ctx,
    q: &SignalQuery,
    ran: Option<String>,
) -> AppResult<Response> {
    let f = filter_of(ctx, q)?;
    let rows = state.store.signals(&f).await.map_err(ctx.store_err())?;
    let l = Layout::new(state, ctx);
    let lang = l.tr.lang;
    let mut places: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let regions: std::collections::BTreeSet<String> = rows
        .iter()
        .map(|s| s.region.clone())
        .filter(|r| !r.is_empty())
        .collect();
    for code in regions {
        let name = state
            .store
            .admin_unit(&code)
            .await
            .map_err(ctx.store_err())?
            .map(|u| u.name)
            .unwrap_or_else(|| code.clone());
        places.insert(code, name);
    }
    let rows = rows
        .into_iter()
        .map(|s| Row {
            method: label::<SignalMethod>(&s.method, |m| m.label(lang)),
            product: s.product_label,
            code: s.code,
            region: places.get(&s.region).cloned().unwrap_or(s.region),
            observed: s.observed,
            expected: format!("{:.2}", s.expected),
            score: score_text(&s.score_label, s.score),
            state: label::<SignalState>(&s.state, |m| m.label(lang)),
            current: s.still_detected != 0,
            last: s.last_detected_at.get(..10).unwrap_or("").into(),
            id: s.id,
        })
        .collect();
    render(&ListPage { l, rows, ran }, ctx, StatusCode::OK)
}

pub async fn list_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<SignalQuery>,
) -> AppResult<Response> {
    list_view(&state, &ctx, &q, None).await
}

/// Runs the detection now (it also runs daily), for a reviewer who has just coded reports.
pub async fn run_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let summary = run_signals(&state.store, &DetectOptions::default())
        .await
        .map_err(ctx.store_err())?;
    let q = SignalQuery {
        state: None,
        method: None,
        product: None,
    };
    list_view(&state, &ctx, &q, Some(summary.to_string())).await
}

pub struct IncidentLine {
    pub id: String,
    pub receipt: String,
    pub seriousness: String,
    pub received: String,
    pub place: String,
}

pub struct Opt {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "signal.html")]
struct DetailPage {
    l: Layout,
    s: Signal,
    method: String,
    state: String,
    score: String,
    evidence: String,
    incidents: Vec<IncidentLine>,
    more_incidents: usize,
    events: Vec<(String, String, String, String)>,
    actions: Vec<Opt>,
    can_notify: bool,
    errors: Vec<String>,
}

/// Reports listed on a signal's page; the API has them all.
const INCIDENTS_SHOWN: usize = 200;

async fn detail_view(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    errors: Vec<String>,
    status: StatusCode,
) -> AppResult<Response> {
    let s = signal_for(state, ctx, id).await?;
    let l = Layout::new(state, ctx);
    let lang = l.tr.lang;
    let ids = state
        .store
        .signal_incident_ids(id)
        .await
        .map_err(ctx.store_err())?;
    let mut incidents = Vec::new();
    for iid in ids.iter().take(INCIDENTS_SHOWN) {
        if let Some(v) = state.store.incident(iid).await.map_err(ctx.store_err())? {
            incidents.push(IncidentLine {
                receipt: v.incident.receipt.clone(),
                seriousness: label::<vigilo_core::incident::Seriousness>(
                    &v.incident.seriousness,
                    |x| x.label(lang),
                ),
                received: v.incident.received_on.clone(),
                place: v
                    .facility_name
                    .clone()
                    .or(v.incident.province_code.clone())
                    .unwrap_or_else(|| v.incident.country.clone()),
                id: v.incident.id,
            });
        }
    }
    let events = state
        .store
        .signal_events(id)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|e| {
            (
                e.at.get(..16).unwrap_or(&e.at).replace('T', " "),
                label::<SignalCommand>(&e.action, |c| c.label(lang)),
                format!(
                    "{} → {}",
                    label::<SignalState>(&e.from_state, |x| x.label(lang)),
                    label::<SignalState>(&e.to_state, |x| x.label(lang))
                ),
                e.reason,
            )
        })
        .collect();
    let current = s.state.parse::<SignalState>().unwrap_or(SignalState::New);
    let actions = signal_commands(current)
        .into_iter()
        .map(|c| Opt {
            value: c.code().into(),
            label: c.label(lang).into(),
        })
        .collect();
    let evidence = serde_json::from_str::<serde_json::Value>(&s.evidence_json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default();
    render(
        &DetailPage {
            method: label::<SignalMethod>(&s.method, |m| m.label(lang)),
            state: label::<SignalState>(&s.state, |m| m.label(lang)),
            score: score_text(&s.score_label, s.score),
            evidence,
            more_incidents: ids.len().saturating_sub(INCIDENTS_SHOWN),
            incidents,
            events,
            actions,
            can_notify: current == SignalState::Confirmed && s.product_id.is_some(),
            errors,
            l,
            s,
        },
        ctx,
        status,
    )
}

pub async fn detail_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    detail_view(&state, &ctx, &id, Vec::new(), StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    pub action: String,
    #[serde(default)]
    pub reason: String,
}

pub async fn action_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<ActionForm>,
) -> AppResult<Response> {
    let command: SignalCommand =
        form.action
            .parse()
            .map_err(|e: vigilo_core::directory::UnknownCode| {
                ctx.err(AppError::invalid(e.to_string()))
            })?;
    let actor = ctx.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
    match state
        .store
        .signal_transition(&actor, &id, command, &form.reason)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/signals/{id}")).into_response()),
        Err(
            e @ (vigilo_store::StoreError::Invalid { .. }
            | vigilo_store::StoreError::Conflict { .. }),
        ) => {
            let message = if ctx.lang == Lang::Vi {
                format!("Không thực hiện được: {e}")
            } else {
                e.to_string()
            };
            detail_view(
                &state,
                &ctx,
                &id,
                vec![message],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(ctx.store_err()(e)),
    }
}
