//! The study protocol, registered before any result is seen: what is measured, at which
//! threshold, and the lowest acceptable lower bound of its 95% interval.

use crate::dataset::ReferenceDataset;
use serde::{Deserialize, Serialize};

/// Confidence level of every interval in a report (the protocol's "95% interval").
pub const CONFIDENCE_LEVEL: f64 = 0.95;

/// Limits on the protocol's own size, so a form cannot ask for absurd work.
pub const MAX_SECONDARY_ENDPOINTS: usize = 20;
pub const MAX_SUBGROUP_COLUMNS: usize = 10;
pub const MAX_SUBMISSIONS: u32 = 100;

/// A metric an endpoint can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Sensitivity,
    Specificity,
    Ppv,
    Npv,
    Accuracy,
    Auroc,
}

impl Metric {
    /// Metrics computed from the confusion matrix at a threshold.
    pub fn needs_threshold(self) -> bool {
        !matches!(self, Metric::Auroc)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Sensitivity => "sensitivity",
            Metric::Specificity => "specificity",
            Metric::Ppv => "ppv",
            Metric::Npv => "npv",
            Metric::Accuracy => "accuracy",
            Metric::Auroc => "auroc",
        }
    }
}

/// What the vendor's scores are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// Probabilities of the positive class in [0, 1]; calibration is assessed.
    #[default]
    Probability,
    /// Any finite real number, higher meaning more likely positive (e.g. a logit or a risk
    /// score); calibration is not assessed.
    Real,
}

/// One endpoint: a metric, the threshold for threshold metrics, and the minimum acceptable
/// lower bound of its 95% interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub metric: Metric,
    /// The vendor's operating threshold (a case is positive when `score >= threshold`).
    /// Required for threshold metrics, absent for AUROC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The endpoint passes when the interval's lower bound is at least this value.
    pub min_lower_bound: f64,
}

/// A pre-registered study protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    pub primary: Endpoint,
    #[serde(default)]
    pub secondary: Vec<Endpoint>,
    #[serde(default)]
    pub score_kind: ScoreKind,
    /// Dataset columns whose groups are reported separately.
    #[serde(default)]
    pub subgroup_columns: Vec<String>,
    /// Groups with fewer cases are listed but their metrics are withheld.
    pub min_subgroup_size: usize,
    /// Counted submissions a vendor may make in the study.
    pub max_submissions: u32,
}

/// Stable code of a protocol field error; the server maps each to Vietnamese and English text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldErrorCode {
    /// A threshold metric without a threshold.
    ThresholdRequired,
    /// A threshold on AUROC, which has none.
    ThresholdNotApplicable,
    /// A threshold that is not finite, or outside [0, 1] for probabilities.
    ThresholdOutOfRange,
    /// A minimum lower bound outside [0, 1].
    BoundOutOfRange,
    /// The same metric and threshold twice among the endpoints.
    DuplicateEndpoint,
    TooManyEndpoints,
    /// An empty subgroup column name.
    EmptyColumn,
    DuplicateColumn,
    TooManyColumns,
    /// A subgroup column that the dataset does not have.
    UnknownColumn,
    /// A minimum subgroup size of zero.
    SubgroupSizeTooSmall,
    /// Zero submissions, or more than [`MAX_SUBMISSIONS`].
    SubmissionsOutOfRange,
}

/// A problem with one field. `field` is a path such as `secondary[1].threshold`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub code: FieldErrorCode,
}

fn check_endpoint(e: &Endpoint, kind: ScoreKind, field: &str, errors: &mut Vec<FieldError>) {
    let mut push = |suffix: &str, code| {
        errors.push(FieldError {
            field: format!("{field}.{suffix}"),
            code,
        })
    };
    match (e.metric.needs_threshold(), e.threshold) {
        (true, None) => push("threshold", FieldErrorCode::ThresholdRequired),
        (false, Some(_)) => push("threshold", FieldErrorCode::ThresholdNotApplicable),
        (true, Some(t)) => {
            let ok = t.is_finite() && (kind == ScoreKind::Real || (0.0..=1.0).contains(&t));
            if !ok {
                push("threshold", FieldErrorCode::ThresholdOutOfRange);
            }
        }
        (false, None) => {}
    }
    if !(0.0..=1.0).contains(&e.min_lower_bound) {
        push("min_lower_bound", FieldErrorCode::BoundOutOfRange);
    }
}

