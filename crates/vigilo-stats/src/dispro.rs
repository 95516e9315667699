//! Disproportionality analysis over spontaneous reports: the product x event table built by
//! hash aggregation of report lists, and the 2x2 statistics PRR, ROR and the BCPNN IC.
//! MGPS/EBGM is in [`crate::mgps`].
//!
//! Conventions (statistics.md):
//! - Counting unit: unique reports per product-event cell by default (as FDA's openEBGM),
//!   `E = n_product * n_event / n_reports`; pair counting (as vigipy and PhViD) on request.
//!   Exact duplicate (report, product, event) rows are collapsed in both units.
//! - PRR = (a/(a+b)) / (c/(c+d)), SE(ln PRR) = sqrt(1/a - 1/(a+b) + 1/c - 1/(c+d)); chi-square
//!   with Yates correction by default (R `chisq.test`: the correction is min(0.5, |O - E|));
//!   Evans signal: PRR >= 2, chi2 >= 4, a >= 3.
//! - ROR = ad/(bc), Woolf SE sqrt(1/a+1/b+1/c+1/d); signal when the lower bound > 1 and a >= 3.
//! - Zero cells: by default Haldane-Anscombe, adding 0.5 to all four cells only when a cell is
//!   zero (flagged in the result); or report 0 / infinity without correction. The chi-square
//!   always uses the raw counts.
//! - IC = log2((a + 0.5) / (E + 0.5)), IC025 = log2(GammaInv(0.025; a + 0.5, rate E + 0.5))
//!   (exact gamma quantile, the UMC shrinkage form); signal IC025 > 0.
//! - With strata, E (used by IC and EBGM) is sum over strata of n_p,s n_e,s / N_s; PRR and ROR
//!   use the crude 2x2 table.

use crate::error::{check_level, invalid, Result, StatsError};
use crate::special::{chi2_sf, gamma_quantile, z_for_level};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A 2x2 table: a = product with event, b = product without event, c = other products with
/// event, d = neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TwoByTwo {
    pub a: u64,
    pub b: u64,
    pub c: u64,
    pub d: u64,
}

impl TwoByTwo {
    pub fn total(&self) -> u64 {
        self.a + self.b + self.c + self.d
    }

    /// Crude expected count of cell a: (a+b)(a+c)/N.
    pub fn expected(&self) -> Result<f64> {
        let n = self.total();
        if n == 0 {
            return Err(StatsError::Empty("2x2 table"));
        }
        Ok((self.a + self.b) as f64 * (self.a + self.c) as f64 / n as f64)
    }
}

/// What to do when a 2x2 cell is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ZeroCellRule {
    /// Add 0.5 to all four cells when (and only when) any cell is zero.
    #[default]
    HaldaneAnscombe,
    /// No correction: report 0 or infinity for the ratio and its bounds.
    Infinite,
}

/// Chi-square form for the 2x2 table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Chi2Form {
    /// Yates continuity correction as in R `chisq.test` (default).
    #[default]
    Yates,
    /// Pearson chi-square without correction.
    Uncorrected,
}

/// Pearson chi-square of a 2x2 table (1 degree of freedom) with the R `chisq.test` Yates
/// rule. `None` when a margin is zero (an expected count of zero).
pub fn chi2_2x2(t: &TwoByTwo, form: Chi2Form) -> Option<f64> {
    let n = t.total() as f64;
    let obs = [t.a as f64, t.b as f64, t.c as f64, t.d as f64];
    let rows = [obs[0] + obs[1], obs[2] + obs[3]];
    let cols = [obs[0] + obs[2], obs[1] + obs[3]];
    let exp = [
        rows[0] * cols[0] / n,
        rows[0] * cols[1] / n,
        rows[1] * cols[0] / n,
        rows[1] * cols[1] / n,
    ];
    if exp.iter().any(|&e| !(e > 0.0)) {
        return None;
    }
    let yates = match form {
        Chi2Form::Yates => obs
            .iter()
            .zip(&exp)
            .map(|(o, e)| (o - e).abs())
            .fold(0.5_f64, f64::min),
        Chi2Form::Uncorrected => 0.0,
    };
    Some(
        obs.iter()
            .zip(&exp)
            .map(|(o, e)| {
                let d = (o - e).abs() - yates;
                d * d / e
            })
            .sum(),
    )
}

/// Applies the zero-cell rule; returns the cells as floats and whether 0.5 was added.
fn cells(t: &TwoByTwo, rule: ZeroCellRule) -> ([f64; 4], bool) {
    let raw = [t.a as f64, t.b as f64, t.c as f64, t.d as f64];
    let any_zero = raw.contains(&0.0);
    match rule {
        ZeroCellRule::HaldaneAnscombe if any_zero => (raw.map(|x| x + 0.5), true),
        _ => (raw, false),
    }
}

/// Proportional reporting ratio.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prr {
    pub prr: f64,
    /// Standard error of ln PRR (infinite when a zero cell is left uncorrected).
    pub se_ln: f64,
    pub lower: f64,
    pub upper: f64,
    pub level: f64,
    /// `None` when a margin of the table is zero.
    pub chi2: Option<f64>,
    pub chi2_p: Option<f64>,
    pub chi2_form: Chi2Form,
    /// True when 0.5 was added to every cell (Haldane-Anscombe).
    pub zero_cell_corrected: bool,
    /// Evans et al. 2001: PRR >= 2, chi2 >= 4 and a >= 3.
    pub evans_signal: bool,
}

