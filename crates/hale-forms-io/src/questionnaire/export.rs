//! `AppDefinition` → FHIR R4 Questionnaire.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::fhirpath::{Answer, coded, to_fhirpath};
use super::relevance::{Target, to_enable_when};
use super::text::put_text;
use super::*;
use crate::definition::{AppDefinition, Choice, ChoiceType, Coding, Field, FieldType, Text};

/// The definition as a FHIR R4 Questionnaire resource (status `draft`).
pub fn export(definition: &AppDefinition) -> Value {
    let language = definition.default_language.as_str();
    let mut resource = Map::new();
    resource.insert("resourceType".into(), json!("Questionnaire"));
    resource.insert("status".into(), json!("draft"));
    put_text(&mut resource, "title", &definition.title, language);
    if let Some(version) = &definition.version {
        resource.insert("version".into(), json!(version));
    }
    resource.insert("language".into(), json!(language));
    let mut extensions = Vec::new();
    if let Some(format) = &definition.format {
        extensions.push(json!({"url": hale("format"), "valueString": format}));
    }
    for other in &definition.languages {
        extensions.push(json!({"url": hale("language"), "valueCode": other}));
    }
    if let Some(schedule) = &definition.schedule {
        extensions.push(json!({"url": hale("schedule"), "valueString": schedule}));
    }
    if let Some(policy) = &definition.rate_limit_policy {
        extensions.push(json!({"url": hale("rate-limit-policy"), "valueString": policy}));
    }
    // A list's options, and a data file's rows, are Codings: a choice's attributes go on its
    // Coding.
    let named = [
        ("choice-list", &definition.choice_lists),
        ("data-file", &definition.data_files),
    ];
    for (url, lists) in named {
        for (name, choices) in lists {
            let mut parts = vec![json!({"url": "name", "valueString": name})];
            parts.extend(choices.iter().map(|choice| {
                let mut coding = coding(choice, language);
                put_choice_extensions(&mut coding, choice, language);
                json!({"url": "option", "valueCoding": coding})
            }));
            extensions.push(json!({"url": hale(url), "extension": parts}));
        }
    }
    // A media file's description; the bytes stay on the server, read at the version's
    // `files/{name}`.
    for (name, file) in &definition.media_files {
        extensions.push(json!({"url": hale("media-file"), "extension": [
            {"url": "name", "valueString": name},
            {"url": "media-type", "valueCode": file.media_type},
            {"url": "size", "valueDecimal": file.size},
            {"url": "sha256", "valueString": file.sha256},
        ]}));
    }
    if let Some(news2) = &definition.news2 {
        let mut parts = vec![
            json!({"url": "oxygen", "valueString": news2.oxygen}),
            json!({"url": "consciousness", "valueString": news2.consciousness}),
        ];
        if let Some(scale) = &news2.spo2_scale {
            parts.push(json!({"url": "spo2-scale", "valueString": scale}));
        }
        extensions.push(json!({"url": hale("news2"), "extension": parts}));
    }
    if !extensions.is_empty() {
        resource.insert("extension".into(), Value::Array(extensions));
    }
    if !definition.codes.is_empty() {
        resource.insert("code".into(), codings(&definition.codes));
    }
    let mut targets = HashMap::new();
    collect_targets(definition, &definition.fields, None, &mut targets);
    let answers = targets
        .iter()
        .map(|(name, target)| {
            let answer = Answer {
                link_id: target.link_id.clone(),
                coded: coded(target.field_type, target.choice_type),
            };
            (name.clone(), answer)
        })
        .collect();
    let mut seen = HashSet::new();
    let shared = definition
        .walk()
        .into_iter()
        .filter(|(_, field)| !seen.insert(field.name.as_str()))
        .map(|(_, field)| field.name.clone())
        .collect();
    let context = Context {
        app: definition,
        language,
        targets,
        answers,
        shared,
    };
    let items: Vec<Value> = definition
        .fields
        .iter()
        .map(|field| context.item(field, None, ""))
        .collect();
    resource.insert("item".into(), Value::Array(items));
    Value::Object(resource)
}

