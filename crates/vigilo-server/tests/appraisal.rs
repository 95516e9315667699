//! The appraisal desk and the licence register through the real server, on both
//! backends: pages as a browser uses them, and the JSON API with tokens.
#![allow(clippy::unwrap_used)]

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};
use vigilo_core::checklist::Catalog;
use vigilo_core::directory::{
    AiKind, ClinicalArea, InputModality, ModelCard, VersionCommand, VersionLabel,
};
use vigilo_core::Role;
use vigilo_server::ServerConfig;
use vigilo_store::NewProduct;
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(
    a_dossier_through_the_pages_to_a_public_licence,
    the_dossier_api_with_tokens,
);

fn card() -> ModelCard {
    ModelCard {
        intended_use: "Sàng lọc lao trên X-quang ngực".into(),
        intended_use_en: "Tuberculosis screening on chest X-rays".into(),
        intended_users: "Bác sĩ".into(),
        target_population: "Người lớn".into(),
        clinical_area: ClinicalArea::TuberculosisScreening,
        input_modality: InputModality::Imaging,
        ai_kind: AiKind::Locked,
        training_data: "10.000 ca".into(),
        claimed_performance: vec![],
        subgroups_reported: vec![],
        known_limitations: "Chưa thử ở trẻ em".into(),
        change_control_plan: "Huấn luyện lại hằng năm".into(),
        languages: vec![],
    }
}

