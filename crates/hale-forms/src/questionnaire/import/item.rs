//! The parts of an item: Hale and FHIR extensions, options, initial values, codes.

use serde_json::{Map, Value};

use super::super::text::get_text;
use super::super::*;
use super::{Importer, hale_expression, number, string, ucum_code};
use crate::definition::{Choice, Field, FieldType, News2Mapping};

/// Sets a single-valued member once.
fn once<T>(slot: &mut Option<T>, value: T, what: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{what} is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

fn value_string(extension: &Value, what: &str) -> Result<String, String> {
    extension
        .get("valueString")
        .and_then(string)
        .ok_or_else(|| format!("{what} extension needs a valueString"))
}

fn value_code(extension: &Value, what: &str) -> Result<String, String> {
    extension
        .get("valueCode")
        .and_then(string)
        .ok_or_else(|| format!("{what} extension needs a valueCode"))
}

impl Importer {
    /// Applies one item extension to `field`.
    pub(super) fn item_extension(
        &self,
        extension: &Value,
        kind: &str,
        field: &mut Field,
        default_text: &mut Option<String>,
        unit_options: &mut Vec<String>,
    ) -> Result<(), String> {
        let url = extension.get("url").and_then(Value::as_str).unwrap_or("");
        let object = extension
            .as_object()
            .ok_or_else(|| String::from("an extension is not an object"))?;
        let language = self.language.as_str();
        let numeric = matches!(kind, "quantity" | "integer" | "decimal");
        match url {
            MIME_TYPE => {} // read by the type
            HIDDEN if field.field_type == FieldType::Calculate => {}
            HIDDEN => {
                return Err(String::from(
                    "questionnaire-hidden is only supported on calculated items",
                ));
            }
            UNIT if numeric => {
                let unit = ucum_code(extension.get("valueCoding"))?;
                once(&mut field.unit, unit, "unit")?;
            }
            UNIT_OPTION if kind == "quantity" => {
                unit_options.push(ucum_code(extension.get("valueCoding"))?);
            }
            MIN_VALUE => once(&mut field.min, number(extension)?, "minValue")?,
            MAX_VALUE => once(&mut field.max, number(extension)?, "maxValue")?,
            MIN_OCCURS | MAX_OCCURS if field.field_type == FieldType::Repeat => {
                let count = extension
                    .get("valueInteger")
                    .and_then(Value::as_u64)
                    .and_then(|count| u32::try_from(count).ok())
                    .ok_or_else(|| String::from("minOccurs/maxOccurs needs a valueInteger"))?;
                if url == MIN_OCCURS {
                    once(&mut field.min_count, count, "minOccurs")?;
                } else {
                    once(&mut field.max_count, count, "maxOccurs")?;
                }
            }
            ENABLE_WHEN_EXPRESSION => {
                let source = hale_expression(extension)
                    .map_err(|message| format!("enableWhenExpression {message}"))?;
                once(&mut field.relevant, source, "enableWhenExpression")?;
            }
            CALCULATED_EXPRESSION => {
                let source = hale_expression(extension)
                    .map_err(|message| format!("calculatedExpression {message}"))?;
                once(&mut field.calculation, source, "calculatedExpression")?;
            }
            CONSTRAINT => self.constraint(extension, field)?,
            url if DISPLAY_ONLY_ITEM_EXTENSIONS.contains(&url) => {}
            url => match url.strip_prefix(HALE_EXTENSION_PREFIX) {
                Some("field-type") => {} // read by the type
                Some("unit") => once(&mut field.unit, value_code(extension, "unit")?, "unit")?,
                Some("accepted-unit") => field
                    .accepted_units
                    .push(value_code(extension, "accepted-unit")?),
                Some("step") => {
                    let step = extension
                        .get("valueDecimal")
                        .and_then(Value::as_f64)
                        .ok_or_else(|| String::from("step extension needs a valueDecimal"))?;
                    once(&mut field.step, step, "step")?;
                }
                Some("appearance") => once(
                    &mut field.appearance,
                    value_string(extension, "appearance")?,
                    "appearance (a 'text' item is already multiline)",
                )?,
                Some("purpose") => once(
                    &mut field.purpose,
                    value_string(extension, "purpose")?,
                    "purpose",
                )?,
                Some("hint") => {
                    let hint = get_text(object, "valueString", language)?
                        .ok_or_else(|| String::from("hint extension needs a valueString"))?;
                    once(&mut field.hint, hint, "hint")?;
                }
                Some("required-message") => {
                    let message = get_text(object, "valueString", language)?.ok_or_else(|| {
                        String::from("required-message extension needs a valueString")
                    })?;
                    once(&mut field.required_message, message, "required-message")?;
                }
                Some("default") => {
                    once(default_text, value_string(extension, "default")?, "default")?;
                }
                Some("choice-list") if field.field_type.is_select() => {
                    let name = value_string(extension, "choice-list")?;
                    if !self.lists.contains_key(&name) {
                        return Err(format!(
                            "names choice list '{name}', which the Questionnaire does not define"
                        ));
                    }
                    once(&mut field.choice_list, name, "choice-list")?;
                }
                _ => {
                    return Err(format!(
                        "extension '{url}' is not supported on a '{kind}' item (Hale refuses extensions it cannot honour)"
                    ));
                }
            },
        }
        Ok(())
    }

    fn constraint(&self, extension: &Value, field: &mut Field) -> Result<(), String> {
        if field.constraint.is_some() || field.constraint_message.is_some() {
            return Err(String::from(
                "has more than one questionnaire-constraint; Hale has one constraint per field",
            ));
        }
        let parts = extension
            .get("extension")
            .and_then(Value::as_array)
            .ok_or_else(|| String::from("questionnaire-constraint has no parts"))?;
        for part in parts {
            let object = part
                .as_object()
                .ok_or_else(|| String::from("questionnaire-constraint part is not an object"))?;
            match part.get("url").and_then(Value::as_str).unwrap_or("") {
                "key" | "requirements" => {}
                "severity" => {
                    if part.get("valueCode").and_then(Value::as_str) != Some("error") {
                        return Err(String::from(
                            "questionnaire-constraint severity other than 'error' is not supported (Hale constraints always block)",
                        ));
                    }
                }
                "expression" => {
                    if part.get("valueString").is_some() {
                        return Err(String::from(
                            "questionnaire-constraint with a FHIRPath expression is not supported: Hale evaluates only its own expressions",
                        ));
                    }
                    let source = hale_expression(part)
                        .map_err(|message| format!("questionnaire-constraint {message}"))?;
                    field.constraint = Some(source);
                }
                "human" => {
                    field.constraint_message = get_text(object, "valueString", &self.language)?;
                }
                other => {
                    return Err(format!(
                        "questionnaire-constraint part '{other}' is not supported"
                    ));
                }
            }
        }
        Ok(())
    }

    /// `answerOption` into choices (or a choice list) and `initialSelected` into the default.
    pub(super) fn options(&self, options: &Value, field: &mut Field) -> Result<(), String> {
        let options = options
            .as_array()
            .ok_or_else(|| String::from("answerOption is not an array"))?;
        let mut choices = Vec::new();
        let mut selected = Vec::new();
        for option in options {
            let object = option
                .as_object()
                .ok_or_else(|| String::from("an answerOption is not an object"))?;
            let choice = if let Some(text) = object.get("valueString") {
                let value =
                    string(text).ok_or_else(|| String::from("valueString is not a string"))?;
                Choice {
                    label: crate::definition::Text::Plain(value.clone()),
                    value,
                }
            } else if object.contains_key("valueCoding") {
                self.coding_choice(object.get("valueCoding"))?
            } else {
                return Err(String::from(
                    "an answerOption that is not a valueCoding or valueString is not supported (Hale choices are codes)",
                ));
            };
            for key in object.keys() {
                match key.as_str() {
                    "valueString" | "valueCoding" | "id" => {}
                    "initialSelected" => {
                        if object.get(key) == Some(&Value::Bool(true)) {
                            selected.push(Value::String(choice.value.clone()));
                        }
                    }
                    other => return Err(format!("answerOption member '{other}' is not supported")),
                }
            }
            choices.push(choice);
        }
        if !selected.is_empty() {
            if field.default.is_some() {
                return Err(String::from("has both initialSelected and a Hale default"));
            }
            field.default = Some(match field.field_type {
                FieldType::SelectOne if selected.len() == 1 => selected.remove(0),
                FieldType::SelectOne => {
                    return Err(String::from(
                        "a single choice item has more than one initialSelected option",
                    ));
                }
                _ => Value::Array(selected),
            });
        }
        match &field.choice_list {
            Some(name) => {
                if self.lists.get(name) != Some(&choices) {
                    return Err(format!(
                        "answerOption differs from choice list '{name}' that the item names"
                    ));
                }
            }
            None => field.choices = choices,
        }
        Ok(())
    }
}

/// `code`: exactly one LOINC coding.
pub(super) fn loinc(value: &Value) -> Result<String, String> {
    let codings = value
        .as_array()
        .ok_or_else(|| String::from("code is not an array"))?;
    let [coding] = codings.as_slice() else {
        return Err(String::from(
            "Hale fields carry one LOINC code; this item has several or none",
        ));
    };
    let coding = coding
        .as_object()
        .ok_or_else(|| String::from("code is not a Coding"))?;
    if coding.get("system").and_then(Value::as_str) != Some(LOINC) {
        return Err(format!(
            "code system other than LOINC ({LOINC}) is not supported"
        ));
    }
    if let Some(other) = coding
        .keys()
        .find(|key| !matches!(key.as_str(), "system" | "code" | "display" | "id"))
    {
        return Err(format!("code member '{other}' is not supported"));
    }
    coding
        .get("code")
        .and_then(string)
        .ok_or_else(|| String::from("the LOINC coding has no code"))
}

/// `initial`: one value of the type that fits the field.
pub(super) fn initial_value(initial: &Value, field: &Field) -> Result<Value, String> {
    let [initial] = initial.as_array().map(Vec::as_slice).unwrap_or_default() else {
        return Err(String::from(
            "initial must hold exactly one value (Hale has one default)",
        ));
    };
    let object: &Map<String, Value> = initial
        .as_object()
        .ok_or_else(|| String::from("initial is not an object"))?;
    let entries: Vec<(&String, &Value)> = object.iter().collect();
    let [(kind, value)] = entries.as_slice() else {
        return Err(String::from("initial must hold exactly one value[x]"));
    };
    let value = (*value).clone();
    let fits = match (field.field_type, kind.as_str()) {
        (FieldType::Integer, "valueInteger")
        | (FieldType::Decimal | FieldType::Range, "valueDecimal")
        | (FieldType::Text, "valueString")
        | (FieldType::Date, "valueDate")
        | (FieldType::Datetime, "valueDateTime")
        | (FieldType::Time, "valueTime")
        | (FieldType::Boolean | FieldType::Acknowledge, "valueBoolean") => true,
        (FieldType::Decimal | FieldType::Range, "valueQuantity") => {
            let code = value.get("code").and_then(Value::as_str);
            if code.is_some() && code != field.unit.as_deref() {
                return Err(String::from(
                    "initial valueQuantity is not in the item's unit",
                ));
            }
            return value
                .get("value")
                .filter(|value| value.is_number())
                .cloned()
                .ok_or_else(|| String::from("initial valueQuantity has no value"));
        }
        _ => false,
    };
    if fits {
        Ok(value)
    } else {
        Err(format!(
            "initial {kind} does not fit a Hale {} field",
            field.field_type.as_str()
        ))
    }
}

/// The app-level `news2` extension.
pub(super) fn news2(extension: &Value) -> Option<News2Mapping> {
    let mut mapping = News2Mapping::default();
    let mut oxygen = false;
    let mut consciousness = false;
    for part in extension.get("extension")?.as_array()? {
        let value = part.get("valueString").and_then(string)?;
        match part.get("url")?.as_str()? {
            "oxygen" => (mapping.oxygen, oxygen) = (value, true),
            "consciousness" => (mapping.consciousness, consciousness) = (value, true),
            "spo2-scale" => mapping.spo2_scale = Some(value),
            _ => return None,
        }
    }
    (oxygen && consciousness).then_some(mapping)
}
