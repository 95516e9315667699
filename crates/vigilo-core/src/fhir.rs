//! HL7 FHIR R4 `AdverseEvent`, the pure part: code systems and extension URLs, the
//! narrative's XHTML both ways, seriousness both ways, and the mapping of an incoming
//! resource (any JSON, from anyone) to the fields of Vigilo's incident intake.
//!
//! The server (`vigilo-server`'s `fhir_incidents.rs`) builds outgoing resources and answers
//! HTTP; the element-by-element mapping is in `docs/fhir.md`. Nothing here panics on any
//! input: the intake's fuzz target (`fuzz/fuzz_targets/fhir_adverse_event.rs`) checks it.

use crate::incident::{ReporterKind, Seriousness};
use serde_json::Value;

/// Identifier system of the receipt number (`SC-2026-000123`).
pub const RECEIPT_SYSTEM: &str = "urn:vigilo:incident-receipt";
/// Identifier system of a client's own key for a report: a resend files it once.
pub const CLIENT_KEY_SYSTEM: &str = "urn:vigilo:client-key";
/// Identifier system of directory products (the same as the directory's DeviceDefinition).
pub const PRODUCT_SYSTEM: &str = "urn:vigilo:product";
pub const FACILITY_SYSTEM: &str = "urn:vigilo:facility-code";
pub const PROVINCE_SYSTEM: &str = "urn:vigilo:province-code";
/// IMDRF Adverse Event Terminology. HL7 Terminology (THO) registers no canonical URI for
/// it (checked 2026); this is the publisher's page for the terminology, see docs/fhir.md.
pub const IMDRF_SYSTEM: &str =
    "https://www.imdrf.org/documents/terminologies/imdrf-adverse-event-terminology";
/// Vigilo's own codes for AI-specific problems (`codes/ai_codes.toml`).
pub const AI_CODE_SYSTEM: &str = "urn:vigilo:ai-code";
pub const SERIOUSNESS_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness";
pub const SEVERITY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/adverse-event-severity";
pub const OUTCOME_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/adverse-event-outcome";
pub const CATEGORY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/adverse-event-category";
/// Extensions (absolute URIs, Vigilo's own).
pub const EXT_REPORTER_KIND: &str = "urn:vigilo:reporter-kind";
pub const EXT_PUBLIC_HEALTH_THREAT: &str = "urn:vigilo:public-health-threat";
pub const EXT_AGE_BAND: &str = "urn:vigilo:patient-age-band";
pub const EXT_NARRATIVE: &str = "urn:vigilo:narrative";

/// Text for XHTML: the five characters that matter escaped, line breaks kept as `<br/>`.
pub fn xhtml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br/>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The text of an XHTML fragment: tags dropped (`<br>` and block ends become line
/// breaks), character references decoded.
pub fn xhtml_text(div: &str) -> String {
    let mut out = String::with_capacity(div.len());
    let mut rest = div;
    while let Some(start) = rest.find(['<', '&']) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(after) = tail.strip_prefix('<') {
            // An unclosed tag runs to the end of the text.
            let (inside, end) = match after.find('>') {
                Some(e) => (&after[..e], e + 2),
                None => (after, tail.len()),
            };
            let tag = inside.trim().to_ascii_lowercase();
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            let closing = tag.starts_with('/');
            if name == "br" || (closing && matches!(name.as_str(), "p" | "div" | "li" | "tr")) {
                out.push('\n');
            }
            rest = &tail[end..];
        } else {
            let end = tail.find(';').filter(|e| *e <= 10);
            match end.and_then(|e| decode_entity(&tail[1..e]).map(|c| (c, e))) {
                Some((c, e)) => {
                    out.push(c);
                    rest = &tail[e + 1..];
                }
                None => {
                    out.push('&');
                    rest = &tail[1..];
                }
            }
        }
    }
    out.push_str(rest);
    // Collapse the line breaks the markup added around blocks.
    out.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => {
            let num = name.strip_prefix('#')?;
            let n = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(n)
        }
    }
}

/// How Vigilo's seriousness reads in FHIR: actuality, seriousness, severity, outcome.
/// Inverted by [`seriousness_from`]; the table is in docs/fhir.md.
pub fn fhir_seriousness(
    s: Seriousness,
) -> (
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
) {
    match s {
        Seriousness::Death => ("actual", "serious", Some("severe"), Some("fatal")),
        Seriousness::SeriousInjury => ("actual", "serious", Some("severe"), None),
        Seriousness::OtherInjury => ("actual", "non-serious", Some("moderate"), None),
        Seriousness::Malfunction => ("actual", "non-serious", None, None),
        Seriousness::NearMiss => ("potential", "non-serious", None, None),
    }
}

