//! `vigilo demo`: a fresh database with reference and demo content, and the server.

use anyhow::{bail, Result};
use std::path::PathBuf;
use vigilo_core::classification::{
    classify, Autonomy, ClassificationAnswers, IntendedUsers, Significance, Situation,
};
use vigilo_core::directory::{
    AiKind, ClaimedMetric, ClinicalArea, InputModality, ModelCard, VersionCommand, VersionLabel,
};
use vigilo_core::{OrgKind, Role, Username};
use vigilo_server::ServerConfig;
use vigilo_store::{NewOrganisation, NewProduct, NewUser, Store};

pub const DEMO_PASSWORD: &str = "vigilo-demo-2026";
pub(crate) const DEMO_MARK: &str = "demo";

/// Removes an earlier demo database; refuses anything that is not one.
pub(crate) async fn prepare(url: &str) -> Result<()> {
    let Some(path) = vigilo_store::sqlite_file(url) else {
        // On PostgreSQL the demo only goes into a database without Vigilo data.
        let store = Store::connect(url).await?;
        let marked = store.meta_get(DEMO_MARK).await.ok().flatten();
        let has_tables = store.list_users().await.is_ok();
        store.close().await;
        if has_tables && marked.is_none() {
            bail!("{} already holds a Vigilo database that is not a demo; the demo will not touch it. Give an empty database.", vigilo_store::redact_url(url));
        }
        if has_tables {
            bail!("{} holds an earlier demo; drop and recreate that database to start afresh (the demo only deletes SQLite files by itself).", vigilo_store::redact_url(url));
        }
        return Ok(());
    };
    if !path.exists() {
        return Ok(());
    }
    let store = Store::connect(url).await?;
    let marked = store.meta_get(DEMO_MARK).await;
    store.close().await;
    match marked {
        Ok(Some(_)) => {
            for suffix in ["", "-wal", "-shm"] {
                let p = PathBuf::from(format!("{}{suffix}", path.display()));
                if p.exists() {
                    std::fs::remove_file(&p)
                        .map_err(|e| anyhow::anyhow!("cannot remove the old demo file {}: {e}", p.display()))?;
                }
            }
            Ok(())
        }
        _ => bail!(
            "{} exists and is not a Vigilo demo database; the demo will not overwrite it. Move it away or run the demo in another folder (or give --database sqlite://other.db).",
            path.display()
        ),
    }
}

