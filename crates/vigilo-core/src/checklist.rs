//! Checklists as data: versioned frameworks (dossier checklists such as IMDRF GMLP and the
//! Vietnam dossier list, and readiness frameworks for the Navigator), answers and reviewer
//! assessments against them, dossier completeness for a given product, and maturity scoring.
//!
//! Frameworks are TOML files in `crates/vigilo-core/frameworks/<id>/v<version>.toml`, embedded
//! with `include_str!` and parsed once at start-up ([`Catalog::builtin`]); [`parse_framework`]
//! takes any `&str` so tests can feed broken files. A published file is never edited: a new
//! version is a new file, and every version stays in the catalog, so answers, which are keyed by
//! framework id + version + item id, never break. The format, the scoring rule and the sources
//! are in `docs/checklists.md`; keep the two in step.
//!
//! Pure code: no I/O, no clock, no environment.

use crate::classification::{IntendedUsers, VnAiTier, VnDeviceClass};
use crate::directory::AiKind;
use crate::Lang;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// The frameworks shipped with Vigilo: (file name relative to `frameworks/`, content).
/// Publishing a new version means adding a line here; old lines are never removed.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    (
        "imdrf-gmlp/v1.toml",
        include_str!("../frameworks/imdrf-gmlp/v1.toml"),
    ),
    (
        "vn-dossier/v1.toml",
        include_str!("../frameworks/vn-dossier/v1.toml"),
    ),
    (
        "who-ai-considerations/v1.toml",
        include_str!("../frameworks/who-ai-considerations/v1.toml"),
    ),
    (
        "navigator-readiness/v1.toml",
        include_str!("../frameworks/navigator-readiness/v1.toml"),
    ),
];

/// Blueprints a readiness item may point to (the Navigator's downloadable templates).
/// A typo in a framework file is caught at start-up instead of showing a dead link.
pub const BLUEPRINT_IDS: &[&str] = &[
    "blueprint-governance-policy",
    "blueprint-procurement-checklist",
    "blueprint-local-validation",
    "blueprint-incident-procedure",
    "blueprint-patient-info",
];

/// Longest title (framework, section, item, scale level label), in characters.
pub const MAX_TITLE: usize = 200;
/// Longest content text (description, question, guidance, evidence), in characters.
pub const MAX_CONTENT: usize = 5000;
/// Longest comment or justification in an answer, in characters.
pub const MAX_COMMENT: usize = 5000;
/// Most evidence references one answer may cite.
pub const MAX_EVIDENCE_REFS: usize = 20;
/// Longest evidence reference (a document id or SHA-256), in characters.
pub const MAX_EVIDENCE_REF: usize = 200;
/// Most levels a maturity scale may have (0..=10).
pub const MAX_LEVELS: usize = 11;

// ---------------------------------------------------------------------------------------------
// Framework model
// ---------------------------------------------------------------------------------------------

/// A text in both interface languages. Frameworks carry both, always.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub vi: String,
    pub en: String,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.vi,
            Lang::En => &self.en,
        }
    }
}

/// A published document the framework relies on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub name: String,
    pub year: u16,
    pub url: String,
}

/// Where a product comes from; the Vietnamese dossier differs for imported devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductOrigin {
    Domestic,
    Imported,
}

impl ProductOrigin {
    pub const ALL: &'static [ProductOrigin] = &[ProductOrigin::Domestic, ProductOrigin::Imported];
    pub fn as_str(self) -> &'static str {
        match self {
            ProductOrigin::Domestic => "domestic",
            ProductOrigin::Imported => "imported",
        }
    }
}

impl FromStr for ProductOrigin {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim() {
            "domestic" => Ok(ProductOrigin::Domestic),
            "imported" => Ok(ProductOrigin::Imported),
            _ => Err(()),
        }
    }
}

/// What Vigilo knows about the product a dossier is for. `None` means not known yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductProfile {
    pub vn_device_class: Option<VnDeviceClass>,
    pub vn_ai_tier: Option<VnAiTier>,
    pub ai_kind: Option<AiKind>,
    pub origin: Option<ProductOrigin>,
    pub intended_users: Option<IntendedUsers>,
}

/// When an item applies. Each non-empty list is a condition (the product's value must be in
/// it); all conditions must hold. An empty list does not constrain. When the product's value
/// is unknown the condition holds: an item is asked rather than silently skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applicability {
    pub vn_device_class: Vec<VnDeviceClass>,
    pub vn_ai_tier: Vec<VnAiTier>,
    pub ai_kind: Vec<AiKind>,
    pub origin: Vec<ProductOrigin>,
    pub intended_users: Vec<IntendedUsers>,
}

fn condition_holds<T: PartialEq>(allowed: &[T], actual: Option<T>) -> bool {
    match actual {
        _ if allowed.is_empty() => true,
        None => true,
        Some(v) => allowed.contains(&v),
    }
}

impl Applicability {
    pub fn is_unconditional(&self) -> bool {
        self == &Applicability::default()
    }

    pub fn applies_to(&self, p: &ProductProfile) -> bool {
        condition_holds(&self.vn_device_class, p.vn_device_class)
            && condition_holds(&self.vn_ai_tier, p.vn_ai_tier)
            && condition_holds(&self.ai_kind, p.ai_kind)
            && condition_holds(&self.origin, p.origin)
            && condition_holds(&self.intended_users, p.intended_users)
    }
}

/// A dossier verdict on one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compliance {
    Met,
    PartlyMet,
    NotMet,
    /// Needs a justification in the answer's comment.
    NotApplicable,
}

