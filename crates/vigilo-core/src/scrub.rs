//! De-identification of free text at intake (issue 7, item 2): names, phone numbers,
//! citizen ids (CCCD), old identity cards (CMND), health insurance cards (BHYT), email
//! addresses, street addresses, dates of birth and other identifiers (record numbers,
//! passports) in incident narratives are replaced by typed placeholders such as `[NAME]`
//! before anything is stored. Vietnamese (with or without diacritics) and English.
//!
//! Pure pattern matching, no model: every detector is a regular expression or a rule over
//! words, run on the text and on its folded form (`text::fold_char`, lower case without
//! diacritics) so that cues match with or without accents. Detectors propose candidates
//! with a priority; the strongest win and overlapping weaker ones are dropped, so a
//! 12-digit CCCD never becomes a phone and a street named after a person ("đường Lê Lợi")
//! is an address, not a name. Clinical numbers, event dates, ages, place and facility
//! names, product names and versions are left alone. What it does not catch is listed in
//! `docs/deidentification.md`, with the measured precision and recall.

use crate::directory::{vocabulary, UnknownCode};
use crate::text::fold_char;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

vocabulary!(
    /// What kind of identifier a finding is; each kind has its placeholder.
    IdentifierKind, "identifier kind", {
        Name => ("name", "Họ tên", "Name"),
        Phone => ("phone", "Số điện thoại", "Phone number"),
        NationalId => ("national_id", "Số căn cước công dân (CCCD)", "Citizen ID number (CCCD)"),
        OldId => ("old_id", "Số chứng minh nhân dân (CMND)", "Old identity card number (CMND)"),
        Insurance => ("insurance", "Số thẻ bảo hiểm y tế", "Health insurance card number"),
        Email => ("email", "Thư điện tử", "Email address"),
        Address => ("address", "Địa chỉ", "Street address"),
        DateOfBirth => ("date_of_birth", "Ngày sinh", "Date of birth"),
        OtherId => ("other_id", "Mã định danh khác", "Other identifier"),
    }
);

impl IdentifierKind {
    /// The token that replaces an identifier of this kind in scrubbed text.
    pub fn placeholder(self) -> &'static str {
        match self {
            IdentifierKind::Name => "[NAME]",
            IdentifierKind::Phone => "[PHONE]",
            IdentifierKind::NationalId => "[CCCD]",
            IdentifierKind::OldId => "[OLD_ID]",
            IdentifierKind::Insurance => "[INSURANCE]",
            IdentifierKind::Email => "[EMAIL]",
            IdentifierKind::Address => "[ADDRESS]",
            IdentifierKind::DateOfBirth => "[DOB]",
            IdentifierKind::OtherId => "[ID]",
        }
    }
}

/// One identifier found in a text: its kind and its byte range in that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: IdentifierKind,
    pub start: usize,
    pub end: usize,
}

/// A scrubbed text and what was replaced (offsets into the original text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scrubbed {
    pub text: String,
    pub findings: Vec<Finding>,
}

/// Identifiers in `text`: non-overlapping, sorted by position, byte offsets on char
/// boundaries. Never panics.
///
/// The detectors run again on the scrubbed text until they find nothing more (at most a
/// few rounds): a placeholder can change a word boundary ("Lan12/3" becomes "[NAME]12/3"),
/// and what the later rounds find is mapped back to the input, so that scrubbing is
/// idempotent.
pub fn find_identifiers(text: &str) -> Vec<Finding> {
    let mut findings = find_once(text);
    for _ in 0..4 {
        let (out, segments) = render(text, &findings);
        let again = find_once(&out);
        if again.is_empty() {
            break;
        }
        for g in again {
            let start = map_back(&segments, g.start, true);
            let end = map_back(&segments, g.end, false);
            merge(
                &mut findings,
                Finding {
                    kind: g.kind,
                    start,
                    end,
                },
            );
        }
    }
    findings
}

/// One output segment: `out` range, `input` range, and whether it is a placeholder.
type Segment = (usize, usize, usize, usize, bool);

fn render(text: &str, findings: &[Finding]) -> (String, Vec<Segment>) {
    let mut out = String::with_capacity(text.len());
    let mut segments = Vec::with_capacity(findings.len() * 2 + 1);
    let mut at = 0;
    for f in findings {
        let gap = text.get(at..f.start).unwrap_or_default();
        segments.push((out.len(), out.len() + gap.len(), at, f.start, false));
        out.push_str(gap);
        let p = f.kind.placeholder();
        segments.push((out.len(), out.len() + p.len(), f.start, f.end, true));
        out.push_str(p);
        at = f.end;
    }
    let rest = text.get(at..).unwrap_or_default();
    segments.push((out.len(), out.len() + rest.len(), at, text.len(), false));
    out.push_str(rest);
    (out, segments)
}

/// An offset in rendered text to one in the input; inside a placeholder, its whole span.
fn map_back(segments: &[Segment], p: usize, is_start: bool) -> usize {
    for &(os, oe, is, ie, placeholder) in segments {
        let inside = if is_start {
            os <= p && p < oe
        } else {
            os < p && p <= oe
        };
        if inside {
            return if placeholder {
                if is_start {
                    is
                } else {
                    ie
                }
            } else {
                is + (p - os)
            };
        }
    }
    segments.last().map(|s| s.3).unwrap_or_default()
}

/// Adds a finding, merging it with those it overlaps (the earlier kind wins).
fn merge(findings: &mut Vec<Finding>, new: Finding) {
    let mut merged = new;
    let mut kind = None;
    findings.retain(|f| {
        if f.end <= new.start || new.end <= f.start {
            return true;
        }
        kind.get_or_insert(f.kind);
        merged.start = merged.start.min(f.start);
        merged.end = merged.end.max(f.end);
        false
    });
    if let Some(k) = kind {
        merged.kind = k;
    }
    if merged.start < merged.end {
        findings.push(merged);
    }
    findings.sort_by_key(|f| f.start);
}

fn find_once(text: &str) -> Vec<Finding> {
    let folded = Folded::new(text);
    let mut cands = Vec::new();
    emails(text, &mut cands);
    insurance(text, &mut cands);
    dates_of_birth(&folded, &mut cands);
    cued_ids(text, &folded, &mut cands);
    keep(&folded, &mut cands);
    numbers(&folded, &mut cands);
    let mut weak = Vec::new();
    addresses(text, &folded, &mut cands, &mut weak);
    id_shapes(text, &mut cands);
    names(text, &mut cands);
    birth_years_after_names(text, &mut cands);
    let mut findings = resolve(cands);
    // Addresses that only identify together with a person (see `residences`).
    if findings.iter().any(|f| f.kind == IdentifierKind::Name) {
        for w in weak {
            if findings
                .iter()
                .all(|f| w.end <= f.start || f.end <= w.start)
            {
                if let Some(kind) = w.kind {
                    findings.push(Finding {
                        kind,
                        start: w.start,
                        end: w.end,
                    });
                }
            }
        }
        findings.sort_by_key(|f| f.start);
    }
    cover_long_digit_runs(text, &mut findings);
    findings
}

/// Replaces every identifier by its kind's placeholder.
pub fn scrub(text: &str) -> Scrubbed {
    let findings = find_identifiers(text);
    let (text, _) = render(text, &findings);
    Scrubbed { text, findings }
}

// ---------------------------------------------------------------------------------------
// Candidates and their resolution.

/// A proposed span. `kind: None` protects a span (an event date, an amount of money)
/// from weaker detectors without being reported.
#[derive(Debug, Clone, Copy)]
struct Cand {
    start: usize,
    end: usize,
    kind: Option<IdentifierKind>,
    prio: u8,
}

const P_EMAIL: u8 = 0;
const P_INSURANCE: u8 = 1;
const P_DOB: u8 = 2;
const P_CUED_ID: u8 = 3;
const P_KEEP: u8 = 4;
const P_NUMBER: u8 = 5;
const P_ADDRESS: u8 = 6;
const P_ID_SHAPE: u8 = 7;
const P_NAME: u8 = 8;

fn push(out: &mut Vec<Cand>, start: usize, end: usize, kind: Option<IdentifierKind>, prio: u8) {
    if start < end {
        out.push(Cand {
            start,
            end,
            kind,
            prio,
        });
    }
}

/// Strongest first, then longest; a candidate overlapping an accepted one is dropped.
fn resolve(mut cands: Vec<Cand>) -> Vec<Finding> {
    cands.sort_by(|a, b| {
        (a.prio, a.start, std::cmp::Reverse(a.end - a.start)).cmp(&(
            b.prio,
            b.start,
            std::cmp::Reverse(b.end - b.start),
        ))
    });
    let mut taken: Vec<Cand> = Vec::new();
    for c in cands {
        if taken.iter().all(|t| c.end <= t.start || t.end <= c.start) {
            taken.push(c);
        }
    }
    let mut findings: Vec<Finding> = taken
        .into_iter()
        .filter_map(|c| {
            c.kind.map(|kind| Finding {
                kind,
                start: c.start,
                end: c.end,
            })
        })
        .collect();
    findings.sort_by_key(|f| f.start);
    findings
}

/// Safety net: a run of nine or more ASCII digits is an identifier whatever its context
/// (no clinical value has that many digits). A run not fully inside a finding becomes one,
/// merged with any finding it overlaps.
fn cover_long_digit_runs(text: &str, findings: &mut Vec<Finding>) {
    static RUN: LazyLock<Regex> = LazyLock::new(|| re(r"[0-9]{9,}"));
    for m in RUN.find_iter(text) {
        let (s, e) = (m.start(), m.end());
        if findings.iter().any(|f| f.start <= s && e <= f.end) {
            continue;
        }
        let mut start = s;
        let mut end = e;
        let mut kind = IdentifierKind::OtherId;
        let mut first = true;
        findings.retain(|f| {
            if f.end <= s || e <= f.start {
                return true;
            }
            if first {
                kind = f.kind;
                first = false;
            }
            start = start.min(f.start);
            end = end.max(f.end);
            false
        });
        findings.push(Finding { kind, start, end });
        findings.sort_by_key(|f| f.start);
    }
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant pattern compiles")
}

// ---------------------------------------------------------------------------------------
// Folded text: lower case, diacritics removed, `đ` to `d`, combining marks dropped, with
// a map back to byte offsets in the original.

struct Folded {
    text: String,
    /// `orig[b]` is the original offset of the char folded byte `b` belongs to; one extra
    /// entry for the end.
    orig: Vec<usize>,
}

