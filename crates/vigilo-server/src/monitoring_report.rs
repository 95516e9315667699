//! Monitoring period reports: national, per product or per province, for a month, a quarter
//! or a year, built as one `vigilo_report::Document` and rendered to HTML, PDF, CSV (the KPI
//! table) or XLSX (the whole document). The web (`/reports`) and the command line
//! (`vigilo report`) share this builder, so both give the same figures.
//!
//! The builder takes the [`Store`] only, not a request: the CLI has no session, and the
//! caller decides who may see which variant. The public variant passes every count through
//! `vigilo_core::suppression` (small cells and complementary suppression over each table
//! that publishes a total), hides rates built on hidden counts, names no facility and lists
//! no alert.

use crate::monitoring::{
    compute_kpi_table, kpi_definitions, owed_periods, KpiCell, KpiError, KpiRow, KpiSpec, KpiTable,
    DUE_DAYS,
};
use crate::sandbox::report_lang;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;
use time::OffsetDateTime;
use vigilo_core::kpi::KpiDefinition;
use vigilo_core::monitoring::{completeness, Completeness};
use vigilo_core::period::{Period, PeriodKind};
use vigilo_core::suppression::{
    display, footnote, rate_is_public, suppress_row, Cell, SuppressionError, SuppressionRule,
};
use vigilo_core::Lang;
use vigilo_report::{
    format_number, line_chart_svg, to_csv, to_html, to_xlsx, Block, ChartText, Column, CsvError,
    DataTable, Document, Figure, KpiLabels, KpiSeries, NoteKind, XlsxError,
};
use vigilo_store::{AlertFilter, Deployment, GroupBy, Product, Store, StoreError, SumsQuery};

/// What a report covers and for whom.
#[derive(Debug, Clone)]
pub struct ReportParams {
    /// A month, a quarter or a year (see [`parse_report_period`]).
    pub period: Period,
    pub product_id: Option<String>,
    pub province_code: Option<String>,
    /// The public variant: suppressed counts, no facility names, no alert list.
    pub public: bool,
    pub lang: Lang,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportBuildError {
    #[error("'{0}' is not a report period: write a month (2026-03), a quarter (2026-Q1) or a year (2026)")]
    BadPeriod(String),
    #[error("no product has id '{0}'")]
    UnknownProduct(String),
    #[error("no province has code '{0}'")]
    UnknownProvince(String),
    #[error("'{0}' is not a report format: use html, pdf, csv or xlsx")]
    BadFormat(String),
    #[error("the built-in KPI catalogue does not load")]
    Catalogue,
    #[error("the message files do not load: {0}")]
    Messages(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("suppression: {0}")]
    Suppression(#[from] SuppressionError),
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[error(transparent)]
    Xlsx(#[from] XlsxError),
    #[error(transparent)]
    Pdf(#[from] vigilo_report_pdf::PdfError),
}

impl From<KpiError> for ReportBuildError {
    fn from(e: KpiError) -> Self {
        match e {
            KpiError::Store(e) => ReportBuildError::Store(e),
            KpiError::Catalogue => ReportBuildError::Catalogue,
        }
    }
}

/// Reports are for months, quarters and years: a day or a week is too short to say anything
/// about a KPI, and the reporting frequencies are at most monthly.
pub fn parse_report_period(text: &str) -> Result<Period, ReportBuildError> {
    let bad = || ReportBuildError::BadPeriod(text.trim().to_string());
    let p = Period::parse(text).map_err(|_| bad())?;
    match p.kind() {
        PeriodKind::Month | PeriodKind::Quarter | PeriodKind::Year => Ok(p),
        PeriodKind::Day | PeriodKind::Week => Err(bad()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Html,
    Pdf,
    Csv,
    Xlsx,
}

impl ReportFormat {
    pub fn parse(text: &str) -> Result<ReportFormat, ReportBuildError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "html" => Ok(ReportFormat::Html),
            "pdf" => Ok(ReportFormat::Pdf),
            "csv" => Ok(ReportFormat::Csv),
            "xlsx" => Ok(ReportFormat::Xlsx),
            _ => Err(ReportBuildError::BadFormat(text.to_string())),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Pdf => "pdf",
            ReportFormat::Csv => "csv",
            ReportFormat::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Pdf => "application/pdf",
            ReportFormat::Csv => "text/csv; charset=utf-8",
            ReportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }
}

/// A built report: the document, and its KPI table in long form for CSV (one CSV cannot
/// hold several tables, and the KPI table is the one people continue with).
#[derive(Debug, Clone)]
pub struct PeriodReport {
    pub document: Document,
    pub kpi_csv: DataTable,
}

/// `vigilo-monitoring-2026-Q1[-PRODUCT][-PROVINCE][-public].EXT`: only ASCII letters, digits
/// and dashes, so it is safe in a header and on any file system.
pub fn report_filename(params: &ReportParams, format: ReportFormat) -> String {
    let mut name = format!("vigilo-monitoring-{}", params.period);
    if let Some(p) = &params.product_id {
        name.push('-');
        name.extend(p.chars().take(8));
    }
    if let Some(c) = &params.province_code {
        name.push('-');
        name.push_str(c);
    }
    if params.public {
        name.push_str("-public");
    }
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{safe}.{}", format.extension())
}

/// Renders a built report. PDF typesetting takes a while: call it off the async threads.
pub fn render_report(
    report: &PeriodReport,
    format: ReportFormat,
) -> Result<Vec<u8>, ReportBuildError> {
    match format {
        ReportFormat::Html => Ok(standalone_html(&report.document).into_bytes()),
        ReportFormat::Pdf => Ok(vigilo_report_pdf::to_pdf(&report.document)?),
        ReportFormat::Csv => Ok(to_csv(&report.kpi_csv)?.into_bytes()),
        ReportFormat::Xlsx => Ok(to_xlsx(&report.document)?),
    }
}

/// A whole HTML file for the command line (the web embeds the fragment in its layout).
fn standalone_html(doc: &Document) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title>\n\
         <style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}\
         table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:.2rem .5rem}}\
         td.num,th.num{{text-align:right}}</style></head>\n<body>\n{}</body></html>\n",
        doc.lang.code(),
        vigilo_report::escape_html(&doc.title),
        to_html(doc)
    )
}

