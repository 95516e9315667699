//! The Navigator's blueprints as documents a facility downloads and adapts: the public list
//! (`/navigator/blueprints`), each blueprint as a page (`/navigator/blueprints/{id}`) and as
//! PDF or DOCX (`/navigator/blueprints/{id}.pdf`, `.docx`), in the request's language
//! (`?lang=vi|en`, else the page language).
//!
//! The content is `vigilo_core::blueprints` (one bilingual file per blueprint); this module
//! lays it out as a `vigilo_report::Document`, with the labels that are not content (template
//! notes, checklist columns, the letterhead's fill-in lines) from the locale files. Rendered
//! files are cached per blueprint, language and format: the content is compiled in, so they
//! never change while the process runs, and typesetting a PDF takes a while.

use crate::ctx::Ctx;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::i18n::Tr;
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use vigilo_core::blueprints::{
    builtin_blueprint_documents, segments, Block as BpBlock, BlueprintDocument, Segment,
};
use vigilo_core::checklist::Text;
use vigilo_core::navigator::{builtin_blueprints, Blueprint};
use vigilo_core::Lang;
use vigilo_report::{Block, Column, DataTable, Document, Inline, Letterhead, NoteKind};

/// A fill-in line after a label ("Ngày: ……").
const FILL_LINE: &str = "…………………………………………………………………………";

/// The catalogue entries with their documents, in `BLUEPRINT_IDS` order. Both are compiled
/// in and checked by tests, so an error here is a build defect: the list is then empty and
/// every blueprint answers 404, rather than the server refusing to start.
static BLUEPRINTS: LazyLock<Vec<(Blueprint, BlueprintDocument)>> = LazyLock::new(|| {
    let catalogue = builtin_blueprints().unwrap_or_else(|e| {
        tracing::error!(error = %e, "blueprint catalogue");
        Vec::new()
    });
    let documents = builtin_blueprint_documents().unwrap_or_else(|e| {
        tracing::error!(error = %e, "blueprint documents");
        Vec::new()
    });
    documents
        .into_iter()
        .filter_map(|d| {
            let b = catalogue.iter().find(|b| b.id == d.id)?.clone();
            Some((b, d))
        })
        .collect()
});

fn find(id: &str) -> Option<&'static (Blueprint, BlueprintDocument)> {
    BLUEPRINTS.iter().find(|(b, _)| b.id == id)
}

/// A downloadable form of a blueprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Pdf,
    Docx,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Docx => "docx",
        }
    }
    fn content_type(self) -> &'static str {
        match self {
            Format::Pdf => "application/pdf",
            Format::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
        }
    }
}

/// `blueprint-x` (the page), `blueprint-x.pdf` or `blueprint-x.docx`.
fn parse_file(file: &str) -> Option<(&str, Option<Format>)> {
    if let Some(id) = file.strip_suffix(".pdf") {
        Some((id, Some(Format::Pdf)))
    } else if let Some(id) = file.strip_suffix(".docx") {
        Some((id, Some(Format::Docx)))
    } else if file.contains('.') {
        None
    } else {
        Some((file, None))
    }
}

/// The file name a download is saved under: the blueprint's id and the language.
pub fn file_name(id: &str, lang: Lang, format: Format) -> String {
    format!("{id}-{}.{}", lang.code(), format.extension())
}

fn report_lang(lang: Lang) -> vigilo_report::Lang {
    crate::sandbox::report_lang(lang)
}

/// Plain runs and highlighted fill-in fields.
fn inlines(text: &str) -> Vec<Inline> {
    segments(text)
        .into_iter()
        .map(|s| match s {
            Segment::Text(t) => Inline::plain(t),
            Segment::Field(f) => Inline::field(f),
        })
        .collect()
}

fn items(list: &[Text], lang: Lang) -> Vec<Vec<Inline>> {
    list.iter().map(|t| inlines(t.get(lang))).collect()
}

