//! Data files attached to an app version (`fruits.csv`, `shops.xml`): the rows that
//! `select_one_from_file` offers and `pulldata()` reads, as XLSForm defines them. Each row
//! becomes one entry of the definition's `data_files`: its `name` the value (the row's number
//! when the file has no `name`), its `label` the label (`label::English (en)` columns are its
//! translations), every other column an attribute.
//!
//! Like every upload this is hostile input: the text is bounded before it is parsed, rows,
//! columns, cells and XML nesting are capped as they are read, and nothing is allocated from a
//! size the file claims.

use std::collections::BTreeMap;

use quick_xml::events::Event;

use super::ImportError;
use super::limits::{ImportLimits, TextBudget, limit_error};
use super::sheet::Table;
use super::survey::language_code;
use crate::definition::{Choice, DATA_FILE_NAME_MESSAGE, Text, is_data_file_name, is_valid_name};

/// Elements below an XML data file's root: `<root><item><name>…` is three levels.
const MAX_XML_DEPTH: usize = 3;

/// Reads the data file `name` (its extension says the format) for an app whose texts are in
/// `default_language` first. Every problem is reported at once where the format allows it.
pub fn read_data_file(
    name: &str,
    bytes: &[u8],
    default_language: &str,
    limits: &ImportLimits,
) -> Result<Vec<Choice>, Vec<ImportError>> {
    let refuse = |code, message: String| vec![limit_error(name, 1, code, message)];
    if !is_data_file_name(name) {
        return Err(refuse(
            "invalid_data_file",
            String::from(DATA_FILE_NAME_MESSAGE),
        ));
    }
    if bytes.len() > limits.max_text_bytes {
        return Err(refuse(
            "text_too_large",
            format!("the file holds more than {} bytes", limits.max_text_bytes),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        refuse(
            "invalid_unicode",
            String::from("the file is not UTF-8 text"),
        )
    })?;
    // A byte-order mark is no part of the first header.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (headers, rows) = if name.ends_with(".xml") {
        read_xml(name, text, limits)?
    } else {
        let table = Table::from_csv_within(name, text, limits, &mut TextBudget::new(limits))
            .map_err(|error| vec![error])?;
        (table.headers, table.rows)
    };
    to_choices(name, &headers, &rows, default_language)
}

/// What each column of a data file is.
enum Column {
    Name,
    Label(Option<String>),
    Attribute(String),
    /// A header no expression could name: passed over, as on the choices sheet.
    Ignored,
}

fn column(header: &str) -> Column {
    let lower = header.to_ascii_lowercase();
    if lower == "name" {
        return Column::Name;
    }
    if lower == "label" {
        return Column::Label(None);
    }
    // `label::English (en)`, or `label:fr` as a workbook without `::` writes it.
    let language = ["label::", "label:"]
        .iter()
        .find(|prefix| lower.starts_with(*prefix))
        .map(|prefix| &header[prefix.len()..]);
    match language {
        Some(language) => Column::Label(Some(language_code(language))),
        None if is_valid_name(header) => Column::Attribute(header.to_owned()),
        None => Column::Ignored,
    }
}

fn to_choices(
    name: &str,
    headers: &[String],
    rows: &[(usize, Vec<String>)],
    default_language: &str,
) -> Result<Vec<Choice>, Vec<ImportError>> {
    let columns: Vec<Column> = headers.iter().map(|header| column(header)).collect();
    let named = columns.iter().any(|column| matches!(column, Column::Name));
    let mut errors = Vec::new();
    let mut choices = Vec::with_capacity(rows.len());
    for (number, (row, cells)) in rows.iter().enumerate() {
        let mut value = (!named).then(|| (number + 1).to_string());
        let mut plain = None;
        let mut translated = BTreeMap::new();
        let mut attributes = BTreeMap::new();
        for (column, cell) in columns.iter().zip(cells) {
            match column {
                Column::Name => value = Some(cell.clone()),
                Column::Label(None) if !cell.is_empty() => plain = Some(cell.clone()),
                Column::Label(Some(language)) if !cell.is_empty() => {
                    translated.insert(language.clone(), cell.clone());
                }
                Column::Attribute(header) if !cell.is_empty() => {
                    attributes.insert(header.clone(), cell.clone());
                }
                _ => {}
            }
        }
        let value = value.unwrap_or_default();
        if value.is_empty() {
            errors.push(ImportError {
                sheet: name.to_owned(),
                row: *row,
                column: String::from("name"),
                code: "name_missing",
                message: String::from("every row of a file with a name column needs a name"),
            });
            continue;
        }
        // A row without a label is shown by its name, as on the choices sheet.
        let label = if translated.is_empty() {
            Text::Plain(plain.unwrap_or_else(|| value.clone()))
        } else {
            if let Some(plain) = plain {
                translated
                    .entry(default_language.to_owned())
                    .or_insert(plain);
            }
            Text::Translated(translated)
        };
        let mut choice = Choice::new(&value, label);
        choice.attributes = attributes;
        choices.push(choice);
    }
    if errors.is_empty() {
        Ok(choices)
    } else {
        Err(errors)
    }
}

