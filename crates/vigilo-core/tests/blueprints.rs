//! The blueprint documents: one per blueprint id, both languages everywhere, fill-in fields
//! balanced and as many in each language, and broken files refused with every problem named.
#![allow(clippy::unwrap_used)]

use vigilo_core::blueprints::{
    builtin_blueprint_documents, parse_blueprint_document, segments, Block, Segment,
    BUILTIN_BLUEPRINT_FILES,
};
use vigilo_core::checklist::BLUEPRINT_IDS;
use vigilo_core::navigator::builtin_blueprints;
use vigilo_core::Lang;

#[test]
fn every_blueprint_has_a_document_in_both_languages() {
    let docs = builtin_blueprint_documents().unwrap();
    let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, BLUEPRINT_IDS);
    let catalogue = builtin_blueprints().unwrap();
    for d in &docs {
        assert!(catalogue.iter().any(|b| b.id == d.id), "{}", d.id);
        assert!(d.sections.len() >= 3, "{}: a real document", d.id);
        assert!(!d.sources.is_empty(), "{}", d.id);
        let vi = d.texts(Lang::Vi);
        let en = d.texts(Lang::En);
        // The same structure in both languages: one text for one text, in the same order.
        assert_eq!(vi.len(), en.len(), "{}", d.id);
        assert!(vi.len() > 30, "{}: {} texts", d.id, vi.len());
        for (v, e) in vi.iter().zip(&en) {
            assert!(!v.trim().is_empty() && !e.trim().is_empty(), "{}", d.id);
            let fields = |s: &str| {
                segments(s)
                    .iter()
                    .filter(|x| matches!(x, Segment::Field(_)))
                    .count()
            };
            assert_eq!(fields(v), fields(e), "{}: {v} / {e}", d.id);
        }
        // Vietnamese written with its diacritics, not in ASCII.
        let vi_all = vi.join(" ");
        for letter in ["ư", "ơ", "đ", "ệ", "ạ"] {
            assert!(vi_all.contains(letter), "{}: no '{letter}'", d.id);
        }
        // Fill-in fields in every document (it is a template to adapt).
        assert!(
            vi.iter().any(|t| t.contains('[')),
            "{}: no fill-in field",
            d.id
        );
    }
}

#[test]
fn documents_hold_what_the_issue_asks_for() {
    let docs = builtin_blueprint_documents().unwrap();
    let doc = |id: &str| docs.iter().find(|d| d.id == id).unwrap();
    let en = |id: &str| doc(id).texts(Lang::En).join("\n");
    let policy = en("blueprint-governance-policy");
    for needle in [
        "committee",
        "Tool lead",
        "Approval steps",
        "every [12 months]",
    ] {
        assert!(policy.contains(needle), "policy lacks {needle}");
    }
    let procurement = en("blueprint-procurement-checklist");
    for needle in ["Vigilo's public directory", "abroad", "change-control plan"] {
        assert!(procurement.contains(needle), "procurement lacks {needle}");
    }
    let validation = en("blueprint-local-validation");
    for needle in [
        "95% confidence",
        "Wilson",
        "Subgroup",
        "before data are collected",
        "139",
    ] {
        assert!(validation.contains(needle), "validation lacks {needle}");
    }
    // The reporting deadlines are Vigilo's default clocks.
    let clock = vigilo_core::incident::ReportingClock::default();
    let incident = en("blueprint-incident-procedure");
    for days in [
        clock.public_health_threat_days,
        clock.death_or_serious_days,
        clock.other_days,
    ] {
        assert!(incident.contains(&format!("{days} days")), "{days} days");
    }
    let patient = en("blueprint-patient-info");
    assert!(patient.contains("does not replace your doctor"));
    // Checklists are checklists, the validation protocol has its acceptance table.
    assert!(doc("blueprint-procurement-checklist")
        .sections
        .iter()
        .flat_map(|s| &s.blocks)
        .any(|b| matches!(b, Block::Checklist { .. })));
    assert!(doc("blueprint-local-validation")
        .sections
        .iter()
        .flat_map(|s| &s.blocks)
        .any(|b| matches!(b, Block::Table { rows, .. } if rows.len() >= 4)));
}

#[test]
fn shipped_files_are_named_after_their_ids() {
    assert_eq!(BUILTIN_BLUEPRINT_FILES.len(), BLUEPRINT_IDS.len());
    for ((file, _), id) in BUILTIN_BLUEPRINT_FILES.iter().zip(BLUEPRINT_IDS) {
        assert_eq!(*file, format!("{id}.toml"));
    }
}

