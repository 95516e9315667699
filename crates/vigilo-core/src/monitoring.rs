//! Post-deployment monitoring rules: what a deployment declares it will report, the checks
//! every period report passes before it is stored, deployment states, training records,
//! phased-rollout CSV rows and reporting completeness.
//!
//! Reports are aggregates (counts and histograms per period), never patient rows
//! (design.md section 3).

use crate::directory::{vocabulary, UnknownCode};
use crate::period::{Period, PeriodKind};
use crate::Lang;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use time::Date;

vocabulary!(
    /// Where a deployment is in its life.
    DeploymentStatus, "deployment status", {
        Planned => ("planned", "Đã lên kế hoạch", "Planned"),
        Active => ("active", "Đang sử dụng", "Active"),
        Paused => ("paused", "Tạm dừng", "Paused"),
        Ended => ("ended", "Đã kết thúc", "Ended"),
    }
);

/// One histogram a deployment reports each period, over bins fixed in advance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixDeclaration {
    /// Machine name, e.g. `age_band`.
    pub name: String,
    pub label: String,
    pub label_en: String,
    /// Bin labels, in order; include an `unknown` bin so every use can be counted.
    pub bins: Vec<String>,
}

/// What every deployment of a product version reports besides the fixed counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Declaration {
    /// Edges of the output score histogram (n + 1 edges for n bins); empty when the tool
    /// gives no score (a virtual assistant, say).
    #[serde(default)]
    pub score_edges: Vec<f64>,
    /// Index of the first score bin counted as a positive output (the decision threshold).
    #[serde(default)]
    pub positive_from_bin: usize,
    #[serde(default)]
    pub mix: Vec<MixDeclaration>,
    /// Extra named counters, e.g. `confirmatory_tests`, `unsafe_answers`.
    #[serde(default)]
    pub counters: Vec<String>,
}

pub const AGE_BANDS: [&str; 8] = [
    "0-4", "5-14", "15-24", "25-44", "45-64", "65-79", "80+", "unknown",
];
pub const SEXES: [&str; 3] = ["female", "male", "unknown"];

impl Declaration {
    /// Age band and sex for everyone, ten equal score bins with the threshold at 0.5.
    pub fn standard() -> Declaration {
        Declaration {
            score_edges: (0..=10).map(|i| f64::from(i) / 10.0).collect(),
            positive_from_bin: 5,
            mix: vec![
                MixDeclaration {
                    name: "age_band".into(),
                    label: "Nhóm tuổi".into(),
                    label_en: "Age band".into(),
                    bins: AGE_BANDS.iter().map(|s| s.to_string()).collect(),
                },
                MixDeclaration {
                    name: "sex".into(),
                    label: "Giới tính".into(),
                    label_en: "Sex".into(),
                    bins: SEXES.iter().map(|s| s.to_string()).collect(),
                },
            ],
            counters: Vec::new(),
        }
    }

    pub fn score_bins(&self) -> usize {
        self.score_edges.len().saturating_sub(1)
    }

    pub fn mix_named(&self, name: &str) -> Option<&MixDeclaration> {
        self.mix.iter().find(|m| m.name == name)
    }

    /// Checks the declaration itself (a reviewer or vendor writes it).
    pub fn validate(&self) -> Result<(), String> {
        if !self.score_edges.is_empty() {
            if self.score_edges.len() < 3 {
                return Err("score_edges needs at least three edges (two bins)".into());
            }
            if self.score_edges.iter().any(|e| !e.is_finite())
                || self.score_edges.windows(2).any(|w| w[0] >= w[1])
            {
                return Err("score_edges must be finite and strictly increasing".into());
            }
            if self.positive_from_bin == 0 || self.positive_from_bin >= self.score_bins() {
                return Err(
                    "positive_from_bin must name a bin after the first and inside the histogram"
                        .into(),
                );
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for m in &self.mix {
            if !is_machine_name(&m.name) {
                return Err(format!(
                    "mix name '{}' must be lower-case letters, digits and _",
                    m.name
                ));
            }
            if !names.insert(m.name.as_str()) {
                return Err(format!("mix '{}' is declared twice", m.name));
            }
            if m.bins.len() < 2 {
                return Err(format!("mix '{}' needs at least two bins", m.name));
            }
        }
        for c in &self.counters {
            if !is_machine_name(c) {
                return Err(format!(
                    "counter name '{c}' must be lower-case letters, digits and _"
                ));
            }
        }
        Ok(())
    }
}

fn is_machine_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A period report as it arrives (JSON, CSV or the form), before any check. Counts are
/// signed so that a negative number gets a message instead of a parse failure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportInput {
    pub deployment: String,
    pub period: String,
    pub uses: i64,
    #[serde(default)]
    pub positives: i64,
    #[serde(default)]
    pub tp: Option<i64>,
    #[serde(default)]
    pub fp: Option<i64>,
    #[serde(default, rename = "fn")]
    pub fn_: Option<i64>,
    #[serde(default)]
    pub tn: Option<i64>,
    #[serde(default)]
    pub overrides: i64,
    #[serde(default)]
    pub escalations: i64,
    #[serde(default)]
    pub downtime_minutes: i64,
    #[serde(default)]
    pub latency_p50_ms: Option<f64>,
    #[serde(default)]
    pub latency_p95_ms: Option<f64>,
    #[serde(default)]
    pub score_histogram: Vec<i64>,
    #[serde(default)]
    pub mix: BTreeMap<String, Vec<i64>>,
    #[serde(default)]
    pub counters: BTreeMap<String, i64>,
}

/// Outcomes confirmed by a reference test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub tn: u64,
}

