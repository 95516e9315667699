//! Registering products (vendors) and reviewing them for the directory
//! (reviewers): pages and JSON API.

use crate::ctx::Ctx;
use crate::directory::{facet_label, risk_view, RiskView};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::extract::{ApiJson, PageForm};
use crate::i18n::Tr;
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use vigilo_core::classification::{
    apply_override, classify, validate_override, Autonomy, ClassificationAnswers, IntendedUsers,
    Override, OverrideField, Significance, Situation,
};
use vigilo_core::directory::{
    AiKind, ClaimedMetric, ClinicalArea, EntrySource, FieldError, InputModality, ModelCard,
    VersionCommand, VersionLabel,
};
use vigilo_core::Role;
use vigilo_store::{NewProduct, Product, ProductVersion, StoreError};

/// Field errors in the user's language, one sentence each.
fn field_messages(tr: &Tr, errors: &[FieldError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            tr.ta(
                &format!("field-{}", e.code),
                &[("field", e.field.clone()), ("line", String::new())],
            )
        })
        .collect()
}

fn own_org(ctx: &Ctx) -> AppResult<String> {
    ctx.user
        .as_ref()
        .and_then(|u| u.organisation_id.clone())
        .ok_or_else(|| {
            ctx.err(AppError::new(ErrorCode::Forbidden).detail("your account has no organisation"))
        })
}

