//! The demo's incident reports over the simulated pilot: each tool's reports follow its
//! monthly use at a rate of its own, placed at a station running it, with the codes a
//! reviewer would give and the seriousness such reports have. One problem is injected for
//! the signal job to find: from August 2026 the commune assistant gives wrong dosing
//! advice in Đà Nẵng after its prompt update (the same update the monitoring alerts see),
//! and stations there report it. A few narratives carry a patient's name or phone number,
//! to show them scrubbed. All fictional.

use anyhow::Result;
use std::collections::BTreeMap;
use time::macros::{date, time};
use time::{Date, Duration, PrimitiveDateTime};
use vigilo_core::incident::{
    AgeBand, Causality, IncidentCommand, IncidentInput, IncidentSource, PatientSex, ReporterKind,
    ReportingClock, Seriousness,
};
use vigilo_stats::rng::SeededRng;
use vigilo_store::{DeploymentFilter, DeploymentView, NewIncident, ReporterAccount, Store};

const DA_NANG: &str = "48";
const DOSING_PROBLEM: Date = date!(2026 - 08 - 01);

/// One tool's reporting: reports per 10,000 uses, and the codes and narratives they carry.
struct Profile {
    product: usize,
    per_10000_uses: f64,
    /// (code, weight, Vietnamese narrative).
    kinds: &'static [(&'static str, f64, &'static str)],
}

const PROFILES: [Profile; 6] = [
    Profile {
        product: 0,
        per_10000_uses: 0.35,
        kinds: &[
            ("AI03", 3.0, "LaoScan báo phim bình thường; hai tuần sau người bệnh ho ra máu, chụp lại thấy hang lao, AFB dương tính."),
            ("AI04", 2.0, "LaoScan cảnh báo nghi lao nhưng xét nghiệm GeneXpert âm tính; người bệnh lo lắng và phải lên tuyến huyện."),
            ("AI09", 1.0, "Phần mềm gắn kết quả đọc phim vào nhầm hồ sơ người bệnh khác sau khi máy chụp X-quang khởi động lại."),
        ],
    },
    Profile {
        product: 1,
        per_10000_uses: 0.5,
        kinds: &[
            ("AI04", 2.0, "TimViệt xếp nguy cơ tim mạch rất cao cho người bệnh trẻ, không hút thuốc; bác sĩ kiểm tra lại thấy nhập sai đơn vị cholesterol."),
            ("AI09", 2.0, "Kết quả TimViệt không hiện huyết áp mới nhập; thuốc được kê theo chỉ số cũ."),
            ("AI07", 1.0, "Nhân viên trạm tăng liều statin theo gợi ý của TimViệt mà không khám lại; người bệnh đau cơ."),
        ],
    },
    Profile {
        product: 2,
        per_10000_uses: 0.8,
        kinds: &[
            ("AI06", 2.0, "Ứng dụng tư vấn dinh dưỡng đưa khẩu phần cho trẻ thấp còi dân tộc Mông giống trẻ thành phố, không phù hợp thực phẩm địa phương."),
            ("AI01", 1.0, "Ứng dụng dinh dưỡng nêu một loại sữa công thức không có trên thị trường Việt Nam."),
            ("AI08", 1.0, "Phụ huynh dùng ứng dụng dinh dưỡng để hỏi về thuốc điều trị tiêu chảy cho trẻ, ngoài mục đích sử dụng."),
        ],
    },
    Profile {
        product: 3,
        per_10000_uses: 3.0,
        kinds: &[
            ("AI03", 2.0, "Không có cảnh báo tổn thương thận cấp dù creatinine tăng gấp đôi trong 48 giờ; người bệnh được chuyển viện muộn."),
            ("AI04", 2.0, "Cảnh báo thận cấp liên tục ở người bệnh ổn định sau khi phòng xét nghiệm đổi máy; nhân viên bắt đầu bỏ qua cảnh báo."),
            ("AI05", 1.0, "Độ nhạy cảnh báo thận cấp giảm rõ từ khi phòng xét nghiệm đổi thuốc thử."),
        ],
    },
    Profile {
        product: 4,
        per_10000_uses: 3.0,
        kinds: &[
            ("AI06", 3.0, "SpO2 Guard đọc 95% ở người bệnh da sẫm màu trong khi khí máu cho thấy 88%; cảnh báo suy hô hấp không bật."),
            ("AI03", 1.0, "Trẻ thở nhanh, co kéo nhưng SpO2 Guard không cảnh báo; trẻ được chuyển tuyến muộn."),
            ("AI09", 1.0, "Thiết bị đo SpO2 mất kết nối với phần mềm, cảnh báo không đến điện thoại của điều dưỡng."),
        ],
    },
    Profile {
        product: 5,
        per_10000_uses: 0.4,
        kinds: &[
            ("AI01", 2.0, "Trợ lý ảo trích một hướng dẫn của Bộ Y tế không tồn tại khi nhân viên hỏi về tiêm chủng."),
            ("AI07", 2.0, "Nhân viên trạm làm theo trợ lý ảo, không chuyển tuyến người bệnh đau ngực; người bệnh tự đến bệnh viện sau đó."),
            ("AI02", 1.0, "Trợ lý ảo khuyên chườm đá cho trẻ sốt cao co giật, trái với hướng dẫn sơ cứu."),
        ],
    },
];

