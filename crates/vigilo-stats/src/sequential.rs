//! Sequential and rate detection: Poisson and Bernoulli CUSUM, EWMA charts, the Poisson
//! MaxSPRT with its exact critical value, and the tree-based scan statistic (TreeScan).
//!
//! Conventions: a CUSUM signals when its statistic reaches the decision value (`S >= h`) and,
//! if asked, restarts from 0 after a signal; an EWMA chart starts at the target mean and uses
//! the exact (time-varying) control limits.

use crate::error::{check_finite, invalid, Result, StatsError};
use crate::rng::SeededRng;
use crate::special::lambert_w0;
use serde::Serialize;

/// Path of a CUSUM chart.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CusumResult {
    /// Statistic after each observation.
    pub statistic: Vec<f64>,
    /// Indices of observations at which the chart signalled.
    pub alarms: Vec<usize>,
}

impl CusumResult {
    pub fn first_alarm(&self) -> Option<usize> {
        self.alarms.first().copied()
    }
}

fn check_h(h: f64) -> Result<()> {
    if !(h > 0.0 && h.is_finite()) {
        return Err(invalid(
            "h",
            format!("decision value must be positive, got {h}"),
        ));
    }
    Ok(())
}

fn run_cusum(weights: impl Iterator<Item = f64>, h: f64, reset: bool) -> CusumResult {
    let mut s = 0.0_f64;
    let mut statistic = Vec::new();
    let mut alarms = Vec::new();
    for (i, w) in weights.enumerate() {
        s = (s + w).max(0.0);
        statistic.push(s);
        if s >= h {
            alarms.push(i);
            if reset {
                s = 0.0;
            }
        }
    }
    CusumResult { statistic, alarms }
}

/// Reference value k for a Poisson CUSUM detecting a shift of the mean from `mu0` to `mu1`:
/// k = (mu1 - mu0) / (ln mu1 - ln mu0) (Lucas 1985).
pub fn poisson_cusum_reference(mu0: f64, mu1: f64) -> Result<f64> {
    if !(mu0 > 0.0 && mu1 > mu0 && mu1.is_finite()) {
        return Err(invalid(
            "mu",
            format!("need 0 < mu0 < mu1, got {mu0}, {mu1}"),
        ));
    }
    Ok((mu1 - mu0) / (mu1.ln() - mu0.ln()))
}

/// Upper Poisson CUSUM: S_t = max(0, S_{t-1} + x_t - k); signal when S_t >= h.
pub fn poisson_cusum(counts: &[f64], k: f64, h: f64, reset: bool) -> Result<CusumResult> {
    check_finite("counts", counts)?;
    if let Some(index) = counts.iter().position(|&x| x < 0.0) {
        return Err(StatsError::OutOfRange {
            what: "counts",
            index,
            value: counts[index],
        });
    }
    if !(k >= 0.0 && k.is_finite()) {
        return Err(invalid(
            "k",
            format!("reference value must be >= 0, got {k}"),
        ));
    }
    check_h(h)?;
    Ok(run_cusum(counts.iter().map(|&x| x - k), h, reset))
}

/// Upper Poisson CUSUM when the expected count changes from period to period (reports
/// against a tool's varying monthly uses): S_t = max(0, S_{t-1} + x_t - k_t), with k_t the
/// Lucas reference value for a shift from `expected[t]` to `ratio * expected[t]`. With a
/// constant expected count it is [`poisson_cusum`]. Periods with no exposure (expected 0)
/// add nothing.
pub fn poisson_cusum_exposure(
    counts: &[f64],
    expected: &[f64],
    ratio: f64,
    h: f64,
    reset: bool,
) -> Result<CusumResult> {
    check_finite("counts", counts)?;
    check_finite("expected", expected)?;
    if counts.len() != expected.len() {
        return Err(invalid(
            "expected",
            format!(
                "{} expected counts for {} observed",
                expected.len(),
                counts.len()
            ),
        ));
    }
    if let Some(index) = counts.iter().position(|&x| x < 0.0) {
        return Err(StatsError::OutOfRange {
            what: "counts",
            index,
            value: counts[index],
        });
    }
    if let Some(index) = expected.iter().position(|&x| x < 0.0) {
        return Err(StatsError::OutOfRange {
            what: "expected",
            index,
            value: expected[index],
        });
    }
    if !(ratio > 1.0 && ratio.is_finite()) {
        return Err(invalid(
            "ratio",
            format!("the shift to detect must be > 1, got {ratio}"),
        ));
    }
    check_h(h)?;
    let factor = (ratio - 1.0) / ratio.ln();
    Ok(run_cusum(
        counts
            .iter()
            .zip(expected)
            .map(|(&x, &mu)| if mu > 0.0 { x - mu * factor } else { 0.0 }),
        h,
        reset,
    ))
}

