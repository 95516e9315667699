//! Drift and performance alerts over one deployment's period reports: the detection step of
//! the monitoring alert job, pure and on generic inputs (no store types, no I/O).
//!
//! The series is a deployment's reported periods, oldest first. The first
//! [`MonitorOptions::reference_periods`] of them are the **reference** (the deployment's own
//! baseline after go-live); only later periods are assessed, each against that reference:
//!
//! - **Input mix and score distribution** (`mix.<name>`, `score`; method `psi`): PSI of the
//!   period's histogram against the pooled reference histogram (statistics.md convention 9:
//!   empty bins as 1e-4, thresholds 0.1 watch and 0.25 act), with the Jensen-Shannon
//!   distance (base 2) as evidence. Because PSI of a small sample is large by chance alone
//!   (about `(k - 1) (1/n_ref + 1/n_cur)` for `k` bins), a PSI finding also needs the
//!   chi-square two-sample test to reject equality at [`MonitorOptions::max_p_value`].
//! - **Rates without outcomes** (`positivity_rate`, `override_rate`, `escalation_rate`;
//!   method `ewma`): an EWMA chart of the period's standardised rate
//!   `z = (p - p0) / sqrt(p0 (1 - p0) / n)` against the pooled reference rate `p0`, so periods
//!   of different sizes share one chart. Month-to-month variation between facilities is
//!   usually wider than binomial, so the chart's sigma is the larger of 1 and the reference
//!   z-scores' average moving range / 1.128 (Laney's p' chart). Two-sided: a fall in
//!   positivity can mean missed cases, a fall in overrides automation bias.
//! - **Verified error rates** (`specificity`, `sensitivity`; method `cusum`): a one-sided
//!   binomial CUSUM (the Bernoulli CUSUM's log-likelihood-ratio weights, evaluated at period
//!   ends) on the false-positive rate `fp / (fp + tn)` and the miss rate `fn / (tp + fn)`
//!   for a rise from the reference rate `p0` to `p1` with odds multiplied by
//!   [`MonitorOptions::cusum_odds_ratio`]. Periods without verified outcomes are skipped.
//! - **CBPE** (`cbpe.sensitivity`, `cbpe.specificity`; method `cbpe`), when a sandbox
//!   calibration map is given: sensitivity and specificity estimated from the period's score
//!   histogram ([`crate::cbpe`]). When the period has enough verified outcomes, a finding
//!   means the estimate lies outside the verified proportion's Wilson interval (act when
//!   the verified value is worse than estimated, watch when better: either way the map no
//!   longer holds). Without verified outcomes, a finding means the estimate fell below the
//!   reference periods' estimate by at least the watch or act drop.
//!
//! A finding is reported for the first period a stream (metric x method) reaches a level,
//! and for later periods only when the level rises (watch to act); a stream that returns
//! to stable may report again. One shift therefore gives one alert, not one per month,
//! while its evidence (the chart) keeps the later periods visible when the job reruns.
//! Periods below the minimum counts are not assessed at all, so tiny stations do not
//! raise noise; what was skipped and why is listed in [`MonitorOutput::notes`].

use crate::cbpe::{compare_with_verified, estimate_performance, Agreement, CalibrationMap};
use crate::cbpe::{PerformanceEstimate, ScoreHistogram};
use crate::drift::{chi2_two_samples, js_distance_from_counts, psi_from_counts};
use crate::error::{invalid, Result};
use crate::eval::{proportion, IntervalMethod, Proportion};
use crate::sequential::ewma;
use serde::Serialize;
use std::collections::BTreeMap;

/// Verified outcomes of one period (cases whose true state was confirmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct VerifiedCounts {
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub tn: u64,
}

/// One reported period of a deployment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PeriodInput {
    /// The period's label, e.g. `2026-07`; carried into findings unchanged.
    pub label: String,
    pub uses: u64,
    pub positives: u64,
    pub verified: Option<VerifiedCounts>,
    pub overrides: u64,
    pub escalations: u64,
    /// Counts per declared score bin; empty when the tool reports no score.
    pub score_histogram: Vec<u64>,
    /// Named input and population mix histograms (e.g. `age_band`) over declared bins.
    pub mix: BTreeMap<String, Vec<u64>>,
}

/// CBPE inputs: the sandbox calibration map over the declared score bins and the
/// declared decision threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct CbpeOptions {
    pub map: CalibrationMap,
    /// First score bin counted as positive output.
    pub threshold_bin: usize,
    /// Fall of an estimated metric below its reference estimate that is watched.
    pub drop_watch: f64,
    /// Fall of an estimated metric below its reference estimate that calls for action.
    pub drop_act: f64,
}

impl CbpeOptions {
    pub fn new(map: CalibrationMap, threshold_bin: usize) -> Self {
        CbpeOptions {
            map,
            threshold_bin,
            drop_watch: 0.05,
            drop_act: 0.10,
        }
    }
}

