//! Early warning intake and triage: the public report form (with a preview of the
//! de-identified text and an offline draft), the JSON API, and the reviewer's and the
//! manufacturer's pages.

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, PageForm};
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use vigilo_core::appraisal::iso_date;
use vigilo_core::directory::FieldError;
use vigilo_core::incident::{
    allowed_commands, optional, AgeBand, Causality, IncidentCommand, IncidentInput, IncidentSource,
    IncidentState, PatientSex, ReporterKind, Seriousness,
};
use vigilo_core::scrub::scrub;
use vigilo_core::{Lang, Role};
use vigilo_store::{Incident, IncidentFilter, IncidentView, NewIncident, ReporterAccount};

/// A report as the form and the JSON API send it. Vocabulary fields take the codes of
/// `vigilo_core::incident`; dates are ISO (`2026-11-23`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct IncidentBody {
    /// health_worker, patient, vendor, regulator
    #[serde(default)]
    pub reporter_kind: String,
    /// The product's id in the directory; leave out and use `product_text` if unknown.
    #[serde(default)]
    pub product_id: Option<String>,
    /// The version label as shown by the tool (for example `1.2`), if known.
    #[serde(default)]
    pub version: Option<String>,
    /// What the reporter calls the product when it is not in the list.
    #[serde(default)]
    pub product_text: Option<String>,
    /// The facility's code (for a station: its code in the national list).
    #[serde(default)]
    pub facility_code: Option<String>,
    /// The province's code (2025 map) when the facility is not given.
    #[serde(default)]
    pub province_code: Option<String>,
    #[serde(default)]
    pub occurred_on: Option<String>,
    #[serde(default)]
    pub aware_on: Option<String>,
    /// death, serious_injury, other_injury, malfunction, near_miss
    #[serde(default)]
    pub seriousness: String,
    #[serde(default)]
    pub public_health_threat: Option<bool>,
    #[serde(default)]
    pub narrative: String,
    /// female, male
    #[serde(default)]
    pub patient_sex: Option<String>,
    /// 0-4, 5-14, 15-44, 45-64, 65+
    #[serde(default)]
    pub patient_age_band: Option<String>,
    /// The client's own id for this report (a UUID): a resend files it once.
    #[serde(default)]
    pub client_key: Option<String>,
}

/// The answer to a filed report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentReceipt {
    /// Quote this number in any follow-up.
    pub receipt: String,
    pub state: String,
    /// The date by which the regulator triages the report.
    pub deadline: String,
    /// The narrative as stored, after de-identification.
    pub narrative: String,
    /// How many identifiers of each kind were removed.
    pub redactions: BTreeMap<String, u32>,
    /// False when this client key had already been filed: the first receipt is answered.
    pub created: bool,
}

/// The de-identified text a reporter sees before sending.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScrubPreview {
    pub text: String,
    pub redactions: BTreeMap<String, u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ScrubBody {
    pub text: String,
}

/// A report as the reviewer's and the manufacturer's API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentOut {
    pub id: String,
    pub receipt: String,
    pub source: String,
    pub reporter_kind: String,
    pub product_id: Option<String>,
    pub product_name: Option<String>,
    pub version: Option<String>,
    pub product_text: Option<String>,
    pub deployment_id: Option<String>,
    pub facility_name: Option<String>,
    pub province_code: Option<String>,
    pub occurred_on: Option<String>,
    pub aware_on: Option<String>,
    pub received_at: String,
    pub seriousness: String,
    pub public_health_threat: bool,
    pub narrative: String,
    pub patient_sex: Option<String>,
    pub patient_age_band: Option<String>,
    pub state: String,
    pub deadline: String,
    pub overdue: bool,
    pub causality: Option<String>,
    pub duplicate_of: Option<String>,
    pub completeness: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentPage {
    pub items: Vec<IncidentOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn out(v: IncidentView, today: time::Date) -> IncidentOut {
    let i = v.incident;
    let overdue = is_overdue(&i, today);
    IncidentOut {
        id: i.id,
        receipt: i.receipt,
        source: i.source,
        reporter_kind: i.reporter_kind,
        product_id: i.product_id,
        product_name: v.product_name,
        version: v.version,
        product_text: i.product_text,
        deployment_id: i.deployment_id,
        facility_name: v.facility_name,
        province_code: i.province_code,
        occurred_on: i.occurred_on,
        aware_on: i.aware_on,
        received_at: i.received_at,
        seriousness: i.seriousness,
        public_health_threat: i.public_health_threat != 0,
        narrative: i.narrative,
        patient_sex: i.patient_sex,
        patient_age_band: i.patient_age_band,
        state: i.state,
        deadline: i.deadline,
        overdue,
        causality: i.causality,
        duplicate_of: i.duplicate_of,
        completeness: (i.completeness * 100.0).round() / 100.0,
    }
}

fn is_overdue(i: &Incident, today: time::Date) -> bool {
    match (
        i.state.parse::<IncidentState>(),
        iso_date::parse(&i.deadline),
    ) {
        (Ok(state), Ok(deadline)) => vigilo_core::incident::is_overdue(state, deadline, today),
        _ => false,
    }
}

/// A field's problem in the reader's language.
pub(crate) fn field_message(e: &FieldError, lang: Lang) -> String {
    let (vi, en) = match (e.field.as_str(), e.code) {
        ("narrative", "required") => ("Hãy mô tả điều đã xảy ra.", "Describe what happened."),
        ("narrative", "too_short") => (
            "Mô tả quá ngắn: hãy nói công cụ AI đã đưa ra gì và điều gì xảy ra sau đó.",
            "The description is too short: say what the AI tool output and what happened next.",
        ),
        ("narrative", "too_long") => (
            "Mô tả quá dài (tối đa 8.000 ký tự): hãy tóm tắt.",
            "The description is too long (8,000 characters at most): please summarise.",
        ),
        ("product", "required") => (
            "Chọn sản phẩm, hoặc ghi tên bạn gọi nó nếu không có trong danh sách.",
            "Choose the product, or write what you call it if it is not in the list.",
        ),
        ("version", "needs_product") => (
            "Chỉ ghi phiên bản khi đã chọn sản phẩm.",
            "Give a version only with a product chosen from the list.",
        ),
        ("version", "unknown") => (
            "Không có phiên bản này của sản phẩm đã chọn: để trống nếu không chắc.",
            "The chosen product has no such version: leave it empty if unsure.",
        ),
        ("facility", "unknown") => (
            "Không tìm thấy cơ sở với mã này: kiểm tra mã hoặc chỉ chọn tỉnh.",
            "No facility has this code: check it, or choose only the province.",
        ),
        ("product", "unknown") => (
            "Sản phẩm này không có trong danh mục.",
            "This product is not in the directory.",
        ),
        ("province", "unknown") => ("Tỉnh không hợp lệ.", "Unknown province."),
        (_, "in_future") => (
            "Ngày này ở tương lai: kiểm tra lại.",
            "This date is in the future: check it.",
        ),
        (_, "too_early") => ("Ngày này quá xa trong quá khứ.", "This date is too early."),
        ("aware_on", "before_occurred") => (
            "Ngày biết sự cố không thể trước ngày xảy ra.",
            "You cannot have learned of it before it happened.",
        ),
        (_, "invalid_date") => (
            "Ngày không đúng dạng (năm-tháng-ngày).",
            "The date is not valid (year-month-day).",
        ),
        (_, "unknown_code") => ("Giá trị không hợp lệ.", "Not one of the allowed values."),
        (_, "too_long") => ("Quá dài.", "Too long."),
        _ => ("Giá trị không hợp lệ.", "Invalid value."),
    };
    let text = if lang == Lang::Vi { vi } else { en };
    format!("{}: {text}", field_label(&e.field, lang))
}

fn field_label(field: &str, lang: Lang) -> &'static str {
    let (vi, en) = match field {
        "narrative" => ("Mô tả", "Description"),
        "product" | "product_text" => ("Sản phẩm", "Product"),
        "version" => ("Phiên bản", "Version"),
        "facility" => ("Cơ sở", "Facility"),
        "province" => ("Tỉnh", "Province"),
        "occurred_on" => ("Ngày xảy ra", "Date it happened"),
        "aware_on" => ("Ngày biết", "Date you learned of it"),
        "seriousness" => ("Mức độ", "Seriousness"),
        "reporter_kind" => ("Người báo cáo", "Reporter"),
        "patient_sex" => ("Giới tính", "Sex"),
        "patient_age_band" => ("Nhóm tuổi", "Age band"),
        _ => ("Trường", "Field"),
    };
    if lang == Lang::Vi {
        vi
    } else {
        en
    }
}

