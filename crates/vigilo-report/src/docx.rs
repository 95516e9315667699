//! DOCX (Office Open XML, ECMA-376) output: the smallest package Word and LibreOffice open
//! without repair: `[Content_Types].xml`, the package and document relationships, core
//! properties, `word/document.xml`, `word/styles.xml`, `word/numbering.xml` and a footer
//! with the page number. Headings use Word's built-in heading styles (so the navigation pane
//! and a table of contents work), lists are real numbered or bulleted lists, tables repeat
//! their header row, fill-in fields are highlighted.
//!
//! All text goes through [`push_xml_text`]: markup characters are escaped and characters
//! XML 1.0 forbids are replaced, so user text cannot break the package. The same document
//! gives the same bytes: zip entries carry a fixed date and the creation time comes from
//! `doc.created`. Figures are left out (SVG in DOCX needs a raster fallback); their caption
//! stays.

use std::fmt::Write as _;
use std::io::{Cursor, Write as _};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::model::{
    Align, Block, DataTable, Document, Inline, InlineStyle, Lang, Letterhead, NoteKind, Signature,
};

#[derive(Debug, thiserror::Error)]
pub enum DocxError {
    #[error("writing the DOCX package failed: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("writing the DOCX package failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Width of the text area in twentieths of a point: A4 (11906) less the margins below.
const TEXT_WIDTH: u32 = 11906 - MARGIN_LEFT - MARGIN_RIGHT;
/// Margins of Vietnamese administrative documents (Decree 30/2020), as in the PDF: 3 cm left
/// for binding, 2 cm right and top, 2.4 cm bottom.
const MARGIN_LEFT: u32 = 1701;
const MARGIN_RIGHT: u32 = 1134;
const MARGIN_TOP: u32 = 1134;
const MARGIN_BOTTOM: u32 = 1361;

const NS_W: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const NS_R: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const XML_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";

/// Escapes text for XML element content and attribute values; replaces characters XML 1.0
/// does not allow (most control characters, U+FFFE, U+FFFF) with U+FFFD.
pub(crate) fn push_xml_text(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_xml_text(&mut out, text);
    out
}

/// Renders the document as a DOCX file.
pub fn to_docx(doc: &Document) -> Result<Vec<u8>, DocxError> {
    let mut body = Body::default();
    body.document(doc);
    let numbered_lists = body.numbered_lists;
    let parts: [(&str, String); 9] = [
        ("[Content_Types].xml", content_types()),
        ("_rels/.rels", package_rels()),
        ("docProps/core.xml", core_properties(doc)),
        ("word/_rels/document.xml.rels", document_rels()),
        ("word/document.xml", body.finish()),
        ("word/styles.xml", styles(doc.lang)),
        ("word/numbering.xml", numbering(numbered_lists)),
        ("word/settings.xml", settings()),
        ("word/footer1.xml", footer(doc.footer.as_deref())),
    ];
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default());
    for (name, content) in parts {
        zip.start_file(name, options)?;
        zip.write_all(content.as_bytes())?;
    }
    Ok(zip.finish()?.into_inner())
}

fn content_types() -> String {
    let mut out = String::from(XML_HEAD);
    out.push_str(concat!(
        "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">",
        "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>",
        "<Default Extension=\"xml\" ContentType=\"application/xml\"/>",
        "<Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>",
        "<Override PartName=\"/word/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml\"/>",
        "<Override PartName=\"/word/numbering.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.numbering+xml\"/>",
        "<Override PartName=\"/word/settings.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.settings+xml\"/>",
        "<Override PartName=\"/word/footer1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml\"/>",
        "<Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>",
        "</Types>"
    ));
    out
}

fn package_rels() -> String {
    let mut out = String::from(XML_HEAD);
    out.push_str(concat!(
        "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">",
        "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/>",
        "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/>",
        "</Relationships>"
    ));
    out
}

