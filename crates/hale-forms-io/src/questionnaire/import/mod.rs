//! FHIR R4 Questionnaire → `AppDefinition`. Everything Hale cannot honour is refused with an
//! error naming the item's `linkId` and the construct; nothing is dropped silently except the
//! resource metadata and display-only members listed in [`IGNORED_MEMBERS`] and
//! [`super::DISPLAY_ONLY_ITEM_EXTENSIONS`].

use std::collections::{BTreeMap, HashMap, HashSet};

use hale_expr::Expr;
use serde_json::{Map, Value};

use super::fhirpath::{Scope, translate};
use super::names::Names;
use super::relevance::Question;
use super::text::get_text;
use super::*;
use crate::definition::{
    AppDefinition, Choice, ChoiceType, Coding, DefinitionError, Field, FieldType, Text,
};
use crate::lint::{LintIssue, Severity};

/// Questionnaire members that describe the resource, not the form: accepted and not kept.
pub const IGNORED_MEMBERS: [&str; 22] = [
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
    "derivedFrom",
    "effectivePeriod",
];

const UNSUPPORTED: &str = "fhir_unsupported";
/// The title of an app read from a Questionnaire with nothing to title it by.
pub const UNTITLED: &str = "Untitled Questionnaire";
const INVALID: &str = "fhir_invalid";
/// Deepest item nesting read.
pub const MAX_ITEM_DEPTH: usize = 32;

/// A definition read from a Questionnaire, with info notes on what Hale derived or dropped on
/// purpose (a title made from the name, display-only extensions not kept), each naming the
/// item's linkId.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    pub definition: AppDefinition,
    pub notes: Vec<LintIssue>,
}

/// Reads a FHIR R4 Questionnaire into a definition, reporting every problem at once.
pub fn import(questionnaire: &Value) -> Result<AppDefinition, Vec<DefinitionError>> {
    import_with_notes(questionnaire).map(|imported| imported.definition)
}

/// [`import`], with the info notes.
pub fn import_with_notes(questionnaire: &Value) -> Result<Imported, Vec<DefinitionError>> {
    let mut importer = Importer {
        errors: Vec::new(),
        notes: Vec::new(),
        questions: HashMap::new(),
        scores: HashMap::new(),
        variables: Vec::new(),
        language: String::from("en"),
        lists: BTreeMap::new(),
        files: BTreeMap::new(),
        list_answers: HashMap::new(),
    };
    let definition = importer.resource(questionnaire);
    if importer.errors.is_empty()
        && let Some(definition) = definition
    {
        let mut notes = importer.notes;
        for note in &mut notes {
            note.link_id = link_id_at(questionnaire, &note.path);
        }
        Ok(Imported { definition, notes })
    } else {
        Err(importer.errors)
    }
}

/// The linkId of the innermost item a Questionnaire path (`$.item[2].item[0].text`) is in.
fn link_id_at(questionnaire: &Value, path: &str) -> Option<String> {
    let mut node = questionnaire;
    let mut link_id = None;
    let mut rest = path.strip_prefix('$')?;
    while let Some(after) = rest.strip_prefix(".item[") {
        let (index, tail) = after.split_once(']')?;
        node = node.get("item")?.get(index.parse::<usize>().ok()?)?;
        link_id = node
            .get("linkId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        rest = tail;
    }
    link_id
}

struct Importer {
    errors: Vec<DefinitionError>,
    notes: Vec<LintIssue>,
    /// Every item by linkId: its field name, Hale type and choices.
    questions: HashMap<String, Question>,
    /// Choice scores by linkId, for FHIRPath score look-ups.
    scores: HashMap<String, Vec<(String, f64)>>,
    /// FHIRPath variables in scope, innermost last, already translated.
    variables: Vec<(String, Expr)>,
    language: String,
    lists: BTreeMap<String, Vec<Choice>>,
    /// The data files attached to the version, by file name.
    files: BTreeMap<String, Vec<Choice>>,
    /// The field name of each list question's question field, by linkId.
    list_answers: HashMap<String, String>,
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

/// The item's extensions with `url`.
fn extensions_named<'a>(item: &'a Map<String, Value>, url: &str) -> Vec<&'a Value> {
    item.get("extension")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|extension| extension.get("url").and_then(Value::as_str) == Some(url))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether an expression extension is in Hale's own language.
