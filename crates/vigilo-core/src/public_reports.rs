//! Public adverse-event data read into one neutral shape, [`PublicReport`], for the
//! early-warning importer:
//!
//! - the MAUDE master-record extract CSV (one row per report, no narrative):
//!   [`parse_maude_extract`];
//! - FDA's raw pipe-delimited MAUDE bulk files `foidev`, `foitext` and `patient`, joined
//!   by MDR report key: [`parse_maude_raw`];
//! - openFDA `device/event` JSON, one record or a `{"results": [...]}` page:
//!   [`parse_openfda`];
//! - the AI Incident Database incidents CSV (the full snapshot or a subset):
//!   [`parse_aiid`].
//!
//! How each source's fields map to Vigilo's is in `docs/incident-codes.md`. Parsing is
//! all or nothing: a bad row is an error naming its line (or JSON record) and field, so
//! the importer never stores half a file. The narratives may contain names; the
//! importer de-identifies them. No I/O: the caller reads and decodes the files.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;
use time::{Date, Month};

use crate::codes::CsvLines;
use crate::incident::{IncidentSource, ReporterKind, Seriousness};

/// One report from a public source, in Vigilo's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicReport {
    pub source: IncidentSource,
    /// The source's own identifier: MDR report key (MAUDE, openFDA), incident id (AIID).
    pub external_id: String,
    /// When the source received the report.
    pub received_on: Option<Date>,
    /// When the event happened, if the source says.
    pub occurred_on: Option<Date>,
    pub seriousness: Seriousness,
    /// Always [`ReporterKind::PublicSource`]: Vigilo took the report from a publication.
    pub reporter_kind: ReporterKind,
    /// Who reported to the source, when it says (MAUDE report source and occupation).
    pub original_reporter: Option<ReporterKind>,
    /// The product as the source names it (MAUDE brand name).
    pub product_name: Option<String>,
    pub manufacturer: Option<String>,
    /// What identifies the device: FDA submission number (K/DEN), else FDA product code.
    pub device_ref: Option<String>,
    /// Who deployed the system (AIID).
    pub deployer: Option<String>,
    /// The source's headline (AIID title).
    pub title: Option<String>,
    pub narrative: String,
    /// Where the event happened, when the source says (none of the current sources does).
    pub country: Option<String>,
    /// The source's own codes, prefixed by their field: `maude_event_type:IN`,
    /// `maude_remedial_action:RC`, `fda_product_problem:…`, `aiid_harmed:patients`.
    pub event_codes: Vec<String>,
}

impl PublicReport {
    fn new(source: IncidentSource, external_id: String) -> PublicReport {
        PublicReport {
            source,
            external_id,
            received_on: None,
            occurred_on: None,
            seriousness: Seriousness::Malfunction,
            reporter_kind: ReporterKind::PublicSource,
            original_reporter: None,
            product_name: None,
            manufacturer: None,
            device_ref: None,
            deployer: None,
            title: None,
            narrative: String::new(),
            country: None,
            event_codes: Vec::new(),
        }
    }
}

/// Where in the input an error is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// A 1-based line of a CSV or pipe-delimited file; `file` names which one when
    /// several are read together (`foidev`, `foitext`, `patient`).
    Line {
        file: Option<&'static str>,
        line: u64,
    },
    /// A 1-based record of a JSON input.
    Record { index: usize },
}

impl At {
    fn line(line: u64) -> At {
        At::Line { file: None, line }
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Line {
                file: Some(file),
                line,
            } => write!(f, "{file} line {line}"),
            At::Line { file: None, line } => write!(f, "line {line}"),
            At::Record { index } => write!(f, "record {index}"),
        }
    }
}

