//! Problem codes for incident reports: the IMDRF adverse-event terminology (annexes
//! A–G, read from the published code tables), Vigilo's own AI-specific codes
//! (`codes/ai_codes.toml`), and a keyword suggester that proposes codes from a
//! narrative in Vietnamese or English. Rules and limits: `docs/incident-codes.md`.
//!
//! The IMDRF table is a CSV with the columns `annex, code, term, definition,
//! code_hierarchy` (required) and `annex_name, non_imdrf_code_term, primary_category,
//! secondary_category, status, status_description` (optional); other columns are ignored.
//! Parsing is all or nothing: the first problem stops it with an error naming the line.
//!
//! Annex E is a poly-hierarchy: IMDRF lists a clinical term under every body system it
//! belongs to (`E0102` Brain Injury under both `E01` Nervous System and `E20` Injury), and
//! the 2022/23 release repeats a few rows verbatim. So a code may appear on several rows
//! when its term and definition agree (spaces and case aside); each code becomes one
//! [`ImdrfTerm`] with a primary parent and the others in `other_parents`. The same code
//! with a different term or definition is an error.
//!
//! No I/O: the caller reads the file.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::text::fold;

/// One IMDRF adverse-event term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImdrfTerm {
    /// The annex letter, `A`–`G` (the first letter of the code).
    pub annex: char,
    /// The code, e.g. `A0101`, `E010201`.
    pub code: String,
    pub term: String,
    pub definition: String,
    /// The parent in the primary hierarchy; `None` at the top level. The primary
    /// hierarchy is the first one whose codes extend each other (`E13|E1306`), else
    /// the first listed.
    pub parent: Option<String>,
    /// Further parents (Annex E lists some terms under several body systems).
    pub other_parents: Vec<String>,
    /// Every distinct `code_hierarchy` of the term (`E01|E0102`), the primary first.
    pub hierarchies: Vec<String>,
    /// Depth in the primary hierarchy, 1 at the top.
    pub level: u8,
    /// The mapped term of another terminology (`MedDRA:10060690:Traumatic brain injury`).
    pub other_terminology: Option<String>,
    /// IMDRF's status note (`New`, `Not selectable`, `Retired`, ...), if any.
    pub status: Option<String>,
    /// The first line of the file the term is on.
    pub line: u64,
}

impl ImdrfTerm {
    /// Whether a reporter may choose the term: IMDRF marks group headings "Not
    /// selectable" and withdrawn terms "Retired".
    pub fn selectable(&self) -> bool {
        self.status.as_deref().is_none_or(|s| {
            let s = s.to_ascii_lowercase();
            !(s.contains("not selectable") || s.contains("retired"))
        })
    }

    /// How many distinct rows of the table the term occupies (one per hierarchy).
    pub fn rows(&self) -> usize {
        self.hierarchies.len()
    }
}

/// The IMDRF annex names, by letter.
pub fn imdrf_annex_name(annex: char) -> Option<&'static str> {
    Some(match annex {
        'A' => "Medical Device Problem",
        'B' => "Cause Investigation: Type of Investigation",
        'C' => "Cause Investigation: Investigation Findings",
        'D' => "Cause Investigation: Investigation Conclusion",
        'E' => "Health Effects: Clinical Signs, Symptoms and Conditions",
        'F' => "Health Effects: Health Impact",
        'G' => "Medical Device Component",
        _ => return None,
    })
}

const REQUIRED_COLUMNS: &str = "annex, code, term, definition, code_hierarchy";

/// Why an IMDRF table could not be read. Every variant about a place in the file
/// names its 1-based line; the message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImdrfError {
    #[error("the file is empty: export the IMDRF annex tables as CSV with a header row ({REQUIRED_COLUMNS})")]
    Empty,
    #[error("line {line}: the file has a header but no terms")]
    NoRows { line: u64 },
    #[error(
        "line {line}: unreadable CSV: {message}; save the file as UTF-8 CSV and import it again"
    )]
    Csv { line: u64, message: String },
    #[error("line {line}: missing column '{column}' (the header has: {found}); the table needs the columns {REQUIRED_COLUMNS}")]
    MissingColumn {
        line: u64,
        column: &'static str,
        found: String,
    },
    #[error("line {line}: column '{column}' appears twice in the header; remove one")]
    DuplicateColumn { line: u64, column: String },
    #[error(
        "line {line}: {found} fields where the header has {expected}; check for an unquoted comma"
    )]
    FieldCount {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("line {line}, column '{column}': empty; every term needs it")]
    EmptyField { line: u64, column: &'static str },
    #[error("line {line}, column 'annex': '{value}' is not an annex letter (A to G)")]
    BadAnnex { line: u64, value: String },
    #[error("line {line}, column '{column}': '{value}' is not an IMDRF code (an annex letter and at least two digits, e.g. A0101)")]
    BadCode {
        line: u64,
        column: &'static str,
        value: String,
    },
    #[error("line {line}: code {code} does not belong to annex {annex} (its letter must match the 'annex' column)")]
    AnnexMismatch {
        line: u64,
        code: String,
        annex: char,
    },
    #[error(
        "line {line}, column 'code_hierarchy': '{hierarchy}' must end with the row's code {code}"
    )]
    HierarchyEnd {
        line: u64,
        code: String,
        hierarchy: String,
    },
    #[error("line {line}: code {code} appeared on line {first_line} with a different {column}; one code has one {column}")]
    ConflictingDuplicate {
        line: u64,
        code: String,
        first_line: u64,
        column: &'static str,
    },
    #[error("line {line}, column 'code_hierarchy': the parent {parent} of {code} is not in the table; import the complete annex")]
    MissingParent {
        line: u64,
        code: String,
        parent: String,
    },
    #[error("line {line}, column 'code_hierarchy': '{hierarchy}' places {parent} where the table never does; the hierarchy must follow {parent}'s own rows")]
    InconsistentHierarchy {
        line: u64,
        hierarchy: String,
        parent: String,
    },
}

impl ImdrfError {
    /// The 1-based line the error is about, when it is about one.
    pub fn line(&self) -> Option<u64> {
        use ImdrfError::*;
        match self {
            Empty => None,
            NoRows { line }
            | Csv { line, .. }
            | MissingColumn { line, .. }
            | DuplicateColumn { line, .. }
            | FieldCount { line, .. }
            | EmptyField { line, .. }
            | BadAnnex { line, .. }
            | BadCode { line, .. }
            | AnnexMismatch { line, .. }
            | HierarchyEnd { line, .. }
            | ConflictingDuplicate { line, .. }
            | MissingParent { line, .. }
            | InconsistentHierarchy { line, .. } => Some(*line),
        }
    }
}

