//! Property tests, the stable-toolchain counterpart of the fuzz target: parsing and
//! evaluation are total, and printing, JSON and parsing agree with each other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use hale_expr::{
    BinaryOperator, DateTimeValue, DateValue, Expr, Function, MAX_TREE_DEPTH, MapEnv, Value,
    evaluate, parse, parse_choice_filter,
};
use proptest::prelude::*;

const FIELD_NAMES: [&str; 5] = ["a", "b", "c", "q_1", "long-name.v2"];

const OPERATORS: [BinaryOperator; 13] = [
    BinaryOperator::Or,
    BinaryOperator::And,
    BinaryOperator::Equal,
    BinaryOperator::NotEqual,
    BinaryOperator::Less,
    BinaryOperator::LessOrEqual,
    BinaryOperator::Greater,
    BinaryOperator::GreaterOrEqual,
    BinaryOperator::Add,
    BinaryOperator::Subtract,
    BinaryOperator::Multiply,
    BinaryOperator::Divide,
    BinaryOperator::Modulo,
];

const PATTERNS: [&str; 4] = ["^[0-9]+$", "a|b", "^\\s*$", "[[:alpha:]]{2,}"];

/// Fragments that make token soup likely to parse now and then, so random inputs reach
/// deep into the parser instead of failing on the first character.
const FRAGMENTS: [&str; 40] = [
    "${a}",
    "${b}",
    "${",
    "}",
    ".",
    "1",
    "2.5",
    ".5",
    "0",
    "'x'",
    "\"y\"",
    "'",
    "(",
    ")",
    ",",
    "+",
    "-",
    "*",
    "div",
    "mod",
    "and",
    "or",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "if(",
    "selected(",
    "count-selected(",
    "concat(",
    "today()",
    "now()",
    "regex(",
    "round(",
    "date(",
    "coalesce(",
    "not(",
    " ",
];

fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z ]{0,6}",
        "-?[0-9]{1,4}(\\.[0-9]{1,3})?",
        Just(String::from("2026-01-31")),
        Just(String::from("2026-01-31T08:00:00+02:00")),
        any::<String>(),
    ]
}

fn arbitrary_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(Value::Number),
        (-1000.0..1000.0_f64).prop_map(Value::Number),
        arbitrary_text().prop_map(Value::String),
        (-719_162_i64..2_932_896).prop_map(|days| Value::Date(DateValue::from_days(days).unwrap())),
        (
            -62_000_000_000_000_i64..250_000_000_000_000,
            -1439_i32..=1439
        )
            .prop_map(|(millis, offset)| Value::DateTime(
                DateTimeValue::new(millis, offset).unwrap()
            )),
        prop::collection::vec("[a-z0-9]{1,4}", 0..4).prop_map(Value::Multi),
    ]
}

fn arbitrary_env() -> impl Strategy<Value = MapEnv> {
    (
        prop::collection::vec(arbitrary_value(), FIELD_NAMES.len()),
        arbitrary_value(),
        (
            -62_000_000_000_000_i64..250_000_000_000_000,
            -1439_i32..=1439,
        ),
    )
        .prop_map(|(values, current, (millis, offset))| MapEnv {
            values: FIELD_NAMES
                .iter()
                .map(|name| String::from(*name))
                .zip(values)
                .collect::<BTreeMap<_, _>>(),
            current,
            ..MapEnv::new(DateTimeValue::new(millis, offset).unwrap())
        })
}

/// Literal text the parser can produce: no string holds both kinds of quote.
fn literal_text() -> impl Strategy<Value = String> {
    "[a-z0-9 '\"-]{0,6}".prop_filter("one kind of quote", |text| {
        !(text.contains('\'') && text.contains('"'))
    })
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (0_u32..100_000).prop_map(|value| Expr::Number {
            value: f64::from(value)
        }),
        (0.0..1e9_f64).prop_map(|value| Expr::Number { value }),
        literal_text().prop_map(|value| Expr::String { value }),
        prop::sample::select(FIELD_NAMES.as_slice()).prop_map(|name| Expr::Field {
            name: String::from(name)
        }),
        Just(Expr::Current),
    ]
}

/// Trees shaped like the parser's output: finite non-negative numbers, arities respected,
/// and constant regex patterns valid.
fn arbitrary_expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|operand| Expr::Negate {
                operand: Box::new(operand)
            }),
            (
                prop::sample::select(OPERATORS.as_slice()),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(operator, left, right)| Expr::Binary {
                    operator,
                    left: Box::new(left),
                    right: Box::new(right),
                }),
            (
                prop::sample::select(Function::ALL.as_slice()),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(function, mut arguments)| {
                    let (minimum, maximum) = function.arity();
                    arguments.truncate(maximum.unwrap_or(usize::MAX));
                    while arguments.len() < minimum {
                        arguments.push(Expr::Current);
                    }
                    Expr::Call {
                        function,
                        arguments,
                    }
                }),
            (inner, prop::sample::select(PATTERNS.as_slice())).prop_map(|(subject, pattern)| {
                Expr::Call {
                    function: Function::Regex,
                    arguments: vec![
                        subject,
                        Expr::String {
                            value: String::from(pattern),
                        },
                    ],
                }
            }),
        ]
    })
}