fn is_hale_expression(extension: &Value) -> bool {
    extension
        .get("valueExpression")
        .and_then(|expression| expression.get("language"))
        .and_then(Value::as_str)
        == Some(HALE_EXPRESSION_LANGUAGE)
}

/// Whether the item takes several answers: `repeats`, or the `questionnaire-answerRepeats`
/// extension on a question.
fn repeats(item: &Map<String, Value>) -> bool {
    item.get("repeats") == Some(&Value::Bool(true))
        || extensions_named(item, ANSWER_REPEATS)
            .iter()
            .any(|extension| extension.get("valueBoolean") == Some(&Value::Bool(true)))
}

/// The field name Hale gave the item, when its linkId is not the name (a name several fields
/// share), from its own extension.
fn own_name(item: &Map<String, Value>) -> Option<String> {
    extensions_named(item, &hale("name"))
        .first()
        .and_then(|extension| extension.get("valueString"))
        .and_then(string)
        .filter(|name| crate::definition::is_valid_name(name) && name != "meta")
}

/// The field name Hale gave a list question's question, from its own extension.
fn answer_name(item: &Map<String, Value>) -> Option<String> {
    extensions_named(item, &hale("answer-name"))
        .first()
        .and_then(|extension| extension.get("valueString"))
        .and_then(string)
        .filter(|name| crate::definition::is_valid_name(name))
}

/// Whether the item is a question answered as a list (`repeats` on a question whose answers
/// are not choices): a Hale repeat marked `answer_list`, its question the first child.
pub(super) fn is_answer_list(item: &Map<String, Value>) -> bool {
    let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
    repeats(item)
        && !item.contains_key("answerOption")
        && !matches!(kind, "group" | "display" | "choice" | "open-choice")
}

/// The Hale type an item becomes, with what its choices are when not codes. A question
/// answered as a list ([`is_answer_list`]) gets the type of its question.
fn hale_type(item: &Map<String, Value>) -> Result<(FieldType, Option<ChoiceType>), String> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| String::from("has no type"))?;
    let repeats = repeats(item) && !is_answer_list(item);
    let declared = extensions_named(item, &hale("field-type"))
        .first()
        .map(|extension| {
            extension
                .get("valueCode")
                .and_then(Value::as_str)
                .unwrap_or("")
        });
    // Hale's choices from a repeat's answers list no option: the named field's rows give them;
    // nor does a choice from a data file not attached yet.
    let from_rows = kind == "choice"
        && ["choices-from", "choice-file"]
            .iter()
            .any(|name| !extensions_named(item, &hale(name)).is_empty());
    let options = item.contains_key("answerOption") || from_rows;
    let select = if repeats {
        FieldType::SelectMultiple
    } else {
        FieldType::SelectOne
    };
    // Hale's own calculate field says so; a FHIR item with a calculation keeps its type.
    if declared == Some("calculate") && kind == "decimal" {
        return Ok((FieldType::Calculate, None));
    }
    // A ranking is a repeating choice marked by Hale's field type (FHIR has no ordering item).
    if options && declared == Some("rank") && kind == "choice" && repeats {
        return Ok((FieldType::Rank, None));
    }
    if options {
        let choice_type = match kind {
            "choice" | "open-choice" => None,
            "string" => Some(ChoiceType::String),
            "integer" => Some(ChoiceType::Integer),
            "date" => Some(ChoiceType::Date),
            "time" => Some(ChoiceType::Time),
            other => return Err(format!("answerOption on a '{other}' item is not supported")),
        };
        return Ok((select, choice_type));
    }
    let field_type = match (kind, declared) {
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
        ("choice" | "open-choice", None) => return Err(no_options(item)),
        ("string", Some("geopoint")) => FieldType::Geopoint,
        ("string", Some("geotrace")) => FieldType::Geotrace,
        ("string", Some("geoshape")) => FieldType::Geoshape,
        ("string", Some("barcode")) => FieldType::Barcode,
        ("attachment", None) => {
            let mimes: Vec<&str> = extensions_named(item, MIME_TYPE)
                .iter()
                .map(|mime| mime.get("valueCode").and_then(Value::as_str).unwrap_or(""))
                .collect();
            let all = |wanted: &str| mimes.iter().all(|mime| *mime == wanted);
            if mimes.is_empty() {
                FieldType::File
            } else if all("image/*") {
                FieldType::Photo
            } else if all("audio/*") {
                FieldType::Audio
            } else if all("video/*") {
                FieldType::Video
            } else {
                return Err(String::from(
                    "mimeType other than one of 'image/*', 'audio/*' or 'video/*' is not supported (Hale has file, photo, audio and video attachments)",
                ));
            }
        }
        (_, Some(declared)) => {
            return Err(format!(
                "Hale field type extension '{declared}' does not fit a '{kind}' item"
            ));
        }
        (other, None) => return Err(format!("item type '{other}' is not supported")),
    };
    Ok((field_type, None))
}

