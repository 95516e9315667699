//! Real-world impact assessment of a licensed AI tool: for a KPI named in the product's
//! licence conditions, deployed stations before and after go-live against stations not yet
//! using the tool over the same months (staggered difference in differences, one 2x2 per
//! go-live month). The design and its assumptions are in `docs/monitoring-impact.md`.
//!
//! The store gives per-facility sums (baseline rows included), `vigilo_core::impact` builds
//! the cohorts, `vigilo_stats::did` estimates; this module joins them, words the result in
//! both languages and builds the report blocks.

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::extract::ApiQuery;
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;
use time::{Date, Month};
use vigilo_core::appraisal::iso_date;
use vigilo_core::directory::LicenceStatus;
use vigilo_core::impact::{build_cohorts, Design, UnitPeriodSums, MAX_WINDOW_MONTHS};
use vigilo_core::kpi::{KpiCatalogue, KpiDefinition, Totals};
use vigilo_core::period::Period;
use vigilo_core::Lang;
use vigilo_report::{Block, Column, DataTable, Document, NoteKind};
use vigilo_stats::did::{did_staggered, did_units, Cohort, UnitChange};
use vigilo_store::{FacilityPeriodSums, Store, StoreError};

/// Confidence level of every interval shown.
pub const LEVEL: f64 = 0.95;

/// Years of reports read before the `through` day: far more than any window needs, and a
/// bound on the rows read for a national product.
const DATA_YEARS: i32 = 3;

/// Why an assessment could not be made at all (as opposed to made without an estimate).
#[derive(Debug, thiserror::Error)]
pub enum ImpactError {
    #[error("unknown KPI '{0}'")]
    UnknownKpi(String),
    #[error("the KPI catalogue does not load: {0}")]
    Catalogue(String),
    #[error("the window must be 1 to {MAX_WINDOW_MONTHS} months")]
    Window,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The KPI assessed, as a reader needs it.
#[derive(Debug, Clone, Serialize)]
pub struct KpiRef {
    pub id: String,
    pub name: String,
    pub name_en: String,
    pub unit: String,
    pub unit_en: String,
    pub direction: String,
}

/// A difference-in-differences estimate with its interval.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Estimate {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    pub se: f64,
    pub df: f64,
    pub p_value: f64,
}

/// One go-live month's 2x2 comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CohortResult {
    /// The go-live month, e.g. `2026-03`.
    pub label: String,
    pub pre_from: String,
    pub pre_to: String,
    pub post_from: String,
    pub post_to: String,
    pub n_treated: usize,
    pub n_control: usize,
    /// Units dropped: a window without reports or with a denominator under the minimum.
    pub dropped: usize,
    pub mean_change_treated: Option<f64>,
    pub mean_change_control: Option<f64>,
    pub estimate: Option<Estimate>,
    /// Share of the aggregate (treated units over all treated units estimated).
    pub weight: Option<f64>,
    /// Why there is no estimate, in English and Vietnamese.
    pub skipped: Option<String>,
    pub skipped_vi: Option<String>,
}

/// The assessment of one KPI for one product.
#[derive(Debug, Clone, Serialize)]
pub struct ImpactAssessment {
    pub product_id: String,
    pub kpi: KpiRef,
    /// Last day of data considered.
    pub through: String,
    pub window_months: u8,
    pub min_denominator: u64,
    pub level: f64,
    pub cohorts: Vec<CohortResult>,
    /// Go-live months whose post window is not over yet.
    pub pending_cohorts: Vec<String>,
    /// The aggregate over the cohorts that have an estimate.
    pub estimate: Option<Estimate>,
    /// Distinct stations counted as treated and as controls across cohorts.
    pub units_treated: usize,
    pub units_control: usize,
    pub sentence_en: String,
    pub sentence_vi: String,
}

impl ImpactAssessment {
    pub fn sentence(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.sentence_vi,
            Lang::En => &self.sentence_en,
        }
    }
}

fn catalogue() -> Result<KpiCatalogue, ImpactError> {
    KpiCatalogue::builtin().map_err(|e| ImpactError::Catalogue(e.to_string()))
}

fn totals(r: &FacilityPeriodSums) -> Totals {
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    Totals {
        uses: u(r.uses),
        positives: u(r.positives),
        tp: u(r.tp),
        fp: u(r.fp),
        fn_: u(r.fn_),
        tn: u(r.tn),
        overrides: u(r.overrides),
        escalations: u(r.escalations),
        downtime_minutes: u(r.downtime_minutes),
        reports: u(r.reports),
        facilities: 1,
        counters: r.counters.iter().map(|(k, v)| (k.clone(), u(*v))).collect(),
    }
}

