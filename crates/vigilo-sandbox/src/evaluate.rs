//! Blind evaluation: dataset + predictions + protocol to one JSON-serialisable report.
//! All statistics come from `vigilo-stats`; this module chooses what to compute, handles the
//! undefined cases explicitly, and applies the protocol's verdict rules.

use crate::dataset::ReferenceDataset;
use crate::predictions::Predictions;
use crate::protocol::{Endpoint, Metric, Protocol, ScoreKind, CONFIDENCE_LEVEL};
use serde::{Deserialize, Serialize};
use vigilo_stats::eval::{self as stats, BinRule, IntervalMethod, Proportion, ThresholdMetrics};
use vigilo_stats::StatsError;

/// Version of the report's JSON shape; bumped on any incompatible change.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// Most ROC points kept for plotting.
pub const MAX_ROC_POINTS: usize = 300;

/// Reliability-diagram bins (equal width on [0, 1], as `vigilo-stats` defaults).
pub const CALIBRATION_BINS: usize = 10;

/// What produced the report, so it can be reproduced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    /// `vigilo-sandbox` version (the workspace version, shared with `vigilo-stats`).
    pub version: String,
    pub report_schema: u32,
    /// The conventions the numbers depend on.
    pub methods: String,
}

impl Software {
    pub fn current() -> Self {
        Software {
            version: env!("CARGO_PKG_VERSION").to_string(),
            report_schema: REPORT_SCHEMA_VERSION,
            methods: format!(
                "positive when score >= threshold; Wilson {level}% intervals for proportions; \
                 AUROC with ties counted one half and DeLong {level}% interval clipped to [0, 1]; \
                 calibration slope and intercept by logistic recalibration on logit(score); \
                 ECE over {CALIBRATION_BINS} equal-width right-closed bins",
                level = CONFIDENCE_LEVEL * 100.0
            ),
        }
    }
}

/// An estimate with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
}

/// A proportion with its counts and Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub numerator: u64,
    pub denominator: u64,
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
}

