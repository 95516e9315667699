//! The directory entry GRN members exchange: a product in a member's public register, with
//! what another regulator needs to rely on that assessment (manufacturer, intended use, risk
//! class, licence status, versions), and the page to read more. Public by nature: nothing in
//! it is personal, and the same facts are on the origin's public directory page.
//!
//! A received entry is read strictly ([`SharedDirectoryEntry::from_payload`]): unknown
//! fields, another schema, empty names and oversized text are refused, so a peer cannot
//! slip a document into the register that its own directory could not have produced.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The payload schema this code writes and reads.
pub const DIRECTORY_SCHEMA: &str = "vigilo-directory-entry/1";
const MAX_SHORT: usize = 300;
const MAX_TEXT: usize = 4000;
const MAX_VERSIONS: usize = 100;

/// The payload of a `directory_entry` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedDirectoryEntry {
    pub schema: String,
    /// The product's name in the origin's register, and its English name when it has one.
    pub name: String,
    pub name_en: Option<String>,
    pub manufacturer: String,
    /// Where the manufacturer is established (ISO 3166-1 alpha-2 where known).
    pub manufacturer_country: String,
    /// Vigilo vocabulary codes (`directory::ClinicalArea`, `InputModality`, `AiKind`,
    /// `LicenceStatus`); a receiver reads a code it does not know as "other".
    pub clinical_area: String,
    pub input_modality: String,
    pub ai_kind: String,
    /// The origin's risk class (e.g. `C` in Vietnam's device classes), `unclassified` when
    /// not yet classified.
    pub risk_class: String,
    pub licence_status: String,
    /// Intended use as the manufacturer states it in the published model card.
    pub intended_use: String,
    pub intended_use_en: String,
    /// Published versions, newest last.
    pub versions: Vec<String>,
    /// The product's public page on the origin node.
    pub page_url: Option<String>,
}

/// Why a received directory entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryEntryError {
    #[error("not a directory entry: {0}")]
    Shape(String),
    #[error("unsupported schema '{0}'")]
    Schema(String),
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("more than {MAX_VERSIONS} versions")]
    TooManyVersions,
    #[error("page_url is not an http(s) URL")]
    PageUrl,
}

impl SharedDirectoryEntry {
    /// An entry that names only the product and its manufacturer; the rest says "not known"
    /// in the directory's vocabularies.
    pub fn new(name: &str, manufacturer: &str) -> SharedDirectoryEntry {
        SharedDirectoryEntry {
            schema: DIRECTORY_SCHEMA.into(),
            name: name.into(),
            name_en: None,
            manufacturer: manufacturer.into(),
            manufacturer_country: String::new(),
            clinical_area: "other".into(),
            input_modality: "other".into(),
            ai_kind: "locked".into(),
            risk_class: "unclassified".into(),
            licence_status: "not_licensed".into(),
            intended_use: String::new(),
            intended_use_en: String::new(),
            versions: Vec::new(),
            page_url: None,
        }
    }

