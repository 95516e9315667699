//! From reports to a safety notice through the real server, on both backends: reports
//! coded by a reviewer, the detection run finds the product's excess of one code, the
//! reviewer confirms the signal and issues a suspension, the station's deployment is
//! paused and the station acknowledges the notice, which the public sees on the product page.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use vigilo_core::monitoring::TrainingRecord;
use vigilo_core::Role;
use vigilo_server::ServerConfig;
use vigilo_store::NewDeployment;
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(a_confirmed_signal_becomes_a_suspension_the_station_acknowledges);

async fn a_confirmed_signal_becomes_a_suspension_the_station_acknowledges(backend: Backend) {
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
    s.user("rev", Role::Reviewer, None).await;
    let maker = vendor.organisation_id.clone().unwrap();
    let facility = station.organisation_id.clone().unwrap();
    let (va, va_v) = s.licensed_version(&maker, "Trợ lý ảo", vec![]).await;
    let mut others = Vec::new();
    for name in ["LaoScan", "TimViệt", "DinhDưỡng", "ThậnAI", "SpO2 Guard"] {
        others.push(s.licensed_version(&maker, name, vec![]).await.0);
    }
    let today = s.store.now().date();
    s.store
        .record_training(
            "test",
            &facility,
            &va.id,
            &TrainingRecord {
                trained_on: today - time::Duration::days(40),
                course: "Trợ lý ảo".into(),
                staff_trained: 4,
            },
        )
        .await
        .unwrap();
    let deployment = s
        .store
        .create_deployment(
            "test",
            &NewDeployment {
                version_id: &va_v.id,
                facility_id: &facility,
                go_live: today - time::Duration::days(30),
                end_date: None,
                frequency: vigilo_core::period::PeriodKind::Month,
            },
        )
        .await
        .unwrap();
    // Reports: the assistant's unsafe advice, and ordinary malfunctions of the others.
    let token = s.token("station").await;
    let client = TestServer::client();
    let file = |product: &str, n: usize| {
        json!({"reporter_kind": "health_worker", "product_id": product, "seriousness": "other_injury",
               "narrative": format!("Report {n}: the tool's output was wrong and the patient needed another visit.")})
    };
    let mut coded = Vec::new();
    for n in 0..8 {
        let r: Value = client
            .post(s.url("/api/v1/incidents"))
            .bearer_auth(&token)
            .json(&file(&va.id, n))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        coded.push((r["receipt"].as_str().unwrap().to_string(), "AI02"));
    }
    for (i, p) in others.iter().enumerate() {
        for n in 0..6 {
            let r: Value = client
                .post(s.url("/api/v1/incidents"))
                .bearer_auth(&token)
                .json(&file(&p.id, 100 + i * 10 + n))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            coded.push((
                r["receipt"].as_str().unwrap().to_string(),
                ["AI03", "AI09", "AI04"][n % 3],
            ));
        }
    }
    for (receipt, code) in &coded {
        let id = s
            .store
            .incident_by_receipt(receipt)
            .await
            .unwrap()
            .unwrap()
            .incident
            .id;
        s.store
            .set_incident_codes("test", &id, &[code.to_string()])
            .await
            .unwrap();
    }
    // The reviewer runs the detection and finds the assistant's AI02 signal.
    let rev = s.login("rev").await;
    let csrf = s.form_csrf(&rev, "/signals").await;
    let page = rev
        .post(s.url("/signals/run"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"ran\""), "run summary shown");
    let signals: Value = rev
        .get(s.url("/api/v1/signals"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signal = signals
        .as_array()
        .unwrap()
        .iter()
        .find(|x| {
            x["product_id"] == va.id.as_str()
                && x["code"] == "AI02"
                && x["method"] == "disproportionality"
        })
        .unwrap_or_else(|| panic!("no AI02 signal for the assistant: {signals}"))
        .clone();
    assert_eq!(signal["observed"], 8);
    let sid = signal["id"].as_str().unwrap();
    let detail: Value = rev
        .get(s.url(&format!("/api/v1/signals/{sid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["incidents"].as_array().unwrap().len(), 8);
    let r = rev
        .post(s.url(&format!("/signals/{sid}/actions")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "confirm"),
            ("reason", "unsafe dosing advice, reviewed 8 reports"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = rev
        .get(s.url(&format!("/signals/{sid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("/notices/new?signal="),
        "a confirmed signal offers a notice"
    );
    // Anonymous visitors and vendors do not see signals.
    assert_eq!(
        client
            .get(s.url("/api/v1/signals"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let va_client = s.login("vendor-a").await;
    assert_eq!(
        va_client
            .get(s.url("/signals"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    // The suspension notice, from the signal's form.
    let form = rev
        .get(s.url(&format!("/notices/new?signal={sid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("Trợ lý ảo"));
    let mut fields = vec![
        ("csrf", csrf.clone()),
        ("signal_id", sid.to_string()),
        ("product_id", va.id.clone()),
        ("kind", "suspension".into()),
        ("versions", va_v.id.clone()),
        ("title_vi", "Tạm dừng Trợ lý ảo 1.0".into()),
        ("title_en", "".into()),
        ("body_vi", "Tư vấn liều không an toàn.".into()),
        ("body_en", "Unsafe dosing advice.".into()),
        ("action_vi", "Ngừng sử dụng.".into()),
        ("action_en", "Stop using it.".into()),
    ];
    let r = rev
        .post(s.url("/notices"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "English subject missing"
    );
    fields[6].1 = "Virtual assistant 1.0 suspended".into();
    let r = rev
        .post(s.url("/notices"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        s.store
            .deployment(&deployment.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "paused"
    );
    // The station sees it to acknowledge, and acknowledges through the API.
    let notices: Value = client
        .get(s.url("/api/v1/notices"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = &notices[0];
    assert_eq!(n["kind"], "suspension");
    assert_eq!(n["concerns_you"], true);
    assert_eq!(n["acknowledged_at"], Value::Null);
    let nid = n["id"].as_str().unwrap();
    let ack: Value = client
        .post(s.url(&format!("/api/v1/notices/{nid}/acknowledge")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ack["deployments"], 1);
    let notices: Value = client
        .get(s.url("/api/v1/notices"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(notices[0]["acknowledged_at"].is_string());
    // The reviewer sees who acknowledged; the public sees the notice and the product page lists it.
    let page = rev
        .get(s.url(&format!("/notices/{nid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("1 / 1"), "acknowledgements counted");
    let public = client
        .get(s.url(&format!("/notices/{nid}?lang=en")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(public.contains("Virtual assistant 1.0 suspended"));
    assert!(
        !public.contains("id=\"recipients\""),
        "recipients are the regulator's"
    );
    let product_page = client
        .get(s.url(&format!("/directory/{}", va.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(product_page.contains("TBAT-"), "notice on the product page");
    // Anonymous acknowledgement is refused.
    assert_eq!(
        client
            .post(s.url(&format!("/api/v1/notices/{nid}/acknowledge")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}
