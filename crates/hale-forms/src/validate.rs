//! Validation of a submission's answers against a compiled form, field by field, and the
//! observations derived from coded numeric answers. Every error names the field and carries a
//! stable code; no message repeats the submitted value, because answers are PHI.

use std::collections::HashSet;

use hale_domain::event::ObservationRecord;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::definition::{CompiledForm, Field, FieldType};

/// One problem with one answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// What a valid submission yields besides its answers.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidSubmission {
    pub observations: Vec<ObservationRecord>,
}

impl CompiledForm {
    /// Validates every answer and reports every problem at once.
    pub fn validate(
        &self,
        answers: &Map<String, Value>,
        _now: hale_domain::Timestamp,
    ) -> Result<ValidSubmission, Vec<FieldError>> {
        let mut errors = Vec::new();
        let known: HashSet<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
        for name in answers.keys() {
            if !known.contains(name.as_str()) {
                errors.push(FieldError {
                    // The key is client-chosen text: report it only when it is a plausible
                    // field name, never arbitrary (possibly PHI-bearing) input.
                    field: if crate::definition::is_valid_name(name) {
                        name.clone()
                    } else {
                        String::from("$")
                    },
                    code: "unknown_field",
                    message: String::from("this app has no such field"),
                });
            }
        }
        let mut observations = Vec::new();
        for field in &self.fields {
            let answer = answers.get(&field.name).filter(|value| !value.is_null());
            match answer {
                None if field.required => {
                    errors.push(field_error(field, "required", "an answer is required"))
                }
                None => {}
                Some(value) => match check_answer(field, value) {
                    Ok(Some(number)) => {
                        if let (Some(code), Some(unit)) = (&field.code, &field.unit) {
                            observations.push(ObservationRecord {
                                index: observations.len() as u32,
                                field: field.name.clone(),
                                code: code.clone(),
                                value: number,
                                unit: unit.clone(),
                            });
                        }
                    }
                    Ok(None) => {}
                    Err(error) => errors.push(error),
                },
            }
        }
        if errors.is_empty() {
            Ok(ValidSubmission { observations })
        } else {
            Err(errors)
        }
    }
}

fn field_error(field: &Field, code: &'static str, message: &str) -> FieldError {
    FieldError {
        field: field.name.clone(),
        code,
        message: message.to_owned(),
    }
}

/// Checks one present answer; a numeric answer is returned for observation derivation.
fn check_answer(field: &Field, value: &Value) -> Result<Option<f64>, FieldError> {
    match field.field_type {
        FieldType::Integer => {
            let number = value.as_i64().map(|n| n as f64).ok_or_else(|| {
                field_error(field, "not_an_integer", "the answer must be a whole number")
            })?;
            check_bounds(field, number).map(Some)
        }
        FieldType::Decimal => {
            let number = value
                .as_f64()
                .filter(|n| n.is_finite())
                .ok_or_else(|| field_error(field, "not_a_number", "the answer must be a number"))?;
            check_bounds(field, number).map(Some)
        }
        FieldType::Text => {
            let text = value
                .as_str()
                .ok_or_else(|| field_error(field, "not_text", "the answer must be text"))?;
            if text.chars().count() > 10_000 {
                return Err(field_error(
                    field,
                    "too_long",
                    "the answer is longer than 10000 characters",
                ));
            }
            Ok(None)
        }
        FieldType::Boolean => value
            .as_bool()
            .map(|_| None)
            .ok_or_else(|| field_error(field, "not_a_boolean", "the answer must be true or false")),
        FieldType::SelectOne => {
            let choice = value.as_str().ok_or_else(|| {
                field_error(field, "not_a_choice", "the answer must be one choice value")
            })?;
            if field.choices.iter().any(|c| c.value == choice) {
                Ok(None)
            } else {
                Err(field_error(
                    field,
                    "invalid_choice",
                    "the answer is not one of the field's choices",
                ))
            }
        }
        FieldType::SelectMultiple => {
            let picked = value.as_array().ok_or_else(|| {
                field_error(
                    field,
                    "not_a_choice_list",
                    "the answer must be a list of choice values",
                )
            })?;
            let mut seen = HashSet::new();
            for item in picked {
                let valid = item
                    .as_str()
                    .is_some_and(|choice| field.choices.iter().any(|c| c.value == choice));
                if !valid {
                    return Err(field_error(
                        field,
                        "invalid_choice",
                        "an answer is not one of the field's choices",
                    ));
                }
                if !seen.insert(item.as_str()) {
                    return Err(field_error(
                        field,
                        "duplicate_choice",
                        "a choice is given twice",
                    ));
                }
            }
            Ok(None)
        }
        FieldType::Date => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            value
                .as_str()
                .and_then(|text| time::Date::parse(text, &format).ok())
                .map(|_| None)
                .ok_or_else(|| {
                    field_error(
                        field,
                        "invalid_date",
                        "the answer must be a date, YYYY-MM-DD",
                    )
                })
        }
        FieldType::Datetime => value
            .as_str()
            .and_then(|text| hale_domain::Timestamp::parse_rfc3339(text).ok())
            .map(|_| None)
            .ok_or_else(|| {
                field_error(
                    field,
                    "invalid_datetime",
                    "the answer must be an RFC 3339 date-time with offset",
                )
            }),
    }
}

