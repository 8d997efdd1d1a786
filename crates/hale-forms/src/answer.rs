//! Reading submitted answers: the answers text through the strict JSON reader, then each
//! answer's JSON encoding checked against the field's type and turned into the expression
//! [`Value`] that relevance, constraints and calculations see. Problems carry a stable code and
//! a message that never quotes the answer.

use std::collections::{BTreeMap, HashSet};

use hale_domain::json;
use serde_json::value::RawValue;

use hale_expr::{DateTimeValue, DateValue, Value};

use crate::compile::CompiledField;
use crate::definition::{FieldType, is_valid_name};
use crate::validate::FieldError;

/// Largest magnitude an integer answer may have: every integer up to 2^53 is exactly an `f64`,
/// so the number validated is the number stored.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

fn answers_error(field: String, code: &'static str, message: String) -> Vec<FieldError> {
    vec![FieldError {
        field,
        code,
        message,
    }]
}

/// Reads the JSON text of a submission's answers, as it will be stored, into the object that
/// validation sees. Refused: text the strict reader refuses (a repeated key, deep nesting, an
/// out-of-range number, a lone surrogate), anything but an object, and a number literal that an
/// `f64` does not keep exactly, since validation would then judge another number than the one
/// stored.
pub fn parse_answers(
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Vec<FieldError>> {
    json::check(text.as_bytes())
        .map_err(|error| answers_error("answers".into(), error.code(), error.to_string()))?;
    let not_an_object = || {
        answers_error(
            "answers".into(),
            "not_an_object",
            "answers must be a JSON object".into(),
        )
    };
    let answers = serde_json::from_str(text).map_err(|_| not_an_object())?;
    if json::first_inexact_number(text).is_some() {
        let members: BTreeMap<String, &RawValue> =
            serde_json::from_str(text).map_err(|_| not_an_object())?;
        // Only a plausible field name is shown: the key is client-chosen text.
        let field = members
            .iter()
            .find(|(_, answer)| json::first_inexact_number(answer.get()).is_some())
            .map(|(name, _)| name.as_str())
            .filter(|name| is_valid_name(name))
            .unwrap_or("answers");
        return Err(answers_error(
            field.to_owned(),
            "inexact_number",
            "the number has more digits than can be kept exactly".into(),
        ));
    }
    Ok(answers)
}

/// Longest text answer, in characters.
pub const MAX_TEXT_LENGTH: usize = 10_000;
/// Longest attachment reference, in characters.
pub const MAX_ATTACHMENT_REFERENCE: usize = 256;

/// A readable answer: what expressions see, and for numeric fields the number in the field's
/// own unit (after converting a quantity entered in another accepted unit).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub value: Value,
    pub number: Option<f64>,
}

/// Why an answer could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem {
    pub code: &'static str,
    pub message: &'static str,
}

const fn problem(code: &'static str, message: &'static str) -> Problem {
    Problem { code, message }
}

fn number_answer(number: f64) -> Answer {
    Answer {
        value: Value::Number(number),
        number: Some(number),
    }
}

/// A number, or `{"value": n, "unit": u}` in one of the field's accepted units, in the field's
/// unit.
fn read_number(field: &CompiledField, json: &serde_json::Value) -> Result<f64, Problem> {
    if let Some(number) = json.as_f64() {
        return Ok(number);
    }
    let Some(object) = json.as_object() else {
        return Err(problem("not_a_number", "the answer must be a number"));
    };
    let quantity = (object.len() == 2)
        .then(|| {
            Some((
                object.get("value")?.as_f64()?,
                object.get("unit")?.as_str()?,
            ))
        })
        .flatten();
    let Some((number, unit)) = quantity else {
        return Err(problem(
            "invalid_quantity",
            "a quantity is {\"value\": number, \"unit\": UCUM unit}",
        ));
    };
    let Some(own) = &field.unit else {
        return Err(problem(
            "unit_not_accepted",
            "this field takes a plain number, without unit",
        ));
    };
    if unit == own {
        return Ok(number);
    }
    if !field.accepted_units.iter().any(|accepted| accepted == unit) {
        return Err(problem(
            "unit_not_accepted",
            "the unit is not one this field accepts",
        ));
    }
    let analyte = field
        .code
        .as_deref()
        .and_then(hale_clinical::vital)
        .and_then(|vital| vital.analyte);
    hale_clinical::convert_reading(number, unit, own, analyte)
        .map_err(|_| problem("unit_not_accepted", "the unit cannot be converted"))
}

