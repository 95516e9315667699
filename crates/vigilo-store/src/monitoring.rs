//! Deployments and their monitoring reports: training records, deployments allowed only
//! under an active licence whose conditions cover the facility, batched idempotent report
//! intake with revisions, KPI sums by administrative level, completeness and alerts.
//!
//! The checks on a report are `vigilo_core::monitoring`'s; this module finds the facts they
//! need, keeps resends from double counting and keeps every earlier revision.

use crate::audit::{append, AuditEntry};
use crate::error::{invalid, not_found};
use crate::{new_id, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use std::collections::{BTreeMap, HashMap, HashSet};
use time::Date;
use vigilo_core::appraisal::iso_date;
use vigilo_core::directory::LicenceStatus;
use vigilo_core::monitoring::{
    check_report, Declaration, DeploymentFacts, DeploymentStatus, FieldProblem, PeriodReport,
    ReportInput, RolloutRow, TrainingRecord, DEFAULT_BASELINE_MONTHS,
};
use vigilo_core::period::{Period, PeriodKind};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Training {
    pub id: String,
    pub facility_id: String,
    pub product_id: String,
    pub trained_on: String,
    pub course: String,
    pub staff_trained: i64,
    pub recorded_by: String,
    pub created_at: String,
}

const TRAINING_COLUMNS: &str =
    "id, facility_id, product_id, trained_on, course, staff_trained, recorded_by, created_at";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Deployment {
    pub id: String,
    pub product_id: String,
    pub version_id: String,
    pub facility_id: String,
    pub authorisation_id: String,
    pub training_id: String,
    pub province_code: String,
    pub unit_code: String,
    pub status: String,
    pub frequency: String,
    pub go_live: String,
    pub end_date: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

const DEPLOYMENT_COLUMNS: &str = "id, product_id, version_id, facility_id, authorisation_id, training_id, province_code, unit_code, status, frequency, go_live, end_date, created_by, created_at, updated_at";

impl Deployment {
    pub fn status(&self) -> DeploymentStatus {
        self.status.parse().unwrap_or(DeploymentStatus::Ended)
    }
    pub fn frequency(&self) -> PeriodKind {
        PeriodKind::parse(&self.frequency).unwrap_or(PeriodKind::Month)
    }
    pub fn go_live_date(&self) -> Option<Date> {
        iso_date::parse(&self.go_live).ok()
    }
    pub fn end_date_value(&self) -> Option<Date> {
        self.end_date
            .as_deref()
            .and_then(|d| iso_date::parse(d).ok())
    }
}

/// A deployment with the names people read.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeploymentView {
    pub id: String,
    pub product_id: String,
    pub product_name: String,
    pub version_id: String,
    pub version: String,
    pub facility_id: String,
    pub facility_code: String,
    pub facility_name: String,
    pub province_code: String,
    pub province_name: String,
    pub unit_code: String,
    pub status: String,
    pub frequency: String,
    pub go_live: String,
    pub end_date: Option<String>,
}

const VIEW_SELECT: &str = "SELECT d.id, d.product_id, p.name AS product_name, d.version_id, v.version, \
     d.facility_id, o.code AS facility_code, o.name AS facility_name, d.province_code, \
     COALESCE(u.name, d.province_code) AS province_name, d.unit_code, d.status, d.frequency, d.go_live, d.end_date \
     FROM deployments d JOIN products p ON p.id = d.product_id JOIN product_versions v ON v.id = d.version_id \
     JOIN organisations o ON o.id = d.facility_id LEFT JOIN admin_units u ON u.code = d.province_code";

#[derive(Debug, Clone, Default)]
pub struct DeploymentFilter {
    pub product_id: Option<String>,
    pub facility_id: Option<String>,
    pub province_code: Option<String>,
    pub status: Option<String>,
    /// Only deployments of products this manufacturer makes.
    pub maker_id: Option<String>,
    /// Resume after this deployment id (cursor pagination, ids are time ordered).
    pub after: Option<String>,
    pub limit: i64,
}

/// A deployment to create.
#[derive(Debug, Clone)]
pub struct NewDeployment<'a> {
    pub version_id: &'a str,
    pub facility_id: &'a str,
    pub go_live: Date,
    pub end_date: Option<Date>,
    pub frequency: PeriodKind,
}

/// Deployments per province, for the rollout map and table.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProvinceRollout {
    pub province_code: String,
    pub province_name: String,
    pub planned: i64,
    pub active: i64,
    pub paused: i64,
    pub ended: i64,
    pub facilities: i64,
}

/// Who sends a batch: a facility's account may report only for its own deployments.
#[derive(Debug, Clone)]
pub struct Submitter {
    pub user_id: String,
    pub facility_id: Option<String>,
}

/// What became of one row of a batch.
#[derive(Debug, Clone, Serialize)]
pub struct RowOutcome {
    pub row: usize,
    pub deployment: String,
    pub period: String,
    /// `accepted`, `unchanged` (identical resend), `revised` (a correction) or `rejected`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<FieldProblem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchReceipt {
    pub receipt: String,
    pub received_at: String,
    pub accepted: usize,
    pub unchanged: usize,
    pub revised: usize,
    pub rejected: usize,
    pub rows: Vec<RowOutcome>,
}

/// A row that could not be read at all (bad JSON or CSV), with its number.
#[derive(Debug, Clone)]
pub struct UnreadableRow {
    pub row: usize,
    pub message: String,
}

/// A stored report row (the current revision).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StoredReport {
    pub report_key: String,
    pub deployment_id: String,
    pub period: String,
    pub uses: i64,
    pub positives: i64,
    pub tp: Option<i64>,
    pub fp: Option<i64>,
    #[sqlx(rename = "fn")]
    #[serde(rename = "fn")]
    pub fn_: Option<i64>,
    pub tn: Option<i64>,
    pub overrides: i64,
    pub escalations: i64,
    pub downtime_minutes: i64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub score_histogram: String,
    pub mix_json: String,
    pub counters_json: String,
    pub content_hash: String,
    pub revision: i64,
    pub source: String,
    pub first_received_at: String,
    pub received_at: String,
    pub received_by: String,
    /// 1 for a baseline period (ended on or before go-live, counted without the AI).
    pub baseline: i64,
}

const REPORT_READ_COLUMNS: &str = "report_key, deployment_id, period, uses, positives, tp, fp, fn, tn, overrides, escalations, downtime_minutes, latency_p50_ms, latency_p95_ms, score_histogram, mix_json, counters_json, content_hash, revision, source, first_received_at, received_at, received_by, baseline";

impl StoredReport {
    pub fn score_counts(&self) -> Vec<u64> {
        parse_counts(&self.score_histogram)
    }
    pub fn mix(&self) -> BTreeMap<String, Vec<u64>> {
        serde_json::from_str(&self.mix_json).unwrap_or_default()
    }
}

