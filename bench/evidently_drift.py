#!/usr/bin/env python3
"""Evidently's data drift report on a reference/current pair of CSV files, timed in-process
from reading the files to the finished report (interpreter start-up and imports excluded,
as for the other Python references). Runs in its own environment, bench/.venv-evidently,
because Evidently needs pandas < 3 (run_bench.py creates it).

    bench/.venv-evidently/bin/python bench/evidently_drift.py REF.csv CUR.csv [--runs 1] [--method ks]

Prints one JSON document: the times of each run and, per column, the drift score Evidently
reports (normed Wasserstein distance by default for numeric columns over 1,000 rows, the
KS p-value with --method ks) and the method it names.
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("DO_NOT_TRACK", "1")

import pandas as pd  # noqa: E402
from evidently import Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402


def run(ref_path, cur_path, method):
    ref = pd.read_csv(ref_path)
    cur = pd.read_csv(cur_path)
    preset = DataDriftPreset(num_method=method) if method else DataDriftPreset()
    snapshot = Report([preset]).run(current_data=cur, reference_data=ref)
    return snapshot.dict()


def column_scores(doc):
    out = {}
    for m in doc["metrics"]:
        cfg = m.get("config", {})
        if cfg.get("type", "").endswith("ValueDrift") and "column" in cfg:
            out[cfg["column"]] = {"score": float(m["value"]), "method": cfg.get("method")}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("reference")
    ap.add_argument("current")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--method", default=None)
    a = ap.parse_args()
    times, doc = [], None
    for _ in range(a.runs):
        t = time.perf_counter()
        doc = run(a.reference, a.current, a.method)
        times.append(time.perf_counter() - t)
    import evidently
    print(json.dumps({"evidently": evidently.__version__, "pandas": pd.__version__,
                      "median": statistics.median(times), "runs": times,
                      "columns": column_scores(doc)}))


if __name__ == "__main__":
    main()
