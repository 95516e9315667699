//! PDF output: valid, deterministic, text really extractable (Vietnamese and English),
//! user text literal, figures embedded as vectors, metadata from the document.
//!
//! Text is extracted with `pdftotext` and metadata read with `pdfinfo`, from Debian's
//! `poppler-utils`: poppler is the reference reader on Linux, so if it reads the text back,
//! viewers will too.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{decision_letter, english_report, TRICKY_NAME, VIETNAMESE_SAMPLE};
use proptest::prelude::*;
use vigilo_report::{Block, Document, Lang};
use vigilo_report_pdf::{embedded_fonts, to_pdf, BODY_FONT, FALLBACK_FONT};

/// Runs a poppler tool on `pdf` (written to a temporary file: not every tool reads
/// stdin), with `-` in `args` standing for the file; returns its stdout.
fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "vigilo-report-pdf-{}-{}.pdf",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, pdf).expect("write temporary pdf");
    let path_arg = path.to_string_lossy().into_owned();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "-" { path_arg.as_str() } else { a })
        .collect();
    let output = Command::new(tool).args(&args).output();
    let _ = std::fs::remove_file(&path);
    let output = output.unwrap_or_else(|e| {
        panic!("cannot run `{tool}` ({e}): install Debian's `poppler-utils` package")
    });
    assert!(output.status.success(), "{tool} failed: {output:?}");
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn text_of(pdf: &[u8]) -> String {
    poppler("pdftotext", &["-enc", "UTF-8", "-", "/dev/stdout"], pdf)
}

/// Collapses whitespace, since line breaking and justification move it around.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn pdf_is_well_formed_and_deterministic() {
    let doc = decision_letter();
    let first = to_pdf(&doc).expect("renders");
    let second = to_pdf(&doc).expect("renders again");
    assert!(first.starts_with(b"%PDF-"), "header");
    let tail = &first[first.len().saturating_sub(32)..];
    assert!(
        String::from_utf8_lossy(tail).trim_end().ends_with("%%EOF"),
        "trailer"
    );
    assert!(first == second, "same document, same bytes");
    let info = poppler("pdfinfo", &["-"], &first);
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("page count");
    assert!(pages >= 3, "the sample is about three pages, got {pages}");
    assert!(
        squash(&info).contains("Page size: 595.276 x 841.89 pts (A4)"),
        "{info}"
    );
    // Every page carries its number out of the total and the footer line.
    for page in 1..=pages {
        let number = page.to_string();
        let text = squash(&poppler(
            "pdftotext",
            &[
                "-enc",
                "UTF-8",
                "-f",
                &number,
                "-l",
                &number,
                "-",
                "/dev/stdout",
            ],
            &first,
        ))
        .replace(" / ", "/");
        assert!(
            text.contains("Số: 42/QĐ-BYT"),
            "no footer on page {page}: {text}"
        );
        assert!(
            text.contains(&format!("{page}/{pages}")),
            "no number on page {page}: {text}"
        );
    }
}

#[test]
fn metadata_comes_from_the_document() {
    let pdf = to_pdf(&decision_letter()).expect("renders");
    let info = poppler("pdfinfo", &["-isodates", "-"], &pdf);
    assert!(
        info.contains("Title:           Quyết định cấp phép thử nghiệm có kiểm soát"),
        "{info}"
    );
    assert!(info.contains("Author:          Bộ Y tế"), "{info}");
    assert!(
        info.contains("CreationDate:    2026-11-23T09:30:00Z"),
        "{info}"
    );
    assert!(info.contains("Creator:         Vigilo"), "{info}");
    let raw = String::from_utf8_lossy(&pdf);
    assert!(
        raw.contains("/Lang(vi)"),
        "document language in the catalog"
    );

    let english = to_pdf(&english_report()).expect("renders");
    let info = poppler("pdfinfo", &["-"], &english);
    assert!(
        !info.contains("CreationDate"),
        "no date passed, none written: {info}"
    );
    assert!(String::from_utf8_lossy(&english).contains("/Lang(en)"));
}

