//! DOCX output read back at the file level: the package holds the parts Word needs, every
//! part is well-formed XML, and `word/document.xml` gives back the headings, paragraphs,
//! list items and table cells in order, Vietnamese diacritics and markup characters intact.

use std::collections::BTreeSet;
use std::io::{Cursor, Read};

use proptest::prelude::*;
use quick_xml::events::Event;
use quick_xml::Reader;
use time::macros::datetime;
use vigilo_report::*;

/// One paragraph of `word/document.xml`: its style, list numbering id, highlighted runs and
/// text (runs joined; `w:br` as a newline, `w:tab` as a tab).
#[derive(Debug, Default, Clone, PartialEq)]
struct Para {
    style: String,
    num_id: Option<String>,
    in_table: bool,
    highlighted: Vec<String>,
    text: String,
}

fn attr(e: &quick_xml::events::BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .filter_map(Result::ok)
        .find(|a| a.key.as_ref() == name.as_bytes())
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

fn entity(name: &str) -> String {
    match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        other => panic!("unexpected entity {other}"),
    }
    .to_string()
}

/// Parses a part strictly (matching end tags, nothing left open) into its paragraphs.
fn paragraphs(xml: &str) -> Vec<Para> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut out = Vec::new();
    let mut current: Option<Para> = None;
    let mut table_depth = 0;
    let mut in_text = false;
    let mut run_highlighted = false;
    let mut run_text = String::new();
    let mut depth = 0i32;
    loop {
        let event = reader.read_event().expect("well-formed XML");
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(event, Event::Empty(_));
                if !empty {
                    depth += 1;
                }
                match e.name().as_ref() {
                    b"w:tbl" => table_depth += 1,
                    b"w:p" => {
                        let p = Para {
                            in_table: table_depth > 0,
                            ..Para::default()
                        };
                        if empty {
                            out.push(p);
                        } else {
                            current = Some(p);
                        }
                    }
                    b"w:pStyle" => {
                        if let Some(p) = current.as_mut() {
                            p.style = attr(e, "w:val").unwrap_or_default();
                        }
                    }
                    b"w:numId" => {
                        if let Some(p) = current.as_mut() {
                            p.num_id = attr(e, "w:val");
                        }
                    }
                    b"w:r" => {
                        run_highlighted = false;
                        run_text.clear();
                    }
                    b"w:highlight" => run_highlighted = true,
                    b"w:t" if !empty => in_text = true,
                    // A page break is layout, not text.
                    b"w:br" if attr(e, "w:type").is_none() => run_text.push('\n'),
                    b"w:tab" => run_text.push('\t'),
                    _ => {}
                }
            }
            Event::End(e) => {
                depth -= 1;
                match e.name().as_ref() {
                    b"w:tbl" => table_depth -= 1,
                    b"w:t" => in_text = false,
                    b"w:r" => {
                        if let Some(p) = current.as_mut() {
                            if run_highlighted {
                                p.highlighted.push(run_text.clone());
                            }
                            p.text.push_str(&run_text);
                        }
                    }
                    b"w:p" => out.extend(current.take()),
                    _ => {}
                }
            }
            Event::Text(t) if in_text => run_text.push_str(&t.decode().expect("utf-8")),
            Event::GeneralRef(r) if in_text => {
                run_text.push_str(&entity(&r.decode().expect("utf-8")))
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced elements");
    out
}

fn unzip(bytes: &[u8]) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip file");
    let mut parts = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).expect("entry");
        let name = file.name().expect("entry name").to_string();
        let mut text = String::new();
        file.read_to_string(&mut text).expect("utf-8 part");
        parts.push((name, text));
    }
    parts
}

fn part<'a>(parts: &'a [(String, String)], name: &str) -> &'a str {
    parts
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t.as_str())
        .unwrap_or_else(|| panic!("no part {name}"))
}