/// P(X >= n) for X ~ Poisson(mu): the chance of seeing at least `n` reports when `mu` are
/// expected (the scan statistic of a space-time cluster).
pub fn poisson_upper_tail(n: u64, mu: f64) -> Result<f64> {
    if !(mu >= 0.0 && mu.is_finite()) {
        return Err(invalid("mu", format!("need a finite mean >= 0, got {mu}")));
    }
    if n == 0 {
        return Ok(1.0);
    }
    if mu == 0.0 {
        return Ok(0.0);
    }
    let nf = n as f64;
    if nf > mu {
        // In the upper tail, sum the terms from n on: 1 - P(X < n) would lose every digit
        // below about 1e-16, where cluster p-values live.
        let mut log_term = nf * mu.ln() - mu - statrs::function::gamma::ln_gamma(nf + 1.0);
        let mut sum = 0.0;
        let mut k = nf;
        loop {
            let term = log_term.exp();
            sum += term;
            if term <= sum * 1e-17 || term == 0.0 {
                break;
            }
            k += 1.0;
            log_term += mu.ln() - k.ln();
        }
        return Ok(sum.clamp(0.0, 1.0));
    }
    // Otherwise P(X >= n) = 1 - Q(n, mu), with Q(n, mu) = P(chi-square with 2n df > 2 mu).
    Ok((1.0 - crate::special::chi2_sf(2.0 * mu, 2.0 * nf)).clamp(0.0, 1.0))
}

/// Summary of many Poisson CUSUM charts run without keeping their paths.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CusumSummary {
    /// Number of signals of each series.
    pub alarms: Vec<u32>,
    /// Index of the first signal of each series.
    pub first_alarm: Vec<Option<u32>>,
    /// Statistic after the last observation of each series (before any restart).
    pub final_statistic: Vec<f64>,
}

/// Upper Poisson CUSUM over many series of equal length `len`, stored one after another in
/// `counts`, with one reference value per series in `k`: the same chart as
/// [`poisson_cusum`], for monitoring thousands of stations without allocating their paths.
pub fn poisson_cusum_many(
    counts: &[f64],
    len: usize,
    k: &[f64],
    h: f64,
    reset: bool,
) -> Result<CusumSummary> {
    if len == 0 {
        return Err(invalid("len", "series length must be positive"));
    }
    crate::error::check_len("counts and series", counts.len(), k.len() * len)?;
    check_finite("k", k)?;
    if let Some(index) = k.iter().position(|&x| x < 0.0) {
        return Err(StatsError::OutOfRange {
            what: "k",
            index,
            value: k[index],
        });
    }
    check_h(h)?;
    let n = k.len();
    let mut out = CusumSummary {
        alarms: vec![0; n],
        first_alarm: vec![None; n],
        final_statistic: vec![0.0; n],
    };
    for (j, (series, &kj)) in counts.chunks_exact(len).zip(k).enumerate() {
        let mut s = 0.0_f64;
        let mut last = 0.0;
        for (t, &x) in series.iter().enumerate() {
            // Validated in the same pass (a count must be finite and non-negative).
            if !(x >= 0.0 && x.is_finite()) {
                let index = j * len + t;
                return Err(if x.is_finite() {
                    StatsError::OutOfRange {
                        what: "counts",
                        index,
                        value: x,
                    }
                } else {
                    StatsError::NonFinite {
                        what: "counts",
                        index,
                    }
                });
            }
            s = (s + x - kj).max(0.0);
            last = s;
            if s >= h {
                out.alarms[j] += 1;
                if out.first_alarm[j].is_none() {
                    out.first_alarm[j] = Some(t as u32);
                }
                if reset {
                    s = 0.0;
                }
            }
        }
        out.final_statistic[j] = last;
    }
    Ok(out)
}

/// Bernoulli CUSUM (log-likelihood ratio form) for a rise of the event probability from `p0`
/// to `p1`: weight ln(p1/p0) for an event, ln((1-p1)/(1-p0)) otherwise; signal when S >= h.
pub fn bernoulli_cusum(
    outcomes: &[bool],
    p0: f64,
    p1: f64,
    h: f64,
    reset: bool,
) -> Result<CusumResult> {
    if !(p0 > 0.0 && p1 > p0 && p1 < 1.0) {
        return Err(invalid(
            "p",
            format!("need 0 < p0 < p1 < 1, got {p0}, {p1}"),
        ));
    }
    check_h(h)?;
    let (w1, w0) = ((p1 / p0).ln(), ((1.0 - p1) / (1.0 - p0)).ln());
    Ok(run_cusum(
        outcomes.iter().map(|&y| if y { w1 } else { w0 }),
        h,
        reset,
    ))
}

