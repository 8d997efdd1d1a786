//! Checks on one field, on choice lists and on the NEWS2 mapping, each reporting into a shared
//! error list so that compile reports every problem at once.

use std::cmp::Ordering;
use std::collections::HashSet;

use crate::compile::CompiledField;
use crate::definition::{
    AppDefinition, Choice, DATA_FILE_NAME_MESSAGE, DefinitionError, Field, FieldType, News2Mapping,
    definition_error as error, is_data_file_name, is_valid_name,
};

/// Choice values a NEWS2 consciousness field may use, in ACVPU order.
pub const ACVPU_VALUES: [&str; 5] = ["alert", "confusion", "voice", "pain", "unresponsive"];
/// Choice values of a NEWS2 oxygen field written as select_one.
pub const OXYGEN_VALUES: [&str; 2] = ["air", "oxygen"];
/// Choice values of a NEWS2 SpO2 scale field.
pub const SCALE_VALUES: [&str; 2] = ["scale1", "scale2"];

/// A choice value is words separated by single spaces (the shape of a FHIR `code`). XLSForm
/// allows spaces in a select_one's choice names; a field whose answer lists several choices
/// refuses them ([`spaced_choices_problem`]).
fn is_choice_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .split(' ')
            .all(|word| !word.is_empty() && !word.contains(char::is_whitespace))
}

/// In XLSForm a select_multiple's or a rank's answer is its choice values separated by spaces,
/// so a value with a space would read as two: such a field's choices have none.
fn spaced_choices_problem(
    field: &Field,
    app: &AppDefinition,
    path: &str,
) -> Option<DefinitionError> {
    if !field.field_type.lists_choices() {
        return None;
    }
    let message = "a select_multiple's or rank's choice values have no spaces: its XLSForm answer is its values separated by spaces";
    match app.named_choices(field) {
        Some((member, list)) => list
            .iter()
            .any(|choice| choice.value.contains(' '))
            .then(|| error(&format!("{path}.{member}"), "invalid_choice_value", message)),
        None => field
            .choices
            .iter()
            .position(|choice| choice.value.contains(' '))
            .map(|index| {
                error(
                    &format!("{path}.choices[{index}].value"),
                    "invalid_choice_value",
                    message,
                )
            }),
    }
}

pub(crate) fn check_choices(choices: &[Choice], path: &str, errors: &mut Vec<DefinitionError>) {
    if choices.is_empty() {
        errors.push(error(
            path,
            "choices_missing",
            "a choice list needs at least one choice",
        ));
    }
    let mut values = HashSet::new();
    for (index, choice) in choices.iter().enumerate() {
        if !is_choice_value(&choice.value) {
            errors.push(error(
                &format!("{path}[{index}].value"),
                "invalid_choice_value",
                "a choice value is non-empty, with no white space but single spaces between words",
            ));
        } else if !values.insert(choice.value.as_str()) {
            errors.push(error(
                &format!("{path}[{index}].value"),
                "duplicate_choice",
                &format!("choice value '{}' is used twice", choice.value),
            ));
        }
        // `name` and `label` are the choice's own value and label in a choice filter.
        if choice
            .attributes
            .keys()
            .any(|key| !is_valid_name(key) || key == "name" || key == "label")
        {
            errors.push(error(
                &format!("{path}[{index}].attributes"),
                "invalid_name",
                "an attribute name is a plain name like a field's, other than 'name' and 'label'",
            ));
        }
    }
}