fn codings(codes: &[Coding]) -> Value {
    Value::Array(
        codes
            .iter()
            .map(|coding| {
                let mut object = Map::new();
                if let Some(system) = &coding.system {
                    object.insert("system".into(), json!(system));
                }
                object.insert("code".into(), json!(coding.code));
                if let Some(display) = &coding.display {
                    object.insert("display".into(), json!(display));
                }
                Value::Object(object)
            })
            .collect(),
    )
}

fn collect_targets(
    app: &AppDefinition,
    fields: &[Field],
    repeat: Option<&str>,
    out: &mut HashMap<String, Target>,
) {
    let language = app.default_language.as_str();
    for field in fields {
        out.insert(
            field.name.clone(),
            Target {
                field_type: field.field_type,
                repeat: repeat.map(str::to_owned),
                link_id: field.link_id.clone().unwrap_or_else(|| field.name.clone()),
                choice_type: field.choice_type,
                choices: app
                    .choices_of(field)
                    .iter()
                    .map(|choice| {
                        (
                            choice.value.clone(),
                            choice.label.in_language(language).to_owned(),
                            choice.system.clone(),
                        )
                    })
                    .collect(),
            },
        );
        let inner = if field.field_type == FieldType::Repeat {
            Some(field.name.as_str())
        } else {
            repeat
        };
        collect_targets(app, &field.children, inner, out);
        // A list's question is exported under the list's linkId.
        if field.answer_list
            && let Some(question) = field.children.first()
            && let Some(target) = out.get_mut(&question.name)
        {
            target.link_id = field.link_id.clone().unwrap_or_else(|| field.name.clone());
        }
    }
}

struct Context<'a> {
    app: &'a AppDefinition,
    language: &'a str,
    targets: HashMap<String, Target>,
    answers: HashMap<String, Answer>,
    /// Names that several fields share (in different groups or repeats).
    shared: HashSet<String>,
}

fn coding(choice: &Choice, language: &str) -> Value {
    let mut object = Map::new();
    if let Some(system) = &choice.system {
        object.insert("system".into(), json!(system));
    }
    if !choice.uncoded {
        object.insert("code".into(), json!(choice.value));
    }
    put_text(&mut object, "display", &choice.label, language);
    Value::Object(object)
}

/// Hale's extension `extension` of a `name` and, unless empty (FHIR strings are never
/// empty), a `value`.
fn name_value(extension: &str, name: &str, value: &str) -> Value {
    let mut parts = vec![json!({"url": "name", "valueString": name})];
    if !value.is_empty() {
        parts.push(json!({"url": "value", "valueString": value}));
    }
    json!({"url": hale(extension), "extension": parts})
}

/// A choice's attributes (what a choice filter reads besides its name and label), as Hale's
/// `choice-attribute` extensions on `element` (its answerOption or Coding).
/// A choice's attributes and media, as Hale extensions on its Coding or answerOption.
fn put_choice_extensions(element: &mut Value, choice: &Choice, language: &str) {
    let Some(object) = element.as_object_mut() else {
        return;
    };
    if choice.attributes.is_empty() && choice.media.is_empty() {
        return;
    }
    let attributes = choice
        .attributes
        .iter()
        .map(|(name, value)| name_value(CHOICE_ATTRIBUTE, name, value));
    let media = choice
        .media
        .iter()
        .map(|(kind, file)| media_extension(kind, file, language));
    if let Value::Array(list) = object
        .entry("extension")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        list.extend(attributes.chain(media));
    }
}

/// Hale's `media` extension: the kind and the file's name, translated.
fn media_extension(kind: &str, file: &Text, language: &str) -> Value {
    let mut file_part = Map::new();
    file_part.insert("url".into(), json!("file"));
    put_text(&mut file_part, "valueString", file, language);
    json!({"url": hale("media"), "extension": [{"url": "kind", "valueCode": kind}, file_part]})
}