pub async fn load_demo(
    store: &Store,
    pilot: crate::demo_monitoring::PilotOptions,
) -> Result<Vec<(String, Role)>> {
    let actor = "demo";
    let org = |code: &str, kind, name: &str, name_en: &str, unit: Option<&str>| NewOrganisation {
        code: code.into(),
        kind,
        name: name.into(),
        name_en: Some(name_en.into()),
        admin_unit_code: unit.map(Into::into),
    };
    store
        .create_organisation(
            actor,
            org(
                "VN-MOH-NHIC",
                OrgKind::Regulator,
                "Bộ Y tế — Trung tâm Thông tin Y tế Quốc gia",
                "Ministry of Health — National Health Information Center",
                Some("01"),
            ),
        )
        .await?;
    let maker = store
        .create_organisation(
            actor,
            org(
                "DEMO-MFR-01",
                OrgKind::Manufacturer,
                "Công ty Cổ phần AI Y tế Minh An (dữ liệu mẫu)",
                "Minh An Health AI JSC (demo data)",
                None,
            ),
        )
        .await?;
    let station = store
        .create_organisation(
            actor,
            org(
                "DEMO-TYT-00004",
                OrgKind::Facility,
                "Trạm Y tế Phường Ba Đình (dữ liệu mẫu)",
                "Ba Dinh Ward Health Station (demo data)",
                Some("00004"),
            ),
        )
        .await?;
    let accounts = [
        ("admin", "Quản trị viên (mẫu)", Role::Admin, None),
        (
            "reviewer",
            "Chuyên viên thẩm định (mẫu)",
            Role::Reviewer,
            None,
        ),
        (
            "vendor",
            "Nhà cung cấp Minh An (mẫu)",
            Role::Vendor,
            Some(maker.id.clone()),
        ),
        (
            "reporter",
            "Trạm Y tế Ba Đình (mẫu)",
            Role::Reporter,
            Some(station.id.clone()),
        ),
        ("peer", "Nút GRN mẫu", Role::Peer, None),
    ];
    let mut out = Vec::new();
    for (name, display, role, org) in accounts {
        let username = Username::parse(name).map_err(|e| anyhow::anyhow!("{e}"))?;
        store
            .create_user(
                actor,
                NewUser {
                    username,
                    display_name: display.into(),
                    password: DEMO_PASSWORD.into(),
                    role,
                    organisation_id: org,
                },
            )
            .await?;
        out.push((name.to_string(), role));
    }
    let products = load_demo_products(store, &maker.id).await?;
    crate::demo_appraisal::load(store, &products).await?;
    let pilot = crate::demo_monitoring::load(store, &products, pilot).await?;
    crate::demo_appraisal::suspend_spo2(store, &products).await?;
    crate::demo_monitoring::pause_product(
        store,
        &products[4].0,
        "Giấy phép bị đình chỉ trong khi điều tra tín hiệu (dữ liệu mẫu).",
    )
    .await?;
    // The alert job runs daily in the server; run it once now so the demo opens with the
    // injected problems already flagged.
    let alerts = vigilo_server::monitoring_alerts::run_alerts(
        store,
        &vigilo_server::monitoring_alerts::AlertOptions::default(),
    )
    .await?;
    tracing::info!(alerts = alerts.raised, "demo pilot: alerts");
    let incidents = crate::demo_incidents::load(store, &products).await?;
    tracing::info!(
        reports = incidents.reports,
        signals = %incidents.signals,
        "demo pilot: incident reports"
    );
    tracing::info!(
        facilities = pilot.facilities,
        deployments = pilot.deployments,
        reports = pilot.reports,
        "demo pilot loaded"
    );
    // Last: it sets the minimum readiness level for high-risk tools, which would hold back
    // the pilot's deployments at stations that have not assessed themselves.
    let navigator = crate::demo_navigator::load(store).await?;
    tracing::info!(
        assessments = navigator.assessments,
        "demo: navigator self-assessments"
    );
    load_fda_list(store).await;
    store.meta_set(DEMO_MARK, "true").await?;
    Ok(out)
}

struct DemoProduct {
    maker: usize,
    name: &'static str,
    name_en: &'static str,
    area: ClinicalArea,
    modality: InputModality,
    kind: AiKind,
    use_vi: &'static str,
    use_en: &'static str,
    users: &'static str,
    population: &'static str,
    metrics: &'static [(&'static str, f64, f64, f64, &'static str)],
    answers: (Situation, Significance, Autonomy, bool, IntendedUsers),
    confirmed: bool,
}