/// PRR with its interval and chi-square.
pub fn prr(t: &TwoByTwo, level: f64, zero: ZeroCellRule, form: Chi2Form) -> Result<Prr> {
    check_level(level)?;
    if t.a + t.b == 0 || t.c + t.d == 0 {
        return Err(StatsError::Undefined(
            "PRR needs reports with and without the product".into(),
        ));
    }
    let ([a, b, c, d], corrected) = cells(t, zero);
    if a == 0.0 && c == 0.0 {
        return Err(StatsError::Undefined(
            "PRR is 0/0: the event is never reported".into(),
        ));
    }
    let z = z_for_level(level)?;
    let prr = (a / (a + b)) / (c / (c + d));
    let (se, lower, upper) = if a == 0.0 || c == 0.0 {
        // Uncorrected zero cell: the ratio is 0 or infinite and so is one bound.
        (f64::INFINITY, 0.0, f64::INFINITY)
    } else {
        let se = (1.0 / a - 1.0 / (a + b) + 1.0 / c - 1.0 / (c + d))
            .max(0.0)
            .sqrt();
        (se, (prr.ln() - z * se).exp(), (prr.ln() + z * se).exp())
    };
    let chi2 = chi2_2x2(t, form);
    Ok(Prr {
        prr,
        se_ln: se,
        lower,
        upper,
        level,
        chi2,
        chi2_p: chi2.map(|x| chi2_sf(x, 1.0)),
        chi2_form: form,
        zero_cell_corrected: corrected,
        evans_signal: prr >= 2.0 && chi2.is_some_and(|x| x >= 4.0) && t.a >= 3,
    })
}

/// Reporting odds ratio with the Woolf interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ror {
    pub ror: f64,
    pub se_ln: f64,
    pub lower: f64,
    pub upper: f64,
    pub level: f64,
    pub zero_cell_corrected: bool,
    /// Lower bound > 1 and a >= 3.
    pub signal: bool,
}

/// ROR = ad/(bc) with the Woolf interval.
pub fn ror(t: &TwoByTwo, level: f64, zero: ZeroCellRule) -> Result<Ror> {
    check_level(level)?;
    let ([a, b, c, d], corrected) = cells(t, zero);
    let (num, den) = (a * d, b * c);
    if num == 0.0 && den == 0.0 {
        return Err(StatsError::Undefined("ROR is 0/0".into()));
    }
    let z = z_for_level(level)?;
    let ror = num / den;
    let (se, lower, upper) = if num == 0.0 || den == 0.0 {
        (f64::INFINITY, 0.0, f64::INFINITY)
    } else {
        let se = (1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d).sqrt();
        (se, (ror.ln() - z * se).exp(), (ror.ln() + z * se).exp())
    };
    Ok(Ror {
        ror,
        se_ln: se,
        lower,
        upper,
        level,
        zero_cell_corrected: corrected,
        signal: lower > 1.0 && t.a >= 3,
    })
}

/// BCPNN information component, UMC shrinkage form.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ic {
    pub observed: u64,
    pub expected: f64,
    pub ic: f64,
    /// log2 of the (1-level)/2 gamma quantile; IC025 at level 0.95.
    pub lower: f64,
    /// log2 of the 1-(1-level)/2 gamma quantile; IC975 at level 0.95.
    pub upper: f64,
    pub level: f64,
    /// lower > 0.
    pub signal: bool,
}

/// IC = log2((O + 0.5)/(E + 0.5)) with exact gamma-quantile bounds.
pub fn ic(observed: u64, expected: f64, level: f64) -> Result<Ic> {
    check_level(level)?;
    if !(expected >= 0.0 && expected.is_finite()) {
        return Err(invalid(
            "expected",
            format!("must be finite and >= 0, got {expected}"),
        ));
    }
    let shape = observed as f64 + 0.5;
    let rate = expected + 0.5;
    let alpha = 1.0 - level;
    let lower = gamma_quantile(alpha / 2.0, shape, rate)?.log2();
    let upper = gamma_quantile(1.0 - alpha / 2.0, shape, rate)?.log2();
    Ok(Ic {
        observed,
        expected,
        ic: (shape / rate).log2(),
        lower,
        upper,
        level,
        signal: lower > 0.0,
    })
}

/// How reports are counted in the product x event table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CountingUnit {
    /// Each report counts once per cell, once per product and once per event margin.
    #[default]
    UniqueReports,
    /// Each distinct (report, product, event) row counts once everywhere (vigipy, PhViD).
    Pairs,
}

