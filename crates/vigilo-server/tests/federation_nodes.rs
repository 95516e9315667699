//! Three GRN nodes (VN, SG, GB) on loopback, each a real server over its own database,
//! introduced to each other: what VN publishes reaches the others by the sync job's pull,
//! each sees only what is addressed to it, a retraction hides; then a misbehaving peer (a
//! small fake feed on loopback) serves a forged item, a tampered payload, an unknown signer's
//! item and one addressed to another country, each refused, logged and not stored, and bad
//! pages (cursor backwards, malformed, too large, too slow) that back that peer off without
//! stopping the others.
#![allow(clippy::unwrap_used)]

use axum::http::HeaderMap;
use axum::routing::get;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::macros::date;
use vigilo_core::directory::{AiKind, InputModality};
use vigilo_core::federation::{
    compose_early_warning, sign_item, sign_request, Audience, CountryCode, HttpRequest, ItemDraft,
    ItemType, NodeKeys, PeerIdentity, ReportStage, SeriousnessCounts, WarningInput, WarningProduct,
};
use vigilo_core::incident::Seriousness;
use vigilo_core::suppression::SuppressionRule;
use vigilo_server::federation::{sync_client, sync_peers, FederationConfig, FEED_PATH};
use vigilo_store::NewPublication;
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(
    three_nodes_exchange_warnings_and_refuse_what_they_must,
    the_scheduled_job_pulls_peers,
);