type Rows = (Vec<String>, Vec<(usize, Vec<String>)>);

/// An XML data file as XLSForm writes one: `<root><item><name>a</name><label>A</label>…</item>
/// …</root>`, each item a row and each child element a column, in the order first seen.
fn read_xml(name: &str, text: &str, limits: &ImportLimits) -> Result<Rows, Vec<ImportError>> {
    let refuse =
        |row: usize, code, message: &str| vec![limit_error(name, row, code, message.to_owned())];
    let mut reader = quick_xml::Reader::from_str(text);
    let mut headers: Vec<String> = Vec::new();
    let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
    let mut depth = 0usize;
    let mut column: Option<usize> = None;
    loop {
        let row = rows.len() + 1;
        let event = reader
            .read_event()
            .map_err(|_| refuse(row, "malformed_xml", "the XML does not parse"))?;
        match event {
            Event::Start(element) => {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(refuse(
                        row,
                        "nesting_too_deep",
                        "an XML data file is a root of items, each with one element per column",
                    ));
                }
                if depth == 2 {
                    if rows.len() >= limits.max_rows {
                        return Err(refuse(
                            row,
                            "too_many_rows",
                            &format!("a data file has at most {} rows", limits.max_rows),
                        ));
                    }
                    rows.push((row + 1, Vec::new()));
                }
                if depth == 3 {
                    let tag = String::from_utf8_lossy(element.local_name().as_ref()).into_owned();
                    let index = match headers.iter().position(|header| *header == tag) {
                        Some(index) => index,
                        None if headers.len() < limits.max_columns => {
                            headers.push(tag);
                            headers.len() - 1
                        }
                        None => {
                            return Err(refuse(
                                row,
                                "too_many_columns",
                                &format!("a data file has at most {} columns", limits.max_columns),
                            ));
                        }
                    };
                    column = Some(index);
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                column = None;
            }
            Event::Text(content) => {
                if let (Some(index), Some((_, cells))) = (column, rows.last_mut()) {
                    let text = content
                        .unescape()
                        .map_err(|_| refuse(row, "malformed_xml", "the XML does not parse"))?;
                    if text.len() > limits.max_cell_bytes {
                        return Err(refuse(
                            row,
                            "cell_too_large",
                            &format!("a value holds at most {} bytes", limits.max_cell_bytes),
                        ));
                    }
                    if cells.len() <= index {
                        cells.resize(index + 1, String::new());
                    }
                    cells[index].push_str(text.trim());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    rows.retain(|(_, cells)| cells.iter().any(|cell| !cell.is_empty()));
    Ok((headers, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> Result<Vec<Choice>, Vec<ImportError>> {
        read_data_file(name, text.as_bytes(), "en", &ImportLimits::default())
    }

    #[test]
    fn a_csv_file_s_rows_are_values_labels_translations_and_attributes() {
        let rows = read(
            "fruits.csv",
            "\u{feff}name,label,label::Français (fr),price,e f\nmango,Mango,Mangue,3,x\n,,,,\nkiwi,,,2,\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].value, "mango");
        assert_eq!(rows[0].label.in_language("fr"), "Mangue");
        assert_eq!(rows[0].label.in_language("en"), "Mango");
        assert_eq!(
            rows[0].attributes.get("price").map(String::as_str),
            Some("3")
        );
        assert_eq!(
            rows[0].attributes.len(),
            1,
            "a header that is no name is passed over"
        );
        assert_eq!(rows[1].label, Text::Plain(String::from("kiwi")));
        // An empty cell is no attribute, as on the choices sheet.
        let sparse = read("f.csv", "name,price,colour\nlime,,green\n").unwrap();
        assert_eq!(sparse[0].attributes.len(), 1, "{:?}", sparse[0].attributes);
        assert!(!sparse[0].attributes.contains_key("price"));
    }

    #[test]
    fn without_a_name_column_rows_are_numbered() {
        let rows = read("ids.csv", "ParticipantID,site\nP-1,a\nP-2,b\n").unwrap();
        let values: Vec<&str> = rows.iter().map(|row| row.value.as_str()).collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(rows[1].attributes["ParticipantID"], "P-2");
    }

    #[test]
    fn an_xml_file_s_items_are_rows() {
        let rows = read(
            "shops.xml",
            "<root><item><name>a</name><label>A &amp; B</label><city>Lyon</city></item><item><name>b</name><city>Paris</city></item></root>",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].label.in_language("en"), "A & B");
        assert_eq!(rows[1].attributes["city"], "Paris");
        assert_eq!(rows[1].label.in_language("en"), "b");
        // Errors name the item as a sheet's row: the first item is row 2.
        let row = |text: &str| read("shops.xml", text).unwrap_err()[0].row;
        assert_eq!(
            row("<r><i><name>a</name></i><i><name></name><x>1</x></i></r>"),
            3
        );
        assert_eq!(
            row("<r><i><name>a</name></i><i><name>b</name><x><y>1</y></x></i></r>"),
            3
        );
        assert_eq!(row("<r><i><name>a</name></i><i><name>b</q></i></r>"), 3);
    }

    #[test]
    fn hostile_files_are_refused_by_name() {
        let code = |name: &str, text: &str| read(name, text).unwrap_err()[0].code;
        assert_eq!(code("a.txt", "name\na\n"), "invalid_data_file");
        assert_eq!(
            code("a.xml", "<root><item><name>a</b></item></root>"),
            "malformed_xml"
        );
        assert_eq!(
            code("a.xml", "<r><i><n><deeper>x</deeper></n></i></r>"),
            "nesting_too_deep"
        );
        assert_eq!(code("a.csv", "name,label\n,A\n"), "name_missing");
        let limits = ImportLimits {
            max_rows: 2,
            max_text_bytes: 64,
            ..ImportLimits::default()
        };
        let many = |name, text: &str| {
            read_data_file(name, text.as_bytes(), "en", &limits).unwrap_err()[0].code
        };
        assert_eq!(
            many(
                "a.xml",
                "<r><i><n>1</n></i><i><n>2</n></i><i><n>3</n></i></r>"
            ),
            "too_many_rows"
        );
        assert_eq!(many("a.csv", &"x".repeat(65)), "text_too_large");
        let small_cells = ImportLimits {
            max_cell_bytes: 4,
            ..ImportLimits::default()
        };
        let cell = |value: &str| {
            let text = format!("<r><i><name>{value}</name></i></r>");
            read_data_file("a.xml", text.as_bytes(), "en", &small_cells)
        };
        assert!(cell("abcd").is_ok(), "a value of the limit's size is read");
        assert_eq!(cell("abcde").unwrap_err()[0].code, "cell_too_large");
        let narrow = ImportLimits {
            max_columns: 2,
            ..ImportLimits::default()
        };
        let columns = |text: &str| read_data_file("a.xml", text.as_bytes(), "en", &narrow);
        assert!(
            columns("<r><i><name>a</name><b>1</b></i><i><b>2</b><name>c</name></i></r>").is_ok()
        );
        assert_eq!(
            columns("<r><i><name>a</name><b>1</b><c>2</c></i></r>").unwrap_err()[0].code,
            "too_many_columns"
        );
        // The limit admits exactly its size, in either format.
        let xml = |bytes: usize| format!("<r><i><n>{}</n></i></r>", "x".repeat(bytes - 21));
        assert_eq!(many("a.xml", &xml(65)), "text_too_large");
        let exact = read_data_file("a.xml", xml(64).as_bytes(), "en", &limits).unwrap();
        assert_eq!(exact.len(), 1);
        let csv = format!("name\n{}\n", "x".repeat(58));
        assert_eq!(csv.len(), 64);
        assert_eq!(
            read_data_file("a.csv", csv.as_bytes(), "en", &limits)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            read_data_file("a.csv", b"name\n\xff\n", "en", &limits).unwrap_err()[0].code,
            "invalid_unicode"
        );
    }
}
