//! The app definition format (`hale.app/1`): what an analyst writes, as JSON.
//!
//! The format grows by adding optional members; an unknown member is an error so that a typo
//! never silently drops a rule. Checking beyond the JSON shape happens in [`crate::compile`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The format identifier written into every compiled form.
pub const FORMAT: &str = "hale.app/1";

/// Text shown to people: one string, or one per language (`{"en": "…", "fr": "…"}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Text {
    Plain(String),
    Translated(BTreeMap<String, String>),
}

impl Text {
    /// The text in `language`, else the first one there is.
    pub fn in_language(&self, language: &str) -> &str {
        match self {
            Text::Plain(text) => text,
            Text::Translated(map) => map
                .get(language)
                .or_else(|| map.values().next())
                .map(String::as_str)
                .unwrap_or(""),
        }
    }

    /// Whether the text is given explicitly in `language` (a plain text counts for every one).
    pub fn has_language(&self, language: &str) -> bool {
        match self {
            Text::Plain(_) => true,
            Text::Translated(map) => map.get(language).is_some_and(|text| !text.is_empty()),
        }
    }
    /// Every text it holds, once each, in language order (a plain text is its one text).
    pub fn texts(&self) -> Vec<&str> {
        match self {
            Text::Plain(text) => vec![text.as_str()],
            Text::Translated(map) => {
                let mut texts: Vec<&str> = Vec::with_capacity(map.len());
                for text in map.values() {
                    if !texts.contains(&text.as_str()) {
                        texts.push(text);
                    }
                }
                texts
            }
        }
    }
}

/// The kinds of field an app has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Integer,
    Decimal,
    #[default]
    Text,
    SelectOne,
    SelectMultiple,
    /// An ordering of every choice offered: the answer lists the choice values, most
    /// preferred first, each once (XLSForm `rank`).
    Rank,
    Date,
    Datetime,
    Time,
    Boolean,
    Acknowledge,
    Range,
    Note,
    Calculate,
    Group,
    Repeat,
    File,
    Photo,
    /// A location: `"lat lon [altitude [accuracy]]"`, as XLSForm clients write it.
    Geopoint,
    /// A line: two or more geopoints separated by `;`.
    Geotrace,
    /// A closed area: four or more geopoints separated by `;`, the last equal to the first.
    Geoshape,
    /// The text a scanned barcode holds.
    Barcode,
    Audio,
    Video,
}

impl FieldType {
    /// Every type, for generators and documentation.
    pub const ALL: [FieldType; 24] = [
        FieldType::Integer,
        FieldType::Decimal,
        FieldType::Text,
        FieldType::SelectOne,
        FieldType::SelectMultiple,
        FieldType::Rank,
        FieldType::Date,
        FieldType::Datetime,
        FieldType::Time,
        FieldType::Boolean,
        FieldType::Acknowledge,
        FieldType::Range,
        FieldType::Note,
        FieldType::Calculate,
        FieldType::Group,
        FieldType::Repeat,
        FieldType::File,
        FieldType::Photo,
        FieldType::Geopoint,
        FieldType::Geotrace,
        FieldType::Geoshape,
        FieldType::Barcode,
        FieldType::Audio,
        FieldType::Video,
    ];

    /// Integer, decimal and range answers are numbers with optional bounds and unit.
    pub const fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Integer | FieldType::Decimal | FieldType::Range
        )
    }
    /// Fields answered from choices: select_one, select_multiple and rank.
    pub const fn is_select(self) -> bool {
        matches!(
            self,
            FieldType::SelectOne | FieldType::SelectMultiple | FieldType::Rank
        )
    }
    /// Fields whose answer lists several choices (space-separated in XLSForm).
    pub const fn lists_choices(self) -> bool {
        matches!(self, FieldType::SelectMultiple | FieldType::Rank)
    }
    /// Groups and repeats hold children instead of an answer.
    pub const fn is_container(self) -> bool {
        matches!(self, FieldType::Group | FieldType::Repeat)
    }
    /// Whether the client submits an answer for this field.
    pub const fn is_answered(self) -> bool {
        !matches!(
            self,
            FieldType::Note | FieldType::Calculate | FieldType::Group
        )
    }
    /// The snake_case spelling used in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Text => "text",
            FieldType::SelectOne => "select_one",
            FieldType::SelectMultiple => "select_multiple",
            FieldType::Rank => "rank",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Time => "time",
            FieldType::Boolean => "boolean",
            FieldType::Acknowledge => "acknowledge",
            FieldType::Range => "range",
            FieldType::Note => "note",
            FieldType::Calculate => "calculate",
            FieldType::Group => "group",
            FieldType::Repeat => "repeat",
            FieldType::File => "file",
            FieldType::Photo => "photo",
            FieldType::Geopoint => "geopoint",
            FieldType::Geotrace => "geotrace",
            FieldType::Geoshape => "geoshape",
            FieldType::Barcode => "barcode",
            FieldType::Audio => "audio",
            FieldType::Video => "video",
        }
    }

    /// Whether the answer is a reference to an attached file.
    pub const fn is_attachment(self) -> bool {
        matches!(
            self,
            FieldType::File | FieldType::Photo | FieldType::Audio | FieldType::Video
        )
    }

    /// Whether the answer is a location: a point, a line or an area.
    pub const fn is_location(self) -> bool {
        matches!(
            self,
            FieldType::Geopoint | FieldType::Geotrace | FieldType::Geoshape
        )
    }
}

