//! Seeds a database with synthetic public directory entries, **for benchmarks only**.
//!
//! ```text
//! cargo run --release -p vigilo-store --example seed_directory -- \
//!     --database sqlite:///tmp/bench.db --count 100000 --seed 1
//! ```
//!
//! It migrates the database, then inserts `--count` rows straight into
//! `directory_entries` (the only table search reads; on SQLite the FTS5
//! triggers fill the trigram index) in transactions of 20,000 rows. The entries
//! are fictional: no `products`, `product_versions`, `organisations` or
//! `directory_changes` rows are written, so product pages and feeds of these
//! entries do not work. Never run it against a real register: it refuses a
//! database whose directory is not empty.
//!
//! The mix aims at what a national register could hold: Vietnamese product
//! names with diacritics and English ones, a few thousand manufacturers (about
//! 40 % Vietnamese), every clinical area, modality, risk class A to D or
//! unclassified, every licence status, and a share of FDA AI-list reference
//! entries (`--foreign-share`, default 0.1) shaped like the importer's rows.
//! `search_text` is built as the store's refresh functions build it and folded
//! with `vigilo_core::text::fold`. The output depends only on `--seed` and
//! `--count` (xorshift64*; no time or thread randomness).

use sqlx::{AnyConnection, Connection, Executor};
use std::time::Instant;
use vigilo_core::directory::{ClinicalArea, EntrySource, InputModality, LicenceStatus};
use vigilo_core::text::fold;
use vigilo_core::Lang;
use vigilo_store::{Backend, Store};

/// Rows per INSERT statement (15 binds each: under SQLite's and PostgreSQL's limits).
const ROWS_PER_STATEMENT: usize = 200;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 20_000;

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so seeds 0, 1, 2 start far apart and never at 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
    /// Picks by integer weight.
    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut r = self.below(total as usize) as u32;
        for (v, w) in items {
            if r < *w {
                return *v;
            }
            r -= w;
        }
        items[items.len() - 1].0
    }
}

struct Maker {
    name: String,
    name_en: Option<String>,
    country: &'static str,
}

const VN_PREFIX: &[&str] = &[
    "Công ty TNHH",
    "Công ty Cổ phần",
    "Tập đoàn",
    "Viện",
    "Trung tâm",
    "Công ty TNHH MTV",
];
const VN_CORE: &[&str] = &[
    "Việt Á",
    "Đông Á",
    "Sông Hồng",
    "Trường Sơn",
    "An Phát",
    "Minh Đức",
    "Hòa Bình",
    "Phương Nam",
    "Đại Việt",
    "Hồng Lạc",
    "Tâm Anh",
    "Thành Công",
    "Bình Minh",
    "Sao Việt",
    "Lạc Hồng",
    "Hải Đăng",
    "Thái Bình",
    "Ngọc Lan",
    "Kim Long",
    "Phú Thịnh",
    "Quang Trung",
    "Đức Tín",
    "Nhật Quang",
    "Hưng Thịnh",
    "Bảo An",
    "Tân Tiến",
    "Hoàng Gia",
    "Thiên Phúc",
    "Vạn Xuân",
    "Âu Lạc",
    "Hà Thành",
    "Sài Gòn",
    "Đà Nẵng",
    "Cửu Long",
    "Tây Nguyên",
    "Hạ Long",
];
const VN_FIELD: &[&str] = &[
    "Công nghệ Y tế",
    "Giải pháp Y tế Số",
    "Trí tuệ Nhân tạo Y khoa",
    "Thiết bị Y tế",
    "Dữ liệu Sức khỏe",
    "Chẩn đoán Hình ảnh",
    "Phần mềm Y tế",
];
const VN_FIELD_EN: &[&str] = &[
    "Medical Technology",
    "Digital Health Solutions",
    "Medical AI",
    "Medical Devices",
    "Health Data",
    "Imaging Diagnostics",
    "Health Software",
];
const FOREIGN_ROOT: &[&str] = &[
    "Nexa", "Medi", "Radi", "Cardio", "Lumen", "Veri", "Aur", "Sono", "Neuro", "Opti", "Pulse",
    "Vita", "Qure", "Deep", "Clari", "Infer", "Onco", "Gen", "Path", "Iris", "Helix", "Zeno",
    "Kora", "Tera",
];
const FOREIGN_TAIL: &[&str] = &[
    "vision", "scan", "logic", "mind", "view", "sense", "path", "wave", "core", "labs",
];
const FOREIGN_FORM: &[&str] = &[
    "Inc.",
    "Health",
    "AI",
    "Medical Systems",
    "Imaging",
    "GmbH",
    "Co., Ltd.",
    "Ltd",
    "SAS",
    "Healthcare",
];
const FOREIGN_COUNTRIES: &[(&str, u32)] = &[
    ("US", 30),
    ("KR", 14),
    ("JP", 10),
    ("CN", 12),
    ("DE", 7),
    ("FR", 5),
    ("IL", 5),
    ("IN", 5),
    ("SG", 4),
    ("GB", 4),
    ("NL", 3),
    ("TW", 3),
    ("CA", 2),
    ("AU", 2),
    ("TH", 2),
];