fn document_rels() -> String {
    let mut out = String::from(XML_HEAD);
    out.push_str(concat!(
        "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">",
        "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/>",
        "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/numbering\" Target=\"numbering.xml\"/>",
        "<Relationship Id=\"rId3\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/footer\" Target=\"footer1.xml\"/>",
        "<Relationship Id=\"rId4\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/settings\" Target=\"settings.xml\"/>",
        "</Relationships>"
    ));
    out
}

fn core_properties(doc: &Document) -> String {
    let mut out = String::from(XML_HEAD);
    out.push_str(concat!(
        "<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" ",
        "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" ",
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
    ));
    let _ = write!(out, "<dc:title>{}</dc:title>", xml(&doc.title));
    if let Some(author) = &doc.author {
        let _ = write!(out, "<dc:creator>{}</dc:creator>", xml(author));
    }
    let _ = write!(out, "<dc:language>{}</dc:language>", doc.lang.code());
    if let Some(created) = doc.created {
        let t = created.to_offset(time::UtcOffset::UTC);
        let _ = write!(
            out,
            "<dcterms:created xsi:type=\"dcterms:W3CDTF\">{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z</dcterms:created>",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
    }
    out.push_str("</cp:coreProperties>");
    out
}

fn settings() -> String {
    let mut out = String::from(XML_HEAD);
    let _ = write!(
        out,
        "<w:settings xmlns:w=\"{NS_W}\"><w:defaultTabStop w:val=\"720\"/>\
         <w:compat><w:compatSetting w:name=\"compatibilityMode\" w:uri=\"http://schemas.microsoft.com/office/word\" w:val=\"15\"/></w:compat>\
         </w:settings>"
    );
    out
}

fn lang_tag(lang: Lang) -> &'static str {
    match lang {
        Lang::Vi => "vi-VN",
        Lang::En => "en-GB",
    }
}

