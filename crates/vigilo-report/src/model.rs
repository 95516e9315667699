//! The document model every report is built as, whatever it is rendered to.
//!
//! All text is plain user text: renderers escape it. Numbers arrive already formatted
//! (see [`crate::format_number`]), because the caller knows the unit and precision.

use time::OffsetDateTime;

use crate::chart::Svg;

/// Language of a document: drives the `lang` attribute, hyphenation in PDF and number formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    /// BCP 47 code.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }
}

/// A report or letter, independent of its output format.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub lang: Lang,
    pub title: String,
    pub subtitle: Option<String>,
    /// Label and value pairs shown under the title (period, product, study id...).
    pub meta: Vec<(String, String)>,
    /// Creation time written into PDF metadata. Passed in: the report crates never read
    /// the clock, so the same input gives the same bytes.
    pub created: Option<OffsetDateTime>,
    /// Author written into PDF metadata (usually the issuing authority).
    pub author: Option<String>,
    /// A line repeated at the foot of every PDF page (e.g. the reference number).
    pub footer: Option<String>,
    pub blocks: Vec<Block>,
}

impl Document {
    /// A letter starts with its letterhead, above the title: renderers place a leading
    /// [`Block::Letterhead`] before the title and the rest after it.
    pub fn split_letterhead(&self) -> (Option<&Letterhead>, &[Block]) {
        match self.blocks.split_first() {
            Some((Block::Letterhead(head), rest)) => (Some(head), rest),
            _ => (None, &self.blocks),
        }
    }
}

/// One block of content, in reading order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Letterhead(Letterhead),
    /// `level` 1 is a section, 2 a subsection, 3 and deeper are clamped to 3.
    Heading {
        level: u8,
        text: String,
    },
    Paragraph(Vec<Inline>),
    KeyValue(Vec<(String, String)>),
    Table(DataTable),
    List(Vec<Vec<Inline>>),
    /// Items numbered 1, 2, 3... (clauses of a regulation, steps of a procedure); each list
    /// starts again at 1.
    NumberedList(Vec<Vec<Inline>>),
    Figure(Figure),
    Note {
        kind: NoteKind,
        content: Vec<Inline>,
    },
    PageBreak,
    Signature(Signature),
}

impl Block {
    pub fn heading(level: u8, text: impl Into<String>) -> Self {
        Block::Heading {
            level,
            text: text.into(),
        }
    }

    /// A paragraph of one plain run.
    pub fn paragraph(text: impl Into<String>) -> Self {
        Block::Paragraph(vec![Inline::plain(text)])
    }

    pub fn note(kind: NoteKind, text: impl Into<String>) -> Self {
        Block::Note {
            kind,
            content: vec![Inline::plain(text)],
        }
    }
}

/// A run of text with one style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inline {
    pub text: String,
    pub style: InlineStyle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InlineStyle {
    #[default]
    Plain,
    Bold,
    Italic,
    /// A fill-in field of a template (`[Facility name]`): shown highlighted so whoever
    /// adapts the document sees what to replace.
    Field,
}

impl Inline {
    pub fn plain(text: impl Into<String>) -> Self {
        Inline {
            text: text.into(),
            style: InlineStyle::Plain,
        }
    }
    pub fn bold(text: impl Into<String>) -> Self {
        Inline {
            text: text.into(),
            style: InlineStyle::Bold,
        }
    }
    pub fn italic(text: impl Into<String>) -> Self {
        Inline {
            text: text.into(),
            style: InlineStyle::Italic,
        }
    }
    pub fn field(text: impl Into<String>) -> Self {
        Inline {
            text: text.into(),
            style: InlineStyle::Field,
        }
    }
}

/// The head of an official letter, laid out as Vietnamese administrative documents are
/// (Decree 30/2020): the authority and reference number on the left, the national motto and
/// the place and date on the right. Empty parts are left out, so English letters can omit
/// the motto.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Letterhead {
    /// Issuing authority, one line each, top-down (e.g. "BỘ Y TẾ", "CỤC ...").
    pub authority: Vec<String>,
    /// e.g. "Số: 12/QĐ-BYT".
    pub reference: Option<String>,
    /// e.g. "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc".
    pub motto: Vec<String>,
    /// e.g. "Hà Nội, ngày 23 tháng 11 năm 2026", formatted by the caller.
    pub place_date: Option<String>,
}

/// A data table: a header row and rows of already formatted cells.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataTable {
    pub caption: Option<String>,
    pub columns: Vec<Column>,
    /// Each row should have one cell per column; short rows are padded with empty cells,
    /// extra cells are dropped.
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub label: String,
    pub align: Align,
}

impl Column {
    pub fn text(label: impl Into<String>) -> Self {
        Column {
            label: label.into(),
            align: Align::Left,
        }
    }
    /// A numeric column: right aligned, so digits line up.
    pub fn numeric(label: impl Into<String>) -> Self {
        Column {
            label: label.into(),
            align: Align::Right,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    #[default]
    Left,
    Right,
}

/// A chart with its caption; `svg` comes from this crate's chart functions only, so the
/// HTML renderer can embed it without sanitising.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub svg: Svg,
    pub caption: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoteKind {
    #[default]
    Info,
    Warning,
}

impl NoteKind {
    pub(crate) fn class(self) -> &'static str {
        match self {
            NoteKind::Info => "note-info",
            NoteKind::Warning => "note-warning",
        }
    }
}

/// The signature block at the end of a letter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Signature {
    /// e.g. "Hà Nội, ngày 23 tháng 11 năm 2026"; often already in the letterhead.
    pub place_date: Option<String>,
    /// Capacity of the signer, one line each (e.g. "KT. CỤC TRƯỞNG", "PHÓ CỤC TRƯỞNG").
    pub title: Vec<String>,
    pub name: String,
}