    /// The payload as JSON for an item.
    pub fn to_payload(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads a received payload strictly.
    pub fn from_payload(payload: &Value) -> Result<SharedDirectoryEntry, DirectoryEntryError> {
        let e: SharedDirectoryEntry = serde_json::from_value(payload.clone())
            .map_err(|e| DirectoryEntryError::Shape(e.to_string().chars().take(300).collect()))?;
        e.check()?;
        Ok(e)
    }

    /// The limits a sender and a receiver both hold to.
    pub fn check(&self) -> Result<(), DirectoryEntryError> {
        if self.schema != DIRECTORY_SCHEMA {
            return Err(DirectoryEntryError::Schema(
                self.schema.chars().take(60).collect(),
            ));
        }
        for (field, value) in [("name", &self.name), ("manufacturer", &self.manufacturer)] {
            if value.trim().is_empty() {
                return Err(DirectoryEntryError::Empty { field });
            }
        }
        let short: [(&'static str, &str); 9] = [
            ("name", &self.name),
            ("name_en", self.name_en.as_deref().unwrap_or("")),
            ("manufacturer", &self.manufacturer),
            ("manufacturer_country", &self.manufacturer_country),
            ("clinical_area", &self.clinical_area),
            ("input_modality", &self.input_modality),
            ("ai_kind", &self.ai_kind),
            ("risk_class", &self.risk_class),
            ("licence_status", &self.licence_status),
        ];
        for (field, value) in short {
            if value.chars().count() > MAX_SHORT {
                return Err(DirectoryEntryError::TooLong {
                    field,
                    max: MAX_SHORT,
                });
            }
        }
        for (field, value) in [
            ("intended_use", &self.intended_use),
            ("intended_use_en", &self.intended_use_en),
        ] {
            if value.chars().count() > MAX_TEXT {
                return Err(DirectoryEntryError::TooLong {
                    field,
                    max: MAX_TEXT,
                });
            }
        }
        if self.versions.len() > MAX_VERSIONS {
            return Err(DirectoryEntryError::TooManyVersions);
        }
        if self.versions.iter().any(|v| v.chars().count() > 100) {
            return Err(DirectoryEntryError::TooLong {
                field: "versions",
                max: 100,
            });
        }
        if let Some(url) = &self.page_url {
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.chars().count() > 2000 || url.chars().any(char::is_whitespace) {
                return Err(DirectoryEntryError::PageUrl);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn entry() -> SharedDirectoryEntry {
        SharedDirectoryEntry {
            schema: DIRECTORY_SCHEMA.into(),
            name: "LaoScan CXR".into(),
            name_en: Some("LaoScan chest X-ray".into()),
            manufacturer: "Công ty Minh An".into(),
            manufacturer_country: "VN".into(),
            clinical_area: "tuberculosis_screening".into(),
            input_modality: "imaging".into(),
            ai_kind: "locked".into(),
            risk_class: "C".into(),
            licence_status: "active".into(),
            intended_use: "Sàng lọc lao trên phim X-quang ngực.".into(),
            intended_use_en: "Tuberculosis screening on chest X-rays.".into(),
            versions: vec!["1.0".into(), "1.1".into()],
            page_url: Some("https://vigilo.example.vn/directory/01a2".into()),
        }
    }

    #[test]
    fn a_payload_reads_back_equal() {
        let e = entry();
        assert_eq!(SharedDirectoryEntry::from_payload(&e.to_payload()), Ok(e));
    }

    #[test]
    fn refuses_what_a_directory_could_not_have_produced() {
        let mut v = entry().to_payload();
        v["narrative"] = json!("patient Nguyễn Văn A");
        assert!(matches!(
            SharedDirectoryEntry::from_payload(&v),
            Err(DirectoryEntryError::Shape(_))
        ));
        type Change = fn(&mut SharedDirectoryEntry);
        let cases: Vec<(Change, DirectoryEntryError)> = vec![
            (
                |e| e.schema = "vigilo-directory-entry/2".into(),
                DirectoryEntryError::Schema("vigilo-directory-entry/2".into()),
            ),
            (
                |e| e.name = "  ".into(),
                DirectoryEntryError::Empty { field: "name" },
            ),
            (
                |e| e.manufacturer = String::new(),
                DirectoryEntryError::Empty {
                    field: "manufacturer",
                },
            ),
            (
                |e| e.risk_class = "x".repeat(301),
                DirectoryEntryError::TooLong {
                    field: "risk_class",
                    max: 300,
                },
            ),
            (
                |e| e.intended_use_en = "é".repeat(4001),
                DirectoryEntryError::TooLong {
                    field: "intended_use_en",
                    max: 4000,
                },
            ),
            (
                |e| e.versions = vec!["1".into(); 101],
                DirectoryEntryError::TooManyVersions,
            ),
            (
                |e| e.page_url = Some("javascript:alert(1)".into()),
                DirectoryEntryError::PageUrl,
            ),
            (
                |e| e.page_url = Some("https://a.example/x y".into()),
                DirectoryEntryError::PageUrl,
            ),
        ];
        for (change, want) in cases {
            let mut e = entry();
            change(&mut e);
            assert_eq!(
                SharedDirectoryEntry::from_payload(&e.to_payload()),
                Err(want)
            );
        }
        // Exactly at the limits is accepted.
        let mut e = entry();
        e.intended_use = "ế".repeat(4000);
        e.versions = vec!["v".repeat(100); 100];
        assert!(SharedDirectoryEntry::from_payload(&e.to_payload()).is_ok());
    }

    proptest! {
        /// Whatever JSON a peer sends, reading it never panics, and what is accepted holds
        /// the limits and writes back to the same payload.
        #[test]
        fn any_name_and_use_either_reads_back_or_is_refused(
            name in "\\PC{0,320}", use_en in "\\PC{0,50}", versions in prop::collection::vec("[0-9.]{0,5}", 0..5)
        ) {
            let mut e = entry();
            e.name = name;
            e.intended_use_en = use_en;
            e.versions = versions;
            match SharedDirectoryEntry::from_payload(&e.to_payload()) {
                Ok(back) => {
                    prop_assert!(!back.name.trim().is_empty() && back.name.chars().count() <= 300);
                    prop_assert_eq!(back.to_payload(), e.to_payload());
                }
                Err(err) => prop_assert!(e.name.trim().is_empty() || e.name.chars().count() > 300, "{err}"),
            }
        }
    }
}
