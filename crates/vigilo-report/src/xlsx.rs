//! XLSX export of a whole document, for regulators who work in Excel: a summary sheet with
//! the title, metadata and text, then one worksheet per data table.
//!
//! Table cells arrive already formatted for the document's language (see
//! [`crate::format_number`]). A spreadsheet needs real numbers, so cells of numeric columns
//! are parsed back, strictly, with the same separators; anything that does not parse exactly
//! (a suppressed "<5", a range, a note) stays text, so no value is ever silently changed.
//! Everything is built in memory; nothing touches the file system.

use std::collections::{HashMap, HashSet};

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet};
use time::OffsetDateTime;

use crate::model::{Align, Block, DataTable, Document, Inline, InlineStyle, Lang, NoteKind};

/// Excel's limit on a sheet name, counted in UTF-16 code units.
const MAX_SHEET_NAME_UNITS: usize = 31;
/// Rows and columns of one worksheet (the header takes one row).
const MAX_ROWS: usize = 1_048_576;
const MAX_COLUMNS: usize = 16_384;
/// Excel stores numbers as doubles and shows 15 significant digits; longer digit strings
/// (identifiers in a numeric column, say) would be rounded, so they stay text.
const MAX_SIGNIFICANT_DIGITS: usize = 15;

#[derive(Debug, thiserror::Error)]
pub enum XlsxError {
    #[error(
        "table \"{sheet}\" has {rows} rows and {columns} columns; a worksheet holds at most \
         1048575 rows under its header and 16384 columns"
    )]
    TooLarge {
        sheet: String,
        rows: usize,
        columns: usize,
    },
    #[error("could not build the workbook: {0}")]
    Workbook(#[from] rust_xlsxwriter::XlsxError),
}

/// The document as an XLSX workbook: a first "Tóm tắt"/"Summary" sheet, then one sheet per
/// table in document order, named after the table's caption (or the heading above it).
/// Header rows are bold and frozen; numeric columns hold numbers with the document's
/// precision, percentages as percentages; "–" and blank cells are left empty.
/// The same document gives the same bytes: the creation time comes from `doc.created`.
pub fn to_xlsx(doc: &Document) -> Result<Vec<u8>, XlsxError> {
    let labels = Labels::for_lang(doc.lang);
    let mut namer = SheetNamer::default();
    let summary_name = namer.unique(labels.summary, labels.summary);

    // Name the table sheets first, so the summary can point to them.
    let mut tables = Vec::new();
    let mut last_heading: Option<&str> = None;
    for block in &doc.blocks {
        match block {
            Block::Heading { text, .. } => last_heading = Some(text),
            Block::Table(table) => {
                let fallback = format!("{} {}", labels.table, tables.len() + 1);
                let wanted = table
                    .caption
                    .as_deref()
                    .or(last_heading)
                    .unwrap_or(&fallback);
                tables.push((namer.unique(wanted, &fallback), table));
            }
            _ => {}
        }
    }

    let mut workbook = Workbook::new();
    // rust_xlsxwriter stamps the current time unless told otherwise; a fixed time keeps
    // the output reproducible when the caller gives none (the zip's own dates are fixed).
    let created = doc
        .created
        .and_then(|at| excel_datetime(at.to_offset(time::UtcOffset::UTC)).ok());
    let created = match created {
        Some(at) => at,
        None => excel_datetime(OffsetDateTime::UNIX_EPOCH)?,
    };
    let mut properties = DocProperties::new()
        .set_title(doc.title.as_str())
        .set_creation_datetime(&created);
    if let Some(author) = &doc.author {
        properties = properties.set_author(author.as_str());
    }
    workbook.set_properties(&properties);

    let styles = Styles::new();
    let mut summary = Worksheet::new();
    summary.set_name(&summary_name)?;
    write_summary(&mut summary, doc, &labels, &styles, &tables)?;
    workbook.push_worksheet(summary);

    for (name, table) in &tables {
        let mut sheet = Worksheet::new();
        sheet.set_name(name)?;
        write_table(&mut sheet, name, table, doc.lang, &styles)?;
        workbook.push_worksheet(sheet);
    }
    Ok(workbook.save_to_buffer()?)
}

