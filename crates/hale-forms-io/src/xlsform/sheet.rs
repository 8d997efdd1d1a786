//! Spreadsheet tables read from CSV (csv crate) or xlsx (calamine): a header row and the data
//! rows, every cell as trimmed text, each row keeping its 1-based spreadsheet number. Cells are
//! read one at a time and only rows with content are kept, so a sheet's claimed dimension
//! (`A1:XFD1048576`) costs nothing; every cell is checked against [`ImportLimits`] as it comes.

use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{Data, DataRef, Reader, Xlsx};

use super::ImportError;
use super::archive;
use super::limits::{ImportLimits, TextBudget, limit_error, text_too_large};

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

    /// Parses CSV text whose first record is the header, within the default limits.
    pub fn from_csv(name: &str, text: &str) -> Result<Table, ImportError> {
        let limits = ImportLimits::default();
        Table::from_csv_within(name, text, &limits, &mut TextBudget::new(&limits))
    }

    pub(crate) fn from_csv_within(
        name: &str,
        text: &str,
        limits: &ImportLimits,
        budget: &mut TextBudget,
    ) -> Result<Table, ImportError> {
        // The whole text is checked first: the csv reader grows its buffer to the longest
        // record, so one enormous line would otherwise be copied before any cell is seen.
        if text.len() > limits.max_text_bytes {
            return Err(text_too_large(name, 1, limits.max_text_bytes));
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows = SheetRows::new(name, limits);
        for (index, record) in reader.records().enumerate() {
            let record = record
                .map_err(|_| sheet_error(name, "malformed_csv", "the CSV text does not parse"))?;
            // Records are counted, not lines, so a quoted multi-line cell keeps numbering
            // aligned with what a spreadsheet program shows.
            for (column, cell) in record.iter().enumerate() {
                rows.put(index, column, cell.trim(), budget)?;
            }
        }
        Table::from_rows(name, rows.into_rows())
    }

    /// A sheet from rows of cells (the first is the header) already in memory, as another
    /// reader (a markdown table, a JSON grid) produced them; every cell passes the same limits
    /// as a workbook's.
    pub fn from_cells(
        name: &str,
        rows: &[Vec<String>],
        limits: &ImportLimits,
    ) -> Result<Table, ImportError> {
        let mut budget = TextBudget::new(limits);
        let mut sheet = SheetRows::new(name, limits);
        for (index, cells) in rows.iter().enumerate() {
            for (column, cell) in cells.iter().enumerate() {
                sheet.put(index, column, cell.trim(), &mut budget)?;
            }
        }
        Table::from_rows(name, sheet.into_rows())
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

/// The rows of one sheet as they are read: sparse, and within the limits.
struct SheetRows<'a> {
    sheet: &'a str,
    limits: &'a ImportLimits,
    /// 0-based row → cells up to the last one with content.
    rows: BTreeMap<usize, Vec<String>>,
}

impl<'a> SheetRows<'a> {
    fn new(sheet: &'a str, limits: &'a ImportLimits) -> Self {
        Self {
            sheet,
            limits,
            rows: BTreeMap::new(),
        }
    }

    /// Keeps one trimmed cell; empty ones take no room.
    fn put(
        &mut self,
        row: usize,
        column: usize,
        text: &str,
        budget: &mut TextBudget,
    ) -> Result<(), ImportError> {
        if text.is_empty() {
            return Ok(());
        }
        let spreadsheet_row = row.saturating_add(1);
        if column >= self.limits.max_columns {
            return Err(limit_error(
                self.sheet,
                spreadsheet_row,
                "too_many_columns",
                format!(
                    "a sheet has at most {} columns; this row has content beyond them",
                    self.limits.max_columns
                ),
            ));
        }
        if text.len() > self.limits.max_cell_bytes {
            return Err(limit_error(
                self.sheet,
                spreadsheet_row,
                "cell_too_large",
                format!(
                    "the cell in column {} holds more than {} bytes",
                    column + 1,
                    self.limits.max_cell_bytes
                ),
            ));
        }
        // The header row is not a data row, hence one more.
        if !self.rows.contains_key(&row) && self.rows.len() > self.limits.max_rows {
            return Err(limit_error(
                self.sheet,
                spreadsheet_row,
                "too_many_rows",
                format!(
                    "a sheet has at most {} rows below its header",
                    self.limits.max_rows
                ),
            ));
        }
        budget.spend(self.sheet, spreadsheet_row, text.len())?;
        let cells = self.rows.entry(row).or_default();
        if cells.len() <= column {
            cells.resize(column + 1, String::new());
        }
        if let Some(slot) = cells.get_mut(column) {
            *slot = text.to_owned();
        }
        Ok(())
    }

    /// (1-based spreadsheet row, cells), top to bottom.
    fn into_rows(self) -> Vec<(usize, Vec<String>)> {
        self.rows
            .into_iter()
            .map(|(row, cells)| (row + 1, cells))
            .collect()
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

fn malformed_workbook() -> Vec<ImportError> {
    vec![sheet_error(
        "",
        "malformed_workbook",
        "the file is not a readable .xlsx workbook",
    )]
}

/// Reads one sheet cell by cell; calamine's `worksheet_range` would allocate every cell of
/// the sheet's bounding box, however empty.
fn read_sheet<R: std::io::Read + std::io::Seek>(
    workbook: &mut Xlsx<R>,
    name: &str,
    wanted: &str,
    limits: &ImportLimits,
    budget: &mut TextBudget,
) -> Result<Table, ImportError> {
    let unreadable = || sheet_error(wanted, "malformed_workbook", "the sheet cannot be read");
    let mut reader = workbook
        .worksheet_cells_reader(name)
        .map_err(|_| unreadable())?;
    let mut rows = SheetRows::new(wanted, limits);
    while let Some(cell) = reader.next_cell().map_err(|_| unreadable())? {
        let (row, column) = cell.get_position();
        let (row, column) = (row as usize, column as usize);
        match cell.get_value() {
            DataRef::Empty => {}
            // Shared strings are borrowed from calamine's table: measured before any copy.
            DataRef::SharedString(text) => rows.put(row, column, text.trim(), budget)?,
            DataRef::String(text) => rows.put(row, column, text.trim(), budget)?,
            other => {
                let text = cell_text(&Data::from(other.clone()));
                rows.put(row, column, &text, budget)?;
            }
        }
    }
    Table::from_rows(wanted, rows.into_rows())
}

/// Reads the survey, choices and settings sheets of a workbook.
pub fn read_workbook(bytes: &[u8], limits: &ImportLimits) -> Result<Sheets, Vec<ImportError>> {
    archive::inspect(bytes, limits).map_err(|error| vec![error])?;
    // calamine indexes some tables with numbers taken from the file (a shared-string index
    // past the table's end panics); a workbook it cannot read is malformed, whatever the cause.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_sheets(bytes, limits)))
        .unwrap_or_else(|_| Err(malformed_workbook()))
}

/// Reads the survey, choices and settings sheets of a workbook whose archive passed the limits.
fn read_sheets(bytes: &[u8], limits: &ImportLimits) -> Result<Sheets, Vec<ImportError>> {
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(|_| malformed_workbook())?;
    let names = workbook.sheet_names().to_vec();
    let mut budget = TextBudget::new(limits);
    let mut read = |wanted: &str| -> Option<Result<Table, ImportError>> {
        let name = names
            .iter()
            .find(|name| name.eq_ignore_ascii_case(wanted))?;
        Some(read_sheet(&mut workbook, name, wanted, limits, &mut budget))
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
