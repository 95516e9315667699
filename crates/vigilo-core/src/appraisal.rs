//! Appraisal and licensing rules: the application (dossier) state machine, the
//! licence lifecycle, licence conditions and service clocks.
//!
//! Pure: the current time arrives as a parameter; storage and access to objects
//! (a vendor sees only its own applications) are the store's and server's job.

use crate::directory::{vocabulary, FieldError, LicenceStatus, UnknownCode};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::{Date, OffsetDateTime};

vocabulary!(
    /// Where an application (dossier) stands.
    ApplicationState, "application state", {
        Draft => ("draft", "Bản nháp", "Draft"),
        Submitted => ("submitted", "Đã nộp", "Submitted"),
        Screening => ("screening", "Kiểm tra tính đầy đủ", "Screening"),
        UnderReview => ("under_review", "Đang thẩm định", "Under review"),
        Sandbox => ("sandbox", "Thử nghiệm sandbox", "Sandbox testing"),
        InformationRequested => ("information_requested", "Chờ nhà sản xuất bổ sung", "Information requested"),
        Decided => ("decided", "Đã có quyết định", "Decided"),
        Withdrawn => ("withdrawn", "Đã rút", "Withdrawn"),
    }
);

vocabulary!(
    /// The outcome of a decided application.
    DecisionOutcome, "decision", {
        Approved => ("approved", "Chấp thuận", "Approved"),
        ApprovedWithConditions => ("approved_with_conditions", "Chấp thuận có điều kiện", "Approved with conditions"),
        Rejected => ("rejected", "Từ chối", "Rejected"),
    }
);

vocabulary!(
    /// What someone does to an application.
    ApplicationCommand, "application action", {
        Submit => ("submit", "Nộp hồ sơ", "Submit"),
        StartScreening => ("start_screening", "Bắt đầu kiểm tra", "Start screening"),
        AcceptForReview => ("accept_for_review", "Chuyển thẩm định", "Accept for review"),
        RequestInformation => ("request_information", "Yêu cầu bổ sung", "Request information"),
        Respond => ("respond", "Gửi bổ sung", "Send the information"),
        SendToSandbox => ("send_to_sandbox", "Chuyển thử nghiệm sandbox", "Send to the sandbox"),
        ReturnFromSandbox => ("return_from_sandbox", "Kết thúc sandbox", "Return from the sandbox"),
        Decide => ("decide", "Ra quyết định", "Decide"),
        Withdraw => ("withdraw", "Rút hồ sơ", "Withdraw"),
    }
);

vocabulary!(
    /// What an administrator (or the expiry job) does to a licence.
    LicenceCommand, "licence action", {
        Suspend => ("suspend", "Tạm đình chỉ", "Suspend"),
        Reinstate => ("reinstate", "Khôi phục hiệu lực", "Reinstate"),
        Revoke => ("revoke", "Thu hồi", "Revoke"),
        Expire => ("expire", "Hết hạn", "Expire"),
    }
);

vocabulary!(
    /// Why a version holds a licence.
    LicenceBasis, "licence basis", {
        Decision => ("decision", "Quyết định thẩm định", "Appraisal decision"),
        ChangeControl => ("change_control", "Nằm trong kế hoạch kiểm soát thay đổi đã duyệt", "Within the approved change-control plan"),
    }
);

/// Who acts on an application. The store checks that a vendor belongs to the
/// application's organisation before it calls [`transition`] with `Vendor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Vendor,
    /// Reviewer or administrator of the regulator.
    Staff,
}

