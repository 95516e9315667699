//! Conformance of GRN federation storage, on SQLite always and on PostgreSQL when
//! VIGILO_TEST_POSTGRES_URL names a server (CI sets it).
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::sync::Arc;
use time::macros::datetime;
use time::Duration;
use vigilo_core::clock::ManualClock;
use vigilo_core::federation::{
    sign_item, verify_item, Audience, ItemDraft, ItemType, NodeKeys, PeerIdentity, PinnedKeys,
    VerifiedItem, VerifyPolicy,
};
use vigilo_store::testing::TestDb;
use vigilo_store::{ItemRefusal, NewPublication, Store, StoreError};

vigilo_store::conformance!(
    identity_and_peers_are_pinned_removed_and_audited,
    published_items_are_signed_versioned_and_served_newest,
    received_pages_follow_decide_with_the_cursor,
    nonces_are_single_use_and_purged,
    outbound_record_lists_every_item_sent,
    sync_failures_back_off_and_success_resets,
);

async fn open_at(db: &TestDb) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-07 02:00 UTC)));
    let store = Store::connect_with_clock(&db.url, clock.clone())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (store, clock)
}

fn keys(n: u8) -> NodeKeys {
    NodeKeys::from_seed(&[n; 32])
}

fn identity(keys: &NodeKeys, country: &str, url: &str, name: &str) -> PeerIdentity {
    keys.identity(
        name.parse().unwrap(),
        country.parse().unwrap(),
        url.parse().unwrap(),
    )
}

fn vn() -> (NodeKeys, PeerIdentity) {
    let k = keys(7);
    let id = identity(
        &k,
        "VN",
        "https://vigilo.example.gov.vn",
        "Cục Hạ tầng và Thiết bị y tế",
    );
    (k, id)
}

fn sg() -> (NodeKeys, PeerIdentity) {
    let k = keys(9);
    let id = identity(
        &k,
        "SG",
        "https://vigilo.example.gov.sg",
        "Health Sciences Authority",
    );
    (k, id)
}

async fn identity_and_peers_are_pinned_removed_and_audited(db: &TestDb) {
    let (store, _) = open_at(db).await;
    let (_, me) = sg();
    let (_, peer) = vn();
    assert!(store.node_identity().await.unwrap().is_none());
    assert!(store.set_node_identity("test", &me).await.unwrap());
    assert!(
        !store.set_node_identity("test", &me).await.unwrap(),
        "unchanged"
    );
    assert_eq!(store.node_identity().await.unwrap(), Some(me.clone()));

    // Own key refused; a peer pinned once; a second live pin of the same key refused.
    assert!(matches!(
        store.add_peer("admin", &me).await,
        Err(StoreError::Invalid { .. })
    ));
    let p = store.add_peer("admin", &peer).await.unwrap();
    assert_eq!(p.key_id, peer.key_id().to_string());
    assert_eq!(p.country, "VN");
    assert_eq!(p.identity().unwrap(), peer);
    assert_eq!(p.cursor(), None);
    assert!(matches!(
        store.add_peer("admin", &peer).await,
        Err(StoreError::Conflict { .. })
    ));
    let pinned = store.pinned_keys().await.unwrap();
    let got = pinned.pinned(&peer.key_id()).unwrap();
    assert_eq!(got.key, peer.public_key);
    assert_eq!(got.country.as_str(), "VN");
    assert_eq!(store.list_peers(false).await.unwrap().len(), 1);
    assert!(store
        .peer_by_key(peer.key_id().as_str())
        .await
        .unwrap()
        .is_some());

    // Removed by a prefix of its key id: no longer pinned, kept in the list of all peers.
    assert!(matches!(
        store.remove_peer("admin", "abc").await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        store.remove_peer("admin", "00000000").await,
        Err(StoreError::NotFound { .. })
    ));
    let removed = store
        .remove_peer("admin", &peer.key_id().as_str()[..10])
        .await
        .unwrap();
    assert!(removed.removed_at.is_some());
    assert_eq!(removed.removed_by.as_deref(), Some("admin"));
    assert!(store.pinned_keys().await.unwrap().is_empty());
    assert!(store.list_peers(false).await.unwrap().is_empty());
    assert_eq!(store.list_peers(true).await.unwrap().len(), 1);
    // Pinned again after the admin checked a new line: a new row.
    let again = store.add_peer("admin", &peer).await.unwrap();
    assert_ne!(again.id, p.id);
    assert_eq!(store.list_peers(true).await.unwrap().len(), 2);

    let audit = store.list_audit(None, 50).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "federation.peer_add")
            .count(),
        2
    );
    assert!(actions.contains(&"federation.peer_remove"));
    assert!(actions.contains(&"federation.identity"));
    assert!(store.verify_audit().await.unwrap().first_break.is_none());
}