/// The report as a document.
pub async fn period_report(
    store: &Store,
    params: &ReportParams,
) -> Result<Document, ReportBuildError> {
    Ok(build_period_report(store, params).await?.document)
}

// ---- text ----

static MESSAGES: LazyLock<Result<crate::i18n::I18n, String>> =
    LazyLock::new(|| crate::i18n::I18n::load().map_err(|e| e.to_string()));

/// The Fluent messages in one language; the builder has no request, so it loads them itself.
pub(crate) struct Text {
    lang: Lang,
    i18n: &'static crate::i18n::I18n,
}

impl Text {
    fn new(lang: Lang) -> Result<Text, ReportBuildError> {
        match &*MESSAGES {
            Ok(i18n) => Ok(Text { lang, i18n }),
            Err(e) => Err(ReportBuildError::Messages(e.clone())),
        }
    }
    fn t(&self, key: &str) -> String {
        self.i18n.text(self.lang, key, &[])
    }
    fn ta(&self, key: &str, args: &[(&str, String)]) -> String {
        self.i18n.text(self.lang, key, args)
    }
}

// ---- counts, shown or suppressed ----

/// How counts are shown in this variant: every count as is for staff; for the public,
/// through the suppression rule.
#[derive(Clone, Copy)]
struct Counts {
    public: bool,
    lang: Lang,
    rule: SuppressionRule,
}

impl Counts {
    /// One count that is published on its own, with no total beside it.
    fn single(&self, n: u64) -> Cell {
        if self.public {
            self.rule.cell(n)
        } else {
            Cell::Shown(n)
        }
    }

    /// A column of counts and its published total: complementary suppression keeps the
    /// total from giving a hidden cell back.
    fn column(&self, values: &[u64]) -> Result<(Vec<Cell>, Cell), ReportBuildError> {
        if self.public {
            let r = suppress_row(values, self.rule)?;
            Ok((r.cells, r.total))
        } else {
            Ok((
                values.iter().map(|&v| Cell::Shown(v)).collect(),
                Cell::Shown(values.iter().sum()),
            ))
        }
    }

    fn text(&self, c: Cell) -> String {
        display(c, self.lang)
    }
}

fn share(part: u64, whole: u64, lang: Lang) -> String {
    if whole == 0 {
        return "—".into();
    }
    format!(
        "{}%",
        format_number(part as f64 * 100.0 / whole as f64, 1, report_lang(lang))
    )
}

