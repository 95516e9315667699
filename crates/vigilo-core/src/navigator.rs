//! The Navigator: readiness self-assessments, blueprints, training, and the readiness gate
//! for deployments of high-risk tools.
//!
//! The questions and the scoring are the checklist engine's ([`crate::checklist`]: the
//! `navigator-readiness` framework, [`Framework::score`]); this module adds what is the
//! Navigator's own: the blueprint catalogue (`frameworks/blueprints.toml`), who assesses
//! (a facility or a provincial health department) and the assessment's states, the training
//! vocabulary and its checks, and the rule that decides whether a facility is ready enough for
//! a high-risk tool. The rules are in `docs/navigator.md`; keep the two in step.
//!
//! Pure code: no I/O, no clock (today's date arrives as a parameter), no environment.

use crate::checklist::{
    is_valid_id, AnswerError, AnswerSet, Catalog, Framework, MaturityScore, ScoreError, Text,
    BLUEPRINT_IDS,
};
use crate::classification::{VnAiTier, VnDeviceClass};
use crate::Lang;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::str::FromStr;
use time::Date;

/// The readiness framework every new assessment starts on (its latest version).
pub const READINESS_FRAMEWORK: &str = "navigator-readiness";

/// The blueprint catalogue shipped with Vigilo.
pub const BLUEPRINTS_FILE: &str = include_str!("../frameworks/blueprints.toml");

/// Longest course title or provider name, in characters.
pub const MAX_NAME: usize = 200;
/// Most hours one course may last.
pub const MAX_HOURS: f64 = 500.0;
/// Most people one session may train (all roles together).
pub const MAX_TRAINED: u32 = 10_000;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What is wrong with Navigator input, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NavigatorError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{field}: unknown value '{given}': expected one of {expected}")]
    UnknownValue {
        field: &'static str,
        given: String,
        expected: String,
    },
    #[error("answers: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Answers(Vec<AnswerError>),
    #[error("score: {0}")]
    Score(#[from] ScoreError),
    #[error("the {READINESS_FRAMEWORK} framework is not in this build")]
    NoReadinessFramework,
    #[error("blueprint catalogue: {0}")]
    Blueprints(String),
}

