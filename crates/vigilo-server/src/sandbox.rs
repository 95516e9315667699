//! The sandbox desk: reviewers upload held-out datasets and register studies
//! with a protocol fixed in advance; vendors submit predictions or an ONNX
//! model (run by a separate worker process, never in the server); the report
//! comes as HTML with its charts, JSON and PDF.

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::i18n::Tr;
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use std::collections::HashMap;
use std::sync::Arc;
use vigilo_core::Lang;
use vigilo_report::{
    calibration_svg, format_number, roc_curve_svg, to_html, Block, CalibrationBin,
    CalibrationLabels, ChartText, Column, DataTable, Document, Estimate, Figure, NoteKind,
    RocLabels,
};
use vigilo_sandbox::{
    evaluate, parse_predictions, parse_reference_csv, ColumnRoles, DatasetLimits, Endpoint,
    EvaluationReport, Metric, Protocol, ReferenceDataset, ScoreKind, Verdict,
};
use vigilo_store::{
    ApplicationFilter, NewDataset, NewStudy, SandboxStudy, SandboxSubmission, StoreError,
    SubmissionOutcome,
};

/// Largest reference dataset or submission accepted through the web (bytes).
pub const MAX_UPLOAD: usize = 200 * 1024 * 1024;

async fn study_for(state: &AppState, ctx: &Ctx, id: &str) -> AppResult<SandboxStudy> {
    let s = state
        .store
        .study(id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    if ctx.is_staff() || ctx.vendor_org() == Some(s.vendor_org_id.as_str()) {
        Ok(s)
    } else {
        Err(ctx.err(AppError::not_found()))
    }
}

/// Multipart fields: text fields by name, and the one file.
struct Upload {
    fields: HashMap<String, String>,
    file: Option<(String, Bytes)>,
}

async fn read_upload(ctx: &Ctx, mut multipart: Multipart) -> AppResult<Upload> {
    let mut fields = HashMap::new();
    let mut file = None;
    loop {
        let next = multipart
            .next_field()
            .await
            .map_err(|e| ctx.err(AppError::new(ErrorCode::InvalidInput).detail(e.body_text())))?;
        let Some(f) = next else { break };
        let name = f.name().unwrap_or("").to_string();
        if name == "file" {
            let filename = f.file_name().unwrap_or("").to_string();
            let bytes = f.bytes().await.map_err(|e| {
                ctx.err(AppError::new(ErrorCode::PayloadTooLarge).detail(e.body_text()))
            })?;
            file = Some((filename, bytes));
        } else {
            let value: String = f
                .text()
                .await
                .map_err(|e| ctx.err(AppError::new(ErrorCode::InvalidInput).detail(e.body_text())))?
                .chars()
                .take(10_000)
                .collect();
            fields.insert(name, value);
        }
    }
    Ok(Upload { fields, file })
}

fn list(s: &str) -> Vec<String> {
    s.split([',', '\n'])
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

// ---- desk page ----

pub struct DatasetRow {
    pub id: String,
    pub name: String,
    pub rows: i64,
    pub positives: i64,
    pub sha: String,
    pub subgroups: String,
}

pub struct StudyRow {
    pub id: String,
    pub reference: String,
    pub title: String,
    pub product: String,
    pub remaining: i64,
    pub max: i64,
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "sandbox.html")]
struct SandboxPage {
    l: Layout,
    staff: bool,
    datasets: Vec<DatasetRow>,
    studies: Vec<StudyRow>,
    applications: Vec<Choice>,
    metrics: Vec<Choice>,
    errors: Vec<String>,
}

fn metric_choices() -> Vec<Choice> {
    [
        Metric::Sensitivity,
        Metric::Specificity,
        Metric::Ppv,
        Metric::Npv,
        Metric::Accuracy,
        Metric::Auroc,
    ]
    .into_iter()
    .map(|m| Choice {
        value: m.as_str().into(),
        label: metric_label(m, Lang::En).into(),
    })
    .collect()
}

fn metric_label(m: Metric, lang: Lang) -> &'static str {
    match (m, lang) {
        (Metric::Sensitivity, Lang::Vi) => "Độ nhạy",
        (Metric::Sensitivity, Lang::En) => "Sensitivity",
        (Metric::Specificity, Lang::Vi) => "Độ đặc hiệu",
        (Metric::Specificity, Lang::En) => "Specificity",
        (Metric::Ppv, Lang::Vi) => "Giá trị dự báo dương",
        (Metric::Ppv, Lang::En) => "Positive predictive value",
        (Metric::Npv, Lang::Vi) => "Giá trị dự báo âm",
        (Metric::Npv, Lang::En) => "Negative predictive value",
        (Metric::Accuracy, Lang::Vi) => "Độ chính xác",
        (Metric::Accuracy, Lang::En) => "Accuracy",
        (Metric::Auroc, _) => "AUROC",
    }
}

