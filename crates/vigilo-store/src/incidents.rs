//! Early warning: incident reports in, triage, codes, the conversation with the
//! manufacturer, and the IMDRF terminology.
//!
//! Every narrative goes through `vigilo_core::scrub` here, inside the store, so no path
//! into the database (form, API, FHIR, importers, demo) can skip de-identification.

use crate::appraisal::{next_counter, year_of};
use crate::audit::{append, AuditEntry};
use crate::error::{invalid, not_found};
use crate::{new_id, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use time::Date;
use vigilo_core::appraisal::iso_date;
use vigilo_core::incident::{
    receipt_number, transition, Causality, IncidentCommand, IncidentInput, IncidentSource,
    IncidentState, ReportingClock,
};
use vigilo_core::incident_quality::{completeness, ReportFacts};
use vigilo_core::public_reports::PublicReport;
use vigilo_core::scrub::scrub;

/// A stored report. The narrative is the de-identified text; `redactions_json` counts
/// what was removed by kind (never the removed text).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Incident {
    pub id: String,
    pub receipt: String,
    pub source: String,
    pub external_id: Option<String>,
    pub reporter_kind: String,
    pub reporter_org_id: Option<String>,
    pub product_id: Option<String>,
    pub version_id: Option<String>,
    pub product_text: Option<String>,
    pub foreign_reference_id: Option<String>,
    pub manufacturer_text: Option<String>,
    pub deployment_id: Option<String>,
    pub facility_id: Option<String>,
    pub province_code: Option<String>,
    pub unit_code: Option<String>,
    pub country: String,
    pub occurred_on: Option<String>,
    pub aware_on: Option<String>,
    pub received_at: String,
    pub received_on: String,
    pub seriousness: String,
    pub public_health_threat: i64,
    pub narrative: String,
    pub redactions_json: String,
    pub patient_sex: Option<String>,
    pub patient_age_band: Option<String>,
    pub state: String,
    pub deadline: String,
    pub causality: Option<String>,
    pub duplicate_of: Option<String>,
    pub completeness: f64,
    pub updated_at: String,
}

const INCIDENT_COLUMNS: &str = "id, receipt, source, external_id, reporter_kind, reporter_org_id, product_id, version_id, product_text, foreign_reference_id, manufacturer_text, deployment_id, facility_id, province_code, unit_code, country, occurred_on, aware_on, received_at, received_on, seriousness, public_health_threat, narrative, redactions_json, patient_sex, patient_age_band, state, deadline, causality, duplicate_of, completeness, updated_at";

/// A report with the names a reviewer reads beside the ids.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct IncidentView {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub incident: Incident,
    pub product_name: Option<String>,
    pub manufacturer_id: Option<String>,
    pub version: Option<String>,
    pub facility_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct IncidentCode {
    pub code: String,
    pub system: String,
    pub assigned_by: String,
    pub assigned_at: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct IncidentEvent {
    pub at: String,
    pub actor_id: String,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct IncidentMessage {
    pub id: String,
    pub at: String,
    pub author_id: String,
    pub author_role: String,
    pub body: String,
}

/// Filters of the public per-report list.
#[derive(Debug, Clone, Default)]
pub struct PublicIncidentFilter {
    pub product_id: Option<String>,
    pub seriousness: Option<String>,
    pub code: Option<String>,
    pub province_code: Option<String>,
    /// Keyset cursor: `received_at` and `id` of the last row of the previous page.
    pub before: Option<(String, String)>,
    pub limit: u32,
}

/// A report as the public list shows it: no narrative, no facility, no patient detail,
/// the event's month rather than its day.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PublicIncidentRow {
    pub id: String,
    pub receipt: String,
    pub product_id: String,
    pub product_name: String,
    pub version: Option<String>,
    pub province_code: Option<String>,
    pub month: String,
    pub seriousness: String,
    pub state: String,
    pub reporter_kind: String,
    pub received_at: String,
}

/// What an import of public reports did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublicImport {
    pub created: u64,
    /// Already imported before (same source and id): left as they were.
    pub already: u64,
    /// Linked to an entry of the FDA list by submission number.
    pub linked: u64,
}

/// The second dimension of the public counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountBy {
    Seriousness,
    Code,
    Province,
    Month,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CountCell {
    pub product_id: String,
    pub product_name: String,
    pub key: String,
    pub n: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProductChoice {
    pub id: String,
    pub name: String,
    pub manufacturer: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ImdrfTermRow {
    pub code: String,
    pub annex: String,
    pub term: String,
    pub definition: String,
    pub parent: Option<String>,
    pub level: i64,
}

/// Who sent a report, when they are known to Vigilo.
#[derive(Debug, Clone, Default)]
pub struct ReporterAccount<'a> {
    pub user_id: Option<&'a str>,
    pub org_id: Option<&'a str>,
}

/// A report arriving by the form, the API or FHIR.
#[derive(Debug, Clone)]
pub struct NewIncident<'a> {
    pub input: &'a IncidentInput,
    pub source: IncidentSource,
    pub reporter: ReporterAccount<'a>,
    /// The client's own key for this report (an offline draft's id): a resend with the
    /// same key answers the first receipt instead of filing the report twice.
    pub client_key: Option<&'a str>,
}

/// What the store did with a submitted report.
#[derive(Debug, Clone, Serialize)]
pub struct Submission {
    pub incident: Incident,
    /// False when the client key had been seen: the earlier report is answered.
    pub created: bool,
}

