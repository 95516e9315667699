//! Early warnings for GRN peers, from a confirmed signal to the feed. A reviewer composes
//! one: the facts (product, manufacturer, versions, codes, counts by seriousness, period,
//! actions taken) come from the database, never from a report's narrative; the reviewer
//! writes the summary and the recommendation, which are checked for identifiers. The exact
//! payload is previewed, then an admin other than the composer approves it and it is signed
//! and published. An admin can retract it later.

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::extract::PageForm;
use crate::pages::{render_page, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;
use std::sync::Arc;
use time::Date;
use vigilo_core::appraisal::iso_date;
use vigilo_core::federation::{
    compose_early_warning, ActionKind, ActionTaken, Audience, CountryCode, EarlyWarning, ItemId,
    ItemType, ReportStage, SeriousnessCounts, WarningInput, WarningProduct,
};
use vigilo_core::incident::Seriousness;
use vigilo_core::suppression::SuppressionRule;
use vigilo_core::Role;
use vigilo_store::{NewPublication, StoreError, WarningBasis, WarningDecision, WarningDraft};

/// At most this many codes go out (the message's own limit is 50).
const MAX_CODES: usize = 20;

#[derive(Deserialize, Default, Clone)]
pub struct WarningForm {
    #[serde(default)]
    pub signal_id: String,
    #[serde(default)]
    pub stage: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub recommendation: String,
    /// Countries where the product is in use, besides this one: "SG, GB".
    #[serde(default)]
    pub countries_concerned: String,
    /// `members` (every GRN member) or `countries` (only those listed below).
    #[serde(default)]
    pub audience: String,
    #[serde(default)]
    pub audience_countries: String,
}

#[derive(Deserialize)]
pub struct NewQuery {
    pub signal: Option<String>,
}

#[derive(Template)]
#[template(path = "warning_choose.html")]
struct ChoosePage {
    l: Layout,
    signals: Vec<vigilo_store::Signal>,
}

#[derive(Template)]
#[template(path = "warning_form.html")]
struct FormPage {
    l: Layout,
    f: WarningForm,
    facts: Vec<(String, String)>,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "warning.html")]
struct ViewPage {
    l: Layout,
    d: WarningDraft,
    /// Who composed it and when, as a reader says it ("reviewer, 2026-12-07 15:01").
    composed: String,
    /// Who decided and when, likewise.
    decided: Option<String>,
    state: String,
    payload: String,
    audience: String,
    can_approve: bool,
    can_withdraw: bool,
    can_retract: bool,
    own_draft: bool,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "warnings.html")]
struct ListPage {
    l: Layout,
    rows: Vec<WarningRow>,
}

struct WarningRow {
    id: String,
    reference: String,
    state: String,
    composed_by: String,
    updated: String,
}

/// An account as the audit names it ("user:reviewer"), as a page shows it ("reviewer").
fn account(actor: &str) -> &str {
    actor.strip_prefix("user:").unwrap_or(actor)
}

/// A stored time ("2026-12-07T15:01:02.123Z") to the minute, as pages show times.
fn minute(t: &str) -> String {
    t.get(..16).unwrap_or(t).replace('T', " ")
}

fn state_label(l: &Layout, state: &str) -> String {
    l.tr.t(&format!("ew-state-{}", state.replace('_', "-")))
}

