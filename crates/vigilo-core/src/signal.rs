//! Early warning signals: what a signal is about, how it was found, and the reviewer's
//! workflow (new, under review, confirmed, refuted). The statistics are `vigilo-stats`'s;
//! the job that runs them is the server's.

use crate::directory::{vocabulary, UnknownCode};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

vocabulary!(
    /// How a signal was found.
    SignalMethod, "signal method", {
        Disproportionality => ("disproportionality", "Bất cân xứng (PRR, ROR, IC, EBGM)", "Disproportionality (PRR, ROR, IC, EBGM)"),
        Rate => ("rate", "Tỷ lệ báo cáo trên lượt sử dụng (CUSUM Poisson)", "Reports per use (Poisson CUSUM)"),
        Cluster => ("cluster", "Cụm theo địa bàn và thời gian", "Cluster in space and time"),
    }
);

vocabulary!(
    /// Where a signal stands.
    SignalState, "signal state", {
        New => ("new", "Mới", "New"),
        UnderReview => ("under_review", "Đang xem xét", "Under review"),
        Confirmed => ("confirmed", "Đã xác nhận", "Confirmed"),
        Refuted => ("refuted", "Đã bác bỏ", "Refuted"),
    }
);

vocabulary!(
    /// What a reviewer does to a signal.
    SignalCommand, "signal action", {
        Review => ("review", "Bắt đầu xem xét", "Start review"),
        Confirm => ("confirm", "Xác nhận", "Confirm"),
        Refute => ("refute", "Bác bỏ", "Refute"),
        Reopen => ("reopen", "Mở lại", "Reopen"),
    }
);

vocabulary!(
    /// What a safety notice does.
    NoticeKind, "notice kind", {
        FieldSafetyNotice => ("field_safety_notice", "Thông báo an toàn", "Field safety notice"),
        Suspension => ("suspension", "Tạm đình chỉ sử dụng", "Suspension"),
    }
);

/// Safety notice references: `TBAT-2026-000004` (thông báo an toàn), one sequence a year.
pub fn notice_reference(year: i32, sequence: i64) -> String {
    format!("TBAT-{year}-{sequence:06}")
}

/// A command that does not apply to the signal's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {command} a signal that is {state}")]
pub struct SignalTransitionError {
    pub state: SignalState,
    pub command: SignalCommand,
}

/// The review workflow. A confirmed or refuted signal can be reopened when new reports
/// change the picture.
pub fn signal_transition(
    state: SignalState,
    command: SignalCommand,
) -> Result<SignalState, SignalTransitionError> {
    use SignalCommand as C;
    use SignalState as S;
    match (state, command) {
        (S::New, C::Review) => Ok(S::UnderReview),
        (S::New | S::UnderReview, C::Confirm) => Ok(S::Confirmed),
        (S::New | S::UnderReview, C::Refute) => Ok(S::Refuted),
        (S::Confirmed | S::Refuted, C::Reopen) => Ok(S::UnderReview),
        _ => Err(SignalTransitionError { state, command }),
    }
}

/// The commands that apply to a state, for the reviewer's buttons.
pub fn signal_commands(state: SignalState) -> Vec<SignalCommand> {
    SignalCommand::ALL
        .iter()
        .copied()
        .filter(|c| signal_transition(state, *c).is_ok())
        .collect()
}

/// The stable key of a signal: one signal per method, product (or version), event code and
/// region, so a daily run updates the signal it found yesterday instead of adding another.
pub fn signal_key(method: SignalMethod, product: &str, code: &str, region: &str) -> String {
    format!("{}|{product}|{code}|{region}", method.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_command_pair_has_a_defined_outcome() {
        use SignalCommand as C;
        use SignalState as S;
        let mut defined = 0;
        for &state in S::ALL {
            for &command in C::ALL {
                let got = signal_transition(state, command).ok();
                let want = match (state, command) {
                    (S::New, C::Review) => Some(S::UnderReview),
                    (S::New | S::UnderReview, C::Confirm) => Some(S::Confirmed),
                    (S::New | S::UnderReview, C::Refute) => Some(S::Refuted),
                    (S::Confirmed | S::Refuted, C::Reopen) => Some(S::UnderReview),
                    _ => None,
                };
                assert_eq!(got, want, "{state} {command}");
                defined += 1;
            }
        }
        assert_eq!(defined, 16);
        assert_eq!(
            signal_commands(SignalState::New),
            vec![C::Review, C::Confirm, C::Refute]
        );
        assert_eq!(signal_commands(SignalState::Confirmed), vec![C::Reopen]);
    }

    #[test]
    fn keys_are_stable_and_distinct() {
        let a = signal_key(SignalMethod::Cluster, "p1", "AI02", "01");
        assert_eq!(a, "cluster|p1|AI02|01");
        assert_ne!(a, signal_key(SignalMethod::Cluster, "p1", "AI02", "79"));
        assert_ne!(a, signal_key(SignalMethod::Rate, "p1", "AI02", "01"));
    }
}
