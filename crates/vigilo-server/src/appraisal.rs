//! The appraisal desk: dossiers (vendors open, answer, attach evidence and
//! submit; reviewers screen, assess, request information, decide) and the
//! licence register (public), with pages and JSON API.

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::extract::{ApiJson, PageForm};
use crate::i18n::Tr;
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::ToSchema;
use vigilo_core::appraisal::{
    clock_summary, iso_date, Actor, ApplicationCommand, ApplicationState, ClockSummary,
    ClockTargets, DecisionOutcome, KpiDuty, LicenceCommand, LicenceConditions,
};
use vigilo_core::checklist::{
    AnswerSet, Catalog, Completeness, Framework, ProductOrigin, ProductProfile, Scale,
};
use vigilo_core::classification::{IntendedUsers, VnAiTier, VnDeviceClass};
use vigilo_core::directory::{AiKind, LicenceStatus};
use vigilo_core::documents::{check_document, clean_filename, extension_of};
use vigilo_core::{Lang, Role};
use vigilo_store::{
    Application, ApplicationFilter, Authorisation, DecisionInput, ItemAnswer, Product, StoreError,
};

// ---- access ----

/// The application if the caller may see it: the vendor that owns it, or staff.
/// Anyone else gets "not found", as if it did not exist.
async fn application_for(state: &AppState, ctx: &Ctx, id: &str) -> AppResult<Application> {
    let app = state
        .store
        .application(id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    if ctx.is_staff() || ctx.vendor_org() == Some(app.vendor_org_id.as_str()) {
        Ok(app)
    } else {
        Err(ctx.err(AppError::not_found()))
    }
}

fn actor_kind(ctx: &Ctx) -> Actor {
    if ctx.is_staff() {
        Actor::Staff
    } else {
        Actor::Vendor
    }
}

fn user_id(ctx: &Ctx) -> String {
    ctx.user.as_ref().map(|u| u.id.clone()).unwrap_or_default()
}

/// A product's name for lists and headings; empty if it is gone.
pub(crate) async fn product_name(state: &AppState, ctx: &Ctx, id: &str) -> AppResult<String> {
    Ok(state
        .store
        .product(id)
        .await
        .map_err(ctx.store_err())?
        .map(|p| p.name)
        .unwrap_or_default())
}

/// What the checklist engine needs to know about the product.
pub fn product_profile(p: &Product) -> ProductProfile {
    let classification: Option<serde_json::Value> = p
        .classification_json
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok());
    let text_at = |path: &[&str]| -> Option<String> {
        let mut v = classification.as_ref()?;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().map(str::to_string)
    };
    ProductProfile {
        vn_device_class: p
            .risk_class
            .as_deref()
            .and_then(|c| c.to_ascii_lowercase().parse::<VnDeviceClass>().ok()),
        vn_ai_tier: text_at(&["result", "vn_ai_tier"]).and_then(|t| t.parse::<VnAiTier>().ok()),
        ai_kind: p.ai_kind.parse::<AiKind>().ok(),
        origin: Some(if p.domestic != 0 {
            ProductOrigin::Domestic
        } else {
            ProductOrigin::Imported
        }),
        intended_users: text_at(&["answers", "users"])
            .and_then(|t| t.parse::<IntendedUsers>().ok()),
    }
}

/// The dossier frameworks a vendor may choose (compliance scale), newest versions.
fn dossier_frameworks(catalog: &Catalog) -> Vec<&Framework> {
    let mut ids: Vec<&str> = catalog
        .all()
        .filter(|f| matches!(f.scale(), Scale::Compliance))
        .map(|f| f.id())
        .collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| catalog.latest(id))
        .collect()
}

const DEFAULT_FRAMEWORKS: &[&str] = &["imdrf-gmlp", "vn-dossier"];

/// Parses `id@version` references, refusing unknown ones and readiness frameworks.
fn parse_frameworks(catalog: &Catalog, refs: &[String]) -> Result<Vec<(String, u32)>, String> {
    let mut out = Vec::new();
    for r in refs {
        let (id, version) = match r.split_once('@') {
            Some((id, v)) => (
                id,
                v.parse::<u32>()
                    .map_err(|_| format!("'{r}': the version after @ must be a number"))?,
            ),
            None => (
                r.as_str(),
                catalog
                    .latest(r)
                    .map(|f| f.version())
                    .ok_or_else(|| format!("unknown checklist '{r}'"))?,
            ),
        };
        let f = catalog
            .get(id, version)
            .ok_or_else(|| format!("unknown checklist '{id}' version {version}"))?;
        if !matches!(f.scale(), Scale::Compliance) {
            return Err(format!(
                "'{id}' is a readiness framework, not a dossier checklist"
            ));
        }
        if !out.iter().any(|(i, _): &(String, u32)| i == id) {
            out.push((id.to_string(), version));
        }
    }
    Ok(out)
}

/// Validates answers against their framework; the messages name item and field.
fn check_rows(
    catalog: &Catalog,
    framework: &str,
    version: u32,
    rows: Vec<(String, String, String)>,
) -> Result<Vec<ItemAnswer>, Vec<String>> {
    let set = AnswerSet::from_text_rows(framework, version, rows);
    match catalog.check(&set) {
        Ok(checked) => Ok(checked
            .iter()
            .filter_map(|(item, a)| {
                Some(ItemAnswer {
                    framework: framework.to_string(),
                    framework_version: i64::from(version),
                    item_id: item.to_string(),
                    value: a.value?.to_code(),
                    note: a.comment.clone(),
                })
            })
            .collect()),
        Err(errors) => Err(errors.iter().map(|e| e.to_string()).collect()),
    }
}

fn stored_set(rows: &[ItemAnswer], framework: &str, version: u32) -> AnswerSet {
    AnswerSet::from_text_rows(
        framework,
        version,
        rows.iter()
            .filter(|a| a.framework == framework && a.framework_version == i64::from(version))
            .map(|a| (a.item_id.clone(), a.value.clone(), a.note.clone())),
    )
}

/// Required items still unanswered, per framework, for this product.
fn completeness(
    catalog: &Catalog,
    app: &Application,
    answers: &[ItemAnswer],
    profile: &ProductProfile,
) -> Vec<(String, u32, Completeness)> {
    let mut out = Vec::new();
    for (id, version) in app.framework_list() {
        let Some(f) = catalog.get(&id, version) else {
            continue;
        };
        let Ok(checked) = f.check(&stored_set(answers, &id, version)) else {
            continue;
        };
        if let Ok(c) = f.completeness(&checked, profile) {
            out.push((id, version, c));
        }
    }
    out
}

async fn clock_of(state: &AppState, ctx: &Ctx, app: &Application) -> AppResult<ClockSummary> {
    let events = state
        .store
        .application_events(&app.id)
        .await
        .map_err(ctx.store_err())?;
    let entered: Vec<_> = events
        .iter()
        .filter_map(|e| {
            Some((
                e.to_state.parse::<ApplicationState>().ok()?,
                vigilo_store::parse_time(&e.at)?,
            ))
        })
        .collect();
    Ok(clock_summary(
        &entered,
        state.store.now(),
        &ClockTargets::default(),
    ))
}

// ---- list page ----

pub struct AppRow {
    pub id: String,
    pub reference: String,
    pub product: String,
    pub version: String,
    pub state: String,
    pub outcome: String,
    pub days: i64,
    pub overdue: bool,
    pub updated: String,
}

pub struct VersionChoice {
    pub id: String,
    pub label: String,
}

pub struct FrameworkChoice {
    pub reference: String,
    pub title: String,
    pub checked: bool,
}

pub struct StateChoice {
    pub code: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "applications.html")]
struct ApplicationsPage {
    l: Layout,
    rows: Vec<AppRow>,
    staff: bool,
    states: Vec<StateChoice>,
    versions: Vec<VersionChoice>,
    frameworks: Vec<FrameworkChoice>,
    errors: Vec<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    pub state: Option<String>,
}

