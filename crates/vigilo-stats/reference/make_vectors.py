#!/usr/bin/env python3
"""Generate reference test vectors for vigilo-stats from independent implementations.

Run by hand, not by CI:

    python3 -m venv /work/venv-ref
    /work/venv-ref/bin/pip install numpy scipy scikit-learn statsmodels
    /work/venv-ref/bin/python crates/vigilo-stats/reference/make_vectors.py
    /work/venv-ref/bin/python crates/vigilo-stats/reference/make_vectors.py --only did,cbpe

Writes JSON files to crates/vigilo-stats/tests/vectors/. The Rust tests in
tests/reference_vectors.rs compare against them: 1e-9 relative for closed forms, 1e-6 for
iterative methods. References: scikit-learn (AUROC, ROC, Brier), a plain O(m n) DeLong written
here from the pairwise kernel (independent of the fast midrank algorithm), statsmodels
(Wilson and Clopper-Pearson intervals, logistic GLM), scipy (chi-square, gamma quantiles,
ks_2samp, kstwo, wasserstein_distance, jensenshannon, MGPS fit and posterior), and numpy
re-statements of the conventions for PSI, ECE and fairness gaps. Monitoring (did.json,
cbpe.json, own seeds): scipy ttest_ind(equal_var=False) and statsmodels CompareMeans for the
2x2 difference in differences, a numpy restatement for the staggered aggregate, a row-level
restatement of CBPE (one calibrated probability per case, as NannyML computes it) and
statsmodels' Wilson interval for the comparison with verified outcomes.
"""
import json
import math
import os
import sys
import warnings

import numpy as np
import scipy
import sklearn
import statsmodels
import statsmodels.api as sm
from scipy import optimize, special, stats
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "vectors")
Z = stats.norm.ppf(0.975)


def fl(x):
    """JSON-safe float: None for NaN, strings for infinities."""
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def versions():
    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "statsmodels": statsmodels.__version__,
    }


# ---------------------------------------------------------------- evaluation
def delong_plain(y, s):
    """DeLong from the pairwise kernel psi(x, y) = 1[x > y] + 0.5 1[x = y]; O(m n)."""
    x = s[y == 1]
    z = s[y == 0]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    auc = psi.mean()
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    return auc, v10, v01


def delong_var(y, s):
    auc, v10, v01 = delong_plain(y, s)
    m, n = len(v10), len(v01)
    return auc, np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n


def delong_paired(y, a, b):
    auc_a, a10, a01 = delong_plain(y, a)
    auc_b, b10, b01 = delong_plain(y, b)
    m, n = len(a10), len(a01)
    s10 = np.cov(np.vstack([a10, b10]))
    s01 = np.cov(np.vstack([a01, b01]))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    z = (auc_a - auc_b) / math.sqrt(var)
    return auc_a, auc_b, var, z, 2 * stats.norm.sf(abs(z))


def prop(x, n):
    if n == 0:
        return None
    w = proportion_confint(x, n, alpha=0.05, method="wilson")
    cp = proportion_confint(x, n, alpha=0.05, method="beta")
    # statsmodels' beta method returns nan-free 0/1 at the ends.
    return {"x": int(x), "n": int(n), "estimate": x / n,
            "wilson": [fl(w[0]), fl(w[1])], "clopper_pearson": [fl(cp[0]), fl(cp[1])]}


def ece_equal_width(y, p, bins=10):
    edges = np.arange(bins + 1) / bins
    idx = np.clip(np.searchsorted(edges, p, side="left") - 1, 0, bins - 1)
    total = 0.0
    for k in range(bins):
        m = idx == k
        if m.any():
            total += m.sum() / len(p) * abs(y[m].mean() - p[m].mean())
    return total