/// Why an item has no options Hale can offer: a value set it cannot read, or none at all.
pub(super) fn no_options(item: &Map<String, Value>) -> String {
    let named = item.get("answerValueSet").and_then(Value::as_str);
    if named.is_some_and(|name| name.starts_with('#')) {
        String::from(
            "answerValueSet names no ValueSet the Questionnaire contains with codes Hale can read",
        )
    } else if named.is_some() {
        String::from(
            "answerValueSet by canonical URL is not supported (expanding it needs a terminology server): list the options as answerOption or in a contained ValueSet",
        )
    } else if !extensions_named(item, ANSWER_EXPRESSION).is_empty() {
        String::from("answerExpression (options computed at run time) is not supported")
    } else if item.contains_key("option") {
        String::from(
            "lists its options in 'option', the FHIR STU3 name; R4 names them answerOption",
        )
    } else {
        String::from("a choice item without answerOption has nothing to choose from")
    }
}

/// A free string option's choice value: the string, with white space as `_`.
pub(super) fn option_value(text: &str) -> String {
    let value: Vec<&str> = text.split_whitespace().collect();
    if value.is_empty() {
        String::from("_")
    } else {
        value.join("_")
    }
}

/// A choice's value and default-language text, read loosely, for enableWhen.
fn option_summary(option: &Value) -> Option<(String, String, Option<f64>)> {
    let object = option.as_object()?;
    let score = object
        .get("extension")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter().find(|extension| {
                matches!(
                    extension.get("url").and_then(Value::as_str),
                    Some(ORDINAL_VALUE | ITEM_WEIGHT)
                )
            })
        })
        .and_then(|extension| {
            extension
                .get("valueDecimal")
                .or_else(|| extension.get("valueInteger"))
        })
        .and_then(Value::as_f64);
    if let Some(coding) = object.get("valueCoding") {
        let code = coding.get("code")?.as_str()?.to_owned();
        let display = coding
            .get("display")
            .and_then(Value::as_str)
            .unwrap_or(&code)
            .to_owned();
        return Some((code, display, score));
    }
    let text = match object
        .get("valueString")
        .or_else(|| object.get("valueDate"))
        .or_else(|| object.get("valueTime"))
        .or_else(|| object.get("valueInteger"))?
    {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return None,
    };
    let value = if object.contains_key("valueString") {
        option_value(&text)
    } else {
        text.clone()
    };
    Some((value, text, score))
}

impl Importer {
    /// A select's choices when they are named rather than its own: its list's, or its data
    /// file's rows (none while the file is not attached).
    fn named_choices(&self, field: &Field) -> Option<&[Choice]> {
        let named = match (&field.choice_list, &field.choice_file) {
            (Some(list), _) => self.lists.get(list),
            (None, Some(file)) => self.files.get(file),
            (None, None) => return None,
        };
        Some(named.map(Vec::as_slice).unwrap_or_default())
    }