/// Filters for the reviewer's and the manufacturer's lists. Newest first, by keyset.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub state: Option<IncidentState>,
    pub seriousness: Option<String>,
    pub product_id: Option<String>,
    pub source: Option<String>,
    /// Only reports still waiting for triage after their deadline (as of this date).
    pub overdue_on: Option<Date>,
    /// Only reports about this manufacturer's products (a vendor's own view).
    pub manufacturer_id: Option<String>,
    /// Keyset cursor: `received_at` and `id` of the last row of the previous page.
    pub before: Option<(String, String)>,
    pub limit: u32,
}

/// Limits a client-chosen key to something that cannot carry a narrative.
const MAX_CLIENT_KEY: usize = 64;

fn check_client_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty()
        || key.len() > MAX_CLIENT_KEY
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(
            "client_key",
            "use 1 to 64 letters, digits, '-' or '_' (a UUID is fine)",
        ));
    }
    Ok(())
}

/// Counts of removed identifiers by kind, for the reviewer (never the text removed).
fn redaction_counts(findings: &[vigilo_core::scrub::Finding]) -> BTreeMap<&'static str, u32> {
    let mut counts = BTreeMap::new();
    for f in findings {
        *counts.entry(f.kind.code()).or_insert(0) += 1;
    }
    counts
}

impl Store {
    /// Files a report: checks it, de-identifies the narrative, attributes it to a
    /// deployment (and so a version) when the facility runs the product, sets the triage
    /// deadline and gives it a receipt number. One transaction with its audit row.
    pub async fn submit_incident(
        &self,
        new: &NewIncident<'_>,
        clock: &ReportingClock,
    ) -> Result<Submission, StoreError> {
        self.submit_incident_received(new, clock, self.now()).await
    }

    /// As [`Store::submit_incident`] for a report received at a given time in the past (the
    /// demo's simulated pilot, a migration from another system). A time after now is refused.
    pub async fn submit_incident_received(
        &self,
        new: &NewIncident<'_>,
        clock: &ReportingClock,
        received: time::OffsetDateTime,
    ) -> Result<Submission, StoreError> {
        if received > self.now() {
            return Err(invalid(
                "received_at",
                "a report cannot be received in the future",
            ));
        }
        let input = new.input;
        let now = received;
        let today = now.date();
        if let Some(first) = input.check(today).into_iter().next() {
            return Err(StoreError::Invalid {
                field: "incident",
                reason: format!("{}: {}", first.field, first.code),
            });
        }
        if let Some(key) = new.client_key {
            check_client_key(key)?;
            if let Some(existing) = self.incident_by_client_key(key).await? {
                return Ok(Submission {
                    incident: existing,
                    created: false,
                });
            }
        }
        let place = self.resolve_place(input).await?;
        let scrubbed = scrub(&input.narrative);
        let product_text = input
            .product_text
            .as_deref()
            .map(|t| scrub(t.trim()).text)
            .filter(|t| !t.is_empty());
        let received_at = crate::format_time(now);
        let received_on = iso_date::format(today);
        let deadline = clock.deadline(today, input.seriousness, input.public_health_threat);
        let facts = ReportFacts {
            id: String::new(),
            product_id: input.product_id.clone(),
            version_id: place.version_id.clone(),
            product_text: product_text.clone(),
            facility_id: input.facility_id.clone(),
            province_code: place.province_code.clone(),
            occurred_on: input.occurred_on,
            aware_on: input.aware_on,
            received_on: today,
            seriousness: input.seriousness,
            // Seriousness is required at intake, so the outcome is always stated.
            outcome_known: true,
            reporter_kind: Some(input.reporter_kind),
            narrative: scrubbed.text.clone(),
            patient_sex: input.patient_sex,
            patient_age_band: input.patient_age_band,
            codes: Vec::new(),
        };
        let score = completeness(&facts).score;
        let incident = Incident {
            id: new_id(),
            // Numbered inside the writing transaction, in commit order.
            receipt: String::new(),
            source: new.source.code().into(),
            external_id: None,
            reporter_kind: input.reporter_kind.code().into(),
            reporter_org_id: new.reporter.org_id.map(Into::into),
            product_id: input.product_id.clone(),
            version_id: place.version_id,
            product_text,
            foreign_reference_id: None,
            manufacturer_text: None,
            deployment_id: place.deployment_id,
            facility_id: input.facility_id.clone(),
            province_code: place.province_code,
            unit_code: place.unit_code,
            country: "VN".into(),
            occurred_on: input.occurred_on.map(iso_date::format),
            aware_on: Some(iso_date::format(input.aware_on.unwrap_or(today))),
            received_at: received_at.clone(),
            received_on,
            seriousness: input.seriousness.code().into(),
            public_health_threat: i64::from(input.public_health_threat),
            narrative: scrubbed.text,
            redactions_json: serde_json::to_string(&redaction_counts(&scrubbed.findings))
                .unwrap_or_else(|_| "{}".into()),
            patient_sex: input.patient_sex.map(|s| s.code().into()),
            patient_age_band: input.patient_age_band.map(|a| a.code().into()),
            state: IncidentState::Received.code().into(),
            deadline: iso_date::format(deadline),
            causality: None,
            duplicate_of: None,
            completeness: score,
            updated_at: received_at,
        };
        let written = match self
            .incident_writer
            .submit(
                self.pool(),
                self.backend,
                incident,
                new.client_key,
                new.reporter.user_id,
            )
            .await
        {
            Ok(result) => result,
            Err(mut incident) => {
                let mut tx = self.begin_write().await?;
                let written = write_new_incident(
                    &mut tx,
                    &mut incident,
                    new.client_key,
                    new.reporter.user_id,
                )
                .await;
                match written {
                    Ok(()) => tx.commit().await.map(|()| incident).map_err(Into::into),
                    Err(e) => Err(e),
                }
            }
        };
        let incident = match written {
            Ok(incident) => incident,
            Err(e) => {
                // Two resends of one offline draft racing each other: answer the first.
                if let (Some(key), StoreError::Conflict { .. }) = (new.client_key, &e) {
                    if let Some(existing) = self.incident_by_client_key(key).await? {
                        return Ok(Submission {
                            incident: existing,
                            created: false,
                        });
                    }
                }
                return Err(e);
            }
        };
        Ok(Submission {
            incident,
            created: true,
        })
    }

