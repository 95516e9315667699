//! Distribution drift between a reference and a current sample.
//!
//! Conventions (statistics.md):
//! - PSI = sum (c - r) ln(c / r) over bins, with r and c the reference and current bin
//!   proportions; an empty bin's proportion is replaced by 1e-4 ([`PSI_EPSILON`]) and the
//!   proportions are not renormalised. Numeric bins are the reference's deciles (numpy's
//!   default linear quantiles at 10%, ..., 90%, duplicates removed), open at both ends and
//!   right-closed: a value equal to an edge falls in the bin below it. Categorical columns
//!   use the categories as bins. Thresholds: 0.1 watch, 0.25 act.
//! - Jensen-Shannon *distance* in base 2 (scipy `jensenshannon(p, q, base=2)`), over the same
//!   bins as PSI, without the epsilon.
//! - KS statistic and p-value as scipy `ks_2samp` (see [`crate::ks`]).
//! - Wasserstein-1 as scipy `wasserstein_distance` (unnormalised); the normalised form divides
//!   by the reference's standard deviation (ddof 0) and is named so.
//! - Categorical chi-square: scipy `chi2_contingency` on the 2 x k table of counts (Yates
//!   correction only when there is one degree of freedom); categories absent from both
//!   samples do not exist, so no expected count is zero.

use crate::error::{check_finite, invalid, Result, StatsError};
use crate::ks::{ks_2samp_sorted, KsResult};
use crate::special::{chi2_sf, quantile_sorted};
use serde::Serialize;
use std::collections::BTreeMap;

/// Proportion used for an empty bin in PSI.
pub const PSI_EPSILON: f64 = 1e-4;
/// PSI at or above which a column is watched.
pub const PSI_WATCH: f64 = 0.1;
/// PSI at or above which action is due.
pub const PSI_ACT: f64 = 0.25;

/// Drift level from PSI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftLevel {
    Stable,
    Watch,
    Act,
}

impl DriftLevel {
    pub fn from_psi(psi: f64) -> DriftLevel {
        if psi >= PSI_ACT {
            DriftLevel::Act
        } else if psi >= PSI_WATCH {
            DriftLevel::Watch
        } else {
            DriftLevel::Stable
        }
    }
}

/// PSI from two vectors of bin counts (same bins, same order).
pub fn psi_from_counts(reference: &[u64], current: &[u64]) -> Result<f64> {
    crate::error::check_len("bin counts", reference.len(), current.len())?;
    let (tr, tc) = (
        reference.iter().sum::<u64>() as f64,
        current.iter().sum::<u64>() as f64,
    );
    if tr == 0.0 || tc == 0.0 {
        return Err(StatsError::Empty("PSI needs counts in both samples"));
    }
    Ok(reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let r = if r == 0 { PSI_EPSILON } else { r as f64 / tr };
            let c = if c == 0 { PSI_EPSILON } else { c as f64 / tc };
            (c - r) * (c / r).ln()
        })
        .sum())
}

/// Jensen-Shannon distance (base 2) between two count vectors over the same bins.
pub fn js_distance_from_counts(p: &[u64], q: &[u64]) -> Result<f64> {
    crate::error::check_len("bin counts", p.len(), q.len())?;
    let (tp, tq) = (p.iter().sum::<u64>() as f64, q.iter().sum::<u64>() as f64);
    if tp == 0.0 || tq == 0.0 {
        return Err(StatsError::Empty(
            "Jensen-Shannon needs counts in both samples",
        ));
    }
    let rel = |a: f64, m: f64| if a > 0.0 { a * (a / m).ln() } else { 0.0 };
    let mut js = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a as f64 / tp, b as f64 / tq);
        let m = 0.5 * (a + b);
        js += rel(a, m) + rel(b, m);
    }
    Ok((js / 2.0 / std::f64::consts::LN_2).max(0.0).sqrt())
}

/// Decile edges of a sorted reference: unique linear quantiles at 10%, ..., 90%.
pub fn decile_edges(sorted_reference: &[f64]) -> Result<Vec<f64>> {
    if sorted_reference.is_empty() {
        return Err(StatsError::Empty("reference"));
    }
    let mut edges: Vec<f64> = (1..10)
        .map(|k| quantile_sorted(sorted_reference, k as f64 / 10.0))
        .collect();
    edges.dedup();
    Ok(edges)
}

