//! The MAUDE master-record extract CSV importer (`vigilo_core::public_reports::parse_maude_extract`), run by
//! `vigilo import` on a file the operator downloaded.
//!
//! Invariants: no panic; an error is a typed `PublicReportError` that displays; on success
//! every report has a non-empty id, unique in the file, the right source, and is filed as
//! taken from a publication.
#![no_main]

#[path = "../common/public.rs"]
mod public;

use libfuzzer_sys::fuzz_target;
use vigilo_core::incident::IncidentSource;
use vigilo_core::public_reports::parse_maude_extract;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    public::check(parse_maude_extract(text), IncidentSource::Maude);
});