    /// Checks the product, version, facility and province a report names, and finds the
    /// deployment it happened under.
    async fn resolve_place(&self, input: &IncidentInput) -> Result<Place, StoreError> {
        let mut place = Place::default();
        if let Some(pid) = &input.product_id {
            self.product(pid)
                .await?
                .ok_or_else(|| not_found("product", pid))?;
        }
        if let Some(vid) = &input.version_id {
            let v = self
                .version(vid)
                .await?
                .ok_or_else(|| not_found("version", vid))?;
            if Some(&v.product_id) != input.product_id.as_ref() {
                return Err(invalid("version", "the version belongs to another product"));
            }
            place.version_id = Some(v.id);
        }
        if let Some(fid) = &input.facility_id {
            let facility = crate::monitoring::load_facility(self, fid).await?;
            place.province_code = Some(facility.province_code);
            place.unit_code = Some(facility.unit_code);
            if let Some(pid) = &input.product_id {
                let (deployment, version) = self
                    .attribute_deployment(fid, pid, place.version_id.as_deref(), input.occurred_on)
                    .await?;
                place.deployment_id = deployment;
                if place.version_id.is_none() {
                    place.version_id = version;
                }
            }
        } else if let Some(code) = &input.province_code {
            let unit = self
                .admin_unit(code.trim())
                .await?
                .ok_or_else(|| not_found("province", code))?;
            if unit.level != "province" {
                return Err(invalid(
                    "province",
                    format!("{} is not a province", unit.name),
                ));
            }
            place.province_code = Some(unit.code);
        }
        Ok(place)
    }