impl Compliance {
    pub const ALL: &'static [Compliance] = &[
        Compliance::Met,
        Compliance::PartlyMet,
        Compliance::NotMet,
        Compliance::NotApplicable,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Compliance::Met => "met",
            Compliance::PartlyMet => "partly_met",
            Compliance::NotMet => "not_met",
            Compliance::NotApplicable => "not_applicable",
        }
    }
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Compliance::Met, Lang::Vi) => "Đạt",
            (Compliance::Met, Lang::En) => "Met",
            (Compliance::PartlyMet, Lang::Vi) => "Đạt một phần",
            (Compliance::PartlyMet, Lang::En) => "Partly met",
            (Compliance::NotMet, Lang::Vi) => "Không đạt",
            (Compliance::NotMet, Lang::En) => "Not met",
            (Compliance::NotApplicable, Lang::Vi) => "Không áp dụng",
            (Compliance::NotApplicable, Lang::En) => "Not applicable",
        }
    }
}

impl FromStr for Compliance {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Compliance::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s.trim())
            .ok_or(())
    }
}

/// One level of a maturity scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScaleLevel {
    pub level: u8,
    pub label: Text,
    pub description: Text,
}

/// How items are answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scale {
    /// Dossier items: met / partly met / not met / not applicable (with a justification).
    Compliance,
    /// Navigator items: ordered levels 0..=N, N >= 1.
    Maturity { levels: Vec<ScaleLevel> },
}

impl Scale {
    /// The highest level of a maturity scale.
    pub fn top_level(&self) -> Option<u8> {
        match self {
            Scale::Compliance => None,
            Scale::Maturity { levels } => levels.last().map(|l| l.level),
        }
    }
}

/// A section of a dossier framework, or a domain of a readiness framework.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub id: String,
    pub title: Text,
    pub description: Option<Text>,
    /// The blueprint that closes a gap in this domain, unless the item names its own.
    pub blueprint: Option<String>,
}

/// One checklist item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Stable across versions while the item means the same thing.
    pub id: String,
    pub section: String,
    pub title: Text,
    pub question: Text,
    pub guidance: Text,
    /// The evidence a dossier or an assessment is expected to show, one entry per document.
    pub evidence: Vec<Text>,
    pub required: bool,
    pub applies_when: Applicability,
    /// Readiness only: the blueprint that closes a gap on this item.
    pub blueprint: Option<String>,
    /// Readiness only, optional: what each level means for this item (one per scale level).
    pub level_descriptions: Vec<Text>,
}

/// A parsed and validated framework. Only [`parse_framework`] builds one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Framework {
    id: String,
    version: u32,
    title: Text,
    description: Text,
    sources: Vec<Source>,
    scale: Scale,
    sections: Vec<Section>,
    items: Vec<Item>,
    file: String,
    fingerprint: String,
}

impl Framework {
    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn version(&self) -> u32 {
        self.version
    }
    pub fn title(&self) -> &Text {
        &self.title
    }
    pub fn description(&self) -> &Text {
        &self.description
    }
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }
    pub fn scale(&self) -> &Scale {
        &self.scale
    }
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }
    pub fn items(&self) -> &[Item] {
        &self.items
    }
    /// The file it was parsed from, for messages.
    pub fn file(&self) -> &str {
        &self.file
    }
    /// SHA-256 (hex) of the file's bytes: which exact text an assessment was made against.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }
    pub fn section(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }
    pub fn items_in<'a>(&'a self, section: &'a str) -> impl Iterator<Item = &'a Item> + 'a {
        self.items.iter().filter(move |i| i.section == section)
    }
    /// The blueprint for a gap on this item: the item's own, else its section's.
    pub fn blueprint_for<'a>(&'a self, item: &'a Item) -> Option<&'a str> {
        item.blueprint
            .as_deref()
            .or_else(|| self.section(&item.section)?.blueprint.as_deref())
    }
}

// ---------------------------------------------------------------------------------------------
// Framework errors
// ---------------------------------------------------------------------------------------------

/// What is wrong with one field of a framework file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameworkProblem {
    #[error("not valid TOML or unexpected field: {0}")]
    Syntax(String),
    #[error("is required")]
    Missing,
    #[error("is empty")]
    Empty,
    #[error("missing the {0} translation")]
    MissingTranslation(&'static str),
    #[error("is longer than {0} characters")]
    TooLong(usize),
    #[error("'{given}' is not a valid id (1 to 64 lower-case letters, digits and '-', starting with a letter)")]
    BadId { given: String },
    #[error("duplicate id '{0}'")]
    DuplicateId(String),
    #[error("unknown value '{given}': expected one of {expected}")]
    UnknownValue { given: String, expected: String },
    #[error("bad scale: {0}")]
    BadScale(String),
    #[error("{0}")]
    Invalid(String),
}

impl FrameworkProblem {
    /// A stable code, for tests and for anything that translates messages.
    pub fn code(&self) -> &'static str {
        match self {
            FrameworkProblem::Syntax(_) => "syntax",
            FrameworkProblem::Missing => "missing",
            FrameworkProblem::Empty => "empty",
            FrameworkProblem::MissingTranslation(_) => "missing_translation",
            FrameworkProblem::TooLong(_) => "too_long",
            FrameworkProblem::BadId { .. } => "bad_id",
            FrameworkProblem::DuplicateId(_) => "duplicate_id",
            FrameworkProblem::UnknownValue { .. } => "unknown_value",
            FrameworkProblem::BadScale(_) => "bad_scale",
            FrameworkProblem::Invalid(_) => "invalid",
        }
    }
}

/// One problem, located by file, item (when inside one) and field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameworkError {
    pub file: String,
    pub item: Option<String>,
    /// Path of the field, e.g. `items[3].guidance.en`; empty for whole-file problems.
    pub field: String,
    pub problem: FrameworkProblem,
}

impl fmt::Display for FrameworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(item) = &self.item {
            write!(f, "item '{item}': ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.problem)
    }
}

impl std::error::Error for FrameworkError {}

/// Every problem found in one or more files, so an author fixes them in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameworkErrors(pub Vec<FrameworkError>);

impl fmt::Display for FrameworkErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in checklist frameworks", self.0.len())?;
        for e in &self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FrameworkErrors {}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

