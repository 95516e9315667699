//! Signed requests between nodes (RFC 9421 subset, `verify_request`): the `Signature-Input`,
//! `Signature` and `Content-Digest` headers of any request to `/federation/v1/feed`.
//!
//! The input is split on 0xFF into: Signature-Input, Signature, Content-Digest, method,
//! authority, path, query (absent when there is no sixth separator), body. Invariants:
//! verifying the received headers never panics and errs with a typed `RequestError`; the
//! header parsers alone never panic; and a request over the same parts signed with a pinned
//! key verifies (once: the nonce is then spent), while the same headers over another body
//! do not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::sync::LazyLock;
use time::{Duration, OffsetDateTime};
use vigilo_core::federation::request::{parse_signature, parse_signature_input};
use vigilo_core::federation::{
    sign_request, verify_request, CountryCode, HttpRequest, KeyId, NodeKeys, RequestError,
    TrustedPeers,
};

static KEYS: LazyLock<NodeKeys> = LazyLock::new(|| NodeKeys::from_seed(&[9; 32]));
const NOW: i64 = 1_796_612_400; // 2026-12-07 03:00 UTC
const NONCE: &str = "fuzz-nonce-0123456789";

fn peers() -> TrustedPeers {
    let mut t = TrustedPeers::new();
    t.pin(
        KEYS.public_key(),
        "VN".parse::<CountryCode>().expect("country"),
    );
    t
}

fn text(part: Option<&[u8]>) -> &str {
    part.and_then(|p| std::str::from_utf8(p).ok()).unwrap_or("")
}

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.split(|&b| b == 0xFF).collect();
    let at = |i: usize| parts.get(i).copied();
    let (input, signature, digest) = (text(at(0)), text(at(1)), text(at(2)));
    let method = text(at(3));
    let authority = text(at(4));
    let path = text(at(5));
    let query = at(6).map(|q| text(Some(q)));
    let body = at(7).unwrap_or(b"");
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("a valid time");
    let peers = peers();

    let _ = parse_signature_input(input, "vigilo");
    let _ = parse_signature(signature, "vigilo");
    let received = [
        ("signature-input", input),
        ("signature", signature),
        ("content-digest", digest),
    ];
    let req = HttpRequest {
        method,
        authority,
        path,
        query,
        headers: &received,
        body,
    };
    let mut seen = HashSet::new();
    let mut nonces = |k: &KeyId, n: &str, _c: i64| seen.insert((k.to_string(), n.to_string()));
    if let Err(e) = verify_request(&req, &peers, now, Duration::minutes(5), &mut nonces) {
        let _ = e.to_string();
    }

    let unsigned = HttpRequest {
        headers: &[],
        ..req
    };
    let Ok(signed) = sign_request(&KEYS, &unsigned, NOW, NONCE) else {
        return;
    };
    let mut headers = vec![
        ("signature-input", signed.signature_input.as_str()),
        ("signature", signed.signature.as_str()),
    ];
    if let Some(d) = &signed.content_digest {
        headers.push(("content-digest", d.as_str()));
    }
    let req = HttpRequest {
        headers: &headers,
        ..unsigned
    };
    let mut seen = HashSet::new();
    let mut nonces = |k: &KeyId, n: &str, _c: i64| seen.insert((k.to_string(), n.to_string()));
    let ok = verify_request(&req, &peers, now, Duration::minutes(5), &mut nonces)
        .expect("a request signed with a pinned key verifies");
    assert_eq!(ok.key_id, KEYS.key_id());
    assert_eq!(ok.created, NOW);
    assert_eq!(
        verify_request(&req, &peers, now, Duration::minutes(5), &mut nonces),
        Err(RequestError::Replayed)
    );
    if !body.is_empty() {
        let other = [body, b"!"].concat();
        let tampered = HttpRequest {
            body: &other,
            ..req
        };
        let mut fresh = |_: &KeyId, _: &str, _: i64| true;
        assert!(verify_request(&tampered, &peers, now, Duration::minutes(5), &mut fresh).is_err());
    }
});
