//! From the survey, choices and settings tables to an [`AppDefinition`]: types, translated
//! columns, groups and repeats, Hale's extension columns (`unit`, `code`, `purpose`,
//! `accepted_units`, `min`, `max`), and compile errors mapped back to spreadsheet cells.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::cells::SheetMap;
use super::types::{RowType, parse_type};
use super::{ImportError, Table};
use crate::definition::{
    AppDefinition, Choice, DefinitionError, Field, FieldType, News2Mapping, Prefill, Text,
    is_valid_name,
};

/// Survey columns this importer reads (translated columns are `label::…`, `hint::…`, …).
const SURVEY_COLUMNS: [&str; 33] = [
    "type",
    "body::rows",
    "body::accept",
    "name",
    "label",
    "choice_filter",
    "trigger",
    "hint",
    "guidance_hint",
    "required",
    "required_message",
    "constraint",
    "constraint_message",
    "relevant",
    "calculation",
    "default",
    "appearance",
    "parameters",
    "read_only",
    "repeat_count",
    "media::image",
    "media::big-image",
    "media::audio",
    "media::video",
    "unit",
    "code",
    "purpose",
    "accepted_units",
    "min",
    "max",
    "autoplay",
    "note",
    "notes",
];
/// Survey columns of ODK's delivery on devices, which Hale's clients do without: read and
/// ignored. `intent` launches another Android app to answer (and `noAppErrorString` is shown
/// when it is missing), `compact_tag` names a question in SMS submissions, `instance::…` adds
/// an attribute to the answer's XML element in the submission, and `body::esri:…` is
/// Survey123's display.
fn ignored_survey_column(header: &str) -> bool {
    let lower = header.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "intent" | "noapperrorstring" | "compact_tag"
    ) || lower.starts_with("noapperrorstring::")
        || lower.starts_with("instance::")
        || lower.starts_with("body::esri")
}

const TRANSLATED: [&str; 9] = [
    "label",
    "hint",
    "guidance_hint",
    "required_message",
    "constraint_message",
    "media::image",
    "media::big-image",
    "media::audio",
    "media::video",
];
const MEDIA: [&str; 4] = ["image", "big-image", "audio", "video"];
const CHOICE_COLUMNS: [&str; 7] = [
    "list_name",
    "name",
    "label",
    "media::image",
    "media::big-image",
    "media::audio",
    "media::video",
];
const SETTINGS_COLUMNS: [&str; 10] = [
    "form_title",
    "allow_choice_duplicates",
    "form_id",
    "version",
    "default_language",
    "schedule",
    "rate_limit_policy",
    "news2_oxygen",
    "news2_consciousness",
    "news2_spo2_scale",
];
/// Settings of ODK's own delivery that have no meaning for Hale, which keeps submissions on
/// its own server: read and ignored, as other servers ignore them.
const IGNORED_SETTINGS: [&str; 19] = [
    // The XForm's root element (`name`) and the SMS encoding of submissions.
    "name",
    "prefix",
    "delimiter",
    "sms_keyword",
    "sms_separator",
    "sms_allow_media",
    "sms_date_format",
    "sms_datetime_format",
    "sms_response",
    "instance_name",
    "style",
    "submission_url",
    "auto_send",
    "auto_delete",
    "client_editable",
    "namespaces",
    "omit_instanceid",
    "instance_xmlns",
    "clean_text_values",
];
/// Settings Hale refuses by name, with why.
const REFUSED_SETTINGS: [(&str, &str, &str); 1] = [(
    "public_key",
    "encryption_unsupported",
    "submissions encrypted with the form's public key cannot be read by the server, which validates every answer; remove public_key",
)];

/// `English (en)` → `en`; `fr` → `fr`.
pub(crate) fn language_code(text: &str) -> String {
    match (text.rfind('('), text.rfind(')')) {
        (Some(open), Some(close)) if open < close => text[open + 1..close].trim().to_owned(),
        _ => text.trim().to_owned(),
    }
}

struct Importer {
    errors: Vec<ImportError>,
    /// Selects written `select_one list or_other`, by their place in document order.
    or_other: BTreeSet<usize>,
    default_language: String,
    languages: BTreeSet<String>,
    /// The `allow_choice_duplicates` setting: a value listed twice in one list is offered once.
    allow_choice_duplicates: bool,
    /// Triggers written on groups and repeats, which set nothing: (row, names), whose names
    /// must still name fields, as the reference converter requires.
    container_triggers: Vec<(usize, Vec<String>)>,
}

