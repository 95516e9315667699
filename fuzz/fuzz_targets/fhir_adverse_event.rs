//! HL7 FHIR R4 AdverseEvent intake (`POST /fhir/r4/AdverseEvent`): the pure mapping the
//! server calls, `vigilo_core::fhir::adverse_event_in`, on any JSON document, and the
//! narrative's XHTML both ways.
//!
//! Invariants: no panic; a document that is not an AdverseEvent gives exactly the
//! resourceType problem and no fields; seriousness, when read, is one of Vigilo's codes;
//! dates are at most ten characters; `xhtml_text` undoes `xhtml_escape` inside a `<div>`
//! for text without carriage returns or surrounding whitespace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use vigilo_core::fhir::{adverse_event_in, is_adverse_event, xhtml_escape, xhtml_text};
use vigilo_core::incident::Seriousness;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The narrative as markup (what another system may send in text.div).
    let _ = xhtml_text(&text);
    let plain: String = text
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .replace('\r', "");
    let plain = plain.trim();
    let div = format!(
        "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>{}</p></div>",
        xhtml_escape(plain)
    );
    assert_eq!(
        xhtml_text(&div),
        plain,
        "escape then text changed the narrative"
    );

    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (fields, problems) = adverse_event_in(&doc);
    if !is_adverse_event(&doc) {
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].expression, "AdverseEvent.resourceType");
        assert_eq!(fields, Default::default());
        return;
    }
    if !fields.seriousness.is_empty() {
        assert!(
            Seriousness::ALL
                .iter()
                .any(|s| s.code() == fields.seriousness),
            "seriousness {}",
            fields.seriousness
        );
    }
    for day in [&fields.occurred_on, &fields.aware_on]
        .into_iter()
        .flatten()
    {
        assert!(day.len() <= 10 || !day.is_char_boundary(10), "date {day}");
    }
    for p in &problems {
        assert!(p.expression.starts_with("AdverseEvent"));
    }
});
