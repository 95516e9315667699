//! Post-deployment monitoring: deployments and training records, period reports in by the
//! JSON API (a facility's token), CSV upload or a form, KPI tables for any level and
//! period with reporting completeness, alerts, and the public pilot dashboard with
//! small-cell suppression.

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, PageForm};
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};
use vigilo_core::appraisal::iso_date;
use vigilo_core::directory::ClinicalArea;
use vigilo_core::kpi::{compute, KpiCatalogue, KpiDefinition, KpiStatus, Totals};
use vigilo_core::monitoring::{
    completeness, expected_periods, parse_reports_csv, parse_rollout_csv, Completeness,
    DeploymentStatus, ReportInput, TrainingRecord,
};
use vigilo_core::period::{Period, PeriodKind};
use vigilo_core::suppression::{display, SuppressionRule};
use vigilo_core::{Lang, Role};
use vigilo_store::{
    BatchReceipt, Deployment, DeploymentFilter, DeploymentView, GroupBy, NewDeployment, ReportSums,
    Submitter, SumsQuery, UnreadableRow,
};

/// Largest report batch accepted in one request (JSON or CSV).
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Rows per batch: enough for a province's month, small enough to answer in seconds.
pub const MAX_BATCH_ROWS: usize = 50_000;
/// A report is on time when it arrives within this many days after its period ends.
pub const DUE_DAYS: i64 = 10;

static CATALOGUE: LazyLock<Option<KpiCatalogue>> =
    LazyLock::new(|| match KpiCatalogue::builtin() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %e, "the built-in KPI catalogue does not load");
            None
        }
    });

/// The deployment if the caller may see it: staff, the facility's own reporters, or the
/// vendor whose product it is. Anyone else gets "not found".
async fn deployment_for(state: &AppState, ctx: &Ctx, id: &str) -> AppResult<DeploymentView> {
    let d = state
        .store
        .deployment_view(id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    if may_see(state, ctx, &d).await? {
        Ok(d)
    } else {
        Err(ctx.err(AppError::not_found()))
    }
}

async fn may_see(state: &AppState, ctx: &Ctx, d: &DeploymentView) -> AppResult<bool> {
    if ctx.is_staff() {
        return Ok(true);
    }
    if let Some(org) = reporter_facility(ctx) {
        return Ok(org == d.facility_id);
    }
    if let Some(org) = ctx.vendor_org() {
        let p = state
            .store
            .product(&d.product_id)
            .await
            .map_err(ctx.store_err())?;
        return Ok(p.is_some_and(|p| p.manufacturer_id == org));
    }
    Ok(false)
}

fn reporter_facility(ctx: &Ctx) -> Option<&str> {
    match ctx.role() {
        Role::Reporter => ctx.user.as_ref()?.organisation_id.as_deref(),
        _ => None,
    }
}

fn scope_filter(ctx: &Ctx) -> DeploymentFilter {
    DeploymentFilter {
        facility_id: reporter_facility(ctx).map(str::to_string),
        maker_id: ctx.vendor_org().map(str::to_string),
        ..DeploymentFilter::default()
    }
}

fn submitter(ctx: &Ctx) -> AppResult<Submitter> {
    let user = ctx
        .user
        .as_ref()
        .ok_or_else(|| ctx.err(AppError::new(ErrorCode::Unauthenticated)))?;
    if ctx.is_staff() {
        return Ok(Submitter {
            user_id: user.id.clone(),
            facility_id: None,
        });
    }
    match reporter_facility(ctx) {
        Some(f) => Ok(Submitter {
            user_id: user.id.clone(),
            facility_id: Some(f.to_string()),
        }),
        None => Err(ctx.err(AppError::new(ErrorCode::Forbidden).detail(
            "only a facility's accounts and the regulator's staff send monitoring reports",
        ))),
    }
}

// ---- report intake ----

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonBatch {
    Wrapped { reports: Vec<serde_json::Value> },
    Bare(Vec<serde_json::Value>),
}

/// Reads a JSON or CSV batch into rows, keeping each row's own problem.
fn read_batch(
    ctx: &Ctx,
    content_type: &str,
    body: &[u8],
) -> AppResult<Vec<Result<ReportInput, UnreadableRow>>> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ctx.err(AppError::invalid("the batch is not UTF-8 text")))?;
    let rows = if content_type.starts_with("text/csv") {
        parse_reports_csv(text)
            .map_err(|e| ctx.err(AppError::invalid(e)))?
            .into_iter()
            .map(|r| {
                r.map_err(|e| UnreadableRow {
                    row: e.row,
                    message: e.message,
                })
            })
            .collect::<Vec<_>>()
    } else if content_type.starts_with("application/json") || content_type.is_empty() {
        let batch: JsonBatch = serde_json::from_str(text).map_err(|e| {
            ctx.err(AppError::new(ErrorCode::MalformedJson).detail(format!(
                "send {{\"reports\": [...]}} or a JSON array of reports: {e}"
            )))
        })?;
        let values = match batch {
            JsonBatch::Wrapped { reports } => reports,
            JsonBatch::Bare(v) => v,
        };
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                serde_json::from_value::<ReportInput>(v).map_err(|e| UnreadableRow {
                    row: i + 1,
                    message: e.to_string(),
                })
            })
            .collect()
    } else {
        return Err(ctx.err(
            AppError::new(ErrorCode::UnsupportedMediaType)
                .detail("send application/json or text/csv"),
        ));
    };
    if rows.is_empty() {
        return Err(ctx.err(AppError::invalid("the batch has no reports")));
    }
    if rows.len() > MAX_BATCH_ROWS {
        return Err(
            ctx.err(AppError::new(ErrorCode::PayloadTooLarge).detail(format!(
                "at most {MAX_BATCH_ROWS} reports per batch; split the file"
            ))),
        );
    }
    Ok(rows)
}

