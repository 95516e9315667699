//! Early warning over HL7 FHIR R4: incident reports as `AdverseEvent` resources, out
//! (one report, and a searchset Bundle for reviewers) and in (a public intake beside the
//! JSON API, through the same checks, rate limiter and de-identification).
//!
//! The mapping, element by element, is in `docs/fhir.md`. No patient identity ever
//! leaves or enters: the subject is an anonymous contained Patient carrying at most the
//! sex and the age band, and the narrative is the stored, de-identified text.

use crate::ctx::{urlencode, Ctx};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::extract::ApiQuery;
use crate::incidents::{
    field_message, file, incident_for, limit, nonempty, to_input, IncidentBody,
};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use vigilo_core::directory::FieldError;
use vigilo_core::fhir::{adverse_event_in, is_adverse_event, FhirProblem};
use vigilo_core::incident::{IncidentSource, PatientSex, ReporterKind, Seriousness};
use vigilo_core::Lang;
use vigilo_store::{IncidentCode, IncidentFilter, IncidentView};

pub const FHIR_JSON: &str = "application/fhir+json";

pub use vigilo_core::fhir::{
    fhir_seriousness, seriousness_from, xhtml_escape, xhtml_text, AI_CODE_SYSTEM, CATEGORY_SYSTEM,
    CLIENT_KEY_SYSTEM, EXT_AGE_BAND, EXT_NARRATIVE, EXT_PUBLIC_HEALTH_THREAT, EXT_REPORTER_KIND,
    FACILITY_SYSTEM, IMDRF_SYSTEM, OUTCOME_SYSTEM, PRODUCT_SYSTEM, PROVINCE_SYSTEM, RECEIPT_SYSTEM,
    SERIOUSNESS_SYSTEM, SEVERITY_SYSTEM,
};

/// Element names of the R4 AdverseEvent resource (hl7.org/fhir/R4/adverseevent.html); a
/// test keeps our output inside this set.
pub const FHIR_ADVERSE_EVENT_ELEMENTS: &[&str] = &[
    "resourceType",
    "id",
    "meta",
    "implicitRules",
    "language",
    "text",
    "contained",
    "extension",
    "modifierExtension",
    "identifier",
    "actuality",
    "category",
    "event",
    "subject",
    "encounter",
    "date",
    "detected",
    "recordedDate",
    "resultingCondition",
    "location",
    "seriousness",
    "severity",
    "outcome",
    "recorder",
    "contributor",
    "suspectEntity",
    "subjectMedicalHistory",
    "referenceDocument",
    "study",
];

// ---- small builders ----

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

fn concept(system: &str, code: &str, display: &str) -> Value {
    json!({ "coding": [coding(system, code, display)] })
}

fn identifier(system: &str, value: &str) -> Value {
    json!({ "system": system, "value": value })
}

fn extension(url: &str, kind: &str, value: Value) -> Value {
    let mut e = Map::new();
    e.insert("url".into(), Value::String(url.into()));
    e.insert(format!("value{kind}"), value);
    Value::Object(e)
}

// ---- out ----

/// Where the report happened, as the store knows it.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub facility_code: Option<String>,
    pub facility_name: Option<String>,
    pub province_code: Option<String>,
    pub province_name: Option<String>,
}

fn display_of(code: &str) -> &'static str {
    match code {
        "serious" => "Serious",
        "non-serious" => "Non-serious",
        "mild" => "Mild",
        "moderate" => "Moderate",
        "severe" => "Severe",
        "fatal" => "Fatal",
        _ => "",
    }
}

fn event_concept(codes: &[IncidentCode]) -> Option<Value> {
    if codes.is_empty() {
        return None;
    }
    let ai = vigilo_core::codes::ai_codes();
    let codings: Vec<Value> = codes
        .iter()
        .map(|c| {
            if c.system == "ai" {
                let term = ai
                    .iter()
                    .find(|a| a.code == c.code)
                    .map(|a| a.term(Lang::En))
                    .unwrap_or_default();
                coding(AI_CODE_SYSTEM, &c.code, term)
            } else {
                json!({ "system": IMDRF_SYSTEM, "code": c.code })
            }
        })
        .collect();
    Some(json!({ "coding": codings }))
}