pub(crate) fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn date_field(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    v: &Option<String>,
) -> Option<time::Date> {
    let s = nonempty(v)?;
    match iso_date::parse(&s) {
        Ok(d) => Some(d),
        Err(_) => {
            errors.push(field_error(field, "invalid_date"));
            None
        }
    }
}

fn field_error(field: &str, code: &'static str) -> FieldError {
    // FieldError's constructor is the core's; build through serde-free struct literal.
    FieldError {
        field: field.to_string(),
        code,
    }
}

fn vocab<T: std::str::FromStr<Err = vigilo_core::directory::UnknownCode>>(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    v: &str,
) -> Option<T> {
    match v.trim().parse() {
        Ok(x) => Some(x),
        Err(_) => {
            errors.push(field_error(
                field,
                if v.trim().is_empty() {
                    "required"
                } else {
                    "unknown_code"
                },
            ));
            None
        }
    }
}

/// Turns a body into a checked input: every problem, per field, at once. Names (facility
/// code, version label) are resolved to ids here.
pub(crate) async fn to_input(
    state: &AppState,
    ctx: &Ctx,
    b: &IncidentBody,
) -> AppResult<Result<IncidentInput, Vec<FieldError>>> {
    let mut errors = Vec::new();
    let reporter_kind = vocab::<ReporterKind>(&mut errors, "reporter_kind", &b.reporter_kind);
    let seriousness = vocab::<Seriousness>(&mut errors, "seriousness", &b.seriousness);
    let patient_sex = optional::<PatientSex>(b.patient_sex.as_deref().unwrap_or(""))
        .unwrap_or_else(|_| {
            errors.push(field_error("patient_sex", "unknown_code"));
            None
        });
    let patient_age_band = optional::<AgeBand>(b.patient_age_band.as_deref().unwrap_or(""))
        .unwrap_or_else(|_| {
            errors.push(field_error("patient_age_band", "unknown_code"));
            None
        });
    let occurred_on = date_field(&mut errors, "occurred_on", &b.occurred_on);
    let aware_on = date_field(&mut errors, "aware_on", &b.aware_on);
    let product_id = nonempty(&b.product_id);
    if let Some(pid) = &product_id {
        if state
            .store
            .product(pid)
            .await
            .map_err(ctx.store_err())?
            .is_none()
        {
            errors.push(field_error("product", "unknown"));
        }
    }
    let mut version_id = None;
    if let Some(label) = nonempty(&b.version) {
        match &product_id {
            Some(pid) => {
                version_id = state
                    .store
                    .version_by_label(pid, &label)
                    .await
                    .map_err(ctx.store_err())?;
                if version_id.is_none() {
                    errors.push(field_error("version", "unknown"));
                }
            }
            None => errors.push(field_error("version", "needs_product")),
        }
    }
    let mut facility_id = None;
    if let Some(code) = nonempty(&b.facility_code) {
        match state
            .store
            .organisation_by_code(&code)
            .await
            .map_err(ctx.store_err())?
        {
            Some(o) if o.kind == "facility" => facility_id = Some(o.id),
            _ => errors.push(field_error("facility", "unknown")),
        }
    } else if let Some(org) = reporter_org(ctx) {
        facility_id = Some(org.to_string());
    }
    let province_code = nonempty(&b.province_code);
    if let (None, Some(code)) = (&facility_id, &province_code) {
        let ok = state
            .store
            .admin_unit(code)
            .await
            .map_err(ctx.store_err())?
            .is_some_and(|u| u.level == "province");
        if !ok {
            errors.push(field_error("province", "unknown"));
        }
    }
    let (Some(reporter_kind), Some(seriousness)) = (reporter_kind, seriousness) else {
        return Ok(Err(errors));
    };
    let input = IncidentInput {
        reporter_kind,
        product_id,
        version_id,
        product_text: nonempty(&b.product_text),
        facility_id,
        province_code,
        occurred_on,
        aware_on,
        seriousness,
        public_health_threat: b.public_health_threat.unwrap_or(false),
        narrative: b.narrative.clone(),
        patient_sex,
        patient_age_band,
    };
    // The core's checks come after the lookups, without repeating a field already named.
    for e in input.check(state.store.now().date()) {
        if !errors.iter().any(|x| x.field == e.field) {
            errors.push(e);
        }
    }
    Ok(if errors.is_empty() {
        Ok(input)
    } else {
        Err(errors)
    })
}