fn makers(rng: &mut Rng, n: usize) -> Vec<Maker> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if rng.chance(0.4) {
            let f = rng.below(VN_FIELD.len());
            let core = rng.pick(VN_CORE);
            let prefix = rng.pick(VN_PREFIX);
            // A number keeps names distinct, as registered company names are.
            let name = format!("{prefix} {} {core} {}", VN_FIELD[f], i % 97 + 1);
            let name_en = rng
                .chance(0.6)
                .then(|| format!("{} {} JSC {}", fold(core), VN_FIELD_EN[f], i % 97 + 1));
            out.push(Maker {
                name,
                name_en,
                country: "VN",
            });
        } else {
            let country = rng.weighted(FOREIGN_COUNTRIES);
            let name = format!(
                "{}{} {} {}",
                rng.pick(FOREIGN_ROOT),
                rng.pick(FOREIGN_TAIL),
                rng.pick(FOREIGN_FORM),
                i % 89 + 1
            );
            out.push(Maker {
                name,
                name_en: None,
                country,
            });
        }
    }
    out
}

/// What a product does, per area: (Vietnamese, English).
fn functions(area: ClinicalArea) -> &'static [(&'static str, &'static str)] {
    match area {
        ClinicalArea::TuberculosisScreening => &[
            (
                "Sàng lọc lao phổi trên X-quang ngực",
                "Chest X-ray TB screening",
            ),
            ("Phát hiện lao tiềm ẩn", "Latent TB detection"),
            ("Sàng lọc lao qua tiếng ho", "Cough-sound TB triage"),
        ],
        ClinicalArea::CardiovascularRisk => &[
            ("Dự báo nguy cơ tim mạch", "Cardiovascular risk prediction"),
            (
                "Phát hiện rung nhĩ trên điện tâm đồ",
                "ECG atrial fibrillation detection",
            ),
            (
                "Đánh giá nguy cơ tăng huyết áp",
                "Hypertension risk assessment",
            ),
        ],
        ClinicalArea::NutritionCounselling => &[
            (
                "Tư vấn dinh dưỡng cho trẻ em",
                "Child nutrition counselling",
            ),
            ("Theo dõi suy dinh dưỡng", "Malnutrition monitoring"),
            ("Tư vấn chế độ ăn đái tháo đường", "Diabetes diet coaching"),
        ],
        ClinicalArea::AcuteKidneyInjury => &[
            (
                "Cảnh báo sớm tổn thương thận cấp",
                "Acute kidney injury early warning",
            ),
            (
                "Dự báo suy thận sau phẫu thuật",
                "Post-operative kidney failure prediction",
            ),
        ],
        ClinicalArea::RespiratoryDistress => &[
            (
                "Phát hiện suy hô hấp sớm",
                "Early respiratory distress detection",
            ),
            (
                "Theo dõi SpO2 và nhịp thở",
                "SpO2 and breathing-rate monitoring",
            ),
            ("Dự báo nhu cầu thở máy", "Ventilation need prediction"),
        ],
        ClinicalArea::VirtualAssistant => &[
            (
                "Trợ lý ảo tư vấn sức khỏe",
                "Health advice virtual assistant",
            ),
            ("Trợ lý ảo đặt lịch khám", "Appointment booking assistant"),
            ("Trợ lý ghi chép lâm sàng", "Clinical note scribe"),
        ],
        ClinicalArea::Radiology => &[
            ("Phát hiện nốt phổi trên CT", "CT lung nodule detection"),
            ("Phân loại đột quỵ trên CT sọ não", "Head CT stroke triage"),
            (
                "Phát hiện gãy xương trên X-quang",
                "X-ray fracture detection",
            ),
            (
                "Sàng lọc ung thư vú trên nhũ ảnh",
                "Mammography breast cancer screening",
            ),
            ("Đo thể tích gan trên MRI", "MRI liver volumetry"),
        ],
        ClinicalArea::Other => &[
            (
                "Sàng lọc bệnh võng mạc đái tháo đường",
                "Diabetic retinopathy screening",
            ),
            (
                "Phân tích tiêu bản giải phẫu bệnh",
                "Digital pathology slide analysis",
            ),
            ("Dự báo nhiễm khuẩn huyết", "Sepsis prediction"),
            ("Phát hiện ung thư da", "Skin cancer detection"),
        ],
    }
}

