//! Evaluation of a binary classifier: confusion matrix and proportions with intervals,
//! AUROC with DeLong variance (fast midrank algorithm of Sun and Xu 2014), the paired DeLong
//! test, ROC points, Brier score, expected calibration error, logistic recalibration by IRLS,
//! subgroup metrics and fairness gaps, and a seeded stratified bootstrap.
//!
//! Conventions (statistics.md): a case is predicted positive when `score >= threshold`;
//! higher scores mean "more likely positive"; AUROC ties count one half; the DeLong interval
//! is `AUC +- z sqrt(Var)` clipped to [0, 1] (as pROC); proportions use the Wilson score
//! interval by default (R `prop.test(correct = FALSE)`), Clopper-Pearson on request (R
//! `binom.test`); ECE uses 10 equal-width right-closed bins unless asked otherwise.

use crate::error::{check_finite, check_len, check_level, check_probabilities, invalid};
use crate::error::{Result, StatsError};
use crate::rng::SeededRng;
use crate::special::{beta_quantile, normal_sf, quantile_sorted, z_for_level};
use serde::Serialize;
use std::collections::BTreeMap;

/// Confidence interval method for a binomial proportion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum IntervalMethod {
    /// Wilson score interval without continuity correction.
    #[default]
    Wilson,
    /// Exact Clopper-Pearson interval.
    ClopperPearson,
}

/// A proportion x/n with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Proportion {
    pub x: u64,
    pub n: u64,
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    pub level: f64,
    pub method: IntervalMethod,
}

/// Proportion `x / n` with a two-sided interval at `level` (e.g. 0.95).
/// Errors when `n == 0` (undefined) or `x > n`.
pub fn proportion(x: u64, n: u64, level: f64, method: IntervalMethod) -> Result<Proportion> {
    check_level(level)?;
    if n == 0 {
        return Err(StatsError::Undefined(
            "proportion with zero denominator".into(),
        ));
    }
    if x > n {
        return Err(invalid("x", format!("successes {x} exceed trials {n}")));
    }
    let (xf, nf) = (x as f64, n as f64);
    let p = xf / nf;
    let (lower, upper) = match method {
        IntervalMethod::Wilson => {
            let z = z_for_level(level)?;
            let z2 = z * z;
            let centre = (xf + z2 / 2.0) / (nf + z2);
            let half = z / (nf + z2) * (xf * (nf - xf) / nf + z2 / 4.0).sqrt();
            // At x = 0 and x = n the bounds are exactly 0 and 1; avoid rounding residue.
            let lo = if x == 0 {
                0.0
            } else {
                (centre - half).max(0.0)
            };
            let hi = if x == n {
                1.0
            } else {
                (centre + half).min(1.0)
            };
            (lo, hi)
        }
        IntervalMethod::ClopperPearson => {
            let alpha = 1.0 - level;
            let lo = if x == 0 {
                0.0
            } else {
                beta_quantile(alpha / 2.0, xf, nf - xf + 1.0)?
            };
            let hi = if x == n {
                1.0
            } else {
                beta_quantile(1.0 - alpha / 2.0, xf + 1.0, nf - xf)?
            };
            (lo, hi)
        }
    };
    Ok(Proportion {
        x,
        n,
        estimate: p,
        lower,
        upper,
        level,
        method,
    })
}

/// Counts of a 2x2 confusion matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl Confusion {
    /// Total number of cases.
    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }
}

fn check_labels_scores(labels: &[bool], scores: &[f64]) -> Result<()> {
    check_len("labels and scores", labels.len(), scores.len())?;
    if labels.is_empty() {
        return Err(StatsError::Empty("labels"));
    }
    check_finite("scores", scores)
}

/// Confusion matrix with the rule "predicted positive iff score >= threshold".
pub fn confusion(labels: &[bool], scores: &[f64], threshold: f64) -> Result<Confusion> {
    check_labels_scores(labels, scores)?;
    if !threshold.is_finite() {
        return Err(invalid("threshold", "must be finite"));
    }
    let mut c = Confusion::default();
    for (&y, &s) in labels.iter().zip(scores) {
        match (y, s >= threshold) {
            (true, true) => c.tp += 1,
            (true, false) => c.fn_ += 1,
            (false, true) => c.fp += 1,
            (false, false) => c.tn += 1,
        }
    }
    Ok(c)
}

