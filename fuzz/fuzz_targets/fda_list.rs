//! FDA's list of AI-enabled devices, XML or CSV (`vigilo_core::fda_list`): a file the
//! operator downloads and imports.
//!
//! Invariants: no panic; an error is typed and displays; every entry's submission number
//! parses back to itself and its kind is consistent; the format detector agrees with the
//! first significant byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigilo_core::fda_list::{detect_format, parse_fda_ai_list, SubmissionNumber};

fuzz_target!(|data: &[u8]| {
    let _ = detect_format(data);
    match parse_fda_ai_list(data) {
        Ok(entries) => {
            for e in &entries {
                let n = SubmissionNumber::parse(e.submission_number.as_str())
                    .expect("an accepted submission number parses again");
                assert_eq!(n, e.submission_number);
                assert_eq!(n.kind(), e.submission_number.kind());
                let _ = e.decision_date_iso();
            }
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = e.line();
        }
    }
});