// The raw shapes take optional strings so that a missing or unknown value becomes our own
// error, naming the item and field, rather than serde's.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawText {
    vi: Option<String>,
    en: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Option<String>,
    year: Option<i64>,
    url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    level: Option<i64>,
    label: Option<RawText>,
    description: Option<RawText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScale {
    kind: Option<String>,
    #[serde(default)]
    levels: Vec<RawLevel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    id: Option<String>,
    title: Option<RawText>,
    description: Option<RawText>,
    blueprint: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApplicability {
    #[serde(default)]
    vn_device_class: Vec<String>,
    #[serde(default)]
    vn_ai_tier: Vec<String>,
    #[serde(default)]
    ai_kind: Vec<String>,
    #[serde(default)]
    origin: Vec<String>,
    #[serde(default)]
    intended_users: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    id: Option<String>,
    section: Option<String>,
    title: Option<RawText>,
    question: Option<RawText>,
    guidance: Option<RawText>,
    #[serde(default)]
    evidence: Vec<RawText>,
    required: Option<bool>,
    applies_when: Option<RawApplicability>,
    blueprint: Option<String>,
    #[serde(default)]
    level_descriptions: Vec<RawText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFramework {
    id: Option<String>,
    version: Option<i64>,
    title: Option<RawText>,
    description: Option<RawText>,
    #[serde(default)]
    sources: Vec<RawSource>,
    scale: Option<RawScale>,
    #[serde(default)]
    sections: Vec<RawSection>,
    #[serde(default)]
    items: Vec<RawItem>,
}

/// Collects problems while walking one file.
struct Checker<'a> {
    file: &'a str,
    item: Option<String>,
    errors: Vec<FrameworkError>,
}

impl Checker<'_> {
    fn push(&mut self, field: impl Into<String>, problem: FrameworkProblem) {
        self.errors.push(FrameworkError {
            file: self.file.to_string(),
            item: self.item.clone(),
            field: field.into(),
            problem,
        });
    }

    fn id(&mut self, field: &str, raw: Option<&String>) -> String {
        match raw {
            None => {
                self.push(field, FrameworkProblem::Missing);
                String::new()
            }
            Some(s) if !is_valid_id(s) => {
                self.push(field, FrameworkProblem::BadId { given: clip(s) });
                s.clone()
            }
            Some(s) => s.clone(),
        }
    }

    fn string(&mut self, field: &str, raw: Option<&String>, max: usize) -> String {
        match raw {
            None => {
                self.push(field, FrameworkProblem::Missing);
                String::new()
            }
            Some(s) => {
                let t = s.trim();
                if t.is_empty() {
                    self.push(field, FrameworkProblem::Empty);
                } else if t.chars().count() > max {
                    self.push(field, FrameworkProblem::TooLong(max));
                }
                t.to_string()
            }
        }
    }

    fn text(&mut self, field: &str, raw: Option<&RawText>, max: usize) -> Text {
        let Some(raw) = raw else {
            self.push(field, FrameworkProblem::Missing);
            return Text {
                vi: String::new(),
                en: String::new(),
            };
        };
        let mut side = |lang: &'static str, v: &Option<String>| -> String {
            let t = v.as_deref().unwrap_or("").trim();
            if t.is_empty() {
                self.push(
                    format!("{field}.{lang}"),
                    FrameworkProblem::MissingTranslation(lang),
                );
            } else if t.chars().count() > max {
                self.push(format!("{field}.{lang}"), FrameworkProblem::TooLong(max));
            }
            t.to_string()
        };
        let vi = side("vi", &raw.vi);
        let en = side("en", &raw.en);
        Text { vi, en }
    }

    fn vocabulary<T: Copy + PartialEq>(
        &mut self,
        field: &str,
        raw: &[String],
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for (i, s) in raw.iter().enumerate() {
            match parse(s) {
                Some(v) if out.contains(&v) => self.push(
                    format!("{field}[{i}]"),
                    FrameworkProblem::DuplicateId(clip(s)),
                ),
                Some(v) => out.push(v),
                None => self.push(
                    format!("{field}[{i}]"),
                    FrameworkProblem::UnknownValue {
                        given: clip(s),
                        expected: expected.to_string(),
                    },
                ),
            }
        }
        out
    }

    fn blueprint(&mut self, field: &str, raw: Option<&String>) -> Option<String> {
        let b = raw?.trim();
        if !BLUEPRINT_IDS.contains(&b) {
            self.push(
                field,
                FrameworkProblem::UnknownValue {
                    given: clip(b),
                    expected: BLUEPRINT_IDS.join(", "),
                },
            );
        }
        Some(b.to_string())
    }
}

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Ids are short, lower-case and URL-safe: they appear in stored answers and in URLs.
pub fn is_valid_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn codes<T: Copy>(all: &[T], code: impl Fn(T) -> &'static str) -> String {
    all.iter().map(|v| code(*v)).collect::<Vec<_>>().join(", ")
}