fn is_combining_mark(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

fn fold_one(c: char) -> Option<char> {
    if is_combining_mark(c) {
        return None;
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => Some(fold_char(l)),
        _ => Some(c),
    }
}

impl Folded {
    fn new(input: &str) -> Folded {
        let mut text = String::with_capacity(input.len());
        let mut orig = Vec::with_capacity(input.len() + 1);
        for (i, c) in input.char_indices() {
            if let Some(f) = fold_one(c) {
                text.push(f);
                orig.extend(std::iter::repeat_n(i, f.len_utf8()));
            }
        }
        orig.push(input.len());
        Folded { text, orig }
    }

    fn start(&self, b: usize) -> usize {
        self.orig.get(b).copied().unwrap_or_default()
    }

    fn end(&self, b: usize) -> usize {
        self.orig
            .get(b)
            .or_else(|| self.orig.last())
            .copied()
            .unwrap_or_default()
    }

    /// Up to `n` bytes of folded text before folded offset `b`, on a char boundary.
    fn before(&self, b: usize, n: usize) -> &str {
        let mut from = b.saturating_sub(n);
        while from < b && !self.text.is_char_boundary(from) {
            from += 1;
        }
        self.text.get(from..b).unwrap_or_default()
    }
}

/// Folded form of a word (for list look-ups).
fn fold_word(s: &str) -> String {
    s.chars().filter_map(fold_one).collect()
}

// ---------------------------------------------------------------------------------------
// Detectors on shapes: email, insurance card, dates of birth, cued identifiers.

fn emails(text: &str, out: &mut Vec<Cand>) {
    static EMAIL: LazyLock<Regex> =
        LazyLock::new(|| re(r"(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}"));
    for m in EMAIL.find_iter(text) {
        push(
            out,
            m.start(),
            m.end(),
            Some(IdentifierKind::Email),
            P_EMAIL,
        );
    }
}

/// BHYT card: object code (2 letters), benefit level (1 digit), province (2 digits),
/// then 10 digits; printed with or without spaces.
fn insurance(text: &str, out: &mut Vec<Cand>) {
    static BHYT: LazyLock<Regex> = LazyLock::new(|| {
        re(r"\b(?:[A-Z]{2}|[a-z]{2})[ .]?[1-5][ .]?[0-9]{2}[ .]?(?:[0-9][ .]?){9}[0-9]\b")
    });
    for m in BHYT.find_iter(text) {
        push(
            out,
            m.start(),
            m.end(),
            Some(IdentifierKind::Insurance),
            P_INSURANCE,
        );
    }
}

const MONTHS: &str = "january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec";

/// A date after a birth cue ("sinh ngày", "năm sinh", "SN", "DOB", "born"): only the date
/// is replaced, the cue stays. Dates without such a cue are event dates and stay. After a
/// cue a two-digit year counts too ("DOB 12/03/85", "born 3/4/61", "17-Feb-58"), and after
/// "sinh năm" / "năm sinh" a bare two-digit year ("sinh năm 83"). "Ngày sinh của cháu:"
/// and "date of birth of the patient" put a few words between the cue and the date.
fn dates_of_birth(folded: &Folded, out: &mut Vec<Cand>) {
    static DOB: LazyLock<Regex> = LazyLock::new(|| {
        let year = "(?:19|20)[0-9]{2}";
        let yy = "(?:(?:19|20)[0-9]{2}|[0-9]{2})";
        let date = format!(
            "(?:[0-9]{{1,2}}[/.\\-][0-9]{{1,2}}[/.\\-]{yy}\
             |{year}[/.\\-][0-9]{{1,2}}[/.\\-][0-9]{{1,2}}\
             |[0-9]{{1,2}}(?:st|nd|rd|th)?(?:\\s+|\\s*[\\-/.]\\s*)(?:of\\s+)?(?:{MONTHS})\\.?(?:,?\\s+|\\s*[\\-/.]\\s*){yy}\
             |(?:{MONTHS})\\.?\\s+[0-9]{{1,2}}(?:st|nd|rd|th)?,?\\s+{yy}\
             |ngay\\s+[0-9]{{1,2}}\\s+thang\\s+[0-9]{{1,2}}\\s+nam\\s+{year}\
             |[0-9]{{1,2}}\\s+thang\\s+[0-9]{{1,2}}\\s*,?\\s+(?:nam\\s+)?{year}\
             |(?:thang\\s+)?[0-9]{{1,2}}[/.\\-]{year}\
             |{year})"
        );
        re(&format!(
            "\\b(?:ngay thang nam sinh|ngay sinh|nam sinh|sinh ngay|sinh nam|sinh|sn|ns|dob|d\\.o\\.b\\.?\
             |date of birth|birth date|birthdate|born(?:\\s+on|\\s+in)?)\
             (?:\\s+(?:cua|of)(?:\\s+[a-z]+){{1,3}})?[\\s:,(\\-]{{0,4}}({date})\\b"
        ))
    });
    static TWO_DIGIT_YEAR: LazyLock<Regex> =
        LazyLock::new(|| re(r"\b(?:sinh nam|nam sinh)\s*:?\s*([0-9]{2})\b"));
    for c in DOB
        .captures_iter(&folded.text)
        .chain(TWO_DIGIT_YEAR.captures_iter(&folded.text))
    {
        if let Some(m) = c.get(1) {
            push(
                out,
                folded.start(m.start()),
                folded.end(m.end()),
                Some(IdentifierKind::DateOfBirth),
                P_DOB,
            );
        }
    }
}

/// "BN Quàng Thị Xuân (1988)": a year in brackets right after a name is its birth year.
fn birth_years_after_names(text: &str, out: &mut Vec<Cand>) {
    static YEAR: LazyLock<Regex> = LazyLock::new(|| re(r"^\s?\(((?:19|20)[0-9]{2})\)"));
    let found: Vec<(usize, usize)> = out
        .iter()
        .filter(|c| c.kind == Some(IdentifierKind::Name))
        .filter_map(|c| {
            let m = YEAR.captures(text.get(c.end..)?)?.get(1)?;
            Some((c.end + m.start(), c.end + m.end()))
        })
        .collect();
    for (s, e) in found {
        push(out, s, e, Some(IdentifierKind::DateOfBirth), P_DOB);
    }
}

/// Record numbers, passports and plates after their cue ("mã BN", "MRN", "số hồ sơ",
/// "mã tiếp nhận", "PID", "visit number", "patient identifier", "hộ chiếu", "biển số"):
/// any token with a digit. After a bare "mã" or "hồ sơ" (a code, a file) the token needs
/// five digits or more ("vòng tay mã BN24-88213", "Hồ sơ 24.034.117"), so that "mã lỗi E2"
/// or "hồ sơ 510(k)" stay.
fn cued_ids(text: &str, folded: &Folded, out: &mut Vec<Cand>) {
    static CUED: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"\b(?:ma\s+(?:so\s+)?(?:bn|benh nhan|nguoi benh|ho so(?:\s+benh\s+an)?|benh an|luu tru|y te|kham benh|tiep nhan|vao vien|nhap vien|dot dieu tri|luot kham|dieu tri)|so\s+(?:ho so(?:\s+benh\s+an)?|benh an|vao vien|nhap vien|luu tru(?:\s+ho so)?|tiep nhan)|mrn|pid|(?:patient|visit|encounter|admission|episode|specimen|sample|accession)\s+(?:id|identifier|number|no\.?)|hospital\s+(?:number|no\.?|id)|case\s+(?:id|number|no\.?)|(?:medical\s+)?record\s+(?:number|no\.?)|nhs\s+(?:number|no\.?)|passport(?:\s+(?:number|no\.?))?|ho\s+chieu|bien\s+so(?:\s+xe)?|licen[cs]e\s+plate)[\s:#=]*(?:(?:so|la|is|no\.?|number)[\s:#=]+)?((?:[a-z]{1,5}-)?[a-z0-9]*[0-9][a-z0-9]*(?:[\-./][a-z0-9]+)*(?:\s[0-9]{3,4}\b)*)",
        )
    });
    // "mã" or "hồ sơ" alone, then a code with at least five digits.
    static BARE: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"\b(?:ma|ho so)(?:\s+so)?[\s:#=]+((?:[a-z]{1,5}-)?[a-z0-9]*[0-9][a-z0-9]*(?:[\-./][a-z0-9]+)*)",
        )
    });
    for c in CUED.captures_iter(&folded.text) {
        if let Some(m) = c.get(1) {
            push(
                out,
                folded.start(m.start()),
                folded.end(m.end()),
                Some(IdentifierKind::OtherId),
                P_CUED_ID,
            );
        }
    }
    for c in BARE.captures_iter(&folded.text) {
        let (Some(all), Some(m)) = (c.get(0), c.get(1)) else {
            continue;
        };
        let digits = m.as_str().chars().filter(char::is_ascii_digit).count();
        // "mã" with its tilde, or "ma" in text typed without diacritics; not "mà", "má".
        let cue: String = text
            .get(folded.start(all.start())..)
            .unwrap_or_default()
            .chars()
            .take(3)
            .flat_map(char::to_lowercase)
            .collect();
        let cue_ok = !cue.starts_with('m') || cue.starts_with("mã") || cue.starts_with("ma ");
        if digits >= 5 && cue_ok {
            push(
                out,
                folded.start(m.start()),
                folded.end(m.end()),
                Some(IdentifierKind::OtherId),
                P_CUED_ID,
            );
        }
    }
}

/// Spans that look like numbers but are not identifiers: event dates, times, money.
fn keep(folded: &Folded, out: &mut Vec<Cand>) {
    static KEEP: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"\b(?:[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-](?:19|20)[0-9]{2}|(?:19|20)[0-9]{2}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}:[0-9]{2}|[0-9]{1,3}(?:[.,][0-9]{3})+\s*(?:dong|vnd|usd|d)|(?:usd|\$)\s?[0-9]{1,3}(?:[.,][0-9]{3})+)\b",
        )
    });
    for m in KEEP.find_iter(&folded.text) {
        push(
            out,
            folded.start(m.start()),
            folded.end(m.end()),
            None,
            P_KEEP,
        );
    }
}

// ---------------------------------------------------------------------------------------
// Numbers: phones, CCCD, CMND, by digit count, prefix and cue.

fn numbers(folded: &Folded, out: &mut Vec<Cand>) {
    static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(?:\(\+?[0-9]{1,4}\)|\+\s?[0-9]|[0-9])(?:[ .\-]?(?:\([0-9]{1,4}\)|[0-9]))*")
    });
    static PHONE_CUE: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"\b(?:sdt|dt|dtdd|dien thoai(?:\s+ban|\s+di dong|\s+lien he)?|so may|phone(?:\s+number)?|tel|telephone|mobile|cell|hotline|duong day nong|goi(?:\s+lai|\s+cho|\s+toi)?|call(?:ed)?|zalo|landline|fax)(?:[\s:#.=(\-]|\b(?:so|la|is|on|at|no|number)\b)*$",
        )
    });
    // North American layout, "(617) 555-0143", "415-555-2671": a phone whatever the cue.
    static NANP: LazyLock<Regex> =
        LazyLock::new(|| re(r"^(?:\([0-9]{3}\)[ .\-]?|[0-9]{3}[.\-])[0-9]{3}[ .\-][0-9]{4}$"));
    let text = &folded.text;
    for m in NUMBER.find_iter(text) {
        let (s, e) = (m.start(), m.end());
        // Not inside a word ("SpO2 92", "DN479...").
        if text
            .get(..s)
            .and_then(|p| p.chars().next_back())
            .is_some_and(char::is_alphanumeric)
        {
            continue;
        }
        let raw = m.as_str();
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let plus = raw.contains('+');
        let phone_cue = PHONE_CUE.is_match(folded.before(s, 40)) || NANP.is_match(raw);
        if let Some(kind) = classify_number(&digits, plus, phone_cue) {
            push(out, folded.start(s), folded.end(e), Some(kind), P_NUMBER);
        }
    }
}

fn classify_number(d: &str, plus: bool, phone_cue: bool) -> Option<IdentifierKind> {
    use IdentifierKind::*;
    let n = d.len();
    if plus {
        return (7..=15).contains(&n).then_some(Phone);
    }
    if phone_cue && (8..=12).contains(&n) {
        return Some(Phone);
    }
    match n {
        9 => Some(OldId),
        10 if d.starts_with('0') || d.starts_with("1900") || d.starts_with("1800") => Some(Phone),
        11 if d.starts_with('0') || d.starts_with("84") => Some(Phone),
        12 => {
            let province = d.get(..3).and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
            if (1..=96).contains(&province) {
                Some(NationalId)
            } else if d.starts_with("84") {
                Some(Phone)
            } else {
                Some(OtherId)
            }
        }
        10.. => Some(OtherId),
        _ => None,
    }
}

/// Passport-like codes: one to three capitals then 6 to 14 digits ("B1234567").
fn id_shapes(text: &str, out: &mut Vec<Cand>) {
    static SHAPE: LazyLock<Regex> = LazyLock::new(|| re(r"\b[A-Z]{1,3}[0-9]{6,14}\b"));
    // FDA submission numbers (510(k) K123456, De Novo DEN123456, PMA P123456) name a
    // device, not a person; a passport has seven digits or more after its letter.
    static FDA_SUBMISSION: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:K|BK|DEN|P)[0-9]{6}$"));
    for m in SHAPE.find_iter(text) {
        if FDA_SUBMISSION.is_match(m.as_str()) {
            continue;
        }
        push(
            out,
            m.start(),
            m.end(),
            Some(IdentifierKind::OtherId),
            P_ID_SHAPE,
        );
    }
}

// ---------------------------------------------------------------------------------------
// Street addresses.

