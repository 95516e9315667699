//! MGPS (DuMouchel 1999): a two-component gamma mixture prior on the reporting ratio lambda,
//! `P Gamma(a1, b1) + (1-P) Gamma(a2, b2)` (shape, rate), with N | lambda ~ Poisson(lambda E).
//!
//! Conventions (statistics.md):
//! - Hyperparameters by maximum likelihood over the observed cells (N >= 1) with the
//!   zero-truncated likelihood of each component, as openEBGM does (vigipy truncates the whole
//!   mixture and lands elsewhere). The optimiser is BFGS with an analytic gradient on
//!   (ln a1, ln b1, ln a2, ln b2, logit P), run from several starts; the best likelihood wins.
//! - Above `squash_above` cells (default one million) the data are squashed before fitting:
//!   within each N, cells sorted by E are merged in consecutive groups of `squash_bin` with
//!   their mean E and a weight equal to the group size.
//! - Components are reported in a fixed order: component 1 has the larger prior mean a/b.
//! - Qn is the posterior weight of component 1 (untruncated negative binomial densities);
//!   EBGM = exp(E[ln lambda | N]); EB05 and EB95 are quantiles of the posterior mixture of
//!   gammas solved to about 1e-12 relative (Newton from the dominant component), not rounded. Signal: EB05 >= 2.

use crate::error::{invalid, Result, StatsError};
use crate::special::{gamma_quantile, UnitGamma};
use serde::Serialize;
use statrs::function::gamma::{digamma, ln_gamma};

/// Prior hyperparameters (rates, not scales).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GammaMixture {
    pub a1: f64,
    pub b1: f64,
    pub a2: f64,
    pub b2: f64,
    pub p: f64,
}

impl GammaMixture {
    fn check(&self) -> Result<()> {
        let ok = [self.a1, self.b1, self.a2, self.b2]
            .iter()
            .all(|v| *v > 0.0 && v.is_finite())
            && self.p > 0.0
            && self.p < 1.0;
        if !ok {
            return Err(invalid(
                "prior",
                format!("needs positive shapes and rates and 0 < P < 1: {self:?}"),
            ));
        }
        Ok(())
    }

    /// Component 1 gets the larger prior mean; the mixture is unchanged.
    fn canonical(self) -> Self {
        if self.a1 / self.b1 >= self.a2 / self.b2 {
            self
        } else {
            GammaMixture {
                a1: self.a2,
                b1: self.b2,
                a2: self.a1,
                b2: self.b1,
                p: 1.0 - self.p,
            }
        }
    }
}

/// Log of the negative binomial probability of N with size a and prob b/(b+E).
fn ln_nb(n: f64, e: f64, a: f64, b: f64) -> f64 {
    ln_gamma(a + n) - ln_gamma(a) - ln_gamma(n + 1.0)
        + a * (b / (b + e)).ln()
        + n * (e / (b + e)).ln()
}

/// Empirical Bayes posterior summaries of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ebgm {
    pub n: u64,
    pub expected: f64,
    /// Posterior weight of component 1.
    pub qn: f64,
    pub ebgm: f64,
    pub eb05: f64,
    pub eb95: f64,
    /// EB05 >= 2.
    pub signal: bool,
}

/// Posterior weight of component 1 for a cell.
pub fn qn(prior: &GammaMixture, n: u64, e: f64) -> Result<f64> {
    prior.check()?;
    check_e(e)?;
    let nf = n as f64;
    let l1 = prior.p.ln() + ln_nb(nf, e, prior.a1, prior.b1);
    let l2 = (1.0 - prior.p).ln() + ln_nb(nf, e, prior.a2, prior.b2);
    // Logistic of the log odds is stable for extreme weights.
    Ok(1.0 / (1.0 + (l2 - l1).exp()))
}

fn check_e(e: f64) -> Result<()> {
    if !(e > 0.0 && e.is_finite()) {
        return Err(invalid(
            "expected",
            format!("must be positive and finite, got {e}"),
        ));
    }
    Ok(())
}

/// Quantile of the posterior mixture of gammas at probability `prob`.
pub fn posterior_quantile(prior: &GammaMixture, n: u64, e: f64, prob: f64) -> Result<f64> {
    let q = qn(prior, n, e)?;
    mixture_quantile(prior, q, n as f64, e, prob)
}