    /// First pass: every item's name, type and choices, so that references can be read in
    /// any order.
    fn survey(&mut self, items: &[Value], names: &mut Names, depth: usize) {
        if depth > MAX_ITEM_DEPTH {
            return;
        }
        for item in items {
            let Some(object) = item.as_object() else {
                continue;
            };
            let Some(link_id) = object.get("linkId").and_then(Value::as_str) else {
                continue;
            };
            if let Ok((field_type, choice_type)) = hale_type(object) {
                let summaries: Vec<(String, String, Option<f64>)> = object
                    .get("answerOption")
                    .and_then(Value::as_array)
                    .map(|options| options.iter().filter_map(option_summary).collect())
                    .unwrap_or_default();
                let scores: Vec<(String, f64)> = summaries
                    .iter()
                    .filter_map(|(value, _, score)| score.map(|score| (value.clone(), score)))
                    .collect();
                if !scores.is_empty() {
                    self.scores.insert(link_id.to_owned(), scores);
                }
                let name = own_name(object).unwrap_or_else(|| names.name_for(link_id));
                // What reads a list question's answers reads its rows.
                let field_type = if is_answer_list(object) {
                    let answer = answer_name(object)
                        .unwrap_or_else(|| names.fresh(&format!("{name}_answer")));
                    self.list_answers.insert(link_id.to_owned(), answer);
                    FieldType::Repeat
                } else {
                    field_type
                };
                let question = Question {
                    name,
                    field_type,
                    choice_type,
                    choices: summaries
                        .into_iter()
                        .map(|(value, label, _)| (value, label))
                        .collect(),
                };
                self.questions.entry(link_id.to_owned()).or_insert(question);
            }
            if let Some(children) = object.get("item").and_then(Value::as_array) {
                self.survey(children, names, depth + 1);
            }
        }
    }

    fn note(&mut self, path: &str, code: &'static str, message: String) {
        self.notes
            .push(LintIssue::new(Severity::Info, path, code, message));
    }

