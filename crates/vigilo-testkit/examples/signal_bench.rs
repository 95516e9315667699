//! Signal run at scale (bench/early_warning.sh): fills a fresh database with REPORTS
//! incident reports about PRODUCTS devices (FDA-list style references) coded with CODES
//! event codes, through the real importer (`Store::import_public_reports`, one
//! transaction, every narrative scrubbed), then times the full detection run
//! (`incident_signals::run_signals`: reading the coded reports in one packed pass,
//! counting, disproportionality with the MGPS prior fit, the reports of the signalling
//! cells, rates, clusters, recording the signals), RUNS times, and prints one JSON line with
//! the phase times of each run (the first run records every signal; later runs find them
//! unchanged).
//!
//!   signal_bench DATABASE_URL [--reports 1000000] [--products 5000] [--codes 2000] [--runs 3] [--reuse]
//!
//! Products and codes are drawn from Zipf-like distributions (a few frequent, a long tail),
//! each report with one to three codes, a few product-code pairs boosted so there is
//! something to find. Deterministic for given sizes.

use std::time::Instant;
use vigilo_core::directory::EntrySource;
use vigilo_core::incident::{IncidentSource, ReporterKind, Seriousness};
use vigilo_core::public_reports::PublicReport;
use vigilo_store::{ReferenceRecord, Store};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: the example must not pull a random crate in.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Zipf-like index in 0..n: inverse of a 1/x density.
    fn zipf(&mut self, n: usize) -> usize {
        let x = ((n as f64 + 1.0).ln() * self.unit()).exp() - 1.0;
        (x as usize).min(n - 1)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("signal_bench: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .filter(|a| !a.starts_with("--"))
        .ok_or(
            "usage: signal_bench DATABASE_URL [--reports N] [--products N] [--codes N] [--runs N] [--reuse]",
        )?
        .clone();
    let n_reports = arg(&args, "--reports", 1_000_000);
    let n_products = arg(&args, "--products", 5000).max(1);
    let n_codes = arg(&args, "--codes", 2000).max(1);
    let runs = arg(&args, "--runs", 3).max(1);
    // Runs over the reports a previous invocation imported (for profiling the run alone).
    let reuse = args.iter().any(|a| a == "--reuse");
    let store = Store::open(&url).await.map_err(|e| e.to_string())?;
    if reuse {
        return time_runs(&store, &url, runs, serde_json::json!({"reused": true})).await;
    }
    let refs: Vec<ReferenceRecord> = (0..n_products)
        .map(|i| ReferenceRecord {
            reference: format!("K{:06}", 100_000 + i),
            device: format!("Bench device {i}"),
            company: format!("Maker {}", i % 400),
            panel: "Radiology".into(),
            product_code: "QAS".into(),
            decision_date: "2020-01-01".into(),
        })
        .collect();
    store
        .import_references("bench", EntrySource::FdaAiList, "bench", &refs)
        .await
        .map_err(|e| e.to_string())?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut reports = Vec::with_capacity(n_reports);
    let mut pairs = 0usize;
    for i in 0..n_reports {
        let product = rng.zipf(n_products);
        let k = 1 + (rng.next() % 3) as usize;
        let mut codes: Vec<String> = (0..k)
            .map(|_| format!("bench:{:04}", rng.zipf(n_codes)))
            .collect();
        // Something to find: every 50th product over-reports its own code.
        if product.is_multiple_of(50) && rng.unit() < 0.3 {
            codes.push(format!("bench:{:04}", (product * 7) % n_codes));
        }
        codes.sort();
        codes.dedup();
        pairs += codes.len();
        reports.push(PublicReport {
            source: IncidentSource::Maude,
            external_id: format!("B{i}"),
            received_on: None,
            occurred_on: None,
            seriousness: Seriousness::Malfunction,
            reporter_kind: ReporterKind::PublicSource,
            original_reporter: None,
            product_name: None,
            manufacturer: None,
            device_ref: Some(format!("K{:06}", 100_000 + product)),
            deployer: None,
            title: None,
            narrative: format!("Bench report {i}: the device gave a wrong output."),
            country: None,
            event_codes: codes,
        });
    }
    let started = Instant::now();
    let imported = store
        .import_public_reports("bench", &reports)
        .await
        .map_err(|e| e.to_string())?;
    let import_s = started.elapsed().as_secs_f64();
    drop(reports);
    let setup = serde_json::json!({
        "reports": n_reports, "pairs": pairs, "products": n_products, "codes": n_codes,
        "imported": imported.created, "linked": imported.linked,
        "import_s": import_s, "import_reports_per_s": n_reports as f64 / import_s,
    });
    time_runs(&store, &url, runs, setup).await
}

/// Times `runs` full signal runs and prints one JSON line: `setup`, the database kind, the
/// run times and their median, each run's phases and what it recorded.
async fn time_runs(
    store: &Store,
    url: &str,
    runs: usize,
    setup: serde_json::Value,
) -> Result<(), String> {
    let opts = vigilo_server::incident_signals::DetectOptions::default();
    let mut times = Vec::new();
    let mut summary = String::new();
    let mut phases: Vec<serde_json::Value> = Vec::new();
    let mut outcomes: Vec<serde_json::Value> = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let s = vigilo_server::incident_signals::run_signals(store, &opts)
            .await
            .map_err(|e| e.to_string())?;
        times.push(t.elapsed().as_secs_f64());
        summary = s.to_string();
        phases.push(serde_json::json!(s.phases));
        outcomes.push(serde_json::json!(s.recorded));
    }
    // The median run's phases (runs after the first find every signal unchanged).
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[a].total_cmp(&times[b]));
    let mid = order[order.len() / 2];
    let mut line = serde_json::json!({
        "database": url.split(':').next(),
        "run_s_median": median(times.clone()), "run_s": times,
        "phases_median_run": phases[mid], "phases": phases, "recorded": outcomes,
        "summary": summary,
    });
    if let (Some(line), Some(setup)) = (line.as_object_mut(), setup.as_object()) {
        line.extend(setup.clone());
    }
    println!("{line}");
    Ok(())
}
