//! The Navigator: a facility's or provincial health department's readiness self-assessment
//! (answer, save a draft, submit; levels per domain, gaps with their blueprints, history),
//! the training catalogue and sessions, the readiness map by province and facility type
//! (HTML and CSV), and the regulator's minimum readiness level for high-risk tools.
//!
//! Who may act on what: a facility's own account (reporter) acts for its facility only; the
//! regulator's staff act for their own organisation (a provincial health department's staff
//! account belongs to it) or for any organisation named with `org`. Other organisations'
//! assessments answer 404.

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult};
use crate::extract::{ApiJson, ApiQuery, PageForm};
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use time::Date;
use vigilo_core::appraisal::iso_date;
use vigilo_core::checklist::{AnswerSet, AnswerValue, Framework, ItemAnswer, Scale};
use vigilo_core::navigator::{
    builtin_blueprints, gaps_below, next_target, parse_audience, AssessmentStatus, Blueprint,
    Evaluated, FacilityType, NewCourse, NewSession, ReadinessRule, RoleCount, StaffRole,
    READINESS_FRAMEWORK,
};
use vigilo_core::{Lang, Role};
use vigilo_store::{ReadinessAssessment, SessionFilter, StoreError};

// ---------------------------------------------------------------------------------------------
// Access
// ---------------------------------------------------------------------------------------------

fn own_org(ctx: &Ctx) -> Option<&str> {
    ctx.user.as_ref()?.organisation_id.as_deref()
}

/// The organisation a request acts for: staff may name one with `org`; everyone else acts for
/// their own.
fn target_org(ctx: &Ctx, requested: Option<&str>) -> AppResult<String> {
    let requested = requested.map(str::trim).filter(|s| !s.is_empty());
    match (ctx.is_staff(), requested, own_org(ctx)) {
        (true, Some(r), _) => Ok(r.to_string()),
        (_, _, Some(o)) => Ok(o.to_string()),
        _ => Err(ctx.err(AppError::invalid(
            "name the facility or health department with ?org=ID (your account belongs to none)",
        ))),
    }
}

fn may_see(ctx: &Ctx, a: &ReadinessAssessment) -> bool {
    ctx.is_staff() || own_org(ctx) == Some(a.org_id.as_str())
}

/// A unit's own accounts answer for it, and the regulator's staff may act for any unit
/// (docs/navigator.md, "Assessments").
fn may_answer(ctx: &Ctx, a: &ReadinessAssessment) -> bool {
    own_org(ctx) == Some(a.org_id.as_str()) || ctx.is_staff()
}

async fn load(state: &AppState, ctx: &Ctx, id: &str) -> AppResult<ReadinessAssessment> {
    let a = state
        .store
        .assessment(id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    if !may_see(ctx, &a) {
        return Err(ctx.err(AppError::not_found()));
    }
    Ok(a)
}

fn framework<'a>(state: &'a AppState, a: &ReadinessAssessment) -> Option<&'a Framework> {
    state
        .checklists
        .get(&a.framework_id, u32::try_from(a.framework_version).ok()?)
}