fn text_extension(name: &str, text: &Text, language: &str) -> Value {
    let mut object = Map::new();
    object.insert("url".into(), json!(hale(name)));
    put_text(&mut object, "valueString", text, language);
    Value::Object(object)
}

fn expression(url: &str, source: &str) -> Value {
    json!({"url": url, "valueExpression": {
        "language": HALE_EXPRESSION_LANGUAGE,
        "expression": source,
    }})
}

/// `minValue`/`maxValue`: an integer for an integer field when the bound is whole.
fn bound(url: &str, value: f64, field_type: FieldType) -> Value {
    if field_type == FieldType::Integer && value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!({"url": url, "valueInteger": value as i64})
    } else {
        json!({"url": url, "valueDecimal": value})
    }
}

fn ucum(unit: &str) -> Value {
    json!({"system": UCUM, "code": unit})
}

/// The FHIR item type of a field.
fn item_type(field: &Field) -> &'static str {
    match field.field_type {
        FieldType::Group | FieldType::Repeat => "group",
        FieldType::Note => "display",
        FieldType::Boolean | FieldType::Acknowledge => "boolean",
        // A decimal with one unit stays a decimal (with `questionnaire-unit`); a choice of
        // units needs a quantity's `unitOption`.
        FieldType::Decimal | FieldType::Range if !field.accepted_units.is_empty() => "quantity",
        FieldType::Decimal | FieldType::Range | FieldType::Calculate => "decimal",
        FieldType::Integer => "integer",
        FieldType::Date => "date",
        FieldType::Datetime => "dateTime",
        FieldType::Time => "time",
        FieldType::Text if field.appearance.as_deref() == Some("multiline") => "text",
        FieldType::Text => "string",
        FieldType::SelectOne | FieldType::SelectMultiple | FieldType::Rank => {
            match field.choice_type {
                _ if field.open => "open-choice",
                None => "choice",
                Some(ChoiceType::String) => "string",
                Some(ChoiceType::Integer) => "integer",
                Some(ChoiceType::Date) => "date",
                Some(ChoiceType::Time) => "time",
            }
        }
        // FHIR has no location or barcode type: text, with Hale's field-type saying which.
        FieldType::Geopoint | FieldType::Geotrace | FieldType::Geoshape | FieldType::Barcode => {
            "string"
        }
        FieldType::File | FieldType::Photo | FieldType::Audio | FieldType::Video => "attachment",
    }
}

