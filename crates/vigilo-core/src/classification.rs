//! Risk classification of medical AI products: from a reviewer's answers about the product
//! to the IMDRF SaMD category, the Vietnamese device class and AI Law tier, and the EU
//! classification used for reliance, with the reasoning written out in Vietnamese and English.
//!
//! Every table lives in the "crosswalk" section below, and nowhere else. The rules, their
//! sources and the legal points still open are in `docs/classification.md`; keep the two in
//! step. Pure code: no I/O, no clock, no environment.
//!
//! How the answers combine:
//!
//! 1. The IMDRF N12 matrix gives a base category from the situation and the stated
//!    significance of the information.
//! 2. If the system is autonomous (no clinician reviews each output before it is acted on)
//!    or if patients / lay people use it, the significance is raised one step
//!    (inform → drive → treat or diagnose, capped at treat or diagnose). The two factors
//!    share one cause, no professional judgement between output and action, so they raise
//!    once together, not once each.
//! 3. The raised cell gives the IMDRF category, the Vietnamese device class (Vigilo's
//!    crosswalk IV→D, III→C, II→B, I→A) and the EU MDR Rule 11 class (MDCG 2019-11 table).
//! 4. EU AI Act: high-risk under Art. 6(1) when the MDR class needs a notified body (IIa and
//!    above); Art. 50 transparency when the system is generative or used by lay people.
//! 5. Vietnam AI Law tier: high for IMDRF II and above; otherwise medium if autonomous,
//!    generative or used by lay people; otherwise low.
//!
//! Autonomy, lay users and generative output only ever raise a result; a test checks this
//! over every combination of answers.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A value that is not one of an answer or class enum's codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{value}': expected one of {expected}")]
pub struct UnknownCode {
    /// What was being parsed, e.g. `situation`.
    pub kind: &'static str,
    /// The input as given.
    pub value: String,
    /// The accepted codes, comma separated.
    pub expected: &'static str,
}

/// Lower-cases and turns `-` and spaces into `_`, so `Non-serious` reads as `non_serious`.
fn normalise_code(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Declares a closed set of codes with serde names, `as_str`, `Display`, `FromStr` (codes and
/// aliases, case-insensitive, `-` or space for `_`) and an `ALL` list. Variants are written from
/// the least to the most severe, so the derived `Ord` means "less or more severe".
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal, $expected:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $code)] $variant ),+
        }

        impl $name {
            /// Every value, from the least to the most severe.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code, as used in JSON, forms and the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $code ),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match normalise_code(s).as_str() {
                    $( $code $(| $alias)* => Ok($name::$variant), )+
                    _ => Err(UnknownCode {
                        kind: $kind,
                        value: s.to_string(),
                        expected: $expected,
                    }),
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

code_enum! {
    /// IMDRF N12 "state of healthcare situation or condition".
    Situation, "situation", "critical, serious, non_serious" {
        /// Not expected to be life-threatening; interventions are usually not time-critical.
        NonSerious = "non_serious" | "nonserious" | "non_critical",
        /// Accurate diagnosis or treatment is of vital importance to avoid unnecessary
        /// interventions or timely treatment is important to mitigate long-term impact.
        Serious = "serious",
        /// Accurate or timely diagnosis or treatment is vital to avoid death, long-term
        /// disability or other serious deterioration of health.
        Critical = "critical",
    }
}

code_enum! {
    /// IMDRF N12 "significance of the information provided to the healthcare decision".
    Significance, "significance",
    "treat_or_diagnose, drive_clinical_management, inform_clinical_management" {
        /// Informs clinical management: the information will not trigger an immediate or
        /// near-term action.
        InformClinicalManagement = "inform_clinical_management" | "inform",
        /// Drives clinical management: aids treatment or diagnosis, triages, identifies early
        /// signs, guides the next diagnostic or treatment step.
        DriveClinicalManagement = "drive_clinical_management" | "drive",
        /// Treats or diagnoses: the information is used for an immediate or near-term action
        /// to treat, prevent, mitigate, diagnose, screen or detect.
        TreatOrDiagnose = "treat_or_diagnose" | "treat" | "diagnose",
    }
}

code_enum! {
    /// Whether a clinician stands between the system's output and the action taken on it.
    ///
    /// There is deliberately no middle level ("human on the loop", sampled review, review of
    /// positives only): any output that can be acted on, including a negative that ends a
    /// pathway, without a clinician reviewing it makes the system `Autonomous` for
    /// classification. See `docs/classification.md`.
    Autonomy, "autonomy", "clinician_in_the_loop, autonomous" {
        /// A clinician reviews every output before any action is taken on it.
        ClinicianInTheLoop = "clinician_in_the_loop" | "human_in_the_loop" | "clinician_review",
        /// The system acts or decides without a clinician reviewing its output first.
        Autonomous = "autonomous" | "human_out_of_the_loop",
    }
}

code_enum! {
    /// Who the product is intended to be used by.
    IntendedUsers, "intended users", "healthcare_professionals, patients, both" {
        /// Doctors, nurses, commune health station staff and other trained health workers.
        HealthcareProfessionals = "healthcare_professionals" | "professionals" | "hcp" | "clinicians",
        /// Patients, carers or other lay people, without a professional in between.
        Patients = "patients" | "lay_people" | "lay" | "lay_users",
        /// Both professionals and lay people.
        Both = "both",
    }
}

impl IntendedUsers {
    /// Whether patients or other lay people use the product directly.
    pub fn includes_lay_people(self) -> bool {
        matches!(self, IntendedUsers::Patients | IntendedUsers::Both)
    }
}

/// The reviewer's (or vendor's) answers about a product version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClassificationAnswers {
    pub situation: Situation,
    pub significance: Significance,
    pub autonomy: Autonomy,
    /// Whether the system generates free text, images, audio or video (an LLM assistant, for
    /// example), as opposed to a score, a label or a fixed message.
    pub generative: bool,
    pub users: IntendedUsers,
}

impl ClassificationAnswers {
    /// Every possible combination of answers (3 × 3 × 2 × 2 × 3 = 108).
    pub fn all() -> Vec<ClassificationAnswers> {
        let mut out = Vec::new();
        for &situation in Situation::ALL {
            for &significance in Significance::ALL {
                for &autonomy in Autonomy::ALL {
                    for generative in [false, true] {
                        for &users in IntendedUsers::ALL {
                            out.push(ClassificationAnswers {
                                situation,
                                significance,
                                autonomy,
                                generative,
                                users,
                            });
                        }
                    }
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

code_enum! {
    /// IMDRF SaMD category (N12), I lowest to IV highest impact.
    ImdrfCategory, "IMDRF category", "i, ii, iii, iv" {
        I = "i" | "1",
        II = "ii" | "2",
        III = "iii" | "3",
        IV = "iv" | "4",
    }
}

code_enum! {
    /// Vietnamese medical device class under Decree 98/2021/ND-CP, A lowest to D highest risk.
    VnDeviceClass, "Vietnamese device class", "a, b, c, d" {
        A = "a",
        B = "b",
        C = "c",
        D = "d",
    }
}

code_enum! {
    /// Risk tier under Vietnam's AI Law (Law 134/2025/QH15).
    VnAiTier, "AI Law tier", "low, medium, high" {
        Low = "low" | "thap" | "thấp",
        Medium = "medium" | "trung_binh" | "trung_bình",
        High = "high" | "cao",
    }
}

code_enum! {
    /// EU MDR (Regulation (EU) 2017/745) device class.
    EuMdrClass, "EU MDR class", "i, iia, iib, iii" {
        I = "i" | "1",
        IIa = "iia" | "2a",
        IIb = "iib" | "2b",
        III = "iii" | "3",
    }
}

impl ImdrfCategory {
    /// Roman numeral as printed, e.g. `IV`.
    pub fn label(self) -> &'static str {
        match self {
            ImdrfCategory::I => "I",
            ImdrfCategory::II => "II",
            ImdrfCategory::III => "III",
            ImdrfCategory::IV => "IV",
        }
    }
}

impl VnDeviceClass {
    /// Letter as printed, e.g. `D`.
    pub fn label(self) -> &'static str {
        match self {
            VnDeviceClass::A => "A",
            VnDeviceClass::B => "B",
            VnDeviceClass::C => "C",
            VnDeviceClass::D => "D",
        }
    }
    /// Decree 98/2021 wording of the risk level, in Vietnamese.
    pub fn risk_vi(self) -> &'static str {
        match self {
            VnDeviceClass::A => "rủi ro thấp",
            VnDeviceClass::B => "rủi ro trung bình thấp",
            VnDeviceClass::C => "rủi ro trung bình cao",
            VnDeviceClass::D => "rủi ro cao",
        }
    }
    /// The same, in English.
    pub fn risk_en(self) -> &'static str {
        match self {
            VnDeviceClass::A => "low risk",
            VnDeviceClass::B => "low-moderate risk",
            VnDeviceClass::C => "moderate-high risk",
            VnDeviceClass::D => "high risk",
        }
    }
}

impl VnAiTier {
    pub fn label_vi(self) -> &'static str {
        match self {
            VnAiTier::Low => "thấp",
            VnAiTier::Medium => "trung bình",
            VnAiTier::High => "cao",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            VnAiTier::Low => "low",
            VnAiTier::Medium => "medium",
            VnAiTier::High => "high",
        }
    }
}

impl EuMdrClass {
    /// Class as printed, e.g. `IIa`.
    pub fn label(self) -> &'static str {
        match self {
            EuMdrClass::I => "I",
            EuMdrClass::IIa => "IIa",
            EuMdrClass::IIb => "IIb",
            EuMdrClass::III => "III",
        }
    }
    /// Whether the MDR requires a notified body's conformity assessment for this class.
    /// Class I software (not sterile, no measuring function) is self-declared.
    pub fn needs_notified_body(self) -> bool {
        self >= EuMdrClass::IIa
    }
}

impl Situation {
    pub fn label_vi(self) -> &'static str {
        match self {
            Situation::Critical => "nguy kịch",
            Situation::Serious => "nghiêm trọng",
            Situation::NonSerious => "không nghiêm trọng",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            Situation::Critical => "critical",
            Situation::Serious => "serious",
            Situation::NonSerious => "non-serious",
        }
    }
}

impl Significance {
    pub fn label_vi(self) -> &'static str {
        match self {
            Significance::TreatOrDiagnose => "điều trị hoặc chẩn đoán",
            Significance::DriveClinicalManagement => "định hướng xử trí lâm sàng",
            Significance::InformClinicalManagement => "cung cấp thông tin cho xử trí lâm sàng",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            Significance::TreatOrDiagnose => "treat or diagnose",
            Significance::DriveClinicalManagement => "drive clinical management",
            Significance::InformClinicalManagement => "inform clinical management",
        }
    }
    /// One step more significant, capped at treat or diagnose.
    pub fn raised(self) -> Significance {
        match self {
            Significance::InformClinicalManagement => Significance::DriveClinicalManagement,
            Significance::DriveClinicalManagement | Significance::TreatOrDiagnose => {
                Significance::TreatOrDiagnose
            }
        }
    }
}