impl From<Proportion> for Rate {
    fn from(p: Proportion) -> Self {
        Rate {
            numerator: p.x,
            denominator: p.n,
            estimate: p.estimate,
            lower: p.lower,
            upper: p.upper,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionCounts {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

/// Threshold metrics; `None` where the denominator is zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtThreshold {
    pub threshold: f64,
    pub confusion: ConfusionCounts,
    pub sensitivity: Option<Rate>,
    pub specificity: Option<Rate>,
    pub ppv: Option<Rate>,
    pub npv: Option<Rate>,
    pub accuracy: Option<Rate>,
}

impl AtThreshold {
    fn from_stats(threshold: f64, m: &ThresholdMetrics) -> Self {
        let c = m.confusion;
        AtThreshold {
            threshold,
            confusion: ConfusionCounts {
                tp: c.tp,
                fp: c.fp,
                tn: c.tn,
                fn_: c.fn_,
            },
            sensitivity: m.sensitivity.map(Rate::from),
            specificity: m.specificity.map(Rate::from),
            ppv: m.ppv.map(Rate::from),
            npv: m.npv.map(Rate::from),
            accuracy: m.accuracy.map(Rate::from),
        }
    }

    fn rate(&self, metric: Metric) -> Option<Rate> {
        match metric {
            Metric::Sensitivity => self.sensitivity,
            Metric::Specificity => self.specificity,
            Metric::Ppv => self.ppv,
            Metric::Npv => self.npv,
            Metric::Accuracy => self.accuracy,
            Metric::Auroc => None,
        }
    }
}

/// AUROC with its DeLong interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Auroc {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
    pub standard_error: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// `None` for the (0, 0) corner.
    pub threshold: Option<f64>,
    pub fpr: f64,
    pub tpr: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub count: usize,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// Calibration of probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub brier: f64,
    pub ece: f64,
    /// Empty bins are omitted.
    pub bins: Vec<ReliabilityBin>,
    /// `None` with `fit_unavailable` saying why (scores of exactly 0 or 1, one class only,
    /// separation).
    pub slope: Option<f64>,
    pub intercept: Option<f64>,
    /// Intercept with the slope fixed at 1.
    pub calibration_in_the_large: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit_unavailable: Option<String>,
}

/// One group of a subgroup column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupResult {
    pub group: String,
    pub n: usize,
    /// True when `n` is below the protocol's minimum subgroup size: metrics are withheld.
    pub suppressed: bool,
    pub n_positive: Option<usize>,
    pub metrics: Option<AtThreshold>,
    /// `None` when the group lacks a class (or is suppressed).
    pub auroc: Option<f64>,
}

/// The largest difference of one metric between two reported groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupGap {
    pub metric: String,
    pub max_group: String,
    pub max_value: f64,
    pub min_group: String,
    pub min_value: f64,
    pub difference: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubgroupResult {
    pub column: String,
    pub groups: Vec<GroupResult>,
    /// Gaps between non-suppressed groups, one per metric defined in at least two of them.
    pub gaps: Vec<GroupGap>,
    /// The gap with the largest absolute difference.
    pub largest_gap: Option<GroupGap>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    NotEvaluable,
}

impl Verdict {
    /// The stable code, as in the JSON report.
    pub fn code(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::NotEvaluable => "not_evaluable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointRole {
    Primary,
    Secondary,
}

/// An endpoint of the protocol with its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointResult {
    pub role: EndpointRole,
    pub endpoint: Endpoint,
    pub result: Option<Estimate>,
    pub verdict: Verdict,
    /// Why the endpoint could not be evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub sha256: String,
    pub cases: usize,
    pub positives: usize,
    pub negatives: usize,
    pub feature_columns: Vec<String>,
    pub subgroup_columns: Vec<String>,
}

/// The evaluation report. It carries no clock time and no submitter: given the same
/// dataset, predictions and protocol it is the same, byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    pub software: Software,
    pub protocol: Protocol,
    pub dataset: DatasetSummary,
    pub predictions_sha256: String,
    /// Threshold metrics at the primary endpoint's threshold (or, when the primary is AUROC,
    /// the first secondary threshold; else 0.5 for probabilities, 0 for real scores).
    pub at_threshold: AtThreshold,
    pub auroc: Option<Auroc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auroc_unavailable: Option<String>,
    /// Thinned to at most [`MAX_ROC_POINTS`] points, first (0, 0) and last (1, 1).
    pub roc_curve: Vec<RocPoint>,
    /// `None` for real-valued scores.
    pub calibration: Option<Calibration>,
    pub subgroups: Vec<SubgroupResult>,
    pub endpoints: Vec<EndpointResult>,
    /// The primary endpoint's verdict, turned to fail when any secondary endpoint fails.
    pub overall: Verdict,
}

/// Why an evaluation could not run. These mean the inputs do not belong together or the
/// protocol is invalid; a vendor's file problems are caught earlier by the parser.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvaluateError {
    #[error("the protocol is invalid: {0:?}")]
    InvalidProtocol(Vec<crate::protocol::FieldError>),
    #[error("{scores} scores for {cases} cases")]
    LengthMismatch { scores: usize, cases: usize },
    #[error("statistics failed: {0}")]
    Stats(#[from] StatsError),
}

/// The threshold at which the headline confusion matrix and subgroup metrics are computed.
pub fn operating_threshold(protocol: &Protocol) -> f64 {
    protocol
        .endpoints()
        .find_map(|e| e.threshold)
        .unwrap_or(match protocol.score_kind {
            ScoreKind::Probability => 0.5,
            ScoreKind::Real => 0.0,
        })
}

fn at_threshold(labels: &[bool], scores: &[f64], t: f64) -> Result<AtThreshold, StatsError> {
    let c = stats::confusion(labels, scores, t)?;
    let m = stats::threshold_metrics(&c, CONFIDENCE_LEVEL, IntervalMethod::Wilson)?;
    Ok(AtThreshold::from_stats(t, &m))
}

/// Keeps at most about `max` points of a monotone ROC staircase, spaced evenly along its
/// length (|dFPR| + |dTPR|, which totals 2), always keeping both ends. The plotted curve
/// then differs from the full one by at most 2 / max in that distance.
pub fn thin_roc(points: &[RocPoint], max: usize) -> Vec<RocPoint> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let step = 2.0 / (max - 1) as f64;
    let mut out = vec![points[0]];
    let mut travelled = 0.0;
    for w in points.windows(2) {
        travelled += (w[1].fpr - w[0].fpr).abs() + (w[1].tpr - w[0].tpr).abs();
        if travelled >= step {
            out.push(w[1]);
            travelled = 0.0;
        }
    }
    if let (Some(last_kept), Some(last)) = (out.last(), points.last()) {
        if last_kept != last {
            out.push(*last);
        }
    }
    out
}