/// A reporter account's facility (stations report from their own account).
fn reporter_org(ctx: &Ctx) -> Option<&str> {
    match ctx.role() {
        Role::Reporter => ctx.user.as_ref()?.organisation_id.as_deref(),
        _ => None,
    }
}

/// Anonymous reports pass the rate limiter; accounts are accountable and do not.
pub(crate) fn limit(state: &AppState, ctx: &Ctx, peer: SocketAddr) -> AppResult<()> {
    if ctx.user.is_some() {
        return Ok(());
    }
    state.intake_limiter.check(peer.ip()).map_err(|wait| {
        ctx.err(
            AppError::new(ErrorCode::TooManyRequests)
                .detail(if ctx.lang == Lang::Vi {
                    "Quá nhiều báo cáo từ địa chỉ này. Bản nháp vẫn được giữ; hãy gửi lại sau ít phút."
                } else {
                    "Too many reports from this address. Your draft is kept; send it again in a few minutes."
                })
                .retry_after(wait.as_secs().max(1)),
        )
    })
}

pub(crate) async fn file(
    state: &AppState,
    ctx: &Ctx,
    input: &IncidentInput,
    source: IncidentSource,
    client_key: Option<&str>,
) -> AppResult<vigilo_store::Submission> {
    let user = ctx.user.as_ref();
    state
        .store
        .submit_incident(
            &NewIncident {
                input,
                source,
                reporter: ReporterAccount {
                    user_id: user.map(|u| u.id.as_str()),
                    org_id: user.and_then(|u| u.organisation_id.as_deref()),
                },
                client_key,
            },
            &state.config.incident_clock,
        )
        .await
        .map_err(ctx.store_err())
}

fn redactions(json: &str) -> BTreeMap<String, u32> {
    serde_json::from_str(json).unwrap_or_default()
}

fn preview_of(text: &str) -> ScrubPreview {
    let s = scrub(text);
    let mut counts = BTreeMap::new();
    for f in &s.findings {
        *counts.entry(f.kind.code().to_string()).or_insert(0) += 1;
    }
    ScrubPreview {
        text: s.text,
        redactions: counts,
    }
}

fn problems_detail(errors: &[FieldError], lang: Lang) -> String {
    errors
        .iter()
        .map(|e| field_message(e, lang))
        .collect::<Vec<_>>()
        .join(" ")
}

#[utoipa::path(post, path = "/api/v1/incidents", tag = "early-warning",
    request_body = IncidentBody,
    responses((status = 201, body = IncidentReceipt), (status = 200, description = "already filed under this client key", body = IncidentReceipt),
        (status = 400, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub async fn api_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<IncidentBody>,
) -> AppResult<Response> {
    limit(&state, &ctx, peer)?;
    let input = match to_input(&state, &ctx, &body).await? {
        Ok(i) => i,
        Err(errors) => return Err(ctx.err(AppError::invalid(problems_detail(&errors, ctx.lang)))),
    };
    let s = file(
        &state,
        &ctx,
        &input,
        IncidentSource::Api,
        nonempty(&body.client_key).as_deref(),
    )
    .await?;
    let status = if s.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let i = s.incident;
    Ok((
        status,
        Json(IncidentReceipt {
            redactions: redactions(&i.redactions_json),
            receipt: i.receipt,
            state: i.state,
            deadline: i.deadline,
            narrative: i.narrative,
            created: s.created,
        }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/incidents/preview", tag = "early-warning",
    request_body = ScrubBody,
    responses((status = 200, body = ScrubPreview), (status = 429, body = crate::error::Problem)))]
pub async fn api_preview(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<ScrubBody>,
) -> AppResult<Json<ScrubPreview>> {
    limit(&state, &ctx, peer)?;
    if body.text.chars().count() > vigilo_core::incident::MAX_NARRATIVE {
        return Err(ctx.err(AppError::invalid(field_message(
            &field_error("narrative", "too_long"),
            ctx.lang,
        ))));
    }
    Ok(Json(preview_of(&body.text)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    pub state: Option<String>,
    pub seriousness: Option<String>,
    pub product: Option<String>,
    pub source: Option<String>,
    /// Only reports past their triage deadline.
    pub overdue: Option<bool>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

fn filter_of(ctx: &Ctx, q: &ListQuery, today: time::Date) -> AppResult<IncidentFilter> {
    let state = match q.state.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<IncidentState>()
                .map_err(|e| ctx.err(AppError::invalid(e.to_string())))?,
        ),
        None => None,
    };
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            c.split_once('~')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| {
                    ctx.err(AppError::invalid(
                        "cursor: use the next_cursor of the previous page",
                    ))
                })?,
        ),
        None => None,
    };
    Ok(IncidentFilter {
        state,
        seriousness: q.seriousness.clone().filter(|s| !s.is_empty()),
        product_id: q.product.clone().filter(|s| !s.is_empty()),
        source: q.source.clone().filter(|s| !s.is_empty()),
        overdue_on: q.overdue.unwrap_or(false).then_some(today),
        // A manufacturer sees the reports about its own products only.
        manufacturer_id: if ctx.is_staff() {
            None
        } else {
            Some(ctx.vendor_org().unwrap_or("-").to_string())
        },
        before,
        limit: q.limit.unwrap_or(50).clamp(1, 500),
    })
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "early-warning",
    params(ListQuery),
    responses((status = 200, body = IncidentPage), (status = 401, body = crate::error::Problem)))]
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> AppResult<Json<IncidentPage>> {
    let today = state.store.now().date();
    let f = filter_of(&ctx, &q, today)?;
    let rows = state.store.incidents(&f).await.map_err(ctx.store_err())?;
    let next_cursor = (rows.len() == f.limit as usize)
        .then(|| rows.last())
        .flatten()
        .map(|v| format!("{}~{}", v.incident.received_at, v.incident.id));
    Ok(Json(IncidentPage {
        items: rows.into_iter().map(|v| out(v, today)).collect(),
        next_cursor,
    }))
}