/// Counts of a sorted sample in the bins (-inf, e1], (e1, e2], ..., (ek, inf).
pub fn bin_counts_sorted(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let mut counts = Vec::with_capacity(edges.len() + 1);
    let mut prev = 0usize;
    for &e in edges {
        let upto = sorted.partition_point(|&x| x <= e);
        counts.push((upto - prev) as u64);
        prev = upto;
    }
    counts.push((sorted.len() - prev) as u64);
    counts
}

/// scipy `wasserstein_distance(u, v)` for sorted unweighted samples.
pub fn wasserstein_sorted(u: &[f64], v: &[f64]) -> Result<f64> {
    if u.is_empty() || v.is_empty() {
        return Err(StatsError::Empty("Wasserstein needs two non-empty samples"));
    }
    let (nu, nv) = (u.len() as f64, v.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut total = 0.0;
    // Walk the merged sorted values; between consecutive values the CDFs are constant.
    let mut prev = u[0].min(v[0]);
    while i < u.len() || j < v.len() {
        let x = match (u.get(i), v.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        total += (i as f64 / nu - j as f64 / nv).abs() * (x - prev);
        while i < u.len() && u[i] <= x {
            i += 1;
        }
        while j < v.len() && v[j] <= x {
            j += 1;
        }
        prev = x;
    }
    Ok(total)
}

/// Wasserstein-1 distance between two samples (scipy's unnormalised form).
pub fn wasserstein(u: &[f64], v: &[f64]) -> Result<f64> {
    check_finite("sample u", u)?;
    check_finite("sample v", v)?;
    let mut a = u.to_vec();
    let mut b = v.to_vec();
    a.sort_unstable_by(|x, y| x.total_cmp(y));
    b.sort_unstable_by(|x, y| x.total_cmp(y));
    wasserstein_sorted(&a, &b)
}

/// Drift of one numeric column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NumericDrift {
    pub n_reference: usize,
    pub n_current: usize,
    pub psi: f64,
    pub psi_level: DriftLevel,
    /// Bin edges used for PSI and Jensen-Shannon.
    pub edges: Vec<f64>,
    pub reference_counts: Vec<u64>,
    pub current_counts: Vec<u64>,
    pub js_distance: f64,
    pub ks: KsResult,
    pub wasserstein: f64,
    /// Wasserstein-1 divided by the reference's standard deviation; `None` if that is 0.
    pub wasserstein_normalised: Option<f64>,
}

/// PSI (over reference deciles, or `edges` if given), Jensen-Shannon distance, KS test and
/// Wasserstein-1 for a numeric column.
pub fn numeric_drift(
    reference: &[f64],
    current: &[f64],
    edges: Option<&[f64]>,
) -> Result<NumericDrift> {
    if reference.is_empty() || current.is_empty() {
        return Err(StatsError::Empty(
            "drift needs non-empty reference and current",
        ));
    }
    check_finite("reference", reference)?;
    check_finite("current", current)?;
    let mut r = reference.to_vec();
    let mut c = current.to_vec();
    r.sort_unstable_by(|x, y| x.total_cmp(y));
    c.sort_unstable_by(|x, y| x.total_cmp(y));
    let edges = match edges {
        Some(e) => {
            check_finite("edges", e)?;
            if e.windows(2).any(|w| !(w[0] < w[1])) {
                return Err(invalid("edges", "must be strictly increasing"));
            }
            e.to_vec()
        }
        None => decile_edges(&r)?,
    };
    let rc = bin_counts_sorted(&r, &edges);
    let cc = bin_counts_sorted(&c, &edges);
    let psi = psi_from_counts(&rc, &cc)?;
    let js = js_distance_from_counts(&rc, &cc)?;
    let ks = ks_2samp_sorted(&r, &c)?;
    let w = wasserstein_sorted(&r, &c)?;
    let n = r.len() as f64;
    let mean = r.iter().sum::<f64>() / n;
    let sd = (r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
    Ok(NumericDrift {
        n_reference: r.len(),
        n_current: c.len(),
        psi,
        psi_level: DriftLevel::from_psi(psi),
        edges,
        reference_counts: rc,
        current_counts: cc,
        js_distance: js,
        ks,
        wasserstein: w,
        wasserstein_normalised: if sd > 0.0 { Some(w / sd) } else { None },
    })
}

/// Chi-square test of a 2 x k table (scipy `chi2_contingency`, Yates only when dof = 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Chi2Test {
    pub statistic: f64,
    pub dof: usize,
    pub p_value: f64,
}

/// Chi-square homogeneity test of two count vectors over the same categories.
pub fn chi2_two_samples(reference: &[u64], current: &[u64]) -> Result<Chi2Test> {
    crate::error::check_len("category counts", reference.len(), current.len())?;
    let cats: Vec<(f64, f64)> = reference
        .iter()
        .zip(current)
        .filter(|(&a, &b)| a + b > 0)
        .map(|(&a, &b)| (a as f64, b as f64))
        .collect();
    let (tr, tc) = (
        cats.iter().map(|c| c.0).sum::<f64>(),
        cats.iter().map(|c| c.1).sum::<f64>(),
    );
    if tr == 0.0 || tc == 0.0 {
        return Err(StatsError::Empty("chi-square needs counts in both samples"));
    }
    if cats.len() < 2 {
        return Err(StatsError::Undefined(
            "chi-square needs at least two categories".into(),
        ));
    }
    let n = tr + tc;
    let dof = cats.len() - 1;
    let mut stat = 0.0;
    for &(a, b) in &cats {
        let col = a + b;
        for (o, row) in [(a, tr), (b, tc)] {
            let e = row * col / n;
            let mut d = o - e;
            if dof == 1 {
                // scipy: move each observed count 0.5 towards its expectation, not past it.
                d = d.signum() * (d.abs() - 0.5).max(0.0);
            }
            stat += d * d / e;
        }
    }
    Ok(Chi2Test {
        statistic: stat,
        dof,
        p_value: chi2_sf(stat, dof as f64),
    })
}

/// Drift of one categorical column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoricalDrift {
    pub n_reference: usize,
    pub n_current: usize,
    pub categories: Vec<String>,
    pub reference_counts: Vec<u64>,
    pub current_counts: Vec<u64>,
    pub psi: f64,
    pub psi_level: DriftLevel,
    pub js_distance: f64,
    /// `None` when fewer than two categories occur.
    pub chi2: Option<Chi2Test>,
}