fn subject(i: &vigilo_store::Incident) -> (Value, Value) {
    let mut patient = json!({ "resourceType": "Patient", "id": "patient" });
    if let Some(sex) = i
        .patient_sex
        .as_deref()
        .and_then(|s| s.parse::<PatientSex>().ok())
    {
        patient["gender"] = json!(sex.code());
    }
    if let Some(band) = &i.patient_age_band {
        patient["extension"] = json!([extension(EXT_AGE_BAND, "Code", json!(band))]);
    }
    let reference = json!({ "reference": "#patient", "display": "patient not identified" });
    (patient, reference)
}

fn device(v: &IncidentView) -> Value {
    let i = &v.incident;
    let mut d = json!({ "resourceType": "Device", "id": "device" });
    match (&i.product_id, &v.product_name) {
        (Some(pid), name) => {
            d["definition"] = json!({ "identifier": identifier(PRODUCT_SYSTEM, pid) });
            if let Some(name) = name {
                d["definition"]["display"] = json!(name);
                d["deviceName"] = json!([{ "name": name, "type": "user-friendly-name" }]);
            }
        }
        (None, _) => {
            if let Some(text) = &i.product_text {
                d["deviceName"] = json!([{ "name": text, "type": "patient-reported-name" }]);
            }
        }
    }
    if let Some(version) = &v.version {
        d["version"] = json!([{ "value": version }]);
    }
    d
}

fn device_label(v: &IncidentView) -> String {
    let name = v
        .product_name
        .clone()
        .or_else(|| v.incident.product_text.clone())
        .unwrap_or_else(|| "product not identified".into());
    match &v.version {
        Some(ver) => format!("{name} {ver}"),
        None => name,
    }
}

fn location(place: &Place) -> Option<Value> {
    if let Some(code) = &place.facility_code {
        return Some(json!({
            "identifier": identifier(FACILITY_SYSTEM, code),
            "display": place.facility_name.clone().unwrap_or_else(|| code.clone()),
        }));
    }
    place.province_code.as_ref().map(|code| {
        json!({
            "identifier": identifier(PROVINCE_SYSTEM, code),
            "display": place.province_name.clone().unwrap_or_else(|| code.clone()),
        })
    })
}

fn recorder(kind: &str) -> Option<Value> {
    let (ty, display) = match kind.parse::<ReporterKind>().ok()? {
        ReporterKind::HealthWorker => ("Practitioner", "health worker (not identified)"),
        ReporterKind::Patient => ("RelatedPerson", "patient or family (not identified)"),
        _ => return None,
    };
    Some(json!({ "type": ty, "display": display }))
}

/// A stored report as an R4 AdverseEvent. Pure: the caller fetches codes and place.
pub fn adverse_event(v: &IncidentView, codes: &[IncidentCode], place: &Place) -> Value {
    let i = &v.incident;
    let seriousness = i
        .seriousness
        .parse::<Seriousness>()
        .unwrap_or(Seriousness::Malfunction);
    let (actuality, serious, severity, outcome) = fhir_seriousness(seriousness);
    let (patient, subject_ref) = subject(i);
    let mut extensions = vec![extension(EXT_REPORTER_KIND, "Code", json!(i.reporter_kind))];
    if i.public_health_threat != 0 {
        extensions.push(extension(EXT_PUBLIC_HEALTH_THREAT, "Boolean", json!(true)));
    }
    let mut doc = json!({
        "resourceType": "AdverseEvent",
        "id": i.id,
        "text": {
            "status": "additional",
            "div": format!(
                "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>{}</p></div>",
                xhtml_escape(&i.narrative)
            ),
        },
        "contained": [patient, device(v)],
        "extension": extensions,
        "identifier": identifier(RECEIPT_SYSTEM, &i.receipt),
        "actuality": actuality,
        "category": [concept(CATEGORY_SYSTEM, "product-problem", "Product Problem")],
        "subject": subject_ref,
        "recordedDate": i.received_at,
        "seriousness": concept(SERIOUSNESS_SYSTEM, serious, display_of(serious)),
        "suspectEntity": [{ "instance": { "reference": "#device", "display": device_label(v) } }],
    });
    let mut set = |k: &str, val: Option<Value>| {
        if let Some(val) = val {
            doc[k] = val;
        }
    };
    set("event", event_concept(codes));
    set("date", i.occurred_on.clone().map(Value::String));
    set("detected", i.aware_on.clone().map(Value::String));
    set("location", location(place));
    set(
        "severity",
        severity.map(|s| concept(SEVERITY_SYSTEM, s, display_of(s))),
    );
    set(
        "outcome",
        outcome.map(|o| concept(OUTCOME_SYSTEM, o, display_of(o))),
    );
    set("recorder", recorder(&i.reporter_kind));
    doc
}

