//! Fuzzes the XLSForm importer: any bytes as a workbook, any text as CSV sheets, and any bytes
//! as a data file attached to a version (CSV and XML), must import or fail with errors, never
//! panic or abort, within the import limits.
//! Run with `cargo +nightly fuzz run xlsform_import` from `crates/hale-forms`.

#![no_main]

use std::sync::Once;

use hale_forms_io::xlsform::{ImportLimits, import_csv, import_xlsx, read_data_file};
use libfuzzer_sys::fuzz_target;

/// Set aside libFuzzer's panic hook once, which aborts on every panic, even one the importer
/// catches on purpose (a panic inside calamine is reported as a malformed workbook). A panic
/// that escapes the importer still ends the run: libFuzzer aborts when it unwinds out.
static QUIET_CAUGHT_PANICS: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET_CAUGHT_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let _ = import_xlsx(data);
    for name in ["f.csv", "f.xml"] {
        let _ = read_data_file(name, data, "en", &ImportLimits::default());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        // The first two form feeds, if any, split the survey from the choices and settings.
        let mut sheets = text.splitn(3, '\u{c}');
        let survey = sheets.next().unwrap_or("");
        let _ = import_csv(survey, sheets.next(), sheets.next());
    }
});
