//! Running a vendor's ONNX model, never in the server process (ARCHITECTURE invariant 8).
//!
//! The parent ([`run_model`]) spawns a worker executable, writes the request to its standard
//! input and reads one JSON reply from its standard output:
//!
//! ```text
//! stdin:  one JSON line (WorkerRequest), then the model bytes, then rows x cols f32 little-endian
//! stdout: one JSON document (WorkerReply)
//! ```
//!
//! The worker ([`worker_main`]) first limits itself (`RLIMIT_AS` for memory, `RLIMIT_CPU` for
//! processor time) and only then reads the model. The parent also enforces a wall-clock limit
//! by killing the child. Pipes rather than files: nothing to clean up and nothing on disk.

use crate::dataset::{FeatureMatrix, ReferenceDataset};
use crate::fingerprint::sha256_hex;
use crate::predictions::Predictions;
use crate::protocol::ScoreKind;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// How to start the worker: the `vigilo` binary with its hidden subcommand, or (in this
/// crate's tests) the `vigilo-sandbox-worker` binary without arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

/// Resource limits for one model run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLimits {
    /// Largest accepted model file.
    pub max_model_bytes: usize,
    /// Wall-clock time from spawn to reply; the child is killed after it.
    pub wall_clock: Duration,
    /// Processor seconds (`RLIMIT_CPU`).
    pub cpu_seconds: u64,
    /// Address space of the worker (`RLIMIT_AS`), including the feature matrix it holds.
    pub memory_bytes: u64,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            max_model_bytes: 100 << 20,
            wall_clock: Duration::from_secs(120),
            cpu_seconds: 120,
            memory_bytes: 4 << 30,
        }
    }
}

/// Why a model run produced no scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelError {
    #[error("the model file is {bytes} bytes; the limit is {limit}")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the file is not a valid ONNX model: {detail}")]
    Malformed { detail: String },
    #[error("the model uses operators the sandbox cannot run: {}. {advice}", operators.join(", "))]
    UnsupportedOperators {
        operators: Vec<String>,
        advice: String,
    },
    #[error("the model's input does not fit: {detail}. Expected {expected}")]
    WrongInput { detail: String, expected: String },
    #[error("the model's output does not fit: {detail}. Expected {expected}")]
    WrongOutput { detail: String, expected: String },
    /// tract could not type or optimise the graph (before any case was scored).
    #[error("the model could not be prepared: {detail}")]
    Rejected { detail: String },
    #[error("case `{case_id}`: the model produced {value}, which is not {expected}")]
    BadScore {
        case_id: String,
        value: f64,
        expected: String,
    },
    #[error("the model ran longer than the limit of {limit_seconds} seconds")]
    TooSlow { limit_seconds: u64 },
    #[error("the model needed more memory than the limit of {limit_bytes} bytes")]
    OutOfMemory { limit_bytes: u64 },
    #[error("the model run crashed: {detail}")]
    Crashed { detail: String },
    /// The sandbox itself failed (worker missing, broken pipe, garbled reply): not the
    /// vendor's fault.
    #[error("the sandbox worker failed: {detail}")]
    Worker { detail: String },
}

impl ModelError {
    /// Whether the model file parsed, was prepared and the sandbox started running it. Only
    /// then does the attempt count against the vendor's submission limit; nothing about the
    /// labels can be learnt from an earlier failure.
    pub fn model_parsed(&self) -> bool {
        matches!(
            self,
            ModelError::BadScore { .. }
                | ModelError::TooSlow { .. }
                | ModelError::OutOfMemory { .. }
                | ModelError::Crashed { .. }
                | ModelError::WrongOutput { .. }
        )
    }

    pub fn counts_against_limit(&self) -> bool {
        self.model_parsed()
    }
}

/// First line the parent writes to the worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WorkerRequest {
    memory_bytes: u64,
    cpu_seconds: u64,
    model_bytes: u64,
    rows: u64,
    cols: u64,
    feature_names: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum WorkerReply {
    Scores { scores: Vec<f32> },
    Failed { error: ModelError },
}

const MAX_HEADER_BYTES: u64 = 1 << 20;
const MAX_STDERR_BYTES: u64 = 64 << 10;
/// What the worker prints when an allocation fails under `RLIMIT_AS`: Rust's allocator
/// before it aborts, and tract's tensor storage when it panics.
const ALLOC_FAILURE_MARKS: [&str; 2] = ["memory allocation of", "failed to allocate"];