impl Verified {
    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.fn_ + self.tn
    }
}

/// A checked period report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodReport {
    pub period: Period,
    /// A period that ended on or before go-live: the same programme counts measured without
    /// the AI (see [`is_baseline`]). Kept apart from AI KPIs, used for impact assessment.
    #[serde(default)]
    pub baseline: bool,
    pub uses: u64,
    pub positives: u64,
    pub verified: Option<Verified>,
    pub overrides: u64,
    pub escalations: u64,
    pub downtime_minutes: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub score_histogram: Vec<u64>,
    pub mix: BTreeMap<String, Vec<u64>>,
    pub counters: BTreeMap<String, u64>,
}

/// How far back before go-live a deployment may report baseline periods, unless its facts
/// say otherwise. A year: a station going live later must cover an earlier cohort's whole
/// before and after windows (2K + 1 months, 7 with the default K = 3) with baseline reports
/// to serve as its comparison, and a year of registers is what stations keep at hand.
pub const DEFAULT_BASELINE_MONTHS: u8 = 12;

/// What the checks need to know about the deployment a report is for.
#[derive(Debug, Clone)]
pub struct DeploymentFacts<'a> {
    pub frequency: PeriodKind,
    pub go_live: Date,
    pub end_date: Option<Date>,
    pub status: DeploymentStatus,
    pub declaration: &'a Declaration,
    /// Months before go-live from which baseline periods are accepted (the period holding
    /// that day is the first one); 0 accepts no baseline at all.
    pub baseline_months: u8,
}

/// Whether a period is a baseline period: it ends on or before go-live, so nothing in it
/// was seen by the AI. The go-live period itself is not baseline (it is partly AI).
pub fn is_baseline(period: &Period, go_live: Date) -> bool {
    period.end() <= go_live
}

/// The first day of the baseline window: `months` before go-live, same day of the month
/// (clamped to the month's last day).
pub fn baseline_start(go_live: Date, months: u8) -> Date {
    let total = go_live.year() * 12 + i32::from(u8::from(go_live.month())) - 1 - i32::from(months);
    let (year, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let month = time::Month::try_from(m as u8).unwrap_or(time::Month::January);
    let last = month.length(year);
    Date::from_calendar_date(year, month, go_live.day().min(last)).unwrap_or(go_live)
}

/// One problem with one field of a report, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
    pub message_vi: String,
}

impl FieldProblem {
    fn new(field: &str, en: String, vi: String) -> FieldProblem {
        FieldProblem {
            field: field.to_string(),
            message: en,
            message_vi: vi,
        }
    }

    pub fn text(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.message_vi,
            Lang::En => &self.message,
        }
    }
}

fn count(problems: &mut Vec<FieldProblem>, field: &str, v: i64) -> u64 {
    if v < 0 {
        problems.push(FieldProblem::new(
            field,
            format!("{field} must not be negative (got {v})"),
            format!("{field} không được âm (nhận được {v})"),
        ));
        0
    } else {
        v as u64
    }
}

