//! The Navigator over the shipped readiness framework: blueprints for every gap, evaluation
//! of drafts and complete assessments, bad input, and old assessments under a new version.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use std::collections::BTreeSet;
use vigilo_core::checklist::{
    AnswerSet, AnswerValue, Catalog, ItemAnswer, BLUEPRINT_IDS, BUILTIN_FILES,
};
use vigilo_core::navigator::{
    builtin_blueprints, evaluate, gaps_below, next_target, parse_blueprints, NavigatorError,
    READINESS_FRAMEWORK,
};

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn answers(version: u32, values: &[(&str, AnswerValue)]) -> AnswerSet {
    AnswerSet {
        framework_id: READINESS_FRAMEWORK.into(),
        framework_version: version,
        answers: values
            .iter()
            .map(|(id, v)| ItemAnswer {
                item_id: id.to_string(),
                value: Some(v.clone()),
                comment: String::new(),
                evidence: vec![],
            })
            .collect(),
    }
}

fn all_at(c: &Catalog, level: i64) -> AnswerSet {
    let f = c.latest(READINESS_FRAMEWORK).unwrap();
    AnswerSet {
        framework_id: f.id().into(),
        framework_version: f.version(),
        answers: f
            .items()
            .iter()
            .map(|i| ItemAnswer {
                item_id: i.id.clone(),
                value: Some(AnswerValue::Level(level)),
                comment: String::new(),
                evidence: vec![],
            })
            .collect(),
    }
}

#[test]
fn every_blueprint_is_described_in_both_languages_and_used() {
    let bps = builtin_blueprints().unwrap();
    let ids: BTreeSet<&str> = bps.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, BLUEPRINT_IDS.iter().copied().collect());
    for b in &bps {
        assert_ne!(b.title.vi, b.title.en, "{}", b.id);
        assert_ne!(b.covers.vi, b.covers.en, "{}", b.id);
        assert!(!b.sources.is_empty(), "{}", b.id);
    }
    // Every blueprint closes at least one readiness gap, and every domain has one.
    let c = catalog();
    let f = c.latest(READINESS_FRAMEWORK).unwrap();
    let used: BTreeSet<&str> = f
        .items()
        .iter()
        .filter_map(|i| f.blueprint_for(i))
        .collect();
    assert_eq!(used, ids);
    assert_eq!(
        f.items()
            .iter()
            .filter(|i| f.blueprint_for(i).is_none())
            .count(),
        0
    );
}

#[test]
fn the_readiness_framework_has_the_eight_domains() {
    let c = catalog();
    let f = c.latest(READINESS_FRAMEWORK).unwrap();
    let domains: Vec<&str> = f.sections().iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        domains,
        [
            "governance",
            "procurement",
            "local-validation",
            "data-security",
            "training",
            "monitoring",
            "patient-info",
            "equity"
        ]
    );
    for i in f.items() {
        assert!(!i.question.vi.is_empty() && !i.question.en.is_empty());
        assert!(!i.guidance.vi.is_empty() && !i.guidance.en.is_empty());
        assert!(!i.evidence.is_empty());
        assert_eq!(i.level_descriptions.len(), 5, "{}", i.id);
    }
}

#[test]
fn broken_blueprint_catalogues_are_refused() {
    for (src, needle) in [
        ("blueprints = 3", "invalid type"),
        ("[[blueprints]]\nid = \"blueprint-x\"\ntitle = { vi = \"a\", en = \"b\" }\ncovers = { vi = \"a\", en = \"b\" }\n", "'blueprint-x' is not one of"),
        ("[[blueprints]]\nid = \"blueprint-patient-info\"\ntitle = { vi = \"\", en = \"b\" }\ncovers = { vi = \"a\", en = \"b\" }\n", "title needs vi and en"),
        ("[[blueprints]]\nid = \"blueprint-patient-info\"\ntitle = { vi = \"a\", en = \"b\" }\ncovers = { vi = \"a\", en = \"b\" }\n", "'blueprint-governance-policy' is not described"),
    ] {
        match parse_blueprints(src) {
            Err(NavigatorError::Blueprints(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{src}: {other:?}"),
        }
    }
}

#[test]
fn an_empty_draft_is_level_zero_with_every_item_a_gap() {
    let c = catalog();
    let e = evaluate(&c, &answers(1, &[])).unwrap();
    let f = c.get(READINESS_FRAMEWORK, 1).unwrap();
    assert_eq!(e.score.overall, 0);
    assert_eq!(e.answered, 0);
    assert_eq!(e.score.unanswered, f.items().len());
    assert_eq!(e.score.domains.len(), 8);
    assert_eq!(gaps_below(&e.score, 1).len(), f.items().len());
    assert!(gaps_below(&e.score, 1)
        .iter()
        .all(|g| g.blueprint.is_some()));
    assert_eq!(next_target(&e.score), 1);
}

#[test]
fn levels_per_domain_and_overall_follow_the_lowest_item() {
    let c = catalog();
    let mut a = all_at(&c, 3);
    // Patient information: one item at 1 pulls the domain and the overall level to 1.
    for x in &mut a.answers {
        if x.item_id == "pat-consent" {
            x.value = Some(AnswerValue::Code("1".into()));
        }
        if x.item_id.starts_with("gov-") {
            x.value = Some(AnswerValue::Level(4));
        }
    }
    let e = evaluate(&c, &a).unwrap();
    assert_eq!(e.score.overall, 1);
    let level = |d: &str| {
        e.score
            .domains
            .iter()
            .find(|s| s.section == d)
            .unwrap()
            .level
    };
    assert_eq!(level("patient-info"), 1);
    assert_eq!(level("governance"), 4);
    assert_eq!(level("equity"), 3);
    let gaps = gaps_below(&e.score, 3);
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].item, "pat-consent");
    assert_eq!(gaps[0].blueprint.as_deref(), Some("blueprint-patient-info"));
    assert_eq!(next_target(&e.score), 2);
    // All at the top: no gaps even against the top.
    let top = evaluate(&c, &all_at(&c, 4)).unwrap();
    assert_eq!(top.score.overall, 4);
    assert!(top.score.gaps.is_empty());
    assert_eq!(next_target(&top.score), 4);
}

