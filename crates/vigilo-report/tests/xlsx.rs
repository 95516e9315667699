//! XLSX export read back at the file level: the zip holds the expected sheets, cells have
//! the right values and types (numbers as numbers, suppressed cells as strings), the
//! header is frozen and sheet names follow Excel's rules.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use time::macros::datetime;
use vigilo_report::*;

/// A small element tree, enough to walk the few XLSX parts the tests look at.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: HashMap<String, String>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every descendant with this name, in document order.
    fn all<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for child in &self.children {
            if child.name == name {
                out.push(child);
            }
            child.all(name, out);
        }
    }

    fn find_all(&self, name: &str) -> Vec<&Element> {
        let mut out = Vec::new();
        self.all(name, &mut out);
        out
    }

    /// Text of this element and its descendants, as a shared string's runs join up.
    fn deep_text(&self) -> String {
        let mut text = self.text.clone();
        for child in &self.children {
            text.push_str(&child.deep_text());
        }
        text
    }
}

fn element(start: &BytesStart) -> Element {
    let mut attrs = HashMap::new();
    for attr in start.attributes() {
        let attr = attr.expect("attribute");
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Explicit1_0)
            .expect("attribute value")
            .into_owned();
        attrs.insert(key, value);
    }
    Element {
        name: String::from_utf8_lossy(start.name().as_ref()).into_owned(),
        attrs,
        ..Element::default()
    }
}

fn parse(xml: &str) -> Element {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack = vec![Element::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => {
                let done = element(&e);
                stack.last_mut().expect("parent").children.push(done);
            }
            Event::End(_) => {
                let done = stack.pop().expect("open element");
                stack.last_mut().expect("parent").children.push(done);
            }
            Event::Text(t) => {
                let text = t.decode().expect("text");
                stack.last_mut().expect("element").text.push_str(&text);
            }
            Event::GeneralRef(r) => {
                let name = r.decode().expect("entity");
                let resolved = match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                };
                stack.last_mut().expect("element").text.push_str(resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unbalanced XML");
    stack.pop().expect("root")
}

/// One cell as stored: the type attribute decides how its `<v>` is read.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Number { value: f64, format: String },
    Shared(String),
    Inline(String),
}

struct Book {
    names: Vec<String>,
    sheets: Vec<Element>,
    shared: Vec<String>,
    /// Number format code of each cell style index.
    formats: Vec<String>,
}

impl Book {
    fn read(bytes: &[u8]) -> Book {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a valid zip");
        let mut part = |name: &str| {
            let mut text = String::new();
            zip.by_name(name)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .read_to_string(&mut text)
                .expect("UTF-8 part");
            parse(&text)
        };
        let workbook = part("xl/workbook.xml");
        let names: Vec<String> = workbook
            .find_all("sheet")
            .iter()
            .map(|s| s.attr("name").expect("sheet name").to_string())
            .collect();
        // rust_xlsxwriter numbers sheet parts in workbook order.
        let sheets = (1..=names.len())
            .map(|n| part(&format!("xl/worksheets/sheet{n}.xml")))
            .collect();
        let shared = part("xl/sharedStrings.xml")
            .find_all("si")
            .iter()
            .map(|si| si.deep_text())
            .collect();
        let styles = part("xl/styles.xml");
        let custom: HashMap<String, String> = styles
            .find_all("numFmt")
            .iter()
            .map(|f| {
                let id = f.attr("numFmtId").expect("id").to_string();
                (id, f.attr("formatCode").expect("code").to_string())
            })
            .collect();
        let xfs = styles
            .child("styleSheet")
            .and_then(|s| s.child("cellXfs"))
            .expect("cellXfs");
        let formats = xfs
            .find_all("xf")
            .iter()
            .map(|xf| {
                let id = xf.attr("numFmtId").unwrap_or("0");
                custom
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("builtin {id}"))
            })
            .collect();
        Book {
            names,
            sheets,
            shared,
            formats,
        }
    }

    fn sheet(&self, name: &str) -> &Element {
        let index = self
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no sheet {name:?} in {:?}", self.names));
        &self.sheets[index]
    }

    /// The cells of a sheet by reference ("B2"); cells without a value are left out.
    fn cells(&self, name: &str) -> HashMap<String, Cell> {
        let mut cells = HashMap::new();
        for c in self.sheet(name).find_all("c") {
            let reference = c.attr("r").expect("cell reference").to_string();
            let value = c.child("v").map(|v| v.text.clone());
            let cell = match (c.attr("t"), value) {
                (Some("s"), Some(v)) => {
                    Cell::Shared(self.shared[v.parse::<usize>().expect("index")].clone())
                }
                (Some("inlineStr"), _) => {
                    Cell::Inline(c.child("is").expect("inline string").deep_text())
                }
                (None | Some("n"), Some(v)) => {
                    let style: usize = c.attr("s").unwrap_or("0").parse().expect("style");
                    Cell::Number {
                        value: v.parse().expect("number"),
                        format: self.formats[style].clone(),
                    }
                }
                (_, None) => continue,
                (other, _) => panic!("unexpected cell type {other:?} at {reference}"),
            };
            cells.insert(reference, cell);
        }
        cells
    }
}