/// Checks a report against its deployment and the day it arrived; every problem is
/// listed, not just the first, so a station fixes a row in one go.
pub fn check_report(
    input: &ReportInput,
    facts: &DeploymentFacts<'_>,
    today: Date,
) -> Result<PeriodReport, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let period = match Period::parse(&input.period) {
        Ok(p) => Some(p),
        Err(e) => {
            problems.push(FieldProblem::new(
                "period",
                e.to_string(),
                format!(
                    "'{}' không phải là kỳ báo cáo: viết ngày 2026-03-05, tuần 2026-W10 hoặc tháng 2026-03",
                    input.period.trim()
                ),
            ));
            None
        }
    };
    if let Some(p) = period {
        if p.kind() != facts.frequency {
            problems.push(FieldProblem::new(
                "period",
                format!(
                    "this deployment reports by {}: send {} periods, not {}",
                    facts.frequency.label(Lang::En),
                    facts.frequency.label(Lang::En),
                    p
                ),
                format!(
                    "triển khai này báo cáo theo {}: hãy gửi kỳ theo {}, không phải {}",
                    facts.frequency.label(Lang::Vi),
                    facts.frequency.label(Lang::Vi),
                    p
                ),
            ));
        }
        if p.start() > today {
            problems.push(FieldProblem::new(
                "period",
                format!("period {p} has not started yet"),
                format!("kỳ {p} chưa bắt đầu"),
            ));
        }
        if is_baseline(&p, facts.go_live) {
            // A baseline period: accepted back to the window's first period, so a station
            // cannot fill years of history that nobody will check.
            let first = Period::containing(
                p.kind(),
                baseline_start(facts.go_live, facts.baseline_months),
            );
            if facts.baseline_months == 0 || p.start() < first.start() {
                let from = crate::appraisal::iso_date::format(first.start());
                let live = crate::appraisal::iso_date::format(facts.go_live);
                problems.push(FieldProblem::new(
                    "period",
                    format!(
                        "period {p} ends before the deployment went live on {live} and is outside its baseline window (periods from {from})"
                    ),
                    format!(
                        "kỳ {p} kết thúc trước ngày triển khai {live} và nằm ngoài khoảng báo cáo nền (các kỳ từ {from})"
                    ),
                ));
            }
        }
        if let Some(end) = facts.end_date {
            if p.start() > end {
                problems.push(FieldProblem::new(
                    "period",
                    format!(
                        "the deployment ended on {}; period {p} is after it",
                        crate::appraisal::iso_date::format(end)
                    ),
                    format!(
                        "triển khai đã kết thúc ngày {}; kỳ {p} sau ngày đó",
                        crate::appraisal::iso_date::format(end)
                    ),
                ));
            }
        }
    }
    // A planned deployment has no AI in use yet: it may send baseline periods (the "before"
    // of the impact assessment, and the not-yet-treated comparison) but nothing else.
    let baseline = period.is_some_and(|p| is_baseline(&p, facts.go_live));
    if facts.status == DeploymentStatus::Planned && !baseline {
        problems.push(FieldProblem::new(
            "deployment",
            "the deployment has not gone live; it may send only baseline periods (ending on or before go-live) until an administrator activates it".into(),
            "triển khai chưa đi vào hoạt động; trước khi quản trị viên kích hoạt, chỉ gửi được các kỳ nền (kết thúc trước ngày triển khai)".into(),
        ));
    }

    let uses = count(&mut problems, "uses", input.uses);
    let positives = count(&mut problems, "positives", input.positives);
    let overrides = count(&mut problems, "overrides", input.overrides);
    let escalations = count(&mut problems, "escalations", input.escalations);
    let downtime_minutes = count(&mut problems, "downtime_minutes", input.downtime_minutes);
    if positives > uses {
        problems.push(FieldProblem::new(
            "positives",
            format!("positives ({positives}) cannot exceed uses ({uses})"),
            format!("số kết quả dương tính ({positives}) không thể lớn hơn số lượt dùng ({uses})"),
        ));
    }
    for (field, v) in [("overrides", overrides), ("escalations", escalations)] {
        if v > uses {
            problems.push(FieldProblem::new(
                field,
                format!("{field} ({v}) cannot exceed uses ({uses})"),
                format!("{field} ({v}) không thể lớn hơn số lượt dùng ({uses})"),
            ));
        }
    }
    if let Some(p) = period {
        let minutes = p.days() as u64 * 24 * 60;
        if downtime_minutes > minutes {
            problems.push(FieldProblem::new(
                "downtime_minutes",
                format!("downtime ({downtime_minutes} minutes) is longer than the period ({minutes} minutes)"),
                format!("thời gian ngừng ({downtime_minutes} phút) dài hơn cả kỳ ({minutes} phút)"),
            ));
        }
    }

    let outcome = [input.tp, input.fp, input.fn_, input.tn];
    let verified = if outcome.iter().all(Option::is_none) {
        None
    } else if outcome.iter().any(Option::is_none) {
        problems.push(FieldProblem::new(
            "tp",
            "give all four verified outcomes (tp, fp, fn, tn) or none of them".into(),
            "hãy ghi đủ bốn kết quả đã xác minh (tp, fp, fn, tn) hoặc bỏ trống cả bốn".into(),
        ));
        None
    } else {
        let v = Verified {
            tp: count(&mut problems, "tp", input.tp.unwrap_or(0)),
            fp: count(&mut problems, "fp", input.fp.unwrap_or(0)),
            fn_: count(&mut problems, "fn", input.fn_.unwrap_or(0)),
            tn: count(&mut problems, "tn", input.tn.unwrap_or(0)),
        };
        if v.tp + v.fp > positives {
            problems.push(FieldProblem::new(
                "tp",
                format!(
                    "verified positives tp + fp ({}) cannot exceed positive outputs ({positives})",
                    v.tp + v.fp
                ),
                format!(
                    "tp + fp ({}) không thể lớn hơn số kết quả dương tính ({positives})",
                    v.tp + v.fp
                ),
            ));
        }
        let negatives = uses.saturating_sub(positives);
        if v.fn_ + v.tn > negatives {
            problems.push(FieldProblem::new(
                "fn",
                format!(
                    "verified negatives fn + tn ({}) cannot exceed negative outputs ({negatives})",
                    v.fn_ + v.tn
                ),
                format!(
                    "fn + tn ({}) không thể lớn hơn số kết quả âm tính ({negatives})",
                    v.fn_ + v.tn
                ),
            ));
        }
        Some(v)
    };

    for (field, v) in [
        ("latency_p50_ms", input.latency_p50_ms),
        ("latency_p95_ms", input.latency_p95_ms),
    ] {
        if let Some(x) = v {
            if !x.is_finite() || x < 0.0 {
                problems.push(FieldProblem::new(
                    field,
                    format!("{field} must be a non-negative number of milliseconds"),
                    format!("{field} phải là số mili giây không âm"),
                ));
            }
        }
    }
    if let (Some(a), Some(b)) = (input.latency_p50_ms, input.latency_p95_ms) {
        if a > b {
            problems.push(FieldProblem::new(
                "latency_p95_ms",
                format!("the 95th percentile latency ({b}) cannot be below the median ({a})"),
                format!("độ trễ phân vị 95 ({b}) không thể nhỏ hơn trung vị ({a})"),
            ));
        }
    }

    let decl = facts.declaration;
    let score_histogram = if input.score_histogram.is_empty() {
        Vec::new()
    } else if decl.score_bins() == 0 {
        problems.push(FieldProblem::new(
            "score_histogram",
            "this product declares no output score; leave score_histogram out".into(),
            "sản phẩm này không khai báo điểm đầu ra; hãy bỏ score_histogram".into(),
        ));
        Vec::new()
    } else if input.score_histogram.len() != decl.score_bins() {
        problems.push(FieldProblem::new(
            "score_histogram",
            format!(
                "score_histogram has {} bins; the declaration has {}",
                input.score_histogram.len(),
                decl.score_bins()
            ),
            format!(
                "score_histogram có {} khoảng; khai báo có {}",
                input.score_histogram.len(),
                decl.score_bins()
            ),
        ));
        Vec::new()
    } else {
        let h: Vec<u64> = input
            .score_histogram
            .iter()
            .map(|v| count(&mut problems, "score_histogram", *v))
            .collect();
        let total: u64 = h.iter().sum();
        if total != uses {
            problems.push(FieldProblem::new(
                "score_histogram",
                format!("score_histogram counts {total} uses; the report says {uses}"),
                format!("score_histogram đếm {total} lượt; báo cáo ghi {uses}"),
            ));
        }
        h
    };

    let mut mix = BTreeMap::new();
    for (name, bins) in &input.mix {
        let field = format!("mix.{name}");
        let Some(d) = decl.mix_named(name) else {
            let known: Vec<&str> = decl.mix.iter().map(|m| m.name.as_str()).collect();
            problems.push(FieldProblem::new(
                &field,
                format!(
                    "'{name}' is not a declared histogram (declared: {})",
                    known.join(", ")
                ),
                format!(
                    "'{name}' không phải biểu đồ đã khai báo (đã khai báo: {})",
                    known.join(", ")
                ),
            ));
            continue;
        };
        if bins.len() != d.bins.len() {
            problems.push(FieldProblem::new(
                &field,
                format!(
                    "{name} has {} bins; the declaration has {} ({})",
                    bins.len(),
                    d.bins.len(),
                    d.bins.join(", ")
                ),
                format!(
                    "{name} có {} khoảng; khai báo có {} ({})",
                    bins.len(),
                    d.bins.len(),
                    d.bins.join(", ")
                ),
            ));
            continue;
        }
        let h: Vec<u64> = bins
            .iter()
            .map(|v| count(&mut problems, &field, *v))
            .collect();
        let total: u64 = h.iter().sum();
        if total != uses {
            problems.push(FieldProblem::new(
                &field,
                format!("{name} counts {total} uses; the report says {uses} (count unknowns in the 'unknown' bin)"),
                format!("{name} đếm {total} lượt; báo cáo ghi {uses} (hãy đếm trường hợp không rõ vào khoảng 'unknown')"),
            ));
        }
        mix.insert(name.clone(), h);
    }

    let mut counters = BTreeMap::new();
    for (name, v) in &input.counters {
        let field = format!("counters.{name}");
        if !decl.counters.contains(name) {
            problems.push(FieldProblem::new(
                &field,
                format!(
                    "'{name}' is not a declared counter (declared: {})",
                    decl.counters.join(", ")
                ),
                format!(
                    "'{name}' không phải bộ đếm đã khai báo (đã khai báo: {})",
                    decl.counters.join(", ")
                ),
            ));
            continue;
        }
        counters.insert(name.clone(), count(&mut problems, &field, *v));
    }

    match (period, problems.is_empty()) {
        (Some(period), true) => Ok(PeriodReport {
            period,
            baseline,
            uses,
            positives,
            verified,
            overrides,
            escalations,
            downtime_minutes,
            latency_p50_ms: input.latency_p50_ms,
            latency_p95_ms: input.latency_p95_ms,
            score_histogram,
            mix,
            counters,
        }),
        _ => Err(problems),
    }
}

