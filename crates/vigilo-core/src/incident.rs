//! Early warning: the incident report's vocabularies, its checks at intake, the
//! triage state machine and the reporting clocks.
//!
//! Pure: today's date arrives as a parameter. De-identification of the narrative is
//! `scrub.rs`; codes are `codes.rs`; completeness and duplicates are `incident_quality.rs`.

use crate::directory::{vocabulary, FieldError, UnknownCode};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::Date;

vocabulary!(
    /// How bad the outcome was (the MAUDE event types and the EU MIR outcomes, merged).
    Seriousness, "seriousness", {
        Death => ("death", "Tử vong", "Death"),
        SeriousInjury => ("serious_injury", "Tổn hại nghiêm trọng", "Serious injury"),
        OtherInjury => ("other_injury", "Tổn hại khác", "Other injury"),
        Malfunction => ("malfunction", "Sự cố không gây hại", "Malfunction without harm"),
        NearMiss => ("near_miss", "Suýt xảy ra sự cố", "Near miss"),
    }
);

vocabulary!(
    /// Where a report stands in the regulator's hands.
    IncidentState, "incident state", {
        Received => ("received", "Đã tiếp nhận", "Received"),
        Triaged => ("triaged", "Đã phân loại", "Triaged"),
        Investigating => ("investigating", "Đang điều tra", "Investigating"),
        Closed => ("closed", "Đã đóng", "Closed"),
    }
);

vocabulary!(
    /// What a reviewer does to a report.
    IncidentCommand, "incident action", {
        Triage => ("triage", "Phân loại", "Triage"),
        Investigate => ("investigate", "Mở điều tra", "Start investigation"),
        Close => ("close", "Đóng hồ sơ", "Close"),
        Reopen => ("reopen", "Mở lại", "Reopen"),
    }
);

vocabulary!(
    /// Who sent the report.
    ReporterKind, "reporter", {
        HealthWorker => ("health_worker", "Nhân viên y tế", "Health worker"),
        Patient => ("patient", "Người bệnh hoặc người nhà", "Patient or family"),
        Vendor => ("vendor", "Nhà sản xuất", "Manufacturer"),
        Regulator => ("regulator", "Cơ quan quản lý", "Regulator"),
        PublicSource => ("public_source", "Nguồn công khai", "Public source"),
    }
);

vocabulary!(
    /// The way a report arrived.
    IncidentSource, "report source", {
        Form => ("form", "Biểu mẫu", "Web form"),
        Api => ("api", "API", "API"),
        Fhir => ("fhir", "HL7 FHIR", "HL7 FHIR"),
        Maude => ("maude", "FDA MAUDE", "FDA MAUDE"),
        Openfda => ("openfda", "openFDA", "openFDA"),
        Aiid => ("aiid", "AI Incident Database", "AI Incident Database"),
    }
);

vocabulary!(
    /// The reviewer's causality assessment at closing (the four levels of MDCG 2023-3).
    Causality, "causality", {
        NotRelated => ("not_related", "Không liên quan", "Not related"),
        Possible => ("possible", "Có thể liên quan", "Possible"),
        Probable => ("probable", "Nhiều khả năng liên quan", "Probable"),
        Causal => ("causal", "Có quan hệ nhân quả", "Causal relationship"),
    }
);

vocabulary!(
    /// The patient's sex, when the reporter gives it (no other patient detail is kept).
    PatientSex, "sex", {
        Female => ("female", "Nữ", "Female"),
        Male => ("male", "Nam", "Male"),
    }
);

vocabulary!(
    /// The patient's age band, when the reporter gives it.
    AgeBand, "age band", {
        Under5 => ("0-4", "Dưới 5 tuổi", "Under 5"),
        From5To14 => ("5-14", "5–14 tuổi", "5–14"),
        From15To44 => ("15-44", "15–44 tuổi", "15–44"),
        From45To64 => ("45-64", "45–64 tuổi", "45–64"),
        From65 => ("65+", "Từ 65 tuổi", "65 and over"),
    }
);

