//! FHIR R4 Questionnaire → `AppDefinition`. Everything Hale cannot honour is refused with an
//! error naming the item's `linkId` and the construct; nothing is dropped silently except the
//! resource metadata and display-only members listed in [`IGNORED_MEMBERS`] and
//! [`super::DISPLAY_ONLY_ITEM_EXTENSIONS`].

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use super::relevance::from_enable_when;
use super::text::get_text;
use super::*;
use crate::definition::{AppDefinition, Choice, DefinitionError, Field, FieldType, Text};

/// Questionnaire members that describe the resource, not the form: accepted and not kept.
pub const IGNORED_MEMBERS: [&str; 20] = [
    "id",
    "meta",
    "implicitRules",
    "text",
    "url",
    "identifier",
    "name",
    "status",
    "experimental",
    "subjectType",
    "date",
    "publisher",
    "contact",
    "description",
    "useContext",
    "jurisdiction",
    "purpose",
    "copyright",
    "approvalDate",
    "lastReviewDate",
];

const UNSUPPORTED: &str = "fhir_unsupported";
const INVALID: &str = "fhir_invalid";

/// Reads a FHIR R4 Questionnaire into a definition, reporting every problem at once.
pub fn import(questionnaire: &Value) -> Result<AppDefinition, Vec<DefinitionError>> {
    let mut importer = Importer {
        errors: Vec::new(),
        types: HashMap::new(),
        language: String::from("en"),
        lists: BTreeMap::new(),
    };
    let definition = importer.resource(questionnaire);
    if importer.errors.is_empty()
        && let Some(definition) = definition
    {
        Ok(definition)
    } else {
        Err(importer.errors)
    }
}

struct Importer {
    errors: Vec<DefinitionError>,
    /// The Hale type of every item, by linkId, for reading `enableWhen`.
    types: HashMap<String, FieldType>,
    language: String,
    lists: BTreeMap<String, Vec<Choice>>,
}

fn error(path: &str, code: &'static str, message: String) -> DefinitionError {
    DefinitionError {
        path: path.to_owned(),
        code,
        message,
    }
}

fn string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// A `valueExpression` in Hale's language.
fn hale_expression(extension: &Value) -> Result<String, String> {
    let expression = extension
        .get("valueExpression")
        .ok_or_else(|| String::from("has no valueExpression"))?;
    let language = expression.get("language").and_then(Value::as_str);
    if language != Some(HALE_EXPRESSION_LANGUAGE) {
        return Err(format!(
            "uses expression language {}; Hale evaluates only '{HALE_EXPRESSION_LANGUAGE}'",
            language.unwrap_or("(none)")
        ));
    }
    if expression.as_object().is_some_and(|object| {
        object
            .keys()
            .any(|key| key != "language" && key != "expression")
    }) {
        return Err(String::from(
            "has Expression members other than language and expression",
        ));
    }
    expression
        .get("expression")
        .and_then(string)
        .ok_or_else(|| String::from("has no expression text"))
}

fn number(extension: &Value) -> Result<f64, String> {
    extension
        .get("valueInteger")
        .or_else(|| extension.get("valueDecimal"))
        .and_then(Value::as_f64)
        .ok_or_else(|| {
            String::from("needs a valueInteger or valueDecimal (Hale bounds are numbers)")
        })
}

fn ucum_code(coding: Option<&Value>) -> Result<String, String> {
    let coding = coding
        .and_then(Value::as_object)
        .ok_or_else(|| String::from("needs a valueCoding"))?;
    if coding
        .get("system")
        .is_some_and(|system| system.as_str() != Some(UCUM))
    {
        return Err(format!("unit is not in the UCUM system {UCUM}"));
    }
    coding
        .get("code")
        .and_then(string)
        .ok_or_else(|| String::from("unit has no code"))
}

