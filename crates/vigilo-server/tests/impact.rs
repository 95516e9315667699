//! Real-world impact assessment through the real server, on both backends: a product rolled
//! out in three waves (two cohorts and late stations that serve as controls while they
//! report their baseline), a known effect injected after go-live, and the difference in
//! differences from `GET /api/v1/impact` finding it.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::Value;
use time::{Date, Duration};
use vigilo_core::appraisal::KpiDuty;
use vigilo_core::monitoring::{ReportInput, TrainingRecord};
use vigilo_core::period::{Period, PeriodKind};
use vigilo_core::{OrgKind, Role};
use vigilo_server::ServerConfig;
use vigilo_store::{NewDeployment, NewOrganisation, Submitter};
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(a_phased_rollout_shows_the_injected_effect);

/// Sensitivity rises by this many points (per 100) once a station uses the tool.
const EFFECT: f64 = 5.0;
const STATIONS_PER_WAVE: usize = 6;

/// `first` (the first of a month) moved by `n` months.
fn months(first: Date, n: i32) -> Date {
    let mut p = Period::containing(PeriodKind::Month, first);
    for _ in 0..n.unsigned_abs() {
        p = if n > 0 { p.next() } else { p.previous() };
    }
    p.start()
}

/// One month's report: sensitivity (per 100) = a station level, a common trend, a little
/// deterministic noise, and the effect from go-live on.
fn report(dep: &str, station: usize, month: Date, go_live: Date, base: Date) -> ReportInput {
    let m = (month.year() * 12 + i32::from(u8::from(month.month())))
        - (base.year() * 12 + i32::from(u8::from(base.month())));
    let noise = ((station * 7 + m as usize * 13) % 11) as f64 * 0.2 - 1.0;
    let mut sens = 70.0 + 0.5 * station as f64 + 0.1 * f64::from(m) + noise;
    if month >= go_live {
        sens += EFFECT;
    }
    let diseased = 200_i64;
    let tp = (diseased as f64 * sens / 100.0).round() as i64;
    let fn_ = diseased - tp;
    let (uses, positives) = (2000_i64, 400_i64);
    ReportInput {
        deployment: dep.into(),
        period: Period::containing(PeriodKind::Month, month).to_string(),
        uses,
        positives,
        tp: Some(tp),
        fp: Some(positives - tp),
        fn_: Some(fn_),
        tn: Some(uses - positives - fn_),
        ..Default::default()
    }
}

