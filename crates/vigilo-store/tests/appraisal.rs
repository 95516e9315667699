//! Conformance of the appraisal and licensing store, on SQLite always and on
//! PostgreSQL when VIGILO_TEST_POSTGRES_URL names a server (CI sets it).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use time::macros::{date, datetime};
use time::Duration;
use vigilo_core::appraisal::{
    Actor, ApplicationCommand as C, ApplicationState as S, DecisionOutcome, KpiDuty,
    LicenceCommand, LicenceConditions,
};
use vigilo_core::clock::ManualClock;
use vigilo_core::directory::{
    AiKind, ClinicalArea, InputModality, ModelCard, VersionCommand, VersionLabel,
};
use vigilo_core::{OrgKind, Role, Username};
use vigilo_store::testing::TestDb;
use vigilo_store::{
    ApplicationFilter, DecisionInput, ItemAnswer, NewOrganisation, NewProduct, NewUser, Store,
    StoreError,
};

vigilo_store::conformance!(
    a_dossier_goes_from_draft_to_licence,
    only_the_owner_and_only_open_once,
    evidence_is_content_addressed_and_frozen_after_submission,
    answers_and_assessments_are_kept_per_item,
    licences_suspend_reinstate_revoke_and_expire,
    a_new_version_inside_the_change_plan_shares_the_licence,
);

const START: time::OffsetDateTime = datetime!(2026-11-23 08:00 UTC);

async fn open_at(db: &TestDb, clock: Arc<ManualClock>) -> Store {
    let store = Store::connect_with_clock(&db.url, clock).await.unwrap();
    store.migrate().await.unwrap();
    store
}

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
        change_control_plan: "Huấn luyện lại hằng năm trên cùng giao thức".into(),
        languages: vec!["vi".into()],
    }
}

struct World {
    store: Store,
    clock: Arc<ManualClock>,
    maker: String,
    vendor: String,
    reviewer: String,
    product: String,
    version: String,
}

async fn world(db: &TestDb) -> World {
    let clock = Arc::new(ManualClock::new(START));
    let store = open_at(db, clock.clone()).await;
    let maker = store
        .create_organisation(
            "test",
            NewOrganisation {
                code: "VN-AI-1".into(),
                kind: OrgKind::Manufacturer,
                name: "Công ty Hải Đăng".into(),
                name_en: None,
                admin_unit_code: None,
            },
        )
        .await
        .unwrap()
        .id;
    let user = |name: &str, role, org: Option<String>| NewUser {
        username: Username::parse(name).unwrap(),
        display_name: name.into(),
        password: "correct horse battery".into(),
        role,
        organisation_id: org,
    };
    let vendor = store
        .create_user("test", user("vendor1", Role::Vendor, Some(maker.clone())))
        .await
        .unwrap()
        .id;
    let reviewer = store
        .create_user("test", user("reviewer1", Role::Reviewer, None))
        .await
        .unwrap()
        .id;
    let product = store
        .create_product(
            &vendor,
            NewProduct {
                manufacturer_id: maker.clone(),
                name: "LaoScan".into(),
                name_en: None,
                clinical_area: ClinicalArea::TuberculosisScreening,
                input_modality: InputModality::Imaging,
                ai_kind: AiKind::Locked,
                country: "VN".into(),
            },
        )
        .await
        .unwrap()
        .id;
    let version = store
        .create_version(
            &vendor,
            &product,
            &VersionLabel::parse("1.0").unwrap(),
            &card(),
        )
        .await
        .unwrap()
        .id;
    World {
        store,
        clock,
        maker,
        vendor,
        reviewer,
        product,
        version,
    }
}

fn frameworks() -> Vec<(String, u32)> {
    vec![("imdrf-gmlp".into(), 1), ("vn-dossier".into(), 1)]
}

fn conditions(expires_on: time::Date) -> LicenceConditions {
    LicenceConditions {
        provinces: vec!["01".into()],
        facilities: vec![],
        pilot_only: true,
        monitoring_duties: "Báo cáo KPI hằng quý".into(),
        monitoring_duties_en: "Quarterly KPI reports".into(),
        kpis: vec![KpiDuty {
            kpi: "tb_sensitivity".into(),
            target: 0.85,
        }],
        expires_on,
    }
}

async fn publish(w: &World, version: &str) {
    w.store
        .change_version_status(&w.vendor, version, VersionCommand::Publish)
        .await
        .unwrap();
}

