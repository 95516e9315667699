//! Shared checks of the public-report targets (included with `#[path]`).

use std::collections::HashSet;
use vigilo_core::incident::{IncidentSource, ReporterKind};
use vigilo_core::public_reports::{PublicReport, PublicReportError};

/// Every report has an id, unique in the file, the source asked for, and is filed as taken
/// from a publication; an error displays and says where it is without panicking.
pub fn check(result: Result<Vec<PublicReport>, PublicReportError>, source: IncidentSource) {
    match result {
        Ok(reports) => {
            let mut seen = HashSet::new();
            for r in &reports {
                assert!(!r.external_id.trim().is_empty(), "report without id: {r:?}");
                assert!(
                    seen.insert(r.external_id.clone()),
                    "id twice: {}",
                    r.external_id
                );
                assert_eq!(r.source, source);
                assert_eq!(r.reporter_kind, ReporterKind::PublicSource);
            }
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = e.at().map(|at| at.to_string());
        }
    }
}