    /// The deployment of a product at a facility that was live on the event date (or the
    /// latest one when the date is unknown). Its version is the one the report is about
    /// when the reporter could not tell: site-level attribution to a model version.
    async fn attribute_deployment(
        &self,
        facility_id: &str,
        product_id: &str,
        version_id: Option<&str>,
        occurred_on: Option<Date>,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        let on = occurred_on.map(iso_date::format);
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT id, version_id FROM deployments \
             WHERE facility_id = $1 AND product_id = $2 AND ($3 IS NULL OR version_id = $3) \
               AND status <> 'planned' \
               AND ($4 IS NULL OR (go_live <= $4 AND (end_date IS NULL OR end_date >= $4))) \
             ORDER BY go_live DESC, id DESC LIMIT 1",
        )
        .bind(facility_id)
        .bind(product_id)
        .bind(version_id)
        .bind(on)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some((d, v)) => (Some(d), Some(v)),
            None => (None, None),
        })
    }

    async fn incident_by_client_key(&self, key: &str) -> Result<Option<Incident>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE client_key = $1"
        ))
        .bind(key)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn incident(&self, id: &str) -> Result<Option<IncidentView>, StoreError> {
        Ok(
            sqlx::query_as(sqlf!("SELECT {VIEW_COLUMNS} {VIEW_FROM} WHERE i.id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    pub async fn incident_by_receipt(
        &self,
        receipt: &str,
    ) -> Result<Option<IncidentView>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {VIEW_COLUMNS} {VIEW_FROM} WHERE i.receipt = $1"
        ))
        .bind(receipt.trim())
        .fetch_optional(self.pool())
        .await?)
    }

    /// Reports newest first, one page; `limit` is capped at 500.
    pub async fn incidents(&self, f: &IncidentFilter) -> Result<Vec<IncidentView>, StoreError> {
        let limit = i64::from(f.limit.clamp(1, 500));
        let (before_at, before_id) = f.before.clone().unzip();
        Ok(sqlx::query_as(sqlf!(
            "SELECT {VIEW_COLUMNS} {VIEW_FROM} \
             WHERE ($1 IS NULL OR i.state = $1) AND ($2 IS NULL OR i.seriousness = $2) \
               AND ($3 IS NULL OR i.product_id = $3) AND ($4 IS NULL OR i.source = $4) \
               AND ($5 IS NULL OR (i.state = 'received' AND i.deadline < $5)) \
               AND ($6 IS NULL OR p.manufacturer_id = $6) \
               AND ($7 IS NULL OR i.received_at < $7 OR (i.received_at = $7 AND i.id < $8)) \
             ORDER BY i.received_at DESC, i.id DESC LIMIT {limit}"
        ))
        .bind(f.state.map(|s| s.code()))
        .bind(f.seriousness.as_deref())
        .bind(f.product_id.as_deref())
        .bind(f.source.as_deref())
        .bind(f.overdue_on.map(iso_date::format))
        .bind(f.manufacturer_id.as_deref())
        .bind(before_at)
        .bind(before_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Moves a report through triage. Closing needs a causality assessment; every step
    /// needs a reason and is kept in the report's history and the audit chain.
    pub async fn incident_transition(
        &self,
        actor: &str,
        id: &str,
        command: IncidentCommand,
        reason: &str,
        causality: Option<Causality>,
    ) -> Result<Incident, StoreError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(invalid("reason", "give a reason for this step"));
        }
        if command == IncidentCommand::Close && causality.is_none() {
            return Err(invalid(
                "causality",
                "closing a report needs a causality assessment",
            ));
        }
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let current: Option<(String,)> =
            sqlx::query_as("SELECT state FROM incidents WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let (state,) = current.ok_or_else(|| not_found("incident", id))?;
        let from: IncidentState = state
            .parse()
            .map_err(|e: vigilo_core::directory::UnknownCode| invalid("state", e.to_string()))?;
        let to = transition(from, command).map_err(|e| StoreError::Conflict {
            what: "incident state",
            key: e.to_string(),
        })?;
        let causality_code = if command == IncidentCommand::Close {
            causality.map(|c| c.code())
        } else {
            None
        };
        // Compare-and-set on the state read above: a concurrent step makes this one fail.
        let changed = sqlx::query(
            "UPDATE incidents SET state = $1, causality = CASE WHEN $2 IS NULL THEN causality ELSE $2 END, updated_at = $3 WHERE id = $4 AND state = $5",
        )
        .bind(to.code())
        .bind(causality_code)
        .bind(&now)
        .bind(id)
        .bind(from.code())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(StoreError::Conflict {
                what: "incident state",
                key: "changed by someone else; reload".into(),
            });
        }
        insert_event(
            &mut tx,
            id,
            &now,
            actor,
            command.code(),
            from.code(),
            to.code(),
            reason,
        )
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(
                actor,
                &format!("incident.{}", command.code()),
                "incident",
                id,
            )
            .before(json!({"state": from.code()}))
            .after(json!({"state": to.code(), "causality": causality_code, "reason": reason})),
        )
        .await?;
        tx.commit().await?;
        self.incident(id)
            .await?
            .map(|v| v.incident)
            .ok_or_else(|| not_found("incident", id))
    }

    pub async fn incident_events(&self, id: &str) -> Result<Vec<IncidentEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT at, actor_id, action, from_state, to_state, reason FROM incident_events WHERE incident_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn incident_codes(&self, id: &str) -> Result<Vec<IncidentCode>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT code, system, assigned_by, assigned_at FROM incident_codes WHERE incident_id = $1 ORDER BY system DESC, code",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Replaces a report's codes. IMDRF codes must be in the loaded terminology and AI
    /// codes in Vigilo's list; the old and new sets go to the audit chain.
    pub async fn set_incident_codes(
        &self,
        actor: &str,
        id: &str,
        codes: &[String],
    ) -> Result<Vec<IncidentCode>, StoreError> {
        let ai = vigilo_core::codes::ai_codes();
        let mut wanted: Vec<(String, &'static str)> = Vec::new();
        for raw in codes {
            let code = raw.trim().to_ascii_uppercase();
            if code.is_empty() || wanted.iter().any(|(c, _)| *c == code) {
                continue;
            }
            let system = if ai.iter().any(|a| a.code == code) {
                "ai"
            } else {
                let known: Option<(String,)> =
                    sqlx::query_as("SELECT code FROM imdrf_terms WHERE code = $1")
                        .bind(&code)
                        .fetch_optional(self.pool())
                        .await?;
                if known.is_none() {
                    return Err(invalid(
                        "codes",
                        format!(
                            "{code} is neither a Vigilo AI code nor a loaded IMDRF term (load the terminology with `vigilo import imdrf FILE`)"
                        ),
                    ));
                }
                "imdrf"
            };
            wanted.push((code, system));
        }
        let now = self.now_text();
        let before = self.incident_codes(id).await?;
        let mut tx = self.begin_write().await?;
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        exists.ok_or_else(|| not_found("incident", id))?;
        sqlx::query("DELETE FROM incident_codes WHERE incident_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for (code, system) in &wanted {
            sqlx::query(
                "INSERT INTO incident_codes (incident_id, code, system, assigned_by, assigned_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(code)
            .bind(*system)
            .bind(actor)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE incidents SET updated_at = $1 WHERE id = $2")
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "incident.code", "incident", id)
                .before(json!(before.iter().map(|c| &c.code).collect::<Vec<_>>()))
                .after(json!(wanted.iter().map(|(c, _)| c).collect::<Vec<_>>())),
        )
        .await?;
        tx.commit().await?;
        self.incident_codes(id).await
    }

    pub async fn incident_messages(&self, id: &str) -> Result<Vec<IncidentMessage>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, at, author_id, author_role, body FROM incident_messages WHERE incident_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Adds to the conversation with the manufacturer. The body is de-identified too: a
    /// vendor's answer may quote the patient's record.
    pub async fn add_incident_message(
        &self,
        actor: &str,
        author_role: &str,
        id: &str,
        body: &str,
    ) -> Result<IncidentMessage, StoreError> {
        let body = body.trim();
        if body.is_empty() {
            return Err(invalid("body", "write the message"));
        }
        if body.chars().count() > vigilo_core::incident::MAX_NARRATIVE {
            return Err(invalid("body", "the message is too long"));
        }
        if !matches!(author_role, "regulator" | "vendor") {
            return Err(invalid("author_role", "regulator or vendor"));
        }
        let message = IncidentMessage {
            id: new_id(),
            at: self.now_text(),
            author_id: actor.into(),
            author_role: author_role.into(),
            body: scrub(body).text,
        };
        let mut tx = self.begin_write().await?;
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        exists.ok_or_else(|| not_found("incident", id))?;
        sqlx::query(
            "INSERT INTO incident_messages (id, incident_id, at, author_id, author_role, body) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&message.id)
        .bind(id)
        .bind(&message.at)
        .bind(actor)
        .bind(author_role)
        .bind(&message.body)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &message.at,
            &AuditEntry::new(actor, "incident.message", "incident", id)
                .after(json!({"message_id": message.id, "author_role": author_role})),
        )
        .await?;
        tx.commit().await?;
        Ok(message)
    }

    /// Marks a report as a duplicate of another (the reviewer's merge): the duplicate
    /// stays stored and visible, and counts drop it.
    pub async fn mark_duplicate(
        &self,
        actor: &str,
        id: &str,
        of: Option<&str>,
    ) -> Result<(), StoreError> {
        if of == Some(id) {
            return Err(invalid("duplicate_of", "a report cannot duplicate itself"));
        }
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        if let Some(of) = of {
            let target: Option<(Option<String>,)> =
                sqlx::query_as("SELECT duplicate_of FROM incidents WHERE id = $1")
                    .bind(of)
                    .fetch_optional(&mut *tx)
                    .await?;
            match target {
                None => return Err(not_found("incident", of)),
                Some((Some(_),)) => {
                    return Err(invalid(
                        "duplicate_of",
                        "that report is itself a duplicate: point at the master report",
                    ))
                }
                Some((None,)) => {}
            }
        }
        let changed =
            sqlx::query("UPDATE incidents SET duplicate_of = $1, updated_at = $2 WHERE id = $3")
                .bind(of)
                .bind(&now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if changed != 1 {
            return Err(not_found("incident", id));
        }
        // Reports that pointed at this one follow it to its master.
        if let Some(of) = of {
            sqlx::query("UPDATE incidents SET duplicate_of = $1 WHERE duplicate_of = $2")
                .bind(of)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "incident.duplicate", "incident", id)
                .after(json!({"duplicate_of": of})),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the IMDRF terminology with a new release, in one transaction.
    pub async fn load_imdrf_terms(
        &self,
        actor: &str,
        terms: &[ImdrfTermRow],
    ) -> Result<u64, StoreError> {
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let used: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT code FROM incident_codes WHERE system = 'imdrf'")
                .fetch_all(&mut *tx)
                .await?;
        if let Some((missing,)) = used.iter().find(|(c,)| !terms.iter().any(|t| &t.code == c)) {
            return Err(invalid(
                "terminology",
                format!("reports are coded with {missing}, which this release does not have; load a release that keeps it"),
            ));
        }
        sqlx::query("DELETE FROM imdrf_terms")
            .execute(&mut *tx)
            .await?;
        for t in terms {
            sqlx::query(
                "INSERT INTO imdrf_terms (code, annex, term, definition, parent, level, loaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&t.code)
            .bind(&t.annex)
            .bind(&t.term)
            .bind(&t.definition)
            .bind(t.parent.as_deref())
            .bind(t.level)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "imdrf.load", "terminology", "imdrf")
                .after(json!({"terms": terms.len()})),
        )
        .await?;
        tx.commit().await?;
        Ok(terms.len() as u64)
    }

    /// Counts of reports about products in the directory, by product and one other
    /// dimension, for the public view. Duplicates and imported foreign reports are left
    /// out; reports naming no known product are counted under an empty product id.
    pub async fn incident_counts(
        &self,
        by: CountBy,
        product_id: Option<&str>,
    ) -> Result<Vec<CountCell>, StoreError> {
        let (key, from) = match by {
            CountBy::Seriousness => ("i.seriousness", ""),
            CountBy::Province => ("COALESCE(i.province_code, '')", ""),
            CountBy::Month => ("SUBSTR(i.received_on, 1, 7)", ""),
            CountBy::Code => ("c.code", "JOIN incident_codes c ON c.incident_id = i.id"),
        };
        Ok(sqlx::query_as(sqlf!(
            "SELECT COALESCE(i.product_id, '') AS product_id, COALESCE(MAX(p.name), '') AS product_name, {key} AS key, CAST(COUNT(*) AS BIGINT) AS n \
             FROM incidents i {from} LEFT JOIN products p ON p.id = i.product_id \
             WHERE i.duplicate_of IS NULL AND i.source IN ('form', 'api', 'fhir') AND ($1 IS NULL OR i.product_id = $1) \
             GROUP BY COALESCE(i.product_id, ''), {key} ORDER BY 2, 1, 3"
        ))
        .bind(product_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Files reports taken from a public source (MAUDE, openFDA, the AI Incident
    /// Database) in one transaction: all or nothing. A report already imported (same
    /// source and id) is left as it is, so importing a file twice adds nothing. Narratives
    /// are de-identified like any other; devices are linked to the FDA list entry with the
    /// same submission number when that list has been imported. Imported reports are
    /// reference data for signal detection, not cases for triage: they are filed closed.
    pub async fn import_public_reports(
        &self,
        actor: &str,
        reports: &[PublicReport],
    ) -> Result<PublicImport, StoreError> {
        let now = self.now_text();
        let today = self.now().date();
        let mut outcome = PublicImport::default();
        let mut tx = self.begin_write().await?;
        let mut seen: std::collections::HashSet<(String, String)> =
            std::collections::HashSet::new();
        for source in reports
            .iter()
            .map(|r| r.source.code())
            .collect::<std::collections::BTreeSet<_>>()
        {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT external_id FROM incidents WHERE source = $1 AND external_id IS NOT NULL",
            )
            .bind(source)
            .fetch_all(&mut *tx)
            .await?;
            seen.extend(rows.into_iter().map(|(id,)| (source.to_string(), id)));
        }
        let references: Vec<(String, String)> = sqlx::query_as(
            "SELECT reference, id FROM foreign_references WHERE source = 'fda_ai_list'",
        )
        .fetch_all(&mut *tx)
        .await?;
        let references: std::collections::HashMap<String, String> =
            references.into_iter().collect();
        let year = year_of(&now);
        for r in reports {
            if r.external_id.trim().is_empty() {
                return Err(invalid(
                    "external_id",
                    "a public report without its source's id cannot be imported twice safely",
                ));
            }
            if !seen.insert((r.source.code().to_string(), r.external_id.clone())) {
                outcome.already += 1;
                continue;
            }
            let seq = next_counter(&mut tx, &format!("incident-{year}")).await?;
            let foreign = r
                .device_ref
                .as_ref()
                .and_then(|d| references.get(d.trim()))
                .cloned();
            if foreign.is_some() {
                outcome.linked += 1;
            }
            let scrubbed = scrub(&r.narrative);
            let received_on = r.received_on.unwrap_or(today);
            // Brand names and submission numbers name devices and stay as they are; an AIID
            // title is a headline that may name people, so it is scrubbed.
            let product_text = r
                .product_name
                .clone()
                .or_else(|| r.device_ref.clone())
                .or_else(|| r.title.as_deref().map(|t| scrub(t).text))
                .map(|t| {
                    t.trim()
                        .chars()
                        .take(vigilo_core::incident::MAX_SHORT_TEXT)
                        .collect::<String>()
                });
            let facts = ReportFacts {
                id: String::new(),
                product_id: None,
                version_id: None,
                product_text: product_text.clone(),
                facility_id: None,
                province_code: None,
                occurred_on: r.occurred_on,
                aware_on: None,
                received_on,
                seriousness: r.seriousness,
                outcome_known: r.source != IncidentSource::Aiid,
                reporter_kind: r.original_reporter,
                narrative: scrubbed.text.clone(),
                patient_sex: None,
                patient_age_band: None,
                codes: r.event_codes.clone(),
            };
            let country = r.country.clone().unwrap_or_else(|| match r.source {
                IncidentSource::Maude | IncidentSource::Openfda => "US".into(),
                // ISO 3166 user-assigned code for "unknown".
                _ => "ZZ".into(),
            });
            let incident =
                Incident {
                    id: new_id(),
                    receipt: receipt_number(year, seq),
                    source: r.source.code().into(),
                    external_id: Some(r.external_id.clone()),
                    reporter_kind: r.reporter_kind.code().into(),
                    reporter_org_id: None,
                    product_id: None,
                    version_id: None,
                    product_text,
                    foreign_reference_id: foreign,
                    manufacturer_text: r.manufacturer.clone().or_else(|| r.deployer.clone()).map(
                        |m| {
                            m.chars()
                                .take(vigilo_core::incident::MAX_SHORT_TEXT)
                                .collect()
                        },
                    ),
                    deployment_id: None,
                    facility_id: None,
                    province_code: None,
                    unit_code: None,
                    country,
                    occurred_on: r.occurred_on.map(iso_date::format),
                    aware_on: None,
                    received_at: now.clone(),
                    received_on: iso_date::format(received_on),
                    seriousness: r.seriousness.code().into(),
                    public_health_threat: 0,
                    narrative: scrubbed.text,
                    redactions_json: serde_json::to_string(&redaction_counts(&scrubbed.findings))
                        .unwrap_or_else(|_| "{}".into()),
                    patient_sex: None,
                    patient_age_band: None,
                    state: IncidentState::Closed.code().into(),
                    deadline: iso_date::format(received_on),
                    causality: None,
                    duplicate_of: None,
                    completeness: completeness(&facts).score,
                    updated_at: now.clone(),
                };
            insert_incident(&mut tx, &incident, None, None).await?;
            insert_event(
                &mut tx,
                &incident.id,
                &now,
                actor,
                "import",
                "",
                "closed",
                r.source.code(),
            )
            .await?;
            let mut codes: Vec<&String> = r.event_codes.iter().collect();
            codes.sort();
            codes.dedup();
            for code in codes {
                sqlx::query(
                    "INSERT INTO incident_codes (incident_id, code, system, assigned_by, assigned_at) VALUES ($1, $2, 'source', $3, $4)",
                )
                .bind(&incident.id)
                .bind(code)
                .bind(actor)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            }
            outcome.created += 1;
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "incident.import", "incidents", "public")
                .after(json!({"created": outcome.created, "already": outcome.already, "linked": outcome.linked})),
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// A report and the reports that could be its duplicates (same product or same
    /// province, event within `days` days, not themselves duplicates), as the matcher reads
    /// them. The report itself comes first; at most 500 others, the latest first.
    pub async fn duplicate_pool(
        &self,
        id: &str,
        days: i64,
    ) -> Result<Vec<ReportFacts>, StoreError> {
        let Some(me) = self.incident(id).await? else {
            return Err(not_found("incident", id));
        };
        let day = me
            .incident
            .occurred_on
            .clone()
            .unwrap_or_else(|| me.incident.received_on.clone());
        let center = iso_date::parse(&day).map_err(|e| invalid("occurred_on", e.to_string()))?;
        let from = iso_date::format(center - time::Duration::days(days));
        let to = iso_date::format(center + time::Duration::days(days));
        let rows: Vec<Incident> = sqlx::query_as(sqlf!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id <> $1 AND duplicate_of IS NULL \
             AND (product_id = $2 OR province_code = $3 OR foreign_reference_id = $4) \
             AND COALESCE(occurred_on, received_on) BETWEEN $5 AND $6 \
             ORDER BY COALESCE(occurred_on, received_on) DESC, id LIMIT 500"
        ))
        .bind(id)
        .bind(me.incident.product_id.as_deref())
        .bind(me.incident.province_code.as_deref())
        .bind(me.incident.foreign_reference_id.as_deref())
        .bind(&from)
        .bind(&to)
        .fetch_all(self.pool())
        .await?;
        let mut all = vec![me.incident];
        all.extend(rows);
        let mut out = Vec::with_capacity(all.len());
        for i in all {
            let codes = self
                .incident_codes(&i.id)
                .await?
                .into_iter()
                .filter(|c| c.system != "source")
                .map(|c| c.code)
                .collect();
            out.push(facts_of(&i, codes));
        }
        Ok(out)
    }

    /// Open reports about a manufacturer's products that it has not answered yet (no
    /// message from the manufacturer in the report's conversation), oldest first: the
    /// manufacturer's notification list.
    pub async fn awaiting_manufacturer(
        &self,
        manufacturer_id: &str,
    ) -> Result<Vec<IncidentView>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {VIEW_COLUMNS} {VIEW_FROM} WHERE p.manufacturer_id = $1 AND i.state <> 'closed' \
             AND i.duplicate_of IS NULL \
             AND NOT EXISTS (SELECT 1 FROM incident_messages m WHERE m.incident_id = i.id AND m.author_role = 'vendor') \
             ORDER BY i.received_at, i.id LIMIT 200"
        ))
        .bind(manufacturer_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The public per-report list: reports about directory products (no duplicates, no
    /// imported foreign reports), newest first by keyset, and the complete count of the
    /// filter. Only fields that cannot single out a patient are read by the caller.
    pub async fn public_incidents(
        &self,
        f: &PublicIncidentFilter,
    ) -> Result<(Vec<PublicIncidentRow>, i64), StoreError> {
        let limit = i64::from(f.limit.clamp(1, 100));
        let (before_at, before_id) = f.before.clone().unzip();
        let filter = "i.duplicate_of IS NULL AND i.source IN ('form', 'api', 'fhir') AND i.product_id IS NOT NULL \
             AND ($1 IS NULL OR i.product_id = $1) AND ($2 IS NULL OR i.seriousness = $2) \
             AND ($3 IS NULL OR EXISTS (SELECT 1 FROM incident_codes c WHERE c.incident_id = i.id AND c.code = $3)) \
             AND ($4 IS NULL OR i.province_code = $4)";
        let rows = sqlx::query_as(sqlf!(
            "SELECT i.id, i.receipt, i.product_id, p.name AS product_name, v.version, i.province_code, \
                    SUBSTR(COALESCE(i.occurred_on, i.received_on), 1, 7) AS month, i.seriousness, i.state, i.reporter_kind, i.received_at \
             FROM incidents i JOIN products p ON p.id = i.product_id LEFT JOIN product_versions v ON v.id = i.version_id \
             WHERE {filter} AND ($5 IS NULL OR i.received_at < $5 OR (i.received_at = $5 AND i.id < $6)) \
             ORDER BY i.received_at DESC, i.id DESC LIMIT {limit}"
        ))
        .bind(f.product_id.as_deref())
        .bind(f.seriousness.as_deref())
        .bind(f.code.as_deref())
        .bind(f.province_code.as_deref())
        .bind(before_at)
        .bind(before_id)
        .fetch_all(self.pool())
        .await?;
        let (total,): (i64,) = sqlx::query_as(sqlf!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM incidents i WHERE {filter}"
        ))
        .bind(f.product_id.as_deref())
        .bind(f.seriousness.as_deref())
        .bind(f.code.as_deref())
        .bind(f.province_code.as_deref())
        .fetch_one(self.pool())
        .await?;
        Ok((rows, total))
    }

    /// The codes of several reports at once (for a page of reports).
    pub async fn codes_of(&self, ids: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(100) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let mut q = sqlx::query_as(sqlf!(
                "SELECT incident_id, code FROM incident_codes WHERE system <> 'source' AND incident_id IN ({}) ORDER BY incident_id, code",
                placeholders.join(", ")
            ));
            for id in chunk {
                q = q.bind(id);
            }
            let rows: Vec<(String, String)> = q.fetch_all(self.pool()).await?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Products a reporter can pick: every product in the national directory with a
    /// published version, by name, with its manufacturer's name.
    pub async fn incident_product_choices(&self) -> Result<Vec<ProductChoice>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT p.id, p.name, o.name AS manufacturer FROM products p JOIN organisations o ON o.id = p.manufacturer_id \
             WHERE EXISTS (SELECT 1 FROM product_versions v WHERE v.product_id = p.id AND v.status = 'published') \
             ORDER BY p.name, p.id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// A product's version by its label ("1.2"), as a reporter types it.
    pub async fn version_by_label(
        &self,
        product_id: &str,
        label: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM product_versions WHERE product_id = $1 AND version = $2",
        )
        .bind(product_id)
        .bind(label.trim().trim_start_matches(['v', 'V']))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(id,)| id))
    }

    pub async fn imdrf_terms(&self) -> Result<Vec<ImdrfTermRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT code, annex, term, definition, parent, level FROM imdrf_terms ORDER BY code",
        )
        .fetch_all(self.pool())
        .await?)
    }
}