const HEAD: &str = r#"
id = "blueprint-patient-info"
version = 1
subtitle = { vi = "Thông tin cho người bệnh", en = "Information for patients" }
purpose = { vi = "Mục đích", en = "Purpose" }
scope = { vi = "Phạm vi", en = "Scope" }
[[sources]]
name = { vi = "Nguồn", en = "Source" }
year = 2021
url = "https://example.org/"
"#;

fn problems(body: &str) -> String {
    match parse_blueprint_document("blueprint-patient-info.toml", &format!("{HEAD}{body}")) {
        Ok(_) => panic!("accepted: {body}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_minimal_file_parses() {
    let body = r#"
[[sections]]
id = "a"
heading = { vi = "Phần một", en = "Part one" }
[[sections.blocks]]
kind = "paragraph"
vi = "Ông/Bà điền [họ tên]."
en = "Fill in [name]."
"#;
    let d =
        parse_blueprint_document("blueprint-patient-info.toml", &format!("{HEAD}{body}")).unwrap();
    assert_eq!(d.sections.len(), 1);
}

#[test]
fn broken_files_are_refused_with_every_problem_named() {
    let cases: &[(&str, &[&str])] = &[
        ("nonsense = 1", &["syntax"]),
        ("", &["sections: empty"]),
        (
            "[[sections]]\nid = \"a\"\nheading = { vi = \"Phần\", en = \"\" }\n[[sections.blocks]]\nkind = \"poem\"\nvi = \"x\"\nen = \"y\"\n",
            &["sections[0].heading.en: empty", "unknown value 'poem'"],
        ),
        (
            "[[sections]]\nid = \"a\"\nheading = { vi = \"Phần\", en = \"Part\" }\n[[sections.blocks]]\nkind = \"paragraph\"\nvi = \"Điền [họ tên\"\nen = \"Fill in [name] and [date]\"\n",
            &["a '[' without its ']'"],
        ),
        (
            "[[sections]]\nid = \"a\"\nheading = { vi = \"Phần\", en = \"Part\" }\n[[sections.blocks]]\nkind = \"paragraph\"\nvi = \"Điền [họ tên]\"\nen = \"Fill in [name] and [date]\"\n",
            &["1 fill-in fields in vi but 2 in en"],
        ),
        (
            "[[sections]]\nid = \"a\"\nheading = { vi = \"Phần\", en = \"Part\" }\n[[sections.blocks]]\nkind = \"paragraph\"\nvi = \"This sentence was never translated at all.\"\nen = \"This sentence was never translated at all!\"\n",
            &["no Vietnamese letter"],
        ),
        (
            "[[sections]]\nid = \"a\"\nheading = { vi = \"Phần\", en = \"Part\" }\n[[sections.blocks]]\nkind = \"list\"\nvi = \"Một\"\nen = \"One\"\n",
            &["a list block has items, not vi and en", "items: empty"],
        ),
        (
            "[[sections]]\nid = \"a\"\nheading = { vi = \"Phần\", en = \"Part\" }\n[[sections.blocks]]\nkind = \"table\"\ncolumns = [{ vi = \"Cột\", en = \"Column\" }, { vi = \"Cột hai\", en = \"Column two\" }]\nrows = [{ vi = [\"a\", \"b\"], en = [\"a\"] }]\n",
            &["rows[0].en: 1 cells for 2 columns"],
        ),
        (
            "[[sections]]\nid = \"a\"\nheading = { vi = \"Phần\", en = \"Part\" }\n[[sections.blocks]]\nkind = \"note\"\nvi = \"Ghi chú\"\n",
            &["missing the en translation"],
        ),
        (
            "[[sections]]\nid = \"a\"\nheading = { vi = \"Phần\", en = \"Part\" }\n[[sections.blocks]]\nkind = \"paragraph\"\nvi = \"Một\"\nen = \"One\"\n[[sections]]\nid = \"a\"\nheading = { vi = \"Phần\", en = \"Part\" }\n[[sections.blocks]]\nkind = \"paragraph\"\nvi = \"Hai\"\nen = \"Two\"\n",
            &["'a' appears twice"],
        ),
    ];
    for (body, needles) in cases {
        let msg = problems(body);
        for needle in *needles {
            assert!(msg.contains(needle), "{needle} not in {msg}");
        }
    }
    // A file under another blueprint's name, and an id that is not a blueprint.
    let wrong = parse_blueprint_document("blueprint-governance-policy.toml", HEAD).unwrap_err();
    assert!(
        wrong.to_string().contains("does not match the file name"),
        "{wrong}"
    );
    let unknown = parse_blueprint_document(
        "blueprint-x.toml",
        &HEAD.replace("blueprint-patient-info", "blueprint-x"),
    )
    .unwrap_err();
    assert!(unknown.to_string().contains("is not one of"), "{unknown}");
}