fn addresses(text: &str, folded: &Folded, out: &mut Vec<Cand>, weak: &mut Vec<Cand>) {
    // "số 12 đường", "12/3", "ngõ 5 phố", "số 45 ngách 12 ngõ 80", "hẻm 34", "15A đường".
    static VN: LazyLock<Regex> = LazyLock::new(|| {
        // "K112/56" is Đà Nẵng's short form of "kiệt 112, số 56"; it needs the slash, so
        // that an FDA number ("K190424") is not a lane.
        let lane = r"(?:(?:ngach|ngo|hem|kiet)\s+[0-9]+[a-z]?(?:/[0-9]+[a-z]?)*|k[0-9]+(?:/[0-9]+[a-z]?)+)";
        re(&format!(
            r"\b(?:(?P<so>(?:so nha|nha so|so)\s+)?(?P<num>[0-9]+[a-z]?(?:/[0-9]+[a-z]?)*)(?P<lanes>(?:\s*,?\s*{lane})*)|(?P<lane>{lane}(?:\s*,?\s*{lane})*))(?P<street>\s*,?\s*(?:duong|pho)\b)?\s+"
        ))
    });
    // The street's name: capitalised words or numbers ("Lê Lợi", "Cách Mạng Tháng 8", "3 tháng 2").
    static STREET_NAME: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"^(?:\p{Lu}[\p{L}\p{M}'’]*|[0-9]+[A-Za-z]?|(?:[Ss]ố|[Ss]o) [0-9]+[A-Za-z]?\b)(?:[ ]+(?:\p{Lu}[\p{L}\p{M}'’]*|[0-9]+[A-Za-z]?|tháng|thang))*",
        )
    });
    static CLINICAL_BEFORE: LazyLock<Regex> =
        LazyLock::new(|| re(r"\b(?:ha|bp|huyet ap|blood pressure|nhip|hr|rr)\s*[:=]?\s*$"));
    // English: "221B Baker Street", "Flat 2B, 7 Marlowe Road", "Unit 5/22 George St",
    // "350 Fifth Avenue, Apt 12B", "Flat 9, Rosewood Court" (a flat needs no house number).
    static EN: LazyLock<Regex> = LazyLock::new(|| {
        let unit =
            r"(?:Flat|Apt|Apartment|Unit|Suite|Room)\.?\s+[0-9A-Z][A-Za-z0-9\-]*(?:/[0-9]{1,5})?";
        let number = r"[0-9]{1,5}(?:/[0-9]{1,5})?[A-Za-z]?,?\s+";
        re(&format!(
            r"\b(?:{unit},?\s+(?:{number})?|{number})(?:\p{{Lu}}[\p{{L}}\p{{M}}'’]*\s+){{1,4}}(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Boulevard|Blvd|Way|Court|Ct|Place|Terrace|Close|Crescent|Highway|Hwy|Square|Parkway|Gardens|Grove|Mews|Row|Walk|Circle)\b\.?(?:,?\s+(?:{unit}|#\s?[0-9][A-Za-z0-9\-]*))?"
        ))
    });
    // After an English residence cue, a house number and capitalised words ("lives at 88
    // Kingsway", "lives in Apt 1203, 45 Olympic-ro").
    static EN_CUED: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i:\b(?:(?:lives?|living|resides?|residing)\s+(?:at|in)|(?:home\s+)?address(?:\s+on\s+file)?\s*:?))\s+((?:(?:Flat|Apt|Apartment|Unit|Suite|Room)\.?\s+[0-9A-Z][A-Za-z0-9\-]*,?\s+)?[0-9]{1,5}(?:/[0-9]{1,5})?[A-Za-z]?,?(?:\s+\p{Lu}[\p{L}\p{M}'’]*(?:-[\p{L}\p{M}]+)*){1,4})",
        )
    });
    static PO_BOX: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(?i)\b(?:P\.?\s?O\.?\s?Box|Post\s+Office\s+Box)\s*#?\s*[0-9]{1,7}\b")
    });
    for c in VN.captures_iter(&folded.text) {
        let Some(all) = c.get(0) else { continue };
        let street = c.name("street").is_some();
        let lanes = c.name("lane").is_some() || c.name("lanes").is_some_and(|m| !m.is_empty());
        let slash = c.name("num").is_some_and(|m| m.as_str().contains('/'));
        if !(street || lanes || slash) {
            continue;
        }
        if slash && !street && !lanes && CLINICAL_BEFORE.is_match(folded.before(all.start(), 30)) {
            continue;
        }
        let start = folded.start(all.start());
        let name_at = folded.end(all.end());
        let Some(rest) = text.get(name_at..) else {
            continue;
        };
        let Some(name) = STREET_NAME.find(rest) else {
            continue;
        };
        let name_end = street_name_end(rest, name.end());
        if name_end == 0 {
            continue;
        }
        push(
            out,
            start,
            name_at + name_end,
            Some(IdentifierKind::Address),
            P_ADDRESS,
        );
    }
    for c in EN_CUED.captures_iter(text) {
        if let Some(m) = c.get(1) {
            push(
                out,
                m.start(),
                m.end(),
                Some(IdentifierKind::Address),
                P_ADDRESS,
            );
        }
    }
    for m in EN.find_iter(text).chain(PO_BOX.find_iter(text)) {
        push(
            out,
            m.start(),
            m.end(),
            Some(IdentifierKind::Address),
            P_ADDRESS,
        );
    }
    residences(text, folded, out, weak);
}

/// Where a person lives below the commune: hamlets, villages and residential groups
/// ("thôn Lũng Cẩm", "ấp 3", "tổ 7, khu phố 4", "xóm Đình", "bản Nà Sài", "Hamlet 3") and
/// apartments ("phòng 1205, tòa A2, chung cư Ecohome 3", "căn hộ 12.05, block B"), after a
/// residence cue ("địa chỉ", "ở", "trú tại", "ngụ", "nhà ở", "sống tại", "lives in",
/// "address") or after a house number ("số nhà 27, tổ 9"). A room alone ("ở phòng 305")
/// is a ward room, not a home: an apartment needs a building (tòa, block, chung cư, nhà).
///
/// Without a cue, a unit listed between commas right before its commune or ward ("BN X,
/// 44 tuổi, tổ 12, phường Sông Hiến") is returned in `weak`: `find_once` keeps it only when
/// the text names a person. Otherwise a village stays ("Tại thôn 3, xã Ea Kao, 12 trẻ ...",
/// "Nhân viên y tế thôn bản"): it is needed for surveillance and only identifies together
/// with a person. The commune, ward, district and province after the unit stay.
fn residences(text: &str, folded: &Folded, out: &mut Vec<Cand>, weak: &mut Vec<Cand>) {
    static CUE: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"\b(?:dia chi(?:\s+(?:thuong tru|tam tru|lien lac|lien he|nha|nha rieng))?|noi o(?:\s+hien nay)?|o|tru(?:\s+tai|\s+o)?|thuong tru(?:\s+tai)?|tam tru(?:\s+tai)?|ngu(?:\s+tai|\s+o)?|nha o|song(?:\s+tai|\s+o)|que(?:\s+quan|\s+o)?|lives?\s+(?:at|in)|living\s+(?:at|in)|resides?\s+(?:at|in)|(?:home\s+)?address(?:\s+on\s+file)?)\s*[:,\-]?\s*",
        )
    });
    static HOUSE: LazyLock<Regex> =
        LazyLock::new(|| re(r"^(?:so nha|nha so|so)\s+[0-9]+[a-z]?(?:/[0-9]+[a-z]?)*\s*,?\s*"));
    static UNIT: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"^(?:(?P<room>can ho|can|phong|p\.)|(?P<building>toa nha|toa|block|chung cu|khu do thi|kdt|nha|lo)|thon|xom|ap|ban|buon|lang|plei|khom|khu pho|kp|to dan pho|to|cum dan cu|hamlet|village)\s*",
        )
    });
    // A number or a code: "3", "12.05", "1508", "T2", "CT1", "18-07", "B2-15".
    static CODE: LazyLock<Regex> =
        LazyLock::new(|| re(r"^[a-z]{0,3}[0-9]+[a-z0-9]*(?:[.\-/][0-9a-z]+)*\b"));
    static WORD: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:[\p{L}\p{M}'’\-]+|[0-9]+[a-z]?\b)"));
    static NEXT: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*,?\s*"));
    // What follows an uncued unit: its commune or ward ("xã Tả Van", "Tan Phu commune").
    static ADMIN_NEXT: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"^\s*,\s*(?:xa|phuong|thi tran|thi xa|huyen|quan|tp|thanh pho|(?:[a-z]+\s+){1,3}(?:commune|ward|district))\b",
        )
    });
    let t = &folded.text;
    let upper_at = |b: usize| {
        text.get(folded.start(b)..)
            .and_then(|r| r.chars().next())
            .is_some_and(char::is_uppercase)
    };
    // The value of a unit at folded offset `b`: a number, a code or capitalised words.
    let value_end = |b: usize| -> Option<usize> {
        let rest = t.get(b..)?;
        if let Some(m) = CODE.find(rest) {
            return Some(b + m.end());
        }
        let mut at = b;
        let mut end = None;
        for n in 0..4 {
            let r = t.get(at..)?;
            let Some(m) = WORD.find(r) else { break };
            let w = m.as_str();
            let next = t
                .get(at + m.end()..)
                .and_then(|x| x.strip_prefix(' '))
                .and_then(|x| WORD.find(x))
                .map(|x| x.as_str())
                .unwrap_or_default();
            let admin = matches!(
                w,
                "xa" | "phuong"
                    | "huyen"
                    | "quan"
                    | "tinh"
                    | "tp"
                    | "commune"
                    | "ward"
                    | "district"
                    | "province"
            ) || (w == "thi" && matches!(next, "xa" | "tran"))
                || (w == "thanh" && next == "pho");
            let number = w.starts_with(|c: char| c.is_ascii_digit());
            if admin || !(upper_at(at) || (n > 0 && (w.len() == 1 || number))) {
                break;
            }
            end = Some(at + m.end());
            if number {
                break;
            }
            match t.get(at + m.end()..).and_then(|x| x.strip_prefix(' ')) {
                Some(_) => at += m.end() + 1,
                None => break,
            }
        }
        end
    };
    // A chain of units from folded offset `at`: (start, end) when it holds a home.
    let chain = |mut at: usize, mut start: Option<usize>| -> Option<(usize, usize)> {
        let mut end = None;
        let mut rooms = 0;
        let mut homes = 0;
        while let Some(caps) = t.get(at..).and_then(|r| UNIT.captures(r)) {
            let Some(u) = caps.get(0) else { break };
            let room = caps.name("room").is_some();
            let building = caps.name("building").is_some();
            // A unit word needs a space or a dot before its value ("p.1204", "tổ 7").
            if u.end() == 0 || !(u.as_str().ends_with(' ') || u.as_str().ends_with('.')) {
                break;
            }
            let Some(e) = value_end(at + u.end()) else {
                break;
            };
            // "phòng", "căn" and "nhà" take a number or code, not a word ("phòng khám").
            if (room || building)
                && !t.get(at + u.end()..e).is_some_and(|v| {
                    v.chars().any(|c| c.is_ascii_digit())
                        || v.chars().count() <= 2
                        || upper_at(at + u.end())
                })
            {
                break;
            }
            if room {
                rooms += 1;
            } else {
                homes += 1;
            }
            start.get_or_insert(at);
            end = Some(e);
            match t.get(e..).and_then(|r| NEXT.find(r)) {
                Some(n) if n.end() > 0 => at = e + n.end(),
                _ => break,
            }
        }
        if rooms > 0 && homes == 0 {
            return None;
        }
        Some((start?, end?))
    };
    // "ở" folds to "o" like "ô" does ("ô tô 4 chỗ" is a car, not "tổ 4").
    let real_cue = |m: &regex::Match| {
        m.as_str().split_whitespace().next() != Some("o")
            || text
                .get(folded.start(m.start())..)
                .and_then(|r| r.chars().next())
                .is_some_and(|c| matches!(c, 'ở' | 'Ở' | 'o' | 'O'))
    };
    let mut starts: Vec<(usize, bool)> = CUE
        .find_iter(t)
        .filter(|m| real_cue(m))
        .map(|m| (m.end(), true))
        .collect();
    starts.extend(
        t.match_indices("so nha")
            .chain(t.match_indices("nha so"))
            .map(|(b, _)| (b, false)),
    );
    for (from, cued) in starts {
        let mut at = from;
        let mut start = None;
        if let Some(h) = t.get(at..).and_then(|r| HOUSE.find(r)) {
            start = Some(at);
            at += h.end();
        } else if !cued {
            continue;
        }
        if let Some((s, e)) = chain(at, start) {
            push(
                out,
                folded.start(s),
                folded.end(e),
                Some(IdentifierKind::Address),
                P_ADDRESS,
            );
        }
    }
    // Uncued: ", thôn Nà Pàn, xã Hùng Việt".
    for (b, _) in t.match_indices(", ").chain(t.match_indices("), ")) {
        let at = b + if t[b..].starts_with(')') { 3 } else { 2 };
        let Some((s, e)) = chain(at, None) else {
            continue;
        };
        if t.get(e..).is_some_and(|r| ADMIN_NEXT.is_match(r)) {
            push(
                weak,
                folded.start(s),
                folded.end(e),
                Some(IdentifierKind::Address),
                P_ADDRESS,
            );
        }
    }
}

/// Cuts a street name before an administrative word ("... Lê Lợi Phường 3") and after six words.
/// "Thị" and "Thành" only count as administrative before "xã", "trấn" or "phố" ("thị xã",
/// "thành phố"), since streets are named after people ("Bùi Thị Xuân", "Trần Thành Ngọ").
fn street_name_end(rest: &str, end: usize) -> usize {
    let name = rest.get(..end).unwrap_or_default();
    let mut last = 0;
    let parts: Vec<&str> = name.split(' ').collect();
    for (n, w) in parts.iter().enumerate() {
        if w.is_empty() {
            continue;
        }
        let f = fold_word(w);
        let next = parts.get(n + 1).map(|x| fold_word(x)).unwrap_or_default();
        let admin_prefix = match f.as_str() {
            "thi" => matches!(next.as_str(), "xa" | "tran"),
            "thanh" => next == "pho",
            _ => false,
        };
        if n >= 6
            || admin_prefix
            || matches!(
                f.as_str(),
                "phuong" | "quan" | "huyen" | "xa" | "tinh" | "tp" | "ward" | "district"
            )
        {
            break;
        }
        let offset = w.as_ptr() as usize - name.as_ptr() as usize;
        last = offset + w.len();
    }
    last
}

