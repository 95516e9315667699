//! Reporting periods: a day, an ISO week, a month, a quarter or a year, written as
//! `2026-03-05`, `2026-W10`, `2026-03`, `2026-Q1` and `2026` (design.md section 5).
//!
//! A period is its kind plus its first day; the text form is canonical, so two periods are
//! equal exactly when their text is. Coarser periods gather finer ones by the finer one's
//! [`Period::anchor`]: a day or month by its first day, an ISO week by its Thursday (the ISO
//! rule that puts a week in the year holding most of its days), so every week belongs to
//! exactly one month, quarter and year and totals never count a week twice.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::{Date, Duration, Month, Weekday};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl PeriodKind {
    pub const ALL: [PeriodKind; 5] = [
        PeriodKind::Day,
        PeriodKind::Week,
        PeriodKind::Month,
        PeriodKind::Quarter,
        PeriodKind::Year,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PeriodKind::Day => "day",
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
            PeriodKind::Year => "year",
        }
    }

    pub fn parse(code: &str) -> Option<PeriodKind> {
        PeriodKind::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn label(self, lang: crate::Lang) -> &'static str {
        match (self, lang) {
            (PeriodKind::Day, crate::Lang::Vi) => "ngày",
            (PeriodKind::Week, crate::Lang::Vi) => "tuần",
            (PeriodKind::Month, crate::Lang::Vi) => "tháng",
            (PeriodKind::Quarter, crate::Lang::Vi) => "quý",
            (PeriodKind::Year, crate::Lang::Vi) => "năm",
            (PeriodKind::Day, crate::Lang::En) => "day",
            (PeriodKind::Week, crate::Lang::En) => "week",
            (PeriodKind::Month, crate::Lang::En) => "month",
            (PeriodKind::Quarter, crate::Lang::En) => "quarter",
            (PeriodKind::Year, crate::Lang::En) => "year",
        }
    }

    /// Kinds a deployment may report in (coarser ones are for reports, not for data).
    pub fn is_reporting_frequency(self) -> bool {
        matches!(self, PeriodKind::Day | PeriodKind::Week | PeriodKind::Month)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("'{0}' is not a period: write a day 2026-03-05, a week 2026-W10, a month 2026-03, a quarter 2026-Q1 or a year 2026")]
    Syntax(String),
    #[error("'{0}' is not a real date or period")]
    OutOfRange(String),
}

/// Field order matters: periods sort by first day, then finer before coarser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    start: Date,
    kind: PeriodKind,
}

const MIN_YEAR: i32 = 1900;
const MAX_YEAR: i32 = 2999;

impl Period {
    /// The period of `kind` that holds `date` (for weeks, the ISO week of the date).
    pub fn containing(kind: PeriodKind, date: Date) -> Period {
        let start = match kind {
            PeriodKind::Day => date,
            PeriodKind::Week => {
                date - Duration::days(i64::from(date.weekday().number_days_from_monday()))
            }
            PeriodKind::Month => date.replace_day(1).unwrap_or(date),
            PeriodKind::Quarter => {
                let m = u8::from(date.month());
                let first = (m - 1) / 3 * 3 + 1;
                Date::from_calendar_date(date.year(), month(first), 1).unwrap_or(date)
            }
            PeriodKind::Year => {
                Date::from_calendar_date(date.year(), Month::January, 1).unwrap_or(date)
            }
        };
        Period { start, kind }
    }

