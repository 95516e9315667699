//! Two-sample Kolmogorov-Smirnov test, p-values as scipy 1.17 `ks_2samp` (two-sided,
//! method "auto"): the exact lattice-path probability when both samples have at most 10,000
//! values (Hodges 1958, in Viehmann's 1 - p recursion), otherwise the one-sample Kolmogorov
//! distribution `kstwo.sf(D, round(n1 n2 / (n1 + n2)))`, computed as scipy does: Ruben-Gambino
//! closed forms at the extremes, twice the exact one-sided Smirnov tail for large n x^2, the
//! Durbin matrix (Marsaglia-Tsang-Wang) or the Pelz-Good expansion otherwise.

use crate::error::{check_finite, Result, StatsError};
use statrs::function::gamma::ln_gamma;
use std::f64::consts::PI;

/// KS statistic and p-value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct KsResult {
    pub statistic: f64,
    pub p_value: f64,
    /// "exact" or "asymptotic", as scipy's `method`.
    pub method: &'static str,
}

const MAX_EXACT_N: usize = 10_000;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// D = sup |F1 - F2| of two sorted samples.
pub(crate) fn ks_statistic_sorted(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut d = 0.0_f64;
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n1 - j as f64 / n2).abs());
    }
    d
}

/// Two-sided two-sample KS test. Errors on empty or non-finite input.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> Result<KsResult> {
    if a.is_empty() || b.is_empty() {
        return Err(StatsError::Empty("KS test needs two non-empty samples"));
    }
    check_finite("sample a", a)?;
    check_finite("sample b", b)?;
    let mut x = a.to_vec();
    let mut y = b.to_vec();
    x.sort_unstable_by(|p, q| p.total_cmp(q));
    y.sort_unstable_by(|p, q| p.total_cmp(q));
    ks_2samp_sorted(&x, &y)
}

/// As [`ks_2samp`] on already sorted samples.
pub fn ks_2samp_sorted(a: &[f64], b: &[f64]) -> Result<KsResult> {
    if a.is_empty() || b.is_empty() {
        return Err(StatsError::Empty("KS test needs two non-empty samples"));
    }
    let d = ks_statistic_sorted(a, b);
    let (n1, n2) = (a.len(), b.len());
    if n1.max(n2) <= MAX_EXACT_N {
        let g = gcd(n1 as u64, n2 as u64);
        let lcm = (n1 as u64 / g) * n2 as u64;
        let h = (d * lcm as f64).round() as u64;
        let dd = h as f64 / lcm as f64;
        if h == 0 {
            return Ok(KsResult {
                statistic: dd,
                p_value: 1.0,
                method: "exact",
            });
        }
        let p = if n1 == n2 {
            prob_outside_square(n1 as u64, h)
        } else {
            outer_prob_inside(n1 as u64, n2 as u64, g, h)
        };
        if (0.0..=1.0).contains(&p) {
            return Ok(KsResult {
                statistic: dd,
                p_value: p,
                method: "exact",
            });
        }
    }
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = (m * n / (m + n)).round();
    Ok(KsResult {
        statistic: d,
        p_value: kolmogorov_sf(en as u64, d).clamp(0.0, 1.0),
        method: "asymptotic",
    })
}

