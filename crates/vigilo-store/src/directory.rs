//! The Directory: products, versions, foreign reference entries, reliance links,
//! the searchable entry table and its change feed.

use crate::audit::{append, AuditEntry};
use crate::error::invalid;
use crate::{new_id, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;
use vigilo_core::directory::{
    version_transition, AiKind, ClinicalArea, EntrySource, InputModality, ModelCard,
    VersionCommand, VersionLabel, VersionStatus,
};
use vigilo_core::text::fold;
use vigilo_core::Lang;

mod search;
pub use search::search_terms;
/// The search cache; `lib.rs` knows it by this name.
pub(crate) type FacetCache = search::SearchCache;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Product {
    pub id: String,
    pub manufacturer_id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub clinical_area: String,
    pub input_modality: String,
    pub ai_kind: String,
    pub country: String,
    pub domestic: i64,
    pub licence_status: String,
    pub classification_json: Option<String>,
    pub risk_class: Option<String>,
    pub classification_status: String,
    pub created_at: String,
    pub updated_at: String,
}

const PRODUCT_COLUMNS: &str = "id, manufacturer_id, name, name_en, clinical_area, input_modality, ai_kind, country, domestic, licence_status, classification_json, risk_class, classification_status, created_at, updated_at";

#[derive(Debug, Clone)]
pub struct NewProduct {
    pub manufacturer_id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub clinical_area: ClinicalArea,
    pub input_modality: InputModality,
    pub ai_kind: AiKind,
    /// ISO 3166-1 alpha-2 country of the manufacturer.
    pub country: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProductVersion {
    pub id: String,
    pub product_id: String,
    pub version: String,
    pub status: String,
    pub model_card_json: String,
    pub created_at: String,
    pub published_at: Option<String>,
    pub withdrawn_at: Option<String>,
}

impl ProductVersion {
    pub fn model_card(&self) -> Option<ModelCard> {
        serde_json::from_str(&self.model_card_json).ok()
    }
    pub fn status(&self) -> VersionStatus {
        self.status.parse().unwrap_or(VersionStatus::Withdrawn)
    }
}

pub(crate) const VERSION_COLUMNS: &str =
    "id, product_id, version, status, model_card_json, created_at, published_at, withdrawn_at";

/// One entry of a foreign regulator's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ForeignReference {
    pub id: String,
    pub source: String,
    pub reference: String,
    pub device: String,
    pub company: String,
    pub panel: String,
    pub product_code: String,
    pub decision_date: String,
    pub list_label: String,
    pub created_at: String,
    pub updated_at: String,
}

const REFERENCE_COLUMNS: &str = "id, source, reference, device, company, panel, product_code, decision_date, list_label, created_at, updated_at";

/// A row of an imported list, before storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceRecord {
    pub reference: String,
    pub device: String,
    pub company: String,
    pub panel: String,
    pub product_code: String,
    /// ISO date.
    pub decision_date: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
    /// In the store from an earlier list but absent from this one (kept, not deleted).
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Reliance {
    pub product_id: String,
    pub reference_id: String,
    pub rationale: String,
    pub created_by: String,
    pub created_at: String,
}

/// A public directory entry, local product or foreign reference.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DirectoryEntry {
    pub id: String,
    pub source: String,
    pub name: String,
    pub sort_name: String,
    pub manufacturer: String,
    pub country: String,
    pub domestic: i64,
    pub clinical_area: String,
    pub risk_class: String,
    pub licence_status: String,
    pub modality: String,
    pub summary: String,
    pub updated_at: String,
}

const ENTRY_COLUMNS: &str = "id, source, name, sort_name, manufacturer, country, domestic, clinical_area, risk_class, licence_status, modality, summary, updated_at";

/// The facet dimensions of a directory search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Facet {
    ClinicalArea,
    RiskClass,
    LicenceStatus,
    Country,
    Domestic,
    Modality,
    Source,
}