code_enum! {
    /// Stable identifiers of the reasoning lines, so that pages, exports and tests can refer
    /// to a rule without matching on its wording.
    ReasonCode, "reason code",
    "imdrf.matrix, factor.autonomous, factor.lay_users, imdrf.raised, factor.generative, \
     vn_device.crosswalk, eu_mdr.rule11, eu_mdr.monitoring_check, eu_ai_act.high_risk, \
     eu_ai_act.not_high_risk, eu_ai_act.art50_generative, eu_ai_act.art50_interaction, \
     eu_ai_act.art50_none, vn_ai.high, vn_ai.medium, vn_ai.low, reviewer.override" {
        /// IMDRF N12 matrix applied to the answers as given.
        ImdrfMatrix = "imdrf.matrix",
        /// Autonomous operation raises the significance.
        FactorAutonomous = "factor.autonomous",
        /// Use by patients or lay people raises the significance.
        FactorLayUsers = "factor.lay_users",
        /// The significance actually used after the raise, and the category it gives.
        ImdrfRaised = "imdrf.raised",
        /// Generative output: what it changes and what it does not.
        FactorGenerative = "factor.generative",
        /// Vigilo's crosswalk from the IMDRF category to the Decree 98/2021 class.
        VnDeviceCrosswalk = "vn_device.crosswalk",
        /// MDR Rule 11 class from the MDCG 2019-11 table.
        EuMdrRule11 = "eu_mdr.rule11",
        /// Reminder of the Rule 11 clause on monitoring vital parameters.
        EuMdrMonitoringCheck = "eu_mdr.monitoring_check",
        /// AI Act Art. 6(1) applies.
        EuAiActHighRisk = "eu_ai_act.high_risk",
        /// AI Act Art. 6(1) does not apply.
        EuAiActNotHighRisk = "eu_ai_act.not_high_risk",
        /// AI Act Art. 50(2): marking of generated content.
        EuAiActArt50Generative = "eu_ai_act.art50_generative",
        /// AI Act Art. 50(1): telling people they interact with AI.
        EuAiActArt50Interaction = "eu_ai_act.art50_interaction",
        /// No Art. 50 trigger in the answers.
        EuAiActArt50None = "eu_ai_act.art50_none",
        /// AI Law high tier.
        VnAiHigh = "vn_ai.high",
        /// AI Law medium tier.
        VnAiMedium = "vn_ai.medium",
        /// AI Law low tier.
        VnAiLow = "vn_ai.low",
        /// A reviewer's override, with its reason (added by `apply_override`).
        ReviewerOverride = "reviewer.override",
    }
}

/// One step of the reasoning, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonLine {
    pub code: ReasonCode,
    pub vi: String,
    pub en: String,
}

impl ReasonLine {
    fn new(code: ReasonCode, vi: String, en: String) -> Self {
        ReasonLine { code, vi, en }
    }
}

/// The computed classification, before any reviewer override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub imdrf: ImdrfCategory,
    pub vn_device_class: VnDeviceClass,
    pub vn_ai_tier: VnAiTier,
    pub eu_mdr_class: EuMdrClass,
    pub eu_ai_act_high_risk: bool,
    /// AI Act Art. 50: the system is generative or interacts directly with lay people.
    pub eu_transparency_obligation: bool,
    pub reasoning: Vec<ReasonLine>,
}

// ---------------------------------------------------------------------------------------------
// The crosswalk: every table of the engine, in one place.
// ---------------------------------------------------------------------------------------------

/// IMDRF/SaMD WG/N12 FINAL:2014, SaMD categories table: situation × significance → category.
pub fn imdrf_matrix(situation: Situation, significance: Significance) -> ImdrfCategory {
    use ImdrfCategory::*;
    use Significance::*;
    match (situation, significance) {
        (Situation::Critical, TreatOrDiagnose) => IV,
        (Situation::Critical, DriveClinicalManagement) => III,
        (Situation::Critical, InformClinicalManagement) => II,
        (Situation::Serious, TreatOrDiagnose) => III,
        (Situation::Serious, DriveClinicalManagement) => II,
        (Situation::Serious, InformClinicalManagement) => I,
        (Situation::NonSerious, TreatOrDiagnose) => II,
        (Situation::NonSerious, DriveClinicalManagement) => I,
        (Situation::NonSerious, InformClinicalManagement) => I,
    }
}

/// MDCG 2019-11, table relating MDR Annex VIII Rule 11 to the IMDRF matrix.
/// Every cell is at least IIa: Rule 11 puts any software whose information is used for
/// diagnostic or therapeutic decisions in class IIa or above.
pub fn mdcg_2019_11_rule11(situation: Situation, significance: Significance) -> EuMdrClass {
    use EuMdrClass::*;
    use Significance::*;
    match (situation, significance) {
        (Situation::Critical, TreatOrDiagnose) => III,
        (Situation::Critical, DriveClinicalManagement) => IIb,
        (Situation::Critical, InformClinicalManagement) => IIa,
        (Situation::Serious, TreatOrDiagnose) => IIb,
        (Situation::Serious, DriveClinicalManagement) => IIa,
        (Situation::Serious, InformClinicalManagement) => IIa,
        (Situation::NonSerious, _) => IIa,
    }
}

/// Vigilo's crosswalk from IMDRF category to Decree 98/2021 class. Not a legal mapping: it
/// needs the reviewer's confirmation against the Ministry's classification rules.
pub fn vn_device_class_for(imdrf: ImdrfCategory) -> VnDeviceClass {
    match imdrf {
        ImdrfCategory::IV => VnDeviceClass::D,
        ImdrfCategory::III => VnDeviceClass::C,
        ImdrfCategory::II => VnDeviceClass::B,
        ImdrfCategory::I => VnDeviceClass::A,
    }
}

/// Vigilo's rule for the AI Law tier: high from IMDRF II up; otherwise medium when the system
/// is autonomous, generative or used by lay people; otherwise low.
pub fn vn_ai_tier_for(
    imdrf: ImdrfCategory,
    autonomous: bool,
    generative: bool,
    lay: bool,
) -> VnAiTier {
    if imdrf >= ImdrfCategory::II {
        VnAiTier::High
    } else if autonomous || generative || lay {
        VnAiTier::Medium
    } else {
        VnAiTier::Low
    }
}

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

/// `a`, `a and b`, `a, b and c`.
fn join_list(items: &[&str], and: &str) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} {and} {last}", rest.join(", ")),
    }
}

