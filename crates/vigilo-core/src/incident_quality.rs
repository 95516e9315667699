//! Incident report quality: how complete a report is (vigiGrade style) and which earlier
//! reports it may duplicate (vigiMatch style).
//!
//! Both read [`ReportFacts`], a plain view of one report that the store fills. Pure code: no
//! I/O, no clock, no environment. The dimensions, penalties, match weights, threshold,
//! blocking rule and the measured precision and recall are in `docs/incident-quality.md`.
//!
//! - Completeness follows Bergvall, Norén and Lindquist, "vigiGrade: a tool to identify
//!   well-documented individual case reports", Drug Safety 37(1):65–77 (2014): the score
//!   starts at 1 and is multiplied by a penalty factor for each missing dimension.
//! - Duplicates follow Norén, Orre, Bate and Edwards, "Duplicate detection in adverse drug
//!   reaction surveillance", Data Mining and Knowledge Discovery 14:305–328 (2007): a
//!   hit-miss (Fellegi–Sunter) model where each field adds `log2(m/u)` when it agrees and
//!   `log2((1-m)/(1-u))` when it disagrees, and a pair scoring above a threshold is flagged.

use crate::incident::{AgeBand, PatientSex, ReporterKind, Seriousness};
use crate::text::fold;
use crate::Lang;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use time::Date;

/// What the quality checks read from one incident report. The store fills it from the
/// report as kept (after de-identification and triage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportFacts {
    /// The report's id (receipt number or row id); returned by
    /// [`DuplicateMatcher::candidates`] and never compared.
    pub id: String,
    /// The product's id in the directory, when the report is linked to one.
    pub product_id: Option<String>,
    /// The version's id in the directory, when known. Only meaningful with `product_id`.
    pub version_id: Option<String>,
    /// What the reporter called the product when it was not picked from the directory.
    pub product_text: Option<String>,
    /// The facility where the event happened, when known.
    pub facility_id: Option<String>,
    /// The province (2025 code) where it happened. The store fills it from the facility when
    /// the facility is known, so that two reports, one naming the facility and one only the
    /// province, can still agree on the province.
    pub province_code: Option<String>,
    /// The day the event happened, as reported.
    pub occurred_on: Option<Date>,
    /// The day the reporter says they became aware of it. `None` when the reporter did not
    /// say: do not fill it with the receipt date here, or the gap cannot be seen.
    pub aware_on: Option<Date>,
    /// The day the regulator received the report (always known).
    pub received_on: Date,
    /// How bad the outcome was, as reported or as triaged.
    pub seriousness: Seriousness,
    /// Whether the report says how the patient ended up (recovered, recovering, lasting
    /// harm, died). `false` when the outcome is unknown or was not asked.
    pub outcome_known: bool,
    /// Who sent the report; `None` for imported reports that do not say.
    pub reporter_kind: Option<ReporterKind>,
    /// The narrative, already de-identified (`scrub.rs`). The duplicate model compares the
    /// numbers quoted in it, so de-identification must keep clinical values.
    pub narrative: String,
    pub patient_sex: Option<PatientSex>,
    pub patient_age_band: Option<AgeBand>,
    /// Event codes assigned so far (IMDRF annex codes and AI problem codes, as strings).
    pub codes: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Completeness
// ---------------------------------------------------------------------------------------

/// Reports scoring at least this are "well documented" (vigiGrade uses C > 0.8; here a
/// report missing exactly one 0.8 dimension still counts, hence `>=`).
pub const WELL_DOCUMENTED: f64 = 0.8;

/// A narrative shorter than this (characters, trimmed) is penalised as too short.
pub const INFORMATIVE_NARRATIVE_CHARS: usize = 100;

/// One missing dimension: what is missing, how much it costs, and what to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MissingItem {
    /// Stable code, e.g. `version_missing`.
    pub code: &'static str,
    /// The penalty factor the score is multiplied by (0.8 is a 20% penalty).
    pub penalty: f64,
    /// What the reviewer should ask for, in Vietnamese.
    pub ask_vi: &'static str,
    /// The same in English.
    pub ask_en: &'static str,
}

impl MissingItem {
    pub fn ask(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Vi => self.ask_vi,
            Lang::En => self.ask_en,
        }
    }
}

/// A report's completeness: the score in (0, 1] and what is missing, largest penalty first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completeness {
    pub score: f64,
    pub missing: Vec<MissingItem>,
}

impl Completeness {
    pub fn is_well_documented(&self) -> bool {
        self.score >= WELL_DOCUMENTED
    }
}

const fn item(
    code: &'static str,
    penalty: f64,
    ask_vi: &'static str,
    ask_en: &'static str,
) -> MissingItem {
    MissingItem {
        code,
        penalty,
        ask_vi,
        ask_en,
    }
}

/// Every missing item the completeness score can list, in the order of the dimensions.
pub const MISSING_ITEMS: &[MissingItem] = &[
    PRODUCT_MISSING,
    PRODUCT_NOT_IN_DIRECTORY,
    VERSION_MISSING,
    SITE_MISSING,
    SITE_PROVINCE_ONLY,
    EVENT_DATE_MISSING,
    AWARENESS_DATE_MISSING,
    NARRATIVE_SHORT,
    NARRATIVE_NO_AI_OUTPUT,
    NARRATIVE_NO_PATIENT_COURSE,
    PATIENT_SEX_MISSING,
    PATIENT_AGE_MISSING,
    OUTCOME_UNKNOWN,
    CODES_MISSING,
    REPORTER_KIND_MISSING,
];

