//! Early warnings for GRN peers, from composition to publication: what a confirmed signal
//! offers as structured facts (never narratives), drafts awaiting an admin's approval, and
//! the decisions on them. Signing and the feed are in `federation.rs`.

use crate::appraisal::next_counter;
use crate::audit::{append, AuditEntry};
use crate::error::{invalid, not_found};
use crate::{new_id, Store, StoreError};
use serde::Serialize;
use serde_json::json;

/// The facts a signal offers for a warning: counted and coded, nothing written by a
/// reporter.
#[derive(Debug, Clone)]
pub struct WarningBasis {
    pub signal_id: String,
    pub signal_state: String,
    pub product_id: String,
    pub product_name: String,
    pub manufacturer: String,
    pub input_modality: String,
    pub ai_kind: String,
    /// Versions named by the signal's reports, sorted.
    pub versions: Vec<String>,
    /// Seriousness code of each report.
    pub seriousness: Vec<String>,
    /// Reviewer-assigned codes on the reports, most frequent first: (code, system
    /// `imdrf` or `ai`, reports carrying it).
    pub codes: Vec<(String, String, i64)>,
    /// First and last day of the reports (occurred, or received when unknown).
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    /// Safety notices issued for the product: (reference, kind, issued day).
    pub notices: Vec<(String, String, String)>,
    /// When the signal was confirmed.
    pub confirmed_on: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WarningDraft {
    pub id: String,
    pub signal_id: String,
    pub reference: String,
    pub payload_json: String,
    pub audience_json: String,
    pub state: String,
    pub composed_by: String,
    pub composed_at: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub reason: Option<String>,
    pub item_id: Option<String>,
    pub item_version: Option<i64>,
    pub updated_at: String,
}

const DRAFT_COLUMNS: &str = "id, signal_id, reference, payload_json, audience_json, state, composed_by, composed_at, decided_by, decided_at, reason, item_id, item_version, updated_at";

/// A decision on a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningDecision {
    /// Published as this item version (the caller signed and published it).
    Published,
    /// Sent back to the reviewer with a reason.
    Returned,
    /// Taken back by its composer (or an admin) before publication.
    Withdrawn,
    /// Retracted from the feed after publication.
    Retracted,
}

impl WarningDecision {
    fn to_state(self) -> &'static str {
        match self {
            WarningDecision::Published => "published",
            WarningDecision::Returned => "returned",
            WarningDecision::Withdrawn => "withdrawn",
            WarningDecision::Retracted => "retracted",
        }
    }

    /// States the decision may be taken from.
    fn allowed_from(self) -> &'static [&'static str] {
        match self {
            WarningDecision::Published | WarningDecision::Returned => &["awaiting_approval"],
            WarningDecision::Withdrawn => &["awaiting_approval", "returned"],
            WarningDecision::Retracted => &["published"],
        }
    }
}

