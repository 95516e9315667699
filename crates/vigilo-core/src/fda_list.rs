//! FDA's list of AI-enabled medical devices, read from either form FDA and
//! its mirrors publish it in:
//!
//! - the XML download: `<data><row><Date_of_final_decision>MM/DD/YYYY</…>`
//!   `<Submission_number>=HYPERLINK("url", "K252054")</…><Device>…<Company>…`
//!   `<Panel>…<Primary_product_code>…</row>…</data>`;
//! - the CSV conversion: `date_of_final_decision` (ISO or US `MM/DD/YYYY`),
//!   `submission_number` (plain or a `=HYPERLINK` cell), `device`, `company`,
//!   `panel_lead` (or `panel`), `primary_product_code`. Headers are matched
//!   case-insensitively with spaces and punctuation read as `_`, so FDA's own
//!   spelling (`Date of Final Decision`, `Panel (lead)`) works too.
//!
//! Parsing is all or nothing: the first problem stops it with an error naming
//! the line and the column or element, so an importer never stores half a list.
//! Values are kept as published except that surrounding whitespace is trimmed
//! (FDA's XML has a few cells starting with a tab or newline).
//!
//! No I/O: the caller reads the bytes.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use quick_xml::events::Event;
use time::{Date, Month};

/// An FDA premarket submission number: a 510(k) (`K252054`), a De Novo
/// request (`DEN230027`), a PMA (`P950009`) or a PMA supplement
/// (`P140011/S008`). Always upper case, without surrounding spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubmissionNumber(String);

/// Which premarket pathway a submission number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubmissionKind {
    /// 510(k) premarket notification, `K` and six digits.
    PremarketNotification,
    /// De Novo classification request, `DEN` and six digits.
    DeNovo,
    /// Premarket approval, `P` and six digits.
    PremarketApproval,
    /// PMA supplement, `P` and six digits, `/S` and three or four digits.
    PmaSupplement,
}

/// A string that is not an FDA submission number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an FDA submission number (K123456, DEN123456, P123456 or P123456/S001)")]
pub struct InvalidSubmissionNumber(pub String);

fn all_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

impl SubmissionNumber {
    pub fn parse(s: &str) -> Result<SubmissionNumber, InvalidSubmissionNumber> {
        let t = s.trim().to_ascii_uppercase();
        let valid = if let Some(rest) = t.strip_prefix("DEN") {
            all_digits(rest, 6, 6)
        } else if let Some(rest) = t.strip_prefix('K') {
            all_digits(rest, 6, 6)
        } else if let Some(rest) = t.strip_prefix('P') {
            match rest.split_once("/S") {
                Some((pma, supplement)) => all_digits(pma, 6, 6) && all_digits(supplement, 3, 4),
                None => all_digits(rest, 6, 6),
            }
        } else {
            false
        };
        if valid {
            Ok(SubmissionNumber(t))
        } else {
            Err(InvalidSubmissionNumber(shown(s)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> SubmissionKind {
        if self.0.starts_with("DEN") {
            SubmissionKind::DeNovo
        } else if self.0.starts_with('K') {
            SubmissionKind::PremarketNotification
        } else if self.0.contains('/') {
            SubmissionKind::PmaSupplement
        } else {
            SubmissionKind::PremarketApproval
        }
    }
}

impl fmt::Display for SubmissionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SubmissionNumber {
    type Err = InvalidSubmissionNumber;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SubmissionNumber::parse(s)
    }
}

/// One device of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdaListEntry {
    pub submission_number: SubmissionNumber,
    pub device: String,
    pub company: String,
    /// Review panel (lead), e.g. `Radiology`; may be empty.
    pub panel: String,
    /// Primary product code, e.g. `QIH`; may be empty.
    pub product_code: String,
    pub decision_date: Date,
}

impl FdaListEntry {
    /// The decision date as ISO `YYYY-MM-DD`.
    pub fn decision_date_iso(&self) -> String {
        iso_date(self.decision_date)
    }
}

/// Formats a date as ISO `YYYY-MM-DD`.
pub fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The two published forms of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdaListFormat {
    Xml,
    Csv,
}

impl fmt::Display for FdaListFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FdaListFormat::Xml => "XML",
            FdaListFormat::Csv => "CSV",
        })
    }
}

/// Where a value came from: a CSV column or an XML element, named as in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRef {
    Column(String),
    Element(String),
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldRef::Column(c) => write!(f, "column '{c}'"),
            FieldRef::Element(e) => write!(f, "element <{e}>"),
        }
    }
}