/// Classifies a product from the answers, with the reasoning written out.
pub fn classify(a: &ClassificationAnswers) -> Classification {
    let mut reasoning = Vec::new();
    let autonomous = a.autonomy == Autonomy::Autonomous;
    let lay = a.users.includes_lay_people();

    // 1. IMDRF N12 on the answers as given.
    let base = imdrf_matrix(a.situation, a.significance);
    reasoning.push(ReasonLine::new(
        ReasonCode::ImdrfMatrix,
        format!(
            "IMDRF N12: tình trạng chăm sóc sức khỏe “{}” và mức độ quan trọng của thông tin “{}” \
             xếp phần mềm vào nhóm {}.",
            a.situation.label_vi(),
            a.significance.label_vi(),
            base.label()
        ),
        format!(
            "IMDRF N12: a “{}” healthcare situation and information that is used to “{}” place \
             the software in category {}.",
            a.situation.label_en(),
            a.significance.label_en(),
            base.label()
        ),
    ));

    // 2. Raising factors: no professional judgement between output and action.
    if autonomous {
        reasoning.push(ReasonLine::new(
            ReasonCode::FactorAutonomous,
            "Mức tự chủ: hệ thống tự hành động hoặc ra quyết định mà không có nhân viên y tế \
             xem xét kết quả trước, nên Vigilo coi thông tin của hệ thống quan trọng hơn một bậc."
                .to_string(),
            "Autonomy: the system acts or decides without a clinician reviewing its output \
             first, so Vigilo treats its information as one step more significant."
                .to_string(),
        ));
    }
    if lay {
        reasoning.push(ReasonLine::new(
            ReasonCode::FactorLayUsers,
            "Người sử dụng dự kiến gồm người bệnh hoặc người không có chuyên môn y tế, là những \
             người không thể tự đánh giá kết quả về mặt chuyên môn, nên Vigilo coi thông tin \
             quan trọng hơn một bậc."
                .to_string(),
            "The intended users include patients or other lay people, who cannot judge the \
             output clinically, so Vigilo treats the information as one step more significant."
                .to_string(),
        ));
    }
    let significance = if autonomous || lay {
        let raised = a.significance.raised();
        let category = imdrf_matrix(a.situation, raised);
        let (vi, en) = if raised == a.significance {
            (
                format!(
                    "Mức độ quan trọng đã ở bậc cao nhất (điều trị hoặc chẩn đoán): nhóm IMDRF \
                     giữ nguyên là {}.",
                    category.label()
                ),
                format!(
                    "The significance is already at the highest step (treat or diagnose): the \
                     IMDRF category stays {}.",
                    category.label()
                ),
            )
        } else {
            (
                format!(
                    "Các yếu tố nâng bậc chỉ được tính một lần, không cộng dồn: mức độ quan trọng \
                     được xác định là “{}”, tương ứng nhóm IMDRF {}.",
                    raised.label_vi(),
                    category.label()
                ),
                format!(
                    "The raising factors count once, not once each: the significance is taken \
                     as “{}”, giving IMDRF category {}.",
                    raised.label_en(),
                    category.label()
                ),
            )
        };
        reasoning.push(ReasonLine::new(ReasonCode::ImdrfRaised, vi, en));
        raised
    } else {
        a.significance
    };
    if a.generative {
        reasoning.push(ReasonLine::new(
            ReasonCode::FactorGenerative,
            "Hệ thống tạo sinh (văn bản, hình ảnh, âm thanh hoặc video): không làm thay đổi nhóm \
             IMDRF, nhưng nâng mức rủi ro theo Luật Trí tuệ nhân tạo lên ít nhất là trung bình và \
             phát sinh nghĩa vụ minh bạch theo Điều 50 Đạo luật AI của EU."
                .to_string(),
            "Generative output (text, images, audio or video): it does not change the IMDRF \
             category, but it raises the AI Law tier to at least medium and brings the EU AI \
             Act Art. 50 transparency duty."
                .to_string(),
        ));
    }

    // 3. Device classes from the (possibly raised) cell.
    let imdrf = imdrf_matrix(a.situation, significance);
    let vn_device_class = vn_device_class_for(imdrf);
    reasoning.push(ReasonLine::new(
        ReasonCode::VnDeviceCrosswalk,
        format!(
            "Nghị định 98/2021/NĐ-CP: theo bảng quy đổi của Vigilo (IV→D, III→C, II→B, I→A), \
             nhóm IMDRF {} tương ứng trang thiết bị y tế loại {} ({}). Bảng quy đổi này do Vigilo \
             đề xuất, người thẩm định cần xác nhận theo quy tắc phân loại của Bộ Y tế.",
            imdrf.label(),
            vn_device_class.label(),
            vn_device_class.risk_vi()
        ),
        format!(
            "Decree 98/2021/ND-CP: Vigilo's crosswalk (IV→D, III→C, II→B, I→A) maps IMDRF \
             category {} to device class {} ({}). The crosswalk is Vigilo's own and needs the \
             reviewer's confirmation against the Ministry of Health's classification rules.",
            imdrf.label(),
            vn_device_class.label(),
            vn_device_class.risk_en()
        ),
    ));

    let eu_mdr_class = mdcg_2019_11_rule11(a.situation, significance);
    reasoning.push(ReasonLine::new(
        ReasonCode::EuMdrRule11,
        format!(
            "EU MDR (Quy định (EU) 2017/745), Phụ lục VIII, Quy tắc 11, theo bảng đối chiếu với \
             ma trận IMDRF trong MDCG 2019-11: tình trạng “{}” và mức độ quan trọng “{}” tương ứng \
             loại {}.",
            a.situation.label_vi(),
            significance.label_vi(),
            eu_mdr_class.label()
        ),
        format!(
            "EU MDR (Regulation (EU) 2017/745) Annex VIII Rule 11, as related to the IMDRF \
             matrix in MDCG 2019-11: a “{}” situation and “{}” give class {}.",
            a.situation.label_en(),
            significance.label_en(),
            eu_mdr_class.label()
        ),
    ));
    if a.situation == Situation::Critical && eu_mdr_class < EuMdrClass::IIb {
        reasoning.push(ReasonLine::new(
            ReasonCode::EuMdrMonitoringCheck,
            "Lưu ý cho người thẩm định: nếu phần mềm theo dõi các thông số sinh lý sống còn mà \
             biến đổi của chúng có thể gây nguy hiểm tức thời cho người bệnh, Quy tắc 11 xếp \
             loại IIb; các câu trả lời hiện tại không thể hiện điều này."
                .to_string(),
            "Reviewer check: if the software monitors vital physiological parameters whose \
             variations could put the patient in immediate danger, Rule 11 gives class IIb; \
             these answers do not capture that."
                .to_string(),
        ));
    }

    // 4. EU AI Act.
    let eu_ai_act_high_risk = eu_mdr_class.needs_notified_body();
    if eu_ai_act_high_risk {
        reasoning.push(ReasonLine::new(
            ReasonCode::EuAiActHighRisk,
            format!(
                "Đạo luật AI của EU (Quy định (EU) 2024/1689), Điều 6(1): hệ thống tự nó là sản \
                 phẩm thuộc phạm vi điều chỉnh của MDR (văn bản được liệt kê tại Phụ lục I), và \
                 sản phẩm loại {} theo MDR phải được tổ chức được chỉ định (notified body) đánh \
                 giá sự phù hợp, nên đây là hệ thống AI rủi ro cao.",
                eu_mdr_class.label()
            ),
            format!(
                "EU AI Act (Regulation (EU) 2024/1689) Art. 6(1): the system is itself a product \
                 under the MDR, which Annex I lists, and MDR class {} requires a notified body's \
                 conformity assessment, so it is a high-risk AI system.",
                eu_mdr_class.label()
            ),
        ));
    } else {
        reasoning.push(ReasonLine::new(
            ReasonCode::EuAiActNotHighRisk,
            format!(
                "Đạo luật AI của EU, Điều 6(1): loại {} theo MDR không cần tổ chức được chỉ định \
                 đánh giá sự phù hợp, nên điều khoản này không áp dụng; cần xem xét riêng Phụ lục \
                 III.",
                eu_mdr_class.label()
            ),
            format!(
                "EU AI Act Art. 6(1): MDR class {} needs no notified body, so this route does not \
                 apply; Annex III must be checked separately.",
                eu_mdr_class.label()
            ),
        ));
    }
    let eu_transparency_obligation = a.generative || lay;
    if a.generative {
        reasoning.push(ReasonLine::new(
            ReasonCode::EuAiActArt50Generative,
            "Đạo luật AI của EU, Điều 50(2): nhà cung cấp phải đánh dấu nội dung văn bản, hình \
             ảnh, âm thanh hoặc video do hệ thống tạo ra là nội dung do AI tạo, ở định dạng máy \
             đọc được."
                .to_string(),
            "EU AI Act Art. 50(2): the provider must mark generated text, images, audio or video \
             as artificially generated, in a machine-readable form."
                .to_string(),
        ));
    }
    if lay {
        reasoning.push(ReasonLine::new(
            ReasonCode::EuAiActArt50Interaction,
            "Đạo luật AI của EU, Điều 50(1): hệ thống tương tác trực tiếp với người bệnh hoặc \
             người không có chuyên môn y tế; họ phải được thông báo rằng mình đang tương tác với \
             một hệ thống AI."
                .to_string(),
            "EU AI Act Art. 50(1): the system interacts directly with patients or lay people, \
             who must be told that they are dealing with an AI system."
                .to_string(),
        ));
    }
    if !eu_transparency_obligation {
        reasoning.push(ReasonLine::new(
            ReasonCode::EuAiActArt50None,
            "Đạo luật AI của EU, Điều 50: các câu trả lời không phát sinh nghĩa vụ minh bạch \
             (hệ thống không tạo sinh và chỉ nhân viên y tế sử dụng)."
                .to_string(),
            "EU AI Act Art. 50: no transparency duty follows from these answers (not generative, \
             used by health professionals only)."
                .to_string(),
        ));
    }

    // 5. Vietnam AI Law tier.
    let vn_ai_tier = vn_ai_tier_for(imdrf, autonomous, a.generative, lay);
    let tier_line = match vn_ai_tier {
        VnAiTier::High => ReasonLine::new(
            ReasonCode::VnAiHigh,
            format!(
                "Luật Trí tuệ nhân tạo số 134/2025/QH15: nhóm IMDRF {} (từ II trở lên) nghĩa là \
                 sai sót của hệ thống có thể gây thiệt hại đáng kể đến sức khỏe, nên Vigilo xếp \
                 mức rủi ro cao (cách tiếp cận thận trọng trong khi chờ hướng dẫn phân loại chi \
                 tiết).",
                imdrf.label()
            ),
            format!(
                "AI Law 134/2025/QH15: IMDRF category {} (II or above) means the system's errors \
                 can cause significant harm to health, so Vigilo assigns the high tier (a \
                 conservative reading while detailed classification guidance is pending).",
                imdrf.label()
            ),
        ),
        VnAiTier::Medium => {
            let mut vi = Vec::new();
            let mut en = Vec::new();
            if autonomous {
                vi.push("hệ thống hoạt động tự chủ");
                en.push("the system acts autonomously");
            }
            if a.generative {
                vi.push("hệ thống tạo sinh nội dung");
                en.push("it generates content");
            }
            if lay {
                vi.push("người không có chuyên môn y tế sử dụng trực tiếp");
                en.push("lay people use it directly");
            }
            ReasonLine::new(
                ReasonCode::VnAiMedium,
                format!(
                    "Luật Trí tuệ nhân tạo số 134/2025/QH15: nhóm IMDRF I, nhưng {}. Vigilo xếp \
                     mức rủi ro trung bình: người sử dụng có thể bị nhầm lẫn hoặc bị tác động khi \
                     không nhận biết được kết quả do AI đưa ra, hoặc không có ai kiểm tra kết quả \
                     trước khi hành động.",
                    join_list(&vi, "và")
                ),
                format!(
                    "AI Law 134/2025/QH15: IMDRF category I, but {}. Vigilo assigns the medium \
                     tier: people may be misled or influenced without realising the output comes \
                     from AI, or nobody checks the output before it is acted on.",
                    join_list(&en, "and")
                ),
            )
        }
        VnAiTier::Low => ReasonLine::new(
            ReasonCode::VnAiLow,
            "Luật Trí tuệ nhân tạo số 134/2025/QH15: nhóm IMDRF I, nhân viên y tế xem xét mọi \
             kết quả, chỉ nhân viên y tế sử dụng và hệ thống không tạo sinh: mức rủi ro thấp."
                .to_string(),
            "AI Law 134/2025/QH15: IMDRF category I, a clinician reviews every output, only \
             health professionals use it and it is not generative: low tier."
                .to_string(),
        ),
    };
    reasoning.push(tier_line);

    Classification {
        imdrf,
        vn_device_class,
        vn_ai_tier,
        eu_mdr_class,
        eu_ai_act_high_risk,
        eu_transparency_obligation,
        reasoning,
    }
}

// ---------------------------------------------------------------------------------------------
// Reviewer overrides (pure data; storage and audit live in the server)
// ---------------------------------------------------------------------------------------------

/// Shortest accepted override reason, in characters after trimming.
pub const MIN_OVERRIDE_REASON_CHARS: usize = 10;

code_enum! {
    /// A result a reviewer may override.
    OverrideField, "classification field",
    "imdrf, vn_device_class, vn_ai_tier, eu_mdr_class, eu_ai_act_high_risk, eu_transparency_obligation" {
        Imdrf = "imdrf",
        VnDeviceClass = "vn_device_class",
        VnAiTier = "vn_ai_tier",
        EuMdrClass = "eu_mdr_class",
        EuAiActHighRisk = "eu_ai_act_high_risk",
        EuTransparencyObligation = "eu_transparency_obligation",
    }
}

/// A typed value of one overridable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "field", content = "value")]
pub enum OverrideValue {
    Imdrf(ImdrfCategory),
    VnDeviceClass(VnDeviceClass),
    VnAiTier(VnAiTier),
    EuMdrClass(EuMdrClass),
    EuAiActHighRisk(bool),
    EuTransparencyObligation(bool),
}

impl OverrideValue {
    /// The code of the value, e.g. `iv`, `d`, `high`, `iia`, `true`.
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideValue::Imdrf(v) => v.as_str(),
            OverrideValue::VnDeviceClass(v) => v.as_str(),
            OverrideValue::VnAiTier(v) => v.as_str(),
            OverrideValue::EuMdrClass(v) => v.as_str(),
            OverrideValue::EuAiActHighRisk(b) | OverrideValue::EuTransparencyObligation(b) => {
                if b {
                    "true"
                } else {
                    "false"
                }
            }
        }
    }
}

