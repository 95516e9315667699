//! Measures the duplicate matcher on a generated set of incident reports.
//!
//! `cargo test -p vigilo-core --test duplicates_measure -- --nocapture` prints precision and
//! recall at the default threshold (and a sweep of thresholds) for two seeds: the tuning seed
//! the weights were chosen on, and a held-out seed. See `docs/incident-quality.md`.
//!
//! The generator makes about 2,000 events over a year, across 30 products and 34 provinces.
//! About 10% of events are reported twice, the way real duplicates arise: once by the health
//! facility and once by the manufacturer (or the family), with a reworded narrative (sometimes
//! in the other language), another reporter type, the date off by a day or missing, the
//! version often missing, only the province instead of the facility, seriousness sometimes
//! graded differently, patient details missing, codes partly different. Hard negatives are
//! clusters of the same malfunction: different patients, same product and version, same
//! facility or province, within two days, narratives from the same fault with other values.

use std::collections::{BTreeMap, BTreeSet};
use time::{Date, Duration};
use vigilo_core::incident::{AgeBand, PatientSex, ReporterKind, Seriousness};
use vigilo_core::incident_quality::{
    DuplicateMatcher, MatchParams, MatchScore, ReportFacts, DEFAULT_THRESHOLD,
};

/// xorshift64*: small, seeded, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const PROVINCES: [&str; 34] = [
    "01", "04", "08", "11", "12", "14", "15", "19", "20", "22", "24", "25", "31", "33", "37", "38",
    "40", "42", "44", "46", "48", "51", "52", "56", "66", "68", "75", "79", "80", "82", "86", "91",
    "92", "96",
];

/// Six kinds of AI tool; each product is one kind.
const KINDS: usize = 6;