/// The blueprint as a document in one language.
pub fn document(tr: &Tr, blueprint: &Blueprint, doc: &BlueprintDocument) -> Document {
    let lang = tr.lang;
    let mut blocks = Vec::new();
    if doc.letterhead {
        blocks.push(Block::Letterhead(Letterhead {
            authority: vec![tr.t("bpd-letterhead-parent"), tr.t("bpd-letterhead-unit")],
            reference: None,
            motto: match lang {
                Lang::Vi => vec![
                    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM".into(),
                    "Độc lập - Tự do - Hạnh phúc".into(),
                ],
                Lang::En => Vec::new(),
            },
            place_date: Some(tr.t("bpd-letterhead-place-date")),
        }));
    }
    blocks.push(Block::Note {
        kind: NoteKind::Info,
        content: inlines(&tr.t("bpd-how-to")),
    });
    blocks.push(Block::heading(1, tr.t("bpd-purpose")));
    blocks.push(Block::Paragraph(inlines(doc.purpose.get(lang))));
    blocks.push(Block::heading(1, tr.t("bpd-scope")));
    blocks.push(Block::Paragraph(inlines(doc.scope.get(lang))));
    for section in &doc.sections {
        blocks.push(Block::heading(1, section.heading.get(lang)));
        for block in &section.blocks {
            blocks.push(match block {
                BpBlock::Paragraph { text } => Block::Paragraph(inlines(text.get(lang))),
                BpBlock::Subheading { text } => Block::heading(2, text.get(lang)),
                BpBlock::Note { text } => Block::Note {
                    kind: NoteKind::Warning,
                    content: inlines(text.get(lang)),
                },
                BpBlock::Clauses { items: list } => Block::NumberedList(items(list, lang)),
                BpBlock::List { items: list } => Block::List(items(list, lang)),
                BpBlock::Checklist { items: list } => Block::Table(DataTable {
                    caption: None,
                    columns: vec![
                        Column::numeric(tr.t("bpd-check-no")),
                        Column::text(tr.t("bpd-check-item")),
                        Column::text(tr.t("bpd-check-answer")),
                        Column::text(tr.t("bpd-check-evidence")),
                    ],
                    rows: list
                        .iter()
                        .enumerate()
                        .map(|(i, t)| {
                            vec![
                                (i + 1).to_string(),
                                t.get(lang).to_string(),
                                String::new(),
                                String::new(),
                            ]
                        })
                        .collect(),
                }),
                BpBlock::Table { columns, rows } => Block::Table(DataTable {
                    caption: None,
                    columns: columns.iter().map(|c| Column::text(c.get(lang))).collect(),
                    rows: rows
                        .iter()
                        .map(|r| r.iter().map(|c| c.get(lang).to_string()).collect())
                        .collect(),
                }),
                BpBlock::Fields { items: list } => Block::KeyValue(
                    list.iter()
                        .map(|t| (t.get(lang).to_string(), FILL_LINE.to_string()))
                        .collect(),
                ),
            });
        }
    }
    blocks.push(Block::heading(1, tr.t("bpd-sources")));
    blocks.push(Block::paragraph(tr.t("bpd-sources-note")));
    blocks.push(Block::NumberedList(
        doc.sources
            .iter()
            .map(|s| {
                vec![Inline::plain(format!(
                    "{} ({}). {}",
                    s.name.get(lang),
                    s.year,
                    s.url
                ))]
            })
            .collect(),
    ));
    let title = blueprint.title.get(lang).to_string();
    Document {
        lang: report_lang(lang),
        subtitle: Some(doc.subtitle.get(lang).to_string()),
        meta: vec![
            (tr.t("bpd-template"), blueprint.id.clone()),
            (tr.t("bpd-version"), doc.version.to_string()),
        ],
        created: None,
        author: Some("Vigilo".into()),
        footer: Some(format!("{title} · {} v{}", blueprint.id, doc.version)),
        title,
        blocks,
    }
}

