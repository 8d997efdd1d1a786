//! Validation never panics and never repeats an answer: random answers of every JSON type,
//! nested, under the sample forms' real field names (and inside their repeat rows), always yield
//! either a valid submission or errors, and no error's field or message carries a marker planted
//! in the values the validator reads. A coverage check makes sure the generated answers reach
//! deep enough to pass, and to fail in many distinct ways.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use hale_domain::Timestamp;
use hale_forms::{CompiledField, CompiledForm, FieldType};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Map, Value, json};

mod common;

/// Stands for the marker wherever it appears in a generated value or key.
const MARKER: &str = "@marker";

fn sample(name: &str) -> CompiledForm {
    common::sample_definition(name).compile().unwrap()
}

/// A leaf of every JSON type. Strings starting with `@` or `$` are placeholders bound to the
/// form under test by [`bind`]: the marker, or one of the form's real choice values.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-10i64..400).prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|n| json!(n)),
        prop_oneof![Just(1e300), Just(-0.0), Just(0.5), Just(f64::MIN_POSITIVE)]
            .prop_map(|n| json!(n)),
        "[a-z0-9 :\\-]{0,12}".prop_map(Value::String),
        Just(json!(MARKER)),
        Just(json!("@marker-number")),
        Just(json!("@marker-date")),
        (0usize..64).prop_map(|n| json!(format!("$choice{n}"))),
        (0usize..64).prop_map(|n| json!(format!("$marked-choice{n}"))),
        Just(json!("2026-01-31")),
        Just(json!("2026-01-31T08:00:00Z")),
        Just(json!("08:30")),
        Just(json!({"value": 98.6, "unit": "[degF]"})),
        Just(json!({"value": MARKER, "unit": "Cel"})),
        Just(json!({"value": 37, "unit": MARKER})),
    ]
}

/// An object key: one of the form's field names, or marker-bearing text that is not a name.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0usize..64).prop_map(|n| format!("#{n}")),
        1 => Just(MARKER.to_owned()),
    ]
}

fn answer() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every name the form knows, repeat children included, and every choice value.
struct Vocabulary {
    names: Vec<String>,
    choices: Vec<String>,
}

impl Vocabulary {
    fn of(form: &CompiledForm) -> Self {
        Self {
            names: form.fields.iter().map(|field| field.name.clone()).collect(),
            choices: form
                .fields
                .iter()
                .flat_map(|field| field.choices.iter().map(|choice| choice.value.clone()))
                .collect(),
        }
    }
}

