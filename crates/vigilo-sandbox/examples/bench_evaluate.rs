//! End-to-end sandbox evaluation for `bench/sandbox/run_bench.py`: read the dataset and
//! predictions files, parse, evaluate, serialise the JSON report; repeated, timed.
//!
//!     cargo run --release -p vigilo-sandbox --example bench_evaluate -- DATASET PREDICTIONS RUNS
//!
//! Prints one JSON object: the times of each run and the report of the last one.

use std::time::Instant;
use vigilo_sandbox::{
    evaluate, parse_predictions, parse_reference_csv, ColumnRoles, DatasetLimits, Endpoint, Metric,
    Protocol, ScoreKind,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dataset_path, predictions_path, runs] = args.as_slice() else {
        return Err("usage: bench_evaluate DATASET PREDICTIONS RUNS".into());
    };
    let runs: usize = runs.parse()?;
    let roles = ColumnRoles {
        case_id: "case_id".into(),
        label: "label".into(),
        features: vec![],
        subgroups: vec!["sex".into(), "age_band".into(), "province".into()],
    };
    let threshold = |metric| Endpoint {
        metric,
        threshold: Some(0.5),
        min_lower_bound: 0.5,
    };
    let protocol = Protocol {
        primary: threshold(Metric::Sensitivity),
        secondary: vec![
            threshold(Metric::Specificity),
            threshold(Metric::Ppv),
            threshold(Metric::Npv),
            Endpoint {
                metric: Metric::Auroc,
                threshold: None,
                min_lower_bound: 0.8,
            },
        ],
        score_kind: ScoreKind::Probability,
        subgroup_columns: roles.subgroups.clone(),
        min_subgroup_size: 30,
        max_submissions: 3,
    };
    let mut times = Vec::new();
    // Seconds per phase and run: read, parse dataset, parse predictions, evaluate, JSON.
    let mut phases: Vec<[f64; 5]> = Vec::new();
    let mut json = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut lap = Instant::now();
        let mut split = || {
            let t = lap.elapsed().as_secs_f64();
            lap = Instant::now();
            t
        };
        let dataset_bytes = std::fs::read(dataset_path)?;
        let predictions_bytes = std::fs::read(predictions_path)?;
        let read = split();
        let dataset = parse_reference_csv(&dataset_bytes, &roles, &DatasetLimits::default())?;
        let parse_dataset = split();
        let predictions = parse_predictions(
            &predictions_bytes,
            &dataset,
            protocol.score_kind,
            predictions_bytes.len(),
        )?;
        let parse_predictions = split();
        let report = evaluate(&dataset, &predictions, &protocol)?;
        let metrics = split();
        json = serde_json::to_vec(&report)?;
        let serialise = split();
        times.push(started.elapsed().as_secs_f64());
        phases.push([read, parse_dataset, parse_predictions, metrics, serialise]);
    }
    let report: serde_json::Value = serde_json::from_slice(&json)?;
    println!(
        "{}",
        serde_json::json!({
            "times_s": times,
            "phases_s": phases,
            "phase_names": ["read", "parse_dataset", "parse_predictions", "evaluate", "json"],
            "report_bytes": json.len(),
            "report": report,
        })
    );
    Ok(())
}
