//! Monitoring KPIs as data (DHIS2 style): a KPI is a named numerator and optional denominator
//! over the sums of deployments' periodic monitoring reports, computed for any administrative
//! level (nation, province, commune, facility) and any period.
//!
//! Definitions live in TOML files in `crates/vigilo-core/kpis/`, one per clinical area plus
//! `common.toml` for the KPIs every tool gets. They are embedded with `include_str!` and
//! validated at load ([`KpiCatalogue::builtin`]); [`parse_kpi_file`] takes any `&str` so tests
//! can feed broken files. The catalogue, the format and the small-cell rule for public tables
//! are documented in `docs/kpis.md`; keep the two in step.
//!
//! Pure code: no I/O, no clock, no environment.

use crate::appraisal::KpiDuty;
use crate::directory::{ClinicalArea, UnknownCode};
use crate::Lang;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// The KPI files shipped with Vigilo: (file name relative to `kpis/`, content).
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("common.toml", include_str!("../kpis/common.toml")),
    (
        "tuberculosis_screening.toml",
        include_str!("../kpis/tuberculosis_screening.toml"),
    ),
    (
        "cardiovascular_risk.toml",
        include_str!("../kpis/cardiovascular_risk.toml"),
    ),
    (
        "nutrition_counselling.toml",
        include_str!("../kpis/nutrition_counselling.toml"),
    ),
    (
        "acute_kidney_injury.toml",
        include_str!("../kpis/acute_kidney_injury.toml"),
    ),
    (
        "respiratory_distress.toml",
        include_str!("../kpis/respiratory_distress.toml"),
    ),
    (
        "virtual_assistant.toml",
        include_str!("../kpis/virtual_assistant.toml"),
    ),
];

/// The value a file's `clinical_area` takes for KPIs that apply to every tool.
pub const ALL_AREAS: &str = "all";

/// Longest KPI id or counter name; the same limit `KpiDuty` validation in `appraisal` uses.
pub const MAX_ID: usize = 64;

/// Most terms in one expression: KPIs are short sums, and a long one is a typo.
pub const MAX_TERMS: usize = 16;

/// Standard normal quantile for a two-sided 95% interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

// ---------------------------------------------------------------------------------------------
// Totals
// ---------------------------------------------------------------------------------------------

/// Sums of monitoring reports over some set of deployments and periods.
///
/// `tp`, `fp`, `fn_`, `tn` count only uses whose outcome was verified. `counters` holds the
/// extra counters a product declares (e.g. `unsafe_answers`, `confirmatory_tests`); a product
/// that declares a counter reports it even when it is 0, so an absent key means "not collected"
/// and a KPI that needs it has no data, rather than a misleading 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Totals {
    pub uses: u64,
    pub positives: u64,
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub tn: u64,
    pub overrides: u64,
    pub escalations: u64,
    pub downtime_minutes: u64,
    /// Number of period reports summed; 0 means nothing was reported.
    pub reports: u64,
    /// Facilities contributing. [`Totals::add`] sums it, which is right for disjoint sets of
    /// facilities (communes of a province, one period); across periods the caller must set the
    /// distinct count instead.
    pub facilities: u64,
    pub counters: BTreeMap<String, u64>,
}

impl Totals {
    /// Adds another set of totals. Saturates instead of overflowing: a sum past `u64::MAX`
    /// is impossible for real reports, and a panic in a report page would be worse.
    pub fn add(&mut self, other: &Totals) {
        self.uses = self.uses.saturating_add(other.uses);
        self.positives = self.positives.saturating_add(other.positives);
        self.tp = self.tp.saturating_add(other.tp);
        self.fp = self.fp.saturating_add(other.fp);
        self.fn_ = self.fn_.saturating_add(other.fn_);
        self.tn = self.tn.saturating_add(other.tn);
        self.overrides = self.overrides.saturating_add(other.overrides);
        self.escalations = self.escalations.saturating_add(other.escalations);
        self.downtime_minutes = self.downtime_minutes.saturating_add(other.downtime_minutes);
        self.reports = self.reports.saturating_add(other.reports);
        self.facilities = self.facilities.saturating_add(other.facilities);
        for (name, v) in &other.counters {
            let slot = self.counters.entry(name.clone()).or_insert(0);
            *slot = slot.saturating_add(*v);
        }
    }

    /// Outcomes verified: `tp + fp + fn + tn`.
    pub fn verified(&self) -> u64 {
        self.tp
            .saturating_add(self.fp)
            .saturating_add(self.fn_)
            .saturating_add(self.tn)
    }

    /// The value of one built-in field.
    pub fn field(&self, f: Field) -> u64 {
        match f {
            Field::Uses => self.uses,
            Field::Positives => self.positives,
            Field::Tp => self.tp,
            Field::Fp => self.fp,
            Field::Fn => self.fn_,
            Field::Tn => self.tn,
            Field::Verified => self.verified(),
            Field::Overrides => self.overrides,
            Field::Escalations => self.escalations,
            Field::DowntimeMinutes => self.downtime_minutes,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------

/// A built-in field of [`Totals`] an expression may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Uses,
    Positives,
    Tp,
    Fp,
    Fn,
    Tn,
    /// `tp + fp + fn + tn`.
    Verified,
    Overrides,
    Escalations,
    DowntimeMinutes,
}

impl Field {
    pub const ALL: &'static [Field] = &[
        Field::Uses,
        Field::Positives,
        Field::Tp,
        Field::Fp,
        Field::Fn,
        Field::Tn,
        Field::Verified,
        Field::Overrides,
        Field::Escalations,
        Field::DowntimeMinutes,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Field::Uses => "uses",
            Field::Positives => "positives",
            Field::Tp => "tp",
            Field::Fp => "fp",
            Field::Fn => "fn",
            Field::Tn => "tn",
            Field::Verified => "verified",
            Field::Overrides => "overrides",
            Field::Escalations => "escalations",
            Field::DowntimeMinutes => "downtime_minutes",
        }
    }