impl Store {
    /// The structured facts of a signal for an early warning. `None` when there is no
    /// such signal; an error when it is not about a product of this node's directory.
    pub async fn warning_basis(&self, signal_id: &str) -> Result<Option<WarningBasis>, StoreError> {
        let Some(signal) = self.signal(signal_id).await? else {
            return Ok(None);
        };
        let Some(product_id) = signal.product_id.clone() else {
            return Err(invalid(
                "signal",
                "early warnings are composed for products in this node's directory; this signal is about a foreign device",
            ));
        };
        let product: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT p.name, o.name, p.input_modality, p.ai_kind FROM products p \
             JOIN organisations o ON o.id = p.manufacturer_id WHERE p.id = $1",
        )
        .bind(&product_id)
        .fetch_optional(self.pool())
        .await?;
        let Some((product_name, manufacturer, input_modality, ai_kind)) = product else {
            return Err(not_found("product", &product_id));
        };
        // The reports behind the signal: those it links (disproportionality, clusters), or, for
        // a rate signal, which links none, the product's reports in its window and region.
        let linked: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM signal_incidents WHERE signal_id = $1",
        )
        .bind(signal_id)
        .fetch_one(self.pool())
        .await?;
        let window = match (&signal.window_start, &signal.window_end) {
            (Some(a), Some(b)) if linked == 0 && !a.is_empty() && a.len() == b.len() => {
                Some((a.clone(), b.clone()))
            }
            _ => None,
        };
        let set = if window.is_some() {
            "SELECT w.id FROM incidents w WHERE w.product_id = $1 AND w.duplicate_of IS NULL \
             AND ($2 = '' OR w.version_id = $2) AND ($3 = '' OR w.province_code = $3) \
             AND SUBSTR(COALESCE(w.occurred_on, w.received_on), 1, LENGTH($4)) BETWEEN $4 AND $5"
        } else {
            "SELECT s.incident_id FROM signal_incidents s WHERE s.signal_id = $1"
        };
        let (from, to) = window.unwrap_or_default();
        let version = signal.version_id.clone().unwrap_or_default();
        let reports_sql = sqlf!(
            "SELECT i.seriousness, COALESCE(i.occurred_on, i.received_on), v.version \
             FROM incidents i LEFT JOIN product_versions v ON v.id = i.version_id \
             WHERE i.id IN ({set}) ORDER BY 2"
        );
        let codes_sql = sqlf!(
            "SELECT c.code, c.system, CAST(COUNT(DISTINCT c.incident_id) AS BIGINT) AS n \
             FROM incident_codes c WHERE c.incident_id IN ({set}) AND c.system IN ('imdrf', 'ai') \
             GROUP BY c.code, c.system ORDER BY n DESC, c.code"
        );
        let mut reports_q = sqlx::query_as::<_, (String, String, Option<String>)>(reports_sql);
        let mut codes_q = sqlx::query_as::<_, (String, String, i64)>(codes_sql);
        if from.is_empty() {
            reports_q = reports_q.bind(signal_id);
            codes_q = codes_q.bind(signal_id);
        } else {
            reports_q = reports_q
                .bind(&product_id)
                .bind(&version)
                .bind(&signal.region)
                .bind(&from)
                .bind(&to);
            codes_q = codes_q
                .bind(&product_id)
                .bind(&version)
                .bind(&signal.region)
                .bind(&from)
                .bind(&to);
        }
        let reports = reports_q.fetch_all(self.pool()).await?;
        let codes = codes_q.fetch_all(self.pool()).await?;
        let mut versions: Vec<String> = reports.iter().filter_map(|r| r.2.clone()).collect();
        versions.sort();
        versions.dedup();
        let notices: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT reference, kind, SUBSTR(issued_at, 1, 10) FROM safety_notices \
             WHERE product_id = $1 ORDER BY issued_at",
        )
        .bind(&product_id)
        .fetch_all(self.pool())
        .await?;
        let confirmed_on = self
            .signal_events(signal_id)
            .await?
            .into_iter()
            .rev()
            .find(|e| e.to_state == "confirmed")
            .map(|e| e.at.chars().take(10).collect());
        Ok(Some(WarningBasis {
            signal_id: signal.id,
            signal_state: signal.state,
            product_id,
            product_name,
            manufacturer,
            input_modality,
            ai_kind,
            versions,
            first_day: reports.first().map(|r| r.1.clone()),
            last_day: reports.last().map(|r| r.1.clone()),
            seriousness: reports.into_iter().map(|r| r.0).collect(),
            codes,
            notices,
            confirmed_on,
        }))
    }

    /// The next early-warning reference of this node for a year, e.g. `VN-EW-2026-000003`.
    pub async fn next_warning_reference(
        &self,
        country: &str,
        year: i32,
    ) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        let seq = next_counter(&mut tx, &format!("early-warning-{year}")).await?;
        tx.commit().await?;
        Ok(format!("{country}-EW-{year}-{seq:06}"))
    }

    /// Saves a composed warning for approval. `payload` must already be the checked
    /// early-warning payload; it is stored as it will be signed.
    pub async fn create_warning_draft(
        &self,
        actor: &str,
        signal_id: &str,
        reference: &str,
        payload: &serde_json::Value,
        audience: &serde_json::Value,
    ) -> Result<WarningDraft, StoreError> {
        let id = new_id();
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO warning_drafts (id, signal_id, reference, payload_json, audience_json, state, composed_by, composed_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'awaiting_approval', $6, $7, $7)",
        )
        .bind(&id)
        .bind(signal_id)
        .bind(reference)
        .bind(payload.to_string())
        .bind(audience.to_string())
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "warning.compose", "warning_draft", &id)
                .after(json!({ "signal": signal_id, "reference": reference })),
        )
        .await?;
        tx.commit().await?;
        self.warning_draft(&id)
            .await?
            .ok_or_else(|| not_found("warning draft", &id))
    }

    pub async fn warning_draft(&self, id: &str) -> Result<Option<WarningDraft>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {DRAFT_COLUMNS} FROM warning_drafts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Drafts and published warnings, those waiting for a decision first, then newest.
    pub async fn warning_drafts(&self, limit: u32) -> Result<Vec<WarningDraft>, StoreError> {
        let limit = i64::from(limit.clamp(1, 1000));
        Ok(sqlx::query_as(sqlf!(
            "SELECT {DRAFT_COLUMNS} FROM warning_drafts \
             ORDER BY CASE state WHEN 'awaiting_approval' THEN 0 WHEN 'returned' THEN 1 ELSE 2 END, updated_at DESC LIMIT {limit}"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a decision on a draft if its state allows it (compare-and-set, so two
    /// admins cannot both publish it).
    pub async fn decide_warning_draft(
        &self,
        actor: &str,
        id: &str,
        decision: WarningDecision,
        reason: &str,
        item: Option<(&str, i64)>,
    ) -> Result<WarningDraft, StoreError> {
        let now = self.now_text();
        let from = decision.allowed_from();
        let mut tx = self.begin_write().await?;
        let current: Option<(String,)> =
            sqlx::query_as("SELECT state FROM warning_drafts WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((state,)) = current else {
            return Err(not_found("warning draft", id));
        };
        if !from.contains(&state.as_str()) {
            return Err(invalid(
                "warning",
                format!(
                    "it is {state}; this can be done only when it is {}",
                    from.join(" or ")
                ),
            ));
        }
        sqlx::query(
            "UPDATE warning_drafts SET state = $1, decided_by = $2, decided_at = $3, reason = $4, \
             item_id = COALESCE($5, item_id), item_version = COALESCE($6, item_version), updated_at = $3 WHERE id = $7",
        )
        .bind(decision.to_state())
        .bind(actor)
        .bind(&now)
        .bind(reason)
        .bind(item.map(|i| i.0))
        .bind(item.map(|i| i.1))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "warning.decide", "warning_draft", id)
                .before(json!({ "state": state }))
                .after(json!({ "state": decision.to_state(), "reason": reason })),
        )
        .await?;
        tx.commit().await?;
        self.warning_draft(id)
            .await?
            .ok_or_else(|| not_found("warning draft", id))
    }

    /// Records the feed item a published warning became.
    pub async fn set_warning_item(
        &self,
        id: &str,
        item_id: &str,
        version: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE warning_drafts SET item_id = $1, item_version = $2 WHERE id = $3")
            .bind(item_id)
            .bind(version)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Gives a claimed draft back when its publication failed (no item was made).
    pub async fn reopen_warning_draft(
        &self,
        actor: &str,
        id: &str,
        why: &str,
    ) -> Result<(), StoreError> {
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let reopened = sqlx::query(
            "UPDATE warning_drafts SET state = 'awaiting_approval', decided_by = NULL, decided_at = NULL, updated_at = $1 \
             WHERE id = $2 AND state = 'published' AND item_id IS NULL",
        )
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if reopened > 0 {
            append(
                &mut tx,
                &now,
                &AuditEntry::new(actor, "warning.publish_failed", "warning_draft", id)
                    .after(json!({ "reason": why })),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