/// Threshold metrics. A metric whose denominator is zero is `None` (undefined), never NaN.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdMetrics {
    pub confusion: Confusion,
    pub sensitivity: Option<Proportion>,
    pub specificity: Option<Proportion>,
    pub ppv: Option<Proportion>,
    pub npv: Option<Proportion>,
    pub accuracy: Option<Proportion>,
    /// Fraction predicted positive (fairlearn's selection rate).
    pub selection_rate: Option<Proportion>,
}

fn prop_opt(x: u64, n: u64, level: f64, method: IntervalMethod) -> Result<Option<Proportion>> {
    if n == 0 {
        Ok(None)
    } else {
        proportion(x, n, level, method).map(Some)
    }
}

/// Sensitivity, specificity, PPV, NPV, accuracy and selection rate from a confusion matrix.
pub fn threshold_metrics(
    c: &Confusion,
    level: f64,
    method: IntervalMethod,
) -> Result<ThresholdMetrics> {
    check_level(level)?;
    Ok(ThresholdMetrics {
        confusion: *c,
        sensitivity: prop_opt(c.tp, c.tp + c.fn_, level, method)?,
        specificity: prop_opt(c.tn, c.tn + c.fp, level, method)?,
        ppv: prop_opt(c.tp, c.tp + c.fp, level, method)?,
        npv: prop_opt(c.tn, c.tn + c.fn_, level, method)?,
        accuracy: prop_opt(c.tp + c.tn, c.total(), level, method)?,
        selection_rate: prop_opt(c.tp + c.fp, c.total(), level, method)?,
    })
}

/// Midrank structure of one score vector: for each case, its midrank among all cases
/// (`tz`) and among the cases of its own class (`tc`). One sort gives both, because the
/// positives (negatives) appear in sorted order within the sorted combined sequence.
struct Midranks {
    auc: f64,
    /// Structural components V10 for positives (in input order of positives).
    v10: Vec<f64>,
    /// Structural components V01 for negatives (in input order of negatives).
    v01: Vec<f64>,
}

fn midranks(labels: &[bool], scores: &[f64]) -> Result<Midranks> {
    check_labels_scores(labels, scores)?;
    let n_total = labels.len();
    let m = labels.iter().filter(|&&y| y).count();
    let n = n_total - m;
    if m == 0 || n == 0 {
        return Err(StatsError::Undefined(format!(
            "AUROC needs both classes ({m} positive, {n} negative cases)"
        )));
    }
    if n_total > u32::MAX as usize {
        return Err(invalid("labels", "more than 2^32 cases"));
    }
    // Rank within class: index into positives / negatives in input order.
    let mut class_index = vec![0u32; n_total];
    let (mut ip, mut ineg) = (0u32, 0u32);
    for (i, &y) in labels.iter().enumerate() {
        if y {
            class_index[i] = ip;
            ip += 1;
        } else {
            class_index[i] = ineg;
            ineg += 1;
        }
    }
    let mut order: Vec<(f64, u32)> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| (s, i as u32))
        .collect();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mf = m as f64;
    let nf = n as f64;
    let mut v10 = vec![0.0; m];
    let mut v01 = vec![0.0; n];
    let mut sum_pos_rank = 0.0;
    let (mut seen_all, mut seen_pos, mut seen_neg) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < n_total {
        let mut j = i;
        let (mut tp, mut tn) = (0usize, 0usize);
        // -0.0 and 0.0 must tie: compare by value, not total order.
        while j < n_total && order[j].0 == order[i].0 {
            if labels[order[j].1 as usize] {
                tp += 1;
            } else {
                tn += 1;
            }
            j += 1;
        }
        let t = j - i;
        let tz = seen_all as f64 + (t as f64 + 1.0) / 2.0;
        let tx = seen_pos as f64 + (tp as f64 + 1.0) / 2.0;
        let ty = seen_neg as f64 + (tn as f64 + 1.0) / 2.0;
        // V10 = (TZ - TX)/n = fraction of negatives below (ties half);
        // V01 = 1 - (TZ - TY)/m = fraction of positives above (ties half).
        let a10 = (tz - tx) / nf;
        let a01 = 1.0 - (tz - ty) / mf;
        for &(_, idx) in &order[i..j] {
            let idx = idx as usize;
            if labels[idx] {
                v10[class_index[idx] as usize] = a10;
            } else {
                v01[class_index[idx] as usize] = a01;
            }
        }
        sum_pos_rank += tz * tp as f64;
        seen_all += t;
        seen_pos += tp;
        seen_neg += tn;
        i = j;
    }
    let auc = (sum_pos_rank - mf * (mf + 1.0) / 2.0) / (mf * nf);
    Ok(Midranks { auc, v10, v01 })
}

