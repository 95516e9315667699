//! Conformance of deployments and monitoring intake, on SQLite always and on PostgreSQL
//! when VIGILO_TEST_POSTGRES_URL names a server (CI sets it).
#![allow(clippy::unwrap_used)]

use time::macros::{date, datetime};
use vigilo_core::monitoring::{parse_rollout_csv, DeploymentStatus, ReportInput, TrainingRecord};
use vigilo_core::period::{Period, PeriodKind};
use vigilo_store::testing::TestDb;
use vigilo_store::{
    GroupBy, NewAlert, NewDeployment, StoreError, Submitter, SumsQuery, UnreadableRow,
};

vigilo_store::conformance!(
    deployments_need_a_licence_that_allows_the_site_and_trained_staff,
    reports_are_idempotent_versioned_and_checked_row_by_row,
    kpi_sums_completeness_and_alerts,
    baseline_reports_are_taken_and_kept_out_of_ai_kpis,
);

mod common;
use common::*;

async fn deployments_need_a_licence_that_allows_the_site_and_trained_staff(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    // No training yet.
    let err = s
        .create_deployment(&w.reviewer, &at(&w.version, &w.hanoi))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("training"), "{err}");
    s.record_training(&w.reviewer, &w.hanoi, &w.product, &trained())
        .await
        .unwrap();
    s.record_training(&w.reviewer, &w.hue, &w.product, &trained())
        .await
        .unwrap();
    // Huế is outside the licence's provinces.
    let err = s
        .create_deployment(&w.reviewer, &at(&w.version, &w.hue))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not allow"), "{err}");
    let d = s
        .create_deployment(&w.reviewer, &at(&w.version, &w.hanoi))
        .await
        .unwrap();
    assert_eq!(d.province_code, "01");
    assert_eq!(d.unit_code, "00004");
    assert_eq!(d.status, "active");
    // One open deployment per version and facility.
    assert!(matches!(
        s.create_deployment(&w.reviewer, &at(&w.version, &w.hanoi))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    // A training dated after go-live does not count.
    let later = facility(s, "TYT-NGOCHA", "00008").await;
    s.record_training(
        &w.reviewer,
        &later,
        &w.product,
        &TrainingRecord {
            trained_on: date!(2026 - 01 - 05),
            ..trained()
        },
    )
    .await
    .unwrap();
    let mut early = at(&w.version, &later);
    early.go_live = date!(2026 - 01 - 04);
    assert!(s.create_deployment(&w.reviewer, &early).await.is_err());
    // Status moves.
    let paused = s
        .set_deployment_status(
            &w.reviewer,
            &d.id,
            DeploymentStatus::Paused,
            "máy X-quang hỏng",
        )
        .await
        .unwrap();
    assert_eq!(paused.status, "paused");
    assert!(s
        .set_deployment_status(&w.reviewer, &d.id, DeploymentStatus::Planned, "x")
        .await
        .is_err());
    let ended = s
        .set_deployment_status(&w.reviewer, &d.id, DeploymentStatus::Ended, "hết thí điểm")
        .await
        .unwrap();
    assert_eq!(ended.end_date.as_deref(), Some("2026-01-05"));

    // A rollout is all or nothing.
    let text = "facility,go_live\nTYT-NGOCHA,2026-02-01\nTYT-HUE,2026-02-01\nTYT-NONE,2026-02-01\n";
    let (rows, errors) = parse_rollout_csv(text, PeriodKind::Month);
    assert!(errors.is_empty());
    let problems = s
        .create_rollout(&w.reviewer, &w.version, &rows)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(problems.iter().map(|p| p.0).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(s.deployments(&Default::default()).await.unwrap().len(), 1);
    let ok = parse_rollout_csv(
        "facility,go_live\nTYT-NGOCHA,2026-02-01\n",
        PeriodKind::Month,
    )
    .0;
    let made = s
        .create_rollout(&w.reviewer, &w.version, &ok)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(made[0].status, "planned");
    let by_province = s.rollout_by_province(Some(&w.product)).await.unwrap();
    assert_eq!(by_province.len(), 1);
    assert_eq!(
        (
            by_province[0].planned,
            by_province[0].ended,
            by_province[0].facilities
        ),
        (1, 1, 2)
    );
    assert_eq!(by_province[0].province_name, "Thành phố Hà Nội");
    w.clock.set(datetime!(2026-02-01 07:00 UTC));
    assert_eq!(s.activate_due_deployments().await.unwrap(), 1);
}

fn report(dep: &str, period: &str, uses: i64) -> ReportInput {
    ReportInput {
        deployment: dep.into(),
        period: period.into(),
        uses,
        positives: uses / 10,
        ..Default::default()
    }
}

async fn reports_are_idempotent_versioned_and_checked_row_by_row(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    let dep = deployed(&w).await;
    w.clock.set(datetime!(2026-06-10 08:00 UTC));
    let station = Submitter {
        user_id: "station".into(),
        facility_id: Some(w.hanoi.clone()),
    };
    let mut bad = report(&dep, "2026-02", 50);
    bad.positives = 60;
    let batch = vec![
        Ok(report(&dep, "2026-01", 100)),
        Ok(bad),
        Err(UnreadableRow {
            row: 3,
            message: "not JSON".into(),
        }),
        Ok(report("nope", "2026-03", 5)),
        Ok(report(&dep, "2026-07", 5)),
        Ok(report(&dep, "2026-01", 100)),
    ];
    let r = s.ingest_reports(&station, "api", batch).await.unwrap();
    assert_eq!((r.accepted, r.rejected), (1, 5), "{:?}", r.rows);
    assert!(r.receipt.starts_with("MR-20260610-"));
    let statuses: Vec<&str> = r.rows.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        ["accepted", "rejected", "rejected", "rejected", "rejected", "rejected"]
    );
    assert!(
        r.rows[5].problems[0].message.contains("row 1"),
        "duplicate in the same batch"
    );
    assert_eq!(r.rows[1].problems[0].field, "positives");

    // A resend changes nothing; a correction keeps the old revision.
    let again = s
        .ingest_reports(&station, "api", vec![Ok(report(&dep, "2026-01", 100))])
        .await
        .unwrap();
    assert_eq!((again.accepted, again.unchanged), (0, 1));
    let fixed = s
        .ingest_reports(&station, "csv", vec![Ok(report(&dep, "2026-01", 120))])
        .await
        .unwrap();
    assert_eq!(fixed.revised, 1);
    let stored = s.deployment_reports(&dep).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (
            stored[0].uses,
            stored[0].revision,
            stored[0].source.as_str()
        ),
        (120, 2, "csv")
    );
    let revisions = s.report_revisions(&stored[0].report_key).await.unwrap();
    assert_eq!(revisions.len(), 1);
    assert!(revisions[0].1.contains("\"uses\":100"));

    // Another facility's account cannot report for this deployment.
    let other = Submitter {
        user_id: "x".into(),
        facility_id: Some(w.hue.clone()),
    };
    let r = s
        .ingest_reports(&other, "api", vec![Ok(report(&dep, "2026-02", 10))])
        .await
        .unwrap();
    assert_eq!(r.rejected, 1);

    // A big batch in one go, with counters and histograms.
    let many: Vec<_> = (0..450)
        .map(|i| {
            let mut r = report(&dep, "2026-02", 10);
            r.period = format!("2026-0{}", 2 + i % 4);
            r
        })
        .collect();
    let r = s
        .ingest_reports(&station, "api", many.into_iter().map(Ok).collect())
        .await
        .unwrap();
    assert_eq!((r.accepted, r.rejected), (4, 446));

    // Racing identical batches never double count.
    let a = s.clone();
    let b = s.clone();
    let (sa, sb) = (station.clone(), station.clone());
    let (d1, d2) = (dep.clone(), dep.clone());
    let (ra, rb) = tokio::join!(
        async move {
            a.ingest_reports(&sa, "api", vec![Ok(report(&d1, "2026-06", 7))])
                .await
        },
        async move {
            b.ingest_reports(&sb, "api", vec![Ok(report(&d2, "2026-06", 7))])
                .await
        },
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.accepted + rb.accepted, 1);
    assert_eq!(ra.unchanged + rb.unchanged, 1);
    assert_eq!(s.deployment_reports(&dep).await.unwrap().len(), 6);
}