fn estimate_of(e: &vigilo_stats::did::DidEstimate) -> Estimate {
    Estimate {
        estimate: e.estimate,
        lower: e.lower,
        upper: e.upper,
        se: e.se,
        df: e.df,
        p_value: e.p_value,
    }
}

fn number(x: f64, lang: Lang) -> String {
    // One decimal reads well for rates per 100 or 1,000; small effects need two.
    let decimals = if x.abs() < 1.0 { 2 } else { 1 };
    vigilo_report::format_number(x, decimals, crate::sandbox::report_lang(lang))
}

/// The plain-language result, in both languages.
fn sentences(
    def: &KpiDefinition,
    est: Option<&Estimate>,
    why: &str,
    why_vi: &str,
) -> (String, String) {
    let Some(e) = est else {
        return (
            format!("No impact estimate for {}: {why}.", def.name_en),
            format!("Chưa ước lượng được tác động lên {}: {why_vi}.", def.name),
        );
    };
    let size = e.estimate.abs();
    let (en_dir, vi_dir) = if e.estimate >= 0.0 {
        ("rose", "tăng")
    } else {
        ("fell", "giảm")
    };
    let crosses = e.lower <= 0.0 && e.upper >= 0.0;
    let en = format!(
        "After go-live, {} {en_dir} by {} (95% CI {} to {}) more than at stations not yet using the tool{}.",
        def.name_en,
        number(size, Lang::En),
        number(e.lower, Lang::En),
        number(e.upper, Lang::En),
        if crosses {
            "; the interval includes no difference"
        } else {
            ""
        }
    );
    let vi = format!(
        "Sau khi đưa vào sử dụng, {} {vi_dir} nhiều hơn {} (KTC 95% {} đến {}) so với các trạm chưa dùng công cụ{}.",
        def.name,
        number(size, Lang::Vi),
        number(e.lower, Lang::Vi),
        number(e.upper, Lang::Vi),
        if crosses {
            "; khoảng tin cậy gồm cả mức không khác biệt"
        } else {
            ""
        }
    );
    (en, vi)
}

