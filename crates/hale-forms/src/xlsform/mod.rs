//! XLSForm import: a survey sheet (plus optional choices and settings sheets), from an `.xlsx`
//! workbook or from CSV text, turned into an [`AppDefinition`] and compiled, reporting every
//! problem at once with its sheet, 1-based spreadsheet row and column header. Every upload is
//! read within [`ImportLimits`]: a hostile file ends in one error naming the limit it passed.

mod archive;
mod limits;
mod sheet;
mod survey;

use serde::Serialize;

use crate::definition::AppDefinition;
pub use limits::ImportLimits;
use limits::{TextBudget, cap_errors};
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
/// `settings` (optional), within the default limits.
pub fn import_xlsx(bytes: &[u8]) -> Result<AppDefinition, Vec<ImportError>> {
    import_xlsx_within(bytes, &ImportLimits::default())
}

/// Imports an `.xlsx` workbook within `limits`.
pub fn import_xlsx_within(
    bytes: &[u8],
    limits: &ImportLimits,
) -> Result<AppDefinition, Vec<ImportError>> {
    let (survey, choices, settings) = sheet::read_workbook(bytes, limits)?;
    survey::import(&survey, choices.as_ref(), settings.as_ref()).map_err(|mut errors| {
        cap_errors(&mut errors, limits.max_errors);
        errors
    })
}

/// Imports the three sheets given as CSV text (header row first), within the default limits.
pub fn import_csv(
    survey: &str,
    choices: Option<&str>,
    settings: Option<&str>,
) -> Result<AppDefinition, Vec<ImportError>> {
    import_csv_within(survey, choices, settings, &ImportLimits::default())
}

/// Imports the three sheets given as CSV text within `limits`; the text budget covers the
/// three together.
pub fn import_csv_within(
    survey: &str,
    choices: Option<&str>,
    settings: Option<&str>,
    limits: &ImportLimits,
) -> Result<AppDefinition, Vec<ImportError>> {
    let mut errors = Vec::new();
    let mut budget = TextBudget::new(limits);
    let mut read =
        |name: &str, text: &str| match Table::from_csv_within(name, text, limits, &mut budget) {
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
    survey::import(&survey, choices.as_ref(), settings.as_ref()).map_err(|mut errors| {
        cap_errors(&mut errors, limits.max_errors);
        errors
    })
}
