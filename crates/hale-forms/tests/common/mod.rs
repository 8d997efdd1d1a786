//! The sample apps under `examples/`, read from their XLSForm CSV sheets, shared by the test
//! files (each uses part of it).

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use hale_forms::AppDefinition;
use hale_forms_io::xlsform::{ImportError, import_csv};

pub const SAMPLES: [&str; 3] = ["daily-vitals", "respiratory-diary", "medication-doses"];

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

pub fn sheet_text(sample: &str, sheet: &str) -> Option<String> {
    std::fs::read_to_string(examples().join(sample).join(format!("{sheet}.csv"))).ok()
}

pub fn import_sample_csv(sample: &str) -> Result<AppDefinition, Vec<ImportError>> {
    import_csv(
        &sheet_text(sample, "survey").unwrap(),
        sheet_text(sample, "choices").as_deref(),
        sheet_text(sample, "settings").as_deref(),
    )
}

/// A sample that must import: the samples are part of the product.
pub fn sample_definition(sample: &str) -> AppDefinition {
    import_sample_csv(sample).unwrap()
}
