//! Small-cell suppression for public tables.
//!
//! Public counts from 1 to `threshold - 1` (1 to 4 under the default rule) are shown as `<5`;
//! 0 is shown, because "nobody" discloses nothing about a person. Because a table's row and
//! column totals are published too, hiding a cell is not enough: a row with one hidden cell
//! and a published total gives it away by subtraction. Complementary suppression hides a second
//! cell in every such row or column, and repeats until no line has exactly one hidden entry.
//!
//! The totals are treated as entries of the table like any other: a total of 3 is itself a
//! small count and is hidden, and the totals row and column are lines with the grand total as
//! their sum. The rule and its limits (it does not defend against every attack that links
//! several published tables) are in `docs/kpis.md`.
//!
//! Pure code: no I/O, no clock, no environment.

use crate::kpi::KpiValue;
use crate::Lang;
use serde::{Deserialize, Serialize};

/// The default threshold: counts below 5 are hidden.
pub const DEFAULT_THRESHOLD: u64 = 5;

/// Counts in `1..threshold` are hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressionRule {
    pub threshold: u64,
}

impl Default for SuppressionRule {
    fn default() -> Self {
        SuppressionRule {
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

impl SuppressionRule {
    pub fn new(threshold: u64) -> SuppressionRule {
        SuppressionRule { threshold }
    }

    /// Whether a count is small enough to identify someone: 1 to `threshold - 1`.
    pub fn is_small(self, count: u64) -> bool {
        count > 0 && count < self.threshold
    }

    /// Primary suppression of one count on its own (no totals involved).
    pub fn cell(self, count: u64) -> Cell {
        if self.is_small(count) {
            Cell::Small {
                below: self.threshold,
            }
        } else {
            Cell::Shown(count)
        }
    }

    /// Whether a KPI value may be published on its own: hidden when its numerator or
    /// denominator is a small count, since value × denominator gives the numerator back.
    /// When the counts also appear in a suppressed table, use [`rate_is_public`] on the
    /// table's cells instead, which also honours complementary suppression.
    pub fn kpi_is_public(self, value: &KpiValue) -> bool {
        !self.is_small(value.numerator) && !value.denominator.is_some_and(|d| self.is_small(d))
    }
}

/// A published count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cell {
    Shown(u64),
    /// A small count, shown as `<{below}`.
    Small {
        below: u64,
    },
    /// Hidden so that a small count cannot be worked out from the totals. It may be any size,
    /// so it is shown as `x` with a footnote, never as `<5`, which would be false.
    Hidden,
}

impl Cell {
    pub fn is_suppressed(self) -> bool {
        !matches!(self, Cell::Shown(_))
    }

    /// The count, when shown.
    pub fn value(self) -> Option<u64> {
        match self {
            Cell::Shown(v) => Some(v),
            Cell::Small { .. } | Cell::Hidden => None,
        }
    }
}

/// How a cell is printed: `1.234` (vi) or `1,234` (en), `<5`, or `x`.
pub fn display(cell: Cell, lang: Lang) -> String {
    match cell {
        Cell::Shown(v) => group_digits(v, lang),
        Cell::Small { below } => format!("<{below}"),
        Cell::Hidden => "x".to_owned(),
    }
}

/// The footnote a table with suppressed cells carries.
pub fn footnote(rule: SuppressionRule, lang: Lang) -> String {
    let t = rule.threshold;
    match lang {
        Lang::Vi => format!(
            "<{t}: từ 1 đến {} trường hợp, không công bố số chính xác để bảo vệ danh tính. x: ẩn để không thể suy ra ô nhỏ từ tổng.",
            t.saturating_sub(1)
        ),
        Lang::En => format!(
            "<{t}: 1 to {} cases, not published exactly to protect identities. x: hidden so that a small cell cannot be worked out from the totals.",
            t.saturating_sub(1)
        ),
    }
}

/// Vietnamese groups thousands with `.`, English with `,`.
fn group_digits(v: u64, lang: Lang) -> String {
    let sep = match lang {
        Lang::Vi => '.',
        Lang::En => ',',
    };
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// Whether a rate may be published: only when its numerator and denominator (if any) are
/// shown; otherwise the rate and the shown count give the hidden one back.
pub fn rate_is_public(numerator: Cell, denominator: Option<Cell>) -> bool {
    !numerator.is_suppressed() && !denominator.is_some_and(Cell::is_suppressed)
}

/// A table that cannot be suppressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuppressionError {
    #[error("row {row} has {found} cells, expected {expected}")]
    Ragged {
        row: usize,
        expected: usize,
        found: usize,
    },
    #[error("a total does not fit in 64 bits")]
    Overflow,
}

/// A suppressed 2-D table with its published totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressedTable {
    pub cells: Vec<Vec<Cell>>,
    pub row_totals: Vec<Cell>,
    pub column_totals: Vec<Cell>,
    pub grand_total: Cell,
}

/// A suppressed 1-D table with its published total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuppressedRow {
    pub cells: Vec<Cell>,
    pub total: Cell,
}

