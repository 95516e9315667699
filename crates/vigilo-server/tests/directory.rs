//! The public Directory through the real server, on both backends.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::Value;
use vigilo_core::directory::{
    AiKind, ClinicalArea, EntrySource, InputModality, ModelCard, VersionCommand, VersionLabel,
};
use vigilo_core::{OrgKind, Role};
use vigilo_server::directory::{FHIR_DEVICE_DEFINITION_ELEMENTS, FHIR_DEVICE_NAME_TYPES};
use vigilo_server::ServerConfig;
use vigilo_store::{NewProduct, ReferenceRecord};
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(
    search_api_facets_and_pages,
    product_and_reference_pages,
    open_data_csv_fhir_and_feed,
    drafts_are_not_public,
    vendor_registers_and_reviewer_publishes_in_the_browser,
    vendor_and_reviewer_api,
);

fn card(area: ClinicalArea, text: &str) -> ModelCard {
    ModelCard {
        intended_use: text.into(),
        intended_use_en: "Screening support".into(),
        intended_users: "Bác sĩ".into(),
        target_population: "Người lớn".into(),
        clinical_area: area,
        input_modality: InputModality::Imaging,
        ai_kind: AiKind::Locked,
        training_data: "10.000 ca".into(),
        claimed_performance: vec![],
        subgroups_reported: vec![],
        known_limitations: "Chưa thử ở trẻ em".into(),
        change_control_plan: "Thẩm định lại mỗi năm".into(),
        languages: vec![],
    }
}

async fn setup(backend: Backend) -> Option<(TestServer, Vec<String>)> {
    let mut s = TestServer::start(
        backend,
        ServerConfig {
            run_jobs: false,
            ..ServerConfig::default()
        },
    )
    .await?;
    let maker = s.org("MFR-1", OrgKind::Manufacturer).await;
    let mut ids = Vec::new();
    for (name, area, text) in [
        (
            "LaoScan",
            ClinicalArea::TuberculosisScreening,
            "Sàng lọc lao trên X-quang ngực",
        ),
        (
            "Tim Mạch AI",
            ClinicalArea::CardiovascularRisk,
            "Ước tính nguy cơ tim mạch",
        ),
        ("Đọc Phim", ClinicalArea::Radiology, "Hỗ trợ đọc phim CT"),
    ] {
        let p = s
            .store
            .create_product(
                "t",
                NewProduct {
                    manufacturer_id: maker.clone(),
                    name: name.into(),
                    name_en: None,
                    clinical_area: area,
                    input_modality: InputModality::Imaging,
                    ai_kind: AiKind::Locked,
                    country: "VN".into(),
                },
            )
            .await
            .unwrap();
        let v = s
            .store
            .create_version(
                "t",
                &p.id,
                &VersionLabel::parse("1.0").unwrap(),
                &card(area, text),
            )
            .await
            .unwrap();
        s.store
            .change_version_status("t", &v.id, VersionCommand::Publish)
            .await
            .unwrap();
        ids.push(p.id);
    }
    s.store
        .import_references(
            "t",
            EntrySource::FdaAiList,
            "2025-09",
            &[ReferenceRecord {
                reference: "K252054".into(),
                device: "SpineAR SNAP".into(),
                company: "Surgical Theater, Inc.".into(),
                panel: "Neurology".into(),
                product_code: "SBF".into(),
                decision_date: "2025-09-29".into(),
            }],
        )
        .await
        .unwrap();
    Some((s, ids))
}