impl Context<'_> {
    /// The FHIRPath twin of a Hale expression, when it has one.
    /// The expression in FHIRPath, for a field answered in `repeat` (if any). FHIRPath reads
    /// a question by linkId across the whole response: in a repeat that is every row's answer,
    /// not the row's own, so an expression inside a repeat that reads a field of a repeat has
    /// no FHIRPath here (Hale's own expression says it).
    fn fhirpath(&self, url: &str, source: &str, repeat: Option<&str>) -> Option<Value> {
        let expr = hale_expr::parse(source).ok()?;
        if self.reads_rows(&expr, repeat) {
            return None;
        }
        let text = to_fhirpath(&expr, &self.answers)?;
        Some(json!({"url": url, "valueExpression": {"language": FHIRPATH, "expression": text}}))
    }

    /// Whether `expr`, answered in `repeat`, reads a field of a repeat: FHIRPath would read
    /// that field's answers in every row, not the row's own.
    fn reads_rows(&self, expr: &hale_expr::Expr, repeat: Option<&str>) -> bool {
        repeat.is_some()
            && expr.references().iter().any(|name| {
                self.targets
                    .get(name)
                    .is_some_and(|target| target.repeat.is_some())
            })
    }

    /// One `answerOption`, in the kind of value the field's choices are.
    fn option(&self, field: &Field, choice: &Choice) -> Value {
        let language = self.language;
        let mut option = Map::new();
        match field.choice_type {
            None => {
                option.insert("valueCoding".into(), coding(choice, language));
            }
            Some(ChoiceType::String) => {
                put_text(&mut option, "valueString", &choice.label, language)
            }
            Some(ChoiceType::Integer) => {
                let number = choice
                    .value
                    .parse::<i64>()
                    .map_or_else(|_| json!(choice.value), |n| json!(n));
                option.insert("valueInteger".into(), number);
            }
            Some(ChoiceType::Date) => {
                option.insert("valueDate".into(), json!(choice.value));
            }
            Some(ChoiceType::Time) => {
                option.insert("valueTime".into(), json!(choice.value));
            }
        }
        if let Some(score) = choice.score {
            option.insert(
                "extension".into(),
                json!([{"url": ORDINAL_VALUE, "valueDecimal": score}]),
            );
        }
        let mut option = Value::Object(option);
        put_choice_extensions(&mut option, choice, self.language);
        option
    }

    /// A choice filter as SDC's `answerOptionsToggleExpression`: the filter with each
    /// choice's members made constants, in FHIRPath, options grouped by expression. When any
    /// choice's filter has no FHIRPath twin, or it reads a field of a repeat from inside one,
    /// no toggles are written (docs/app-format.md).
    fn options_toggle(
        &self,
        filter: &str,
        repeat: Option<&str>,
        choices: &[Choice],
        options: &[Value],
    ) -> Vec<Value> {
        let Ok(filter) = hale_expr::parse_choice_filter(filter) else {
            return Vec::new();
        };
        if self.reads_rows(&filter, repeat) {
            return Vec::new();
        }
        let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
        for (choice, option) in choices.iter().zip(options) {
            let bound = bind_choice(&filter, choice, self.language);
            let Some(expression) = to_fhirpath(&bound, &self.answers) else {
                return Vec::new();
            };
            let value = option
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(key, _)| key.starts_with("value"))
                .map(|(key, value)| {
                    let mut part = Map::new();
                    part.insert("url".into(), json!("option"));
                    part.insert(key.clone(), value.clone());
                    Value::Object(part)
                });
            match groups.iter_mut().find(|(known, _)| *known == expression) {
                Some((_, parts)) => parts.extend(value),
                None => groups.push((expression, value.collect())),
            }
        }
        groups
            .into_iter()
            .map(|(expression, mut parts)| {
                parts.push(json!({"url": "expression", "valueExpression": {
                    "language": FHIRPATH, "expression": expression,
                }}));
                json!({"url": ANSWER_OPTIONS_TOGGLE_EXPRESSION, "extension": parts})
            })
            .collect()
    }

    /// A repeat marked `answer_list` as the one repeating question it stands for.
    fn answer_list(&self, list: &Field, question: &Field, follow: &[Field], place: &str) -> Value {
        let mut question = question.clone();
        question.link_id = Some(self.link_id(list, place));
        question.relevant.clone_from(&list.relevant);
        question.repeat_count.clone_from(&list.repeat_count);
        question.required = list.min_count.is_some_and(|low| low >= 1);
        question.min_count = list.min_count.filter(|low| *low != 1);
        question.max_count = list.max_count;
        question.children.extend(follow.iter().cloned());
        // The list's first rows are the question's initial answers (Hale's default extension
        // when one has no exact `initial`).
        question.default = None;
        let kind = item_type(&question);
        let initials = list.default.as_ref().map(|rows| {
            rows.as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|row| {
                    let object = row.as_object().filter(|object| object.len() == 1)?;
                    initial(&question, kind, object.get(&question.name)?)
                })
                .collect::<Option<Vec<Value>>>()
                .filter(|values| !values.is_empty())
        });
        let mut item = self.item(&question, Some(&list.name), place);
        if let Some(object) = item.as_object_mut() {
            match initials {
                None => {}
                Some(Some(values)) => {
                    object.insert("initial".into(), Value::Array(values));
                }
                Some(None) => {
                    let text = default_extension(list.default.as_ref());
                    match object.get_mut("extension").and_then(Value::as_array_mut) {
                        Some(extensions) => extensions.push(text),
                        None => {
                            object.insert("extension".into(), json!([text]));
                        }
                    }
                }
            }
            object.insert("repeats".into(), json!(true));
            if list.link_id.is_none() && self.link_id(list, place) != list.name {
                let own = json!({"url": hale("name"), "valueString": list.name});
                match object.get_mut("extension").and_then(Value::as_array_mut) {
                    Some(extensions) => extensions.push(own),
                    None => {
                        object.insert("extension".into(), json!([own]));
                    }
                }
            }
            let name = json!({"url": hale("answer-name"), "valueString": question.name});
            match object.get_mut("extension").and_then(Value::as_array_mut) {
                Some(extensions) => extensions.push(name),
                None => {
                    object.insert("extension".into(), json!([name]));
                }
            }
        }
        item
    }

    /// The field's linkId: its own, else its name; a name several fields share takes the
    /// names of its groups and repeats before it (`visit/dose`), as linkIds are unique.
    fn link_id(&self, field: &Field, place: &str) -> String {
        match &field.link_id {
            Some(link_id) => link_id.clone(),
            None if self.shared.contains(&field.name) => format!("{place}{}", field.name),
            None => field.name.clone(),
        }
    }

    /// `place` is the names of the groups and repeats around the field, each followed by `/`.
    fn item(&self, field: &Field, repeat: Option<&str>, place: &str) -> Value {
        if field.answer_list
            && field.field_type == FieldType::Repeat
            && let Some((question, follow)) = field.children.split_first()
        {
            return self.answer_list(field, question, follow, place);
        }
        let language = self.language;
        let kind = item_type(field);
        let mut item = Map::new();
        let link_id = self.link_id(field, place);
        item.insert("linkId".into(), json!(link_id));
        if let Some(prefix) = &field.prefix {
            put_text(&mut item, "prefix", prefix, language);
        }
        if let Some(label) = &field.label {
            put_text(&mut item, "text", label, language);
        }
        item.insert("type".into(), json!(kind));
        let mut extensions = Vec::new();
        if link_id != field.name && field.link_id.is_none() {
            extensions.push(json!({"url": hale("name"), "valueString": field.name}));
        }
        match field.field_type {
            FieldType::Acknowledge
            | FieldType::Range
            | FieldType::Geopoint
            | FieldType::Geotrace
            | FieldType::Geoshape
            | FieldType::Barcode
            | FieldType::Rank => extensions
                .push(json!({"url": hale("field-type"), "valueCode": field.field_type.as_str()})),
            FieldType::Photo => {
                extensions.push(json!({"url": MIME_TYPE, "valueCode": "image/*"}));
            }
            FieldType::Audio => {
                extensions.push(json!({"url": MIME_TYPE, "valueCode": "audio/*"}));
            }
            FieldType::Video => {
                extensions.push(json!({"url": MIME_TYPE, "valueCode": "video/*"}));
            }
            FieldType::Calculate => {
                item.insert("readOnly".into(), json!(true));
                extensions.push(json!({"url": HIDDEN, "valueBoolean": true}));
                extensions.push(json!({"url": hale("field-type"), "valueCode": "calculate"}));
            }
            _ => {
                if field.read_only {
                    item.insert("readOnly".into(), json!(true));
                }
                if field.hidden {
                    extensions.push(json!({"url": HIDDEN, "valueBoolean": true}));
                }
            }
        }
        if let Some(code) = field.parameters.get(ITEM_CONTROL_PARAMETER) {
            extensions.push(json!({"url": ITEM_CONTROL, "valueCodeableConcept": {
                "coding": [{"system": ITEM_CONTROL_SYSTEM, "code": code}],
            }}));
        }
        if let Some(code) = field.parameters.get(CHOICE_ORIENTATION_PARAMETER) {
            extensions.push(json!({"url": CHOICE_ORIENTATION, "valueCode": code}));
        }
        if let Some(text) = field.parameters.get(ENTRY_FORMAT_PARAMETER) {
            extensions.push(json!({"url": ENTRY_FORMAT, "valueString": text}));
        }
        // The client parameters with no FHIR home (FHIR strings are never empty).
        for (name, value) in &field.parameters {
            if ![
                ITEM_CONTROL_PARAMETER,
                CHOICE_ORIENTATION_PARAMETER,
                ENTRY_FORMAT_PARAMETER,
            ]
            .contains(&name.as_str())
            {
                extensions.push(name_value("parameter", name, value));
            }
        }
        if let Some(most) = field.max_length {
            item.insert("maxLength".into(), json!(most));
        }
        // What repeats is required when it needs a row.
        let required = if field.field_type == FieldType::Repeat {
            field.min_count.is_some_and(|low| low >= 1)
        } else {
            field.required
        };
        if required {
            item.insert("required".into(), json!(true));
        }
        if matches!(
            field.field_type,
            FieldType::SelectMultiple | FieldType::Rank | FieldType::Repeat
        ) {
            item.insert("repeats".into(), json!(true));
        }
        if !field.codes.is_empty() {
            item.insert("code".into(), codings(&field.codes));
        } else if let Some(code) = &field.code {
            item.insert("code".into(), json!([{"system": LOINC, "code": code}]));
        }
        // Units.
        if let Some(unit) = &field.unit {
            if matches!(kind, "quantity" | "integer" | "decimal") {
                extensions.push(json!({"url": UNIT, "valueCoding": ucum(unit)}));
            } else {
                extensions.push(json!({"url": hale("unit"), "valueCode": unit}));
            }
        }
        if kind == "quantity" {
            for unit in field.unit.iter().chain(&field.accepted_units) {
                extensions.push(json!({"url": UNIT_OPTION, "valueCoding": ucum(unit)}));
            }
        } else {
            for unit in &field.accepted_units {
                extensions.push(json!({"url": hale("accepted-unit"), "valueCode": unit}));
            }
        }
        if let Some(min) = field.min {
            extensions.push(bound(MIN_VALUE, min, field.field_type));
        }
        if let Some(max) = field.max {
            extensions.push(bound(MAX_VALUE, max, field.field_type));
        }
        if let Some(step) = field.step {
            extensions.push(json!({"url": hale("step"), "valueDecimal": step}));
        }
        // On a repeat, `required` says one row already.
        let said = field.field_type == FieldType::Repeat && required;
        if let Some(count) = field.min_count.filter(|low| !said || *low != 1) {
            extensions.push(json!({"url": MIN_OCCURS, "valueInteger": count}));
        }
        if let Some(count) = field.max_count {
            extensions.push(json!({"url": MAX_OCCURS, "valueInteger": count}));
        }
        if let Some(appearance) = &field.appearance
            && kind != "text"
        {
            extensions.push(json!({"url": hale("appearance"), "valueString": appearance}));
        }
        if let Some(hint) = &field.hint {
            extensions.push(text_extension("hint", hint, language));
        }
        if let Some(purpose) = &field.purpose {
            extensions.push(json!({"url": hale("purpose"), "valueString": purpose}));
        }
        if let Some(message) = &field.required_message {
            extensions.push(text_extension("required-message", message, language));
        }
        if let Some(guidance) = &field.guidance_hint {
            extensions.push(text_extension("guidance-hint", guidance, language));
        }
        for (kind, file) in &field.media {
            extensions.push(media_extension(kind, file, language));
        }
        if let Some(prefill) = field.prefill {
            extensions.push(json!({"url": hale("prefill"), "valueCode": prefill}));
        }
        // Expressions.
        if let Some(relevant) = &field.relevant {
            match to_enable_when(relevant, repeat, &self.targets) {
                Some((conditions, behavior)) => {
                    item.insert("enableWhen".into(), Value::Array(conditions));
                    if let Some(behavior) = behavior {
                        item.insert("enableBehavior".into(), json!(behavior));
                    }
                }
                None => {
                    extensions.push(expression(ENABLE_WHEN_EXPRESSION, relevant));
                    extensions.extend(self.fhirpath(ENABLE_WHEN_EXPRESSION, relevant, repeat));
                }
            }
        }
        if let Some(condition) = &field.required_if {
            extensions.push(expression(&hale("required-if"), condition));
        }
        if let Some(condition) = &field.read_only_if {
            extensions.push(expression(&hale("read-only-if"), condition));
        }
        if let Some(count) = &field.repeat_count {
            extensions.push(expression(&hale("repeat-count"), count));
        }
        if let Some(calculation) = &field.calculation {
            extensions.push(expression(CALCULATED_EXPRESSION, calculation));
            // SDC keeps a calculated value up to date; one set by a trigger is not, so no
            // FHIRPath twin that another renderer would keep recomputing.
            if field.trigger.is_empty() {
                extensions.extend(self.fhirpath(CALCULATED_EXPRESSION, calculation, repeat));
            }
        }
        for name in &field.trigger {
            extensions.push(json!({"url": hale("trigger"), "valueString": name}));
        }
        if let Some(initial) = &field.default_expression {
            extensions.push(expression(INITIAL_EXPRESSION, initial));
            extensions.extend(self.fhirpath(INITIAL_EXPRESSION, initial, repeat));
        }
        if field.constraint.is_some() || field.constraint_message.is_some() {
            let mut parts = vec![
                json!({"url": "key", "valueId": constraint_key(&field.name)}),
                json!({"url": "severity", "valueCode": "error"}),
            ];
            if let Some(constraint) = &field.constraint {
                let mut part = expression("expression", constraint);
                if let Some(object) = part.as_object_mut() {
                    object.insert("url".into(), json!("expression"));
                }
                parts.push(part);
            }
            if let Some(message) = &field.constraint_message {
                let mut human = Map::new();
                human.insert("url".into(), json!("human"));
                put_text(&mut human, "valueString", message, language);
                parts.push(Value::Object(human));
            }
            extensions.push(json!({"url": CONSTRAINT, "extension": parts}));
        }
        // Choices and default. Choices from a repeat's answers are the rows' own: the item
        // lists no option and names the field that gives them.
        if let Some(source) = &field.choices_from {
            extensions.push(json!({"url": hale("choices-from"), "valueString": source}));
        }
        if field.field_type.is_select() {
            if let Some(list) = &field.choice_list {
                extensions.push(json!({"url": hale("choice-list"), "valueString": list}));
            }
            if let Some(file) = &field.choice_file {
                extensions.push(json!({"url": hale("choice-file"), "valueString": file}));
            }
            let choices = self.app.choices_of(field);
            let selected = field
                .default
                .as_ref()
                .and_then(|default| initially_selected(field.field_type, default, choices));
            if field.default.is_some() && selected.is_none() {
                extensions.push(default_extension(field.default.as_ref()));
            }
            let options: Vec<Value> = choices
                .iter()
                .map(|choice| {
                    let mut option = self.option(field, choice);
                    if selected
                        .as_ref()
                        .is_some_and(|selected| selected.contains(&choice.value.as_str()))
                        && let Some(object) = option.as_object_mut()
                    {
                        object.insert("initialSelected".into(), json!(true));
                    }
                    option
                })
                .collect();
            if let Some(filter) = &field.choice_filter {
                // Hale's own filter, read back on import; the FHIRPath toggles are for others.
                extensions.push(expression(&hale(CHOICE_FILTER), filter));
                extensions.extend(self.options_toggle(filter, repeat, choices, &options));
            }
            if !options.is_empty() {
                item.insert("answerOption".into(), Value::Array(options));
            }
        } else if let Some(default) = &field.default {
            match initial(field, kind, default) {
                Some(value) => {
                    item.insert("initial".into(), json!([value]));
                }
                None => extensions.push(default_extension(Some(default))),
            }
        }
        if !extensions.is_empty() {
            item.insert("extension".into(), Value::Array(extensions));
        }
        if !field.children.is_empty() {
            let inner = if field.field_type == FieldType::Repeat {
                Some(field.name.as_str())
            } else {
                repeat
            };
            let place = format!("{place}{}/", field.name);
            let children: Vec<Value> = field
                .children
                .iter()
                .map(|child| self.item(child, inner, &place))
                .collect();
            item.insert("item".into(), Value::Array(children));
        }
        Value::Object(item)
    }
}