type CacheKey = (&'static str, Lang, Format);

static RENDERED: LazyLock<Mutex<HashMap<CacheKey, Arc<Vec<u8>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Renders (or takes from the cache) one blueprint in one language and format.
pub async fn render_file(
    tr: &Tr,
    id: &str,
    format: Format,
) -> Result<Option<Arc<Vec<u8>>>, String> {
    let Some((blueprint, doc)) = find(id) else {
        return Ok(None);
    };
    let key = (blueprint.id.as_str(), tr.lang, format);
    if let Some(bytes) = RENDERED.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(Some(bytes));
    }
    let document = document(tr, blueprint, doc);
    let bytes = tokio::task::spawn_blocking(move || match format {
        Format::Pdf => vigilo_report_pdf::to_pdf(&document).map_err(|e| e.to_string()),
        Format::Docx => vigilo_report::to_docx(&document).map_err(|e| e.to_string()),
    })
    .await
    .map_err(|e| e.to_string())??;
    let bytes = Arc::new(bytes);
    if let Ok(mut cache) = RENDERED.lock() {
        cache.insert(key, bytes.clone());
    }
    Ok(Some(bytes))
}

// ---------------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------------

pub struct BlueprintLink {
    pub id: String,
    pub title: String,
    pub covers: String,
    pub sources: Vec<String>,
}

#[derive(Template)]
#[template(path = "navigator_blueprints.html")]
struct ListPage {
    l: Layout,
    blueprints: Vec<BlueprintLink>,
}

#[derive(Template)]
#[template(path = "navigator_blueprint.html")]
struct BlueprintPage {
    l: Layout,
    id: String,
    title: String,
    body: String,
}

/// `GET /navigator/blueprints`: the five templates with their downloads in both languages.
pub async fn list_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let lang = ctx.lang;
    let page = ListPage {
        l: Layout::new(&state, &ctx),
        blueprints: BLUEPRINTS
            .iter()
            .map(|(b, d)| BlueprintLink {
                id: b.id.clone(),
                title: b.title.get(lang).into(),
                covers: b.covers.get(lang).into(),
                sources: d
                    .sources
                    .iter()
                    .map(|s| format!("{} ({})", s.name.get(lang), s.year))
                    .collect(),
            })
            .collect(),
    };
    render(&page, &ctx, StatusCode::OK)
}

/// `GET /navigator/blueprints/{id}` (the page), `{id}.pdf` or `{id}.docx` (the download).
pub async fn blueprint_file(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(file): Path<String>,
) -> AppResult<Response> {
    let (id, format) = parse_file(&file).ok_or_else(|| ctx.err(AppError::not_found()))?;
    let (blueprint, doc) = find(id).ok_or_else(|| ctx.err(AppError::not_found()))?;
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let Some(format) = format else {
        let page = BlueprintPage {
            l: Layout::new(&state, &ctx),
            id: blueprint.id.clone(),
            title: blueprint.title.get(ctx.lang).into(),
            body: vigilo_report::to_html(&document(&tr, blueprint, doc)),
        };
        return render(&page, &ctx, StatusCode::OK);
    };
    let bytes = render_file(&tr, id, format)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, blueprint = id, "blueprint rendering failed");
            ctx.err(AppError::new(ErrorCode::Internal))
        })?
        .ok_or_else(|| ctx.err(AppError::not_found()))?;
    let mut response = bytes.as_ref().clone().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    // The id is one of the fixed blueprint ids (lower-case letters, digits and dashes), so
    // the name needs no quoting beyond the quotes.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        file_name(id, ctx.lang, format)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_parse() {
        assert_eq!(parse_file("blueprint-x"), Some(("blueprint-x", None)));
        assert_eq!(
            parse_file("blueprint-x.pdf"),
            Some(("blueprint-x", Some(Format::Pdf)))
        );
        assert_eq!(
            parse_file("blueprint-x.docx"),
            Some(("blueprint-x", Some(Format::Docx)))
        );
        assert_eq!(parse_file("blueprint-x.odt"), None);
        assert_eq!(
            file_name("blueprint-x", Lang::En, Format::Docx),
            "blueprint-x-en.docx"
        );
    }
}