fn mixture_quantile(prior: &GammaMixture, q: f64, n: f64, e: f64, prob: f64) -> Result<f64> {
    let (s1, r1) = (prior.a1 + n, prior.b1 + e);
    let (s2, r2) = (prior.a2 + n, prior.b2 + e);
    // A component with weight below 1e-13 moves the mixture CDF by less than 1e-13: its
    // quantile is not needed.
    if q >= 1.0 - 1e-13 {
        return gamma_quantile(prob, s1, r1);
    }
    if q <= 1e-13 {
        return gamma_quantile(prob, s2, r2);
    }
    let (g1, g2) = (UnitGamma::new(s1), UnitGamma::new(s2));
    // Newton on the mixture CDF from the dominant component's own quantile: posterior
    // weights are mostly near 0 or 1, and then one or two steps suffice (the other
    // component's quantile is never needed). A bracket built from the signs seen keeps the
    // iteration safe when the weights are balanced.
    let mut x = if q >= 0.5 {
        gamma_quantile(prob, s1, r1)?
    } else {
        gamma_quantile(prob, s2, r2)?
    };
    let (mut lo, mut hi) = (0.0_f64, f64::INFINITY);
    for _ in 0..300 {
        let (p1, d1) = g1.cdf_pdf(r1 * x);
        let (p2, d2) = g2.cdf_pdf(r2 * x);
        let f = q * p1 + (1.0 - q) * p2 - prob;
        if f == 0.0 {
            return Ok(x);
        }
        if f < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let dens = q * r1 * d1 + (1.0 - q) * r2 * d2;
        let mut next = x - f / dens;
        if !(next > lo && next < hi) || !(dens > 0.0) {
            next = if hi.is_finite() {
                0.5 * (lo + hi)
            } else {
                2.0 * x
            };
        }
        // Newton converges quadratically here, so a step of 1e-11 leaves an error far below
        // the 1e-8 that statistics.md asks for; a bisection step bounds the error by itself.
        if (next - x).abs() <= 1e-11 * x || hi - lo <= 1e-14 * x {
            return Ok(next);
        }
        x = next;
    }
    Ok(x)
}

/// Qn, EBGM, EB05 and EB95 of one cell.
pub fn ebgm(prior: &GammaMixture, n: u64, e: f64) -> Result<Ebgm> {
    let q = qn(prior, n, e)?;
    let nf = n as f64;
    let m1 = digamma(prior.a1 + nf) - (prior.b1 + e).ln();
    let m2 = digamma(prior.a2 + nf) - (prior.b2 + e).ln();
    let eb05 = mixture_quantile(prior, q, nf, e, 0.05)?;
    Ok(Ebgm {
        n,
        expected: e,
        qn: q,
        ebgm: (q * m1 + (1.0 - q) * m2).exp(),
        eb05,
        eb95: mixture_quantile(prior, q, nf, e, 0.95)?,
        signal: eb05 >= 2.0,
    })
}

/// Options of the hyperparameter fit.
#[derive(Debug, Clone, PartialEq)]
pub struct MgpsOptions {
    /// Starting points; the best final likelihood wins.
    pub starts: Vec<GammaMixture>,
    pub max_iterations: usize,
    /// Squash when there are more cells than this.
    pub squash_above: usize,
    /// Cells per squashed group.
    pub squash_bin: usize,
    /// With more fitted points than this, the starts are first run on a copy in which
    /// cells of equal N and E within 1% are merged, and only the best is then polished on
    /// the full data.
    pub multistart_points: usize,
    /// Threads for the likelihood (the caller decides; the crate reads no environment).
    pub threads: usize,
}

impl Default for MgpsOptions {
    fn default() -> Self {
        // The five starts suggested in openEBGM's documentation.
        let starts = [
            (0.2, 0.1, 2.0, 4.0, 1.0 / 3.0),
            (0.1, 0.1, 10.0, 10.0, 0.2),
            (0.3, 0.5, 6.0, 6.0, 0.5),
            (0.5, 0.3, 12.0, 12.0, 0.8),
            (0.2, 0.2, 5.0, 5.0, 0.4),
        ]
        .iter()
        .map(|&(a1, b1, a2, b2, p)| GammaMixture { a1, b1, a2, b2, p })
        .collect();
        MgpsOptions {
            starts,
            max_iterations: 500,
            squash_above: 1_000_000,
            squash_bin: 50,
            multistart_points: 20_000,
            threads: 1,
        }
    }
}