async fn place_of(state: &AppState, ctx: &Ctx, v: &IncidentView) -> AppResult<Place> {
    let store = &state.store;
    let mut place = Place {
        facility_name: v.facility_name.clone(),
        province_code: v.incident.province_code.clone(),
        ..Place::default()
    };
    if let Some(fid) = &v.incident.facility_id {
        place.facility_code = store
            .organisation(fid)
            .await
            .map_err(ctx.store_err())?
            .map(|o| o.code);
    }
    if let Some(code) = &place.province_code {
        place.province_name = store
            .admin_unit(code)
            .await
            .map_err(ctx.store_err())?
            .map(|u| u.name);
    }
    Ok(place)
}

async fn resource_of(state: &AppState, ctx: &Ctx, v: &IncidentView) -> AppResult<Value> {
    let codes = state
        .store
        .incident_codes(&v.incident.id)
        .await
        .map_err(ctx.store_err())?;
    let place = place_of(state, ctx, v).await?;
    Ok(adverse_event(v, &codes, &place))
}

fn fhir_response(status: StatusCode, doc: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, FHIR_JSON)], doc.to_string()).into_response()
}

/// One OperationOutcome issue.
pub struct Issue {
    pub code: &'static str,
    pub expression: Option<String>,
    pub diagnostics: String,
}

pub fn operation_outcome(issues: &[Issue]) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|i| {
            let mut v =
                json!({ "severity": "error", "code": i.code, "diagnostics": i.diagnostics });
            if let Some(e) = &i.expression {
                v["expression"] = json!([e]);
            }
            v
        })
        .collect();
    json!({ "resourceType": "OperationOutcome", "issue": issues })
}

/// An error of the table as an OperationOutcome, in the request's language.
pub(crate) fn outcome_error(lang: Lang, e: AppError) -> Response {
    let spec = e.code.spec();
    let code = match e.code {
        ErrorCode::NotFound => "not-found",
        ErrorCode::MalformedJson => "structure",
        ErrorCode::InvalidInput => "invalid",
        ErrorCode::PayloadTooLarge => "too-costly",
        ErrorCode::UnsupportedMediaType | ErrorCode::MethodNotAllowed => "not-supported",
        ErrorCode::Unauthenticated | ErrorCode::LoginFailed => "login",
        ErrorCode::Forbidden | ErrorCode::CsrfFailed => "forbidden",
        ErrorCode::Conflict => "conflict",
        ErrorCode::TooManyRequests => "throttled",
        ErrorCode::Unavailable | ErrorCode::Overloaded => "transient",
        ErrorCode::Internal => "exception",
        ErrorCode::FederationBadSignature
        | ErrorCode::FederationUnknownKey
        | ErrorCode::FederationStale
        | ErrorCode::FederationReplayed => "security",
    };
    let diagnostics = match e.detail {
        Some(d) => format!("{}: {d}", e.code.message(lang)),
        None => e.code.message(lang).to_string(),
    };
    let mut resp = fhir_response(
        spec.status,
        &operation_outcome(&[Issue {
            code,
            expression: None,
            diagnostics,
        }]),
    );
    if let Some(secs) = e.retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

fn or_outcome(lang: Lang, r: AppResult<Response>) -> Response {
    r.unwrap_or_else(|e| outcome_error(lang, e))
}

#[utoipa::path(get, path = "/fhir/r4/AdverseEvent/{id}", tag = "early-warning",
    params(("id" = String, Path, description = "Report id")),
    responses((status = 200, description = "HL7 FHIR R4 AdverseEvent (application/fhir+json)"),
              (status = 404, description = "OperationOutcome: no such report, or not yours")))]
