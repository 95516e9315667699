#!/usr/bin/env python3
"""Seeded data for the sandbox benchmark: a reference dataset of N cases (default 1,000,000)
with a label and three subgroup columns (sex, age_band, province), and a predictions file for
it in shuffled order. Scores are probabilities rounded to 6 decimals, so there are ties.

    python bench/sandbox/gen_data.py [--rows 1000000] [--seed 5]
"""
import argparse
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.rows
    os.makedirs(DATA, exist_ok=True)

    sex = rng.choice(np.array(["F", "M"]), n)
    age = rng.choice(np.array(["0-17", "18-39", "40-59", "60-79", "80+"]), n, p=[0.1, 0.3, 0.3, 0.25, 0.05])
    province = np.array([f"P{k:02d}" for k in rng.integers(1, 35, n)])
    # Prevalence and separability differ a little by group, so the gaps are not zero.
    base = -1.5 + 0.3 * (age == "80+") + 0.2 * (sex == "M")
    label = (rng.random(n) < 1 / (1 + np.exp(-base))).astype(int)
    logit = -1.2 + 2.2 * label + rng.normal(0, 1, n) - 0.3 * (province == "P07")
    score = np.round(1 / (1 + np.exp(-logit)), 6)
    score = np.clip(score, 1e-6, 1 - 1e-6)
    ids = np.array([f"c{i:07d}" for i in range(n)])

    with open(os.path.join(DATA, "dataset.csv"), "w") as f:
        f.write("case_id,label,sex,age_band,province\n")
        f.writelines(f"{i},{y},{s},{a},{p}\n" for i, y, s, a, p in zip(ids, label, sex, age, province))
    order = rng.permutation(n)
    with open(os.path.join(DATA, "predictions.csv"), "w") as f:
        f.write("score,case_id\n")
        f.writelines(f"{score[k]:.6f},{ids[k]}\n" for k in order)
    print(f"wrote {n} rows to {DATA}")


if __name__ == "__main__":
    main()