impl NavigatorError {
    /// The field at fault, for forms and problem details.
    pub fn field(&self) -> &'static str {
        match self {
            NavigatorError::Invalid { field, .. } | NavigatorError::UnknownValue { field, .. } => {
                field
            }
            NavigatorError::Answers(_) | NavigatorError::Score(_) => "answers",
            NavigatorError::NoReadinessFramework => "framework_id",
            NavigatorError::Blueprints(_) => "blueprints",
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> NavigatorError {
    NavigatorError::Invalid {
        field,
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Vocabularies
// ---------------------------------------------------------------------------------------------

macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident, $field:literal { $($v:ident = $code:literal, $vi:literal, $en:literal;)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($v,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            pub fn code(self) -> &'static str {
                match self { $($name::$v => $code,)* }
            }
            pub fn label(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $(($name::$v, Lang::Vi) => $vi, ($name::$v, Lang::En) => $en,)*
                }
            }
            pub fn codes() -> String {
                Self::ALL.iter().map(|v| v.code()).collect::<Vec<_>>().join(", ")
            }
        }

        impl FromStr for $name {
            type Err = NavigatorError;
            fn from_str(s: &str) -> Result<Self, NavigatorError> {
                let t = s.trim();
                Self::ALL.iter().copied().find(|v| v.code() == t).ok_or_else(|| {
                    NavigatorError::UnknownValue {
                        field: $field,
                        given: t.chars().take(60).collect(),
                        expected: Self::codes(),
                    }
                })
            }
        }
    };
}

vocabulary! {
    /// Who answers an assessment.
    SubjectKind, "subject_kind" {
        Facility = "facility", "Cơ sở y tế", "Health facility";
        Province = "province", "Sở Y tế tỉnh, thành phố", "Provincial health department";
    }
}

vocabulary! {
    /// The kind of a health facility, for the readiness map (the 2025 two-level government:
    /// provinces and communes; district hospitals became regional health centres).
    FacilityType, "facility_type" {
        CentralHospital = "central_hospital", "Bệnh viện trung ương", "Central hospital";
        ProvincialHospital = "provincial_hospital", "Bệnh viện tỉnh", "Provincial hospital";
        RegionalHealthCentre = "regional_health_centre", "Trung tâm y tế khu vực", "Regional health centre";
        CommuneStation = "commune_station", "Trạm y tế xã, phường", "Commune or ward health station";
        PrivateFacility = "private_facility", "Cơ sở y tế tư nhân", "Private facility";
        ProvincialDepartment = "provincial_department", "Sở Y tế", "Provincial health department";
        Other = "other", "Khác", "Other";
        Unspecified = "unspecified", "Chưa khai báo", "Not declared";
    }
}

vocabulary! {
    /// An assessment's state: a draft is saved as often as needed and never lost; a submitted
    /// assessment is frozen and counts for the readiness map and the deployment gate.
    AssessmentStatus, "status" {
        Draft = "draft", "Bản nháp", "Draft";
        Submitted = "submitted", "Đã nộp", "Submitted";
    }
}

vocabulary! {
    /// Whom a session trained, counted by role (numbers only, never names).
    StaffRole, "role" {
        Doctor = "doctor", "Bác sĩ", "Doctor";
        Nurse = "nurse", "Điều dưỡng", "Nurse";
        Midwife = "midwife", "Hộ sinh", "Midwife";
        Technician = "technician", "Kỹ thuật viên", "Technician";
        Pharmacist = "pharmacist", "Dược sĩ", "Pharmacist";
        CommuneHealthWorker = "commune_health_worker", "Nhân viên y tế xã", "Commune health worker";
        Manager = "manager", "Cán bộ quản lý", "Manager";
        ItStaff = "it_staff", "Cán bộ công nghệ thông tin", "IT staff";
        Other = "other", "Khác", "Other";
        Unspecified = "unspecified", "Không phân loại", "Not broken down";
    }
}

// ---------------------------------------------------------------------------------------------
// Blueprints
// ---------------------------------------------------------------------------------------------

/// A template that closes a readiness gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blueprint {
    pub id: String,
    pub title: Text,
    /// What the template covers.
    pub covers: Text,
    /// The public guidance it draws on.
    pub sources: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlueprints {
    blueprints: Vec<RawBlueprint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlueprint {
    id: String,
    title: Text,
    covers: Text,
    #[serde(default)]
    sources: Vec<String>,
}

/// Parses a blueprint catalogue: every id valid, unique, known to the checklist engine
/// ([`BLUEPRINT_IDS`]), and every one of those ids described; both languages everywhere.
pub fn parse_blueprints(source: &str) -> Result<Vec<Blueprint>, NavigatorError> {
    let raw: RawBlueprints =
        basic_toml::from_str(source).map_err(|e| NavigatorError::Blueprints(e.to_string()))?;
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for b in raw.blueprints {
        if !is_valid_id(&b.id) || !BLUEPRINT_IDS.contains(&b.id.as_str()) {
            problems.push(format!(
                "'{}' is not one of {}",
                b.id,
                BLUEPRINT_IDS.join(", ")
            ));
        }
        if !seen.insert(b.id.clone()) {
            problems.push(format!("'{}' appears twice", b.id));
        }
        for (what, t) in [("title", &b.title), ("covers", &b.covers)] {
            if t.vi.trim().is_empty() || t.en.trim().is_empty() {
                problems.push(format!("'{}': {what} needs vi and en", b.id));
            }
        }
        out.push(Blueprint {
            id: b.id,
            title: b.title,
            covers: b.covers,
            sources: b.sources,
        });
    }
    for id in BLUEPRINT_IDS {
        if !seen.contains(*id) {
            problems.push(format!("'{id}' is not described"));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(NavigatorError::Blueprints(problems.join("; ")))
    }
}

/// The shipped blueprint catalogue.
pub fn builtin_blueprints() -> Result<Vec<Blueprint>, NavigatorError> {
    parse_blueprints(BLUEPRINTS_FILE)
}

// ---------------------------------------------------------------------------------------------
// Assessments
// ---------------------------------------------------------------------------------------------

/// An assessment's answers checked against their framework version, and the levels computed
/// from them by the checklist engine's rule (the lowest item level per domain, the lowest
/// domain overall; `docs/checklists.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluated {
    /// The answers as they will be stored (trimmed, every item known, values on the scale).
    pub answers: AnswerSet,
    /// Levels per domain and overall; gaps against the scale's top level.
    pub score: MaturityScore,
    pub answered: usize,
}

/// Finds the framework version an answer set names and evaluates it. Answers to unknown
/// items, unknown frameworks or versions, and levels outside the scale are refused with every
/// problem named; open items are fine (a draft).
pub fn evaluate(catalog: &Catalog, answers: &AnswerSet) -> Result<Evaluated, NavigatorError> {
    let checked = catalog.check(answers).map_err(NavigatorError::Answers)?;
    let framework = catalog
        .get(&answers.framework_id, answers.framework_version)
        .ok_or(NavigatorError::NoReadinessFramework)?;
    evaluate_checked(framework, checked)
}

/// Evaluates answers against one framework version (which must be a maturity framework).
pub fn evaluate_in(
    framework: &Framework,
    answers: &AnswerSet,
) -> Result<Evaluated, NavigatorError> {
    let checked = framework.check(answers).map_err(NavigatorError::Answers)?;
    evaluate_checked(framework, checked)
}

fn evaluate_checked(
    framework: &Framework,
    checked: crate::checklist::CheckedAnswers,
) -> Result<Evaluated, NavigatorError> {
    let top = framework
        .scale()
        .top_level()
        .ok_or(ScoreError::NotAMaturityFramework)?;
    let score = framework.score(&checked, top)?;
    let answered = checked.iter().filter(|(_, a)| a.value.is_some()).count();
    Ok(Evaluated {
        answers: checked.to_answer_set(),
        score,
        answered,
    })
}

/// Gaps against a target level (the next level up, or the regulator's minimum), each with
/// its blueprint: the items below `target`, lowest first.
pub fn gaps_below(score: &MaturityScore, target: u8) -> Vec<&crate::checklist::Gap> {
    score
        .gaps
        .iter()
        .filter(|g| g.level.unwrap_or(0) < target)
        .collect()
}

/// The level a facility should aim at next: one above its overall level, capped at the top.
pub fn next_target(score: &MaturityScore) -> u8 {
    score.overall.saturating_add(1).min(score.top)
}

// ---------------------------------------------------------------------------------------------
// The readiness gate
// ---------------------------------------------------------------------------------------------

/// A tool is high-risk for the gate when the AI Law tier is high; while the tier is not known,
/// when the device class is C or D. A tool with neither known is not gated (it cannot be
/// licensed unclassified anyway).
pub fn is_high_risk(tier: Option<VnAiTier>, class: Option<VnDeviceClass>) -> bool {
    match tier {
        Some(t) => t == VnAiTier::High,
        None => matches!(class, Some(VnDeviceClass::C | VnDeviceClass::D)),
    }
}

/// The regulator's minimum readiness level for deployments of high-risk tools; 0 means no
/// minimum. At most the readiness scale's top level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessRule {
    pub min_level_high_risk: u8,
}

impl ReadinessRule {
    pub fn new(min_level_high_risk: i64, top: u8) -> Result<ReadinessRule, NavigatorError> {
        if !(0..=i64::from(top)).contains(&min_level_high_risk) {
            return Err(invalid(
                "min_level_high_risk",
                format!("{min_level_high_risk} is out of range 0..={top}"),
            ));
        }
        Ok(ReadinessRule {
            min_level_high_risk: min_level_high_risk as u8,
        })
    }
}

/// Why a deployment is refused by the gate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateRefusal {
    #[error("a high-risk tool needs a submitted readiness self-assessment at level {min} or above; this facility has none")]
    NoAssessment { min: u8 },
    #[error("a high-risk tool needs readiness level {min} or above; this facility's latest submitted self-assessment is at level {level}")]
    BelowMinimum { level: u8, min: u8 },
}

