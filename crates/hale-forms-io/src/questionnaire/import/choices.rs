//! The choices of an item: its `answerOption`s (with their scores, Hale's choice attributes
//! and `initialSelected`), Hale's app-level choice lists, and the Codings both are made of.

use serde_json::Value;

use super::super::text::get_text;
use super::super::*;
use super::item::{once, read_media, value_string};
use super::{Importer, option_value, string};
use crate::definition::{Choice, ChoiceType, Field, FieldType, Text};

/// A Hale extension of a `name` and, unless empty, a `value` (a choice's attribute, a client
/// parameter): the pair, the value `""` when absent.
pub(super) fn name_value(extension: &Value, what: &str) -> Result<(String, String), String> {
    let parts = extension
        .get("extension")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("Hale {what} extension has no parts"))?;
    let (mut name, mut value) = (None, None);
    for part in parts {
        let text = value_string(part, &format!("a {what} part"))?;
        match part.get("url").and_then(Value::as_str) {
            Some("name") => once(&mut name, text, &format!("a {what}'s name"))?,
            Some("value") => once(&mut value, text, &format!("a {what}'s value"))?,
            _ => {
                return Err(format!(
                    "Hale {what} extension has a part other than name and value"
                ));
            }
        }
    }
    let name = name.ok_or_else(|| format!("Hale {what} extension has no name"))?;
    Ok((name, value.unwrap_or_default()))
}

/// One Hale `media` extension into the choice's media.
fn put_media(choice: &mut Choice, extension: &Value, language: &str) -> Result<(), String> {
    let (kind, file) = read_media(extension, language)?;
    if choice.media.insert(kind, file).is_some() {
        return Err(String::from("a choice has one kind of media twice"));
    }
    Ok(())
}

/// One Hale `choice-attribute` extension into the choice's attributes.
pub(super) fn put_attribute(choice: &mut Choice, extension: &Value) -> Result<(), String> {
    let (name, value) = name_value(extension, CHOICE_ATTRIBUTE)?;
    if choice.attributes.insert(name, value).is_some() {
        return Err(String::from("a choice has one attribute twice"));
    }
    Ok(())
}

impl Importer {
    pub(super) fn choice_list(&self, extension: &Value) -> Result<(String, Vec<Choice>), String> {
        let parts = extension
            .get("extension")
            .and_then(Value::as_array)
            .ok_or_else(|| String::from("Hale choice-list or data-file extension has no parts"))?;
        let mut name = None;
        let mut choices = Vec::new();
        for part in parts {
            match part.get("url").and_then(Value::as_str) {
                Some("name") => name = part.get("valueString").and_then(string),
                Some("option") => choices.push(self.list_choice(part.get("valueCoding"))?),
                _ => {
                    return Err(String::from(
                        "Hale choice-list or data-file extension has an unknown part",
                    ));
                }
            }
        }
        Ok((
            name.ok_or_else(|| {
                String::from("Hale choice-list or data-file extension has no name")
            })?,
            choices,
        ))
    }

    /// An option of a Hale choice list: a Coding, with the choice's attributes on it.
    fn list_choice(&self, coding: Option<&Value>) -> Result<Choice, String> {
        let mut coding = coding.cloned().unwrap_or(Value::Null);
        let extensions = coding
            .as_object_mut()
            .and_then(|object| object.remove("extension"));
        let mut choice = self.coding_choice(Some(&coding))?;
        let Some(extensions) = extensions else {
            return Ok(choice);
        };
        let extensions = extensions
            .as_array()
            .ok_or_else(|| String::from("a choice-list option's extension is not an array"))?;
        for extension in extensions {
            let url = extension.get("url").and_then(Value::as_str).unwrap_or("");
            match url.strip_prefix(HALE_EXTENSION_PREFIX) {
                Some(CHOICE_ATTRIBUTE) => put_attribute(&mut choice, extension)?,
                Some("media") => put_media(&mut choice, extension, &self.language)?,
                _ => {
                    return Err(format!(
                        "extension '{url}' is not supported on a choice-list option"
                    ));
                }
            }
        }
        Ok(choice)
    }

    pub(super) fn coding_choice(&self, coding: Option<&Value>) -> Result<Choice, String> {
        let coding = coding
            .and_then(Value::as_object)
            .ok_or_else(|| String::from("an option needs a valueCoding or valueString"))?;
        if let Some(other) = coding.keys().find(|key| {
            !matches!(
                key.as_str(),
                "code" | "display" | "_display" | "id" | "system" | "version"
            )
        }) {
            return Err(format!(
                "an option's valueCoding member '{other}' is not supported"
            ));
        }
        let label = get_text(coding, "display", &self.language)?;
        // FHIR lets a Coding carry only a display: the patient picks it by its display, and the
        // answer holds the display with its spaces as underscores (a value has none).
        let (value, label, uncoded) = match (coding.get("code").and_then(string), label) {
            (Some(code), label) => {
                let label = label.unwrap_or_else(|| Text::Plain(code.clone()));
                (code, label, false)
            }
            (None, Some(label)) => match coding.get("display").and_then(string) {
                Some(display) => (
                    display.split_whitespace().collect::<Vec<_>>().join("_"),
                    label,
                    true,
                ),
                None => return Err(String::from("an option's valueCoding has no code")),
            },
            (None, None) => {
                return Err(String::from(
                    "an option's valueCoding has neither a code nor a display",
                ));
            }
        };
        Ok(Choice {
            system: coding.get("system").and_then(string),
            uncoded,
            ..Choice::new(&value, label)
        })
    }

