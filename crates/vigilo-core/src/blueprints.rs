//! The Navigator's blueprints as documents: the content a facility downloads and adapts
//! (an AI governance policy, a procurement checklist, a local validation protocol, an
//! incident reporting procedure, a patient information sheet), in Vietnamese and English.
//!
//! The catalogue entry of each blueprint (title, what it covers) stays in
//! `frameworks/blueprints.toml` ([`crate::navigator::builtin_blueprints`]); the document
//! itself is `frameworks/blueprints/<id>.toml`, parsed here strictly: every text carries both
//! languages side by side, so the two versions cannot drift apart in structure; every text is
//! non-empty, Vietnamese texts are really Vietnamese, and fill-in fields (`[Tên cơ sở]`,
//! `[Facility name]`) are balanced and as many in one language as in the other. The format and
//! the sources are described in `docs/navigator.md`.
//!
//! Rendering is elsewhere: the server turns a [`BlueprintDocument`] into a
//! `vigilo_report::Document` (HTML, PDF, DOCX). Pure code: no I/O.

use crate::checklist::{is_valid_id, Text, BLUEPRINT_IDS};
use crate::Lang;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The shipped blueprint documents, `(file name, content)`, in [`BLUEPRINT_IDS`] order.
pub const BUILTIN_BLUEPRINT_FILES: &[(&str, &str)] = &[
    (
        "blueprint-governance-policy.toml",
        include_str!("../frameworks/blueprints/blueprint-governance-policy.toml"),
    ),
    (
        "blueprint-procurement-checklist.toml",
        include_str!("../frameworks/blueprints/blueprint-procurement-checklist.toml"),
    ),
    (
        "blueprint-local-validation.toml",
        include_str!("../frameworks/blueprints/blueprint-local-validation.toml"),
    ),
    (
        "blueprint-incident-procedure.toml",
        include_str!("../frameworks/blueprints/blueprint-incident-procedure.toml"),
    ),
    (
        "blueprint-patient-info.toml",
        include_str!("../frameworks/blueprints/blueprint-patient-info.toml"),
    ),
];

/// Longest heading or table cell, in characters.
pub const MAX_SHORT: usize = 300;
/// Longest paragraph, clause or list item, in characters.
pub const MAX_LONG: usize = 3000;
/// A Vietnamese text this long (characters) must contain a Vietnamese letter: a longer text in
/// plain ASCII is an untranslated English one. Shorter ones may be codes or numbers ("AUROC").
const VI_CHECK_FROM: usize = 25;

/// What is wrong with a blueprint document file: every problem, each with its field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}", .problems.join("; "))]
pub struct BlueprintFileError {
    pub file: String,
    pub problems: Vec<String>,
}

/// A blueprint as a document, both languages in every text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlueprintDocument {
    /// One of [`BLUEPRINT_IDS`].
    pub id: String,
    /// The template's own version, printed on it; raise it when the content changes.
    pub version: u32,
    /// Starts with the facility's letterhead (an internal regulation issued by its director).
    pub letterhead: bool,
    /// The line under the title (for example "issued with Decision No. [...]").
    pub subtitle: Text,
    pub purpose: Text,
    pub scope: Text,
    pub sections: Vec<Section>,
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    pub id: String,
    pub heading: Text,
    pub blocks: Vec<Block>,
}

/// One block of a section, in reading order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Block {
    Paragraph {
        text: Text,
    },
    Subheading {
        text: Text,
    },
    /// A boxed remark for whoever adapts the template (to be deleted from the final text).
    Note {
        text: Text,
    },
    /// Numbered clauses (1., 2., ...), the body of a regulation.
    Clauses {
        items: Vec<Text>,
    },
    /// Bullet points.
    List {
        items: Vec<Text>,
    },
    /// Questions to tick, with room for the answer and the evidence.
    Checklist {
        items: Vec<Text>,
    },
    Table {
        columns: Vec<Text>,
        rows: Vec<Vec<Text>>,
    },
    /// Labels followed by a line to fill in (signatures, dates, names).
    Fields {
        items: Vec<Text>,
    },
}

/// A published document the blueprint draws on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub name: Text,
    pub year: u16,
    pub url: String,
}

// ---------------------------------------------------------------------------------------------
// Fill-in fields
// ---------------------------------------------------------------------------------------------

/// A piece of text: as written, or a fill-in field the facility replaces (brackets included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    Field(&'a str),
}

/// Splits a text into plain runs and `[fill-in]` fields. Brackets are reserved for fields in
/// blueprint texts (the parser refuses unbalanced ones); an unbalanced bracket here is left as
/// plain text.
pub fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(len) = rest[open..].find(']') else {
            break;
        };
        if open > 0 {
            out.push(Segment::Text(&rest[..open]));
        }
        out.push(Segment::Field(&rest[open..=open + len]));
        rest = &rest[open + len + 1..];
    }
    if !rest.is_empty() {
        out.push(Segment::Text(rest));
    }
    out
}

