#!/usr/bin/env python3
"""Builds the sandbox's demo and test fixtures from the Wisconsin breast cancer data.

Run by hand, not in CI, in its own virtual environment:

    python3 -m venv /tmp/venv-sandbox
    /tmp/venv-sandbox/bin/pip install numpy scikit-learn onnx
    /tmp/venv-sandbox/bin/python crates/vigilo-sandbox/scripts/make_fixtures.py

It reads ../shared/data/wdbc_breast_cancer_diagnostic.csv (next to the repository) and writes
into crates/vigilo-sandbox/fixtures/:

- wdbc_breast_cancer_diagnostic.csv: the full data with two added columns, `case_id`
  (wdbc-000 ... from row_index) and `label` (1 = malignant, the positive class; the source's
  `target` uses scikit-learn's coding 0 = malignant). Values are otherwise unchanged.
- wdbc_reference.csv: the seeded, stratified 20% held-out split, the regulator's reference
  dataset, with a derived subgroup column `radius_band` (tertiles of mean_radius in the
  training split: small, medium, large) so the demo has subgroups.
- wdbc_logreg.onnx: scikit-learn logistic regression (after standardisation) on the three
  features of the published separating plane (mean_texture, worst_area, worst_smoothness, in
  that order), fitted on the 80% training split, exported with onnx.helper from standard operators only: the scaler is
  folded into the weights, so the graph is MatMul + Add + Sigmoid.
- wdbc_sklearn_predictions.csv: scikit-learn's predict_proba for the held-out cases.
- wdbc_sklearn_reference.json: scikit-learn's metrics on those predictions.
- unsupported_zipmap.onnx, unsupported_tree_regressor.onnx: tiny graphs with ai.onnx.ml
  operators tract does not implement.
- slow.onnx: a chain of large MatMuls (weights made at run time by ConstantOfShape, so the
  file stays small) that takes seconds of processor time.
- memory_hog.onnx: a MatMul whose output is a float tensor of about 2.3 GB.
"""

import csv
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

SEED = 20261123
REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO.parent / "shared" / "data" / "wdbc_breast_cancer_diagnostic.csv"
OUT = Path(__file__).resolve().parents[1] / "fixtures"
OPSET = [helper.make_opsetid("", 13)]
# The three features of the published separating plane (Street, Wolberg and Mangasarian
# 1993): a small model that makes a few mistakes on the held-out split, so the comparison
# with scikit-learn is not between two perfect scores.
MODEL_FEATURES = ["mean_texture", "worst_area", "worst_smoothness"]


def read_source():
    with SOURCE.open(newline="") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0].keys())
    features = header[1:31]
    assert features[0] == "mean_radius" and features[-1] == "worst_fractal_dimension"
    return header, features, rows


def write_full_copy(header, rows):
    with (OUT / "wdbc_breast_cancer_diagnostic.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["case_id"] + header + ["label"])
        for r in rows:
            case_id = f"wdbc-{int(r['row_index']):03d}"
            label = 1 if r["diagnosis"] == "M" else 0
            assert label == 1 - int(r["target"])
            w.writerow([case_id] + [r[h] for h in header] + [label])


def save(model, name):
    onnx.checker.check_model(model)
    onnx.save(model, OUT / name)


def logistic_onnx(weights, bias, n_features):
    w = numpy_helper.from_array(weights.reshape(n_features, 1).astype(np.float32), "weights")
    b = numpy_helper.from_array(np.array([bias], dtype=np.float32), "bias")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "weights"], ["logit_raw"]),
            helper.make_node("Add", ["logit_raw", "bias"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["probability"]),
        ],
        "wdbc_logistic_regression",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", n_features])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="vigilo make_fixtures.py")
    model.ir_version = 8
    return model


def unsupported_models(n_features):
    w = numpy_helper.from_array(np.zeros((n_features, 2), dtype=np.float32), "w")
    zipmap = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
            helper.make_node(
                "ZipMap", ["probabilities"], ["output_probability"],
                domain="ai.onnx.ml", classlabels_int64s=[0, 1],
            ),
        ],
        "zipmap",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", n_features])],
        [helper.make_value_info(
            "output_probability",
            helper.make_sequence_type_proto(
                helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))
            ),
        )],
        initializer=[w],
    )
    ml = OPSET + [helper.make_opsetid("ai.onnx.ml", 3)]
    zipmap_model = helper.make_model(zipmap, opset_imports=ml)
    zipmap_model.ir_version = 8
    save(zipmap_model, "unsupported_zipmap.onnx")

    tree = helper.make_graph(
        [helper.make_node(
            "TreeEnsembleRegressor", ["features"], ["score"], domain="ai.onnx.ml",
            n_targets=1, nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2],
            nodes_featureids=[0, 0, 0], nodes_values=[15.0, 0.0, 0.0],
            nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_truenodeids=[1, 0, 0],
            nodes_falsenodeids=[2, 0, 0], target_treeids=[0, 0], target_nodeids=[1, 2],
            target_ids=[0, 0], target_weights=[0.1, 0.9],
        )],
        "tree_regressor",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", n_features])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
    )
    tree_model = helper.make_model(tree, opset_imports=ml)
    tree_model.ir_version = 8
    save(tree_model, "unsupported_tree_regressor.onnx")


def const_of_shape(name, shape, value):
    shape_t = numpy_helper.from_array(np.array(shape, dtype=np.int64), name + "_shape")
    node = helper.make_node(
        "ConstantOfShape", [name + "_shape"], [name],
        value=helper.make_tensor(name + "_value", TensorProto.FLOAT, [1], [value]),
    )
    return shape_t, node