/// AUROC alone (Mann-Whitney form, ties one half). Needs at least one case of each class.
pub fn auroc(labels: &[bool], scores: &[f64]) -> Result<f64> {
    Ok(midranks(labels, scores)?.auc)
}

/// AUROC with DeLong variance and interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AucEstimate {
    pub auc: f64,
    pub variance: f64,
    pub se: f64,
    pub lower: f64,
    pub upper: f64,
    pub level: f64,
    pub n_positive: usize,
    pub n_negative: usize,
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn cov(xs: &[f64], ys: &[f64]) -> f64 {
    let (mx, my) = (mean(xs), mean(ys));
    xs.iter()
        .zip(ys)
        .map(|(x, y)| (x - mx) * (y - my))
        .sum::<f64>()
        / (xs.len() as f64 - 1.0)
}

/// AUROC with the DeLong variance (fast algorithm, O(n log n)) and the interval
/// `AUC +- z sqrt(Var)` clipped to [0, 1]. Needs at least two cases of each class.
pub fn auroc_delong(labels: &[bool], scores: &[f64], level: f64) -> Result<AucEstimate> {
    check_level(level)?;
    let mr = midranks(labels, scores)?;
    let (m, n) = (mr.v10.len(), mr.v01.len());
    if m < 2 || n < 2 {
        return Err(StatsError::Undefined(format!(
            "DeLong variance needs at least 2 cases of each class ({m} positive, {n} negative)"
        )));
    }
    let variance = cov(&mr.v10, &mr.v10) / m as f64 + cov(&mr.v01, &mr.v01) / n as f64;
    let se = variance.max(0.0).sqrt();
    let z = z_for_level(level)?;
    Ok(AucEstimate {
        auc: mr.auc,
        variance,
        se,
        lower: (mr.auc - z * se).max(0.0),
        upper: (mr.auc + z * se).min(1.0),
        level,
        n_positive: m,
        n_negative: n,
    })
}

/// Result of the paired DeLong test of two AUROCs on the same cases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DelongTest {
    pub auc_a: f64,
    pub auc_b: f64,
    pub difference: f64,
    /// Var(A - B) = VarA + VarB - 2 CovAB.
    pub variance: f64,
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// Paired DeLong test: `z = (A - B) / sqrt(VarA + VarB - 2 CovAB)`.
/// Errors when the variance of the difference is zero (e.g. identical scores).
pub fn delong_paired(labels: &[bool], scores_a: &[f64], scores_b: &[f64]) -> Result<DelongTest> {
    check_len("scores_a and scores_b", scores_a.len(), scores_b.len())?;
    let a = midranks(labels, scores_a)?;
    let b = midranks(labels, scores_b)?;
    let (m, n) = (a.v10.len(), a.v01.len());
    if m < 2 || n < 2 {
        return Err(StatsError::Undefined(
            "paired DeLong test needs at least 2 cases of each class".into(),
        ));
    }
    let s10 = cov(&a.v10, &a.v10) + cov(&b.v10, &b.v10) - 2.0 * cov(&a.v10, &b.v10);
    let s01 = cov(&a.v01, &a.v01) + cov(&b.v01, &b.v01) - 2.0 * cov(&a.v01, &b.v01);
    let variance = s10 / m as f64 + s01 / n as f64;
    let difference = a.auc - b.auc;
    // Relative test: rounding can leave a tiny non-zero variance for identical scores.
    if variance <= 1e-15 * (a.auc.abs() + b.auc.abs()).max(1e-300) {
        return Err(StatsError::Undefined(
            "variance of the AUROC difference is zero (scores equivalent in ranking)".into(),
        ));
    }
    let z = difference / variance.sqrt();
    Ok(DelongTest {
        auc_a: a.auc,
        auc_b: b.auc,
        difference,
        variance,
        z,
        p_value: (2.0 * normal_sf(z.abs())).min(1.0),
    })
}