/// The job scheduler runs `federation-sync` at the configured interval.
async fn the_scheduled_job_pulls_peers(backend: Backend) {
    let Some(vn) = TestServer::start_node(backend, 7, "VN", "Cục HTTBYT").await else {
        return;
    };
    let sg = TestServer::start_node_with(backend, 9, "SG", "HSA", |mut c| {
        c.run_jobs = true;
        c.federation.sync_interval = time::Duration::seconds(1);
        c
    })
    .await
    .unwrap();
    vn.pin(&sg).await;
    sg.pin(&vn).await;
    publish(
        &vn,
        "VN-EW-1",
        ItemType::EarlyWarning,
        Audience::Members,
        early_warning(),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..40 {
        got = received(&sg).await;
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(got, vec![("VN".into(), "VN-EW-1".into(), 1)]);
    sg.stop().await;
    vn.stop().await;
}

fn country(c: &str) -> CountryCode {
    c.parse().unwrap()
}

fn early_warning() -> Value {
    compose_early_warning(
        &WarningInput {
            reference: "VN-EW-2026-000004".into(),
            stage: ReportStage::Initial,
            product: WarningProduct {
                name: "TrợLý Sức Khỏe".into(),
                manufacturer: "Công ty ABC".into(),
                versions: vec!["2.1.0".into(), "2.1.1".into()],
                input_modality: InputModality::Text,
                ai_kind: Some(AiKind::Generative),
            },
            imdrf_codes: vec!["A0908".into(), "F10".into()],
            ai_codes: vec!["AI02".into()],
            counts: SeriousnessCounts::tally(
                std::iter::repeat_n(Seriousness::Malfunction, 9)
                    .chain(std::iter::repeat_n(Seriousness::SeriousInjury, 3))
                    .chain(std::iter::repeat_n(Seriousness::OtherInjury, 2)),
            ),
            period_from: date!(2026 - 11 - 01),
            period_to: date!(2026 - 11 - 30),
            summary: "The assistant advised paracetamol doses above the maximum daily dose in versions 2.1.x; 14 reports from 4 provinces.".into(),
            recommendation: "Check deployments of 2.1.0 and 2.1.1; the manufacturer's fix is 2.1.2.".into(),
            actions_taken: vec![],
            countries_concerned: vec![country("SG"), country("VN")],
        },
        SuppressionRule::default(),
    )
    .unwrap()
    .to_payload()
}

async fn publish(s: &TestServer, id: &str, t: ItemType, audience: Audience, payload: Value) {
    s.store
        .publish(
            "test",
            &s.node.as_ref().unwrap().keys,
            NewPublication {
                item_type: t,
                id: id.parse().unwrap(),
                audience,
                payload,
            },
        )
        .await
        .unwrap();
}

fn quick(s: &TestServer) -> FederationConfig {
    FederationConfig {
        fetch_timeout: Duration::from_secs(1),
        max_response_bytes: 64 * 1024,
        sync_interval: time::Duration::seconds(1),
        max_backoff: time::Duration::seconds(1),
        page_limit: 2,
        ..s.federation_config()
    }
}

async fn sync(s: &TestServer) -> vigilo_server::federation::SyncSummary {
    let config = quick(s);
    let client = sync_client(&config).unwrap();
    sync_peers(&s.store, &config, &client).await.unwrap()
}

async fn received(s: &TestServer) -> Vec<(String, String, i64)> {
    let mut v: Vec<_> = s
        .store
        .received_items(&[], false, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.origin_country, r.item_id, r.version))
        .collect();
    v.sort();
    v
}

/// What the fake peer answers.
#[derive(Clone)]
enum Answer {
    /// A feed: the entries after the cursor asked for.
    Feed(Vec<(u64, Value)>),
    /// These bytes, whatever was asked.
    Page(String),
    Slow,
}

/// A misbehaving peer: serves whatever the test sets, and notes the signature it was sent.
async fn fake_peer(answer: Arc<Mutex<Answer>>, seen: Arc<Mutex<Vec<String>>>) -> String {
    let app = axum::Router::new().route(
        FEED_PATH,
        get(move |headers: HeaderMap, uri: axum::http::Uri| {
            let answer = answer.lock().unwrap().clone();
            let after: u64 = uri
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("after="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let seen = seen.clone();
            async move {
                if let Some(v) = headers.get("signature-input") {
                    seen.lock().unwrap().push(v.to_str().unwrap().to_string());
                }
                match answer {
                    Answer::Feed(entries) => {
                        let after_it: Vec<(u64, Value)> =
                            entries.into_iter().filter(|(p, _)| *p > after).collect();
                        let next = after_it.last().map(|(p, _)| *p).unwrap_or(after);
                        page(&after_it, next)
                    }
                    Answer::Page(body) => body,
                    Answer::Slow => {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        "{\"items\":[],\"next\":0}".to_string()
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn draft(id: &str, from: &str, audience: Audience, payload: Value) -> ItemDraft {
    ItemDraft {
        item_type: ItemType::EarlyWarning,
        id: id.parse().unwrap(),
        version: 1,
        issued_at: time::macros::datetime!(2026-12-01 00:00 UTC),
        country: country(from),
        audience,
        payload,
    }
}

fn page(entries: &[(u64, Value)], next: u64) -> String {
    let items: Vec<Value> = entries
        .iter()
        .map(|(p, item)| json!({"position": p, "item": item}))
        .collect();
    json!({"items": items, "next": next}).to_string()
}

async fn three_nodes_exchange_warnings_and_refuse_what_they_must(backend: Backend) {
    let Some(vn) = TestServer::start_node(backend, 7, "VN", "Cục Hạ tầng và Thiết bị y tế").await
    else {
        return;
    };
    let sg = TestServer::start_node(backend, 9, "SG", "Health Sciences Authority")
        .await
        .unwrap();
    let gb = TestServer::start_node(backend, 5, "GB", "MHRA")
        .await
        .unwrap();
    // Introduced to each other: each admin pins the two others' lines.
    for (a, b) in [
        (&vn, &sg),
        (&vn, &gb),
        (&sg, &vn),
        (&sg, &gb),
        (&gb, &vn),
        (&gb, &sg),
    ] {
        a.pin(b).await;
    }

    // VN publishes a public directory entry, a members' early warning, and a warning for
    // the UK only.
    publish(
        &vn,
        "VN-DIR-000017",
        ItemType::DirectoryEntry,
        Audience::Public,
        vigilo_core::federation::SharedDirectoryEntry::new("TrợLý Sức Khỏe", "Công ty ABC")
            .to_payload(),
    )
    .await;
    publish(
        &vn,
        "VN-EW-2026-000004",
        ItemType::EarlyWarning,
        Audience::Members,
        early_warning(),
    )
    .await;
    publish(
        &vn,
        "VN-EW-2026-000005",
        ItemType::EarlyWarning,
        Audience::countries([country("GB")]).unwrap(),
        json!({"summary": "For the MHRA only."}),
    )
    .await;

    let s = sync(&sg).await;
    assert_eq!(
        (s.peers, s.failed, s.inserted, s.refused),
        (2, 0, 2, 0),
        "{s}"
    );
    assert_eq!(
        received(&sg).await,
        vec![
            ("VN".into(), "VN-DIR-000017".into(), 1),
            ("VN".into(), "VN-EW-2026-000004".into(), 1)
        ]
    );
    let s = sync(&gb).await;
    assert_eq!((s.inserted, s.failed), (3, 0), "{s}");
    // The exact bytes VN signed are what SG stored.
    let vn_wire = vn.store.feed_rows(None, 10).await.unwrap().rows[1]
        .wire
        .clone();
    let sg_got = sg
        .store
        .received_items(&[ItemType::EarlyWarning], false, 10)
        .await
        .unwrap();
    assert_eq!(sg_got[0].wire, vn_wire);
    assert_eq!(sg_got[0].peer_name, "Cục Hạ tầng và Thiết bị y tế");
    // A second pull finds nothing new; the cursor is where VN's feed ends.
    let s = sync(&sg).await;
    assert_eq!((s.inserted, s.unchanged, s.failed), (0, 0, 0), "{s}");
    let vn_at_sg = sg
        .store
        .peer_by_key(vn.node.as_ref().unwrap().identity.key_id().as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(vn_at_sg.cursor(), Some(3));
    assert!(vn_at_sg.last_success_at.is_some());
    // VN's outbound record names who got what.
    let out = vn.store.outbound_records(None, 100).await.unwrap();
    let sg_key = sg.node.as_ref().unwrap().identity.key_id().to_string();
    let to_sg: Vec<&str> = out
        .iter()
        .filter(|o| o.recipient == sg_key)
        .map(|o| o.item_id.as_str())
        .collect();
    assert_eq!(to_sg, vec!["VN-DIR-000017", "VN-EW-2026-000004"]);
    assert_eq!(
        out.iter()
            .filter(|o| o.recipient_country.as_deref() == Some("GB"))
            .count(),
        3
    );

    // SG's reviewers see the warning on "From GRN peers".
    let mut sg = sg;
    sg.user("sgreviewer", vigilo_core::Role::Reviewer, None)
        .await;
    let html = sg
        .login("sgreviewer")
        .await
        .get(sg.url("/from-peers?lang=en"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("maximum daily dose in versions 2.1.x"),
        "{html}"
    );

    // VN retracts it: hidden at SG on the next pull.
    vn.store
        .retract(
            "test",
            &vn.node.as_ref().unwrap().keys,
            &"VN-EW-2026-000004".parse().unwrap(),
            "superseded by a corrected warning",
        )
        .await
        .unwrap();
    let s = sync(&sg).await;
    assert_eq!((s.hidden, s.failed), (1, 0), "{s}");
    assert_eq!(
        received(&sg).await,
        vec![("VN".into(), "VN-DIR-000017".into(), 1)]
    );

    // A replayed request to VN is refused and logged.
    let vn_id = &vn.node.as_ref().unwrap().identity;
    let sg_keys = &sg.node.as_ref().unwrap().keys;
    let h = sign_request(
        sg_keys,
        &HttpRequest {
            method: "GET",
            authority: &vn_id.base_url.authority(),
            path: FEED_PATH,
            query: Some("after=0"),
            headers: &[],
            body: b"",
        },
        vn.store.now().unix_timestamp(),
        "replayed-nonce-0123456789",
    )
    .unwrap();
    for expected in [200, 401] {
        let r = TestServer::client()
            .get(vn.url(&format!("{FEED_PATH}?after=0")))
            .header("signature-input", &h.signature_input)
            .header("signature", &h.signature)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), expected);
    }
    assert!(vn
        .store
        .list_refusals(10)
        .await
        .unwrap()
        .iter()
        .any(|r| r.kind == "request" && r.reason.contains("replayed")));

    // A misbehaving peer, "TH", pinned at SG.
    let th_keys = NodeKeys::from_seed(&[11; 32]);
    let answer = Arc::new(Mutex::new(Answer::Page(page(&[], 0))));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let th_url = fake_peer(answer.clone(), seen.clone()).await;
    let th_identity: PeerIdentity = th_keys.identity(
        "Fake node".parse().unwrap(),
        country("TH"),
        th_url.parse().unwrap(),
    );
    let th_peer = sg.store.add_peer("test", &th_identity).await.unwrap();

    let vn_keys = &vn.node.as_ref().unwrap().keys;
    // Forged: claims VN's key, signed by TH's.
    let mut forged = serde_json::from_slice::<Value>(
        &sign_item(
            &th_keys,
            draft(
                "VN-EW-FORGED",
                "VN",
                Audience::Members,
                json!({"summary": "forged"}),
            ),
        )
        .unwrap()
        .wire,
    )
    .unwrap();
    forged["origin"]["key_id"] = json!(vn_keys.key_id().to_string());
    // Tampered: VN's genuine directory entry with its payload changed.
    let mut tampered: Value =
        serde_json::from_str(&vn.store.feed_rows(None, 10).await.unwrap().rows[0].wire).unwrap();
    assert_eq!(tampered["id"], "VN-DIR-000017");
    tampered["payload"]["name"] = json!("Something else");
    // Signed by a key nobody pinned.
    let stranger = NodeKeys::from_seed(&[13; 32]);
    let unknown = serde_json::from_slice::<Value>(
        &sign_item(
            &stranger,
            draft(
                "XX-EW-1",
                "TH",
                Audience::Members,
                json!({"summary": "unknown"}),
            ),
        )
        .unwrap()
        .wire,
    )
    .unwrap();
    // Genuinely TH's, but for the UK only.
    let elsewhere = serde_json::from_slice::<Value>(
        &sign_item(
            &th_keys,
            draft(
                "TH-EW-GB",
                "TH",
                Audience::countries([country("GB")]).unwrap(),
                json!({"summary": "for the UK"}),
            ),
        )
        .unwrap()
        .wire,
    )
    .unwrap();
    // And one good item, which is stored.
    let good = serde_json::from_slice::<Value>(
        &sign_item(
            &th_keys,
            draft(
                "TH-EW-1",
                "TH",
                Audience::Members,
                json!({"summary": "a real one"}),
            ),
        )
        .unwrap()
        .wire,
    )
    .unwrap();
    *answer.lock().unwrap() = Answer::Feed(vec![
        (1, forged),
        (2, tampered),
        (3, unknown),
        (4, elsewhere),
        (5, good),
    ]);
    let s = sync(&sg).await;
    let th = sg.store.peer(&th_peer.id).await.unwrap().unwrap();
    assert_eq!(
        (s.refused, s.inserted, s.failed),
        (4, 1, 0),
        "{s}: {:?}",
        th.last_error
    );
    let got = received(&sg).await;
    assert_eq!(
        got,
        vec![
            ("TH".into(), "TH-EW-1".into(), 1),
            ("VN".into(), "VN-DIR-000017".into(), 1)
        ]
    );
    // The tampered copy did not replace VN's genuine entry.
    let entry = sg
        .store
        .received_items(&[ItemType::DirectoryEntry], false, 10)
        .await
        .unwrap();
    assert!(entry[0].wire.contains("TrợLý Sức Khỏe") && !entry[0].wire.contains("Something else"));
    let refusals = sg.store.list_refusals(100).await.unwrap();
    let reasons = |id: &str| -> String {
        refusals
            .iter()
            .filter(|r| r.item_id.as_deref() == Some(id))
            .map(|r| r.reason.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(
        reasons("VN-EW-FORGED").contains("signature does not verify"),
        "{refusals:?}"
    );
    assert!(reasons("VN-DIR-000017").contains("signature does not verify"));
    assert!(reasons("XX-EW-1").contains("not pinned"));
    assert!(reasons("TH-EW-GB").contains("does not include SG"));
    assert!(refusals
        .iter()
        .filter(|r| r.kind == "item")
        .all(|r| r.peer_id.as_deref() == Some(th_peer.id.as_str())));
    // SG signed its pulls with its own key.
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .all(|s| s.contains(sg_keys.key_id().as_str())));

    // Bad pages: each is a failure for TH only, with back-off; VN's new item still arrives.
    let bad: Vec<(Answer, &str)> = vec![
        (Answer::Page(page(&[], 2)), "before the cursor"),
        (Answer::Page("{\"items\": [".into()), "not JSON"),
        (
            Answer::Page(format!(
                "{{\"items\":[],\"next\":5,\"pad\":\"{}\"}}",
                "x".repeat(100_000)
            )),
            "larger than",
        ),
        (Answer::Slow, "request failed"),
    ];
    for (n, (a, why)) in bad.into_iter().enumerate() {
        *answer.lock().unwrap() = a;
        let id = format!("VN-DIR-1000{n}");
        publish(
            &vn,
            &id,
            ItemType::DirectoryEntry,
            Audience::Public,
            vigilo_core::federation::SharedDirectoryEntry::new(
                &format!("Entry {n}"),
                "Công ty ABC",
            )
            .to_payload(),
        )
        .await;
        let s = sync(&sg).await;
        assert_eq!((s.failed, s.inserted), (1, 1), "{why}: {s}");
        let th = sg.store.peer(&th_peer.id).await.unwrap().unwrap();
        assert_eq!(th.failures, n as i64 + 1, "{why}");
        assert!(
            th.last_error.as_deref().unwrap().contains(why),
            "{why}: {:?}",
            th.last_error
        );
        assert_eq!(th.cursor(), Some(5), "the cursor stays");
        assert!(th.next_attempt_at.is_some());
        // Backed off: not pulled again right away.
        assert!(sg
            .store
            .peers_due()
            .await
            .unwrap()
            .iter()
            .all(|p| p.id != th_peer.id));
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    // Recovered: the failure count resets.
    *answer.lock().unwrap() = Answer::Feed(vec![]);
    let s = sync(&sg).await;
    assert_eq!(s.failed, 0, "{s}");
    let th = sg.store.peer(&th_peer.id).await.unwrap().unwrap();
    assert_eq!((th.failures, th.cursor()), (0, Some(5)));
    assert!(sg
        .store
        .list_refusals(100)
        .await
        .unwrap()
        .iter()
        .any(|r| r.kind == "page"));

    gb.stop().await;
    sg.stop().await;
    vn.stop().await;
}
