//! The directory shared between GRN nodes, through real servers on loopback, on both
//! backends: VN's public entries are published to its feed by the share job (again only when
//! they change), SG's sync puts them in SG's register as foreign entries that search finds
//! and that have their own page; a warning VN sends about the product shows on that page and
//! on SG's own product of the same name, to staff only; a product leaving VN's directory is
//! retracted and leaves SG's search; a directory entry no directory could have produced is
//! refused and not stored.
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use std::time::Duration;
use time::macros::date;
use vigilo_core::directory::{AiKind, InputModality, VersionCommand};
use vigilo_core::federation::{
    compose_early_warning, Audience, ItemType, ReportStage, SeriousnessCounts, WarningInput,
    WarningProduct,
};
use vigilo_core::incident::Seriousness;
use vigilo_core::suppression::SuppressionRule;
use vigilo_core::Role;
use vigilo_server::federation::{share_directory, sync_client, sync_peers, FederationConfig};
use vigilo_store::NewPublication;
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(directory_entries_cross_to_peers_as_foreign_entries);

fn quick(s: &TestServer) -> FederationConfig {
    FederationConfig {
        fetch_timeout: Duration::from_secs(2),
        sync_interval: time::Duration::seconds(1),
        max_backoff: time::Duration::seconds(1),
        ..s.federation_config()
    }
}

async fn sync(s: &TestServer) -> vigilo_server::federation::SyncSummary {
    let config = quick(s);
    let client = sync_client(&config).unwrap();
    sync_peers(&s.store, &config, &client).await.unwrap()
}