/// EWMA chart path and limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EwmaResult {
    pub statistic: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// Indices where the statistic is outside its limits.
    pub alarms: Vec<usize>,
}

/// EWMA chart: z_t = lambda x_t + (1 - lambda) z_{t-1}, z_0 = mu0, limits
/// mu0 +- L sigma sqrt(lambda / (2 - lambda) (1 - (1 - lambda)^(2t))).
pub fn ewma(values: &[f64], mu0: f64, sigma: f64, lambda: f64, l: f64) -> Result<EwmaResult> {
    check_finite("values", values)?;
    if !mu0.is_finite() {
        return Err(invalid("mu0", "must be finite"));
    }
    if !(sigma > 0.0 && sigma.is_finite()) {
        return Err(invalid("sigma", format!("must be positive, got {sigma}")));
    }
    if !(lambda > 0.0 && lambda <= 1.0) {
        return Err(invalid(
            "lambda",
            format!("must be in (0, 1], got {lambda}"),
        ));
    }
    if !(l > 0.0 && l.is_finite()) {
        return Err(invalid("l", format!("must be positive, got {l}")));
    }
    let mut z = mu0;
    let mut out = EwmaResult {
        statistic: Vec::with_capacity(values.len()),
        lower: Vec::with_capacity(values.len()),
        upper: Vec::with_capacity(values.len()),
        alarms: Vec::new(),
    };
    let mut decay = 1.0_f64;
    for (i, &x) in values.iter().enumerate() {
        z = lambda * x + (1.0 - lambda) * z;
        decay *= (1.0 - lambda) * (1.0 - lambda);
        let w = l * sigma * (lambda / (2.0 - lambda) * (1.0 - decay)).sqrt();
        out.statistic.push(z);
        out.lower.push(mu0 - w);
        out.upper.push(mu0 + w);
        if z > mu0 + w || z < mu0 - w {
            out.alarms.push(i);
        }
    }
    Ok(out)
}

/// Poisson MaxSPRT log-likelihood ratio for `k` observed and `mu` expected events
/// (zero unless k > mu).
pub fn maxsprt_llr(k: u64, mu: f64) -> Result<f64> {
    if !(mu > 0.0 && mu.is_finite()) {
        return Err(invalid(
            "mu",
            format!("expected count must be positive, got {mu}"),
        ));
    }
    let kf = k as f64;
    Ok(if kf > mu {
        mu - kf + kf * (kf / mu).ln()
    } else {
        0.0
    })
}

/// Expected count at which the LLR of `i` events falls to `cv`: -i W0(-exp(-1 - cv/i)).
fn boundary_time(i: u64, cv: f64) -> Result<f64> {
    let fi = i as f64;
    Ok(-fi * lambert_w0(-(-1.0 - cv / fi).exp())?)
}

/// Probability under H0 that the continuous Poisson MaxSPRT with critical value `cv`, upper
/// limit `t_max` on expected events and at least `min_events` events signals. Exact: the
/// distribution of non-signalled paths is propagated between boundary times
/// (Kulldorff et al. 2011). Cost grows about as t_max^2 (t_max = 1000 takes well under a
/// second in a release build).
pub fn maxsprt_alpha(cv: f64, t_max: f64, min_events: u64) -> Result<f64> {
    if !(cv > 0.0 && cv.is_finite()) {
        return Err(invalid("cv", format!("must be positive, got {cv}")));
    }
    if !(t_max > 0.0 && t_max.is_finite()) {
        return Err(invalid("t_max", format!("must be positive, got {t_max}")));
    }
    let m = min_events.max(1);
    // p[k] = P(N(t) = k and no signal yet).
    let mut p = vec![1.0_f64];
    let mut t = 0.0_f64;
    let mut i = m;
    loop {
        let bt = boundary_time(i, cv)?;
        let (next_t, limit, last) = if bt < t_max {
            (bt, i as usize, false)
        } else {
            (t_max, i as usize, true)
        };
        p = poisson_step(&p, next_t - t, limit);
        t = next_t;
        if last {
            break;
        }
        i += 1;
    }
    let survive: f64 = p.iter().sum();
    Ok((1.0 - survive).clamp(0.0, 1.0))
}