/// What every tool's reports also describe, so that most codes are shared across tools
/// and only a real excess stands out (code, weight, narrative).
const SHARED: &[(&str, f64, &str)] = &[
    ("AI09", 1.5, "Kết nối giữa công cụ AI và phần mềm quản lý trạm bị lỗi; kết quả không được lưu vào hồ sơ và phải nhập lại."),
    ("AI07", 1.5, "Nhân viên làm theo kết quả của công cụ AI mà không kiểm tra lại; người bệnh phải quay lại khám."),
    ("AI08", 0.5, "Công cụ AI được dùng cho người bệnh ngoài đối tượng đã được cấp phép (trẻ em dưới độ tuổi cho phép)."),
];

/// The injected problem's narratives: wrong dosing advice after the prompt update.
const DOSING: &[&str] = &[
    "Trợ lý ảo khuyên cho trẻ 2 tuổi uống paracetamol 500 mg mỗi 4 giờ; mẹ cháu phát hiện liều ghi trên hộp thấp hơn nhiều.",
    "Sau cập nhật, trợ lý ảo tính liều amoxicillin cho trẻ theo cân nặng người lớn; dược sĩ trạm phát hiện trước khi phát thuốc.",
    "Trợ lý ảo gợi ý liều ibuprofen gấp đôi cho người cao tuổi suy thận; người bệnh nôn và phải vào viện.",
    "Trợ lý ảo trả lời liều oresol pha sai (1 gói với 200 ml nước) cho trẻ tiêu chảy.",
];

/// Identifiers a hurried reporter writes, which the store scrubs before storing.
const CARELESS: &[&str] = &[
    " Người nhà là anh Nguyễn Văn Hùng, SĐT 0912 345 678.",
    " BN Trần Thị Mai, sinh ngày 12/03/1961, thẻ BHYT DN4797931234567.",
    " Liên hệ chị Lan qua số 0987.654.321 để hỏi thêm.",
];

fn poisson(rng: &mut SeededRng, mean: f64) -> u64 {
    // Knuth for small means, a rounded normal beyond (the demo never needs more).
    if mean <= 0.0 {
        return 0;
    }
    if mean < 30.0 {
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = rng.next_f64();
        while p > limit {
            k += 1;
            p *= rng.next_f64();
        }
        return k;
    }
    let u1 = rng.next_f64().max(1e-12);
    let u2 = rng.next_f64();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (mean + z * mean.sqrt()).round().max(0.0) as u64
}

fn pick<'a, T>(rng: &mut SeededRng, items: &'a [T], weight: impl Fn(&T) -> f64) -> &'a T {
    let total: f64 = items.iter().map(&weight).sum();
    let mut x = rng.next_f64() * total;
    for item in items {
        x -= weight(item);
        if x <= 0.0 {
            return item;
        }
    }
    &items[items.len() - 1]
}

/// What the demo's incidents came to.
pub struct IncidentSummary {
    pub reports: usize,
    pub signals: String,
}