    pub fn parse(text: &str) -> Result<Period, PeriodError> {
        let t = text.trim();
        let syntax = || PeriodError::Syntax(t.to_string());
        let range = || PeriodError::OutOfRange(t.to_string());
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let year = |s: &str| -> Result<i32, PeriodError> {
            if s.len() != 4 || !digits(s) {
                return Err(syntax());
            }
            let y: i32 = s.parse().map_err(|_| syntax())?;
            if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
                return Err(range());
            }
            Ok(y)
        };
        let parts: Vec<&str> = t.split('-').collect();
        match parts.as_slice() {
            [y] => {
                let y = year(y)?;
                Ok(Period::containing(
                    PeriodKind::Year,
                    first_of(y, 1).ok_or_else(range)?,
                ))
            }
            [y, rest] => {
                let y = year(y)?;
                if let Some(q) = rest.strip_prefix(['Q', 'q']) {
                    let q: u8 = if q.len() == 1 && digits(q) {
                        q.parse().map_err(|_| syntax())?
                    } else {
                        return Err(syntax());
                    };
                    if !(1..=4).contains(&q) {
                        return Err(range());
                    }
                    let d = first_of(y, (q - 1) * 3 + 1).ok_or_else(range)?;
                    Ok(Period::containing(PeriodKind::Quarter, d))
                } else if let Some(w) = rest.strip_prefix(['W', 'w']) {
                    if w.len() != 2 || !digits(w) {
                        return Err(syntax());
                    }
                    let w: u8 = w.parse().map_err(|_| syntax())?;
                    let d = Date::from_iso_week_date(y, w, Weekday::Monday).map_err(|_| range())?;
                    Ok(Period::containing(PeriodKind::Week, d))
                } else {
                    if rest.len() != 2 || !digits(rest) {
                        return Err(syntax());
                    }
                    let m: u8 = rest.parse().map_err(|_| syntax())?;
                    let d = first_of(y, m).ok_or_else(range)?;
                    Ok(Period::containing(PeriodKind::Month, d))
                }
            }
            [y, m, d] => {
                let y = year(y)?;
                if m.len() != 2 || d.len() != 2 || !digits(m) || !digits(d) {
                    return Err(syntax());
                }
                let m: u8 = m.parse().map_err(|_| syntax())?;
                let d: u8 = d.parse().map_err(|_| syntax())?;
                let month = Month::try_from(m).map_err(|_| range())?;
                let date = Date::from_calendar_date(y, month, d).map_err(|_| range())?;
                Ok(Period::containing(PeriodKind::Day, date))
            }
            _ => Err(syntax()),
        }
    }

    pub fn kind(&self) -> PeriodKind {
        self.kind
    }

    /// The first day.
    pub fn start(&self) -> Date {
        self.start
    }

    /// The day after the last day.
    pub fn end(&self) -> Date {
        let s = self.start;
        match self.kind {
            PeriodKind::Day => s + Duration::days(1),
            PeriodKind::Week => s + Duration::days(7),
            PeriodKind::Month => add_months(s, 1),
            PeriodKind::Quarter => add_months(s, 3),
            PeriodKind::Year => add_months(s, 12),
        }
    }

    pub fn last_day(&self) -> Date {
        self.end() - Duration::days(1)
    }

    pub fn days(&self) -> i64 {
        (self.end() - self.start).whole_days()
    }

    /// The day that decides which coarser period this one belongs to (see the module doc).
    pub fn anchor(&self) -> Date {
        match self.kind {
            PeriodKind::Week => self.start + Duration::days(3),
            _ => self.start,
        }
    }

    pub fn next(&self) -> Period {
        Period::containing(self.kind, self.end())
    }

    pub fn previous(&self) -> Period {
        Period::containing(self.kind, self.start - Duration::days(1))
    }

    pub fn contains_date(&self, d: Date) -> bool {
        self.start <= d && d < self.end()
    }

    /// Whether `finer` is gathered into this period (by its anchor).
    pub fn gathers(&self, finer: &Period) -> bool {
        finer.kind <= self.kind && self.contains_date(finer.anchor())
    }

    /// The periods of `kind` gathered into this one, in order.
    pub fn split(&self, kind: PeriodKind) -> Vec<Period> {
        let mut out = Vec::new();
        if kind > self.kind {
            return out;
        }
        let mut p = Period::containing(kind, self.start);
        if !self.gathers(&p) {
            p = p.next();
        }
        while self.gathers(&p) {
            out.push(p);
            p = p.next();
        }
        out
    }

    /// The periods of `kind` from the one holding `from` to the one holding `to`, inclusive.
    pub fn range(kind: PeriodKind, from: Date, to: Date) -> Vec<Period> {
        let mut out = Vec::new();
        let mut p = Period::containing(kind, from);
        while p.start <= to {
            out.push(p);
            p = p.next();
        }
        out
    }

    /// A label for people: `Q1/2026`, `tháng 3/2026`, `March 2026`...
    pub fn label(&self, lang: crate::Lang) -> String {
        let y = self.start.year();
        match (self.kind, lang) {
            (PeriodKind::Year, crate::Lang::Vi) => format!("năm {y}"),
            (PeriodKind::Year, crate::Lang::En) => format!("{y}"),
            (PeriodKind::Quarter, crate::Lang::Vi) => {
                format!("quý {}/{y}", quarter_number(self.start))
            }
            (PeriodKind::Quarter, crate::Lang::En) => {
                format!("Q{} {y}", quarter_number(self.start))
            }
            (PeriodKind::Month, crate::Lang::Vi) => {
                format!("tháng {}/{y}", u8::from(self.start.month()))
            }
            (PeriodKind::Month, crate::Lang::En) => format!("{} {y}", self.start.month()),
            (PeriodKind::Week, crate::Lang::Vi) => {
                let (wy, w, _) = self.start.to_iso_week_date();
                format!("tuần {w}/{wy}")
            }
            (PeriodKind::Week, crate::Lang::En) => {
                let (wy, w, _) = self.start.to_iso_week_date();
                format!("week {w} of {wy}")
            }
            (PeriodKind::Day, _) => {
                format!(
                    "{:02}/{:02}/{y}",
                    self.start.day(),
                    u8::from(self.start.month())
                )
            }
        }
    }
}