impl Facet {
    pub const ALL: [Facet; 7] = [
        Facet::ClinicalArea,
        Facet::RiskClass,
        Facet::LicenceStatus,
        Facet::Country,
        Facet::Domestic,
        Facet::Modality,
        Facet::Source,
    ];
    /// The column, a compile-time constant (never user input).
    fn column(self) -> &'static str {
        match self {
            Facet::ClinicalArea => "clinical_area",
            Facet::RiskClass => "risk_class",
            Facet::LicenceStatus => "licence_status",
            Facet::Country => "country",
            Facet::Domestic => "CAST(domestic AS TEXT)",
            Facet::Modality => "modality",
            Facet::Source => "source",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Facet::ClinicalArea => "clinical_area",
            Facet::RiskClass => "risk_class",
            Facet::LicenceStatus => "licence_status",
            Facet::Country => "country",
            Facet::Domestic => "domestic",
            Facet::Modality => "modality",
            Facet::Source => "source",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DirectoryQuery {
    pub text: String,
    /// Facet filters: each facet may be given several values (OR within, AND across).
    pub filters: Vec<(Facet, Vec<String>)>,
    pub cursor: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FacetCount {
    pub value: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DirectoryPage {
    pub total: i64,
    pub facets: Vec<(Facet, Vec<FacetCount>)>,
    pub items: Vec<DirectoryEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DirectoryChange {
    pub seq: i64,
    pub at: String,
    pub entry_id: String,
    pub kind: String,
    pub title: String,
}

/// A model card's every problem in one `Invalid` error, as `field (code)` pairs.
fn check_card(card: &ModelCard) -> Result<(), StoreError> {
    card.validate().map_err(|errs| {
        let list: Vec<String> = errs
            .iter()
            .map(|e| format!("{} ({})", e.field, e.code))
            .collect();
        invalid("model_card", list.join(", "))
    })
}

impl Store {
    // ---- products and versions ----

    pub async fn create_product(
        &self,
        actor: &str,
        new: NewProduct,
    ) -> Result<Product, StoreError> {
        let name = new.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("name", "must be 1 to 200 characters"));
        }
        let country = new.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(invalid(
                "country",
                "use a two-letter ISO 3166 code such as VN",
            ));
        }
        let maker = self
            .organisation(&new.manufacturer_id)
            .await?
            .filter(|o| o.kind == "manufacturer")
            .ok_or_else(|| invalid("manufacturer", "no manufacturer organisation has this id"))?;
        let now = self.now_text();
        let product = Product {
            id: new_id(),
            manufacturer_id: maker.id,
            name,
            name_en: new
                .name_en
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            clinical_area: new.clinical_area.code().into(),
            input_modality: new.input_modality.code().into(),
            ai_kind: new.ai_kind.code().into(),
            domestic: i64::from(country == "VN"),
            country,
            licence_status: "not_licensed".into(),
            classification_json: None,
            risk_class: None,
            classification_status: "unclassified".into(),
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(sqlf!(
            "INSERT INTO products ({PRODUCT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(&product.id)
        .bind(&product.manufacturer_id)
        .bind(&product.name)
        .bind(&product.name_en)
        .bind(&product.clinical_area)
        .bind(&product.input_modality)
        .bind(&product.ai_kind)
        .bind(&product.country)
        .bind(product.domestic)
        .bind(&product.licence_status)
        .bind(&product.classification_json)
        .bind(&product.risk_class)
        .bind(&product.classification_status)
        .bind(&product.created_at)
        .bind(&product.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from(e).on_unique("product", &product.name))?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "product.create", "product", &product.id)
                .after(serde_json::to_value(&product).unwrap_or_default()),
        )
        .await?;
        tx.commit().await?;
        Ok(product)
    }

    pub async fn product(&self, id: &str) -> Result<Option<Product>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn products_of(&self, manufacturer_id: &str) -> Result<Vec<Product>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE manufacturer_id = $1 ORDER BY name"
        ))
        .bind(manufacturer_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn versions(&self, product_id: &str) -> Result<Vec<ProductVersion>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {VERSION_COLUMNS} FROM product_versions WHERE product_id = $1 ORDER BY created_at, id"
        ))
        .bind(product_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn version(&self, id: &str) -> Result<Option<ProductVersion>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {VERSION_COLUMNS} FROM product_versions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Draft versions of every product, oldest first: the reviewers' queue.
    pub async fn draft_versions(&self) -> Result<Vec<ProductVersion>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {VERSION_COLUMNS} FROM product_versions WHERE status = 'draft' ORDER BY created_at, id LIMIT 500"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    /// Adds a draft version with its model card.
    pub async fn create_version(
        &self,
        actor: &str,
        product_id: &str,
        label: &VersionLabel,
        card: &ModelCard,
    ) -> Result<ProductVersion, StoreError> {
        check_card(card)?;
        if self.product(product_id).await?.is_none() {
            return Err(StoreError::NotFound {
                what: "product",
                key: product_id.into(),
            });
        }
        let now = self.now_text();
        let v = ProductVersion {
            id: new_id(),
            product_id: product_id.into(),
            version: label.as_str().into(),
            status: VersionStatus::Draft.code().into(),
            model_card_json: serde_json::to_string(card)
                .map_err(|e| invalid("model_card", e.to_string()))?,
            created_at: now.clone(),
            published_at: None,
            withdrawn_at: None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(sqlf!(
            "INSERT INTO product_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)"
        ))
        .bind(&v.id)
        .bind(&v.product_id)
        .bind(&v.version)
        .bind(&v.status)
        .bind(&v.model_card_json)
        .bind(&v.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from(e).on_unique("version", &v.version))?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "version.create", "product_version", &v.id).after(
                json!({"product_id": v.product_id, "version": v.version, "model_card": card}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(v)
    }

    /// Replaces a draft's model card; published versions are immutable.
    pub async fn update_version_card(
        &self,
        actor: &str,
        version_id: &str,
        card: &ModelCard,
    ) -> Result<ProductVersion, StoreError> {
        check_card(card)?;
        let before = self.require_version(version_id).await?;
        version_transition(before.status(), VersionCommand::Edit)
            .map_err(|e| invalid("version", e.to_string()))?;
        let json_text =
            serde_json::to_string(card).map_err(|e| invalid("model_card", e.to_string()))?;
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        // The status condition makes a concurrent publish win cleanly.
        let n = sqlx::query(
            "UPDATE product_versions SET model_card_json = $1 WHERE id = $2 AND status = 'draft'",
        )
        .bind(&json_text)
        .bind(version_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Err(invalid(
                "version",
                "a published version cannot be edited: create a new version",
            ));
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "version.edit", "product_version", version_id)
                .before(serde_json::from_str(&before.model_card_json).unwrap_or_default())
                .after(serde_json::from_str(&json_text).unwrap_or_default()),
        )
        .await?;
        tx.commit().await?;
        self.require_version(version_id).await
    }

    async fn require_version(&self, id: &str) -> Result<ProductVersion, StoreError> {
        self.version(id).await?.ok_or_else(|| StoreError::NotFound {
            what: "version",
            key: id.into(),
        })
    }

    /// Publishes or withdraws a version and refreshes the product's directory entry.
    pub async fn change_version_status(
        &self,
        actor: &str,
        version_id: &str,
        cmd: VersionCommand,
    ) -> Result<ProductVersion, StoreError> {
        let before = self.require_version(version_id).await?;
        let to = version_transition(before.status(), cmd)
            .map_err(|e| invalid("version", e.to_string()))?;
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let (sql, action) = match to {
            VersionStatus::Published => (
                "UPDATE product_versions SET status = 'published', published_at = $1 WHERE id = $2 AND status = $3",
                "version.publish",
            ),
            VersionStatus::Withdrawn => (
                "UPDATE product_versions SET status = 'withdrawn', withdrawn_at = $1 WHERE id = $2 AND status = $3",
                "version.withdraw",
            ),
            VersionStatus::Draft => return Err(invalid("version", "no change")),
        };
        let n = sqlx::query(sql)
            .bind(&now)
            .bind(version_id)
            .bind(&before.status)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Err(invalid(
                "version",
                "the version changed meanwhile; reload and try again",
            ));
        }
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, action, "product_version", version_id)
                .before(json!({"status": before.status}))
                .after(json!({"status": to.code()})),
        )
        .await?;
        let kind = if to == VersionStatus::Published {
            "version_published"
        } else {
            "version_withdrawn"
        };
        refresh_product_entry(&mut tx, &now, &before.product_id, kind).await?;
        tx.commit().await?;
        self.require_version(version_id).await
    }

    /// Records the product's risk classification (computed, confirmed or overridden).
    pub async fn set_classification(
        &self,
        actor: &str,
        product_id: &str,
        classification: &serde_json::Value,
        risk_class: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        if !matches!(risk_class, "A" | "B" | "C" | "D") {
            return Err(invalid("risk_class", "must be A, B, C or D"));
        }
        if !matches!(status, "computed" | "confirmed" | "overridden") {
            return Err(invalid(
                "classification_status",
                "must be computed, confirmed or overridden",
            ));
        }
        let before = self
            .product(product_id)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "product",
                key: product_id.into(),
            })?;
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE products SET classification_json = $1, risk_class = $2, classification_status = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(classification.to_string())
        .bind(risk_class)
        .bind(status)
        .bind(&now)
        .bind(product_id)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "product.classify", "product", product_id)
                .before(json!({"risk_class": before.risk_class, "status": before.classification_status,
                    "classification": before.classification_json.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())}))
                .after(json!({"risk_class": risk_class, "status": status, "classification": classification})),
        )
        .await?;
        refresh_product_entry(&mut tx, &now, product_id, "classified").await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- foreign references ----

    /// Creates or updates entries of a foreign list in one transaction: nothing
    /// is half-imported. Entries absent from this list are kept and reported.
    pub async fn import_references(
        &self,
        actor: &str,
        source: EntrySource,
        list_label: &str,
        records: &[ReferenceRecord],
    ) -> Result<ImportReport, StoreError> {
        let now = self.now_text();
        let mut seen = std::collections::HashSet::new();
        for r in records {
            if !seen.insert(r.reference.as_str()) {
                return Err(invalid(
                    "reference",
                    format!("{} appears twice in the list", r.reference),
                ));
            }
        }
        let mut tx = self.begin_write().await?;
        let existing: Vec<ForeignReference> = sqlx::query_as(sqlf!(
            "SELECT {REFERENCE_COLUMNS} FROM foreign_references WHERE source = $1"
        ))
        .bind(source.code())
        .fetch_all(&mut *tx)
        .await?;
        let by_ref: std::collections::HashMap<&str, &ForeignReference> =
            existing.iter().map(|r| (r.reference.as_str(), r)).collect();
        let mut report = ImportReport::default();
        for r in records {
            match by_ref.get(r.reference.as_str()) {
                Some(old)
                    if old.device == r.device
                        && old.company == r.company
                        && old.panel == r.panel
                        && old.product_code == r.product_code
                        && old.decision_date == r.decision_date =>
                {
                    report.unchanged += 1;
                }
                Some(old) => {
                    sqlx::query(
                        "UPDATE foreign_references SET device = $1, company = $2, panel = $3, product_code = $4, \
                         decision_date = $5, list_label = $6, updated_at = $7 WHERE id = $8",
                    )
                    .bind(&r.device)
                    .bind(&r.company)
                    .bind(&r.panel)
                    .bind(&r.product_code)
                    .bind(&r.decision_date)
                    .bind(list_label)
                    .bind(&now)
                    .bind(&old.id)
                    .execute(&mut *tx)
                    .await?;
                    refresh_reference_entry(&mut tx, &now, &old.id, "reference_changed").await?;
                    report.changed.push(r.reference.clone());
                }
                None => {
                    let id = new_id();
                    sqlx::query(sqlf!(
                        "INSERT INTO foreign_references ({REFERENCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)"
                    ))
                    .bind(&id)
                    .bind(source.code())
                    .bind(&r.reference)
                    .bind(&r.device)
                    .bind(&r.company)
                    .bind(&r.panel)
                    .bind(&r.product_code)
                    .bind(&r.decision_date)
                    .bind(list_label)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await?;
                    refresh_reference_entry(&mut tx, &now, &id, "reference_added").await?;
                    report.added.push(r.reference.clone());
                }
            }
        }
        let incoming: std::collections::HashSet<&str> =
            records.iter().map(|r| r.reference.as_str()).collect();
        report.missing = existing
            .iter()
            .filter(|e| !incoming.contains(e.reference.as_str()))
            .map(|e| e.reference.clone())
            .collect();
        report.missing.sort();
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "directory.import", "foreign_list", source.code()).after(json!({
                "list": list_label, "added": report.added.len(), "changed": report.changed.len(),
                "unchanged": report.unchanged, "missing": report.missing.len(),
            })),
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }

    pub async fn foreign_reference(
        &self,
        id: &str,
    ) -> Result<Option<ForeignReference>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {REFERENCE_COLUMNS} FROM foreign_references WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn foreign_reference_by_number(
        &self,
        source: EntrySource,
        reference: &str,
    ) -> Result<Option<ForeignReference>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {REFERENCE_COLUMNS} FROM foreign_references WHERE source = $1 AND reference = $2"
        ))
        .bind(source.code())
        .bind(reference.trim())
        .fetch_optional(self.pool())
        .await?)
    }

    /// Links a local product to a foreign entry as evidence of reliance.
    pub async fn link_reliance(
        &self,
        actor: &str,
        product_id: &str,
        reference_id: &str,
        rationale: &str,
    ) -> Result<Reliance, StoreError> {
        let rationale = rationale.trim();
        if rationale.chars().count() < 10 {
            return Err(invalid(
                "rationale",
                "explain the reliance in at least 10 characters",
            ));
        }
        if self.product(product_id).await?.is_none() {
            return Err(StoreError::NotFound {
                what: "product",
                key: product_id.into(),
            });
        }
        if self.foreign_reference(reference_id).await?.is_none() {
            return Err(StoreError::NotFound {
                what: "foreign reference",
                key: reference_id.into(),
            });
        }
        let now = self.now_text();
        let link = Reliance {
            product_id: product_id.into(),
            reference_id: reference_id.into(),
            rationale: rationale.into(),
            created_by: actor.into(),
            created_at: now.clone(),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO product_reliance (product_id, reference_id, rationale, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&link.product_id)
        .bind(&link.reference_id)
        .bind(&link.rationale)
        .bind(&link.created_by)
        .bind(&link.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from(e).on_unique("reliance link", reference_id))?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "product.reliance", "product", product_id)
                .after(json!({"reference_id": reference_id, "rationale": rationale})),
        )
        .await?;
        tx.commit().await?;
        Ok(link)
    }

    pub async fn reliance_of(
        &self,
        product_id: &str,
    ) -> Result<Vec<(Reliance, ForeignReference)>, StoreError> {
        let links: Vec<Reliance> = sqlx::query_as(
            "SELECT product_id, reference_id, rationale, created_by, created_at FROM product_reliance WHERE product_id = $1 ORDER BY created_at",
        )
        .bind(product_id)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(links.len());
        for l in links {
            if let Some(r) = self.foreign_reference(&l.reference_id).await? {
                out.push((l, r));
            }
        }
        Ok(out)
    }

    // ---- search (the search itself is in `search.rs`) ----

    pub async fn directory_entry(&self, id: &str) -> Result<Option<DirectoryEntry>, StoreError> {
        Ok(sqlx::query_as(sqlf!(
            "SELECT {ENTRY_COLUMNS} FROM directory_entries WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Changes to the public directory after `after_seq`, oldest first.
    pub async fn directory_changes(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<DirectoryChange>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, at, entry_id, kind, title FROM directory_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.pool())
        .await?)
    }

    /// The newest changes first, for a feed.
    pub async fn recent_directory_changes(
        &self,
        limit: i64,
    ) -> Result<Vec<DirectoryChange>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT seq, at, entry_id, kind, title FROM directory_changes ORDER BY seq DESC LIMIT $1",
        )
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.pool())
        .await?)
    }
}

