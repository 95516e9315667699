//! Demo dossiers, licences and a sandbox study, so every state of the
//! appraisal desk can be seen at once. All of it is fictional demo data, except
//! the sandbox study, which evaluates a real model on the public Wisconsin
//! breast cancer data (CC BY 4.0, see crates/vigilo-sandbox/fixtures/README.md).

use anyhow::{anyhow, Result};
use vigilo_core::appraisal::{
    Actor, ApplicationCommand as C, DecisionOutcome, KpiDuty, LicenceCommand, LicenceConditions,
};
use vigilo_core::checklist::Catalog;
use vigilo_core::directory::{ModelCard, VersionCommand, VersionLabel};
use vigilo_sandbox::{
    evaluate, parse_predictions, parse_reference_csv, predictions_from_model, run_model,
    ColumnRoles, DatasetLimits, Endpoint, Metric, Protocol, RunLimits, ScoreKind,
};
use vigilo_store::{DecisionInput, ItemAnswer, NewDataset, NewStudy, Store, SubmissionOutcome};

const WDBC_REFERENCE: &[u8] = include_bytes!("../../vigilo-sandbox/fixtures/wdbc_reference.csv");
const WDBC_PREDICTIONS: &[u8] =
    include_bytes!("../../vigilo-sandbox/fixtures/wdbc_sklearn_predictions.csv");
const WDBC_MODEL: &[u8] = include_bytes!("../../vigilo-sandbox/fixtures/wdbc_logreg.onnx");

const VENDOR: &str = "user:vendor";
const REVIEWER: &str = "user:reviewer";
const ADMIN: &str = "user:admin";

/// Every item of a framework answered "met", with a short note.
fn all_met(catalog: &Catalog, framework: &str) -> Result<Vec<ItemAnswer>> {
    let f = catalog
        .latest(framework)
        .ok_or_else(|| anyhow!("framework {framework} missing"))?;
    Ok(f.items()
        .iter()
        .map(|i| ItemAnswer {
            framework: framework.into(),
            framework_version: i64::from(f.version()),
            item_id: i.id.clone(),
            value: "met".into(),
            note: "Xem hồ sơ kỹ thuật kèm theo (dữ liệu mẫu).".into(),
        })
        .collect())
}

fn conditions(store: &Store, provinces: &[&str], kpis: &[(&str, f64)]) -> LicenceConditions {
    LicenceConditions {
        provinces: provinces.iter().map(|p| p.to_string()).collect(),
        facilities: Vec::new(),
        pilot_only: true,
        monitoring_duties: "Báo cáo KPI hằng quý qua Vigilo; báo cáo sự cố trong 10 ngày.".into(),
        monitoring_duties_en:
            "Quarterly KPI reports through Vigilo; incidents reported within 10 days.".into(),
        kpis: kpis
            .iter()
            .map(|(k, t)| KpiDuty {
                kpi: k.to_string(),
                target: *t,
            })
            .collect(),
        expires_on: store.now().date() + time::Duration::days(2 * 365),
    }
}

/// Opens a dossier with answers and takes it along `path`, staff acting after
/// the vendor's submission.
async fn dossier(
    store: &Store,
    catalog: &Catalog,
    maker: &str,
    version: &str,
    path: &[(C, &str)],
) -> Result<String> {
    let frameworks = vec![("imdrf-gmlp".to_string(), 1), ("vn-dossier".to_string(), 1)];
    let app = store
        .open_application(VENDOR, maker, version, &frameworks)
        .await?;
    let mut answers = all_met(catalog, "imdrf-gmlp")?;
    answers.extend(all_met(catalog, "vn-dossier")?);
    store.save_answers(VENDOR, &app.id, &answers).await?;
    for (cmd, reason) in path {
        let actor = match cmd {
            C::Submit | C::Respond | C::Withdraw => (VENDOR, Actor::Vendor),
            _ => (REVIEWER, Actor::Staff),
        };
        store
            .transition_application(actor.0, actor.1, &app.id, *cmd, reason, None)
            .await?;
    }
    Ok(app.id)
}

async fn decide(
    store: &Store,
    app: &str,
    outcome: DecisionOutcome,
    c: LicenceConditions,
    reason: &str,
) -> Result<()> {
    store
        .transition_application(
            REVIEWER,
            Actor::Staff,
            app,
            C::Decide,
            reason,
            Some(DecisionInput {
                outcome,
                conditions: Some(c),
            }),
        )
        .await?;
    Ok(())
}