#[derive(Default)]
struct Place {
    version_id: Option<String>,
    deployment_id: Option<String>,
    province_code: Option<String>,
    unit_code: Option<String>,
}

const VIEW_COLUMNS: &str = "i.id, i.receipt, i.source, i.external_id, i.reporter_kind, i.reporter_org_id, i.product_id, i.version_id, i.product_text, i.foreign_reference_id, i.manufacturer_text, i.deployment_id, i.facility_id, i.province_code, i.unit_code, i.country, i.occurred_on, i.aware_on, i.received_at, i.received_on, i.seriousness, i.public_health_threat, i.narrative, i.redactions_json, i.patient_sex, i.patient_age_band, i.state, i.deadline, i.causality, i.duplicate_of, i.completeness, i.updated_at, p.name AS product_name, p.manufacturer_id, v.version, o.name AS facility_name";
const VIEW_FROM: &str = "FROM incidents i LEFT JOIN products p ON p.id = i.product_id LEFT JOIN product_versions v ON v.id = i.version_id LEFT JOIN organisations o ON o.id = i.facility_id";

/// Writes a new report with its receipt number, its first event and its audit row, on a
/// connection inside a transaction (the group-commit writer's savepoint, or a caller's own).
pub(crate) async fn write_new_incident(
    conn: &mut sqlx::AnyConnection,
    incident: &mut Incident,
    client_key: Option<&str>,
    reporter_user_id: Option<&str>,
) -> Result<(), StoreError> {
    let year = year_of(&incident.received_at);
    let seq = next_counter(&mut *conn, &format!("incident-{year}")).await?;
    incident.receipt = receipt_number(year, seq);
    let entry = insert_received(&mut *conn, incident, client_key, reporter_user_id).await?;
    append(&mut *conn, &incident.received_at, &entry).await?;
    Ok(())
}

