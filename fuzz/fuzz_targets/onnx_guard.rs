//! The ONNX upload guard (`vigilo_sandbox::check_model`): the protobuf decoding and the
//! checks made by hand before tract builds a vendor's model (unsupported operators, weights
//! in external files, the input's type and shape). Inference is not fuzzed: it runs in the
//! worker process under limits.
//!
//! Invariants: no panic and a typed `ModelError` that displays; none of the guard's
//! refusals counts against the vendor's submission limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigilo_sandbox::check_model;

fuzz_target!(|data: &[u8]| {
    let names: Vec<String> = ["mean_texture", "worst_area", "worst_smoothness"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if let Err(e) = check_model(data, 114, &names) {
        let _ = e.to_string();
        assert!(!e.counts_against_limit(), "a guard refusal counted: {e:?}");
    }
});