/// The Hale type an item becomes.
fn hale_type(item: &Map<String, Value>) -> Result<FieldType, String> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| String::from("has no type"))?;
    let repeats = item.get("repeats") == Some(&Value::Bool(true));
    let extensions: Vec<&Value> = item
        .get("extension")
        .and_then(Value::as_array)
        .map(|list| list.iter().collect())
        .unwrap_or_default();
    let find = |url: &str| {
        extensions
            .iter()
            .filter(|extension| extension.get("url").and_then(Value::as_str) == Some(url))
            .copied()
            .collect::<Vec<_>>()
    };
    let declared = find(&hale("field-type")).first().map(|extension| {
        extension
            .get("valueCode")
            .and_then(Value::as_str)
            .unwrap_or("")
    });
    let calculated = !find(CALCULATED_EXPRESSION).is_empty();
    if repeats && !matches!(kind, "group" | "choice") {
        return Err(format!(
            "repeats on a '{kind}' item is not supported (only choice and group items repeat in Hale)"
        ));
    }
    let field_type = match (kind, declared) {
        (_, _) if calculated => match kind {
            "decimal" | "integer" | "string" | "boolean" | "date" | "dateTime" | "time" => {
                FieldType::Calculate
            }
            _ => {
                return Err(format!(
                    "a calculatedExpression on a '{kind}' item is not supported"
                ));
            }
        },
        ("group", None) if repeats => FieldType::Repeat,
        ("group", None) => FieldType::Group,
        ("display", None) => FieldType::Note,
        ("boolean", None) => FieldType::Boolean,
        ("boolean", Some("acknowledge")) => FieldType::Acknowledge,
        ("decimal" | "quantity", None) => FieldType::Decimal,
        ("decimal" | "quantity", Some("range")) => FieldType::Range,
        ("integer", None) => FieldType::Integer,
        ("date", None) => FieldType::Date,
        ("dateTime", None) => FieldType::Datetime,
        ("time", None) => FieldType::Time,
        ("string" | "text", None) => FieldType::Text,
        ("choice", None) if repeats => FieldType::SelectMultiple,
        ("choice", None) => FieldType::SelectOne,
        ("attachment", None) => {
            let mimes = find(MIME_TYPE);
            if mimes.is_empty() {
                FieldType::File
            } else if mimes
                .iter()
                .all(|mime| mime.get("valueCode").and_then(Value::as_str) == Some("image/*"))
            {
                FieldType::Photo
            } else {
                return Err(String::from(
                    "mimeType other than 'image/*' is not supported (Hale has file and photo attachments)",
                ));
            }
        }
        ("open-choice", _) => {
            return Err(String::from(
                "type 'open-choice' (free text besides the options) is not supported: Hale select fields take listed choices only; use a choice item and a separate string item",
            ));
        }
        (_, Some(declared)) => {
            return Err(format!(
                "Hale field type extension '{declared}' does not fit a '{kind}' item"
            ));
        }
        (other, None) => return Err(format!("item type '{other}' is not supported")),
    };
    Ok(field_type)
}

fn collect_types(items: &[Value], out: &mut HashMap<String, FieldType>) {
    for item in items {
        let Some(object) = item.as_object() else {
            continue;
        };
        if let (Some(link_id), Ok(field_type)) = (
            object.get("linkId").and_then(Value::as_str),
            hale_type(object),
        ) {
            out.insert(link_id.to_owned(), field_type);
        }
        if let Some(children) = object.get("item").and_then(Value::as_array) {
            collect_types(children, out);
        }
    }
}

impl Importer {
    fn resource(&mut self, questionnaire: &Value) -> Option<AppDefinition> {
        let Some(resource) = questionnaire.as_object() else {
            self.errors.push(error(
                "$",
                INVALID,
                String::from("a Questionnaire is a JSON object"),
            ));
            return None;
        };
        if resource.get("resourceType").and_then(Value::as_str) != Some("Questionnaire") {
            self.errors.push(error(
                "$.resourceType",
                INVALID,
                String::from("resourceType must be 'Questionnaire'"),
            ));
            return None;
        }
        if let Some(language) = resource.get("language") {
            match language.as_str() {
                Some(language) => language.clone_into(&mut self.language),
                None => self.errors.push(error(
                    "$.language",
                    INVALID,
                    String::from("language is not a code"),
                )),
            }
        }
        let mut app = AppDefinition::new("", Vec::new());
        app.default_language.clone_from(&self.language);
        match get_text(resource, "title", &self.language) {
            Ok(Some(title)) => app.title = title,
            Ok(None) => self.errors.push(error(
                "$.title",
                INVALID,
                String::from("the Questionnaire has no title, which a Hale app needs"),
            )),
            Err(message) => self.errors.push(error("$.title", INVALID, message)),
        }
        for (key, value) in resource {
            let path = format!("$.{key}");
            match key.as_str() {
                "resourceType" | "language" | "title" | "_title" | "item" => {}
                "version" => match value.as_str() {
                    Some(version) => app.version = Some(version.to_owned()),
                    None => self.errors.push(error(
                        &path,
                        INVALID,
                        String::from("version is not a string"),
                    )),
                },
                "extension" => self.app_extensions(value, &mut app),
                key if IGNORED_MEMBERS.contains(&key)
                    || key
                        .strip_prefix('_')
                        .is_some_and(|key| IGNORED_MEMBERS.contains(&key)) => {}
                other => self.errors.push(error(
                    &path,
                    UNSUPPORTED,
                    format!("Questionnaire member '{other}' is not supported by Hale"),
                )),
            }
        }
        app.choice_lists = self.lists.clone();
        let items = match resource.get("item") {
            None => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => {
                self.errors.push(error(
                    "$.item",
                    INVALID,
                    String::from("item is not an array"),
                ));
                Vec::new()
            }
        };
        collect_types(&items, &mut self.types);
        let mut seen = HashSet::new();
        app.fields = self.items(&items, "$", false, &mut seen);
        Some(app)
    }