const BRAND_SYLLABLES: &[&str] = &[
    "Vi", "An", "Minh", "Tâm", "Phúc", "Sao", "Lạc", "Việt", "Hồng", "Đức", "Nam", "Bảo", "Kim",
    "Thiên", "Ngọc", "Med", "Dr", "Care", "Scan", "Sense", "Hoa", "Sen", "Mai", "Rồng",
];
const EDITION: &[&str] = &[
    "", "", "", " Pro", " Lite", " Plus", " 2", " 3", " X", " Cloud",
];
const POPULATIONS: &[&str] = &[
    "Người lớn từ 18 tuổi trở lên",
    "Trẻ em dưới 5 tuổi",
    "Người cao tuổi từ 60 tuổi",
    "Bệnh nhân nội trú tại khoa hồi sức",
    "Người dân tại trạm y tế xã",
    "Phụ nữ từ 40 đến 74 tuổi",
    "Bệnh nhân đái tháo đường type 2",
];
const USERS: &[&str] = &[
    "bác sĩ chẩn đoán hình ảnh",
    "bác sĩ đa khoa tuyến huyện",
    "nhân viên y tế xã",
    "điều dưỡng khoa hồi sức",
    "người bệnh và người nhà",
    "bác sĩ tim mạch",
];
const USERS_EN: &[&str] = &[
    "radiologists",
    "district general practitioners",
    "commune health workers",
    "ICU nurses",
    "patients and families",
    "cardiologists",
];
const FDA_PANELS: &[(&str, u32)] = &[
    ("Radiology", 76),
    ("Cardiovascular", 10),
    ("Neurology", 4),
    ("Hematology", 2),
    ("Gastroenterology-Urology", 2),
    ("Ophthalmic", 2),
    ("Anesthesiology", 1),
    ("Clinical Chemistry", 1),
    ("Microbiology", 1),
    ("Pathology", 1),
];
const FDA_PRODUCT_CODES: &[&str] = &[
    "QAS", "LLZ", "QIH", "MYN", "QFM", "QBS", "POK", "JAK", "QDQ", "DQK", "QPN", "PIB", "MUJ",
];
const FDA_DEVICE_TAIL: &[&str] = &[
    "CXR Triage",
    "CT Brain",
    "Mammo",
    "Lung Nodule",
    "ECG Analysis",
    "Stroke Notify",
    "Fracture Detect",
    "Cardiac MR",
    "Retina Screen",
    "Echo Assist",
    "PE Triage",
    "Prostate MR",
];

struct Entry {
    id: String,
    source: &'static str,
    name: String,
    sort_name: String,
    manufacturer: String,
    country: &'static str,
    domestic: i64,
    clinical_area: &'static str,
    risk_class: &'static str,
    licence_status: &'static str,
    modality: &'static str,
    summary: String,
    search_text: String,
    updated_at: String,
}

fn make_id(rng: &mut Rng) -> String {
    // UUID-shaped (version 7 nibble) like the store's ids, but from the seeded generator.
    let a = rng.next();
    let b = rng.next();
    let s = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-7{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[13..16],
        &s[16..20],
        &s[20..32]
    )
}

fn timestamp(rng: &mut Rng) -> String {
    // Within 2024-2026, RFC 3339 with six fraction digits like `format_time`.
    let secs = 1_704_067_200i64 + (rng.next() % (3 * 365 * 86_400)) as i64;
    let t = time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        + time::Duration::microseconds((rng.next() % 1_000_000) as i64);
    vigilo_store::format_time(t)
}