fn month(m: u8) -> Month {
    Month::try_from(m).unwrap_or(Month::January)
}

fn first_of(year: i32, m: u8) -> Option<Date> {
    Date::from_calendar_date(year, Month::try_from(m).ok()?, 1).ok()
}

fn quarter_number(d: Date) -> u8 {
    (u8::from(d.month()) - 1) / 3 + 1
}

/// `d` must be the first of a month.
fn add_months(d: Date, n: u8) -> Date {
    let total = i32::from(u8::from(d.month())) - 1 + i32::from(n);
    let year = d.year() + total / 12;
    let m = (total % 12 + 1) as u8;
    Date::from_calendar_date(year, month(m), 1).unwrap_or(d)
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.start;
        match self.kind {
            PeriodKind::Day => write!(
                f,
                "{:04}-{:02}-{:02}",
                s.year(),
                u8::from(s.month()),
                s.day()
            ),
            PeriodKind::Week => {
                let (y, w, _) = s.to_iso_week_date();
                write!(f, "{y:04}-W{w:02}")
            }
            PeriodKind::Month => write!(f, "{:04}-{:02}", s.year(), u8::from(s.month())),
            PeriodKind::Quarter => write!(f, "{:04}-Q{}", s.year(), quarter_number(s)),
            PeriodKind::Year => write!(f, "{:04}", s.year()),
        }
    }
}

impl std::str::FromStr for Period {
    type Err = PeriodError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Period::parse(s)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Period::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    fn p(s: &str) -> Period {
        Period::parse(s).unwrap()
    }

    #[test]
    fn parses_every_kind_and_prints_it_back() {
        for text in [
            "2026-03-05",
            "2026-W10",
            "2026-03",
            "2026-Q1",
            "2026",
            "2020-W53",
            "2024-02-29",
        ] {
            assert_eq!(p(text).to_string(), text);
        }
        assert_eq!(p("2026-q3").to_string(), "2026-Q3");
        assert_eq!(p(" 2026-w01 ").to_string(), "2026-W01");
    }

    #[test]
    fn bounds_of_each_kind() {
        assert_eq!(p("2026-Q1").start(), date!(2026 - 01 - 01));
        assert_eq!(p("2026-Q1").end(), date!(2026 - 04 - 01));
        assert_eq!(p("2026-Q4").end(), date!(2027 - 01 - 01));
        assert_eq!(p("2024-02").days(), 29);
        assert_eq!(p("2026").days(), 365);
        // ISO week 1 of 2026 starts on Monday 29 December 2025.
        assert_eq!(p("2026-W01").start(), date!(2025 - 12 - 29));
        assert_eq!(p("2026-W01").days(), 7);
        assert_eq!(p("2026-03-05").last_day(), date!(2026 - 03 - 05));
    }