/// Parses and validates one framework file. `file` names it in error messages.
pub fn parse_framework(file: &str, source: &str) -> Result<Framework, FrameworkErrors> {
    let mut c = Checker {
        file,
        item: None,
        errors: Vec::new(),
    };
    let raw: RawFramework = match basic_toml::from_str(source) {
        Ok(r) => r,
        Err(e) => {
            c.push("", FrameworkProblem::Syntax(e.to_string()));
            return Err(FrameworkErrors(c.errors));
        }
    };

    let id = c.id("id", raw.id.as_ref());
    let version = match raw.version {
        None => {
            c.push("version", FrameworkProblem::Missing);
            0
        }
        Some(v) => match u32::try_from(v) {
            Ok(v) if v >= 1 => v,
            _ => {
                c.push(
                    "version",
                    FrameworkProblem::Invalid(format!("{v} is not a whole number from 1")),
                );
                0
            }
        },
    };
    let title = c.text("title", raw.title.as_ref(), MAX_TITLE);
    let description = c.text("description", raw.description.as_ref(), MAX_CONTENT);

    if raw.sources.is_empty() {
        c.push("sources", FrameworkProblem::Missing);
    }
    let mut sources = Vec::new();
    for (i, s) in raw.sources.iter().enumerate() {
        let f = |n: &str| format!("sources[{i}].{n}");
        let name = c.string(&f("name"), s.name.as_ref(), MAX_TITLE);
        let url = c.string(&f("url"), s.url.as_ref(), MAX_TITLE);
        if !url.is_empty() && !url.starts_with("https://") && !url.starts_with("http://") {
            c.push(
                f("url"),
                FrameworkProblem::Invalid("must start with https:// or http://".into()),
            );
        }
        let year = match s.year {
            Some(y) if (1900..=2100).contains(&y) => y as u16,
            Some(y) => {
                c.push(
                    f("year"),
                    FrameworkProblem::Invalid(format!("{y} is not a plausible year")),
                );
                0
            }
            None => {
                c.push(f("year"), FrameworkProblem::Missing);
                0
            }
        };
        sources.push(Source { name, year, url });
    }

    let scale = parse_scale(&mut c, raw.scale.as_ref());
    let maturity = matches!(scale, Some(Scale::Maturity { .. }));
    let n_levels = match &scale {
        Some(Scale::Maturity { levels }) => levels.len(),
        _ => 0,
    };

    if raw.sections.is_empty() {
        c.push("sections", FrameworkProblem::Missing);
    }
    let mut sections = Vec::new();
    let mut section_ids = BTreeSet::new();
    for (i, s) in raw.sections.iter().enumerate() {
        let f = |n: &str| format!("sections[{i}].{n}");
        let sid = c.id(&f("id"), s.id.as_ref());
        if !sid.is_empty() && !section_ids.insert(sid.clone()) {
            c.push(f("id"), FrameworkProblem::DuplicateId(sid.clone()));
        }
        let title = c.text(&f("title"), s.title.as_ref(), MAX_TITLE);
        let description = s
            .description
            .as_ref()
            .map(|d| c.text(&f("description"), Some(d), MAX_CONTENT));
        let blueprint = c.blueprint(&f("blueprint"), s.blueprint.as_ref());
        if blueprint.is_some() && !maturity {
            c.push(
                f("blueprint"),
                FrameworkProblem::Invalid("blueprints belong to maturity frameworks".into()),
            );
        }
        sections.push(Section {
            id: sid,
            title,
            description,
            blueprint,
        });
    }

    if raw.items.is_empty() {
        c.push("items", FrameworkProblem::Missing);
    }
    let mut items = Vec::new();
    let mut item_ids = BTreeSet::new();
    for (i, r) in raw.items.iter().enumerate() {
        c.item = r.id.clone();
        let f = |n: &str| format!("items[{i}].{n}");
        let iid = c.id(&f("id"), r.id.as_ref());
        if !iid.is_empty() && !item_ids.insert(iid.clone()) {
            c.push(f("id"), FrameworkProblem::DuplicateId(iid.clone()));
        }
        let section = c.id(&f("section"), r.section.as_ref());
        if !section.is_empty() && !section_ids.contains(&section) {
            c.push(
                f("section"),
                FrameworkProblem::UnknownValue {
                    given: clip(&section),
                    expected: section_ids.iter().cloned().collect::<Vec<_>>().join(", "),
                },
            );
        }
        let title = c.text(&f("title"), r.title.as_ref(), MAX_TITLE);
        let question = c.text(&f("question"), r.question.as_ref(), MAX_CONTENT);
        let guidance = c.text(&f("guidance"), r.guidance.as_ref(), MAX_CONTENT);
        if r.evidence.is_empty() {
            c.push(f("evidence"), FrameworkProblem::Missing);
        }
        let evidence = r
            .evidence
            .iter()
            .enumerate()
            .map(|(k, e)| c.text(&format!("items[{i}].evidence[{k}]"), Some(e), MAX_CONTENT))
            .collect();
        let required = r.required.unwrap_or(true);
        let empty = RawApplicability::default();
        let a = r.applies_when.as_ref().unwrap_or(&empty);
        let applies_when = Applicability {
            vn_device_class: c.vocabulary(
                &f("applies_when.vn_device_class"),
                &a.vn_device_class,
                |s| s.parse().ok(),
                "a, b, c, d",
            ),
            vn_ai_tier: c.vocabulary(
                &f("applies_when.vn_ai_tier"),
                &a.vn_ai_tier,
                |s| s.parse().ok(),
                "low, medium, high",
            ),
            ai_kind: c.vocabulary(
                &f("applies_when.ai_kind"),
                &a.ai_kind,
                |s| s.parse().ok(),
                &codes(AiKind::ALL, AiKind::code),
            ),
            origin: c.vocabulary(
                &f("applies_when.origin"),
                &a.origin,
                |s| s.parse().ok(),
                &codes(ProductOrigin::ALL, ProductOrigin::as_str),
            ),
            intended_users: c.vocabulary(
                &f("applies_when.intended_users"),
                &a.intended_users,
                |s| s.parse().ok(),
                &codes(IntendedUsers::ALL, IntendedUsers::as_str),
            ),
        };
        let blueprint = c.blueprint(&f("blueprint"), r.blueprint.as_ref());
        let level_descriptions: Vec<Text> = r
            .level_descriptions
            .iter()
            .enumerate()
            .map(|(k, t)| {
                c.text(
                    &format!("items[{i}].level_descriptions[{k}]"),
                    Some(t),
                    MAX_CONTENT,
                )
            })
            .collect();
        if maturity {
            // Scoring takes every item of a domain; optional or conditional items would make
            // a facility's level depend on which items it chose to answer.
            if !required {
                c.push(
                    f("required"),
                    FrameworkProblem::Invalid("maturity items are all required".into()),
                );
            }
            if !applies_when.is_unconditional() {
                c.push(
                    f("applies_when"),
                    FrameworkProblem::Invalid("maturity items have no conditions".into()),
                );
            }
            if !level_descriptions.is_empty() && level_descriptions.len() != n_levels {
                c.push(
                    f("level_descriptions"),
                    FrameworkProblem::BadScale(format!(
                        "{} descriptions for a scale of {n_levels} levels",
                        level_descriptions.len()
                    )),
                );
            }
        } else {
            if blueprint.is_some() {
                c.push(
                    f("blueprint"),
                    FrameworkProblem::Invalid("blueprints belong to maturity frameworks".into()),
                );
            }
            if !level_descriptions.is_empty() {
                c.push(
                    f("level_descriptions"),
                    FrameworkProblem::BadScale("a compliance scale has no levels".into()),
                );
            }
        }
        items.push(Item {
            id: iid,
            section,
            title,
            question,
            guidance,
            evidence,
            required,
            applies_when,
            blueprint,
            level_descriptions,
        });
    }
    c.item = None;
    for s in &sections {
        if !s.id.is_empty() && !items.iter().any(|i| i.section == s.id) {
            c.push(
                format!("sections[{}]", s.id),
                FrameworkProblem::Invalid("section has no items".into()),
            );
        }
    }

    match scale {
        Some(scale) if c.errors.is_empty() => Ok(Framework {
            id,
            version,
            title,
            description,
            sources,
            scale,
            sections,
            items,
            file: file.to_string(),
            fingerprint: hex::encode(Sha256::digest(source.as_bytes())),
        }),
        _ => Err(FrameworkErrors(c.errors)),
    }
}

