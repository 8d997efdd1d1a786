//! The survey's `parameters` column: `key=value` pairs (separated by spaces, `;` or `,`, as
//! the reference converter reads them), per question type. Range bounds take XLSForm's
//! defaults (start 1, end 10, step 1, as the reference converter has them); display parameters pass to the client untouched.

use super::ImportError;
use crate::definition::{Field, FieldType, Prefill};

/// What an audit log the client keeps records: locations (how precisely, how often, how
/// old), changed answers (and why they were changed), and who filled the form.
const AUDIT_KEYS: [&str; 6] = [
    "location-priority",
    "location-min-interval",
    "location-max-age",
    "track-changes",
    "track-changes-reasons",
    "identify-user",
];

/// Display parameters each type takes besides the ones that change what is valid.
fn display_keys(kind: FieldType, audit: bool, from_file: bool) -> &'static [&'static str] {
    match kind {
        _ if audit => &AUDIT_KEYS,
        // A select from a data file also names the file's value and label columns.
        FieldType::SelectOne | FieldType::SelectMultiple if from_file => {
            &["randomize", "seed", "value", "label"]
        }
        FieldType::Range => &["tick_interval", "placeholder", "tick_labelset"],
        FieldType::SelectOne | FieldType::SelectMultiple => &["randomize", "seed"],
        FieldType::Photo => &["max-pixels", "app"],
        FieldType::File => &["app"],
        FieldType::Audio => &["quality"],
        FieldType::Geopoint => &[
            "allow-mock-accuracy",
            "capture-accuracy",
            "warning-accuracy",
        ],
        FieldType::Geotrace | FieldType::Geoshape => &["allow-mock-accuracy", "incremental"],
        FieldType::Text => &["rows"],
        _ => &[],
    }
}

fn error(errors: &mut Vec<ImportError>, row: usize, code: &'static str, message: String) {
    errors.push(ImportError {
        sheet: String::from("survey"),
        row,
        column: String::from("parameters"),
        code,
        message,
    });
}

/// Reads `text` into `field`, reporting every bad pair.
pub(crate) fn read(errors: &mut Vec<ImportError>, text: &str, row: usize, field: &mut Field) {
    let kind = field.field_type;
    let audit = field.prefill == Some(Prefill::Audit);
    if kind == FieldType::Range {
        field.min = field.min.or(Some(1.0));
        field.max = field.max.or(Some(10.0));
        field.step = field.step.or(Some(1.0));
    }
    let pairs = text
        .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .filter(|pair| !pair.is_empty());
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            error(
                errors,
                row,
                "invalid_parameter",
                String::from("parameters are written key=value"),
            );
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        // As the reference converter reads them, values are lower-cased (`randomize=True` is
        // `true`), except those that name something in a file.
        let value = match key.as_str() {
            "label" | "value" => value.trim().to_owned(),
            _ => value.trim().to_lowercase(),
        };
        let value = value.as_str();
        let bound = match (kind, key.as_str()) {
            (FieldType::Range, "start") => Some(&mut field.min),
            (FieldType::Range, "end") => Some(&mut field.max),
            (FieldType::Range, "step") => Some(&mut field.step),
            _ => None,
        };
        if let Some(slot) = bound {
            match value.parse::<f64>() {
                Ok(number) if number.is_finite() => *slot = Some(number),
                _ => error(
                    errors,
                    row,
                    "not_a_number",
                    format!("the range parameter {key} must be a number"),
                ),
            }
            continue;
        }
        if !display_keys(kind, audit, field.choice_file.is_some()).contains(&key.as_str()) {
            error(
                errors,
                row,
                "unsupported_parameter",
                // The key is the analyst's text: not repeated, so a huge cell makes no huge error.
                format!(
                    "a {} question takes none of these parameters; see the XLSForm parameters a type takes",
                    kind.as_str()
                ),
            );
            continue;
        }
        if let Some(problem) = check_display(&key, value) {
            error(errors, row, "invalid_parameter", problem);
            continue;
        }
        field.parameters.insert(key, value.to_owned());
    }
    if audit && let Some(problem) = audit_location_problem(field) {
        error(errors, row, "invalid_parameter", problem);
    }
    if field.parameters.contains_key("seed") && !field.parameters.contains_key("randomize") {
        error(
            errors,
            row,
            "invalid_parameter",
            String::from("seed needs randomize=true"),
        );
    }
}

/// The field `${name}` names, when that is all the text is (a `seed` read from a field, a
/// `repeat_count` the reference converter uses as it is).
pub(crate) fn plain_reference(value: &str) -> Option<&str> {
    value
        .strip_prefix("${")?
        .strip_suffix('}')
        .filter(|name| crate::definition::is_valid_name(name))
}

/// An audit records locations only with all three location parameters, and keeps none older
/// than the interval between them, as the reference converter requires.
fn audit_location_problem(field: &Field) -> Option<String> {
    let location = [
        "location-priority",
        "location-min-interval",
        "location-max-age",
    ]
    .map(|key| field.parameters.get(key));
    if location.iter().all(Option::is_none) {
        return None;
    }
    let [Some(_), Some(interval), Some(age)] = location else {
        return Some(String::from(
            "an audit with locations needs location-priority, location-min-interval and location-max-age",
        ));
    };
    let (interval, age) = (interval.parse::<f64>().ok()?, age.parse::<f64>().ok()?);
    (age < interval)
        .then(|| String::from("location-max-age must be at least location-min-interval"))
}

/// The rules the reference converter applies to display parameters.
fn check_display(key: &str, value: &str) -> Option<String> {
    let whole = |text: &str| text.parse::<u32>().is_ok_and(|number| number > 0);
    match key {
        "location-priority" => (!matches!(
            value,
            "no-power" | "low-power" | "balanced" | "high-accuracy"
        ))
        .then(|| {
            String::from("location-priority is no-power, low-power, balanced or high-accuracy")
        }),
        // Seconds, zero or more.
        "location-min-interval" | "location-max-age" => (!value
            .parse::<f64>()
            .is_ok_and(|number| number.is_finite() && number >= 0.0))
        .then(|| format!("{key} is a number of seconds, zero or more")),
        "track-changes-reasons" => {
            (value != "on-form-edit").then(|| String::from("track-changes-reasons is on-form-edit"))
        }
        "randomize" | "allow-mock-accuracy" | "incremental" | "track-changes" | "identify-user" => {
            (!matches!(value, "true" | "false")).then(|| format!("{key} is true or false"))
        }
        "quality" => (!matches!(value, "voice-only" | "low" | "normal" | "external"))
            .then(|| String::from("an audio quality is voice-only, low, normal or external")),
        // A number, or a field to read it from (written `${name}` and nothing else).
        "seed" => (value.parse::<f64>().is_err() && plain_reference(value).is_none())
            .then(|| String::from("seed is a number or a reference to a field, ${name}")),
        "max-pixels" | "rows" => {
            (!whole(value)).then(|| format!("{key} is a whole number above zero"))
        }
        "tick_interval" | "placeholder" | "capture-accuracy" | "warning-accuracy" => value
            .parse::<f64>()
            .ok()
            .filter(|number| number.is_finite())
            .is_none()
            .then(|| format!("{key} must be a number")),
        _ => None,
    }
}