/// Fictional products, one or more per clinical area of the national rollout,
/// clearly marked as demo data.
const DEMO_PRODUCTS: &[DemoProduct] = &[
    DemoProduct { maker: 0, name: "LaoScan CXR (mẫu)", name_en: "LaoScan CXR (demo)", area: ClinicalArea::TuberculosisScreening, modality: InputModality::Imaging, kind: AiKind::Locked,
        use_vi: "Phát hiện dấu hiệu nghi lao trên phim X-quang ngực thẳng để ưu tiên người cần xét nghiệm GeneXpert tại trạm y tế xã.",
        use_en: "Flags chest X-rays suggestive of tuberculosis so that commune stations prioritise GeneXpert testing.",
        users: "Bác sĩ, y sĩ trạm y tế xã", population: "Người từ 15 tuổi trở lên được sàng lọc lao",
        metrics: &[("sensitivity", 0.912, 0.884, 0.935, "Hà Nội và Bắc Ninh 2025, n=3.200"), ("specificity", 0.853, 0.836, 0.869, "Hà Nội và Bắc Ninh 2025, n=3.200")],
        answers: (Situation::Serious, Significance::DriveClinicalManagement, Autonomy::ClinicianInTheLoop, false, IntendedUsers::HealthcareProfessionals), confirmed: true },
    DemoProduct { maker: 0, name: "TimViệt Risk (mẫu)", name_en: "TimViet Risk (demo)", area: ClinicalArea::CardiovascularRisk, modality: InputModality::StructuredRecord, kind: AiKind::Locked,
        use_vi: "Ước tính nguy cơ tim mạch 10 năm từ hồ sơ sức khỏe điện tử để tư vấn dự phòng tại tuyến cơ sở.",
        use_en: "Estimates 10-year cardiovascular risk from the electronic health record to guide prevention in primary care.",
        users: "Nhân viên y tế tuyến xã", population: "Người trưởng thành 40–74 tuổi",
        metrics: &[("AUROC", 0.781, 0.762, 0.800, "Đoàn hệ Thái Bình, n=12.000")],
        answers: (Situation::NonSerious, Significance::InformClinicalManagement, Autonomy::ClinicianInTheLoop, false, IntendedUsers::HealthcareProfessionals), confirmed: true },
    DemoProduct { maker: 1, name: "DinhDưỡng Bé Khỏe (mẫu)", name_en: "Healthy Child Nutrition (demo)", area: ClinicalArea::NutritionCounselling, modality: InputModality::Text, kind: AiKind::Generative,
        use_vi: "Trợ lý tư vấn dinh dưỡng cho trẻ dưới 5 tuổi, gợi ý thực đơn theo chỉ số tăng trưởng, có nhân viên y tế duyệt lại.",
        use_en: "Nutrition counselling assistant for children under five, suggesting meal plans from growth indicators, reviewed by health workers.",
        users: "Cán bộ dinh dưỡng và cha mẹ", population: "Trẻ dưới 5 tuổi",
        metrics: &[],
        answers: (Situation::NonSerious, Significance::InformClinicalManagement, Autonomy::ClinicianInTheLoop, true, IntendedUsers::Both), confirmed: false },
    DemoProduct { maker: 1, name: "ThậnCấp Cảnh Báo (mẫu)", name_en: "AKI Early Warning (demo)", area: ClinicalArea::AcuteKidneyInjury, modality: InputModality::Laboratory, kind: AiKind::Locked,
        use_vi: "Cảnh báo sớm tổn thương thận cấp ở bệnh nhân nội trú từ creatinin và nước tiểu theo giờ.",
        use_en: "Early warning of acute kidney injury in inpatients from creatinine and hourly urine output.",
        users: "Bác sĩ điều trị nội trú", population: "Bệnh nhân nội trú người lớn",
        metrics: &[("sensitivity", 0.84, 0.80, 0.88, "Bệnh viện tỉnh, n=1.450"), ("PPV", 0.41, 0.37, 0.45, "Bệnh viện tỉnh, n=1.450")],
        answers: (Situation::Critical, Significance::DriveClinicalManagement, Autonomy::ClinicianInTheLoop, false, IntendedUsers::HealthcareProfessionals), confirmed: false },
    DemoProduct { maker: 0, name: "HôHấp SpO2 Guard (mẫu)", name_en: "SpO2 Guard (demo)", area: ClinicalArea::RespiratoryDistress, modality: InputModality::Signals, kind: AiKind::Locked,
        use_vi: "Phát hiện suy hô hấp ở trẻ em từ SpO2 và nhịp thở, hỗ trợ quyết định chuyển tuyến.",
        use_en: "Detects respiratory distress in children from SpO2 and respiratory rate to support referral decisions.",
        users: "Y sĩ, điều dưỡng trạm y tế", population: "Trẻ 2 tháng đến 5 tuổi",
        metrics: &[("sensitivity", 0.93, 0.89, 0.96, "Nghiên cứu đa trung tâm 2025, n=800")],
        answers: (Situation::Critical, Significance::TreatOrDiagnose, Autonomy::ClinicianInTheLoop, false, IntendedUsers::HealthcareProfessionals), confirmed: true },
    DemoProduct { maker: 1, name: "Trợ lý Y tế Xã (mẫu)", name_en: "Commune Health Assistant (demo)", area: ClinicalArea::VirtualAssistant, modality: InputModality::Text, kind: AiKind::Generative,
        use_vi: "Trợ lý ảo trả lời câu hỏi về phác đồ và thủ tục cho nhân viên trạm y tế, dẫn nguồn hướng dẫn của Bộ Y tế.",
        use_en: "Virtual assistant answering protocol and procedure questions for station staff, citing Ministry guidance.",
        users: "Nhân viên trạm y tế", population: "Không áp dụng trực tiếp cho bệnh nhân",
        metrics: &[],
        answers: (Situation::NonSerious, Significance::InformClinicalManagement, Autonomy::ClinicianInTheLoop, true, IntendedUsers::HealthcareProfessionals), confirmed: false },
    DemoProduct { maker: 0, name: "PhimPhổi Nodule (mẫu)", name_en: "Lung Nodule Reader (demo)", area: ClinicalArea::Radiology, modality: InputModality::Imaging, kind: AiKind::Locked,
        use_vi: "Phát hiện và đo nốt phổi trên CT ngực liều thấp, hỗ trợ bác sĩ chẩn đoán hình ảnh.",
        use_en: "Detects and measures lung nodules on low-dose chest CT to support radiologists.",
        users: "Bác sĩ chẩn đoán hình ảnh", population: "Người sàng lọc ung thư phổi",
        metrics: &[("sensitivity", 0.95, 0.92, 0.97, "Bộ dữ liệu công khai LIDC và 2 bệnh viện")],
        answers: (Situation::Serious, Significance::DriveClinicalManagement, Autonomy::ClinicianInTheLoop, false, IntendedUsers::HealthcareProfessionals), confirmed: true },
    DemoProduct { maker: 0, name: "TếBào Vú FNA (mẫu)", name_en: "Breast FNA Cytology (demo)", area: ClinicalArea::Other, modality: InputModality::Imaging, kind: AiKind::Locked,
        use_vi: "Phân loại khối u vú lành tính hay ác tính từ đặc trưng nhân tế bào trên ảnh chọc hút kim nhỏ (FNA), hỗ trợ bác sĩ giải phẫu bệnh.",
        use_en: "Classifies breast masses as benign or malignant from cell nucleus features of fine needle aspirate images, supporting pathologists.",
        users: "Bác sĩ giải phẫu bệnh", population: "Phụ nữ có khối u vú được chọc hút kim nhỏ",
        metrics: &[("AUROC", 0.97, 0.95, 0.99, "Wisconsin Diagnostic Breast Cancer, phần huấn luyện")],
        answers: (Situation::Serious, Significance::DriveClinicalManagement, Autonomy::ClinicianInTheLoop, false, IntendedUsers::HealthcareProfessionals), confirmed: true },
];