/// A value the client records by itself rather than asking for (XLSForm's metadata types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefill {
    /// When the form was opened (a `datetime`).
    Start,
    /// When the form was last saved (a `datetime`).
    End,
    /// The day the form was opened (a `date`).
    Today,
    /// The device's identifier (`text`), as the client reports it.
    Deviceid,
    /// The signed-in user's name (`text`).
    Username,
    /// The client's log of how the form was filled in (a `file` attachment).
    Audit,
}

impl Prefill {
    /// The field type that holds the recorded value.
    pub const fn field_type(self) -> FieldType {
        match self {
            Prefill::Start | Prefill::End => FieldType::Datetime,
            Prefill::Today => FieldType::Date,
            Prefill::Deviceid | Prefill::Username => FieldType::Text,
            Prefill::Audit => FieldType::File,
        }
    }
}

/// One option of a single or multiple choice field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub value: String,
    pub label: Text,
    /// The code system of `value` when it is a code of a terminology (LOINC answer codes,
    /// SNOMED CT, …); answers are still the bare value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The number the choice stands for in a score (FHIR `ordinalValue`/`itemWeight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The option came as a FHIR Coding with a display and no code: its value is the display,
    /// and it goes back out without a code.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uncoded: bool,
    /// More about the choice, by name, for choice filters to read (XLSForm's extra columns
    /// of the choices sheet: `state`, `district`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Media shown with the choice's label, by kind (`image`, `big-image`, `audio`, `video`):
    /// names of media files attached to the version, per language when translated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub media: BTreeMap<String, Text>,
}

impl Choice {
    /// A choice with no code system and no score.
    pub fn new(value: &str, label: Text) -> Self {
        Choice {
            value: value.to_owned(),
            label,
            system: None,
            score: None,
            uncoded: false,
            attributes: BTreeMap::new(),
            media: BTreeMap::new(),
        }
    }
}

/// A media file attached to a version: an image, a sound or a video that a label or a choice
/// shows, described here by its type, size and digest. The server keeps the bytes, found by
/// the digest, so a definition stays small and a version that names the same file as the
/// last one shares its bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaFile {
    /// The media type the file's name gives (`image/png`), which its bytes were checked to be.
    pub media_type: String,
    pub size: u64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
}

/// A code from a terminology, kept as given (FHIR `Coding`).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// What the values of a select field's choices are, when they are not codes: the answer is
/// still the choice's value as text (`"3"`, `"2026-01-31"`, `"08:30:00"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChoiceType {
    /// Free strings (FHIR `answerOption.valueString` on a `string` item).
    String,
    Integer,
    Date,
    Time,
}