/// A select whose choices are the rows of a data file: the file's name must be one a data
/// file can have, and no other source of choices may be given. A file not attached yet is no
/// error here (the draft stays editable); lint reports it, and it blocks publication.
fn choice_file_problem(field: &Field, push: &mut impl FnMut(&str, &'static str, &str)) {
    if !field.choices.is_empty() || field.choice_list.is_some() {
        push(
            "choice_file",
            "choices_and_list",
            "give a choice file, inline choices or a choice list, only one",
        );
    }
    if field
        .choice_file
        .as_deref()
        .is_some_and(|name| !is_data_file_name(name))
    {
        push("choice_file", "invalid_data_file", DATA_FILE_NAME_MESSAGE);
    }
}

/// What a select whose choices are a repeat's answers (`choices_from`) may not have: they are
/// read from the rows alone, so it is a select_one or select_multiple with no other choices and
/// no free answer. Where the named field is and what it answers is checked with the other
/// references.
fn repeat_choices_problem(field: &Field, push: &mut impl FnMut(&str, &'static str, &str)) {
    let select = matches!(
        field.field_type,
        FieldType::SelectOne | FieldType::SelectMultiple
    );
    if !select {
        push(
            "choices_from",
            "choices_on_non_select",
            "choices_from applies only to select_one and select_multiple fields",
        );
    }
    if !field.choices.is_empty() || field.choice_list.is_some() || field.choice_file.is_some() {
        push(
            "choices_from",
            "choices_and_list",
            "give choices_from, inline choices, a choice list or a choice file, only one",
        );
    }
    // Other types are told that open and choice_type are a select's, with the other checks.
    if select && (field.open || field.choice_type.is_some()) {
        push(
            "open",
            "choices_on_non_select",
            "open and choice_type do not apply to choices from a repeat's answers",
        );
    }
}

pub(crate) fn check_field(
    field: &Field,
    path: &str,
    app: &AppDefinition,
    errors: &mut Vec<DefinitionError>,
) {
    let kind = field.field_type;
    let mut push = |member: &str, code: &'static str, message: &str| {
        let at = if member.is_empty() {
            path.to_owned()
        } else {
            format!("{path}.{member}")
        };
        errors.push(error(&at, code, message));
    };
    // As in XLSForm, a hint or a label image is enough to show the person what to answer;
    // values the client records itself are shown to no one.
    if field.name == "meta" {
        push(
            "name",
            "reserved_name",
            "'meta' is reserved for the form's metadata",
        );
    }
    if field
        .appearance
        .as_deref()
        .is_some_and(|appearance| appearance.contains("search("))
    {
        push(
            "appearance",
            "attached_data_unsupported",
            "search() reads choices from an attached file, which Hale does not keep yet",
        );
    }
    let labelled = ((kind.is_answered() && !kind.is_container()) || kind == FieldType::Note)
        && field.prefill.is_none()
        && field.calculation.is_none();
    if labelled && field.label.is_none() && field.hint.is_none() && field.media.is_empty() {
        push(
            "label",
            "label_missing",
            "this field needs a label or a hint",
        );
    }
    if let Some(prefill) = field.prefill
        && (prefill.field_type() != kind || field.calculation.is_some())
    {
        push(
            "prefill",
            "prefill_mismatch",
            &format!(
                "a value recorded by the client is a {} without a calculation",
                prefill.field_type().as_str()
            ),
        );
    }
    let numeric = kind.is_numeric();
    let measured = numeric || kind == FieldType::Calculate;
    if !numeric && (field.min.is_some() || field.max.is_some()) {
        push(
            "",
            "bounds_on_non_numeric",
            "min and max apply only to integer, decimal and range fields",
        );
    }
    if !measured && (field.unit.is_some() || !field.accepted_units.is_empty()) {
        push(
            "unit",
            "unit_on_non_numeric",
            "a unit applies only to integer, decimal, range and calculate fields",
        );
    }
    if let (Some(min), Some(max)) = (field.min, field.max)
        && min > max
    {
        push("", "min_above_max", "min is greater than max");
    }
    if kind == FieldType::Range && (field.min.is_none() || field.max.is_none()) {
        push("", "range_bounds_missing", "a range needs min and max");
    }
    match (kind, field.step) {
        (FieldType::Range, Some(step)) if !(step > 0.0 && step.is_finite()) => push(
            "step",
            "invalid_step",
            "a range's step is a positive number",
        ),
        (FieldType::Range, _) | (_, None) => {}
        (_, Some(_)) => push(
            "step",
            "step_on_non_range",
            "step applies only to range fields",
        ),
    }
    if let Some(unit) = &field.unit {
        // Any UCUM unit may be a field's own; whether it is one is checked here only, not in
        // the browser, which renders forms the server has compiled.
        if let Err(error) = hale_clinical::Unit::parse(unit) {
            push("unit", "unknown_unit", &error.to_string());
        }
        // Answers in another unit are converted in the browser as well as here, and both
        // convert between the catalogue's units only.
        for (index, other) in field.accepted_units.iter().enumerate() {
            let convertible = [unit, other]
                .iter()
                .all(|code| hale_clinical::vitals::is_catalogue_unit(code))
                && hale_clinical::convert(1.0, other, unit).is_ok();
            if !convertible {
                push(
                    &format!("accepted_units[{index}]"),
                    "unit_not_convertible",
                    &format!(
                        "'{other}' cannot be converted to '{unit}' (answers are converted between the vital-signs catalogue's units)"
                    ),
                );
            }
        }
    } else if !field.accepted_units.is_empty() {
        push(
            "unit",
            "code_without_unit",
            "accepted units need the field's own unit",
        );
    }
    if let Some(code) = &field.code {
        if !measured {
            push(
                "code",
                "code_on_non_numeric",
                "a LOINC code derives an observation and needs a numeric or calculate field",
            );
        }
        match (&field.unit, hale_clinical::vital(code)) {
            (None, _) => push(
                "unit",
                "code_without_unit",
                "a coded field needs a UCUM unit",
            ),
            (Some(unit), Some(vital)) => {
                let all_accepted = std::iter::once(unit)
                    .chain(&field.accepted_units)
                    .all(|unit| vital.accepted_units.contains(&unit.as_str()));
                if !all_accepted {
                    push(
                        "unit",
                        "unit_disagrees_with_catalogue",
                        &format!(
                            "LOINC {code} ({}) is recorded in {}; this field's units must be among {}",
                            vital.display,
                            vital.canonical_unit,
                            vital.accepted_units.join(", ")
                        ),
                    );
                }
            }
            (Some(_), None) => {}
        }
    }
    if field.choices_from.is_some() {
        repeat_choices_problem(field, &mut push);
    } else if kind.is_select() && field.choice_file.is_some() {
        choice_file_problem(field, &mut push);
    } else if kind.is_select() {
        match (&field.choice_list, field.choices.is_empty()) {
            (Some(_), false) => push(
                "choice_list",
                "choices_and_list",
                "give inline choices or a choice list, not both",
            ),
            (Some(list), true) => {
                if !app.choice_lists.contains_key(list) {
                    push(
                        "choice_list",
                        "choice_list_missing",
                        &format!("there is no choice list named '{list}'"),
                    );
                }
            }
            (None, _) => check_choices(&field.choices, &format!("{path}.choices"), errors),
        }
    } else {
        if !field.choices.is_empty() || field.choice_list.is_some() || field.choice_file.is_some() {
            push(
                "choices",
                "choices_on_non_select",
                "choices apply only to select_one, select_multiple and rank fields",
            );
        }
        if field.choice_filter.is_some() {
            push(
                "choice_filter",
                "choices_on_non_select",
                "choice_filter applies only to select_one, select_multiple and rank fields",
            );
        }
    }
    errors.extend(spaced_choices_problem(field, app, path));
    let mut push = |member: &str, code: &'static str, message: &str| {
        errors.push(error(&format!("{path}.{member}"), code, message));
    };
    if let Some(problem) = tick_labels_problem(app, field) {
        push("parameters", "invalid_parameter", &problem);
    }
    // A group or repeat may be empty, as in XLSForm: it shows its label and holds nothing.
    if !field.children.is_empty() && kind == FieldType::Calculate {
        // Questions may hold follow-up fields (FHIR items nested under a question), shown
        // with their question; a calculation is shown to no one, so nothing can follow it.
        push(
            "children",
            "children_on_non_group",
            "a calculate field holds no fields",
        );
    }
    // A ranking orders the choices it offers, so it takes no free answer.
    if (field.open || field.choice_type.is_some()) && (!kind.is_select() || kind == FieldType::Rank)
    {
        push(
            "open",
            "choices_on_non_select",
            "open and choice_type apply only to select_one and select_multiple fields",
        );
    }
    if field.max_length.is_some() && kind != FieldType::Text {
        push(
            "max_length",
            "max_length_on_non_text",
            "max_length applies only to text fields",
        );
    }
    if field.link_id.as_deref().is_some_and(str::is_empty)
        || field.codes.iter().any(|coding| coding.code.is_empty())
    {
        push(
            "link_id",
            "invalid_identifier",
            "a link_id and every code is non-empty",
        );
    }
    let counted = matches!(kind, FieldType::Repeat | FieldType::SelectMultiple);
    if !counted && (field.min_count.is_some() || field.max_count.is_some()) {
        push(
            "min_count",
            "count_on_non_repeat",
            "min_count and max_count apply only to repeats and select_multiple fields",
        );
    }
    if field.answer_list {
        let question = field.children.first();
        if kind != FieldType::Repeat {
            push(
                "answer_list",
                "answer_list_on_non_repeat",
                "answer_list applies only to repeats",
            );
        } else if !question.is_some_and(|question| {
            question.field_type.is_answered()
                && !question.field_type.is_container()
                && question.calculation.is_none()
                && question.required
                && question.relevant.is_none()
                && question.default.is_none()
        }) {
            push(
                "answer_list",
                "answer_list_question",
                "an answer list's first child is its question: an answered, required field with no calculation, relevance or default of its own (the list's default gives its first rows)",
            );
        }
    }
    if let (Some(low), Some(high)) = (field.min_count, field.max_count)
        && low > high
    {
        push(
            "min_count",
            "min_above_max",
            "min_count is greater than max_count",
        );
    }

    match (kind, field.calculation.is_some()) {
        (FieldType::Calculate, false) => push(
            "calculation",
            "calculation_missing",
            "a calculate field needs a calculation",
        ),
        // A typed question with a calculation is a read-only computed answer, as in XLSForm.
        (FieldType::Group | FieldType::Repeat, true) => push(
            "calculation",
            "calculation_on_non_calculate",
            "groups and repeats take no calculation",
        ),
        _ => {}
    }
    if !field.trigger.is_empty()
        && matches!(kind, FieldType::Note | FieldType::Group | FieldType::Repeat)
    {
        push(
            "trigger",
            "trigger_not_allowed",
            "only a question or a calculation is set by a trigger",
        );
    }
    if kind != FieldType::Repeat && field.repeat_count.is_some() {
        push(
            "repeat_count",
            "count_on_non_repeat",
            "repeat_count applies only to repeats",
        );
    }
    if field.default.is_some() && field.default_expression.is_some() {
        push(
            "default_expression",
            "default_and_expression",
            "give a constant default or a default expression, not both",
        );
    }
    let answered = kind.is_answered() && kind != FieldType::Repeat;
    if (field.required || field.required_if.is_some()) && !answered {
        push(
            "required",
            "required_not_allowed",
            "only answered fields can be required",
        );
    }
    if field.constraint.is_some() && !answered {
        push(
            "constraint",
            "constraint_not_allowed",
            "only answered fields take a constraint",
        );
    }
}