async fn rows_for(
    state: &AppState,
    ctx: &Ctx,
    tr: &Tr,
    apps: Vec<Application>,
) -> AppResult<Vec<AppRow>> {
    let mut rows = Vec::new();
    for app in apps {
        let product = state
            .store
            .product(&app.product_id)
            .await
            .map_err(ctx.store_err())?;
        let version = state
            .store
            .version(&app.version_id)
            .await
            .map_err(ctx.store_err())?;
        let clock = clock_of(state, ctx, &app).await?;
        let progress = app.progress();
        rows.push(AppRow {
            reference: app.reference.clone(),
            product: product.map(|p| p.name).unwrap_or_default(),
            version: version.map(|v| v.version).unwrap_or_default(),
            state: progress.state.label(tr.lang).to_string(),
            outcome: progress
                .outcome
                .map(|o| o.label(tr.lang).to_string())
                .unwrap_or_default(),
            days: clock.current_days,
            overdue: clock.overdue,
            updated: app.updated_at.chars().take(10).collect(),
            id: app.id,
        });
    }
    Ok(rows)
}

async fn applications_page(
    state: &AppState,
    ctx: &Ctx,
    filter_state: Option<ApplicationState>,
    errors: Vec<String>,
) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let tr = l.tr.clone();
    let staff = ctx.is_staff();
    let filter = ApplicationFilter {
        state: filter_state,
        vendor_org_id: if staff {
            None
        } else {
            Some(ctx.vendor_org().unwrap_or("-").to_string())
        },
        reviewer_id: None,
    };
    let apps = state
        .store
        .applications(&filter)
        .await
        .map_err(ctx.store_err())?;
    let rows = rows_for(state, ctx, &tr, apps).await?;
    let mut versions = Vec::new();
    if let Some(org) = ctx.vendor_org() {
        for p in state
            .store
            .products_of(org)
            .await
            .map_err(ctx.store_err())?
        {
            for v in state.store.versions(&p.id).await.map_err(ctx.store_err())? {
                if v.status != "withdrawn" {
                    versions.push(VersionChoice {
                        label: format!("{} {}", p.name, v.version),
                        id: v.id,
                    });
                }
            }
        }
    }
    let frameworks = dossier_frameworks(&state.checklists)
        .into_iter()
        .map(|f| FrameworkChoice {
            reference: format!("{}@{}", f.id(), f.version()),
            title: f.title().get(tr.lang).to_string(),
            checked: DEFAULT_FRAMEWORKS.contains(&f.id()),
        })
        .collect();
    let states = ApplicationState::ALL
        .iter()
        .map(|s| StateChoice {
            code: s.code().into(),
            label: s.label(tr.lang).into(),
            selected: Some(*s) == filter_state,
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(
        &ApplicationsPage {
            l,
            rows,
            staff,
            states,
            versions,
            frameworks,
            errors,
        },
        ctx,
        status,
    )
}

pub async fn list_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let filter = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse().ok());
    applications_page(&state, &ctx, filter, Vec::new()).await
}

/// Reads a form whose fields repeat (checkboxes) or are named per item.
pub(crate) fn pairs(ctx: &Ctx, body: &Bytes) -> AppResult<Vec<(String, String)>> {
    // A body that is not a form at all is refused, not read as an empty form.
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).map_err(|e| {
        ctx.err(
            AppError::new(ErrorCode::InvalidInput)
                .detail(format!("the form could not be read: {e}")),
        )
    })
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

pub async fn open_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    body: Bytes,
) -> AppResult<Response> {
    let form = pairs(&ctx, &body)?;
    let Some(org) = ctx.vendor_org().map(str::to_string) else {
        return Err(
            ctx.err(AppError::new(ErrorCode::Forbidden).detail("your account has no organisation"))
        );
    };
    let refs: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "framework")
        .map(|(_, v)| v.clone())
        .collect();
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let frameworks = match parse_frameworks(&state.checklists, &refs) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            return applications_page(&state, &ctx, None, vec![tr.t("app-need-framework")]).await
        }
        Err(msg) => return applications_page(&state, &ctx, None, vec![msg]).await,
    };
    match state
        .store
        .open_application(&ctx.actor(), &org, field(&form, "version_id"), &frameworks)
        .await
    {
        Ok(app) => Ok(Redirect::to(&format!("/applications/{}", app.id)).into_response()),
        Err(
            e @ (StoreError::Invalid { .. }
            | StoreError::Conflict { .. }
            | StoreError::NotFound { .. }),
        ) => applications_page(&state, &ctx, None, vec![e.to_string()]).await,
        Err(e) => Err(ctx.err(e.into())),
    }
}

// ---- the dossier page ----

pub struct ItemView {
    pub id: String,
    pub title: String,
    pub question: String,
    pub guidance: String,
    pub evidence: Vec<String>,
    pub required: bool,
    pub applies: bool,
    pub answer: String,
    pub answer_label: String,
    pub note: String,
    pub assessment: String,
    pub assessment_label: String,
    pub assessment_note: String,
}

pub struct SectionView {
    pub title: String,
    pub items: Vec<ItemView>,
}

pub struct FrameworkView {
    pub key: String,
    pub title: String,
    pub missing: usize,
    pub sections: Vec<SectionView>,
}

pub struct EventView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub to: String,
    pub reason: String,
}

pub struct DocView {
    pub id: String,
    pub filename: String,
    pub size: String,
    pub sha: String,
    pub item: String,
}

pub struct ClockRow {
    pub state: String,
    pub days: i64,
    pub target: String,
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "application.html")]
struct ApplicationPage {
    l: Layout,
    app: Application,
    product: String,
    product_id: String,
    version: String,
    vendor: String,
    reviewer: String,
    state: String,
    outcome: String,
    paused: bool,
    overdue: bool,
    current_days: i64,
    regulator_days: i64,
    vendor_days: i64,
    clock: Vec<ClockRow>,
    frameworks: Vec<FrameworkView>,
    documents: Vec<DocView>,
    events: Vec<EventView>,
    actions: Vec<Choice>,
    can_decide: bool,
    vendor_edit: bool,
    staff_assess: bool,
    staff: bool,
    reviewers: Vec<Choice>,
    compliance: Vec<Choice>,
    outcomes: Vec<Choice>,
    provinces: Vec<Choice>,
    default_expiry: String,
    licence_id: String,
    errors: Vec<String>,
    notice: String,
}

