//! `vigilo eval`, `vigilo signals` and `vigilo drift`: read CSV files, call `vigilo-stats`,
//! print a readable table or JSON (`--format json`, schema in docs/stats-cli.md).
//!
//! Input errors (missing columns, non-numeric values, duplicate or mismatched ids) are
//! reported with the file, line and column, and nothing is computed on partial data.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use vigilo_stats::dispro::{self, Chi2Form, CountingUnit, Methods, ZeroCellRule};
use vigilo_stats::drift;
use vigilo_stats::eval::{self, BinRule, IntervalMethod};

/// Version of the JSON documents printed with `--format json`.
pub const SCHEMA_VERSION: u32 = 1;

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text table for a terminal.
    #[default]
    Table,
    /// One JSON document (see docs/stats-cli.md).
    Json,
}

/// Interval method for proportions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum IntervalArg {
    #[default]
    Wilson,
    ClopperPearson,
}

/// Bin rule for the expected calibration error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum EceRuleArg {
    #[default]
    EqualWidth,
    EqualCount,
}

/// Arguments of `vigilo eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// CSV with the true outcome of each case (columns case_id, label, subgroups)
    #[arg(long)]
    pub truth: PathBuf,
    /// CSV with the model's score of each case (columns case_id, score)
    #[arg(long)]
    pub scores: PathBuf,
    /// Predict positive when score >= threshold
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Column of the truth file to report subgroups and fairness gaps by (repeatable)
    #[arg(long = "subgroup", value_name = "COL")]
    pub subgroups: Vec<String>,
    /// Name of the case id column in both files
    #[arg(long, default_value = "case_id")]
    pub id_column: String,
    /// Name of the 0/1 outcome column in the truth file
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Name of the score column in the scores file
    #[arg(long, default_value = "score")]
    pub score_column: String,
    /// Confidence level of intervals
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Interval for sensitivity, specificity, PPV, NPV and accuracy
    #[arg(long, value_enum, default_value_t)]
    pub interval: IntervalArg,
    /// Number of calibration bins
    #[arg(long, default_value_t = 10)]
    pub ece_bins: usize,
    /// How calibration bins are formed
    #[arg(long, value_enum, default_value_t)]
    pub ece_rule: EceRuleArg,
    /// Stratified bootstrap replicates for an AUROC interval (0 = none)
    #[arg(long, default_value_t = 0)]
    pub bootstrap: usize,
    /// Seed of the bootstrap
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// Arguments of `vigilo signals`.
#[derive(Args, Debug, Clone)]
pub struct SignalsArgs {
    /// CSV with one row per (report, product, event)
    #[arg(long, required_unless_present = "stored")]
    pub reports: Option<PathBuf>,
    /// Run the early-warning detection over the reports stored in the database instead
    /// (the daily job's run: disproportionality, reports per use, clusters) and list the
    /// signals it recorded
    #[arg(long, conflicts_with = "reports")]
    pub stored: bool,
    /// Database for --stored [default: as for every command]
    #[arg(long = "database", env = "VIGILO_DATABASE_URL")]
    pub database: Option<String>,
    /// Comma-separated methods among prr, ror, ic, ebgm
    #[arg(long, default_value = "prr,ror,ic,ebgm", value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Column(s) defining strata for the expected counts of IC and EBGM (repeatable)
    #[arg(long = "strata", value_name = "COL")]
    pub strata: Vec<String>,
    /// Name of the report id column
    #[arg(long, default_value = "report_id")]
    pub report_column: String,
    /// Name of the product column
    #[arg(long, default_value = "product")]
    pub product_column: String,
    /// Name of the event column
    #[arg(long, default_value = "event")]
    pub event_column: String,
    /// Counting unit: unique reports per cell (openEBGM) or product-event pairs (vigipy)
    #[arg(long, value_enum, default_value_t)]
    pub unit: UnitArg,
    /// Zero-cell rule for PRR and ROR
    #[arg(long, value_enum, default_value_t)]
    pub zero_cell: ZeroCellArg,
    /// Use the chi-square without Yates correction for the Evans rule
    #[arg(long)]
    pub uncorrected_chi2: bool,
    /// Only report cells with at least this many reports
    #[arg(long, default_value_t = 1)]
    pub min_count: u64,
    /// Rows shown in table format (JSON always has every cell)
    #[arg(long, default_value_t = 40)]
    pub top: usize,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

/// Counting unit argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum UnitArg {
    #[default]
    UniqueReports,
    Pairs,
}

/// Zero-cell rule argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ZeroCellArg {
    #[default]
    HaldaneAnscombe,
    Infinite,
}

/// Arguments of `vigilo drift`.
#[derive(Args, Debug, Clone)]
pub struct DriftArgs {
    /// CSV of the reference period
    #[arg(long)]
    pub reference: PathBuf,
    /// CSV of the current period (same column names)
    #[arg(long)]
    pub current: PathBuf,
    /// Columns to compare (default: every column present in both files)
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Columns to treat as categorical even if their values are numbers
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}

// ------------------------------------------------------------------ CSV helpers

struct CsvFile {
    path: PathBuf,
    headers: Vec<String>,
    reader: csv::Reader<std::fs::File>,
}

impl CsvFile {
    fn open(path: &Path) -> Result<CsvFile> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let headers = reader
            .headers()
            .with_context(|| format!("cannot read the header row of {}", path.display()))?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        Ok(CsvFile {
            path: path.to_path_buf(),
            headers,
            reader,
        })
    }

    fn column(&self, name: &str) -> Result<usize> {
        self.headers.iter().position(|h| h == name).ok_or_else(|| {
            anyhow!(
                "{}: no column named {name:?} (columns: {})",
                self.path.display(),
                self.headers.join(", ")
            )
        })
    }
}

/// Writes JSON to stdout through a buffer; a closed pipe (`| head`) is not an error.
fn print_json<T: Serialize>(doc: &T) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Compact: a signals document can hold a million cells.
    let res = serde_json::to_writer(&mut out, doc)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out))
        .and_then(|()| out.flush());
    match res {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Writes text to stdout; a closed pipe is not an error.
fn print_text(s: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        Some(x) if x > 0.0 => "inf".into(),
        Some(_) => "-inf".into(),
        None => "-".into(),
    }
}

// ------------------------------------------------------------------ eval

/// FxHash over bytes: case ids are hashed a million times, and SipHash would dominate the
/// run; the ids come from the user's own files, so hash flooding is not a concern here.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }
}

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// Cases joined from the truth and scores files.
pub struct EvalData {
    pub labels: Vec<bool>,
    pub scores: Vec<f64>,
    /// Subgroup column name and the value of each case.
    pub subgroups: Vec<(String, Vec<String>)>,
}

fn line_of(rec: &csv::ByteRecord) -> u64 {
    rec.position().map_or(0, |p| p.line())
}