fn sum(mut values: impl Iterator<Item = u64>) -> Result<u64, SuppressionError> {
    values.try_fold(0u64, |acc, v| {
        acc.checked_add(v).ok_or(SuppressionError::Overflow)
    })
}

/// Suppresses a table whose row totals, column totals and grand total are published.
pub fn suppress_table(
    counts: &[Vec<u64>],
    rule: SuppressionRule,
) -> Result<SuppressedTable, SuppressionError> {
    let rows = counts.len();
    let cols = counts.first().map_or(0, Vec::len);
    for (row, r) in counts.iter().enumerate() {
        if r.len() != cols {
            return Err(SuppressionError::Ragged {
                row,
                expected: cols,
                found: r.len(),
            });
        }
    }
    // Entries: inner cells row-major, then row totals, then column totals, then the grand total.
    let mut values: Vec<u64> = counts.iter().flatten().copied().collect();
    let row_total_at = rows * cols;
    let col_total_at = row_total_at + rows;
    let grand_at = col_total_at + cols;
    for r in counts {
        values.push(sum(r.iter().copied())?);
    }
    for j in 0..cols {
        values.push(sum(counts.iter().map(|r| r[j]))?);
    }
    values.push(sum(counts.iter().flatten().copied())?);

    // Each line is a published equation: its last entry is the sum of the others.
    let mut lines: Vec<Vec<usize>> = Vec::with_capacity(rows + cols + 2);
    for i in 0..rows {
        let mut line: Vec<usize> = (0..cols).map(|j| i * cols + j).collect();
        line.push(row_total_at + i);
        lines.push(line);
    }
    for j in 0..cols {
        let mut line: Vec<usize> = (0..rows).map(|i| i * cols + j).collect();
        line.push(col_total_at + j);
        lines.push(line);
    }
    let mut margin: Vec<usize> = (0..cols).map(|j| col_total_at + j).collect();
    margin.push(grand_at);
    lines.push(margin);
    let mut margin: Vec<usize> = (0..rows).map(|i| row_total_at + i).collect();
    margin.push(grand_at);
    lines.push(margin);

    let out = protect(&values, &lines, rule);
    Ok(SuppressedTable {
        cells: (0..rows)
            .map(|i| out[i * cols..(i + 1) * cols].to_vec())
            .collect(),
        row_totals: out[row_total_at..col_total_at].to_vec(),
        column_totals: out[col_total_at..grand_at].to_vec(),
        grand_total: out[grand_at],
    })
}

/// Suppresses a 1-D table whose total is published.
pub fn suppress_row(
    counts: &[u64],
    rule: SuppressionRule,
) -> Result<SuppressedRow, SuppressionError> {
    let mut values = counts.to_vec();
    values.push(sum(counts.iter().copied())?);
    let line: Vec<usize> = (0..values.len()).collect();
    let mut out = protect(&values, &[line], rule);
    let total = out.pop().unwrap_or(Cell::Shown(0));
    Ok(SuppressedRow { cells: out, total })
}