fn is_time(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    let two_digits = |part: &str, limit: u32| {
        part.len() == 2 && part.parse::<u32>().is_ok_and(|number| number < limit)
    };
    matches!(parts.len(), 2 | 3)
        && two_digits(parts[0], 24)
        && two_digits(parts[1], 60)
        && parts.get(2).is_none_or(|seconds| two_digits(seconds, 60))
}

/// Reads one present (non-null) answer of a field that the client answers.
pub fn read_answer(field: &CompiledField, json: &serde_json::Value) -> Result<Answer, Problem> {
    let plain = |value: Value| Answer {
        value,
        number: None,
    };
    match field.field_type {
        FieldType::Integer => {
            let number = read_number(field, json)?;
            // A quantity converted from another unit is rarely whole; the integer rule applies
            // to what the person typed, so only plain numbers must be integers. As in XLSForm,
            // that means an integer literal: `84.0` and `8.4e1` are decimals.
            if json.is_number() && !(json.is_i64() || json.is_u64()) {
                return Err(problem(
                    "not_an_integer",
                    "the answer must be a whole number, written without a fraction or exponent",
                ));
            }
            if number.abs() > MAX_EXACT_INTEGER {
                return Err(problem(
                    "out_of_range",
                    "the answer is larger than a whole number Hale keeps exactly",
                ));
            }
            Ok(number_answer(number))
        }
        FieldType::Decimal | FieldType::Range => read_number(field, json).map(number_answer),
        FieldType::Text => {
            let text = json
                .as_str()
                .ok_or(problem("not_text", "the answer must be text"))?;
            if text.chars().count() > MAX_TEXT_LENGTH {
                return Err(problem(
                    "too_long",
                    "the answer is longer than 10000 characters",
                ));
            }
            if field
                .max_length
                .is_some_and(|most| text.chars().count() > most as usize)
            {
                return Err(problem(
                    "too_long",
                    "the answer is longer than the field's max_length",
                ));
            }
            Ok(plain(Value::String(text.to_owned())))
        }
        FieldType::SelectOne => {
            let choice = json.as_str().ok_or(problem(
                "not_a_choice",
                "the answer must be one choice value",
            ))?;
            if is_choice(field, choice) {
                Ok(plain(Value::String(choice.to_owned())))
            } else {
                Err(problem(
                    "invalid_choice",
                    "the answer is not one of the field's choices",
                ))
            }
        }
        // A ranking is read as a list of choices; that it orders every offered choice is
        // checked with the choice filter, which decides what is offered.
        FieldType::SelectMultiple | FieldType::Rank => {
            let picked = json.as_array().ok_or(problem(
                "not_a_choice_list",
                "the answer must be a list of choice values",
            ))?;
            let mut seen = HashSet::new();
            let mut values = Vec::with_capacity(picked.len());
            for item in picked {
                let Some(choice) = item.as_str().filter(|choice| is_choice(field, choice)) else {
                    return Err(problem(
                        "invalid_choice",
                        "an answer is not one of the field's choices",
                    ));
                };
                if !seen.insert(choice) {
                    return Err(problem("duplicate_choice", "a choice is given twice"));
                }
                values.push(choice.to_owned());
            }
            Ok(plain(Value::Multi(values)))
        }
        FieldType::Date => json
            .as_str()
            .filter(|text| text.len() == 10)
            .and_then(DateValue::parse)
            .map(|date| plain(Value::Date(date)))
            .ok_or(problem(
                "invalid_date",
                "the answer must be a date, YYYY-MM-DD",
            )),
        FieldType::Datetime => json
            .as_str()
            .and_then(DateTimeValue::parse_rfc3339)
            .map(|datetime| plain(Value::DateTime(datetime)))
            .ok_or(problem(
                "invalid_datetime",
                "the answer must be an RFC 3339 date-time with offset",
            )),
        FieldType::Time => json
            .as_str()
            .filter(|text| is_time(text))
            .map(|text| plain(Value::String(text.to_owned())))
            .ok_or(problem(
                "invalid_time",
                "the answer must be a time, HH:MM or HH:MM:SS",
            )),
        FieldType::Boolean => json
            .as_bool()
            .map(|flag| plain(Value::Bool(flag)))
            .ok_or(problem("not_a_boolean", "the answer must be true or false")),
        FieldType::Acknowledge => match json.as_bool() {
            Some(true) => Ok(plain(Value::Bool(true))),
            Some(false) => Err(problem(
                "not_acknowledged",
                "an acknowledgement is true; leave it out when not given",
            )),
            None => Err(problem("not_a_boolean", "the answer must be true")),
        },
        kind if kind.is_attachment() => read_attachment(kind, json).map(plain),
        kind if kind.is_location() => json
            .as_str()
            .filter(|text| is_location(kind, text))
            .map(|text| plain(Value::String(text.to_owned())))
            .ok_or(problem(
                "invalid_location",
                "the answer must be points \"lat lon [altitude [accuracy]]\" separated by ';': one for a geopoint, two or more for a geotrace, four or more ending where they began for a geoshape",
            )),
        FieldType::Barcode => json
            .as_str()
            .filter(|text| !text.is_empty() && text.chars().count() <= MAX_TEXT_LENGTH)
            .map(|text| plain(Value::String(text.to_owned())))
            .ok_or(problem(
                "invalid_barcode",
                "the answer must be the barcode's text, 1 to 10000 characters",
            )),
        _ => Err(problem(
            "not_answerable",
            "this field is not answered by the client",
        )),
    }
}