fn byte_field<'a>(rec: &'a csv::ByteRecord, i: usize, file: &Path, col: &str) -> Result<&'a str> {
    let raw = rec
        .get(i)
        .ok_or_else(|| anyhow!("{}:{}: missing field {col:?}", file.display(), line_of(rec)))?;
    std::str::from_utf8(raw).map(str::trim).map_err(|_| {
        anyhow!(
            "{}:{}: column {col:?} is not UTF-8",
            file.display(),
            line_of(rec)
        )
    })
}

struct TruthRows {
    index: FastMap<Box<str>, u32>,
    ids: Vec<Box<str>>,
    labels: Vec<bool>,
    /// Per subgroup column: interned value names and each case's code.
    subs: Vec<(Vec<String>, Vec<u32>)>,
}

fn read_truth(args: &EvalArgs) -> Result<TruthRows> {
    let mut truth = CsvFile::open(&args.truth)?;
    let id_t = truth.column(&args.id_column)?;
    let lab = truth.column(&args.label_column)?;
    let sub_idx: Vec<usize> = args
        .subgroups
        .iter()
        .map(|c| truth.column(c))
        .collect::<Result<_>>()?;
    let path = truth.path.clone();
    let mut t = TruthRows {
        index: FastMap::default(),
        ids: Vec::new(),
        labels: Vec::new(),
        subs: vec![(Vec::new(), Vec::new()); sub_idx.len()],
    };
    let mut codes: Vec<HashMap<String, u32>> = vec![HashMap::new(); sub_idx.len()];
    let mut rec = csv::ByteRecord::new();
    while truth
        .reader
        .read_byte_record(&mut rec)
        .with_context(|| format!("{}: malformed CSV", path.display()))?
    {
        let id = byte_field(&rec, id_t, &path, &args.id_column)?;
        let y = match byte_field(&rec, lab, &path, &args.label_column)? {
            "1" => true,
            "0" => false,
            other => bail!(
                "{}:{}: column {:?} must be 0 or 1, found {other:?}",
                path.display(),
                line_of(&rec),
                args.label_column
            ),
        };
        let n = u32::try_from(t.ids.len()).map_err(|_| anyhow!("more than 2^32 cases"))?;
        let key: Box<str> = id.into();
        if t.index.insert(key.clone(), n).is_some() {
            bail!("{}: case id {id:?} appears twice", path.display());
        }
        t.ids.push(key);
        t.labels.push(y);
        for (k, &i) in sub_idx.iter().enumerate() {
            let v = byte_field(&rec, i, &path, &args.subgroups[k])?;
            let (names, values) = &mut t.subs[k];
            let code = match codes[k].get(v) {
                Some(&c) => c,
                None => {
                    let c = names.len() as u32;
                    codes[k].insert(v.to_string(), c);
                    names.push(v.to_string());
                    c
                }
            };
            values.push(code);
        }
    }
    if t.ids.is_empty() {
        bail!("{}: no cases", path.display());
    }
    Ok(t)
}

fn read_scores(args: &EvalArgs) -> Result<Vec<(Box<str>, f64)>> {
    let mut f = CsvFile::open(&args.scores)?;
    let id_s = f.column(&args.id_column)?;
    let sc = f.column(&args.score_column)?;
    let path = f.path.clone();
    let mut out = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while f
        .reader
        .read_byte_record(&mut rec)
        .with_context(|| format!("{}: malformed CSV", path.display()))?
    {
        let id = byte_field(&rec, id_s, &path, &args.id_column)?;
        let raw = byte_field(&rec, sc, &path, &args.score_column)?;
        let v: f64 = raw.parse().map_err(|_| {
            anyhow!(
                "{}:{}: column {:?}: {raw:?} is not a number",
                path.display(),
                line_of(&rec),
                args.score_column
            )
        })?;
        if !v.is_finite() {
            bail!(
                "{}:{}: column {:?}: {raw:?} is not finite",
                path.display(),
                line_of(&rec),
                args.score_column
            );
        }
        out.push((id.into(), v));
    }
    Ok(out)
}

