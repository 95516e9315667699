//! The vendor's predictions file: a UTF-8 CSV whose header has exactly the columns
//! `case_id` and `score`, in either order, and one row per case of the reference dataset.
//!
//! Scores follow the protocol's [`ScoreKind`]: probabilities must lie in [0, 1]; real scores
//! may be any finite number. NaN, infinities and words are never accepted.
//!
//! Every problem here is found before any metric is computed, so no error tells the vendor
//! anything about the labels: a rejected file is never counted against the submission limit
//! ([`PredictionsError::counts_against_limit`]).

use crate::dataset::{parse_finite, ReferenceDataset};
use crate::fingerprint::sha256_hex;
use crate::protocol::ScoreKind;
use serde::{Deserialize, Serialize};

/// Largest predictions file accepted by default: 64 bytes a row is far above what a case id
/// and a score need.
pub fn default_max_bytes(dataset_rows: usize) -> usize {
    (dataset_rows.saturating_mul(64)).max(1 << 20)
}

/// How many individual problems an error lists (the total is always given).
pub const MAX_LISTED_PROBLEMS: usize = 20;

/// Scores aligned with the dataset's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// SHA-256 of the exact bytes received, lowercase hex.
    pub sha256: String,
    /// `scores[i]` belongs to the dataset's row `i`.
    pub scores: Vec<f64>,
}

/// One problem on one line of the file (1-based; the header is line 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RowProblem {
    /// A row with more or fewer fields than the header.
    WrongFieldCount {
        line: u64,
        expected: usize,
        found: usize,
    },
    EmptyCaseId {
        line: u64,
    },
    /// A case id the study's dataset does not contain.
    UnknownCaseId {
        line: u64,
        case_id: String,
    },
    DuplicateCaseId {
        line: u64,
        case_id: String,
        first_line: u64,
    },
    /// Not a number (words, empty, NaN, infinity).
    NotANumber {
        line: u64,
        value: String,
    },
    /// A probability outside [0, 1].
    OutOfRange {
        line: u64,
        value: f64,
    },
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowProblem::WrongFieldCount {
                line,
                expected,
                found,
            } => write!(f, "line {line}: {found} fields, the header has {expected}"),
            RowProblem::EmptyCaseId { line } => write!(f, "line {line}: the case_id is empty"),
            RowProblem::UnknownCaseId { line, case_id } => write!(
                f,
                "line {line}: case_id `{case_id}` is not in this study's dataset"
            ),
            RowProblem::DuplicateCaseId {
                line,
                case_id,
                first_line,
            } => write!(
                f,
                "line {line}: case_id `{case_id}` was already given on line {first_line}"
            ),
            RowProblem::NotANumber { line, value } => write!(
                f,
                "line {line}: score `{value}` is not a finite number (use digits, a dot for decimals, no NaN)"
            ),
            RowProblem::OutOfRange { line, value } => write!(
                f,
                "line {line}: score {value} is not a probability between 0 and 1"
            ),
        }
    }
}

/// Why a predictions file was rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PredictionsError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {bytes} bytes; the limit for this study is {limit}")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the file is not UTF-8 text (line {line})")]
    BadEncoding { line: u64 },
    #[error("the header must have exactly the columns `case_id` and `score`; found {found:?}")]
    WrongHeader { found: Vec<String> },
    #[error("line {line}: the file is not valid CSV ({detail})")]
    Csv { line: u64, detail: String },
    #[error("the file has a header but no rows")]
    NoRows,
    #[error("{total} rows have problems; first: {}", problems.first().map(ToString::to_string).unwrap_or_default())]
    Rows {
        /// The first [`MAX_LISTED_PROBLEMS`] problems in file order.
        problems: Vec<RowProblem>,
        total: usize,
    },
    #[error("{total} case ids of the study are missing, for example {examples:?}")]
    MissingCaseIds {
        /// Up to [`MAX_LISTED_PROBLEMS`] missing ids, in dataset order.
        examples: Vec<String>,
        total: usize,
    },
}

impl PredictionsError {
    /// Whether the file ever parsed into a complete submission. Always `false` here: every
    /// rejection happens before evaluation, so it reveals nothing about the labels.
    pub fn file_parsed(&self) -> bool {
        false
    }