/// A value for an error message: at most 60 characters, control characters escaped.
fn shown(value: &str) -> String {
    let t = value.trim();
    let mut out: String = t.chars().take(60).flat_map(char::escape_debug).collect();
    if t.chars().count() > 60 {
        out.push('…');
    }
    out
}

/// Line numbers of CSV records, counted from byte offsets (the `csv` crate's own line
/// count skips newlines inside quoted fields and miscounts CRLF files).
pub(crate) struct CsvLines<'a> {
    text: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> CsvLines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        CsvLines {
            text: text.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line where a record starting at `byte` begins (blank lines the
    /// reader skipped before it are stepped over).
    pub(crate) fn at(&mut self, byte: u64) -> u64 {
        let mut offset = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while matches!(self.text.get(offset), Some(b'\r' | b'\n')) {
            offset += 1;
        }
        if offset < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        if let Some(chunk) = self.text.get(self.offset..offset) {
            self.line += chunk.iter().filter(|&&c| c == b'\n').count() as u64;
        }
        self.offset = offset;
        self.line
    }

    /// The line of a record.
    pub(crate) fn of(&mut self, record: &csv::StringRecord) -> u64 {
        record.position().map_or(1, |p| self.at(p.byte()))
    }

    /// The line of a CSV error.
    pub(crate) fn of_error(&mut self, e: &csv::Error) -> u64 {
        e.position().map_or(1, |p| self.at(p.byte()))
    }
}

/// A code: an upper-case letter and at least two digits.
fn valid_code(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && s.len() >= 3
        && chars.all(|c| c.is_ascii_digit())
}

/// Whether each code of a hierarchy extends the one before (`E13|E1306`).
fn natural(path: &[String]) -> bool {
    path.windows(2).all(|w| w[1].starts_with(w[0].as_str()))
}

/// Text compared without case and spacing (the release writes one term both as
/// `Elevated ketones/Diabetic Ketoacidosis` and `Elevated ketones/ Diabetic Ketoacidosis`).
fn same_text(a: &str, b: &str) -> bool {
    let squeeze = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    };
    squeeze(a) == squeeze(b)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Annex,
    Code,
    Term,
    Definition,
    Hierarchy,
    OtherTerminology,
    Status,
}

const REQUIRED: [(Col, &str); 5] = [
    (Col::Annex, "annex"),
    (Col::Code, "code"),
    (Col::Term, "term"),
    (Col::Definition, "definition"),
    (Col::Hierarchy, "code_hierarchy"),
];

fn column_of(name: &str) -> Option<Col> {
    match name.trim().to_ascii_lowercase().as_str() {
        "annex" => Some(Col::Annex),
        "code" => Some(Col::Code),
        "term" => Some(Col::Term),
        "definition" => Some(Col::Definition),
        "code_hierarchy" => Some(Col::Hierarchy),
        "non_imdrf_code_term" => Some(Col::OtherTerminology),
        "status" => Some(Col::Status),
        _ => None,
    }
}

fn csv_error(lines: &mut CsvLines, e: &csv::Error) -> ImdrfError {
    ImdrfError::Csv {
        line: lines.of_error(e),
        message: e.to_string(),
    }
}

/// Reads the IMDRF adverse-event terminology CSV (see the module documentation).
/// Terms come out in the order of their first row.
pub fn parse_imdrf(input: &str) -> Result<Vec<ImdrfTerm>, ImdrfError> {
    let text = input.strip_prefix('\u{feff}').unwrap_or(input);
    if text.trim().is_empty() {
        return Err(ImdrfError::Empty);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut lines = CsvLines::new(text);
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err(ImdrfError::Empty),
        Some(r) => r.map_err(|e| csv_error(&mut lines, &e))?,
    };
    let header_line = lines.of(&header);
    let mut columns: HashMap<u8, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        if let Some(col) = column_of(name) {
            if columns.insert(col as u8, i).is_some() {
                return Err(ImdrfError::DuplicateColumn {
                    line: header_line,
                    column: shown(name),
                });
            }
        }
    }
    for (col, name) in REQUIRED {
        if !columns.contains_key(&(col as u8)) {
            return Err(ImdrfError::MissingColumn {
                line: header_line,
                column: name,
                found: header
                    .iter()
                    .take(12)
                    .map(shown)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }

    let mut terms: Vec<ImdrfTerm> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // Every hierarchy seen, per code, and the line of each row (for parent checks).
    let mut paths: HashMap<String, HashSet<String>> = HashMap::new();
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for record in records {
        let record = record.map_err(|e| csv_error(&mut lines, &e))?;
        let line = lines.of(&record);
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            return Err(ImdrfError::FieldCount {
                line,
                expected: header.len(),
                found: record.len(),
            });
        }
        let get = |c: Col| {
            columns
                .get(&(c as u8))
                .and_then(|&i| record.get(i))
                .unwrap_or("")
                .trim()
        };
        for (col, name) in REQUIRED {
            if get(col).is_empty() {
                return Err(ImdrfError::EmptyField { line, column: name });
            }
        }
        let annex_text = get(Col::Annex);
        let annex = match annex_text.chars().collect::<Vec<_>>().as_slice() {
            [c] if ('A'..='G').contains(&c.to_ascii_uppercase()) => c.to_ascii_uppercase(),
            _ => {
                return Err(ImdrfError::BadAnnex {
                    line,
                    value: shown(annex_text),
                })
            }
        };
        let code = get(Col::Code).to_ascii_uppercase();
        if !valid_code(&code) {
            return Err(ImdrfError::BadCode {
                line,
                column: "code",
                value: shown(&code),
            });
        }
        if !code.starts_with(annex) {
            return Err(ImdrfError::AnnexMismatch { line, code, annex });
        }
        let hierarchy_text = get(Col::Hierarchy);
        let path: Vec<String> = hierarchy_text
            .split('|')
            .map(|c| c.trim().to_ascii_uppercase())
            .collect();
        for c in &path {
            if !valid_code(c) {
                return Err(ImdrfError::BadCode {
                    line,
                    column: "code_hierarchy",
                    value: shown(c),
                });
            }
            if !c.starts_with(annex) {
                return Err(ImdrfError::AnnexMismatch {
                    line,
                    code: c.clone(),
                    annex,
                });
            }
        }
        if path.last() != Some(&code) {
            return Err(ImdrfError::HierarchyEnd {
                line,
                code,
                hierarchy: shown(hierarchy_text),
            });
        }
        let parent = path.len().checked_sub(2).and_then(|i| path.get(i)).cloned();
        let term = get(Col::Term).to_string();
        let definition = get(Col::Definition).to_string();
        let optional = |c: Col| Some(get(c).to_string()).filter(|s| !s.is_empty());
        let joined = path.join("|");
        let new_path = paths
            .entry(code.clone())
            .or_default()
            .insert(joined.clone());
        rows.push((line, path.clone()));
        match index.get(&code).and_then(|&i| terms.get_mut(i)) {
            Some(existing) => {
                for (column, a, b) in [
                    ("term", &existing.term, &term),
                    ("definition", &existing.definition, &definition),
                ] {
                    if !same_text(a, b) {
                        return Err(ImdrfError::ConflictingDuplicate {
                            line,
                            code,
                            first_line: existing.line,
                            column,
                        });
                    }
                }
                if !new_path {
                    continue;
                }
                let level = u8::try_from(path.len()).unwrap_or(u8::MAX);
                let primary_natural = existing.level <= 1
                    || existing
                        .parent
                        .as_deref()
                        .is_some_and(|p| code.starts_with(p));
                if !primary_natural && natural(&path) {
                    if let Some(old) = existing.parent.take() {
                        existing.other_parents.push(old);
                    }
                    existing
                        .other_parents
                        .retain(|p| Some(p) != parent.as_ref());
                    existing.parent = parent;
                    existing.level = level;
                    existing.hierarchies.insert(0, joined);
                } else {
                    existing.hierarchies.push(joined);
                    if let Some(p) = parent {
                        if existing.parent.as_ref() != Some(&p)
                            && !existing.other_parents.contains(&p)
                        {
                            existing.other_parents.push(p);
                        }
                    }
                }
            }
            None => {
                index.insert(code.clone(), terms.len());
                terms.push(ImdrfTerm {
                    annex,
                    code,
                    term,
                    definition,
                    parent,
                    other_parents: Vec::new(),
                    hierarchies: vec![joined],
                    level: u8::try_from(path.len()).unwrap_or(u8::MAX),
                    other_terminology: optional(Col::OtherTerminology),
                    status: optional(Col::Status),
                    line,
                });
            }
        }
    }
    if terms.is_empty() {
        return Err(ImdrfError::NoRows { line: header_line });
    }
    for (line, path) in &rows {
        let n = path.len();
        if n < 2 {
            continue;
        }
        let (Some(parent), Some(code)) = (path.get(n - 2), path.get(n - 1)) else {
            continue;
        };
        let Some(parent_paths) = paths.get(parent) else {
            return Err(ImdrfError::MissingParent {
                line: *line,
                code: code.clone(),
                parent: parent.clone(),
            });
        };
        let prefix = path.get(..n - 1).map(|p| p.join("|")).unwrap_or_default();
        if !parent_paths.contains(&prefix) {
            return Err(ImdrfError::InconsistentHierarchy {
                line: *line,
                hierarchy: path.join("|"),
                parent: parent.clone(),
            });
        }
    }
    Ok(terms)
}

/// One of Vigilo's AI-specific problem codes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiCode {
    /// Stable code, `AI01`…
    pub code: String,
    pub term_vi: String,
    pub term_en: String,
    pub definition_vi: String,
    pub definition_en: String,
    pub keywords_vi: Vec<String>,
    pub keywords_en: Vec<String>,
    /// IMDRF codes a reviewer often adds alongside.
    #[serde(default)]
    pub imdrf: Vec<String>,
    #[serde(default)]
    pub retired: bool,
}