// ---------------------------------------------------------------------------------------
// Names.

/// The ~100 commonest Vietnamese surnames (with diacritics; folded forms are derived).
/// Left out on purpose, because their folded form is an everyday word in English or
/// Vietnamese: Từ (tu), Vi, Âu (au), Chế; Tô, Lã, Mã, Hàn, Phí, Ông and the rarer surnames
/// below only count with their diacritics (`SURNAMES_NOT_FOLDED`).
const SURNAMES: &[&str] = &[
    "nguyễn", "trần", "lê", "phạm", "hoàng", "huỳnh", "phan", "vũ", "võ", "đặng", "bùi", "đỗ",
    "hồ", "ngô", "dương", "lý", "lí", "đào", "đoàn", "vương", "trịnh", "trương", "lâm", "phùng",
    "mai", "hà", "tạ", "cao", "đinh", "lưu", "quách", "thái", "lương", "kiều", "khổng", "hứa",
    "triệu", "thân", "mạc", "lạc", "giáp", "lò", "tôn", "tăng", "diệp", "đàm", "nông", "lục",
    "bạch", "tiêu", "hầu", "ninh", "quan", "khúc", "kha", "tống", "doãn", "viên", "thạch", "chu",
    "châu", "nghiêm", "thiều", "trình", "cù", "cấn", "lữ", "kim", "chung", "sầm", "lường", "phó",
    "tiết", "biện", "văn", "la", "lã", "mã", "ma", "quang", "giang", "hàn", "tô",
    // Rarer surnames, many of them of ethnic minorities in the northern mountains (Tày,
    // Nùng, Thái, H'Mông, Dao): only with their diacritics or capitalised in a run.
    "bế", "mùa", "sùng", "thào", "giàng", "lầu", "hạng", "vừ", "cầm", "quàng", "điêu", "tòng",
    "khuất", "ưng", "vàng", "phí", "ông",
    // Central Highlands (Jrai, Ba Na, Ê Đê) surnames that come first.
    "ksor", "siu", "rmah", "rahlan", "rcom", "kpă", "puih", "kpuih", "rơ",
];

/// Middle names that mark a Vietnamese full name (folded).
const MIDDLE_MARKERS: &[&str] = &["thi", "van"];

/// Common second syllables of Vietnamese full names (folded), used to accept a lower-case
/// name after a person cue ("bệnh nhân trần văn lộc", "benh nhan nguyen thi hong").
const MIDDLE_NAMES: &[&str] = &[
    "thi", "van", "duc", "huu", "dinh", "cong", "quang", "quoc", "minh", "ngoc", "thanh", "xuan",
    "kim", "thu", "bao", "gia", "hoang", "trong", "tien", "anh", "hong", "my", "phuong", "thuy",
    "hai", "tuan", "manh", "hoai", "khanh", "tan", "tri", "the", "nhu", "bich",
];

/// Lower-case Vietnamese words that end a lower-case name ("bệnh nhân lê văn an có ...").
const STOP_LOWER_VI: &[&str] = &[
    "co", "bi", "duoc", "da", "dang", "se", "khi", "va", "la", "cua", "khong", "sau", "truoc", "o",
    "noi", "cho", "goi", "voi", "vi", "nen", "rang", "bang", "uong", "than", "nhap", "vao", "ra",
    "den", "tu", "sinh", "tuoi", "nu", "so", "dia", "dien", "benh", "nguoi", "me", "bo", "con",
    "phan", "kham", "dieu", "thuoc", "sdt", "cccd", "cmnd", "bhyt",
];

/// Surnames whose folded form is too common a word to count without diacritics.
const SURNAMES_NOT_FOLDED: &[&str] = &[
    "la", "lã", "mã", "ma", "quang", "giang", "hàn", "tô", "văn", "bế", "mùa", "sùng", "thào",
    "giàng", "lầu", "hạng", "vừ", "cầm", "quàng", "điêu", "tòng", "khuất", "ưng", "vàng", "phí",
    "ông", "rơ",
];

/// Surnames that only count with their diacritics ("Văn" is a middle name).
const SURNAMES_NOT_ALONE: &[&str] = &["văn", "la", "ma", "quang", "giang"];

/// Common given names in English-language reports (lower case).
const GIVEN_EN: &[&str] = &[
    "james",
    "john",
    "robert",
    "michael",
    "william",
    "david",
    "richard",
    "joseph",
    "thomas",
    "charles",
    "christopher",
    "daniel",
    "matthew",
    "anthony",
    "donald",
    "steven",
    "paul",
    "andrew",
    "joshua",
    "kenneth",
    "kevin",
    "brian",
    "george",
    "timothy",
    "ronald",
    "edward",
    "jason",
    "jeffrey",
    "ryan",
    "jacob",
    "gary",
    "nicholas",
    "eric",
    "jonathan",
    "stephen",
    "larry",
    "justin",
    "scott",
    "brandon",
    "benjamin",
    "samuel",
    "gregory",
    "alexander",
    "frank",
    "patrick",
    "raymond",
    "jack",
    "dennis",
    "jerry",
    "tyler",
    "aaron",
    "jose",
    "adam",
    "nathan",
    "henry",
    "peter",
    "zachary",
    "douglas",
    "harold",
    "kyle",
    "carl",
    "arthur",
    "gerald",
    "roger",
    "keith",
    "jeremy",
    "lawrence",
    "sean",
    "christian",
    "ethan",
    "austin",
    "joe",
    "albert",
    "jesse",
    "bruce",
    "noah",
    "jordan",
    "dylan",
    "ralph",
    "roy",
    "alan",
    "wayne",
    "eugene",
    "juan",
    "gabriel",
    "louis",
    "russell",
    "vincent",
    "philip",
    "logan",
    "harry",
    "tom",
    "tim",
    "sam",
    "ben",
    "mike",
    "liam",
    "oliver",
    "lucas",
    "mason",
    "elijah",
    "hans",
    "ahmed",
    "mohammed",
    "muhammad",
    "omar",
    "raj",
    "ravi",
    "wei",
    "carlos",
    "luis",
    "miguel",
    "pedro",
    "ivan",
    "mary",
    "patricia",
    "jennifer",
    "linda",
    "elizabeth",
    "barbara",
    "susan",
    "jessica",
    "sarah",
    "karen",
    "lisa",
    "nancy",
    "betty",
    "sandra",
    "margaret",
    "ashley",
    "kimberly",
    "emily",
    "donna",
    "michelle",
    "carol",
    "amanda",
    "melissa",
    "deborah",
    "stephanie",
    "dorothy",
    "rebecca",
    "sharon",
    "laura",
    "cynthia",
    "amy",
    "kathleen",
    "angela",
    "shirley",
    "brenda",
    "emma",
    "anna",
    "pamela",
    "nicole",
    "samantha",
    "katherine",
    "christine",
    "helen",
    "debra",
    "rachel",
    "carolyn",
    "janet",
    "maria",
    "catherine",
    "heather",
    "diane",
    "olivia",
    "julie",
    "joyce",
    "victoria",
    "ruth",
    "virginia",
    "lauren",
    "kelly",
    "christina",
    "joan",
    "evelyn",
    "judith",
    "andrea",
    "hannah",
    "megan",
    "cheryl",
    "jacqueline",
    "martha",
    "teresa",
    "gloria",
    "sara",
    "janice",
    "ann",
    "kathryn",
    "abigail",
    "sophia",
    "frances",
    "jean",
    "alice",
    "judy",
    "isabella",
    "julia",
    "denise",
    "danielle",
    "marilyn",
    "beverly",
    "charlotte",
    "natalie",
    "theresa",
    "diana",
    "doris",
    "alexis",
    "marie",
    "ella",
    "amelia",
    "mia",
    "chloe",
    "priya",
    "fatima",
    "aisha",
    "ellen",
    "anne",
    "jane",
    "sophie",
    "lucy",
    "claire",
    "rosa",
    "ana",
    "mark",
    "grace",
    "kate",
    "rita",
];

/// Common given names from other languages that turn up in English-language reports
/// (lower case, ASCII; compared like `GIVEN_EN`): Arabic and Turkish, South Asian, East
/// Asian, African, European. A compact list, not a census: it only lets a capitalised
/// pair that starts with one of these count as a name without a cue.
const GIVEN_INTL: &[&str] = &[
    // Arabic, Persian, Turkish
    "yusuf",
    "ahmad",
    "ali",
    "hassan",
    "hussein",
    "ibrahim",
    "khalid",
    "mustafa",
    "karim",
    "farid",
    "tariq",
    "hamza",
    "bilal",
    "samir",
    "youssef",
    "mahmoud",
    "abdul",
    "abdullah",
    "abdullahi",
    "reza",
    "mehmet",
    "emre",
    "layla",
    "leila",
    "mariam",
    "maryam",
    "zainab",
    "yasmin",
    "noor",
    "nour",
    "amina",
    "salma",
    "rania",
    "hana",
    "zahra",
    "ayse",
    "elif",
    // South Asian
    "arjun",
    "rahul",
    "vikram",
    "amit",
    "anil",
    "sunil",
    "rajesh",
    "suresh",
    "deepak",
    "sanjay",
    "vijay",
    "aditya",
    "rohan",
    "siddharth",
    "krishna",
    "ganesh",
    "arun",
    "kiran",
    "kavita",
    "sunita",
    "anita",
    "pooja",
    "neha",
    "lakshmi",
    "ananya",
    "divya",
    "meena",
    "nilufar",
    "farhana",
    // East and South-East Asian (given names that are not Vietnamese surnames)
    "hiroshi",
    "takeshi",
    "yuki",
    "haruto",
    "sakura",
    "kenji",
    "jiho",
    "minjun",
    "seojun",
    "xiaoming",
    "jun",
    "jian",
    "mei",
    "ling",
    "somchai",
    "siti",
    "putri",
    "budi",
    // African
    "chinedu",
    "ngozi",
    "amara",
    "kwame",
    "kofi",
    "yaw",
    "efua",
    "oluwaseun",
    "adebayo",
    "emeka",
    "chukwuemeka",
    "nkechi",
    "thandiwe",
    "sipho",
    "themba",
    "zanele",
    "musa",
    "fatou",
    "moussa",
    "mamadou",
    "aminata",
    "olumide",
    "tunde",
    "wanjiru",
    "achieng",
    // European and Latin American
    "klaus",
    "stefan",
    "sven",
    "lars",
    "pierre",
    "francois",
    "giulia",
    "giuseppe",
    "marco",
    "luca",
    "sofia",
    "elena",
    "dmitri",
    "dmitry",
    "olga",
    "natasha",
    "anastasia",
    "lucia",
    "carmen",
    "javier",
    "alejandro",
    "pablo",
    "diego",
    "tomas",
    "joao",
    "ines",
    "ingrid",
    "astrid",
    "katarzyna",
    "piotr",
];