/// FxHash (rustc's hasher): a fast non-cryptographic hash. Keys are our own dense indices or
/// names from the caller's own files, so hash flooding is not a concern.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.hash
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(b as u64);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.hash = (self.hash.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A name as a hash-map key, kept inline up to 22 bytes (report ids usually are), so that a
/// million report ids are not a million allocations to make and then free.
#[derive(Debug, Clone)]
enum NameKey {
    Inline { len: u8, bytes: [u8; 22] },
    Heap(Box<[u8]>),
}

impl NameKey {
    fn new(s: &str) -> Self {
        let b = s.as_bytes();
        if b.len() <= 22 {
            let mut bytes = [0u8; 22];
            bytes[..b.len()].copy_from_slice(b);
            // Fits: len <= 22.
            NameKey::Inline {
                len: b.len() as u8,
                bytes,
            }
        } else {
            NameKey::Heap(b.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            NameKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            NameKey::Heap(b) => b,
        }
    }
}

// Hash and equality are those of the bytes, as `Borrow<[u8]>` requires.
impl std::hash::Hash for NameKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for NameKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for NameKey {}

impl std::borrow::Borrow<[u8]> for NameKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Interns strings to dense indices.
#[derive(Debug, Default, Clone)]
struct Interner {
    map: HashMap<NameKey, u32, BuildHasherDefault<FxHasher>>,
    /// Names by index; not kept for report ids, which are never printed (one allocation
    /// fewer per report).
    names: Vec<String>,
    keep_names: bool,
    len: u32,
    /// The last name looked up and its index: rows of one report usually follow each
    /// other, and comparing with the last name is cheaper than hashing it.
    last_name: String,
    last_index: Option<u32>,
}

impl Interner {
    fn with_names() -> Self {
        Interner {
            keep_names: true,
            ..Default::default()
        }
    }

    fn lookup(&self, s: &str) -> Option<u32> {
        match self.last_index {
            Some(i) if self.last_name == s => Some(i),
            _ => self.map.get(s.as_bytes()).copied(),
        }
    }

    fn get(&mut self, s: &str) -> Result<u32> {
        if let Some(i) = self.last_index {
            if self.last_name == s {
                return Ok(i);
            }
        }
        let i = match self.map.get(s.as_bytes()) {
            Some(&i) => i,
            None => {
                let i = self.len;
                self.len = self.len.checked_add(1).ok_or_else(|| {
                    StatsError::InvalidInput("more than 2^32 distinct names".into())
                })?;
                self.map.insert(NameKey::new(s), i);
                if self.keep_names {
                    self.names.push(s.to_string());
                }
                i
            }
        };
        self.last_name.clear();
        self.last_name.push_str(s);
        self.last_index = Some(i);
        Ok(i)
    }
}

/// Accumulates report rows (report id, product, event, optional stratum).
#[derive(Debug, Clone)]
pub struct ReportTableBuilder {
    reports: Interner,
    products: Interner,
    events: Interner,
    strata: Interner,
    rows: Vec<(u32, u32, u32)>,
    /// Stratum of each report (index into `strata`), u32::MAX when unset.
    report_stratum: Vec<u32>,
    /// Whether the rows carry strata (fixed by the first row).
    stratified: Option<bool>,
}

impl Default for ReportTableBuilder {
    fn default() -> Self {
        ReportTableBuilder {
            reports: Interner::default(),
            products: Interner::with_names(),
            events: Interner::with_names(),
            strata: Interner::with_names(),
            rows: Vec::new(),
            report_stratum: Vec::new(),
            stratified: None,
        }
    }
}

impl ReportTableBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for about `rows` rows (and as many report ids), so that
    /// large inputs are not rehashed and copied as they grow.
    pub fn with_capacity(rows: usize) -> Self {
        let mut b = Self::default();
        b.rows.reserve(rows);
        b.reports.map.reserve(rows);
        b.report_stratum.reserve(rows);
        b
    }

    /// Adds one (report, product, event) row, unstratified.
    pub fn add(&mut self, report: &str, product: &str, event: &str) -> Result<()> {
        self.add_row(report, product, event, None)
    }

    /// Adds one row with the stratum of its report (e.g. "2025|F|40-49"). A report must not
    /// appear in two strata, and either every row has a stratum or none has.
    pub fn add_stratified(
        &mut self,
        report: &str,
        product: &str,
        event: &str,
        stratum: &str,
    ) -> Result<()> {
        self.add_row(report, product, event, Some(stratum))
    }

    fn add_row(
        &mut self,
        report: &str,
        product: &str,
        event: &str,
        stratum: Option<&str>,
    ) -> Result<()> {
        // Validate before interning anything, so a rejected row leaves the builder unchanged.
        if self.stratified.is_some_and(|st| st != stratum.is_some()) {
            return Err(StatsError::InvalidInput(
                "some rows have a stratum and others do not".into(),
            ));
        }
        if let Some(st) = stratum {
            let known_stratum = self.strata.lookup(st);
            if let Some(r) = self.reports.lookup(report) {
                if known_stratum != Some(self.report_stratum[r as usize]) {
                    return Err(StatsError::InvalidInput(format!(
                        "report {report} appears in two strata"
                    )));
                }
            }
        }
        let s = match stratum {
            Some(s) => self.strata.get(s)?,
            None => u32::MAX,
        };
        let r = self.reports.get(report)?;
        if r as usize == self.report_stratum.len() {
            self.report_stratum.push(s);
        }
        let p = self.products.get(product)?;
        let e = self.events.get(event)?;
        self.stratified = Some(stratum.is_some());
        self.rows.push((r, p, e));
        Ok(())
    }

    /// Appends the rows of `other`, as if they had been added after this builder's own rows
    /// (e.g. another part of the same file read on another thread). The same checks apply:
    /// rows with and without strata do not mix, and a report keeps one stratum.
    pub fn merge(&mut self, other: ReportTableBuilder) -> Result<()> {
        if let (Some(a), Some(b)) = (self.stratified, other.stratified) {
            if a != b {
                return Err(StatsError::InvalidInput(
                    "some rows have a stratum and others do not".into(),
                ));
            }
        }
        let remap = |into: &mut Interner, from: &Interner| -> Result<Vec<u32>> {
            from.names.iter().map(|n| into.get(n)).collect()
        };
        let strata = remap(&mut self.strata, &other.strata)?;
        let products = remap(&mut self.products, &other.products)?;
        let events = remap(&mut self.events, &other.events)?;
        let stratum_of = |s: u32| -> u32 {
            if s == u32::MAX {
                s
            } else {
                strata[s as usize]
            }
        };
        // Report ids are only known through the map (their names are not kept); the order in
        // which new ones get their index does not change the table.
        let mut reports = vec![0u32; other.reports.len as usize];
        self.reports.map.reserve(other.reports.map.len());
        self.rows.reserve(other.rows.len());
        for (name, i) in other.reports.map {
            let s = stratum_of(other.report_stratum[i as usize]);
            let r = match self.reports.map.get(name.as_bytes()) {
                Some(&r) => {
                    if self.report_stratum[r as usize] != s {
                        return Err(StatsError::InvalidInput(format!(
                            "report {} appears in two strata",
                            String::from_utf8_lossy(name.as_bytes())
                        )));
                    }
                    r
                }
                None => {
                    let r = self.reports.len;
                    self.reports.len = r.checked_add(1).ok_or_else(|| {
                        StatsError::InvalidInput("more than 2^32 distinct names".into())
                    })?;
                    self.reports.map.insert(name, r);
                    self.report_stratum.push(s);
                    r
                }
            };
            reports[i as usize] = r;
        }
        self.rows.extend(other.rows.iter().map(|&(r, p, e)| {
            (
                reports[r as usize],
                products[p as usize],
                events[e as usize],
            )
        }));
        self.stratified = self.stratified.or(other.stratified);
        Ok(())
    }

    /// Builds the table of observed cells (a >= 1) with margins and expected counts.
    pub fn build(&self, unit: CountingUnit) -> Result<DisproTable> {
        self.clone().finish(unit)
    }

    /// As [`build`](Self::build), consuming the builder (no copy of the rows).
    pub fn finish(mut self, unit: CountingUnit) -> Result<DisproTable> {
        if self.rows.is_empty() {
            return Err(StatsError::Empty("report rows"));
        }
        let n_strata = self.strata.names.len().max(1);
        let stratum_of = |r: u32| -> usize {
            let s = self.report_stratum[r as usize];
            if s == u32::MAX {
                0
            } else {
                s as usize
            }
        };
        // Collapse duplicate rows; sorting by report groups each report's rows together.
        let mut rows = std::mem::take(&mut self.rows);
        rows.sort_unstable();
        rows.dedup();
        let np = self.products.names.len();
        let ne = self.events.names.len();
        // Margins per stratum, dense over products x strata and events x strata (small).
        let mut n_ps = vec![0u64; np * n_strata];
        let mut n_es = vec![0u64; ne * n_strata];
        let mut n_s = vec![0u64; n_strata];
        let mut cells: FxMap<(u32, u32), u64> = FxMap::default();
        match unit {
            CountingUnit::Pairs => {
                for &(r, p, e) in &rows {
                    let s = stratum_of(r);
                    n_ps[p as usize * n_strata + s] += 1;
                    n_es[e as usize * n_strata + s] += 1;
                    n_s[s] += 1;
                    *cells.entry((p, e)).or_insert(0) += 1;
                }
            }
            CountingUnit::UniqueReports => {
                // Rows are deduplicated, so each (report, product, event) is counted once per
                // cell; margins need distinct products and events within each report.
                let mut i = 0;
                let mut ps: Vec<u32> = Vec::new();
                let mut es: Vec<u32> = Vec::new();
                while i < rows.len() {
                    let r = rows[i].0;
                    let s = stratum_of(r);
                    ps.clear();
                    es.clear();
                    while i < rows.len() && rows[i].0 == r {
                        let (_, p, e) = rows[i];
                        ps.push(p);
                        es.push(e);
                        *cells.entry((p, e)).or_insert(0) += 1;
                        i += 1;
                    }
                    ps.sort_unstable();
                    ps.dedup();
                    es.sort_unstable();
                    es.dedup();
                    for &p in &ps {
                        n_ps[p as usize * n_strata + s] += 1;
                    }
                    for &e in &es {
                        n_es[e as usize * n_strata + s] += 1;
                    }
                    n_s[s] += 1;
                }
            }
        }
        let n_total: u64 = n_s.iter().sum();
        let n_p: Vec<u64> = (0..np)
            .map(|p| n_ps[p * n_strata..(p + 1) * n_strata].iter().sum())
            .collect();
        let n_e: Vec<u64> = (0..ne)
            .map(|e| n_es[e * n_strata..(e + 1) * n_strata].iter().sum())
            .collect();
        let stratified = !self.strata.names.is_empty();
        let mut out: Vec<Cell> = cells
            .into_iter()
            .map(|((p, e), a)| {
                let expected = if stratified {
                    (0..n_strata)
                        .filter(|&s| n_s[s] > 0)
                        .map(|s| {
                            n_ps[p as usize * n_strata + s] as f64
                                * n_es[e as usize * n_strata + s] as f64
                                / n_s[s] as f64
                        })
                        .sum()
                } else {
                    n_p[p as usize] as f64 * n_e[e as usize] as f64 / n_total as f64
                };
                Cell {
                    product: p,
                    event: e,
                    a,
                    n_product: n_p[p as usize],
                    n_event: n_e[e as usize],
                    expected,
                }
            })
            .collect();
        // Deterministic order regardless of hash iteration order.
        out.sort_unstable_by_key(|c| (c.product, c.event));
        Ok(DisproTable {
            products: std::mem::take(&mut self.products.names),
            events: std::mem::take(&mut self.events.names),
            unit,
            stratified,
            n_strata: self.strata.names.len(),
            n_total,
            cells: out,
        })
    }
}

/// One observed product-event cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cell {
    pub product: u32,
    pub event: u32,
    /// Reports (or pairs) with both.
    pub a: u64,
    pub n_product: u64,
    pub n_event: u64,
    /// Expected count: crude, or summed over strata when the table is stratified.
    pub expected: f64,
}

