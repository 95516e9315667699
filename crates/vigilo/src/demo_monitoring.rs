//! The demo's national pilot: six tools (tuberculosis screening, cardiovascular risk,
//! nutrition counselling, acute kidney injury, respiratory distress, a virtual assistant)
//! rolled out to a health station in each of the 3,321 communes, wards and special zones,
//! province by province in six waves from May 2025, with monthly reports since go-live.
//! Volumes follow the seasons, about one station-month in twelve goes unreported and some
//! reports arrive late. Two problems are injected for the alerts to find: from July 2026
//! LaoScan's specificity falls in Bắc Ninh after an X-ray device change (more positives,
//! more false positives, scores creeping up), and from August 2026 the commune assistant
//! escalates less and gives more unsafe answers in Đà Nẵng after a prompt update.
//! All fictional, clearly named as demo data.

use anyhow::{anyhow, Result};
use std::collections::BTreeMap;
use time::macros::date;
use time::{Date, Duration, OffsetDateTime};
use vigilo_core::monitoring::{
    Declaration, DeploymentStatus, ReportInput, RolloutRow, TrainingRecord,
};
use vigilo_core::period::{Period, PeriodKind};
use vigilo_core::OrgKind;
use vigilo_stats::rng::SeededRng;
use vigilo_store::{NewOrganisation, Store, Submitter};

/// The first wave goes live on this day; each later wave two months after the previous.
const FIRST_GO_LIVE: Date = date!(2025 - 05 - 01);
const WAVES: u32 = 6;
const BAC_NINH: &str = "24";
const DA_NANG: &str = "48";
const DEVICE_CHANGE: Date = date!(2026 - 07 - 01);
const PROMPT_UPDATE: Date = date!(2026 - 08 - 01);

/// How one tool behaves at a typical station.
struct Tool {
    /// Index in the demo product list.
    product: usize,
    /// Uses per station and month, low and high.
    volume: (f64, f64),
    prevalence: f64,
    sensitivity: f64,
    specificity: f64,
    /// Share of positive outputs checked by a reference test, and of negatives followed up.
    verify_positive: f64,
    verify_negative: f64,
    override_rate: f64,
    escalation_of_positives: f64,
    scored: bool,
    counters: &'static [&'static str],
    course: &'static str,
}

const TOOLS: [Tool; 6] = [
    Tool {
        product: 0,
        // Active case finding: every adult with a cough or a risk factor gets an X-ray read by
        // the tool, hundreds a month at a busy station (enough for the impact assessment's
        // per-station windows).
        volume: (300.0, 900.0),
        prevalence: 0.04,
        sensitivity: 0.91,
        specificity: 0.93,
        verify_positive: 0.85,
        verify_negative: 0.4,
        override_rate: 0.1,
        escalation_of_positives: 0.6,
        scored: true,
        counters: &["confirmatory_tests"],
        course: "Sàng lọc lao với LaoScan tại trạm y tế",
    },
    Tool {
        product: 1,
        volume: (80.0, 260.0),
        prevalence: 0.12,
        sensitivity: 0.84,
        specificity: 0.8,
        verify_positive: 0.5,
        verify_negative: 0.2,
        override_rate: 0.15,
        escalation_of_positives: 0.5,
        scored: true,
        counters: &[],
        course: "Đánh giá nguy cơ tim mạch với TimViệt",
    },
    Tool {
        product: 2,
        volume: (30.0, 110.0),
        prevalence: 0.18,
        sensitivity: 0.8,
        specificity: 0.85,
        verify_positive: 0.3,
        verify_negative: 0.1,
        override_rate: 0.08,
        escalation_of_positives: 0.3,
        scored: false,
        counters: &["unsafe_answers"],
        course: "Tư vấn dinh dưỡng có hỗ trợ AI",
    },
    Tool {
        product: 3,
        volume: (4.0, 24.0),
        prevalence: 0.08,
        sensitivity: 0.88,
        specificity: 0.9,
        verify_positive: 0.9,
        verify_negative: 0.5,
        override_rate: 0.2,
        escalation_of_positives: 0.8,
        scored: true,
        counters: &[],
        course: "Cảnh báo tổn thương thận cấp",
    },
    Tool {
        product: 4,
        volume: (8.0, 40.0),
        prevalence: 0.1,
        sensitivity: 0.9,
        specificity: 0.87,
        verify_positive: 0.9,
        verify_negative: 0.5,
        override_rate: 0.12,
        escalation_of_positives: 0.85,
        scored: true,
        counters: &[],
        course: "Theo dõi SpO2 và suy hô hấp",
    },
    Tool {
        product: 5,
        volume: (150.0, 600.0),
        prevalence: 0.05,
        sensitivity: 0.0,
        specificity: 0.0,
        verify_positive: 0.0,
        verify_negative: 0.0,
        override_rate: 0.04,
        escalation_of_positives: 1.0,
        scored: false,
        counters: &["unsafe_answers"],
        course: "Sử dụng Trợ lý Y tế Xã an toàn",
    },
];

