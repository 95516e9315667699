//! Demo monitoring data: LaoScan (the tuberculosis screening demo product, licensed for a
//! pilot in Hà Nội and Bắc Ninh) rolled out to every commune and ward health station of the
//! two provinces in phases, with monthly reports since go-live. Volumes follow the seasons,
//! some stations miss months, and from July 2026 the stations of Bắc Ninh that changed
//! X-ray devices see specificity fall: more positive outputs and more false positives,
//! the problem the monitoring alerts are there to find.

use anyhow::{anyhow, Result};
use time::macros::date;
use time::{Date, Duration};
use vigilo_core::monitoring::{Declaration, ReportInput, TrainingRecord};
use vigilo_core::period::{Period, PeriodKind};
use vigilo_core::OrgKind;
use vigilo_stats::rng::SeededRng;
use vigilo_store::{NewDeployment, NewOrganisation, Store, Submitter};

/// Hà Nội goes live first; Bắc Ninh half a year later, so it serves as the not-yet-deployed
/// comparison in the meantime.
const WAVES: [(&str, Date); 2] = [("01", date!(2025 - 06 - 01)), ("24", date!(2025 - 12 - 01))];
/// When the device change in Bắc Ninh starts to show.
const DEVICE_CHANGE: Date = date!(2026 - 07 - 01);

pub async fn load(store: &Store, product_id: &str, version_id: &str) -> Result<usize> {
    let admin = store
        .user_by_username("admin")
        .await?
        .ok_or_else(|| anyhow!("demo admin missing"))?;
    let actor = admin.id.clone();
    let today = store.now().date();
    let mut rng = SeededRng::new(20_251_201);
    let mut declaration = Declaration::standard();
    declaration.counters.push("confirmatory_tests".into());
    store
        .set_declaration(&actor, version_id, &declaration)
        .await?;
    let mut deployments = Vec::new();
    for (province, first_go_live) in WAVES {
        let communes = store.admin_unit_children(province).await?;
        for (i, unit) in communes.iter().enumerate() {
            let code = format!("DEMO-TYT-{}", unit.code);
            let facility = match store.organisation_by_code(&code).await? {
                Some(o) => o,
                None => {
                    store
                        .create_organisation(
                            &actor,
                            NewOrganisation {
                                code: code.clone(),
                                kind: OrgKind::Facility,
                                name: format!("Trạm Y tế {} (dữ liệu mẫu)", unit.name),
                                name_en: Some(format!(
                                    "{} health station (demo data)",
                                    unit.short_name
                                )),
                                admin_unit_code: Some(unit.code.clone()),
                            },
                        )
                        .await?
                }
            };
            // Three monthly waves inside each province.
            let go_live = add_months(first_go_live, (i % 3) as i32);
            store
                .record_training(
                    &actor,
                    &facility.id,
                    product_id,
                    &TrainingRecord {
                        trained_on: go_live - Duration::days(14),
                        course: "Sử dụng LaoScan trong sàng lọc lao tại trạm y tế".into(),
                        staff_trained: 2 + (rng.below(4) as u32),
                    },
                )
                .await?;
            let d = store
                .create_deployment(
                    &actor,
                    &NewDeployment {
                        version_id,
                        facility_id: &facility.id,
                        go_live,
                        end_date: None,
                        frequency: PeriodKind::Month,
                    },
                )
                .await?;
            deployments.push((d, province));
        }
    }
    // Reports grouped by the day they arrive: most within the 10 days allowed, some late.
    let mut arrivals: std::collections::BTreeMap<Date, Vec<ReportInput>> = Default::default();
    for (d, province) in &deployments {
        let Some(go_live) = d.go_live_date() else {
            continue;
        };
        let size = 40.0 + rng.next_f64() * 120.0;
        let last = Period::containing(PeriodKind::Month, today).previous();
        for period in Period::range(PeriodKind::Month, go_live, last.start()) {
            // About one station-month in twelve goes unreported.
            if rng.below(12) == 0 {
                continue;
            }
            let month = f64::from(u8::from(period.start().month()));
            // More cough and screening in the cool, damp months.
            let season = 1.0 + 0.25 * ((month - 1.0) / 12.0 * std::f64::consts::TAU).cos();
            let uses = ((size * season) * (0.85 + 0.3 * rng.next_f64())).round() as i64;
            let drifted = *province == "24" && period.start() >= DEVICE_CHANGE;
            let prevalence = 0.03;
            let (sens, spec) = if drifted { (0.90, 0.78) } else { (0.91, 0.93) };
            let sick = binomial(&mut rng, uses, prevalence);
            let well = uses - sick;
            let tp_all = binomial(&mut rng, sick, sens);
            let fp_all = binomial(&mut rng, well, 1.0 - spec);
            let positives = tp_all + fp_all;
            // Most positives get a confirmatory test; a sample of negatives is followed up.
            let tested = binomial(&mut rng, positives, 0.85);
            let tp = (tp_all * tested).checked_div(positives).unwrap_or(0);
            let fp = tested - tp;
            let followed = binomial(&mut rng, uses - positives, 0.4);
            let fn_ = binomial(
                &mut rng,
                followed,
                ((sick - tp_all) as f64 / (uses - positives).max(1) as f64).min(1.0),
            );
            let tn = followed - fn_;
            let scores = score_histogram(&mut rng, uses, positives, drifted);
            let young = binomial(&mut rng, uses, 0.08);
            let old = binomial(&mut rng, uses - young, 0.35);
            let teen = binomial(&mut rng, uses - young - old, 0.15);
            let adults = uses - young - old - teen;
            let ages = vec![0, young, teen, adults / 2, adults - adults / 2, old, 0, 0];
            let women = binomial(&mut rng, uses, 0.46);
            let mut r = ReportInput {
                deployment: d.id.clone(),
                period: period.to_string(),
                uses,
                positives,
                tp: Some(tp),
                fp: Some(fp),
                fn_: Some(fn_),
                tn: Some(tn),
                overrides: binomial(&mut rng, positives, 0.12),
                escalations: binomial(&mut rng, positives, 0.6),
                downtime_minutes: if rng.below(10) == 0 {
                    rng.below(600) as i64
                } else {
                    0
                },
                latency_p50_ms: Some(800.0 + rng.next_f64() * 400.0),
                latency_p95_ms: Some(2_500.0 + rng.next_f64() * 1_500.0),
                score_histogram: scores,
                ..ReportInput::default()
            };
            r.counters.insert("confirmatory_tests".into(), tested);
            r.mix.insert("age_band".into(), ages);
            r.mix.insert("sex".into(), vec![women, uses - women, 0]);
            let delay = [2, 4, 6, 8, 9, 13, 25][rng.below(7) as usize];
            let day = (period.end() + Duration::days(delay)).min(today);
            arrivals.entry(day).or_default().push(r);
        }
    }
    let who = Submitter {
        user_id: actor,
        facility_id: None,
    };
    let now = store.now();
    let mut rows = 0;
    for (day, reports) in arrivals {
        rows += reports.len();
        let at = day
            .with_time(time::macros::time!(9:00))
            .assume_utc()
            .min(now);
        let receipt = store
            .ingest_reports_received(
                &who,
                "demo",
                reports.into_iter().map(Ok).collect(),
                Some(at),
            )
            .await?;
        if receipt.rejected > 0 {
            let first = receipt.rows.iter().find(|r| r.status == "rejected");
            return Err(anyhow!("demo monitoring report rejected: {first:?}"));
        }
    }
    Ok(rows)
}

