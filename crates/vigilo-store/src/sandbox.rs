//! Sandbox studies: reference datasets in the regulator's custody, studies with
//! a protocol fixed at registration, and the vendor's submissions with their
//! reports. Parsing and evaluation are `vigilo-sandbox`'s; this module keeps
//! the records and the submission limit true under concurrent requests.

use crate::audit::{append, AuditEntry};
use crate::error::{invalid, not_found};
use crate::{new_id, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use vigilo_core::appraisal::reference_number;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SandboxDataset {
    pub id: String,
    pub name: String,
    pub description: String,
    pub sha256: String,
    pub size: i64,
    pub roles_json: String,
    pub row_count: i64,
    pub positive_count: i64,
    pub created_by: String,
    pub created_at: String,
}

const DATASET_COLUMNS: &str = "id, name, description, sha256, size, roles_json, row_count, positive_count, created_by, created_at";

/// A dataset as the caller parsed and checked it.
#[derive(Debug, Clone)]
pub struct NewDataset<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub roles_json: &'a str,
    pub rows: i64,
    pub positives: i64,
    pub bytes: &'a [u8],
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SandboxStudy {
    pub id: String,
    pub reference: String,
    pub title: String,
    pub dataset_id: String,
    pub product_id: String,
    pub version_id: String,
    pub vendor_org_id: String,
    pub application_id: Option<String>,
    pub protocol_json: String,
    pub protocol_sha256: String,
    pub max_submissions: i64,
    pub submissions_used: i64,
    pub status: String,
    pub created_by: String,
    pub created_at: String,
}

const STUDY_COLUMNS: &str = "id, reference, title, dataset_id, product_id, version_id, vendor_org_id, application_id, protocol_json, protocol_sha256, max_submissions, submissions_used, status, created_by, created_at";

impl SandboxStudy {
    pub fn remaining(&self) -> i64 {
        (self.max_submissions - self.submissions_used).max(0)
    }
}

#[derive(Debug, Clone)]
pub struct NewStudy<'a> {
    pub title: &'a str,
    pub dataset_id: &'a str,
    pub version_id: &'a str,
    pub application_id: Option<&'a str>,
    /// The protocol as canonical JSON, validated by the caller.
    pub protocol_json: &'a str,
    pub max_submissions: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SandboxSubmission {
    pub id: String,
    pub study_id: String,
    /// `predictions` or `onnx`.
    pub kind: String,
    pub file_sha256: String,
    pub size: i64,
    /// 1 when the attempt counts against the study's limit.
    pub counted: i64,
    /// `evaluated` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub verdict: Option<String>,
    pub report_json: Option<String>,
    pub submitted_by: String,
    pub submitted_at: String,
}

const SUBMISSION_COLUMNS: &str = "id, study_id, kind, file_sha256, size, counted, status, error, verdict, report_json, submitted_by, submitted_at";

/// What came of a submission.
#[derive(Debug, Clone)]
pub enum SubmissionOutcome {
    Evaluated {
        report_json: String,
        verdict: String,
    },
    /// The file or model failed; `counted` says whether it uses up an attempt
    /// (a file that never parsed does not).
    Failed { error: String, counted: bool },
}

/// Stores bytes once per SHA-256 inside the caller's transaction.
pub(crate) async fn store_blob(
    conn: &mut AnyConnection,
    now: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<String, StoreError> {
    let sha = hex::encode(Sha256::digest(bytes));
    let known: Option<(String,)> = sqlx::query_as("SELECT sha256 FROM documents WHERE sha256 = $1")
        .bind(&sha)
        .fetch_optional(&mut *conn)
        .await?;
    if known.is_none() {
        sqlx::query(
            "INSERT INTO documents (sha256, size, media_type, content, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&sha)
        .bind(bytes.len() as i64)
        .bind(media_type)
        .bind(bytes.to_vec())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(sha)
}

impl Store {
    pub async fn create_dataset(
        &self,
        actor: &str,
        new: NewDataset<'_>,
    ) -> Result<SandboxDataset, StoreError> {
        if new.name.trim().is_empty() {
            return Err(invalid("name", "give the dataset a name"));
        }
        let now = self.now_text();
        let id = new_id();
        let mut tx = self.begin_write().await?;
        let sha = store_blob(&mut tx, &now, "text/csv", new.bytes).await?;
        sqlx::query(
            "INSERT INTO sandbox_datasets (id, name, description, sha256, size, roles_json, row_count, positive_count, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(new.name.trim())
        .bind(new.description.trim())
        .bind(&sha)
        .bind(new.bytes.len() as i64)
        .bind(new.roles_json)
        .bind(new.rows)
        .bind(new.positives)
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "sandbox.dataset", "sandbox_dataset", &id).after(json!({
                "name": new.name.trim(), "sha256": sha, "rows": new.rows, "positives": new.positives,
            })),
        )
        .await?;
        tx.commit().await?;
        self.dataset(&id)
            .await?
            .ok_or_else(|| not_found("dataset", &id))
    }

    pub async fn dataset(&self, id: &str) -> Result<Option<SandboxDataset>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {DATASET_COLUMNS} FROM sandbox_datasets WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn datasets(&self) -> Result<Vec<SandboxDataset>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {DATASET_COLUMNS} FROM sandbox_datasets ORDER BY created_at DESC, id DESC LIMIT 500"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    /// The dataset's bytes (regulator only: the caller checks the role).
    pub async fn dataset_content(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = sqlx::query_as(
            "SELECT d.content FROM documents d JOIN sandbox_datasets s ON s.sha256 = d.sha256 WHERE s.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(b,)| b))
    }

    /// Registers a study: its protocol can no longer change.
    pub async fn create_study(
        &self,
        actor: &str,
        new: NewStudy<'_>,
    ) -> Result<SandboxStudy, StoreError> {
        if new.title.trim().is_empty() {
            return Err(invalid("title", "give the study a title"));
        }
        if !(1..=100).contains(&new.max_submissions) {
            return Err(invalid("max_submissions", "between 1 and 100"));
        }
        self.dataset(new.dataset_id)
            .await?
            .ok_or_else(|| not_found("dataset", new.dataset_id))?;
        let version = self
            .version(new.version_id)
            .await?
            .ok_or_else(|| not_found("version", new.version_id))?;
        let product = self
            .product(&version.product_id)
            .await?
            .ok_or_else(|| not_found("product", &version.product_id))?;
        if let Some(app_id) = new.application_id {
            let app = self
                .application(app_id)
                .await?
                .ok_or_else(|| not_found("application", app_id))?;
            if app.version_id != version.id {
                return Err(invalid("application", "the dossier is for another version"));
            }
        }
        let protocol_sha = hex::encode(Sha256::digest(new.protocol_json.as_bytes()));
        let now = self.now_text();
        let id = new_id();
        let mut tx = self.begin_write().await?;
        let year = crate::appraisal::year_of(&now);
        let seq = crate::appraisal::next_counter(&mut tx, &format!("sandbox-{year}")).await?;
        let reference = reference_number("SB", year, seq);
        sqlx::query(
            "INSERT INTO sandbox_studies (id, reference, title, dataset_id, product_id, version_id, vendor_org_id, application_id, protocol_json, protocol_sha256, max_submissions, submissions_used, status, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 'open', $12, $13)",
        )
        .bind(&id)
        .bind(&reference)
        .bind(new.title.trim())
        .bind(new.dataset_id)
        .bind(&product.id)
        .bind(&version.id)
        .bind(&product.manufacturer_id)
        .bind(new.application_id)
        .bind(new.protocol_json)
        .bind(&protocol_sha)
        .bind(new.max_submissions)
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "sandbox.study", "sandbox_study", &id).after(json!({
                "reference": reference, "dataset_id": new.dataset_id, "version_id": version.id,
                "protocol_sha256": protocol_sha, "max_submissions": new.max_submissions,
            })),
        )
        .await?;
        tx.commit().await?;
        self.study(&id)
            .await?
            .ok_or_else(|| not_found("study", &id))
    }

    pub async fn study(&self, id: &str) -> Result<Option<SandboxStudy>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {STUDY_COLUMNS} FROM sandbox_studies WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Studies, newest first: all of them, or one vendor's.
    pub async fn studies(
        &self,
        vendor_org_id: Option<&str>,
    ) -> Result<Vec<SandboxStudy>, StoreError> {
        let q = match vendor_org_id {
            Some(org) => sqlx::query_as(sqlf!(
                "SELECT {STUDY_COLUMNS} FROM sandbox_studies WHERE vendor_org_id = $1 ORDER BY created_at DESC, id DESC LIMIT 500"
            ))
            .bind(org.to_string()),
            None => sqlx::query_as(sqlf!(
                "SELECT {STUDY_COLUMNS} FROM sandbox_studies ORDER BY created_at DESC, id DESC LIMIT 500"
            )),
        };
        Ok(q.fetch_all(self.pool()).await?)
    }

    /// Records a submission and its outcome. A counted attempt takes one of the
    /// study's submissions atomically; when none is left nothing is recorded.
    pub async fn record_submission(
        &self,
        actor: &str,
        study_id: &str,
        kind: &str,
        file: &[u8],
        outcome: SubmissionOutcome,
    ) -> Result<SandboxSubmission, StoreError> {
        if !matches!(kind, "predictions" | "onnx") {
            return Err(invalid("kind", "predictions or onnx"));
        }
        let (counted, status, error, verdict, report) = match &outcome {
            SubmissionOutcome::Evaluated {
                report_json,
                verdict,
            } => (
                true,
                "evaluated",
                None,
                Some(verdict.as_str()),
                Some(report_json.as_str()),
            ),
            SubmissionOutcome::Failed { error, counted } => {
                (*counted, "failed", Some(error.as_str()), None, None)
            }
        };
        let now = self.now_text();
        let id = new_id();
        let sha = hex::encode(Sha256::digest(file));
        let mut tx = self.begin_write().await?;
        if counted {
            let n = sqlx::query(
                "UPDATE sandbox_studies SET submissions_used = submissions_used + 1 \
                 WHERE id = $1 AND status = 'open' AND submissions_used < max_submissions",
            )
            .bind(study_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Err(invalid(
                    "submission",
                    "this study has no submission left (or is closed)",
                ));
            }
        }
        sqlx::query(
            "INSERT INTO sandbox_submissions (id, study_id, kind, file_sha256, size, counted, status, error, verdict, report_json, submitted_by, submitted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&id)
        .bind(study_id)
        .bind(kind)
        .bind(&sha)
        .bind(file.len() as i64)
        .bind(i64::from(counted))
        .bind(status)
        .bind(error)
        .bind(verdict)
        .bind(report)
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "sandbox.submission", "sandbox_study", study_id).after(json!({
                "submission_id": id, "kind": kind, "sha256": sha, "counted": counted,
                "status": status, "verdict": verdict,
            })),
        )
        .await?;
        tx.commit().await?;
        self.submission(&id)
            .await?
            .ok_or_else(|| not_found("submission", &id))
    }

    pub async fn submission(&self, id: &str) -> Result<Option<SandboxSubmission>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {SUBMISSION_COLUMNS} FROM sandbox_submissions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn submissions(&self, study_id: &str) -> Result<Vec<SandboxSubmission>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {SUBMISSION_COLUMNS} FROM sandbox_submissions WHERE study_id = $1 ORDER BY submitted_at DESC, id DESC"
        ))
        .bind(study_id)
        .fetch_all(self.pool())
        .await?)
    }
}
