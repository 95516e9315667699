//! Shared checks of the monitoring batch targets (included with `#[path]`).

use time::macros::date;
use vigilo_core::monitoring::{
    check_report, Declaration, DeploymentFacts, DeploymentStatus, ReportInput,
    DEFAULT_BASELINE_MONTHS,
};
use vigilo_core::period::PeriodKind;

/// Checks one row against an active monthly deployment with the standard declaration, the
/// way `POST /api/v1/monitoring/reports` does. A report that passes keeps its counts, sums
/// consistently and has the declared histogram; a refusal lists at least one problem, in
/// both languages.
pub fn check_row(input: &ReportInput) {
    let declaration = Declaration::standard();
    for frequency in [PeriodKind::Month, PeriodKind::Quarter] {
        let facts = DeploymentFacts {
            frequency,
            go_live: date!(2026 - 03 - 01),
            end_date: None,
            status: DeploymentStatus::Active,
            declaration: &declaration,
            baseline_months: DEFAULT_BASELINE_MONTHS,
        };
        match check_report(input, &facts, date!(2026 - 12 - 07)) {
            Ok(report) => {
                assert_eq!(report.uses as i128, i128::from(input.uses));
                assert_eq!(report.positives as i128, i128::from(input.positives));
                assert!(report.positives <= report.uses);
                if let Some(v) = report.verified {
                    assert!(v.tp + v.fp <= report.positives);
                }
                assert!(report
                    .mix
                    .keys()
                    .all(|m| declaration.mix_named(m).is_some()));
            }
            Err(problems) => {
                assert!(!problems.is_empty(), "refused without a problem");
                for p in &problems {
                    assert!(!p.message.is_empty() && !p.message_vi.is_empty());
                }
            }
        }
    }
}