/// Why a public file could not be read. The message says where and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicReportError {
    #[error("the {what} is empty")]
    Empty { what: &'static str },
    #[error("{at}: the file has a header but no reports")]
    NoRows { at: At },
    #[error("{at}: unreadable CSV: {message}; save the file as UTF-8 CSV and import it again")]
    Csv { at: At, message: String },
    #[error("{at}: missing column '{column}' (the header has: {found}); this is not {expected}")]
    MissingColumn {
        at: At,
        column: &'static str,
        found: String,
        expected: &'static str,
    },
    #[error("{at}: column '{column}' appears twice in the header; remove one")]
    DuplicateColumn { at: At, column: String },
    #[error("{at}: {found} fields where the header has {expected}; check for a stray separator")]
    FieldCount {
        at: At,
        expected: usize,
        found: usize,
    },
    #[error("{at}, field '{field}': empty; every report needs it")]
    MissingValue { at: At, field: &'static str },
    #[error("{at}, field '{field}': '{value}' is not {expected}")]
    BadValue {
        at: At,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{at}: {what} {id} appears twice (first at {first}); a file holds each report once")]
    DuplicateId {
        at: At,
        what: &'static str,
        id: String,
        first: At,
    },
    #[error("line {line}, column {column}: not valid JSON: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("not an openFDA device event: expected a record with 'mdr_report_key', a list of them, or {{\"results\": [...]}}")]
    NotOpenFda,
}

impl PublicReportError {
    /// Where the error is, when it is about a place.
    pub fn at(&self) -> Option<At> {
        use PublicReportError::*;
        match self {
            Empty { .. } | NotOpenFda => None,
            Json { line, .. } => Some(At::line(*line as u64)),
            NoRows { at }
            | Csv { at, .. }
            | MissingColumn { at, .. }
            | DuplicateColumn { at, .. }
            | FieldCount { at, .. }
            | MissingValue { at, .. }
            | BadValue { at, .. }
            | DuplicateId { at, .. } => Some(at.clone()),
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

fn strip_bom(input: &str) -> &str {
    input.strip_prefix('\u{feff}').unwrap_or(input)
}

fn some(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

const DATE_FORMS: &str = "a date (YYYYMMDD, YYYY-MM-DD or MM/DD/YYYY)";

/// Parses the date forms of these sources: `YYYYMMDD` (openFDA), `YYYY-MM-DD` (AIID)
/// and `MM/DD/YYYY` (MAUDE files).
fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    let (y, m, d) = if s.len() == 8 && digits(s) {
        (s.get(..4)?, s.get(4..6)?, s.get(6..)?)
    } else if let Some((y, rest)) = s.split_once('-') {
        let (m, d) = rest.split_once('-')?;
        (y, m, d)
    } else {
        let mut parts = s.split('/');
        let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        (y, m, d)
    };
    if y.len() != 4 || !(1..=2).contains(&m.len()) || !(1..=2).contains(&d.len()) {
        return None;
    }
    if !(digits(y) && digits(m) && digits(d)) {
        return None;
    }
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

fn date_field(
    at: &At,
    field: &'static str,
    value: &str,
) -> Result<Option<Date>, PublicReportError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    parse_date(value)
        .map(Some)
        .ok_or_else(|| PublicReportError::BadValue {
            at: at.clone(),
            field,
            value: shown(value),
            expected: DATE_FORMS,
        })
}

fn iso(d: Date) -> String {
    crate::fda_list::iso_date(d)
}

// ---------------------------------------------------------------------------
// MAUDE vocabularies (openfda_maude_code_enums.csv; openFDA spells them out)

/// MAUDE `event_type`, as a code (`IN`) or as openFDA's word (`Injury`). MDR
/// "injury" reports are serious injuries (21 CFR 803.3); "other" and "no answer"
/// report neither death nor injury and count as malfunctions.
fn event_seriousness(value: &str) -> Option<Seriousness> {
    Some(match value.trim().to_ascii_lowercase().as_str() {
        "d" | "death" => Seriousness::Death,
        "in" | "il" | "ij" | "injury" => Seriousness::SeriousInjury,
        "m" | "malfunction" | "o" | "other" | "*" | "no answer provided" => {
            Seriousness::Malfunction
        }
        _ => return None,
    })
}

/// Patient outcome (`sequence_number_outcome`), as a code or openFDA's word: death;
/// life-threatening, hospitalisation, disability, congenital anomaly or required
/// intervention (FDA's serious-injury criteria); other; or no information.
fn outcome_seriousness(value: &str) -> Result<Option<Seriousness>, ()> {
    Ok(match value.trim().to_ascii_lowercase().as_str() {
        "d" | "death" => Some(Seriousness::Death),
        "l"
        | "life threatening"
        | "h"
        | "hospitalization"
        | "s"
        | "disability"
        | "c"
        | "congenital anomaly"
        | "r"
        | "required intervention" => Some(Seriousness::SeriousInjury),
        "o" | "other" => Some(Seriousness::OtherInjury),
        "" | "u" | "unknown" | "i" | "no information" | "a" | "not applicable" | "*"
        | "invalid data" => None,
        _ => return Err(()),
    })
}

/// The items of one patient outcome field: `1. L; 2. R` (raw files), `1, Life
/// Threatening, 2, Required Intervention` (openFDA) or bare `L`, without their numbers.
fn outcome_items(field: &str) -> impl Iterator<Item = &str> {
    field.split([';', ',']).filter_map(|item| {
        let item = item
            .trim()
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start_matches('.')
            .trim();
        (!item.is_empty()).then_some(item)
    })
}

/// The most serious outcome of one patient field.
fn outcomes_seriousness(field: &str) -> Result<Option<Seriousness>, ()> {
    let mut worst: Option<Seriousness> = None;
    for item in outcome_items(field) {
        if let Some(s) = outcome_seriousness(item)? {
            worst = Some(worst.map_or(s, |w| w.min(s)));
        }
    }
    Ok(worst)
}

/// MAUDE `report_source_code` (code or word) and the reporter's occupation.
fn original_reporter(
    source: &str,
    occupation: &str,
    health_professional: &str,
) -> Option<ReporterKind> {
    let occupation = occupation.trim().to_ascii_uppercase();
    let lay = matches!(
        occupation.as_str(),
        "0LP" | "305" | "306" | "LAY USER/PATIENT" | "PATIENT" | "PATIENT FAMILY MEMBER OR FRIEND"
    );
    let health = health_professional.trim().eq_ignore_ascii_case("Y")
        || matches!(
            occupation.as_str(),
            "001" | "002" | "0HP" | "PHYSICIAN" | "NURSE" | "HEALTH PROFESSIONAL"
        )
        || (occupation.len() == 3 && occupation.starts_with('1'));
    match source.trim().to_ascii_lowercase().as_str() {
        "m" | "manufacturer report" | "d" | "distributor report" => Some(ReporterKind::Vendor),
        "u" | "user facility report" => Some(ReporterKind::HealthWorker),
        "p" | "voluntary report" if lay => Some(ReporterKind::Patient),
        "p" | "voluntary report" if health => Some(ReporterKind::HealthWorker),
        _ => None,
    }
}

fn report_source_words(code: &str) -> &str {
    match code.trim() {
        "M" => "manufacturer report",
        "U" => "user facility report",
        "D" => "distributor report",
        "P" => "voluntary report",
        other => other,
    }
}

fn remedial_action_words(code: &str) -> Option<&'static str> {
    Some(match code.trim() {
        "RC" => "recall",
        "RP" => "repair",
        "RL" => "replace",
        "RB" => "relabeling",
        "OT" => "other",
        "NO" => "notification",
        "IN" => "inspection",
        "PM" => "patient monitoring",
        "MA" => "modification or adjustment",
        _ => return None,
    })
}

fn occupation_words(code: &str) -> Option<&'static str> {
    Some(match code.trim() {
        "000" => "other",
        "001" => "physician",
        "002" => "nurse",
        "0HP" => "health professional",
        "0LP" => "lay user or patient",
        "100" => "other health care professional",
        "113" => "radiologic technologist",
        "305" => "patient",
        "306" => "patient's family member or friend",
        "401" => "biomedical engineer",
        "500" => "risk manager",
        // Unknown, not applicable, no information, and the rarer occupations.
        _ => return None,
    })
}

fn event_words(s: Seriousness) -> &'static str {
    match s {
        Seriousness::Death => "death",
        Seriousness::SeriousInjury => "injury",
        Seriousness::OtherInjury => "other injury",
        Seriousness::Malfunction => "malfunction",
        Seriousness::NearMiss => "near miss",
    }
}

// ---------------------------------------------------------------------------
// Column lookup shared by the CSV readers

/// Columns found in a header: name (lower case) to position.
struct Header {
    names: Vec<String>,
    at: At,
}

impl Header {
    fn new(fields: impl Iterator<Item = String>, at: At) -> Result<Header, PublicReportError> {
        let names: Vec<String> = fields.map(|f| f.trim().to_ascii_lowercase()).collect();
        for (i, n) in names.iter().enumerate() {
            if !n.is_empty() && names.get(..i).is_some_and(|before| before.contains(n)) {
                return Err(PublicReportError::DuplicateColumn {
                    at,
                    column: shown(n),
                });
            }
        }
        Ok(Header { names, at })
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    fn require(
        &self,
        name: &'static str,
        expected: &'static str,
    ) -> Result<usize, PublicReportError> {
        self.find(name)
            .ok_or_else(|| PublicReportError::MissingColumn {
                at: self.at.clone(),
                column: name,
                found: self
                    .names
                    .iter()
                    .take(12)
                    .map(|n| shown(n))
                    .collect::<Vec<_>>()
                    .join(", "),
                expected,
            })
    }
}

/// Reads a CSV into (line, record) pairs after its header, skipping blank lines.
fn read_csv(
    input: &str,
    what: &'static str,
) -> Result<(Header, Vec<(u64, csv::StringRecord)>), PublicReportError> {
    let text = strip_bom(input);
    if text.trim().is_empty() {
        return Err(PublicReportError::Empty { what });
    }
    let mut lines = CsvLines::new(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let csv_error = |lines: &mut CsvLines, e: csv::Error| PublicReportError::Csv {
        at: At::line(lines.of_error(&e)),
        message: e.to_string(),
    };
    let header = match records.next() {
        None => return Err(PublicReportError::Empty { what }),
        Some(r) => r.map_err(|e| csv_error(&mut lines, e))?,
    };
    let header_line = lines.of(&header);
    let head = Header::new(header.iter().map(str::to_string), At::line(header_line))?;
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|e| csv_error(&mut lines, e))?;
        let line = lines.of(&record);
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            return Err(PublicReportError::FieldCount {
                at: At::line(line),
                expected: header.len(),
                found: record.len(),
            });
        }
        rows.push((line, record));
    }
    if rows.is_empty() {
        return Err(PublicReportError::NoRows {
            at: At::line(header_line),
        });
    }
    Ok((head, rows))
}

// ---------------------------------------------------------------------------
// MAUDE master-record extract

const MAUDE_EXTRACT: &str =
    "a MAUDE master-record extract (idnumber, mdr_report_key, date_received, event_type, …)";

/// Reads the MAUDE master-record extract CSV (`maude_mdr_ai_510k_devices_2010-2023.csv`:
/// `idnumber` (the device's K or DEN number), `mdr_report_key`, `report_source_code`,
/// `date_received`, `adverse_event_flag`, `product_problem_flag`, `date_report`,
/// `date_of_event`, `reporter_occupation_code`, `health_professional`, `event_location`,
/// `date_manufacturer_received`, `remedial_action`, `event_type`, `type_of_report`).
/// It has no narrative, so a short factual one is written from the fields.
pub fn parse_maude_extract(input: &str) -> Result<Vec<PublicReport>, PublicReportError> {
    let (head, rows) = read_csv(input, "MAUDE extract")?;
    let key_col = head.require("mdr_report_key", MAUDE_EXTRACT)?;
    let id_col = head.require("idnumber", MAUDE_EXTRACT)?;
    let received_col = head.require("date_received", MAUDE_EXTRACT)?;
    let type_col = head.require("event_type", MAUDE_EXTRACT)?;
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (line, record) in rows {
        let at = At::line(line);
        let get = |i: usize| record.get(i).unwrap_or("").trim();
        let opt = |name: &str| head.find(name).map_or("", get);
        let key = get(key_col);
        if key.is_empty() {
            return Err(PublicReportError::MissingValue {
                at,
                field: "mdr_report_key",
            });
        }
        if !key.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PublicReportError::BadValue {
                at,
                field: "mdr_report_key",
                value: shown(key),
                expected: "an MDR report key (digits)",
            });
        }
        if let Some(&first) = seen.get(key) {
            return Err(PublicReportError::DuplicateId {
                at,
                what: "MDR report key",
                id: key.to_string(),
                first: At::line(first),
            });
        }
        seen.insert(key.to_string(), line);
        let event_type = get(type_col);
        if event_type.is_empty() {
            return Err(PublicReportError::MissingValue {
                at,
                field: "event_type",
            });
        }
        let seriousness =
            event_seriousness(event_type).ok_or_else(|| PublicReportError::BadValue {
                at: at.clone(),
                field: "event_type",
                value: shown(event_type),
                expected: "a MAUDE event type (D, IN, IL, IJ, M, O or *)",
            })?;
        if get(received_col).is_empty() {
            return Err(PublicReportError::MissingValue {
                at,
                field: "date_received",
            });
        }
        let received_on = date_field(&at, "date_received", get(received_col))?;
        let occurred_on = date_field(&at, "date_of_event", opt("date_of_event"))?;
        let manufacturer_aware = date_field(
            &at,
            "date_manufacturer_received",
            opt("date_manufacturer_received"),
        )?;
        let remedial = opt("remedial_action");
        let remedial_words = if remedial.is_empty() {
            None
        } else {
            Some(
                remedial_action_words(remedial).ok_or_else(|| PublicReportError::BadValue {
                    at: at.clone(),
                    field: "remedial_action",
                    value: shown(remedial),
                    expected: "a MAUDE remedial action code (RC, RP, RL, RB, OT, NO, IN, PM, MA)",
                })?,
            )
        };
        let source_code = opt("report_source_code");
        let occupation = opt("reporter_occupation_code");
        let device = get(id_col);
        let mut report = PublicReport::new(IncidentSource::Maude, key.to_string());
        report.received_on = received_on;
        report.occurred_on = occurred_on;
        report.seriousness = seriousness;
        report.original_reporter =
            original_reporter(source_code, occupation, opt("health_professional"));
        report.device_ref = some(device);
        report
            .event_codes
            .push(format!("maude_event_type:{event_type}"));
        if !source_code.is_empty() {
            report
                .event_codes
                .push(format!("maude_report_source:{source_code}"));
        }
        if !remedial.is_empty() {
            report
                .event_codes
                .push(format!("maude_remedial_action:{remedial}"));
        }
        // The narrative: facts only, one sentence each.
        let mut n = format!(
            "FDA MAUDE {} {key}: {} reported for device {}.",
            if source_code.is_empty() {
                "report".to_string()
            } else {
                report_source_words(source_code).to_string()
            },
            event_words(seriousness),
            if device.is_empty() {
                "(not identified)"
            } else {
                device
            },
        );
        let flag = |v: &str| match v {
            "Y" => Some("yes"),
            "N" => Some("no"),
            _ => None,
        };
        if let Some(v) = flag(opt("adverse_event_flag")) {
            n.push_str(&format!(" Adverse event: {v}."));
        }
        if let Some(v) = flag(opt("product_problem_flag")) {
            n.push_str(&format!(" Product problem: {v}."));
        }
        if let Some(w) = occupation_words(occupation) {
            n.push_str(&format!(" Initial reporter: {w}."));
        }
        if let Some(w) = remedial_words {
            n.push_str(&format!(" Remedial action: {w}."));
        }
        let followups = opt("type_of_report")
            .split(',')
            .filter(|t| t.trim() == "F")
            .count();
        if followups > 0 {
            n.push_str(&format!(" Follow-up reports: {followups}."));
        }
        match occurred_on {
            Some(d) => n.push_str(&format!(" Event date: {}.", iso(d))),
            None => n.push_str(" Event date not given."),
        }
        if let Some(d) = manufacturer_aware {
            n.push_str(&format!(" Manufacturer aware: {}.", iso(d)));
        }
        if let Some(d) = received_on {
            n.push_str(&format!(" Received by FDA: {}.", iso(d)));
        }
        n.push_str(" The extract carries no event description.");
        report.narrative = n;
        out.push(report);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// MAUDE raw bulk files

/// A pipe-delimited MAUDE bulk file: its header and rows of fields with their lines.
struct PipeFile<'a> {
    head: Header,
    rows: Vec<(u64, Vec<&'a str>)>,
}

/// Splits a MAUDE bulk file. FDA's files have no quoting (a `"` is a character), and
/// older rows have fewer fields than the header (the missing ones are empty). When
/// `last_joins` is set, extra fields are rejoined into the last column (a `|` inside
/// the narrative of `foitext`).
fn read_pipe<'a>(
    input: &'a str,
    file: &'static str,
    last_joins: bool,
) -> Result<PipeFile<'a>, PublicReportError> {
    let text = strip_bom(input);
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix('\r').unwrap_or(l)));
    let Some((header_line, header)) = lines.find(|(_, l)| !l.trim().is_empty()) else {
        return Err(PublicReportError::Empty { what: file });
    };
    let head = Header::new(
        header.split('|').map(str::to_string),
        At::Line {
            file: Some(file),
            line: header_line,
        },
    )?;
    let width = head.names.len();
    let mut rows = Vec::new();
    for (line, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        let mut fields: Vec<&str> = l.split('|').collect();
        if fields.len() > width {
            if last_joins {
                let start = fields
                    .iter()
                    .take(width - 1)
                    .map(|f| f.len() + 1)
                    .sum::<usize>();
                fields.truncate(width - 1);
                fields.push(l.get(start..).unwrap_or(""));
            } else {
                return Err(PublicReportError::FieldCount {
                    at: At::Line {
                        file: Some(file),
                        line,
                    },
                    expected: width,
                    found: fields.len(),
                });
            }
        }
        rows.push((line, fields));
    }
    if rows.is_empty() {
        return Err(PublicReportError::NoRows {
            at: At::Line {
                file: Some(file),
                line: header_line,
            },
        });
    }
    Ok(PipeFile { head, rows })
}