/// `products` are `(product id, version id)` in the demo's product order.
pub async fn load(store: &Store, products: &[(String, String)]) -> Result<()> {
    let catalog = Catalog::builtin().map_err(|e| anyhow!("{e}"))?;
    let maker_of = |i: usize| async move {
        let p = store
            .product(&products[i].0)
            .await?
            .ok_or_else(|| anyhow!("demo product {i} missing"))?;
        Ok::<_, anyhow::Error>(p.manufacturer_id)
    };
    let reviewer = store
        .user_by_username("reviewer")
        .await?
        .ok_or_else(|| anyhow!("demo reviewer missing"))?;
    let to_review = [
        (C::Submit, ""),
        (C::StartScreening, "Hồ sơ đủ thành phần."),
        (C::AcceptForReview, "Chuyển thẩm định chuyên môn."),
    ];

    // LaoScan: approved with conditions for a pilot in Hà Nội and Bắc Ninh.
    let app = dossier(
        store,
        &catalog,
        &maker_of(0).await?,
        &products[0].1,
        &to_review,
    )
    .await?;
    store.assign_reviewer(ADMIN, &app, &reviewer.id).await?;
    decide(
        store,
        &app,
        DecisionOutcome::ApprovedWithConditions,
        conditions(
            store,
            &[],
            &[("tb_sensitivity", 90.0), ("tb_yield_per_1000", 2.0)],
        ),
        "Độ nhạy 0,912 (0,884–0,935) đạt ngưỡng; cần theo dõi thực tế tại trạm y tế xã.",
    )
    .await?;

    // SpO2 Guard: approved nationwide, then suspended while a signal is examined.
    let app = dossier(
        store,
        &catalog,
        &maker_of(4).await?,
        &products[4].1,
        &to_review,
    )
    .await?;
    decide(
        store,
        &app,
        DecisionOutcome::Approved,
        conditions(store, &[], &[("resp_sensitivity", 90.0)]),
        "Đáp ứng yêu cầu; bằng chứng đa trung tâm.",
    )
    .await?;

    // The other pilot tools: licensed nationwide for the pilot.
    for (i, kpis, why) in [
        (
            1,
            &[("cvd_sensitivity", 80.0)][..],
            "Đạt ngưỡng độ nhạy trên dữ liệu đa trung tâm.",
        ),
        (
            2,
            &[("nutrition_unsafe_answers_per_1000", 1.0)][..],
            "Đạt yêu cầu an toàn nội dung tư vấn.",
        ),
        (
            3,
            &[("aki_sensitivity", 85.0)][..],
            "Đạt ngưỡng độ nhạy; theo dõi cảnh báo giả.",
        ),
        (
            5,
            &[("va_unsafe_answers_per_1000", 1.0)][..],
            "Đạt yêu cầu; theo dõi câu trả lời không an toàn.",
        ),
    ] {
        let app = dossier(
            store,
            &catalog,
            &maker_of(i).await?,
            &products[i].1,
            &to_review,
        )
        .await?;
        decide(
            store,
            &app,
            DecisionOutcome::ApprovedWithConditions,
            conditions(store, &[], kpis),
            why,
        )
        .await?;
    }

    // TimViệt 1.1: a change beyond the change plan; the regulator asked for subgroup
    // results and the clock is stopped.
    let timviet_next = next_version(store, &products[1], "1.1").await?;
    dossier(
        store,
        &catalog,
        &maker_of(1).await?,
        &timviet_next,
        &[
            (C::Submit, ""),
            (C::StartScreening, "Bắt đầu kiểm tra."),
            (
                C::RequestInformation,
                "Thiếu kết quả theo giới tính và nhóm tuổi.",
            ),
        ],
    )
    .await?;

    // PhimPhổi: under review.
    dossier(
        store,
        &catalog,
        &maker_of(6).await?,
        &products[6].1,
        &to_review,
    )
    .await?;

    // Dinh dưỡng 2.0 (a new language model): a draft the vendor is still writing.
    let maker = maker_of(2).await?;
    let nutrition_next = next_version(store, &products[2], "2.0").await?;
    let draft = store
        .open_application(VENDOR, &maker, &nutrition_next, &[("imdrf-gmlp".into(), 1)])
        .await?;
    let partial: Vec<ItemAnswer> = all_met(&catalog, "imdrf-gmlp")?
        .into_iter()
        .take(3)
        .collect();
    store.save_answers(VENDOR, &draft.id, &partial).await?;

    // Breast FNA cytology: in the sandbox, blind-tested on the Wisconsin data.
    let app = dossier(
        store,
        &catalog,
        &maker_of(7).await?,
        &products[7].1,
        &[
            (C::Submit, ""),
            (C::StartScreening, "Đủ hồ sơ."),
            (C::AcceptForReview, "Thẩm định chuyên môn."),
            (
                C::SendToSandbox,
                "Đánh giá mù trên dữ liệu tham chiếu của cơ quan quản lý.",
            ),
        ],
    )
    .await?;
    sandbox_study(store, &app, &products[7].1).await
}