/// The product x event table of observed cells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DisproTable {
    pub products: Vec<String>,
    pub events: Vec<String>,
    pub unit: CountingUnit,
    pub stratified: bool,
    pub n_strata: usize,
    /// Reports (or pairs) in total.
    pub n_total: u64,
    pub cells: Vec<Cell>,
}

impl DisproTable {
    /// The unstratified table of unique reports from counts made elsewhere (e.g. grouped
    /// in a database), for data in which each report names exactly one product:
    /// `cells` are (product index, event index, reports with both), `n_product[p]` the
    /// reports naming product `p` (with at least one event). The event margins and N follow:
    /// a report counts once per event, so `n_event[e]` is the sum of its cells, and once in
    /// all, so N is the sum of `n_product`. Cells with a = 0 are left out. The table equals
    /// what [`ReportTableBuilder`] builds from the same reports with
    /// [`CountingUnit::UniqueReports`], expected counts included bit for bit.
    pub fn from_product_counts(
        products: Vec<String>,
        events: Vec<String>,
        n_product: &[u64],
        cells: &[(u32, u32, u64)],
    ) -> Result<DisproTable> {
        if n_product.len() != products.len() {
            return Err(StatsError::InvalidInput(format!(
                "{} product totals for {} products",
                n_product.len(),
                products.len()
            )));
        }
        let mut n_e = vec![0u64; events.len()];
        let mut seen: FxMap<(u32, u32), ()> = FxMap::default();
        let mut within = vec![0u64; products.len()];
        for &(p, e, a) in cells {
            if p as usize >= products.len() || e as usize >= events.len() {
                return Err(StatsError::InvalidInput(format!(
                    "cell ({p}, {e}) outside {} products and {} events",
                    products.len(),
                    events.len()
                )));
            }
            if seen.insert((p, e), ()).is_some() {
                return Err(StatsError::InvalidInput(format!(
                    "cell ({p}, {e}) given twice"
                )));
            }
            n_e[e as usize] += a;
            within[p as usize] = within[p as usize].max(a);
        }
        if let Some(p) = (0..products.len()).find(|&p| within[p] > n_product[p]) {
            return Err(StatsError::InvalidInput(format!(
                "product {} has a cell larger than its {} reports",
                products[p], n_product[p]
            )));
        }
        let n_total: u64 = n_product.iter().sum();
        if n_total == 0 {
            return Err(StatsError::Empty("report rows"));
        }
        let mut out: Vec<Cell> = cells
            .iter()
            .filter(|c| c.2 > 0)
            .map(|&(p, e, a)| Cell {
                product: p,
                event: e,
                a,
                n_product: n_product[p as usize],
                n_event: n_e[e as usize],
                expected: n_product[p as usize] as f64 * n_e[e as usize] as f64 / n_total as f64,
            })
            .collect();
        out.sort_unstable_by_key(|c| (c.product, c.event));
        Ok(DisproTable {
            products,
            events,
            unit: CountingUnit::UniqueReports,
            stratified: false,
            n_strata: 0,
            n_total,
            cells: out,
        })
    }

