//! Monitoring period reports through the real server, on both backends: a licensed product
//! deployed at one station with two of a quarter's three monthly reports; the reviewer's
//! full report in every format, the public variant with small counts hidden and no facility
//! named, and who may see what.
#![allow(clippy::unwrap_used)]

use reqwest::StatusCode;
use std::io::Write;
use std::process::{Command, Stdio};
use vigilo_core::monitoring::{ReportInput, TrainingRecord};
use vigilo_core::period::{Period, PeriodKind};
use vigilo_core::Role;
use vigilo_server::ServerConfig;
use vigilo_store::{NewDeployment, Submitter};
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(period_reports_in_every_format_and_variant);

const FACILITY_NAME: &str = "Org TYT-BADINH";

fn pdf_text(pdf: &[u8]) -> String {
    let mut child = Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-", "/dev/stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("pdftotext (poppler-utils) is installed");
    child.stdin.take().unwrap().write_all(pdf).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn report(deployment: &str, period: Period, uses: i64, tp: i64, fp: i64) -> ReportInput {
    ReportInput {
        deployment: deployment.into(),
        period: period.to_string(),
        uses,
        positives: tp + fp,
        tp: Some(tp),
        fp: Some(fp),
        fn_: Some(1),
        tn: Some(uses - tp - fp - 1),
        overrides: 0,
        escalations: 0,
        downtime_minutes: 0,
        latency_p50_ms: None,
        latency_p95_ms: None,
        score_histogram: vec![],
        mix: Default::default(),
        counters: Default::default(),
    }
}

async fn period_reports_in_every_format_and_variant(backend: Backend) {
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
    let station = s.user("station", Role::Reporter, Some("TYT-BADINH")).await;
    s.user("rev", Role::Reviewer, None).await;
    let maker = vendor.organisation_id.clone().unwrap();
    let facility = station.organisation_id.clone().unwrap();
    let (p, v) = s.licensed_version(&maker, "LaoScan", vec![]).await;
    let today = s.store.now().date();
    // A quarter well in the past, so all three of its months are owed whatever today is.
    let quarter = Period::containing(PeriodKind::Quarter, today)
        .previous()
        .previous();
    let go_live = quarter.start() - time::Duration::days(40);
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
    let dep = s
        .store
        .create_deployment(
            "test",
            &NewDeployment {
                version_id: &v.id,
                facility_id: &facility,
                go_live,
                end_date: None,
                frequency: PeriodKind::Month,
            },
        )
        .await
        .unwrap();
    s.store.activate_due_deployments().await.unwrap();
    // Two of the three months arrive; three true positives in all, a small count.
    let months = quarter.split(PeriodKind::Month);
    let receipt = s
        .store
        .ingest_reports(
            &Submitter {
                user_id: station.id.clone(),
                facility_id: Some(facility.clone()),
            },
            "api",
            vec![
                Ok(report(&dep.id, months[0], 120, 1, 9)),
                Ok(report(&dep.id, months[1], 100, 2, 8)),
            ],
        )
        .await
        .unwrap();
    assert_eq!(receipt.accepted, 2, "{:?}", receipt.rows);

    let q = quarter.to_string();
    let rv = s.login("rev").await;
    let path = format!("/reports/{q}?product={}&lang=en", p.id);

    // The full variant in HTML: KPI tables, chart, completeness with the missing facility.
    let r = rv.get(s.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    for needle in [
        "Post-deployment monitoring report",
        "KPIs against targets",
        "Reporting completeness by province",
        "Thành phố Hà Nội",
        "Facilities with missing reports",
        FACILITY_NAME,
        &months[2].to_string(),
        "<svg",
        "Impact assessment",
        "the early warning module is not yet available",
    ] {
        assert!(html.contains(needle), "staff report lacks {needle}");
    }
    assert!(!html.contains("&lt;5"), "staff see every count");

    // XLSX: a zip with a sheet per table.
    let r = rv
        .get(s.url(&format!("{path}&format=xlsx")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cd.contains(&format!("vigilo-monitoring-{q}")), "{cd}");
    assert!(cd.ends_with(".xlsx\""), "{cd}");
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"), "an XLSX file is a zip");
    let sheets = bytes
        .windows(b"xl/worksheets/sheet".len())
        .filter(|w| *w == b"xl/worksheets/sheet")
        .count();
    assert!(sheets >= 3, "one sheet per table, found {sheets} entries");

    // CSV: the KPI table.
    let r = rv
        .get(s.url(&format!("{path}&format=csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert!(csv.contains("tb_ppv") && csv.contains("LaoScan"), "{csv}");

    // PDF: the title is in the text.
    let r = rv
        .get(s.url(&format!("{path}&format=pdf")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = pdf_text(&r.bytes().await.unwrap());
    assert!(
        text.contains("Post-deployment monitoring report"),
        "PDF text: {text}"
    );

    // The public variant: three true positives shown as <5, no facility named.
    for public in [
        rv.get(s.url(&format!("{path}&public=1"))),
        // Anonymous visitors get the public variant whatever they ask for.
        TestServer::client().get(s.url(&path)),
    ] {
        let r = public.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let html = r.text().await.unwrap();
        assert!(html.contains("&lt;5"), "a count of 3 is shown as <5");
        assert!(!html.contains(FACILITY_NAME), "no facility named in public");
        assert!(!html.contains("Facilities with missing reports"));
    }
    let anon_csv = TestServer::client()
        .get(s.url(&format!("{path}&format=csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(anon_csv.contains("<5") && !anon_csv.contains(FACILITY_NAME));

    // The maker sees its own product in full; another maker gets "not found".
    let va = s.login("vendor-a").await;
    let html = va
        .get(s.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(FACILITY_NAME));
    let vb = s.login("vendor-b").await;
    let r = vb.get(s.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The form sends to the report's own address; bad periods and products are refused.
    let r = rv
        .get(s.url(&format!("/reports?period={q}&product={}&format=xlsx", p.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/reports/{q}?product={}&format=xlsx", p.id)
    );
    let r = rv.get(s.url("/reports")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("LaoScan"));
    let r = rv.get(s.url("/reports/2026-W10")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = rv
        .get(s.url(&format!("/reports/{q}?product=nope")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The annual report covers the same reports.
    let year = Period::containing(PeriodKind::Year, quarter.start()).to_string();
    let r = rv
        .get(s.url(&format!("/reports/{year}?lang=en")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("LaoScan"));
    s.stop().await;
}
