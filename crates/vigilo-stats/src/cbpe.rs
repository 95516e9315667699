//! Confidence-based performance estimation (CBPE) from aggregates: the expected confusion
//! matrix of a deployed tool when the true outcomes are not (yet) known.
//!
//! Deployed sites report only a histogram of the tool's output scores per period, not patient
//! rows. If the sandbox measured, on held-out data, the probability that a case in each score
//! bin is truly positive (the *calibration map*), then the expected number of true positives
//! in a period is `sum over positive-output bins of count_b * p_b`, and so on for the other
//! cells. This is what NannyML's CBPE does row by row with calibrated probabilities; on bins
//! it is the same sum grouped by bin.
//!
//! Conventions and limits:
//! - The estimate assumes the calibration map still holds at the site (no concept shift:
//!   `P(y = 1 | score bin)` unchanged since the sandbox). It reacts to covariate shift (the
//!   histogram moving) but cannot see a change in the score-outcome relation; that is what
//!   [`compare_with_verified`] on a verified sample is for.
//! - Ratios are ratios of expected counts (`E[TP] / (E[TP] + E[FN])`), as NannyML reports
//!   them, not expectations of ratios. A zero denominator gives `None`, never NaN.
//! - The decision threshold is a bin index: bins `threshold_bin..k` are positive output, so
//!   the threshold score is `edges[threshold_bin]` and must be a declared edge.
//!   `threshold_bin = 0` calls every case positive, `threshold_bin = k` none.
//! - The histogram and the map must use the same declared edges (compared exactly): a map
//!   measured on other bins does not apply.

use crate::error::{check_len, check_level, check_probabilities, invalid, Result, StatsError};
use crate::eval::{proportion, IntervalMethod, Proportion};
use serde::Serialize;

/// Counts of output scores per bin over one monitoring period at one site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreHistogram {
    /// `k + 1` strictly increasing finite edges of `k` bins.
    pub edges: Vec<f64>,
    /// `k` counts, one per bin.
    pub counts: Vec<u64>,
}

/// For each score bin, the probability that a case in it is truly positive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationMap {
    /// `k + 1` strictly increasing finite edges of `k` bins.
    pub edges: Vec<f64>,
    /// `k` probabilities in [0, 1].
    pub positive_rate: Vec<f64>,
    /// `true` for a bin whose rate was not observed but filled by the empty-bin rule of
    /// [`calibration_map_from_bins`]; all `false` for a map given directly.
    pub imputed: Vec<bool>,
}

/// Expected confusion matrix and metrics for one period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PerformanceEstimate {
    /// Expected true positives: positive-output bins, `sum count_b * p_b`.
    pub tp: f64,
    /// Expected false positives: positive-output bins, `sum count_b * (1 - p_b)`.
    pub fp: f64,
    /// Expected false negatives: negative-output bins, `sum count_b * p_b`.
    pub fn_: f64,
    /// Expected true negatives: negative-output bins, `sum count_b * (1 - p_b)`.
    pub tn: f64,
    /// `tp / (tp + fn)`; `None` when no positive case is expected.
    pub sensitivity: Option<f64>,
    /// `tn / (tn + fp)`; `None` when no negative case is expected.
    pub specificity: Option<f64>,
    /// `tp / (tp + fp)`; `None` when no case is called positive.
    pub ppv: Option<f64>,
    /// `tn / (tn + fn)`; `None` when no case is called negative.
    pub npv: Option<f64>,
    /// Expected prevalence `(tp + fn) / n_cases`.
    pub prevalence: f64,
    /// Number of cases in the histogram.
    pub n_cases: u64,
    /// First bin counted as positive output.
    pub threshold_bin: usize,
}

fn check_edges(what: &'static str, edges: &[f64]) -> Result<()> {
    if edges.len() < 2 {
        return Err(invalid(
            what,
            format!("needs at least 2 edges (one bin), got {}", edges.len()),
        ));
    }
    crate::error::check_finite(what, edges)?;
    for (i, w) in edges.windows(2).enumerate() {
        if !(w[1] > w[0]) {
            return Err(StatsError::OutOfRange {
                what,
                index: i + 1,
                value: w[1],
            });
        }
    }
    Ok(())
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    if den > 0.0 {
        Some(num / den)
    } else {
        None
    }
}

