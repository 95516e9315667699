//! Bulk creation for large imports (a national facility list, the training register of a
//! rollout): the same checks as one at a time, but one transaction for the lot, because on
//! a durable SQLite every commit waits for the disk and thousands of commits take minutes.

use crate::audit::{append, AuditEntry};
use crate::orgs::insert_organisation;
use crate::{new_id, NewOrganisation, Organisation, Store, StoreError, Training};
use serde_json::json;
use vigilo_core::appraisal::iso_date;
use vigilo_core::monitoring::TrainingRecord;

impl Store {
    /// Creates every organisation or none: each is checked first as `create_organisation`
    /// checks it.
    pub async fn create_organisations(
        &self,
        actor: &str,
        new: Vec<NewOrganisation>,
    ) -> Result<Vec<Organisation>, StoreError> {
        let mut orgs = Vec::with_capacity(new.len());
        for n in new {
            orgs.push(self.prepare_organisation(n).await?);
        }
        let mut tx = self.begin_write().await?;
        for org in &orgs {
            insert_organisation(&mut tx, actor, org).await?;
        }
        tx.commit().await?;
        Ok(orgs)
    }

    /// Records training sessions (facility, product, record) in one transaction, with one
    /// audit entry for the batch. Facilities and products must exist (foreign keys).
    pub async fn record_trainings(
        &self,
        actor: &str,
        records: &[(String, String, TrainingRecord)],
    ) -> Result<Vec<Training>, StoreError> {
        let today = self.now().date();
        let now = self.now_text();
        let mut out = Vec::with_capacity(records.len());
        for (facility, product, record) in records {
            record
                .validate(today)
                .map_err(|reason| StoreError::Invalid {
                    field: "training",
                    reason,
                })?;
            out.push(Training {
                id: new_id(),
                facility_id: facility.clone(),
                product_id: product.clone(),
                trained_on: iso_date::format(record.trained_on),
                course: record.course.trim().into(),
                staff_trained: i64::from(record.staff_trained),
                recorded_by: actor.into(),
                created_at: now.clone(),
            });
        }
        let mut tx = self.begin_write().await?;
        for t in &out {
            sqlx::query(
                "INSERT INTO training_records (id, facility_id, product_id, trained_on, course, staff_trained, recorded_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&t.id)
            .bind(&t.facility_id)
            .bind(&t.product_id)
            .bind(&t.trained_on)
            .bind(&t.course)
            .bind(t.staff_trained)
            .bind(&t.recorded_by)
            .bind(&t.created_at)
            .execute(&mut *tx)
            .await?;
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "training.record_many", "training", "batch")
                .after(json!({ "count": out.len() })),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }
}