/// Reads the truth and scores files (concurrently) and joins them by case id.
pub fn read_eval_data(args: &EvalArgs) -> Result<EvalData> {
    let (truth, scores) = std::thread::scope(|s| {
        let scores = s.spawn(|| read_scores(args));
        let truth = read_truth(args);
        let scores = scores
            .join()
            .unwrap_or_else(|_| Err(anyhow!("the scores reader failed")));
        (truth, scores)
    });
    let (truth, scores_rows) = (truth?, scores?);
    let spath = &args.scores;
    let mut scores: Vec<f64> = vec![f64::NAN; truth.ids.len()];
    let mut seen = vec![false; truth.ids.len()];
    let mut unknown = Vec::new();
    let mut n_unknown = 0usize;
    for (id, v) in scores_rows {
        match truth.index.get(&id) {
            Some(&i) => {
                let i = i as usize;
                if seen[i] {
                    bail!("{}: case id {id:?} appears twice", spath.display());
                }
                seen[i] = true;
                scores[i] = v;
            }
            None => {
                n_unknown += 1;
                if unknown.len() < 5 {
                    unknown.push(id.to_string());
                }
            }
        }
    }
    let missing: Vec<&str> = truth
        .ids
        .iter()
        .zip(&seen)
        .filter(|(_, s)| !**s)
        .map(|(id, _)| &**id)
        .collect();
    if n_unknown > 0 || !missing.is_empty() {
        let mut msg = String::from("case ids do not match between the truth and scores files:");
        if !missing.is_empty() {
            let _ = write!(
                msg,
                " {} case(s) without a score (e.g. {});",
                missing.len(),
                missing
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if n_unknown > 0 {
            let _ = write!(
                msg,
                " {n_unknown} score(s) for unknown cases (e.g. {})",
                unknown.join(", ")
            );
        }
        bail!(msg);
    }
    let subgroups = args
        .subgroups
        .iter()
        .cloned()
        .zip(truth.subs)
        .map(|(col, (names, codes))| {
            (
                col,
                codes.iter().map(|&c| names[c as usize].clone()).collect(),
            )
        })
        .collect();
    Ok(EvalData {
        labels: truth.labels,
        scores,
        subgroups,
    })
}

#[derive(Serialize)]
struct EvalDoc<'a> {
    schema_version: u32,
    command: &'static str,
    conventions: Vec<String>,
    report: &'a eval::EvaluationReport,
    subgroups: Vec<SubgroupDoc>,
    bootstrap_auroc: Option<eval::BootstrapInterval>,
}

#[derive(Serialize)]
struct SubgroupDoc {
    column: String,
    report: eval::SubgroupReport,
}

/// Runs `vigilo eval`.
pub fn run_eval(args: &EvalArgs) -> Result<()> {
    let data = read_eval_data(args)?;
    let method = match args.interval {
        IntervalArg::Wilson => IntervalMethod::Wilson,
        IntervalArg::ClopperPearson => IntervalMethod::ClopperPearson,
    };
    let rule = match args.ece_rule {
        EceRuleArg::EqualWidth => BinRule::EqualWidth(args.ece_bins),
        EceRuleArg::EqualCount => BinRule::EqualCount(args.ece_bins),
    };
    let report = eval::evaluate(
        &data.labels,
        &data.scores,
        args.threshold,
        args.level,
        method,
        rule,
    )?;
    let mut subgroups = Vec::new();
    for (col, values) in &data.subgroups {
        let r = eval::subgroup_metrics(
            &data.labels,
            &data.scores,
            values,
            args.threshold,
            args.level,
            method,
        )?;
        subgroups.push(SubgroupDoc {
            column: col.clone(),
            report: r,
        });
    }
    let bootstrap_auroc = if args.bootstrap > 0 {
        Some(eval::bootstrap_ci(
            &data.labels,
            &data.scores,
            eval::auroc,
            args.bootstrap,
            args.level,
            args.seed,
        )?)
    } else {
        None
    };
    let conventions = vec![
        format!("predicted positive when score >= {}", args.threshold),
        format!("proportion intervals: {method:?} at level {}", args.level),
        "AUROC ties count one half; DeLong variance (Sun and Xu 2014); interval clipped to [0, 1]".into(),
        format!("ECE: {rule}"),
        "calibration: slope from glm(y ~ logit(p)), calibration-in-the-large from glm(y ~ offset(logit(p)))".into(),
        "fairness: fairlearn definitions (demographic parity difference, equalised odds difference)".into(),
    ];
    let doc = EvalDoc {
        schema_version: SCHEMA_VERSION,
        command: "eval",
        conventions,
        report: &report,
        subgroups,
        bootstrap_auroc,
    };
    match args.format {
        OutputFormat::Json => print_json(&doc),
        OutputFormat::Table => print_text(&eval_table(&doc)),
    }
}

fn prop_row(out: &mut String, name: &str, p: &Option<eval::Proportion>) {
    match p {
        Some(p) => {
            let _ = writeln!(
                out,
                "  {name:<13} {:>8.4}  [{:.4}, {:.4}]  {}/{}",
                p.estimate, p.lower, p.upper, p.x, p.n
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  {name:<13} {:>8}  (undefined: zero denominator)",
                "-"
            );
        }
    }
}

fn eval_table(doc: &EvalDoc) -> String {
    let r = doc.report;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Cases: {} ({} positive), threshold {}",
        r.n, r.n_positive, r.threshold
    );
    let c = r.metrics.confusion;
    let _ = writeln!(
        out,
        "Confusion: TP {}  FP {}  TN {}  FN {}",
        c.tp, c.fp, c.tn, c.fn_
    );
    let _ = writeln!(out, "Metric          Value   Interval");
    prop_row(&mut out, "sensitivity", &r.metrics.sensitivity);
    prop_row(&mut out, "specificity", &r.metrics.specificity);
    prop_row(&mut out, "PPV", &r.metrics.ppv);
    prop_row(&mut out, "NPV", &r.metrics.npv);
    prop_row(&mut out, "accuracy", &r.metrics.accuracy);
    if let Some(a) = &r.auroc {
        let _ = writeln!(
            out,
            "  {:<13} {:>8.4}  [{:.4}, {:.4}]  DeLong SE {:.4}",
            "AUROC", a.auc, a.lower, a.upper, a.se
        );
    }
    if let Some(b) = &doc.bootstrap_auroc {
        let _ = writeln!(
            out,
            "  {:<13} {:>8}  [{:.4}, {:.4}]  bootstrap, {} replicates, seed {}",
            "", "", b.lower, b.upper, b.replicates, b.seed
        );
    }
    if let Some(b) = r.brier {
        let _ = writeln!(out, "  {:<13} {:>8.4}", "Brier", b);
    }
    if let Some(e) = &r.ece {
        let _ = writeln!(out, "  {:<13} {:>8.4}  ({})", "ECE", e.ece, e.rule);
    }
    if let Some(f) = &r.calibration {
        let _ = writeln!(
            out,
            "  {:<13} {:>8.4}  intercept {:.4}, in-the-large {:.4}",
            "cal. slope", f.slope, f.intercept, f.calibration_in_the_large
        );
    }
    for s in &doc.subgroups {
        let _ = writeln!(out, "\nSubgroups by {}:", s.column);
        let _ = writeln!(
            out,
            "  {:<16} {:>8} {:>6} {:>8} {:>8} {:>8} {:>8}",
            "group", "n", "pos", "sens", "spec", "sel.rate", "AUROC"
        );
        for g in &s.report.groups {
            let est = |p: &Option<eval::Proportion>| p.map(|p| p.estimate);
            let _ = writeln!(
                out,
                "  {:<16} {:>8} {:>6} {:>8} {:>8} {:>8} {:>8}",
                g.group,
                g.n,
                g.n_positive,
                fmt_opt(est(&g.metrics.sensitivity), 4),
                fmt_opt(est(&g.metrics.specificity), 4),
                fmt_opt(est(&g.metrics.selection_rate), 4),
                fmt_opt(g.auroc, 4)
            );
        }
        let rep = &s.report;
        let _ = writeln!(
            out,
            "  demographic parity difference {}, equalised odds difference {}, equal opportunity difference {}",
            fmt_opt(rep.demographic_parity_difference, 4),
            fmt_opt(rep.equalized_odds_difference, 4),
            fmt_opt(rep.equal_opportunity_difference, 4)
        );
        if let Some(g) = &rep.largest_gap {
            let _ = writeln!(
                out,
                "  largest gap: {} {:.4} ({} {:.4} vs {} {:.4})",
                g.metric, g.difference, g.max_group, g.max_value, g.min_group, g.min_value
            );
        }
    }
    for n in &r.notes {
        let _ = writeln!(out, "Note: {n}");
    }
    let _ = writeln!(out, "\nConventions:");
    for c in &doc.conventions {
        let _ = writeln!(out, "  - {c}");
    }
    out
}

// ------------------------------------------------------------------ signals

/// Reads a reports file into a table builder, on every core for large unquoted files.
pub fn read_reports(args: &SignalsArgs) -> Result<dispro::ReportTableBuilder> {
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get());
    read_reports_in_parts(args, parts)
}

/// Column positions of a reports file.
struct ReportColumns {
    count: usize,
    report: usize,
    product: usize,
    event: usize,
    strata: Vec<usize>,
}