/// An application's position: its state, the state a request for information
/// interrupted (the clock stops meanwhile), and the outcome once decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub state: ApplicationState,
    pub paused_from: Option<ApplicationState>,
    pub outcome: Option<DecisionOutcome>,
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            state: ApplicationState::Draft,
            paused_from: None,
            outcome: None,
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(
            self.state,
            ApplicationState::Decided | ApplicationState::Withdrawn
        )
    }

    /// The commands the actor may give now, in the order a form shows them.
    pub fn allowed(&self, actor: Actor) -> Vec<ApplicationCommand> {
        ApplicationCommand::ALL
            .iter()
            .copied()
            // Rejection is possible wherever any decision is.
            .filter(|c| transition(*self, *c, Some(DecisionOutcome::Rejected), actor, "x").is_ok())
            .collect()
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// Longest reason or message kept with a transition.
pub const MAX_REASON: usize = 4000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppraisalError {
    #[error("'{command}' is not possible while the application is {state}")]
    NotAllowed {
        command: ApplicationCommand,
        state: ApplicationState,
    },
    #[error("only the {who} may {command}")]
    WrongActor {
        command: ApplicationCommand,
        who: &'static str,
    },
    #[error("a reason is required for '{0}'")]
    ReasonRequired(ApplicationCommand),
    #[error("the reason is longer than {MAX_REASON} characters")]
    ReasonTooLong,
    #[error("a decision needs its outcome: approved, approved with conditions or rejected")]
    OutcomeRequired,
    #[error("an application under screening can only be rejected, not approved: accept it for review first")]
    ApprovalFromScreening,
}

/// Reviewer-side commands; the rest belong to the vendor.
fn staff_command(cmd: ApplicationCommand) -> bool {
    use ApplicationCommand as C;
    !matches!(cmd, C::Submit | C::Respond | C::Withdraw)
}

/// Commands whose reason may be left empty: the vendor's own submissions.
fn reason_optional(cmd: ApplicationCommand) -> bool {
    matches!(
        cmd,
        ApplicationCommand::Submit | ApplicationCommand::Respond
    )
}

/// The application state machine. Every transition names its actor and, except
/// a vendor's submission or response, carries a reason that the audit keeps.
pub fn transition(
    from: Progress,
    cmd: ApplicationCommand,
    outcome: Option<DecisionOutcome>,
    actor: Actor,
    reason: &str,
) -> Result<Progress, AppraisalError> {
    use ApplicationCommand as C;
    use ApplicationState as S;
    match (staff_command(cmd), actor) {
        (true, Actor::Vendor) => {
            return Err(AppraisalError::WrongActor {
                command: cmd,
                who: "regulator's staff",
            })
        }
        (false, Actor::Staff) => {
            return Err(AppraisalError::WrongActor {
                command: cmd,
                who: "applicant",
            })
        }
        _ => {}
    }
    let reason_len = reason.trim().chars().count();
    if reason_len > MAX_REASON {
        return Err(AppraisalError::ReasonTooLong);
    }
    let not_allowed = || AppraisalError::NotAllowed {
        command: cmd,
        state: from.state,
    };
    let to = |state| Progress {
        state,
        paused_from: None,
        outcome: None,
    };
    let next = match (from.state, cmd) {
        (S::Draft, C::Submit) => to(S::Submitted),
        (S::Submitted, C::StartScreening) => to(S::Screening),
        (S::Screening, C::AcceptForReview) => to(S::UnderReview),
        (S::Screening | S::UnderReview | S::Sandbox, C::RequestInformation) => Progress {
            state: S::InformationRequested,
            paused_from: Some(from.state),
            outcome: None,
        },
        (S::InformationRequested, C::Respond) => to(from.paused_from.unwrap_or(S::Screening)),
        (S::UnderReview, C::SendToSandbox) => to(S::Sandbox),
        (S::Sandbox, C::ReturnFromSandbox) => to(S::UnderReview),
        (S::Screening | S::UnderReview | S::Sandbox, C::Decide) => {
            let outcome = outcome.ok_or(AppraisalError::OutcomeRequired)?;
            if from.state == S::Screening && outcome != DecisionOutcome::Rejected {
                return Err(AppraisalError::ApprovalFromScreening);
            }
            Progress {
                state: S::Decided,
                paused_from: None,
                outcome: Some(outcome),
            }
        }
        (
            S::Draft
            | S::Submitted
            | S::Screening
            | S::UnderReview
            | S::Sandbox
            | S::InformationRequested,
            C::Withdraw,
        ) => to(S::Withdrawn),
        _ => return Err(not_allowed()),
    };
    if reason_len == 0 && !reason_optional(cmd) {
        return Err(AppraisalError::ReasonRequired(cmd));
    }
    Ok(next)
}

// ---- service clocks ----

/// Days the regulator aims to spend in each of its states before acting. The
/// clock stops while the vendor owes information, and after the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockTargets {
    pub submitted: u32,
    pub screening: u32,
    pub under_review: u32,
    pub sandbox: u32,
}