impl AiCode {
    pub fn term(&self, lang: crate::Lang) -> &str {
        match lang {
            crate::Lang::Vi => &self.term_vi,
            crate::Lang::En => &self.term_en,
        }
    }

    pub fn definition(&self, lang: crate::Lang) -> &str {
        match lang {
            crate::Lang::Vi => &self.definition_vi,
            crate::Lang::En => &self.definition_en,
        }
    }
}

/// Extra words for an IMDRF term (Vietnamese, and English the term's words miss).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImdrfSynonyms {
    pub code: String,
    #[serde(default)]
    pub keywords_vi: Vec<String>,
    #[serde(default)]
    pub keywords_en: Vec<String>,
}

/// The AI codes file: its codes and the IMDRF synonyms.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiCodeBook {
    #[serde(rename = "code")]
    pub codes: Vec<AiCode>,
    #[serde(rename = "imdrf_synonym", default)]
    pub imdrf_synonyms: Vec<ImdrfSynonyms>,
}

/// The embedded AI codes file.
pub const AI_CODES_TOML: &str = include_str!("../codes/ai_codes.toml");

/// A problem in an AI codes file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AiCodesError {
    #[error("AI codes file: {0}")]
    Toml(String),
    #[error("AI codes file: '{0}' is not a code of the form AI01")]
    BadCode(String),
    #[error("AI codes file: code {0} appears twice")]
    Duplicate(String),
    #[error("AI codes file: code {code} has an empty {field}")]
    Empty { code: String, field: &'static str },
}

/// Reads and checks an AI codes file (codes `AI` and two or more digits, unique, every
/// text present, at least one keyword per language).
pub fn parse_ai_codes(toml: &str) -> Result<AiCodeBook, AiCodesError> {
    let book: AiCodeBook =
        basic_toml::from_str(toml).map_err(|e| AiCodesError::Toml(e.to_string()))?;
    let mut seen = HashSet::new();
    for c in &book.codes {
        let digits = c.code.strip_prefix("AI").unwrap_or("");
        if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AiCodesError::BadCode(c.code.clone()));
        }
        if !seen.insert(c.code.as_str()) {
            return Err(AiCodesError::Duplicate(c.code.clone()));
        }
        for (field, empty) in [
            ("term_vi", c.term_vi.trim().is_empty()),
            ("term_en", c.term_en.trim().is_empty()),
            ("definition_vi", c.definition_vi.trim().is_empty()),
            ("definition_en", c.definition_en.trim().is_empty()),
            (
                "keywords_vi",
                c.keywords_vi.iter().all(|k| k.trim().is_empty()),
            ),
            (
                "keywords_en",
                c.keywords_en.iter().all(|k| k.trim().is_empty()),
            ),
        ] {
            if empty {
                return Err(AiCodesError::Empty {
                    code: c.code.clone(),
                    field,
                });
            }
        }
    }
    Ok(book)
}

/// The embedded AI codes and synonyms (checked by a test, so this cannot fail in a
/// released build; an empty book is returned if it somehow did).
pub fn ai_code_book() -> AiCodeBook {
    parse_ai_codes(AI_CODES_TOML).unwrap_or(AiCodeBook {
        codes: Vec::new(),
        imdrf_synonyms: Vec::new(),
    })
}

/// The embedded AI codes.
pub fn ai_codes() -> Vec<AiCode> {
    ai_code_book().codes
}

// ---------------------------------------------------------------------------
// Suggestion