    /// The base fields this one sums, so that `verified + tp` is caught as a double count.
    fn atoms(self) -> &'static [Field] {
        match self {
            Field::Verified => &[Field::Tp, Field::Fp, Field::Fn, Field::Tn],
            Field::Uses => &[Field::Uses],
            Field::Positives => &[Field::Positives],
            Field::Tp => &[Field::Tp],
            Field::Fp => &[Field::Fp],
            Field::Fn => &[Field::Fn],
            Field::Tn => &[Field::Tn],
            Field::Overrides => &[Field::Overrides],
            Field::Escalations => &[Field::Escalations],
            Field::DowntimeMinutes => &[Field::DowntimeMinutes],
        }
    }
}

/// One term of a sum: a built-in field or a product's named counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Term {
    Field(Field),
    Counter(String),
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Field(x) => f.write_str(x.code()),
            Term::Counter(name) => write!(f, "counter:{name}"),
        }
    }
}

/// Why an expression does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    #[error("the expression is empty")]
    Empty,
    #[error("a '+' has no term on one side")]
    MissingTerm,
    #[error("unknown term '{0}': expected one of uses, positives, tp, fp, fn, tn, verified, overrides, escalations, downtime_minutes, or counter:<name>")]
    UnknownTerm(String),
    #[error("'{0}' is not a valid counter name (1 to 64 lower-case letters, digits and '_', starting with a letter)")]
    BadCounterName(String),
    #[error("'{0}' is counted twice (note that verified = tp + fp + fn + tn)")]
    CountedTwice(String),
    #[error("more than {MAX_TERMS} terms")]
    TooManyTerms,
}

/// A sum of terms, e.g. `tp + fp` or `counter:confirmatory_tests`. Serialised as its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Expr {
    terms: Vec<Term>,
}

/// Ids and counter names: `[a-z][a-z0-9_]*`, at most [`MAX_ID`] characters; the shape
/// `appraisal::LicenceConditions::validate` accepts for a KPI duty.
pub fn is_valid_code(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && s.len() <= MAX_ID
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        if text.trim().is_empty() {
            return Err(ExprError::Empty);
        }
        let mut terms = Vec::new();
        let mut atoms: BTreeSet<Field> = BTreeSet::new();
        let mut counters: BTreeSet<String> = BTreeSet::new();
        for raw in text.split('+') {
            let t = raw.trim();
            if t.is_empty() {
                return Err(ExprError::MissingTerm);
            }
            if terms.len() == MAX_TERMS {
                return Err(ExprError::TooManyTerms);
            }
            let term = if let Some(name) = t.strip_prefix("counter:") {
                let name = name.trim();
                if !is_valid_code(name) {
                    return Err(ExprError::BadCounterName(short(name)));
                }
                if !counters.insert(name.to_owned()) {
                    return Err(ExprError::CountedTwice(t.to_owned()));
                }
                Term::Counter(name.to_owned())
            } else {
                let field = Field::ALL
                    .iter()
                    .copied()
                    .find(|f| f.code() == t)
                    .ok_or_else(|| ExprError::UnknownTerm(short(t)))?;
                for a in field.atoms() {
                    if !atoms.insert(*a) {
                        return Err(ExprError::CountedTwice(t.to_owned()));
                    }
                }
                Term::Field(field)
            };
            terms.push(term);
        }
        Ok(Expr { terms })
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The counters this expression reads.
    pub fn counters(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().filter_map(|t| match t {
            Term::Counter(n) => Some(n.as_str()),
            Term::Field(_) => None,
        })
    }

    /// The sum over `totals`; `None` when a counter it needs was not collected.
    pub fn eval(&self, totals: &Totals) -> Option<u64> {
        let mut sum = 0u64;
        for t in &self.terms {
            let v = match t {
                Term::Field(f) => totals.field(*f),
                Term::Counter(name) => *totals.counters.get(name)?,
            };
            sum = sum.saturating_add(v);
        }
        Some(sum)
    }
}

/// Error messages quote the user's text, but not an unbounded amount of it.
fn short(s: &str) -> String {
    s.chars().take(60).collect()
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" + ")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl FromStr for Expr {
    type Err = ExprError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Expr::parse(s)
    }
}

impl From<Expr> for String {
    fn from(e: Expr) -> String {
        e.to_string()
    }
}

impl TryFrom<String> for Expr {
    type Error = ExprError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Expr::parse(&s)
    }
}

// ---------------------------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------------------------

/// Which way is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
    /// Neither extreme is good in itself (e.g. override rate: a high rate suggests a poor
    /// tool, a rate near 0 suggests automation bias); such a KPI has no target.
    Neutral,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::HigherIsBetter => "higher_is_better",
            Direction::LowerIsBetter => "lower_is_better",
            Direction::Neutral => "neutral",
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Direction::HigherIsBetter, Lang::Vi) => "Càng cao càng tốt",
            (Direction::HigherIsBetter, Lang::En) => "Higher is better",
            (Direction::LowerIsBetter, Lang::Vi) => "Càng thấp càng tốt",
            (Direction::LowerIsBetter, Lang::En) => "Lower is better",
            (Direction::Neutral, Lang::Vi) => "Trung tính",
            (Direction::Neutral, Lang::En) => "Neutral",
        }
    }

    /// Whether `value` meets `target`; `None` for a neutral KPI.
    pub fn meets(self, value: f64, target: f64) -> Option<bool> {
        match self {
            Direction::HigherIsBetter => Some(value >= target),
            Direction::LowerIsBetter => Some(value <= target),
            Direction::Neutral => None,
        }
    }
}

