//! CSV export of a data table, for regulators who continue in a spreadsheet.

use crate::model::DataTable;

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("could not write CSV: {0}")]
    Write(#[from] csv::Error),
    #[error("CSV output is not UTF-8")]
    Encoding(#[from] std::string::FromUtf8Error),
    #[error("could not finish CSV output: {0}")]
    Finish(String),
}

/// The table as RFC 4180 CSV with a header row, UTF-8 with a byte order mark so Excel
/// opens Vietnamese text correctly. Rows are padded or cut to the number of columns.
pub fn to_csv(table: &DataTable) -> Result<String, CsvError> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(table.columns.iter().map(|c| c.label.as_str()))?;
    for row in &table.rows {
        let cells = (0..table.columns.len()).map(|i| row.get(i).map_or("", String::as_str));
        writer.write_record(cells)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| CsvError::Finish(e.to_string()))?;
    Ok(format!("\u{FEFF}{}", String::from_utf8(bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Column;

    #[test]
    fn quotes_cells_and_pads_rows() {
        let table = DataTable {
            caption: None,
            columns: vec![Column::text("Cơ sở"), Column::numeric("Tỷ lệ")],
            rows: vec![
                vec!["Trạm \"A\", xã B".into(), "87,5".into()],
                vec!["C".into()],
            ],
        };
        let csv = to_csv(&table).expect("csv");
        assert_eq!(
            csv,
            "\u{FEFF}Cơ sở,Tỷ lệ\r\n\"Trạm \"\"A\"\", xã B\",\"87,5\"\r\nC,\r\n"
        );
    }
}