/// The report if the caller may see it: staff, or the manufacturer of its product.
pub(crate) async fn incident_for(state: &AppState, ctx: &Ctx, id: &str) -> AppResult<IncidentView> {
    let v = state
        .store
        .incident(id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    if ctx.is_staff()
        || (ctx.vendor_org().is_some() && v.manufacturer_id.as_deref() == ctx.vendor_org())
    {
        Ok(v)
    } else {
        Err(ctx.err(AppError::not_found()))
    }
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "early-warning",
    params(("id" = String, Path, description = "Report id")),
    responses((status = 200, body = IncidentOut), (status = 404, body = crate::error::Problem)))]
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Json<IncidentOut>> {
    let v = incident_for(&state, &ctx, &id).await?;
    Ok(Json(out(v, state.store.now().date())))
}

// ---- pages ----

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn opts<T: Copy + PartialEq>(
    all: &[T],
    code: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
    chosen: &str,
) -> Vec<Opt> {
    all.iter()
        .map(|v| Opt {
            value: code(*v).into(),
            label: label(*v).into(),
            selected: code(*v) == chosen,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "incident_form.html")]
struct FormPage {
    l: Layout,
    b: FormValues,
    reporter_kinds: Vec<Opt>,
    seriousness: Vec<Opt>,
    products: Vec<Opt>,
    provinces: Vec<Opt>,
    sexes: Vec<Opt>,
    ages: Vec<Opt>,
    errors: Vec<String>,
    preview: Option<ScrubPreview>,
    /// The facility is the reporter's own station.
    own_facility: Option<String>,
}

/// The form's values as typed, echoed back on errors and in the preview.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FormValues {
    #[serde(default)]
    pub reporter_kind: String,
    #[serde(default)]
    pub product_id: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub product_text: String,
    #[serde(default)]
    pub facility_code: String,
    #[serde(default)]
    pub province_code: String,
    #[serde(default)]
    pub occurred_on: String,
    #[serde(default)]
    pub aware_on: String,
    #[serde(default)]
    pub seriousness: String,
    #[serde(default)]
    pub public_health_threat: Option<String>,
    #[serde(default)]
    pub narrative: String,
    #[serde(default)]
    pub patient_sex: String,
    #[serde(default)]
    pub patient_age_band: String,
    #[serde(default)]
    pub client_key: String,
    /// `preview` shows the de-identified text; `send` files the report.
    #[serde(default)]
    pub step: String,
}

impl FormValues {
    fn body(&self) -> IncidentBody {
        let some = |s: &str| Some(s.to_string());
        IncidentBody {
            reporter_kind: self.reporter_kind.clone(),
            product_id: some(&self.product_id),
            version: some(&self.version),
            product_text: some(&self.product_text),
            facility_code: some(&self.facility_code),
            province_code: some(&self.province_code),
            occurred_on: some(&self.occurred_on),
            aware_on: some(&self.aware_on),
            seriousness: self.seriousness.clone(),
            public_health_threat: Some(self.public_health_threat.is_some()),
            narrative: self.narrative.clone(),
            patient_sex: some(&self.patient_sex),
            patient_age_band: some(&self.patient_age_band),
            client_key: some(&self.client_key),
        }
    }
}

async fn form_page(
    state: &AppState,
    ctx: &Ctx,
    b: FormValues,
    errors: Vec<String>,
    preview: Option<ScrubPreview>,
    status: StatusCode,
) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let lang = l.tr.lang;
    let mut products = vec![Opt {
        value: String::new(),
        label: if lang == Lang::Vi {
            "— Không biết / không có trong danh sách —".into()
        } else {
            "— Don't know / not in the list —".into()
        },
        selected: b.product_id.is_empty(),
    }];
    for p in state
        .store
        .incident_product_choices()
        .await
        .map_err(ctx.store_err())?
    {
        products.push(Opt {
            selected: p.id == b.product_id,
            value: p.id,
            label: format!("{} ({})", p.name, p.manufacturer),
        });
    }
    let mut provinces = vec![Opt {
        value: String::new(),
        label: "—".into(),
        selected: b.province_code.is_empty(),
    }];
    for u in state.store.provinces().await.map_err(ctx.store_err())? {
        provinces.push(Opt {
            selected: u.code == b.province_code,
            value: u.code,
            label: u.name,
        });
    }
    let own_facility = match reporter_org(ctx) {
        Some(org) => state
            .store
            .organisation(org)
            .await
            .map_err(ctx.store_err())?
            .map(|o| format!("{} ({})", o.name, o.code)),
        None => None,
    };
    let mut sexes = vec![Opt {
        value: String::new(),
        label: "—".into(),
        selected: b.patient_sex.is_empty(),
    }];
    sexes.extend(opts(
        PatientSex::ALL,
        |v| v.code(),
        |v| v.label(lang),
        &b.patient_sex,
    ));
    let mut ages = vec![Opt {
        value: String::new(),
        label: "—".into(),
        selected: b.patient_age_band.is_empty(),
    }];
    ages.extend(opts(
        AgeBand::ALL,
        |v| v.code(),
        |v| v.label(lang),
        &b.patient_age_band,
    ));
    let kind = if b.reporter_kind.is_empty() {
        match ctx.role() {
            Role::Vendor => "vendor",
            Role::Reviewer | Role::Admin => "regulator",
            Role::Reporter => "health_worker",
            _ => "",
        }
    } else {
        b.reporter_kind.as_str()
    };
    render(
        &FormPage {
            reporter_kinds: opts(ReporterKind::ALL, |v| v.code(), |v| v.label(lang), kind)
                .into_iter()
                .filter(|o| o.value != ReporterKind::PublicSource.code())
                .collect(),
            seriousness: opts(
                Seriousness::ALL,
                |v| v.code(),
                |v| v.label(lang),
                &b.seriousness,
            ),
            products,
            provinces,
            sexes,
            ages,
            errors,
            preview,
            own_facility,
            l,
            b,
        },
        ctx,
        status,
    )
}