fn countries(field: &'static str, text: &str) -> Result<Vec<CountryCode>, String> {
    text.split([',', ' ', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|c| {
            c.to_ascii_uppercase()
                .parse::<CountryCode>()
                .map_err(|e| format!("{field}: '{c}': {e}"))
        })
        .collect()
}

fn day(text: &Option<String>) -> Option<Date> {
    text.as_deref()
        .and_then(|t| t.get(..10))
        .and_then(|t| iso_date::parse(t).ok())
}

/// The facts shown to the reviewer before composing, in the page's language.
fn facts(l: &Layout, b: &WarningBasis) -> Vec<(String, String)> {
    let counts = SeriousnessCounts::tally(b.seriousness.iter().filter_map(|s| s.parse().ok()));
    let by_seriousness = Seriousness::ALL
        .iter()
        .zip(counts.0)
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{}: {n}", s.label(l.tr.lang)))
        .collect::<Vec<_>>()
        .join(", ");
    let period = match (&b.first_day, &b.last_day) {
        (Some(a), Some(z)) if a == z => a.clone(),
        (Some(a), Some(z)) => format!("{a} – {z}"),
        _ => String::new(),
    };
    let rows = vec![
        (
            l.tr.t("fed-product"),
            format!("{} — {}", b.product_name, b.manufacturer),
        ),
        (l.tr.t("ew-versions"), b.versions.join(", ")),
        (
            l.tr.t("ew-codes"),
            b.codes
                .iter()
                .take(MAX_CODES)
                .map(|c| format!("{} ({})", c.0, c.2))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (l.tr.t("ew-counts"), by_seriousness),
        (l.tr.t("ew-period"), period),
        (
            l.tr.t("ew-actions"),
            b.notices
                .iter()
                .map(|n| format!("{} {}", n.0, n.2))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    // An empty fact is shown as a dash, not a blank a reader might take for a lost value.
    rows.into_iter()
        .map(|(k, v)| (k, if v.is_empty() { "—".into() } else { v }))
        .collect()
}

/// Builds the warning from the database's facts and the reviewer's fields (also used by
/// `vigilo demo --peers`, so the demo's warning is composed exactly as the desk's).
pub fn input_from(
    b: &WarningBasis,
    f: &WarningForm,
    reference: &str,
    home: Option<CountryCode>,
) -> Result<WarningInput, Vec<String>> {
    let mut errors = Vec::new();
    let stage = match f.stage.as_str() {
        "follow_up" => ReportStage::FollowUp,
        "final" => ReportStage::Final,
        _ => ReportStage::Initial,
    };
    let mut concerned =
        countries("countries concerned", &f.countries_concerned).unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        });
    if let Some(c) = home {
        concerned.push(c);
    }
    concerned.sort();
    concerned.dedup();
    let (Some(period_from), Some(period_to)) = (day(&b.first_day), day(&b.last_day)) else {
        errors.push("the signal has no reports to warn about".into());
        return Err(errors);
    };
    let input_modality = b.input_modality.parse().map_err(|e| format!("{e}"));
    let input_modality = match input_modality {
        Ok(m) => m,
        Err(e) => {
            errors.push(e);
            return Err(errors);
        }
    };
    let mut actions_taken = Vec::new();
    if let Some(on) = day(&b.confirmed_on) {
        actions_taken.push(ActionTaken {
            kind: ActionKind::InvestigationOpened,
            on,
            reference: None,
        });
    }
    for (reference, kind, issued) in &b.notices {
        if let Some(on) = day(&Some(issued.clone())) {
            actions_taken.push(ActionTaken {
                kind: if kind == "suspension" {
                    ActionKind::Suspension
                } else {
                    ActionKind::FieldSafetyNotice
                },
                on,
                reference: Some(reference.clone()),
            });
        }
    }
    let codes = |system: &str| -> Vec<String> {
        b.codes
            .iter()
            .filter(|c| c.1 == system)
            .take(MAX_CODES)
            .map(|c| c.0.clone())
            .collect()
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(WarningInput {
        reference: reference.to_string(),
        stage,
        product: WarningProduct {
            name: b.product_name.clone(),
            manufacturer: b.manufacturer.clone(),
            versions: b.versions.clone(),
            input_modality,
            ai_kind: b.ai_kind.parse().ok(),
        },
        imdrf_codes: codes("imdrf"),
        ai_codes: codes("ai"),
        counts: SeriousnessCounts::tally(b.seriousness.iter().filter_map(|s| s.parse().ok())),
        period_from,
        period_to,
        summary: f.summary.clone(),
        recommendation: f.recommendation.clone(),
        actions_taken,
        countries_concerned: concerned,
    })
}

fn audience_of(f: &WarningForm) -> Result<Audience, String> {
    if f.audience == "countries" {
        let list = countries("audience", &f.audience_countries)?;
        Audience::countries(list).map_err(|e| format!("audience: {e}"))
    } else {
        Ok(Audience::Members)
    }
}

async fn basis(state: &AppState, ctx: &Ctx, signal_id: &str) -> AppResult<WarningBasis> {
    match state.store.warning_basis(signal_id).await {
        Ok(Some(b)) if b.signal_state == "confirmed" => Ok(b),
        Ok(Some(_)) => Err(ctx.err(AppError::invalid(
            "only a confirmed signal can become an early warning: confirm it first",
        ))),
        Ok(None) => Err(ctx.err(AppError::new(ErrorCode::NotFound))),
        Err(e @ StoreError::Invalid { .. }) => Err(ctx.err(AppError::invalid(e.to_string()))),
        Err(e) => Err(ctx.err(e.into())),
    }
}

fn form_page(
    state: &AppState,
    ctx: &Ctx,
    f: WarningForm,
    b: &WarningBasis,
    errors: Vec<String>,
) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render_page(
        &FormPage {
            facts: facts(&l, b),
            l,
            f,
            errors,
        },
        ctx,
        status,
    )
}

/// `GET /grn/warnings/new?signal=ID`
pub async fn new_form(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Query(q): Query<NewQuery>,
) -> AppResult<Response> {
    let Some(signal) = q.signal.filter(|s| !s.trim().is_empty()) else {
        // No signal named: offer the confirmed ones about directory products.
        let signals = state
            .store
            .signals(&vigilo_store::SignalFilter {
                state: Some(vigilo_core::signal::SignalState::Confirmed),
                limit: 200,
                ..Default::default()
            })
            .await
            .map_err(ctx.store_err())?
            .into_iter()
            .filter(|s| s.product_id.is_some())
            .collect();
        let l = Layout::new(&state, &ctx);
        return render_page(&ChoosePage { l, signals }, &ctx, StatusCode::OK);
    };
    let b = basis(&state, &ctx, &signal).await?;
    let f = WarningForm {
        signal_id: b.signal_id.clone(),
        stage: "initial".into(),
        audience: "members".into(),
        ..WarningForm::default()
    };
    form_page(&state, &ctx, f, &b, Vec::new())
}

/// `POST /grn/warnings`: composes and saves for approval, or shows what to fix.
pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(f): PageForm<WarningForm>,
) -> AppResult<Response> {
    if f.signal_id.trim().is_empty() {
        return Err(ctx.err(AppError::invalid(
            "signal_id is missing: open the form from a confirmed signal's page",
        )));
    }
    let b = basis(&state, &ctx, &f.signal_id).await?;
    let home = state.config.federation.identity.as_ref().map(|i| i.country);
    let country = home.map_or_else(|| "XX".to_string(), |c| c.to_string());
    let year = state.store.now().year();
    let audience = match audience_of(&f) {
        Ok(a) => a,
        Err(e) => return form_page(&state, &ctx, f, &b, vec![e]),
    };
    // A provisional reference to check the composition; the real one is drawn after.
    let input = match input_from(&b, &f, &format!("{country}-EW-{year}-000000"), home) {
        Ok(i) => i,
        Err(errors) => return form_page(&state, &ctx, f, &b, errors),
    };
    if let Err(e) = compose_early_warning(&input, SuppressionRule::default()) {
        return form_page(&state, &ctx, f, &b, vec![e.to_string()]);
    }
    let reference = state
        .store
        .next_warning_reference(&country, year)
        .await
        .map_err(ctx.store_err())?;
    let input = WarningInput {
        reference: reference.clone(),
        ..input
    };
    let warning = compose_early_warning(&input, SuppressionRule::default())
        .map_err(|e| ctx.err(AppError::invalid(e.to_string())))?;
    let audience_json = serde_json::to_value(&audience)
        .map_err(|e| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string())))?;
    let draft = state
        .store
        .create_warning_draft(
            &ctx.actor(),
            &b.signal_id,
            &reference,
            &warning.to_payload(),
            &audience_json,
        )
        .await
        .map_err(ctx.store_err())?;
    Ok(Redirect::to(&format!("/grn/warnings/{}", draft.id)).into_response())
}