struct Product {
    id: String,
    kind: usize,
    versions: usize,
    provinces: Vec<usize>,
    names: [&'static str; 2],
}

const NAMES: [[&str; 2]; KINDS] = [
    ["phần mềm đọc X-quang lao", "AI đọc phim phổi"],
    ["công cụ tính nguy cơ tim mạch", "phần mềm nguy cơ tim mạch"],
    ["trợ lý ảo tư vấn thuốc", "chatbot tư vấn"],
    ["hệ thống cảnh báo tổn thương thận cấp", "cảnh báo AKI"],
    ["máy đo SpO2 có AI", "thiết bị theo dõi SpO2"],
    ["phần mềm đọc CT phổi", "AI phát hiện nốt phổi"],
];

/// Codes each kind of tool usually gets (IMDRF-like annex codes and AI problem codes).
const CODES: [&[&str]; KINDS] = [
    &["A0901", "AI-FN", "AI-DRIFT", "E0101", "AI-SUBGROUP"],
    &["A0902", "AI-CAL", "AI-SUBGROUP", "E0102"],
    &["A0903", "AI-HALLU", "AI-DOSE", "E0103", "AI-LANG"],
    &["A0904", "AI-FN", "AI-DATA", "E0104"],
    &["A0905", "AI-SENSOR", "AI-SKIN", "E0105"],
    &["A0906", "AI-FN", "AI-LOC", "E0106"],
];

/// One real-world event (one patient, one occurrence).
#[derive(Clone)]
struct Event {
    product: usize,
    version: usize,
    province: usize,
    facility: usize,
    date: Date,
    outcome: usize,
    sex: PatientSex,
    age_years: u32,
    /// Kind-specific values: scores, doses, lab values, sizes.
    a: u32,
    b: u32,
    c: usize,
    days: u32,
    codes: Vec<String>,
}

fn age_band(years: u32) -> AgeBand {
    match years {
        0..=4 => AgeBand::Under5,
        5..=14 => AgeBand::From5To14,
        15..=44 => AgeBand::From15To44,
        45..=64 => AgeBand::From45To64,
        _ => AgeBand::From65,
    }
}

fn seriousness(outcome: usize) -> Seriousness {
    match outcome {
        0 => Seriousness::NearMiss,
        1 => Seriousness::OtherInjury,
        2 => Seriousness::SeriousInjury,
        3 => Seriousness::Death,
        _ => Seriousness::OtherInjury,
    }
}

const DRUGS: [&str; 6] = [
    "paracetamol",
    "ibuprofen",
    "amoxicillin",
    "metformin",
    "amlodipin",
    "prednisolon",
];
const LOBES: [(&str, &str); 4] = [
    ("thùy trên phổi phải", "right upper lobe"),
    ("thùy dưới phổi phải", "right lower lobe"),
    ("thùy trên phổi trái", "left upper lobe"),
    ("thùy dưới phổi trái", "left lower lobe"),
];

/// The narrative: who/where, what the AI produced, what staff did, what became of the
/// patient. `vendor` changes the voice; each slot picks one of several phrasings.
fn narrative(e: &Event, p: &Product, english: bool, vendor: bool, rng: &mut Rng) -> String {
    let sex_vi = if e.sex == PatientSex::Male {
        "nam"
    } else {
        "nữ"
    };
    let sex_en = match (e.sex, e.age_years < 15) {
        (PatientSex::Male, false) => "man",
        (PatientSex::Male, true) => "boy",
        (PatientSex::Female, false) => "woman",
        (PatientSex::Female, true) => "girl",
    };
    let age = e.age_years;
    let with_age = rng.chance(0.6);
    let mut s = String::new();
    // Opening.
    if english {
        let who = if with_age {
            format!("a {age}-year-old {sex_en}")
        } else {
            "a patient".to_string()
        };
        s.push_str(&match (vendor, rng.below(3)) {
            (true, 0) => format!("The customer site reported that for {who}, "),
            (true, 1) => format!("Complaint received from a hospital user concerning {who}: "),
            (true, _) => format!("Field report regarding {who}. "),
            (false, 0) => format!("At our clinic, {who} was assessed with the tool. "),
            (false, 1) => format!("We saw {who} at the commune health station. "),
            (false, _) => format!("During the morning session, {who} was seen. "),
        });
    } else {
        let who = if with_age {
            format!("bệnh nhân {sex_vi} {age} tuổi")
        } else {
            "một người bệnh".to_string()
        };
        s.push_str(&match (vendor, rng.below(3)) {
            (true, 0) => format!("Khách hàng (cơ sở y tế) thông báo trường hợp {who}: "),
            (true, 1) => format!("Nhà sản xuất nhận được phản ánh từ người dùng về {who}. "),
            (true, _) => format!("Báo cáo từ hiện trường liên quan đến {who}. "),
            (false, 0) => format!("Tại trạm y tế, {who} đến khám. "),
            (false, 1) => format!("Khoa chúng tôi tiếp nhận {who}. "),
            (false, _) => format!("Trong buổi khám sáng, {who} được đánh giá bằng công cụ. "),
        });
    }
    // What the AI produced.
    let name = p.names[rng.below(2)];
    let (a, b, days) = (e.a, e.b, e.days);
    let out = match (p.kind, english, rng.below(2)) {
        (0, false, 0) => format!("{name} cho điểm nghi lao {a}/100, dưới ngưỡng {b}, kết luận phim phổi bình thường. "),
        (0, false, _) => format!("Kết quả AI: điểm lao {a} (ngưỡng {b}), phân loại âm tính. "),
        (0, true, 0) => format!("The chest X-ray software gave a TB score of {a}/100, below the {b} threshold, and read the film as normal. "),
        (0, true, _) => format!("AI output: TB score {a} (threshold {b}), classified negative. "),
        (1, false, 0) => format!("{name} cho kết quả nguy cơ tim mạch 10 năm là {a}%, xếp nhóm nguy cơ thấp dù huyết áp {b}/95. "),
        (1, false, _) => format!("Công cụ trả về nguy cơ {a}% (thấp) với huyết áp đo được {b}/95 mmHg. "),
        (1, true, 0) => format!("The risk calculator returned a 10-year cardiovascular risk of {a}%, low risk, despite a blood pressure of {b}/95. "),
        (1, true, _) => format!("Output: risk {a}% (low band), recorded BP {b}/95 mmHg. "),
        (2, false, 0) => format!("{name} khuyên uống {} {a} mg mỗi {b} giờ, cao hơn liều khuyến cáo. ", DRUGS[e.c]),
        (2, false, _) => format!("Trợ lý trả lời: dùng {} {a} mg, {b} giờ một lần. ", DRUGS[e.c]),
        (2, true, 0) => format!("The assistant advised {} {a} mg every {b} hours, above the recommended dose. ", DRUGS[e.c]),
        (2, true, _) => format!("Chatbot answer: take {} {a} mg every {b} hours. ", DRUGS[e.c]),
        (3, false, 0) => format!("{name} không phát cảnh báo dù creatinin tăng từ {a} lên {b} µmol/L. "),
        (3, false, _) => format!("Hệ thống không cảnh báo tổn thương thận cấp, creatinin {a} → {b} µmol/L. "),
        (3, true, 0) => format!("No AKI alert was raised although creatinine rose from {a} to {b} µmol/L. "),
        (3, true, _) => format!("The alerting system stayed silent; creatinine {a} then {b} µmol/L. "),
        (4, false, 0) => format!("{name} hiển thị SpO2 {a}% trong khi máy khác đo được {b}%. "),
        (4, false, _) => format!("Thiết bị báo SpO2 {a}%, đo lại bằng máy đối chứng chỉ {b}%. "),
        (4, true, 0) => format!("The device displayed SpO2 {a}% while a reference oximeter read {b}%. "),
        (4, true, _) => format!("Reading of {a}% on the AI monitor versus {b}% on the reference device. "),
        (_, false, 0) => format!("{name} không đánh dấu nốt mờ {a} mm ở {}. ", LOBES[e.c].0),
        (_, false, _) => format!("Phần mềm bỏ sót nốt {a} mm tại {}, kết quả bình thường. ", LOBES[e.c].0),
        (_, true, 0) => format!("The CT software did not flag a {a} mm nodule in the {}. ", LOBES[e.c].1),
        (_, true, _) => format!("A {a} mm nodule in the {} was missed; the output was normal. ", LOBES[e.c].1),
    };
    s.push_str(&out);
    // What staff did.
    s.push_str(match (english, rng.below(3)) {
        (false, 0) => "Nhân viên làm theo kết quả của công cụ. ",
        (false, 1) => "Bác sĩ tin kết quả này và không kiểm tra thêm. ",
        (false, _) => "",
        (true, 0) => "Staff followed the tool's output. ",
        (true, 1) => "The clinician relied on it without further checks. ",
        (true, _) => "",
    });
    // What became of the patient.
    s.push_str(&match (e.outcome, english, rng.below(2)) {
        (0, false, 0) => "Bác sĩ phát hiện kịp, người bệnh không bị ảnh hưởng.".to_string(),
        (0, false, _) => "Sai sót được phát hiện trước khi gây hại.".to_string(),
        (0, true, 0) => "The error was caught in time; the patient was not harmed.".to_string(),
        (0, true, _) => "No harm: a nurse noticed before acting on it.".to_string(),
        (1, false, 0) => {
            format!("Người bệnh được chuyển tuyến, điều trị {days} ngày, hiện ổn định.")
        }
        (1, false, _) => format!("Sau {days} ngày điều trị người bệnh đã ổn định."),
        (1, true, 0) => {
            format!("The patient was referred and treated for {days} days and is stable.")
        }
        (1, true, _) => format!("Treated for {days} days; now stable."),
        (2, false, 0) => format!("Người bệnh phải nhập viện {days} ngày."),
        (2, false, _) => format!("Bệnh nhân trở nặng, nằm viện {days} ngày."),
        (2, true, 0) => format!("The patient was admitted for {days} days."),
        (2, true, _) => format!("The patient deteriorated and was hospitalised for {days} days."),
        (3, false, 0) => format!("Người bệnh tử vong sau {days} ngày."),
        (3, false, _) => format!("Bệnh nhân diễn biến nặng và tử vong ngày thứ {days}."),
        (3, true, 0) => format!("The patient died {days} days later."),
        (3, true, _) => format!("The patient deteriorated and died on day {days}."),
        (_, false, 0) => format!("Chẩn đoán bị chậm {days} tuần."),
        (_, false, _) => format!("Người bệnh được chẩn đoán muộn {days} tuần."),
        (_, true, 0) => format!("Diagnosis was delayed by {days} weeks."),
        (_, true, _) => format!("The correct diagnosis came {days} weeks late."),
    });
    s
}

/// Kind-specific values for a fresh event.
fn values(kind: usize, rng: &mut Rng) -> (u32, u32, usize) {
    match kind {
        0 => (rng.range(10, 45), *rng.pick(&[50, 60]), 0),
        1 => (rng.range(2, 9), rng.range(150, 185), 0),
        2 => (
            *rng.pick(&[500, 750, 1000, 1500]),
            *rng.pick(&[2, 3, 4]),
            rng.below(DRUGS.len()),
        ),
        3 => {
            let a = rng.range(70, 120);
            (a, a + rng.range(60, 200), 0)
        }
        4 => (rng.range(93, 98), rng.range(82, 90), 0),
        _ => (rng.range(5, 25), 0, rng.below(LOBES.len())),
    }
}

fn fresh_event(products: &[Product], rng: &mut Rng, start: Date) -> Event {
    // Usage is skewed: the first products are the national rollout's.
    let product = (rng.below(products.len()) * rng.below(products.len())) / products.len();
    event_of(product, products, rng, start)
}

fn event_of(product: usize, products: &[Product], rng: &mut Rng, start: Date) -> Event {
    let p = &products[product];
    let kind = p.kind;
    let (a, b, c) = values(kind, rng);
    let outcome = *rng.pick(&[0, 0, 0, 1, 1, 1, 2, 2, 3, 4]);
    let age_years = match rng.below(7) {
        0 => rng.range(1, 4),
        1 => rng.range(5, 14),
        2 | 3 => rng.range(15, 44),
        4 | 5 => rng.range(45, 64),
        _ => rng.range(65, 90),
    };
    let mut codes: BTreeSet<String> = BTreeSet::new();
    codes.insert(CODES[kind][0].to_string());
    for _ in 0..rng.range(1, 2) {
        codes.insert(rng.pick(CODES[kind]).to_string());
    }
    Event {
        product,
        version: rng.below(p.versions),
        province: *rng.pick(&p.provinces),
        facility: rng.below(25),
        date: start + Duration::days(rng.range(0, 364).into()),
        outcome,
        sex: if rng.chance(0.5) {
            PatientSex::Female
        } else {
            PatientSex::Male
        },
        age_years,
        a,
        b,
        c,
        days: rng.range(2, 14),
        codes: codes.into_iter().collect(),
    }
}

/// A first report of an event, as a health facility (or a patient) sends it.
fn facility_report(id: usize, e: &Event, products: &[Product], rng: &mut Rng) -> ReportFacts {
    let p = &products[e.product];
    let by_patient = rng.chance(0.1);
    let in_directory = !by_patient && rng.chance(0.9);
    let english = rng.chance(0.15);
    ReportFacts {
        id: format!("R{id:05}"),
        product_id: in_directory.then(|| p.id.clone()),
        version_id: (in_directory && rng.chance(0.4)).then(|| format!("{}-v{}", p.id, e.version)),
        product_text: (!in_directory).then(|| p.names[rng.below(2)].to_string()),
        facility_id: (!by_patient && rng.chance(0.8))
            .then(|| format!("F{}-{:02}", PROVINCES[e.province], e.facility)),
        province_code: Some(PROVINCES[e.province].to_string()),
        occurred_on: rng.chance(0.92).then_some(e.date),
        aware_on: Some(e.date + Duration::days(rng.range(0, 3).into())),
        received_on: e.date + Duration::days(rng.range(1, 20).into()),
        seriousness: seriousness(e.outcome),
        outcome_known: true,
        reporter_kind: Some(if by_patient {
            ReporterKind::Patient
        } else {
            ReporterKind::HealthWorker
        }),
        narrative: narrative(e, p, english, false, rng),
        patient_sex: rng.chance(0.85).then_some(e.sex),
        patient_age_band: rng.chance(0.8).then_some(age_band(e.age_years)),
        codes: if rng.chance(0.7) {
            e.codes.clone()
        } else {
            vec![]
        },
    }
}

/// The same event reported again, mostly by the manufacturer.
fn second_report(
    id: usize,
    first: &ReportFacts,
    e: &Event,
    products: &[Product],
    rng: &mut Rng,
) -> ReportFacts {
    let p = &products[e.product];
    let by_vendor = rng.chance(0.8);
    let first_english = first.narrative.is_ascii();
    let english = if rng.chance(0.2) {
        !first_english
    } else {
        first_english
    };
    let mut codes: BTreeSet<String> = e.codes.iter().cloned().collect();
    if rng.chance(0.5) {
        if let Some(c) = codes.iter().nth(rng.below(codes.len())).cloned() {
            codes.remove(&c);
        }
    }
    codes.insert(rng.pick(CODES[e.product % KINDS]).to_string());
    let serious = if rng.chance(0.8) {
        seriousness(e.outcome)
    } else {
        *rng.pick(&[
            Seriousness::Malfunction,
            Seriousness::OtherInjury,
            Seriousness::SeriousInjury,
        ])
    };
    let age = if rng.chance(0.05) {
        age_band(e.age_years.saturating_sub(10).max(1))
    } else {
        age_band(e.age_years)
    };
    let place = rng.below(10);
    ReportFacts {
        id: format!("R{id:05}"),
        product_id: (by_vendor || rng.chance(0.5)).then(|| p.id.clone()),
        version_id: (by_vendor && rng.chance(0.5)).then(|| format!("{}-v{}", p.id, e.version)),
        product_text: None,
        facility_id: (place < 3).then(|| format!("F{}-{:02}", PROVINCES[e.province], e.facility)),
        province_code: (place < 9).then(|| PROVINCES[e.province].to_string()),
        occurred_on: match rng.below(10) {
            0..=4 => Some(e.date),
            5..=7 => Some(e.date + Duration::days(*rng.pick(&[-1, 1]))),
            _ => None,
        },
        aware_on: None,
        received_on: first.received_on + Duration::days(rng.range(0, 40).into()),
        seriousness: serious,
        outcome_known: rng.chance(0.7),
        reporter_kind: Some(if by_vendor {
            ReporterKind::Vendor
        } else {
            ReporterKind::Patient
        }),
        narrative: narrative(e, p, english, by_vendor, rng),
        patient_sex: rng.chance(0.7).then_some(e.sex),
        patient_age_band: rng.chance(0.6).then_some(age),
        codes: if by_vendor || rng.chance(0.3) {
            codes.into_iter().collect()
        } else {
            vec![]
        },
    }
}

/// Another patient hit by the same malfunction: same product, version and kind of fault,
/// same facility or a nearby one, within two days; the patient and the values differ
/// (values drawn from the same narrow ranges, so some coincide).
fn cluster_member(seed: &Event, products: &[Product], rng: &mut Rng) -> Event {
    let mut e = event_of(seed.product, products, rng, seed.date);
    e.version = seed.version;
    e.province = seed.province;
    if rng.chance(0.6) {
        e.facility = seed.facility;
    }
    e.date = seed.date + Duration::days(rng.range(0, 2).into());
    e.codes = seed.codes.clone();
    e.c = if rng.chance(0.5) { seed.c } else { e.c };
    if rng.chance(0.5) {
        e.outcome = seed.outcome;
    }
    e
}

struct Dataset {
    reports: Vec<ReportFacts>,
    duplicate_pairs: BTreeSet<(String, String)>,
    hard_negative_pairs: BTreeSet<(String, String)>,
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a < b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

fn generate(seed: u64, events: usize) -> Dataset {
    let mut rng = Rng::new(seed);
    let start = Date::from_calendar_date(2026, time::Month::January, 1).unwrap_or(Date::MIN);
    let products: Vec<Product> = (0..30)
        .map(|i| {
            let kind = i % KINDS;
            let mut provinces: Vec<usize> = (0..rng.range(4, 16)).map(|_| rng.below(34)).collect();
            provinces.sort_unstable();
            provinces.dedup();
            Product {
                id: format!("P{i:02}"),
                kind,
                versions: rng.range(1, 3) as usize,
                provinces,
                names: NAMES[kind],
            }
        })
        .collect();
    let mut reports = Vec::new();
    let mut duplicate_pairs = BTreeSet::new();
    let mut clusters: Vec<Vec<String>> = Vec::new();
    let mut next_id = 0;
    let mut made = 0;
    while made < events {
        let e = fresh_event(&products, &mut rng, start);
        let first = facility_report(next_id, &e, &products, &mut rng);
        next_id += 1;
        made += 1;
        if rng.chance(0.10) {
            let second = second_report(next_id, &first, &e, &products, &mut rng);
            next_id += 1;
            duplicate_pairs.insert(pair(&first.id, &second.id));
            reports.push(second);
        }
        if rng.chance(0.06) {
            let mut members = vec![first.id.clone()];
            for _ in 0..rng.range(1, 3) {
                let m = cluster_member(&e, &products, &mut rng);
                let r = facility_report(next_id, &m, &products, &mut rng);
                next_id += 1;
                made += 1;
                members.push(r.id.clone());
                reports.push(r);
            }
            clusters.push(members);
        }
        reports.push(first);
    }
    let mut hard_negative_pairs = BTreeSet::new();
    for members in &clusters {
        for (i, a) in members.iter().enumerate() {
            for b in members.iter().skip(i + 1) {
                hard_negative_pairs.insert(pair(a, b));
            }
        }
    }
    reports.sort_by(|a, b| a.received_on.cmp(&b.received_on).then(a.id.cmp(&b.id)));
    Dataset {
        reports,
        duplicate_pairs,
        hard_negative_pairs,
    }
}

/// Every blocked pair (each new report against the earlier ones) with its score.
fn scored_pairs(m: &DuplicateMatcher, d: &Dataset) -> BTreeMap<(String, String), MatchScore> {
    let mut out = BTreeMap::new();
    for (i, r) in d.reports.iter().enumerate() {
        for (id, s) in m.candidates(r, &d.reports[..i], f64::NEG_INFINITY) {
            out.insert(pair(&r.id, &id), s);
        }
    }
    out
}

/// The observed m (among duplicate pairs) and u (among other blocked pairs) of every
/// field outcome, to set the parameters from.
fn print_estimates(d: &Dataset, scored: &BTreeMap<(String, String), MatchScore>) {
    let mut counts: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    let (mut dups, mut others) = (0usize, 0usize);
    for (p, s) in scored {
        let dup = d.duplicate_pairs.contains(p);
        if dup {
            dups += 1;
        } else {
            others += 1;
        }
        for part in &s.parts {
            let c = counts.entry((part.field.code(), part.outcome)).or_default();
            if dup {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
        }
    }
    println!("  field outcome: observed m, u (share of duplicate pairs, of other blocked pairs)");
    for ((field, outcome), (m, u)) in counts {
        println!(
            "    {field:<12} {outcome:<18} m {:.3}  u {:.3}",
            m as f64 / dups.max(1) as f64,
            u as f64 / others.max(1) as f64
        );
    }
}

struct Figures {
    precision: f64,
    recall: f64,
    true_pos: usize,
    false_pos: usize,
    false_neg: usize,
}

fn figures(d: &Dataset, scores: &BTreeMap<(String, String), f64>, threshold: f64) -> Figures {
    let flagged: BTreeSet<&(String, String)> = scores
        .iter()
        .filter(|(_, s)| **s >= threshold)
        .map(|(p, _)| p)
        .collect();
    let true_pos = flagged
        .iter()
        .filter(|p| d.duplicate_pairs.contains(**p))
        .count();
    let false_pos = flagged.len() - true_pos;
    let false_neg = d.duplicate_pairs.len() - true_pos;
    Figures {
        precision: true_pos as f64 / (flagged.len().max(1)) as f64,
        recall: true_pos as f64 / (d.duplicate_pairs.len().max(1)) as f64,
        true_pos,
        false_pos,
        false_neg,
    }
}

fn run(label: &str, seed: u64) -> Figures {
    let d = generate(seed, 2000);
    let m = DuplicateMatcher::new(MatchParams::default()).expect("default parameters are valid");
    let scored = scored_pairs(&m, &d);
    if seed == TUNING_SEED && std::env::var_os("VIGILO_SHOW_ESTIMATES").is_some() {
        print_estimates(&d, &scored);
    }
    let scores: BTreeMap<(String, String), f64> =
        scored.iter().map(|(p, s)| (p.clone(), s.total)).collect();
    let in_block = d
        .duplicate_pairs
        .iter()
        .filter(|p| scores.contains_key(*p))
        .count();
    let vi = d.reports.iter().filter(|r| !r.narrative.is_ascii()).count();
    println!(
        "\n{label} (seed {seed}): {} reports ({} Vietnamese, {} English), {} duplicate pairs \
         ({} in a block), {} hard-negative pairs, {} pairs scored",
        d.reports.len(),
        vi,
        d.reports.len() - vi,
        d.duplicate_pairs.len(),
        in_block,
        d.hard_negative_pairs.len(),
        scores.len()
    );
    let mean = |set: &BTreeSet<(String, String)>| {
        let xs: Vec<f64> = set.iter().filter_map(|p| scores.get(p)).copied().collect();
        xs.iter().sum::<f64>() / xs.len().max(1) as f64
    };
    println!(
        "  mean score: duplicates {:.1}, hard negatives {:.1}",
        mean(&d.duplicate_pairs),
        mean(&d.hard_negative_pairs)
    );
    println!("  threshold  precision  recall  TP  FP  FN  (FP that are hard negatives)");
    for t in [4.0, 6.0, 7.0, 7.5, 8.0, 8.5, 9.0, 10.0, 12.0, 14.0] {
        let f = figures(&d, &scores, t);
        let hard_fp = scores
            .iter()
            .filter(|(p, s)| **s >= t && d.hard_negative_pairs.contains(*p))
            .count();
        println!(
            "  {t:>9.1}  {:>9.3}  {:>6.3}  {:>3} {:>3} {:>3}  ({hard_fp})",
            f.precision, f.recall, f.true_pos, f.false_pos, f.false_neg
        );
    }
    let f = figures(&d, &scores, DEFAULT_THRESHOLD);
    println!(
        "  at the default threshold {DEFAULT_THRESHOLD}: precision {:.3}, recall {:.3}",
        f.precision, f.recall
    );
    if seed == TUNING_SEED && std::env::var_os("VIGILO_SHOW_MISSES").is_some() {
        let by_id: BTreeMap<&str, &ReportFacts> =
            d.reports.iter().map(|r| (r.id.as_str(), r)).collect();
        for p in &d.duplicate_pairs {
            let s = scores.get(p).copied();
            if s.is_none_or(|s| s < DEFAULT_THRESHOLD) {
                if let (Some(a), Some(b)) = (by_id.get(p.0.as_str()), by_id.get(p.1.as_str())) {
                    let sc = m.score(a, b);
                    println!(
                        "  MISS {s:?} {:?}",
                        sc.parts
                            .iter()
                            .map(|x| (x.field.code(), x.outcome, (x.weight * 10.0).round() / 10.0))
                            .collect::<Vec<_>>()
                    );
                    println!("     {}\n     {}", a.narrative, b.narrative);
                }
            }
        }
        for (p, s) in &scores {
            if *s >= DEFAULT_THRESHOLD && !d.duplicate_pairs.contains(p) {
                if let (Some(a), Some(b)) = (by_id.get(p.0.as_str()), by_id.get(p.1.as_str())) {
                    let sc = m.score(a, b);
                    println!(
                        "  FALSE {s:.1} hard={} {:?}",
                        d.hard_negative_pairs.contains(p),
                        sc.parts
                            .iter()
                            .map(|x| (x.field.code(), x.outcome, (x.weight * 10.0).round() / 10.0))
                            .collect::<Vec<_>>()
                    );
                    println!("     {}\n     {}", a.narrative, b.narrative);
                }
            }
        }
    }
    f
}

/// Tuning seed: the weights and the threshold were chosen looking at this one.
const TUNING_SEED: u64 = 20_260_301;
/// Held-out seed: looked at only to report the figures.
const HELD_OUT_SEED: u64 = 7_771;

#[test]
fn precision_and_recall_on_generated_reports() {
    let tuning = run("tuning set", TUNING_SEED);
    let held_out = run("held-out set", HELD_OUT_SEED);
    for (label, f) in [("tuning", &tuning), ("held-out", &held_out)] {
        assert!(f.recall >= 0.9, "{label} recall {:.3}", f.recall);
        assert!(f.precision >= 0.9, "{label} precision {:.3}", f.precision);
    }
}

#[test]
fn the_generator_is_deterministic_and_realistic() {
    let a = generate(TUNING_SEED, 2000);
    let b = generate(TUNING_SEED, 2000);
    assert_eq!(a.reports, b.reports);
    assert!(a.reports.len() >= 2000);
    let products: BTreeSet<_> = a
        .reports
        .iter()
        .filter_map(|r| r.product_id.clone())
        .collect();
    let provinces: BTreeSet<_> = a
        .reports
        .iter()
        .filter_map(|r| r.province_code.clone())
        .collect();
    assert!(products.len() >= 25, "{} products", products.len());
    assert!(provinces.len() >= 30);
    let vietnamese = a.reports.iter().filter(|r| !r.narrative.is_ascii()).count();
    assert!(vietnamese * 2 > a.reports.len());
    let share = a.duplicate_pairs.len() as f64 / 2000.0;
    assert!((0.07..0.13).contains(&share), "{share}");
    assert!(a.hard_negative_pairs.len() > 100);
}