fn blueprints() -> Vec<Blueprint> {
    builtin_blueprints().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Wire types
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DomainOut {
    pub domain: String,
    pub title: String,
    /// The lowest level among the domain's items (unanswered counts as 0).
    pub level: u8,
    pub mean: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GapOut {
    pub item: String,
    pub domain: String,
    /// Absent when the item is unanswered.
    pub level: Option<u8>,
    pub target: u8,
    pub blueprint: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnswerWire {
    pub item_id: String,
    /// A level on the framework's scale (0 to 4 for navigator-readiness); absent leaves the
    /// item open in a draft.
    #[serde(default)]
    pub level: Option<i64>,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssessmentOut {
    pub id: String,
    pub org_id: String,
    /// facility or province
    pub subject_kind: String,
    pub province_code: String,
    pub facility_type: String,
    pub framework_id: String,
    pub framework_version: i64,
    /// draft or submitted
    pub status: String,
    /// Send it back when saving: a save over a newer revision answers 409.
    pub revision: i64,
    pub overall_level: i64,
    pub overall_mean: f64,
    pub answered: i64,
    pub unanswered: i64,
    pub domains: Vec<DomainOut>,
    /// Items below the next level up, lowest first, with the blueprint that helps.
    pub gaps: Vec<GapOut>,
    pub answers: Vec<AnswerWire>,
    pub created_at: String,
    pub updated_at: String,
    pub submitted_at: Option<String>,
}

fn assessment_out(
    state: &AppState,
    ctx: &Ctx,
    a: &ReadinessAssessment,
) -> AppResult<AssessmentOut> {
    let e = a.evaluate(&state.checklists).map_err(ctx.store_err())?;
    let f = framework(state, a);
    let title = |id: &str| {
        f.and_then(|f| f.section(id))
            .map(|s| s.title.get(ctx.lang).to_string())
            .unwrap_or_default()
    };
    let target = next_target(&e.score);
    Ok(AssessmentOut {
        id: a.id.clone(),
        org_id: a.org_id.clone(),
        subject_kind: a.subject_kind.clone(),
        province_code: a.province_code.clone(),
        facility_type: a.facility_type.clone(),
        framework_id: a.framework_id.clone(),
        framework_version: a.framework_version,
        status: a.status.clone(),
        revision: a.revision,
        overall_level: a.overall_level,
        overall_mean: a.overall_mean,
        answered: a.answered,
        unanswered: a.unanswered,
        domains: e
            .score
            .domains
            .iter()
            .map(|d| DomainOut {
                title: title(&d.section),
                domain: d.section.clone(),
                level: d.level,
                mean: d.mean,
            })
            .collect(),
        gaps: gaps_below(&e.score, target)
            .into_iter()
            .map(|g| GapOut {
                item: g.item.clone(),
                domain: g.section.clone(),
                level: g.level,
                target,
                blueprint: g.blueprint.clone(),
            })
            .collect(),
        answers: e
            .answers
            .answers
            .iter()
            .map(|x| AnswerWire {
                item_id: x.item_id.clone(),
                level: match &x.value {
                    Some(AnswerValue::Level(l)) => Some(*l),
                    Some(AnswerValue::Code(c)) => c.parse().ok(),
                    None => None,
                },
                comment: x.comment.clone(),
            })
            .collect(),
        created_at: a.created_at.clone(),
        updated_at: a.updated_at.clone(),
        submitted_at: a.submitted_at.clone(),
    })
}

fn to_answer_set(a: &ReadinessAssessment, answers: &[AnswerWire]) -> AnswerSet {
    AnswerSet {
        framework_id: a.framework_id.clone(),
        framework_version: u32::try_from(a.framework_version).unwrap_or(0),
        answers: answers
            .iter()
            .map(|x| ItemAnswer {
                item_id: x.item_id.clone(),
                value: x.level.map(AnswerValue::Level),
                comment: x.comment.clone(),
                evidence: vec![],
            })
            .collect(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct OrgQuery {
    /// Staff only: the facility or health department (organisation id).
    pub org: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/navigator/assessments", tag = "navigator",
    params(OrgQuery),
    responses((status = 200, body = [AssessmentOut], description = "The organisation's self-assessments, newest first (its history)")))]
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> AppResult<Json<Vec<AssessmentOut>>> {
    let org = target_org(&ctx, q.org.as_deref())?;
    let list = state
        .store
        .assessments_of(&org)
        .await
        .map_err(ctx.store_err())?;
    Ok(Json(
        list.iter()
            .map(|a| assessment_out(&state, &ctx, a))
            .collect::<AppResult<_>>()?,
    ))
}

#[utoipa::path(post, path = "/api/v1/navigator/assessments", tag = "navigator",
    params(OrgQuery),
    responses((status = 200, body = AssessmentOut, description = "The open draft, or a new one on the latest framework version started from the last submitted answers"),
        (status = 400, body = crate::error::Problem)))]
pub async fn api_open(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> AppResult<Json<AssessmentOut>> {
    let org = target_org(&ctx, q.org.as_deref())?;
    let a = state
        .store
        .open_assessment(&ctx.actor(), &org, &state.checklists)
        .await
        .map_err(ctx.store_err())?;
    Ok(Json(assessment_out(&state, &ctx, &a)?))
}

#[utoipa::path(get, path = "/api/v1/navigator/assessments/{id}", tag = "navigator",
    params(("id" = String, Path, description = "Assessment id")),
    responses((status = 200, body = AssessmentOut), (status = 404, body = crate::error::Problem)))]
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Json<AssessmentOut>> {
    let a = load(&state, &ctx, &id).await?;
    Ok(Json(assessment_out(&state, &ctx, &a)?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveBody {
    /// The revision the answers were based on.
    pub revision: i64,
    pub answers: Vec<AnswerWire>,
    /// Submit after saving (every item must then be answered).
    #[serde(default)]
    pub submit: bool,
}

#[utoipa::path(put, path = "/api/v1/navigator/assessments/{id}/answers", tag = "navigator",
    params(("id" = String, Path, description = "Assessment id")),
    request_body = SaveBody,
    responses((status = 200, body = AssessmentOut),
        (status = 400, body = crate::error::Problem, description = "Unknown items, levels out of range, open items on submit, a submitted assessment"),
        (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem, description = "A newer revision was saved meanwhile")))]
pub async fn api_save(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<SaveBody>,
) -> AppResult<Json<AssessmentOut>> {
    let a = load(&state, &ctx, &id).await?;
    if !may_answer(&ctx, &a) {
        return Err(ctx.err(AppError::not_found()));
    }
    let store = &state.store;
    let mut saved = store
        .save_assessment(
            &ctx.actor(),
            &id,
            b.revision,
            &to_answer_set(&a, &b.answers),
            &state.checklists,
        )
        .await
        .map_err(ctx.store_err())?;
    if b.submit {
        saved = store
            .submit_assessment(&ctx.actor(), &id, saved.revision, &state.checklists)
            .await
            .map_err(ctx.store_err())?;
    }
    Ok(Json(assessment_out(&state, &ctx, &saved)?))
}

// ---------------------------------------------------------------------------------------------
// Pages: the Navigator's front page and the self-assessment
// ---------------------------------------------------------------------------------------------

pub struct DomainRow {
    pub title: String,
    pub blueprint: String,
}

pub struct BlueprintRow {
    pub id: String,
    pub title: String,
    pub covers: String,
}

pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "navigator.html")]
struct HomePage {
    l: Layout,
    framework_title: String,
    framework_version: u32,
    description: String,
    levels: Vec<(u8, String, String)>,
    domains: Vec<DomainRow>,
    blueprints: Vec<BlueprintRow>,
    /// The user's organisation's latest state, when it has one.
    own: Option<String>,
    own_level: Option<i64>,
    draft: Option<String>,
    facility_types: Vec<Opt>,
    is_facility: bool,
    min_level: u8,
}

fn blueprint_title(bps: &[Blueprint], id: &str, lang: Lang) -> String {
    bps.iter()
        .find(|b| b.id == id)
        .map(|b| b.title.get(lang).to_string())
        .unwrap_or_else(|| id.to_string())
}

pub async fn home_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let l = Layout::new(&state, &ctx);
    let lang = ctx.lang;
    let f = state
        .checklists
        .latest(READINESS_FRAMEWORK)
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let bps = blueprints();
    let store = &state.store;
    let (mut own, mut own_level, mut draft, mut is_facility, mut ftype) =
        (None, None, None, false, FacilityType::Unspecified);
    if let Some(org) = own_org(&ctx) {
        if let Some(o) = store.organisation(org).await.map_err(ctx.store_err())? {
            is_facility = o.kind == "facility";
            if is_facility {
                ftype = store.facility_type(org).await.map_err(ctx.store_err())?;
            }
            if is_facility || o.kind == "regulator" {
                own = Some(o.name);
            }
        }
        if let Some(a) = store.latest_submitted(org).await.map_err(ctx.store_err())? {
            own_level = Some(a.overall_level);
        }
        draft = store
            .draft_assessment(org)
            .await
            .map_err(ctx.store_err())?
            .map(|a| a.id);
    }
    let levels = match f.scale() {
        Scale::Maturity { levels } => levels
            .iter()
            .map(|s| {
                (
                    s.level,
                    s.label.get(lang).to_string(),
                    s.description.get(lang).to_string(),
                )
            })
            .collect(),
        Scale::Compliance => vec![],
    };
    let page = HomePage {
        framework_title: f.title().get(lang).into(),
        framework_version: f.version(),
        description: f.description().get(lang).into(),
        levels,
        domains: f
            .sections()
            .iter()
            .map(|s| DomainRow {
                title: s.title.get(lang).into(),
                blueprint: s.blueprint.clone().unwrap_or_default(),
            })
            .collect(),
        blueprints: bps
            .iter()
            .map(|b| BlueprintRow {
                id: b.id.clone(),
                title: b.title.get(lang).into(),
                covers: b.covers.get(lang).into(),
            })
            .collect(),
        own,
        own_level,
        draft,
        facility_types: FacilityType::ALL
            .iter()
            .filter(|t| **t != FacilityType::ProvincialDepartment)
            .map(|t| Opt {
                value: t.code().into(),
                label: t.label(lang).into(),
                selected: *t == ftype,
            })
            .collect(),
        is_facility,
        min_level: store
            .readiness_rule()
            .await
            .map_err(ctx.store_err())?
            .min_level_high_risk,
        l,
    };
    render(&page, &ctx, StatusCode::OK)
}

#[derive(Debug, Default, Deserialize)]
pub struct OrgForm {
    #[serde(default)]
    pub org: String,
    #[serde(default)]
    pub facility_type: String,
}

/// Opens (or continues) the organisation's draft and shows it.
pub async fn open_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(f): PageForm<OrgForm>,
) -> AppResult<Response> {
    let org = target_org(&ctx, Some(&f.org))?;
    let a = state
        .store
        .open_assessment(&ctx.actor(), &org, &state.checklists)
        .await
        .map_err(ctx.store_err())?;
    Ok(Redirect::to(&format!("/navigator/assessments/{}", a.id)).into_response())
}