/// A rate is shown only when the counts it is built on are shown.
fn share_of(part: Cell, whole: Cell, lang: Lang) -> String {
    match (part.value(), whole.value()) {
        (Some(p), Some(w)) if rate_is_public(part, Some(whole)) => share(p, w, lang),
        _ => "x".into(),
    }
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

// ---- the builder ----

/// One product's KPI figures for the document and the CSV.
struct KpiOut {
    /// Numerator, denominator, value, lower, upper, met; already formatted.
    cells: Vec<[String; 6]>,
}

pub async fn build_period_report(
    store: &Store,
    params: &ReportParams,
) -> Result<PeriodReport, ReportBuildError> {
    let text = Text::new(params.lang)?;
    let lang = params.lang;
    let counts = Counts {
        public: params.public,
        lang,
        rule: SuppressionRule::default(),
    };
    let period = params.period;
    let now = store.now();
    let product = match params.product_id.as_deref() {
        Some(id) => Some(
            store
                .product(id)
                .await?
                .ok_or_else(|| ReportBuildError::UnknownProduct(id.to_string()))?,
        ),
        None => None,
    };
    let province = match params.province_code.as_deref() {
        Some(code) => Some(
            store
                .admin_unit(code)
                .await?
                .filter(|u| u.level == "province")
                .ok_or_else(|| ReportBuildError::UnknownProvince(code.to_string()))?,
        ),
        None => None,
    };
    let status = store
        .reporting_status(
            &period,
            params.product_id.as_deref(),
            params.province_code.as_deref(),
        )
        .await?;
    let today = now.date();

    // Products in scope: the one asked for, or every product with a deployment or a report
    // in the period.
    let products: Vec<Product> = match &product {
        Some(p) => vec![p.clone()],
        None => {
            let mut ids: BTreeSet<String> =
                status.iter().map(|(d, _)| d.product_id.clone()).collect();
            for s in store
                .report_sums(&SumsQuery {
                    period,
                    product_id: None,
                    province_code: params.province_code.clone(),
                    unit_code: None,
                    facility_id: None,
                    group_by: GroupBy::Product,
                })
                .await?
            {
                ids.insert(s.group_key);
            }
            let mut out = Vec::new();
            for id in ids {
                if let Some(p) = store.product(&id).await? {
                    out.push(p);
                }
            }
            out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
            out
        }
    };

    let scope = match (&product, &province) {
        (Some(p), Some(u)) => format!("{} · {}", p.name, u.name),
        (Some(p), None) => format!("{} · {}", p.name, text.t("rep-scope-national")),
        (None, Some(u)) => u.name.clone(),
        (None, None) => text.t("rep-scope-national"),
    };
    let variant = if params.public {
        text.t("rep-variant-public")
    } else {
        text.t("rep-variant-staff")
    };
    let mut blocks = Vec::new();

    // Summary.
    let facilities: BTreeSet<&str> = status.iter().map(|(d, _)| d.facility_id.as_str()).collect();
    // The summary repeats the completeness table's totals, so it takes them from the same
    // suppressed columns: a total hidden there must not be printed here.
    let by_province = province_rollup(&status, &period, today);
    let column_total = |f: &dyn Fn(&(u64, Completeness)) -> u64| {
        counts
            .column(&by_province.values().map(f).collect::<Vec<_>>())
            .map(|(_, t)| t)
    };
    let deployments = column_total(&|v| v.0)?;
    let owed = column_total(&|v| v.1.expected)?;
    let received = column_total(&|v| v.1.received)?;
    let on_time = column_total(&|v| v.1.on_time)?;
    let facility_count = counts.single(facilities.len() as u64);
    blocks.push(Block::heading(1, text.t("rep-summary")));
    blocks.push(Block::KeyValue(vec![
        (text.t("rep-deployments"), counts.text(deployments)),
        (text.t("rep-facilities"), counts.text(facility_count)),
        (text.t("rep-reports-owed"), counts.text(owed)),
        (text.t("rep-reports-received"), counts.text(received)),
        (text.t("rep-completeness"), share_of(received, owed, lang)),
        (text.t("rep-timeliness"), share_of(on_time, owed, lang)),
    ]));

    // KPIs per product.
    let mut csv_rows = Vec::new();
    blocks.push(Block::heading(1, text.t("rep-kpis")));
    if products.is_empty() {
        blocks.push(Block::paragraph(text.t("rep-no-products")));
    }
    // Staff see a province by facility; the public never sees facilities.
    let (level, group_by) = if province.is_some() && !params.public {
        ("facility", GroupBy::Facility)
    } else {
        ("province", GroupBy::Province)
    };
    for p in &products {
        let defs = kpi_definitions(Some(p))?;
        let spec = |level: &str, group_by: GroupBy, period: Period| KpiSpec {
            period,
            level: level.to_string(),
            group_by,
            product: Some(p),
            province: params.province_code.clone(),
            facility_id: None,
            completeness: true,
        };
        let national =
            compute_kpi_table(store, &spec("nation", GroupBy::Nation, period), lang).await?;
        let groups = compute_kpi_table(store, &spec(level, group_by, period), lang).await?;
        blocks.push(Block::heading(2, p.name.clone()));
        let out = kpi_figures(&defs, &national, &groups, counts, &text)?;
        blocks.push(Block::Table(national_table(&defs, &out.0, &text)));
        blocks.push(Block::Table(group_table(
            &defs, &groups, &out.1, &out.2, level, &text,
        )));
        let scope_line = match &province {
            Some(u) => (u.code.as_str(), u.name.as_str()),
            None => ("VN", "Việt Nam"),
        };
        csv_rows.extend(csv_lines(p, &defs, scope_line, &groups, &out, &text));

        // The main KPIs month by month: those with a target (at most three).
        let months = period.split(PeriodKind::Month);
        let mut monthly = Vec::new();
        for m in &months {
            let chart = KpiSpec {
                completeness: false,
                ..spec("nation", GroupBy::Nation, *m)
            };
            let t = compute_kpi_table(store, &chart, lang).await?;
            monthly.push(t.rows.into_iter().next());
        }
        for (i, d) in defs
            .iter()
            .enumerate()
            .filter(|(_, d)| d.target.is_some())
            .take(3)
        {
            blocks.push(Block::Figure(month_chart(
                d, i, &months, &monthly, counts, &text,
            )));
        }
    }

    // Completeness by province.
    blocks.push(Block::heading(1, text.t("rep-completeness-title")));
    blocks.extend(completeness_section(store, &status, &period, today, counts, &text).await?);

    // Alerts.
    blocks.push(Block::heading(1, text.t("rep-alerts")));
    blocks.extend(alerts_section(store, params, &products, counts, &text).await?);

    blocks.extend(impact_section(store, params, &products, &text).await?);
    blocks.push(Block::heading(1, text.t("rep-incidents")));
    blocks.push(Block::note(NoteKind::Info, text.t("rep-incidents-note")));

    blocks.push(Block::heading(1, text.t("rep-notes")));
    blocks.push(Block::paragraph(
        text.ta("rep-method-note", &[("days", DUE_DAYS.to_string())]),
    ));
    if params.public {
        blocks.push(Block::note(NoteKind::Info, footnote(counts.rule, lang)));
    }

    let generated = format_time(now);
    let document = Document {
        lang: report_lang(lang),
        title: text.t("rep-title"),
        subtitle: Some(format!("{} · {scope}", period.label(lang))),
        meta: vec![
            (text.t("rep-period"), period.label(lang)),
            (text.t("rep-scope"), scope.clone()),
            (text.t("rep-variant"), variant),
            (text.t("rep-generated"), generated),
        ],
        created: Some(now),
        author: Some(text.t("authority-name")),
        footer: Some(report_filename(params, ReportFormat::Pdf).replace(".pdf", "")),
        blocks,
    };
    let kpi_csv = DataTable {
        caption: Some(text.t("rep-kpis")),
        columns: vec![
            Column::text(text.t("rep-product")),
            Column::text(text.t("rep-area-code")),
            Column::text(text.t("rep-area")),
            Column::text("KPI"),
            Column::text(text.t("rep-kpi-name")),
            Column::text(text.t("rep-unit")),
            Column::numeric(text.t("rep-target")),
            Column::numeric(text.t("rep-numerator")),
            Column::numeric(text.t("rep-denominator")),
            Column::numeric(text.t("rep-value")),
            Column::numeric(text.t("rep-lower")),
            Column::numeric(text.t("rep-upper")),
            Column::text(text.t("rep-met")),
        ],
        rows: csv_rows,
    };
    Ok(PeriodReport { document, kpi_csv })
}

fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

fn target_text(d: &KpiDefinition, lang: Lang) -> String {
    d.target
        .map(|t| {
            let sign = match d.direction {
                vigilo_core::kpi::Direction::HigherIsBetter => "≥ ",
                vigilo_core::kpi::Direction::LowerIsBetter => "≤ ",
                vigilo_core::kpi::Direction::Neutral => "",
            };
            format!("{sign}{}", format_number(t, 1, report_lang(lang)))
        })
        .unwrap_or_else(|| "—".into())
}

fn value_text(d: &KpiDefinition, v: f64, lang: Lang) -> String {
    let decimals = if d.denominator.is_none() || v.abs() >= 1000.0 {
        0
    } else {
        1
    };
    format_number(v, decimals, report_lang(lang))
}

fn met_text(m: Option<bool>, text: &Text) -> String {
    match m {
        Some(true) => text.t("rep-met-yes"),
        Some(false) => text.t("rep-met-no"),
        None => "—".into(),
    }
}

/// Formats one KPI cell given whether its counts are shown.
fn cell_out(
    d: &KpiDefinition,
    c: Option<&KpiCell>,
    num: Cell,
    den: Option<Cell>,
    counts: Counts,
    text: &Text,
) -> [String; 6] {
    let lang = counts.lang;
    let num_text = counts.text(num);
    let den_text = den.map(|c| counts.text(c)).unwrap_or_default();
    let Some(c) = c else {
        return [
            num_text,
            den_text,
            "—".into(),
            String::new(),
            String::new(),
            "—".into(),
        ];
    };
    // A value stands for its counts: hidden with them.
    if !rate_is_public(num, den) {
        return [
            num_text,
            den_text,
            "x".into(),
            String::new(),
            String::new(),
            "—".into(),
        ];
    }
    match c.value.filter(|_| c.status == "ok") {
        None => [
            num_text,
            den_text,
            "—".into(),
            String::new(),
            String::new(),
            "—".into(),
        ],
        Some(v) => [
            num_text,
            den_text,
            value_text(d, v, lang),
            c.lower
                .map(|x| format_number(x, 1, report_lang(lang)))
                .unwrap_or_default(),
            c.upper
                .map(|x| format_number(x, 1, report_lang(lang)))
                .unwrap_or_default(),
            met_text(c.meets_target, text),
        ],
    }
}

type GroupCells = Vec<Vec<[String; 6]>>;

/// The national (scope) figures, the per-group figures and the per-group report counts,
/// with one suppression decision per count column, so the document and the CSV agree.
fn kpi_figures(
    defs: &[&KpiDefinition],
    national: &KpiTable,
    groups: &KpiTable,
    counts: Counts,
    text: &Text,
) -> Result<(KpiOut, GroupCells, Vec<Cell>), ReportBuildError> {
    let nation_row = national.rows.first();
    let mut nat = Vec::new();
    let mut by_group: GroupCells = vec![Vec::new(); groups.rows.len()];
    for (k, d) in defs.iter().enumerate() {
        let cell_at = |r: &KpiRow| r.cells.get(k).cloned();
        let nums: Vec<u64> = groups
            .rows
            .iter()
            .map(|r| cell_at(r).map_or(0, |c| c.numerator))
            .collect();
        let (num_cells, num_total) = counts.column(&nums)?;
        let (den_cells, den_total) = if d.denominator.is_some() {
            let dens: Vec<u64> = groups
                .rows
                .iter()
                .map(|r| cell_at(r).and_then(|c| c.denominator).unwrap_or(0))
                .collect();
            let (c, t) = counts.column(&dens)?;
            (c.into_iter().map(Some).collect(), Some(t))
        } else {
            (vec![None; groups.rows.len()], None)
        };
        // The scope's own row when there is one (its numerator is the sum of the groups').
        let nat_cell = nation_row.and_then(cell_at);
        let (nat_num, nat_den) = if counts.public {
            (num_total, den_total)
        } else {
            (
                Cell::Shown(nat_cell.as_ref().map_or(0, |c| c.numerator)),
                d.denominator.as_ref().map(|_| {
                    Cell::Shown(nat_cell.as_ref().and_then(|c| c.denominator).unwrap_or(0))
                }),
            )
        };
        nat.push(cell_out(
            d,
            nat_cell.as_ref(),
            nat_num,
            nat_den,
            counts,
            text,
        ));
        for (i, r) in groups.rows.iter().enumerate() {
            let c = cell_at(r);
            by_group[i].push(cell_out(
                d,
                c.as_ref(),
                num_cells[i],
                den_cells[i],
                counts,
                text,
            ));
        }
    }
    let reports: Vec<u64> = groups.rows.iter().map(|r| u(r.reports)).collect();
    let (report_cells, _) = counts.column(&reports)?;
    Ok((KpiOut { cells: nat }, by_group, report_cells))
}

fn national_table(defs: &[&KpiDefinition], out: &KpiOut, text: &Text) -> DataTable {
    DataTable {
        caption: Some(text.t("rep-kpi-national")),
        columns: vec![
            Column::text("KPI"),
            Column::text(text.t("rep-unit")),
            Column::numeric(text.t("rep-target")),
            Column::numeric(text.t("rep-numerator")),
            Column::numeric(text.t("rep-denominator")),
            Column::numeric(text.t("rep-value")),
            Column::numeric(text.t("rep-interval")),
            Column::text(text.t("rep-met")),
        ],
        rows: defs
            .iter()
            .zip(&out.cells)
            .map(|(d, c)| {
                let interval = if c[3].is_empty() {
                    String::new()
                } else {
                    format!("{}–{}", c[3], c[4])
                };
                vec![
                    d.name(text.lang).to_string(),
                    d.unit(text.lang).to_string(),
                    target_text(d, text.lang),
                    c[0].clone(),
                    c[1].clone(),
                    c[2].clone(),
                    interval,
                    c[5].clone(),
                ]
            })
            .collect(),
    }
}

fn group_table(
    defs: &[&KpiDefinition],
    groups: &KpiTable,
    cells: &GroupCells,
    reports: &[Cell],
    level: &str,
    text: &Text,
) -> DataTable {
    let mut columns = vec![
        Column::text(text.t(&format!("rep-level-{level}"))),
        Column::numeric(text.t("rep-reports")),
    ];
    columns.extend(defs.iter().map(|d| {
        Column::numeric(format!(
            "{} ({}; {})",
            d.name(text.lang),
            d.unit(text.lang),
            target_text(d, text.lang)
        ))
    }));
    let rows = groups
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut row = vec![
                r.label.clone(),
                reports
                    .get(i)
                    .map(|c| display(*c, text.lang))
                    .unwrap_or_default(),
            ];
            row.extend(cells.get(i).into_iter().flatten().map(|c| {
                match c[5].as_str() {
                    // The mark carries whether the target is met, in black and white too.
                    m if m == text.t("rep-met-yes") => format!("{} ✓", c[2]),
                    m if m == text.t("rep-met-no") => format!("{} ✗", c[2]),
                    _ => c[2].clone(),
                }
            }));
            row
        })
        .collect();
    DataTable {
        caption: Some(text.ta(
            "rep-kpi-by",
            &[("level", text.t(&format!("rep-level-{level}")))],
        )),
        columns,
        rows,
    }
}