/// Capitalised words that are not names in English text (the first word of a sentence,
/// products, clinical terms, places): a run of capitalised words without a surname or a
/// listed given name counts as a name in English text only when none of its words is here.
const NOT_NAME_EN: &[&str] = &[
    "call",
    "contact",
    "please",
    "dear",
    "hi",
    "hello",
    "signed",
    "reported",
    "report",
    "reports",
    "ask",
    "tell",
    "see",
    "note",
    "notes",
    "thanks",
    "regards",
    "yes",
    "ok",
    "apple",
    "watch",
    "series",
    "google",
    "microsoft",
    "amazon",
    "samsung",
    "galaxy",
    "iphone",
    "android",
    "ios",
    "windows",
    "health",
    "care",
    "model",
    "system",
    "systems",
    "device",
    "devices",
    "app",
    "apps",
    "version",
    "release",
    "update",
    "software",
    "monitor",
    "pump",
    "sensor",
    "smart",
    "pro",
    "plus",
    "max",
    "mini",
    "lite",
    "cloud",
    "scan",
    "vision",
    "assistant",
    "chat",
    "bot",
    "medical",
    "clinical",
    "emergency",
    "intensive",
    "internal",
    "general",
    "public",
    "national",
    "world",
    "united",
    "states",
    "kingdom",
    "nations",
    "new",
    "north",
    "south",
    "east",
    "west",
    "central",
    "upper",
    "lower",
    "saint",
    "san",
    "santa",
    "los",
    "las",
    "mount",
    "lake",
    "river",
    "valley",
    "mountain",
    "view",
    "park",
    "hill",
    "city",
    "town",
    "village",
    "county",
    "state",
    "department",
    "ministry",
    "unit",
    "ward",
    "team",
    "group",
    "form",
    "summary",
    "discharge",
    "admission",
    "patient",
    "patients",
    "type",
    "stage",
    "grade",
    "level",
    "class",
    "phase",
    "trial",
    "study",
    "disease",
    "syndrome",
    "palsy",
    "sign",
    "score",
    "scale",
    "criteria",
    "test",
    "index",
    "protocol",
    "guideline",
    "guidelines",
    "food",
    "drug",
    "administration",
    "agency",
    "organization",
    "organisation",
    "association",
    "society",
    "foundation",
    "institute",
    "centre",
    "center",
    "university",
    "school",
    "college",
    "faculty",
    "hospital",
    "clinic",
    "english",
    "vietnamese",
    "french",
    "chinese",
    "american",
    "british",
    "indian",
    "japanese",
    "korean",
    "european",
    "african",
    "asian",
    "christmas",
    "easter",
    "ramadan",
    "tet",
    "lunar",
    "year",
    "day",
    "week",
    "month",
    "today",
    "yesterday",
    "tomorrow",
    "morning",
    "evening",
    "night",
    "doctor",
    "nurse",
    "physician",
    "surgeon",
    "pharmacist",
    "family",
    "mother",
    "father",
    "fasting",
    "blood",
    "pressure",
    "heart",
    "rate",
    "oxygen",
    "glucose",
    "insulin",
    "chest",
    "lung",
    "brain",
    "kidney",
    "liver",
    "skin",
    "eye",
    "eyes",
    "retina",
    "stroke",
    "cancer",
    "diabetes",
    "covid",
    "influenza",
    "dengue",
    "tuberculosis",
    "hiv",
    "ai",
    "artificial",
    "intelligence",
    "machine",
    "learning",
    "deep",
    "neural",
    "network",
    "data",
    "privacy",
    "policy",
    "terms",
    "service",
    "services",
    "insurance",
    "social",
    "security",
    "number",
    "card",
    "code",
    "id",
    "street",
    "road",
    "avenue",
    "lane",
    "drive",
    "boulevard",
    "way",
    "court",
    "place",
    "square",
    "building",
    "floor",
    "room",
    "block",
    "tower",
    "apartment",
    "flat",
    "suite",
    "district",
    "province",
    "commune",
    "hamlet",
];

/// Function words that mark a text as English (none of them is a Vietnamese syllable
/// typed without diacritics); two occurrences make the text English.
/// More capitalised words that start English sentences and are not names.
const NOT_NAME_EN_STARTS: &[&str] = &[
    "both",
    "all",
    "some",
    "many",
    "most",
    "one",
    "two",
    "three",
    "every",
    "each",
    "your",
    "its",
    "these",
    "those",
    "there",
    "here",
    "then",
    "also",
    "however",
    "although",
    "because",
    "since",
    "while",
    "until",
    "where",
    "what",
    "how",
    "why",
    "as",
    "an",
    "a",
    "i",
    "you",
    "his",
    "staff",
    "records",
    "record",
    "log",
    "logs",
    "screenshot",
    "reading",
    "readings",
    "case",
    "follow-up",
    "results",
    "result",
    "review",
    "reviewer",
    "ward",
    "manager",
];

const ENGLISH_MARKERS: &[&str] = &[
    "the",
    "was",
    "were",
    "is",
    "and",
    "of",
    "with",
    "for",
    "her",
    "his",
    "has",
    "had",
    "by",
    "from",
    "that",
    "this",
    "who",
    "which",
    "been",
    "are",
    "not",
    "after",
    "before",
    "she",
    "he",
    "they",
    "their",
    "said",
    "reported",
    "called",
    "born",
    "lives",
    "aged",
    "told",
    "gave",
    "sent",
    "filed",
    "received",
    "phoned",
    "contacted",
    "presented",
    "reporter",
    "nurse",
    "patient",
];

/// Common Vietnamese words as typed without diacritics: a text with one of them is not
/// English on a single English marker ("Lien he anh Hieu").
const VIETNAMESE_ASCII: &[&str] = &[
    "benh", "nhan", "nguoi", "duoc", "khong", "cua", "va", "la", "lien", "tai", "tuoi", "sinh",
    "dia", "bi", "cho", "goi", "voi", "nha", "thuoc", "ngay", "thang", "so", "dien", "thoai", "xa",
    "phuong", "huyen", "tinh", "sdt", "da", "khi", "sau", "vien",
];

/// English prepositions before a place ("at Cho Ray", "in Mountain View").
const PLACE_PREPOSITIONS: &[&str] = &[
    "at", "in", "near", "into", "via", "across", "outside", "inside", "around", "towards", "toward",
];

/// Words right before a person's name ("chị Lan", "bệnh nhân Trần Thị B", "Dr Lee").
const PERSON_CUES: &[&str] = &[
    "anh",
    "chị",
    "ông",
    "bà",
    "cô",
    "chú",
    "em",
    "bác",
    "cháu",
    "cụ",
    "bé",
    "trẻ",
    "mẹ",
    "bố",
    "má",
    "vợ",
    "chồng",
    "cậu",
    "dì",
    "mợ",
    "thím",
    "dượng",
    "bn",
    "bs",
    "đd",
    "ktv",
    "tên",
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "prof",
    "nurse",
    "patient",
    "mother",
    "father",
    "daughter",
    "wife",
    "husband",
    "sister",
    "brother",
    "name",
    "named",
    "bệnh nhân",
    "người bệnh",
    "bác sĩ",
    "bác sỹ",
    "điều dưỡng",
    "y tá",
    "dược sĩ",
    "kỹ thuật viên",
    "họ tên",
    "họ và tên",
    "tên bệnh nhân",
    "tên người bệnh",
    "người báo cáo",
    "người liên hệ",
    "người nhà",
    "khách hàng",
    "nhân viên",
    "nhân viên y tế",
    "tôi là",
    "con trai",
    "con gái",
    "patient name",
    "full name",
    "my name is",
    "name is",
    "tên là",
    "tên gọi",
    "physician",
    "surgeon",
    "pharmacist",
    "midwife",
    "radiologist",
    "grandmother",
    "grandfather",
    "aunt",
    "uncle",
    "neighbour",
    "neighbor",
    "caregiver",
    "baby",
    "ông bà",
    "bn nam",
    "bn nữ",
    "bệnh nhân nam",
    "bệnh nhân nữ",
    "người bệnh nam",
    "người bệnh nữ",
    "bệnh nhi",
    "bé trai",
    "bé gái",
    "cháu trai",
    "cháu gái",
    "sản phụ",
    "thai phụ",
    "cụ ông",
    "cụ bà",
    "trưởng thôn",
    "trưởng bản",
    "trưởng ấp",
    "trưởng xóm",
    "trưởng khu phố",
    "thôn bản",
    "reporter",
];

/// Cues after which a lower-case name is still a name ("họ tên: tran van hung").
const NAME_FIELD_CUES: &[&str] = &[
    "tên",
    "tên là",
    "tên gọi",
    "họ tên",
    "họ và tên",
    "tên bệnh nhân",
    "tên người bệnh",
    "name",
    "patient name",
    "full name",
];

/// Words right before a place or facility name, which is not personal data
/// ("Bệnh viện Nguyễn Tri Phương", "thành phố Hồ Chí Minh", "xã Hòa An").
const PLACE_CUES: &[&str] = &[
    "tỉnh",
    "thành phố",
    "tp",
    "thị xã",
    "thị trấn",
    "xã",
    "phường",
    "huyện",
    "quận",
    "bệnh viện",
    "bv",
    "bvđk",
    "trạm y tế",
    "trung tâm y tế",
    "trung tâm",
    "phòng khám",
    "trường",
    "đại học",
    "học viện",
    "viện",
    "đường",
    "phố",
    "hẻm",
    "ngõ",
    "thôn",
    "ấp",
    "bản",
    "làng",
    "khu",
    "khoa",
    "công ty",
    "cty",
    "sở y tế",
    "bộ y tế",
    "hospital",
    "province",
    "district",
    "city",
    "ward",
    "commune",
    "clinic",
    "tại",
    "dân tộc",
    "quốc tịch",
];

/// Words after a capitalised run that make it an organisation or a place
/// ("Pham Ngoc Thach Hospital", "Thai Nguyen province").
const PLACE_SUFFIXES: &[&str] = &[
    "hospital",
    "clinic",
    "street",
    "st",
    "road",
    "rd",
    "avenue",
    "lane",
    "province",
    "district",
    "city",
    "ward",
    "commune",
    "university",
    "center",
    "centre",
    "health",
    "medical",
    "general",
    "central",
    "institute",
    "jsc",
    "company",
    "ltd",
    "bridge",
    "river",
    "lake",
    "station",
    "market",
    "school",
    "college",
    "hotel",
    "pharmacy",
    "laboratory",
    "department",
    "ministry",
];

/// Places whose name starts like a person's (folded).
const PLACE_NAMES: &[&str] = &[
    "ho chi minh",
    "ha noi",
    "ha giang",
    "ha tinh",
    "ha nam",
    "ha dong",
    "ha long",
    "ha tien",
    "ha trung",
    "ha hoa",
    "lam dong",
    "cao bang",
    "cao lanh",
    "thai binh",
    "thai nguyen",
    "ninh binh",
    "ninh thuan",
    "ninh kieu",
    "phan thiet",
    "phan rang",
    "chau doc",
    "chau thanh",
    "chau phu",
    "chau duc",
    "le chan",
    "hoang mai",
    "hoang sa",
    "bach mai",
    "bach dang",
    "ly son",
    "mai son",
    "vo nhai",
    "kim bang",
    "kim son",
    "ba ria",
    "ba lan",
    "ba vi",
    "ba dinh",
    "ba den",
    "ba trieu",
    "ho guom",
    "ho tay",
    "dong nai",
    "dong thap",
    "hoang hoa",
    "hoa binh",
    "quan ba",
    "ton duc thang",
    "chu se",
    "chu pah",
    "dinh quan",
    "giang thanh",
    "kon tum",
    "han quoc",
    "trung quoc",
    "thai lan",
    "ba na",
    "gia rai",
    "ha nhi",
];

/// Provinces, cities and urban districts as written without diacritics in English text,
/// where a capitalised pair without a surname or a listed given name would otherwise count
/// as a name (only that rule looks at this list: "chị Thanh Hoa" is still a name).
const PLACES_EN: &[&str] = &[
    "hanoi",
    "saigon",
    "da nang",
    "hai phong",
    "can tho",
    "nha trang",
    "vung tau",
    "da lat",
    "buon ma thuot",
    "bien hoa",
    "thu dau mot",
    "quy nhon",
    "hoan kiem",
    "cau giay",
    "dong da",
    "hai ba trung",
    "tay ho",
    "long bien",
    "thanh xuan",
    "gia lam",
    "dong anh",
    "soc son",
    "tan binh",
    "binh thanh",
    "go vap",
    "thu duc",
    "phu nhuan",
    "binh tan",
    "tan phu",
    "quang ninh",
    "nghe an",
    "thanh hoa",
    "bac ninh",
    "bac giang",
    "bac kan",
    "lao cai",
    "son la",
    "dien bien",
    "lai chau",
    "yen bai",
    "tuyen quang",
    "phu tho",
    "vinh phuc",
    "hung yen",
    "hai duong",
    "nam dinh",
    "quang binh",
    "quang tri",
    "quang nam",
    "quang ngai",
    "binh dinh",
    "phu yen",
    "khanh hoa",
    "gia lai",
    "dak lak",
    "dak nong",
    "binh phuoc",
    "tay ninh",
    "binh duong",
    "long an",
    "tien giang",
    "ben tre",
    "tra vinh",
    "vinh long",
    "an giang",
    "kien giang",
    "hau giang",
    "soc trang",
    "bac lieu",
    "ca mau",
    "binh thuan",
    "lang son",
    "tu du",
    "cho ray",
    "viet duc",
    "hoan my",
    "vinmec",
    "new york",
    "new delhi",
    "hong kong",
    "kuala lumpur",
    "phnom penh",
    "ho chi minh city",
];

/// Capitalised English words that end a run of name words (compared on ASCII words only,
/// so that "An", "Ngo", "Phan" stay names).
const STOP_EN: &[&str] = &[
    "the",
    "and",
    "or",
    "but",
    "not",
    "no",
    "of",
    "in",
    "on",
    "at",
    "for",
    "to",
    "with",
    "by",
    "from",
    "is",
    "was",
    "were",
    "this",
    "that",
    "it",
    "he",
    "she",
    "they",
    "we",
    "my",
    "his",
    "her",
    "our",
    "their",
    "after",
    "before",
    "when",
    "during",
    "if",
    "ai",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "email",
    "dr",
    "x-ray",
    "x-quang",
    "ct",
    "mri",
    "ecg",
    "ekg",
];