pub fn parse_counts(text: &str) -> Vec<u64> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split(';').filter_map(|x| x.parse().ok()).collect()
}

fn join_counts(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(";")
}

/// Sums over a group of reports, straight from SQL.
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow)]
pub struct ReportSums {
    pub group_key: String,
    pub reports: i64,
    pub facilities: i64,
    pub uses: i64,
    pub positives: i64,
    pub tp: i64,
    pub fp: i64,
    #[sqlx(rename = "fn")]
    #[serde(rename = "fn")]
    pub fn_: i64,
    pub tn: i64,
    pub verified_reports: i64,
    pub overrides: i64,
    pub escalations: i64,
    pub downtime_minutes: i64,
}

/// One facility's sums for one reported period (all its deployments of the product).
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow)]
pub struct FacilityPeriodSums {
    pub facility_id: String,
    pub period: String,
    pub reports: i64,
    /// How many of `reports` are baseline rows (all of them before go-live, none after).
    pub baseline_reports: i64,
    pub uses: i64,
    pub positives: i64,
    pub tp: i64,
    pub fp: i64,
    #[sqlx(rename = "fn")]
    #[serde(rename = "fn")]
    pub fn_: i64,
    pub tn: i64,
    pub overrides: i64,
    pub escalations: i64,
    pub downtime_minutes: i64,
    /// Declared counters summed the same way.
    #[sqlx(skip)]
    pub counters: BTreeMap<String, i64>,
}

/// What the impact assessment reads: every facility's go-live and its per-period sums.
#[derive(Debug, Clone, Default)]
pub struct ImpactSums {
    /// Facility id to the go-live day of its earliest deployment of the product.
    pub go_live: BTreeMap<String, Date>,
    pub rows: Vec<FacilityPeriodSums>,
}

/// How KPI sums are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Nation,
    Province,
    Unit,
    Facility,
    Product,
    Deployment,
    Period,
}

impl GroupBy {
    fn column(self) -> &'static str {
        match self {
            GroupBy::Nation => "'VN'",
            GroupBy::Province => "province_code",
            GroupBy::Unit => "unit_code",
            GroupBy::Facility => "facility_id",
            GroupBy::Product => "product_id",
            GroupBy::Deployment => "deployment_id",
            GroupBy::Period => "period",
        }
    }
}

/// Which reports a KPI table covers: those gathered into `period`, narrowed by product,
/// province or commune.
#[derive(Debug, Clone)]
pub struct SumsQuery {
    pub period: Period,
    pub product_id: Option<String>,
    pub province_code: Option<String>,
    pub unit_code: Option<String>,
    pub facility_id: Option<String>,
    pub group_by: GroupBy,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Alert {
    pub id: String,
    pub deployment_id: String,
    pub product_id: String,
    pub province_code: String,
    pub metric: String,
    pub method: String,
    pub period: String,
    pub level: String,
    pub value: f64,
    pub threshold: f64,
    pub evidence_json: String,
    pub state: String,
    pub note: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: Option<String>,
}

const ALERT_COLUMNS: &str = "id, deployment_id, product_id, province_code, metric, method, period, level, value, threshold, evidence_json, state, note, created_at, updated_at, updated_by";

/// An alert as the detection job finds it.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub deployment_id: String,
    pub metric: String,
    pub method: String,
    pub period: String,
    pub level: String,
    pub value: f64,
    pub threshold: f64,
    pub evidence: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub state: Option<String>,
    pub product_id: Option<String>,
    pub deployment_id: Option<String>,
    pub maker_id: Option<String>,
    pub limit: i64,
}