/// Assesses one KPI for one product with data through `through` (inclusive), `window`
/// months before and after each go-live month.
pub async fn assess(
    store: &Store,
    product_id: &str,
    kpi_id: &str,
    through: Date,
    window: u8,
) -> Result<ImpactAssessment, ImpactError> {
    if window == 0 || window > MAX_WINDOW_MONTHS {
        return Err(ImpactError::Window);
    }
    let cat = catalogue()?;
    let def = cat
        .get(kpi_id)
        .cloned()
        .ok_or_else(|| ImpactError::UnknownKpi(kpi_id.to_string()))?;
    let from =
        Date::from_calendar_date(through.year() - DATA_YEARS, Month::January, 1).unwrap_or(through);
    let to = through.next_day().unwrap_or(through);
    let data = store.impact_sums(product_id, from, to).await?;
    let sums: Vec<UnitPeriodSums> = data
        .rows
        .iter()
        .filter_map(|r| {
            Period::parse(&r.period).ok().map(|period| UnitPeriodSums {
                unit: r.facility_id.clone(),
                period,
                totals: totals(r),
            })
        })
        .collect();
    let design = Design {
        window_months: window,
        ..Design::for_kpi(&def)
    };
    let built = build_cohorts(&def, &data.go_live, &sums, &design, through);

    let mut results = Vec::new();
    let mut usable: Vec<Cohort> = Vec::new();
    let mut treated_units = BTreeSet::new();
    let mut control_units = BTreeSet::new();
    for c in &built.cohorts {
        let pairs = |v: &[(f64, f64)]| -> Vec<UnitChange> {
            v.iter().map(|&(a, b)| UnitChange::new(a, b)).collect()
        };
        let (treated, control) = (pairs(&c.treated), pairs(&c.control));
        let mut r = CohortResult {
            label: c.label.clone(),
            pre_from: iso_date::format(c.pre.start),
            pre_to: iso_date::format(c.pre.last_day()),
            post_from: iso_date::format(c.post.start),
            post_to: iso_date::format(c.post.last_day()),
            n_treated: treated.len(),
            n_control: control.len(),
            dropped: c.dropped,
            mean_change_treated: None,
            mean_change_control: None,
            estimate: None,
            weight: None,
            skipped: None,
            skipped_vi: None,
        };
        // Two per group is the least a sample variance needs; with fewer there is no
        // interval, and an estimate without one must not be shown as a finding.
        if treated.len() < 2 || control.len() < 2 {
            r.skipped = Some(format!(
                "{} treated and {} comparison stations; at least 2 of each are needed",
                treated.len(),
                control.len()
            ));
            r.skipped_vi = Some(format!(
                "{} trạm đã dùng và {} trạm so sánh; cần ít nhất 2 mỗi nhóm",
                treated.len(),
                control.len()
            ));
            results.push(r);
            continue;
        }
        match did_units(&treated, &control, LEVEL) {
            Ok(e) => {
                r.mean_change_treated = Some(e.mean_change_treated);
                r.mean_change_control = Some(e.mean_change_control);
                r.estimate = Some(estimate_of(&e));
                treated_units.extend(c.treated_units.iter().cloned());
                control_units.extend(c.control_units.iter().cloned());
                usable.push(Cohort {
                    label: c.label.clone(),
                    treated,
                    control,
                });
            }
            Err(e) => {
                r.skipped = Some(e.to_string());
                r.skipped_vi = Some("không tính được (số liệu không đổi giữa các trạm)".into());
            }
        }
        results.push(r);
    }
    let (estimate, why, why_vi) = if usable.is_empty() {
        (
            None,
            "no go-live month has at least 2 stations going live and 2 stations not yet live reporting in both windows".to_string(),
            "chưa tháng triển khai nào có ít nhất 2 trạm bắt đầu dùng và 2 trạm chưa dùng báo cáo đủ hai giai đoạn".to_string(),
        )
    } else {
        match did_staggered(&usable, LEVEL) {
            Ok(agg) => {
                for ce in &agg.cohorts {
                    if let Some(r) = results.iter_mut().find(|r| r.label == ce.label) {
                        r.weight = Some(ce.weight);
                    }
                }
                (
                    Some(Estimate {
                        estimate: agg.estimate,
                        lower: agg.lower,
                        upper: agg.upper,
                        se: agg.se,
                        df: agg.df,
                        p_value: agg.p_value,
                    }),
                    String::new(),
                    String::new(),
                )
            }
            Err(e) => (
                None,
                e.to_string(),
                "không tính được ước lượng gộp".to_string(),
            ),
        }
    };
    let (sentence_en, sentence_vi) = sentences(&def, estimate.as_ref(), &why, &why_vi);
    Ok(ImpactAssessment {
        product_id: product_id.to_string(),
        kpi: KpiRef {
            id: def.id.clone(),
            name: def.name.clone(),
            name_en: def.name_en.clone(),
            unit: def.unit.clone(),
            unit_en: def.unit_en.clone(),
            direction: def.direction.as_str().to_string(),
        },
        through: iso_date::format(through),
        window_months: built.design.window_months,
        min_denominator: built.design.min_denominator,
        level: LEVEL,
        cohorts: results,
        pending_cohorts: built.pending,
        estimate,
        units_treated: treated_units.len(),
        units_control: control_units.len(),
        sentence_en,
        sentence_vi,
    })
}

/// The KPIs named in the product's active licences' conditions, in order, once each.
pub async fn licence_kpis(store: &Store, product_id: &str) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = Vec::new();
    for a in store.authorisations_of_product(product_id).await? {
        if a.status() != LicenceStatus::Active {
            continue;
        }
        for duty in a.conditions().map(|c| c.kpis).unwrap_or_default() {
            if !out.contains(&duty.kpi) {
                out.push(duty.kpi);
            }
        }
    }
    Ok(out)
}