fn sample() -> Document {
    Document {
        lang: Lang::Vi,
        title: "Quy chế quản trị AI của đơn vị".into(),
        subtitle: Some("Ban hành kèm theo Quyết định số [số]".into()),
        meta: vec![("Phiên bản".into(), "1".into())],
        created: Some(datetime!(2026-03-01 08:30 UTC)),
        author: Some("Bộ Y tế".into()),
        footer: Some("Vigilo · blueprint-governance-policy".into()),
        blocks: vec![
            Block::Letterhead(Letterhead {
                authority: vec!["[CƠ QUAN CHỦ QUẢN]".into(), "[TÊN CƠ SỞ]".into()],
                reference: None,
                motto: vec![
                    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM".into(),
                    "Độc lập - Tự do - Hạnh phúc".into(),
                ],
                place_date: Some("[Địa danh], ngày [..] tháng [..] năm [....]".into()),
            }),
            Block::heading(1, "Điều 1. Giải thích từ ngữ"),
            Block::Paragraph(vec![
                Inline::plain("Giám đốc "),
                Inline::field("[Tên cơ sở]"),
                Inline::plain(" ra quyết định <thành lập> & \"ký\"."),
            ]),
            Block::NumberedList(vec![
                vec![Inline::plain("Công cụ AI là phần mềm.")],
                vec![Inline::bold("Nhà cung cấp"), Inline::plain(" là tổ chức.")],
            ]),
            Block::heading(2, "Thành phần"),
            Block::Table(DataTable {
                caption: Some("Bảng 1".into()),
                columns: vec![Column::text("Vai trò"), Column::numeric("Số lượng")],
                rows: vec![vec!["Chủ tịch".into(), "1".into()], vec!["Ủy viên".into()]],
            }),
            Block::List(vec![vec![Inline::plain("Dấu đầu dòng\nhai dòng")]]),
            Block::NumberedList(vec![vec![Inline::plain("Lại từ 1")]]),
            Block::note(NoteKind::Warning, "Ghi chú: điền\tchỗ trống."),
            Block::PageBreak,
            Block::Signature(Signature {
                place_date: None,
                title: vec!["GIÁM ĐỐC".into()],
                name: "[Họ tên]".into(),
            }),
        ],
    }
}

#[test]
fn the_package_has_every_part_word_needs_all_well_formed() {
    let bytes = to_docx(&sample()).expect("renders");
    assert!(bytes.starts_with(b"PK"), "a zip file");
    let parts = unzip(&bytes);
    let names: BTreeSet<&str> = parts.iter().map(|(n, _)| n.as_str()).collect();
    for needed in [
        "[Content_Types].xml",
        "_rels/.rels",
        "word/_rels/document.xml.rels",
        "word/document.xml",
        "word/styles.xml",
        "word/numbering.xml",
        "word/footer1.xml",
        "docProps/core.xml",
    ] {
        assert!(names.contains(needed), "{needed} missing: {names:?}");
    }
    assert_eq!(
        parts[0].0, "[Content_Types].xml",
        "content types come first"
    );
    let types = part(&parts, "[Content_Types].xml");
    for (name, text) in &parts {
        paragraphs(text); // well-formed
        if name.ends_with(".xml") && name != "[Content_Types].xml" {
            assert!(
                types.contains(&format!("/{name}\"")),
                "{name} has no content type"
            );
        }
    }
    let core = part(&parts, "docProps/core.xml");
    assert!(core.contains("<dc:title>Quy chế quản trị AI của đơn vị</dc:title>"));
    assert!(core.contains("2026-03-01T08:30:00Z"));
    assert!(part(&parts, "word/styles.xml").contains("w:val=\"vi-VN\""));
    // The same document gives the same bytes.
    assert_eq!(bytes, to_docx(&sample()).unwrap());
}

