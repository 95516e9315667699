//! A vendor's predictions file (`vigilo_sandbox::parse_predictions`): `case_id,score` for
//! every case of the study's dataset, uploaded by the vendor.
//!
//! Invariants: no panic; an error is a typed `PredictionsError` that displays and says
//! whether it counts against the vendor's limit; accepted predictions have exactly one
//! finite score per case of the dataset, in [0, 1] for probabilities.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use vigilo_sandbox::{
    parse_predictions, parse_reference_csv, ColumnRoles, DatasetLimits, ReferenceDataset, ScoreKind,
};

static DATASET: LazyLock<ReferenceDataset> = LazyLock::new(|| {
    let csv = b"case_id,label,a,group\nc1,1,0.5,x\nc2,0,1.5,y\nc3,1,-2,x\nc4,0,3e2,\n";
    let roles = ColumnRoles {
        case_id: "case_id".into(),
        label: "label".into(),
        features: vec!["a".into()],
        subgroups: vec!["group".into()],
    };
    parse_reference_csv(csv, &roles, &DatasetLimits::default()).expect("the fixed dataset parses")
});

fuzz_target!(|data: &[u8]| {
    let (kind, bytes) = match data.split_first() {
        Some((b, rest)) if b & 1 == 1 => (ScoreKind::Real, rest),
        Some((_, rest)) => (ScoreKind::Probability, rest),
        None => (ScoreKind::Probability, data),
    };
    match parse_predictions(bytes, &DATASET, kind, 1 << 20) {
        Ok(p) => {
            assert_eq!(p.scores.len(), DATASET.len());
            for s in &p.scores {
                assert!(s.is_finite());
                if kind == ScoreKind::Probability {
                    assert!((0.0..=1.0).contains(s), "probability {s}");
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
            let _ = e.counts_against_limit();
            let _ = e.file_parsed();
        }
    }
});
