//! Monitoring period reports as CSV (`POST /api/v1/monitoring/reports` with `text/csv`, the
//! station's upload form, `vigilo send`): `parse_reports_csv`, then `check_report` on every
//! row; and the phased-rollout CSV (`parse_rollout_csv`).
//!
//! Invariants: no panic; a header problem is one message; row numbers are the spreadsheet's
//! (2 and up, increasing); every readable row then goes through the intake checks (see
//! `common/monitoring.rs`); rollout rows end after they go live.
#![no_main]

#[path = "../common/monitoring.rs"]
mod monitoring;

use libfuzzer_sys::fuzz_target;
use vigilo_core::monitoring::{parse_reports_csv, parse_rollout_csv};
use vigilo_core::period::PeriodKind;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rows) = parse_reports_csv(text) {
        for (i, row) in rows.iter().enumerate() {
            match row {
                Ok(input) => {
                    assert!(!input.deployment.is_empty() && !input.period.is_empty());
                    monitoring::check_row(input);
                }
                Err(e) => assert_eq!(e.row, i + 2),
            }
        }
    }
    let (rows, errors) = parse_rollout_csv(text, PeriodKind::Month);
    for r in &rows {
        assert!(r.row >= 2);
        if let Some(end) = r.end_date {
            assert!(
                end >= r.go_live,
                "rollout row ends before it goes live: {r:?}"
            );
        }
    }
    for e in &errors {
        let _ = e.to_string();
    }
});