/// One point of the ROC curve: predicting positive when `score >= threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    /// `None` for the starting point (nothing predicted positive).
    pub threshold: Option<f64>,
    pub fpr: f64,
    pub tpr: f64,
}

/// ROC curve points, from (0, 0) through each distinct score in decreasing order to (1, 1).
pub fn roc_points(labels: &[bool], scores: &[f64]) -> Result<Vec<RocPoint>> {
    check_labels_scores(labels, scores)?;
    let m = labels.iter().filter(|&&y| y).count();
    let n = labels.len() - m;
    if m == 0 || n == 0 {
        return Err(StatsError::Undefined("ROC curve needs both classes".into()));
    }
    let mut order: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let mut points = vec![RocPoint {
        threshold: None,
        fpr: 0.0,
        tpr: 0.0,
    }];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < order.len() {
        let s = order[i].0;
        while i < order.len() && order[i].0 == s {
            if order[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        points.push(RocPoint {
            threshold: Some(s),
            fpr: fp as f64 / n as f64,
            tpr: tp as f64 / m as f64,
        });
    }
    Ok(points)
}

/// Brier score: mean of (p - y)^2. Probabilities must be in [0, 1].
pub fn brier(labels: &[bool], probs: &[f64]) -> Result<f64> {
    check_len("labels and probabilities", labels.len(), probs.len())?;
    if labels.is_empty() {
        return Err(StatsError::Empty("labels"));
    }
    check_probabilities("probabilities", probs)?;
    let s: f64 = labels
        .iter()
        .zip(probs)
        .map(|(&y, &p)| {
            let d = p - if y { 1.0 } else { 0.0 };
            d * d
        })
        .sum();
    Ok(s / labels.len() as f64)
}

/// How calibration bins are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "rule", content = "bins")]
pub enum BinRule {
    /// `bins` equal-width bins over [0, 1], right-closed: (k/B, (k+1)/B], with 0 in the first.
    EqualWidth(usize),
    /// `bins` groups of consecutive cases sorted by probability, sizes differing by at most
    /// one (the first `n mod B` groups hold one more case, as numpy `array_split`).
    EqualCount(usize),
}

impl std::fmt::Display for BinRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BinRule::EqualWidth(b) => write!(f, "{b} equal-width right-closed bins on [0, 1]"),
            BinRule::EqualCount(b) => write!(f, "{b} equal-count bins"),
        }
    }
}

/// One calibration bin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibrationBin {
    pub count: usize,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// Expected calibration error with its bins (empty bins are omitted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ece {
    pub ece: f64,
    pub rule: BinRule,
    pub bins: Vec<CalibrationBin>,
}