/// A suggested code for a narrative, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// An AI code (`AI03`) or an IMDRF code (`A090803`).
    pub code: String,
    pub score: f32,
    /// What matched, as written in the code book or term (`did not flag`,
    /// `via AI03`), in order of discovery.
    pub matched: Vec<String>,
}

/// English words too common in IMDRF terms to say anything on their own.
// Device words that mean something else in a clinical story ("Failure to Power Up",
// "Failure to Discharge", "High Test Results") are stop words too.
const STOP_WORDS: &str =
    "a an and or of the to in on for with by from at as into due not no non other device \
    devices problem problems related use used using user patient issue failure type \
    unspecified specified without within than its after during prior under over more \
    less can cannot that this which is was be been are were has have had it e.g etc \
    power discharge result results test reading readings high low";

/// Splits folded text into tokens: runs of letters and digits (`2g` and `x-ray`
/// become `2g`, `x`, `ray`).
fn tokens(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(stem)
        .collect()
}

/// Light English stemming, safe for folded Vietnamese (whose syllables never end in
/// `s`, `ed` or `ing` and are at most seven letters): drops a plural `s`, `ed` and
/// `ing`, and keeps the first seven letters of longer words, so `hallucinated`,
/// `hallucination` and `hallucinating` meet at `halluci` (six would make
/// `underdiagnosis` an `underdose`). `bias` keeps its `s` (it
/// would otherwise meet `bịa`, "to make up").
fn stem(token: &str) -> String {
    let mut t = token;
    if let Some(rest) = t.strip_suffix("ing").or_else(|| t.strip_suffix("ed")) {
        if rest.len() >= 4 || (rest.len() == 3 && t.ends_with("ing")) {
            t = rest;
            // "flagged", "stopped", "admitted": undo the doubled consonant.
            let b = t.as_bytes();
            if let [.., x, y] = b {
                if x == y && b"bdgmnprt".contains(y) {
                    t = t.get(..t.len() - 1).unwrap_or(t);
                }
            }
        }
    } else if let Some(rest) = t.strip_suffix('s') {
        // Not "bias", "diagnosis", "status", "class": only plain plurals.
        if rest.len() >= 3 && !rest.ends_with(['s', 'u', 'i', 'a']) {
            t = rest;
        }
    }
    t.chars().take(7).collect()
}

/// A keyword phrase pointing at a code.
struct Phrase {
    tokens: Vec<String>,
    target: usize,
    shown: String,
    weight: f32,
}

/// One code the suggester can propose.
struct Target {
    code: String,
    /// For an AI code: the indices of the IMDRF targets it links to.
    links: Vec<usize>,
    /// For an IMDRF term: its content words (stemmed), all of which must appear.
    words: Vec<String>,
    term: String,
}

/// Score and reasons per target.
type Scores = HashMap<usize, (f32, Vec<String>)>;

/// A precomputed matcher over the AI codes and the suggestible IMDRF terms (selectable
/// terms of annexes A, E and F). Build it once, then call [`CodeSuggester::suggest`] per
/// narrative.
pub struct CodeSuggester {
    targets: Vec<Target>,
    /// Keyword phrases by their first token.
    phrases: HashMap<String, Vec<Phrase>>,
    /// IMDRF targets by each of their content words.
    by_word: HashMap<String, Vec<usize>>,
}

/// Score of a code suggested through an AI code's link, as a share of that code's score.
const LINK_SHARE: f32 = 0.5;
/// A phrase of n words weighs n, at most this.
const MAX_PHRASE_WEIGHT: usize = 3;

/// Terms that say nothing about the event ("Insufficient Information",
/// "Appropriate Term/Code Not Available").
fn placeholder_term(folded: &str) -> bool {
    folded.starts_with("appropriate term") || folded.starts_with("insufficient information")
}

impl CodeSuggester {
    /// Builds the matcher. IMDRF codes named by AI code links or synonyms but absent
    /// from `terms` (another release) are left out.
    pub fn new(terms: &[ImdrfTerm], ai: &[AiCode]) -> CodeSuggester {
        Self::with_synonyms(terms, ai, &ai_code_book().imdrf_synonyms)
    }

    /// As [`CodeSuggester::new`] with the given IMDRF synonyms instead of the embedded ones.
    pub fn with_synonyms(
        terms: &[ImdrfTerm],
        ai: &[AiCode],
        synonyms: &[ImdrfSynonyms],
    ) -> CodeSuggester {
        let stop: HashSet<String> = STOP_WORDS.split_whitespace().map(stem).collect();
        let mut s = CodeSuggester {
            targets: Vec::new(),
            phrases: HashMap::new(),
            by_word: HashMap::new(),
        };
        let mut imdrf_index: HashMap<&str, usize> = HashMap::new();
        for t in terms {
            if !matches!(t.annex, 'A' | 'E' | 'F') || !t.selectable() {
                continue;
            }
            let folded = fold(&t.term);
            if placeholder_term(&folded) {
                continue;
            }
            let mut words: Vec<String> = Vec::new();
            for w in tokens(&t.term) {
                if w.len() >= 3 && !stop.contains(&w) && !words.contains(&w) {
                    words.push(w);
                }
            }
            let i = s.targets.len();
            for w in &words {
                s.by_word.entry(w.clone()).or_default().push(i);
            }
            imdrf_index.insert(t.code.as_str(), i);
            s.targets.push(Target {
                code: t.code.clone(),
                links: Vec::new(),
                words,
                term: t.term.clone(),
            });
        }
        for syn in synonyms {
            if let Some(&i) = imdrf_index.get(syn.code.as_str()) {
                for k in syn.keywords_vi.iter().chain(&syn.keywords_en) {
                    s.add_phrase(k, i);
                }
            }
        }
        for code in ai.iter().filter(|c| !c.retired) {
            let i = s.targets.len();
            let links = code
                .imdrf
                .iter()
                .filter_map(|c| imdrf_index.get(c.as_str()).copied())
                .collect();
            s.targets.push(Target {
                code: code.code.clone(),
                links,
                words: Vec::new(),
                term: code.term_en.clone(),
            });
            for k in code.keywords_vi.iter().chain(&code.keywords_en) {
                s.add_phrase(k, i);
            }
        }
        s
    }

    fn add_phrase(&mut self, keyword: &str, target: usize) {
        let toks = tokens(keyword);
        let Some(first) = toks.first().cloned() else {
            return;
        };
        let weight = toks.len().min(MAX_PHRASE_WEIGHT) as f32;
        let same = self.phrases.entry(first).or_default();
        // Keywords that stem alike ("fabricated", "fabrication") are one phrase.
        if same.iter().any(|p| p.target == target && p.tokens == toks) {
            return;
        }
        same.push(Phrase {
            tokens: toks,
            target,
            shown: keyword.trim().to_string(),
            weight,
        });
    }