async fn a_phased_rollout_shows_the_injected_effect(backend: Backend) {
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
    s.user("rev", Role::Reviewer, None).await;
    let maker = vendor.organisation_id.clone().unwrap();
    let (p, v) = s
        .licensed_version(
            &maker,
            "LaoScan",
            vec![KpiDuty {
                kpi: "tb_sensitivity".into(),
                target: 80.0,
            }],
        )
        .await;
    let today = s.store.now().date();

    // Waves relative to this month T: A goes live at T-9, B at T-5 (A's post window ends
    // as B starts), C at T-1 (B's post window ends as C starts). C reports its six months
    // of baseline, which makes it B's comparison group; B's baseline makes it A's.
    let this_month = Period::containing(PeriodKind::Month, today).start();
    let waves = [
        ("A", months(this_month, -9)),
        ("B", months(this_month, -5)),
        ("C", months(this_month, -1)),
    ];
    let first_month = months(waves[0].1, -3);
    let last_month = months(this_month, -2);
    let staff = Submitter {
        user_id: "test".into(),
        facility_id: None,
    };
    let mut rows = Vec::new();
    let mut station = 0;
    for (wave, go_live) in waves {
        for k in 0..STATIONS_PER_WAVE {
            station += 1;
            let org = s
                .store
                .create_organisation(
                    "test",
                    NewOrganisation {
                        code: format!("TYT-{wave}{k}"),
                        kind: OrgKind::Facility,
                        name: format!("Trạm y tế {wave}{k}"),
                        name_en: None,
                        admin_unit_code: Some("00004".into()),
                    },
                )
                .await
                .unwrap()
                .id;
            s.store
                .record_training(
                    "test",
                    &org,
                    &p.id,
                    &TrainingRecord {
                        trained_on: months(first_month, -1),
                        course: "LaoScan".into(),
                        staff_trained: 2,
                    },
                )
                .await
                .unwrap();
            let dep = s
                .store
                .create_deployment(
                    "test",
                    &NewDeployment {
                        version_id: &v.id,
                        facility_id: &org,
                        go_live,
                        end_date: None,
                        frequency: PeriodKind::Month,
                    },
                )
                .await
                .unwrap()
                .id;
            // From the start of the baseline window (or the first month of the study).
            let mut month = months(go_live, -6).max(first_month);
            while month <= last_month {
                rows.push(Ok(report(&dep, station, month, go_live, first_month)));
                month = months(month, 1);
            }
        }
    }
    let receipt = s.store.ingest_reports(&staff, "api", rows).await.unwrap();
    assert_eq!(receipt.rejected, 0, "{:?}", receipt.rows);

    let rev = s.token("rev").await;
    let api = TestServer::client();
    let through = months(this_month, -1) - Duration::days(1);
    let r = api
        .get(s.url(&format!(
            "/api/v1/impact?product={}&kpi=tb_sensitivity&through={through}",
            p.id
        )))
        .bearer_auth(&rev)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["licence_kpis"][0], "tb_sensitivity");
    let a = &body["assessments"][0];
    let cohorts = a["cohorts"].as_array().unwrap();
    let label = |d: Date| Period::containing(PeriodKind::Month, d).to_string();
    assert_eq!(
        cohorts
            .iter()
            .map(|c| c["label"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        [label(waves[0].1), label(waves[1].1)],
        "{a}"
    );
    assert_eq!(
        a["pending_cohorts"][0].as_str(),
        Some(label(waves[2].1).as_str())
    );
    for c in cohorts {
        assert_eq!(c["n_treated"], STATIONS_PER_WAVE, "{c}");
        assert_eq!(c["n_control"], STATIONS_PER_WAVE, "{c}");
        let lo = c["estimate"]["lower"].as_f64().unwrap();
        let hi = c["estimate"]["upper"].as_f64().unwrap();
        assert!(lo <= EFFECT && EFFECT <= hi, "{c}");
    }
    // A's controls are B; C had no report in A's pre window.
    assert_eq!(cohorts[0]["dropped"], STATIONS_PER_WAVE);
    let est = a["estimate"]["estimate"].as_f64().unwrap();
    let (lo, hi) = (
        a["estimate"]["lower"].as_f64().unwrap(),
        a["estimate"]["upper"].as_f64().unwrap(),
    );
    assert!(est > 0.0, "{a}");
    assert!(lo > 0.0, "the effect is clear: {a}");
    assert!(lo <= EFFECT && EFFECT <= hi, "{a}");
    assert_eq!(a["units_treated"], 2 * STATIONS_PER_WAVE);
    assert_eq!(a["units_control"], 2 * STATIONS_PER_WAVE);
    let en = a["sentence_en"].as_str().unwrap();
    assert!(
        en.starts_with("After go-live, Sensitivity (among verified) rose by"),
        "{en}"
    );
    assert!(en.contains("(95% CI "), "{en}");
    assert!(a["sentence_vi"].as_str().unwrap().contains("KTC 95%"));

    // Without a KPI: every KPI the licence names; by default through today.
    let all: Value = api
        .get(s.url(&format!("/api/v1/impact?product={}", p.id)))
        .bearer_auth(&rev)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["assessments"].as_array().unwrap().len(), 1);
    assert_eq!(all["assessments"][0]["kpi"]["id"], "tb_sensitivity");

    // A KPI the AI does not move: the estimate is near zero and the interval covers it.
    let flagged: Value = api
        .get(s.url(&format!(
            "/api/v1/impact?product={}&kpi=tb_flagged_rate&through={through}",
            p.id
        )))
        .bearer_auth(&rev)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let f = &flagged["assessments"][0];
    assert!(f["estimate"].is_null(), "every change is 0: {f}");
    assert!(f["sentence_en"]
        .as_str()
        .unwrap()
        .starts_with("No impact estimate"));

    // Bad requests, and staff only.
    for (q, status) in [
        (
            format!("product={}&kpi=nope", p.id),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("product={}&window=0", p.id),
            StatusCode::BAD_REQUEST,
        ),
        ("kpi=tb_sensitivity".to_string(), StatusCode::BAD_REQUEST),
        ("product=nope".to_string(), StatusCode::NOT_FOUND),
    ] {
        let r = api
            .get(s.url(&format!("/api/v1/impact?{q}")))
            .bearer_auth(&rev)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{q}");
    }
    let vendor_token = s.token("vendor-a").await;
    let r = api
        .get(s.url(&format!("/api/v1/impact?product={}", p.id)))
        .bearer_auth(&vendor_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = api
        .get(s.url(&format!("/api/v1/impact?product={}", p.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Baseline rows stay out of the AI KPI table: before A's go-live there is nothing.
    let before = label(months(waves[0].1, -1));
    let kpis: Value = api
        .get(s.url(&format!(
            "/api/v1/kpis?product={}&period={before}&level=nation",
            p.id
        )))
        .bearer_auth(&rev)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(kpis["rows"].as_array().unwrap().is_empty(), "{kpis}");

    // The product's monitoring view shows the assessment to staff.
    let client = s.login("rev").await;
    let page = client
        .get(s.url(&format!("/monitoring?product={}&lang=en", p.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"impact\""), "{page}");
    assert!(page.contains("Real-world impact after go-live"));
    assert!(page.contains("parallel trends"));
    s.stop().await;
}
