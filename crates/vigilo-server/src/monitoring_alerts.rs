//! The drift and performance alert job and the alert list (`/alerts`, `GET /api/v1/alerts`).
//!
//! The job walks every active and paused deployment, turns its stored period reports into
//! the detector's generic series, runs [`vigilo_stats::monitor::detect`] (with the sandbox
//! calibration map of the version when one exists, for CBPE) and records each finding with
//! [`Store::raise_alert`], which is idempotent per deployment x metric x method x period: a
//! rerun raises nothing new. Methods, thresholds and limits: `docs/monitoring-alerts.md`.

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult};
use crate::extract::ApiQuery;
use crate::monitoring::Opt;
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use vigilo_core::monitoring::Declaration;
use vigilo_sandbox::evaluate::{ReliabilityBin, CALIBRATION_BINS};
use vigilo_stats::cbpe::{calibration_map_from_bins, CalibrationMap};
use vigilo_stats::monitor::{detect, CbpeOptions, MonitorOptions, PeriodInput, VerifiedCounts};
use vigilo_store::{
    AlertFilter, DeploymentFilter, DeploymentView, NewAlert, Store, StoreError, StoredReport,
};

/// What the job does; [`Default`] is what the daily background job uses.
#[derive(Debug, Clone)]
pub struct AlertOptions {
    /// Thresholds and minimum counts of the detector (its `cbpe` and `bin_labels` are filled
    /// per deployment and ignored here).
    pub detector: MonitorOptions,
    /// Deployments read per page.
    pub page_size: i64,
}

impl Default for AlertOptions {
    fn default() -> Self {
        AlertOptions {
            detector: MonitorOptions::default(),
            page_size: 200,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertRunSummary {
    /// Active and paused deployments looked at.
    pub deployments: usize,
    /// Of those, deployments with a calibration map (CBPE ran).
    pub with_cbpe: usize,
    /// Findings of the detector (including ones already recorded).
    pub findings: usize,
    /// Alerts newly recorded by this run.
    pub raised: usize,
    /// Deployments whose data the detector could not use (logged, not fatal).
    pub failed: usize,
}

impl std::fmt::Display for AlertRunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} deployments ({} with CBPE), {} findings, {} new alerts, {} failed",
            self.deployments, self.with_cbpe, self.findings, self.raised, self.failed
        )
    }
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The detector's view of one stored report.
fn period_input(r: &StoredReport) -> PeriodInput {
    let verified = match (r.tp, r.fp, r.fn_, r.tn) {
        (Some(tp), Some(fp), Some(fn_), Some(tn)) => Some(VerifiedCounts {
            tp: count(tp),
            fp: count(fp),
            fn_: count(fn_),
            tn: count(tn),
        }),
        _ => None,
    };
    PeriodInput {
        label: r.period.clone(),
        uses: count(r.uses),
        positives: count(r.positives),
        verified,
        overrides: count(r.overrides),
        escalations: count(r.escalations),
        score_histogram: r.score_counts(),
        mix: r.mix(),
    }
}

fn bin_labels(decl: &Declaration) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = decl
        .mix
        .iter()
        .map(|m| (format!("mix.{}", m.name), m.bins.clone()))
        .collect();
    if decl.score_bins() > 0 {
        out.insert(
            "score".into(),
            decl.score_edges
                .windows(2)
                .map(|w| format!("{}–{}", w[0], w[1]))
                .collect(),
        );
    }
    out
}

/// The sandbox's reliability bins (ten equal-width right-closed bins on [0, 1], empty ones
/// omitted) as a calibration map over all ten bins; `None` when no bin holds a case.
fn map_from_reliability(bins: &[ReliabilityBin]) -> Option<CalibrationMap> {
    let edges = sandbox_edges();
    let (mut positives, mut totals) = (vec![0u64; CALIBRATION_BINS], vec![0u64; CALIBRATION_BINS]);
    for b in bins {
        // Omitted bins leave no index, so a bin's mean score places it (0 in the first bin).
        let k = ((b.mean_predicted * CALIBRATION_BINS as f64).ceil() as usize)
            .clamp(1, CALIBRATION_BINS)
            - 1;
        let n = b.count as u64;
        totals[k] += n;
        positives[k] += ((b.observed_rate * n as f64).round() as u64).min(n);
    }
    calibration_map_from_bins(&edges, &positives, &totals).ok()
}

fn sandbox_edges() -> Vec<f64> {
    (0..=CALIBRATION_BINS)
        .map(|i| i as f64 / CALIBRATION_BINS as f64)
        .collect()
}

