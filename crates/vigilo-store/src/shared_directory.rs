//! The directory as GRN members share it: this node's public entries as the payloads it
//! publishes (`directory_entry` items), and peers' entries received into the register as
//! foreign entries (source `grn_peer`), searchable and linkable for reliance like FDA's.

use crate::directory::{
    record_change, upsert_entry, DirectoryEntry, ProductVersion, VERSION_COLUMNS,
};
use crate::{Store, StoreError};
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use std::collections::HashMap;
use vigilo_core::directory::{ClinicalArea, EntrySource, InputModality, LicenceStatus};
use vigilo_core::federation::{SharedDirectoryEntry, DIRECTORY_SCHEMA};
use vigilo_core::text::fold;
use vigilo_core::Lang;

/// The feed id of a local product's directory entry.
pub fn directory_item_id(product_id: &str) -> String {
    format!("product-{product_id}")
}

/// The register id of an entry received from a peer: stable for the origin country and
/// item id (a member that replaces its node key keeps its entries).
pub fn received_entry_id(country: &str, item_id: &str) -> String {
    let digest = Sha256::digest(format!("{country}/{item_id}").as_bytes());
    format!("grn-{}", &hex::encode(digest)[..24])
}

/// The reference under which a received entry is listed (`SG:product-…`).
pub fn received_reference(country: &str, item_id: &str) -> String {
    format!("{country}:{item_id}")
}

impl Store {
    /// Every local product in the public directory, as the entry this node shares, keyed by
    /// product id. `page_base` is this node's public base URL, for the link to the page.
    pub async fn local_directory_shares(
        &self,
        page_base: Option<&str>,
    ) -> Result<Vec<(String, SharedDirectoryEntry)>, StoreError> {
        type Row = (
            String,
            String,
            Option<String>,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT p.id, p.name, p.name_en, o.name, p.country, p.clinical_area, p.input_modality, \
             p.ai_kind, COALESCE(p.risk_class, 'unclassified'), p.licence_status \
             FROM directory_entries e JOIN products p ON p.id = e.id \
             JOIN organisations o ON o.id = p.manufacturer_id \
             WHERE e.source = 'local' ORDER BY p.id",
        )
        .fetch_all(self.pool())
        .await?;
        let versions: Vec<ProductVersion> = sqlx::query_as(sqlf!(
            "SELECT {VERSION_COLUMNS} FROM product_versions WHERE status = 'published' \
             ORDER BY product_id, published_at, id"
        ))
        .fetch_all(self.pool())
        .await?;
        let mut by_product: HashMap<&str, Vec<&ProductVersion>> = HashMap::new();
        for v in &versions {
            by_product.entry(v.product_id.as_str()).or_default().push(v);
        }
        let base = page_base.map(|b| b.trim_end_matches('/'));
        Ok(rows
            .into_iter()
            .map(|r| {
                let published = by_product.get(r.0.as_str()).cloned().unwrap_or_default();
                let card = published.last().and_then(|v| v.model_card());
                let entry = SharedDirectoryEntry {
                    schema: DIRECTORY_SCHEMA.into(),
                    name: r.1,
                    name_en: r.2,
                    manufacturer: r.3,
                    manufacturer_country: r.4,
                    clinical_area: r.5,
                    input_modality: r.6,
                    ai_kind: r.7,
                    risk_class: r.8,
                    licence_status: r.9,
                    intended_use: card
                        .as_ref()
                        .map(|c| c.intended_use.chars().take(4000).collect())
                        .unwrap_or_default(),
                    intended_use_en: card
                        .as_ref()
                        .map(|c| c.intended_use_en.chars().take(4000).collect())
                        .unwrap_or_default(),
                    versions: published
                        .iter()
                        .rev()
                        .take(100)
                        .rev()
                        .map(|v| v.version.chars().take(100).collect())
                        .collect(),
                    page_url: base.map(|b| format!("{b}/directory/{}", r.0)),
                };
                (r.0, entry)
            })
            .collect())
    }

    /// The payload of the newest published version of each directory item of this node,
    /// or `None` for an item whose newest version is a retraction.
    pub async fn published_directory_payloads(
        &self,
    ) -> Result<HashMap<String, Option<serde_json::Value>>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT item_id, item_type, wire FROM fed_published WHERE superseded = 0 \
             AND item_id LIKE 'product-%'",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, t, wire)| {
                let payload = (t == "directory_entry")
                    .then(|| {
                        serde_json::from_str::<serde_json::Value>(&wire)
                            .ok()
                            .and_then(|v| v.get("payload").cloned())
                    })
                    .flatten();
                (id, payload)
            })
            .collect())
    }

    /// A received entry by its register id, with the shared payload and where it came from
    /// (origin country, peer name, issue time, version).
    pub async fn received_directory_entry(
        &self,
        entry_id: &str,
    ) -> Result<Option<ReceivedDirectoryEntry>, StoreError> {
        let Some((reference, device, company, panel, product_code)) =
            sqlx::query_as::<_, (String, String, String, String, String)>(
                "SELECT reference, device, company, panel, product_code FROM foreign_references \
             WHERE id = $1 AND source = $2",
            )
            .bind(entry_id)
            .bind(EntrySource::GrnPeer.code())
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let Some((country, item_id)) = reference
            .split_once(':')
            .map(|(c, i)| (c.to_string(), i.to_string()))
        else {
            return Ok(None);
        };
        let row: Option<(String, String, i64, String, i64)> = sqlx::query_as(
            "SELECT r.wire, p.name, r.version, r.issued_at, r.hidden FROM fed_received r \
             JOIN fed_peers p ON p.id = r.peer_id \
             WHERE r.origin_country = $1 AND r.item_id = $2 ORDER BY r.issued_at DESC LIMIT 1",
        )
        .bind(&country)
        .bind(&item_id)
        .fetch_optional(self.pool())
        .await?;
        let Some((wire, peer_name, version, issued_at, hidden)) = row else {
            return Ok(None);
        };
        let entry = serde_json::from_str::<serde_json::Value>(&wire)
            .ok()
            .and_then(|v| v.get("payload").cloned())
            .and_then(|p| SharedDirectoryEntry::from_payload(&p).ok())
            // Retracted: the stored item is the retraction; what the register kept of the
            // entry (name, manufacturer, area, risk class) still says what was relied on.
            .or_else(|| {
                (hidden != 0).then(|| SharedDirectoryEntry {
                    schema: DIRECTORY_SCHEMA.into(),
                    name: device,
                    name_en: None,
                    manufacturer: company,
                    manufacturer_country: String::new(),
                    clinical_area: panel,
                    input_modality: String::new(),
                    ai_kind: String::new(),
                    risk_class: product_code,
                    licence_status: String::new(),
                    intended_use: String::new(),
                    intended_use_en: String::new(),
                    versions: Vec::new(),
                    page_url: None,
                })
            });
        Ok(entry.map(|entry| ReceivedDirectoryEntry {
            id: entry_id.into(),
            reference,
            country,
            peer_name,
            version,
            issued_at,
            withdrawn: hidden != 0,
            entry,
        }))
    }
}

