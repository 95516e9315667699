//! The signal run reads its reports in one packed pass and counts them before scoring: on a
//! seeded set of imported reports (devices of the FDA list, one to four codes each, a few
//! excesses to find) it must find exactly what the row-by-row computation finds, every
//! figure and report included, on both backends. A second run over the same reports leaves
//! every signal as it was.
#![allow(clippy::unwrap_used)]

use vigilo_core::directory::EntrySource;
use vigilo_core::incident::{IncidentSource, ReporterKind, Seriousness};
use vigilo_core::public_reports::PublicReport;
use vigilo_server::incident_signals::{
    detect_counted, detect_from_rows, run_signals, DetectOptions,
};
use vigilo_server::ServerConfig;
use vigilo_store::{Detection, ReferenceRecord, SignalFilter};
use vigilo_testkit::{both_backends, Backend, TestServer};

both_backends!(counting_first_finds_what_the_rows_give);

/// xorshift64*, seeded: the same reports every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn canonical(mut d: Vec<Detection>) -> Vec<String> {
    d.sort_by(|a, b| (&a.product_key, &a.code).cmp(&(&b.product_key, &b.code)));
    d.iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect()
}

async fn counting_first_finds_what_the_rows_give(backend: Backend) {
    let Some(s) = TestServer::start(
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
    let refs: Vec<ReferenceRecord> = (0..40)
        .map(|i| ReferenceRecord {
            reference: format!("K{:06}", 200_000 + i),
            device: format!("Device {i}"),
            company: format!("Maker {}", i % 7),
            panel: "Radiology".into(),
            product_code: "QAS".into(),
            decision_date: "2021-01-01".into(),
        })
        .collect();
    s.store
        .import_references("test", EntrySource::FdaAiList, "test", &refs)
        .await
        .unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let reports: Vec<PublicReport> = (0..1500)
        .map(|i| {
            // Skewed towards the first devices and codes; devices 3 and 11 over-report one
            // code each.
            let device = (rng.below(40) * rng.below(40) / 40) as usize;
            let k = 1 + rng.below(4) as usize;
            let mut codes: Vec<String> = (0..k)
                .map(|_| format!("test:{:02}", rng.below(30) * rng.below(30) / 30))
                .collect();
            if (device == 3 || device == 11) && rng.below(3) == 0 {
                codes.push(format!("test:{:02}", 20 + device % 7));
            }
            PublicReport {
                source: IncidentSource::Maude,
                external_id: format!("T{i}"),
                received_on: None,
                occurred_on: Some(
                    time::Date::from_calendar_date(
                        2025,
                        time::Month::try_from(1 + (i % 12) as u8).unwrap(),
                        1 + (i % 28) as u8,
                    )
                    .unwrap(),
                ),
                seriousness: Seriousness::Malfunction,
                reporter_kind: ReporterKind::PublicSource,
                original_reporter: None,
                product_name: None,
                manufacturer: None,
                device_ref: Some(format!("K{:06}", 200_000 + device)),
                deployer: None,
                title: None,
                narrative: format!("Report {i}: the output was wrong."),
                country: None,
                event_codes: codes,
            }
        })
        .collect();
    s.store
        .import_public_reports("test", &reports)
        .await
        .unwrap();
    let opts = DetectOptions::default();
    let (rows, rows_notes) = detect_from_rows(&s.store, &opts).await.unwrap();
    let (counted, notes) = detect_counted(&s.store, &opts).await.unwrap();
    assert!(rows.len() >= 3, "something to find: {rows_notes:?}");
    assert!(rows.iter().all(|d| !d.incident_ids.is_empty()));
    assert_eq!(notes, rows_notes);
    assert_eq!(canonical(counted), canonical(rows.clone()));

    // Recorded, then found again unchanged: nothing is rewritten.
    let first = run_signals(&s.store, &opts).await.unwrap();
    assert_eq!(first.recorded.new as usize, rows.len());
    let before = s
        .store
        .signals(&SignalFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let second = run_signals(&s.store, &opts).await.unwrap();
    assert_eq!(
        (
            second.recorded.new,
            second.recorded.updated,
            second.recorded.unchanged,
            second.recorded.no_longer_detected
        ),
        (0, 0, rows.len() as u64, 0)
    );
    let after = s
        .store
        .signals(&SignalFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(before.len(), after.len());
    for b in &before {
        let a = after.iter().find(|a| a.id == b.id).unwrap();
        assert_eq!(a.updated_at, b.updated_at);
        assert_eq!(a.evidence_json, b.evidence_json);
        assert_eq!(a.still_detected, 1);
    }
    for d in &rows {
        let sig = before
            .iter()
            .find(|x| x.product_key == d.product_key && x.code == d.code)
            .unwrap();
        assert_eq!(
            s.store.signal_incident_ids(&sig.id).await.unwrap(),
            d.incident_ids
        );
    }
}