/// Convolves the state distribution with Poisson(dt) increments, keeping states below `limit`.
fn poisson_step(p: &[f64], dt: f64, limit: usize) -> Vec<f64> {
    let mut inc = vec![(-dt).exp()];
    // Increments up to where the Poisson pmf is negligible (relative 1e-18) or the limit.
    let mut j = 0usize;
    while inc.len() < limit {
        j += 1;
        let next = inc[j - 1] * dt / j as f64;
        inc.push(next);
        if j as f64 > dt && next < 1e-18 {
            break;
        }
    }
    let mut out = vec![0.0; limit];
    for (k, &pk) in p.iter().enumerate() {
        if pk == 0.0 || k >= limit {
            continue;
        }
        for (d, &q) in inc.iter().enumerate() {
            let idx = k + d;
            if idx >= limit {
                break;
            }
            out[idx] += pk * q;
        }
    }
    out
}

/// Critical value of the continuous Poisson MaxSPRT for type I error `alpha`, upper limit
/// `t_max` on expected events and at least `min_events` events to signal, solved to about
/// 1e-10 on the exact alpha (which decreases in the critical value).
pub fn maxsprt_critical_value(alpha: f64, t_max: f64, min_events: u64) -> Result<f64> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(invalid("alpha", format!("must be in (0, 1), got {alpha}")));
    }
    let (mut lo, mut hi) = (1e-8_f64, 1.0_f64);
    while maxsprt_alpha(hi, t_max, min_events)? > alpha {
        hi *= 2.0;
        if hi > 1e4 {
            return Err(StatsError::NoConvergence("MaxSPRT critical value".into()));
        }
    }
    if maxsprt_alpha(lo, t_max, min_events)? < alpha {
        // Even a tiny critical value keeps alpha below target (e.g. min_events too high).
        return Err(StatsError::Undefined(format!(
            "alpha {alpha} not reachable with t_max {t_max} and min_events {min_events}"
        )));
    }
    // Illinois (modified regula falsi) on f(cv) = alpha(cv) - alpha: superlinear, so a few
    // exact alpha evaluations instead of the ~35 of plain bisection; bracketed throughout.
    let f = |cv: f64| -> Result<f64> { Ok(maxsprt_alpha(cv, t_max, min_events)? - alpha) };
    let (mut flo, mut fhi) = (f(lo)?, f(hi)?);
    let mut side = 0i8;
    let mut x = 0.5 * (lo + hi);
    for _ in 0..200 {
        x = if flo != fhi {
            (lo * fhi - hi * flo) / (fhi - flo)
        } else {
            0.5 * (lo + hi)
        };
        if !(x > lo && x < hi) {
            x = 0.5 * (lo + hi);
        }
        let fx = f(x)?;
        if fx == 0.0 || hi - lo < 1e-10 {
            break;
        }
        if fx > 0.0 {
            // alpha still too high: the root is above x.
            lo = x;
            flo = fx;
            if side == 1 {
                fhi /= 2.0;
            }
            side = 1;
        } else {
            hi = x;
            fhi = fx;
            if side == -1 {
                flo /= 2.0;
            }
            side = -1;
        }
        if (hi - lo).abs() < 1e-10 {
            x = 0.5 * (lo + hi);
            break;
        }
    }
    Ok(x)
}

/// A rooted forest of named nodes (e.g. IMDRF A11 > A1103 > A110301, or nation > province >
/// commune), given by parent indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    names: Vec<String>,
    parent: Vec<Option<usize>>,
    /// Nodes ordered so that every child comes before its parent.
    bottom_up: Vec<usize>,
}

impl Tree {
    /// Builds a tree; errors on an out-of-range parent or a cycle.
    pub fn new(names: Vec<String>, parent: Vec<Option<usize>>) -> Result<Tree> {
        crate::error::check_len("names and parents", names.len(), parent.len())?;
        let n = names.len();
        if n == 0 {
            return Err(StatsError::Empty("tree"));
        }
        let mut depth = vec![usize::MAX; n];
        for (start, start_name) in names.iter().enumerate() {
            // Climb to a root or to a node of known depth, then assign depths on the way back.
            let mut path = Vec::new();
            let mut v = start;
            while depth[v] == usize::MAX {
                if path.len() > n {
                    return Err(StatsError::InvalidInput(format!(
                        "cycle in tree at node {start_name}"
                    )));
                }
                path.push(v);
                match parent[v] {
                    Some(pv) if pv >= n => {
                        return Err(StatsError::InvalidInput(format!(
                            "parent index {pv} out of range"
                        )))
                    }
                    Some(pv) => v = pv,
                    None => break,
                }
            }
            let base = if depth[v] == usize::MAX {
                0
            } else {
                depth[v] + 1
            };
            for (d, &u) in path.iter().rev().enumerate() {
                depth[u] = base + d;
            }
        }
        let mut bottom_up: Vec<usize> = (0..n).collect();
        bottom_up.sort_by_key(|&v| std::cmp::Reverse(depth[v]));
        Ok(Tree {
            names,
            parent,
            bottom_up,
        })
    }