/// Fixed words of the summary sheet.
struct Labels {
    summary: &'static str,
    generated: &'static str,
    issued_by: &'static str,
    table: &'static str,
    sheet: &'static str,
    figure: &'static str,
    note: &'static str,
    warning: &'static str,
    datetime_format: &'static str,
}

impl Labels {
    fn for_lang(lang: Lang) -> Self {
        match lang {
            Lang::Vi => Labels {
                summary: "Tóm tắt",
                generated: "Thời điểm lập",
                issued_by: "Đơn vị ban hành",
                table: "Bảng",
                sheet: "Trang tính",
                figure: "Hình",
                note: "Ghi chú",
                warning: "Cảnh báo",
                datetime_format: "dd/mm/yyyy hh:mm",
            },
            Lang::En => Labels {
                summary: "Summary",
                generated: "Generated at",
                issued_by: "Issued by",
                table: "Table",
                sheet: "Sheet",
                figure: "Figure",
                note: "Note",
                warning: "Warning",
                datetime_format: "yyyy-mm-dd hh:mm",
            },
        }
    }
}

/// Cell formats shared by all sheets (rust_xlsxwriter deduplicates equal formats anyway).
struct Styles {
    plain: Format,
    bold: Format,
    italic: Format,
    title: Format,
    heading: Format,
    wrap: Format,
    header_left: Format,
    header_right: Format,
    text_right: Format,
}

impl Styles {
    fn new() -> Self {
        Styles {
            plain: Format::new(),
            bold: Format::new().set_bold(),
            italic: Format::new().set_italic(),
            title: Format::new().set_bold().set_font_size(14),
            heading: Format::new().set_bold().set_font_size(12),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
            header_left: Format::new().set_bold(),
            header_right: Format::new().set_bold().set_align(FormatAlign::Right),
            // Suppressed cells ("<5") in numeric columns line up with the numbers.
            text_right: Format::new().set_align(FormatAlign::Right),
        }
    }

    fn run(&self, style: InlineStyle) -> &Format {
        match style {
            InlineStyle::Plain => &self.plain,
            InlineStyle::Bold => &self.bold,
            InlineStyle::Italic => &self.italic,
            // Cells have no highlight in a rich string; the brackets show the field.
            InlineStyle::Field => &self.plain,
        }
    }
}

