//! The signal detection job: disproportionality over the coded reports (per product and per
//! version), reports per use against monitoring's counts (Poisson CUSUM per product), and
//! clusters of reports in a province (Poisson scan against the province's share of use).
//! The methods are `vigilo-stats`'s; the decision rules are here, in pure functions.

use rustc_hash::FxHashMap;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;
use vigilo_core::signal::SignalMethod;
use vigilo_stats::dispro::{self, CountingUnit, ReportTableBuilder, SignalOptions};
use vigilo_stats::sequential::{poisson_cusum_exposure, poisson_upper_tail};
use vigilo_store::{
    CellKey, CellReport, Detection, DetectionOutcome, MonthCount, PlaceReport, SignalGroup,
    SignalInput, Store,
};

/// Thresholds of the detection rules (documented in docs/early-warning.md).
#[derive(Debug, Clone)]
pub struct DetectOptions {
    /// Fewest reports of a product and code for a disproportionality signal.
    pub min_count: u64,
    /// The rise in reports per use the CUSUM looks for (2 = doubling).
    pub rate_ratio: f64,
    /// CUSUM decision limit, in reports.
    pub rate_h: f64,
    /// Months of use needed before the reporting rate is watched.
    pub rate_min_months: usize,
    /// The recent months the rate is compared against the earlier ones.
    pub rate_recent_months: usize,
    /// The window a cluster is looked for in, in days, ending today.
    pub cluster_days: i64,
    /// Significance of a cluster before correction for the provinces tested.
    pub cluster_alpha: f64,
    /// Fewest reports in a cluster.
    pub cluster_min: u64,
    /// Threads for the scores (the prior fit and the cells); the results do not depend on it.
    pub threads: usize,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            min_count: 3,
            rate_ratio: 2.0,
            rate_h: 4.0,
            rate_min_months: 6,
            rate_recent_months: 3,
            cluster_days: 90,
            cluster_alpha: 0.01,
            cluster_min: 3,
            // A daily job: using every core for its seconds of arithmetic is the quickest way
            // through, and it runs off the request workers (see `run_signals`).
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// What a run found and recorded.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RunSummary {
    pub coded_reports: usize,
    pub detections: usize,
    pub by_method: BTreeMap<String, usize>,
    pub recorded: DetectionOutcome,
    pub notes: Vec<String>,
    /// Seconds per phase of the run (read, count, statistics, signal_reports,
    /// rates_clusters, record, total).
    pub phases: BTreeMap<String, f64>,
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let methods: Vec<String> = self
            .by_method
            .iter()
            .map(|(m, n)| format!("{m} {n}"))
            .collect();
        write!(
            f,
            "{} coded reports; {} signals ({}); {} new, {} updated, {} unchanged, {} no longer detected",
            self.coded_reports,
            self.detections,
            if methods.is_empty() {
                "none".to_string()
            } else {
                methods.join(", ")
            },
            self.recorded.new,
            self.recorded.updated,
            self.recorded.unchanged,
            self.recorded.no_longer_detected
        )
    }
}

/// A product (or version) key and its label, as the disproportionality table names it.
fn product_of(r: &SignalInput) -> Option<(String, String, Option<String>)> {
    if let Some(pid) = &r.product_id {
        return Some((
            pid.clone(),
            r.product_name.clone().unwrap_or_else(|| pid.clone()),
            Some(pid.clone()),
        ));
    }
    r.fda_reference.as_ref().map(|k| {
        (
            format!("fda:{k}"),
            match &r.fda_device {
                Some(d) => format!("{d} ({k})"),
                None => k.clone(),
            },
            None,
        )
    })
}

/// The signalling rule: at least `min_count` reports and the lower bound of one of the
/// Bayesian measures above its threshold (IC025 > 0 or EB05 >= 2), or the Evans criteria
/// (PRR >= 2 with chi-square >= 4). Returns the score that decided, strongest first.
pub fn disproportionality_decision(
    row: &dispro::SignalRow,
    min_count: u64,
) -> Option<(String, f64)> {
    if row.table.a < min_count {
        return None;
    }
    if let Some(e) = &row.ebgm {
        if e.eb05 >= 2.0 {
            return Some(("EB05".into(), e.eb05));
        }
    }
    if let Some(ic) = &row.ic {
        if ic.lower > 0.0 {
            return Some(("IC025".into(), ic.lower));
        }
    }
    if let Some(p) = &row.prr {
        if p.prr >= 2.0 && p.chi2.is_some_and(|c| c >= 4.0) {
            return Some(("PRR".into(), p.prr));
        }
    }
    None
}

