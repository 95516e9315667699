//! Monitoring period reports as JSON (`POST /api/v1/monitoring/reports`): the batch
//! (`{"reports": [...]}` or a bare array) read the way the server reads it, each element
//! deserialised into `ReportInput` and checked with `check_report`.
//!
//! Invariants: no panic; every row that deserialises goes through the intake checks (see
//! `common/monitoring.rs`); a row that serialises back reads back the same.
#![no_main]

#[path = "../common/monitoring.rs"]
mod monitoring;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vigilo_core::monitoring::ReportInput;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let rows = match batch {
        Value::Object(mut o) => match o.remove("reports") {
            Some(Value::Array(rows)) => rows,
            _ => return,
        },
        Value::Array(rows) => rows,
        _ => return,
    };
    for v in rows {
        let Ok(input) = serde_json::from_value::<ReportInput>(v) else {
            continue;
        };
        monitoring::check_row(&input);
        if let Ok(json) = serde_json::to_string(&input) {
            if input.latency_p50_ms.is_none_or(f64::is_finite)
                && input.latency_p95_ms.is_none_or(f64::is_finite)
            {
                let back: ReportInput = serde_json::from_str(&json).expect("a row reads back");
                assert_eq!(back, input);
            }
        }
    }
});
