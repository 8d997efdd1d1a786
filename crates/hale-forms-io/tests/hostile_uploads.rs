//! Hostile uploads end in one error naming the limit they passed, quickly and within bounded
//! memory: sparse sheets claiming billions of cells, a million rows, zip bombs, deep nesting,
//! huge shared-string tables and cells, long CSV lines, and random bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hale_forms_io::xlsform::{
    ImportError, ImportLimits, import_csv, import_csv_within, import_xlsx, import_xlsx_within,
    read_data_file,
};
use proptest::prelude::*;

mod hostile;

fn codes(errors: &[ImportError]) -> Vec<&'static str> {
    errors.iter().map(|error| error.code).collect()
}

/// Runs the import, requiring it to end in an error; returns the error codes.
fn refused(bytes: &[u8]) -> Vec<&'static str> {
    codes(&import_xlsx(bytes).expect_err("a hostile workbook must be refused"))
}

#[test]
fn a_sheet_claiming_every_cell_of_the_grid_is_refused_by_its_columns() {
    assert_eq!(refused(&hostile::sparse_corners()), ["too_many_columns"]);
}

#[test]
fn a_sparse_sheet_within_the_columns_reads_only_its_used_cells() {
    let xml = hostile::sheet(&[&[("A1", "type"), ("B1", "name"), ("C1", "label")]]);
    let xml = xml.replace(
        "</sheetData>",
        r#"<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>note</t></is></c><c r="B1048576" t="inlineStr"><is><t>far</t></is></c><c r="C1048576" t="inlineStr"><is><t>Far</t></is></c></row></sheetData>"#,
    );
    let bytes = hostile::workbook(hostile::Part::Text(xml), Vec::new());
    let app = import_xlsx(&bytes).unwrap();
    assert_eq!(app.fields.len(), 1);
    assert_eq!(app.fields[0].name, "far");
}

#[test]
fn a_million_identical_rows_are_refused_by_size_before_anything_is_kept() {
    let codes = refused(&hostile::identical_rows(1_000_000));
    assert_eq!(codes, ["workbook_too_large"]);
}

#[test]
fn rows_past_the_limit_are_refused() {
    let limits = ImportLimits::default();
    let errors = import_xlsx(&hostile::identical_rows(limits.max_rows + 1)).unwrap_err();
    assert_eq!(codes(&errors), ["too_many_rows"]);
    assert_eq!(errors[0].sheet, "survey");
    assert_eq!(errors[0].row, limits.max_rows + 2);
}

#[test]
fn errors_are_capped_and_located_in_linear_time() {
    // Every row repeats the same name: one error per row, each mapped back to its cell, and
    // every row still ordered by dependency. 40,000 rows took 13 s when either was quadratic.
    let limits = ImportLimits {
        max_rows: 40_000,
        ..ImportLimits::default()
    };
    let bytes = hostile::identical_rows(40_000);
    let errors = import_xlsx_within(&bytes, &limits).unwrap_err();
    let max_errors = limits.max_errors;
    assert_eq!(errors.len(), max_errors + 1);
    let last = errors.last().unwrap();
    assert_eq!(last.code, "too_many_errors");
    // The closing entry counts exactly the problems it hides.
    let all = import_xlsx_within(
        &bytes,
        &ImportLimits {
            max_errors: usize::MAX,
            ..limits
        },
    )
    .unwrap_err();
    let hidden = all.len() - max_errors;
    assert!(
        last.message.starts_with(&format!("{hidden} more problems")),
        "{} (expected {hidden} hidden)",
        last.message
    );
}

#[test]
fn duplicate_names_are_located_on_their_own_rows() {
    let errors = import_xlsx(&hostile::identical_rows(3)).unwrap_err();
    let duplicates: Vec<usize> = errors
        .iter()
        .filter(|error| error.code == "duplicate_name")
        .map(|error| error.row)
        .collect();
    assert!(!duplicates.is_empty(), "{errors:#?}");
    assert!(
        duplicates.iter().all(|row| (3..=4).contains(row)),
        "{errors:#?}"
    );
}

#[test]
fn a_zip_bomb_is_refused_by_its_inflated_size() {
    let limits = ImportLimits::default();
    let bytes = hostile::zip_bomb(limits.max_part_bytes as usize + 1024 * 1024);
    assert!(
        bytes.len() < 200 * 1024,
        "the bomb is {} bytes",
        bytes.len()
    );
    assert_eq!(refused(&bytes), ["workbook_too_large"]);
}

