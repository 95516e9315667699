//! GRN federation over HTTP, through the real router: the signed feed and its audiences,
//! refused requests, the admin's peer pages, the reviewers' "From GRN peers" page.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use time::macros::date;
use vigilo_core::directory::{AiKind, InputModality};
use vigilo_core::federation::{
    compose_early_warning, sign_request, verify_item, Audience, HttpRequest, ItemType, NodeKeys,
    ReportStage, SeriousnessCounts, VerifyPolicy, WarningInput, WarningProduct,
};
use vigilo_core::incident::Seriousness;
use vigilo_core::suppression::SuppressionRule;
use vigilo_core::Role;
use vigilo_server::federation::FEED_PATH;
use vigilo_store::NewPublication;
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(
    feed_serves_each_reader_its_audience_and_records_it,
    bad_feed_requests_are_refused_and_logged,
    admins_pin_list_and_remove_peers_in_both_languages,
    reviewers_see_what_peers_sent,
    feed_pages_stop_at_their_byte_limit,
);

async fn feed_pages_stop_at_their_byte_limit(backend: Backend) {
    let Some(vn) = TestServer::start_node_with(backend, 7, "VN", "Cục HTTBYT", |mut c| {
        c.federation.max_page_bytes = 1500;
        c
    })
    .await
    else {
        return;
    };
    for n in 0..3 {
        let id = format!("de-{n}");
        publish(&vn, &id, ItemType::DirectoryEntry, Audience::Public, {
            let mut e = vigilo_core::federation::SharedDirectoryEntry::new("Padded", "Padding Ltd");
            e.intended_use = "x".repeat(600);
            e.to_payload()
        })
        .await;
    }
    // An item too large for peers is not published.
    let node = vn.node.as_ref().unwrap();
    let big = vn
        .store
        .publish(
            "test",
            &node.keys,
            NewPublication {
                item_type: ItemType::DirectoryEntry,
                id: "big".parse().unwrap(),
                audience: Audience::Public,
                payload: json!({"text": "x".repeat(vigilo_store::MAX_PUBLISHED_ITEM_BYTES)}),
            },
        )
        .await;
    assert!(
        matches!(big, Err(vigilo_store::StoreError::Invalid { .. })),
        "{:?}",
        big.map(|p| p.position)
    );
    let c = TestServer::client();
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let page: Value = c
            .get(vn.url(&format!("{FEED_PATH}?after={after}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let next = page["next"].as_u64().unwrap();
        if next == after {
            assert!(ids(&page).is_empty());
            break;
        }
        pages.push(ids(&page));
        after = next;
    }
    assert_eq!(pages, vec![vec!["de-0"], vec!["de-1"], vec!["de-2"]]);
    vn.stop().await;
}

pub fn warning_payload(summary: &str) -> Value {
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
            imdrf_codes: vec!["A0908".into()],
            ai_codes: vec!["AI02".into()],
            counts: SeriousnessCounts::tally(
                std::iter::repeat_n(Seriousness::Malfunction, 9)
                    .chain(std::iter::repeat_n(Seriousness::SeriousInjury, 2)),
            ),
            period_from: date!(2026 - 11 - 01),
            period_to: date!(2026 - 11 - 30),
            summary: summary.into(),
            recommendation: "Check deployments of 2.1.0 and 2.1.1.".into(),
            actions_taken: vec![],
            countries_concerned: vec!["SG".parse().unwrap(), "VN".parse().unwrap()],
        },
        SuppressionRule::default(),
    )
    .unwrap()
    .to_payload()
}