fn csv_lines(
    p: &Product,
    defs: &[&KpiDefinition],
    scope: (&str, &str),
    groups: &KpiTable,
    out: &(KpiOut, GroupCells, Vec<Cell>),
    text: &Text,
) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let line = |code: &str, label: &str, d: &KpiDefinition, c: &[String; 6]| {
        vec![
            p.name.clone(),
            code.to_string(),
            label.to_string(),
            d.id.clone(),
            d.name(text.lang).to_string(),
            d.unit(text.lang).to_string(),
            target_text(d, text.lang),
            c[0].clone(),
            c[1].clone(),
            c[2].clone(),
            c[3].clone(),
            c[4].clone(),
            c[5].clone(),
        ]
    };
    // The scope's own line: the province when the report is for one, else the country
    // (the nation-level sums carry the key "VN" either way).
    let (code, label) = scope;
    for (d, c) in defs.iter().zip(&out.0.cells) {
        rows.push(line(code, label, d, c));
    }
    for (r, cells) in groups.rows.iter().zip(&out.1) {
        for (d, c) in defs.iter().zip(cells) {
            rows.push(line(&r.group, &r.label, d, c));
        }
    }
    rows
}

fn month_chart(
    d: &KpiDefinition,
    k: usize,
    months: &[Period],
    monthly: &[Option<KpiRow>],
    counts: Counts,
    text: &Text,
) -> Figure {
    let lang = text.lang;
    let values = monthly
        .iter()
        .map(|row| {
            let c = row.as_ref()?.cells.get(k)?;
            let shown = !counts.public
                || (!counts.rule.is_small(c.numerator)
                    && !c.denominator.is_some_and(|x| counts.rule.is_small(x)));
            c.value.filter(|_| shown && c.status == "ok")
        })
        .collect();
    let percent = d.proportion && d.scale == 100;
    let series = KpiSeries {
        periods: months.iter().map(|m| m.label(lang)).collect(),
        values,
        target: d.target,
        y_range: percent.then_some((0.0, 100.0)),
    };
    let name = d.name(lang).to_string();
    let labels = KpiLabels {
        text: ChartText {
            title: name.clone(),
            description: text.ta("rep-chart-desc", &[("kpi", name.clone())]),
            x_label: text.t("rep-month"),
            y_label: d.unit(lang).to_string(),
        },
        target: text.ta("rep-chart-target", &[("target", target_text(d, lang))]),
        missing: text.t("rep-no-data"),
    };
    Figure {
        svg: line_chart_svg(&series, &labels, report_lang(lang)),
        caption: text.ta("rep-chart-caption", &[("kpi", name)]),
    }
}

