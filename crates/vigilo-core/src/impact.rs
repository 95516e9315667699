//! Real-world impact assessment: builds the cohorts of a staggered difference-in-differences
//! design from facilities' monitoring sums, before and after go-live.
//!
//! A phased rollout makes a comparison possible: while the tool is live at some stations,
//! others still work without it. Each station reports the same programme counts before
//! go-live (baseline periods, see `monitoring::is_baseline`) and after. For each go-live
//! month `g` with stations going live (a cohort):
//!
//! - pre window: the `K` months before `g`;
//! - post window: the `K` months from `g + 1` (the go-live month is skipped: it mixes days
//!   with and without the tool, and staff are still learning it);
//! - treated units: stations whose go-live falls in month `g`;
//! - control units: stations whose go-live is on or after the end of the post window, so
//!   both windows are baseline for them (not yet treated);
//! - a unit's value in a window is the KPI computed over the window's summed counts
//!   ([`crate::kpi::compute`]), and a unit needs at least one report in each window and a
//!   denominator of at least the design's minimum in each, or it is dropped.
//!
//! The output is plain `(pre, post)` pairs per group per cohort, for the statistics crate's
//! difference-in-differences estimators; this module does no statistics and no I/O.

use crate::kpi::{compute, KpiDefinition, KpiStatus, Totals};
use crate::period::{Period, PeriodKind};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use time::Date;

/// Months in each of the pre and post windows unless asked otherwise.
pub const DEFAULT_WINDOW_MONTHS: u8 = 3;

/// Longest window accepted: beyond a year, the parallel-trends assumption is hard to defend
/// and the not-yet-treated comparison group runs out.
pub const MAX_WINDOW_MONTHS: u8 = 12;

/// One unit's (facility's) summed counts for one reported period, of any frequency.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitPeriodSums {
    pub unit: String,
    pub period: Period,
    pub totals: Totals,
}

/// The choices of the design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Design {
    /// `K`: months in the pre window and in the post window.
    pub window_months: u8,
    /// A unit whose KPI denominator in either window is below this is dropped: a rate over
    /// a handful of people is noise that would dominate an unweighted mean of changes.
    pub min_denominator: u64,
}

impl Design {
    /// `K` = [`DEFAULT_WINDOW_MONTHS`], the KPI's own minimum denominator (at least 1).
    pub fn for_kpi(def: &KpiDefinition) -> Design {
        Design {
            window_months: DEFAULT_WINDOW_MONTHS,
            min_denominator: def.min_denominator.max(1),
        }
    }
}

/// A half-open span of days `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    #[serde(with = "crate::appraisal::iso_date")]
    pub start: Date,
    #[serde(with = "crate::appraisal::iso_date")]
    pub end: Date,
}

impl Window {
    pub fn contains(&self, d: Date) -> bool {
        self.start <= d && d < self.end
    }

    /// The last day inside the window.
    pub fn last_day(&self) -> Date {
        self.end.previous_day().unwrap_or(self.end)
    }
}

/// One adoption cohort's units, ready for a 2x2 difference in differences.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortUnits {
    /// The go-live month, e.g. `2026-03`.
    pub label: String,
    pub pre: Window,
    pub post: Window,
    /// `(pre, post)` KPI values of the stations that went live in the month.
    pub treated: Vec<(f64, f64)>,
    /// `(pre, post)` KPI values of stations not yet live at the end of the post window.
    pub control: Vec<(f64, f64)>,
    /// The units behind `treated` and `control`, in the same order.
    pub treated_units: Vec<String>,
    pub control_units: Vec<String>,
    /// Units that would have counted but had no report in a window, a denominator below
    /// the minimum, or no computable value.
    pub dropped: usize,
}

/// Every cohort whose post window has ended by the `through` day, and the go-live months
/// still waiting for theirs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortDesign {
    pub design: Design,
    pub cohorts: Vec<CohortUnits>,
    /// Go-live months (`2026-09`) whose post window is not over yet.
    pub pending: Vec<String>,
}

/// `first` (the first of a month) moved by `n` months.
fn shift_months(first: Date, n: i32) -> Date {
    let total = first.year() * 12 + i32::from(u8::from(first.month())) - 1 + n;
    let (year, m) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .unwrap_or(time::Month::January);
    Date::from_calendar_date(year, month, 1).unwrap_or(first)
}

/// The pre and post windows of the cohort going live in `month`.
pub fn windows(month: Period, k: u8) -> (Window, Window) {
    let g = month.start();
    let k = i32::from(k);
    (
        Window {
            start: shift_months(g, -k),
            end: g,
        },
        Window {
            start: shift_months(g, 1),
            end: shift_months(g, 1 + k),
        },
    )
}