/// One field of an app: a question, a note, a calculation, or a group/repeat of fields.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Text>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_message: Option<Text>,
    /// Expression that must be true for an answer; `.` is the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint_message: Option<Text>,
    /// Expression: when false the field is hidden and must not be answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant: Option<String>,
    /// Expression computing a `calculate` field's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calculation: Option<String>,
    /// Fields whose change alone sets this field (XLSForm `trigger`): the calculation is then
    /// evaluated when one of them changes, not kept up to date, and the field is cleared when
    /// it has none; a question stays editable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trigger: Vec<String>,
    /// Initial answer offered by the client, in the answer encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// Inline choices of a select field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// Name of an app-level choice list, instead of inline choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_list: Option<String>,
    /// Name of a field inside a repeat whose answers are the choices, instead of inline
    /// choices or a list (XLSForm `select_one ${name}`): each row's non-empty answer is one
    /// choice, its value and label the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices_from: Option<String>,
    /// Name of a data file attached to the app version (`fruits.csv`, XLSForm
    /// `select_one_from_file`) whose rows are the choices, instead of inline choices or a
    /// list. Until the file is attached the field offers nothing, and lint says so as an
    /// error, which blocks publication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_file: Option<String>,
    /// Expression deciding, for each choice, whether it is offered (XLSForm `choice_filter`):
    /// bare names read the choice (`name` is its value, `label` its label, other names its
    /// attributes) and `${name}` the answers. A chosen value must pass it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_filter: Option<String>,
    /// Display hint for the client (XLSForm `appearance`); not interpreted by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appearance: Option<String>,
    /// UCUM unit of a numeric answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Other UCUM units the client may submit the answer in (`{"value": …, "unit": …}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_units: Vec<String>,
    /// LOINC code: a coded numeric field yields an observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Why a free-text or attachment field collects what it does (PHI purpose note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Step of a `range` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// Fields inside a group or repeat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Field>,
    /// Fewest rows of a repeat, or fewest choices of a `select_multiple`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u32>,
    /// Most rows of a repeat, or most choices of a `select_multiple`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    /// A repeat that is one question answered as a list (a FHIR question item with
    /// `repeats`): its first child is the question, answered once per row; any other children
    /// follow each answer. Rows are answers, so the question is required in every row.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answer_list: bool,
    /// Expression for the exact number of rows of a repeat (XLSForm `repeat_count`): the
    /// client offers exactly that many rows and the person cannot add or remove one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_count: Option<String>,
    /// Expression: when true an answer is required (XLSForm `required` written as an
    /// expression); `required: true` is the constant case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_if: Option<String>,
    /// Expression: while true the field is read-only, its answer its default (XLSForm
    /// `read_only` written as an expression; `.` is the answer); `read_only: true` is the
    /// constant case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_if: Option<String>,
    /// The person cannot change the answer: it is the default or the calculation. A field
    /// with a calculation is read-only whether or not this says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Expression for the initial answer, evaluated once when the form is opened, where the
    /// default is not a constant (XLSForm `default` such as `today()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_expression: Option<String>,
    /// Longer guidance shown on request (XLSForm `guidance_hint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance_hint: Option<Text>,
    /// Media shown with the label, by kind (`image`, `big-image`, `audio`, `video`): file
    /// names, per language when translated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub media: BTreeMap<String, Text>,
    /// Display parameters for the client that do not change what is valid (`randomize`,
    /// `seed`, `tick_interval`, `placeholder`, `max-pixels`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Recorded by the client itself (XLSForm metadata types); the field then needs no label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill: Option<Prefill>,
    /// The identifier another system knows this field by (a FHIR `linkId`) when it is not a
    /// valid field name; the name is then derived from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_id: Option<String>,
    /// Codes of the question in any terminology, as given; `code` stays the one LOINC code
    /// that derives an observation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Coding>,
    /// A label prefix such as a question number (`1.a`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Text>,
    /// The client does not show the field; its value is still recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// A select field that also takes a free-text answer besides its choices.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open: bool,
    /// The kind of value a select field's choices are, when not codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice_type: Option<ChoiceType>,
    /// Most characters of a text answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

impl Field {
    /// A field of `field_type` named `name`, everything else empty.
    pub fn new(name: &str, field_type: FieldType) -> Self {
        Field {
            name: name.to_owned(),
            field_type,
            ..Field::default()
        }
    }
}

/// Which fields carry the three NEWS2 parameters that have no LOINC vital-sign code. The
/// other four (respiration rate, SpO2, systolic pressure, pulse, temperature) are found by
/// their catalogue LOINC code.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct News2Mapping {
    /// A boolean (true = on supplemental oxygen) or select_one with choices `air`/`oxygen`.
    pub oxygen: String,
    /// A select_one with choices among `alert`, `confusion`, `voice`, `pain`, `unresponsive`.
    pub consciousness: String,
    /// Optional select_one with choices `scale1`/`scale2`; Scale 1 when absent or unanswered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spo2_scale: Option<String>,
}