impl Importer {
    fn error(&mut self, sheet: &str, row: usize, column: &str, code: &'static str, message: &str) {
        self.errors.push(ImportError {
            sheet: sheet.to_owned(),
            row,
            column: column.to_owned(),
            code,
            message: message.to_owned(),
        });
    }

    /// A text from `base` and its `base::language` columns.
    fn text(&mut self, table: &Table, cells: &[String], base: &str) -> Option<Text> {
        let mut translations = BTreeMap::new();
        for (index, header) in table.headers.iter().enumerate() {
            let cell = cells.get(index).map(String::as_str).unwrap_or("");
            if cell.is_empty() {
                continue;
            }
            let lower = header.to_ascii_lowercase();
            if lower == base {
                translations.insert(self.default_language.clone(), cell.to_owned());
            } else if lower.starts_with(&format!("{base}::")) {
                let code = language_code(&header[base.len() + 2..]);
                self.languages.insert(code.clone());
                translations.insert(code, cell.to_owned());
            }
        }
        match translations.len() {
            0 => None,
            1 if translations.contains_key(&self.default_language) => {
                translations.into_values().next().map(Text::Plain)
            }
            _ => Some(Text::Translated(translations)),
        }
    }
}

/// A header as reported in an error: where the problem is, cut short so that a huge header
/// cell does not make a huge error.
fn header_name(header: &str) -> &str {
    match header.char_indices().nth(64) {
        Some((end, _)) => &header[..end],
        None => header,
    }
}

fn known_column(header: &str, known: &[&str]) -> bool {
    let lower = header.to_ascii_lowercase();
    known.contains(&lower.as_str())
        || TRANSLATED
            .iter()
            .any(|base| lower.starts_with(&format!("{base}::")))
}

/// An XML element name as the reference converter checks it: a letter or `_`, then letters,
/// digits, `_`, `-` or `.`.
fn is_xml_name(text: &str) -> bool {
    let mut characters = text.chars();
    characters
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
        && characters.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn parse_flag(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "" | "no" | "false" | "false()" | "0" => Some(false),
        "yes" | "true" | "true()" | "1" => Some(true),
        _ => None,
    }
}

fn default_value(kind: FieldType, text: &str) -> serde_json::Value {
    let number = text
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64);
    match kind {
        // A whole number is written as an integer literal, which an integer answer requires.
        FieldType::Integer if text.parse::<i64>().is_ok() => text
            .parse::<i64>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| text.into()),
        _ if kind.is_numeric() => number
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| text.into()),
        FieldType::Boolean | FieldType::Acknowledge => parse_flag(text)
            .map(serde_json::Value::Bool)
            .unwrap_or_else(|| text.into()),
        FieldType::SelectMultiple | FieldType::Rank => {
            text.split_whitespace().collect::<Vec<_>>().into()
        }
        _ => text.into(),
    }
}

/// Imports the tables and compiles the result.
pub fn import(
    survey: &Table,
    choices: Option<&Table>,
    settings: Option<&Table>,
) -> Result<AppDefinition, Vec<ImportError>> {
    import_mapped(survey, choices, settings).map(|(app, _)| app)
}