/// The product if the caller may manage it: its vendor, or a reviewer or admin.
async fn product_for(state: &AppState, ctx: &Ctx, id: &str) -> AppResult<Product> {
    let p = state
        .store
        .product(id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let allowed = match ctx.role() {
        Role::Reviewer | Role::Admin => true,
        Role::Vendor => {
            ctx.user.as_ref().and_then(|u| u.organisation_id.as_deref())
                == Some(p.manufacturer_id.as_str())
        }
        _ => false,
    };
    if !allowed {
        // Another vendor's product: answer as if it did not exist.
        return Err(ctx.err(AppError::not_found()));
    }
    Ok(p)
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

fn choices<T: Copy>(
    all: &[T],
    code: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> String,
) -> Vec<Choice> {
    all.iter()
        .map(|v| Choice {
            value: code(*v).to_string(),
            label: label(*v),
        })
        .collect()
}

pub struct ProductRow {
    pub id: String,
    pub name: String,
    pub area: String,
    pub versions: String,
    pub public: bool,
}

#[derive(Template)]
#[template(path = "vendor.html")]
struct VendorPage {
    l: Layout,
    products: Vec<ProductRow>,
    areas: Vec<Choice>,
    modalities: Vec<Choice>,
    kinds: Vec<Choice>,
    errors: Vec<String>,
    form: ProductForm,
    /// Incident reports about the vendor's products waiting for its answer (receipt, id, date).
    awaiting: Vec<(String, String, String)>,
}

#[derive(Deserialize, Default, Clone)]
pub struct ProductForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub clinical_area: String,
    #[serde(default)]
    pub input_modality: String,
    #[serde(default)]
    pub ai_kind: String,
    #[serde(default)]
    pub country: String,
}

fn vocab_choices(tr: &Tr) -> (Vec<Choice>, Vec<Choice>, Vec<Choice>) {
    let lang = tr.lang;
    (
        choices(
            ClinicalArea::ALL,
            |v| v.code(),
            |v| v.label(lang).to_string(),
        ),
        choices(
            InputModality::ALL,
            |v| v.code(),
            |v| v.label(lang).to_string(),
        ),
        choices(AiKind::ALL, |v| v.code(), |v| v.label(lang).to_string()),
    )
}

async fn vendor_page(
    state: &AppState,
    ctx: &Ctx,
    errors: Vec<String>,
    form: ProductForm,
) -> AppResult<Response> {
    let org = own_org(ctx)?;
    let l = Layout::new(state, ctx);
    let tr = l.tr.clone();
    let mut products = Vec::new();
    for p in state
        .store
        .products_of(&org)
        .await
        .map_err(|e| ctx.err(e.into()))?
    {
        let versions = state
            .store
            .versions(&p.id)
            .await
            .map_err(|e| ctx.err(e.into()))?;
        let public = versions.iter().any(|v| v.status == "published");
        products.push(ProductRow {
            area: facet_label(&tr, vigilo_store::Facet::ClinicalArea, &p.clinical_area),
            versions: versions
                .iter()
                .map(|v| format!("{} ({})", v.version, status_label(&tr, v)))
                .collect::<Vec<_>>()
                .join(", "),
            id: p.id,
            name: p.name,
            public,
        });
    }
    let awaiting = state
        .store
        .awaiting_manufacturer(&org)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .into_iter()
        .map(|v| (v.incident.receipt, v.incident.id, v.incident.received_on))
        .collect();
    let (areas, modalities, kinds) = vocab_choices(&tr);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(
        &VendorPage {
            l,
            products,
            areas,
            modalities,
            kinds,
            errors,
            form,
            awaiting,
        },
        ctx,
        status,
    )
}

fn status_label(tr: &Tr, v: &ProductVersion) -> String {
    v.status
        .parse::<vigilo_core::directory::VersionStatus>()
        .map(|s| s.label(tr.lang).to_string())
        .unwrap_or_else(|_| v.status.clone())
}

pub async fn vendor_home(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    vendor_page(
        &state,
        &ctx,
        Vec::new(),
        ProductForm {
            country: "VN".into(),
            ..ProductForm::default()
        },
    )
    .await
}

fn parse_product(form: &ProductForm, org: String) -> Result<NewProduct, Vec<FieldError>> {
    let mut errors = Vec::new();
    let area = form.clinical_area.parse::<ClinicalArea>();
    let modality = form.input_modality.parse::<InputModality>();
    let kind = form.ai_kind.parse::<AiKind>();
    if form.name.trim().is_empty() {
        errors.push(FieldError {
            field: "name".into(),
            code: "required",
        });
    }
    if area.is_err() {
        errors.push(FieldError {
            field: "clinical_area".into(),
            code: "required",
        });
    }
    if modality.is_err() {
        errors.push(FieldError {
            field: "input_modality".into(),
            code: "required",
        });
    }
    if kind.is_err() {
        errors.push(FieldError {
            field: "ai_kind".into(),
            code: "required",
        });
    }
    match (area, modality, kind) {
        (Ok(clinical_area), Ok(input_modality), Ok(ai_kind)) if errors.is_empty() => {
            Ok(NewProduct {
                manufacturer_id: org,
                name: form.name.clone(),
                name_en: Some(form.name_en.clone()),
                clinical_area,
                input_modality,
                ai_kind,
                country: if form.country.trim().is_empty() {
                    "VN".into()
                } else {
                    form.country.clone()
                },
            })
        }
        _ => Err(errors),
    }
}

/// Store refusals a person can fix, as a message.
fn fixable(e: StoreError) -> Result<String, StoreError> {
    match e {
        StoreError::Invalid { .. } | StoreError::Conflict { .. } => Ok(e.to_string()),
        other => Err(other),
    }
}

pub async fn vendor_create_product(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(form): PageForm<ProductForm>,
) -> AppResult<Response> {
    let org = own_org(&ctx)?;
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let new = match parse_product(&form, org) {
        Ok(n) => n,
        Err(errs) => return vendor_page(&state, &ctx, field_messages(&tr, &errs), form).await,
    };
    match state.store.create_product(&ctx.actor(), new).await {
        Ok(p) => Ok(Redirect::to(&format!("/vendor/products/{}", p.id)).into_response()),
        Err(e) => {
            let msg = fixable(e).map_err(|e| ctx.err(e.into()))?;
            vendor_page(&state, &ctx, vec![msg], form).await
        }
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct VersionForm {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub intended_use: String,
    #[serde(default)]
    pub intended_use_en: String,
    #[serde(default)]
    pub intended_users: String,
    #[serde(default)]
    pub target_population: String,
    #[serde(default)]
    pub training_data: String,
    #[serde(default)]
    pub performance: String,
    #[serde(default)]
    pub subgroups: String,
    #[serde(default)]
    pub known_limitations: String,
    #[serde(default)]
    pub change_control_plan: String,
    #[serde(default)]
    pub languages: String,
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

fn parse_number(s: &str) -> Option<f64> {
    // Vietnamese writes decimals with a comma.
    s.trim().replace(',', ".").parse::<f64>().ok()
}

/// Reads the performance lines `metric; value; low; high; dataset`.
fn parse_performance(text: &str) -> Result<Vec<ClaimedMetric>, Vec<(usize, FieldError)>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split(';').map(str::trim).collect();
        if parts.len() != 5 {
            errors.push((
                i + 1,
                FieldError {
                    field: "performance".into(),
                    code: "bad_line",
                },
            ));
            continue;
        }
        let value = parse_number(parts[1]);
        let lo = if parts[2].is_empty() {
            None
        } else {
            parse_number(parts[2]).or(Some(f64::NAN))
        };
        let hi = if parts[3].is_empty() {
            None
        } else {
            parse_number(parts[3]).or(Some(f64::NAN))
        };
        match value {
            Some(v) => out.push(ClaimedMetric {
                metric: parts[0].into(),
                value: v,
                ci_low: lo,
                ci_high: hi,
                dataset: parts[4].into(),
            }),
            None => errors.push((
                i + 1,
                FieldError {
                    field: "performance".into(),
                    code: "not_a_number",
                },
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn version_from_form(
    tr: &Tr,
    product: &Product,
    form: &VersionForm,
) -> Result<(VersionLabel, ModelCard), Vec<String>> {
    let mut messages = Vec::new();
    let label = VersionLabel::parse(&form.version)
        .map_err(|e| messages.push(field_messages(tr, &[e]).join("")))
        .ok();
    let performance = match parse_performance(&form.performance) {
        Ok(p) => p,
        Err(errs) => {
            for (line, e) in errs {
                messages.push(tr.ta(
                    &format!("field-{}", e.code),
                    &[
                        ("field", tr.t("form-performance")),
                        ("line", line.to_string()),
                    ],
                ));
            }
            Vec::new()
        }
    };
    let card = ModelCard {
        intended_use: form.intended_use.clone(),
        intended_use_en: form.intended_use_en.clone(),
        intended_users: form.intended_users.clone(),
        target_population: form.target_population.clone(),
        clinical_area: product.clinical_area.parse().unwrap_or(ClinicalArea::Other),
        input_modality: product
            .input_modality
            .parse()
            .unwrap_or(InputModality::OtherModality),
        ai_kind: product.ai_kind.parse().unwrap_or(AiKind::Locked),
        training_data: form.training_data.clone(),
        claimed_performance: performance,
        subgroups_reported: split_list(&form.subgroups),
        known_limitations: form.known_limitations.clone(),
        change_control_plan: form.change_control_plan.clone(),
        languages: split_list(&form.languages),
    };
    if let Err(errs) = card.validate() {
        messages.extend(field_messages(tr, &errs));
    }
    match label {
        Some(l) if messages.is_empty() => Ok((l, card)),
        _ => Err(messages),
    }
}

#[derive(Template)]
#[template(path = "vendor_product.html")]
struct VendorProductPage {
    l: Layout,
    p: Product,
    area: String,
    versions: Vec<(String, String, String)>,
    errors: Vec<String>,
    form: VersionForm,
}

async fn vendor_product_page(
    state: &AppState,
    ctx: &Ctx,
    p: Product,
    errors: Vec<String>,
    form: VersionForm,
) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let tr = l.tr.clone();
    let versions = state
        .store
        .versions(&p.id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .iter()
        .map(|v| {
            (
                v.version.clone(),
                status_label(&tr, v),
                v.created_at.chars().take(10).collect(),
            )
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let area = facet_label(&tr, vigilo_store::Facet::ClinicalArea, &p.clinical_area);
    render(
        &VendorProductPage {
            l,
            p,
            area,
            versions,
            errors,
            form,
        },
        ctx,
        status,
    )
}

pub async fn vendor_product(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let p = product_for(&state, &ctx, &id).await?;
    vendor_product_page(&state, &ctx, p, Vec::new(), VersionForm::default()).await
}

pub async fn vendor_create_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<VersionForm>,
) -> AppResult<Response> {
    let p = product_for(&state, &ctx, &id).await?;
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let (label, card) = match version_from_form(&tr, &p, &form) {
        Ok(v) => v,
        Err(msgs) => return vendor_product_page(&state, &ctx, p, msgs, form).await,
    };
    match state
        .store
        .create_version(&ctx.actor(), &p.id, &label, &card)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/vendor/products/{}", p.id)).into_response()),
        Err(e) => {
            let msg = fixable(e).map_err(|e| ctx.err(e.into()))?;
            vendor_product_page(&state, &ctx, p, vec![msg], form).await
        }
    }
}

// ---- reviewers ----

pub struct DraftRow {
    pub version_id: String,
    pub product_id: String,
    pub product: String,
    pub version: String,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    l: Layout,
    drafts: Vec<DraftRow>,
}

pub async fn review_home(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let mut drafts = Vec::new();
    for v in state
        .store
        .draft_versions()
        .await
        .map_err(|e| ctx.err(e.into()))?
    {
        let name = state
            .store
            .product(&v.product_id)
            .await
            .map_err(|e| ctx.err(e.into()))?
            .map(|p| p.name)
            .unwrap_or_default();
        drafts.push(DraftRow {
            version_id: v.id,
            product_id: v.product_id,
            product: name,
            version: v.version,
            created_at: v.created_at.chars().take(10).collect(),
        });
    }
    render(
        &ReviewPage {
            l: Layout::new(&state, &ctx),
            drafts,
        },
        &ctx,
        StatusCode::OK,
    )
}

pub struct VersionAction {
    pub id: String,
    pub version: String,
    pub status: String,
    pub can_publish: bool,
    pub can_withdraw: bool,
}

#[derive(Template)]
#[template(path = "review_product.html")]
struct ReviewProductPage {
    l: Layout,
    p: Product,
    versions: Vec<VersionAction>,
    risk: Option<RiskView>,
    situations: Vec<Choice>,
    significances: Vec<Choice>,
    autonomies: Vec<Choice>,
    users: Vec<Choice>,
    fields: Vec<Choice>,
    answers: Option<ClassificationAnswers>,
    errors: Vec<String>,
}

impl ReviewProductPage {
    fn selected(&self, which: &str, value: &str) -> bool {
        let Some(a) = self.answers else { return false };
        match which {
            "situation" => a.situation.as_str() == value,
            "significance" => a.significance.as_str() == value,
            "autonomy" => a.autonomy.as_str() == value,
            "users" => a.users.as_str() == value,
            _ => false,
        }
    }
    fn generative(&self) -> bool {
        self.answers.is_some_and(|a| a.generative)
    }
}

fn stored_answers(p: &Product) -> Option<ClassificationAnswers> {
    let v: serde_json::Value = serde_json::from_str(p.classification_json.as_deref()?).ok()?;
    serde_json::from_value(v.get("answers")?.clone()).ok()
}

async fn review_product_page(
    state: &AppState,
    ctx: &Ctx,
    p: Product,
    errors: Vec<String>,
) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let tr = l.tr.clone();
    let versions = state
        .store
        .versions(&p.id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .iter()
        .map(|v| VersionAction {
            id: v.id.clone(),
            version: v.version.clone(),
            status: status_label(&tr, v),
            can_publish: v.status == "draft",
            can_withdraw: v.status == "published",
        })
        .collect();
    let ans = |code: &str| tr.t(&format!("ans-{code}"));
    let page = ReviewProductPage {
        risk: risk_view(&tr, &p),
        answers: stored_answers(&p),
        situations: choices(Situation::ALL, |v| v.as_str(), |v| ans(v.as_str())),
        significances: choices(Significance::ALL, |v| v.as_str(), |v| ans(v.as_str())),
        autonomies: choices(Autonomy::ALL, |v| v.as_str(), |v| ans(v.as_str())),
        users: choices(IntendedUsers::ALL, |v| v.as_str(), |v| ans(v.as_str())),
        fields: choices(
            OverrideField::ALL,
            |v| v.as_str(),
            |v| tr.t(&format!("ovr-{}", v.as_str())),
        ),
        versions,
        errors,
        p,
        l,
    };
    let status = if page.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(&page, ctx, status)
}

pub async fn review_product(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let p = product_for(&state, &ctx, &id).await?;
    review_product_page(&state, &ctx, p, Vec::new()).await
}

async fn change_version(
    state: &AppState,
    ctx: &Ctx,
    version_id: &str,
    cmd: VersionCommand,
) -> AppResult<Response> {
    let v = state
        .store
        .version(version_id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let p = product_for(state, ctx, &v.product_id).await?;
    match state
        .store
        .change_version_status(&ctx.actor(), version_id, cmd)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/review/products/{}", p.id)).into_response()),
        Err(e) => {
            let msg = fixable(e).map_err(|e| ctx.err(e.into()))?;
            review_product_page(state, ctx, p, vec![msg]).await
        }
    }
}

pub async fn review_publish(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    change_version(&state, &ctx, &id, VersionCommand::Publish).await
}

pub async fn review_withdraw(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    change_version(&state, &ctx, &id, VersionCommand::Withdraw).await
}

#[derive(Deserialize, Default, Clone, ToSchema)]
pub struct ClassifyForm {
    /// critical, serious or non_serious
    pub situation: String,
    /// treat_or_diagnose, drive_clinical_management or inform_clinical_management
    pub significance: String,
    /// clinician_in_the_loop or autonomous
    pub autonomy: String,
    /// Any value means yes (HTML checkbox); absent means no.
    #[serde(default)]
    pub generative: Option<String>,
    /// healthcare_professionals, patients or both
    pub users: String,
    /// confirm (default) or override
    #[serde(default)]
    pub decision: String,
    #[serde(default)]
    pub override_field: String,
    #[serde(default)]
    pub override_to: String,
    #[serde(default)]
    pub reason: String,
}

/// Computes, and with an override checks and applies, the classification.
fn decide(form: &ClassifyForm) -> Result<(serde_json::Value, String, &'static str), String> {
    let answers = ClassificationAnswers {
        situation: form
            .situation
            .parse()
            .map_err(|e: vigilo_core::classification::UnknownCode| e.to_string())?,
        significance: form
            .significance
            .parse()
            .map_err(|e: vigilo_core::classification::UnknownCode| e.to_string())?,
        autonomy: form
            .autonomy
            .parse()
            .map_err(|e: vigilo_core::classification::UnknownCode| e.to_string())?,
        generative: form
            .generative
            .as_deref()
            .is_some_and(|g| !g.is_empty() && g != "false" && g != "0"),
        users: form
            .users
            .parse()
            .map_err(|e: vigilo_core::classification::UnknownCode| e.to_string())?,
    };
    let computed = classify(&answers);
    if form.decision == "override" {
        let field: OverrideField = form
            .override_field
            .parse()
            .map_err(|e: vigilo_core::classification::UnknownCode| e.to_string())?;
        let o = Override {
            field,
            from: computed.value_of(field).as_str().to_string(),
            to: form.override_to.clone(),
            reason: form.reason.clone(),
        };
        let checked = validate_override(&computed, &o).map_err(|e| e.to_string())?;
        let result = apply_override(&computed, &checked);
        let class = result.vn_device_class.as_str().to_ascii_uppercase();
        Ok((
            serde_json::json!({"answers": answers, "computed": computed, "result": result, "override": checked}),
            class,
            "overridden",
        ))
    } else {
        let class = computed.vn_device_class.as_str().to_ascii_uppercase();
        Ok((
            serde_json::json!({"answers": answers, "computed": computed, "result": computed}),
            class,
            "confirmed",
        ))
    }
}

pub async fn review_classify(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<ClassifyForm>,
) -> AppResult<Response> {
    let p = product_for(&state, &ctx, &id).await?;
    let (json, class, status) = match decide(&form) {
        Ok(v) => v,
        Err(msg) => return review_product_page(&state, &ctx, p, vec![msg]).await,
    };
    match state
        .store
        .set_classification(&ctx.actor(), &p.id, &json, &class, status)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/review/products/{}", p.id)).into_response()),
        Err(e) => {
            let msg = fixable(e).map_err(|e| ctx.err(e.into()))?;
            review_product_page(&state, &ctx, p, vec![msg]).await
        }
    }
}

#[derive(Deserialize)]
pub struct RelianceForm {
    reference: String,
    rationale: String,
}

pub async fn review_reliance(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    PageForm(form): PageForm<RelianceForm>,
) -> AppResult<Response> {
    let p = product_for(&state, &ctx, &id).await?;
    let reference = state
        .store
        .foreign_reference_by_number(EntrySource::FdaAiList, &form.reference)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let Some(reference) = reference else {
        let msg = format!("no FDA list entry has submission number '{}'; import the list first (vigilo import fda-ai-list FILE)", form.reference.trim());
        return review_product_page(&state, &ctx, p, vec![msg]).await;
    };
    match state
        .store
        .link_reliance(&ctx.actor(), &p.id, &reference.id, &form.rationale)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/review/products/{}", p.id)).into_response()),
        Err(e) => {
            let msg = fixable(e).map_err(|e| ctx.err(e.into()))?;
            review_product_page(&state, &ctx, p, vec![msg]).await
        }
    }
}

// ---- JSON API ----

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductIn {
    pub name: String,
    pub name_en: Option<String>,
    /// A clinical area code, e.g. tuberculosis_screening
    pub clinical_area: String,
    /// imaging, signals, structured_record, laboratory, text, audio, multimodal, other
    pub input_modality: String,
    /// locked, continuously_learning, generative
    pub ai_kind: String,
    /// ISO 3166-1 alpha-2; default VN
    pub country: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProductOut {
    pub id: String,
    pub manufacturer_id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub clinical_area: String,
    pub input_modality: String,
    pub ai_kind: String,
    pub country: String,
    pub licence_status: String,
    pub risk_class: Option<String>,
    pub classification_status: String,
    pub created_at: String,
}

impl From<Product> for ProductOut {
    fn from(p: Product) -> Self {
        ProductOut {
            id: p.id,
            manufacturer_id: p.manufacturer_id,
            name: p.name,
            name_en: p.name_en,
            clinical_area: p.clinical_area,
            input_modality: p.input_modality,
            ai_kind: p.ai_kind,
            country: p.country,
            licence_status: p.licence_status,
            risk_class: p.risk_class,
            classification_status: p.classification_status,
            created_at: p.created_at,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/products", tag = "products",
    request_body = ProductIn,
    responses((status = 201, body = ProductOut), (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
/// Registers a product for the caller's organisation (vendors).
pub async fn api_create_product(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    body: Result<ApiJson<ProductIn>, AppError>,
) -> AppResult<(StatusCode, Json<ProductOut>)> {
    let ApiJson(input) = body.map_err(|e| ctx.err(e))?;
    let org = own_org(&ctx)?;
    let form = ProductForm {
        name: input.name,
        name_en: input.name_en.unwrap_or_default(),
        clinical_area: input.clinical_area,
        input_modality: input.input_modality,
        ai_kind: input.ai_kind,
        country: input.country.unwrap_or_default(),
    };
    let new = parse_product(&form, org).map_err(|errs| {
        let list: Vec<String> = errs
            .iter()
            .map(|e| format!("{} ({})", e.field, e.code))
            .collect();
        ctx.err(AppError::invalid(list.join(", ")))
    })?;
    let p = state
        .store
        .create_product(&ctx.actor(), new)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok((StatusCode::CREATED, Json(p.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionIn {
    pub version: String,
    /// The structured model card (see ModelCard in docs).
    #[schema(value_type = Object)]
    pub model_card: ModelCard,
}

#[derive(Serialize, ToSchema)]
pub struct VersionOut {
    pub id: String,
    pub product_id: String,
    pub version: String,
    /// draft, published or withdrawn
    pub status: String,
    pub created_at: String,
    pub published_at: Option<String>,
}

impl From<ProductVersion> for VersionOut {
    fn from(v: ProductVersion) -> Self {
        VersionOut {
            id: v.id,
            product_id: v.product_id,
            version: v.version,
            status: v.status,
            created_at: v.created_at,
            published_at: v.published_at,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/products/{id}/versions", tag = "products",
    params(("id" = String, Path, description = "Product id")),
    request_body = VersionIn,
    responses((status = 201, body = VersionOut), (status = 400, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
/// Adds a draft version with its model card.
pub async fn api_create_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Result<ApiJson<VersionIn>, AppError>,
) -> AppResult<(StatusCode, Json<VersionOut>)> {
    let ApiJson(input) = body.map_err(|e| ctx.err(e))?;
    let p = product_for(&state, &ctx, &id).await?;
    let label = VersionLabel::parse(&input.version)
        .map_err(|e| ctx.err(AppError::invalid(format!("{} ({})", e.field, e.code))))?;
    let v = state
        .store
        .create_version(&ctx.actor(), &p.id, &label, &input.model_card)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok((StatusCode::CREATED, Json(v.into())))
}

#[utoipa::path(post, path = "/api/v1/versions/{id}/publish", tag = "products",
    params(("id" = String, Path, description = "Version id")),
    responses((status = 200, body = VersionOut), (status = 400, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
/// Publishes a draft version to the public directory (reviewers).
pub async fn api_publish_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Json<VersionOut>> {
    let v = state
        .store
        .change_version_status(&ctx.actor(), &id, VersionCommand::Publish)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok(Json(v.into()))
}

#[derive(Serialize, ToSchema)]
pub struct ClassificationOut {
    /// confirmed or overridden
    pub status: String,
    /// Vietnam device class A to D
    pub risk_class: String,
    #[schema(value_type = Object)]
    pub classification: serde_json::Value,
}

#[utoipa::path(post, path = "/api/v1/products/{id}/classification", tag = "products",
    params(("id" = String, Path, description = "Product id")),
    request_body = ClassifyForm,
    responses((status = 200, body = ClassificationOut), (status = 400, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
/// Classifies a product from the reviewer's answers, confirming or overriding one result.
pub async fn api_classify(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Result<ApiJson<ClassifyForm>, AppError>,
) -> AppResult<Json<ClassificationOut>> {
    let ApiJson(form) = body.map_err(|e| ctx.err(e))?;
    let p = product_for(&state, &ctx, &id).await?;
    let (json, class, status) = decide(&form).map_err(|m| ctx.err(AppError::invalid(m)))?;
    state
        .store
        .set_classification(&ctx.actor(), &p.id, &json, &class, status)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok(Json(ClassificationOut {
        status: status.into(),
        risk_class: class,
        classification: json,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn performance_lines() {
        let ok =
            parse_performance("sensitivity; 0,91; 0.88; 0.94; Hà Nội n=2000\n\nAUROC;0.8;;;cohort")
                .expect("parse");
        assert_eq!(ok.len(), 2);
        assert!((ok[0].value - 0.91).abs() < 1e-12);
        assert_eq!(ok[1].ci_low, None);
        let bad = parse_performance("sens; x; 1; 2; d\nonly;three;parts").unwrap_err();
        assert_eq!(
            bad.iter().map(|(l, e)| (*l, e.code)).collect::<Vec<_>>(),
            vec![(1, "not_a_number"), (2, "bad_line")]
        );
    }

    #[test]
    fn decisions() {
        let form = ClassifyForm {
            situation: "critical".into(),
            significance: "treat_or_diagnose".into(),
            autonomy: "clinician_in_the_loop".into(),
            generative: None,
            users: "healthcare_professionals".into(),
            decision: "confirm".into(),
            ..ClassifyForm::default()
        };
        let (_, class, status) = decide(&form).expect("confirm");
        assert_eq!((class.as_str(), status), ("D", "confirmed"));
        let over = ClassifyForm {
            decision: "override".into(),
            override_field: "vn_device_class".into(),
            override_to: "c".into(),
            reason: "short".into(),
            ..form.clone()
        };
        assert!(decide(&over).is_err(), "reason too short");
        let over = ClassifyForm {
            reason: "Phần mềm chỉ hiển thị cảnh báo, bác sĩ quyết định".into(),
            ..over
        };
        let (json, class, status) = decide(&over).expect("override");
        assert_eq!((class.as_str(), status), ("C", "overridden"));
        assert_eq!(json["computed"]["vn_device_class"], "d");
        let bad = ClassifyForm {
            situation: "dire".into(),
            ..form
        };
        assert!(decide(&bad).unwrap_err().contains("critical"));
    }
}
