//! Conformance of the Navigator (self-assessments, training, readiness map and gate), on
//! SQLite always and on PostgreSQL when VIGILO_TEST_POSTGRES_URL names a server.
#![allow(clippy::unwrap_used)]

use time::macros::date;
use vigilo_core::checklist::{AnswerSet, AnswerValue, Catalog, ItemAnswer};
use vigilo_core::navigator::{
    FacilityType, NewCourse, NewSession, ReadinessRule, RoleCount, StaffRole, READINESS_FRAMEWORK,
};
use vigilo_core::OrgKind;
use vigilo_store::testing::TestDb;
use vigilo_store::{NewOrganisation, SessionFilter, StoreError};

vigilo_store::conformance!(
    drafts_are_saved_revised_and_never_lost_then_submitted_into_history,
    bad_answers_are_refused_and_nothing_is_stored,
    provincial_health_departments_assess_too,
    sessions_of_a_course_on_a_tool_are_what_the_deployment_check_reads,
    the_readiness_gate_holds_back_high_risk_tools,
    the_readiness_map_counts_by_province_and_facility_type,
);

mod common;
use common::*;

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn set(values: &[(&str, i64)]) -> AnswerSet {
    AnswerSet {
        framework_id: READINESS_FRAMEWORK.into(),
        framework_version: 1,
        answers: values
            .iter()
            .map(|(id, v)| ItemAnswer {
                item_id: id.to_string(),
                value: Some(AnswerValue::Level(*v)),
                comment: String::new(),
                evidence: vec![],
            })
            .collect(),
    }
}

fn all_at(c: &Catalog, level: i64) -> AnswerSet {
    let f = c.latest(READINESS_FRAMEWORK).unwrap();
    let ids: Vec<(String, i64)> = f.items().iter().map(|i| (i.id.clone(), level)).collect();
    let refs: Vec<(&str, i64)> = ids.iter().map(|(i, l)| (i.as_str(), *l)).collect();
    set(&refs)
}

/// Audit actions on one object, oldest first.
async fn audit_actions(w: &World, object_type: &str, object: &str) -> Vec<String> {
    let mut out: Vec<String> = w
        .store
        .list_audit(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.object_type == object_type && a.object_id == object)
        .map(|a| a.action)
        .collect();
    out.reverse();
    out
}

