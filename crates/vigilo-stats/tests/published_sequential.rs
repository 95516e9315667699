//! Published figures from statistics.md for sequential methods, each with its source.
#![allow(clippy::unwrap_used)]

use vigilo_stats::sequential::*;

/// Poisson MaxSPRT critical values, alpha = 0.05, no delay; source: R package Sequential's
/// table as given in statistics.md (6 decimals; the starred entries were reproduced
/// independently to 1e-6). Checked at 1e-6.
#[test]
fn maxsprt_critical_values_match_sequential() {
    // The whole table (T, M, critical value).
    let cases: [(f64, u64, f64); 48] = [
        (1.0, 1, 2.853937),
        (1.0, 2, 2.366638),
        (1.0, 3, 1.774218),
        (2.0, 1, 3.046977),
        (2.0, 2, 2.689354),
        (2.0, 3, 2.349679),
        (2.0, 4, 2.000158),
        (5.0, 1, 3.297183),
        (5.0, 2, 3.012909),
        (5.0, 3, 2.803955),
        (5.0, 4, 2.623668),
        (5.0, 6, 2.267595),
        (5.0, 8, 1.936447),
        (10.0, 1, 3.467952),
        (10.0, 2, 3.238009),
        (10.0, 3, 3.064248),
        (10.0, 4, 2.921561),
        (10.0, 6, 2.690586),
        (10.0, 8, 2.484834),
        (10.0, 10, 2.281441),
        (20.0, 1, 3.628123),
        (20.0, 2, 3.430141),
        (20.0, 3, 3.288216),
        (20.0, 4, 3.176370),
        (20.0, 6, 2.997792),
        (20.0, 8, 2.846858),
        (20.0, 10, 2.717137),
        (50.0, 1, 3.819903),
        (50.0, 2, 3.657142),
        (50.0, 3, 3.544826),
        (50.0, 4, 3.455521),
        (50.0, 6, 3.317955),
        (50.0, 8, 3.210428),
        (50.0, 10, 3.117553),
        (100.0, 1, 3.952321),
        (100.0, 2, 3.810141),
        (100.0, 3, 3.711993),
        (100.0, 4, 3.636508),
        (100.0, 6, 3.520081),
        (100.0, 8, 3.430065),
        (100.0, 10, 3.355794),
        (1000.0, 1, 4.324917),
        (1000.0, 2, 4.226412),
        (1000.0, 3, 4.160022),
        (1000.0, 4, 4.109665),
        (1000.0, 6, 4.034210),
        (1000.0, 8, 3.977453),
        (1000.0, 10, 3.931529),
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