/// Deployments and completeness per province, in province code order.
fn province_rollup(
    status: &[(Deployment, BTreeMap<Period, time::Date>)],
    period: &Period,
    today: time::Date,
) -> BTreeMap<String, (u64, Completeness)> {
    let mut by_province: BTreeMap<String, (u64, Completeness)> = BTreeMap::new();
    for (d, received) in status {
        let e = by_province.entry(d.province_code.clone()).or_default();
        e.0 += 1;
        e.1.add(completeness(
            &owed_periods(d, period, today),
            received,
            DUE_DAYS,
        ));
    }
    by_province
}

async fn completeness_section(
    store: &Store,
    status: &[(Deployment, BTreeMap<Period, time::Date>)],
    period: &Period,
    today: time::Date,
    counts: Counts,
    text: &Text,
) -> Result<Vec<Block>, ReportBuildError> {
    let lang = text.lang;
    let by_province = province_rollup(status, period, today);
    let mut missing: Vec<(&Deployment, Vec<Period>)> = Vec::new();
    for (d, received) in status {
        let owed = owed_periods(d, period, today);
        let gaps: Vec<Period> = owed
            .into_iter()
            .filter(|p| !received.contains_key(p))
            .collect();
        if !gaps.is_empty() {
            missing.push((d, gaps));
        }
    }
    let mut names = HashMap::new();
    for code in by_province.keys() {
        let name = store
            .admin_unit(code)
            .await?
            .map_or_else(|| code.clone(), |u| u.name);
        names.insert(code.clone(), name);
    }
    let rows: Vec<(&String, &(u64, Completeness))> = by_province.iter().collect();
    let col = |f: &dyn Fn(&(u64, Completeness)) -> u64| -> Vec<u64> {
        rows.iter().map(|(_, v)| f(v)).collect()
    };
    let (deps, deps_t) = counts.column(&col(&|v| v.0))?;
    let (owed, owed_t) = counts.column(&col(&|v| v.1.expected))?;
    let (recv, recv_t) = counts.column(&col(&|v| v.1.received))?;
    let (ontime, ontime_t) = counts.column(&col(&|v| v.1.on_time))?;
    let mut table_rows: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(i, (code, _))| {
            vec![
                names.get(*code).cloned().unwrap_or_default(),
                counts.text(deps[i]),
                counts.text(owed[i]),
                counts.text(recv[i]),
                counts.text(ontime[i]),
                share_of(recv[i], owed[i], lang),
                share_of(ontime[i], owed[i], lang),
            ]
        })
        .collect();
    table_rows.push(vec![
        text.t("rep-total"),
        counts.text(deps_t),
        counts.text(owed_t),
        counts.text(recv_t),
        counts.text(ontime_t),
        share_of(recv_t, owed_t, lang),
        share_of(ontime_t, owed_t, lang),
    ]);
    let mut blocks = vec![Block::Table(DataTable {
        caption: Some(text.t("rep-completeness-by-province")),
        columns: vec![
            Column::text(text.t("rep-level-province")),
            Column::numeric(text.t("rep-deployments")),
            Column::numeric(text.t("rep-reports-owed")),
            Column::numeric(text.t("rep-reports-received")),
            Column::numeric(text.t("rep-on-time")),
            Column::numeric(text.t("rep-completeness")),
            Column::numeric(text.t("rep-timeliness")),
        ],
        rows: table_rows,
    })];
    // Who has not reported: facilities are named for staff only, never in public.
    if !counts.public {
        blocks.push(Block::heading(2, text.t("rep-missing")));
        if missing.is_empty() {
            blocks.push(Block::paragraph(text.t("rep-missing-none")));
        } else {
            let mut rows = Vec::new();
            for (d, gaps) in missing {
                let facility = store
                    .organisation(&d.facility_id)
                    .await?
                    .map_or_else(|| d.facility_id.clone(), |o| o.name);
                let product = store
                    .product(&d.product_id)
                    .await?
                    .map_or_else(|| d.product_id.clone(), |p| p.name);
                rows.push(vec![
                    facility,
                    names.get(&d.province_code).cloned().unwrap_or_default(),
                    product,
                    gaps.iter()
                        .map(Period::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                ]);
            }
            blocks.push(Block::Table(DataTable {
                caption: None,
                columns: vec![
                    Column::text(text.t("rep-level-facility")),
                    Column::text(text.t("rep-level-province")),
                    Column::text(text.t("rep-product")),
                    Column::text(text.t("rep-missing-periods")),
                ],
                rows,
            }));
        }
    }
    Ok(blocks)
}