async fn search(s: &TestServer, q: &str) -> Vec<Value> {
    let v: Value = TestServer::client()
        .get(s.url("/api/v1/directory"))
        .query(&[("q", q)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["items"].as_array().cloned().unwrap_or_default()
}

fn warning_about(name: &str) -> Value {
    compose_early_warning(
        &WarningInput {
            reference: "VN-EW-2026-000009".into(),
            stage: ReportStage::Initial,
            product: WarningProduct {
                name: name.into(),
                manufacturer: "Công ty Minh An".into(),
                versions: vec!["1.0".into()],
                input_modality: InputModality::Imaging,
                ai_kind: Some(AiKind::Locked),
            },
            imdrf_codes: vec![],
            ai_codes: vec!["AI03".into()],
            counts: SeriousnessCounts::tally(std::iter::repeat_n(Seriousness::OtherInjury, 7)),
            period_from: date!(2026 - 10 - 01),
            period_to: date!(2026 - 10 - 31),
            summary:
                "Missed findings on portable chest X-rays after a firmware change at the stations."
                    .into(),
            recommendation:
                "Check local validation on portable devices before relying on the tool.".into(),
            actions_taken: vec![],
            countries_concerned: vec!["SG".parse().unwrap()],
        },
        SuppressionRule::default(),
    )
    .unwrap()
    .to_payload()
}

async fn directory_entries_cross_to_peers_as_foreign_entries(backend: Backend) {
    let Some(mut vn) = TestServer::start_node(backend, 7, "VN", "Cục HTTBYT").await else {
        return;
    };
    let mut sg = TestServer::start_node(backend, 9, "SG", "HSA")
        .await
        .unwrap();
    vn.pin(&sg).await;
    sg.pin(&vn).await;
    let vendor = vn.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    let maker = vendor.organisation_id.clone().unwrap();
    let (lao, lao_version) = vn.licensed_version(&maker, "Sàng Lọc Lao XQ", vec![]).await;
    vn.licensed_version(&maker, "TimViệt", vec![]).await;

    // VN shares its directory; a second run finds nothing changed.
    let config = quick(&vn);
    let first = share_directory(&vn.store, &config).await.unwrap();
    assert_eq!((first.entries, first.published, first.retracted), (2, 2, 0));
    let again = share_directory(&vn.store, &config).await.unwrap();
    assert_eq!((again.published, again.unchanged), (0, 2));

    // SG pulls them into its register: searchable, diacritics and case aside, marked foreign.
    let pulled = sync(&sg).await;
    assert_eq!(pulled.inserted, 2, "{pulled}");
    let found = search(&sg, "lao xq").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["source"], "grn_peer");
    assert_eq!(found[0]["name"], "Sàng Lọc Lao XQ");
    let entry_id = found[0]["id"].as_str().unwrap().to_string();
    let facets: Value = TestServer::client()
        .get(sg.url("/api/v1/directory?source=grn_peer"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(facets["total"], 2, "{facets}");

    // Its page names the member and links to VN's page; no warning for the public.
    let public = TestServer::client()
        .get(sg.url(&format!("/directory/{entry_id}?lang=en")))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200);
    let html = public.text().await.unwrap();
    assert!(html.contains("From a GRN member regulator: VN"), "{html}");
    assert!(html.contains(&format!("{}/directory/{}", vn.base, lao.id)));
    assert!(!html.contains("peer-warnings"));
    let unknown = TestServer::client()
        .get(sg.url("/directory/grn-000000000000000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404, "an id no member shared is not found");

    // A warning VN sends about the product reaches SG's staff on that page and on SG's own
    // product of the same name (folded), and nowhere public.
    vn.store
        .publish(
            "test",
            &vn.node.as_ref().unwrap().keys,
            NewPublication {
                item_type: ItemType::EarlyWarning,
                id: "VN-EW-2026-000009".parse().unwrap(),
                audience: Audience::Members,
                payload: warning_about("SÀNG LỌC LAO XQ"),
            },
        )
        .await
        .unwrap();
    assert_eq!(sync(&sg).await.inserted, 1);
    sg.user("sg-rev", Role::Reviewer, None).await;
    let rev = sg.login("sg-rev").await;
    let html = rev
        .get(sg.url(&format!("/directory/{entry_id}?lang=en")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("peer-warnings-list"), "{html}");
    assert!(html.contains("Missed findings on portable chest X-rays"));
    let sg_vendor = sg.user("vendor-sg", Role::Vendor, Some("MFR-SG")).await;
    let (own, _) = sg
        .licensed_version(
            &sg_vendor.organisation_id.clone().unwrap(),
            "Sang loc lao XQ",
            vec![],
        )
        .await;
    let staff_view = rev
        .get(sg.url(&format!("/directory/{}", own.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(staff_view.contains("Missed findings on portable chest X-rays"));
    let public_view = TestServer::client()
        .get(sg.url(&format!("/directory/{}", own.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!public_view.contains("Missed findings"));
    assert!(!public_view.contains("peer-warnings"));

    // The product leaves VN's public directory: retracted, and gone from SG's search; its
    // page stays, marked withdrawn, for reliance records that cite it.
    vn.store
        .change_version_status("test", &lao_version.id, VersionCommand::Withdraw)
        .await
        .unwrap();
    let gone = share_directory(&vn.store, &config).await.unwrap();
    assert_eq!((gone.entries, gone.retracted), (1, 1), "{gone}");
    assert_eq!(sync(&sg).await.hidden, 1);
    assert!(search(&sg, "lao xq")
        .await
        .iter()
        .all(|e| e["source"] != "grn_peer"));
    let page = TestServer::client()
        .get(sg.url(&format!("/directory/{entry_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("grn-withdrawn"));
    let kept = sg.store.received_directory_entry(&entry_id).await.unwrap();
    assert!(kept.is_some_and(|k| k.withdrawn));

    // An entry with a member no directory writes (a narrative) is refused and not stored.
    let mut bad = sg
        .store
        .received_directory_entry(&found_again(&sg).await)
        .await
        .unwrap()
        .unwrap()
        .entry
        .to_payload();
    bad["narrative"] = json!("patient Nguyễn Văn Planted");
    vn.store
        .publish(
            "test",
            &vn.node.as_ref().unwrap().keys,
            NewPublication {
                item_type: ItemType::DirectoryEntry,
                id: "product-forged".parse().unwrap(),
                audience: Audience::Public,
                payload: bad,
            },
        )
        .await
        .unwrap();
    let refused = sync(&sg).await;
    assert_eq!((refused.inserted, refused.refused), (0, 1), "{refused}");
    assert!(search(&sg, "planted").await.is_empty());
    let refusals = sg.store.list_refusals(10).await.unwrap();
    assert!(refusals
        .iter()
        .any(|r| r.reason.contains("directory entry refused")));
    vn.stop().await;
    sg.stop().await;
}

/// The id of the entry SG still holds from VN (TimViệt).
async fn found_again(sg: &TestServer) -> String {
    search(sg, "timviet").await[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}