fn human_size(n: i64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / 1_048_576.0)
    } else if n >= 1024 {
        format!("{:.0} KB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

fn compliance_label(tr: &Tr, code: &str) -> String {
    code.parse::<vigilo_core::checklist::Compliance>()
        .map(|c| c.label(tr.lang).to_string())
        .unwrap_or_default()
}

async fn application_page(
    state: &AppState,
    ctx: &Ctx,
    app: Application,
    errors: Vec<String>,
    notice: String,
) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let tr = l.tr.clone();
    let lang = tr.lang;
    let store = &state.store;
    let product = store
        .product(&app.product_id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let version = store
        .version(&app.version_id)
        .await
        .map_err(ctx.store_err())?
        .map(|v| v.version)
        .unwrap_or_default();
    let vendor = store
        .organisation(&app.vendor_org_id)
        .await
        .map_err(ctx.store_err())?
        .map(|o| o.name)
        .unwrap_or_default();
    let staff = ctx.is_staff();
    let users = if staff {
        store.list_users().await.map_err(ctx.store_err())?
    } else {
        Vec::new()
    };
    let reviewer = app
        .reviewer_id
        .as_ref()
        .and_then(|id| users.iter().find(|u| &u.id == id))
        .map(|u| u.display_name.clone())
        .unwrap_or_default();
    let progress = app.progress();
    let clock = clock_of(state, ctx, &app).await?;
    let answers = store.answers(&app.id).await.map_err(ctx.store_err())?;
    let assessments = if staff {
        store.assessments(&app.id).await.map_err(ctx.store_err())?
    } else {
        Vec::new()
    };
    let me = user_id(ctx);
    let profile = product_profile(&product);
    let complete = completeness(&state.checklists, &app, &answers, &profile);
    let mut frameworks = Vec::new();
    for (id, version_no) in app.framework_list() {
        let Some(f) = state.checklists.get(&id, version_no) else {
            continue;
        };
        let missing = complete
            .iter()
            .find(|(i, v, _)| *i == id && *v == version_no)
            .map(|(_, _, c)| c.missing_required.len())
            .unwrap_or(0);
        let mut sections = Vec::new();
        for s in f.sections() {
            let items = f
                .items_in(&s.id)
                .map(|item| {
                    let a = answers.iter().find(|a| {
                        a.framework == id
                            && a.framework_version == i64::from(version_no)
                            && a.item_id == item.id
                    });
                    let mine = assessments.iter().find(|a| {
                        a.reviewer_id == me
                            && a.framework == id
                            && a.framework_version == i64::from(version_no)
                            && a.item_id == item.id
                    });
                    ItemView {
                        id: item.id.clone(),
                        title: item.title.get(lang).to_string(),
                        question: item.question.get(lang).to_string(),
                        guidance: item.guidance.get(lang).to_string(),
                        evidence: item
                            .evidence
                            .iter()
                            .map(|e| e.get(lang).to_string())
                            .collect(),
                        required: item.required,
                        applies: item.applies_when.applies_to(&profile),
                        answer: a.map(|a| a.value.clone()).unwrap_or_default(),
                        answer_label: a
                            .map(|a| compliance_label(&tr, &a.value))
                            .unwrap_or_default(),
                        note: a.map(|a| a.note.clone()).unwrap_or_default(),
                        assessment: mine.map(|a| a.value.clone()).unwrap_or_default(),
                        assessment_label: mine
                            .map(|a| compliance_label(&tr, &a.value))
                            .unwrap_or_default(),
                        assessment_note: mine.map(|a| a.note.clone()).unwrap_or_default(),
                    }
                })
                .collect();
            sections.push(SectionView {
                title: s.title.get(lang).to_string(),
                items,
            });
        }
        frameworks.push(FrameworkView {
            key: format!("{id}@{version_no}"),
            title: f.title().get(lang).to_string(),
            missing,
            sections,
        });
    }
    let documents = store
        .documents(&app.id)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|d| DocView {
            size: human_size(d.size),
            sha: d.sha256.chars().take(12).collect(),
            item: d.item_ref.clone().unwrap_or_default(),
            id: d.id,
            filename: d.filename,
        })
        .collect();
    let events = store
        .application_events(&app.id)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|e| EventView {
            at: e.at.chars().take(16).collect::<String>().replace('T', " "),
            // Vendors see that the regulator acted, not which official.
            actor: if staff || !e.actor_id.starts_with("user:") {
                e.actor_id.trim_start_matches("user:").to_string()
            } else {
                String::new()
            },
            action: e
                .command
                .parse::<ApplicationCommand>()
                .map(|c| c.label(lang).to_string())
                .unwrap_or_else(|_| tr.t("app-opened")),
            to: e
                .to_state
                .parse::<ApplicationState>()
                .map(|s| s.label(lang).to_string())
                .unwrap_or_default(),
            reason: e.reason,
        })
        .collect();
    let actor = actor_kind(ctx);
    let allowed = progress.allowed(actor);
    let actions = allowed
        .iter()
        .filter(|c| **c != ApplicationCommand::Decide)
        .map(|c| Choice {
            value: c.code().into(),
            label: c.label(lang).into(),
        })
        .collect();
    let can_decide = allowed.contains(&ApplicationCommand::Decide);
    let vendor_edit = !staff
        && matches!(
            progress.state,
            ApplicationState::Draft | ApplicationState::InformationRequested
        );
    let staff_assess = staff
        && matches!(
            progress.state,
            ApplicationState::Screening | ApplicationState::UnderReview | ApplicationState::Sandbox
        );
    let reviewers = users
        .iter()
        .filter(|u| matches!(u.role(), Role::Reviewer | Role::Admin) && u.disabled == 0)
        .map(|u| Choice {
            value: u.id.clone(),
            label: format!("{} ({})", u.display_name, u.username),
        })
        .collect();
    let compliance = vigilo_core::checklist::Compliance::ALL
        .iter()
        .map(|c| Choice {
            value: c.as_str().into(),
            label: c.label(lang).into(),
        })
        .collect();
    let outcomes = DecisionOutcome::ALL
        .iter()
        .filter(|o| {
            progress.state != ApplicationState::Screening || **o == DecisionOutcome::Rejected
        })
        .map(|o| Choice {
            value: o.code().into(),
            label: o.label(lang).into(),
        })
        .collect();
    let provinces = if can_decide {
        store
            .admin_unit_children("VN")
            .await
            .map_err(ctx.store_err())?
            .into_iter()
            .map(|u| Choice {
                value: u.code,
                label: u.name,
            })
            .collect()
    } else {
        Vec::new()
    };
    let default_expiry = iso_date::format(state.store.now().date() + time::Duration::days(365 * 2));
    let licence_id = if progress.state == ApplicationState::Decided {
        store
            .authorisations_of_product(&app.product_id)
            .await
            .map_err(ctx.store_err())?
            .into_iter()
            .find(|a| a.application_id.as_deref() == Some(app.id.as_str()) && a.basis == "decision")
            .map(|a| a.id)
            .unwrap_or_default()
    } else {
        String::new()
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(
        &ApplicationPage {
            product: product.name.clone(),
            product_id: product.id.clone(),
            version,
            vendor,
            reviewer,
            state: progress.state.label(lang).into(),
            outcome: progress
                .outcome
                .map(|o| o.label(lang).to_string())
                .unwrap_or_default(),
            paused: progress.state == ApplicationState::InformationRequested,
            overdue: clock.overdue,
            current_days: clock.current_days,
            regulator_days: clock.regulator_days,
            vendor_days: clock.vendor_days,
            clock: clock
                .per_state
                .iter()
                .map(|d| ClockRow {
                    state: d.state.label(lang).into(),
                    days: d.days,
                    target: d.target.map(|t| t.to_string()).unwrap_or_default(),
                })
                .collect(),
            frameworks,
            documents,
            events,
            actions,
            can_decide,
            vendor_edit,
            staff_assess,
            staff,
            reviewers,
            compliance,
            outcomes,
            provinces,
            default_expiry,
            licence_id,
            errors,
            notice,
            app,
            l,
        },
        ctx,
        status,
    )
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    #[serde(default)]
    pub saved: Option<String>,
}

pub async fn detail_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> AppResult<Response> {
    let app = application_for(&state, &ctx, &id).await?;
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let notice = match q.saved.as_deref() {
        Some("answers") => tr.t("app-saved-answers"),
        Some("document") => tr.t("app-saved-document"),
        Some("action") => tr.t("app-saved-action"),
        Some("assessment") => tr.t("app-saved-assessment"),
        _ => String::new(),
    };
    application_page(&state, &ctx, app, Vec::new(), notice).await
}

/// Collects `<prefix>.<framework@v>.<item>` value fields and their notes
/// (`<note prefix>.<framework@v>.<item>`) per framework.
fn answer_rows(
    form: &[(String, String)],
    value_prefix: &str,
    note_prefix: &str,
) -> HashMap<String, Vec<(String, String, String)>> {
    let mut notes: HashMap<&str, &str> = HashMap::new();
    for (k, v) in form {
        if let Some(rest) = k
            .strip_prefix(note_prefix)
            .and_then(|r| r.strip_prefix('.'))
        {
            notes.insert(rest, v);
        }
    }
    let mut out: HashMap<String, Vec<(String, String, String)>> = HashMap::new();
    for (k, v) in form {
        let Some(rest) = k
            .strip_prefix(value_prefix)
            .and_then(|r| r.strip_prefix('.'))
        else {
            continue;
        };
        let Some((framework, item)) = rest.split_once('.') else {
            continue;
        };
        let note = notes.get(rest).copied().unwrap_or("");
        // An untouched row (no value, no note) is not an answer.
        if v.trim().is_empty() && note.trim().is_empty() {
            continue;
        }
        out.entry(framework.to_string()).or_default().push((
            item.to_string(),
            v.clone(),
            note.to_string(),
        ));
    }
    out
}

/// Validates every framework's rows of a form; all messages at once.
fn checked_rows(
    state: &AppState,
    app: &Application,
    rows: HashMap<String, Vec<(String, String, String)>>,
) -> Result<Vec<ItemAnswer>, Vec<String>> {
    let mut all = Vec::new();
    let mut errors = Vec::new();
    let listed = app.framework_list();
    for (key, rows) in rows {
        let Some((id, version)) = key
            .split_once('@')
            .and_then(|(i, v)| Some((i.to_string(), v.parse::<u32>().ok()?)))
        else {
            errors.push(format!("unknown checklist '{key}'"));
            continue;
        };
        if !listed.contains(&(id.clone(), version)) {
            errors.push(format!("this dossier does not use checklist '{key}'"));
            continue;
        }
        match check_rows(&state.checklists, &id, version, rows) {
            Ok(mut a) => all.append(&mut a),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(all)
    } else {
        Err(errors)
    }
}

pub async fn answers_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Bytes,
) -> AppResult<Response> {
    let app = application_for(&state, &ctx, &id).await?;
    let form = pairs(&ctx, &body)?;
    let rows = answer_rows(&form, "a", "n");
    let answers = match checked_rows(&state, &app, rows) {
        Ok(a) => a,
        Err(errors) => return application_page(&state, &ctx, app, errors, String::new()).await,
    };
    match state
        .store
        .save_answers(&ctx.actor(), &app.id, &answers)
        .await
    {
        Ok(()) => Ok(
            Redirect::to(&format!("/applications/{}?saved=answers#checklist", app.id))
                .into_response(),
        ),
        Err(e @ StoreError::Invalid { .. }) => {
            application_page(&state, &ctx, app, vec![e.to_string()], String::new()).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

pub async fn assessment_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Bytes,
) -> AppResult<Response> {
    let app = application_for(&state, &ctx, &id).await?;
    let form = pairs(&ctx, &body)?;
    let rows = answer_rows(&form, "r", "rn");
    let rows = match checked_rows(&state, &app, rows) {
        Ok(a) => a,
        Err(errors) => return application_page(&state, &ctx, app, errors, String::new()).await,
    };
    match state
        .store
        .save_assessments(&ctx.actor(), &user_id(&ctx), &app.id, &rows)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!(
            "/applications/{}?saved=assessment#checklist",
            app.id
        ))
        .into_response()),
        Err(e @ StoreError::Invalid { .. }) => {
            application_page(&state, &ctx, app, vec![e.to_string()], String::new()).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

/// A checked upload, or the message for the person who sent it.
fn checked_upload(tr: &Tr, filename: &str, bytes: &[u8]) -> Result<(String, String), String> {
    let name = clean_filename(filename);
    match check_document(&name, bytes) {
        Ok(kind) => {
            let ext = extension_of(&name).unwrap_or_default();
            Ok((name, kind.media_type(&ext).to_string()))
        }
        Err(e) => Err(tr.ta("app-bad-document", &[("reason", e.to_string())])),
    }
}

pub async fn document_upload(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let app = application_for(&state, &ctx, &id).await?;
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let mut file: Option<(String, Bytes)> = None;
    let mut item = String::new();
    loop {
        let next = multipart
            .next_field()
            .await
            .map_err(|e| ctx.err(AppError::new(ErrorCode::InvalidInput).detail(e.body_text())))?;
        let Some(f) = next else { break };
        match f.name() {
            Some("file") => {
                let name = f.file_name().unwrap_or("").to_string();
                let bytes = f.bytes().await.map_err(|e| {
                    ctx.err(AppError::new(ErrorCode::PayloadTooLarge).detail(e.body_text()))
                })?;
                file = Some((name, bytes));
            }
            Some("item") => {
                item = f
                    .text()
                    .await
                    .map_err(|e| {
                        ctx.err(AppError::new(ErrorCode::InvalidInput).detail(e.body_text()))
                    })?
                    .chars()
                    .take(200)
                    .collect();
            }
            _ => {}
        }
    }
    let Some((name, bytes)) = file else {
        return application_page(&state, &ctx, app, vec![tr.t("app-no-file")], String::new()).await;
    };
    let (name, media_type) = match checked_upload(&tr, &name, &bytes) {
        Ok(v) => v,
        Err(msg) => return application_page(&state, &ctx, app, vec![msg], String::new()).await,
    };
    let item_ref = Some(item.trim()).filter(|s| !s.is_empty());
    match state
        .store
        .add_document(&ctx.actor(), &app.id, &name, &media_type, &bytes, item_ref)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/applications/{}?saved=document#documents",
            app.id
        ))
        .into_response()),
        Err(e @ StoreError::Invalid { .. }) => {
            application_page(&state, &ctx, app, vec![e.to_string()], String::new()).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

/// Serves evidence as a download, never rendered inline by the browser.
pub async fn document_download(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path((id, doc)): Path<(String, String)>,
) -> AppResult<Response> {
    let app = application_for(&state, &ctx, &id).await?;
    let (meta, bytes) = state
        .store
        .document_content(&app.id, &doc)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let ascii: String = meta
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        crate::ctx::urlencode(&meta.filename).replace('+', "%20")
    );
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&meta.media_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    Ok(response)
}

/// Reads the decision's conditions from form fields or API input.
/// Decision conditions as typed in a form or sent to the API, before checking.
struct RawConditions<'a> {
    provinces: Vec<String>,
    pilot_only: bool,
    expires_on: &'a str,
    duties: &'a str,
    duties_en: &'a str,
    kpi_lines: &'a str,
}

