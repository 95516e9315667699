//! The early-warning message exchanged between GRN members: shaped after the IMDRF NCAR
//! exchange report form and the common data set for adverse event data exchange between
//! IMDRF regulators (IMDRF/AET WG/N85 FINAL:2024), with Vigilo's AI fields. Field sources
//! are listed in `docs/federation.md`.
//!
//! [`compose_early_warning`] takes only structured fields and text a reviewer wrote for
//! this message: there is no field through which an incident's narrative could travel.
//! Counts pass through small-cell suppression (`suppression::suppress_row`, so the total
//! cannot give a hidden cell away), and the reviewer's text is checked by the scrubber
//! (`scrub::find_identifiers`): a name, phone, CCCD or other identifier in it stops the
//! composition with the field and the place, for the reviewer to rewrite.

use super::identity::CountryCode;
use crate::directory::{AiKind, InputModality};
use crate::incident::Seriousness;
use crate::scrub::{find_identifiers, IdentifierKind};
use crate::suppression::{suppress_row, Cell, SuppressionError, SuppressionRule};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Date;

/// The payload schema this code writes and reads.
pub const WARNING_SCHEMA: &str = "vigilo-early-warning/1";
const MAX_TEXT: usize = 4000;
const MAX_SHORT: usize = 200;
const MAX_LIST: usize = 50;

/// Where the exchange stands for this issue (NCAR: initial, follow-up, final).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStage {
    Initial,
    FollowUp,
    Final,
}

/// What the sending regulator has done (NCAR "actions taken"; Vigilo's notice kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    InvestigationOpened,
    ManufacturerContacted,
    FieldSafetyNotice,
    Suspension,
    LicenceRevoked,
    UseRestricted,
    Other,
}

/// One action taken, with its date and optional reference (e.g. `TBAT-2026-000004`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionTaken {
    pub kind: ActionKind,
    #[serde(with = "crate::appraisal::iso_date")]
    pub on: Date,
    pub reference: Option<String>,
}

/// The product concerned (N85 device identification, with Vigilo's AI fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningProduct {
    pub name: String,
    pub manufacturer: String,
    /// Software versions concerned.
    pub versions: Vec<String>,
    pub input_modality: InputModality,
    pub ai_kind: Option<AiKind>,
}

/// Counts by outcome over the period, suppressed for small cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningCounts {
    #[serde(with = "crate::appraisal::iso_date")]
    pub period_from: Date,
    #[serde(with = "crate::appraisal::iso_date")]
    pub period_to: Date,
    pub death: Cell,
    pub serious_injury: Cell,
    pub other_injury: Cell,
    pub malfunction: Cell,
    pub near_miss: Cell,
    pub total: Cell,
    /// The threshold below which counts are shown as `<threshold`.
    pub suppression_threshold: u64,
}

/// The early-warning payload (the `payload` of an `early_warning` item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyWarning {
    pub schema: String,
    /// The sending regulator's own reference for the issue.
    pub reference: String,
    pub stage: ReportStage,
    pub product: WarningProduct,
    /// IMDRF adverse-event terminology codes (annexes A to G).
    pub imdrf_codes: Vec<String>,
    /// Vigilo's AI-specific codes (`AI01`…).
    pub ai_codes: Vec<String>,
    /// The most serious outcome among the reports.
    pub seriousness: Seriousness,
    pub counts: WarningCounts,
    /// The reviewer's summary of the issue, written for this message.
    pub summary: String,
    /// The reviewer's recommendation to other regulators.
    pub recommendation: String,
    pub actions_taken: Vec<ActionTaken>,
    /// Countries where the product is known to be in use or distributed.
    pub countries_concerned: Vec<CountryCode>,
}