pub async fn facility_type_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(f): PageForm<OrgForm>,
) -> AppResult<Response> {
    let org = target_org(&ctx, Some(&f.org))?;
    let t: FacilityType =
        f.facility_type
            .parse()
            .map_err(|e: vigilo_core::navigator::NavigatorError| {
                ctx.err(AppError::invalid(e.to_string()))
            })?;
    state
        .store
        .set_facility_type(&ctx.actor(), &org, t)
        .await
        .map_err(ctx.store_err())?;
    Ok(Redirect::to("/navigator").into_response())
}

pub struct ItemRow {
    pub id: String,
    pub title: String,
    pub question: String,
    pub guidance: String,
    pub evidence: Vec<String>,
    pub levels: Vec<Opt>,
    pub comment: String,
}

pub struct DomainBlock {
    pub id: String,
    pub title: String,
    pub level: u8,
    pub level_label: String,
    pub mean: String,
    pub items: Vec<ItemRow>,
}

pub struct GapRow {
    pub item: String,
    pub domain: String,
    pub level: String,
    pub blueprint_id: String,
    pub blueprint: String,
}

pub struct HistoryRow {
    pub id: String,
    pub date: String,
    pub status: String,
    pub level: i64,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "navigator_assessment.html")]
struct AssessmentPage {
    l: Layout,
    a: ReadinessAssessment,
    org_name: String,
    framework_title: String,
    status_label: String,
    overall_label: String,
    editable: bool,
    domains: Vec<DomainBlock>,
    gaps: Vec<GapRow>,
    target: u8,
    history: Vec<HistoryRow>,
    errors: Vec<String>,
    notice: String,
}

/// What a form posted, so a refused save shows the user's own answers again.
type Posted = HashMap<String, (String, String)>;