/// Largest attachment size an answer may state, in bytes.
pub const MAX_ATTACHMENT_SIZE: u64 = 100 * 1024 * 1024;

/// An attachment answer: its reference, as a string or as `{"reference", "media_type",
/// "size"}` (the last two optional). A stated media type must fit the field (an image for a
/// photo, audio for audio, video for video) and a stated size must be a whole number of bytes
/// up to [`MAX_ATTACHMENT_SIZE`]. Expressions see the reference.
fn read_attachment(kind: FieldType, json: &serde_json::Value) -> Result<Value, Problem> {
    let invalid = problem(
        "invalid_attachment",
        "the answer must be an attachment reference, or {\"reference\", \"media_type\", \"size\"}",
    );
    let reference = match json {
        serde_json::Value::String(reference) => reference,
        serde_json::Value::Object(members) => {
            if members
                .keys()
                .any(|key| !matches!(key.as_str(), "reference" | "media_type" | "size"))
            {
                return Err(invalid);
            }
            if let Some(media_type) = members.get("media_type") {
                let fits = media_type
                    .as_str()
                    .and_then(|media_type| media_type.split_once('/'))
                    .is_some_and(|(top, sub)| {
                        is_token(top)
                            && is_token(sub)
                            && match kind {
                                FieldType::Photo => top.eq_ignore_ascii_case("image"),
                                FieldType::Audio => top.eq_ignore_ascii_case("audio"),
                                FieldType::Video => top.eq_ignore_ascii_case("video"),
                                _ => true,
                            }
                    });
                if !fits {
                    return Err(problem(
                        "media_type_not_accepted",
                        "the attachment's media type is not one this field takes",
                    ));
                }
            }
            if let Some(size) = members.get("size")
                && size.as_u64().is_none_or(|size| size > MAX_ATTACHMENT_SIZE)
            {
                return Err(problem(
                    "attachment_too_large",
                    "an attachment's size is a whole number of bytes, at most 100 MiB",
                ));
            }
            members
                .get("reference")
                .and_then(serde_json::Value::as_str)
                .ok_or(invalid)?
        }
        _ => return Err(invalid),
    };
    let valid = !reference.is_empty()
        && reference.chars().count() <= MAX_ATTACHMENT_REFERENCE
        && !reference
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(Value::String(reference.to_owned()))
    } else {
        Err(problem(
            "invalid_attachment",
            "an attachment reference is at most 256 characters without spaces",
        ))
    }
}

/// An RFC 2045 token: what a media type's type and subtype are made of.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 127
        && text
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&byte))
}

/// A location answer as XLSForm clients write it: points separated by `;`, each two to four
/// decimals separated by spaces — latitude (−90 to 90), longitude (−180 to 180), then
/// altitude and a non-negative accuracy. A geotrace has two points or more; a geoshape four or
/// more, closed (its last point is its first).
fn is_location(kind: FieldType, text: &str) -> bool {
    if text.chars().count() > MAX_TEXT_LENGTH {
        return false;
    }
    let points: Vec<Vec<f64>> = match text.split(';').map(location_point).collect() {
        Some(points) => points,
        None => return false,
    };
    match kind {
        FieldType::Geopoint => points.len() == 1,
        FieldType::Geotrace => points.len() >= 2,
        _ => points.len() >= 4 && points.first() == points.last(),
    }
}

