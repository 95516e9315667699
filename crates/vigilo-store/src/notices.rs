//! Safety notices: issued for some versions of a product (often from a confirmed signal),
//! delivered to every deployment of those versions, acknowledged by each facility. A
//! suspension also suspends the versions' active licences and pauses their running
//! deployments, in the same transaction as the notice.

use crate::appraisal::{next_counter, set_licence_status, year_of};
use crate::audit::{append, AuditEntry};
use crate::error::invalid;
use crate::{new_id, Authorisation, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use vigilo_core::appraisal::LicenceCommand;
use vigilo_core::directory::LicenceStatus;
use vigilo_core::signal::{notice_reference, NoticeKind};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Notice {
    pub id: String,
    pub reference: String,
    pub kind: String,
    pub product_id: String,
    pub signal_id: Option<String>,
    pub title_vi: String,
    pub title_en: String,
    pub body_vi: String,
    pub body_en: String,
    pub action_vi: String,
    pub action_en: String,
    pub issued_by: String,
    pub issued_at: String,
}

const NOTICE_COLUMNS: &str = "id, reference, kind, product_id, signal_id, title_vi, title_en, body_vi, body_en, action_vi, action_en, issued_by, issued_at";

/// A notice as a facility sees it: with its own acknowledgement.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct FacilityNotice {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub notice: Notice,
    pub product_name: String,
    pub deployments: i64,
    pub acknowledged_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct NoticeRecipient {
    pub deployment_id: String,
    pub facility_id: String,
    pub facility_name: String,
    pub version: String,
    pub acknowledged_at: Option<String>,
}

/// What a notice says and to which versions (all versions of the product when empty).
#[derive(Debug, Clone)]
pub struct NewNotice<'a> {
    pub kind: NoticeKind,
    pub product_id: &'a str,
    pub version_ids: &'a [String],
    pub signal_id: Option<&'a str>,
    pub title_vi: &'a str,
    pub title_en: &'a str,
    pub body_vi: &'a str,
    pub body_en: &'a str,
    pub action_vi: &'a str,
    pub action_en: &'a str,
}

/// What issuing a notice did besides creating it.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedNotice {
    pub notice: Notice,
    pub recipients: u64,
    pub licences_suspended: Vec<String>,
    pub deployments_paused: u64,
}

const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 8000;

fn text(field: &'static str, value: &str, max: usize) -> Result<String, StoreError> {
    let t = value.trim();
    if t.is_empty() {
        return Err(invalid(field, "required, in Vietnamese and in English"));
    }
    if t.chars().count() > max {
        return Err(invalid(field, format!("at most {max} characters")));
    }
    Ok(t.to_string())
}