/// FDA's public AI-enabled device list, when the shared data folder is beside the
/// checkout (as in development); the demo works without it.
async fn load_fda_list(store: &Store) {
    let path = std::path::Path::new("../shared/data/fda_ai_enabled_devices_2025-09.csv");
    let Ok(bytes) = std::fs::read(path) else {
        crate::say(
            "  (FDA AI list not found at ../shared/data; the directory shows demo products only)\n",
        );
        return;
    };
    let entries = match vigilo_core::fda_list::parse_fda_ai_list(&bytes) {
        Ok(e) => e,
        Err(e) => {
            crate::say(&format!(
                "  (FDA AI list at {} not loaded: {e})\n",
                path.display()
            ));
            return;
        }
    };
    let records: Vec<_> = entries.iter().map(crate::import::record).collect();
    match store
        .import_references(
            "demo",
            vigilo_core::directory::EntrySource::FdaAiList,
            "fda_ai_enabled_devices_2025-09",
            &records,
        )
        .await
    {
        Ok(r) => crate::say(&format!(
            "  Loaded {} entries of FDA's AI-enabled device list as foreign references.\n",
            r.added.len()
        )),
        Err(e) => crate::say(&format!("  (FDA AI list not loaded: {e})\n")),
    }
}

/// Loads the demo products; returns `(product id, version id)` in `DEMO_PRODUCTS` order.
async fn load_demo_products(store: &Store, first_maker: &str) -> Result<Vec<(String, String)>> {
    let actor = "demo";
    let second = store
        .create_organisation(
            actor,
            NewOrganisation {
                code: "DEMO-MFR-02".into(),
                kind: OrgKind::Manufacturer,
                name: "Công ty TNHH Phần mềm Y khoa Sông Hồng (dữ liệu mẫu)".into(),
                name_en: Some("Song Hong Medical Software Ltd (demo data)".into()),
                admin_unit_code: None,
            },
        )
        .await?;
    let makers = [first_maker.to_string(), second.id];
    let mut created = Vec::new();
    for d in DEMO_PRODUCTS {
        let product = store
            .create_product(
                actor,
                NewProduct {
                    manufacturer_id: makers[d.maker].clone(),
                    name: d.name.into(),
                    name_en: Some(d.name_en.into()),
                    clinical_area: d.area,
                    input_modality: d.modality,
                    ai_kind: d.kind,
                    country: "VN".into(),
                },
            )
            .await?;
        let card = ModelCard {
            intended_use: d.use_vi.into(),
            intended_use_en: d.use_en.into(),
            intended_users: d.users.into(),
            target_population: d.population.into(),
            clinical_area: d.area,
            input_modality: d.modality,
            ai_kind: d.kind,
            training_data: "Dữ liệu mẫu cho bản trình diễn; không phải dữ liệu thật. / Demo data, not real.".into(),
            claimed_performance: d.metrics.iter().map(|(metric, value, lo, hi, dataset)| ClaimedMetric {
                metric: (*metric).into(), value: *value, ci_low: Some(*lo), ci_high: Some(*hi), dataset: (*dataset).into(),
            }).collect(),
            subgroups_reported: vec!["giới tính / sex".into(), "nhóm tuổi / age band".into()],
            known_limitations: "Chưa đánh giá ở vùng núi cao; cần bác sĩ xác nhận kết quả. / Not evaluated in highland areas; a clinician confirms every result.".into(),
            change_control_plan: "Cập nhật tối đa mỗi năm một lần, thẩm định lại trước khi phát hành. / At most one update a year, re-validated before release.".into(),
            languages: vec!["vi".into(), "en".into()],
        };
        let v = store
            .create_version(
                actor,
                &product.id,
                &VersionLabel::parse("1.0").map_err(|e| anyhow::anyhow!("{e:?}"))?,
                &card,
            )
            .await?;
        store
            .change_version_status(actor, &v.id, VersionCommand::Publish)
            .await?;
        let (situation, significance, autonomy, generative, users) = d.answers;
        let answers = ClassificationAnswers {
            situation,
            significance,
            autonomy,
            generative,
            users,
        };
        let result = classify(&answers);
        let status = if d.confirmed { "confirmed" } else { "computed" };
        store
            .set_classification(
                actor,
                &product.id,
                &serde_json::json!({"answers": answers, "result": result}),
                &result.vn_device_class.as_str().to_ascii_uppercase(),
                status,
            )
            .await?;
        created.push((product.id, v.id));
    }
    Ok(created)
}

