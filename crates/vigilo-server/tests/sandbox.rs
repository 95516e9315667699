//! The sandbox desk through the real server, on both backends: a reviewer
//! uploads the held-out Wisconsin data and registers a study; the vendor
//! submits predictions; the report matches scikit-learn's figures.
#![allow(clippy::unwrap_used)]

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;
use vigilo_core::appraisal::{Actor, ApplicationCommand as C};
use vigilo_core::directory::{
    AiKind, ClinicalArea, InputModality, ModelCard, VersionCommand, VersionLabel,
};
use vigilo_core::Role;
use vigilo_server::ServerConfig;
use vigilo_store::NewProduct;
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(blind_study_from_dataset_to_report);

const REFERENCE: &[u8] = include_bytes!("../../vigilo-sandbox/fixtures/wdbc_reference.csv");
const PREDICTIONS: &[u8] =
    include_bytes!("../../vigilo-sandbox/fixtures/wdbc_sklearn_predictions.csv");
const SKLEARN: &str = include_str!("../../vigilo-sandbox/fixtures/wdbc_sklearn_reference.json");

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn blind_study_from_dataset_to_report(backend: Backend) {
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
    let vendor = s.user("vendor-a", Role::Vendor, Some("MFR-A")).await;
    s.user("vendor-b", Role::Vendor, Some("MFR-B")).await;
    s.user("rev", Role::Reviewer, None).await;
    let maker = vendor.organisation_id.clone().unwrap();
    // A product with a dossier under review.
    let p = s
        .store
        .create_product(
            "test",
            NewProduct {
                manufacturer_id: maker.clone(),
                name: "Breast FNA".into(),
                name_en: None,
                clinical_area: ClinicalArea::Other,
                input_modality: InputModality::Imaging,
                ai_kind: AiKind::Locked,
                country: "VN".into(),
            },
        )
        .await
        .unwrap();
    let card = ModelCard {
        intended_use: "Phân loại u vú".into(),
        intended_use_en: String::new(),
        intended_users: "Bác sĩ".into(),
        target_population: "Phụ nữ".into(),
        clinical_area: ClinicalArea::Other,
        input_modality: InputModality::Imaging,
        ai_kind: AiKind::Locked,
        training_data: "455 ca".into(),
        claimed_performance: vec![],
        subgroups_reported: vec![],
        known_limitations: "—".into(),
        change_control_plan: "—".into(),
        languages: vec![],
    };
    let v = s
        .store
        .create_version("test", &p.id, &VersionLabel::parse("1.0").unwrap(), &card)
        .await
        .unwrap();
    s.store
        .change_version_status("test", &v.id, VersionCommand::Publish)
        .await
        .unwrap();
    let app = s
        .store
        .open_application("test", &maker, &v.id, &[("imdrf-gmlp".into(), 1)])
        .await
        .unwrap();
    for (cmd, actor) in [
        (C::Submit, Actor::Vendor),
        (C::StartScreening, Actor::Staff),
        (C::AcceptForReview, Actor::Staff),
        (C::SendToSandbox, Actor::Staff),
    ] {
        s.store
            .transition_application("test", actor, &app.id, cmd, "ok", None)
            .await
            .unwrap();
    }

    // The reviewer uploads the reference dataset; a wrong label column is named.
    let rv = s.login("rev").await;
    let csrf = s.form_csrf(&rv, "/sandbox").await;
    let dataset_form = |label: &str| {
        Form::new()
            .text("csrf", csrf.clone())
            .text("name", "WDBC held-out")
            .text("case_id", "case_id")
            .text("label", label.to_string())
            .text("features", "mean_texture, worst_area, worst_smoothness")
            .text("subgroups", "radius_band")
            .part("file", Part::bytes(REFERENCE).file_name("wdbc.csv"))
    };
    let r = rv
        .post(s.url("/sandbox/datasets"))
        .multipart(dataset_form("diagnosis"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("diagnosis"));
    let r = rv
        .post(s.url("/sandbox/datasets"))
        .multipart(dataset_form("label"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let ds = s.store.datasets().await.unwrap().remove(0);
    assert_eq!(ds.row_count, 114);

    // The study, with its protocol fixed now.
    let r = rv
        .post(s.url("/sandbox/studies"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("title", "Blind test"),
            ("application_id", app.id.as_str()),
            ("dataset_id", ds.id.as_str()),
            ("metric", "sensitivity"),
            ("threshold", "0.5"),
            ("min_lower_bound", "0.8"),
            ("secondary", "auroc; ; 0.9"),
            ("score_kind", "probability"),
            ("subgroup_columns", "radius_band"),
            ("min_subgroup_size", "10"),
            ("max_submissions", "2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let study_path = location(&r);

    // The vendor sees the study, not the labels; another vendor sees nothing.
    let va = s.login("vendor-a").await;
    let html = va
        .get(s.url(&study_path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"submission\""));
    assert!(!html.contains("wdbc-400,1"), "no labels on the page");
    let vb = s.login("vendor-b").await;
    assert_eq!(
        vb.get(s.url(&study_path)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    let vcsrf = s.form_csrf(&va, &study_path).await;
    let submit = |bytes: Vec<u8>| {
        let form = Form::new()
            .text("csrf", vcsrf.clone())
            .text("kind", "predictions")
            .part("file", Part::bytes(bytes).file_name("predictions.csv"));
        va.post(s.url(&format!("{study_path}/submissions")))
            .multipart(form)
            .send()
    };
    // A file with an unknown case id never parsed: refused, not counted.
    let mut bad = PREDICTIONS.to_vec();
    bad.extend_from_slice(b"wdbc-999,0.5\n");
    let r = submit(bad).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("wdbc-999"));
    let study_id = study_path.rsplit('/').next().unwrap();
    assert_eq!(
        s.store.study(study_id).await.unwrap().unwrap().remaining(),
        2
    );

    let r = submit(PREDICTIONS.to_vec()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let report_path = location(&r);
    assert_eq!(
        s.store.study(study_id).await.unwrap().unwrap().remaining(),
        1
    );
    let html = va
        .get(s.url(&report_path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<svg"), "ROC and calibration charts");
    assert!(html.contains(&ds.sha256), "dataset fingerprint shown");
    assert!(html.len() < 100 * 1024);

    // The JSON report agrees with scikit-learn on the same predictions.
    let report: Value = va
        .get(s.url(&format!("{report_path}/report.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sklearn: Value = serde_json::from_str(SKLEARN).unwrap();
    let auc = report["auroc"]["estimate"].as_f64().unwrap();
    let want = sklearn["overall"]["roc_auc"].as_f64().unwrap();
    assert!((auc - want).abs() <= 1e-9 * want, "{auc} vs {want}");
    assert_eq!(report["dataset"]["sha256"], ds.sha256.as_str());
    let confusion = &report["at_threshold"]["confusion"];
    for k in ["tp", "fp", "tn", "fn"] {
        assert_eq!(confusion[k], sklearn["overall"]["confusion"][k], "{k}");
    }
    let brier = report["calibration"]["brier"].as_f64().unwrap();
    let want = sklearn["overall"]["brier"].as_f64().unwrap();
    assert!((brier - want).abs() <= 1e-9 * want, "{brier} vs {want}");

    let pdf = va
        .get(s.url(&format!("{report_path}/report.pdf")))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
    assert_eq!(
        vb.get(s.url(&format!("{report_path}/report.json")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    s.stop().await;
}