/// As [`write_new_incident`], with the receipt counter and the audit head held by the
/// caller for a whole batch (group commit): three inserts per report instead of eight
/// statements. The counter moves only when every statement of the report succeeded.
pub(crate) async fn write_new_incident_held(
    conn: &mut sqlx::AnyConnection,
    incident: &mut Incident,
    client_key: Option<&str>,
    reporter_user_id: Option<&str>,
    counters: &mut Vec<crate::appraisal::CounterCursor>,
    audit: &mut crate::audit::AuditCursor,
) -> Result<(), StoreError> {
    let year = year_of(&incident.received_at);
    let name = format!("incident-{year}");
    let k = match counters.iter().position(|c| c.name() == name) {
        Some(k) => k,
        None => {
            counters.push(crate::appraisal::CounterCursor::lock(&mut *conn, &name).await?);
            counters.len() - 1
        }
    };
    incident.receipt = receipt_number(year, counters[k].peek());
    let entry = insert_received(&mut *conn, incident, client_key, reporter_user_id).await?;
    audit
        .append(&mut *conn, &incident.received_at, &entry)
        .await?;
    counters[k].take();
    Ok(())
}

/// The numbered report's row and its first history row; returns its audit entry, for the
/// caller to append to the chain.
async fn insert_received(
    conn: &mut sqlx::AnyConnection,
    incident: &Incident,
    client_key: Option<&str>,
    reporter_user_id: Option<&str>,
) -> Result<AuditEntry, StoreError> {
    insert_incident(&mut *conn, incident, client_key, reporter_user_id).await?;
    let actor = reporter_user_id.unwrap_or("anonymous");
    insert_event(
        &mut *conn,
        &incident.id,
        &incident.received_at,
        actor,
        "receive",
        "",
        IncidentState::Received.code(),
        "",
    )
    .await?;
    Ok(
        AuditEntry::new(actor, "incident.receive", "incident", &incident.id).after(json!({
            "receipt": incident.receipt, "source": incident.source,
            "product_id": incident.product_id, "version_id": incident.version_id,
            "seriousness": incident.seriousness, "deadline": incident.deadline,
        })),
    )
}

