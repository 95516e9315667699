//! Early warning signals: the facts the detection job reads (coded reports, monthly report
//! counts and monitoring uses), the signals it records, and the reviewer's workflow.

use crate::audit::{append, AuditEntry};
use crate::error::invalid;
use crate::{new_id, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use std::collections::HashSet;
use vigilo_core::signal::{
    signal_key, signal_transition, SignalCommand, SignalMethod, SignalState,
};

/// One (report, code) pair for disproportionality, with where and when.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignalInput {
    pub incident_id: String,
    pub product_id: Option<String>,
    pub product_name: Option<String>,
    pub version_id: Option<String>,
    pub version: Option<String>,
    /// The FDA submission number of a device on the FDA list (imported reports).
    pub fda_reference: Option<String>,
    pub fda_device: Option<String>,
    pub code: String,
    /// The event date, else the day of receipt.
    pub day: String,
    pub province_code: Option<String>,
}

/// Reports about a directory product by month (event date, else receipt).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MonthCount {
    pub product_id: String,
    pub month: String,
    pub n: i64,
}

/// Reports about a product in a province since a date, with their ids.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlaceReport {
    pub incident_id: String,
    pub product_id: String,
    pub product_name: String,
    pub province_code: String,
    pub day: String,
}

/// What the detection job found: one candidate signal with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    pub method: SignalMethod,
    pub product_key: String,
    pub product_label: String,
    pub product_id: Option<String>,
    pub version_id: Option<String>,
    pub code: String,
    pub region: String,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub observed: i64,
    pub expected: f64,
    pub score_label: String,
    pub score: f64,
    pub evidence: serde_json::Value,
    pub incident_ids: Vec<String>,
}

/// What recording a run changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DetectionOutcome {
    pub new: u64,
    pub updated: u64,
    /// Signals found before and not in this run (kept, marked no longer detected).
    pub no_longer_detected: u64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Signal {
    pub id: String,
    pub signal_key: String,
    pub method: String,
    pub product_key: String,
    pub product_label: String,
    pub product_id: Option<String>,
    pub version_id: Option<String>,
    pub code: String,
    pub region: String,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub observed: i64,
    pub expected: f64,
    pub score_label: String,
    pub score: f64,
    pub evidence_json: String,
    pub state: String,
    pub still_detected: i64,
    pub first_detected_at: String,
    pub last_detected_at: String,
    pub updated_at: String,
}