    /// The `n` best codes for a narrative, best first (on a tie AI codes first, then by
    /// code). Scores: a keyword phrase of k words adds k (at most 3, each phrase once);
    /// an IMDRF term whose content words all occur adds the number of those words (at
    /// most 3); a code an AI code links to gets half the best linking AI code's score.
    pub fn suggest(&self, narrative: &str, n: usize) -> Vec<Suggestion> {
        let toks = tokens(narrative);
        let mut scores: Scores = HashMap::new();
        fn add(scores: &mut Scores, target: usize, score: f32, why: &str) {
            let e = scores.entry(target).or_insert((0.0, Vec::new()));
            if !e.1.iter().any(|m| m == why) {
                e.0 += score;
                e.1.push(why.to_string());
            }
        }
        for (i, tok) in toks.iter().enumerate() {
            let Some(candidates) = self.phrases.get(tok) else {
                continue;
            };
            for p in candidates {
                let fits = toks
                    .get(i..i + p.tokens.len())
                    .is_some_and(|window| window == p.tokens.as_slice());
                if fits {
                    add(&mut scores, p.target, p.weight, &p.shown);
                }
            }
        }
        let present: HashSet<&String> = toks.iter().collect();
        let mut checked: HashSet<usize> = HashSet::new();
        for tok in &present {
            for &t in self.by_word.get(*tok).into_iter().flatten() {
                if !checked.insert(t) {
                    continue;
                }
                let Some(target) = self.targets.get(t) else {
                    continue;
                };
                if !target.words.is_empty() && target.words.iter().all(|w| present.contains(w)) {
                    let weight = target.words.len().min(MAX_PHRASE_WEIGHT) as f32;
                    add(&mut scores, t, weight, &target.term);
                }
            }
        }
        // Links from AI codes, from their own keyword scores only.
        let mut ai_scores: Vec<(usize, f32, String)> = scores
            .iter()
            .filter_map(|(&t, (score, _))| {
                let target = self.targets.get(t)?;
                (!target.links.is_empty()).then(|| (t, *score, target.code.clone()))
            })
            .collect();
        ai_scores.sort_by(|a, b| a.2.cmp(&b.2));
        // A linked code gets the share of its best linking AI code once, however many link to it.
        let mut linked: HashMap<usize, (f32, Vec<String>)> = HashMap::new();
        for (t, score, code) in ai_scores {
            for &l in self
                .targets
                .get(t)
                .map(|x| x.links.as_slice())
                .unwrap_or_default()
            {
                let e = linked.entry(l).or_insert((0.0, Vec::new()));
                e.0 = e.0.max(score * LINK_SHARE);
                e.1.push(format!("via {code}"));
            }
        }
        for (l, (score, reasons)) in linked {
            let e = scores.entry(l).or_insert((0.0, Vec::new()));
            e.0 += score;
            e.1.extend(reasons);
        }
        let mut out: Vec<Suggestion> = scores
            .into_iter()
            .filter_map(|(t, (score, matched))| {
                Some(Suggestion {
                    code: self.targets.get(t)?.code.clone(),
                    score,
                    matched,
                })
            })
            .collect();
        // Best first; on a tie Vigilo's AI codes before IMDRF terms, then by code.
        out.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| b.code.starts_with("AI").cmp(&a.code.starts_with("AI")))
                .then_with(|| a.code.cmp(&b.code))
        });
        out.truncate(n);
        out
    }
}