fn parse_flag(s: &str) -> Option<bool> {
    match normalise_code(s).as_str() {
        "true" | "yes" | "1" | "có" => Some(true),
        "false" | "no" | "0" | "không" => Some(false),
        _ => None,
    }
}

impl OverrideField {
    /// Parses a value of this field from its code.
    pub fn parse_value(self, s: &str) -> Result<OverrideValue, OverrideError> {
        let bad = |expected: &'static str| OverrideError::InvalidValue {
            field: self,
            value: s.to_string(),
            expected,
        };
        match self {
            OverrideField::Imdrf => s
                .parse()
                .map(OverrideValue::Imdrf)
                .map_err(|e: UnknownCode| bad(e.expected)),
            OverrideField::VnDeviceClass => s
                .parse()
                .map(OverrideValue::VnDeviceClass)
                .map_err(|e: UnknownCode| bad(e.expected)),
            OverrideField::VnAiTier => s
                .parse()
                .map(OverrideValue::VnAiTier)
                .map_err(|e: UnknownCode| bad(e.expected)),
            OverrideField::EuMdrClass => s
                .parse()
                .map(OverrideValue::EuMdrClass)
                .map_err(|e: UnknownCode| bad(e.expected)),
            OverrideField::EuAiActHighRisk => parse_flag(s)
                .map(OverrideValue::EuAiActHighRisk)
                .ok_or_else(|| bad("true, false")),
            OverrideField::EuTransparencyObligation => parse_flag(s)
                .map(OverrideValue::EuTransparencyObligation)
                .ok_or_else(|| bad("true, false")),
        }
    }
}

impl Classification {
    /// The current value of one field.
    pub fn value_of(&self, field: OverrideField) -> OverrideValue {
        match field {
            OverrideField::Imdrf => OverrideValue::Imdrf(self.imdrf),
            OverrideField::VnDeviceClass => OverrideValue::VnDeviceClass(self.vn_device_class),
            OverrideField::VnAiTier => OverrideValue::VnAiTier(self.vn_ai_tier),
            OverrideField::EuMdrClass => OverrideValue::EuMdrClass(self.eu_mdr_class),
            OverrideField::EuAiActHighRisk => {
                OverrideValue::EuAiActHighRisk(self.eu_ai_act_high_risk)
            }
            OverrideField::EuTransparencyObligation => {
                OverrideValue::EuTransparencyObligation(self.eu_transparency_obligation)
            }
        }
    }
}

/// A reviewer's override of one result, as submitted (values as codes, e.g. from a form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub field: OverrideField,
    /// The value the reviewer saw; must equal the current value.
    pub from: String,
    /// The value the reviewer sets.
    pub to: String,
    /// Why; required, at least [`MIN_OVERRIDE_REASON_CHARS`] characters.
    pub reason: String,
}

/// An override that passed [`validate_override`]: typed values and a trimmed reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedOverride {
    pub field: OverrideField,
    pub from: OverrideValue,
    pub to: OverrideValue,
    pub reason: String,
}

/// Why an override was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("'{value}' is not a valid value for {field}: expected one of {expected}")]
    InvalidValue {
        field: OverrideField,
        value: String,
        expected: &'static str,
    },
    #[error(
        "the override starts from {field} = {claimed}, but the classification now has {actual}"
    )]
    StaleFrom {
        field: OverrideField,
        claimed: &'static str,
        actual: &'static str,
    },
    #[error("the override changes nothing: {field} is already {value}")]
    NoChange {
        field: OverrideField,
        value: &'static str,
    },
    #[error("a reason is required to override a classification")]
    ReasonMissing,
    #[error("the reason must be at least {min} characters long (it has {got})")]
    ReasonTooShort { min: usize, got: usize },
    #[error("the reason must contain words, not only digits or punctuation")]
    ReasonNoWords,
}

impl OverrideError {
    /// A stable code for the error table and for tests.
    pub fn code(&self) -> &'static str {
        match self {
            OverrideError::InvalidValue { .. } => "override.invalid_value",
            OverrideError::StaleFrom { .. } => "override.stale_from",
            OverrideError::NoChange { .. } => "override.no_change",
            OverrideError::ReasonMissing => "override.reason_missing",
            OverrideError::ReasonTooShort { .. } => "override.reason_too_short",
            OverrideError::ReasonNoWords => "override.reason_no_words",
        }
    }
}