/// Result of the hyperparameter fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MgpsFit {
    pub prior: GammaMixture,
    /// Maximised log-likelihood (zero-truncated per component, including the -ln N! terms),
    /// over the data actually fitted (squashed, if it was).
    pub log_likelihood: f64,
    pub converged: bool,
    pub iterations: usize,
    pub starts: usize,
    pub cells: usize,
    /// Number of weighted points fitted: smaller than `cells` when squashed, and also when
    /// cells share both N and E (such cells are merged exactly, with their count as weight).
    pub fitted_points: usize,
    pub squashed: bool,
    /// True when a parameter ended on the search box (a component is effectively a point
    /// mass or P is effectively 0 or 1): the data show little over-dispersion.
    pub at_bound: bool,
}

/// ln Gamma(a + n) - ln Gamma(a) and psi(a + n) - psi(a). For small n the finite sums are
/// exact and free of the cancellation the differences suffer when a is large.
fn ln_rising(a: f64, n: f64) -> (f64, f64) {
    if n <= 64.0 {
        let mut l = 0.0;
        let mut d = 0.0;
        let mut k = 0.0;
        while k < n {
            l += (a + k).ln();
            d += 1.0 / (a + k);
            k += 1.0;
        }
        (l, d)
    } else {
        (ln_gamma(a + n) - ln_gamma(a), digamma(a + n) - digamma(a))
    }
}

/// Weighted cells grouped by N for the likelihood.
struct Data {
    /// (N, start, end) ranges into `e`, `ln_e`, `w`.
    groups: Vec<(f64, usize, usize)>,
    e: Vec<f64>,
    ln_e: Vec<f64>,
    w: Vec<f64>,
    ln_fact: Vec<f64>,
}