/// A unit's value over one window's sums, or `None` when it must be dropped.
///
/// A KPI without a denominator (a count) is divided by the number of months with reports,
/// so that a station that missed a month is not read as a fall.
fn unit_value(def: &KpiDefinition, t: &Totals, months: usize, design: &Design) -> Option<f64> {
    if t.reports == 0 {
        return None;
    }
    let v = compute(def, t);
    if v.status != KpiStatus::Ok {
        return None;
    }
    match v.denominator {
        Some(d) if d < design.min_denominator => None,
        Some(_) => v.value,
        None => v.value.map(|x| x / months.max(1) as f64),
    }
}

/// Builds the cohorts of a staggered design.
///
/// `go_live` gives each unit's go-live day (a unit absent from it is ignored); `sums` may hold
/// several rows per unit and period (they are added) and periods of any frequency (a period
/// counts in the window that holds its anchor day, as the KPI tables gather them). Cohorts
/// come out in go-live order; a cohort with no treated unit left after dropping is still
/// listed, so the caller can say why it has no estimate.
pub fn build_cohorts(
    def: &KpiDefinition,
    go_live: &BTreeMap<String, Date>,
    sums: &[UnitPeriodSums],
    design: &Design,
    through: Date,
) -> CohortDesign {
    let k = design.window_months.clamp(1, MAX_WINDOW_MONTHS);
    let design = Design {
        window_months: k,
        ..*design
    };
    let months: BTreeSet<Period> = go_live
        .values()
        .map(|d| Period::containing(PeriodKind::Month, *d))
        .collect();
    let mut cohorts = Vec::new();
    let mut pending = Vec::new();
    // Each unit's rows, so a window's sums read a unit's couple of dozen rows rather than
    // scanning every row of every unit (thousands of stations x months x cohorts).
    let mut by_unit: BTreeMap<&str, Vec<&UnitPeriodSums>> = BTreeMap::new();
    for r in sums {
        by_unit.entry(r.unit.as_str()).or_default().push(r);
    }
    for month in months {
        let (pre, post) = windows(month, k);
        if post.last_day() > through {
            pending.push(month.to_string());
            continue;
        }
        let window_sums = |unit: &str, w: &Window| -> (Totals, usize) {
            let mut t = Totals::default();
            let mut seen = BTreeSet::new();
            for r in by_unit
                .get(unit)
                .into_iter()
                .flatten()
                .filter(|r| w.contains(r.period.anchor()))
            {
                t.add(&r.totals);
                seen.insert(Period::containing(PeriodKind::Month, r.period.anchor()));
            }
            t.facilities = 1;
            (t, seen.len())
        };
        let value = |unit: &str| -> Option<(f64, f64)> {
            let (tp, mp) = window_sums(unit, &pre);
            let (tq, mq) = window_sums(unit, &post);
            Some((
                unit_value(def, &tp, mp, &design)?,
                unit_value(def, &tq, mq, &design)?,
            ))
        };
        let mut c = CohortUnits {
            label: month.to_string(),
            pre,
            post,
            treated: Vec::new(),
            control: Vec::new(),
            treated_units: Vec::new(),
            control_units: Vec::new(),
            dropped: 0,
        };
        for (unit, day) in go_live {
            let treated = month.contains_date(*day);
            let control = *day >= post.end;
            if !treated && !control {
                continue;
            }
            match value(unit) {
                Some(v) if treated => {
                    c.treated.push(v);
                    c.treated_units.push(unit.clone());
                }
                Some(v) => {
                    c.control.push(v);
                    c.control_units.push(unit.clone());
                }
                None => c.dropped += 1,
            }
        }
        cohorts.push(c);
    }
    CohortDesign {
        design,
        cohorts,
        pending,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::kpi::KpiCatalogue;
    use time::macros::date;

    fn kpi(id: &str) -> KpiDefinition {
        KpiCatalogue::builtin().unwrap().get(id).cloned().unwrap()
    }

    fn row(unit: &str, period: &str, uses: u64, positives: u64) -> UnitPeriodSums {
        UnitPeriodSums {
            unit: unit.into(),
            period: Period::parse(period).unwrap(),
            totals: Totals {
                uses,
                positives,
                reports: 1,
                ..Totals::default()
            },
        }
    }

    /// Positives per 100 uses, minimum denominator 50.
    fn positive_rate() -> KpiDefinition {
        kpi("tb_flagged_rate")
    }

    #[test]
    fn windows_skip_the_go_live_month() {
        let (pre, post) = windows(Period::parse("2026-01").unwrap(), 3);
        assert_eq!(
            (pre.start, pre.end),
            (date!(2025 - 10 - 01), date!(2026 - 01 - 01))
        );
        assert_eq!(
            (post.start, post.end),
            (date!(2026 - 02 - 01), date!(2026 - 05 - 01))
        );
        assert_eq!(post.last_day(), date!(2026 - 04 - 30));
    }

    /// Two cohorts (March and July 2026) and late stations (November) as controls.
    /// Treated A1, A2 go live 2026-03-01; B1, B2 on 2026-07-01; C1, C2 on 2026-11-01.
    #[test]
    fn staggered_cohorts_by_hand() {
        let def = positive_rate();
        let go_live = BTreeMap::from([
            ("A1".to_string(), date!(2026 - 03 - 01)),
            ("A2".to_string(), date!(2026 - 03 - 10)),
            ("B1".to_string(), date!(2026 - 07 - 01)),
            ("B2".to_string(), date!(2026 - 07 - 01)),
            ("C1".to_string(), date!(2026 - 11 - 01)),
            ("C2".to_string(), date!(2026 - 11 - 01)),
            ("TINY".to_string(), date!(2026 - 03 - 01)),
        ]);
        let mut sums = Vec::new();
        for m in 1..=12 {
            let p = format!("2026-{m:02}");
            // A: 10% before, 20% after March; B: 10% throughout until July, then 16%;
            // C: 10% throughout.
            let a = if m > 3 { 200 } else { 100 };
            let b = if m > 7 { 160 } else { 100 };
            sums.push(row("A1", &p, 1000, a));
            sums.push(row("A2", &p, 1000, a + 10));
            sums.push(row("B1", &p, 1000, b));
            sums.push(row("B2", &p, 1000, b));
            sums.push(row("C1", &p, 1000, 100));
            sums.push(row("C2", &p, 1000, 100));
            sums.push(row("TINY", &p, 1, 0));
        }
        let d = Design {
            window_months: 3,
            min_denominator: 50,
        };
        let out = build_cohorts(&def, &go_live, &sums, &d, date!(2026 - 12 - 31));
        assert_eq!(out.pending, ["2026-11"]);
        let labels: Vec<&str> = out.cohorts.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["2026-03", "2026-07"]);
        let march = &out.cohorts[0];
        assert_eq!(march.treated_units, ["A1", "A2"]);
        // Controls for March must still be off at the end of the post window (July 1):
        // B (July 1) and C.
        assert_eq!(march.control_units, ["B1", "B2", "C1", "C2"]);
        assert_eq!(march.dropped, 1, "TINY has a denominator of 3");
        let scale = f64::from(def.scale);
        let (pre, post) = march.treated[0];
        assert!((pre - 0.1 * scale).abs() < 1e-9);
        assert!((post - 0.2 * scale).abs() < 1e-9);
        let july = &out.cohorts[1];
        assert_eq!(july.treated_units, ["B1", "B2"]);
        assert_eq!(july.control_units, ["C1", "C2"]);
        assert_eq!(july.pre.start, date!(2026 - 04 - 01));
        assert!((july.treated[0].1 - 0.16 * scale).abs() < 1e-9);
        assert!((july.control[0].0 - 0.1 * scale).abs() < 1e-9);
    }

    #[test]
    fn units_need_reports_in_both_windows_and_weeks_count_by_anchor() {
        let def = positive_rate();
        let go_live = BTreeMap::from([
            ("T".to_string(), date!(2026 - 03 - 01)),
            ("NOPRE".to_string(), date!(2026 - 03 - 01)),
            ("W".to_string(), date!(2026 - 09 - 01)),
        ]);
        let mut sums = vec![row("T", "2026-01", 100, 10), row("T", "2026-05", 100, 30)];
        sums.push(row("NOPRE", "2026-05", 100, 30));
        // Weekly reports: 2026-W05 (anchor Jan 29) is in the pre window, W19 in the post.
        sums.push(row("W", "2026-W05", 100, 10));
        sums.push(row("W", "2026-W19", 50, 5));
        sums.push(row("W", "2026-W19", 50, 5));
        let d = Design {
            window_months: 3,
            min_denominator: 1,
        };
        let out = build_cohorts(&def, &go_live, &sums, &d, date!(2026 - 12 - 31));
        let c = &out.cohorts[0];
        assert_eq!(c.treated_units, ["T"]);
        assert_eq!(c.dropped, 1);
        assert_eq!(c.control_units, ["W"]);
        let scale = f64::from(def.scale);
        assert!((c.control[0].0 - 0.1 * scale).abs() < 1e-9);
        assert!((c.control[0].1 - 0.1 * scale).abs() < 1e-9);
    }

    #[test]
    fn counts_are_per_month_reported_and_cohorts_wait_for_their_post_window() {
        let mut def = kpi(&positive_rate().id);
        def.denominator = None;
        def.proportion = false;
        def.scale = 1;
        let go_live = BTreeMap::from([("T".to_string(), date!(2026 - 03 - 01))]);
        let sums = vec![
            row("T", "2025-12", 100, 10),
            row("T", "2026-01", 100, 10),
            row("T", "2026-02", 100, 10),
            row("T", "2026-05", 100, 12),
        ];
        let d = Design::for_kpi(&def);
        let out = build_cohorts(&def, &go_live, &sums, &d, date!(2026 - 12 - 31));
        assert_eq!(out.cohorts[0].treated, [(10.0, 12.0)]);
        let early = build_cohorts(&def, &go_live, &sums, &d, date!(2026 - 06 - 29));
        assert!(early.cohorts.is_empty());
        assert_eq!(early.pending, ["2026-03"]);
        assert!(shift_months(date!(2026 - 01 - 01), -13) == date!(2024 - 12 - 01));
    }
}