pub async fn load(store: &Store, products: &[(String, String)]) -> Result<IncidentSummary> {
    let reviewer = store
        .user_by_username("reviewer")
        .await?
        .map(|u| u.id)
        .unwrap_or_else(|| "demo".into());
    let today = store.now().date();
    let mut deployments: Vec<DeploymentView> = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .deployments(&DeploymentFilter {
                after: after.clone(),
                limit: 5000,
                ..Default::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        deployments.extend(page);
    }
    let mut uses: BTreeMap<(String, String), i64> = BTreeMap::new();
    for m in store.usage_months().await? {
        uses.insert((m.product_id, m.month), m.n);
    }
    let mut rng = SeededRng::new(20_260_807);
    let clock = ReportingClock::default();
    let mut filed = 0;
    let mut months: Vec<String> = uses.keys().map(|(_, m)| m.clone()).collect();
    months.sort();
    months.dedup();
    for month in &months {
        let Ok(start) = Date::parse(
            &format!("{month}-01"),
            &time::format_description::well_known::Iso8601::DATE,
        ) else {
            continue;
        };
        for profile in &PROFILES {
            let Some((product_id, _)) = products.get(profile.product) else {
                continue;
            };
            let used = uses
                .get(&(product_id.clone(), month.clone()))
                .copied()
                .unwrap_or(0);
            let live: Vec<&DeploymentView> = deployments
                .iter()
                .filter(|d| d.product_id == *product_id && d.go_live.as_str() <= month.as_str())
                .collect();
            if live.is_empty() {
                continue;
            }
            let mut planned: Vec<(&DeploymentView, &'static str, String)> = Vec::new();
            for _ in 0..poisson(&mut rng, used as f64 * profile.per_10000_uses / 10_000.0) {
                let d = live[rng.below(live.len() as u64) as usize];
                let kinds: Vec<&(&str, f64, &str)> = profile.kinds.iter().chain(SHARED).collect();
                let (code, _, text) = **pick(&mut rng, &kinds, |k| k.1);
                planned.push((d, code, text.to_string()));
            }
            // The injected problem: Đà Nẵng's stations report the assistant's dosing advice.
            if profile.product == 5 && start >= DOSING_PROBLEM {
                let here: Vec<&&DeploymentView> =
                    live.iter().filter(|d| d.province_code == DA_NANG).collect();
                if !here.is_empty() {
                    for _ in 0..(4 + poisson(&mut rng, 3.0)) {
                        let d = here[rng.below(here.len() as u64) as usize];
                        let text = DOSING[rng.below(DOSING.len() as u64) as usize];
                        planned.push((d, "AI02", text.to_string()));
                    }
                }
            }
            for (d, code, mut narrative) in planned {
                let occurred = start + Duration::days(rng.below(28) as i64);
                let received = occurred + Duration::days(rng.below(6) as i64);
                if received >= today {
                    continue;
                }
                if rng.next_f64() < 0.08 {
                    narrative.push_str(CARELESS[rng.below(CARELESS.len() as u64) as usize]);
                }
                let seriousness = *pick(
                    &mut rng,
                    &[
                        (Seriousness::SeriousInjury, 0.12),
                        (Seriousness::OtherInjury, 0.3),
                        (Seriousness::Malfunction, 0.33),
                        (Seriousness::NearMiss, 0.25),
                    ],
                    |s| s.1,
                );
                let seriousness = seriousness.0;
                let input = IncidentInput {
                    reporter_kind: if rng.next_f64() < 0.85 {
                        ReporterKind::HealthWorker
                    } else {
                        ReporterKind::Patient
                    },
                    product_id: Some(product_id.clone()),
                    version_id: None,
                    product_text: None,
                    facility_id: Some(d.facility_id.clone()),
                    province_code: None,
                    occurred_on: Some(occurred),
                    aware_on: Some(
                        occurred + Duration::days(rng.below(3) as i64).min(received - occurred),
                    ),
                    seriousness,
                    public_health_threat: false,
                    narrative,
                    patient_sex: if rng.next_f64() < 0.7 {
                        Some(if rng.next_f64() < 0.5 {
                            PatientSex::Female
                        } else {
                            PatientSex::Male
                        })
                    } else {
                        None
                    },
                    patient_age_band: if rng.next_f64() < 0.7 {
                        Some(AgeBand::ALL[rng.below(AgeBand::ALL.len() as u64) as usize])
                    } else {
                        None
                    },
                };
                let at = PrimitiveDateTime::new(received, time!(9:00)).assume_utc()
                    + Duration::minutes(rng.below(480) as i64);
                let submitted = store
                    .submit_incident_received(
                        &NewIncident {
                            input: &input,
                            source: IncidentSource::Form,
                            reporter: ReporterAccount::default(),
                            client_key: None,
                        },
                        &clock,
                        at,
                    )
                    .await?;
                filed += 1;
                let id = submitted.incident.id;
                let age = (today - received).whole_days();
                // The reviewers' work: reports older than a month are coded and triaged,
                // older than three months closed; the newest wait in the queue.
                if age > 30 || rng.next_f64() < 0.5 {
                    store
                        .set_incident_codes(&reviewer, &id, &[code.to_string()])
                        .await?;
                }
                if age > 30 {
                    store
                        .incident_transition(
                            &reviewer,
                            &id,
                            IncidentCommand::Triage,
                            "Đã phân loại (dữ liệu mẫu).",
                            None,
                        )
                        .await?;
                }
                if age > 90 {
                    store
                        .incident_transition(
                            &reviewer,
                            &id,
                            IncidentCommand::Close,
                            "Đã xem xét với nhà sản xuất (dữ liệu mẫu).",
                            Some(if rng.next_f64() < 0.6 {
                                Causality::Possible
                            } else {
                                Causality::Probable
                            }),
                        )
                        .await?;
                }
            }
        }
    }
    // The detection job runs daily in the server; run it once so the demo opens with the
    // injected problem already found.
    let run = vigilo_server::incident_signals::run_signals(
        store,
        &vigilo_server::incident_signals::DetectOptions::default(),
    )
    .await?;
    Ok(IncidentSummary {
        reports: filed,
        signals: run.to_string(),
    })
}
