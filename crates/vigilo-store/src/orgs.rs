//! Organisations: manufacturers, health facilities (placed in an administrative
//! unit) and regulators.

use crate::audit::{append, AuditEntry};
use crate::{new_id, Store, StoreError};
use serde::Serialize;
use vigilo_core::OrgKind;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Organisation {
    pub id: String,
    pub code: String,
    pub kind: String,
    pub name: String,
    pub name_en: Option<String>,
    pub admin_unit_code: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct NewOrganisation {
    /// Stable human identifier, e.g. a facility code or business registration number.
    pub code: String,
    pub kind: OrgKind,
    pub name: String,
    pub name_en: Option<String>,
    pub admin_unit_code: Option<String>,
}

const COLUMNS: &str = "id, code, kind, name, name_en, admin_unit_code, created_at";

impl Store {
    pub async fn create_organisation(
        &self,
        actor: &str,
        new: NewOrganisation,
    ) -> Result<Organisation, StoreError> {
        let org = self.prepare_organisation(new).await?;
        let mut tx = self.begin_write().await?;
        insert_organisation(&mut tx, actor, &org).await?;
        tx.commit().await?;
        Ok(org)
    }

    /// Checks a new organisation and gives it an id, without storing it.
    pub(crate) async fn prepare_organisation(
        &self,
        new: NewOrganisation,
    ) -> Result<Organisation, StoreError> {
        let code = new.code.trim().to_string();
        if code.is_empty() || code.len() > 64 {
            return Err(StoreError::Invalid {
                field: "code",
                reason: "must be 1 to 64 characters".into(),
            });
        }
        let name = new.name.trim().to_string();
        if name.is_empty() {
            return Err(StoreError::Invalid {
                field: "name",
                reason: "must not be empty".into(),
            });
        }
        if new.kind == OrgKind::Facility && new.admin_unit_code.is_none() {
            return Err(StoreError::Invalid {
                field: "admin_unit_code",
                reason: "a facility must be placed in a commune, ward or special zone".into(),
            });
        }
        if let Some(unit) = &new.admin_unit_code {
            if self.admin_unit(unit).await?.is_none() {
                return Err(StoreError::Invalid {
                    field: "admin_unit_code",
                    reason: format!("no administrative unit has code '{unit}'"),
                });
            }
        }
        let org = Organisation {
            id: new_id(),
            code,
            kind: new.kind.as_str().to_string(),
            name,
            name_en: new
                .name_en
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            admin_unit_code: new.admin_unit_code,
            created_at: self.now_text(),
        };
        Ok(org)
    }

    pub async fn organisation(&self, id: &str) -> Result<Option<Organisation>, StoreError> {
        Ok(
            sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM organisations WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    pub async fn organisation_by_code(
        &self,
        code: &str,
    ) -> Result<Option<Organisation>, StoreError> {
        Ok(
            sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM organisations WHERE code = $1"))
                .bind(code.trim())
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Organisations, optionally of one kind, by name.
    pub async fn list_organisations(
        &self,
        kind: Option<OrgKind>,
    ) -> Result<Vec<Organisation>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {COLUMNS} FROM organisations WHERE ($1 IS NULL OR kind = $1) ORDER BY name"
        ))
        .bind(kind.map(|k| k.as_str()))
        .fetch_all(self.pool())
        .await?)
    }
}

/// Inserts a checked organisation and its audit row inside the caller's transaction.
pub(crate) async fn insert_organisation(
    conn: &mut sqlx::AnyConnection,
    actor: &str,
    org: &Organisation,
) -> Result<(), StoreError> {
    sqlx::query(sqlf!(
        "INSERT INTO organisations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&org.id)
    .bind(&org.code)
    .bind(&org.kind)
    .bind(&org.name)
    .bind(&org.name_en)
    .bind(&org.admin_unit_code)
    .bind(&org.created_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("organisation", &org.code))?;
    let after = serde_json::to_value(org).unwrap_or_default();
    append(
        &mut *conn,
        &org.created_at,
        &AuditEntry::new(actor, "organisation.create", "organisation", &org.id).after(after),
    )
    .await?;
    Ok(())
}
