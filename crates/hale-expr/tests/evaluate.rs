//! Evaluation behaviour that the shared vectors cannot express: the injected clock, the
//! guard rails on hand-built trees and oversized patterns, and laziness.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::Cell;

use hale_expr::{
    DateTimeValue, DateValue, Env, Expr, MAX_PATTERN_LENGTH, MAX_TREE_DEPTH, MapEnv, Value,
    evaluate, parse,
};

fn now() -> DateTimeValue {
    DateTimeValue::parse_rfc3339("2026-01-31T08:00:00Z").unwrap()
}

fn run(source: &str, env: &dyn Env) -> Value {
    evaluate(&parse(source).unwrap(), env)
}

/// Counts field reads, to observe which branches were evaluated.
struct CountingEnv {
    reads: Cell<usize>,
}

impl Env for CountingEnv {
    fn value(&self, _field: &str) -> Value {
        self.reads.set(self.reads.get() + 1);
        Value::Number(1.0)
    }

    fn current(&self) -> Value {
        Value::Null
    }

    fn now(&self) -> DateTimeValue {
        now()
    }
}

#[test]
fn clock_comes_from_the_env() {
    let later = DateTimeValue::parse_rfc3339("2030-06-15T23:59:59.999-10:00").unwrap();
    let env = MapEnv::new(later);
    assert_eq!(
        run("today()", &env),
        Value::Date(DateValue::parse("2030-06-15").unwrap())
    );
    assert_eq!(run("now()", &env), Value::DateTime(later));
}

#[test]
fn branches_and_logic_are_lazy() {
    let env = CountingEnv {
        reads: Cell::new(0),
    };
    run("if(true(), 1, ${a} + ${b})", &env);
    run("false() and ${a}", &env);
    run("true() or ${a}", &env);
    assert_eq!(env.reads.get(), 0);
    run("if(${a}, ${b}, ${c})", &env);
    assert_eq!(env.reads.get(), 2);
}

#[test]
fn hand_built_deep_trees_stop_at_the_depth_limit() {
    let mut expr = Expr::Number { value: 1.0 };
    for _ in 0..100_000 {
        expr = Expr::Negate {
            operand: Box::new(expr),
        };
    }
    let env = MapEnv::new(now());
    // Deeper than the parser allows: the part below the limit reads as unanswered.
    assert!(evaluate(&expr, &env).as_number().is_nan());
    // Dropping a 100,000-deep Box chain recursively would itself overflow the stack.
    let mut node = expr;
    while let Expr::Negate { operand } = node {
        node = *operand;
    }

    let mut shallow = Expr::Number { value: 1.0 };
    for _ in 1..MAX_TREE_DEPTH {
        shallow = Expr::Negate {
            operand: Box::new(shallow),
        };
    }
    assert_eq!(evaluate(&shallow, &env), Value::Number(-1.0));
}

#[test]
fn oversized_or_invalid_dynamic_patterns_never_match() {
    let long_pattern = "a".repeat(MAX_PATTERN_LENGTH + 1);
    let env = MapEnv::new(now())
        .with("pattern", Value::String(long_pattern.clone()))
        .with("broken", Value::String(String::from("(")))
        .with("huge", Value::String(String::from("\\w{1000}{1000}")))
        .with_current(Value::String("a".repeat(MAX_PATTERN_LENGTH + 1)));
    assert_eq!(run("regex(., ${pattern})", &env), Value::Bool(false));
    assert_eq!(run("regex(., ${broken})", &env), Value::Bool(false));
    assert_eq!(run("regex(., ${huge})", &env), Value::Bool(false));
    let literal = format!("regex(., '{long_pattern}')");
    assert!(parse(&literal).unwrap_err().message.contains("longer than"));
    assert!(
        parse("regex(., '\\w{1000}{1000}')")
            .unwrap_err()
            .message
            .contains("too large")
    );
}

#[test]
fn env_values_of_every_kind_coerce() {
    let env = MapEnv::new(now())
        .with("flag", Value::Bool(true))
        .with("when", Value::DateTime(now()))
        .with("day", Value::Date(DateValue::from_ymd(2026, 1, 1).unwrap()))
        .with("choices", Value::multi_from_wire("red green"));
    assert_eq!(run("${flag} + 1", &env), Value::Number(2.0));
    let days_between = run("${when} - ${day}", &env).as_number();
    assert!(
        (days_between - (30.0 + 8.0 / 24.0)).abs() < 1e-9,
        "{days_between}"
    );
    assert_eq!(run("${when} > ${day}", &env), Value::Bool(true));
    assert_eq!(
        run("concat(${choices}, '!')", &env),
        Value::String(String::from("red green!"))
    );
    assert_eq!(run("${missing}", &env), Value::Null);
}

#[test]
fn arithmetic_never_traps() {
    let env = MapEnv::new(now());
    for source in [
        "1 div 0",
        "0 div 0",
        "5 mod 0",
        "-(0 div 0)",
        "round(1 div 0, 2)",
        "round(99999999999999999999, 400)",
        "round(123, -400)",
        "int(0 div 0)",
        "date(1 div 0)",
        "date(-100000000)",
        "today() - now()",
    ] {
        let value = run(source, &env);
        let _ = value.as_string();
    }
    assert_eq!(run("round(2.675, 400)", &env), Value::Number(2.675));
}
