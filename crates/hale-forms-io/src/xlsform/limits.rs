//! The bounds an XLSForm upload must stay within. Every size a file claims (the sheet's
//! dimension, a zip entry's declared length) is ignored; these limits are checked against what
//! is actually read, so memory and time grow with the limits, never with the file's claims.

use super::ImportError;

/// Limits on one import. The defaults fit any real XLSForm many times over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportLimits {
    /// Rows with content in one sheet, not counting its header row.
    pub max_rows: usize,
    /// Columns in one sheet: a cell with content further right is refused.
    pub max_columns: usize,
    /// Bytes of text in one cell.
    pub max_cell_bytes: usize,
    /// Bytes of cell text kept across all sheets (and the size of CSV text).
    pub max_text_bytes: usize,
    /// Bytes one workbook part (a zip entry) may inflate to.
    pub max_part_bytes: u64,
    /// Bytes all the workbook's parts together may inflate to.
    pub max_workbook_bytes: u64,
    /// Entries in the workbook's zip archive.
    pub max_parts: usize,
    /// Entries in the workbook's shared-strings table.
    pub max_shared_strings: usize,
    /// Problems reported; the rest are counted in one closing `too_many_errors` entry.
    pub max_errors: usize,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self {
            max_rows: 10_000,
            max_columns: 64,
            max_cell_bytes: 64 * 1024,
            max_text_bytes: 4 * 1024 * 1024,
            max_part_bytes: 20 * 1024 * 1024,
            max_workbook_bytes: 64 * 1024 * 1024,
            max_parts: 1_000,
            max_shared_strings: 100_000,
            max_errors: 100,
        }
    }
}

/// An error about a limit: it names the limit passed and the place, never the content.
pub(crate) fn limit_error(
    sheet: &str,
    row: usize,
    code: &'static str,
    message: String,
) -> ImportError {
    ImportError {
        sheet: sheet.to_owned(),
        row,
        column: String::new(),
        code,
        message,
    }
}

/// Cell text kept so far, across every sheet of one import.
pub(crate) struct TextBudget {
    left: usize,
    limit: usize,
}

impl TextBudget {
    pub(crate) fn new(limits: &ImportLimits) -> Self {
        Self {
            left: limits.max_text_bytes,
            limit: limits.max_text_bytes,
        }
    }

    /// Takes `bytes` from the budget, or says which limit the sheet passed.
    pub(crate) fn spend(
        &mut self,
        sheet: &str,
        row: usize,
        bytes: usize,
    ) -> Result<(), ImportError> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(text_too_large(sheet, row, self.limit)),
        }
    }
}

pub(crate) fn text_too_large(sheet: &str, row: usize, limit: usize) -> ImportError {
    limit_error(
        sheet,
        row,
        "text_too_large",
        format!("the spreadsheet holds more than {limit} bytes of text"),
    )
}

/// Keeps the first `max_errors` problems and replaces the rest with one entry counting them.
pub(crate) fn cap_errors(errors: &mut Vec<ImportError>, max_errors: usize) {
    if errors.len() <= max_errors {
        return;
    }
    let hidden = errors.len() - max_errors;
    errors.truncate(max_errors);
    errors.push(limit_error(
        "",
        1,
        "too_many_errors",
        format!("{hidden} more problems are not shown; fix these and import again"),
    ));
}
