//! The regulator's reference dataset CSV (`vigilo_sandbox::parse_reference_csv`), uploaded
//! through the sandbox pages.
//!
//! Invariants: no panic; an error is a typed `DatasetError` that displays; an accepted
//! dataset has one label, one case id (unique, found again by `position`) and one row of
//! finite features per case, subgroup codes that index their levels, and the SHA-256 of the
//! bytes given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigilo_sandbox::{parse_reference_csv, ColumnRoles, DatasetLimits};

fuzz_target!(|data: &[u8]| {
    let roles = ColumnRoles {
        case_id: "case_id".into(),
        label: "label".into(),
        features: vec!["a".into(), "b".into()],
        subgroups: vec!["group".into()],
    };
    let limits = DatasetLimits {
        max_bytes: 1 << 20,
        max_rows: 10_000,
        max_columns: 64,
        max_case_id_len: 32,
        max_subgroup_levels: 16,
    };
    match parse_reference_csv(data, &roles, &limits) {
        Ok(d) => {
            let n = d.len();
            assert_eq!(d.labels.len(), n);
            assert_eq!(d.features.rows, n);
            assert_eq!(d.features.values.len(), n * d.features.cols());
            assert!(d.features.values.iter().all(|v| v.is_finite()));
            for (i, id) in d.case_ids.iter().enumerate() {
                assert_eq!(d.position(id), Some(i), "case id {id} not found at its row");
                assert!(id.len() <= limits.max_case_id_len);
            }
            for g in &d.subgroups {
                assert_eq!(g.codes.len(), n);
                assert!(g.levels.len() <= limits.max_subgroup_levels);
                assert!(g.codes.iter().all(|&c| (c as usize) < g.levels.len()));
            }
            assert!(d.positives() <= n);
            assert_eq!(d.sha256.len(), 64);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