/// Disproportionality per product and, separately, per version of directory products.
pub fn disproportionality(
    inputs: &[SignalInput],
    opts: &DetectOptions,
) -> (Vec<Detection>, Vec<String>) {
    let mut detections = Vec::new();
    let mut notes = Vec::new();
    // Products reported with more than one version: only for those can a version stand out
    // from its product (with one version the two levels say the same thing).
    let mut versions_seen: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
    for r in inputs {
        if let (Some(p), Some(v)) = (&r.product_id, &r.version_id) {
            versions_seen
                .entry(p.as_str())
                .or_default()
                .insert(v.as_str());
        }
    }
    for level in ["product", "version"] {
        let mut builder = ReportTableBuilder::with_capacity(inputs.len());
        let mut members: HashMap<(String, String), Vec<String>> = HashMap::new();
        let mut labels: HashMap<String, (String, Option<String>, Option<String>)> = HashMap::new();
        let mut window: HashMap<(String, String), (String, String)> = HashMap::new();
        for r in inputs {
            let Some((key, label, product_id)) = product_of(r) else {
                continue;
            };
            let (key, label, version_id) = if level == "version" {
                let several = r
                    .product_id
                    .as_deref()
                    .and_then(|p| versions_seen.get(p))
                    .is_some_and(|v| v.len() > 1);
                if !several {
                    continue;
                }
                match (&r.version_id, &r.version) {
                    (Some(vid), Some(v)) => (
                        format!("{key}@{v}"),
                        format!("{label} {v}"),
                        Some(vid.clone()),
                    ),
                    _ => continue,
                }
            } else {
                (key, label, None)
            };
            if builder.add(&r.incident_id, &key, &r.code).is_err() {
                continue;
            }
            labels.insert(key.clone(), (label, product_id, version_id));
            members
                .entry((key.clone(), r.code.clone()))
                .or_default()
                .push(r.incident_id.clone());
            let w = window
                .entry((key, r.code.clone()))
                .or_insert_with(|| (r.day.clone(), r.day.clone()));
            if r.day < w.0 {
                w.0 = r.day.clone();
            }
            if r.day > w.1 {
                w.1 = r.day.clone();
            }
        }
        if labels.is_empty() {
            continue;
        }
        let table = match builder.finish(CountingUnit::UniqueReports) {
            Ok(t) => t,
            Err(e) => {
                notes.push(format!("{level}: {e}"));
                continue;
            }
        };
        if table.cells.is_empty() {
            continue;
        }
        let report = match dispro::signals(
            &table,
            &SignalOptions {
                min_count: opts.min_count,
                threads: opts.threads,
                ..SignalOptions::default()
            },
        ) {
            Ok(r) => r,
            Err(e) => {
                notes.push(format!("{level}: {e}"));
                continue;
            }
        };
        notes.extend(report.notes.iter().map(|n| format!("{level}: {n}")));
        for row in &report.rows {
            let Some((score_label, score)) = disproportionality_decision(row, opts.min_count)
            else {
                continue;
            };
            let (label, product_id, version_id) = labels
                .get(&row.product)
                .cloned()
                .unwrap_or_else(|| (row.product.clone(), None, None));
            let cell = (row.product.clone(), row.event.clone());
            let (start, end) = window.get(&cell).cloned().unzip();
            let mut d = dispro_detection(
                row,
                level,
                label,
                product_id,
                version_id,
                score_label,
                score,
            );
            d.window_start = start;
            d.window_end = end;
            d.incident_ids = members.remove(&cell).unwrap_or_default();
            detections.push(d);
        }
    }
    (detections, notes)
}

/// A disproportionality signal found from the counts, before its reports are read: the
/// cells (unit and code) whose reports are its reports.
#[derive(Debug, Clone)]
pub struct CountedSignal {
    pub detection: Detection,
    pub cells: Vec<CellKey>,
}

/// The key, label, product and version a unit counts under at one level, as
/// [`disproportionality`] names them; `None` when the unit is not in that level's table.
fn level_key(
    g: &SignalGroup,
    level: &str,
    versions_seen: &HashMap<&str, std::collections::HashSet<&str>>,
) -> Option<(String, String, Option<String>, Option<String>)> {
    let (key, label, product_id) = if let Some(pid) = &g.product_id {
        (
            pid.clone(),
            g.product_name.clone().unwrap_or_else(|| pid.clone()),
            Some(pid.clone()),
        )
    } else {
        let k = g.fda_reference.as_ref()?;
        (
            format!("fda:{k}"),
            match &g.fda_device {
                Some(d) => format!("{d} ({k})"),
                None => k.clone(),
            },
            None,
        )
    };
    if level == "product" {
        return Some((key, label, product_id, None));
    }
    let several = g
        .product_id
        .as_deref()
        .and_then(|p| versions_seen.get(p))
        .is_some_and(|v| v.len() > 1);
    if !several {
        return None;
    }
    match (&g.version_id, &g.version) {
        (Some(vid), Some(v)) => Some((
            format!("{key}@{v}"),
            format!("{label} {v}"),
            product_id,
            Some(vid.clone()),
        )),
        _ => None,
    }
}