#[allow(clippy::too_many_arguments)]
async fn assessment_view(
    state: &AppState,
    ctx: &Ctx,
    a: ReadinessAssessment,
    posted: Option<&Posted>,
    errors: Vec<String>,
    notice: String,
    status: StatusCode,
) -> AppResult<Response> {
    let lang = ctx.lang;
    let f = framework(state, &a).ok_or_else(|| {
        ctx.err(AppError::invalid(format!(
            "{} version {} is not in this build",
            a.framework_id, a.framework_version
        )))
    })?;
    let e: Evaluated = a.evaluate(&state.checklists).map_err(ctx.store_err())?;
    let stored: HashMap<&str, (&Option<AnswerValue>, &str)> = e
        .answers
        .answers
        .iter()
        .map(|x| (x.item_id.as_str(), (&x.value, x.comment.as_str())))
        .collect();
    let scale: Vec<(u8, String)> = match f.scale() {
        Scale::Maturity { levels } => levels
            .iter()
            .map(|s| (s.level, s.label.get(lang).to_string()))
            .collect(),
        Scale::Compliance => vec![],
    };
    let label_of = |level: u8| {
        scale
            .iter()
            .find(|(l, _)| *l == level)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    };
    let domains = f
        .sections()
        .iter()
        .map(|s| {
            let d = e.score.domains.iter().find(|d| d.section == s.id);
            let level = d.map_or(0, |d| d.level);
            DomainBlock {
                id: s.id.clone(),
                title: s.title.get(lang).into(),
                level,
                level_label: label_of(level),
                mean: format!("{:.1}", d.map_or(0.0, |d| d.mean)),
                items: f
                    .items_in(&s.id)
                    .map(|i| {
                        let (value, comment) = match posted.and_then(|p| p.get(&i.id)) {
                            Some((v, c)) => (v.clone(), c.clone()),
                            None => match stored.get(i.id.as_str()) {
                                Some((v, c)) => (
                                    match v {
                                        Some(AnswerValue::Level(l)) => l.to_string(),
                                        Some(AnswerValue::Code(c)) => c.clone(),
                                        None => String::new(),
                                    },
                                    c.to_string(),
                                ),
                                None => (String::new(), String::new()),
                            },
                        };
                        let mut levels = vec![Opt {
                            value: String::new(),
                            label: "—".into(),
                            selected: value.is_empty(),
                        }];
                        for (k, (l, label)) in scale.iter().enumerate() {
                            let desc = i
                                .level_descriptions
                                .get(k)
                                .map(|t| format!(": {}", t.get(lang)))
                                .unwrap_or_default();
                            levels.push(Opt {
                                value: l.to_string(),
                                label: format!("{l}. {label}{desc}"),
                                selected: value == l.to_string(),
                            });
                        }
                        ItemRow {
                            id: i.id.clone(),
                            title: i.title.get(lang).into(),
                            question: i.question.get(lang).into(),
                            guidance: i.guidance.get(lang).into(),
                            evidence: i.evidence.iter().map(|t| t.get(lang).into()).collect(),
                            levels,
                            comment,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    let target = next_target(&e.score);
    let bps = blueprints();
    let gaps = gaps_below(&e.score, target)
        .into_iter()
        .map(|g| GapRow {
            item: f
                .item(&g.item)
                .map(|i| i.title.get(lang).to_string())
                .unwrap_or_else(|| g.item.clone()),
            domain: f
                .section(&g.section)
                .map(|s| s.title.get(lang).to_string())
                .unwrap_or_default(),
            level: g.level.map_or("—".into(), |l| l.to_string()),
            blueprint: g
                .blueprint
                .as_deref()
                .map(|b| blueprint_title(&bps, b, lang))
                .unwrap_or_default(),
            blueprint_id: g.blueprint.clone().unwrap_or_default(),
        })
        .collect();
    let store = &state.store;
    let history = store
        .assessments_of(&a.org_id)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|h| HistoryRow {
            current: h.id == a.id,
            date: h
                .submitted_at
                .as_deref()
                .unwrap_or(&h.updated_at)
                .get(..10)
                .unwrap_or("")
                .into(),
            status: h.status().label(lang).into(),
            level: h.overall_level,
            id: h.id,
        })
        .collect();
    let org_name = store
        .organisation(&a.org_id)
        .await
        .map_err(ctx.store_err())?
        .map(|o| o.name)
        .unwrap_or_default();
    let page = AssessmentPage {
        l: Layout::new(state, ctx),
        org_name,
        framework_title: format!("{} (v{})", f.title().get(lang), f.version()),
        status_label: a.status().label(lang).into(),
        overall_label: label_of(e.score.overall),
        editable: a.status() == AssessmentStatus::Draft && may_answer(ctx, &a),
        domains,
        gaps,
        target,
        history,
        errors,
        notice,
        a,
    };
    render(&page, ctx, status)
}

pub async fn assessment_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let a = load(&state, &ctx, &id).await?;
    assessment_view(&state, &ctx, a, None, vec![], String::new(), StatusCode::OK).await
}

/// The form: `revision`, `action` (save or submit), `level-<item>` and `comment-<item>`.
pub async fn assessment_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(fields): PageForm<Vec<(String, String)>>,
) -> AppResult<Response> {
    let a = load(&state, &ctx, &id).await?;
    if !may_answer(&ctx, &a) {
        return Err(ctx.err(AppError::not_found()));
    }
    let mut revision = 0i64;
    let mut submit = false;
    let mut posted: Posted = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for (k, v) in &fields {
        if k == "revision" {
            revision = v.trim().parse().unwrap_or(0);
        } else if k == "action" {
            submit = v == "submit";
        } else if let Some(item) = k.strip_prefix("level-") {
            if !posted.contains_key(item) {
                order.push(item.to_string());
            }
            posted.entry(item.to_string()).or_default().0 = v.trim().to_string();
        } else if let Some(item) = k.strip_prefix("comment-") {
            if !posted.contains_key(item) {
                order.push(item.to_string());
            }
            posted.entry(item.to_string()).or_default().1 = v.clone();
        }
    }
    let set = AnswerSet {
        framework_id: a.framework_id.clone(),
        framework_version: u32::try_from(a.framework_version).unwrap_or(0),
        answers: order
            .iter()
            .filter_map(|item| {
                let (v, c) = posted.get(item)?;
                // An item neither levelled nor commented is simply open.
                if v.is_empty() && c.trim().is_empty() {
                    return None;
                }
                Some(ItemAnswer {
                    item_id: item.clone(),
                    value: (!v.is_empty()).then(|| AnswerValue::Code(v.clone())),
                    comment: c.clone(),
                    evidence: vec![],
                })
            })
            .collect(),
    };
    let store = &state.store;
    let actor = ctx.actor();
    let saved = match store
        .save_assessment(&actor, &id, revision, &set, &state.checklists)
        .await
    {
        Ok(s) => s,
        Err(e @ (StoreError::Invalid { .. } | StoreError::Conflict { .. })) => {
            let status = if matches!(e, StoreError::Conflict { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let l = Layout::new(&state, &ctx);
            let msg = if status == StatusCode::CONFLICT {
                l.tr.t("ngt-conflict")
            } else {
                l.tr.t("ngt-not-saved")
            };
            // Show the user's answers as posted, never the stored ones: nothing typed is lost.
            return assessment_view(
                &state,
                &ctx,
                a,
                Some(&posted),
                vec![msg, e.to_string()],
                String::new(),
                status,
            )
            .await;
        }
        Err(e) => return Err(ctx.store_err()(e)),
    };
    if submit {
        match store
            .submit_assessment(&actor, &id, saved.revision, &state.checklists)
            .await
        {
            Ok(_) => {}
            Err(e @ StoreError::Invalid { .. }) => {
                return assessment_view(
                    &state,
                    &ctx,
                    saved,
                    None,
                    vec![e.to_string()],
                    String::new(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
            Err(e) => return Err(ctx.store_err()(e)),
        }
    }
    Ok(Redirect::to(&format!("/navigator/assessments/{id}")).into_response())
}

// ---------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CourseOut {
    pub id: String,
    pub title: String,
    /// Role codes.
    pub audience: Vec<String>,
    /// 0 when not stated (courses created from a bare training record).
    pub hours: f64,
    pub provider: String,
    /// The AI tool the course trains on, when tool-specific.
    pub product_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CourseBody {
    pub title: String,
    /// Role codes: doctor, nurse, midwife, technician, pharmacist, commune_health_worker,
    /// manager, it_staff, other, unspecified.
    pub audience: Vec<String>,
    pub hours: f64,
    pub provider: String,
    #[serde(default)]
    pub product_id: Option<String>,
}

fn course_out(c: vigilo_store::TrainingCourse) -> CourseOut {
    CourseOut {
        audience: parse_audience(&c.audience)
            .iter()
            .map(|r| r.code().to_string())
            .collect(),
        id: c.id,
        title: c.title,
        hours: c.hours,
        provider: c.provider,
        product_id: c.product_id,
    }
}

fn parse_roles(ctx: &Ctx, codes: &[String]) -> AppResult<Vec<StaffRole>> {
    codes
        .iter()
        .map(|c| {
            c.parse::<StaffRole>()
                .map_err(|e| ctx.err(AppError::invalid(e.to_string())))
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/navigator/courses", tag = "navigator",
    responses((status = 200, body = [CourseOut], description = "The training catalogue")))]
pub async fn api_courses(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Json<Vec<CourseOut>>> {
    Ok(Json(
        state
            .store
            .courses()
            .await
            .map_err(ctx.store_err())?
            .into_iter()
            .map(course_out)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/navigator/courses", tag = "navigator",
    request_body = CourseBody,
    responses((status = 201, body = CourseOut), (status = 400, body = crate::error::Problem)))]
pub async fn api_create_course(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiJson(b): ApiJson<CourseBody>,
) -> AppResult<Response> {
    let c = NewCourse {
        title: b.title,
        audience: parse_roles(&ctx, &b.audience)?,
        hours: b.hours,
        provider: b.provider,
        product_id: b.product_id,
    };
    let row = state
        .store
        .create_course(&ctx.actor(), &c)
        .await
        .map_err(ctx.store_err())?;
    Ok((StatusCode::CREATED, Json(course_out(row))).into_response())
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleCountWire {
    pub role: String,
    pub count: u32,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    pub course_id: String,
    /// The facility (a facility's own account may leave it out).
    #[serde(default)]
    pub facility_id: Option<String>,
    /// For a province-wide session (staff only), the province code.
    #[serde(default)]
    pub province_code: Option<String>,
    /// ISO date.
    pub held_on: String,
    pub trained: Vec<RoleCountWire>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionOut {
    pub id: String,
    pub course_id: String,
    pub course_title: String,
    pub facility_id: Option<String>,
    pub province_code: String,
    pub held_on: String,
    pub total_trained: i64,
    pub trained: Vec<RoleCountWire>,
    /// Set when the session counts as training on the course's tool at the facility (what a
    /// deployment needs).
    pub training_record_id: Option<String>,
}

/// Facilities record their own sessions only; staff record any, or province-wide ones.
fn session_scope(
    ctx: &Ctx,
    facility: Option<String>,
    province: Option<String>,
) -> AppResult<(Option<String>, Option<String>)> {
    if ctx.is_staff() {
        return Ok((facility.filter(|f| !f.is_empty()), province));
    }
    let own = own_org(ctx).map(str::to_string);
    match facility.filter(|f| !f.is_empty()) {
        Some(f) if Some(&f) != own.as_ref() => Err(ctx.err(AppError::invalid(
            "a facility records training sessions only for itself",
        ))),
        _ => Ok((own, None)),
    }
}

async fn record_session(
    state: &AppState,
    ctx: &Ctx,
    b: SessionBody,
) -> AppResult<vigilo_store::RecordedSession> {
    let (facility_id, province_code) = session_scope(ctx, b.facility_id, b.province_code)?;
    let held_on: Date = iso_date::parse(b.held_on.trim())
        .map_err(|_| ctx.err(AppError::invalid("held_on: give the date as YYYY-MM-DD")))?;
    let mut trained = Vec::new();
    for t in &b.trained {
        trained.push(RoleCount {
            role: t
                .role
                .parse()
                .map_err(|e: vigilo_core::navigator::NavigatorError| {
                    ctx.err(AppError::invalid(e.to_string()))
                })?,
            count: t.count,
        });
    }
    state
        .store
        .record_session(
            &ctx.actor(),
            &NewSession {
                course_id: b.course_id,
                facility_id,
                province_code,
                held_on,
                trained,
            },
        )
        .await
        .map_err(ctx.store_err())
}

#[utoipa::path(post, path = "/api/v1/navigator/sessions", tag = "navigator",
    request_body = SessionBody,
    responses((status = 201, body = SessionOut), (status = 400, body = crate::error::Problem)))]
pub async fn api_record_session(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiJson(b): ApiJson<SessionBody>,
) -> AppResult<Response> {
    let r = record_session(&state, &ctx, b).await?;
    let out = SessionOut {
        id: r.session.id,
        course_id: r.session.course_id,
        course_title: r.session.course_title,
        facility_id: r.session.facility_id,
        province_code: r.session.province_code,
        held_on: r.session.held_on,
        total_trained: r.session.total_trained,
        trained: r
            .counts
            .into_iter()
            .map(|(role, n)| RoleCountWire {
                role,
                count: u32::try_from(n).unwrap_or(0),
            })
            .collect(),
        training_record_id: r.training_record_id,
    };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SessionQuery {
    /// Staff only: one facility's sessions.
    pub facility: Option<String>,
    /// Staff only: one province's sessions.
    pub province: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/navigator/sessions", tag = "navigator",
    params(SessionQuery),
    responses((status = 200, body = [SessionOut], description = "Sessions, newest first (a facility's own account sees its own)")))]
pub async fn api_sessions(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> AppResult<Json<Vec<SessionOut>>> {
    let filter = sessions_filter(&ctx, q.facility, q.province);
    let store = &state.store;
    let mut out = Vec::new();
    for s in store
        .training_sessions(&filter)
        .await
        .map_err(ctx.store_err())?
    {
        let counts = store.session_counts(&s.id).await.map_err(ctx.store_err())?;
        out.push(SessionOut {
            trained: counts
                .into_iter()
                .map(|(role, n)| RoleCountWire {
                    role,
                    count: u32::try_from(n).unwrap_or(0),
                })
                .collect(),
            training_record_id: None,
            id: s.id,
            course_id: s.course_id,
            course_title: s.course_title,
            facility_id: s.facility_id,
            province_code: s.province_code,
            held_on: s.held_on,
            total_trained: s.total_trained,
        });
    }
    Ok(Json(out))
}

fn sessions_filter(ctx: &Ctx, facility: Option<String>, province: Option<String>) -> SessionFilter {
    if ctx.is_staff() {
        SessionFilter {
            facility_id: facility.filter(|f| !f.is_empty()),
            province_code: province.filter(|p| !p.is_empty()),
            limit: 200,
        }
    } else {
        SessionFilter {
            // A facility's account without an organisation sees nothing.
            facility_id: Some(own_org(ctx).unwrap_or("-").to_string()),
            province_code: None,
            limit: 200,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolStatusOut {
    pub product_id: String,
    pub product_name: String,
    pub sessions: i64,
    pub staff_trained: i64,
    pub first_trained_on: String,
    pub last_trained_on: String,
}

#[utoipa::path(get, path = "/api/v1/navigator/training-status", tag = "navigator",
    params(OrgQuery),
    responses((status = 200, body = [ToolStatusOut], description = "The facility's training per AI tool: what the deployment check reads")))]
pub async fn api_training_status(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<OrgQuery>,
) -> AppResult<Json<Vec<ToolStatusOut>>> {
    let org = target_org(&ctx, q.org.as_deref())?;
    Ok(Json(
        state
            .store
            .facility_training_status(&org)
            .await
            .map_err(ctx.store_err())?
            .into_iter()
            .map(|t| ToolStatusOut {
                product_id: t.product_id,
                product_name: t.product_name,
                sessions: t.sessions,
                staff_trained: t.staff_trained,
                first_trained_on: t.first_trained_on,
                last_trained_on: t.last_trained_on,
            })
            .collect(),
    ))
}

pub struct CourseRow {
    pub id: String,
    pub title: String,
    pub audience: String,
    pub hours: String,
    pub provider: String,
    pub tool: String,
}

pub struct SessionRow {
    pub date: String,
    pub course: String,
    pub place: String,
    pub total: i64,
}

pub struct StatusRow {
    pub tool: String,
    pub sessions: i64,
    pub trained: i64,
    pub last: String,
}

#[derive(Template)]
#[template(path = "navigator_training.html")]
struct TrainingPage {
    l: Layout,
    courses: Vec<CourseRow>,
    sessions: Vec<SessionRow>,
    status: Vec<StatusRow>,
    roles: Vec<Opt>,
    tools: Vec<Opt>,
    is_staff: bool,
    errors: Vec<String>,
    today: String,
}

async fn training_view(
    state: &AppState,
    ctx: &Ctx,
    errors: Vec<String>,
    status_code: StatusCode,
) -> AppResult<Response> {
    let lang = ctx.lang;
    let store = &state.store;
    let tools: HashMap<String, String> = store
        .incident_product_choices()
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let courses = store
        .courses()
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|c| CourseRow {
            audience: parse_audience(&c.audience)
                .iter()
                .map(|r| r.label(lang))
                .collect::<Vec<_>>()
                .join(", "),
            hours: if c.hours > 0.0 {
                format!("{}", c.hours)
            } else {
                "—".into()
            },
            provider: if c.provider.is_empty() {
                "—".into()
            } else {
                c.provider
            },
            tool: c
                .product_id
                .as_ref()
                .and_then(|p| tools.get(p).cloned())
                .unwrap_or_default(),
            id: c.id,
            title: c.title,
        })
        .collect();
    let sessions = store
        .training_sessions(&sessions_filter(ctx, None, None))
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|s| SessionRow {
            date: s.held_on,
            course: s.course_title,
            place: s.facility_name.unwrap_or(s.province_code),
            total: s.total_trained,
        })
        .collect();
    let status = match own_org(ctx) {
        Some(o) if ctx.role() == Role::Reporter => store
            .facility_training_status(o)
            .await
            .map_err(ctx.store_err())?
            .into_iter()
            .map(|t| StatusRow {
                tool: t.product_name,
                sessions: t.sessions,
                trained: t.staff_trained,
                last: t.last_trained_on,
            })
            .collect(),
        _ => vec![],
    };
    let mut tool_opts = vec![Opt {
        value: String::new(),
        label: "—".into(),
        selected: true,
    }];
    let mut sorted: Vec<_> = tools.into_iter().collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    tool_opts.extend(sorted.into_iter().map(|(id, name)| Opt {
        value: id,
        label: name,
        selected: false,
    }));
    let page = TrainingPage {
        l: Layout::new(state, ctx),
        courses,
        sessions,
        status,
        roles: StaffRole::ALL
            .iter()
            .map(|r| Opt {
                value: r.code().into(),
                label: r.label(lang).into(),
                selected: false,
            })
            .collect(),
        tools: tool_opts,
        is_staff: ctx.is_staff(),
        errors,
        today: iso_date::format(state.store.now().date()),
    };
    render(&page, ctx, status_code)
}

pub async fn training_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    training_view(&state, &ctx, vec![], StatusCode::OK).await
}

pub async fn course_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(fields): PageForm<Vec<(String, String)>>,
) -> AppResult<Response> {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let audience: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k == "audience")
        .map(|(_, v)| v.clone())
        .collect();
    let hours = get("hours").trim().replace(',', ".").parse::<f64>();
    let result = match (parse_roles(&ctx, &audience), hours) {
        (Ok(audience), Ok(hours)) => state
            .store
            .create_course(
                &ctx.actor(),
                &NewCourse {
                    title: get("title"),
                    audience,
                    hours,
                    provider: get("provider"),
                    product_id: Some(get("product_id")),
                },
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        (Err(e), _) => Err(e.detail.unwrap_or_default()),
        (_, Err(_)) => Err("hours: give a number".into()),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/navigator/training").into_response()),
        Err(e) => training_view(&state, &ctx, vec![e], StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}

pub async fn session_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(fields): PageForm<Vec<(String, String)>>,
) -> AppResult<Response> {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let mut trained = Vec::new();
    for (k, v) in &fields {
        if let Some(role) = k.strip_prefix("count-") {
            let v = v.trim();
            if v.is_empty() || v == "0" {
                continue;
            }
            match v.parse::<u32>() {
                Ok(n) => trained.push(RoleCountWire {
                    role: role.to_string(),
                    count: n,
                }),
                Err(_) => {
                    return training_view(
                        &state,
                        &ctx,
                        vec![format!("{role}: give a whole number")],
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await
                }
            }
        }
    }
    let facility = match get("facility_code") {
        c if c.is_empty() => None,
        c => match state
            .store
            .organisation_by_code(&c)
            .await
            .map_err(ctx.store_err())?
        {
            Some(o) => Some(o.id),
            None => {
                return training_view(
                    &state,
                    &ctx,
                    vec![format!("no facility has the code {c}")],
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
        },
    };
    let body = SessionBody {
        course_id: get("course_id"),
        facility_id: facility,
        province_code: Some(get("province_code")).filter(|p| !p.is_empty()),
        held_on: get("held_on"),
        trained,
    };
    match record_session(&state, &ctx, body).await {
        Ok(_) => Ok(Redirect::to("/navigator/training").into_response()),
        Err(e)
            if matches!(
                e.code,
                crate::error::ErrorCode::InvalidInput | crate::error::ErrorCode::NotFound
            ) =>
        {
            let msg = e.detail.unwrap_or_default();
            training_view(&state, &ctx, vec![msg], StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// The readiness map and the regulator's setting
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MapCell {
    pub province_code: String,
    pub province_name: String,
    /// A facility type code, or provincial_department.
    pub facility_type: String,
    pub units: u64,
    pub assessed: u64,
    /// How many units' latest submitted self-assessment is at level 0, 1, 2, …
    pub levels: Vec<u64>,
    /// Units at or above the regulator's minimum for high-risk tools.
    pub at_minimum: u64,
    /// Units with at least one training session held there.
    pub with_training: u64,
    pub people_trained: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MapOut {
    pub framework_id: String,
    pub framework_version: u32,
    /// The regulator's minimum readiness level for deployments of high-risk tools (0: none).
    pub min_level_high_risk: u8,
    pub cells: Vec<MapCell>,
}

async fn map_data(state: &AppState, ctx: &Ctx) -> AppResult<MapOut> {
    let f = state
        .checklists
        .latest(READINESS_FRAMEWORK)
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let top = f.scale().top_level().unwrap_or(0);
    let store = &state.store;
    let cells = store
        .readiness_map(top)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|c| MapCell {
            province_code: c.province_code,
            province_name: c.province_name,
            facility_type: c.facility_type,
            units: c.units,
            assessed: c.assessed,
            levels: c.levels,
            at_minimum: c.at_minimum,
            with_training: c.with_training,
            people_trained: c.people_trained,
        })
        .collect();
    Ok(MapOut {
        framework_id: f.id().into(),
        framework_version: f.version(),
        min_level_high_risk: store
            .readiness_rule()
            .await
            .map_err(ctx.store_err())?
            .min_level_high_risk,
        cells,
    })
}

#[utoipa::path(get, path = "/api/v1/navigator/map", tag = "navigator",
    responses((status = 200, body = MapOut, description = "Readiness by province and facility type")))]
pub async fn api_map(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Json<MapOut>> {
    Ok(Json(map_data(&state, &ctx).await?))
}

pub struct MapRow {
    pub province: String,
    pub facility_type: String,
    pub units: u64,
    pub assessed: u64,
    pub levels: Vec<u64>,
    pub at_minimum: u64,
    pub coverage: String,
    pub people: u64,
}

#[derive(Template)]
#[template(path = "navigator_map.html")]
struct MapPage {
    l: Layout,
    rows: Vec<MapRow>,
    level_heads: Vec<u8>,
    min_level: u8,
    min_opts: Vec<Opt>,
    is_admin: bool,
    totals: (u64, u64, u64),
}

fn type_label(code: &str, lang: Lang) -> String {
    code.parse::<FacilityType>()
        .map(|t| t.label(lang).to_string())
        .unwrap_or_else(|_| code.to_string())
}

pub async fn map_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let m = map_data(&state, &ctx).await?;
    let lang = ctx.lang;
    let top = m
        .cells
        .first()
        .map_or(4, |c| c.levels.len().saturating_sub(1));
    let totals = m.cells.iter().fold((0, 0, 0), |t, c| {
        (t.0 + c.units, t.1 + c.assessed, t.2 + c.with_training)
    });
    let rows = m
        .cells
        .iter()
        .map(|c| MapRow {
            province: c.province_name.clone(),
            facility_type: type_label(&c.facility_type, lang),
            units: c.units,
            assessed: c.assessed,
            levels: c.levels.clone(),
            at_minimum: c.at_minimum,
            coverage: vigilo_core::navigator::coverage_percent(c.with_training, c.units)
                .map_or("—".into(), |p| format!("{p} %")),
            people: c.people_trained,
        })
        .collect();
    let page = MapPage {
        l: Layout::new(&state, &ctx),
        rows,
        level_heads: (0..=u8::try_from(top).unwrap_or(4)).collect(),
        min_level: m.min_level_high_risk,
        min_opts: (0..=u8::try_from(top).unwrap_or(4))
            .map(|l| Opt {
                value: l.to_string(),
                label: l.to_string(),
                selected: l == m.min_level_high_risk,
            })
            .collect(),
        is_admin: ctx.role() == Role::Admin,
        totals,
    };
    render(&page, &ctx, StatusCode::OK)
}

/// The same table as CSV (codes, not labels), for the regulator's spreadsheets.
pub async fn map_csv(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let m = map_data(&state, &ctx).await?;
    let top = m
        .cells
        .first()
        .map_or(4, |c| c.levels.len().saturating_sub(1));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head = vec![
        "province_code".to_string(),
        "province_name".into(),
        "facility_type".into(),
        "units".into(),
        "assessed".into(),
    ];
    head.extend((0..=top).map(|l| format!("level_{l}")));
    head.extend([
        format!("at_minimum_{}", m.min_level_high_risk),
        "with_training".into(),
        "people_trained".into(),
    ]);
    let internal = |_| ctx.err(AppError::new(crate::error::ErrorCode::Internal));
    w.write_record(&head).map_err(internal)?;
    for c in &m.cells {
        let mut rec = vec![
            c.province_code.clone(),
            c.province_name.clone(),
            c.facility_type.clone(),
            c.units.to_string(),
            c.assessed.to_string(),
        ];
        rec.extend(c.levels.iter().map(u64::to_string));
        rec.extend([
            c.at_minimum.to_string(),
            c.with_training.to_string(),
            c.people_trained.to_string(),
        ]);
        w.write_record(&rec).map_err(internal)?;
    }
    let body = w
        .into_inner()
        .map_err(|_| ctx.err(AppError::new(crate::error::ErrorCode::Internal)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"navigator-readiness.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SettingsBody {
    /// Minimum readiness level (0 to the scale's top; 0 = no minimum) a facility's latest
    /// submitted self-assessment must reach before a high-risk tool is deployed there.
    pub min_level_high_risk: i64,
}

async fn set_rule(state: &AppState, ctx: &Ctx, level: i64) -> AppResult<()> {
    let top = state
        .checklists
        .latest(READINESS_FRAMEWORK)
        .and_then(|f| f.scale().top_level())
        .unwrap_or(0);
    let rule =
        ReadinessRule::new(level, top).map_err(|e| ctx.err(AppError::invalid(e.to_string())))?;
    state
        .store
        .set_readiness_rule(&ctx.actor(), rule)
        .await
        .map_err(ctx.store_err())
}

#[utoipa::path(get, path = "/api/v1/navigator/settings", tag = "navigator",
    responses((status = 200, body = SettingsBody)))]
pub async fn api_settings(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Json<SettingsBody>> {
    let r = state
        .store
        .readiness_rule()
        .await
        .map_err(ctx.store_err())?;
    Ok(Json(SettingsBody {
        min_level_high_risk: i64::from(r.min_level_high_risk),
    }))
}

#[utoipa::path(put, path = "/api/v1/navigator/settings", tag = "navigator",
    request_body = SettingsBody,
    responses((status = 200, body = SettingsBody), (status = 400, body = crate::error::Problem)))]
pub async fn api_set_settings(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiJson(b): ApiJson<SettingsBody>,
) -> AppResult<Json<SettingsBody>> {
    set_rule(&state, &ctx, b.min_level_high_risk).await?;
    Ok(Json(b))
}

#[derive(Debug, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub min_level_high_risk: String,
}

pub async fn settings_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(f): PageForm<SettingsForm>,
) -> AppResult<Response> {
    let level = f
        .min_level_high_risk
        .trim()
        .parse::<i64>()
        .map_err(|_| ctx.err(AppError::invalid("min_level_high_risk: give a level")))?;
    set_rule(&state, &ctx, level).await?;
    Ok(Redirect::to("/navigator/map").into_response())
}