/// Reads the file into memory and parses it in up to `parts` pieces cut at line ends, each
/// into its own builder on its own thread, then merges them in file order (the merged
/// builder equals one fed row by row). A file containing a quote is read in one piece,
/// since a line end may then sit inside a field.
fn read_reports_in_parts(args: &SignalsArgs, parts: usize) -> Result<dispro::ReportTableBuilder> {
    let path = args
        .reports
        .as_ref()
        .ok_or_else(|| anyhow!("give --reports FILE, or --stored to use the database"))?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut header_reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let headers: Vec<String> = header_reader
        .headers()
        .with_context(|| format!("cannot read the header row of {}", path.display()))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let body_start = usize::try_from(header_reader.position().byte())?;
    let column = |name: &str| -> Result<usize> {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            anyhow!(
                "{}: no column named {name:?} (columns: {})",
                path.display(),
                headers.join(", ")
            )
        })
    };
    let cols = ReportColumns {
        count: headers.len(),
        report: column(&args.report_column)?,
        product: column(&args.product_column)?,
        event: column(&args.event_column)?,
        strata: args
            .strata
            .iter()
            .map(|c| column(c))
            .collect::<Result<_>>()?,
    };
    let body = bytes.get(body_start..).unwrap_or_default();
    let first_line = 1 + bytes[..body_start].iter().filter(|&&b| b == b'\n').count() as u64;
    // Pieces of at least 1 MB, cut after a line end.
    let parts = if body.contains(&b'"') {
        1
    } else {
        parts.clamp(1, 64).min(body.len() / (1 << 20) + 1)
    };
    let mut pieces: Vec<(&[u8], u64)> = Vec::with_capacity(parts);
    let (mut rest, mut line) = (body, first_line);
    for k in (1..=parts).rev() {
        let cut = if k == 1 {
            rest.len()
        } else {
            let target = rest.len() / k;
            rest[target..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |i| target + i + 1)
        };
        let (piece, tail) = rest.split_at(cut);
        pieces.push((piece, line));
        line += piece.iter().filter(|&&b| b == b'\n').count() as u64;
        rest = tail;
    }
    let builders: Vec<Result<dispro::ReportTableBuilder>> = if pieces.len() == 1 {
        vec![parse_reports(pieces[0].0, pieces[0].1, &cols, args)]
    } else {
        let cols = &cols;
        std::thread::scope(|sc| {
            let handles: Vec<_> = pieces
                .iter()
                .map(|&(piece, line)| sc.spawn(move || parse_reports(piece, line, cols, args)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow!("a reader thread failed")))
                })
                .collect()
        })
    };
    // The first error in file order wins, as with a single reader.
    let mut merged: Option<dispro::ReportTableBuilder> = None;
    for b in builders {
        let b = b?;
        match merged.as_mut() {
            None => merged = Some(b),
            Some(m) => m
                .merge(b)
                .map_err(|err| anyhow!("{}: {err}", path.display()))?,
        }
    }
    merged.ok_or_else(|| anyhow!("{}: no rows", path.display()))
}

/// Parses one piece of a reports file (no header) whose first row is on line `first_line`.
fn parse_reports(
    piece: &[u8],
    first_line: u64,
    cols: &ReportColumns,
    args: &SignalsArgs,
) -> Result<dispro::ReportTableBuilder> {
    let path = args
        .reports
        .as_ref()
        .ok_or_else(|| anyhow!("give --reports FILE, or --stored to use the database"))?;
    // Row lengths are checked against the header here, not by the reader, which would only
    // compare with the first row of its own piece.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(piece);
    // Rows estimated from the line length at the start of the piece.
    let sample = &piece[..piece.len().min(1 << 16)];
    let sample_lines = sample.iter().filter(|&&b| b == b'\n').count().max(1);
    let rows = piece.len() / sample.len().div_ceil(sample_lines).max(1);
    let mut b = dispro::ReportTableBuilder::with_capacity(rows);
    let mut key = String::new();
    let mut rec = csv::ByteRecord::new();
    loop {
        let more = reader.read_byte_record(&mut rec).map_err(|err| {
            let line = err.position().map_or(0, |p| first_line + p.line() - 1);
            anyhow!("{}:{line}: malformed CSV: {err}", path.display())
        })?;
        if !more {
            break;
        }
        let line = first_line + line_of(&rec) - 1;
        if rec.len() != cols.count {
            bail!(
                "{}:{line}: {} fields, the header has {}",
                path.display(),
                rec.len(),
                cols.count
            );
        }
        let field = |i: usize, col: &str| -> Result<&str> {
            let raw = rec
                .get(i)
                .ok_or_else(|| anyhow!("{}:{line}: missing field {col:?}", path.display()))?;
            std::str::from_utf8(raw)
                .map(str::trim)
                .map_err(|_| anyhow!("{}:{line}: column {col:?} is not UTF-8", path.display()))
        };
        let rid = field(cols.report, &args.report_column)?;
        let prod = field(cols.product, &args.product_column)?;
        let ev = field(cols.event, &args.event_column)?;
        if rid.is_empty() || prod.is_empty() || ev.is_empty() {
            bail!(
                "{}:{line}: empty report id, product or event",
                path.display()
            );
        }
        let res = if cols.strata.is_empty() {
            b.add(rid, prod, ev)
        } else {
            key.clear();
            for (k, &i) in cols.strata.iter().enumerate() {
                if k > 0 {
                    key.push('\u{1f}');
                }
                key.push_str(field(i, &args.strata[k])?);
            }
            b.add_stratified(rid, prod, ev, &key)
        };
        res.map_err(|err| anyhow!("{}:{line}: {err}", path.display()))?;
    }
    Ok(b)
}

fn parse_methods(list: &[String]) -> Result<Methods> {
    let mut m = Methods {
        prr: false,
        ror: false,
        ic: false,
        ebgm: false,
    };
    for s in list {
        match s.trim().to_ascii_lowercase().as_str() {
            "prr" => m.prr = true,
            "ror" => m.ror = true,
            "ic" | "bcpnn" => m.ic = true,
            "ebgm" | "mgps" | "gps" => m.ebgm = true,
            "" => {}
            other => bail!("unknown method {other:?} (use prr, ror, ic, ebgm)"),
        }
    }
    if !(m.prr || m.ror || m.ic || m.ebgm) {
        bail!("no method selected");
    }
    Ok(m)
}

#[derive(Serialize)]
struct SignalsDoc<'a> {
    schema_version: u32,
    command: &'static str,
    conventions: Vec<String>,
    methods: Methods,
    strata: &'a [String],
    report: dispro::SignalReport,
}