    /// The crude 2x2 table of a cell.
    pub fn two_by_two(&self, cell: &Cell) -> TwoByTwo {
        let b = cell.n_product - cell.a;
        let c = cell.n_event - cell.a;
        TwoByTwo {
            a: cell.a,
            b,
            c,
            d: self.n_total - cell.a - b - c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_reports_vs_pairs() {
        let mut b = ReportTableBuilder::new();
        // r1: two products, one event; r2: one product, two events; r3 duplicate rows.
        for (r, p, e) in [
            ("r1", "P1", "E1"),
            ("r1", "P2", "E1"),
            ("r2", "P1", "E1"),
            ("r2", "P1", "E2"),
            ("r3", "P2", "E2"),
            ("r3", "P2", "E2"),
        ] {
            b.add(r, p, e).expect("row");
        }
        let t = b.build(CountingUnit::UniqueReports).expect("table");
        assert_eq!(t.n_total, 3);
        let c = t
            .cells
            .iter()
            .find(|c| c.product == 0 && c.event == 0)
            .expect("P1E1");
        assert_eq!((c.a, c.n_product, c.n_event), (2, 2, 2));
        assert!((c.expected - 4.0 / 3.0).abs() < 1e-15);
        let t2 = b.build(CountingUnit::Pairs).expect("table");
        assert_eq!(t2.n_total, 5);
        let c = t2
            .cells
            .iter()
            .find(|c| c.product == 0 && c.event == 0)
            .expect("P1E1");
        assert_eq!((c.a, c.n_product, c.n_event), (2, 3, 3));
        assert!((c.expected - 9.0 / 5.0).abs() < 1e-15);
        let tt = t2.two_by_two(c);
        assert_eq!(tt.total(), 5);
    }

    #[test]
    fn stratified_expected_sums_over_strata() {
        let mut b = ReportTableBuilder::new();
        b.add_stratified("r1", "P", "E", "s1").expect("row");
        b.add_stratified("r2", "Q", "E", "s1").expect("row");
        b.add_stratified("r3", "P", "F", "s2").expect("row");
        b.add_stratified("r4", "P", "E", "s2").expect("row");
        assert!(b.add_stratified("r1", "Q", "F", "s2").is_err());
        assert!(b.add("r9", "Q", "F").is_err());
        let mut u = ReportTableBuilder::new();
        u.add("r1", "P", "E").expect("row");
        assert!(u.add_stratified("r2", "P", "E", "s1").is_err());
        u.add("r2", "P", "E")
            .expect("builder still usable after a rejected row");
        let t = b.build(CountingUnit::UniqueReports).expect("table");
        let c = t
            .cells
            .iter()
            .find(|c| c.product == 0 && c.event == 0)
            .expect("PE");
        // s1: n_P=1, n_E=2, N=2 -> 1; s2: n_P=2, n_E=1, N=2 -> 1.
        assert!((c.expected - 2.0).abs() < 1e-15);
        assert!(t.stratified);
    }

    #[test]
    fn merged_builders_equal_one_builder() {
        // Rows of a small file with repeated reports, cut in three parts at every position.
        let rows: Vec<(String, String, String, String)> = (0..40)
            .map(|i| {
                (
                    format!("r{}", (i * 7) % 13),
                    format!("P{}", (i * 5) % 6),
                    format!("E{}", (i * 3) % 4),
                    format!("s{}", ((i * 7) % 13) % 3),
                )
            })
            .collect();
        for stratified in [false, true] {
            let add = |b: &mut ReportTableBuilder, r: &(String, String, String, String)| {
                if stratified {
                    b.add_stratified(&r.0, &r.1, &r.2, &r.3)
                } else {
                    b.add(&r.0, &r.1, &r.2)
                }
            };
            let mut one = ReportTableBuilder::new();
            for r in &rows {
                add(&mut one, r).expect("row");
            }
            for cut1 in 0..rows.len() {
                let cut2 = (cut1 + 11).min(rows.len());
                let mut parts = [
                    ReportTableBuilder::new(),
                    ReportTableBuilder::new(),
                    ReportTableBuilder::new(),
                ];
                for (i, r) in rows.iter().enumerate() {
                    let k = usize::from(i >= cut1) + usize::from(i >= cut2);
                    add(&mut parts[k], r).expect("row");
                }
                let [mut m, p2, p3] = parts;
                m.merge(p2).expect("merge");
                m.merge(p3).expect("merge");
                for unit in [CountingUnit::UniqueReports, CountingUnit::Pairs] {
                    assert_eq!(
                        m.build(unit).expect("table"),
                        one.build(unit).expect("table"),
                        "cut at {cut1}, {cut2}"
                    );
                }
            }
        }
        // The checks of add_stratified hold across parts too.
        let mut a = ReportTableBuilder::new();
        a.add_stratified("r1", "P", "E", "s1").expect("row");
        let mut b = ReportTableBuilder::new();
        b.add_stratified("r1", "P", "F", "s2").expect("row");
        assert!(a.clone().merge(b).is_err());
        let mut c = ReportTableBuilder::new();
        c.add("r2", "P", "E").expect("row");
        assert!(a.merge(c).is_err());
    }

    #[test]
    fn counts_made_elsewhere_give_the_builders_table() {
        // Each report names one product and one to three events, some repeated.
        let mut b = ReportTableBuilder::new();
        let mut n_product = [0u64; 7];
        let mut cells: std::collections::BTreeMap<(u32, u32), u64> = Default::default();
        for r in 0..400u32 {
            let p = (r * 7 + r / 5) % 7;
            let k = 1 + r % 3;
            let mut es: Vec<u32> = (0..k).map(|j| (r * 3 + j * 5 + p) % 11).collect();
            for &e in &es {
                b.add(&format!("r{r}"), &format!("P{p}"), &format!("E{e}"))
                    .expect("row");
            }
            es.sort_unstable();
            es.dedup();
            n_product[p as usize] += 1;
            for e in es {
                *cells.entry((p, e)).or_insert(0) += 1;
            }
        }
        let built = b.build(CountingUnit::UniqueReports).expect("table");
        // Name the products and events as the builder did, then give the counts.
        let pi = |name: &str| built.products.iter().position(|x| x == name).expect("p") as u32;
        let ei = |name: &str| built.events.iter().position(|x| x == name).expect("e") as u32;
        let counts: Vec<(u32, u32, u64)> = cells
            .iter()
            .map(|(&(p, e), &a)| (pi(&format!("P{p}")), ei(&format!("E{e}")), a))
            .collect();
        let mut totals = vec![0u64; built.products.len()];
        for (p, n) in n_product.iter().enumerate() {
            totals[pi(&format!("P{p}")) as usize] = *n;
        }
        let from = DisproTable::from_product_counts(
            built.products.clone(),
            built.events.clone(),
            &totals,
            &counts,
        )
        .expect("table");
        assert_eq!(from, built);
        // Inconsistent counts are refused.
        assert!(DisproTable::from_product_counts(
            vec!["P".into()],
            vec!["E".into()],
            &[1],
            &[(0, 0, 2)]
        )
        .is_err());
        assert!(DisproTable::from_product_counts(
            vec!["P".into()],
            vec!["E".into()],
            &[3],
            &[(0, 0, 2), (0, 0, 1)]
        )
        .is_err());
        assert!(
            DisproTable::from_product_counts(vec!["P".into()], vec!["E".into()], &[0], &[])
                .is_err()
        );
    }

    #[test]
    fn too_small_for_mgps_still_scores() {
        let mut b = ReportTableBuilder::new();
        b.add("r1", "P", "E").expect("row");
        b.add("r2", "Q", "F").expect("row");
        b.add("r3", "P", "F").expect("row");
        let t = b.build(CountingUnit::UniqueReports).expect("table");
        let r = signals(&t, &SignalOptions::default()).expect("signals");
        assert!(r.mgps_fit.is_none() && r.notes.len() == 1);
        assert!(r
            .rows
            .iter()
            .all(|row| row.ebgm.is_none() && row.ic.is_some()));
    }

    #[test]
    fn zero_cells_follow_the_stated_rule() {
        // a = 0: corrected PRR is finite and small; uncorrected it is 0 with bound 0.
        let t = TwoByTwo {
            a: 0,
            b: 50,
            c: 20,
            d: 930,
        };
        let p = prr(&t, 0.95, ZeroCellRule::HaldaneAnscombe, Chi2Form::Yates).expect("prr");
        assert!(p.zero_cell_corrected && p.prr > 0.0 && p.prr.is_finite());
        let expect = (0.5 / 51.0) / (20.5 / 951.0);
        assert!((p.prr - expect).abs() < 1e-15);
        assert!(!p.evans_signal);
        let p = prr(&t, 0.95, ZeroCellRule::Infinite, Chi2Form::Yates).expect("prr");
        assert_eq!((p.prr, p.lower), (0.0, 0.0));
        assert!(p.upper.is_infinite());
        // b = 0: ROR infinite without correction, finite with.
        let t = TwoByTwo {
            a: 5,
            b: 0,
            c: 20,
            d: 975,
        };
        let r = ror(&t, 0.95, ZeroCellRule::Infinite).expect("ror");
        assert!(r.ror.is_infinite());
        let r = ror(&t, 0.95, ZeroCellRule::HaldaneAnscombe).expect("ror");
        assert!((r.ror - (5.5 * 975.5) / (0.5 * 20.5)).abs() < 1e-9);
        // c = 0: PRR infinite without correction.
        let t = TwoByTwo {
            a: 5,
            b: 45,
            c: 0,
            d: 950,
        };
        let p = prr(&t, 0.95, ZeroCellRule::Infinite, Chi2Form::Yates).expect("prr");
        assert!(p.prr.is_infinite() && p.upper.is_infinite());
        let p = prr(&t, 0.95, ZeroCellRule::HaldaneAnscombe, Chi2Form::Yates).expect("prr");
        assert!(p.prr.is_finite() && p.zero_cell_corrected);
        // a = c = 0 is undefined uncorrected.
        let t = TwoByTwo {
            a: 0,
            b: 45,
            c: 0,
            d: 950,
        };
        assert!(prr(&t, 0.95, ZeroCellRule::Infinite, Chi2Form::Yates).is_err());
        // The chi-square has a zero margin there.
        assert!(chi2_2x2(&t, Chi2Form::Yates).is_none());
    }
}

/// Which methods [`signals`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Methods {
    pub prr: bool,
    pub ror: bool,
    pub ic: bool,
    pub ebgm: bool,
}

impl Default for Methods {
    fn default() -> Self {
        Methods {
            prr: true,
            ror: true,
            ic: true,
            ebgm: true,
        }
    }
}

/// Options of [`signals`].
#[derive(Debug, Clone, PartialEq)]
pub struct SignalOptions {
    pub methods: Methods,
    pub level: f64,
    pub zero_cell: ZeroCellRule,
    pub chi2: Chi2Form,
    /// Options of the MGPS fit (its `threads` is set from `threads` below).
    pub mgps: crate::mgps::MgpsOptions,
    /// Threads for the per-cell scores and the MGPS likelihood (the caller decides).
    pub threads: usize,
    /// Score and return only cells with at least this many reports (or pairs). The MGPS
    /// prior is still fitted on every observed cell, so the scores do not depend on it.
    pub min_count: u64,
}

impl Default for SignalOptions {
    fn default() -> Self {
        SignalOptions {
            methods: Methods::default(),
            level: 0.95,
            zero_cell: ZeroCellRule::default(),
            chi2: Chi2Form::default(),
            mgps: crate::mgps::MgpsOptions::default(),
            threads: 1,
            min_count: 1,
        }
    }
}

/// Scores of one product-event cell. A method that is undefined for the cell is `None`, with
/// the reason in `notes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalRow {
    pub product: String,
    pub event: String,
    pub table: TwoByTwo,
    /// Expected count used by IC and EBGM (stratified when the table is).
    pub expected: f64,
    pub prr: Option<Prr>,
    pub ror: Option<Ror>,
    pub ic: Option<Ic>,
    pub ebgm: Option<crate::mgps::Ebgm>,
    pub notes: Vec<String>,
}