/// Thresholds and minimum counts of the detector. [`Default`] gives the documented values.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorOptions {
    /// The first this many reported periods are the reference.
    pub reference_periods: usize,
    pub psi_watch: f64,
    pub psi_act: f64,
    /// A PSI finding also needs the chi-square test's p-value below this.
    pub max_p_value: f64,
    pub ewma_lambda: f64,
    /// EWMA limit width (in sigmas of the chart) for watch.
    pub ewma_l_watch: f64,
    /// EWMA limit width for act.
    pub ewma_l_act: f64,
    /// The rise in odds of an error that the CUSUM is tuned to detect.
    pub cusum_odds_ratio: f64,
    pub cusum_h_watch: f64,
    pub cusum_h_act: f64,
    /// A period with fewer uses is not assessed.
    pub min_period_uses: u64,
    /// A metric whose reference holds fewer uses (or cases) is not assessed.
    pub min_reference_uses: u64,
    /// Verified cases needed in a period's denominator (and twice that in the reference).
    pub min_verified: u64,
    /// Confidence level of the intervals in the evidence.
    pub level: f64,
    pub cbpe: Option<CbpeOptions>,
    /// Bin labels per metric (e.g. `mix.age_band` -> `0-4`, ...), copied into the evidence.
    pub bin_labels: BTreeMap<String, Vec<String>>,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        MonitorOptions {
            reference_periods: 3,
            psi_watch: crate::drift::PSI_WATCH,
            psi_act: crate::drift::PSI_ACT,
            // Every station's every month is a test; 1 in 1,000 by chance keeps a national
            // pilot's false alarms to a handful a month.
            max_p_value: 0.001,
            ewma_lambda: 0.2,
            // Wide limits: every station is charted, nationally that is tens of thousands of
            // charts, and an in-control chart crosses 2.5 sigma every hundred or so points.
            ewma_l_watch: 3.0,
            ewma_l_act: 3.5,
            cusum_odds_ratio: 2.0,
            cusum_h_watch: 4.0,
            cusum_h_act: 6.0,
            min_period_uses: 30,
            min_reference_uses: 100,
            min_verified: 20,
            level: 0.95,
            cbpe: None,
            bin_labels: BTreeMap::new(),
        }
    }
}

impl MonitorOptions {
    /// Checks the options (thresholds ordered, levels and rates in range).
    pub fn validate(&self) -> Result<()> {
        let ordered = |name: &'static str, w: f64, a: f64| {
            if !(w > 0.0 && a >= w && a.is_finite()) {
                Err(invalid(
                    name,
                    format!("need 0 < watch <= act, got {w}, {a}"),
                ))
            } else {
                Ok(())
            }
        };
        if self.reference_periods == 0 {
            return Err(invalid("reference_periods", "must be at least 1"));
        }
        ordered("psi", self.psi_watch, self.psi_act)?;
        ordered("ewma_l", self.ewma_l_watch, self.ewma_l_act)?;
        ordered("cusum_h", self.cusum_h_watch, self.cusum_h_act)?;
        if !(self.max_p_value > 0.0 && self.max_p_value <= 1.0) {
            return Err(invalid("max_p_value", "must be in (0, 1]"));
        }
        if !(self.ewma_lambda > 0.0 && self.ewma_lambda <= 1.0) {
            return Err(invalid("ewma_lambda", "must be in (0, 1]"));
        }
        if !(self.cusum_odds_ratio > 1.0 && self.cusum_odds_ratio.is_finite()) {
            return Err(invalid("cusum_odds_ratio", "must be above 1"));
        }
        crate::error::check_level(self.level)?;
        if let Some(c) = &self.cbpe {
            ordered("cbpe drop", c.drop_watch, c.drop_act)?;
        }
        Ok(())
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    Watch,
    Act,
}

impl AlertLevel {
    pub fn code(self) -> &'static str {
        match self {
            AlertLevel::Watch => "watch",
            AlertLevel::Act => "act",
        }
    }
}

/// One point of a control chart, in the evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartPoint {
    pub period: String,
    /// Events (positives, overrides, errors) and the denominator of the period.
    pub x: u64,
    pub n: u64,
    pub rate: f64,
    /// EWMA: the standardised rate; absent for CUSUM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
    /// The chart statistic after this period (EWMA value or CUSUM sum).
    pub statistic: f64,
    /// EWMA: the act limits at this period; absent for CUSUM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
}