impl Seriousness {
    /// Death or serious injury: the reports that count as serious incidents.
    pub fn is_serious(self) -> bool {
        matches!(self, Seriousness::Death | Seriousness::SeriousInjury)
    }
}

impl IncidentState {
    pub fn is_open(self) -> bool {
        self != IncidentState::Closed
    }
}

/// A command that does not apply to the report's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {command} a report that is {state}")]
pub struct IncidentTransitionError {
    pub state: IncidentState,
    pub command: IncidentCommand,
}

/// The triage state machine. Closing needs a causality assessment, which the
/// caller checks; a closed report can be reopened when new facts arrive.
pub fn transition(
    state: IncidentState,
    command: IncidentCommand,
) -> Result<IncidentState, IncidentTransitionError> {
    use IncidentCommand as C;
    use IncidentState as S;
    match (state, command) {
        (S::Received, C::Triage) => Ok(S::Triaged),
        (S::Received | S::Triaged, C::Investigate) => Ok(S::Investigating),
        (S::Triaged | S::Investigating, C::Close) => Ok(S::Closed),
        (S::Closed, C::Reopen) => Ok(S::Investigating),
        _ => Err(IncidentTransitionError { state, command }),
    }
}

/// The commands that apply to a state, for the reviewer's buttons.
pub fn allowed_commands(state: IncidentState) -> Vec<IncidentCommand> {
    IncidentCommand::ALL
        .iter()
        .copied()
        .filter(|c| transition(state, *c).is_ok())
        .collect()
}

/// Days the regulator has to triage a report, by seriousness. The defaults follow the
/// EU vigilance deadlines (MDR Article 87): 2 days for a serious public health threat,
/// 10 for a death or an unanticipated serious deterioration, 15 for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportingClock {
    pub public_health_threat_days: u32,
    pub death_or_serious_days: u32,
    pub other_days: u32,
}

impl Default for ReportingClock {
    fn default() -> Self {
        Self {
            public_health_threat_days: 2,
            death_or_serious_days: 10,
            other_days: 15,
        }
    }
}

impl ReportingClock {
    pub fn days(&self, seriousness: Seriousness, public_health_threat: bool) -> u32 {
        if public_health_threat {
            self.public_health_threat_days
        } else if seriousness.is_serious() {
            self.death_or_serious_days
        } else {
            self.other_days
        }
    }

    /// The date by which a report received on `received` must have been triaged.
    pub fn deadline(
        &self,
        received: Date,
        seriousness: Seriousness,
        public_health_threat: bool,
    ) -> Date {
        let days = self.days(seriousness, public_health_threat);
        received.saturating_add(time::Duration::days(i64::from(days)))
    }
}

/// A report is overdue when it is still waiting for triage after its deadline.
pub fn is_overdue(state: IncidentState, deadline: Date, today: Date) -> bool {
    state == IncidentState::Received && today > deadline
}

/// Longest narrative we keep (characters); long enough for a clinical story, short
/// enough that a flood of pasted documents is refused.
pub const MAX_NARRATIVE: usize = 8000;
/// Shortest narrative that can tell what happened.
pub const MIN_NARRATIVE: usize = 20;
/// Longest short text (product named by a reporter who does not know it, place, and so on).
pub const MAX_SHORT_TEXT: usize = 200;
/// The earliest event date accepted (no AI medical device reports before this).
pub const EARLIEST_EVENT_YEAR: i32 = 1990;

