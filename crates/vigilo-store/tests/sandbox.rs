//! Conformance of the sandbox store, on SQLite always and on PostgreSQL when
//! VIGILO_TEST_POSTGRES_URL names a server (CI sets it).
#![allow(clippy::unwrap_used)]

use vigilo_core::directory::{
    AiKind, ClinicalArea, InputModality, ModelCard, VersionCommand, VersionLabel,
};
use vigilo_core::OrgKind;
use vigilo_store::testing::TestDb;
use vigilo_store::{
    NewDataset, NewOrganisation, NewProduct, NewStudy, Store, StoreError, SubmissionOutcome,
};

vigilo_store::conformance!(
    datasets_studies_and_the_submission_limit,
    racing_submissions_never_exceed_the_limit,
);

async fn version_of_a_product(store: &Store) -> String {
    let maker = store
        .create_organisation(
            "test",
            NewOrganisation {
                code: "MFR".into(),
                kind: OrgKind::Manufacturer,
                name: "Công ty".into(),
                name_en: None,
                admin_unit_code: None,
            },
        )
        .await
        .unwrap()
        .id;
    let p = store
        .create_product(
            "test",
            NewProduct {
                manufacturer_id: maker,
                name: "BreastScreen".into(),
                name_en: None,
                clinical_area: ClinicalArea::Radiology,
                input_modality: InputModality::Imaging,
                ai_kind: AiKind::Locked,
                country: "VN".into(),
            },
        )
        .await
        .unwrap();
    let card = ModelCard {
        intended_use: "Hỗ trợ chẩn đoán".into(),
        intended_use_en: String::new(),
        intended_users: "Bác sĩ".into(),
        target_population: "Người lớn".into(),
        clinical_area: ClinicalArea::Radiology,
        input_modality: InputModality::Imaging,
        ai_kind: AiKind::Locked,
        training_data: "569 ca".into(),
        claimed_performance: vec![],
        subgroups_reported: vec![],
        known_limitations: "—".into(),
        change_control_plan: "—".into(),
        languages: vec![],
    };
    let v = store
        .create_version("test", &p.id, &VersionLabel::parse("1.0").unwrap(), &card)
        .await
        .unwrap();
    store
        .change_version_status("test", &v.id, VersionCommand::Publish)
        .await
        .unwrap();
    v.id
}

async fn study(store: &Store, max: i64) -> String {
    let version = version_of_a_product(store).await;
    let bytes = b"case_id,label\n1,0\n2,1\n";
    let ds = store
        .create_dataset(
            "user:rev",
            NewDataset {
                name: "WDBC held-out",
                description: "",
                roles_json: r#"{"case_id":"case_id","label":"label"}"#,
                rows: 2,
                positives: 1,
                bytes,
            },
        )
        .await
        .unwrap();
    assert_eq!(store.dataset_content(&ds.id).await.unwrap().unwrap(), bytes);
    store
        .create_study(
            "user:rev",
            NewStudy {
                title: "Blind test",
                dataset_id: &ds.id,
                version_id: &version,
                application_id: None,
                protocol_json: r#"{"primary":{"metric":"auroc","min_lower_bound":0.8}}"#,
                max_submissions: max,
            },
        )
        .await
        .unwrap()
        .id
}

fn evaluated() -> SubmissionOutcome {
    SubmissionOutcome::Evaluated {
        report_json: "{}".into(),
        verdict: "pass".into(),
    }
}

async fn datasets_studies_and_the_submission_limit(db: &TestDb) {
    let store = db.open().await.unwrap();
    let id = study(&store, 2).await;
    let s = store.study(&id).await.unwrap().unwrap();
    assert!(s.reference.starts_with("SB-"));
    assert_eq!(s.protocol_sha256.len(), 64);
    assert_eq!(s.remaining(), 2);
    assert!(matches!(
        store
            .create_study(
                "x",
                NewStudy {
                    title: "t",
                    dataset_id: &s.dataset_id,
                    version_id: &s.version_id,
                    application_id: None,
                    protocol_json: "{}",
                    max_submissions: 0,
                },
            )
            .await,
        Err(StoreError::Invalid {
            field: "max_submissions",
            ..
        })
    ));

    // A file that never parsed does not count; a model that ran and failed does.
    store
        .record_submission(
            "user:vendor",
            &id,
            "predictions",
            b"garbage",
            SubmissionOutcome::Failed {
                error: "line 1: no score column".into(),
                counted: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(store.study(&id).await.unwrap().unwrap().remaining(), 2);
    store
        .record_submission("user:vendor", &id, "predictions", b"ok1", evaluated())
        .await
        .unwrap();
    store
        .record_submission(
            "user:vendor",
            &id,
            "onnx",
            b"model",
            SubmissionOutcome::Failed {
                error: "too slow".into(),
                counted: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(store.study(&id).await.unwrap().unwrap().remaining(), 0);
    let refused = store
        .record_submission("user:vendor", &id, "predictions", b"ok2", evaluated())
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Invalid {
            field: "submission",
            ..
        })
    ));
    let subs = store.submissions(&id).await.unwrap();
    assert_eq!(subs.len(), 3, "the refused attempt left nothing behind");
    assert_eq!(
        subs.iter().filter(|s| s.counted == 1).count(),
        2,
        "{subs:?}"
    );
    assert!(matches!(
        store
            .record_submission("x", &id, "exe", b"", evaluated())
            .await,
        Err(StoreError::Invalid { field: "kind", .. })
    ));
    assert!(store.verify_audit().await.unwrap().first_break.is_none());
}

async fn racing_submissions_never_exceed_the_limit(db: &TestDb) {
    let store = db.open().await.unwrap();
    let id = study(&store, 3).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .record_submission(
                    "user:vendor",
                    &id,
                    "predictions",
                    format!("file {i}").as_bytes(),
                    evaluated(),
                )
                .await
                .is_ok()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        if t.await.unwrap() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 3);
    let s = store.study(&id).await.unwrap().unwrap();
    assert_eq!((s.submissions_used, s.remaining()), (3, 0));
    assert_eq!(store.submissions(&id).await.unwrap().len(), 3);
}