/// Column A holds labels and headings, column B values and running text (wrapped).
fn write_summary(
    sheet: &mut Worksheet,
    doc: &Document,
    labels: &Labels,
    styles: &Styles,
    tables: &[(String, &DataTable)],
) -> Result<(), XlsxError> {
    sheet.set_column_width(0, 32)?;
    sheet.set_column_width(1, 100)?;
    let mut row: u32 = 0;

    let (letterhead, blocks) = doc.split_letterhead();
    if let Some(head) = letterhead {
        for line in &head.authority {
            sheet.write_string_with_format(next(&mut row), 0, line, &styles.bold)?;
        }
        let rest = head
            .reference
            .iter()
            .chain(&head.motto)
            .chain(&head.place_date);
        for line in rest {
            sheet.write_string(next(&mut row), 0, line)?;
        }
        next(&mut row);
    }

    sheet.write_string_with_format(next(&mut row), 0, &doc.title, &styles.title)?;
    if let Some(subtitle) = &doc.subtitle {
        sheet.write_string_with_format(next(&mut row), 0, subtitle, &styles.italic)?;
    }
    next(&mut row);
    for (label, value) in &doc.meta {
        let r = next(&mut row);
        sheet.write_string_with_format(r, 0, label, &styles.bold)?;
        sheet.write_string_with_format(r, 1, value, &styles.wrap)?;
    }
    if let Some(created) = doc.created {
        let r = next(&mut row);
        sheet.write_string_with_format(r, 0, labels.generated, &styles.bold)?;
        write_created(sheet, r, created, labels, styles)?;
    }
    if let Some(author) = &doc.author {
        let r = next(&mut row);
        sheet.write_string_with_format(r, 0, labels.issued_by, &styles.bold)?;
        sheet.write_string_with_format(r, 1, author, &styles.wrap)?;
    }

    let mut table_names = tables.iter();
    for block in blocks {
        match block {
            Block::Letterhead(_) | Block::PageBreak => {}
            Block::Heading { level, text } => {
                next(&mut row);
                let format = if *level <= 1 {
                    &styles.heading
                } else {
                    &styles.bold
                };
                sheet.write_string_with_format(next(&mut row), 0, text, format)?;
            }
            Block::Paragraph(runs) => {
                write_inlines(sheet, next(&mut row), &[], runs, styles)?;
            }
            Block::KeyValue(pairs) => {
                for (key, value) in pairs {
                    let r = next(&mut row);
                    sheet.write_string_with_format(r, 0, key, &styles.bold)?;
                    sheet.write_string_with_format(r, 1, value, &styles.wrap)?;
                }
            }
            Block::List(items) => {
                for item in items {
                    write_inlines(sheet, next(&mut row), &[Inline::plain("• ")], item, styles)?;
                }
            }
            Block::NumberedList(items) => {
                for (i, item) in items.iter().enumerate() {
                    let number = [Inline::plain(format!("{}. ", i + 1))];
                    write_inlines(sheet, next(&mut row), &number, item, styles)?;
                }
            }
            Block::Note { kind, content } => {
                let r = next(&mut row);
                let label = match kind {
                    NoteKind::Info => labels.note,
                    NoteKind::Warning => labels.warning,
                };
                sheet.write_string_with_format(r, 0, label, &styles.bold)?;
                write_inlines(sheet, r, &[], content, styles)?;
            }
            Block::Table(table) => {
                let r = next(&mut row);
                sheet.write_string_with_format(r, 0, labels.table, &styles.bold)?;
                // Tables were named in this same order, so the iterators stay in step.
                if let Some((name, _)) = table_names.next() {
                    let pointer = match &table.caption {
                        Some(caption) => format!("{} “{name}”: {caption}", labels.sheet),
                        None => format!("{} “{name}”", labels.sheet),
                    };
                    sheet.write_string_with_format(r, 1, &pointer, &styles.wrap)?;
                }
            }
            Block::Figure(figure) => {
                let r = next(&mut row);
                sheet.write_string_with_format(r, 0, labels.figure, &styles.bold)?;
                sheet.write_string_with_format(r, 1, &figure.caption, &styles.wrap)?;
            }
            Block::Signature(signature) => {
                next(&mut row);
                if let Some(place_date) = &signature.place_date {
                    sheet.write_string_with_format(
                        next(&mut row),
                        0,
                        place_date,
                        &styles.italic,
                    )?;
                }
                for line in &signature.title {
                    sheet.write_string_with_format(next(&mut row), 0, line, &styles.bold)?;
                }
                sheet.write_string_with_format(next(&mut row), 0, &signature.name, &styles.bold)?;
            }
        }
    }
    if let Some(footer) = &doc.footer {
        next(&mut row);
        sheet.write_string_with_format(next(&mut row), 0, footer, &styles.italic)?;
    }
    Ok(())
}

/// The current row, moving on to the next.
fn next(row: &mut u32) -> u32 {
    let current = *row;
    // Past Excel's last row rust_xlsxwriter answers an error, so saturating is safe.
    *row = row.saturating_add(1);
    current
}

/// Writes styled runs into column B, as a rich string when any run is bold or italic.
fn write_inlines(
    sheet: &mut Worksheet,
    row: u32,
    prefix: &[Inline],
    runs: &[Inline],
    styles: &Styles,
) -> Result<(), XlsxError> {
    // Excel rejects empty segments in a rich string.
    let segments: Vec<(&Format, &str)> = prefix
        .iter()
        .chain(runs)
        .filter(|run| !run.text.is_empty())
        .map(|run| (styles.run(run.style), run.text.as_str()))
        .collect();
    if runs.iter().any(|run| run.style != InlineStyle::Plain) && !segments.is_empty() {
        sheet.write_rich_string_with_format(row, 1, &segments, &styles.wrap)?;
    } else {
        let text: String = segments.iter().map(|(_, text)| *text).collect();
        sheet.write_string_with_format(row, 1, &text, &styles.wrap)?;
    }
    Ok(())
}