async fn search_api_facets_and_pages(backend: Backend) {
    let Some((s, _)) = setup(backend).await else {
        return;
    };
    let c = TestServer::client();
    let all: Value = c
        .get(s.url("/api/v1/directory"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["total"], 4);
    assert_eq!(all["facets"]["source"].as_array().unwrap().len(), 2);
    let r: Value = c
        .get(s.url("/api/v1/directory?q=s%C3%A0ng%20l%E1%BB%8Dc%20lao"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["total"], 1);
    assert_eq!(r["items"][0]["name"], "LaoScan");
    let r: Value = c
        .get(s.url("/api/v1/directory?q=DOC%20PHIM"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["items"][0]["name"], "Đọc Phim");
    // Foreign entries are searchable and marked.
    let r: Value = c
        .get(s.url("/api/v1/directory?q=spinear"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["items"][0]["source"], "fda_ai_list");
    let r: Value = c
        .get(s.url("/api/v1/directory?source=local&limit=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["total"], 3);
    assert_eq!(r["items"].as_array().unwrap().len(), 2);
    let cursor = r["next_cursor"].as_str().unwrap();
    let r2: Value = c
        .get(s.url(&format!(
            "/api/v1/directory?source=local&limit=2&cursor={cursor}"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r2["items"].as_array().unwrap().len(), 1);
    assert!(r2["next_cursor"].is_null());
    // Labels follow the language.
    let en: Value = c
        .get(s.url("/api/v1/directory?q=lao"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        en["facets"]["clinical_area"][0]["label"],
        "Tuberculosis screening"
    );
    // Bad input: clear 400s, never 500.
    for bad in ["colour=red", "limit=1000", "limit=abc", "cursor=zzz"] {
        let r = c
            .get(s.url(&format!("/api/v1/directory?{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let long = "%E1%BB%8D".repeat(3000);
    let r = c
        .get(s.url(&format!("/api/v1/directory?q={long}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The page: facets as links, results, light.
    let page = c
        .get(s.url("/directory?q=lao"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("LaoScan") && page.contains("clinical_area=tuberculosis_screening"));
    assert!(page.len() < 100 * 1024);
    let r = c
        .get(s.url("/directory?colour=red"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("colour"));
    s.stop().await;
}

async fn product_and_reference_pages(backend: Backend) {
    let Some((s, ids)) = setup(backend).await else {
        return;
    };
    let c = TestServer::client();
    let page = c
        .get(s.url(&format!("/directory/{}", ids[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("LaoScan") && html.contains("Sàng lọc lao trên X-quang ngực"));
    assert!(html.len() < 100 * 1024);
    let r: Value = c
        .get(s.url("/api/v1/directory?q=spinear"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rid = r["items"][0]["id"].as_str().unwrap().to_string();
    let html = c
        .get(s.url(&format!("/directory/{rid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("K252054") && html.contains("pmn.cfm?ID=K252054"));
    let r = c.get(s.url("/directory/no-such-id")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

async fn open_data_csv_fhir_and_feed(backend: Backend) {
    let Some((s, ids)) = setup(backend).await else {
        return;
    };
    let c = TestServer::client();
    let csv = c.get(s.url("/directory/export.csv")).send().await.unwrap();
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.contains("\"Surgical Theater, Inc.\""));
    let xlsx = c.get(s.url("/directory/export.xlsx")).send().await.unwrap();
    assert!(xlsx.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("spreadsheetml"));
    let bytes = xlsx.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK", "an xlsx file is a zip archive");
    assert!(bytes.len() > 1000);
    let filtered = c
        .get(s.url("/directory/export.csv?source=fda_ai_list"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(filtered.lines().count(), 2);
    // FHIR R4 DeviceDefinition: only R4 elements, valid name types.
    for id in [ids[0].clone(), {
        let r: Value = c
            .get(s.url("/api/v1/directory?q=spinear"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["items"][0]["id"].as_str().unwrap().to_string()
    }] {
        let r = c
            .get(s.url(&format!("/api/v1/directory/{id}/fhir")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], "application/fhir+json");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["resourceType"], "DeviceDefinition");
        assert_eq!(doc["id"], id.as_str());
        for key in doc.as_object().unwrap().keys() {
            assert!(
                FHIR_DEVICE_DEFINITION_ELEMENTS.contains(&key.as_str()),
                "{key} is not an R4 DeviceDefinition element"
            );
        }
        for n in doc["deviceName"].as_array().unwrap() {
            assert!(FHIR_DEVICE_NAME_TYPES.contains(&n["type"].as_str().unwrap()));
            assert!(!n["name"].as_str().unwrap().is_empty());
        }
        for ident in doc["identifier"].as_array().unwrap() {
            assert!(ident["system"].is_string() && ident["value"].is_string());
        }
    }
    // Feed of changes: Atom and JSON with a cursor.
    let atom = c.get(s.url("/directory/feed.atom")).send().await.unwrap();
    assert!(atom.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/atom+xml"));
    let xml = atom.text().await.unwrap();
    assert_eq!(xml.matches("<entry>").count(), 4);
    assert!(xml.contains("SpineAR SNAP"));
    let changes: Value = c
        .get(s.url("/api/v1/directory/changes?after=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(changes["items"].as_array().unwrap().len(), 4);
    let after = changes["next_after"].as_i64().unwrap();
    let none: Value = c
        .get(s.url(&format!("/api/v1/directory/changes?after={after}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none["items"].as_array().unwrap().is_empty());
    s.stop().await;
}

async fn drafts_are_not_public(backend: Backend) {
    let Some((s, _)) = setup(backend).await else {
        return;
    };
    let maker = s
        .store
        .organisation_by_code("MFR-1")
        .await
        .unwrap()
        .unwrap()
        .id;
    let p = s
        .store
        .create_product(
            "t",
            NewProduct {
                manufacturer_id: maker,
                name: "Secret Draft".into(),
                name_en: None,
                clinical_area: ClinicalArea::Other,
                input_modality: InputModality::Text,
                ai_kind: AiKind::Generative,
                country: "VN".into(),
            },
        )
        .await
        .unwrap();
    s.store
        .create_version(
            "t",
            &p.id,
            &VersionLabel::parse("0.1").unwrap(),
            &card(ClinicalArea::Other, "Bản nháp"),
        )
        .await
        .unwrap();
    let c = TestServer::client();
    let r: Value = c
        .get(s.url("/api/v1/directory?q=secret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["total"], 0);
    for path in [
        format!("/directory/{}", p.id),
        format!("/api/v1/directory/{}", p.id),
        format!("/api/v1/directory/{}/fhir", p.id),
    ] {
        assert_eq!(
            c.get(s.url(&path)).send().await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    s.stop().await;
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn vendor_registers_and_reviewer_publishes_in_the_browser(backend: Backend) {
    let Some(mut s) = TestServer::start(
        backend,
        ServerConfig {
            run_jobs: false,
            ..ServerConfig::default()
        },
    )
    .await
    else {
        return;
    };
    s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("vendor-b", Role::Vendor, Some("MFR-B")).await;
    s.user("rev", Role::Reviewer, None).await;
    let va = s.login("vendor-a").await;
    let csrf = s.form_csrf(&va, "/vendor").await;
    // Missing fields come back as messages in Vietnamese, values kept.
    let r = va
        .post(s.url("/vendor/products"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", ""),
            ("clinical_area", "tuberculosis_screening"),
            ("input_modality", "imaging"),
            ("ai_kind", "locked"),
            ("country", "VN"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("name: bắt buộc nhập"));
    let r = va
        .post(s.url("/vendor/products"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "LaoScan Pro"),
            ("name_en", ""),
            ("clinical_area", "tuberculosis_screening"),
            ("input_modality", "imaging"),
            ("ai_kind", "locked"),
            ("country", "VN"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let product_path = location(&r);
    let pid = product_path.rsplit('/').next().unwrap().to_string();
    // A version with mistakes: every mistake named at once.
    let mut form = vec![
        ("csrf", csrf.clone()),
        ("version", "1 0".to_string()),
        ("intended_use", "Sàng lọc lao".to_string()),
        ("intended_users", "Bác sĩ".to_string()),
        ("target_population", "Người lớn".to_string()),
        ("training_data", "5.000 phim".to_string()),
        (
            "performance",
            "sensitivity; 0,95; 0,96; 0,99; test".to_string(),
        ),
        ("known_limitations", "".to_string()),
        ("change_control_plan", "Hằng năm".to_string()),
    ];
    let r = va
        .post(s.url(&format!("{product_path}/versions")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(body.contains("version: chỉ dùng chữ"), "{body}");
    assert!(body.contains("known_limitations: bắt buộc nhập"));
    assert!(body.contains("khoảng tin cậy phải chứa giá trị"));
    form[1].1 = "1.0".into();
    form[6].1 = "sensitivity; 0,95; 0,92; 0,97; Hà Nội 2025".into();
    form[7].1 = "Chưa đánh giá ở trẻ em".into();
    let r = va
        .post(s.url(&format!("{product_path}/versions")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Other vendors do not see it; the public does not either (draft).
    let vb = s.login("vendor-b").await;
    assert_eq!(
        vb.get(s.url(&product_path)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let anon = TestServer::client();
    assert_eq!(
        anon.get(s.url(&format!("/directory/{pid}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // The reviewer sees the queue, publishes and classifies with an override.
    let rev = s.login("rev").await;
    let queue = rev
        .get(s.url("/review"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(queue.contains("LaoScan Pro"));
    let page = rev
        .get(s.url(&format!("/review/products/{pid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rcsrf = vigilo_testkit::extract_csrf(&page).unwrap();
    let vid = page
        .split("/review/versions/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let r = rev
        .post(s.url(&format!("/review/versions/{vid}/publish")))
        .form(&[("csrf", rcsrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let public = anon
        .get(s.url(&format!("/directory/{pid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::OK);
    let base = [
        ("csrf", rcsrf.as_str()),
        ("situation", "serious"),
        ("significance", "drive_clinical_management"),
        ("autonomy", "clinician_in_the_loop"),
        ("users", "healthcare_professionals"),
    ];
    let mut over: Vec<(&str, &str)> = base.to_vec();
    over.extend([
        ("decision", "override"),
        ("override_field", "vn_device_class"),
        ("override_to", "c"),
        ("reason", ""),
    ]);
    let r = rev
        .post(s.url(&format!("/review/products/{pid}/classification")))
        .form(&over)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "an override needs a reason"
    );
    over.pop();
    over.push((
        "reason",
        "Dùng ở tuyến xã không có bác sĩ chẩn đoán hình ảnh",
    ));
    let r = rev
        .post(s.url(&format!("/review/products/{pid}/classification")))
        .form(&over)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = anon
        .get(s.url(&format!("/directory/{pid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("tuyến xã không có bác sĩ"),
        "override reason shown in the reasoning"
    );
    let entry: Value = anon
        .get(s.url(&format!("/api/v1/directory/{pid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(entry["risk_class"], "C");
    let audit: Vec<String> = s
        .store
        .list_audit(None, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(
        audit.contains(&"product.classify".to_string())
            && audit.contains(&"version.publish".to_string())
    );
    // A vendor cannot publish.
    let vcsrf = s.form_csrf(&va, "/vendor").await;
    let r = va
        .post(s.url(&format!("/review/versions/{vid}/publish")))
        .form(&[("csrf", vcsrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    s.stop().await;
}

async fn vendor_and_reviewer_api(backend: Backend) {
    let Some(mut s) = TestServer::start(
        backend,
        ServerConfig {
            run_jobs: false,
            ..ServerConfig::default()
        },
    )
    .await
    else {
        return;
    };
    s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("vendor-b", Role::Vendor, Some("MFR-B")).await;
    s.user("rev", Role::Reviewer, None).await;
    let (ta, tb, tr) = (
        s.token("vendor-a").await,
        s.token("vendor-b").await,
        s.token("rev").await,
    );
    let c = TestServer::client();
    let r = c
        .post(s.url("/api/v1/products"))
        .bearer_auth(&ta)
        .json(&serde_json::json!({"name": "Tim Mạch AI", "clinical_area": "cardiovascular_risk", "input_modality": "structured_record", "ai_kind": "locked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let p: Value = r.json().await.unwrap();
    let pid = p["id"].as_str().unwrap();
    let r = c
        .post(s.url("/api/v1/products"))
        .bearer_auth(&ta)
        .json(&serde_json::json!({"name": "X", "clinical_area": "astrology", "input_modality": "text", "ai_kind": "locked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let card = serde_json::to_value(card(
        ClinicalArea::CardiovascularRisk,
        "Ước tính nguy cơ tim mạch",
    ))
    .unwrap();
    let r = c
        .post(s.url(&format!("/api/v1/products/{pid}/versions")))
        .bearer_auth(&tb)
        .json(&serde_json::json!({"version": "1.0", "model_card": card}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "another vendor's product"
    );
    let r = c
        .post(s.url(&format!("/api/v1/products/{pid}/versions")))
        .bearer_auth(&ta)
        .json(&serde_json::json!({"version": "1.0", "model_card": card}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let vid = v["id"].as_str().unwrap();
    let r = c
        .post(s.url(&format!("/api/v1/versions/{vid}/publish")))
        .bearer_auth(&ta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c
        .post(s.url(&format!("/api/v1/versions/{vid}/publish")))
        .bearer_auth(&tr)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .post(s.url(&format!("/api/v1/versions/{vid}/publish")))
        .bearer_auth(&tr)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "published versions are immutable"
    );
    let r = c
        .post(s.url(&format!("/api/v1/products/{pid}/classification")))
        .bearer_auth(&tr)
        .json(&serde_json::json!({"situation": "non_serious", "significance": "inform_clinical_management", "autonomy": "clinician_in_the_loop", "users": "healthcare_professionals"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let out: Value = r.json().await.unwrap();
    assert_eq!(out["status"], "confirmed");
    assert_eq!(out["risk_class"], "A");
    s.stop().await;
}