/// `n` bind placeholders for values `offset + 1 ..= offset + n`. SQLite gets anonymous `?`:
/// it finds the number of a named `$n` by a linear scan, so a statement with thousands of
/// `$n` spends its time binding (quadratic); PostgreSQL needs `$n`.
pub(crate) fn placeholders(backend: crate::Backend, offset: usize, n: usize) -> String {
    match backend {
        crate::Backend::Sqlite => vec!["?"; n].join(", "),
        crate::Backend::Postgres => (offset + 1..=offset + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

const REPORT_INSERT_COLUMNS: [&str; 31] = [
    "report_key",
    "deployment_id",
    "product_id",
    "version_id",
    "facility_id",
    "province_code",
    "unit_code",
    "period",
    "period_start",
    "period_anchor",
    "uses",
    "positives",
    "tp",
    "fp",
    "fn",
    "tn",
    "overrides",
    "escalations",
    "downtime_minutes",
    "latency_p50_ms",
    "latency_p95_ms",
    "score_histogram",
    "mix_json",
    "counters_json",
    "content_hash",
    "revision",
    "source",
    "first_received_at",
    "received_at",
    "received_by",
    "baseline",
];

/// The placeholders of one report row. The latencies are bound as text and cast: a NULL
/// float goes to PostgreSQL as float4 through the Any driver, after which the cached
/// statement rejects real values (ARCHITECTURE.md, portable SQL rules); text is text
/// whether or not it is NULL.
fn report_row_placeholders(backend: crate::Backend, offset: usize) -> String {
    let float = match backend {
        crate::Backend::Sqlite => "REAL",
        crate::Backend::Postgres => "DOUBLE PRECISION",
    };
    let latency = ["latency_p50_ms", "latency_p95_ms"];
    REPORT_INSERT_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let p = placeholders(backend, offset + i, 1);
            if latency.contains(column) {
                format!("CAST({p} AS {float})")
            } else {
                p
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows per multi-row INSERT: 31 columns x 200 rows stays far below both backends' limits
/// on bound values.
const INSERT_CHUNK: usize = 200;

struct Checked {
    row: usize,
    key: String,
    deployment: usize,
    report: PeriodReport,
    hash: String,
}

fn content_hash(r: &PeriodReport) -> String {
    let text = serde_json::to_string(r).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    // ---- training ----

    /// Records staff trained on a product at a facility. Since the Navigator, this is a
    /// training session of a course on the product (found by title, or created), which writes
    /// the facility's training record in the same transaction (`navigator.rs`).
    pub async fn record_training(
        &self,
        actor: &str,
        facility_id: &str,
        product_id: &str,
        record: &TrainingRecord,
    ) -> Result<Training, StoreError> {
        self.record_training_as_session(
            actor,
            &[(
                facility_id.to_string(),
                product_id.to_string(),
                record.clone(),
            )],
        )
        .await?
        .pop()
        .ok_or_else(|| invalid("training", "nothing was recorded"))
    }

    pub async fn trainings(
        &self,
        facility_id: &str,
        product_id: Option<&str>,
    ) -> Result<Vec<Training>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {TRAINING_COLUMNS} FROM training_records WHERE facility_id = $1 AND ($2 IS NULL OR product_id = $2) ORDER BY trained_on DESC, id DESC"
        ))
        .bind(facility_id)
        .bind(product_id)
        .fetch_all(self.pool())
        .await?)
    }

    // ---- declarations ----

    /// The version's declaration, or the standard one when none was written.
    pub async fn declaration(&self, version_id: &str) -> Result<Declaration, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT declaration_json FROM monitoring_declarations WHERE version_id = $1",
        )
        .bind(version_id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some((j,)) => serde_json::from_str(&j).map_err(|e| {
                StoreError::ReferenceData(format!("declaration of {version_id}: {e}"))
            }),
            None => Ok(Declaration::standard()),
        }
    }

    pub async fn set_declaration(
        &self,
        actor: &str,
        version_id: &str,
        declaration: &Declaration,
    ) -> Result<(), StoreError> {
        declaration
            .validate()
            .map_err(|e| invalid("declaration", e))?;
        self.version(version_id)
            .await?
            .ok_or_else(|| not_found("version", version_id))?;
        let now = self.now_text();
        let text = serde_json::to_string(declaration)
            .map_err(|e| invalid("declaration", e.to_string()))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO monitoring_declarations (version_id, declaration_json, updated_by, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (version_id) DO UPDATE SET declaration_json = excluded.declaration_json, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(version_id)
        .bind(&text)
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "declaration.set", "version", version_id)
                .after(json!(declaration)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- deployments ----

    /// Checks that a version may go live at a facility: an active licence whose conditions
    /// allow the facility, and staff trained on the product on or before go-live.
    async fn deployment_plan(
        &self,
        new: &NewDeployment<'_>,
    ) -> Result<(Deployment, vigilo_store_facility::Facility), StoreError> {
        if !new.frequency.is_reporting_frequency() {
            return Err(invalid("frequency", "reports come by day, week or month"));
        }
        if let Some(end) = new.end_date {
            if end <= new.go_live {
                return Err(invalid("end_date", "the end date must be after go-live"));
            }
        }
        let version = self
            .version(new.version_id)
            .await?
            .ok_or_else(|| not_found("version", new.version_id))?;
        let facility = vigilo_store_facility::load(self, new.facility_id).await?;
        let licences = self.authorisations_of_product(&version.product_id).await?;
        let go_live = iso_date::format(new.go_live);
        let mut refusal = format!(
            "no active licence covers version {} of this product",
            version.version
        );
        let mut chosen = None;
        for a in licences.iter().filter(|a| a.version_id == version.id) {
            if a.status() != LicenceStatus::Active {
                refusal = format!("licence {} is {}", a.reference, a.status);
                continue;
            }
            if a.expires_on < go_live {
                refusal = format!(
                    "licence {} expires on {}, before go-live",
                    a.reference, a.expires_on
                );
                continue;
            }
            let Some(conditions) = a.conditions() else {
                continue;
            };
            if !conditions.allows(&facility.id, &facility.province_code, true) {
                refusal = format!(
                    "licence {} does not allow deployment at {} ({})",
                    a.reference, facility.name, facility.province_code
                );
                continue;
            }
            chosen = Some(a.clone());
            break;
        }
        let licence = chosen.ok_or_else(|| invalid("licence", refusal))?;
        // The Navigator's gate: a high-risk tool needs the facility's readiness at the
        // regulator's minimum (no minimum set: no gate).
        let product = self
            .product(&version.product_id)
            .await?
            .ok_or_else(|| not_found("product", &version.product_id))?;
        self.readiness_gate(&facility.id, &product).await?;
        let training: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM training_records WHERE facility_id = $1 AND product_id = $2 AND trained_on <= $3 ORDER BY trained_on DESC, id DESC LIMIT 1",
        )
        .bind(&facility.id)
        .bind(&version.product_id)
        .bind(&go_live)
        .fetch_optional(self.pool())
        .await?;
        let Some((training_id,)) = training else {
            return Err(invalid(
                "training",
                format!(
                    "no training on this product is recorded at {} on or before {go_live}: record the staff training first",
                    facility.name
                ),
            ));
        };
        let open: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM deployments WHERE version_id = $1 AND facility_id = $2 AND status <> 'ended' LIMIT 1",
        )
        .bind(&version.id)
        .bind(&facility.id)
        .fetch_optional(self.pool())
        .await?;
        if let Some((id,)) = open {
            return Err(StoreError::Conflict {
                what: "deployment of this version at this facility",
                key: id,
            });
        }
        let now = self.now_text();
        let status = if new.go_live > self.now().date() {
            DeploymentStatus::Planned
        } else {
            DeploymentStatus::Active
        };
        Ok((
            Deployment {
                id: new_id(),
                product_id: version.product_id.clone(),
                version_id: version.id.clone(),
                facility_id: facility.id.clone(),
                authorisation_id: licence.id,
                training_id,
                province_code: facility.province_code.clone(),
                unit_code: facility.unit_code.clone(),
                status: status.code().into(),
                frequency: new.frequency.code().into(),
                go_live,
                end_date: new.end_date.map(iso_date::format),
                created_by: String::new(),
                created_at: now.clone(),
                updated_at: now,
            },
            facility,
        ))
    }

    async fn insert_deployment(conn: &mut AnyConnection, d: &Deployment) -> Result<(), StoreError> {
        sqlx::query(sqlf!(
            "INSERT INTO deployments ({DEPLOYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(&d.id)
        .bind(&d.product_id)
        .bind(&d.version_id)
        .bind(&d.facility_id)
        .bind(&d.authorisation_id)
        .bind(&d.training_id)
        .bind(&d.province_code)
        .bind(&d.unit_code)
        .bind(&d.status)
        .bind(&d.frequency)
        .bind(&d.go_live)
        .bind(&d.end_date)
        .bind(&d.created_by)
        .bind(&d.created_at)
        .bind(&d.updated_at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    pub async fn create_deployment(
        &self,
        actor: &str,
        new: &NewDeployment<'_>,
    ) -> Result<Deployment, StoreError> {
        let (mut d, _) = self.deployment_plan(new).await?;
        d.created_by = actor.into();
        let mut tx = self.begin_write().await?;
        Self::insert_deployment(&mut tx, &d).await?;
        append(
            &mut tx,
            &d.created_at,
            &AuditEntry::new(actor, "deployment.create", "deployment", &d.id).after(json!(&d)),
        )
        .await?;
        tx.commit().await?;
        Ok(d)
    }

    /// Creates a phased rollout from CSV rows: every row is checked first, and nothing is
    /// created unless every row can be (a half-created rollout is worse than none).
    pub async fn create_rollout(
        &self,
        actor: &str,
        version_id: &str,
        rows: &[RolloutRow],
    ) -> Result<Result<Vec<Deployment>, Vec<(usize, String)>>, StoreError> {
        let mut planned = Vec::new();
        let mut problems = Vec::new();
        let mut seen = HashSet::new();
        for r in rows {
            if !seen.insert(r.facility_code.clone()) {
                problems.push((r.row, format!("facility {} appears twice", r.facility_code)));
                continue;
            }
            let Some(org) = self.organisation_by_code(&r.facility_code).await? else {
                problems.push((
                    r.row,
                    format!("no facility has the code {}", r.facility_code),
                ));
                continue;
            };
            let new = NewDeployment {
                version_id,
                facility_id: &org.id,
                go_live: r.go_live,
                end_date: r.end_date,
                frequency: r.frequency,
            };
            match self.deployment_plan(&new).await {
                Ok((mut d, _)) => {
                    d.created_by = actor.into();
                    planned.push(d);
                }
                Err(
                    e @ (StoreError::Invalid { .. }
                    | StoreError::NotFound { .. }
                    | StoreError::Conflict { .. }),
                ) => {
                    problems.push((r.row, e.to_string()));
                }
                Err(e) => return Err(e),
            }
        }
        if !problems.is_empty() {
            return Ok(Err(problems));
        }
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        for d in &planned {
            Self::insert_deployment(&mut tx, d).await?;
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "deployment.rollout", "version", version_id)
                .after(json!({ "deployments": planned.iter().map(|d| &d.id).collect::<Vec<_>>() })),
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(planned))
    }

    pub async fn deployment(&self, id: &str) -> Result<Option<Deployment>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn deployment_view(&self, id: &str) -> Result<Option<DeploymentView>, StoreError> {
        Ok(sqlx::query_as(sqlf!("{VIEW_SELECT} WHERE d.id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn deployments(
        &self,
        f: &DeploymentFilter,
    ) -> Result<Vec<DeploymentView>, StoreError> {
        let limit = if f.limit <= 0 { 100 } else { f.limit.min(5000) };
        Ok(sqlx::query_as(sqlf!(
            "{VIEW_SELECT} WHERE ($1 IS NULL OR d.product_id = $1) AND ($2 IS NULL OR d.facility_id = $2) \
             AND ($3 IS NULL OR d.province_code = $3) AND ($4 IS NULL OR d.status = $4) \
             AND ($5 IS NULL OR p.manufacturer_id = $5) AND ($6 IS NULL OR d.id > $6) ORDER BY d.id LIMIT $7"
        ))
        .bind(&f.product_id)
        .bind(&f.facility_id)
        .bind(&f.province_code)
        .bind(&f.status)
        .bind(&f.maker_id)
        .bind(&f.after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The distinct products (id, name) and provinces (code, name) of the deployments a
    /// filter matches, for filter menus: a scan of the deployments, not a page of them.
    pub async fn deployment_choices(
        &self,
        f: &DeploymentFilter,
    ) -> Result<(Vec<(String, String)>, Vec<(String, String)>), StoreError> {
        let scope = "FROM deployments d JOIN products p ON p.id = d.product_id \
             LEFT JOIN admin_units u ON u.code = d.province_code \
             WHERE ($1 IS NULL OR d.facility_id = $1) AND ($2 IS NULL OR p.manufacturer_id = $2)";
        let products = sqlx::query_as(sqlf!(
            "SELECT DISTINCT d.product_id, p.name {scope} ORDER BY 2, 1"
        ))
        .bind(&f.facility_id)
        .bind(&f.maker_id)
        .fetch_all(self.pool())
        .await?;
        let provinces = sqlx::query_as(sqlf!(
            "SELECT DISTINCT d.province_code, COALESCE(u.name, d.province_code) {scope} ORDER BY 1"
        ))
        .bind(&f.facility_id)
        .bind(&f.maker_id)
        .fetch_all(self.pool())
        .await?;
        Ok((products, provinces))
    }

    pub async fn rollout_by_province(
        &self,
        product_id: Option<&str>,
    ) -> Result<Vec<ProvinceRollout>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT d.province_code, COALESCE(MIN(u.name), d.province_code) AS province_name, \
             SUM(CASE WHEN d.status = 'planned' THEN 1 ELSE 0 END) AS planned, \
             SUM(CASE WHEN d.status = 'active' THEN 1 ELSE 0 END) AS active, \
             SUM(CASE WHEN d.status = 'paused' THEN 1 ELSE 0 END) AS paused, \
             SUM(CASE WHEN d.status = 'ended' THEN 1 ELSE 0 END) AS ended, \
             COUNT(DISTINCT d.facility_id) AS facilities \
             FROM deployments d LEFT JOIN admin_units u ON u.code = d.province_code \
             WHERE ($1 IS NULL OR d.product_id = $1) GROUP BY d.province_code ORDER BY d.province_code",
        )
        .bind(product_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Moves a deployment: planned to active, active and paused back and forth, anything to
    /// ended (which sets the end date to today unless an earlier one is set).
    pub async fn set_deployment_status(
        &self,
        actor: &str,
        id: &str,
        to: DeploymentStatus,
        reason: &str,
    ) -> Result<Deployment, StoreError> {
        let d = self
            .deployment(id)
            .await?
            .ok_or_else(|| not_found("deployment", id))?;
        let from = d.status();
        use DeploymentStatus::*;
        let allowed = matches!(
            (from, to),
            (Planned, Active)
                | (Active, Paused)
                | (Paused, Active)
                | (Planned | Active | Paused, Ended)
        );
        if !allowed {
            return Err(invalid(
                "status",
                format!(
                    "a deployment that is {} cannot become {}",
                    from.code(),
                    to.code()
                ),
            ));
        }
        if reason.trim().is_empty() {
            return Err(invalid("reason", "give a reason"));
        }
        let now = self.now_text();
        let today = iso_date::format(self.now().date());
        let end_date = if to == Ended {
            Some(d.end_date.clone().filter(|e| *e < today).unwrap_or(today))
        } else {
            d.end_date.clone()
        };
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE deployments SET status = $1, end_date = $2, updated_at = $3 WHERE id = $4 AND status = $5",
        )
        .bind(to.code())
        .bind(&end_date)
        .bind(&now)
        .bind(id)
        .bind(from.code())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(StoreError::Conflict {
                what: "deployment status (changed meanwhile)",
                key: id.into(),
            });
        }
        sqlx::query(
            "INSERT INTO deployment_events (deployment_id, at, actor_id, from_status, to_status, reason) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(&now)
        .bind(actor)
        .bind(from.code())
        .bind(to.code())
        .bind(reason.trim())
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "deployment.status", "deployment", id)
                .before(json!({ "status": from.code() }))
                .after(json!({ "status": to.code(), "reason": reason.trim() })),
        )
        .await?;
        tx.commit().await?;
        self.deployment(id)
            .await?
            .ok_or_else(|| not_found("deployment", id))
    }

    /// Activates planned deployments whose go-live day has come (the daily job).
    pub async fn activate_due_deployments(&self) -> Result<u64, StoreError> {
        let today = iso_date::format(self.now().date());
        let due: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM deployments WHERE status = 'planned' AND go_live <= $1")
                .bind(&today)
                .fetch_all(self.pool())
                .await?;
        let mut n = 0;
        for (id,) in due {
            match self
                .set_deployment_status(
                    "system",
                    &id,
                    DeploymentStatus::Active,
                    "go-live date reached",
                )
                .await
            {
                Ok(_) => n += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    // ---- report intake ----

    /// Takes a batch of reports. Every row is answered: accepted, unchanged (an identical
    /// resend), revised (a correction; the earlier revision is kept) or rejected with its
    /// problems. Accepted rows are stored in one transaction with the batch's receipt.
    pub async fn ingest_reports(
        &self,
        submitter: &Submitter,
        source: &str,
        rows: Vec<Result<ReportInput, UnreadableRow>>,
    ) -> Result<BatchReceipt, StoreError> {
        self.ingest_reports_received(submitter, source, rows, None)
            .await
    }

    /// As [`Store::ingest_reports`], for historical data moved from another system: the
    /// reports are recorded as received at `received` (which must not be in the future), so
    /// completeness and timeliness stay true to when they really arrived.
    pub async fn ingest_reports_received(
        &self,
        submitter: &Submitter,
        source: &str,
        rows: Vec<Result<ReportInput, UnreadableRow>>,
        received: Option<time::OffsetDateTime>,
    ) -> Result<BatchReceipt, StoreError> {
        let received = match received {
            Some(t) if t > self.now() => {
                return Err(invalid(
                    "received_at",
                    "a receipt time cannot be in the future",
                ))
            }
            Some(t) => crate::format_time(t),
            None => self.now_text(),
        };
        let today = crate::parse_time(&received)
            .map(|t| t.date())
            .unwrap_or_else(|| self.now().date());
        let mut outcomes: Vec<RowOutcome> = Vec::with_capacity(rows.len());
        let ids: Vec<String> = rows
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|r| r.deployment.trim().to_string()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let deployments = self.deployments_by_ids(&ids).await?;
        let mut declarations: HashMap<String, Declaration> = HashMap::new();
        for d in &deployments {
            if !declarations.contains_key(&d.version_id) {
                declarations.insert(d.version_id.clone(), self.declaration(&d.version_id).await?);
            }
        }
        let index: HashMap<&str, usize> = deployments
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.as_str(), i))
            .collect();
        let mut checked: Vec<Checked> = Vec::new();
        let mut keys_in_batch: HashMap<String, usize> = HashMap::new();
        for (n, row) in rows.into_iter().enumerate() {
            let input = match row {
                Ok(r) => r,
                Err(u) => {
                    outcomes.push(RowOutcome {
                        row: u.row,
                        deployment: String::new(),
                        period: String::new(),
                        status: "rejected",
                        problems: vec![problem("row", &u.message, &u.message)],
                    });
                    continue;
                }
            };
            let row_no = n + 1;
            let dep_id = input.deployment.trim();
            let mut out = RowOutcome {
                row: row_no,
                deployment: dep_id.to_string(),
                period: input.period.trim().to_string(),
                status: "rejected",
                problems: Vec::new(),
            };
            let Some(&di) = index.get(dep_id) else {
                out.problems.push(problem(
                    "deployment",
                    &format!("unknown deployment '{dep_id}': copy its identifier from the deployment page"),
                    &format!("không có triển khai '{dep_id}': hãy sao chép mã từ trang triển khai"),
                ));
                outcomes.push(out);
                continue;
            };
            let d = &deployments[di];
            if let Some(f) = &submitter.facility_id {
                if *f != d.facility_id {
                    out.problems.push(problem(
                        "deployment",
                        "this account reports for another facility; a facility reports only for its own deployments",
                        "tài khoản này thuộc cơ sở khác; mỗi cơ sở chỉ báo cáo cho triển khai của mình",
                    ));
                    outcomes.push(out);
                    continue;
                }
            }
            let (Some(go_live), status) = (d.go_live_date(), d.status()) else {
                out.problems.push(problem(
                    "deployment",
                    "the deployment's go-live date is unreadable",
                    "ngày triển khai không đọc được",
                ));
                outcomes.push(out);
                continue;
            };
            let facts = DeploymentFacts {
                frequency: d.frequency(),
                go_live,
                end_date: d.end_date_value(),
                status,
                declaration: declarations.get(&d.version_id).unwrap_or(&STANDARD),
                // One window for every deployment until a deployment needs its own; the
                // impact assessment's windows are designed around it (docs/monitoring-impact.md).
                baseline_months: DEFAULT_BASELINE_MONTHS,
            };
            match check_report(&input, &facts, today) {
                Ok(report) => {
                    let key = format!("{}/{}", d.id, report.period);
                    if let Some(first) = keys_in_batch.get(&key) {
                        out.problems.push(problem(
                            "period",
                            &format!("period {} of this deployment is already in row {first} of this batch", report.period),
                            &format!("kỳ {} của triển khai này đã có ở dòng {first} của lô", report.period),
                        ));
                        outcomes.push(out);
                        continue;
                    }
                    keys_in_batch.insert(key.clone(), row_no);
                    out.period = report.period.to_string();
                    let hash = content_hash(&report);
                    checked.push(Checked {
                        row: row_no,
                        key,
                        deployment: di,
                        report,
                        hash,
                    });
                    outcomes.push(out);
                }
                Err(problems) => {
                    out.problems = problems;
                    outcomes.push(out);
                }
            }
        }

        let mut attempt = 0;
        let (receipt, received_at, statuses) = loop {
            attempt += 1;
            match self
                .store_checked(
                    submitter,
                    source,
                    &deployments,
                    &checked,
                    outcomes.len(),
                    &received,
                )
                .await
            {
                Ok(v) => break v,
                // Two batches raced to create the same period; the loser sees the winner's
                // row on the next attempt and answers unchanged or revised.
                Err(StoreError::Conflict { .. }) if attempt < 3 => continue,
                Err(e) => return Err(e),
            }
        };
        let by_row: HashMap<usize, &'static str> =
            checked.iter().map(|c| c.row).zip(statuses).collect();
        for o in outcomes.iter_mut() {
            if let Some(s) = by_row.get(&o.row) {
                o.status = s;
            }
        }
        let count = |s: &str| outcomes.iter().filter(|o| o.status == s).count();
        Ok(BatchReceipt {
            receipt,
            received_at,
            accepted: count("accepted"),
            unchanged: count("unchanged"),
            revised: count("revised"),
            rejected: count("rejected"),
            rows: outcomes,
        })
    }

    async fn deployments_by_ids(&self, ids: &[String]) -> Result<Vec<Deployment>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id IN ({})",
                placeholders(self.backend(), 0, chunk.len())
            );
            let mut q = sqlx::query_as::<_, Deployment>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(self.pool()).await?);
        }
        Ok(out)
    }

    /// Writes the checked rows in one transaction; returns the receipt and each row's status
    /// in the order of `checked`.
    async fn store_checked(
        &self,
        submitter: &Submitter,
        source: &str,
        deployments: &[Deployment],
        checked: &[Checked],
        row_count: usize,
        received: &str,
    ) -> Result<(String, String, Vec<&'static str>), StoreError> {
        let now = received.to_string();
        let batch_id = new_id();
        let receipt = format!(
            "MR-{}-{}",
            now.get(..10).unwrap_or("").replace('-', ""),
            batch_id
                .get(batch_id.len().saturating_sub(8)..)
                .unwrap_or("")
                .to_uppercase()
        );
        let mut tx = self.begin_write().await?;
        let mut existing: HashMap<String, StoredReport> = HashMap::new();
        for chunk in checked.chunks(500) {
            let sql = format!(
                "SELECT {REPORT_READ_COLUMNS} FROM monitoring_reports WHERE report_key IN ({})",
                placeholders(self.backend(), 0, chunk.len())
            );
            let mut q = sqlx::query_as::<_, StoredReport>(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                q = q.bind(&c.key);
            }
            for r in q.fetch_all(&mut *tx).await? {
                existing.insert(r.report_key.clone(), r);
            }
        }
        let mut statuses = Vec::with_capacity(checked.len());
        let mut fresh: Vec<(&Checked, i64, String)> = Vec::new();
        let mut revised: Vec<(&Checked, &StoredReport)> = Vec::new();
        for c in checked {
            match existing.get(&c.key) {
                None => {
                    statuses.push("accepted");
                    fresh.push((c, 1, now.clone()));
                }
                Some(old) if old.content_hash == c.hash => statuses.push("unchanged"),
                Some(old) => {
                    statuses.push("revised");
                    revised.push((c, old));
                }
            }
        }
        // Corrections: keep the old revision whole, then replace the current row.
        for (c, old) in &revised {
            sqlx::query(
                "INSERT INTO monitoring_report_revisions (report_key, revision, row_json, received_at, superseded_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&c.key)
            .bind(old.revision)
            .bind(serde_json::to_string(old).unwrap_or_default())
            .bind(&old.received_at)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM monitoring_report_counters WHERE report_key = $1")
                .bind(&c.key)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM monitoring_reports WHERE report_key = $1")
                .bind(&c.key)
                .execute(&mut *tx)
                .await?;
        }
        let mut to_insert: Vec<(&Checked, i64, String)> = fresh;
        to_insert.extend(
            revised
                .iter()
                .map(|(c, old)| (*c, old.revision + 1, old.first_received_at.clone())),
        );
        let columns = REPORT_INSERT_COLUMNS.join(", ");
        for chunk in to_insert.chunks(INSERT_CHUNK) {
            let width = REPORT_INSERT_COLUMNS.len();
            let backend = self.backend();
            let values = (0..chunk.len())
                .map(|r| format!("({})", report_row_placeholders(backend, r * width)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("INSERT INTO monitoring_reports ({columns}) VALUES {values}");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (c, revision, first) in chunk {
                let d = &deployments[c.deployment];
                let r = &c.report;
                let v = r.verified;
                q = q
                    .bind(&c.key)
                    .bind(&d.id)
                    .bind(&d.product_id)
                    .bind(&d.version_id)
                    .bind(&d.facility_id)
                    .bind(&d.province_code)
                    .bind(&d.unit_code)
                    .bind(r.period.to_string())
                    .bind(iso_date::format(r.period.start()))
                    .bind(iso_date::format(r.period.anchor()))
                    .bind(i(r.uses))
                    .bind(i(r.positives))
                    .bind(v.map(|v| i(v.tp)))
                    .bind(v.map(|v| i(v.fp)))
                    .bind(v.map(|v| i(v.fn_)))
                    .bind(v.map(|v| i(v.tn)))
                    .bind(i(r.overrides))
                    .bind(i(r.escalations))
                    .bind(i(r.downtime_minutes))
                    .bind(r.latency_p50_ms.map(|x| x.to_string()))
                    .bind(r.latency_p95_ms.map(|x| x.to_string()))
                    .bind(join_counts(&r.score_histogram))
                    .bind(serde_json::to_string(&r.mix).unwrap_or_else(|_| "{}".into()))
                    .bind(serde_json::to_string(&r.counters).unwrap_or_else(|_| "{}".into()))
                    .bind(&c.hash)
                    .bind(*revision)
                    .bind(source)
                    .bind(first)
                    .bind(&now)
                    .bind(&submitter.user_id)
                    .bind(i64::from(r.baseline));
            }
            q.execute(&mut *tx).await.map_err(|e| {
                StoreError::from(e).on_unique("report", "a period sent twice at once")
            })?;
        }
        let counters: Vec<(&str, &str, i64)> = to_insert
            .iter()
            .flat_map(|(c, _, _)| {
                c.report
                    .counters
                    .iter()
                    .map(|(k, v)| (c.key.as_str(), k.as_str(), i(*v)))
            })
            .collect();
        for chunk in counters.chunks(INSERT_CHUNK) {
            let values = (0..chunk.len())
                .map(|r| format!("({})", placeholders(self.backend(), r * 3, 3)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO monitoring_report_counters (report_key, name, value) VALUES {values}"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (k, n, v) in chunk {
                q = q.bind(*k).bind(*n).bind(*v);
            }
            q.execute(&mut *tx).await?;
        }
        let n = |s: &str| statuses.iter().filter(|x| **x == s).count() as i64;
        let (accepted, unchanged, revised_n) = (n("accepted"), n("unchanged"), n("revised"));
        let rejected = row_count as i64 - accepted - unchanged - revised_n;
        sqlx::query(
            "INSERT INTO monitoring_batches (id, receipt, source, received_by, received_at, row_count, accepted, unchanged, revised, rejected) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&batch_id)
        .bind(&receipt)
        .bind(source)
        .bind(&submitter.user_id)
        .bind(&now)
        .bind(row_count as i64)
        .bind(accepted)
        .bind(unchanged)
        .bind(revised_n)
        .bind(rejected)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from(e).on_unique("receipt", &receipt))?;
        if accepted + revised_n > 0 {
            append(
                &mut tx,
                &self.now_text(),
                &AuditEntry::new(&submitter.user_id, "monitoring.ingest", "monitoring_batch", &batch_id)
                    .after(json!({ "receipt": receipt, "source": source, "accepted": accepted, "revised": revised_n, "unchanged": unchanged, "rejected": rejected })),
            )
            .await?;
        }
        tx.commit().await?;
        Ok((receipt, now, statuses))
    }

    /// The current revision of every report of a deployment, oldest period first.
    pub async fn deployment_reports(
        &self,
        deployment_id: &str,
    ) -> Result<Vec<StoredReport>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {REPORT_READ_COLUMNS} FROM monitoring_reports WHERE deployment_id = $1 ORDER BY period_start"
        ))
        .bind(deployment_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Earlier revisions of one report, newest first, as the JSON they were stored as.
    pub async fn report_revisions(
        &self,
        report_key: &str,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT revision, row_json, superseded_at FROM monitoring_report_revisions WHERE report_key = $1 ORDER BY revision DESC",
        )
        .bind(report_key)
        .fetch_all(self.pool())
        .await?)
    }

    // ---- KPI sums ----

    /// Sums of the fixed counts over the reports gathered into a period, grouped. Baseline
    /// rows are left out: an AI KPI must not mix in counts made without the AI.
    pub async fn report_sums(&self, q: &SumsQuery) -> Result<Vec<ReportSums>, StoreError> {
        let group = q.group_by.column();
        let sql = format!(
            "SELECT {group} AS group_key, COUNT(*) AS reports, COUNT(DISTINCT facility_id) AS facilities, \
             CAST(COALESCE(SUM(uses), 0) AS BIGINT) AS uses, CAST(COALESCE(SUM(positives), 0) AS BIGINT) AS positives, \
             CAST(COALESCE(SUM(tp), 0) AS BIGINT) AS tp, CAST(COALESCE(SUM(fp), 0) AS BIGINT) AS fp, CAST(COALESCE(SUM(fn), 0) AS BIGINT) AS fn, CAST(COALESCE(SUM(tn), 0) AS BIGINT) AS tn, \
             CAST(COALESCE(SUM(CASE WHEN tp IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS verified_reports, \
             CAST(COALESCE(SUM(overrides), 0) AS BIGINT) AS overrides, CAST(COALESCE(SUM(escalations), 0) AS BIGINT) AS escalations, \
             CAST(COALESCE(SUM(downtime_minutes), 0) AS BIGINT) AS downtime_minutes \
             FROM monitoring_reports WHERE baseline = 0 AND period_anchor >= $1 AND period_anchor < $2 \
             AND ($3 IS NULL OR product_id = $3) AND ($4 IS NULL OR province_code = $4) \
             AND ($5 IS NULL OR unit_code = $5) AND ($6 IS NULL OR facility_id = $6) \
             GROUP BY 1 ORDER BY 1"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(iso_date::format(q.period.start()))
            .bind(iso_date::format(q.period.end()))
            .bind(&q.product_id)
            .bind(&q.province_code)
            .bind(&q.unit_code)
            .bind(&q.facility_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Sums of the declared counters over the same reports, by group and counter name.
    pub async fn counter_sums(
        &self,
        q: &SumsQuery,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let group = match q.group_by {
            GroupBy::Nation => "'VN'".to_string(),
            g => format!("r.{}", g.column()),
        };
        let sql = format!(
            "SELECT {group} AS group_key, c.name, CAST(COALESCE(SUM(c.value), 0) AS BIGINT) AS total \
             FROM monitoring_report_counters c JOIN monitoring_reports r ON r.report_key = c.report_key \
             WHERE r.baseline = 0 AND r.period_anchor >= $1 AND r.period_anchor < $2 \
             AND ($3 IS NULL OR r.product_id = $3) AND ($4 IS NULL OR r.province_code = $4) \
             AND ($5 IS NULL OR r.unit_code = $5) AND ($6 IS NULL OR r.facility_id = $6) \
             GROUP BY 1, 2 ORDER BY 1, 2"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(iso_date::format(q.period.start()))
            .bind(iso_date::format(q.period.end()))
            .bind(&q.product_id)
            .bind(&q.province_code)
            .bind(&q.unit_code)
            .bind(&q.facility_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// For completeness: each deployment that overlaps the period, and the day the first
    /// revision of each of its reports in the period arrived. Baseline reports are extra
    /// work a station volunteers, so they count neither for nor against it here.
    pub async fn reporting_status(
        &self,
        period: &Period,
        product_id: Option<&str>,
        province_code: Option<&str>,
    ) -> Result<Vec<(Deployment, BTreeMap<Period, Date>)>, StoreError> {
        let start = iso_date::format(period.start());
        let end = iso_date::format(period.end());
        let deps: Vec<Deployment> = sqlx::query_as(sqlf!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE go_live < $1 AND (end_date IS NULL OR end_date >= $2) \
             AND status <> 'planned' AND ($3 IS NULL OR product_id = $3) AND ($4 IS NULL OR province_code = $4) ORDER BY id"
        ))
        .bind(&end)
        .bind(&start)
        .bind(product_id)
        .bind(province_code)
        .fetch_all(self.pool())
        .await?;
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT deployment_id, period, first_received_at FROM monitoring_reports \
             WHERE baseline = 0 AND period_anchor >= $1 AND period_anchor < $2 AND ($3 IS NULL OR product_id = $3) AND ($4 IS NULL OR province_code = $4)",
        )
        .bind(&start)
        .bind(&end)
        .bind(product_id)
        .bind(province_code)
        .fetch_all(self.pool())
        .await?;
        let mut received: HashMap<String, BTreeMap<Period, Date>> = HashMap::new();
        for (dep, per, at) in rows {
            let (Ok(p), Some(day)) = (
                Period::parse(&per),
                at.get(..10).and_then(|d| iso_date::parse(d).ok()),
            ) else {
                continue;
            };
            received.entry(dep).or_default().insert(p, day);
        }
        Ok(deps
            .into_iter()
            .map(|d| {
                let r = received.remove(&d.id).unwrap_or_default();
                (d, r)
            })
            .collect())
    }

    // ---- impact ----

    /// Sums per facility and reported period for one product, baseline rows included, with
    /// each facility's go-live (its earliest deployment of the product): what the impact
    /// assessment builds unit-level before and after values from. Only periods gathered in
    /// `[from, to)` by their anchor day are read.
    pub async fn impact_sums(
        &self,
        product_id: &str,
        from: Date,
        to: Date,
    ) -> Result<ImpactSums, StoreError> {
        let (from, to) = (iso_date::format(from), iso_date::format(to));
        let lives: Vec<(String, String)> = sqlx::query_as(
            "SELECT facility_id, MIN(go_live) FROM deployments WHERE product_id = $1 GROUP BY facility_id ORDER BY facility_id",
        )
        .bind(product_id)
        .fetch_all(self.pool())
        .await?;
        let go_live = lives
            .into_iter()
            .filter_map(|(f, d)| iso_date::parse(&d).ok().map(|d| (f, d)))
            .collect();
        let rows: Vec<FacilityPeriodSums> = sqlx::query_as(
            "SELECT facility_id, period, COUNT(*) AS reports, \
             CAST(COALESCE(SUM(baseline), 0) AS BIGINT) AS baseline_reports, \
             CAST(COALESCE(SUM(uses), 0) AS BIGINT) AS uses, CAST(COALESCE(SUM(positives), 0) AS BIGINT) AS positives, \
             CAST(COALESCE(SUM(tp), 0) AS BIGINT) AS tp, CAST(COALESCE(SUM(fp), 0) AS BIGINT) AS fp, CAST(COALESCE(SUM(fn), 0) AS BIGINT) AS fn, CAST(COALESCE(SUM(tn), 0) AS BIGINT) AS tn, \
             CAST(COALESCE(SUM(overrides), 0) AS BIGINT) AS overrides, CAST(COALESCE(SUM(escalations), 0) AS BIGINT) AS escalations, \
             CAST(COALESCE(SUM(downtime_minutes), 0) AS BIGINT) AS downtime_minutes \
             FROM monitoring_reports WHERE product_id = $1 AND period_anchor >= $2 AND period_anchor < $3 \
             GROUP BY facility_id, period ORDER BY facility_id, period",
        )
        .bind(product_id)
        .bind(&from)
        .bind(&to)
        .fetch_all(self.pool())
        .await?;
        let counters: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT r.facility_id, r.period, c.name, CAST(COALESCE(SUM(c.value), 0) AS BIGINT) AS total \
             FROM monitoring_report_counters c JOIN monitoring_reports r ON r.report_key = c.report_key \
             WHERE r.product_id = $1 AND r.period_anchor >= $2 AND r.period_anchor < $3 \
             GROUP BY r.facility_id, r.period, c.name ORDER BY 1, 2, 3",
        )
        .bind(product_id)
        .bind(&from)
        .bind(&to)
        .fetch_all(self.pool())
        .await?;
        let mut by_row: HashMap<(String, String), BTreeMap<String, i64>> = HashMap::new();
        for (f, p, name, v) in counters {
            by_row.entry((f, p)).or_default().insert(name, v);
        }
        let rows = rows
            .into_iter()
            .map(|mut r| {
                r.counters = by_row
                    .remove(&(r.facility_id.clone(), r.period.clone()))
                    .unwrap_or_default();
                r
            })
            .collect();
        Ok(ImpactSums { go_live, rows })
    }

    // ---- alerts ----

    /// Records an alert once per deployment x metric x method x period; a rerun of the job
    /// updates the evidence of an alert nobody has handled yet and leaves handled ones be.
    pub async fn raise_alert(&self, a: &NewAlert) -> Result<bool, StoreError> {
        let d = self
            .deployment(&a.deployment_id)
            .await?
            .ok_or_else(|| not_found("deployment", &a.deployment_id))?;
        let now = self.now_text();
        let evidence = a.evidence.to_string();
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE monitoring_alerts SET level = $1, value = $2, threshold = $3, evidence_json = $4, updated_at = $5 \
             WHERE deployment_id = $6 AND metric = $7 AND method = $8 AND period = $9 AND state = 'new'",
        )
        .bind(&a.level)
        .bind(a.value)
        .bind(a.threshold)
        .bind(&evidence)
        .bind(&now)
        .bind(&a.deployment_id)
        .bind(&a.metric)
        .bind(&a.method)
        .bind(&a.period)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let inserted = if updated == 0 {
            sqlx::query(sqlf!(
                "INSERT INTO monitoring_alerts ({ALERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'new', NULL, $12, $12, NULL) \
                 ON CONFLICT (deployment_id, metric, method, period) DO NOTHING"
            ))
            .bind(new_id())
            .bind(&d.id)
            .bind(&d.product_id)
            .bind(&d.province_code)
            .bind(&a.metric)
            .bind(&a.method)
            .bind(&a.period)
            .bind(&a.level)
            .bind(a.value)
            .bind(a.threshold)
            .bind(&evidence)
            .bind(&now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        } else {
            false
        };
        tx.commit().await?;
        Ok(inserted)
    }

    pub async fn alerts(&self, f: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
        let limit = if f.limit <= 0 { 200 } else { f.limit.min(2000) };
        Ok(sqlx::query_as(sqlf!(
            "SELECT {ALERT_COLUMNS} FROM monitoring_alerts a WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR product_id = $2) \
             AND ($3 IS NULL OR deployment_id = $3) \
             AND ($4 IS NULL OR product_id IN (SELECT id FROM products WHERE manufacturer_id = $4)) \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        ))
        .bind(&f.state)
        .bind(&f.product_id)
        .bind(&f.deployment_id)
        .bind(&f.maker_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {ALERT_COLUMNS} FROM monitoring_alerts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// new -> acknowledged -> resolved (or new -> resolved), with a note.
    pub async fn set_alert_state(
        &self,
        actor: &str,
        id: &str,
        to: &str,
        note: &str,
    ) -> Result<Alert, StoreError> {
        let a = self
            .alert(id)
            .await?
            .ok_or_else(|| not_found("alert", id))?;
        let ok = matches!(
            (a.state.as_str(), to),
            ("new", "acknowledged") | ("new", "resolved") | ("acknowledged", "resolved")
        );
        if !ok {
            return Err(invalid(
                "state",
                format!("an alert that is {} cannot become {to}", a.state),
            ));
        }
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE monitoring_alerts SET state = $1, note = $2, updated_at = $3, updated_by = $4 WHERE id = $5 AND state = $6",
        )
        .bind(to)
        .bind(note.trim())
        .bind(&now)
        .bind(actor)
        .bind(id)
        .bind(&a.state)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(StoreError::Conflict {
                what: "alert state (changed meanwhile)",
                key: id.into(),
            });
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "alert.state", "alert", id)
                .before(json!({ "state": a.state }))
                .after(json!({ "state": to, "note": note.trim() })),
        )
        .await?;
        tx.commit().await?;
        self.alert(id).await?.ok_or_else(|| not_found("alert", id))
    }
}

static STANDARD: std::sync::LazyLock<Declaration> = std::sync::LazyLock::new(Declaration::standard);

fn problem(field: &str, en: &str, vi: &str) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        message: en.into(),
        message_vi: vi.into(),
    }
}

pub(crate) use vigilo_store_facility::load as load_facility;

/// A facility with the administrative units its deployments are counted in.
mod vigilo_store_facility {
    use super::*;

    pub struct Facility {
        pub id: String,
        pub name: String,
        pub unit_code: String,
        pub province_code: String,
    }

    pub async fn load(store: &Store, id: &str) -> Result<Facility, StoreError> {
        let org = store
            .organisation(id)
            .await?
            .ok_or_else(|| not_found("facility", id))?;
        if org.kind != "facility" {
            return Err(invalid(
                "facility",
                format!("{} is not a health facility", org.name),
            ));
        }
        let unit_code = org
            .admin_unit_code
            .clone()
            .ok_or_else(|| invalid("facility", "the facility has no administrative unit"))?;
        let unit = store
            .admin_unit(&unit_code)
            .await?
            .ok_or_else(|| not_found("administrative unit", &unit_code))?;
        let province_code = match unit.level.as_str() {
            "province" => unit.code.clone(),
            _ => unit
                .parent_code
                .clone()
                .unwrap_or_else(|| unit.code.clone()),
        };
        Ok(Facility {
            id: org.id,
            name: org.name,
            unit_code,
            province_code,
        })
    }
}