fn local_entry(rng: &mut Rng, makers: &[Maker]) -> Entry {
    // Imaging-heavy, as registers are, but every area present.
    let area = rng.weighted(&[
        (ClinicalArea::Radiology, 30),
        (ClinicalArea::TuberculosisScreening, 12),
        (ClinicalArea::CardiovascularRisk, 14),
        (ClinicalArea::NutritionCounselling, 6),
        (ClinicalArea::AcuteKidneyInjury, 6),
        (ClinicalArea::RespiratoryDistress, 8),
        (ClinicalArea::VirtualAssistant, 10),
        (ClinicalArea::Other, 14),
    ]);
    let modality = match area {
        ClinicalArea::Radiology | ClinicalArea::TuberculosisScreening if rng.chance(0.85) => {
            InputModality::Imaging
        }
        ClinicalArea::VirtualAssistant if rng.chance(0.8) => InputModality::Text,
        ClinicalArea::CardiovascularRisk | ClinicalArea::RespiratoryDistress if rng.chance(0.6) => {
            InputModality::Signals
        }
        ClinicalArea::AcuteKidneyInjury if rng.chance(0.7) => InputModality::Laboratory,
        _ => *rng.pick(&InputModality::ALL.iter().collect::<Vec<_>>()),
    };
    let maker = &makers[rng.below(makers.len())];
    let (fn_vi, fn_en) = functions(area)[rng.below(functions(area).len())];
    let brand = format!(
        "{}{}{}",
        rng.pick(BRAND_SYLLABLES),
        rng.pick(BRAND_SYLLABLES).to_lowercase(),
        rng.pick(EDITION)
    );
    let vietnamese_name = maker.country == "VN" || rng.chance(0.2);
    let (name, name_en) = if vietnamese_name {
        (
            format!("{brand} – {fn_vi}"),
            rng.chance(0.7).then(|| format!("{brand} – {fn_en}")),
        )
    } else {
        (format!("{brand} {fn_en}"), None)
    };
    let u = rng.below(USERS.len());
    let population = rng.pick(POPULATIONS);
    let intended_use = format!(
        "Phần mềm hỗ trợ {} {} cho {}. Kết quả chỉ mang tính tham khảo, không thay thế chẩn đoán của bác sĩ.",
        USERS[u],
        fn_vi.to_lowercase(),
        population.to_lowercase()
    );
    let intended_use_en = format!(
        "Software that helps {} with {}. Results are advisory and do not replace a clinician's diagnosis.",
        USERS_EN[u],
        fn_en.to_lowercase()
    );
    // Most products are not yet classified or licensed; the register grows ahead of review.
    let risk_class = rng.weighted(&[
        ("unclassified", 30),
        ("A", 10),
        ("B", 30),
        ("C", 22),
        ("D", 8),
    ]);
    let licence = rng.weighted(&[
        (LicenceStatus::NotLicensed, 45),
        (LicenceStatus::Active, 40),
        (LicenceStatus::Suspended, 4),
        (LicenceStatus::Revoked, 3),
        (LicenceStatus::Expired, 8),
    ]);
    // The same words as `refresh_product_entry`, in the same order.
    let words = [
        name.clone(),
        name_en.clone().unwrap_or_default(),
        maker.name.clone(),
        maker.name_en.clone().unwrap_or_default(),
        area.label(Lang::Vi).into(),
        area.label(Lang::En).into(),
        modality.label(Lang::Vi).into(),
        modality.label(Lang::En).into(),
        intended_use.clone(),
        intended_use_en,
        population.to_string(),
    ];
    Entry {
        id: make_id(rng),
        source: EntrySource::Local.code(),
        sort_name: fold(&name),
        summary: intended_use.chars().take(300).collect(),
        name,
        manufacturer: maker.name.clone(),
        country: maker.country,
        domestic: i64::from(maker.country == "VN"),
        clinical_area: area.code(),
        risk_class,
        licence_status: licence.code(),
        modality: modality.code(),
        search_text: fold(&words.join(" ")),
        updated_at: timestamp(rng),
    }
}

fn fda_entry(rng: &mut Rng, makers: &[Maker], n: usize) -> Entry {
    let maker = &makers[rng.below(makers.len())];
    let panel = rng.weighted(FDA_PANELS);
    let device = format!(
        "{}{} {}",
        rng.pick(FOREIGN_ROOT),
        rng.pick(FOREIGN_TAIL),
        rng.pick(FDA_DEVICE_TAIL)
    );
    let reference = format!(
        "{}{:06}",
        rng.pick(&["K", "K", "K", "DEN", "P"]),
        200_000 + n
    );
    let product_code = rng.pick(FDA_PRODUCT_CODES);
    let decision_date = format!(
        "{}-{:02}-{:02}",
        2016 + rng.below(10),
        1 + rng.below(12),
        1 + rng.below(28)
    );
    // As `refresh_reference_entry` maps and words them.
    let area = if panel == "Radiology" {
        ClinicalArea::Radiology
    } else {
        ClinicalArea::Other
    };
    let text = fold(&format!(
        "{} {} {} {} {} {} {}",
        device,
        maker.name,
        reference,
        panel,
        product_code,
        area.label(Lang::Vi),
        area.label(Lang::En)
    ));
    Entry {
        id: make_id(rng),
        source: EntrySource::FdaAiList.code(),
        sort_name: fold(&device),
        summary: format!("{reference} · {panel} · {product_code} · {decision_date}"),
        name: device,
        manufacturer: maker.name.clone(),
        country: "unknown",
        domestic: 0,
        clinical_area: area.code(),
        risk_class: "unclassified",
        licence_status: LicenceStatus::NotLicensed.code(),
        modality: "other",
        search_text: text,
        updated_at: timestamp(rng),
    }
}