/// A health-check app as the analyst defines it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppDefinition {
    /// Always `hale.app/1` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub title: Text,
    /// Free version label, e.g. `2026-01`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default = "default_language")]
    pub default_language: String,
    /// Every language the texts are written in; the default language is implied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// How often participants are asked, e.g. `daily`; a hint for the scheduler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Name of the server's rate-limit policy for submissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_policy: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub choice_lists: BTreeMap<String, Vec<Choice>>,
    /// Data files attached to this version, by file name (`fruits.csv`, `shops.xml`): what
    /// `choice_file` offers and `pulldata()` reads. Each row is one entry: its `name` column
    /// the value (the row's number when the file has none), its `label` the label, every
    /// other column an attribute.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data_files: BTreeMap<String, Vec<Choice>>,
    /// Media files attached to this version, by file name (`pain.png`): what the `media` of
    /// fields and choices name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub media_files: BTreeMap<String, MediaFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub news2: Option<News2Mapping>,
    /// Codes of the whole form in any terminology (e.g. the LOINC panel it implements).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<Coding>,
    pub fields: Vec<Field>,
}

fn default_language() -> String {
    "en".to_owned()
}

/// A problem in a definition, with the JSON path of the member at fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DefinitionError {
    pub path: String,
    pub code: &'static str,
    pub message: String,
}

pub(crate) fn definition_error(path: &str, code: &'static str, message: &str) -> DefinitionError {
    DefinitionError {
        path: path.to_owned(),
        code,
        message: message.to_owned(),
    }
}

impl AppDefinition {
    /// An app with a title and fields, everything else at its default.
    pub fn new(title: &str, fields: Vec<Field>) -> Self {
        AppDefinition {
            format: None,
            title: Text::Plain(title.to_owned()),
            version: None,
            default_language: default_language(),
            languages: Vec::new(),
            schedule: None,
            rate_limit_policy: None,
            choice_lists: BTreeMap::new(),
            data_files: BTreeMap::new(),
            media_files: BTreeMap::new(),
            news2: None,
            codes: Vec::new(),
            fields,
        }
    }

    /// Parses the JSON text of a definition through the strict reader: a repeated key, deep
    /// nesting or an unrepresentable value is refused with its own code before the typed parse.
    pub fn from_json(text: &str) -> Result<Self, Vec<DefinitionError>> {
        hale_domain::json::check(text.as_bytes()).map_err(|error| {
            let code = match error.kind {
                hale_domain::json::JsonErrorKind::Malformed => "malformed_definition",
                kind => kind.code(),
            };
            vec![DefinitionError {
                path: String::from("$"),
                code,
                message: format!("definition is not valid: {error}"),
            }]
        })?;
        serde_json::from_str(text).map_err(|error| {
            vec![DefinitionError {
                path: String::from("$"),
                code: "malformed_definition",
                message: format!(
                    "definition is not valid: {} (line {}, column {})",
                    describe_serde_error(&error),
                    error.line(),
                    error.column()
                ),
            }]
        })
    }

    /// The definition as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The choices a select names rather than lists inline, with the member that names them:
    /// its `choice_list`'s, else its `choice_file`'s rows (none while there is no such list or
    /// the file is not attached); `None` for inline choices.
    pub fn named_choices<'a>(&'a self, field: &Field) -> Option<(&'static str, &'a [Choice])> {
        let (member, named) = match (&field.choice_list, &field.choice_file) {
            (Some(list), _) => ("choice_list", self.choice_lists.get(list)),
            (None, Some(file)) => ("choice_file", self.data_files.get(file)),
            (None, None) => return None,
        };
        Some((member, named.map(Vec::as_slice).unwrap_or_default()))
    }

    /// A select's choices: its list's, its data file's rows, or its own.
    pub fn choices_of<'a>(&'a self, field: &'a Field) -> &'a [Choice] {
        self.named_choices(field)
            .map_or(&field.choices, |(_, choices)| choices)
    }

    /// Every field, depth first, with its JSON path.
    pub fn walk(&self) -> Vec<(String, &Field)> {
        let mut out = Vec::new();
        fn visit<'a>(fields: &'a [Field], prefix: &str, out: &mut Vec<(String, &'a Field)>) {
            for (index, field) in fields.iter().enumerate() {
                let path = format!("{prefix}[{index}]");
                out.push((path.clone(), field));
                visit(&field.children, &format!("{path}.children"), out);
            }
        }
        visit(&self.fields, "$.fields", &mut out);
        out
    }
}