impl Data {
    fn new(n: &[u64], e: &[f64], squash_above: usize, squash_bin: usize) -> Result<(Data, bool)> {
        let mut pairs: Vec<(u64, f64)> = n.iter().copied().zip(e.iter().copied()).collect();
        pairs.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)));
        let squash = pairs.len() > squash_above && squash_bin > 1;
        let mut data = Data {
            groups: Vec::new(),
            e: Vec::new(),
            ln_e: Vec::new(),
            w: Vec::new(),
            ln_fact: Vec::new(),
        };
        let mut i = 0;
        while i < pairs.len() {
            let nn = pairs[i].0;
            let start = data.e.len();
            let mut j = i;
            while j < pairs.len() && pairs[j].0 == nn {
                j += 1;
            }
            if squash {
                for chunk in pairs[i..j].chunks(squash_bin) {
                    let m = chunk.iter().map(|c| c.1).sum::<f64>() / chunk.len() as f64;
                    data.e.push(m);
                    data.w.push(chunk.len() as f64);
                }
            } else {
                // Cells with the same N and the same E (common: E is a product of margins)
                // are one point with a weight: exact, and far fewer points to evaluate.
                for c in &pairs[i..j] {
                    match (data.e.last(), data.w.last_mut()) {
                        (Some(&last), Some(w)) if data.e.len() > start && last == c.1 => *w += 1.0,
                        _ => {
                            data.e.push(c.1);
                            data.w.push(1.0);
                        }
                    }
                }
            }
            data.groups.push((nn as f64, start, data.e.len()));
            data.ln_fact.push(ln_gamma(nn as f64 + 1.0));
            i = j;
        }
        data.ln_e = data.e.iter().map(|x| x.ln()).collect();
        Ok((data, squash))
    }

    /// A copy in which consecutive points of one N whose E lie within `width` (relative) of
    /// the first of their run are merged, with their weighted mean E and summed weight.
    fn merged_within(&self, width: f64) -> Data {
        let mut out = Data {
            groups: Vec::with_capacity(self.groups.len()),
            e: Vec::new(),
            ln_e: Vec::new(),
            w: Vec::new(),
            ln_fact: self.ln_fact.clone(),
        };
        for &(nn, s, t) in &self.groups {
            let start = out.e.len();
            let mut i = s;
            while i < t {
                let limit = self.e[i] * (1.0 + width);
                let (mut sum_we, mut sum_w) = (0.0, 0.0);
                while i < t && self.e[i] <= limit {
                    sum_we += self.w[i] * self.e[i];
                    sum_w += self.w[i];
                    i += 1;
                }
                out.e.push(sum_we / sum_w);
                out.w.push(sum_w);
            }
            out.groups.push((nn, start, out.e.len()));
        }
        out.ln_e = out.e.iter().map(|x| x.ln()).collect();
        out
    }

    /// Log-likelihood and its gradient in (ln a1, ln b1, ln a2, ln b2, logit P), the
    /// points split over `threads` scoped threads (sums are added in a fixed order, so the
    /// result does not depend on scheduling).
    fn eval(&self, th: &GammaMixture, threads: usize) -> (f64, [f64; 5]) {
        let len = self.e.len();
        let threads = threads.clamp(1, 64).min(len / 20_000 + 1);
        if threads <= 1 {
            return self.eval_range(th, 0, len);
        }
        let chunk = len.div_ceil(threads);
        let parts: Vec<(f64, [f64; 5])> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (lo, hi) = (t * chunk, ((t + 1) * chunk).min(len));
                    sc.spawn(move || self.eval_range(th, lo, hi))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or((f64::NAN, [f64::NAN; 5])))
                .collect()
        });
        let mut ll = 0.0;
        let mut g = [0.0; 5];
        for (l, gg) in parts {
            ll += l;
            for i in 0..5 {
                g[i] += gg[i];
            }
        }
        (ll, g)
    }

    fn eval_range(&self, th: &GammaMixture, lo: usize, hi: usize) -> (f64, [f64; 5]) {
        let GammaMixture { a1, b1, a2, b2, p } = *th;
        let (lp, lq) = (p.ln(), (1.0 - p).ln());
        let (ln_b1, ln_b2) = (b1.ln(), b2.ln());
        let mut ll = 0.0;
        let mut g = [0.0; 5];
        for (k, &(nn, s, t)) in self.groups.iter().enumerate() {
            let (s, t) = (s.max(lo), t.min(hi));
            if s >= t {
                continue;
            }
            // Per-N terms computed once per group.
            let (r1, psi1) = ln_rising(a1, nn);
            let (r2, psi2) = ln_rising(a2, nn);
            let (c1, c2) = (r1 - self.ln_fact[k], r2 - self.ln_fact[k]);
            for i in s..t {
                let (e, le, w) = (self.e[i], self.ln_e[i], self.w[i]);
                // Log of the truncated NB density and its derivatives in ln a and ln b,
                // written to stay accurate when a and b are large (a near point mass).
                let comp = |a: f64, b: f64, ln_b: f64, c: f64, psi: f64| {
                    let l1p = (e / b).ln_1p();
                    let lr = -l1p;
                    let lbe = ln_b + l1p;
                    let ar = a * lr;
                    // 1 - f0 with f0 = r^a, accurate when f0 is near 1.
                    let one_m_f0 = -ar.exp_m1();
                    let f0 = 1.0 - one_m_f0;
                    let lg = c + ar + nn * (le - lbe) - one_m_f0.ln();
                    let d_ln_a = a * (psi + lr / one_m_f0);
                    let d_ln_b = (a * e - nn * b) / (b + e) + f0 * a * e / ((b + e) * one_m_f0);
                    (lg, d_ln_a, d_ln_b)
                };
                let (lg1, da1, db1) = comp(a1, b1, ln_b1, c1, psi1);
                let (lg2, da2, db2) = comp(a2, b2, ln_b2, c2, psi2);
                let (x1, x2) = (lp + lg1, lq + lg2);
                // log(e^x1 + e^x2) and the two weights from one exp and one ln_1p.
                let (hi, d) = if x1 >= x2 {
                    (x1, x2 - x1)
                } else {
                    (x2, x1 - x2)
                };
                let t = d.exp();
                let lmix = hi + t.ln_1p();
                let (q_hi, q_lo) = (1.0 / (1.0 + t), t / (1.0 + t));
                let (q1, q2) = if x1 >= x2 { (q_hi, q_lo) } else { (q_lo, q_hi) };
                ll += w * lmix;
                g[0] += w * q1 * da1;
                g[1] += w * q1 * db1;
                g[2] += w * q2 * da2;
                g[3] += w * q2 * db2;
                g[4] += w * (q1 * (1.0 - p) - q2 * p);
            }
        }
        (ll, g)
    }
}

fn to_theta(x: &[f64; 5]) -> GammaMixture {
    GammaMixture {
        a1: x[0].exp(),
        b1: x[1].exp(),
        a2: x[2].exp(),
        b2: x[3].exp(),
        p: 1.0 / (1.0 + (-x[4]).exp()),
    }
}

