//! ONNX inference with tract, inside the worker process only.
//!
//! Before tract builds the model, the graph is checked by hand so that the vendor gets a
//! precise message: operators tract does not implement are named with export advice,
//! weights in external files are refused (they would be read from the worker's disk), and
//! the input's declared type and shape are compared with the dataset's features.

use crate::model::{InputShape, ModelError};
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// ONNX element type code of float32 (`TensorProto.DataType.FLOAT`).
const ONNX_FLOAT: i32 = 1;

/// Advice for an operator tract cannot run, by operator name.
pub fn export_advice(operator: &str) -> &'static str {
    match operator {
        "ZipMap" => {
            "ZipMap turns probabilities into a list of maps; export without it \
             (skl2onnx: options={id(model): {'zipmap': False}}) so the probabilities are a \
             float tensor [N, 2]"
        }
        "SVMClassifier" | "SVMRegressor" => {
            "support vector machines from ai.onnx.ml are not supported; for a linear kernel \
             export the decision function as MatMul + Add (+ Sigmoid for a probability)"
        }
        "TreeEnsembleRegressor" | "TreeEnsemble" => {
            "tree-ensemble regressors from ai.onnx.ml are not supported; export a classifier \
             as TreeEnsembleClassifier with zipmap disabled, or use a model built from \
             standard operators"
        }
        "Scaler"
        | "Imputer"
        | "OneHotEncoder"
        | "LabelEncoder"
        | "FeatureVectorizer"
        | "Binarizer"
        | "ArrayFeatureExtractor"
        | "DictVectorizer"
        | "CastMap" => {
            "ai.onnx.ml preprocessing is not supported; fold it into standard operators \
             (for standardisation: Sub and Div, or into the first MatMul + Add)"
        }
        _ => {
            "use only standard ONNX operators (opsets 9 to 18); for example export a \
             logistic regression as MatMul + Add + Sigmoid"
        }
    }
}

fn walk_graph<'a>(graph: &'a pb::GraphProto, f: &mut dyn FnMut(&'a pb::GraphProto)) {
    f(graph);
    for node in &graph.node {
        for attr in &node.attribute {
            if let Some(g) = &attr.g {
                walk_graph(g, f);
            }
            for g in &attr.graphs {
                walk_graph(g, f);
            }
        }
    }
}

/// Unknown operator names in the model (sorted, distinct), and whether any tensor points to
/// external data.
fn inspect(proto: &pb::ModelProto, onnx: &tract_onnx::Onnx) -> (Vec<String>, bool) {
    let mut unknown: Vec<String> = Vec::new();
    let mut external = false;
    if let Some(graph) = &proto.graph {
        walk_graph(graph, &mut |g| {
            for node in &g.node {
                if !onnx.op_register.0.contains_key(&node.op_type) {
                    unknown.push(node.op_type.clone());
                }
                for attr in &node.attribute {
                    let tensors = attr.t.iter().chain(&attr.tensors);
                    external |= tensors.into_iter().any(|t| !t.external_data.is_empty());
                }
            }
            external |= g.initializer.iter().any(|t| !t.external_data.is_empty());
        });
    }
    unknown.sort();
    unknown.dedup();
    (unknown, external)
}