impl EarlyWarning {
    /// The payload as JSON for an item.
    pub fn to_payload(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads a received payload strictly (unknown fields and other schemas refused).
    pub fn from_payload(payload: &Value) -> Result<EarlyWarning, ComposeError> {
        let w: EarlyWarning = serde_json::from_value(payload.clone())
            .map_err(|e| ComposeError::Payload(e.to_string().chars().take(300).collect()))?;
        if w.schema != WARNING_SCHEMA {
            return Err(ComposeError::Payload(format!(
                "unsupported schema '{}'",
                w.schema.chars().take(60).collect::<String>()
            )));
        }
        Ok(w)
    }
}

/// Reports counted by outcome, in `Seriousness::ALL` order; built from the reports'
/// seriousness only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeriousnessCounts(pub [u64; 5]);

impl SeriousnessCounts {
    pub fn tally(outcomes: impl IntoIterator<Item = Seriousness>) -> SeriousnessCounts {
        let mut counts = [0u64; 5];
        for s in outcomes {
            if let Some(i) = Seriousness::ALL.iter().position(|x| *x == s) {
                counts[i] += 1;
            }
        }
        SeriousnessCounts(counts)
    }

    /// The most serious outcome with at least one report.
    pub fn worst(&self) -> Option<Seriousness> {
        Seriousness::ALL
            .iter()
            .zip(self.0)
            .find(|(_, n)| *n > 0)
            .map(|(s, _)| *s)
    }
}

/// What a reviewer fills in to compose a warning: structured fields and their own text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningInput {
    pub reference: String,
    pub stage: ReportStage,
    pub product: WarningProduct,
    pub imdrf_codes: Vec<String>,
    pub ai_codes: Vec<String>,
    pub counts: SeriousnessCounts,
    pub period_from: Date,
    pub period_to: Date,
    pub summary: String,
    pub recommendation: String,
    pub actions_taken: Vec<ActionTaken>,
    pub countries_concerned: Vec<CountryCode>,
}