fn styles(lang: Lang) -> String {
    let mut out = String::from(XML_HEAD);
    // Times New Roman is what Vietnamese administrative documents are set in (Decree 30/2020);
    // it covers Vietnamese, and LibreOffice substitutes a metric-compatible font.
    let _ = write!(
        out,
        "<w:styles xmlns:w=\"{NS_W}\">\
         <w:docDefaults><w:rPrDefault><w:rPr>\
         <w:rFonts w:ascii=\"Times New Roman\" w:hAnsi=\"Times New Roman\" w:eastAsia=\"Times New Roman\" w:cs=\"Times New Roman\"/>\
         <w:sz w:val=\"26\"/><w:szCs w:val=\"26\"/><w:lang w:val=\"{lang}\"/>\
         </w:rPr></w:rPrDefault>\
         <w:pPrDefault><w:pPr><w:spacing w:after=\"120\" w:line=\"276\" w:lineRule=\"auto\"/></w:pPr></w:pPrDefault>\
         </w:docDefaults>",
        lang = lang_tag(lang)
    );
    out.push_str(concat!(
        "<w:style w:type=\"paragraph\" w:default=\"1\" w:styleId=\"Normal\"><w:name w:val=\"Normal\"/><w:qFormat/></w:style>",
        "<w:style w:type=\"paragraph\" w:styleId=\"Title\"><w:name w:val=\"Title\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>",
        "<w:pPr><w:keepNext/><w:spacing w:before=\"240\" w:after=\"120\"/><w:jc w:val=\"center\"/></w:pPr><w:rPr><w:b/><w:bCs/><w:sz w:val=\"32\"/><w:szCs w:val=\"32\"/></w:rPr></w:style>",
        "<w:style w:type=\"paragraph\" w:styleId=\"Subtitle\"><w:name w:val=\"Subtitle\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>",
        "<w:pPr><w:spacing w:after=\"240\"/><w:jc w:val=\"center\"/></w:pPr><w:rPr><w:i/><w:iCs/></w:rPr></w:style>",
        "<w:style w:type=\"paragraph\" w:styleId=\"Heading1\"><w:name w:val=\"heading 1\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>",
        "<w:pPr><w:keepNext/><w:keepLines/><w:spacing w:before=\"360\" w:after=\"120\"/><w:outlineLvl w:val=\"0\"/></w:pPr><w:rPr><w:b/><w:bCs/><w:sz w:val=\"28\"/><w:szCs w:val=\"28\"/></w:rPr></w:style>",
        "<w:style w:type=\"paragraph\" w:styleId=\"Heading2\"><w:name w:val=\"heading 2\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>",
        "<w:pPr><w:keepNext/><w:keepLines/><w:spacing w:before=\"240\" w:after=\"120\"/><w:outlineLvl w:val=\"1\"/></w:pPr><w:rPr><w:b/><w:bCs/><w:sz w:val=\"26\"/><w:szCs w:val=\"26\"/></w:rPr></w:style>",
        "<w:style w:type=\"paragraph\" w:styleId=\"Heading3\"><w:name w:val=\"heading 3\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>",
        "<w:pPr><w:keepNext/><w:keepLines/><w:spacing w:before=\"200\" w:after=\"80\"/><w:outlineLvl w:val=\"2\"/></w:pPr><w:rPr><w:b/><w:bCs/><w:i/><w:iCs/></w:rPr></w:style>",
        "<w:style w:type=\"paragraph\" w:styleId=\"ListParagraph\"><w:name w:val=\"List Paragraph\"/><w:basedOn w:val=\"Normal\"/><w:qFormat/>",
        "<w:pPr><w:spacing w:after=\"60\"/><w:ind w:left=\"720\"/><w:jc w:val=\"both\"/></w:pPr></w:style>",
        "<w:style w:type=\"paragraph\" w:styleId=\"Caption\"><w:name w:val=\"caption\"/><w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>",
        "<w:pPr><w:keepNext/><w:spacing w:before=\"120\" w:after=\"60\"/></w:pPr><w:rPr><w:b/><w:bCs/><w:sz w:val=\"24\"/><w:szCs w:val=\"24\"/></w:rPr></w:style>",
        "<w:style w:type=\"paragraph\" w:styleId=\"TableText\"><w:name w:val=\"Table Text\"/><w:basedOn w:val=\"Normal\"/><w:qFormat/>",
        "<w:pPr><w:spacing w:after=\"0\" w:line=\"240\" w:lineRule=\"auto\"/></w:pPr><w:rPr><w:sz w:val=\"24\"/><w:szCs w:val=\"24\"/></w:rPr></w:style>",
        "<w:style w:type=\"paragraph\" w:styleId=\"Footer\"><w:name w:val=\"footer\"/><w:basedOn w:val=\"Normal\"/>",
        "<w:pPr><w:tabs><w:tab w:val=\"right\" w:pos=\"9071\"/></w:tabs><w:spacing w:after=\"0\"/></w:pPr><w:rPr><w:sz w:val=\"18\"/><w:szCs w:val=\"18\"/></w:rPr></w:style>",
        "<w:style w:type=\"table\" w:default=\"1\" w:styleId=\"TableNormal\"><w:name w:val=\"Normal Table\"/>",
        "<w:tblPr><w:tblInd w:w=\"0\" w:type=\"dxa\"/><w:tblCellMar><w:top w:w=\"0\" w:type=\"dxa\"/><w:left w:w=\"108\" w:type=\"dxa\"/><w:bottom w:w=\"0\" w:type=\"dxa\"/><w:right w:w=\"108\" w:type=\"dxa\"/></w:tblCellMar></w:tblPr></w:style>",
        "<w:style w:type=\"table\" w:styleId=\"TableGrid\"><w:name w:val=\"Table Grid\"/><w:basedOn w:val=\"TableNormal\"/>",
        "<w:tblPr><w:tblBorders><w:top w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"8C8C8C\"/><w:left w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"8C8C8C\"/>",
        "<w:bottom w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"8C8C8C\"/><w:right w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"8C8C8C\"/>",
        "<w:insideH w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"8C8C8C\"/><w:insideV w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"8C8C8C\"/></w:tblBorders>",
        "<w:tblCellMar><w:top w:w=\"40\" w:type=\"dxa\"/><w:left w:w=\"100\" w:type=\"dxa\"/><w:bottom w:w=\"40\" w:type=\"dxa\"/><w:right w:w=\"100\" w:type=\"dxa\"/></w:tblCellMar></w:tblPr></w:style>",
        "</w:styles>"
    ));
    out
}