fn text(s: &str) -> Cell {
    Cell::Shared(s.to_string())
}

fn num(value: f64, format: &str) -> Cell {
    Cell::Number {
        value,
        format: format.to_string(),
    }
}

fn incidents(caption: &str) -> DataTable {
    DataTable {
        caption: Some(caption.to_string()),
        columns: vec![
            Column::text("Cơ sở"),
            Column::numeric("Số ca"),
            Column::numeric("Tỷ lệ phát hiện"),
            Column::numeric("AUC"),
        ],
        rows: vec![
            vec![
                "Bệnh viện Bạch Mai".into(),
                "1.234".into(),
                "87,4%".into(),
                "0,912".into(),
            ],
            vec![
                "Trạm y tế xã Đông Anh".into(),
                "<5".into(),
                "–".into(),
                "".into(),
            ],
            // A short row: missing cells stay empty.
            vec!["=SUM(A1)".into(), "-12".into()],
            // An extra cell beyond the columns is dropped.
            vec![
                "Phòng khám Đa khoa".into(),
                "0".into(),
                "100,0%".into(),
                "1,000".into(),
                "thừa".into(),
            ],
        ],
    }
}

fn report() -> Document {
    Document {
        lang: Lang::Vi,
        title: "Báo cáo giám sát AI trong y tế quý 3/2026".into(),
        subtitle: Some("Cục Quản lý Khám, chữa bệnh".into()),
        meta: vec![("Kỳ báo cáo".into(), "Quý 3/2026".into())],
        created: Some(datetime!(2026-10-05 09:30 +07:00)),
        author: Some("Bộ Y tế".into()),
        footer: Some("Số: 12/BC-KCB".into()),
        blocks: vec![
            Block::heading(1, "Kết quả chính"),
            Block::Paragraph(vec![
                Inline::plain("Tỷ lệ phát hiện "),
                Inline::bold("đạt mục tiêu"),
                Inline::plain(" ở hầu hết cơ sở."),
            ]),
            Block::KeyValue(vec![("Số sản phẩm theo dõi".into(), "42".into())]),
            Block::Table(incidents("Sự cố theo cơ sở: [Hà Nội]")),
            Block::Table(incidents("Sự cố theo cơ sở: [Hà Nội]")),
            Block::heading(2, "Tỷ lệ phát hiện sai theo thuật toán chẩn đoán hình ảnh"),
            Block::Table(DataTable {
                caption: None,
                columns: vec![Column::text("Thuật toán"), Column::numeric("Tỷ lệ")],
                rows: vec![vec!["X-quang ngực".into(), "3,25%".into()]],
            }),
            Block::Table(DataTable {
                caption: Some("Tóm tắt".into()),
                columns: vec![Column::text("Mục")],
                rows: vec![],
            }),
            Block::note(NoteKind::Warning, "Ô có ít hơn 5 ca được ẩn."),
        ],
    }
}