pub const PRODUCT_MISSING: MissingItem = item(
    "product_missing",
    0.5,
    "Hỏi người báo cáo công cụ AI nào liên quan đến sự cố: tên công cụ và nhà sản xuất (thường hiện trên màn hình đăng nhập hoặc mục Giới thiệu).",
    "Ask the reporter which AI tool was involved: its name and manufacturer (usually shown on the login screen or the About screen).",
);
pub const PRODUCT_NOT_IN_DIRECTORY: MissingItem = item(
    "product_not_in_directory",
    0.7,
    "Hỏi người báo cáo tên chính xác của công cụ AI và nhà sản xuất để gắn báo cáo với sản phẩm trong danh mục.",
    "Ask the reporter for the exact name of the AI tool and its manufacturer, so the report can be linked to the product in the directory.",
);
pub const VERSION_MISSING: MissingItem = item(
    "version_missing",
    0.8,
    "Hỏi người báo cáo phiên bản nào của công cụ đang chạy (số phiên bản ở mục Giới thiệu của công cụ), hoặc tra hồ sơ triển khai của cơ sở vào ngày xảy ra sự cố.",
    "Ask the reporter which version of the tool was running (the version number is on the tool's About screen), or look it up in the facility's deployment record for the day of the event.",
);
pub const SITE_MISSING: MissingItem = item(
    "site_missing",
    0.7,
    "Hỏi người báo cáo sự cố xảy ra ở đâu: cơ sở y tế, hoặc ít nhất là tỉnh, thành phố.",
    "Ask the reporter where the event happened: the health facility, or at least the province.",
);
pub const SITE_PROVINCE_ONLY: MissingItem = item(
    "site_province_only",
    0.9,
    "Mới biết tỉnh, thành phố: hỏi người báo cáo sự cố xảy ra ở cơ sở y tế nào.",
    "Only the province is known: ask the reporter which health facility the event happened at.",
);
pub const EVENT_DATE_MISSING: MissingItem = item(
    "event_date_missing",
    0.6,
    "Hỏi người báo cáo ngày xảy ra sự cố (ngày gần đúng vẫn tốt hơn không có); ngày này cho biết phiên bản nào đang chạy.",
    "Ask the reporter the date the event happened (an approximate date is better than none); it tells which version was running.",
);
pub const AWARENESS_DATE_MISSING: MissingItem = item(
    "awareness_date_missing",
    0.9,
    "Hỏi người báo cáo ngày đầu tiên họ biết về sự cố, để biết sự cố được báo cáo nhanh hay chậm.",
    "Ask the reporter the day they first learned of the event, to tell how quickly it was reported.",
);
pub const NARRATIVE_SHORT: MissingItem = item(
    "narrative_short",
    0.9,
    "Mô tả quá ngắn: đề nghị người báo cáo kể rõ công cụ được dùng vào việc gì, nó đưa ra kết quả gì, nhân viên đã làm gì và người bệnh ra sao.",
    "The description is too short: ask the reporter what the tool was used for, what it showed, what staff did, and what happened to the patient.",
);
pub const NARRATIVE_NO_AI_OUTPUT: MissingItem = item(
    "narrative_no_ai_output",
    0.8,
    "Mô tả chưa nói công cụ AI đưa ra gì: hỏi người báo cáo kết quả của công cụ (gợi ý, điểm nguy cơ, cảnh báo hoặc câu trả lời) và nhân viên có làm theo không.",
    "The description does not say what the AI tool produced: ask the reporter for its output (suggestion, risk score, alert or answer) and whether staff followed it.",
);
pub const NARRATIVE_NO_PATIENT_COURSE: MissingItem = item(
    "narrative_no_patient_course",
    0.8,
    "Mô tả chưa nói người bệnh ra sao: hỏi người báo cáo diễn biến sau đó (không bị ảnh hưởng, được điều trị, chuyển tuyến, nhập viện, tử vong).",
    "The description does not say what happened to the patient: ask the reporter what followed (no harm, treated, transferred, admitted, died).",
);
pub const PATIENT_SEX_MISSING: MissingItem = item(
    "patient_sex_missing",
    0.9,
    "Hỏi người báo cáo giới tính của người bệnh.",
    "Ask the reporter the patient's sex.",
);
pub const PATIENT_AGE_MISSING: MissingItem = item(
    "patient_age_missing",
    0.8,
    "Hỏi người báo cáo tuổi của người bệnh (nhóm tuổi là đủ); công cụ AI có thể kém chính xác ở trẻ em hoặc người cao tuổi.",
    "Ask the reporter the patient's age (an age band is enough); AI tools can be less accurate in children or older people.",
);
pub const OUTCOME_UNKNOWN: MissingItem = item(
    "outcome_unknown",
    0.7,
    "Hỏi người báo cáo kết cục của người bệnh: đã hồi phục, đang hồi phục, tổn hại lâu dài, tử vong hay chưa rõ.",
    "Ask the reporter for the patient's outcome: recovered, recovering, lasting harm, died, or not yet known.",
);
pub const CODES_MISSING: MissingItem = item(
    "codes_missing",
    0.9,
    "Chưa có mã sự cố: gán mã IMDRF và mã lỗi AI khi phân loại, hoặc hỏi nhà sản xuất mã họ đã dùng.",
    "No event codes yet: assign the IMDRF and AI problem codes at triage, or ask the manufacturer for the codes it used.",
);
pub const REPORTER_KIND_MISSING: MissingItem = item(
    "reporter_kind_missing",
    0.9,
    "Ghi rõ ai gửi báo cáo (nhân viên y tế, người bệnh hoặc người nhà, nhà sản xuất...).",
    "Record who sent the report (health worker, patient or family, manufacturer, ...).",
);

/// Words (folded) that show the narrative says what the AI tool produced.
const AI_OUTPUT_WORDS: &[&str] = &[
    // Vietnamese, folded
    "goi y",
    "de xuat",
    "khuyen",
    "canh bao",
    "bao dong",
    "ket qua",
    "ket luan",
    "chan doan",
    "du doan",
    "phan loai",
    "danh gia",
    "diem",
    "xac suat",
    "nguy co",
    "tra loi",
    "tu van",
    "am tinh",
    "duong tinh",
    "bo sot",
    "khong phat hien",
    "binh thuong",
    "bat thuong",
    "hien thi",
    "tra ve",
    // English
    "suggest",
    "suggested",
    "suggestion",
    "recommend",
    "recommended",
    "recommendation",
    "advised",
    "advice",
    "alert",
    "alarm",
    "flag",
    "flagged",
    "output",
    "predicted",
    "prediction",
    "score",
    "probability",
    "risk",
    "classified",
    "answer",
    "answered",
    "negative",
    "positive",
    "missed",
    "normal",
    "abnormal",
    "displayed",
    "returned",
];

/// Words (folded) that show the narrative says what happened to the patient.
const PATIENT_COURSE_WORDS: &[&str] = &[
    // Vietnamese, folded
    "tu vong",
    "nhap vien",
    "chuyen tuyen",
    "chuyen vien",
    "cap cuu",
    "dieu tri",
    "hoi phuc",
    "on dinh",
    "xuat vien",
    "khong anh huong",
    "khong bi anh huong",
    "khong gay hai",
    "khong bi hai",
    "chua gay hai",
    "tre chan doan",
    "cham chan doan",
    "bien chung",
    "phau thuat",
    "hoi suc",
    "tai kham",
    "tu theo doi",
    "dien bien",
    "tinh trang",
    "nang hon",
    "tro nang",
    // English
    "died",
    "death",
    "admitted",
    "hospitalised",
    "hospitalized",
    "transferred",
    "referred",
    "recovered",
    "recovering",
    "stable",
    "discharged",
    "treated",
    "treatment",
    "no harm",
    "unharmed",
    "not harmed",
    "delayed",
    "complication",
    "complications",
    "surgery",
    "icu",
    "worsened",
    "deteriorated",
];

/// Folded text as space-separated alphanumeric words, padded with a space at each end so
/// that `" word "` finds whole words and phrases.
fn word_text(text: &str) -> String {
    let folded = fold(text);
    let mut out = String::with_capacity(folded.len() + 2);
    out.push(' ');
    let mut last_space = true;
    for c in folded.chars() {
        if c.is_alphanumeric() {
            out.push(c);
            last_space = false;
        } else if !last_space {
            out.push(' ');
            last_space = true;
        }
    }
    if !last_space {
        out.push(' ');
    }
    out
}