/// Runs `vigilo signals`.
pub fn run_signals(args: &SignalsArgs) -> Result<()> {
    let methods = parse_methods(&args.methods)?;
    let builder = read_reports(args)?;
    let unit = match args.unit {
        UnitArg::UniqueReports => CountingUnit::UniqueReports,
        UnitArg::Pairs => CountingUnit::Pairs,
    };
    let table = builder.finish(unit)?;
    let opts = dispro::SignalOptions {
        methods,
        zero_cell: match args.zero_cell {
            ZeroCellArg::HaldaneAnscombe => ZeroCellRule::HaldaneAnscombe,
            ZeroCellArg::Infinite => ZeroCellRule::Infinite,
        },
        chi2: if args.uncorrected_chi2 {
            Chi2Form::Uncorrected
        } else {
            Chi2Form::Yates
        },
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        min_count: args.min_count,
        ..Default::default()
    };
    let mut report = dispro::signals(&table, &opts)?;
    sort_signal_rows(&mut report.rows);
    let conventions = vec![
        match unit {
            CountingUnit::UniqueReports => "counting unit: unique reports per cell (openEBGM); E = n_product * n_event / n_reports".into(),
            CountingUnit::Pairs => "counting unit: product-event pairs (vigipy, PhViD); E = n_product * n_event / n_pairs".to_string(),
        },
        format!("zero cells: {:?} (0.5 added to all four cells only when a cell is zero)", opts.zero_cell),
        format!("PRR chi-square: {:?}; Evans signal PRR >= 2, chi2 >= 4, a >= 3", opts.chi2),
        "ROR: Woolf interval; signal when lower bound > 1 and a >= 3".into(),
        "IC = log2((a + 0.5)/(E + 0.5)), IC025 exact gamma quantile; signal IC025 > 0".into(),
        "EBGM: two-gamma mixture prior by maximum likelihood (zero-truncated per component); signal EB05 >= 2".into(),
        if args.strata.is_empty() {
            "expected counts unstratified".to_string()
        } else {
            format!("expected counts for IC and EBGM stratified by {}; PRR and ROR crude", args.strata.join(", "))
        },
    ];
    let doc = SignalsDoc {
        schema_version: SCHEMA_VERSION,
        command: "signals",
        conventions,
        methods,
        strata: &args.strata,
        report,
    };
    match args.format {
        OutputFormat::Json => print_json(&doc),
        OutputFormat::Table => print_text(&signals_table(&doc, args.top)),
    }
}

/// Strongest first: by EB05, else IC025, else the PRR lower bound, else the ROR lower bound.
fn sort_signal_rows(rows: &mut [dispro::SignalRow]) {
    let key = |r: &dispro::SignalRow| -> f64 {
        r.ebgm
            .map(|e| e.eb05)
            .or(r.ic.map(|i| i.lower))
            .or(r.prr.map(|p| p.lower))
            .or(r.ror.map(|p| p.lower))
            .unwrap_or(f64::NEG_INFINITY)
    };
    rows.sort_by(|a, b| {
        key(b)
            .total_cmp(&key(a))
            .then_with(|| a.product.cmp(&b.product))
            .then_with(|| a.event.cmp(&b.event))
    });
}

fn signals_table(doc: &SignalsDoc, top: usize) -> String {
    let r = &doc.report;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} cells, {} {} in total{}",
        r.rows.len(),
        r.n_total,
        match r.unit {
            CountingUnit::UniqueReports => "reports",
            CountingUnit::Pairs => "pairs",
        },
        if r.stratified {
            ", stratified expected counts"
        } else {
            ""
        }
    );
    if let Some(f) = &r.mgps_fit {
        let p = f.prior;
        let _ =
            writeln!(
            out,
            "MGPS prior: a1 {:.4} b1 {:.4} a2 {:.4} b2 {:.4} P {:.4} (log-likelihood {:.3}, {}{})",
            p.a1,
            p.b1,
            p.a2,
            p.b2,
            p.p,
            f.log_likelihood,
            if f.converged { "converged" } else { "NOT converged" },
            if f.squashed { ", squashed data" } else { "" }
        );
        if f.at_bound {
            let _ = writeln!(
                out,
                "  note: the prior reached the search bound (little over-dispersion in the data); EBGM shrinks strongly"
            );
        }
    }
    let _ = writeln!(
        out,
        "{:<20} {:<20} {:>6} {:>9} {:>22} {:>8} {:>22} {:>7} {:>7} {:>7} {:<10}",
        "product",
        "event",
        "a",
        "E",
        "PRR [95% CI]",
        "chi2",
        "ROR [95% CI]",
        "IC025",
        "EBGM",
        "EB05",
        "signals"
    );
    for row in r.rows.iter().take(top) {
        let ci = |v: Option<(f64, f64, f64)>| match v {
            Some((x, l, u)) => format!(
                "{} [{}, {}]",
                fmt_opt(Some(x), 2),
                fmt_opt(Some(l), 2),
                fmt_opt(Some(u), 2)
            ),
            None => "-".into(),
        };
        let mut flags = Vec::new();
        if row.prr.is_some_and(|p| p.evans_signal) {
            flags.push("PRR");
        }
        if row.ror.is_some_and(|p| p.signal) {
            flags.push("ROR");
        }
        if row.ic.is_some_and(|p| p.signal) {
            flags.push("IC");
        }
        if row.ebgm.is_some_and(|p| p.signal) {
            flags.push("EB05");
        }
        let short = |s: &str| -> String { s.chars().take(20).collect() };
        let _ = writeln!(
            out,
            "{:<20} {:<20} {:>6} {:>9.3} {:>22} {:>8} {:>22} {:>7} {:>7} {:>7} {:<10}",
            short(&row.product),
            short(&row.event),
            row.table.a,
            row.expected,
            ci(row.prr.map(|p| (p.prr, p.lower, p.upper))),
            fmt_opt(row.prr.and_then(|p| p.chi2), 2),
            ci(row.ror.map(|p| (p.ror, p.lower, p.upper))),
            fmt_opt(row.ic.map(|i| i.lower), 3),
            fmt_opt(row.ebgm.map(|e| e.ebgm), 2),
            fmt_opt(row.ebgm.map(|e| e.eb05), 2),
            flags.join(",")
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "Note: {n}");
    }
    if r.rows.len() > top {
        let _ = writeln!(
            out,
            "... {} more cells (use --top or --format json)",
            r.rows.len() - top
        );
    }
    let _ = writeln!(out, "\nConventions:");
    for c in &doc.conventions {
        let _ = writeln!(out, "  - {c}");
    }
    out
}

// ------------------------------------------------------------------ drift

/// Per-column drift result.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ColumnDrift {
    Numeric {
        column: String,
        missing_reference: usize,
        missing_current: usize,
        #[serde(flatten)]
        drift: drift::NumericDrift,
    },
    Categorical {
        column: String,
        #[serde(flatten)]
        drift: drift::CategoricalDrift,
    },
}

#[derive(Serialize)]
struct DriftDoc {
    schema_version: u32,
    command: &'static str,
    conventions: Vec<String>,
    columns: Vec<ColumnDrift>,
}

