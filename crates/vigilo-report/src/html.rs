//! HTML fragment rendering: semantic tags and a few class names for the server's stylesheet,
//! no scripts, no inline styles (the server's CSP forbids them), no external resources.

use std::fmt::Write;

use crate::model::{Align, Block, DataTable, Document, Inline, InlineStyle, Letterhead, Signature};

/// Escapes text for element content and quoted attribute values alike.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

pub(crate) fn push_escaped(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newline are not valid in HTML or XML text.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Renders the document as one `<article class="report">` element, to be embedded in a page.
pub fn to_html(doc: &Document) -> String {
    let mut out = String::with_capacity(4096);
    let _ = writeln!(
        out,
        "<article class=\"report\" lang=\"{}\">",
        doc.lang.code()
    );
    let (leading_letterhead, blocks) = doc.split_letterhead();
    if let Some(head) = leading_letterhead {
        push_letterhead(&mut out, head);
    }
    out.push_str("<header class=\"report-head\">\n<h1>");
    push_escaped(&mut out, &doc.title);
    out.push_str("</h1>\n");
    if let Some(subtitle) = &doc.subtitle {
        out.push_str("<p class=\"subtitle\">");
        push_escaped(&mut out, subtitle);
        out.push_str("</p>\n");
    }
    if !doc.meta.is_empty() {
        out.push_str("<dl class=\"meta\">\n");
        for (label, value) in &doc.meta {
            out.push_str("<dt>");
            push_escaped(&mut out, label);
            out.push_str("</dt><dd>");
            push_escaped(&mut out, value);
            out.push_str("</dd>\n");
        }
        out.push_str("</dl>\n");
    }
    out.push_str("</header>\n");
    for block in blocks {
        push_block(&mut out, block);
    }
    out.push_str("</article>\n");
    out
}

fn push_block(out: &mut String, block: &Block) {
    match block {
        Block::Letterhead(head) => push_letterhead(out, head),
        Block::Heading { level, text } => {
            // h1 is the document title, so sections start at h2.
            let tag = heading_level(*level) + 1;
            let _ = write!(out, "<h{tag}>");
            push_escaped(out, text);
            let _ = writeln!(out, "</h{tag}>");
        }
        Block::Paragraph(runs) => {
            out.push_str("<p>");
            push_inlines(out, runs);
            out.push_str("</p>\n");
        }
        Block::KeyValue(pairs) => {
            out.push_str("<table class=\"kv\">\n<tbody>\n");
            for (key, value) in pairs {
                out.push_str("<tr><th scope=\"row\">");
                push_escaped(out, key);
                out.push_str("</th><td>");
                push_escaped(out, value);
                out.push_str("</td></tr>\n");
            }
            out.push_str("</tbody>\n</table>\n");
        }
        Block::Table(table) => push_table(out, table),
        Block::List(items) | Block::NumberedList(items) => {
            let tag = if matches!(block, Block::List(_)) {
                "ul"
            } else {
                "ol"
            };
            let _ = writeln!(out, "<{tag}>");
            for item in items {
                out.push_str("<li>");
                push_inlines(out, item);
                out.push_str("</li>\n");
            }
            let _ = writeln!(out, "</{tag}>");
        }
        Block::Figure(figure) => {
            out.push_str("<figure>\n");
            // Built by this crate's chart functions, whose labels are escaped.
            out.push_str(figure.svg.as_str());
            out.push_str("\n<figcaption>");
            push_escaped(out, &figure.caption);
            out.push_str("</figcaption>\n</figure>\n");
        }
        Block::Note { kind, content } => {
            let _ = write!(
                out,
                "<aside class=\"note {}\" role=\"note\"><p>",
                kind.class()
            );
            push_inlines(out, content);
            out.push_str("</p></aside>\n");
        }
        Block::PageBreak => out.push_str("<hr class=\"page-break\"/>\n"),
        Block::Signature(signature) => push_signature(out, signature),
    }
}

pub(crate) fn heading_level(level: u8) -> u8 {
    level.clamp(1, 3)
}

fn push_inlines(out: &mut String, runs: &[Inline]) {
    for run in runs {
        let (open, close) = match run.style {
            InlineStyle::Plain => ("", ""),
            InlineStyle::Bold => ("<strong>", "</strong>"),
            InlineStyle::Italic => ("<em>", "</em>"),
            InlineStyle::Field => ("<mark class=\"fill\">", "</mark>"),
        };
        out.push_str(open);
        push_escaped(out, &run.text);
        out.push_str(close);
    }
}

fn push_lines(out: &mut String, class: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let _ = write!(out, "<p class=\"{class}\">");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push_str("<br/>");
        }
        push_escaped(out, line);
    }
    out.push_str("</p>\n");
}

fn push_letterhead(out: &mut String, head: &Letterhead) {
    out.push_str("<header class=\"letterhead\">\n<div class=\"letterhead-authority\">\n");
    push_lines(out, "authority", &head.authority);
    if let Some(reference) = &head.reference {
        out.push_str("<p class=\"reference\">");
        push_escaped(out, reference);
        out.push_str("</p>\n");
    }
    out.push_str("</div>\n<div class=\"letterhead-motto\">\n");
    push_lines(out, "motto", &head.motto);
    if let Some(place_date) = &head.place_date {
        out.push_str("<p class=\"place-date\">");
        push_escaped(out, place_date);
        out.push_str("</p>\n");
    }
    out.push_str("</div>\n</header>\n");
}

fn push_signature(out: &mut String, signature: &Signature) {
    out.push_str("<div class=\"signature\">\n");
    if let Some(place_date) = &signature.place_date {
        out.push_str("<p class=\"place-date\">");
        push_escaped(out, place_date);
        out.push_str("</p>\n");
    }
    push_lines(out, "signer-title", &signature.title);
    out.push_str("<p class=\"signer-name\">");
    push_escaped(out, &signature.name);
    out.push_str("</p>\n</div>\n");
}

fn push_table(out: &mut String, table: &DataTable) {
    out.push_str("<table class=\"data\">\n");
    if let Some(caption) = &table.caption {
        out.push_str("<caption>");
        push_escaped(out, caption);
        out.push_str("</caption>\n");
    }
    out.push_str("<thead><tr>");
    for column in &table.columns {
        out.push_str(match column.align {
            Align::Left => "<th scope=\"col\">",
            Align::Right => "<th scope=\"col\" class=\"num\">",
        });
        push_escaped(out, &column.label);
        out.push_str("</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for (i, column) in table.columns.iter().enumerate() {
            out.push_str(match column.align {
                Align::Left => "<td>",
                Align::Right => "<td class=\"num\">",
            });
            if let Some(cell) = row.get(i) {
                push_escaped(out, cell);
            }
            out.push_str("</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}
