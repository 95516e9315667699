//! Incident reporting through the real server, on both backends: an anonymous health
//! worker files a report through the form (preview of the de-identified text, receipt, a
//! resend filed once), the JSON API answers receipts and clear problems and limits floods,
//! a reviewer triages and codes, and manufacturers see only their own products' reports.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use vigilo_core::Role;
use vigilo_server::ratelimit::Rate;
use vigilo_server::ServerConfig;
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(
    a_health_worker_reports_through_the_form,
    the_api_files_reports_and_refuses_bad_ones_and_floods,
    reviewers_triage_and_vendors_see_only_their_own,
    likely_duplicates_are_proposed_and_merged,
);

fn config() -> ServerConfig {
    ServerConfig {
        run_jobs: false,
        ..ServerConfig::default()
    }
}

async fn a_health_worker_reports_through_the_form(backend: Backend) {
    let Some(mut s) = TestServer::start(backend, config()).await else {
        return;
    };
    let vendor = s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    let (p, _v) = s
        .licensed_version(
            vendor.organisation_id.as_deref().unwrap(),
            "LaoScan",
            vec![],
        )
        .await;
    let client = TestServer::client();
    let page = client.get(s.url("/report")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("LaoScan ("), "product list");
    assert!(html.contains("/static/incident-form.js"));
    let csrf = vigilo_testkit::extract_csrf(&html).unwrap();
    let today = s.store.now().date().to_string();
    let narrative = "LaoScan báo bình thường nhưng bệnh nhân Nguyễn Văn An (SĐT 0912 345 678) được chẩn đoán lao phổi sau 3 tuần.";
    let mut fields = vec![
        ("csrf", csrf.clone()),
        ("reporter_kind", "health_worker".into()),
        ("product_id", p.id.clone()),
        ("province_code", "01".into()),
        ("occurred_on", today.clone()),
        ("seriousness", "serious_injury".into()),
        ("narrative", narrative.into()),
        ("client_key", "draft-0001".into()),
        ("step", "preview".into()),
    ];
    // Preview: the de-identified text, and a send button.
    let r = client
        .post(s.url("/report"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"preview-text\""));
    let preview = html
        .split("id=\"preview-text\">")
        .nth(1)
        .unwrap()
        .split("</blockquote>")
        .next()
        .unwrap();
    assert!(!preview.contains("0912 345 678"), "{preview}");
    assert!(preview.contains("lao phổi"));
    assert!(html.contains("id=\"i-send\""));
    // Send: a receipt.
    fields.pop();
    fields.push(("step", "send".into()));
    let r = client
        .post(s.url("/report"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await.unwrap();
    assert!(html.contains("SC-"), "receipt number");
    assert!(html.contains("data-sent-key=\"draft-0001\""));
    assert!(!html.contains("0912 345 678"));
    // The draft sent again when the connection returned: same receipt, nothing new stored.
    let r = client
        .post(s.url("/report"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let all = s
        .store
        .incidents(&vigilo_store::IncidentFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(!all[0].incident.narrative.contains("0912"));
    // Missing description and a future date: every problem named, the typed values kept.
    let tomorrow = (s.store.now().date() + time::Duration::days(1)).to_string();
    let bad = [
        ("csrf", csrf.as_str()),
        ("reporter_kind", "patient"),
        ("product_text", "ứng dụng tư vấn dinh dưỡng"),
        ("occurred_on", tomorrow.as_str()),
        ("seriousness", "near_miss"),
        ("narrative", ""),
        ("step", "preview"),
    ];
    let r = client
        .post(s.url("/report"))
        .form(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Hãy mô tả điều đã xảy ra"),
        "narrative required"
    );
    assert!(html.contains("tương lai"), "future date");
    assert!(html.contains("ứng dụng tư vấn dinh dưỡng"), "values kept");
    s.stop().await;
}

async fn the_api_files_reports_and_refuses_bad_ones_and_floods(backend: Backend) {
    let Some(mut s) = TestServer::start(
        backend,
        ServerConfig {
            intake_per_client: Rate::new(2, Duration::from_secs(3600)),
            ..config()
        },
    )
    .await
    else {
        return;
    };
    s.user("station", Role::Reporter, Some("TYT-BADINH")).await;
    let client = TestServer::client();
    let report = json!({
        "reporter_kind": "health_worker",
        "product_text": "trợ lý ảo tư vấn thuốc",
        "province_code": "01",
        "seriousness": "other_injury",
        "narrative": "The assistant advised 2 g paracetamol every 2 hours; the patient (email an.nguyen@example.com) took it for a day.",
        "patient_age_band": "45-64",
        "client_key": "0193f0a2-7b7c-7d55-9c1e-2c1a0d6f1b11"
    });
    let r = client
        .post(s.url("/api/v1/incidents"))
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert!(body["receipt"].as_str().unwrap().starts_with("SC-"));
    assert_eq!(body["state"], "received");
    assert!(!body["narrative"]
        .as_str()
        .unwrap()
        .contains("an.nguyen@example.com"));
    assert!(body["created"].as_bool().unwrap());
    let again: Value = client
        .post(s.url("/api/v1/incidents"))
        .json(&report)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["receipt"], body["receipt"]);
    assert_eq!(again["created"], false);
    // Bad input: one problem document naming every field.
    let r = client
        .post(s.url("/api/v1/incidents?lang=en"))
        .json(&json!({"reporter_kind": "doctor", "seriousness": "bad", "narrative": "short", "facility_code": "NO-SUCH"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the third anonymous request of the hour"
    );
    assert!(r.headers().get("retry-after").is_some());
    // An account is accountable and not limited; its problems are listed.
    let token = s.token("station").await;
    let r = client
        .post(s.url("/api/v1/incidents?lang=en"))
        .bearer_auth(&token)
        .json(&json!({"reporter_kind": "doctor", "seriousness": "bad", "narrative": "short", "facility_code": "NO-SUCH", "occurred_on": "2026-13-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    for field in ["Reporter", "Seriousness", "Facility", "Date it happened"] {
        assert!(detail.contains(field), "{field} in {detail}");
    }
    let r = client
        .post(s.url("/api/v1/incidents"))
        .bearer_auth(&token)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The station's own report is placed at its facility without saying so.
    let mut own = report.clone();
    own["client_key"] = json!("station-1");
    own.as_object_mut().unwrap().remove("province_code");
    let r = client
        .post(s.url("/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&own)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let rows = s
        .store
        .incidents(&vigilo_store::IncidentFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rows[0]
            .facility_name
            .as_deref()
            .map(|n| n.contains("TYT-BADINH")),
        Some(true)
    );
    // Preview of the scrubbed text, for clients that show it before sending.
    let p: Value = client
        .post(s.url("/api/v1/incidents/preview"))
        .bearer_auth(&token)
        .json(&json!({"text": "Gọi lại 0987654321 để hẹn khám."}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!p["text"].as_str().unwrap().contains("0987654321"));
    s.stop().await;
}

async fn reviewers_triage_and_vendors_see_only_their_own(backend: Backend) {
    let Some(mut s) = TestServer::start(backend, config()).await else {
        return;
    };
    let a = s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("vendor-b", Role::Vendor, Some("MFR-B")).await;
    s.user("rev", Role::Reviewer, None).await;
    let (p, _) = s
        .licensed_version(a.organisation_id.as_deref().unwrap(), "LaoScan", vec![])
        .await;
    let client = TestServer::client();
    let r: Value = client
        .post(s.url("/api/v1/incidents"))
        .json(&json!({"reporter_kind": "health_worker", "product_id": p.id, "version": "1.0", "province_code": "01",
            "seriousness": "malfunction", "narrative": "LaoScan stopped reading images after the update; 40 patients waited."}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let receipt = r["receipt"].as_str().unwrap().to_string();
    // Anonymous visitors cannot list reports.
    let r = client.get(s.url("/api/v1/incidents")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let rev = s.login("rev").await;
    let list: Value = rev
        .get(s.url("/api/v1/incidents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = &list["items"][0];
    assert_eq!(item["receipt"], receipt.as_str());
    assert_eq!(item["version"], "1.0");
    let id = item["id"].as_str().unwrap().to_string();
    // The reviewer triages, codes and writes to the manufacturer.
    let page = rev
        .get(s.url(&format!("/incidents/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&receipt));
    // "stopped reading images" suggests the data or integration error code.
    assert!(
        page.contains("id=\"suggestions\""),
        "codes suggested from the narrative"
    );
    let csrf = vigilo_testkit::extract_csrf(&page).unwrap();
    let r = rev
        .post(s.url(&format!("/incidents/{id}/actions")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "close"),
            ("reason", "x"),
            ("causality", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = rev
        .post(s.url(&format!("/incidents/{id}/actions")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "triage"),
            ("reason", "malfunction, many waiting"),
            ("causality", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = rev
        .post(s.url(&format!("/incidents/{id}/codes")))
        .form(&[("csrf", csrf.as_str()), ("codes", "AI09 ZZ99")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown code refused"
    );
    let r = rev
        .post(s.url(&format!("/incidents/{id}/codes")))
        .form(&[("csrf", csrf.as_str()), ("codes", "AI09")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    rev.post(s.url(&format!("/incidents/{id}/messages")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("body", "Please explain the update of last week."),
        ])
        .send()
        .await
        .unwrap();
    let page = rev
        .get(s.url(&format!("/incidents/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("AI09"));
    assert!(page.contains("Please explain the update"));
    // Manufacturer A is told on its dashboard, sees it and answers; B does not see it at all.
    let va = s.login("vendor-a").await;
    let dashboard = va
        .get(s.url("/vendor"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dashboard.contains("id=\"awaiting\"") && dashboard.contains(&receipt),
        "notified"
    );
    let list: Value = va
        .get(s.url("/api/v1/incidents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let page = va
        .get(s.url(&format!("/incidents/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("id=\"action-form\""),
        "vendors do not triage"
    );
    let csrf_a = vigilo_testkit::extract_csrf(&page).unwrap();
    let r = va
        .post(s.url(&format!("/incidents/{id}/messages")))
        .form(&[
            ("csrf", csrf_a.as_str()),
            (
                "body",
                "The update changed the DICOM reader; fixed in 1.0.1.",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let dashboard = va
        .get(s.url("/vendor"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !dashboard.contains("id=\"awaiting\""),
        "answered: no longer waiting"
    );
    let r = va
        .post(s.url(&format!("/incidents/{id}/actions")))
        .form(&[
            ("csrf", csrf_a.as_str()),
            ("action", "close"),
            ("reason", "fixed"),
            ("causality", "causal"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let vb = s.login("vendor-b").await;
    let list: Value = vb
        .get(s.url("/api/v1/incidents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
    assert_eq!(
        vb.get(s.url(&format!("/api/v1/incidents/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let page = vb
        .get(s.url(&format!("/incidents/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let csrf_b = s.form_csrf(&vb, "/incidents").await;
    let r = vb
        .post(s.url(&format!("/incidents/{id}/messages")))
        .form(&[("csrf", csrf_b.as_str()), ("body", "hello")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let messages = s.store.incident_messages(&id).await.unwrap();
    assert_eq!(messages.len(), 2);
    // The public counts: one report is a small count, shown as <5, with the caveat.
    let counts: Value = client
        .get(s.url("/api/v1/public/incident-counts?by=seriousness&lang=en"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["rows"][0]["product_name"], "LaoScan");
    assert_eq!(counts["total"]["shown"], "<5");
    assert_eq!(counts["total"]["count"], Value::Null);
    assert_eq!(counts["columns"].as_array().unwrap().len(), 5);
    assert!(counts["caveat"]
        .as_str()
        .unwrap()
        .contains("does not prove"));
    let by_code: Value = client
        .get(s.url("/api/v1/public/incident-counts?by=code"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_code["columns"], json!(["AI09"]));
    // The openFDA-like list: complete total, cursor, no narrative, month not day.
    let list: Value = client
        .get(s.url("/api/v1/public/incidents?limit=1&code=ai09"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(list["results"][0]["receipt"], receipt.as_str());
    assert_eq!(list["results"][0]["codes"], json!(["AI09"]));
    assert_eq!(list["results"][0]["month"].as_str().unwrap().len(), 7);
    assert!(list["results"][0].get("narrative").is_none());
    let cursor = list["next_cursor"].as_str().unwrap();
    let next: Value = client
        .get(s.url(&format!(
            "/api/v1/public/incidents?limit=1&code=AI09&cursor={cursor}"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(next["results"].as_array().unwrap().is_empty());
    assert_eq!(next["total"], 1);
    let r = client
        .get(s.url("/api/v1/public/incidents?seriousness=awful"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client
        .get(s.url("/api/v1/public/incident-counts?by=narrative"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = client
        .get(s.url("/early-warning"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("&lt;5") || page.contains("&#60;5"), "{page}");
    assert!(
        !page.contains("stopped reading images"),
        "no narrative in public"
    );
    s.stop().await;
}

async fn likely_duplicates_are_proposed_and_merged(backend: Backend) {
    let Some(mut s) = TestServer::start(backend, config()).await else {
        return;
    };
    let a = s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("rev", Role::Reviewer, None).await;
    let (p, _) = s
        .licensed_version(a.organisation_id.as_deref().unwrap(), "LaoScan", vec![])
        .await;
    let day = (s.store.now().date() - time::Duration::days(3)).to_string();
    let other_day = (s.store.now().date() - time::Duration::days(20)).to_string();
    let client = TestServer::client();
    let mut ids = Vec::new();
    for (kind, text) in [
        ("health_worker", "LaoScan báo phim bình thường nhưng hai tuần sau người bệnh 56 tuổi ho ra máu, AFB dương tính."),
        ("vendor", "Trạm y tế báo: LaoScan đọc phim bình thường, hai tuần sau người bệnh 56 tuổi ho ra máu và AFB dương tính."),
        ("health_worker", "Máy đọc phim LaoScan treo khi khởi động, trạm không sàng lọc được trong một buổi sáng."),
    ] {
        let r: Value = client
            .post(s.url("/api/v1/incidents"))
            .json(&json!({"reporter_kind": kind, "product_id": p.id, "province_code": "01",
                "occurred_on": if text.contains("treo") { &other_day } else { &day },
                "seriousness": if text.contains("treo") { "malfunction" } else { "serious_injury" },
                "patient_age_band": if text.contains("treo") { "15-44" } else { "45-64" }, "narrative": text}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let receipt = r["receipt"].as_str().unwrap().to_string();
        ids.push((receipt.clone(), s.store.incident_by_receipt(&receipt).await.unwrap().unwrap().incident.id));
    }
    let rev = s.login("rev").await;
    let page = rev
        .get(s.url(&format!("/incidents/{}", ids[1].1)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let table = page
        .split("id=\"duplicates\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no duplicates table: {page}"));
    let table = table.split("</table>").next().unwrap();
    assert!(
        table.contains(&ids[0].0),
        "the same event is proposed: {table}"
    );
    assert!(!table.contains(&ids[2].0), "a different event is not");
    let csrf = vigilo_testkit::extract_csrf(&page).unwrap();
    let r = rev
        .post(s.url(&format!("/incidents/{}/duplicate", ids[1].1)))
        .form(&[("csrf", csrf.as_str()), ("of", ids[0].1.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let v = s.store.incident(&ids[1].1).await.unwrap().unwrap();
    assert_eq!(v.incident.duplicate_of.as_deref(), Some(ids[0].1.as_str()));
    // Counted once in public: two reports, one of them a duplicate.
    let counts: Value = client
        .get(s.url("/api/v1/public/incident-counts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["total"]["shown"], "<5");
    let rows = s
        .store
        .incident_counts(vigilo_store::CountBy::Seriousness, None)
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|c| c.n).sum::<i64>(), 2);
    // Undo.
    rev.post(s.url(&format!("/incidents/{}/duplicate", ids[1].1)))
        .form(&[("csrf", csrf.as_str()), ("of", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.store
            .incident(&ids[1].1)
            .await
            .unwrap()
            .unwrap()
            .incident
            .duplicate_of,
        None
    );
    s.stop().await;
}