/// [`import`], with where each part of the definition was written.
pub fn import_mapped(
    survey: &Table,
    choices: Option<&Table>,
    settings: Option<&Table>,
) -> Result<(AppDefinition, SheetMap), Vec<ImportError>> {
    let mut importer = Importer {
        errors: Vec::new(),
        or_other: BTreeSet::new(),
        default_language: String::from("en"),
        languages: BTreeSet::new(),
        allow_choice_duplicates: false,
        container_triggers: Vec::new(),
    };
    // As in the reference converter, `label:en` names a language only in a workbook where no
    // header has `::`.
    let double_colons = [Some(survey), choices, settings]
        .into_iter()
        .flatten()
        .any(|table| table.headers.iter().any(|header| header.contains("::")));
    let canonical = |table: &Table| Table {
        name: table.name.clone(),
        headers: table
            .headers
            .iter()
            .map(|header| {
                super::columns::canonical_in(
                    &table.name.to_ascii_lowercase(),
                    header,
                    double_colons,
                )
            })
            .collect(),
        rows: table.rows.clone(),
    };
    for table in [Some(survey), choices, settings].into_iter().flatten() {
        duplicate_headers(&mut importer, &canonical(table), table);
    }
    let survey = &canonical(survey);
    // Extra columns of the choices sheet are attributes, named as written.
    let choice_headers = choices
        .map(|table| table.headers.clone())
        .unwrap_or_default();
    let choices = choices.map(canonical);
    let settings = settings.map(canonical);
    let (choices, settings) = (choices.as_ref(), settings.as_ref());
    let mut app = AppDefinition::new("", Vec::new());
    let mut settings_row = 2;
    if let Some(settings) = settings {
        read_settings(&mut importer, settings, &mut app);
        settings_row = settings.rows.first().map(|(row, _)| *row).unwrap_or(2);
    }
    let mut list_rows = BTreeMap::new();
    if let Some(choices) = choices {
        read_choices(
            &mut importer,
            choices,
            &choice_headers,
            &mut app,
            &mut list_rows,
        );
    }
    let mut rows_in_order = Vec::new();
    app.fields = read_survey(&mut importer, survey, &mut rows_in_order);
    add_other_choices(
        &mut app.fields,
        &importer.or_other,
        &app.choice_lists,
        &mut 0,
    );
    generated_names(&mut importer, &app, &rows_in_order);
    if let Some(settings) = settings {
        settings_references(&mut importer, settings, &app);
    }
    if let Some(choices) = choices {
        choice_references(&mut importer, choices, &app);
    }
    importer.languages.remove(&importer.default_language);
    app.languages = importer.languages.iter().cloned().collect();
    app.default_language = importer.default_language.clone();
    // Compile even after import problems so that every error is reported in one pass.
    if let Err(errors) = app.compile() {
        let walked = app.walk();
        // Path → position in walk order (the order rows were read in), so that locating each
        // error is a few lookups, not a scan of every field.
        let paths: HashMap<&str, usize> = walked
            .iter()
            .enumerate()
            .map(|(index, (path, _))| (path.as_str(), index))
            .collect();
        for error in errors {
            let located = locate(&error, &paths, &rows_in_order, &list_rows, settings_row);
            importer.errors.push(located);
        }
    }
    if importer.errors.is_empty() {
        let map = SheetMap {
            paths: app
                .walk()
                .into_iter()
                .enumerate()
                .map(|(index, (path, _))| (path, index))
                .collect(),
            rows: rows_in_order,
            list_rows,
            settings_row,
            headers: [Some(survey), choices, settings]
                .into_iter()
                .flatten()
                .map(|table| (table.name.to_ascii_lowercase(), table.headers.clone()))
                .collect(),
        };
        Ok((app, map))
    } else {
        Err(importer.errors)
    }
}

/// The name of the form's root element in the reference converter's XForm (its default form
/// name), which a repeat may not take.
const ROOT: &str = "data";

/// The reference converter's rules for names it generates or reads outside expressions:
/// a `repeat_count` that is not a plain `${name}` becomes a calculation named
/// `<repeat>_count`, referred to by that name, so no other field may be called so; and a
/// `seed=${name}` parameter must name a field.
fn generated_names(importer: &mut Importer, app: &AppDefinition, rows: &[usize]) {
    let walked = app.walk();
    let names: BTreeSet<&str> = walked
        .iter()
        .map(|(_, field)| field.name.as_str())
        .collect();
    for (row, triggers) in std::mem::take(&mut importer.container_triggers) {
        if triggers.iter().any(|name| !names.contains(name.as_str())) {
            importer.error(
                "survey",
                row,
                "trigger",
                "unknown_reference",
                "a trigger names a field of this app",
            );
        }
    }
    for (index, (_, field)) in walked.iter().enumerate() {
        let row = rows.get(index).copied().unwrap_or(1);
        if let Some(count) = &field.repeat_count {
            let generated = format!("{}_count", field.name);
            let plain = super::parameters::plain_reference(count.trim()).is_some();
            if !plain && names.contains(generated.as_str()) {
                importer.error(
                    "survey",
                    row,
                    "repeat_count",
                    "generated_name_taken",
                    &format!(
                        "this repeat_count is computed in a field named '{generated}', as the reference converter does, and another field has that name"
                    ),
                );
            }
        }
        if let Some(name) = field
            .parameters
            .get("seed")
            .and_then(|seed| super::parameters::plain_reference(seed))
            && !names.contains(name)
        {
            importer.error(
                "survey",
                row,
                "parameters",
                "unknown_reference",
                &format!("the seed ${{{name}}} names no field of this app"),
            );
        }
    }
}

/// `${name}` in any settings cell (`instance_name`, a title, …) must name a field, as the
/// reference converter requires, even where Hale ignores the setting.
fn settings_references(importer: &mut Importer, settings: &Table, app: &AppDefinition) {
    sheet_references(importer, settings, app, |_| true);
}