fn check_bounds(field: &Field, number: f64) -> Result<f64, FieldError> {
    if field.min.is_some_and(|min| number < min) {
        return Err(field_error(
            field,
            "below_minimum",
            "the answer is below the field's minimum",
        ));
    }
    if field.max.is_some_and(|max| number > max) {
        return Err(field_error(
            field,
            "above_maximum",
            "the answer is above the field's maximum",
        ));
    }
    Ok(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl CompiledForm {
        fn validate_now(
            &self,
            answers: &Map<String, Value>,
        ) -> Result<ValidSubmission, Vec<FieldError>> {
            self.validate(answers, hale_domain::Timestamp::from_micros(0))
        }
    }
    use crate::definition::AppDefinition;

    fn vitals() -> CompiledForm {
        AppDefinition::from_json(
            r#"{"title":"Vitals","fields":[
              {"name":"heart_rate","type":"integer","label":"Heart rate","required":true,"unit":"/min","min":20,"max":300,"code":"8867-4"},
              {"name":"temperature","type":"decimal","label":"Temperature","unit":"Cel","min":25,"max":45,"code":"8310-5"},
              {"name":"symptoms","type":"select_multiple","label":"Symptoms","choices":[{"value":"cough","label":"Cough"},{"value":"fever","label":"Fever"}]},
              {"name":"feeling","type":"select_one","label":"Feeling","choices":[{"value":"good","label":"Good"}]},
              {"name":"note","type":"text","label":"Note"},
              {"name":"on","type":"date","label":"Date"},
              {"name":"at","type":"datetime","label":"Time"},
              {"name":"ok","type":"boolean","label":"OK"}
            ]}"#,
        )
        .unwrap()
        .compile()
        .unwrap()
    }

    fn answers(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_valid_submission_derives_coded_observations() {
        let valid = vitals()
            .validate_now(&answers(
                r#"{"heart_rate":72,"temperature":36.6,"symptoms":["cough"],"feeling":"good","note":"n","on":"2026-01-02","at":"2026-01-02T08:00:00Z","ok":true}"#,
            ))
            .unwrap();
        let codes: Vec<_> = valid
            .observations
            .iter()
            .map(|o| (o.code.as_str(), o.value, o.unit.as_str()))
            .collect();
        assert_eq!(codes, [("8867-4", 72.0, "/min"), ("8310-5", 36.6, "Cel")]);
    }

    #[test]
    fn each_rule_yields_its_own_code() {
        let cases = [
            (r#"{}"#, "heart_rate", "required"),
            (r#"{"heart_rate":7.5}"#, "heart_rate", "not_an_integer"),
            (r#"{"heart_rate":10}"#, "heart_rate", "below_minimum"),
            (r#"{"heart_rate":400}"#, "heart_rate", "above_maximum"),
            (
                r#"{"heart_rate":70,"temperature":"hot"}"#,
                "temperature",
                "not_a_number",
            ),
            (
                r#"{"heart_rate":70,"symptoms":["rash"]}"#,
                "symptoms",
                "invalid_choice",
            ),
            (
                r#"{"heart_rate":70,"symptoms":["cough","cough"]}"#,
                "symptoms",
                "duplicate_choice",
            ),
            (
                r#"{"heart_rate":70,"feeling":"bad"}"#,
                "feeling",
                "invalid_choice",
            ),
            (
                r#"{"heart_rate":70,"on":"2026-02-30"}"#,
                "on",
                "invalid_date",
            ),
            (
                r#"{"heart_rate":70,"at":"2026-02-01 08:00"}"#,
                "at",
                "invalid_datetime",
            ),
            (r#"{"heart_rate":70,"ok":"yes"}"#, "ok", "not_a_boolean"),
            (
                r#"{"heart_rate":70,"weight":80}"#,
                "weight",
                "unknown_field",
            ),
        ];
        for (json, field, code) in cases {
            let errors = vitals().validate_now(&answers(json)).unwrap_err();
            assert_eq!(errors.len(), 1, "{json}: {errors:?}");
            assert_eq!(
                (errors[0].field.as_str(), errors[0].code),
                (field, code),
                "{json}"
            );
        }
    }

    #[test]
    fn all_errors_are_returned_together() {
        let errors = vitals()
            .validate_now(&answers(r#"{"temperature":99,"ok":1}"#))
            .unwrap_err();
        let codes: Vec<_> = errors.iter().map(|e| e.code).collect();
        assert_eq!(codes, ["required", "above_maximum", "not_a_boolean"]);
    }

    proptest::proptest! {
        #[test]
        fn no_message_ever_repeats_a_text_answer(marker in "[A-Za-z]{12}") {
            let json = format!(r#"{{"heart_rate":"{marker}","note":5,"feeling":"{marker}","{marker} x":1}}"#);
            let errors = vitals().validate_now(&answers(&json)).unwrap_err();
            for error in errors {
                proptest::prop_assert!(!error.message.contains(&marker));
                proptest::prop_assert!(!error.field.contains(&marker));
            }
        }
    }
}