/// The intake fields read from an incoming `AdverseEvent`, as text: the intake checks them
/// as it checks the JSON API's body (same names). Empty strings and `None` where the
/// resource says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdverseEventIn {
    pub reporter_kind: String,
    pub product_id: Option<String>,
    pub version: Option<String>,
    pub product_text: Option<String>,
    pub facility_code: Option<String>,
    pub province_code: Option<String>,
    pub occurred_on: Option<String>,
    pub aware_on: Option<String>,
    pub seriousness: String,
    pub public_health_threat: Option<bool>,
    pub narrative: String,
    pub patient_sex: Option<String>,
    pub patient_age_band: Option<String>,
    pub client_key: Option<String>,
}

/// Whether the resource says it is an `AdverseEvent`.
pub fn is_adverse_event(doc: &Value) -> bool {
    str_of(doc, "resourceType") == Some("AdverseEvent")
}

/// A problem of an incoming resource, before the intake's own checks: the element it is
/// about (a FHIRPath expression) and the message in Vietnamese and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FhirProblem {
    pub expression: &'static str,
    pub vi: &'static str,
    pub en: &'static str,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The values of an element that may be one object or an array of them.
fn each(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(one) => vec![one],
    }
}

fn codes_of(concept: Option<&Value>) -> Vec<(&str, &str)> {
    each(concept.and_then(|c| c.get("coding")))
        .into_iter()
        .filter_map(|c| Some((str_of(c, "system").unwrap_or(""), str_of(c, "code")?)))
        .collect()
}

fn has_code(concept: Option<&Value>, system: &str, code: &str) -> bool {
    codes_of(concept)
        .iter()
        .any(|(s, c)| (s.is_empty() || *s == system) && c.eq_ignore_ascii_case(code))
}

fn extension_value<'a>(v: &'a Value, url: &str) -> Option<&'a Value> {
    each(v.get("extension")).into_iter().find_map(|e| {
        if str_of(e, "url") != Some(url) {
            return None;
        }
        e.as_object()?
            .iter()
            .find(|(k, _)| k.starts_with("value"))
            .map(|(_, val)| val)
    })
}

fn identifier_value<'a>(v: Option<&'a Value>, system: &str) -> Option<&'a str> {
    each(v)
        .into_iter()
        .find(|i| str_of(i, "system") == Some(system))
        .and_then(|i| str_of(i, "value"))
}

/// The contained resource a `#id` reference points to.
fn contained<'a>(doc: &'a Value, reference: Option<&Value>) -> Option<&'a Value> {
    let id = reference
        .and_then(|r| str_of(r, "reference"))?
        .strip_prefix('#')?;
    each(doc.get("contained"))
        .into_iter()
        .find(|c| str_of(c, "id") == Some(id))
}

/// Vigilo's seriousness from actuality, seriousness, outcome and severity (the inverse
/// of [`fhir_seriousness`], lenient for resources written elsewhere).
pub fn seriousness_from(doc: &Value) -> Option<Seriousness> {
    if str_of(doc, "actuality") == Some("potential") {
        return Some(Seriousness::NearMiss);
    }
    let seriousness = doc.get("seriousness");
    if has_code(doc.get("outcome"), OUTCOME_SYSTEM, "fatal") {
        return Some(Seriousness::Death);
    }
    if has_code(seriousness, SERIOUSNESS_SYSTEM, "serious") {
        return Some(Seriousness::SeriousInjury);
    }
    let severity = doc.get("severity");
    let harmed = ["mild", "moderate", "severe"]
        .iter()
        .any(|c| has_code(severity, SEVERITY_SYSTEM, c));
    if has_code(seriousness, SERIOUSNESS_SYSTEM, "non-serious") {
        return Some(if harmed {
            Seriousness::OtherInjury
        } else {
            Seriousness::Malfunction
        });
    }
    harmed.then_some(Seriousness::OtherInjury)
}