/// Expected confusion matrix and metrics of a period from its score histogram, the
/// sandbox calibration map, and the decision threshold as the index of the first bin
/// counted as positive output (see the module documentation for the conventions).
///
/// Errors: edges that are not `k + 1` strictly increasing finite values, or that differ
/// between histogram and map; counts, rates or imputed flags not of length `k`
/// ([`StatsError::LengthMismatch`]); a rate outside [0, 1] or NaN; `threshold_bin > k`;
/// a histogram with no cases ([`StatsError::Empty`]).
pub fn estimate_performance(
    histogram: &ScoreHistogram,
    map: &CalibrationMap,
    threshold_bin: usize,
) -> Result<PerformanceEstimate> {
    check_edges("histogram edges", &histogram.edges)?;
    check_edges("calibration map edges", &map.edges)?;
    let k = histogram.edges.len() - 1;
    check_len("histogram counts vs bins", histogram.counts.len(), k)?;
    check_len("calibration map vs histogram edges", map.edges.len(), k + 1)?;
    if map.edges != histogram.edges {
        return Err(StatsError::InvalidInput(
            "the histogram and the calibration map use different bin edges".into(),
        ));
    }
    check_len("calibration rates vs bins", map.positive_rate.len(), k)?;
    check_len("calibration imputed flags vs bins", map.imputed.len(), k)?;
    check_probabilities("calibration map", &map.positive_rate)?;
    if threshold_bin > k {
        return Err(invalid(
            "threshold_bin",
            format!("must be in 0..={k} for {k} bins, got {threshold_bin}"),
        ));
    }
    let n_cases: u64 = histogram.counts.iter().sum();
    if n_cases == 0 {
        return Err(StatsError::Empty("score histogram has no cases"));
    }
    let (mut tp, mut fp, mut fn_, mut tn) = (0.0, 0.0, 0.0, 0.0);
    for (b, (&count, &p)) in histogram.counts.iter().zip(&map.positive_rate).enumerate() {
        let n = count as f64;
        let (pos, neg) = (n * p, n * (1.0 - p));
        if b >= threshold_bin {
            tp += pos;
            fp += neg;
        } else {
            fn_ += pos;
            tn += neg;
        }
    }
    Ok(PerformanceEstimate {
        tp,
        fp,
        fn_,
        tn,
        sensitivity: ratio(tp, tp + fn_),
        specificity: ratio(tn, tn + fp),
        ppv: ratio(tp, tp + fp),
        npv: ratio(tn, tn + fn_),
        prevalence: (tp + fn_) / n_cases as f64,
        n_cases,
        threshold_bin,
    })
}

/// Builds a calibration map from the sandbox's calibration bins: per bin, the number of
/// truly positive cases and the total number of held-out cases whose score fell in it.
///
/// A bin with cases gets its observed rate `positives / total`. **Empty-bin rule:** a bin
/// without held-out cases gets the pooled rate of its nearest non-empty neighbour on each
/// side, `(x_below + x_above) / (n_below + n_above)` (one side only at either end), and is
/// flagged in [`CalibrationMap::imputed`] so reports can show it. Pooling neighbours uses
/// data rather than trusting the score itself (a midpoint rule would assume the model is
/// calibrated, which is what the map is meant to measure). The rate of a sparse bin is
/// noisy; the map does not smooth it.
///
/// Errors: edges not `k + 1` strictly increasing finite values; `positives` or `totals` not
/// of length `k`; positives above the total in a bin; no held-out case at all
/// ([`StatsError::Empty`]).
pub fn calibration_map_from_bins(
    edges: &[f64],
    positives: &[u64],
    totals: &[u64],
) -> Result<CalibrationMap> {
    check_edges("calibration edges", edges)?;
    let k = edges.len() - 1;
    check_len("calibration positives vs bins", positives.len(), k)?;
    check_len("calibration totals vs bins", totals.len(), k)?;
    for (index, (&x, &n)) in positives.iter().zip(totals).enumerate() {
        if x > n {
            return Err(StatsError::OutOfRange {
                what: "calibration positives (above the bin total)",
                index,
                value: x as f64,
            });
        }
    }
    if totals.iter().all(|&n| n == 0) {
        return Err(StatsError::Empty("calibration bins hold no cases"));
    }
    let mut positive_rate = Vec::with_capacity(k);
    let mut imputed = Vec::with_capacity(k);
    for (b, (&x, &n)) in positives.iter().zip(totals).enumerate() {
        if n > 0 {
            positive_rate.push(x as f64 / n as f64);
            imputed.push(false);
            continue;
        }
        let below = (0..b).rev().find(|&i| totals[i] > 0);
        let above = (b + 1..k).find(|&i| totals[i] > 0);
        let (mut px, mut pn) = (0u64, 0u64);
        for i in below.into_iter().chain(above) {
            px += positives[i];
            pn += totals[i];
        }
        // pn > 0: at least one bin is non-empty, so one side has a neighbour.
        positive_rate.push(px as f64 / pn as f64);
        imputed.push(true);
    }
    Ok(CalibrationMap {
        edges: edges.to_vec(),
        positive_rate,
        imputed,
    })
}

