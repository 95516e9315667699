//! RFC 8785 canonical JSON (`vigilo_core::federation::jcs`): what federation signatures
//! cover, computed over JSON a peer sent.
//!
//! Invariants: no panic; `parse_strict` refuses what serde_json refuses; the canonical form
//! of an accepted value parses strictly again and is a fixed point; it is valid UTF-8 JSON
//! that serde_json reads to the same canonical form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vigilo_core::federation::jcs::{canonical_bytes, canonicalize, parse_strict};

fuzz_target!(|data: &[u8]| {
    let strict = parse_strict(data);
    if serde_json::from_slice::<Value>(data).is_err() {
        assert!(
            strict.is_err(),
            "parse_strict accepted what serde_json refuses"
        );
    }
    let Ok(value) = strict else {
        return;
    };
    let Ok(canonical) = canonicalize(&value) else {
        return;
    };
    assert_eq!(
        canonical_bytes(&value).ok(),
        Some(canonical.clone().into_bytes())
    );
    let again = parse_strict(canonical.as_bytes()).expect("canonical JSON parses strictly");
    assert_eq!(
        canonicalize(&again).as_deref(),
        Ok(canonical.as_str()),
        "canonical form is not a fixed point"
    );
    let loose: Value = serde_json::from_slice(canonical.as_bytes()).expect("canonical JSON parses");
    assert_eq!(canonicalize(&loose).as_deref(), Ok(canonical.as_str()));
});