/// Why a list could not be read. Every variant that concerns a place in the
/// file names its line (1-based) and, where there is one, the column or element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FdaListError {
    #[error("the file is empty")]
    Empty,
    #[error("line {line}: no devices in the file: {what}")]
    NoRows { line: u64, what: &'static str },
    #[error("the file is UTF-16 encoded: save it as UTF-8 and import it again")]
    Utf16,
    #[error("line {line}: byte 0x{byte:02X} is not valid UTF-8: wrong encoding (perhaps Windows-1252 or Latin-1); save the file as UTF-8 and import it again")]
    NotUtf8 { line: u64, byte: u8 },
    #[error("line {line}: missing column '{column}' (the header has: {found})")]
    MissingColumn {
        line: u64,
        column: &'static str,
        found: String,
    },
    #[error("line {line}: unexpected column '{column}' (expected: {expected})")]
    UnexpectedColumn {
        line: u64,
        column: String,
        expected: &'static str,
    },
    #[error("line {line}: column '{column}' appears twice in the header")]
    DuplicateColumn { line: u64, column: String },
    #[error("line {line}: {found} fields where the header has {expected}")]
    FieldCount {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("line {line}: unreadable CSV: {message}")]
    Csv { line: u64, message: String },
    #[error("line {line}, {field}: '{value}' is not a date (expected YYYY-MM-DD or MM/DD/YYYY)")]
    BadDate {
        line: u64,
        field: FieldRef,
        value: String,
    },
    #[error("line {line}, {field}: '{value}' is not an FDA submission number (K123456, DEN123456, P123456 or P123456/S001)")]
    BadSubmissionNumber {
        line: u64,
        field: FieldRef,
        value: String,
    },
    #[error("line {line}, {field}: cannot read the HYPERLINK cell '{value}' (expected =HYPERLINK(\"url\", \"K123456\"))")]
    BadHyperlink {
        line: u64,
        field: FieldRef,
        value: String,
    },
    #[error("line {line}, {field}: empty")]
    EmptyField { line: u64, field: FieldRef },
    #[error("line {line}, {field}: submission number {number} appears twice (first on line {first_line})")]
    DuplicateSubmission {
        line: u64,
        field: FieldRef,
        number: String,
        first_line: u64,
    },
    #[error("line {line}: the file ends inside {inside}: the XML is truncated")]
    TruncatedXml { line: u64, inside: String },
    #[error("line {line}: malformed XML: {message}")]
    MalformedXml { line: u64, message: String },
    #[error("line {line}: <{row}> has no <{element}> element")]
    MissingElement {
        line: u64,
        row: String,
        element: &'static str,
    },
    #[error(
        "line {line}: unexpected element <{element}> inside <{parent}> (expected: {expected})"
    )]
    UnexpectedElement {
        line: u64,
        element: String,
        parent: String,
        expected: &'static str,
    },
    #[error("line {line}: element <{element}> appears twice in one <{row}>")]
    DuplicateElement {
        line: u64,
        element: String,
        row: String,
    },
}

impl FdaListError {
    /// The 1-based line the error is about, when it is about one.
    pub fn line(&self) -> Option<u64> {
        use FdaListError::*;
        match self {
            Empty | Utf16 => None,
            NoRows { line, .. }
            | NotUtf8 { line, .. }
            | MissingColumn { line, .. }
            | UnexpectedColumn { line, .. }
            | DuplicateColumn { line, .. }
            | FieldCount { line, .. }
            | Csv { line, .. }
            | BadDate { line, .. }
            | BadSubmissionNumber { line, .. }
            | BadHyperlink { line, .. }
            | EmptyField { line, .. }
            | DuplicateSubmission { line, .. }
            | TruncatedXml { line, .. }
            | MalformedXml { line, .. }
            | MissingElement { line, .. }
            | UnexpectedElement { line, .. }
            | DuplicateElement { line, .. } => Some(*line),
        }
    }
}

/// The six fields of a row, in the order of the published files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Date,
    Submission,
    Device,
    Company,
    Panel,
    ProductCode,
}

const FIELDS: [Field; 6] = [
    Field::Date,
    Field::Submission,
    Field::Device,
    Field::Company,
    Field::Panel,
    Field::ProductCode,
];

const EXPECTED_COLUMNS: &str =
    "date_of_final_decision, submission_number, device, company, panel_lead, primary_product_code";
const EXPECTED_ELEMENTS: &str =
    "Date_of_final_decision, Submission_number, Device, Company, Panel, Primary_product_code";

impl Field {
    fn index(self) -> usize {
        self as usize
    }

    /// The CSV header name.
    fn column(self) -> &'static str {
        match self {
            Field::Date => "date_of_final_decision",
            Field::Submission => "submission_number",
            Field::Device => "device",
            Field::Company => "company",
            Field::Panel => "panel_lead",
            Field::ProductCode => "primary_product_code",
        }
    }

    /// The XML element name.
    fn element(self) -> &'static str {
        match self {
            Field::Date => "Date_of_final_decision",
            Field::Submission => "Submission_number",
            Field::Device => "Device",
            Field::Company => "Company",
            Field::Panel => "Panel",
            Field::ProductCode => "Primary_product_code",
        }
    }

    /// Reads a header or element name: case-insensitive, any run of spaces or
    /// punctuation counts as `_` (`Panel (lead)` is `panel_lead`).
    fn from_name(name: &str) -> Option<Field> {
        let mut norm = String::with_capacity(name.len());
        for c in name.trim().chars() {
            if c.is_alphanumeric() {
                norm.extend(c.to_lowercase());
            } else if !norm.ends_with('_') {
                norm.push('_');
            }
        }
        match norm.trim_matches('_') {
            "date_of_final_decision" | "decision_date" => Some(Field::Date),
            "submission_number" => Some(Field::Submission),
            "device" => Some(Field::Device),
            "company" => Some(Field::Company),
            "panel_lead" | "panel" => Some(Field::Panel),
            "primary_product_code" | "product_code" => Some(Field::ProductCode),
            _ => None,
        }
    }

    /// Whether an empty value is an error.
    fn required(self) -> bool {
        !matches!(self, Field::Panel | Field::ProductCode)
    }
}

