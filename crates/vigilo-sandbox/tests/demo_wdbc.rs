//! The demo study: scikit-learn's predictions for the WDBC held-out split, evaluated blind,
//! give scikit-learn's own metrics (reference JSON from `scripts/make_fixtures.py`).

mod common;

use common::*;
use vigilo_sandbox::{evaluate, parse_predictions, ScoreKind, Verdict};

fn close(a: f64, b: &serde_json::Value, what: &str) {
    let b = b.as_f64().unwrap_or_else(|| panic!("{what} missing"));
    assert!((a - b).abs() < 1e-12, "{what}: ours {a}, scikit-learn {b}");
}

#[test]
fn metrics_match_scikit_learn() {
    let dataset = wdbc();
    assert_eq!(dataset.len(), 114);
    let predictions = parse_predictions(
        &read("wdbc_sklearn_predictions.csv"),
        &dataset,
        ScoreKind::Probability,
        1 << 20,
    )
    .unwrap();
    let report = evaluate(&dataset, &predictions, &protocol()).unwrap();
    let reference = reference();
    let overall = &reference["overall"];

    let c = report.at_threshold.confusion;
    let rc = &overall["confusion"];
    assert_eq!([c.tp, c.fp, c.tn, c.fn_], counts(rc));
    let at = &report.at_threshold;
    close(
        at.sensitivity.unwrap().estimate,
        &overall["sensitivity"],
        "sensitivity",
    );
    close(
        at.specificity.unwrap().estimate,
        &overall["specificity"],
        "specificity",
    );
    close(at.ppv.unwrap().estimate, &overall["ppv"], "ppv");
    close(at.npv.unwrap().estimate, &overall["npv"], "npv");
    close(
        at.accuracy.unwrap().estimate,
        &overall["accuracy"],
        "accuracy",
    );
    close(
        report.auroc.unwrap().estimate,
        &overall["roc_auc"],
        "roc_auc",
    );
    close(
        report.calibration.as_ref().unwrap().brier,
        &overall["brier"],
        "brier",
    );

    let bands = &report.subgroups[0];
    assert_eq!(bands.column, "radius_band");
    for group in &bands.groups {
        let r = &reference["subgroups"]["radius_band"][&group.group];
        assert_eq!(group.n as u64, r["n"].as_u64().unwrap());
        assert!(!group.suppressed, "{} has {} cases", group.group, group.n);
        let m = group.metrics.as_ref().unwrap();
        let rc = &r["confusion"];
        assert_eq!(
            [
                m.confusion.tp,
                m.confusion.fp,
                m.confusion.tn,
                m.confusion.fn_
            ],
            counts(rc),
            "{}",
            group.group
        );
        close(group.auroc.unwrap(), &r["roc_auc"], "subgroup roc_auc");
    }
    assert!(bands.largest_gap.is_some());

    // Fingerprints are of the exact bytes.
    assert_eq!(
        report.dataset.sha256,
        vigilo_sandbox::fingerprint::sha256_hex(&read("wdbc_reference.csv"))
    );
    assert_eq!(report.endpoints.len(), 3);
    assert_eq!(report.endpoints[0].verdict, Verdict::Pass);
    assert!(report.roc_curve.len() >= 3);
    assert!(!report.software.version.is_empty());
}

#[test]
fn the_report_is_reproducible_byte_for_byte() {
    let dataset = wdbc();
    let bytes = read("wdbc_sklearn_predictions.csv");
    let p = parse_predictions(&bytes, &dataset, ScoreKind::Probability, 1 << 20).unwrap();
    let a = serde_json::to_string(&evaluate(&dataset, &p, &protocol()).unwrap()).unwrap();
    let b = serde_json::to_string(&evaluate(&dataset, &p, &protocol()).unwrap()).unwrap();
    assert_eq!(a, b);
    let back: vigilo_sandbox::EvaluationReport = serde_json::from_str(&a).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), a);
}

#[test]
fn the_full_copy_keeps_the_source_values() {
    // The committed copy adds case_id and label and changes nothing else.
    let text = String::from_utf8(read("wdbc_breast_cancer_diagnostic.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("case_id,row_index,mean_radius,"));
    assert!(header.ends_with(",target,diagnosis,label"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 569);
    let malignant = rows.iter().filter(|r| r.ends_with(",M,1")).count();
    let benign = rows.iter().filter(|r| r.ends_with(",B,0")).count();
    assert_eq!((malignant, benign), (212, 357));
}
