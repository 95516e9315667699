//! Bulk creation for large imports (a national facility list, the training register of a
//! rollout): the same checks as one at a time, but one transaction for the lot, because on
//! a durable SQLite every commit waits for the disk and thousands of commits take minutes.

use crate::orgs::insert_organisation;
use crate::{NewOrganisation, Organisation, Store, StoreError, Training};
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
    /// audit entry for the batch: each a Navigator session of a course on the product, which
    /// writes the facility's training record (`navigator.rs`). Facilities and products must
    /// exist.
    pub async fn record_trainings(
        &self,
        actor: &str,
        records: &[(String, String, TrainingRecord)],
    ) -> Result<Vec<Training>, StoreError> {
        self.record_training_as_session(actor, records).await
    }
}