/// Tells XML from CSV by the first character that is not a byte-order mark
/// or whitespace. `None` when there is no such character.
pub fn detect_format(bytes: &[u8]) -> Option<FdaListFormat> {
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    b.iter()
        .find(|c| !c.is_ascii_whitespace())
        .map(|&c| match c {
            b'<' => FdaListFormat::Xml,
            _ => FdaListFormat::Csv,
        })
}

/// Reads the list in either published form (see the module documentation).
pub fn parse_fda_ai_list(bytes: &[u8]) -> Result<Vec<FdaListEntry>, FdaListError> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(FdaListError::Utf16);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            return Err(FdaListError::NotUtf8 {
                line: line_of(bytes, at),
                byte: bytes.get(at).copied().unwrap_or(0),
            });
        }
    };
    match detect_format(bytes) {
        None => Err(FdaListError::Empty),
        Some(FdaListFormat::Xml) => parse_xml(text),
        Some(FdaListFormat::Csv) => parse_csv(text),
    }
}

/// 1-based line of a byte offset.
fn line_of(bytes: &[u8], offset: usize) -> u64 {
    let end = offset.min(bytes.len());
    1 + bytes
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count() as u64)
}

/// Line numbers for increasing offsets, counted once.
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    fn at(&mut self, offset: u64) -> u64 {
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        if offset < self.offset {
            return line_of(self.bytes, offset);
        }
        if let Some(chunk) = self.bytes.get(self.offset..offset) {
            self.line += chunk.iter().filter(|&&c| c == b'\n').count() as u64;
        }
        self.offset = offset;
        self.line
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

/// Parses `YYYY-MM-DD` or `MM/DD/YYYY` (month and day may have one digit).
fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    let (y, m, d) = if let Some((y, rest)) = s.split_once('-') {
        let (m, d) = rest.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        (y, m, d)
    } else {
        let mut parts = s.split('/');
        let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 || !(1..=2).contains(&m.len()) {
            return None;
        }
        if !(1..=2).contains(&d.len()) {
            return None;
        }
        (y, m, d)
    };
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y) && digits(m) && digits(d)) {
        return None;
    }
    let year: i32 = y.parse().ok()?;
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    let day: u8 = d.parse().ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

/// Reads a spreadsheet string literal `"…"` (a doubled `""` is a quote) at
/// the start of `s`; returns the value and what follows.
fn string_literal(s: &str) -> Option<(String, &str)> {
    let mut rest = s.trim_start().strip_prefix('"')?;
    let mut out = String::new();
    loop {
        let q = rest.find('"')?;
        out.push_str(rest.get(..q)?);
        rest = rest.get(q + 1..)?;
        match rest.strip_prefix('"') {
            Some(r) => {
                out.push('"');
                rest = r;
            }
            None => return Some((out, rest)),
        }
    }
}

/// The friendly name of `=HYPERLINK("url", "name")`; `None` when the cell is
/// not of that shape.
fn hyperlink_name(cell: &str) -> Option<String> {
    let s = cell.trim().strip_prefix('=')?.trim_start();
    let head = s.get(..9)?;
    if !head.eq_ignore_ascii_case("HYPERLINK") {
        return None;
    }
    let s = s.get(9..)?.trim_start().strip_prefix('(')?;
    let (_url, rest) = string_literal(s)?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix(',').or_else(|| rest.strip_prefix(';'))?;
    let (name, rest) = string_literal(rest)?;
    if rest.trim_start().strip_prefix(')')?.trim().is_empty() {
        Some(name)
    } else {
        None
    }
}

/// Builds the entries of a table: each row holds the six values in `Field`
/// order, with their line and the names the file uses for them.
struct Builder {
    entries: Vec<FdaListEntry>,
    first_line: HashMap<SubmissionNumber, u64>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            entries: Vec::new(),
            first_line: HashMap::new(),
        }
    }

    fn push(
        &mut self,
        line: u64,
        values: [&str; 6],
        name: impl Fn(Field) -> FieldRef,
    ) -> Result<(), FdaListError> {
        for f in FIELDS {
            if f.required() && values[f.index()].trim().is_empty() {
                return Err(FdaListError::EmptyField {
                    line,
                    field: name(f),
                });
            }
        }
        let raw_date = values[Field::Date.index()];
        let decision_date = parse_date(raw_date).ok_or_else(|| FdaListError::BadDate {
            line,
            field: name(Field::Date),
            value: shown(raw_date),
        })?;
        let raw_number = values[Field::Submission.index()].trim();
        let number_text = if raw_number.starts_with('=') {
            hyperlink_name(raw_number).ok_or_else(|| FdaListError::BadHyperlink {
                line,
                field: name(Field::Submission),
                value: shown(raw_number),
            })?
        } else {
            raw_number.to_string()
        };
        let submission_number = SubmissionNumber::parse(&number_text).map_err(|_| {
            FdaListError::BadSubmissionNumber {
                line,
                field: name(Field::Submission),
                value: shown(&number_text),
            }
        })?;
        if let Some(&first_line) = self.first_line.get(&submission_number) {
            return Err(FdaListError::DuplicateSubmission {
                line,
                field: name(Field::Submission),
                number: submission_number.0,
                first_line,
            });
        }
        self.first_line.insert(submission_number.clone(), line);
        let text = |f: Field| values[f.index()].trim().to_string();
        self.entries.push(FdaListEntry {
            submission_number,
            device: text(Field::Device),
            company: text(Field::Company),
            panel: text(Field::Panel),
            product_code: text(Field::ProductCode),
            decision_date,
        });
        Ok(())
    }
}