/// PSI, Jensen-Shannon distance and chi-square over the categories (sorted by name).
pub fn categorical_drift<S: AsRef<str>>(
    reference: &[S],
    current: &[S],
) -> Result<CategoricalDrift> {
    if reference.is_empty() || current.is_empty() {
        return Err(StatsError::Empty(
            "drift needs non-empty reference and current",
        ));
    }
    let mut counts: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for r in reference {
        counts.entry(r.as_ref()).or_default().0 += 1;
    }
    for c in current {
        counts.entry(c.as_ref()).or_default().1 += 1;
    }
    let categories: Vec<String> = counts.keys().map(|k| k.to_string()).collect();
    let rc: Vec<u64> = counts.values().map(|v| v.0).collect();
    let cc: Vec<u64> = counts.values().map(|v| v.1).collect();
    let psi = psi_from_counts(&rc, &cc)?;
    let chi2 = match chi2_two_samples(&rc, &cc) {
        Ok(t) => Some(t),
        Err(StatsError::Undefined(_)) => None,
        Err(e) => return Err(e),
    };
    Ok(CategoricalDrift {
        n_reference: reference.len(),
        n_current: current.len(),
        categories,
        js_distance: js_distance_from_counts(&rc, &cc)?,
        reference_counts: rc,
        current_counts: cc,
        psi,
        psi_level: DriftLevel::from_psi(psi),
        chi2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_uses_epsilon_for_empty_bins() {
        let psi = psi_from_counts(&[50, 50], &[100, 0]).expect("psi");
        let want = (1.0 - 0.5) * (1.0f64 / 0.5).ln() + (1e-4 - 0.5) * (1e-4f64 / 0.5).ln();
        assert!((psi - want).abs() < 1e-15);
        assert_eq!(DriftLevel::from_psi(psi), DriftLevel::Act);
    }

    #[test]
    fn right_closed_bins() {
        let c = bin_counts_sorted(&[1.0, 2.0, 2.0, 3.0], &[2.0]);
        assert_eq!(c, vec![3, 1]);
    }

    #[test]
    fn wasserstein_simple() {
        // scipy: wasserstein_distance([0, 1, 3], [5, 6, 8]) = 5.0
        let w = wasserstein(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]).expect("w");
        assert!((w - 5.0).abs() < 1e-15);
        let w = wasserstein(&[1.0], &[1.0]).expect("w");
        assert_eq!(w, 0.0);
    }
}