    /// Builds a tree from (node, parent) name pairs; parent `None` for roots.
    pub fn from_edges<S: AsRef<str>>(edges: &[(S, Option<S>)]) -> Result<Tree> {
        let mut index = std::collections::HashMap::new();
        let mut names = Vec::new();
        for (node, _) in edges {
            let k = node.as_ref().to_string();
            if index.insert(k.clone(), names.len()).is_some() {
                return Err(StatsError::InvalidInput(format!("duplicate node {k}")));
            }
            names.push(k);
        }
        let mut parent = Vec::with_capacity(names.len());
        for (_, p) in edges {
            parent.push(match p {
                Some(p) => Some(*index.get(p.as_ref()).ok_or_else(|| {
                    StatsError::InvalidInput(format!("unknown parent {}", p.as_ref()))
                })?),
                None => None,
            });
        }
        Tree::new(names, parent)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Sums node values over each node's subtree (own value plus descendants).
    fn aggregate(&self, own: &[f64], out: &mut [f64]) {
        out.copy_from_slice(own);
        for &v in &self.bottom_up {
            if let Some(p) = self.parent[v] {
                out[p] += out[v];
            }
        }
    }
}

/// Data of the tree scan, attached to nodes (usually leaves; internal nodes may carry their
/// own counts too).
#[derive(Debug, Clone, PartialEq)]
pub enum TreeScanData {
    /// Conditional Poisson: observed cases and baseline expected counts per node (expected
    /// counts are rescaled so that their total equals the total of cases).
    Poisson { cases: Vec<u64>, expected: Vec<f64> },
    /// Bernoulli: cases and controls per node.
    Bernoulli { cases: Vec<u64>, controls: Vec<u64> },
}

/// Scan result for one node (cut).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeScanNode {
    pub node: String,
    pub cases: f64,
    /// Expected cases under H0 (Poisson) or cases + controls (Bernoulli).
    pub expected_or_total: f64,
    pub relative_risk: f64,
    pub llr: f64,
    /// Monte Carlo p-value against the maximum LLR over all cuts.
    pub p_value: f64,
}

/// Tree scan output, nodes sorted by decreasing LLR.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeScanResult {
    pub nodes: Vec<TreeScanNode>,
    pub replicates: usize,
    pub seed: u64,
}

fn xlogy(x: f64, y: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x * y.ln()
    }
}

fn poisson_llr(c: f64, n: f64, total: f64) -> f64 {
    if c <= n || n <= 0.0 {
        return 0.0;
    }
    xlogy(c, c / n)
        + if total - c > 0.0 {
            xlogy(total - c, (total - c) / (total - n))
        } else {
            0.0
        }
}

fn bernoulli_llr(c: f64, n: f64, cases: f64, units: f64) -> f64 {
    let (co, no) = (cases - c, units - n);
    if n <= 0.0 || no <= 0.0 || c / n <= co / no {
        return 0.0;
    }
    let l1 = xlogy(c, c / n) + xlogy(n - c, (n - c) / n);
    let l2 = xlogy(co, co / no) + xlogy(no - co, (no - co) / no);
    let l0 = xlogy(cases, cases / units) + xlogy(units - cases, (units - cases) / units);
    (l1 + l2 - l0).max(0.0)
}