fn parse_csv(text: &str) -> Result<Vec<FdaListEntry>, FdaListError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| {
        let line = e.position().map_or(1, |p| p.line());
        FdaListError::Csv {
            line,
            message: e.to_string(),
        }
    };
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err(FdaListError::Empty),
        Some(r) => r.map_err(csv_error)?,
    };
    let header_line = header.position().map_or(1, |p| p.line());
    // Position in the record of each field, in `Field` order.
    let mut slots: [Option<usize>; 6] = [None; 6];
    for (i, name) in header.iter().enumerate() {
        let field = Field::from_name(name).ok_or_else(|| FdaListError::UnexpectedColumn {
            line: header_line,
            column: shown(name),
            expected: EXPECTED_COLUMNS,
        })?;
        let slot = &mut slots[field.index()];
        if slot.is_some() {
            return Err(FdaListError::DuplicateColumn {
                line: header_line,
                column: shown(name),
            });
        }
        *slot = Some(i);
    }
    let mut columns = [0usize; 6];
    for f in FIELDS {
        columns[f.index()] = slots[f.index()].ok_or_else(|| FdaListError::MissingColumn {
            line: header_line,
            column: f.column(),
            found: header
                .iter()
                .take(12)
                .map(shown)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    }
    let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let column_name = |f: Field| {
        FieldRef::Column(
            names
                .get(columns[f.index()])
                .cloned()
                .unwrap_or_else(|| f.column().to_string()),
        )
    };
    let mut builder = Builder::new();
    for record in records {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() == 1 && record.get(0).is_some_and(|v| v.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            return Err(FdaListError::FieldCount {
                line,
                expected: header.len(),
                found: record.len(),
            });
        }
        let value = |f: Field| record.get(columns[f.index()]).unwrap_or("");
        builder.push(line, FIELDS.map(value), column_name)?;
    }
    if builder.entries.is_empty() {
        return Err(FdaListError::NoRows {
            line: header_line,
            what: "only a header",
        });
    }
    Ok(builder.entries)
}

/// Where the XML reader is.
enum XmlState {
    /// Before the root element.
    Prolog,
    /// Inside the root element, between rows.
    Root,
    /// Inside a row, between fields.
    Row,
    /// Inside a field element of the row.
    Field(Field),
    /// After the root element closed.
    Done,
}

fn parse_xml(text: &str) -> Result<Vec<FdaListEntry>, FdaListError> {
    let bytes = text.as_bytes();
    let mut lines = LineCounter::new(bytes);
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut state = XmlState::Prolog;
    let mut root = String::new();
    let mut row_name = String::new();
    let mut row_line = 0u64;
    let mut values: [Option<String>; 6] = Default::default();
    let mut builder = Builder::new();
    loop {
        let start = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => return Err(xml_error(&e, lines.at(reader.error_position()))),
        };
        let line = lines.at(start);
        // A start tag or an empty element `<x/>`, with its name.
        let (opened, empty) = match &event {
            Event::Start(e) => (Some(name_of(e.name().as_ref())), false),
            Event::Empty(e) => (Some(name_of(e.name().as_ref())), true),
            _ => (None, false),
        };
        if let Some(name) = opened {
            match state {
                XmlState::Prolog => {
                    root = name;
                    state = if empty {
                        return Err(FdaListError::NoRows {
                            line,
                            what: "an empty root element",
                        });
                    } else {
                        XmlState::Root
                    };
                }
                XmlState::Root => {
                    if !name.eq_ignore_ascii_case("row") {
                        return Err(FdaListError::UnexpectedElement {
                            line,
                            element: name,
                            parent: root.clone(),
                            expected: "row",
                        });
                    }
                    row_line = line;
                    values = Default::default();
                    if empty {
                        finish_row(&mut builder, &name, row_line, &mut values)?;
                    } else {
                        row_name = name;
                        state = XmlState::Row;
                    }
                }
                XmlState::Row => {
                    let field =
                        Field::from_name(&name).ok_or_else(|| FdaListError::UnexpectedElement {
                            line,
                            element: name.clone(),
                            parent: row_name.clone(),
                            expected: EXPECTED_ELEMENTS,
                        })?;
                    let slot = &mut values[field.index()];
                    if slot.is_some() {
                        return Err(FdaListError::DuplicateElement {
                            line,
                            element: name,
                            row: row_name.clone(),
                        });
                    }
                    *slot = Some(String::new());
                    if !empty {
                        state = XmlState::Field(field);
                    }
                }
                XmlState::Field(field) => {
                    return Err(FdaListError::UnexpectedElement {
                        line,
                        element: name,
                        parent: field.element().to_string(),
                        expected: "text only",
                    });
                }
                XmlState::Done => {
                    return Err(FdaListError::MalformedXml {
                        line,
                        message: format!("element <{name}> after the end of <{root}>"),
                    });
                }
            }
            continue;
        }
        match event {
            Event::End(_) => match state {
                XmlState::Field(_) => state = XmlState::Row,
                XmlState::Row => {
                    finish_row(&mut builder, &row_name, row_line, &mut values)?;
                    state = XmlState::Root;
                }
                XmlState::Root => {
                    if builder.entries.is_empty() {
                        return Err(FdaListError::NoRows {
                            line,
                            what: "no <row> elements",
                        });
                    }
                    state = XmlState::Done;
                }
                // The reader reports an end tag without a start tag itself.
                XmlState::Prolog | XmlState::Done => {}
            },
            Event::Text(t) => {
                let content = t.xml10_content().map_err(|e| FdaListError::MalformedXml {
                    line,
                    message: e.to_string(),
                })?;
                append_text(&state, &mut values, &content, line)?;
            }
            Event::CData(c) => {
                let content = c.decode().map_err(|e| FdaListError::MalformedXml {
                    line,
                    message: e.to_string(),
                })?;
                append_text(&state, &mut values, &content, line)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r.decode().map_err(|e| FdaListError::MalformedXml {
                            line,
                            message: e.to_string(),
                        })?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| FdaListError::MalformedXml {
                                line,
                                message: format!("unknown entity &{};", shown(&name)),
                            })?
                            .to_string()
                    }
                    Err(e) => {
                        return Err(FdaListError::MalformedXml {
                            line,
                            message: e.to_string(),
                        })
                    }
                };
                append_text(&state, &mut values, &resolved, line)?;
            }
            Event::Eof => {
                let open = match state {
                    XmlState::Prolog => return Err(FdaListError::Empty),
                    XmlState::Done => break,
                    XmlState::Root => root.clone(),
                    XmlState::Row => row_name.clone(),
                    XmlState::Field(f) => f.element().to_string(),
                };
                return Err(FdaListError::TruncatedXml {
                    line: lines.at(bytes.len() as u64),
                    inside: format!("<{open}>"),
                });
            }
            // Declaration, comments, processing instructions, DOCTYPE: nothing to read.
            _ => {}
        }
    }
    Ok(builder.entries)
}

