//! Difference in differences on unit-level aggregates, for phased roll-outs of an AI tool
//! across health facilities.
//!
//! Post-deployment monitoring sees one number per facility and period (a rate, a mean time,
//! a proportion), not patient rows, and a tool goes live at some facilities before others.
//! The facilities that have not yet adopted it give the counterfactual trend: if the tool
//! did nothing, treated facilities would have changed as much as the others did over the
//! same windows (the *parallel trends* assumption, which no statistic here can check; a
//! reviewer should look at the pre-period trends before trusting the estimate).
//!
//! Conventions:
//! - The analysis unit is the facility: each contributes one change `post - pre`, and every
//!   facility counts equally. The estimate is about the average facility, not the average
//!   patient. Weights (e.g. by patient volume) are deliberately not offered: a weighted
//!   mean needs a different variance estimator, and a silently re-weighted Welch interval
//!   would be wrong.
//! - The 2x2 estimate is `mean(change | treated) - mean(change | control)`, with the Welch
//!   standard error `sqrt(s_T^2 / n_T + s_C^2 / n_C)` (sample variances, ddof 1), the
//!   Welch-Satterthwaite degrees of freedom and a two-sided Student-t interval. This is
//!   exactly scipy `ttest_ind(changes_T, changes_C, equal_var=False)` and its
//!   `confidence_interval()`, and statsmodels `CompareMeans.tconfint_diff(usevar="unequal")`
//!   (tested against both in `tests/reference_vectors.rs`).
//! - Staggered adoption follows the idea of Callaway and Sant'Anna (2021) simplified to one
//!   2x2 per adoption cohort: units that went live in the same period, against units not yet
//!   treated over the same pre/post windows. The caller builds the cohorts. The aggregate
//!   weights each cohort by its number of treated units and assumes the cohort estimates are
//!   independent (see [`did_staggered`] for what that assumption costs).

use crate::error::{check_level, invalid, Result, StatsError};
use crate::special::beta_quantile;
use serde::Serialize;

/// One unit's (facility's) outcome before and after the adoption date of its comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UnitChange {
    /// Outcome over the pre-period window (e.g. a rate per 1,000 visits).
    pub pre: f64,
    /// Outcome over the post-period window, same definition and units as `pre`.
    pub post: f64,
}

impl UnitChange {
    pub fn new(pre: f64, post: f64) -> Self {
        UnitChange { pre, post }
    }

    /// `post - pre`.
    pub fn change(&self) -> f64 {
        self.post - self.pre
    }
}

/// A 2x2 difference-in-differences estimate with its Welch interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DidEstimate {
    /// `mean(change | treated) - mean(change | control)`.
    pub estimate: f64,
    /// Welch standard error `sqrt(s_T^2 / n_T + s_C^2 / n_C)`.
    pub se: f64,
    /// Welch-Satterthwaite degrees of freedom (not an integer in general).
    pub df: f64,
    /// `estimate / se`, as scipy's `ttest_ind(..., equal_var=False).statistic`.
    pub t: f64,
    /// Two-sided p-value of the t statistic on `df` degrees of freedom.
    pub p_value: f64,
    /// Lower bound of the two-sided Student-t interval at `level`.
    pub lower: f64,
    /// Upper bound of the two-sided Student-t interval at `level`.
    pub upper: f64,
    pub level: f64,
    /// Mean change among treated units.
    pub mean_change_treated: f64,
    /// Mean change among control units.
    pub mean_change_control: f64,
    pub n_treated: usize,
    pub n_control: usize,
}

/// Summary of one group's changes: mean, variance of the mean, and n - 1.
struct GroupStats {
    mean: f64,
    var_of_mean: f64,
    n: usize,
}

fn group_stats(what: &'static str, units: &[UnitChange]) -> Result<GroupStats> {
    if units.len() < 2 {
        return Err(invalid(
            what,
            format!(
                "needs at least 2 units for a sample variance, got {}",
                units.len()
            ),
        ));
    }
    for (index, u) in units.iter().enumerate() {
        if !u.pre.is_finite() || !u.post.is_finite() || !u.change().is_finite() {
            return Err(StatsError::NonFinite { what, index });
        }
    }
    let n = units.len() as f64;
    let mean = units.iter().map(UnitChange::change).sum::<f64>() / n;
    let ss = units
        .iter()
        .map(|u| (u.change() - mean).powi(2))
        .sum::<f64>();
    let var = ss / (n - 1.0);
    Ok(GroupStats {
        mean,
        var_of_mean: var / n,
        n: units.len(),
    })
}