def slow_model(n_features, width=2048, layers=150):
    inits, nodes = [], []
    t, n = const_of_shape("w_in", [n_features, width], 1e-3)
    inits.append(t)
    nodes.append(n)
    t, n = const_of_shape("w_mid", [width, width], 1.0 / width)
    inits.append(t)
    nodes.append(n)
    nodes.append(helper.make_node("MatMul", ["features", "w_in"], ["h0"]))
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "w_mid"], [f"h{i + 1}"]))
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    inits.append(axes)
    nodes.append(helper.make_node("ReduceMean", [f"h{layers}"], ["mean"], axes=[1], keepdims=1))
    nodes.append(helper.make_node("Sigmoid", ["mean"], ["probability"]))
    graph = helper.make_graph(
        nodes, "slow",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", n_features])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1])],
        initializer=[i for i in inits if i.name != "axes"],
    )
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    save(model, "slow.onnx")


def memory_hog_model(n_features, width=5_000_000):
    # MatMul by a non-uniform [F, width] matrix (made by Range, so the file stays small and
    # tract cannot treat it as a constant broadcast) materialises an [N, width] float tensor:
    # about 2.3 GB for the 114 held-out cases.
    scalars = [
        numpy_helper.from_array(np.array(v, dtype=np.float32), name)
        for v, name in [(0.0, "start"), (float(n_features * width), "limit"), (1.0, "delta"),
                        (1e-7, "scale")]
    ]
    shape = numpy_helper.from_array(np.array([n_features, width], dtype=np.int64), "w_shape")
    graph = helper.make_graph(
        [
            helper.make_node("Range", ["start", "limit", "delta"], ["ramp"]),
            helper.make_node("Reshape", ["ramp", "w_shape"], ["ramp2d"]),
            helper.make_node("Mul", ["ramp2d", "scale"], ["w"]),
            helper.make_node("MatMul", ["features", "w"], ["wide"]),
            helper.make_node("Sigmoid", ["wide"], ["wide_p"]),
            helper.make_node("ReduceMean", ["wide_p"], ["probability"], axes=[1], keepdims=1),
        ],
        "memory_hog",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", n_features])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1])],
        initializer=scalars + [shape],
    )
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    save(model, "memory_hog.onnx")


def metrics(y, p, threshold=0.5):
    pred = (p >= threshold).astype(int)
    out = {"n": int(len(y)), "n_positive": int(y.sum())}
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    out["confusion"] = {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)}
    out["accuracy"] = float(accuracy_score(y, pred))
    out["sensitivity"] = float(tp / (tp + fn)) if tp + fn else None
    out["specificity"] = float(tn / (tn + fp)) if tn + fp else None
    out["ppv"] = float(tp / (tp + fp)) if tp + fp else None
    out["npv"] = float(tn / (tn + fn)) if tn + fn else None
    out["roc_auc"] = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None
    out["brier"] = float(brier_score_loss(y, p))
    return out


def main():
    import sklearn

    OUT.mkdir(exist_ok=True)
    header, features, rows = read_source()
    write_full_copy(header, rows)

    x_all = np.array([[float(r[f]) for f in features] for r in rows])
    model_cols = [features.index(f) for f in MODEL_FEATURES]
    x = x_all[:, model_cols]
    y = np.array([1 if r["diagnosis"] == "M" else 0 for r in rows])
    ids = np.array([f"wdbc-{int(r['row_index']):03d}" for r in rows])
    x_tr, x_te, y_tr, y_te, xa_tr, xa_te, _, id_te = train_test_split(
        x, y, x_all, ids, test_size=0.2, random_state=SEED, stratify=y
    )
    scaler = StandardScaler().fit(x_tr)
    clf = LogisticRegression(C=1.0, max_iter=10_000).fit(scaler.transform(x_tr), y_tr)
    coef = clf.coef_[0]
    weights = coef / scaler.scale_
    bias = clf.intercept_[0] - float(np.sum(coef * scaler.mean_ / scaler.scale_))
    save(logistic_onnx(weights, bias, len(MODEL_FEATURES)), "wdbc_logreg.onnx")

    proba = clf.predict_proba(scaler.transform(x_te))[:, 1]
    radius = xa_tr[:, 0]
    cuts = np.quantile(radius, [1 / 3, 2 / 3])
    r_te = xa_te[:, 0]
    band = np.where(r_te <= cuts[0], "small", np.where(r_te <= cuts[1], "medium", "large"))

    with (OUT / "wdbc_reference.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["case_id", "label"] + features + ["radius_band"])
        for i in range(len(y_te)):
            w.writerow([id_te[i], int(y_te[i])] + [repr(float(v)) for v in xa_te[i]] + [band[i]])
    with (OUT / "wdbc_sklearn_predictions.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["case_id", "score"])
        for i in range(len(y_te)):
            w.writerow([id_te[i], repr(float(proba[i]))])

    reference = {
        "generated_by": "crates/vigilo-sandbox/scripts/make_fixtures.py",
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
        "onnx": onnx.__version__,
        "seed": SEED,
        "positive_class": "malignant (label 1)",
        "threshold": 0.5,
        "model_features": MODEL_FEATURES,
        "radius_band_cuts": [float(c) for c in cuts],
        "probabilities": {id_te[i]: float(proba[i]) for i in range(len(y_te))},
        "overall": metrics(y_te, proba),
        "subgroups": {
            "radius_band": {
                g: metrics(y_te[band == g], proba[band == g]) for g in sorted(set(band))
            }
        },
    }
    (OUT / "wdbc_sklearn_reference.json").write_text(json.dumps(reference, indent=2) + "\n")

    unsupported_models(len(MODEL_FEATURES))
    slow_model(len(MODEL_FEATURES))
    memory_hog_model(len(MODEL_FEATURES))
    print(json.dumps(reference["overall"], indent=2))


if __name__ == "__main__":
    main()