/// `${name}` in a choice's label or media must name a field too (the reference converter's
/// rule, though Hale does not show choice media yet).
fn choice_references(importer: &mut Importer, choices: &Table, app: &AppDefinition) {
    sheet_references(importer, choices, app, |header| {
        [
            "label",
            "media::image",
            "media::big-image",
            "media::audio",
            "media::video",
        ]
        .iter()
        .any(|base| header == *base || header.starts_with(&format!("{base}::")))
    });
}

fn sheet_references(
    importer: &mut Importer,
    sheet: &Table,
    app: &AppDefinition,
    checked: impl Fn(&str) -> bool,
) {
    let walked = app.walk();
    let names: BTreeSet<&str> = walked
        .iter()
        .map(|(_, field)| field.name.as_str())
        .collect();
    let sheet_name = sheet.name.to_ascii_lowercase();
    for (row, cells) in &sheet.rows {
        for (index, header) in sheet.headers.iter().enumerate() {
            if !checked(&header.to_ascii_lowercase()) {
                continue;
            }
            let cell = cells.get(index).map(String::as_str).unwrap_or("");
            let mut rest = cell;
            while let Some(start) = rest.find("${") {
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else { break };
                let name = &after[..end];
                if !names.contains(name) {
                    importer.error(
                        &sheet_name,
                        *row,
                        header_name(header),
                        "unknown_reference",
                        "a ${name} in this cell names no field of the survey",
                    );
                    break;
                }
                rest = &after[end + 1..];
            }
        }
    }
}

/// Two columns that mean the same (`name` twice, or `name` and its alias `value`) would make
/// one cell silently win: refused, as the reference converter does.
/// On the settings sheet the converter takes two spellings of one setting (`id_string` and
/// `form_id`): the first is read.
fn duplicate_headers(importer: &mut Importer, table: &Table, written: &Table) {
    let mut seen = BTreeMap::new();
    let settings = table.name.eq_ignore_ascii_case("settings");
    for (header, spelling) in table.headers.iter().zip(&written.headers) {
        if header.is_empty() {
            continue;
        }
        let spelling = spelling.trim().to_ascii_lowercase();
        let twice = match seen.get(header.as_str()) {
            None => {
                seen.insert(header.as_str(), spelling);
                false
            }
            Some(first) => !settings || *first == spelling,
        };
        if twice {
            importer.error(
                &table.name.to_ascii_lowercase(),
                1,
                header_name(header),
                "duplicate_column",
                "two columns of this sheet mean the same; keep one",
            );
        }
    }
}

fn read_settings(importer: &mut Importer, settings: &Table, app: &mut AppDefinition) {
    for header in &settings.headers {
        // `attribute::xyz` is an attribute of the submission's root XML element.
        let ignored =
            IGNORED_SETTINGS.contains(&header.as_str()) || header.starts_with("attribute::");
        if let Some((_, code, message)) =
            REFUSED_SETTINGS.iter().find(|(name, _, _)| header == name)
        {
            importer.error("settings", 1, header_name(header), code, message);
            continue;
        }
        if !header.is_empty() && !ignored && !known_column(header, &SETTINGS_COLUMNS) {
            importer.error(
                "settings",
                1,
                header_name(header),
                "unknown_column",
                "this column is not supported; remove it",
            );
        }
    }
    let Some((_, cells)) = settings.rows.first() else {
        return;
    };
    let get = |name: &str| settings.cell(cells, name).to_owned();
    let root = get("name");
    if !root.is_empty() && !is_xml_name(&root) {
        importer.error(
            "settings",
            1,
            "name",
            "invalid_name",
            "the form's root element name begins with a letter or underscore, followed by letters, digits, underscores, hyphens or periods",
        );
    }
    importer.allow_choice_duplicates = parse_flag(&get("allow_choice_duplicates")) == Some(true);
    let language = get("default_language");
    if !language.is_empty() {
        importer.default_language = language_code(&language);
    }
    let title = get("form_title");
    app.title = Text::Plain(if title.is_empty() {
        get("form_id")
    } else {
        title
    });
    let optional = |text: String| (!text.is_empty()).then_some(text);
    app.version = optional(get("version"));
    app.schedule = optional(get("schedule"));
    app.rate_limit_policy = optional(get("rate_limit_policy"));
    let oxygen = get("news2_oxygen");
    let consciousness = get("news2_consciousness");
    if !oxygen.is_empty() || !consciousness.is_empty() {
        app.news2 = Some(News2Mapping {
            oxygen,
            consciousness,
            spo2_scale: optional(get("news2_spo2_scale")),
        });
    }
}

