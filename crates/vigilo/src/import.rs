//! `vigilo import …`: public lists read from a file the operator downloaded.
//!
//! The file is read and parsed completely before the database is opened, so a
//! bad file changes nothing; the store then applies the whole list in one
//! transaction.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use vigilo_core::codes::parse_imdrf;
use vigilo_core::directory::EntrySource;
use vigilo_core::fda_list::{detect_format, parse_fda_ai_list, FdaListEntry};
use vigilo_core::public_reports::{
    parse_aiid, parse_maude_extract, parse_maude_raw, parse_openfda, PublicReport,
};
use vigilo_store::{ImdrfTermRow, ImportReport, ReferenceRecord, Store};

/// Lists of submission numbers longer than this are counted, not printed.
const LIST_AT_MOST: usize = 20;
/// Larger files are refused before reading (the 2025 list is about 0.5 MB).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(clap::Subcommand)]
pub enum ImportCommand {
    /// FDA's list of AI-enabled medical devices, as published: the XML download
    /// or its CSV form. Creates or updates the foreign reference entries,
    /// without duplicates on re-import, and reports what changed.
    FdaAiList {
        /// The XML or CSV file (the format is detected)
        file: PathBuf,
        /// Name of this edition of the list, kept with each entry
        /// [default: the file name without its extension]
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        db: crate::DbArgs,
    },
    /// IMDRF adverse event terminology, annexes A to G (the CSV of the IMDRF release).
    /// Replaces the loaded terminology in one transaction; refused if reports are coded
    /// with a term the new release lacks.
    Imdrf {
        file: PathBuf,
        #[command(flatten)]
        db: crate::DbArgs,
    },
    /// FDA MAUDE adverse event reports: the master-record CSV extract, openFDA
    /// `device/event` JSON, or the raw pipe-delimited `foidev` file with `--text` (and
    /// `--patient`). Reports already imported are skipped.
    Maude {
        file: PathBuf,
        /// The raw `foitext` file that goes with a raw `foidev` file
        #[arg(long)]
        text: Option<PathBuf>,
        /// The raw `patient` file that goes with a raw `foidev` file
        #[arg(long)]
        patient: Option<PathBuf>,
        #[command(flatten)]
        db: crate::DbArgs,
    },
    /// AI Incident Database incidents (its CSV export). Incidents already imported are skipped.
    Aiid {
        file: PathBuf,
        #[command(flatten)]
        db: crate::DbArgs,
    },
}

pub async fn run(cmd: ImportCommand, file_config: &crate::ConfigFile) -> Result<()> {
    match cmd {
        ImportCommand::FdaAiList { file, label, db } => {
            fda_ai_list(&file, label, &db.resolve(file_config)).await
        }
        ImportCommand::Imdrf { file, db } => imdrf(&file, &db.resolve(file_config)).await,
        ImportCommand::Maude {
            file,
            text,
            patient,
            db,
        } => {
            let reports = read_maude(&file, text.as_deref(), patient.as_deref())?;
            public_reports(&file, reports, &db.resolve(file_config)).await
        }
        ImportCommand::Aiid { file, db } => {
            let input = read_text(&file)?;
            let reports = parse_aiid(&input)
                .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", file.display()))?;
            public_reports(&file, reports, &db.resolve(file_config)).await
        }
    }
}

/// A text file, decoded as UTF-8 or else as Windows-1252 (FDA's bulk files often are).
fn read_text(path: &Path) -> Result<String> {
    let bytes = read_file(path)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        // Windows-1252 agrees with Latin-1 except in 0x80-0x9F, which FDA's files use only
        // for curly quotes and dashes; those become their nearest Unicode characters.
        Err(e) => e
            .into_bytes()
            .iter()
            .map(|&b| match b {
                0x91 | 0x92 => '\'',
                0x93 | 0x94 => '"',
                0x96 | 0x97 => '-',
                0x80..=0x9f => ' ',
                _ => char::from(b),
            })
            .collect(),
    })
}