/// Bullets are `w:num` 1; numbered list `k` (from 0) is `w:num` `k + 2`, each restarting at 1.
fn numbering(numbered_lists: usize) -> String {
    let mut out = String::from(XML_HEAD);
    let _ = write!(out, "<w:numbering xmlns:w=\"{NS_W}\">");
    out.push_str(concat!(
        "<w:abstractNum w:abstractNumId=\"0\"><w:multiLevelType w:val=\"singleLevel\"/>",
        "<w:lvl w:ilvl=\"0\"><w:start w:val=\"1\"/><w:numFmt w:val=\"bullet\"/><w:lvlText w:val=\"•\"/><w:lvlJc w:val=\"left\"/>",
        "<w:pPr><w:ind w:left=\"720\" w:hanging=\"360\"/></w:pPr></w:lvl></w:abstractNum>",
        "<w:abstractNum w:abstractNumId=\"1\"><w:multiLevelType w:val=\"singleLevel\"/>",
        "<w:lvl w:ilvl=\"0\"><w:start w:val=\"1\"/><w:numFmt w:val=\"decimal\"/><w:lvlText w:val=\"%1.\"/><w:lvlJc w:val=\"left\"/>",
        "<w:pPr><w:ind w:left=\"720\" w:hanging=\"360\"/></w:pPr></w:lvl></w:abstractNum>",
        "<w:num w:numId=\"1\"><w:abstractNumId w:val=\"0\"/></w:num>"
    ));
    for k in 0..numbered_lists {
        let _ = write!(
            out,
            "<w:num w:numId=\"{}\"><w:abstractNumId w:val=\"1\"/><w:lvlOverride w:ilvl=\"0\"><w:startOverride w:val=\"1\"/></w:lvlOverride></w:num>",
            k + 2
        );
    }
    out.push_str("</w:numbering>");
    out
}

fn footer(text: Option<&str>) -> String {
    let mut out = String::from(XML_HEAD);
    let _ = write!(
        out,
        "<w:ftr xmlns:w=\"{NS_W}\" xmlns:r=\"{NS_R}\"><w:p><w:pPr><w:pStyle w:val=\"Footer\"/></w:pPr>"
    );
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        push_run(&mut out, text, InlineStyle::Plain);
    }
    out.push_str(concat!(
        "<w:r><w:tab/></w:r>",
        "<w:fldSimple w:instr=\" PAGE \"><w:r><w:t>1</w:t></w:r></w:fldSimple>",
        "<w:r><w:t xml:space=\"preserve\"> / </w:t></w:r>",
        "<w:fldSimple w:instr=\" NUMPAGES \"><w:r><w:t>1</w:t></w:r></w:fldSimple>",
        "</w:p></w:ftr>"
    ));
    out
}

/// One run: `\n` becomes a line break and `\t` a tab, as they would in a paragraph.
fn push_run(out: &mut String, text: &str, style: InlineStyle) {
    out.push_str("<w:r>");
    match style {
        InlineStyle::Plain => {}
        InlineStyle::Bold => out.push_str("<w:rPr><w:b/><w:bCs/></w:rPr>"),
        InlineStyle::Italic => out.push_str("<w:rPr><w:i/><w:iCs/></w:rPr>"),
        InlineStyle::Field => out.push_str("<w:rPr><w:highlight w:val=\"yellow\"/></w:rPr>"),
    }
    // A carriage return (Windows line ends) would read back as a line break of its own.
    for (i, line) in text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .enumerate()
    {
        if i > 0 {
            out.push_str("<w:br/>");
        }
        for (j, piece) in line.split('\t').enumerate() {
            if j > 0 {
                out.push_str("<w:tab/>");
            }
            if !piece.is_empty() {
                out.push_str("<w:t xml:space=\"preserve\">");
                push_xml_text(out, piece);
                out.push_str("</w:t>");
            }
        }
    }
    out.push_str("</w:r>");
}

