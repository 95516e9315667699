//! The public Directory: search page and API with facets, product and reference
//! pages, open data (CSV, FHIR DeviceDefinition, Atom feed of changes).

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::i18n::Tr;
use crate::pages::Layout;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;
use vigilo_core::classification::Classification;
use vigilo_core::directory::{
    AiKind, ClinicalArea, EntrySource, InputModality, LicenceStatus, ModelCard,
};
use vigilo_core::Lang;
use vigilo_store::{
    DirectoryEntry, DirectoryPage, DirectoryQuery, Facet, ForeignReference, Product, ProductVersion,
};

/// The parsed query string of a directory search (page or API).
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    pub q: String,
    pub filters: Vec<(Facet, Vec<String>)>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

fn facet_by_name(name: &str) -> Option<Facet> {
    Facet::ALL.iter().copied().find(|f| f.name() == name)
}

impl SearchParams {
    /// Reads `q`, `cursor`, `limit` and any facet name (repeatable); `lang` is the
    /// language switch. Anything else is a mistake worth naming.
    pub fn parse(raw: Option<&str>) -> Result<SearchParams, AppError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| AppError::invalid(format!("query string: {e}")))?;
        let mut p = SearchParams::default();
        let mut filters: BTreeMap<&'static str, (Facet, Vec<String>)> = BTreeMap::new();
        for (k, v) in pairs {
            match k.as_str() {
                "q" => p.q = v.chars().take(500).collect(),
                "cursor" => p.cursor = Some(v).filter(|c| !c.is_empty()),
                "limit" => {
                    let n: i64 = v.parse().map_err(|_| {
                        AppError::invalid(format!("limit: '{v}' is not a whole number"))
                    })?;
                    if !(1..=100).contains(&n) {
                        return Err(AppError::invalid("limit: must be between 1 and 100"));
                    }
                    p.limit = Some(n);
                }
                "lang" => {}
                other => match facet_by_name(other) {
                    Some(f) if !v.is_empty() => {
                        let entry = filters.entry(f.name()).or_insert((f, Vec::new()));
                        if !entry.1.contains(&v) {
                            entry.1.push(v);
                        }
                    }
                    Some(_) => {}
                    None => {
                        let known: Vec<&str> = Facet::ALL.iter().map(|f| f.name()).collect();
                        return Err(AppError::invalid(format!(
                            "unknown parameter '{other}': use q, cursor, limit or a facet ({})",
                            known.join(", ")
                        )));
                    }
                },
            }
        }
        p.filters = filters.into_values().collect();
        Ok(p)
    }

    fn query(&self, default_limit: i64) -> DirectoryQuery {
        DirectoryQuery {
            text: self.q.clone(),
            filters: self.filters.clone(),
            cursor: self.cursor.clone(),
            limit: self.limit.unwrap_or(default_limit),
        }
    }

    fn is_selected(&self, facet: Facet, value: &str) -> bool {
        self.filters
            .iter()
            .any(|(f, vs)| *f == facet && vs.iter().any(|v| v == value))
    }

    /// The query string with one facet value toggled and the cursor dropped.
    fn toggled(&self, facet: Facet, value: &str) -> String {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if !self.q.is_empty() {
            pairs.push(("q".into(), self.q.clone()));
        }
        let mut found = false;
        for (f, vs) in &self.filters {
            for v in vs {
                if *f == facet && v == value {
                    found = true;
                    continue;
                }
                pairs.push((f.name().into(), v.clone()));
            }
        }
        if !found {
            pairs.push((facet.name().into(), value.into()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    fn with_cursor(&self, cursor: &str) -> String {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if !self.q.is_empty() {
            pairs.push(("q".into(), self.q.clone()));
        }
        for (f, vs) in &self.filters {
            for v in vs {
                pairs.push((f.name().into(), v.clone()));
            }
        }
        pairs.push(("cursor".into(), cursor.into()));
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// A facet value's label in the request's language.
pub fn facet_label(tr: &Tr, facet: Facet, value: &str) -> String {
    let lang = tr.lang;
    match facet {
        Facet::ClinicalArea => value
            .parse::<ClinicalArea>()
            .map(|a| a.label(lang).to_string())
            .unwrap_or_else(|_| value.to_string()),
        Facet::LicenceStatus => value
            .parse::<LicenceStatus>()
            .map(|a| a.label(lang).to_string())
            .unwrap_or_else(|_| value.to_string()),
        Facet::Modality => value
            .parse::<InputModality>()
            .map(|a| a.label(lang).to_string())
            .unwrap_or_else(|_| value.to_string()),
        Facet::Source => value
            .parse::<EntrySource>()
            .map(|a| a.label(lang).to_string())
            .unwrap_or_else(|_| value.to_string()),
        Facet::RiskClass if value == "unclassified" => tr.t("dir-risk-unclassified"),
        Facet::RiskClass => tr.ta("dir-risk-class", &[("class", value.to_string())]),
        Facet::Domestic => tr.t(&format!("dir-domestic-{value}")),
        Facet::Country if value == "unknown" => tr.t("dir-country-unknown"),
        Facet::Country => value.to_string(),
    }
}

// ---- JSON API ----

/// One directory entry as the open-data API shows it.
#[derive(Serialize, ToSchema)]
pub struct EntryOut {
    pub id: String,
    /// `local` (registered in Vietnam), a foreign list such as `fda_ai_list`, or `grn_peer` (shared by a GRN member regulator).
    pub source: String,
    pub name: String,
    pub manufacturer: String,
    /// ISO 3166-1 alpha-2, or `unknown` for foreign list entries.
    pub country: String,
    pub domestic: bool,
    pub clinical_area: String,
    /// Vietnam device class A to D, or `unclassified`.
    pub risk_class: String,
    pub licence_status: String,
    pub modality: String,
    pub summary: String,
    pub updated_at: String,
    /// The public page.
    pub url: String,
}

impl From<DirectoryEntry> for EntryOut {
    fn from(e: DirectoryEntry) -> Self {
        EntryOut {
            url: format!("/directory/{}", e.id),
            domestic: e.domestic != 0,
            id: e.id,
            source: e.source,
            name: e.name,
            manufacturer: e.manufacturer,
            country: e.country,
            clinical_area: e.clinical_area,
            risk_class: e.risk_class,
            licence_status: e.licence_status,
            modality: e.modality,
            summary: e.summary,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FacetValueOut {
    pub value: String,
    pub label: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct DirectorySearchOut {
    /// Number of entries matching the text and every filter.
    pub total: i64,
    /// Per facet, the counts over all matches (each facet ignores its own filter).
    pub facets: BTreeMap<String, Vec<FacetValueOut>>,
    pub items: Vec<EntryOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn search_out(page: DirectoryPage, tr: &Tr) -> DirectorySearchOut {
    DirectorySearchOut {
        total: page.total,
        facets: page
            .facets
            .into_iter()
            .map(|(f, counts)| {
                (
                    f.name().to_string(),
                    counts
                        .into_iter()
                        .map(|c| FacetValueOut {
                            label: facet_label(tr, f, &c.value),
                            value: c.value,
                            count: c.count,
                        })
                        .collect(),
                )
            })
            .collect(),
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }
}

#[utoipa::path(get, path = "/api/v1/directory", tag = "directory",
    params(
        ("q" = Option<String>, Query, description = "Words to find, in Vietnamese or English; case and diacritics do not matter"),
        ("clinical_area" = Option<String>, Query, description = "Facet filter; repeat a facet for OR, combine facets for AND. Other facets: risk_class, licence_status, country, domestic (1/0), modality, source"),
        ("cursor" = Option<String>, Query, description = "From next_cursor of the previous page"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
    ),
    responses((status = 200, body = DirectorySearchOut), (status = 400, body = crate::error::Problem)))]
pub async fn api_search(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    RawQuery(raw): RawQuery,
) -> AppResult<Json<DirectorySearchOut>> {
    let params = SearchParams::parse(raw.as_deref()).map_err(|e| ctx.err(e))?;
    let page = state
        .store
        .search_directory(&params.query(20))
        .await
        .map_err(|e| ctx.err(e.into()))?;
    Ok(Json(search_out(
        page,
        &Tr::new(state.i18n.clone(), ctx.lang),
    )))
}

#[utoipa::path(get, path = "/api/v1/directory/{id}", tag = "directory",
    params(("id" = String, Path, description = "Entry id")),
    responses((status = 200, body = EntryOut), (status = 404, body = crate::error::Problem)))]
pub async fn api_entry(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Json<EntryOut>> {
    state
        .store
        .directory_entry(&id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .map(|e| Json(e.into()))
        .ok_or_else(|| {
            ctx.err(AppError::not_found().detail(format!("no directory entry has id '{id}'")))
        })
}

// ---- pages ----

pub struct FacetBlock {
    pub title: String,
    pub values: Vec<FacetLink>,
}

pub struct FacetLink {
    pub label: String,
    pub count: i64,
    pub href: String,
    pub selected: bool,
}

pub struct EntryRow {
    pub id: String,
    pub name: String,
    pub manufacturer: String,
    pub area: String,
    pub risk: String,
    pub licence: String,
    pub foreign: Option<String>,
    pub summary: String,
}

#[derive(Template)]
#[template(path = "directory.html")]
struct DirectoryPageT {
    l: Layout,
    q: String,
    total_label: String,
    facets: Vec<FacetBlock>,
    rows: Vec<EntryRow>,
    next_href: Option<String>,
    has_filters: bool,
}

pub async fn search_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let params = SearchParams::parse(raw.as_deref()).map_err(|e| ctx.err(e))?;
    let page = state
        .store
        .search_directory(&params.query(20))
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let l = Layout::new(&state, &ctx);
    let tr = l.tr.clone();
    let facets = page
        .facets
        .iter()
        .filter(|(_, counts)| !counts.is_empty())
        .map(|(f, counts)| FacetBlock {
            title: tr.t(&format!("facet-{}", f.name())),
            values: counts
                .iter()
                .map(|c| FacetLink {
                    label: facet_label(&tr, *f, &c.value),
                    count: c.count,
                    href: format!("/directory?{}", params.toggled(*f, &c.value)),
                    selected: params.is_selected(*f, &c.value),
                })
                .collect(),
        })
        .collect();
    let rows = page
        .items
        .iter()
        .map(|e| EntryRow {
            id: e.id.clone(),
            name: e.name.clone(),
            manufacturer: e.manufacturer.clone(),
            area: facet_label(&tr, Facet::ClinicalArea, &e.clinical_area),
            risk: facet_label(&tr, Facet::RiskClass, &e.risk_class),
            licence: facet_label(&tr, Facet::LicenceStatus, &e.licence_status),
            foreign: (e.source != EntrySource::Local.code())
                .then(|| facet_label(&tr, Facet::Source, &e.source)),
            summary: e.summary.clone(),
        })
        .collect();
    let page_t = DirectoryPageT {
        total_label: tr.ta("dir-results", &[("count", page.total.to_string())]),
        q: params.q.clone(),
        facets,
        rows,
        next_href: page
            .next_cursor
            .as_deref()
            .map(|c| format!("/directory?{}", params.with_cursor(c))),
        has_filters: !params.filters.is_empty() || !params.q.is_empty(),
        l,
    };
    render(&page_t, &ctx)
}

fn render(t: &impl Template, ctx: &Ctx) -> AppResult<Response> {
    crate::pages::render_page(t, ctx, axum::http::StatusCode::OK)
}

pub struct MetricRow {
    pub metric: String,
    pub value: String,
    pub ci: String,
    pub dataset: String,
}

pub struct VersionRow {
    pub version: String,
    pub status: String,
    pub published_at: String,
}

pub struct RiskView {
    pub status: String,
    pub vn_class: String,
    pub vn_ai: String,
    pub imdrf: String,
    pub eu_mdr: String,
    pub eu_ai: String,
    pub reasoning: Vec<String>,
}

pub struct RelianceRow {
    pub id: String,
    pub reference: String,
    pub device: String,
    pub rationale: String,
}

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPageT {
    l: Layout,
    /// The English name when it differs from the Vietnamese one.
    name_en: Option<String>,
    product: Product,
    manufacturer: String,
    card_title: String,
    card: Option<ModelCard>,
    area: String,
    modality: String,
    ai_kind: String,
    metrics: Vec<MetricRow>,
    versions: Vec<VersionRow>,
    risk: Option<RiskView>,
    licence: String,
    /// Every licence of the product's versions, with its status (the history is on each licence's page).
    licences: Vec<crate::appraisal::LicenceRow>,
    reliance: Vec<RelianceRow>,
    /// Safety notices about the product (public).
    notices: Vec<crate::notices::ProductNotice>,
    /// Early warnings GRN peers sent about a product of this name (staff only).
    warnings: Vec<crate::federation::ReceivedRow>,
    staff: bool,
}

/// A directory entry received from a GRN member regulator.
#[derive(Template)]
#[template(path = "grn_entry.html")]
struct GrnEntryPageT {
    l: Layout,
    g: vigilo_store::ReceivedDirectoryEntry,
    area: String,
    modality: String,
    licence: String,
    ai_kind: String,
    intended_use: String,
    issued: String,
    staff: bool,
    /// Early warnings from the same member about this product (staff only).
    warnings: Vec<crate::federation::ReceivedRow>,
}

#[derive(Template)]
#[template(path = "reference.html")]
struct ReferencePageT {
    l: Layout,
    r: ForeignReference,
    source_url: String,
}

/// The public page of the foreign regulator's record, built from the number.
pub fn fda_url(reference: &str) -> String {
    let base = "https://www.accessdata.fda.gov/scripts/cdrh/cfdocs";
    if reference.starts_with("DEN") {
        format!("{base}/cfpmn/denovo.cfm?id={reference}")
    } else if reference.starts_with('P') {
        let pma = reference.split('/').next().unwrap_or(reference);
        format!("{base}/cfpma/pma.cfm?id={pma}")
    } else {
        format!("{base}/cfPMN/pmn.cfm?ID={reference}")
    }
}

/// The latest published version of a product, if any.
pub fn latest_published(versions: &[ProductVersion]) -> Option<&ProductVersion> {
    versions
        .iter()
        .filter(|v| v.status == "published")
        .max_by(|a, b| a.published_at.cmp(&b.published_at))
}

pub fn risk_view(tr: &Tr, p: &Product) -> Option<RiskView> {
    let json: serde_json::Value = serde_json::from_str(p.classification_json.as_deref()?).ok()?;
    let c: Classification = serde_json::from_value(json.get("result")?.clone()).ok()?;
    let yes_no = |b: bool| tr.t(if b { "yes" } else { "no" });
    Some(RiskView {
        status: tr.t(&format!("prod-risk-status-{}", p.classification_status)),
        vn_class: p
            .risk_class
            .clone()
            .unwrap_or_else(|| c.vn_device_class.as_str().to_string()),
        vn_ai: match tr.lang {
            Lang::Vi => c.vn_ai_tier.label_vi().to_string(),
            Lang::En => c.vn_ai_tier.label_en().to_string(),
        },
        imdrf: c.imdrf.label().to_string(),
        eu_mdr: c.eu_mdr_class.label().to_string(),
        eu_ai: yes_no(c.eu_ai_act_high_risk),
        reasoning: c
            .reasoning
            .iter()
            .map(|r| match tr.lang {
                Lang::Vi => r.vi.clone(),
                Lang::En => r.en.clone(),
            })
            .collect(),
    })
}

pub async fn entry_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let store = &state.store;
    let l = Layout::new(&state, &ctx);
    // A member regulator's entry keeps its page after the member withdrew it: reliance
    // records may cite it.
    if id.starts_with("grn-") {
        let g = store
            .received_directory_entry(&id)
            .await
            .map_err(|e| ctx.err(e.into()))?
            .ok_or_else(|| {
                ctx.err(AppError::not_found().detail(format!("no directory entry has id '{id}'")))
            })?;
        let tr = l.tr.clone();
        let e = &g.entry;
        let warnings = if ctx.is_staff() {
            let mut names = vec![e.name.as_str()];
            names.extend(e.name_en.as_deref());
            crate::federation::received_warnings_about(&state, &ctx, &names, Some(&g.country))
                .await?
        } else {
            Vec::new()
        };
        let page = GrnEntryPageT {
            area: facet_label(&tr, Facet::ClinicalArea, &e.clinical_area),
            modality: facet_label(&tr, Facet::Modality, &e.input_modality),
            licence: facet_label(&tr, Facet::LicenceStatus, &e.licence_status),
            ai_kind: e
                .ai_kind
                .parse::<AiKind>()
                .map(|k| k.label(tr.lang).to_string())
                .unwrap_or_else(|_| e.ai_kind.clone()),
            intended_use: match tr.lang {
                Lang::En if !e.intended_use_en.is_empty() => e.intended_use_en.clone(),
                _ if !e.intended_use.is_empty() => e.intended_use.clone(),
                _ => e.intended_use_en.clone(),
            },
            issued: g.issued_at.chars().take(10).collect(),
            staff: ctx.is_staff(),
            warnings,
            g,
            l,
        };
        return render(&page, &ctx);
    }
    // Only public entries have pages: a draft product is not in the directory.
    let entry = store
        .directory_entry(&id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .ok_or_else(|| {
            ctx.err(AppError::not_found().detail(format!("no directory entry has id '{id}'")))
        })?;
    if entry.source != EntrySource::Local.code() {
        let r = store
            .foreign_reference(&id)
            .await
            .map_err(|e| ctx.err(e.into()))?
            .ok_or_else(|| ctx.err(AppError::not_found()))?;
        let source_url = fda_url(&r.reference);
        return render(&ReferencePageT { l, r, source_url }, &ctx);
    }
    let product = store
        .product(&id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let versions = store.versions(&id).await.map_err(|e| ctx.err(e.into()))?;
    let latest = latest_published(&versions).cloned();
    let card = latest.as_ref().and_then(|v| v.model_card());
    let tr = l.tr.clone();
    let metrics = card
        .as_ref()
        .map(|c| {
            c.claimed_performance
                .iter()
                .map(|m| MetricRow {
                    metric: m.metric.clone(),
                    value: format!("{:.3}", m.value),
                    ci: match (m.ci_low, m.ci_high) {
                        (Some(a), Some(b)) => format!("{a:.3} – {b:.3}"),
                        _ => "—".into(),
                    },
                    dataset: m.dataset.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let reliance = store
        .reliance_of(&id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .into_iter()
        .map(|(link, r)| RelianceRow {
            id: r.id,
            reference: r.reference,
            device: r.device,
            rationale: link.rationale,
        })
        .collect();
    let manufacturer = store
        .organisation(&product.manufacturer_id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .map(|o| o.name)
        .unwrap_or_default();
    let licences = crate::appraisal::product_licences(&state, &ctx, tr.lang, &product.id).await?;
    let notices = crate::notices::product_notices(&state, &ctx, tr.lang, &product.id).await?;
    let peer_warnings = if ctx.is_staff() {
        let mut names = vec![product.name.as_str()];
        names.extend(product.name_en.as_deref());
        crate::federation::received_warnings_about(&state, &ctx, &names, None).await?
    } else {
        Vec::new()
    };
    let page = ProductPageT {
        warnings: peer_warnings,
        staff: ctx.is_staff(),
        notices,
        licences,
        card_title: tr.ta(
            "prod-model-card",
            &[(
                "version",
                latest
                    .as_ref()
                    .map(|v| v.version.clone())
                    .unwrap_or_default(),
            )],
        ),
        area: facet_label(&tr, Facet::ClinicalArea, &product.clinical_area),
        modality: facet_label(&tr, Facet::Modality, &product.input_modality),
        ai_kind: product
            .ai_kind
            .parse::<AiKind>()
            .map(|k| k.label(tr.lang).to_string())
            .unwrap_or_default(),
        licence: facet_label(&tr, Facet::LicenceStatus, &product.licence_status),
        risk: risk_view(&tr, &product),
        versions: versions
            .iter()
            .filter(|v| v.status != "draft")
            .map(|v| VersionRow {
                version: v.version.clone(),
                status: v
                    .status
                    .parse::<vigilo_core::directory::VersionStatus>()
                    .map(|s| s.label(tr.lang).to_string())
                    .unwrap_or_default(),
                published_at: v
                    .published_at
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(10)
                    .collect(),
            })
            .collect(),
        metrics,
        card,
        manufacturer,
        reliance,
        name_en: product.name_en.clone().filter(|en| *en != product.name),
        product,
        l,
    };
    render(&page, &ctx)
}

// ---- open data ----

/// Every public entry matching the query, walking all pages (bounded).
async fn all_matching(
    state: &AppState,
    ctx: &Ctx,
    raw: Option<&str>,
) -> AppResult<Vec<DirectoryEntry>> {
    let mut params = SearchParams::parse(raw).map_err(|e| ctx.err(e))?;
    params.cursor = None;
    let mut out = Vec::new();
    // The directory holds tens of thousands of rows at most; the bound stops a loop.
    for _ in 0..5000 {
        let page = state
            .store
            .search_directory(&params.query(100))
            .await
            .map_err(|e| ctx.err(e.into()))?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => params.cursor = Some(c),
            None => break,
        }
    }
    Ok(out)
}

const EXPORT_COLUMNS: [&str; 12] = [
    "id",
    "source",
    "name",
    "manufacturer",
    "country",
    "domestic",
    "clinical_area",
    "risk_class",
    "licence_status",
    "modality",
    "summary",
    "updated_at",
];

fn export_row(e: &DirectoryEntry) -> [&str; 12] {
    [
        e.id.as_str(),
        &e.source,
        &e.name,
        &e.manufacturer,
        &e.country,
        if e.domestic != 0 { "1" } else { "0" },
        &e.clinical_area,
        &e.risk_class,
        &e.licence_status,
        &e.modality,
        &e.summary,
        &e.updated_at,
    ]
}

/// CSV of every public entry matching the query, for spreadsheets (UTF-8 with BOM so
/// Excel reads Vietnamese correctly).
pub async fn export_csv(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let entries = all_matching(&state, &ctx, raw.as_deref()).await?;
    let mut out = format!("\u{feff}{}\r\n", EXPORT_COLUMNS.join(","));
    for e in &entries {
        let line: Vec<String> = export_row(e).iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"vigilo-directory.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// The same export as an Excel workbook.
pub async fn export_xlsx(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let entries = all_matching(&state, &ctx, raw.as_deref()).await?;
    let bytes =
        tokio::task::spawn_blocking(move || -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
            let mut book = rust_xlsxwriter::Workbook::new();
            let sheet = book.add_worksheet();
            sheet.set_name("directory")?;
            let bold = rust_xlsxwriter::Format::new().set_bold();
            for (c, name) in EXPORT_COLUMNS.iter().enumerate() {
                sheet.write_string_with_format(0, c as u16, *name, &bold)?;
            }
            for (r, e) in entries.iter().enumerate() {
                for (c, value) in export_row(e).iter().enumerate() {
                    // Strings only: a cell starting with "=" stays text, never a formula.
                    sheet.write_string((r + 1) as u32, c as u16, *value)?;
                }
            }
            sheet.set_freeze_panes(1, 0)?;
            book.save_to_buffer()
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "xlsx task failed");
            ctx.err(AppError::new(ErrorCode::Internal))
        })?
        .map_err(|e| {
            tracing::error!(error = %e, "xlsx export failed");
            ctx.err(AppError::new(ErrorCode::Internal))
        })?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"vigilo-directory.xlsx\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

/// RFC 4180 quoting, and a leading quote mark against spreadsheet formula injection.
pub fn csv_field(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Atom feed of the newest directory changes.
pub async fn atom_feed(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let changes = state
        .store
        .recent_directory_changes(100)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let updated = changes
        .first()
        .map(|c| c.at.clone())
        .unwrap_or_else(|| "2026-01-01T00:00:00.000000Z".into());
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{}\">\n<title>{}</title>\n<id>urn:vigilo:directory</id>\n<updated>{}</updated>\n<link rel=\"self\" href=\"/directory/feed.atom\"/>\n",
        ctx.lang.code(),
        xml_escape(&tr.t("dir-title")),
        xml_escape(&updated)
    );
    for c in &changes {
        xml.push_str(&format!(
            "<entry><id>urn:vigilo:directory-change:{}</id><title>{}: {}</title><updated>{}</updated><link href=\"/directory/{}\"/></entry>\n",
            c.seq,
            xml_escape(&c.kind),
            xml_escape(&c.title),
            xml_escape(&c.at),
            xml_escape(&c.entry_id)
        ));
    }
    xml.push_str("</feed>\n");
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        xml,
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct ChangeOut {
    pub seq: i64,
    pub at: String,
    pub entry_id: String,
    /// version_published, version_withdrawn, removed, classified, reference_added, reference_changed
    pub kind: String,
    pub title: String,
}

#[derive(Serialize, ToSchema)]
pub struct ChangesOut {
    pub items: Vec<ChangeOut>,
    /// Pass as `after` to continue.
    pub next_after: Option<i64>,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct ChangesQuery {
    /// Sequence number to continue after (0 for the beginning).
    pub after: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/directory/changes", tag = "directory",
    params(ChangesQuery),
    responses((status = 200, body = ChangesOut)))]
pub async fn api_changes(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<ChangesQuery>,
) -> AppResult<Json<ChangesOut>> {
    let items = state
        .store
        .directory_changes(q.after.unwrap_or(0), 500)
        .await
        .map_err(|e| ctx.err(e.into()))?;
    let next_after = items.last().map(|c| c.seq);
    Ok(Json(ChangesOut {
        items: items
            .into_iter()
            .map(|c| ChangeOut {
                seq: c.seq,
                at: c.at,
                entry_id: c.entry_id,
                kind: c.kind,
                title: c.title,
            })
            .collect(),
        next_after,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_and_toggle() {
        let p = SearchParams::parse(Some(
            "q=lao&clinical_area=radiology&clinical_area=other&lang=en",
        ))
        .expect("parse");
        assert_eq!(p.q, "lao");
        assert_eq!(p.filters.len(), 1);
        assert!(p.is_selected(Facet::ClinicalArea, "other"));
        assert_eq!(
            p.toggled(Facet::ClinicalArea, "other"),
            "q=lao&clinical_area=radiology"
        );
        assert_eq!(
            p.toggled(Facet::Source, "local"),
            "q=lao&clinical_area=radiology&clinical_area=other&source=local"
        );
        assert!(SearchParams::parse(Some("colour=red")).is_err());
        assert!(SearchParams::parse(Some("limit=0")).is_err());
        assert!(SearchParams::parse(Some("limit=x")).is_err());
    }

    #[test]
    fn csv_quoting_and_formula_guard() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }

    #[test]
    fn fda_urls() {
        assert!(fda_url("K252054").ends_with("pmn.cfm?ID=K252054"));
        assert!(fda_url("DEN200022").contains("denovo.cfm?id=DEN200022"));
        assert!(fda_url("P140011/S008").ends_with("pma.cfm?id=P140011"));
    }
}

// ---- HL7 FHIR R4 DeviceDefinition ----

/// Element names of the R4 DeviceDefinition resource (hl7.org/fhir/R4/devicedefinition.html);
/// the test keeps our output inside this set.
pub const FHIR_DEVICE_DEFINITION_ELEMENTS: &[&str] = &[
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
    "udiDeviceIdentifier",
    "manufacturerString",
    "manufacturerReference",
    "deviceName",
    "modelNumber",
    "type",
    "specialization",
    "version",
    "safety",
    "shelfLifeStorage",
    "physicalCharacteristics",
    "languageCode",
    "capability",
    "property",
    "owner",
    "contact",
    "url",
    "onlineInformation",
    "note",
    "quantity",
    "parentDevice",
    "material",
];

/// R4 `DeviceDefinition.deviceName.type` codes (device-nametype value set).
pub const FHIR_DEVICE_NAME_TYPES: &[&str] = &[
    "udi-label-name",
    "user-friendly-name",
    "patient-reported-name",
    "manufacturer-name",
    "model-name",
    "other",
];

fn fhir_property(code: &str, display: &str, value: &str) -> serde_json::Value {
    serde_json::json!({
        "type": { "coding": [{ "system": "urn:vigilo:property", "code": code, "display": display }] },
        "valueCode": [{ "text": value }]
    })
}

pub fn product_device_definition(
    p: &Product,
    manufacturer: &str,
    versions: &[ProductVersion],
    card: Option<&ModelCard>,
) -> serde_json::Value {
    let mut names = vec![serde_json::json!({"name": p.name, "type": "user-friendly-name"})];
    if let Some(en) = p.name_en.as_ref().filter(|en| *en != &p.name) {
        names.push(serde_json::json!({"name": en, "type": "other"}));
    }
    let area = p
        .clinical_area
        .parse::<ClinicalArea>()
        .map(|a| a.label(Lang::En))
        .unwrap_or("Other");
    let mut props = vec![
        fhir_property("clinical-area", "Clinical area", &p.clinical_area),
        fhir_property("input-modality", "Input modality", &p.input_modality),
        fhir_property("ai-kind", "Kind of AI", &p.ai_kind),
        fhir_property(
            "licence-status",
            "Licence status in Vietnam",
            &p.licence_status,
        ),
    ];
    if let Some(rc) = &p.risk_class {
        props.push(fhir_property(
            "vn-device-class",
            "Vietnam medical device class (Decree 98/2021)",
            rc,
        ));
    }
    let mut notes = Vec::new();
    if let Some(c) = card {
        notes.push(serde_json::json!({"text": format!("Intended use: {}", c.intended_use)}));
        if !c.intended_use_en.is_empty() {
            notes.push(
                serde_json::json!({"text": format!("Intended use (en): {}", c.intended_use_en)}),
            );
        }
        notes.push(
            serde_json::json!({"text": format!("Known limitations: {}", c.known_limitations)}),
        );
    }
    let published: Vec<serde_json::Value> = versions
        .iter()
        .filter(|v| v.status == "published")
        .map(|v| serde_json::Value::String(v.version.clone()))
        .collect();
    let mut doc = serde_json::json!({
        "resourceType": "DeviceDefinition",
        "id": p.id,
        "identifier": [{ "system": "urn:vigilo:product", "value": p.id }],
        "manufacturerString": manufacturer,
        "deviceName": names,
        "type": { "text": area },
        "property": props,
        "onlineInformation": format!("/directory/{}", p.id),
    });
    if !published.is_empty() {
        doc["version"] = serde_json::Value::Array(published);
    }
    if !notes.is_empty() {
        doc["note"] = serde_json::Value::Array(notes);
    }
    doc
}

pub fn reference_device_definition(r: &ForeignReference) -> serde_json::Value {
    serde_json::json!({
        "resourceType": "DeviceDefinition",
        "id": r.id,
        "identifier": [
            { "system": "urn:vigilo:foreign-reference", "value": r.id },
            { "system": "urn:fda:submission-number", "value": r.reference }
        ],
        "manufacturerString": r.company,
        "deviceName": [{ "name": r.device, "type": "user-friendly-name" }],
        "type": { "coding": [{ "system": "urn:fda:product-code", "code": r.product_code }], "text": r.panel },
        "onlineInformation": fda_url(&r.reference),
        "note": [{ "text": format!("FDA decision {} ({})", r.decision_date, r.list_label) }]
    })
}

#[utoipa::path(get, path = "/api/v1/directory/{id}/fhir", tag = "directory",
    params(("id" = String, Path, description = "Entry id")),
    responses((status = 200, description = "HL7 FHIR R4 DeviceDefinition (application/fhir+json)"),
              (status = 404, body = crate::error::Problem)))]
pub async fn api_fhir(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let store = &state.store;
    let entry = store
        .directory_entry(&id)
        .await
        .map_err(|e| ctx.err(e.into()))?
        .ok_or_else(|| {
            ctx.err(AppError::not_found().detail(format!("no directory entry has id '{id}'")))
        })?;
    let doc = if entry.source == EntrySource::Local.code() {
        let p = store
            .product(&id)
            .await
            .map_err(|e| ctx.err(e.into()))?
            .ok_or_else(|| ctx.err(AppError::not_found()))?;
        let versions = store.versions(&id).await.map_err(|e| ctx.err(e.into()))?;
        let card = latest_published(&versions).and_then(|v| v.model_card());
        product_device_definition(&p, &entry.manufacturer, &versions, card.as_ref())
    } else {
        let r = store
            .foreign_reference(&id)
            .await
            .map_err(|e| ctx.err(e.into()))?
            .ok_or_else(|| ctx.err(AppError::not_found()))?;
        reference_device_definition(&r)
    };
    Ok((
        [(header::CONTENT_TYPE, "application/fhir+json")],
        doc.to_string(),
    )
        .into_response())
}