/// What a report says, as the reporter sent it (before de-identification). Identifiers
/// of products and facilities are checked to exist by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentInput {
    pub reporter_kind: ReporterKind,
    /// The product's id in the directory, if the reporter knows it.
    pub product_id: Option<String>,
    /// The version's id, if known.
    pub version_id: Option<String>,
    /// What the reporter calls the product when it is not in the list ("don't know").
    pub product_text: Option<String>,
    /// The facility where it happened, if known.
    pub facility_id: Option<String>,
    /// The province (2025 code), when the facility is not given.
    pub province_code: Option<String>,
    pub occurred_on: Option<Date>,
    /// When the reporter became aware; defaults to the day of receipt.
    pub aware_on: Option<Date>,
    pub seriousness: Seriousness,
    /// The reporter believes it threatens public health (many people, quickly).
    pub public_health_threat: bool,
    pub narrative: String,
    pub patient_sex: Option<PatientSex>,
    pub patient_age_band: Option<AgeBand>,
}

impl IncidentInput {
    /// Every problem with the report, per field, so a form can show them all at once.
    pub fn check(&self, today: Date) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let narrative_chars = self.narrative.trim().chars().count();
        if narrative_chars == 0 {
            errors.push(FieldError::new("narrative", "required"));
        } else if narrative_chars < MIN_NARRATIVE {
            errors.push(FieldError::new("narrative", "too_short"));
        } else if narrative_chars > MAX_NARRATIVE {
            errors.push(FieldError::new("narrative", "too_long"));
        }
        if self.product_id.is_none()
            && self
                .product_text
                .as_deref()
                .is_none_or(|t| t.trim().is_empty())
        {
            errors.push(FieldError::new("product", "required"));
        }
        if self.version_id.is_some() && self.product_id.is_none() {
            errors.push(FieldError::new("version", "needs_product"));
        }
        for (field, value) in [
            ("product_text", &self.product_text),
            ("product", &self.product_id),
            ("version", &self.version_id),
            ("facility", &self.facility_id),
            ("province", &self.province_code),
        ] {
            if value
                .as_deref()
                .is_some_and(|v| v.chars().count() > MAX_SHORT_TEXT)
            {
                errors.push(FieldError::new(field, "too_long"));
            }
        }
        for (field, date) in [
            ("occurred_on", self.occurred_on),
            ("aware_on", self.aware_on),
        ] {
            if let Some(d) = date {
                if d > today {
                    errors.push(FieldError::new(field, "in_future"));
                } else if d.year() < EARLIEST_EVENT_YEAR {
                    errors.push(FieldError::new(field, "too_early"));
                }
            }
        }
        if let (Some(occurred), Some(aware)) = (self.occurred_on, self.aware_on) {
            if aware < occurred {
                errors.push(FieldError::new("aware_on", "before_occurred"));
            }
        }
        errors
    }
}

/// Parses an optional vocabulary field from a form or CSV: empty means absent.
pub fn optional<T: FromStr<Err = UnknownCode>>(value: &str) -> Result<Option<T>, UnknownCode> {
    let t = value.trim();
    if t.is_empty() {
        Ok(None)
    } else {
        t.parse().map(Some)
    }
}