async fn publish(s: &TestServer, id: &str, t: ItemType, audience: Audience, payload: Value) {
    let node = s.node.as_ref().unwrap();
    s.store
        .publish(
            "test",
            &node.keys,
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

/// A GET of the feed signed by `keys` for `server`, as a peer would send it.
fn signed_feed(
    server: &TestServer,
    keys: &NodeKeys,
    query: &str,
    created: i64,
    nonce: &str,
    authority: Option<&str>,
) -> reqwest::RequestBuilder {
    let base = &server.node.as_ref().unwrap().identity.base_url;
    let own = base.authority();
    let h = sign_request(
        keys,
        &HttpRequest {
            method: "GET",
            authority: authority.unwrap_or(&own),
            path: FEED_PATH,
            query: Some(query),
            headers: &[],
            body: b"",
        },
        created,
        nonce,
    )
    .unwrap();
    TestServer::client()
        .get(server.url(&format!("{FEED_PATH}?{query}")))
        .header("signature-input", h.signature_input)
        .header("signature", h.signature)
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["item"]["id"].as_str().unwrap().to_string())
        .collect()
}

async fn feed_serves_each_reader_its_audience_and_records_it(backend: Backend) {
    let Some(vn) = TestServer::start_node(backend, 7, "VN", "Cục HTTBYT").await else {
        return;
    };
    let sg = NodeKeys::from_seed(&[9; 32]);
    let sg_line = sg
        .identity(
            "HSA".parse().unwrap(),
            "SG".parse().unwrap(),
            "https://vigilo.example.gov.sg".parse().unwrap(),
        )
        .to_line();
    vn.store
        .add_peer("test", &sg_line.parse().unwrap())
        .await
        .unwrap();
    let gb: vigilo_core::federation::CountryCode = "GB".parse().unwrap();
    let sgc: vigilo_core::federation::CountryCode = "SG".parse().unwrap();
    publish(
        &vn,
        "de-1",
        ItemType::DirectoryEntry,
        Audience::Public,
        vigilo_core::federation::SharedDirectoryEntry::new("LaoScan", "LaoScan Ltd").to_payload(),
    )
    .await;
    publish(
        &vn,
        "ew-1",
        ItemType::EarlyWarning,
        Audience::Members,
        warning_payload("Dose advice above the daily maximum."),
    )
    .await;
    publish(
        &vn,
        "ew-gb",
        ItemType::EarlyWarning,
        Audience::countries([gb]).unwrap(),
        warning_payload("For the UK only."),
    )
    .await;
    publish(
        &vn,
        "ew-sg",
        ItemType::EarlyWarning,
        Audience::countries([sgc]).unwrap(),
        warning_payload("For Singapore only."),
    )
    .await;

    // Anonymous: public items only, and the cursor goes past what it may not see.
    let c = TestServer::client();
    let r = c.get(vn.url(FEED_PATH)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    let page: Value = r.json().await.unwrap();
    assert_eq!(ids(&page), vec!["de-1"]);
    assert_eq!(page["next"], 4);
    assert_eq!(page["items"][0]["position"], 1);

    // Signed by the pinned Singapore node: public, members and Singapore's.
    let now = vn.store.now().unix_timestamp();
    let r = signed_feed(
        &vn,
        &sg,
        "after=0&limit=10",
        now,
        "nonce-0000000000000001",
        None,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    assert_eq!(ids(&page), vec!["de-1", "ew-1", "ew-sg"]);
    // Each item verifies against the VN key, as served.
    let mut pinned = vigilo_core::federation::TrustedPeers::new();
    pinned.pin_identity(&vn.node.as_ref().unwrap().identity);
    for e in page["items"].as_array().unwrap() {
        let bytes = serde_json::to_vec(&e["item"]).unwrap();
        verify_item(
            &bytes,
            &pinned,
            &VerifyPolicy {
                now: vn.store.now(),
                max_future_skew: time::Duration::minutes(5),
                max_item_bytes: 1 << 20,
                reader: sgc,
            },
        )
        .unwrap();
    }
    // Paging with a limit.
    let r = signed_feed(
        &vn,
        &sg,
        "after=1&limit=1",
        now,
        "nonce-0000000000000002",
        None,
    )
    .send()
    .await
    .unwrap();
    let page: Value = r.json().await.unwrap();
    assert_eq!(ids(&page), vec!["ew-1"]);
    assert_eq!(page["next"], 2);

    // Every item served is in the outbound record: to whom and when.
    let out = vn.store.outbound_records(None, 100).await.unwrap();
    let to: Vec<(&str, &str)> = out
        .iter()
        .map(|o| (o.recipient.as_str(), o.item_id.as_str()))
        .collect();
    let sg_key = sg.key_id().to_string();
    assert_eq!(
        to,
        vec![
            ("anonymous", "de-1"),
            (sg_key.as_str(), "de-1"),
            (sg_key.as_str(), "ew-1"),
            (sg_key.as_str(), "ew-sg"),
            (sg_key.as_str(), "ew-1"),
        ]
    );
    assert!(out[1..]
        .iter()
        .all(|o| o.recipient_country.as_deref() == Some("SG")));

    // Bad parameters are the caller's error.
    for q in ["after=x", "limit=0", "limit=501", "after=-1"] {
        let r = c
            .get(vn.url(&format!("{FEED_PATH}?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
    }
    vn.stop().await;
}

async fn bad_feed_requests_are_refused_and_logged(backend: Backend) {
    let Some(vn) = TestServer::start_node(backend, 7, "VN", "Cục HTTBYT").await else {
        return;
    };
    let sg = NodeKeys::from_seed(&[9; 32]);
    vn.store
        .add_peer(
            "test",
            &sg.identity(
                "HSA".parse().unwrap(),
                "SG".parse().unwrap(),
                "https://vigilo.example.gov.sg".parse().unwrap(),
            ),
        )
        .await
        .unwrap();
    publish(
        &vn,
        "ew-1",
        ItemType::EarlyWarning,
        Audience::Members,
        warning_payload("Members only."),
    )
    .await;
    let now = vn.store.now().unix_timestamp();
    let expect = |r: reqwest::Response, code: &'static str| async move {
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{code}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], code);
        body
    };

    // A good request, then the same one again: a replay.
    let first = signed_feed(&vn, &sg, "after=0", now, "nonce-aaaaaaaaaaaaaaaa", None);
    let again = signed_feed(&vn, &sg, "after=0", now, "nonce-aaaaaaaaaaaaaaaa", None);
    assert_eq!(first.send().await.unwrap().status(), StatusCode::OK);
    expect(again.send().await.unwrap(), "federation_replayed").await;
    // Signed an hour ago, or an hour ahead.
    let stale = signed_feed(
        &vn,
        &sg,
        "after=0",
        now - 3600,
        "nonce-bbbbbbbbbbbbbbbb",
        None,
    );
    expect(stale.send().await.unwrap(), "federation_stale").await;
    let ahead = signed_feed(
        &vn,
        &sg,
        "after=0",
        now + 3600,
        "nonce-cccccccccccccccc",
        None,
    );
    expect(ahead.send().await.unwrap(), "federation_stale").await;
    // A key nobody pinned.
    let stranger = NodeKeys::from_seed(&[3; 32]);
    let r = signed_feed(
        &vn,
        &stranger,
        "after=0",
        now,
        "nonce-dddddddddddddddd",
        None,
    );
    expect(r.send().await.unwrap(), "federation_unknown_key").await;
    // Signed for another node (the authority is this node's configured one, not Host).
    let r = signed_feed(
        &vn,
        &sg,
        "after=0",
        now,
        "nonce-eeeeeeeeeeeeeeee",
        Some("vigilo.example.gov.uk"),
    );
    expect(r.send().await.unwrap(), "federation_bad_signature").await;
    // A query changed after signing.
    let base = vn.node.as_ref().unwrap().identity.base_url.authority();
    let h = sign_request(
        &sg,
        &HttpRequest {
            method: "GET",
            authority: &base,
            path: FEED_PATH,
            query: Some("after=0"),
            headers: &[],
            body: b"",
        },
        now,
        "nonce-ffffffffffffffff",
    )
    .unwrap();
    let r = TestServer::client()
        .get(vn.url(&format!("{FEED_PATH}?after=1")))
        .header("signature-input", &h.signature_input)
        .header("signature", &h.signature)
        .send()
        .await
        .unwrap();
    let body = expect(r, "federation_bad_signature").await;
    assert_eq!(body["detail"], "the signature does not verify");
    // A signature header without its input.
    let r = TestServer::client()
        .get(vn.url(FEED_PATH))
        .header("signature", &h.signature)
        .send()
        .await
        .unwrap();
    expect(r, "federation_bad_signature").await;
    // In Vietnamese by default for a browser-less client asking so.
    let r = signed_feed(&vn, &sg, "after=0", now, "nonce-aaaaaaaaaaaaaaaa", None)
        .header("accept-language", "vi")
        .send()
        .await
        .unwrap();
    let body = expect(r, "federation_replayed").await;
    assert!(body["title"].as_str().unwrap().contains("nonce đã dùng"));

    // Each refusal is recorded, and nothing was served to them.
    let refusals = vn.store.list_refusals(100).await.unwrap();
    assert_eq!(refusals.len(), 8);
    assert!(refusals.iter().all(|r| r.kind == "request"));
    assert!(refusals
        .iter()
        .any(|r| r.key_id.as_deref() == Some(stranger.key_id().as_str())));
    assert_eq!(vn.store.outbound_records(None, 100).await.unwrap().len(), 1);

    // A flood of bad signatures is refused and logged, but written down only within a rate.
    for _ in 0..40 {
        let r = TestServer::client()
            .get(vn.url(FEED_PATH))
            .header("signature", &h.signature)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let recorded = vn.store.list_refusals(1000).await.unwrap().len();
    assert!((30..=33).contains(&recorded), "{recorded}");
    vn.stop().await;
}

async fn admins_pin_list_and_remove_peers_in_both_languages(backend: Backend) {
    let Some(mut vn) =
        TestServer::start_node(backend, 7, "VN", "Cục Hạ tầng và Thiết bị y tế").await
    else {
        return;
    };
    vn.user("fedadmin", Role::Admin, None).await;
    vn.user("fedreviewer", Role::Reviewer, None).await;
    let admin = vn.login("fedadmin").await;
    let page = |lang: &'static str| {
        let admin = admin.clone();
        let url = vn.url(&format!("/admin/federation?lang={lang}"));
        async move {
            let r = admin
                .get(url)
                .header("accept", "text/html")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.text().await.unwrap()
        }
    };
    let html = page("vi").await;
    let line = vn.node.as_ref().unwrap().identity.to_line();
    assert!(html.contains(&line), "identity line shown");
    assert!(html.contains("Danh tính của nút này"));
    assert!(page("en").await.contains("Add a peer"));

    let csrf = vn.form_csrf(&admin, "/admin/federation").await;
    let sg = NodeKeys::from_seed(&[9; 32]);
    let sg_id = sg.identity(
        "Health Sciences Authority".parse().unwrap(),
        "SG".parse().unwrap(),
        "https://vigilo.example.gov.sg".parse().unwrap(),
    );
    // A bad line is refused with its reason, in the page.
    let r = admin
        .post(vn.url("/admin/federation/peers?lang=en"))
        .header("accept", "text/html")
        .form(&[
            ("csrf", csrf.as_str()),
            ("line", "vigilo-peer/1 XX nothing"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("not a valid identity line"));
    // The node's own line is refused too.
    let r = admin
        .post(vn.url("/admin/federation/peers"))
        .header("accept", "text/html")
        .form(&[("csrf", csrf.as_str()), ("line", line.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A good line pins the peer.
    let sg_line = format!("{}\n", sg_id.to_line());
    let r = admin
        .post(vn.url("/admin/federation/peers"))
        .form(&[("csrf", csrf.as_str()), ("line", sg_line.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = page("en").await;
    assert!(html.contains("Health Sciences Authority"));
    assert!(html.contains(sg.key_id().as_str()));
    assert_eq!(vn.store.list_peers(false).await.unwrap().len(), 1);
    // The same line again: already pinned.
    let r = admin
        .post(vn.url("/admin/federation/peers"))
        .header("accept", "text/html")
        .form(&[("csrf", csrf.as_str()), ("line", sg_line.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Reviewers may not manage peers.
    let reviewer = vn.login("fedreviewer").await;
    let r = reviewer
        .get(vn.url("/admin/federation"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Removed by its key id.
    let r = admin
        .post(vn.url(&format!(
            "/admin/federation/peers/{}/remove?lang=en",
            sg.key_id()
        )))
        .header("accept", "text/html")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Health Sciences Authority was removed"));
    assert!(vn.store.list_peers(false).await.unwrap().is_empty());
    let actions: Vec<String> = vn
        .store
        .list_audit(None, 20)
        .await
        .unwrap()
        .into_iter()
        .map(|a| format!("{} {}", a.actor, a.action))
        .collect();
    assert!(actions.contains(&"user:fedadmin federation.peer_add".to_string()));
    assert!(actions.contains(&"user:fedadmin federation.peer_remove".to_string()));

    // The outbound record exports as CSV.
    let r = admin
        .get(vn.url("/admin/federation/outbound.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().starts_with("sent_at,recipient,"));
    vn.stop().await;
}

async fn reviewers_see_what_peers_sent(backend: Backend) {
    let Some(mut sgn) = TestServer::start_node(backend, 9, "SG", "HSA").await else {
        return;
    };
    sgn.user("fedrev", Role::Reviewer, None).await;
    sgn.user("fedvendor", Role::Vendor, None).await;
    let vn = NodeKeys::from_seed(&[7; 32]);
    let vn_id = vn.identity(
        "Cục HTTBYT".parse().unwrap(),
        "VN".parse().unwrap(),
        "https://vigilo.example.gov.vn".parse().unwrap(),
    );
    let peer = sgn.store.add_peer("test", &vn_id).await.unwrap();
    let pinned = sgn.store.pinned_keys().await.unwrap();
    let policy = VerifyPolicy {
        now: sgn.store.now(),
        max_future_skew: time::Duration::minutes(5),
        max_item_bytes: 1 << 20,
        reader: "SG".parse().unwrap(),
    };
    let item = |id: &str, version: u64, t: ItemType, payload: Value| {
        let signed = vigilo_core::federation::sign_item(
            &vn,
            vigilo_core::federation::ItemDraft {
                item_type: t,
                id: id.parse().unwrap(),
                version,
                issued_at: time::macros::datetime!(2026-12-01 00:00 UTC),
                country: "VN".parse().unwrap(),
                audience: Audience::Members,
                payload,
            },
        )
        .unwrap();
        verify_item(&signed.wire, &pinned, &policy).unwrap()
    };
    let shown = item(
        "ew-1",
        1,
        ItemType::EarlyWarning,
        warning_payload("Doses above the daily maximum in 2.1.x."),
    );
    let withdrawn = item(
        "ew-2",
        1,
        ItemType::EarlyWarning,
        warning_payload("Sent in error."),
    );
    let retraction = item(
        "ew-2",
        2,
        ItemType::Retraction,
        json!({"reason": "sent in error"}),
    );
    let entry = item(
        "de-1",
        1,
        ItemType::DirectoryEntry,
        vigilo_core::federation::SharedDirectoryEntry::new("LaoScan", "LaoScan Ltd").to_payload(),
    );
    sgn.store
        .apply_feed_page(
            &peer.id,
            None,
            4,
            &[(1, shown), (2, withdrawn), (3, retraction), (4, entry)],
            &[],
        )
        .await
        .unwrap();
    let rev = sgn.login("fedrev").await;
    let r = rev
        .get(sgn.url("/from-peers?lang=en"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Doses above the daily maximum in 2.1.x."));
    assert!(html.contains("TrợLý Sức Khỏe"));
    assert!(html.contains("Cục HTTBYT"));
    assert!(
        !html.contains("Sent in error."),
        "withdrawn warnings are not shown"
    );
    assert!(
        !html.contains("LaoScan"),
        "directory entries are not warnings"
    );
    let r = rev
        .get(sgn.url("/from-peers?lang=vi"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Từ các nút GRN"));
    let vendor = sgn.login("fedvendor").await;
    let r = vendor
        .get(sgn.url("/from-peers"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    sgn.stop().await;
}