    /// Whether this attempt uses up one of the vendor's submissions. Always `false`.
    pub fn counts_against_limit(&self) -> bool {
        self.file_parsed()
    }
}

fn line_of_byte(bytes: &[u8], offset: usize) -> u64 {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
}

/// Parses a predictions file against the study's dataset.
pub fn parse_predictions(
    bytes: &[u8],
    dataset: &ReferenceDataset,
    kind: ScoreKind,
    max_bytes: usize,
) -> Result<Predictions, PredictionsError> {
    if bytes.len() > max_bytes {
        return Err(PredictionsError::TooLarge {
            bytes: bytes.len(),
            limit: max_bytes,
        });
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(PredictionsError::Empty);
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(PredictionsError::BadEncoding {
            line: line_of_byte(bytes, e.valid_up_to()),
        });
    }
    let sha256 = sha256_hex(bytes);
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(body);
    let header: Vec<String> = reader
        .byte_headers()
        .map_err(|e| csv_error(&e))?
        .iter()
        .map(|h| String::from_utf8_lossy(h).trim().to_ascii_lowercase())
        .collect();
    let id_col = header.iter().position(|h| h == "case_id");
    let score_col = header.iter().position(|h| h == "score");
    let (id_col, score_col) = match (id_col, score_col) {
        (Some(i), Some(s)) if header.len() == 2 => (i, s),
        _ => return Err(PredictionsError::WrongHeader { found: header }),
    };

    const UNSET: u64 = 0;
    // The file line where each dataset row got its score; UNSET while missing.
    let mut seen_line = vec![UNSET; dataset.len()];
    let mut scores = vec![f64::NAN; dataset.len()];
    let mut problems = Vec::new();
    let mut total_problems = 0usize;
    let mut rows = 0usize;
    let mut note = |p: RowProblem, problems: &mut Vec<RowProblem>| {
        total_problems += 1;
        if problems.len() < MAX_LISTED_PROBLEMS {
            problems.push(p);
        }
    };
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(&e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        rows += 1;
        if record.len() != 2 {
            note(
                RowProblem::WrongFieldCount {
                    line,
                    expected: 2,
                    found: record.len(),
                },
                &mut problems,
            );
            continue;
        }
        // The whole file is valid UTF-8 and fields split on ASCII bytes, so each field is too.
        let field = |i: usize| std::str::from_utf8(record.get(i).unwrap_or_default()).unwrap_or("");
        let id = field(id_col).trim();
        let score_text = field(score_col);
        let row = if id.is_empty() {
            note(RowProblem::EmptyCaseId { line }, &mut problems);
            None
        } else {
            match dataset.position(id) {
                None => {
                    note(
                        RowProblem::UnknownCaseId {
                            line,
                            case_id: truncate(id),
                        },
                        &mut problems,
                    );
                    None
                }
                Some(r) if seen_line[r] != UNSET => {
                    note(
                        RowProblem::DuplicateCaseId {
                            line,
                            case_id: truncate(id),
                            first_line: seen_line[r],
                        },
                        &mut problems,
                    );
                    None
                }
                Some(r) => {
                    seen_line[r] = line;
                    Some(r)
                }
            }
        };
        let score = match parse_finite(score_text) {
            None => {
                note(
                    RowProblem::NotANumber {
                        line,
                        value: truncate(score_text.trim()),
                    },
                    &mut problems,
                );
                continue;
            }
            Some(v) if kind == ScoreKind::Probability && !(0.0..=1.0).contains(&v) => {
                note(RowProblem::OutOfRange { line, value: v }, &mut problems);
                continue;
            }
            Some(v) => v,
        };
        if let Some(r) = row {
            scores[r] = score;
        }
    }
    if rows == 0 {
        return Err(PredictionsError::NoRows);
    }
    if total_problems > 0 {
        return Err(PredictionsError::Rows {
            problems,
            total: total_problems,
        });
    }
    let missing: Vec<usize> = (0..dataset.len())
        .filter(|&r| seen_line[r] == UNSET)
        .collect();
    if !missing.is_empty() {
        return Err(PredictionsError::MissingCaseIds {
            examples: missing
                .iter()
                .take(MAX_LISTED_PROBLEMS)
                .map(|&r| dataset.case_ids[r].clone())
                .collect(),
            total: missing.len(),
        });
    }
    Ok(Predictions { sha256, scores })
}