/// Replaces the placeholders of a generated value by the form's names and the marker.
fn bind(value: &Value, words: &Vocabulary, marker: &str) -> Value {
    match value {
        Value::String(text) => Value::String(bind_text(text, words, marker)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| bind(item, words, marker)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (bind_key(key, words, marker), bind(item, words, marker)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn bind_key(key: &str, words: &Vocabulary, marker: &str) -> String {
    match key.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => words.names[n % words.names.len()].clone(),
        // Not a valid field name, so the validator may not show it back.
        None if key == MARKER => format!("{marker} key"),
        None => key.to_owned(),
    }
}

fn bind_text(text: &str, words: &Vocabulary, marker: &str) -> String {
    let pick = |n: &str| {
        let n: usize = n.parse().unwrap_or(0);
        words
            .choices
            .get(n % words.choices.len().max(1))
            .cloned()
            .unwrap_or_default()
    };
    if text == MARKER {
        marker.to_owned()
    } else if text == "@marker-number" {
        format!("120 {marker}")
    } else if text == "@marker-date" {
        format!("2026-01-{marker}")
    } else if let Some(n) = text.strip_prefix("$marked-choice") {
        format!("{} {marker}", pick(n))
    } else if let Some(n) = text.strip_prefix("$choice") {
        pick(n)
    } else {
        text.to_owned()
    }
}

/// A value the field accepts, so that a random change to a few fields meets a submission that
/// is otherwise valid and validation runs to its end (constraints, calculations, scores).
fn plausible(field: &CompiledField) -> Option<Value> {
    let middle = match (field.min, field.max) {
        (Some(min), Some(max)) => (min + max) / 2.0,
        (Some(min), None) => min + 1.0,
        (None, Some(max)) => max - 1.0,
        (None, None) => 1.0,
    };
    let first_choice = field.choices.first().map(|choice| choice.value.clone());
    Some(match field.field_type {
        FieldType::Integer => json!(middle.round() as i64),
        FieldType::Decimal | FieldType::Range => json!(middle),
        FieldType::Text => json!("fine"),
        FieldType::SelectOne => json!(first_choice?),
        FieldType::SelectMultiple => json!([first_choice?]),
        FieldType::Date => json!("2026-01-30"),
        FieldType::Datetime => json!("2026-01-30T08:00:00Z"),
        FieldType::Time => json!("08:30"),
        FieldType::Boolean | FieldType::Acknowledge => json!(true),
        _ => return None,
    })
}

fn plausible_answers(form: &CompiledForm) -> Map<String, Value> {
    let mut answers = Map::new();
    for field in form.fields.iter().filter(|field| field.repeat.is_none()) {
        if field.field_type == FieldType::Repeat {
            let index = form.fields.iter().position(|f| f.name == field.name);
            let row: Map<String, Value> = form
                .fields
                .iter()
                .filter(|child| child.repeat.is_some() && child.repeat == index)
                .filter(|child| child.relevant.is_none())
                .filter_map(|child| Some((child.name.clone(), plausible(child)?)))
                .collect();
            answers.insert(field.name.clone(), json!([row]));
        } else if field.relevant.is_none()
            && field.calculation.is_none()
            && let Some(value) = plausible(field)
        {
            answers.insert(field.name.clone(), value);
        }
    }
    answers
}

/// Marker-bearing values of the wrong type or out of bounds, one of which lands on every field.
fn everywhere(marker: &str, choice: usize) -> Value {
    let values = [
        json!(marker),
        json!([marker]),
        json!(format!("120 {marker}")),
        json!({"value": marker, "unit": marker}),
        json!({"value": 37, "unit": marker}),
        json!([{"value": marker}]),
        json!({marker: marker}),
    ];
    values[choice % values.len()].clone()
}

#[derive(Debug, Clone)]
struct Case {
    picks: Vec<(usize, Value)>,
    start_valid: bool,
    marker_everywhere: Option<usize>,
    marker: String,
}

fn case() -> impl Strategy<Value = Case> {
    (
        // Mostly plain values, which reach types and bounds; nested ones reach shapes.
        prop::collection::vec((0usize..64, prop_oneof![3 => leaf(), 1 => answer()]), 0..8),
        any::<bool>(),
        prop::option::weighted(0.2, 0usize..16),
        "[A-Z]{12}",
    )
        .prop_map(|(picks, start_valid, marker_everywhere, marker)| Case {
            picks,
            start_valid,
            marker_everywhere,
            marker: format!("ZQX{marker}"),
        })
}

/// Runs one case against every sample; returns the outcomes seen (error codes, or "valid").
fn check(case: &Case, forms: &[CompiledForm]) -> Result<BTreeSet<String>, TestCaseError> {
    let now = Timestamp::parse_rfc3339("2026-01-31T08:00:00Z").unwrap();
    let mut seen = BTreeSet::new();
    for form in forms {
        let words = Vocabulary::of(form);
        let mut answers = if case.start_valid {
            plausible_answers(form)
        } else {
            Map::new()
        };
        for (index, value) in &case.picks {
            let name = words.names[index % words.names.len()].clone();
            answers.insert(name, bind(value, &words, &case.marker));
        }
        if let Some(choice) = case.marker_everywhere {
            for (n, name) in words.names.iter().enumerate() {
                answers.insert(name.clone(), everywhere(&case.marker, choice + n));
            }
        }
        match form.validate(&answers, now) {
            Ok(_) => {
                seen.insert("valid".to_owned());
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for error in errors {
                    prop_assert!(!error.message.contains(&case.marker), "{error:?}");
                    prop_assert!(!error.field.contains(&case.marker), "{error:?}");
                    seen.insert(error.code.to_owned());
                }
            }
        }
    }
    Ok(seen)
}

#[test]
fn random_answers_never_panic_never_echo_and_reach_every_check() {
    let forms: Vec<CompiledForm> = common::SAMPLES.iter().map(|name| sample(name)).collect();
    let seen = std::sync::Mutex::new(BTreeSet::new());
    let config = Config {
        cases: 400,
        ..Config::default()
    };
    // A fixed seed first, so that which checks the inputs reach is the same on every run; then
    // fresh seeds, so that every run also explores new inputs for panics and echoes.
    let fixed = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    for mut runner in [
        TestRunner::new_with_rng(config.clone(), fixed),
        TestRunner::new(config),
    ] {
        runner
            .run(&case(), |case| {
                let outcomes = check(&case, &forms)?;
                seen.lock().unwrap().extend(outcomes);
                Ok(())
            })
            .unwrap();
    }
    let seen = seen.into_inner().unwrap();
    // Reaching these means the inputs got past the shape checks into types, choices, bounds,
    // units, relevance and repeat rows, and sometimes all the way through.
    for expected in [
        "valid",
        "required",
        "unknown_field",
        "not_an_integer",
        "invalid_choice",
        "not_a_choice",
        "not_relevant",
        "invalid_quantity",
        "invalid_date",
        "not_a_list",
        "below_minimum",
        "above_maximum",
        "constraint_failed",
    ] {
        assert!(seen.contains(expected), "never saw {expected}: {seen:?}");
    }
}