fn conditions_from(
    state: &AppState,
    raw: RawConditions<'_>,
    known_provinces: &[String],
) -> Result<LicenceConditions, Vec<String>> {
    let mut errors = Vec::new();
    let RawConditions {
        provinces,
        pilot_only,
        expires_on,
        duties,
        duties_en,
        kpi_lines,
    } = raw;
    let expires = iso_date::parse(expires_on)
        .map_err(|_| {
            errors.push(format!(
                "expires_on: '{expires_on}' is not a date (YYYY-MM-DD)"
            ))
        })
        .ok();
    let mut kpis = Vec::new();
    for (i, line) in kpi_lines
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let Some((kpi, target)) = line.split_once(';') else {
            errors.push(format!(
                "KPI line {}: write 'kpi_code; target', e.g. tb_sensitivity; 0.85",
                i + 1
            ));
            continue;
        };
        match target.trim().replace(',', ".").parse::<f64>() {
            Ok(t) => kpis.push(KpiDuty {
                kpi: kpi.trim().to_string(),
                target: t,
            }),
            Err(_) => errors.push(format!(
                "KPI line {}: the target '{}' is not a number",
                i + 1,
                target.trim()
            )),
        }
    }
    let Some(expires_on) = expires else {
        return Err(errors);
    };
    let c = LicenceConditions {
        provinces: provinces.into_iter().filter(|p| !p.is_empty()).collect(),
        facilities: Vec::new(),
        pilot_only,
        monitoring_duties: duties.trim().to_string(),
        monitoring_duties_en: duties_en.trim().to_string(),
        kpis,
        expires_on,
    };
    if let Err(field_errors) = c.validate(state.store.now().date(), |p| {
        known_provinces.iter().any(|k| k == p)
    }) {
        errors.extend(
            field_errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.code)),
        );
    }
    // Each KPI duty must name a KPI of the catalogue, with a target on that KPI's own scale
    // (85 for 85%: a target of 0.85 on a percentage would be met by any tool).
    if let Ok(catalogue) = crate::monitoring::builtin_catalogue() {
        for duty in &c.kpis {
            if let Err(e) = catalogue.check_duty(duty) {
                errors.push(format!("KPI {}: {e}", duty.kpi));
            } else if let Some(def) = catalogue.get(&duty.kpi) {
                if def.scale == 100 && duty.target > 0.0 && duty.target <= 1.0 {
                    errors.push(format!(
                        "KPI {}: the target is on a 0 to 100 scale; write {} for {}%",
                        duty.kpi,
                        duty.target * 100.0,
                        duty.target * 100.0
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(errors)
    }
}

async fn province_codes(state: &AppState, ctx: &Ctx) -> AppResult<Vec<String>> {
    Ok(state
        .store
        .admin_unit_children("VN")
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|u| u.code)
        .collect())
}

pub async fn action_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Bytes,
) -> AppResult<Response> {
    let app = application_for(&state, &ctx, &id).await?;
    let form = pairs(&ctx, &body)?;
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let Ok(cmd) = field(&form, "action").parse::<ApplicationCommand>() else {
        return application_page(
            &state,
            &ctx,
            app,
            vec![tr.t("app-unknown-action")],
            String::new(),
        )
        .await;
    };
    let reason = field(&form, "reason");
    let decision = if cmd == ApplicationCommand::Decide {
        let Ok(outcome) = field(&form, "outcome").parse::<DecisionOutcome>() else {
            return application_page(
                &state,
                &ctx,
                app,
                vec![tr.t("app-need-outcome")],
                String::new(),
            )
            .await;
        };
        let conditions = if outcome == DecisionOutcome::Rejected {
            None
        } else {
            let known = province_codes(&state, &ctx).await?;
            let provinces = form
                .iter()
                .filter(|(k, _)| k == "province")
                .map(|(_, v)| v.clone())
                .collect();
            let raw = RawConditions {
                provinces,
                pilot_only: field(&form, "pilot_only") == "1",
                expires_on: field(&form, "expires_on"),
                duties: field(&form, "monitoring_duties"),
                duties_en: field(&form, "monitoring_duties_en"),
                kpi_lines: field(&form, "kpis"),
            };
            match conditions_from(&state, raw, &known) {
                Ok(c) => Some(c),
                Err(errors) => {
                    return application_page(&state, &ctx, app, errors, String::new()).await
                }
            }
        };
        Some(DecisionInput {
            outcome,
            conditions,
        })
    } else {
        None
    };
    match state
        .store
        .transition_application(
            &ctx.actor(),
            actor_kind(&ctx),
            &app.id,
            cmd,
            reason,
            decision,
        )
        .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/applications/{}?saved=action", app.id)).into_response())
        }
        Err(e @ StoreError::Invalid { .. }) => {
            application_page(&state, &ctx, app, vec![e.to_string()], String::new()).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    pub reviewer_id: String,
}

pub async fn assign_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<AssignForm>,
) -> AppResult<Response> {
    let app = application_for(&state, &ctx, &id).await?;
    match state
        .store
        .assign_reviewer(&ctx.actor(), &app.id, &form.reviewer_id)
        .await
    {
        Ok(_) => {
            Ok(Redirect::to(&format!("/applications/{}?saved=action", app.id)).into_response())
        }
        Err(e @ (StoreError::Invalid { .. } | StoreError::NotFound { .. })) => {
            application_page(&state, &ctx, app, vec![e.to_string()], String::new()).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

// ---- licences ----

pub struct LicenceRow {
    pub id: String,
    pub reference: String,
    pub product: String,
    pub product_id: String,
    pub version: String,
    pub status: String,
    pub status_code: String,
    pub basis: String,
    pub granted: String,
    pub expires: String,
}

async fn licence_rows(
    state: &AppState,
    ctx: &Ctx,
    lang: Lang,
    list: Vec<Authorisation>,
) -> AppResult<Vec<LicenceRow>> {
    let mut rows = Vec::new();
    for a in list {
        let product = product_name(state, ctx, &a.product_id).await?;
        let version = state
            .store
            .version(&a.version_id)
            .await
            .map_err(ctx.store_err())?
            .map(|v| v.version)
            .unwrap_or_default();
        rows.push(LicenceRow {
            reference: a.reference.clone(),
            product,
            product_id: a.product_id.clone(),
            version,
            status: a.status().label(lang).into(),
            status_code: a.status.clone(),
            basis: a
                .basis
                .parse::<vigilo_core::appraisal::LicenceBasis>()
                .map(|b| b.label(lang).to_string())
                .unwrap_or_default(),
            granted: a.granted_at.chars().take(10).collect(),
            expires: a.expires_on.clone(),
            id: a.id,
        });
    }
    Ok(rows)
}

/// A product's licences for its public page.
pub async fn product_licences(
    state: &AppState,
    ctx: &Ctx,
    lang: Lang,
    product_id: &str,
) -> AppResult<Vec<LicenceRow>> {
    let list = state
        .store
        .authorisations_of_product(product_id)
        .await
        .map_err(ctx.store_err())?;
    licence_rows(state, ctx, lang, list).await
}

#[derive(Template)]
#[template(path = "licences.html")]
struct LicencesPage {
    l: Layout,
    rows: Vec<LicenceRow>,
}

pub async fn licences_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let l = Layout::new(&state, &ctx);
    let list = state
        .store
        .all_authorisations()
        .await
        .map_err(ctx.store_err())?;
    let rows = licence_rows(&state, &ctx, l.tr.lang, list).await?;
    render(&LicencesPage { l, rows }, &ctx, StatusCode::OK)
}

pub struct ConditionsView {
    pub provinces: String,
    pub pilot_only: bool,
    pub duties: String,
    pub kpis: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "licence.html")]
struct LicencePage {
    l: Layout,
    row: LicenceRow,
    outcome: String,
    conditions: ConditionsView,
    history: Vec<EventView>,
    admin_actions: Vec<Choice>,
    other_versions: Vec<Choice>,
    can_extend: bool,
    errors: Vec<String>,
}

async fn conditions_view(
    state: &AppState,
    ctx: &Ctx,
    tr: &Tr,
    c: Option<LicenceConditions>,
) -> AppResult<ConditionsView> {
    let Some(c) = c else {
        return Ok(ConditionsView {
            provinces: String::new(),
            pilot_only: false,
            duties: String::new(),
            kpis: Vec::new(),
        });
    };
    let provinces = if c.provinces.is_empty() {
        tr.t("lic-nationwide")
    } else {
        let mut names = Vec::new();
        for code in &c.provinces {
            let name = state
                .store
                .admin_unit(code)
                .await
                .map_err(ctx.store_err())?
                .map(|u| u.name)
                .unwrap_or_else(|| code.clone());
            names.push(name);
        }
        names.join(", ")
    };
    let duties = match tr.lang {
        Lang::En if !c.monitoring_duties_en.is_empty() => c.monitoring_duties_en.clone(),
        _ => c.monitoring_duties.clone(),
    };
    Ok(ConditionsView {
        provinces,
        pilot_only: c.pilot_only,
        duties,
        kpis: c
            .kpis
            .iter()
            .map(|k| (k.kpi.clone(), format!("{}", k.target)))
            .collect(),
    })
}

async fn licence_page(
    state: &AppState,
    ctx: &Ctx,
    a: Authorisation,
    errors: Vec<String>,
) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let tr = l.tr.clone();
    let lang = tr.lang;
    let conditions = conditions_view(state, ctx, &tr, a.conditions()).await?;
    let staff = ctx.is_staff();
    let history = state
        .store
        .authorisation_events(&a.id)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|e| EventView {
            at: e.at.chars().take(10).collect(),
            actor: if staff {
                e.actor_id.trim_start_matches("user:").to_string()
            } else {
                String::new()
            },
            action: e
                .command
                .parse::<LicenceCommand>()
                .map(|c| c.label(lang).to_string())
                .unwrap_or_else(|_| tr.t("lic-granted")),
            to: e
                .to_status
                .parse::<LicenceStatus>()
                .map(|s| s.label(lang).to_string())
                .unwrap_or_default(),
            reason: match e.reason.parse::<vigilo_core::appraisal::LicenceBasis>() {
                Ok(b) => b.label(lang).to_string(),
                Err(_) => e.reason,
            },
        })
        .collect();
    let status = a.status();
    let admin_actions = if ctx.role() == Role::Admin {
        [
            LicenceCommand::Suspend,
            LicenceCommand::Reinstate,
            LicenceCommand::Revoke,
        ]
        .into_iter()
        .filter(|c| {
            vigilo_core::appraisal::licence_transition(
                status,
                *c,
                iso_date::parse(&a.expires_on).unwrap_or(time::Date::MIN),
                state.store.now().date(),
                "x",
            )
            .is_ok()
        })
        .map(|c| Choice {
            value: c.code().into(),
            label: c.label(lang).into(),
        })
        .collect()
    } else {
        Vec::new()
    };
    let can_extend = staff && status == LicenceStatus::Active;
    let other_versions = if can_extend {
        state
            .store
            .versions(&a.product_id)
            .await
            .map_err(ctx.store_err())?
            .into_iter()
            .filter(|v| v.id != a.version_id && v.status != "withdrawn")
            .map(|v| Choice {
                value: v.id,
                label: v.version,
            })
            .collect()
    } else {
        Vec::new()
    };
    let outcome = a
        .outcome
        .parse::<DecisionOutcome>()
        .map(|o| o.label(lang).to_string())
        .unwrap_or_default();
    let row = licence_rows(state, ctx, lang, vec![a])
        .await?
        .pop()
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let code = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(
        &LicencePage {
            l,
            row,
            outcome,
            conditions,
            history,
            admin_actions,
            other_versions,
            can_extend,
            errors,
        },
        ctx,
        code,
    )
}

