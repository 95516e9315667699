//! FDA's raw MAUDE bulk files joined by report key
//! (`vigilo_core::public_reports::parse_maude_raw`): `foidev`, `foitext` and optionally
//! `patient`, pipe-delimited, as downloaded from FDA.
//!
//! The input is split on the byte 0xFF (never in UTF-8) into the three files; a missing
//! third part means no patient file. Invariants as for the other public-report targets,
//! and the unmatched counts never exceed the rows given.
#![no_main]

#[path = "../common/public.rs"]
mod public;

use libfuzzer_sys::fuzz_target;
use vigilo_core::incident::IncidentSource;
use vigilo_core::public_reports::parse_maude_raw;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0xFF);
    let (Some(dev), Some(text)) = (parts.next(), parts.next()) else {
        return;
    };
    let patient = parts.next();
    let (Ok(dev), Ok(text)) = (std::str::from_utf8(dev), std::str::from_utf8(text)) else {
        return;
    };
    let patient = match patient.map(std::str::from_utf8) {
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => return,
        None => None,
    };
    match parse_maude_raw(dev, text, patient) {
        Ok(import) => {
            assert!(import.unmatched_texts <= text.lines().count());
            assert!(import.unmatched_patients <= patient.map_or(0, |p| p.lines().count()));
            public::check(Ok(import.reports), IncidentSource::Maude);
        }
        Err(e) => public::check(Err(e), IncidentSource::Maude),
    }
});