/// Keeps echoed vendor text short in messages.
fn truncate(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn csv_error(e: &csv::Error) -> PredictionsError {
    PredictionsError::Csv {
        line: e.position().map_or(0, |p| p.line()),
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{parse_reference_csv, ColumnRoles, DatasetLimits};

    fn dataset() -> ReferenceDataset {
        let text = "id,y\na,1\nb,0\nc,1\n";
        let roles = ColumnRoles {
            case_id: "id".into(),
            label: "y".into(),
            features: vec![],
            subgroups: vec![],
        };
        parse_reference_csv(text.as_bytes(), &roles, &DatasetLimits::default()).unwrap()
    }

    fn parse(text: &str) -> Result<Predictions, PredictionsError> {
        parse_predictions(text.as_bytes(), &dataset(), ScoreKind::Probability, 1 << 20)
    }

    #[test]
    fn aligns_scores_in_any_order_and_column_order() {
        let p = parse("score,case_id\n0.2,c\n0.9,a\n1,b\n").unwrap();
        assert_eq!(p.scores, [0.9, 1.0, 0.2]);
        assert_eq!(p.sha256.len(), 64);
    }

    #[test]
    fn row_problems_are_listed_with_lines() {
        let err = parse("case_id,score\na,0.5\na,0.6\nzz,0.1\nb,NaN\nc,1.5\n").unwrap_err();
        let PredictionsError::Rows { problems, total } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*total, 4);
        assert_eq!(
            problems,
            &vec![
                RowProblem::DuplicateCaseId {
                    line: 3,
                    case_id: "a".into(),
                    first_line: 2
                },
                RowProblem::UnknownCaseId {
                    line: 4,
                    case_id: "zz".into()
                },
                RowProblem::NotANumber {
                    line: 5,
                    value: "NaN".into()
                },
                RowProblem::OutOfRange {
                    line: 6,
                    value: 1.5
                },
            ]
        );
        assert!(!err.counts_against_limit());
        assert!(err.to_string().contains("line 3"));
    }

    #[test]
    fn missing_ids_header_and_empty() {
        assert_eq!(
            parse("case_id,score\na,0.5\n").unwrap_err(),
            PredictionsError::MissingCaseIds {
                examples: vec!["b".into(), "c".into()],
                total: 2
            }
        );
        assert!(matches!(
            parse("id,prob\na,0.5\n").unwrap_err(),
            PredictionsError::WrongHeader { .. }
        ));
        assert!(matches!(
            parse("case_id,score,label\na,0.5,1\n").unwrap_err(),
            PredictionsError::WrongHeader { .. }
        ));
        assert_eq!(parse(" \n").unwrap_err(), PredictionsError::Empty);
        assert_eq!(
            parse("case_id,score\n").unwrap_err(),
            PredictionsError::NoRows
        );
        assert!(matches!(
            parse("case_id,score\na,0.5,9\n").unwrap_err(),
            PredictionsError::Rows { .. }
        ));
    }

    #[test]
    fn real_scores_accept_any_finite_value() {
        let p = parse_predictions(
            b"case_id,score\na,3.5\nb,-2\nc,0\n",
            &dataset(),
            ScoreKind::Real,
            1 << 20,
        )
        .unwrap();
        assert_eq!(p.scores, [3.5, -2.0, 0.0]);
        let err = parse_predictions(
            b"case_id,score\na,inf\nb,-2\nc,0\n",
            &dataset(),
            ScoreKind::Real,
            1 << 20,
        )
        .unwrap_err();
        assert!(matches!(err, PredictionsError::Rows { total: 1, .. }));
    }

    #[test]
    fn too_large_is_checked_first() {
        let err = parse_predictions(b"case_id,score\n", &dataset(), ScoreKind::Probability, 4)
            .unwrap_err();
        assert_eq!(
            err,
            PredictionsError::TooLarge {
                bytes: 14,
                limit: 4
            }
        );
    }
}