async fn licence_or_404(state: &AppState, ctx: &Ctx, id: &str) -> AppResult<Authorisation> {
    state
        .store
        .authorisation(id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))
}

pub async fn licence_detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let a = licence_or_404(&state, &ctx, &id).await?;
    licence_page(&state, &ctx, a, Vec::new()).await
}

#[derive(Deserialize)]
pub struct LicenceActionForm {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub reason: String,
}

pub async fn licence_action(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<LicenceActionForm>,
) -> AppResult<Response> {
    let a = licence_or_404(&state, &ctx, &id).await?;
    let cmd = match form.action.parse::<LicenceCommand>() {
        Ok(c) if c != LicenceCommand::Expire => c,
        _ => {
            let tr = Tr::new(state.i18n.clone(), ctx.lang);
            return licence_page(&state, &ctx, a, vec![tr.t("app-unknown-action")]).await;
        }
    };
    match state
        .store
        .change_licence(&ctx.actor(), &a.id, cmd, &form.reason)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/licences/{}", a.id)).into_response()),
        Err(e @ StoreError::Invalid { .. }) => {
            licence_page(&state, &ctx, a, vec![e.to_string()]).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

#[derive(Deserialize)]
pub struct ExtendForm {
    #[serde(default)]
    pub version_id: String,
    #[serde(default)]
    pub reason: String,
}

pub async fn licence_extend(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<ExtendForm>,
) -> AppResult<Response> {
    let a = licence_or_404(&state, &ctx, &id).await?;
    match state
        .store
        .extend_licence_to_version(&ctx.actor(), &a.id, &form.version_id, &form.reason)
        .await
    {
        Ok(child) => Ok(Redirect::to(&format!("/licences/{}", child.id)).into_response()),
        Err(
            e @ (StoreError::Invalid { .. }
            | StoreError::Conflict { .. }
            | StoreError::NotFound { .. }),
        ) => licence_page(&state, &ctx, a, vec![e.to_string()]).await,
        Err(e) => Err(ctx.err(e.into())),
    }
}

// ---- JSON API ----

#[derive(Serialize, ToSchema)]
pub struct ApplicationOut {
    pub id: String,
    pub reference: String,
    pub product_id: String,
    pub version_id: String,
    pub state: String,
    /// The state a request for information interrupted.
    pub paused_from: Option<String>,
    pub outcome: Option<String>,
    /// `framework@version`.
    pub frameworks: Vec<String>,
    pub reviewer_id: Option<String>,
    pub created_at: String,
    pub state_since: String,
    /// Actions the caller may take now.
    pub allowed_actions: Vec<String>,
    pub days_in_state: i64,
    pub regulator_days: i64,
    pub overdue: bool,
    /// Required checklist items still unanswered, as `framework@version/item`.
    pub missing_required: Vec<String>,
}

async fn application_out(
    state: &AppState,
    ctx: &Ctx,
    app: &Application,
) -> AppResult<ApplicationOut> {
    let clock = clock_of(state, ctx, app).await?;
    let answers = state
        .store
        .answers(&app.id)
        .await
        .map_err(ctx.store_err())?;
    let product = state
        .store
        .product(&app.product_id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let missing_required =
        completeness(&state.checklists, app, &answers, &product_profile(&product))
            .into_iter()
            .flat_map(|(id, v, c)| {
                c.missing_required
                    .into_iter()
                    .map(move |item| format!("{id}@{v}/{item}"))
            })
            .collect();
    Ok(ApplicationOut {
        id: app.id.clone(),
        reference: app.reference.clone(),
        product_id: app.product_id.clone(),
        version_id: app.version_id.clone(),
        state: app.state.clone(),
        paused_from: app.paused_from.clone(),
        outcome: app.outcome.clone(),
        frameworks: app
            .framework_list()
            .into_iter()
            .map(|(i, v)| format!("{i}@{v}"))
            .collect(),
        reviewer_id: app.reviewer_id.clone(),
        created_at: app.created_at.clone(),
        state_since: app.state_since.clone(),
        allowed_actions: app
            .progress()
            .allowed(actor_kind(ctx))
            .into_iter()
            .map(|c| c.code().to_string())
            .collect(),
        days_in_state: clock.current_days,
        regulator_days: clock.regulator_days,
        overdue: clock.overdue,
        missing_required,
    })
}

#[utoipa::path(get, path = "/api/v1/applications", tag = "appraisal",
    params(("state" = Option<String>, Query, description = "Only applications in this state")),
    responses((status = 200, body = [ApplicationOut])),
    security(("bearer" = []), ("session" = [])))]
/// Applications: a vendor's own, or all of them for the regulator's staff.
pub async fn api_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Query(q): Query<ListQuery>,
) -> AppResult<Json<Vec<ApplicationOut>>> {
    let filter_state =
        match q.state.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(s.parse::<ApplicationState>().map_err(|e| {
                ctx.err(AppError::new(ErrorCode::InvalidInput).detail(e.to_string()))
            })?),
            None => None,
        };
    let filter = ApplicationFilter {
        state: filter_state,
        vendor_org_id: if ctx.is_staff() {
            None
        } else {
            Some(ctx.vendor_org().unwrap_or("-").to_string())
        },
        reviewer_id: None,
    };
    let apps = state
        .store
        .applications(&filter)
        .await
        .map_err(ctx.store_err())?;
    let mut out = Vec::new();
    for app in &apps {
        out.push(application_out(&state, &ctx, app).await?);
    }
    Ok(Json(out))
}

