//! Monitoring through the real server, on both backends: a reviewer rolls a licensed
//! version out to a station, the station sends reports with its API token (JSON and CSV),
//! enters one through the form, and the KPI tables and public dashboard show them.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use vigilo_core::monitoring::TrainingRecord;
use vigilo_core::Role;
use vigilo_server::ServerConfig;
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(a_station_reports_and_the_kpis_show_it);

async fn a_station_reports_and_the_kpis_show_it(backend: Backend) {
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
    let station = s.user("station", Role::Reporter, Some("TYT-BADINH")).await;
    s.user("other-station", Role::Reporter, Some("TYT-OTHER"))
        .await;
    s.user("rev", Role::Reviewer, None).await;
    let maker = vendor.organisation_id.clone().unwrap();
    let facility = station.organisation_id.clone().unwrap();
    let (p, v) = s.licensed_version(&maker, "LaoScan", vec![]).await;
    let today = s.store.now().date();
    let go_live = today - time::Duration::days(120);

    // The reviewer's rollout fails without a training record, then succeeds.
    let rv = s.login("rev").await;
    let csrf = s.form_csrf(&rv, "/deployments").await;
    let rows = format!("facility,go_live\nTYT-BADINH,{go_live}\n");
    let r = rv
        .post(s.url("/deployments/rollout"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("version_id", v.id.as_str()),
            ("rows", rows.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("training"));
    s.store
        .record_training(
            "test",
            &facility,
            &p.id,
            &TrainingRecord {
                trained_on: go_live - time::Duration::days(3),
                course: "LaoScan".into(),
                staff_trained: 2,
            },
        )
        .await
        .unwrap();
    let r = rv
        .post(s.url("/deployments/rollout"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("version_id", v.id.as_str()),
            ("rows", rows.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = rv
        .get(s.url("/deployments"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Thành phố Hà Nội"), "rollout by province");

    // The station sees its deployment through the API.
    let token = s.token("station").await;
    let api = TestServer::client();
    let list: Value = api
        .get(s.url("/api/v1/deployments"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dep = list["items"][0]["id"].as_str().unwrap().to_string();
    let first =
        vigilo_core::period::Period::containing(vigilo_core::period::PeriodKind::Month, go_live);
    let second = first.next();
    let batch = json!({ "reports": [
        { "deployment": dep, "period": first.to_string(), "uses": 120, "positives": 12,
          "tp": 5, "fp": 5, "fn": 1, "tn": 40, "mix": { "sex": [60, 58, 2] } },
        { "deployment": dep, "period": second.to_string(), "uses": -3 },
        { "deployment": dep, "period": "2999-01", "uses": 3 },
        { "deployment": dep, "period": second.to_string(), "uses": 10, "patient_name": "Nguyễn Văn A" }
    ]});
    let r = api
        .post(s.url("/api/v1/monitoring/reports"))
        .bearer_auth(&token)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let receipt: Value = r.json().await.unwrap();
    assert_eq!(receipt["accepted"], 1);
    assert_eq!(receipt["rejected"], 3);
    assert_eq!(receipt["rows"][1]["problems"][0]["field"], "uses");
    assert!(receipt["rows"][2]["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("not started"));
    assert!(receipt["rows"][3]["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("patient_name"));
    assert!(
        !receipt.to_string().contains("Nguyễn"),
        "an unknown field's value is not echoed"
    );
    // The same batch again: nothing new, one unchanged.
    let again: Value = api
        .post(s.url("/api/v1/monitoring/reports"))
        .bearer_auth(&token)
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["accepted"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(1))
    );
    // CSV, all rows bad: 422 with the rows.
    let csv = format!("deployment,period,uses,positives\n{dep},{second},5,9\n");
    let r = api
        .post(s.url("/api/v1/monitoring/reports"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Another station's token cannot report here; a vendor cannot send reports at all.
    let other = s.token("other-station").await;
    let r: Value = api
        .post(s.url("/api/v1/monitoring/reports"))
        .bearer_auth(&other)
        .json(&json!([{ "deployment": dep, "period": second.to_string(), "uses": 1 }]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["rejected"], 1);
    let vt = s.token("vendor-a").await;
    let r = api
        .post(s.url("/api/v1/monitoring/reports"))
        .bearer_auth(&vt)
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The station's form: a correction of the first month.
    let st = s.login("station").await;
    let path = format!("/deployments/{dep}");
    let csrf = s.form_csrf(&st, &path).await;
    let first_text = first.to_string();
    let r = st
        .post(s.url(&format!("{path}/reports")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("period", first_text.as_str()),
            ("uses", "130"),
            ("positives", "12"),
            ("tp", "3"),
            ("fp", "7"),
            ("fn", "1"),
            ("tn", "40"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("MR-"), "the form shows the receipt");
    let stored = s.store.deployment_reports(&dep).await.unwrap();
    assert_eq!((stored[0].uses, stored[0].revision), (130, 2));

    // KPI tables: the reviewer's by province, the vendor's for its own product, the public
    // dashboard with small counts hidden.
    let period = first.to_string();
    let kpis: Value = api
        .get(s.url(&format!(
            "/api/v1/kpis?period={period}&product={}&level=province",
            p.id
        )))
        .bearer_auth(s.token("rev").await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = &kpis["rows"][0];
    assert_eq!(row["group"], "01");
    let ppv = row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kpi"] == "tb_ppv")
        .unwrap();
    assert_eq!(
        (ppv["numerator"].as_u64(), ppv["denominator"].as_u64()),
        (Some(3), Some(10))
    );
    // Ten verified positives are too few to show a PPV (the KPI's minimum count).
    assert_eq!(
        (ppv["value"].as_f64(), ppv["status"].as_str()),
        (None, Some("below_minimum"))
    );
    let screened = row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kpi"] == "tb_screened")
        .unwrap();
    assert_eq!(screened["value"].as_f64(), Some(130.0));
    let r = api
        .get(s.url(&format!("/api/v1/kpis?period={period}&product={}", p.id)))
        .bearer_auth(&vt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let public = TestServer::client()
        .get(s.url(&format!("/pilot?period={period}&product={}", p.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        public.contains("&#60;5"),
        "three true positives are shown as <5 publicly"
    );
    let staff_page = rv
        .get(s.url(&format!("/monitoring?period={period}&product={}", p.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!staff_page.contains("&#60;5"), "staff see every count");
    s.stop().await;
}