async fn view(state: &AppState, ctx: &Ctx, id: &str, errors: Vec<String>) -> AppResult<Response> {
    let d = state
        .store
        .warning_draft(id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::new(ErrorCode::NotFound)))?;
    let l = Layout::new(state, ctx);
    let payload = serde_json::from_str::<serde_json::Value>(&d.payload_json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default();
    let audience = match serde_json::from_str::<Audience>(&d.audience_json) {
        Ok(Audience::Countries { countries }) => countries
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        _ => l.tr.t("ew-audience-members"),
    };
    let admin = ctx.role() == Role::Admin;
    let own_draft = d.composed_by == ctx.actor();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render_page(
        &ViewPage {
            composed: format!("{}, {}", account(&d.composed_by), minute(&d.composed_at)),
            decided: d
                .decided_by
                .as_deref()
                .map(|by| match d.decided_at.as_deref() {
                    Some(at) => format!("{}, {}", account(by), minute(at)),
                    None => account(by).to_string(),
                }),
            state: state_label(&l, &d.state),
            can_approve: admin && d.state == "awaiting_approval",
            can_withdraw: (admin || own_draft)
                && matches!(d.state.as_str(), "awaiting_approval" | "returned"),
            can_retract: admin && d.state == "published",
            own_draft,
            payload,
            audience,
            l,
            d,
            errors,
        },
        ctx,
        status,
    )
}

/// `GET /grn/warnings/{id}`: the exact payload that will be (or was) signed.
pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    view(&state, &ctx, &id, Vec::new()).await
}

/// `GET /grn/warnings`
pub async fn list(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let drafts = state
        .store
        .warning_drafts(500)
        .await
        .map_err(ctx.store_err())?;
    let l = Layout::new(&state, &ctx);
    let rows = drafts
        .into_iter()
        .map(|d| WarningRow {
            state: state_label(&l, &d.state),
            composed_by: account(&d.composed_by).to_string(),
            updated: minute(&d.updated_at),
            id: d.id,
            reference: d.reference,
        })
        .collect();
    render_page(&ListPage { l, rows }, &ctx, StatusCode::OK)
}