fn name_of(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Adds text to the current field; outside a field only whitespace may appear.
fn append_text(
    state: &XmlState,
    values: &mut [Option<String>; 6],
    content: &str,
    line: u64,
) -> Result<(), FdaListError> {
    match state {
        XmlState::Field(f) => {
            if let Some(v) = values[f.index()].as_mut() {
                v.push_str(content);
            }
            Ok(())
        }
        _ if content.trim().is_empty() => Ok(()),
        _ => Err(FdaListError::MalformedXml {
            line,
            message: format!("text '{}' outside the row elements", shown(content)),
        }),
    }
}

fn finish_row(
    builder: &mut Builder,
    row: &str,
    line: u64,
    values: &mut [Option<String>; 6],
) -> Result<(), FdaListError> {
    for f in FIELDS {
        if values[f.index()].is_none() {
            return Err(FdaListError::MissingElement {
                line,
                row: row.to_string(),
                element: f.element(),
            });
        }
    }
    let taken = std::mem::take(values);
    let texts = taken.each_ref().map(|v| v.as_deref().unwrap_or(""));
    builder.push(line, texts, |f| FieldRef::Element(f.element().to_string()))
}

fn xml_error(e: &quick_xml::Error, line: u64) -> FdaListError {
    use quick_xml::errors::{IllFormedError, SyntaxError};
    match e {
        quick_xml::Error::Syntax(
            s @ (SyntaxError::UnclosedTag
            | SyntaxError::UnclosedComment
            | SyntaxError::UnclosedCData
            | SyntaxError::UnclosedPI
            | SyntaxError::UnclosedXmlDecl
            | SyntaxError::UnclosedDoctype
            | SyntaxError::UnclosedSingleQuotedAttributeValue
            | SyntaxError::UnclosedDoubleQuotedAttributeValue),
        ) => FdaListError::TruncatedXml {
            line,
            inside: match s {
                SyntaxError::UnclosedTag => "an unfinished tag".into(),
                other => format!("markup ({other})"),
            },
        },
        quick_xml::Error::IllFormed(IllFormedError::MissingEndTag(tag)) => {
            FdaListError::TruncatedXml {
                line,
                inside: format!("<{tag}>"),
            }
        }
        other => FdaListError::MalformedXml {
            line,
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV_HEADER: &str =
        "date_of_final_decision,submission_number,device,company,panel_lead,primary_product_code\n";

    fn xml_row(date: &str, number: &str, device: &str) -> String {
        format!(
            "  <row>\n    <Date_of_final_decision>{date}</Date_of_final_decision>\n    <Submission_number>{number}</Submission_number>\n    <Device>{device}</Device>\n    <Company>Acme &amp; Co.</Company>\n    <Panel>Radiology</Panel>\n    <Primary_product_code>QIH</Primary_product_code>\n  </row>\n"
        )
    }

    fn xml(rows: &[String]) -> String {
        format!(
            "<?xml version='1.0' encoding='utf-8'?>\n<data>\n{}</data>\n",
            rows.concat()
        )
    }

    fn link(number: &str) -> String {
        format!("=HYPERLINK(\"https://www.accessdata.fda.gov/scripts/cdrh/cfdocs/cfPMN/pmn.cfm?ID={number}\", \"{number}\")")
    }

    fn err(input: &str) -> FdaListError {
        parse_fda_ai_list(input.as_bytes()).unwrap_err()
    }

    #[test]
    fn submission_numbers() {
        for (s, kind) in [
            ("K252054", SubmissionKind::PremarketNotification),
            ("k252054", SubmissionKind::PremarketNotification),
            ("DEN230027", SubmissionKind::DeNovo),
            ("P950009", SubmissionKind::PremarketApproval),
            ("P140011/S008", SubmissionKind::PmaSupplement),
            (" P140011/S1008 ", SubmissionKind::PmaSupplement),
        ] {
            let n = SubmissionNumber::parse(s).unwrap();
            assert_eq!(n.kind(), kind, "{s}");
            assert_eq!(n.as_str(), s.trim().to_ascii_uppercase());
        }
        for s in [
            "",
            "K",
            "K25205",
            "K2520544",
            "DEN23002",
            "P140011/",
            "P140011/S08",
            "P140011/X008",
            "X123456",
            "K12345a",
            "BK123456",
            "K252054 x",
        ] {
            assert!(SubmissionNumber::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn dates() {
        let d = |s| parse_date(s).map(iso_date);
        assert_eq!(d("2025-09-29").as_deref(), Some("2025-09-29"));
        assert_eq!(d("09/29/2025").as_deref(), Some("2025-09-29"));
        assert_eq!(d("9/5/1995").as_deref(), Some("1995-09-05"));
        assert_eq!(d("2024-02-29").as_deref(), Some("2024-02-29"));
        for bad in [
            "",
            "2023-02-29",
            "2025-13-01",
            "29/09/2025",
            "2025-9-29",
            "2025/09/29",
            "09/29/25",
            "09-29-2025",
            "+025-09-29",
            "1/2/3/2025",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn hyperlink_cells() {
        assert_eq!(hyperlink_name(&link("K252054")).as_deref(), Some("K252054"));
        assert_eq!(
            hyperlink_name("=hyperlink( \"u\" ; \"P140011/S008\" ) ").as_deref(),
            Some("P140011/S008")
        );
        assert_eq!(
            hyperlink_name("=HYPERLINK(\"a\"\"b\", \"x\"\"y\")").as_deref(),
            Some("x\"y")
        );
        for bad in [
            "=HYPERLINK",
            "=HYPERLINK(\"url\")",
            "=HYPERLINK(url, K1)",
            "=HYPERLINK(\"url\", \"K252054\"",
            "=HYPERLINK(\"url\", \"K252054\") x",
            "=SUM(1, 2)",
        ] {
            assert_eq!(hyperlink_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_xml() {
        let input = xml(&[
            xml_row("09/29/2025", &link("K252054"), "SpineAR SNAP"),
            xml_row("09/29/1995", &link("P140011/S008"), "\t\n PAPNET &#x2122;"),
        ]);
        let entries = parse_fda_ai_list(input.as_bytes()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].submission_number.as_str(), "K252054");
        assert_eq!(entries[0].device, "SpineAR SNAP");
        assert_eq!(entries[0].company, "Acme & Co.");
        assert_eq!(entries[0].panel, "Radiology");
        assert_eq!(entries[0].product_code, "QIH");
        assert_eq!(entries[0].decision_date_iso(), "2025-09-29");
        assert_eq!(entries[1].device, "PAPNET ™");
        assert_eq!(
            entries[1].submission_number.kind(),
            SubmissionKind::PmaSupplement
        );
        assert_eq!(
            detect_format(input.as_bytes()),
            Some(FdaListFormat::Xml),
            "format"
        );
    }

    #[test]
    fn xml_and_csv_give_the_same_entries() {
        let input = xml(&[xml_row("09/29/2025", &link("K252054"), "Ligence Heart")]);
        let csv =
            format!("{CSV_HEADER}2025-09-29,K252054,Ligence Heart,Acme & Co.,Radiology,QIH\n");
        assert_eq!(
            parse_fda_ai_list(input.as_bytes()).unwrap(),
            parse_fda_ai_list(csv.as_bytes()).unwrap()
        );
    }

    #[test]
    fn reads_csv_variants() {
        let csv = format!(
            "\u{feff}{CSV_HEADER}2025-09-29,K252054,\"SpineAR SNAP, v2\",\"Surgical Theater, Inc.\",Neurology,SBF\r\n\r\n2024-03-26,DEN230027,\"Multi\nline\",Co,,\n"
        );
        let e = parse_fda_ai_list(csv.as_bytes()).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].device, "SpineAR SNAP, v2");
        assert_eq!(e[0].company, "Surgical Theater, Inc.");
        assert_eq!(e[1].device, "Multi\nline");
        assert_eq!(e[1].panel, "");
        // FDA's own spelling of the headers, another order, US dates, HYPERLINK cells.
        let fda = format!(
            "Submission Number,Date of Final Decision,Device,Company,Panel (lead),Primary Product Code\n\"{}\",09/29/2025,SpineAR SNAP,Co,Neurology,SBF\n",
            link("K252054").replace('"', "\"\"")
        );
        let e = parse_fda_ai_list(fda.as_bytes()).unwrap();
        assert_eq!(e[0].submission_number.as_str(), "K252054");
        assert_eq!(e[0].decision_date_iso(), "2025-09-29");
        assert_eq!(detect_format(fda.as_bytes()), Some(FdaListFormat::Csv));
    }

    #[test]
    fn empty_files() {
        assert_eq!(err(""), FdaListError::Empty);
        assert_eq!(err(" \n\t\n"), FdaListError::Empty);
        assert_eq!(err("\u{feff}"), FdaListError::Empty);
        assert_eq!(
            err(CSV_HEADER),
            FdaListError::NoRows {
                line: 1,
                what: "only a header"
            }
        );
        assert!(matches!(
            err("<?xml version='1.0'?>\n<data>\n</data>\n"),
            FdaListError::NoRows { line: 3, .. }
        ));
        assert!(matches!(
            err("<?xml version='1.0'?>\n<data/>"),
            FdaListError::NoRows { line: 2, .. }
        ));
        assert_eq!(err("<?xml version='1.0'?>\n"), FdaListError::Empty);
    }

    #[test]
    fn wrong_encoding() {
        // "Société" in Windows-1252 on the third line.
        let mut bytes = CSV_HEADER.as_bytes().to_vec();
        bytes.extend_from_slice(b"2025-09-29,K252054,Device,Soci");
        bytes.push(0xE9);
        bytes.extend_from_slice(b"t\xE9,Radiology,QIH\n");
        let mut two = CSV_HEADER.as_bytes().to_vec();
        two.extend_from_slice(b"2025-09-29,K252055,Device,Co,Radiology,QIH\n");
        two.extend_from_slice(&bytes[CSV_HEADER.len()..]);
        let e = parse_fda_ai_list(&two).unwrap_err();
        assert_eq!(
            e,
            FdaListError::NotUtf8 {
                line: 3,
                byte: 0xE9
            }
        );
        let msg = e.to_string();
        assert!(
            msg.contains("line 3") && msg.contains("UTF-8") && msg.contains("encoding"),
            "{msg}"
        );
        assert_eq!(
            parse_fda_ai_list(b"\xFF\xFEd\0a\0").unwrap_err(),
            FdaListError::Utf16
        );
    }

    #[test]
    fn missing_and_wrong_columns() {
        let e = err("date_of_final_decision,submission_number,device,company,panel_lead\n2025-09-29,K252054,D,C,R\n");
        assert!(
            matches!(
                &e,
                FdaListError::MissingColumn {
                    line: 1,
                    column: "primary_product_code",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("primary_product_code"), "{e}");
        let e = err("date_of_final_decision,submission_number,device,maker,panel_lead,primary_product_code\n2025-09-29,K252054,D,C,R,Q\n");
        assert!(
            matches!(&e, FdaListError::UnexpectedColumn { line: 1, column, .. } if column == "maker"),
            "{e:?}"
        );
        let e = err("date_of_final_decision,submission_number,device,company,panel,panel_lead,primary_product_code\n");
        assert!(
            matches!(&e, FdaListError::DuplicateColumn { line: 1, column, .. } if column == "panel_lead"),
            "{e:?}"
        );
        let e = err(&format!(
            "{CSV_HEADER}2025-09-29,K252054,D,C,R,Q\n2025-09-28,K252055,D,C,R\n"
        ));
        assert_eq!(
            e,
            FdaListError::FieldCount {
                line: 3,
                expected: 6,
                found: 5
            }
        );
        // The enriched file has other columns altogether.
        let e = err("date,year,device,company,panel,code,submission_id\n");
        assert!(matches!(&e, FdaListError::UnexpectedColumn { column, .. } if column == "date"));
    }

    #[test]
    fn bad_dates() {
        let e = err(&format!(
            "{CSV_HEADER}2025-09-29,K252054,D,C,R,Q\n2025-02-30,K252055,D,C,R,Q\n"
        ));
        assert_eq!(
            e,
            FdaListError::BadDate {
                line: 3,
                field: FieldRef::Column("date_of_final_decision".into()),
                value: "2025-02-30".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "line 3, column 'date_of_final_decision': '2025-02-30' is not a date (expected YYYY-MM-DD or MM/DD/YYYY)"
        );
        let input = xml(&[
            xml_row("09/29/2025", &link("K252054"), "A"),
            xml_row("29/09/2025", &link("K252055"), "B"),
        ]);
        let e = err(&input);
        assert_eq!(
            e,
            FdaListError::BadDate {
                line: 11,
                field: FieldRef::Element("Date_of_final_decision".into()),
                value: "29/09/2025".into()
            }
        );
        assert!(e.to_string().contains("element <Date_of_final_decision>"));
    }

    #[test]
    fn duplicate_submission_numbers() {
        let e = err(&format!(
            "{CSV_HEADER}2025-09-29,K252054,D,C,R,Q\n2025-09-28,K252055,D,C,R,Q\n2025-09-27,k252054,D,C,R,Q\n"
        ));
        assert_eq!(
            e,
            FdaListError::DuplicateSubmission {
                line: 4,
                field: FieldRef::Column("submission_number".into()),
                number: "K252054".into(),
                first_line: 2
            }
        );
        let input = xml(&[
            xml_row("09/29/2025", &link("K252054"), "A"),
            xml_row("09/29/2025", &link("K252054"), "B"),
        ]);
        assert!(matches!(
            err(&input),
            FdaListError::DuplicateSubmission {
                line: 11,
                first_line: 3,
                ..
            }
        ));
    }

    #[test]
    fn bad_submission_numbers_and_hyperlinks() {
        let e = err(&format!("{CSV_HEADER}2025-09-29,Z252054,D,C,R,Q\n"));
        assert!(
            matches!(&e, FdaListError::BadSubmissionNumber { line: 2, value, .. } if value == "Z252054"),
            "{e:?}"
        );
        let input = xml(&[xml_row("09/29/2025", "=HYPERLINK", "A")]);
        let e = err(&input);
        assert_eq!(
            e,
            FdaListError::BadHyperlink {
                line: 3,
                field: FieldRef::Element("Submission_number".into()),
                value: "=HYPERLINK".into()
            }
        );
        assert!(e
            .to_string()
            .contains("line 3, element <Submission_number>"));
        let input = xml(&[xml_row("09/29/2025", "=HYPERLINK(\"https://x\")", "A")]);
        assert!(matches!(
            err(&input),
            FdaListError::BadHyperlink { line: 3, .. }
        ));
        // A well-formed link whose name is not a submission number.
        let input = xml(&[xml_row("09/29/2025", &link("see FDA"), "A")]);
        assert!(matches!(
            err(&input),
            FdaListError::BadSubmissionNumber { line: 3, .. }
        ));
    }

    #[test]
    fn empty_required_fields() {
        let e = err(&format!("{CSV_HEADER}2025-09-29,K252054,  ,C,R,Q\n"));
        assert_eq!(
            e,
            FdaListError::EmptyField {
                line: 2,
                field: FieldRef::Column("device".into())
            }
        );
        let input = xml(&[xml_row("09/29/2025", &link("K252054"), "")]);
        assert_eq!(
            err(&input),
            FdaListError::EmptyField {
                line: 3,
                field: FieldRef::Element("Device".into())
            }
        );
    }

    #[test]
    fn truncated_xml() {
        let full = xml(&[
            xml_row("09/29/2025", &link("K252054"), "A"),
            xml_row("09/29/2025", &link("K252055"), "B"),
        ]);
        // Cut inside the second row, between elements, inside a tag and inside a value.
        for cut in [full.len() - 10, full.len() - 60, full.len() - 100] {
            let e = err(&full[..cut]);
            assert!(
                matches!(e, FdaListError::TruncatedXml { .. }),
                "cut at {cut}: {e:?}"
            );
            assert!(e.to_string().contains("truncated"), "{e}");
        }
        let cut = full.find("<Device>B").unwrap() + 5;
        let e = err(&full[..cut]);
        assert!(
            matches!(e, FdaListError::TruncatedXml { line: 14, .. }),
            "{e:?}"
        );
        let e = err(&full[..full.len() - 8]);
        assert!(
            matches!(&e, FdaListError::TruncatedXml { inside, .. } if inside == "<data>"),
            "{e:?}"
        );
    }

    #[test]
    fn malformed_xml() {
        let e = err("<data>\n  <row>\n    <Device>A</Company>\n  </row>\n</data>\n");
        assert!(
            matches!(e, FdaListError::MalformedXml { line: 3, .. }),
            "{e:?}"
        );
        let e = err("<data>\n  <row>\n    <Device>A &bogus; B</Device>\n");
        assert!(
            matches!(&e, FdaListError::MalformedXml { line: 3, message } if message.contains("bogus")),
            "{e:?}"
        );
        let e = err("<data>\n  <item>\n  </item>\n</data>\n");
        assert!(
            matches!(&e, FdaListError::UnexpectedElement { line: 2, element, .. } if element == "item"),
            "{e:?}"
        );
        let e = err("<data>\n  stray text\n</data>\n");
        assert!(
            matches!(
                e,
                FdaListError::MalformedXml { line: 1, .. }
                    | FdaListError::MalformedXml { line: 2, .. }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn wrong_xml_elements() {
        let full = xml(&[xml_row("09/29/2025", &link("K252054"), "A")]);
        let e = err(&full.replace("Panel>", "Specialty>"));
        assert!(
            matches!(&e, FdaListError::UnexpectedElement { line: 8, element, .. } if element == "Specialty"),
            "{e:?}"
        );
        let without_company = full.replace("    <Company>Acme &amp; Co.</Company>\n", "");
        assert_eq!(
            err(&without_company),
            FdaListError::MissingElement {
                line: 3,
                row: "row".into(),
                element: "Company"
            }
        );
        let twice = full.replace("<Device>A</Device>", "<Device>A</Device><Device>B</Device>");
        assert!(matches!(
            err(&twice),
            FdaListError::DuplicateElement { line: 6, .. }
        ));
        let nested = full.replace("<Device>A</Device>", "<Device><b>A</b></Device>");
        assert!(matches!(
            err(&nested),
            FdaListError::UnexpectedElement { line: 6, .. }
        ));
    }

    #[test]
    fn every_error_names_its_line() {
        let cases = [
            err(&format!(
                "{CSV_HEADER}2025-09-29,K252054,D,C,R,Q\n2025-13-01,K1,D,C,R,Q\n"
            )),
            err("<data>\n<row>\n"),
        ];
        for e in cases {
            assert!(e.line().is_some(), "{e:?}");
            assert!(e.to_string().starts_with("line "), "{e}");
        }
        assert_eq!(FdaListError::Empty.line(), None);
    }
}
