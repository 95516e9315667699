//! The reference dataset the regulator holds: a UTF-8 CSV with a header row, one case per
//! row, whose columns play roles the caller names (case id, label, features, subgroups).
//! Columns without a role are ignored. Labels are `0` or `1`; features are finite numbers;
//! subgroup values are free text (an empty cell becomes the group `(missing)`).

use crate::fingerprint::sha256_hex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Which column plays which role. Names are matched exactly (after trimming spaces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRoles {
    pub case_id: String,
    pub label: String,
    /// Model inputs, in the order an ONNX model receives them.
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub subgroups: Vec<String>,
}

/// Size limits checked before and while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetLimits {
    pub max_bytes: usize,
    pub max_rows: usize,
    pub max_columns: usize,
    /// Longest case id, in bytes.
    pub max_case_id_len: usize,
    /// Most distinct values in one subgroup column (a guard against a free-text column).
    pub max_subgroup_levels: usize,
}

impl Default for DatasetLimits {
    fn default() -> Self {
        DatasetLimits {
            max_bytes: 1 << 30,
            max_rows: 5_000_000,
            max_columns: 2_000,
            max_case_id_len: 128,
            max_subgroup_levels: 1_000,
        }
    }
}

/// Group name used for an empty subgroup cell.
pub const MISSING_GROUP: &str = "(missing)";

/// A subgroup column stored as codes into its distinct values.
#[derive(Debug, Clone, PartialEq)]
pub struct SubgroupColumn {
    pub name: String,
    /// Distinct values in order of first appearance.
    pub levels: Vec<String>,
    /// One index into `levels` per case.
    pub codes: Vec<u32>,
}

impl SubgroupColumn {
    /// The group name of case `i`.
    pub fn value(&self, i: usize) -> &str {
        &self.levels[self.codes[i] as usize]
    }
}

/// Feature values, row-major `f32` (what ONNX models take).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    pub names: Vec<String>,
    pub rows: usize,
    pub values: Vec<f32>,
}

impl FeatureMatrix {
    pub fn cols(&self) -> usize {
        self.names.len()
    }
}

/// A parsed reference dataset. Build it with [`parse_reference_csv`].
#[derive(Debug, Clone)]
pub struct ReferenceDataset {
    /// SHA-256 of the exact bytes parsed, lowercase hex.
    pub sha256: String,
    pub case_ids: Vec<String>,
    pub labels: Vec<bool>,
    pub features: FeatureMatrix,
    pub subgroups: Vec<SubgroupColumn>,
    index: HashMap<String, usize>,
}

impl ReferenceDataset {
    pub fn len(&self) -> usize {
        self.case_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.case_ids.is_empty()
    }

    /// Row of a case id.
    pub fn position(&self, case_id: &str) -> Option<usize> {
        self.index.get(case_id).copied()
    }

    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|&&y| y).count()
    }

    pub fn subgroup(&self, name: &str) -> Option<&SubgroupColumn> {
        self.subgroups.iter().find(|s| s.name == name)
    }
}

/// Why a reference dataset was rejected. Lines are 1-based file lines (the header is line 1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatasetError {
    #[error("the file is {bytes} bytes; the limit is {limit}")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the file is empty")]
    Empty,
    #[error("the file is not UTF-8 text (line {line}, byte {byte_offset})")]
    BadEncoding { line: u64, byte_offset: usize },
    #[error("line {line}: {detail}")]
    Csv { line: u64, detail: String },
    #[error("the header has {count} columns; the limit is {limit}")]
    TooManyColumns { count: usize, limit: usize },
    #[error("the header names column `{column}` twice")]
    DuplicateColumn { column: String },
    #[error("column `{column}` ({role}) is not in the header")]
    MissingColumn { column: String, role: &'static str },
    #[error("column `{column}` is given two roles")]
    ColumnRoleConflict { column: String },
    #[error("line {line}: expected {expected} fields like the header, found {found}")]
    RaggedRow {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("line {line}: empty case id in column `{column}`")]
    EmptyCaseId { line: u64, column: String },
    #[error("line {line}: case id is longer than {limit} bytes")]
    CaseIdTooLong { line: u64, limit: usize },
    #[error("line {line}: case id `{case_id}` already appeared on line {first_line}")]
    DuplicateCaseId {
        line: u64,
        case_id: String,
        first_line: u64,
    },
    #[error("line {line}, column `{column}`: label `{value}` is not 0 or 1")]
    BadLabel {
        line: u64,
        column: String,
        value: String,
    },
    #[error("line {line}, column `{column}`: `{value}` is not a finite number in float32's range (up to about 3.4e38)")]
    BadFeature {
        line: u64,
        column: String,
        value: String,
    },
    #[error("column `{column}` has more than {limit} distinct values; is it really a subgroup?")]
    TooManyLevels { column: String, limit: usize },
    #[error("the file has more than {limit} data rows")]
    TooManyRows { limit: usize },
    #[error("the file has a header but no data rows")]
    NoRows,
}