/// ECE = sum over bins of (n_b / n) |mean(y) - mean(p)|.
pub fn ece(labels: &[bool], probs: &[f64], rule: BinRule) -> Result<Ece> {
    check_len("labels and probabilities", labels.len(), probs.len())?;
    if labels.is_empty() {
        return Err(StatsError::Empty("labels"));
    }
    check_probabilities("probabilities", probs)?;
    let nbins = match rule {
        BinRule::EqualWidth(b) | BinRule::EqualCount(b) => b,
    };
    if nbins == 0 {
        return Err(invalid("bins", "need at least one bin"));
    }
    let mut sums = vec![(0usize, 0.0f64, 0.0f64); nbins];
    match rule {
        BinRule::EqualWidth(b) => {
            let bf = b as f64;
            for (&y, &p) in labels.iter().zip(probs) {
                // Right-closed: smallest k with p <= (k+1)/B; edges as k/B exactly.
                let mut k = ((p * bf).ceil() as usize).saturating_sub(1).min(b - 1);
                while k > 0 && p <= k as f64 / bf {
                    k -= 1;
                }
                while k + 1 < b && p > (k + 1) as f64 / bf {
                    k += 1;
                }
                let s = &mut sums[k];
                s.0 += 1;
                s.1 += p;
                s.2 += if y { 1.0 } else { 0.0 };
            }
        }
        BinRule::EqualCount(b) => {
            let mut order: Vec<(f64, bool)> =
                probs.iter().copied().zip(labels.iter().copied()).collect();
            order.sort_by(|a, b| a.0.total_cmp(&b.0));
            let n = order.len();
            let (base, extra) = (n / b, n % b);
            let mut start = 0;
            for (k, s) in sums.iter_mut().enumerate() {
                let size = base + usize::from(k < extra);
                for &(p, y) in &order[start..start + size] {
                    s.0 += 1;
                    s.1 += p;
                    s.2 += if y { 1.0 } else { 0.0 };
                }
                start += size;
            }
        }
    }
    let n = labels.len() as f64;
    let mut total = 0.0;
    let mut bins = Vec::new();
    for &(c, sp, sy) in &sums {
        if c == 0 {
            continue;
        }
        let cf = c as f64;
        let (mp, my) = (sp / cf, sy / cf);
        total += cf / n * (my - mp).abs();
        bins.push(CalibrationBin {
            count: c,
            mean_predicted: mp,
            observed_rate: my,
        });
    }
    Ok(Ece {
        ece: total,
        rule,
        bins,
    })
}

/// Logistic recalibration: slope from `glm(y ~ logit(p), binomial)` and
/// calibration-in-the-large from `glm(y ~ 1 + offset(logit(p)), binomial)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibrationFit {
    /// Intercept of the two-parameter fit.
    pub intercept: f64,
    /// Slope of the two-parameter fit (1 = perfect spread).
    pub slope: f64,
    /// Intercept with the slope fixed at 1 (0 = perfect calibration in the large).
    pub calibration_in_the_large: f64,
    pub iterations: usize,
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Fits the logistic recalibration by iteratively reweighted least squares (Newton).
/// Errors when a probability is exactly 0 or 1 (infinite logit), when only one class is
/// present, or when the fit does not converge (separation).
pub fn calibration_fit(labels: &[bool], probs: &[f64]) -> Result<CalibrationFit> {
    check_len("labels and probabilities", labels.len(), probs.len())?;
    if labels.len() < 2 {
        return Err(StatsError::Empty("calibration needs at least 2 cases"));
    }
    check_probabilities("probabilities", probs)?;
    if let Some(index) = probs.iter().position(|&p| p <= 0.0 || p >= 1.0) {
        return Err(StatsError::OutOfRange {
            what: "probabilities (logit needs 0 < p < 1)",
            index,
            value: probs[index],
        });
    }
    let pos = labels.iter().filter(|&&y| y).count();
    if pos == 0 || pos == labels.len() {
        return Err(StatsError::Undefined(
            "calibration fit needs both outcomes".into(),
        ));
    }
    let x: Vec<f64> = probs.iter().map(|&p| (p / (1.0 - p)).ln()).collect();
    let y: Vec<f64> = labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect();

    // Two-parameter fit, started at the identity recalibration (0, 1).
    let (mut b0, mut b1) = (0.0_f64, 1.0_f64);
    let mut iterations = 0;
    let mut converged = false;
    for it in 0..100 {
        iterations = it + 1;
        let (mut g0, mut g1, mut h00, mut h01, mut h11) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&xi, &yi) in x.iter().zip(&y) {
            let mu = sigmoid(b0 + b1 * xi);
            let w = mu * (1.0 - mu);
            let r = yi - mu;
            g0 += r;
            g1 += r * xi;
            h00 += w;
            h01 += w * xi;
            h11 += w * xi * xi;
        }
        let det = h00 * h11 - h01 * h01;
        if !(det.abs() > 1e-300) {
            return Err(StatsError::NoConvergence(
                "singular information matrix in calibration fit".into(),
            ));
        }
        let d0 = (h11 * g0 - h01 * g1) / det;
        let d1 = (h00 * g1 - h01 * g0) / det;
        b0 += d0;
        b1 += d1;
        if !(b0.is_finite() && b1.is_finite()) || b0.abs() > 1e6 || b1.abs() > 1e6 {
            return Err(StatsError::NoConvergence(
                "calibration slope diverges (separation)".into(),
            ));
        }
        if d0.abs() < 1e-13 * (1.0 + b0.abs()) && d1.abs() < 1e-13 * (1.0 + b1.abs()) {
            converged = true;
            break;
        }
    }
    if !converged {
        return Err(StatsError::NoConvergence("calibration slope fit".into()));
    }
    // One-parameter fit with offset logit(p).
    let mut c0 = 0.0_f64;
    converged = false;
    for _ in 0..100 {
        let (mut g, mut h) = (0.0, 0.0);
        for (&xi, &yi) in x.iter().zip(&y) {
            let mu = sigmoid(c0 + xi);
            g += yi - mu;
            h += mu * (1.0 - mu);
        }
        if !(h > 0.0) {
            return Err(StatsError::NoConvergence(
                "calibration-in-the-large: zero information".into(),
            ));
        }
        let d = g / h;
        c0 += d;
        if !c0.is_finite() || c0.abs() > 1e6 {
            return Err(StatsError::NoConvergence(
                "calibration-in-the-large diverges".into(),
            ));
        }
        if d.abs() < 1e-13 * (1.0 + c0.abs()) {
            converged = true;
            break;
        }
    }
    if !converged {
        return Err(StatsError::NoConvergence("calibration-in-the-large".into()));
    }
    Ok(CalibrationFit {
        intercept: b0,
        slope: b1,
        calibration_in_the_large: c0,
        iterations,
    })
}

