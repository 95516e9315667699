//! A decision letter and a study report of about three pages, shared by the tests and the
//! timing example.

use time::macros::datetime;
use vigilo_report::*;

/// A product name with every character that means something in typst markup.
pub const TRICKY_NAME: &str =
    r#"Máy #1 *beta* $x^2$ <tag> [a] _u_ @ref `c` \path // ~ = - + /* "q""#;

/// Vietnamese letters with every tone mark on several vowels, and đ/Đ.
pub const VIETNAMESE_SAMPLE: &str = "ắ ằ ẳ ẵ ặ ố ờ ự đ Đ Ướt Ỷ ỹ Ậ ệ ở ừ";

fn study_charts(lang: Lang) -> (Svg, Svg, Svg) {
    let roc = roc_curve_svg(
        &[
            (0.0, 0.31),
            (0.05, 0.55),
            (0.1, 0.7),
            (0.2, 0.82),
            (0.4, 0.92),
            (0.7, 0.98),
        ],
        Estimate {
            value: 0.874,
            lower: 0.82,
            upper: 0.91,
        },
        &RocLabels {
            text: ChartText {
                title: "Đường cong ROC".into(),
                description: "Độ nhạy theo tỷ lệ dương tính giả.".into(),
                x_label: "Tỷ lệ dương tính giả".into(),
                y_label: "Độ nhạy".into(),
            },
            auc: "AUC".into(),
            interval: "KTC 95%".into(),
            chance: "Ngẫu nhiên".into(),
        },
        lang,
    );
    let calibration = calibration_svg(
        &[0.05, 0.15, 0.25, 0.35, 0.5, 0.65, 0.8, 0.92]
            .iter()
            .enumerate()
            .map(|(i, p)| CalibrationBin {
                mean_predicted: *p,
                observed: (p * 0.9 + 0.03).min(1.0),
                count: 40 + 10 * i as u64,
            })
            .collect::<Vec<_>>(),
        &CalibrationLabels {
            text: ChartText {
                title: "Biểu đồ hiệu chuẩn".into(),
                description: "Tần suất quan sát theo xác suất dự đoán.".into(),
                x_label: "Xác suất dự đoán".into(),
                y_label: "Tần suất quan sát".into(),
            },
            perfect: "Hiệu chuẩn hoàn hảo".into(),
            observed: "Quan sát".into(),
        },
        lang,
    );
    let kpi = line_chart_svg(
        &KpiSeries {
            periods: (1..=12).map(|m| format!("T{m}")).collect(),
            values: vec![
                Some(78.0),
                Some(81.5),
                Some(84.0),
                None,
                Some(86.0),
                Some(88.5),
                Some(87.0),
                Some(90.5),
                None,
                None,
                Some(91.0),
                Some(92.5),
            ],
            target: Some(90.0),
            y_range: Some((0.0, 100.0)),
        },
        &KpiLabels {
            text: ChartText {
                title: "Tỷ lệ sàng lọc lao (%)".into(),
                description: "Theo tháng, năm 2026.".into(),
                x_label: "Tháng".into(),
                y_label: "%".into(),
            },
            target: "Mục tiêu 90%".into(),
            missing: "Không có số liệu".into(),
        },
        lang,
    );
    (roc, calibration, kpi)
}