/// Paragraph properties, in the order the schema requires.
#[derive(Default)]
struct Para<'a> {
    style: Option<&'a str>,
    keep_next: bool,
    num: Option<usize>,
    note: Option<NoteKind>,
    indent_left: Option<u32>,
    align: Option<&'a str>,
}

impl Para<'_> {
    fn open(&self, out: &mut String) {
        out.push_str("<w:p>");
        let mut props = String::new();
        if let Some(style) = self.style {
            let _ = write!(props, "<w:pStyle w:val=\"{style}\"/>");
        }
        if self.keep_next {
            props.push_str("<w:keepNext/>");
        }
        if let Some(num) = self.num {
            let _ = write!(
                props,
                "<w:numPr><w:ilvl w:val=\"0\"/><w:numId w:val=\"{num}\"/></w:numPr>"
            );
        }
        if let Some(kind) = self.note {
            let (fill, accent) = match kind {
                NoteKind::Info => ("EEF3F8", "1F4E79"),
                NoteKind::Warning => ("FBEFE9", "A33A1F"),
            };
            let _ = write!(
                props,
                "<w:pBdr><w:left w:val=\"single\" w:sz=\"24\" w:space=\"6\" w:color=\"{accent}\"/></w:pBdr>\
                 <w:shd w:val=\"clear\" w:color=\"auto\" w:fill=\"{fill}\"/>"
            );
        }
        if let Some(left) = self.indent_left {
            let _ = write!(props, "<w:ind w:left=\"{left}\"/>");
        }
        if let Some(align) = self.align {
            let _ = write!(props, "<w:jc w:val=\"{align}\"/>");
        }
        if !props.is_empty() {
            let _ = write!(out, "<w:pPr>{props}</w:pPr>");
        }
    }
}

#[derive(Default)]
struct Body {
    out: String,
    numbered_lists: usize,
}

impl Body {
    fn document(&mut self, doc: &Document) {
        let _ = write!(
            self.out,
            "{XML_HEAD}<w:document xmlns:w=\"{NS_W}\" xmlns:r=\"{NS_R}\"><w:body>"
        );
        let (letterhead, blocks) = doc.split_letterhead();
        if let Some(head) = letterhead {
            self.letterhead(head);
        }
        self.paragraph(
            &Para {
                style: Some("Title"),
                ..Para::default()
            },
            &[Inline::plain(doc.title.as_str())],
        );
        if let Some(subtitle) = &doc.subtitle {
            self.paragraph(
                &Para {
                    style: Some("Subtitle"),
                    ..Para::default()
                },
                &[Inline::plain(subtitle.as_str())],
            );
        }
        if !doc.meta.is_empty() {
            self.key_values(&doc.meta);
        }
        for block in blocks {
            self.block(block);
        }
    }

    fn finish(mut self) -> String {
        // Word wants a paragraph between a closing table and the section properties.
        self.out.push_str("<w:p/>");
        let _ = write!(
            self.out,
            "<w:sectPr><w:footerReference w:type=\"default\" r:id=\"rId3\"/>\
             <w:pgSz w:w=\"11906\" w:h=\"16838\"/>\
             <w:pgMar w:top=\"{MARGIN_TOP}\" w:right=\"{MARGIN_RIGHT}\" w:bottom=\"{MARGIN_BOTTOM}\" w:left=\"{MARGIN_LEFT}\" w:header=\"709\" w:footer=\"567\" w:gutter=\"0\"/>\
             </w:sectPr></w:body></w:document>"
        );
        self.out
    }

    fn paragraph(&mut self, para: &Para<'_>, runs: &[Inline]) {
        para.open(&mut self.out);
        for run in runs {
            push_run(&mut self.out, &run.text, run.style);
        }
        self.out.push_str("</w:p>");
    }

