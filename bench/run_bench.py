#!/usr/bin/env python3
"""Side-by-side benchmarks of the vigilo statistics commands against the Python tools a user
would otherwise run. Numbers are checked for agreement before any time counts; each side is
timed end to end (reading the CSV files included) and the median of --runs runs is reported.

    python3 -m venv bench/.venv
    bench/.venv/bin/pip install numpy scipy scikit-learn pandas vigipy
    bench/.venv/bin/python bench/gen_data.py          # once, seeded
    (cd bench/cli-harness && cargo build --release)   # the same code as `vigilo eval|signals|drift`
    bench/.venv/bin/python bench/run_bench.py [--runs 5] [--only eval,signals,drift,cusum,evidently]

The Evidently comparison runs bench/evidently_drift.py in bench/.venv-evidently (Evidently
needs pandas < 3), which this script creates and fills on first use.

The binary is $VIGILO_STATS_BIN, else $CARGO_TARGET_DIR/release/vigilo-stats-cli, else
bench/cli-harness/target/release/vigilo-stats-cli. The Rust side is bench/cli-harness, which compiles crates/vigilo/src/stats_cli.rs (the source of
`vigilo eval | signals | drift`) without the server, plus a bench-only `cusum` subcommand.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
BIN = os.environ.get("VIGILO_STATS_BIN",
                     os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "cli-harness", "target")),
                                  "release", "vigilo-stats-cli"))


def run_rust(args, runs):
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run([BIN, *args], capture_output=True, check=True)
        times.append(time.perf_counter() - t)
        out = p.stdout
    return statistics.median(times), times, json.loads(out)


def run_py(fn, runs):
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, out


def agree(name, got, want, rel=1e-9, abs_=1e-12):
    ok = abs(got - want) <= max(rel * abs(want), abs_)
    if not ok:
        raise SystemExit(f"DISAGREEMENT {name}: vigilo {got!r} vs reference {want!r}")


# ------------------------------------------------------------------ eval
def midrank(x):
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    cum = np.cumsum(counts)
    return ((cum - counts + 1 + cum) / 2.0)[inv]


def fast_delong(y, s):
    """numpy fast DeLong (Sun and Xu 2014), midranks by np.unique."""
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    tx, ty, tz = midrank(pos), midrank(neg), midrank(np.concatenate([pos, neg]))
    auc = tz[:m].sum() / m / n - (m + 1.0) / 2.0 / n
    v01 = (tz[:m] - tx) / n
    v10 = 1.0 - (tz[m:] - ty) / m
    return auc, np.var(v01, ddof=1) / m + np.var(v10, ddof=1) / n


def eval_python(truth, scores, thr=0.5):
    t = pd.read_csv(truth)
    s = pd.read_csv(scores)
    df = t.merge(s, on="case_id", validate="one_to_one")
    y = df["label"].to_numpy()
    p = df["score"].to_numpy()
    out = {"auc": roc_auc_score(y, p), "brier": brier_score_loss(y, p),
           "confusion": confusion_matrix(y, p >= thr).ravel().tolist()}
    out["delong_auc"], out["delong_var"] = fast_delong(y, p)
    out["groups"] = {}
    for g, d in df.groupby("site"):
        yy, pp = d["label"].to_numpy(), d["score"].to_numpy()
        out["groups"][g] = {"auc": roc_auc_score(yy, pp), "confusion": confusion_matrix(yy, pp >= thr).ravel().tolist()}
    return out


def bench_eval(runs):
    truth, scores = os.path.join(DATA, "eval_truth.csv"), os.path.join(DATA, "eval_scores.csv")
    rt, rts, r = run_rust(["eval", "--truth", truth, "--scores", scores, "--subgroup", "site", "--format", "json"], runs)
    pt, pts, p = run_py(lambda: eval_python(truth, scores), runs)
    rep = r["report"]
    agree("auroc", rep["auroc"]["auc"], p["auc"])
    agree("auroc delong", rep["auroc"]["auc"], p["delong_auc"])
    agree("delong variance", rep["auroc"]["variance"], p["delong_var"])
    agree("brier", rep["brier"], p["brier"])
    c = rep["metrics"]["confusion"]
    assert [c["tn"], c["fp"], c["fn"], c["tp"]] == p["confusion"], "confusion"
    for g in r["subgroups"][0]["report"]["groups"]:
        agree(f"auroc {g['group']}", g["auroc"], p["groups"][g["group"]]["auc"])
    return {"name": "eval, 1,000,000 cases, 3 subgroups",
            "reference": "pandas read/merge + scikit-learn roc_auc_score, brier_score_loss, confusion_matrix (overall and per subgroup) + numpy fast DeLong",
            "rust": rt, "python": pt, "rust_runs": rts, "python_runs": pts}


# ------------------------------------------------------------------ signals
def signals_python(path, methods):
    import vigipy
    from vigipy.utils import data_prep
    df = pd.read_csv(path)
    counts = df.drop_duplicates().groupby(["product", "event"]).size().reset_index(name="count")
    container = data_prep.convert(counts, product_label="product", ae_label="event", count_label="count")
    out = {}
    if "prr" in methods:
        out["prr"] = vigipy.prr(container, min_events=3)
    if "ror" in methods:
        out["ror"] = vigipy.ror(container, min_events=3)
    if "ic" in methods:
        out["ic"] = vigipy.bcpnn(container, min_events=3)
    if "ebgm" in methods:
        out["ebgm"] = vigipy.gps(container, min_events=3)
    return out


def bench_signals(runs, py_runs, methods):
    path = os.path.join(DATA, "reports.csv")
    rt, rts, r = run_rust(["signals", "--reports", path, "--unit", "pairs", "--methods", ",".join(methods),
                           "--min-count", "3", "--format", "json"], runs)
    pt, pts, p = run_py(lambda: signals_python(path, methods), py_runs)
    rows = {(x["product"], x["event"]): x for x in r["report"]["rows"]}
    if "prr" in p:
        a = p["prr"].all_signals
        col = [c for c in a.columns if c.upper() == "PRR"][0]
        checked = 0
        for _, row in a.head(2000).iterrows():
            mine = rows[(row["Product"], row["Adverse Event"])]["prr"]["prr"]
            agree("prr", mine, float(row[col]))
            checked += 1
        print(f"  PRR agrees on {checked} cells", file=sys.stderr)
    return {"name": "signals, 1,000,000 reports, 5,000 products x 2,000 events (" + ",".join(methods) + ", pair counting)",
            "reference": "pandas + vigipy " + ", ".join({"prr": "prr", "ror": "ror", "ic": "bcpnn", "ebgm": "gps"}[m] for m in methods),
            "rust": rt, "python": pt, "rust_runs": rts, "python_runs": pts}


# ------------------------------------------------------------------ drift
def drift_python(ref, cur):
    a = pd.read_csv(ref)
    b = pd.read_csv(cur)
    out = {}
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        ks = stats.ks_2samp(x, y)
        out[c] = {"ks": (float(ks.statistic), float(ks.pvalue)), "w1": float(stats.wasserstein_distance(x, y))}
    return out


def bench_drift(runs, name):
    ref, cur = os.path.join(DATA, f"{name}_reference.csv"), os.path.join(DATA, f"{name}_current.csv")
    rt, rts, r = run_rust(["drift", "--reference", ref, "--current", cur, "--format", "json"], runs)
    pt, pts, p = run_py(lambda: drift_python(ref, cur), runs)
    for c in r["columns"]:
        q = p[c["column"]]
        agree(f"ks D {c['column']}", c["ks"]["statistic"], q["ks"][0])
        agree(f"ks p {c['column']}", c["ks"]["p_value"], q["ks"][1], rel=1e-6, abs_=1e-15)
        agree(f"w1 {c['column']}", c["wasserstein"], q["w1"])
    shape = pd.read_csv(ref, nrows=1).shape[1]
    return {"name": f"drift, {shape} columns x {r['columns'][0]['n_reference']:,} rows",
            "reference": "pandas read + scipy ks_2samp and wasserstein_distance per column (vigilo also computes PSI and Jensen-Shannon)",
            "rust": rt, "python": pt, "rust_runs": rts, "python_runs": pts}


# ------------------------------------------------------------------ evidently
EVIDENTLY_VENV = os.path.join(HERE, ".venv-evidently")
EVIDENTLY_REQ = ["evidently==0.7.23", "pandas<3"]


def ensure_evidently_venv():
    py = os.path.join(EVIDENTLY_VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", EVIDENTLY_VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", *EVIDENTLY_REQ], check=True)
    return py


def bench_evidently(runs, py_runs, name):
    """vigilo drift against Evidently's DataDriftPreset on the same files. Evidently's
    default test for numeric columns over 1,000 rows is the Wasserstein distance divided by
    the reference's standard deviation (numpy, ddof 0): compared with vigilo's Wasserstein-1
    divided by the same standard deviation."""
    py = ensure_evidently_venv()
    ref, cur = os.path.join(DATA, f"{name}_reference.csv"), os.path.join(DATA, f"{name}_current.csv")
    rt, rts, r = run_rust(["drift", "--reference", ref, "--current", cur, "--format", "json"], runs)
    env = dict(os.environ, DO_NOT_TRACK="1")
    p = subprocess.run([py, os.path.join(HERE, "evidently_drift.py"), ref, cur, "--runs", str(py_runs)],
                       capture_output=True, check=True, env=env)
    ev = json.loads(p.stdout)
    # Agreement before the times count: the normaliser is computed here, outside both timings.
    ref_df = pd.read_csv(ref)
    for c in r["columns"]:
        e = ev["columns"][c["column"]]
        if e["method"] != "Wasserstein distance (normed)":
            raise SystemExit(f"Evidently used {e['method']} for {c['column']}; expected the normed Wasserstein distance")
        norm = max(float(np.std(ref_df[c["column"]].to_numpy())), 0.001)
        agree(f"normed w1 {c['column']}", c["wasserstein"] / norm, e["score"])
    print(f"  normed Wasserstein agrees with Evidently on {len(r['columns'])} columns", file=sys.stderr)
    shape = ref_df.shape
    return {"name": f"drift vs Evidently, {shape[1]} columns x {shape[0]:,} rows",
            "reference": f"Evidently {ev['evidently']} Report([DataDriftPreset()]) with pandas {ev['pandas']} read (own venv)",
            "rust": rt, "python": ev["median"], "rust_runs": rts, "python_runs": ev["runs"]}


# ------------------------------------------------------------------ cusum
def cusum_python(path, h=5.0):
    df = pd.read_csv(path)
    t0 = time.perf_counter()
    counts = df["count"].to_numpy(float).reshape(3321 * 5, 52)
    mu0 = df["baseline"].to_numpy(float).reshape(3321 * 5, 52)[:, 0]
    k = mu0 / np.log(2.0)  # (mu1 - mu0) / (ln mu1 - ln mu0) with mu1 = 2 mu0
    s = np.zeros(len(k))
    alarms = 0
    with_alarm = np.zeros(len(k), bool)
    for w in range(52):
        s = np.maximum(0.0, s + counts[:, w] - k)
        hit = s >= h
        alarms += int(hit.sum())
        with_alarm |= hit
        last = s.sum()  # the statistic as charted, before the restart after an alarm
        s[hit] = 0.0
    return {"alarms": alarms, "series_with_alarm": int(with_alarm.sum()), "final_statistic_sum": float(last),
            "compute_seconds": time.perf_counter() - t0}


def bench_cusum(runs):
    path = os.path.join(DATA, "cusum.csv")
    rt, rts, r = run_rust(["cusum", "--input", path], runs)
    pt, pts, p = run_py(lambda: cusum_python(path), runs)
    assert r["alarms"] == p["alarms"] and r["series_with_alarm"] == p["series_with_alarm"], (r, p)
    agree("cusum final sum", r["final_statistic_sum"], p["final_statistic_sum"], rel=1e-9)
    # Compute only (CSV reading excluded): medians over fresh runs of each side.
    rc = statistics.median(run_rust(["cusum", "--input", path], 1)[2]["compute_seconds"] for _ in range(runs))
    pc = statistics.median(cusum_python(path)["compute_seconds"] for _ in range(runs))
    return {"name": "Poisson CUSUM, 3,321 stations x 5 tools x 52 weeks",
            "reference": "pandas read + numpy CUSUM vectorised over the 16,605 series",
            "rust": rt, "python": pt, "rust_runs": rts, "python_runs": pts,
            "compute_only": {"rust": rc, "python": pc}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--python-runs-slow", type=int, default=1, help="runs of the slow vigipy and Evidently sides")
    ap.add_argument("--only", default="eval,cusum,drift_small,drift,signals_freq,signals,evidently_small,evidently")
    a = ap.parse_args()
    if not os.path.exists(BIN):
        raise SystemExit(f"build the harness first: {BIN} not found")
    results = []
    for part in a.only.split(","):
        print("running", part, file=sys.stderr)
        load_before = os.getloadavg()
        if part == "eval":
            results.append(bench_eval(a.runs))
        elif part == "cusum":
            results.append(bench_cusum(a.runs))
        elif part in ("drift", "drift_small"):
            results.append(bench_drift(a.runs, part))
        elif part in ("evidently", "evidently_small"):
            results.append(bench_evidently(a.runs, a.python_runs_slow, "drift" if part == "evidently" else "drift_small"))
        elif part == "signals_freq":
            results.append(bench_signals(a.runs, a.runs, ["prr", "ror"]))
        elif part == "signals":
            results.append(bench_signals(a.runs, a.python_runs_slow, ["prr", "ror", "ic", "ebgm"]))
        r = results[-1]
        # Others share the machine: the 1, 5 and 15 minute load averages around each part.
        r["load_average"] = {"before": load_before, "after": os.getloadavg()}
        print(f"  {r['name']}: vigilo {r['rust']:.3f} s, reference {r['python']:.3f} s, ratio {r['python'] / r['rust']:.1f}x",
              file=sys.stderr)
        if "compute_only" in r:
            c = r["compute_only"]
            print(f"    compute only: vigilo {c['rust']:.4f} s, reference {c['python']:.4f} s, ratio {c['python'] / c['rust']:.1f}x",
                  file=sys.stderr)
    print(json.dumps({"machine": os.uname().nodename, "cpus": os.cpu_count(),
                      "load_average_at_end": os.getloadavg(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