struct Args {
    database: String,
    count: usize,
    seed: u64,
    makers: usize,
    foreign_share: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        database: String::new(),
        count: 100_000,
        seed: 1,
        makers: 3_000,
        foreign_share: 0.1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--database" => a.database = value()?,
            "--count" => a.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--makers" => {
                a.makers = value()?.parse().map_err(|e| format!("--makers: {e}"))?;
            }
            "--foreign-share" => {
                a.foreign_share = value()?
                    .parse()
                    .map_err(|e| format!("--foreign-share: {e}"))?;
            }
            "-h" | "--help" => {
                return Err(
                    "usage: seed_directory --database URL [--count 100000] [--seed 1] \
                            [--makers 3000] [--foreign-share 0.1]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument '{other}'; see --help")),
        }
    }
    if a.database.is_empty() {
        return Err("--database URL is required".into());
    }
    if a.makers == 0 || !(0.0..=1.0).contains(&a.foreign_share) {
        return Err("--makers must be positive and --foreign-share within 0..1".into());
    }
    Ok(a)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("seed_directory: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let store = Store::open(&args.database).await?;
    let backend = store.backend();
    store.close().await;

    let url = if backend == Backend::Sqlite && !args.database.contains('?') {
        format!("{}?mode=rw", args.database)
    } else {
        args.database.clone()
    };
    let mut conn = AnyConnection::connect(&url).await?;
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM directory_entries")
        .fetch_one(&mut conn)
        .await?;
    if existing > 0 {
        return Err(format!(
            "directory_entries already holds {existing} rows; seed a fresh database"
        )
        .into());
    }

    let mut rng = Rng::new(args.seed);
    let makers = makers(&mut rng, args.makers);
    let mut done = 0usize;
    while done < args.count {
        let tx_rows = ROWS_PER_TRANSACTION.min(args.count - done);
        let mut tx = conn.begin().await?;
        let mut in_tx = 0;
        while in_tx < tx_rows {
            let n = ROWS_PER_STATEMENT.min(tx_rows - in_tx);
            let entries: Vec<Entry> = (0..n)
                .map(|i| {
                    if rng.chance(args.foreign_share) {
                        fda_entry(&mut rng, &makers, done + in_tx + i)
                    } else {
                        local_entry(&mut rng, &makers)
                    }
                })
                .collect();
            let placeholders: Vec<String> = (0..n)
                .map(|r| {
                    let cols: Vec<String> = (1..=14).map(|c| format!("${}", r * 14 + c)).collect();
                    format!("({})", cols.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO directory_entries (id, source, name, sort_name, manufacturer, country, domestic, \
                 clinical_area, risk_class, licence_status, modality, summary, search_text, updated_at) VALUES {}",
                placeholders.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for e in &entries {
                q = q
                    .bind(e.id.clone())
                    .bind(e.source)
                    .bind(e.name.clone())
                    .bind(e.sort_name.clone())
                    .bind(e.manufacturer.clone())
                    .bind(e.country)
                    .bind(e.domestic)
                    .bind(e.clinical_area)
                    .bind(e.risk_class)
                    .bind(e.licence_status)
                    .bind(e.modality)
                    .bind(e.summary.clone())
                    .bind(e.search_text.clone())
                    .bind(e.updated_at.clone());
            }
            q.execute(&mut *tx).await?;
            in_tx += n;
        }
        tx.commit().await?;
        done += tx_rows;
        eprintln!("seed_directory: {done} / {} rows", args.count);
    }
    if backend == Backend::Postgres {
        // Autovacuum would do this within a minute of the load; do it now so the
        // benchmark does not depend on when it runs.
        conn.execute("ANALYZE directory_entries").await?;
    }
    conn.close().await?;
    println!(
        "seeded {} directory entries ({} backend, seed {}) in {:.1} s",
        args.count,
        backend.name(),
        args.seed,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