const SIGNAL_COLUMNS: &str = "id, signal_key, method, product_key, product_label, product_id, version_id, code, region, window_start, window_end, observed, expected, score_label, score, evidence_json, state, still_detected, first_detected_at, last_detected_at, updated_at";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SignalEvent {
    pub at: String,
    pub actor_id: String,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct SignalFilter {
    pub state: Option<SignalState>,
    pub method: Option<SignalMethod>,
    pub product_id: Option<String>,
    pub limit: u32,
}

impl Store {
    /// Every coded, non-duplicate report about a known product or FDA-listed device, one
    /// row per code.
    pub async fn signal_inputs(&self) -> Result<Vec<SignalInput>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT i.id AS incident_id, i.product_id, p.name AS product_name, i.version_id, v.version, \
                    f.reference AS fda_reference, f.device AS fda_device, c.code, \
                    COALESCE(i.occurred_on, i.received_on) AS day, i.province_code \
             FROM incident_codes c JOIN incidents i ON i.id = c.incident_id \
             LEFT JOIN products p ON p.id = i.product_id \
             LEFT JOIN product_versions v ON v.id = i.version_id \
             LEFT JOIN foreign_references f ON f.id = i.foreign_reference_id \
             WHERE i.duplicate_of IS NULL AND (i.product_id IS NOT NULL OR i.foreign_reference_id IS NOT NULL) \
             ORDER BY i.id, c.code",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Reports per directory product and month.
    pub async fn incident_months(&self) -> Result<Vec<MonthCount>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT product_id, SUBSTR(COALESCE(occurred_on, received_on), 1, 7) AS month, CAST(COUNT(*) AS BIGINT) AS n \
             FROM incidents WHERE duplicate_of IS NULL AND product_id IS NOT NULL \
             GROUP BY product_id, SUBSTR(COALESCE(occurred_on, received_on), 1, 7) ORDER BY 1, 2",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Monitoring uses per product and month (live periods only, not baseline).
    pub async fn usage_months(&self) -> Result<Vec<MonthCount>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT product_id, SUBSTR(period_anchor, 1, 7) AS month, CAST(SUM(uses) AS BIGINT) AS n \
             FROM monitoring_reports WHERE baseline = 0 \
             GROUP BY product_id, SUBSTR(period_anchor, 1, 7) ORDER BY 1, 2",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Monitoring uses per product and province for periods starting on or after `since`.
    pub async fn usage_by_province(&self, since: &str) -> Result<Vec<MonthCount>, StoreError> {
        // `month` carries the province code here: the same two-column shape.
        Ok(sqlx::query_as(
            "SELECT product_id, province_code AS month, CAST(SUM(uses) AS BIGINT) AS n \
             FROM monitoring_reports WHERE baseline = 0 AND period_start >= $1 \
             GROUP BY product_id, province_code ORDER BY 1, 2",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?)
    }

    /// Non-duplicate reports about directory products placed in a province, since a date.
    pub async fn placed_reports(&self, since: &str) -> Result<Vec<PlaceReport>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT i.id AS incident_id, i.product_id, p.name AS product_name, i.province_code, \
                    COALESCE(i.occurred_on, i.received_on) AS day \
             FROM incidents i JOIN products p ON p.id = i.product_id \
             WHERE i.duplicate_of IS NULL AND i.province_code IS NOT NULL \
               AND COALESCE(i.occurred_on, i.received_on) >= $1 \
             ORDER BY i.product_id, i.province_code, i.id",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a detection run in one transaction: new signals are created, known ones
    /// updated (their reviewer's state is kept), and signals this run did not find are
    /// marked no longer detected. Each signal's reports are replaced by this run's.
    pub async fn record_detections(
        &self,
        actor: &str,
        detections: &[Detection],
    ) -> Result<DetectionOutcome, StoreError> {
        let now = self.now_text();
        let mut outcome = DetectionOutcome::default();
        let mut tx = self.begin_write().await?;
        let known: Vec<(String, String)> = sqlx::query_as("SELECT signal_key, id FROM signals")
            .fetch_all(&mut *tx)
            .await?;
        let known: std::collections::HashMap<String, String> = known.into_iter().collect();
        let mut found: HashSet<String> = HashSet::new();
        for d in detections {
            let key = signal_key(d.method, &d.product_key, &d.code, &d.region);
            if !found.insert(key.clone()) {
                continue;
            }
            let evidence = d.evidence.to_string();
            let id = match known.get(&key) {
                Some(id) => {
                    sqlx::query(
                        "UPDATE signals SET product_label = $1, window_start = $2, window_end = $3, observed = $4, expected = $5, \
                         score_label = $6, score = $7, evidence_json = $8, still_detected = 1, last_detected_at = $9, updated_at = $9 WHERE id = $10",
                    )
                    .bind(&d.product_label)
                    .bind(d.window_start.as_deref())
                    .bind(d.window_end.as_deref())
                    .bind(d.observed)
                    .bind(d.expected)
                    .bind(&d.score_label)
                    .bind(d.score)
                    .bind(&evidence)
                    .bind(&now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM signal_incidents WHERE signal_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    outcome.updated += 1;
                    id.clone()
                }
                None => {
                    let id = new_id();
                    sqlx::query(sqlf!(
                        "INSERT INTO signals ({SIGNAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'new', 1, $17, $17, $17)"
                    ))
                    .bind(&id)
                    .bind(&key)
                    .bind(d.method.code())
                    .bind(&d.product_key)
                    .bind(&d.product_label)
                    .bind(d.product_id.as_deref())
                    .bind(d.version_id.as_deref())
                    .bind(&d.code)
                    .bind(&d.region)
                    .bind(d.window_start.as_deref())
                    .bind(d.window_end.as_deref())
                    .bind(d.observed)
                    .bind(d.expected)
                    .bind(&d.score_label)
                    .bind(d.score)
                    .bind(&evidence)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO signal_events (signal_id, at, actor_id, action, from_state, to_state, reason) VALUES ($1, $2, $3, 'detect', '', 'new', $4)",
                    )
                    .bind(&id)
                    .bind(&now)
                    .bind(actor)
                    .bind(format!("{} {:.2}", d.score_label, d.score))
                    .execute(&mut *tx)
                    .await?;
                    outcome.new += 1;
                    id
                }
            };
            let mut ids: Vec<&String> = d.incident_ids.iter().collect();
            ids.sort();
            ids.dedup();
            for incident in ids {
                sqlx::query(
                    "INSERT INTO signal_incidents (signal_id, incident_id) VALUES ($1, $2)",
                )
                .bind(&id)
                .bind(incident)
                .execute(&mut *tx)
                .await?;
            }
        }
        for (key, id) in &known {
            if !found.contains(key) {
                let changed = sqlx::query(
                    "UPDATE signals SET still_detected = 0, updated_at = $1 WHERE id = $2 AND still_detected = 1",
                )
                .bind(&now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                outcome.no_longer_detected += changed;
            }
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "signal.detect", "signals", "run").after(json!(&outcome)),
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Signals, strongest evidence first within each state (new first).
    pub async fn signals(&self, f: &SignalFilter) -> Result<Vec<Signal>, StoreError> {
        let limit = i64::from(f.limit.clamp(1, 1000));
        Ok(sqlx::query_as(sqlf!(
            "SELECT {SIGNAL_COLUMNS} FROM signals WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR method = $2) \
             AND ($3 IS NULL OR product_id = $3) \
             ORDER BY CASE state WHEN 'new' THEN 0 WHEN 'under_review' THEN 1 WHEN 'confirmed' THEN 2 ELSE 3 END, \
                      still_detected DESC, last_detected_at DESC, observed DESC, id LIMIT {limit}"
        ))
        .bind(f.state.map(|s| s.code()))
        .bind(f.method.map(|m| m.code()))
        .bind(f.product_id.as_deref())
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn signal(&self, id: &str) -> Result<Option<Signal>, StoreError> {
        Ok(
            sqlx::query_as(sqlf!("SELECT {SIGNAL_COLUMNS} FROM signals WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The ids of the reports behind a signal.
    pub async fn signal_incident_ids(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT incident_id FROM signal_incidents WHERE signal_id = $1 ORDER BY incident_id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(i,)| i).collect())
    }

    pub async fn signal_events(&self, id: &str) -> Result<Vec<SignalEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT at, actor_id, action, from_state, to_state, reason FROM signal_events WHERE signal_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The reviewer's step on a signal, with a reason, in the history and the audit chain.
    pub async fn signal_transition(
        &self,
        actor: &str,
        id: &str,
        command: SignalCommand,
        reason: &str,
    ) -> Result<Signal, StoreError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(invalid("reason", "give a reason for this step"));
        }
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let row: Option<(String,)> = sqlx::query_as("SELECT state FROM signals WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let (state,) = row.ok_or_else(|| StoreError::NotFound {
            what: "signal",
            key: id.into(),
        })?;
        let from: SignalState = state
            .parse()
            .map_err(|e: vigilo_core::directory::UnknownCode| invalid("state", e.to_string()))?;
        let to = signal_transition(from, command).map_err(|e| StoreError::Conflict {
            what: "signal state",
            key: e.to_string(),
        })?;
        let changed = sqlx::query(
            "UPDATE signals SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4",
        )
        .bind(to.code())
        .bind(&now)
        .bind(id)
        .bind(from.code())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(StoreError::Conflict {
                what: "signal state",
                key: "changed by someone else; reload".into(),
            });
        }
        sqlx::query(
            "INSERT INTO signal_events (signal_id, at, actor_id, action, from_state, to_state, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(&now)
        .bind(actor)
        .bind(command.code())
        .bind(from.code())
        .bind(to.code())
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, &format!("signal.{}", command.code()), "signal", id)
                .before(json!({"state": from.code()}))
                .after(json!({"state": to.code(), "reason": reason})),
        )
        .await?;
        tx.commit().await?;
        self.signal(id).await?.ok_or_else(|| StoreError::NotFound {
            what: "signal",
            key: id.into(),
        })
    }
}
