//! The checklist engine and the shipped frameworks (`vigilo_core::checklist`).

use proptest::prelude::*;
use vigilo_core::checklist::{
    parse_framework, AnswerSet, AnswerValue, Catalog, Compliance, Framework, FrameworkError,
    ItemAnswer, ProductOrigin, ProductProfile, Scale, ScoreError, Text, Verdict, BLUEPRINT_IDS,
    BUILTIN_FILES, MAX_COMMENT, MAX_EVIDENCE_REFS,
};
use vigilo_core::classification::{IntendedUsers, VnAiTier, VnDeviceClass};
use vigilo_core::directory::AiKind;

fn catalog() -> Catalog {
    match Catalog::builtin() {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn framework<'a>(c: &'a Catalog, id: &str) -> &'a Framework {
    c.latest(id)
        .unwrap_or_else(|| panic!("framework {id} missing"))
}

fn answer(item: &str, value: Option<AnswerValue>, comment: &str) -> ItemAnswer {
    ItemAnswer {
        item_id: item.into(),
        value,
        comment: comment.into(),
        evidence: vec![],
    }
}

fn code(s: &str) -> Option<AnswerValue> {
    Some(AnswerValue::Code(s.into()))
}

fn level(n: i64) -> Option<AnswerValue> {
    Some(AnswerValue::Level(n))
}

fn set(f: &Framework, answers: Vec<ItemAnswer>) -> AnswerSet {
    AnswerSet {
        framework_id: f.id().into(),
        framework_version: f.version(),
        answers,
    }
}

// ---------------------------------------------------------------------------------------------
// Shipped frameworks
// ---------------------------------------------------------------------------------------------

#[test]
fn every_shipped_file_parses_and_validates() {
    for (name, source) in BUILTIN_FILES {
        if let Err(e) = parse_framework(name, source) {
            panic!("{e}");
        }
    }
    let c = catalog();
    let ids: Vec<_> = c.all().map(|f| (f.id().to_string(), f.version())).collect();
    assert_eq!(
        ids,
        vec![
            ("imdrf-gmlp".to_string(), 1),
            ("navigator-readiness".to_string(), 1),
            ("vn-dossier".to_string(), 1),
            ("who-ai-considerations".to_string(), 1),
        ]
    );
}

#[test]
fn gmlp_has_the_ten_principles_in_order() {
    let c = catalog();
    let f = framework(&c, "imdrf-gmlp");
    let ids: Vec<_> = f.items().iter().map(|i| i.id.as_str()).collect();
    let expected: Vec<String> = (1..=10).map(|n| format!("gmlp-{n:02}")).collect();
    assert_eq!(ids, expected);
    for (n, item) in f.items().iter().enumerate() {
        assert!(item.title.en.starts_with(&format!("Principle {}:", n + 1)));
        assert!(item.title.vi.starts_with(&format!("Nguyên tắc {}:", n + 1)));
        assert!(item.required && item.applies_when.is_unconditional());
    }
    assert_eq!(f.scale(), &Scale::Compliance);
}

#[test]
fn who_has_its_six_areas() {
    let c = catalog();
    let f = framework(&c, "who-ai-considerations");
    assert_eq!(f.sections().len(), 6);
}

/// Stored answers point at these ids: a published version keeps them forever. Changing this
/// list means publishing a new version instead (docs/checklists.md).
#[test]
fn published_versions_keep_their_item_ids() {
    let published: &[(&str, u32, &[&str])] = &[
        (
            "imdrf-gmlp",
            1,
            &[
                "gmlp-01", "gmlp-02", "gmlp-03", "gmlp-04", "gmlp-05", "gmlp-06", "gmlp-07",
                "gmlp-08", "gmlp-09", "gmlp-10",
            ],
        ),
        (
            "navigator-readiness",
            1,
            &[
                "gov-committee",
                "gov-accountable",
                "gov-inventory",
                "gov-policy",
                "proc-licence",
                "proc-vendor-evidence",
                "proc-contract",
                "val-before-use",
                "val-acceptance",
                "val-phased",
                "sec-personal-data",
                "sec-access",
                "sec-continuity",
                "train-before-use",
                "train-limits",
                "train-refresh",
                "mon-incident-pathway",
                "mon-performance",
                "mon-pause",
                "pat-inform",
                "pat-consent",
                "pat-feedback",
                "eq-subgroups",
                "eq-access",
                "eq-review",
            ],
        ),
        (
            "vn-dossier",
            1,
            &[
                "vn-classification",
                "vn-declaration-ab",
                "vn-registration-cd",
                "vn-quality-system",
                "vn-authorisation-warranty",
                "vn-free-sale",
                "vn-technical-summary",
                "vn-verification",
                "vn-clinical-evidence",
                "vn-instructions-vi",
                "vn-label",
                "ai-model-card",
                "ai-training-data",
                "ai-performance",
                "ai-subgroups",
                "ai-change-control",
                "ai-continuous-learning",
                "ai-generative-safeguards",
                "ai-lay-users",
                "ai-cybersecurity",
                "ai-data-protection",
                "ai-postmarket",
                "ai-law-tier",
                "ai-law-high-risk",
                "ai-law-transparency",
            ],
        ),
        (
            "who-ai-considerations",
            1,
            &[
                "who-documentation",
                "who-risk-lifecycle",
                "who-validation",
                "who-data-quality",
                "who-privacy",
                "who-engagement",
            ],
        ),
    ];
    let c = catalog();
    for (id, version, items) in published {
        let f = c
            .get(id, *version)
            .unwrap_or_else(|| panic!("published {id} v{version} is gone"));
        let ids: Vec<_> = f.items().iter().map(|i| i.id.as_str()).collect();
        assert_eq!(&ids, items, "{id} v{version}");
    }
}