/// Capitalised Vietnamese words that end a run of name words (compared with diacritics).
const STOP_VI: &[&str] = &[
    "bệnh",
    "viện",
    "trạm",
    "phòng",
    "sở",
    "bộ",
    "tỉnh",
    "xã",
    "phường",
    "huyện",
    "quận",
    "đường",
    "phố",
    "ngõ",
    "hẻm",
    "thôn",
    "ấp",
    "không",
    "có",
    "và",
    "là",
    "của",
    "được",
    "trong",
    "khi",
    "sau",
    "ngày",
    "số",
    "thẻ",
    "tại",
    "theo",
    "người",
    "phần",
    "ứng",
    "hệ",
    "kết",
    "địa",
    "điện",
    "nhà",
    "tôi",
    "giấy",
    "sđt",
    "điều",
    "x-quang",
];

struct WordSets {
    surnames: HashSet<String>,
    surnames_folded: HashSet<String>,
    given_en: HashSet<&'static str>,
    person: HashSet<String>,
    person_folded: HashSet<String>,
    name_field: HashSet<String>,
    name_field_folded: HashSet<String>,
    place: HashSet<String>,
    place_folded: HashSet<String>,
    suffixes: HashSet<&'static str>,
    place_names: Vec<Vec<&'static str>>,
    places_en: Vec<Vec<&'static str>>,
    not_name_en: HashSet<&'static str>,
    english_markers: HashSet<&'static str>,
    vietnamese_ascii: HashSet<&'static str>,
    place_prepositions: HashSet<&'static str>,
    middle_names: HashSet<&'static str>,
    stop_lower_vi: HashSet<&'static str>,
    stop_en: HashSet<&'static str>,
    stop_vi: HashSet<&'static str>,
}

fn sets(words: &[&str]) -> (HashSet<String>, HashSet<String>) {
    let exact = words.iter().map(|w| w.to_string()).collect();
    let folded = words.iter().map(|w| fold_word(w)).collect();
    (exact, folded)
}

static WORDS: LazyLock<WordSets> = LazyLock::new(|| {
    let surnames: HashSet<String> = SURNAMES
        .iter()
        .filter(|s| !SURNAMES_NOT_ALONE.contains(s))
        .map(|s| s.to_string())
        .collect();
    let surnames_folded = SURNAMES
        .iter()
        .filter(|s| !SURNAMES_NOT_FOLDED.contains(s))
        .map(|s| fold_word(s))
        .collect();
    let (person, person_folded) = sets(PERSON_CUES);
    let (name_field, name_field_folded) = sets(NAME_FIELD_CUES);
    let (place, place_folded) = sets(PLACE_CUES);
    WordSets {
        surnames,
        surnames_folded,
        given_en: GIVEN_EN.iter().chain(GIVEN_INTL).copied().collect(),
        person,
        person_folded,
        name_field,
        name_field_folded,
        place,
        place_folded,
        suffixes: PLACE_SUFFIXES.iter().copied().collect(),
        place_names: PLACE_NAMES.iter().map(|p| p.split(' ').collect()).collect(),
        places_en: PLACES_EN.iter().map(|p| p.split(' ').collect()).collect(),
        not_name_en: NOT_NAME_EN
            .iter()
            .chain(NOT_NAME_EN_STARTS)
            .copied()
            .collect(),
        english_markers: ENGLISH_MARKERS.iter().copied().collect(),
        vietnamese_ascii: VIETNAMESE_ASCII.iter().copied().collect(),
        place_prepositions: PLACE_PREPOSITIONS.iter().copied().collect(),
        middle_names: MIDDLE_NAMES.iter().copied().collect(),
        stop_lower_vi: STOP_LOWER_VI.iter().copied().collect(),
        stop_en: STOP_EN.iter().copied().collect(),
        stop_vi: STOP_VI.iter().copied().collect(),
    }
});

/// Looks a word or phrase up: with its diacritics when it has any, folded when it is
/// plain ASCII (text typed without accents) or decomposed.
fn in_set(phrase: &str, exact: &HashSet<String>, folded: &HashSet<String>) -> bool {
    let lower = phrase.to_lowercase();
    if lower.is_ascii() || lower.chars().any(is_combining_mark) {
        folded.contains(&fold_word(&lower))
    } else {
        exact.contains(&lower)
    }
}

#[derive(Debug)]
struct Word<'a> {
    s: &'a str,
    start: usize,
    end: usize,
    /// Inside a placeholder like `[NAME]`: never a cue, never a name.
    placeholder: bool,
}

impl Word<'_> {
    /// "Lan", "Nguyễn", "O'Brien", "B": a capital then lower case.
    fn is_cap(&self) -> bool {
        let mut chars = self.s.chars();
        let Some(first) = chars.next() else {
            return false;
        };
        if !first.is_uppercase() {
            return false;
        }
        let mut after_joint = false;
        for c in chars {
            if c == '\'' || c == '’' || c == '-' {
                after_joint = true;
                continue;
            }
            if c.is_uppercase() && !after_joint {
                return false;
            }
            after_joint = false;
        }
        true
    }

    fn is_upper(&self) -> bool {
        self.s.chars().filter(|c| c.is_alphabetic()).count() >= 2
            && self.s.chars().all(|c| !c.is_lowercase())
    }

    fn is_lower(&self) -> bool {
        self.s.chars().all(|c| !c.is_uppercase())
    }

    fn folded(&self) -> String {
        fold_word(self.s)
    }

    fn is_stop(&self) -> bool {
        let lower = self.s.to_lowercase();
        if lower.is_ascii() {
            WORDS.stop_en.contains(lower.as_str())
        } else {
            WORDS.stop_vi.contains(lower.as_str())
        }
    }

    /// A listed surname, or an Ê Đê / Jrai woman's name in H' ("H'Blăng", "H'Nhi").
    fn is_surname(&self) -> bool {
        in_set(self.s, &WORDS.surnames, &WORDS.surnames_folded) || {
            let mut c = self.s.chars();
            matches!(
                (c.next(), c.next(), c.next()),
                (Some('H'), Some('\'' | '’'), Some(u)) if u.is_uppercase()
            )
        }
    }

    fn is_given_en(&self) -> bool {
        self.s.is_ascii() && WORDS.given_en.contains(self.s.to_lowercase().as_str())
    }

    fn is_person_cue(&self, english: bool) -> bool {
        person_cue(self.s, english)
    }
}

fn words(text: &str) -> Vec<Word<'_>> {
    static WORD: LazyLock<Regex> = LazyLock::new(|| re(r"[\p{L}\p{M}]+(?:['’\-][\p{L}\p{M}]+)*"));
    let bytes = text.as_bytes();
    WORD.find_iter(text)
        .map(|m| Word {
            s: m.as_str(),
            start: m.start(),
            end: m.end(),
            placeholder: m.start() > 0
                && bytes.get(m.start() - 1) == Some(&b'[')
                && bytes.get(m.end()) == Some(&b']'),
        })
        .collect()
}

/// Two words are neighbours in a name when only one or two spaces separate them
/// (or ". " after an initial).
fn adjacent(text: &str, a: &Word, b: &Word) -> bool {
    let gap = text.get(a.end..b.start).unwrap_or("x");
    (!gap.is_empty() && gap.len() <= 2 && gap.chars().all(|c| c == ' '))
        || (gap == ". " && a.s.chars().count() == 1)
}

#[derive(Debug, PartialEq, Eq)]
enum Cue {
    Person,
    NameField,
    Place,
    None,
}

/// A person cue. In English text a word typed in ASCII must be in the list as it is: "Vo"
/// is the surname Võ there, not "vợ" (wife), and "Chau" is not "cháu"; "Anh" is a given
/// name ("Anh Thu Pham"), not "anh".
fn person_cue(phrase: &str, english: bool) -> bool {
    if english && phrase.is_ascii() {
        let lower = phrase.to_lowercase();
        lower != "anh" && WORDS.person.contains(&lower)
    } else {
        in_set(phrase, &WORDS.person, &WORDS.person_folded)
    }
}

/// What the words just before word `i` say about it.
fn cue_before(text: &str, ws: &[Word], i: usize, english: bool) -> Cue {
    if i == 0 {
        return Cue::None;
    }
    let Some(prev) = ws.get(i - 1) else {
        return Cue::None;
    };
    let Some(cur) = ws.get(i) else {
        return Cue::None;
    };
    let gap = text.get(prev.end..cur.start).unwrap_or("x");
    if gap.is_empty() || gap.len() > 4 || !gap.chars().all(|c| " .:,(-".contains(c)) {
        return Cue::None;
    }
    for k in (1..=4).rev() {
        if k > i {
            continue;
        }
        let from = i - k;
        let phrase_words = &ws[from..i];
        if phrase_words.iter().any(|w| w.placeholder) {
            continue;
        }
        if phrase_words.windows(2).any(|p| {
            !text
                .get(p[0].end..p[1].start)
                .is_some_and(|g| g.trim().is_empty())
        }) {
            continue;
        }
        let phrase = phrase_words
            .iter()
            .map(|w| w.s)
            .collect::<Vec<_>>()
            .join(" ");
        if in_set(&phrase, &WORDS.name_field, &WORDS.name_field_folded) {
            return Cue::NameField;
        }
        // A capitalised word inside a run of them is part of a name or place ("quan Hai
        // Chau, Da Nang": "Chau" is not "cháu" there).
        let inside_run = k == 1
            && phrase_words[0].is_cap()
            && from > 0
            && adjacent(text, &ws[from - 1], &ws[from])
            && ws[from - 1].is_cap();
        if !inside_run && person_cue(&phrase, english) {
            return Cue::Person;
        }
        if in_set(&phrase, &WORDS.place, &WORDS.place_folded) {
            return Cue::Place;
        }
    }
    Cue::None
}

/// How many words from `s` spell a known place ("Hà Nội", "Ho Chi Minh").
fn place_name_len(ws: &[Word], s: usize, end: usize) -> Option<usize> {
    listed_len(&WORDS.place_names, ws, s, end)
}

/// How many words from `s` spell an entry of `list` (folded words).
fn listed_len(list: &[Vec<&str>], ws: &[Word], s: usize, end: usize) -> Option<usize> {
    list.iter()
        .filter(|p| {
            s + p.len() <= end
                && p.iter()
                    .enumerate()
                    .all(|(k, part)| ws.get(s + k).is_some_and(|w| w.folded() == *part))
        })
        .map(|p| p.len())
        .max()
}

const MAX_NAME_WORDS: usize = 5;

fn is_place_suffix(w: &Word) -> bool {
    WORDS.suffixes.contains(w.s.to_lowercase().as_str())
}

/// Whether a text is English: two occurrences of English function words, or one in a text
/// with no letter that only Vietnamese uses and no common Vietnamese word typed without
/// diacritics ("Chidi Okeke, born 12/12/1990", but not "Lien he anh Hieu").
fn is_english(text: &str, ws: &[Word]) -> bool {
    let count = |set: &HashSet<&str>| {
        ws.iter()
            .filter(|w| w.s.is_ascii() && set.contains(w.s.to_lowercase().as_str()))
            .count()
    };
    let markers = count(&WORDS.english_markers);
    markers >= 2
        || (markers == 1
            && count(&WORDS.vietnamese_ascii) == 0
            && !text.chars().any(is_vietnamese_letter))
}

/// A letter that Vietnamese uses and Western European languages do not (ă, â, đ, ê, ô, ơ,
/// ư, and the vowels with a dot below, a hook or a tilde).
fn is_vietnamese_letter(c: char) -> bool {
    let l = c.to_lowercase().next().unwrap_or(c);
    "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịĩọỏốồổỗộớờởỡợụủũứừửữựỳỵỷỹ".contains(l)
        || ('\u{0300}'..='\u{0323}').contains(&c)
}

/// "Chu Thị Mến", "Ong Van Tai", "Bà Ma Thị Dung": a cue word right before a middle name
/// and a capitalised word is the surname ("Ma" is also "má", mother), not the honorific.
fn surname_not_honorific(ws: &[Word], k: usize) -> bool {
    ws.get(k).is_some_and(|w| w.is_cap())
        && ws
            .get(k + 1)
            .is_some_and(|w| w.is_cap() && MIDDLE_MARKERS.contains(&w.folded().as_str()))
        && ws.get(k + 2).is_some_and(|w| w.is_cap())
}

fn not_name_en(w: &Word) -> bool {
    WORDS.not_name_en.contains(w.s.to_lowercase().as_str())
}

/// A word that can be part of a foreign name in English text: capitalised letters, two or
/// more, not a stop word or a listed common word.
fn plausible_name_word(w: &Word) -> bool {
    w.s.chars().filter(|c| c.is_alphabetic()).count() >= 2
        && !w.is_stop()
        && !not_name_en(w)
        && !is_place_suffix(w)
}