/// Whether `name` is a valid field or choice-list name: what `${name}` can refer to.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Extensions a data file may have: the two formats `select_one_from_file` and `pulldata()`
/// read.
pub const DATA_FILE_EXTENSIONS: [&str; 2] = ["csv", "xml"];

/// Why a name is no data file's name.
pub const DATA_FILE_NAME_MESSAGE: &str =
    "a data file is named like fruits.csv or shops.xml: letters, digits, _, - and .";

/// Whether `name` can name a data file attached to a version: at most 64 letters, digits,
/// `_`, `-` and `.`, not starting with `.`, ending in `.csv` or `.xml` after a non-empty stem.
pub fn is_data_file_name(name: &str) -> bool {
    file_extension(name).is_some_and(|extension| DATA_FILE_EXTENSIONS.contains(&extension))
}

/// The extension of a name a file attached to a version may have: at most 64 letters,
/// digits, `_`, `-` and `.`, not starting with `.`, a non-empty stem before the last `.`.
fn file_extension(name: &str) -> Option<&str> {
    let (stem, extension) = name.rsplit_once('.')?;
    let plain = name.len() <= 64
        && !stem.is_empty()
        && !stem.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    plain.then_some(extension)
}

/// The media files a version can carry, by extension, with their media types. SVG is not
/// among them: an SVG image can hold script.
pub const MEDIA_TYPES: [(&str, &str); 12] = [
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("oga", "audio/ogg"),
    ("wav", "audio/wav"),
    ("m4a", "audio/mp4"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
];

/// Why a name is no media file's name.
pub const MEDIA_FILE_NAME_MESSAGE: &str = "a media file is named like pain.png, cough.mp3 or \
     exercise.mp4 (png, jpg, gif, webp, mp3, ogg, wav, m4a, mp4, webm): letters, digits, _, - and .";

/// The media type of the media file `name` names (`pain.png` → `image/png`), when it can name
/// one: the rules of a data file's name, with one of [`MEDIA_TYPES`]' extensions in any case.
pub fn media_type_of(name: &str) -> Option<&'static str> {
    let extension = file_extension(name)?.to_ascii_lowercase();
    MEDIA_TYPES
        .iter()
        .find(|(known, _)| *known == extension)
        .map(|(_, media_type)| *media_type)
}

/// Whether a file of `media_type` can be shown as the media `kind` of a label (`image` and
/// `big-image` take images, `audio` sounds, `video` videos).
pub fn fits_media_kind(kind: &str, media_type: &str) -> bool {
    let family = media_type.split('/').next().unwrap_or("");
    match kind {
        "image" | "big-image" => family == "image",
        "audio" => family == "audio",
        "video" => family == "video",
        _ => false,
    }
}

/// The data file `pulldata()` names by its stem: `stem.csv`, else `stem.xml`.
pub fn data_file<'a>(files: &'a BTreeMap<String, Vec<Choice>>, stem: &str) -> Option<&'a [Choice]> {
    DATA_FILE_EXTENSIONS
        .iter()
        .find_map(|extension| files.get(&format!("{stem}.{extension}")))
        .map(Vec::as_slice)
}

/// serde's messages can quote the input; keep only the category and our own words.
fn describe_serde_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    // serde_json reports unknown members as "unknown field `x`, expected …": the member name is
    // the analyst's own schema text, not PHI, so it is safe and useful to keep.
    match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            String::from("malformed JSON")
        }
        _ => text
            .split(" at line ")
            .next()
            .unwrap_or("invalid definition")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_members_are_refused() {
        let errors = AppDefinition::from_json(
            r#"{"title":"t","fields":[{"name":"a","type":"integer","label":"A","maximum":3}]}"#,
        )
        .unwrap_err();
        assert_eq!(errors[0].code, "malformed_definition");
        assert!(
            errors[0].message.contains("maximum"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn json_round_trips() {
        let text = r#"{"title":{"en":"T","fr":"T"},"languages":["fr"],"choice_lists":{"yn":[{"value":"y","label":"Yes"}]},
            "fields":[{"name":"g","type":"group","children":[{"name":"a","type":"select_one","label":"A","choice_list":"yn"}]}]}"#;
        let definition = AppDefinition::from_json(text).unwrap();
        let again = AppDefinition::from_json(&definition.to_json()).unwrap();
        assert_eq!(definition, again);
        assert_eq!(definition.walk().len(), 2);
    }
}