def ece_equal_count(y, p, bins=10):
    order = np.argsort(p, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            total += len(chunk) / len(p) * abs(y[chunk].mean() - p[chunk].mean())
    return total


def calibration(y, p):
    """Logistic recalibration; None when statsmodels warns (separation, rank deficiency)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return _calibration(y, p)
        except Exception:
            return None


def _calibration(y, p):
    lp = np.log(p / (1 - p))
    fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-14, maxiter=100)
    citl = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit(tol=1e-14, maxiter=100)
    return float(fit.params[0]), float(fit.params[1]), float(citl.params[0])


def fairness(y, p, groups, thr):
    yhat = p >= thr
    out = {}
    sel, tpr, fpr = {}, {}, {}
    for g in sorted(set(groups)):
        m = groups == g
        sel[g] = yhat[m].mean()
        if (y[m] == 1).any():
            tpr[g] = yhat[m & (y == 1)].mean()
        if (y[m] == 0).any():
            fpr[g] = yhat[m & (y == 0)].mean()
    out["selection_rate"] = {g: fl(v) for g, v in sel.items()}
    out["demographic_parity_difference"] = fl(max(sel.values()) - min(sel.values()))
    tg = max(tpr.values()) - min(tpr.values()) if len(tpr) > 1 else None
    fg = max(fpr.values()) - min(fpr.values()) if len(fpr) > 1 else None
    out["equal_opportunity_difference"] = fl(tg)
    out["equalized_odds_difference"] = fl(max(tg, fg)) if tg is not None and fg is not None else None
    return out


def eval_case(name, y, p, groups=None, p2=None, thr=0.5):
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    case = {"name": name, "labels": y.tolist(), "scores": p.tolist(), "threshold": thr}
    pred = p >= thr
    tp = int(((y == 1) & pred).sum()); fn = int(((y == 1) & ~pred).sum())
    fp = int(((y == 0) & pred).sum()); tn = int(((y == 0) & ~pred).sum())
    case["confusion"] = {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    case["sensitivity"] = prop(tp, tp + fn)
    case["specificity"] = prop(tn, tn + fp)
    case["ppv"] = prop(tp, tp + fp)
    case["npv"] = prop(tn, tn + fn)
    case["accuracy"] = prop(tp + tn, len(y))
    m, n = int((y == 1).sum()), int((y == 0).sum())
    if m >= 1 and n >= 1:
        case["auroc"] = float(roc_auc_score(y, p))
        fpr, tpr, thr_ = roc_curve(y, p, drop_intermediate=False)
        case["roc"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(),
                       "thresholds": [fl(t) for t in thr_]}
    if m >= 2 and n >= 2:
        auc, var = delong_var(y, p)
        se = math.sqrt(max(var, 0))
        case["delong"] = {"auc": auc, "variance": var,
                          "lower": max(0.0, auc - Z * se), "upper": min(1.0, auc + Z * se)}
        if p2 is not None:
            p2 = np.asarray(p2, dtype=float)
            case["scores_b"] = p2.tolist()
            a, b, v, z, pv = delong_paired(y, p, p2)
            case["delong_paired"] = {"auc_a": a, "auc_b": b, "variance": v, "z": z, "p_value": pv}
    if ((p >= 0) & (p <= 1)).all():
        case["brier"] = float(brier_score_loss(y, p))
        case["ece_equal_width_10"] = ece_equal_width(y, p)
        case["ece_equal_count_10"] = ece_equal_count(y, p)
        if 0 < m < len(y) and ((p > 0) & (p < 1)).all():
            fit = calibration(y, p)
            case["calibration"] = None if fit is None else {
                "intercept": fit[0], "slope": fit[1], "citl": fit[2]}
    if groups is not None:
        groups = np.asarray(groups)
        case["groups"] = groups.tolist()
        case["fairness"] = fairness(y, p, groups, thr)
    return case


def make_eval(rng):
    cases = []
    # Moderate sample, continuous scores, informative.
    n = 400
    y = rng.binomial(1, 0.3, n)
    p = special.expit(rng.normal(-1 + 1.5 * y, 1.0))
    p2 = special.expit(rng.normal(-1 + 0.8 * y, 1.0))
    g = rng.choice(["A", "B", "C"], n)
    cases.append(eval_case("continuous_400", y, p, g, p2))
    # Heavy ties: scores rounded to one decimal (probabilities strictly inside (0, 1)).
    n = 300
    y = rng.binomial(1, 0.4, n)
    p = np.clip(np.round(special.expit(rng.normal(-0.5 + y, 1.2)), 1), 0.05, 0.95)
    p2 = np.clip(np.round(special.expit(rng.normal(-0.5 + 0.5 * y, 1.2)), 1), 0.05, 0.95)
    g = rng.choice(["north", "south"], n)
    cases.append(eval_case("ties_300", y, p, g, p2))
    # Integer-valued scores (not probabilities), many ties.
    n = 150
    y = rng.binomial(1, 0.5, n)
    s = rng.poisson(3 + 2 * y).astype(float)
    cases.append(eval_case("integer_scores_150", y, s, thr=5.0))
    # Tiny sample.
    cases.append(eval_case("tiny_5", [1, 0, 1, 0, 0], [0.9, 0.8, 0.3, 0.2, 0.3], p2=None))
    # Perfect separation (AUROC 1; calibration not fitted).
    cases.append(eval_case("separated_8", [0, 0, 0, 0, 1, 1, 1, 1],
                           [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9]))
    # All scores equal: AUROC 0.5.
    cases.append(eval_case("constant_scores_10", [0, 1] * 5, [0.5] * 10))
    # Edge probabilities (0 and 1 exactly): calibration undefined, the rest defined.
    cases.append(eval_case("edge_probabilities_12", [0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1],
                           [0.0, 0.1, 1.0, 0.9, 0.5, 0.5, 0.2, 0.8, 0.6, 0.4, 1.0, 0.0]))
    # Large sample with grouped ties, three groups.
    n = 3000
    y = rng.binomial(1, 0.1, n)
    p = np.round(special.expit(rng.normal(-2.5 + 1.2 * y, 0.8)), 3)
    p = np.clip(p, 0.001, 0.999)
    p2 = np.clip(np.round(special.expit(rng.normal(-2.5 + 1.0 * y, 0.9)), 3), 0.001, 0.999)
    g = rng.choice(["g1", "g2", "g3"], n, p=[0.5, 0.3, 0.2])
    cases.append(eval_case("rounded_3000", y, p, g, p2, thr=0.15))
    return cases


# ---------------------------------------------------------------- disproportionality
def two_by_two(a, b, c, d):
    out = {"a": a, "b": b, "c": c, "d": d}
    cells = np.array([a, b, c, d], dtype=float)
    zero = (cells == 0).any()
    ca, cb, cc, cd = cells + 0.5 if zero else cells
    prr = (ca / (ca + cb)) / (cc / (cc + cd))
    se = math.sqrt(1 / ca - 1 / (ca + cb) + 1 / cc - 1 / (cc + cd))
    out["prr"] = [prr, math.exp(math.log(prr) - Z * se), math.exp(math.log(prr) + Z * se)]
    ror = ca * cd / (cb * cc)
    se = math.sqrt(1 / ca + 1 / cb + 1 / cc + 1 / cd)
    out["ror"] = [ror, math.exp(math.log(ror) - Z * se), math.exp(math.log(ror) + Z * se)]
    table = np.array([[a, b], [c, d]])
    if (table.sum(axis=0) > 0).all() and (table.sum(axis=1) > 0).all():
        out["chi2_yates"] = float(stats.chi2_contingency(table, correction=True)[0])
        out["chi2"] = float(stats.chi2_contingency(table, correction=False)[0])
    n = a + b + c + d
    e = (a + b) * (a + c) / n
    out["expected"] = e
    out["ic"] = [math.log2((a + 0.5) / (e + 0.5)),
                 math.log2(stats.gamma.ppf(0.025, a + 0.5, scale=1 / (e + 0.5))),
                 math.log2(stats.gamma.ppf(0.975, a + 0.5, scale=1 / (e + 0.5)))]
    return out


def report_table(rows, unit, strata=None):
    """Observed cells with a, n_product, n_event and expected, in plain Python."""
    rows = sorted(set(rows))
    if unit == "pairs":
        n_p, n_e, cell, n_s = {}, {}, {}, {}
        for r, p, e in rows:
            s = strata[r] if strata else 0
            n_p[(p, s)] = n_p.get((p, s), 0) + 1
            n_e[(e, s)] = n_e.get((e, s), 0) + 1
            n_s[s] = n_s.get(s, 0) + 1
            cell[(p, e)] = cell.get((p, e), 0) + 1
    else:
        reports = {}
        for r, p, e in rows:
            reports.setdefault(r, (set(), set(), set()))
            reports[r][0].add(p); reports[r][1].add(e); reports[r][2].add((p, e))
        n_p, n_e, cell, n_s = {}, {}, {}, {}
        for r, (ps, es, pes) in reports.items():
            s = strata[r] if strata else 0
            n_s[s] = n_s.get(s, 0) + 1
            for p in ps:
                n_p[(p, s)] = n_p.get((p, s), 0) + 1
            for e in es:
                n_e[(e, s)] = n_e.get((e, s), 0) + 1
            for pe in pes:
                cell[pe] = cell.get(pe, 0) + 1
    out = []
    for (p, e), a in sorted(cell.items()):
        npt = sum(v for (pp, s), v in n_p.items() if pp == p)
        net = sum(v for (ee, s), v in n_e.items() if ee == e)
        exp = sum(n_p.get((p, s), 0) * n_e.get((e, s), 0) / ns for s, ns in n_s.items())
        out.append({"product": p, "event": e, "a": a, "n_product": npt, "n_event": net,
                    "expected": exp})
    return {"n_total": sum(n_s.values()), "cells": out}


def mgps_negll(theta, n, e):
    a1, b1, a2, b2, P = theta
    def comp(a, b):
        lf = stats.nbinom.logpmf(n, a, b / (b + e))
        f0 = (b / (b + e)) ** a
        return lf - np.log1p(-f0)
    l1 = np.log(P) + comp(a1, b1)
    l2 = np.log1p(-P) + comp(a2, b2)
    return -np.logaddexp(l1, l2).sum()


def mgps_fit(n, e):
    starts = [(0.2, 0.1, 2, 4, 1 / 3), (0.1, 0.1, 10, 10, 0.2), (0.3, 0.5, 6, 6, 0.5),
              (0.5, 0.3, 12, 12, 0.8), (0.2, 0.2, 5, 5, 0.4)]
    def f(x):
        th = np.concatenate([np.exp(x[:4]), [special.expit(x[4])]])
        v = mgps_negll(th, n, e)
        return v if np.isfinite(v) else 1e300
    best = None
    for s in starts:
        x0 = np.concatenate([np.log(s[:4]), [special.logit(s[4])]])
        r = optimize.minimize(f, x0, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})
        r = optimize.minimize(f, r.x, method="Nelder-Mead",
                              options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 40000, "maxfev": 40000})
        if best is None or r.fun < best.fun:
            best = r
    th = np.concatenate([np.exp(best.x[:4]), [special.expit(best.x[4])]])
    a1, b1, a2, b2, P = th
    if a1 / b1 < a2 / b2:  # component 1 = larger prior mean, as vigilo-stats reports
        a1, b1, a2, b2, P = a2, b2, a1, b1, 1 - P
    return [a1, b1, a2, b2, P], -best.fun


def ebgm_posterior(th, n, e):
    a1, b1, a2, b2, P = th
    l1 = np.log(P) + stats.nbinom.logpmf(n, a1, b1 / (b1 + e))
    l2 = np.log1p(-P) + stats.nbinom.logpmf(n, a2, b2 / (b2 + e))
    q = 1 / (1 + np.exp(l2 - l1))
    ebgm = math.exp(q * (special.digamma(a1 + n) - math.log(b1 + e))
                    + (1 - q) * (special.digamma(a2 + n) - math.log(b2 + e)))
    def cdf(x, pr):
        return (q * stats.gamma.cdf(x, a1 + n, scale=1 / (b1 + e))
                + (1 - q) * stats.gamma.cdf(x, a2 + n, scale=1 / (b2 + e)) - pr)
    qs = []
    for pr in (0.05, 0.95):
        lo = min(stats.gamma.ppf(pr, a1 + n, scale=1 / (b1 + e)), stats.gamma.ppf(pr, a2 + n, scale=1 / (b2 + e)))
        hi = max(stats.gamma.ppf(pr, a1 + n, scale=1 / (b1 + e)), stats.gamma.ppf(pr, a2 + n, scale=1 / (b2 + e)))
        qs.append(lo if hi - lo < 1e-15 * hi else optimize.brentq(cdf, lo, hi, args=(pr,), xtol=1e-300, rtol=8.9e-16))
    return {"n": int(n), "e": float(e), "qn": float(q), "ebgm": ebgm, "eb05": qs[0], "eb95": qs[1]}


def make_dispro(rng):
    out = {}
    tables = [(10, 990, 200, 98800), (3, 47, 17, 9933), (1, 0, 5, 100), (0, 20, 3, 500),
              (4, 96, 0, 900), (7, 3, 2, 8), (1, 1, 1, 1), (250, 4750, 3000, 992000),
              (2, 98, 50, 9850), (15, 2, 40, 5000)]
    for _ in range(10):
        tables.append(tuple(int(v) for v in rng.integers([0, 1, 1, 10], [30, 500, 2000, 100000])))
    out["two_by_two"] = [two_by_two(*t) for t in tables]
    # Report lists: products and events drawn with skew, 1-3 products and 1-3 events per report,
    # plus one planted association; duplicate rows included on purpose.
    rows, strata = [], {}
    for r in range(600):
        rid = f"r{r}"
        strata[rid] = f"{rng.choice(['2024', '2025'])}|{rng.choice(['F', 'M'])}"
        ps = set(rng.choice([f"P{i}" for i in range(12)], rng.integers(1, 4), p=None))
        es = set(rng.choice([f"E{i}" for i in range(15)], rng.integers(1, 4)))
        if "P3" in ps and rng.random() < 0.6:
            es.add("E7")
        for p in ps:
            for e in es:
                rows.append((rid, p, e))
    rows.append(rows[0])
    out["reports"] = [list(r) for r in rows]
    out["strata"] = strata
    out["table_unique"] = report_table(rows, "unique")
    out["table_pairs"] = report_table(rows, "pairs")
    out["table_unique_stratified"] = report_table(rows, "unique", strata)
    # MGPS: cells simulated from a known mixture, fitted by scipy from the same five starts.
    k = 1500
    e = np.exp(rng.normal(-1.0, 1.2, k))
    lam = np.where(rng.random(k) < 0.1, rng.gamma(3.0, 1 / 0.5, k), rng.gamma(2.0, 1 / 2.0, k))
    n = rng.poisson(lam * e)
    keep = n >= 1
    n, e = n[keep], e[keep]
    th, ll = mgps_fit(n, e)
    out["mgps_fit"] = {"n": n.tolist(), "e": e.tolist(), "prior": th, "log_likelihood": ll}
    prior = [3.25379064, 0.39988801, 2.02613219, 1.90808279, 0.06534557]
    post = []
    for nn, ee in [(1, 0.01), (1, 1.0), (2, 0.5), (5, 0.2), (20, 3.0), (100, 90.0), (3, 3.0), (0, 1.0)]:
        post.append(ebgm_posterior(prior, nn, ee))
    for nn, ee in zip(n[:15], e[:15]):
        post.append(ebgm_posterior(th, int(nn), float(ee)) | {"fitted_prior": True})
    out["ebgm_posterior"] = {"prior": prior, "fitted_prior": th, "cells": post}
    return out


# ---------------------------------------------------------------- drift
def psi_counts(r, c):
    r = np.asarray(r, float); c = np.asarray(c, float)
    rp = np.where(r == 0, 1e-4, r / r.sum()); cp = np.where(c == 0, 1e-4, c / c.sum())
    return float(np.sum((cp - rp) * np.log(cp / rp)))


def numeric_case(name, ref, cur):
    ref = np.asarray(ref, float); cur = np.asarray(cur, float)
    edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10))
    # Right-closed bins open at both ends: index = number of edges strictly below x.
    rc = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=len(edges) + 1)
    cc = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=len(edges) + 1)
    ks = stats.ks_2samp(ref, cur)
    return {"name": name, "reference": ref.tolist(), "current": cur.tolist(),
            "edges": edges.tolist(), "reference_counts": rc.tolist(), "current_counts": cc.tolist(),
            "psi": psi_counts(rc, cc), "js_distance": float(jensenshannon(rc, cc, base=2)),
            "ks_statistic": float(ks.statistic), "ks_p_value": float(ks.pvalue),
            "wasserstein": float(stats.wasserstein_distance(ref, cur)),
            "wasserstein_normalised": (float(stats.wasserstein_distance(ref, cur) / np.std(ref))
                                       if np.std(ref) > 0 else None)}


def make_drift(rng):
    cases = [
        numeric_case("normal_shift_200_300", rng.normal(0, 1, 200), rng.normal(0.3, 1.1, 300)),
        numeric_case("same_150_150", rng.normal(0, 1, 150), rng.normal(0, 1, 150)),
        numeric_case("ties_integers_500_400", rng.poisson(4, 500), rng.poisson(4.6, 400)),
        numeric_case("small_7_9", rng.normal(0, 1, 7), rng.normal(1, 1, 9)),
        numeric_case("skewed_1000_800", rng.lognormal(0, 1, 1000), rng.lognormal(0.1, 1.2, 800)),
        numeric_case("unequal_3000_2000", rng.normal(0, 1, 3000), rng.normal(0.05, 1, 2000)),
        numeric_case("constant_vs_values", [1.0] * 20, rng.normal(1, 1, 25)),
    ]
    # The one-sample Kolmogorov tail used beyond 10,000 values per sample: scipy kstwo.sf
    # over a grid that reaches every branch (Ruben-Gambino, Durbin, Pelz-Good, Smirnov).
    grid = []
    for n in [5, 60, 140, 141, 1000, 5000, 20000, 150000, 500000]:
        for t in [0.6, 0.9, 0.5 * math.sqrt(n), 0.8 * math.sqrt(n), 1.1 * math.sqrt(n),
                  1.3 * math.sqrt(n), 1.6 * math.sqrt(n), 2.2 * math.sqrt(n), n - 0.5]:
            x = t / n
            if 0 < x < 1:
                grid.append({"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))})
    cats_ref = rng.choice(["a", "b", "c", "d"], 500, p=[0.4, 0.3, 0.2, 0.1])
    cats_cur = rng.choice(["a", "b", "c", "d", "e"], 400, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    two_ref = rng.choice(["x", "y"], 100, p=[0.6, 0.4])
    two_cur = rng.choice(["x", "y"], 120, p=[0.45, 0.55])
    cat_cases = []
    for name, r, c in [("four_vs_five", cats_ref, cats_cur), ("binary", two_ref, two_cur)]:
        cats = sorted(set(r) | set(c))
        rc = [int((r == k).sum()) for k in cats]
        cc = [int((c == k).sum()) for k in cats]
        chi = stats.chi2_contingency(np.array([rc, cc]))
        cat_cases.append({"name": name, "reference": r.tolist(), "current": c.tolist(),
                          "categories": cats, "psi": psi_counts(rc, cc),
                          "js_distance": float(jensenshannon(rc, cc, base=2)),
                          "chi2": float(chi[0]), "dof": int(chi[2]), "p_value": float(chi[1])})
    return {"numeric": cases, "kolmogorov_sf": grid, "categorical": cat_cases}


# ---------------------------------------------------------------- sequential
def make_sequential(rng):
    counts = rng.poisson(np.r_[np.full(30, 2.0), np.full(20, 4.0)]).astype(float)
    k, h = (4 - 2) / (math.log(4) - math.log(2)), 5.0
    s, stat, alarms = 0.0, [], []
    for i, x in enumerate(counts):
        s = max(0.0, s + x - k); stat.append(s)
        if s >= h:
            alarms.append(i); s = 0.0
    vals = rng.normal(np.r_[np.zeros(40), np.full(20, 0.8)], 1.0)
    lam, L = 0.2, 2.7
    z, zs, lo, hi = 0.0, [], [], []
    for t, x in enumerate(vals, start=1):
        z = lam * x + (1 - lam) * z
        w = L * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
        zs.append(z); lo.append(-w); hi.append(w)
    return {"poisson_cusum": {"counts": counts.tolist(), "k": k, "h": h, "reset": True,
                              "statistic": stat, "alarms": alarms},
            "ewma": {"values": vals.tolist(), "mu0": 0.0, "sigma": 1.0, "lambda": lam, "l": L,
                     "statistic": zs, "lower": lo, "upper": hi}}


# ---------------------------------------------------------------- difference in differences
def did_case(name, t_pre, t_post, c_pre, c_post):
    """Welch 2x2 on unit changes: scipy ttest_ind(equal_var=False) and statsmodels CompareMeans."""
    t_pre, t_post, c_pre, c_post = (np.asarray(v, float) for v in (t_pre, t_post, c_pre, c_post))
    dt, dc = t_post - t_pre, c_post - c_pre
    r = stats.ttest_ind(dt, dc, equal_var=False)
    est = dt.mean() - dc.mean()
    case = {"name": name, "treated_pre": t_pre.tolist(), "treated_post": t_post.tolist(),
            "control_pre": c_pre.tolist(), "control_post": c_post.tolist(),
            "estimate": float(est), "statistic": float(r.statistic), "se": float(est / r.statistic),
            "df": float(r.df), "p_value": float(r.pvalue)}
    cm = CompareMeans(DescrStatsW(dt), DescrStatsW(dc))
    sm_t, sm_p, sm_df = cm.ttest_ind(usevar="unequal")
    intervals = []
    for level in (0.95, 0.90, 0.99):
        ci = r.confidence_interval(confidence_level=level)
        lo, hi = cm.tconfint_diff(alpha=1 - level, usevar="unequal")
        intervals.append({"level": level, "scipy": [float(ci.low), float(ci.high)],
                          "statsmodels": [float(lo), float(hi)]})
    case["intervals"] = intervals
    case["statsmodels"] = {"statistic": float(sm_t), "p_value": float(sm_p), "df": float(sm_df)}
    return case


def staggered_case(name, cohorts, level=0.95):
    """One Welch 2x2 per cohort, aggregated by treated counts, independent cohorts assumed."""
    per, total = [], sum(len(c["treated_pre"]) for c in cohorts)
    est, var, dfden = 0.0, 0.0, 0.0
    for c in cohorts:
        dt = np.subtract(c["treated_post"], c["treated_pre"])
        dc = np.subtract(c["control_post"], c["control_pre"])
        w = len(dt) / total
        est += w * (dt.mean() - dc.mean())
        for d in (dt, dc):
            comp = w * w * d.var(ddof=1) / len(d)
            var += comp
            dfden += comp * comp / (len(d) - 1)
        per.append(did_case(c["label"], c["treated_pre"], c["treated_post"],
                            c["control_pre"], c["control_post"]) | {"label": c["label"], "weight": w})
    se, df = math.sqrt(var), var * var / dfden
    q = stats.t.ppf(1 - (1 - level) / 2, df)
    return {"name": name, "level": level, "cohorts": per, "estimate": est, "se": se, "df": df,
            "p_value": float(2 * stats.t.sf(abs(est / se), df)),
            "interval": [est - q * se, est + q * se]}


def make_did(rng):
    cases = []
    def units(n, base, sd_base, change, sd_change):
        pre = rng.normal(base, sd_base, n)
        return pre, pre + rng.normal(change, sd_change, n)
    for name, nt, nc, eff, sdt, sdc in [("balanced_12_12", 12, 12, 3.0, 2.0, 2.0),
                                        ("unequal_var_5_30", 5, 30, -1.5, 4.0, 0.7),
                                        ("tiny_2_3", 2, 3, 0.8, 1.0, 1.5),
                                        ("large_200_150", 200, 150, 0.2, 1.0, 1.3),
                                        ("no_effect_20_40", 20, 40, 0.0, 1.1, 0.9)]:
        tp, tq = units(nt, 50, 10, 1.0 + eff, sdt)
        cp, cq = units(nc, 48, 10, 1.0, sdc)
        cases.append(did_case(name, tp, tq, cp, cq))
    # Rates per 1,000 visits rounded to one decimal (ties), and one group without variation.
    tp, tq = units(8, 120, 30, -6, 3)
    cp, cq = units(9, 115, 30, -1, 3)
    cases.append(did_case("rounded_rates_8_9", np.round(tp, 1), np.round(tq, 1),
                          np.round(cp, 1), np.round(cq, 1)))
    cases.append(did_case("flat_control_6_4", *units(6, 10, 1, 2, 1),
                          [1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]))
    cohorts = []
    for label, nt, nc, eff in [("2026-Q1", 6, 25, 2.0), ("2026-Q2", 10, 15, 1.0), ("2026-Q3", 4, 11, 3.0)]:
        tp, tq = units(nt, 30, 5, 0.5 + eff, 1.5)
        cp, cq = units(nc, 30, 5, 0.5, 1.0)
        cohorts.append({"label": label, "treated_pre": tp.tolist(), "treated_post": tq.tolist(),
                        "control_pre": cp.tolist(), "control_post": cq.tolist()})
    staggered = [staggered_case("three_cohorts", cohorts),
                 staggered_case("three_cohorts_90", cohorts, 0.90),
                 staggered_case("one_cohort", cohorts[:1])]
    return {"two_by_two": cases, "staggered": staggered}


# ---------------------------------------------------------------- CBPE from aggregates
def calibration_map(positives, totals):
    """Observed rate per bin; an empty bin pools its nearest non-empty neighbours."""
    k = len(totals)
    rate, imputed = [], []
    for b in range(k):
        if totals[b] > 0:
            rate.append(positives[b] / totals[b]); imputed.append(False)
            continue
        nb = [i for i in (max([i for i in range(b) if totals[i] > 0], default=None),
                          min([i for i in range(b + 1, k) if totals[i] > 0], default=None))
              if i is not None]
        rate.append(sum(positives[i] for i in nb) / sum(totals[i] for i in nb)); imputed.append(True)
    return rate, imputed


def cbpe_rows(counts, rate, thr):
    """Row-level CBPE as NannyML computes it: one calibrated probability per case."""
    p = np.repeat(np.asarray(rate, float), counts)
    pred = np.repeat(np.arange(len(counts)) >= thr, counts)
    tp, fp = float(p[pred].sum()), float((1 - p[pred]).sum())
    fn, tn = float(p[~pred].sum()), float((1 - p[~pred]).sum())
    r = lambda a, b: fl(a / b) if b > 0 else None
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "sensitivity": r(tp, tp + fn),
            "specificity": r(tn, tn + fp), "ppv": r(tp, tp + fp), "npv": r(tn, tn + fn),
            "n_cases": int(len(p))}


def make_cbpe(rng):
    cases = []
    edges = (np.arange(11) / 10).tolist()
    # Sandbox: scores from a mildly over-confident model, labels from the true risk.
    for name, n_sandbox, n_site, thr, shift in [("ten_bins_400", 400, 250, 5, 0.0),
                                                 ("sparse_sandbox_15", 15, 300, 3, 0.4),
                                                 ("site_shifted_2000", 2000, 1200, 6, -0.6)]:
        z = rng.normal(-0.5, 1.4, n_sandbox)
        y = rng.random(n_sandbox) < special.expit(0.8 * z)
        s = special.expit(z)
        b = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, 9)
        totals = np.bincount(b, minlength=10)
        positives = np.bincount(b[y], minlength=10)
        rate, imputed = calibration_map(positives.tolist(), totals.tolist())
        site = np.clip(np.searchsorted(edges, special.expit(rng.normal(-0.5 + shift, 1.4, n_site)),
                                       side="right") - 1, 0, 9)
        counts = np.bincount(site, minlength=10)
        est = cbpe_rows(counts, rate, thr)
        # Verified sample: realised labels of a random half of the site's cases.
        yv = rng.random(n_site) < np.asarray(rate)[site] * (0.7 if shift < 0 else 1.0)
        keep = rng.random(n_site) < 0.5
        pv = site >= thr
        vt = {"tp": int((yv & pv & keep).sum()), "fp": int((~yv & pv & keep).sum()),
              "fn": int((yv & ~pv & keep).sum()), "tn": int((~yv & ~pv & keep).sum())}
        comp = {}
        for m, x, n in [("sensitivity", vt["tp"], vt["tp"] + vt["fn"]),
                        ("specificity", vt["tn"], vt["tn"] + vt["fp"])]:
            lo, hi = proportion_confint(x, n, alpha=0.05, method="wilson")
            e = est[m]
            comp[m] = {"wilson": [fl(lo), fl(hi)],
                       "disagrees": bool(e is not None and (e < lo or e > hi))}
        cases.append({"name": name, "edges": edges, "sandbox_positives": positives.tolist(),
                      "sandbox_totals": totals.tolist(), "positive_rate": rate,
                      "imputed": imputed, "counts": counts.tolist(), "threshold_bin": thr,
                      "estimate": est, "verified": vt, "comparison": comp})
    return {"cases": cases}


def main():
    # `--only did,cbpe` writes just those files. The first four parts share one stream, so
    # they are always generated together; the monitoring parts have their own seeds so that
    # adding them changed no earlier vector.
    only = None
    if len(sys.argv) > 2 and sys.argv[1] == "--only":
        only = set(sys.argv[2].split(","))
    rng = np.random.default_rng(20261123)
    os.makedirs(OUT, exist_ok=True)
    parts, seeds = {}, {}
    if only is None or only & {"eval", "dispro", "drift", "sequential"}:
        parts = {"eval": {"cases": make_eval(rng)}, "dispro": make_dispro(rng),
                 "drift": make_drift(rng), "sequential": make_sequential(rng)}
        seeds = dict.fromkeys(parts, 20261123)
    for name, make, seed in [("did", make_did, 20261124), ("cbpe", make_cbpe, 20261125)]:
        parts[name] = make(np.random.default_rng(seed))
        seeds[name] = seed
    for name, body in parts.items():
        if only is not None and name not in only:
            continue
        body = {"generator": "crates/vigilo-stats/reference/make_vectors.py", "seed": seeds[name],
                "versions": versions(), **body}
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(body, f, separators=(",", ":"), allow_nan=False)
        print("wrote", name)


if __name__ == "__main__":
    main()