pub async fn new_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    form_page(
        &state,
        &ctx,
        FormValues::default(),
        Vec::new(),
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Template)]
#[template(path = "incident_receipt.html")]
struct ReceiptPage {
    l: Layout,
    receipt: String,
    deadline: String,
    narrative: String,
    client_key: String,
    created: bool,
}

pub async fn new_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    PageForm(form): PageForm<FormValues>,
) -> AppResult<Response> {
    limit(&state, &ctx, peer)?;
    let input = match to_input(&state, &ctx, &form.body()).await? {
        Ok(i) => i,
        Err(errors) => {
            let messages = errors.iter().map(|e| field_message(e, ctx.lang)).collect();
            return form_page(
                &state,
                &ctx,
                form,
                messages,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    if form.step != "send" {
        let preview = preview_of(&form.narrative);
        return form_page(
            &state,
            &ctx,
            form,
            Vec::new(),
            Some(preview),
            StatusCode::OK,
        )
        .await;
    }
    let key = nonempty(&Some(form.client_key.clone()));
    let s = file(&state, &ctx, &input, IncidentSource::Form, key.as_deref()).await?;
    render(
        &ReceiptPage {
            l: Layout::new(&state, &ctx),
            receipt: s.incident.receipt,
            deadline: s.incident.deadline,
            narrative: s.incident.narrative,
            client_key: form.client_key,
            created: s.created,
        },
        &ctx,
        if s.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
    )
}

/// The form's draft keeper: saves the fields in the browser as they are typed, and when
/// the connection is down holds the report and sends it when the connection returns.
pub async fn form_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/incident-form.js"),
    )
        .into_response()
}

// ---- reviewer and manufacturer pages ----

pub struct Row {
    pub id: String,
    pub receipt: String,
    pub received: String,
    pub product: String,
    pub seriousness: String,
    pub seriousness_code: String,
    pub state: String,
    pub deadline: String,
    pub overdue: bool,
    pub place: String,
    pub completeness: String,
    pub duplicate: bool,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    l: Layout,
    rows: Vec<Row>,
    states: Vec<Opt>,
    seriousness: Vec<Opt>,
    overdue: bool,
    next: Option<String>,
    query: String,
}

fn label_of<T: std::str::FromStr + Copy>(code: &str, label: impl Fn(T) -> &'static str) -> String {
    code.parse::<T>()
        .map(|v| label(v).to_string())
        .unwrap_or_else(|_| code.to_string())
}

fn product_label(v: &IncidentView) -> String {
    match (&v.product_name, &v.version, &v.incident.product_text) {
        (Some(p), Some(ver), _) => format!("{p} {ver}"),
        (Some(p), None, _) => p.clone(),
        (None, _, Some(t)) => format!("“{t}”"),
        _ => "—".into(),
    }
}

pub async fn list_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> AppResult<Response> {
    let today = state.store.now().date();
    let f = filter_of(&ctx, &q, today)?;
    let rows = state.store.incidents(&f).await.map_err(ctx.store_err())?;
    let l = Layout::new(&state, &ctx);
    let lang = l.tr.lang;
    let next = (rows.len() == f.limit as usize)
        .then(|| rows.last())
        .flatten()
        .map(|v| format!("{}~{}", v.incident.received_at, v.incident.id));
    let view = rows
        .iter()
        .map(|v| {
            let i = &v.incident;
            Row {
                id: i.id.clone(),
                receipt: i.receipt.clone(),
                received: i.received_at.get(..10).unwrap_or("").into(),
                product: product_label(v),
                seriousness: label_of::<Seriousness>(&i.seriousness, |s| s.label(lang)),
                seriousness_code: i.seriousness.clone(),
                state: label_of::<IncidentState>(&i.state, |s| s.label(lang)),
                deadline: i.deadline.clone(),
                overdue: is_overdue(i, today),
                place: v
                    .facility_name
                    .clone()
                    .or_else(|| i.province_code.clone())
                    .or_else(|| (i.country != "VN").then(|| i.country.clone()))
                    .unwrap_or_else(|| "—".into()),
                completeness: format!("{:.0}%", i.completeness * 100.0),
                duplicate: i.duplicate_of.is_some(),
            }
        })
        .collect();
    let chosen_state = q.state.clone().unwrap_or_default();
    let mut states = vec![Opt {
        value: String::new(),
        label: "—".into(),
        selected: chosen_state.is_empty(),
    }];
    states.extend(opts(
        IncidentState::ALL,
        |v| v.code(),
        |v| v.label(lang),
        &chosen_state,
    ));
    let chosen_ser = q.seriousness.clone().unwrap_or_default();
    let mut seriousness = vec![Opt {
        value: String::new(),
        label: "—".into(),
        selected: chosen_ser.is_empty(),
    }];
    seriousness.extend(opts(
        Seriousness::ALL,
        |v| v.code(),
        |v| v.label(lang),
        &chosen_ser,
    ));
    let query = format!(
        "state={}&seriousness={}&overdue={}",
        chosen_state,
        chosen_ser,
        q.overdue.unwrap_or(false)
    );
    render(
        &ListPage {
            l,
            rows: view,
            states,
            seriousness,
            overdue: q.overdue.unwrap_or(false),
            next,
            query,
        },
        &ctx,
        StatusCode::OK,
    )
}

pub struct EventView {
    pub at: String,
    pub action: String,
    pub change: String,
    pub reason: String,
}

pub struct MessageView {
    pub at: String,
    pub role: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct DetailPage {
    l: Layout,
    v: IncidentView,
    product: String,
    seriousness: String,
    state: String,
    overdue: bool,
    reporter: String,
    causality: String,
    redactions: Vec<(String, u32)>,
    codes: Vec<(String, String)>,
    suggestions: Vec<SuggestionView>,
    duplicates: Vec<DuplicateView>,
    events: Vec<EventView>,
    messages: Vec<MessageView>,
    actions: Vec<Opt>,
    causalities: Vec<Opt>,
    can_triage: bool,
    can_message: bool,
    errors: Vec<String>,
}

async fn detail_view(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    errors: Vec<String>,
    status: StatusCode,
) -> AppResult<Response> {
    let v = incident_for(state, ctx, id).await?;
    let l = Layout::new(state, ctx);
    let lang = l.tr.lang;
    let today = state.store.now().date();
    let store = &state.store;
    let codes = store
        .incident_codes(id)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|c| (c.code, c.system))
        .collect();
    let events = store
        .incident_events(id)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|e| EventView {
            at: e.at.get(..16).unwrap_or(&e.at).replace('T', " "),
            action: label_of::<IncidentCommand>(&e.action, |c| c.label(lang)),
            change: if e.from_state.is_empty() {
                label_of::<IncidentState>(&e.to_state, |s| s.label(lang))
            } else {
                format!(
                    "{} → {}",
                    label_of::<IncidentState>(&e.from_state, |s| s.label(lang)),
                    label_of::<IncidentState>(&e.to_state, |s| s.label(lang))
                )
            },
            reason: e.reason,
        })
        .collect();
    let messages = store
        .incident_messages(id)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|m| MessageView {
            at: m.at.get(..16).unwrap_or(&m.at).replace('T', " "),
            role: m.author_role,
            body: m.body,
        })
        .collect();
    let current = v
        .incident
        .state
        .parse::<IncidentState>()
        .unwrap_or(IncidentState::Received);
    let actions = allowed_commands(current)
        .into_iter()
        .map(|c| Opt {
            value: c.code().into(),
            label: c.label(lang).into(),
            selected: false,
        })
        .collect();
    let causalities = opts(Causality::ALL, |c| c.code(), |c| c.label(lang), "");
    let suggestions = if ctx.is_staff() {
        suggest(state, ctx, &v.incident.narrative, lang).await?
    } else {
        Vec::new()
    };
    let duplicates = if ctx.is_staff() && v.incident.duplicate_of.is_none() {
        duplicate_candidates(state, ctx, id, lang).await?
    } else {
        Vec::new()
    };
    let i = &v.incident;
    render(
        &DetailPage {
            product: product_label(&v),
            seriousness: label_of::<Seriousness>(&i.seriousness, |s| s.label(lang)),
            state: label_of::<IncidentState>(&i.state, |s| s.label(lang)),
            overdue: is_overdue(i, today),
            reporter: label_of::<ReporterKind>(&i.reporter_kind, |s| s.label(lang)),
            causality: i
                .causality
                .as_deref()
                .map(|c| label_of::<Causality>(c, |s| s.label(lang)))
                .unwrap_or_default(),
            redactions: redactions(&i.redactions_json).into_iter().collect(),
            codes,
            suggestions,
            duplicates,
            events,
            messages,
            actions,
            causalities,
            can_triage: ctx.is_staff(),
            can_message: ctx.is_staff() || ctx.vendor_org().is_some(),
            errors,
            l,
            v,
        },
        ctx,
        status,
    )
}