fn from_theta(t: &GammaMixture) -> [f64; 5] {
    [
        t.a1.ln(),
        t.b1.ln(),
        t.a2.ln(),
        t.b2.ln(),
        (t.p / (1.0 - t.p)).ln(),
    ]
}

/// Box on the transformed parameters: shapes and rates in [e^-12, e^12] (about 6e-6 to
/// 1.6e5), logit P in [-12, 12]. Without it, data with little over-dispersion drive a
/// component to a point mass (shape and rate to infinity), where the posterior quantiles
/// become very slow to evaluate and the fit never converges; at the bound the component is
/// already a point mass for every practical purpose. A fit on the bound is reported.
const BOUND: f64 = 12.0;

/// Result of one BFGS run: point, log-likelihood, converged, iterations, inverse Hessian.
type BfgsRun = ([f64; 5], f64, bool, usize, [[f64; 5]; 5]);

/// Projected BFGS maximisation from one start, inside [`BOUND`], optionally starting from an
/// inverse Hessian learnt on a squashed copy of the data (the objective is normalised by the
/// total weight, so its curvature carries over).
fn bfgs(
    data: &Data,
    start: &GammaMixture,
    h0: Option<[[f64; 5]; 5]>,
    max_iter: usize,
    threads: usize,
) -> BfgsRun {
    let scale = data.w.iter().sum::<f64>().max(1.0);
    // Minimise f = -ll / scale.
    let eval = |x: &[f64; 5]| -> Option<(f64, [f64; 5])> {
        if x.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let (ll, g) = data.eval(&to_theta(x), threads);
        if !ll.is_finite() || g.iter().any(|v| !v.is_finite()) {
            return None;
        }
        Some((-ll / scale, g.map(|v| -v / scale)))
    };
    let clamp = |x: [f64; 5]| x.map(|v| v.clamp(-BOUND, BOUND));
    // Coordinates held at a bound by a gradient pointing outwards.
    let active = |x: &[f64; 5], g: &[f64; 5]| -> [bool; 5] {
        std::array::from_fn(|i| (x[i] <= -BOUND && g[i] > 0.0) || (x[i] >= BOUND && g[i] < 0.0))
    };
    let identity = || {
        let mut h = [[0.0; 5]; 5];
        for (i, row) in h.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        h
    };
    let mut x = clamp(from_theta(start));
    let Some((mut f, mut g)) = eval(&x) else {
        return (x, f64::NEG_INFINITY, false, 0, identity());
    };
    let mut h = h0.unwrap_or_else(identity);
    let mut converged = false;
    let mut it = 0;
    let mut last_act = active(&x, &g);
    let mut stalled = 0;
    while it < max_iter {
        it += 1;
        let act = active(&x, &g);
        if act != last_act {
            // The curvature learnt with other free coordinates no longer applies.
            h = identity();
            last_act = act;
        }
        let gp: [f64; 5] = std::array::from_fn(|i| if act[i] { 0.0 } else { g[i] });
        let gnorm = gp.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        if gnorm < 1e-10 {
            converged = true;
            break;
        }
        let mut d: [f64; 5] = std::array::from_fn(|i| {
            if act[i] {
                0.0
            } else {
                -(0..5)
                    .filter(|&j| !act[j])
                    .map(|j| h[i][j] * g[j])
                    .sum::<f64>()
            }
        });
        let mut slope: f64 = d.iter().zip(&g).map(|(a, b)| a * b).sum();
        if slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            h = identity();
            d = gp.map(|v| -v);
            slope = -gp.iter().map(|v| v * v).sum::<f64>();
        }
        let dnorm = d.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let mut step = if dnorm > 2.0 { 2.0 / dnorm } else { 1.0 };
        let mut accepted = None;
        for _ in 0..60 {
            let xn = clamp(std::array::from_fn(|i| x[i] + step * d[i]));
            if let Some((fnew, gnew)) = eval(&xn) {
                // Armijo condition on the projected step actually taken.
                let taken: f64 = (0..5).map(|i| (xn[i] - x[i]) * g[i]).sum();
                if taken < 0.0 && fnew <= f + 1e-4 * taken {
                    accepted = Some((xn, fnew, gnew));
                    break;
                }
            }
            step *= 0.5;
        }
        let Some((xn, fnew, gnew)) = accepted else {
            // No decrease possible at machine precision: at a minimum if the gradient is small.
            converged = gnorm < 1e-6;
            break;
        };
        let s: [f64; 5] = std::array::from_fn(|i| xn[i] - x[i]);
        let y: [f64; 5] = std::array::from_fn(|i| gnew[i] - g[i]);
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        let df = f - fnew;
        x = xn;
        f = fnew;
        g = gnew;
        if sy > 1e-300 {
            // BFGS update of the inverse Hessian.
            let hy: [f64; 5] = std::array::from_fn(|i| (0..5).map(|j| h[i][j] * y[j]).sum());
            let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
            let rho = 1.0 / sy;
            for i in 0..5 {
                for j in 0..5 {
                    h[i][j] += -rho * (hy[i] * s[j] + s[i] * hy[j])
                        + (rho * rho * yhy + rho) * s[i] * s[j];
                }
            }
        }
        if df.abs() <= 1e-16 * f.abs().max(1e-300) && gnorm < 1e-7 {
            converged = true;
            break;
        }
        // Creeping along a flat ridge towards the bound: stop after 5 steps that each gain
        // less than 1e-12 of the log-likelihood.
        stalled = if df.abs() <= 1e-12 * f.abs().max(1e-300) {
            stalled + 1
        } else {
            0
        };
        if stalled >= 5 {
            converged = gnorm < 1e-6;
            break;
        }
    }
    (x, -f * scale, converged, it, h)
}