fn read_choices(
    importer: &mut Importer,
    choices: &Table,
    written_headers: &[String],
    app: &mut AppDefinition,
    list_rows: &mut BTreeMap<String, usize>,
) {
    // Any other column says more about each choice, for choice filters to read by its name
    // as written. A header that is no plain name cannot be named in an expression, so it
    // changes nothing and is passed over.
    let attributes: Vec<(usize, String)> = choices
        .headers
        .iter()
        .enumerate()
        .filter(|(_, header)| !header.is_empty() && !known_column(header, &CHOICE_COLUMNS))
        .filter_map(|(index, _)| {
            let written = written_headers.get(index)?.trim();
            let usable = is_valid_name(written) && !matches!(written, "name" | "label");
            usable.then(|| (index, written.to_owned()))
        })
        .collect();
    for (row, cells) in &choices.rows {
        let list = choices.cell(cells, "list_name").to_owned();
        let value = choices.cell(cells, "name").to_owned();
        if list.is_empty() {
            importer.error(
                "choices",
                *row,
                "list_name",
                "list_name_missing",
                "every choice needs a list_name",
            );
            continue;
        }
        // A choice without a label is shown by its name, as the reference converter allows.
        let label = importer
            .text(choices, cells, "label")
            .unwrap_or_else(|| Text::Plain(value.clone()));
        list_rows.entry(list.clone()).or_insert(*row);
        let mut choice = Choice::new(&value, label);
        for medium in MEDIA {
            if let Some(text) = importer.text(choices, cells, &format!("media::{medium}")) {
                choice.media.insert(medium.to_owned(), text);
            }
        }
        for (index, name) in &attributes {
            if let Some(text) = cells.get(*index).filter(|text| !text.is_empty()) {
                choice.attributes.insert(name.clone(), text.clone());
            }
        }
        let listed = app.choice_lists.entry(list).or_default();
        // With `allow_choice_duplicates`, a value listed again says nothing new about the
        // answer: it is offered once, with its first label. One that differs in an attribute
        // a choice filter may read would be offered under other conditions: still refused.
        let again = importer.allow_choice_duplicates
            && listed
                .iter()
                .any(|first| first.value == choice.value && first.attributes == choice.attributes);
        if !again {
            listed.push(choice);
        }
    }
}

/// Columns of the survey sheet that other tools define and Hale refuses, with why.
const REFUSED_COLUMNS: [(&str, &str, &str); 1] = [(
    "save_to",
    "entities_unsupported",
    "save_to belongs to entities (ODK's case records), which are not supported",
)];

