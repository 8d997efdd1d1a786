//! FHIR R4 `Questionnaire` export and import.
//!
//! [`export`] turns an [`AppDefinition`] into a Questionnaire resource; [`import`] reads one
//! back. `import(&export(&d)) == Ok(d)` for every definition the exporter is given (see the
//! tests). What FHIR has a standard home for uses it (item types, `required`, `repeats`,
//! `initial`, `code`, `enableWhen`, `minValue`/`maxValue`, the translation extension, the
//! `questionnaire-unit`/`unitOption`/`minOccurs`/`maxOccurs`/`hidden` extensions); Hale
//! expressions with no exact `enableWhen` equivalent go in the SDC expression extensions with
//! the language `text/x-hale-xlsform`; Hale-only members use `urn:hale:fhir:extension:<name>`
//! extensions. Import refuses, naming the item's `linkId`, anything Hale cannot honour. The
//! mapping is documented in `docs/app-format.md`.

mod export;
mod fhirpath;
mod import;
mod names;
mod relevance;
mod text;

use hale_expr::{BinaryOperator, Expr, Function};

pub use export::export;
pub use import::{Imported, MAX_ITEM_DEPTH, import, import_with_notes};

/// The expression language of Hale's own XLSForm-style expressions inside FHIR `Expression`s.
pub const HALE_EXPRESSION_LANGUAGE: &str = "text/x-hale-xlsform";
/// Prefix of Hale's own extensions: `urn:hale:fhir:extension:<name>`.
pub const HALE_EXTENSION_PREFIX: &str = "urn:hale:fhir:extension:";

pub(crate) const TRANSLATION: &str = "http://hl7.org/fhir/StructureDefinition/translation";
pub(crate) const MIN_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/minValue";
pub(crate) const MAX_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/maxValue";
pub(crate) const UNIT: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit";
pub(crate) const UNIT_OPTION: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption";
pub(crate) const MIN_OCCURS: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-minOccurs";
pub(crate) const MAX_OCCURS: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs";
pub(crate) const ANSWER_REPEATS: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-answerRepeats";
pub(crate) const HIDDEN: &str = "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden";
pub(crate) const MIME_TYPE: &str = "http://hl7.org/fhir/StructureDefinition/mimeType";
pub(crate) const CONSTRAINT: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-constraint";
pub(crate) const ENABLE_WHEN_EXPRESSION: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression";
pub(crate) const CALCULATED_EXPRESSION: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression";
pub(crate) const LOINC: &str = "http://loinc.org";
pub(crate) const UCUM: &str = "http://unitsofmeasure.org";

pub(crate) const ITEM_CONTROL: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl";
pub(crate) const ITEM_CONTROL_SYSTEM: &str = "http://hl7.org/fhir/questionnaire-item-control";
pub(crate) const CHOICE_ORIENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/questionnaire-choiceOrientation";
pub(crate) const ENTRY_FORMAT: &str = "http://hl7.org/fhir/StructureDefinition/entryFormat";
pub(crate) const VARIABLE: &str = "http://hl7.org/fhir/StructureDefinition/variable";
pub(crate) const ANSWER_OPTIONS_TOGGLE_EXPRESSION: &str = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-answerOptionsToggleExpression";
pub(crate) const ANSWER_EXPRESSION: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-answerExpression";
pub(crate) const INITIAL_EXPRESSION: &str =
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression";
pub(crate) const ORDINAL_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";
pub(crate) const ITEM_WEIGHT: &str = "http://hl7.org/fhir/StructureDefinition/itemWeight";
pub(crate) const FHIRPATH: &str = "text/fhirpath";

/// Hale's extension naming one attribute of a choice, and the one holding a choice filter.
pub(crate) const CHOICE_ATTRIBUTE: &str = "choice-attribute";
pub(crate) const CHOICE_FILTER: &str = "choice-filter";

/// Where display-only extensions are kept: as the field's client parameters.
pub(crate) const ITEM_CONTROL_PARAMETER: &str = "item-control";
pub(crate) const CHOICE_ORIENTATION_PARAMETER: &str = "choice-orientation";
pub(crate) const ENTRY_FORMAT_PARAMETER: &str = "placeholder";

/// Extensions that only change how an item is shown and that Hale does not keep: accepted on
/// import with an info note naming the item.
pub(crate) const DROPPED_ITEM_EXTENSIONS: [&str; 6] = [
    "http://hl7.org/fhir/StructureDefinition/questionnaire-displayCategory",
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-openLabel",
    "http://hl7.org/fhir/StructureDefinition/designNote",
    "http://hl7.org/fhir/StructureDefinition/rendering-style",
    "http://hl7.org/fhir/StructureDefinition/rendering-xhtml",
    "http://hl7.org/fhir/StructureDefinition/questionnaire-optionPrefix",
];
/// Extensions on a text's `_text`/`_title` element that only change how it is shown: dropped
/// with an info note.
pub(crate) const DISPLAY_ONLY_TEXT_EXTENSIONS: [&str; 3] = [
    "http://hl7.org/fhir/StructureDefinition/rendering-xhtml",
    "http://hl7.org/fhir/StructureDefinition/rendering-markdown",
    "http://hl7.org/fhir/StructureDefinition/rendering-style",
];

/// `urn:hale:fhir:extension:<name>`.
pub(crate) fn hale(name: &str) -> String {
    format!("{HALE_EXTENSION_PREFIX}{name}")
}

/// A call of `function` in Hale's expression tree, as the translations build them.
pub(crate) fn call(function: Function, arguments: Vec<Expr>) -> Expr {
    Expr::Call {
        function,
        arguments,
    }
}

/// `left operator right` in Hale's expression tree.
pub(crate) fn binary(operator: BinaryOperator, left: Expr, right: Expr) -> Expr {
    Expr::Binary {
        operator,
        left: Box::new(left),
        right: Box::new(right),
    }
}