/// One KPI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiDefinition {
    pub id: String,
    /// Vietnamese name.
    pub name: String,
    pub name_en: String,
    /// `None`: every tool gets this KPI whatever its clinical area.
    pub clinical_area: Option<ClinicalArea>,
    pub numerator: Expr,
    /// `None`: the KPI is a plain count (the numerator times `scale`).
    pub denominator: Option<Expr>,
    /// The numerator counts a subset of what the denominator counts, so the value is a
    /// proportion and gets a Wilson interval.
    pub proportion: bool,
    /// The ratio is multiplied by this: 100 for a percentage, 1000 for "per 1,000".
    pub scale: u32,
    /// Vietnamese unit label, e.g. `%` or `lượt`.
    pub unit: String,
    pub unit_en: String,
    pub direction: Direction,
    /// Default target on the KPI's scale (85 means 85% when `scale` is 100); a licence may set
    /// its own through `KpiDuty`.
    pub target: Option<f64>,
    /// Below this denominator the value is not shown: too few to mean anything.
    pub min_denominator: u64,
    pub description: String,
    pub description_en: String,
}

impl KpiDefinition {
    pub fn name(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.name,
            Lang::En => &self.name_en,
        }
    }

    pub fn unit(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.unit,
            Lang::En => &self.unit_en,
        }
    }

    pub fn description(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.description,
            Lang::En => &self.description_en,
        }
    }

    /// The formula as text, e.g. `100 × (tp) / (tp + fp)`.
    pub fn formula(&self) -> String {
        match &self.denominator {
            None if self.scale == 1 => self.numerator.to_string(),
            None => format!("{} × ({})", self.scale, self.numerator),
            Some(d) if self.scale == 1 => format!("({}) / ({d})", self.numerator),
            Some(d) => format!("{} × ({}) / ({d})", self.scale, self.numerator),
        }
    }

    /// Whether `value` meets this KPI's default target; `None` without a target.
    pub fn meets_target(&self, value: f64) -> Option<bool> {
        self.direction.meets(value, self.target?)
    }

    /// The checks a target must pass, whether it comes from the file or from a licence.
    fn check_target(&self, target: f64) -> Result<(), TargetError> {
        if !target.is_finite() {
            return Err(TargetError::NotFinite);
        }
        if self.direction == Direction::Neutral {
            return Err(TargetError::Neutral);
        }
        if target < 0.0 {
            return Err(TargetError::Negative);
        }
        if self.proportion {
            let scale = f64::from(self.scale);
            if target > scale {
                return Err(TargetError::AboveScale { scale: self.scale });
            }
            // A target every possible value meets is a mistake, usually a fraction written
            // on a percentage scale the other way round.
            let trivial = match self.direction {
                Direction::HigherIsBetter => target == 0.0,
                Direction::LowerIsBetter => target == scale,
                Direction::Neutral => false,
            };
            if trivial {
                return Err(TargetError::AlwaysMet);
            }
        }
        Ok(())
    }
}

/// A target that does not fit its KPI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the target is not a finite number")]
    NotFinite,
    #[error("a neutral KPI has no target")]
    Neutral,
    #[error("the target is negative")]
    Negative,
    #[error("the target is above the KPI's scale ({scale}); targets are on the KPI's scale, e.g. 85 for 85%")]
    AboveScale { scale: u32 },
    #[error("every possible value meets this target")]
    AlwaysMet,
}

/// What is wrong with a KPI file or one definition in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("not valid TOML or unexpected field: {0}")]
    Toml(String),
    #[error("clinical_area: {0} (or '{ALL_AREAS}')")]
    ClinicalArea(UnknownCode),
    #[error("'{0}' is not a valid KPI id (1 to 64 lower-case letters, digits and '_', starting with a letter)")]
    BadId(String),
    #[error("id already defined in {0}")]
    DuplicateId(String),
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{field}: {error}")]
    Expr {
        field: &'static str,
        error: ExprError,
    },
    #[error("scale must be greater than 0")]
    ZeroScale,
    #[error("a proportion needs a denominator")]
    ProportionWithoutDenominator,
    #[error("min_denominator only applies to a KPI with a denominator")]
    MinDenominatorOnCount,
    #[error("target: {0}")]
    Target(TargetError),
}

/// A problem in a KPI file, located by file and KPI id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("kpis/{file}{}: {problem}", kpi_label(.kpi))]
pub struct CatalogueError {
    pub file: String,
    pub kpi: Option<String>,
    pub problem: DefinitionError,
}