pub struct DuplicateView {
    pub id: String,
    pub receipt: String,
    pub score: String,
    pub agreements: String,
}

/// Likely duplicates of a report, vigiMatch style (`vigilo_core::incident_quality`): the
/// strongest five above the matcher's threshold, with what agreed.
async fn duplicate_candidates(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    lang: Lang,
) -> AppResult<Vec<DuplicateView>> {
    use vigilo_core::incident_quality::{DuplicateMatcher, MatchParams, DEFAULT_THRESHOLD};
    let pool = state
        .store
        .duplicate_pool(id, 60)
        .await
        .map_err(ctx.store_err())?;
    let Some((me, others)) = pool.split_first() else {
        return Ok(Vec::new());
    };
    let matcher = DuplicateMatcher::new(MatchParams::default())
        .map_err(|e| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string())))?;
    let mut out = Vec::new();
    for (other, score) in matcher
        .candidates(me, others, DEFAULT_THRESHOLD)
        .into_iter()
        .take(5)
    {
        let Some(v) = state
            .store
            .incident(&other)
            .await
            .map_err(ctx.store_err())?
        else {
            continue;
        };
        let agreements = score
            .parts
            .iter()
            .filter(|p| p.weight > 0.0)
            .map(|p| format!("{} ({})", p.field.label(lang), p.outcome))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(DuplicateView {
            id: other,
            receipt: v.incident.receipt,
            score: format!("{:.1}", score.total),
            agreements,
        });
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
pub struct DuplicateForm {
    /// The report this one duplicates; empty to undo.
    #[serde(default)]
    pub of: String,
}

pub async fn duplicate_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<DuplicateForm>,
) -> AppResult<Response> {
    let actor = ctx.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
    let of = Some(form.of.trim()).filter(|o| !o.is_empty());
    match state.store.mark_duplicate(&actor, &id, of).await {
        Ok(()) => Ok(Redirect::to(&format!("/incidents/{id}")).into_response()),
        Err(e @ vigilo_store::StoreError::Invalid { .. }) => {
            detail_view(
                &state,
                &ctx,
                &id,
                vec![e.to_string()],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(ctx.store_err()(e)),
    }
}

pub struct SuggestionView {
    pub code: String,
    pub term: String,
    pub matched: String,
}

/// Codes suggested from the narrative: Vigilo's AI codes always, IMDRF terms once loaded.
async fn suggest(
    state: &AppState,
    ctx: &Ctx,
    narrative: &str,
    lang: Lang,
) -> AppResult<Vec<SuggestionView>> {
    use vigilo_core::codes::{ai_codes, CodeSuggester, ImdrfTerm};
    let rows = state.store.imdrf_terms().await.map_err(ctx.store_err())?;
    let terms: Vec<ImdrfTerm> = rows
        .iter()
        .filter_map(|r| {
            Some(ImdrfTerm {
                annex: r.annex.chars().next()?,
                code: r.code.clone(),
                term: r.term.clone(),
                definition: r.definition.clone(),
                parent: r.parent.clone(),
                other_parents: Vec::new(),
                hierarchies: Vec::new(),
                level: u8::try_from(r.level).unwrap_or(1),
                other_terminology: None,
                status: None,
                line: 0,
            })
        })
        .collect();
    let ai = ai_codes();
    let suggester = CodeSuggester::new(&terms, &ai);
    Ok(suggester
        .suggest(narrative, 6)
        .into_iter()
        .map(|s| SuggestionView {
            term: ai
                .iter()
                .find(|a| a.code == s.code)
                .map(|a| a.term(lang).to_string())
                .or_else(|| {
                    rows.iter()
                        .find(|r| r.code == s.code)
                        .map(|r| r.term.clone())
                })
                .unwrap_or_default(),
            matched: s.matched.join(", "),
            code: s.code,
        })
        .collect())
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
    #[serde(default)]
    pub causality: String,
}

pub async fn action_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<ActionForm>,
) -> AppResult<Response> {
    let command: IncidentCommand =
        form.action
            .parse()
            .map_err(|e: vigilo_core::directory::UnknownCode| {
                ctx.err(AppError::invalid(e.to_string()))
            })?;
    let causality = optional::<Causality>(&form.causality)
        .map_err(|e| ctx.err(AppError::invalid(e.to_string())))?;
    let actor = ctx.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
    match state
        .store
        .incident_transition(&actor, &id, command, &form.reason, causality)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/incidents/{id}")).into_response()),
        Err(
            e @ (vigilo_store::StoreError::Invalid { .. }
            | vigilo_store::StoreError::Conflict { .. }),
        ) => {
            detail_view(
                &state,
                &ctx,
                &id,
                vec![e.to_string()],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(ctx.store_err()(e)),
    }
}

#[derive(Debug, Deserialize)]
pub struct MessageForm {
    pub body: String,
}

pub async fn message_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<MessageForm>,
) -> AppResult<Response> {
    // Object check first: a vendor may write only about its own products' reports.
    incident_for(&state, &ctx, &id).await?;
    let role = if ctx.is_staff() {
        "regulator"
    } else {
        "vendor"
    };
    let actor = ctx.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
    match state
        .store
        .add_incident_message(&actor, role, &id, &form.body)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/incidents/{id}#messages")).into_response()),
        Err(e @ vigilo_store::StoreError::Invalid { .. }) => {
            detail_view(
                &state,
                &ctx,
                &id,
                vec![e.to_string()],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(ctx.store_err()(e)),
    }
}

#[derive(Debug, Deserialize)]
pub struct CodesForm {
    #[serde(default)]
    pub codes: String,
}

pub async fn codes_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<CodesForm>,
) -> AppResult<Response> {
    let codes: Vec<String> = form
        .codes
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    let actor = ctx.user.as_ref().map(|u| u.id.clone()).unwrap_or_default();
    match state.store.set_incident_codes(&actor, &id, &codes).await {
        Ok(_) => Ok(Redirect::to(&format!("/incidents/{id}")).into_response()),
        Err(e @ vigilo_store::StoreError::Invalid { .. }) => {
            detail_view(
                &state,
                &ctx,
                &id,
                vec![e.to_string()],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(ctx.store_err()(e)),
    }
}

// ---- public view ----

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CountsQuery {
    /// seriousness (default), code, province or month
    pub by: Option<String>,
    /// Only this product's reports.
    pub product: Option<String>,
}

/// One published count: the number when it is shown, and how it is printed (`12`, `<5`
/// for 1 to 4 reports, `x` when hidden so that a small count cannot be worked out).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicCell {
    pub count: Option<u64>,
    pub shown: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicCountRow {
    pub product_id: String,
    pub product_name: String,
    pub cells: Vec<PublicCell>,
    pub total: PublicCell,
}

/// Counts of reports by product and one other dimension, complete (every product and
/// category, not a page), with small cells suppressed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicCounts {
    pub by: String,
    pub columns: Vec<String>,
    pub column_labels: Vec<String>,
    pub rows: Vec<PublicCountRow>,
    pub column_totals: Vec<PublicCell>,
    pub total: PublicCell,
    /// A report does not prove that the AI caused the harm.
    pub caveat: String,
    pub footnote: String,
}

fn public_cell(c: vigilo_core::suppression::Cell) -> PublicCell {
    PublicCell {
        count: c.value(),
        shown: match c {
            vigilo_core::suppression::Cell::Shown(v) => v.to_string(),
            other => vigilo_core::suppression::display(other, Lang::En),
        },
    }
}

pub fn caveat(lang: Lang) -> &'static str {
    match lang {
        Lang::Vi => "Một báo cáo sự cố không chứng minh công cụ AI đã gây ra tổn hại: người báo cáo chỉ cần nghi ngờ. Số báo cáo phụ thuộc vào mức độ sử dụng và thói quen báo cáo, nên không dùng để so sánh độ an toàn giữa các sản phẩm.",
        Lang::En => "A report does not prove that the AI tool caused the harm: reporters need only suspect it. Counts depend on how much a tool is used and on reporting habits, so they do not compare the safety of products.",
    }
}

async fn public_counts(state: &AppState, ctx: &Ctx, q: &CountsQuery) -> AppResult<PublicCounts> {
    use vigilo_core::suppression::{footnote, suppress_table, SuppressionRule};
    use vigilo_store::CountBy;
    let lang = ctx.lang;
    let by_text = q.by.clone().unwrap_or_else(|| "seriousness".into());
    let by = match by_text.as_str() {
        "seriousness" => CountBy::Seriousness,
        "code" => CountBy::Code,
        "province" => CountBy::Province,
        "month" => CountBy::Month,
        other => {
            return Err(ctx.err(AppError::invalid(format!(
                "by: '{}' is not one of seriousness, code, province, month",
                other.chars().take(40).collect::<String>()
            ))))
        }
    };
    let cells = state
        .store
        .incident_counts(by, q.product.as_deref().filter(|p| !p.is_empty()))
        .await
        .map_err(ctx.store_err())?;
    let columns: Vec<String> = match by {
        // Every seriousness level is a column, even an empty one.
        CountBy::Seriousness => Seriousness::ALL
            .iter()
            .map(|s| s.code().to_string())
            .collect(),
        _ => {
            let mut keys: Vec<String> = cells.iter().map(|c| c.key.clone()).collect();
            keys.sort();
            keys.dedup();
            keys
        }
    };
    let mut products: Vec<(String, String)> = cells
        .iter()
        .map(|c| (c.product_id.clone(), c.product_name.clone()))
        .collect();
    products.dedup();
    let mut counts = vec![vec![0u64; columns.len()]; products.len()];
    for c in &cells {
        if let (Some(i), Some(j)) = (
            products.iter().position(|(id, _)| *id == c.product_id),
            columns.iter().position(|k| *k == c.key),
        ) {
            counts[i][j] += u64::try_from(c.n).unwrap_or(0);
        }
    }
    let rule = SuppressionRule::default();
    let table = suppress_table(&counts, rule)
        .map_err(|e| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string())))?;
    let unknown = if lang == Lang::Vi {
        "Không rõ sản phẩm"
    } else {
        "Product not identified"
    };
    let column_labels = columns
        .iter()
        .map(|k| match by {
            CountBy::Seriousness => label_of::<Seriousness>(k, |s| s.label(lang)),
            _ if k.is_empty() => "—".into(),
            _ => k.clone(),
        })
        .collect();
    Ok(PublicCounts {
        by: by_text,
        column_labels,
        rows: products
            .into_iter()
            .zip(table.cells)
            .zip(table.row_totals)
            .map(|(((id, name), cells), total)| PublicCountRow {
                product_name: if id.is_empty() { unknown.into() } else { name },
                product_id: id,
                cells: cells.into_iter().map(public_cell).collect(),
                total: public_cell(total),
            })
            .collect(),
        columns,
        column_totals: table.column_totals.into_iter().map(public_cell).collect(),
        total: public_cell(table.grand_total),
        caveat: caveat(lang).into(),
        footnote: footnote(rule, lang),
    })
}