/// Takes an application from draft to the given decision through the usual path.
async fn decided(
    w: &World,
    version: &str,
    outcome: DecisionOutcome,
    expires: time::Date,
) -> String {
    let s = &w.store;
    let app = s
        .open_application(&w.vendor, &w.maker, version, &frameworks())
        .await
        .unwrap();
    let staff = |cmd, reason: &'static str| {
        let id = app.id.clone();
        let reviewer = w.reviewer.clone();
        async move {
            s.transition_application(&reviewer, Actor::Staff, &id, cmd, reason, None)
                .await
                .unwrap()
        }
    };
    s.transition_application(&w.vendor, Actor::Vendor, &app.id, C::Submit, "", None)
        .await
        .unwrap();
    staff(C::StartScreening, "complete").await;
    staff(C::AcceptForReview, "all items present").await;
    s.transition_application(
        &w.reviewer,
        Actor::Staff,
        &app.id,
        C::Decide,
        "meets the protocol",
        Some(DecisionInput {
            outcome,
            conditions: Some(conditions(expires)),
        }),
    )
    .await
    .unwrap();
    app.id
}

async fn a_dossier_goes_from_draft_to_licence(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    let app = s
        .open_application(&w.vendor, &w.maker, &w.version, &frameworks())
        .await
        .unwrap();
    assert_eq!(app.reference, "HS-2026-000001");
    assert_eq!(app.state, "draft");
    assert_eq!(app.framework_list(), frameworks());

    // A dossier must refer to a frozen model card.
    let err = s
        .transition_application(&w.vendor, Actor::Vendor, &app.id, C::Submit, "", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid { field: "version", reason } if reason.contains("publish")),
        "{err}"
    );
    publish(&w, &w.version).await;
    // Roles are the state machine's: a vendor cannot screen its own dossier.
    assert!(matches!(
        s.transition_application(
            &w.vendor,
            Actor::Vendor,
            &app.id,
            C::StartScreening,
            "x",
            None
        )
        .await,
        Err(StoreError::Invalid {
            field: "action",
            ..
        })
    ));
    let step = |actor_id: &str, actor, cmd, reason: &str| {
        let actor_id = actor_id.to_string();
        let reason = reason.to_string();
        let id = app.id.clone();
        async move {
            s.transition_application(&actor_id, actor, &id, cmd, &reason, None)
                .await
                .unwrap()
        }
    };
    step(&w.vendor, Actor::Vendor, C::Submit, "").await;
    w.clock.advance(Duration::days(2));
    step(&w.reviewer, Actor::Staff, C::StartScreening, "starting").await;
    w.clock.advance(Duration::days(3));
    let paused = step(
        &w.reviewer,
        Actor::Staff,
        C::RequestInformation,
        "subgroup results by sex are missing",
    )
    .await;
    assert_eq!(
        (paused.state.as_str(), paused.paused_from.as_deref()),
        ("information_requested", Some("screening"))
    );
    w.clock.advance(Duration::days(10));
    let back = step(&w.vendor, Actor::Vendor, C::Respond, "added table 4").await;
    assert_eq!(back.state, "screening");
    step(&w.reviewer, Actor::Staff, C::AcceptForReview, "complete").await;
    step(&w.reviewer, Actor::Staff, C::SendToSandbox, "blind test").await;
    step(&w.reviewer, Actor::Staff, C::ReturnFromSandbox, "passed").await;

    // An approval without conditions is refused and changes nothing.
    let err = s
        .transition_application(
            &w.reviewer,
            Actor::Staff,
            &app.id,
            C::Decide,
            "ok",
            Some(DecisionInput {
                outcome: DecisionOutcome::ApprovedWithConditions,
                conditions: None,
            }),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid {
            field: "conditions",
            ..
        }
    ));
    assert_eq!(
        s.application(&app.id).await.unwrap().unwrap().state,
        "under_review"
    );
    let done = s
        .transition_application(
            &w.reviewer,
            Actor::Staff,
            &app.id,
            C::Decide,
            "Sensitivity 0.91 (0.88-0.94) meets the pre-registered bound",
            Some(DecisionInput {
                outcome: DecisionOutcome::ApprovedWithConditions,
                conditions: Some(conditions(date!(2027 - 11 - 30))),
            }),
        )
        .await
        .unwrap();
    assert_eq!(done.progress().state, S::Decided);
    assert_eq!(done.outcome.as_deref(), Some("approved_with_conditions"));
    assert_eq!(
        done.conditions().unwrap().kpis[0].kpi,
        "tb_sensitivity",
        "the impact plan's KPIs are kept for monitoring"
    );

    let events = s.application_events(&app.id).await.unwrap();
    let path: Vec<_> = events.iter().map(|e| e.to_state.as_str()).collect();
    assert_eq!(
        path,
        vec![
            "draft",
            "submitted",
            "screening",
            "information_requested",
            "screening",
            "under_review",
            "sandbox",
            "under_review",
            "decided"
        ]
    );
    assert_eq!(events[3].reason, "subgroup results by sex are missing");

    let licences = s.authorisations_of_product(&w.product).await.unwrap();
    assert_eq!(licences.len(), 1);
    let l = &licences[0];
    assert_eq!(
        (
            l.reference.as_str(),
            l.status.as_str(),
            l.version_id.as_str()
        ),
        ("GP-2026-000001", "active", w.version.as_str())
    );
    assert_eq!(l.expires_on, "2027-11-30");
    assert_eq!(l.application_id.as_deref(), Some(app.id.as_str()));
    let entry = s.directory_entry(&w.product).await.unwrap().unwrap();
    assert_eq!(entry.licence_status, "active");
    assert_eq!(
        s.product(&w.product).await.unwrap().unwrap().licence_status,
        "active"
    );
    // The staff desk filters by state.
    let decided_list = s
        .applications(&ApplicationFilter {
            state: Some(S::Decided),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(decided_list.len(), 1);
    assert!(s.verify_audit().await.unwrap().first_break.is_none());
}

async fn only_the_owner_and_only_open_once(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    let other = s
        .create_organisation(
            "test",
            NewOrganisation {
                code: "OTHER".into(),
                kind: OrgKind::Manufacturer,
                name: "Công ty khác".into(),
                name_en: None,
                admin_unit_code: None,
            },
        )
        .await
        .unwrap()
        .id;
    assert!(matches!(
        s.open_application(&w.vendor, &other, &w.version, &frameworks())
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.open_application(&w.vendor, &w.maker, &w.version, &[])
            .await,
        Err(StoreError::Invalid {
            field: "frameworks",
            ..
        })
    ));
    let first = s
        .open_application(&w.vendor, &w.maker, &w.version, &frameworks())
        .await
        .unwrap();
    let again = s
        .open_application(&w.vendor, &w.maker, &w.version, &frameworks())
        .await;
    assert!(
        matches!(&again, Err(StoreError::Conflict { key, .. }) if *key == first.reference),
        "{again:?}"
    );
    // Once withdrawn, a new dossier may be opened; numbers keep counting.
    s.transition_application(
        &w.vendor,
        Actor::Vendor,
        &first.id,
        C::Withdraw,
        "wrong version",
        None,
    )
    .await
    .unwrap();
    let second = s
        .open_application(&w.vendor, &w.maker, &w.version, &frameworks())
        .await
        .unwrap();
    assert_eq!(second.reference, "HS-2026-000002");
    let mine = s
        .applications(&ApplicationFilter {
            vendor_org_id: Some(w.maker.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    let theirs = s
        .applications(&ApplicationFilter {
            vendor_org_id: Some(other),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(theirs.is_empty());
    // Reviewers are staff accounts only.
    assert!(matches!(
        s.assign_reviewer(&w.reviewer, &second.id, &w.vendor).await,
        Err(StoreError::Invalid {
            field: "reviewer",
            ..
        })
    ));
    let assigned = s
        .assign_reviewer(&w.reviewer, &second.id, &w.reviewer)
        .await
        .unwrap();
    assert_eq!(assigned.reviewer_id.as_deref(), Some(w.reviewer.as_str()));
}

async fn evidence_is_content_addressed_and_frozen_after_submission(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    publish(&w, &w.version).await;
    let app = s
        .open_application(&w.vendor, &w.maker, &w.version, &frameworks())
        .await
        .unwrap();
    let pdf = b"%PDF-1.7\nclinical evaluation".to_vec();
    let a = s
        .add_document(
            &w.vendor,
            &app.id,
            "đánh giá lâm sàng.pdf",
            "application/pdf",
            &pdf,
            Some("vn-dossier@1/clinical-evidence"),
        )
        .await
        .unwrap();
    let b = s
        .add_document(
            &w.vendor,
            &app.id,
            "copy.pdf",
            "application/pdf",
            &pdf,
            None,
        )
        .await
        .unwrap();
    assert_eq!(a.sha256, b.sha256);
    {
        use sha2::Digest;
        assert_eq!(a.sha256, hex::encode(sha2::Sha256::digest(&pdf)));
    }
    let (meta, bytes) = s.document_content(&app.id, &a.id).await.unwrap().unwrap();
    assert_eq!(bytes, pdf);
    assert_eq!(meta.filename, "đánh giá lâm sàng.pdf");
    assert_eq!(s.documents(&app.id).await.unwrap().len(), 2);
    // A document id from another application is not found through this one.
    let other_app_lookup = s.document_content("no-such-app", &a.id).await.unwrap();
    assert!(other_app_lookup.is_none());

    s.transition_application(&w.vendor, Actor::Vendor, &app.id, C::Submit, "", None)
        .await
        .unwrap();
    let late = s
        .add_document(
            &w.vendor,
            &app.id,
            "late.pdf",
            "application/pdf",
            b"%PDF-x",
            None,
        )
        .await;
    assert!(matches!(
        late,
        Err(StoreError::Invalid {
            field: "application",
            ..
        })
    ));
    assert_eq!(s.documents(&app.id).await.unwrap().len(), 2);
}

async fn answers_and_assessments_are_kept_per_item(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    publish(&w, &w.version).await;
    let app = s
        .open_application(&w.vendor, &w.maker, &w.version, &frameworks())
        .await
        .unwrap();
    let answer = |item: &str, value: &str, note: &str| ItemAnswer {
        framework: "imdrf-gmlp".into(),
        framework_version: 1,
        item_id: item.into(),
        value: value.into(),
        note: note.into(),
    };
    s.save_answers(
        &w.vendor,
        &app.id,
        &[
            answer("p1", "met", "see SOP"),
            answer("p2", "partly_met", ""),
        ],
    )
    .await
    .unwrap();
    // Saving again replaces that item's answer, not the others.
    s.save_answers(&w.vendor, &app.id, &[answer("p2", "met", "fixed")])
        .await
        .unwrap();
    let got = s.answers(&app.id).await.unwrap();
    assert_eq!(
        got,
        vec![answer("p1", "met", "see SOP"), answer("p2", "met", "fixed")]
    );
    // Assessments wait until the regulator holds the file.
    assert!(s
        .save_assessments(
            &w.reviewer,
            &w.reviewer,
            &app.id,
            &[answer("p1", "met", "ok")]
        )
        .await
        .is_err());
    s.transition_application(&w.vendor, Actor::Vendor, &app.id, C::Submit, "", None)
        .await
        .unwrap();
    assert!(
        s.save_answers(&w.vendor, &app.id, &[answer("p1", "not_met", "")])
            .await
            .is_err(),
        "answers are frozen once submitted"
    );
    s.transition_application(
        &w.reviewer,
        Actor::Staff,
        &app.id,
        C::StartScreening,
        "go",
        None,
    )
    .await
    .unwrap();
    s.save_assessments(
        &w.reviewer,
        &w.reviewer,
        &app.id,
        &[
            answer("p1", "met", "SOP v3 seen"),
            answer("p2", "not_met", "no data"),
        ],
    )
    .await
    .unwrap();
    let a = s.assessments(&app.id).await.unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(
        (a[1].item_id.as_str(), a[1].value.as_str()),
        ("p2", "not_met")
    );
    assert_eq!(s.answers(&app.id).await.unwrap()[0].value, "met");
}

async fn licences_suspend_reinstate_revoke_and_expire(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    publish(&w, &w.version).await;
    decided(
        &w,
        &w.version,
        DecisionOutcome::Approved,
        date!(2027 - 01 - 31),
    )
    .await;
    let licence = s.authorisations_of_product(&w.product).await.unwrap()[0].clone();

    let suspended = s
        .change_licence(
            "admin",
            &licence.id,
            LicenceCommand::Suspend,
            "signal under review",
        )
        .await
        .unwrap();
    assert_eq!(suspended.status, "suspended");
    assert_eq!(
        s.directory_entry(&w.product)
            .await
            .unwrap()
            .unwrap()
            .licence_status,
        "suspended"
    );
    assert!(matches!(
        s.change_licence("admin", &licence.id, LicenceCommand::Suspend, "again")
            .await,
        Err(StoreError::Invalid { .. })
    ));
    s.change_licence(
        "admin",
        &licence.id,
        LicenceCommand::Reinstate,
        "signal refuted",
    )
    .await
    .unwrap();
    // The expiry job does nothing before the date...
    assert!(s.expire_due_licences("system").await.unwrap().is_empty());
    // ...and expires it on the day.
    w.clock.set(datetime!(2027-01-31 00:00:01 UTC));
    assert_eq!(
        s.expire_due_licences("system").await.unwrap(),
        vec![licence.reference.clone()]
    );
    assert!(s.expire_due_licences("system").await.unwrap().is_empty());
    let expired = s.authorisation(&licence.id).await.unwrap().unwrap();
    assert_eq!(expired.status, "expired");
    assert!(s
        .change_licence("admin", &licence.id, LicenceCommand::Reinstate, "please")
        .await
        .is_err());
    assert_eq!(
        s.product(&w.product).await.unwrap().unwrap().licence_status,
        "expired"
    );
    let history: Vec<_> = s
        .authorisation_events(&licence.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.command, e.to_status))
        .collect();
    assert_eq!(
        history,
        vec![
            ("grant".to_string(), "active".to_string()),
            ("suspend".into(), "suspended".into()),
            ("reinstate".into(), "active".into()),
            ("expire".into(), "expired".into()),
        ]
    );

    // A second version approved later; revoking it is final.
    let v2 = s
        .create_version(
            &w.vendor,
            &w.product,
            &VersionLabel::parse("2.0").unwrap(),
            &card(),
        )
        .await
        .unwrap()
        .id;
    publish(&w, &v2).await;
    decided(&w, &v2, DecisionOutcome::Approved, date!(2028 - 01 - 31)).await;
    let l2 = s
        .authorisations_of_product(&w.product)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.version_id == v2)
        .unwrap();
    assert_eq!(l2.reference, "GP-2027-000001", "numbers restart each year");
    assert_eq!(
        s.product(&w.product).await.unwrap().unwrap().licence_status,
        "active"
    );
    s.change_licence(
        "admin",
        &l2.id,
        LicenceCommand::Revoke,
        "unsafe advice confirmed",
    )
    .await
    .unwrap();
    assert!(s
        .change_licence("admin", &l2.id, LicenceCommand::Reinstate, "x")
        .await
        .is_err());
    assert_eq!(
        s.product(&w.product).await.unwrap().unwrap().licence_status,
        "expired",
        "an expired licence outranks a revoked one for the product's status"
    );
    assert!(s.verify_audit().await.unwrap().first_break.is_none());
}

async fn a_new_version_inside_the_change_plan_shares_the_licence(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    publish(&w, &w.version).await;
    decided(
        &w,
        &w.version,
        DecisionOutcome::ApprovedWithConditions,
        date!(2027 - 06 - 30),
    )
    .await;
    let parent = s.authorisations_of_product(&w.product).await.unwrap()[0].clone();
    let v11 = s
        .create_version(
            &w.vendor,
            &w.product,
            &VersionLabel::parse("1.1").unwrap(),
            &card(),
        )
        .await
        .unwrap()
        .id;
    assert!(matches!(
        s.extend_licence_to_version(&w.reviewer, &parent.id, &v11, "  ")
            .await,
        Err(StoreError::Invalid {
            field: "reason",
            ..
        })
    ));
    assert!(matches!(
        s.extend_licence_to_version(&w.reviewer, &parent.id, &w.version, "same")
            .await,
        Err(StoreError::Invalid {
            field: "version",
            ..
        })
    ));
    let child = s
        .extend_licence_to_version(
            &w.reviewer,
            &parent.id,
            &v11,
            "retrained on the same protocol, as the plan allows",
        )
        .await
        .unwrap();
    assert_eq!(
        (
            child.basis.as_str(),
            child.parent_id.as_deref(),
            child.expires_on.as_str()
        ),
        ("change_control", Some(parent.id.as_str()), "2027-06-30")
    );
    assert_eq!(child.conditions(), parent.conditions());
    assert_eq!(
        s.authorisation_events(&child.id).await.unwrap()[0].reason,
        "retrained on the same protocol, as the plan allows"
    );
    assert!(matches!(
        s.extend_licence_to_version(&w.reviewer, &parent.id, &v11, "twice")
            .await,
        Err(StoreError::Conflict { .. })
    ));
}