/// Metrics of one subgroup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupMetrics {
    pub group: String,
    pub n: usize,
    pub n_positive: usize,
    pub metrics: ThresholdMetrics,
    /// `None` when the group lacks one of the classes.
    pub auroc: Option<f64>,
}

/// Largest difference of one metric across the groups where it is defined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub metric: &'static str,
    pub max_group: String,
    pub max_value: f64,
    pub min_group: String,
    pub min_value: f64,
    pub difference: f64,
    /// min / max; `None` when the maximum is 0.
    pub ratio: Option<f64>,
}

/// Per-group metrics and fairlearn-style gaps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubgroupReport {
    pub threshold: f64,
    pub groups: Vec<GroupMetrics>,
    /// Gaps for sensitivity, specificity, ppv, npv, accuracy, selection_rate, fpr, auroc,
    /// each over the groups where the metric is defined (omitted if fewer than two).
    pub gaps: Vec<Gap>,
    /// max - min selection rate.
    pub demographic_parity_difference: Option<f64>,
    /// min / max selection rate.
    pub demographic_parity_ratio: Option<f64>,
    /// max of the TPR gap and the FPR gap.
    pub equalized_odds_difference: Option<f64>,
    /// TPR gap.
    pub equal_opportunity_difference: Option<f64>,
    /// The metric with the largest gap (by absolute difference), if any.
    pub largest_gap: Option<Gap>,
}

type GroupValues = Vec<(String, Option<f64>)>;

fn gap_of(metric: &'static str, values: &[(String, Option<f64>)]) -> Option<Gap> {
    let defined: Vec<(&String, f64)> = values
        .iter()
        .filter_map(|(g, v)| v.map(|v| (g, v)))
        .collect();
    if defined.len() < 2 {
        return None;
    }
    let mut max = defined[0];
    let mut min = defined[0];
    for &d in &defined[1..] {
        if d.1 > max.1 {
            max = d;
        }
        if d.1 < min.1 {
            min = d;
        }
    }
    Some(Gap {
        metric,
        max_group: max.0.clone(),
        max_value: max.1,
        min_group: min.0.clone(),
        min_value: min.1,
        difference: max.1 - min.1,
        ratio: if max.1 > 0.0 {
            Some(min.1 / max.1)
        } else {
            None
        },
    })
}