fn read_survey(
    importer: &mut Importer,
    survey: &Table,
    rows_in_order: &mut Vec<usize>,
) -> Vec<Field> {
    for (index, header) in survey.headers.iter().enumerate() {
        if header.is_empty()
            || known_column(header, &SURVEY_COLUMNS)
            || ignored_survey_column(header)
        {
            continue;
        }
        let refused = REFUSED_COLUMNS
            .iter()
            .find(|(name, _, _)| header.eq_ignore_ascii_case(name));
        let (code, message) = match refused {
            Some((_, code, message)) => (*code, *message),
            None => ("unknown_column", "this column is not supported; remove it"),
        };
        // A refused column that no row uses changes nothing.
        let used = survey
            .rows
            .iter()
            .any(|(_, cells)| cells.get(index).is_some_and(|cell| !cell.is_empty()));
        if refused.is_some() && !used {
            continue;
        }
        importer.error("survey", 1, header_name(header), code, message);
    }
    // Open containers: (field, its row).
    let mut stack: Vec<(Field, usize)> = Vec::new();
    let mut repeat_names = BTreeSet::new();
    // Calculates set once when the form opens (from a default alone), by name.
    let mut set_once: BTreeSet<String> = BTreeSet::new();
    let mut top: Vec<Field> = Vec::new();
    for (row, cells) in &survey.rows {
        let row = *row;
        let type_text = survey.cell(cells, "type");
        let cell = |name: &str| survey.cell(cells, name).to_owned();
        if type_text.is_empty() {
            // A row with a name or label but no type is a mistake; a row with only other
            // columns (a comment) is ignored like an empty one.
            if !cell("name").is_empty() || importer.text(survey, cells, "label").is_some() {
                importer.error(
                    "survey",
                    row,
                    "type",
                    "type_missing",
                    "this row has no type",
                );
            }
            continue;
        }
        let mut choice_file = None;
        let (kind, list, or_other, prefill) = match parse_type(type_text) {
            RowType::Field {
                kind,
                list,
                or_other,
                prefill,
            } => (kind, list, or_other, prefill),
            RowType::FromFile { kind, file } => {
                choice_file = Some(file);
                (kind, None, false, None)
            }
            RowType::Begin(kind) => (kind, None, false, None),
            RowType::End(wanted) => {
                close_container(importer, &mut stack, &mut top, wanted, row);
                continue;
            }
            RowType::Refused(code, message) => {
                importer.error("survey", row, "type", code, message);
                continue;
            }
            RowType::Unknown => {
                importer.error(
                    "survey",
                    row,
                    "type",
                    "unknown_type",
                    "this is not a supported XLSForm type",
                );
                continue;
            }
        };
        let mut field = Field::new(&cell("name"), kind);
        field.prefill = prefill;
        if prefill == Some(Prefill::Audit) {
            // The reference converter names the audit itself.
            if field.name.is_empty() {
                field.name = String::from("audit");
            } else if field.name != "audit" {
                importer.error(
                    "survey",
                    row,
                    "name",
                    "invalid_name",
                    "an audit is always named 'audit': leave its name blank",
                );
            }
        }
        if kind == FieldType::Repeat && !repeat_names.insert(field.name.clone()) {
            importer.error(
                "survey",
                row,
                "name",
                "duplicate_name",
                "a repeat's name is used once in the whole form (other fields may share names across groups and repeats)",
            );
        }
        if kind == FieldType::Repeat && field.name == ROOT {
            importer.error(
                "survey",
                row,
                "name",
                "reserved_name",
                "a repeat cannot be named 'data', the name of the form's root element",
            );
        }
        field.label = importer.text(survey, cells, "label");
        field.hint = importer.text(survey, cells, "hint");
        field.guidance_hint = importer.text(survey, cells, "guidance_hint");
        field.required_message = importer.text(survey, cells, "required_message");
        field.constraint_message = importer.text(survey, cells, "constraint_message");
        for medium in MEDIA {
            if let Some(text) = importer.text(survey, cells, &format!("media::{medium}")) {
                field.media.insert(medium.to_owned(), text);
            }
        }
        if field.media.contains_key("big-image") && !field.media.contains_key("image") {
            importer.error(
                "survey",
                row,
                "media::big-image",
                "image_missing",
                "big-image is the larger version of an image: give the image too",
            );
        }
        let required = cell("required");
        match parse_flag(&required) {
            Some(flag) => field.required = flag,
            // Anything else is an expression, as XLSForm allows.
            None => field.required_if = Some(required),
        }
        let read_only = cell("read_only");
        match parse_flag(&read_only) {
            Some(flag) => field.read_only = flag,
            // Anything else is an expression, as for `required`.
            None => field.read_only_if = Some(read_only),
        }
        let optional = |text: String| (!text.is_empty()).then_some(text);
        field.constraint = optional(cell("constraint"));
        field.relevant = optional(cell("relevant"));
        field.calculation = optional(cell("calculation"));
        field.appearance = optional(cell("appearance"));
        field.repeat_count = optional(cell("repeat_count"));
        field.unit = optional(cell("unit"));
        field.code = optional(cell("code"));
        field.purpose = optional(cell("purpose"));
        // `select_one ${name}` offers the answers a repeat's rows gave to `name`.
        match list.as_deref().and_then(repeat_source) {
            Some(source) => field.choices_from = Some(source.to_owned()),
            None => field.choice_list = list,
        }
        // The compiler checks the file's name.
        field.choice_file = choice_file;
        field.choice_filter = optional(cell("choice_filter"));
        match triggers(&cell("trigger")) {
            // A group or repeat has no value to set: the reference converter accepts a
            // trigger there and it changes nothing.
            Some(names) if kind.is_container() => importer.container_triggers.push((row, names)),
            Some(names) => field.trigger = names,
            None => importer.error(
                "survey",
                row,
                "trigger",
                "invalid_trigger",
                "a trigger names the questions that set this field: ${name}, or several separated by spaces or commas",
            ),
        }
        if or_other && field.choices_from.is_some() {
            importer.error(
                "survey",
                row,
                "type",
                "or_other_on_repeat_choices",
                "or_other cannot be combined with choices from a repeat's answers",
            );
        }
        if or_other && field.choice_filter.is_some() {
            // The generated `other` choice would have to pass the filter too.
            importer.error(
                "survey",
                row,
                "choice_filter",
                "choice_filter_with_or_other",
                "a choice_filter cannot be combined with or_other",
            );
        }
        if let Some(text) = optional(cell("default")) {
            if kind == FieldType::Calculate
                && field.calculation.is_none()
                && is_dynamic_default(&text)
                && references(&text)
                    .is_some_and(|names| names.iter().all(|name| set_once.contains(*name)))
            {
                // A calculate with only a default is set once when the form opens and never
                // again; `once(…)` computes it the first time and keeps it. Reading no field,
                // or only calculates set so before it, the default is the same whenever it is
                // first computed.
                field.calculation = Some(format!("once({text})"));
                set_once.insert(field.name.clone());
            } else if is_dynamic_default(&text) {
                field.default_expression = Some(text);
            } else {
                field.default = Some(default_value(kind, &text));
            }
        }
        let unlabelled = field.label.is_none() && field.hint.is_none() && field.media.is_empty();
        if unlabelled && !field.trigger.is_empty() && field.calculation.is_none() {
            // The reference converter lets a question a trigger sets go without a label or
            // hint; it is shown by its name.
            field.label = Some(Text::Plain(field.name.clone()));
        }
        field.accepted_units = cell("accepted_units")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for (column, slot) in [("min", &mut field.min), ("max", &mut field.max)] {
            let text = survey.cell(cells, column);
            if text.is_empty() {
                continue;
            }
            match text.parse::<f64>() {
                Ok(number) => *slot = Some(number),
                Err(_) => importer.error(
                    "survey",
                    row,
                    column,
                    "not_a_number",
                    &format!("{column} must be a number"),
                ),
            }
        }
        // `body::rows` is the `rows` parameter written as the XForm attribute; the parameters
        // cell, read after it, wins.
        let mut parameters = cell("parameters");
        let rows = cell("body::rows");
        if !rows.is_empty() {
            parameters = format!("rows={rows} {parameters}");
        }
        super::parameters::read(&mut importer.errors, &parameters, row, &mut field);
        if field.choice_file.is_some() {
            // The columns of a data file are its own: `name` the value, `label` the label.
            let named = [("value", "name"), ("label", "label")];
            let renamed = named.iter().any(|(key, own)| {
                field
                    .parameters
                    .remove(*key)
                    .is_some_and(|column| column != *own)
            });
            if renamed {
                importer.error(
                    "survey",
                    row,
                    "parameters",
                    "data_file_columns_unsupported",
                    "a data file's choices are its name and label columns: rename the file's columns instead of naming others in value= or label=",
                );
            }
        }
        let accept = cell("body::accept");
        if !accept.is_empty() {
            if kind == FieldType::File {
                // The file types the client's picker offers (`application/pdf`).
                field.parameters.insert(String::from("accept"), accept);
            } else {
                importer.error(
                    "survey",
                    row,
                    "body::accept",
                    "unsupported_parameter",
                    "body::accept applies only to file questions",
                );
            }
        }
        rows_in_order.push(row);
        if kind.is_container() {
            stack.push((field, row));
            continue;
        }
        let other = or_other.then(|| other_field(&field));
        if or_other {
            // By place, not name: one name may serve selects of different groups.
            importer.or_other.insert(rows_in_order.len() - 1);
        }
        let siblings = match stack.last_mut() {
            Some((parent, _)) => &mut parent.children,
            None => &mut top,
        };
        siblings.push(field);
        if let Some(other) = other {
            // The generated "specify other" question sits on the select's own row.
            rows_in_order.push(row);
            siblings.push(other);
        }
    }
    while let Some((field, row)) = stack.pop() {
        importer.error(
            "survey",
            row,
            "type",
            "unbalanced_group",
            &format!("this {} is never closed", field.field_type.as_str()),
        );
        // Its fields are still compiled, so that every error is reported at once.
        match stack.last_mut() {
            Some((parent, _)) => parent.children.push(field),
            None => top.push(field),
        }
    }
    top
}