#[derive(Deserialize, Default)]
pub struct DecisionForm {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub reason: String,
}

/// `POST /grn/warnings/{id}/decide`: approve (sign and publish), return with a
/// reason, withdraw, or retract a published one.
pub async fn decide(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(f): PageForm<DecisionForm>,
) -> AppResult<Response> {
    let d = state
        .store
        .warning_draft(&id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::new(ErrorCode::NotFound)))?;
    let admin = ctx.role() == Role::Admin;
    let actor = ctx.actor();
    let reason = f.reason.trim().chars().take(2000).collect::<String>();
    let forbidden =
        |why: &str| ctx.err(AppError::new(ErrorCode::Forbidden).detail(why.to_string()));
    let keys = || {
        state.config.federation.keys.clone().ok_or_else(|| {
            ctx.err(AppError::invalid(
                "this node has no federation key: start it with its node key (vigilo peer identity)",
            ))
        })
    };
    let item_id = |reference: &str| {
        reference
            .parse::<ItemId>()
            .map_err(|e| ctx.err(AppError::invalid(e.to_string())))
    };
    let outcome = match f.action.as_str() {
        "approve" => {
            if !admin {
                return Err(forbidden("only an admin approves an early warning"));
            }
            if d.composed_by == actor {
                return Err(forbidden(
                    "the composer cannot approve their own warning: ask another admin",
                ));
            }
            // The stored payload is read back strictly before it is signed.
            let payload: serde_json::Value = serde_json::from_str(&d.payload_json)
                .map_err(|e| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string())))?;
            EarlyWarning::from_payload(&payload)
                .map_err(|e| ctx.err(AppError::invalid(e.to_string())))?;
            let audience: Audience = serde_json::from_str(&d.audience_json)
                .map_err(|e| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string())))?;
            let keys = keys()?;
            // Claim the draft first so two admins cannot both publish it.
            state
                .store
                .decide_warning_draft(&actor, &id, WarningDecision::Published, &reason, None)
                .await
                .map_err(ctx.store_err())?;
            let published = state
                .store
                .publish(
                    &actor,
                    &keys,
                    NewPublication {
                        item_type: ItemType::EarlyWarning,
                        id: item_id(&d.reference)?,
                        audience,
                        payload,
                    },
                )
                .await;
            match published {
                Ok(p) => {
                    tracing::info!(item = %p.item_id, version = p.version, "early warning published");
                    state
                        .store
                        .set_warning_item(&id, &p.item_id, p.version)
                        .await
                        .map_err(ctx.store_err())
                }
                Err(e) => {
                    // Not published: give the draft back for another try.
                    let _ = state
                        .store
                        .reopen_warning_draft(&actor, &id, &e.to_string())
                        .await;
                    Err(ctx.store_err()(e))
                }
            }
        }
        "return" => {
            if !admin {
                return Err(forbidden("only an admin returns an early warning"));
            }
            if reason.is_empty() {
                return view(
                    &state,
                    &ctx,
                    &id,
                    vec![state_text(&state, &ctx, "ew-reason-needed")],
                )
                .await;
            }
            state
                .store
                .decide_warning_draft(&actor, &id, WarningDecision::Returned, &reason, None)
                .await
                .map(|_| ())
                .map_err(ctx.store_err())
        }
        "withdraw" => {
            if !admin && d.composed_by != actor {
                return Err(forbidden("only its composer or an admin withdraws a draft"));
            }
            state
                .store
                .decide_warning_draft(&actor, &id, WarningDecision::Withdrawn, &reason, None)
                .await
                .map(|_| ())
                .map_err(ctx.store_err())
        }
        "retract" => {
            if !admin {
                return Err(forbidden("only an admin retracts an early warning"));
            }
            if reason.is_empty() {
                return view(
                    &state,
                    &ctx,
                    &id,
                    vec![state_text(&state, &ctx, "ew-reason-needed")],
                )
                .await;
            }
            let keys = keys()?;
            state
                .store
                .decide_warning_draft(&actor, &id, WarningDecision::Retracted, &reason, None)
                .await
                .map_err(ctx.store_err())?;
            state
                .store
                .retract(&actor, &keys, &item_id(&d.reference)?, &reason)
                .await
                .map(|_| ())
                .map_err(ctx.store_err())
        }
        _ => Err(ctx.err(AppError::invalid(
            "action must be approve, return, withdraw or retract",
        ))),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/grn/warnings/{id}")).into_response()),
        Err(e) if e.code == ErrorCode::InvalidInput => {
            view(&state, &ctx, &id, vec![e.detail.unwrap_or_default()]).await
        }
        Err(e) => Err(e),
    }
}

fn state_text(state: &AppState, ctx: &Ctx, key: &str) -> String {
    Layout::new(state, ctx).tr.t(key)
}