pub(crate) async fn insert_incident(
    conn: &mut sqlx::AnyConnection,
    i: &Incident,
    client_key: Option<&str>,
    reporter_user_id: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(sqlf!(
        "INSERT INTO incidents ({INCIDENT_COLUMNS}, client_key, reporter_user_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34)"
    ))
    .bind(&i.id)
    .bind(&i.receipt)
    .bind(&i.source)
    .bind(i.external_id.as_deref())
    .bind(&i.reporter_kind)
    .bind(i.reporter_org_id.as_deref())
    .bind(i.product_id.as_deref())
    .bind(i.version_id.as_deref())
    .bind(i.product_text.as_deref())
    .bind(i.foreign_reference_id.as_deref())
    .bind(i.manufacturer_text.as_deref())
    .bind(i.deployment_id.as_deref())
    .bind(i.facility_id.as_deref())
    .bind(i.province_code.as_deref())
    .bind(i.unit_code.as_deref())
    .bind(&i.country)
    .bind(i.occurred_on.as_deref())
    .bind(i.aware_on.as_deref())
    .bind(&i.received_at)
    .bind(&i.received_on)
    .bind(&i.seriousness)
    .bind(i.public_health_threat)
    .bind(&i.narrative)
    .bind(&i.redactions_json)
    .bind(i.patient_sex.as_deref())
    .bind(i.patient_age_band.as_deref())
    .bind(&i.state)
    .bind(&i.deadline)
    .bind(i.causality.as_deref())
    .bind(i.duplicate_of.as_deref())
    .bind(i.completeness)
    .bind(&i.updated_at)
    .bind(client_key)
    .bind(reporter_user_id)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("incident", &i.receipt))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_event(
    conn: &mut sqlx::AnyConnection,
    incident_id: &str,
    at: &str,
    actor: &str,
    action: &str,
    from: &str,
    to: &str,
    reason: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO incident_events (incident_id, at, actor_id, action, from_state, to_state, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(incident_id)
    .bind(at)
    .bind(actor)
    .bind(action)
    .bind(from)
    .bind(to)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The matcher's view of a stored report.
fn facts_of(i: &Incident, codes: Vec<String>) -> ReportFacts {
    let date = |d: &Option<String>| d.as_deref().and_then(|d| iso_date::parse(d).ok());
    ReportFacts {
        id: i.id.clone(),
        product_id: i.product_id.clone(),
        version_id: i.version_id.clone(),
        product_text: i.product_text.clone(),
        facility_id: i.facility_id.clone(),
        province_code: i.province_code.clone(),
        occurred_on: date(&i.occurred_on),
        aware_on: date(&i.aware_on),
        received_on: iso_date::parse(&i.received_on).unwrap_or(time::Date::MIN),
        seriousness: i
            .seriousness
            .parse()
            .unwrap_or(vigilo_core::incident::Seriousness::Malfunction),
        outcome_known: true,
        reporter_kind: i.reporter_kind.parse().ok(),
        narrative: i.narrative.clone(),
        patient_sex: i.patient_sex.as_deref().and_then(|s| s.parse().ok()),
        patient_age_band: i.patient_age_band.as_deref().and_then(|s| s.parse().ok()),
        codes,
    }
}