/// Column order of the CSV form of reports; histograms are `;`-separated counts in one cell
/// (`mix.age_band`), counters one column each (`counter.unsafe_answers`).
pub const CSV_FIXED_COLUMNS: [&str; 13] = [
    "deployment",
    "period",
    "uses",
    "positives",
    "tp",
    "fp",
    "fn",
    "tn",
    "overrides",
    "escalations",
    "downtime_minutes",
    "latency_p50_ms",
    "latency_p95_ms",
];

/// A CSV row that could not even be read as a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {row}: {message}")]
pub struct CsvRowError {
    pub row: usize,
    pub message: String,
}

/// Reads a CSV batch into report inputs, row by row: rows that cannot be read come back as
/// errors beside the rows that can. A header problem fails the whole file.
pub fn parse_reports_csv(text: &str) -> Result<Vec<Result<ReportInput, CsvRowError>>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .clone();
    for required in ["deployment", "period", "uses"] {
        if !headers.iter().any(|h| h == required) {
            return Err(format!("the header row has no '{required}' column"));
        }
    }
    for h in headers.iter() {
        let known = CSV_FIXED_COLUMNS.contains(&h)
            || h == "score_histogram"
            || h.strip_prefix("mix.").is_some_and(is_machine_name)
            || h.strip_prefix("counter.").is_some_and(is_machine_name);
        if !known {
            return Err(format!(
                "unknown column '{h}': use {}, score_histogram, mix.NAME or counter.NAME",
                CSV_FIXED_COLUMNS.join(", ")
            ));
        }
    }
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2; // the header is row 1, as a spreadsheet shows it
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.push(Err(CsvRowError {
                    row,
                    message: e.to_string(),
                }));
                continue;
            }
        };
        out.push(csv_row(&headers, &record).map_err(|message| CsvRowError { row, message }));
    }
    Ok(out)
}