/// P(D_{n,n} >= h/n), Horner-like alternating sum.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (nf, hf) = (n as f64, h as f64);
    let mut p = 0.0;
    let mut k = (n / h) as i64;
    while k >= 0 {
        let kf = k as f64;
        let mut p1 = 1.0;
        for j in 0..h {
            let jf = j as f64;
            p1 = (nf - kf * hf - jf) * p1 / (nf + kf * hf + jf + 1.0);
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// Proportion of lattice paths from (0,0) to (m,n) leaving |x/m - y/n| < h/lcm.
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as i64, (n / g) as i64);
    let (n, h) = (n as i64, h as i64);
    let ceil_div = |a: i64, b: i64| -> i64 { (a as f64 / b as f64).ceil() as i64 };
    let floor_div = |a: i64, b: i64| -> i64 { (a as f64 / b as f64).floor() as i64 };
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h, mg).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0_f64; len_a];
    for v in a.iter_mut().take(maxj as usize).skip(minj as usize) {
        *v = 0.0;
    }
    for i in 1..=(m as i64) {
        let (lastminj, lastlen) = (minj, curlen);
        minj = (floor_div(ng * i - h, mg) + 1).max(0).min(n);
        maxj = ceil_div(ng * i + h, mg).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            val = (a[(jj + minj - lastminj) as usize] * i as f64 + val * j as f64) / (i + j) as f64;
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let s = (maxj - minj) as usize;
            let e = (s + (lastlen - curlen) as usize).min(a.len());
            for v in &mut a[s..e] {
                *v = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

/// Survival function of the one-sample two-sided Kolmogorov statistic D_n at x, following
/// scipy's `_kolmogn(n, x, cdf=False)`.
pub fn kolmogorov_sf(n: u64, x: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let nf = n as f64;
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let t = nf * x;
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        // Ruben-Gambino: cdf = n!/n^n (2t - 1)^n.
        let lp = ln_gamma(nf + 1.0) - nf * nf.ln() + nf * (2.0 * t - 1.0).ln();
        return 1.0 - lp.exp();
    }
    if t >= nf - 1.0 {
        return 2.0 * (1.0 - x).powf(nf);
    }
    if x >= 0.5 {
        return 2.0 * smirnov_sf(n, x);
    }
    let nxx = t * x;
    if n <= 140 {
        if nxx <= 4.0 {
            // Exact Durbin matrix (scipy switches to Pomeranz above 0.754693; both exact).
            return 1.0 - durbin_cdf(n, x);
        }
        return 2.0 * smirnov_sf(n, x);
    }
    if nxx >= 370.0 {
        return 0.0;
    }
    if nxx >= 2.2 {
        return 2.0 * smirnov_sf(n, x);
    }
    let cdf = if nxx >= 18.0 {
        1.0
    } else if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        durbin_cdf(n, x)
    } else {
        pelz_good_cdf(n, x)
    };
    1.0 - cdf
}

/// Exact one-sided Smirnov tail P(D_n^+ >= x), Birnbaum-Tingey sum in log space.
fn smirnov_sf(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    let jmax = (nf * (1.0 - x)).floor() as u64;
    let lgn = ln_gamma(nf + 1.0);
    let mut sum = 0.0;
    for j in 0..=jmax {
        let jf = j as f64;
        let a = 1.0 - x - jf / nf;
        let b = x + jf / nf;
        if a <= 0.0 {
            // (1 - x - j/n)^(n-j) is 0 unless n - j = 0.
            if j == n {
                sum += (lgn - ln_gamma(jf + 1.0) + (jf - 1.0) * b.ln()).exp();
            }
            continue;
        }
        let lt = lgn - ln_gamma(jf + 1.0) - ln_gamma(nf - jf + 1.0)
            + (nf - jf) * a.ln()
            + (jf - 1.0) * b.ln();
        sum += lt.exp();
    }
    (x * sum).clamp(0.0, 1.0)
}