/// The gate: `latest_level` is the overall level of the facility's latest submitted
/// assessment (drafts do not count). Tools that are not high-risk always pass.
pub fn check_gate(
    rule: ReadinessRule,
    high_risk: bool,
    latest_level: Option<u8>,
) -> Result<(), GateRefusal> {
    let min = rule.min_level_high_risk;
    if !high_risk || min == 0 {
        return Ok(());
    }
    match latest_level {
        None => Err(GateRefusal::NoAssessment { min }),
        Some(level) if level < min => Err(GateRefusal::BelowMinimum { level, min }),
        Some(_) => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------

/// A course in the training catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCourse {
    pub title: String,
    /// Whom it is for (at least one role).
    pub audience: Vec<StaffRole>,
    pub hours: f64,
    pub provider: String,
    /// The AI tool (product id) the course trains on, when it is tool-specific: sessions of
    /// such a course count as training on that tool for the deployment check.
    #[serde(default)]
    pub product_id: Option<String>,
}

fn name(field: &'static str, s: &str) -> Result<String, NavigatorError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if t.chars().count() > MAX_NAME {
        return Err(invalid(field, format!("at most {MAX_NAME} characters")));
    }
    Ok(t.to_string())
}

impl NewCourse {
    /// Trims and checks; returns the course as it will be stored.
    pub fn validate(&self) -> Result<NewCourse, NavigatorError> {
        let title = name("title", &self.title)?;
        let provider = name("provider", &self.provider)?;
        if self.audience.is_empty() {
            return Err(invalid("audience", "name at least one role"));
        }
        let audience: BTreeSet<StaffRole> = self.audience.iter().copied().collect();
        if !self.hours.is_finite() || self.hours <= 0.0 || self.hours > MAX_HOURS {
            return Err(invalid(
                "hours",
                format!("must be more than 0 and at most {MAX_HOURS}"),
            ));
        }
        let product_id = self
            .product_id
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        Ok(NewCourse {
            title,
            audience: audience.into_iter().collect(),
            hours: self.hours,
            provider,
            product_id,
        })
    }
}

