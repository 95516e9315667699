//! Appraisal and licensing: applications (dossiers) with their evidence,
//! checklist answers and reviewer assessments; decisions; authorisations
//! (licences) and their history. The rules live in `vigilo_core::appraisal`;
//! this module keeps them true in the database, one transaction per change,
//! each with its audit row.

use crate::audit::{append, AuditEntry};
use crate::directory::refresh_product_entry;
use crate::error::{invalid, not_found};
use crate::{new_id, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use vigilo_core::appraisal::{
    iso_date, licence_transition, product_licence_status, reference_number, transition, Actor,
    ApplicationCommand, ApplicationState, DecisionOutcome, LicenceBasis, LicenceCommand,
    LicenceConditions, Progress,
};
use vigilo_core::directory::LicenceStatus;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Application {
    pub id: String,
    pub reference: String,
    pub product_id: String,
    pub version_id: String,
    pub vendor_org_id: String,
    pub state: String,
    pub paused_from: Option<String>,
    pub outcome: Option<String>,
    /// JSON list of `framework@version`.
    pub frameworks: String,
    pub reviewer_id: Option<String>,
    pub decision_reasons: Option<String>,
    pub conditions_json: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub state_since: String,
    pub updated_at: String,
}

const APPLICATION_COLUMNS: &str = "id, reference, product_id, version_id, vendor_org_id, state, paused_from, outcome, frameworks, reviewer_id, decision_reasons, conditions_json, created_by, created_at, state_since, updated_at";

impl Application {
    pub fn progress(&self) -> Progress {
        Progress {
            state: self.state.parse().unwrap_or(ApplicationState::Withdrawn),
            paused_from: self.paused_from.as_deref().and_then(|s| s.parse().ok()),
            outcome: self.outcome.as_deref().and_then(|s| s.parse().ok()),
        }
    }

    /// The frameworks the dossier answers, as `(id, version)`.
    pub fn framework_list(&self) -> Vec<(String, u32)> {
        let list: Vec<String> = serde_json::from_str(&self.frameworks).unwrap_or_default();
        list.iter()
            .filter_map(|f| {
                let (id, v) = f.split_once('@')?;
                Some((id.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    pub fn conditions(&self) -> Option<LicenceConditions> {
        serde_json::from_str(self.conditions_json.as_deref()?).ok()
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApplicationEvent {
    pub seq: i64,
    pub application_id: String,
    pub at: String,
    pub actor_id: String,
    pub command: String,
    pub from_state: String,
    pub to_state: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApplicationDocument {
    pub id: String,
    pub application_id: String,
    pub sha256: String,
    pub filename: String,
    pub media_type: String,
    pub size: i64,
    pub item_ref: Option<String>,
    pub uploaded_by: String,
    pub uploaded_at: String,
}

const DOCUMENT_COLUMNS: &str =
    "id, application_id, sha256, filename, media_type, size, item_ref, uploaded_by, uploaded_at";

/// One checklist item's answer (vendor) or assessment (reviewer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ItemAnswer {
    pub framework: String,
    pub framework_version: i64,
    pub item_id: String,
    pub value: String,
    pub note: String,
}

/// A reviewer's assessment row, with who made it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Assessment {
    pub reviewer_id: String,
    pub framework: String,
    pub framework_version: i64,
    pub item_id: String,
    pub value: String,
    pub note: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Authorisation {
    pub id: String,
    pub reference: String,
    pub application_id: Option<String>,
    pub product_id: String,
    pub version_id: String,
    pub jurisdiction: String,
    pub status: String,
    pub basis: String,
    pub parent_id: Option<String>,
    pub outcome: String,
    pub conditions_json: String,
    pub granted_at: String,
    pub expires_on: String,
    pub updated_at: String,
}

const AUTHORISATION_COLUMNS: &str = "id, reference, application_id, product_id, version_id, jurisdiction, status, basis, parent_id, outcome, conditions_json, granted_at, expires_on, updated_at";

impl Authorisation {
    pub fn status(&self) -> LicenceStatus {
        self.status.parse().unwrap_or(LicenceStatus::Revoked)
    }
    pub fn conditions(&self) -> Option<LicenceConditions> {
        serde_json::from_str(&self.conditions_json).ok()
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuthorisationEvent {
    pub seq: i64,
    pub authorisation_id: String,
    pub at: String,
    pub actor_id: String,
    pub command: String,
    pub from_status: String,
    pub to_status: String,
    pub reason: String,
}

/// What a decision adds to the `decide` command.
#[derive(Debug, Clone)]
pub struct DecisionInput {
    pub outcome: DecisionOutcome,
    /// Required for an approval: where, how long, what to report.
    pub conditions: Option<LicenceConditions>,
}

/// Staff's list filters.
#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    pub state: Option<ApplicationState>,
    pub vendor_org_id: Option<String>,
    pub reviewer_id: Option<String>,
}

/// The year in a stored RFC 3339 time (reference numbers carry it).
pub(crate) fn year_of(now: &str) -> i32 {
    now.get(..4).and_then(|y| y.parse().ok()).unwrap_or(1970)
}

/// Takes the next number of a named counter inside the caller's transaction.
pub(crate) async fn next_counter(conn: &mut AnyConnection, name: &str) -> Result<i64, StoreError> {
    let updated: Option<(i64,)> =
        sqlx::query_as("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value")
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((v,)) = updated {
        return Ok(v);
    }
    sqlx::query("INSERT INTO counters (name, value) VALUES ($1, 1)")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(1)
}

/// A counter held through a batch in one transaction, as [`AuditCursor`](crate::audit::AuditCursor)
/// holds the audit head: locked and read once, advanced in memory, written back once. The
/// numbers handed out are those [`next_counter`] would give one call at a time.
pub(crate) struct CounterCursor {
    name: String,
    value: i64,
    stored: bool,
    moved: bool,
}

impl CounterCursor {
    pub(crate) async fn lock(conn: &mut AnyConnection, name: &str) -> Result<Self, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("UPDATE counters SET value = value WHERE name = $1 RETURNING value")
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(CounterCursor {
            name: name.to_string(),
            value: row.map_or(0, |r| r.0),
            stored: row.is_some(),
            moved: false,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The next number, not yet taken: [`CounterCursor::take`] it once it is used.
    pub(crate) fn peek(&self) -> i64 {
        self.value + 1
    }

    pub(crate) fn take(&mut self) {
        self.value += 1;
        self.moved = true;
    }

    pub(crate) async fn finish(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if !self.moved {
            return Ok(());
        }
        let sql = if self.stored {
            "UPDATE counters SET value = $2 WHERE name = $1"
        } else {
            "INSERT INTO counters (name, value) VALUES ($1, $2)"
        };
        sqlx::query(sql)
            .bind(&self.name)
            .bind(self.value)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

impl Store {
    // ---- applications ----

    /// Opens a dossier for a version of one of the vendor's own products. One
    /// open dossier per version at a time.
    pub async fn open_application(
        &self,
        actor: &str,
        vendor_org_id: &str,
        version_id: &str,
        frameworks: &[(String, u32)],
    ) -> Result<Application, StoreError> {
        let version = self
            .version(version_id)
            .await?
            .ok_or_else(|| not_found("version", version_id))?;
        let product = self
            .product(&version.product_id)
            .await?
            .ok_or_else(|| not_found("product", &version.product_id))?;
        if product.manufacturer_id != vendor_org_id {
            // Someone else's product looks like no product at all.
            return Err(not_found("version", version_id));
        }
        if version.status == "withdrawn" {
            return Err(invalid(
                "version",
                "this version is withdrawn; apply for a current version",
            ));
        }
        if frameworks.is_empty() {
            return Err(invalid(
                "frameworks",
                "a dossier needs at least one checklist",
            ));
        }
        let framework_json = serde_json::to_string(
            &frameworks
                .iter()
                .map(|(id, v)| format!("{id}@{v}"))
                .collect::<Vec<_>>(),
        )
        .map_err(|e| invalid("frameworks", e.to_string()))?;
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let open: Option<(String,)> = sqlx::query_as(
            "SELECT reference FROM applications WHERE version_id = $1 AND state NOT IN ('decided', 'withdrawn')",
        )
        .bind(version_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((reference,)) = open {
            return Err(StoreError::Conflict {
                what: "open application for this version",
                key: reference,
            });
        }
        let year = year_of(&now);
        let seq = next_counter(&mut tx, &format!("application-{year}")).await?;
        let id = new_id();
        let reference = reference_number("HS", year, seq);
        sqlx::query(
            "INSERT INTO applications (id, reference, product_id, version_id, vendor_org_id, state, frameworks, created_by, created_at, state_since, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $8, $8)",
        )
        .bind(&id)
        .bind(&reference)
        .bind(&product.id)
        .bind(version_id)
        .bind(vendor_org_id)
        .bind(&framework_json)
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        insert_event(&mut tx, &id, &now, actor, "open", "draft", "draft", "").await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "application.open", "application", &id).after(json!({
                "reference": reference, "version_id": version_id, "frameworks": frameworks
                    .iter().map(|(f, v)| format!("{f}@{v}")).collect::<Vec<_>>(),
            })),
        )
        .await?;
        tx.commit().await?;
        self.require_application(&id).await
    }

    pub async fn application(&self, id: &str) -> Result<Option<Application>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {APPLICATION_COLUMNS} FROM applications WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    async fn require_application(&self, id: &str) -> Result<Application, StoreError> {
        self.application(id)
            .await?
            .ok_or_else(|| not_found("application", id))
    }

    /// Applications, newest first, filtered. Bounded: a desk shows at most 500.
    pub async fn applications(
        &self,
        filter: &ApplicationFilter,
    ) -> Result<Vec<Application>, StoreError> {
        let mut sql = format!("SELECT {APPLICATION_COLUMNS} FROM applications WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(s) = filter.state {
            binds.push(s.code().into());
            sql.push_str(&format!(" AND state = ${}", binds.len()));
        }
        if let Some(o) = &filter.vendor_org_id {
            binds.push(o.clone());
            sql.push_str(&format!(" AND vendor_org_id = ${}", binds.len()));
        }
        if let Some(r) = &filter.reviewer_id {
            binds.push(r.clone());
            sql.push_str(&format!(" AND reviewer_id = ${}", binds.len()));
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT 500");
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            q = q.bind(b);
        }
        Ok(q.fetch_all(self.pool()).await?)
    }

    pub async fn application_events(
        &self,
        application_id: &str,
    ) -> Result<Vec<ApplicationEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, application_id, at, actor_id, command, from_state, to_state, reason \
             FROM application_events WHERE application_id = $1 ORDER BY seq",
        )
        .bind(application_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Moves an application by the state machine's rules. An approval creates the
    /// version's authorisation in the same transaction and updates the product's
    /// licence status in the directory.
    pub async fn transition_application(
        &self,
        actor_id: &str,
        actor: Actor,
        application_id: &str,
        cmd: ApplicationCommand,
        reason: &str,
        decision: Option<DecisionInput>,
    ) -> Result<Application, StoreError> {
        let before = self.require_application(application_id).await?;
        let outcome = decision.as_ref().map(|d| d.outcome);
        let next = transition(before.progress(), cmd, outcome, actor, reason)
            .map_err(|e| invalid("action", e.to_string()))?;
        if cmd == ApplicationCommand::Submit {
            let version = self
                .version(&before.version_id)
                .await?
                .ok_or_else(|| not_found("version", &before.version_id))?;
            if version.status != "published" {
                return Err(invalid(
                    "version",
                    "publish the version first: a submitted dossier must refer to a model card that can no longer change",
                ));
            }
        }
        let conditions = match (&decision, next.outcome) {
            (
                Some(d),
                Some(DecisionOutcome::Approved | DecisionOutcome::ApprovedWithConditions),
            ) => Some(d.conditions.clone().ok_or_else(|| {
                invalid(
                    "conditions",
                    "an approval needs its conditions: at least the expiry date",
                )
            })?),
            _ => None,
        };
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let conditions_json = match &conditions {
            Some(c) => {
                Some(serde_json::to_string(c).map_err(|e| invalid("conditions", e.to_string()))?)
            }
            None => before.conditions_json.clone(),
        };
        let decision_reasons = if cmd == ApplicationCommand::Decide {
            Some(reason.trim().to_string())
        } else {
            before.decision_reasons.clone()
        };
        let n = sqlx::query(
            "UPDATE applications SET state = $1, paused_from = $2, outcome = $3, decision_reasons = $4, conditions_json = $5, state_since = $6, updated_at = $6 \
             WHERE id = $7 AND state = $8",
        )
        .bind(next.state.code())
        .bind(next.paused_from.map(|s| s.code()))
        .bind(next.outcome.map(|o| o.code()))
        .bind(decision_reasons)
        .bind(conditions_json)
        .bind(&now)
        .bind(application_id)
        .bind(&before.state)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(invalid(
                "action",
                "the application changed meanwhile; reload and try again",
            ));
        }
        insert_event(
            &mut tx,
            application_id,
            &now,
            actor_id,
            cmd.code(),
            &before.state,
            next.state.code(),
            reason.trim(),
        )
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(
                actor_id,
                &format!("application.{}", cmd.code()),
                "application",
                application_id,
            )
            .before(json!({"state": before.state}))
            .after(json!({"state": next.state.code(), "outcome": next.outcome.map(|o| o.code()), "reason": reason.trim()})),
        )
        .await?;
        if let (Some(conditions), Some(outcome)) = (conditions, next.outcome) {
            grant(
                &mut tx,
                &now,
                actor_id,
                Grant {
                    application_id: Some(application_id),
                    product_id: &before.product_id,
                    version_id: &before.version_id,
                    basis: LicenceBasis::Decision,
                    parent_id: None,
                    outcome,
                    conditions: &conditions,
                    reason: reason.trim(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        self.require_application(application_id).await
    }

    /// Assigns the reviewer who leads the appraisal.
    pub async fn assign_reviewer(
        &self,
        actor: &str,
        application_id: &str,
        reviewer_id: &str,
    ) -> Result<Application, StoreError> {
        let before = self.require_application(application_id).await?;
        if before.progress().is_final() {
            return Err(invalid("reviewer", "the application is closed"));
        }
        let role: Option<(String, i64)> =
            sqlx::query_as("SELECT role, disabled FROM users WHERE id = $1")
                .bind(reviewer_id)
                .fetch_optional(self.pool())
                .await?;
        match role {
            Some((r, 0)) if r == "reviewer" || r == "admin" => {}
            Some(_) => {
                return Err(invalid(
                    "reviewer",
                    "only an active reviewer or administrator can be assigned",
                ))
            }
            None => return Err(not_found("user", reviewer_id)),
        }
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE applications SET reviewer_id = $1, updated_at = $2 WHERE id = $3")
            .bind(reviewer_id)
            .bind(&now)
            .bind(application_id)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "application.assign", "application", application_id)
                .before(json!({"reviewer_id": before.reviewer_id}))
                .after(json!({"reviewer_id": reviewer_id})),
        )
        .await?;
        tx.commit().await?;
        self.require_application(application_id).await
    }

    /// The vendor may change the dossier only while it is theirs to edit.
    fn require_vendor_editable(app: &Application) -> Result<(), StoreError> {
        match app.progress().state {
            ApplicationState::Draft | ApplicationState::InformationRequested => Ok(()),
            _ => Err(invalid(
                "application",
                "the dossier can be changed only as a draft or when the regulator asked for information",
            )),
        }
    }

    /// Stores an evidence file (content-addressed: the same bytes once) and
    /// attaches it to the dossier. The caller has checked type and size.
    pub async fn add_document(
        &self,
        actor: &str,
        application_id: &str,
        filename: &str,
        media_type: &str,
        bytes: &[u8],
        item_ref: Option<&str>,
    ) -> Result<ApplicationDocument, StoreError> {
        let app = self.require_application(application_id).await?;
        Self::require_vendor_editable(&app)?;
        let sha = hex::encode(Sha256::digest(bytes));
        let now = self.now_text();
        let id = new_id();
        let mut tx = self.begin_write().await?;
        crate::sandbox::store_blob(&mut tx, &now, media_type, bytes).await?;
        sqlx::query(
            "INSERT INTO application_documents (id, application_id, sha256, filename, media_type, size, item_ref, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(application_id)
        .bind(&sha)
        .bind(filename)
        .bind(media_type)
        .bind(bytes.len() as i64)
        .bind(item_ref)
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "application.document", "application", application_id)
                .after(json!({"document_id": id, "sha256": sha, "filename": filename, "size": bytes.len(), "item": item_ref})),
        )
        .await?;
        tx.commit().await?;
        self.documents(application_id)
            .await?
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| not_found("document", &id))
    }

    pub async fn documents(
        &self,
        application_id: &str,
    ) -> Result<Vec<ApplicationDocument>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {DOCUMENT_COLUMNS} FROM application_documents WHERE application_id = $1 ORDER BY uploaded_at, id"
        ))
        .bind(application_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// A document's metadata and bytes, if it belongs to that application.
    pub async fn document_content(
        &self,
        application_id: &str,
        document_id: &str,
    ) -> Result<Option<(ApplicationDocument, Vec<u8>)>, StoreError> {
        let meta: Option<ApplicationDocument> = sqlx::query_as(sqlf!(
            "SELECT {DOCUMENT_COLUMNS} FROM application_documents WHERE application_id = $1 AND id = $2"
        ))
        .bind(application_id)
        .bind(document_id)
        .fetch_optional(self.pool())
        .await?;
        let Some(meta) = meta else { return Ok(None) };
        let content: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT content FROM documents WHERE sha256 = $1")
                .bind(&meta.sha256)
                .fetch_optional(self.pool())
                .await?;
        Ok(content.map(|(bytes,)| (meta, bytes)))
    }

    /// Saves the vendor's checklist answers (upsert per item). The caller has
    /// validated them against the framework files.
    pub async fn save_answers(
        &self,
        actor: &str,
        application_id: &str,
        answers: &[ItemAnswer],
    ) -> Result<(), StoreError> {
        let app = self.require_application(application_id).await?;
        Self::require_vendor_editable(&app)?;
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        for a in answers {
            sqlx::query(
                "DELETE FROM checklist_answers WHERE application_id = $1 AND framework = $2 AND framework_version = $3 AND item_id = $4",
            )
            .bind(application_id)
            .bind(&a.framework)
            .bind(a.framework_version)
            .bind(&a.item_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO checklist_answers (application_id, framework, framework_version, item_id, value, note, updated_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(application_id)
            .bind(&a.framework)
            .bind(a.framework_version)
            .bind(&a.item_id)
            .bind(&a.value)
            .bind(&a.note)
            .bind(actor)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "application.answers", "application", application_id)
                .after(json!({"items": answers.len()})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn answers(&self, application_id: &str) -> Result<Vec<ItemAnswer>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT framework, framework_version, item_id, value, note FROM checklist_answers \
             WHERE application_id = $1 ORDER BY framework, framework_version, item_id",
        )
        .bind(application_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Saves one reviewer's assessments, allowed while the regulator holds the file.
    pub async fn save_assessments(
        &self,
        actor: &str,
        reviewer_id: &str,
        application_id: &str,
        rows: &[ItemAnswer],
    ) -> Result<(), StoreError> {
        let app = self.require_application(application_id).await?;
        if !matches!(
            app.progress().state,
            ApplicationState::Screening | ApplicationState::UnderReview | ApplicationState::Sandbox
        ) {
            return Err(invalid(
                "application",
                "assessments are recorded during screening, review or the sandbox",
            ));
        }
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        for a in rows {
            sqlx::query(
                "DELETE FROM review_assessments WHERE application_id = $1 AND reviewer_id = $2 AND framework = $3 AND framework_version = $4 AND item_id = $5",
            )
            .bind(application_id)
            .bind(reviewer_id)
            .bind(&a.framework)
            .bind(a.framework_version)
            .bind(&a.item_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO review_assessments (application_id, reviewer_id, framework, framework_version, item_id, value, note, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(application_id)
            .bind(reviewer_id)
            .bind(&a.framework)
            .bind(a.framework_version)
            .bind(&a.item_id)
            .bind(&a.value)
            .bind(&a.note)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "application.assess", "application", application_id)
                .after(json!({"items": rows.len()})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn assessments(&self, application_id: &str) -> Result<Vec<Assessment>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT reviewer_id, framework, framework_version, item_id, value, note, updated_at FROM review_assessments \
             WHERE application_id = $1 ORDER BY reviewer_id, framework, framework_version, item_id",
        )
        .bind(application_id)
        .fetch_all(self.pool())
        .await?)
    }

    // ---- authorisations ----

    pub async fn authorisation(&self, id: &str) -> Result<Option<Authorisation>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {AUTHORISATION_COLUMNS} FROM authorisations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// A product's licences, newest first.
    pub async fn authorisations_of_product(
        &self,
        product_id: &str,
    ) -> Result<Vec<Authorisation>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {AUTHORISATION_COLUMNS} FROM authorisations WHERE product_id = $1 ORDER BY granted_at DESC, id DESC"
        ))
        .bind(product_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every licence, newest first (the administrator's register), bounded.
    pub async fn all_authorisations(&self) -> Result<Vec<Authorisation>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {AUTHORISATION_COLUMNS} FROM authorisations ORDER BY granted_at DESC, id DESC LIMIT 1000"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn authorisation_events(
        &self,
        authorisation_id: &str,
    ) -> Result<Vec<AuthorisationEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, authorisation_id, at, actor_id, command, from_status, to_status, reason \
             FROM authorisation_events WHERE authorisation_id = $1 ORDER BY seq",
        )
        .bind(authorisation_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Suspends, reinstates, revokes or expires a licence, and updates the
    /// product's status in the directory.
    pub async fn change_licence(
        &self,
        actor: &str,
        authorisation_id: &str,
        cmd: LicenceCommand,
        reason: &str,
    ) -> Result<Authorisation, StoreError> {
        let before = self
            .authorisation(authorisation_id)
            .await?
            .ok_or_else(|| not_found("licence", authorisation_id))?;
        let expires_on = iso_date::parse(&before.expires_on)
            .map_err(|e| invalid("expires_on", e.to_string()))?;
        let today = self.now().date();
        let to = licence_transition(before.status(), cmd, expires_on, today, reason)
            .map_err(|e| invalid("action", e.to_string()))?;
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        set_licence_status(&mut tx, &now, actor, &before, cmd, to, reason.trim()).await?;
        tx.commit().await?;
        self.authorisation(authorisation_id)
            .await?
            .ok_or_else(|| not_found("licence", authorisation_id))
    }

    /// Expires every active or suspended licence whose date has come (the
    /// background job). Returns the references expired.
    pub async fn expire_due_licences(&self, actor: &str) -> Result<Vec<String>, StoreError> {
        let today = iso_date::format(self.now().date());
        let due: Vec<Authorisation> = sqlx::query_as(sqlf!(
            "SELECT {AUTHORISATION_COLUMNS} FROM authorisations WHERE status IN ('active', 'suspended') AND expires_on <= $1 ORDER BY expires_on, id"
        ))
        .bind(&today)
        .fetch_all(self.pool())
        .await?;
        let mut expired = Vec::new();
        for a in due {
            match self
                .change_licence(actor, &a.id, LicenceCommand::Expire, "")
                .await
            {
                Ok(_) => expired.push(a.reference),
                // Another process expired or changed it meanwhile: nothing to do.
                Err(StoreError::Invalid { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    /// Extends a licence to a new version of the same product that the reviewer
    /// finds inside the approved change-control plan: same conditions, same
    /// expiry, basis recorded.
    pub async fn extend_licence_to_version(
        &self,
        actor: &str,
        authorisation_id: &str,
        version_id: &str,
        reason: &str,
    ) -> Result<Authorisation, StoreError> {
        let parent = self
            .authorisation(authorisation_id)
            .await?
            .ok_or_else(|| not_found("licence", authorisation_id))?;
        if parent.status() != LicenceStatus::Active {
            return Err(invalid(
                "licence",
                "only an active licence can cover a new version",
            ));
        }
        let version = self
            .version(version_id)
            .await?
            .ok_or_else(|| not_found("version", version_id))?;
        if version.product_id != parent.product_id {
            return Err(invalid("version", "the version belongs to another product"));
        }
        if version.id == parent.version_id {
            return Err(invalid(
                "version",
                "the licence already covers this version",
            ));
        }
        if reason.trim().is_empty() {
            return Err(invalid(
                "reason",
                "say why the change falls inside the approved change-control plan",
            ));
        }
        let conditions = parent
            .conditions()
            .ok_or_else(|| invalid("conditions", "the licence's conditions cannot be read"))?;
        let outcome: DecisionOutcome = parent
            .outcome
            .parse()
            .map_err(|_| invalid("outcome", "the licence's outcome cannot be read"))?;
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let covered: Option<(String,)> = sqlx::query_as(
            "SELECT reference FROM authorisations WHERE version_id = $1 AND status IN ('active', 'suspended')",
        )
        .bind(version_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((reference,)) = covered {
            return Err(StoreError::Conflict {
                what: "licence for this version",
                key: reference,
            });
        }
        let id = grant(
            &mut tx,
            &now,
            actor,
            Grant {
                application_id: parent.application_id.as_deref(),
                product_id: &parent.product_id,
                version_id,
                basis: LicenceBasis::ChangeControl,
                parent_id: Some(&parent.id),
                outcome,
                conditions: &conditions,
                reason: reason.trim(),
            },
        )
        .await?;
        tx.commit().await?;
        self.authorisation(&id)
            .await?
            .ok_or_else(|| not_found("licence", &id))
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert_event(
    conn: &mut AnyConnection,
    application_id: &str,
    at: &str,
    actor: &str,
    command: &str,
    from: &str,
    to: &str,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO application_events (application_id, at, actor_id, command, from_state, to_state, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(application_id)
    .bind(at)
    .bind(actor)
    .bind(command)
    .bind(from)
    .bind(to)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

struct Grant<'a> {
    application_id: Option<&'a str>,
    product_id: &'a str,
    version_id: &'a str,
    basis: LicenceBasis,
    parent_id: Option<&'a str>,
    outcome: DecisionOutcome,
    conditions: &'a LicenceConditions,
    /// Kept in the licence's history as the grant's reason.
    reason: &'a str,
}

/// Creates an active licence inside the caller's transaction.
async fn grant(
    conn: &mut AnyConnection,
    now: &str,
    actor: &str,
    g: Grant<'_>,
) -> Result<String, StoreError> {
    let year = year_of(now);
    let seq = next_counter(conn, &format!("licence-{year}")).await?;
    let reference = reference_number("GP", year, seq);
    let id = new_id();
    let conditions_json =
        serde_json::to_string(g.conditions).map_err(|e| invalid("conditions", e.to_string()))?;
    let expires_on = iso_date::format(g.conditions.expires_on);
    sqlx::query(
        "INSERT INTO authorisations (id, reference, application_id, product_id, version_id, jurisdiction, status, basis, parent_id, outcome, conditions_json, granted_at, expires_on, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'VN', 'active', $6, $7, $8, $9, $10, $11, $10)",
    )
    .bind(&id)
    .bind(&reference)
    .bind(g.application_id)
    .bind(g.product_id)
    .bind(g.version_id)
    .bind(g.basis.code())
    .bind(g.parent_id)
    .bind(g.outcome.code())
    .bind(&conditions_json)
    .bind(now)
    .bind(&expires_on)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO authorisation_events (authorisation_id, at, actor_id, command, from_status, to_status, reason) VALUES ($1, $2, $3, 'grant', 'not_licensed', 'active', $4)",
    )
    .bind(&id)
    .bind(now)
    .bind(actor)
    .bind(g.reason)
    .execute(&mut *conn)
    .await?;
    append(
        conn,
        now,
        &AuditEntry::new(actor, "licence.grant", "authorisation", &id).after(json!({
            "reference": reference, "version_id": g.version_id, "basis": g.basis.code(),
            "parent_id": g.parent_id, "outcome": g.outcome.code(), "conditions": g.conditions,
        })),
    )
    .await?;
    refresh_licence_status(conn, now, g.product_id).await?;
    Ok(id)
}

pub(crate) async fn set_licence_status(
    conn: &mut AnyConnection,
    now: &str,
    actor: &str,
    before: &Authorisation,
    cmd: LicenceCommand,
    to: LicenceStatus,
    reason: &str,
) -> Result<(), StoreError> {
    let n = sqlx::query(
        "UPDATE authorisations SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
    )
    .bind(to.code())
    .bind(now)
    .bind(&before.id)
    .bind(&before.status)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n != 1 {
        return Err(invalid(
            "action",
            "the licence changed meanwhile; reload and try again",
        ));
    }
    sqlx::query(
        "INSERT INTO authorisation_events (authorisation_id, at, actor_id, command, from_status, to_status, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&before.id)
    .bind(now)
    .bind(actor)
    .bind(cmd.code())
    .bind(&before.status)
    .bind(to.code())
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    append(
        conn,
        now,
        &AuditEntry::new(
            actor,
            &format!("licence.{}", cmd.code()),
            "authorisation",
            &before.id,
        )
        .before(json!({"status": before.status}))
        .after(json!({"status": to.code(), "reason": reason})),
    )
    .await?;
    refresh_licence_status(conn, now, &before.product_id).await
}

/// Recomputes the product's licence status from its licences and refreshes its
/// directory entry when it changed.
async fn refresh_licence_status(
    conn: &mut AnyConnection,
    now: &str,
    product_id: &str,
) -> Result<(), StoreError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT status FROM authorisations WHERE product_id = $1")
            .bind(product_id)
            .fetch_all(&mut *conn)
            .await?;
    let statuses: Vec<LicenceStatus> = rows.iter().filter_map(|(s,)| s.parse().ok()).collect();
    let status = product_licence_status(&statuses);
    let n = sqlx::query(
        "UPDATE products SET licence_status = $1, updated_at = $2 WHERE id = $3 AND licence_status <> $1",
    )
    .bind(status.code())
    .bind(now)
    .bind(product_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n > 0 {
        refresh_product_entry(conn, now, product_id, "licence_changed").await?;
    }
    Ok(())
}