/// How much of the pilot to simulate.
#[derive(Debug, Clone, Copy)]
pub struct PilotOptions {
    /// How often stations report: months for the demo, days for the benchmark dataset
    /// (about ten million rows).
    pub frequency: PeriodKind,
    /// Without reports the deployments are ready for a load test to send them.
    pub reports: bool,
    /// At most this many stations per province (tests and CI want a quick demo); `None`
    /// is every commune, ward and special zone.
    pub stations_per_province: Option<usize>,
}

impl Default for PilotOptions {
    fn default() -> Self {
        PilotOptions {
            frequency: PeriodKind::Month,
            reports: true,
            stations_per_province: None,
        }
    }
}

/// What the pilot created, for the demo's summary.
pub struct PilotSummary {
    pub facilities: usize,
    pub deployments: usize,
    pub reports: usize,
}

fn add_months(d: Date, n: u32) -> Date {
    let m = i64::from(u8::from(d.month())) - 1 + i64::from(n);
    let year = d.year() + (m / 12) as i32;
    let month = time::Month::try_from((m % 12 + 1) as u8).unwrap_or(time::Month::January);
    Date::from_calendar_date(year, month, 1).unwrap_or(d)
}

/// `products` are `(product id, version id)` in the demo's product order.
pub async fn load(
    store: &Store,
    products: &[(String, String)],
    options: PilotOptions,
) -> Result<PilotSummary> {
    let admin = store
        .user_by_username("admin")
        .await?
        .ok_or_else(|| anyhow!("demo admin missing"))?;
    let actor = admin.id.clone();
    let today = store.now().date();
    let mut rng = SeededRng::new(20_250_501);
    let started = std::time::Instant::now();

    // One station per commune, ward and special zone.
    let mut provinces = store
        .admin_unit_children(vigilo_core::admin_units::NATION_CODE)
        .await?;
    // Waves by province code (north to south, roughly), not by name.
    provinces.sort_by(|a, b| a.code.cmp(&b.code));
    let mut units = Vec::new();
    for p in &provinces {
        for (i, u) in store
            .admin_unit_children(&p.code)
            .await?
            .into_iter()
            .enumerate()
        {
            // A station created before the pilot (the demo reporter's) always takes part.
            let existing = store
                .organisation_by_code(&format!("DEMO-TYT-{}", u.code))
                .await?
                .is_some();
            if options.stations_per_province.is_none_or(|cap| i < cap) || existing {
                units.push((p.code.clone(), u));
            }
        }
    }
    let mut new_orgs = Vec::new();
    let mut facilities: Vec<(String, String, String)> = Vec::new(); // (code, province, unit)
    for (province, u) in &units {
        let code = format!("DEMO-TYT-{}", u.code);
        if store.organisation_by_code(&code).await?.is_none() {
            new_orgs.push(NewOrganisation {
                code: code.clone(),
                kind: OrgKind::Facility,
                name: format!("Trạm Y tế {} (dữ liệu mẫu)", u.name),
                name_en: Some(format!("{} health station (demo data)", u.short_name)),
                admin_unit_code: Some(u.code.clone()),
            });
        }
        facilities.push((code, province.clone(), u.code.clone()));
    }
    store.create_organisations(&actor, new_orgs).await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo pilot: facilities"
    );
    let mut ids = BTreeMap::new();
    for (code, _, _) in &facilities {
        let org = store
            .organisation_by_code(code)
            .await?
            .ok_or_else(|| anyhow!("demo facility {code} missing"))?;
        ids.insert(code.clone(), org.id);
    }

    // Provinces in six waves, two months apart; within a province half the stations
    // start a month later, so each wave has a not-yet-deployed comparison.
    let wave_of = |province: &str| -> u32 {
        let i = provinces
            .iter()
            .position(|p| p.code == province)
            .unwrap_or(0) as u32;
        i * WAVES / (provinces.len().max(1) as u32)
    };
    let mut trainings = Vec::new();
    let mut plans: Vec<Vec<RolloutRow>> = vec![Vec::new(); TOOLS.len()];
    for (n, (code, province, _)) in facilities.iter().enumerate() {
        let facility = &ids[code];
        for (t, tool) in TOOLS.iter().enumerate() {
            let go_live = add_months(FIRST_GO_LIVE, 2 * wave_of(province) + (n % 2) as u32);
            if go_live > today {
                continue;
            }
            trainings.push((
                facility.clone(),
                products[tool.product].0.clone(),
                TrainingRecord {
                    trained_on: go_live - Duration::days(10 + (n % 7) as i64),
                    course: tool.course.into(),
                    staff_trained: 1 + (rng.below(4) as u32),
                },
            ));
            plans[t].push(RolloutRow {
                row: n + 2,
                facility_code: code.clone(),
                go_live,
                end_date: None,
                frequency: options.frequency,
            });
        }
    }
    store.record_trainings(&actor, &trainings).await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo pilot: training records"
    );
    let mut deployments = Vec::new();
    for (t, tool) in TOOLS.iter().enumerate() {
        let version = &products[tool.product].1;
        let mut declaration = Declaration::standard();
        if !tool.scored {
            declaration.score_edges.clear();
            declaration.positive_from_bin = 0;
        }
        declaration.counters = tool.counters.iter().map(|c| c.to_string()).collect();
        store.set_declaration(&actor, version, &declaration).await?;
        let made = store
            .create_rollout(&actor, version, &plans[t])
            .await?
            .map_err(|problems| anyhow!("demo rollout of tool {t}: {problems:?}"))?;
        deployments.extend(made.into_iter().map(|d| (t, d)));
    }

    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo pilot: deployments"
    );
    if !options.reports {
        return Ok(PilotSummary {
            facilities: facilities.len(),
            deployments: deployments.len(),
            reports: 0,
        });
    }
    // Reports period by period (the daily dataset does not fit in memory at once), each
    // batch received on the day it arrives.
    let sizes: Vec<f64> = deployments
        .iter()
        .map(|(t, _)| {
            let tool = &TOOLS[*t];
            tool.volume.0 + rng.next_f64() * (tool.volume.1 - tool.volume.0)
        })
        .collect();
    let who = Submitter {
        user_id: actor,
        facility_id: None,
    };
    let now = store.now();
    let last = Period::containing(options.frequency, today).previous();
    let mut reports = 0;
    let first = FIRST_GO_LIVE - Duration::days(9 * 31);
    for period in Period::range(options.frequency, first, last.start()) {
        let scale = period.days() as f64 / 30.44;
        let mut by_day: BTreeMap<Date, Vec<ReportInput>> = BTreeMap::new();
        for ((t, d), size) in deployments.iter().zip(&sizes) {
            let Some(go_live) = d.go_live_date() else {
                continue;
            };
            // LaoScan's stations also report the nine months before go-live (baseline, the usual
            // method), so the impact assessment has a before and not-yet-deployed comparisons.
            let baseline_from = go_live - Duration::days(9 * 31);
            let wanted = if *t == 0 {
                period.end() > baseline_from
            } else {
                period.end() > go_live
            };
            if !wanted || rng.below(12) == 0 {
                continue;
            }
            let baseline = period.end() <= go_live;
            let r = simulate(
                &mut rng,
                &TOOLS[*t],
                d.id.as_str(),
                &d.province_code,
                &period,
                size * scale,
                baseline,
            );
            let delay = [2, 4, 6, 8, 9, 13, 25][rng.below(7) as usize];
            let day = (period.end() + Duration::days(delay)).min(today);
            by_day.entry(day).or_default().push(r);
        }
        for (day, batch) in by_day {
            let at = day
                .with_time(time::macros::time!(9:00))
                .assume_utc()
                .min(now);
            for chunk in batch.chunks(5_000) {
                reports += chunk.len();
                ingest(store, &who, chunk, at).await?;
            }
        }
    }
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        reports,
        "demo pilot: reports"
    );
    Ok(PilotSummary {
        facilities: facilities.len(),
        deployments: deployments.len(),
        reports,
    })
}