/// Checks a reviewer's override against the current classification: both values valid for
/// the field, `from` equal to the current value, `to` different from it, and a reason of at
/// least [`MIN_OVERRIDE_REASON_CHARS`] characters containing at least one letter.
pub fn validate_override(
    current: &Classification,
    o: &Override,
) -> Result<CheckedOverride, OverrideError> {
    let from = o.field.parse_value(&o.from)?;
    let to = o.field.parse_value(&o.to)?;
    let actual = current.value_of(o.field);
    if from != actual {
        return Err(OverrideError::StaleFrom {
            field: o.field,
            claimed: from.as_str(),
            actual: actual.as_str(),
        });
    }
    if to == from {
        return Err(OverrideError::NoChange {
            field: o.field,
            value: to.as_str(),
        });
    }
    let reason = o.reason.trim();
    if reason.is_empty() {
        return Err(OverrideError::ReasonMissing);
    }
    let got = reason.chars().count();
    if got < MIN_OVERRIDE_REASON_CHARS {
        return Err(OverrideError::ReasonTooShort {
            min: MIN_OVERRIDE_REASON_CHARS,
            got,
        });
    }
    if !reason.chars().any(char::is_alphabetic) {
        return Err(OverrideError::ReasonNoWords);
    }
    Ok(CheckedOverride {
        field: o.field,
        from,
        to,
        reason: reason.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One row of the expected table: the five answers, then IMDRF category, Vietnamese device
    /// class, AI Law tier, EU MDR class, EU AI Act high-risk, EU Art. 50 transparency.
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        bool,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        bool,
        bool,
    );

    /// Every combination of answers with its expected result, written out by hand from the
    /// rules in docs/classification.md (not computed by the engine).
    #[rustfmt::skip]
    const EXPECTED: [Row; 108] = [
("critical", "treat_or_diagnose", "clinician_in_the_loop", false, "healthcare_professionals", "iv", "d", "high", "iii", true, false),
    ("critical", "treat_or_diagnose", "clinician_in_the_loop", false, "patients", "iv", "d", "high", "iii", true, true),
    ("critical", "treat_or_diagnose", "clinician_in_the_loop", false, "both", "iv", "d", "high", "iii", true, true),
    ("critical", "treat_or_diagnose", "clinician_in_the_loop", true, "healthcare_professionals", "iv", "d", "high", "iii", true, true),
    ("critical", "treat_or_diagnose", "clinician_in_the_loop", true, "patients", "iv", "d", "high", "iii", true, true),
    ("critical", "treat_or_diagnose", "clinician_in_the_loop", true, "both", "iv", "d", "high", "iii", true, true),
    ("critical", "treat_or_diagnose", "autonomous", false, "healthcare_professionals", "iv", "d", "high", "iii", true, false),
    ("critical", "treat_or_diagnose", "autonomous", false, "patients", "iv", "d", "high", "iii", true, true),
    ("critical", "treat_or_diagnose", "autonomous", false, "both", "iv", "d", "high", "iii", true, true),
    ("critical", "treat_or_diagnose", "autonomous", true, "healthcare_professionals", "iv", "d", "high", "iii", true, true),
    ("critical", "treat_or_diagnose", "autonomous", true, "patients", "iv", "d", "high", "iii", true, true),
    ("critical", "treat_or_diagnose", "autonomous", true, "both", "iv", "d", "high", "iii", true, true),
    ("critical", "drive_clinical_management", "clinician_in_the_loop", false, "healthcare_professionals", "iii", "c", "high", "iib", true, false),
    ("critical", "drive_clinical_management", "clinician_in_the_loop", false, "patients", "iv", "d", "high", "iii", true, true),
    ("critical", "drive_clinical_management", "clinician_in_the_loop", false, "both", "iv", "d", "high", "iii", true, true),
    ("critical", "drive_clinical_management", "clinician_in_the_loop", true, "healthcare_professionals", "iii", "c", "high", "iib", true, true),
    ("critical", "drive_clinical_management", "clinician_in_the_loop", true, "patients", "iv", "d", "high", "iii", true, true),
    ("critical", "drive_clinical_management", "clinician_in_the_loop", true, "both", "iv", "d", "high", "iii", true, true),
    ("critical", "drive_clinical_management", "autonomous", false, "healthcare_professionals", "iv", "d", "high", "iii", true, false),
    ("critical", "drive_clinical_management", "autonomous", false, "patients", "iv", "d", "high", "iii", true, true),
    ("critical", "drive_clinical_management", "autonomous", false, "both", "iv", "d", "high", "iii", true, true),
    ("critical", "drive_clinical_management", "autonomous", true, "healthcare_professionals", "iv", "d", "high", "iii", true, true),
    ("critical", "drive_clinical_management", "autonomous", true, "patients", "iv", "d", "high", "iii", true, true),
    ("critical", "drive_clinical_management", "autonomous", true, "both", "iv", "d", "high", "iii", true, true),
    ("critical", "inform_clinical_management", "clinician_in_the_loop", false, "healthcare_professionals", "ii", "b", "high", "iia", true, false),
    ("critical", "inform_clinical_management", "clinician_in_the_loop", false, "patients", "iii", "c", "high", "iib", true, true),
    ("critical", "inform_clinical_management", "clinician_in_the_loop", false, "both", "iii", "c", "high", "iib", true, true),
    ("critical", "inform_clinical_management", "clinician_in_the_loop", true, "healthcare_professionals", "ii", "b", "high", "iia", true, true),
    ("critical", "inform_clinical_management", "clinician_in_the_loop", true, "patients", "iii", "c", "high", "iib", true, true),
    ("critical", "inform_clinical_management", "clinician_in_the_loop", true, "both", "iii", "c", "high", "iib", true, true),
    ("critical", "inform_clinical_management", "autonomous", false, "healthcare_professionals", "iii", "c", "high", "iib", true, false),
    ("critical", "inform_clinical_management", "autonomous", false, "patients", "iii", "c", "high", "iib", true, true),
    ("critical", "inform_clinical_management", "autonomous", false, "both", "iii", "c", "high", "iib", true, true),
    ("critical", "inform_clinical_management", "autonomous", true, "healthcare_professionals", "iii", "c", "high", "iib", true, true),
    ("critical", "inform_clinical_management", "autonomous", true, "patients", "iii", "c", "high", "iib", true, true),
    ("critical", "inform_clinical_management", "autonomous", true, "both", "iii", "c", "high", "iib", true, true),
    ("serious", "treat_or_diagnose", "clinician_in_the_loop", false, "healthcare_professionals", "iii", "c", "high", "iib", true, false),
    ("serious", "treat_or_diagnose", "clinician_in_the_loop", false, "patients", "iii", "c", "high", "iib", true, true),
    ("serious", "treat_or_diagnose", "clinician_in_the_loop", false, "both", "iii", "c", "high", "iib", true, true),
    ("serious", "treat_or_diagnose", "clinician_in_the_loop", true, "healthcare_professionals", "iii", "c", "high", "iib", true, true),
    ("serious", "treat_or_diagnose", "clinician_in_the_loop", true, "patients", "iii", "c", "high", "iib", true, true),
    ("serious", "treat_or_diagnose", "clinician_in_the_loop", true, "both", "iii", "c", "high", "iib", true, true),
    ("serious", "treat_or_diagnose", "autonomous", false, "healthcare_professionals", "iii", "c", "high", "iib", true, false),
    ("serious", "treat_or_diagnose", "autonomous", false, "patients", "iii", "c", "high", "iib", true, true),
    ("serious", "treat_or_diagnose", "autonomous", false, "both", "iii", "c", "high", "iib", true, true),
    ("serious", "treat_or_diagnose", "autonomous", true, "healthcare_professionals", "iii", "c", "high", "iib", true, true),
    ("serious", "treat_or_diagnose", "autonomous", true, "patients", "iii", "c", "high", "iib", true, true),
    ("serious", "treat_or_diagnose", "autonomous", true, "both", "iii", "c", "high", "iib", true, true),
    ("serious", "drive_clinical_management", "clinician_in_the_loop", false, "healthcare_professionals", "ii", "b", "high", "iia", true, false),
    ("serious", "drive_clinical_management", "clinician_in_the_loop", false, "patients", "iii", "c", "high", "iib", true, true),
    ("serious", "drive_clinical_management", "clinician_in_the_loop", false, "both", "iii", "c", "high", "iib", true, true),
    ("serious", "drive_clinical_management", "clinician_in_the_loop", true, "healthcare_professionals", "ii", "b", "high", "iia", true, true),
    ("serious", "drive_clinical_management", "clinician_in_the_loop", true, "patients", "iii", "c", "high", "iib", true, true),
    ("serious", "drive_clinical_management", "clinician_in_the_loop", true, "both", "iii", "c", "high", "iib", true, true),
    ("serious", "drive_clinical_management", "autonomous", false, "healthcare_professionals", "iii", "c", "high", "iib", true, false),
    ("serious", "drive_clinical_management", "autonomous", false, "patients", "iii", "c", "high", "iib", true, true),
    ("serious", "drive_clinical_management", "autonomous", false, "both", "iii", "c", "high", "iib", true, true),
    ("serious", "drive_clinical_management", "autonomous", true, "healthcare_professionals", "iii", "c", "high", "iib", true, true),
    ("serious", "drive_clinical_management", "autonomous", true, "patients", "iii", "c", "high", "iib", true, true),
    ("serious", "drive_clinical_management", "autonomous", true, "both", "iii", "c", "high", "iib", true, true),
    ("serious", "inform_clinical_management", "clinician_in_the_loop", false, "healthcare_professionals", "i", "a", "low", "iia", true, false),
    ("serious", "inform_clinical_management", "clinician_in_the_loop", false, "patients", "ii", "b", "high", "iia", true, true),
    ("serious", "inform_clinical_management", "clinician_in_the_loop", false, "both", "ii", "b", "high", "iia", true, true),
    ("serious", "inform_clinical_management", "clinician_in_the_loop", true, "healthcare_professionals", "i", "a", "medium", "iia", true, true),
    ("serious", "inform_clinical_management", "clinician_in_the_loop", true, "patients", "ii", "b", "high", "iia", true, true),
    ("serious", "inform_clinical_management", "clinician_in_the_loop", true, "both", "ii", "b", "high", "iia", true, true),
    ("serious", "inform_clinical_management", "autonomous", false, "healthcare_professionals", "ii", "b", "high", "iia", true, false),
    ("serious", "inform_clinical_management", "autonomous", false, "patients", "ii", "b", "high", "iia", true, true),
    ("serious", "inform_clinical_management", "autonomous", false, "both", "ii", "b", "high", "iia", true, true),
    ("serious", "inform_clinical_management", "autonomous", true, "healthcare_professionals", "ii", "b", "high", "iia", true, true),
    ("serious", "inform_clinical_management", "autonomous", true, "patients", "ii", "b", "high", "iia", true, true),
    ("serious", "inform_clinical_management", "autonomous", true, "both", "ii", "b", "high", "iia", true, true),
    ("non_serious", "treat_or_diagnose", "clinician_in_the_loop", false, "healthcare_professionals", "ii", "b", "high", "iia", true, false),
    ("non_serious", "treat_or_diagnose", "clinician_in_the_loop", false, "patients", "ii", "b", "high", "iia", true, true),
    ("non_serious", "treat_or_diagnose", "clinician_in_the_loop", false, "both", "ii", "b", "high", "iia", true, true),
    ("non_serious", "treat_or_diagnose", "clinician_in_the_loop", true, "healthcare_professionals", "ii", "b", "high", "iia", true, true),
    ("non_serious", "treat_or_diagnose", "clinician_in_the_loop", true, "patients", "ii", "b", "high", "iia", true, true),
    ("non_serious", "treat_or_diagnose", "clinician_in_the_loop", true, "both", "ii", "b", "high", "iia", true, true),
    ("non_serious", "treat_or_diagnose", "autonomous", false, "healthcare_professionals", "ii", "b", "high", "iia", true, false),
    ("non_serious", "treat_or_diagnose", "autonomous", false, "patients", "ii", "b", "high", "iia", true, true),
    ("non_serious", "treat_or_diagnose", "autonomous", false, "both", "ii", "b", "high", "iia", true, true),
    ("non_serious", "treat_or_diagnose", "autonomous", true, "healthcare_professionals", "ii", "b", "high", "iia", true, true),
    ("non_serious", "treat_or_diagnose", "autonomous", true, "patients", "ii", "b", "high", "iia", true, true),
    ("non_serious", "treat_or_diagnose", "autonomous", true, "both", "ii", "b", "high", "iia", true, true),
    ("non_serious", "drive_clinical_management", "clinician_in_the_loop", false, "healthcare_professionals", "i", "a", "low", "iia", true, false),
    ("non_serious", "drive_clinical_management", "clinician_in_the_loop", false, "patients", "ii", "b", "high", "iia", true, true),
    ("non_serious", "drive_clinical_management", "clinician_in_the_loop", false, "both", "ii", "b", "high", "iia", true, true),
    ("non_serious", "drive_clinical_management", "clinician_in_the_loop", true, "healthcare_professionals", "i", "a", "medium", "iia", true, true),
    ("non_serious", "drive_clinical_management", "clinician_in_the_loop", true, "patients", "ii", "b", "high", "iia", true, true),
    ("non_serious", "drive_clinical_management", "clinician_in_the_loop", true, "both", "ii", "b", "high", "iia", true, true),
    ("non_serious", "drive_clinical_management", "autonomous", false, "healthcare_professionals", "ii", "b", "high", "iia", true, false),
    ("non_serious", "drive_clinical_management", "autonomous", false, "patients", "ii", "b", "high", "iia", true, true),
    ("non_serious", "drive_clinical_management", "autonomous", false, "both", "ii", "b", "high", "iia", true, true),
    ("non_serious", "drive_clinical_management", "autonomous", true, "healthcare_professionals", "ii", "b", "high", "iia", true, true),
    ("non_serious", "drive_clinical_management", "autonomous", true, "patients", "ii", "b", "high", "iia", true, true),
    ("non_serious", "drive_clinical_management", "autonomous", true, "both", "ii", "b", "high", "iia", true, true),
    ("non_serious", "inform_clinical_management", "clinician_in_the_loop", false, "healthcare_professionals", "i", "a", "low", "iia", true, false),
    ("non_serious", "inform_clinical_management", "clinician_in_the_loop", false, "patients", "i", "a", "medium", "iia", true, true),
    ("non_serious", "inform_clinical_management", "clinician_in_the_loop", false, "both", "i", "a", "medium", "iia", true, true),
    ("non_serious", "inform_clinical_management", "clinician_in_the_loop", true, "healthcare_professionals", "i", "a", "medium", "iia", true, true),
    ("non_serious", "inform_clinical_management", "clinician_in_the_loop", true, "patients", "i", "a", "medium", "iia", true, true),
    ("non_serious", "inform_clinical_management", "clinician_in_the_loop", true, "both", "i", "a", "medium", "iia", true, true),
    ("non_serious", "inform_clinical_management", "autonomous", false, "healthcare_professionals", "i", "a", "medium", "iia", true, false),
    ("non_serious", "inform_clinical_management", "autonomous", false, "patients", "i", "a", "medium", "iia", true, true),
    ("non_serious", "inform_clinical_management", "autonomous", false, "both", "i", "a", "medium", "iia", true, true),
    ("non_serious", "inform_clinical_management", "autonomous", true, "healthcare_professionals", "i", "a", "medium", "iia", true, true),
    ("non_serious", "inform_clinical_management", "autonomous", true, "patients", "i", "a", "medium", "iia", true, true),
    ("non_serious", "inform_clinical_management", "autonomous", true, "both", "i", "a", "medium", "iia", true, true),
    ];

    fn answers(row: &Row) -> ClassificationAnswers {
        ClassificationAnswers {
            situation: row.0.parse().unwrap(),
            significance: row.1.parse().unwrap(),
            autonomy: row.2.parse().unwrap(),
            generative: row.3,
            users: row.4.parse().unwrap(),
        }
    }

    #[test]
    fn every_combination_has_its_expected_result() {
        let mut seen = std::collections::HashSet::new();
        for row in &EXPECTED {
            let a = answers(row);
            assert!(seen.insert(a), "row listed twice: {row:?}");
            let c = classify(&a);
            let got = (
                c.imdrf.as_str(),
                c.vn_device_class.as_str(),
                c.vn_ai_tier.as_str(),
                c.eu_mdr_class.as_str(),
                c.eu_ai_act_high_risk,
                c.eu_transparency_obligation,
            );
            let want = (row.5, row.6, row.7, row.8, row.9, row.10);
            assert_eq!(got, want, "answers {a:?}");
        }
        // The table covers the whole answer space.
        assert_eq!(seen.len(), ClassificationAnswers::all().len());
        for a in ClassificationAnswers::all() {
            assert!(seen.contains(&a), "missing from the table: {a:?}");
        }
    }

    #[test]
    fn answer_space_is_3_by_3_by_2_by_2_by_3() {
        assert_eq!(Situation::ALL.len(), 3);
        assert_eq!(Significance::ALL.len(), 3);
        assert_eq!(Autonomy::ALL.len(), 2);
        assert_eq!(IntendedUsers::ALL.len(), 3);
        assert_eq!(ClassificationAnswers::all().len(), 108);
    }

    #[test]
    fn imdrf_n12_matrix_as_published() {
        use ImdrfCategory::*;
        use Significance::*;
        // Critical: IV/III/II, Serious: III/II/I, Non-serious: II/I/I
        // for treat or diagnose / drive / inform.
        let rows = [
            (Situation::Critical, [IV, III, II]),
            (Situation::Serious, [III, II, I]),
            (Situation::NonSerious, [II, I, I]),
        ];
        for (situation, cats) in rows {
            let sigs = [
                TreatOrDiagnose,
                DriveClinicalManagement,
                InformClinicalManagement,
            ];
            for (sig, cat) in sigs.into_iter().zip(cats) {
                assert_eq!(imdrf_matrix(situation, sig), cat, "{situation} × {sig}");
            }
        }
    }

    #[test]
    fn mdcg_2019_11_table_as_published() {
        use EuMdrClass::*;
        use Significance::*;
        let rows = [
            (Situation::Critical, [III, IIb, IIa]),
            (Situation::Serious, [IIb, IIa, IIa]),
            (Situation::NonSerious, [IIa, IIa, IIa]),
        ];
        for (situation, classes) in rows {
            let sigs = [
                TreatOrDiagnose,
                DriveClinicalManagement,
                InformClinicalManagement,
            ];
            for (sig, class) in sigs.into_iter().zip(classes) {
                assert_eq!(
                    mdcg_2019_11_rule11(situation, sig),
                    class,
                    "{situation} × {sig}"
                );
            }
        }
    }

    #[test]
    fn vietnam_crosswalk_is_iv_d_iii_c_ii_b_i_a() {
        assert_eq!(vn_device_class_for(ImdrfCategory::IV), VnDeviceClass::D);
        assert_eq!(vn_device_class_for(ImdrfCategory::III), VnDeviceClass::C);
        assert_eq!(vn_device_class_for(ImdrfCategory::II), VnDeviceClass::B);
        assert_eq!(vn_device_class_for(ImdrfCategory::I), VnDeviceClass::A);
    }

    fn base() -> ClassificationAnswers {
        ClassificationAnswers {
            situation: Situation::Serious,
            significance: Significance::InformClinicalManagement,
            autonomy: Autonomy::ClinicianInTheLoop,
            generative: false,
            users: IntendedUsers::HealthcareProfessionals,
        }
    }

    fn codes(c: &Classification) -> Vec<ReasonCode> {
        c.reasoning.iter().map(|l| l.code).collect()
    }

    #[test]
    fn plain_answers_follow_the_matrix_without_raise() {
        let c = classify(&base());
        assert_eq!(c.imdrf, ImdrfCategory::I);
        assert_eq!(c.vn_device_class, VnDeviceClass::A);
        assert_eq!(c.vn_ai_tier, VnAiTier::Low);
        assert_eq!(c.eu_mdr_class, EuMdrClass::IIa);
        assert!(c.eu_ai_act_high_risk);
        assert!(!c.eu_transparency_obligation);
        assert!(!codes(&c).contains(&ReasonCode::ImdrfRaised));
        assert!(codes(&c).contains(&ReasonCode::EuAiActArt50None));
        assert!(codes(&c).contains(&ReasonCode::VnAiLow));
    }

    #[test]
    fn autonomy_raises_significance_one_step() {
        let a = ClassificationAnswers {
            autonomy: Autonomy::Autonomous,
            ..base()
        };
        let c = classify(&a);
        // Serious × inform (I) is read as serious × drive (II).
        assert_eq!(c.imdrf, ImdrfCategory::II);
        assert_eq!(c.vn_device_class, VnDeviceClass::B);
        assert_eq!(c.vn_ai_tier, VnAiTier::High);
        assert!(codes(&c).contains(&ReasonCode::FactorAutonomous));
        assert!(codes(&c).contains(&ReasonCode::ImdrfRaised));
        // Autonomy alone is not an Art. 50 trigger.
        assert!(!c.eu_transparency_obligation);
    }

    #[test]
    fn lay_users_raise_significance_one_step() {
        for users in [IntendedUsers::Patients, IntendedUsers::Both] {
            let c = classify(&ClassificationAnswers { users, ..base() });
            assert_eq!(c.imdrf, ImdrfCategory::II, "{users}");
            assert!(codes(&c).contains(&ReasonCode::FactorLayUsers));
            assert!(codes(&c).contains(&ReasonCode::EuAiActArt50Interaction));
            assert!(c.eu_transparency_obligation);
        }
    }

    #[test]
    fn autonomy_and_lay_users_raise_once_not_twice() {
        let a = ClassificationAnswers {
            situation: Situation::Critical,
            autonomy: Autonomy::Autonomous,
            users: IntendedUsers::Patients,
            ..base()
        };
        let c = classify(&a);
        // Critical × inform → drive (III), not → treat or diagnose (IV).
        assert_eq!(c.imdrf, ImdrfCategory::III);
        assert_eq!(c.eu_mdr_class, EuMdrClass::IIb);
    }

    #[test]
    fn raise_is_capped_at_treat_or_diagnose() {
        let a = ClassificationAnswers {
            situation: Situation::Serious,
            significance: Significance::TreatOrDiagnose,
            autonomy: Autonomy::Autonomous,
            ..base()
        };
        let c = classify(&a);
        assert_eq!(c.imdrf, ImdrfCategory::III);
        let raised = c
            .reasoning
            .iter()
            .find(|l| l.code == ReasonCode::ImdrfRaised)
            .unwrap();
        assert!(
            raised.en.contains("already at the highest step"),
            "{}",
            raised.en
        );
        assert!(raised.vi.contains("bậc cao nhất"), "{}", raised.vi);
    }

    #[test]
    fn generative_changes_tier_and_transparency_but_not_device_classes() {
        for a in ClassificationAnswers::all()
            .into_iter()
            .filter(|a| !a.generative)
        {
            let plain = classify(&a);
            let gen = classify(&ClassificationAnswers {
                generative: true,
                ..a
            });
            assert_eq!(gen.imdrf, plain.imdrf);
            assert_eq!(gen.vn_device_class, plain.vn_device_class);
            assert_eq!(gen.eu_mdr_class, plain.eu_mdr_class);
            assert!(gen.vn_ai_tier >= VnAiTier::Medium);
            assert!(gen.eu_transparency_obligation);
            assert!(codes(&gen).contains(&ReasonCode::FactorGenerative));
            assert!(codes(&gen).contains(&ReasonCode::EuAiActArt50Generative));
        }
    }

    #[test]
    fn low_tier_only_without_any_raising_factor_and_category_i() {
        for a in ClassificationAnswers::all() {
            let c = classify(&a);
            let low = c.vn_ai_tier == VnAiTier::Low;
            let expect_low = c.imdrf == ImdrfCategory::I
                && a.autonomy == Autonomy::ClinicianInTheLoop
                && !a.generative
                && a.users == IntendedUsers::HealthcareProfessionals;
            assert_eq!(low, expect_low, "{a:?}");
            if c.imdrf >= ImdrfCategory::II {
                assert_eq!(c.vn_ai_tier, VnAiTier::High, "{a:?}");
            }
        }
    }

    #[test]
    fn eu_high_risk_exactly_when_a_notified_body_is_needed() {
        assert!(!EuMdrClass::I.needs_notified_body());
        assert!(EuMdrClass::IIa.needs_notified_body());
        assert!(EuMdrClass::IIb.needs_notified_body());
        assert!(EuMdrClass::III.needs_notified_body());
        for a in ClassificationAnswers::all() {
            let c = classify(&a);
            assert_eq!(c.eu_ai_act_high_risk, c.eu_mdr_class >= EuMdrClass::IIa);
            // Rule 11 puts every diagnostic or therapeutic decision aid at IIa or above.
            assert!(c.eu_mdr_class >= EuMdrClass::IIa);
        }
    }

    #[test]
    fn monitoring_check_only_for_critical_situations_at_class_iia() {
        for a in ClassificationAnswers::all() {
            let c = classify(&a);
            let has = codes(&c).contains(&ReasonCode::EuMdrMonitoringCheck);
            let want = a.situation == Situation::Critical && c.eu_mdr_class == EuMdrClass::IIa;
            assert_eq!(has, want, "{a:?}");
        }
    }

    #[test]
    fn device_classes_always_follow_the_one_crosswalk() {
        for a in ClassificationAnswers::all() {
            let c = classify(&a);
            assert_eq!(c.vn_device_class, vn_device_class_for(c.imdrf));
        }
    }

    // --- Monotonicity -----------------------------------------------------------------------

    fn outputs(
        c: &Classification,
    ) -> (
        ImdrfCategory,
        VnDeviceClass,
        VnAiTier,
        EuMdrClass,
        bool,
        bool,
    ) {
        (
            c.imdrf,
            c.vn_device_class,
            c.vn_ai_tier,
            c.eu_mdr_class,
            c.eu_ai_act_high_risk,
            c.eu_transparency_obligation,
        )
    }

    fn no_output_lower(lo: &Classification, hi: &Classification) -> bool {
        let (a, b) = (outputs(lo), outputs(hi));
        b.0 >= a.0 && b.1 >= a.1 && b.2 >= a.2 && b.3 >= a.3 && b.4 >= a.4 && b.5 >= a.5
    }

    fn lay_rank(u: IntendedUsers) -> u8 {
        u8::from(u.includes_lay_people())
    }

    /// `hi` is at least as risky as `lo` on every answer.
    fn dominates(lo: &ClassificationAnswers, hi: &ClassificationAnswers) -> bool {
        hi.situation >= lo.situation
            && hi.significance >= lo.significance
            && hi.autonomy >= lo.autonomy
            && hi.generative >= lo.generative
            && lay_rank(hi.users) >= lay_rank(lo.users)
    }

    #[test]
    fn riskier_answers_never_lower_any_output() {
        let all = ClassificationAnswers::all();
        let mut pairs = 0;
        for lo in &all {
            for hi in &all {
                if dominates(lo, hi) {
                    pairs += 1;
                    assert!(
                        no_output_lower(&classify(lo), &classify(hi)),
                        "{lo:?} -> {hi:?}"
                    );
                }
            }
        }
        assert!(pairs > all.len());
    }

    #[test]
    fn severity_orders_are_as_documented() {
        assert!(Situation::Critical > Situation::Serious);
        assert!(Situation::Serious > Situation::NonSerious);
        assert!(Significance::TreatOrDiagnose > Significance::DriveClinicalManagement);
        assert!(Significance::DriveClinicalManagement > Significance::InformClinicalManagement);
        assert!(Autonomy::Autonomous > Autonomy::ClinicianInTheLoop);
        assert!(ImdrfCategory::IV > ImdrfCategory::I);
        assert!(VnDeviceClass::D > VnDeviceClass::A);
        assert!(VnAiTier::High > VnAiTier::Low);
        assert!(EuMdrClass::III > EuMdrClass::IIb && EuMdrClass::IIb > EuMdrClass::IIa);
    }

    fn any_answers() -> impl Strategy<Value = ClassificationAnswers> {
        (
            prop::sample::select(Situation::ALL),
            prop::sample::select(Significance::ALL),
            prop::sample::select(Autonomy::ALL),
            any::<bool>(),
            prop::sample::select(IntendedUsers::ALL),
        )
            .prop_map(|(situation, significance, autonomy, generative, users)| {
                ClassificationAnswers {
                    situation,
                    significance,
                    autonomy,
                    generative,
                    users,
                }
            })
    }

    proptest! {
        #[test]
        fn raising_the_situation_never_lowers_any_output(
            a in any_answers(),
            to in prop::sample::select(Situation::ALL),
        ) {
            prop_assume!(to >= a.situation);
            let raised = ClassificationAnswers { situation: to, ..a };
            prop_assert!(no_output_lower(&classify(&a), &classify(&raised)));
        }

        #[test]
        fn each_raising_factor_never_lowers_any_output(a in any_answers()) {
            let c = classify(&a);
            let auto = ClassificationAnswers { autonomy: Autonomy::Autonomous, ..a };
            let gen = ClassificationAnswers { generative: true, ..a };
            let lay = ClassificationAnswers { users: IntendedUsers::Both, ..a };
            let sig = ClassificationAnswers { significance: a.significance.raised(), ..a };
            for hi in [auto, gen, lay, sig] {
                prop_assert!(no_output_lower(&c, &classify(&hi)), "{:?} -> {:?}", a, hi);
            }
        }

        #[test]
        fn classify_is_a_pure_function(a in any_answers()) {
            prop_assert_eq!(classify(&a), classify(&a));
        }
    }

    // --- Reasoning ---------------------------------------------------------------------------

    const VI_LETTERS: &str = "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ";

    #[test]
    fn every_reason_line_has_vietnamese_and_english_text() {
        for a in ClassificationAnswers::all() {
            let c = classify(&a);
            assert!(!c.reasoning.is_empty());
            let mut seen = std::collections::HashSet::new();
            for line in &c.reasoning {
                assert!(seen.insert(line.code), "{} twice for {a:?}", line.code);
                assert!(!line.vi.trim().is_empty(), "{} has no vi", line.code);
                assert!(!line.en.trim().is_empty(), "{} has no en", line.code);
                assert_ne!(line.vi, line.en, "{} is not translated", line.code);
                assert!(
                    line.vi
                        .to_lowercase()
                        .chars()
                        .any(|ch| VI_LETTERS.contains(ch)),
                    "{} vi text lacks Vietnamese diacritics: {}",
                    line.code,
                    line.vi
                );
                assert!(
                    !line.vi.contains("  ") && !line.en.contains("  "),
                    "{}",
                    line.code
                );
            }
        }
    }

    #[test]
    fn every_output_is_explained() {
        for a in ClassificationAnswers::all() {
            let cs = codes(&classify(&a));
            assert_eq!(cs.first(), Some(&ReasonCode::ImdrfMatrix));
            assert!(cs.contains(&ReasonCode::VnDeviceCrosswalk));
            assert!(cs.contains(&ReasonCode::EuMdrRule11));
            assert!(
                cs.contains(&ReasonCode::EuAiActHighRisk)
                    || cs.contains(&ReasonCode::EuAiActNotHighRisk)
            );
            assert!(cs.iter().any(|c| matches!(
                c,
                ReasonCode::EuAiActArt50Generative
                    | ReasonCode::EuAiActArt50Interaction
                    | ReasonCode::EuAiActArt50None
            )));
            assert!(cs.iter().any(|c| matches!(
                c,
                ReasonCode::VnAiHigh | ReasonCode::VnAiMedium | ReasonCode::VnAiLow
            )));
        }
    }

    #[test]
    fn every_reason_code_is_reachable() {
        let mut used = std::collections::HashSet::new();
        for a in ClassificationAnswers::all() {
            used.extend(codes(&classify(&a)));
        }
        for code in ReasonCode::ALL {
            // Rule 11 never gives class I for decision-support answers, so Art. 6(1) always
            // applies; the line exists for a reviewer-set class I and future tables.
            if *code == ReasonCode::EuAiActNotHighRisk || *code == ReasonCode::ReviewerOverride {
                continue;
            }
            assert!(used.contains(code), "{code} never produced");
        }
    }

    #[test]
    fn docs_state_every_reason_code_and_override_error() {
        let doc = include_str!("../../../docs/classification.md");
        for code in ReasonCode::ALL {
            assert!(
                doc.contains(&format!("`{code}`")),
                "docs/classification.md lacks `{code}`"
            );
        }
        let e = "nope".parse::<ReasonCode>().unwrap_err();
        for code in ReasonCode::ALL {
            assert!(
                e.expected.contains(code.as_str()),
                "{code} missing from the error text"
            );
        }
        for code in [
            "override.invalid_value",
            "override.stale_from",
            "override.no_change",
            "override.reason_missing",
            "override.reason_too_short",
            "override.reason_no_words",
        ] {
            assert!(
                doc.contains(&format!("`{code}`")),
                "docs/classification.md lacks `{code}`"
            );
        }
    }

    #[test]
    fn medium_tier_names_its_factors_in_both_languages() {
        let c = classify(&ClassificationAnswers {
            situation: Situation::NonSerious,
            autonomy: Autonomy::Autonomous,
            generative: true,
            users: IntendedUsers::Patients,
            ..base()
        });
        let line = c.reasoning.last().unwrap();
        assert_eq!(line.code, ReasonCode::VnAiMedium);
        assert!(
            line.en.contains(
                "but the system acts autonomously, it generates content and lay people use it \
                 directly."
            ),
            "{}",
            line.en
        );
        assert!(
            line.vi.contains(
                "nhưng hệ thống hoạt động tự chủ, hệ thống tạo sinh nội dung và người không có \
                 chuyên môn y tế sử dụng trực tiếp."
            ),
            "{}",
            line.vi
        );
        assert_eq!(join_list(&[], "and"), "");
        assert_eq!(join_list(&["a"], "and"), "a");
        assert_eq!(join_list(&["a", "b"], "và"), "a và b");
    }

    #[test]
    fn reasoning_quotes_the_cells_used() {
        let c = classify(&ClassificationAnswers {
            situation: Situation::Critical,
            significance: Significance::TreatOrDiagnose,
            ..base()
        });
        let first = &c.reasoning[0];
        assert_eq!(
            first.en,
            "IMDRF N12: a “critical” healthcare situation and information that is used to \
             “treat or diagnose” place the software in category IV."
        );
        assert_eq!(
            first.vi,
            "IMDRF N12: tình trạng chăm sóc sức khỏe “nguy kịch” và mức độ quan trọng của thông \
             tin “điều trị hoặc chẩn đoán” xếp phần mềm vào nhóm IV."
        );
    }

    // --- Codes, parsing, serde ---------------------------------------------------------------

    fn round_trip<T>(all: &[T])
    where
        T: Copy
            + PartialEq
            + fmt::Debug
            + fmt::Display
            + FromStr
            + Serialize
            + for<'de> Deserialize<'de>,
        T::Err: fmt::Debug,
    {
        for v in all {
            let code = v.to_string();
            assert_eq!(code.parse::<T>().unwrap(), *v);
            assert_eq!(code.to_uppercase().parse::<T>().unwrap(), *v);
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
        }
    }

    #[test]
    fn codes_round_trip_through_str_and_serde() {
        round_trip(Situation::ALL);
        round_trip(Significance::ALL);
        round_trip(Autonomy::ALL);
        round_trip(IntendedUsers::ALL);
        round_trip(ImdrfCategory::ALL);
        round_trip(VnDeviceClass::ALL);
        round_trip(VnAiTier::ALL);
        round_trip(EuMdrClass::ALL);
        round_trip(ReasonCode::ALL);
        round_trip(OverrideField::ALL);
    }

    #[test]
    fn aliases_and_spelling_variants_parse() {
        assert_eq!(
            "Non-serious".parse::<Situation>().unwrap(),
            Situation::NonSerious
        );
        assert_eq!(
            " CRITICAL ".parse::<Situation>().unwrap(),
            Situation::Critical
        );
        assert_eq!(
            "inform".parse::<Significance>().unwrap(),
            Significance::InformClinicalManagement
        );
        assert_eq!(
            "Treat or diagnose".parse::<Significance>().unwrap(),
            Significance::TreatOrDiagnose
        );
        assert_eq!(
            "human-in-the-loop".parse::<Autonomy>().unwrap(),
            Autonomy::ClinicianInTheLoop
        );
        assert_eq!(
            "lay people".parse::<IntendedUsers>().unwrap(),
            IntendedUsers::Patients
        );
        assert_eq!("IIa".parse::<EuMdrClass>().unwrap(), EuMdrClass::IIa);
        assert_eq!("IV".parse::<ImdrfCategory>().unwrap(), ImdrfCategory::IV);
        assert_eq!("D".parse::<VnDeviceClass>().unwrap(), VnDeviceClass::D);
        assert_eq!("trung bình".parse::<VnAiTier>().unwrap(), VnAiTier::Medium);
    }

    #[test]
    fn unknown_codes_give_clear_errors() {
        let e = "severe".parse::<Situation>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown situation 'severe': expected one of critical, serious, non_serious"
        );
        let e = "sometimes".parse::<Autonomy>().unwrap_err();
        assert!(
            e.to_string().contains("clinician_in_the_loop, autonomous"),
            "{e}"
        );
        let e = "".parse::<IntendedUsers>().unwrap_err();
        assert!(
            e.to_string().starts_with("unknown intended users ''"),
            "{e}"
        );
        assert!("V".parse::<ImdrfCategory>().is_err());
        assert!("E".parse::<VnDeviceClass>().is_err());
        assert!("IIc".parse::<EuMdrClass>().is_err());
    }

    #[test]
    fn answers_and_classification_serialise_in_snake_case() {
        let a = ClassificationAnswers {
            situation: Situation::NonSerious,
            significance: Significance::DriveClinicalManagement,
            autonomy: Autonomy::ClinicianInTheLoop,
            generative: true,
            users: IntendedUsers::HealthcareProfessionals,
        };
        let json = serde_json::to_value(a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "situation": "non_serious",
                "significance": "drive_clinical_management",
                "autonomy": "clinician_in_the_loop",
                "generative": true,
                "users": "healthcare_professionals",
            })
        );
        assert_eq!(
            serde_json::from_value::<ClassificationAnswers>(json).unwrap(),
            a
        );
        let c = classify(&a);
        let cj = serde_json::to_value(&c).unwrap();
        assert_eq!(cj["imdrf"], "i");
        assert_eq!(cj["vn_device_class"], "a");
        assert_eq!(cj["vn_ai_tier"], "medium");
        assert_eq!(cj["eu_mdr_class"], "iia");
        assert_eq!(cj["reasoning"][0]["code"], "imdrf.matrix");
        assert_eq!(serde_json::from_value::<Classification>(cj).unwrap(), c);
        // An unknown answer is refused, not defaulted.
        let bad = serde_json::json!({
            "situation": "severe", "significance": "inform_clinical_management",
            "autonomy": "autonomous", "generative": false, "users": "both",
        });
        assert!(serde_json::from_value::<ClassificationAnswers>(bad).is_err());
    }

    // --- Overrides ---------------------------------------------------------------------------

    fn current() -> Classification {
        // Critical × drive, clinician in the loop, professionals: III / C / high / IIb.
        classify(&ClassificationAnswers {
            situation: Situation::Critical,
            significance: Significance::DriveClinicalManagement,
            ..base()
        })
    }

    fn ov(field: OverrideField, from: &str, to: &str, reason: &str) -> Override {
        Override {
            field,
            from: from.to_string(),
            to: to.to_string(),
            reason: reason.to_string(),
        }
    }

    #[test]
    fn a_valid_override_is_accepted_and_normalised() {
        let c = current();
        let o = ov(
            OverrideField::VnDeviceClass,
            "C",
            "d",
            "  Sản phẩm dùng cho hồi sức sơ sinh, xếp loại D theo quy tắc phân loại.  ",
        );
        let checked = validate_override(&c, &o).unwrap();
        assert_eq!(checked.from, OverrideValue::VnDeviceClass(VnDeviceClass::C));
        assert_eq!(checked.to, OverrideValue::VnDeviceClass(VnDeviceClass::D));
        assert_eq!(
            checked.reason,
            "Sản phẩm dùng cho hồi sức sơ sinh, xếp loại D theo quy tắc phân loại."
        );
        // Lowering is allowed for a reviewer, with a reason; only the engine never lowers.
        let down = ov(
            OverrideField::VnAiTier,
            "high",
            "medium",
            "Ministry guidance lists it as medium",
        );
        assert!(validate_override(&c, &down).is_ok());
        let flag = ov(
            OverrideField::EuTransparencyObligation,
            "false",
            "true",
            "Chat interface shown to patients' relatives",
        );
        assert!(validate_override(&c, &flag).is_ok());
    }

    #[test]
    fn override_reason_is_required_and_long_enough() {
        let c = current();
        for reason in ["", "   ", "\n\t"] {
            let e =
                validate_override(&c, &ov(OverrideField::Imdrf, "iii", "iv", reason)).unwrap_err();
            assert_eq!(e, OverrideError::ReasonMissing);
            assert_eq!(e.code(), "override.reason_missing");
        }
        let e = validate_override(&c, &ov(OverrideField::Imdrf, "iii", "iv", "  too short "))
            .unwrap_err();
        assert_eq!(e, OverrideError::ReasonTooShort { min: 10, got: 9 });
        // Characters, not bytes: ten Vietnamese letters pass.
        assert!(
            validate_override(&c, &ov(OverrideField::Imdrf, "iii", "iv", "nguy hiểm!")).is_ok()
        );
        let e = validate_override(&c, &ov(OverrideField::Imdrf, "iii", "iv", "1234567890."))
            .unwrap_err();
        assert_eq!(e, OverrideError::ReasonNoWords);
    }

    #[test]
    fn override_must_change_something() {
        let c = current();
        let e = validate_override(
            &c,
            &ov(
                OverrideField::EuMdrClass,
                "iib",
                "IIb",
                "Reviewer agrees with the engine",
            ),
        )
        .unwrap_err();
        assert_eq!(
            e,
            OverrideError::NoChange {
                field: OverrideField::EuMdrClass,
                value: "iib"
            }
        );
        assert_eq!(e.code(), "override.no_change");
    }

    #[test]
    fn override_must_start_from_the_current_value() {
        let c = current();
        let e = validate_override(
            &c,
            &ov(
                OverrideField::Imdrf,
                "ii",
                "iv",
                "Seen on an older page version",
            ),
        )
        .unwrap_err();
        assert_eq!(
            e,
            OverrideError::StaleFrom {
                field: OverrideField::Imdrf,
                claimed: "ii",
                actual: "iii"
            }
        );
        assert_eq!(
            e.to_string(),
            "the override starts from imdrf = ii, but the classification now has iii"
        );
    }

    #[test]
    fn override_values_must_fit_the_field() {
        let c = current();
        let e = validate_override(
            &c,
            &ov(
                OverrideField::Imdrf,
                "iii",
                "d",
                "Wrong field for a letter class",
            ),
        )
        .unwrap_err();
        assert_eq!(e.code(), "override.invalid_value");
        assert_eq!(
            e.to_string(),
            "'d' is not a valid value for imdrf: expected one of i, ii, iii, iv"
        );
        let e = validate_override(
            &c,
            &ov(
                OverrideField::EuAiActHighRisk,
                "true",
                "maybe",
                "Not sure about this one",
            ),
        )
        .unwrap_err();
        assert!(e.to_string().contains("expected one of true, false"), "{e}");
    }

    #[test]
    fn every_field_can_be_read_and_overridden() {
        let c = current();
        for &field in OverrideField::ALL {
            let now = c.value_of(field);
            // Every value of the field other than the current one is a valid target.
            let targets: Vec<OverrideValue> = match field {
                OverrideField::Imdrf => ImdrfCategory::ALL
                    .iter()
                    .map(|v| OverrideValue::Imdrf(*v))
                    .collect(),
                OverrideField::VnDeviceClass => VnDeviceClass::ALL
                    .iter()
                    .map(|v| OverrideValue::VnDeviceClass(*v))
                    .collect(),
                OverrideField::VnAiTier => VnAiTier::ALL
                    .iter()
                    .map(|v| OverrideValue::VnAiTier(*v))
                    .collect(),
                OverrideField::EuMdrClass => EuMdrClass::ALL
                    .iter()
                    .map(|v| OverrideValue::EuMdrClass(*v))
                    .collect(),
                OverrideField::EuAiActHighRisk => vec![
                    OverrideValue::EuAiActHighRisk(false),
                    OverrideValue::EuAiActHighRisk(true),
                ],
                OverrideField::EuTransparencyObligation => vec![
                    OverrideValue::EuTransparencyObligation(false),
                    OverrideValue::EuTransparencyObligation(true),
                ],
            };
            for to in targets {
                let o = ov(
                    field,
                    now.as_str(),
                    to.as_str(),
                    "Reviewer decision after the panel meeting",
                );
                let r = validate_override(&c, &o);
                if to == now {
                    assert_eq!(r.unwrap_err().code(), "override.no_change");
                } else {
                    let checked = r.unwrap();
                    assert_eq!((checked.field, checked.from, checked.to), (field, now, to));
                }
            }
        }
    }

    #[test]
    fn overrides_serialise_as_plain_data() {
        let o = ov(
            OverrideField::VnAiTier,
            "high",
            "medium",
            "Ministry guidance lists it as medium",
        );
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["field"], "vn_ai_tier");
        assert_eq!(serde_json::from_value::<Override>(json).unwrap(), o);
        let checked = validate_override(&current(), &o).unwrap();
        let json = serde_json::to_value(&checked).unwrap();
        assert_eq!(
            json["to"],
            serde_json::json!({"field": "vn_ai_tier", "value": "medium"})
        );
        assert_eq!(
            serde_json::from_value::<CheckedOverride>(json).unwrap(),
            checked
        );
    }
}