impl Default for ClockTargets {
    /// Defaults for a risk-based desk: screening within two weeks, review within
    /// two months, a sandbox study within three.
    fn default() -> Self {
        ClockTargets {
            submitted: 5,
            screening: 10,
            under_review: 60,
            sandbox: 90,
        }
    }
}

impl ClockTargets {
    pub fn target(&self, state: ApplicationState) -> Option<u32> {
        match state {
            ApplicationState::Submitted => Some(self.submitted),
            ApplicationState::Screening => Some(self.screening),
            ApplicationState::UnderReview => Some(self.under_review),
            ApplicationState::Sandbox => Some(self.sandbox),
            _ => None,
        }
    }
}

/// The regulator's clock is running in these states.
pub fn clock_runs(state: ApplicationState) -> bool {
    matches!(
        state,
        ApplicationState::Submitted
            | ApplicationState::Screening
            | ApplicationState::UnderReview
            | ApplicationState::Sandbox
    )
}

/// Time spent in one state, over all the visits to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StateDays {
    pub state: ApplicationState,
    pub days: i64,
    pub target: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockSummary {
    /// Per state, in order of first entry.
    pub per_state: Vec<StateDays>,
    /// Whole days in the current state so far.
    pub current_days: i64,
    /// Days on the regulator's clock in all (stopped while information is owed).
    pub regulator_days: i64,
    /// Days the vendor took to answer requests for information.
    pub vendor_days: i64,
    /// The current state is on the regulator's clock and past its target.
    pub overdue: bool,
}

fn whole_days(from: OffsetDateTime, to: OffsetDateTime) -> i64 {
    ((to - from).whole_seconds().max(0)) / 86_400
}

/// Sums the time spent in each state from the ordered list of `(state entered,
/// when)`; the last entry is the current state, running until `now`.
pub fn clock_summary(
    entered: &[(ApplicationState, OffsetDateTime)],
    now: OffsetDateTime,
    targets: &ClockTargets,
) -> ClockSummary {
    let mut per_state: Vec<(ApplicationState, i64)> = Vec::new();
    let mut regulator_secs = 0i64;
    let mut vendor_secs = 0i64;
    let mut current_days = 0;
    for (i, (state, at)) in entered.iter().enumerate() {
        let until = entered.get(i + 1).map(|(_, t)| *t).unwrap_or(now);
        let secs = (until - *at).whole_seconds().max(0);
        if clock_runs(*state) {
            regulator_secs += secs;
        } else if *state == ApplicationState::InformationRequested {
            vendor_secs += secs;
        }
        match per_state.iter_mut().find(|(s, _)| s == state) {
            Some((_, total)) => *total += secs,
            None => per_state.push((*state, secs)),
        }
        if i + 1 == entered.len() {
            current_days = whole_days(*at, now);
        }
    }
    let current = entered.last().map(|(s, _)| *s);
    let overdue = match current.and_then(|s| targets.target(s).map(|t| (s, t))) {
        Some((_, target)) => current_days > i64::from(target),
        None => false,
    };
    ClockSummary {
        per_state: per_state
            .into_iter()
            .map(|(state, secs)| StateDays {
                state,
                days: secs / 86_400,
                target: targets.target(state),
            })
            .collect(),
        current_days,
        regulator_days: regulator_secs / 86_400,
        vendor_days: vendor_secs / 86_400,
        overdue,
    }
}

// ---- licences ----

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenceError {
    #[error("'{command}' is not possible for a licence that is {status}")]
    NotAllowed {
        command: LicenceCommand,
        status: LicenceStatus,
    },
    #[error(
        "the licence expired on {0}: it cannot be reinstated; the product needs a new decision"
    )]
    PastExpiry(Date),
    #[error("the licence runs until {0}: it cannot expire before then")]
    NotYetDue(Date),
    #[error("a reason is required")]
    ReasonRequired,
    #[error("the reason is longer than {MAX_REASON} characters")]
    ReasonTooLong,
}