fn csv_row(headers: &csv::StringRecord, record: &csv::StringRecord) -> Result<ReportInput, String> {
    let int = |h: &str, v: &str| -> Result<i64, String> {
        v.parse::<i64>()
            .map_err(|_| format!("{h}: '{v}' is not a whole number"))
    };
    let list = |h: &str, v: &str| -> Result<Vec<i64>, String> {
        v.split(';').map(|x| int(h, x.trim())).collect()
    };
    let mut r = ReportInput::default();
    for (h, v) in headers.iter().zip(record.iter()) {
        if v.is_empty() {
            continue;
        }
        match h {
            "deployment" => r.deployment = v.to_string(),
            "period" => r.period = v.to_string(),
            "uses" => r.uses = int(h, v)?,
            "positives" => r.positives = int(h, v)?,
            "tp" => r.tp = Some(int(h, v)?),
            "fp" => r.fp = Some(int(h, v)?),
            "fn" => r.fn_ = Some(int(h, v)?),
            "tn" => r.tn = Some(int(h, v)?),
            "overrides" => r.overrides = int(h, v)?,
            "escalations" => r.escalations = int(h, v)?,
            "downtime_minutes" => r.downtime_minutes = int(h, v)?,
            "latency_p50_ms" | "latency_p95_ms" => {
                let x = v
                    .parse::<f64>()
                    .map_err(|_| format!("{h}: '{v}' is not a number"))?;
                if h == "latency_p50_ms" {
                    r.latency_p50_ms = Some(x);
                } else {
                    r.latency_p95_ms = Some(x);
                }
            }
            "score_histogram" => r.score_histogram = list(h, v)?,
            _ => {
                if let Some(name) = h.strip_prefix("mix.") {
                    r.mix.insert(name.to_string(), list(h, v)?);
                } else if let Some(name) = h.strip_prefix("counter.") {
                    r.counters.insert(name.to_string(), int(h, v)?);
                }
            }
        }
    }
    if r.deployment.is_empty() || r.period.is_empty() {
        return Err("deployment and period are required".into());
    }
    Ok(r)
}

/// A training session at a facility on a product (no personal data: only how many).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingRecord {
    #[serde(with = "crate::appraisal::iso_date")]
    pub trained_on: Date,
    pub course: String,
    pub staff_trained: u32,
}

impl TrainingRecord {
    pub fn validate(&self, today: Date) -> Result<(), String> {
        if self.trained_on > today {
            return Err("the training date is in the future".into());
        }
        if self.course.trim().is_empty() || self.course.chars().count() > 200 {
            return Err("name the course (at most 200 characters)".into());
        }
        if self.staff_trained == 0 || self.staff_trained > 10_000 {
            return Err("the number of staff trained must be between 1 and 10,000".into());
        }
        Ok(())
    }
}

/// One line of a phased-rollout CSV: `facility,go_live[,end_date][,frequency]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRow {
    pub row: usize,
    pub facility_code: String,
    pub go_live: Date,
    pub end_date: Option<Date>,
    pub frequency: PeriodKind,
}

