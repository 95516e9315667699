//! Property tests (proptest) for the monitoring methods: difference in differences and CBPE.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use vigilo_stats::cbpe::*;
use vigilo_stats::did::*;
use vigilo_stats::rng::SeededRng;

/// A group of 2 to 30 units with pre and post values on a rate-like scale; the changes
/// vary (the first two units differ) so the standard error is positive.
fn group() -> impl Strategy<Value = Vec<UnitChange>> {
    prop::collection::vec((0.0f64..200.0, -50.0f64..50.0), 2..30).prop_map(|v| {
        let mut units: Vec<UnitChange> = v
            .into_iter()
            .map(|(pre, d)| UnitChange::new(pre, pre + d))
            .collect();
        units[0].post = units[0].pre + 1.0;
        units[1].post = units[1].pre - 1.0;
        units
    })
}

fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-9 * scale.max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn shifting_control_post_shifts_estimate_by_minus_the_constant(
        t in group(), c in group(), k in -100.0f64..100.0, level in 0.5f64..0.999
    ) {
        let base = did_units(&t, &c, level).unwrap();
        let shifted: Vec<UnitChange> =
            c.iter().map(|u| UnitChange::new(u.pre, u.post + k)).collect();
        let e = did_units(&t, &shifted, level).unwrap();
        prop_assert!(close(e.estimate, base.estimate - k, 300.0));
        // The spread of the changes is unchanged, so is the interval's width.
        prop_assert!(close(e.se, base.se, 100.0));
        prop_assert!(close(e.upper - e.lower, base.upper - base.lower, 1000.0));
    }

    #[test]
    fn swapping_groups_negates_the_estimate(t in group(), c in group(), level in 0.5f64..0.999) {
        let a = did_units(&t, &c, level).unwrap();
        let b = did_units(&c, &t, level).unwrap();
        prop_assert_eq!(a.estimate, -b.estimate);
        prop_assert!(close(a.se, b.se, 100.0));
        prop_assert!(close(a.df, b.df, 100.0));
        prop_assert!(close(a.lower, -b.upper, 1000.0) && close(a.upper, -b.lower, 1000.0));
        prop_assert!(close(a.p_value, b.p_value, 1.0));
    }

    #[test]
    fn interval_contains_estimate_and_widens_with_level(t in group(), c in group()) {
        let e90 = did_units(&t, &c, 0.90).unwrap();
        let e99 = did_units(&t, &c, 0.99).unwrap();
        for e in [&e90, &e99] {
            prop_assert!(e.lower < e.estimate && e.estimate < e.upper);
            prop_assert!(e.se > 0.0 && e.df > 0.0);
            prop_assert!((0.0..=1.0).contains(&e.p_value));
            let (lo, hi) = (t.len().min(c.len()) as f64 - 1.0, (t.len() + c.len()) as f64 - 2.0);
            // Welch df lies between min(n) - 1 and n_T + n_C - 2.
            prop_assert!(e.df >= lo - 1e-9 && e.df <= hi + 1e-9);
        }
        prop_assert!(e99.lower < e90.lower && e90.upper < e99.upper);
    }

    #[test]
    fn staggered_aggregate_is_a_weighted_mean_of_cohorts(
        groups in prop::collection::vec((group(), group()), 1..5)
    ) {
        let cohorts: Vec<Cohort> = groups
            .into_iter()
            .enumerate()
            .map(|(i, (treated, control))| Cohort { label: format!("c{i}"), treated, control })
            .collect();
        let s = did_staggered(&cohorts, 0.95).unwrap();
        let wsum: f64 = s.cohorts.iter().map(|c| c.weight).sum();
        prop_assert!((wsum - 1.0).abs() < 1e-12);
        let lo = s.cohorts.iter().map(|c| c.estimate.estimate).fold(f64::INFINITY, f64::min);
        let hi = s.cohorts.iter().map(|c| c.estimate.estimate).fold(f64::NEG_INFINITY, f64::max);
        prop_assert!(s.estimate >= lo - 1e-9 && s.estimate <= hi + 1e-9);
        prop_assert!(s.lower < s.estimate && s.estimate < s.upper);
    }

    /// With a perfectly calibrated map, the expected confusion is what the realised labels
    /// give, up to sampling noise: draw each case's bin, then its label from Bernoulli(p_bin),
    /// and compare each expected cell with the realised count. Given the histogram, a cell's
    /// realised count has variance sum n_b p_b (1 - p_b) over its bins; allow 5 of those SDs.
    #[test]
    fn calibrated_map_reproduces_the_true_confusion_in_expectation(
        seed in any::<u64>(),
        rates in prop::collection::vec(0.0f64..=1.0, 2..12),
        n in 200u64..3000,
        thr_frac in 0.0f64..=1.0,
    ) {
        let k = rates.len();
        let edges: Vec<f64> = (0..=k).map(|i| i as f64 / k as f64).collect();
        let thr = ((k as f64) * thr_frac).round() as usize;
        let mut rng = SeededRng::new(seed);
        let mut counts = vec![0u64; k];
        let (mut tp, mut fp, mut fn_, mut tn) = (0u64, 0u64, 0u64, 0u64);
        for _ in 0..n {
            // Skewed bin choice: the minimum of two uniform draws favours low scores.
            let b = (rng.below(k as u64)).min(rng.below(k as u64)) as usize;
            counts[b] += 1;
            let y = rng.next_f64() < rates[b];
            match (b >= thr, y) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => tn += 1,
            }
        }
        let var_pos: f64 = (thr..k).map(|b| counts[b] as f64 * rates[b] * (1.0 - rates[b])).sum();
        let var_neg: f64 = (0..thr).map(|b| counts[b] as f64 * rates[b] * (1.0 - rates[b])).sum();
        let hist = ScoreHistogram { edges: edges.clone(), counts };
        let map = CalibrationMap { edges, positive_rate: rates, imputed: vec![false; k] };
        let e = estimate_performance(&hist, &map, thr).unwrap();
        prop_assert_eq!(e.n_cases, n);
        prop_assert!((e.tp + e.fp + e.fn_ + e.tn - n as f64).abs() < 1e-9 * n as f64);
        let tol_pos = 5.0 * var_pos.sqrt() + 1e-9;
        let tol_neg = 5.0 * var_neg.sqrt() + 1e-9;
        prop_assert!((e.tp - tp as f64).abs() <= tol_pos, "tp {} vs {}", e.tp, tp);
        prop_assert!((e.fp - fp as f64).abs() <= tol_pos, "fp {} vs {}", e.fp, fp);
        prop_assert!((e.fn_ - fn_ as f64).abs() <= tol_neg, "fn {} vs {}", e.fn_, fn_);
        prop_assert!((e.tn - tn as f64).abs() <= tol_neg, "tn {} vs {}", e.tn, tn);
        // Positive-output totals are not random given the histogram.
        prop_assert!((e.tp + e.fp - (tp + fp) as f64).abs() < 1e-9 * n as f64);
    }

    /// The same, pooled over many periods: the mean realised true-positive count converges
    /// on the expected one (a tighter check than any single period).
    #[test]
    fn calibrated_map_is_unbiased_over_repeated_periods(seed in any::<u64>()) {
        let rates = [0.02, 0.1, 0.3, 0.55, 0.8, 0.97];
        let k = rates.len();
        let edges: Vec<f64> = (0..=k).map(|i| i as f64 / k as f64).collect();
        let counts = vec![300u64, 250, 150, 100, 60, 40];
        let hist = ScoreHistogram { edges: edges.clone(), counts: counts.clone() };
        let map = CalibrationMap { edges, positive_rate: rates.to_vec(), imputed: vec![false; k] };
        let e = estimate_performance(&hist, &map, 3).unwrap();
        let mut rng = SeededRng::new(seed);
        let periods = 200;
        let mut sum_tp = 0u64;
        for _ in 0..periods {
            for b in 3..k {
                for _ in 0..counts[b] {
                    sum_tp += u64::from(rng.next_f64() < rates[b]);
                }
            }
        }
        let var: f64 = (3..k).map(|b| counts[b] as f64 * rates[b] * (1.0 - rates[b])).sum();
        let mean = sum_tp as f64 / periods as f64;
        prop_assert!((mean - e.tp).abs() <= 5.0 * (var / periods as f64).sqrt(),
            "mean {mean} vs expected {}", e.tp);
    }

    #[test]
    fn comparison_is_consistent_when_the_estimate_equals_the_verified_rate(
        tp in 1u64..500, fn_ in 0u64..500, tn in 1u64..500, fp in 0u64..500
    ) {
        let edges = vec![0.0, 0.5, 1.0];
        let hist = ScoreHistogram { edges: edges.clone(), counts: vec![tn + fn_, tp + fp] };
        // A map under which the expected cells are exactly the verified ones.
        let map = CalibrationMap {
            edges,
            positive_rate: vec![
                fn_ as f64 / (tn + fn_) as f64,
                tp as f64 / (tp + fp) as f64,
            ],
            imputed: vec![false; 2],
        };
        let e = estimate_performance(&hist, &map, 1).unwrap();
        let c = compare_with_verified(&e, tp, fp, fn_, tn, 0.95).unwrap();
        prop_assert_eq!(c.sensitivity.agreement, Agreement::Consistent);
        prop_assert_eq!(c.specificity.agreement, Agreement::Consistent);
        prop_assert!(!c.any_disagreement);
    }
}