    /// Notes display-only rendering extensions on the texts of `object` (`_text`, `_prefix`,
    /// `_valueString`, …), which are dropped.
    fn note_rendering(&mut self, object: &Map<String, Value>, path: &str, link_id: &str) {
        for (key, value) in object {
            let Some(member) = key.strip_prefix('_') else {
                continue;
            };
            let dropped: Vec<&str> = value
                .get("extension")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|extension| extension.get("url").and_then(Value::as_str))
                        .filter(|url| DISPLAY_ONLY_TEXT_EXTENSIONS.contains(url))
                        .collect()
                })
                .unwrap_or_default();
            for url in dropped {
                let short = url.rsplit('/').next().unwrap_or(url);
                self.note(
                    path,
                    "fhir_display_dropped",
                    format!("item '{link_id}': {short} on '{member}' is display-only and not kept; the plain text is"),
                );
            }
        }
    }

    /// A FHIRPath or Hale expression extension as Hale source.
    fn expression_source(&self, extension: &Value, what: &str) -> Result<String, String> {
        if is_hale_expression(extension) {
            return hale_expression(extension).map_err(|message| format!("{what} {message}"));
        }
        let expression = extension
            .get("valueExpression")
            .ok_or_else(|| format!("{what} has no valueExpression"))?;
        match expression.get("language").and_then(Value::as_str) {
            Some(FHIRPATH) => {}
            Some("application/x-fhir-query") => {
                return Err(format!(
                    "{what} is an x-fhir-query, which reads a FHIR server: not supported"
                ));
            }
            other => {
                return Err(format!(
                    "{what} uses expression language {}; Hale reads FHIRPath and '{HALE_EXPRESSION_LANGUAGE}'",
                    other.unwrap_or("(none)")
                ));
            }
        }
        let source = expression
            .get("expression")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{what} has no expression text"))?;
        let scope = Scope {
            questions: &self.questions,
            variables: &self.variables,
            scores: &self.scores,
        };
        translate(source, &scope)
            .map(|expr| expr.to_string())
            .map_err(|message| format!("{what}: {message}"))
    }

    /// Reads `variable` extensions into scope, in order (each may use the ones before), and
    /// named FHIRPath `calculatedExpression`s, which SDC lets the item's descendants read by
    /// their name as well.
    fn read_variables(&mut self, object: &Map<String, Value>) -> Result<(), String> {
        let named: Vec<&Value> = object
            .get("extension")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(
                |extension| match extension.get("url").and_then(Value::as_str) {
                    Some(VARIABLE) => true,
                    Some(CALCULATED_EXPRESSION) => {
                        !is_hale_expression(extension)
                            && extension
                                .get("valueExpression")
                                .is_some_and(|expression| expression.get("name").is_some())
                    }
                    _ => false,
                },
            )
            .collect();
        for extension in named {
            let name = extension
                .get("valueExpression")
                .and_then(|expression| expression.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| String::from("a variable has no name"))?
                .to_owned();
            let language = extension
                .get("valueExpression")
                .and_then(|expression| expression.get("language"))
                .and_then(Value::as_str);
            if language == Some(HALE_EXPRESSION_LANGUAGE) {
                return Err(format!(
                    "variable '{name}' is in Hale's language, where fields are named directly"
                ));
            }
            let source = self.expression_source(extension, &format!("variable '{name}'"))?;
            let expr = hale_expr::parse(&source)
                .map_err(|_| format!("variable '{name}' does not translate"))?;
            self.variables.push((name, expr));
        }
        Ok(())
    }

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
            Ok(None) => {
                let derived = ["name", "id", "url"].into_iter().find_map(|member| {
                    let text = resource.get(member)?.as_str()?;
                    let text = if member == "url" {
                        text.trim_end_matches('/').rsplit('/').next()?
                    } else {
                        text
                    };
                    (!text.trim().is_empty()).then(|| (member, text.to_owned()))
                });
                match derived {
                    Some((member, title)) => {
                        self.note(
                            "$.title",
                            "fhir_title_derived",
                            format!(
                                "the Questionnaire has no title: the app is titled by its {member}"
                            ),
                        );
                        app.title = Text::Plain(title);
                    }
                    None => {
                        self.note(
                            "$.title",
                            "fhir_title_derived",
                            format!("the Questionnaire has no title, name, id or url: the app is titled '{UNTITLED}'"),
                        );
                        app.title = Text::Plain(String::from(UNTITLED));
                    }
                }
            }
            Err(message) => self.errors.push(error("$.title", INVALID, message)),
        }
        self.note_rendering(resource, "$", "(Questionnaire)");
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
        let mut items = items;
        if let Some(contained) = resource.get("contained") {
            let sets = self.contained(contained);
            if let Err(too_many) = sets.inline_all(&mut items) {
                self.errors.push(too_many);
                return None;
            }
        }
        let mut names = Names::default();
        reserve_names(&items, &mut names, 0);
        self.survey(&items, &mut names, 0);
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
                "code" => match codings(value) {
                    Ok((codes, uncoded)) => {
                        app.codes = codes;
                        if uncoded > 0 {
                            self.note(
                                &path,
                                "fhir_code_dropped",
                                String::from("a code with no code (a display alone) names no concept and is not kept"),
                            );
                        }
                    }
                    Err(message) => self.errors.push(error(&path, UNSUPPORTED, message)),
                },
                "extension" => self.app_extensions(value, &mut app),
                "contained" => {} // read before the items
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
        app.data_files = self.files.clone();
        let mut seen = HashSet::new();
        app.fields = self.items(&items, "$", &mut seen, 0);
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
            let named = extension
                .get("valueExpression")
                .is_some_and(|expression| expression.get("name").is_some());
            if url == CALCULATED_EXPRESSION && named {
                // A calculation on the Questionnaire fills no item; its name is all it gives.
                self.note(
                    &path,
                    "fhir_named_expression",
                    String::from("a named calculatedExpression on the Questionnaire is read as a variable of that name"),
                );
            }
            if url == VARIABLE || (url == CALCULATED_EXPRESSION && named) {
                let mut one = Map::new();
                one.insert("extension".into(), Value::Array(vec![extension.clone()]));
                if let Err(message) = self.read_variables(&one) {
                    fail(&mut self.errors, message);
                }
                continue;
            }
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
                Some(kind @ ("choice-list" | "data-file")) => match self.choice_list(extension) {
                    Ok((name, choices)) => {
                        let (lists, what) = match kind {
                            "choice-list" => (&mut self.lists, "choice list"),
                            _ => (&mut self.files, "data file"),
                        };
                        if lists.insert(name.clone(), choices).is_some() {
                            fail(&mut self.errors, format!("{what} '{name}' is given twice"));
                        }
                    }
                    Err(message) => fail(&mut self.errors, message),
                },
                Some("media-file") => match media_file(extension) {
                    Some((name, file)) => {
                        if app.media_files.insert(name.clone(), file).is_some() {
                            fail(
                                &mut self.errors,
                                format!("media file '{name}' is given twice"),
                            );
                        }
                    }
                    None => fail(
                        &mut self.errors,
                        String::from(
                            "Hale media-file extension needs a name, media-type, size and sha256",
                        ),
                    ),
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

    fn items(
        &mut self,
        items: &[Value],
        prefix: &str,
        seen: &mut HashSet<String>,
        depth: usize,
    ) -> Vec<Field> {
        if depth > MAX_ITEM_DEPTH {
            self.errors.push(error(
                prefix,
                UNSUPPORTED,
                format!("items nest deeper than {MAX_ITEM_DEPTH} levels"),
            ));
            return Vec::new();
        }
        let mut fields = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let path = format!("{prefix}.item[{index}]");
            if let Some(field) = self.item(item, &path, seen, depth) {
                fields.push(field);
            }
        }
        fields
    }
}