/// Metrics per subgroup at `threshold`, the gap of each metric, and fairlearn's demographic
/// parity difference and ratio, equalised odds difference and equal opportunity difference.
/// Groups are reported in sorted order of their names.
pub fn subgroup_metrics<S: AsRef<str>>(
    labels: &[bool],
    scores: &[f64],
    groups: &[S],
    threshold: f64,
    level: f64,
    method: IntervalMethod,
) -> Result<SubgroupReport> {
    check_labels_scores(labels, scores)?;
    check_len("labels and groups", labels.len(), groups.len())?;
    let mut index: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        index.entry(g.as_ref()).or_default().push(i);
    }
    let mut out = Vec::with_capacity(index.len());
    for (name, idx) in &index {
        let l: Vec<bool> = idx.iter().map(|&i| labels[i]).collect();
        let s: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
        let c = confusion(&l, &s, threshold)?;
        let metrics = threshold_metrics(&c, level, method)?;
        let auroc = match auroc(&l, &s) {
            Ok(a) => Some(a),
            Err(StatsError::Undefined(_)) => None,
            Err(e) => return Err(e),
        };
        out.push(GroupMetrics {
            group: (*name).to_string(),
            n: l.len(),
            n_positive: l.iter().filter(|&&y| y).count(),
            metrics,
            auroc,
        });
    }
    let col = |f: &dyn Fn(&GroupMetrics) -> Option<f64>| -> Vec<(String, Option<f64>)> {
        out.iter().map(|g| (g.group.clone(), f(g))).collect()
    };
    let est = |p: &Option<Proportion>| p.map(|p| p.estimate);
    let tpr = col(&|g| est(&g.metrics.sensitivity));
    let fpr = col(&|g| est(&g.metrics.specificity).map(|s| 1.0 - s));
    let sel = col(&|g| est(&g.metrics.selection_rate));
    let mut gaps = Vec::new();
    let candidates: Vec<(&'static str, GroupValues)> = vec![
        ("sensitivity", tpr.clone()),
        ("specificity", col(&|g| est(&g.metrics.specificity))),
        ("ppv", col(&|g| est(&g.metrics.ppv))),
        ("npv", col(&|g| est(&g.metrics.npv))),
        ("accuracy", col(&|g| est(&g.metrics.accuracy))),
        ("selection_rate", sel.clone()),
        ("fpr", fpr.clone()),
        ("auroc", col(&|g| g.auroc)),
    ];
    for (name, values) in &candidates {
        if let Some(g) = gap_of(name, values) {
            gaps.push(g);
        }
    }
    let sel_gap = gap_of("selection_rate", &sel);
    let tpr_gap = gap_of("sensitivity", &tpr).map(|g| g.difference);
    let fpr_gap = gap_of("fpr", &fpr).map(|g| g.difference);
    let largest_gap = gaps
        .iter()
        .max_by(|a, b| a.difference.total_cmp(&b.difference))
        .cloned();
    Ok(SubgroupReport {
        threshold,
        groups: out,
        demographic_parity_difference: sel_gap.as_ref().map(|g| g.difference),
        demographic_parity_ratio: sel_gap.as_ref().and_then(|g| g.ratio),
        equalized_odds_difference: match (tpr_gap, fpr_gap) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        },
        equal_opportunity_difference: tpr_gap,
        gaps,
        largest_gap,
    })
}

/// Percentile bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BootstrapInterval {
    /// The metric on the full data.
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    pub level: f64,
    pub replicates: usize,
    /// Replicates where the metric was undefined (excluded from the interval).
    pub failed: usize,
    pub seed: u64,
}