pub async fn read(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> Response {
    let r = async {
        let v = incident_for(&state, &ctx, &id).await?;
        let doc = resource_of(&state, &ctx, &v).await?;
        Ok(fhir_response(StatusCode::OK, &doc))
    }
    .await;
    or_outcome(ctx.lang, r)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SearchQuery {
    /// Page size, 1 to 100 (default 20).
    #[serde(rename = "_count")]
    pub count: Option<u32>,
    /// From the `next` link of the previous page.
    pub cursor: Option<String>,
}

/// `scheme://host/fhir/r4`, for the absolute URLs a Bundle needs; relative without a Host.
fn base_url(ctx: &Ctx, headers: &HeaderMap) -> String {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!(
            "{}://{host}/fhir/r4",
            if ctx.secure { "https" } else { "http" }
        ),
        None => "/fhir/r4".into(),
    }
}

#[utoipa::path(get, path = "/fhir/r4/AdverseEvent", tag = "early-warning",
    params(SearchQuery),
    responses((status = 200, description = "HL7 FHIR R4 searchset Bundle of AdverseEvent, newest first, with a `next` link"),
              (status = 400, description = "OperationOutcome: bad cursor")))]
pub async fn search(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Response {
    let r = async {
        let count = q.count.unwrap_or(20).clamp(1, 100);
        let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => Some(
                c.split_once('~')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| {
                        AppError::invalid("cursor: use the next link of the previous page")
                    })?,
            ),
            None => None,
        };
        let filter = IncidentFilter {
            before: before.clone(),
            limit: count,
            ..IncidentFilter::default()
        };
        let rows = state.store.incidents(&filter).await.map_err(ctx.store_err())?;
        let base = base_url(&ctx, &headers);
        let mut self_url = format!("{base}/AdverseEvent?_count={count}");
        if let Some((at, id)) = &before {
            self_url.push_str(&format!("&cursor={}", urlencode(&format!("{at}~{id}"))));
        }
        let mut links = vec![json!({ "relation": "self", "url": self_url })];
        if rows.len() == count as usize {
            if let Some(last) = rows.last() {
                let cursor = format!("{}~{}", last.incident.received_at, last.incident.id);
                links.push(json!({
                    "relation": "next",
                    "url": format!("{base}/AdverseEvent?_count={count}&cursor={}", urlencode(&cursor)),
                }));
            }
        }
        let mut entries = Vec::with_capacity(rows.len());
        for v in &rows {
            entries.push(json!({
                "fullUrl": format!("{base}/AdverseEvent/{}", v.incident.id),
                "resource": resource_of(&state, &ctx, v).await?,
                "search": { "mode": "match" },
            }));
        }
        let mut bundle = json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "link": links,
        });
        // FHIR JSON has no empty arrays: an empty page has no `entry`.
        if !entries.is_empty() {
            bundle["entry"] = Value::Array(entries);
        }
        Ok(fhir_response(StatusCode::OK, &bundle))
    }
    .await;
    or_outcome(ctx.lang, r)
}

// ---- in ----

/// Maps an incoming AdverseEvent to the intake body (the mapping is
/// [`vigilo_core::fhir::adverse_event_in`]).
fn body_of(doc: &Value) -> (IncidentBody, Vec<FhirProblem>) {
    let (a, problems) = adverse_event_in(doc);
    let body = IncidentBody {
        reporter_kind: a.reporter_kind,
        product_id: a.product_id,
        version: a.version,
        product_text: a.product_text,
        facility_code: a.facility_code,
        province_code: a.province_code,
        occurred_on: a.occurred_on,
        aware_on: a.aware_on,
        seriousness: a.seriousness,
        public_health_threat: a.public_health_threat,
        narrative: a.narrative,
        patient_sex: a.patient_sex,
        patient_age_band: a.patient_age_band,
        client_key: a.client_key,
    };
    (body, problems)
}