/// Two-sided Student-t critical value `t_{1 - (1 - level)/2; df}`.
///
/// With `Y = T^2 / (df + T^2) ~ Beta(1/2, df/2)`, `P(|T| > t) = 1 - level` gives
/// `y = BetaInv(level; 1/2, df/2)` and `t = sqrt(df y / (1 - y))`. Solving for `y` (small
/// when `df` is large) rather than `1 - y` keeps full precision at large `df`.
fn t_for_level(level: f64, df: f64) -> Result<f64> {
    check_level(level)?;
    if !(df > 0.0) || !df.is_finite() {
        return Err(invalid(
            "df",
            format!("must be positive and finite, got {df}"),
        ));
    }
    let y = beta_quantile(level, 0.5, df / 2.0)?;
    Ok((df * y / (1.0 - y)).sqrt())
}

/// Two-sided p-value of a t statistic: `P(|T| > |t|) = I_{df / (df + t^2)}(df/2, 1/2)`.
fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t == 0.0 {
        return 1.0;
    }
    let x = df / (df + t * t);
    statrs::function::beta::beta_reg(df / 2.0, 0.5, x)
}

/// Welch combination of variance components `(variance of a mean, n)` into an estimate's
/// standard error and Satterthwaite degrees of freedom.
fn welch(estimate: f64, parts: &[(f64, usize)], level: f64) -> Result<(f64, f64, f64, f64, f64)> {
    let var: f64 = parts.iter().map(|(v, _)| v).sum();
    if !(var > 0.0) {
        return Err(StatsError::Undefined(
            "every unit change is identical within each group: the standard error is 0 and \
             the Welch degrees of freedom are undefined"
                .into(),
        ));
    }
    let denom: f64 = parts.iter().map(|(v, n)| v * v / (*n as f64 - 1.0)).sum();
    let df = var * var / denom;
    let se = var.sqrt();
    let q = t_for_level(level, df)?;
    let t = estimate / se;
    Ok((se, df, t, estimate - q * se, estimate + q * se))
}

/// Basic 2x2 difference in differences on unit changes, with a Welch interval.
///
/// Each unit contributes `post - pre`; the estimate is the treated mean change minus the
/// control mean change, every unit weighted equally. Standard error, degrees of freedom and
/// interval are Welch's, as scipy `ttest_ind(equal_var=False)` computes them on the changes.
/// Units are assumed independent (facilities, not repeated measures of one facility).
///
/// Errors: fewer than 2 units in either group ([`StatsError::InvalidParameter`]); a NaN or
/// infinite value ([`StatsError::NonFinite`], `index` into the named group); `level` outside
/// (0, 1); every change identical within both groups, so the standard error is 0
/// ([`StatsError::Undefined`]).
pub fn did_units(
    treated: &[UnitChange],
    control: &[UnitChange],
    level: f64,
) -> Result<DidEstimate> {
    check_level(level)?;
    let t = group_stats("treated", treated)?;
    let c = group_stats("control", control)?;
    let estimate = t.mean - c.mean;
    let (se, df, tstat, lower, upper) = welch(
        estimate,
        &[(t.var_of_mean, t.n), (c.var_of_mean, c.n)],
        level,
    )?;
    Ok(DidEstimate {
        estimate,
        se,
        df,
        t: tstat,
        p_value: t_two_sided_p(tstat, df),
        lower,
        upper,
        level,
        mean_change_treated: t.mean,
        mean_change_control: c.mean,
        n_treated: t.n,
        n_control: c.n,
    })
}

/// Units that went live in the same period, with their not-yet-treated comparison units.
///
/// The caller builds each cohort: `treated` holds the cohort's units, `control` the units
/// still untreated at the end of the cohort's post window, and both use the same pre and
/// post windows (e.g. the period before adoption and the adoption period itself).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cohort {
    /// Identifies the cohort in the output, e.g. the adoption period "2026-Q3".
    pub label: String,
    pub treated: Vec<UnitChange>,
    pub control: Vec<UnitChange>,
}

/// One cohort's 2x2 estimate and its weight in the aggregate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortEstimate {
    pub label: String,
    pub estimate: DidEstimate,
    /// `n_treated` of this cohort over the total treated units across cohorts.
    pub weight: f64,
}

/// Staggered-adoption difference in differences: the per-cohort 2x2 estimates and their
/// aggregate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaggeredDid {
    pub cohorts: Vec<CohortEstimate>,
    /// `sum_g w_g * estimate_g`, `w_g = n_treated_g / sum n_treated`.
    pub estimate: f64,
    /// `sqrt(sum_g w_g^2 se_g^2)`, assuming independent cohorts.
    pub se: f64,
    /// Welch-Satterthwaite degrees of freedom over every group's variance component.
    pub df: f64,
    pub t: f64,
    pub p_value: f64,
    pub lower: f64,
    pub upper: f64,
    pub level: f64,
    /// Total treated units across cohorts (a unit belongs to one adoption cohort).
    pub n_treated: usize,
}