async fn drafts_are_saved_revised_and_never_lost_then_submitted_into_history(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    let c = catalog();
    s.set_facility_type(&w.reviewer, &w.hanoi, FacilityType::CommuneStation)
        .await
        .unwrap();
    let a = s.open_assessment(&w.reviewer, &w.hanoi, &c).await.unwrap();
    assert_eq!(a.status, "draft");
    assert_eq!(a.subject_kind, "facility");
    assert_eq!(a.province_code, "01");
    assert_eq!(a.facility_type, "commune_station");
    assert_eq!((a.revision, a.answered, a.overall_level), (1, 0, 0));
    // Opening again continues the same draft.
    let again = s.open_assessment(&w.reviewer, &w.hanoi, &c).await.unwrap();
    assert_eq!(again.id, a.id);
    // A partial save: stored with its levels.
    // (Stored in item order, as the engine returns them.)
    let partial = set(&[("gov-accountable", 3), ("gov-committee", 2)]);
    let a2 = s
        .save_assessment(&w.reviewer, &a.id, 1, &partial, &c)
        .await
        .unwrap();
    assert_eq!((a2.revision, a2.answered, a2.overall_level), (2, 2, 0));
    // A save from a stale form (revision 1) is refused, not silently overwriting.
    let err = s
        .save_assessment(&w.reviewer, &a.id, 1, &set(&[("gov-committee", 4)]), &c)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    // Submitting with open questions is refused, and the draft stays as it was.
    let err = s
        .submit_assessment(&w.reviewer, &a.id, 2, &c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("still open"), "{err}");
    let kept = s.assessment(&a.id).await.unwrap().unwrap();
    assert_eq!(kept.answers().unwrap(), a2.answers().unwrap());
    // Complete, then submit.
    s.save_assessment(&w.reviewer, &a.id, 2, &all_at(&c, 2), &c)
        .await
        .unwrap();
    let sub = s
        .submit_assessment(&w.reviewer, &a.id, 3, &c)
        .await
        .unwrap();
    assert_eq!(sub.status, "submitted");
    assert_eq!(sub.overall_level, 2);
    assert!(sub.submitted_at.is_some());
    // Frozen.
    assert!(s
        .save_assessment(&w.reviewer, &a.id, 4, &all_at(&c, 3), &c)
        .await
        .is_err());
    // Every saved state can be read back.
    let revs = s.assessment_revisions(&a.id).await.unwrap();
    assert_eq!(
        revs.iter().map(|r| r.revision).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        s.assessment_revision_answers(&a.id, 2).await.unwrap(),
        Some(partial)
    );
    // A new assessment starts from the submitted answers; history keeps both.
    w.clock.advance(time::Duration::days(90));
    let next = s.open_assessment(&w.reviewer, &w.hanoi, &c).await.unwrap();
    assert_ne!(next.id, a.id);
    assert_eq!(next.answered, sub.answered);
    s.save_assessment(&w.reviewer, &next.id, 1, &all_at(&c, 3), &c)
        .await
        .unwrap();
    s.submit_assessment(&w.reviewer, &next.id, 2, &c)
        .await
        .unwrap();
    let history = s.assessments_of(&w.hanoi).await.unwrap();
    assert_eq!(
        history.iter().map(|h| h.overall_level).collect::<Vec<_>>(),
        [3, 2]
    );
    assert_eq!(
        s.latest_submitted(&w.hanoi)
            .await
            .unwrap()
            .unwrap()
            .overall_level,
        3
    );
    assert_eq!(
        audit_actions(&w, "assessment", &a.id).await,
        [
            "assessment.open",
            "assessment.save",
            "assessment.save",
            "assessment.submit"
        ]
    );
    assert!(s.verify_audit().await.unwrap().first_break.is_none());
}

