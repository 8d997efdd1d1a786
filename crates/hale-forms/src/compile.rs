//! Compiling a definition: every check at once, every expression parsed once into the tree that
//! the server and the browser both evaluate, and the evaluation order from the dependency graph.

use std::collections::{BTreeMap, HashMap, HashSet};

use hale_expr::Expr;
use serde::{Deserialize, Serialize};

use crate::answer::read_answer;
use crate::definition::{
    AppDefinition, Choice, ChoiceType, DATA_FILE_NAME_MESSAGE, DefinitionError, FORMAT, Field,
    FieldType, MEDIA_FILE_NAME_MESSAGE, News2Mapping, Prefill, Text, definition_error as error,
    is_data_file_name, is_valid_name, media_type_of,
};
use crate::graph::{Graph, find_cycles};

/// Most fields (counting those inside groups and repeats) an app may have.
pub const MAX_FIELDS: usize = 500;

/// One field after compilation: choices resolved, expressions parsed, position in the tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledField {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Index (in [`CompiledForm::fields`]) of the enclosing group or repeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<usize>,
    /// Index of the enclosing repeat, when the field is answered once per row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Text>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_message: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant: Option<Expr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<Expr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint_message: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calculation: Option<Expr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trigger: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_filter: Option<Expr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appearance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_units: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_count: Option<Expr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_if: Option<Expr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_if: Option<Expr>,
    /// Read-only: given, or implied by a calculation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_expression: Option<Expr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance_hint: Option<Text>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub media: BTreeMap<String, Text>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill: Option<Prefill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Text>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// A select that also takes a free-text answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_type: Option<ChoiceType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

/// A definition that passed every check, ready to validate submissions. Serialised as JSON for
/// storage and for the browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompiledForm {
    pub format: String,
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub default_language: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub news2: Option<News2Mapping>,
    /// The data files attached to the version, which `pulldata()` reads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data_files: BTreeMap<String, Vec<Choice>>,
    /// Every field, depth first in document order.
    pub fields: Vec<CompiledField>,
    /// Indices into `fields`, dependencies before dependants: the order in which relevance
    /// and calculations are evaluated.
    pub order: Vec<usize>,
}

impl CompiledForm {
    /// The index of the field called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|field| field.name == name)
    }
}