fn calibration(labels: &[bool], probs: &[f64]) -> Result<Calibration, StatsError> {
    let brier = stats::brier(labels, probs)?;
    let ece = stats::ece(labels, probs, BinRule::EqualWidth(CALIBRATION_BINS))?;
    let bins = ece
        .bins
        .iter()
        .map(|b| ReliabilityBin {
            count: b.count,
            mean_predicted: b.mean_predicted,
            observed_rate: b.observed_rate,
        })
        .collect();
    let (slope, intercept, citl, fit_unavailable) = match stats::calibration_fit(labels, probs) {
        Ok(f) => (
            Some(f.slope),
            Some(f.intercept),
            Some(f.calibration_in_the_large),
            None,
        ),
        Err(e) => (None, None, None, Some(e.to_string())),
    };
    Ok(Calibration {
        brier,
        ece: ece.ece,
        bins,
        slope,
        intercept,
        calibration_in_the_large: citl,
        fit_unavailable,
    })
}

fn subgroup_result(
    dataset: &ReferenceDataset,
    column: &str,
    scores: &[f64],
    threshold: f64,
    min_size: usize,
) -> Result<SubgroupResult, StatsError> {
    let Some(col) = dataset.subgroup(column) else {
        return Ok(SubgroupResult {
            column: column.to_string(),
            groups: vec![],
            gaps: vec![],
            largest_gap: None,
        });
    };
    let mut counts = vec![0usize; col.levels.len()];
    for &c in &col.codes {
        counts[c as usize] += 1;
    }
    let kept_level: Vec<bool> = counts.iter().map(|&n| n >= min_size).collect();
    let rows: Vec<usize> = (0..dataset.len())
        .filter(|&i| kept_level[col.codes[i] as usize])
        .collect();
    let labels: Vec<bool> = rows.iter().map(|&i| dataset.labels[i]).collect();
    let sub_scores: Vec<f64> = rows.iter().map(|&i| scores[i]).collect();
    let names: Vec<&str> = rows.iter().map(|&i| col.value(i)).collect();
    let report = if rows.is_empty() {
        None
    } else {
        Some(stats::subgroup_metrics(
            &labels,
            &sub_scores,
            &names,
            threshold,
            CONFIDENCE_LEVEL,
            IntervalMethod::Wilson,
        )?)
    };
    let mut groups: Vec<GroupResult> = col
        .levels
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let computed = report
                .as_ref()
                .and_then(|r| r.groups.iter().find(|g| &g.group == name));
            match computed {
                Some(g) if kept_level[k] => GroupResult {
                    group: name.clone(),
                    n: g.n,
                    suppressed: false,
                    n_positive: Some(g.n_positive),
                    metrics: Some(AtThreshold::from_stats(threshold, &g.metrics)),
                    auroc: g.auroc,
                },
                _ => GroupResult {
                    group: name.clone(),
                    n: counts[k],
                    suppressed: true,
                    n_positive: None,
                    metrics: None,
                    auroc: None,
                },
            }
        })
        .collect();
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    let gap = |g: &stats::Gap| GroupGap {
        metric: g.metric.to_string(),
        max_group: g.max_group.clone(),
        max_value: g.max_value,
        min_group: g.min_group.clone(),
        min_value: g.min_value,
        difference: g.difference,
    };
    Ok(SubgroupResult {
        column: column.to_string(),
        groups,
        gaps: report
            .as_ref()
            .map(|r| r.gaps.iter().map(gap).collect())
            .unwrap_or_default(),
        largest_gap: report
            .as_ref()
            .and_then(|r| r.largest_gap.as_ref().map(gap)),
    })
}