/// The names of a `trigger` cell: `${a}`, or several separated by spaces or commas.
fn triggers(text: &str) -> Option<Vec<String>> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|part| !part.is_empty())
        .map(|part| super::parameters::plain_reference(part).map(str::to_owned))
        .collect()
}

/// `end group` / `end repeat` closes the innermost container, which must be of that kind.
fn close_container(
    importer: &mut Importer,
    stack: &mut Vec<(Field, usize)>,
    top: &mut Vec<Field>,
    wanted: FieldType,
    row: usize,
) {
    match stack.pop() {
        Some((field, _)) if field.field_type == wanted => match stack.last_mut() {
            Some((parent, _)) => parent.children.push(field),
            None => top.push(field),
        },
        Some((field, open_row)) => {
            importer.error(
                "survey",
                row,
                "type",
                "unbalanced_group",
                &format!(
                    "this end closes the {} opened on row {open_row}",
                    field.field_type.as_str()
                ),
            );
            stack.push((field, open_row));
        }
        None => importer.error(
            "survey",
            row,
            "type",
            "unbalanced_group",
            "this end has no matching begin",
        ),
    }
}

/// XLSForm's `or_other`: the select gains an `other` choice (see `add_other_choices`) and a
/// text question `<name>_other`, shown when `other` is chosen, as the reference converter
/// generates them.
fn other_field(select: &Field) -> Field {
    let mut other = Field::new(&format!("{}_other", select.name), FieldType::Text);
    other.label = Some(Text::Plain(String::from("Specify other.")));
    other.relevant = Some(format!("selected(${{{}}}, 'other')", select.name));
    other.purpose = Some(String::from("the answer the listed choices do not cover"));
    other
}