fn check_input(graph: &pb::GraphProto, shape: &InputShape) -> Result<(), ModelError> {
    let initialised: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initialised.contains(&i.name.as_str()))
        .collect();
    let wrong = |detail: String| ModelError::WrongInput {
        detail,
        expected: shape.expected(),
    };
    let [input] = inputs.as_slice() else {
        return Err(wrong(format!("the model has {} inputs", inputs.len())));
    };
    let Some(pb::type_proto::Value::TensorType(tensor)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(wrong(format!("input `{}` is not a tensor", input.name)));
    };
    if tensor.elem_type != ONNX_FLOAT {
        return Err(wrong(format!(
            "input `{}` has ONNX element type {} (1 is float32)",
            input.name, tensor.elem_type
        )));
    }
    if let Some(dims) = &tensor.shape {
        let fixed: Vec<Option<i64>> = dims
            .dim
            .iter()
            .map(|d| match d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => Some(v),
                _ => None,
            })
            .collect();
        let described = fixed
            .iter()
            .map(|d| d.map_or("?".to_string(), |v| v.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        let fits = match fixed.as_slice() {
            [batch, features] => {
                batch.is_none_or(|b| b == shape.rows as i64)
                    && features.is_none_or(|f| f == shape.cols as i64)
            }
            _ => false,
        };
        if !fits {
            return Err(wrong(format!(
                "input `{}` has shape [{described}]",
                input.name
            )));
        }
    }
    Ok(())
}

/// The upload guard: decodes the ONNX protobuf and checks it by hand before tract builds
/// anything from it (operators tract cannot run, weights in external files, the input's type
/// and shape against `rows` cases of `feature_names`). Runs no inference; never panics on
/// any input. [`crate::run_model`] applies the same checks in the worker.
pub fn check_model(
    model_bytes: &[u8],
    rows: usize,
    feature_names: &[String],
) -> Result<(), ModelError> {
    let shape = InputShape {
        rows,
        cols: feature_names.len(),
        names: feature_names.to_vec(),
    };
    guard(model_bytes, &shape, &tract_onnx::onnx()).map(|_| ())
}

/// Decodes the model and applies the checks of [`check_model`]; the decoded model on success.
fn guard(
    model_bytes: &[u8],
    shape: &InputShape,
    onnx: &tract_onnx::Onnx,
) -> Result<pb::ModelProto, ModelError> {
    let proto = onnx
        .proto_model_for_read(&mut &model_bytes[..])
        .map_err(|e| ModelError::Malformed {
            detail: format!("{e:#}"),
        })?;
    let Some(graph) = &proto.graph else {
        return Err(ModelError::Malformed {
            detail: "the model has no graph".into(),
        });
    };
    let (unknown, external) = inspect(&proto, onnx);
    if !unknown.is_empty() {
        let mut advice: Vec<&str> = unknown.iter().map(|op| export_advice(op)).collect();
        advice.dedup();
        return Err(ModelError::UnsupportedOperators {
            operators: unknown,
            advice: advice.join("; "),
        });
    }
    if external {
        return Err(ModelError::Malformed {
            detail: "weights stored in external files are not accepted; save the model with \
                     all tensors inside the .onnx file"
                .into(),
        });
    }
    check_input(graph, shape)?;
    Ok(proto)
}

