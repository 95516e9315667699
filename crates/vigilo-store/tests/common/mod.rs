//! The world the monitoring and incident conformance tests share: a manufacturer with a
//! licensed version (pilot, Hà Nội only), a reviewer, and facilities in and out of scope.
#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;
use time::macros::{date, datetime};
use vigilo_core::appraisal::{Actor, ApplicationCommand as C, DecisionOutcome, LicenceConditions};
use vigilo_core::clock::ManualClock;
use vigilo_core::directory::{
    AiKind, ClinicalArea, InputModality, ModelCard, VersionCommand, VersionLabel,
};
use vigilo_core::monitoring::TrainingRecord;
use vigilo_core::period::PeriodKind;
use vigilo_core::{OrgKind, Role, Username};
use vigilo_store::testing::TestDb;
use vigilo_store::{DecisionInput, NewDeployment, NewOrganisation, NewProduct, NewUser, Store};

pub struct World {
    pub maker: String,
    pub vendor: String,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub reviewer: String,
    pub version: String,
    pub product: String,
    /// In Hà Nội (province 01), which the licence allows.
    pub hanoi: String,
    /// In Huế (province 46), which it does not.
    pub hue: String,
}

pub async fn facility(store: &Store, code: &str, unit: &str) -> String {
    store
        .create_organisation(
            "test",
            NewOrganisation {
                code: code.into(),
                kind: OrgKind::Facility,
                name: format!("Trạm y tế {code}"),
                name_en: None,
                admin_unit_code: Some(unit.into()),
            },
        )
        .await
        .unwrap()
        .id
}

pub async fn world(db: &TestDb) -> World {
    let clock = Arc::new(ManualClock::new(datetime!(2026-01-05 08:00 UTC)));
    let store = Store::connect_with_clock(&db.url, clock.clone())
        .await
        .unwrap();
    store.migrate().await.unwrap();
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
    let card = ModelCard {
        intended_use: "Sàng lọc lao trên X-quang ngực".into(),
        intended_use_en: String::new(),
        intended_users: "Bác sĩ".into(),
        target_population: "Người lớn".into(),
        clinical_area: ClinicalArea::TuberculosisScreening,
        input_modality: InputModality::Imaging,
        ai_kind: AiKind::Locked,
        training_data: "10.000 ca".into(),
        claimed_performance: vec![],
        subgroups_reported: vec![],
        known_limitations: "—".into(),
        change_control_plan: "—".into(),
        languages: vec!["vi".into()],
    };
    let version = store
        .create_version(
            &vendor,
            &product,
            &VersionLabel::parse("1.0").unwrap(),
            &card,
        )
        .await
        .unwrap()
        .id;
    store
        .change_version_status(&vendor, &version, VersionCommand::Publish)
        .await
        .unwrap();
    let app = store
        .open_application(&vendor, &maker, &version, &[("vn-dossier".into(), 1)])
        .await
        .unwrap();
    store
        .transition_application(&vendor, Actor::Vendor, &app.id, C::Submit, "", None)
        .await
        .unwrap();
    for (cmd, why) in [(C::StartScreening, "complete"), (C::AcceptForReview, "ok")] {
        store
            .transition_application(&reviewer, Actor::Staff, &app.id, cmd, why, None)
            .await
            .unwrap();
    }
    store
        .transition_application(
            &reviewer,
            Actor::Staff,
            &app.id,
            C::Decide,
            "meets the protocol",
            Some(DecisionInput {
                outcome: DecisionOutcome::ApprovedWithConditions,
                conditions: Some(LicenceConditions {
                    provinces: vec!["01".into()],
                    facilities: vec![],
                    pilot_only: true,
                    monitoring_duties: "Báo cáo hằng tháng".into(),
                    monitoring_duties_en: "Monthly reports".into(),
                    kpis: vec![],
                    expires_on: date!(2028 - 12 - 31),
                }),
            }),
        )
        .await
        .unwrap();
    let hanoi = facility(&store, "TYT-BADINH", "00004").await;
    let hue = facility(&store, "TYT-HUE", "46").await;
    World {
        maker,
        vendor,
        store,
        clock,
        reviewer,
        version,
        product,
        hanoi,
        hue,
    }
}

pub fn at<'a>(version: &'a str, facility: &'a str) -> NewDeployment<'a> {
    NewDeployment {
        version_id: version,
        facility_id: facility,
        go_live: date!(2026 - 01 - 05),
        end_date: None,
        frequency: PeriodKind::Month,
    }
}

pub fn trained() -> TrainingRecord {
    TrainingRecord {
        trained_on: date!(2026 - 01 - 02),
        course: "Đọc kết quả LaoScan".into(),
        staff_trained: 3,
    }
}

pub async fn deployed(w: &World) -> String {
    w.store
        .record_training(&w.reviewer, &w.hanoi, &w.product, &trained())
        .await
        .unwrap();
    w.store
        .create_deployment(
            &w.reviewer,
            &NewDeployment {
                version_id: &w.version,
                facility_id: &w.hanoi,
                go_live: date!(2026 - 01 - 05),
                end_date: None,
                frequency: PeriodKind::Month,
            },
        )
        .await
        .unwrap()
        .id
}
