//! Typst markup generated from a [`Document`].
//!
//! User text never goes into markup as markup: every piece is emitted as a typst string
//! literal (`"..."`, only `\` `"` and control characters need escaping), and strings are
//! typeset as plain text, so `#`, `*`, `$`, `<`, `[`, `_`, `@` and backslashes come out
//! literally. Only the structure around them is markup, written here.

use std::fmt::Write;

use vigilo_report::{
    Align, Block, DataTable, Document, Figure, Inline, InlineStyle, Letterhead, NoteKind, Signature,
};

/// The generated source and the SVG figures it refers to by virtual path.
pub(crate) struct Markup {
    pub source: String,
    /// `(path, svg)`; paths are `/figure-{n}.svg`, `n` counting from 0.
    pub figures: Vec<(String, String)>,
}

/// The font every document is set in: embedded by `typst-assets`, covers Vietnamese in
/// regular, italic, semibold and bold.
pub const BODY_FONT: &str = "Libertinus Serif";

/// Per-glyph fallback: Libertinus Serif Bold Italic lacks ơ and ư; New Computer Modern
/// (also embedded) has them in every style.
pub const FALLBACK_FONT: &str = "New Computer Modern";

/// A typst string literal holding `text` exactly.
pub(crate) fn string_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn content_of_lines(lines: &[String]) -> String {
    let mut out = String::from("[");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push_str("#linebreak()");
        }
        out.push('#');
        out.push_str(&string_literal(line));
    }
    out.push(']');
    out
}

fn content_of_runs(runs: &[Inline]) -> String {
    let mut out = String::from("[");
    for run in runs {
        let literal = string_literal(&run.text);
        match run.style {
            InlineStyle::Plain => {
                out.push('#');
                out.push_str(&literal);
            }
            InlineStyle::Bold => {
                let _ = write!(out, "#strong({literal})");
            }
            InlineStyle::Italic => {
                let _ = write!(out, "#emph({literal})");
            }
            InlineStyle::Field => {
                let _ = write!(out, "#highlight(fill: rgb(\"#fff1a8\"), {literal})");
            }
        }
    }
    out.push(']');
    out
}

fn datetime_literal(doc: &Document) -> Option<String> {
    let created = doc.created?.to_offset(time::UtcOffset::UTC);
    Some(format!(
        "datetime(year: {}, month: {}, day: {}, hour: {}, minute: {}, second: {})",
        created.year(),
        u8::from(created.month()),
        created.day(),
        created.hour(),
        created.minute(),
        created.second()
    ))
}

pub(crate) fn to_markup(doc: &Document) -> Markup {
    let mut out = String::with_capacity(8192);
    let mut figures = Vec::new();

    let author = doc
        .author
        .as_deref()
        .map_or_else(|| "()".to_string(), |a| format!("({},)", string_literal(a)));
    let date = datetime_literal(doc).unwrap_or_else(|| "none".to_string());
    let _ = writeln!(
        out,
        "#set document(title: {}, author: {author}, date: {date})",
        string_literal(&doc.title)
    );
    let _ = writeln!(
        out,
        "#set text(font: ({}, {}), size: 11pt, lang: {}, hyphenate: false)",
        string_literal(BODY_FONT),
        string_literal(FALLBACK_FONT),
        string_literal(doc.lang.code())
    );
    let footer = doc.footer.as_deref().unwrap_or("");
    // Margins of Vietnamese administrative documents (Decree 30/2020): a wider left margin
    // for binding.
    let _ = writeln!(
        out,
        "#set page(paper: \"a4\", margin: (top: 2cm, bottom: 2.4cm, left: 3cm, right: 2cm), \
         footer: context {{ set text(size: 9pt); grid(columns: (1fr, auto), column-gutter: 1em, \
         {footer}, counter(page).display(\"1 / 1\", both: true)) }})",
        footer = string_literal(footer)
    );
    out.push_str(concat!(
        "#set par(justify: true, leading: 0.7em, spacing: 1em)\n",
        "#set heading(numbering: none)\n",
        "#show heading.where(level: 1): set text(size: 14pt)\n",
        "#show heading.where(level: 2): set text(size: 12.5pt)\n",
        "#show heading.where(level: 3): set text(size: 11pt)\n",
        "#show heading: set block(above: 1.4em, below: 0.8em)\n",
        "#set figure(numbering: none, gap: 0.8em)\n",
        "#show figure: set block(breakable: true)\n",
        "#show figure.where(kind: table): set figure.caption(position: top)\n",
        "#set table(stroke: 0.5pt + luma(140), inset: (x: 5pt, y: 4pt))\n",
        "#show table.cell.where(y: 0): set text(weight: \"bold\")\n",
        "\n",
    ));

    let (leading_letterhead, blocks) = doc.split_letterhead();
    if let Some(head) = leading_letterhead {
        push_letterhead(&mut out, head);
    }
    let _ = writeln!(
        out,
        "#align(center, block(below: 1.2em)[#text(size: 16pt, weight: \"bold\", {})",
        string_literal(&doc.title)
    );
    if let Some(subtitle) = &doc.subtitle {
        let _ = write!(
            out,
            "#linebreak()#text(size: 12pt, style: \"italic\", {})",
            string_literal(subtitle)
        );
    }
    out.push_str("])\n\n");
    if !doc.meta.is_empty() {
        push_key_values(&mut out, &doc.meta);
    }
    for block in blocks {
        push_block(&mut out, block, &mut figures);
    }
    Markup {
        source: out,
        figures,
    }
}