/// Primary suppression, then complementary suppression until no line has exactly one
/// suppressed entry. Each pass hides at least one more entry or stops, so it ends.
fn protect(values: &[u64], lines: &[Vec<usize>], rule: SuppressionRule) -> Vec<Cell> {
    let mut out: Vec<Cell> = values.iter().map(|&v| rule.cell(v)).collect();
    loop {
        let mut changed = false;
        for line in lines {
            let hidden = line.iter().filter(|&&i| out[i].is_suppressed()).count();
            if hidden != 1 {
                continue;
            }
            // The smallest non-zero shown entry loses least information; a zero only when
            // nothing else is left (cannot happen with consistent totals, kept for safety).
            // Ties go to the first entry so that the result is deterministic.
            let pick = line
                .iter()
                .copied()
                .filter(|&i| !out[i].is_suppressed())
                .min_by_key(|&i| (values[i] == 0, values[i], i));
            if let Some(i) = pick {
                out[i] = Cell::Hidden;
                changed = true;
            }
        }
        if !changed {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::KpiStatus;
    use proptest::prelude::*;

    const S: Cell = Cell::Small { below: 5 };
    const H: Cell = Cell::Hidden;
    fn v(n: u64) -> Cell {
        Cell::Shown(n)
    }

    #[test]
    fn display_and_footnote() {
        assert_eq!(display(v(0), Lang::Vi), "0");
        assert_eq!(display(v(3321), Lang::Vi), "3.321");
        assert_eq!(display(v(1_234_567), Lang::En), "1,234,567");
        assert_eq!(display(v(999), Lang::En), "999");
        assert_eq!(display(S, Lang::Vi), "<5");
        assert_eq!(display(Cell::Small { below: 10 }, Lang::En), "<10");
        assert_eq!(display(H, Lang::En), "x");
        assert!(footnote(SuppressionRule::default(), Lang::Vi).contains("từ 1 đến 4"));
    }

    #[test]
    fn row_cases() {
        let rule = SuppressionRule::default();
        // Nothing small: all shown.
        let r = suppress_row(&[10, 0, 7], rule).unwrap();
        assert_eq!(r.cells, vec![v(10), v(0), v(7)]);
        assert_eq!(r.total, v(17));
        // One small cell: the smallest other non-zero cell (not the zero) is hidden too.
        let r = suppress_row(&[3, 0, 20, 9], rule).unwrap();
        assert_eq!(r.cells, vec![S, v(0), v(20), H]);
        assert_eq!(r.total, v(32));
        // Two small cells protect each other.
        let r = suppress_row(&[3, 2, 20], rule).unwrap();
        assert_eq!(r.cells, vec![S, S, v(20)]);
        // A small total hides itself, and with it the only cell, so the line has two.
        let r = suppress_row(&[0, 3, 0], rule).unwrap();
        assert_eq!((r.cells, r.total), (vec![v(0), S, v(0)], S));
        // Only the total is left to pair with: it is hidden.
        let r = suppress_row(&[2, 0], rule).unwrap();
        assert_eq!((r.cells, r.total), (vec![S, v(0)], S));
        let r = suppress_row(&[4, 40], rule).unwrap();
        assert_eq!((r.cells, r.total), (vec![S, H], v(44)));
        // A threshold of 10.
        let r = suppress_row(&[7, 12, 30], SuppressionRule::new(10)).unwrap();
        assert_eq!(r.cells, vec![Cell::Small { below: 10 }, H, v(30)]);
        assert_eq!(suppress_row(&[], rule).unwrap().total, v(0));
        assert_eq!(
            suppress_row(&[u64::MAX, 1], rule),
            Err(SuppressionError::Overflow)
        );
    }

    #[test]
    fn table_cases() {
        let rule = SuppressionRule::default();
        // One small cell in the middle: a partner in its row and its column, and the corner
        // that closes the rectangle.
        let t =
            suppress_table(&[vec![3, 10, 20], vec![8, 15, 30], vec![12, 40, 50]], rule).unwrap();
        assert_eq!(
            t.cells,
            vec![
                vec![S, H, v(20)],
                vec![H, H, v(30)],
                vec![v(12), v(40), v(50)]
            ]
        );
        assert_eq!(t.row_totals, vec![v(33), v(53), v(102)]);
        assert_eq!(t.column_totals, vec![v(23), v(65), v(100)]);
        assert_eq!(t.grand_total, v(188));
        // A small column total (a district with 3 uses in total) hides itself; its row partner
        // in the totals row is the smallest other column total.
        let t = suppress_table(&[vec![1, 20, 9], vec![2, 30, 11]], rule).unwrap();
        assert_eq!(t.column_totals, vec![S, v(50), H]);
        assert_eq!(t.cells[0], vec![S, v(20), H]);
        assert_eq!(t.cells[1], vec![S, v(30), H]);
        // No small counts: nothing hidden.
        let t = suppress_table(&[vec![0, 5], vec![6, 0]], rule).unwrap();
        assert!(t.cells.iter().flatten().all(|c| !c.is_suppressed()));
        assert_eq!(
            suppress_table(&[vec![1, 2], vec![3]], rule),
            Err(SuppressionError::Ragged {
                row: 1,
                expected: 2,
                found: 1
            })
        );
        let empty = suppress_table(&[], rule).unwrap();
        assert_eq!((empty.cells.len(), empty.grand_total), (0, v(0)));
    }

    #[test]
    fn rates_follow_their_counts() {
        assert!(rate_is_public(v(30), Some(v(200))));
        assert!(rate_is_public(v(0), Some(v(200))));
        assert!(!rate_is_public(S, Some(v(200))));
        assert!(!rate_is_public(v(30), Some(H)));
        assert!(!rate_is_public(H, None));
        let rule = SuppressionRule::default();
        let kv = |n: u64, d: Option<u64>| KpiValue {
            numerator: n,
            denominator: d,
            value: None,
            interval: None,
            status: KpiStatus::Ok,
            meets_target: None,
        };
        assert!(rule.kpi_is_public(&kv(0, Some(100))));
        assert!(!rule.kpi_is_public(&kv(3, Some(100))));
        assert!(!rule.kpi_is_public(&kv(0, Some(4))));
        assert!(rule.kpi_is_public(&kv(12, None)));
        assert!(!rule.kpi_is_public(&kv(1, None)));
    }

    /// Every line of the table with its margins: (entries, total).
    fn lines(t: &SuppressedTable) -> Vec<Vec<Cell>> {
        let mut out = Vec::new();
        for (i, r) in t.cells.iter().enumerate() {
            let mut l = r.clone();
            l.push(t.row_totals[i]);
            out.push(l);
        }
        for j in 0..t.column_totals.len() {
            let mut l: Vec<Cell> = t.cells.iter().map(|r| r[j]).collect();
            l.push(t.column_totals[j]);
            out.push(l);
        }
        let mut l = t.column_totals.clone();
        l.push(t.grand_total);
        out.push(l);
        let mut l = t.row_totals.clone();
        l.push(t.grand_total);
        out.push(l);
        out
    }

    fn check_cell(count: u64, cell: Cell, threshold: u64) -> Result<(), TestCaseError> {
        if count > 0 && count < threshold {
            prop_assert_eq!(cell, Cell::Small { below: threshold });
        } else {
            // Larger counts and zeros are shown exactly or hidden, never labelled small.
            prop_assert!(cell == Cell::Shown(count) || cell == Cell::Hidden);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn tables_leave_no_line_with_a_single_hidden_entry(
            rows in 1usize..7, cols in 1usize..7, threshold in 1u64..12,
            seed in proptest::collection::vec(0u64..25, 36),
        ) {
            let counts: Vec<Vec<u64>> = (0..rows)
                .map(|i| (0..cols).map(|j| seed[i * 6 + j]).collect())
                .collect();
            let t = suppress_table(&counts, SuppressionRule::new(threshold)).unwrap();
            for line in lines(&t) {
                prop_assert_ne!(line.iter().filter(|c| c.is_suppressed()).count(), 1);
            }
            for (i, r) in counts.iter().enumerate() {
                for (j, &n) in r.iter().enumerate() {
                    check_cell(n, t.cells[i][j], threshold)?;
                }
                check_cell(r.iter().sum(), t.row_totals[i], threshold)?;
            }
            for j in 0..cols {
                check_cell(counts.iter().map(|r| r[j]).sum(), t.column_totals[j], threshold)?;
            }
        }

        #[test]
        fn rows_leave_no_single_hidden_entry(
            counts in proptest::collection::vec(0u64..25, 0..12), threshold in 1u64..12,
        ) {
            let r = suppress_row(&counts, SuppressionRule::new(threshold)).unwrap();
            let mut all = r.cells.clone();
            all.push(r.total);
            prop_assert_ne!(all.iter().filter(|c| c.is_suppressed()).count(), 1);
            for (&n, &c) in counts.iter().zip(&r.cells) {
                check_cell(n, c, threshold)?;
            }
            check_cell(counts.iter().sum(), r.total, threshold)?;
        }
    }
}