    fn block(&mut self, block: &Block) {
        match block {
            Block::Letterhead(head) => self.letterhead(head),
            Block::Heading { level, text } => {
                let style = match crate::html::heading_level(*level) {
                    1 => "Heading1",
                    2 => "Heading2",
                    _ => "Heading3",
                };
                self.paragraph(
                    &Para {
                        style: Some(style),
                        ..Para::default()
                    },
                    &[Inline::plain(text.as_str())],
                );
            }
            Block::Paragraph(runs) => self.paragraph(
                &Para {
                    align: Some("both"),
                    ..Para::default()
                },
                runs,
            ),
            Block::KeyValue(pairs) => self.key_values(pairs),
            Block::Table(table) => self.table(table),
            Block::List(items) => self.list(items, 1),
            Block::NumberedList(items) => {
                self.numbered_lists += 1;
                self.list(items, self.numbered_lists + 1);
            }
            Block::Figure(figure) => self.paragraph(
                &Para {
                    style: Some("Caption"),
                    ..Para::default()
                },
                &[Inline::italic(figure.caption.as_str())],
            ),
            Block::Note { kind, content } => self.paragraph(
                &Para {
                    note: Some(*kind),
                    ..Para::default()
                },
                content,
            ),
            Block::PageBreak => self
                .out
                .push_str("<w:p><w:r><w:br w:type=\"page\"/></w:r></w:p>"),
            Block::Signature(signature) => self.signature(signature),
        }
    }

    fn list(&mut self, items: &[Vec<Inline>], num: usize) {
        for item in items {
            self.paragraph(
                &Para {
                    style: Some("ListParagraph"),
                    num: Some(num),
                    ..Para::default()
                },
                item,
            );
        }
    }

    fn cell(&mut self, width: u32, para: &Para<'_>, runs: &[Inline]) {
        let _ = write!(
            self.out,
            "<w:tc><w:tcPr><w:tcW w:w=\"{width}\" w:type=\"dxa\"/></w:tcPr>"
        );
        self.paragraph(para, runs);
        self.out.push_str("</w:tc>");
    }

    fn table_open(&mut self, style: &str, widths: &[u32]) {
        let _ = write!(
            self.out,
            "<w:tbl><w:tblPr><w:tblStyle w:val=\"{style}\"/><w:tblW w:w=\"{TEXT_WIDTH}\" w:type=\"dxa\"/>\
             <w:tblLayout w:type=\"fixed\"/></w:tblPr><w:tblGrid>"
        );
        for w in widths {
            let _ = write!(self.out, "<w:gridCol w:w=\"{w}\"/>");
        }
        self.out.push_str("</w:tblGrid>");
    }

    fn table(&mut self, table: &DataTable) {
        if let Some(caption) = &table.caption {
            self.paragraph(
                &Para {
                    style: Some("Caption"),
                    ..Para::default()
                },
                &[Inline::plain(caption.as_str())],
            );
        }
        if table.columns.is_empty() {
            return;
        }
        let widths = column_widths(table);
        self.table_open("TableGrid", &widths);
        self.out
            .push_str("<w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>");
        for (column, width) in table.columns.iter().zip(&widths) {
            let para = Para {
                style: Some("TableText"),
                align: (column.align == Align::Right).then_some("right"),
                ..Para::default()
            };
            self.cell(*width, &para, &[Inline::bold(column.label.as_str())]);
        }
        self.out.push_str("</w:tr>");
        for row in &table.rows {
            self.out.push_str("<w:tr><w:trPr><w:cantSplit/></w:trPr>");
            for (i, (column, width)) in table.columns.iter().zip(&widths).enumerate() {
                let para = Para {
                    style: Some("TableText"),
                    align: (column.align == Align::Right).then_some("right"),
                    ..Para::default()
                };
                let text = row.get(i).map_or("", String::as_str);
                self.cell(*width, &para, &[Inline::plain(text)]);
            }
            self.out.push_str("</w:tr>");
        }
        self.out.push_str("</w:tbl>");
    }