/// A key's label, product and version, with the rank of the unit's latest report they came from.
type KeyLabel = (String, Option<String>, Option<String>, Option<u64>);

/// Disproportionality per product and per version, as [`disproportionality`] computes it,
/// from the counts the database made ([`vigilo_store::SignalSnapshot::counts`]): the same
/// tables (a report names one product, so the margins and N follow from the counts), the
/// same scores and the same decisions. Windows and reports are filled in afterwards by
/// [`attach_reports`], for the signalling cells only.
pub fn disproportionality_counts(
    groups: &[SignalGroup],
    opts: &DetectOptions,
) -> (Vec<CountedSignal>, Vec<String>) {
    let mut found = Vec::new();
    let mut notes = Vec::new();
    let mut versions_seen: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
    for g in groups {
        if let (Some(p), Some(v)) = (&g.product_id, &g.version_id) {
            versions_seen
                .entry(p.as_str())
                .or_default()
                .insert(v.as_str());
        }
    }
    for level in ["product", "version"] {
        let mut keys: Vec<String> = Vec::new();
        let mut key_index: FxHashMap<String, u32> = FxHashMap::default();
        // Label, product and version of a key: those of its unit with the latest report,
        // as the row-by-row computation ends with that unit's rows.
        let mut labels: Vec<KeyLabel> = Vec::new();
        let mut n_product: Vec<u64> = Vec::new();
        let mut events: Vec<String> = Vec::new();
        let mut event_index: FxHashMap<&str, u32> = FxHashMap::default();
        let mut cells: FxHashMap<(u32, u32), u64> = FxHashMap::default();
        // The groups counted under each key; a signalling cell's groups are those of its
        // key that have its code (looked up afterwards, for the few cells that signal).
        let mut key_groups: Vec<Vec<usize>> = Vec::new();
        for (gi, g) in groups.iter().enumerate() {
            let Some((key, label, product_id, version_id)) = level_key(g, level, &versions_seen)
            else {
                continue;
            };
            let k = match key_index.get(&key) {
                Some(&k) => k,
                None => {
                    let k = u32::try_from(keys.len()).unwrap_or(u32::MAX);
                    key_index.insert(key.clone(), k);
                    keys.push(key);
                    labels.push((String::new(), None, None, None));
                    n_product.push(0);
                    key_groups.push(Vec::new());
                    k
                }
            };
            key_groups[k as usize].push(gi);
            let l = &mut labels[k as usize];
            if l.3.is_none() || Some(g.last_rank) > l.3 {
                *l = (label, product_id, version_id, Some(g.last_rank));
            }
            n_product[k as usize] += g.reports;
            for (code, n) in &g.codes {
                let e = match event_index.get(code.as_str()) {
                    Some(&e) => e,
                    None => {
                        let e = u32::try_from(events.len()).unwrap_or(u32::MAX);
                        event_index.insert(code.as_str(), e);
                        events.push(code.clone());
                        e
                    }
                };
                *cells.entry((k, e)).or_insert(0) += n;
            }
        }
        if cells.is_empty() {
            continue;
        }
        let mut counts: Vec<(u32, u32, u64)> =
            cells.iter().map(|(&(p, e), &a)| (p, e, a)).collect();
        counts.sort_unstable();
        let table = match dispro::DisproTable::from_product_counts(
            keys.clone(),
            events.clone(),
            &n_product,
            &counts,
        ) {
            Ok(t) => t,
            Err(e) => {
                notes.push(format!("{level}: {e}"));
                continue;
            }
        };
        let report = match dispro::signals(
            &table,
            &SignalOptions {
                min_count: opts.min_count,
                threads: opts.threads,
                ..SignalOptions::default()
            },
        ) {
            Ok(r) => r,
            Err(e) => {
                notes.push(format!("{level}: {e}"));
                continue;
            }
        };
        notes.extend(report.notes.iter().map(|n| format!("{level}: {n}")));
        for row in &report.rows {
            let Some((score_label, score)) = disproportionality_decision(row, opts.min_count)
            else {
                continue;
            };
            let k = key_index.get(&row.product).copied();
            let e = event_index.get(row.event.as_str()).copied();
            let (label, product_id, version_id) = k
                .and_then(|k| labels.get(k as usize))
                .map(|l| (l.0.clone(), l.1.clone(), l.2.clone()))
                .unwrap_or_else(|| (row.product.clone(), None, None));
            let cell_keys: Vec<CellKey> = match (k, e) {
                (Some(k), Some(_)) => key_groups[k as usize]
                    .iter()
                    .map(|&gi| &groups[gi])
                    .filter(|g| {
                        g.codes
                            .binary_search_by(|(c, _)| c.as_str().cmp(row.event.as_str()))
                            .is_ok()
                    })
                    .map(|g| CellKey {
                        product_id: g.product_id.clone(),
                        version_id: g.version_id.clone(),
                        foreign_reference_id: g.foreign_reference_id.clone(),
                        code: row.event.clone(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            found.push(CountedSignal {
                detection: dispro_detection(
                    row,
                    level,
                    label,
                    product_id,
                    version_id,
                    score_label,
                    score,
                ),
                cells: cell_keys,
            });
        }
    }
    (found, notes)
}

/// Gives each counted signal its reports (sorted by id) and its window (first and last
/// day of those reports). `cells` are the cells the reports were read for, `reports` what
/// the store returned for them.
pub fn attach_reports(
    signals: Vec<CountedSignal>,
    cells: &[CellKey],
    reports: &[CellReport],
) -> Vec<Detection> {
    let index: HashMap<&CellKey, usize> = cells.iter().enumerate().map(|(i, c)| (c, i)).collect();
    let mut per_cell: Vec<Vec<&CellReport>> = vec![Vec::new(); cells.len()];
    for r in reports {
        if let Some(v) = per_cell.get_mut(r.cell) {
            v.push(r);
        }
    }
    signals
        .into_iter()
        .map(|s| {
            let mut d = s.detection;
            let mut mine: Vec<&CellReport> = s
                .cells
                .iter()
                .filter_map(|c| index.get(c))
                .flat_map(|&i| per_cell[i].iter().copied())
                .collect();
            mine.sort_by(|a, b| a.incident_id.cmp(&b.incident_id));
            d.window_start = mine.iter().map(|r| &r.day).min().cloned();
            d.window_end = mine.iter().map(|r| &r.day).max().cloned();
            d.incident_ids = mine.into_iter().map(|r| r.incident_id.clone()).collect();
            d
        })
        .collect()
}

/// The cells whose reports the counted signals need, each once, in a fixed order.
pub fn wanted_cells(signals: &[CountedSignal]) -> Vec<CellKey> {
    let mut cells: Vec<CellKey> = signals
        .iter()
        .flat_map(|s| s.cells.iter().cloned())
        .collect();
    cells.sort_unstable();
    cells.dedup();
    cells
}

/// A disproportionality detection for a scored row (window and reports left empty).
fn dispro_detection(
    row: &dispro::SignalRow,
    level: &str,
    label: String,
    product_id: Option<String>,
    version_id: Option<String>,
    score_label: String,
    score: f64,
) -> Detection {
    Detection {
        method: SignalMethod::Disproportionality,
        product_key: row.product.clone(),
        product_label: label,
        product_id,
        version_id,
        code: row.event.clone(),
        region: String::new(),
        window_start: None,
        window_end: None,
        observed: i64::try_from(row.table.a).unwrap_or(i64::MAX),
        expected: row.expected,
        score_label,
        score,
        evidence: json!({
            "a": row.table.a, "b": row.table.b, "c": row.table.c, "d": row.table.d,
            "expected": row.expected,
            "prr": row.prr.as_ref().map(|p| json!({"prr": p.prr, "lower": p.lower, "upper": p.upper, "chi2": p.chi2})),
            "ror": row.ror.as_ref().map(|r| json!({"ror": r.ror, "lower": r.lower, "upper": r.upper})),
            "ic": row.ic.as_ref().map(|i| json!({"ic": i.ic, "ic025": i.lower, "ic975": i.upper})),
            "ebgm": row.ebgm.as_ref().map(|e| json!({"ebgm": e.ebgm, "eb05": e.eb05, "eb95": e.eb95})),
            "level": level,
        }),
        incident_ids: Vec::new(),
    }
}

/// Reports per use: for each product with enough months of monitoring, the rate of the
/// earlier months is the baseline and a Poisson CUSUM over every month looks for a
/// doubling; a signal when the chart is above its limit in one of the recent months.
pub fn rate_signals(
    reports: &[MonthCount],
    uses: &[MonthCount],
    labels: &HashMap<String, String>,
    opts: &DetectOptions,
) -> Vec<Detection> {
    let mut per_product: BTreeMap<&str, BTreeMap<&str, (f64, f64)>> = BTreeMap::new();
    for u in uses {
        per_product
            .entry(u.product_id.as_str())
            .or_default()
            .entry(u.month.as_str())
            .or_default()
            .1 += u.n as f64;
    }
    for r in reports {
        if let Some(months) = per_product.get_mut(r.product_id.as_str()) {
            months.entry(r.month.as_str()).or_default().0 += r.n as f64;
        }
    }
    let mut out = Vec::new();
    for (product, months) in per_product {
        let series: Vec<(&str, f64, f64)> = months
            .iter()
            .filter(|(_, (_, u))| *u > 0.0)
            .map(|(m, (x, u))| (*m, *x, *u))
            .collect();
        if series.len() < opts.rate_min_months {
            continue;
        }
        let split = series.len() - opts.rate_recent_months;
        let (base_reports, base_uses) = series[..split]
            .iter()
            .fold((0.0, 0.0), |(x, u), s| (x + s.1, u + s.2));
        // Half a report keeps a tool with no reports yet from having a zero baseline.
        let rate = (base_reports + 0.5) / base_uses;
        let counts: Vec<f64> = series.iter().map(|s| s.1).collect();
        let expected: Vec<f64> = series.iter().map(|s| s.2 * rate).collect();
        let Ok(chart) =
            poisson_cusum_exposure(&counts, &expected, opts.rate_ratio, opts.rate_h, false)
        else {
            continue;
        };
        let Some(first) = chart.alarms.iter().copied().find(|&i| i >= split) else {
            continue;
        };
        let peak = chart.statistic.iter().copied().fold(0.0, f64::max);
        let observed: f64 = counts[first..].iter().sum();
        let exp: f64 = expected[first..].iter().sum();
        out.push(Detection {
            method: SignalMethod::Rate,
            product_key: product.to_string(),
            product_label: labels
                .get(product)
                .cloned()
                .unwrap_or_else(|| product.to_string()),
            product_id: Some(product.to_string()),
            version_id: None,
            code: "*".into(),
            region: String::new(),
            window_start: Some(series[first].0.to_string()),
            window_end: series.last().map(|s| s.0.to_string()),
            observed: observed as i64,
            expected: exp,
            score_label: "CUSUM".into(),
            score: peak,
            evidence: json!({
                "baseline_per_10000_uses": rate * 10_000.0,
                "ratio": opts.rate_ratio, "h": opts.rate_h,
                "months": series.iter().zip(&chart.statistic).map(|(s, c)| json!({
                    "month": s.0, "reports": s.1, "uses": s.2,
                    "per_10000_uses": if s.2 > 0.0 { s.1 / s.2 * 10_000.0 } else { 0.0 },
                    "cusum": c,
                })).collect::<Vec<_>>(),
            }),
            incident_ids: Vec::new(),
        });
    }
    out
}

/// Clusters: reports about a product in one province in the window, against the
/// province's share of the product's use over the same window (Poisson upper tail,
/// Bonferroni over the provinces where the product is used).
pub fn cluster_signals(
    placed: &[PlaceReport],
    uses_by_province: &[MonthCount],
    window: (&str, &str),
    opts: &DetectOptions,
) -> Vec<Detection> {
    let mut use_share: HashMap<&str, HashMap<&str, f64>> = HashMap::new();
    for u in uses_by_province {
        *use_share
            .entry(u.product_id.as_str())
            .or_default()
            .entry(u.month.as_str())
            .or_default() += u.n as f64;
    }
    let mut counts: BTreeMap<(&str, &str), Vec<&PlaceReport>> = BTreeMap::new();
    let mut totals: HashMap<&str, f64> = HashMap::new();
    for r in placed.iter().filter(|r| r.day.as_str() >= window.0) {
        counts
            .entry((r.product_id.as_str(), r.province_code.as_str()))
            .or_default()
            .push(r);
        *totals.entry(r.product_id.as_str()).or_default() += 1.0;
    }
    let mut out = Vec::new();
    for ((product, province), reports) in counts {
        let Some(shares) = use_share.get(product) else {
            continue;
        };
        let all_uses: f64 = shares.values().sum();
        let here = shares.get(province).copied().unwrap_or(0.0);
        if all_uses <= 0.0 || shares.is_empty() {
            continue;
        }
        let n = reports.len() as u64;
        if n < opts.cluster_min {
            continue;
        }
        let expected = totals.get(product).copied().unwrap_or(0.0) * here / all_uses;
        let Ok(p) = poisson_upper_tail(n, expected) else {
            continue;
        };
        let alpha = opts.cluster_alpha / shares.len() as f64;
        if p >= alpha {
            continue;
        }
        out.push(Detection {
            method: SignalMethod::Cluster,
            product_key: product.to_string(),
            product_label: reports[0].product_name.clone(),
            product_id: Some(product.to_string()),
            version_id: None,
            code: "*".into(),
            region: province.to_string(),
            window_start: Some(window.0.to_string()),
            window_end: Some(window.1.to_string()),
            observed: n as i64,
            expected,
            score_label: "p".into(),
            score: p,
            evidence: json!({
                "reports_in_province": n, "reports_nationwide": totals.get(product),
                "use_share": here / all_uses, "expected": expected, "p": p,
                "alpha_corrected": alpha, "provinces_tested": shares.len(),
            }),
            incident_ids: reports.iter().map(|r| r.incident_id.clone()).collect(),
        });
    }
    out
}

/// One detection run over the stored reports, recorded in the store. The database counts
/// the reports per unit and code; only the reports of the cells that signal are read.
pub async fn run_signals(
    store: &Store,
    opts: &DetectOptions,
) -> Result<RunSummary, vigilo_store::StoreError> {
    let started = Instant::now();
    let mut phases: BTreeMap<String, f64> = BTreeMap::new();
    let lap = |phases: &mut BTreeMap<String, f64>, name: &str, since: &mut Instant| {
        phases.insert(name.to_string(), since.elapsed().as_secs_f64());
        *since = Instant::now();
    };
    let mut t = Instant::now();
    let snapshot = store.signal_snapshot().await?;
    lap(&mut phases, "read_s", &mut t);
    // Seconds of counting and arithmetic: on a blocking thread, so that the server's request
    // workers keep answering while the job runs.
    let cpu_opts = opts.clone();
    let (groups, mut detections, notes, cpu_phases) =
        tokio::task::spawn_blocking(move || -> Result<_, vigilo_store::StoreError> {
            let mut t = Instant::now();
            let mut phases = Vec::new();
            let groups = snapshot.groups()?;
            phases.push(("count_s", t.elapsed().as_secs_f64()));
            t = Instant::now();
            let (counted, notes) = disproportionality_counts(&groups, &cpu_opts);
            phases.push(("statistics_s", t.elapsed().as_secs_f64()));
            t = Instant::now();
            let detections = signal_reports(&snapshot, counted)?;
            drop(snapshot);
            phases.push(("signal_reports_s", t.elapsed().as_secs_f64()));
            Ok((groups, detections, notes, phases))
        })
        .await
        .map_err(|e| vigilo_store::StoreError::Task(format!("signal computation: {e}")))??;
    for (name, secs) in cpu_phases {
        phases.insert(name.to_string(), secs);
    }
    t = Instant::now();
    let today = store.now().date();
    let mut labels: HashMap<String, String> = groups
        .iter()
        .filter_map(|g| Some((g.product_id.clone()?, g.product_name.clone()?)))
        .collect();
    let months = store.incident_months().await?;
    let uses = store.usage_months().await?;
    for p in store.incident_product_choices().await? {
        labels.entry(p.id).or_insert(p.name);
    }
    detections.extend(rate_signals(&months, &uses, &labels, opts));
    let start =
        vigilo_core::appraisal::iso_date::format(today - time::Duration::days(opts.cluster_days));
    let end = vigilo_core::appraisal::iso_date::format(today);
    let placed = store.placed_reports(&start).await?;
    let by_province = store.usage_by_province(&start).await?;
    detections.extend(cluster_signals(&placed, &by_province, (&start, &end), opts));
    lap(&mut phases, "rates_clusters_s", &mut t);
    let mut by_method = BTreeMap::new();
    for d in &detections {
        *by_method.entry(d.method.code().to_string()).or_insert(0) += 1;
    }
    let coded_reports = groups
        .iter()
        .map(|g| usize::try_from(g.reports).unwrap_or(usize::MAX))
        .fold(0usize, usize::saturating_add);
    let recorded = store
        .record_detections("system:incident-signals", &detections)
        .await?;
    lap(&mut phases, "record_s", &mut t);
    phases.insert("total_s".into(), started.elapsed().as_secs_f64());
    Ok(RunSummary {
        coded_reports,
        detections: detections.len(),
        by_method,
        recorded,
        notes,
        phases,
    })
}

/// Disproportionality over the stored reports as the run computes it (counts, then the
/// reports of the signalling cells), without recording anything.
pub async fn detect_counted(
    store: &Store,
    opts: &DetectOptions,
) -> Result<(Vec<Detection>, Vec<String>), vigilo_store::StoreError> {
    let snapshot = store.signal_snapshot().await?;
    let groups = snapshot.groups()?;
    let (counted, notes) = disproportionality_counts(&groups, opts);
    Ok((signal_reports(&snapshot, counted)?, notes))
}

/// The counted signals with their reports and windows from the snapshot.
fn signal_reports(
    snapshot: &vigilo_store::SignalSnapshot,
    counted: Vec<CountedSignal>,
) -> Result<Vec<Detection>, vigilo_store::StoreError> {
    let cells = wanted_cells(&counted);
    let reports = snapshot.cell_reports(&cells)?;
    Ok(attach_reports(counted, &cells, &reports))
}

/// The run as it was before the database counted: every (report, code) row read and
/// counted here. Kept as the reference the counted run is tested against; records nothing.
pub async fn detect_from_rows(
    store: &Store,
    opts: &DetectOptions,
) -> Result<(Vec<Detection>, Vec<String>), vigilo_store::StoreError> {
    let inputs = store.signal_inputs().await?;
    Ok(disproportionality(&inputs, opts))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn month(p: &str, m: &str, n: i64) -> MonthCount {
        MonthCount {
            product_id: p.into(),
            month: m.into(),
            n,
        }
    }

    #[test]
    fn a_rise_in_reports_per_use_is_a_signal_and_a_steady_rate_is_not() {
        let months = [
            "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07", "2026-08",
            "2026-09",
        ];
        let mut uses = Vec::new();
        let mut reports = Vec::new();
        for (i, m) in months.iter().enumerate() {
            uses.push(month("rising", m, 10_000));
            uses.push(month("steady", m, 10_000));
            reports.push(month("rising", m, if i < 6 { 2 } else { 9 }));
            reports.push(month("steady", m, 2 + (i as i64 % 2)));
        }
        let labels = HashMap::from([("rising".to_string(), "Trợ lý ảo".to_string())]);
        let found = rate_signals(&reports, &uses, &labels, &DetectOptions::default());
        assert_eq!(found.len(), 1, "{found:?}");
        let s = &found[0];
        assert_eq!(s.product_key, "rising");
        assert_eq!(s.product_label, "Trợ lý ảo");
        assert_eq!(s.window_start.as_deref(), Some("2026-07"));
        assert_eq!(s.observed, 27);
        assert!(s.expected < 10.0, "{}", s.expected);
        // Too few months of use: not watched yet.
        let short: Vec<MonthCount> = uses
            .iter()
            .filter(|u| u.month.as_str() < "2026-04")
            .cloned()
            .collect();
        assert!(rate_signals(&reports, &short, &labels, &DetectOptions::default()).is_empty());
    }

    fn placed(id: usize, province: &str) -> PlaceReport {
        PlaceReport {
            incident_id: format!("i{id}"),
            product_id: "va".into(),
            product_name: "Trợ lý ảo".into(),
            province_code: province.into(),
            day: "2026-09-15".into(),
        }
    }

    #[test]
    fn a_province_with_far_more_reports_than_its_use_is_a_cluster() {
        let uses = vec![
            month("va", "01", 5000),
            month("va", "48", 5000),
            month("va", "79", 5000),
        ];
        let mut reports: Vec<PlaceReport> = (0..12).map(|i| placed(i, "48")).collect();
        reports.push(placed(100, "01"));
        reports.push(placed(101, "79"));
        let found = cluster_signals(
            &reports,
            &uses,
            ("2026-07-01", "2026-09-30"),
            &DetectOptions::default(),
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].region, "48");
        assert_eq!(found[0].observed, 12);
        assert_eq!(found[0].incident_ids.len(), 12);
        assert!(found[0].score < 0.01 / 3.0);
        // Reports spread as use is spread: nothing.
        let even: Vec<PlaceReport> = (0..12)
            .map(|i| placed(i, ["01", "48", "79"][i % 3]))
            .collect();
        assert!(cluster_signals(
            &even,
            &uses,
            ("2026-07-01", "2026-09-30"),
            &DetectOptions::default()
        )
        .is_empty());
        // Reports before the window do not count.
        let old: Vec<PlaceReport> = (0..12)
            .map(|i| PlaceReport {
                day: "2026-01-01".into(),
                ..placed(i, "48")
            })
            .collect();
        assert!(cluster_signals(
            &old,
            &uses,
            ("2026-07-01", "2026-09-30"),
            &DetectOptions::default()
        )
        .is_empty());
    }

    fn input(id: usize, product: &str, code: &str, version: Option<&str>) -> SignalInput {
        SignalInput {
            incident_id: format!("r{id}"),
            product_id: Some(product.into()),
            product_name: Some(format!("Name {product}")),
            version_id: version.map(|v| format!("{product}-{v}")),
            version: version.map(Into::into),
            fda_reference: None,
            fda_device: None,
            code: code.into(),
            day: "2026-03-01".into(),
            province_code: None,
        }
    }

    /// The units and their cell reports as the store would give them for these rows.
    fn counted(inputs: &[SignalInput], opts: &DetectOptions) -> Vec<Detection> {
        let mut groups: BTreeMap<(Option<String>, Option<String>), SignalGroup> = BTreeMap::new();
        let mut seen: std::collections::HashSet<(String, Option<String>)> = Default::default();
        for (rank, r) in inputs.iter().enumerate() {
            let g = groups
                .entry((r.product_id.clone(), r.version_id.clone()))
                .or_insert_with(|| SignalGroup {
                    product_id: r.product_id.clone(),
                    product_name: r.product_name.clone(),
                    version_id: r.version_id.clone(),
                    version: r.version.clone(),
                    foreign_reference_id: None,
                    fda_reference: r.fda_reference.clone(),
                    fda_device: r.fda_device.clone(),
                    reports: 0,
                    last_rank: 0,
                    codes: Vec::new(),
                });
            if seen.insert((r.incident_id.clone(), r.product_id.clone())) {
                g.reports += 1;
            }
            g.last_rank = rank as u64;
            match g.codes.iter_mut().find(|(c, _)| *c == r.code) {
                Some(c) => c.1 += 1,
                None => g.codes.push((r.code.clone(), 1)),
            }
        }
        let groups: Vec<SignalGroup> = groups.into_values().collect();
        let (found, _) = disproportionality_counts(&groups, opts);
        let cells = wanted_cells(&found);
        let reports: Vec<CellReport> = inputs
            .iter()
            .filter_map(|r| {
                let cell = cells.iter().position(|c| {
                    c.product_id == r.product_id && c.version_id == r.version_id && c.code == r.code
                })?;
                Some(CellReport {
                    cell,
                    incident_id: r.incident_id.clone(),
                    day: r.day.clone(),
                })
            })
            .collect();
        attach_reports(found, &cells, &reports)
    }

    fn by_key(mut d: Vec<Detection>) -> Vec<String> {
        d.sort_by(|a, b| (&a.product_key, &a.code).cmp(&(&b.product_key, &b.code)));
        d.iter()
            .map(|d| serde_json::to_string(d).unwrap())
            .collect()
    }

    #[test]
    fn counting_first_finds_what_counting_rows_finds() {
        let mut inputs = Vec::new();
        let mut id = 0;
        for p in 0..12 {
            for k in 0..30 {
                let version = if p % 3 == 0 {
                    Some(["1.0", "2.0"][k % 2])
                } else {
                    None
                };
                inputs.push(input(
                    id,
                    &format!("p{p}"),
                    ["AI03", "AI04", "AI09"][k % 3],
                    version,
                ));
                if k % 4 == 0 {
                    inputs.push(input(id, &format!("p{p}"), "AI01", version));
                }
                id += 1;
            }
        }
        for k in 0..12 {
            let v = Some(if k < 10 { "1.1" } else { "1.0" });
            inputs.push(input(id, "va", "AI02", v));
            if k % 2 == 0 {
                inputs.push(input(id, "va", "AI07", v));
            }
            id += 1;
        }
        for (i, r) in inputs.iter_mut().enumerate() {
            r.day = format!("2026-03-{:02}", 1 + i % 28);
        }
        inputs.sort_by(|a, b| (&a.incident_id, &a.code).cmp(&(&b.incident_id, &b.code)));
        let opts = DetectOptions::default();
        let rows = disproportionality(&inputs, &opts).0;
        assert!(rows.iter().any(|d| d.version_id.is_some()), "{rows:?}");
        assert!(rows.len() >= 2, "{rows:?}");
        assert_eq!(by_key(counted(&inputs, &opts)), by_key(rows));
    }

    #[test]
    fn a_code_reported_out_of_proportion_for_one_product_is_a_signal() {
        let mut inputs = Vec::new();
        let mut id = 0;
        // Background: 12 products, each with a mix of three ordinary codes.
        for p in 0..12 {
            for k in 0..30 {
                inputs.push(input(
                    id,
                    &format!("p{p}"),
                    ["AI03", "AI04", "AI09"][k % 3],
                    None,
                ));
                id += 1;
            }
        }
        // The virtual assistant: unsafe advice far more often than anyone else, in 1.1.
        for k in 0..12 {
            inputs.push(input(
                id,
                "va",
                "AI02",
                Some(if k < 10 { "1.1" } else { "1.0" }),
            ));
            id += 1;
        }
        for k in 0..10 {
            inputs.push(input(id, "va", ["AI03", "AI09"][k % 2], Some("1.0")));
            id += 1;
        }
        let (found, notes) = disproportionality(&inputs, &DetectOptions::default());
        let product: Vec<&Detection> = found.iter().filter(|d| d.version_id.is_none()).collect();
        assert_eq!(product.len(), 1, "{found:?} {notes:?}");
        assert_eq!(
            (product[0].product_key.as_str(), product[0].code.as_str()),
            ("va", "AI02")
        );
        assert_eq!(product[0].observed, 12);
        assert_eq!(product[0].incident_ids.len(), 12);
        assert_eq!(product[0].product_label, "Name va");
        // Per version, the signal sits on 1.1.
        let version: Vec<&Detection> = found.iter().filter(|d| d.version_id.is_some()).collect();
        assert!(
            version
                .iter()
                .any(|d| d.product_key == "va@1.1" && d.code == "AI02"),
            "{version:?}"
        );
        assert!(!version
            .iter()
            .any(|d| d.product_key == "va@1.0" && d.code == "AI02"));
    }
}
