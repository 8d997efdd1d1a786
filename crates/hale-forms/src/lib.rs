//! Hale's health-check app format and its form engine.
//!
//! An app definition (the analyst's document, JSON, format `hale.app/1`) is compiled once into
//! a [`CompiledForm`]: every expression parsed into the `hale-expr` tree, the evaluation order
//! fixed from the dependency graph. The compiled form validates submissions (relevance,
//! calculations, required, types, bounds, choices, constraints, repeats) and derives coded
//! observations, BMI and NEWS2. The compiled form is itself JSON, so the browser can evaluate
//! it with the same semantics. Importers and exporters of other formats (XLSForm, FHIR
//! Questionnaire) live beside it in `hale-forms-io`. See `docs/app-format.md` at the
//! repository root.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod answer;
mod checks;
pub mod compile;
pub mod definition;
pub mod diff;
mod graph;
pub mod lint;
pub mod observe;
pub mod validate;

pub use answer::parse_answers;
pub use checks::{ACVPU_VALUES, OXYGEN_VALUES, SCALE_VALUES};
pub use compile::{CompiledField, CompiledForm, MAX_FIELDS};
pub use definition::{
    AppDefinition, Choice, ChoiceType, Coding, DefinitionError, FORMAT, Field, FieldType,
    News2Mapping, Prefill, Text,
};
pub use diff::{Change, diff};
pub use lint::{LintIssue, LintReport, Unacknowledged, lint};
pub use validate::{FieldError, ValidSubmission};
