//! The demo's Navigator: readiness self-assessments for a sample of stations in six provinces
//! (each province with its own typical level, stations spread around it, so the map shows a
//! range from 0 to 4), two provincial health departments, the demo reporter's station with a
//! submitted assessment and an open draft, a general AI course with province-wide sessions,
//! and the regulator's minimum level for high-risk tools set to 2. Demo data, not real.

use anyhow::{anyhow, Result};
use vigilo_core::checklist::{AnswerSet, AnswerValue, Catalog, ItemAnswer};
use vigilo_core::navigator::{
    FacilityType, NewCourse, NewSession, ReadinessRule, RoleCount, StaffRole, READINESS_FRAMEWORK,
};
use vigilo_core::OrgKind;
use vigilo_stats::rng::SeededRng;
use vigilo_store::{NewOrganisation, Store};

/// Stations assessed per province.
const PER_PROVINCE: usize = 8;
/// Provinces with assessments, and the level their stations are typically at.
const PROVINCE_LEVELS: &[u8] = &[3, 1, 2, 0, 4, 2];

pub struct NavigatorSummary {
    pub assessments: usize,
}

fn answers(catalog: &Catalog, typical: u8, rng: &mut SeededRng) -> Result<AnswerSet> {
    let f = catalog
        .latest(READINESS_FRAMEWORK)
        .ok_or_else(|| anyhow!("{READINESS_FRAMEWORK} missing"))?;
    let top = f.scale().top_level().unwrap_or(4);
    Ok(AnswerSet {
        framework_id: f.id().into(),
        framework_version: f.version(),
        answers: f
            .items()
            .iter()
            .map(|i| {
                // Most practices at the typical level, some one above (never below, so the
                // typical level is the overall one the map shows).
                let up = u8::from(rng.below(3) == 0);
                ItemAnswer {
                    item_id: i.id.clone(),
                    value: Some(AnswerValue::Level(i64::from((typical + up).min(top)))),
                    comment: String::new(),
                    evidence: vec![],
                }
            })
            .collect(),
    })
}

async fn assess(
    store: &Store,
    catalog: &Catalog,
    actor: &str,
    org: &str,
    set: &AnswerSet,
    submit: bool,
) -> Result<()> {
    let a = store.open_assessment(actor, org, catalog).await?;
    let saved = store
        .save_assessment(actor, &a.id, a.revision, set, catalog)
        .await?;
    if submit {
        store
            .submit_assessment(actor, &a.id, saved.revision, catalog)
            .await?;
    }
    Ok(())
}

pub async fn load(store: &Store) -> Result<NavigatorSummary> {
    let catalog = Catalog::builtin()?;
    let admin = store
        .user_by_username("admin")
        .await?
        .ok_or_else(|| anyhow!("demo admin missing"))?;
    let actor = admin.id;
    let mut rng = SeededRng::new(20_260_109);
    let mut provinces = store
        .admin_unit_children(vigilo_core::admin_units::NATION_CODE)
        .await?;
    provinces.sort_by(|a, b| a.code.cmp(&b.code));

    // Every demo station is a commune or ward health station.
    let mut types = Vec::new();
    let mut sample: Vec<(String, u8)> = Vec::new();
    for (p, province) in provinces.iter().enumerate() {
        let mut n = 0;
        for u in store.admin_unit_children(&province.code).await? {
            let Some(org) = store
                .organisation_by_code(&format!("DEMO-TYT-{}", u.code))
                .await?
            else {
                continue;
            };
            types.push((org.id.clone(), FacilityType::CommuneStation));
            if let Some(level) = PROVINCE_LEVELS.get(p) {
                if n < PER_PROVINCE {
                    // Stations around the province's level: one below, most at it, one above.
                    let spread = match n % 4 {
                        0 => level.saturating_sub(1),
                        3 => (level + 1).min(4),
                        _ => *level,
                    };
                    sample.push((org.id, spread));
                    n += 1;
                }
            }
        }
    }
    store.set_facility_types(&actor, &types).await?;

    let mut count = 0;
    for (org, level) in &sample {
        let set = answers(&catalog, *level, &mut rng)?;
        assess(store, &catalog, &actor, org, &set, true).await?;
        count += 1;
    }

    // The demo reporter's station: a submitted assessment at level 1 and a draft under way.
    if let Some(station) = store
        .user_by_username("reporter")
        .await?
        .and_then(|u| u.organisation_id)
    {
        let first = answers(&catalog, 1, &mut rng)?;
        assess(store, &catalog, &actor, &station, &first, true).await?;
        let mut better = answers(&catalog, 2, &mut rng)?;
        // Half answered: a draft.
        better.answers.truncate(better.answers.len() / 2);
        assess(store, &catalog, &actor, &station, &better, false).await?;
        count += 2;
    }

    // Two provincial health departments assess themselves too.
    for (i, province) in provinces.iter().take(2).enumerate() {
        let code = format!("DEMO-SYT-{}", province.code);
        let org = match store.organisation_by_code(&code).await? {
            Some(o) => o,
            None => {
                store
                    .create_organisation(
                        &actor,
                        NewOrganisation {
                            code,
                            kind: OrgKind::Regulator,
                            name: format!("Sở Y tế {} (dữ liệu mẫu)", province.short_name),
                            name_en: Some(format!(
                                "{} health department (demo data)",
                                province.short_name
                            )),
                            admin_unit_code: Some(province.code.clone()),
                        },
                    )
                    .await?
            }
        };
        let set = answers(&catalog, 2 + i as u8, &mut rng)?;
        assess(store, &catalog, &actor, &org.id, &set, true).await?;
        count += 1;
    }

    // A general course and province-wide sessions (not tied to one tool or station).
    let course = store
        .create_course(
            &actor,
            &NewCourse {
                title: "AI trong chăm sóc sức khỏe ban đầu: sử dụng an toàn (mẫu)".into(),
                audience: vec![
                    StaffRole::Doctor,
                    StaffRole::Nurse,
                    StaffRole::CommuneHealthWorker,
                ],
                hours: 8.0,
                provider: "Trung tâm Thông tin Y tế Quốc gia (mẫu)".into(),
                product_id: None,
            },
        )
        .await?;
    let today = store.now().date();
    for (i, province) in provinces.iter().take(PROVINCE_LEVELS.len()).enumerate() {
        store
            .record_session(
                &actor,
                &NewSession {
                    course_id: course.id.clone(),
                    facility_id: None,
                    province_code: Some(province.code.clone()),
                    held_on: today - time::Duration::days(30 + 14 * i as i64),
                    trained: vec![
                        RoleCount {
                            role: StaffRole::Doctor,
                            count: 40 + 10 * i as u32,
                        },
                        RoleCount {
                            role: StaffRole::CommuneHealthWorker,
                            count: 120,
                        },
                    ],
                },
            )
            .await?;
    }
    store
        .set_readiness_rule(
            &actor,
            ReadinessRule {
                min_level_high_risk: 2,
            },
        )
        .await?;
    Ok(NavigatorSummary { assessments: count })
}