    fn app_extensions(&mut self, value: &Value, app: &mut AppDefinition) {
        let Some(list) = value.as_array() else {
            self.errors.push(error(
                "$.extension",
                INVALID,
                String::from("extension is not an array"),
            ));
            return;
        };
        for (index, extension) in list.iter().enumerate() {
            let path = format!("$.extension[{index}]");
            let url = extension.get("url").and_then(Value::as_str).unwrap_or("");
            let value_string = extension.get("valueString").and_then(string);
            let fail = |errors: &mut Vec<DefinitionError>, message: String| {
                errors.push(error(&path, UNSUPPORTED, message));
            };
            match url.strip_prefix(HALE_EXTENSION_PREFIX) {
                Some("format") if value_string.is_some() => app.format = value_string,
                Some("schedule") if value_string.is_some() => app.schedule = value_string,
                Some("rate-limit-policy") if value_string.is_some() => {
                    app.rate_limit_policy = value_string;
                }
                Some("language") => match extension.get("valueCode").and_then(string) {
                    Some(code) => app.languages.push(code),
                    None => fail(
                        &mut self.errors,
                        String::from("Hale language extension has no valueCode"),
                    ),
                },
                Some("choice-list") => match self.choice_list(extension) {
                    Ok((name, choices)) => {
                        if self.lists.insert(name.clone(), choices).is_some() {
                            fail(
                                &mut self.errors,
                                format!("choice list '{name}' is given twice"),
                            );
                        }
                    }
                    Err(message) => fail(&mut self.errors, message),
                },
                Some("news2") => match news2(extension) {
                    Some(mapping) => app.news2 = Some(mapping),
                    None => fail(
                        &mut self.errors,
                        String::from("Hale news2 extension is malformed"),
                    ),
                },
                _ => fail(
                    &mut self.errors,
                    format!("Questionnaire extension '{url}' is not supported by Hale"),
                ),
            }
        }
    }

    fn choice_list(&self, extension: &Value) -> Result<(String, Vec<Choice>), String> {
        let parts = extension
            .get("extension")
            .and_then(Value::as_array)
            .ok_or_else(|| String::from("Hale choice-list extension has no parts"))?;
        let mut name = None;
        let mut choices = Vec::new();
        for part in parts {
            match part.get("url").and_then(Value::as_str) {
                Some("name") => name = part.get("valueString").and_then(string),
                Some("option") => choices.push(self.coding_choice(part.get("valueCoding"))?),
                _ => {
                    return Err(String::from(
                        "Hale choice-list extension has an unknown part",
                    ));
                }
            }
        }
        Ok((
            name.ok_or_else(|| String::from("Hale choice-list extension has no name"))?,
            choices,
        ))
    }

    fn coding_choice(&self, coding: Option<&Value>) -> Result<Choice, String> {
        let coding = coding
            .and_then(Value::as_object)
            .ok_or_else(|| String::from("an option needs a valueCoding or valueString"))?;
        if coding.contains_key("system") {
            return Err(String::from(
                "an option's valueCoding has a system: Hale choices are plain codes, so the system would be lost",
            ));
        }
        if let Some(other) = coding
            .keys()
            .find(|key| !matches!(key.as_str(), "code" | "display" | "_display" | "id"))
        {
            return Err(format!(
                "an option's valueCoding member '{other}' is not supported"
            ));
        }
        let value = coding
            .get("code")
            .and_then(string)
            .ok_or_else(|| String::from("an option's valueCoding has no code"))?;
        let label = get_text(coding, "display", &self.language)?
            .unwrap_or_else(|| Text::Plain(value.clone()));
        Ok(Choice { value, label })
    }