fn reporter_kind_from(doc: &Value) -> String {
    if let Some(code) = extension_value(doc, EXT_REPORTER_KIND).and_then(Value::as_str) {
        return code.to_string();
    }
    let Some(rec) = doc.get("recorder") else {
        return String::new();
    };
    let ty = str_of(rec, "type")
        .or_else(|| str_of(rec, "reference").and_then(|r| r.split('/').next()))
        .unwrap_or("");
    match ty {
        "Practitioner" | "PractitionerRole" => ReporterKind::HealthWorker.code().into(),
        "Patient" | "RelatedPerson" => ReporterKind::Patient.code().into(),
        _ => String::new(),
    }
}

/// The product: a directory id (on the contained Device's definition, the Device, or the
/// instance reference), else the name the sender gives as free text.
fn product_from(doc: &Value, body: &mut AdverseEventIn) {
    let Some(instance) = each(doc.get("suspectEntity"))
        .into_iter()
        .find_map(|s| s.get("instance"))
    else {
        return;
    };
    let device = contained(doc, Some(instance));
    let product_id = device
        .and_then(|d| d.get("definition"))
        .and_then(|def| identifier_value(def.get("identifier"), PRODUCT_SYSTEM))
        .or_else(|| device.and_then(|d| identifier_value(d.get("identifier"), PRODUCT_SYSTEM)))
        .or_else(|| identifier_value(instance.get("identifier"), PRODUCT_SYSTEM));
    let version = device
        .and_then(|d| each(d.get("version")).into_iter().next())
        .and_then(|v| str_of(v, "value"));
    let name = device
        .and_then(|d| each(d.get("deviceName")).into_iter().next())
        .and_then(|n| str_of(n, "name"))
        .or_else(|| str_of(instance, "display"));
    match product_id {
        Some(pid) => {
            body.product_id = Some(pid.into());
            body.version = version.map(Into::into);
        }
        None => {
            body.product_text = name.map(|n| match version {
                Some(v) if !n.contains(v) => format!("{n} {v}"),
                _ => n.to_string(),
            });
        }
    }
}

fn place_from(doc: &Value, body: &mut AdverseEventIn) {
    let Some(loc) = doc.get("location") else {
        return;
    };
    for id in each(loc.get("identifier")) {
        let Some(value) = str_of(id, "value") else {
            continue;
        };
        if str_of(id, "system") == Some(PROVINCE_SYSTEM) {
            body.province_code = Some(value.into());
        } else {
            body.facility_code = Some(value.into());
        }
    }
}

fn patient_from(doc: &Value, body: &mut AdverseEventIn, problems: &mut Vec<FhirProblem>) {
    let Some(patient) = contained(doc, doc.get("subject")) else {
        return;
    };
    match str_of(patient, "gender") {
        Some(g @ ("female" | "male")) => body.patient_sex = Some(g.into()),
        Some("other" | "unknown") | None => {}
        Some(_) => problems.push(FhirProblem {
            expression: "AdverseEvent.subject",
            vi: "Giới tính phải là female, male, other hoặc unknown.",
            en: "gender must be female, male, other or unknown.",
        }),
    }
    body.patient_age_band = extension_value(patient, EXT_AGE_BAND)
        .and_then(Value::as_str)
        .map(Into::into);
}

fn narrative_from(doc: &Value) -> String {
    if let Some(text) = extension_value(doc, EXT_NARRATIVE).and_then(Value::as_str) {
        return text.trim().to_string();
    }
    doc.get("text")
        .and_then(|t| str_of(t, "div"))
        .map(xhtml_text)
        .unwrap_or_default()
}

/// A FHIR date or dateTime as an ISO date (the intake keeps days).
fn day_of(doc: &Value, key: &str) -> Option<String> {
    let s = str_of(doc, key)?;
    Some(
        s.get(..10)
            .filter(|_| s.len() > 10)
            .unwrap_or(s)
            .to_string(),
    )
}