/// The calibration map measured in the sandbox for a version: from the newest evaluated
/// submission of the newest study of that version. `None` when there is none, when the
/// scores were not probabilities (no calibration), or when the declared score bins are not
/// the sandbox's equal-width bins (a map on other bins does not apply).
async fn calibration_map(
    store: &Store,
    version_id: &str,
    decl: &Declaration,
) -> Result<Option<CalibrationMap>, StoreError> {
    if decl.score_edges != sandbox_edges() {
        return Ok(None);
    }
    for study in store
        .studies(None)
        .await?
        .into_iter()
        .filter(|s| s.version_id == version_id)
    {
        let mut subs = store.submissions(&study.id).await?;
        subs.sort_by(|a, b| b.submitted_at.cmp(&a.submitted_at));
        for sub in subs {
            let Some(json) = sub
                .report_json
                .as_deref()
                .filter(|_| sub.status == "evaluated")
            else {
                continue;
            };
            // Only the calibration bins are read, so a report of an older schema still serves.
            let bins: Option<Vec<ReliabilityBin>> = serde_json::from_str::<serde_json::Value>(json)
                .ok()
                .and_then(|v| serde_json::from_value(v["calibration"]["bins"].clone()).ok());
            let Some(bins) = bins else {
                continue;
            };
            return Ok(map_from_reliability(&bins));
        }
    }
    Ok(None)
}

/// Runs the detector over every active and paused deployment and records its findings.
/// Deployments are read a page at a time; declarations and calibration maps once per version.
pub async fn run_alerts(store: &Store, opts: &AlertOptions) -> Result<AlertRunSummary, StoreError> {
    opts.detector.validate().map_err(|e| StoreError::Invalid {
        field: "alert options",
        reason: e.to_string(),
    })?;
    let mut summary = AlertRunSummary::default();
    let mut versions: HashMap<String, (Declaration, Option<CalibrationMap>)> = HashMap::new();
    for status in ["active", "paused"] {
        let mut after: Option<String> = None;
        loop {
            let page = store
                .deployments(&DeploymentFilter {
                    status: Some(status.into()),
                    after: after.clone(),
                    limit: opts.page_size.max(1),
                    ..DeploymentFilter::default()
                })
                .await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(last.id.clone());
            let full = page.len() as i64 >= opts.page_size.max(1);
            for d in &page {
                if !versions.contains_key(&d.version_id) {
                    let decl = store.declaration(&d.version_id).await?;
                    let map = calibration_map(store, &d.version_id, &decl).await?;
                    versions.insert(d.version_id.clone(), (decl, map));
                }
                let Some((decl, map)) = versions.get(&d.version_id) else {
                    continue;
                };
                deployment_alerts(store, opts, d, decl, map.as_ref(), &mut summary).await?;
            }
            if !full {
                break;
            }
        }
    }
    Ok(summary)
}

async fn deployment_alerts(
    store: &Store,
    opts: &AlertOptions,
    d: &DeploymentView,
    decl: &Declaration,
    map: Option<&CalibrationMap>,
    summary: &mut AlertRunSummary,
) -> Result<(), StoreError> {
    summary.deployments += 1;
    let reports = store.deployment_reports(&d.id).await?;
    // Baseline periods measure the usual method before go-live, not the tool: they are
    // neither its reference nor its series.
    let periods: Vec<PeriodInput> = reports
        .iter()
        .filter(|r| r.baseline == 0)
        .map(period_input)
        .collect();
    let detector = MonitorOptions {
        cbpe: map.map(|m| CbpeOptions::new(m.clone(), decl.positive_from_bin)),
        bin_labels: bin_labels(decl),
        ..opts.detector.clone()
    };
    if map.is_some() {
        summary.with_cbpe += 1;
    }
    let out = match detect(&periods, &detector) {
        Ok(out) => out,
        Err(e) => {
            // One deployment's odd data must not stop the others' alerts.
            tracing::warn!(deployment = %d.id, error = %e, "alert detection failed");
            summary.failed += 1;
            return Ok(());
        }
    };
    for f in out.findings {
        summary.findings += 1;
        let evidence = serde_json::to_value(&f.evidence).map_err(|e| StoreError::Invalid {
            field: "alert evidence",
            reason: e.to_string(),
        })?;
        let raised = store
            .raise_alert(&NewAlert {
                deployment_id: d.id.clone(),
                metric: f.metric,
                method: f.method.into(),
                period: f.period,
                level: f.level.code().into(),
                value: f.value,
                threshold: f.threshold,
                evidence,
            })
            .await?;
        if raised {
            summary.raised += 1;
        }
    }
    Ok(())
}

// ---- the alert list ----

#[derive(Deserialize, Default)]
pub struct AlertQuery {
    pub state: Option<String>,
    pub product: Option<String>,
    pub limit: Option<i64>,
}

