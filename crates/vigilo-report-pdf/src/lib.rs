//! PDF rendering of [`vigilo_report::Document`] with typst.
//!
//! Kept apart from `vigilo-report` because typst is heavy to compile. Everything is in
//! memory: the typst source is generated from the document, SVG figures are served as
//! virtual files, the fonts come from `typst-assets` compiled into the binary. Nothing is
//! read from the file system, the network or the clock, so the same document gives the
//! same bytes.

mod markup;

use std::sync::LazyLock;

use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Duration, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;
use vigilo_report::Document;

pub use markup::{BODY_FONT, FALLBACK_FONT};

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The generated markup did not typeset; a bug in this crate, not in the input.
    #[error("typesetting failed: {0}")]
    Typeset(String),
    #[error("PDF export failed: {0}")]
    Export(String),
    #[error("invalid virtual path {0}")]
    Path(String),
}

/// Fonts and the standard library, built once per process.
struct Shared {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

static SHARED: LazyLock<Shared> = LazyLock::new(|| {
    let fonts: Vec<Font> = typst_assets::fonts()
        .flat_map(|data| Font::iter(Bytes::new(data)))
        .collect();
    Shared {
        library: LazyHash::new(Library::default()),
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
    }
});

/// The fonts a PDF can use, all embedded in the binary.
pub fn embedded_fonts() -> impl Iterator<Item = &'static Font> {
    SHARED.fonts.iter()
}

/// One compilation: the generated source and the figures, nothing else.
struct ReportWorld {
    main: Source,
    figures: Vec<(FileId, Bytes)>,
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        &SHARED.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &SHARED.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::NotSource)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.main.id() {
            return Ok(Bytes::from_string(self.main.text().to_string()));
        }
        self.figures
            .iter()
            .find(|(figure, _)| *figure == id)
            .map(|(_, bytes)| bytes.clone())
            .ok_or_else(|| FileError::Other(Some("no such file in a report".into())))
    }

    fn font(&self, index: usize) -> Option<Font> {
        SHARED.fonts.get(index).cloned()
    }

    // No clock: a document that asks for today's date fails instead of varying.
    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        None
    }
}

fn file_id(path: &str) -> Result<FileId, PdfError> {
    let vpath = VirtualPath::new(path).map_err(|e| PdfError::Path(format!("{path}: {e:?}")))?;
    Ok(RootedPath::new(VirtualRoot::Project, vpath).intern())
}

fn describe(diagnostics: &[SourceDiagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| {
            let hints: Vec<&str> = d.hints.iter().map(|h| h.v.as_str()).collect();
            if hints.is_empty() {
                d.message.to_string()
            } else {
                format!("{} (hint: {})", d.message, hints.join("; "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The typst source generated for `doc` (for debugging and for tests).
pub fn to_typst_markup(doc: &Document) -> String {
    markup::to_markup(doc).source
}

/// Renders `doc` as an A4 PDF: fonts embedded, SVG figures as vector images, page numbers
/// and `doc.footer` on every page, title, author, language and `doc.created` in the
/// metadata. Deterministic: the same document gives the same bytes.
pub fn to_pdf(doc: &Document) -> Result<Vec<u8>, PdfError> {
    let generated = markup::to_markup(doc);
    let main_id = file_id("/main.typ")?;
    let mut figures = Vec::with_capacity(generated.figures.len());
    for (path, svg) in generated.figures {
        figures.push((file_id(&path)?, Bytes::from_string(svg)));
    }
    let world = ReportWorld {
        main: Source::new(main_id, generated.source),
        figures,
    };
    let compiled = typst::compile::<PagedDocument>(&world).output;
    let timestamp = doc
        .created
        .map(|created| created.to_offset(time::UtcOffset::UTC))
        .and_then(|t| {
            Datetime::from_ymd_hms(
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
            )
        })
        .map(typst_pdf::Timestamp::new_utc);
    let result = compiled
        .map_err(|errors| PdfError::Typeset(describe(&errors)))
        .and_then(|document| {
            let options = typst_pdf::PdfOptions {
                creator: Smart::Custom(Some("Vigilo".into())),
                timestamp,
                ..typst_pdf::PdfOptions::default()
            };
            typst_pdf::pdf(&document, &options)
                .map_err(|errors| PdfError::Export(describe(&errors)))
        });
    // typst memoises across compilations; drop what recent ones did not reuse so a long
    // running server does not grow.
    typst::comemo::evict(10);
    result
}