#[derive(Deserialize, ToSchema)]
pub struct ApplicationIn {
    pub version_id: String,
    /// Checklists to answer, `id` (latest version) or `id@version`; default
    /// `imdrf-gmlp` and `vn-dossier`.
    #[serde(default)]
    pub frameworks: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/applications", tag = "appraisal",
    request_body = ApplicationIn,
    responses((status = 201, body = ApplicationOut), (status = 400, body = crate::error::Problem), (status = 409, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
/// Opens a dossier for a version of one of the caller's products (vendors).
pub async fn api_open(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    body: Result<ApiJson<ApplicationIn>, AppError>,
) -> AppResult<(StatusCode, Json<ApplicationOut>)> {
    let ApiJson(input) = body.map_err(|e| ctx.err(e))?;
    let org = ctx.vendor_org().map(str::to_string).ok_or_else(|| {
        ctx.err(AppError::new(ErrorCode::Forbidden).detail("your account has no organisation"))
    })?;
    let refs = if input.frameworks.is_empty() {
        DEFAULT_FRAMEWORKS.iter().map(|s| s.to_string()).collect()
    } else {
        input.frameworks
    };
    let frameworks = parse_frameworks(&state.checklists, &refs)
        .map_err(|m| ctx.err(AppError::new(ErrorCode::InvalidInput).detail(m)))?;
    let app = state
        .store
        .open_application(&ctx.actor(), &org, &input.version_id, &frameworks)
        .await
        .map_err(ctx.store_err())?;
    Ok((
        StatusCode::CREATED,
        Json(application_out(&state, &ctx, &app).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/applications/{id}", tag = "appraisal",
    params(("id" = String, Path, description = "Application id")),
    responses((status = 200, body = ApplicationOut), (status = 404, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
/// One application, with the actions the caller may take and the missing items.
pub async fn api_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Json<ApplicationOut>> {
    let app = application_for(&state, &ctx, &id).await?;
    Ok(Json(application_out(&state, &ctx, &app).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct ConditionsIn {
    /// Province codes; empty for the whole country.
    #[serde(default)]
    pub provinces: Vec<String>,
    #[serde(default)]
    pub pilot_only: bool,
    /// YYYY-MM-DD.
    pub expires_on: String,
    #[serde(default)]
    pub monitoring_duties: String,
    #[serde(default)]
    pub monitoring_duties_en: String,
    /// KPI code and target the pilot must report.
    #[serde(default)]
    pub kpis: Vec<KpiIn>,
}

#[derive(Deserialize, ToSchema)]
pub struct KpiIn {
    pub kpi: String,
    pub target: f64,
}

#[derive(Deserialize, ToSchema)]
pub struct ActionIn {
    /// submit, start_screening, accept_for_review, request_information, respond,
    /// send_to_sandbox, return_from_sandbox, decide, withdraw.
    pub action: String,
    #[serde(default)]
    pub reason: String,
    /// For `decide`: approved, approved_with_conditions or rejected.
    #[serde(default)]
    pub outcome: Option<String>,
    /// For an approval.
    #[serde(default)]
    pub conditions: Option<ConditionsIn>,
}

#[utoipa::path(post, path = "/api/v1/applications/{id}/actions", tag = "appraisal",
    params(("id" = String, Path, description = "Application id")),
    request_body = ActionIn,
    responses((status = 200, body = ApplicationOut), (status = 400, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
/// Moves an application: vendors submit, respond and withdraw; staff do the rest.
pub async fn api_action(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Result<ApiJson<ActionIn>, AppError>,
) -> AppResult<Json<ApplicationOut>> {
    let ApiJson(input) = body.map_err(|e| ctx.err(e))?;
    let app = application_for(&state, &ctx, &id).await?;
    let invalid = |m: String| ctx.err(AppError::new(ErrorCode::InvalidInput).detail(m));
    let cmd = input
        .action
        .parse::<ApplicationCommand>()
        .map_err(|e| invalid(e.to_string()))?;
    let decision = match (cmd, input.outcome.as_deref()) {
        (ApplicationCommand::Decide, Some(o)) => {
            let outcome = o
                .parse::<DecisionOutcome>()
                .map_err(|e| invalid(e.to_string()))?;
            let conditions = match (outcome, input.conditions) {
                (DecisionOutcome::Rejected, _) => None,
                (_, None) => None,
                (_, Some(c)) => {
                    let known = province_codes(&state, &ctx).await?;
                    let kpis = c
                        .kpis
                        .iter()
                        .map(|k| format!("{}; {}", k.kpi, k.target))
                        .collect::<Vec<_>>()
                        .join("\n");
                    Some(
                        conditions_from(
                            &state,
                            RawConditions {
                                provinces: c.provinces,
                                pilot_only: c.pilot_only,
                                expires_on: &c.expires_on,
                                duties: &c.monitoring_duties,
                                duties_en: &c.monitoring_duties_en,
                                kpi_lines: &kpis,
                            },
                            &known,
                        )
                        .map_err(|e| invalid(e.join("; ")))?,
                    )
                }
            };
            Some(DecisionInput {
                outcome,
                conditions,
            })
        }
        _ => None,
    };
    let app = state
        .store
        .transition_application(
            &ctx.actor(),
            actor_kind(&ctx),
            &app.id,
            cmd,
            &input.reason,
            decision,
        )
        .await
        .map_err(ctx.store_err())?;
    Ok(Json(application_out(&state, &ctx, &app).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct AnswersIn {
    pub framework_id: String,
    pub framework_version: u32,
    pub answers: Vec<AnswerIn>,
}

#[derive(Deserialize, ToSchema)]
pub struct AnswerIn {
    pub item_id: String,
    /// met, partly_met, not_met or not_applicable (with a comment).
    pub value: String,
    #[serde(default)]
    pub comment: String,
}

#[utoipa::path(put, path = "/api/v1/applications/{id}/answers", tag = "appraisal",
    params(("id" = String, Path, description = "Application id")),
    request_body = AnswersIn,
    responses((status = 200, body = ApplicationOut), (status = 400, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
/// Saves checklist answers (vendors, while the dossier is theirs to edit).
pub async fn api_answers(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Result<ApiJson<AnswersIn>, AppError>,
) -> AppResult<Json<ApplicationOut>> {
    let ApiJson(input) = body.map_err(|e| ctx.err(e))?;
    let app = application_for(&state, &ctx, &id).await?;
    let mut rows = HashMap::new();
    rows.insert(
        format!("{}@{}", input.framework_id, input.framework_version),
        input
            .answers
            .into_iter()
            .map(|a| (a.item_id, a.value, a.comment))
            .collect(),
    );
    let answers = checked_rows(&state, &app, rows)
        .map_err(|e| ctx.err(AppError::new(ErrorCode::InvalidInput).detail(e.join("; "))))?;
    state
        .store
        .save_answers(&ctx.actor(), &app.id, &answers)
        .await
        .map_err(ctx.store_err())?;
    Ok(Json(application_out(&state, &ctx, &app).await?))
}

#[derive(Deserialize)]
pub struct UploadQuery {
    #[serde(default)]
    pub filename: String,
    #[serde(default)]
    pub item: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DocumentOut {
    pub id: String,
    pub filename: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
}

#[utoipa::path(post, path = "/api/v1/applications/{id}/documents", tag = "appraisal",
    params(("id" = String, Path, description = "Application id"),
           ("filename" = String, Query, description = "File name with its extension"),
           ("item" = Option<String>, Query, description = "Checklist item the file supports")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = DocumentOut), (status = 400, body = crate::error::Problem), (status = 413, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
/// Attaches an evidence file (the raw bytes as the body).
pub async fn api_document(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> AppResult<(StatusCode, Json<DocumentOut>)> {
    let app = application_for(&state, &ctx, &id).await?;
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let (name, media_type) = checked_upload(&tr, &q.filename, &body)
        .map_err(|m| ctx.err(AppError::new(ErrorCode::InvalidInput).detail(m)))?;
    let d = state
        .store
        .add_document(
            &ctx.actor(),
            &app.id,
            &name,
            &media_type,
            &body,
            q.item.as_deref(),
        )
        .await
        .map_err(ctx.store_err())?;
    Ok((
        StatusCode::CREATED,
        Json(DocumentOut {
            id: d.id,
            filename: d.filename,
            media_type: d.media_type,
            size: d.size,
            sha256: d.sha256,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct LicenceOut {
    pub id: String,
    pub reference: String,
    pub product_id: String,
    pub version_id: String,
    pub jurisdiction: String,
    /// active, suspended, revoked or expired.
    pub status: String,
    /// decision or change_control.
    pub basis: String,
    pub outcome: String,
    pub granted_at: String,
    pub expires_on: String,
    pub provinces: Vec<String>,
    pub pilot_only: bool,
    pub monitoring_duties: String,
    /// KPI code and target, the pilot's real-world impact plan: `[["tb_yield", 4.5], ...]`.
    // Documented as pairs of any value: API fuzzers (schemathesis) reject the tuple's
    // `prefixItems` form although OpenAPI 3.1 allows it.
    #[schema(value_type = Vec<Vec<serde_json::Value>>)]
    pub kpis: Vec<(String, f64)>,
}

fn licence_out(a: Authorisation) -> LicenceOut {
    let c = a.conditions();
    LicenceOut {
        provinces: c.as_ref().map(|c| c.provinces.clone()).unwrap_or_default(),
        pilot_only: c.as_ref().is_some_and(|c| c.pilot_only),
        monitoring_duties: c
            .as_ref()
            .map(|c| c.monitoring_duties.clone())
            .unwrap_or_default(),
        kpis: c
            .map(|c| c.kpis.into_iter().map(|k| (k.kpi, k.target)).collect())
            .unwrap_or_default(),
        id: a.id,
        reference: a.reference,
        product_id: a.product_id,
        version_id: a.version_id,
        jurisdiction: a.jurisdiction,
        status: a.status,
        basis: a.basis,
        outcome: a.outcome,
        granted_at: a.granted_at,
        expires_on: a.expires_on,
    }
}

#[utoipa::path(get, path = "/api/v1/licences", tag = "appraisal",
    responses((status = 200, body = [LicenceOut])))]
/// The public licence register, newest first.
pub async fn api_licences(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Json<Vec<LicenceOut>>> {
    let list = state
        .store
        .all_authorisations()
        .await
        .map_err(ctx.store_err())?;
    Ok(Json(list.into_iter().map(licence_out).collect()))
}

#[utoipa::path(get, path = "/api/v1/licences/{id}", tag = "appraisal",
    params(("id" = String, Path, description = "Licence id")),
    responses((status = 200, body = LicenceOut), (status = 404, body = crate::error::Problem)))]
/// One licence with its conditions.
pub async fn api_licence(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Json<LicenceOut>> {
    Ok(Json(licence_out(licence_or_404(&state, &ctx, &id).await?)))
}

#[derive(Deserialize, ToSchema)]
pub struct LicenceActionIn {
    /// suspend, reinstate or revoke.
    pub action: String,
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/licences/{id}/actions", tag = "appraisal",
    params(("id" = String, Path, description = "Licence id")),
    request_body = LicenceActionIn,
    responses((status = 200, body = LicenceOut), (status = 400, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
/// Suspends, reinstates or revokes a licence (administrators), with a reason.
pub async fn api_licence_action(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Result<ApiJson<LicenceActionIn>, AppError>,
) -> AppResult<Json<LicenceOut>> {
    let ApiJson(input) = body.map_err(|e| ctx.err(e))?;
    let cmd = match input.action.parse::<LicenceCommand>() {
        Ok(c) if c != LicenceCommand::Expire => c,
        _ => {
            return Err(ctx.err(
                AppError::new(ErrorCode::InvalidInput)
                    .detail("action must be suspend, reinstate or revoke"),
            ))
        }
    };
    let a = state
        .store
        .change_licence(&ctx.actor(), &id, cmd, &input.reason)
        .await
        .map_err(ctx.store_err())?;
    Ok(Json(licence_out(a)))
}

// ---- decision letter ----

fn letter_date(lang: Lang, at: &str) -> String {
    let date = iso_date::parse(at.get(..10).unwrap_or(""));
    match (lang, date) {
        (Lang::Vi, Ok(d)) => format!(
            "Hà Nội, ngày {} tháng {} năm {}",
            d.day(),
            u8::from(d.month()),
            d.year()
        ),
        (Lang::En, Ok(d)) => format!("Hanoi, {}", iso_date::format(d)),
        (_, Err(_)) => at.to_string(),
    }
}

/// The decision letter for a licence, as one document for HTML and PDF.
async fn letter_document(
    state: &AppState,
    ctx: &Ctx,
    tr: &Tr,
    a: &Authorisation,
) -> AppResult<vigilo_report::Document> {
    use vigilo_report::{Block, Document, Inline, Letterhead, Signature};
    let store = &state.store;
    let lang = tr.lang;
    let product = store
        .product(&a.product_id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let version = store
        .version(&a.version_id)
        .await
        .map_err(ctx.store_err())?
        .map(|v| v.version)
        .unwrap_or_default();
    let maker = store
        .organisation(&product.manufacturer_id)
        .await
        .map_err(ctx.store_err())?
        .map(|o| match lang {
            Lang::En => o.name_en.unwrap_or(o.name),
            Lang::Vi => o.name,
        })
        .unwrap_or_default();
    let app = match &a.application_id {
        Some(id) => store.application(id).await.map_err(ctx.store_err())?,
        None => None,
    };
    let conditions = conditions_view(state, ctx, tr, a.conditions()).await?;
    let outcome = a
        .outcome
        .parse::<DecisionOutcome>()
        .map(|o| o.label(lang).to_string())
        .unwrap_or_default();
    let mut blocks = vec![Block::Letterhead(Letterhead {
        authority: vec![tr.t("authority-name").to_uppercase()],
        reference: Some(format!("{}: {}", tr.t("letter-number"), a.reference)),
        motto: match lang {
            Lang::Vi => vec![
                "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM".into(),
                "Độc lập - Tự do - Hạnh phúc".into(),
            ],
            Lang::En => Vec::new(),
        },
        place_date: Some(letter_date(lang, &a.granted_at)),
    })];
    blocks.push(Block::paragraph(
        tr.ta(
            "letter-considering",
            &[
                (
                    "dossier",
                    app.as_ref()
                        .map(|x| x.reference.clone())
                        .unwrap_or_default(),
                ),
                ("maker", maker.clone()),
                ("product", product.name.clone()),
                ("version", version.clone()),
            ],
        ),
    ));
    blocks.push(Block::heading(1, tr.t("letter-decides")));
    blocks.push(Block::KeyValue(vec![
        (tr.t("app-product"), format!("{} {}", product.name, version)),
        (tr.t("app-vendor"), maker),
        (tr.t("app-decision"), outcome),
        (tr.t("lic-number"), a.reference.clone()),
        (
            tr.t("lic-granted-on"),
            a.granted_at.chars().take(10).collect(),
        ),
        (tr.t("lic-expires"), a.expires_on.clone()),
    ]));
    blocks.push(Block::heading(1, tr.t("letter-conditions")));
    let mut items = vec![vec![Inline::plain(format!(
        "{}: {}",
        tr.t("lic-provinces"),
        conditions.provinces
    ))]];
    if conditions.pilot_only {
        items.push(vec![Inline::plain(tr.t("lic-pilot-only"))]);
    }
    if !conditions.duties.is_empty() {
        items.push(vec![Inline::plain(format!(
            "{}: {}",
            tr.t("lic-duties"),
            conditions.duties
        ))]);
    }
    for (kpi, target) in &conditions.kpis {
        items.push(vec![
            Inline::plain(tr.t("letter-kpi")),
            Inline::bold(format!(" {kpi} ≥ {target}")),
        ]);
    }
    blocks.push(Block::List(items));
    if let Some(reasons) = app.as_ref().and_then(|x| x.decision_reasons.clone()) {
        blocks.push(Block::heading(1, tr.t("app-decision-reasons")));
        blocks.push(Block::paragraph(reasons));
    }
    blocks.push(Block::paragraph(tr.t("letter-duties-general")));
    blocks.push(Block::Signature(Signature {
        place_date: None,
        title: vec![tr.t("letter-signer-title")],
        name: tr.t("letter-signer-note"),
    }));
    Ok(Document {
        lang: match lang {
            Lang::Vi => vigilo_report::Lang::Vi,
            Lang::En => vigilo_report::Lang::En,
        },
        title: tr.t("letter-title"),
        subtitle: Some(format!("{} {}", product.name, version)),
        meta: Vec::new(),
        created: vigilo_store::parse_time(&a.granted_at),
        author: Some(tr.t("authority-name")),
        footer: Some(format!("{} · /licences/{}", a.reference, a.id)),
        blocks,
    })
}

#[derive(Template)]
#[template(path = "letter.html")]
struct LetterPage {
    l: Layout,
    id: String,
    body: String,
}

pub async fn letter_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let a = licence_or_404(&state, &ctx, &id).await?;
    let l = Layout::new(&state, &ctx);
    let doc = letter_document(&state, &ctx, &l.tr, &a).await?;
    let body = vigilo_report::to_html(&doc);
    render(&LetterPage { l, id: a.id, body }, &ctx, StatusCode::OK)
}

pub async fn letter_pdf(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let a = licence_or_404(&state, &ctx, &id).await?;
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let doc = letter_document(&state, &ctx, &tr, &a).await?;
    crate::pdf_response(
        &ctx,
        doc,
        &format!("{}-{}.pdf", a.reference, tr.lang.code()),
    )
    .await
}