async fn imdrf(path: &Path, url: &str) -> Result<()> {
    let input = read_text(path)?;
    let terms = parse_imdrf(&input)
        .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", path.display()))?;
    let rows: Vec<ImdrfTermRow> = terms
        .iter()
        .map(|t| ImdrfTermRow {
            code: t.code.clone(),
            annex: t.annex.to_string(),
            term: t.term.clone(),
            definition: t.definition.clone(),
            parent: t.parent.clone(),
            level: i64::from(t.level),
        })
        .collect();
    let store = Store::open(url).await?;
    let n = store
        .load_imdrf_terms(&crate::cli_actor(), &rows)
        .await
        .with_context(|| format!("{}: nothing was imported", path.display()))?;
    let mut per_annex: std::collections::BTreeMap<char, usize> = Default::default();
    for t in &terms {
        *per_annex.entry(t.annex).or_default() += 1;
    }
    let annexes: Vec<String> = per_annex.iter().map(|(a, n)| format!("{a} {n}")).collect();
    println!(
        "IMDRF terminology: {n} terms loaded ({})",
        annexes.join(", ")
    );
    Ok(())
}

fn read_maude(
    path: &Path,
    text: Option<&Path>,
    patient: Option<&Path>,
) -> Result<Vec<PublicReport>> {
    let input = read_text(path)?;
    let start = input.trim_start_matches('\u{feff}').trim_start();
    let fail = |e: vigilo_core::public_reports::PublicReportError| {
        anyhow::anyhow!("{}: {e}; nothing was imported", path.display())
    };
    if start.starts_with('{') || start.starts_with('[') {
        return parse_openfda(&input).map_err(fail);
    }
    let header = start.lines().next().unwrap_or("").to_ascii_lowercase();
    if header.contains('|') {
        let Some(text) = text else {
            bail!(
                "{} is a raw MAUDE device file (foidev): pass its narratives with --text foitext.txt",
                path.display()
            );
        };
        let foitext = read_text(text)?;
        let patients = patient.map(read_text).transpose()?;
        let raw = parse_maude_raw(&input, &foitext, patients.as_deref()).map_err(fail)?;
        if raw.unmatched_texts + raw.unmatched_patients > 0 {
            eprintln!(
                "note: {} narrative and {} patient rows name reports that are not in the device file (skipped)",
                raw.unmatched_texts, raw.unmatched_patients
            );
        }
        return Ok(raw.reports);
    }
    if text.is_some() || patient.is_some() {
        bail!(
            "--text and --patient go with a raw MAUDE device file (foidev), not with {}",
            path.display()
        );
    }
    parse_maude_extract(&input).map_err(fail)
}

async fn public_reports(path: &Path, reports: Vec<PublicReport>, url: &str) -> Result<()> {
    let store = Store::open(url).await?;
    let out = store
        .import_public_reports(&crate::cli_actor(), &reports)
        .await
        .with_context(|| format!("{}: nothing was imported", path.display()))?;
    let mut by_seriousness: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &reports {
        *by_seriousness.entry(r.seriousness.code()).or_default() += 1;
    }
    let counts: Vec<String> = by_seriousness
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "{}: {} reports read ({}); {} imported, {} already there, {} linked to the FDA list",
        path.display(),
        reports.len(),
        counts.join(", "),
        out.created,
        out.already,
        out.linked
    );
    Ok(())
}

async fn fda_ai_list(path: &Path, label: Option<String>, url: &str) -> Result<()> {
    let started = Instant::now();
    let label = list_label(path, label)?;
    let progress = Progress::new();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    progress.show(1, &format!("reading {name}"));
    let bytes = read_file(path)?;
    let format = detect_format(&bytes)
        .map(|f| f.to_string())
        .unwrap_or_else(|| "an empty file".into());
    progress.show(2, &format!("parsing {} KB of {format}", bytes.len() / 1024));
    let entries = match parse_fda_ai_list(&bytes) {
        Ok(e) => e,
        Err(e) => {
            progress.clear();
            bail!("{}: {e}; nothing was imported", path.display());
        }
    };
    let records: Vec<ReferenceRecord> = entries.iter().map(record).collect();
    progress.show(
        3,
        &format!("storing {} entries in one transaction", records.len()),
    );
    let stored = async {
        let store = Store::open(url).await?;
        let report = store
            .import_references(
                &crate::cli_actor(),
                EntrySource::FdaAiList,
                &label,
                &records,
            )
            .await;
        store.close().await;
        report
    }
    .await;
    progress.clear();
    let report = stored.with_context(|| {
        format!(
            "importing {} into the database; nothing was imported",
            path.display()
        )
    })?;
    print!(
        "{}",
        render_report(&label, &format, records.len(), &report, started)
    );
    Ok(())
}

