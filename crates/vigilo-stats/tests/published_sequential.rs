//! Published figures from statistics.md for sequential methods, each with its source.
#![allow(clippy::unwrap_used)]

use vigilo_stats::sequential::*;

/// Poisson MaxSPRT critical values, alpha = 0.05, no delay; source: R package Sequential's
/// table as given in statistics.md (6 decimals; the starred entries were reproduced
/// independently to 1e-6). Checked at 1e-6.
#[test]
fn maxsprt_critical_values_match_sequential() {
    let cases: [(f64, u64, f64); 14] = [
        (1.0, 1, 2.853937),
        (1.0, 2, 2.366638),
        (1.0, 3, 1.774218),
        (2.0, 3, 2.349679),
        (2.0, 4, 2.000158),
        (5.0, 6, 2.267595),
        (5.0, 8, 1.936447),
        (10.0, 1, 3.467952),
        (10.0, 4, 2.921561),
        (10.0, 10, 2.281441),
        (20.0, 6, 2.997792),
        (50.0, 1, 3.819903),
        (100.0, 4, 3.636508),
        (1000.0, 1, 4.324917),
    ];
    for (t, m, want) in cases {
        let cv = maxsprt_critical_value(0.05, t, m).unwrap();
        assert!(
            (cv - want).abs() <= 1e-6,
            "T={t} M={m}: got {cv:.7}, want {want}"
        );
        // The critical value must give alpha 0.05.
        assert!((maxsprt_alpha(cv, t, m).unwrap() - 0.05).abs() < 1e-8);
    }
}

/// The LLR at the boundary time equals the critical value (Lambert W form in statistics.md).
#[test]
fn maxsprt_llr_at_boundary() {
    let cv = 2.853937;
    for i in [1u64, 3, 10, 100] {
        let fi = i as f64;
        // Solve mu - i + i ln(i/mu) = cv for mu < i by bisection, independent of Lambert W.
        let (mut lo, mut hi) = (1e-12, fi);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if maxsprt_llr(i, mid).unwrap() > cv {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        assert!((maxsprt_llr(i, lo).unwrap() - cv).abs() < 1e-9);
    }
}