async fn sandbox_page(state: &AppState, ctx: &Ctx, errors: Vec<String>) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let staff = ctx.is_staff();
    let store = &state.store;
    let datasets = if staff {
        store
            .datasets()
            .await
            .map_err(ctx.store_err())?
            .into_iter()
            .map(|d| {
                let roles: Option<ColumnRoles> = serde_json::from_str(&d.roles_json).ok();
                DatasetRow {
                    sha: d.sha256.chars().take(12).collect(),
                    subgroups: roles.map(|r| r.subgroups.join(", ")).unwrap_or_default(),
                    id: d.id,
                    name: d.name,
                    rows: d.row_count,
                    positives: d.positive_count,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut studies = Vec::new();
    for s in store
        .studies(if staff {
            None
        } else {
            Some(ctx.vendor_org().unwrap_or("-"))
        })
        .await
        .map_err(ctx.store_err())?
    {
        let product = crate::appraisal::product_name(state, ctx, &s.product_id).await?;
        studies.push(StudyRow {
            remaining: s.remaining(),
            max: s.max_submissions,
            id: s.id,
            reference: s.reference,
            title: s.title,
            product,
        });
    }
    let mut applications = Vec::new();
    if staff {
        for app in store
            .applications(&ApplicationFilter::default())
            .await
            .map_err(ctx.store_err())?
            .into_iter()
            .filter(|a| !a.progress().is_final())
        {
            let product = crate::appraisal::product_name(state, ctx, &app.product_id).await?;
            applications.push(Choice {
                label: format!("{} · {product}", app.reference),
                value: app.id,
            });
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(
        &SandboxPage {
            l,
            staff,
            datasets,
            studies,
            applications,
            metrics: metric_choices(),
            errors,
        },
        ctx,
        status,
    )
}

pub async fn desk(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    sandbox_page(&state, &ctx, Vec::new()).await
}

/// Parses a dataset off the async threads: a big CSV takes a while.
async fn parse_dataset(bytes: Bytes, roles: ColumnRoles) -> Result<ReferenceDataset, String> {
    tokio::task::spawn_blocking(move || {
        parse_reference_csv(&bytes, &roles, &DatasetLimits::default()).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

pub async fn dataset_upload(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    multipart: Multipart,
) -> AppResult<Response> {
    let up = read_upload(&ctx, multipart).await?;
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let get = |k: &str| {
        up.fields
            .get(k)
            .map(String::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let Some((_, bytes)) = up.file.clone() else {
        return sandbox_page(&state, &ctx, vec![tr.t("app-no-file")]).await;
    };
    let roles = ColumnRoles {
        case_id: if get("case_id").is_empty() {
            "case_id".into()
        } else {
            get("case_id")
        },
        label: if get("label").is_empty() {
            "label".into()
        } else {
            get("label")
        },
        features: list(&get("features")),
        subgroups: list(&get("subgroups")),
    };
    let dataset = match parse_dataset(bytes.clone(), roles.clone()).await {
        Ok(d) => d,
        Err(msg) => {
            return sandbox_page(
                &state,
                &ctx,
                vec![tr.ta("sb-bad-dataset", &[("reason", msg)])],
            )
            .await
        }
    };
    let roles_json = serde_json::to_string(&roles)
        .map_err(|e| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string())))?;
    let result = state
        .store
        .create_dataset(
            &ctx.actor(),
            NewDataset {
                name: &get("name"),
                description: &get("description"),
                roles_json: &roles_json,
                rows: dataset.len() as i64,
                positives: dataset.positives() as i64,
                bytes: &bytes,
            },
        )
        .await;
    match result {
        Ok(_) => Ok(Redirect::to("/sandbox").into_response()),
        Err(e @ StoreError::Invalid { .. }) => {
            sandbox_page(&state, &ctx, vec![e.to_string()]).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().replace(',', ".").parse().ok()
}

fn endpoint(metric: &str, threshold: &str, bound: &str) -> Result<Endpoint, String> {
    let metric: Metric = serde_json::from_value(serde_json::Value::String(metric.trim().into()))
        .map_err(|_| format!("unknown metric '{}'", metric.trim()))?;
    let threshold = if threshold.trim().is_empty() {
        None
    } else {
        Some(
            parse_number(threshold)
                .ok_or_else(|| format!("threshold '{threshold}' is not a number"))?,
        )
    };
    let min_lower_bound = parse_number(bound)
        .ok_or_else(|| format!("minimum lower bound '{bound}' is not a number"))?;
    Ok(Endpoint {
        metric,
        threshold,
        min_lower_bound,
    })
}

/// The protocol from the study form, with every problem named.
fn protocol_from(
    fields: &HashMap<String, String>,
    dataset_subgroups: &[String],
) -> Result<Protocol, Vec<String>> {
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let mut errors = Vec::new();
    let primary = endpoint(get("metric"), get("threshold"), get("min_lower_bound"))
        .map_err(|e| errors.push(format!("primary endpoint: {e}")))
        .ok();
    let mut secondary = Vec::new();
    for (i, line) in get("secondary")
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split(';').collect();
        match parts.as_slice() {
            [m, t, b] => match endpoint(m, t, b) {
                Ok(e) => secondary.push(e),
                Err(e) => errors.push(format!("secondary endpoint line {}: {e}", i + 1)),
            },
            _ => errors.push(format!(
                "secondary endpoint line {}: write 'metric; threshold; minimum lower bound' (threshold empty for auroc)",
                i + 1
            )),
        }
    }
    let subgroup_columns: Vec<String> = list(get("subgroup_columns"));
    for c in &subgroup_columns {
        if !dataset_subgroups.contains(c) {
            errors.push(format!(
                "subgroup column '{c}' is not a subgroup column of the dataset"
            ));
        }
    }
    let min_subgroup_size = get("min_subgroup_size")
        .trim()
        .parse::<usize>()
        .unwrap_or(30);
    let max_submissions = get("max_submissions").trim().parse::<u32>().unwrap_or(3);
    let score_kind = if get("score_kind") == "real" {
        ScoreKind::Real
    } else {
        ScoreKind::Probability
    };
    let Some(primary) = primary else {
        return Err(errors);
    };
    let protocol = Protocol {
        primary,
        secondary,
        score_kind,
        subgroup_columns,
        min_subgroup_size,
        max_submissions,
    };
    if let Err(field_errors) = protocol.validate() {
        errors.extend(field_errors.iter().map(|e| format!("{e:?}")));
    }
    if errors.is_empty() {
        Ok(protocol)
    } else {
        Err(errors)
    }
}

pub async fn study_create(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    body: Bytes,
) -> AppResult<Response> {
    let fields: HashMap<String, String> =
        crate::appraisal::pairs(&ctx, &body)?.into_iter().collect();
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let Some(dataset) = state
        .store
        .dataset(get("dataset_id"))
        .await
        .map_err(ctx.store_err())?
    else {
        return sandbox_page(&state, &ctx, vec!["dataset: choose a dataset".into()]).await;
    };
    let Some(app) = state
        .store
        .application(get("application_id"))
        .await
        .map_err(ctx.store_err())?
    else {
        return sandbox_page(
            &state,
            &ctx,
            vec!["application: choose the dossier under test".into()],
        )
        .await;
    };
    let roles: ColumnRoles = serde_json::from_str(&dataset.roles_json)
        .map_err(|e| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string())))?;
    let protocol = match protocol_from(&fields, &roles.subgroups) {
        Ok(p) => p,
        Err(errors) => return sandbox_page(&state, &ctx, errors).await,
    };
    let protocol_json = serde_json::to_string(&protocol)
        .map_err(|e| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string())))?;
    match state
        .store
        .create_study(
            &ctx.actor(),
            NewStudy {
                title: get("title"),
                dataset_id: &dataset.id,
                version_id: &app.version_id,
                application_id: Some(&app.id),
                protocol_json: &protocol_json,
                max_submissions: i64::from(protocol.max_submissions),
            },
        )
        .await
    {
        Ok(s) => Ok(Redirect::to(&format!("/sandbox/studies/{}", s.id)).into_response()),
        Err(e @ (StoreError::Invalid { .. } | StoreError::NotFound { .. })) => {
            sandbox_page(&state, &ctx, vec![e.to_string()]).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

// ---- study page and submissions ----

pub struct SubmissionRow {
    pub id: String,
    pub at: String,
    pub kind: String,
    pub status: String,
    pub verdict: String,
    pub counted: bool,
    pub error: String,
    pub has_report: bool,
}

#[derive(Template)]
#[template(path = "sandbox_study.html")]
struct StudyPage {
    l: Layout,
    study: SandboxStudy,
    product: String,
    dataset_name: String,
    dataset_sha: String,
    dataset_rows: i64,
    protocol: Vec<(String, String)>,
    submissions: Vec<SubmissionRow>,
    can_submit: bool,
    errors: Vec<String>,
}

fn endpoint_text(e: &Endpoint, lang: Lang) -> String {
    let bound = format_number(e.min_lower_bound, 3, report_lang(lang));
    match e.threshold {
        Some(t) => format!(
            "{} ≥ {bound} ({} {})",
            metric_label(e.metric, lang),
            if lang == Lang::Vi {
                "ngưỡng"
            } else {
                "threshold"
            },
            format_number(t, 3, report_lang(lang))
        ),
        None => format!("{} ≥ {bound}", metric_label(e.metric, lang)),
    }
}

pub(crate) fn report_lang(lang: Lang) -> vigilo_report::Lang {
    match lang {
        Lang::Vi => vigilo_report::Lang::Vi,
        Lang::En => vigilo_report::Lang::En,
    }
}

fn verdict_label(tr: &Tr, v: &str) -> String {
    tr.t(&format!("sb-verdict-{}", v.replace('_', "-")))
}

async fn study_page(
    state: &AppState,
    ctx: &Ctx,
    study: SandboxStudy,
    errors: Vec<String>,
) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let tr = l.tr.clone();
    let store = &state.store;
    let product = crate::appraisal::product_name(state, ctx, &study.product_id).await?;
    let dataset = store
        .dataset(&study.dataset_id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let mut protocol = Vec::new();
    if let Ok(p) = serde_json::from_str::<Protocol>(&study.protocol_json) {
        protocol.push((tr.t("sb-primary"), endpoint_text(&p.primary, tr.lang)));
        for e in &p.secondary {
            protocol.push((tr.t("sb-secondary"), endpoint_text(e, tr.lang)));
        }
        if !p.subgroup_columns.is_empty() {
            protocol.push((
                tr.t("sb-subgroups"),
                format!(
                    "{} (n ≥ {})",
                    p.subgroup_columns.join(", "),
                    p.min_subgroup_size
                ),
            ));
        }
    }
    protocol.push(("SHA-256".into(), study.protocol_sha256.clone()));
    let submissions = store
        .submissions(&study.id)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|s| SubmissionRow {
            at: s
                .submitted_at
                .chars()
                .take(16)
                .collect::<String>()
                .replace('T', " "),
            kind: s.kind.clone(),
            status: tr.t(&format!("sb-status-{}", s.status)),
            verdict: s
                .verdict
                .as_deref()
                .map(|v| verdict_label(&tr, v))
                .unwrap_or_default(),
            counted: s.counted == 1,
            error: s.error.clone().unwrap_or_default(),
            has_report: s.report_json.is_some(),
            id: s.id,
        })
        .collect();
    let can_submit = ctx.vendor_org() == Some(study.vendor_org_id.as_str())
        && study.remaining() > 0
        && study.status == "open";
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    render(
        &StudyPage {
            product,
            dataset_name: dataset.name,
            dataset_sha: dataset.sha256,
            dataset_rows: dataset.row_count,
            protocol,
            submissions,
            can_submit,
            errors,
            study,
            l,
        },
        ctx,
        status,
    )
}

pub async fn study_detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let study = study_for(&state, &ctx, &id).await?;
    study_page(&state, &ctx, study, Vec::new()).await
}

/// Why a submission produced no report, and whether it used up an attempt.
struct Failure {
    message: String,
    counted: bool,
}

/// Parses or runs the submission and evaluates it, off the async threads.
async fn evaluate_submission(
    state: &AppState,
    study: &SandboxStudy,
    kind: &str,
    file: Bytes,
) -> Result<Result<EvaluationReport, Failure>, AppError> {
    let protocol: Protocol = serde_json::from_str(&study.protocol_json)
        .map_err(|e| AppError::new(ErrorCode::Internal).detail(e.to_string()))?;
    let dataset_row = state
        .store
        .dataset(&study.dataset_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let roles: ColumnRoles = serde_json::from_str(&dataset_row.roles_json)
        .map_err(|e| AppError::new(ErrorCode::Internal).detail(e.to_string()))?;
    let bytes = state
        .store
        .dataset_content(&study.dataset_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let worker = state.config.sandbox_worker.clone();
    let kind = kind.to_string();
    tokio::task::spawn_blocking(move || {
        let dataset = parse_reference_csv(&bytes, &roles, &DatasetLimits::default())
            .map_err(|e| AppError::new(ErrorCode::Internal).detail(e.to_string()))?;
        let predictions = if kind == "onnx" {
            let Some(worker) = worker else {
                return Ok(Err(Failure {
                    message: "this server does not run models; submit a predictions file".into(),
                    counted: false,
                }));
            };
            match vigilo_sandbox::run_model(
                &worker,
                &file,
                &dataset.features,
                &vigilo_sandbox::RunLimits::default(),
            )
            .and_then(|scores| {
                vigilo_sandbox::predictions_from_model(
                    &file,
                    &scores,
                    &dataset,
                    protocol.score_kind,
                )
            }) {
                Ok(p) => p,
                Err(e) => {
                    return Ok(Err(Failure {
                        counted: e.counts_against_limit(),
                        message: e.to_string(),
                    }))
                }
            }
        } else {
            match parse_predictions(&file, &dataset, protocol.score_kind, MAX_UPLOAD) {
                Ok(p) => p,
                Err(e) => {
                    return Ok(Err(Failure {
                        counted: e.counts_against_limit(),
                        message: e.to_string(),
                    }))
                }
            }
        };
        match evaluate(&dataset, &predictions, &protocol) {
            Ok(report) => Ok(Ok(report)),
            Err(e) => Ok(Err(Failure {
                message: e.to_string(),
                counted: false,
            })),
        }
    })
    .await
    .map_err(|e| AppError::new(ErrorCode::Internal).detail(e.to_string()))?
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
    multipart: Multipart,
) -> AppResult<Response> {
    let study = study_for(&state, &ctx, &id).await?;
    if ctx.vendor_org() != Some(study.vendor_org_id.as_str()) {
        return Err(ctx.err(AppError::not_found()));
    }
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    if study.remaining() == 0 {
        return study_page(&state, &ctx, study, vec![tr.t("sb-no-attempts")]).await;
    }
    let up = read_upload(&ctx, multipart).await?;
    let Some((_, file)) = up.file else {
        return study_page(&state, &ctx, study, vec![tr.t("app-no-file")]).await;
    };
    let kind = if up.fields.get("kind").map(String::as_str) == Some("onnx") {
        "onnx"
    } else {
        "predictions"
    };
    let outcome = evaluate_submission(&state, &study, kind, file.clone())
        .await
        .map_err(|e| ctx.err(e))?;
    let recorded = match outcome {
        Ok(report) => {
            let report_json = serde_json::to_string(&report)
                .map_err(|e| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string())))?;
            state
                .store
                .record_submission(
                    &ctx.actor(),
                    &study.id,
                    kind,
                    &file,
                    SubmissionOutcome::Evaluated {
                        report_json,
                        verdict: report.overall.code().into(),
                    },
                )
                .await
        }
        Err(f) => {
            let message = if f.counted {
                tr.ta("sb-failed-counted", &[("reason", f.message.clone())])
            } else {
                tr.ta("sb-failed-not-counted", &[("reason", f.message.clone())])
            };
            let _ = state
                .store
                .record_submission(
                    &ctx.actor(),
                    &study.id,
                    kind,
                    &file,
                    SubmissionOutcome::Failed {
                        error: f.message,
                        counted: f.counted,
                    },
                )
                .await
                .map_err(ctx.store_err())?;
            let study = study_for(&state, &ctx, &id).await?;
            return study_page(&state, &ctx, study, vec![message]).await;
        }
    };
    match recorded {
        Ok(s) => Ok(Redirect::to(&format!("/sandbox/submissions/{}", s.id)).into_response()),
        Err(e @ StoreError::Invalid { .. }) => {
            study_page(&state, &ctx, study, vec![e.to_string()]).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

// ---- reports ----

async fn submission_for(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
) -> AppResult<(SandboxSubmission, SandboxStudy, EvaluationReport)> {
    let s = state
        .store
        .submission(id)
        .await
        .map_err(ctx.store_err())?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let study = study_for(state, ctx, &s.study_id).await?;
    let report: EvaluationReport = s
        .report_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    Ok((s, study, report))
}

fn rate_text(r: Option<vigilo_sandbox::evaluate::Rate>, lang: vigilo_report::Lang) -> String {
    match r {
        Some(r) => format!(
            "{} ({}–{}) · {}/{}",
            format_number(r.estimate, 3, lang),
            format_number(r.lower, 3, lang),
            format_number(r.upper, 3, lang),
            r.numerator,
            r.denominator
        ),
        None => "—".into(),
    }
}

/// The report as a document, rendered to HTML and PDF alike.
fn report_document(
    tr: &Tr,
    study: &SandboxStudy,
    product: &str,
    submission: &SandboxSubmission,
    r: &EvaluationReport,
) -> Document {
    let lang = report_lang(tr.lang);
    let n = |v: f64| format_number(v, 3, lang);
    let mut blocks = Vec::new();
    blocks.push(Block::note(
        if r.overall == Verdict::Pass {
            NoteKind::Info
        } else {
            NoteKind::Warning
        },
        format!(
            "{}: {}",
            tr.t("sb-overall"),
            verdict_label(tr, r.overall.code())
        ),
    ));
    blocks.push(Block::heading(1, tr.t("sb-endpoints")));
    blocks.push(Block::Table(DataTable {
        caption: None,
        columns: vec![
            Column::text(tr.t("sb-endpoint")),
            Column::numeric(tr.t("sb-result")),
            Column::text(tr.t("sb-verdict")),
        ],
        rows: r
            .endpoints
            .iter()
            .map(|e| {
                vec![
                    endpoint_text(&e.endpoint, tr.lang),
                    e.result
                        .map(|x| format!("{} ({}–{})", n(x.estimate), n(x.lower), n(x.upper)))
                        .unwrap_or_else(|| e.reason.clone().unwrap_or_default()),
                    verdict_label(tr, e.verdict.code()),
                ]
            })
            .collect(),
    }));
    let t = &r.at_threshold;
    blocks.push(Block::heading(
        1,
        tr.ta("sb-at-threshold", &[("t", n(t.threshold))]),
    ));
    blocks.push(Block::KeyValue(vec![
        (
            "TP / FP / TN / FN".into(),
            format!(
                "{} / {} / {} / {}",
                t.confusion.tp, t.confusion.fp, t.confusion.tn, t.confusion.fn_
            ),
        ),
        (
            metric_label(Metric::Sensitivity, tr.lang).into(),
            rate_text(t.sensitivity, lang),
        ),
        (
            metric_label(Metric::Specificity, tr.lang).into(),
            rate_text(t.specificity, lang),
        ),
        (
            metric_label(Metric::Ppv, tr.lang).into(),
            rate_text(t.ppv, lang),
        ),
        (
            metric_label(Metric::Npv, tr.lang).into(),
            rate_text(t.npv, lang),
        ),
        (
            metric_label(Metric::Accuracy, tr.lang).into(),
            rate_text(t.accuracy, lang),
        ),
    ]));
    if let Some(a) = &r.auroc {
        let points: Vec<(f64, f64)> = r.roc_curve.iter().map(|p| (p.fpr, p.tpr)).collect();
        let svg = roc_curve_svg(
            &points,
            Estimate {
                value: a.estimate,
                lower: a.lower,
                upper: a.upper,
            },
            &RocLabels {
                text: ChartText {
                    title: tr.t("sb-roc"),
                    description: tr.t("sb-roc-desc"),
                    x_label: tr.t("sb-fpr"),
                    y_label: tr.t("sb-tpr"),
                },
                auc: "AUC".into(),
                interval: tr.t("sb-ci"),
                chance: tr.t("sb-chance"),
            },
            lang,
        );
        blocks.push(Block::Figure(Figure {
            svg,
            caption: format!(
                "AUROC {} ({}–{}), DeLong",
                n(a.estimate),
                n(a.lower),
                n(a.upper)
            ),
        }));
    }
    if let Some(c) = &r.calibration {
        let bins: Vec<CalibrationBin> = c
            .bins
            .iter()
            .map(|b| CalibrationBin {
                mean_predicted: b.mean_predicted,
                observed: b.observed_rate,
                count: b.count as u64,
            })
            .collect();
        blocks.push(Block::heading(1, tr.t("sb-calibration")));
        blocks.push(Block::KeyValue(vec![
            ("Brier".into(), n(c.brier)),
            ("ECE".into(), n(c.ece)),
            (
                tr.t("sb-slope"),
                c.slope.map(n).unwrap_or_else(|| "—".into()),
            ),
            (
                tr.t("sb-intercept"),
                c.intercept.map(n).unwrap_or_else(|| "—".into()),
            ),
        ]));
        blocks.push(Block::Figure(Figure {
            svg: calibration_svg(
                &bins,
                &CalibrationLabels {
                    text: ChartText {
                        title: tr.t("sb-calibration"),
                        description: tr.t("sb-calibration-desc"),
                        x_label: tr.t("sb-predicted"),
                        y_label: tr.t("sb-observed"),
                    },
                    perfect: tr.t("sb-perfect"),
                    observed: tr.t("sb-observed"),
                },
                lang,
            ),
            caption: String::new(),
        }));
    }
    for s in &r.subgroups {
        blocks.push(Block::heading(
            2,
            format!("{}: {}", tr.t("sb-subgroups"), s.column),
        ));
        blocks.push(Block::Table(DataTable {
            caption: None,
            columns: vec![
                Column::text(tr.t("sb-group")),
                Column::numeric("n"),
                Column::numeric(metric_label(Metric::Sensitivity, tr.lang)),
                Column::numeric(metric_label(Metric::Specificity, tr.lang)),
                Column::numeric("AUROC"),
            ],
            rows: s
                .groups
                .iter()
                .map(|g| {
                    let m = g.metrics.as_ref();
                    vec![
                        g.group.clone(),
                        g.n.to_string(),
                        if g.suppressed {
                            tr.t("sb-suppressed")
                        } else {
                            m.and_then(|m| m.sensitivity)
                                .map(|r| n(r.estimate))
                                .unwrap_or_else(|| "—".into())
                        },
                        if g.suppressed {
                            String::new()
                        } else {
                            m.and_then(|m| m.specificity)
                                .map(|r| n(r.estimate))
                                .unwrap_or_else(|| "—".into())
                        },
                        g.auroc.map(n).unwrap_or_else(|| "—".into()),
                    ]
                })
                .collect(),
        }));
        if let Some(gap) = &s.largest_gap {
            blocks.push(Block::paragraph(tr.ta(
                "sb-largest-gap",
                &[
                    ("metric", gap.metric.clone()),
                    ("gap", n(gap.difference)),
                    ("high", gap.max_group.clone()),
                    ("low", gap.min_group.clone()),
                ],
            )));
        }
    }
    blocks.push(Block::heading(1, tr.t("sb-reproduce")));
    blocks.push(Block::KeyValue(vec![
        (tr.t("sb-dataset-sha"), r.dataset.sha256.clone()),
        (tr.t("sb-predictions-sha"), r.predictions_sha256.clone()),
        (tr.t("sb-protocol-sha"), study.protocol_sha256.clone()),
        (
            tr.t("sb-software"),
            format!(
                "Vigilo {} (report schema {})",
                r.software.version, r.software.report_schema
            ),
        ),
        (tr.t("sb-methods"), r.software.methods.clone()),
    ]));
    Document {
        lang,
        title: format!("{} · {}", tr.t("sb-report"), study.reference),
        subtitle: Some(format!("{product} · {}", study.title)),
        meta: vec![
            (tr.t("sb-cases"), r.dataset.cases.to_string()),
            (
                tr.t("sb-submitted"),
                submission.submitted_at.chars().take(10).collect(),
            ),
        ],
        created: vigilo_store::parse_time(&submission.submitted_at),
        author: Some(tr.t("authority-name")),
        footer: Some(format!("{} · {}", study.reference, submission.id)),
        blocks,
    }
}

#[derive(Template)]
#[template(path = "sandbox_report.html")]
struct ReportPage {
    l: Layout,
    submission_id: String,
    study_id: String,
    body: String,
}

pub async fn report_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (s, study, report) = submission_for(&state, &ctx, &id).await?;
    let l = Layout::new(&state, &ctx);
    let product = crate::appraisal::product_name(&state, &ctx, &study.product_id).await?;
    let body = to_html(&report_document(&l.tr, &study, &product, &s, &report));
    render(
        &ReportPage {
            l,
            submission_id: s.id,
            study_id: study.id,
            body,
        },
        &ctx,
        StatusCode::OK,
    )
}

pub async fn report_json(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Json<EvaluationReport>> {
    let (_, _, report) = submission_for(&state, &ctx, &id).await?;
    Ok(Json(report))
}

pub async fn report_pdf(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (s, study, report) = submission_for(&state, &ctx, &id).await?;
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let product = crate::appraisal::product_name(&state, &ctx, &study.product_id).await?;
    let doc = report_document(&tr, &study, &product, &s, &report);
    let name = format!("{}-{}.pdf", study.reference, &s.id[..8.min(s.id.len())]);
    crate::pdf_response(&ctx, doc, &name).await
}