async fn bad_answers_are_refused_and_nothing_is_stored(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    let c = catalog();
    let a = s.open_assessment(&w.reviewer, &w.hanoi, &c).await.unwrap();
    for (bad, needle) in [
        (set(&[("no-such-item", 2)]), "no such item"),
        (set(&[("gov-committee", 7)]), "out of range"),
        (
            AnswerSet {
                framework_version: 9,
                ..set(&[])
            },
            "version",
        ),
    ] {
        let err = s
            .save_assessment(&w.reviewer, &a.id, 1, &bad, &c)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    assert_eq!(s.assessment(&a.id).await.unwrap().unwrap().revision, 1);
    // Manufacturers do not assess readiness.
    let err = s
        .open_assessment(&w.reviewer, &w.maker, &c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("neither"), "{err}");
    assert!(matches!(
        s.open_assessment(&w.reviewer, "nobody", &c).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn provincial_health_departments_assess_too(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    let c = catalog();
    let doh = s
        .create_organisation(
            "test",
            NewOrganisation {
                code: "SYT-HN".into(),
                kind: OrgKind::Regulator,
                name: "Sở Y tế Hà Nội".into(),
                name_en: None,
                admin_unit_code: Some("01".into()),
            },
        )
        .await
        .unwrap()
        .id;
    let a = s.open_assessment(&w.reviewer, &doh, &c).await.unwrap();
    assert_eq!(a.subject_kind, "province");
    assert_eq!(a.facility_type, "provincial_department");
    assert_eq!(a.province_code, "01");
}

fn course(product: Option<&str>) -> NewCourse {
    NewCourse {
        title: "Sử dụng LaoScan an toàn".into(),
        audience: vec![StaffRole::Doctor, StaffRole::Technician],
        hours: 6.0,
        provider: "Trung tâm Thông tin Y tế Quốc gia".into(),
        product_id: product.map(str::to_string),
    }
}

async fn sessions_of_a_course_on_a_tool_are_what_the_deployment_check_reads(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    let general = s.create_course(&w.reviewer, &course(None)).await.unwrap();
    let tool = s
        .create_course(&w.reviewer, &course(Some(&w.product)))
        .await
        .unwrap();
    assert_eq!(tool.audience, "doctor,technician");
    assert!(s
        .create_course(
            &w.reviewer,
            &NewCourse {
                hours: -1.0,
                ..course(None)
            }
        )
        .await
        .is_err());
    let session = |course: &str, facility: Option<&str>, province: Option<&str>| NewSession {
        course_id: course.into(),
        facility_id: facility.map(str::to_string),
        province_code: province.map(str::to_string),
        held_on: date!(2026 - 01 - 02),
        trained: vec![
            RoleCount {
                role: StaffRole::Doctor,
                count: 2,
            },
            RoleCount {
                role: StaffRole::Technician,
                count: 1,
            },
        ],
    };
    // A general course at the facility does not count as training on the tool.
    let g = s
        .record_session(&w.reviewer, &session(&general.id, Some(&w.hanoi), None))
        .await
        .unwrap();
    assert_eq!(g.training_record_id, None);
    assert_eq!(g.session.province_code, "01");
    let err = s
        .create_deployment(&w.reviewer, &at(&w.version, &w.hanoi))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("training"), "{err}");
    // A province-wide session does not either (it cannot say which facility was trained).
    let p = s
        .record_session(&w.reviewer, &session(&tool.id, None, Some("01")))
        .await
        .unwrap();
    assert_eq!(p.training_record_id, None);
    assert!(s
        .record_session(&w.reviewer, &session(&tool.id, None, Some("00004")))
        .await
        .is_err());
    // A session of the tool's course at the facility does.
    let t = s
        .record_session(&w.reviewer, &session(&tool.id, Some(&w.hanoi), None))
        .await
        .unwrap();
    assert!(t.training_record_id.is_some());
    assert_eq!(t.session.total_trained, 3);
    let d = s
        .create_deployment(&w.reviewer, &at(&w.version, &w.hanoi))
        .await
        .unwrap();
    assert_eq!(Some(d.training_id), t.training_record_id);
    let status = s.facility_training_status(&w.hanoi).await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(
        (status[0].sessions, status[0].staff_trained),
        (1, 3),
        "{status:?}"
    );
    assert_eq!(
        s.session_counts(&t.session.id).await.unwrap(),
        [("doctor".to_string(), 2), ("technician".to_string(), 1)]
    );
    // The legacy record goes through a session too, under a course found or created by title.
    let legacy = s
        .record_training(&w.reviewer, &w.hue, &w.product, &trained())
        .await
        .unwrap();
    let sessions = s
        .training_sessions(&SessionFilter {
            facility_id: Some(w.hue.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].course_title, legacy.course);
    assert_eq!(s.courses().await.unwrap().len(), 3);
    assert_eq!(
        s.training_sessions(&SessionFilter {
            province_code: Some("01".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .len(),
        3
    );
}

async fn the_readiness_gate_holds_back_high_risk_tools(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    let c = catalog();
    s.record_training(&w.reviewer, &w.hanoi, &w.product, &trained())
        .await
        .unwrap();
    s.set_readiness_rule(
        &w.reviewer,
        ReadinessRule {
            min_level_high_risk: 2,
        },
    )
    .await
    .unwrap();
    assert_eq!(s.readiness_rule().await.unwrap().min_level_high_risk, 2);
    // Not classified yet: not high-risk, not gated... then classified high.
    s.set_classification(
        &w.reviewer,
        &w.product,
        &serde_json::json!({"vn_ai_tier": "high", "vn_device_class": "c"}),
        "C",
        "confirmed",
    )
    .await
    .unwrap();
    let err = s
        .create_deployment(&w.reviewer, &at(&w.version, &w.hanoi))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("readiness"), "{err}");
    assert!(err.to_string().contains("has none"), "{err}");
    // A draft does not count; a submitted level 1 is below; level 2 passes.
    let a = s.open_assessment(&w.reviewer, &w.hanoi, &c).await.unwrap();
    s.save_assessment(&w.reviewer, &a.id, 1, &all_at(&c, 1), &c)
        .await
        .unwrap();
    assert!(s
        .create_deployment(&w.reviewer, &at(&w.version, &w.hanoi))
        .await
        .is_err());
    s.submit_assessment(&w.reviewer, &a.id, 2, &c)
        .await
        .unwrap();
    let err = s
        .create_deployment(&w.reviewer, &at(&w.version, &w.hanoi))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at level 1"), "{err}");
    let b = s.open_assessment(&w.reviewer, &w.hanoi, &c).await.unwrap();
    s.save_assessment(&w.reviewer, &b.id, 1, &all_at(&c, 2), &c)
        .await
        .unwrap();
    s.submit_assessment(&w.reviewer, &b.id, 2, &c)
        .await
        .unwrap();
    s.create_deployment(&w.reviewer, &at(&w.version, &w.hanoi))
        .await
        .unwrap();
    assert_eq!(
        audit_actions(&w, "setting", "navigator.min_level_high_risk").await,
        ["setting.set"]
    );
}

async fn the_readiness_map_counts_by_province_and_facility_type(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    let c = catalog();
    let second = facility(s, "TYT-NGOCHA", "00008").await;
    let hospital = facility(s, "BV-HN", "01").await;
    s.set_facility_types(
        &w.reviewer,
        &[
            (w.hanoi.clone(), FacilityType::CommuneStation),
            (second.clone(), FacilityType::CommuneStation),
            (hospital.clone(), FacilityType::ProvincialHospital),
        ],
    )
    .await
    .unwrap();
    s.set_readiness_rule(
        &w.reviewer,
        ReadinessRule {
            min_level_high_risk: 2,
        },
    )
    .await
    .unwrap();
    for (f, level) in [(&w.hanoi, 1), (&hospital, 3)] {
        let a = s.open_assessment(&w.reviewer, f, &c).await.unwrap();
        s.save_assessment(&w.reviewer, &a.id, 1, &all_at(&c, level), &c)
            .await
            .unwrap();
        s.submit_assessment(&w.reviewer, &a.id, 2, &c)
            .await
            .unwrap();
    }
    // A draft elsewhere is not counted.
    s.open_assessment(&w.reviewer, &second, &c).await.unwrap();
    s.record_training(&w.reviewer, &w.hanoi, &w.product, &trained())
        .await
        .unwrap();
    let map = s.readiness_map(4).await.unwrap();
    let cell = |p: &str, t: &str| {
        map.iter()
            .find(|m| m.province_code == p && m.facility_type == t)
            .cloned()
            .unwrap()
    };
    let stations = cell("01", "commune_station");
    assert_eq!((stations.units, stations.assessed), (2, 1));
    assert_eq!(stations.levels, [0, 1, 0, 0, 0]);
    assert_eq!(stations.at_minimum, 0);
    assert_eq!((stations.with_training, stations.people_trained), (1, 3));
    assert!(!stations.province_name.is_empty());
    let hospitals = cell("01", "provincial_hospital");
    assert_eq!((hospitals.units, hospitals.assessed), (1, 1));
    assert_eq!(hospitals.levels, [0, 0, 0, 1, 0]);
    assert_eq!(hospitals.at_minimum, 1);
    let hue = cell("46", "unspecified");
    assert_eq!((hue.units, hue.assessed, hue.with_training), (1, 0, 0));
    let units = s.assessed_units().await.unwrap();
    assert_eq!(units.len(), 2);
    let mut types = s.facility_type(&second).await.unwrap();
    assert_eq!(types, FacilityType::CommuneStation);
    assert!(s
        .set_facility_type(&w.reviewer, &w.maker, FacilityType::Other)
        .await
        .is_err());
    assert!(s
        .set_facility_type(&w.reviewer, &second, FacilityType::ProvincialDepartment)
        .await
        .is_err());
    types = s.facility_type(&w.hue).await.unwrap();
    assert_eq!(types, FacilityType::Unspecified);
}
