//! The parts of an item: Hale and FHIR extensions, initial values, codes (its choices are
//! read in `choices.rs`).

use serde_json::{Map, Value, json};

use super::super::text::get_text;
use super::super::*;
use super::choices::name_value;
use super::{Importer, hale_expression, number, string, ucum_code};
use crate::definition::{Field, FieldType, News2Mapping, Text};

/// Sets a single-valued member once.
pub(super) fn once<T>(slot: &mut Option<T>, value: T, what: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{what} is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

pub(super) fn value_string(extension: &Value, what: &str) -> Result<String, String> {
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

/// A Hale extension holding one of Hale's own expressions (`valueExpression`).
fn own_expression(extension: &Value, name: &str) -> Result<String, String> {
    hale_expression(extension).map_err(|message| format!("{name} extension {message}"))
}

impl Importer {
    /// Applies one item extension to `field`; `Ok(Some(name))` when it is display-only and
    /// dropped on purpose.
    pub(super) fn item_extension(
        &self,
        extension: &Value,
        kind: &str,
        field: &mut Field,
        default_text: &mut Option<String>,
        unit_options: &mut Vec<String>,
    ) -> Result<Option<String>, String> {
        let url = extension.get("url").and_then(Value::as_str).unwrap_or("");
        let object = extension
            .as_object()
            .ok_or_else(|| String::from("an extension is not an object"))?;
        let language = self.language.as_str();
        let numeric = matches!(kind, "quantity" | "integer" | "decimal");
        match url {
            MIME_TYPE | VARIABLE | ANSWER_REPEATS => {} // read by the type, and before the item
            HIDDEN if field.field_type == FieldType::Calculate => {}
            HIDDEN => {
                field.hidden = extension
                    .get("valueBoolean")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| String::from("questionnaire-hidden needs a valueBoolean"))?;
            }
            ITEM_CONTROL => {
                let codings = extension
                    .get("valueCodeableConcept")
                    .and_then(|concept| concept.get("coding"))
                    .and_then(Value::as_array)
                    .ok_or_else(|| String::from("itemControl needs a valueCodeableConcept"))?;
                let [coding] = codings.as_slice() else {
                    return Err(String::from("itemControl needs exactly one coding"));
                };
                if coding
                    .get("system")
                    .is_some_and(|system| system.as_str() != Some(ITEM_CONTROL_SYSTEM))
                {
                    return Err(String::from(
                        "itemControl coding is not from the questionnaire-item-control system",
                    ));
                }
                let code = coding
                    .get("code")
                    .and_then(string)
                    .ok_or_else(|| String::from("itemControl coding has no code"))?;
                once_parameter(field, ITEM_CONTROL_PARAMETER, code)?;
            }
            CHOICE_ORIENTATION => {
                let code = value_code(extension, "choiceOrientation")?;
                once_parameter(field, CHOICE_ORIENTATION_PARAMETER, code)?;
            }
            ENTRY_FORMAT => {
                let text = value_string(extension, "entryFormat")?;
                once_parameter(field, ENTRY_FORMAT_PARAMETER, text)?;
            }
            url if DROPPED_ITEM_EXTENSIONS.contains(&url) => {
                return Ok(Some(url.rsplit('/').next().unwrap_or(url).to_owned()));
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
            MIN_OCCURS | MAX_OCCURS => {
                let count = extension
                    .get("valueInteger")
                    .and_then(Value::as_u64)
                    .and_then(|count| u32::try_from(count).ok())
                    .ok_or_else(|| String::from("minOccurs/maxOccurs needs a valueInteger"))?;
                let counted = field.answer_list
                    || matches!(
                        field.field_type,
                        FieldType::Repeat | FieldType::SelectMultiple
                    );
                if !counted {
                    // On an item with one answer, only the counts it already has mean anything.
                    let (what, says_nothing) = if url == MIN_OCCURS {
                        ("minOccurs", count == u32::from(field.required))
                    } else {
                        ("maxOccurs", count >= 1)
                    };
                    if says_nothing {
                        return Ok(None);
                    }
                    return Err(format!(
                        "{what} {count} on an item that does not repeat has no Hale equivalent"
                    ));
                }
                if url == MIN_OCCURS {
                    once(&mut field.min_count, count, "minOccurs")?;
                } else {
                    once(&mut field.max_count, count, "maxOccurs")?;
                }
            }
            ENABLE_WHEN_EXPRESSION => {
                let source = self.expression_source(extension, "enableWhenExpression")?;
                once(&mut field.relevant, source, "enableWhenExpression")?;
            }
            CALCULATED_EXPRESSION => {
                let source = self.expression_source(extension, "calculatedExpression")?;
                once(&mut field.calculation, source, "calculatedExpression")?;
            }
            INITIAL_EXPRESSION => {
                let source = self.expression_source(extension, "initialExpression")?;
                once(&mut field.default_expression, source, "initialExpression")?;
            }
            CONSTRAINT => self.constraint(extension, field)?,
            url => match url.strip_prefix(HALE_EXTENSION_PREFIX) {
                Some("field-type" | "answer-name" | "name") => {} // read by the type and the names
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
                Some("trigger") => field.trigger.push(value_string(extension, "trigger")?),
                Some("default") => {
                    once(default_text, value_string(extension, "default")?, "default")?;
                }
                Some(CHOICE_FILTER) if field.field_type.is_select() => {
                    let filter = own_expression(extension, CHOICE_FILTER)?;
                    once(&mut field.choice_filter, filter, CHOICE_FILTER)?;
                }
                // Hale's own expressions, each for one member.
                Some(name @ ("required-if" | "read-only-if" | "repeat-count")) => {
                    let member = match name {
                        "required-if" => &mut field.required_if,
                        "read-only-if" => &mut field.read_only_if,
                        _ => &mut field.repeat_count,
                    };
                    once(member, own_expression(extension, name)?, name)?;
                }
                Some("guidance-hint") => {
                    let guidance = get_text(object, "valueString", language)?.ok_or_else(|| {
                        String::from("guidance-hint extension needs a valueString")
                    })?;
                    once(&mut field.guidance_hint, guidance, "guidance-hint")?;
                }
                Some("media") => {
                    let (kind, file) = read_media(extension, &self.language)?;
                    if field.media.insert(kind, file).is_some() {
                        return Err(String::from("one kind of media is given twice"));
                    }
                }
                Some("parameter") => {
                    let (name, value) = name_value(extension, "parameter")?;
                    once_parameter(field, &name, value)?;
                }
                Some("prefill") => {
                    let code = value_code(extension, "prefill")?;
                    let prefill = serde_json::from_value(Value::String(code))
                        .map_err(|_| String::from("prefill extension names no Hale prefill"))?;
                    once(&mut field.prefill, prefill, "prefill")?;
                }
                Some("choices-from") if field.field_type.is_select() => {
                    let name = value_string(extension, "choices-from")?;
                    once(&mut field.choices_from, name, "choices-from")?;
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
                // A data file not attached yet is a draft's, as in Hale's own format.
                Some("choice-file") if field.field_type.is_select() => {
                    let name = value_string(extension, "choice-file")?;
                    once(&mut field.choice_file, name, "choice-file")?;
                }
                _ => {
                    return Err(format!(
                        "extension '{url}' is not supported on a '{kind}' item (Hale refuses extensions it cannot honour)"
                    ));
                }
            },
        }
        Ok(None)
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
}

fn once_parameter(field: &mut Field, name: &str, value: String) -> Result<(), String> {
    if field.parameters.insert(name.to_owned(), value).is_some() {
        return Err(format!("{name} is given twice"));
    }
    Ok(())
}

/// An `initial` value of a select: the choice it names (or, on an open select, the text).
fn select_initial(kind: &str, value: &Value, field: &Field) -> Result<Value, String> {
    let text = match (kind, value) {
        ("valueCoding", coding) => coding
            .get("code")
            .and_then(string)
            .ok_or_else(|| String::from("initial valueCoding has no code"))?,
        ("valueString" | "valueDate" | "valueTime", Value::String(text)) => text.clone(),
        ("valueInteger", Value::Number(number)) if number.is_i64() => number.to_string(),
        _ => return Err(format!("initial {kind} does not fit a choice item")),
    };
    let found = field
        .choices
        .iter()
        .find(|choice| {
            choice.value == text || (kind == "valueString" && choice.label.in_language("") == text)
        })
        .map(|choice| choice.value.clone());
    Ok(Value::String(found.unwrap_or(text)))
}

/// `initial`: one value of the type that fits the field (several on a multiple select).
pub(super) fn initial_value(initial: &Value, field: &Field) -> Result<Value, String> {
    if field.field_type.is_select() {
        let list = initial
            .as_array()
            .ok_or_else(|| String::from("initial is not an array"))?;
        let mut values = Vec::new();
        for entry in list {
            let object = entry
                .as_object()
                .ok_or_else(|| String::from("initial is not an object"))?;
            let entries: Vec<(&String, &Value)> = object.iter().collect();
            let [(kind, value)] = entries.as_slice() else {
                return Err(String::from("initial must hold exactly one value[x]"));
            };
            values.push(select_initial(kind, value, field)?);
        }
        return match (field.field_type, values.len()) {
            (FieldType::SelectOne, 1) => Ok(values.remove(0)),
            (FieldType::SelectOne, _) => Err(String::from(
                "initial must hold exactly one value on a single choice item",
            )),
            _ => Ok(Value::Array(values)),
        };
    }
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
        (FieldType::Decimal | FieldType::Range, "valueInteger") => true,
        (FieldType::Integer, "valueInteger")
        | (FieldType::Decimal | FieldType::Range, "valueDecimal")
        | (FieldType::Text, "valueString")
        | (FieldType::Date, "valueDate")
        | (FieldType::Datetime, "valueDateTime")
        | (FieldType::Time, "valueTime")
        | (FieldType::Boolean | FieldType::Acknowledge, "valueBoolean") => true,
        (FieldType::Decimal | FieldType::Range, "valueQuantity") => {
            let number = value
                .get("value")
                .and_then(Value::as_f64)
                .ok_or_else(|| String::from("initial valueQuantity has no value"))?;
            if value.get("comparator").is_some() {
                return Err(String::from(
                    "initial valueQuantity has a comparator (Hale answers are exact)",
                ));
            }
            let code = value.get("code").and_then(Value::as_str);
            return match (code, field.unit.as_deref()) {
                (None, _) => Ok(json!(number)),
                (Some(code), Some(unit)) if code == unit => Ok(json!(number)),
                (Some(code), Some(_)) if field.accepted_units.iter().any(|other| other == code) => {
                    Ok(json!({"value": number, "unit": code}))
                }
                // In a unit the item does not offer: the same quantity in the item's unit.
                (Some(code), Some(unit)) => hale_clinical::convert(number, code, unit)
                    .ok()
                    .filter(|converted| converted.is_finite())
                    .map(|converted| json!(converted))
                    .ok_or_else(|| {
                        String::from(
                            "initial valueQuantity is in a unit that cannot be converted to the item's unit",
                        )
                    }),
                (Some(_), None) => Err(String::from(
                    "initial valueQuantity has a unit but the item has none",
                )),
            };
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

/// A Hale `media-file` extension: a media file's name and description, each part once.
pub(super) fn media_file(extension: &Value) -> Option<(String, crate::definition::MediaFile)> {
    /// Fills an empty slot; a part given twice is malformed.
    fn fill<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
        slot.is_none().then(|| *slot = value)?;
        slot.as_ref().map(|_| ())
    }
    let (mut name, mut media_type, mut size, mut sha256) = (None, None, None, None);
    for part in extension.get("extension")?.as_array()? {
        match part.get("url")?.as_str()? {
            "name" => fill(&mut name, part.get("valueString").and_then(string))?,
            "media-type" => fill(&mut media_type, part.get("valueCode").and_then(string))?,
            "size" => fill(&mut size, part.get("valueDecimal").and_then(Value::as_u64))?,
            "sha256" => fill(&mut sha256, part.get("valueString").and_then(string))?,
            _ => return None,
        }
    }
    let file = crate::definition::MediaFile {
        media_type: media_type?,
        size: size?,
        sha256: sha256?,
    };
    Some((name?, file))
}

/// A Hale `media` extension (of an item, or of a choice's Coding): its kind and file name.
pub(super) fn read_media(extension: &Value, language: &str) -> Result<(String, Text), String> {
    let (mut kind, mut file) = (None, None);
    for part in extension
        .get("extension")
        .and_then(Value::as_array)
        .ok_or_else(|| String::from("Hale media extension has no parts"))?
    {
        let object = part
            .as_object()
            .ok_or_else(|| String::from("a media part is not an object"))?;
        match part.get("url").and_then(Value::as_str) {
            Some("kind") => once(&mut kind, value_code(part, "a media kind")?, "media kind")?,
            Some("file") => once(
                &mut file,
                get_text(object, "valueString", language)?
                    .ok_or_else(|| String::from("a media file needs a valueString"))?,
                "media file",
            )?,
            _ => return Err(String::from("Hale media extension has an unknown part")),
        }
    }
    match (kind, file) {
        (Some(kind), Some(file)) => Ok((kind, file)),
        _ => Err(String::from("Hale media extension needs a kind and a file")),
    }
}