/// The reports read from MAUDE bulk files, with what could not be joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaudeRawImport {
    pub reports: Vec<PublicReport>,
    /// `foitext` rows whose report has no `foidev` row (skipped: FDA splits its files by
    /// year, so a text may belong to a device row in another year's file).
    pub unmatched_texts: usize,
    /// `patient` rows whose report has no `foidev` row (skipped likewise).
    pub unmatched_patients: usize,
}

const FOIDEV: &str =
    "a MAUDE foidev file (mdr_report_key|…|brand_name|generic_name|manufacturer_d_name|…)";
const FOITEXT: &str = "a MAUDE foitext file (mdr_report_key|mdr_text_key|text_type_code|patient_sequence_number|date_report|text)";
const PATIENT: &str = "a MAUDE patient file (mdr_report_key|patient_sequence_number|date_received|sequence_number_treatment|sequence_number_outcome)";

/// MAUDE text types: D, description of the event; N, additional manufacturer
/// narrative; E, manufacturer evaluation summary (codes or openFDA's words).
fn text_type(value: &str) -> Option<(u8, &'static str)> {
    Some(match value.trim().to_ascii_lowercase().as_str() {
        "d" | "description of event or problem" => (0, "Description of event"),
        "n" | "additional manufacturer narrative" => (1, "Manufacturer narrative"),
        "e" | "manufacturer evaluation summary" => (2, "Manufacturer evaluation"),
        _ => return None,
    })
}

const TEXT_TYPES: &str = "a MAUDE text type (D, N or E)";

/// Joins the narratives of a report: the event description first, then the
/// manufacturer's narrative and evaluation, each labelled.
fn compose(mut texts: Vec<(u8, &'static str, String)>) -> String {
    texts.sort_by_key(|t| t.0);
    texts
        .into_iter()
        .filter(|t| !t.2.trim().is_empty())
        .map(|(_, label, text)| format!("{label}: {}", text.trim()))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn digits_key(at: &At, key: &str) -> Result<String, PublicReportError> {
    let key = key.trim();
    if key.is_empty() {
        return Err(PublicReportError::MissingValue {
            at: at.clone(),
            field: "mdr_report_key",
        });
    }
    if !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PublicReportError::BadValue {
            at: at.clone(),
            field: "mdr_report_key",
            value: shown(key),
            expected: "an MDR report key (digits)",
        });
    }
    Ok(key.to_string())
}