/// A real date cell in the document's own offset, which the number format names, since
/// Excel has no time zones. Years Excel cannot hold are written as text.
fn write_created(
    sheet: &mut Worksheet,
    row: u32,
    created: OffsetDateTime,
    labels: &Labels,
    styles: &Styles,
) -> Result<(), XlsxError> {
    let offset = created.offset();
    let (hours, minutes, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    let zone = format!(
        "UTC{sign}{:02}:{:02}",
        hours.unsigned_abs(),
        minutes.unsigned_abs()
    );
    match excel_datetime(created) {
        Ok(datetime) => {
            let format = Format::new()
                .set_num_format(format!("{} \"({zone})\"", labels.datetime_format))
                .set_align(FormatAlign::Left);
            sheet.write_datetime_with_format(row, 1, &datetime, &format)?;
        }
        Err(_) => {
            let text = format!(
                "{:04}-{:02}-{:02} {:02}:{:02} ({zone})",
                created.year(),
                u8::from(created.month()),
                created.day(),
                created.hour(),
                created.minute()
            );
            sheet.write_string_with_format(row, 1, &text, &styles.wrap)?;
        }
    }
    Ok(())
}

/// The wall-clock fields of `at` as an Excel date; fails outside Excel's years 1900-9999.
fn excel_datetime(at: OffsetDateTime) -> Result<ExcelDateTime, XlsxError> {
    let year = u16::try_from(at.year()).unwrap_or(0);
    Ok(
        ExcelDateTime::from_ymd(year, u8::from(at.month()), at.day())?.and_hms(
            u16::from(at.hour()),
            at.minute(),
            at.second(),
        )?,
    )
}

fn write_table(
    sheet: &mut Worksheet,
    name: &str,
    table: &DataTable,
    lang: Lang,
    styles: &Styles,
) -> Result<(), XlsxError> {
    let too_large = || XlsxError::TooLarge {
        sheet: name.to_string(),
        rows: table.rows.len(),
        columns: table.columns.len(),
    };
    if table.rows.len() >= MAX_ROWS || table.columns.len() > MAX_COLUMNS {
        return Err(too_large());
    }
    // Widths in characters, measured on the text as the model formatted it, which is
    // close to what Excel shows for the same value.
    let mut widths: Vec<usize> = Vec::with_capacity(table.columns.len());
    for (c, column) in table.columns.iter().enumerate() {
        let col = u16::try_from(c).map_err(|_| too_large())?;
        let format = match column.align {
            Align::Left => &styles.header_left,
            Align::Right => &styles.header_right,
        };
        sheet.write_string_with_format(0, col, &column.label, format)?;
        // Bold text is about a tenth wider.
        widths.push(column.label.chars().count() * 11 / 10);
    }
    let mut number_formats: HashMap<(usize, bool), Format> = HashMap::new();
    for (r, cells) in table.rows.iter().enumerate() {
        let row = u32::try_from(r + 1).map_err(|_| too_large())?;
        // Extra cells beyond the columns are dropped, missing ones stay empty.
        for ((c, column), cell) in table.columns.iter().enumerate().zip(cells) {
            let col = u16::try_from(c).map_err(|_| too_large())?;
            let numeric = column.align == Align::Right;
            match classify(cell, numeric, lang) {
                CellValue::Empty => continue,
                CellValue::Number(number) => {
                    let format = number_formats
                        .entry((number.decimals, number.percent))
                        .or_insert_with(|| {
                            Format::new()
                                .set_num_format(number_format(number.decimals, number.percent))
                        });
                    sheet.write_number_with_format(row, col, number.value, format)?;
                }
                CellValue::Text(text) if numeric => {
                    sheet.write_string_with_format(row, col, text, &styles.text_right)?;
                }
                CellValue::Text(text) => {
                    sheet.write_string(row, col, text)?;
                }
            }
            if let Some(width) = widths.get_mut(c) {
                *width = (*width).max(cell.trim().chars().count());
            }
        }
    }
    for (c, width) in widths.iter().enumerate() {
        let col = u16::try_from(c).map_err(|_| too_large())?;
        // Padding for the cell margins; very long text is capped rather than a screen wide.
        let chars = u32::try_from((*width).clamp(6, 60) + 2).unwrap_or(62);
        sheet.set_column_width(col, chars)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// What one formatted table cell becomes in the workbook.
#[derive(Debug, Clone, PartialEq)]
enum CellValue<'a> {
    Empty,
    Number(ParsedNumber),
    Text(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct ParsedNumber {
    /// The stored value; a percentage is stored as its proportion (87,4% → 0.874).
    value: f64,
    /// Digits after the separator in the source text, kept as the display precision.
    decimals: usize,
    percent: bool,
}

/// Blank cells and the dashes that mean "no value" (what [`crate::format_number`] writes
/// for a missing number) are empty; numeric columns hold numbers where the text parses.
fn classify(cell: &str, numeric: bool, lang: Lang) -> CellValue<'_> {
    let trimmed = cell.trim();
    if trimmed.is_empty() {
        return CellValue::Empty;
    }
    if !numeric {
        return CellValue::Text(cell);
    }
    if matches!(trimmed, "–" | "—" | "-") {
        return CellValue::Empty;
    }
    match parse_number(trimmed, lang) {
        Some(number) => CellValue::Number(number),
        None => CellValue::Text(cell),
    }
}

/// Parses text written by [`crate::format_number`] or [`crate::format_percent`] in `lang`:
/// an optional minus, digits grouped in threes (or not at all), an optional fraction and
/// an optional trailing percent sign. Anything else is not a number.
fn parse_number(text: &str, lang: Lang) -> Option<ParsedNumber> {
    let (decimal_sep, group_sep) = match lang {
        Lang::Vi => (',', '.'),
        Lang::En => ('.', ','),
    };
    let (body, percent) = match text.strip_suffix('%') {
        Some(body) => (body.trim_end(), true),
        None => (text, false),
    };
    let (negative, body) = match body
        .strip_prefix('-')
        .or_else(|| body.strip_prefix('\u{2212}'))
    {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let (int_part, frac_part) = match body.split_once(decimal_sep) {
        Some((int_part, frac_part)) => (int_part, frac_part),
        None => (body, ""),
    };
    if body.contains(decimal_sep) && frac_part.is_empty() {
        return None;
    }
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let groups: Vec<&str> = int_part.split(group_sep).collect();
    let grouped_ok = match groups.split_first() {
        Some((first, [])) => all_digits(first),
        // With separators, the first group has one to three digits and the rest three,
        // so "1.5" in Vietnamese is not read as fifteen.
        Some((first, rest)) => {
            all_digits(first)
                && first.len() <= 3
                && rest.iter().all(|g| g.len() == 3 && all_digits(g))
        }
        None => false,
    };
    if !grouped_ok || !(frac_part.is_empty() || all_digits(frac_part)) {
        return None;
    }
    let digits: String = groups.concat() + frac_part;
    let significant = digits.trim_start_matches('0').len();
    if significant > MAX_SIGNIFICANT_DIGITS {
        return None;
    }
    // Shifting the exponent instead of dividing by 100 gives the double nearest to the
    // written decimal, so 87,4% is stored as 0.874 and not 0.8740000000000001.
    let shift = frac_part.len() + if percent { 2 } else { 0 };
    let sign = if negative { "-" } else { "" };
    let value: f64 = format!("{sign}{digits}e-{shift}").parse().ok()?;
    // "-0" is shown as 0 elsewhere in the crate; Excel would show "-0".
    let value = if value == 0.0 { 0.0 } else { value };
    Some(ParsedNumber {
        value,
        decimals: frac_part.len(),
        percent,
    })
}

/// Excel number formats are written with "." and "," whatever the language; Excel shows
/// them with the reader's own separators.
fn number_format(decimals: usize, percent: bool) -> String {
    let fraction = if decimals > 0 {
        format!(".{}", "0".repeat(decimals))
    } else {
        String::new()
    };
    if percent {
        format!("0{fraction}%")
    } else {
        format!("#,##0{fraction}")
    }
}

/// Gives out sheet names Excel accepts: not blank, at most 31 UTF-16 units, none of
/// `[ ] : * ? / \`, no apostrophe at either end, and unique ignoring case, as Excel
/// compares them.
#[derive(Debug, Default)]
struct SheetNamer {
    taken: HashSet<String>,
}

impl SheetNamer {
    fn unique(&mut self, wanted: &str, fallback: &str) -> String {
        let mut base = clean_sheet_name(wanted);
        if base.is_empty() {
            base = clean_sheet_name(fallback);
        }
        if base.is_empty() {
            base = "Sheet".to_string();
        }
        let first = trim_name(truncate_units(&base, MAX_SHEET_NAME_UNITS)).to_string();
        if !first.is_empty() && self.claim(&first) {
            return first;
        }
        // Each suffix differs, so this ends after at most as many tries as names taken.
        let mut n: u64 = 2;
        loop {
            let suffix = format!(" ({n})");
            let room = MAX_SHEET_NAME_UNITS.saturating_sub(suffix.len());
            let stem = trim_name(truncate_units(&base, room));
            let candidate = format!("{stem}{suffix}").trim_start().to_string();
            if self.claim(&candidate) {
                return candidate;
            }
            n = n.saturating_add(1);
        }
    }

    fn claim(&mut self, name: &str) -> bool {
        let key = name.to_lowercase();
        // English Excel reserves "History" for change tracking.
        key != "history" && self.taken.insert(key)
    }
}

/// Replaces what Excel forbids, folds whitespace and control characters to single spaces.
/// Letters, Vietnamese diacritics included, are kept as they are.
fn clean_sheet_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut buf = [0u8; 4];
    for ch in raw.chars() {
        let replacement: &str = match ch {
            // "Quý 3/2026" reads better as "Quý 3-2026" than with the slash dropped.
            '/' | '\\' => "-",
            // "Bảng 2: Sự cố" becomes "Bảng 2 - Sự cố".
            ':' => " - ",
            '[' => "(",
            ']' => ")",
            '*' | '?' => " ",
            c if c.is_whitespace() || c.is_control() => " ",
            c => c.encode_utf8(&mut buf),
        };
        for ch in replacement.chars() {
            if ch == ' ' && (out.is_empty() || out.ends_with(' ')) {
                continue;
            }
            out.push(ch);
        }
    }
    trim_name(&out).to_string()
}

fn trim_name(name: &str) -> &str {
    name.trim_matches(|c: char| c == ' ' || c == '\'')
}

/// The longest prefix of at most `max` UTF-16 units that does not separate a letter from
/// its combining accents (Vietnamese text in decomposed form has them).
fn truncate_units(text: &str, max: usize) -> &str {
    let mut units = 0;
    let mut cluster_start = 0;
    for (i, ch) in text.char_indices() {
        let combining = is_combining(ch);
        if !combining {
            cluster_start = i;
        }
        units += ch.len_utf16();
        if units > max {
            let cut = if combining { cluster_start } else { i };
            return text.get(..cut).unwrap_or_default();
        }
    }
    text
}

fn is_combining(ch: char) -> bool {
    matches!(ch,
        '\u{0300}'..='\u{036F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn number(value: f64, decimals: usize, percent: bool) -> Option<ParsedNumber> {
        Some(ParsedNumber {
            value,
            decimals,
            percent,
        })
    }

    #[test]
    fn parses_numbers_as_format_number_writes_them() {
        assert_eq!(parse_number("1.234,5", Lang::Vi), number(1234.5, 1, false));
        assert_eq!(parse_number("1,234.5", Lang::En), number(1234.5, 1, false));
        assert_eq!(parse_number("87,4%", Lang::Vi), number(0.874, 1, true));
        assert_eq!(parse_number("12%", Lang::En), number(0.12, 0, true));
        assert_eq!(parse_number("-1.234", Lang::Vi), number(-1234.0, 0, false));
        assert_eq!(parse_number("0,50", Lang::Vi), number(0.5, 2, false));
        assert_eq!(parse_number("-0", Lang::En), number(0.0, 0, false));
        assert_eq!(
            parse_number("1234567", Lang::En),
            number(1234567.0, 0, false)
        );
    }

    #[test]
    fn leaves_ambiguous_or_suppressed_text_alone() {
        for text in [
            "<5",
            "1.5",
            "5-10",
            "1.2345",
            ",5",
            "5,",
            "12a",
            "%",
            "",
            "1 234",
            "1234567890123456",
        ] {
            assert_eq!(parse_number(text, Lang::Vi), None, "{text}");
        }
        assert_eq!(parse_number("1,5", Lang::En), None);
        assert_eq!(parse_number("1.5", Lang::En), number(1.5, 1, false));
    }

    #[test]
    fn dashes_are_missing_only_in_numeric_columns() {
        assert_eq!(classify("–", true, Lang::Vi), CellValue::Empty);
        assert_eq!(classify("  ", false, Lang::Vi), CellValue::Empty);
        assert_eq!(classify("–", false, Lang::Vi), CellValue::Text("–"));
        assert_eq!(classify("2026", false, Lang::Vi), CellValue::Text("2026"));
        assert_eq!(classify("<5", true, Lang::Vi), CellValue::Text("<5"));
    }

    #[test]
    fn number_formats_keep_precision() {
        assert_eq!(number_format(0, false), "#,##0");
        assert_eq!(number_format(2, false), "#,##0.00");
        assert_eq!(number_format(1, true), "0.0%");
        assert_eq!(number_format(0, true), "0%");
    }

    #[test]
    fn sheet_names_are_cleaned_cut_and_deduplicated() {
        let mut namer = SheetNamer::default();
        assert_eq!(namer.unique("Tóm tắt", "x"), "Tóm tắt");
        assert_eq!(namer.unique("TÓM TẮT", "x"), "TÓM TẮT (2)");
        assert_eq!(
            namer.unique("Quý 3/2026: [sơ bộ]*", "x"),
            "Quý 3-2026 - (sơ bộ)"
        );
        assert_eq!(namer.unique("'  '", "Bảng 4"), "Bảng 4");
        assert_eq!(namer.unique("History", "x"), "History (2)");
        let long = "Tỷ lệ sự cố nghiêm trọng theo cơ sở khám chữa bệnh";
        let first = namer.unique(long, "x");
        assert_eq!(first, "Tỷ lệ sự cố nghiêm trọng theo c");
        assert_eq!(namer.unique(long, "x"), "Tỷ lệ sự cố nghiêm trọng th (2)");
    }

    #[test]
    fn truncation_keeps_accents_with_their_letter() {
        // "e" + combining circumflex + combining acute: cut before the letter, not between.
        let decomposed = "abe\u{0302}\u{0301}";
        assert_eq!(truncate_units(decomposed, 3), "ab");
        assert_eq!(truncate_units(decomposed, 5), decomposed);
        assert_eq!(truncate_units("😀😀", 3), "😀");
    }

    proptest! {
        #[test]
        fn sheet_names_are_always_valid_and_unique(
            wanted in proptest::collection::vec(
                prop_oneof![
                    ".*",
                    "[\\[\\]:*?/\\\\' a-zA-Zơưđáàảãạ\u{0300}\u{0301}😀]{0,40}",
                    Just("Bảng".to_string()),
                ],
                1..12,
            )
        ) {
            let mut namer = SheetNamer::default();
            let mut seen = HashSet::new();
            for raw in &wanted {
                let name = namer.unique(raw, "Bảng 1");
                prop_assert!(!name.is_empty());
                prop_assert!(name.encode_utf16().count() <= MAX_SHEET_NAME_UNITS, "{name:?}");
                prop_assert!(!name.contains(['[', ']', ':', '*', '?', '/', '\\']), "{name:?}");
                prop_assert!(!name.starts_with('\'') && !name.ends_with('\''), "{name:?}");
                prop_assert!(!name.chars().any(char::is_control), "{name:?}");
                prop_assert!(seen.insert(name.to_lowercase()), "duplicate {name:?}");
                // rust_xlsxwriter applies Excel's rules too; it must agree.
                let mut sheet = Worksheet::new();
                prop_assert!(sheet.set_name(&name).is_ok(), "{name:?}");
            }
        }
    }
}