fn mentions_any(words: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| {
        words
            .match_indices(p)
            .any(|(i, _)| words[..i].ends_with(' ') && words[i + p.len()..].starts_with(' '))
    })
}

/// The completeness score of a report and the questions that would raise it.
///
/// Each dimension is either complete or costs one penalty factor (the product dimension
/// and the site dimension have two grades). Adding information never lowers the score.
pub fn completeness(facts: &ReportFacts) -> Completeness {
    let mut missing = Vec::new();
    let has_text = |v: &Option<String>| v.as_deref().is_some_and(|t| !t.trim().is_empty());

    if !has_text(&facts.product_id) {
        missing.push(if has_text(&facts.product_text) {
            PRODUCT_NOT_IN_DIRECTORY
        } else {
            PRODUCT_MISSING
        });
    }
    if !has_text(&facts.version_id) {
        missing.push(VERSION_MISSING);
    }
    if !has_text(&facts.facility_id) {
        missing.push(if has_text(&facts.province_code) {
            SITE_PROVINCE_ONLY
        } else {
            SITE_MISSING
        });
    }
    if facts.occurred_on.is_none() {
        missing.push(EVENT_DATE_MISSING);
    }
    if facts.aware_on.is_none() {
        missing.push(AWARENESS_DATE_MISSING);
    }
    if facts.narrative.trim().chars().count() < INFORMATIVE_NARRATIVE_CHARS {
        missing.push(NARRATIVE_SHORT);
    }
    let words = word_text(&facts.narrative);
    if !mentions_any(&words, AI_OUTPUT_WORDS) {
        missing.push(NARRATIVE_NO_AI_OUTPUT);
    }
    if !mentions_any(&words, PATIENT_COURSE_WORDS) {
        missing.push(NARRATIVE_NO_PATIENT_COURSE);
    }
    if facts.patient_sex.is_none() {
        missing.push(PATIENT_SEX_MISSING);
    }
    if facts.patient_age_band.is_none() {
        missing.push(PATIENT_AGE_MISSING);
    }
    if !facts.outcome_known {
        missing.push(OUTCOME_UNKNOWN);
    }
    if facts.codes.iter().all(|c| c.trim().is_empty()) {
        missing.push(CODES_MISSING);
    }
    if facts.reporter_kind.is_none() {
        missing.push(REPORTER_KIND_MISSING);
    }

    let score = missing.iter().map(|m| m.penalty).product::<f64>();
    // Largest penalty (smallest factor) first; stable, so ties keep the dimension order.
    missing.sort_by(|a, b| a.penalty.total_cmp(&b.penalty));
    Completeness { score, missing }
}

// ---------------------------------------------------------------------------------------
// Duplicates
// ---------------------------------------------------------------------------------------

/// A field's two probabilities in the hit-miss model: `m`, the probability of the outcome
/// when the two reports describe the same event, and `u`, its probability for two
/// unrelated reports (chance). The outcome's weight is `log2(m / u)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mu {
    pub m: f64,
    pub u: f64,
}

const fn mu(m: f64, u: f64) -> Mu {
    Mu { m, u }
}

impl Mu {
    /// Weight when the outcome is observed: `log2(m / u)`.
    pub fn weight(self) -> f64 {
        (self.m / self.u).log2()
    }

    /// Weight of the complementary outcome (disagreement): `log2((1 - m) / (1 - u))`.
    pub fn complement_weight(self) -> f64 {
        ((1.0 - self.m) / (1.0 - self.u)).log2()
    }
}

/// The model's parameters. [`MatchParams::default`] holds the documented a priori values.
///
/// Binary fields hold `Mu` for agreement; disagreement has `1 - m`, `1 - u`. Graded fields
/// hold one `Mu` per grade; each column (the m's, the u's) sums to 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchParams {
    /// Same product id (or the same product named in free text).
    pub product: Mu,
    /// Same version, given the same product (scored only then).
    pub version: Mu,
    /// Same facility, when both name one.
    pub facility: Mu,
    /// Same province, when a facility is missing on either side.
    pub province: Mu,
    /// Event dates: same day, 1 to 3 days apart, 4 to 14, further.
    pub event_date: [Mu; 4],
    pub seriousness: Mu,
    pub sex: Mu,
    pub age_band: Mu,
    /// The two reports come from different kinds of reporter. Duplicates mostly arise when
    /// one event reaches the regulator by two channels (the facility and the manufacturer,
    /// or the family); a cluster of similar events is usually sent by one facility.
    pub reporter_differs: Mu,
    /// Code sets: Jaccard overlap at least 0.5, some overlap, none.
    pub codes: [Mu; 3],
    /// Narrative similarity bands: high, medium, low, none.
    pub narrative: [Mu; 4],
    /// Numbers quoted in the narratives (doses, scores, lab values, sizes, ages, days), with
    /// at least two shared: every number of one narrative found in the other, all but one,
    /// and otherwise (several differ, or fewer than two shared).
    pub values: [Mu; 3],
    /// Lower cosine bounds of the high, medium and low narrative bands (decreasing).
    pub narrative_cuts: [f64; 3],
    /// Blocking: only reports whose dates (event date, else receipt date) or receipt dates
    /// are at most this many days apart are compared.
    pub window_days: i64,
}

impl Default for MatchParams {
    /// Rounded from the outcome frequencies observed on the tuning set of
    /// `tests/duplicates_measure.rs` (m among duplicate pairs, u among the other pairs that
    /// pass blocking, both given that the field is present on both reports), with m kept
    /// below 1 for the errors the generator does not make. The a priori values they
    /// replaced, and the reasoning, are in `docs/incident-quality.md`.
    fn default() -> Self {
        MatchParams {
            product: mu(0.95, 0.77),
            version: mu(0.95, 0.55),
            facility: mu(0.95, 0.02),
            province: mu(0.95, 0.52),
            event_date: [
                mu(0.62, 0.01),
                mu(0.35, 0.05),
                mu(0.02, 0.18),
                mu(0.01, 0.76),
            ],
            seriousness: mu(0.84, 0.30),
            sex: mu(0.97, 0.50),
            age_band: mu(0.95, 0.22),
            reporter_differs: mu(0.70, 0.24),
            codes: [mu(0.79, 0.37), mu(0.16, 0.36), mu(0.05, 0.27)],
            narrative: [
                mu(0.21, 0.07),
                mu(0.52, 0.38),
                mu(0.10, 0.29),
                mu(0.17, 0.26),
            ],
            values: [mu(0.86, 0.005), mu(0.10, 0.043), mu(0.04, 0.952)],
            narrative_cuts: [0.8, 0.6, 0.35],
            window_days: 60,
        }
    }
}

/// The default threshold on the total score (log2 units), chosen on the measured set.
pub const DEFAULT_THRESHOLD: f64 = 8.0;

/// A parameter outside its range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("duplicate model parameter {field}: {problem}")]
pub struct ParamError {
    pub field: &'static str,
    pub problem: &'static str,
}