/// All scores over a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalReport {
    pub unit: CountingUnit,
    pub stratified: bool,
    pub n_total: u64,
    pub zero_cell: ZeroCellRule,
    pub chi2: Chi2Form,
    pub mgps_fit: Option<crate::mgps::MgpsFit>,
    /// Why a requested method is missing for the whole table (e.g. too few cells for MGPS).
    pub notes: Vec<String>,
    pub rows: Vec<SignalRow>,
}

fn keep<T>(notes: &mut Vec<String>, name: &str, r: Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            notes.push(format!("{name}: {e}"));
            None
        }
    }
}

/// Computes the requested scores for every observed cell of the table with at least
/// `opts.min_count` reports.
pub fn signals(table: &DisproTable, opts: &SignalOptions) -> Result<SignalReport> {
    check_level(opts.level)?;
    let mut report_notes = Vec::new();
    let fit = if opts.methods.ebgm {
        let n: Vec<u64> = table.cells.iter().map(|c| c.a).collect();
        let e: Vec<f64> = table.cells.iter().map(|c| c.expected).collect();
        let mut mo = opts.mgps.clone();
        mo.threads = opts.threads.max(1);
        // A table too small or too flat for the prior fit still gets the other scores.
        match crate::mgps::fit_prior(&n, &e, &mo) {
            Ok(f) => Some(f),
            Err(err @ (StatsError::Undefined(_) | StatsError::NoConvergence(_))) => {
                report_notes.push(format!("ebgm not computed: {err}"));
                None
            }
            Err(err) => return Err(err),
        }
    } else {
        None
    };
    let score = |cell: &Cell| -> SignalRow {
        let t = table.two_by_two(cell);
        let mut notes = Vec::new();
        let prr_v = if opts.methods.prr {
            keep(
                &mut notes,
                "prr",
                prr(&t, opts.level, opts.zero_cell, opts.chi2),
            )
        } else {
            None
        };
        let ror_v = if opts.methods.ror {
            keep(&mut notes, "ror", ror(&t, opts.level, opts.zero_cell))
        } else {
            None
        };
        let ic_v = if opts.methods.ic {
            keep(&mut notes, "ic", ic(cell.a, cell.expected, opts.level))
        } else {
            None
        };
        let eb = match &fit {
            Some(f) => keep(
                &mut notes,
                "ebgm",
                crate::mgps::ebgm(&f.prior, cell.a, cell.expected),
            ),
            None => None,
        };
        SignalRow {
            product: table.products[cell.product as usize].clone(),
            event: table.events[cell.event as usize].clone(),
            table: t,
            expected: cell.expected,
            prr: prr_v,
            ror: ror_v,
            ic: ic_v,
            ebgm: eb,
            notes,
        }
    };
    // Cells below the minimum count are not scored at all: in large tables most cells are
    // singletons, and their posterior quantiles would be the bulk of the work.
    let wanted: Vec<&Cell> = table
        .cells
        .iter()
        .filter(|c| c.a >= opts.min_count)
        .collect();
    // Cells are independent: contiguous chunks on scoped threads keep the output order.
    let threads = opts.threads.clamp(1, 64).min(wanted.len() / 1000 + 1);
    let rows: Vec<SignalRow> = if threads <= 1 {
        wanted.iter().map(|c| score(c)).collect()
    } else {
        let chunk = wanted.len().div_ceil(threads);
        std::thread::scope(|sc| {
            let handles: Vec<_> = wanted
                .chunks(chunk)
                .map(|cells| sc.spawn(|| cells.iter().map(|c| score(c)).collect::<Vec<_>>()))
                .collect();
            let mut rows = Vec::with_capacity(wanted.len());
            for h in handles {
                match h.join() {
                    Ok(part) => rows.extend(part),
                    Err(_) => return Err(StatsError::InvalidInput("worker thread failed".into())),
                }
            }
            Ok(rows)
        })?
    };
    Ok(SignalReport {
        unit: table.unit,
        stratified: table.stratified,
        n_total: table.n_total,
        zero_cell: opts.zero_cell,
        chi2: opts.chi2,
        mgps_fit: fit,
        notes: report_notes,
        rows,
    })
}
