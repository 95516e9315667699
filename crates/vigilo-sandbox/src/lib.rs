//! Vigilo's sandbox: blind evaluation of a vendor's AI model on a reference dataset held by
//! the regulator. Pure evaluation engine and model runner: no database, no HTTP, no clock.
//!
//! - [`dataset`]: the regulator's reference CSV (case id, label, features, subgroups), its
//!   limits and SHA-256 fingerprint.
//! - [`protocol`]: the pre-registered protocol (endpoints, subgroups, limits) and its
//!   field-by-field validation.
//! - [`predictions`]: the vendor's `case_id,score` file, with line-numbered errors.
//! - [`evaluate()`]: metrics from `vigilo-stats`, verdicts, and the JSON report.
//! - [`model`]: ONNX models run by tract in a child process with time and memory limits
//!   ([`run_model`] in the parent, [`worker_main`] in the child).
//!
//! The vendor-facing rules are in `docs/sandbox.md`.

pub mod dataset;
pub mod evaluate;
pub mod fingerprint;
pub mod model;
mod onnx;
pub mod predictions;
pub mod protocol;

pub use dataset::{
    parse_reference_csv, ColumnRoles, DatasetError, DatasetLimits, ReferenceDataset,
};
pub use evaluate::{evaluate, EvaluateError, EvaluationReport, Verdict};
pub use model::{
    predictions_from_model, run_model, worker_main, ModelError, RunLimits, WorkerCommand,
};
pub use onnx::{check_model, export_advice};
pub use predictions::{parse_predictions, Predictions, PredictionsError};
pub use protocol::{Endpoint, FieldError, FieldErrorCode, Metric, Protocol, ScoreKind};
