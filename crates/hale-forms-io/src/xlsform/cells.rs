//! Where each part of an imported definition was written in the spreadsheet, so that lint
//! findings about the definition name their cell (`survey!C7`), as import errors name theirs.

use std::collections::{BTreeMap, HashMap};

use crate::definition::DefinitionError;
use crate::lint::LintReport;

/// The rows and columns a spreadsheet's definition came from. Kept with the stored version
/// (as JSON), so that its lint names cells long after the upload is gone.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SheetMap {
    /// Field path → position in walk order.
    pub(super) paths: HashMap<String, usize>,
    /// The survey row of each field, in walk order.
    pub(super) rows: Vec<usize>,
    /// The first choices row of each list.
    pub(super) list_rows: BTreeMap<String, usize>,
    pub(super) settings_row: usize,
    /// Each sheet's column headers (canonical), by sheet name.
    pub(super) headers: BTreeMap<String, Vec<String>>,
}

/// A column's letters: 0 → `A`, 25 → `Z`, 26 → `AA`.
fn column_letters(index: usize) -> String {
    let mut letters = Vec::new();
    let mut rest = index + 1;
    while rest > 0 {
        let digit = (rest - 1) % 26;
        letters.push(char::from(b'A' + digit as u8));
        rest = (rest - 1) / 26;
    }
    letters.iter().rev().collect()
}

impl SheetMap {
    /// The cell the definition member at `path` was read from: `survey!C7`, or `survey!7:7`
    /// when the sheet has no column for it (a translation no column gives, say).
    pub fn cell(&self, path: &str) -> String {
        let settings = |column: &str| ("settings".to_owned(), self.settings_row, column.to_owned());
        let (sheet, row, column) = match path {
            "$.title" => settings("form_title"),
            "$.rate_limit_policy" => settings("rate_limit_policy"),
            "$.default_language" => settings("default_language"),
            _ => {
                let paths: HashMap<&str, usize> = self
                    .paths
                    .iter()
                    .map(|(path, index)| (path.as_str(), *index))
                    .collect();
                let lookup = DefinitionError {
                    path: path.to_owned(),
                    code: "",
                    message: String::new(),
                };
                let found = super::survey::locate(
                    &lookup,
                    &paths,
                    &self.rows,
                    &self.list_rows,
                    self.settings_row,
                );
                (found.sheet, found.row, found.column)
            }
        };
        let position = self.headers.get(&sheet).and_then(|headers| {
            headers
                .iter()
                .position(|header| header.eq_ignore_ascii_case(&column))
        });
        match position {
            Some(index) if !column.is_empty() => format!("{sheet}!{}{row}", column_letters(index)),
            _ => format!("{sheet}!{row}:{row}"),
        }
    }

    /// Names the cell of every finding in `report`.
    pub fn name_cells(&self, report: &mut LintReport) {
        for issue in report.issues_mut() {
            issue.cell = Some(self.cell(&issue.path));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::column_letters;

    #[test]
    fn columns_are_lettered_as_spreadsheets_do() {
        let letters: Vec<String> = [0, 2, 25, 26, 27, 51, 52, 701, 702]
            .into_iter()
            .map(column_letters)
            .collect();
        assert_eq!(
            letters,
            ["A", "C", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]
        );
    }
}