#[test]
fn bad_answers_are_refused_with_every_problem_named() {
    let c = catalog();
    let err = evaluate(
        &c,
        &answers(
            1,
            &[
                ("no-such-item", AnswerValue::Level(2)),
                ("gov-committee", AnswerValue::Level(5)),
                ("gov-policy", AnswerValue::Level(-1)),
                ("gov-inventory", AnswerValue::Code("yes".into())),
            ],
        ),
    )
    .unwrap_err();
    let NavigatorError::Answers(list) = &err else {
        panic!("{err:?}")
    };
    let codes: Vec<_> = list.iter().map(|e| e.problem.code()).collect();
    assert_eq!(
        codes,
        [
            "unknown_item",
            "out_of_range",
            "out_of_range",
            "not_on_scale"
        ]
    );
    assert_eq!(err.field(), "answers");
    // Unknown version and unknown framework.
    let err = evaluate(&c, &answers(99, &[])).unwrap_err();
    assert!(err.to_string().contains("known versions: [1]"), "{err}");
    let mut other = answers(1, &[]);
    other.framework_id = "no-such-framework".into();
    assert!(evaluate(&c, &other)
        .unwrap_err()
        .to_string()
        .contains("unknown framework"));
    // A compliance framework cannot be scored as readiness.
    let mut gmlp = answers(1, &[]);
    gmlp.framework_id = "imdrf-gmlp".into();
    assert!(matches!(evaluate(&c, &gmlp), Err(NavigatorError::Score(_))));
}

#[test]
fn old_assessments_keep_their_version_when_a_new_one_is_published() {
    let v1 = BUILTIN_FILES
        .iter()
        .find(|(n, _)| *n == "navigator-readiness/v1.toml")
        .unwrap()
        .1;
    // v2 drops one question and words another differently under a new id.
    let v2 = v1
        .replace("version = 1", "version = 2")
        .replace("id = \"eq-review\"", "id = \"eq-review-yearly\"");
    let mut files: Vec<(&str, &str)> = BUILTIN_FILES.to_vec();
    files.push(("navigator-readiness/v2.toml", &v2));
    let c = Catalog::from_files(&files).unwrap();
    assert_eq!(c.latest(READINESS_FRAMEWORK).unwrap().version(), 2);
    let old = all_at(&catalog(), 3);
    assert_eq!(old.framework_version, 1);
    let e1 = evaluate(&c, &old).unwrap();
    assert_eq!(e1.score.overall, 3);
    // Started again on v2 from the old answers: the renamed item is open, the rest carried.
    let checked = c.check(&old).unwrap();
    let carried = c.latest(READINESS_FRAMEWORK).unwrap().carry_over(&checked);
    let e2 = evaluate(&c, &carried).unwrap();
    assert_eq!(e2.score.unanswered, 1);
    assert_eq!(e2.score.overall, 0);
    assert_eq!(e2.score.gaps[0].item, "eq-review-yearly");
    // The old one, read again, is unchanged.
    assert_eq!(evaluate(&c, &old).unwrap(), e1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Levels stay on the scale, the overall is the lowest domain, a domain the lowest item,
    /// and the answered count is what was answered.
    #[test]
    fn evaluation_is_consistent(values in prop::collection::vec(prop::option::of(0i64..=4), 26)) {
        let c = catalog();
        let f = c.latest(READINESS_FRAMEWORK).unwrap();
        let items = f.items();
        let set = AnswerSet {
            framework_id: f.id().into(),
            framework_version: f.version(),
            answers: items.iter().zip(values.iter().cycle()).map(|(i, v)| ItemAnswer {
                item_id: i.id.clone(),
                value: v.map(AnswerValue::Level),
                comment: String::new(),
                evidence: vec![],
            }).collect(),
        };
        let e = evaluate(&c, &set).unwrap();
        prop_assert!(e.score.overall <= 4);
        prop_assert_eq!(e.score.overall, e.score.domains.iter().map(|d| d.level).min().unwrap());
        for d in &e.score.domains {
            let lowest = items.iter().zip(values.iter().cycle())
                .filter(|(i, _)| i.section == d.section)
                .map(|(_, v)| v.unwrap_or(0))
                .min().unwrap();
            prop_assert_eq!(i64::from(d.level), lowest);
        }
        let answered = items.iter().zip(values.iter().cycle()).filter(|(_, v)| v.is_some()).count();
        prop_assert_eq!(e.answered, answered);
        prop_assert_eq!(e.score.unanswered, items.len() - answered);
    }
}
