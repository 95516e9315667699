//! De-identification of incident narratives (`vigilo_core::scrub`): any text, from anyone.
//!
//! Invariants: findings are sorted, non-overlapping, non-empty and on char boundaries; the
//! scrubbed text is exactly the input with each finding replaced by its placeholder;
//! scrubbing is idempotent; no run of nine or more digits survives; a planted 12-digit CCCD
//! never appears in the output, whatever surrounds it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigilo_core::scrub::{scrub, Scrubbed};

const PLANTED: &str = "079203001234";

fn check(text: &str) -> Scrubbed {
    let s = scrub(text);
    let mut at = 0;
    let mut rebuilt = String::new();
    for f in &s.findings {
        assert!(f.start < f.end, "empty finding {f:?} in {text:?}");
        assert!(
            at <= f.start,
            "overlapping or unsorted findings in {text:?}"
        );
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        rebuilt.push_str(&text[at..f.start]);
        rebuilt.push_str(f.kind.placeholder());
        at = f.end;
    }
    assert!(at <= text.len());
    rebuilt.push_str(&text[at..]);
    assert_eq!(
        s.text, rebuilt,
        "scrubbed text is not the input with placeholders"
    );
    let again = scrub(&s.text);
    assert_eq!(again.text, s.text, "scrub is not idempotent on {text:?}");
    for run in s.text.split(|c: char| !c.is_ascii_digit()) {
        assert!(run.len() < 9, "digit run {run} survived in {:?}", s.text);
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&text);
    let (a, b) = text.split_at(text.floor_char_boundary(text.len() / 2));
    let planted = format!("{a} CCCD {PLANTED} {b}");
    let s = check(&planted);
    assert!(
        !s.text.contains(PLANTED),
        "planted CCCD survived: {:?}",
        s.text
    );
});
