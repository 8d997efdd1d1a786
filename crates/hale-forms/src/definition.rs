//! The app definition format (`hale.app/1`): what an analyst writes, and its compiled form.
//!
//! The format grows by adding optional members; an unknown member is an error so that a typo
//! never silently drops a rule.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// Text shown to people: one string, or one per language (`{"en": "…", "fr": "…"}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Text {
    Plain(String),
    Translated(BTreeMap<String, String>),
}

impl Text {
    /// The text in `language`, else the first one there is.
    pub fn in_language(&self, language: &str) -> &str {
        match self {
            Text::Plain(text) => text,
            Text::Translated(map) => map
                .get(language)
                .or_else(|| map.values().next())
                .map(String::as_str)
                .unwrap_or(""),
        }
    }
}

/// The kinds of answer a field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Integer,
    Decimal,
    Text,
    SelectOne,
    SelectMultiple,
    Date,
    Datetime,
    Boolean,
}

impl FieldType {
    pub const fn is_numeric(self) -> bool {
        matches!(self, FieldType::Integer | FieldType::Decimal)
    }
    pub const fn is_select(self) -> bool {
        matches!(self, FieldType::SelectOne | FieldType::SelectMultiple)
    }
}

/// One option of a single or multiple choice field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub value: String,
    pub label: Text,
}

/// One question of an app.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub label: Text,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// UCUM unit of a numeric answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// LOINC code: a coded numeric field yields an observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
}

/// A health-check app as the analyst defines it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppDefinition {
    pub title: Text,
    #[serde(default = "default_language")]
    pub default_language: String,
    pub fields: Vec<Field>,
}

fn default_language() -> String {
    "en".to_owned()
}

/// A problem in a definition, with the JSON path of the member at fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DefinitionError {
    pub path: String,
    pub code: &'static str,
    pub message: String,
}

/// A definition that passed every check, ready to validate submissions. Serialised as JSON for
/// storage and for the browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledForm {
    pub format: String,
    pub default_language: String,
    pub fields: Vec<Field>,
}

pub const MAX_FIELDS: usize = 500;

impl AppDefinition {
    /// Parses the JSON text of a definition.
    pub fn from_json(text: &str) -> Result<Self, Vec<DefinitionError>> {
        serde_json::from_str(text).map_err(|error| {
            vec![DefinitionError {
                path: String::from("$"),
                code: "malformed_definition",
                message: format!(
                    "definition is not valid: {} (line {}, column {})",
                    describe_serde_error(&error),
                    error.line(),
                    error.column()
                ),
            }]
        })
    }

    /// Checks the whole definition and reports every problem at once.
    pub fn compile(&self) -> Result<CompiledForm, Vec<DefinitionError>> {
        let mut errors = Vec::new();
        if self.fields.is_empty() {
            errors.push(error(
                "$.fields",
                "no_fields",
                "an app needs at least one field",
            ));
        }
        if self.fields.len() > MAX_FIELDS {
            errors.push(error(
                "$.fields",
                "too_many_fields",
                &format!("an app has at most {MAX_FIELDS} fields"),
            ));
        }
        let mut seen = HashSet::new();
        for (index, field) in self.fields.iter().enumerate() {
            let path = format!("$.fields[{index}]");
            if !is_valid_name(&field.name) {
                errors.push(error(
                    &format!("{path}.name"),
                    "invalid_name",
                    "a field name starts with a letter or '_' and has only letters, digits, '_', '-' and '.' (at most 64)",
                ));
            } else if !seen.insert(field.name.as_str()) {
                errors.push(error(
                    &format!("{path}.name"),
                    "duplicate_name",
                    &format!("field name '{}' is used twice", field.name),
                ));
            }
            check_field(field, &path, &mut errors);
        }
        if errors.is_empty() {
            Ok(CompiledForm {
                format: "hale.app/1".to_owned(),
                default_language: self.default_language.clone(),
                fields: self.fields.clone(),
            })
        } else {
            Err(errors)
        }
    }
}

fn check_field(field: &Field, path: &str, errors: &mut Vec<DefinitionError>) {
    let numeric = field.field_type.is_numeric();
    if !numeric && (field.min.is_some() || field.max.is_some() || field.unit.is_some()) {
        errors.push(error(
            path,
            "bounds_on_non_numeric",
            "min, max and unit apply only to integer and decimal fields",
        ));
    }
    if let (Some(min), Some(max)) = (field.min, field.max) {
        if min > max {
            errors.push(error(path, "min_above_max", "min is greater than max"));
        }
    }
    if field.code.is_some() && !numeric {
        errors.push(error(
            &format!("{path}.code"),
            "code_on_non_numeric",
            "a LOINC code derives an observation and needs an integer or decimal field",
        ));
    }
    if field.code.is_some() && field.unit.is_none() {
        errors.push(error(
            &format!("{path}.unit"),
            "code_without_unit",
            "a coded field needs a UCUM unit",
        ));
    }
    if field.field_type.is_select() {
        if field.choices.is_empty() {
            errors.push(error(
                &format!("{path}.choices"),
                "choices_missing",
                "a choice field needs at least one choice",
            ));
        }
        let mut values = HashSet::new();
        for (index, choice) in field.choices.iter().enumerate() {
            if choice.value.is_empty() || choice.value.contains(char::is_whitespace) {
                errors.push(error(
                    &format!("{path}.choices[{index}].value"),
                    "invalid_choice_value",
                    "a choice value is non-empty and has no spaces",
                ));
            } else if !values.insert(choice.value.as_str()) {
                errors.push(error(
                    &format!("{path}.choices[{index}].value"),
                    "duplicate_choice",
                    &format!("choice value '{}' is used twice", choice.value),
                ));
            }
        }
    } else if !field.choices.is_empty() {
        errors.push(error(
            &format!("{path}.choices"),
            "choices_on_non_select",
            "choices apply only to select_one and select_multiple fields",
        ));
    }
}

fn error(path: &str, code: &'static str, message: &str) -> DefinitionError {
    DefinitionError {
        path: path.to_owned(),
        code,
        message: message.to_owned(),
    }
}

pub(crate) fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// serde's messages can quote the input; keep only the category and our own words.
fn describe_serde_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    // serde_json reports unknown members as "unknown field `x`, expected …": the member name is
    // the analyst's own schema text, not PHI, so it is safe and useful to keep.
    match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            String::from("malformed JSON")
        }
        _ => text
            .split(" at line ")
            .next()
            .unwrap_or("invalid definition")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let definition = AppDefinition::from_json(
            r#"{"title":"t","fields":[
                {"name":"hr","type":"integer","label":"HR","code":"8867-4","min":300,"max":20},
                {"name":"hr","type":"text","label":"x","unit":"kg"},
                {"name":"s","type":"select_one","label":"S"},
                {"name":"9x","type":"boolean","label":"B"}
            ]}"#,
        )
        .unwrap();
        let codes: Vec<_> = definition
            .compile()
            .unwrap_err()
            .into_iter()
            .map(|e| e.code)
            .collect();
        assert_eq!(
            codes,
            [
                "min_above_max",
                "code_without_unit",
                "duplicate_name",
                "bounds_on_non_numeric",
                "choices_missing",
                "invalid_name"
            ]
        );
    }

    #[test]
    fn unknown_members_are_refused() {
        let errors = AppDefinition::from_json(
            r#"{"title":"t","fields":[{"name":"a","type":"integer","label":"A","maximum":3}]}"#,
        )
        .unwrap_err();
        assert_eq!(errors[0].code, "malformed_definition");
        assert!(
            errors[0].message.contains("maximum"),
            "{}",
            errors[0].message
        );
    }
}
