//! Special functions and quantiles used by several methods. Quantiles are solved by
//! safeguarded Newton/Halley iterations to near machine precision rather than generic
//! bisection, which is both slower and less accurate.

use crate::error::{invalid, Result};
use statrs::function::beta::{beta_reg, inv_beta_reg, ln_beta};
use statrs::function::erf::{erfc, erfc_inv};
use statrs::function::gamma::{gamma_ur, ln_gamma};

/// Standard normal cumulative distribution function.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal upper tail, accurate far into the tail.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Standard normal quantile for `p` in (0, 1).
pub fn normal_quantile(p: f64) -> Result<f64> {
    if !(p > 0.0 && p < 1.0) {
        return Err(invalid(
            "p",
            format!("normal quantile needs p in (0, 1), got {p}"),
        ));
    }
    Ok(-std::f64::consts::SQRT_2 * erfc_inv(2.0 * p))
}

/// Two-sided critical value z_{1 - (1-level)/2}, e.g. 1.959964 for 0.95.
pub fn z_for_level(level: f64) -> Result<f64> {
    crate::error::check_level(level)?;
    if level == 0.95 {
        // R qnorm(0.975); the usual level, asked for once per cell in large tables.
        return Ok(1.959_963_984_540_054);
    }
    normal_quantile(1.0 - (1.0 - level) / 2.0)
}

/// Upper tail of the chi-square distribution with `df` degrees of freedom.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    // (df = 1 as erfc(sqrt(x/2)) would be faster, but statrs' erfc is only good to about
    // 1e-10 relative, worse than its incomplete gamma.)
    if df == 2.0 {
        return (-x / 2.0).exp();
    }
    gamma_ur(df / 2.0, x / 2.0)
}

/// Gamma(shape, 1) prepared for many evaluations of its distribution function: ln Gamma(shape)
/// is computed once, not at every call as a generic incomplete gamma does. Quantile solvers
/// call it several times per cell over hundreds of thousands of cells.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitGamma {
    shape: f64,
    ln_gamma_shape: f64,
}

impl UnitGamma {
    /// `shape` must be positive and finite (checked by the callers).
    pub(crate) fn new(shape: f64) -> Self {
        UnitGamma {
            shape,
            ln_gamma_shape: ln_gamma(shape),
        }
    }

    /// Regularised lower incomplete gamma P(shape, x) and the density at x, sharing one
    /// exponential: the series below shape + 1, the continued fraction for the upper tail
    /// (modified Lentz) above, both to about 1e-15 relative.
    pub(crate) fn cdf_pdf(&self, x: f64) -> (f64, f64) {
        let a = self.shape;
        if !(x > 0.0) {
            return (0.0, 0.0);
        }
        if x == f64::INFINITY {
            return (1.0, 0.0);
        }
        // x^a e^-x / Gamma(a): the common factor of the series, the fraction and the density.
        let ln_front = a * x.ln() - x - self.ln_gamma_shape;
        let front = ln_front.exp();
        let pdf = front / x;
        if x < a + 1.0 {
            let (mut term, mut sum, mut den) = (1.0 / a, 1.0 / a, a);
            for _ in 0..100_000 {
                den += 1.0;
                term *= x / den;
                sum += term;
                if term <= sum * 1e-16 {
                    break;
                }
            }
            ((front * sum).min(1.0), pdf)
        } else {
            const TINY: f64 = 1e-300;
            let mut b = x + 1.0 - a;
            let mut c = 1.0 / TINY;
            let mut d = 1.0 / b;
            let mut h = d;
            for i in 1..100_000 {
                let an = -(i as f64) * (i as f64 - a);
                b += 2.0;
                d = an * d + b;
                if d.abs() < TINY {
                    d = TINY;
                }
                c = b + an / c;
                if c.abs() < TINY {
                    c = TINY;
                }
                d = 1.0 / d;
                let step = d * c;
                h *= step;
                if (step - 1.0).abs() <= 1e-16 {
                    break;
                }
            }
            ((1.0 - front * h).max(0.0), pdf)
        }
    }
}

