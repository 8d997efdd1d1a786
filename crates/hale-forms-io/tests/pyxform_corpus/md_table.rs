//! pyxform's markdown tables (`| survey |` starts a sheet, `| | type | name |` is a row) read
//! into in-memory sheets, the way pyxform's own test helper reads them: cells trimmed, `\|`
//! an escaped bar, empty rows dropped, separator rows (`|---|`) skipped.

use hale_forms_io::xlsform::{ImportLimits, Table};

/// The cells of one table line, or `None` for a line that is not a table row.
fn row_cells(line: &str) -> Option<Vec<Option<String>>> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    if !inner.is_empty() && inner.chars().all(|c| c == '|' || c == '-') {
        return None;
    }
    let mut cells = Vec::new();
    let mut current = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                current.push('|');
            }
            '|' => cells.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    cells.push(current);
    Some(
        cells
            .into_iter()
            .map(|cell| {
                let trimmed = cell.trim();
                (!trimmed.is_empty()).then(|| trimmed.to_owned())
            })
            .collect(),
    )
}

/// Every sheet of a markdown workbook, each as its rows of cells (the first is the header).
pub fn sheets(md: &str) -> Vec<(String, Vec<Vec<String>>)> {
    let mut sheets: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    for line in md.lines() {
        let Some(cells) = row_cells(line) else {
            continue;
        };
        let mut cells = cells.into_iter();
        if let Some(Some(name)) = cells.next() {
            sheets.push((name, Vec::new()));
        }
        let rest: Vec<Option<String>> = cells.collect();
        if rest.iter().all(Option::is_none) {
            continue;
        }
        if let Some((_, rows)) = sheets.last_mut() {
            rows.push(rest.into_iter().map(Option::unwrap_or_default).collect());
        }
    }
    sheets
}

/// The workbook as the importer's tables, or the first sheet the limits refuse.
pub fn tables(md: &str) -> Result<Vec<Table>, String> {
    let limits = ImportLimits::default();
    sheets(md)
        .into_iter()
        .map(|(name, rows)| {
            Table::from_cells(&name, &rows, &limits).map_err(|error| error.code.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sheets_rows_and_escaped_bars() {
        let md = "
            | survey |
            | | type | name | label |
            | | text | a | A \\| B |
            | | | | |
            | choices |
            | | list_name | name | label |
            | | yn | y | Yes |
        ";
        let sheets = sheets(md);
        assert_eq!(sheets.len(), 2);
        assert_eq!(sheets[0].0, "survey");
        assert_eq!(sheets[0].1.len(), 2);
        assert_eq!(sheets[0].1[1][2], "A | B");
        assert_eq!(sheets[1].1[1], vec!["yn", "y", "Yes"]);
    }
}
