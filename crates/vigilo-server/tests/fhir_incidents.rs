//! Incident reports as HL7 FHIR R4 AdverseEvent resources through the real server, on both
//! backends: out (the fields, no identifier in the output, the searchset Bundle and its
//! next link), in (a good report, one with several problems, the wrong content type, a
//! resend filed once), access (another manufacturer gets 404, anonymous 401), and a round
//! trip (an AdverseEvent out, posted back, files the same product, seriousness and dates).
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use vigilo_core::Role;
use vigilo_server::fhir_incidents::FHIR_ADVERSE_EVENT_ELEMENTS;
use vigilo_server::ServerConfig;
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(
    adverse_events_go_out_without_identifiers,
    adverse_events_come_in,
    an_adverse_event_posted_back_files_the_same_report,
);

fn config() -> ServerConfig {
    ServerConfig {
        run_jobs: false,
        ..ServerConfig::default()
    }
}

const FHIR: &str = "application/fhir+json";

fn days_ago(s: &TestServer, n: i64) -> String {
    (s.store.now().date() - time::Duration::days(n)).to_string()
}

/// Files a report through the JSON API and returns its id.
async fn file_json(s: &TestServer, body: Value) -> String {
    let r = TestServer::client()
        .post(s.url("/api/v1/incidents"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let receipt: Value = r.json().await.unwrap();
    let receipt = receipt["receipt"].as_str().unwrap();
    s.store
        .incident_by_receipt(receipt)
        .await
        .unwrap()
        .unwrap()
        .incident
        .id
}

async fn get_fhir(s: &TestServer, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut req = TestServer::client().get(s.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post_fhir(s: &TestServer, path: &str, doc: &Value) -> reqwest::Response {
    TestServer::client()
        .post(s.url(path))
        .header("content-type", FHIR)
        .body(doc.to_string())
        .send()
        .await
        .unwrap()
}

async fn adverse_events_go_out_without_identifiers(backend: Backend) {
    let Some(mut s) = TestServer::start(backend, config()).await else {
        return;
    };
    let a = s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("vendor-b", Role::Vendor, Some("MFR-B")).await;
    s.user("rev", Role::Reviewer, None).await;
    let (p, _) = s
        .licensed_version(a.organisation_id.as_deref().unwrap(), "LaoScan", vec![])
        .await;
    let id = file_json(
        &s,
        json!({
            "reporter_kind": "health_worker", "product_id": p.id, "version": "1.0",
            "province_code": "01", "occurred_on": days_ago(&s, 3), "aware_on": days_ago(&s, 1),
            "seriousness": "serious_injury", "patient_sex": "female", "patient_age_band": "45-64",
            "public_health_threat": true,
            "narrative": "LaoScan báo bình thường nhưng bệnh nhân Nguyễn Văn An (SĐT 0912 345 678) được chẩn đoán lao phổi sau 3 tuần <b>muộn</b>."
        }),
    )
    .await;
    s.store
        .set_incident_codes("test", &id, &["AI09".into()])
        .await
        .unwrap();
    let rev = s.token("rev").await;
    let r = TestServer::client()
        .get(s.url(&format!("/fhir/r4/AdverseEvent/{id}")))
        .bearer_auth(&rev)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with(FHIR));
    let raw = r.text().await.unwrap();
    for leak in ["0912 345 678", "0912345678", "Nguyễn Văn An", "Văn An"] {
        assert!(!raw.contains(leak), "{leak} leaked: {raw}");
    }
    let ae: Value = serde_json::from_str(&raw).unwrap();
    for key in ae.as_object().unwrap().keys() {
        assert!(
            FHIR_ADVERSE_EVENT_ELEMENTS.contains(&key.as_str()),
            "{key} is not an R4 AdverseEvent element"
        );
    }
    assert_eq!(ae["resourceType"], "AdverseEvent");
    assert_eq!(ae["id"], id.as_str());
    assert_eq!(ae["identifier"]["system"], "urn:vigilo:incident-receipt");
    assert!(ae["identifier"]["value"]
        .as_str()
        .unwrap()
        .starts_with("SC-"));
    assert_eq!(ae["actuality"], "actual");
    assert_eq!(ae["seriousness"]["coding"][0]["code"], "serious");
    assert_eq!(
        ae["seriousness"]["coding"][0]["system"],
        "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness"
    );
    assert_eq!(ae["severity"]["coding"][0]["code"], "severe");
    assert!(ae.get("outcome").is_none(), "not fatal");
    assert_eq!(ae["event"]["coding"][0]["system"], "urn:vigilo:ai-code");
    assert_eq!(ae["event"]["coding"][0]["code"], "AI09");
    assert_eq!(ae["date"], days_ago(&s, 3).as_str());
    assert_eq!(ae["detected"], days_ago(&s, 1).as_str());
    assert!(ae["recordedDate"].as_str().unwrap().contains('T'));
    assert_eq!(ae["location"]["identifier"]["value"], "01");
    assert_eq!(ae["subject"]["reference"], "#patient");
    assert!(ae["subject"].get("identifier").is_none());
    let patient = &ae["contained"][0];
    assert_eq!(patient["resourceType"], "Patient");
    assert_eq!(patient["gender"], "female");
    assert_eq!(patient["extension"][0]["valueCode"], "45-64");
    assert!(patient.get("name").is_none() && patient.get("identifier").is_none());
    let device = &ae["contained"][1];
    assert_eq!(device["resourceType"], "Device");
    assert_eq!(device["deviceName"][0]["name"], "LaoScan");
    assert_eq!(device["version"][0]["value"], "1.0");
    assert_eq!(device["definition"]["identifier"]["value"], p.id.as_str());
    assert_eq!(ae["suspectEntity"][0]["instance"]["reference"], "#device");
    let div = ae["text"]["div"].as_str().unwrap();
    assert!(div.starts_with("<div xmlns=\"http://www.w3.org/1999/xhtml\">"));
    assert!(div.contains("lao phổi") && div.contains("[PHONE]"), "{div}");
    assert!(div.contains("&lt;b&gt;muộn"), "narrative escaped: {div}");
    assert!(raw.contains("urn:vigilo:public-health-threat"));
    // Access: the manufacturer sees its own, another gets 404, anonymous 401.
    let va = s.token("vendor-a").await;
    let vb = s.token("vendor-b").await;
    let path = format!("/fhir/r4/AdverseEvent/{id}");
    assert_eq!(get_fhir(&s, Some(&va), &path).await.0, StatusCode::OK);
    let (status, outcome) = get_fhir(&s, Some(&vb), &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], "not-found");
    // Refusals from the layers in front of the FHIR handlers are OperationOutcomes too.
    let (status, outcome) = get_fhir(&s, None, &path).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["code"], "login");
    assert_eq!(
        get_fhir(&s, None, "/fhir/r4/AdverseEvent").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, outcome) = get_fhir(&s, Some(&va), "/fhir/r4/AdverseEvent").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the searchset is the reviewers'"
    );
    assert_eq!(outcome["issue"][0]["code"], "forbidden");
    // The searchset: newest first, pages joined by the next link.
    for n in 0..2 {
        file_json(
            &s,
            json!({"reporter_kind": "patient", "product_text": format!("ứng dụng số {n}"),
                "province_code": "01", "seriousness": "near_miss",
                "narrative": "The chatbot suggested stopping insulin; the nurse caught it in time."}),
        )
        .await;
    }
    let (status, page) = get_fhir(&s, Some(&rev), "/fhir/r4/AdverseEvent?_count=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["resourceType"], "Bundle");
    assert_eq!(page["type"], "searchset");
    let entries = page["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["resource"]["actuality"], "potential");
    assert_eq!(entries[0]["search"]["mode"], "match");
    assert!(entries[0]["fullUrl"]
        .as_str()
        .unwrap()
        .starts_with("http://"));
    assert!(!page.to_string().contains("0912"));
    let next = page["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let next_path = &next[next.find("/fhir/").unwrap()..];
    let (_, page2) = get_fhir(&s, Some(&rev), next_path).await;
    let entries2 = page2["entry"].as_array().unwrap();
    assert_eq!(entries2.len(), 1);
    assert_eq!(entries2[0]["resource"]["id"], id.as_str());
    assert!(!page2["link"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["relation"] == "next"));
    let (status, bad) = get_fhir(&s, Some(&rev), "/fhir/r4/AdverseEvent?cursor=nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["resourceType"], "OperationOutcome");
    s.stop().await;
}

fn good_event(product_id: &str, occurred: &str, key: &str) -> Value {
    json!({
        "resourceType": "AdverseEvent",
        "identifier": {"system": "urn:vigilo:client-key", "value": key},
        "actuality": "actual",
        "text": {"status": "additional",
            "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>LaoScan missed a cavity; patient Trần Thị Hoa, phone 0987 654 321, was sent home &amp; came back.</p></div>"},
        "contained": [
            {"resourceType": "Patient", "id": "p1", "gender": "male",
             "name": [{"text": "Trần Văn Bình"}], "identifier": [{"value": "079123456789"}]},
            {"resourceType": "Device", "id": "d1", "version": [{"value": "1.0"}],
             "definition": {"identifier": {"system": "urn:vigilo:product", "value": product_id}}}
        ],
        "subject": {"reference": "#p1"},
        "recorder": {"reference": "Practitioner/123"},
        "date": format!("{occurred}T08:30:00+07:00"),
        "location": {"identifier": {"system": "urn:vigilo:facility-code", "value": "TYT-BADINH"}},
        "seriousness": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness", "code": "non-serious"}]},
        "severity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity", "code": "mild"}]},
        "suspectEntity": [{"instance": {"reference": "#d1"}}]
    })
}

async fn adverse_events_come_in(backend: Backend) {
    let Some(mut s) = TestServer::start(backend, config()).await else {
        return;
    };
    let a = s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("station", Role::Reporter, Some("TYT-BADINH")).await;
    let (p, _) = s
        .licensed_version(a.organisation_id.as_deref().unwrap(), "LaoScan", vec![])
        .await;
    let doc = good_event(&p.id, &days_ago(&s, 2), "ehr-4711");
    let r = post_fhir(&s, "/fhir/r4/AdverseEvent", &doc).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with(FHIR));
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let raw = r.text().await.unwrap();
    for leak in [
        "0987 654 321",
        "Trần Thị Hoa",
        "Trần Văn Bình",
        "079123456789",
    ] {
        assert!(!raw.contains(leak), "{leak} in {raw}");
    }
    let stored: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(stored["resourceType"], "AdverseEvent");
    assert!(location.ends_with(stored["id"].as_str().unwrap()));
    assert!(location.starts_with("/fhir/r4/AdverseEvent/"));
    let v = s
        .store
        .incident(stored["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let i = &v.incident;
    assert_eq!(i.source, "fhir");
    assert_eq!(i.reporter_kind, "health_worker");
    assert_eq!(i.product_id.as_deref(), Some(p.id.as_str()));
    assert_eq!(v.version.as_deref(), Some("1.0"));
    assert_eq!(i.seriousness, "other_injury");
    assert_eq!(i.patient_sex.as_deref(), Some("male"));
    assert_eq!(i.occurred_on.as_deref(), Some(days_ago(&s, 2).as_str()));
    assert!(v.facility_name.as_deref().unwrap().contains("TYT-BADINH"));
    assert!(
        i.narrative.contains("sent home & came back"),
        "{}",
        i.narrative
    );
    assert!(!i.narrative.contains("0987"));
    // A resend with the same identifier files once and answers the first report.
    let r = post_fhir(&s, "/fhir/r4/AdverseEvent", &doc).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], stored["id"]);
    let all = s
        .store
        .incidents(&vigilo_store::IncidentFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    // Several problems: every one named, by element, in the request's language.
    let tomorrow = (s.store.now().date() + time::Duration::days(1)).to_string();
    let bad = json!({
        "resourceType": "AdverseEvent",
        "actuality": "actual",
        "recorder": {"type": "Practitioner"},
        "seriousness": {"coding": [{"code": "serious"}]},
        "text": {"div": "<div>short</div>"},
        "date": tomorrow,
        "location": {"identifier": {"value": "NO-SUCH"}},
        "subject": {"reference": "#p"},
        "contained": [{"resourceType": "Patient", "id": "p", "gender": "robot"}]
    });
    let r = post_fhir(&s, "/fhir/r4/AdverseEvent?lang=en", &bad).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let issues = outcome["issue"].as_array().unwrap();
    for issue in issues {
        assert_eq!(issue["severity"], "error");
        assert_eq!(issue["code"], "invalid");
    }
    let text = outcome.to_string();
    assert_eq!(issues.len(), 5, "{outcome}");
    for element in [
        "AdverseEvent.text.div",
        "AdverseEvent.suspectEntity",
        "AdverseEvent.date",
        "AdverseEvent.location",
        "AdverseEvent.subject",
    ] {
        assert!(text.contains(element), "{element} in {text}");
    }
    assert!(text.contains("in the future"), "{text}");
    let r = post_fhir(&s, "/fhir/r4/AdverseEvent?lang=vi", &bad).await;
    let outcome: Value = r.json().await.unwrap();
    assert!(outcome.to_string().contains("tương lai"));
    // Without a reporter or a seriousness, those two are named.
    let r = post_fhir(
        &s,
        "/fhir/r4/AdverseEvent?lang=en",
        &json!({"resourceType": "AdverseEvent"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("AdverseEvent.recorder") && text.contains("AdverseEvent.seriousness"),
        "{text}"
    );
    // Not an AdverseEvent, not JSON, not a JSON content type.
    let r = post_fhir(
        &s,
        "/fhir/r4/AdverseEvent",
        &json!({"resourceType": "Patient"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(
        outcome["issue"][0]["expression"][0],
        "AdverseEvent.resourceType"
    );
    let r = TestServer::client()
        .post(s.url("/fhir/r4/AdverseEvent"))
        .header("content-type", FHIR)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["issue"][0]["code"], "structure");
    let r = TestServer::client()
        .post(s.url("/fhir/r4/AdverseEvent"))
        .header("content-type", "application/xml")
        .body("<AdverseEvent/>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["severity"], "error");
    s.stop().await;
}

async fn an_adverse_event_posted_back_files_the_same_report(backend: Backend) {
    let Some(mut s) = TestServer::start(backend, config()).await else {
        return;
    };
    let a = s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("rev", Role::Reviewer, None).await;
    let (p, _) = s
        .licensed_version(a.organisation_id.as_deref().unwrap(), "LaoScan", vec![])
        .await;
    let rev = s.token("rev").await;
    for (n, seriousness) in [
        "death",
        "serious_injury",
        "other_injury",
        "malfunction",
        "near_miss",
    ]
    .into_iter()
    .enumerate()
    {
        let id = file_json(
            &s,
            json!({
                "reporter_kind": "health_worker", "product_id": p.id, "version": "1.0",
                "province_code": "01", "occurred_on": days_ago(&s, 5), "aware_on": days_ago(&s, 4),
                "seriousness": seriousness, "patient_age_band": "65+",
                "narrative": format!("LaoScan round trip number {n}: the reading was wrong and nobody checked it.")
            }),
        )
        .await;
        let (status, ae) = get_fhir(&s, Some(&rev), &format!("/fhir/r4/AdverseEvent/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        let r = post_fhir(&s, "/fhir/r4/AdverseEvent", &ae).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{seriousness}");
        let back: Value = r.json().await.unwrap();
        assert_ne!(back["id"], ae["id"], "a new report");
        let first = s.store.incident(&id).await.unwrap().unwrap();
        let second = s
            .store
            .incident(back["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        let (x, y) = (&first.incident, &second.incident);
        assert_eq!(y.product_id, x.product_id);
        assert_eq!(second.version, first.version);
        assert_eq!(y.seriousness, x.seriousness, "{seriousness}");
        assert_eq!(y.occurred_on, x.occurred_on);
        assert_eq!(y.aware_on, x.aware_on);
        assert_eq!(y.province_code, x.province_code);
        assert_eq!(y.reporter_kind, x.reporter_kind);
        assert_eq!(y.patient_age_band, x.patient_age_band);
        assert_eq!(y.narrative, x.narrative);
        assert_eq!(y.source, "fhir");
    }
    s.stop().await;
}