fn kpi_label(kpi: &Option<String>) -> String {
    kpi.as_ref()
        .map(|k| format!(", KPI '{k}'"))
        .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    clinical_area: String,
    #[serde(default)]
    kpi: Vec<RawKpi>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKpi {
    id: String,
    name: String,
    name_en: String,
    numerator: String,
    denominator: Option<String>,
    #[serde(default)]
    proportion: bool,
    #[serde(default = "one")]
    scale: u32,
    unit: String,
    unit_en: String,
    direction: Direction,
    target: Option<f64>,
    #[serde(default)]
    min_denominator: u64,
    description: String,
    description_en: String,
}

fn one() -> u32 {
    1
}

/// Parses and validates one KPI file. `file` names it in errors.
pub fn parse_kpi_file(file: &str, source: &str) -> Result<Vec<KpiDefinition>, CatalogueError> {
    let err = |kpi: Option<&str>, problem| CatalogueError {
        file: file.to_owned(),
        kpi: kpi.map(str::to_owned),
        problem,
    };
    let raw: RawFile = basic_toml::from_str(source)
        .map_err(|e| err(None, DefinitionError::Toml(e.to_string())))?;
    let area = if raw.clinical_area.trim() == ALL_AREAS {
        None
    } else {
        Some(
            raw.clinical_area
                .parse::<ClinicalArea>()
                .map_err(|e| err(None, DefinitionError::ClinicalArea(e)))?,
        )
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.kpi.len());
    for k in raw.kpi {
        let id = k.id.trim().to_owned();
        if !is_valid_code(&id) {
            return Err(err(None, DefinitionError::BadId(short(&id))));
        }
        let fail = |problem| err(Some(&id), problem);
        if !seen.insert(id.clone()) {
            return Err(fail(DefinitionError::DuplicateId(file.to_owned())));
        }
        for (field, text) in [
            ("name", &k.name),
            ("name_en", &k.name_en),
            ("unit", &k.unit),
            ("unit_en", &k.unit_en),
            ("description", &k.description),
            ("description_en", &k.description_en),
        ] {
            if text.trim().is_empty() {
                return Err(fail(DefinitionError::Empty(field)));
            }
        }
        let numerator = Expr::parse(&k.numerator).map_err(|error| {
            fail(DefinitionError::Expr {
                field: "numerator",
                error,
            })
        })?;
        let denominator = match &k.denominator {
            None => None,
            Some(d) => Some(Expr::parse(d).map_err(|error| {
                fail(DefinitionError::Expr {
                    field: "denominator",
                    error,
                })
            })?),
        };
        if k.scale == 0 {
            return Err(fail(DefinitionError::ZeroScale));
        }
        if k.proportion && denominator.is_none() {
            return Err(fail(DefinitionError::ProportionWithoutDenominator));
        }
        if denominator.is_none() && k.min_denominator > 0 {
            return Err(fail(DefinitionError::MinDenominatorOnCount));
        }
        let def = KpiDefinition {
            id: id.clone(),
            name: k.name.trim().to_owned(),
            name_en: k.name_en.trim().to_owned(),
            clinical_area: area,
            numerator,
            denominator,
            proportion: k.proportion,
            scale: k.scale,
            unit: k.unit.trim().to_owned(),
            unit_en: k.unit_en.trim().to_owned(),
            direction: k.direction,
            target: k.target,
            min_denominator: k.min_denominator,
            description: k.description.trim().to_owned(),
            description_en: k.description_en.trim().to_owned(),
        };
        if let Some(t) = def.target {
            def.check_target(t)
                .map_err(|e| fail(DefinitionError::Target(e)))?;
        }
        out.push(def);
    }
    Ok(out)
}

/// A licence's KPI duty that does not fit the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DutyError {
    #[error("unknown KPI '{0}'")]
    UnknownKpi(String),
    #[error("KPI '{kpi}': {error}")]
    Target { kpi: String, error: TargetError },
}

/// Every KPI Vigilo knows, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiCatalogue {
    kpis: Vec<KpiDefinition>,
}

impl KpiCatalogue {
    /// The shipped catalogue. A failure here is a bug in a shipped file; a test loads it.
    pub fn builtin() -> Result<KpiCatalogue, CatalogueError> {
        KpiCatalogue::from_files(BUILTIN_FILES)
    }

    /// Parses the files; ids must be unique across all of them, because licences and reports
    /// name a KPI by id alone.
    pub fn from_files(files: &[(&str, &str)]) -> Result<KpiCatalogue, CatalogueError> {
        let mut kpis: Vec<KpiDefinition> = Vec::new();
        let mut owner: BTreeMap<String, String> = BTreeMap::new();
        for (file, source) in files {
            for def in parse_kpi_file(file, source)? {
                if let Some(first) = owner.get(&def.id) {
                    return Err(CatalogueError {
                        file: (*file).to_owned(),
                        kpi: Some(def.id.clone()),
                        problem: DefinitionError::DuplicateId(first.clone()),
                    });
                }
                owner.insert(def.id.clone(), (*file).to_owned());
                kpis.push(def);
            }
        }
        Ok(KpiCatalogue { kpis })
    }

    pub fn all(&self) -> &[KpiDefinition] {
        &self.kpis
    }

    pub fn get(&self, id: &str) -> Option<&KpiDefinition> {
        self.kpis.iter().find(|k| k.id == id)
    }

    /// The KPIs a tool in `area` gets: the common set, then the area's own.
    pub fn for_clinical_area(&self, area: ClinicalArea) -> Vec<&KpiDefinition> {
        let common = self.kpis.iter().filter(|k| k.clinical_area.is_none());
        let own = self.kpis.iter().filter(|k| k.clinical_area == Some(area));
        common.chain(own).collect()
    }

    /// Checks a licence's KPI duty: the KPI exists and the target fits it (on the KPI's scale).
    pub fn check_duty(&self, duty: &KpiDuty) -> Result<(), DutyError> {
        let def = self
            .get(&duty.kpi)
            .ok_or_else(|| DutyError::UnknownKpi(short(&duty.kpi)))?;
        def.check_target(duty.target)
            .map_err(|error| DutyError::Target {
                kpi: def.id.clone(),
                error,
            })
    }
}

// ---------------------------------------------------------------------------------------------
// Computation
// ---------------------------------------------------------------------------------------------