#[test]
fn navigator_domains_have_three_to_five_items_each_with_a_blueprint() {
    let c = catalog();
    let f = framework(&c, "navigator-readiness");
    assert_eq!(f.sections().len(), 8);
    for s in f.sections() {
        let n = f.items_in(&s.id).count();
        assert!((3..=5).contains(&n), "{} has {n} items", s.id);
    }
    let mut used = std::collections::BTreeSet::new();
    for item in f.items() {
        // Each item says what every level means for it.
        assert_eq!(item.level_descriptions.len(), 5, "{}", item.id);
        let b = f
            .blueprint_for(item)
            .unwrap_or_else(|| panic!("{} has no blueprint", item.id));
        used.insert(b.to_string());
    }
    for b in BLUEPRINT_IDS {
        assert!(used.contains(*b), "blueprint {b} is never suggested");
    }
    assert_eq!(f.scale().top_level(), Some(4));
}

/// Every text a framework carries, with where it is.
fn texts(f: &Framework) -> Vec<(String, &Text)> {
    let mut out = vec![
        ("title".to_string(), f.title()),
        ("description".to_string(), f.description()),
    ];
    if let Scale::Maturity { levels } = f.scale() {
        for l in levels {
            out.push((format!("level {} label", l.level), &l.label));
            out.push((format!("level {} description", l.level), &l.description));
        }
    }
    for s in f.sections() {
        out.push((format!("section {}", s.id), &s.title));
        if let Some(d) = &s.description {
            out.push((format!("section {} description", s.id), d));
        }
    }
    for i in f.items() {
        out.push((format!("{} title", i.id), &i.title));
        out.push((format!("{} question", i.id), &i.question));
        out.push((format!("{} guidance", i.id), &i.guidance));
        for (k, e) in i.evidence.iter().enumerate() {
            out.push((format!("{} evidence {k}", i.id), e));
        }
        for (k, e) in i.level_descriptions.iter().enumerate() {
            out.push((format!("{} level {k}", i.id), e));
        }
    }
    out
}

