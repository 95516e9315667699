//! Report models for Vigilo and their light renderers: an HTML fragment, CSV for data
//! tables, an XLSX workbook and a DOCX document for the whole document, and SVG charts. No
//! I/O, no clock, no HTTP: the server translates labels, formats dates and embeds the output;
//! `vigilo-report-pdf` renders the same [`Document`] to PDF.

mod chart;
mod csv_export;
mod docx;
mod html;
mod model;
mod number;
mod xlsx;

pub use chart::{
    bar_chart_svg, calibration_svg, line_chart_svg, roc_curve_svg, CalibrationBin,
    CalibrationLabels, ChartText, Estimate, KpiLabels, KpiSeries, RocLabels, Svg,
};
pub use csv_export::{to_csv, CsvError};
pub use docx::{to_docx, DocxError};
pub use html::{escape_html, to_html};
pub use model::{
    Align, Block, Column, DataTable, Document, Figure, Inline, InlineStyle, Lang, Letterhead,
    NoteKind, Signature,
};
pub use number::{format_number, format_percent};
pub use xlsx::{to_xlsx, XlsxError};