/// Loads the model, checks it ([`check_model`]), runs it on the features and returns one
/// score per row: a `[N]` or `[N, 1]` output as is, a `[N, 2]` output's second column (the
/// positive class). An output named `probabilities` is preferred when the model has several.
pub(crate) fn score(
    model_bytes: &[u8],
    shape: &InputShape,
    values: Vec<f32>,
) -> Result<Vec<f32>, ModelError> {
    let onnx = tract_onnx::onnx();
    let proto = guard(model_bytes, shape, &onnx)?;
    let Some(graph) = &proto.graph else {
        return Err(ModelError::Malformed {
            detail: "the model has no graph".into(),
        });
    };
    let output_index = graph
        .output
        .iter()
        .position(|o| o.name == "probabilities")
        .unwrap_or(0);
    let rejected = |e: anyhow_like::Error| ModelError::Rejected {
        detail: format!("{e:#}"),
    };
    let mut model = onnx
        .model_for_proto_model(&proto)
        .map_err(|e| ModelError::Malformed {
            detail: format!("{e:#}"),
        })?;
    let outputs = model.output_outlets().map_err(rejected)?.to_vec();
    let Some(&chosen) = outputs.get(output_index) else {
        return Err(ModelError::WrongOutput {
            detail: "the model has no output".into(),
            expected: "a float tensor [N], [N, 1] or [N, 2]".into(),
        });
    };
    model.select_output_outlets(&[chosen]).map_err(rejected)?;
    model
        .set_input_fact(
            0,
            InferenceFact::dt_shape(f32::datum_type(), tvec![shape.rows, shape.cols]),
        )
        .map_err(rejected)?;
    let plan = model
        .into_optimized()
        .and_then(|m| m.into_runnable())
        .map_err(|e| {
            let detail = format!("{e:#}");
            if detail.contains("alloc") {
                ModelError::OutOfMemory { limit_bytes: 0 }
            } else {
                ModelError::Rejected { detail }
            }
        })?;
    let input = tract_ndarray::Array2::from_shape_vec((shape.rows, shape.cols), values)
        .map_err(|e| ModelError::Worker {
            detail: e.to_string(),
        })?
        .into_tensor();
    let mut result = plan.run(tvec![input.into_tvalue()]).map_err(|e| {
        let detail = format!("{e:#}");
        if detail.contains("alloc") {
            ModelError::OutOfMemory { limit_bytes: 0 }
        } else {
            ModelError::Crashed {
                detail: format!("the runtime failed: {detail}"),
            }
        }
    })?;
    let Some(output) = result.pop() else {
        return Err(ModelError::WrongOutput {
            detail: "the model produced no output".into(),
            expected: "a float tensor [N], [N, 1] or [N, 2]".into(),
        });
    };
    let output = output.into_tensor();
    let wrong_output = |detail: String| ModelError::WrongOutput {
        detail,
        expected: format!(
            "a float tensor [{n}], [{n}, 1] or [{n}, 2] (column 1 = positive class)",
            n = shape.rows
        ),
    };
    let dims = output.shape().to_vec();
    let floats = output
        .cast_to::<f32>()
        .map_err(|_| wrong_output(format!("output type {:?}", output.datum_type())))?;
    if !output.datum_type().is_float() {
        return Err(wrong_output(format!(
            "output type {:?}",
            output.datum_type()
        )));
    }
    let view = floats
        .to_plain_array_view::<f32>()
        .map_err(|e| wrong_output(e.to_string()))?;
    let n = shape.rows;
    let scores: Vec<f32> = match dims.as_slice() {
        [r] if *r == n => view.iter().copied().collect(),
        [r, 1] if *r == n => view.iter().copied().collect(),
        [r, 2] if *r == n => view.iter().skip(1).step_by(2).copied().collect(),
        _ => return Err(wrong_output(format!("output shape {dims:?}"))),
    };
    Ok(scores)
}

/// tract's error type, named once.
mod anyhow_like {
    pub type Error = tract_onnx::prelude::TractError;
}

#[cfg(test)]
mod tests {
    use crate::model::ModelError;

    fn three() -> Vec<String> {
        ["mean_texture", "worst_area", "worst_smoothness"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn guard_accepts_a_fitting_model_and_names_what_does_not_fit() {
        let logreg = include_bytes!("../fixtures/wdbc_logreg.onnx");
        assert_eq!(super::check_model(logreg, 114, &three()), Ok(()));
        assert!(matches!(
            super::check_model(logreg, 114, &three()[..2]),
            Err(ModelError::WrongInput { .. })
        ));
        let zipmap = include_bytes!("../fixtures/unsupported_zipmap.onnx");
        assert!(matches!(
            super::check_model(zipmap, 114, &three()),
            Err(ModelError::UnsupportedOperators { .. })
        ));
        assert!(matches!(
            super::check_model(b"not a model", 114, &three()),
            Err(ModelError::Malformed { .. })
        ));
    }

    #[test]
    fn advice_names_the_fix() {
        assert!(super::export_advice("ZipMap").contains("zipmap"));
        assert!(super::export_advice("SomethingNew").contains("MatMul + Add + Sigmoid"));
    }
}