/// The licence lifecycle. Revoked and expired are final; a suspended licence
/// can come back only before its expiry date.
pub fn licence_transition(
    from: LicenceStatus,
    cmd: LicenceCommand,
    expires_on: Date,
    today: Date,
    reason: &str,
) -> Result<LicenceStatus, LicenceError> {
    use LicenceCommand as C;
    use LicenceStatus as S;
    let n = reason.trim().chars().count();
    if n > MAX_REASON {
        return Err(LicenceError::ReasonTooLong);
    }
    let next = match (from, cmd) {
        (S::Active, C::Suspend) => S::Suspended,
        (S::Suspended, C::Reinstate) => {
            if today >= expires_on {
                return Err(LicenceError::PastExpiry(expires_on));
            }
            S::Active
        }
        (S::Active | S::Suspended, C::Revoke) => S::Revoked,
        (S::Active | S::Suspended, C::Expire) => {
            if today < expires_on {
                return Err(LicenceError::NotYetDue(expires_on));
            }
            S::Expired
        }
        _ => {
            return Err(LicenceError::NotAllowed {
                command: cmd,
                status: from,
            })
        }
    };
    if n == 0 && cmd != C::Expire {
        return Err(LicenceError::ReasonRequired);
    }
    Ok(next)
}

/// How a product shows in the directory given its versions' licences: the
/// strongest status wins (one active licence makes the product licensed).
pub fn product_licence_status(statuses: &[LicenceStatus]) -> LicenceStatus {
    use LicenceStatus as S;
    let rank = |s: &S| match s {
        S::Active => 5,
        S::Suspended => 4,
        S::Expired => 3,
        S::Revoked => 2,
        S::NotLicensed => 1,
    };
    statuses
        .iter()
        .copied()
        .max_by_key(rank)
        .unwrap_or(S::NotLicensed)
}

/// A KPI the pilot must report under the licence, with its target; the
/// monitoring desk reads these (real-world impact plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiDuty {
    /// The KPI definition's identifier, e.g. `tb_sensitivity`.
    pub kpi: String,
    pub target: f64,
}

/// What an approval allows and requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LicenceConditions {
    /// Province codes where the version may be deployed; empty means the whole country.
    #[serde(default)]
    pub provinces: Vec<String>,
    /// Facility (organisation) identifiers; empty means any facility in those provinces.
    #[serde(default)]
    pub facilities: Vec<String>,
    /// Only within the national pilot.
    #[serde(default)]
    pub pilot_only: bool,
    /// Monitoring duties in plain words (Vietnamese, and English when given).
    #[serde(default)]
    pub monitoring_duties: String,
    #[serde(default)]
    pub monitoring_duties_en: String,
    #[serde(default)]
    pub kpis: Vec<KpiDuty>,
    #[serde(with = "iso_date")]
    pub expires_on: Date,
}

/// Dates as `YYYY-MM-DD` on the wire and in storage, not time's tuple form.
pub mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::macros::format_description;
    use time::Date;

    pub fn format(d: Date) -> String {
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }

    pub fn parse(s: &str) -> Result<Date, time::error::Parse> {
        Date::parse(s.trim(), format_description!("[year]-[month]-[day]"))
    }

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Longest licence a decision may grant, in days (five years).
pub const MAX_LICENCE_DAYS: i64 = 5 * 366;