/// Every KPI the active licences name, assessed; KPIs missing from the catalogue are
/// skipped (a licence may name one a later release renamed).
pub async fn assess_licence_kpis(
    store: &Store,
    product_id: &str,
    through: Date,
    window: u8,
) -> Result<Vec<ImpactAssessment>, ImpactError> {
    let mut out = Vec::new();
    for kpi in licence_kpis(store, product_id).await? {
        match assess(store, product_id, &kpi, through, window).await {
            Ok(a) => out.push(a),
            Err(ImpactError::UnknownKpi(id)) => {
                tracing::warn!(kpi = %id, "a licence names a KPI the catalogue does not have");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Report blocks for the assessments: per KPI, the sentence, a table of cohorts, and a note
/// on the method and its assumptions. Empty when there is nothing to assess.
pub fn report_blocks(assessments: &[ImpactAssessment], lang: Lang) -> Vec<Block> {
    if assessments.is_empty() {
        return Vec::new();
    }
    let t = |vi: &'static str, en: &'static str| match lang {
        Lang::Vi => vi,
        Lang::En => en,
    };
    let mut blocks = vec![Block::heading(
        2,
        t(
            "Tác động thực tế sau triển khai",
            "Real-world impact after go-live",
        ),
    )];
    for a in assessments {
        let name = match lang {
            Lang::Vi => &a.kpi.name,
            Lang::En => &a.kpi.name_en,
        };
        let unit = match lang {
            Lang::Vi => &a.kpi.unit,
            Lang::En => &a.kpi.unit_en,
        };
        blocks.push(Block::heading(3, format!("{name} ({unit})")));
        blocks.push(Block::paragraph(a.sentence(lang)));
        let ci = |e: &Estimate| format!("{} – {}", number(e.lower, lang), number(e.upper, lang));
        let mut rows: Vec<Vec<String>> = a
            .cohorts
            .iter()
            .map(|c| {
                vec![
                    c.label.clone(),
                    format!("{} – {}", c.pre_from, c.pre_to),
                    format!("{} – {}", c.post_from, c.post_to),
                    c.n_treated.to_string(),
                    c.n_control.to_string(),
                    c.estimate
                        .map(|e| number(e.estimate, lang))
                        .unwrap_or_else(|| "–".into()),
                    match (&c.estimate, lang) {
                        (Some(e), _) => ci(e),
                        (None, Lang::Vi) => c.skipped_vi.clone().unwrap_or_default(),
                        (None, Lang::En) => c.skipped.clone().unwrap_or_default(),
                    },
                ]
            })
            .collect();
        if let Some(e) = &a.estimate {
            rows.push(vec![
                t("Gộp", "All cohorts").to_string(),
                String::new(),
                String::new(),
                a.units_treated.to_string(),
                a.units_control.to_string(),
                number(e.estimate, lang),
                ci(e),
            ]);
        }
        if !rows.is_empty() {
            blocks.push(Block::Table(DataTable {
                caption: Some(format!(
                    "{} {name}",
                    t(
                        "Khác biệt trong khác biệt theo tháng triển khai:",
                        "Difference in differences by go-live month:"
                    )
                )),
                columns: vec![
                    Column::text(t("Tháng triển khai", "Go-live month")),
                    Column::text(t("Trước", "Before")),
                    Column::text(t("Sau", "After")),
                    Column::numeric(t("Trạm đã dùng", "Stations live")),
                    Column::numeric(t("Trạm so sánh", "Comparison stations")),
                    Column::numeric(t("Ước lượng", "Estimate")),
                    Column::text(t("KTC 95%", "95% CI")),
                ],
                rows,
            }));
        }
        if !a.pending_cohorts.is_empty() {
            blocks.push(Block::paragraph(format!(
                "{} {}",
                t(
                    "Chưa đủ thời gian theo dõi sau triển khai:",
                    "Post-go-live window not over yet:"
                ),
                a.pending_cohorts.join(", ")
            )));
        }
    }
    let window = assessments
        .first()
        .map(|a| a.window_months)
        .unwrap_or_default();
    blocks.push(Block::note(
        NoteKind::Info,
        match lang {
            Lang::Vi => format!(
                "Phương pháp: với mỗi tháng triển khai, so sánh thay đổi của chỉ số ở các trạm bắt đầu dùng công cụ ({window} tháng trước so với {window} tháng sau, bỏ tháng triển khai) với thay đổi ở các trạm chưa dùng trong cùng các tháng (số liệu nền). Mỗi trạm có trọng số như nhau; khoảng tin cậy Welch 95%; ước lượng gộp theo số trạm của mỗi nhóm. Giả định: nếu không có công cụ, hai nhóm trạm sẽ thay đổi như nhau (xu hướng song song); các trạm không thay đổi cách làm trước ngày triển khai; các nhóm được coi là độc lập (trạm so sánh dùng chung làm khoảng tin cậy gộp hẹp hơn thực tế). Đây là ước lượng quan sát, không phải thử nghiệm ngẫu nhiên."
            ),
            Lang::En => format!(
                "Method: for each go-live month, the change in the KPI at stations starting the tool ({window} months before against {window} months after, skipping the go-live month) is compared with the change at stations not yet using it over the same months (baseline reports). Every station counts equally; 95% Welch intervals; cohorts are pooled by their number of stations. Assumptions: without the tool both groups would have changed alike (parallel trends); stations did not change practice ahead of go-live (no anticipation); cohorts are treated as independent (shared comparison stations make the pooled interval narrower than it should be). This is an observational estimate, not a randomised trial."
            ),
        },
    ));
    blocks
}

/// The impact section of the monitoring page for one product, as HTML; empty when the
/// product's licences name no KPI.
pub async fn section_html(
    state: &AppState,
    ctx: &Ctx,
    product_id: &str,
    lang: Lang,
) -> AppResult<String> {
    let today = state.store.now().date();
    let assessments = match assess_licence_kpis(
        &state.store,
        product_id,
        today,
        vigilo_core::impact::DEFAULT_WINDOW_MONTHS,
    )
    .await
    {
        Ok(a) => a,
        Err(e) => return Err(impact_err(ctx, e)),
    };
    let blocks = report_blocks(&assessments, lang);
    if blocks.is_empty() {
        return Ok(String::new());
    }
    let doc = Document {
        lang: crate::sandbox::report_lang(lang),
        title: match lang {
            Lang::Vi => "Đánh giá tác động".into(),
            Lang::En => "Impact assessment".into(),
        },
        blocks,
        ..Document::default()
    };
    Ok(vigilo_report::to_html(&doc))
}

fn impact_err(ctx: &Ctx, e: ImpactError) -> AppError {
    match e {
        ImpactError::Store(e) => ctx.store_err()(e),
        ImpactError::UnknownKpi(_) | ImpactError::Window => {
            ctx.err(AppError::invalid(e.to_string()))
        }
        ImpactError::Catalogue(_) => {
            tracing::error!(error = %e, "impact assessment");
            ctx.err(AppError::new(ErrorCode::Internal))
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ImpactQuery {
    pub product: Option<String>,
    pub kpi: Option<String>,
    /// Last day of data (default: today).
    pub through: Option<String>,
    /// Months in each window (default 3).
    pub window: Option<u8>,
}

/// The answer of `GET /api/v1/impact`.
#[derive(Debug, Serialize)]
pub struct ImpactResponse {
    pub product: String,
    /// The KPIs the product's active licences name.
    pub licence_kpis: Vec<String>,
    pub assessments: Vec<ImpactAssessment>,
}

#[utoipa::path(get, path = "/api/v1/impact", tag = "monitoring",
    params(("product" = String, Query, description = "Product id"),
        ("kpi" = Option<String>, Query, description = "KPI id (default: every KPI the product's active licences name)"),
        ("through" = Option<String>, Query, description = "Last day of data, YYYY-MM-DD (default: today)"),
        ("window" = Option<u8>, Query, description = "Months before and after each go-live month (default 3, at most 12)")),
    responses((status = 200, description = "Difference-in-differences estimates per go-live cohort and pooled, with 95% intervals, stations counted and a sentence in Vietnamese and English"),
        (status = 400, body = crate::error::Problem), (status = 404, body = crate::error::Problem)),
    security(("bearer" = []), ("session" = [])))]
pub async fn api_impact(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<ImpactQuery>,
) -> AppResult<Json<ImpactResponse>> {
    let product = q
        .product
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ctx.err(AppError::invalid("name a product: ?product=ID")))?;
    state
        .store
        .product(product)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let through = match q
        .through
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(d) => iso_date::parse(d)
            .map_err(|_| ctx.err(AppError::invalid("through must be a date, YYYY-MM-DD")))?,
        None => state.store.now().date(),
    };
    let window = q
        .window
        .unwrap_or(vigilo_core::impact::DEFAULT_WINDOW_MONTHS);
    let named = licence_kpis(&state.store, product)
        .await
        .map_err(ctx.store_err())?;
    let assessments = match q.kpi.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(kpi) => vec![assess(&state.store, product, kpi, through, window)
            .await
            .map_err(|e| impact_err(&ctx, e))?],
        None => assess_licence_kpis(&state.store, product, through, window)
            .await
            .map_err(|e| impact_err(&ctx, e))?,
    };
    Ok(Json(ImpactResponse {
        product: product.to_string(),
        licence_kpis: named,
        assessments,
    }))
}
