//! Conformance of signals and safety notices, on SQLite always and on PostgreSQL when
//! VIGILO_TEST_POSTGRES_URL names a server (CI sets it).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use serde_json::json;
use time::macros::{date, datetime};
use vigilo_core::incident::{
    IncidentInput, IncidentSource, ReporterKind, ReportingClock, Seriousness,
};
use vigilo_core::signal::{NoticeKind, SignalCommand, SignalMethod};
use vigilo_store::testing::TestDb;
use vigilo_store::{Detection, NewIncident, NewNotice, ReporterAccount, SignalFilter, StoreError};

vigilo_store::conformance!(
    detections_are_recorded_updated_and_kept,
    warning_basis_counts_linked_reports_or_a_rate_signals_window,
    a_suspension_notice_reaches_sites_suspends_and_pauses,
);

async fn report(w: &World, seriousness: Seriousness) -> String {
    let input = IncidentInput {
        reporter_kind: ReporterKind::HealthWorker,
        product_id: Some(w.product.clone()),
        version_id: None,
        product_text: None,
        facility_id: Some(w.hanoi.clone()),
        province_code: None,
        occurred_on: Some(date!(2026 - 02 - 01)),
        aware_on: None,
        seriousness,
        public_health_threat: false,
        narrative: "Trợ lý ảo khuyên uống gấp đôi liều thuốc hạ sốt cho trẻ.".into(),
        patient_sex: None,
        patient_age_band: None,
    };
    w.store
        .submit_incident(
            &NewIncident {
                input: &input,
                source: IncidentSource::Form,
                reporter: ReporterAccount::default(),
                client_key: None,
            },
            &ReportingClock::default(),
        )
        .await
        .unwrap()
        .incident
        .id
}

fn detection(w: &World, code: &str, ids: Vec<String>) -> Detection {
    Detection {
        method: SignalMethod::Disproportionality,
        product_key: w.product.clone(),
        product_label: "LaoScan".into(),
        product_id: Some(w.product.clone()),
        version_id: None,
        code: code.into(),
        region: String::new(),
        window_start: Some("2026-02-01".into()),
        window_end: Some("2026-02-01".into()),
        observed: ids.len() as i64,
        expected: 0.4,
        score_label: "IC025".into(),
        score: 1.2,
        evidence: json!({"a": ids.len()}),
        incident_ids: ids,
    }
}