/// One-off suggestion (builds the matcher each call; use [`CodeSuggester`] at intake).
pub fn suggest_codes(narrative: &str, terms: &[ImdrfTerm], ai: &[AiCode]) -> Vec<Suggestion> {
    CodeSuggester::new(terms, ai).suggest(narrative, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "annex,annex_name,code,term,definition,non_imdrf_code_term,primary_category,secondary_category,status,status_description,code_hierarchy\n";

    fn table(rows: &[&str]) -> String {
        let mut s = HEADER.to_string();
        for r in rows {
            s.push_str(r);
            s.push('\n');
        }
        s
    }

    fn small() -> String {
        table(&[
            "A,Medical Device Problem,A09,Output Problem,Problem with the output.,,,,,,A09",
            "A,Medical Device Problem,A0908,\"Incorrect, Inadequate or Imprecise Result or Readings\",Wrong result.,,,,,,A09|A0908",
            "A,Medical Device Problem,A090803,False Negative Result,A negative result that should be positive.,,,,,,A09|A0908|A090803",
            "A,Medical Device Problem,A090804,False Positive Result,A positive result that should be negative.,,,,,,A09|A0908|A090804",
            "A,Medical Device Problem,A2304,Off-Label Use,Use outside the labelling.,,,,,,A23|A2304",
            "A,Medical Device Problem,A23,Use of Device Problem,Problem with use.,,,,,,A23",
            "A,Medical Device Problem,A27,Appropriate Term/Code Not Available,No other term.,,,,,,A27",
            "E,Health Effects,E01,Nervous System,Nervous system.,,,,Not selectable,Use a detailed term,E01",
            "E,Health Effects,E20,Injury,Injury.,,,,Not selectable,,E20",
            "E,Health Effects,E0102,Brain Injury,Damage to the brain.,MedDRA:10060690:Traumatic brain injury,Nervous System,Injury,,,E20|E0102",
            "E,Health Effects,E0102,Brain  injury,Damage to the brain.,MedDRA:10060690:Traumatic brain injury,Nervous System,Injury,,,E01|E0102",
            "E,Health Effects,E0102,Brain Injury,Damage to the brain.,MedDRA:10060690:Traumatic brain injury,Nervous System,Injury,,,E01|E0102",
            "F,Health Effects - Health Impact,F02,Death,The patient died.,,,,,,F02",
            "F,Health Effects - Health Impact,F04,Delay to Diagnosis,Diagnosis was delayed.,,,,,,F04",
            "F,Health Effects - Health Impact,F13,Misdiagnosis/ Misclassification,Wrong diagnosis.,,,,,,F13",
            "F,Health Effects - Health Impact,F10,Inadequate/Inappropriate Treatment or Diagnostic Exposure,Wrong treatment.,,,,,,F10",
            "F,Health Effects - Health Impact,F1005,Overdose,Too much.,,,,,,F10|F1005",
            "G,Medical Device Component,G04081,Leaflet,A leaflet.,,,,Retired,,G04081",
        ])
    }

    fn err(input: &str) -> ImdrfError {
        parse_imdrf(input).unwrap_err()
    }

    #[test]
    fn reads_terms_and_merges_the_poly_hierarchy() {
        let terms = parse_imdrf(&small()).unwrap();
        assert_eq!(terms.len(), 16);
        let get = |c: &str| terms.iter().find(|t| t.code == c).unwrap();
        let t = get("A090803");
        assert_eq!(t.annex, 'A');
        assert_eq!(t.term, "False Negative Result");
        assert_eq!(t.parent.as_deref(), Some("A0908"));
        assert_eq!(t.level, 3);
        assert_eq!(t.line, 4);
        assert_eq!(get("A09").parent, None);
        assert_eq!(
            get("A0908").term,
            "Incorrect, Inadequate or Imprecise Result or Readings"
        );
        // Listed under E20 first, then under E01 (whose code it extends): E01 is primary.
        let brain = get("E0102");
        assert_eq!(brain.parent.as_deref(), Some("E01"));
        assert_eq!(brain.other_parents, vec!["E20".to_string()]);
        assert_eq!(brain.rows(), 2);
        assert_eq!(brain.hierarchies, ["E01|E0102", "E20|E0102"]);
        assert_eq!(brain.level, 2);
        assert_eq!(brain.line, 11);
        assert_eq!(
            brain.other_terminology.as_deref(),
            Some("MedDRA:10060690:Traumatic brain injury")
        );
        assert!(!get("E01").selectable());
        assert!(!get("G04081").selectable());
        assert!(get("E0102").selectable());
        assert_eq!(imdrf_annex_name('F'), Some("Health Effects: Health Impact"));
        assert_eq!(imdrf_annex_name('H'), None);
    }

    #[test]
    fn tolerates_bom_crlf_blank_lines_and_extra_columns() {
        let input = "\u{feff}code,term,definition,annex,code_hierarchy,comment\r\nA09,Output Problem,\"Problem,\r\nwith output\",A,A09,x\r\n\r\nA0907,No Device Output,None.,a,A09|A0907,\r\n";
        let terms = parse_imdrf(input).unwrap();
        assert_eq!(terms.len(), 2);
        assert_eq!(terms[0].definition, "Problem,\r\nwith output");
        assert_eq!(terms[1].annex, 'A');
        assert_eq!(terms[1].line, 5);
    }

    #[test]
    fn structural_errors_name_the_line() {
        assert_eq!(err(""), ImdrfError::Empty);
        assert_eq!(err("\u{feff} \n"), ImdrfError::Empty);
        assert_eq!(err(HEADER), ImdrfError::NoRows { line: 1 });
        let e = err("annex,code,term,definition\nA,A09,Output,Def\n");
        assert!(
            matches!(&e, ImdrfError::MissingColumn { line: 1, column: "code_hierarchy", found } if found.contains("definition")),
            "{e:?}"
        );
        assert!(e.to_string().contains("code_hierarchy"), "{e}");
        assert!(matches!(
            err("annex,code,Code,term,definition,code_hierarchy\n"),
            ImdrfError::DuplicateColumn { line: 1, .. }
        ));
        let e = err(&table(&[
            "A,M,A09,Output,Def,,,,,,A09",
            "A,M,A0901,Output,Def",
        ]));
        assert_eq!(
            e,
            ImdrfError::FieldCount {
                line: 3,
                expected: 11,
                found: 5
            }
        );
        assert_eq!(
            err(&table(&["A,M,A09, ,Def,,,,,,A09"])),
            ImdrfError::EmptyField {
                line: 2,
                column: "term"
            }
        );
    }

    #[test]
    fn code_errors_name_the_line_and_column() {
        assert!(matches!(
            err(&table(&["A,M,A09,T,D,,,,,,A09", "H,M,H09,T,D,,,,,,H09"])),
            ImdrfError::BadAnnex { line: 3, .. }
        ));
        assert!(matches!(
            err(&table(&["AB,M,A09,T,D,,,,,,A09"])),
            ImdrfError::BadAnnex { line: 2, .. }
        ));
        assert_eq!(
            err(&table(&["A,M,A9X,T,D,,,,,,A9X"])),
            ImdrfError::BadCode {
                line: 2,
                column: "code",
                value: "A9X".into()
            }
        );
        assert_eq!(
            err(&table(&["A,M,E09,T,D,,,,,,E09"])),
            ImdrfError::AnnexMismatch {
                line: 2,
                code: "E09".into(),
                annex: 'A'
            }
        );
        assert!(matches!(
            err(&table(&["A,M,A0901,T,D,,,,,,A09|A09x1"])),
            ImdrfError::BadCode {
                line: 2,
                column: "code_hierarchy",
                ..
            }
        ));
        assert!(matches!(
            err(&table(&["A,M,A0901,T,D,,,,,,E09|A0901"])),
            ImdrfError::AnnexMismatch { line: 2, .. }
        ));
        let e = err(&table(&["A,M,A09,T,D,,,,,,A09", "A,M,A0901,T,D,,,,,,A09"]));
        assert!(
            matches!(&e, ImdrfError::HierarchyEnd { line: 3, code, .. } if code == "A0901"),
            "{e:?}"
        );
    }

    #[test]
    fn duplicates_and_parents_are_checked() {
        let e = err(&table(&[
            "A,M,A09,Output,D,,,,,,A09",
            "A,M,A0901,One,D,,,,,,A09|A0901",
            "A,M,A0901,Other,D,,,,,,A09|A0901",
        ]));
        assert_eq!(
            e,
            ImdrfError::ConflictingDuplicate {
                line: 4,
                code: "A0901".into(),
                first_line: 3,
                column: "term"
            }
        );
        assert!(e.to_string().contains("line 4") && e.to_string().contains("line 3"));
        assert!(matches!(
            err(&table(&[
                "A,M,A09,Output,D,,,,,,A09",
                "A,M,A09,Output,Changed,,,,,,A09",
            ])),
            ImdrfError::ConflictingDuplicate {
                column: "definition",
                ..
            }
        ));
        // A child before its parent is fine; a parent that never comes is not.
        assert!(parse_imdrf(&table(&[
            "A,M,A0901,T,D,,,,,,A09|A0901",
            "A,M,A09,T,D,,,,,,A09"
        ]))
        .is_ok());
        assert_eq!(
            err(&table(&[
                "A,M,A09,T,D,,,,,,A09",
                "A,M,A100101,T,D,,,,,,A10|A1001|A100101"
            ])),
            ImdrfError::MissingParent {
                line: 3,
                code: "A100101".into(),
                parent: "A1001".into()
            }
        );
        // The parent exists, but never under that grandparent.
        assert!(matches!(
            err(&table(&[
                "A,M,A09,T,D,,,,,,A09",
                "A,M,A10,T,D,,,,,,A10",
                "A,M,A0901,T,D,,,,,,A09|A0901",
                "A,M,A090101,T,D,,,,,,A10|A0901|A090101",
            ])),
            ImdrfError::InconsistentHierarchy { line: 5, .. }
        ));
        for e in [
            err(&table(&["A,M,A09,T,D,,,,,,A09", "A,M,A0901,T,D"])),
            err(&table(&["A,M,A0901,T,D,,,,,,A09|A0901"])),
        ] {
            assert!(
                e.line().is_some() && e.to_string().starts_with("line "),
                "{e}"
            );
        }
        assert_eq!(ImdrfError::Empty.line(), None);
    }

    fn data_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
    }

    fn real_terms() -> Option<Vec<ImdrfTerm>> {
        let path = data_dir().join("imdrf_ae_terminology_annexes_a-g.csv");
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(parse_imdrf(&text).unwrap()),
            Err(_) => {
                println!("skipped: {} not found", path.display());
                None
            }
        }
    }

    #[test]
    fn reads_the_published_table() {
        let Some(terms) = real_terms() else { return };
        let rows: usize = terms.iter().map(ImdrfTerm::rows).sum();
        // Rows per annex as published; the release repeats 8 Annex E rows verbatim
        // (E2324 three times, E232401, E232402 and E1420 twice, ...).
        let per_annex = |a: char| -> (usize, usize) {
            let t: Vec<&ImdrfTerm> = terms.iter().filter(|t| t.annex == a).collect();
            (t.len(), t.iter().map(|t| t.rows()).sum())
        };
        assert_eq!(per_annex('A'), (482, 482));
        assert_eq!(per_annex('B'), (25, 25));
        assert_eq!(per_annex('C'), (157, 157));
        assert_eq!(per_annex('D'), (43, 43));
        assert_eq!(per_annex('F'), (67, 67));
        assert_eq!(per_annex('G'), (300, 300));
        let (e_codes, e_rows) = per_annex('E');
        assert_eq!(e_codes, 719);
        assert_eq!(e_rows + 8, 909);
        assert_eq!(rows + 8, 1983);
        let get = |c: &str| terms.iter().find(|t| t.code == c).unwrap();
        assert_eq!(get("A090803").term, "False Negative Result");
        assert_eq!(get("A090803").parent.as_deref(), Some("A0908"));
        assert_eq!(get("E1306").parent.as_deref(), Some("E13"));
        assert_eq!(get("E1306").other_parents, vec!["E12".to_string()]);
        assert_eq!(get("E0103").parent.as_deref(), Some("E01"));
        assert_eq!(get("E0103").other_parents, vec!["E2338".to_string()]);
        assert_eq!(terms.iter().filter(|t| !t.selectable()).count(), 33);
        // Every IMDRF code the AI codes and synonyms name exists in this release.
        let book = ai_code_book();
        for code in book
            .codes
            .iter()
            .flat_map(|c| &c.imdrf)
            .chain(book.imdrf_synonyms.iter().map(|s| &s.code))
        {
            let t = terms.iter().find(|t| &t.code == code);
            assert!(
                t.is_some_and(|t| t.selectable() && "AEF".contains(t.annex)),
                "{code}"
            );
        }
    }

    #[test]
    fn the_ai_code_book_is_complete() {
        let book = parse_ai_codes(AI_CODES_TOML).unwrap();
        let codes: Vec<&str> = book.codes.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(
            codes,
            ["AI01", "AI02", "AI03", "AI04", "AI05", "AI06", "AI07", "AI08", "AI09", "AI10"]
        );
        for c in &book.codes {
            assert!(c.definition_en.len() > 150, "{}", c.code);
            assert!(c.definition_vi.len() > 150, "{}", c.code);
            assert!(
                c.keywords_vi.len() >= 5 && c.keywords_en.len() >= 5,
                "{}",
                c.code
            );
            // Vietnamese text carries Vietnamese letters.
            assert!(fold(&c.term_vi) != c.term_vi.to_lowercase(), "{}", c.code);
        }
        assert_eq!(ai_codes()[2].term(crate::Lang::Vi), "Bỏ sót (âm tính giả)");
        assert!(ai_codes()[2]
            .definition(crate::Lang::En)
            .contains("confirmed"));
        assert!(matches!(
            parse_ai_codes("[[code]]\ncode = \"X1\"\nterm_vi = \"a\"\nterm_en = \"a\"\ndefinition_vi = \"a\"\ndefinition_en = \"a\"\nkeywords_vi = [\"a\"]\nkeywords_en = [\"a\"]\n"),
            Err(AiCodesError::BadCode(_))
        ));
        let one = "[[code]]\ncode = \"AI01\"\nterm_vi = \"a\"\nterm_en = \"a\"\ndefinition_vi = \"a\"\ndefinition_en = \"a\"\nkeywords_vi = [\"a\"]\nkeywords_en = [\"a\"]\n";
        assert!(matches!(
            parse_ai_codes(&format!("{one}{one}")),
            Err(AiCodesError::Duplicate(_))
        ));
        assert!(matches!(
            parse_ai_codes(&one.replace("keywords_vi = [\"a\"]", "keywords_vi = []")),
            Err(AiCodesError::Empty {
                field: "keywords_vi",
                ..
            })
        ));
        assert!(matches!(
            parse_ai_codes(&one.replace("code = ", "cod = ")),
            Err(AiCodesError::Toml(_))
        ));
    }

    #[test]
    fn the_doc_lists_every_ai_code_in_both_languages() {
        let doc = include_str!("../../../docs/incident-codes.md");
        for c in ai_codes() {
            let row = format!(
                "| {} | {} | {} | {} |",
                c.code,
                c.term_vi,
                c.term_en,
                c.imdrf.join(", ")
            );
            assert!(
                doc.contains(&row),
                "docs/incident-codes.md lacks the row {row}"
            );
        }
    }

    #[test]
    fn stemming_meets_english_forms_and_leaves_vietnamese_alone() {
        assert_eq!(stem("hallucinated"), stem("hallucination"));
        assert_ne!(stem("underdiagnosis"), stem("underdose"));
        assert_eq!(stem("hallucinating"), stem("hallucination"));
        assert_eq!(stem("flagged"), "flag");
        assert_eq!(stem("admitted"), "admit");
        assert_eq!(stem("bias"), "bias");
        assert_eq!(stem("burns"), "burn");
        assert_eq!(stem("missed"), "miss");
        assert_eq!(stem("diagnosis"), stem("diagnosed"));
        for syllable in ["nguoi", "thuong", "benh", "vien", "khong"] {
            assert_eq!(stem(syllable), syllable);
        }
        assert_eq!(
            tokens("Trợ lý ảo BỊA RA x-ray"),
            ["tro", "ly", "ao", "bia", "ra", "x", "ray"]
        );
    }

    /// The real terminology when ../shared/data has it, else the small table plus the
    /// terms the suggestion tests expect (so they pass, and mean the same, on a clone
    /// without the data).
    fn suggester() -> CodeSuggester {
        let terms = real_terms().unwrap_or_else(|| {
            let mut t = small();
            t.push_str("F,Health Effects - Health Impact,F08,Hospitalization or Prolonged Hospitalization,Hospitalization due to the health damage.,,,,,,F08\n");
            parse_imdrf(&t).unwrap()
        });
        CodeSuggester::new(&terms, &ai_codes())
    }

    fn codes_for(s: &CodeSuggester, text: &str) -> Vec<String> {
        s.suggest(text, 5).into_iter().map(|x| x.code).collect()
    }

    #[test]
    fn suggests_from_english_narratives() {
        let s = suggester();
        let got = s.suggest(
            "The chatbot recommended 2 g paracetamol every 2 hours to a 60 kg patient.",
            5,
        );
        assert_eq!(got[0].code, "AI02", "{got:?}");
        assert!(
            got[0].matched.contains(&"every 2 hours".to_string()),
            "{got:?}"
        );
        let got = codes_for(
            &s,
            "The X-ray AI did not flag a cavity that was later confirmed as TB by sputum test.",
        );
        assert_eq!(got[0], "AI03", "{got:?}");
        assert!(got.contains(&"A090803".to_string()), "{got:?}");
        let got = s.suggest(
            "The AI flagged a nodule, a false positive: the patient had an unnecessary biopsy.",
            5,
        );
        assert_eq!(got[0].code, "AI04", "{got:?}");
        assert!(got.iter().any(|g| g.code == "A090804"), "{got:?}");
        let got = codes_for(&s, "The sepsis model was used on children although it is not intended for paediatric patients; off-label use.");
        assert_eq!(got[0], "AI08", "{got:?}");
        assert!(got.contains(&"A2304".to_string()), "{got:?}");
        let got = codes_for(&s, "The patient died after the overdose.");
        assert!(
            got.contains(&"F02".to_string()) && got.contains(&"F1005".to_string()),
            "{got:?}"
        );
    }

    #[test]
    fn suggests_from_vietnamese_narratives_with_or_without_diacritics() {
        let s = suggester();
        for text in [
            "Trợ lý ảo bịa ra một liều thuốc không có trong hướng dẫn.",
            "tro ly ao bia ra mot lieu thuoc khong co trong huong dan",
        ] {
            let got = s.suggest(text, 5);
            assert_eq!(got[0].code, "AI01", "{text}: {got:?}");
            assert!(got[0].matched.contains(&"bịa ra".to_string()), "{got:?}");
        }
        let got = codes_for(&s, "Phần mềm đọc X-quang không phát hiện tổn thương, sau đó được chẩn đoán lao phổi; bệnh nhân phải nhập viện.");
        assert_eq!(got[0], "AI03", "{got:?}");
        assert!(got.contains(&"F08".to_string()), "{got:?}");
        let got = codes_for(&s, "Kết quả gắn nhầm người bệnh do lỗi kết nối với HIS.");
        assert_eq!(got[0], "AI09", "{got:?}");
        let got = codes_for(&s, "Bác sĩ làm theo phần mềm, không kiểm tra lại kết quả.");
        assert_eq!(got[0], "AI07", "{got:?}");
        let got = codes_for(&s, "Tin tặc truy cập trái phép, lộ dữ liệu của người bệnh.");
        assert_eq!(got[0], "AI10", "{got:?}");
        let got = codes_for(&s, "Sau khi cập nhật, độ chính xác giảm rõ theo thời gian.");
        assert_eq!(got[0], "AI05", "{got:?}");
        let got = codes_for(
            &s,
            "Mô hình sai nhiều ở đồng bào dân tộc thiểu số và người cao tuổi.",
        );
        assert_eq!(got[0], "AI06", "{got:?}");
    }

    #[test]
    fn suggestions_are_ranked_limited_and_explained() {
        let s = suggester();
        assert!(s.suggest("", 5).is_empty());
        assert!(s.suggest("Nothing of note happened today.", 5).is_empty());
        let got = s.suggest("hallucination hallucination hallucinated fabricated", 2);
        assert_eq!(got.len(), 2);
        // Each phrase counts once.
        assert_eq!(got[0].code, "AI01");
        assert_eq!(got[0].matched, ["hallucination", "fabricated"]);
        assert_eq!(got[0].score, 2.0);
        assert!(got[0].score >= got[1].score);
        assert_eq!(got[1].matched, ["via AI01"]);
        let again = s.suggest("hallucination hallucination hallucinated fabricated", 2);
        assert_eq!(got, again);
        // The IMDRF term's three words outweigh the AI code's two-word phrase.
        let got = suggest_codes(
            "The output was a false negative result.",
            &parse_imdrf(&small()).unwrap(),
            &ai_codes(),
        );
        let codes: Vec<&str> = got.iter().map(|g| g.code.as_str()).collect();
        assert_eq!(codes, ["A090803", "AI03", "A09", "F04", "F13"]);
        assert_eq!(got[0].matched, ["False Negative Result", "via AI03"]);
    }

    #[test]
    fn imdrf_terms_match_by_their_words() {
        let terms = parse_imdrf(&small()).unwrap();
        let s = CodeSuggester::with_synonyms(&terms, &[], &[]);
        let got = s.suggest("We found a brain injury on the scan.", 5);
        assert_eq!(got[0].code, "E0102");
        assert_eq!(got[0].matched, ["Brain Injury"]);
        assert_eq!(got[0].score, 2.0);
        // Not selectable, retired and placeholder terms are never suggested.
        assert!(s
            .suggest("nervous system leaflet appropriate term code available", 5)
            .is_empty());
        // Annex B to D and G terms neither.
        assert!(!s
            .suggest("Leaflet", 5)
            .iter()
            .any(|g| g.code.starts_with('G')));
    }

    #[test]
    fn suggestion_is_fast_enough_for_intake() {
        let s = suggester();
        let narrative = "Trợ lý ảo khuyên uống 2 g paracetamol mỗi 2 giờ; the chatbot recommended a dose above the maximum daily dose and the patient was admitted. ".repeat(20);
        let start = std::time::Instant::now();
        for _ in 0..50 {
            assert!(!s.suggest(&narrative, 10).is_empty());
        }
        // 50 narratives of ~2,800 characters, unoptimised: well under a second.
        assert!(start.elapsed().as_secs_f64() < 2.0, "{:?}", start.elapsed());
    }

    proptest::proptest! {
        #[test]
        fn parsing_and_suggesting_never_panic(input in "\\PC{0,200}") {
            let _ = parse_imdrf(&format!("{HEADER}{input}"));
            let s = CodeSuggester::new(&[], &ai_codes());
            let got = s.suggest(&input, 3);
            proptest::prop_assert!(got.len() <= 3);
        }
    }
}
