//! Hostile XLSForm workbooks, written part by part so that each can break one rule a
//! spreadsheet program would never break. Shared by the importer's tests and the API's.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use zip::write::SimpleFileOptions;

const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="survey" sheetId="1" r:id="rId1"/></sheets></workbook>"#;

const RELATIONSHIPS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>"#;

/// A part's content, produced in pieces so that a large part never sits in memory whole.
pub enum Part {
    Text(String),
    /// `head`, then `filler` written `times` times, then `tail`.
    Repeated {
        head: String,
        filler: String,
        times: usize,
        tail: String,
    },
}

/// A one-sheet workbook (the sheet is named `survey`) with the given sheet and extra parts.
pub fn workbook(sheet: Part, extra: Vec<(&str, Part)>) -> Vec<u8> {
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut parts = vec![
        ("[Content_Types].xml", Part::Text(CONTENT_TYPES.to_owned())),
        ("xl/workbook.xml", Part::Text(WORKBOOK.to_owned())),
        (
            "xl/_rels/workbook.xml.rels",
            Part::Text(RELATIONSHIPS.to_owned()),
        ),
        ("xl/worksheets/sheet1.xml", sheet),
    ];
    parts.extend(extra);
    for (name, part) in parts {
        archive.start_file(name, options).unwrap();
        match part {
            Part::Text(text) => archive.write_all(text.as_bytes()).unwrap(),
            Part::Repeated {
                head,
                filler,
                times,
                tail,
            } => {
                archive.write_all(head.as_bytes()).unwrap();
                // Fillers are batched so the deflater sees large writes.
                let batch = filler.repeat(4096.min(times.max(1)));
                let mut left = times;
                while left > 0 {
                    let now = left.min(4096);
                    archive
                        .write_all(&batch.as_bytes()[..now * filler.len()])
                        .unwrap();
                    left -= now;
                }
                archive.write_all(tail.as_bytes()).unwrap();
            }
        }
    }
    archive.finish().unwrap().into_inner()
}

pub const SHEET_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#;

fn inline(reference: &str, text: &str) -> String {
    format!(r#"<c r="{reference}" t="inlineStr"><is><t>{text}</t></is></c>"#)
}

/// A sheet from rows of inline-string cells, `(reference, text)`.
pub fn sheet(rows: &[&[(&str, &str)]]) -> String {
    let mut xml = format!("{SHEET_HEAD}<sheetData>");
    for (index, cells) in rows.iter().enumerate() {
        xml.push_str(&format!(r#"<row r="{}">"#, index + 1));
        for (reference, text) in cells.iter() {
            xml.push_str(&inline(reference, text));
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData></worksheet>");
    xml
}

/// The header `type, name, label` as the first row.
fn header_row() -> String {
    format!(
        r#"<row r="1">{}{}{}</row>"#,
        inline("A1", "type"),
        inline("B1", "name"),
        inline("C1", "label")
    )
}

/// One used cell at A1 and one at XFD1048576: the sheet claims 17 billion cells.
pub fn sparse_corners() -> Vec<u8> {
    let xml = format!(
        r#"{SHEET_HEAD}<dimension ref="A1:XFD1048576"/><sheetData><row r="1">{}</row><row r="1048576">{}</row></sheetData></worksheet>"#,
        inline("A1", "type"),
        inline("XFD1048576", "x")
    );
    workbook(Part::Text(xml), Vec::new())
}

/// `rows` identical survey rows (every one named `same`, so every one is also an error).
pub fn identical_rows(rows: usize) -> Vec<u8> {
    let sheet = Part::Repeated {
        head: format!("{SHEET_HEAD}<sheetData>{}", header_row()),
        // Cells without a position take the next row and column, as the format allows.
        filler: String::from(
            r#"<row><c t="inlineStr"><is><t>text</t></is></c><c t="inlineStr"><is><t>same</t></is></c><c t="inlineStr"><is><t>Same</t></is></c></row>"#,
        ),
        times: rows,
        tail: String::from("</sheetData></worksheet>"),
    };
    workbook(sheet, Vec::new())
}

/// A styles part (read whole when the workbook opens) that inflates to `bytes` of blanks.
pub fn zip_bomb(bytes: usize) -> Vec<u8> {
    let styles = Part::Repeated {
        head: String::from(
            r#"<?xml version="1.0"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
        ),
        filler: String::from(" "),
        times: bytes,
        tail: String::from("</styleSheet>"),
    };
    workbook(
        Part::Text(sheet(&[&[("A1", "type")]])),
        vec![("xl/styles.xml", styles)],
    )
}

/// `depth` nested elements inside the sheet, between two rows.
pub fn deeply_nested(depth: usize) -> Vec<u8> {
    let xml = format!(
        "{SHEET_HEAD}<sheetData>{}{}{}</sheetData></worksheet>",
        header_row(),
        "<x>".repeat(depth),
        "</x>".repeat(depth)
    );
    workbook(Part::Text(xml), Vec::new())
}

/// `depth` nested rich-text runs inside one shared string.
pub fn deeply_nested_shared_string(depth: usize) -> Vec<u8> {
    let strings = format!(
        r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si>{}<t>type</t>{}</si></sst>"#,
        "<r>".repeat(depth),
        "</r>".repeat(depth)
    );
    let xml = format!(
        r#"{SHEET_HEAD}<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData></worksheet>"#
    );
    workbook(
        Part::Text(xml),
        vec![("xl/sharedStrings.xml", Part::Text(strings))],
    )
}

/// A shared-strings table of `count` one-letter strings.
pub fn shared_strings(count: usize) -> Vec<u8> {
    let strings = Part::Repeated {
        head: String::from(
            r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#,
        ),
        filler: String::from("<si><t>a</t></si>"),
        times: count,
        tail: String::from("</sst>"),
    };
    workbook(
        Part::Text(sheet(&[&[("A1", "type")]])),
        vec![("xl/sharedStrings.xml", strings)],
    )
}

/// One inline-string cell of `bytes` letters below the header.
pub fn large_cell(bytes: usize) -> Vec<u8> {
    let sheet = Part::Repeated {
        head: format!(
            r#"{SHEET_HEAD}<sheetData>{}<row r="2"><c r="C2" t="inlineStr"><is><t>"#,
            header_row()
        ),
        filler: String::from("A"),
        times: bytes,
        tail: String::from("</t></is></c></row></sheetData></worksheet>"),
    };
    workbook(sheet, Vec::new())
}

/// A survey sheet as CSV whose second line is `bytes` long.
pub fn csv_long_line(bytes: usize) -> String {
    format!("type,name,label\ntext,q,{}\n", "A".repeat(bytes))
}