fn parse_scale(c: &mut Checker<'_>, raw: Option<&RawScale>) -> Option<Scale> {
    let Some(raw) = raw else {
        c.push("scale", FrameworkProblem::Missing);
        return None;
    };
    match raw.kind.as_deref().map(str::trim) {
        Some("compliance") => {
            if !raw.levels.is_empty() {
                c.push(
                    "scale.levels",
                    FrameworkProblem::BadScale(
                        "a compliance scale is met / partly_met / not_met / not_applicable; \
                         it takes no levels"
                            .into(),
                    ),
                );
            }
            Some(Scale::Compliance)
        }
        Some("maturity") => {
            if raw.levels.len() < 2 || raw.levels.len() > MAX_LEVELS {
                c.push(
                    "scale.levels",
                    FrameworkProblem::BadScale(format!(
                        "a maturity scale has 2 to {MAX_LEVELS} levels, found {}",
                        raw.levels.len()
                    )),
                );
            }
            let mut levels = Vec::new();
            for (i, l) in raw.levels.iter().enumerate() {
                let f = |n: &str| format!("scale.levels[{i}].{n}");
                if l.level != Some(i as i64) {
                    c.push(
                        f("level"),
                        FrameworkProblem::BadScale(format!(
                            "levels are numbered 0, 1, 2, … in order; expected {i}, found {}",
                            l.level.map_or("nothing".into(), |v| v.to_string())
                        )),
                    );
                }
                let label = c.text(&f("label"), l.label.as_ref(), MAX_TITLE);
                let description = c.text(&f("description"), l.description.as_ref(), MAX_CONTENT);
                levels.push(ScaleLevel {
                    level: u8::try_from(i).unwrap_or(u8::MAX),
                    label,
                    description,
                });
            }
            Some(Scale::Maturity { levels })
        }
        Some(other) => {
            c.push(
                "scale.kind",
                FrameworkProblem::UnknownValue {
                    given: clip(other),
                    expected: "compliance, maturity".into(),
                },
            );
            None
        }
        None => {
            c.push("scale.kind", FrameworkProblem::Missing);
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

/// Every framework version Vigilo knows, old ones included.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    frameworks: BTreeMap<(String, u32), Framework>,
}

impl Catalog {
    /// Parses the embedded frameworks; the server calls this once at start-up and refuses to
    /// start on an error (a broken file is a build mistake, not a runtime condition).
    pub fn builtin() -> Result<Catalog, FrameworkErrors> {
        Catalog::from_files(BUILTIN_FILES)
    }

    /// Parses files named `<id>/v<version>.toml`; the name must match the content so that a
    /// copied file that still carries the old version number is caught.
    pub fn from_files(files: &[(&str, &str)]) -> Result<Catalog, FrameworkErrors> {
        let mut errors = Vec::new();
        let mut frameworks = BTreeMap::new();
        for (name, source) in files {
            match parse_framework(name, source) {
                Err(FrameworkErrors(e)) => errors.extend(e),
                Ok(f) => {
                    let expected = format!("{}/v{}.toml", f.id, f.version);
                    if *name != expected {
                        errors.push(FrameworkError {
                            file: name.to_string(),
                            item: None,
                            field: "id".into(),
                            problem: FrameworkProblem::Invalid(format!(
                                "file name does not match id and version: expected {expected}"
                            )),
                        });
                    }
                    let duplicate = format!("{} version {}", f.id, f.version);
                    match frameworks.entry((f.id.clone(), f.version)) {
                        std::collections::btree_map::Entry::Occupied(_) => {
                            errors.push(FrameworkError {
                                file: name.to_string(),
                                item: None,
                                field: "version".into(),
                                problem: FrameworkProblem::DuplicateId(duplicate),
                            })
                        }
                        std::collections::btree_map::Entry::Vacant(slot) => {
                            slot.insert(f);
                        }
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(Catalog { frameworks })
        } else {
            Err(FrameworkErrors(errors))
        }
    }

    pub fn get(&self, id: &str, version: u32) -> Option<&Framework> {
        self.frameworks.get(&(id.to_string(), version))
    }

    /// The newest version of a framework: what a new dossier or assessment starts on.
    pub fn latest(&self, id: &str) -> Option<&Framework> {
        self.frameworks
            .range((id.to_string(), 0)..=(id.to_string(), u32::MAX))
            .next_back()
            .map(|(_, f)| f)
    }

    pub fn versions(&self, id: &str) -> Vec<u32> {
        self.frameworks
            .keys()
            .filter(|(i, _)| i == id)
            .map(|(_, v)| *v)
            .collect()
    }

    /// Every framework, each id's versions in order.
    pub fn all(&self) -> impl Iterator<Item = &Framework> {
        self.frameworks.values()
    }

    /// Resolves the framework an answer set names, then checks the answers against it.
    pub fn check(&self, answers: &AnswerSet) -> Result<CheckedAnswers, Vec<AnswerError>> {
        match self.get(&answers.framework_id, answers.framework_version) {
            Some(f) => f.check(answers),
            None => {
                let known = self.versions(&answers.framework_id);
                let (field, problem) = if known.is_empty() {
                    (
                        "framework_id",
                        AnswerProblem::UnknownFramework {
                            given: clip(&answers.framework_id),
                        },
                    )
                } else {
                    (
                        "framework_version",
                        AnswerProblem::UnknownVersion {
                            given: answers.framework_version,
                            known,
                        },
                    )
                };
                Err(vec![AnswerError {
                    item: None,
                    field,
                    problem,
                }])
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Answers and assessments
// ---------------------------------------------------------------------------------------------

/// A value as it arrives from a form or the API: a level number or a compliance code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnswerValue {
    Level(i64),
    Code(String),
}

/// One item's answer. The same shape serves a vendor's answer, a facility's self-assessment
/// and a reviewer's verdict on an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemAnswer {
    pub item_id: String,
    /// `None` while a draft leaves the item open.
    #[serde(default)]
    pub value: Option<AnswerValue>,
    /// Comment; the justification when the value is `not_applicable`.
    #[serde(default)]
    pub comment: String,
    /// References to evidence documents (ids or SHA-256 of stored documents).
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// Answers to one framework version, keyed by framework id + version + item id. A vendor's
/// dossier answers and a reviewer's per-item assessment are both answer sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerSet {
    pub framework_id: String,
    pub framework_version: u32,
    #[serde(default)]
    pub answers: Vec<ItemAnswer>,
}

/// A checked value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Verdict {
    Compliance(Compliance),
    Level(u8),
}

impl Verdict {
    /// The text form for storage (`"met"`, `"2"`); [`Framework::check`] reads it back.
    pub fn to_code(self) -> String {
        match self {
            Verdict::Compliance(c) => c.as_str().to_string(),
            Verdict::Level(l) => l.to_string(),
        }
    }
}

impl AnswerSet {
    /// Builds an answer set from stored text rows `(item_id, value, comment)`, where `value`
    /// is a compliance code, a level's digits, or empty for an open item.
    pub fn from_text_rows(
        framework_id: &str,
        framework_version: u32,
        rows: impl IntoIterator<Item = (String, String, String)>,
    ) -> AnswerSet {
        AnswerSet {
            framework_id: framework_id.to_string(),
            framework_version,
            answers: rows
                .into_iter()
                .map(|(item_id, value, comment)| ItemAnswer {
                    item_id,
                    value: Some(AnswerValue::Code(value)),
                    comment,
                    evidence: Vec::new(),
                })
                .collect(),
        }
    }
}

/// A checked answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedAnswer {
    pub value: Option<Verdict>,
    pub comment: String,
    pub evidence: Vec<String>,
}

/// Answers that passed [`Framework::check`]: every item known, every value on the scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedAnswers {
    framework_id: String,
    framework_version: u32,
    answers: BTreeMap<String, CheckedAnswer>,
}

impl CheckedAnswers {
    pub fn framework_id(&self) -> &str {
        &self.framework_id
    }
    pub fn framework_version(&self) -> u32 {
        self.framework_version
    }
    pub fn get(&self, item_id: &str) -> Option<&CheckedAnswer> {
        self.answers.get(item_id)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &CheckedAnswer)> {
        self.answers.iter().map(|(k, v)| (k.as_str(), v))
    }
    fn value(&self, item_id: &str) -> Option<Verdict> {
        self.answers.get(item_id).and_then(|a| a.value)
    }
    fn level(&self, item_id: &str) -> Option<u8> {
        match self.value(item_id) {
            Some(Verdict::Level(l)) => Some(l),
            _ => None,
        }
    }
    /// Items where two answer sets to the same framework version give different values, in
    /// item id order: for a review page, where the reviewer's verdict differs from the
    /// vendor's claim (an item left open on one side and answered on the other counts).
    pub fn differing_items(&self, other: &CheckedAnswers) -> Result<Vec<String>, AnswerError> {
        if self.framework_id != other.framework_id
            || self.framework_version != other.framework_version
        {
            return Err(AnswerError {
                item: None,
                field: "framework_version",
                problem: AnswerProblem::WrongFramework,
            });
        }
        let ids: BTreeSet<&String> = self.answers.keys().chain(other.answers.keys()).collect();
        Ok(ids
            .into_iter()
            .filter(|id| self.value(id) != other.value(id))
            .cloned()
            .collect())
    }

    /// Back to the wire shape, e.g. to store or to edit again.
    pub fn to_answer_set(&self) -> AnswerSet {
        AnswerSet {
            framework_id: self.framework_id.clone(),
            framework_version: self.framework_version,
            answers: self
                .answers
                .iter()
                .map(|(id, a)| ItemAnswer {
                    item_id: id.clone(),
                    value: a.value.map(|v| match v {
                        Verdict::Compliance(c) => AnswerValue::Code(c.as_str().into()),
                        Verdict::Level(l) => AnswerValue::Level(i64::from(l)),
                    }),
                    comment: a.comment.clone(),
                    evidence: a.evidence.clone(),
                })
                .collect(),
        }
    }
}

/// What is wrong with an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerProblem {
    #[error("unknown framework '{given}'")]
    UnknownFramework { given: String },
    #[error("unknown version {given} of this framework; known versions: {known:?}")]
    UnknownVersion { given: u32, known: Vec<u32> },
    #[error("these answers are for another framework or version")]
    WrongFramework,
    #[error("no such item in this framework version")]
    UnknownItem,
    #[error("answered more than once")]
    DuplicateItem,
    #[error("'{given}' is not an answer on this scale: expected one of {expected}")]
    NotOnScale { given: String, expected: String },
    #[error("level {given} is out of range 0..={max}")]
    OutOfRange { given: i64, max: u8 },
    #[error("'not applicable' needs a justification")]
    JustificationRequired,
    #[error("longer than {0} characters")]
    TooLong(usize),
    #[error("more than {0} entries")]
    TooMany(usize),
    #[error("empty")]
    Empty,
}

impl AnswerProblem {
    /// A stable code the interface translates.
    pub fn code(&self) -> &'static str {
        match self {
            AnswerProblem::UnknownFramework { .. } => "unknown_framework",
            AnswerProblem::UnknownVersion { .. } => "unknown_framework_version",
            AnswerProblem::WrongFramework => "wrong_framework",
            AnswerProblem::UnknownItem => "unknown_item",
            AnswerProblem::DuplicateItem => "duplicate_item",
            AnswerProblem::NotOnScale { .. } => "not_on_scale",
            AnswerProblem::OutOfRange { .. } => "out_of_range",
            AnswerProblem::JustificationRequired => "justification_required",
            AnswerProblem::TooLong(_) => "too_long",
            AnswerProblem::TooMany(_) => "too_many",
            AnswerProblem::Empty => "empty",
        }
    }
}

/// One problem with an answer set, located by item and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{field}: {problem}", item.as_ref().map(|i| format!("item '{i}': ")).unwrap_or_default())]
pub struct AnswerError {
    pub item: Option<String>,
    pub field: &'static str,
    pub problem: AnswerProblem,
}

fn compliance_codes() -> String {
    codes(Compliance::ALL, Compliance::as_str)
}

impl Framework {
    /// Checks answers against this framework version and returns every problem at once.
    /// Unanswered items are fine (drafts); [`Framework::completeness`] says what is missing.
    pub fn check(&self, set: &AnswerSet) -> Result<CheckedAnswers, Vec<AnswerError>> {
        let mut errors = Vec::new();
        if set.framework_id != self.id || set.framework_version != self.version {
            errors.push(AnswerError {
                item: None,
                field: "framework_version",
                problem: AnswerProblem::WrongFramework,
            });
            return Err(errors);
        }
        let mut answers = BTreeMap::new();
        for a in &set.answers {
            let mut err = |field: &'static str, problem: AnswerProblem| {
                errors.push(AnswerError {
                    item: Some(clip(&a.item_id)),
                    field,
                    problem,
                })
            };
            if self.item(&a.item_id).is_none() {
                err("item_id", AnswerProblem::UnknownItem);
                continue;
            }
            if answers.contains_key(&a.item_id) {
                err("item_id", AnswerProblem::DuplicateItem);
                continue;
            }
            let value = match (&self.scale, &a.value) {
                (_, None) => None,
                // A form's empty choice, or a stored row left open.
                (_, Some(AnswerValue::Code(s))) if s.trim().is_empty() => None,
                (Scale::Compliance, Some(AnswerValue::Code(s))) => match s.parse::<Compliance>() {
                    Ok(c) => Some(Verdict::Compliance(c)),
                    Err(()) => {
                        err(
                            "value",
                            AnswerProblem::NotOnScale {
                                given: clip(s),
                                expected: compliance_codes(),
                            },
                        );
                        None
                    }
                },
                (Scale::Compliance, Some(AnswerValue::Level(l))) => {
                    err(
                        "value",
                        AnswerProblem::NotOnScale {
                            given: l.to_string(),
                            expected: compliance_codes(),
                        },
                    );
                    None
                }
                (Scale::Maturity { levels }, Some(v)) => {
                    let max = levels.last().map_or(0, |l| l.level);
                    // Forms send numbers as text; accept "2" as well as 2.
                    let n = match v {
                        AnswerValue::Level(n) => Some(*n),
                        AnswerValue::Code(s) => s.trim().parse::<i64>().ok(),
                    };
                    match n {
                        Some(n) if (0..=i64::from(max)).contains(&n) => {
                            Some(Verdict::Level(n as u8))
                        }
                        Some(n) => {
                            err("value", AnswerProblem::OutOfRange { given: n, max });
                            None
                        }
                        None => {
                            let given = match v {
                                AnswerValue::Code(s) => clip(s),
                                AnswerValue::Level(n) => n.to_string(),
                            };
                            err(
                                "value",
                                AnswerProblem::NotOnScale {
                                    given,
                                    expected: format!("0 to {max}"),
                                },
                            );
                            None
                        }
                    }
                }
            };
            let comment = a.comment.trim().to_string();
            if comment.chars().count() > MAX_COMMENT {
                err("comment", AnswerProblem::TooLong(MAX_COMMENT));
            }
            if value == Some(Verdict::Compliance(Compliance::NotApplicable)) && comment.is_empty() {
                err("comment", AnswerProblem::JustificationRequired);
            }
            if a.evidence.len() > MAX_EVIDENCE_REFS {
                err("evidence", AnswerProblem::TooMany(MAX_EVIDENCE_REFS));
            }
            for r in &a.evidence {
                if r.trim().is_empty() {
                    err("evidence", AnswerProblem::Empty);
                } else if r.chars().count() > MAX_EVIDENCE_REF {
                    err("evidence", AnswerProblem::TooLong(MAX_EVIDENCE_REF));
                }
            }
            answers.insert(
                a.item_id.clone(),
                CheckedAnswer {
                    value,
                    comment,
                    evidence: a.evidence.iter().map(|r| r.trim().to_string()).collect(),
                },
            );
        }
        if errors.is_empty() {
            Ok(CheckedAnswers {
                framework_id: self.id.clone(),
                framework_version: self.version,
                answers,
            })
        } else {
            Err(errors)
        }
    }

    fn same_framework(&self, answers: &CheckedAnswers) -> Result<(), AnswerError> {
        if answers.framework_id == self.id && answers.framework_version == self.version {
            Ok(())
        } else {
            Err(AnswerError {
                item: None,
                field: "framework_version",
                problem: AnswerProblem::WrongFramework,
            })
        }
    }

    /// Which items this product must or may answer, and which of them are still open.
    pub fn completeness(
        &self,
        answers: &CheckedAnswers,
        product: &ProductProfile,
    ) -> Result<Completeness, AnswerError> {
        self.same_framework(answers)?;
        let mut out = Completeness::default();
        for item in &self.items {
            if !item.applies_when.applies_to(product) {
                out.excluded.push(item.id.clone());
                continue;
            }
            let answered = answers.value(&item.id).is_some();
            match (item.required, answered) {
                (true, true) => out.answered_required.push(item.id.clone()),
                (true, false) => out.missing_required.push(item.id.clone()),
                (false, true) => out.answered_optional.push(item.id.clone()),
                (false, false) => out.missing_optional.push(item.id.clone()),
            }
        }
        Ok(out)
    }

    /// Starts answers to this framework from answers to another version of it: items whose id
    /// exists here and whose value fits this scale are carried over, everything else is left
    /// open. The old answer set itself is never touched.
    pub fn carry_over(&self, previous: &CheckedAnswers) -> AnswerSet {
        let answers = previous
            .answers
            .iter()
            .filter(|(id, a)| {
                let Some(_) = self.item(id) else { return false };
                match (&self.scale, a.value) {
                    (_, None) => true,
                    (Scale::Compliance, Some(Verdict::Compliance(_))) => true,
                    (Scale::Maturity { .. }, Some(Verdict::Level(l))) => {
                        self.scale.top_level().is_some_and(|top| l <= top)
                    }
                    _ => false,
                }
            })
            .map(|(id, a)| ItemAnswer {
                item_id: id.clone(),
                value: a.value.map(|v| match v {
                    Verdict::Compliance(c) => AnswerValue::Code(c.as_str().into()),
                    Verdict::Level(l) => AnswerValue::Level(i64::from(l)),
                }),
                comment: a.comment.clone(),
                evidence: a.evidence.clone(),
            })
            .collect();
        AnswerSet {
            framework_id: self.id.clone(),
            framework_version: self.version,
            answers,
        }
    }

    /// Maturity per domain and overall, and the gaps below `target` with their blueprints.
    ///
    /// The rule (`docs/checklists.md`): an unanswered item counts as level 0; a domain's level
    /// is the **lowest** level of its items (a domain is at level k when every one of its
    /// practices is at least at k); the overall level is the lowest domain level. The means
    /// are reported beside the levels to show progress that the minimum hides. Both only go
    /// up when an answer goes up.
    pub fn score(&self, answers: &CheckedAnswers, target: u8) -> Result<MaturityScore, ScoreError> {
        self.same_framework(answers)
            .map_err(|_| ScoreError::WrongFramework)?;
        let Some(top) = self.scale.top_level() else {
            return Err(ScoreError::NotAMaturityFramework);
        };
        if target > top {
            return Err(ScoreError::TargetAboveScale { target, top });
        }
        let mut domains = Vec::new();
        let mut gaps = Vec::new();
        let mut unanswered = 0;
        for section in &self.sections {
            let mut levels = Vec::new();
            for item in self.items_in(&section.id) {
                let level = answers.level(&item.id);
                if level.is_none() {
                    unanswered += 1;
                }
                let l = level.unwrap_or(0);
                levels.push(l);
                if l < target {
                    gaps.push(Gap {
                        item: item.id.clone(),
                        section: section.id.clone(),
                        level,
                        target,
                        blueprint: self.blueprint_for(item).map(str::to_string),
                    });
                }
            }
            let level = levels.iter().copied().min().unwrap_or(0);
            domains.push(DomainScore {
                section: section.id.clone(),
                level,
                mean: mean(levels.iter().map(|&l| f64::from(l))),
                items: levels.len(),
            });
        }
        // The most urgent first: lowest level, then framework order (stable sort keeps it).
        gaps.sort_by_key(|g| g.level.unwrap_or(0));
        let overall = domains.iter().map(|d| d.level).min().unwrap_or(0);
        let overall_mean = mean(domains.iter().map(|d| d.mean));
        Ok(MaturityScore {
            overall,
            overall_mean,
            top,
            domains,
            gaps,
            unanswered,
        })
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / f64::from(n)
    }
}

/// Which items a product must answer and where the dossier stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Completeness {
    pub answered_required: Vec<String>,
    /// Required, applicable to this product, and not answered yet: blocks submission.
    pub missing_required: Vec<String>,
    pub answered_optional: Vec<String>,
    pub missing_optional: Vec<String>,
    /// Items whose conditions exclude this product (for example class C/D items for a class B
    /// product); not asked.
    pub excluded: Vec<String>,
}

impl Completeness {
    /// Every required applicable item has an answer.
    pub fn is_complete(&self) -> bool {
        self.missing_required.is_empty()
    }
}

/// Why a framework cannot be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    #[error("this framework is a compliance checklist, not a maturity framework")]
    NotAMaturityFramework,
    #[error("target level {target} is above the scale's top level {top}")]
    TargetAboveScale { target: u8, top: u8 },
    #[error("these answers are for another framework or version")]
    WrongFramework,
}

/// One domain's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainScore {
    pub section: String,
    /// The lowest level among the domain's items (unanswered = 0).
    pub level: u8,
    /// The mean item level, for progress.
    pub mean: f64,
    pub items: usize,
}

/// An item below the target level, and the blueprint that helps close it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub item: String,
    pub section: String,
    /// `None` when unanswered.
    pub level: Option<u8>,
    pub target: u8,
    pub blueprint: Option<String>,
}

/// A readiness self-assessment's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaturityScore {
    /// The lowest domain level.
    pub overall: u8,
    /// The mean of the domain means, for progress.
    pub overall_mean: f64,
    /// The scale's top level.
    pub top: u8,
    pub domains: Vec<DomainScore>,
    pub gaps: Vec<Gap>,
    pub unanswered: usize,
}