/// `POST /api/v1/monitoring/reports`: 200 with a receipt and every row's fate when at least
/// one row was taken (or was already there); 422 with the same body when none could be.
#[utoipa::path(post, path = "/api/v1/monitoring/reports", tag = "monitoring",
    request_body(content = String, description = "A batch of period reports: JSON {\"reports\": [...]} (or a bare array), or CSV with the columns deployment, period, uses, positives, tp, fp, fn, tn, overrides, escalations, downtime_minutes, latency_p50_ms, latency_p95_ms, score_histogram, mix.NAME, counter.NAME", content_type = "application/json"),
    responses((status = 200, description = "Receipt with each row's outcome: accepted, unchanged, revised or rejected with its problems"),
        (status = 422, description = "No row could be taken; same body"), (status = 400, body = crate::error::Problem),
        (status = 403, body = crate::error::Problem), (status = 413, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn api_reports(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
    let who = submitter(&ctx)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let rows = read_batch(&ctx, &content_type, &body)?;
    let source = if content_type.starts_with("text/csv") {
        "csv"
    } else {
        "api"
    };
    let receipt = state
        .store
        .ingest_reports(&who, source, rows)
        .await
        .map_err(ctx.store_err())?;
    let status = if receipt.rejected == receipt.rows.len() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(receipt)).into_response())
}

// ---- deployments API ----

#[derive(Deserialize, Default)]
pub struct DeploymentQuery {
    pub product: Option<String>,
    pub province: Option<String>,
    pub status: Option<String>,
    pub after: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Serialize)]
pub struct DeploymentList {
    pub items: Vec<DeploymentView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/deployments", tag = "monitoring",
    params(("product" = Option<String>, Query, description = "Product id"), ("province" = Option<String>, Query, description = "Province code"),
        ("status" = Option<String>, Query, description = "planned, active, paused or ended"), ("after" = Option<String>, Query, description = "Cursor: the `next` of the previous page"),
        ("limit" = Option<i64>, Query, description = "Page size, at most 1000")),
    responses((status = 200, description = "Deployments the caller may see: staff all, a vendor its products', a facility its own")),
    security(("bearer" = []), ("session" = [])))]
pub async fn api_deployments(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<DeploymentQuery>,
) -> AppResult<Json<DeploymentList>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let f = DeploymentFilter {
        product_id: q.product,
        province_code: q.province,
        status: q.status,
        after: q.after,
        limit: limit + 1,
        ..scope_filter(&ctx)
    };
    let mut items = state.store.deployments(&f).await.map_err(ctx.store_err())?;
    let next = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|d| d.id.clone())
    } else {
        None
    };
    Ok(Json(DeploymentList { items, next }))
}

#[derive(Deserialize)]
pub struct NewDeploymentBody {
    pub version_id: String,
    pub facility_id: String,
    pub go_live: String,
    pub end_date: Option<String>,
    pub frequency: Option<String>,
}

fn date_field(ctx: &Ctx, field: &str, v: &str) -> AppResult<time::Date> {
    iso_date::parse(v.trim()).map_err(|_| {
        ctx.err(AppError::invalid(format!(
            "{field}: '{v}' is not a date like 2026-03-01"
        )))
    })
}

fn frequency_field(ctx: &Ctx, v: Option<&str>) -> AppResult<PeriodKind> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(PeriodKind::Month),
        Some(s) => PeriodKind::parse(s)
            .filter(|k| k.is_reporting_frequency())
            .ok_or_else(|| ctx.err(AppError::invalid("frequency must be day, week or month"))),
    }
}

async fn create_from(state: &AppState, ctx: &Ctx, b: &NewDeploymentBody) -> AppResult<Deployment> {
    let go_live = date_field(ctx, "go_live", &b.go_live)?;
    let end_date = match b
        .end_date
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(e) => Some(date_field(ctx, "end_date", e)?),
        None => None,
    };
    let frequency = frequency_field(ctx, b.frequency.as_deref())?;
    state
        .store
        .create_deployment(
            &ctx.actor(),
            &NewDeployment {
                version_id: b.version_id.trim(),
                facility_id: b.facility_id.trim(),
                go_live,
                end_date,
                frequency,
            },
        )
        .await
        .map_err(ctx.store_err())
}