    fn key_values(&mut self, pairs: &[(String, String)]) {
        let widths = [TEXT_WIDTH * 2 / 5, TEXT_WIDTH - TEXT_WIDTH * 2 / 5];
        self.table_open("TableNormal", &widths);
        for (key, value) in pairs {
            self.out.push_str("<w:tr><w:trPr><w:cantSplit/></w:trPr>");
            let para = Para {
                style: Some("TableText"),
                ..Para::default()
            };
            self.cell(widths[0], &para, &[Inline::bold(key.as_str())]);
            self.cell(widths[1], &para, &[Inline::plain(value.as_str())]);
            self.out.push_str("</w:tr>");
        }
        self.out.push_str("</w:tbl>");
        self.out.push_str("<w:p/>");
    }

    fn letterhead(&mut self, head: &Letterhead) {
        let widths = [TEXT_WIDTH * 2 / 5, TEXT_WIDTH - TEXT_WIDTH * 2 / 5];
        self.table_open("TableNormal", &widths);
        self.out.push_str("<w:tr>");
        let centred = Para {
            style: Some("TableText"),
            align: Some("center"),
            ..Para::default()
        };
        let _ = write!(
            self.out,
            "<w:tc><w:tcPr><w:tcW w:w=\"{}\" w:type=\"dxa\"/></w:tcPr>",
            widths[0]
        );
        for line in &head.authority {
            self.paragraph(&centred, &[Inline::bold(line.as_str())]);
        }
        if let Some(reference) = &head.reference {
            self.paragraph(&centred, &[Inline::plain(reference.as_str())]);
        }
        if head.authority.is_empty() && head.reference.is_none() {
            self.out.push_str("<w:p/>");
        }
        let _ = write!(
            self.out,
            "</w:tc><w:tc><w:tcPr><w:tcW w:w=\"{}\" w:type=\"dxa\"/></w:tcPr>",
            widths[1]
        );
        for line in &head.motto {
            self.paragraph(&centred, &[Inline::bold(line.as_str())]);
        }
        if let Some(place_date) = &head.place_date {
            self.paragraph(&centred, &[Inline::italic(place_date.as_str())]);
        }
        if head.motto.is_empty() && head.place_date.is_none() {
            self.out.push_str("<w:p/>");
        }
        self.out.push_str("</w:tc></w:tr></w:tbl><w:p/>");
    }

    fn signature(&mut self, signature: &Signature) {
        let para = Para {
            indent_left: Some(TEXT_WIDTH / 2),
            align: Some("center"),
            keep_next: true,
            ..Para::default()
        };
        if let Some(place_date) = &signature.place_date {
            self.paragraph(&para, &[Inline::italic(place_date.as_str())]);
        }
        for line in &signature.title {
            self.paragraph(&para, &[Inline::bold(line.as_str())]);
        }
        // Room for the handwritten signature and the seal.
        for _ in 0..3 {
            para.open(&mut self.out);
            self.out.push_str("</w:p>");
        }
        let last = Para {
            keep_next: false,
            ..para
        };
        self.paragraph(&last, &[Inline::bold(signature.name.as_str())]);
    }
}

/// Column widths in proportion to the longest text of each column (header included),
/// between 3 and 60 characters, so a number column stays narrow and a text column wide.
fn column_widths(table: &DataTable) -> Vec<u32> {
    let weights: Vec<u32> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let longest = table
                .rows
                .iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .chain(std::iter::once(column.label.chars().count()))
                .max()
                .unwrap_or(0);
            u32::try_from(longest.clamp(3, 60)).unwrap_or(60)
        })
        .collect();
    let total: u32 = weights.iter().sum::<u32>().max(1);
    weights.iter().map(|w| TEXT_WIDTH * w / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_forbidden_characters_replaced() {
        assert_eq!(xml("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml("x\u{1}y\u{FFFF}"), "x\u{FFFD}y\u{FFFD}");
        assert_eq!(xml("Đề cương\tthẩm định\n"), "Đề cương\tthẩm định\n");
    }
}