/// The classification with a reviewer's checked override applied. Overrides
/// change one field; the reasoning gains a line saying so, in both languages.
pub fn apply_override(current: &Classification, o: &CheckedOverride) -> Classification {
    let mut c = current.clone();
    match o.to {
        OverrideValue::Imdrf(v) => c.imdrf = v,
        OverrideValue::VnDeviceClass(v) => c.vn_device_class = v,
        OverrideValue::VnAiTier(v) => c.vn_ai_tier = v,
        OverrideValue::EuMdrClass(v) => c.eu_mdr_class = v,
        OverrideValue::EuAiActHighRisk(v) => c.eu_ai_act_high_risk = v,
        OverrideValue::EuTransparencyObligation(v) => c.eu_transparency_obligation = v,
    }
    c.reasoning.push(ReasonLine {
        code: ReasonCode::ReviewerOverride,
        vi: format!(
            "Chuyên viên thẩm định điều chỉnh {}: {} → {}. Lý do: {}",
            o.field,
            o.from.as_str(),
            o.to.as_str(),
            o.reason
        ),
        en: format!(
            "A reviewer changed {}: {} → {}. Reason: {}",
            o.field,
            o.from.as_str(),
            o.to.as_str(),
            o.reason
        ),
    });
    c
}

#[cfg(test)]
mod override_tests {
    use super::*;

    #[test]
    fn override_changes_one_field_and_explains_itself() {
        let answers = ClassificationAnswers {
            situation: Situation::Serious,
            significance: Significance::DriveClinicalManagement,
            autonomy: Autonomy::ClinicianInTheLoop,
            generative: false,
            users: IntendedUsers::HealthcareProfessionals,
        };
        let current = classify(&answers);
        let o = Override {
            field: OverrideField::VnDeviceClass,
            from: current.vn_device_class.as_str().into(),
            to: "c".into(),
            reason: "Dùng cho trẻ em ở tuyến xã, cần thận trọng hơn".into(),
        };
        let checked = validate_override(&current, &o).expect("valid override");
        let after = apply_override(&current, &checked);
        assert_eq!(after.vn_device_class, VnDeviceClass::C);
        assert_eq!(after.imdrf, current.imdrf);
        let last = after.reasoning.last().expect("a reasoning line");
        assert_eq!(last.code, ReasonCode::ReviewerOverride);
        assert!(last.vi.contains("trẻ em") && last.en.contains("trẻ em"));
    }
}