/// One column of one file, as drift needs it.
enum ColumnValues {
    /// Every non-empty value is a finite number; the empty ones are counted.
    Numbers { values: Vec<f64>, missing: usize },
    /// Kept as text: a forced categorical column, or one read again in a second pass.
    Text(Vec<Box<str>>),
    /// A value that is not a number was seen; the text comes from a second pass.
    NotNumeric,
}

fn cell(rec: &csv::ByteRecord, i: usize) -> &str {
    // Non-UTF-8 bytes cannot be a number; the categorical path shows them lossily.
    rec.get(i)
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("\u{fffd}")
        .trim()
}

/// Reads only the wanted columns `(index, as text)`: numbers straight into vectors (8 bytes
/// a value, instead of keeping every CSV record), text only where asked.
fn read_columns(path: &Path, wanted: &[(usize, bool)]) -> Result<Vec<ColumnValues>> {
    let mut f = CsvFile::open(path)?;
    let mut out: Vec<ColumnValues> = wanted
        .iter()
        .map(|&(_, text)| {
            if text {
                ColumnValues::Text(Vec::new())
            } else {
                ColumnValues::Numbers {
                    values: Vec::new(),
                    missing: 0,
                }
            }
        })
        .collect();
    let mut rec = csv::ByteRecord::new();
    while f
        .reader
        .read_byte_record(&mut rec)
        .with_context(|| format!("{}: malformed CSV", path.display()))?
    {
        for (slot, &(i, _)) in out.iter_mut().zip(wanted) {
            let value = cell(&rec, i);
            match slot {
                ColumnValues::Text(v) => v.push(value.into()),
                ColumnValues::Numbers { values, missing } => {
                    if value.is_empty() {
                        *missing += 1;
                    } else {
                        match value.parse::<f64>() {
                            Ok(x) if x.is_finite() => values.push(x),
                            _ => *slot = ColumnValues::NotNumeric,
                        }
                    }
                }
                ColumnValues::NotNumeric => {}
            }
        }
    }
    Ok(out)
}

fn column_drift(
    col: &str,
    reference: &ColumnValues,
    current: &ColumnValues,
) -> Result<ColumnDrift> {
    match (reference, current) {
        (
            ColumnValues::Numbers {
                values: r,
                missing: mr,
            },
            ColumnValues::Numbers {
                values: c,
                missing: mc,
            },
        ) => drift::numeric_drift(r, c, None)
            .map(|d| ColumnDrift::Numeric {
                column: col.to_string(),
                missing_reference: *mr,
                missing_current: *mc,
                drift: d,
            })
            .map_err(|e| anyhow!("column {col:?}: {e}")),
        (ColumnValues::Text(r), ColumnValues::Text(c)) => {
            let r: Vec<&str> = r.iter().map(|x| &**x).collect();
            let c: Vec<&str> = c.iter().map(|x| &**x).collect();
            drift::categorical_drift(&r, &c)
                .map(|d| ColumnDrift::Categorical {
                    column: col.to_string(),
                    drift: d,
                })
                .map_err(|e| anyhow!("column {col:?}: {e}"))
        }
        _ => Err(anyhow!(
            "column {col:?}: internal error, the two files were read differently"
        )),
    }
}

/// Numeric drift needs numbers in both files (and at least one value); anything else is
/// compared as categories.
fn is_numeric_pair(r: &ColumnValues, c: &ColumnValues) -> bool {
    match (r, c) {
        (ColumnValues::Numbers { values: a, .. }, ColumnValues::Numbers { values: b, .. }) => {
            !(a.is_empty() && b.is_empty())
        }
        _ => false,
    }
}

/// Data rows read, from the first column (every column has one entry per row).
fn rows_of(cols: &[ColumnValues]) -> usize {
    match cols.first() {
        Some(ColumnValues::Numbers { values, missing }) => values.len() + missing,
        Some(ColumnValues::Text(v)) => v.len(),
        // A column that stopped being numeric had at least one value.
        Some(ColumnValues::NotNumeric) => 1,
        None => 0,
    }
}

/// Reads both files' columns concurrently, one thread per file.
fn read_both(
    reference: &Path,
    current: &Path,
    wanted_r: &[(usize, bool)],
    wanted_c: &[(usize, bool)],
) -> Result<(Vec<ColumnValues>, Vec<ColumnValues>)> {
    std::thread::scope(|s| {
        let cur = s.spawn(|| read_columns(current, wanted_c));
        let r = read_columns(reference, wanted_r);
        let c = cur
            .join()
            .unwrap_or_else(|_| Err(anyhow!("the current-file reader failed")));
        Ok((r?, c?))
    })
}