fn location_point(text: &str) -> Option<Vec<f64>> {
    let numbers: Vec<f64> = text
        .split(' ')
        .filter(|part| !part.is_empty())
        .map(plain_decimal)
        .collect::<Option<_>>()?;
    let in_range = match numbers.as_slice() {
        [latitude, longitude, rest @ ..] if rest.len() <= 2 => {
            latitude.abs() <= 90.0
                && longitude.abs() <= 180.0
                && rest.get(1).is_none_or(|accuracy| *accuracy >= 0.0)
        }
        _ => false,
    };
    in_range.then_some(numbers)
}

/// A decimal written plainly (`-33.86`, `151`, `.5`): an optional sign, digits with at most
/// one point, no exponent.
fn plain_decimal(text: &str) -> Option<f64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let fraction = parts.next().unwrap_or("");
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    let readable =
        (!whole.is_empty() || !fraction.is_empty()) && all_digits(whole) && all_digits(fraction);
    readable.then(|| text.parse::<f64>().ok()).flatten()
}

/// Converts a computed value to the answer encoding, to compare with a submitted calculate.
pub fn same_computed(computed: &Value, submitted: &serde_json::Value) -> bool {
    match (computed, submitted) {
        (Value::Number(number), serde_json::Value::Number(other)) => other
            .as_f64()
            .is_some_and(|other| (number - other).abs() <= 1e-9 * number.abs().max(1.0)),
        (Value::Bool(flag), serde_json::Value::Bool(other)) => flag == other,
        (_, serde_json::Value::String(text)) => &computed.as_string() == text,
        _ => false,
    }
}

/// A free-text answer to an open select: non-empty, within the text limit.
fn open_answer(field: &CompiledField, answer: &str) -> bool {
    field.open && !answer.trim().is_empty() && answer.chars().count() <= MAX_TEXT_LENGTH
}

/// Whether `answer` can be one of the field's choices: one of its own, a free answer to an
/// open select, or, for choices from a repeat's answers, a text that a row may have given
/// (that one did is checked with the rows, in validation).
fn is_choice(field: &CompiledField, answer: &str) -> bool {
    let from_rows = field.choices_from.is_some()
        && !answer.is_empty()
        && answer.chars().count() <= MAX_TEXT_LENGTH;
    from_rows || field.choices.iter().any(|c| c.value == answer) || open_answer(field, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> (String, &'static str) {
        let errors = parse_answers(text).unwrap_err();
        assert_eq!(errors.len(), 1);
        (errors[0].field.clone(), errors[0].code)
    }

    #[test]
    fn answers_are_read_strictly_and_numbers_exactly() {
        assert_eq!(
            parse_answers(r#"{"heart_rate":84,"body_temperature":36.60}"#)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            refusal(r#"{"heart_rate":999999,"heart_rate":84}"#),
            ("answers".into(), "duplicate_key")
        );
        assert_eq!(
            refusal(r#"{"heart_rate":1e400}"#),
            ("answers".into(), "number_out_of_range")
        );
        assert_eq!(refusal("[1]"), ("answers".into(), "not_an_object"));
        assert_eq!(
            refusal(r#"{"note":"300.0000000000000001","heart_rate":300.0000000000000001}"#),
            ("heart_rate".into(), "inexact_number")
        );
        assert_eq!(
            refusal(r#"{"t":{"value":113.00000000000000001,"unit":"[degF]"}}"#),
            ("t".into(), "inexact_number")
        );
        // A client-chosen key that is not a plausible field name is not repeated back.
        assert_eq!(
            refusal(r#"{"Jane Doe, 1970":1e-400}"#),
            ("answers".into(), "inexact_number")
        );
    }

    /// An integer field without bounds, so only the integer rules decide.
    fn integer_field() -> CompiledField {
        let form = crate::AppDefinition::from_json(
            r#"{"title":"A","fields":[{"name":"n","type":"integer","label":"N"}]}"#,
        )
        .unwrap()
        .compile()
        .unwrap();
        form.fields.into_iter().next().unwrap()
    }

    #[test]
    fn integers_are_whole_literals_of_either_sign_up_to_two_to_the_fifty_third() {
        let field = integer_field();
        let code = |json: serde_json::Value| read_answer(&field, &json).err().map(|p| p.code);
        assert_eq!(code(serde_json::json!(-5)), None);
        assert_eq!(code(serde_json::json!(5)), None);
        assert_eq!(code(serde_json::json!(9_007_199_254_740_992_i64)), None);
        assert_eq!(code(serde_json::json!(-9_007_199_254_740_992_i64)), None);
        assert_eq!(
            code(serde_json::json!(9_007_199_254_740_994_i64)),
            Some("out_of_range")
        );
        assert_eq!(code(serde_json::json!(5.5)), Some("not_an_integer"));
    }
}
