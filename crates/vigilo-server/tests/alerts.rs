//! The drift and performance alert job through the real store and server, on both
//! backends: a deployment whose age mix and positivity shift after three reference months
//! raises PSI and rate alerts with their evidence, a stable one raises none, a rerun raises
//! nothing new, and only staff and the product's own vendor see the alerts.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeMap;
use vigilo_core::monitoring::{ReportInput, TrainingRecord};
use vigilo_core::period::{Period, PeriodKind};
use vigilo_core::Role;
use vigilo_server::monitoring_alerts::{run_alerts, AlertOptions};
use vigilo_server::ServerConfig;
use vigilo_store::{
    AlertFilter, NewDataset, NewDeployment, NewStudy, SubmissionOutcome, Submitter, UnreadableRow,
};
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(
    shifted_months_raise_alerts_once_and_only_the_vendor_sees_them,
    a_sandbox_calibration_gives_cbpe_estimates
);

/// A published, licensed version of a product made by `maker` (province 01 allowed).
async fn licensed_version(s: &TestServer, maker: &str, name: &str) -> (String, String) {
    let (p, v) = s.licensed_version(maker, name, vec![]).await;
    (p.id, v.id)
}

struct Month {
    positives: i64,
    age: [i64; 8],
    score: [i64; 10],
}

/// 400 uses a month; positives are the top five score bins.
const REFERENCE: Month = Month {
    positives: 40,
    age: [20, 40, 60, 100, 100, 50, 20, 10],
    score: [100, 90, 70, 60, 40, 15, 10, 8, 4, 3],
};
const SHIFTED: Month = Month {
    positives: 100,
    age: [5, 10, 20, 50, 100, 120, 80, 15],
    score: [40, 50, 60, 70, 80, 30, 25, 20, 15, 10],
};

fn report_of(dep: &str, period: &Period, m: &Month) -> Result<ReportInput, UnreadableRow> {
    let mut mix = BTreeMap::new();
    mix.insert("age_band".to_string(), m.age.to_vec());
    mix.insert("sex".to_string(), vec![210, 185, 5]);
    Ok(ReportInput {
        deployment: dep.into(),
        period: period.to_string(),
        uses: 400,
        positives: m.positives,
        overrides: 20,
        escalations: 8,
        score_histogram: m.score.to_vec(),
        mix,
        ..ReportInput::default()
    })
}