/// Reads the two files and computes every column's drift.
fn drift_columns(args: &DriftArgs) -> Result<Vec<ColumnDrift>> {
    let rh = CsvFile::open(&args.reference)?.headers;
    let ch = CsvFile::open(&args.current)?.headers;
    let columns: Vec<String> = if args.columns.is_empty() {
        rh.iter().filter(|h| ch.contains(h)).cloned().collect()
    } else {
        args.columns.clone()
    };
    if columns.is_empty() {
        bail!("the two files have no column in common");
    }
    let forced: HashSet<&str> = args.categorical.iter().map(String::as_str).collect();
    let mut wanted_r = Vec::new();
    let mut wanted_c = Vec::new();
    for col in &columns {
        let ri = rh.iter().position(|h| h == col).ok_or_else(|| {
            anyhow!(
                "{}: no column named {col:?} (columns: {})",
                args.reference.display(),
                rh.join(", ")
            )
        })?;
        let ci = ch.iter().position(|h| h == col).ok_or_else(|| {
            anyhow!(
                "{}: no column named {col:?} (columns: {})",
                args.current.display(),
                ch.join(", ")
            )
        })?;
        let text = forced.contains(col.as_str());
        wanted_r.push((ri, text));
        wanted_c.push((ci, text));
    }
    let (mut rcols, mut ccols) = read_both(&args.reference, &args.current, &wanted_r, &wanted_c)?;
    if rows_of(&rcols) == 0 || rows_of(&ccols) == 0 {
        bail!("both files need at least one data row");
    }
    // Columns that turned out categorical and were read as numbers: read their text.
    let again: Vec<usize> = (0..columns.len())
        .filter(|&k| {
            let both_text = matches!(rcols[k], ColumnValues::Text(_))
                && matches!(ccols[k], ColumnValues::Text(_));
            !(both_text || is_numeric_pair(&rcols[k], &ccols[k]))
        })
        .collect();
    if !again.is_empty() {
        let as_text = |w: &[(usize, bool)]| -> Vec<(usize, bool)> {
            again.iter().map(|&k| (w[k].0, true)).collect()
        };
        let (r2, c2) = read_both(
            &args.reference,
            &args.current,
            &as_text(&wanted_r),
            &as_text(&wanted_c),
        )?;
        for ((k, r), c) in again.iter().zip(r2).zip(c2) {
            rcols[*k] = r;
            ccols[*k] = c;
        }
    }
    // Columns are independent: compute them on all cores.
    let work: Vec<usize> = (0..columns.len()).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(work.len())
        .max(1);
    let per = work.len().div_ceil(threads);
    let (rcols, ccols, columns) = (&rcols, &ccols, &columns);
    let results: Vec<Result<ColumnDrift>> = std::thread::scope(|s| {
        let handles: Vec<_> = work
            .chunks(per)
            .map(|items| {
                s.spawn(move || {
                    items
                        .iter()
                        .map(|&k| column_drift(&columns[k], &rcols[k], &ccols[k]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![Err(anyhow!("a drift worker failed"))])
            })
            .collect()
    });
    results.into_iter().collect()
}

/// Runs `vigilo drift`.
pub fn run_drift(args: &DriftArgs) -> Result<()> {
    let out = drift_columns(args)?;
    let doc = DriftDoc {
        schema_version: SCHEMA_VERSION,
        command: "drift",
        conventions: vec![
            format!(
                "PSI over the reference's deciles (numpy linear quantiles, right-closed bins, open ends); categories as bins for categorical columns; empty bins count as {}; watch >= {}, act >= {}",
                drift::PSI_EPSILON,
                drift::PSI_WATCH,
                drift::PSI_ACT
            ),
            "Jensen-Shannon distance, base 2, over the PSI bins".into(),
            "KS statistic and p-value as scipy ks_2samp (exact up to 10,000 values per sample)".into(),
            "Wasserstein-1 as scipy wasserstein_distance; normalised form divided by the reference's standard deviation".into(),
            "chi-square as scipy chi2_contingency (Yates only with one degree of freedom)".into(),
            "numeric columns: every non-empty value in both files is a number; empty values are left out and counted".into(),
        ],
        columns: out,
    };
    match args.format {
        OutputFormat::Json => print_json(&doc),
        OutputFormat::Table => print_text(&drift_table(&doc)),
    }
}

fn drift_table(doc: &DriftDoc) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24} {:<11} {:>8} {:<7} {:>8} {:>10} {:>10} {:>11} {:>10}",
        "column", "kind", "PSI", "level", "JS dist", "KS D", "KS p", "W1", "chi2 p"
    );
    for c in &doc.columns {
        let short = |s: &str| -> String { s.chars().take(24).collect() };
        match c {
            ColumnDrift::Numeric {
                column, drift: d, ..
            } => {
                let _ = writeln!(
                    out,
                    "{:<24} {:<11} {:>8.4} {:<7} {:>8.4} {:>10.4} {:>10.3e} {:>11.4} {:>10}",
                    short(column),
                    "numeric",
                    d.psi,
                    format!("{:?}", d.psi_level).to_lowercase(),
                    d.js_distance,
                    d.ks.statistic,
                    d.ks.p_value,
                    d.wasserstein,
                    "-"
                );
            }
            ColumnDrift::Categorical { column, drift: d } => {
                let _ = writeln!(
                    out,
                    "{:<24} {:<11} {:>8.4} {:<7} {:>8.4} {:>10} {:>10} {:>11} {:>10}",
                    short(column),
                    "categorical",
                    d.psi,
                    format!("{:?}", d.psi_level).to_lowercase(),
                    d.js_distance,
                    "-",
                    "-",
                    "-",
                    d.chi2
                        .map_or("-".to_string(), |t| format!("{:.3e}", t.p_value))
                );
            }
        }
    }
    let _ = writeln!(out, "\nConventions:");
    for c in &doc.conventions {
        let _ = writeln!(out, "  - {c}");
    }
    out
}