/// Why a finding was raised: the numbers a reviewer needs to judge it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Evidence {
    /// A histogram against the pooled reference histogram.
    Distribution {
        reference_periods: Vec<String>,
        /// Bin labels when known, else bin numbers from 1.
        bins: Vec<String>,
        reference_counts: Vec<u64>,
        current_counts: Vec<u64>,
        psi: f64,
        js_distance: f64,
        chi2_p_value: f64,
    },
    /// A rate chart (EWMA or CUSUM) up to the assessed period.
    Chart {
        reference_periods: Vec<String>,
        /// Reference events and denominator, pooled.
        reference_x: u64,
        reference_n: u64,
        /// The in-control rate (for CUSUM, smoothed so it is never 0).
        p0: f64,
        /// CUSUM: the out-of-control rate it is tuned to.
        #[serde(skip_serializing_if = "Option::is_none")]
        p1: Option<f64>,
        /// EWMA: the chart's sigma in z units (at least 1, Laney).
        #[serde(skip_serializing_if = "Option::is_none")]
        sigma: Option<f64>,
        /// The assessed period's rate with its Wilson interval.
        current: Proportion,
        points: Vec<ChartPoint>,
    },
    /// A CBPE estimate against verified outcomes or the reference estimate.
    Cbpe {
        /// `disagreement` (estimate outside the verified interval) or `estimated-drop`.
        rule: &'static str,
        reference_periods: Vec<String>,
        reference_estimate: Option<f64>,
        estimate: Option<f64>,
        /// The verified proportion with its Wilson interval, when the period has one.
        verified: Option<Proportion>,
        agreement: Option<Agreement>,
        performance: PerformanceEstimate,
        /// Calibration bins whose rate was imputed from neighbours.
        imputed_bins: usize,
    },
}

/// One detected change, for one period of one deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// `mix.<name>`, `score`, `positivity_rate`, `override_rate`, `escalation_rate`,
    /// `specificity`, `sensitivity`, `cbpe.specificity`, `cbpe.sensitivity`.
    pub metric: String,
    /// `psi`, `ewma`, `cusum` or `cbpe`.
    pub method: &'static str,
    pub period: String,
    pub level: AlertLevel,
    /// PSI; EWMA or CUSUM statistic; CBPE estimate.
    pub value: f64,
    /// The threshold the value crossed (for CBPE: the interval bound or the reference
    /// estimate minus the drop).
    pub threshold: f64,
    pub evidence: Evidence,
}

/// Findings, and notes on what could not be assessed.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct MonitorOutput {
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

