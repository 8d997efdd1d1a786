//! Runs the shared test vectors in `tests/vectors.json`, which the browser evaluator runs too.
//!
//! Each case is `{"expr", "env", "current", "now", "expected"}`: `env` maps field names to
//! values and `current` is the value of `.`, both in the plain JSON value encoding from the
//! crate docs; `now` is an RFC 3339 date-time; `expected` is the value `evaluate` must return.
//! Numbers compare exactly, with NaN equal to NaN. A case with `choice` (the members of one
//! choice) is a choice filter: parsed as one, its bare names read from `choice`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use hale_expr::{
    DateTimeValue, Expr, MapEnv, ParseError, Value, evaluate, parse, parse_choice_filter,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    expr: String,
    env: BTreeMap<String, Value>,
    current: Value,
    now: DateTimeValue,
    expected: Value,
    /// Row values of fields inside repeats (`count`, `sum`, `max`, `min`, `indexed-repeat`).
    #[serde(default)]
    nodes: BTreeMap<String, Vec<Value>>,
    /// What `position(..)` returns (unanswered when absent).
    #[serde(default = "unanswered")]
    position: Value,
    /// Choice labels by select and value (`jr:choice-name`).
    #[serde(default)]
    labels: BTreeMap<String, BTreeMap<String, String>>,
    /// The submission's seed and the call site (`random`, `uuid`).
    #[serde(default)]
    seed: String,
    #[serde(default)]
    site: String,
    /// The choice a choice filter decides on, by member (`name`, `label`, attributes).
    #[serde(default)]
    choice: Option<BTreeMap<String, Value>>,
}

impl Case {
    fn parse(&self) -> Result<Expr, ParseError> {
        if self.choice.is_some() {
            parse_choice_filter(&self.expr)
        } else {
            parse(&self.expr)
        }
    }
}

fn unanswered() -> Value {
    Value::Null
}

fn cases() -> Vec<Case> {
    let text = include_str!("vectors.json");
    serde_json::from_str(text).expect("vectors.json is a list of cases")
}

#[test]
fn shared_vectors_evaluate_as_expected() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} vectors", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let expr = match case.parse() {
            Ok(expr) => expr,
            Err(error) => {
                failures.push(format!("{}: parse error {error}", case.expr));
                continue;
            }
        };
        let env = MapEnv {
            values: case.env.clone(),
            current: case.current.clone(),
            now: case.now,
            nodes: case.nodes.clone(),
            position: case.position.clone(),
            labels: case.labels.clone(),
            seed: case.seed.clone(),
            site: case.site.clone(),
            choice: case.choice.clone().unwrap_or_default(),
        };
        let actual = evaluate(&expr, &env);
        if !actual.same_as(&case.expected) {
            failures.push(format!(
                "{}: expected {}, got {}",
                case.expr,
                case.expected.to_json(),
                actual.to_json()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shared_vectors_cover_every_function() {
    let cases = cases();
    for function in hale_expr::Function::ALL {
        let called = format!("{}(", function.name());
        assert!(
            cases.iter().any(|case| case.expr.contains(&called)),
            "no vector calls {}",
            function.name()
        );
    }
}

#[test]
fn shared_vectors_survive_printing() {
    for case in cases() {
        let expr = case.parse().unwrap();
        assert_eq!(expr.validate(), Ok(()), "{}", case.expr);
        let printed = expr.to_string();
        let source = case.expr.clone();
        let reparsed = Case {
            expr: printed.clone(),
            ..case
        };
        assert_eq!(
            reparsed.parse().unwrap(),
            expr,
            "{source} printed as {printed}"
        );
        let json = serde_json::to_string(&expr).unwrap();
        let back: hale_expr::Expr = serde_json::from_str(&json).unwrap();
        assert_eq!(back, expr, "{json}");
    }
}