fn policy(reader: &str, now: time::OffsetDateTime) -> VerifyPolicy {
    VerifyPolicy {
        now,
        max_future_skew: Duration::minutes(5),
        max_item_bytes: 256 * 1024,
        reader: reader.parse().unwrap(),
    }
}

async fn published_items_are_signed_versioned_and_served_newest(db: &TestDb) {
    let (store, clock) = open_at(db).await;
    let (k, me) = vn();
    let publication = |id: &str, t: ItemType, audience: Audience, n: i64| NewPublication {
        item_type: t,
        id: id.parse().unwrap(),
        audience,
        payload: json!({"n": n}),
    };
    // No identity yet: nothing can be published.
    assert!(store
        .publish(
            "admin",
            &k,
            publication("a", ItemType::DirectoryEntry, Audience::Public, 1)
        )
        .await
        .is_err());
    store.set_node_identity("test", &me).await.unwrap();
    // Another key than the node's is refused.
    assert!(matches!(
        store
            .publish(
                "admin",
                &keys(1),
                publication("a", ItemType::DirectoryEntry, Audience::Public, 1)
            )
            .await,
        Err(StoreError::Invalid { .. })
    ));
    let a1 = store
        .publish(
            "admin",
            &k,
            publication("a", ItemType::DirectoryEntry, Audience::Public, 1),
        )
        .await
        .unwrap();
    let b1 = store
        .publish(
            "admin",
            &k,
            publication("b", ItemType::EarlyWarning, Audience::Members, 1),
        )
        .await
        .unwrap();
    clock.advance(Duration::minutes(1));
    let a2 = store
        .publish(
            "admin",
            &k,
            publication("a", ItemType::DirectoryEntry, Audience::Public, 2),
        )
        .await
        .unwrap();
    assert_eq!((a1.version, b1.version, a2.version), (1, 1, 2));
    assert!(a1.position < b1.position && b1.position < a2.position);
    assert_eq!(
        store
            .published_version(&"a".parse().unwrap())
            .await
            .unwrap(),
        Some(2)
    );
    // A new version keeps its type.
    assert!(matches!(
        store
            .publish(
                "admin",
                &k,
                publication("a", ItemType::EarlyWarning, Audience::Public, 3)
            )
            .await,
        Err(StoreError::Invalid { .. })
    ));

    // The feed serves the newest version of each id, in position order, and pages.
    let page = store.feed_rows(None, 100).await.unwrap();
    let ids: Vec<(&str, i64)> = page
        .rows
        .iter()
        .map(|r| (r.item_id.as_str(), r.version))
        .collect();
    assert_eq!(ids, vec![("b", 1), ("a", 2)]);
    assert_eq!(page.next, a2.position as u64);
    let first = store.feed_rows(None, 1).await.unwrap();
    assert_eq!(first.rows.len(), 1);
    assert_eq!(first.next, b1.position as u64);
    let rest = store.feed_rows(Some(first.next), 10).await.unwrap();
    assert_eq!(rest.rows.len(), 1);
    let empty = store.feed_rows(Some(rest.next), 10).await.unwrap();
    assert!(empty.rows.is_empty());
    assert_eq!(empty.next, rest.next);

    // What is served verifies against the node's key, and its audience is stored.
    let mut pinned = vigilo_core::federation::TrustedPeers::new();
    pinned.pin_identity(&me);
    let v = verify_item(
        page.rows[1].wire.as_bytes(),
        &pinned,
        &policy("SG", clock.now_at()),
    )
    .unwrap();
    assert_eq!(v.item().version, 2);
    assert_eq!(v.item().payload, json!({"n": 2}));
    assert_eq!(hex::encode(v.content_digest()), page.rows[1].content_digest);
    assert_eq!(page.rows[0].audience().unwrap(), Audience::Members);

    // A retraction is the next version, same audience; nothing after it.
    let r = store
        .retract("admin", &k, &"b".parse().unwrap(), "sent in error")
        .await
        .unwrap();
    assert_eq!((r.item_type.as_str(), r.version), ("retraction", 2));
    assert_eq!(r.audience().unwrap(), Audience::Members);
    assert!(store
        .publish(
            "admin",
            &k,
            publication("b", ItemType::EarlyWarning, Audience::Members, 3)
        )
        .await
        .is_err());
    assert!(matches!(
        store
            .retract("admin", &k, &"nothing".parse().unwrap(), "x")
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let page = store.feed_rows(None, 100).await.unwrap();
    let ids: Vec<(&str, &str)> = page
        .rows
        .iter()
        .map(|r| (r.item_id.as_str(), r.item_type.as_str()))
        .collect();
    assert_eq!(ids, vec![("a", "directory_entry"), ("b", "retraction")]);
    assert_eq!(store.published_items(None, 10).await.unwrap().len(), 4);
    let audit = store.list_audit(None, 50).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "federation.publish")
            .count(),
        4
    );
}

