#!/usr/bin/env python3
"""Write the seeded benchmark inputs to bench/data/ (ignored by git). Run once:

    bench/.venv/bin/python bench/gen_data.py [--scale 1.0]

eval:    1,000,000 cases with tied scores (3 decimals) and 3 subgroups; the scores file is
         shuffled so the join by case id is exercised.
signals: 1,000,000 reports over 5,000 products and 2,000 event codes (Zipf-like use),
         1-3 products and 1-3 events per report, events drawn from the lead product's own
         profile (log-normal product x event effects, so cells are over-dispersed as in real
         data), 40 planted product-event associations.
drift:   reference and current files with 50 numeric columns x 1,000,000 rows (--drift-rows),
         the current file shifted in a third of the columns; a smaller 20 x 100,000 pair for
         the Evidently comparison.
cusum:   3,321 stations x 5 tools x 52 weeks of counts (863,460 rows).
"""
import argparse
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def write_csv(path, header, columns, fmt):
    # numpy.savetxt is slow for millions of rows; build the text in blocks.
    n = len(columns[0])
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        block = 200_000
        for s in range(0, n, block):
            parts = [np.char.mod(fm, col[s:s + block]) if fm else col[s:s + block].astype(str)
                     for col, fm in zip(columns, fmt)]
            f.write("\n".join(",".join(row) for row in zip(*parts)) + "\n")


def gen_eval(rng, n):
    y = rng.binomial(1, 0.1, n)
    score = np.round(1 / (1 + np.exp(-rng.normal(-2.2 + 1.3 * y, 1.0))), 3)
    site = rng.choice(np.array(["north", "centre", "south"]), n, p=[0.5, 0.3, 0.2])
    ids = np.array([f"c{i}" for i in range(n)])
    write_csv(os.path.join(OUT, "eval_truth.csv"), ["case_id", "label", "site"], [ids, y, site], [None, "%d", None])
    perm = rng.permutation(n)
    write_csv(os.path.join(OUT, "eval_scores.csv"), ["case_id", "score"], [ids[perm], score[perm]], [None, "%.3f"])


def gen_reports(rng, n_reports, n_products=5000, n_events=2000):
    """Reports whose event profile depends on the lead product (log-normal product x event
    effects), as in real spontaneous reporting, so that the cells are over-dispersed."""
    pw = 1 / np.arange(1, n_products + 1) ** 0.9
    pw /= pw.sum()
    ew = 1 / np.arange(1, n_events + 1) ** 1.0
    ew /= ew.sum()
    k_p = rng.choice([1, 2, 3], n_reports, p=[0.75, 0.2, 0.05])
    k_e = rng.choice([1, 2, 3], n_reports, p=[0.5, 0.35, 0.15])
    products = rng.choice(n_products, k_p.sum(), p=pw)
    starts = np.concatenate([[0], np.cumsum(k_p)[:-1]])
    lead = products[starts]
    # Events of each report drawn from its lead product's profile.
    events = np.empty(k_e.sum(), dtype=np.int64)
    e_start = np.concatenate([[0], np.cumsum(k_e)[:-1]])
    order = np.argsort(lead, kind="stable")
    bounds = np.searchsorted(lead[order], np.arange(n_products + 1))
    for p in range(n_products):
        reps = order[bounds[p]:bounds[p + 1]]
        if len(reps) == 0:
            continue
        prof = ew * np.exp(0.9 * rng.normal(size=n_events))
        prof /= prof.sum()
        draws = rng.choice(n_events, k_e[reps].sum(), p=prof)
        pos = np.concatenate([np.arange(e_start[r], e_start[r] + k_e[r]) for r in reps])
        events[pos] = draws
    planted = {(int(p), int(e)) for p, e in zip(rng.choice(200, 40), rng.choice(n_events, 40))}
    planted_by_p = {}
    for p, e in planted:
        planted_by_p.setdefault(p, []).append(e)
    rep, prod, ev = [], [], []
    for r in range(n_reports):
        ps = set(products[starts[r]:starts[r] + k_p[r]].tolist())
        es = set(events[e_start[r]:e_start[r] + k_e[r]].tolist())
        for p in ps:
            for e in planted_by_p.get(p, []):
                if rng.random() < 0.3:
                    es.add(e)
        for p in ps:
            for e in es:
                rep.append(r); prod.append(p); ev.append(e)
    rep = np.array(rep); prod = np.array(prod); ev = np.array(ev)
    write_csv(os.path.join(OUT, "reports.csv"), ["report_id", "product", "event"],
              [np.char.add("r", rep.astype(str)), np.char.add("P", prod.astype(str)),
               np.char.add("E", ev.astype(str))], [None, None, None])


def gen_drift(rng, rows, cols, name):
    ref = rng.normal(0, 1, (rows, cols))
    cur = rng.normal(0, 1, (rows, cols))
    cur[:, : cols // 3] = cur[:, : cols // 3] * 1.1 + 0.1
    header = [f"x{j}" for j in range(cols)]
    for which, data in (("reference", ref), ("current", cur)):
        write_csv(os.path.join(OUT, f"{name}_{which}.csv"), header,
                  [data[:, j] for j in range(cols)], ["%.6f"] * cols)


def gen_cusum(rng):
    stations, tools, weeks = 3321, 5, 52
    base = rng.gamma(2.0, 1.5, (stations, tools))
    counts = rng.poisson(base[:, :, None] * np.ones(weeks))
    s, t, w = np.meshgrid(np.arange(stations), np.arange(tools), np.arange(weeks), indexing="ij")
    write_csv(os.path.join(OUT, "cusum.csv"), ["station", "tool", "week", "count", "baseline"],
              [s.ravel(), t.ravel(), w.ravel(), counts.ravel(), np.repeat(base.ravel(), weeks)],
              ["%d", "%d", "%d", "%d", "%.6f"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--drift-rows", type=int, default=1_000_000)
    ap.add_argument("--only", default="eval,signals,drift,cusum")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    only = set(a.only.split(","))
    # One seeded stream per part, so that --only regenerates exactly the same files.
    def rng(part):
        return np.random.default_rng([20261123, part])
    if "eval" in only:
        gen_eval(rng(1), int(1_000_000 * a.scale)); print("eval")
    if "signals" in only:
        gen_reports(rng(2), int(1_000_000 * a.scale)); print("signals")
    if "drift" in only:
        gen_drift(rng(3), 100_000, 20, "drift_small"); print("drift small")
        gen_drift(rng(4), int(a.drift_rows * a.scale), 50, "drift"); print("drift")
    if "cusum" in only:
        gen_cusum(rng(5)); print("cusum")


if __name__ == "__main__":
    main()