async fn shifted_months_raise_alerts_once_and_only_the_vendor_sees_them(backend: Backend) {
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
    let rev = s.user("rev", Role::Reviewer, None).await;
    let one = s.user("station-1", Role::Reporter, Some("TYT-ONE")).await;
    let two = s.user("station-2", Role::Reporter, Some("TYT-TWO")).await;
    let maker = vendor.organisation_id.clone().unwrap();
    let (product, version) = licensed_version(&s, &maker, "LaoScan").await;

    let today = s.store.now().date();
    let go_live = today - time::Duration::days(150);
    let mut deps = Vec::new();
    for station in [&one, &two] {
        let facility = station.organisation_id.clone().unwrap();
        s.store
            .record_training(
                "test",
                &facility,
                &product,
                &TrainingRecord {
                    trained_on: go_live - time::Duration::days(3),
                    course: "LaoScan".into(),
                    staff_trained: 2,
                },
            )
            .await
            .unwrap();
        let d = s
            .store
            .create_deployment(
                "test",
                &NewDeployment {
                    version_id: &version,
                    facility_id: &facility,
                    go_live,
                    end_date: None,
                    frequency: PeriodKind::Month,
                },
            )
            .await
            .unwrap();
        deps.push(d.id);
    }
    let (shifting, stable) = (deps[0].clone(), deps[1].clone());
    let first = Period::containing(PeriodKind::Month, go_live);
    let months = [
        first,
        first.next(),
        first.next().next(),
        first.next().next().next(),
    ];
    let mut rows = Vec::new();
    for (i, m) in months.iter().enumerate() {
        rows.push(report_of(
            &shifting,
            m,
            if i < 3 { &REFERENCE } else { &SHIFTED },
        ));
        rows.push(report_of(&stable, m, &REFERENCE));
    }
    let staff = Submitter {
        user_id: rev.id.clone(),
        facility_id: None,
    };
    let receipt = s.store.ingest_reports(&staff, "test", rows).await.unwrap();
    assert_eq!(receipt.accepted, 8, "{:?}", receipt.rows);

    // The job, called directly.
    let summary = run_alerts(&s.store, &AlertOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.deployments, 2);
    assert_eq!(summary.failed, 0);
    assert!(summary.raised >= 3, "{summary:?}");
    assert_eq!(summary.with_cbpe, 0, "no sandbox evaluation, no CBPE");

    let stable_alerts = s
        .store
        .alerts(&AlertFilter {
            deployment_id: Some(stable.clone()),
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    assert!(stable_alerts.is_empty(), "{stable_alerts:?}");
    let alerts = s
        .store
        .alerts(&AlertFilter {
            deployment_id: Some(shifting.clone()),
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    let fourth = months[3].to_string();
    assert!(alerts
        .iter()
        .all(|a| a.period == fourth && a.state == "new"));
    let find = |metric: &str, method: &str| {
        alerts
            .iter()
            .find(|a| a.metric == metric && a.method == method)
            .unwrap_or_else(|| panic!("{metric} {method} in {alerts:?}"))
    };
    let age = find("mix.age_band", "psi");
    assert_eq!(age.level, "act");
    assert!(age.value >= 0.25 && age.threshold == 0.25);
    let ev: Value = serde_json::from_str(&age.evidence_json).unwrap();
    assert_eq!(ev["kind"], "distribution");
    assert_eq!(ev["bins"][0], "0-4");
    assert_eq!(ev["reference_counts"][3], 300);
    assert_eq!(ev["current_counts"][5], 120);
    assert_eq!(ev["reference_periods"].as_array().unwrap().len(), 3);
    assert!(ev["js_distance"].as_f64().unwrap() > 0.0);
    assert!((ev["psi"].as_f64().unwrap() - age.value).abs() < 1e-12);
    find("score", "psi");
    let pos = find("positivity_rate", "ewma");
    let ev: Value = serde_json::from_str(&pos.evidence_json).unwrap();
    assert_eq!(ev["kind"], "chart");
    assert_eq!(ev["current"]["x"], 100);
    assert_eq!(ev["points"][0]["period"], fourth);
    assert!((ev["p0"].as_f64().unwrap() - 0.1).abs() < 1e-12);
    assert!(
        alerts
            .iter()
            .all(|a| a.metric != "mix.sex" && a.metric != "override_rate"),
        "unchanged histograms and rates stay quiet"
    );

    // A rerun raises nothing new, and a handled alert stays handled.
    s.store
        .set_alert_state("test", &age.id, "acknowledged", "seen")
        .await
        .unwrap();
    let again = run_alerts(&s.store, &AlertOptions::default())
        .await
        .unwrap();
    assert_eq!(again.raised, 0, "{again:?}");
    assert_eq!(again.findings, summary.findings);
    let after = s
        .store
        .alerts(&AlertFilter {
            deployment_id: Some(shifting.clone()),
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(after.len(), alerts.len());
    assert_eq!(
        after.iter().find(|a| a.id == age.id).unwrap().state,
        "acknowledged"
    );

    // The vendor sees its alerts on the page and through the API; another vendor does not.
    let va = s.login("vendor-a").await;
    let r = va.get(s.url("/alerts")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("mix.age_band"), "{page}");
    assert!(page.contains(&format!("/deployments/{shifting}")));
    assert!(!page.contains("action=\"/alerts/"), "read only for vendors");
    let page = va
        .get(s.url("/alerts?state=acknowledged"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("mix.age_band") && !page.contains("positivity_rate"));
    let vb = s.login("vendor-b").await;
    let page = vb
        .get(s.url("/alerts"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"no-alerts\"") && !page.contains("mix.age_band"));

    let api = TestServer::client();
    let ta = s.token("vendor-a").await;
    let list: Value = api
        .get(s.url(&format!("/api/v1/alerts?product={product}&state=new")))
        .bearer_auth(&ta)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), alerts.len() - 1);
    assert!(items.iter().all(|i| i["deployment_id"] == shifting.as_str()
        && i["state"] == "new"
        && i["evidence"]["kind"].is_string()));
    let tb = s.token("vendor-b").await;
    let list: Value = api
        .get(s.url("/api/v1/alerts"))
        .bearer_auth(&tb)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let r = api
        .get(s.url(&format!("/api/v1/alerts?product={product}")))
        .bearer_auth(&tb)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let tr = s.token("rev").await;
    let r = api
        .get(s.url("/api/v1/alerts?state=bogus"))
        .bearer_auth(&tr)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let list: Value = api
        .get(s.url("/api/v1/alerts"))
        .bearer_auth(&tr)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), alerts.len());
    // A facility's account is not let in.
    let ts = s.token("station-1").await;
    let r = api
        .get(s.url("/api/v1/alerts"))
        .bearer_auth(&ts)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Staff reach the list from the deployments page.
    let rv = s.login("rev").await;
    let page = rv
        .get(s.url("/deployments"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("href=\"/alerts\""));
    s.stop().await;
}

/// With an evaluated sandbox submission for the version, the job builds the calibration map
/// from its reliability bins and estimates specificity from the score histogram: the shifted
/// month's scores move towards the uncertain bins, so the estimate falls (about 0.956 to
/// 0.884, a watch).
async fn a_sandbox_calibration_gives_cbpe_estimates(backend: Backend) {
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
    let rev = s.user("rev", Role::Reviewer, None).await;
    let one = s.user("station-1", Role::Reporter, Some("TYT-ONE")).await;
    let maker = vendor.organisation_id.clone().unwrap();
    let (product, version) = licensed_version(&s, &maker, "LaoScan").await;
    let dataset = s
        .store
        .create_dataset(
            "test",
            NewDataset {
                name: "reference",
                description: "",
                roles_json: "{}",
                rows: 1000,
                positives: 400,
                bytes: b"id,label\n",
            },
        )
        .await
        .unwrap();
    let study = s
        .store
        .create_study(
            "test",
            NewStudy {
                title: "LaoScan 1.0",
                dataset_id: &dataset.id,
                version_id: &version,
                application_id: None,
                protocol_json: "{}",
                max_submissions: 3,
            },
        )
        .await
        .unwrap();
    let rates = [0.01, 0.03, 0.05, 0.1, 0.2, 0.4, 0.6, 0.75, 0.85, 0.95];
    let bins: Vec<Value> = rates
        .iter()
        .enumerate()
        .map(|(i, r)| {
            serde_json::json!({ "count": 100, "mean_predicted": i as f64 / 10.0 + 0.05, "observed_rate": r })
        })
        .collect();
    let report = serde_json::json!({ "calibration": { "bins": bins } });
    s.store
        .record_submission(
            "test",
            &study.id,
            "predictions",
            b"id,score\n",
            SubmissionOutcome::Evaluated {
                report_json: report.to_string(),
                verdict: "pass".into(),
            },
        )
        .await
        .unwrap();

    let today = s.store.now().date();
    let go_live = today - time::Duration::days(150);
    let facility = one.organisation_id.clone().unwrap();
    s.store
        .record_training(
            "test",
            &facility,
            &product,
            &TrainingRecord {
                trained_on: go_live - time::Duration::days(3),
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
                version_id: &version,
                facility_id: &facility,
                go_live,
                end_date: None,
                frequency: PeriodKind::Month,
            },
        )
        .await
        .unwrap()
        .id;
    let mut months = vec![Period::containing(PeriodKind::Month, go_live)];
    for _ in 0..3 {
        let next = months[months.len() - 1].next();
        months.push(next);
    }
    let rows = months
        .iter()
        .enumerate()
        .map(|(i, m)| report_of(&dep, m, if i < 3 { &REFERENCE } else { &SHIFTED }))
        .collect();
    let staff = Submitter {
        user_id: rev.id.clone(),
        facility_id: None,
    };
    let receipt = s.store.ingest_reports(&staff, "test", rows).await.unwrap();
    assert_eq!(receipt.accepted, 4, "{:?}", receipt.rows);

    let summary = run_alerts(&s.store, &AlertOptions::default())
        .await
        .unwrap();
    assert_eq!(summary.with_cbpe, 1, "{summary:?}");
    let alerts = s
        .store
        .alerts(&AlertFilter {
            deployment_id: Some(dep.clone()),
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    let cbpe = alerts
        .iter()
        .find(|a| a.metric == "cbpe.specificity")
        .unwrap_or_else(|| panic!("{alerts:?}"));
    assert_eq!(cbpe.method, "cbpe");
    assert_eq!(cbpe.level, "watch");
    assert!((cbpe.value - 0.8839).abs() < 1e-3, "{}", cbpe.value);
    let ev: Value = serde_json::from_str(&cbpe.evidence_json).unwrap();
    assert_eq!(ev["kind"], "cbpe");
    assert_eq!(ev["rule"], "estimated-drop");
    assert!((ev["reference_estimate"].as_f64().unwrap() - 0.9556).abs() < 1e-3);
    assert_eq!(ev["imputed_bins"], 0);
    assert!(
        alerts.iter().all(|a| a.metric != "cbpe.sensitivity"),
        "sensitivity rose"
    );
    s.stop().await;
}