impl AppDefinition {
    /// Checks the whole definition and reports every problem at once.
    pub fn compile(&self) -> Result<CompiledForm, Vec<DefinitionError>> {
        let mut errors = Vec::new();
        check_app(self, &mut errors);
        let mut flat = Vec::new();
        let mut paths = Vec::new();
        flatten(&self.fields, "$.fields", None, None, &mut flat, &mut paths);
        if flat.len() > MAX_FIELDS {
            errors.push(error(
                "$.fields",
                "too_many_fields",
                &format!("an app has at most {MAX_FIELDS} fields"),
            ));
        }
        let mut compiled = Vec::with_capacity(flat.len());
        // One name may serve fields of different groups and repeats, as in XLSForm, but not
        // two fields of one group, nor two answers of one object: a level (the top, or a
        // repeat's row) keys its answers by name, and a group does not separate them.
        let mut siblings = HashSet::new();
        let mut answers = HashSet::new();
        for ((field, parent, repeat), path) in flat.iter().zip(&paths) {
            if !is_valid_name(&field.name) {
                errors.push(error(
                    &format!("{path}.name"),
                    "invalid_name",
                    "a field name starts with a letter or '_' and has only letters, digits, '_', '-' and '.' (at most 64)",
                ));
            } else if !siblings.insert((*parent, field.name.as_str())) {
                errors.push(error(
                    &format!("{path}.name"),
                    "duplicate_name",
                    &format!("field name '{}' is used twice", field.name),
                ));
            } else if field.field_type != FieldType::Group
                && !answers.insert((*repeat, field.name.as_str()))
            {
                errors.push(error(
                    &format!("{path}.name"),
                    "duplicate_name",
                    &format!(
                        "field name '{}' is answered twice in one level: fields of different groups share their level's answers (only a repeat separates them)",
                        field.name
                    ),
                ));
            }
            crate::checks::check_field(field, path, self, &mut errors);
            compiled.push(compile_field(
                field,
                *parent,
                *repeat,
                path,
                self,
                &mut errors,
            ));
        }
        let order = check_references(&compiled, &paths, &mut errors);
        crate::checks::check_news2(self.news2.as_ref(), &compiled, &mut errors);
        for (index, (field, path)) in compiled.iter().zip(&paths).enumerate() {
            if let Some(default) = &field.default {
                if field.field_type == FieldType::Repeat {
                    // The rows offered when the form opens, each in the answer encoding.
                    if !rows_fit(&compiled, index, default) {
                        errors.push(error(
                            &format!("{path}.default"),
                            "invalid_default",
                            "a repeat's default is a list of rows, each naming fields of the repeat with valid answers",
                        ));
                    }
                } else if !field.field_type.is_answered() {
                    errors.push(error(
                        &format!("{path}.default"),
                        "default_not_allowed",
                        "only answered fields take a default",
                    ));
                } else if read_answer(field, default).is_err() {
                    errors.push(error(
                        &format!("{path}.default"),
                        "invalid_default",
                        "the default is not a valid answer for this field",
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(CompiledForm {
            format: FORMAT.to_owned(),
            title: self.title.clone(),
            version: self.version.clone(),
            default_language: self.default_language.clone(),
            languages: self.languages.clone(),
            schedule: self.schedule.clone(),
            rate_limit_policy: self.rate_limit_policy.clone(),
            news2: self.news2.clone(),
            data_files: self.data_files.clone(),
            fields: compiled,
            order,
        })
    }
}

/// Whether `default` is rows of repeat `repeat`: objects whose members are answered fields of
/// the repeat, each with a valid answer.
fn rows_fit(fields: &[CompiledField], repeat: usize, default: &serde_json::Value) -> bool {
    let Some(rows) = default.as_array() else {
        return false;
    };
    rows.iter().all(|row| {
        row.as_object().is_some_and(|row| {
            row.iter().all(|(name, value)| {
                fields.iter().any(|field| {
                    field.repeat == Some(repeat)
                        && &field.name == name
                        && field.field_type.is_answered()
                        && field.field_type != FieldType::Repeat
                        && read_answer(field, value).is_ok()
                })
            })
        })
    })
}

fn check_app(app: &AppDefinition, errors: &mut Vec<DefinitionError>) {
    if app.format.as_deref().is_some_and(|format| format != FORMAT) {
        errors.push(error(
            "$.format",
            "unknown_format",
            &format!("this engine reads '{FORMAT}'"),
        ));
    }
    if app.default_language.trim().is_empty() {
        errors.push(error(
            "$.default_language",
            "invalid_language",
            "the default language is a language tag such as 'en'",
        ));
    }
    for (name, choices) in &app.choice_lists {
        let path = format!("$.choice_lists.{name}");
        if !is_valid_name(name) {
            errors.push(error(
                &path,
                "invalid_name",
                "a choice list name is a plain name like a field's",
            ));
        }
        crate::checks::check_choices(choices, &path, errors);
    }
    for (name, rows) in &app.data_files {
        let path = format!("$.data_files.{name}");
        if !is_data_file_name(name) {
            errors.push(error(&path, "invalid_data_file", DATA_FILE_NAME_MESSAGE));
        }
        crate::checks::check_choices(rows, &path, errors);
    }
    for (name, file) in &app.media_files {
        let path = format!("$.media_files.{name}");
        let digest = file.sha256.len() == 64
            && file
                .sha256
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
        match media_type_of(name) {
            None => errors.push(error(&path, "invalid_media_file", MEDIA_FILE_NAME_MESSAGE)),
            Some(media_type) if media_type != file.media_type || !digest => errors.push(error(
                &path,
                "invalid_media_file",
                "a media file is described by the media type its name gives and the SHA-256 of its bytes in lowercase hex",
            )),
            Some(_) => {}
        }
    }
}

type FlatField<'a> = (&'a Field, Option<usize>, Option<usize>);

fn flatten<'a>(
    fields: &'a [Field],
    prefix: &str,
    parent: Option<usize>,
    repeat: Option<usize>,
    out: &mut Vec<FlatField<'a>>,
    paths: &mut Vec<String>,
) {
    for (position, field) in fields.iter().enumerate() {
        let index = out.len();
        let path = format!("{prefix}[{position}]");
        out.push((field, parent, repeat));
        paths.push(path.clone());
        let inner_repeat = if field.field_type == FieldType::Repeat {
            Some(index)
        } else {
            repeat
        };
        flatten(
            &field.children,
            &format!("{path}.children"),
            Some(index),
            inner_repeat,
            out,
            paths,
        );
    }
}

fn parse_expression(
    source: Option<&String>,
    path: &str,
    member: &str,
    errors: &mut Vec<DefinitionError>,
) -> Option<Expr> {
    parse_with(hale_expr::parse, source, path, member, errors)
}

fn parse_choice_filter(
    source: Option<&String>,
    path: &str,
    errors: &mut Vec<DefinitionError>,
) -> Option<Expr> {
    parse_with(
        hale_expr::parse_choice_filter,
        source,
        path,
        "choice_filter",
        errors,
    )
}

fn parse_with(
    parse: fn(&str) -> Result<Expr, hale_expr::ParseError>,
    source: Option<&String>,
    path: &str,
    member: &str,
    errors: &mut Vec<DefinitionError>,
) -> Option<Expr> {
    let source = source?;
    match parse(source) {
        Ok(expr) => Some(expr),
        Err(parse_error) => {
            errors.push(DefinitionError {
                path: format!("{path}.{member}"),
                code: refused_construct(source).unwrap_or("expression_syntax"),
                message: format!(
                    "{member} does not parse at character {}: {}",
                    parse_error.position, parse_error.message
                ),
            });
            None
        }
    }
}

/// XPath constructs Hale refuses on purpose, named so that the refusal says what and why
/// (see docs/app-format.md): `instance()` paths into attached files, values of the last saved
/// form, and paths and predicates beyond `${name}`.
fn refused_construct(source: &str) -> Option<&'static str> {
    if source.contains("instance(") {
        Some("attached_data_unsupported")
    } else if source.contains("${last-saved#") {
        Some("last_saved_unsupported")
    } else if source.contains('/') || source.contains('[') {
        Some("xpath_path_unsupported")
    } else {
        None
    }
}

fn compile_field(
    field: &Field,
    parent: Option<usize>,
    repeat: Option<usize>,
    path: &str,
    app: &AppDefinition,
    errors: &mut Vec<DefinitionError>,
) -> CompiledField {
    // A file not attached yet offers nothing (lint blocks publishing it).
    let choices = app.choices_of(field).to_vec();
    CompiledField {
        name: field.name.clone(),
        field_type: field.field_type,
        parent,
        repeat,
        label: field.label.clone(),
        hint: field.hint.clone(),
        required: field.required,
        required_message: field.required_message.clone(),
        relevant: parse_expression(field.relevant.as_ref(), path, "relevant", errors),
        constraint: parse_expression(field.constraint.as_ref(), path, "constraint", errors),
        constraint_message: field.constraint_message.clone(),
        calculation: parse_expression(field.calculation.as_ref(), path, "calculation", errors),
        trigger: field.trigger.clone(),
        default: field.default.clone(),
        choices,
        choices_from: field.choices_from.clone(),
        // Over a repeat's answers the filter passes rows, read by `${name}`, not choices.
        choice_filter: if field.choices_from.is_some() {
            parse_expression(field.choice_filter.as_ref(), path, "choice_filter", errors)
        } else {
            parse_choice_filter(field.choice_filter.as_ref(), path, errors)
        },
        appearance: field.appearance.clone(),
        unit: field.unit.clone(),
        accepted_units: field.accepted_units.clone(),
        code: field.code.clone(),
        min: field.min,
        max: field.max,
        step: field.step,
        min_count: field.min_count,
        max_count: field.max_count,
        repeat_count: parse_expression(field.repeat_count.as_ref(), path, "repeat_count", errors),
        required_if: parse_expression(field.required_if.as_ref(), path, "required_if", errors),
        read_only_if: parse_expression(field.read_only_if.as_ref(), path, "read_only_if", errors),
        // A triggered calculation only sets the answer, which the person may then change.
        read_only: field.read_only || (field.calculation.is_some() && field.trigger.is_empty()),
        default_expression: parse_expression(
            field.default_expression.as_ref(),
            path,
            "default_expression",
            errors,
        ),
        guidance_hint: field.guidance_hint.clone(),
        media: field.media.clone(),
        parameters: field.parameters.clone(),
        prefill: field.prefill,
        prefix: field.prefix.clone(),
        hidden: field.hidden,
        open: field.open,
        choice_type: field.choice_type,
        max_length: field.max_length,
    }
}

/// The `${name}` references in every language of a text.
fn text_references(text: &Text) -> Vec<String> {
    let mut names = Vec::new();
    for text in text.texts() {
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            let name = &after[..end];
            if is_valid_name(name) && !names.iter().any(|known| known == name) {
                names.push(name.to_owned());
            }
            rest = &after[end + 1..];
        }
    }
    names
}

fn unknown_reference(path: &str, name: &str) -> DefinitionError {
    error(
        path,
        "unknown_reference",
        &format!("${{{name}}} names no field of this app"),
    )
}

/// Whether the level `outer` (a repeat, or the top for `None`) is `inner` or encloses it.
pub(crate) fn encloses(
    fields: &[CompiledField],
    outer: Option<usize>,
    inner: Option<usize>,
) -> bool {
    let mut level = inner;
    loop {
        if level == outer {
            return true;
        }
        match level {
            Some(repeat) => level = fields[repeat].repeat,
            None => return false,
        }
    }
}

/// Field types whose answer is one plain value, offered as a choice by a select that names
/// the field in `choices_from`.
const REPEAT_SOURCE_TYPES: [FieldType; 4] = [
    FieldType::Text,
    FieldType::Integer,
    FieldType::Decimal,
    FieldType::SelectOne,
];

/// Checks that field `target` can give the choices of select `index`: it answers one plain
/// value in a repeat the select is outside of (inside it, a row would offer itself).
fn repeat_source(
    fields: &[CompiledField],
    index: usize,
    target: usize,
    path: &str,
) -> Result<usize, DefinitionError> {
    let source = &fields[target];
    let name = &source.name;
    if !REPEAT_SOURCE_TYPES.contains(&source.field_type) || source.repeat.is_none() {
        return Err(error(
            path,
            "invalid_choices_from",
            &format!(
                "${{{name}}} must be a text, integer, decimal or select_one field inside a repeat"
            ),
        ));
    }
    if encloses(fields, source.repeat, fields[index].repeat) {
        return Err(error(
            path,
            "invalid_choices_from",
            &format!(
                "${{{name}}} is in a repeat that holds this select, whose choices are the other rows' answers"
            ),
        ));
    }
    Ok(target)
}

/// Checks every `${ref}`, builds the dependency graph and returns the evaluation order.
fn check_references(
    fields: &[CompiledField],
    paths: &[String],
    errors: &mut Vec<DefinitionError>,
) -> Vec<usize> {
    // Every field of each name: `${name}` must name exactly one.
    let mut named: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, field) in fields.iter().enumerate() {
        named.entry(field.name.as_str()).or_default().push(index);
    }
    let resolve = |name: &str, path: &str| -> Result<usize, DefinitionError> {
        match named.get(name).map(Vec::as_slice) {
            None | Some([]) => Err(unknown_reference(path, name)),
            Some([only]) => Ok(*only),
            Some(_) => Err(error(
                path,
                "ambiguous_reference",
                &format!(
                    "${{{name}}} names more than one field of this app (in different groups or repeats): give them different names"
                ),
            )),
        }
    };
    let mut graph = Graph::new(fields.len());
    for (index, field) in fields.iter().enumerate() {
        // `${name}` inside a label, hint or message shows that field's value: it must exist.
        let texts = [
            ("label", &field.label),
            ("hint", &field.hint),
            ("guidance_hint", &field.guidance_hint),
            ("constraint_message", &field.constraint_message),
            ("required_message", &field.required_message),
        ];
        let choice_labels = field
            .choices
            .iter()
            .map(|choice| ("choices", Some(&choice.label)));
        for (member, text) in texts
            .into_iter()
            .map(|(member, text)| (member, text.as_ref()))
            .chain(choice_labels)
        {
            let Some(text) = text else { continue };
            for name in text_references(text) {
                if let Err(problem) = resolve(&name, &format!("{}.{member}", paths[index])) {
                    errors.push(problem);
                }
            }
        }
        if let Some(parent) = field.parent {
            graph.depends(index, parent);
        }
        for name in &field.trigger {
            let path = format!("{}.trigger", paths[index]);
            let target = match resolve(name, &path) {
                Ok(target) => target,
                Err(problem) => {
                    errors.push(problem);
                    continue;
                }
            };
            // Only a change the person makes sets a triggered field.
            let trigger = &fields[target];
            let answered_by_person = trigger.field_type.is_answered()
                && !trigger.field_type.is_container()
                && trigger.calculation.is_none()
                && trigger.prefill.is_none();
            if !answered_by_person {
                errors.push(error(
                    &path,
                    "invalid_trigger",
                    &format!("${{{name}}} is not answered by the person, so it never changes to trigger this field"),
                ));
            } else {
                graph.depends(index, target);
            }
        }
        // The level whose rows give the select's choices: its filter reads one row there.
        let mut row_level = None;
        if let Some(name) = &field.choices_from {
            let path = format!("{}.choices_from", paths[index]);
            match resolve(name, &path)
                .and_then(|target| repeat_source(fields, index, target, &path))
            {
                // The select is judged after the rows' answers it offers.
                Ok(target) => {
                    graph.depends(index, target);
                    row_level = fields[target].repeat;
                }
                Err(problem) => errors.push(problem),
            }
        }
        let members = [
            ("relevant", &field.relevant, true),
            ("calculation", &field.calculation, true),
            ("constraint", &field.constraint, false),
            ("repeat_count", &field.repeat_count, true),
            ("required_if", &field.required_if, false),
            // Judged with the answer, after what it reads.
            ("read_only_if", &field.read_only_if, true),
            ("default_expression", &field.default_expression, false),
            // The select is judged after the answers its filter reads.
            ("choice_filter", &field.choice_filter, true),
        ];
        for (member, expr, orders) in members {
            let Some(expr) = expr else { continue };
            let path = format!("{}.{member}", paths[index]);
            let scalar = expr.scalar_references();
            for name in expr.references() {
                let target = match resolve(&name, &path) {
                    Ok(target) => target,
                    Err(problem) => {
                        errors.push(problem);
                        continue;
                    }
                };
                let target_field = &fields[target];
                if target_field.field_type == FieldType::Group {
                    errors.push(error(
                        &path,
                        "reference_to_group",
                        &format!("${{{name}}} is a group, which has no value"),
                    ));
                    continue;
                }
                // `count(${q})`, `sum(${q})`, … read a repeat's rows from outside it; one value
                // is there only in the row being evaluated or one that encloses it.
                let in_row = member == "choice_filter" && row_level == target_field.repeat;
                if target_field.repeat.is_some()
                    && !in_row
                    && !encloses(fields, target_field.repeat, field.repeat)
                    && scalar.contains(&name)
                {
                    errors.push(error(
                        &path,
                        "reference_into_repeat",
                        &format!(
                            "${{{name}}} is answered once per repeat row and can only be read inside its repeat"
                        ),
                    ));
                    continue;
                }
                if orders {
                    graph.depends(index, target);
                }
            }
        }
    }
    let order = graph.order();
    for cycle in find_cycles(&graph, &order) {
        let names: Vec<&str> = cycle.iter().map(|&i| fields[i].name.as_str()).collect();
        let first = cycle.first().copied().unwrap_or(0);
        let member = if fields.get(first).is_some_and(|f| f.calculation.is_some()) {
            "calculation"
        } else {
            "relevant"
        };
        let path = format!(
            "{}.{member}",
            paths.get(first).map(String::as_str).unwrap_or("$.fields")
        );
        errors.push(error(
            &path,
            "cycle",
            &format!(
                "relevance and calculations depend on each other in a cycle: {} -> {}",
                names.join(" -> "),
                names.first().copied().unwrap_or("")
            ),
        ));
    }
    order
}