/// A published product of the vendor's organisation: (product id, version id).
async fn published(s: &TestServer, maker_org: &str, name: &str) -> (String, String) {
    let p = s
        .store
        .create_product(
            "test",
            NewProduct {
                manufacturer_id: maker_org.into(),
                name: name.into(),
                name_en: None,
                clinical_area: ClinicalArea::TuberculosisScreening,
                input_modality: InputModality::Imaging,
                ai_kind: AiKind::Locked,
                country: "VN".into(),
            },
        )
        .await
        .unwrap();
    let v = s
        .store
        .create_version("test", &p.id, &VersionLabel::parse("1.0").unwrap(), &card())
        .await
        .unwrap();
    s.store
        .change_version_status("test", &v.id, VersionCommand::Publish)
        .await
        .unwrap();
    (p.id, v.id)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn page(client: &reqwest::Client, url: String) -> (StatusCode, String) {
    let r = client
        .get(url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn start(backend: Backend) -> Option<TestServer> {
    TestServer::start(
        backend,
        ServerConfig {
            run_jobs: false,
            ..ServerConfig::default()
        },
    )
    .await
}

async fn a_dossier_through_the_pages_to_a_public_licence(backend: Backend) {
    let Some(mut s) = start(backend).await else {
        return;
    };
    let vendor = s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("vendor-b", Role::Vendor, Some("MFR-B")).await;
    s.user("rev", Role::Reviewer, None).await;
    s.user("adm", Role::Admin, None).await;
    let maker = vendor.organisation_id.clone().unwrap();
    let (product, version) = published(&s, &maker, "LaoScan").await;
    let catalog = Catalog::builtin().unwrap();
    let gmlp = catalog.get("imdrf-gmlp", 1).unwrap();
    let first_item = gmlp.items()[0].id.clone();

    // The vendor opens a dossier from the list page.
    let va = s.login("vendor-a").await;
    let csrf = s.form_csrf(&va, "/applications").await;
    let r = va
        .post(s.url("/applications"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("version_id", version.as_str()),
            ("framework", "imdrf-gmlp@1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let app_path = location(&r);
    let (status, html) = page(&va, s.url(&app_path)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("HS-"), "reference shown");
    assert!(html.contains("Bản nháp"), "state in Vietnamese");
    assert!(html.len() < 100 * 1024, "page under 100 KB: {}", html.len());
    // Another vendor cannot see it, nor anonymous visitors.
    let vb = s.login("vendor-b").await;
    assert_eq!(page(&vb, s.url(&app_path)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        page(&TestServer::client(), s.url(&app_path)).await.0,
        StatusCode::SEE_OTHER
    );

    // Answers: an off-scale value is refused with the item named; a good one is kept.
    let bad_key = format!("a.imdrf-gmlp@1.{first_item}");
    let note_key = format!("n.imdrf-gmlp@1.{first_item}");
    let r = va
        .post(s.url(&format!("{app_path}/answers")))
        .form(&[
            ("csrf", csrf.as_str()),
            (bad_key.as_str(), "maybe"),
            (note_key.as_str(), ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains(&first_item));
    let r = va
        .post(s.url(&format!("{app_path}/answers")))
        .form(&[
            ("csrf", csrf.as_str()),
            (bad_key.as_str(), "met"),
            (note_key.as_str(), "Quy trình SOP-07"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&va, s.url(&app_path)).await;
    assert!(html.contains("Quy trình SOP-07"));

    // Evidence: an executable renamed .pdf is refused; a PDF is kept and comes back
    // as a download; a form without the CSRF token is refused.
    let upload = |name: &'static str, bytes: &'static [u8], with_csrf: bool| {
        let mut form = Form::new();
        if with_csrf {
            form = form.text("csrf", csrf.clone());
        }
        form = form
            .text("item", "imdrf-gmlp@1")
            .part("file", Part::bytes(bytes).file_name(name));
        va.post(s.url(&format!("{app_path}/documents")))
            .multipart(form)
            .send()
    };
    let r = upload("report.pdf", b"MZ\x90\x00binary", true)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("pdf"));
    let r = upload("báo cáo.pdf", b"%PDF-1.7 evidence", false)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = upload("báo cáo.pdf", b"%PDF-1.7 evidence", true)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&va, s.url(&app_path)).await;
    let doc_start = html.find(&format!("{app_path}/documents/")).unwrap();
    let doc_path: String = html[doc_start..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    let r = va.get(s.url(&doc_path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    assert_eq!(&r.bytes().await.unwrap()[..], b"%PDF-1.7 evidence");
    assert_eq!(
        vb.get(s.url(&doc_path)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Submit; the reviewer screens (a reason is required), assesses, accepts, decides.
    let r = va
        .post(s.url(&format!("{app_path}/actions")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "submit"),
            ("reason", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&va, s.url(&app_path)).await;
    assert!(html.contains("Đã nộp"));
    assert!(
        !html.contains("id=\"answers\""),
        "answers are frozen once submitted"
    );

    let rv = s.login("rev").await;
    let rcsrf = s.form_csrf(&rv, &app_path).await;
    let staff_act = |fields: Vec<(&'static str, String)>| {
        let mut f = fields;
        f.push(("csrf", rcsrf.clone()));
        let url = s.url(&format!("{app_path}/actions"));
        let rv = rv.clone();
        async move { rv.post(url).form(&f).send().await.unwrap() }
    };
    let r = staff_act(vec![
        ("action", "start_screening".into()),
        ("reason", " ".into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = staff_act(vec![
        ("action", "start_screening".into()),
        ("reason", "đủ hồ sơ".into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let assess_key = format!("r.imdrf-gmlp@1.{first_item}");
    let r = rv
        .post(s.url(&format!("{app_path}/assessment")))
        .form(&[
            ("csrf", rcsrf.as_str()),
            (assess_key.as_str(), "partly_met"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The vendor cannot act for the regulator.
    let r = va
        .post(s.url(&format!("{app_path}/actions")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "accept_for_review"),
            ("reason", "self-service"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = staff_act(vec![
        ("action", "accept_for_review".into()),
        ("reason", "complete".into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A bad expiry date is refused and names the field.
    let r = staff_act(vec![
        ("action", "decide".into()),
        ("outcome", "approved_with_conditions".into()),
        ("reason", "meets the bound".into()),
        ("expires_on", "31/12/2027".into()),
        ("province", "01".into()),
        ("pilot_only", "1".into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("expires_on"));
    // KPI duties name catalogue KPIs, with targets on the KPI's own scale.
    for (kpis, says) in [
        ("tb_sensitivity; 0,85", "0 to 100 scale"),
        ("tb_magic; 50", "tb_magic"),
    ] {
        let r = staff_act(vec![
            ("action", "decide".into()),
            ("outcome", "approved_with_conditions".into()),
            ("reason", "meets the bound".into()),
            ("expires_on", "2030-12-31".into()),
            ("province", "01".into()),
            ("kpis", kpis.into()),
        ])
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{kpis}");
        assert!(r.text().await.unwrap().contains(says), "{kpis}");
    }
    let r = staff_act(vec![
        ("action", "decide".into()),
        ("outcome", "approved_with_conditions".into()),
        ("reason", "Độ nhạy 0,91 (0,88-0,94) đạt ngưỡng".into()),
        ("expires_on", "2030-12-31".into()),
        ("province", "01".into()),
        ("pilot_only", "1".into()),
        ("monitoring_duties", "Báo cáo KPI hằng quý".into()),
        ("kpis", "tb_sensitivity; 85".into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&va, s.url(&app_path)).await;
    assert!(html.contains("Chấp thuận có điều kiện"));
    let lic_start = html.find("/licences/").unwrap();
    let licence_path: String = html[lic_start..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();

    // The register and the licence are public, with conditions and history.
    let anon = TestServer::client();
    let (status, html) = page(&anon, s.url("/licences?lang=en")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("GP-") && html.contains("LaoScan"));
    let (status, html) = page(&anon, s.url(&format!("{licence_path}?lang=en"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Hà Nội"), "province named");
    assert!(html.contains("tb_sensitivity"));
    assert!(html.contains("Active"));
    assert!(
        !html.contains("name=\"action\""),
        "no actions for the public"
    );
    let entry: Value = anon
        .get(s.url(&format!("/api/v1/directory/{product}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(entry["licence_status"], "active", "{entry}");

    // The decision letter, in both languages, as HTML and PDF; the product page lists the licence.
    let (status, html) = page(&anon, s.url(&format!("{licence_path}/letter?lang=vi"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"));
    assert!(html.contains("tb_sensitivity"));
    assert!(html.contains("Độ nhạy 0,91"), "the decision's reasons");
    let (_, html) = page(&anon, s.url(&format!("{licence_path}/letter?lang=en"))).await;
    assert!(html.contains("Decision on a licence"));
    let pdf = anon
        .get(s.url(&format!("{licence_path}/letter.pdf")))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), StatusCode::OK);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
    let (_, html) = page(&anon, s.url(&format!("/directory/{product}"))).await;
    assert!(
        html.contains(&licence_path),
        "the product page links its licence"
    );

    // Only an administrator suspends; the directory follows.
    let r = rv
        .post(s.url(&format!("{licence_path}/actions")))
        .form(&[
            ("csrf", rcsrf.as_str()),
            ("action", "suspend"),
            ("reason", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let ad = s.login("adm").await;
    let acsrf = s.form_csrf(&ad, &licence_path).await;
    let r = ad
        .post(s.url(&format!("{licence_path}/actions")))
        .form(&[
            ("csrf", acsrf.as_str()),
            ("action", "suspend"),
            ("reason", "Tín hiệu an toàn đang xem xét"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&anon, s.url(&format!("{licence_path}?lang=vi"))).await;
    assert!(html.contains("Tạm đình chỉ"));
    assert!(html.contains("Tín hiệu an toàn đang xem xét"));
    let entry: Value = anon
        .get(s.url(&format!("/api/v1/directory/{product}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(entry["licence_status"], "suspended");
    s.stop().await;
}

async fn the_dossier_api_with_tokens(backend: Backend) {
    let Some(mut s) = start(backend).await else {
        return;
    };
    let vendor = s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("rev", Role::Reviewer, None).await;
    let maker = vendor.organisation_id.clone().unwrap();
    let (_, version) = published(&s, &maker, "TimMach AI").await;
    let vt = s.token("vendor-a").await;
    let rt = s.token("rev").await;
    let c = TestServer::client();
    let post = |token: &str, path: String, body: Value| {
        c.post(s.url(&path)).bearer_auth(token).json(&body).send()
    };

    // Unknown checklists are refused by name.
    let r = post(
        &vt,
        "/api/v1/applications".into(),
        json!({"version_id": version, "frameworks": ["gmlp-typo"]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("gmlp-typo"));
    let r = post(
        &vt,
        "/api/v1/applications".into(),
        json!({"version_id": version}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let app: Value = r.json().await.unwrap();
    let id = app["id"].as_str().unwrap().to_string();
    assert_eq!(app["state"], "draft");
    assert_eq!(app["frameworks"], json!(["imdrf-gmlp@1", "vn-dossier@1"]));
    assert_eq!(app["allowed_actions"], json!(["submit", "withdraw"]));
    let missing_before = app["missing_required"].as_array().unwrap().len();
    assert!(missing_before > 0);

    let catalog = Catalog::builtin().unwrap();
    let gmlp = catalog.get("imdrf-gmlp", 1).unwrap();
    let answers: Vec<Value> = gmlp
        .items()
        .iter()
        .map(|i| json!({"item_id": i.id, "value": "met", "comment": "SOP"}))
        .collect();
    let r = c
        .put(s.url(&format!("/api/v1/applications/{id}/answers")))
        .bearer_auth(&vt)
        .json(&json!({"framework_id": "imdrf-gmlp", "framework_version": 1, "answers": answers}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let after: Value = r.json().await.unwrap();
    let missing_after = after["missing_required"].as_array().unwrap();
    assert!(missing_after.len() < missing_before);
    assert!(missing_after
        .iter()
        .all(|m| !m.as_str().unwrap().starts_with("imdrf-gmlp@1/")));
    // A version nobody publishes is refused with the known versions.
    let r = c
        .put(s.url(&format!("/api/v1/applications/{id}/answers")))
        .bearer_auth(&vt)
        .json(&json!({"framework_id": "imdrf-gmlp", "framework_version": 9, "answers": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = c
        .post(s.url(&format!(
            "/api/v1/applications/{id}/documents?filename=evaluation.csv"
        )))
        .bearer_auth(&vt)
        .body("case_id,label\n1,0\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["media_type"], "text/csv");
    assert_eq!(doc["sha256"].as_str().unwrap().len(), 64);
    let r = c
        .post(s.url(&format!(
            "/api/v1/applications/{id}/documents?filename=tool.exe"
        )))
        .bearer_auth(&vt)
        .body("MZ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The vendor cannot screen; the reviewer cannot submit for the vendor.
    let r = post(
        &vt,
        format!("/api/v1/applications/{id}/actions"),
        json!({"action": "start_screening", "reason": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(
        &rt,
        format!("/api/v1/applications/{id}/actions"),
        json!({"action": "submit"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for (token, body) in [
        (&vt, json!({"action": "submit"})),
        (&rt, json!({"action": "start_screening", "reason": "ok"})),
        (
            &rt,
            json!({"action": "request_information", "reason": "subgroups by sex?"}),
        ),
    ] {
        let r = post(token, format!("/api/v1/applications/{id}/actions"), body)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let list: Value = c
        .get(s.url("/api/v1/applications?state=information_requested"))
        .bearer_auth(&rt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["paused_from"], "screening");
    let r = post(
        &vt,
        format!("/api/v1/applications/{id}/actions"),
        json!({"action": "respond", "reason": "table 4 added"}),
    )
    .await
    .unwrap();
    let back: Value = r.json().await.unwrap();
    assert_eq!(back["state"], "screening");
    let r = post(
        &rt,
        format!("/api/v1/applications/{id}/actions"),
        json!({"action": "decide", "outcome": "rejected", "reason": "no clinical evidence"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let done: Value = r.json().await.unwrap();
    assert_eq!(
        (done["state"].as_str(), done["outcome"].as_str()),
        (Some("decided"), Some("rejected"))
    );
    let licences: Value = c
        .get(s.url("/api/v1/licences"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(licences, json!([]), "a rejection grants nothing");
    s.stop().await;
}