fn in_period(stamp: &str, period: &Period) -> bool {
    stamp
        .get(..10)
        .and_then(|d| vigilo_core::appraisal::iso_date::parse(d).ok())
        .is_some_and(|d| period.contains_date(d))
}

async fn alerts_section(
    store: &Store,
    params: &ReportParams,
    products: &[Product],
    counts: Counts,
    text: &Text,
) -> Result<Vec<Block>, ReportBuildError> {
    let lang = text.lang;
    let period = &params.period;
    let in_scope: BTreeSet<&str> = products.iter().map(|p| p.id.as_str()).collect();
    let alerts: Vec<vigilo_store::Alert> = store
        .alerts(&AlertFilter {
            product_id: params.product_id.clone(),
            limit: 2000,
            ..AlertFilter::default()
        })
        .await?
        .into_iter()
        .filter(|a| in_scope.contains(a.product_id.as_str()))
        .filter(|a| {
            params
                .province_code
                .as_deref()
                .is_none_or(|c| c == a.province_code)
        })
        .collect();
    let raised: Vec<&vigilo_store::Alert> = alerts
        .iter()
        .filter(|a| in_period(&a.created_at, period))
        .collect();
    let resolved: Vec<&vigilo_store::Alert> = alerts
        .iter()
        .filter(|a| a.state == "resolved" && in_period(&a.updated_at, period))
        .collect();
    let mut by: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for a in &raised {
        by.entry((a.metric.clone(), a.level.clone())).or_default().0 += 1;
    }
    for a in &resolved {
        by.entry((a.metric.clone(), a.level.clone())).or_default().1 += 1;
    }
    let keys: Vec<&(String, String)> = by.keys().collect();
    let (r_cells, r_total) = counts.column(&by.values().map(|v| v.0).collect::<Vec<_>>())?;
    let (s_cells, s_total) = counts.column(&by.values().map(|v| v.1).collect::<Vec<_>>())?;
    let mut rows: Vec<Vec<String>> = keys
        .iter()
        .enumerate()
        .map(|(i, (metric, level))| {
            vec![
                metric.clone(),
                level.clone(),
                counts.text(r_cells[i]),
                counts.text(s_cells[i]),
            ]
        })
        .collect();
    rows.push(vec![
        text.t("rep-total"),
        String::new(),
        counts.text(r_total),
        counts.text(s_total),
    ]);
    let mut blocks = vec![Block::Table(DataTable {
        caption: Some(text.t("rep-alerts-counts")),
        columns: vec![
            Column::text(text.t("rep-metric")),
            Column::text(text.t("rep-alert-level")),
            Column::numeric(text.t("rep-raised")),
            Column::numeric(text.t("rep-resolved")),
        ],
        rows,
    })];
    if !counts.public && !raised.is_empty() {
        let mut rows = Vec::new();
        for a in &raised {
            let facility = store
                .deployment_view(&a.deployment_id)
                .await?
                .map_or_else(|| a.deployment_id.clone(), |d| d.facility_name);
            let product = products
                .iter()
                .find(|p| p.id == a.product_id)
                .map_or_else(|| a.product_id.clone(), |p| p.name.clone());
            rows.push(vec![
                a.created_at.get(..10).unwrap_or("").to_string(),
                product,
                facility,
                a.metric.clone(),
                a.method.clone(),
                a.period.clone(),
                a.level.clone(),
                format_number(a.value, 3, report_lang(lang)),
                a.state.clone(),
            ]);
        }
        blocks.push(Block::Table(DataTable {
            caption: Some(text.t("rep-alerts-list")),
            columns: vec![
                Column::text(text.t("rep-raised-on")),
                Column::text(text.t("rep-product")),
                Column::text(text.t("rep-level-facility")),
                Column::text(text.t("rep-metric")),
                Column::text(text.t("rep-method")),
                Column::text(text.t("rep-period")),
                Column::text(text.t("rep-alert-level")),
                Column::numeric(text.t("rep-value")),
                Column::text(text.t("rep-state")),
            ],
            rows,
        }));
    }
    Ok(blocks)
}