fn reserve_names(items: &[Value], names: &mut Names, depth: usize) {
    if depth > MAX_ITEM_DEPTH {
        return;
    }
    for item in items {
        if let Some(link_id) = item.get("linkId").and_then(Value::as_str) {
            names.reserve(link_id);
        }
        if let Some(answer) = item.as_object().and_then(answer_name) {
            names.reserve(&answer);
        }
        if let Some(own) = item.as_object().and_then(own_name) {
            names.reserve(&own);
        }
        if let Some(children) = item.get("item").and_then(Value::as_array) {
            reserve_names(children, names, depth + 1);
        }
    }
}

/// A `code` member: a list of Codings, with how many had no code (a display alone names no
/// concept, so those are not kept).
pub(super) fn codings(value: &Value) -> Result<(Vec<Coding>, usize), String> {
    let list = value
        .as_array()
        .ok_or_else(|| String::from("code is not an array"))?;
    let coded: Vec<&Value> = list
        .iter()
        .filter(|coding| coding.get("code").is_some())
        .collect();
    let uncoded = list.len() - coded.len();
    coded
        .into_iter()
        .map(|coding| {
            let object = coding
                .as_object()
                .ok_or_else(|| String::from("code is not a Coding"))?;
            if let Some(other) = object.keys().find(|key| {
                !matches!(
                    key.as_str(),
                    "system" | "code" | "display" | "id" | "version" | "_display"
                )
            }) {
                return Err(format!("code member '{other}' is not supported"));
            }
            Ok(Coding {
                system: object.get("system").and_then(string),
                code: object
                    .get("code")
                    .and_then(string)
                    .filter(|code| !code.is_empty())
                    .ok_or_else(|| String::from("a code has no code"))?,
                display: object.get("display").and_then(string),
            })
        })
        .collect::<Result<Vec<Coding>, String>>()
        .map(|codes| (codes, uncoded))
}

mod choices;
mod field;
mod item;
mod toggle;
mod value_set;
use item::{media_file, news2};