fn judge(
    role: EndpointRole,
    endpoint: &Endpoint,
    labels: &[bool],
    scores: &[f64],
    auroc: &Result<Auroc, String>,
) -> Result<EndpointResult, StatsError> {
    let result: Result<Estimate, String> = match (endpoint.metric, endpoint.threshold) {
        (Metric::Auroc, _) => auroc.as_ref().map_err(Clone::clone).map(|a| Estimate {
            estimate: a.estimate,
            lower: a.lower,
            upper: a.upper,
        }),
        (metric, Some(t)) => at_threshold(labels, scores, t)?
            .rate(metric)
            .map(|r| Estimate {
                estimate: r.estimate,
                lower: r.lower,
                upper: r.upper,
            })
            .ok_or_else(|| {
                format!(
                    "{} has a zero denominator at threshold {t}",
                    metric.as_str()
                )
            }),
        // `Protocol::validate` rejects this before evaluation.
        (metric, None) => Err(format!("{} needs a threshold", metric.as_str())),
    };
    Ok(match result {
        Ok(est) => EndpointResult {
            role,
            endpoint: endpoint.clone(),
            result: Some(est),
            verdict: if est.lower >= endpoint.min_lower_bound {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            reason: None,
        },
        Err(reason) => EndpointResult {
            role,
            endpoint: endpoint.clone(),
            result: None,
            verdict: Verdict::NotEvaluable,
            reason: Some(reason),
        },
    })
}

/// Overall verdict: the primary's, turned to fail when any secondary endpoint fails.
pub fn overall_verdict(endpoints: &[EndpointResult]) -> Verdict {
    let primary = endpoints
        .iter()
        .find(|e| e.role == EndpointRole::Primary)
        .map_or(Verdict::NotEvaluable, |e| e.verdict);
    let secondary_failed = endpoints
        .iter()
        .any(|e| e.role == EndpointRole::Secondary && e.verdict == Verdict::Fail);
    match primary {
        Verdict::Pass if secondary_failed => Verdict::Fail,
        v => v,
    }
}

/// Evaluates `predictions` on `dataset` under `protocol`.
pub fn evaluate(
    dataset: &ReferenceDataset,
    predictions: &Predictions,
    protocol: &Protocol,
) -> Result<EvaluationReport, EvaluateError> {
    protocol
        .validate_for(dataset)
        .map_err(EvaluateError::InvalidProtocol)?;
    let labels = &dataset.labels;
    let scores = &predictions.scores;
    if scores.len() != labels.len() {
        return Err(EvaluateError::LengthMismatch {
            scores: scores.len(),
            cases: labels.len(),
        });
    }
    let threshold = operating_threshold(protocol);
    let headline = at_threshold(labels, scores, threshold)?;

    let auroc: Result<Auroc, String> = match stats::auroc_delong(labels, scores, CONFIDENCE_LEVEL) {
        Ok(a) => Ok(Auroc {
            estimate: a.auc,
            lower: a.lower,
            upper: a.upper,
            standard_error: a.se,
        }),
        Err(StatsError::Undefined(why)) => Err(why),
        Err(e) => return Err(e.into()),
    };
    let roc_curve = match stats::roc_points(labels, scores) {
        Ok(points) => {
            let points: Vec<RocPoint> = points
                .into_iter()
                .map(|p| RocPoint {
                    threshold: p.threshold,
                    fpr: p.fpr,
                    tpr: p.tpr,
                })
                .collect();
            thin_roc(&points, MAX_ROC_POINTS)
        }
        Err(StatsError::Undefined(_)) => vec![],
        Err(e) => return Err(e.into()),
    };
    let calibration = match protocol.score_kind {
        ScoreKind::Probability => Some(calibration(labels, scores)?),
        ScoreKind::Real => None,
    };
    let subgroups = protocol
        .subgroup_columns
        .iter()
        .map(|c| {
            subgroup_result(
                dataset,
                c.trim(),
                scores,
                threshold,
                protocol.min_subgroup_size,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut endpoints = vec![judge(
        EndpointRole::Primary,
        &protocol.primary,
        labels,
        scores,
        &auroc,
    )?];
    for e in &protocol.secondary {
        endpoints.push(judge(EndpointRole::Secondary, e, labels, scores, &auroc)?);
    }
    let overall = overall_verdict(&endpoints);
    let positives = dataset.positives();
    Ok(EvaluationReport {
        software: Software::current(),
        protocol: protocol.clone(),
        dataset: DatasetSummary {
            sha256: dataset.sha256.clone(),
            cases: dataset.len(),
            positives,
            negatives: dataset.len() - positives,
            feature_columns: dataset.features.names.clone(),
            subgroup_columns: dataset.subgroups.iter().map(|s| s.name.clone()).collect(),
        },
        predictions_sha256: predictions.sha256.clone(),
        at_threshold: headline,
        auroc: auroc.as_ref().ok().copied(),
        auroc_unavailable: auroc.err(),
        roc_curve,
        calibration,
        subgroups,
        endpoints,
        overall,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{parse_reference_csv, ColumnRoles, DatasetLimits};
    use crate::predictions::parse_predictions;

    fn protocol(primary: Endpoint) -> Protocol {
        Protocol {
            primary,
            secondary: vec![],
            score_kind: ScoreKind::Probability,
            subgroup_columns: vec!["site".into()],
            min_subgroup_size: 3,
            max_submissions: 3,
        }
    }

    fn setup(labels: &[u8], scores: &[f64], sites: &[&str]) -> (ReferenceDataset, Predictions) {
        let mut ds = String::from("id,y,site\n");
        let mut pr = String::from("case_id,score\n");
        for (i, ((y, s), site)) in labels.iter().zip(scores).zip(sites).enumerate() {
            ds.push_str(&format!("c{i},{y},{site}\n"));
            pr.push_str(&format!("c{i},{s}\n"));
        }
        let roles = ColumnRoles {
            case_id: "id".into(),
            label: "y".into(),
            features: vec![],
            subgroups: vec!["site".into()],
        };
        let d = parse_reference_csv(ds.as_bytes(), &roles, &DatasetLimits::default()).unwrap();
        let p = parse_predictions(pr.as_bytes(), &d, ScoreKind::Probability, 1 << 20).unwrap();
        (d, p)
    }

    #[test]
    fn verdicts_follow_the_lower_bound() {
        let labels = [1, 1, 1, 1, 0, 0, 0, 0, 1, 0];
        let scores = [0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.6, 0.1, 0.95, 0.05];
        let sites = ["A", "A", "A", "A", "A", "B", "B", "B", "B", "C"];
        let (d, p) = setup(&labels, &scores, &sites);
        let pass = evaluate(
            &d,
            &p,
            &protocol(Endpoint {
                metric: Metric::Sensitivity,
                threshold: Some(0.5),
                min_lower_bound: 0.3,
            }),
        )
        .unwrap();
        let c = pass.at_threshold.confusion;
        assert_eq!((c.tp, c.fn_, c.fp, c.tn), (4, 1, 1, 4));
        assert_eq!(pass.endpoints[0].verdict, Verdict::Pass);
        assert_eq!(pass.overall, Verdict::Pass);
        let fail = evaluate(
            &d,
            &p,
            &protocol(Endpoint {
                metric: Metric::Sensitivity,
                threshold: Some(0.5),
                min_lower_bound: 0.9,
            }),
        )
        .unwrap();
        assert_eq!(fail.overall, Verdict::Fail);
        // Group C has 1 case (< 3): listed, suppressed, out of the gaps.
        let site = &pass.subgroups[0];
        let c_group = site.groups.iter().find(|g| g.group == "C").unwrap();
        assert!(c_group.suppressed && c_group.metrics.is_none() && c_group.n_positive.is_none());
        assert!(site
            .gaps
            .iter()
            .all(|g| g.max_group != "C" && g.min_group != "C"));
        assert!(site.largest_gap.is_some());
    }

    #[test]
    fn undefined_metrics_are_not_evaluable() {
        // No negative case: specificity and AUROC are undefined.
        let (d, p) = setup(&[1, 1, 1], &[0.9, 0.2, 0.7], &["A", "A", "A"]);
        let mut proto = protocol(Endpoint {
            metric: Metric::Specificity,
            threshold: Some(0.5),
            min_lower_bound: 0.5,
        });
        proto.secondary.push(Endpoint {
            metric: Metric::Sensitivity,
            threshold: Some(0.5),
            min_lower_bound: 0.0,
        });
        let r = evaluate(&d, &p, &proto).unwrap();
        assert_eq!(r.endpoints[0].verdict, Verdict::NotEvaluable);
        assert!(r.endpoints[0].reason.is_some());
        assert_eq!(r.endpoints[1].verdict, Verdict::Pass);
        assert_eq!(r.overall, Verdict::NotEvaluable);
        assert!(r.auroc.is_none() && r.auroc_unavailable.is_some());
        assert!(r.roc_curve.is_empty());
    }

    #[test]
    fn a_failed_secondary_fails_the_study() {
        let labels = [1, 1, 1, 1, 0, 0, 0, 0, 1, 0];
        let scores = [0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.6, 0.1, 0.95, 0.05];
        let (d, p) = setup(&labels, &scores, &["A"; 10]);
        let mut proto = protocol(Endpoint {
            metric: Metric::Auroc,
            threshold: None,
            min_lower_bound: 0.5,
        });
        proto.secondary.push(Endpoint {
            metric: Metric::Ppv,
            threshold: Some(0.5),
            min_lower_bound: 0.99,
        });
        let r = evaluate(&d, &p, &proto).unwrap();
        assert_eq!(r.endpoints[0].verdict, Verdict::Pass);
        assert_eq!(r.endpoints[1].verdict, Verdict::Fail);
        assert_eq!(r.overall, Verdict::Fail);
        assert_eq!(r.at_threshold.threshold, 0.5);
        let json = serde_json::to_string(&r).unwrap();
        let back: EvaluationReport = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn a_protocol_naming_an_unknown_column_is_refused() {
        let (d, p) = setup(&[1, 0, 1, 0], &[0.9, 0.1, 0.8, 0.3], &["A"; 4]);
        let mut proto = protocol(Endpoint {
            metric: Metric::Accuracy,
            threshold: Some(0.5),
            min_lower_bound: 0.1,
        });
        proto.subgroup_columns.push("province".into());
        let Err(EvaluateError::InvalidProtocol(errors)) = evaluate(&d, &p, &proto) else {
            panic!("expected an invalid protocol")
        };
        assert_eq!(
            errors,
            vec![crate::protocol::FieldError {
                field: "subgroup_columns[1]".into(),
                code: crate::protocol::FieldErrorCode::UnknownColumn
            }]
        );
    }

    #[test]
    fn real_scores_skip_calibration() {
        let labels = [1, 1, 0, 0, 1, 0];
        let scores = [2.5, 0.3, -1.0, 0.1, 4.0, -3.0];
        let mut ds = String::from("id,y,site\n");
        let mut pr = String::from("case_id,score\n");
        for (i, (y, s)) in labels.iter().zip(scores).enumerate() {
            ds.push_str(&format!("c{i},{y},A\n"));
            pr.push_str(&format!("c{i},{s}\n"));
        }
        let roles = ColumnRoles {
            case_id: "id".into(),
            label: "y".into(),
            features: vec![],
            subgroups: vec!["site".into()],
        };
        let d = parse_reference_csv(ds.as_bytes(), &roles, &DatasetLimits::default()).unwrap();
        let p = parse_predictions(pr.as_bytes(), &d, ScoreKind::Real, 1 << 20).unwrap();
        let mut proto = protocol(Endpoint {
            metric: Metric::Sensitivity,
            threshold: Some(0.2),
            min_lower_bound: 0.1,
        });
        proto.score_kind = ScoreKind::Real;
        let r = evaluate(&d, &p, &proto).unwrap();
        assert!(r.calibration.is_none());
        let c = r.at_threshold.confusion;
        assert_eq!((c.tp, c.fn_, c.fp, c.tn), (3, 0, 0, 3));
        assert_eq!(r.auroc.unwrap().estimate, 1.0);
    }

    #[test]
    fn thinning_keeps_ends_and_bounds_the_count() {
        let n = 10_000;
        let points: Vec<RocPoint> = (0..=n)
            .map(|i| {
                let x = i as f64 / n as f64;
                RocPoint {
                    threshold: Some(1.0 - x),
                    fpr: x,
                    tpr: x.sqrt(),
                }
            })
            .collect();
        let thin = thin_roc(&points, MAX_ROC_POINTS);
        assert!(thin.len() <= MAX_ROC_POINTS + 1, "{}", thin.len());
        assert!(thin.len() > MAX_ROC_POINTS / 2);
        assert_eq!(thin.first(), points.first());
        assert_eq!(thin.last(), points.last());
        // Consecutive kept points are close along the curve.
        for w in thin.windows(2) {
            let d = (w[1].fpr - w[0].fpr) + (w[1].tpr - w[0].tpr);
            assert!(d < 2.0 * 2.0 / (MAX_ROC_POINTS - 1) as f64, "{d}");
        }
    }
}