/// Quantile of Gamma(shape, rate) at probability `p` in (0, 1): Halley's method started
/// from the Wilson-Hilferty approximation, kept inside a bracket so it cannot diverge.
pub fn gamma_quantile(p: f64, shape: f64, rate: f64) -> Result<f64> {
    if !(p > 0.0 && p < 1.0) {
        return Err(invalid(
            "p",
            format!("gamma quantile needs p in (0, 1), got {p}"),
        ));
    }
    if !(shape > 0.0 && shape.is_finite()) {
        return Err(invalid("shape", format!("must be positive, got {shape}")));
    }
    if !(rate > 0.0 && rate.is_finite()) {
        return Err(invalid("rate", format!("must be positive, got {rate}")));
    }
    let a = shape;
    let g = UnitGamma::new(a);
    let z = normal_quantile(p)?;
    let wh = a * (1.0 - 1.0 / (9.0 * a) + z / (3.0 * a.sqrt())).powi(3);
    // For small shapes the lower tail behaves like x^a / (a Gamma(a)).
    let small = (p * a * g.ln_gamma_shape.exp()).powf(1.0 / a);
    let mut x = if a < 1.0 || wh <= 0.0 { small } else { wh };
    if !(x > 0.0 && x.is_finite()) {
        x = a;
    }
    let (mut lo, mut hi) = (0.0_f64, f64::INFINITY);
    for _ in 0..200 {
        let (cdf, dens) = g.cdf_pdf(x);
        let f = cdf - p;
        if f < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        if f == 0.0 {
            break;
        }
        let mut next = if dens > 0.0 && dens.is_finite() {
            let step = f / dens;
            // Halley correction: f''/f' = (a-1)/x - 1 for the gamma density.
            let corr = 1.0 - 0.5 * step * ((a - 1.0) / x - 1.0);
            let step = if corr > 0.5 && corr < 2.0 {
                step / corr
            } else {
                step
            };
            x - step
        } else {
            f64::NAN
        };
        if !(next > lo && next < hi) {
            next = if hi.is_finite() {
                0.5 * (lo + hi)
            } else {
                2.0 * x.max(1.0)
            };
        }
        if (next - x).abs() <= 1e-15 * x.abs() {
            x = next;
            break;
        }
        x = next;
    }
    Ok(x / rate)
}

/// Quantile of Beta(a, b) at `p` in [0, 1]: statrs' starting value refined by Newton steps
/// on the regularised incomplete beta, bracketed.
pub fn beta_quantile(p: f64, a: f64, b: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&p) {
        return Err(invalid(
            "p",
            format!("beta quantile needs p in [0, 1], got {p}"),
        ));
    }
    if !(a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite()) {
        return Err(invalid(
            "shape",
            format!("beta shapes must be positive, got {a}, {b}"),
        ));
    }
    if p == 0.0 {
        return Ok(0.0);
    }
    if p == 1.0 {
        return Ok(1.0);
    }
    let mut x = inv_beta_reg(a, b, p);
    if !(x > 0.0 && x < 1.0) {
        x = 0.5;
    }
    let lb = ln_beta(a, b);
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..100 {
        let f = beta_reg(a, b, x) - p;
        if f < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        if f == 0.0 {
            break;
        }
        let dens = ((a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln() - lb).exp();
        let mut next = x - f / dens;
        if !(next > lo && next < hi) || !dens.is_finite() || dens <= 0.0 {
            next = 0.5 * (lo + hi);
        }
        if (next - x).abs() <= 1e-15 * x {
            x = next;
            break;
        }
        x = next;
    }
    Ok(x)
}

/// Principal branch W0 of the Lambert W function for x in [-1/e, 0]. Halley iteration.
pub fn lambert_w0(x: f64) -> Result<f64> {
    let inv_e = (-1.0_f64).exp();
    if !(x >= -inv_e - 1e-15 && x <= 0.0) {
        return Err(invalid(
            "x",
            format!("lambert_w0 here needs x in [-1/e, 0], got {x}"),
        ));
    }
    if x == 0.0 {
        return Ok(0.0);
    }
    let q = 2.0 * (std::f64::consts::E * x + 1.0);
    if q <= 0.0 {
        return Ok(-1.0);
    }
    let mut w = if x < -0.25 {
        // Series about the branch point.
        let p = q.sqrt();
        -1.0 + p - p * p / 3.0 + 11.0 / 72.0 * p * p * p
    } else {
        x * (1.0 - x)
    };
    for _ in 0..100 {
        let ew = w.exp();
        let f = w * ew - x;
        let wp1 = w + 1.0;
        if wp1.abs() < 1e-300 {
            break;
        }
        let denom = ew * wp1 - (w + 2.0) * f / (2.0 * wp1);
        let dw = f / denom;
        w -= dw;
        if dw.abs() <= 1e-15 * (1.0 + w.abs()) {
            break;
        }
    }
    Ok(w)
}