/// The number of fill-in fields, or why the brackets do not balance.
fn count_fields(text: &str) -> Result<usize, &'static str> {
    let mut open = false;
    let mut empty = true;
    let mut count = 0;
    for c in text.chars() {
        match (c, open) {
            ('[', true) => return Err("a '[' inside a fill-in field"),
            ('[', false) => {
                open = true;
                empty = true;
            }
            (']', false) => return Err("a ']' without its '['"),
            (']', true) => {
                if empty {
                    return Err("an empty fill-in field '[]'");
                }
                open = false;
                count += 1;
            }
            (c, true) if !c.is_whitespace() => empty = false,
            _ => {}
        }
    }
    if open {
        Err("a '[' without its ']'")
    } else {
        Ok(count)
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    id: String,
    version: u32,
    #[serde(default)]
    letterhead: bool,
    subtitle: Text,
    purpose: Text,
    scope: Text,
    #[serde(default)]
    sections: Vec<RawSection>,
    #[serde(default)]
    sources: Vec<RawSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    id: String,
    heading: Text,
    #[serde(default)]
    blocks: Vec<RawBlock>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock {
    kind: String,
    vi: Option<String>,
    en: Option<String>,
    #[serde(default)]
    items: Vec<Text>,
    #[serde(default)]
    columns: Vec<Text>,
    #[serde(default)]
    rows: Vec<RawRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    vi: Vec<String>,
    en: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Text,
    year: u16,
    url: String,
}

const BLOCK_KINDS: &str = "paragraph, subheading, note, clauses, list, checklist, table, fields";

/// Collects problems with their field paths.
struct Checker {
    problems: Vec<String>,
}

impl Checker {
    fn problem(&mut self, path: &str, what: impl std::fmt::Display) {
        self.problems.push(format!("{path}: {what}"));
    }

    /// Both languages non-empty, within `max`, fill-in fields balanced and as many in each;
    /// with `prose`, the Vietnamese text must not be untranslated English.
    fn text(&mut self, path: &str, t: &Text, max: usize, prose: bool) {
        let mut counts = [None, None];
        for (k, (lang, s)) in [("vi", &t.vi), ("en", &t.en)].into_iter().enumerate() {
            if s.trim().is_empty() {
                self.problem(&format!("{path}.{lang}"), "empty");
                continue;
            }
            if s.chars().count() > max {
                self.problem(
                    &format!("{path}.{lang}"),
                    format!("longer than {max} characters"),
                );
            }
            if s.chars().any(|c| c.is_control() && c != '\n') {
                self.problem(&format!("{path}.{lang}"), "a control character");
            }
            match count_fields(s) {
                Ok(n) => counts[k] = Some(n),
                Err(e) => self.problem(&format!("{path}.{lang}"), e),
            }
        }
        if let [Some(vi), Some(en)] = counts {
            if vi != en {
                self.problem(path, format!("{vi} fill-in fields in vi but {en} in en"));
            }
        }
        if prose && t.vi.chars().count() >= VI_CHECK_FROM {
            if t.vi == t.en {
                self.problem(
                    &format!("{path}.vi"),
                    "the same as the en text: not translated",
                );
            } else if t.vi.is_ascii() {
                self.problem(
                    &format!("{path}.vi"),
                    "no Vietnamese letter in a long text: not translated",
                );
            }
        }
    }

    fn texts(&mut self, path: &str, items: &[Text], max: usize) {
        if items.is_empty() {
            self.problem(path, "empty: at least one item");
        }
        for (i, t) in items.iter().enumerate() {
            self.text(&format!("{path}[{i}]"), t, max, true);
        }
    }

    fn block(&mut self, path: &str, raw: RawBlock) -> Option<Block> {
        let text = match (raw.vi, raw.en) {
            (Some(vi), Some(en)) => Some(Text { vi, en }),
            (None, None) => None,
            (Some(_), None) => {
                self.problem(&format!("{path}.en"), "missing the en translation");
                None
            }
            (None, Some(_)) => {
                self.problem(&format!("{path}.vi"), "missing the vi translation");
                None
            }
        };
        let with_text = matches!(raw.kind.as_str(), "paragraph" | "subheading" | "note");
        let with_items = matches!(
            raw.kind.as_str(),
            "clauses" | "list" | "checklist" | "fields"
        );
        let is_table = raw.kind == "table";
        if !with_text && !with_items && !is_table {
            self.problem(
                &format!("{path}.kind"),
                format!(
                    "unknown value '{}': expected one of {BLOCK_KINDS}",
                    raw.kind
                ),
            );
            return None;
        }
        // Fields that belong to another kind are refused rather than silently dropped.
        if !with_text && text.is_some() {
            self.problem(
                path,
                format!("a {} block has items, not vi and en", raw.kind),
            );
        }
        if !with_items && !raw.items.is_empty() {
            self.problem(
                &format!("{path}.items"),
                format!("not used by a {} block", raw.kind),
            );
        }
        if !is_table && (!raw.columns.is_empty() || !raw.rows.is_empty()) {
            self.problem(
                path,
                format!("columns and rows belong to tables, not to a {}", raw.kind),
            );
        }
        if with_text {
            let Some(text) = text else {
                self.problem(path, format!("a {} needs vi and en", raw.kind));
                return None;
            };
            let max = if raw.kind == "subheading" {
                MAX_SHORT
            } else {
                MAX_LONG
            };
            self.text(path, &text, max, true);
            return Some(match raw.kind.as_str() {
                "paragraph" => Block::Paragraph { text },
                "subheading" => Block::Subheading { text },
                _ => Block::Note { text },
            });
        }
        if with_items {
            let max = if raw.kind == "fields" {
                MAX_SHORT
            } else {
                MAX_LONG
            };
            self.texts(&format!("{path}.items"), &raw.items, max);
            let items = raw.items;
            return Some(match raw.kind.as_str() {
                "clauses" => Block::Clauses { items },
                "list" => Block::List { items },
                "checklist" => Block::Checklist { items },
                _ => Block::Fields { items },
            });
        }
        if raw.columns.len() < 2 {
            self.problem(
                &format!("{path}.columns"),
                "a table needs at least two columns",
            );
        }
        for (i, c) in raw.columns.iter().enumerate() {
            self.text(&format!("{path}.columns[{i}]"), c, MAX_SHORT, true);
        }
        if raw.rows.is_empty() {
            self.problem(&format!("{path}.rows"), "empty: at least one row");
        }
        let mut rows = Vec::with_capacity(raw.rows.len());
        for (r, row) in raw.rows.into_iter().enumerate() {
            let rp = format!("{path}.rows[{r}]");
            for (lang, cells) in [("vi", &row.vi), ("en", &row.en)] {
                if cells.len() != raw.columns.len() {
                    self.problem(
                        &format!("{rp}.{lang}"),
                        format!("{} cells for {} columns", cells.len(), raw.columns.len()),
                    );
                }
            }
            let cells: Vec<Text> = row
                .vi
                .into_iter()
                .zip(row.en)
                .map(|(vi, en)| Text { vi, en })
                .collect();
            for (c, cell) in cells.iter().enumerate() {
                // Cells are often numbers or codes, the same in both languages.
                self.text(&format!("{rp}[{c}]"), cell, MAX_SHORT, false);
            }
            rows.push(cells);
        }
        Some(Block::Table {
            columns: raw.columns,
            rows,
        })
    }
}

/// Parses one blueprint document and checks it; `file` names it in errors (the file name
/// must be `<id>.toml`).
pub fn parse_blueprint_document(
    file: &str,
    source: &str,
) -> Result<BlueprintDocument, BlueprintFileError> {
    let fail = |problems: Vec<String>| BlueprintFileError {
        file: file.to_string(),
        problems,
    };
    let raw: RawFile =
        basic_toml::from_str(source).map_err(|e| fail(vec![format!("syntax: {e}")]))?;
    let mut c = Checker {
        problems: Vec::new(),
    };
    if !is_valid_id(&raw.id) || !BLUEPRINT_IDS.contains(&raw.id.as_str()) {
        c.problem(
            "id",
            format!("'{}' is not one of {}", raw.id, BLUEPRINT_IDS.join(", ")),
        );
    }
    if file.rsplit('/').next() != Some(format!("{}.toml", raw.id).as_str()) {
        c.problem("id", format!("'{}' does not match the file name", raw.id));
    }
    if raw.version == 0 {
        c.problem("version", "starts at 1");
    }
    c.text("subtitle", &raw.subtitle, MAX_SHORT, true);
    c.text("purpose", &raw.purpose, MAX_LONG, true);
    c.text("scope", &raw.scope, MAX_LONG, true);
    if raw.sections.is_empty() {
        c.problem("sections", "empty: at least one section");
    }
    let mut ids = BTreeSet::new();
    let mut sections = Vec::with_capacity(raw.sections.len());
    for (s, section) in raw.sections.into_iter().enumerate() {
        let sp = format!("sections[{s}]");
        if !is_valid_id(&section.id) {
            c.problem(
                &format!("{sp}.id"),
                format!("'{}' is not a valid id", section.id),
            );
        }
        if !ids.insert(section.id.clone()) {
            c.problem(
                &format!("{sp}.id"),
                format!("'{}' appears twice", section.id),
            );
        }
        c.text(&format!("{sp}.heading"), &section.heading, MAX_SHORT, true);
        if section.blocks.is_empty() {
            c.problem(&format!("{sp}.blocks"), "empty: at least one block");
        }
        let blocks = section
            .blocks
            .into_iter()
            .enumerate()
            .filter_map(|(b, raw)| c.block(&format!("{sp}.blocks[{b}]"), raw))
            .collect();
        sections.push(Section {
            id: section.id,
            heading: section.heading,
            blocks,
        });
    }
    if raw.sources.is_empty() {
        c.problem("sources", "empty: name the guidance the blueprint draws on");
    }
    let mut sources = Vec::with_capacity(raw.sources.len());
    for (i, s) in raw.sources.into_iter().enumerate() {
        let sp = format!("sources[{i}]");
        // Titles of publications stay as published, so vi may equal en.
        c.text(&format!("{sp}.name"), &s.name, MAX_SHORT, false);
        if !(1900..=2100).contains(&s.year) {
            c.problem(
                &format!("{sp}.year"),
                format!("{} is not a plausible year", s.year),
            );
        }
        if !s.url.starts_with("https://") && !s.url.starts_with("http://") {
            c.problem(&format!("{sp}.url"), "must start with https:// or http://");
        }
        sources.push(Source {
            name: s.name,
            year: s.year,
            url: s.url,
        });
    }
    if !c.problems.is_empty() {
        return Err(fail(c.problems));
    }
    Ok(BlueprintDocument {
        id: raw.id,
        version: raw.version,
        letterhead: raw.letterhead,
        subtitle: raw.subtitle,
        purpose: raw.purpose,
        scope: raw.scope,
        sections,
        sources,
    })
}

/// Every shipped blueprint document, one per id of [`BLUEPRINT_IDS`], in that order.
pub fn builtin_blueprint_documents() -> Result<Vec<BlueprintDocument>, BlueprintFileError> {
    let mut out = Vec::with_capacity(BUILTIN_BLUEPRINT_FILES.len());
    for (file, source) in BUILTIN_BLUEPRINT_FILES {
        out.push(parse_blueprint_document(file, source)?);
    }
    let ids: Vec<&str> = out.iter().map(|d| d.id.as_str()).collect();
    if ids != BLUEPRINT_IDS {
        return Err(BlueprintFileError {
            file: "blueprints/".into(),
            problems: vec![format!(
                "the documents are {} but the blueprints are {}",
                ids.join(", "),
                BLUEPRINT_IDS.join(", ")
            )],
        });
    }
    Ok(out)
}

impl BlueprintDocument {
    /// Every text of the document in one language, in reading order (for tests and search).
    pub fn texts(&self, lang: Lang) -> Vec<&str> {
        let mut out = vec![
            self.subtitle.get(lang),
            self.purpose.get(lang),
            self.scope.get(lang),
        ];
        for s in &self.sections {
            out.push(s.heading.get(lang));
            for b in &s.blocks {
                match b {
                    Block::Paragraph { text }
                    | Block::Subheading { text }
                    | Block::Note { text } => out.push(text.get(lang)),
                    Block::Clauses { items }
                    | Block::List { items }
                    | Block::Checklist { items }
                    | Block::Fields { items } => out.extend(items.iter().map(|t| t.get(lang))),
                    Block::Table { columns, rows } => {
                        out.extend(columns.iter().map(|t| t.get(lang)));
                        for row in rows {
                            out.extend(row.iter().map(|t| t.get(lang)));
                        }
                    }
                }
            }
        }
        out.extend(self.sources.iter().map(|s| s.name.get(lang)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_fill_in_fields() {
        assert_eq!(
            segments("Giám đốc [Tên cơ sở] ký ngày [ngày]."),
            vec![
                Segment::Text("Giám đốc "),
                Segment::Field("[Tên cơ sở]"),
                Segment::Text(" ký ngày "),
                Segment::Field("[ngày]"),
                Segment::Text("."),
            ]
        );
        assert_eq!(segments("[a]"), vec![Segment::Field("[a]")]);
        assert_eq!(segments("x [y"), vec![Segment::Text("x [y")]);
        assert!(segments("").is_empty());
    }

    #[test]
    fn fields_must_balance() {
        assert_eq!(count_fields("a [b] c [d e]"), Ok(2));
        assert!(count_fields("a [b").is_err());
        assert!(count_fields("a ]b").is_err());
        assert!(count_fields("a [[b]]").is_err());
        assert!(count_fields("a [ ] b").is_err());
    }
}