impl Store {
    pub async fn issue_notice(
        &self,
        actor: &str,
        n: &NewNotice<'_>,
    ) -> Result<IssuedNotice, StoreError> {
        let title_vi = text("title_vi", n.title_vi, MAX_TITLE)?;
        let title_en = text("title_en", n.title_en, MAX_TITLE)?;
        let body_vi = text("body_vi", n.body_vi, MAX_BODY)?;
        let body_en = text("body_en", n.body_en, MAX_BODY)?;
        let action_vi = text("action_vi", n.action_vi, MAX_BODY)?;
        let action_en = text("action_en", n.action_en, MAX_BODY)?;
        self.product(n.product_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "product",
                key: n.product_id.into(),
            })?;
        let all_versions: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM product_versions WHERE product_id = $1 ORDER BY id")
                .bind(n.product_id)
                .fetch_all(self.pool())
                .await?;
        let versions: Vec<String> = if n.version_ids.is_empty() {
            all_versions.into_iter().map(|(v,)| v).collect()
        } else {
            for v in n.version_ids {
                if !all_versions.iter().any(|(id,)| id == v) {
                    return Err(invalid(
                        "versions",
                        format!("{v} is not a version of this product"),
                    ));
                }
            }
            n.version_ids.to_vec()
        };
        if let Some(sid) = n.signal_id {
            self.signal(sid)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "signal",
                    key: sid.into(),
                })?;
        }
        let now = self.now_text();
        let today = self.now().date();
        let mut tx = self.begin_write().await?;
        let year = year_of(&now);
        let seq = next_counter(&mut tx, &format!("notice-{year}")).await?;
        let notice = Notice {
            id: new_id(),
            reference: notice_reference(year, seq),
            kind: n.kind.code().into(),
            product_id: n.product_id.into(),
            signal_id: n.signal_id.map(Into::into),
            title_vi,
            title_en,
            body_vi,
            body_en,
            action_vi,
            action_en,
            issued_by: actor.into(),
            issued_at: now.clone(),
        };
        sqlx::query(sqlf!(
            "INSERT INTO safety_notices ({NOTICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&notice.id)
        .bind(&notice.reference)
        .bind(&notice.kind)
        .bind(&notice.product_id)
        .bind(notice.signal_id.as_deref())
        .bind(&notice.title_vi)
        .bind(&notice.title_en)
        .bind(&notice.body_vi)
        .bind(&notice.body_en)
        .bind(&notice.action_vi)
        .bind(&notice.action_en)
        .bind(&notice.issued_by)
        .bind(&notice.issued_at)
        .execute(&mut *tx)
        .await?;
        let mut recipients = 0;
        let mut paused = 0;
        let mut suspended = Vec::new();
        let reason = format!("{} {}", notice.reference, notice.title_en);
        for v in &versions {
            sqlx::query(
                "INSERT INTO safety_notice_versions (notice_id, version_id) VALUES ($1, $2)",
            )
            .bind(&notice.id)
            .bind(v)
            .execute(&mut *tx)
            .await?;
            recipients += sqlx::query(
                "INSERT INTO safety_notice_recipients (notice_id, deployment_id, facility_id) \
                 SELECT $1, id, facility_id FROM deployments WHERE version_id = $2 AND status IN ('planned', 'active', 'paused')",
            )
            .bind(&notice.id)
            .bind(v)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n.kind != NoticeKind::Suspension {
                continue;
            }
            let licences: Vec<Authorisation> = sqlx::query_as(
                "SELECT id, reference, application_id, product_id, version_id, jurisdiction, status, basis, parent_id, outcome, conditions_json, granted_at, expires_on, updated_at \
                 FROM authorisations WHERE version_id = $1 AND status = 'active'",
            )
            .bind(v)
            .fetch_all(&mut *tx)
            .await?;
            for a in &licences {
                if a.expires_on.as_str() < vigilo_core::appraisal::iso_date::format(today).as_str()
                {
                    continue;
                }
                set_licence_status(
                    &mut tx,
                    &now,
                    actor,
                    a,
                    LicenceCommand::Suspend,
                    LicenceStatus::Suspended,
                    &reason,
                )
                .await?;
                suspended.push(a.reference.clone());
            }
            let running: Vec<(String,)> = sqlx::query_as(
                "SELECT id FROM deployments WHERE version_id = $1 AND status = 'active'",
            )
            .bind(v)
            .fetch_all(&mut *tx)
            .await?;
            for (d,) in &running {
                sqlx::query("UPDATE deployments SET status = 'paused', updated_at = $1 WHERE id = $2 AND status = 'active'")
                    .bind(&now)
                    .bind(d)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO deployment_events (deployment_id, at, actor_id, from_status, to_status, reason) VALUES ($1, $2, $3, 'active', 'paused', $4)",
                )
                .bind(d)
                .bind(&now)
                .bind(actor)
                .bind(&reason)
                .execute(&mut *tx)
                .await?;
                paused += 1;
            }
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "notice.issue", "safety_notice", &notice.id).after(json!({
                "reference": notice.reference, "kind": notice.kind, "product_id": notice.product_id,
                "versions": versions, "signal_id": notice.signal_id, "recipients": recipients,
                "licences_suspended": suspended, "deployments_paused": paused,
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(IssuedNotice {
            notice,
            recipients,
            licences_suspended: suspended,
            deployments_paused: paused,
        })
    }

    pub async fn notice(&self, id: &str) -> Result<Option<Notice>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {NOTICE_COLUMNS} FROM safety_notices WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Notices, newest first; for one product when given (its public page).
    pub async fn notices(&self, product_id: Option<&str>) -> Result<Vec<Notice>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {NOTICE_COLUMNS} FROM safety_notices WHERE ($1 IS NULL OR product_id = $1) ORDER BY issued_at DESC, id DESC"
        ))
        .bind(product_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn notice_versions(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT v.version FROM safety_notice_versions n JOIN product_versions v ON v.id = n.version_id WHERE n.notice_id = $1 ORDER BY v.version",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(v,)| v).collect())
    }

    pub async fn notice_recipients(&self, id: &str) -> Result<Vec<NoticeRecipient>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT r.deployment_id, r.facility_id, o.name AS facility_name, v.version, r.acknowledged_at \
             FROM safety_notice_recipients r JOIN deployments d ON d.id = r.deployment_id \
             JOIN organisations o ON o.id = r.facility_id JOIN product_versions v ON v.id = d.version_id \
             WHERE r.notice_id = $1 ORDER BY o.name, r.deployment_id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The notices that reached a facility, unacknowledged first.
    pub async fn facility_notices(
        &self,
        facility_id: &str,
    ) -> Result<Vec<FacilityNotice>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT n.id, n.reference, n.kind, n.product_id, n.signal_id, n.title_vi, n.title_en, n.body_vi, n.body_en, n.action_vi, n.action_en, n.issued_by, n.issued_at, \
                    p.name AS product_name, CAST(COUNT(*) AS BIGINT) AS deployments, MIN(r.acknowledged_at) AS acknowledged_at \
             FROM safety_notice_recipients r JOIN safety_notices n ON n.id = r.notice_id JOIN products p ON p.id = n.product_id \
             WHERE r.facility_id = $1 \
             GROUP BY n.id, n.reference, n.kind, n.product_id, n.signal_id, n.title_vi, n.title_en, n.body_vi, n.body_en, n.action_vi, n.action_en, n.issued_by, n.issued_at, p.name \
             ORDER BY CASE WHEN MIN(r.acknowledged_at) IS NULL THEN 0 ELSE 1 END, n.issued_at DESC",
        )
        .bind(facility_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// A facility acknowledges a notice for all its deployments it reached. Acknowledging
    /// twice keeps the first time.
    pub async fn acknowledge_notice(
        &self,
        actor: &str,
        notice_id: &str,
        facility_id: &str,
    ) -> Result<u64, StoreError> {
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let reached: Option<(i64,)> = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM safety_notice_recipients WHERE notice_id = $1 AND facility_id = $2",
        )
        .bind(notice_id)
        .bind(facility_id)
        .fetch_optional(&mut *tx)
        .await?;
        if reached.map_or(0, |(n,)| n) == 0 {
            return Err(StoreError::NotFound {
                what: "notice for this facility",
                key: notice_id.into(),
            });
        }
        let n = sqlx::query(
            "UPDATE safety_notice_recipients SET acknowledged_by = $1, acknowledged_at = $2 WHERE notice_id = $3 AND facility_id = $4 AND acknowledged_at IS NULL",
        )
        .bind(actor)
        .bind(&now)
        .bind(notice_id)
        .bind(facility_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            append(
                &mut tx,
                &now,
                &AuditEntry::new(actor, "notice.acknowledge", "safety_notice", notice_id)
                    .after(json!({"facility_id": facility_id, "deployments": n})),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n)
    }
}