#[test]
fn the_whole_workbook_is_capped_as_well_as_each_part() {
    let limits = ImportLimits {
        max_part_bytes: 2 * 1024 * 1024,
        max_workbook_bytes: 1024 * 1024,
        ..ImportLimits::default()
    };
    let bytes = hostile::zip_bomb(1536 * 1024);
    let errors = import_xlsx_within(&bytes, &limits).unwrap_err();
    assert_eq!(codes(&errors), ["workbook_too_large"]);
    assert!(errors[0].message.contains("the workbook inflates"));
}

#[test]
fn deeply_nested_xml_does_not_exhaust_the_stack() {
    // Whatever the outcome, the import returns: no recursion follows the nesting.
    let _ = import_xlsx(&hostile::deeply_nested(200_000));
    let _ = import_xlsx(&hostile::deeply_nested_shared_string(200_000));
}

#[test]
fn a_million_shared_strings_are_refused() {
    assert_eq!(
        refused(&hostile::shared_strings(1_000_000)),
        ["too_many_shared_strings"]
    );
}

#[test]
fn a_hundred_megabyte_cell_is_refused_by_the_part_size() {
    assert_eq!(
        refused(&hostile::large_cell(100 * 1024 * 1024)),
        ["workbook_too_large"]
    );
}

#[test]
fn a_cell_past_the_cell_limit_is_refused_without_echoing_it() {
    let limits = ImportLimits::default();
    let errors = import_xlsx(&hostile::large_cell(limits.max_cell_bytes + 1)).unwrap_err();
    assert_eq!(codes(&errors), ["cell_too_large"]);
    assert_eq!((errors[0].sheet.as_str(), errors[0].row), ("survey", 2));
    assert!(!errors[0].message.contains("AAAA"));
}

#[test]
fn text_past_the_total_limit_is_refused() {
    let limits = ImportLimits {
        max_text_bytes: 1000,
        ..ImportLimits::default()
    };
    let errors = import_xlsx_within(&hostile::large_cell(2000), &limits).unwrap_err();
    assert_eq!(codes(&errors), ["text_too_large"]);
    let within = import_xlsx_within(&hostile::large_cell(900), &limits).unwrap_err();
    assert!(!codes(&within).contains(&"text_too_large"), "{within:#?}");
}

#[test]
fn too_many_parts_are_refused() {
    let limits = ImportLimits {
        max_parts: 3,
        ..ImportLimits::default()
    };
    let errors = import_xlsx_within(&hostile::sparse_corners(), &limits).unwrap_err();
    assert_eq!(codes(&errors), ["workbook_too_large"]);
}

#[test]
fn a_csv_with_a_ten_megabyte_line_is_refused() {
    let errors = import_csv(&hostile::csv_long_line(10 * 1024 * 1024), None, None).unwrap_err();
    assert_eq!(codes(&errors), ["text_too_large"]);
}

#[test]
fn csv_text_and_cells_may_reach_their_limits_exactly() {
    let text = "type,name,label\ntext,a,ABCDEFGHIJ\n";
    let exact = ImportLimits {
        max_cell_bytes: 10,
        max_text_bytes: text.len(),
        ..ImportLimits::default()
    };
    assert!(import_csv_within(text, None, None, &exact).is_ok());
    let one_less = ImportLimits {
        max_text_bytes: text.len() - 1,
        ..exact
    };
    let errors = import_csv_within(text, None, None, &one_less).unwrap_err();
    assert_eq!(codes(&errors), ["text_too_large"]);
}

#[test]
fn a_shared_strings_table_counts_towards_the_part_size() {
    let limits = ImportLimits {
        max_part_bytes: 4_096,
        ..ImportLimits::default()
    };
    let errors = import_xlsx_within(&hostile::shared_strings(1_000), &limits).unwrap_err();
    assert_eq!(codes(&errors), ["workbook_too_large"]);
}

#[test]
fn a_cell_pointing_past_the_shared_strings_table_is_malformed() {
    // Found by the fuzzer: calamine indexes the table with the cell's number and panicked.
    let sheet = format!(
        "{}<sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>7</v></c></row></sheetData></worksheet>",
        hostile::SHEET_HEAD
    );
    let bytes = hostile::workbook(hostile::Part::Text(sheet), Vec::new());
    assert_eq!(refused(&bytes), ["malformed_workbook"]);
}