async fn kpi_sums_completeness_and_alerts(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    let dep = deployed(&w).await;
    w.clock.set(datetime!(2026-05-20 08:00 UTC));
    let staff = Submitter {
        user_id: w.reviewer.clone(),
        facility_id: None,
    };
    let mut jan = report(&dep, "2026-01", 100);
    jan.tp = Some(8);
    jan.fp = Some(2);
    jan.fn_ = Some(1);
    jan.tn = Some(50);
    let batch = vec![
        Ok(jan),
        Ok(report(&dep, "2026-03", 40)),
        Ok(report(&dep, "2026-04", 30)),
    ];
    let r = s.ingest_reports(&staff, "form", batch).await.unwrap();
    assert_eq!(r.accepted, 3, "{:?}", r.rows);
    // A batch with latencies after one without: the statement is cached with the first
    // batch's parameter types, and a NULL float must not make real values fail later.
    let mut may = report(&dep, "2026-05", 20);
    may.latency_p50_ms = Some(812.5);
    may.latency_p95_ms = Some(2400.25);
    let r = s
        .ingest_reports(&staff, "api", vec![Ok(may)])
        .await
        .unwrap();
    assert_eq!(r.accepted, 1, "{:?}", r.rows);
    let stored = s.deployment_reports(&dep).await.unwrap();
    let last = stored.iter().find(|x| x.period == "2026-05").unwrap();
    assert_eq!(
        (last.latency_p50_ms, last.latency_p95_ms),
        (Some(812.5), Some(2400.25))
    );
    assert_eq!(stored[0].latency_p50_ms, None);
    let q1 = SumsQuery {
        period: Period::parse("2026-Q1").unwrap(),
        product_id: Some(w.product.clone()),
        province_code: None,
        unit_code: None,
        facility_id: None,
        group_by: GroupBy::Province,
    };
    let sums = s.report_sums(&q1).await.unwrap();
    assert_eq!(sums.len(), 1);
    assert_eq!(
        (sums[0].group_key.as_str(), sums[0].uses, sums[0].positives),
        ("01", 140, 14)
    );
    assert_eq!(
        (sums[0].tp, sums[0].verified_reports, sums[0].reports),
        (8, 1, 2)
    );
    let nation = s
        .report_sums(&SumsQuery {
            group_by: GroupBy::Nation,
            ..q1.clone()
        })
        .await
        .unwrap();
    assert_eq!(nation[0].group_key, "VN");
    assert!(s.counter_sums(&q1).await.unwrap().is_empty());

    let status = s
        .reporting_status(&Period::parse("2026-Q1").unwrap(), None, None)
        .await
        .unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(
        status[0].1.len(),
        2,
        "January and March arrived; February is missing"
    );

    let alert = NewAlert {
        deployment_id: dep.clone(),
        metric: "age_band".into(),
        method: "psi".into(),
        period: "2026-04".into(),
        level: "watch".into(),
        value: 0.14,
        threshold: 0.1,
        evidence: serde_json::json!({ "reference": [1, 2], "current": [2, 1] }),
    };
    assert!(s.raise_alert(&alert).await.unwrap());
    assert!(!s
        .raise_alert(&NewAlert {
            value: 0.3,
            level: "act".into(),
            ..alert.clone()
        })
        .await
        .unwrap());
    let all = s.alerts(&Default::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].level.as_str(), all[0].value), ("act", 0.3));
    let acked = s
        .set_alert_state(&w.reviewer, &all[0].id, "acknowledged", "đang kiểm tra")
        .await
        .unwrap();
    assert_eq!(acked.state, "acknowledged");
    // A rerun leaves a handled alert alone.
    assert!(!s.raise_alert(&alert).await.unwrap());
    assert_eq!(s.alert(&all[0].id).await.unwrap().unwrap().value, 0.3);
    assert!(s
        .set_alert_state(&w.reviewer, &all[0].id, "new", "")
        .await
        .is_err());
}