/// Fits the prior by maximum likelihood over cells with N >= 1.
pub fn fit_prior(n: &[u64], e: &[f64], opts: &MgpsOptions) -> Result<MgpsFit> {
    crate::error::check_len("n and e", n.len(), e.len())?;
    let keep: Vec<usize> = (0..n.len()).filter(|&i| n[i] >= 1).collect();
    if keep.len() < 5 {
        return Err(StatsError::Undefined(format!(
            "MGPS fit needs at least 5 observed cells, got {}",
            keep.len()
        )));
    }
    for &i in &keep {
        check_e(e[i])?;
    }
    if opts.starts.is_empty() {
        return Err(invalid("starts", "need at least one starting point"));
    }
    for s in &opts.starts {
        s.check()?;
    }
    let nn: Vec<u64> = keep.iter().map(|&i| n[i]).collect();
    let ee: Vec<f64> = keep.iter().map(|&i| e[i]).collect();
    let (data, squashed) = Data::new(&nn, &ee, opts.squash_above, opts.squash_bin)?;
    // Large data: compare the starts on a copy where cells with the same N and E within 1%
    // of each other are merged (the likelihood barely changes, unlike with groups of a
    // fixed size, whose optimum can lie far from the data's), then polish the winner on the
    // data, from the curvature learnt on the copy.
    let coarse = if data.e.len() > opts.multistart_points.max(1) && opts.starts.len() > 1 {
        Some(Data::merged_within(&data, 0.01))
    } else {
        None
    };
    let mut best: Option<BfgsRun> = None;
    for s in &opts.starts {
        let r = bfgs(
            coarse.as_ref().unwrap_or(&data),
            s,
            None,
            opts.max_iterations,
            opts.threads,
        );
        if r.1.is_finite() && best.as_ref().is_none_or(|b| r.1 > b.1) {
            best = Some(r);
        }
    }
    if coarse.is_some() {
        if let Some((x, _, _, _, h)) = best {
            let r = bfgs(
                &data,
                &to_theta(&x),
                Some(h),
                opts.max_iterations,
                opts.threads,
            );
            best = r.1.is_finite().then_some(r);
        }
    }
    let Some((x, ll, converged, iterations, _)) = best else {
        return Err(StatsError::NoConvergence(
            "MGPS likelihood not finite from any start".into(),
        ));
    };
    let prior = to_theta(&x);
    prior.check().map_err(|_| {
        StatsError::NoConvergence(format!("MGPS fit reached the boundary: {prior:?}"))
    })?;
    Ok(MgpsFit {
        prior: prior.canonical(),
        log_likelihood: ll,
        converged,
        iterations,
        starts: opts.starts.len(),
        cells: keep.len(),
        fitted_points: data.e.len(),
        squashed,
        at_bound: x.iter().any(|v| v.abs() >= BOUND - 1e-3),
    })
}