/// Sample quantile with linear interpolation (R type 7, numpy's default) of sorted data.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = h - lo as f64;
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

/// Logarithm of n choose k.
#[allow(dead_code)]
pub(crate) fn ln_choose(n: f64, k: f64) -> f64 {
    ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::function::gamma::gamma_lr;

    #[test]
    fn gamma_quantile_inverts_cdf() {
        // Shapes from 0.5 up cover every use here (a + 0.5 with a >= 0, posterior shapes).
        for &a in &[0.5, 1.0, 2.5, 12.5, 100.0, 1e4] {
            for &p in &[1e-6, 0.025, 0.05, 0.5, 0.95, 0.975, 0.999999] {
                let x = gamma_quantile(p, a, 1.0).expect("valid");
                let back = gamma_lr(a, x);
                // statrs' incomplete gamma itself is good to about 1e-11 relative at large shapes.
                assert!(
                    (back - p).abs() <= 1e-10 * p.max(1e-3),
                    "a={a} p={p} x={x} back={back}"
                );
            }
        }
        // R: qgamma(0.025, 12.5, 6.5) = 0.9838... -> log2 gives the IC025 0.013225 of the
        // fourth 2x2 row of statistics.md.
        let q = gamma_quantile(0.025, 12.5, 6.5).expect("valid");
        assert!((q.log2() - 0.013225).abs() < 5e-7);
    }

    #[test]
    fn unit_gamma_matches_statrs() {
        for &a in &[0.5, 0.9, 1.0, 1.7, 2.5, 12.5, 40.3, 100.0, 1e4] {
            let g = UnitGamma::new(a);
            for &m in &[1e-3, 0.1, 0.5, 0.9, 1.0, 1.1, 2.0, 5.0, 20.0] {
                let x = a * m;
                let (p, d) = g.cdf_pdf(x);
                let want = gamma_lr(a, x);
                assert!(
                    (p - want).abs() <= 1e-13 * want.max(1e-300) + 1e-300,
                    "P a={a} x={x}: {p} vs {want}"
                );
                let want_d = ((a - 1.0) * x.ln() - x - ln_gamma(a)).exp();
                assert!(
                    (d - want_d).abs() <= 1e-10 * want_d,
                    "pdf a={a} x={x}: {d} vs {want_d}"
                );
            }
        }
        assert_eq!(UnitGamma::new(2.0).cdf_pdf(0.0), (0.0, 0.0));
    }

    #[test]
    fn beta_quantile_inverts_cdf() {
        for &(a, b) in &[
            (0.5, 0.5),
            (1.0, 29.0),
            (81.0, 183.0),
            (95.0, 6.0),
            (2.0, 1e4),
        ] {
            for &p in &[0.025, 0.5, 0.975] {
                let x = beta_quantile(p, a, b).expect("valid");
                let back = beta_reg(a, b, x);
                assert!(
                    (back - p).abs() < 1e-13,
                    "a={a} b={b} p={p} x={x} back={back}"
                );
            }
        }
    }

    #[test]
    fn lambert_w0_identity() {
        for &x in &[-0.36787944117144233, -0.3, -0.1, -1e-5, -1e-12] {
            let w = lambert_w0(x).expect("in domain");
            assert!((w * w.exp() - x).abs() < 1e-14, "x={x} w={w}");
        }
        assert!(lambert_w0(0.1).is_err());
    }

    #[test]
    fn chi2_closed_form_matches_incomplete_gamma() {
        for &x in &[0.01, 0.5, 3.84, 26.4, 200.0] {
            let a = chi2_sf(x, 2.0);
            let b = gamma_ur(1.0, x / 2.0);
            assert!((a - b).abs() <= 1e-12 * b.max(1e-300), "x={x}: {a} {b}");
        }
        let direct = normal_quantile(0.975).expect("ok");
        assert!((z_for_level(0.95).expect("ok") - direct).abs() < 1e-14);
    }

    #[test]
    fn normal_quantile_known() {
        // qnorm(0.975) in R.
        assert!((normal_quantile(0.975).expect("ok") - 1.959963984540054).abs() < 1e-14);
        assert!(normal_quantile(1.0).is_err());
    }
}