/// Staggered-adoption difference in differences: one 2x2 per adoption cohort against
/// not-yet-treated units (Callaway and Sant'Anna's group-time idea, with one pre and one
/// post window per cohort), aggregated by the number of treated units per cohort.
///
/// Aggregate: `sum_g w_g * DID_g` with `w_g = n_T,g / sum_h n_T,h`; its variance is
/// `sum_g w_g^2 * (s_T,g^2 / n_T,g + s_C,g^2 / n_C,g)` and its degrees of freedom are
/// Welch-Satterthwaite over those `2G` components, with a Student-t interval at `level`.
/// With one cohort the aggregate equals [`did_units`] on it.
///
/// **Assumption: the cohort estimates are independent.** They are not quite: the same
/// not-yet-treated facility usually serves as a control for several cohorts, and a cohort's
/// treated units may have been controls for an earlier one. Shared controls correlate the
/// cohort estimates positively, so the aggregate standard error is then too small and the
/// interval too narrow. Use disjoint control sets when the data allow it, or read the
/// aggregate interval as optimistic; the per-cohort intervals are unaffected.
///
/// Errors: no cohorts ([`StatsError::Empty`]); any cohort that [`did_units`] rejects (the
/// error is returned as is); `level` outside (0, 1).
pub fn did_staggered(cohorts: &[Cohort], level: f64) -> Result<StaggeredDid> {
    check_level(level)?;
    if cohorts.is_empty() {
        return Err(StatsError::Empty(
            "staggered adoption needs at least one cohort",
        ));
    }
    let mut per = Vec::with_capacity(cohorts.len());
    for c in cohorts {
        per.push(did_units(&c.treated, &c.control, level)?);
    }
    let n_treated: usize = per.iter().map(|e| e.n_treated).sum();
    let total = n_treated as f64;
    let mut estimate = 0.0;
    let mut parts = Vec::with_capacity(2 * cohorts.len());
    let mut out = Vec::with_capacity(cohorts.len());
    for (c, e) in cohorts.iter().zip(per) {
        let w = e.n_treated as f64 / total;
        estimate += w * e.estimate;
        let (gt, gc) = (
            group_stats("treated", &c.treated)?,
            group_stats("control", &c.control)?,
        );
        parts.push((w * w * gt.var_of_mean, gt.n));
        parts.push((w * w * gc.var_of_mean, gc.n));
        out.push(CohortEstimate {
            label: c.label.clone(),
            estimate: e,
            weight: w,
        });
    }
    let (se, df, t, lower, upper) = welch(estimate, &parts, level)?;
    Ok(StaggeredDid {
        cohorts: out,
        estimate,
        se,
        df,
        t,
        p_value: t_two_sided_p(t, df),
        lower,
        upper,
        level,
        n_treated,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn units(pairs: &[(f64, f64)]) -> Vec<UnitChange> {
        pairs.iter().map(|&(a, b)| UnitChange::new(a, b)).collect()
    }

    /// Worked by hand. Treated changes 2, 4, 6: mean 4, s^2 = (4 + 0 + 4) / 2 = 4.
    /// Control changes 1, 1, 2, 4: mean 2, s^2 = (1 + 1 + 0 + 4) / 3 = 2.
    /// Estimate 4 - 2 = 2. Var = 4/3 + 2/4 = 11/6, SE = sqrt(11/6) = 1.354006.
    /// df = (11/6)^2 / ((4/3)^2 / 2 + (1/2)^2 / 3) = (121/36) / (8/9 + 1/12)
    ///    = (121/36) / (35/36) = 121/35 = 3.457143.
    /// t_{0.975; 121/35} = 2.9571320 (scipy), so the 95% interval is
    /// 2 -+ 2.9571320 * 1.3540064 = [-2.003976, 6.003976].
    #[test]
    fn hand_worked_two_by_two() {
        let t = units(&[(10.0, 12.0), (20.0, 24.0), (5.0, 11.0)]);
        let c = units(&[(3.0, 4.0), (7.0, 8.0), (1.0, 3.0), (0.0, 4.0)]);
        let e = did_units(&t, &c, 0.95).unwrap();
        assert!((e.estimate - 2.0).abs() < 1e-12);
        assert!((e.se - (11.0_f64 / 6.0).sqrt()).abs() < 1e-12);
        assert!((e.df - 121.0 / 35.0).abs() < 1e-12);
        let q = t_for_level(0.95, 121.0 / 35.0).unwrap();
        assert!((q - 2.957_132_040_432_614).abs() < 1e-12, "{q}");
        assert!((e.lower - (2.0 - q * e.se)).abs() < 1e-12);
        assert!(
            (e.lower + 2.003_975_710_675_676).abs() < 1e-12,
            "{}",
            e.lower
        );
        assert!(
            (e.upper - 6.003_975_710_675_676).abs() < 1e-12,
            "{}",
            e.upper
        );
        assert_eq!((e.n_treated, e.n_control), (3, 4));
    }

    #[test]
    fn t_quantiles_match_tables() {
        // scipy stats.t.ppf(1 - (1 - level) / 2, df).
        let cases = [
            (0.95, 1.0, 12.706_204_736_174_694),
            (0.95, 2.0, 4.302_652_729_749_462),
            (0.95, 10.0, 2.228_138_851_986_274),
            (0.90, 30.0, 1.697_260_886_593_957),
            (0.95, 1e6, 1.959_966_356_814_107),
        ];
        for (level, df, want) in cases {
            let got = t_for_level(level, df).unwrap();
            assert!(
                (got - want).abs() < 1e-9 * want,
                "{level} {df}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn degenerate_input_is_an_error() {
        let ok = units(&[(1.0, 2.0), (1.0, 3.0)]);
        let one = units(&[(1.0, 2.0)]);
        assert!(matches!(
            did_units(&one, &ok, 0.95),
            Err(StatsError::InvalidParameter {
                name: "treated",
                ..
            })
        ));
        assert!(matches!(
            did_units(&ok, &[], 0.95),
            Err(StatsError::InvalidParameter {
                name: "control",
                ..
            })
        ));
        let nan = units(&[(1.0, 2.0), (f64::NAN, 3.0)]);
        assert_eq!(
            did_units(&ok, &nan, 0.95),
            Err(StatsError::NonFinite {
                what: "control",
                index: 1
            })
        );
        let inf = units(&[(f64::INFINITY, 2.0), (1.0, 3.0)]);
        assert!(matches!(
            did_units(&inf, &ok, 0.95),
            Err(StatsError::NonFinite {
                what: "treated",
                index: 0
            })
        ));
        // Finite values whose difference overflows.
        let huge = units(&[(-f64::MAX, f64::MAX), (1.0, 3.0)]);
        assert!(did_units(&huge, &ok, 0.95).is_err());
        for level in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
            assert!(did_units(&ok, &ok, level).is_err(), "{level}");
        }
        let flat = units(&[(1.0, 2.0), (5.0, 6.0)]);
        assert!(matches!(
            did_units(&flat, &flat, 0.95),
            Err(StatsError::Undefined(_))
        ));
        // Zero variance in one group only is fine: df = n - 1 of the other group.
        let e = did_units(&flat, &ok, 0.95).unwrap();
        assert!((e.df - 1.0).abs() < 1e-12);
        assert!(matches!(
            did_staggered(&[], 0.95),
            Err(StatsError::Empty(_))
        ));
    }

    #[test]
    fn one_cohort_equals_two_by_two_and_weights_follow_treated_counts() {
        let t = units(&[(10.0, 12.0), (20.0, 24.0), (5.0, 11.0)]);
        let c = units(&[(3.0, 4.0), (7.0, 8.0), (1.0, 3.0), (0.0, 4.0)]);
        let single = did_units(&t, &c, 0.9).unwrap();
        let cohort = Cohort {
            label: "2026-Q1".into(),
            treated: t.clone(),
            control: c.clone(),
        };
        let s = did_staggered(std::slice::from_ref(&cohort), 0.9).unwrap();
        assert!((s.estimate - single.estimate).abs() < 1e-12);
        assert!((s.se - single.se).abs() < 1e-12);
        assert!((s.df - single.df).abs() < 1e-9);
        assert!((s.lower - single.lower).abs() < 1e-9);
        assert!((s.p_value - single.p_value).abs() < 1e-12);

        // Second cohort with 2 treated units and a known estimate of -1.
        let c2 = Cohort {
            label: "2026-Q2".into(),
            treated: units(&[(0.0, 0.0), (0.0, 2.0)]),
            control: units(&[(0.0, 1.0), (0.0, 3.0)]),
        };
        let s = did_staggered(&[cohort, c2], 0.95).unwrap();
        assert_eq!(s.n_treated, 5);
        assert!((s.cohorts[0].weight - 0.6).abs() < 1e-15);
        assert!((s.cohorts[1].weight - 0.4).abs() < 1e-15);
        assert!((s.cohorts[1].estimate.estimate + 1.0).abs() < 1e-12);
        assert!((s.estimate - (0.6 * 2.0 - 0.4)).abs() < 1e-12);
        let var = 0.36 * single.se.powi(2) + 0.16 * s.cohorts[1].estimate.se.powi(2);
        assert!((s.se - var.sqrt()).abs() < 1e-12);
        assert!(s.lower < s.estimate && s.estimate < s.upper);
    }
}