fn worker_failure(detail: impl std::fmt::Display) -> ModelError {
    ModelError::Worker {
        detail: detail.to_string(),
    }
}

/// Runs `model` on `features` in a child process started from `worker`, within `limits`.
/// Returns one score per row.
pub fn run_model(
    worker: &WorkerCommand,
    model: &[u8],
    features: &FeatureMatrix,
    limits: &RunLimits,
) -> Result<Vec<f32>, ModelError> {
    if model.len() > limits.max_model_bytes {
        return Err(ModelError::TooLarge {
            bytes: model.len(),
            limit: limits.max_model_bytes,
        });
    }
    let request = WorkerRequest {
        memory_bytes: limits.memory_bytes,
        cpu_seconds: limits.cpu_seconds,
        model_bytes: model.len() as u64,
        rows: features.rows as u64,
        cols: features.cols() as u64,
        feature_names: features.names.clone(),
    };
    let mut header = serde_json::to_vec(&request).map_err(worker_failure)?;
    header.push(b'\n');

    let started = Instant::now();
    let mut child = Command::new(&worker.program)
        .args(&worker.args)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| worker_failure(format!("cannot start {}: {e}", worker.program.display())))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(worker_failure("child pipes missing"));
    };
    let reply_limit = 64 * features.rows as u64 + (1 << 20);

    let outcome = std::thread::scope(|scope| {
        // Writing and reading run beside the wait loop so a full pipe never blocks it.
        scope.spawn(move || {
            // A write error means the child has exited; its exit status tells why.
            let _ = stdin
                .write_all(&header)
                .and_then(|()| stdin.write_all(model))
                .and_then(|()| {
                    for chunk in features.values.chunks(1 << 14) {
                        let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
                        stdin.write_all(&bytes)?;
                    }
                    stdin.flush()
                });
        });
        let out_reader = scope.spawn(move || {
            let mut buf = Vec::new();
            stdout.take(reply_limit).read_to_end(&mut buf).map(|_| buf)
        });
        let err_reader = scope.spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.take(MAX_STDERR_BYTES).read_to_end(&mut buf);
            buf
        });
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(status),
                Ok(None) => {}
                Err(e) => break Err(worker_failure(e)),
            }
            if started.elapsed() >= limits.wall_clock {
                let _ = child.kill();
                let _ = child.wait();
                break Err(ModelError::TooSlow {
                    limit_seconds: limits.wall_clock.as_secs().max(1),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        };
        let out = out_reader.join();
        let err = err_reader.join().unwrap_or_default();
        (status, out, err)
    });
    let (status, out, err) = outcome;
    let status = status?;
    let stderr_text = String::from_utf8_lossy(&err);
    let out = match out {
        Ok(Ok(bytes)) => bytes,
        _ => return Err(worker_failure("reading the worker's reply failed")),
    };
    if status.success() {
        return match serde_json::from_slice::<WorkerReply>(&out) {
            Ok(WorkerReply::Scores { scores }) if scores.len() == features.rows => Ok(scores),
            Ok(WorkerReply::Scores { scores }) => Err(ModelError::WrongOutput {
                detail: format!("{} values for {} cases", scores.len(), features.rows),
                expected: "one score per case".into(),
            }),
            Ok(WorkerReply::Failed { error }) => Err(with_limits(error, limits)),
            Err(e) => Err(worker_failure(format!("unreadable reply: {e}"))),
        };
    }
    if let Ok(WorkerReply::Failed { error }) = serde_json::from_slice::<WorkerReply>(&out) {
        return Err(with_limits(error, limits));
    }
    Err(classify_abnormal_exit(status, &stderr_text, limits))
}

/// The worker does not know which limit the parent reports; fill it in.
fn with_limits(error: ModelError, limits: &RunLimits) -> ModelError {
    match error {
        ModelError::OutOfMemory { .. } => ModelError::OutOfMemory {
            limit_bytes: limits.memory_bytes,
        },
        other => other,
    }
}

