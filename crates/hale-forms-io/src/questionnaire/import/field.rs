//! One Questionnaire item into one field: its members, extensions, conditions and children.

use std::collections::HashSet;

use serde_json::Value;

use super::super::relevance::from_enable_when;
use super::super::text::get_text;
use super::super::*;
use super::item::initial_value;
use super::{INVALID, Importer, UNSUPPORTED, codings, error, hale_type};
use crate::definition::{DefinitionError, Field, FieldType};

impl Importer {
    pub(super) fn item(
        &mut self,
        item: &Value,
        path: &str,
        seen: &mut HashSet<String>,
        depth: usize,
    ) -> Option<Field> {
        let Some(object) = item.as_object() else {
            self.errors.push(error(
                path,
                INVALID,
                String::from("an item is a JSON object"),
            ));
            return None;
        };
        let Some(link_id) = object.get("linkId").and_then(Value::as_str) else {
            self.errors
                .push(error(path, INVALID, String::from("an item has no linkId")));
            return None;
        };
        let before = self.errors.len();
        let fail = |errors: &mut Vec<DefinitionError>, code: &'static str, message: String| {
            errors.push(error(path, code, format!("item '{link_id}': {message}")));
        };
        if !seen.insert(link_id.to_owned()) {
            fail(
                &mut self.errors,
                INVALID,
                String::from("linkId is used twice"),
            );
        }
        let (field_type, choice_type) = match hale_type(object) {
            Ok(found) => found,
            Err(message) => {
                fail(&mut self.errors, UNSUPPORTED, message);
                return None;
            }
        };
        let name = self
            .questions
            .get(link_id)
            .map_or_else(|| link_id.to_owned(), |question| question.name.clone());
        let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
        let mut field = Field::new(&name, field_type);
        // A linkId Hale made of the names around a shared name (`visit/dose`) is made again
        // on export; any other that is not the name is kept.
        let derived = link_id
            .strip_suffix(name.as_str())
            .is_some_and(|place| place.ends_with('/'));
        if name != link_id && !derived {
            field.link_id = Some(link_id.to_owned());
        }
        field.choice_type = choice_type;
        field.open = kind == "open-choice";
        field.answer_list = super::is_answer_list(object);
        let repeating = field_type == FieldType::Repeat || field.answer_list;
        if kind == "text" {
            field.appearance = Some(String::from("multiline"));
        }
        match get_text(object, "text", &self.language) {
            Ok(label) => field.label = label,
            Err(message) => fail(&mut self.errors, INVALID, message),
        }
        match get_text(object, "prefix", &self.language) {
            Ok(prefix) => field.prefix = prefix,
            Err(message) => fail(&mut self.errors, INVALID, message),
        }
        self.note_rendering(object, path, link_id);
        let scope_mark = self.variables.len();
        if let Err(message) = self.read_variables(object) {
            fail(&mut self.errors, UNSUPPORTED, message);
        }
        let mut options = None;
        let mut initial = None;
        let mut enable_when = None;
        let mut codes = Vec::new();
        for (key, value) in object {
            match key.as_str() {
                "linkId" | "type" | "text" | "_text" | "repeats" | "extension" | "id"
                | "prefix" | "_prefix" | "enableBehavior" => {}
                "required" => field.required = value == &Value::Bool(true),
                "readOnly" => {
                    field.read_only =
                        value == &Value::Bool(true) && field_type != FieldType::Calculate;
                }
                "maxLength" => match value.as_u64().and_then(|most| u32::try_from(most).ok()) {
                    Some(most) if field_type == FieldType::Text => field.max_length = Some(most),
                    _ => fail(
                        &mut self.errors,
                        UNSUPPORTED,
                        String::from("maxLength is only supported on string and text items"),
                    ),
                },
                "code" => match codings(value) {
                    Ok((found, uncoded)) => {
                        codes = found;
                        if uncoded > 0 {
                            self.note(
                                path,
                                "fhir_code_dropped",
                                format!("item '{link_id}': a code with no code (a display alone) names no concept and is not kept"),
                            );
                        }
                    }
                    Err(message) => fail(&mut self.errors, UNSUPPORTED, message),
                },
                "definition" => self.note(
                    path,
                    "fhir_definition_dropped",
                    format!(
                        "item '{link_id}': definition (the element it extracts to) is not kept"
                    ),
                ),
                "enableWhen" => enable_when = Some(value),
                "answerOption" if field_type.is_select() => options = Some(value),
                "initial" => initial = Some(value),
                "item" => {}
                "answerValueSet" => fail(&mut self.errors, UNSUPPORTED, super::no_options(object)),
                other => fail(
                    &mut self.errors,
                    UNSUPPORTED,
                    format!("member '{other}' is not supported by Hale"),
                ),
            }
        }
        let mut default_text = None;
        let mut unit_options = Vec::new();
        let mut toggles = Vec::new();
        if let Some(extensions) = object.get("extension") {
            let Some(extensions) = extensions.as_array() else {
                fail(
                    &mut self.errors,
                    INVALID,
                    String::from("extension is not an array"),
                );
                return None;
            };
            let has_hale = |url: &str| {
                extensions.iter().any(|extension| {
                    extension.get("url").and_then(Value::as_str) == Some(url)
                        && super::is_hale_expression(extension)
                })
            };
            for extension in extensions {
                let url = extension.get("url").and_then(Value::as_str).unwrap_or("");
                // Hale writes a FHIRPath twin beside its own expression; its own is the one read.
                if matches!(
                    url,
                    ENABLE_WHEN_EXPRESSION | CALCULATED_EXPRESSION | INITIAL_EXPRESSION
                ) && !super::is_hale_expression(extension)
                    && has_hale(url)
                {
                    continue;
                }
                // Beside Hale's choice filter, the FHIRPath toggles are its twin; without it,
                // they are read as one once the options are known.
                if url == ANSWER_OPTIONS_TOGGLE_EXPRESSION {
                    if !has_hale(&hale(CHOICE_FILTER)) {
                        toggles.push(extension);
                    }
                    continue;
                }
                match self.item_extension(
                    extension,
                    kind,
                    &mut field,
                    &mut default_text,
                    &mut unit_options,
                ) {
                    Ok(Some(dropped)) => self.note(
                        path,
                        "fhir_display_dropped",
                        format!("item '{link_id}': {dropped} is display-only and not kept"),
                    ),
                    Ok(None) => {}
                    Err(message) => fail(&mut self.errors, UNSUPPORTED, message),
                }
            }
        }
        if kind == "quantity" {
            // With no `questionnaire-unit`, the first unit offered is the one Hale's plain
            // numbers are in; the others stay accepted.
            if field.unit.is_none() {
                field.unit = unit_options.first().cloned();
            }
            field.accepted_units = unit_options
                .into_iter()
                .filter(|unit| Some(unit) != field.unit.as_ref())
                .collect();
        }
        let measured = field_type.is_numeric() || field_type == FieldType::Calculate;
        match codes.first() {
            // Hale's own export of a LOINC code.
            Some(first)
                if measured
                    && codes.len() == 1
                    && first.display.is_none()
                    && first.system.as_deref() == Some(LOINC) =>
            {
                field.code = Some(first.code.clone());
            }
            Some(first)
                if measured && field.unit.is_some() && first.system.as_deref() == Some(LOINC) =>
            {
                field.code = Some(first.code.clone());
                let plain = codes.len() == 1 && first.display.is_none();
                if !plain {
                    field.codes = codes;
                }
            }
            _ => field.codes = codes,
        }
        if let Some(conditions) = enable_when {
            let behavior = object.get("enableBehavior").and_then(Value::as_str);
            let result = conditions
                .as_array()
                .ok_or_else(|| String::from("enableWhen is not an array"))
                .and_then(|conditions| from_enable_when(conditions, behavior, &self.questions));
            match (result, &field.relevant) {
                (Ok(_), Some(_)) => fail(
                    &mut self.errors,
                    UNSUPPORTED,
                    String::from(
                        "both enableWhen and an enableWhenExpression: Hale has one relevance",
                    ),
                ),
                (Ok(relevant), None) => field.relevant = Some(relevant),
                (Err(message), _) => fail(&mut self.errors, UNSUPPORTED, message),
            }
        }
        let hale_default = default_text.is_some();
        if let Some(text) = default_text {
            match hale_domain::json::from_str(&text) {
                Ok(default) => field.default = Some(default),
                Err(_) => fail(
                    &mut self.errors,
                    INVALID,
                    String::from("Hale default extension is not JSON"),
                ),
            }
        }
        if let Some(options) = options {
            match self.options(options, &mut field) {
                Ok(dropped) => {
                    for dropped in dropped {
                        self.note(
                            path,
                            "fhir_display_dropped",
                            format!("item '{link_id}': {dropped} on an answerOption is display-only and not kept"),
                        );
                    }
                }
                Err(message) => fail(&mut self.errors, UNSUPPORTED, message),
            }
        }
        if !toggles.is_empty() {
            match self.toggles_filter(&toggles, &field) {
                Ok(filter) => field.choice_filter = Some(filter),
                Err(message) => fail(&mut self.errors, UNSUPPORTED, message),
            }
        }
        if options.is_none()
            && self
                .named_choices(&field)
                .is_some_and(|named| !named.is_empty())
        {
            fail(
                &mut self.errors,
                INVALID,
                String::from("names a choice list or data file but lists no answerOption"),
            );
        }
        match initial {
            None => {}
            // Answers given beforehand: the list's first rows.
            Some(initial) if field.answer_list => {
                let answer = self.list_answers.get(link_id).cloned().unwrap_or_default();
                let rows: Result<Vec<Value>, String> = initial
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|entry| {
                        initial_value(&Value::Array(vec![entry.clone()]), &field)
                            .map(|value| serde_json::json!({ answer.clone(): value }))
                    })
                    .collect();
                match rows {
                    Ok(rows) if field.default.is_none() => {
                        field.default = Some(Value::Array(rows));
                    }
                    Ok(_) => fail(
                        &mut self.errors,
                        INVALID,
                        String::from("has both initial and a default"),
                    ),
                    Err(message) => fail(&mut self.errors, UNSUPPORTED, message),
                }
            }
            // R4 (que-11) allows no initial beside answerOption; initialSelected is how an
            // item with options says what starts selected, so it is the one kept.
            Some(_) if field.default.is_some() && !hale_default && options.is_some() => self.note(
                path,
                "fhir_initial_dropped",
                format!(
                    "item '{link_id}': initial beside answerOption is not allowed in R4 (que-11); the options marked initialSelected are the default"
                ),
            ),
            Some(_) if field.default.is_some() => fail(
                &mut self.errors,
                INVALID,
                String::from("has both initial and a default"),
            ),
            Some(initial) => match initial_value(initial, &field) {
                Ok(value) => {
                    let code = initial
                        .pointer("/0/valueQuantity/code")
                        .and_then(Value::as_str);
                    let offered = |code: &str| {
                        field.unit.as_deref() == Some(code)
                            || field.accepted_units.iter().any(|unit| unit == code)
                    };
                    if let Some(code) = code.filter(|code| !offered(code)) {
                        self.note(
                            path,
                            "fhir_initial_converted",
                            format!(
                                "item '{link_id}': initial is in '{code}', which the item does not offer: converted to '{}'",
                                field.unit.as_deref().unwrap_or("")
                            ),
                        );
                    }
                    field.default = Some(value);
                }
                Err(message) => fail(&mut self.errors, UNSUPPORTED, message),
            },
        }
        if let Some(children) = object.get("item") {
            match children.as_array() {
                Some(children) => {
                    field.children = self.items(children, path, seen, depth + 1);
                }
                None => fail(
                    &mut self.errors,
                    INVALID,
                    String::from("item is not an array"),
                ),
            }
        }
        self.variables.truncate(scope_mark);
        // FHIR `required` on what repeats: at least one row (or answer).
        if repeating && field.required {
            field.min_count = Some(field.min_count.unwrap_or(1).max(1));
            field.required = field.answer_list;
        }
        if field.answer_list {
            let answer = self.list_answers.get(link_id).cloned();
            field = answer_list(field, answer);
        }
        (self.errors.len() == before).then_some(field)
    }
}

/// A question answered as a list, as a repeat: the question itself, required in every row
/// (a row is an answer), then what follows each answer.
fn answer_list(mut question: Field, answer: Option<String>) -> Field {
    let mut list = Field::new(&question.name, FieldType::Repeat);
    list.answer_list = true;
    list.link_id = question.link_id.take();
    list.relevant = question.relevant.take();
    list.repeat_count = question.repeat_count.take();
    list.min_count = question.min_count.take();
    list.max_count = question.max_count.take();
    // A list's default is its first rows (from `initial` or Hale's default extension).
    list.default = question.default.take();
    question.answer_list = false;
    question.required = true;
    question.name = answer.unwrap_or_else(|| format!("{}_answer", list.name));
    let follow = std::mem::take(&mut question.children);
    list.children = std::iter::once(question).chain(follow).collect();
    list
}