/// Gives every `or_other` select (by its place in document order, in `selects`) its list plus `other`, inline, so the
/// list's other users are untouched.
fn add_other_choices(
    fields: &mut [Field],
    selects: &BTreeSet<usize>,
    lists: &BTreeMap<String, Vec<Choice>>,
    next: &mut usize,
) {
    for field in fields {
        let place = *next;
        *next += 1;
        add_other_choices(&mut field.children, selects, lists, next);
        if !selects.contains(&place) {
            continue;
        }
        let Some(choices) = field.choice_list.as_ref().and_then(|list| lists.get(list)) else {
            continue;
        };
        let mut choices = choices.clone();
        // A list that already has `other` keeps its own (the converter's copy would be the
        // same answer twice).
        if !choices.iter().any(|choice| choice.value == "other") {
            choices.push(Choice::new("other", Text::Plain(String::from("Other"))));
        }
        field.choices = choices;
        field.choice_list = None;
    }
}

/// The names of every `${name}` in `text`, or `None` when one is not closed.
fn references(text: &str) -> Option<Vec<&str>> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        names.push(&after[..end]);
        rest = &after[end + 1..];
    }
    Some(names)
}

/// The field named by a select's list written `${name}`: its choices are that field's answers.
fn repeat_source(list: &str) -> Option<&str> {
    list.strip_prefix("${")?.strip_suffix('}')
}

/// Whether a `default` cell is an expression (evaluated when the form opens) rather than a
/// constant answer: as in the reference converter, one that refers to a field, calls a
/// function, or uses arithmetic (`1 + 1`, `2*3`, `7 div 2`, a `-` standing alone, a union `|`
/// or a predicate `[`) is dynamic. A `-` inside a word is part of it, as in XPath names, so
/// `a-2`, `1-1` and `2020-01-01` are constants.
fn is_dynamic_default(text: &str) -> bool {
    text.contains("${")
        || text.contains(['(', '+', '*', '|', '['])
        || text
            .split_whitespace()
            .any(|word| matches!(word, "-" | "div" | "mod"))
}

/// Maps a compile error's JSON path back to a spreadsheet cell.
pub(super) fn locate(
    error: &DefinitionError,
    paths: &HashMap<&str, usize>,
    rows: &[usize],
    list_rows: &BTreeMap<String, usize>,
    settings_row: usize,
) -> ImportError {
    let make = |sheet: &str, row: usize, column: &str| ImportError {
        sheet: sheet.to_owned(),
        row,
        column: column.to_owned(),
        code: error.code,
        message: error.message.clone(),
    };
    if let Some(rest) = error.path.strip_prefix("$.choice_lists.") {
        let list = rest.split(['[', '.']).next().unwrap_or("");
        return make("choices", list_rows.get(list).copied().unwrap_or(1), "name");
    }
    if let Some(role) = error.path.strip_prefix("$.news2.") {
        return make("settings", settings_row, &format!("news2_{role}"));
    }
    // The field an error is about is the longest field path that is the error's path or ends
    // where one of its members begins.
    let member_starts = error
        .path
        .char_indices()
        .filter(|(_, character)| *character == '.')
        .map(|(index, _)| index);
    let candidates = std::iter::once(error.path.len()).chain(member_starts.rev());
    let found = candidates
        .filter_map(|end| error.path.get(..end))
        .find_map(|prefix| paths.get(prefix).map(|index| (*index, prefix)));
    let Some((index, path)) = found else {
        return make("survey", 1, "");
    };
    let member = error.path[path.len()..]
        .trim_start_matches('.')
        .split(['.', '['])
        .next()
        .unwrap_or("");
    let column = match member {
        "" | "children" | "choices" | "choice_list" | "choices_from" | "choice_file"
        | "min_count" => "type",
        "step" => "parameters",
        "required_if" => "required",
        "read_only_if" => "read_only",
        "default_expression" => "default",
        other => other,
    };
    make("survey", rows.get(index).copied().unwrap_or(1), column)
}
