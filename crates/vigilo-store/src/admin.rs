//! Administrative units: the reference map and look-ups.

use crate::{Store, StoreError};
use serde::Serialize;
use vigilo_core::admin_units::parse_2025_csv;
use vigilo_core::text::fold;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AdminUnitRow {
    pub code: String,
    pub name: String,
    pub short_name: String,
    pub level: String,
    pub unit_type: String,
    pub parent_code: Option<String>,
    pub area_km2: Option<f64>,
}

const COLUMNS: &str = "code, name, short_name, level, unit_type, parent_code, area_km2";

impl Store {
    /// Loads the map when the table is empty; a no-op afterwards, so every start can call it.
    pub(crate) async fn load_admin_units(&self, csv: &[u8]) -> Result<u64, StoreError> {
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_units")
            .fetch_one(self.pool())
            .await?;
        if existing > 0 {
            return Ok(0);
        }
        let units = parse_2025_csv(csv).map_err(|e| StoreError::ReferenceData(e.to_string()))?;
        let mut tx = self.begin_write().await?;
        // Another process may have loaded it between the count and the lock.
        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_units")
            .fetch_one(&mut *tx)
            .await?;
        if existing > 0 {
            return Ok(0);
        }
        for u in &units {
            // sqlx's Any driver binds a NULL f64 as float4 on PostgreSQL and then
            // reuses that prepared type for real values, so rows without an area
            // take a statement of their own instead of a NULL bind.
            let q = match u.area_km2 {
                Some(_) => sqlx::query(
                    "INSERT INTO admin_units (code, name, short_name, level, unit_type, parent_code, name_folded, area_km2) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                ),
                None => sqlx::query(
                    "INSERT INTO admin_units (code, name, short_name, level, unit_type, parent_code, name_folded, area_km2) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
                ),
            }
            .bind(&u.code)
            .bind(&u.name)
            .bind(&u.short_name)
            .bind(u.level.as_str())
            .bind(&u.unit_type)
            .bind(&u.parent_code)
            .bind(fold(&u.name));
            let q = match u.area_km2 {
                Some(area) => q.bind(area),
                None => q,
            };
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(units.len() as u64)
    }

    pub async fn admin_unit(&self, code: &str) -> Result<Option<AdminUnitRow>, StoreError> {
        Ok(
            sqlx::query_as(sqlf!("SELECT {COLUMNS} FROM admin_units WHERE code = $1"))
                .bind(code)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Children of a unit (provinces of `VN`, local units of a province), by name.
    pub async fn admin_unit_children(&self, parent: &str) -> Result<Vec<AdminUnitRow>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {COLUMNS} FROM admin_units WHERE parent_code = $1 ORDER BY name_folded"
        ))
        .bind(parent)
        .fetch_all(self.pool())
        .await?)
    }

    /// The provinces and centrally governed cities, by name.
    pub async fn provinces(&self) -> Result<Vec<AdminUnitRow>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {COLUMNS} FROM admin_units WHERE level = 'province' ORDER BY name_folded"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    /// Units whose folded name contains the folded query ("da nang" finds "Đà Nẵng").
    pub async fn search_admin_units(
        &self,
        query: &str,
        limit: i64,
    ) -> Result<Vec<AdminUnitRow>, StoreError> {
        let pattern = format!("%{}%", fold(query.trim()).replace(['%', '_'], ""));
        Ok(sqlx::query_as(sqlf!(
            "SELECT {COLUMNS} FROM admin_units WHERE name_folded LIKE $1 ORDER BY level, name_folded LIMIT $2"
        ))
        .bind(pattern)
        .bind(limit.clamp(1, 200))
        .fetch_all(self.pool())
        .await?)
    }

    /// Counts of units per level: (provinces, local units).
    pub async fn admin_unit_counts(&self) -> Result<(i64, i64), StoreError> {
        let provinces: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM admin_units WHERE level = 'province'")
                .fetch_one(self.pool())
                .await?;
        let locals: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM admin_units WHERE level = 'local'")
                .fetch_one(self.pool())
                .await?;
        Ok((provinces, locals))
    }
}