impl LicenceConditions {
    /// `known_province` says whether a code is one of the country's provinces.
    pub fn validate(
        &self,
        today: Date,
        known_province: impl Fn(&str) -> bool,
    ) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        if self.expires_on <= today {
            e.push(FieldError::new("expires_on", "not_in_future"));
        } else if (self.expires_on - today).whole_days() > MAX_LICENCE_DAYS {
            e.push(FieldError::new("expires_on", "too_far"));
        }
        if self.provinces.iter().any(|p| !known_province(p)) {
            e.push(FieldError::new("provinces", "unknown_province"));
        }
        for (field, value) in [
            ("monitoring_duties", &self.monitoring_duties),
            ("monitoring_duties_en", &self.monitoring_duties_en),
        ] {
            if value.chars().count() > crate::directory::MAX_TEXT {
                e.push(FieldError::new(field, "too_long"));
            }
        }
        for (i, k) in self.kpis.iter().enumerate() {
            let valid_id = !k.kpi.is_empty()
                && k.kpi.len() <= 64
                && k.kpi
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid_id {
                e.push(FieldError::new(format!("kpis[{i}].kpi"), "invalid_code"));
            }
            if !k.target.is_finite() {
                e.push(FieldError::new(format!("kpis[{i}].target"), "not_a_number"));
            }
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// Whether a deployment at this facility, in this province, is allowed.
    pub fn allows(&self, facility_id: &str, province_code: &str, in_pilot: bool) -> bool {
        (self.provinces.is_empty() || self.provinces.iter().any(|p| p == province_code))
            && (self.facilities.is_empty() || self.facilities.iter().any(|f| f == facility_id))
            && (!self.pilot_only || in_pilot)
    }
}

/// Human reference numbers: `HS-2026-000042` for dossiers, `GP-2026-000007`
/// for licences (hồ sơ, giấy phép).
pub fn reference_number(prefix: &str, year: i32, sequence: i64) -> String {
    format!("{prefix}-{year}-{sequence:06}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};
    use ApplicationCommand as C;
    use ApplicationState as S;

    fn at(state: S) -> Progress {
        Progress {
            state,
            paused_from: None,
            outcome: None,
        }
    }

    /// The full table: every state x command x actor has an expected answer.
    #[test]
    fn every_state_command_and_actor_has_its_expected_result() {
        let allowed: &[(S, C, S)] = &[
            (S::Draft, C::Submit, S::Submitted),
            (S::Draft, C::Withdraw, S::Withdrawn),
            (S::Submitted, C::StartScreening, S::Screening),
            (S::Submitted, C::Withdraw, S::Withdrawn),
            (S::Screening, C::AcceptForReview, S::UnderReview),
            (S::Screening, C::RequestInformation, S::InformationRequested),
            (S::Screening, C::Decide, S::Decided),
            (S::Screening, C::Withdraw, S::Withdrawn),
            (
                S::UnderReview,
                C::RequestInformation,
                S::InformationRequested,
            ),
            (S::UnderReview, C::SendToSandbox, S::Sandbox),
            (S::UnderReview, C::Decide, S::Decided),
            (S::UnderReview, C::Withdraw, S::Withdrawn),
            (S::Sandbox, C::RequestInformation, S::InformationRequested),
            (S::Sandbox, C::ReturnFromSandbox, S::UnderReview),
            (S::Sandbox, C::Decide, S::Decided),
            (S::Sandbox, C::Withdraw, S::Withdrawn),
            (S::InformationRequested, C::Respond, S::Screening),
            (S::InformationRequested, C::Withdraw, S::Withdrawn),
        ];
        let mut checked = 0;
        for &state in S::ALL {
            for &cmd in C::ALL {
                for actor in [Actor::Vendor, Actor::Staff] {
                    let got = transition(
                        at(state),
                        cmd,
                        Some(DecisionOutcome::Rejected),
                        actor,
                        "because",
                    );
                    let expected = allowed
                        .iter()
                        .find(|(s, c, _)| *s == state && *c == cmd)
                        .map(|(_, _, to)| *to);
                    let right_actor = staff_command(cmd) == (actor == Actor::Staff);
                    match (expected, right_actor) {
                        (Some(to), true) => {
                            assert_eq!(got.map(|p| p.state), Ok(to), "{state} {cmd} {actor:?}")
                        }
                        (_, false) => assert!(
                            matches!(got, Err(AppraisalError::WrongActor { .. })),
                            "{state} {cmd} {actor:?}: {got:?}"
                        ),
                        (None, true) => assert_eq!(
                            got,
                            Err(AppraisalError::NotAllowed {
                                command: cmd,
                                state
                            }),
                            "{state} {cmd} {actor:?}"
                        ),
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, S::ALL.len() * C::ALL.len() * 2);
    }

    #[test]
    fn a_request_for_information_returns_to_the_state_it_interrupted() {
        for from in [S::Screening, S::UnderReview, S::Sandbox] {
            let paused = transition(
                at(from),
                C::RequestInformation,
                None,
                Actor::Staff,
                "need X",
            )
            .unwrap();
            assert_eq!(paused.state, S::InformationRequested);
            assert_eq!(paused.paused_from, Some(from));
            let back = transition(paused, C::Respond, None, Actor::Vendor, "").unwrap();
            assert_eq!(back.state, from);
            assert_eq!(back.paused_from, None);
        }
    }

    #[test]
    fn reasons_are_required_except_for_the_vendors_own_submissions() {
        for (state, cmd, actor) in [
            (S::Submitted, C::StartScreening, Actor::Staff),
            (S::Screening, C::AcceptForReview, Actor::Staff),
            (S::UnderReview, C::Decide, Actor::Staff),
            (S::Draft, C::Withdraw, Actor::Vendor),
        ] {
            assert_eq!(
                transition(
                    at(state),
                    cmd,
                    Some(DecisionOutcome::Approved),
                    actor,
                    "  \n"
                ),
                Err(AppraisalError::ReasonRequired(cmd))
            );
        }
        assert!(transition(at(S::Draft), C::Submit, None, Actor::Vendor, "").is_ok());
        let long = "x".repeat(MAX_REASON + 1);
        assert_eq!(
            transition(at(S::Draft), C::Submit, None, Actor::Vendor, &long),
            Err(AppraisalError::ReasonTooLong)
        );
    }

    #[test]
    fn decisions_need_an_outcome_and_screening_can_only_reject() {
        assert_eq!(
            transition(at(S::UnderReview), C::Decide, None, Actor::Staff, "r"),
            Err(AppraisalError::OutcomeRequired)
        );
        for o in [
            DecisionOutcome::Approved,
            DecisionOutcome::ApprovedWithConditions,
        ] {
            assert_eq!(
                transition(at(S::Screening), C::Decide, Some(o), Actor::Staff, "r"),
                Err(AppraisalError::ApprovalFromScreening)
            );
            let p = transition(at(S::Sandbox), C::Decide, Some(o), Actor::Staff, "r").unwrap();
            assert_eq!((p.state, p.outcome), (S::Decided, Some(o)));
            assert!(p.is_final());
        }
    }

    #[test]
    fn allowed_lists_what_each_side_may_do() {
        assert_eq!(
            at(S::Draft).allowed(Actor::Vendor),
            vec![C::Submit, C::Withdraw]
        );
        assert!(at(S::Draft).allowed(Actor::Staff).is_empty());
        assert_eq!(
            at(S::UnderReview).allowed(Actor::Staff),
            vec![C::RequestInformation, C::SendToSandbox, C::Decide]
        );
        assert!(at(S::Decided).allowed(Actor::Vendor).is_empty());
        assert!(at(S::Withdrawn).allowed(Actor::Staff).is_empty());
    }

    #[test]
    fn the_clock_stops_while_the_vendor_owes_information() {
        let t0 = datetime!(2026-01-01 09:00 UTC);
        let day = time::Duration::days(1);
        let entered = [
            (S::Draft, t0),
            (S::Submitted, t0 + day * 3),
            (S::Screening, t0 + day * 5),
            (S::InformationRequested, t0 + day * 8),
            (S::Screening, t0 + day * 28),
            (S::UnderReview, t0 + day * 30),
        ];
        let now = t0 + day * 100;
        let c = clock_summary(&entered, now, &ClockTargets::default());
        // submitted 2 + screening 3 + 2 + under review 70 = 77; the 20 vendor days don't count.
        assert_eq!(c.regulator_days, 77);
        assert_eq!(c.vendor_days, 20);
        assert_eq!(c.current_days, 70);
        assert!(c.overdue, "70 days under review is past the 60-day target");
        let screening = c
            .per_state
            .iter()
            .find(|d| d.state == S::Screening)
            .unwrap();
        assert_eq!(screening.days, 5);
        assert_eq!(screening.target, Some(10));
        let not_yet = clock_summary(&entered, t0 + day * 40, &ClockTargets::default());
        assert!(!not_yet.overdue);
        // Waiting on the vendor is never overdue for the regulator.
        let waiting = clock_summary(&entered[..4], t0 + day * 300, &ClockTargets::default());
        assert!(!waiting.overdue);
        assert_eq!(waiting.vendor_days, 292);
    }

    #[test]
    fn licence_lifecycle_table() {
        use LicenceCommand as L;
        use LicenceStatus as St;
        let expiry = date!(2027 - 06 - 30);
        let before = date!(2026 - 12 - 01);
        let after = date!(2027 - 07 - 01);
        let cases = [
            (St::Active, L::Suspend, before, Ok(St::Suspended)),
            (St::Active, L::Reinstate, before, Err("not allowed")),
            (St::Active, L::Revoke, before, Ok(St::Revoked)),
            (St::Active, L::Expire, before, Err("not yet due")),
            (St::Active, L::Expire, expiry, Ok(St::Expired)),
            (St::Suspended, L::Reinstate, before, Ok(St::Active)),
            (St::Suspended, L::Reinstate, after, Err("past expiry")),
            (St::Suspended, L::Revoke, before, Ok(St::Revoked)),
            (St::Suspended, L::Expire, after, Ok(St::Expired)),
            (St::Suspended, L::Suspend, before, Err("not allowed")),
        ];
        for (from, cmd, today, want) in cases {
            let got = licence_transition(from, cmd, expiry, today, "reason");
            match want {
                Ok(s) => assert_eq!(got, Ok(s), "{from} {cmd}"),
                Err("past expiry") => assert_eq!(got, Err(LicenceError::PastExpiry(expiry))),
                Err("not yet due") => assert_eq!(got, Err(LicenceError::NotYetDue(expiry))),
                Err(_) => assert!(
                    matches!(got, Err(LicenceError::NotAllowed { .. })),
                    "{from} {cmd}"
                ),
            }
        }
        for final_status in [St::Revoked, St::Expired, St::NotLicensed] {
            for &cmd in L::ALL {
                assert!(matches!(
                    licence_transition(final_status, cmd, expiry, before, "r"),
                    Err(LicenceError::NotAllowed { .. })
                ));
            }
        }
        assert_eq!(
            licence_transition(St::Active, L::Suspend, expiry, before, " "),
            Err(LicenceError::ReasonRequired)
        );
        assert_eq!(
            licence_transition(St::Active, L::Expire, expiry, after, ""),
            Ok(St::Expired)
        );
    }

    #[test]
    fn the_strongest_licence_shows_for_the_product() {
        use LicenceStatus as St;
        assert_eq!(product_licence_status(&[]), St::NotLicensed);
        assert_eq!(
            product_licence_status(&[St::Expired, St::Active, St::Revoked]),
            St::Active
        );
        assert_eq!(
            product_licence_status(&[St::Revoked, St::Suspended]),
            St::Suspended
        );
        assert_eq!(
            product_licence_status(&[St::Revoked, St::Expired]),
            St::Expired
        );
    }

    fn conditions() -> LicenceConditions {
        LicenceConditions {
            provinces: vec!["01".into(), "79".into()],
            facilities: vec![],
            pilot_only: true,
            monitoring_duties: "Báo cáo hằng quý".into(),
            monitoring_duties_en: String::new(),
            kpis: vec![KpiDuty {
                kpi: "tb_sensitivity".into(),
                target: 0.85,
            }],
            expires_on: date!(2027 - 12 - 31),
        }
    }

    #[test]
    fn conditions_validate_and_decide_where_a_deployment_may_go() {
        let today = date!(2026 - 11 - 23);
        let known = |p: &str| ["01", "79", "48"].contains(&p);
        assert_eq!(conditions().validate(today, known), Ok(()));
        let mut bad = conditions();
        bad.expires_on = today;
        bad.provinces.push("99".into());
        bad.kpis.push(KpiDuty {
            kpi: "Bad KPI".into(),
            target: f64::NAN,
        });
        let errors = bad.validate(today, known).unwrap_err();
        let codes: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            vec![
                ("expires_on", "not_in_future"),
                ("provinces", "unknown_province"),
                ("kpis[1].kpi", "invalid_code"),
                ("kpis[1].target", "not_a_number"),
            ]
        );
        let mut far = conditions();
        far.expires_on = date!(2040 - 01 - 01);
        assert_eq!(far.validate(today, known).unwrap_err()[0].code, "too_far");

        let c = conditions();
        assert!(c.allows("fac-1", "01", true));
        assert!(!c.allows("fac-1", "01", false), "pilot only");
        assert!(!c.allows("fac-1", "48", true), "province not listed");
        let mut one_site = conditions();
        one_site.facilities = vec!["fac-2".into()];
        assert!(!one_site.allows("fac-1", "01", true));
        assert!(one_site.allows("fac-2", "79", true));
    }

    #[test]
    fn conditions_round_trip_through_json() {
        let c = conditions();
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains(r#""expires_on":"2027-12-31""#), "{text}");
        let back: LicenceConditions = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn reference_numbers_are_zero_padded() {
        assert_eq!(reference_number("HS", 2026, 42), "HS-2026-000042");
    }
}
