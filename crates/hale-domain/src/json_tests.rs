//! Tests of the strict JSON reader: each refusal by its code, and properties over arbitrary
//! input.

use proptest::prelude::*;

use super::*;

fn kind(text: &str) -> Option<JsonErrorKind> {
    check(text.as_bytes()).err().map(|error| error.kind)
}

#[test]
fn a_repeated_key_is_refused_at_any_depth_and_after_unescaping() {
    assert_eq!(
        kind(r#"{"heart_rate":999999,"heart_rate":84}"#),
        Some(JsonErrorKind::DuplicateKey)
    );
    assert_eq!(
        kind(r#"{"a":[{"b":1,"c":{"d":1,"d":2}}]}"#),
        Some(JsonErrorKind::DuplicateKey)
    );
    assert_eq!(
        kind(r#"{"a":1,"\u0061":2}"#),
        Some(JsonErrorKind::DuplicateKey)
    );
    // The same key in two sibling objects is not a repetition.
    assert_eq!(kind(r#"[{"a":1},{"a":2}]"#), None);
    assert_eq!(kind(r#"{"a":{"a":{"a":1}}}"#), None);
}

#[test]
fn deep_nesting_is_refused_before_serde_json_would_stop() {
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert_eq!(kind(&deep(MAX_DEPTH)), None);
    assert_eq!(
        kind(&deep(MAX_DEPTH + 1)),
        Some(JsonErrorKind::NestingTooDeep)
    );
    assert_eq!(kind(&deep(1000)), Some(JsonErrorKind::NestingTooDeep));
    let objects = format!("{}1{}", r#"{"a":"#.repeat(100), "}".repeat(100));
    assert_eq!(kind(&objects), Some(JsonErrorKind::NestingTooDeep));
}

#[test]
fn numbers_beyond_f64_and_lone_surrogates_have_their_own_codes() {
    assert_eq!(kind("1e400"), Some(JsonErrorKind::NumberOutOfRange));
    assert_eq!(
        kind(r#"{"a":-1e400}"#),
        Some(JsonErrorKind::NumberOutOfRange)
    );
    assert_eq!(
        kind(&format!("[{}]", "9".repeat(400))),
        Some(JsonErrorKind::NumberOutOfRange)
    );
    assert_eq!(kind(r#""\ud800""#), Some(JsonErrorKind::InvalidUnicode));
    assert_eq!(
        kind(r#"{"a":"\udc00"}"#),
        Some(JsonErrorKind::InvalidUnicode)
    );
    assert_eq!(
        kind(r#"{"\ud800x":1}"#),
        Some(JsonErrorKind::InvalidUnicode)
    );
    assert_eq!(kind(r#""\ud83d\ude00""#), None);
    assert_eq!(
        check(b"\"\xff\"").map_err(|error| error.kind),
        Err(JsonErrorKind::InvalidUnicode)
    );
}

#[test]
fn syntax_errors_are_malformed_and_say_where_without_the_content() {
    for text in ["", "{", r#"{"a":}"#, "[1,]", "{} {}", "nul", r#"{"a":1,}"#] {
        assert_eq!(kind(text), Some(JsonErrorKind::Malformed), "{text}");
    }
    let error = check(b"{\n  \"secret\": ZQX}").unwrap_err();
    assert_eq!((error.line, error.column), (2, 13));
    assert!(!error.to_string().contains("ZQX"));
    assert!(!error.to_string().contains("secret"));
}

#[test]
fn typed_reads_check_first_and_report_a_wrong_shape_apart() {
    #[derive(serde::Deserialize, Debug)]
    struct Named {
        #[allow(dead_code)]
        name: String,
    }
    assert!(from_str::<Named>(r#"{"name":"a"}"#).is_ok());
    assert_eq!(
        from_str::<Named>(r#"{"name":"a","name":"b"}"#)
            .map_err(|error| error.kind)
            .err(),
        Some(JsonErrorKind::DuplicateKey)
    );
    assert_eq!(
        from_str::<Named>(r#"{"name":5}"#)
            .map_err(|error| error.kind)
            .err(),
        Some(JsonErrorKind::UnexpectedShape)
    );
}

#[test]
fn only_literals_an_f64_keeps_exactly_are_exact() {
    for exact in [
        r#"{"a":84,"b":36.60,"c":-0.0,"d":1e2,"e":0.1,"f":1.5E-7,"g":"300.0000000000000001"}"#,
        "[9007199254740992, 123456789012345.6, 0]",
    ] {
        assert_eq!(first_inexact_number(exact), None, "{exact}");
    }
    assert_eq!(
        first_inexact_number(r#"{"heart_rate": 300.0000000000000001}"#),
        Some((1, 16))
    );
    assert_eq!(first_inexact_number("[\n 1,\n 1e-400]"), Some((3, 2)));
    assert_eq!(first_inexact_number("[9007199254740993]"), Some((1, 2)));
    assert_eq!(
        first_inexact_number(r#"["\"", 0.30000000000000001]"#),
        Some((1, 8))
    );
}

/// JSON values with unique keys (a map cannot hold two) and bounded depth.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(serde_json::Value::from),
        (-1e300..1e300f64).prop_map(serde_json::Value::from),
        "\\PC{0,8}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

/// `value` with every integer shifted into the range where all integers are exact f64s.
fn within_f64(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(number) => match number.as_i64() {
            Some(integer) => Value::from(integer >> 11),
            None => Value::Number(number),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(within_f64).collect()),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(key, member)| (key, within_f64(member)))
                .collect(),
        ),
        other => other,
    }
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = check(&bytes);
        let _ = from_slice::<serde_json::Value>(&bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = first_inexact_number(text);
        }
    }

    #[test]
    fn accepts_what_serde_json_reads_when_keys_are_unique(value in json_value()) {
        let text = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(from_str::<serde_json::Value>(&text).ok(), Some(value.clone()));
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        prop_assert!(check(pretty.as_bytes()).is_ok());
    }

    #[test]
    fn shortest_digits_of_any_f64_are_exact(value in json_value()) {
        // serde_json writes floats in their shortest digits, which read back exactly; integers
        // beyond 2^53 may hold more than an f64 keeps, so they are brought within it here.
        let text = serde_json::to_string(&within_f64(value)).unwrap();
        prop_assert_eq!(first_inexact_number(&text), None);
    }

    #[test]
    fn refuses_any_repeated_key(
        value in json_value(),
        key in "\\PC{0,6}",
        first in json_value(),
        second in json_value(),
    ) {
        let key = serde_json::to_string(&key).unwrap();
        let inner = format!(
            "{{{key}:{},{key}:{}}}",
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&second).unwrap()
        );
        let text = format!("[{},{inner}]", serde_json::to_string(&value).unwrap());
        prop_assert_eq!(kind(&text), Some(JsonErrorKind::DuplicateKey));
    }
}