/// Reads a rollout CSV; returns every readable row and every problem with its row number.
pub fn parse_rollout_csv(
    text: &str,
    default_frequency: PeriodKind,
) -> (Vec<RolloutRow>, Vec<CsvRowError>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            errors.push(CsvRowError {
                row: 1,
                message: format!("cannot read the header row: {e}"),
            });
            return (rows, errors);
        }
    };
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(fc), Some(gl)) = (col("facility"), col("go_live")) else {
        errors.push(CsvRowError {
            row: 1,
            message: "the header row must have the columns facility and go_live (and optionally end_date, frequency)".into(),
        });
        return (rows, errors);
    };
    let ed = col("end_date");
    let fr = col("frequency");
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(CsvRowError {
                    row,
                    message: e.to_string(),
                });
                continue;
            }
        };
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("").to_string();
        let facility_code = get(Some(fc));
        if facility_code.is_empty() {
            errors.push(CsvRowError {
                row,
                message: "facility code is empty".into(),
            });
            continue;
        }
        let go_live = match crate::appraisal::iso_date::parse(&get(Some(gl))) {
            Ok(d) => d,
            Err(_) => {
                errors.push(CsvRowError {
                    row,
                    message: format!("go_live '{}' is not a date like 2026-03-01", get(Some(gl))),
                });
                continue;
            }
        };
        let end_text = get(ed);
        let end_date = if end_text.is_empty() {
            None
        } else {
            match crate::appraisal::iso_date::parse(&end_text) {
                Ok(d) if d > go_live => Some(d),
                Ok(_) => {
                    errors.push(CsvRowError {
                        row,
                        message: "end_date must be after go_live".into(),
                    });
                    continue;
                }
                Err(_) => {
                    errors.push(CsvRowError {
                        row,
                        message: format!("end_date '{end_text}' is not a date like 2027-06-30"),
                    });
                    continue;
                }
            }
        };
        let freq_text = get(fr);
        let frequency = if freq_text.is_empty() {
            default_frequency
        } else {
            match PeriodKind::parse(&freq_text.to_ascii_lowercase()) {
                Some(k) if k.is_reporting_frequency() => k,
                _ => {
                    errors.push(CsvRowError {
                        row,
                        message: format!("frequency '{freq_text}' must be day, week or month"),
                    });
                    continue;
                }
            }
        };
        rows.push(RolloutRow {
            row,
            facility_code,
            go_live,
            end_date,
            frequency,
        });
    }
    (rows, errors)
}

/// The periods a deployment owes by `today`: from go-live to its end (or to the last
/// period that ended `grace_days` or more before today).
pub fn expected_periods(
    frequency: PeriodKind,
    go_live: Date,
    end_date: Option<Date>,
    today: Date,
    grace_days: i64,
) -> Vec<Period> {
    let cutoff = today - time::Duration::days(grace_days);
    let last = end_date.map_or(cutoff, |e| e.min(cutoff));
    Period::range(frequency, go_live, last)
        .into_iter()
        .filter(|p| p.end() <= cutoff + time::Duration::days(1) && p.end() > go_live)
        .collect()
}

/// Reporting completeness and timeliness of one facility or deployment, DHIS2 style:
/// received / expected, and on time / expected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Completeness {
    pub expected: u64,
    pub received: u64,
    pub on_time: u64,
}

impl Completeness {
    pub fn add(&mut self, other: Completeness) {
        self.expected += other.expected;
        self.received += other.received;
        self.on_time += other.on_time;
    }

    pub fn completeness(&self) -> Option<f64> {
        (self.expected > 0).then(|| self.received as f64 / self.expected as f64)
    }

    pub fn timeliness(&self) -> Option<f64> {
        (self.expected > 0).then(|| self.on_time as f64 / self.expected as f64)
    }
}