    /// `answerOption` into choices (or a choice list) and `initialSelected` into the default;
    /// returns the display-only option extensions it dropped.
    pub(super) fn options(
        &self,
        options: &Value,
        field: &mut Field,
    ) -> Result<Vec<String>, String> {
        let options = options
            .as_array()
            .ok_or_else(|| String::from("answerOption is not an array"))?;
        let mut choices = Vec::new();
        let mut selected = Vec::new();
        let mut dropped = Vec::new();
        let member = match field.choice_type {
            None => "valueCoding",
            Some(ChoiceType::String) => "valueString",
            Some(ChoiceType::Integer) => "valueInteger",
            Some(ChoiceType::Date) => "valueDate",
            Some(ChoiceType::Time) => "valueTime",
        };
        for option in options {
            let object = option
                .as_object()
                .ok_or_else(|| String::from("an answerOption is not an object"))?;
            let mut choice = if let Some(coding) = object.get("valueCoding") {
                if field.choice_type.is_some() {
                    return Err(String::from(
                        "an item with valueCoding options among others of another kind is not supported",
                    ));
                }
                self.coding_choice(Some(coding))?
            } else if let Some(text) = object.get("valueString") {
                let text =
                    string(text).ok_or_else(|| String::from("valueString is not a string"))?;
                let label = get_text(object, "valueString", &self.language)?
                    .unwrap_or_else(|| Text::Plain(text.clone()));
                match field.choice_type {
                    Some(ChoiceType::String) => Choice::new(&option_value(&text), label),
                    // On a choice item, a string option is its own code.
                    None => Choice::new(&text, label),
                    Some(_) => {
                        return Err(String::from(
                            "an item whose options are of several kinds is not supported",
                        ));
                    }
                }
            } else if let Some(value) = object.get(member).filter(|_| field.choice_type.is_some()) {
                let value = match value {
                    Value::String(text) => text.clone(),
                    Value::Number(number) if number.is_i64() => number.to_string(),
                    _ => return Err(format!("{member} is not a {member}")),
                };
                let label = if object.get(member).is_some_and(Value::is_string) {
                    get_text(object, member, &self.language)?
                } else {
                    None
                };
                Choice::new(&value, label.unwrap_or_else(|| Text::Plain(value.clone())))
            } else {
                return Err(format!(
                    "an answerOption that is not a {member} is not supported here (valueReference and mixed kinds are not)"
                ));
            };
            for (key, value) in object {
                match key.as_str() {
                    "valueString" | "valueCoding" | "valueInteger" | "valueDate" | "valueTime"
                    | "_valueString" | "_valueInteger" | "_valueDate" | "_valueTime" | "id" => {}
                    "initialSelected" => {
                        if value == &Value::Bool(true) {
                            selected.push(Value::String(choice.value.clone()));
                        }
                    }
                    "extension" => {
                        for extension in value.as_array().map(Vec::as_slice).unwrap_or_default() {
                            let url = extension.get("url").and_then(Value::as_str).unwrap_or("");
                            match url {
                                ORDINAL_VALUE | ITEM_WEIGHT => {
                                    let score = extension
                                        .get("valueDecimal")
                                        .or_else(|| extension.get("valueInteger"))
                                        .and_then(Value::as_f64)
                                        .ok_or_else(|| {
                                            String::from("an option's score needs a valueDecimal")
                                        })?;
                                    once(&mut choice.score, score, "an option's score")?;
                                }
                                url if url.strip_prefix(HALE_EXTENSION_PREFIX)
                                    == Some(CHOICE_ATTRIBUTE) =>
                                {
                                    put_attribute(&mut choice, extension)?;
                                }
                                url if url.strip_prefix(HALE_EXTENSION_PREFIX) == Some("media") => {
                                    put_media(&mut choice, extension, &self.language)?;
                                }
                                url if DROPPED_ITEM_EXTENSIONS.contains(&url)
                                    || DISPLAY_ONLY_TEXT_EXTENSIONS.contains(&url) =>
                                {
                                    dropped.push(url.rsplit('/').next().unwrap_or(url).to_owned());
                                }
                                other => {
                                    return Err(format!(
                                        "answerOption extension '{other}' is not supported"
                                    ));
                                }
                            }
                        }
                    }
                    other => return Err(format!("answerOption member '{other}' is not supported")),
                }
            }
            choices.push(choice);
        }
        if !selected.is_empty() {
            if field.default.is_some() {
                return Err(String::from("has both initialSelected and a default"));
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
        match self.named_choices(field) {
            Some(named) => {
                if named != choices.as_slice() {
                    return Err(String::from(
                        "answerOption differs from the choice list or data file that the item names",
                    ));
                }
            }
            None => field.choices = choices,
        }
        dropped.sort();
        dropped.dedup();
        Ok(dropped)
    }
}