#[utoipa::path(get, path = "/api/v1/public/incident-counts", tag = "early-warning",
    params(CountsQuery),
    responses((status = 200, body = PublicCounts), (status = 400, body = crate::error::Problem)))]
pub async fn api_public_counts(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<CountsQuery>,
) -> AppResult<Json<PublicCounts>> {
    Ok(Json(public_counts(&state, &ctx, &q).await?))
}

#[derive(Template)]
#[template(path = "early_warning.html")]
struct PublicPage {
    l: Layout,
    t: PublicCounts,
}

pub async fn public_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<CountsQuery>,
) -> AppResult<Response> {
    let t = public_counts(&state, &ctx, &q).await?;
    render(
        &PublicPage {
            l: Layout::new(&state, &ctx),
            t,
        },
        &ctx,
        StatusCode::OK,
    )
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PublicListQuery {
    pub product: Option<String>,
    /// death, serious_injury, other_injury, malfunction, near_miss
    pub seriousness: Option<String>,
    /// An IMDRF or AI code given by a reviewer.
    pub code: Option<String>,
    pub province: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 100 (default 25).
    pub limit: Option<u32>,
}

/// A report in the public list: what was reported about which product, where (province)
/// and when (month); never the narrative, the facility or the patient.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicIncident {
    pub receipt: String,
    pub product_id: String,
    pub product_name: String,
    pub version: Option<String>,
    pub province_code: Option<String>,
    /// The month of the event (or of receipt when the date is unknown), `2026-08`.
    pub month: String,
    pub seriousness: String,
    pub state: String,
    pub reporter_kind: String,
    pub codes: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicIncidentPage {
    /// Reports matching the filter, all of them (not this page's).
    pub total: i64,
    pub results: Vec<PublicIncident>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    pub caveat: String,
}

#[utoipa::path(get, path = "/api/v1/public/incidents", tag = "early-warning",
    params(PublicListQuery),
    responses((status = 200, body = PublicIncidentPage), (status = 400, body = crate::error::Problem)))]
