//! Signed federation items (`verify_item`, `verify_item_value`): every item of a peer's feed.
//!
//! Two passes per input. First the bytes as received, against a pinned key: no panic, a
//! typed `VerifyError`. Then, so that the fuzzer reaches past the signature check, the
//! input's object (without its `signature`) is signed with the pinned key and verified: an
//! accepted item's wire form verifies again to the same item and digest, and its payload,
//! read as an early warning, and the sync rules do not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::LazyLock;
use time::macros::datetime;
use time::Duration;
use vigilo_core::federation::jcs::{canonical_bytes, parse_strict};
use vigilo_core::federation::{
    decide, verify_item, verify_item_value, CountryCode, EarlyWarning, NodeKeys, Stored,
    SyncDecision, TrustedPeers, VerifyPolicy,
};

static KEYS: LazyLock<NodeKeys> = LazyLock::new(|| NodeKeys::from_seed(&[7; 32]));

fn country(code: &str) -> CountryCode {
    code.parse().expect("a valid country code")
}

fn peers() -> TrustedPeers {
    let mut t = TrustedPeers::new();
    t.pin(KEYS.public_key(), country("VN"));
    t
}

fn policy() -> VerifyPolicy {
    VerifyPolicy {
        now: datetime!(2026-12-07 03:00 UTC),
        max_future_skew: Duration::minutes(5),
        max_item_bytes: 64 << 10,
        reader: country("SG"),
    }
}

fuzz_target!(|data: &[u8]| {
    let peers = peers();
    let policy = policy();
    if let Err(e) = verify_item(data, &peers, &policy) {
        let _ = e.to_string();
    }
    let Ok(Value::Object(mut object)) = parse_strict(data) else {
        return;
    };
    object.remove("signature");
    let Ok(content) = canonical_bytes(&Value::Object(object.clone())) else {
        return;
    };
    let signature = KEYS.sign(&content);
    let encoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
    };
    object.insert("signature".into(), Value::String(encoded));
    match verify_item_value(Value::Object(object), &peers, &policy) {
        Ok(verified) => {
            assert_eq!(verified.signature(), &signature);
            let again = verify_item(verified.wire(), &peers, &policy)
                .expect("the wire form of a verified item verifies");
            assert_eq!(again.item(), verified.item());
            assert_eq!(again.content_digest(), verified.content_digest());
            let _ = EarlyWarning::from_payload(&verified.item().payload);
            assert_eq!(decide(Stored::Nothing, &verified), SyncDecision::Insert);
            let same = Stored::Visible {
                version: verified.item().version,
                item_type: verified.item().item_type,
                content_digest: *verified.content_digest(),
            };
            assert_eq!(decide(same, &verified), SyncDecision::NoOp);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