/// Regex calls whose pattern became an arbitrary literal would rightly fail to parse.
fn has_only_valid_literal_patterns(expr: &Expr) -> bool {
    parse(&expr.to_string()).is_ok()
}

/// Choice members a filter may name, as the lexer reads a bare name.
const ATTRIBUTES: [&str; 5] = ["name", "label", "state", "a_b", "h-i"];

/// The tree as a choice filter: every `.` becomes the choice member `attribute`.
fn as_choice_filter(expr: Expr, attribute: &str) -> Expr {
    expr.rewrite(&|node| {
        matches!(node, Expr::Current).then(|| Expr::Attribute {
            name: String::from(attribute),
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn choice_filters_parse_cleanly_and_print_back(
        source in any::<String>(),
        expr in arbitrary_expr(),
        attribute in prop::sample::select(ATTRIBUTES.as_slice()),
        mut env in arbitrary_env(),
    ) {
        if let Err(error) = parse_choice_filter(&source) {
            prop_assert!(error.position <= source.chars().count());
        }
        prop_assume!(has_only_valid_literal_patterns(&expr));
        let filter = as_choice_filter(expr, attribute);
        prop_assert!(!filter.uses_current());
        let printed = filter.to_string();
        prop_assert_eq!(&parse_choice_filter(&printed).unwrap(), &filter, "printed as {}", printed);
        // A filter reads the choice's members where an expression reads nothing.
        env.choice.insert(String::from(attribute), Value::String(String::from("x")));
        let _ = evaluate(&filter, &env);
        if filter.attributes().is_empty() {
            prop_assert_eq!(parse(&printed).unwrap(), filter);
        } else {
            prop_assert!(parse(&printed).is_err());
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(source in any::<String>()) {
        if let Err(error) = parse(&source) {
            prop_assert!(error.position <= source.chars().count());
        }
    }

    #[test]
    fn parse_and_evaluate_never_panic_on_token_soup(
        fragments in prop::collection::vec(prop::sample::select(FRAGMENTS.as_slice()), 0..40),
        env in arbitrary_env(),
    ) {
        let source = fragments.concat();
        match parse(&source) {
            Ok(expr) => {
                prop_assert!(expr.depth() <= MAX_TREE_DEPTH);
                let _ = evaluate(&expr, &env);
                prop_assert_eq!(parse(&expr.to_string()).unwrap(), expr);
            }
            Err(error) => prop_assert!(error.position <= source.chars().count()),
        }
    }

    #[test]
    fn near_valid_sources_parse_or_fail_cleanly(
        expr in arbitrary_expr(),
        cut in any::<prop::sample::Index>(),
        removed in 0_usize..3,
        inserted in prop::sample::select(FRAGMENTS.as_slice()),
        env in arbitrary_env(),
    ) {
        let mut characters: Vec<char> = expr.to_string().chars().collect();
        let at = cut.index(characters.len() + 1);
        let end = (at + removed).min(characters.len());
        characters.splice(at..end, inserted.chars());
        let source: String = characters.into_iter().collect();
        match parse(&source) {
            Ok(mutated) => {
                let _ = evaluate(&mutated, &env);
                prop_assert_eq!(parse(&mutated.to_string()).unwrap(), mutated);
            }
            Err(error) => prop_assert!(error.position <= source.chars().count()),
        }
    }

    #[test]
    fn printing_round_trips_and_evaluation_is_total(
        expr in arbitrary_expr(),
        env in arbitrary_env(),
    ) {
        prop_assume!(has_only_valid_literal_patterns(&expr));
        prop_assert_eq!(expr.validate(), Ok(()));
        let printed = expr.to_string();
        let reparsed = parse(&printed).unwrap();
        prop_assert_eq!(&reparsed, &expr, "printed as {}", printed);

        let json = serde_json::to_string(&expr).unwrap();
        let from_json: Expr = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&from_json, &expr);

        let value = evaluate(&expr, &env);
        prop_assert!(evaluate(&from_json, &env).same_as(&value));
        let encoded = serde_json::to_string(&value).unwrap();
        let decoded: Value = serde_json::from_str(&encoded).unwrap();
        prop_assert!(decoded.same_as(&value), "{} decoded differently", encoded);
    }

    #[test]
    fn values_round_trip_through_json(value in arbitrary_value()) {
        let encoded = serde_json::to_string(&value).unwrap();
        let decoded: Value = serde_json::from_str(&encoded).unwrap();
        prop_assert!(decoded.same_as(&value), "{}", encoded);
        prop_assert_eq!(
            decoded.as_string(),
            value.as_string()
        );
    }
}