/// Reads FDA's raw MAUDE bulk files and joins them by MDR report key: one report per
/// key of `foidev` (its first device names the product), narratives from `foitext`,
/// seriousness from the patient outcomes in `patient` (most serious wins; no outcome,
/// malfunction: these files hold no event type, which is in the master file `mdrfoi`).
/// Headers are matched case-insensitively (FDA writes them in capitals).
pub fn parse_maude_raw(
    foidev: &str,
    foitext: &str,
    patient: Option<&str>,
) -> Result<MaudeRawImport, PublicReportError> {
    let dev = read_pipe(foidev, "foidev", false)?;
    let dkey = dev.head.require("mdr_report_key", FOIDEV)?;
    let dbrand = dev.head.require("brand_name", FOIDEV)?;
    let dmaker = dev.head.require("manufacturer_d_name", FOIDEV)?;
    let dseq = dev.head.find("device_sequence_number");
    let mut reports: Vec<PublicReport> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // Device rows seen: (key, sequence) to line.
    let mut devices: HashMap<(String, String), u64> = HashMap::new();
    // The sequence number of the device that named each report.
    let mut naming_seq: Vec<u32> = Vec::new();
    for (line, fields) in &dev.rows {
        let at = At::Line {
            file: Some("foidev"),
            line: *line,
        };
        let get = |i: usize| fields.get(i).copied().unwrap_or("").trim();
        let opt = |name: &str| dev.head.find(name).map_or("", get);
        let key = digits_key(&at, get(dkey))?;
        let seq_text = dseq.map_or("", get);
        let seq: u32 = if seq_text.is_empty() {
            1
        } else {
            seq_text.parse().map_err(|_| PublicReportError::BadValue {
                at: at.clone(),
                field: "device_sequence_number",
                value: shown(seq_text),
                expected: "a device sequence number (1, 2, …)",
            })?
        };
        if let Some(&first) = devices.get(&(key.clone(), seq.to_string())) {
            return Err(PublicReportError::DuplicateId {
                at,
                what: "device of MDR report",
                id: format!("{key} (device {seq})"),
                first: At::Line {
                    file: Some("foidev"),
                    line: first,
                },
            });
        }
        devices.insert((key.clone(), seq.to_string()), *line);
        let received_on = date_field(&at, "date_received", opt("date_received"))?;
        let i = match index.get(&key) {
            Some(&i) => i,
            None => {
                index.insert(key.clone(), reports.len());
                reports.push(PublicReport::new(IncidentSource::Maude, key.clone()));
                naming_seq.push(u32::MAX);
                reports.len() - 1
            }
        };
        let (Some(report), Some(named)) = (reports.get_mut(i), naming_seq.get_mut(i)) else {
            continue;
        };
        if seq < *named {
            *named = seq;
            report.product_name = some(get(dbrand)).or_else(|| some(opt("generic_name")));
            report.manufacturer = some(get(dmaker));
            report.device_ref = some(opt("device_report_product_code"));
            report.received_on = received_on.or(report.received_on);
        }
        let code = opt("device_report_product_code");
        if !code.is_empty() {
            let tag = format!("fda_product_code:{code}");
            if !report.event_codes.contains(&tag) {
                report.event_codes.push(tag);
            }
        }
    }

    let text = read_pipe(foitext, "foitext", true)?;
    let tkey = text.head.require("mdr_report_key", FOITEXT)?;
    let ttype = text.head.require("text_type_code", FOITEXT)?;
    let ttext = text.head.require("text", FOITEXT)?;
    let mut texts: HashMap<usize, Vec<(u8, &'static str, String)>> = HashMap::new();
    let mut unmatched_texts = 0;
    for (line, fields) in &text.rows {
        let at = At::Line {
            file: Some("foitext"),
            line: *line,
        };
        let get = |i: usize| fields.get(i).copied().unwrap_or("").trim();
        let key = digits_key(&at, get(tkey))?;
        let kind = get(ttype);
        let (order, label) = text_type(kind).ok_or_else(|| PublicReportError::BadValue {
            at: at.clone(),
            field: "text_type_code",
            value: shown(kind),
            expected: TEXT_TYPES,
        })?;
        match index.get(&key) {
            Some(&i) => texts
                .entry(i)
                .or_default()
                .push((order, label, get(ttext).to_string())),
            None => unmatched_texts += 1,
        }
    }

    let mut unmatched_patients = 0;
    if let Some(patient) = patient {
        let pat = read_pipe(patient, "patient", false)?;
        let pkey = pat.head.require("mdr_report_key", PATIENT)?;
        let pout = pat.head.require("sequence_number_outcome", PATIENT)?;
        for (line, fields) in &pat.rows {
            let at = At::Line {
                file: Some("patient"),
                line: *line,
            };
            let get = |i: usize| fields.get(i).copied().unwrap_or("").trim();
            let key = digits_key(&at, get(pkey))?;
            let outcome = get(pout);
            let worst = outcomes_seriousness(outcome).map_err(|_| PublicReportError::BadValue {
                at: at.clone(),
                field: "sequence_number_outcome",
                value: shown(outcome),
                expected: "MAUDE patient outcomes (e.g. 1. L; 2. H: D, L, H, S, C, R, O, U, I, A)",
            })?;
            let Some(report) = index.get(&key).and_then(|&i| reports.get_mut(i)) else {
                unmatched_patients += 1;
                continue;
            };
            if let Some(w) = worst {
                report.seriousness = report.seriousness.min(w);
            }
            for code in outcome_items(outcome) {
                let tag = format!("maude_patient_outcome:{code}");
                if !report.event_codes.contains(&tag) {
                    report.event_codes.push(tag);
                }
            }
        }
    }

    for (i, report) in reports.iter_mut().enumerate() {
        let narrative = compose(texts.remove(&i).unwrap_or_default());
        report.narrative =
            if narrative.is_empty() {
                format!(
                "FDA MAUDE report {}: {} by {}. The text file holds no narrative for this report.",
                report.external_id,
                report.product_name.as_deref().unwrap_or("device not named"),
                report.manufacturer.as_deref().unwrap_or("an unnamed manufacturer"),
            )
            } else {
                narrative
            };
    }
    Ok(MaudeRawImport {
        reports,
        unmatched_texts,
        unmatched_patients,
    })
}

// ---------------------------------------------------------------------------
// openFDA device/event JSON

/// A field of an openFDA record as text: a string, a number, or a list of strings
/// (joined by `; `; the schema says string where the API sometimes gives a list).
fn json_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| json_text(Some(i)))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    }
}

fn json_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| json_text(Some(i)))
            .filter(|s| !s.is_empty())
            .collect(),
        other => Some(json_text(other))
            .filter(|s| !s.is_empty())
            .into_iter()
            .collect(),
    }
}