/// The impact assessment section: for each product, difference in differences of the KPIs
/// its active licences name, with data up to the end of the period (`crate::impact`). Says
/// so plainly when nothing could be assessed, rather than leave the reader wondering whether
/// it was forgotten. Estimates pool whole stations, so the public variant shows them too.
pub(crate) async fn impact_section(
    store: &Store,
    params: &ReportParams,
    products: &[Product],
    text: &Text,
) -> Result<Vec<Block>, ReportBuildError> {
    let mut blocks = vec![Block::heading(1, text.t("rep-impact"))];
    let through = params.period.last_day().min(store.now().date());
    let mut any = false;
    for p in products {
        match crate::impact::assess_licence_kpis(
            store,
            &p.id,
            through,
            vigilo_core::impact::DEFAULT_WINDOW_MONTHS,
        )
        .await
        {
            Ok(found) if !found.is_empty() => {
                any = true;
                blocks.push(Block::heading(2, p.name.clone()));
                blocks.extend(crate::impact::report_blocks(&found, params.lang));
            }
            Ok(_) => {}
            Err(crate::impact::ImpactError::Store(e)) => return Err(e.into()),
            Err(e) => tracing::warn!(product = %p.id, error = %e, "impact assessment skipped"),
        }
    }
    if !any {
        blocks.push(Block::note(NoteKind::Info, text.t("rep-impact-none")));
    }
    Ok(blocks)
}