/// Whether a verified proportion agrees with the estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agreement {
    /// The estimate lies inside the verified proportion's interval (bounds included).
    Consistent,
    /// The estimate lies outside the verified proportion's interval: the calibration map
    /// probably no longer holds at this site.
    Disagrees,
    /// No estimate (zero expected denominator) or no verified case in the denominator.
    NotAssessable,
}

/// One metric: the estimate, the verified proportion with its Wilson interval, the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MetricComparison {
    pub estimated: Option<f64>,
    /// Verified `x / n` with its Wilson interval at the comparison's level; `None` when the
    /// verified denominator is 0.
    pub verified: Option<Proportion>,
    pub agreement: Agreement,
}

/// Estimated against verified sensitivity and specificity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    pub sensitivity: MetricComparison,
    pub specificity: MetricComparison,
    pub level: f64,
    /// `true` when either metric disagrees.
    pub any_disagreement: bool,
}

fn compare_one(estimated: Option<f64>, x: u64, n: u64, level: f64) -> Result<MetricComparison> {
    let verified = if n == 0 {
        None
    } else {
        Some(proportion(x, n, level, IntervalMethod::Wilson)?)
    };
    let agreement = match (estimated, verified) {
        (Some(e), Some(v)) if e < v.lower || e > v.upper => Agreement::Disagrees,
        (Some(_), Some(_)) => Agreement::Consistent,
        _ => Agreement::NotAssessable,
    };
    Ok(MetricComparison {
        estimated,
        verified,
        agreement,
    })
}