fn push_block(out: &mut String, block: &Block, figures: &mut Vec<(String, String)>) {
    match block {
        Block::Letterhead(head) => push_letterhead(out, head),
        Block::Heading { level, text } => {
            let _ = writeln!(
                out,
                "#heading(level: {}, {})\n",
                (*level).clamp(1, 3),
                string_literal(text)
            );
        }
        Block::Paragraph(runs) => {
            let _ = writeln!(out, "#par{}\n", content_of_runs(runs));
        }
        Block::KeyValue(pairs) => push_key_values(out, pairs),
        Block::Table(table) => push_table(out, table),
        Block::List(items) | Block::NumberedList(items) => {
            out.push_str(if matches!(block, Block::List(_)) {
                "#list("
            } else {
                "#enum("
            });
            for item in items {
                out.push_str(&content_of_runs(item));
                out.push_str(", ");
            }
            out.push_str(")\n\n");
        }
        Block::Figure(figure) => push_figure(out, figure, figures),
        Block::Note { kind, content } => {
            let (fill, accent) = match kind {
                NoteKind::Info => ("rgb(\"#eef3f8\")", "rgb(\"#1f4e79\")"),
                NoteKind::Warning => ("rgb(\"#fbefe9\")", "rgb(\"#a33a1f\")"),
            };
            let _ = writeln!(
                out,
                "#block(width: 100%, fill: {fill}, stroke: (left: 3pt + {accent}), inset: 8pt, radius: 2pt){}\n",
                content_of_runs(content)
            );
        }
        Block::PageBreak => out.push_str("#pagebreak(weak: true)\n\n"),
        Block::Signature(signature) => push_signature(out, signature),
    }
}

fn push_letterhead(out: &mut String, head: &Letterhead) {
    let mut left = String::from("[");
    if !head.authority.is_empty() {
        let _ = write!(left, "#strong({})", content_of_lines(&head.authority));
    }
    if let Some(reference) = &head.reference {
        let _ = write!(left, "#v(0.4em)#{}", string_literal(reference));
    }
    left.push(']');
    let mut right = String::from("[");
    if !head.motto.is_empty() {
        let _ = write!(right, "#strong({})", content_of_lines(&head.motto));
    }
    if let Some(place_date) = &head.place_date {
        let _ = write!(right, "#v(0.4em)#emph({})", string_literal(place_date));
    }
    right.push(']');
    let _ = writeln!(
        out,
        "#block(below: 1.6em, grid(columns: (1fr, 1.4fr), column-gutter: 1em, align: center + top, {left}, {right}))\n"
    );
}

fn push_key_values(out: &mut String, pairs: &[(String, String)]) {
    out.push_str("#table(columns: (auto, 1fr), stroke: none, inset: (x: 0pt, y: 3pt), column-gutter: 1.2em, ");
    for (key, value) in pairs {
        let _ = write!(
            out,
            "strong({}), {}, ",
            string_literal(key),
            string_literal(value)
        );
    }
    out.push_str(")\n\n");
}

fn push_table(out: &mut String, table: &DataTable) {
    let columns = table.columns.len().max(1);
    let aligns: Vec<&str> = table
        .columns
        .iter()
        .map(|c| match c.align {
            Align::Left => "left",
            Align::Right => "right",
        })
        .collect();
    let mut body = format!(
        "table(columns: {columns}, align: ({},), table.header(repeat: true, ",
        if aligns.is_empty() {
            "left".to_string()
        } else {
            aligns.join(", ")
        }
    );
    for column in &table.columns {
        let _ = write!(body, "{}, ", string_literal(&column.label));
    }
    body.push_str("), ");
    for row in &table.rows {
        for i in 0..table.columns.len() {
            let cell = row.get(i).map_or("", String::as_str);
            let _ = write!(body, "{}, ", string_literal(cell));
        }
    }
    body.push(')');
    match &table.caption {
        Some(caption) => {
            let _ = writeln!(
                out,
                "#figure(kind: table, caption: {}, {body})\n",
                string_literal(caption)
            );
        }
        None => {
            let _ = writeln!(out, "#{body}\n");
        }
    }
}

fn push_figure(out: &mut String, figure: &Figure, figures: &mut Vec<(String, String)>) {
    let path = format!("/figure-{}.svg", figures.len());
    let _ = writeln!(
        out,
        "#figure(image({}, width: 75%, alt: {}), caption: {})\n",
        string_literal(&path),
        string_literal(&figure.caption),
        string_literal(&figure.caption)
    );
    figures.push((path, figure.svg.as_str().to_string()));
}

fn push_signature(out: &mut String, signature: &Signature) {
    let mut content = String::from("[");
    if let Some(place_date) = &signature.place_date {
        let _ = write!(content, "#emph({})#linebreak()", string_literal(place_date));
    }
    if !signature.title.is_empty() {
        let _ = write!(content, "#strong({})", content_of_lines(&signature.title));
    }
    // Room for the handwritten signature and the seal.
    let _ = write!(
        content,
        "#v(2.6cm)#strong({})]",
        string_literal(&signature.name)
    );
    let _ = writeln!(
        out,
        "#align(right, block(width: 55%, breakable: false, above: 1.6em, align(center, {content})))\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literal_escapes_only_what_typst_strings_need() {
        assert_eq!(string_literal(r#"a\b"c"#), r#""a\\b\"c""#);
        assert_eq!(string_literal("#*$<[_@`"), "\"#*$<[_@`\"");
        assert_eq!(string_literal("x\ny\u{7}"), "\"x\\ny\\u{7}\"");
    }
}
