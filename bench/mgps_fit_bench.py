#!/usr/bin/env python3
"""The MGPS hyperparameter fit alone: vigilo-stats (BFGS, 5 starts, see crates/vigilo-stats/src/mgps.rs)
against scipy Nelder-Mead from the same 5 starts on the same cells (unique-report counting of
bench/data/reports.csv), both on the zero-truncated-per-component likelihood. The vigilo time
is the fit alone as measured inside the harness; the scipy time is the 5 minimisations.

    bench/.venv/bin/python bench/mgps_fit_bench.py [--threads 1]
"""
import argparse
import json
import os
import subprocess
import time

import numpy as np
import pandas as pd
from scipy import optimize, special

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
BIN = os.environ.get("VIGILO_STATS_BIN", os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "cli-harness", "target")), "release", "vigilo-stats-cli"))
STARTS = [(0.2, 0.1, 2, 4, 1 / 3), (0.1, 0.1, 10, 10, 0.2), (0.3, 0.5, 6, 6, 0.5), (0.5, 0.3, 12, 12, 0.8), (0.2, 0.2, 5, 5, 0.4)]


def cells():
    df = pd.read_csv(os.path.join(DATA, "reports.csv")).drop_duplicates()
    n_total = df["report_id"].nunique()
    n_p = df[["report_id", "product"]].drop_duplicates().groupby("product").size()
    n_e = df[["report_id", "event"]].drop_duplicates().groupby("event").size()
    a = df.groupby(["product", "event"]).size().rename("n").reset_index()
    a["e"] = n_p.loc[a["product"]].to_numpy() * n_e.loc[a["event"]].to_numpy() / n_total
    return a["n"].to_numpy(), a["e"].to_numpy()


def negll(x, n, e, lnfact):
    a1, b1, a2, b2 = np.exp(x[:4])
    p = special.expit(x[4])
    def comp(a, b):
        lr = -np.log1p(e / b)
        lf = special.gammaln(a + n) - special.gammaln(a) - lnfact + a * lr + n * (np.log(e) - np.log(b) + lr)
        return lf - np.log(-np.expm1(a * lr))
    v = -np.logaddexp(np.log(p) + comp(a1, b1), np.log1p(-p) + comp(a2, b2)).sum()
    return v if np.isfinite(v) else 1e300


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    n, e = cells()
    path = os.path.join(DATA, "cells.csv")
    with open(path, "w") as f:
        f.write("n,e\n")
        f.writelines(f"{int(x)},{repr(float(y))}\n" for x, y in zip(n, e))
    r = json.loads(subprocess.run([BIN, "mgps-fit", "--cells", path, "--threads", str(a.threads)],
                                  capture_output=True, check=True).stdout)
    lnfact = special.gammaln(n + 1.0)
    t = time.perf_counter()
    best = None
    evals = 0
    for s in STARTS:
        x0 = np.concatenate([np.log(s[:4]), [special.logit(s[4])]])
        res = optimize.minimize(negll, x0, args=(n, e, lnfact), method="Nelder-Mead")
        evals += res.nfev
        if best is None or res.fun < best.fun:
            best = res
    scipy_s = time.perf_counter() - t
    out = {"cells": int(len(n)), "vigilo_fit_seconds": r["fit_seconds"], "vigilo_threads": a.threads,
           "vigilo_log_likelihood": r["log_likelihood"], "vigilo_prior": r["prior"], "vigilo_at_bound": r["at_bound"],
           "scipy_seconds": scipy_s, "scipy_log_likelihood": -best.fun, "scipy_evaluations": int(evals),
           "scipy_prior": np.concatenate([np.exp(best.x[:4]), [special.expit(best.x[4])]]).tolist(),
           "ratio": scipy_s / r["fit_seconds"]}
    # Agreement: vigilo must reach at least scipy's maximum (relative 1e-6).
    out["vigilo_at_least_as_good"] = bool(r["log_likelihood"] >= -best.fun - 1e-6 * abs(best.fun))
    out["scipy_log_likelihood"] = float(out["scipy_log_likelihood"])
    out["ratio"] = float(out["ratio"])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
