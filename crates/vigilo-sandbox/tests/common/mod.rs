//! Shared fixtures: the WDBC held-out split made by `scripts/make_fixtures.py`.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::path::PathBuf;
use vigilo_sandbox::{
    parse_reference_csv, ColumnRoles, DatasetLimits, Endpoint, Metric, Protocol, ReferenceDataset,
    ScoreKind, WorkerCommand,
};

pub const MODEL_FEATURES: [&str; 3] = ["mean_texture", "worst_area", "worst_smoothness"];

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

pub fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

pub fn roles(features: &[&str]) -> ColumnRoles {
    ColumnRoles {
        case_id: "case_id".into(),
        label: "label".into(),
        features: features.iter().map(|s| s.to_string()).collect(),
        subgroups: vec!["radius_band".into()],
    }
}

pub fn wdbc() -> ReferenceDataset {
    parse_reference_csv(
        &read("wdbc_reference.csv"),
        &roles(&MODEL_FEATURES),
        &DatasetLimits::default(),
    )
    .unwrap()
}

pub fn reference() -> serde_json::Value {
    serde_json::from_slice(&read("wdbc_sklearn_reference.json")).unwrap()
}

pub fn protocol() -> Protocol {
    Protocol {
        primary: Endpoint {
            metric: Metric::Sensitivity,
            threshold: Some(0.5),
            min_lower_bound: 0.75,
        },
        secondary: vec![
            Endpoint {
                metric: Metric::Specificity,
                threshold: Some(0.5),
                min_lower_bound: 0.85,
            },
            Endpoint {
                metric: Metric::Auroc,
                threshold: None,
                min_lower_bound: 0.9,
            },
        ],
        score_kind: ScoreKind::Probability,
        subgroup_columns: vec!["radius_band".into()],
        min_subgroup_size: 10,
        max_submissions: 3,
    }
}

pub fn worker() -> WorkerCommand {
    WorkerCommand {
        program: PathBuf::from(env!("CARGO_BIN_EXE_vigilo-sandbox-worker")),
        args: vec![],
    }
}

/// `[tp, fp, tn, fn]` of a reference confusion object.
pub fn counts(confusion: &serde_json::Value) -> [u64; 4] {
    ["tp", "fp", "tn", "fn"].map(|k| confusion[k].as_u64().unwrap())
}