/// Log-likelihood (zero-truncated per component) of a prior on the given cells, for checks.
pub fn log_likelihood(prior: &GammaMixture, n: &[u64], e: &[f64]) -> Result<f64> {
    prior.check()?;
    crate::error::check_len("n and e", n.len(), e.len())?;
    let keep: Vec<usize> = (0..n.len()).filter(|&i| n[i] >= 1).collect();
    for &i in &keep {
        check_e(e[i])?;
    }
    let nn: Vec<u64> = keep.iter().map(|&i| n[i]).collect();
    let ee: Vec<f64> = keep.iter().map(|&i| e[i]).collect();
    let (data, _) = Data::new(&nn, &ee, usize::MAX, 1)?;
    Ok(data.eval(prior, 1).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let n = [1u64, 1, 2, 3, 1, 5, 8, 1, 2, 13];
        let e = [0.1, 0.5, 0.3, 2.0, 0.05, 1.5, 0.4, 3.0, 0.9, 1.1];
        let (data, _) = Data::new(&n, &e, usize::MAX, 1).expect("data");
        let th = GammaMixture {
            a1: 2.1,
            b1: 0.4,
            a2: 0.7,
            b2: 1.3,
            p: 0.3,
        };
        let x = from_theta(&th);
        let (_, g) = data.eval(&th, 1);
        for k in 0..5 {
            let h = 1e-6;
            let mut xp = x;
            xp[k] += h;
            let mut xm = x;
            xm[k] -= h;
            let fd = (data.eval(&to_theta(&xp), 1).0 - data.eval(&to_theta(&xm), 1).0) / (2.0 * h);
            assert!(
                (fd - g[k]).abs() < 1e-6 * (1.0 + fd.abs()),
                "k={k} fd={fd} g={}",
                g[k]
            );
        }
    }

    #[test]
    fn posterior_quantile_inverts_the_mixture_cdf() {
        // Checked with statrs' own incomplete gamma, independent of the solver's.
        use statrs::function::gamma::gamma_lr;
        let priors = [
            GammaMixture {
                a1: 3.25379064,
                b1: 0.39988801,
                a2: 2.02613219,
                b2: 1.90808279,
                p: 0.06534557,
            },
            // A small-shape component, as fitted on the benchmark reports.
            GammaMixture {
                a1: 2.1314138,
                b1: 2.2833949,
                a2: 0.0266517,
                b2: 0.0782189,
                p: 0.9729012,
            },
        ];
        for prior in &priors {
            for &n in &[1u64, 2, 3, 7, 30, 400] {
                for &e in &[1e-4, 0.03, 0.4, 3.0, 40.0] {
                    let q = qn(prior, n, e).expect("qn");
                    let nf = n as f64;
                    let cdf = |x: f64| {
                        q * gamma_lr(prior.a1 + nf, (prior.b1 + e) * x)
                            + (1.0 - q) * gamma_lr(prior.a2 + nf, (prior.b2 + e) * x)
                    };
                    for &prob in &[0.05, 0.95] {
                        let x = posterior_quantile(prior, n, e, prob).expect("quantile");
                        assert!(
                            (cdf(x) - prob).abs() < 1e-11,
                            "n={n} e={e} prob={prob} x={x} cdf={} q={q}",
                            cdf(x)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn poisson_data_fit_stops_at_the_bound() {
        // No over-dispersion: the ML prior degenerates to point masses. The fit must stop
        // at the search box, say so, and still give usable posteriors quickly.
        let mut rng = crate::rng::SeededRng::new(5);
        let mut n = Vec::new();
        let mut e = Vec::new();
        for _ in 0..400 {
            let ex = 0.5 + 10.0 * rng.next_f64();
            // Poisson(ex) by inversion.
            let (mut k, mut p, u) = (0u64, (-ex).exp(), rng.next_f64());
            let mut cdf = p;
            while u > cdf {
                k += 1;
                p *= ex / k as f64;
                cdf += p;
            }
            if k > 0 {
                n.push(k);
                e.push(ex);
            }
        }
        let fit = fit_prior(&n, &e, &MgpsOptions::default()).expect("fit");
        assert!(fit.at_bound, "{fit:?}");
        let r = ebgm(&fit.prior, n[0], e[0]).expect("posterior");
        // (EBGM, a geometric mean, need not lie between EB05 and EB95 for a mixture.)
        assert!(r.eb05 < r.eb95, "{fit:?} {r:?}");
        // Everything shrinks to about 1.
        assert!((r.ebgm - 1.0).abs() < 0.2, "{r:?}");
    }
}