/// Compares an estimate with the confusion matrix of cases whose outcome was verified
/// (e.g. by chart review at the site): a metric disagrees when its estimate lies outside
/// the verified proportion's Wilson interval at `level` (statistics.md convention 6, via
/// [`crate::eval::proportion`]). The intervals are in the output so a reviewer sees the
/// evidence, not only the flag.
///
/// The rule treats the estimate as fixed and accounts only for the sampling error of the
/// verified cases; the calibration map's own uncertainty is ignored, so with a small
/// sandbox the flag is somewhat too eager. If verification is not a random sample of the
/// period's cases (e.g. only positive outputs get reviewed), the verified sensitivity and
/// specificity are biased and so is the comparison.
///
/// Errors: `level` outside (0, 1).
pub fn compare_with_verified(
    estimate: &PerformanceEstimate,
    verified_tp: u64,
    verified_fp: u64,
    verified_fn: u64,
    verified_tn: u64,
    level: f64,
) -> Result<Comparison> {
    check_level(level)?;
    let sensitivity = compare_one(
        estimate.sensitivity,
        verified_tp,
        verified_tp.saturating_add(verified_fn),
        level,
    )?;
    let specificity = compare_one(
        estimate.specificity,
        verified_tn,
        verified_tn.saturating_add(verified_fp),
        level,
    )?;
    Ok(Comparison {
        any_disagreement: sensitivity.agreement == Agreement::Disagrees
            || specificity.agreement == Agreement::Disagrees,
        sensitivity,
        specificity,
        level,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn edges10() -> Vec<f64> {
        (0..=10).map(|i| i as f64 / 10.0).collect()
    }

    fn map(edges: Vec<f64>, p: Vec<f64>) -> CalibrationMap {
        let k = p.len();
        CalibrationMap {
            edges,
            positive_rate: p,
            imputed: vec![false; k],
        }
    }

    /// Four bins [0, .25, .5, .75, 1], counts 40, 30, 20, 10, rates 0.05, 0.2, 0.6, 0.9,
    /// threshold at bin 2 (score 0.5).
    /// Positive output: TP = 20 * 0.6 + 10 * 0.9 = 21, FP = 8 + 1 = 9.
    /// Negative output: FN = 40 * 0.05 + 30 * 0.2 = 8, TN = 38 + 24 = 62.
    /// Sensitivity 21/29, specificity 62/71, PPV 21/30 = 0.7, NPV 62/70.
    #[test]
    fn hand_computed_four_bins() {
        let e = vec![0.0, 0.25, 0.5, 0.75, 1.0];
        let h = ScoreHistogram {
            edges: e.clone(),
            counts: vec![40, 30, 20, 10],
        };
        let m = map(e, vec![0.05, 0.2, 0.6, 0.9]);
        let r = estimate_performance(&h, &m, 2).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(r.tp, 21.0) && close(r.fp, 9.0) && close(r.fn_, 8.0) && close(r.tn, 62.0));
        assert!(close(r.sensitivity.unwrap(), 21.0 / 29.0));
        assert!(close(r.specificity.unwrap(), 62.0 / 71.0));
        assert!(close(r.ppv.unwrap(), 0.7));
        assert!(close(r.npv.unwrap(), 62.0 / 70.0));
        assert!(close(r.prevalence, 0.29));
        assert_eq!(r.n_cases, 100);

        // Threshold 0: everything positive, so no negative output.
        let r = estimate_performance(&h, &m, 0).unwrap();
        assert!(close(r.sensitivity.unwrap(), 1.0) && close(r.specificity.unwrap(), 0.0));
        assert_eq!(r.npv, None);
        // Threshold k: nothing positive.
        let r = estimate_performance(&h, &m, 4).unwrap();
        assert_eq!(r.ppv, None);
        assert!(close(r.sensitivity.unwrap(), 0.0));
    }

    #[test]
    fn zero_denominators_are_none() {
        let e = vec![0.0, 0.5, 1.0];
        let h = ScoreHistogram {
            edges: e.clone(),
            counts: vec![5, 5],
        };
        // No positive case expected anywhere: sensitivity undefined.
        let r = estimate_performance(&h, &map(e.clone(), vec![0.0, 0.0]), 1).unwrap();
        assert_eq!(r.sensitivity, None);
        assert_eq!(r.specificity, Some(0.5));
        // Everything positive: specificity undefined.
        let r = estimate_performance(&h, &map(e, vec![1.0, 1.0]), 1).unwrap();
        assert_eq!(r.specificity, None);
        assert_eq!(r.ppv, Some(1.0));
    }

    #[test]
    fn degenerate_inputs_are_errors() {
        let e = edges10();
        let p = vec![0.5; 10];
        let h = ScoreHistogram {
            edges: e.clone(),
            counts: vec![1; 10],
        };
        let good = map(e.clone(), p.clone());
        assert!(estimate_performance(&h, &good, 5).is_ok());
        // Mismatched lengths.
        let short = ScoreHistogram {
            edges: e.clone(),
            counts: vec![1; 9],
        };
        assert!(matches!(
            estimate_performance(&short, &good, 5),
            Err(StatsError::LengthMismatch { .. })
        ));
        assert!(matches!(
            estimate_performance(&h, &map(e.clone(), vec![0.5; 11]), 5),
            Err(StatsError::LengthMismatch { .. })
        ));
        let other_edges: Vec<f64> = (0..=10).map(|i| i as f64 / 5.0).collect();
        assert!(matches!(
            estimate_performance(&h, &map(other_edges, p.clone()), 5),
            Err(StatsError::InvalidInput(_))
        ));
        // Threshold out of range.
        assert!(estimate_performance(&h, &good, 10).is_ok());
        assert!(matches!(
            estimate_performance(&h, &good, 11),
            Err(StatsError::InvalidParameter {
                name: "threshold_bin",
                ..
            })
        ));
        // Probabilities outside [0, 1] or NaN.
        let mut bad = p.clone();
        bad[3] = 1.2;
        assert!(matches!(
            estimate_performance(&h, &map(e.clone(), bad.clone()), 5),
            Err(StatsError::OutOfRange { index: 3, .. })
        ));
        bad[3] = -0.1;
        assert!(estimate_performance(&h, &map(e.clone(), bad.clone()), 5).is_err());
        bad[3] = f64::NAN;
        assert!(matches!(
            estimate_performance(&h, &map(e.clone(), bad), 5),
            Err(StatsError::NonFinite { index: 3, .. })
        ));
        // All-zero histogram.
        let empty = ScoreHistogram {
            edges: e.clone(),
            counts: vec![0; 10],
        };
        assert!(matches!(
            estimate_performance(&empty, &good, 5),
            Err(StatsError::Empty(_))
        ));
        // Edges not increasing, or too few.
        let mut e2 = e.clone();
        e2[4] = e2[3];
        let h2 = ScoreHistogram {
            edges: e2.clone(),
            counts: vec![1; 10],
        };
        assert!(estimate_performance(&h2, &map(e2, p.clone()), 5).is_err());
        let h1 = ScoreHistogram {
            edges: vec![0.0],
            counts: vec![],
        };
        assert!(estimate_performance(&h1, &map(vec![0.0], vec![]), 0).is_err());

        // The map builder.
        assert!(matches!(
            calibration_map_from_bins(&e, &[0; 10], &[0; 10]),
            Err(StatsError::Empty(_))
        ));
        assert!(matches!(
            calibration_map_from_bins(&e, &[0; 9], &[1; 10]),
            Err(StatsError::LengthMismatch { .. })
        ));
        let mut pos = [0u64; 10];
        pos[2] = 3;
        let mut tot = [2u64; 10];
        tot[2] = 2;
        assert!(matches!(
            calibration_map_from_bins(&e, &pos, &tot),
            Err(StatsError::OutOfRange { index: 2, .. })
        ));
        // Comparison level.
        let r = estimate_performance(&h, &good, 5).unwrap();
        assert!(compare_with_verified(&r, 1, 1, 1, 1, 1.0).is_err());
    }

    #[test]
    fn empty_calibration_bins_pool_their_neighbours() {
        let e = vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
        // Bin 0 empty (end: only the right neighbour), bins 2 and 3 empty (both get bins 1
        // and 4 pooled), bin 4 observed.
        let m = calibration_map_from_bins(&e, &[0, 1, 0, 0, 6], &[0, 10, 0, 0, 10]).unwrap();
        assert_eq!(m.imputed, vec![true, false, true, true, false]);
        assert_eq!(m.positive_rate[0], 0.1);
        assert_eq!(m.positive_rate[1], 0.1);
        assert!((m.positive_rate[2] - 7.0 / 20.0).abs() < 1e-15);
        assert!((m.positive_rate[3] - 7.0 / 20.0).abs() < 1e-15);
        assert_eq!(m.positive_rate[4], 0.6);
        // Only one non-empty bin: every other bin takes its rate.
        let m = calibration_map_from_bins(&e, &[0, 0, 3, 0, 0], &[0, 0, 4, 0, 0]).unwrap();
        assert!(m.positive_rate.iter().all(|&p| p == 0.75));
    }

    /// Estimate: the four-bin example (sensitivity 21/29 = 0.724, specificity 62/71 = 0.873).
    /// Verified 36/50 positives found (0.72, Wilson 95% [0.583349, 0.825258], statsmodels): consistent.
    /// Verified 30/60 negatives cleared (0.5, Wilson [0.377350, 0.622650]): specificity
    /// disagrees.
    #[test]
    fn comparison_flags_estimates_outside_the_wilson_interval() {
        let e = vec![0.0, 0.25, 0.5, 0.75, 1.0];
        let h = ScoreHistogram {
            edges: e.clone(),
            counts: vec![40, 30, 20, 10],
        };
        let r = estimate_performance(&h, &map(e, vec![0.05, 0.2, 0.6, 0.9]), 2).unwrap();
        let c = compare_with_verified(&r, 36, 30, 14, 30, 0.95).unwrap();
        assert_eq!(c.sensitivity.agreement, Agreement::Consistent);
        let v = c.sensitivity.verified.unwrap();
        assert!(
            (v.lower - 0.583_348_763_040_434_4).abs() < 1e-12
                && (v.upper - 0.825_258_293_340_887_6).abs() < 1e-12
        );
        assert_eq!(c.specificity.agreement, Agreement::Disagrees);
        let v = c.specificity.verified.unwrap();
        assert!(v.upper < r.specificity.unwrap());
        assert!(c.any_disagreement);
        // No verified negatives: specificity cannot be assessed.
        let c = compare_with_verified(&r, 36, 0, 14, 0, 0.95).unwrap();
        assert_eq!(c.specificity.agreement, Agreement::NotAssessable);
        assert_eq!(c.specificity.verified, None);
        assert!(!c.any_disagreement);
    }
}