pub async fn run(
    url: &str,
    bind: &str,
    pilot: crate::demo_monitoring::PilotOptions,
    seed_only: bool,
    peers: Option<crate::demo_peers::PeerOptions>,
) -> Result<()> {
    prepare(url).await?;
    let store = Store::open(url).await?;
    let accounts = load_demo(&store, pilot).await?;
    if seed_only {
        crate::say(&format!(
            "  Demo data loaded into {}\n",
            store.redacted_url()
        ));
        return Ok(());
    }
    if let Some(opts) = peers {
        return crate::demo_peers::run(store, url, bind, accounts, opts).await;
    }
    let db = store.redacted_url().to_string();
    // The demo node is a GRN node too (Vietnam, reached on its bind address), so the
    // federation pages show an identity line to pin on another node.
    let federation = crate::peer_cli::federation_config(
        &crate::peer_cli::NodeArgs::default(),
        &crate::ConfigFile::default(),
        url,
        bind,
        None,
    )?;
    let config = ServerConfig {
        sandbox_worker: crate::sandbox_worker(),
        federation,
        ..ServerConfig::default()
    };
    crate::run_server(store, bind, config, move |addr| {
        let mut text = format!("\n  Vigilo demo is running at {addr}\n");
        text +=
            &format!("  Database: {db} (fresh demo data; replaced at the next `vigilo demo`)\n\n");
        text += &format!("  Demo accounts (password for all: {DEMO_PASSWORD}):\n");
        for (name, role) in &accounts {
            text += &format!("    {name:<10} {role}\n");
        }
        text += "\n  Press Ctrl-C to stop.\n";
        crate::say(&text);
    })
    .await
}