#[test]
fn a_zip_archive_that_is_not_a_workbook_is_malformed() {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file("notes.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    writer.write_all(b"hello").unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    assert_eq!(refused(&bytes), ["malformed_workbook"]);
}

#[test]
fn csv_rows_columns_and_cells_are_capped() {
    let limits = ImportLimits {
        max_rows: 2,
        max_columns: 3,
        max_cell_bytes: 10,
        ..ImportLimits::default()
    };
    let rows = "type,name,label\ntext,a,A\ntext,b,B\ntext,c,C\n";
    let errors = import_csv_within(rows, None, None, &limits).unwrap_err();
    assert_eq!((codes(&errors), errors[0].row), (vec!["too_many_rows"], 4));
    let columns = "type,name,label,extra\n";
    let errors = import_csv_within(columns, None, None, &limits).unwrap_err();
    assert_eq!(codes(&errors), ["too_many_columns"]);
    let cell = "type,name,label\ntext,a,ABCDEFGHIJK\n";
    let errors = import_csv_within(cell, None, None, &limits).unwrap_err();
    assert_eq!(codes(&errors), ["cell_too_large"]);
    // Trailing empty cells beyond the last column take no room.
    let blank = "type,name,label,,,,\ntext,a,A,,,,\n";
    assert!(import_csv_within(blank, None, None, &limits).is_ok());
}

/// A small valid workbook to mutate.
fn seed() -> Vec<u8> {
    hostile::workbook(
        hostile::Part::Text(hostile::sheet(&[
            &[("A1", "type"), ("B1", "name"), ("C1", "label")],
            &[("A2", "integer"), ("B2", "age"), ("C2", "Age")],
        ])),
        Vec::new(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_workbooks_never_crash(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = seed();
        for (index, byte) in flips {
            let at = index.index(bytes.len());
            bytes[at] = byte;
        }
        let keep = cut.index(bytes.len() + 1).max(bytes.len() / 2);
        bytes.truncate(keep);
        let _ = import_xlsx(&bytes);
    }

    #[test]
    fn random_bytes_never_crash(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = import_xlsx(&bytes);
    }

    #[test]
    fn random_csv_never_crashes(
        survey in "[a-z_:, \"\n]{0,400}",
        choices in proptest::option::of("[a-z_, \"\n]{0,200}"),
        settings in proptest::option::of("[a-z_, \"\n]{0,200}"),
    ) {
        let _ = import_csv(&survey, choices.as_deref(), settings.as_deref());
    }

    /// A data file, CSV or XML, of any bytes is read or refused, never a crash, and what is
    /// read always compiles as a definition's data file or says why not.
    #[test]
    fn random_data_files_never_crash(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        xml in any::<bool>(),
    ) {
        let name = if xml { "f.xml" } else { "f.csv" };
        let _ = read_data_file(name, &bytes, "en", &ImportLimits::default());
    }

    #[test]
    fn xml_shaped_data_files_never_crash(text in "(<[a-z]{1,3}>|</[a-z]{1,3}>|[a-z&;]{0,4}|<!--|-->|<\\?x\\?>){0,80}") {
        let _ = read_data_file("f.xml", text.as_bytes(), "en", &ImportLimits::default());
    }
}

#[test]
fn errors_name_the_place_without_repeating_the_cell() {
    let header = "h".repeat(10_000);
    let survey = format!("type,name,label,{header}\nmarkertype,q,Q\nend_group,,\n");
    let parameters = "type,name,label,parameters\ninteger,n,N,markerkey=markervalue\n";
    let mut errors = import_csv(&survey, None, None).unwrap_err();
    errors.extend(import_csv(parameters, None, None).unwrap_err());
    let found: Vec<&str> = errors.iter().map(|error| error.code).collect();
    for code in [
        "unknown_column",
        "unknown_type",
        "unbalanced_group",
        "unsupported_parameter",
    ] {
        assert!(found.contains(&code), "{code} missing from {found:?}");
    }
    for error in &errors {
        assert!(!error.message.contains("marker"), "{error:?}");
        assert!(!error.message.contains("hhhh"), "{error:?}");
        assert!(error.column.len() <= 64, "{error:?}");
    }
}