/// The AdverseEvent element an intake field comes from.
fn expression_of(field: &str) -> &'static str {
    match field {
        "reporter_kind" => "AdverseEvent.recorder",
        "seriousness" => "AdverseEvent.seriousness",
        "narrative" => "AdverseEvent.text.div",
        "product" | "product_text" | "version" => "AdverseEvent.suspectEntity",
        "facility" | "province" => "AdverseEvent.location",
        "occurred_on" => "AdverseEvent.date",
        "aware_on" => "AdverseEvent.detected",
        "patient_sex" | "patient_age_band" => "AdverseEvent.subject",
        "client_key" => "AdverseEvent.identifier",
        _ => "AdverseEvent",
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| {
            matches!(
                m.as_str(),
                "application/fhir+json" | "application/json" | "application/json+fhir"
            )
        })
}

fn invalid_outcome(issues: Vec<Issue>) -> Response {
    fhir_response(StatusCode::BAD_REQUEST, &operation_outcome(&issues))
}

#[utoipa::path(post, path = "/fhir/r4/AdverseEvent", tag = "early-warning",
    request_body(content = String, description = "HL7 FHIR R4 AdverseEvent", content_type = "application/fhir+json"),
    responses((status = 201, description = "Filed: the stored AdverseEvent (de-identified narrative), with Location"),
              (status = 200, description = "Already filed under this identifier (urn:vigilo:client-key)"),
              (status = 400, description = "OperationOutcome naming every problem"),
              (status = 415, description = "OperationOutcome: send application/fhir+json"),
              (status = 429, description = "OperationOutcome: too many anonymous reports")))]
pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let lang = ctx.lang;
    let r = async {
        limit(&state, &ctx, peer)?;
        if !is_json(&headers) {
            return Err(AppError::new(ErrorCode::UnsupportedMediaType).detail(
                if lang == Lang::Vi {
                    "gửi application/fhir+json"
                } else {
                    "send application/fhir+json"
                },
            ));
        }
        let bytes = body.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::new(ErrorCode::PayloadTooLarge)
            } else {
                AppError::new(ErrorCode::MalformedJson).detail(rej.body_text())
            }
        })?;
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| AppError::new(ErrorCode::MalformedJson).detail(e.to_string()))?;
        let (body, problems) = body_of(&doc);
        let mut issues: Vec<Issue> = problems
            .iter()
            .map(|p| Issue {
                code: "invalid",
                expression: Some(p.expression.into()),
                diagnostics: format!(
                    "{}: {}",
                    p.expression,
                    if lang == Lang::Vi { p.vi } else { p.en }
                ),
            })
            .collect();
        if !is_adverse_event(&doc) {
            return Ok(invalid_outcome(issues));
        }
        let input = match to_input(&state, &ctx, &body).await? {
            Ok(input) if issues.is_empty() => input,
            Ok(_) => return Ok(invalid_outcome(issues)),
            Err(errors) => {
                issues.extend(errors.iter().map(|e: &FieldError| Issue {
                    code: "invalid",
                    expression: Some(expression_of(&e.field).into()),
                    diagnostics: format!("{}: {}", expression_of(&e.field), field_message(e, lang)),
                }));
                return Ok(invalid_outcome(issues));
            }
        };
        let s = file(
            &state,
            &ctx,
            &input,
            IncidentSource::Fhir,
            nonempty(&body.client_key).as_deref(),
        )
        .await?;
        let v = state
            .store
            .incident(&s.incident.id)
            .await
            .map_err(ctx.store_err())?
            .ok_or_else(|| AppError::new(ErrorCode::Internal))?;
        let doc = resource_of(&state, &ctx, &v).await?;
        let status = if s.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let mut resp = fhir_response(status, &doc);
        if let Ok(loc) = HeaderValue::from_str(&format!("/fhir/r4/AdverseEvent/{}", v.incident.id))
        {
            resp.headers_mut().insert(header::LOCATION, loc);
        }
        Ok(resp)
    }
    .await;
    or_outcome(lang, r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn operation_outcome_names_the_element() {
        let o = operation_outcome(&[Issue {
            code: "invalid",
            expression: Some("AdverseEvent.date".into()),
            diagnostics: "x".into(),
        }]);
        assert_eq!(o["issue"][0]["severity"], "error");
        assert_eq!(o["issue"][0]["expression"][0], "AdverseEvent.date");
    }
}