const STATES: [&str; 3] = ["new", "acknowledged", "resolved"];

/// An alert on the wire (declared apart from the store row: a compatibility promise).
#[derive(Serialize)]
pub struct AlertItem {
    pub id: String,
    pub deployment_id: String,
    pub product_id: String,
    pub product_name: String,
    pub version: String,
    pub facility_name: String,
    pub province_code: String,
    pub metric: String,
    pub method: String,
    pub period: String,
    /// `watch` or `act`.
    pub level: String,
    pub value: f64,
    pub threshold: f64,
    /// `new`, `acknowledged` or `resolved`.
    pub state: String,
    pub note: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub evidence: serde_json::Value,
}

#[derive(Serialize)]
pub struct AlertList {
    pub items: Vec<AlertItem>,
}

/// Alerts the caller may see: staff all, a vendor those of its own products.
async fn visible_alerts(state: &AppState, ctx: &Ctx, q: &AlertQuery) -> AppResult<Vec<AlertItem>> {
    let st = q.state.clone().filter(|s| !s.is_empty());
    if let Some(s) = &st {
        if !STATES.contains(&s.as_str()) {
            return Err(ctx.err(AppError::invalid(
                "state must be new, acknowledged or resolved",
            )));
        }
    }
    let maker_id = if ctx.is_staff() {
        None
    } else {
        match ctx.vendor_org() {
            Some(org) => Some(org.to_string()),
            // The route admits staff and vendors only; anyone else sees nothing.
            None => return Ok(Vec::new()),
        }
    };
    let alerts = state
        .store
        .alerts(&AlertFilter {
            state: st,
            product_id: q.product.clone().filter(|s| !s.is_empty()),
            maker_id,
            limit: q.limit.unwrap_or(200).clamp(1, 2000),
            ..AlertFilter::default()
        })
        .await
        .map_err(ctx.store_err())?;
    let mut views: HashMap<String, Option<DeploymentView>> = HashMap::new();
    let mut out = Vec::with_capacity(alerts.len());
    for a in alerts {
        if !views.contains_key(&a.deployment_id) {
            let v = state
                .store
                .deployment_view(&a.deployment_id)
                .await
                .map_err(ctx.store_err())?;
            views.insert(a.deployment_id.clone(), v);
        }
        let v = views.get(&a.deployment_id).and_then(Option::as_ref);
        out.push(AlertItem {
            product_name: v.map(|v| v.product_name.clone()).unwrap_or_default(),
            version: v.map(|v| v.version.clone()).unwrap_or_default(),
            facility_name: v.map(|v| v.facility_name.clone()).unwrap_or_default(),
            evidence: serde_json::from_str(&a.evidence_json).unwrap_or(serde_json::Value::Null),
            id: a.id,
            deployment_id: a.deployment_id,
            product_id: a.product_id,
            province_code: a.province_code,
            metric: a.metric,
            method: a.method,
            period: a.period,
            level: a.level,
            value: a.value,
            threshold: a.threshold,
            state: a.state,
            note: a.note,
            created_at: a.created_at,
            updated_at: a.updated_at,
        });
    }
    Ok(out)
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "monitoring",
    params(("state" = Option<String>, Query, description = "new, acknowledged or resolved"),
        ("product" = Option<String>, Query, description = "Product id"),
        ("limit" = Option<i64>, Query, description = "At most this many, newest first (default 200, at most 2000)")),
    responses((status = 200, description = "Drift and performance alerts the caller may see (staff all, a vendor its products'), each naming deployment, metric, method, period, level, value, threshold, evidence and state"),
        (status = 400, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn api_alerts(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> AppResult<Json<AlertList>> {
    Ok(Json(AlertList {
        items: visible_alerts(&state, &ctx, &q).await?,
    }))
}

pub struct AlertRow {
    pub id: String,
    pub deployment_id: String,
    pub product: String,
    pub facility: String,
    pub metric: String,
    pub method: String,
    pub period: String,
    pub level: String,
    pub level_label: String,
    pub value: String,
    pub threshold: String,
    pub state: String,
    pub state_label: String,
    /// One line of the evidence a reader needs first (PSI and JS, rates, or estimate).
    pub summary: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    l: Layout,
    rows: Vec<AlertRow>,
    states: Vec<Opt>,
    products: Vec<Opt>,
    errors: Vec<String>,
}

fn round3(x: f64) -> String {
    format!("{:.3}", x)
}

fn evidence_summary(e: &serde_json::Value) -> String {
    let f = |k: &str| e[k].as_f64();
    match e["kind"].as_str() {
        Some("distribution") => match (f("psi"), f("js_distance")) {
            (Some(p), Some(j)) => format!("PSI {} · JS {}", round3(p), round3(j)),
            _ => String::new(),
        },
        Some("chart") => match (f("p0"), e["current"]["estimate"].as_f64()) {
            (Some(p0), Some(c)) => format!(
                "{} → {} (n = {})",
                round3(p0),
                round3(c),
                e["current"]["n"].as_u64().unwrap_or(0)
            ),
            _ => String::new(),
        },
        Some("cbpe") => {
            let est = f("estimate").map(round3).unwrap_or_default();
            match (
                e["verified"]["lower"].as_f64(),
                e["verified"]["upper"].as_f64(),
            ) {
                (Some(lo), Some(hi)) => format!("{est} ∉ [{}, {}]", round3(lo), round3(hi)),
                _ => format!(
                    "{} → {est}",
                    f("reference_estimate").map(round3).unwrap_or_default()
                ),
            }
        }
        _ => String::new(),
    }
}

pub async fn alerts_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> AppResult<Response> {
    let l = Layout::new(&state, &ctx);
    let mut errors = Vec::new();
    // A page answers an unknown state with every state and a message, not an error page.
    let bad_state = q
        .state
        .as_deref()
        .is_some_and(|s| !s.is_empty() && !STATES.contains(&s));
    let q = if bad_state {
        errors.push(l.tr.t("alert-bad-state"));
        AlertQuery { state: None, ..q }
    } else {
        q
    };
    let items = visible_alerts(&state, &ctx, &q).await?;
    let rows = items
        .into_iter()
        .map(|a| AlertRow {
            summary: evidence_summary(&a.evidence),
            level_label: l.tr.t(&format!("alert-level-{}", a.level)),
            state_label: l.tr.t(&format!("alert-state-{}", a.state)),
            id: a.id,
            deployment_id: a.deployment_id,
            product: format!("{} {}", a.product_name, a.version),
            facility: a.facility_name,
            metric: a.metric,
            method: a.method,
            period: a.period,
            level: a.level,
            value: round3(a.value),
            threshold: round3(a.threshold),
            state: a.state,
        })
        .collect();
    let states = STATES
        .iter()
        .map(|s| Opt {
            value: (*s).into(),
            label: l.tr.t(&format!("alert-state-{s}")),
            selected: q.state.as_deref() == Some(*s),
        })
        .collect();
    // The products the caller may filter by: those of the deployments it may see.
    let (products, _) = state
        .store
        .deployment_choices(&DeploymentFilter {
            maker_id: if ctx.is_staff() {
                None
            } else {
                ctx.vendor_org().map(str::to_string)
            },
            ..DeploymentFilter::default()
        })
        .await
        .map_err(ctx.store_err())?;
    let products = products
        .into_iter()
        .map(|(value, label)| Opt {
            selected: q.product.as_deref() == Some(value.as_str()),
            value,
            label,
        })
        .collect();
    render(
        &AlertsPage {
            l,
            rows,
            states,
            products,
            errors,
        },
        &ctx,
        StatusCode::OK,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn evidence_summaries_read_each_kind() {
        let d = serde_json::json!({"kind": "distribution", "psi": 0.31234, "js_distance": 0.2});
        assert_eq!(evidence_summary(&d), "PSI 0.312 · JS 0.200");
        let c =
            serde_json::json!({"kind": "chart", "p0": 0.1, "current": {"estimate": 0.2, "n": 400}});
        assert_eq!(evidence_summary(&c), "0.100 → 0.200 (n = 400)");
        let e = serde_json::json!({"kind": "cbpe", "estimate": 0.9, "verified": {"lower": 0.4, "upper": 0.6}});
        assert_eq!(evidence_summary(&e), "0.900 ∉ [0.400, 0.600]");
        assert_eq!(evidence_summary(&serde_json::Value::Null), "");
    }

    #[test]
    fn reliability_bins_find_their_place() {
        let bin = |count, mean_predicted, observed_rate| ReliabilityBin {
            count,
            mean_predicted,
            observed_rate,
        };
        let map =
            map_from_reliability(&[bin(50, 0.0, 0.02), bin(40, 0.55, 0.5), bin(10, 1.0, 0.9)])
                .unwrap();
        assert_eq!(map.edges, Declaration::standard().score_edges);
        assert_eq!(map.positive_rate[0], 0.02);
        assert_eq!(map.positive_rate[5], 0.5);
        assert_eq!(map.positive_rate[9], 0.9);
        assert!(!map.imputed[5] && map.imputed[3]);
        assert!(map_from_reliability(&[]).is_none());
    }

    #[test]
    fn declared_bins_label_the_evidence() {
        let labels = bin_labels(&Declaration::standard());
        assert_eq!(labels["mix.age_band"][0], "0-4");
        assert_eq!(labels["score"].len(), 10);
    }
}