async fn detections_are_recorded_updated_and_kept(db: &TestDb) {
    let w = world(db).await;
    deployed(&w).await;
    w.clock.set(datetime!(2026-02-03 09:00 UTC));
    let s = &w.store;
    let a = report(&w, Seriousness::OtherInjury).await;
    let b = report(&w, Seriousness::SeriousInjury).await;
    s.set_incident_codes(&w.reviewer, &a, &["AI02".into()])
        .await
        .unwrap();
    s.set_incident_codes(&w.reviewer, &b, &["AI02".into(), "AI01".into()])
        .await
        .unwrap();
    let inputs = s.signal_inputs().await.unwrap();
    assert_eq!(inputs.len(), 3);
    assert!(inputs
        .iter()
        .all(|r| r.version_id.is_some() && r.province_code.as_deref() == Some("01")));
    let months = s.incident_months().await.unwrap();
    assert_eq!(months.len(), 1);
    assert_eq!((months[0].month.as_str(), months[0].n), ("2026-02", 2));

    let out = s
        .record_detections(
            "system",
            &[
                detection(&w, "AI02", vec![a.clone(), b.clone()]),
                detection(&w, "AI01", vec![b.clone()]),
            ],
        )
        .await
        .unwrap();
    assert_eq!((out.new, out.updated, out.no_longer_detected), (2, 0, 0));
    let all = s
        .signals(&SignalFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let ai02 = all.iter().find(|x| x.code == "AI02").unwrap().clone();
    assert_eq!(s.signal_incident_ids(&ai02.id).await.unwrap().len(), 2);
    // The reviewer confirms AI02; the next run updates it without touching that state and
    // marks AI01, not found again, as no longer detected.
    let err = s
        .signal_transition(&w.reviewer, &ai02.id, SignalCommand::Confirm, "")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid {
            field: "reason",
            ..
        }
    ));
    s.signal_transition(
        &w.reviewer,
        &ai02.id,
        SignalCommand::Confirm,
        "dosing advice wrong for children",
    )
    .await
    .unwrap();
    let err = s
        .signal_transition(&w.reviewer, &ai02.id, SignalCommand::Review, "again")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    w.clock.set(datetime!(2026-02-04 09:00 UTC));
    let out = s
        .record_detections("system", &[detection(&w, "AI02", vec![a.clone()])])
        .await
        .unwrap();
    assert_eq!((out.new, out.updated, out.no_longer_detected), (0, 1, 1));
    let again = s.signal(&ai02.id).await.unwrap().unwrap();
    assert_eq!(again.state, "confirmed");
    assert_eq!(again.first_detected_at, ai02.first_detected_at);
    assert_ne!(again.last_detected_at, ai02.last_detected_at);
    assert_eq!(
        s.signal_incident_ids(&ai02.id).await.unwrap(),
        vec![a.clone()]
    );
    let ai01 = s
        .signals(&SignalFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.code == "AI01")
        .unwrap();
    assert_eq!(ai01.still_detected, 0);
    let events = s.signal_events(&ai02.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["detect", "confirm"]
    );
    assert!(s.verify_audit().await.unwrap().first_break.is_none());
}