    fn items(
        &mut self,
        items: &[Value],
        prefix: &str,
        in_repeat: bool,
        seen: &mut HashSet<String>,
    ) -> Vec<Field> {
        let mut fields = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let path = format!("{prefix}.item[{index}]");
            if let Some(field) = self.item(item, &path, in_repeat, seen) {
                fields.push(field);
            }
        }
        fields
    }

    fn item(
        &mut self,
        item: &Value,
        path: &str,
        in_repeat: bool,
        seen: &mut HashSet<String>,
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
        let field_type = match hale_type(object) {
            Ok(field_type) => field_type,
            Err(message) => {
                fail(&mut self.errors, UNSUPPORTED, message);
                return None;
            }
        };
        let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
        let mut field = Field::new(link_id, field_type);
        if field_type == FieldType::Repeat && in_repeat {
            fail(
                &mut self.errors,
                UNSUPPORTED,
                String::from(
                    "a repeating group inside a repeating group (nested repeat) is not supported",
                ),
            );
        }
        if kind == "text" {
            field.appearance = Some(String::from("multiline"));
        }
        match get_text(object, "text", &self.language) {
            Ok(label) => field.label = label,
            Err(message) => fail(&mut self.errors, INVALID, message),
        }
        let mut options = None;
        let mut initial = None;
        let mut enable_when = None;
        for (key, value) in object {
            match key.as_str() {
                "linkId" | "type" | "text" | "_text" | "repeats" | "extension" | "id"
                | "prefix" | "_prefix" | "enableBehavior" => {}
                "required" => field.required = value == &Value::Bool(true),
                "readOnly"
                    if field_type == FieldType::Calculate || value == &Value::Bool(false) => {}
                "readOnly" => fail(
                    &mut self.errors,
                    UNSUPPORTED,
                    String::from("readOnly is only supported on calculated items"),
                ),
                "code" => match loinc(value) {
                    Ok(code) => field.code = Some(code),
                    Err(message) => fail(&mut self.errors, UNSUPPORTED, message),
                },
                "enableWhen" => enable_when = Some(value),
                "answerOption" if field_type.is_select() => options = Some(value),
                "initial" => initial = Some(value),
                "item" if field_type.is_container() => {}
                "item" => fail(
                    &mut self.errors,
                    UNSUPPORTED,
                    String::from(
                        "items nested under a question are not supported (only groups hold items)",
                    ),
                ),
                "answerValueSet" => fail(
                    &mut self.errors,
                    UNSUPPORTED,
                    String::from(
                        "answerValueSet references are not supported: list the options inline as answerOption",
                    ),
                ),
                other => fail(
                    &mut self.errors,
                    UNSUPPORTED,
                    format!("member '{other}' is not supported by Hale"),
                ),
            }
        }
        let mut default_text = None;
        let mut unit_options = Vec::new();
        if let Some(extensions) = object.get("extension") {
            let Some(extensions) = extensions.as_array() else {
                fail(
                    &mut self.errors,
                    INVALID,
                    String::from("extension is not an array"),
                );
                return None;
            };
            for extension in extensions {
                if let Err(message) = self.item_extension(
                    extension,
                    kind,
                    &mut field,
                    &mut default_text,
                    &mut unit_options,
                ) {
                    fail(&mut self.errors, UNSUPPORTED, message);
                }
            }
        }
        if kind == "quantity" {
            field.accepted_units = unit_options
                .into_iter()
                .filter(|unit| Some(unit) != field.unit.as_ref())
                .collect();
        }
        if let Some(conditions) = enable_when {
            let behavior = object.get("enableBehavior").and_then(Value::as_str);
            let result = conditions
                .as_array()
                .ok_or_else(|| String::from("enableWhen is not an array"))
                .and_then(|conditions| from_enable_when(conditions, behavior, &self.types));
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
        if let Some(options) = options
            && let Err(message) = self.options(options, &mut field)
        {
            fail(&mut self.errors, UNSUPPORTED, message);
        }
        if field.choice_list.is_some() && options.is_none() {
            fail(
                &mut self.errors,
                INVALID,
                String::from("names a choice list but lists no answerOption"),
            );
        }
        if let Some(initial) = initial {
            if field.default.is_some() {
                fail(
                    &mut self.errors,
                    INVALID,
                    String::from("has both initial and a Hale default"),
                );
            }
            match initial_value(initial, &field) {
                Ok(value) => field.default = Some(value),
                Err(message) => fail(&mut self.errors, UNSUPPORTED, message),
            }
        }
        if let Some(children) = object.get("item") {
            match children.as_array() {
                Some(children) if field_type.is_container() => {
                    let inner = in_repeat || field_type == FieldType::Repeat;
                    field.children = self.items(children, path, inner, seen);
                }
                Some(_) => {}
                None => fail(
                    &mut self.errors,
                    INVALID,
                    String::from("item is not an array"),
                ),
            }
        }
        (self.errors.len() == before).then_some(field)
    }
}

mod item;
use item::{initial_value, loinc, news2};