    #[test]
    fn rejects_what_is_not_a_period() {
        for bad in [
            "",
            "26",
            "2026-13",
            "2026-00",
            "2026-Q5",
            "2026-Q0",
            "2026-W54",
            "2027-W53",
            "2026-02-30",
            "2026-1",
            "2026-01-1",
            "abcd",
            "2026-03-05-01",
            "0000",
            "2026-W1",
            "+2026",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad} should be rejected");
        }
        // 2026 starts on a Thursday, so it has 53 ISO weeks; 2027 has 52.
        assert!(Period::parse("2026-W53").is_ok());
        assert!(Period::parse("2027-W53").is_err());
        assert!(Period::parse("2020-W53").is_ok());
    }

    #[test]
    fn weeks_belong_to_the_month_of_their_thursday() {
        // 2026-W05 runs Mon 26 Jan to Sun 1 Feb; its Thursday is 29 Jan.
        let w = p("2026-W05");
        assert!(p("2026-01").gathers(&w));
        assert!(!p("2026-02").gathers(&w));
        assert!(p("2026-Q1").gathers(&w));
        // 2026-W01 starts in 2025 but belongs to 2026.
        assert!(p("2026").gathers(&p("2026-W01")));
        assert!(!p("2025").gathers(&p("2026-W01")));
        // A coarser period never gathers into a finer one.
        assert!(!p("2026-01").gathers(&p("2026-Q1")));
    }

    #[test]
    fn split_and_range() {
        assert_eq!(p("2026").split(PeriodKind::Quarter).len(), 4);
        assert_eq!(
            p("2026-Q2")
                .split(PeriodKind::Month)
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>(),
            ["2026-04", "2026-05", "2026-06"]
        );
        assert_eq!(p("2026-02").split(PeriodKind::Day).len(), 28);
        assert_eq!(p("2026").split(PeriodKind::Week).len(), 53);
        assert_eq!(p("2027").split(PeriodKind::Week).len(), 52);
        assert_eq!(p("2020").split(PeriodKind::Week).len(), 53);
        assert!(p("2026-01").split(PeriodKind::Year).is_empty());
        let months = Period::range(
            PeriodKind::Month,
            date!(2025 - 11 - 15),
            date!(2026 - 02 - 01),
        );
        assert_eq!(
            months.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            ["2025-11", "2025-12", "2026-01", "2026-02"]
        );
    }

    #[test]
    fn labels() {
        use crate::Lang;
        assert_eq!(p("2026-Q1").label(Lang::Vi), "quý 1/2026");
        assert_eq!(p("2026-Q1").label(Lang::En), "Q1 2026");
        assert_eq!(p("2026-03").label(Lang::Vi), "tháng 3/2026");
        assert_eq!(p("2026-03").label(Lang::En), "March 2026");
    }

    #[test]
    fn serde_uses_the_text_form() {
        let json = serde_json::to_string(&p("2026-W10")).unwrap();
        assert_eq!(json, "\"2026-W10\"");
        let back: Period = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p("2026-W10"));
        assert!(serde_json::from_str::<Period>("\"2026-13\"").is_err());
    }

    fn any_date() -> impl Strategy<Value = Date> {
        (1950i32..2100, 1u8..=12, 1u8..=31).prop_filter_map("real date", |(y, m, d)| {
            Date::from_calendar_date(y, Month::try_from(m).ok()?, d).ok()
        })
    }

    proptest! {
        #[test]
        fn every_date_lies_in_exactly_one_period_of_each_kind(d in any_date()) {
            for kind in PeriodKind::ALL {
                let per = Period::containing(kind, d);
                prop_assert!(per.contains_date(d));
                prop_assert!(!per.previous().contains_date(d));
                prop_assert!(!per.next().contains_date(d));
                prop_assert_eq!(per.previous().end(), per.start());
                prop_assert_eq!(Period::parse(&per.to_string()).unwrap(), per);
            }
        }

        #[test]
        fn finer_periods_gather_into_exactly_one_coarser(d in any_date()) {
            for fine in PeriodKind::ALL {
                let f = Period::containing(fine, d);
                for coarse in PeriodKind::ALL.into_iter().filter(|k| *k >= fine) {
                    let c = Period::containing(coarse, f.anchor());
                    prop_assert!(c.gathers(&f));
                    prop_assert!(!c.next().gathers(&f));
                    prop_assert!(!c.previous().gathers(&f));
                    prop_assert!(c.split(fine).contains(&f));
                }
            }
        }
    }
}