#[test]
fn vietnamese_and_english_text_is_extractable() {
    let text = squash(&text_of(&to_pdf(&decision_letter()).expect("renders")));
    for expected in [
        VIETNAMESE_SAMPLE,
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Hà Nội, ngày 23 tháng 11 năm 2026",
        "Căn cứ",
        "Trạm y tế xã Đông Hưng 40",
        "Nguyễn Văn Đức",
        "KT. CỤC TRƯỞNG",
        "Số: 42/QĐ-BYT",
        "Bảng 1. Cơ sở tham gia",
        "Hình 1. Đường cong ROC",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let english =
        squash(&text_of(&to_pdf(&english_report()).expect("renders"))).replace(" / ", "/");
    for expected in [
        "Sandbox study report",
        "met its sensitivity target",
        "Ref. SB-2026-007 1/2",
        "Ref. SB-2026-007 2/2",
    ] {
        assert!(
            english.contains(expected),
            "missing {expected:?} in:\n{english}"
        );
    }
}

#[test]
fn typst_special_characters_come_out_literally() {
    let text = squash(&text_of(&to_pdf(&decision_letter()).expect("renders")));
    // Subtitle, bold run and paragraph all carry the name.
    assert!(
        text.matches(&squash(TRICKY_NAME)).count() >= 2,
        "{TRICKY_NAME:?} not literal in:\n{text}"
    );
    // Every field of the model goes through the same escaping: a document made only of
    // special characters typesets.
    let nasty = r#"#let x = 1; #panic("no") ] [ } { \ " */ $"#;
    let doc = Document {
        lang: Lang::En,
        title: nasty.into(),
        subtitle: Some(nasty.into()),
        meta: vec![(nasty.into(), nasty.into())],
        footer: Some(nasty.into()),
        author: Some(nasty.into()),
        blocks: vec![Block::heading(1, nasty), Block::paragraph(nasty)],
        ..Document::default()
    };
    let text = squash(&text_of(&to_pdf(&doc).expect("special characters typeset")));
    assert!(text.matches(&squash(nasty)).count() >= 5, "{text}");
}

#[test]
fn svg_figures_are_embedded_as_vectors() {
    let pdf = to_pdf(&decision_letter()).expect("renders");
    let images = poppler("pdfimages", &["-list", "-"], &pdf);
    assert_eq!(
        images.lines().count(),
        2,
        "no raster images, only the header: {images}"
    );
    // Chart labels stay text: searchable and sharp when printed.
    let text = squash(&text_of(&pdf));
    for label in [
        "Tỷ lệ dương tính giả",
        "Hiệu chuẩn hoàn hảo",
        "Mục tiêu 90%",
        "AUC 0,874 (KTC 95% 0,820–0,910)",
    ] {
        assert!(
            text.contains(label),
            "chart label {label:?} missing in:\n{text}"
        );
    }
}

#[test]
fn fonts_cover_vietnamese_in_every_style() {
    let lower = "aàảãáạăằẳẵắặâầẩẫấậeèẻẽéẹêềểễếệiìỉĩíịoòỏõóọôồổỗốộơờởỡớợuùủũúụưừửữứựyỳỷỹýỵđ";
    let letters: Vec<char> = lower.chars().chain(lower.to_uppercase().chars()).collect();
    let body: Vec<_> = embedded_fonts()
        .filter(|f| f.info().family == BODY_FONT)
        .collect();
    assert!(body.len() >= 4, "regular, bold, italic, bold italic");
    for face in body {
        let variant = face.info().variant;
        let fallback = embedded_fonts().find(|f| {
            f.info().family == FALLBACK_FONT
                && f.info().variant.style == variant.style
                && f.info().variant.weight == variant.weight
        });
        for ch in &letters {
            let code = u32::from(*ch);
            assert!(
                face.info().coverage.contains(code)
                    || fallback.is_some_and(|f| f.info().coverage.contains(code)),
                "{BODY_FONT} {variant:?} lacks {ch} and has no fallback for it"
            );
        }
    }
    // The regular, bold and italic faces the renderer uses need no fallback at all.
    let complete = embedded_fonts()
        .filter(|f| f.info().family == BODY_FONT)
        .filter(|f| {
            letters
                .iter()
                .all(|c| f.info().coverage.contains(u32::from(*c)))
        })
        .count();
    assert!(complete >= 3, "only {complete} complete faces");
}

#[test]
fn rendering_is_fast() {
    let doc = decision_letter();
    to_pdf(&doc).expect("warm up");
    let start = std::time::Instant::now();
    to_pdf(&doc).expect("renders");
    let elapsed = start.elapsed();
    // Debug builds are several times slower than release; this only catches a regression
    // by an order of magnitude. The release figure is in docs/reports.md.
    assert!(elapsed.as_secs_f64() < 10.0, "took {elapsed:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    // Any text a vendor might type (ASCII punctuation included, Vietnamese letters) typesets
    // and reads back unchanged.
    #[test]
    fn any_user_text_reads_back_literally(text in "[ -~ắằẳẵặốờựđĐ]{1,40}") {
        let marked = format!("<<{text}>>");
        let doc = Document {
            lang: Lang::Vi,
            title: "T".into(),
            blocks: vec![Block::paragraph(marked.clone())],
            ..Document::default()
        };
        let pdf = to_pdf(&doc).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let extracted = squash(&text_of(&pdf));
        prop_assert!(extracted.contains(&squash(&marked)), "{:?} became {:?}", marked, extracted);
    }
}
