#!/usr/bin/env python3
"""Sandbox evaluation benchmark (issue 5): a 1,000,000-case submission with 3 subgroup
columns, end to end (read both files, parse, metrics, JSON report), vigilo-sandbox against
pandas + scikit-learn + a numpy fast DeLong. The two must agree before any time counts;
each side runs --runs times and the medians are compared.

    python3 -m venv bench/.venv && bench/.venv/bin/pip install numpy scipy pandas scikit-learn
    bench/.venv/bin/python bench/sandbox/gen_data.py                 # once, seeded
    cargo build --release -p vigilo-sandbox --example bench_evaluate
    bench/.venv/bin/python bench/sandbox/run_bench.py [--runs 5]

The Rust program is $CARGO_TARGET_DIR/release/examples/bench_evaluate (target/ by default).
Results are written to bench/sandbox/data/results.json.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from python_eval import evaluate

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "release", "examples", "bench_evaluate")


def close(a, b, tol, what, failures):
    if a is None or b is None:
        if a is not b:
            failures.append(f"{what}: {a} vs {b}")
        return
    if abs(a - b) > tol:
        failures.append(f"{what}: rust {a!r} python {b!r}")


def compare_rates(r, p, what, failures):
    if r["confusion"] != p["confusion"]:
        failures.append(f"{what} confusion: {r['confusion']} vs {p['confusion']}")
    for m in ["sensitivity", "specificity", "ppv", "npv", "accuracy"]:
        for k in ["estimate", "lower", "upper"]:
            close(r[m] and r[m][k], p[m] and p[m][k], 1e-12, f"{what} {m}.{k}", failures)


def agree(rust, py):
    failures = []
    compare_rates(rust["at_threshold"], py["at_threshold"], "overall", failures)
    for k in ["estimate", "lower", "upper", "standard_error"]:
        close(rust["auroc"][k], py["auroc"][k], 1e-9, f"auroc.{k}", failures)
    close(rust["auroc"]["estimate"], py["auroc_sklearn"], 1e-9, "auroc vs roc_auc_score", failures)
    cal = rust["calibration"]
    close(cal["brier"], py["brier"], 1e-12, "brier", failures)
    close(cal["ece"], py["ece"], 1e-9, "ece", failures)
    if [b["count"] for b in cal["bins"]] != [b["count"] for b in py["bins"]]:
        failures.append("reliability bin counts differ")
    close(cal["slope"], py["slope"], 1e-5, "calibration slope", failures)
    close(cal["intercept"], py["intercept"], 1e-5, "calibration intercept", failures)
    for sub in rust["subgroups"]:
        pg = py["subgroups"][sub["column"]]
        if sorted(g["group"] for g in sub["groups"]) != sorted(pg):
            failures.append(f"groups of {sub['column']} differ")
            continue
        for g in sub["groups"]:
            p = pg[g["group"]]
            what = f"{sub['column']}={g['group']}"
            if g["n"] != p["n"] or g["suppressed"] != p.get("suppressed", False):
                failures.append(f"{what} size or suppression")
                continue
            if not g["suppressed"]:
                compare_rates(g["metrics"], p, what, failures)
                close(g["auroc"], p["auroc"], 1e-9, f"{what} auroc", failures)
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    dataset = os.path.join(DATA, "dataset.csv")
    predictions = os.path.join(DATA, "predictions.csv")
    if not os.path.exists(dataset):
        sys.exit("run gen_data.py first")

    # Processor time as well as wall time: on a shared machine the wall time also measures
    # the other tenants. The Rust program runs all its runs in one process, so its CPU time
    # is a mean per run.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([BIN, dataset, predictions, str(args.runs)], capture_output=True,
                         check=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rust_cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / args.runs
    rust = json.loads(out.stdout)
    py_times, py_cpu, py_report = [], [], None
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.process_time()
        py_report, _ = evaluate(dataset, predictions)
        py_times.append(time.perf_counter() - t)
        py_cpu.append(time.process_time() - c)

    failures = agree(rust["report"], py_report)
    if failures:
        print("DISAGREEMENT, times not reported:", *failures[:20], sep="\n  ")
        sys.exit(1)
    rust_median = statistics.median(rust["times_s"])
    py_median = statistics.median(py_times)
    cases = rust["report"]["dataset"]["cases"]
    result = {
        "cases": cases,
        "runs": args.runs,
        "rust_times_s": rust["times_s"],
        "python_times_s": py_times,
        "rust_median_s": rust_median,
        "python_median_s": py_median,
        "ratio_python_over_rust": py_median / rust_median,
        "rust_cpu_mean_s": rust_cpu,
        "python_cpu_s": py_cpu,
        "python_cpu_median_s": statistics.median(py_cpu),
        "cpu_ratio_python_over_rust": statistics.median(py_cpu) / rust_cpu,
        "rust_phases_s": dict(zip(rust["phase_names"],
                                  [statistics.median(p[i] for p in rust["phases_s"])
                                   for i in range(len(rust["phase_names"]))])),
        "load_average": os.getloadavg(),
        "report_bytes": rust["report_bytes"],
        "roc_points_reported": len(rust["report"]["roc_curve"]),
        "roc_points_python": py_report["roc_points"],
        "auroc": rust["report"]["auroc"],
    }
    with open(os.path.join(DATA, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