fn line_of_byte(bytes: &[u8], offset: usize) -> u64 {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
}

fn find_column(header: &[String], name: &str, role: &'static str) -> Result<usize, DatasetError> {
    header
        .iter()
        .position(|h| h == name.trim())
        .ok_or_else(|| DatasetError::MissingColumn {
            column: name.to_string(),
            role,
        })
}

fn utf8_field(record: &csv::ByteRecord, i: usize, line: u64) -> Result<&str, DatasetError> {
    // Encoding is checked for the whole file up front, so this cannot fail in practice;
    // it stays a typed error rather than a panic.
    std::str::from_utf8(record.get(i).unwrap_or_default()).map_err(|_| DatasetError::BadEncoding {
        line,
        byte_offset: 0,
    })
}

/// Parses a number the way a vendor or the regulator writes it: plain decimal or exponent
/// notation, surrounding spaces allowed, no NaN or infinity.
pub(crate) fn parse_finite(text: &str) -> Option<f64> {
    let t = text.trim();
    // Rust's parser accepts "inf", "nan", "infinity"; a dataset must not.
    if t.is_empty()
        || t.bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Parses the regulator's reference CSV. Checks size, encoding, header, roles, every row, and
/// computes the SHA-256 fingerprint of `bytes` as given.
pub fn parse_reference_csv(
    bytes: &[u8],
    roles: &ColumnRoles,
    limits: &DatasetLimits,
) -> Result<ReferenceDataset, DatasetError> {
    if bytes.len() > limits.max_bytes {
        return Err(DatasetError::TooLarge {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DatasetError::Empty);
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(DatasetError::BadEncoding {
            line: line_of_byte(bytes, e.valid_up_to()),
            byte_offset: e.valid_up_to(),
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
        .map(|h| String::from_utf8_lossy(h).trim().to_string())
        .collect();
    if header.len() > limits.max_columns {
        return Err(DatasetError::TooManyColumns {
            count: header.len(),
            limit: limits.max_columns,
        });
    }
    for (i, h) in header.iter().enumerate() {
        if header[..i].contains(h) {
            return Err(DatasetError::DuplicateColumn { column: h.clone() });
        }
    }
    let claimed: Vec<&str> = [&roles.case_id, &roles.label]
        .into_iter()
        .chain(&roles.features)
        .chain(&roles.subgroups)
        .map(|c| c.trim())
        .collect();
    for (i, name) in claimed.iter().enumerate() {
        if claimed[..i].contains(name) {
            return Err(DatasetError::ColumnRoleConflict {
                column: name.to_string(),
            });
        }
    }
    let id_col = find_column(&header, &roles.case_id, "case id")?;
    let label_col = find_column(&header, &roles.label, "label")?;
    let feature_cols = roles
        .features
        .iter()
        .map(|f| find_column(&header, f, "feature"))
        .collect::<Result<Vec<_>, _>>()?;
    let subgroup_cols = roles
        .subgroups
        .iter()
        .map(|s| find_column(&header, s, "subgroup"))
        .collect::<Result<Vec<_>, _>>()?;

    let mut case_ids = Vec::new();
    let mut labels = Vec::new();
    let mut values = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut first_lines: Vec<u64> = Vec::new();
    let mut subgroups: Vec<SubgroupColumn> = roles
        .subgroups
        .iter()
        .map(|s| SubgroupColumn {
            name: s.trim().to_string(),
            levels: Vec::new(),
            codes: Vec::new(),
        })
        .collect();
    let mut level_index: Vec<HashMap<String, u32>> = vec![HashMap::new(); subgroups.len()];

    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(&e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
            continue; // a blank line
        }
        if record.len() != header.len() {
            return Err(DatasetError::RaggedRow {
                line,
                expected: header.len(),
                found: record.len(),
            });
        }
        if case_ids.len() >= limits.max_rows {
            return Err(DatasetError::TooManyRows {
                limit: limits.max_rows,
            });
        }
        let id = utf8_field(&record, id_col, line)?.trim();
        if id.is_empty() {
            return Err(DatasetError::EmptyCaseId {
                line,
                column: header[id_col].clone(),
            });
        }
        if id.len() > limits.max_case_id_len {
            return Err(DatasetError::CaseIdTooLong {
                line,
                limit: limits.max_case_id_len,
            });
        }
        let label = match utf8_field(&record, label_col, line)?.trim() {
            "0" => false,
            "1" => true,
            other => {
                return Err(DatasetError::BadLabel {
                    line,
                    column: header[label_col].clone(),
                    value: other.to_string(),
                })
            }
        };
        for &c in &feature_cols {
            let text = utf8_field(&record, c, line)?;
            // Models take float32: a value beyond its range would reach them as infinity.
            match parse_finite(text)
                .map(|v| v as f32)
                .filter(|v| v.is_finite())
            {
                Some(v) => values.push(v),
                None => {
                    return Err(DatasetError::BadFeature {
                        line,
                        column: header[c].clone(),
                        value: text.to_string(),
                    })
                }
            }
        }
        for (k, &c) in subgroup_cols.iter().enumerate() {
            let raw = utf8_field(&record, c, line)?.trim();
            let value = if raw.is_empty() { MISSING_GROUP } else { raw };
            let code = match level_index[k].get(value) {
                Some(&code) => code,
                None => {
                    if subgroups[k].levels.len() >= limits.max_subgroup_levels {
                        return Err(DatasetError::TooManyLevels {
                            column: subgroups[k].name.clone(),
                            limit: limits.max_subgroup_levels,
                        });
                    }
                    let code = subgroups[k].levels.len() as u32;
                    subgroups[k].levels.push(value.to_string());
                    level_index[k].insert(value.to_string(), code);
                    code
                }
            };
            subgroups[k].codes.push(code);
        }
        let row = case_ids.len();
        if let Some(&first) = index.get(id) {
            return Err(DatasetError::DuplicateCaseId {
                line,
                case_id: id.to_string(),
                first_line: first_lines[first],
            });
        }
        index.insert(id.to_string(), row);
        first_lines.push(line);
        case_ids.push(id.to_string());
        labels.push(label);
    }
    if case_ids.is_empty() {
        return Err(DatasetError::NoRows);
    }
    let rows = case_ids.len();
    Ok(ReferenceDataset {
        sha256,
        case_ids,
        labels,
        features: FeatureMatrix {
            names: roles
                .features
                .iter()
                .map(|f| f.trim().to_string())
                .collect(),
            rows,
            values,
        },
        subgroups,
        index,
    })
}

fn csv_error(e: &csv::Error) -> DatasetError {
    let line = e.position().map_or(0, |p| p.line());
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => DatasetError::RaggedRow {
            line,
            expected: *expected_len as usize,
            found: *len as usize,
        },
        csv::ErrorKind::Utf8 { .. } => DatasetError::BadEncoding {
            line,
            byte_offset: e.position().map_or(0, |p| p.byte() as usize),
        },
        _ => DatasetError::Csv {
            line,
            detail: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> ColumnRoles {
        ColumnRoles {
            case_id: "case_id".into(),
            label: "label".into(),
            features: vec!["x1".into(), "x2".into()],
            subgroups: vec!["sex".into()],
        }
    }

    fn parse(text: &str) -> Result<ReferenceDataset, DatasetError> {
        parse_reference_csv(text.as_bytes(), &roles(), &DatasetLimits::default())
    }

    #[test]
    fn parses_roles_and_ignores_other_columns() {
        let ds = parse("case_id,note,label,x1,x2,sex\na,hi,1,0.5,2,F\nb,,0,1e-3,-4,\n").unwrap();
        assert_eq!(ds.case_ids, ["a", "b"]);
        assert_eq!(ds.labels, [true, false]);
        assert_eq!(ds.features.values, [0.5, 2.0, 0.001, -4.0]);
        assert_eq!(ds.subgroups[0].value(0), "F");
        assert_eq!(ds.subgroups[0].value(1), MISSING_GROUP);
        assert_eq!(ds.position("b"), Some(1));
        assert_eq!(ds.sha256.len(), 64);
    }

    #[test]
    fn errors_name_line_and_column() {
        let dup = parse("case_id,label,x1,x2,sex\na,1,1,2,F\nb,0,1,2,F\na,0,1,2,M\n");
        assert_eq!(
            dup.unwrap_err(),
            DatasetError::DuplicateCaseId {
                line: 4,
                case_id: "a".into(),
                first_line: 2
            }
        );
        let label = parse("case_id,label,x1,x2,sex\na,yes,1,2,F\n").unwrap_err();
        assert!(
            matches!(label, DatasetError::BadLabel { line: 2, ref value, .. } if value == "yes")
        );
        let feature = parse("case_id,label,x1,x2,sex\na,1,1,2,F\nb,1,1,NaN,F\n").unwrap_err();
        assert!(
            matches!(feature, DatasetError::BadFeature { line: 3, ref column, .. } if column == "x2")
        );
        // Found by fuzzing (fuzz/fuzz_targets/sandbox_dataset.rs): finite as f64, infinite
        // as the f32 a model receives.
        let huge = parse(
            "case_id,label,x1,x2,sex\na,1,1,7288888888888888888888888888888888888888888.9,F\n",
        )
        .unwrap_err();
        assert!(
            matches!(huge, DatasetError::BadFeature { line: 2, ref column, .. } if column == "x2")
        );
        let ragged = parse("case_id,label,x1,x2,sex\na,1,1,2\n").unwrap_err();
        assert!(matches!(
            ragged,
            DatasetError::RaggedRow {
                line: 2,
                expected: 5,
                found: 4
            }
        ));
        let missing = parse("case_id,label,x1,sex\na,1,1,F\n").unwrap_err();
        assert!(
            matches!(missing, DatasetError::MissingColumn { ref column, .. } if column == "x2")
        );
    }

    #[test]
    fn rejects_bad_encoding_with_its_line() {
        let mut bytes = b"case_id,label,x1,x2,sex\na,1,1,2,F\nb,0,1,2,".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
        let err = parse_reference_csv(&bytes, &roles(), &DatasetLimits::default()).unwrap_err();
        assert!(matches!(err, DatasetError::BadEncoding { line: 3, .. }));
    }

    #[test]
    fn enforces_limits() {
        let limits = DatasetLimits {
            max_rows: 1,
            ..DatasetLimits::default()
        };
        let text = "case_id,label,x1,x2,sex\na,1,1,2,F\nb,0,1,2,F\n";
        assert_eq!(
            parse_reference_csv(text.as_bytes(), &roles(), &limits).unwrap_err(),
            DatasetError::TooManyRows { limit: 1 }
        );
        let limits = DatasetLimits {
            max_bytes: 10,
            ..DatasetLimits::default()
        };
        assert!(matches!(
            parse_reference_csv(text.as_bytes(), &roles(), &limits).unwrap_err(),
            DatasetError::TooLarge { .. }
        ));
        assert_eq!(parse("").unwrap_err(), DatasetError::Empty);
        assert_eq!(
            parse("case_id,label,x1,x2,sex\n").unwrap_err(),
            DatasetError::NoRows
        );
    }

    #[test]
    fn parse_finite_rejects_words() {
        assert_eq!(parse_finite(" 1.5 "), Some(1.5));
        assert_eq!(parse_finite("-2E-3"), Some(-0.002));
        for bad in ["nan", "inf", "-Infinity", "", "1,5", "0x10", "1e999"] {
            assert_eq!(parse_finite(bad), None, "{bad}");
        }
    }
}