// ---- web ----

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::extract::ApiQuery;
use crate::monitoring::{product_options, Opt};
use crate::pages::{render_page, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    pub period: Option<String>,
    pub product: Option<String>,
    pub province: Option<String>,
    pub format: Option<String>,
    pub public: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl ReportQuery {
    fn wants_public(&self) -> bool {
        matches!(
            self.public.as_deref().map(str::trim),
            Some("1" | "true" | "on" | "yes")
        )
    }

    /// The query string for `/reports/{period}`, keeping only what was chosen.
    fn query_string(&self, format: Option<&str>, public: bool) -> String {
        let mut parts = Vec::new();
        if let Some(p) = non_empty(&self.product) {
            parts.push(format!("product={}", crate::ctx::urlencode(&p)));
        }
        if let Some(p) = non_empty(&self.province) {
            parts.push(format!("province={}", crate::ctx::urlencode(&p)));
        }
        if let Some(f) = format.filter(|f| !f.is_empty() && *f != "html") {
            parts.push(format!("format={}", crate::ctx::urlencode(f)));
        }
        if public {
            parts.push("public=1".into());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    l: Layout,
    period: String,
    products: Vec<Opt>,
    provinces: Vec<Opt>,
    may_see_full: bool,
}

/// `GET /reports`: the form. Submitted (it is a GET form), it goes on to
/// `/reports/{period}`, so a report's address is stable and can be shared.
pub async fn reports_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> AppResult<Response> {
    if let Some(period) = non_empty(&q.period) {
        let target = format!(
            "/reports/{}{}",
            crate::ctx::urlencode(&period),
            q.query_string(q.format.as_deref(), q.wants_public())
        );
        return Ok(Redirect::to(&target).into_response());
    }
    let l = Layout::new(&state, &ctx);
    let products = product_options(&state, &ctx, None).await?;
    let (_, provinces) = state
        .store
        .deployment_choices(&vigilo_store::DeploymentFilter::default())
        .await
        .map_err(ctx.store_err())?;
    let provinces = provinces
        .into_iter()
        .map(|(value, label)| Opt {
            value,
            label,
            selected: false,
        })
        .collect();
    let period = Period::containing(PeriodKind::Quarter, state.store.now().date())
        .previous()
        .to_string();
    render_page(
        &ReportsPage {
            l,
            period,
            products,
            provinces,
            may_see_full: ctx.is_staff() || ctx.vendor_org().is_some(),
        },
        &ctx,
        StatusCode::OK,
    )
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    l: Layout,
    body: String,
    base: String,
    query_pdf: String,
    query_csv: String,
    query_xlsx: String,
    public: bool,
    other_variant: String,
}

fn build_error(ctx: &Ctx, e: ReportBuildError) -> AppError {
    match e {
        ReportBuildError::BadPeriod(_)
        | ReportBuildError::BadFormat(_)
        | ReportBuildError::UnknownProvince(_) => ctx.err(AppError::invalid(e.to_string())),
        ReportBuildError::UnknownProduct(_) => ctx.err(AppError::not_found()),
        ReportBuildError::Store(e) => ctx.err(e.into()),
        other => {
            tracing::error!(error = %other, "monitoring report failed");
            ctx.err(AppError::new(ErrorCode::Internal))
        }
    }
}

/// Which variant the caller gets: staff the full one unless they ask for the public one;
/// a vendor the full one for its own product only (another maker's product is "not
/// found", as everywhere else); everybody else the public one.
async fn variant_for(
    state: &AppState,
    ctx: &Ctx,
    product: Option<&str>,
    wants_public: bool,
) -> AppResult<bool> {
    if ctx.is_staff() {
        return Ok(wants_public);
    }
    let Some(org) = ctx.vendor_org() else {
        return Ok(true);
    };
    if wants_public {
        return Ok(true);
    }
    match product {
        // Without a product a vendor would see its competitors: the public variant only.
        None => Ok(true),
        Some(id) => {
            let p = state.store.product(id).await.map_err(ctx.store_err())?;
            if p.is_some_and(|p| p.manufacturer_id == org) {
                Ok(false)
            } else {
                Err(ctx.err(AppError::not_found()))
            }
        }
    }
}

fn download(bytes: Vec<u8>, format: ReportFormat, filename: &str) -> Response {
    let mut resp = bytes.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// `GET /reports/{period}?product=&province=&format=html|pdf|csv|xlsx&public=1`.
pub async fn report(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(period): Path<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> AppResult<Response> {
    let period = parse_report_period(&period).map_err(|e| build_error(&ctx, e))?;
    let format = ReportFormat::parse(q.format.as_deref().unwrap_or("html"))
        .map_err(|e| build_error(&ctx, e))?;
    let product = non_empty(&q.product);
    let public = variant_for(&state, &ctx, product.as_deref(), q.wants_public()).await?;
    let params = ReportParams {
        period,
        product_id: product,
        province_code: non_empty(&q.province),
        public,
        lang: ctx.lang,
    };
    let built = build_period_report(&state.store, &params)
        .await
        .map_err(|e| build_error(&ctx, e))?;
    let filename = report_filename(&params, format);
    match format {
        ReportFormat::Html => {
            let l = Layout::new(&state, &ctx);
            let base = format!("/reports/{}", params.period);
            let other_variant = if ctx.is_staff() || (ctx.vendor_org().is_some() && !public) {
                format!("{base}{}", q.query_string(None, !public))
            } else {
                String::new()
            };
            render_page(
                &ReportPage {
                    l,
                    body: to_html(&built.document),
                    query_pdf: q.query_string(Some("pdf"), public),
                    query_csv: q.query_string(Some("csv"), public),
                    query_xlsx: q.query_string(Some("xlsx"), public),
                    base,
                    public,
                    other_variant,
                },
                &ctx,
                StatusCode::OK,
            )
        }
        ReportFormat::Pdf => crate::pdf_response(&ctx, built.document, &filename).await,
        ReportFormat::Csv | ReportFormat::Xlsx => {
            let bytes = render_report(&built, format).map_err(|e| build_error(&ctx, e))?;
            Ok(download(bytes, format, &filename))
        }
    }
}
