//! Hale's form importers and exporters, beside the engine: XLSForm workbooks and CSV sheets
//! (`xlsform`) and FHIR R4 Questionnaires with SDC (`questionnaire`). Each reads a foreign
//! format into a `hale-forms` definition, or writes one out; the engine that compiles and
//! validates the definition (and that the browser mirrors) holds no parser of these formats.
//! Every import is hostile-input parsing: size, row, column and nesting caps, nothing
//! allocated from a size the input claims. See `docs/app-format.md` at the repository root.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod questionnaire;
pub mod xlsform;

// The engine's modules, under the names the importers use for them.
use hale_forms::{definition, lint, validate};