/// Receipt numbers: `SC-2026-000123` (sự cố), one sequence per year.
pub fn receipt_number(year: i32, sequence: i64) -> String {
    format!("SC-{year}-{sequence:06}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn input() -> IncidentInput {
        IncidentInput {
            reporter_kind: ReporterKind::HealthWorker,
            product_id: Some("p1".into()),
            version_id: None,
            product_text: None,
            facility_id: None,
            province_code: Some("27".into()),
            occurred_on: Some(date!(2026 - 11 - 01)),
            aware_on: Some(date!(2026 - 11 - 02)),
            seriousness: Seriousness::OtherInjury,
            public_health_threat: false,
            narrative: "The assistant advised a double dose of paracetamol.".into(),
            patient_sex: None,
            patient_age_band: None,
        }
    }

    #[test]
    fn every_state_and_command_pair_has_a_defined_outcome() {
        use IncidentCommand as C;
        use IncidentState as S;
        let expected = [
            (S::Received, C::Triage, Some(S::Triaged)),
            (S::Received, C::Investigate, Some(S::Investigating)),
            (S::Received, C::Close, None),
            (S::Received, C::Reopen, None),
            (S::Triaged, C::Triage, None),
            (S::Triaged, C::Investigate, Some(S::Investigating)),
            (S::Triaged, C::Close, Some(S::Closed)),
            (S::Triaged, C::Reopen, None),
            (S::Investigating, C::Triage, None),
            (S::Investigating, C::Investigate, None),
            (S::Investigating, C::Close, Some(S::Closed)),
            (S::Investigating, C::Reopen, None),
            (S::Closed, C::Triage, None),
            (S::Closed, C::Investigate, None),
            (S::Closed, C::Close, None),
            (S::Closed, C::Reopen, Some(S::Investigating)),
        ];
        assert_eq!(expected.len(), S::ALL.len() * C::ALL.len());
        for (state, command, outcome) in expected {
            assert_eq!(
                transition(state, command).ok(),
                outcome,
                "{state} {command}"
            );
        }
        assert_eq!(
            allowed_commands(S::Received),
            vec![C::Triage, C::Investigate]
        );
    }

    #[test]
    fn clock_defaults_follow_the_eu_deadlines() {
        let clock = ReportingClock::default();
        let received = date!(2026 - 11 - 20);
        assert_eq!(
            clock.deadline(received, Seriousness::NearMiss, true),
            date!(2026 - 11 - 22)
        );
        assert_eq!(
            clock.deadline(received, Seriousness::Death, false),
            date!(2026 - 11 - 30)
        );
        assert_eq!(
            clock.deadline(received, Seriousness::SeriousInjury, false),
            date!(2026 - 11 - 30)
        );
        assert_eq!(
            clock.deadline(received, Seriousness::Malfunction, false),
            date!(2026 - 12 - 05)
        );
        let deadline = date!(2026 - 11 - 30);
        assert!(!is_overdue(IncidentState::Received, deadline, deadline));
        assert!(is_overdue(
            IncidentState::Received,
            deadline,
            date!(2026 - 12 - 01)
        ));
        assert!(!is_overdue(
            IncidentState::Triaged,
            deadline,
            date!(2027 - 01 - 01)
        ));
    }

    #[test]
    fn a_good_report_passes() {
        assert!(input().check(date!(2026 - 11 - 23)).is_empty());
    }

    #[test]
    fn every_problem_is_listed_by_field() {
        let mut bad = input();
        bad.product_id = None;
        bad.version_id = Some("v1".into());
        bad.narrative = "short".into();
        bad.occurred_on = Some(date!(2026 - 12 - 01));
        bad.aware_on = Some(date!(1980 - 01 - 01));
        let errors = bad.check(date!(2026 - 11 - 23));
        let pairs: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            pairs,
            vec![
                ("narrative", "too_short"),
                ("product", "required"),
                ("version", "needs_product"),
                ("occurred_on", "in_future"),
                ("aware_on", "too_early"),
                ("aware_on", "before_occurred"),
            ]
        );
    }

    #[test]
    fn unknown_product_named_in_words_is_enough() {
        let mut r = input();
        r.product_id = None;
        r.product_text = Some("trợ lý ảo ở trạm y tế".into());
        assert!(r.check(date!(2026 - 11 - 23)).is_empty());
        r.narrative = "x".repeat(MAX_NARRATIVE + 1);
        assert_eq!(r.check(date!(2026 - 11 - 23))[0].code, "too_long");
    }

    #[test]
    fn receipt_numbers_sort_by_sequence() {
        assert_eq!(receipt_number(2026, 123), "SC-2026-000123");
        assert!(receipt_number(2026, 9) < receipt_number(2026, 10));
    }

    #[test]
    fn optional_fields_parse() {
        assert_eq!(optional::<Seriousness>(" ").unwrap(), None);
        assert_eq!(
            optional::<Seriousness>("death").unwrap(),
            Some(Seriousness::Death)
        );
        assert!(optional::<AgeBand>("old").is_err());
    }
}