/// Compares what was owed with what arrived. `received` maps each period to the day its
/// first revision arrived; a report is on time when it arrived within `due_days` of the
/// period's end.
pub fn completeness(
    expected: &[Period],
    received: &BTreeMap<Period, Date>,
    due_days: i64,
) -> Completeness {
    let mut c = Completeness {
        expected: expected.len() as u64,
        ..Completeness::default()
    };
    for p in expected {
        if let Some(day) = received.get(p) {
            c.received += 1;
            if *day < p.end() + time::Duration::days(due_days) {
                c.on_time += 1;
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn facts(decl: &Declaration) -> DeploymentFacts<'_> {
        DeploymentFacts {
            frequency: PeriodKind::Month,
            go_live: date!(2026 - 01 - 15),
            end_date: None,
            status: DeploymentStatus::Active,
            declaration: decl,
            baseline_months: DEFAULT_BASELINE_MONTHS,
        }
    }

    fn good() -> ReportInput {
        ReportInput {
            deployment: "d1".into(),
            period: "2026-03".into(),
            uses: 100,
            positives: 20,
            tp: Some(15),
            fp: Some(4),
            fn_: Some(2),
            tn: Some(50),
            overrides: 3,
            escalations: 5,
            downtime_minutes: 30,
            latency_p50_ms: Some(120.0),
            latency_p95_ms: Some(900.0),
            score_histogram: vec![40, 20, 10, 5, 5, 5, 5, 5, 3, 2],
            mix: BTreeMap::from([("sex".to_string(), vec![50, 45, 5])]),
            counters: BTreeMap::new(),
        }
    }

    fn fields(p: &[FieldProblem]) -> Vec<&str> {
        p.iter().map(|x| x.field.as_str()).collect()
    }

    #[test]
    fn a_sound_report_passes() {
        let d = Declaration::standard();
        let r = check_report(&good(), &facts(&d), date!(2026 - 04 - 02)).unwrap();
        assert_eq!(r.period.to_string(), "2026-03");
        assert_eq!(r.verified.unwrap().total(), 71);
        assert_eq!(r.mix["sex"], vec![50, 45, 5]);
    }

    #[test]
    fn the_standard_declaration_is_valid() {
        Declaration::standard().validate().unwrap();
        let mut bad = Declaration::standard();
        bad.score_edges = vec![0.0, 0.5, 0.4];
        assert!(bad.validate().is_err());
        let mut bad = Declaration::standard();
        bad.positive_from_bin = 10;
        assert!(bad.validate().is_err());
        let mut bad = Declaration::standard();
        bad.mix.push(bad.mix[0].clone());
        assert!(bad.validate().is_err());
    }

    #[test]
    fn every_problem_of_a_row_is_listed() {
        let d = Declaration::standard();
        let mut r = good();
        r.uses = -1;
        r.tp = Some(30);
        r.period = "2026-3".into();
        let p = check_report(&r, &facts(&d), date!(2026 - 04 - 02)).unwrap_err();
        let f = fields(&p);
        assert!(
            f.contains(&"uses") && f.contains(&"period") && f.contains(&"tp"),
            "{f:?}"
        );
        assert!(p
            .iter()
            .all(|x| !x.message.is_empty() && !x.message_vi.is_empty()));
    }

    #[test]
    fn counts_must_be_consistent() {
        let d = Declaration::standard();
        let day = date!(2026 - 04 - 02);
        let check = |f: &dyn Fn(&mut ReportInput)| {
            let mut r = good();
            f(&mut r);
            check_report(&r, &facts(&d), day)
                .map(|_| ())
                .map_err(|p| fields(&p).iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(check(&|r| r.positives = 101).unwrap_err()[0], "positives");
        assert!(check(&|r| r.tp = Some(17))
            .unwrap_err()
            .contains(&"tp".to_string()));
        assert!(check(&|r| r.tn = Some(79))
            .unwrap_err()
            .contains(&"fn".to_string()));
        assert!(check(&|r| r.tn = None)
            .unwrap_err()
            .contains(&"tp".to_string()));
        assert!(check(&|r| r.overrides = 101)
            .unwrap_err()
            .contains(&"overrides".to_string()));
        assert!(check(&|r| r.downtime_minutes = 31 * 24 * 60 + 1)
            .unwrap_err()
            .contains(&"downtime_minutes".to_string()));
        assert!(check(&|r| r.downtime_minutes = 31 * 24 * 60).is_ok());
        assert!(check(&|r| r.latency_p95_ms = Some(100.0)).is_err());
        assert!(check(&|r| r.latency_p50_ms = Some(f64::NAN)).is_err());
        assert!(
            check(&|r| r.score_histogram.pop().map(|_| ()).unwrap_or(()))
                .unwrap_err()
                .contains(&"score_histogram".to_string())
        );
        assert!(check(&|r| r.score_histogram[0] += 1).is_err());
        assert!(check(&|r| {
            r.mix.insert("sex".into(), vec![50, 50]);
        })
        .unwrap_err()
        .contains(&"mix.sex".to_string()));
        assert!(check(&|r| {
            r.mix.insert("income".into(), vec![50, 50]);
        })
        .unwrap_err()
        .contains(&"mix.income".to_string()));
        assert!(check(&|r| {
            r.counters.insert("unsafe_answers".into(), 1);
        })
        .unwrap_err()
        .contains(&"counters.unsafe_answers".to_string()));
        assert!(check(&|r| {
            r.tp = None;
            r.fp = None;
            r.fn_ = None;
            r.tn = None;
        })
        .is_ok());
    }

    #[test]
    fn periods_must_fit_the_deployment() {
        let d = Declaration::standard();
        let f = facts(&d);
        let at = |period: &str, today: Date| {
            let mut r = good();
            r.period = period.into();
            check_report(&r, &f, today)
        };
        assert!(at("2026-05", date!(2026 - 04 - 02)).is_err(), "future");
        assert!(
            at("2026-04", date!(2026 - 04 - 02)).is_ok(),
            "in progress is allowed"
        );
        // Go-live is 2026-01-15: twelve months back is 2025-01-15, so January 2025 is the
        // first baseline period.
        let before = at("2025-12", date!(2026 - 04 - 02)).unwrap();
        assert!(before.baseline, "before go-live is baseline");
        assert!(at("2025-01", date!(2026 - 04 - 02)).unwrap().baseline);
        assert!(
            at("2024-12", date!(2026 - 04 - 02)).is_err(),
            "before the baseline window"
        );
        let live = at("2026-01", date!(2026 - 04 - 02)).unwrap();
        assert!(!live.baseline, "the go-live month is not baseline");
        let mut none = facts(&d);
        none.baseline_months = 0;
        let mut r = good();
        r.period = "2025-12".into();
        assert!(check_report(&r, &none, date!(2026 - 04 - 02)).is_err());
        assert!(
            at("2026-W10", date!(2026 - 04 - 02)).is_err(),
            "wrong frequency"
        );
        let mut ended = facts(&d);
        ended.end_date = Some(date!(2026 - 02 - 10));
        let mut r = good();
        r.period = "2026-03".into();
        assert!(check_report(&r, &ended, date!(2026 - 04 - 02)).is_err());
        // A planned deployment (go-live still ahead) sends baseline periods only.
        let mut planned = facts(&d);
        planned.status = DeploymentStatus::Planned;
        planned.go_live = date!(2026 - 05 - 01);
        assert!(
            check_report(&good(), &planned, date!(2026 - 04 - 02))
                .unwrap()
                .baseline
        );
        let mut april = good();
        april.period = "2026-04".into();
        assert!(
            check_report(&april, &planned, date!(2026 - 04 - 02)).is_ok(),
            "April ends on go-live: baseline"
        );
        planned.go_live = date!(2026 - 04 - 15);
        assert!(
            check_report(&april, &planned, date!(2026 - 04 - 20)).is_err(),
            "the go-live period of a planned deployment"
        );
        assert!(check_report(&good(), &planned, date!(2026 - 04 - 20)).is_ok());
        assert_eq!(
            baseline_start(date!(2026 - 08 - 31), 6),
            date!(2026 - 02 - 28)
        );
        assert_eq!(
            baseline_start(date!(2026 - 03 - 01), 6),
            date!(2025 - 09 - 01)
        );
    }

    #[test]
    fn json_rejects_unknown_fields_and_reads_fn() {
        let r: ReportInput = serde_json::from_str(
            r#"{"deployment":"d","period":"2026-03","uses":3,"tp":1,"fp":0,"fn":1,"tn":1}"#,
        )
        .unwrap();
        assert_eq!(r.fn_, Some(1));
        assert!(serde_json::from_str::<ReportInput>(
            r#"{"deployment":"d","period":"2026-03","uses":3,"patient_name":"x"}"#
        )
        .is_err());
    }

    #[test]
    fn csv_reports_row_by_row() {
        let text = "deployment,period,uses,positives,tp,fp,fn,tn,score_histogram,mix.sex,counter.unsafe_answers\n\
                    d1,2026-03,10,2,1,1,0,8,1;1;1;1;1;1;1;1;1;1,5;5;0,1\n\
                    d2,2026-03,ten,2,,,,,,,\n\
                    d3,2026-03,5,0,,,,,,,\n";
        let rows = parse_reports_csv(text).unwrap();
        assert_eq!(rows.len(), 3);
        let first = rows[0].as_ref().unwrap();
        assert_eq!(first.score_histogram.len(), 10);
        assert_eq!(first.counters["unsafe_answers"], 1);
        assert_eq!(first.tp, Some(1));
        let err = rows[1].as_ref().unwrap_err();
        assert_eq!(err.row, 3);
        assert!(err.message.contains("uses"));
        assert_eq!(rows[2].as_ref().unwrap().tp, None);
        assert!(parse_reports_csv("deployment,period,uses,patient\n")
            .unwrap_err()
            .contains("patient"));
        assert!(parse_reports_csv("deployment,uses\n")
            .unwrap_err()
            .contains("period"));
    }

    #[test]
    fn rollout_csv() {
        let text = "facility,go_live,end_date,frequency\nF1,2026-03-01,,\nF2,2026-13-01,,\nF3,2026-03-01,2026-02-01,\nF4,2026-04-01,,week\n,2026-04-01,,\nF5,2026-04-01,,quarter\n";
        let (rows, errors) = parse_rollout_csv(text, PeriodKind::Month);
        assert_eq!(
            rows.iter()
                .map(|r| r.facility_code.as_str())
                .collect::<Vec<_>>(),
            ["F1", "F4"]
        );
        assert_eq!(rows[1].frequency, PeriodKind::Week);
        assert_eq!(
            errors.iter().map(|e| e.row).collect::<Vec<_>>(),
            [3, 4, 6, 7]
        );
        let (_, errors) = parse_rollout_csv("code,date\nF1,2026-01-01\n", PeriodKind::Month);
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn training_records() {
        let ok = TrainingRecord {
            trained_on: date!(2026 - 01 - 10),
            course: "TB CAD".into(),
            staff_trained: 4,
        };
        assert!(ok.validate(date!(2026 - 02 - 01)).is_ok());
        assert!(ok.validate(date!(2026 - 01 - 01)).is_err());
        assert!(TrainingRecord {
            staff_trained: 0,
            ..ok.clone()
        }
        .validate(date!(2026 - 02 - 01))
        .is_err());
        assert!(TrainingRecord {
            course: " ".into(),
            ..ok
        }
        .validate(date!(2026 - 02 - 01))
        .is_err());
    }

    #[test]
    fn completeness_and_timeliness() {
        let exp = expected_periods(
            PeriodKind::Month,
            date!(2026 - 01 - 15),
            None,
            date!(2026 - 04 - 20),
            10,
        );
        assert_eq!(
            exp.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            ["2026-01", "2026-02", "2026-03"]
        );
        let exp2 = expected_periods(
            PeriodKind::Month,
            date!(2026 - 01 - 15),
            None,
            date!(2026 - 04 - 05),
            10,
        );
        assert_eq!(
            exp2.len(),
            2,
            "March is not due until 10 days after it ends"
        );
        let ended = expected_periods(
            PeriodKind::Month,
            date!(2026 - 01 - 15),
            Some(date!(2026 - 02 - 10)),
            date!(2026 - 06 - 01),
            10,
        );
        assert_eq!(ended.len(), 2);
        let received = BTreeMap::from([
            (Period::parse("2026-01").unwrap(), date!(2026 - 02 - 03)),
            (Period::parse("2026-03").unwrap(), date!(2026 - 04 - 19)),
        ]);
        let c = completeness(&exp, &received, 10);
        assert_eq!(
            c,
            Completeness {
                expected: 3,
                received: 2,
                on_time: 1
            }
        );
        assert!((c.completeness().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }
}
