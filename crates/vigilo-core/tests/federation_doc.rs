//! The example item in `docs/federation.md` is a real one: it verifies against the key made
//! from the seed the note names, and its payload reads as an early warning. Keeps the note
//! true when the wire format changes.

use time::macros::datetime;
use time::Duration;
use vigilo_core::federation::{
    verify_item, EarlyWarning, ItemType, NodeKeys, TrustedPeers, VerifyPolicy,
};

#[test]
fn the_documented_example_item_verifies() {
    let doc = include_str!("../../../docs/federation.md");
    let start = doc.find("```json\n").expect("an example item") + "```json\n".len();
    let end = start + doc[start..].find("```").expect("its end");
    let keys = NodeKeys::from_seed(&[7; 32]);
    assert!(doc.contains(keys.key_id().as_str()));
    let mut pinned = TrustedPeers::new();
    pinned.pin(keys.public_key(), "VN".parse().unwrap());
    let policy = VerifyPolicy {
        now: datetime!(2026-12-07 03:00 UTC),
        max_future_skew: Duration::minutes(5),
        max_item_bytes: 64 * 1024,
        reader: "SG".parse().unwrap(),
    };
    let item = verify_item(&doc.as_bytes()[start..end], &pinned, &policy).unwrap();
    assert_eq!(item.item().item_type, ItemType::EarlyWarning);
    EarlyWarning::from_payload(&item.item().payload).unwrap();
    // The identity line shown is this key's.
    assert!(doc.contains(&keys.public_key().to_string()));
}