#[utoipa::path(post, path = "/api/v1/deployments", tag = "monitoring",
    request_body(content = String, description = "{version_id, facility_id, go_live, end_date?, frequency?}", content_type = "application/json"),
    responses((status = 201, description = "The deployment"), (status = 400, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn api_create_deployment(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiJson(b): ApiJson<NewDeploymentBody>,
) -> AppResult<Response> {
    let d = create_from(&state, &ctx, &b).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

#[derive(Deserialize)]
pub struct TrainingBody {
    pub facility_id: String,
    pub product_id: String,
    pub trained_on: String,
    pub course: String,
    pub staff_trained: u32,
}

async fn record_training(
    state: &AppState,
    ctx: &Ctx,
    b: &TrainingBody,
) -> AppResult<vigilo_store::Training> {
    if let Some(own) = reporter_facility(ctx) {
        if own != b.facility_id.trim() {
            return Err(ctx.err(
                AppError::new(ErrorCode::Forbidden)
                    .detail("a facility records training only for itself"),
            ));
        }
    } else if !ctx.is_staff() {
        return Err(ctx.err(AppError::new(ErrorCode::Forbidden)));
    }
    let record = TrainingRecord {
        trained_on: date_field(ctx, "trained_on", &b.trained_on)?,
        course: b.course.clone(),
        staff_trained: b.staff_trained,
    };
    state
        .store
        .record_training(
            &ctx.actor(),
            b.facility_id.trim(),
            b.product_id.trim(),
            &record,
        )
        .await
        .map_err(ctx.store_err())
}

#[utoipa::path(post, path = "/api/v1/trainings", tag = "monitoring",
    request_body(content = String, description = "{facility_id, product_id, trained_on, course, staff_trained}: how many were trained, never who", content_type = "application/json"),
    responses((status = 201, description = "The training record"), (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn api_training(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiJson(b): ApiJson<TrainingBody>,
) -> AppResult<Response> {
    let t = record_training(&state, &ctx, &b).await?;
    Ok((StatusCode::CREATED, Json(t)).into_response())
}

// ---- KPI tables ----

#[derive(Deserialize, Default, Clone)]
pub struct KpiQuery {
    pub period: Option<String>,
    pub product: Option<String>,
    pub province: Option<String>,
    /// nation, province, unit, facility
    pub level: Option<String>,
}

#[derive(Serialize, Clone)]
pub struct KpiCell {
    pub kpi: String,
    pub numerator: u64,
    pub denominator: Option<u64>,
    pub value: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub status: String,
    pub meets_target: Option<bool>,
}

#[derive(Serialize, Clone)]
pub struct KpiRow {
    pub group: String,
    pub label: String,
    pub reports: i64,
    pub facilities: i64,
    pub completeness: Option<f64>,
    pub timeliness: Option<f64>,
    pub cells: Vec<KpiCell>,
}

#[derive(Serialize)]
pub struct KpiTable {
    pub period: String,
    pub level: String,
    pub product: Option<String>,
    pub kpis: Vec<KpiHead>,
    pub rows: Vec<KpiRow>,
}

#[derive(Serialize, Clone)]
pub struct KpiHead {
    pub id: String,
    pub name: String,
    pub unit: String,
    pub target: Option<f64>,
    pub formula: String,
    pub direction: String,
}

fn current_quarter(state_now: time::OffsetDateTime) -> Period {
    Period::containing(PeriodKind::Quarter, state_now.date())
}

fn group_of(level: &str) -> Option<GroupBy> {
    match level {
        "nation" => Some(GroupBy::Nation),
        "province" => Some(GroupBy::Province),
        "unit" => Some(GroupBy::Unit),
        "facility" => Some(GroupBy::Facility),
        "product" => Some(GroupBy::Product),
        _ => None,
    }
}

fn totals_of(s: &ReportSums, counters: &BTreeMap<String, u64>) -> Totals {
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    Totals {
        uses: u(s.uses),
        positives: u(s.positives),
        tp: u(s.tp),
        fp: u(s.fp),
        fn_: u(s.fn_),
        tn: u(s.tn),
        overrides: u(s.overrides),
        escalations: u(s.escalations),
        downtime_minutes: u(s.downtime_minutes),
        reports: u(s.reports),
        facilities: u(s.facilities),
        counters: counters.clone(),
    }
}

/// Why a KPI table could not be built outside a request (the report builder has no `Ctx`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum KpiError {
    #[error(transparent)]
    Store(#[from] vigilo_store::StoreError),
    #[error("the built-in KPI catalogue does not load")]
    Catalogue,
}

/// What one KPI table covers, already checked: the store-level twin of [`KpiQuery`].
pub(crate) struct KpiSpec<'a> {
    pub period: Period,
    pub level: String,
    pub group_by: GroupBy,
    pub product: Option<&'a vigilo_store::Product>,
    pub province: Option<String>,
    /// A facility's own accounts see only their own reports.
    pub facility_id: Option<String>,
    /// Whether to work out completeness and timeliness, which reads every deployment's
    /// reporting status; a monthly chart needs only the KPI values.
    pub completeness: bool,
}

pub(crate) fn builtin_catalogue() -> Result<&'static KpiCatalogue, KpiError> {
    CATALOGUE.as_ref().ok_or(KpiError::Catalogue)
}

/// The KPIs shown for a product (or for every product when `None`).
pub(crate) fn kpi_definitions(
    product: Option<&vigilo_store::Product>,
) -> Result<Vec<&'static KpiDefinition>, KpiError> {
    let cat = builtin_catalogue()?;
    Ok(
        match product.and_then(|p| p.clinical_area.parse::<ClinicalArea>().ok()) {
            // The area's own KPIs when it has some (its "screened" already counts uses); the
            // common set for every tool otherwise, so the table stays readable on a small screen.
            Some(area) => {
                let own: Vec<&KpiDefinition> = cat
                    .for_clinical_area(area)
                    .into_iter()
                    .filter(|d| d.clinical_area.is_some())
                    .collect();
                if own.is_empty() {
                    cat.for_clinical_area(area)
                } else {
                    own
                }
            }
            None => cat
                .all()
                .iter()
                .filter(|d| d.clinical_area.is_none())
                .collect(),
        },
    )
}

/// The periods a deployment owed inside `period` by `today` (completeness's denominator).
pub(crate) fn owed_periods(d: &Deployment, period: &Period, today: time::Date) -> Vec<Period> {
    let Some(go) = d.go_live_date() else {
        return Vec::new();
    };
    let end = d
        .end_date_value()
        .map_or(period.last_day(), |e| e.min(period.last_day()));
    expected_periods(
        d.frequency(),
        go.max(period.start()),
        Some(end),
        today,
        DUE_DAYS,
    )
    .into_iter()
    .filter(|p| period.gathers(p))
    .collect()
}

/// Builds the KPI table of a period for a product (or every product) at a level.
async fn kpi_table(state: &AppState, ctx: &Ctx, q: &KpiQuery, lang: Lang) -> AppResult<KpiTable> {
    let period = match q.period.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(p) => Period::parse(p).map_err(|e| ctx.err(AppError::invalid(e.to_string())))?,
        None => current_quarter(state.store.now()),
    };
    let level = q.level.clone().unwrap_or_else(|| "province".into());
    let group_by = group_of(&level).ok_or_else(|| {
        ctx.err(AppError::invalid(
            "level must be nation, province, unit, facility or product",
        ))
    })?;
    let product = match q.product.as_deref().filter(|s| !s.is_empty()) {
        Some(id) => Some(
            state
                .store
                .product(id)
                .await
                .map_err(ctx.store_err())?
                .ok_or_else(|| ctx.err(AppError::not_found()))?,
        ),
        None => None,
    };
    let spec = KpiSpec {
        period,
        level,
        group_by,
        product: product.as_ref(),
        province: q.province.clone().filter(|s| !s.is_empty()),
        facility_id: reporter_facility(ctx).map(str::to_string),
        completeness: true,
    };
    compute_kpi_table(&state.store, &spec, lang)
        .await
        .map_err(|e| match e {
            KpiError::Store(e) => ctx.err(e.into()),
            KpiError::Catalogue => ctx.err(AppError::new(ErrorCode::Internal)),
        })
}

/// The KPI table for a checked spec, from the store alone: shared by the pages, the API
/// and the period reports.
pub(crate) async fn compute_kpi_table(
    store: &vigilo_store::Store,
    spec: &KpiSpec<'_>,
    lang: Lang,
) -> Result<KpiTable, KpiError> {
    let period = spec.period;
    let group_by = spec.group_by;
    let product = spec.product;
    let defs = kpi_definitions(product)?;
    let sq = SumsQuery {
        period,
        product_id: product.map(|p| p.id.clone()),
        province_code: spec.province.clone(),
        unit_code: None,
        facility_id: spec.facility_id.clone(),
        group_by,
    };
    let sums = store.report_sums(&sq).await?;
    let mut counters: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
    for (g, name, v) in store.counter_sums(&sq).await? {
        counters
            .entry(g)
            .or_default()
            .insert(name, u64::try_from(v).unwrap_or(0));
    }
    // Completeness per group, from what each deployment owed in the period.
    let today = store.now().date();
    let status = if spec.completeness {
        store
            .reporting_status(
                &period,
                sq.product_id.as_deref(),
                sq.province_code.as_deref(),
            )
            .await?
    } else {
        Vec::new()
    };
    let mut owed: HashMap<String, Completeness> = HashMap::new();
    for (d, received) in &status {
        if d.go_live_date().is_none() {
            continue;
        }
        let exp = owed_periods(d, &period, today);
        let key = match group_by {
            GroupBy::Nation => "VN".to_string(),
            GroupBy::Province => d.province_code.clone(),
            GroupBy::Unit => d.unit_code.clone(),
            GroupBy::Facility => d.facility_id.clone(),
            GroupBy::Product => d.product_id.clone(),
            GroupBy::Deployment => d.id.clone(),
            GroupBy::Period => String::new(),
        };
        owed.entry(key)
            .or_default()
            .add(completeness(&exp, received, DUE_DAYS));
    }
    let mut names: HashMap<String, String> = HashMap::new();
    if matches!(group_by, GroupBy::Province | GroupBy::Unit) {
        for s in &sums {
            if let Some(u) = store.admin_unit(&s.group_key).await? {
                names.insert(s.group_key.clone(), u.name);
            }
        }
    } else if group_by == GroupBy::Facility {
        for s in &sums {
            if let Some(o) = store.organisation(&s.group_key).await? {
                names.insert(s.group_key.clone(), o.name);
            }
        }
    } else if group_by == GroupBy::Product {
        for s in &sums {
            if let Some(p) = store.product(&s.group_key).await? {
                names.insert(s.group_key.clone(), p.name);
            }
        }
    }
    let empty = BTreeMap::new();
    let rows = sums
        .iter()
        .map(|s| {
            let totals = totals_of(s, counters.get(&s.group_key).unwrap_or(&empty));
            let c = owed.get(&s.group_key).copied().unwrap_or_default();
            KpiRow {
                group: s.group_key.clone(),
                label: names.get(&s.group_key).cloned().unwrap_or_else(|| {
                    if s.group_key == "VN" {
                        "Việt Nam".into()
                    } else {
                        s.group_key.clone()
                    }
                }),
                reports: s.reports,
                facilities: s.facilities,
                completeness: c.completeness(),
                timeliness: c.timeliness(),
                cells: defs
                    .iter()
                    .map(|d| {
                        let v = compute(d, &totals);
                        KpiCell {
                            kpi: d.id.clone(),
                            numerator: v.numerator,
                            denominator: v.denominator,
                            value: v.value,
                            lower: v.interval.map(|i| i.0),
                            upper: v.interval.map(|i| i.1),
                            status: match v.status {
                                KpiStatus::Ok => "ok",
                                KpiStatus::BelowMinimum => "below_minimum",
                                KpiStatus::NoData => "no_data",
                                KpiStatus::Inconsistent => "inconsistent",
                            }
                            .to_string(),
                            meets_target: v.meets_target,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(KpiTable {
        period: period.to_string(),
        level: spec.level.clone(),
        product: product.map(|p| p.id.clone()),
        kpis: defs
            .iter()
            .map(|d| KpiHead {
                id: d.id.clone(),
                name: d.name(lang).to_string(),
                unit: d.unit(lang).to_string(),
                target: d.target,
                formula: d.formula(),
                direction: d.direction.as_str().to_string(),
            })
            .collect(),
        rows,
    })
}

#[utoipa::path(get, path = "/api/v1/kpis", tag = "monitoring",
    params(("period" = Option<String>, Query, description = "2026-Q1, 2026-03, 2026 ... (default: this quarter)"), ("product" = Option<String>, Query, description = "Product id (vendors must name one of theirs)"),
        ("province" = Option<String>, Query, description = "Province code"), ("level" = Option<String>, Query, description = "nation, province, unit, facility or product")),
    responses((status = 200, description = "KPI values with counts, 95% intervals, targets, completeness and timeliness per group"), (status = 400, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn api_kpis(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<KpiQuery>,
) -> AppResult<Json<KpiTable>> {
    if let (Some(org), Some(p)) = (ctx.vendor_org(), q.product.as_deref()) {
        let own = state.store.product(p).await.map_err(ctx.store_err())?;
        if own.is_none_or(|x| x.manufacturer_id != org) {
            return Err(ctx.err(AppError::not_found()));
        }
    } else if ctx.vendor_org().is_some() {
        return Err(ctx.err(AppError::invalid("name one of your products: ?product=ID")));
    }
    Ok(Json(kpi_table(&state, &ctx, &q, ctx.lang).await?))
}

// ---- pages ----

fn fmt_value(v: Option<f64>, lang: Lang) -> String {
    match v {
        None => "—".into(),
        Some(x) => vigilo_report::format_number(x, 1, crate::sandbox::report_lang(lang)),
    }
}

/// Counts and counts per 1,000 read better without a decimal once they are large.
fn fmt_kpi(v: Option<f64>, is_count: bool, lang: Lang) -> String {
    match v {
        Some(x) if is_count || x.abs() >= 1000.0 => {
            vigilo_report::format_number(x, 0, crate::sandbox::report_lang(lang))
        }
        _ => fmt_value(v, lang),
    }
}

fn fmt_share(v: Option<f64>, lang: Lang) -> String {
    fmt_value(v.map(|x| x * 100.0), lang).to_string() + if v.is_some() { "%" } else { "" }
}

pub struct CellView {
    pub text: String,
    pub class: &'static str,
    pub title: String,
}

pub struct RowView {
    pub label: String,
    pub href: String,
    pub reports: i64,
    pub completeness: String,
    pub timeliness: String,
    pub cells: Vec<CellView>,
}

pub struct HeadView {
    pub name: String,
    pub unit: String,
    pub target: String,
    pub formula: String,
}

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn table_views(t: &KpiTable, lang: Lang, public: bool) -> (Vec<HeadView>, Vec<RowView>) {
    let rule = SuppressionRule::default();
    let heads = t
        .kpis
        .iter()
        .map(|h| HeadView {
            name: h.name.clone(),
            unit: h.unit.clone(),
            target: h
                .target
                .map(|x| fmt_value(Some(x), lang))
                .unwrap_or_default(),
            formula: h.formula.clone(),
        })
        .collect();
    let rows = t
        .rows
        .iter()
        .map(|r| RowView {
            label: r.label.clone(),
            href: if t.level == "province" && !public {
                format!(
                    "/monitoring?period={}&level=facility&province={}{}",
                    t.period,
                    r.group,
                    t.product
                        .as_ref()
                        .map(|p| format!("&product={p}"))
                        .unwrap_or_default()
                )
            } else {
                String::new()
            },
            reports: r.reports,
            completeness: fmt_share(r.completeness, lang),
            timeliness: fmt_share(r.timeliness, lang),
            cells: r
                .cells
                .iter()
                .map(|c| {
                    let small = public
                        && (rule.is_small(c.numerator)
                            || c.denominator.is_some_and(|d| rule.is_small(d)));
                    let (text, class) = if small {
                        (display(rule.cell(c.numerator.min(1)), lang), "suppressed")
                    } else if c.status != "ok" {
                        ("—".to_string(), "nodata")
                    } else {
                        let class = match c.meets_target {
                            Some(true) => "meets",
                            Some(false) => "misses",
                            None => "",
                        };
                        (fmt_kpi(c.value, c.denominator.is_none(), lang), class)
                    };
                    let title = match (c.lower, c.upper, small) {
                        (Some(lo), Some(hi), false) => format!(
                            "{} / {} · 95% CI {}–{}",
                            c.numerator,
                            c.denominator.unwrap_or(0),
                            fmt_value(Some(lo), lang),
                            fmt_value(Some(hi), lang)
                        ),
                        (_, _, false) => match c.denominator {
                            Some(d) => format!("{} / {}", c.numerator, d),
                            None => c.numerator.to_string(),
                        },
                        _ => String::new(),
                    };
                    CellView { text, class, title }
                })
                .collect(),
        })
        .collect();
    (heads, rows)
}

pub(crate) async fn product_options(
    state: &AppState,
    ctx: &Ctx,
    selected: Option<&str>,
) -> AppResult<Vec<Opt>> {
    let (products, _) = state
        .store
        .deployment_choices(&scope_filter(ctx))
        .await
        .map_err(ctx.store_err())?;
    Ok(products
        .into_iter()
        .map(|(value, label)| Opt {
            selected: Some(value.as_str()) == selected,
            value,
            label,
        })
        .collect())
}

#[derive(Template)]
#[template(path = "monitoring.html")]
struct MonitoringPage {
    l: Layout,
    period: String,
    period_label: String,
    levels: Vec<Opt>,
    products: Vec<Opt>,
    heads: Vec<HeadView>,
    rows: Vec<RowView>,
    csv_href: String,
    public: bool,
    errors: Vec<String>,
    /// The impact assessment of the selected product, as report HTML (staff only).
    impact_html: String,
}

fn level_options(tr: &crate::i18n::Tr, level: &str) -> Vec<Opt> {
    ["nation", "province", "facility"]
        .into_iter()
        .map(|v| Opt {
            value: v.into(),
            label: tr.t(&format!("mon-level-{v}")),
            selected: v == level,
        })
        .collect()
}

pub async fn monitoring_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<KpiQuery>,
) -> AppResult<Response> {
    let l = Layout::new(&state, &ctx);
    let lang = l.tr.lang;
    let mut errors = Vec::new();
    if ctx.vendor_org().is_some() && q.product.as_deref().unwrap_or("").is_empty() {
        errors.push(l.tr.t("mon-pick-product"));
    }
    let products = product_options(&state, &ctx, q.product.as_deref()).await?;
    if let Some(p) = q.product.as_deref().filter(|p| !p.is_empty()) {
        if !ctx.is_staff() && !products.iter().any(|o| o.value == p) {
            return Err(ctx.err(AppError::not_found()));
        }
    }
    let table = if errors.is_empty() {
        Some(kpi_table(&state, &ctx, &q, lang).await?)
    } else {
        None
    };
    let (heads, rows) = table
        .as_ref()
        .map(|t| table_views(t, lang, false))
        .unwrap_or_default();
    let period = table.as_ref().map(|t| t.period.clone()).unwrap_or_default();
    let period_label = Period::parse(&period)
        .map(|p| p.label(lang))
        .unwrap_or_default();
    let level = table
        .as_ref()
        .map(|t| t.level.clone())
        .unwrap_or_else(|| "province".into());
    let csv_href = format!(
        "/api/v1/kpis?period={period}&level={level}{}",
        q.product
            .as_ref()
            .map(|p| format!("&product={p}"))
            .unwrap_or_default()
    );
    let levels = level_options(&l.tr, &level);
    let impact_html = match q.product.as_deref().filter(|p| !p.is_empty()) {
        Some(p) if ctx.is_staff() => crate::impact::section_html(&state, &ctx, p, lang).await?,
        _ => String::new(),
    };
    render(
        &MonitoringPage {
            l,
            period,
            period_label,
            levels,
            products,
            heads,
            rows,
            csv_href,
            public: false,
            errors,
            impact_html,
        },
        &ctx,
        StatusCode::OK,
    )
}

/// The public pilot dashboard: KPIs by province for every product or one, counts of 1 to 4
/// hidden.
pub async fn pilot_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(mut q): ApiQuery<KpiQuery>,
) -> AppResult<Response> {
    let l = Layout::new(&state, &ctx);
    let lang = l.tr.lang;
    if !matches!(q.level.as_deref(), None | Some("nation" | "province")) {
        q.level = Some("province".into());
    }
    let (all, _) = state
        .store
        .deployment_choices(&DeploymentFilter::default())
        .await
        .map_err(ctx.store_err())?;
    let products: Vec<Opt> = all
        .into_iter()
        .map(|(value, label)| Opt {
            selected: q.product.as_deref() == Some(value.as_str()),
            value,
            label,
        })
        .collect();
    let public_ctx = Ctx {
        user: None,
        ..(*ctx).clone()
    };
    let table = kpi_table(&state, &public_ctx, &q, lang).await?;
    let (heads, rows) = table_views(&table, lang, true);
    let period_label = Period::parse(&table.period)
        .map(|p| p.label(lang))
        .unwrap_or_default();
    let levels = level_options(&l.tr, &table.level)
        .into_iter()
        .filter(|o| o.value != "facility")
        .collect();
    render(
        &MonitoringPage {
            l,
            period: table.period.clone(),
            period_label,
            levels,
            products,
            heads,
            rows,
            csv_href: String::new(),
            public: true,
            errors: Vec::new(),
            impact_html: String::new(),
        },
        &ctx,
        StatusCode::OK,
    )
}

pub struct DeploymentRow {
    pub id: String,
    pub product: String,
    pub version: String,
    pub facility: String,
    pub province: String,
    pub status: String,
    pub status_code: String,
    pub go_live: String,
}

pub struct ProvinceRow {
    pub name: String,
    pub active: i64,
    pub planned: i64,
    pub ended: i64,
    pub facilities: i64,
    pub width: i64,
}

#[derive(Template)]
#[template(path = "deployments.html")]
struct DeploymentsPage {
    l: Layout,
    rows: Vec<DeploymentRow>,
    provinces: Vec<ProvinceRow>,
    next: String,
    versions: Vec<Opt>,
    errors: Vec<String>,
    notice: String,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    pub product: Option<String>,
    pub province: Option<String>,
    pub after: Option<String>,
    pub created: Option<usize>,
}

async fn licensed_versions(state: &AppState, ctx: &Ctx) -> AppResult<Vec<Opt>> {
    let mut out = Vec::new();
    for a in state
        .store
        .all_authorisations()
        .await
        .map_err(ctx.store_err())?
    {
        if a.status != "active" {
            continue;
        }
        let name = crate::appraisal::product_name(state, ctx, &a.product_id).await?;
        let version = state
            .store
            .version(&a.version_id)
            .await
            .map_err(ctx.store_err())?
            .map(|v| v.version)
            .unwrap_or_default();
        out.push(Opt {
            value: a.version_id.clone(),
            label: format!("{name} {version} ({})", a.reference),
            selected: false,
        });
    }
    Ok(out)
}

async fn deployments_view(
    state: &AppState,
    ctx: &Ctx,
    q: &ListQuery,
    errors: Vec<String>,
) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let f = DeploymentFilter {
        product_id: q.product.clone().filter(|s| !s.is_empty()),
        province_code: q.province.clone().filter(|s| !s.is_empty()),
        after: q.after.clone(),
        limit: 201,
        ..scope_filter(ctx)
    };
    let mut list = state.store.deployments(&f).await.map_err(ctx.store_err())?;
    let next = if list.len() > 200 {
        list.truncate(200);
        list.last().map(|d| d.id.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    let rows = list
        .into_iter()
        .map(|d| {
            let status = d
                .status
                .parse::<DeploymentStatus>()
                .map(|s| s.label(l.tr.lang).to_string())
                .unwrap_or(d.status.clone());
            DeploymentRow {
                id: d.id,
                product: d.product_name,
                version: d.version,
                facility: d.facility_name,
                province: d.province_name,
                status,
                status_code: d.status,
                go_live: d.go_live,
            }
        })
        .collect();
    let rollout = if ctx.is_staff() {
        state
            .store
            .rollout_by_province(q.product.as_deref().filter(|s| !s.is_empty()))
            .await
            .map_err(ctx.store_err())?
    } else {
        Vec::new()
    };
    let max = rollout
        .iter()
        .map(|p| p.active + p.planned)
        .max()
        .unwrap_or(1)
        .max(1);
    let provinces = rollout
        .into_iter()
        .map(|p| ProvinceRow {
            width: (p.active + p.planned) * 100 / max,
            name: p.province_name,
            active: p.active,
            planned: p.planned,
            ended: p.ended,
            facilities: p.facilities,
        })
        .collect();
    let versions = if ctx.is_staff() {
        licensed_versions(state, ctx).await?
    } else {
        Vec::new()
    };
    let notice = q
        .created
        .map(|n| l.tr.ta("mon-created", &[("count", n.to_string())]))
        .unwrap_or_default();
    render(
        &DeploymentsPage {
            l,
            rows,
            provinces,
            next,
            versions,
            errors,
            notice,
        },
        ctx,
        StatusCode::OK,
    )
}

pub async fn deployments_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> AppResult<Response> {
    deployments_view(&state, &ctx, &q, Vec::new()).await
}

#[derive(Deserialize)]
pub struct RolloutForm {
    pub version_id: String,
    pub rows: String,
}

/// A phased rollout pasted or typed as CSV: `facility,go_live[,end_date][,frequency]`.
pub async fn rollout_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(f): PageForm<RolloutForm>,
) -> AppResult<Response> {
    let (rows, problems) = parse_rollout_csv(&f.rows, PeriodKind::Month);
    let mut errors: Vec<String> = problems.iter().map(|e| e.to_string()).collect();
    if errors.is_empty() && rows.is_empty() {
        errors.push("no rows: write one facility per line, e.g. TYT-00004,2026-03-01".into());
    }
    if errors.is_empty() {
        match state
            .store
            .create_rollout(&ctx.actor(), f.version_id.trim(), &rows)
            .await
            .map_err(ctx.store_err())?
        {
            Ok(made) => {
                return Ok(
                    Redirect::to(&format!("/deployments?created={}", made.len())).into_response(),
                )
            }
            Err(p) => errors.extend(p.into_iter().map(|(row, m)| format!("row {row}: {m}"))),
        }
    }
    let mut resp = deployments_view(&state, &ctx, &ListQuery::default(), errors).await?;
    *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(resp)
}

pub struct ReportRowView {
    pub period: String,
    pub uses: i64,
    pub positives: i64,
    pub verified: String,
    pub overrides: i64,
    pub escalations: i64,
    pub downtime: i64,
    pub revision: i64,
    pub received: String,
    pub source: String,
}

pub struct AlertView {
    pub id: String,
    pub metric: String,
    pub method: String,
    pub period: String,
    pub level: String,
    pub value: String,
    pub threshold: String,
    pub state: String,
}

#[derive(Template)]
#[template(path = "deployment.html")]
struct DeploymentPage {
    l: Layout,
    d: DeploymentView,
    status: String,
    reports: Vec<ReportRowView>,
    alerts: Vec<AlertView>,
    can_report: bool,
    can_manage: bool,
    next_period: String,
    counters: Vec<String>,
    mix: Vec<(String, String, String)>,
    score_bins: usize,
    receipt: Option<BatchReceipt>,
    errors: Vec<String>,
    actions: Vec<Opt>,
}

async fn deployment_view(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    receipt: Option<BatchReceipt>,
    errors: Vec<String>,
) -> AppResult<Response> {
    let d = deployment_for(state, ctx, id).await?;
    let l = Layout::new(state, ctx);
    let lang = l.tr.lang;
    let stored = state
        .store
        .deployment_reports(&d.id)
        .await
        .map_err(ctx.store_err())?;
    let decl = state
        .store
        .declaration(&d.version_id)
        .await
        .map_err(ctx.store_err())?;
    let freq = PeriodKind::parse(&d.frequency).unwrap_or(PeriodKind::Month);
    let today = state.store.now().date();
    let next_period = stored
        .last()
        .and_then(|r| Period::parse(&r.period).ok())
        .map(|p| p.next())
        .unwrap_or_else(|| {
            iso_date::parse(&d.go_live)
                .map(|g| Period::containing(freq, g))
                .unwrap_or_else(|_| Period::containing(freq, today))
        });
    let next_period = if next_period.start() > today {
        Period::containing(freq, today)
    } else {
        next_period
    };
    let reports = stored
        .iter()
        .rev()
        .take(60)
        .map(|r| ReportRowView {
            period: r.period.clone(),
            uses: r.uses,
            positives: r.positives,
            verified: match (r.tp, r.fp, r.fn_, r.tn) {
                (Some(a), Some(b), Some(c), Some(e)) => format!("{a} / {b} / {c} / {e}"),
                _ => "—".into(),
            },
            overrides: r.overrides,
            escalations: r.escalations,
            downtime: r.downtime_minutes,
            revision: r.revision,
            received: r.received_at.get(..10).unwrap_or("").to_string(),
            source: r.source.clone(),
        })
        .collect();
    let alerts = state
        .store
        .alerts(&vigilo_store::AlertFilter {
            deployment_id: Some(d.id.clone()),
            ..Default::default()
        })
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|a| AlertView {
            id: a.id,
            metric: a.metric,
            method: a.method,
            period: a.period,
            level: a.level,
            value: fmt_value(Some(a.value * 1000.0).map(|x| x.round() / 1000.0), lang),
            threshold: format!("{}", a.threshold),
            state: a.state,
        })
        .collect();
    let status = d
        .status
        .parse::<DeploymentStatus>()
        .map(|s| s.label(lang).to_string())
        .unwrap_or(d.status.clone());
    let can_report = (ctx.is_staff() || reporter_facility(ctx) == Some(d.facility_id.as_str()))
        && matches!(d.status.as_str(), "active" | "paused" | "ended");
    let can_manage = ctx.is_staff();
    let current = d
        .status
        .parse::<DeploymentStatus>()
        .unwrap_or(DeploymentStatus::Ended);
    let actions = if can_manage {
        use DeploymentStatus::*;
        let targets: &[DeploymentStatus] = match current {
            Planned => &[Active, Ended],
            Active => &[Paused, Ended],
            Paused => &[Active, Ended],
            Ended => &[],
        };
        targets
            .iter()
            .map(|t| Opt {
                value: t.code().into(),
                label: t.label(lang).into(),
                selected: false,
            })
            .collect()
    } else {
        Vec::new()
    };
    let mix = decl
        .mix
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                if lang == Lang::Vi {
                    m.label.clone()
                } else {
                    m.label_en.clone()
                },
                m.bins.join("; "),
            )
        })
        .collect();
    render(
        &DeploymentPage {
            l,
            status,
            reports,
            alerts,
            can_report,
            can_manage,
            next_period: next_period.to_string(),
            counters: decl.counters.clone(),
            mix,
            score_bins: decl.score_bins(),
            receipt,
            errors,
            actions,
            d,
        },
        ctx,
        StatusCode::OK,
    )
}

pub async fn deployment_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    deployment_view(&state, &ctx, &id, None, Vec::new()).await
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}", tag = "monitoring",
    params(("id" = String, Path, description = "Deployment id")),
    responses((status = 200, description = "The deployment, its declaration and its reports"), (status = 404, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn api_deployment(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Json<serde_json::Value>> {
    let d = deployment_for(&state, &ctx, &id).await?;
    let reports = state
        .store
        .deployment_reports(&d.id)
        .await
        .map_err(ctx.store_err())?;
    let declaration = state
        .store
        .declaration(&d.version_id)
        .await
        .map_err(ctx.store_err())?;
    Ok(Json(
        serde_json::json!({ "deployment": d, "declaration": declaration, "reports": reports }),
    ))
}

/// The station's entry form: one period at a time; histograms as `;`-separated counts.
pub async fn report_form_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<HashMap<String, String>>,
) -> AppResult<Response> {
    let d = deployment_for(&state, &ctx, &id).await?;
    let who = submitter(&ctx)?;
    // The form's fields are the CSV columns, so one reader checks both.
    let mut header = vec!["deployment".to_string()];
    let mut values = vec![d.id.clone()];
    for (k, v) in &form {
        if k == "csrf" || v.trim().is_empty() {
            continue;
        }
        header.push(k.clone());
        values.push(v.trim().to_string());
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let written = w
        .write_record(&header)
        .and_then(|_| w.write_record(&values));
    let text = written
        .ok()
        .and_then(|_| w.into_inner().ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ctx.err(AppError::new(ErrorCode::Internal)))?;
    let rows = match parse_reports_csv(&text) {
        Ok(rows) => rows,
        Err(e) => return deployment_view(&state, &ctx, &id, None, vec![e]).await,
    };
    let rows = rows
        .into_iter()
        .map(|r| {
            r.map_err(|e| UnreadableRow {
                row: e.row,
                message: e.message,
            })
        })
        .collect();
    let receipt = state
        .store
        .ingest_reports(&who, "form", rows)
        .await
        .map_err(ctx.store_err())?;
    let errors: Vec<String> = receipt
        .rows
        .iter()
        .flat_map(|r| r.problems.iter().map(|p| p.text(ctx.lang).to_string()))
        .collect();
    let mut resp = deployment_view(&state, &ctx, &id, Some(receipt), errors.clone()).await?;
    if !errors.is_empty() {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct StatusForm {
    pub status: String,
    pub reason: String,
}

pub async fn status_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(f): PageForm<StatusForm>,
) -> AppResult<Response> {
    let to: DeploymentStatus = f
        .status
        .parse()
        .map_err(|_| ctx.err(AppError::invalid("unknown status")))?;
    match state
        .store
        .set_deployment_status(&ctx.actor(), &id, to, &f.reason)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/deployments/{id}")).into_response()),
        Err(
            e @ (vigilo_store::StoreError::Invalid { .. }
            | vigilo_store::StoreError::Conflict { .. }),
        ) => {
            let mut r = deployment_view(&state, &ctx, &id, None, vec![e.to_string()]).await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

#[derive(Deserialize)]
pub struct AlertForm {
    pub state: String,
    #[serde(default)]
    pub note: String,
}

pub async fn alert_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(f): PageForm<AlertForm>,
) -> AppResult<Response> {
    let a = state
        .store
        .alert(&id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    state
        .store
        .set_alert_state(&ctx.actor(), &id, f.state.trim(), &f.note)
        .await
        .map_err(ctx.store_err())?;
    Ok(Redirect::to(&format!("/deployments/{}", a.deployment_id)).into_response())
}