#[test]
fn workbook_has_summary_then_one_sheet_per_table_with_valid_unique_names() {
    let bytes = to_xlsx(&report()).expect("xlsx");
    let book = Book::read(&bytes);
    assert_eq!(
        book.names,
        [
            "Tóm tắt",
            "Sự cố theo cơ sở - (Hà Nội)",
            "Sự cố theo cơ sở - (Hà Nội) (2)",
            "Tỷ lệ phát hiện sai theo thuật",
            "Tóm tắt (2)",
        ]
    );
    for name in &book.names {
        assert!(name.encode_utf16().count() <= 31, "{name}");
        assert!(
            !name.contains(['[', ']', ':', '*', '?', '/', '\\']),
            "{name}"
        );
    }
}

#[test]
fn numbers_are_numbers_and_suppressed_cells_are_text() {
    let book = Book::read(&to_xlsx(&report()).expect("xlsx"));
    let cells = book.cells("Sự cố theo cơ sở - (Hà Nội)");
    let expected = [
        ("A1", text("Cơ sở")),
        ("B1", text("Số ca")),
        ("C1", text("Tỷ lệ phát hiện")),
        ("D1", text("AUC")),
        ("A2", text("Bệnh viện Bạch Mai")),
        ("B2", num(1234.0, "#,##0")),
        ("C2", num(0.874, "0.0%")),
        ("D2", num(0.912, "#,##0.000")),
        ("A3", text("Trạm y tế xã Đông Anh")),
        ("B3", text("<5")),
        // A formula-looking text stays text.
        ("A4", text("=SUM(A1)")),
        ("B4", num(-12.0, "#,##0")),
        ("A5", text("Phòng khám Đa khoa")),
        ("B5", num(0.0, "#,##0")),
        ("C5", num(1.0, "0.0%")),
        ("D5", num(1.0, "#,##0.000")),
    ];
    for (reference, cell) in &expected {
        assert_eq!(cells.get(*reference), Some(cell), "{reference}");
    }
    // "–", "" and missing cells are empty; the extra fifth cell is dropped.
    for reference in ["C3", "D3", "C4", "D4", "E5"] {
        assert_eq!(cells.get(reference), None, "{reference}");
    }
    assert_eq!(cells.len(), expected.len());

    let other = book.cells("Tỷ lệ phát hiện sai theo thuật");
    assert_eq!(other.get("B2"), Some(&num(0.0325, "0.00%")));
}