/// A peer's directory entry as this node holds it.
#[derive(Debug, Clone)]
pub struct ReceivedDirectoryEntry {
    pub id: String,
    pub reference: String,
    pub country: String,
    pub peer_name: String,
    pub version: i64,
    pub issued_at: String,
    /// Retracted by its origin: kept for reliance records, gone from search.
    pub withdrawn: bool,
    pub entry: SharedDirectoryEntry,
}

/// Writes a received entry into the register (inside the sync page's transaction).
pub(crate) async fn put_received_entry(
    conn: &mut AnyConnection,
    now: &str,
    country: &str,
    item_id: &str,
    issued_on: &str,
    e: &SharedDirectoryEntry,
) -> Result<(), StoreError> {
    let id = received_entry_id(country, item_id);
    let reference = received_reference(country, item_id);
    // A code this build does not know reads as "other" (or not licensed).
    let area = e
        .clinical_area
        .parse::<ClinicalArea>()
        .unwrap_or(ClinicalArea::Other);
    let modality = e
        .input_modality
        .parse::<InputModality>()
        .unwrap_or(InputModality::OtherModality);
    let licence = e
        .licence_status
        .parse::<LicenceStatus>()
        .unwrap_or(LicenceStatus::NotLicensed);
    let list_label = format!("GRN {country}");
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id FROM foreign_references WHERE id = $1")
            .bind(&id)
            .fetch_optional(&mut *conn)
            .await?;
    if existing.is_some() {
        sqlx::query(
            "UPDATE foreign_references SET device = $1, company = $2, panel = $3, product_code = $4, \
             decision_date = $5, list_label = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(&e.name)
        .bind(&e.manufacturer)
        .bind(area.code())
        .bind(&e.risk_class)
        .bind(issued_on)
        .bind(&list_label)
        .bind(now)
        .bind(&id)
        .execute(&mut *conn)
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO foreign_references (id, source, reference, device, company, panel, product_code, \
             decision_date, list_label, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(&id)
        .bind(EntrySource::GrnPeer.code())
        .bind(&reference)
        .bind(&e.name)
        .bind(&e.manufacturer)
        .bind(area.code())
        .bind(&e.risk_class)
        .bind(issued_on)
        .bind(&list_label)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let summary: String = if e.intended_use_en.is_empty() {
        e.intended_use.chars().take(300).collect()
    } else {
        e.intended_use_en.chars().take(300).collect()
    };
    let text = fold(
        &[
            e.name.as_str(),
            e.name_en.as_deref().unwrap_or(""),
            e.manufacturer.as_str(),
            e.intended_use.as_str(),
            e.intended_use_en.as_str(),
            reference.as_str(),
            area.label(Lang::Vi),
            area.label(Lang::En),
            modality.label(Lang::Vi),
            modality.label(Lang::En),
        ]
        .join(" "),
    );
    let entry = DirectoryEntry {
        id: id.clone(),
        source: EntrySource::GrnPeer.code().into(),
        name: e.name.clone(),
        sort_name: fold(&e.name),
        manufacturer: e.manufacturer.clone(),
        country: e.manufacturer_country.clone(),
        domestic: 0,
        clinical_area: area.code().into(),
        risk_class: e.risk_class.clone(),
        licence_status: licence.code().into(),
        modality: modality.code().into(),
        summary,
        updated_at: now.into(),
    };
    upsert_entry(conn, &entry, &text).await?;
    let kind = if existing.is_some() {
        "reference_changed"
    } else {
        "reference_added"
    };
    record_change(conn, now, &id, kind, &e.name).await
}

/// Takes a retracted entry out of the register's search; its reference row stays, so
/// reliance records that cite it keep their evidence.
pub(crate) async fn remove_received_entry(
    conn: &mut AnyConnection,
    now: &str,
    country: &str,
    item_id: &str,
) -> Result<(), StoreError> {
    let id = received_entry_id(country, item_id);
    let name: Option<String> =
        sqlx::query_scalar("DELETE FROM directory_entries WHERE id = $1 RETURNING name")
            .bind(&id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(name) = name {
        record_change(conn, now, &id, "removed", &name).await?;
    }
    Ok(())
}