/// Maps an incoming AdverseEvent to the intake body. Event codes are not read: coding is
/// the reviewer's work. Identity-bearing elements (subject identifiers, recorder
/// references, encounter) are never read.
pub fn adverse_event_in(doc: &Value) -> (AdverseEventIn, Vec<FhirProblem>) {
    let mut problems = Vec::new();
    let mut body = AdverseEventIn::default();
    if !is_adverse_event(doc) {
        problems.push(FhirProblem {
            expression: "AdverseEvent.resourceType",
            vi: "Tài nguyên phải là AdverseEvent.",
            en: "The resource must be an AdverseEvent.",
        });
        return (body, problems);
    }
    body.reporter_kind = reporter_kind_from(doc);
    body.seriousness = seriousness_from(doc)
        .map(|s| s.code().to_string())
        .unwrap_or_default();
    body.public_health_threat =
        extension_value(doc, EXT_PUBLIC_HEALTH_THREAT).and_then(Value::as_bool);
    body.narrative = narrative_from(doc);
    body.occurred_on = day_of(doc, "date");
    body.aware_on = day_of(doc, "detected");
    body.client_key = identifier_value(doc.get("identifier"), CLIENT_KEY_SYSTEM).map(Into::into);
    product_from(doc, &mut body);
    place_from(doc, &mut body);
    patient_from(doc, &mut body, &mut problems);
    (body, problems)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn concept(system: &str, code: &str) -> Value {
        json!({ "coding": [{ "system": system, "code": code }] })
    }

    #[test]
    fn narrative_survives_xhtml() {
        let text = "Kết quả <âm tính> & \"bình thường\"\nsau đó: 'dương tính'";
        let div = format!(
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>{}</p></div>",
            xhtml_escape(text)
        );
        assert!(!div.contains("<âm"));
        assert_eq!(xhtml_text(&div), text);
        assert_eq!(
            xhtml_text("<div><p>a &#x41;&#66; &unknown; b</p><p>c</p></div>"),
            "a AB &unknown; b\nc"
        );
    }

    #[test]
    fn every_seriousness_maps_back_to_itself() {
        for s in Seriousness::ALL {
            let (actuality, serious, severity, outcome) = fhir_seriousness(*s);
            let mut doc = json!({
                "actuality": actuality,
                "seriousness": concept(SERIOUSNESS_SYSTEM, serious),
            });
            if let Some(sev) = severity {
                doc["severity"] = concept(SEVERITY_SYSTEM, sev);
            }
            if let Some(o) = outcome {
                doc["outcome"] = concept(OUTCOME_SYSTEM, o);
            }
            assert_eq!(seriousness_from(&doc), Some(*s), "{s:?}");
        }
        assert_eq!(seriousness_from(&json!({"actuality": "actual"})), None);
    }

    #[test]
    fn an_unclosed_tag_before_a_multibyte_character_does_not_panic() {
        // Found by fuzzing (fuzz/fuzz_targets/fhir_adverse_event.rs): the tag's name was cut
        // one byte before the end of the text, inside a character.
        assert_eq!(xhtml_text("<é"), "");
        assert_eq!(xhtml_text("a <p>b</di\u{fffd}"), "a b");
        assert_eq!(xhtml_text("x<br"), "x");
    }

    #[test]
    fn an_adverse_event_maps_to_the_intake_fields() {
        let doc = json!({
            "resourceType": "AdverseEvent",
            "actuality": "actual",
            "seriousness": concept(SERIOUSNESS_SYSTEM, "serious"),
            "identifier": { "system": CLIENT_KEY_SYSTEM, "value": " k-1 " },
            "date": "2026-11-20T08:00:00+07:00",
            "contained": [
                { "resourceType": "Patient", "id": "p", "gender": "female" },
                { "resourceType": "Device", "id": "d",
                  "deviceName": [{ "name": "LungScan" }], "version": [{ "value": "2.1" }] }
            ],
            "subject": { "reference": "#p" },
            "suspectEntity": [{ "instance": { "reference": "#d" } }],
            "location": { "identifier": { "system": PROVINCE_SYSTEM, "value": "01" } },
            "text": { "div": "<div><p>a &amp; b</p></div>" }
        });
        let (a, problems) = adverse_event_in(&doc);
        assert!(problems.is_empty());
        assert_eq!(a.seriousness, "serious_injury");
        assert_eq!(a.client_key.as_deref(), Some("k-1"));
        assert_eq!(a.occurred_on.as_deref(), Some("2026-11-20"));
        assert_eq!(a.patient_sex.as_deref(), Some("female"));
        assert_eq!(a.product_text.as_deref(), Some("LungScan 2.1"));
        assert_eq!(a.province_code.as_deref(), Some("01"));
        assert_eq!(a.narrative, "a & b");
        let (_, problems) = adverse_event_in(&json!({ "resourceType": "Patient" }));
        assert_eq!(problems[0].expression, "AdverseEvent.resourceType");
    }
}