/// Why a warning could not be composed (or a received payload read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("{field} contains what looks like a {kind} at characters {start}..{end}; rewrite it without personal data")]
    Identifier {
        field: &'static str,
        kind: IdentifierKind,
        /// Character offsets (not bytes) in that field.
        start: usize,
        end: usize,
    },
    #[error("{0} must be 1 to 60 letters, digits, '-', '/', '.' or '_'")]
    Reference(&'static str),
    #[error("{0} is required")]
    Required(&'static str),
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{0} lists too many entries")]
    TooMany(&'static str),
    #[error("'{0}' is not an IMDRF code (a letter A to G and 2 to 8 digits)")]
    ImdrfCode(String),
    #[error("'{0}' is not a Vigilo AI code (AI and two digits)")]
    AiCode(String),
    #[error("the period ends before it starts")]
    Period,
    #[error("there are no reports to warn about")]
    NoReports,
    #[error("counts cannot be suppressed: {0}")]
    Suppression(#[from] SuppressionError),
    #[error("the early-warning payload is malformed: {0}")]
    Payload(String),
}

fn check_identifiers(field: &'static str, text: &str) -> Result<(), ComposeError> {
    if let Some(f) = find_identifiers(text).first() {
        let chars = |byte: usize| text.get(..byte).map_or(0, |s| s.chars().count());
        return Err(ComposeError::Identifier {
            field,
            kind: f.kind,
            start: chars(f.start),
            end: chars(f.end),
        });
    }
    Ok(())
}

fn check_text(
    field: &'static str,
    text: &str,
    max: usize,
    required: bool,
) -> Result<String, ComposeError> {
    let t = text.trim();
    if required && t.is_empty() {
        return Err(ComposeError::Required(field));
    }
    if t.chars().count() > max {
        return Err(ComposeError::TooLong { field, max });
    }
    Ok(t.to_owned())
}

/// References are codes the systems issue (`VN-EW-2026-000004`, `TBAT-2026-000004`), not
/// prose: letters, digits and `- / . _`, at most 60 characters, so nothing else fits in.
fn check_reference(field: &'static str, r: &str) -> Result<String, ComposeError> {
    if r.is_empty() {
        return Err(ComposeError::Required(field));
    }
    if r.len() > 60
        || !r
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/._".contains(&b))
    {
        return Err(ComposeError::Reference(field));
    }
    Ok(r.to_owned())
}

fn is_imdrf_code(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() >= 3
        && b.len() <= 9
        && (b'A'..=b'G').contains(&b[0])
        && b[1..].iter().all(u8::is_ascii_digit)
}

fn is_ai_code(c: &str) -> bool {
    c.len() == 4 && c.starts_with("AI") && c[2..].bytes().all(|b| b.is_ascii_digit())
}

/// Composes the early-warning payload from structured fields and the reviewer's text.
pub fn compose_early_warning(
    input: &WarningInput,
    rule: SuppressionRule,
) -> Result<EarlyWarning, ComposeError> {
    let summary = check_text("summary", &input.summary, MAX_TEXT, true)?;
    let recommendation = check_text("recommendation", &input.recommendation, MAX_TEXT, true)?;
    let reference = check_reference("reference", &input.reference)?;
    let name = check_text("product name", &input.product.name, MAX_SHORT, true)?;
    let manufacturer = check_text("manufacturer", &input.product.manufacturer, MAX_SHORT, true)?;
    // Reviewer-written text: no identifiers may leave.
    check_identifiers("summary", &summary)?;
    check_identifiers("recommendation", &recommendation)?;
    for a in &input.actions_taken {
        if let Some(r) = &a.reference {
            check_reference("action reference", r)?;
        }
    }
    if input.product.versions.len() > MAX_LIST {
        return Err(ComposeError::TooMany("versions"));
    }
    let versions = input
        .product
        .versions
        .iter()
        .map(|v| check_text("version", v, MAX_SHORT, true))
        .collect::<Result<Vec<_>, _>>()?;
    if input.imdrf_codes.len() > MAX_LIST || input.ai_codes.len() > MAX_LIST {
        return Err(ComposeError::TooMany("codes"));
    }
    if input.actions_taken.len() > MAX_LIST {
        return Err(ComposeError::TooMany("actions taken"));
    }
    let mut imdrf_codes = input.imdrf_codes.clone();
    if let Some(bad) = imdrf_codes.iter().find(|c| !is_imdrf_code(c)) {
        return Err(ComposeError::ImdrfCode(bad.chars().take(20).collect()));
    }
    imdrf_codes.sort();
    imdrf_codes.dedup();
    let mut ai_codes = input.ai_codes.clone();
    if let Some(bad) = ai_codes.iter().find(|c| !is_ai_code(c)) {
        return Err(ComposeError::AiCode(bad.chars().take(20).collect()));
    }
    ai_codes.sort();
    ai_codes.dedup();
    if input.period_to < input.period_from {
        return Err(ComposeError::Period);
    }
    let seriousness = input.counts.worst().ok_or(ComposeError::NoReports)?;
    let row = suppress_row(&input.counts.0, rule)?;
    let cell = |i: usize| row.cells.get(i).copied().unwrap_or(Cell::Hidden);
    let mut countries = input.countries_concerned.clone();
    countries.sort();
    countries.dedup();
    if countries.len() > 250 {
        return Err(ComposeError::TooMany("countries concerned"));
    }
    Ok(EarlyWarning {
        schema: WARNING_SCHEMA.to_owned(),
        reference,
        stage: input.stage,
        product: WarningProduct {
            name,
            manufacturer,
            versions,
            input_modality: input.product.input_modality,
            ai_kind: input.product.ai_kind,
        },
        imdrf_codes,
        ai_codes,
        seriousness,
        counts: WarningCounts {
            period_from: input.period_from,
            period_to: input.period_to,
            death: cell(0),
            serious_injury: cell(1),
            other_injury: cell(2),
            malfunction: cell(3),
            near_miss: cell(4),
            total: row.total,
            suppression_threshold: rule.threshold,
        },
        summary,
        recommendation,
        actions_taken: input.actions_taken.clone(),
        countries_concerned: countries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::identity::NodeKeys;
    use crate::federation::item::{sign_item, Audience, ItemDraft, ItemType};
    use crate::incident::{IncidentInput, ReporterKind};
    use time::macros::{date, datetime};

    fn c(s: &str) -> CountryCode {
        s.parse().unwrap()
    }

    /// Incident reports as the store holds them before scrubbing, with identifiers planted.
    fn incidents() -> Vec<IncidentInput> {
        let narratives = [
            (
                Seriousness::SeriousInjury,
                "Bệnh nhân Nguyễn Văn An, CCCD 001185012345, SĐT 0912 345 678: trợ lý AI khuyên \
                 uống paracetamol mỗi 2 giờ, quá liều tối đa.",
            ),
            (
                Seriousness::OtherInjury,
                "Patient John Smith, phone 0987 654 321, was told to take a double dose.",
            ),
            (
                Seriousness::Malfunction,
                "Chị Trần Thị Lan (CCCD 079190001234) báo ứng dụng đưa ra liều sai nhưng không ai dùng.",
            ),
        ];
        narratives
            .into_iter()
            .map(|(seriousness, narrative)| IncidentInput {
                reporter_kind: ReporterKind::HealthWorker,
                product_id: Some("p-1".into()),
                version_id: None,
                product_text: None,
                facility_id: None,
                province_code: Some("01".into()),
                occurred_on: Some(date!(2026 - 11 - 20)),
                aware_on: None,
                seriousness,
                public_health_threat: false,
                narrative: narrative.into(),
                patient_sex: None,
                patient_age_band: None,
            })
            .collect()
    }

    fn input(reports: &[IncidentInput]) -> WarningInput {
        WarningInput {
            reference: "VN-EW-2026-000004".into(),
            stage: ReportStage::Initial,
            product: WarningProduct {
                name: "TrợLý Sức Khỏe".into(),
                manufacturer: "Công ty ABC".into(),
                versions: vec!["2.1.0".into(), "2.1.1".into()],
                input_modality: InputModality::Text,
                ai_kind: Some(AiKind::Generative),
            },
            imdrf_codes: vec!["A0908".into(), "F10".into(), "A0908".into()],
            ai_codes: vec!["AI02".into(), "AI01".into()],
            counts: SeriousnessCounts::tally(reports.iter().map(|r| r.seriousness)),
            period_from: date!(2026 - 11 - 01),
            period_to: date!(2026 - 11 - 30),
            summary: "Trợ lý ảo khuyến nghị liều paracetamol vượt liều tối đa trong ngày ở phiên bản 2.1.x; ba báo cáo tại hai tỉnh.".into(),
            recommendation: "Check deployments of versions 2.1.0 and 2.1.1; the manufacturer has a fix in 2.1.2.".into(),
            actions_taken: vec![ActionTaken {
                kind: ActionKind::FieldSafetyNotice,
                on: date!(2026 - 12 - 01),
                reference: Some("TBAT-2026-000004".into()),
            }],
            countries_concerned: vec![c("VN"), c("SG"), c("VN")],
        }
    }

    #[test]
    fn planted_identifiers_in_narratives_never_leave() {
        let reports = incidents();
        let warning = compose_early_warning(&input(&reports), SuppressionRule::default()).unwrap();
        let keys = NodeKeys::from_seed(&[5; 32]);
        let item = sign_item(
            &keys,
            ItemDraft {
                item_type: ItemType::EarlyWarning,
                id: "VN-EW-2026-000004".parse().unwrap(),
                version: 1,
                issued_at: datetime!(2026-12-07 02:00 UTC),
                country: c("VN"),
                audience: Audience::Members,
                payload: warning.to_payload(),
            },
        )
        .unwrap();
        let wire = String::from_utf8(item.wire.clone()).unwrap();
        for planted in [
            "Nguyễn Văn An",
            "Nguyễn",
            "John Smith",
            "Smith",
            "Trần Thị Lan",
            "001185012345",
            "079190001234",
            "0912 345 678",
            "0912345678",
            "0987 654 321",
            "0987654321",
            // Distinctive narrative words too: nothing of a narrative travels.
            "mỗi 2 giờ",
            "double dose",
            "không ai dùng",
        ] {
            assert!(!wire.contains(planted), "{planted} left in {wire}");
        }
        // Dates are ISO 8601 calendar dates on the wire.
        assert!(
            wire.contains(r#""period_from":"2026-11-01","period_to":"2026-11-30""#),
            "{wire}"
        );
        assert!(wire.contains(r#""on":"2026-12-01""#), "{wire}");
        // Also what a reader decodes from it.
        let back = EarlyWarning::from_payload(&item.item.payload).unwrap();
        assert_eq!(back, warning);
        // Three reports, 1 each: all small, so all shown as <5 (and the total too).
        assert_eq!(warning.counts.total, Cell::Small { below: 5 });
        assert_eq!(warning.counts.serious_injury, Cell::Small { below: 5 });
        assert_eq!(warning.counts.death, Cell::Shown(0));
        assert_eq!(warning.seriousness, Seriousness::SeriousInjury);
        assert_eq!(warning.imdrf_codes, ["A0908", "F10"]);
        assert_eq!(warning.ai_codes, ["AI01", "AI02"]);
        assert_eq!(warning.countries_concerned, [c("SG"), c("VN")]);
    }

    #[test]
    fn an_identifier_in_the_reviewers_text_is_refused_saying_where() {
        let reports = incidents();
        let mut i = input(&reports);
        i.summary = "Ca của bệnh nhân Nguyễn Văn An tại Hà Nội.".into();
        match compose_early_warning(&i, SuppressionRule::default()) {
            Err(ComposeError::Identifier {
                field,
                kind,
                start,
                end,
            }) => {
                assert_eq!(field, "summary");
                assert_eq!(kind, IdentifierKind::Name);
                let shown: String = i.summary.chars().skip(start).take(end - start).collect();
                assert_eq!(shown, "Nguyễn Văn An");
            }
            other => panic!("{other:?}"),
        }
        let mut i = input(&reports);
        i.recommendation = "Call 0912 345 678 for details".into();
        assert!(matches!(
            compose_early_warning(&i, SuppressionRule::default()),
            Err(ComposeError::Identifier {
                field: "recommendation",
                kind: IdentifierKind::Phone,
                ..
            })
        ));
        let mut i = input(&reports);
        i.summary = "CCCD 001185012345 bị lộ".into();
        assert!(matches!(
            compose_early_warning(&i, SuppressionRule::default()),
            Err(ComposeError::Identifier {
                field: "summary",
                kind: IdentifierKind::NationalId,
                ..
            })
        ));
    }

    #[test]
    fn fields_are_checked() {
        let reports = incidents();
        let rule = SuppressionRule::default();
        let mut i = input(&reports);
        i.summary = "  ".into();
        assert_eq!(
            compose_early_warning(&i, rule),
            Err(ComposeError::Required("summary"))
        );
        let mut i = input(&reports);
        i.imdrf_codes = vec!["Z99".into()];
        assert_eq!(
            compose_early_warning(&i, rule),
            Err(ComposeError::ImdrfCode("Z99".into()))
        );
        let mut i = input(&reports);
        i.ai_codes = vec!["AI2".into()];
        assert_eq!(
            compose_early_warning(&i, rule),
            Err(ComposeError::AiCode("AI2".into()))
        );
        let mut i = input(&reports);
        i.counts = SeriousnessCounts::default();
        assert_eq!(
            compose_early_warning(&i, rule),
            Err(ComposeError::NoReports)
        );
        let mut i = input(&reports);
        i.period_to = date!(2026 - 10 - 01);
        assert_eq!(compose_early_warning(&i, rule), Err(ComposeError::Period));
        let mut i = input(&reports);
        i.reference = "Nguyễn Văn An".into();
        assert_eq!(
            compose_early_warning(&i, rule),
            Err(ComposeError::Reference("reference"))
        );
        let mut i = input(&reports);
        i.summary = "x".repeat(MAX_TEXT + 1);
        assert_eq!(
            compose_early_warning(&i, rule),
            Err(ComposeError::TooLong {
                field: "summary",
                max: MAX_TEXT
            })
        );
    }

    #[test]
    fn complementary_suppression_protects_the_total() {
        let reports = incidents();
        let mut i = input(&reports);
        // 12 malfunctions and 2 deaths: the 2 is small, so a second cell is hidden too,
        // else 14 - 12 would give it back.
        i.counts = SeriousnessCounts([2, 0, 0, 12, 0]);
        let w = compose_early_warning(&i, SuppressionRule::default()).unwrap();
        assert_eq!(w.counts.death, Cell::Small { below: 5 });
        assert!(w.counts.malfunction.is_suppressed() || w.counts.total.is_suppressed());
        assert_eq!(w.seriousness, Seriousness::Death);
        // A payload of another schema, or with an extra field, is refused.
        let mut v = w.to_payload();
        v["patient_name"] = Value::String("x".into());
        assert!(matches!(
            EarlyWarning::from_payload(&v),
            Err(ComposeError::Payload(_))
        ));
        let mut v = w.to_payload();
        v["schema"] = Value::String("other/1".into());
        assert!(matches!(
            EarlyWarning::from_payload(&v),
            Err(ComposeError::Payload(_))
        ));
    }
}
