//! The public Directory through the real server, on both backends.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::Value;
use vigilo_core::directory::{
    AiKind, ClinicalArea, EntrySource, InputModality, ModelCard, VersionCommand, VersionLabel,
};
use vigilo_core::OrgKind;
use vigilo_server::directory::{FHIR_DEVICE_DEFINITION_ELEMENTS, FHIR_DEVICE_NAME_TYPES};
use vigilo_server::ServerConfig;
use vigilo_store::{NewProduct, ReferenceRecord};
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(
    search_api_facets_and_pages,
    product_and_reference_pages,
    open_data_csv_fhir_and_feed,
    drafts_are_not_public,
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