pub(crate) fn check_news2(
    mapping: Option<&News2Mapping>,
    fields: &[CompiledField],
    errors: &mut Vec<DefinitionError>,
) {
    let Some(mapping) = mapping else { return };
    let roles: [(&str, Option<&String>, &[&str]); 3] = [
        ("oxygen", Some(&mapping.oxygen), &OXYGEN_VALUES),
        ("consciousness", Some(&mapping.consciousness), &ACVPU_VALUES),
        ("spo2_scale", mapping.spo2_scale.as_ref(), &SCALE_VALUES),
    ];
    for (role, name, allowed) in roles {
        let Some(name) = name else { continue };
        let path = format!("$.news2.{role}");
        let Some(field) = fields.iter().find(|field| &field.name == name) else {
            errors.push(error(
                &path,
                "unknown_reference",
                &format!("NEWS2 {role} names no field '{name}'"),
            ));
            continue;
        };
        if fields.iter().filter(|field| &field.name == name).count() > 1 {
            errors.push(error(
                &path,
                "ambiguous_reference",
                &format!("NEWS2 {role} names more than one field '{name}'"),
            ));
            continue;
        }
        let boolean_ok = role == "oxygen" && field.field_type == FieldType::Boolean;
        let choices_ok = field.field_type == FieldType::SelectOne
            && field
                .choices
                .iter()
                .all(|choice| allowed.contains(&choice.value.as_str()));
        if field.repeat.is_some() || !(boolean_ok || choices_ok) {
            errors.push(error(
                &path,
                "news2_field_mismatch",
                &format!(
                    "NEWS2 {role} must be a select_one outside repeats with choices among {}{}",
                    allowed.join(", "),
                    if role == "oxygen" {
                        " (or a boolean)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
}

/// A range's `tick_labelset` parameter names the choice list that labels its ticks; with the
/// `no-ticks` appearance only its two ends are labelled, so the list holds exactly the start
/// and the end (the XLSForm specification's rules).
fn tick_labels_problem(app: &AppDefinition, field: &Field) -> Option<String> {
    if field.field_type != FieldType::Range {
        return None;
    }
    let name = field.parameters.get("tick_labelset")?;
    let Some(list) = app.choice_lists.get(name) else {
        return Some(format!(
            "tick_labelset names no choice list: there is no list '{name}'"
        ));
    };
    let no_ticks = field
        .appearance
        .as_deref()
        .is_some_and(|appearance| appearance.split_whitespace().any(|word| word == "no-ticks"));
    if !no_ticks {
        return None;
    }
    let by_value = |a: &Option<f64>, b: &Option<f64>| a.partial_cmp(b).unwrap_or(Ordering::Equal);
    // Repeated values (a list allowed duplicates) label the same tick.
    let mut values: Vec<Option<f64>> = list
        .iter()
        .map(|choice| choice.value.parse::<f64>().ok())
        .collect();
    values.sort_by(by_value);
    values.dedup();
    if values.len() != 2 {
        return Some(String::from(
            "with the no-ticks appearance, the tick_labelset list has exactly two values: the start and the end",
        ));
    }
    let mut ends = vec![field.min, field.max];
    ends.sort_by(by_value);
    (values != ends || values.contains(&None)).then(|| {
        String::from(
            "with the no-ticks appearance, the tick_labelset choices are the range's start and end values",
        )
    })
}