/// Audience as stored: role codes joined by commas.
pub fn audience_code(audience: &[StaffRole]) -> String {
    audience
        .iter()
        .map(|r| r.code())
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads a stored audience; unknown codes are dropped (a later version's role).
pub fn parse_audience(s: &str) -> Vec<StaffRole> {
    s.split(',').filter_map(|c| c.parse().ok()).collect()
}

/// A training session held: at a facility, or by a provincial health department for the
/// province; how many people were trained, by role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSession {
    pub course_id: String,
    /// `None` for a province-wide session.
    #[serde(default)]
    pub facility_id: Option<String>,
    /// The province, for a province-wide session (a facility's own province otherwise).
    #[serde(default)]
    pub province_code: Option<String>,
    #[serde(with = "crate::appraisal::iso_date")]
    pub held_on: Date,
    pub trained: Vec<RoleCount>,
}

/// How many people of one role a session trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleCount {
    pub role: StaffRole,
    pub count: u32,
}

impl NewSession {
    /// Checks the session; returns the total trained. `today` is the caller's clock.
    pub fn validate(&self, today: Date) -> Result<u32, NavigatorError> {
        if self.course_id.trim().is_empty() {
            return Err(invalid("course_id", "choose a course"));
        }
        let facility = self
            .facility_id
            .as_deref()
            .is_some_and(|f| !f.trim().is_empty());
        let province = self
            .province_code
            .as_deref()
            .is_some_and(|p| !p.trim().is_empty());
        if !facility && !province {
            return Err(invalid(
                "facility_id",
                "name the facility, or the province for a province-wide session",
            ));
        }
        if self.held_on > today {
            return Err(invalid("held_on", "the session date is in the future"));
        }
        if self.trained.is_empty() {
            return Err(invalid(
                "trained",
                "give the number trained for at least one role",
            ));
        }
        let mut roles = BTreeSet::new();
        let mut total: u32 = 0;
        for c in &self.trained {
            if !roles.insert(c.role) {
                return Err(invalid(
                    "trained",
                    format!("{} is counted twice", c.role.code()),
                ));
            }
            if c.count == 0 {
                return Err(invalid(
                    "trained",
                    format!("the number of {} trained must be at least 1", c.role.code()),
                ));
            }
            total = total.saturating_add(c.count);
        }
        if total > MAX_TRAINED {
            return Err(invalid(
                "trained",
                format!("at most {MAX_TRAINED} people per session"),
            ));
        }
        Ok(total)
    }
}