async fn ingest(
    store: &Store,
    who: &Submitter,
    chunk: &[ReportInput],
    at: OffsetDateTime,
) -> Result<()> {
    let receipt = store
        .ingest_reports_received(
            who,
            "demo",
            chunk.iter().cloned().map(Ok).collect(),
            Some(at),
        )
        .await?;
    if receipt.rejected > 0 {
        let first = receipt.rows.iter().find(|r| r.status == "rejected");
        return Err(anyhow!("demo monitoring report rejected: {first:?}"));
    }
    Ok(())
}

/// Pauses every deployment of a product whose licence was suspended.
pub async fn pause_product(store: &Store, product_id: &str, reason: &str) -> Result<usize> {
    let mut n = 0;
    let mut after = None;
    loop {
        let page = store
            .deployments(&vigilo_store::DeploymentFilter {
                product_id: Some(product_id.into()),
                status: Some("active".into()),
                after: after.clone(),
                limit: 1000,
                ..Default::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for d in &page {
            store
                .set_deployment_status("system:demo", &d.id, DeploymentStatus::Paused, reason)
                .await?;
            n += 1;
        }
    }
    Ok(n)
}

fn simulate(
    rng: &mut SeededRng,
    tool: &Tool,
    deployment: &str,
    province: &str,
    period: &Period,
    size: f64,
    baseline: bool,
) -> ReportInput {
    let month = f64::from(u8::from(period.start().month()));
    // More cough, fever and clinic visits in the cool, damp months.
    let season = 1.0 + 0.2 * ((month - 1.0) / 12.0 * std::f64::consts::TAU).cos();
    let uses = ((size * season) * (0.85 + 0.3 * rng.next_f64()))
        .round()
        .max(1.0) as i64;
    let device_change =
        tool.product == 0 && province == BAC_NINH && period.start() >= DEVICE_CHANGE;
    let prompt_update = tool.product == 5 && province == DA_NANG && period.start() >= PROMPT_UPDATE;
    // Before go-live the programme's usual method: symptom screening and the usual reading
    // of X-rays find fewer cases (the impact assessment should see the difference).
    let (sens, spec) = if baseline {
        (tool.sensitivity - 0.2, tool.specificity - 0.03)
    } else if device_change {
        (tool.sensitivity, 0.78)
    } else {
        (tool.sensitivity, tool.specificity)
    };
    let mut r = ReportInput {
        deployment: deployment.to_string(),
        period: period.to_string(),
        uses,
        downtime_minutes: if rng.below(10) == 0 {
            rng.below(600) as i64
        } else {
            0
        },
        latency_p50_ms: Some(300.0 + rng.next_f64() * 900.0),
        ..ReportInput::default()
    };
    r.latency_p95_ms = r.latency_p50_ms.map(|p| p * (2.0 + rng.next_f64()));
    if tool.product == 5 {
        // The assistant: escalations are its positive outputs; unsafe answers are reported.
        let esc_rate = if prompt_update { 0.02 } else { tool.prevalence };
        r.escalations = binomial(rng, uses, esc_rate);
        r.positives = r.escalations;
        r.overrides = binomial(rng, uses, tool.override_rate);
        let unsafe_rate = if prompt_update { 0.004 } else { 0.0004 };
        r.counters
            .insert("unsafe_answers".into(), binomial(rng, uses, unsafe_rate));
    } else {
        let sick = binomial(rng, uses, tool.prevalence);
        let well = uses - sick;
        let tp_all = binomial(rng, sick, sens);
        let fp_all = binomial(rng, well, 1.0 - spec);
        let positives = tp_all + fp_all;
        let tested = binomial(rng, positives, tool.verify_positive);
        let tp = (tp_all * tested).checked_div(positives).unwrap_or(0);
        let negatives = uses - positives;
        let followed = binomial(rng, negatives, tool.verify_negative);
        let missed_share = ((sick - tp_all) as f64 / negatives.max(1) as f64).min(1.0);
        let fn_ = binomial(rng, followed, missed_share);
        r.positives = positives;
        if tested + followed > 0 {
            r.tp = Some(tp);
            r.fp = Some(tested - tp);
            r.fn_ = Some(fn_);
            r.tn = Some(followed - fn_);
        }
        r.overrides = if baseline {
            0
        } else {
            binomial(rng, positives, tool.override_rate)
        };
        r.escalations = binomial(rng, positives, tool.escalation_of_positives);
        if tool.scored && !baseline {
            r.score_histogram = score_histogram(rng, uses, positives, device_change);
        }
        if tool.counters.contains(&"confirmatory_tests") {
            r.counters.insert("confirmatory_tests".into(), tested);
        }
        if tool.counters.contains(&"unsafe_answers") {
            r.counters
                .insert("unsafe_answers".into(), binomial(rng, uses, 0.0003));
        }
    }
    let young = binomial(rng, uses, if tool.product == 2 { 0.6 } else { 0.06 });
    let old = binomial(rng, uses - young, 0.35);
    let teen = binomial(rng, uses - young - old, 0.12);
    let adults = uses - young - old - teen;
    r.mix.insert(
        "age_band".into(),
        vec![
            if tool.product == 2 { young } else { 0 },
            if tool.product == 2 { 0 } else { young },
            teen,
            adults / 2,
            adults - adults / 2,
            old,
            0,
            0,
        ],
    );
    let women = binomial(rng, uses, 0.48);
    r.mix.insert("sex".into(), vec![women, uses - women, 0]);
    r
}

/// A binomial draw: Bernoulli trials for small counts, the normal approximation (rounded,
/// clamped) once n p (1 - p) is large enough for it to be indistinguishable in a demo.
fn binomial(rng: &mut SeededRng, n: i64, p: f64) -> i64 {
    if p <= 0.0 || n <= 0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    let variance = n as f64 * p * (1.0 - p);
    if variance < 9.0 {
        return (0..n).filter(|_| rng.next_f64() < p).count() as i64;
    }
    // Box-Muller: one standard normal from two uniforms.
    let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
    let u2 = rng.next_f64();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    ((n as f64 * p + z * variance.sqrt()).round() as i64).clamp(0, n)
}

/// Ten score bins over [0, 1] with the threshold at 0.5: positives over the top five bins,
/// negatives over the bottom five, skewed to the extremes; after the device change the
/// negatives creep up towards the threshold.
fn score_histogram(rng: &mut SeededRng, uses: i64, positives: i64, drifted: bool) -> Vec<i64> {
    let low: [f64; 5] = if drifted {
        [0.30, 0.22, 0.18, 0.16, 0.14]
    } else {
        [0.45, 0.25, 0.14, 0.10, 0.06]
    };
    let high: [f64; 5] = [0.12, 0.14, 0.18, 0.24, 0.32];
    let mut out = multinomial(rng, uses - positives, &low);
    out.extend(multinomial(rng, positives, &high));
    out
}

/// Spreads `n` over bins by successive conditional binomials.
fn multinomial(rng: &mut SeededRng, n: i64, weights: &[f64; 5]) -> Vec<i64> {
    let mut left = n;
    let mut mass: f64 = weights.iter().sum();
    let mut out = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let k = if i + 1 == weights.len() {
            left
        } else {
            binomial(rng, left, (w / mass).min(1.0))
        };
        out.push(k);
        left -= k;
        mass -= w;
    }
    out
}
