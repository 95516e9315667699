//! The IMDRF adverse-event terminology CSV (`vigilo_core::codes::parse_imdrf`), imported
//! by `vigilo import imdrf` from the operator's export of IMDRF's annex tables.
//!
//! Invariants: no panic; an error is a typed `ImdrfError` that displays; on success codes
//! are unique, each starts with its annex letter (A to G), and every parent is a code of
//! the same file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use vigilo_core::codes::parse_imdrf;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_imdrf(text) {
        Ok(terms) => {
            let codes: HashSet<&str> = terms.iter().map(|t| t.code.as_str()).collect();
            assert_eq!(codes.len(), terms.len(), "a code twice");
            for t in &terms {
                assert!(('A'..='G').contains(&t.annex), "annex {}", t.annex);
                assert!(
                    t.code.starts_with(t.annex),
                    "{} not in annex {}",
                    t.code,
                    t.annex
                );
                if let Some(p) = &t.parent {
                    assert!(
                        codes.contains(p.as_str()),
                        "parent {p} of {} missing",
                        t.code
                    );
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