fn list_label(path: &Path, label: Option<String>) -> Result<String> {
    let label = match label {
        Some(l) => l.trim().to_string(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().trim().to_string())
            .unwrap_or_default(),
    };
    if label.is_empty() {
        bail!("the list needs a label: pass --label, e.g. --label fda-2025-09");
    }
    if label.chars().count() > 200 {
        bail!("--label is longer than 200 characters");
    }
    Ok(label)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", path.display());
    }
    if meta.len() > MAX_FILE_BYTES {
        bail!(
            "{} is {} MB, larger than any FDA list ({} MB at most); nothing was imported",
            path.display(),
            meta.len() / (1024 * 1024),
            MAX_FILE_BYTES / (1024 * 1024)
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

pub(crate) fn record(e: &FdaListEntry) -> ReferenceRecord {
    ReferenceRecord {
        reference: e.submission_number.to_string(),
        device: e.device.clone(),
        company: e.company.clone(),
        panel: e.panel.clone(),
        product_code: e.product_code.clone(),
        decision_date: e.decision_date_iso(),
    }
}

fn render_report(
    label: &str,
    format: &str,
    entries: usize,
    report: &ImportReport,
    started: Instant,
) -> String {
    let noun = if entries == 1 { "entry" } else { "entries" };
    let mut out = format!(
        "FDA AI-enabled device list '{label}' ({entries} {noun} from {format}): {} added, {} changed, {} unchanged, {} missing ({:.2} s)\n",
        report.added.len(),
        report.changed.len(),
        report.unchanged,
        report.missing.len(),
        started.elapsed().as_secs_f64(),
    );
    let mut list = |what: &str, numbers: &[String]| {
        if numbers.is_empty() {
            return;
        }
        if numbers.len() <= LIST_AT_MOST {
            out.push_str(&format!("  {what}: {}\n", numbers.join(", ")));
        } else {
            out.push_str(&format!(
                "  {what}: {} submission numbers (more than {LIST_AT_MOST}, not listed)\n",
                numbers.len()
            ));
        }
    };
    list("added", &report.added);
    list("changed", &report.changed);
    list(
        "missing (kept, from an earlier list, absent from this one)",
        &report.missing,
    );
    out
}

/// A one-line stage indicator on standard error, drawn only when standard
/// error is a terminal and wiped before the report is printed.
struct Progress {
    on: bool,
}

impl Progress {
    const STAGES: usize = 3;

    fn new() -> Self {
        Progress {
            on: std::io::stderr().is_terminal(),
        }
    }

    fn show(&self, stage: usize, what: &str) {
        if !self.on {
            return;
        }
        let width = 12;
        // Filled up to the stages already done.
        let filled = width * stage.saturating_sub(1) / Self::STAGES;
        let bar = format!("{}{}", "#".repeat(filled), "-".repeat(width - filled));
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K[{bar}] {stage}/{} {what}…", Self::STAGES);
        let _ = err.flush();
    }

    fn clear(&self) {
        if !self.on {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let p = Path::new("/tmp/fda_ai_enabled_devices_2025-09.xml");
        assert_eq!(
            list_label(p, None).unwrap(),
            "fda_ai_enabled_devices_2025-09"
        );
        assert_eq!(
            list_label(p, Some(" fda 2025 ".into())).unwrap(),
            "fda 2025"
        );
        assert!(list_label(p, Some("  ".into())).is_err());
        assert!(list_label(p, Some("x".repeat(201))).is_err());
    }

    #[test]
    fn report_lists_short_lists_only() {
        let report = ImportReport {
            added: (0..21).map(|i| format!("K{i:06}")).collect(),
            changed: vec!["K252054".into()],
            unchanged: 5,
            missing: vec![],
        };
        let text = render_report("l", "CSV", 27, &report, Instant::now());
        assert!(
            text.contains("21 added, 1 changed, 5 unchanged, 0 missing"),
            "{text}"
        );
        assert!(text.contains("added: 21 submission numbers"), "{text}");
        assert!(text.contains("changed: K252054\n"), "{text}");
        assert!(!text.contains("missing (kept"), "{text}");
    }
}