pub async fn api_public_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<PublicListQuery>,
) -> AppResult<Json<PublicIncidentPage>> {
    let some = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    if let Some(s) = some(&q.seriousness) {
        s.parse::<Seriousness>()
            .map_err(|e| ctx.err(AppError::invalid(e.to_string())))?;
    }
    let before = match some(&q.cursor) {
        Some(c) => Some(
            c.split_once('~')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| {
                    ctx.err(AppError::invalid(
                        "cursor: use the next_cursor of the previous page",
                    ))
                })?,
        ),
        None => None,
    };
    let f = vigilo_store::PublicIncidentFilter {
        product_id: some(&q.product),
        seriousness: some(&q.seriousness),
        code: some(&q.code).map(|c| c.trim().to_ascii_uppercase()),
        province_code: some(&q.province),
        before,
        limit: q.limit.unwrap_or(25).clamp(1, 100),
    };
    let (rows, total) = state
        .store
        .public_incidents(&f)
        .await
        .map_err(ctx.store_err())?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let codes = state.store.codes_of(&ids).await.map_err(ctx.store_err())?;
    let next_cursor = (rows.len() == f.limit as usize)
        .then(|| rows.last())
        .flatten()
        .map(|r| format!("{}~{}", r.received_at, r.id));
    Ok(Json(PublicIncidentPage {
        total,
        results: rows
            .into_iter()
            .map(|r| PublicIncident {
                codes: codes
                    .iter()
                    .filter(|(id, _)| *id == r.id)
                    .map(|(_, c)| c.clone())
                    .collect(),
                receipt: r.receipt,
                product_id: r.product_id,
                product_name: r.product_name,
                version: r.version,
                province_code: r.province_code,
                month: r.month,
                seriousness: r.seriousness,
                state: r.state,
                reporter_kind: r.reporter_kind,
            })
            .collect(),
        next_cursor,
        caveat: caveat(ctx.lang).into(),
    }))
}
