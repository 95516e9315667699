"""The same evaluation as vigilo-sandbox, the way a Python user would write it: pandas to
read and join, scikit-learn for the metrics, and the fast DeLong algorithm (Sun and Xu 2014)
in numpy for the AUROC interval. Written for this benchmark; conventions as statistics.md
(positive when score >= threshold, Wilson 95% intervals, ECE over 10 right-closed bins)."""
import json

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score, roc_curve

Z = norm.ppf(0.975)
SUBGROUPS = ["sex", "age_band", "province"]
THRESHOLD = 0.5
MIN_SUBGROUP = 30


def wilson(x, n):
    if n == 0:
        return None
    p = x / n
    centre = (x + Z * Z / 2) / (n + Z * Z)
    half = Z * np.sqrt(n * p * (1 - p) + Z * Z / 4) / (n + Z * Z)
    return {"estimate": p, "lower": max(0.0, centre - half), "upper": min(1.0, centre + half)}


def at_threshold(y, s):
    tn, fp, fn, tp = confusion_matrix(y, (s >= THRESHOLD).astype(int), labels=[0, 1]).ravel()
    tp, fp, tn, fn = int(tp), int(fp), int(tn), int(fn)
    return {
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
        "sensitivity": wilson(tp, tp + fn),
        "specificity": wilson(tn, tn + fp),
        "ppv": wilson(tp, tp + fp),
        "npv": wilson(tn, tn + fn),
        "accuracy": wilson(tp + tn, tp + fp + tn + fn),
    }


def delong(y, s):
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    tz = rankdata(np.concatenate([pos, neg]))
    tx, ty = rankdata(pos), rankdata(neg)
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (tz[:m] - tx) / n
    v01 = 1 - (tz[m:] - ty) / m
    var = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    se = np.sqrt(var)
    return {"estimate": auc, "lower": max(0.0, auc - Z * se), "upper": min(1.0, auc + Z * se),
            "standard_error": se}


def ece(y, p, bins=10):
    idx = np.clip(np.ceil(p * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    out = []
    for b in range(bins):
        mask = idx == b
        k = int(mask.sum())
        if k:
            mp, obs = p[mask].mean(), y[mask].mean()
            total += k / len(y) * abs(obs - mp)
            out.append({"count": k, "mean_predicted": mp, "observed_rate": obs})
    return total, out


def evaluate(dataset_path, predictions_path):
    data = pd.read_csv(dataset_path, dtype={"case_id": str, "label": np.int8, "sex": str,
                                             "age_band": str, "province": str})
    preds = pd.read_csv(predictions_path, dtype={"case_id": str, "score": np.float64})
    if preds["case_id"].duplicated().any() or len(preds) != len(data):
        raise ValueError("bad predictions")
    df = data.merge(preds, on="case_id", how="left", validate="one_to_one")
    if df["score"].isna().any():
        raise ValueError("missing predictions")
    y = df["label"].to_numpy()
    s = df["score"].to_numpy()
    report = {"at_threshold": at_threshold(y, s)}
    report["auroc_sklearn"] = roc_auc_score(y, s)
    report["auroc"] = delong(y, s)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=True)
    report["roc_points"] = len(fpr)
    report["brier"] = brier_score_loss(y, s)
    report["ece"], report["bins"] = ece(y, s)
    logit = np.log(s / (1 - s)).reshape(-1, 1)
    fit = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit, y)
    report["slope"], report["intercept"] = float(fit.coef_[0][0]), float(fit.intercept_[0])
    subgroups = {}
    for col in SUBGROUPS:
        groups = {}
        for name, g in df.groupby(col, sort=True):
            gy, gs = g["label"].to_numpy(), g["score"].to_numpy()
            if len(g) < MIN_SUBGROUP:
                groups[name] = {"n": len(g), "suppressed": True}
                continue
            entry = at_threshold(gy, gs)
            entry["n"] = len(g)
            entry["auroc"] = roc_auc_score(gy, gs) if 0 < gy.sum() < len(gy) else None
            groups[name] = entry
        subgroups[col] = groups
    report["subgroups"] = subgroups
    text = json.dumps(report, default=float)
    return report, len(text)