/// A new published version of a demo product with the same model card.
async fn next_version(store: &Store, product: &(String, String), label: &str) -> Result<String> {
    let current = store
        .version(&product.1)
        .await?
        .ok_or_else(|| anyhow!("demo version missing"))?;
    let card: ModelCard = serde_json::from_str(&current.model_card_json)?;
    let label = VersionLabel::parse(label).map_err(|e| anyhow!("{e:?}"))?;
    let v = store
        .create_version(VENDOR, &product.0, &label, &card)
        .await?;
    store
        .change_version_status(VENDOR, &v.id, VersionCommand::Publish)
        .await?;
    Ok(v.id)
}

/// SpO2 Guard's licence is suspended while a signal is examined (after the pilot's
/// deployments exist, so they can be paused with it).
pub async fn suspend_spo2(store: &Store, products: &[(String, String)]) -> Result<()> {
    if let Some(l) = store
        .authorisations_of_product(&products[4].0)
        .await?
        .first()
    {
        store
            .change_licence(
                ADMIN,
                &l.id,
                LicenceCommand::Suspend,
                "Tín hiệu: cảnh báo giả tăng ở trẻ dưới 1 tuổi, đang điều tra (dữ liệu mẫu).",
            )
            .await?;
    }

    Ok(())
}

async fn sandbox_study(store: &Store, application: &str, version: &str) -> Result<()> {
    let roles = ColumnRoles {
        case_id: "case_id".into(),
        label: "label".into(),
        features: vec![
            "mean_texture".into(),
            "worst_area".into(),
            "worst_smoothness".into(),
        ],
        subgroups: vec!["radius_band".into()],
    };
    let dataset = parse_reference_csv(WDBC_REFERENCE, &roles, &DatasetLimits::default())?;
    let ds = store
        .create_dataset(
            REVIEWER,
            NewDataset {
                name: "Wisconsin Diagnostic Breast Cancer, held-out 20%",
                description: "UCI id 17, CC BY 4.0; 114 cases, stratified seeded split.",
                roles_json: &serde_json::to_string(&roles)?,
                rows: dataset.len() as i64,
                positives: dataset.positives() as i64,
                bytes: WDBC_REFERENCE,
            },
        )
        .await?;
    let protocol = Protocol {
        primary: Endpoint {
            metric: Metric::Sensitivity,
            threshold: Some(0.5),
            min_lower_bound: 0.8,
        },
        secondary: vec![
            Endpoint {
                metric: Metric::Specificity,
                threshold: Some(0.5),
                min_lower_bound: 0.8,
            },
            Endpoint {
                metric: Metric::Auroc,
                threshold: None,
                min_lower_bound: 0.9,
            },
        ],
        score_kind: ScoreKind::Probability,
        subgroup_columns: vec!["radius_band".into()],
        min_subgroup_size: 10,
        max_submissions: 3,
    };
    let study = store
        .create_study(
            REVIEWER,
            NewStudy {
                title: "Đánh giá mù mô hình hồi quy logistic trên WDBC",
                dataset_id: &ds.id,
                version_id: version,
                application_id: Some(application),
                protocol_json: &serde_json::to_string(&protocol)?,
                max_submissions: i64::from(protocol.max_submissions),
            },
        )
        .await?;
    // The vendor's predictions file, as scikit-learn wrote it.
    let predictions =
        parse_predictions(WDBC_PREDICTIONS, &dataset, ScoreKind::Probability, 1 << 20)?;
    let report = evaluate(&dataset, &predictions, &protocol)?;
    record(store, &study.id, "predictions", WDBC_PREDICTIONS, &report).await?;
    // The same model as ONNX, run by the sandbox worker (a child process).
    match crate::sandbox_worker()
        .ok_or_else(|| anyhow!("no path to this executable"))
        .and_then(|w| {
            Ok(run_model(
                &w,
                WDBC_MODEL,
                &dataset.features,
                &RunLimits::default(),
            )?)
        })
        .and_then(|scores| {
            Ok(predictions_from_model(
                WDBC_MODEL,
                &scores,
                &dataset,
                ScoreKind::Probability,
            )?)
        }) {
        Ok(p) => {
            let report = evaluate(&dataset, &p, &protocol)?;
            record(store, &study.id, "onnx", WDBC_MODEL, &report).await?;
        }
        Err(e) => {
            tracing::warn!(error = %e, "demo: the ONNX model did not run; the study shows the predictions file only")
        }
    }
    Ok(())
}

async fn record(
    store: &Store,
    study: &str,
    kind: &str,
    file: &[u8],
    report: &vigilo_sandbox::EvaluationReport,
) -> Result<()> {
    let verdict = report.overall.code();
    store
        .record_submission(
            VENDOR,
            study,
            kind,
            file,
            SubmissionOutcome::Evaluated {
                report_json: serde_json::to_string(report)?,
                verdict: verdict.into(),
            },
        )
        .await?;
    Ok(())
}