/// Keeps one finding per stream until its level rises; a stable period resets it.
#[derive(Default)]
struct Streams {
    last: BTreeMap<(String, &'static str), AlertLevel>,
}

impl Streams {
    fn offer(
        &mut self,
        out: &mut Vec<Finding>,
        metric: &str,
        method: &'static str,
        f: Option<Finding>,
    ) {
        let key = (metric.to_string(), method);
        match f {
            None => {
                self.last.remove(&key);
            }
            Some(f) => {
                if self.last.get(&key).is_none_or(|&l| f.level > l) {
                    self.last.insert(key, f.level);
                    out.push(f);
                }
            }
        }
    }
}

/// Runs every check over a deployment's periods (oldest first). Errors only on invalid
/// options; data that cannot be assessed is skipped and noted.
pub fn detect(periods: &[PeriodInput], opts: &MonitorOptions) -> Result<MonitorOutput> {
    opts.validate()?;
    let mut out = MonitorOutput::default();
    let n_ref = opts.reference_periods;
    if periods.len() <= n_ref {
        out.notes.push(format!(
            "{} reported periods: nothing after the {n_ref}-period reference to assess",
            periods.len()
        ));
        return Ok(out);
    }
    let (reference, assessed) = periods.split_at(n_ref);
    let ref_labels: Vec<String> = reference.iter().map(|p| p.label.clone()).collect();
    let mut streams = Streams::default();

    // Histograms: the score and every mix named in the reference.
    let mut hist_names: Vec<String> = Vec::new();
    if reference.iter().all(|p| !p.score_histogram.is_empty()) {
        hist_names.push("score".into());
    }
    for name in reference[0].mix.keys() {
        hist_names.push(format!("mix.{name}"));
    }
    let hist_of = |p: &PeriodInput, metric: &str| -> Option<Vec<u64>> {
        match metric.strip_prefix("mix.") {
            Some(name) => p.mix.get(name).cloned(),
            None => Some(p.score_histogram.clone()).filter(|h| !h.is_empty()),
        }
    };
    for metric in &hist_names {
        let Some(ref_counts) = pooled(reference.iter().map(|p| hist_of(p, metric))) else {
            out.notes.push(format!(
                "{metric}: the reference periods do not all report it over the same bins"
            ));
            continue;
        };
        if ref_counts.iter().sum::<u64>() < opts.min_reference_uses {
            out.notes
                .push(format!("{metric}: reference too small to assess"));
            continue;
        }
        let bins = opts
            .bin_labels
            .get(metric)
            .filter(|l| l.len() == ref_counts.len())
            .cloned()
            .unwrap_or_else(|| (1..=ref_counts.len()).map(|i| i.to_string()).collect());
        for p in assessed {
            let Some(cur) = hist_of(p, metric).filter(|h| h.len() == ref_counts.len()) else {
                continue;
            };
            if cur.iter().sum::<u64>() < opts.min_period_uses {
                continue;
            }
            let finding = psi_finding(metric, p, &ref_counts, &cur, &bins, &ref_labels, opts)?;
            streams.offer(&mut out.findings, metric, "psi", finding);
        }
    }

    // Rates that need no outcome.
    type Pick = fn(&PeriodInput) -> u64;
    let rates: [(&str, Pick); 3] = [
        ("positivity_rate", |p| p.positives),
        ("override_rate", |p| p.overrides),
        ("escalation_rate", |p| p.escalations),
    ];
    for (metric, pick) in rates {
        let series: Vec<(String, u64, u64)> = periods
            .iter()
            .map(|p| (p.label.clone(), pick(p).min(p.uses), p.uses))
            .collect();
        ewma_stream(metric, &series, &ref_labels, opts, &mut streams, &mut out)?;
    }

    // Verified error rates.
    type PickV = fn(&VerifiedCounts) -> (u64, u64);
    let errors: [(&str, PickV); 2] = [
        ("specificity", |v| (v.fp, v.fp.saturating_add(v.tn))),
        ("sensitivity", |v| (v.fn_, v.fn_.saturating_add(v.tp))),
    ];
    for (metric, pick) in errors {
        let series: Vec<(String, Option<(u64, u64)>)> = periods
            .iter()
            .map(|p| (p.label.clone(), p.verified.as_ref().map(pick)))
            .collect();
        cusum_stream(metric, &series, &ref_labels, opts, &mut streams, &mut out)?;
    }

    if let Some(c) = &opts.cbpe {
        cbpe_streams(
            reference,
            assessed,
            &ref_labels,
            c,
            opts,
            &mut streams,
            &mut out,
        )?;
    }
    Ok(out)
}

/// Sums histograms bin by bin; `None` when one is missing or the bins differ.
fn pooled(hists: impl Iterator<Item = Option<Vec<u64>>>) -> Option<Vec<u64>> {
    let mut acc: Option<Vec<u64>> = None;
    for h in hists {
        let h = h?;
        match &mut acc {
            None => acc = Some(h),
            Some(a) if a.len() == h.len() => {
                for (x, y) in a.iter_mut().zip(h) {
                    *x = x.saturating_add(y);
                }
            }
            Some(_) => return None,
        }
    }
    acc.filter(|a| !a.is_empty())
}

fn psi_finding(
    metric: &str,
    p: &PeriodInput,
    reference: &[u64],
    current: &[u64],
    bins: &[String],
    ref_labels: &[String],
    opts: &MonitorOptions,
) -> Result<Option<Finding>> {
    let psi = psi_from_counts(reference, current)?;
    let level = if psi >= opts.psi_act {
        AlertLevel::Act
    } else if psi >= opts.psi_watch {
        AlertLevel::Watch
    } else {
        return Ok(None);
    };
    // Fewer than two occupied bins means nothing to compare; PSI is then 0 anyway.
    let p_value = match chi2_two_samples(reference, current) {
        Ok(t) => t.p_value,
        Err(_) => return Ok(None),
    };
    if p_value >= opts.max_p_value {
        return Ok(None);
    }
    Ok(Some(Finding {
        metric: metric.to_string(),
        method: "psi",
        period: p.label.clone(),
        level,
        value: psi,
        threshold: match level {
            AlertLevel::Act => opts.psi_act,
            AlertLevel::Watch => opts.psi_watch,
        },
        evidence: Evidence::Distribution {
            reference_periods: ref_labels.to_vec(),
            bins: bins.to_vec(),
            reference_counts: reference.to_vec(),
            current_counts: current.to_vec(),
            psi,
            js_distance: js_distance_from_counts(reference, current)?,
            chi2_p_value: p_value,
        },
    }))
}

/// EWMA of standardised rates over the assessed periods; `series` is every period's
/// (label, events, denominator), the reference first.
fn ewma_stream(
    metric: &str,
    series: &[(String, u64, u64)],
    ref_labels: &[String],
    opts: &MonitorOptions,
    streams: &mut Streams,
    out: &mut MonitorOutput,
) -> Result<()> {
    let (reference, assessed) = series.split_at(ref_labels.len());
    let (rx, rn) = reference
        .iter()
        .fold((0u64, 0u64), |(x, n), r| (x + r.1, n + r.2));
    if rn < opts.min_reference_uses {
        out.notes
            .push(format!("{metric}: reference too small to assess"));
        return Ok(());
    }
    if rx == 0 || rx == rn {
        // A reference rate of 0 or 1 has no binomial spread to standardise by.
        out.notes.push(format!(
            "{metric}: reference rate is {}; no chart",
            if rx == 0 { 0 } else { 1 }
        ));
        return Ok(());
    }
    let p0 = rx as f64 / rn as f64;
    let z_of = |x: u64, n: u64| (x as f64 / n as f64 - p0) / (p0 * (1.0 - p0) / n as f64).sqrt();
    // Laney: the reference periods' own spread, when wider than binomial.
    let ref_z: Vec<f64> = reference
        .iter()
        .filter(|r| r.2 > 0)
        .map(|r| z_of(r.1, r.2))
        .collect();
    let mr: Vec<f64> = ref_z.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let laney = if mr.is_empty() {
        1.0
    } else {
        (mr.iter().sum::<f64>() / mr.len() as f64 / 1.128).max(1.0)
    };
    let kept: Vec<&(String, u64, u64)> = assessed
        .iter()
        .filter(|r| r.2 >= opts.min_period_uses)
        .collect();
    if kept.is_empty() {
        return Ok(());
    }
    // p0 is itself estimated from a few months, and its error is shared by every later
    // point, so averaging does not remove it: in z units it adds n / n_ref to the EWMA's
    // variance. Folded into the chart sigma (sigma^2 + (2 - lambda) / lambda * n / n_ref) so
    // that thousands of stations with a three-month reference do not flag by chance.
    let mean_n = kept.iter().map(|r| r.2 as f64).sum::<f64>() / kept.len() as f64;
    let lambda = opts.ewma_lambda;
    let sigma = (laney * laney + (2.0 - lambda) / lambda * mean_n / rn as f64).sqrt();
    let zs: Vec<f64> = kept.iter().map(|r| z_of(r.1, r.2)).collect();
    let act = ewma(&zs, 0.0, sigma, opts.ewma_lambda, opts.ewma_l_act)?;
    let points: Vec<ChartPoint> = kept
        .iter()
        .enumerate()
        .map(|(i, r)| ChartPoint {
            period: r.0.clone(),
            x: r.1,
            n: r.2,
            rate: r.1 as f64 / r.2 as f64,
            z: Some(zs[i]),
            statistic: act.statistic[i],
            lower: Some(act.lower[i]),
            upper: Some(act.upper[i]),
        })
        .collect();
    for (i, r) in kept.iter().enumerate() {
        let z = act.statistic[i];
        let act_limit = act.upper[i];
        let watch_limit = act_limit * opts.ewma_l_watch / opts.ewma_l_act;
        let level = if z.abs() > act_limit {
            Some((AlertLevel::Act, act_limit))
        } else if z.abs() > watch_limit {
            Some((AlertLevel::Watch, watch_limit))
        } else {
            None
        };
        let finding = match level {
            None => None,
            Some((level, limit)) => Some(Finding {
                metric: metric.to_string(),
                method: "ewma",
                period: r.0.clone(),
                level,
                value: z,
                threshold: if z < 0.0 { -limit } else { limit },
                evidence: Evidence::Chart {
                    reference_periods: ref_labels.to_vec(),
                    reference_x: rx,
                    reference_n: rn,
                    p0,
                    p1: None,
                    sigma: Some(sigma),
                    current: proportion(r.1, r.2, opts.level, IntervalMethod::Wilson)?,
                    points: points[..=i].to_vec(),
                },
            }),
        };
        streams.offer(&mut out.findings, metric, "ewma", finding);
    }
    Ok(())
}

/// One-sided binomial CUSUM on an error rate; `series` holds (label, Some((errors, cases)))
/// for periods with verified outcomes.
fn cusum_stream(
    metric: &str,
    series: &[(String, Option<(u64, u64)>)],
    ref_labels: &[String],
    opts: &MonitorOptions,
    streams: &mut Streams,
    out: &mut MonitorOutput,
) -> Result<()> {
    let (reference, assessed) = series.split_at(ref_labels.len());
    let (rx, rn) = reference
        .iter()
        .filter_map(|r| r.1)
        .fold((0u64, 0u64), |(x, n), (a, b)| (x + a, n + b));
    if assessed.iter().all(|r| r.1.is_none()) {
        return Ok(());
    }
    if rn < 2 * opts.min_verified {
        out.notes.push(format!(
            "{metric}: {rn} verified reference cases, fewer than {}; no chart",
            2 * opts.min_verified
        ));
        return Ok(());
    }
    // Half a case added each way keeps p0 inside (0, 1) when the reference saw no error.
    let p0 = (rx as f64 + 0.5) / (rn as f64 + 1.0);
    let odds1 = opts.cusum_odds_ratio * p0 / (1.0 - p0);
    let p1 = odds1 / (1.0 + odds1);
    let (w1, w0) = ((p1 / p0).ln(), ((1.0 - p1) / (1.0 - p0)).ln());
    let mut s = 0.0_f64;
    let mut points = Vec::new();
    for r in assessed {
        let Some((x, n)) = r.1.filter(|&(x, n)| n >= opts.min_verified && x <= n) else {
            continue;
        };
        s = (s + x as f64 * w1 + (n - x) as f64 * w0).max(0.0);
        points.push(ChartPoint {
            period: r.0.clone(),
            x,
            n,
            rate: x as f64 / n as f64,
            z: None,
            statistic: s,
            lower: None,
            upper: None,
        });
        let level = if s >= opts.cusum_h_act {
            Some((AlertLevel::Act, opts.cusum_h_act))
        } else if s >= opts.cusum_h_watch {
            Some((AlertLevel::Watch, opts.cusum_h_watch))
        } else {
            None
        };
        let finding = match level {
            None => None,
            Some((level, h)) => Some(Finding {
                metric: metric.to_string(),
                method: "cusum",
                period: r.0.clone(),
                level,
                value: s,
                threshold: h,
                evidence: Evidence::Chart {
                    reference_periods: ref_labels.to_vec(),
                    reference_x: rx,
                    reference_n: rn,
                    p0,
                    p1: Some(p1),
                    sigma: None,
                    current: proportion(x, n, opts.level, IntervalMethod::Wilson)?,
                    points: points.clone(),
                },
            }),
        };
        streams.offer(&mut out.findings, metric, "cusum", finding);
    }
    Ok(())
}

fn cbpe_streams(
    reference: &[PeriodInput],
    assessed: &[PeriodInput],
    ref_labels: &[String],
    c: &CbpeOptions,
    opts: &MonitorOptions,
    streams: &mut Streams,
    out: &mut MonitorOutput,
) -> Result<()> {
    let k = c.map.edges.len().saturating_sub(1);
    let hist = |counts: Vec<u64>| ScoreHistogram {
        edges: c.map.edges.clone(),
        counts,
    };
    let Some(ref_counts) = pooled(
        reference
            .iter()
            .map(|p| Some(p.score_histogram.clone()).filter(|h| !h.is_empty() && h.len() == k)),
    ) else {
        out.notes.push(
            "cbpe: the reference periods do not all report a score histogram over the calibration bins"
                .into(),
        );
        return Ok(());
    };
    if ref_counts.iter().sum::<u64>() < opts.min_reference_uses {
        out.notes.push("cbpe: reference too small to assess".into());
        return Ok(());
    }
    let ref_est = estimate_performance(&hist(ref_counts), &c.map, c.threshold_bin)?;
    let imputed_bins = c.map.imputed.iter().filter(|&&b| b).count();
    for p in assessed {
        if p.score_histogram.len() != k
            || p.score_histogram.iter().sum::<u64>() < opts.min_period_uses
        {
            continue;
        }
        let est = estimate_performance(&hist(p.score_histogram.clone()), &c.map, c.threshold_bin)?;
        let cmp = match p.verified {
            Some(v) => Some(compare_with_verified(
                &est, v.tp, v.fp, v.fn_, v.tn, opts.level,
            )?),
            None => None,
        };
        for name in ["sensitivity", "specificity"] {
            let metric = format!("cbpe.{name}");
            let (estimate, reference_estimate, verified) = match name {
                "sensitivity" => (
                    est.sensitivity,
                    ref_est.sensitivity,
                    cmp.map(|c| c.sensitivity),
                ),
                _ => (
                    est.specificity,
                    ref_est.specificity,
                    cmp.map(|c| c.specificity),
                ),
            };
            let verified =
                verified.filter(|m| m.verified.is_some_and(|v| v.n >= opts.min_verified));
            let mut found: Option<(AlertLevel, f64, &'static str, f64)> = None;
            if let (Some(m), Some(e)) = (verified, estimate) {
                if let (Agreement::Disagrees, Some(v)) = (m.agreement, m.verified) {
                    // Verified worse than estimated is the dangerous direction.
                    found = Some(if e > v.upper {
                        (AlertLevel::Act, v.upper, "disagreement", e)
                    } else {
                        (AlertLevel::Watch, v.lower, "disagreement", e)
                    });
                }
            } else if let (Some(e), Some(r)) = (estimate, reference_estimate) {
                let drop = r - e;
                if drop >= c.drop_act {
                    found = Some((AlertLevel::Act, r - c.drop_act, "estimated-drop", e));
                } else if drop >= c.drop_watch {
                    found = Some((AlertLevel::Watch, r - c.drop_watch, "estimated-drop", e));
                }
            }
            let finding = found.map(|(level, threshold, rule, value)| Finding {
                metric: metric.clone(),
                method: "cbpe",
                period: p.label.clone(),
                level,
                value,
                threshold,
                evidence: Evidence::Cbpe {
                    rule,
                    reference_periods: ref_labels.to_vec(),
                    reference_estimate,
                    estimate,
                    verified: verified.and_then(|m| m.verified),
                    agreement: verified.map(|m| m.agreement),
                    performance: est,
                    imputed_bins,
                },
            });
            streams.offer(&mut out.findings, &metric, "cbpe", finding);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::cbpe::calibration_map_from_bins;

    fn period(label: &str, uses: u64, positives: u64, age: Vec<u64>) -> PeriodInput {
        let mut mix = BTreeMap::new();
        mix.insert("age_band".to_string(), age);
        PeriodInput {
            label: label.into(),
            uses,
            positives,
            overrides: uses / 10,
            escalations: uses / 20,
            mix,
            ..PeriodInput::default()
        }
    }

    fn stable(n: usize) -> Vec<PeriodInput> {
        (0..n)
            .map(|i| {
                period(
                    &format!("2026-{:02}", i + 1),
                    400,
                    40,
                    vec![100, 100, 100, 100],
                )
            })
            .collect()
    }

    #[test]
    fn nothing_before_the_reference_ends() {
        let out = detect(&stable(3), &MonitorOptions::default()).unwrap();
        assert!(out.findings.is_empty());
        assert_eq!(out.notes.len(), 1);
    }

    #[test]
    fn a_stable_series_raises_nothing() {
        let out = detect(&stable(12), &MonitorOptions::default()).unwrap();
        assert!(out.findings.is_empty(), "{:?}", out.findings);
    }

    #[test]
    fn a_mix_shift_raises_psi_once_and_again_when_it_rises() {
        let mut s = stable(3);
        // Moderate shift, then the same (no new finding), then a larger one (act).
        s.push(period("2026-04", 400, 40, vec![160, 100, 80, 60]));
        s.push(period("2026-05", 400, 40, vec![160, 100, 80, 60]));
        s.push(period("2026-06", 400, 40, vec![300, 60, 20, 20]));
        let out = detect(&s, &MonitorOptions::default()).unwrap();
        let psi: Vec<&Finding> = out.findings.iter().filter(|f| f.method == "psi").collect();
        assert_eq!(psi.len(), 2, "{psi:?}");
        assert_eq!(psi[0].metric, "mix.age_band");
        assert_eq!(psi[0].period, "2026-04");
        assert_eq!(psi[0].level, AlertLevel::Watch);
        assert_eq!(psi[0].threshold, 0.1);
        assert_eq!(psi[1].period, "2026-06");
        assert_eq!(psi[1].level, AlertLevel::Act);
        let Evidence::Distribution {
            reference_counts,
            current_counts,
            js_distance,
            chi2_p_value,
            ..
        } = &psi[1].evidence
        else {
            panic!("distribution evidence");
        };
        assert_eq!(reference_counts, &vec![300, 300, 300, 300]);
        assert_eq!(current_counts, &vec![300, 60, 20, 20]);
        assert!(*js_distance > 0.0 && *chi2_p_value < 0.01);
        let json = serde_json::to_value(&psi[1].evidence).unwrap();
        assert_eq!(json["kind"], "distribution");
    }

    #[test]
    fn a_positivity_jump_raises_an_ewma_alert_with_its_chart() {
        let mut s = stable(3);
        s.push(period("2026-04", 400, 40, vec![100, 100, 100, 100]));
        s.push(period("2026-05", 400, 130, vec![100, 100, 100, 100]));
        let out = detect(&s, &MonitorOptions::default()).unwrap();
        let f = out
            .findings
            .iter()
            .find(|f| f.metric == "positivity_rate")
            .unwrap();
        assert_eq!(f.method, "ewma");
        assert_eq!(f.period, "2026-05");
        assert_eq!(f.level, AlertLevel::Act);
        assert!(f.value > f.threshold);
        let Evidence::Chart { points, p0, .. } = &f.evidence else {
            panic!("chart evidence");
        };
        assert_eq!(points.len(), 2);
        assert!((p0 - 0.1).abs() < 1e-12);
        // A fall is seen too (two-sided).
        let mut s = stable(3);
        s.push(period("2026-04", 400, 5, vec![100, 100, 100, 100]));
        s.push(period("2026-05", 400, 8, vec![100, 100, 100, 100]));
        let out = detect(&s, &MonitorOptions::default()).unwrap();
        assert!(out
            .findings
            .iter()
            .any(|f| f.metric == "positivity_rate" && f.value < 0.0));
    }

    #[test]
    fn verified_specificity_drop_raises_a_cusum_alert() {
        let mut s = stable(6);
        for (i, p) in s.iter_mut().enumerate() {
            // Three reference months and one more like them, then a rise in false positives.
            p.verified = Some(if i < 4 {
                VerifiedCounts {
                    tp: 20,
                    fp: 10,
                    fn_: 2,
                    tn: 90,
                }
            } else {
                VerifiedCounts {
                    tp: 20,
                    fp: 30,
                    fn_: 2,
                    tn: 70,
                }
            });
        }
        let out = detect(&s, &MonitorOptions::default()).unwrap();
        let spec: Vec<&Finding> = out
            .findings
            .iter()
            .filter(|f| f.metric == "specificity")
            .collect();
        assert!(!spec.is_empty());
        assert_eq!(spec[0].method, "cusum");
        assert_eq!(spec[0].period, "2026-05");
        assert!(spec.iter().all(|f| f.period != "2026-04"));
        assert!(out.findings.iter().all(|f| f.metric != "sensitivity"));
    }

    fn cbpe_options() -> MonitorOptions {
        let edges: Vec<f64> = (0..=4).map(|i| i as f64 / 4.0).collect();
        let map =
            calibration_map_from_bins(&edges, &[2, 10, 30, 90], &[100, 100, 100, 100]).unwrap();
        MonitorOptions {
            cbpe: Some(CbpeOptions::new(map, 2)),
            ..MonitorOptions::default()
        }
    }

    #[test]
    fn cbpe_flags_disagreement_with_verified_outcomes() {
        let mut s = stable(4);
        for p in &mut s {
            p.score_histogram = vec![200, 100, 60, 40];
        }
        // Estimated specificity about 0.88; verified 50 / 100 is far below.
        s[3].verified = Some(VerifiedCounts {
            tp: 20,
            fp: 50,
            fn_: 2,
            tn: 50,
        });
        let out = detect(&s, &cbpe_options()).unwrap();
        let f = out
            .findings
            .iter()
            .find(|f| f.metric == "cbpe.specificity")
            .unwrap();
        assert_eq!(f.method, "cbpe");
        assert_eq!(f.level, AlertLevel::Act);
        let json = serde_json::to_value(&f.evidence).unwrap();
        assert_eq!(json["rule"], "disagreement");
        assert_eq!(json["agreement"], "disagrees");
        assert!(json["verified"]["upper"].as_f64().unwrap() < f.value);
    }

    #[test]
    fn cbpe_without_outcomes_flags_an_estimated_drop() {
        let mut s = stable(4);
        for p in &mut s {
            p.score_histogram = vec![300, 60, 20, 20];
        }
        // Many more cases in the uncertain second-highest bin: more expected false positives.
        s[3].score_histogram = vec![100, 60, 200, 40];
        let out = detect(&s, &cbpe_options()).unwrap();
        let f = out
            .findings
            .iter()
            .find(|f| f.metric == "cbpe.specificity")
            .unwrap();
        assert_eq!(f.level, AlertLevel::Act);
        let json = serde_json::to_value(&f.evidence).unwrap();
        assert_eq!(json["rule"], "estimated-drop");
    }

    #[test]
    fn tiny_stations_are_not_assessed() {
        let mut s: Vec<PeriodInput> = (0..3)
            .map(|i| period(&format!("2026-{:02}", i + 1), 12, 1, vec![3, 3, 3, 3]))
            .collect();
        s.push(period("2026-04", 12, 12, vec![12, 0, 0, 0]));
        let out = detect(&s, &MonitorOptions::default()).unwrap();
        assert!(out.findings.is_empty());
        assert!(!out.notes.is_empty());
    }

    #[test]
    fn invalid_options_are_errors() {
        let o = MonitorOptions {
            psi_watch: 0.3,
            ..MonitorOptions::default()
        };
        assert!(detect(&stable(5), &o).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn hist() -> impl Strategy<Value = Vec<u64>> {
            proptest::collection::vec(0u64..500, 2..9)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            /// Every period the same as the reference: no finding of any kind.
            #[test]
            fn no_drift_when_current_equals_reference(h in hist(), extra in 1usize..6, pos_share in 0u64..100) {
                let uses: u64 = h.iter().sum();
                prop_assume!(uses > 0);
                let positives = uses * pos_share / 100;
                let mut mix = BTreeMap::new();
                mix.insert("a".to_string(), h.clone());
                let p = PeriodInput {
                    label: String::new(),
                    uses,
                    positives,
                    overrides: uses / 7,
                    escalations: uses / 13,
                    score_histogram: h.clone(),
                    mix,
                    verified: None,
                };
                let s: Vec<PeriodInput> = (0..3 + extra)
                    .map(|i| PeriodInput { label: format!("p{i}"), ..p.clone() })
                    .collect();
                let out = detect(&s, &MonitorOptions::default()).unwrap();
                prop_assert!(out.findings.is_empty(), "{:?}", out.findings);
            }

            /// Periods below the minimum uses never raise anything, whatever they hold.
            #[test]
            fn tiny_counts_never_trigger(
                reference in hist(),
                current in proptest::collection::vec(0u64..4, 2..9),
                positives in 0u64..30,
            ) {
                let k = reference.len().min(current.len());
                let (reference, current) = (reference[..k].to_vec(), current[..k].to_vec());
                let ref_uses: u64 = reference.iter().sum();
                let cur_uses: u64 = current.iter().sum();
                prop_assume!(cur_uses < MonitorOptions::default().min_period_uses);
                let mk = |label: &str, h: &Vec<u64>, uses: u64, pos: u64| {
                    let mut mix = BTreeMap::new();
                    mix.insert("a".to_string(), h.clone());
                    PeriodInput {
                        label: label.into(),
                        uses,
                        positives: pos.min(uses),
                        overrides: pos.min(uses),
                        escalations: 0,
                        score_histogram: h.clone(),
                        mix,
                        verified: None,
                    }
                };
                let mut s: Vec<PeriodInput> =
                    (0..3).map(|i| mk(&format!("r{i}"), &reference, ref_uses, ref_uses / 10)).collect();
                s.push(mk("c", &current, cur_uses, positives));
                let out = detect(&s, &MonitorOptions::default()).unwrap();
                prop_assert!(out.findings.is_empty(), "{:?}", out.findings);
            }

            /// Moving most of the mass to the first bin of a large period always triggers.
            #[test]
            fn a_shifted_histogram_triggers(k in 3usize..9, per_bin in 50u64..500) {
                let reference = vec![per_bin; k];
                let mut current = vec![per_bin / 10; k];
                current[0] = per_bin * k as u64 - per_bin / 10 * (k as u64 - 1);
                let mk = |label: &str, h: &Vec<u64>| {
                    let mut mix = BTreeMap::new();
                    mix.insert("a".to_string(), h.clone());
                    PeriodInput {
                        label: label.into(),
                        uses: h.iter().sum(),
                        mix,
                        ..PeriodInput::default()
                    }
                };
                let mut s: Vec<PeriodInput> = (0..3).map(|i| mk(&format!("r{i}"), &reference)).collect();
                s.push(mk("c", &current));
                let out = detect(&s, &MonitorOptions::default()).unwrap();
                prop_assert!(out.findings.iter().any(|f| f.metric == "mix.a" && f.level == AlertLevel::Act));
            }
        }
    }
}