fn add_months(d: Date, n: i32) -> Date {
    let m = i32::from(u8::from(d.month())) - 1 + n;
    let year = d.year() + m.div_euclid(12);
    let month = time::Month::try_from((m.rem_euclid(12) + 1) as u8).unwrap_or(time::Month::January);
    Date::from_calendar_date(year, month, 1).unwrap_or(d)
}

/// A binomial draw by summing Bernoulli trials; counts here are small.
fn binomial(rng: &mut SeededRng, n: i64, p: f64) -> i64 {
    (0..n.max(0)).filter(|_| rng.next_f64() < p).count() as i64
}

/// Ten score bins over [0, 1] with the threshold at 0.5: the positives spread over the top
/// five bins, the negatives over the bottom five, skewed towards the extremes; after the
/// device change the negatives creep up towards the threshold.
fn score_histogram(rng: &mut SeededRng, uses: i64, positives: i64, drifted: bool) -> Vec<i64> {
    let low: [f64; 5] = if drifted {
        [0.30, 0.22, 0.18, 0.16, 0.14]
    } else {
        [0.45, 0.25, 0.14, 0.10, 0.06]
    };
    let high: [f64; 5] = [0.12, 0.14, 0.18, 0.24, 0.32];
    let mut out = vec![0; 10];
    for _ in 0..(uses - positives) {
        out[pick(rng, &low)] += 1;
    }
    for _ in 0..positives {
        out[5 + pick(rng, &high)] += 1;
    }
    out
}

fn pick(rng: &mut SeededRng, weights: &[f64; 5]) -> usize {
    let mut x = rng.next_f64() * weights.iter().sum::<f64>();
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    4
}