/// Reads openFDA `device/event` JSON: one record, a list of records, or an API page
/// `{"meta": …, "results": [...]}`. Dates are `YYYYMMDD`. Seriousness is the event
/// type made more serious by any patient outcome (a "malfunction" whose patient died
/// is a death).
pub fn parse_openfda(input: &str) -> Result<Vec<PublicReport>, PublicReportError> {
    let text = strip_bom(input);
    if text.trim().is_empty() {
        return Err(PublicReportError::Empty {
            what: "openFDA file",
        });
    }
    let value: Value = serde_json::from_str(text).map_err(|e| PublicReportError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let records: Vec<&Value> = match &value {
        Value::Object(o) if o.contains_key("mdr_report_key") => vec![&value],
        Value::Object(o) => match o.get("results") {
            Some(Value::Array(items)) => items.iter().collect(),
            _ => return Err(PublicReportError::NotOpenFda),
        },
        Value::Array(items) => items.iter().collect(),
        _ => return Err(PublicReportError::NotOpenFda),
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(records.len());
    for (i, record) in records.into_iter().enumerate() {
        let at = At::Record { index: i + 1 };
        let Value::Object(r) = record else {
            return Err(PublicReportError::BadValue {
                at,
                field: "record",
                value: shown(&record.to_string()),
                expected: "a JSON object",
            });
        };
        let field = |name: &str| json_text(r.get(name));
        let key = digits_key(&at, &field("mdr_report_key"))?;
        if let Some(&first) = seen.get(&key) {
            return Err(PublicReportError::DuplicateId {
                at,
                what: "MDR report key",
                id: key,
                first: At::Record { index: first },
            });
        }
        seen.insert(key.clone(), i + 1);
        let event_type = field("event_type");
        let mut seriousness = if event_type.is_empty() {
            Seriousness::Malfunction
        } else {
            event_seriousness(&event_type).ok_or_else(|| PublicReportError::BadValue {
                at: at.clone(),
                field: "event_type",
                value: shown(&event_type),
                expected:
                    "an openFDA event type (Death, Injury, Malfunction, Other, No answer provided)",
            })?
        };
        let mut report = PublicReport::new(IncidentSource::Openfda, key);
        if !event_type.is_empty() {
            report
                .event_codes
                .push(format!("maude_event_type:{event_type}"));
        }
        if let Some(Value::Array(patients)) = r.get("patient") {
            for p in patients {
                for outcome in json_list(p.get("sequence_number_outcome")) {
                    let worst = outcomes_seriousness(&outcome).map_err(|_| PublicReportError::BadValue {
                        at: at.clone(),
                        field: "patient.sequence_number_outcome",
                        value: shown(&outcome),
                        expected: "an openFDA patient outcome (Death, Life Threatening, Hospitalization, Disability, Congenital Anomaly, Required Intervention, Other, Unknown, …)",
                    })?;
                    if let Some(w) = worst {
                        seriousness = seriousness.min(w);
                    }
                }
                for problem in json_list(p.get("patient_problems")) {
                    report
                        .event_codes
                        .push(format!("fda_patient_problem:{problem}"));
                }
            }
        }
        report.seriousness = seriousness;
        report.received_on = date_field(&at, "date_received", &field("date_received"))?;
        report.occurred_on = date_field(&at, "date_of_event", &field("date_of_event"))?;
        report.original_reporter = original_reporter(
            &field("report_source_code"),
            &field("reporter_occupation_code"),
            &field("health_professional"),
        );
        let first_device = match r.get("device") {
            Some(Value::Array(devices)) => devices.first(),
            _ => None,
        };
        if let Some(d) = first_device {
            let dfield = |name: &str| some(&json_text(d.get(name)));
            report.product_name = dfield("brand_name").or_else(|| dfield("generic_name"));
            report.manufacturer = dfield("manufacturer_d_name");
            report.device_ref =
                dfield("baseline_510_k_number").or_else(|| dfield("device_report_product_code"));
            if let Some(code) = dfield("device_report_product_code") {
                report.event_codes.push(format!("fda_product_code:{code}"));
            }
        }
        if report.manufacturer.is_none() {
            report.manufacturer = some(&field("manufacturer_name"));
        }
        for problem in json_list(r.get("product_problems")) {
            report
                .event_codes
                .push(format!("fda_product_problem:{problem}"));
        }
        let mut texts = Vec::new();
        if let Some(Value::Array(items)) = r.get("mdr_text") {
            for t in items {
                let kind = json_text(t.get("text_type_code"));
                let (order, label) = text_type(&kind).ok_or_else(|| PublicReportError::BadValue {
                    at: at.clone(),
                    field: "mdr_text.text_type_code",
                    value: shown(&kind),
                    expected: "an openFDA text type (Description of Event or Problem, Additional Manufacturer Narrative, Manufacturer Evaluation Summary)",
                })?;
                texts.push((order, label, json_text(t.get("text"))));
            }
        }
        report.narrative = compose(texts);
        if report.narrative.is_empty() {
            report.narrative = format!(
                "openFDA device event {}: {} reported for {}. The record holds no narrative.",
                report.external_id,
                event_words(report.seriousness),
                report
                    .product_name
                    .as_deref()
                    .unwrap_or("an unnamed device"),
            );
        }
        out.push(report);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// AI Incident Database

const AIID: &str =
    "an AI Incident Database incidents file (incident_id, date, title, description, …)";

/// An AIID entity list: a JSON list of slugs (`["hospitals","doctors"]`), joined by `, `.
fn slugs(at: &At, field: &'static str, value: &str) -> Result<Vec<String>, PublicReportError> {
    if value.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str::<Vec<String>>(value).map_err(|_| PublicReportError::BadValue {
        at: at.clone(),
        field,
        value: shown(value),
        expected: "a JSON list of entity names (e.g. [\"hospitals\",\"doctors\"])",
    })
}

/// Reads an AI Incident Database incidents CSV: the snapshot's
/// `aiid_incidents_snapshot_*.csv` (`_id, incident_id, date, reports, Alleged deployer
/// of AI system, Alleged developer of AI system, Alleged harmed or nearly harmed parties,
/// description, title`) or a subset with the same columns (the health subset adds
/// `health_match`). The incident date is when it happened. The files say nothing of
/// harm, so every incident is a malfunction until a reviewer says otherwise.
pub fn parse_aiid(input: &str) -> Result<Vec<PublicReport>, PublicReportError> {
    let (head, rows) = read_csv(input, "AIID file")?;
    let id_col = head.require("incident_id", AIID)?;
    let date_col = head.require("date", AIID)?;
    let title_col = head.require("title", AIID)?;
    let desc_col = head.require("description", AIID)?;
    let deployer_col = head.find("alleged deployer of ai system");
    let developer_col = head.find("alleged developer of ai system");
    let harmed_col = head.find("alleged harmed or nearly harmed parties");
    let match_col = head.find("health_match");
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (line, record) in rows {
        let at = At::line(line);
        let get = |i: usize| record.get(i).unwrap_or("").trim();
        let opt = |c: Option<usize>| c.map_or("", get);
        let id = get(id_col);
        if id.is_empty() {
            return Err(PublicReportError::MissingValue {
                at,
                field: "incident_id",
            });
        }
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PublicReportError::BadValue {
                at,
                field: "incident_id",
                value: shown(id),
                expected: "an AIID incident number",
            });
        }
        if let Some(&first) = seen.get(id) {
            return Err(PublicReportError::DuplicateId {
                at,
                what: "incident",
                id: id.to_string(),
                first: At::line(first),
            });
        }
        seen.insert(id.to_string(), line);
        let (title, description) = (get(title_col), get(desc_col));
        if title.is_empty() && description.is_empty() {
            return Err(PublicReportError::MissingValue {
                at,
                field: "description",
            });
        }
        let mut report = PublicReport::new(IncidentSource::Aiid, id.to_string());
        report.occurred_on = date_field(&at, "date", get(date_col))?;
        report.title = some(title);
        report.narrative = if description.is_empty() {
            title.to_string()
        } else {
            description.to_string()
        };
        let deployers = slugs(&at, "Alleged deployer of AI system", opt(deployer_col))?;
        let developers = slugs(&at, "Alleged developer of AI system", opt(developer_col))?;
        let harmed = slugs(
            &at,
            "Alleged harmed or nearly harmed parties",
            opt(harmed_col),
        )?;
        report.deployer = some(&deployers.join(", "));
        report.manufacturer = some(&developers.join(", "));
        report
            .event_codes
            .extend(harmed.iter().map(|h| format!("aiid_harmed:{h}")));
        let m = opt(match_col);
        if !m.is_empty() {
            report.event_codes.push(format!("aiid_health_match:{m}"));
        }
        out.push(report);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const MAUDE_HEADER: &str = "idnumber,mdr_report_key,report_source_code,date_received,adverse_event_flag,product_problem_flag,date_report,date_of_event,reporter_occupation_code,health_professional,event_location,date_manufacturer_received,remedial_action,event_type,type_of_report\n";

    fn maude(rows: &[&str]) -> String {
        let mut s = MAUDE_HEADER.to_string();
        for r in rows {
            s.push_str(r);
            s.push('\n');
        }
        s
    }

    fn data(name: &str) -> Option<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data")
            .join(name);
        match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(_) => {
                println!("skipped: {} not found", path.display());
                None
            }
        }
    }

    #[test]
    fn dates_in_every_source_form() {
        assert_eq!(parse_date("20040801"), Some(date!(2004 - 08 - 01)));
        assert_eq!(parse_date("2015-07-13"), Some(date!(2015 - 07 - 13)));
        assert_eq!(parse_date("03/07/2019"), Some(date!(2019 - 03 - 07)));
        assert_eq!(parse_date("3/7/2019"), Some(date!(2019 - 03 - 07)));
        for bad in [
            "",
            "2004080",
            "20041301",
            "2019-02-30",
            "07/2019",
            "1/2/3/2019",
            "19-03-07",
            "2019/03/07",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn maude_extract_rows_become_reports_with_a_factual_narrative() {
        let input = maude(&[
            "DEN130013,8402371,M,03/07/2019,N,Y,07/24/2019,,,,I,07/02/2019,,M,\"I,F\"",
            "K150817,9713244,M,02/14/2020,Y,N,02/14/2020,01/10/2020,100,Y,I,01/16/2020,RC,IN,I",
            "K161772,9999999,P,02/14/2020,Y,N,,,0LP,N,,,,D,I",
        ]);
        let r = parse_maude_extract(&input).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].source, IncidentSource::Maude);
        assert_eq!(r[0].external_id, "8402371");
        assert_eq!(r[0].device_ref.as_deref(), Some("DEN130013"));
        assert_eq!(r[0].seriousness, Seriousness::Malfunction);
        assert_eq!(r[0].reporter_kind, ReporterKind::PublicSource);
        assert_eq!(r[0].original_reporter, Some(ReporterKind::Vendor));
        assert_eq!(r[0].received_on, Some(date!(2019 - 03 - 07)));
        assert_eq!(r[0].occurred_on, None);
        assert_eq!(
            r[0].narrative,
            "FDA MAUDE manufacturer report 8402371: malfunction reported for device DEN130013. Adverse event: no. Product problem: yes. Follow-up reports: 1. Event date not given. Manufacturer aware: 2019-07-02. Received by FDA: 2019-03-07. The extract carries no event description."
        );
        assert_eq!(
            r[0].event_codes,
            ["maude_event_type:M", "maude_report_source:M"]
        );
        assert_eq!(r[1].seriousness, Seriousness::SeriousInjury);
        assert_eq!(r[1].occurred_on, Some(date!(2020 - 01 - 10)));
        assert!(
            r[1].narrative.contains("Remedial action: recall."),
            "{}",
            r[1].narrative
        );
        assert!(r[1]
            .narrative
            .contains("Initial reporter: other health care professional."));
        assert!(r[1]
            .event_codes
            .contains(&"maude_remedial_action:RC".to_string()));
        assert_eq!(r[2].seriousness, Seriousness::Death);
        assert_eq!(r[2].original_reporter, Some(ReporterKind::Patient));
        assert!(r[2]
            .narrative
            .starts_with("FDA MAUDE voluntary report 9999999: death"));
        assert!(r[2].narrative.len() >= crate::incident::MIN_NARRATIVE);
    }

    #[test]
    fn maude_extract_tolerates_bom_crlf_and_reordered_columns() {
        let input = "\u{feff}event_type,mdr_report_key,idnumber,date_received\r\nM,1,K150817,20200214\r\n\r\nO,2,K150817,2020-02-15\r\n";
        let r = parse_maude_extract(input).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].seriousness, Seriousness::Malfunction);
        assert_eq!(r[1].received_on, Some(date!(2020 - 02 - 15)));
        assert!(r[1]
            .narrative
            .starts_with("FDA MAUDE report 2: malfunction"));
    }

    #[test]
    fn maude_extract_errors_name_line_and_field() {
        let ok = "DEN130013,1,M,03/07/2019,N,Y,,,,,,,,M,I";
        assert_eq!(
            parse_maude_extract("").unwrap_err(),
            PublicReportError::Empty {
                what: "MAUDE extract"
            }
        );
        assert_eq!(
            parse_maude_extract(MAUDE_HEADER).unwrap_err(),
            PublicReportError::NoRows { at: At::line(1) }
        );
        let e = parse_maude_extract("idnumber,mdr_report_key,date_received\nK1,1,01/01/2020\n")
            .unwrap_err();
        assert!(
            matches!(
                &e,
                PublicReportError::MissingColumn {
                    column: "event_type",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string().contains("not a MAUDE master-record extract"),
            "{e}"
        );
        let e = parse_maude_extract(&maude(&[ok, "DEN130013,2,M,03/07/2019,N,Y,,,,,,,,X,I"]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3, field 'event_type': 'X' is not a MAUDE event type (D, IN, IL, IJ, M, O or *)"
        );
        let e = parse_maude_extract(&maude(&[ok, "DEN130013,2,M,2019-13-07,N,Y,,,,,,,,M,I"]))
            .unwrap_err();
        assert!(
            matches!(&e, PublicReportError::BadValue { at, field: "date_received", .. } if *at == At::line(3)),
            "{e:?}"
        );
        let e = parse_maude_extract(&maude(&[ok, "DEN130013,2,M,,N,Y,,,,,,,,M,I"])).unwrap_err();
        assert_eq!(
            e,
            PublicReportError::MissingValue {
                at: At::line(3),
                field: "date_received"
            }
        );
        let e = parse_maude_extract(&maude(&[ok, ok])).unwrap_err();
        assert_eq!(e.to_string(), "line 3: MDR report key 1 appears twice (first at line 2); a file holds each report once");
        let e = parse_maude_extract(&maude(&[ok, "DEN130013,2,M,03/07/2019"])).unwrap_err();
        assert!(matches!(
            e,
            PublicReportError::FieldCount {
                expected: 15,
                found: 4,
                ..
            }
        ));
        let e = parse_maude_extract(&maude(&["DEN130013,1,M,03/07/2019,N,Y,,,,,,,ZZ,M,I"]))
            .unwrap_err();
        assert!(matches!(
            e,
            PublicReportError::BadValue {
                field: "remedial_action",
                ..
            }
        ));
        let e = parse_maude_extract(&maude(&["DEN130013,12a,M,03/07/2019,N,Y,,,,,,,,M,I"]))
            .unwrap_err();
        assert!(matches!(
            e,
            PublicReportError::BadValue {
                field: "mdr_report_key",
                ..
            }
        ));
        // A quoted field spanning lines keeps the line count right.
        let e = parse_maude_extract(&maude(&[
            "DEN130013,1,M,03/07/2019,N,Y,,,,,,,,M,\"I,\nF\"",
            "DEN130013,2,M,03/07/2019,N,Y,,,,,,,,Q,I",
        ]))
        .unwrap_err();
        assert_eq!(e.at(), Some(At::line(4)));
    }

    #[test]
    fn reads_the_published_maude_extract() {
        let Some(text) = data("maude_mdr_ai_510k_devices_2010-2023.csv") else {
            return;
        };
        let r = parse_maude_extract(&text).unwrap();
        assert_eq!(r.len(), 943);
        let count = |s: Seriousness| r.iter().filter(|x| x.seriousness == s).count();
        assert_eq!(count(Seriousness::Malfunction), 857);
        assert_eq!(count(Seriousness::SeriousInjury), 84);
        assert_eq!(count(Seriousness::Death), 2);
        assert!(r
            .iter()
            .all(|x| x.original_reporter == Some(ReporterKind::Vendor)));
        assert!(r.iter().all(|x| x
            .received_on
            .is_some_and(|d| (2013..=2023).contains(&d.year()))));
        assert_eq!(
            r.iter().filter(|x| x.occurred_on.is_some()).count(),
            943 - 298
        );
        let devices: std::collections::HashSet<_> =
            r.iter().map(|x| x.device_ref.clone()).collect();
        assert_eq!(devices.len(), 51);
    }

    const FOIDEV: &str = "MDR_REPORT_KEY|DEVICE_EVENT_KEY|DEVICE_SEQUENCE_NUMBER|DATE_RECEIVED|BRAND_NAME|GENERIC_NAME|MANUFACTURER_D_NAME|DEVICE_REPORT_PRODUCT_CODE|BASELINE_510_K__NUMBER\r\n\
        100|1|1|10/08/2009|\"\"\"TC 410, 20 GAUGE|PROBE|STRYKER|GXI\r\n\
        100|2|2|10/08/2009|OTHER BRAND|X|OTHER CO|ABC\r\n\
        200|3|1|10/06/2009|INRATIO|PT TEST|BIOSITE|JPA|K123456\r\n";
    const FOITEXT: &str =
        "mdr_report_key|mdr_text_key|text_type_code|patient_sequence_number|date_report|text\n\
        100|11|N|1||FOLLOW-UP | WITH A PIPE.\n\
        100|12|D|1||PT SUSTAINED A BURN.\n\
        999|13|D|1||ORPHAN TEXT.\n\
        \r\n";
    const PATIENT: &str = "mdr_report_key|patient_sequence_number|date_received|sequence_number_treatment|sequence_number_outcome\n\
        100|1|10/08/2009||1. O; 2. H\n\
        200|1|10/06/2009||\n\
        300|1|10/06/2009||1. D\n";

    #[test]
    fn maude_raw_files_are_joined_by_report_key() {
        let got = parse_maude_raw(FOIDEV, FOITEXT, Some(PATIENT)).unwrap();
        assert_eq!(got.unmatched_texts, 1);
        assert_eq!(got.unmatched_patients, 1);
        let r = &got.reports;
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].external_id, "100");
        assert_eq!(r[0].product_name.as_deref(), Some("\"\"\"TC 410, 20 GAUGE"));
        assert_eq!(r[0].manufacturer.as_deref(), Some("STRYKER"));
        assert_eq!(r[0].device_ref.as_deref(), Some("GXI"));
        assert_eq!(r[0].received_on, Some(date!(2009 - 10 - 08)));
        assert_eq!(
            r[0].narrative,
            "Description of event: PT SUSTAINED A BURN.\n\nManufacturer narrative: FOLLOW-UP | WITH A PIPE."
        );
        assert_eq!(r[0].seriousness, Seriousness::SeriousInjury);
        assert_eq!(
            r[0].event_codes,
            [
                "fda_product_code:GXI",
                "fda_product_code:ABC",
                "maude_patient_outcome:O",
                "maude_patient_outcome:H"
            ]
        );
        assert_eq!(r[1].seriousness, Seriousness::Malfunction);
        assert!(
            r[1].narrative.contains("INRATIO by BIOSITE"),
            "{}",
            r[1].narrative
        );
        // Without the patient file.
        let got = parse_maude_raw(FOIDEV, FOITEXT, None).unwrap();
        assert_eq!(got.reports[0].seriousness, Seriousness::Malfunction);
    }

    #[test]
    fn maude_raw_errors_name_the_file_and_line() {
        let e = parse_maude_raw(
            FOIDEV,
            "mdr_report_key|text_type_code|text\n100|X|hello\n",
            None,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "foitext line 2, field 'text_type_code': 'X' is not a MAUDE text type (D, N or E)"
        );
        let e = parse_maude_raw(
            FOIDEV,
            FOITEXT,
            Some("mdr_report_key|sequence_number_outcome\n100|1. Q\n"),
        )
        .unwrap_err();
        assert!(
            matches!(
                &e,
                PublicReportError::BadValue {
                    at: At::Line {
                        file: Some("patient"),
                        line: 2
                    },
                    ..
                }
            ),
            "{e:?}"
        );
        let dup = format!("{FOIDEV}200|4|1|10/06/2009|INRATIO|PT TEST|BIOSITE|JPA\n");
        let e = parse_maude_raw(&dup, FOITEXT, None).unwrap_err();
        assert!(e.to_string().starts_with("foidev line 5: device of MDR report 200 (device 1) appears twice (first at foidev line 4)"), "{e}");
        let e = parse_maude_raw("mdr_report_key|brand_name\n1|x\n", FOITEXT, None).unwrap_err();
        assert!(matches!(
            e,
            PublicReportError::MissingColumn {
                column: "manufacturer_d_name",
                ..
            }
        ));
        let e = parse_maude_raw(
            "mdr_report_key|brand_name|manufacturer_d_name\n1|x|y|z\n",
            FOITEXT,
            None,
        )
        .unwrap_err();
        assert!(matches!(
            e,
            PublicReportError::FieldCount {
                expected: 3,
                found: 4,
                ..
            }
        ));
        assert!(matches!(
            parse_maude_raw("", FOITEXT, None),
            Err(PublicReportError::Empty { what: "foidev" })
        ));
        assert!(matches!(
            parse_maude_raw("a|b\r\n\r\n", FOITEXT, None),
            Err(PublicReportError::NoRows { .. })
        ));
    }

    #[test]
    fn reads_the_published_maude_samples() {
        let (Some(dev), Some(text), Some(pat)) = (
            data("maude_raw_sample_foidev.txt"),
            data("maude_raw_sample_foitext.txt"),
            data("maude_raw_sample_patient.txt"),
        ) else {
            return;
        };
        let got = parse_maude_raw(&dev, &text, Some(&pat)).unwrap();
        assert_eq!(got.reports.len(), 5);
        assert_eq!((got.unmatched_texts, got.unmatched_patients), (0, 0));
        let get = |k: &str| got.reports.iter().find(|r| r.external_id == k).unwrap();
        assert_eq!(get("538836").seriousness, Seriousness::SeriousInjury);
        assert_eq!(get("1511544").seriousness, Seriousness::OtherInjury);
        assert_eq!(get("1511541").seriousness, Seriousness::Malfunction);
        assert!(get("1511542")
            .narrative
            .starts_with("Description of event: CALLER REPORTED POTENTIAL FALSE POSITIVE"));
        assert_eq!(get("1511541").product_name.as_deref(), Some("INRATIO"));
        assert_eq!(
            get("538836").manufacturer.as_deref(),
            Some("INTERNATIONAL TECHNIDYNE CORP.")
        );
    }

    fn openfda_record(key: &str, event_type: &str) -> String {
        format!(
            r#"{{"mdr_report_key": "{key}", "event_type": "{event_type}", "date_received": "20240105", "date_of_event": "20231230",
              "report_source_code": "Voluntary report", "reporter_occupation_code": "PHYSICIAN",
              "device": [{{"brand_name": "LUNIT INSIGHT CXR", "manufacturer_d_name": "LUNIT INC.", "device_report_product_code": "QFM", "baseline_510_k_number": ""}}],
              "patient": [{{"sequence_number_outcome": ["Other"], "patient_problems": ["Tuberculosis"]}}],
              "product_problems": ["False Negative Result"],
              "mdr_text": [{{"text_type_code": "Additional Manufacturer Narrative", "text": "Under review."}},
                           {{"text_type_code": "Description of Event or Problem", "text": "The software did not flag a cavity."}}]}}"#
        )
    }

    #[test]
    fn openfda_records_and_pages() {
        let one = parse_openfda(&openfda_record("1", "Malfunction")).unwrap();
        assert_eq!(one.len(), 1);
        let r = &one[0];
        assert_eq!(r.source, IncidentSource::Openfda);
        assert_eq!(r.seriousness, Seriousness::OtherInjury);
        assert_eq!(r.received_on, Some(date!(2024 - 01 - 05)));
        assert_eq!(r.occurred_on, Some(date!(2023 - 12 - 30)));
        assert_eq!(r.original_reporter, Some(ReporterKind::HealthWorker));
        assert_eq!(r.product_name.as_deref(), Some("LUNIT INSIGHT CXR"));
        assert_eq!(r.manufacturer.as_deref(), Some("LUNIT INC."));
        assert_eq!(r.device_ref.as_deref(), Some("QFM"));
        assert_eq!(
            r.narrative,
            "Description of event: The software did not flag a cavity.\n\nManufacturer narrative: Under review."
        );
        assert_eq!(
            r.event_codes,
            [
                "maude_event_type:Malfunction",
                "fda_patient_problem:Tuberculosis",
                "fda_product_code:QFM",
                "fda_product_problem:False Negative Result"
            ]
        );
        let page = format!(
            "\u{feff}{{\"meta\": {{}}, \"results\": [{}, {}]}}",
            openfda_record("1", "Death"),
            openfda_record("2", "No answer provided")
        );
        let r = parse_openfda(&page).unwrap();
        assert_eq!(r[0].seriousness, Seriousness::Death);
        assert_eq!(r[1].seriousness, Seriousness::OtherInjury);
        let list = format!("[{}]", openfda_record("3", "Injury"));
        assert_eq!(
            parse_openfda(&list).unwrap()[0].seriousness,
            Seriousness::SeriousInjury
        );
        let bare = parse_openfda(r#"{"mdr_report_key": 42}"#).unwrap();
        assert_eq!(bare[0].external_id, "42");
        assert!(bare[0].narrative.contains("no narrative"));
    }

    #[test]
    fn openfda_errors_name_the_record_and_field() {
        let e = parse_openfda("{\"results\": [\n{\"mdr_report_key\": \"1\",}\n]}").unwrap_err();
        assert!(
            matches!(e, PublicReportError::Json { line: 2, .. }),
            "{e:?}"
        );
        assert_eq!(
            parse_openfda("{\"meta\": {}}").unwrap_err(),
            PublicReportError::NotOpenFda
        );
        assert_eq!(
            parse_openfda("  ").unwrap_err(),
            PublicReportError::Empty {
                what: "openFDA file"
            }
        );
        let page = format!(
            "{{\"results\": [{}, {}]}}",
            openfda_record("1", "Death"),
            openfda_record("2", "Explosion")
        );
        assert_eq!(
            parse_openfda(&page).unwrap_err().to_string(),
            "record 2, field 'event_type': 'Explosion' is not an openFDA event type (Death, Injury, Malfunction, Other, No answer provided)"
        );
        let page = format!(
            "[{}, {}]",
            openfda_record("1", "Death"),
            openfda_record("1", "Death")
        );
        assert!(matches!(
            parse_openfda(&page).unwrap_err(),
            PublicReportError::DuplicateId {
                at: At::Record { index: 2 },
                ..
            }
        ));
        let bad_date = openfda_record("1", "Death").replace("20240105", "2024015");
        assert!(matches!(
            parse_openfda(&bad_date).unwrap_err(),
            PublicReportError::BadValue {
                field: "date_received",
                ..
            }
        ));
        assert!(matches!(
            parse_openfda(r#"[{"event_type": "Death"}]"#).unwrap_err(),
            PublicReportError::MissingValue {
                field: "mdr_report_key",
                ..
            }
        ));
        assert!(matches!(
            parse_openfda("[1]").unwrap_err(),
            PublicReportError::BadValue {
                field: "record",
                ..
            }
        ));
    }

    #[test]
    fn reads_the_published_openfda_record() {
        let Some(text) = data("openfda_device_event_sample_record.json") else {
            return;
        };
        let r = parse_openfda(&text).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].external_id, "538836");
        assert_eq!(r[0].seriousness, Seriousness::SeriousInjury);
        assert_eq!(r[0].received_on, Some(date!(2004 - 08 - 01)));
        assert_eq!(
            r[0].product_name.as_deref(),
            Some("HEMOCHRON COAGULATION SYSTEM")
        );
        assert_eq!(r[0].original_reporter, Some(ReporterKind::Vendor));
        assert!(r[0]
            .narrative
            .starts_with("Description of event: MFG RECEIVED REPORT FROM A PERFUSIONIST"));
    }

    const AIID_HEADER: &str = "incident_id,date,title,description,Alleged deployer of AI system,Alleged developer of AI system,Alleged harmed or nearly harmed parties,health_match\n";

    #[test]
    fn aiid_incidents_become_reports() {
        let input = format!(
            "{AIID_HEADER}5,2015-07-13,Collection of Robotic Surgery Malfunctions,\"Study on reports of robotic surgery malfunctions (8,061).\",\"[\"\"hospitals\"\",\"\"doctors\"\"]\",\"[\"\"intuitive-surgical\"\"]\",\"[\"\"patients\"\"]\",cset_sector+keyword\r\n827,2024-10-26,Whisper invents text,,[],[],[],keyword\r\n"
        );
        let r = parse_aiid(&input).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].source, IncidentSource::Aiid);
        assert_eq!(r[0].external_id, "5");
        assert_eq!(r[0].occurred_on, Some(date!(2015 - 07 - 13)));
        assert_eq!(r[0].received_on, None);
        assert_eq!(r[0].seriousness, Seriousness::Malfunction);
        assert_eq!(
            r[0].title.as_deref(),
            Some("Collection of Robotic Surgery Malfunctions")
        );
        assert_eq!(
            r[0].narrative,
            "Study on reports of robotic surgery malfunctions (8,061)."
        );
        assert_eq!(r[0].deployer.as_deref(), Some("hospitals, doctors"));
        assert_eq!(r[0].manufacturer.as_deref(), Some("intuitive-surgical"));
        assert_eq!(
            r[0].event_codes,
            [
                "aiid_harmed:patients",
                "aiid_health_match:cset_sector+keyword"
            ]
        );
        assert_eq!(r[1].narrative, "Whisper invents text");
        assert_eq!(r[1].manufacturer, None);
        // The snapshot's columns, in its order, without health_match.
        let snapshot = "_id,incident_id,date,reports,Alleged deployer of AI system,Alleged developer of AI system,Alleged harmed or nearly harmed parties,description,title\nObjectId(1),1,2015-05-19,\"[2,3]\",\"[\"\"youtube\"\"]\",\"[\"\"youtube\"\"]\",\"[\"\"children\"\"]\",Desc,Title\n";
        let r = parse_aiid(snapshot).unwrap();
        assert_eq!(r[0].manufacturer.as_deref(), Some("youtube"));
        assert_eq!(r[0].narrative, "Desc");
    }

    #[test]
    fn aiid_errors_name_line_and_field() {
        let row = "5,2015-07-13,T,D,[],[],[],keyword";
        let e = parse_aiid(&format!(
            "{AIID_HEADER}{row}\n6,13/07/2015,T,D,[],[],[],keyword\n"
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3, field 'date': '13/07/2015' is not a date (YYYYMMDD, YYYY-MM-DD or MM/DD/YYYY)"
        );
        let e = parse_aiid(&format!("{AIID_HEADER}{row}\n{row}\n")).unwrap_err();
        assert!(matches!(
            e,
            PublicReportError::DuplicateId {
                what: "incident",
                ..
            }
        ));
        let e = parse_aiid(&format!(
            "{AIID_HEADER}6,2015-07-13,T,D,hospitals,[],[],keyword\n"
        ))
        .unwrap_err();
        assert!(
            matches!(
                e,
                PublicReportError::BadValue {
                    field: "Alleged deployer of AI system",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = parse_aiid(&format!("{AIID_HEADER}6,2015-07-13,,,[],[],[],keyword\n")).unwrap_err();
        assert!(matches!(
            e,
            PublicReportError::MissingValue {
                field: "description",
                ..
            }
        ));
        let e = parse_aiid("id,date,title,description\n1,2015-07-13,T,D\n").unwrap_err();
        assert!(matches!(
            e,
            PublicReportError::MissingColumn {
                column: "incident_id",
                ..
            }
        ));
    }

    #[test]
    fn reads_the_published_aiid_files() {
        if let Some(text) = data("aiid_health_related_incidents_2026-02.csv") {
            let r = parse_aiid(&text).unwrap();
            assert_eq!(r.len(), 87);
            assert!(r.iter().any(|x| x.external_id == "827"));
            assert!(r
                .iter()
                .all(|x| x.occurred_on.is_some() && !x.narrative.is_empty()));
        }
        if let Some(text) = data("aiid_incidents_snapshot_2026-02.csv") {
            let r = parse_aiid(&text).unwrap();
            assert_eq!(r.len(), 1367);
            assert!(r.iter().any(|x| x.external_id == "1378"));
            assert_eq!(
                r.iter().filter_map(|x| x.occurred_on).max(),
                Some(date!(2026 - 02 - 17))
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(input in "\\PC{0,200}", pipes in "[0-9|A-Za-z\\r\\n\\.; ]{0,120}") {
            let _ = parse_maude_extract(&format!("{MAUDE_HEADER}{input}"));
            let _ = parse_aiid(&format!("{AIID_HEADER}{input}"));
            let _ = parse_openfda(&input);
            let _ = parse_maude_raw(&format!("mdr_report_key|brand_name|manufacturer_d_name|device_sequence_number\n{pipes}"), &pipes, Some(&pipes));
        }
    }
}