/// A default with no exact FHIR form keeps its answer encoding as JSON text.
/// A choice filter with the members of `choice` written in as constants (a member the
/// choice lacks reads as `''`, as an unanswered value does).
fn bind_choice(expr: &hale_expr::Expr, choice: &Choice, language: &str) -> hale_expr::Expr {
    expr.rewrite(&|node| match node {
        hale_expr::Expr::Attribute { name } => Some(hale_expr::Expr::String {
            value: crate::validate::choice_member(choice, name, language).as_string(),
        }),
        _ => None,
    })
}

fn default_extension(default: Option<&Value>) -> Value {
    let text = default.map(Value::to_string).unwrap_or_default();
    json!({"url": hale("default"), "valueString": text})
}

/// The choice values a select default marks `initialSelected`, when that reads back exactly
/// (every value a choice, a multiple default in choice order without repeats).
fn initially_selected<'a>(
    field_type: FieldType,
    default: &'a Value,
    choices: &[Choice],
) -> Option<Vec<&'a str>> {
    let values: Vec<&str> = match (field_type, default) {
        (FieldType::SelectOne, Value::String(value)) => vec![value.as_str()],
        (FieldType::SelectMultiple, Value::Array(values)) if !values.is_empty() => values
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    let in_order: Vec<&str> = choices
        .iter()
        .map(|choice| choice.value.as_str())
        .filter(|value| values.contains(value))
        .collect();
    let unique = choices
        .iter()
        .all(|choice| choices.iter().filter(|c| c.value == choice.value).count() == 1);
    (unique && in_order == values).then_some(values)
}

