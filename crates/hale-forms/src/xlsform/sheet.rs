//! Spreadsheet tables read from CSV (csv crate) or xlsx (calamine): a header row and the data
//! rows, every cell as trimmed text, each row keeping its 1-based spreadsheet number.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

use super::ImportError;

/// One sheet: lower-cased header names and the non-empty rows below them.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub name: String,
    pub headers: Vec<String>,
    /// (1-based spreadsheet row, cells).
    pub rows: Vec<(usize, Vec<String>)>,
}

fn sheet_error(sheet: &str, code: &'static str, message: &str) -> ImportError {
    ImportError {
        sheet: sheet.to_owned(),
        row: 1,
        column: String::new(),
        code,
        message: message.to_owned(),
    }
}

impl Table {
    fn from_rows(name: &str, mut rows: Vec<(usize, Vec<String>)>) -> Result<Table, ImportError> {
        if rows.is_empty() {
            return Err(sheet_error(
                name,
                "empty_sheet",
                "the sheet has no header row",
            ));
        }
        let (_, headers) = rows.remove(0);
        let headers = headers
            .into_iter()
            .map(|header| header.trim().to_owned())
            .collect();
        rows.retain(|(_, cells)| cells.iter().any(|cell| !cell.trim().is_empty()));
        Ok(Table {
            name: name.to_owned(),
            headers,
            rows,
        })
    }

    /// Parses CSV text whose first record is the header.
    pub fn from_csv(name: &str, text: &str) -> Result<Table, ImportError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for (index, record) in reader.records().enumerate() {
            let record = record
                .map_err(|_| sheet_error(name, "malformed_csv", "the CSV text does not parse"))?;
            // Records are counted, not lines, so a quoted multi-line cell keeps numbering
            // aligned with what a spreadsheet program shows.
            rows.push((
                index + 1,
                record.iter().map(|cell| cell.trim().to_owned()).collect(),
            ));
        }
        Table::from_rows(name, rows)
    }

    /// The cell under `header` (exact, case-insensitive), or "".
    pub fn cell<'a>(&self, cells: &'a [String], header: &str) -> &'a str {
        self.headers
            .iter()
            .position(|name| name.eq_ignore_ascii_case(header))
            .and_then(|index| cells.get(index))
            .map(String::as_str)
            .unwrap_or("")
    }
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) => text.trim().to_owned(),
        Data::Float(number) => hale_expr::format_number(*number),
        Data::Int(number) => number.to_string(),
        Data::Bool(flag) => flag.to_string(),
        other => other.to_string(),
    }
}

type Sheets = (Table, Option<Table>, Option<Table>);

/// Reads the survey, choices and settings sheets of a workbook.
pub fn read_workbook(bytes: &[u8]) -> Result<Sheets, Vec<ImportError>> {
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(|_| {
        vec![sheet_error(
            "",
            "malformed_workbook",
            "the file is not a readable .xlsx workbook",
        )]
    })?;
    let names = workbook.sheet_names().to_vec();
    let mut read = |wanted: &str| -> Option<Result<Table, ImportError>> {
        let name = names
            .iter()
            .find(|name| name.eq_ignore_ascii_case(wanted))?;
        let range = match workbook.worksheet_range(name) {
            Ok(range) => range,
            Err(_) => {
                return Some(Err(sheet_error(
                    wanted,
                    "malformed_workbook",
                    "the sheet cannot be read",
                )));
            }
        };
        // calamine's range starts at the first used cell; rows above it are blank, so the
        // spreadsheet row number is the range's start plus the offset.
        let first_row = range.start().map(|(row, _)| row as usize).unwrap_or(0);
        let first_column = range
            .start()
            .map(|(_, column)| column as usize)
            .unwrap_or(0);
        let rows = range
            .rows()
            .enumerate()
            .map(|(offset, cells)| {
                let mut texts = vec![String::new(); first_column];
                texts.extend(cells.iter().map(cell_text));
                (first_row + offset + 1, texts)
            })
            .collect();
        Some(Table::from_rows(wanted, rows))
    };
    let survey = read("survey");
    let choices = read("choices").transpose();
    let settings = read("settings").transpose();
    let mut errors = Vec::new();
    let survey = match survey {
        Some(Ok(table)) => Some(table),
        Some(Err(error)) => {
            errors.push(error);
            None
        }
        None => {
            errors.push(sheet_error(
                "survey",
                "survey_missing",
                "the workbook needs a sheet named 'survey'",
            ));
            None
        }
    };
    let choices = choices.unwrap_or_else(|error| {
        errors.push(error);
        None
    });
    let settings = settings.unwrap_or_else(|error| {
        errors.push(error);
        None
    });
    match survey {
        Some(survey) if errors.is_empty() => Ok((survey, choices, settings)),
        _ => Err(errors),
    }
}