/// The word before `i` is an English preposition of place ("at", "in", "from").
fn after_place_preposition(text: &str, ws: &[Word], i: usize) -> bool {
    let Some(prev) = i.checked_sub(1).and_then(|p| ws.get(p)) else {
        return false;
    };
    let gap = ws
        .get(i)
        .and_then(|cur| text.get(prev.end..cur.start))
        .unwrap_or("x");
    gap.chars().all(|c| c == ' ')
        && WORDS
            .place_prepositions
            .contains(prev.s.to_lowercase().as_str())
}

fn names(text: &str, out: &mut Vec<Cand>) {
    let ws = words(text);
    let english = is_english(text, &ws);
    // Written all in capitals: most words of two letters or more are.
    let long: Vec<&Word> = ws.iter().filter(|w| w.s.chars().count() >= 2).collect();
    let shouting =
        long.len() >= 4 && long.iter().filter(|w| w.is_upper()).count() * 5 >= long.len() * 4;
    let mut i = 0;
    while i < ws.len() {
        let w = &ws[i];
        if w.placeholder {
            i += 1;
            continue;
        }
        if !w.is_cap() {
            i = other_case_name(text, &ws, i, english, shouting, out);
            continue;
        }
        // The run of capitalised words from i. After a person cue, a surname that is also
        // a common word starts it when a middle name follows ("BN Đường Văn Lực").
        let odd_surname =
            surname_not_honorific(&ws, i) && cue_before(text, &ws, i, english) == Cue::Person;
        let mut j = i;
        while j < ws.len()
            && ws[j].is_cap()
            && !ws[j].placeholder
            && ((!ws[j].is_stop() && !is_place_suffix(&ws[j])) || (j == i && odd_surname))
            && (j == i || adjacent(text, &ws[j - 1], &ws[j]))
        {
            j += 1;
        }
        if j == i {
            i += 1;
            continue;
        }
        let run_end = j;
        if cue_before(text, &ws, i, english) == Cue::Place {
            i = run_end;
            continue;
        }
        // A run followed by "Hospital", "Street", "province" names a place.
        if let Some(next) = ws.get(run_end) {
            if adjacent(text, &ws[run_end - 1], next) && is_place_suffix(next) {
                i = run_end + 1;
                continue;
            }
        }
        // A listed place at the run's start ("Ba Dinh", "Hà Nội"), even if its first word
        // is also a cue ("Ba": bà).
        if let Some(len) = place_name_len(&ws, i, run_end).filter(|&len| i + len == run_end) {
            i += len;
            continue;
        }
        // Where the name starts: after a cue word inside the run ("Chị Lan", "Patient
        // Rosa Martinez"), at a surname or a given name, or at the run's start after a cue.
        let mut start = None;
        let mut cued = matches!(
            cue_before(text, &ws, i, english),
            Cue::Person | Cue::NameField
        );
        if cued {
            start = Some(i);
        }
        let mut k = i;
        while k < run_end {
            if ws[k].is_person_cue(english) && k + 1 < run_end && !surname_not_honorific(&ws, k) {
                cued = true;
                start = Some(k + 1);
                k += 1;
                continue;
            }
            if start.is_none() && (ws[k].is_surname() || ws[k].is_given_en()) {
                start = Some(k);
            }
            break;
        }
        let mut western = false;
        if start.is_none() {
            start = (i..run_end)
                .find(|&k| ws[k].is_surname() || (ws[k].is_given_en() && k + 1 < run_end));
            // English text puts given names first: "Anh Thu Pham", "Minh Chau Tran".
            if let Some(k) = start {
                if english && k > i {
                    let mut a = k;
                    while a > i && plausible_name_word(&ws[a - 1]) {
                        a -= 1;
                    }
                    western = a < k;
                    start = Some(a);
                }
            }
        }
        let Some(s) = start else {
            // English text: two or three capitalised words, none of them a common word, a
            // product, a clinical term or a place ("Yusuf Demir", "Mark Thompson").
            if english {
                english_name(text, &ws, i, run_end, out);
            }
            i = run_end;
            continue;
        };
        if let Some(len) = place_name_len(&ws, s, run_end) {
            i = s + len;
            continue;
        }
        // Without a cue, a city typed without diacritics is not a name ("Can Tho": Cấn).
        if !cued {
            if let Some(len) = listed_len(&WORDS.places_en, &ws, s, run_end) {
                i = s + len;
                continue;
            }
        }
        let len = run_end - s;
        let first = &ws[s];
        let is_name = len <= MAX_NAME_WORDS + 1
            && (cued || (len >= 2 && (first.is_surname() || first.is_given_en() || western)));
        if is_name {
            let e = (s + len.min(MAX_NAME_WORDS)) - 1;
            push(
                out,
                first.start,
                ws[e].end,
                Some(IdentifierKind::Name),
                P_NAME,
            );
        }
        i = run_end;
    }
}

/// A run of capitalised words in English text with no surname or listed given name: a
/// name when, after leading common words ("Call", "Contact"), two or three plausible name
/// words remain and they do not spell a place.
fn english_name(text: &str, ws: &[Word], i: usize, run_end: usize, out: &mut Vec<Cand>) {
    if after_place_preposition(text, ws, i) {
        return;
    }
    let mut a = i;
    while a < run_end && not_name_en(&ws[a]) {
        a += 1;
    }
    // Initials before a surname: "R. K. Sharma".
    let initial = |w: &Word| {
        w.s.chars().count() == 1 && text.get(w.end..).is_some_and(|r| r.starts_with('.'))
    };
    let mut b = a;
    while b < run_end && initial(&ws[b]) {
        b += 1;
    }
    if b > a
        && (1..=2).contains(&(run_end - b))
        && (b..run_end).all(|k| plausible_name_word(&ws[k]))
    {
        push(
            out,
            ws[a].start,
            ws[run_end - 1].end,
            Some(IdentifierKind::Name),
            P_NAME,
        );
        return;
    }
    let n = run_end - a;
    if !(2..=3).contains(&n) || !(a..run_end).all(|k| plausible_name_word(&ws[k])) {
        return;
    }
    if place_name_len(ws, a, run_end).is_some()
        || listed_len(&WORDS.places_en, ws, a, run_end).is_some()
    {
        return;
    }
    push(
        out,
        ws[a].start,
        ws[run_end - 1].end,
        Some(IdentifierKind::Name),
        P_NAME,
    );
}

/// Names not in title case: "NGUYỄN VĂN AN" (a surname and two more capitals, or one more
/// after a person cue: "BỆNH NHÂN: KSOR H'BLĂNG") and "họ tên: tran van hung" (lower case
/// after a name field). In a text written all in capitals a name needs a cue ("... LIÊN
/// QUAN THUẬT TOÁN ..." is not one). Returns the next word index.
fn other_case_name(
    text: &str,
    ws: &[Word],
    i: usize,
    english: bool,
    shouting: bool,
    out: &mut Vec<Cand>,
) -> usize {
    let w = &ws[i];
    let upper = w.is_upper();
    let lower = w.is_lower();
    if !(upper || lower) || !w.is_surname() {
        return i + 1;
    }
    // Lower case: after a name field ("họ tên: tran van hung"), or after a person cue when
    // the second word is a common middle name ("bệnh nhân trần văn lộc").
    let cue = cue_before(text, ws, i, english);
    let upper_cued = upper && matches!(cue, Cue::Person | Cue::NameField);
    if upper && shouting && !upper_cued {
        return i + 1;
    }
    let after_person = lower && cue == Cue::Person;
    if lower && cue != Cue::NameField && !after_person {
        return i + 1;
    }
    if after_person
        && !ws
            .get(i + 1)
            .is_some_and(|w| WORDS.middle_names.contains(w.folded().as_str()))
    {
        return i + 1;
    }
    let mut j = i + 1;
    while j < ws.len()
        && j - i < 4
        && !ws[j].placeholder
        && adjacent(text, &ws[j - 1], &ws[j])
        && if upper {
            ws[j].is_upper()
        } else {
            ws[j].is_lower()
                && ws[j].s.chars().count() <= 7
                && !(after_person && WORDS.stop_lower_vi.contains(ws[j].folded().as_str()))
        }
    {
        j += 1;
    }
    let enough = if upper_cued {
        j - i >= 2
    } else if upper || after_person {
        j - i >= 3
    } else {
        j - i >= 2
    };
    if !enough {
        return i + 1;
    }
    push(
        out,
        w.start,
        ws[j - 1].end,
        Some(IdentifierKind::Name),
        P_NAME,
    );
    j
}

#[cfg(test)]
mod tests {
    #[test]
    fn fda_submission_numbers_are_not_identifiers() {
        for text in [
            "device K190424 malfunctioned",
            "De Novo DEN170073",
            "PMA P160009 device",
        ] {
            assert!(find_identifiers(text).is_empty(), "{text}");
        }
        // A passport number (letter and seven digits) still is.
        assert_eq!(scrub("hộ chiếu C1234567").text, "hộ chiếu [ID]");
        assert_eq!(scrub("passport B12345678").text, "passport [ID]");
    }

    use super::*;
    use proptest::prelude::*;

