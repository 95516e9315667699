//! ONNX models run in the worker child process: the demo model reproduces scikit-learn, and
//! each kind of bad model gives its typed error.

mod common;

use common::*;
use std::time::Duration;
use vigilo_sandbox::dataset::FeatureMatrix;
use vigilo_sandbox::{
    evaluate, predictions_from_model, run_model, ModelError, RunLimits, ScoreKind,
};

fn limits() -> RunLimits {
    RunLimits {
        max_model_bytes: 10 << 20,
        wall_clock: Duration::from_secs(60),
        cpu_seconds: 60,
        memory_bytes: 2 << 30,
    }
}

#[test]
fn the_demo_model_gives_scikit_learn_probabilities_and_metrics() {
    let dataset = wdbc();
    let model = read("wdbc_logreg.onnx");
    let scores = run_model(&worker(), &model, &dataset.features, &limits()).unwrap();
    let reference = reference();
    let probabilities = reference["probabilities"].as_object().unwrap();
    let mut worst = 0.0f64;
    for (id, &s) in dataset.case_ids.iter().zip(&scores) {
        let expected = probabilities[id].as_f64().unwrap();
        worst = worst.max((f64::from(s) - expected).abs());
    }
    assert!(
        worst < 1e-6,
        "largest difference from scikit-learn: {worst}"
    );

    let predictions =
        predictions_from_model(&model, &scores, &dataset, ScoreKind::Probability).unwrap();
    assert_eq!(
        predictions.sha256,
        vigilo_sandbox::fingerprint::sha256_hex(&model)
    );
    let report = evaluate(&dataset, &predictions, &protocol()).unwrap();
    let overall = &reference["overall"];
    let c = report.at_threshold.confusion;
    let rc = &overall["confusion"];
    assert_eq!([c.tp, c.fp, c.tn, c.fn_], counts(rc));
    let auc = report.auroc.unwrap().estimate;
    assert!(
        (auc - overall["roc_auc"].as_f64().unwrap()).abs() < 1e-9,
        "{auc}"
    );
    let brier = report.calibration.unwrap().brier;
    assert!(
        (brier - overall["brier"].as_f64().unwrap()).abs() < 1e-6,
        "{brier}"
    );
}

#[test]
fn an_unsupported_operator_is_named_with_export_advice() {
    let dataset = wdbc();
    let err = run_model(
        &worker(),
        &read("unsupported_zipmap.onnx"),
        &dataset.features,
        &limits(),
    )
    .unwrap_err();
    let ModelError::UnsupportedOperators { operators, advice } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(operators, &["ZipMap"]);
    assert!(advice.contains("zipmap': False"), "{advice}");
    assert!(!err.counts_against_limit());

    let err = run_model(
        &worker(),
        &read("unsupported_tree_regressor.onnx"),
        &dataset.features,
        &limits(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ModelError::UnsupportedOperators { operators, .. } if operators == &["TreeEnsembleRegressor"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("TreeEnsembleRegressor"));
}

#[test]
fn malformed_bytes_are_not_a_model() {
    let dataset = wdbc();
    let err = run_model(
        &worker(),
        b"this is not protobuf \xff\xff\xff",
        &dataset.features,
        &limits(),
    )
    .unwrap_err();
    assert!(matches!(err, ModelError::Malformed { .. }), "{err:?}");
    assert!(!err.counts_against_limit());
}

#[test]
fn a_model_over_the_size_limit_is_refused_before_spawning() {
    let dataset = wdbc();
    let model = read("wdbc_logreg.onnx");
    let small = RunLimits {
        max_model_bytes: 100,
        ..limits()
    };
    let err = run_model(&worker(), &model, &dataset.features, &small).unwrap_err();
    assert_eq!(
        err,
        ModelError::TooLarge {
            bytes: model.len(),
            limit: 100
        }
    );
}

#[test]
fn a_wrong_feature_count_says_what_was_expected() {
    let dataset = wdbc();
    // Two features where the model takes three.
    let features = FeatureMatrix {
        names: vec!["mean_texture".into(), "worst_area".into()],
        rows: dataset.len(),
        values: dataset
            .features
            .values
            .chunks(3)
            .flat_map(|r| [r[0], r[1]])
            .collect(),
    };
    let err = run_model(&worker(), &read("wdbc_logreg.onnx"), &features, &limits()).unwrap_err();
    let ModelError::WrongInput { detail, expected } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("[?, 3]"), "{detail}");
    assert!(expected.contains("[N, 2]"), "{expected}");
    assert!(!err.counts_against_limit());
}

#[test]
fn the_wall_clock_limit_kills_the_worker() {
    let dataset = wdbc();
    let tight = RunLimits {
        wall_clock: Duration::from_millis(300),
        ..limits()
    };
    let started = std::time::Instant::now();
    let err = run_model(&worker(), &read("slow.onnx"), &dataset.features, &tight).unwrap_err();
    assert!(matches!(err, ModelError::TooSlow { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.counts_against_limit());
}

#[test]
fn the_cpu_limit_stops_a_slow_model() {
    let dataset = wdbc();
    let cpu = RunLimits {
        cpu_seconds: 1,
        ..limits()
    };
    let err = run_model(&worker(), &read("slow.onnx"), &dataset.features, &cpu).unwrap_err();
    assert_eq!(err, ModelError::TooSlow { limit_seconds: 1 });
}

#[test]
fn the_memory_limit_stops_a_memory_hog() {
    let dataset = wdbc();
    let small = RunLimits {
        memory_bytes: 512 << 20,
        ..limits()
    };
    let err = run_model(
        &worker(),
        &read("memory_hog.onnx"),
        &dataset.features,
        &small,
    )
    .unwrap_err();
    assert_eq!(
        err,
        ModelError::OutOfMemory {
            limit_bytes: 512 << 20
        }
    );
}

#[test]
fn a_missing_worker_is_a_sandbox_failure_not_the_vendors() {
    let dataset = wdbc();
    let missing = vigilo_sandbox::WorkerCommand {
        program: "/nonexistent/vigilo-sandbox-worker".into(),
        args: vec![],
    };
    let err = run_model(
        &missing,
        &read("wdbc_logreg.onnx"),
        &dataset.features,
        &limits(),
    )
    .unwrap_err();
    assert!(matches!(err, ModelError::Worker { .. }), "{err:?}");
    assert!(!err.counts_against_limit());
}