/// `vigilo signals --stored`: the detection job's run over the stored reports, then the
/// signals it recorded, strongest first.
pub async fn run_stored_signals(args: &SignalsArgs, url: &str) -> Result<()> {
    use vigilo_server::incident_signals::{run_signals, DetectOptions};
    let store = vigilo_store::Store::open(url).await?;
    let summary = run_signals(&store, &DetectOptions::default()).await?;
    let signals = store
        .signals(&vigilo_store::SignalFilter {
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let current: Vec<&vigilo_store::Signal> =
        signals.iter().filter(|s| s.still_detected == 1).collect();
    if args.format == OutputFormat::Json {
        let doc = serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "summary": summary,
            "signals": current,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("{summary}");
    for n in &summary.notes {
        println!("note: {n}");
    }
    if current.is_empty() {
        return Ok(());
    }
    println!(
        "\n{:<18} {:<44} {:<28} {:>6} {:>9} {:>12}  state",
        "method", "product", "code", "n", "expected", "score"
    );
    for s in current.iter().take(args.top) {
        let product: String = s.product_label.chars().take(44).collect();
        let code = if s.region.is_empty() {
            s.code.clone()
        } else {
            format!("{} in {}", s.code, s.region)
        };
        let code: String = code.chars().take(28).collect();
        println!(
            "{:<18} {:<44} {:<28} {:>6} {:>9.2} {:>5} {:>6.3}  {}",
            s.method, product, code, s.observed, s.expected, s.score_label, s.score, s.state
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::io::Write;

    fn csv_file(dir: &tempfile::TempDir, name: &str, body: &str) -> PathBuf {
        let p = dir.path().join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(body.as_bytes()).unwrap();
        p
    }

    fn eval_args(truth: PathBuf, scores: PathBuf) -> EvalArgs {
        EvalArgs {
            truth,
            scores,
            threshold: 0.5,
            subgroups: vec!["site".into()],
            id_column: "case_id".into(),
            label_column: "label".into(),
            score_column: "score".into(),
            level: 0.95,
            interval: IntervalArg::Wilson,
            ece_bins: 10,
            ece_rule: EceRuleArg::EqualWidth,
            bootstrap: 0,
            seed: 1,
            format: OutputFormat::Json,
        }
    }

    #[test]
    fn eval_joins_by_id_in_any_column_order() {
        let d = tempfile::tempdir().unwrap();
        let t = csv_file(&d, "t.csv", "case_id,label,site\na,1,N\nb,0,S\nc,1,S\n");
        let s = csv_file(&d, "s.csv", "score,case_id\n0.2,c\n0.9,a\n0.4,b\n");
        let data = read_eval_data(&eval_args(t, s)).unwrap();
        assert_eq!(data.labels, vec![true, false, true]);
        assert_eq!(data.scores, vec![0.9, 0.4, 0.2]);
        assert_eq!(data.subgroups[0].1, vec!["N", "S", "S"]);
    }

    #[test]
    fn eval_input_errors_are_clear() {
        let d = tempfile::tempdir().unwrap();
        let t = csv_file(&d, "t.csv", "case_id,label,site\na,1,N\nb,0,S\n");
        let err = |s: &str| {
            let p = csv_file(&d, "s.csv", s);
            read_eval_data(&eval_args(t.clone(), p))
                .err()
                .unwrap()
                .to_string()
        };
        assert!(err("case_id,value\na,0.1\n").contains("no column named \"score\""));
        assert!(err("case_id,score\na,high\nb,0.1\n").contains("\"high\" is not a number"));
        assert!(err("case_id,score\na,0.1\nz,0.3\n").contains("do not match"));
        assert!(err("case_id,score\na,0.1\na,0.3\nb,0.2\n").contains("appears twice"));
        let bad_label = csv_file(&d, "t2.csv", "case_id,label,site\na,yes,N\n");
        let s = csv_file(&d, "s2.csv", "case_id,score\na,0.1\n");
        let e = read_eval_data(&eval_args(bad_label, s))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("must be 0 or 1"), "{e}");
    }

    #[test]
    fn reports_errors_name_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = csv_file(&d, "r.csv", "report_id,product,event\nr1,P,E\nr2,,E\n");
        let args = SignalsArgs {
            reports: Some(p),
            stored: false,
            database: None,
            methods: vec!["prr".into()],
            strata: vec![],
            report_column: "report_id".into(),
            product_column: "product".into(),
            event_column: "event".into(),
            unit: UnitArg::UniqueReports,
            zero_cell: ZeroCellArg::HaldaneAnscombe,
            uncorrected_chi2: false,
            min_count: 1,
            top: 10,
            format: OutputFormat::Table,
        };
        let e = read_reports(&args).err().unwrap().to_string();
        assert!(e.contains(":3:") && e.contains("empty"), "{e}");
        assert!(parse_methods(&["prr".into(), "nope".into()]).is_err());
        let m = parse_methods(&["ROR".into(), "bcpnn".into()]).unwrap();
        assert!(m.ror && m.ic && !m.prr && !m.ebgm);
    }

    #[test]
    fn reports_read_in_parts_equal_one_read() {
        let d = tempfile::tempdir().unwrap();
        let mut body = String::from("report_id,product,event\n");
        for i in 0..3000 {
            let _ = writeln!(body, "r{},P{},E{}", i / 3, (i * 7) % 11, (i * 5) % 13);
        }
        let args = |reports: PathBuf| SignalsArgs {
            reports: Some(reports),
            stored: false,
            database: None,
            methods: vec!["prr".into()],
            strata: vec![],
            report_column: "report_id".into(),
            product_column: "product".into(),
            event_column: "event".into(),
            unit: UnitArg::UniqueReports,
            zero_cell: ZeroCellArg::HaldaneAnscombe,
            uncorrected_chi2: false,
            min_count: 1,
            top: 10,
            format: OutputFormat::Table,
        };
        let p = csv_file(&d, "r.csv", &body);
        let one = read_reports_in_parts(&args(p.clone()), 1).unwrap();
        // Pieces are at least 1 MB: pad the rows with spaces (trimmed away) to get three.
        let padded: Vec<String> = body
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    l.to_string()
                } else {
                    format!("{l}{}", " ".repeat(1000))
                }
            })
            .collect();
        let q = csv_file(&d, "q.csv", &(padded.join("\n") + "\n"));
        let parts = read_reports_in_parts(&args(q), 3).unwrap();
        for unit in [CountingUnit::UniqueReports, CountingUnit::Pairs] {
            assert_eq!(one.build(unit).unwrap(), parts.build(unit).unwrap());
        }
        // An error in a later piece names its line in the whole file.
        let mut broken = padded.clone();
        broken[2700] = "r900,,E1".into();
        let r = csv_file(&d, "bad.csv", &(broken.join("\n") + "\n"));
        let e = read_reports_in_parts(&args(r), 3)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(":2701:") && e.contains("empty"), "{e}");
        let short = csv_file(&d, "short.csv", "report_id,product,event\nr1,P\n");
        let e = read_reports_in_parts(&args(short), 1)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(":2:") && e.contains("2 fields"), "{e}");
    }

    #[test]
    fn drift_types_columns() {
        let d = tempfile::tempdir().unwrap();
        // x: numbers with one empty value; c: text; m: numbers in one file, text in the other.
        let r = csv_file(&d, "r.csv", "x,c,m\n1,a,1\n2,b,2\n,a,3\n3,b,4\n");
        let c = csv_file(&d, "c.csv", "m,x,c\n1,2,a\nlow,3,a\n2,4,b\n3,5,a\n");
        let args = |categorical: Vec<String>| DriftArgs {
            reference: r.clone(),
            current: c.clone(),
            columns: vec![],
            categorical,
            format: OutputFormat::Json,
        };
        let out = drift_columns(&args(vec![])).unwrap();
        assert_eq!(out.len(), 3);
        match &out[0] {
            ColumnDrift::Numeric {
                column,
                missing_reference,
                drift,
                ..
            } => {
                assert_eq!(column, "x");
                assert_eq!(*missing_reference, 1);
                assert_eq!(drift.n_reference, 3);
            }
            ColumnDrift::Categorical { .. } => panic!("x is numeric"),
        }
        assert!(matches!(&out[1], ColumnDrift::Categorical { column, .. } if column == "c"));
        // Numeric in the reference only: both sides compared as categories, read again as text.
        match &out[2] {
            ColumnDrift::Categorical { column, drift } => {
                assert_eq!(column, "m");
                assert!(drift.psi.is_finite());
            }
            ColumnDrift::Numeric { .. } => panic!("m is not numeric in the current file"),
        }
        let forced = drift_columns(&args(vec!["x".into()])).unwrap();
        assert!(matches!(&forced[0], ColumnDrift::Categorical { column, .. } if column == "x"));
        // Same numbers as the whole-file reader had: KS and W1 from the parsed values.
        let only_x = DriftArgs {
            columns: vec!["x".into()],
            ..args(vec![])
        };
        match &drift_columns(&only_x).unwrap()[0] {
            ColumnDrift::Numeric { drift, .. } => {
                let want =
                    drift::numeric_drift(&[1.0, 2.0, 3.0], &[2.0, 3.0, 4.0, 5.0], None).unwrap();
                assert_eq!(drift.wasserstein, want.wasserstein);
                assert_eq!(drift.ks.statistic, want.ks.statistic);
            }
            ColumnDrift::Categorical { .. } => panic!("x is numeric"),
        }
        let empty = csv_file(&d, "e.csv", "x,c,m\n");
        let no_rows = DriftArgs {
            current: empty,
            ..args(vec![])
        };
        let err = match drift_columns(&no_rows) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a file without rows must be refused"),
        };
        assert!(err.contains("at least one data row"), "{err}");
    }
}