/// Whether a computed value may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KpiStatus {
    Ok,
    /// The denominator is above 0 but below the KPI's `min_denominator`.
    BelowMinimum,
    /// Nothing reported, a zero denominator, or a counter the KPI needs was not collected.
    NoData,
    /// A proportion whose numerator exceeds its denominator: the reports contradict each
    /// other and the monitoring desk must look, so no value is shown.
    Inconsistent,
}

/// A KPI computed over some totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiValue {
    pub numerator: u64,
    pub denominator: Option<u64>,
    /// On the KPI's scale; `None` unless the status is `Ok`.
    pub value: Option<f64>,
    /// 95% Wilson score interval on the KPI's scale, for proportions only.
    pub interval: Option<(f64, f64)>,
    pub status: KpiStatus,
    /// Against the definition's default target, on the point estimate.
    pub meets_target: Option<bool>,
}

/// The Wilson score interval for `x` successes out of `n`, as fractions; with `z` =
/// [`Z_95`] it is the 95% interval R's `prop.test(x, n, correct = FALSE)` reports. `None` when
/// `n` is 0 or `x > n`.
/// Chosen over the Wald interval because it stays inside [0, 1] and behaves at 0 and n.
pub fn wilson_interval(x: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 || x > n {
        return None;
    }
    let nf = n as f64;
    let p = x as f64 / nf;
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denom;
    let half = z / denom * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    // The exact interval always contains p; rounding at x = 0 or x = n can put a bound a hair
    // on the wrong side, so clamp to [0, 1] and to p.
    let low = (centre - half).clamp(0.0, 1.0).min(p);
    let high = (centre + half).clamp(0.0, 1.0).max(p);
    Some((low, high))
}