#[test]
fn document_xml_reads_back_in_order_with_its_styles() {
    let parts = unzip(&to_docx(&sample()).unwrap());
    let paras = paragraphs(part(&parts, "word/document.xml"));
    let texts: Vec<&str> = paras
        .iter()
        .filter(|p| !p.text.is_empty())
        .map(|p| p.text.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "[CƠ QUAN CHỦ QUẢN]",
            "[TÊN CƠ SỞ]",
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            "[Địa danh], ngày [..] tháng [..] năm [....]",
            "Quy chế quản trị AI của đơn vị",
            "Ban hành kèm theo Quyết định số [số]",
            "Phiên bản",
            "1",
            "Điều 1. Giải thích từ ngữ",
            "Giám đốc [Tên cơ sở] ra quyết định <thành lập> & \"ký\".",
            "Công cụ AI là phần mềm.",
            "Nhà cung cấp là tổ chức.",
            "Thành phần",
            "Bảng 1",
            "Vai trò",
            "Số lượng",
            "Chủ tịch",
            "1",
            "Ủy viên",
            "Dấu đầu dòng\nhai dòng",
            "Lại từ 1",
            "Ghi chú: điền\tchỗ trống.",
            "GIÁM ĐỐC",
            "[Họ tên]",
        ]
    );
    let find = |text: &str| paras.iter().find(|p| p.text == text).unwrap();
    assert_eq!(find("Quy chế quản trị AI của đơn vị").style, "Title");
    assert_eq!(find("Điều 1. Giải thích từ ngữ").style, "Heading1");
    assert_eq!(find("Thành phần").style, "Heading2");
    assert!(find("Chủ tịch").in_table);
    assert!(!find("Điều 1. Giải thích từ ngữ").in_table);
    // The fill-in field is highlighted, the rest of its paragraph is not.
    let p = find("Giám đốc [Tên cơ sở] ra quyết định <thành lập> & \"ký\".");
    assert_eq!(p.highlighted, ["[Tên cơ sở]"]);
    // Bullets share list 1; each numbered list has its own numbering, restarting at 1.
    assert_eq!(find("Dấu đầu dòng\nhai dòng").num_id.as_deref(), Some("1"));
    assert_eq!(find("Công cụ AI là phần mềm.").num_id.as_deref(), Some("2"));
    assert_eq!(
        find("Nhà cung cấp là tổ chức.").num_id.as_deref(),
        Some("2")
    );
    assert_eq!(find("Lại từ 1").num_id.as_deref(), Some("3"));
    let numbering = part(&parts, "word/numbering.xml");
    for id in ["1", "2", "3"] {
        assert!(numbering.contains(&format!("w:numId=\"{id}\"")), "num {id}");
    }
    assert!(numbering.contains("<w:startOverride w:val=\"1\"/>"));
    // The header row repeats on every page.
    assert!(part(&parts, "word/document.xml").contains("<w:tblHeader/>"));
    assert!(part(&parts, "word/footer1.xml").contains("Vigilo · blueprint-governance-policy"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the text, the parts stay well-formed and the text comes back (control
    /// characters other than tab and newline replaced).
    #[test]
    fn any_text_round_trips(text in "[a-zA-Z0-9 <>&\"'\\[\\]ăâđêôơưÀ-ỹ\u{1}\t\n]{1,40}") {
        let doc = Document {
            title: text.clone(),
            blocks: vec![Block::heading(1, text.clone()), Block::paragraph(text.clone())],
            ..Document::default()
        };
        let parts = unzip(&to_docx(&doc).unwrap());
        let paras = paragraphs(part(&parts, "word/document.xml"));
        let expected: String = text
            .chars()
            .map(|c| if c.is_control() && c != '\t' && c != '\n' { '\u{FFFD}' } else { c })
            .collect();
        let headings: Vec<&Para> = paras.iter().filter(|p| p.style == "Heading1").collect();
        prop_assert_eq!(headings.len(), 1);
        prop_assert_eq!(&headings[0].text, &expected);
        prop_assert!(paras.iter().any(|p| p.style.is_empty() && p.text == expected));
        paragraphs(part(&parts, "docProps/core.xml"));
    }
}