trait NowAt {
    fn now_at(&self) -> time::OffsetDateTime;
}
impl NowAt for ManualClock {
    fn now_at(&self) -> time::OffsetDateTime {
        vigilo_core::Clock::now(self)
    }
}

fn signed(
    k: &NodeKeys,
    country: &str,
    id: &str,
    version: u64,
    t: ItemType,
    payload: serde_json::Value,
) -> Vec<u8> {
    sign_item(
        k,
        ItemDraft {
            item_type: t,
            id: id.parse().unwrap(),
            version,
            issued_at: datetime!(2026-12-07 01:00 UTC),
            country: country.parse().unwrap(),
            audience: Audience::Members,
            payload,
        },
    )
    .unwrap()
    .wire
}

async fn received_pages_follow_decide_with_the_cursor(db: &TestDb) {
    let (store, clock) = open_at(db).await;
    let (_, me) = sg();
    let (vk, vn_id) = vn();
    store.set_node_identity("test", &me).await.unwrap();
    let peer = store.add_peer("admin", &vn_id).await.unwrap();
    let pinned = store.pinned_keys().await.unwrap();
    let pol = policy("SG", clock.now_at());
    let verified = |wire: Vec<u8>| -> VerifiedItem { verify_item(&wire, &pinned, &pol).unwrap() };
    let ew1 = verified(signed(
        &vk,
        "VN",
        "ew-1",
        1,
        ItemType::EarlyWarning,
        json!({"s": 1}),
    ));
    let de1 = verified(signed(
        &vk,
        "VN",
        "de-1",
        1,
        ItemType::DirectoryEntry,
        vigilo_core::federation::SharedDirectoryEntry::new("LaoScan", "LaoScan Ltd").to_payload(),
    ));
    let refusal = ItemRefusal {
        position: Some(3),
        item_id: Some("forged".into()),
        key_id: None,
        reason: "the item's signature does not verify".into(),
    };
    let out = store
        .apply_feed_page(
            &peer.id,
            None,
            3,
            &[(1, ew1.clone()), (2, de1.clone())],
            std::slice::from_ref(&refusal),
        )
        .await
        .unwrap();
    assert_eq!((out.inserted, out.refused), (2, 1));
    let p = store.peer(&peer.id).await.unwrap().unwrap();
    assert_eq!(p.cursor(), Some(3));
    assert!(p.last_success_at.is_some());
    let got = store
        .received_items(&[ItemType::EarlyWarning], false, 10)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].item_id, "ew-1");
    assert_eq!(got[0].wire.as_bytes(), ew1.wire(), "exact wire bytes kept");
    assert_eq!(got[0].peer_name, "Cục Hạ tầng và Thiết bị y tế");
    assert_eq!(got[0].origin_country, "VN");
    assert_eq!(store.received_items(&[], false, 10).await.unwrap().len(), 2);

    // The cursor must be where the job read from, else nothing is applied.
    let ew2 = verified(signed(
        &vk,
        "VN",
        "ew-1",
        2,
        ItemType::EarlyWarning,
        json!({"s": 2}),
    ));
    assert!(matches!(
        store
            .apply_feed_page(&peer.id, None, 4, &[(4, ew2.clone())], &[])
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        store
            .received_items(&[ItemType::EarlyWarning], false, 10)
            .await
            .unwrap()[0]
            .version,
        1
    );

    // Resend: no-op; newer: replaced; same version other content: refused; older: refused;
    // type change: refused.
    let conflict = verified(signed(
        &vk,
        "VN",
        "de-1",
        1,
        ItemType::DirectoryEntry,
        json!({"other": true}),
    ));
    let type_change = verified(signed(
        &vk,
        "VN",
        "de-1",
        2,
        ItemType::EarlyWarning,
        json!({}),
    ));
    let out = store
        .apply_feed_page(
            &peer.id,
            Some(3),
            9,
            &[
                (4, de1.clone()),
                (5, ew2.clone()),
                (6, conflict),
                (7, ew1.clone()),
                (8, type_change),
            ],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (out.unchanged, out.replaced, out.refused, out.inserted),
        (1, 1, 3, 0)
    );
    let ew = store
        .received_items(&[ItemType::EarlyWarning], false, 10)
        .await
        .unwrap();
    assert_eq!(ew[0].version, 2);
    let de = store
        .received_items(&[ItemType::DirectoryEntry], false, 10)
        .await
        .unwrap();
    assert_eq!(de[0].wire.as_bytes(), de1.wire(), "the stored one stays");

    // A retraction hides; a retraction of something never seen is a tombstone.
    let retract = verified(signed(
        &vk,
        "VN",
        "ew-1",
        3,
        ItemType::Retraction,
        json!({"reason": "x"}),
    ));
    let tombstone = verified(signed(
        &vk,
        "VN",
        "ew-9",
        2,
        ItemType::Retraction,
        json!({"reason": "x"}),
    ));
    let late = verified(signed(
        &vk,
        "VN",
        "ew-9",
        1,
        ItemType::EarlyWarning,
        json!({}),
    ));
    let out = store
        .apply_feed_page(
            &peer.id,
            Some(9),
            12,
            &[(10, retract), (11, tombstone), (12, late)],
            &[],
        )
        .await
        .unwrap();
    assert_eq!((out.hidden, out.refused), (2, 1));
    assert!(store
        .received_items(&[ItemType::EarlyWarning], false, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.received_items(&[], true, 10).await.unwrap().len(), 3);

    let refusals = store.list_refusals(100).await.unwrap();
    assert_eq!(refusals.len(), 5);
    assert!(refusals
        .iter()
        .all(|r| r.kind == "item" && r.peer_id.as_deref() == Some(peer.id.as_str())));
    assert!(refusals
        .iter()
        .any(|r| r.item_id.as_deref() == Some("forged")));
    assert!(refusals.iter().any(|r| r.reason.contains("other content")));

    // A removed peer's cursor no longer moves.
    store
        .remove_peer("admin", peer.key_id.as_str())
        .await
        .unwrap();
    assert!(matches!(
        store
            .apply_feed_page(&peer.id, Some(12), 13, &[], &[])
            .await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn nonces_are_single_use_and_purged(db: &TestDb) {
    let (store, clock) = open_at(db).await;
    let expires = clock.now_at() + Duration::minutes(10);
    assert!(store
        .use_nonce("k1", "nonce-aaaaaaaaaaaa", expires)
        .await
        .unwrap());
    assert!(!store
        .use_nonce("k1", "nonce-aaaaaaaaaaaa", expires)
        .await
        .unwrap());
    assert!(store
        .use_nonce("k2", "nonce-aaaaaaaaaaaa", expires)
        .await
        .unwrap());
    assert_eq!(store.purge_nonces().await.unwrap(), 0);
    clock.advance(Duration::minutes(11));
    assert_eq!(store.purge_nonces().await.unwrap(), 2);
}

async fn outbound_record_lists_every_item_sent(db: &TestDb) {
    let (store, clock) = open_at(db).await;
    let (k, me) = vn();
    store.set_node_identity("test", &me).await.unwrap();
    let a = store
        .publish(
            "admin",
            &k,
            NewPublication {
                item_type: ItemType::DirectoryEntry,
                id: "a".parse().unwrap(),
                audience: Audience::Public,
                payload: json!({}),
            },
        )
        .await
        .unwrap();
    store
        .record_outbound(vigilo_store::ANONYMOUS_RECIPIENT, None, &[&a])
        .await
        .unwrap();
    clock.advance(Duration::hours(1));
    let since = clock.now_at();
    store
        .record_outbound("fe812c12f3ab4ce6ac5db69ac352f906", Some("SG"), &[&a])
        .await
        .unwrap();
    store.record_outbound("x", None, &[]).await.unwrap();
    let all = store.outbound_records(None, 100).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].recipient, "anonymous");
    assert_eq!(all[1].recipient_country.as_deref(), Some("SG"));
    assert_eq!((all[1].item_id.as_str(), all[1].version), ("a", 1));
    let later = store.outbound_records(Some(since), 100).await.unwrap();
    assert_eq!(later.len(), 1);
}

async fn sync_failures_back_off_and_success_resets(db: &TestDb) {
    let (store, clock) = open_at(db).await;
    let (_, vn_id) = vn();
    let peer = store.add_peer("admin", &vn_id).await.unwrap();
    assert_eq!(store.peers_due().await.unwrap().len(), 1);
    let n = store
        .record_sync_failure(
            &peer.id,
            "connection refused",
            clock.now_at() + Duration::minutes(2),
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(store.peers_due().await.unwrap().is_empty());
    clock.advance(Duration::minutes(3));
    assert_eq!(store.peers_due().await.unwrap().len(), 1);
    let n = store
        .record_sync_failure(&peer.id, "timeout", clock.now_at())
        .await
        .unwrap();
    assert_eq!(n, 2);
    let p = store.peer(&peer.id).await.unwrap().unwrap();
    assert_eq!(p.last_error.as_deref(), Some("timeout"));
    store
        .apply_feed_page(&peer.id, None, 0, &[], &[])
        .await
        .unwrap();
    let p = store.peer(&peer.id).await.unwrap().unwrap();
    assert_eq!((p.failures, p.cursor()), (0, Some(0)));
    assert!(p.last_error.is_none() && p.next_attempt_at.is_none());
    assert!(matches!(
        store
            .record_sync_failure("nobody", "x", clock.now_at())
            .await,
        Err(StoreError::NotFound { .. })
    ));
}