    fn kinds(text: &str) -> Vec<(IdentifierKind, &str)> {
        find_identifiers(text)
            .into_iter()
            .map(|f| (f.kind, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn placeholders_and_codes() {
        for k in IdentifierKind::ALL {
            assert!(k.placeholder().starts_with('[') && k.placeholder().ends_with(']'));
            assert_eq!(k.code().parse::<IdentifierKind>().ok(), Some(*k));
        }
    }

    #[test]
    fn vietnamese_example() {
        let s = scrub(
            "BN Trần Thị B, sinh ngày 12/03/1985, CCCD 001185012345, SĐT 0912 345 678, \
             ở số 12 đường Lê Lợi, nhập viện ngày 14/05/2024, 45 tuổi, HA 140/90.",
        );
        assert_eq!(
            s.text,
            "BN [NAME], sinh ngày [DOB], CCCD [CCCD], SĐT [PHONE], \
             ở [ADDRESS], nhập viện ngày 14/05/2024, 45 tuổi, HA 140/90."
        );
    }

    #[test]
    fn english_example() {
        let s = scrub(
            "Patient John Smith (DOB 1985-03-12, MRN 00123) lives at 123 Main Street; \
             email j.smith@example.com, phone +84 912 345 678. SpO2 92%, version 1.2.0.",
        );
        assert_eq!(
            s.text,
            "Patient [NAME] (DOB [DOB], MRN [ID]) lives at [ADDRESS]; \
             email [EMAIL], phone [PHONE]. SpO2 92%, version 1.2.0."
        );
    }

    #[test]
    fn numbers_by_shape() {
        use IdentifierKind::*;
        assert_eq!(kinds("số 001085012345"), vec![(NationalId, "001085012345")]);
        assert_eq!(kinds("gọi 0912.345.678 nhé"), vec![(Phone, "0912.345.678")]);
        assert_eq!(kinds("cmnd 012345678"), vec![(OldId, "012345678")]);
        assert_eq!(
            kinds("thẻ DN4797931234567"),
            vec![(Insurance, "DN4797931234567")]
        );
        assert_eq!(
            kinds("the HC 4 01 0123456789 ok"),
            vec![(Insurance, "HC 4 01 0123456789")]
        );
        assert_eq!(kinds("(028) 3823 4567"), vec![(Phone, "(028) 3823 4567")]);
    }

    #[test]
    fn leaves_clinical_text_alone() {
        for t in [
            "Liều 500 mg, SpO2 92%, HA 140/90 mmHg, creatinin 180 µmol/L, 45 tuổi.",
            "Phiên bản 1.2.0 của LaoScan triển khai tại Bệnh viện Bạch Mai ngày 12/03/2024.",
            "Thành phố Hồ Chí Minh, tỉnh Thái Nguyên, xã Hòa An, Hà Nội.",
            "Bệnh viện Nguyễn Tri Phương dùng TimViệt 2.0.3 từ 2024-03-12 10:30.",
            "The model flagged 12 of 120,000 X-rays at Pham Ngoc Thach Hospital in Thai Nguyen province.",
            "Lý do: cao huyết áp; Mai khám lại.",
        ] {
            assert_eq!(kinds(t), vec![], "{t}");
        }
    }

    #[test]
    fn names_with_cues() {
        use IdentifierKind::*;
        assert_eq!(kinds("Chị Lan gọi"), vec![(Name, "Lan")]);
        assert_eq!(kinds("anh Hùng nói"), vec![(Name, "Hùng")]);
        assert_eq!(kinds("bà Nguyễn Thị Mai"), vec![(Name, "Nguyễn Thị Mai")]);
        assert_eq!(kinds("Dr. Sarah Lee said"), vec![(Name, "Sarah Lee")]);
        assert_eq!(
            kinds("ho ten: tran van hung"),
            vec![(Name, "tran van hung")]
        );
        assert_eq!(kinds("Ông NGUYỄN VĂN AN"), vec![(Name, "NGUYỄN VĂN AN")]);
    }

    #[test]
    fn second_round_rules() {
        use IdentifierKind::*;
        // Uncued names in English text; places and products stay.
        assert_eq!(
            kinds("The family of Mark Thompson wrote after the alert failed."),
            vec![(Name, "Mark Thompson")]
        );
        assert_eq!(
            kinds("Hamid Rostami said the app was wrong at Cho Ray Hospital in Ho Chi Minh City."),
            vec![(Name, "Hamid Rostami")]
        );
        assert_eq!(
            kinds("The Apple Watch Series 9 was worn by the patient in Da Nang."),
            vec![]
        );
        // Lower-case names after a person cue need a middle name.
        assert_eq!(
            kinds("benh nhan nguyen thi hong bi app bao sai"),
            vec![(Name, "nguyen thi hong")]
        );
        assert_eq!(kinds("bệnh nhân cao tuổi có tiền sử tăng huyết áp"), vec![]);
        // Chu Thị / chú.
        assert_eq!(kinds("Bệnh nhân Chu Thị Mến"), vec![(Name, "Chu Thị Mến")]);
        assert_eq!(kinds("Chu Van Dung bi sot"), vec![(Name, "Chu Van Dung")]);
        assert_eq!(kinds("Chú Ba gọi"), vec![(Name, "Ba")]);
        // Addresses: a street named after a woman, hamlets after a residence cue.
        assert_eq!(
            kinds("địa chỉ 56/7 Bùi Thị Xuân, quận 1"),
            vec![(Address, "56/7 Bùi Thị Xuân")]
        );
        assert_eq!(
            kinds("Địa chỉ thường trú: tổ 7, khu phố 4, phường Trảng Dài"),
            vec![(Address, "tổ 7, khu phố 4")]
        );
        assert_eq!(
            kinds("Thôn 5 và xóm 2 chưa được sàng lọc; đi ô tô 4 chỗ."),
            vec![]
        );
        assert_eq!(
            kinds("K45/12 Trần Cao Vân, thiết bị K190424"),
            vec![(Address, "K45/12 Trần Cao Vân")]
        );
    }

    #[test]
    fn third_round_dates_of_birth() {
        use IdentifierKind::*;
        assert_eq!(
            kinds("BN Lò Văn Pọm (SN 1962)"),
            vec![(Name, "Lò Văn Pọm"), (DateOfBirth, "1962")]
        );
        assert_eq!(kinds("DOB 17-Feb-1958"), vec![(DateOfBirth, "17-Feb-1958")]);
        assert_eq!(kinds("DOB: 12/03/85."), vec![(DateOfBirth, "12/03/85")]);
        assert_eq!(kinds("born 3/4/61"), vec![(DateOfBirth, "3/4/61")]);
        assert_eq!(kinds("sinh năm 83"), vec![(DateOfBirth, "83")]);
        assert_eq!(
            kinds("Ngày sinh của cháu: 2019-06-15."),
            vec![(DateOfBirth, "2019-06-15")]
        );
        assert_eq!(
            kinds("BN Quàng Thị Xuân (1988) được"),
            vec![(Name, "Quàng Thị Xuân"), (DateOfBirth, "1988")]
        );
        // Without a birth cue, dates, two-digit numbers and serial numbers stay.
        for t in [
            "nhập viện ngày 12/03/85, SN 12345, 12-Feb-2024, năm 83 tuổi",
            "Thiết bị (2019) được thu hồi năm 2024.",
        ] {
            assert_eq!(kinds(t), vec![], "{t}");
        }
    }

    #[test]
    fn third_round_record_numbers_and_phones() {
        use IdentifierKind::*;
        for (t, id) in [
            ("PID 7702341 bị gán", "7702341"),
            ("mã tiếp nhận TN-24-031557.", "TN-24-031557"),
            ("vòng tay mã BN24-88213 của", "BN24-88213"),
            ("Hồ sơ 24.034.117 tại", "24.034.117"),
            ("Patient identifier PT-88213 was", "PT-88213"),
            ("visit number V2024-118273", "V2024-118273"),
            ("Encounter no. E-55123-24 shows", "E-55123-24"),
            ("Số lưu trữ hồ sơ: LT-2019-4417;", "LT-2019-4417"),
        ] {
            assert_eq!(kinds(t), vec![(OtherId, id)], "{t}");
        }
        // A bare "mã" or "hồ sơ" needs five digits.
        for t in [
            "mã lỗi E2, mã ICD J18.9",
            "hồ sơ 510(k) K223344",
            "mà 2 ngày sau",
        ] {
            assert_eq!(kinds(t), vec![], "{t}");
        }
        assert_eq!(
            kinds("home on (617) 555-0143."),
            vec![(Phone, "(617) 555-0143")]
        );
    }

    #[test]
    fn third_round_addresses() {
        use IdentifierKind::*;
        assert_eq!(
            kinds("Địa chỉ: phòng 1508, tòa T2, chung cư Sunshine Riverside, phường Nhật Tân"),
            vec![(Address, "phòng 1508, tòa T2, chung cư Sunshine Riverside")]
        );
        assert_eq!(
            kinds("trú tại căn hộ 12.05, block B, chung cư Ecohome 3, quận 7"),
            vec![(Address, "căn hộ 12.05, block B, chung cư Ecohome 3")]
        );
        assert_eq!(
            kinds("ngụ ấp Trà Sết, xã Vĩnh Hải"),
            vec![(Address, "ấp Trà Sết")]
        );
        // Uncued, between commas before the commune, when a person is named.
        assert_eq!(
            kinds("BN nữ Đàm Thị Ngoan, 44 tuổi, tổ 12, phường Sông Hiến"),
            vec![(Name, "Đàm Thị Ngoan"), (Address, "tổ 12")]
        );
        assert_eq!(
            kinds("Patient Bui Thi Hoa, Hamlet 3, Tan Phu commune"),
            vec![(Name, "Bui Thi Hoa"), (Address, "Hamlet 3")]
        );
        for (t, a) in [
            (
                "lives at Flat 2B, 7 Marlowe Road, Leeds",
                "Flat 2B, 7 Marlowe Road",
            ),
            (
                "at 350 Fifth Avenue, Apt 12B, New York",
                "350 Fifth Avenue, Apt 12B",
            ),
            (
                "Lives at Unit 5/22 George St, Parramatta",
                "Unit 5/22 George St",
            ),
            ("Home address: 88 Kingsway, Holborn", "88 Kingsway"),
            ("Address: P.O. Box 88, Thimphu", "P.O. Box 88"),
        ] {
            assert_eq!(kinds(t), vec![(Address, a)], "{t}");
        }
        // A ward room, a village without a person, a numbered ward stay.
        for t in [
            "Bệnh nhân nằm ở phòng 305, khoa Nội.",
            "Tại thôn 3, xã Ea Kao, 12 trẻ được tiêm bù.",
            "The pump was moved to 3 West Ward.",
        ] {
            assert_eq!(kinds(t), vec![], "{t}");
        }
    }

    #[test]
    fn third_round_names() {
        use IdentifierKind::*;
        assert_eq!(
            kinds("Bà Ma Thị Dung, người Tày"),
            vec![(Name, "Ma Thị Dung")]
        );
        assert_eq!(
            kinds("BN nam Giang A Sử, 23 tuổi"),
            vec![(Name, "Giang A Sử")]
        );
        assert_eq!(
            kinds("BN Đường Văn Lực được"),
            vec![(Name, "Đường Văn Lực")]
        );
        assert_eq!(
            kinds("Cán bộ y tế thôn bản Hà Thị Pấng báo cáo"),
            vec![(Name, "Hà Thị Pấng")]
        );
        assert_eq!(
            kinds("BỆNH NHÂN: KSOR H'BLĂNG, 40 TUỔI"),
            vec![(Name, "KSOR H'BLĂNG")]
        );
        // English text: Vietnamese cue words typed in ASCII are names there, and a single
        // English word is enough to tell English from Vietnamese without diacritics.
        assert_eq!(
            kinds("were pasted into the chat by Vo Thanh Long."),
            vec![(Name, "Vo Thanh Long")]
        );
        assert_eq!(
            kinds("Anh Thu Pham is the nurse who filed the report."),
            vec![(Name, "Anh Thu Pham")]
        );
        assert_eq!(
            kinds("Tevita Fifita called from home."),
            vec![(Name, "Tevita Fifita")]
        );
        assert_eq!(kinds("R. K. Sharma, aged 72"), vec![(Name, "R. K. Sharma")]);
        assert_eq!(kinds("Lien he anh Hieu: sau"), vec![(Name, "Hieu")]);
        // Places, peoples and shouting stay.
        for t in [
            "dân tộc Ba Na, quốc tịch Hàn Quốc",
            "quan Hai Chau, Da Nang.",
            "Between 1 and 15 April 2024, 37 reports came from Da Nang, Hue and Can Tho.",
            "3 CA HẠ ĐƯỜNG HUYẾT NẶNG LIÊN QUAN THUẬT TOÁN ĐIỀU CHỈNH LIỀU INSULIN",
            "BỆNH NHÂN ĐƯỢC CHUYỂN VIỆN LÚC 14:30",
            "dia chi so 45 ngo 120 Kim Ma, Ba Dinh, Ha Noi",
        ] {
            assert!(
                kinds(t).iter().all(|(k, _)| *k != Name),
                "{t}: {:?}",
                kinds(t)
            );
        }
    }

    #[test]
    fn scrub_is_idempotent_on_examples() {
        let t = "Chị Lan, Nguyễn Văn An, 0912345678, [NAME] Smith, số 12 đường Lê Lợi";
        let once = scrub(t).text;
        assert_eq!(scrub(&once).text, once);
    }

    fn long_digit_runs(s: &str) -> Vec<String> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|r| r.len() >= 9)
            .map(str::to_string)
            .collect()
    }

    const SOUP: &[&str] = &[
        "Nguyễn",
        "Văn",
        "An",
        "Lan",
        "chị",
        "anh",
        "bệnh nhân",
        "BN",
        "Mr",
        "Dr.",
        "John",
        "Smith",
        "số",
        "12",
        "đường",
        "Lê",
        "Lợi",
        "ngõ",
        "5",
        "phố",
        "Huế",
        "0912",
        "345",
        "678",
        "+84",
        "001085012345",
        "012345678",
        "DN4797931234567",
        "a@b.vn",
        "sinh ngày",
        "12/03/1985",
        "năm sinh",
        "1985",
        "MRN",
        "00123",
        "mã BN",
        "CCCD",
        "CMND",
        "Bệnh viện",
        "Hà",
        "Nội",
        "tỉnh",
        ",",
        ".",
        ":",
        "(",
        ")",
        "[NAME]",
        "[ID]",
        "-",
        "/",
        "tên",
        "họ tên",
        "tran",
        "van",
        "hung",
        "NGUYỄN",
        "VĂN",
        "Anh",
        "Street",
        "Main",
        "123",
        "hẻm",
        "12/3",
        "Chu",
        "Thị",
        "ở",
        "thôn",
        "tổ",
        "ấp",
        "Mark",
        "Thompson",
        "the",
        "was",
        "benh nhan",
        "nguyen",
        "thi",
        "K12/3",
    ];

    fn soup() -> impl Strategy<Value = String> {
        prop::collection::vec(
            (
                prop::sample::select(SOUP),
                prop::sample::select(&[" ", "", "  ", ", "][..]),
            ),
            0..25,
        )
        .prop_map(|v| v.into_iter().map(|(w, sep)| format!("{w}{sep}")).collect())
    }

    proptest! {
        #[test]
        fn never_panics_and_findings_are_sane(s in "\\PC{0,80}") {
            let f = find_identifiers(&s);
            for w in f.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            for x in &f {
                prop_assert!(x.start < x.end && s.is_char_boundary(x.start) && s.is_char_boundary(x.end));
            }
            let once = scrub(&s).text;
            prop_assert_eq!(scrub(&once).text, once.clone());
            prop_assert!(long_digit_runs(&once).is_empty());
        }

        #[test]
        fn idempotent_on_word_soup(s in soup()) {
            let once = scrub(&s);
            prop_assert_eq!(scrub(&once.text).text, once.text.clone());
            prop_assert!(long_digit_runs(&once.text).is_empty(), "{}", once.text);
            for k in IdentifierKind::ALL {
                let before = s.matches(k.placeholder()).count();
                prop_assert!(once.text.matches(k.placeholder()).count() >= before);
            }
        }

        #[test]
        fn digits_in_identifiers_are_gone(d in "0[35789][0-9]{8}", c in "0[0-9]{2}[0-3][0-9]{8}") {
            let t = format!("Gọi {d} hoặc xem CCCD {c} của bệnh nhân.");
            let s = scrub(&t);
            prop_assert!(!s.text.contains(&d) && !s.text.contains(&c), "{}", s.text);
        }
    }
}
