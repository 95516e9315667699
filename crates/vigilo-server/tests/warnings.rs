//! Early warnings for GRN peers through the real server, on both backends: a reviewer
//! composes one from a confirmed signal whose reports carry a planted name, phone number
//! and a distinctive word in their narratives; identifiers typed into the summary are
//! refused; an admin other than the composer approves; the signed item in the feed holds
//! the facts and the reviewer's text and nothing of the narratives; it can be retracted.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use vigilo_core::Role;
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(a_confirmed_signal_becomes_a_signed_early_warning);

const PLANTED: [&str; 4] = ["Zebracorn", "Planted", "0912 345 678", "001203004005"];

async fn a_confirmed_signal_becomes_a_signed_early_warning(backend: Backend) {
    let Some(mut s) = TestServer::start_node(backend, 7, "VN", "Vigilo VN").await else {
        return;
    };
    let vendor = s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("station", Role::Reporter, Some("TYT-BADINH")).await;
    s.user("rev", Role::Reviewer, None).await;
    s.user("admin1", Role::Admin, None).await;
    s.user("admin2", Role::Admin, None).await;
    let maker = vendor.organisation_id.clone().unwrap();
    let (va, _) = s.licensed_version(&maker, "Trợ lý ảo", vec![]).await;
    let mut others = Vec::new();
    for name in ["LaoScan", "TimViệt", "DinhDưỡng", "ThậnAI", "SpO2 Guard"] {
        others.push(s.licensed_version(&maker, name, vec![]).await.0);
    }
    let token = s.token("station").await;
    let client = TestServer::client();
    let mut coded = Vec::new();
    let mut file = |product: &str, n: usize, code: &'static str| {
        let body = json!({"reporter_kind": "health_worker", "product_id": product, "seriousness": if n.is_multiple_of(4) { "serious_injury" } else { "other_injury" },
            "narrative": format!("Report {n}: Zebracorn dosing advice was wrong; patient Nguyễn Văn Planted, phone 0912 345 678, CCCD 001203004005.")});
        let req = client
            .post(s.url("/api/v1/incidents"))
            .bearer_auth(&token)
            .json(&body);
        coded.push((req, code));
    };
    for n in 0..8 {
        file(&va.id, n, "AI02");
    }
    for (i, p) in others.iter().enumerate() {
        for n in 0..6 {
            file(&p.id, 100 + i * 10 + n, ["AI03", "AI09", "AI04"][n % 3]);
        }
    }
    for (req, code) in coded {
        let r: Value = req.send().await.unwrap().json().await.unwrap();
        let id = s
            .store
            .incident_by_receipt(r["receipt"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap()
            .incident
            .id;
        s.store
            .set_incident_codes("test", &id, &[code.to_string()])
            .await
            .unwrap();
    }
    let rev = s.login("rev").await;
    let csrf = s.form_csrf(&rev, "/signals").await;
    rev.post(s.url("/signals/run"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let signals: Value = rev
        .get(s.url("/api/v1/signals"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = signals
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["product_id"] == va.id.as_str() && x["code"] == "AI02")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Not before it is confirmed.
    let r = rev
        .get(s.url(&format!("/grn/warnings/new?signal={sid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    rev.post(s.url(&format!("/signals/{sid}/actions")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "confirm"),
            ("reason", "unsafe dosing advice"),
        ])
        .send()
        .await
        .unwrap();
    let page = rev
        .get(s.url(&format!("/signals/{sid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/grn/warnings/new?signal="));
    let form = rev
        .get(s.url(&format!("/grn/warnings/new?signal={sid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("warning-facts") && form.contains("AI02 (8)"),
        "{form}"
    );
    for p in PLANTED {
        assert!(
            !form.contains(p),
            "the compose page shows '{p}' from a narrative"
        );
    }
    let compose = |summary: &str| {
        let rev = rev.clone();
        let url = s.url("/grn/warnings");
        let fields = vec![
            ("csrf", csrf.clone()),
            ("signal_id", sid.clone()),
            ("stage", "initial".to_string()),
            ("summary", summary.to_string()),
            (
                "recommendation",
                "Check the assistant's dosing answers before acting on them.".to_string(),
            ),
            ("countries_concerned", "sg".to_string()),
            ("audience", "members".to_string()),
        ];
        async move { rev.post(url).form(&fields).send().await.unwrap() }
    };
    // An identifier typed into the summary is refused, with what to fix.
    let r = compose("Eight reports; call the reporter on 0987 654 321 for details.").await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("rewrite it without personal data"), "{text}");
    let r =
        compose("Eight reports of unsafe dosing advice from the virtual assistant, two serious.")
            .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let draft_url = r.headers()["location"].to_str().unwrap().to_string();
    let preview = rev
        .get(s.url(&draft_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(preview.contains("warning-payload") && preview.contains("AI02"));
    // Who composed it and when, as a reader says it: the account and the minute.
    let composed = preview
        .split("</th><td>")
        .find(|cell| cell.starts_with("rev, "))
        .unwrap_or_else(|| panic!("no 'rev, <time>' cell: {preview}"));
    let when = &composed["rev, ".len()..composed.find("</td>").unwrap()];
    assert_eq!(when.len(), "2026-12-07 15:01".len(), "{when}");
    assert!(
        !when.contains('T') && !preview.contains("user:rev"),
        "{when}"
    );
    assert!(
        preview.contains("VN-EW-"),
        "a reference from this node's country"
    );
    for p in PLANTED {
        assert!(!preview.contains(p), "the preview holds '{p}'");
    }
    // The reviewer cannot approve; an admin returns it for a reason, the reviewer
    // composes again, another admin approves.
    let decide = |who: &reqwest::Client, url: &str, action: &str, reason: &str| {
        decide_as(&s, who, &csrf, url, action, reason)
    };
    assert_eq!(
        decide(&rev, &draft_url, "approve", "").await.status(),
        StatusCode::FORBIDDEN
    );
    let admin1 = s.login("admin1").await;
    let csrf_admin = s.form_csrf(&admin1, "/grn/warnings").await;
    let decide_as_admin1 = |url: &str, action: &str, reason: &str| {
        decide_as(&s, &admin1, &csrf_admin, url, action, reason)
    };
    assert_eq!(
        decide_as_admin1(&draft_url, "return", "").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        decide_as_admin1(&draft_url, "return", "say which versions")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        decide_as_admin1(&draft_url, "approve", "").await.status(),
        StatusCode::BAD_REQUEST,
        "a returned draft cannot be approved"
    );
    let r = compose("Eight reports of unsafe dosing advice from the virtual assistant (all versions), two serious.").await;
    let second = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        decide_as_admin1(&second, "approve", "").await.status(),
        StatusCode::SEE_OTHER
    );
    let published = admin1
        .get(s.url(&second))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        published.contains("id=\"warning-state\">Đã công bố")
            || published.contains("id=\"warning-state\">Published"),
        "{published}"
    );
    // In the feed: signed, members only, the facts and the text, none of the narratives.
    let feed = s.store.feed_rows(None, 100).await.unwrap().rows;
    let item = feed
        .iter()
        .find(|r| r.item_type == "early_warning")
        .unwrap();
    assert!(item.audience_json.contains("members"));
    let wire: Value = serde_json::from_str(&item.wire).unwrap();
    let payload = &wire["payload"];
    assert_eq!(payload["product"]["name"], "Trợ lý ảo");
    assert_eq!(payload["ai_codes"], json!(["AI02"]));
    assert_eq!(payload["countries_concerned"], json!(["SG", "VN"]));
    assert!(payload["summary"]
        .as_str()
        .unwrap()
        .contains("(all versions)"));
    for p in PLANTED {
        assert!(!item.wire.contains(p), "the signed item holds '{p}'");
    }
    // An admin cannot approve a warning they composed; a second approval is refused.
    let r = admin1
        .post(s.url("/grn/warnings"))
        .form(&[
            ("csrf", csrf_admin.as_str()),
            ("signal_id", sid.as_str()),
            (
                "summary",
                "Follow-up: the manufacturer is correcting the dosing table.",
            ),
            (
                "recommendation",
                "Keep the suspension in place until the corrected version is assessed.",
            ),
            ("stage", "follow_up"),
            ("audience", "countries"),
            ("audience_countries", "SG"),
        ])
        .send()
        .await
        .unwrap();
    let own = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        decide_as_admin1(&own, "approve", "").await.status(),
        StatusCode::FORBIDDEN
    );
    let admin2 = s.login("admin2").await;
    assert_eq!(
        decide(&admin2, &own, "approve", "").await.status(),
        StatusCode::FORBIDDEN,
        "wrong CSRF token"
    );
    let csrf2 = s.form_csrf(&admin2, "/grn/warnings").await;
    let r = admin2
        .post(s.url(&format!("{own}/decide")))
        .form(&[("csrf", csrf2.as_str()), ("action", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let feed = s.store.feed_rows(None, 100).await.unwrap().rows;
    let sg_only = feed
        .iter()
        .find(|r| {
            r.item_type == "early_warning"
                && r.audience_json.contains("SG")
                && !r.audience_json.contains("members")
        })
        .unwrap();
    assert!(sg_only.wire.contains("follow_up"));
    assert_eq!(
        decide_as_admin1(&second, "approve", "").await.status(),
        StatusCode::BAD_REQUEST
    );
    // Retraction needs a reason, then replaces the item in the feed.
    assert_eq!(
        decide_as_admin1(&second, "retract", "").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        decide_as_admin1(&second, "retract", "sent with the wrong product")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let feed = s.store.feed_rows(None, 100).await.unwrap().rows;
    assert!(feed.iter().any(|r| r.item_type == "retraction"));
    let list = admin1
        .get(s.url("/grn/warnings"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        list.matches("<tr><td><a href=\"/grn/warnings/").count(),
        3,
        "{list}"
    );
    // Vendors and stations never see this desk.
    let vendor_client = s.login("vendor-a").await;
    assert_eq!(
        vendor_client
            .get(s.url(&second))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    s.stop().await;
}

/// Posts a decision on a draft as `who`, with the CSRF token given (a wrong one on purpose
/// in one check).
fn decide_as(
    s: &TestServer,
    who: &reqwest::Client,
    csrf: &str,
    url: &str,
    action: &str,
    reason: &str,
) -> impl std::future::Future<Output = reqwest::Response> {
    let request = who.post(s.url(&format!("{url}/decide"))).form(&[
        ("csrf", csrf),
        ("action", action),
        ("reason", reason),
    ]);
    async move { request.send().await.unwrap() }
}