/// An early warning's facts come from the reports a signal links; a rate signal links none,
/// so its facts are the product's reports in its window (months here), without duplicates.
async fn warning_basis_counts_linked_reports_or_a_rate_signals_window(db: &TestDb) {
    let w = world(db).await;
    deployed(&w).await;
    w.clock.set(datetime!(2026-02-03 09:00 UTC));
    let s = &w.store;
    let a = report(&w, Seriousness::OtherInjury).await;
    let b = report(&w, Seriousness::SeriousInjury).await;
    let c = report(&w, Seriousness::Malfunction).await;
    s.set_incident_codes(&w.reviewer, &a, &["AI02".into()])
        .await
        .unwrap();
    s.set_incident_codes(&w.reviewer, &b, &["AI02".into(), "AI01".into()])
        .await
        .unwrap();
    s.mark_duplicate(&w.reviewer, &c, Some(&a)).await.unwrap();
    let disproportionality = detection(&w, "AI02", vec![a.clone()]);
    let rate = |from: &str, to: &str| Detection {
        method: SignalMethod::Rate,
        code: "*".into(),
        window_start: Some(from.into()),
        window_end: Some(to.into()),
        incident_ids: Vec::new(),
        ..detection(&w, "*", Vec::new())
    };
    s.record_detections("system", &[disproportionality, rate("2026-01", "2026-02")])
        .await
        .unwrap();
    let all = s
        .signals(&SignalFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let linked = all.iter().find(|x| x.code == "AI02").unwrap();
    let basis = s.warning_basis(&linked.id).await.unwrap().unwrap();
    assert_eq!(basis.seriousness, vec!["other_injury".to_string()]);
    assert_eq!(basis.codes, vec![("AI02".into(), "ai".into(), 1)]);
    let by_rate = all.iter().find(|x| x.code == "*").unwrap();
    let basis = s.warning_basis(&by_rate.id).await.unwrap().unwrap();
    let mut seriousness = basis.seriousness.clone();
    seriousness.sort();
    assert_eq!(
        seriousness,
        ["other_injury", "serious_injury"],
        "the duplicate is left out"
    );
    assert_eq!(basis.first_day.as_deref(), Some("2026-02-01"));
    assert_eq!(basis.last_day.as_deref(), Some("2026-02-01"));
    assert_eq!(
        basis.codes,
        vec![
            ("AI02".into(), "ai".into(), 2),
            ("AI01".into(), "ai".into(), 1)
        ]
    );
    assert_eq!(basis.versions.len(), 1);
    // A window that holds none of the reports gives no facts rather than other months'.
    s.record_detections("system", &[rate("2025-11", "2025-12")])
        .await
        .unwrap();
    let empty = s
        .signals(&SignalFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.window_start.as_deref() == Some("2025-11"))
        .unwrap();
    let basis = s.warning_basis(&empty.id).await.unwrap().unwrap();
    assert!(basis.seriousness.is_empty() && basis.codes.is_empty());
}

async fn a_suspension_notice_reaches_sites_suspends_and_pauses(db: &TestDb) {
    let w = world(db).await;
    let deployment = deployed(&w).await;
    w.clock.set(datetime!(2026-02-03 09:00 UTC));
    let s = &w.store;
    let notice = |kind, title_en: &'static str| NewNotice {
        kind,
        product_id: &w.product,
        version_ids: &[],
        signal_id: None,
        title_vi: "Tạm dừng LaoScan 1.0",
        title_en,
        body_vi: "Báo cáo cho thấy bỏ sót tổn thương hang.",
        body_en: "Reports show missed cavities.",
        action_vi: "Ngừng dùng và đọc lại phim của 30 ngày qua.",
        action_en: "Stop using it and re-read the last 30 days of films.",
    };
    // Missing English text: refused, nothing changes.
    let err = s
        .issue_notice(&w.reviewer, &notice(NoticeKind::Suspension, " "))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Invalid {
                field: "title_en",
                ..
            }
        ),
        "{err}"
    );
    assert!(s.notices(None).await.unwrap().is_empty());
    let issued = s
        .issue_notice(
            &w.reviewer,
            &notice(NoticeKind::Suspension, "LaoScan 1.0 suspended"),
        )
        .await
        .unwrap();
    assert_eq!(issued.notice.reference, "TBAT-2026-000001");
    assert_eq!(issued.recipients, 1);
    assert_eq!(issued.deployments_paused, 1);
    assert_eq!(issued.licences_suspended.len(), 1);
    assert_eq!(
        s.deployment(&deployment).await.unwrap().unwrap().status,
        "paused"
    );
    let licences = s.authorisations_of_product(&w.product).await.unwrap();
    assert_eq!(licences[0].status, "suspended");
    assert_eq!(
        s.product(&w.product).await.unwrap().unwrap().licence_status,
        "suspended"
    );
    // The facility sees it until it acknowledges; another facility cannot acknowledge it.
    let mine = s.facility_notices(&w.hanoi).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].acknowledged_at, None);
    assert!(matches!(
        s.acknowledge_notice(&w.reviewer, &issued.notice.id, &w.hue)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        s.acknowledge_notice(&w.reviewer, &issued.notice.id, &w.hanoi)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.acknowledge_notice(&w.reviewer, &issued.notice.id, &w.hanoi)
            .await
            .unwrap(),
        0
    );
    let recipients = s.notice_recipients(&issued.notice.id).await.unwrap();
    assert!(recipients[0].acknowledged_at.is_some());
    assert_eq!(
        s.notice_versions(&issued.notice.id).await.unwrap(),
        vec!["1.0".to_string()]
    );
    assert_eq!(s.notices(Some(&w.product)).await.unwrap().len(), 1);
    // A field safety notice suspends nothing more.
    let fsn = s
        .issue_notice(
            &w.reviewer,
            &notice(NoticeKind::FieldSafetyNotice, "Re-read films"),
        )
        .await
        .unwrap();
    assert_eq!(
        fsn.recipients, 1,
        "a paused deployment still receives notices"
    );
    assert!(fsn.licences_suspended.is_empty());
    assert_eq!(fsn.deployments_paused, 0);
    assert!(s.verify_audit().await.unwrap().first_break.is_none());
}