/// A planned deployment reports its baseline (periods ending on or before go-live, back to
/// the six-month window); those rows are flagged, left out of KPI sums and reporting status,
/// and read by the impact query with the facility's go-live.
async fn baseline_reports_are_taken_and_kept_out_of_ai_kpis(db: &TestDb) {
    let w = world(db).await;
    let s = &w.store;
    s.record_training(&w.reviewer, &w.hanoi, &w.product, &trained())
        .await
        .unwrap();
    let dep = s
        .create_deployment(
            &w.reviewer,
            &NewDeployment {
                go_live: date!(2026 - 03 - 01),
                ..at(&w.version, &w.hanoi)
            },
        )
        .await
        .unwrap();
    assert_eq!(dep.status, "planned");
    w.clock.set(datetime!(2026-02-10 08:00 UTC));
    let station = Submitter {
        user_id: "station".into(),
        facility_id: Some(w.hanoi.clone()),
    };
    let r = s
        .ingest_reports(
            &station,
            "api",
            vec![
                Ok(report(&dep.id, "2025-12", 200)),
                Ok(report(&dep.id, "2026-02", 300)),
                // Go-live 2026-03-01: the twelve-month window starts in March 2025.
                Ok(report(&dep.id, "2025-02", 100)),
            ],
        )
        .await
        .unwrap();
    let statuses: Vec<&str> = r.rows.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        ["accepted", "accepted", "rejected"],
        "{:?}",
        r.rows
    );
    assert!(r.rows[2].problems[0].message.contains("baseline window"));
    let stored = s.deployment_reports(&dep.id).await.unwrap();
    assert_eq!(
        stored.iter().map(|r| r.baseline).collect::<Vec<_>>(),
        [1, 1]
    );

    w.clock.set(datetime!(2026-05-20 08:00 UTC));
    assert_eq!(s.activate_due_deployments().await.unwrap(), 1);
    let r = s
        .ingest_reports(
            &station,
            "api",
            vec![
                Ok(report(&dep.id, "2026-03", 40)),
                Ok(report(&dep.id, "2026-04", 50)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r.accepted, 2, "{:?}", r.rows);
    let stored = s.deployment_reports(&dep.id).await.unwrap();
    assert_eq!(
        stored.iter().map(|r| r.baseline).collect::<Vec<_>>(),
        [1, 1, 0, 0]
    );

    // Q1 holds February (baseline) and March (AI): only March is an AI KPI.
    let q1 = SumsQuery {
        period: Period::parse("2026-Q1").unwrap(),
        product_id: Some(w.product.clone()),
        province_code: None,
        unit_code: None,
        facility_id: None,
        group_by: GroupBy::Facility,
    };
    let sums = s.report_sums(&q1).await.unwrap();
    assert_eq!(sums.len(), 1);
    assert_eq!((sums[0].uses, sums[0].reports), (40, 1));
    let half = s
        .report_sums(&SumsQuery {
            period: Period::parse("2025").unwrap(),
            ..q1.clone()
        })
        .await
        .unwrap();
    assert!(half.is_empty(), "2025 has only baseline rows");
    let status = s
        .reporting_status(&Period::parse("2026-Q1").unwrap(), None, None)
        .await
        .unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(
        status[0]
            .1
            .keys()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        ["2026-03"]
    );

    let impact = s
        .impact_sums(&w.product, date!(2025 - 01 - 01), date!(2027 - 01 - 01))
        .await
        .unwrap();
    assert_eq!(impact.go_live.get(&w.hanoi), Some(&date!(2026 - 03 - 01)));
    let rows: Vec<(&str, i64, i64)> = impact
        .rows
        .iter()
        .map(|r| (r.period.as_str(), r.uses, r.baseline_reports))
        .collect();
    assert_eq!(
        rows,
        [
            ("2025-12", 200, 1),
            ("2026-02", 300, 1),
            ("2026-03", 40, 0),
            ("2026-04", 50, 0)
        ]
    );
    let narrow = s
        .impact_sums(&w.product, date!(2026 - 01 - 01), date!(2026 - 04 - 01))
        .await
        .unwrap();
    assert_eq!(narrow.rows.len(), 2);
}