/// The `initial` value of a non-select field, when one reads back exactly.
fn initial(field: &Field, kind: &str, default: &Value) -> Option<Value> {
    Some(match (field.field_type, default) {
        (FieldType::Integer, Value::Number(number)) if number.is_i64() => {
            json!({ "valueInteger": number })
        }
        (FieldType::Decimal | FieldType::Range, Value::Number(number)) if kind == "quantity" => {
            let mut quantity = json!({ "value": number });
            if let (Some(unit), Some(object)) = (&field.unit, quantity.as_object_mut()) {
                object.insert("system".into(), json!(UCUM));
                object.insert("code".into(), json!(unit));
            }
            json!({ "valueQuantity": quantity })
        }
        (FieldType::Decimal | FieldType::Range, Value::Object(quantity))
            if kind == "quantity" && quantity.len() == 2 =>
        {
            let value = quantity.get("value").filter(|value| value.is_number())?;
            let unit = quantity.get("unit").and_then(Value::as_str)?;
            json!({ "valueQuantity": {"value": value, "system": UCUM, "code": unit} })
        }
        (FieldType::Decimal | FieldType::Range, Value::Number(number)) => {
            json!({ "valueDecimal": number })
        }
        (FieldType::Text, Value::String(text)) => json!({ "valueString": text }),
        (FieldType::Date, Value::String(text)) => json!({ "valueDate": text }),
        (FieldType::Datetime, Value::String(text)) => json!({ "valueDateTime": text }),
        (FieldType::Time, Value::String(text)) if text.len() == 8 => json!({ "valueTime": text }),
        (FieldType::Boolean | FieldType::Acknowledge, Value::Bool(value)) => {
            json!({ "valueBoolean": value })
        }
        _ => return None,
    })
}

/// A `questionnaire-constraint` key: an `id`, so only letters, digits, `-` and `.`, at most 64.
fn constraint_key(name: &str) -> String {
    let key: String = name
        .chars()
        .map(|character| match character {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' => character,
            _ => '-',
        })
        .chain("-constraint".chars())
        .collect();
    key.chars()
        .skip(key.chars().count().saturating_sub(64))
        .collect()
}
