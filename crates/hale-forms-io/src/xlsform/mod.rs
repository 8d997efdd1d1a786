//! XLSForm import: a survey sheet (plus optional choices and settings sheets), from an `.xlsx`
//! workbook or from CSV text, turned into an [`AppDefinition`] and compiled, reporting every
//! problem at once with its sheet, 1-based spreadsheet row and column header. Every upload is
//! read within [`ImportLimits`]: a hostile file ends in one error naming the limit it passed.

mod archive;
mod cells;
mod columns;
mod data_file;
mod limits;
mod parameters;
mod sheet;
mod survey;
mod types;

use serde::Serialize;

use crate::definition::AppDefinition;
pub use cells::SheetMap;
pub use data_file::read_data_file;
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
    import_xlsx_mapped(bytes, limits).map(|(app, _)| app)
}

/// [`import_xlsx_within`], with where each part of the definition was written.
pub fn import_xlsx_mapped(
    bytes: &[u8],
    limits: &ImportLimits,
) -> Result<(AppDefinition, SheetMap), Vec<ImportError>> {
    let (survey, choices, settings) = sheet::read_workbook(bytes, limits)?;
    survey::import_mapped(&survey, choices.as_ref(), settings.as_ref()).map_err(|mut errors| {
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
    import_csv_mapped(survey, choices, settings, limits).map(|(app, _)| app)
}

/// [`import_csv_within`], with where each part of the definition was written.
pub fn import_csv_mapped(
    survey: &str,
    choices: Option<&str>,
    settings: Option<&str>,
    limits: &ImportLimits,
) -> Result<(AppDefinition, SheetMap), Vec<ImportError>> {
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
    survey::import_mapped(&survey, choices.as_ref(), settings.as_ref()).map_err(|mut errors| {
        cap_errors(&mut errors, limits.max_errors);
        errors
    })
}

/// Sheets other tools define that Hale does not honour: refused by name rather than ignored,
/// because ignoring them would change the form's meaning.
const REFUSED_SHEETS: [(&str, &str); 3] = [
    (
        "entities",
        "entities (ODK's case records) are not supported: Hale keeps subjects itself",
    ),
    (
        "external_choices",
        "external choices (select_one_external) are not supported",
    ),
    ("osm", "OpenStreetMap questions are not supported"),
];

/// Imports a workbook already read into sheets (by any reader: the xlsx and CSV readers use
/// it through their own entry points, tests feed markdown tables through it). Sheet names are
/// matched case-insensitively; sheets Hale does not know are ignored, as the XLSForm
/// specification says, except those whose meaning Hale cannot keep.
pub fn import_tables(
    sheets: &[Table],
    limits: &ImportLimits,
) -> Result<AppDefinition, Vec<ImportError>> {
    let find = |wanted: &str| {
        sheets
            .iter()
            .find(|sheet| sheet.name.eq_ignore_ascii_case(wanted))
    };
    let mut errors = Vec::new();
    for (name, message) in REFUSED_SHEETS {
        if find(name).is_some_and(|sheet| !sheet.rows.is_empty()) {
            errors.push(ImportError {
                sheet: name.to_owned(),
                row: 1,
                column: String::new(),
                code: "unsupported_sheet",
                message: message.to_owned(),
            });
        }
    }
    let Some(survey) = find("survey") else {
        errors.push(ImportError {
            sheet: String::from("survey"),
            row: 1,
            column: String::new(),
            code: "survey_missing",
            message: String::from("the workbook needs a sheet named 'survey'"),
        });
        return Err(errors);
    };
    match survey::import(survey, find("choices"), find("settings")) {
        Ok(app) if errors.is_empty() => Ok(app),
        Ok(_) => Err(errors),
        Err(mut more) => {
            errors.append(&mut more);
            cap_errors(&mut errors, limits.max_errors);
            Err(errors)
        }
    }
}