/// Durbin matrix algorithm (Marsaglia, Tsang and Wang 2003) for P(D_n <= d).
fn durbin_cdf(n: u64, d: f64) -> f64 {
    let nf = n as f64;
    let nd = nf * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut hm = vec![0.0_f64; m * m];
    let mut v = vec![0.0_f64; m];
    let mut w = vec![0.0_f64; m];
    let mut fac = 1.0_f64;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] = (1.0 - h.powi(j as i32)) * fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    for i in 1..m {
        for r in (i - 1)..m {
            hm[r * m + i] = w[r - (i - 1)];
        }
    }
    for r in 0..m {
        hm[r * m] = v[r];
    }
    for c in 0..m {
        hm[(m - 1) * m + c] = v[m - 1 - c];
    }
    let matmul = |a: &[f64], b: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; m * m];
        for i in 0..m {
            for kk in 0..m {
                let aik = a[i * m + kk];
                if aik == 0.0 {
                    continue;
                }
                let row = &b[kk * m..(kk + 1) * m];
                let o = &mut out[i * m..(i + 1) * m];
                for (oj, bj) in o.iter_mut().zip(row) {
                    *oj += aik * bj;
                }
            }
        }
        out
    };
    let scale = 2f64.powi(128);
    let mut pwr: Vec<f64> = (0..m * m)
        .map(|i| if i / m == i % m { 1.0 } else { 0.0 })
        .collect();
    let (mut expnt, mut hexp) = (0i64, 0i64);
    let mut nn = n;
    while nn > 0 {
        if nn % 2 == 1 {
            pwr = matmul(&pwr, &hm);
            expnt += hexp;
        }
        hm = matmul(&hm, &hm);
        hexp *= 2;
        if hm[(k - 1) * m + (k - 1)].abs() > scale {
            hm.iter_mut().for_each(|x| *x /= scale);
            hexp += 128;
        }
        nn /= 2;
    }
    let mut p = pwr[(k - 1) * m + (k - 1)];
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < 1.0 / scale {
            p *= scale;
            expnt -= 128;
        }
    }
    if expnt != 0 {
        p *= 2f64.powi(expnt as i32);
    }
    p.clamp(0.0, 1.0)
}

/// Pelz-Good asymptotic expansion of P(D_n <= x).
fn pelz_good_cdf(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    let z = nf.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let pi2 = PI * PI;
    let (pi4, pi6) = (pi2 * pi2, pi2 * pi2 * pi2);
    let qlog = -pi2 / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();
    let (k1a, k1b) = (-z2, pi2 / 4.0);
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut kk = [0.0_f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for k in (1..=maxk).rev() {
        let mm = (2 * k - 1) as f64;
        let (m2, m4, m6) = (mm * mm, mm.powi(4), mm.powi(6));
        let qp = q.powf(8.0 * k as f64);
        let c = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for i in 0..4 {
            kk[i] = kk[i] * qp + c[i];
        }
    }
    let sqrt2pi = (2.0 * PI).sqrt();
    let div = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for i in 0..4 {
        kk[i] = kk[i] * q * sqrt2pi / div[i];
    }
    let q2 = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let (mut e2, mut e3) = (0.0, 0.0);
    for k in (1..=maxk).rev() {
        let kf = k as f64;
        let ksq = kf * kf;
        let qp = q2.powf(ksq);
        e2 += ksq * qp;
        let kspi = PI * kf;
        e3 += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp;
    }
    kk[2] += e2 * pi2 * sqrt2pi / (-36.0 * z3);
    kk[3] += e3 * pi2 * sqrt2pi / (216.0 * z6);
    let mut s = 0.0;
    for (i, v) in kk.iter().enumerate() {
        s += v / nf.powf(i as f64 / 2.0);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_and_inside_methods_agree() {
        // n1 == n2 uses the square formula; the inside method must give the same number.
        for &(n, h) in &[(10u64, 3u64), (50, 10), (200, 25)] {
            let a = prob_outside_square(n, h);
            let b = outer_prob_inside(n, n, n, h);
            // With n1 == n2, lcm = n and g = n.
            assert!((a - b).abs() < 1e-12, "n={n} h={h}: {a} vs {b}");
        }
    }

    #[test]
    fn durbin_matches_pelz_good_for_large_n() {
        let n = 5000;
        for &x in &[0.01, 0.015, 0.02] {
            let a = durbin_cdf(n, x);
            let b = pelz_good_cdf(n, x);
            assert!((a - b).abs() < 1e-6, "x={x}: {a} vs {b}");
        }
    }
}