pub(crate) async fn record_change(
    conn: &mut AnyConnection,
    at: &str,
    entry_id: &str,
    kind: &str,
    title: &str,
) -> Result<(), StoreError> {
    // Search caches trust MAX(seq) to name everything committed, so numbers must
    // be taken in commit order. PostgreSQL hands out identity values at insert,
    // not at commit; taking the audit head's row lock first (every directory
    // write appends to the audit trail, which takes the same lock, and holds it
    // to commit) serialises the numbering. On SQLite BEGIN IMMEDIATE already
    // serialises writers and this update changes nothing.
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO directory_changes (at, entry_id, kind, title) VALUES ($1, $2, $3, $4)",
    )
    .bind(at)
    .bind(entry_id)
    .bind(kind)
    .bind(title)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes (or removes) a product's directory entry: a product is public once it
/// has a published version.
pub(crate) async fn refresh_product_entry(
    conn: &mut AnyConnection,
    now: &str,
    product_id: &str,
    kind: &str,
) -> Result<(), StoreError> {
    let product: Option<Product> = sqlx::query_as(sqlf!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1"
    ))
    .bind(product_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(p) = product else { return Ok(()) };
    let latest: Option<ProductVersion> = sqlx::query_as(sqlf!(
        "SELECT {VERSION_COLUMNS} FROM product_versions WHERE product_id = $1 AND status = 'published' \
         ORDER BY published_at DESC, id DESC LIMIT 1"
    ))
    .bind(product_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(version) = latest else {
        let removed = sqlx::query("DELETE FROM directory_entries WHERE id = $1")
            .bind(product_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if removed > 0 {
            record_change(conn, now, product_id, "removed", &p.name).await?;
        }
        return Ok(());
    };
    let maker: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT name, name_en FROM organisations WHERE id = $1")
            .bind(&p.manufacturer_id)
            .fetch_optional(&mut *conn)
            .await?;
    let (maker_name, maker_en) = maker.unwrap_or_default();
    let card = version.model_card();
    let area: Option<ClinicalArea> = p.clinical_area.parse().ok();
    let modality: Option<InputModality> = p.input_modality.parse().ok();
    let mut words = vec![
        p.name.clone(),
        p.name_en.clone().unwrap_or_default(),
        maker_name.clone(),
        maker_en.unwrap_or_default(),
    ];
    if let Some(a) = area {
        words.push(a.label(Lang::Vi).into());
        words.push(a.label(Lang::En).into());
    }
    if let Some(m) = modality {
        words.push(m.label(Lang::Vi).into());
        words.push(m.label(Lang::En).into());
    }
    let summary = match &card {
        Some(c) => {
            words.push(c.intended_use.clone());
            words.push(c.intended_use_en.clone());
            words.push(c.target_population.clone());
            c.intended_use.chars().take(300).collect()
        }
        None => String::new(),
    };
    let entry = DirectoryEntry {
        id: p.id.clone(),
        source: EntrySource::Local.code().into(),
        name: p.name.clone(),
        sort_name: fold(&p.name),
        manufacturer: maker_name,
        country: p.country.clone(),
        domestic: p.domestic,
        clinical_area: p.clinical_area.clone(),
        risk_class: p
            .risk_class
            .clone()
            .unwrap_or_else(|| "unclassified".into()),
        licence_status: p.licence_status.clone(),
        modality: p.input_modality.clone(),
        summary,
        updated_at: now.into(),
    };
    upsert_entry(conn, &entry, &fold(&words.join(" "))).await?;
    record_change(conn, now, &p.id, kind, &p.name).await
}

async fn refresh_reference_entry(
    conn: &mut AnyConnection,
    now: &str,
    id: &str,
    kind: &str,
) -> Result<(), StoreError> {
    let r: ForeignReference = sqlx::query_as(sqlf!(
        "SELECT {REFERENCE_COLUMNS} FROM foreign_references WHERE id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    // FDA's list names the review panel, not the clinical area; radiology maps
    // directly, the rest stays "other" until a reviewer links a local product.
    let area = if r.panel.eq_ignore_ascii_case("radiology") {
        ClinicalArea::Radiology
    } else {
        ClinicalArea::Other
    };
    let summary = format!(
        "{} · {} · {} · {}",
        r.reference, r.panel, r.product_code, r.decision_date
    );
    let entry = DirectoryEntry {
        id: r.id.clone(),
        source: r.source.clone(),
        name: r.device.clone(),
        sort_name: fold(&r.device),
        manufacturer: r.company.clone(),
        country: "unknown".into(),
        domestic: 0,
        clinical_area: area.code().into(),
        risk_class: "unclassified".into(),
        licence_status: "not_licensed".into(),
        modality: "other".into(),
        summary,
        updated_at: now.into(),
    };
    let text = fold(&format!(
        "{} {} {} {} {} {} {}",
        r.device,
        r.company,
        r.reference,
        r.panel,
        r.product_code,
        area.label(Lang::Vi),
        area.label(Lang::En)
    ));
    upsert_entry(conn, &entry, &text).await?;
    record_change(conn, now, &r.id, kind, &r.device).await
}

pub(crate) async fn upsert_entry(
    conn: &mut AnyConnection,
    e: &DirectoryEntry,
    search_text: &str,
) -> Result<(), StoreError> {
    sqlx::query(sqlf!(
        "INSERT INTO directory_entries ({ENTRY_COLUMNS}, search_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (id) DO UPDATE SET source = excluded.source, name = excluded.name, sort_name = excluded.sort_name, \
         manufacturer = excluded.manufacturer, country = excluded.country, domestic = excluded.domestic, \
         clinical_area = excluded.clinical_area, risk_class = excluded.risk_class, licence_status = excluded.licence_status, \
         modality = excluded.modality, summary = excluded.summary, updated_at = excluded.updated_at, search_text = excluded.search_text"
    ))
    .bind(&e.id)
    .bind(&e.source)
    .bind(&e.name)
    .bind(&e.sort_name)
    .bind(&e.manufacturer)
    .bind(&e.country)
    .bind(e.domestic)
    .bind(&e.clinical_area)
    .bind(&e.risk_class)
    .bind(&e.licence_status)
    .bind(&e.modality)
    .bind(&e.summary)
    .bind(&e.updated_at)
    .bind(search_text)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