impl Protocol {
    /// All endpoints, primary first.
    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        std::iter::once(&self.primary).chain(&self.secondary)
    }

    /// Checks the protocol on its own. Returns every problem found, not just the first.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        check_endpoint(&self.primary, self.score_kind, "primary", &mut errors);
        if self.secondary.len() > MAX_SECONDARY_ENDPOINTS {
            errors.push(FieldError {
                field: "secondary".into(),
                code: FieldErrorCode::TooManyEndpoints,
            });
        }
        // AUROC has no threshold, so a stray one must not make a duplicate look distinct.
        let key = |e: &Endpoint| {
            let threshold = e.threshold.filter(|_| e.metric.needs_threshold());
            (e.metric, threshold.map(f64::to_bits))
        };
        let mut seen = vec![key(&self.primary)];
        for (i, e) in self.secondary.iter().enumerate() {
            let field = format!("secondary[{i}]");
            check_endpoint(e, self.score_kind, &field, &mut errors);
            let key = key(e);
            if seen.contains(&key) {
                errors.push(FieldError {
                    field: format!("{field}.metric"),
                    code: FieldErrorCode::DuplicateEndpoint,
                });
            }
            seen.push(key);
        }
        if self.subgroup_columns.len() > MAX_SUBGROUP_COLUMNS {
            errors.push(FieldError {
                field: "subgroup_columns".into(),
                code: FieldErrorCode::TooManyColumns,
            });
        }
        for (i, c) in self.subgroup_columns.iter().enumerate() {
            let code = if c.trim().is_empty() {
                Some(FieldErrorCode::EmptyColumn)
            } else if self.subgroup_columns[..i]
                .iter()
                .any(|p| p.trim() == c.trim())
            {
                Some(FieldErrorCode::DuplicateColumn)
            } else {
                None
            };
            if let Some(code) = code {
                errors.push(FieldError {
                    field: format!("subgroup_columns[{i}]"),
                    code,
                });
            }
        }
        if self.min_subgroup_size == 0 {
            errors.push(FieldError {
                field: "min_subgroup_size".into(),
                code: FieldErrorCode::SubgroupSizeTooSmall,
            });
        }
        if self.max_submissions == 0 || self.max_submissions > MAX_SUBMISSIONS {
            errors.push(FieldError {
                field: "max_submissions".into(),
                code: FieldErrorCode::SubmissionsOutOfRange,
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// [`Protocol::validate`] plus the checks that need the dataset (subgroup columns exist).
    pub fn validate_for(&self, dataset: &ReferenceDataset) -> Result<(), Vec<FieldError>> {
        let mut errors = self.validate().err().unwrap_or_default();
        for (i, c) in self.subgroup_columns.iter().enumerate() {
            if !c.trim().is_empty() && dataset.subgroup(c.trim()).is_none() {
                errors.push(FieldError {
                    field: format!("subgroup_columns[{i}]"),
                    code: FieldErrorCode::UnknownColumn,
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Protocol {
        Protocol {
            primary: Endpoint {
                metric: Metric::Sensitivity,
                threshold: Some(0.5),
                min_lower_bound: 0.8,
            },
            secondary: vec![Endpoint {
                metric: Metric::Auroc,
                threshold: None,
                min_lower_bound: 0.85,
            }],
            score_kind: ScoreKind::Probability,
            subgroup_columns: vec!["sex".into()],
            min_subgroup_size: 30,
            max_submissions: 3,
        }
    }

    #[test]
    fn a_valid_protocol_passes_and_round_trips() {
        let p = valid();
        assert_eq!(p.validate(), Ok(()));
        let json = serde_json::to_string(&p).unwrap();
        let back: Protocol = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn every_problem_is_reported_with_field_and_code() {
        let mut p = valid();
        p.primary.threshold = None;
        p.primary.min_lower_bound = 1.5;
        p.secondary.push(Endpoint {
            metric: Metric::Auroc,
            threshold: Some(0.5),
            min_lower_bound: 0.9,
        });
        p.secondary.push(Endpoint {
            metric: Metric::Ppv,
            threshold: Some(f64::NAN),
            min_lower_bound: 0.5,
        });
        p.subgroup_columns = vec!["sex".into(), " sex".into(), "".into()];
        p.min_subgroup_size = 0;
        p.max_submissions = 0;
        let errors = p.validate().unwrap_err();
        let got: Vec<(&str, FieldErrorCode)> =
            errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        use FieldErrorCode::*;
        assert_eq!(
            got,
            vec![
                ("primary.threshold", ThresholdRequired),
                ("primary.min_lower_bound", BoundOutOfRange),
                ("secondary[1].threshold", ThresholdNotApplicable),
                ("secondary[1].metric", DuplicateEndpoint),
                ("secondary[2].threshold", ThresholdOutOfRange),
                ("subgroup_columns[1]", DuplicateColumn),
                ("subgroup_columns[2]", EmptyColumn),
                ("min_subgroup_size", SubgroupSizeTooSmall),
                ("max_submissions", SubmissionsOutOfRange),
            ]
        );
        assert_eq!(
            serde_json::to_value(FieldErrorCode::ThresholdRequired).unwrap(),
            "threshold_required"
        );
    }

    #[test]
    fn real_scores_allow_thresholds_outside_unit_interval() {
        let mut p = valid();
        p.primary.threshold = Some(2.5);
        assert!(p.validate().is_err());
        p.score_kind = ScoreKind::Real;
        assert_eq!(p.validate(), Ok(()));
    }
}
