//! XLSForm import: a survey sheet (plus optional choices and settings sheets), from an `.xlsx`
//! workbook or from CSV text, turned into an [`AppDefinition`] and compiled, reporting every
//! problem at once with its sheet, 1-based spreadsheet row and column header.

mod sheet;
mod survey;

use serde::Serialize;

use crate::definition::AppDefinition;
pub use sheet::Table;

/// One problem in a spreadsheet. `row` is 1-based as the spreadsheet shows it (the header is
/// row 1); `column` is the header name, empty when the problem is the whole row or sheet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportError {
    pub sheet: String,
    pub row: usize,
    pub column: String,
    pub code: &'static str,
    pub message: String,
}

/// Imports an `.xlsx` workbook with sheets named `survey`, `choices` (optional) and
/// `settings` (optional).
pub fn import_xlsx(bytes: &[u8]) -> Result<AppDefinition, Vec<ImportError>> {
    let tables = sheet::read_workbook(bytes)?;
    survey::import(&tables.0, tables.1.as_ref(), tables.2.as_ref())
}

/// Imports the three sheets given as CSV text (header row first).
pub fn import_csv(
    survey: &str,
    choices: Option<&str>,
    settings: Option<&str>,
) -> Result<AppDefinition, Vec<ImportError>> {
    let mut errors = Vec::new();
    let mut read = |name: &str, text: &str| match Table::from_csv(name, text) {
        Ok(table) => Some(table),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    let survey = read("survey", survey);
    let choices = choices.and_then(|text| read("choices", text));
    let settings = settings.and_then(|text| read("settings", text));
    let Some(survey) = survey else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    survey::import(&survey, choices.as_ref(), settings.as_ref())
}