/// Seeded stratified bootstrap: each replicate resamples positives from the positives and
/// negatives from the negatives with replacement (class sizes fixed, so AUROC is always
/// defined), evaluates `metric`, and the interval is the (1-level)/2 and 1-(1-level)/2
/// quantiles (R type 7) of the replicates. Replicates whose metric errors are counted in
/// `failed`; if more than half fail, the interval is refused.
pub fn bootstrap_ci<F>(
    labels: &[bool],
    scores: &[f64],
    metric: F,
    replicates: usize,
    level: f64,
    seed: u64,
) -> Result<BootstrapInterval>
where
    F: Fn(&[bool], &[f64]) -> Result<f64>,
{
    check_labels_scores(labels, scores)?;
    check_level(level)?;
    if replicates < 2 {
        return Err(invalid("replicates", "need at least 2"));
    }
    let estimate = metric(labels, scores)?;
    let pos: Vec<usize> = (0..labels.len()).filter(|&i| labels[i]).collect();
    let neg: Vec<usize> = (0..labels.len()).filter(|&i| !labels[i]).collect();
    let mut rng = SeededRng::new(seed);
    let mut values = Vec::with_capacity(replicates);
    let mut failed = 0;
    let mut bl = Vec::with_capacity(labels.len());
    let mut bs = Vec::with_capacity(labels.len());
    for _ in 0..replicates {
        bl.clear();
        bs.clear();
        for class in [&pos, &neg] {
            for _ in 0..class.len() {
                let i = class[rng.below(class.len() as u64) as usize];
                bl.push(labels[i]);
                bs.push(scores[i]);
            }
        }
        match metric(&bl, &bs) {
            Ok(v) if v.is_finite() => values.push(v),
            _ => failed += 1,
        }
    }
    if values.len() * 2 < replicates {
        return Err(StatsError::Undefined(format!(
            "metric undefined in {failed} of {replicates} bootstrap replicates"
        )));
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let alpha = 1.0 - level;
    Ok(BootstrapInterval {
        estimate,
        lower: quantile_sorted(&values, alpha / 2.0),
        upper: quantile_sorted(&values, 1.0 - alpha / 2.0),
        level,
        replicates,
        failed,
        seed,
    })
}

/// Everything `vigilo eval` reports in one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationReport {
    pub n: usize,
    pub n_positive: usize,
    pub threshold: f64,
    pub metrics: ThresholdMetrics,
    pub auroc: Option<AucEstimate>,
    /// Present when all scores are probabilities in [0, 1].
    pub brier: Option<f64>,
    pub ece: Option<Ece>,
    pub calibration: Option<CalibrationFit>,
    /// Why an optional part is missing (e.g. "auroc: needs both classes").
    pub notes: Vec<String>,
}

/// Evaluates scores against labels: threshold metrics, AUROC with DeLong interval, and, when
/// the scores are probabilities, Brier, ECE (with `ece_rule`) and the calibration fit. Parts
/// that are undefined for this input are left out and explained in `notes`.
pub fn evaluate(
    labels: &[bool],
    scores: &[f64],
    threshold: f64,
    level: f64,
    method: IntervalMethod,
    ece_rule: BinRule,
) -> Result<EvaluationReport> {
    let c = confusion(labels, scores, threshold)?;
    let metrics = threshold_metrics(&c, level, method)?;
    let mut notes = Vec::new();
    let auroc = match auroc_delong(labels, scores, level) {
        Ok(a) => Some(a),
        Err(e) => {
            notes.push(format!("auroc: {e}"));
            None
        }
    };
    let is_prob = scores.iter().all(|p| (0.0..=1.0).contains(p));
    let (mut brier_v, mut ece_v, mut cal) = (None, None, None);
    if is_prob {
        brier_v = Some(brier(labels, scores)?);
        ece_v = Some(ece(labels, scores, ece_rule)?);
        match calibration_fit(labels, scores) {
            Ok(f) => cal = Some(f),
            Err(e) => notes.push(format!("calibration: {e}")),
        }
    } else {
        notes.push("brier, ece, calibration: scores are not probabilities in [0, 1]".into());
    }
    Ok(EvaluationReport {
        n: labels.len(),
        n_positive: labels.iter().filter(|&&y| y).count(),
        threshold,
        metrics,
        auroc,
        brier: brier_v,
        ece: ece_v,
        calibration: cal,
        notes,
    })
}