/// Computes `def` over `totals`.
pub fn compute(def: &KpiDefinition, totals: &Totals) -> KpiValue {
    let num = def.numerator.eval(totals);
    let den = def.denominator.as_ref().map(|d| d.eval(totals));
    let scale = f64::from(def.scale);
    let mut out = KpiValue {
        numerator: num.unwrap_or(0),
        denominator: den.map(|d| d.unwrap_or(0)),
        value: None,
        interval: None,
        status: KpiStatus::NoData,
        meets_target: None,
    };
    let Some(n) = num else { return out };
    if totals.reports == 0 {
        return out;
    }
    let (value, interval) = match den {
        None => (n as f64 * scale, None),
        Some(None) | Some(Some(0)) => return out,
        Some(Some(d)) => {
            if d < def.min_denominator {
                out.status = KpiStatus::BelowMinimum;
                return out;
            }
            if def.proportion && n > d {
                out.status = KpiStatus::Inconsistent;
                return out;
            }
            let interval = if def.proportion {
                wilson_interval(n, d, Z_95).map(|(lo, hi)| (lo * scale, hi * scale))
            } else {
                None
            };
            (n as f64 / d as f64 * scale, interval)
        }
    };
    out.status = KpiStatus::Ok;
    out.value = Some(value);
    out.interval = interval;
    out.meets_target = def.meets_target(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn catalogue() -> KpiCatalogue {
        match KpiCatalogue::builtin() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn kpi(id: &str) -> KpiDefinition {
        catalogue()
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no KPI {id}"))
    }

    fn totals() -> Totals {
        let mut t = Totals {
            uses: 2000,
            positives: 263,
            tp: 81,
            fp: 120,
            fn_: 9,
            tn: 1290,
            overrides: 40,
            escalations: 150,
            downtime_minutes: 90,
            reports: 12,
            facilities: 4,
            ..Totals::default()
        };
        t.counters.insert("confirmatory_tests".into(), 230);
        t.counters.insert("unsafe_answers".into(), 3);
        t
    }

    fn value(id: &str, t: &Totals) -> f64 {
        let v = compute(&kpi(id), t);
        assert_eq!(v.status, KpiStatus::Ok, "{id}: {v:?}");
        v.value.unwrap_or(f64::NAN)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn builtin_catalogue_loads_and_covers_every_required_area() {
        let c = catalogue();
        for area in [
            ClinicalArea::TuberculosisScreening,
            ClinicalArea::CardiovascularRisk,
            ClinicalArea::NutritionCounselling,
            ClinicalArea::AcuteKidneyInjury,
            ClinicalArea::RespiratoryDistress,
            ClinicalArea::VirtualAssistant,
        ] {
            let own = c.all().iter().filter(|k| k.clinical_area == Some(area));
            assert!(own.count() >= 3, "{area}");
        }
        let radiology = c.for_clinical_area(ClinicalArea::Radiology);
        assert!(radiology.iter().any(|k| k.id == "uses"));
        assert!(radiology.iter().all(|k| k.clinical_area.is_none()));
        // Every shipped KPI id has the shape licence duties accept, and file names match areas.
        for (file, _) in BUILTIN_FILES {
            assert!(file.ends_with(".toml"));
        }
        for k in c.all() {
            assert!(is_valid_code(&k.id));
            assert!(
                !k.name.is_ascii(),
                "{}: Vietnamese name needs diacritics",
                k.id
            );
            let expected_file = match k.clinical_area {
                None => "common".to_owned(),
                Some(a) => a.code().to_owned(),
            };
            assert!(BUILTIN_FILES
                .iter()
                .any(|(f, s)| *f == format!("{expected_file}.toml")
                    && s.contains(&format!("id = \"{}\"", k.id))));
        }
    }

    #[test]
    fn docs_list_every_kpi() {
        let doc = include_str!("../../../docs/kpis.md");
        for k in catalogue().all() {
            assert!(
                doc.contains(&format!("`{}`", k.id)),
                "{} missing from docs",
                k.id
            );
        }
    }

    #[test]
    fn common_kpis() {
        let t = totals();
        assert!(close(value("uses", &t), 2000.0));
        assert!(close(value("override_rate", &t), 2.0));
        assert!(close(value("verified_share", &t), 75.0));
        assert!(close(value("downtime_minutes", &t), 90.0));
        assert!(close(value("downtime_per_1000_uses", &t), 45.0));
    }

    #[test]
    fn tuberculosis_kpis() {
        let t = totals();
        assert!(close(value("tb_screened", &t), 2000.0));
        assert!(close(value("tb_flagged_rate", &t), 13.15));
        assert!(close(
            value("tb_confirmatory_test_rate", &t),
            23000.0 / 263.0
        ));
        assert!(close(value("tb_yield_per_1000", &t), 40.5));
        assert!(close(value("tb_ppv", &t), 8100.0 / 201.0));
        assert!(close(value("tb_sensitivity", &t), 90.0));
        assert!(close(value("tb_specificity", &t), 129000.0 / 1410.0));
        // 90% sensitivity meets the 90% target; specificity 91.5% meets 70%.
        assert_eq!(compute(&kpi("tb_sensitivity"), &t).meets_target, Some(true));
        let mut worse = t.clone();
        worse.fn_ = 10;
        assert_eq!(
            compute(&kpi("tb_sensitivity"), &worse).meets_target,
            Some(false)
        );
        // A product that does not collect confirmatory tests has no data, not 0%.
        let mut no_counter = t.clone();
        no_counter.counters.clear();
        let v = compute(&kpi("tb_confirmatory_test_rate"), &no_counter);
        assert_eq!((v.status, v.value), (KpiStatus::NoData, None));
    }

    #[test]
    fn cardiovascular_kpis() {
        let t = totals();
        assert!(close(value("cvd_assessed", &t), 2000.0));
        assert!(close(value("cvd_high_risk_rate", &t), 13.15));
        assert!(close(value("cvd_referral_rate", &t), 7.5));
        assert!(close(value("cvd_ppv", &t), 8100.0 / 201.0));
        assert!(close(value("cvd_sensitivity", &t), 90.0));
    }

    #[test]
    fn nutrition_kpis() {
        let t = totals();
        assert!(close(value("nutrition_sessions", &t), 2000.0));
        assert!(close(value("nutrition_risk_rate", &t), 13.15));
        assert!(close(value("nutrition_referral_rate", &t), 7.5));
        assert!(close(value("nutrition_ppv", &t), 8100.0 / 201.0));
        assert!(close(value("nutrition_unsafe_answers_per_1000", &t), 1.5));
    }

    #[test]
    fn acute_kidney_injury_kpis() {
        let t = totals();
        assert!(close(value("aki_assessed", &t), 2000.0));
        assert!(close(value("aki_alert_rate", &t), 13.15));
        assert!(close(value("aki_sensitivity", &t), 90.0));
        assert!(close(value("aki_ppv", &t), 8100.0 / 201.0));
        assert!(close(value("aki_escalation_rate", &t), 7.5));
    }

    #[test]
    fn respiratory_distress_kpis() {
        let t = totals();
        assert!(close(value("resp_assessed", &t), 2000.0));
        assert!(close(value("resp_alert_rate", &t), 13.15));
        assert!(close(value("resp_sensitivity", &t), 90.0));
        assert!(close(value("resp_specificity", &t), 129000.0 / 1410.0));
        assert!(close(value("resp_ppv", &t), 8100.0 / 201.0));
        assert!(close(value("resp_escalation_rate", &t), 7.5));
    }

    #[test]
    fn virtual_assistant_kpis() {
        let t = totals();
        assert!(close(value("va_conversations", &t), 2000.0));
        assert!(close(value("va_escalation_rate", &t), 7.5));
        assert!(close(value("va_override_rate", &t), 2.0));
        assert!(close(value("va_unsafe_answers", &t), 3.0));
        assert!(close(value("va_unsafe_answers_per_1000", &t), 1.5));
        assert!(close(value("va_downtime_per_1000", &t), 45.0));
        // Not a proportion: one conversation can hold several unsafe answers, so no interval.
        assert_eq!(
            compute(&kpi("va_unsafe_answers_per_1000"), &t).interval,
            None
        );
    }

    #[test]
    fn wilson_matches_statsmodels() {
        // statsmodels proportion_confint(method="wilson"), equal to R prop.test(correct=FALSE).
        let cases = [
            (81, 263, 0.255_288_519_9, 0.366_209_577_0),
            (0, 10, 0.0, 0.277_532_799_9),
            (10, 10, 0.722_467_200_1, 1.0),
            (1, 1, 0.206_549_314_4, 1.0),
            (45, 50, 0.786_397_685_6, 0.956_524_235_1),
            (3, 7, 0.158_219_855_3, 0.749_541_635_5),
        ];
        for (x, n, lo, hi) in cases {
            let (l, h) = wilson_interval(x, n, Z_95).unwrap_or((f64::NAN, f64::NAN));
            assert!(
                (l - lo).abs() < 1e-9 && (h - hi).abs() < 1e-9,
                "{x}/{n}: {l} {h}"
            );
        }
        assert_eq!(wilson_interval(1, 0, Z_95), None);
        assert_eq!(wilson_interval(5, 4, Z_95), None);
    }

    #[test]
    fn proportion_gets_a_scaled_interval() {
        let mut t = totals();
        t.tp = 81;
        t.fp = 182;
        let v = compute(&kpi("tb_ppv"), &t);
        let (lo, hi) = v.interval.unwrap_or((f64::NAN, f64::NAN));
        assert!((lo - 25.528_851_99).abs() < 1e-6 && (hi - 36.620_957_70).abs() < 1e-6);
        assert_eq!((v.numerator, v.denominator), (81, Some(263)));
    }

    #[test]
    fn statuses() {
        let def = kpi("tb_sensitivity");
        assert_eq!(compute(&def, &Totals::default()).status, KpiStatus::NoData);
        let mut t = totals();
        t.tp = 0;
        t.fn_ = 0;
        assert_eq!(compute(&def, &t).status, KpiStatus::NoData);
        t.tp = 3;
        t.fn_ = 1;
        let v = compute(&def, &t);
        assert_eq!(v.status, KpiStatus::BelowMinimum);
        assert_eq!((v.value, v.interval, v.meets_target), (None, None, None));
        assert_eq!(v.denominator, Some(4));
        // Confirmatory tests reported above the positives: contradictory reports.
        let mut t = totals();
        t.counters.insert("confirmatory_tests".into(), 300);
        let v = compute(&kpi("tb_confirmatory_test_rate"), &t);
        assert_eq!((v.status, v.value), (KpiStatus::Inconsistent, None));
        // A count with no report is no data, not 0.
        let v = compute(&kpi("uses"), &Totals::default());
        assert_eq!(v.status, KpiStatus::NoData);
        // Zero reported is a real 0.
        let v = compute(
            &kpi("uses"),
            &Totals {
                reports: 1,
                ..Totals::default()
            },
        );
        assert_eq!((v.status, v.value), (KpiStatus::Ok, Some(0.0)));
    }

    #[test]
    fn totals_add() {
        let mut a = totals();
        let mut b = totals();
        b.counters.clear();
        b.counters.insert("other".into(), 2);
        a.add(&b);
        assert_eq!((a.uses, a.fn_, a.reports, a.facilities), (4000, 18, 24, 8));
        assert_eq!(a.counters.get("confirmatory_tests"), Some(&230));
        assert_eq!(a.counters.get("other"), Some(&2));
        let mut big = Totals {
            uses: u64::MAX,
            ..Totals::default()
        };
        big.add(&a);
        assert_eq!(big.uses, u64::MAX);
        let json = serde_json::to_string(&a).unwrap_or_default();
        assert!(json.contains("\"fn\":18"));
        let back: Totals = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, a);
    }

    #[test]
    fn expression_parsing() {
        let e =
            Expr::parse(" tp +fp+ counter:confirmatory_tests ").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.to_string(), "tp + fp + counter:confirmatory_tests");
        assert_eq!(e.counters().collect::<Vec<_>>(), vec!["confirmatory_tests"]);
        assert_eq!(Expr::parse("  "), Err(ExprError::Empty));
        assert_eq!(Expr::parse("tp + "), Err(ExprError::MissingTerm));
        assert_eq!(Expr::parse("tp ++ fp"), Err(ExprError::MissingTerm));
        let err = Expr::parse("tp + TP").unwrap_err();
        assert_eq!(err, ExprError::UnknownTerm("TP".into()));
        assert!(err.to_string().contains("unknown term 'TP'"));
        assert_eq!(
            Expr::parse("true_positives"),
            Err(ExprError::UnknownTerm("true_positives".into()))
        );
        assert_eq!(
            Expr::parse("counter:Unsafe"),
            Err(ExprError::BadCounterName("Unsafe".into()))
        );
        assert_eq!(
            Expr::parse("counter:"),
            Err(ExprError::BadCounterName(String::new()))
        );
        assert_eq!(
            Expr::parse("verified + tn"),
            Err(ExprError::CountedTwice("tn".into()))
        );
        assert_eq!(
            Expr::parse("counter:a + counter:a"),
            Err(ExprError::CountedTwice("counter:a".into()))
        );
        let many = vec!["counter:c"; 17]
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{i}"))
            .collect::<Vec<_>>()
            .join(" + ");
        assert_eq!(Expr::parse(&many), Err(ExprError::TooManyTerms));
        // Serialised as text, and parsed back with the same checks.
        let json = serde_json::to_string(&e).unwrap_or_default();
        assert_eq!(json, "\"tp + fp + counter:confirmatory_tests\"");
        assert!(serde_json::from_str::<Expr>("\"bogus\"").is_err());
        let t = totals();
        assert_eq!(
            Expr::parse("verified").ok().and_then(|e| e.eval(&t)),
            Some(1500)
        );
    }

    const GOOD: &str = r#"
clinical_area = "tuberculosis_screening"
[[kpi]]
id = "x_rate"
name = "Tỷ lệ"
name_en = "Rate"
numerator = "tp"
denominator = "tp + fn"
proportion = true
scale = 100
unit = "%"
unit_en = "%"
direction = "higher_is_better"
target = 80
min_denominator = 10
description = "Mô tả"
description_en = "Description"
"#;

    fn problem(src: &str) -> DefinitionError {
        match parse_kpi_file("test.toml", src) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.problem,
        }
    }

    #[test]
    fn file_validation() {
        let defs = parse_kpi_file("test.toml", GOOD).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defs.len(), 1);
        assert_eq!(defs[0].formula(), "100 × (tp) / (tp + fn)");
        assert!(matches!(
            problem(&GOOD.replace("tp + fn", "tp + fx")),
            DefinitionError::Expr {
                field: "denominator",
                error: ExprError::UnknownTerm(t)
            } if t == "fx"
        ));
        let e = parse_kpi_file("test.toml", &GOOD.replace("\"tp\"", "\"tpp\"")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "kpis/test.toml, KPI 'x_rate': numerator: unknown term 'tpp': expected one of uses, positives, tp, fp, fn, tn, verified, overrides, escalations, downtime_minutes, or counter:<name>"
        );
        assert!(matches!(
            problem(&GOOD.replace("tuberculosis_screening", "tb")),
            DefinitionError::ClinicalArea(_)
        ));
        assert!(matches!(
            problem(&GOOD.replace("x_rate", "X-rate")),
            DefinitionError::BadId(_)
        ));
        assert_eq!(
            problem(&GOOD.replace("scale = 100", "scale = 0")),
            DefinitionError::ZeroScale
        );
        assert!(matches!(
            problem(&GOOD.replace("unit = \"%\"", "unit = \" \"")),
            DefinitionError::Empty("unit")
        ));
        assert!(matches!(
            problem(&GOOD.replace("min_denominator", "min_denominatr")),
            DefinitionError::Toml(_)
        ));
        assert_eq!(
            problem(&GOOD.replace("denominator = \"tp + fn\"\n", "")),
            DefinitionError::ProportionWithoutDenominator
        );
        let doubled = format!("{GOOD}\n{}", &GOOD[GOOD.find("[[kpi]]").unwrap_or(0)..]);
        assert_eq!(
            problem(&doubled),
            DefinitionError::DuplicateId("test.toml".into())
        );
        // The same id in two files.
        let err = KpiCatalogue::from_files(&[("a.toml", GOOD), ("b.toml", GOOD)]).unwrap_err();
        assert_eq!(
            (err.file.as_str(), err.problem),
            ("b.toml", DefinitionError::DuplicateId("a.toml".into()))
        );
    }

    #[test]
    fn target_checks() {
        let with = |from: &str, to: &str| problem(&GOOD.replace(from, to));
        assert_eq!(
            with("target = 80", "target = 120"),
            DefinitionError::Target(TargetError::AboveScale { scale: 100 })
        );
        assert_eq!(
            with("target = 80", "target = -1"),
            DefinitionError::Target(TargetError::Negative)
        );
        assert_eq!(
            with("target = 80", "target = 0"),
            DefinitionError::Target(TargetError::AlwaysMet)
        );
        assert_eq!(
            with("target = 80", "target = nan"),
            DefinitionError::Target(TargetError::NotFinite)
        );
        assert_eq!(
            with("higher_is_better", "neutral"),
            DefinitionError::Target(TargetError::Neutral)
        );
        assert_eq!(
            with(
                "higher_is_better\"\ntarget = 80",
                "lower_is_better\"\ntarget = 100"
            ),
            DefinitionError::Target(TargetError::AlwaysMet)
        );
        // Lower is better: met at or below the target.
        let defs = parse_kpi_file(
            "t.toml",
            &GOOD.replace("higher_is_better", "lower_is_better"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defs[0].meets_target(80.0), Some(true));
        assert_eq!(defs[0].meets_target(80.1), Some(false));
        // Licence duties are checked against the catalogue, on the KPI's scale.
        let c = catalogue();
        let duty = |kpi: &str, target: f64| KpiDuty {
            kpi: kpi.into(),
            target,
        };
        assert_eq!(c.check_duty(&duty("tb_sensitivity", 85.0)), Ok(()));
        assert_eq!(
            c.check_duty(&duty("tb_nope", 85.0)),
            Err(DutyError::UnknownKpi("tb_nope".into()))
        );
        assert!(matches!(
            c.check_duty(&duty("override_rate", 5.0)),
            Err(DutyError::Target {
                error: TargetError::Neutral,
                ..
            })
        ));
    }

    fn proportion_defs() -> Vec<KpiDefinition> {
        catalogue()
            .all()
            .iter()
            .filter(|k| k.proportion)
            .cloned()
            .collect()
    }

    proptest! {
        #[test]
        fn proportions_stay_in_their_interval_and_scale(
            uses in 0u64..5000, pos in 0u64..5000, tp in 0u64..500, fp in 0u64..500,
            fn_ in 0u64..500, tn in 0u64..500, ov in 0u64..5000, esc in 0u64..5000,
            conf in 0u64..5000, reports in 0u64..3,
        ) {
            let mut t = Totals {
                uses, positives: pos, tp, fp, fn_, tn, overrides: ov, escalations: esc,
                reports, ..Totals::default()
            };
            t.counters.insert("confirmatory_tests".into(), conf);
            for def in proportion_defs() {
                let v = compute(&def, &t);
                let scale = f64::from(def.scale);
                match v.status {
                    KpiStatus::Ok => {
                        let x = v.value.unwrap_or(f64::NAN);
                        let (lo, hi) = v.interval.unwrap_or((f64::NAN, f64::NAN));
                        prop_assert!(0.0 <= lo && lo <= x && x <= hi && hi <= scale,
                            "{}: {lo} {x} {hi}", def.id);
                        prop_assert!(v.numerator <= v.denominator.unwrap_or(0));
                    }
                    _ => prop_assert!(v.value.is_none() && v.interval.is_none()),
                }
            }
        }

        #[test]
        fn wilson_contains_the_estimate(n in 1u64..100_000, frac in 0.0f64..=1.0) {
            let x = ((n as f64) * frac).floor() as u64;
            let (lo, hi) = wilson_interval(x, n, Z_95).unwrap_or((f64::NAN, f64::NAN));
            let p = x as f64 / n as f64;
            prop_assert!(0.0 <= lo && lo <= p && p <= hi && hi <= 1.0);
        }
    }
}
