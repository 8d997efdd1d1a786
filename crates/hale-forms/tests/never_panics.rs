//! The evaluator path never panics: random answers of random shapes against the sample forms
//! always yield either a valid submission or errors, and no error repeats a text answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hale_domain::Timestamp;
use hale_forms::CompiledForm;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

mod common;

fn sample(name: &str) -> CompiledForm {
    common::sample_definition(name).compile().unwrap()
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|n| json!(n)),
        "[a-z0-9 :\\-]{0,12}".prop_map(Value::String),
        Just(json!("2026-01-31")),
        Just(json!("08:30")),
        Just(json!({"value": 98.6, "unit": "[degF]"})),
        Just(json!("other")),
    ]
}

fn answer() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_answers_never_panic(
        picks in prop::collection::vec((0usize..64, answer()), 0..12),
        marker in "[A-Z]{10}",
    ) {
        let now = Timestamp::parse_rfc3339("2026-01-31T08:00:00Z").unwrap();
        for name in ["daily-vitals", "respiratory-diary", "medication-doses"] {
            let form = sample(name);
            let mut answers = Map::new();
            for (index, value) in &picks {
                let field = &form.fields[index % form.fields.len()];
                answers.insert(field.name.clone(), value.clone());
            }
            if let Some(first) = form.fields.first() {
                answers.insert(first.name.clone(), Value::String(marker.clone()));
            }
            if let Err(errors) = form.validate(&answers, now) {
                for error in errors {
                    prop_assert!(!error.message.contains(&marker));
                    prop_assert!(!error.field.contains(&marker));
                }
            }
        }
    }
}