/// The fields the duplicate model compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchField {
    Product,
    Version,
    Place,
    EventDate,
    Seriousness,
    Sex,
    AgeBand,
    Codes,
    Narrative,
    Values,
    Reporter,
}

impl MatchField {
    pub fn code(self) -> &'static str {
        match self {
            MatchField::Product => "product",
            MatchField::Version => "version",
            MatchField::Place => "place",
            MatchField::EventDate => "event_date",
            MatchField::Seriousness => "seriousness",
            MatchField::Sex => "sex",
            MatchField::AgeBand => "age_band",
            MatchField::Codes => "codes",
            MatchField::Narrative => "narrative",
            MatchField::Values => "values",
            MatchField::Reporter => "reporter",
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (MatchField::Product, Lang::Vi) => "Sản phẩm",
            (MatchField::Product, Lang::En) => "Product",
            (MatchField::Version, Lang::Vi) => "Phiên bản",
            (MatchField::Version, Lang::En) => "Version",
            (MatchField::Place, Lang::Vi) => "Nơi xảy ra",
            (MatchField::Place, Lang::En) => "Place",
            (MatchField::EventDate, Lang::Vi) => "Ngày xảy ra",
            (MatchField::EventDate, Lang::En) => "Event date",
            (MatchField::Seriousness, Lang::Vi) => "Mức độ nghiêm trọng",
            (MatchField::Seriousness, Lang::En) => "Seriousness",
            (MatchField::Sex, Lang::Vi) => "Giới tính",
            (MatchField::Sex, Lang::En) => "Sex",
            (MatchField::AgeBand, Lang::Vi) => "Nhóm tuổi",
            (MatchField::AgeBand, Lang::En) => "Age band",
            (MatchField::Codes, Lang::Vi) => "Mã sự cố",
            (MatchField::Codes, Lang::En) => "Event codes",
            (MatchField::Narrative, Lang::Vi) => "Mô tả",
            (MatchField::Narrative, Lang::En) => "Narrative",
            (MatchField::Values, Lang::Vi) => "Số liệu trong mô tả",
            (MatchField::Values, Lang::En) => "Values in the narrative",
            (MatchField::Reporter, Lang::Vi) => "Người báo cáo",
            (MatchField::Reporter, Lang::En) => "Reporter",
        }
    }
}

impl fmt::Display for MatchField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One field's contribution to a match score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MatchPart {
    pub field: MatchField,
    /// What was seen, e.g. `agree`, `disagree`, `missing`, `same_day`, `within_3_days`,
    /// `same_facility`, `high`.
    pub outcome: &'static str,
    /// The weight added, in log2 units (0 for a missing field).
    pub weight: f64,
}

/// How strongly two reports look like the same event: the sum of the field weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchScore {
    pub total: f64,
    pub parts: Vec<MatchPart>,
}

/// Precomputed weights of the hit-miss model.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateMatcher {
    params: MatchParams,
}

/// A report's narrative as sorted character trigrams with counts, and its norm.
struct Shingles {
    grams: Vec<(u64, u32)>,
    norm: f64,
}

/// What is computed once per report before comparing it with many others.
struct Prepared<'a> {
    facts: &'a ReportFacts,
    product_text: Option<String>,
    province: Option<&'a str>,
    shingles: Shingles,
    codes: BTreeSet<&'a str>,
    values: BTreeSet<String>,
}

fn shingles(text: &str) -> Shingles {
    // Folded words joined by single spaces, padded, so that word starts and ends count.
    let words = word_text(text);
    let chars: Vec<char> = words.chars().collect();
    let mut grams: Vec<u64> = chars
        .windows(3)
        .map(|w| w.iter().fold(0u64, |acc, c| (acc << 21) | u64::from(*c)))
        .collect();
    grams.sort_unstable();
    let mut counted: Vec<(u64, u32)> = Vec::with_capacity(grams.len());
    for g in grams {
        match counted.last_mut() {
            Some((last, n)) if *last == g => *n += 1,
            _ => counted.push((g, 1)),
        }
    }
    let norm = counted
        .iter()
        .map(|(_, n)| f64::from(*n) * f64::from(*n))
        .sum::<f64>()
        .sqrt();
    Shingles {
        grams: counted,
        norm,
    }
}

/// Cosine similarity of two trigram count vectors; `None` when either is empty.
fn cosine(a: &Shingles, b: &Shingles) -> Option<f64> {
    if a.norm == 0.0 || b.norm == 0.0 {
        return None;
    }
    let (mut i, mut j, mut dot) = (0, 0, 0.0);
    while let (Some(x), Some(y)) = (a.grams.get(i), b.grams.get(j)) {
        match x.0.cmp(&y.0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += f64::from(x.1) * f64::from(y.1);
                i += 1;
                j += 1;
            }
        }
    }
    Some(dot / (a.norm * b.norm))
}

/// Narrative similarity of two texts in [0, 1] (cosine over character trigrams of the
/// folded words), as the matcher grades it. `None` when either text has no words.
pub fn narrative_similarity(a: &str, b: &str) -> Option<f64> {
    cosine(&shingles(a), &shingles(b))
}

/// The numbers quoted in a text, as digit strings without leading zeros ("155/95 mmHg"
/// gives 155 and 95; "0.5" gives 0 and 5).
fn numbers(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .map(|t| {
            let trimmed = t.trim_start_matches('0');
            if trimmed.is_empty() { "0" } else { trimmed }.to_string()
        })
        .collect()
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

fn prepare(facts: &ReportFacts) -> Prepared<'_> {
    Prepared {
        facts,
        product_text: non_empty(&facts.product_text).map(|t| word_text(t).trim().to_string()),
        province: non_empty(&facts.province_code),
        shingles: shingles(&facts.narrative),
        values: numbers(&facts.narrative),
        codes: facts
            .codes
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .collect(),
    }
}

/// The date used for blocking: the event date, else the receipt date.
fn reference_date(f: &ReportFacts) -> Date {
    f.occurred_on.unwrap_or(f.received_on)
}

fn days_apart(a: Date, b: Date) -> i64 {
    (a - b).whole_days().abs()
}

