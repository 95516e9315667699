//! Published figures from statistics.md for disproportionality, each with its source.
#![allow(clippy::unwrap_used)]

use vigilo_stats::dispro::*;
use vigilo_stats::mgps::*;

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:.10}, want {want:.10} (tol {tol})"
    );
}

/// 2x2 tables; source: statistics.md, base R 4.2 (`chisq.test`, `qgamma`), vigipy agreeing on
/// PRR and ROR. Published to 6 decimals, so compared at 5e-7 (relative for large values).
#[test]
#[allow(clippy::type_complexity)] // a literal table, clearer inline
fn two_by_two_tables_match_r() {
    #[rustfmt::skip]
    let rows: [([u64; 4], [f64; 3], [f64; 3], f64, f64, f64, [f64; 3]); 4] = [
        ([10, 990, 200, 98800], [4.950000, 2.630960, 9.313140], [4.989899, 2.635932, 9.446030],
         26.395016, 30.082413, 2.1, [2.013806, 0.983663, 2.770377]),
        ([3, 47, 17, 9933], [35.117647, 10.624853, 116.072116], [37.295369, 10.574893, 131.532735],
         58.005458, 84.691997, 0.1, [2.544321, 0.493877, 3.738116]),
        ([25, 475, 1000, 48500], [2.475000, 1.680815, 3.644437], [2.552632, 1.699108, 3.834910],
         20.429899, 21.888729, 10.25, [1.246161, 0.625185, 1.755951]),
        ([12, 1488, 388, 98112], [2.030928, 1.146008, 3.599162], [2.039242, 1.145482, 3.630354],
         5.138999, 6.115834, 6.0, [0.943416, 0.013225, 1.644618]),
    ];
    let rel = |got: f64, want: f64, what: &str| close(got, want, 5e-7 * want.abs().max(1.0), what);
    for ([a, b, c, d], p, r, chi_y, chi, e, icv) in rows {
        let t = TwoByTwo { a, b, c, d };
        let pr = prr(&t, 0.95, ZeroCellRule::HaldaneAnscombe, Chi2Form::Yates).unwrap();
        rel(pr.prr, p[0], "prr");
        rel(pr.lower, p[1], "prr lower");
        rel(pr.upper, p[2], "prr upper");
        rel(pr.chi2.unwrap(), chi_y, "chi2 yates");
        let pu = prr(
            &t,
            0.95,
            ZeroCellRule::HaldaneAnscombe,
            Chi2Form::Uncorrected,
        )
        .unwrap();
        rel(pu.chi2.unwrap(), chi, "chi2");
        let ro = ror(&t, 0.95, ZeroCellRule::HaldaneAnscombe).unwrap();
        rel(ro.ror, r[0], "ror");
        rel(ro.lower, r[1], "ror lower");
        rel(ro.upper, r[2], "ror upper");
        let ex = t.expected().unwrap();
        close(ex, e, 1e-12, "E");
        let i = ic(a, ex, 0.95).unwrap();
        close(i.ic, icv[0], 5e-7, "ic");
        close(i.lower, icv[1], 5e-7, "ic025");
        close(i.upper, icv[2], 5e-7, "ic975");
        // Every row is an Evans signal and an IC signal (the last one borderline).
        assert!(pr.evans_signal && i.signal);
    }
}

/// The UMC's documented example: observed 12, expected 5 gives IC025 = 0.2542334.
#[test]
fn umc_ic025_example() {
    let i = ic(12, 5.0, 0.95).unwrap();
    close(i.lower, 0.2542334, 5e-8, "ic025");
}

/// EBGM posterior table; source: statistics.md, openEBGM (6 digits) and an independent scipy
/// computation agreeing to 6 decimals.
#[test]
fn ebgm_posterior_matches_openebgm() {
    let prior = GammaMixture {
        a1: 3.25379064,
        b1: 0.39988801,
        a2: 2.02613219,
        b2: 1.90808279,
        p: 0.06534557,
    };
    #[rustfmt::skip]
    let rows: [(u64, f64, f64, f64, f64, f64); 11] = [
        (1, 0.0360548272, 0.281973582, 2.226687, 0.491075, 13.856070),
        (1, 0.0038736591, 0.340965216, 2.583179, 0.518024, 15.785966),
        (1, 0.0765792610, 0.222635413, 1.920673, 0.465107, 11.773363),
        (1, 0.0527413588, 0.255666848, 2.085255, 0.479499, 12.956006),
        (16, 0.40643623, 0.999999678, 23.261120, 15.685670, 33.477354),
        (19, 0.89690107, 0.999992253, 16.776487, 11.646212, 23.549580),
        (6, 0.07866508, 0.999109931, 18.276501, 10.161718, 30.836131),
        (8, 0.30482718, 0.998957971, 15.245144, 8.993323, 24.516368),
        (11, 0.56317044, 0.999501391, 14.277134, 8.981318, 21.781873),
        (3, 3.0, 0.003955927, 0.926260, 0.405187, 1.882251),
        (50, 10.0, 0.758478215, 4.881543, 3.751266, 6.221921),
    ];
    for (n, e, q, g, lo, hi) in rows {
        let r = ebgm(&prior, n, e).unwrap();
        close(r.qn, q, 5e-9, "qn");
        // Published to 6 digits by openEBGM's bisection, which stops within 1e-6 (scipy's
        // brentq to 1e-15 gives EB05 = 0.49107445 in the first row, published 0.491075).
        close(r.ebgm, g, 5e-7 * g.max(1.0), "ebgm");
        close(r.eb05, lo, 1e-6 * lo.max(1.0), "eb05");
        close(r.eb95, hi, 1e-6 * hi.max(1.0), "eb95");
        assert_eq!(r.signal, lo >= 2.0);
    }
}