fn classify_abnormal_exit(
    status: std::process::ExitStatus,
    stderr: &str,
    limits: &RunLimits,
) -> ModelError {
    use std::os::unix::process::ExitStatusExt;
    if ALLOC_FAILURE_MARKS.iter().any(|m| stderr.contains(m)) {
        return ModelError::OutOfMemory {
            limit_bytes: limits.memory_bytes,
        };
    }
    // RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one (we did not kill it:
    // the wall-clock path returns before reaching here).
    const SIGKILL: i32 = 9;
    const SIGXCPU: i32 = 24;
    match status.signal() {
        Some(SIGXCPU) | Some(SIGKILL) => ModelError::TooSlow {
            limit_seconds: limits.cpu_seconds,
        },
        Some(signal) => ModelError::Crashed {
            detail: format!("killed by signal {signal}"),
        },
        None => ModelError::Crashed {
            detail: format!(
                "exit status {}: {}",
                status.code().unwrap_or(-1),
                stderr
                    .lines()
                    .rfind(|l| !l.trim().is_empty() && !l.starts_with("note:"))
                    .unwrap_or("")
            ),
        },
    }
}

/// Turns a model's raw scores into predictions for `dataset`, checking each score as a
/// predictions file would be checked. The fingerprint is that of the model file.
pub fn predictions_from_model(
    model: &[u8],
    scores: &[f32],
    dataset: &ReferenceDataset,
    kind: ScoreKind,
) -> Result<Predictions, ModelError> {
    if scores.len() != dataset.len() {
        return Err(ModelError::WrongOutput {
            detail: format!("{} values for {} cases", scores.len(), dataset.len()),
            expected: "one score per case".into(),
        });
    }
    let mut out = Vec::with_capacity(scores.len());
    for (i, &s) in scores.iter().enumerate() {
        let v = f64::from(s);
        let ok = v.is_finite() && (kind == ScoreKind::Real || (0.0..=1.0).contains(&v));
        if !ok {
            return Err(ModelError::BadScore {
                case_id: dataset.case_ids[i].clone(),
                value: v,
                expected: match kind {
                    ScoreKind::Probability => "a probability between 0 and 1".into(),
                    ScoreKind::Real => "a finite number".into(),
                },
            });
        }
        out.push(v);
    }
    Ok(Predictions {
        sha256: sha256_hex(model),
        scores: out,
    })
}

// ---------------------------------------------------------------------------------------
// Worker side.

/// Entry point of the worker process. Reads one request from standard input, writes one
/// reply to standard output. Exit code 0 when a reply was written, 2 when it could not
/// limit itself or read its request (the parent then reports a worker failure).
pub fn worker_main() -> ExitCode {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let reply = match serve(&mut input) {
        Ok(reply) => reply,
        Err(detail) => {
            let _ = writeln!(std::io::stderr(), "vigilo sandbox worker: {detail}");
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = serde_json::to_writer(&mut out, &reply).is_ok() && out.flush().is_ok();
    if written {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// Errors of the worker's own plumbing are `Err(String)`; model problems are replies.
fn serve(input: &mut impl BufRead) -> Result<WorkerReply, String> {
    let mut line = Vec::new();
    input
        .take(MAX_HEADER_BYTES)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading request: {e}"))?;
    let request: WorkerRequest =
        serde_json::from_slice(&line).map_err(|e| format!("bad request: {e}"))?;
    limit_self(request.memory_bytes, request.cpu_seconds)?;

    let mut model = Vec::new();
    input
        .take(request.model_bytes)
        .read_to_end(&mut model)
        .map_err(|e| format!("reading model: {e}"))?;
    if model.len() as u64 != request.model_bytes {
        return Err("model truncated".into());
    }
    let cells = request
        .rows
        .checked_mul(request.cols)
        .and_then(|c| c.checked_mul(4))
        .ok_or("feature matrix too large")?;
    let mut raw = Vec::new();
    input
        .take(cells)
        .read_to_end(&mut raw)
        .map_err(|e| format!("reading features: {e}"))?;
    if raw.len() as u64 != cells {
        return Err("features truncated".into());
    }
    let values: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    drop(raw);
    let shape = InputShape {
        rows: request.rows as usize,
        cols: request.cols as usize,
        names: request.feature_names,
    };
    // tract panics on some failures (an allocation refused under RLIMIT_AS among them);
    // turn the panic into a reply the vendor can read rather than a bare exit status.
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::onnx::score(&model, &shape, values)
    }));
    Ok(match run {
        Ok(Ok(scores)) => WorkerReply::Scores { scores },
        Ok(Err(error)) => WorkerReply::Failed { error },
        Err(payload) => WorkerReply::Failed {
            error: panic_error(payload.as_ref()),
        },
    })
}

fn panic_error(payload: &(dyn std::any::Any + Send)) -> ModelError {
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    if ALLOC_FAILURE_MARKS.iter().any(|m| message.contains(m)) {
        // The parent fills in the limit (see `with_limits`).
        ModelError::OutOfMemory { limit_bytes: 0 }
    } else {
        ModelError::Crashed {
            detail: format!("the runtime stopped: {message}"),
        }
    }
}

/// Sets the worker's own memory and processor limits before it touches the model.
fn limit_self(memory_bytes: u64, cpu_seconds: u64) -> Result<(), String> {
    use rustix::process::{setrlimit, Resource, Rlimit};
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(memory_bytes),
            maximum: Some(memory_bytes),
        },
    )
    .map_err(|e| format!("cannot set RLIMIT_AS: {e}"))?;
    // The soft limit sends SIGXCPU, the hard one a second later SIGKILL.
    setrlimit(
        Resource::Cpu,
        Rlimit {
            current: Some(cpu_seconds.max(1)),
            maximum: Some(cpu_seconds.max(1) + 1),
        },
    )
    .map_err(|e| format!("cannot set RLIMIT_CPU: {e}"))?;
    Ok(())
}