impl DuplicateMatcher {
    /// Checks the parameters: every m and u strictly between 0 and 1, graded columns that
    /// sum to 1 (within 0.001), decreasing narrative cuts in (0, 1], a window of 0 to 3,650
    /// days.
    pub fn new(params: MatchParams) -> Result<DuplicateMatcher, ParamError> {
        let binary = [
            ("product", params.product),
            ("version", params.version),
            ("facility", params.facility),
            ("province", params.province),
            ("seriousness", params.seriousness),
            ("sex", params.sex),
            ("age_band", params.age_band),
            ("reporter_differs", params.reporter_differs),
        ];
        let open = |x: f64| x > 0.0 && x < 1.0;
        for (field, p) in binary {
            if !open(p.m) || !open(p.u) {
                return Err(ParamError {
                    field,
                    problem: "m and u must be strictly between 0 and 1",
                });
            }
        }
        let graded: [(&'static str, &[Mu]); 4] = [
            ("event_date", &params.event_date),
            ("codes", &params.codes),
            ("narrative", &params.narrative),
            ("values", &params.values),
        ];
        for (field, levels) in graded {
            if levels.iter().any(|p| !open(p.m) || !open(p.u)) {
                return Err(ParamError {
                    field,
                    problem: "m and u must be strictly between 0 and 1",
                });
            }
            let m: f64 = levels.iter().map(|p| p.m).sum();
            let u: f64 = levels.iter().map(|p| p.u).sum();
            if (m - 1.0).abs() > 1e-3 || (u - 1.0).abs() > 1e-3 {
                return Err(ParamError {
                    field,
                    problem: "the m's and the u's of the grades must each sum to 1",
                });
            }
        }
        let [high, medium, low] = params.narrative_cuts;
        if !(high <= 1.0 && high > medium && medium > low && low > 0.0) {
            return Err(ParamError {
                field: "narrative_cuts",
                problem: "cuts must decrease within (0, 1]",
            });
        }
        if !(0..=3650).contains(&params.window_days) {
            return Err(ParamError {
                field: "window_days",
                problem: "the window must be 0 to 3650 days",
            });
        }
        Ok(DuplicateMatcher { params })
    }

    pub fn params(&self) -> &MatchParams {
        &self.params
    }

    /// The match score of two reports (symmetric).
    pub fn score(&self, a: &ReportFacts, b: &ReportFacts) -> MatchScore {
        self.score_prepared(&prepare(a), &prepare(b))
    }

    /// Whether two reports fall in the same block: they share the product (id, or folded
    /// free text), the facility or the province, and their dates are within the window.
    pub fn same_block(&self, a: &ReportFacts, b: &ReportFacts) -> bool {
        self.blocked(&prepare(a), b)
    }

    fn blocked(&self, a: &Prepared<'_>, b: &ReportFacts) -> bool {
        let w = self.params.window_days;
        let fa = a.facts;
        let near = days_apart(reference_date(fa), reference_date(b)) <= w
            || days_apart(fa.received_on, b.received_on) <= w;
        if !near {
            return false;
        }
        let same =
            |x: Option<&str>, y: Option<&str>| matches!((x, y), (Some(x), Some(y)) if x == y);
        same(non_empty(&fa.product_id), non_empty(&b.product_id))
            || same(a.province, non_empty(&b.province_code))
            || same(non_empty(&fa.facility_id), non_empty(&b.facility_id))
            || match (&a.product_text, non_empty(&b.product_text)) {
                (Some(x), Some(y)) => *x == word_text(y).trim(),
                _ => false,
            }
    }

    fn score_prepared(&self, a: &Prepared<'_>, b: &Prepared<'_>) -> MatchScore {
        let p = &self.params;
        let (fa, fb) = (a.facts, b.facts);
        let mut parts = Vec::with_capacity(11);
        let mut push = |field, outcome, weight| {
            parts.push(MatchPart {
                field,
                outcome,
                weight,
            })
        };
        let binary = |field, mu: Mu, x: Option<bool>| match x {
            Some(true) => (field, "agree", mu.weight()),
            Some(false) => (field, "disagree", mu.complement_weight()),
            None => (field, "missing", 0.0),
        };
        let eq = |x: Option<&str>, y: Option<&str>| match (x, y) {
            (Some(x), Some(y)) => Some(x == y),
            _ => None,
        };

        // Product: by id when both have one; else by folded free text, where a difference
        // says little (reporters name tools in many ways), so only agreement counts.
        let product_ids = eq(non_empty(&fa.product_id), non_empty(&fb.product_id));
        let product = match product_ids {
            Some(x) => Some(x),
            None => match (&a.product_text, &b.product_text) {
                (Some(x), Some(y)) if text_names_agree(x, y) => Some(true),
                _ => None,
            },
        };
        let (f, o, w) = binary(MatchField::Product, p.product, product);
        push(f, o, w);

        // Version: only meaningful for the same product (u is conditional on it).
        let version = if product_ids == Some(true) {
            eq(non_empty(&fa.version_id), non_empty(&fb.version_id))
        } else {
            None
        };
        let (f, o, w) = binary(MatchField::Version, p.version, version);
        push(f, o, w);

        // Place: the facility when both name one, else the province.
        match eq(non_empty(&fa.facility_id), non_empty(&fb.facility_id)) {
            Some(true) => push(MatchField::Place, "same_facility", p.facility.weight()),
            Some(false) => push(
                MatchField::Place,
                "different_facility",
                p.facility.complement_weight(),
            ),
            None => match eq(a.province, b.province) {
                Some(true) => push(MatchField::Place, "same_province", p.province.weight()),
                Some(false) => push(
                    MatchField::Place,
                    "different_province",
                    p.province.complement_weight(),
                ),
                None => push(MatchField::Place, "missing", 0.0),
            },
        }

        // Event date, graded by distance.
        match (fa.occurred_on, fb.occurred_on) {
            (Some(x), Some(y)) => {
                let d = days_apart(x, y);
                let (grade, outcome) = match d {
                    0 => (0, "same_day"),
                    1..=3 => (1, "within_3_days"),
                    4..=14 => (2, "within_14_days"),
                    _ => (3, "further"),
                };
                let w = p.event_date.get(grade).map_or(0.0, |m| m.weight());
                push(MatchField::EventDate, outcome, w);
            }
            _ => push(MatchField::EventDate, "missing", 0.0),
        }

        let (f, o, w) = binary(
            MatchField::Seriousness,
            p.seriousness,
            Some(fa.seriousness == fb.seriousness),
        );
        push(f, o, w);
        let sex = match (fa.patient_sex, fb.patient_sex) {
            (Some(x), Some(y)) => Some(x == y),
            _ => None,
        };
        let (f, o, w) = binary(MatchField::Sex, p.sex, sex);
        push(f, o, w);
        let age = match (fa.patient_age_band, fb.patient_age_band) {
            (Some(x), Some(y)) => Some(x == y),
            _ => None,
        };
        let (f, o, w) = binary(MatchField::AgeBand, p.age_band, age);
        push(f, o, w);

        // Codes: Jaccard overlap of the two sets.
        if a.codes.is_empty() || b.codes.is_empty() {
            push(MatchField::Codes, "missing", 0.0);
        } else {
            let shared = a.codes.intersection(&b.codes).count();
            let union = a.codes.union(&b.codes).count();
            let (grade, outcome) = if shared * 2 >= union {
                (0, "mostly_shared")
            } else if shared > 0 {
                (1, "some_shared")
            } else {
                (2, "none_shared")
            };
            let w = p.codes.get(grade).map_or(0.0, |m| m.weight());
            push(MatchField::Codes, outcome, w);
        }

        // Narrative similarity, graded into bands.
        match cosine(&a.shingles, &b.shingles) {
            Some(c) => {
                let [high, medium, low] = p.narrative_cuts;
                let (grade, outcome) = if c >= high {
                    (0, "high")
                } else if c >= medium {
                    (1, "medium")
                } else if c >= low {
                    (2, "low")
                } else {
                    (3, "none")
                };
                let w = p.narrative.get(grade).map_or(0.0, |m| m.weight());
                push(MatchField::Narrative, outcome, w);
            }
            None => push(MatchField::Narrative, "missing", 0.0),
        }

        let differs = match (fa.reporter_kind, fb.reporter_kind) {
            (Some(x), Some(y)) => Some(x != y),
            _ => None,
        };
        match differs {
            Some(true) => push(
                MatchField::Reporter,
                "different",
                p.reporter_differs.weight(),
            ),
            Some(false) => push(
                MatchField::Reporter,
                "same",
                p.reporter_differs.complement_weight(),
            ),
            None => push(MatchField::Reporter, "missing", 0.0),
        }

        // Numbers quoted in the narratives: a retelling of the same case quotes the same
        // values, give or take one (an age or a threshold left out); another patient's
        // report differs in several.
        if a.values.is_empty() || b.values.is_empty() {
            push(MatchField::Values, "missing", 0.0);
        } else {
            let shared = a.values.intersection(&b.values).count();
            let only_one_side = (a.values.len() - shared).min(b.values.len() - shared);
            let (grade, outcome) = match (shared >= 2, only_one_side) {
                (true, 0) => (0, "all_shared"),
                (true, 1) => (1, "one_differs"),
                _ => (2, "several_differ"),
            };
            let w = p.values.get(grade).map_or(0.0, |m| m.weight());
            push(MatchField::Values, outcome, w);
        }

        let total = parts.iter().map(|part| part.weight).sum();
        MatchScore { total, parts }
    }

    /// The earlier reports that `new` may duplicate, strongest first (ties by id), with
    /// scores at or above `threshold`. Reports with `new`'s own id are skipped.
    ///
    /// Cost: one cheap blocking test per existing report (string and date comparisons),
    /// then the full score only for reports in the same block (same product, facility or
    /// province within the date window): linear in `existing`, a few milliseconds for
    /// 100,000 reports. Reports outside every block are never scored, so a duplicate that
    /// differs in product, facility and province, or is dated outside the window, is missed.
    pub fn candidates(
        &self,
        new: &ReportFacts,
        existing: &[ReportFacts],
        threshold: f64,
    ) -> Vec<(String, MatchScore)> {
        let prepared = prepare(new);
        let mut found: Vec<(String, MatchScore)> = existing
            .iter()
            .filter(|e| e.id != new.id && self.blocked(&prepared, e))
            .filter_map(|e| {
                let s = self.score_prepared(&prepared, &prepare(e));
                (s.total >= threshold).then(|| (e.id.clone(), s))
            })
            .collect();
        found.sort_by(|x, y| y.1.total.total_cmp(&x.1.total).then_with(|| x.0.cmp(&y.0)));
        found
    }
}

/// Two free-text product names agree when equal after folding, or when at least half of
/// their words (of the shorter name) are shared.
fn text_names_agree(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let wa: BTreeSet<&str> = a.split(' ').filter(|w| !w.is_empty()).collect();
    let wb: BTreeSet<&str> = b.split(' ').filter(|w| !w.is_empty()).collect();
    let shorter = wa.len().min(wb.len());
    shorter > 0 && wa.intersection(&wb).count() * 2 >= shorter.max(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const GOOD_NARRATIVE: &str = "Phần mềm đọc X-quang gợi ý phim phổi bình thường, \
        bác sĩ đã cho bệnh nhân về; hai tuần sau bệnh nhân quay lại, chụp lại phát hiện lao \
        phổi và được điều trị, hiện ổn định.";

    fn full() -> ReportFacts {
        ReportFacts {
            id: "SC-2026-000001".into(),
            product_id: Some("p1".into()),
            version_id: Some("v1".into()),
            product_text: None,
            facility_id: Some("f1".into()),
            province_code: Some("01".into()),
            occurred_on: Some(date!(2026 - 03 - 01)),
            aware_on: Some(date!(2026 - 03 - 02)),
            received_on: date!(2026 - 03 - 05),
            seriousness: Seriousness::OtherInjury,
            outcome_known: true,
            reporter_kind: Some(ReporterKind::HealthWorker),
            narrative: GOOD_NARRATIVE.into(),
            patient_sex: Some(PatientSex::Male),
            patient_age_band: Some(AgeBand::From45To64),
            codes: vec!["A0901".into(), "AI-03".into()],
        }
    }

    fn codes(c: &Completeness) -> Vec<&'static str> {
        c.missing.iter().map(|m| m.code).collect()
    }

    fn only_missing(f: &ReportFacts, code: &str, score: f64) {
        let c = completeness(f);
        assert_eq!(codes(&c), vec![code]);
        assert!((c.score - score).abs() < 1e-12, "{code}: {}", c.score);
    }

    #[test]
    fn a_full_report_scores_one() {
        let c = completeness(&full());
        assert_eq!(c.score, 1.0);
        assert!(c.missing.is_empty());
        assert!(c.is_well_documented());
    }

    #[test]
    fn product_in_directory_free_text_or_nothing() {
        let mut f = full();
        f.product_id = None;
        f.version_id = None;
        f.product_text = Some("trợ lý ảo của trạm".into());
        let c = completeness(&f);
        assert_eq!(
            codes(&c),
            vec!["product_not_in_directory", "version_missing"]
        );
        assert!((c.score - 0.56).abs() < 1e-12);
        f.product_text = Some("  ".into());
        let c = completeness(&f);
        assert_eq!(codes(&c), vec!["product_missing", "version_missing"]);
        assert!((c.score - 0.4).abs() < 1e-12);
    }

    #[test]
    fn version_missing() {
        let mut f = full();
        f.version_id = None;
        only_missing(&f, "version_missing", 0.8);
        // Missing only the version is still well documented.
        assert!(completeness(&f).is_well_documented());
    }

    #[test]
    fn site_facility_province_or_nothing() {
        let mut f = full();
        f.facility_id = None;
        only_missing(&f, "site_province_only", 0.9);
        f.province_code = None;
        only_missing(&f, "site_missing", 0.7);
        f.facility_id = Some("f1".into());
        assert_eq!(completeness(&f).score, 1.0);
    }

    #[test]
    fn event_and_awareness_dates() {
        let mut f = full();
        f.occurred_on = None;
        only_missing(&f, "event_date_missing", 0.6);
        let mut f = full();
        f.aware_on = None;
        only_missing(&f, "awareness_date_missing", 0.9);
    }

    #[test]
    fn narrative_length_and_content() {
        let mut f = full();
        f.narrative = "Công cụ gợi ý sai, bệnh nhân phải nhập viện.".into();
        only_missing(&f, "narrative_short", 0.9);
        f.narrative = "Máy tính bị treo suốt buổi sáng ở trạm y tế xã, nhân viên phải \
            nhập số liệu bằng tay và nhiều người phải chờ rất lâu mới được khám, người bệnh không bị ảnh hưởng."
            .into();
        let c = completeness(&f);
        assert_eq!(codes(&c), vec!["narrative_no_ai_output"]);
        f.narrative = "The triage assistant flagged the chest pain as low risk and \
            recommended a routine appointment; the nurse noticed the ECG and called the doctor."
            .into();
        only_missing(&f, "narrative_no_patient_course", 0.8);
        f.narrative
            .push_str(" The patient was admitted and treated for a heart attack.");
        assert_eq!(completeness(&f).score, 1.0);
        // Whole words only: "scored" is not "score", "deathly" is not "death".
        assert!(!mentions_any(
            &word_text("scored deathly"),
            &["score", "death"]
        ));
        assert!(mentions_any(&word_text("Bệnh nhân TỬ VONG."), &["tu vong"]));
    }

    #[test]
    fn patient_sex_age_outcome_codes_reporter() {
        type Change = fn(&mut ReportFacts);
        let cases: [(Change, &str, f64); 5] = [
            (|f| f.patient_sex = None, "patient_sex_missing", 0.9),
            (|f| f.patient_age_band = None, "patient_age_missing", 0.8),
            (|f| f.outcome_known = false, "outcome_unknown", 0.7),
            (|f| f.codes = vec![" ".into()], "codes_missing", 0.9),
            (|f| f.reporter_kind = None, "reporter_kind_missing", 0.9),
        ];
        for (change, code, score) in cases {
            let mut f = full();
            change(&mut f);
            only_missing(&f, code, score);
        }
    }

    #[test]
    fn an_empty_report_lists_everything_largest_penalty_first() {
        let f = ReportFacts {
            id: "x".into(),
            product_id: None,
            version_id: None,
            product_text: None,
            facility_id: None,
            province_code: None,
            occurred_on: None,
            aware_on: None,
            received_on: date!(2026 - 03 - 05),
            seriousness: Seriousness::Malfunction,
            outcome_known: false,
            reporter_kind: None,
            narrative: String::new(),
            patient_sex: None,
            patient_age_band: None,
            codes: vec![],
        };
        let c = completeness(&f);
        assert_eq!(c.missing.len(), 13);
        assert_eq!(c.missing[0].code, "product_missing");
        assert!(c.missing.windows(2).all(|w| w[0].penalty <= w[1].penalty));
        assert!((c.score - 0.035554111488).abs() < 1e-9, "{}", c.score);
    }

    #[test]
    fn every_missing_item_speaks_both_languages_and_has_a_fair_penalty() {
        let mut seen = BTreeSet::new();
        for m in MISSING_ITEMS {
            assert!(seen.insert(m.code), "duplicate code {}", m.code);
            assert!(m.penalty > 0.0 && m.penalty < 1.0, "{}", m.code);
            assert!(m.ask(Lang::Vi).len() > 20 && m.ask(Lang::En).len() > 20);
            assert_ne!(m.ask_vi, m.ask_en);
        }
    }

    fn facts_strategy() -> impl Strategy<Value = ReportFacts> {
        (
            any::<[bool; 12]>(),
            prop::sample::select(vec![
                "",
                "lỗi",
                "Công cụ gợi ý sai",
                "bệnh nhân nhập viện",
                GOOD_NARRATIVE,
                "The app advised rest; the patient died two days later at home.",
            ]),
        )
            .prop_map(|(b, narrative)| {
                let mut f = full();
                let opt = |keep: bool, v: &str| keep.then(|| v.to_string());
                f.product_id = opt(b[0], "p1");
                f.version_id = opt(b[0] && b[1], "v1");
                f.product_text = opt(b[2], "máy đọc phim");
                f.facility_id = opt(b[3], "f1");
                f.province_code = opt(b[4], "01");
                f.occurred_on = b[5].then_some(date!(2026 - 03 - 01));
                f.aware_on = b[6].then_some(date!(2026 - 03 - 02));
                f.patient_sex = b[7].then_some(PatientSex::Female);
                f.patient_age_band = b[8].then_some(AgeBand::Under5);
                f.outcome_known = b[9];
                f.codes = if b[10] { vec!["A01".into()] } else { vec![] };
                f.reporter_kind = b[11].then_some(ReporterKind::Vendor);
                f.narrative = narrative.into();
                f
            })
    }

    proptest! {
        #[test]
        fn score_is_in_range_and_adding_information_never_lowers_it(
            f in facts_strategy(),
            which in 0usize..13,
        ) {
            let before = completeness(&f);
            prop_assert!(before.score > 0.0 && before.score <= 1.0);
            let product = before.missing.iter().map(|m| m.penalty).product::<f64>();
            prop_assert!((product - before.score).abs() < 1e-12);
            let mut g = f.clone();
            match which {
                0 => g.product_id = Some("p9".into()),
                1 => {
                    g.product_id = Some("p9".into());
                    g.version_id = Some("v9".into());
                }
                2 => g.product_text = Some("tên khác".into()),
                3 => g.facility_id = Some("f9".into()),
                4 => g.province_code = Some("79".into()),
                5 => g.occurred_on = Some(date!(2026 - 02 - 01)),
                6 => g.aware_on = Some(date!(2026 - 02 - 03)),
                7 => g.patient_sex = Some(PatientSex::Male),
                8 => g.patient_age_band = Some(AgeBand::From65),
                9 => g.outcome_known = true,
                10 => g.codes.push("AI-07".into()),
                11 => g.reporter_kind = Some(ReporterKind::Patient),
                _ => g.narrative.push_str(" Kết quả AI cho điểm nguy cơ thấp; người bệnh được chuyển tuyến."),
            }
            let after = completeness(&g);
            prop_assert!(after.score >= before.score, "{} < {}", after.score, before.score);
        }
    }

    // --- duplicates ---

    fn matcher() -> DuplicateMatcher {
        DuplicateMatcher::new(MatchParams::default()).unwrap()
    }

    fn part(s: &MatchScore, field: MatchField) -> MatchPart {
        *s.parts.iter().find(|p| p.field == field).unwrap()
    }

    #[test]
    fn default_weights_are_log2_ratios() {
        let p = MatchParams::default();
        assert!((p.product.weight() - (0.95f64 / 0.77).log2()).abs() < 1e-12);
        assert!((p.product.complement_weight() - (0.05f64 / 0.23).log2()).abs() < 1e-12);
        assert!(p
            .event_date
            .windows(2)
            .all(|w| w[0].weight() > w[1].weight()));
        assert!(p.event_date[3].weight() < 0.0);
        assert!(p.values.windows(2).all(|w| w[0].weight() > w[1].weight()));
        assert!(p.narrative[0].weight() > p.narrative[1].weight());
        assert!(p.narrative[1].weight() > p.narrative[2].weight());
        assert!(DuplicateMatcher::new(p).is_ok());
    }

    #[test]
    fn bad_parameters_are_refused() {
        let mut p = MatchParams::default();
        p.sex.u = 0.0;
        assert_eq!(DuplicateMatcher::new(p).unwrap_err().field, "sex");
        let mut p = MatchParams::default();
        p.event_date[0].m = 0.5;
        assert_eq!(DuplicateMatcher::new(p).unwrap_err().field, "event_date");
        let p = MatchParams {
            narrative_cuts: [0.3, 0.4, 0.1],
            ..MatchParams::default()
        };
        assert_eq!(
            DuplicateMatcher::new(p).unwrap_err().field,
            "narrative_cuts"
        );
        let p = MatchParams {
            window_days: -1,
            ..MatchParams::default()
        };
        assert_eq!(DuplicateMatcher::new(p).unwrap_err().field, "window_days");
    }

    #[test]
    fn a_report_matches_itself_strongly_and_symmetrically() {
        let m = matcher();
        let a = full();
        let s = m.score(&a, &a);
        assert!(s.total > DEFAULT_THRESHOLD + 10.0, "{}", s.total);
        assert_eq!(s.parts.len(), 11);
        let mut b = full();
        b.id = "b".into();
        b.occurred_on = Some(date!(2026 - 03 - 03));
        b.patient_sex = Some(PatientSex::Female);
        assert!((m.score(&a, &b).total - m.score(&b, &a).total).abs() < 1e-12);
    }

    #[test]
    fn event_dates_are_graded_by_distance() {
        let m = matcher();
        let a = full();
        let mut b = full();
        let mut outcomes = vec![];
        for (day, expected) in [
            (Some(date!(2026 - 03 - 01)), "same_day"),
            (Some(date!(2026 - 02 - 26)), "within_3_days"),
            (Some(date!(2026 - 03 - 15)), "within_14_days"),
            (Some(date!(2026 - 03 - 16)), "further"),
            (None, "missing"),
        ] {
            b.occurred_on = day;
            let p = part(&m.score(&a, &b), MatchField::EventDate);
            assert_eq!(p.outcome, expected);
            outcomes.push(p.weight);
        }
        assert!(outcomes[0] > outcomes[1] && outcomes[1] > outcomes[2]);
        assert!(outcomes[3] < 0.0 && outcomes[4] == 0.0);
    }

    #[test]
    fn place_uses_the_facility_then_the_province() {
        let m = matcher();
        let a = full();
        let mut b = full();
        assert_eq!(
            part(&m.score(&a, &b), MatchField::Place).outcome,
            "same_facility"
        );
        b.facility_id = Some("f2".into());
        let p = part(&m.score(&a, &b), MatchField::Place);
        assert_eq!(p.outcome, "different_facility");
        assert!(p.weight < 0.0);
        b.facility_id = None;
        assert_eq!(
            part(&m.score(&a, &b), MatchField::Place).outcome,
            "same_province"
        );
        b.province_code = Some("79".into());
        assert_eq!(
            part(&m.score(&a, &b), MatchField::Place).outcome,
            "different_province"
        );
        b.province_code = None;
        assert_eq!(part(&m.score(&a, &b), MatchField::Place).outcome, "missing");
    }

    #[test]
    fn product_version_and_free_text() {
        let m = matcher();
        let a = full();
        let mut b = full();
        b.version_id = Some("v2".into());
        let s = m.score(&a, &b);
        assert_eq!(part(&s, MatchField::Version).outcome, "disagree");
        b.product_id = Some("p2".into());
        let s = m.score(&a, &b);
        assert_eq!(part(&s, MatchField::Product).outcome, "disagree");
        // A different product makes the version comparison meaningless.
        assert_eq!(part(&s, MatchField::Version).outcome, "missing");
        let mut c = full();
        c.product_id = None;
        c.version_id = None;
        c.product_text = Some("Trợ lý ảo AI trạm y tế".into());
        let mut d = c.clone();
        d.product_text = Some("tro ly ao".into());
        assert_eq!(part(&m.score(&c, &d), MatchField::Product).outcome, "agree");
        d.product_text = Some("máy đo SpO2".into());
        assert_eq!(
            part(&m.score(&c, &d), MatchField::Product).outcome,
            "missing"
        );
        assert_eq!(
            part(&m.score(&a, &c), MatchField::Product).outcome,
            "missing"
        );
    }

    #[test]
    fn codes_and_patient_fields() {
        let m = matcher();
        let a = full();
        let mut b = full();
        b.codes = vec!["A0901".into(), "AI-03".into(), "AI-05".into()];
        assert_eq!(
            part(&m.score(&a, &b), MatchField::Codes).outcome,
            "mostly_shared"
        );
        b.codes = vec!["A0901".into(), "AI-04".into(), "AI-05".into()];
        assert_eq!(
            part(&m.score(&a, &b), MatchField::Codes).outcome,
            "some_shared"
        );
        b.codes = vec!["B1".into()];
        assert_eq!(
            part(&m.score(&a, &b), MatchField::Codes).outcome,
            "none_shared"
        );
        b.codes.clear();
        assert_eq!(part(&m.score(&a, &b), MatchField::Codes).outcome, "missing");
        b.patient_sex = Some(PatientSex::Female);
        b.patient_age_band = None;
        b.seriousness = Seriousness::Death;
        let s = m.score(&a, &b);
        assert_eq!(part(&s, MatchField::Sex).outcome, "disagree");
        assert_eq!(part(&s, MatchField::AgeBand).outcome, "missing");
        assert_eq!(part(&s, MatchField::Seriousness).outcome, "disagree");
    }

    #[test]
    fn narrative_similarity_ignores_diacritics_and_case() {
        let a = "Phần mềm gợi ý phim phổi bình thường";
        let b = "PHAN MEM GOI Y PHIM PHOI BINH THUONG";
        assert!((narrative_similarity(a, b).unwrap() - 1.0).abs() < 1e-12);
        assert!(narrative_similarity(a, "Chatbot advised paracetamol").unwrap() < 0.15);
        assert_eq!(narrative_similarity(a, " ... "), None);
    }

    #[test]
    fn candidates_are_blocked_and_sorted() {
        let m = matcher();
        let new = full();
        let mut same = full();
        same.id = "same".into();
        let mut near = full();
        near.id = "near".into();
        near.occurred_on = Some(date!(2026 - 03 - 02));
        let mut other_product_far_away = full();
        other_product_far_away.id = "elsewhere".into();
        other_product_far_away.product_id = Some("p2".into());
        other_product_far_away.facility_id = Some("f9".into());
        other_product_far_away.province_code = Some("79".into());
        let mut later = full();
        later.id = "later".into();
        later.occurred_on = Some(date!(2026 - 09 - 01));
        later.received_on = date!(2026 - 09 - 05);
        let existing = vec![
            later.clone(),
            near,
            other_product_far_away.clone(),
            same,
            new.clone(),
        ];
        assert!(!m.same_block(&new, &other_product_far_away));
        assert!(!m.same_block(&new, &later));
        let found = m.candidates(&new, &existing, DEFAULT_THRESHOLD);
        let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, vec!["same", "near"]);
        assert!(found[0].1.total > found[1].1.total);
    }
}