pub fn decision_letter() -> Document {
    let (roc, calibration, kpi) = study_charts(Lang::Vi);
    let rows: Vec<Vec<String>> = (1..=40)
        .map(|i| {
            vec![
                format!("Trạm y tế xã Đông Hưng {i}"),
                format_number(1000.0 + 37.5 * i as f64, 0, Lang::Vi),
                format_percent(0.8 + i as f64 / 400.0, 1, Lang::Vi),
            ]
        })
        .collect();
    Document {
        lang: Lang::Vi,
        title: "Quyết định cấp phép thử nghiệm có kiểm soát".into(),
        subtitle: Some(format!("Sản phẩm {TRICKY_NAME}")),
        meta: vec![
            ("Số hồ sơ".into(), "HS-2026-0042".into()),
            (
                "Nhà sản xuất".into(),
                "Công ty Cổ phần Trí tuệ Nhân tạo Việt".into(),
            ),
        ],
        created: Some(datetime!(2026-11-23 09:30:00 UTC)),
        author: Some("Bộ Y tế".into()),
        footer: Some("Số: 42/QĐ-BYT".into()),
        blocks: vec![
            Block::Letterhead(Letterhead {
                authority: vec!["BỘ Y TẾ".into(), "CỤC CÔNG NGHỆ THÔNG TIN".into()],
                reference: Some("Số: 42/QĐ-BYT".into()),
                motto: vec![
                    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM".into(),
                    "Độc lập - Tự do - Hạnh phúc".into(),
                ],
                place_date: Some("Hà Nội, ngày 23 tháng 11 năm 2026".into()),
            }),
            Block::heading(1, "Căn cứ"),
            Block::List(vec![
                vec![Inline::plain("Luật Trí tuệ nhân tạo số 134/2025/QH15;")],
                vec![Inline::plain(
                    "Nghị định số 98/2021/NĐ-CP về quản lý trang thiết bị y tế;",
                )],
            ]),
            Block::Paragraph(vec![
                Inline::plain("Xét hồ sơ của sản phẩm "),
                Inline::bold(TRICKY_NAME),
                Inline::plain(" và "),
                Inline::italic("kết quả thử nghiệm"),
                Inline::plain(format!(" ({VIETNAMESE_SAMPLE}).")),
            ]),
            Block::heading(2, "Kết quả đánh giá"),
            Block::KeyValue(vec![
                ("AUC".into(), "0,874 (KTC 95% 0,820–0,910)".into()),
                ("Độ nhạy".into(), format_percent(0.912, 1, Lang::Vi)),
            ]),
            Block::Figure(Figure {
                svg: roc,
                caption: "Hình 1. Đường cong ROC".into(),
            }),
            Block::Figure(Figure {
                svg: calibration,
                caption: "Hình 2. Hiệu chuẩn".into(),
            }),
            Block::note(
                NoteKind::Warning,
                "Sản phẩm chỉ được dùng trong phạm vi thử nghiệm.",
            ),
            Block::Table(DataTable {
                caption: Some("Bảng 1. Cơ sở tham gia".into()),
                columns: vec![
                    Column::text("Cơ sở"),
                    Column::numeric("Số ca"),
                    Column::numeric("Tỷ lệ"),
                ],
                rows,
            }),
            Block::Figure(Figure {
                svg: kpi,
                caption: "Hình 3. Chỉ số theo tháng".into(),
            }),
            Block::note(NoteKind::Info, "Báo cáo định kỳ hằng quý."),
            Block::Signature(Signature {
                place_date: None,
                title: vec!["KT. CỤC TRƯỞNG".into(), "PHÓ CỤC TRƯỞNG".into()],
                name: "Nguyễn Văn Đức".into(),
            }),
        ],
    }
}

pub fn english_report() -> Document {
    let (roc, _, _) = study_charts(Lang::En);
    Document {
        lang: Lang::En,
        title: "Sandbox study report".into(),
        subtitle: Some("Tuberculosis screening on chest X-rays".into()),
        meta: vec![("Study".into(), "SB-2026-007".into())],
        created: None,
        author: None,
        footer: Some("Ref. SB-2026-007".into()),
        blocks: vec![
            Block::heading(1, "Summary"),
            Block::paragraph(format!(
                "The product {TRICKY_NAME} met its sensitivity target."
            )),
            Block::PageBreak,
            Block::Figure(Figure {
                svg: roc,
                caption: "Figure 1. ROC curve".into(),
            }),
        ],
    }
}