#[test]
fn both_languages_are_present_and_distinct_everywhere() {
    let c = catalog();
    for f in c.all() {
        for (place, t) in texts(f) {
            let at = format!("{} {place}", f.id());
            assert!(!t.vi.trim().is_empty() && !t.en.trim().is_empty(), "{at}");
            // A Vietnamese text with no Vietnamese letter is an untranslated copy.
            let vietnamese = t.vi.chars().any(|ch| {
                "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ"
                    .contains(ch.to_lowercase().next().unwrap_or(ch))
            });
            assert!(
                vietnamese,
                "{at}: Vietnamese text without Vietnamese letters: {}",
                t.vi
            );
            assert_ne!(t.vi, t.en, "{at}");
            // English questions end with a question mark, and so do the Vietnamese ones.
            if place.ends_with("question") {
                assert!(t.vi.ends_with('?') && t.en.ends_with('?'), "{at}");
            }
        }
        for s in f.sources() {
            assert!(s.url.starts_with("https://"), "{}: {}", f.id(), s.name);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Broken files
// ---------------------------------------------------------------------------------------------

const MINIMAL_COMPLIANCE: &str = r#"
id = "test-dossier"
version = 1
title = { vi = "Danh mục thử", en = "Test list" }
description = { vi = "Mô tả", en = "Description" }
[[sources]]
name = "A source"
year = 2025
url = "https://example.org/"
[scale]
kind = "compliance"
[[sections]]
id = "main"
title = { vi = "Chính", en = "Main" }
[[items]]
id = "first"
section = "main"
title = { vi = "Mục một", en = "Item one" }
question = { vi = "Câu hỏi?", en = "Question?" }
guidance = { vi = "Hướng dẫn", en = "Guidance" }
evidence = [{ vi = "Tài liệu", en = "Document" }]
[[items]]
id = "class-cd"
section = "main"
applies_when = { vn_device_class = ["c", "d"] }
title = { vi = "Mục C D", en = "Item C D" }
question = { vi = "Câu hỏi?", en = "Question?" }
guidance = { vi = "Hướng dẫn", en = "Guidance" }
evidence = [{ vi = "Tài liệu", en = "Document" }]
"#;

const MINIMAL_MATURITY: &str = r#"
id = "test-readiness"
version = 1
title = { vi = "Sẵn sàng", en = "Readiness" }
description = { vi = "Mô tả", en = "Description" }
[[sources]]
name = "A source"
year = 2025
url = "https://example.org/"
[scale]
kind = "maturity"
[[scale.levels]]
level = 0
label = { vi = "Chưa có", en = "None" }
description = { vi = "Chưa có", en = "None" }
[[scale.levels]]
level = 1
label = { vi = "Có", en = "Some" }
description = { vi = "Có", en = "Some" }
[[scale.levels]]
level = 2
label = { vi = "Tốt", en = "Good" }
description = { vi = "Tốt", en = "Good" }
[[sections]]
id = "gov"
blueprint = "blueprint-governance-policy"
title = { vi = "Quản trị", en = "Governance" }
[[sections]]
id = "val"
title = { vi = "Thẩm định", en = "Validation" }
[[items]]
id = "gov-a"
section = "gov"
title = { vi = "A", en = "A" }
question = { vi = "Câu hỏi?", en = "Question?" }
guidance = { vi = "Hướng dẫn", en = "Guidance" }
evidence = [{ vi = "Tài liệu", en = "Document" }]
[[items]]
id = "gov-b"
section = "gov"
title = { vi = "B", en = "B" }
question = { vi = "Câu hỏi?", en = "Question?" }
guidance = { vi = "Hướng dẫn", en = "Guidance" }
evidence = [{ vi = "Tài liệu", en = "Document" }]
[[items]]
id = "val-a"
section = "val"
blueprint = "blueprint-local-validation"
title = { vi = "C", en = "C" }
question = { vi = "Câu hỏi?", en = "Question?" }
guidance = { vi = "Hướng dẫn", en = "Guidance" }
evidence = [{ vi = "Tài liệu", en = "Document" }]
"#;

fn parse_ok(name: &str, src: &str) -> Framework {
    match parse_framework(name, src) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}

fn parse_err(src: &str) -> Vec<FrameworkError> {
    match parse_framework("broken.toml", src) {
        Ok(_) => panic!("a broken file parsed"),
        Err(e) => e.0,
    }
}

/// Asserts one error with this code, item and field, and that its message names all three.
fn assert_error(errors: &[FrameworkError], code: &str, item: Option<&str>, field: &str) {
    let found = errors
        .iter()
        .find(|e| e.problem.code() == code && e.item.as_deref() == item && e.field == field);
    let Some(e) = found else {
        panic!("no {code} error on {item:?} {field}; got {errors:#?}");
    };
    let msg = e.to_string();
    assert!(msg.starts_with("broken.toml: "), "{msg}");
    if let Some(i) = item {
        assert!(msg.contains(&format!("item '{i}'")), "{msg}");
    }
    assert!(msg.contains(field), "{msg}");
}

#[test]
fn the_minimal_files_are_valid() {
    let f = parse_ok("test-dossier/v1.toml", MINIMAL_COMPLIANCE);
    assert_eq!(f.items().len(), 2);
    assert_eq!(f.fingerprint().len(), 64);
    let m = parse_ok("test-readiness/v1.toml", MINIMAL_MATURITY);
    assert_eq!(m.scale().top_level(), Some(2));
    let gov_a = m.item("gov-a").map(|i| m.blueprint_for(i));
    assert_eq!(gov_a, Some(Some("blueprint-governance-policy")));
    let val_a = m.item("val-a").map(|i| m.blueprint_for(i));
    assert_eq!(val_a, Some(Some("blueprint-local-validation")));
}

#[test]
fn syntax_errors_and_unknown_fields_name_the_file() {
    let e = parse_err("id = \"x\"\nversion = ");
    assert_eq!(e[0].problem.code(), "syntax");
    assert!(e[0].to_string().starts_with("broken.toml: "));
    let e = parse_err(&MINIMAL_COMPLIANCE.replace("year = 2025", "year = 2025\nyaer = 1"));
    assert_eq!(e[0].problem.code(), "syntax");
    assert!(e[0].to_string().contains("yaer"), "{}", e[0]);
}

#[test]
fn duplicate_ids_are_rejected() {
    let src = MINIMAL_COMPLIANCE.replace("id = \"class-cd\"", "id = \"first\"");
    assert_error(
        &parse_err(&src),
        "duplicate_id",
        Some("first"),
        "items[1].id",
    );
    let src = MINIMAL_MATURITY.replace("id = \"val\"", "id = \"gov\"");
    assert_error(&parse_err(&src), "duplicate_id", None, "sections[1].id");
}

#[test]
fn missing_translations_are_rejected() {
    let src = MINIMAL_COMPLIANCE.replacen(
        "guidance = { vi = \"Hướng dẫn\", en = \"Guidance\" }",
        "guidance = { vi = \"Hướng dẫn\" }",
        1,
    );
    assert_error(
        &parse_err(&src),
        "missing_translation",
        Some("first"),
        "items[0].guidance.en",
    );
    let src = MINIMAL_COMPLIANCE.replace(
        "title = { vi = \"Danh mục thử\", en = \"Test list\" }",
        "title = { vi = \" \", en = \"Test list\" }",
    );
    assert_error(&parse_err(&src), "missing_translation", None, "title.vi");
    let src = MINIMAL_MATURITY.replacen(
        "label = { vi = \"Có\", en = \"Some\" }",
        "label = { en = \"Some\" }",
        1,
    );
    assert_error(
        &parse_err(&src),
        "missing_translation",
        None,
        "scale.levels[1].label.vi",
    );
    let src = MINIMAL_COMPLIANCE.replacen(
        "evidence = [{ vi = \"Tài liệu\", en = \"Document\" }]",
        "evidence = [{ vi = \"Tài liệu\", en = \"Document\" }, { vi = \"Hồ sơ\" }]",
        1,
    );
    assert_error(
        &parse_err(&src),
        "missing_translation",
        Some("first"),
        "items[0].evidence[1].en",
    );
}

#[test]
fn unknown_vocabulary_values_are_rejected() {
    let src = MINIMAL_COMPLIANCE.replace("[\"c\", \"d\"]", "[\"c\", \"e\"]");
    let e = parse_err(&src);
    assert_error(
        &e,
        "unknown_value",
        Some("class-cd"),
        "items[1].applies_when.vn_device_class[1]",
    );
    assert!(e[0].to_string().contains("'e'"), "{}", e[0]);
    for (field, value) in [
        ("ai_kind", "llm"),
        ("vn_ai_tier", "extreme"),
        ("origin", "abroad"),
        ("intended_users", "robots"),
    ] {
        let src = MINIMAL_COMPLIANCE.replace(
            "applies_when = { vn_device_class = [\"c\", \"d\"] }",
            &format!("applies_when = {{ {field} = [\"{value}\"] }}"),
        );
        assert_error(
            &parse_err(&src),
            "unknown_value",
            Some("class-cd"),
            &format!("items[1].applies_when.{field}[0]"),
        );
    }
    let src = MINIMAL_COMPLIANCE.replace(
        "section = \"main\"\napplies",
        "section = \"other\"\napplies",
    );
    assert_error(
        &parse_err(&src),
        "unknown_value",
        Some("class-cd"),
        "items[1].section",
    );
    let src = MINIMAL_MATURITY.replace("blueprint-local-validation", "blueprint-local-validaton");
    assert_error(
        &parse_err(&src),
        "unknown_value",
        Some("val-a"),
        "items[2].blueprint",
    );
}

#[test]
fn bad_scales_are_rejected() {
    // Levels not numbered 0, 1, 2.
    let src = MINIMAL_MATURITY.replace("level = 1\n", "level = 3\n");
    assert_error(&parse_err(&src), "bad_scale", None, "scale.levels[1].level");
    // A single level.
    let one = MINIMAL_MATURITY
        .split("[[scale.levels]]\nlevel = 1")
        .next()
        .unwrap_or_default()
        .to_string()
        + MINIMAL_MATURITY
            .split_once("[[sections]]")
            .map(|(_, rest)| format!("[[sections]]{rest}"))
            .unwrap_or_default()
            .as_str();
    assert_error(&parse_err(&one), "bad_scale", None, "scale.levels");
    // Levels on a compliance scale.
    let src = MINIMAL_COMPLIANCE.replace(
        "kind = \"compliance\"",
        "kind = \"compliance\"\n[[scale.levels]]\nlevel = 0",
    );
    assert_error(&parse_err(&src), "bad_scale", None, "scale.levels");
    // An unknown kind of scale.
    let src = MINIMAL_COMPLIANCE.replace("kind = \"compliance\"", "kind = \"stars\"");
    assert_error(&parse_err(&src), "unknown_value", None, "scale.kind");
    // Item level descriptions that do not match the scale.
    let src = MINIMAL_MATURITY.replacen(
        "id = \"gov-b\"\nsection = \"gov\"",
        "id = \"gov-b\"\nsection = \"gov\"\nlevel_descriptions = [{ vi = \"Không\", en = \"None\" }]",
        1,
    );
    assert_error(
        &parse_err(&src),
        "bad_scale",
        Some("gov-b"),
        "items[1].level_descriptions",
    );
}

#[test]
fn other_structural_errors_are_rejected() {
    let src = MINIMAL_COMPLIANCE.replace("id = \"first\"", "id = \"First Item\"");
    assert_error(
        &parse_err(&src),
        "bad_id",
        Some("First Item"),
        "items[0].id",
    );
    let src = MINIMAL_COMPLIANCE.replace("version = 1", "version = 0");
    assert_error(&parse_err(&src), "invalid", None, "version");
    let src = MINIMAL_COMPLIANCE.replace("url = \"https://example.org/\"", "url = \"example.org\"");
    assert_error(&parse_err(&src), "invalid", None, "sources[0].url");
    // Blueprints belong to readiness frameworks; conditions and optional items do not.
    let src = MINIMAL_COMPLIANCE.replace(
        "id = \"first\"\nsection = \"main\"",
        "id = \"first\"\nsection = \"main\"\nblueprint = \"blueprint-patient-info\"",
    );
    assert_error(
        &parse_err(&src),
        "invalid",
        Some("first"),
        "items[0].blueprint",
    );
    let src = MINIMAL_MATURITY.replace(
        "id = \"gov-b\"\nsection = \"gov\"",
        "id = \"gov-b\"\nsection = \"gov\"\nrequired = false",
    );
    assert_error(
        &parse_err(&src),
        "invalid",
        Some("gov-b"),
        "items[1].required",
    );
    let src = MINIMAL_MATURITY.replace(
        "id = \"gov-b\"\nsection = \"gov\"",
        "id = \"gov-b\"\nsection = \"gov\"\napplies_when = { ai_kind = [\"generative\"] }",
    );
    assert_error(
        &parse_err(&src),
        "invalid",
        Some("gov-b"),
        "items[1].applies_when",
    );
    // All problems at once.
    let src = MINIMAL_COMPLIANCE
        .replace("id = \"class-cd\"", "id = \"first\"")
        .replace("[\"c\", \"d\"]", "[\"x\"]");
    assert!(parse_err(&src).len() >= 2);
}

#[test]
fn the_catalog_checks_file_names_and_duplicate_versions() {
    let e = match Catalog::from_files(&[("test-dossier/v2.toml", MINIMAL_COMPLIANCE)]) {
        Ok(_) => panic!("a misnamed file was accepted"),
        Err(e) => e,
    };
    assert!(
        e.to_string().contains("expected test-dossier/v1.toml"),
        "{e}"
    );
    let e = match Catalog::from_files(&[
        ("test-dossier/v1.toml", MINIMAL_COMPLIANCE),
        ("test-dossier/v1.toml", MINIMAL_COMPLIANCE),
    ]) {
        Ok(_) => panic!("a duplicate version was accepted"),
        Err(e) => e,
    };
    assert_eq!(e.0[0].problem.code(), "duplicate_id");
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

fn problem_codes(c: &Catalog, s: &AnswerSet) -> Vec<(Option<String>, &'static str, &'static str)> {
    match c.check(s) {
        Ok(_) => vec![],
        Err(errors) => errors
            .into_iter()
            .map(|e| (e.item, e.field, e.problem.code()))
            .collect(),
    }
}

#[test]
fn answers_to_unknown_frameworks_or_versions_are_rejected() {
    let c = catalog();
    let mut s = set(framework(&c, "imdrf-gmlp"), vec![]);
    assert!(c.check(&s).is_ok());
    s.framework_version = 7;
    assert_eq!(
        problem_codes(&c, &s),
        vec![(None, "framework_version", "unknown_framework_version")]
    );
    let msg = c
        .check(&s)
        .err()
        .map(|e| e[0].to_string())
        .unwrap_or_default();
    assert!(msg.contains("known versions: [1]"), "{msg}");
    s.framework_id = "gmlp".into();
    assert_eq!(
        problem_codes(&c, &s),
        vec![(None, "framework_id", "unknown_framework")]
    );
}

#[test]
fn dossier_answers_are_checked_against_the_scale() {
    let c = catalog();
    let f = framework(&c, "imdrf-gmlp");
    let good = set(
        f,
        vec![
            answer("gmlp-01", code("met"), ""),
            answer("gmlp-02", code("partly_met"), "ISO 13485 audit scheduled"),
            answer("gmlp-03", code("not_met"), ""),
            answer(
                "gmlp-04",
                code("not_applicable"),
                "No separate test set: see sandbox study",
            ),
            answer("gmlp-05", None, ""),
        ],
    );
    let checked = match c.check(&good) {
        Ok(c) => c,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(
        checked.get("gmlp-02").and_then(|a| a.value),
        Some(Verdict::Compliance(Compliance::PartlyMet))
    );
    // Round trip through the wire shape.
    assert_eq!(c.check(&checked.to_answer_set()).ok(), Some(checked));

    let bad = set(
        f,
        vec![
            answer("gmlp-11", code("met"), ""),
            answer("gmlp-01", code("met"), ""),
            answer("gmlp-01", code("met"), ""),
            answer("gmlp-02", code("ok"), ""),
            answer("gmlp-03", level(2), ""),
            answer("gmlp-04", code("not_applicable"), "   "),
            answer("gmlp-05", code("met"), &"x".repeat(MAX_COMMENT + 1)),
            ItemAnswer {
                evidence: vec!["doc".into(); MAX_EVIDENCE_REFS + 1],
                ..answer("gmlp-06", code("met"), "")
            },
            ItemAnswer {
                evidence: vec![" ".into()],
                ..answer("gmlp-07", code("met"), "")
            },
        ],
    );
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        problem_codes(&c, &bad),
        vec![
            (s("gmlp-11"), "item_id", "unknown_item"),
            (s("gmlp-01"), "item_id", "duplicate_item"),
            (s("gmlp-02"), "value", "not_on_scale"),
            (s("gmlp-03"), "value", "not_on_scale"),
            (s("gmlp-04"), "comment", "justification_required"),
            (s("gmlp-05"), "comment", "too_long"),
            (s("gmlp-06"), "evidence", "too_many"),
            (s("gmlp-07"), "evidence", "empty"),
        ]
    );
}

#[test]
fn maturity_answers_are_checked_against_the_levels() {
    let c = catalog();
    let f = framework(&c, "navigator-readiness");
    let ok = set(
        f,
        vec![
            answer("gov-committee", level(0), ""),
            answer("gov-policy", level(4), ""),
            answer("gov-inventory", code(" 2 "), ""),
        ],
    );
    let checked = match c.check(&ok) {
        Ok(c) => c,
        Err(e) => panic!("{e:?}"),
    };
    assert_eq!(
        checked.get("gov-inventory").and_then(|a| a.value),
        Some(Verdict::Level(2))
    );
    let bad = set(
        f,
        vec![
            answer("gov-committee", level(5), ""),
            answer("gov-policy", level(-1), ""),
            answer("gov-inventory", code("met"), ""),
            answer("gov-nothing", level(1), ""),
        ],
    );
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        problem_codes(&c, &bad),
        vec![
            (s("gov-committee"), "value", "out_of_range"),
            (s("gov-policy"), "value", "out_of_range"),
            (s("gov-inventory"), "value", "not_on_scale"),
            (s("gov-nothing"), "item_id", "unknown_item"),
        ]
    );
}

#[test]
fn answer_sets_read_from_json() {
    let json = r#"{"framework_id":"navigator-readiness","framework_version":1,
        "answers":[{"item_id":"gov-committee","value":3},{"item_id":"gov-policy","value":"2","comment":"draft"},
                   {"item_id":"gov-inventory"}]}"#;
    let s: AnswerSet = match serde_json::from_str(json) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert!(catalog().check(&s).is_ok());
    let unknown_field = r#"{"framework_id":"x","framework_version":1,"answer":[]}"#;
    assert!(serde_json::from_str::<AnswerSet>(unknown_field).is_err());
}

#[test]
fn stored_text_rows_round_trip() {
    let c = catalog();
    let rows = vec![
        (
            "gov-committee".to_string(),
            "3".to_string(),
            "since 2025".to_string(),
        ),
        ("gov-policy".to_string(), "".to_string(), "".to_string()),
    ];
    let s = AnswerSet::from_text_rows("navigator-readiness", 1, rows);
    let checked = match c.check(&s) {
        Ok(a) => a,
        Err(e) => panic!("{e:?}"),
    };
    let committee = checked.get("gov-committee").and_then(|a| a.value);
    assert_eq!(committee, Some(Verdict::Level(3)));
    assert_eq!(committee.map(Verdict::to_code).as_deref(), Some("3"));
    // An empty stored value is an open item, not an error.
    assert_eq!(checked.get("gov-policy").map(|a| a.value), Some(None));
    let met = Verdict::Compliance(Compliance::NotApplicable).to_code();
    let s = AnswerSet::from_text_rows("imdrf-gmlp", 1, vec![("gmlp-01".into(), met, "".into())]);
    let codes: Vec<_> = problem_codes(&c, &s).into_iter().map(|p| p.2).collect();
    assert_eq!(codes, vec!["justification_required"]);
}

// ---------------------------------------------------------------------------------------------
// Completeness
// ---------------------------------------------------------------------------------------------

fn product(class: VnDeviceClass) -> ProductProfile {
    ProductProfile {
        vn_device_class: Some(class),
        vn_ai_tier: Some(VnAiTier::Low),
        ai_kind: Some(AiKind::Locked),
        origin: Some(ProductOrigin::Domestic),
        intended_users: Some(IntendedUsers::HealthcareProfessionals),
    }
}

fn excluded_and_missing(f: &Framework, p: &ProductProfile) -> (Vec<String>, Vec<String>) {
    let checked = match f.check(&set(f, vec![])) {
        Ok(c) => c,
        Err(e) => panic!("{e:?}"),
    };
    match f.completeness(&checked, p) {
        Ok(c) => (c.excluded, c.missing_required),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_class_a_product_does_not_need_the_class_c_d_items() {
    let c = catalog();
    let f = framework(&c, "vn-dossier");
    let (excluded, missing) = excluded_and_missing(f, &product(VnDeviceClass::A));
    for id in ["vn-registration-cd", "vn-clinical-evidence", "vn-free-sale"] {
        assert!(excluded.contains(&id.to_string()), "{id}");
        assert!(!missing.contains(&id.to_string()), "{id}");
    }
    assert!(missing.contains(&"vn-declaration-ab".to_string()));
    // Nor the generative, continuously learning, lay user or higher-tier items.
    for id in [
        "ai-generative-safeguards",
        "ai-continuous-learning",
        "ai-lay-users",
        "ai-law-high-risk",
        "ai-law-transparency",
    ] {
        assert!(excluded.contains(&id.to_string()), "{id}");
    }
    assert!(missing.contains(&"ai-model-card".to_string()));
}

#[test]
fn a_class_d_imported_generative_product_needs_more() {
    let c = catalog();
    let f = framework(&c, "vn-dossier");
    let p = ProductProfile {
        origin: Some(ProductOrigin::Imported),
        ai_kind: Some(AiKind::Generative),
        vn_ai_tier: Some(VnAiTier::High),
        ..product(VnDeviceClass::D)
    };
    let (excluded, missing) = excluded_and_missing(f, &p);
    for id in [
        "vn-registration-cd",
        "vn-clinical-evidence",
        "vn-free-sale",
        "ai-generative-safeguards",
        "ai-law-high-risk",
        "ai-law-transparency",
    ] {
        assert!(missing.contains(&id.to_string()), "{id}");
    }
    assert!(excluded.contains(&"vn-declaration-ab".to_string()));
    // Domestic class C: no certificate of free sale.
    let (excluded, _) = excluded_and_missing(f, &product(VnDeviceClass::C));
    assert!(excluded.contains(&"vn-free-sale".to_string()));
}

#[test]
fn an_unknown_class_asks_every_class_item() {
    let c = catalog();
    let f = framework(&c, "vn-dossier");
    let (excluded, missing) = excluded_and_missing(f, &ProductProfile::default());
    assert!(excluded.is_empty(), "{excluded:?}");
    assert_eq!(
        missing.len(),
        f.items().iter().filter(|i| i.required).count()
    );
}

#[test]
fn answered_items_complete_a_dossier_and_drafts_do_not() {
    let c = catalog();
    let f = framework(&c, "imdrf-gmlp");
    let mut answers: Vec<_> = f
        .items()
        .iter()
        .map(|i| answer(&i.id, code("met"), ""))
        .collect();
    answers[3].value = None;
    let checked = match f.check(&set(f, answers.clone())) {
        Ok(c) => c,
        Err(e) => panic!("{e:?}"),
    };
    let p = ProductProfile::default();
    let done = f
        .completeness(&checked, &p)
        .map(|c| (c.is_complete(), c.missing_required));
    assert_eq!(done.ok(), Some((false, vec!["gmlp-04".to_string()])));
    answers[3] = answer("gmlp-04", code("not_applicable"), "Justified");
    let checked = f.check(&set(f, answers)).ok();
    let complete = checked
        .and_then(|a| f.completeness(&a, &p).ok())
        .map(|c| c.is_complete());
    assert_eq!(complete, Some(true));
    // Answers to another framework are refused.
    let other = framework(&c, "who-ai-considerations");
    let theirs = other.check(&set(other, vec![])).ok();
    let refused = theirs.map(|a| f.completeness(&a, &p).is_err());
    assert_eq!(refused, Some(true));
}

#[test]
fn every_product_profile_partitions_the_items_and_unknown_values_ask_more() {
    let c = catalog();
    let f = framework(&c, "vn-dossier");
    fn with_none<T: Copy>(all: &[T]) -> Vec<Option<T>> {
        std::iter::once(None)
            .chain(all.iter().copied().map(Some))
            .collect()
    }
    let mut profiles = Vec::new();
    for &vn_device_class in &with_none(VnDeviceClass::ALL) {
        for &vn_ai_tier in &with_none(VnAiTier::ALL) {
            for &ai_kind in &with_none(AiKind::ALL) {
                for &origin in &with_none(ProductOrigin::ALL) {
                    for &intended_users in &with_none(IntendedUsers::ALL) {
                        profiles.push(ProductProfile {
                            vn_device_class,
                            vn_ai_tier,
                            ai_kind,
                            origin,
                            intended_users,
                        });
                    }
                }
            }
        }
    }
    assert_eq!(profiles.len(), 5 * 4 * 4 * 3 * 4);
    let empty = match f.check(&set(f, vec![])) {
        Ok(a) => a,
        Err(e) => panic!("{e:?}"),
    };
    let asked = |p: &ProductProfile| -> std::collections::BTreeSet<String> {
        let Ok(done) = f.completeness(&empty, p) else {
            panic!("completeness refused its own framework");
        };
        // Every item lands in exactly one list.
        let mut all: Vec<_> = [
            &done.excluded,
            &done.missing_required,
            &done.missing_optional,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        all.sort();
        let mut ids: Vec<_> = f.items().iter().map(|i| i.id.clone()).collect();
        ids.sort();
        assert_eq!(all, ids, "{p:?}");
        let missing = done.missing_required;
        missing.into_iter().collect()
    };
    for p in &profiles {
        let here = asked(p);
        // The classification and model card items are asked of every product.
        for id in ["vn-classification", "ai-model-card", "ai-law-tier"] {
            assert!(here.contains(id), "{id} not asked of {p:?}");
        }
        // Exactly one of the two legal routes once the class is known.
        if p.vn_device_class.is_some() {
            let routes = ["vn-declaration-ab", "vn-registration-cd"]
                .iter()
                .filter(|id| here.contains(**id))
                .count();
            assert_eq!(routes, 1, "{p:?}");
        }
        // Forgetting the class never asks fewer items.
        let unknown_class = ProductProfile {
            vn_device_class: None,
            ..*p
        };
        assert!(asked(&unknown_class).is_superset(&here), "{p:?}");
    }
}

#[test]
fn a_reviewer_assessment_is_compared_with_the_vendor_answers() {
    let c = catalog();
    let f = framework(&c, "imdrf-gmlp");
    let vendor = f.check(&set(
        f,
        vec![
            answer("gmlp-01", code("met"), ""),
            answer("gmlp-02", code("met"), ""),
            answer("gmlp-03", code("met"), ""),
        ],
    ));
    let reviewer = f.check(&set(
        f,
        vec![
            answer("gmlp-01", code("met"), "Agreed"),
            answer("gmlp-02", code("partly_met"), "No SBOM"),
            answer(
                "gmlp-04",
                code("not_met"),
                "Same hospital in train and test",
            ),
        ],
    ));
    let (Ok(vendor), Ok(reviewer)) = (vendor, reviewer) else {
        panic!("answers rejected");
    };
    let differing = reviewer.differing_items(&vendor);
    assert_eq!(
        differing,
        Ok(vec!["gmlp-02".into(), "gmlp-03".into(), "gmlp-04".into()])
    );
    let other = framework(&c, "who-ai-considerations");
    let theirs = other.check(&set(other, vec![])).ok();
    assert_eq!(
        theirs.map(|t| reviewer.differing_items(&t).is_err()),
        Some(true)
    );
}

// ---------------------------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------------------------

#[test]
fn a_new_version_does_not_break_old_answers() {
    let v2 = MINIMAL_COMPLIANCE
        .replace("version = 1", "version = 2")
        .replace("id = \"class-cd\"", "id = \"renamed\"");
    let c = match Catalog::from_files(&[
        ("test-dossier/v1.toml", MINIMAL_COMPLIANCE),
        ("test-dossier/v2.toml", &v2),
    ]) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(c.versions("test-dossier"), vec![1, 2]);
    assert_eq!(c.latest("test-dossier").map(|f| f.version()), Some(2));
    let old = AnswerSet {
        framework_id: "test-dossier".into(),
        framework_version: 1,
        answers: vec![
            answer("first", code("met"), ""),
            answer("class-cd", code("not_met"), ""),
        ],
    };
    let checked = match c.check(&old) {
        Ok(a) => a,
        Err(e) => panic!("{e:?}"),
    };
    // The same answers claimed against v2 are caught, not silently misread.
    let as_v2 = AnswerSet {
        framework_version: 2,
        ..old.clone()
    };
    let codes: Vec<_> = problem_codes(&c, &as_v2).into_iter().map(|p| p.2).collect();
    assert_eq!(codes, vec!["unknown_item"]);
    // Carrying over keeps what still exists and leaves the rest open.
    let v2f = c.latest("test-dossier").map(|f| f.carry_over(&checked));
    let carried = v2f.map(|s| s.answers.into_iter().map(|a| a.item_id).collect::<Vec<_>>());
    assert_eq!(carried, Some(vec!["first".to_string()]));
}

// ---------------------------------------------------------------------------------------------
// Navigator scoring
// ---------------------------------------------------------------------------------------------

fn minimal_maturity() -> Framework {
    parse_ok("test-readiness/v1.toml", MINIMAL_MATURITY)
}

fn levels(f: &Framework, values: &[(&str, i64)]) -> vigilo_core::checklist::CheckedAnswers {
    let answers = values
        .iter()
        .map(|(i, l)| answer(i, level(*l), ""))
        .collect();
    match f.check(&set(f, answers)) {
        Ok(a) => a,
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn domain_level_is_the_lowest_item_level_and_overall_the_lowest_domain() {
    let f = minimal_maturity();
    let a = levels(&f, &[("gov-a", 2), ("gov-b", 1), ("val-a", 2)]);
    let s = match f.score(&a, 2) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let domains: Vec<_> = s
        .domains
        .iter()
        .map(|d| (d.section.as_str(), d.level, d.mean))
        .collect();
    assert_eq!(domains, vec![("gov", 1, 1.5), ("val", 2, 2.0)]);
    assert_eq!(s.overall, 1);
    assert!((s.overall_mean - 1.75).abs() < 1e-12);
    assert_eq!(s.unanswered, 0);
    assert_eq!(s.gaps.len(), 1);
    assert_eq!(s.gaps[0].item, "gov-b");
    assert_eq!(s.gaps[0].level, Some(1));
    assert_eq!(
        s.gaps[0].blueprint.as_deref(),
        Some("blueprint-governance-policy")
    );
}

#[test]
fn unanswered_items_count_as_zero_and_are_gaps() {
    let f = minimal_maturity();
    let a = levels(&f, &[("gov-a", 2), ("gov-b", 2)]);
    let s = match f.score(&a, 1) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(s.unanswered, 1);
    assert_eq!(s.overall, 0);
    assert_eq!(s.domains[0].level, 2);
    assert_eq!(s.gaps.len(), 1);
    assert_eq!(s.gaps[0].level, None);
    assert_eq!(
        s.gaps[0].blueprint.as_deref(),
        Some("blueprint-local-validation")
    );
}

#[test]
fn gaps_come_lowest_first_and_none_at_target_zero() {
    let f = minimal_maturity();
    let a = levels(&f, &[("gov-a", 1), ("gov-b", 0), ("val-a", 1)]);
    let gaps = f
        .score(&a, 2)
        .map(|s| s.gaps.into_iter().map(|g| g.item).collect::<Vec<_>>());
    assert_eq!(
        gaps,
        Ok(vec!["gov-b".into(), "gov-a".into(), "val-a".into()])
    );
    assert_eq!(f.score(&a, 0).map(|s| s.gaps.len()), Ok(0));
}

#[test]
fn scoring_refuses_bad_targets_and_compliance_frameworks() {
    let f = minimal_maturity();
    let a = levels(&f, &[]);
    assert_eq!(
        f.score(&a, 3).err(),
        Some(ScoreError::TargetAboveScale { target: 3, top: 2 })
    );
    let c = catalog();
    let g = framework(&c, "imdrf-gmlp");
    let ga = g.check(&set(g, vec![])).ok();
    assert_eq!(
        ga.map(|a| g.score(&a, 0).err()),
        Some(Some(ScoreError::NotAMaturityFramework))
    );
    assert_eq!(
        levels(&f, &[]).framework_id(),
        "test-readiness",
        "sanity: answers belong to the test framework"
    );
    let nav = framework(&c, "navigator-readiness");
    assert_eq!(nav.score(&a, 0).err(), Some(ScoreError::WrongFramework));
}

#[test]
fn the_navigator_scores_a_sample_facility() {
    let c = catalog();
    let f = framework(&c, "navigator-readiness");
    // Everything at 3 except staff training before use at 1.
    let answers: Vec<_> = f
        .items()
        .iter()
        .map(|i| {
            answer(
                &i.id,
                level(if i.id == "train-before-use" { 1 } else { 3 }),
                "",
            )
        })
        .collect();
    let a = match f.check(&set(f, answers)) {
        Ok(a) => a,
        Err(e) => panic!("{e:?}"),
    };
    let s = match f.score(&a, 3) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(s.overall, 1);
    for d in &s.domains {
        assert_eq!(
            d.level,
            if d.section == "training" { 1 } else { 3 },
            "{}",
            d.section
        );
    }
    assert_eq!(s.gaps.len(), 1);
    assert_eq!(s.gaps[0].item, "train-before-use");
    assert_eq!(
        s.gaps[0].blueprint.as_deref(),
        Some("blueprint-governance-policy")
    );
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fn navigator() -> &'static Framework {
    // Parsed once: proptest calls this for every case.
    static NAVIGATOR: std::sync::OnceLock<Framework> = std::sync::OnceLock::new();
    NAVIGATOR.get_or_init(|| match catalog().latest("navigator-readiness") {
        Some(f) => f.clone(),
        None => panic!("navigator-readiness missing"),
    })
}

/// For each navigator item: unanswered or a level 0..=4.
fn assessment() -> impl Strategy<Value = Vec<Option<u8>>> {
    let n = navigator().items().len();
    prop::collection::vec(prop::option::of(0u8..=4), n)
}

fn to_answers(f: &Framework, values: &[Option<u8>]) -> vigilo_core::checklist::CheckedAnswers {
    let answers = f
        .items()
        .iter()
        .zip(values)
        .map(|(i, v)| answer(&i.id, v.map(|l| AnswerValue::Level(i64::from(l))), ""))
        .collect();
    match f.check(&set(f, answers)) {
        Ok(a) => a,
        Err(e) => panic!("{e:?}"),
    }
}

proptest! {
    #[test]
    fn scores_stay_within_the_scale(values in assessment(), target in 0u8..=4) {
        let f = navigator();
        let s = f.score(&to_answers(f, &values), target);
        prop_assert!(s.is_ok());
        let Ok(s) = s else { return Ok(()) };
        prop_assert!(s.overall <= s.top);
        prop_assert!((0.0..=f64::from(s.top)).contains(&s.overall_mean));
        for d in &s.domains {
            prop_assert!(d.level <= s.top);
            prop_assert!(f64::from(d.level) <= d.mean + 1e-12);
            prop_assert!(s.overall <= d.level);
        }
        for g in &s.gaps {
            prop_assert!(g.level.unwrap_or(0) < target);
            prop_assert!(g.blueprint.is_some());
        }
        prop_assert_eq!(s.unanswered, values.iter().filter(|v| v.is_none()).count());
    }

    #[test]
    fn a_better_answer_never_lowers_a_level(
        values in assessment(),
        pick in any::<prop::sample::Index>(),
        raise in 1u8..=4,
    ) {
        let f = navigator();
        let i = pick.index(values.len());
        let mut better = values.clone();
        better[i] = Some(values[i].map_or(raise, |v| v.saturating_add(raise).min(4)));
        let (Ok(before), Ok(after)) = (
            f.score(&to_answers(f, &values), 4),
            f.score(&to_answers(f, &better), 4),
        ) else {
            return Err(TestCaseError::fail("scoring failed"));
        };
        prop_assert!(after.overall >= before.overall);
        prop_assert!(after.overall_mean >= before.overall_mean - 1e-12);
        prop_assert!(after.gaps.len() <= before.gaps.len());
        for (b, a) in before.domains.iter().zip(&after.domains) {
            prop_assert!(a.level >= b.level, "{} went from {} to {}", a.section, b.level, a.level);
            prop_assert!(a.mean >= b.mean - 1e-12);
        }
    }

    #[test]
    fn unknown_items_and_out_of_range_levels_are_rejected(
        id in "[a-z][a-z0-9-]{0,20}",
        value in any::<i64>(),
    ) {
        let f = navigator();
        let known = f.item(&id).is_some();
        let result = f.check(&set(f, vec![answer(&id, level(value), "")]));
        prop_assert_eq!(result.is_ok(), known && (0..=4).contains(&value));
        if !known {
            let codes: Vec<_> = result.err().unwrap_or_default().iter().map(|e| e.problem.code()).collect();
            prop_assert_eq!(codes, vec!["unknown_item"]);
        }
    }
}