/// Kulldorff's tree-based scan statistic with Monte Carlo p-values from `replicates`
/// simulations under H0 (seeded). p = (1 + #{simulated max LLR >= observed}) / (R + 1).
///
/// Every node is a cut (its subtree). Poisson: conditional on the total, expected counts
/// rescaled to it, cases re-allocated to nodes in proportion to their own expected counts.
/// Bernoulli: the cases re-drawn without replacement among all cases and controls.
/// Cost: O(R (C log n + n)) for C cases and n nodes, fine for tens of thousands of cases.
pub fn tree_scan(
    tree: &Tree,
    data: &TreeScanData,
    replicates: usize,
    seed: u64,
) -> Result<TreeScanResult> {
    let n = tree.len();
    let (own_cases, own_base): (Vec<f64>, Vec<f64>) = match data {
        TreeScanData::Poisson { cases, expected } => {
            crate::error::check_len("cases and tree", cases.len(), n)?;
            crate::error::check_len("expected and tree", expected.len(), n)?;
            check_finite("expected", expected)?;
            if let Some(index) = expected.iter().position(|&e| e < 0.0) {
                return Err(StatsError::OutOfRange {
                    what: "expected",
                    index,
                    value: expected[index],
                });
            }
            (cases.iter().map(|&c| c as f64).collect(), expected.clone())
        }
        TreeScanData::Bernoulli { cases, controls } => {
            crate::error::check_len("cases and tree", cases.len(), n)?;
            crate::error::check_len("controls and tree", controls.len(), n)?;
            (
                cases.iter().map(|&c| c as f64).collect(),
                cases
                    .iter()
                    .zip(controls)
                    .map(|(&a, &b)| (a + b) as f64)
                    .collect(),
            )
        }
    };
    let total_cases: f64 = own_cases.iter().sum();
    let total_base: f64 = own_base.iter().sum();
    if total_cases <= 0.0 || total_base <= 0.0 {
        return Err(StatsError::Undefined(
            "tree scan needs cases and exposure".into(),
        ));
    }
    let bernoulli = matches!(data, TreeScanData::Bernoulli { .. });
    if bernoulli && total_cases >= total_base {
        return Err(StatsError::Undefined(
            "Bernoulli tree scan needs controls".into(),
        ));
    }
    if !bernoulli {
        if let Some(index) = (0..n).find(|&i| own_cases[i] > 0.0 && own_base[i] <= 0.0) {
            return Err(StatsError::InvalidInput(format!(
                "node {} has cases but no expected count",
                tree.names[index]
            )));
        }
    }
    let mut agg_base = vec![0.0; n];
    tree.aggregate(&own_base, &mut agg_base);
    let mut agg_cases = vec![0.0; n];
    let llrs = |cases: &[f64], agg: &mut [f64], out: &mut Vec<f64>| {
        tree.aggregate(cases, agg);
        out.clear();
        for v in 0..n {
            out.push(if bernoulli {
                bernoulli_llr(agg[v], agg_base[v], total_cases, total_base)
            } else {
                poisson_llr(agg[v], agg_base[v] * total_cases / total_base, total_cases)
            });
        }
    };
    let mut observed = Vec::with_capacity(n);
    llrs(&own_cases, &mut agg_cases, &mut observed);
    let observed_cases = agg_cases.clone();

    // Simulation under H0.
    let mut rng = SeededRng::new(seed);
    let mut sim_max = Vec::with_capacity(replicates);
    let mut sim_cases = vec![0.0; n];
    let mut sim_llr = Vec::with_capacity(n);
    let mut sim_agg = vec![0.0; n];
    let c_total = total_cases as u64;
    if bernoulli {
        // Units listed by node; a partial Fisher-Yates shuffle picks the cases.
        let mut units: Vec<u32> = Vec::with_capacity(total_base as usize);
        for (v, &b) in own_base.iter().enumerate() {
            units.extend(std::iter::repeat_n(v as u32, b as usize));
        }
        let nu = units.len();
        for _ in 0..replicates {
            sim_cases.iter_mut().for_each(|x| *x = 0.0);
            for j in 0..c_total as usize {
                let r = j + rng.below((nu - j) as u64) as usize;
                units.swap(j, r);
                sim_cases[units[j] as usize] += 1.0;
            }
            llrs(&sim_cases, &mut sim_agg, &mut sim_llr);
            sim_max.push(sim_llr.iter().fold(0.0_f64, |m, &x| m.max(x)));
        }
    } else {
        let mut cum = Vec::with_capacity(n);
        let mut acc = 0.0;
        for &b in &own_base {
            acc += b / total_base;
            cum.push(acc);
        }
        for _ in 0..replicates {
            sim_cases.iter_mut().for_each(|x| *x = 0.0);
            for _ in 0..c_total {
                let u = rng.next_f64();
                let mut v = cum.partition_point(|&c| c <= u).min(n - 1);
                // Skip zero-probability nodes that share a cumulative value.
                while own_base[v] <= 0.0 && v + 1 < n {
                    v += 1;
                }
                sim_cases[v] += 1.0;
            }
            llrs(&sim_cases, &mut sim_agg, &mut sim_llr);
            sim_max.push(sim_llr.iter().fold(0.0_f64, |m, &x| m.max(x)));
        }
    }
    sim_max.sort_by(|a, b| a.total_cmp(b));
    let mut nodes: Vec<TreeScanNode> = (0..n)
        .map(|v| {
            let llr = observed[v];
            // Relative tolerance so an exact tie with a simulated maximum counts as >=.
            let ge = sim_max.len() - sim_max.partition_point(|&s| s < llr * (1.0 - 1e-12));
            let exp_or_total = if bernoulli {
                agg_base[v]
            } else {
                agg_base[v] * total_cases / total_base
            };
            let rr = if bernoulli {
                let (c, nn) = (observed_cases[v], agg_base[v]);
                let (co, no) = (total_cases - c, total_base - nn);
                if nn > 0.0 && no > 0.0 && co > 0.0 {
                    (c / nn) / (co / no)
                } else {
                    f64::INFINITY
                }
            } else if exp_or_total > 0.0 {
                observed_cases[v] / exp_or_total
            } else {
                0.0
            };
            TreeScanNode {
                node: tree.names[v].clone(),
                cases: observed_cases[v],
                expected_or_total: exp_or_total,
                relative_risk: rr,
                llr,
                p_value: if llr > 0.0 {
                    (1 + ge) as f64 / (replicates + 1) as f64
                } else {
                    1.0
                },
            }
        })
        .collect();
    nodes.sort_by(|a, b| b.llr.total_cmp(&a.llr).then_with(|| a.node.cmp(&b.node)));
    Ok(TreeScanResult {
        nodes,
        replicates,
        seed,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn exposure_cusum_with_constant_expectation_is_the_lucas_chart() {
        let counts = [1.0, 0.0, 3.0, 4.0, 2.0, 5.0, 6.0];
        let k = poisson_cusum_reference(2.0, 4.0).unwrap();
        let plain = poisson_cusum(&counts, k, 4.0, false).unwrap();
        let exposure = poisson_cusum_exposure(&counts, &[2.0; 7], 2.0, 4.0, false).unwrap();
        for (a, b) in plain.statistic.iter().zip(&exposure.statistic) {
            assert!((a - b).abs() < 1e-12);
        }
        assert_eq!(plain.alarms, exposure.alarms);
    }

    #[test]
    fn exposure_cusum_scales_with_use_and_skips_empty_periods() {
        // The same 4 reports are alarming at 100 uses and ordinary at 10,000.
        let low = poisson_cusum_exposure(&[4.0, 4.0], &[0.5, 0.5], 2.0, 3.0, false).unwrap();
        assert_eq!(low.first_alarm(), Some(0));
        let high = poisson_cusum_exposure(&[4.0, 4.0], &[50.0, 50.0], 2.0, 3.0, false).unwrap();
        assert_eq!(high.first_alarm(), None);
        let empty = poisson_cusum_exposure(&[3.0], &[0.0], 2.0, 3.0, false).unwrap();
        assert_eq!(empty.statistic, vec![0.0]);
        assert!(poisson_cusum_exposure(&[1.0], &[1.0, 2.0], 2.0, 3.0, false).is_err());
        assert!(poisson_cusum_exposure(&[1.0], &[1.0], 1.0, 3.0, false).is_err());
        assert!(poisson_cusum_exposure(&[-1.0], &[1.0], 2.0, 3.0, false).is_err());
    }

    #[test]
    fn poisson_tail_matches_reference_values() {
        // scipy.stats.poisson.sf(n - 1, mu)
        let cases = [
            (1, 1.0, 0.632_120_558_828_557_7),
            (3, 0.5, 0.014_387_677_966_970_684),
            (10, 2.0, 4.649_807_501_726_386e-5),
            (5, 5.0, 0.559_506_714_934_787_9),
        ];
        for (n, mu, want) in cases {
            let got = poisson_upper_tail(n, mu).unwrap();
            assert!(
                (got - want).abs() < 1e-9 * want.max(1e-3),
                "{n} {mu}: {got} vs {want}"
            );
        }
        // Far in the tail: scipy.stats.poisson.sf(13, 0.52) = 7.466e-16, which 1 - P(X < 14)
        // gets wrong by about 10%.
        let far = poisson_upper_tail(14, 0.52).unwrap();
        assert!(
            (far / 7.466_091_676_775_215e-16 - 1.0).abs() < 1e-9,
            "{far}"
        );
        assert_eq!(poisson_upper_tail(0, 3.0).unwrap(), 1.0);
        assert_eq!(poisson_upper_tail(2, 0.0).unwrap(), 0.0);
        assert!(poisson_upper_tail(2, f64::NAN).is_err());
    }

    use super::*;

    #[test]
    fn cusum_signals_and_resets() {
        let k = poisson_cusum_reference(2.0, 4.0).expect("k");
        assert!((k - 2.0 / 2f64.ln()).abs() < 1e-15);
        let r = poisson_cusum(&[2.0, 3.0, 6.0, 7.0, 1.0, 0.0], 3.0, 6.0, true).expect("cusum");
        assert_eq!(r.statistic[..4], [0.0, 0.0, 3.0, 7.0]);
        assert_eq!(r.alarms, vec![3]);
        assert_eq!(r.statistic[4], 0.0);
        let b = bernoulli_cusum(&[true; 10], 0.1, 0.2, 3.0, false).expect("cusum");
        // Each event adds ln 2: the fifth crosses 3.
        assert_eq!(b.first_alarm(), Some(4));
        assert!(poisson_cusum(&[1.0], 1.0, 0.0, false).is_err());
    }

    #[test]
    fn many_series_match_single_charts() {
        let counts = [2.0, 3.0, 6.0, 7.0, 1.0, 0.0, 9.0, 9.0, 0.0, 0.0, 1.0, 12.0];
        let k = [3.0, 4.0];
        let m = poisson_cusum_many(&counts, 6, &k, 6.0, true).expect("many");
        for j in 0..2 {
            let one = poisson_cusum(&counts[j * 6..(j + 1) * 6], k[j], 6.0, true).expect("one");
            assert_eq!(m.alarms[j] as usize, one.alarms.len());
            assert_eq!(m.first_alarm[j].map(|x| x as usize), one.first_alarm());
            assert_eq!(m.final_statistic[j], one.statistic[5]);
        }
        assert!(poisson_cusum_many(&counts, 5, &k, 6.0, true).is_err());
        let mut bad = counts;
        bad[7] = -1.0;
        assert!(poisson_cusum_many(&bad, 6, &k, 6.0, true).is_err());
        bad[7] = f64::NAN;
        assert!(poisson_cusum_many(&bad, 6, &k, 6.0, true).is_err());
    }

    #[test]
    fn ewma_limits_approach_asymptote() {
        let r = ewma(&[0.0; 200], 0.0, 1.0, 0.2, 3.0).expect("ewma");
        let asym = 3.0 * (0.2f64 / 1.8).sqrt();
        assert!((r.upper[199] - asym).abs() < 1e-12);
        assert!((r.upper[0] - 3.0 * 0.2).abs() < 1e-12);
        assert!(r.alarms.is_empty());
        let r = ewma(&[5.0], 0.0, 1.0, 0.2, 3.0).expect("ewma");
        assert_eq!(r.alarms, vec![0]);
    }

    #[test]
    fn tree_rejects_cycles() {
        let t = Tree::new(vec!["a".into(), "b".into()], vec![Some(1), Some(0)]);
        assert!(t.is_err());
        let t = Tree::from_edges(&[
            ("A11", None),
            ("A1103", Some("A11")),
            ("A110301", Some("A1103")),
        ])
        .expect("tree");
        assert_eq!(t.len(), 3);
    }

    fn imdrf_tree() -> Tree {
        Tree::from_edges(&[
            ("A", None),
            ("A11", Some("A")),
            ("A1101", Some("A11")),
            ("A1103", Some("A11")),
            ("A12", Some("A")),
            ("A1201", Some("A12")),
            ("A1202", Some("A12")),
        ])
        .expect("tree")
    }

    #[test]
    fn tree_scan_finds_planted_cluster() {
        let t = imdrf_tree();
        // Expected counts equal on the four leaves; A1103 has a strong excess.
        let cases = vec![0, 0, 10, 60, 0, 10, 10];
        let expected = vec![0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
        let data = TreeScanData::Poisson { cases, expected };
        let r = tree_scan(&t, &data, 999, 7).expect("scan");
        assert_eq!(r.nodes[0].node, "A1103");
        assert!(r.nodes[0].p_value <= 0.002, "{:?}", r.nodes[0]);
        // Conditional model: the root holds all cases, so its LLR is 0 and p = 1.
        let root = r.nodes.iter().find(|n| n.node == "A").expect("root");
        assert_eq!((root.llr, root.p_value), (0.0, 1.0));
        // Same seed, same answer.
        assert_eq!(r, tree_scan(&t, &data, 999, 7).expect("scan"));
    }

    #[test]
    fn tree_scan_null_is_not_significant() {
        let t = imdrf_tree();
        let data = TreeScanData::Bernoulli {
            cases: vec![0, 0, 10, 10, 0, 10, 10],
            controls: vec![0, 0, 90, 90, 0, 90, 90],
        };
        let r = tree_scan(&t, &data, 199, 3).expect("scan");
        assert!(r.nodes.iter().all(|n| n.llr == 0.0 && n.p_value == 1.0));
        let data = TreeScanData::Bernoulli {
            cases: vec![0, 0, 40, 10, 0, 10, 10],
            controls: vec![0, 0, 60, 90, 0, 90, 90],
        };
        let r = tree_scan(&t, &data, 199, 3).expect("scan");
        assert_eq!(r.nodes[0].node, "A1101");
        assert!(r.nodes[0].p_value < 0.05);
        assert!(r.nodes[0].relative_risk > 3.0);
    }
}