/// Training coverage: the share of deployed (facility, tool) pairs whose facility has staff
/// trained on the tool, as a whole percentage rounded down (so 99.6 % is not shown as 100 %).
pub fn coverage_percent(trained: u64, total: u64) -> Option<u64> {
    (trained.min(total) * 100).checked_div(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn vocabularies_round_trip_and_reject_unknown_codes() {
        for r in StaffRole::ALL {
            assert_eq!(r.code().parse::<StaffRole>().ok(), Some(*r));
            assert!(!r.label(Lang::Vi).is_empty() && !r.label(Lang::En).is_empty());
        }
        for t in FacilityType::ALL {
            assert_eq!(t.code().parse::<FacilityType>().ok(), Some(*t));
        }
        for s in AssessmentStatus::ALL {
            assert_eq!(s.code().parse::<AssessmentStatus>().ok(), Some(*s));
        }
        let e = "hospital".parse::<FacilityType>().unwrap_err();
        assert_eq!(e.field(), "facility_type");
        assert!(e.to_string().contains("commune_station"), "{e}");
    }

    #[test]
    fn the_gate_only_holds_back_high_risk_tools_below_the_minimum() {
        let rule = ReadinessRule::new(2, 4).unwrap();
        assert_eq!(check_gate(rule, false, None), Ok(()));
        assert_eq!(
            check_gate(rule, true, None),
            Err(GateRefusal::NoAssessment { min: 2 })
        );
        assert_eq!(
            check_gate(rule, true, Some(1)),
            Err(GateRefusal::BelowMinimum { level: 1, min: 2 })
        );
        assert_eq!(check_gate(rule, true, Some(2)), Ok(()));
        assert_eq!(check_gate(rule, true, Some(4)), Ok(()));
        assert_eq!(check_gate(ReadinessRule::default(), true, None), Ok(()));
        assert!(ReadinessRule::new(5, 4).is_err());
        assert!(ReadinessRule::new(-1, 4).is_err());
    }

    #[test]
    fn high_risk_is_the_ai_law_tier_then_the_device_class() {
        assert!(is_high_risk(Some(VnAiTier::High), Some(VnDeviceClass::A)));
        assert!(!is_high_risk(
            Some(VnAiTier::Medium),
            Some(VnDeviceClass::D)
        ));
        assert!(is_high_risk(None, Some(VnDeviceClass::C)));
        assert!(is_high_risk(None, Some(VnDeviceClass::D)));
        assert!(!is_high_risk(None, Some(VnDeviceClass::B)));
        assert!(!is_high_risk(None, None));
    }

    #[test]
    fn courses_are_checked_and_trimmed() {
        let ok = NewCourse {
            title: "  AI basics ".into(),
            audience: vec![StaffRole::Nurse, StaffRole::Doctor, StaffRole::Nurse],
            hours: 4.5,
            provider: "NHIC".into(),
            product_id: Some(" ".into()),
        };
        let v = ok.validate().unwrap();
        assert_eq!(v.title, "AI basics");
        assert_eq!(v.audience, vec![StaffRole::Doctor, StaffRole::Nurse]);
        assert_eq!(v.product_id, None);
        assert_eq!(audience_code(&v.audience), "doctor,nurse");
        assert_eq!(parse_audience("doctor,nurse,astronaut"), v.audience);
        for (bad, field) in [
            (
                NewCourse {
                    title: "".into(),
                    ..ok.clone()
                },
                "title",
            ),
            (
                NewCourse {
                    provider: "x".repeat(201),
                    ..ok.clone()
                },
                "provider",
            ),
            (
                NewCourse {
                    audience: vec![],
                    ..ok.clone()
                },
                "audience",
            ),
            (
                NewCourse {
                    hours: 0.0,
                    ..ok.clone()
                },
                "hours",
            ),
            (
                NewCourse {
                    hours: f64::NAN,
                    ..ok.clone()
                },
                "hours",
            ),
            (
                NewCourse {
                    hours: 501.0,
                    ..ok.clone()
                },
                "hours",
            ),
        ] {
            assert_eq!(bad.validate().unwrap_err().field(), field);
        }
    }

    #[test]
    fn sessions_are_checked() {
        let today = date!(2026 - 03 - 01);
        let ok = NewSession {
            course_id: "c1".into(),
            facility_id: Some("f1".into()),
            province_code: None,
            held_on: date!(2026 - 02 - 20),
            trained: vec![
                RoleCount {
                    role: StaffRole::Doctor,
                    count: 3,
                },
                RoleCount {
                    role: StaffRole::Nurse,
                    count: 5,
                },
            ],
        };
        assert_eq!(ok.validate(today), Ok(8));
        let province = NewSession {
            facility_id: None,
            province_code: Some("27".into()),
            ..ok.clone()
        };
        assert_eq!(province.validate(today), Ok(8));
        let cases = [
            (
                NewSession {
                    facility_id: None,
                    ..ok.clone()
                },
                "facility_id",
            ),
            (
                NewSession {
                    held_on: date!(2026 - 03 - 02),
                    ..ok.clone()
                },
                "held_on",
            ),
            (
                NewSession {
                    trained: vec![],
                    ..ok.clone()
                },
                "trained",
            ),
            (
                NewSession {
                    trained: vec![
                        RoleCount {
                            role: StaffRole::Doctor,
                            count: 1,
                        },
                        RoleCount {
                            role: StaffRole::Doctor,
                            count: 2,
                        },
                    ],
                    ..ok.clone()
                },
                "trained",
            ),
            (
                NewSession {
                    trained: vec![RoleCount {
                        role: StaffRole::Doctor,
                        count: 0,
                    }],
                    ..ok.clone()
                },
                "trained",
            ),
            (
                NewSession {
                    trained: vec![RoleCount {
                        role: StaffRole::Other,
                        count: 10_001,
                    }],
                    ..ok.clone()
                },
                "trained",
            ),
            (
                NewSession {
                    course_id: " ".into(),
                    ..ok.clone()
                },
                "course_id",
            ),
        ];
        for (bad, field) in cases {
            assert_eq!(bad.validate(today).unwrap_err().field(), field, "{bad:?}");
        }
    }

    #[test]
    fn coverage_rounds_down_and_is_absent_without_deployments() {
        assert_eq!(coverage_percent(0, 0), None);
        assert_eq!(coverage_percent(199, 200), Some(99));
        assert_eq!(coverage_percent(200, 200), Some(100));
        assert_eq!(coverage_percent(300, 200), Some(100));
    }
}
