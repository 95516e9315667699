//! Property tests (proptest) for invariants that must hold on any input.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use vigilo_stats::dispro::*;
use vigilo_stats::drift::*;
use vigilo_stats::eval::*;
use vigilo_stats::ks::ks_2samp;
use vigilo_stats::mgps::*;
use vigilo_stats::rng::SeededRng;
use vigilo_stats::sequential::*;

/// Labels with both classes (at least two of each) and scores with deliberate ties.
fn labelled_scores() -> impl Strategy<Value = (Vec<bool>, Vec<f64>)> {
    (4usize..120).prop_flat_map(|n| {
        (
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(0u8..20, n),
        )
            .prop_filter_map("both classes twice", |(mut y, s)| {
                y[0] = true;
                y[1] = true;
                y[2] = false;
                y[3] = false;
                Some((y, s.into_iter().map(|v| v as f64 / 19.0).collect()))
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn auroc_of_negated_scores_is_complement((y, s) in labelled_scores()) {
        let a = auroc(&y, &s).unwrap();
        let neg: Vec<f64> = s.iter().map(|v| -v).collect();
        let b = auroc(&y, &neg).unwrap();
        prop_assert!((a + b - 1.0).abs() < 1e-12);
        // DeLong variance is the same for negated scores.
        let va = auroc_delong(&y, &s, 0.95).unwrap().variance;
        let vb = auroc_delong(&y, &neg, 0.95).unwrap().variance;
        prop_assert!((va - vb).abs() < 1e-12);
    }

    #[test]
    fn delong_interval_contains_auc((y, s) in labelled_scores()) {
        let e = auroc_delong(&y, &s, 0.95).unwrap();
        prop_assert!(e.lower <= e.auc && e.auc <= e.upper);
        prop_assert!((0.0..=1.0).contains(&e.lower) && (0.0..=1.0).contains(&e.upper));
        prop_assert!(e.variance >= 0.0);
    }

    #[test]
    fn auroc_invariant_under_monotone_transform((y, s) in labelled_scores()) {
        let t: Vec<f64> = s.iter().map(|v| (3.0 * v).exp() - 7.0).collect();
        prop_assert!((auroc(&y, &s).unwrap() - auroc(&y, &t).unwrap()).abs() < 1e-12);
    }

    #[test]
    fn roc_is_monotone_and_ends_at_one((y, s) in labelled_scores()) {
        let r = roc_points(&y, &s).unwrap();
        for w in r.windows(2) {
            prop_assert!(w[1].fpr >= w[0].fpr && w[1].tpr >= w[0].tpr);
        }
        let last = r.last().unwrap();
        prop_assert!(last.fpr == 1.0 && last.tpr == 1.0);
    }

    #[test]
    fn proportion_intervals_contain_estimate(n in 1u64..5000, frac in 0.0f64..=1.0) {
        let x = ((n as f64) * frac).round() as u64;
        for m in [IntervalMethod::Wilson, IntervalMethod::ClopperPearson] {
            let p = proportion(x, n, 0.95, m).unwrap();
            prop_assert!(p.lower <= p.estimate && p.estimate <= p.upper, "{p:?}");
            prop_assert!(p.lower >= 0.0 && p.upper <= 1.0);
        }
        // Stated convention: bounds exactly 0 at x = 0 and 1 at x = n for both methods.
        for m in [IntervalMethod::Wilson, IntervalMethod::ClopperPearson] {
            let p = proportion(x, n, 0.95, m).unwrap();
            prop_assert!(x != 0 || p.lower == 0.0);
            prop_assert!(x != n || p.upper == 1.0);
        }
    }

    #[test]
    fn ratio_intervals_contain_estimates(a in 0u64..200, b in 0u64..2000, c in 0u64..2000, d in 1u64..100_000) {
        let t = TwoByTwo { a, b, c, d };
        if let Ok(p) = prr(&t, 0.95, ZeroCellRule::HaldaneAnscombe, Chi2Form::Yates) {
            prop_assert!(p.lower <= p.prr && p.prr <= p.upper);
            prop_assert!(p.chi2.is_none_or(|x| x >= 0.0));
        }
        if let Ok(r) = ror(&t, 0.95, ZeroCellRule::HaldaneAnscombe) {
            prop_assert!(r.lower <= r.ror && r.ror <= r.upper);
        }
        if t.total() > 0 {
            let i = ic(a, t.expected().unwrap(), 0.95).unwrap();
            prop_assert!(i.lower <= i.ic && i.ic <= i.upper);
        }
    }

    #[test]
    fn independent_tables_have_ratio_one(x in 1u64..300, big_x in 301u64..3000, y in 1u64..300, big_y in 301u64..3000) {
        // Rows and columns proportional: the table factorises, so PRR = ROR = 1 exactly.
        let t = TwoByTwo { a: x * y, b: x * (big_y - y), c: (big_x - x) * y, d: (big_x - x) * (big_y - y) };
        let p = prr(&t, 0.95, ZeroCellRule::HaldaneAnscombe, Chi2Form::Uncorrected).unwrap();
        prop_assert!((p.prr - 1.0).abs() < 1e-12);
        prop_assert!(p.chi2.unwrap() < 1e-9);
        let r = ror(&t, 0.95, ZeroCellRule::HaldaneAnscombe).unwrap();
        prop_assert!((r.ror - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ebgm_between_its_bounds(n in 1u64..200, e in 0.001f64..100.0) {
        let prior = GammaMixture { a1: 3.25379064, b1: 0.39988801, a2: 2.02613219, b2: 1.90808279, p: 0.06534557 };
        let r = ebgm(&prior, n, e).unwrap();
        prop_assert!(r.eb05 <= r.ebgm && r.ebgm <= r.eb95, "{r:?}");
        prop_assert!((0.0..=1.0).contains(&r.qn));
    }

    #[test]
    fn ks_symmetric_and_bounded(a in prop::collection::vec(-5i32..5, 1..60), b in prop::collection::vec(-5i32..5, 1..60)) {
        let a: Vec<f64> = a.into_iter().map(f64::from).collect();
        let b: Vec<f64> = b.into_iter().map(f64::from).collect();
        let x = ks_2samp(&a, &b).unwrap();
        let y = ks_2samp(&b, &a).unwrap();
        prop_assert!((x.statistic - y.statistic).abs() < 1e-15);
        prop_assert!((x.p_value - y.p_value).abs() < 1e-12);
        prop_assert!((0.0..=1.0).contains(&x.p_value) && (0.0..=1.0).contains(&x.statistic));
        let same = ks_2samp(&a, &a).unwrap();
        prop_assert!(same.statistic == 0.0 && same.p_value == 1.0);
    }

    #[test]
    fn wasserstein_shift_and_symmetry(a in prop::collection::vec(-100.0f64..100.0, 1..50), shift in -10.0f64..10.0) {
        let b: Vec<f64> = a.iter().map(|v| v + shift).collect();
        prop_assert!((wasserstein(&a, &b).unwrap() - shift.abs()).abs() < 1e-9);
        let c: Vec<f64> = a.iter().rev().map(|v| v * 0.5).collect();
        prop_assert!((wasserstein(&a, &c).unwrap() - wasserstein(&c, &a).unwrap()).abs() < 1e-12);
    }

    #[test]
    fn psi_and_js_bounds(r in prop::collection::vec(0u64..50, 2..12), c0 in prop::collection::vec(0u64..50, 12)) {
        let c: Vec<u64> = c0[..r.len()].to_vec();
        prop_assume!(r.iter().sum::<u64>() > 0 && c.iter().sum::<u64>() > 0);
        prop_assert!(psi_from_counts(&r, &c).unwrap() >= -1e-12);
        let js = js_distance_from_counts(&r, &c).unwrap();
        prop_assert!((0.0..=1.0 + 1e-12).contains(&js));
        prop_assert!(js_distance_from_counts(&r, &r).unwrap() < 1e-7);
    }

    #[test]
    fn bootstrap_is_reproducible((y, s) in labelled_scores(), seed in any::<u64>()) {
        let f = |l: &[bool], x: &[f64]| auroc(l, x);
        let a = bootstrap_ci(&y, &s, f, 50, 0.9, seed).unwrap();
        let b = bootstrap_ci(&y, &s, f, 50, 0.9, seed).unwrap();
        prop_assert_eq!(a, b);
        prop_assert!(a.lower <= a.upper);
    }

    #[test]
    fn cusum_is_nonnegative(x in prop::collection::vec(0.0f64..20.0, 1..100), k in 0.0f64..10.0) {
        let r = poisson_cusum(&x, k, 5.0, false).unwrap();
        prop_assert!(r.statistic.iter().all(|&s| s >= 0.0));
    }
}

proptest! {
    // Each case builds a 40,000-report table; a few seeds suffice.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn simulated_independent_reports_give_prr_near_one(seed in any::<u64>()) {
        // 40,000 reports; product and event drawn independently. PRR must be within 5
        // standard errors of 1 (a false failure has probability below 1e-6 per case).
        let mut rng = SeededRng::new(seed);
        let mut b = ReportTableBuilder::new();
        for r in 0..40_000u32 {
            let p = if rng.next_f64() < 0.1 { "P" } else { "Q" };
            let e = if rng.next_f64() < 0.05 { "E" } else { "F" };
            b.add(&r.to_string(), p, e).unwrap();
        }
        let t = b.build(CountingUnit::UniqueReports).unwrap();
        let cell = t.cells.iter().find(|c| t.products[c.product as usize] == "P" && t.events[c.event as usize] == "E").unwrap();
        let p = prr(&t.two_by_two(cell), 0.95, ZeroCellRule::HaldaneAnscombe, Chi2Form::Yates).unwrap();
        prop_assert!(p.prr.ln().abs() < 5.0 * p.se_ln, "PRR {} se {}", p.prr, p.se_ln);
    }

}

#[test]
fn degenerate_inputs_are_errors_not_nan() {
    assert!(auroc(&[true, true], &[0.1, 0.2]).is_err());
    assert!(auroc(&[true, false], &[0.1, f64::NAN]).is_err());
    assert!(auroc_delong(&[true, false, false], &[0.3, 0.1, 0.2], 0.95).is_err());
    assert!(brier(&[true], &[1.5]).is_err());
    assert!(calibration_fit(&[true, false], &[0.0, 0.5]).is_err());
    assert!(ece(&[true], &[0.5], BinRule::EqualWidth(0)).is_err());
    assert!(ks_2samp(&[], &[1.0]).is_err());
    assert!(fit_prior(&[1, 2], &[0.1, 0.2], &MgpsOptions::default()).is_err());
    let c = confusion(&[true, true], &[0.9, 0.8], 0.5).unwrap();
    let m = threshold_metrics(&c, 0.95, IntervalMethod::Wilson).unwrap();
    // No negatives: specificity and NPV are undefined, reported as None.
    assert!(m.specificity.is_none() && m.npv.is_none() && m.sensitivity.is_some());
    let identical = delong_paired(
        &[true, false, true, false],
        &[0.9, 0.1, 0.8, 0.3],
        &[0.9, 0.1, 0.8, 0.3],
    );
    assert!(identical.is_err());
}