/// What the model must accept.
pub(crate) struct InputShape {
    pub rows: usize,
    pub cols: usize,
    pub names: Vec<String>,
}

impl InputShape {
    pub(crate) fn expected(&self) -> String {
        let mut names = self
            .names
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if self.names.len() > 5 {
            names.push_str(", …");
        }
        format!(
            "one float32 input of shape [N, {}] with a dynamic (or {}) batch dimension N, the features in the order {}",
            self.cols, self.rows, names
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    #[test]
    fn abnormal_exits_are_classified() {
        let limits = RunLimits::default();
        // Raw wait statuses: a signal number alone, or the exit code shifted left by 8.
        let sigxcpu = ExitStatus::from_raw(24);
        assert_eq!(
            classify_abnormal_exit(sigxcpu, "", &limits),
            ModelError::TooSlow {
                limit_seconds: limits.cpu_seconds
            }
        );
        let abort = ExitStatus::from_raw(6);
        assert_eq!(
            classify_abnormal_exit(abort, "memory allocation of 4096 bytes failed\n", &limits),
            ModelError::OutOfMemory {
                limit_bytes: limits.memory_bytes
            }
        );
        assert_eq!(
            classify_abnormal_exit(abort, "", &limits),
            ModelError::Crashed {
                detail: "killed by signal 6".into()
            }
        );
        let panicked = ExitStatus::from_raw(101 << 8);
        let stderr = "thread 'main' panicked at x.rs:1:1:\nindex out of bounds\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            classify_abnormal_exit(panicked, stderr, &limits),
            ModelError::Crashed {
                detail: "exit status 101: index out of bounds".into()
            }
        );
    }

    #[test]
    fn only_errors_after_parsing_count() {
        assert!(!ModelError::Malformed {
            detail: String::new()
        }
        .counts_against_limit());
        assert!(!ModelError::Rejected {
            detail: String::new()
        }
        .counts_against_limit());
        assert!(!ModelError::Worker {
            detail: String::new()
        }
        .counts_against_limit());
        assert!(ModelError::TooSlow { limit_seconds: 1 }.counts_against_limit());
        assert!(ModelError::OutOfMemory { limit_bytes: 1 }.counts_against_limit());
    }

    #[test]
    fn bad_model_scores_name_the_case() {
        let roles = crate::dataset::ColumnRoles {
            case_id: "id".into(),
            label: "y".into(),
            features: vec![],
            subgroups: vec![],
        };
        let dataset = crate::dataset::parse_reference_csv(
            b"id,y\na,1\nb,0\n",
            &roles,
            &crate::dataset::DatasetLimits::default(),
        )
        .unwrap();
        let err = predictions_from_model(b"m", &[0.5, f32::NAN], &dataset, ScoreKind::Probability)
            .unwrap_err();
        assert!(matches!(err, ModelError::BadScore { ref case_id, .. } if case_id == "b"));
        let err = predictions_from_model(b"m", &[0.5, 1.5], &dataset, ScoreKind::Probability)
            .unwrap_err();
        assert!(err.counts_against_limit());
        let ok = predictions_from_model(b"m", &[0.5, 1.5], &dataset, ScoreKind::Real).unwrap();
        assert_eq!(ok.scores, [0.5, 1.5]);
    }
}