#[test]
fn header_row_is_bold_and_frozen_and_columns_are_sized() {
    let bytes = to_xlsx(&report()).expect("xlsx");
    let book = Book::read(&bytes);
    for name in &book.names[1..] {
        let sheet = book.sheet(name);
        let pane = sheet.find_all("pane");
        let pane = pane.first().unwrap_or_else(|| panic!("{name}: no pane"));
        assert_eq!(pane.attr("state"), Some("frozen"), "{name}");
        assert_eq!(pane.attr("ySplit"), Some("1"), "{name}");
        assert_eq!(pane.attr("topLeftCell"), Some("A2"), "{name}");
        assert_eq!(pane.attr("xSplit"), None, "{name}");
        let widths: Vec<f64> = sheet
            .find_all("col")
            .iter()
            .map(|c| c.attr("width").expect("width").parse().expect("number"))
            .collect();
        assert!(!widths.is_empty(), "{name}: no column widths");
        assert!(
            widths.iter().all(|w| (8.0..=63.0).contains(w)),
            "{name}: {widths:?}"
        );
    }
    // The header's style is bold: find its font through the cell's xf.
    let mut zip = zip::ZipArchive::new(Cursor::new(&bytes)).expect("zip");
    let mut styles = String::new();
    zip.by_name("xl/styles.xml")
        .expect("styles")
        .read_to_string(&mut styles)
        .expect("utf-8");
    let styles = parse(&styles);
    let fonts = styles.find_all("font");
    let xfs = styles
        .child("styleSheet")
        .and_then(|s| s.child("cellXfs"))
        .expect("cellXfs")
        .find_all("xf");
    let sheet = book.sheet("Sự cố theo cơ sở - (Hà Nội)");
    for c in sheet.find_all("c") {
        let reference = c.attr("r").expect("r");
        if !reference.ends_with('1') || reference.len() != 2 {
            continue;
        }
        let xf = xfs[c
            .attr("s")
            .expect("header style")
            .parse::<usize>()
            .expect("index")];
        let font = fonts[xf
            .attr("fontId")
            .expect("font")
            .parse::<usize>()
            .expect("id")];
        assert!(font.child("b").is_some(), "{reference} is not bold");
    }
}

#[test]
fn summary_sheet_carries_title_period_generated_at_and_text() {
    let book = Book::read(&to_xlsx(&report()).expect("xlsx"));
    let cells = book.cells("Tóm tắt");
    let values: Vec<&Cell> = cells.values().collect();
    for wanted in [
        "Báo cáo giám sát AI trong y tế quý 3/2026",
        "Kỳ báo cáo",
        "Quý 3/2026",
        "Thời điểm lập",
        "Bộ Y tế",
        "Kết quả chính",
        "Tỷ lệ phát hiện đạt mục tiêu ở hầu hết cơ sở.",
        "Số sản phẩm theo dõi",
        "Trang tính “Sự cố theo cơ sở - (Hà Nội) (2)”: Sự cố theo cơ sở: [Hà Nội]",
        "Trang tính “Tỷ lệ phát hiện sai theo thuật”",
        "Ô có ít hơn 5 ca được ẩn.",
        "Số: 12/BC-KCB",
    ] {
        assert!(values.contains(&&text(wanted)), "missing {wanted:?}");
    }
    // The generation time is a real date in the document's offset: 2026-10-05 09:30.
    let date = values
        .iter()
        .find_map(|c| match c {
            Cell::Number { value, format } if format.contains("dd/mm/yyyy") => {
                Some((*value, format.clone()))
            }
            _ => None,
        })
        .expect("a date cell");
    assert!((date.0 - (46300.0 + 9.5 / 24.0)).abs() < 1e-6, "{date:?}");
    assert!(date.1.contains("UTC+07:00"), "{date:?}");
    assert!(!values.iter().any(|c| matches!(c, Cell::Inline(_))));
}

#[test]
fn same_document_gives_the_same_bytes() {
    let doc = report();
    assert_eq!(to_xlsx(&doc).expect("xlsx"), to_xlsx(&doc).expect("xlsx"));
    let mut undated = doc.clone();
    undated.created = None;
    assert_eq!(
        to_xlsx(&undated).expect("xlsx"),
        to_xlsx(&undated).expect("xlsx")
    );
}

#[test]
fn english_documents_read_english_separators() {
    let doc = Document {
        lang: Lang::En,
        title: "Quarterly report".into(),
        blocks: vec![Block::Table(DataTable {
            caption: None,
            columns: vec![Column::text("Site"), Column::numeric("Cases")],
            rows: vec![vec!["A".into(), "1,234.50".into()]],
        })],
        ..Document::default()
    };
    let book = Book::read(&to_xlsx(&doc).expect("xlsx"));
    assert_eq!(book.names, ["Summary", "Table 1"]);
    assert_eq!(
        book.cells("Table 1").get("B2"),
        Some(&num(1234.5, "#,##0.00"))
    );
}
