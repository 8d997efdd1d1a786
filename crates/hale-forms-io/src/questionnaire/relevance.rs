//! Relevance as `enableWhen`: only a single comparison, or comparisons all joined by `and` or
//! all by `or`, of a field with a literal, where FHIR's meaning is exactly Hale's. In
//! particular an unanswered question makes every FHIR condition false (except `exists`), so
//! only comparisons that Hale also reads as false when unanswered are mapped: `=` with a
//! non-empty text or choice, `= true()` on a boolean, `=`, `<`, `<=`, `>`, `>=` with a number,
//! and `selected(${multi}, 'v')`. Everything else stays a Hale expression.

use std::collections::HashMap;

use hale_expr::{BinaryOperator, Expr, Function};
use serde_json::{Value, json};

use super::{binary, call};
use crate::definition::{ChoiceType, FieldType};

/// What the exporter knows of a field that a relevance expression may name.
pub(crate) struct Target {
    pub field_type: FieldType,
    /// The enclosing repeat, if the field is answered once per row.
    pub repeat: Option<String>,
    /// The FHIR linkId.
    pub link_id: String,
    pub choice_type: Option<ChoiceType>,
    /// Choice value, label in the default language and code system.
    pub choices: Vec<(String, String, Option<String>)>,
}

fn fhir_operator(operator: BinaryOperator) -> Option<&'static str> {
    Some(match operator {
        BinaryOperator::Equal => "=",
        BinaryOperator::Less => "<",
        BinaryOperator::LessOrEqual => "<=",
        BinaryOperator::Greater => ">",
        BinaryOperator::GreaterOrEqual => ">=",
        _ => return None,
    })
}

fn hale_operator(operator: &str) -> Option<BinaryOperator> {
    Some(match operator {
        "=" => BinaryOperator::Equal,
        "<" => BinaryOperator::Less,
        "<=" => BinaryOperator::LessOrEqual,
        ">" => BinaryOperator::Greater,
        ">=" => BinaryOperator::GreaterOrEqual,
        _ => return None,
    })
}

/// The `enableWhen` conditions and `enableBehavior` for `source`, when they mean exactly the
/// same thing (checked by reading them back).
pub(crate) fn to_enable_when(
    source: &str,
    own_repeat: Option<&str>,
    targets: &HashMap<String, Target>,
) -> Option<(Vec<Value>, Option<&'static str>)> {
    let expr = hale_expr::parse(source).ok()?;
    let (leaves, behavior) = match &expr {
        _ if answered_false(&expr).is_some() => (vec![&expr], None),
        Expr::Binary {
            operator: operator @ (BinaryOperator::And | BinaryOperator::Or),
            ..
        } => {
            let mut leaves = Vec::new();
            flatten(&expr, *operator, &mut leaves);
            let behavior = if *operator == BinaryOperator::And {
                "all"
            } else {
                "any"
            };
            (leaves, Some(behavior))
        }
        _ => (vec![&expr], None),
    };
    let conditions = leaves
        .into_iter()
        .map(|leaf| condition(leaf, own_repeat, targets))
        .collect::<Option<Vec<_>>>()?;
    let questions = targets
        .iter()
        .map(|(name, target)| {
            let question = Question {
                name: name.clone(),
                field_type: target.field_type,
                choice_type: target.choice_type,
                choices: target
                    .choices
                    .iter()
                    .map(|(value, label, _)| (value.clone(), label.clone()))
                    .collect(),
            };
            (target.link_id.clone(), question)
        })
        .collect();
    (from_enable_when(&conditions, behavior, &questions).ok()? == source)
        .then_some((conditions, behavior))
}

/// The boolean field that `expr` says is answered `false`: `answered(f) and f = false()`,
/// the form [`from_enable_when`] gives FHIR's `= false`.
fn answered_false(expr: &Expr) -> Option<&str> {
    let Expr::Binary {
        operator: BinaryOperator::And,
        left,
        right,
    } = expr
    else {
        return None;
    };
    let Expr::Binary {
        operator: BinaryOperator::Equal,
        left: field,
        right: value,
    } = right.as_ref()
    else {
        return None;
    };
    let (
        Expr::Field { name },
        Expr::Call {
            function: Function::False,
            arguments,
        },
    ) = (field.as_ref(), value.as_ref())
    else {
        return None;
    };
    (arguments.is_empty() && **left == answered(Expr::Field { name: name.clone() }))
        .then_some(name.as_str())
}

fn flatten<'a>(expr: &'a Expr, join: BinaryOperator, out: &mut Vec<&'a Expr>) {
    match expr {
        // One FHIR condition, though written with `and`.
        _ if answered_false(expr).is_some() => out.push(expr),
        Expr::Binary {
            operator,
            left,
            right,
        } if *operator == join => {
            flatten(left, join, out);
            flatten(right, join, out);
        }
        _ => out.push(expr),
    }
}

fn condition(
    leaf: &Expr,
    own_repeat: Option<&str>,
    targets: &HashMap<String, Target>,
) -> Option<Value> {
    // FHIR reads a question in a repeating group from the same group instance or one that
    // encloses it, as Hale reads a field from its own row or an enclosing one.
    let encloses = |repeat: &str| {
        let mut level = own_repeat;
        while let Some(name) = level {
            if name == repeat {
                return true;
            }
            level = targets.get(name).and_then(|outer| outer.repeat.as_deref());
        }
        false
    };
    let reachable = |name: &str| {
        targets
            .get(name)
            .filter(|target| target.repeat.as_deref().is_none_or(encloses))
    };
    let make = |target: &Target, operator: &str, answer: Value| {
        let mut condition = json!({"question": target.link_id, "operator": operator});
        merge(&mut condition, answer);
        Some(condition)
    };
    if let Some(name) = answered_false(leaf) {
        let target = reachable(name)?;
        if target.field_type != FieldType::Boolean {
            return None;
        }
        return make(target, "=", json!({"answerBoolean": false}));
    }
    match leaf {
        Expr::Call {
            function: Function::Not,
            arguments,
        } => {
            let [inner] = arguments.as_slice() else {
                return None;
            };
            let mut condition = condition(inner, own_repeat, targets)?;
            let object = condition.as_object_mut()?;
            match (
                object.get("operator")?.as_str()?,
                object.get("answerBoolean"),
            ) {
                ("exists", Some(Value::Bool(true))) => {
                    object.insert("answerBoolean".into(), json!(false));
                }
                ("=", _) => {
                    object.insert("operator".into(), json!("!="));
                }
                _ => return None,
            }
            Some(condition)
        }
        Expr::Binary {
            operator: BinaryOperator::Greater,
            left,
            right,
        } if matches!(right.as_ref(), Expr::Number { value } if *value == 0.0)
            && matches!(
                left.as_ref(),
                Expr::Call {
                    function: Function::StringLength,
                    ..
                }
            ) =>
        {
            let Expr::Call { arguments, .. } = left.as_ref() else {
                return None;
            };
            let [
                Expr::Call {
                    function: Function::String,
                    arguments,
                },
            ] = arguments.as_slice()
            else {
                return None;
            };
            let [Expr::Field { name }] = arguments.as_slice() else {
                return None;
            };
            make(reachable(name)?, "exists", json!({"answerBoolean": true}))
        }
        Expr::Binary {
            operator,
            left,
            right,
        } => {
            let Expr::Field { name } = left.as_ref() else {
                return None;
            };
            let target = reachable(name)?;
            let operator = fhir_operator(*operator)?;
            let answer = match (target.field_type, right.as_ref()) {
                (FieldType::Integer, Expr::Number { value })
                    if value.fract() == 0.0 && value.abs() < 9.0e15 =>
                {
                    json!({"answerInteger": *value as i64})
                }
                (FieldType::Decimal | FieldType::Range, Expr::Number { value }) => {
                    json!({ "answerDecimal": value })
                }
                (FieldType::Text, Expr::String { value })
                    if operator == "=" && !value.is_empty() =>
                {
                    json!({ "answerString": value })
                }
                (FieldType::Date, Expr::String { value }) if !value.is_empty() => {
                    json!({ "answerDate": value })
                }
                (FieldType::Datetime, Expr::String { value }) if !value.is_empty() => {
                    json!({ "answerDateTime": value })
                }
                (FieldType::SelectOne, Expr::String { value })
                    if operator == "=" && !value.is_empty() =>
                {
                    choice_answer(target, value)?
                }
                (
                    FieldType::Boolean,
                    Expr::Call {
                        function: Function::True,
                        arguments,
                    },
                ) if operator == "=" && arguments.is_empty() => json!({"answerBoolean": true}),
                _ => return None,
            };
            make(target, operator, answer)
        }
        Expr::Call {
            function: Function::Regex,
            arguments,
        } => {
            let [Expr::Field { name }, Expr::String { value }] = arguments.as_slice() else {
                return None;
            };
            let target = reachable(name)?;
            let (operator, constant) = ordering_of(value)?;
            if target.field_type != FieldType::Text {
                return None;
            }
            make(target, operator, json!({ "answerString": constant }))
        }
        Expr::Call {
            function: Function::Selected,
            arguments,
        } => {
            let [Expr::Field { name }, Expr::String { value }] = arguments.as_slice() else {
                return None;
            };
            let target = reachable(name)?;
            if target.field_type != FieldType::SelectMultiple || value.is_empty() {
                return None;
            }
            make(target, "=", choice_answer(target, value)?)
        }
        _ => None,
    }
}

/// The `answer[x]` that names choice `value` of a select, in the kind its options have.
fn choice_answer(target: &Target, value: &str) -> Option<Value> {
    let choice = target.choices.iter().find(|(code, _, _)| code == value);
    Some(match target.choice_type {
        None => match choice.and_then(|(_, _, system)| system.as_ref()) {
            Some(system) => json!({"answerCoding": {"system": system, "code": value}}),
            None => json!({"answerCoding": {"code": value}}),
        },
        Some(ChoiceType::String) => json!({"answerString": choice?.1}),
        Some(ChoiceType::Integer) => json!({"answerInteger": value.parse::<i64>().ok()?}),
        Some(ChoiceType::Date) => json!({"answerDate": value}),
        Some(ChoiceType::Time) => json!({"answerTime": value}),
    })
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// What reading an `enableWhen` needs to know of the question it names (by linkId).
#[derive(Clone, Debug)]
pub(crate) struct Question {
    pub name: String,
    pub field_type: FieldType,
    pub choice_type: Option<ChoiceType>,
    /// Choice value and its label in the default language, for `answerString` and
    /// `answerInteger` on a select whose choices are not codes.
    pub choices: Vec<(String, String)>,
}

/// The Hale expression for `enableWhen` conditions; `questions` describes every linkId.
/// Errors are sentences naming what cannot be expressed.
pub(crate) fn from_enable_when(
    conditions: &[Value],
    behavior: Option<&str>,
    questions: &HashMap<String, Question>,
) -> Result<String, String> {
    let join = match (behavior, conditions.len()) {
        (_, 0) => return Err(String::from("enableWhen is empty")),
        (None, 1) | (Some("all"), _) => BinaryOperator::And,
        (Some("any"), _) => BinaryOperator::Or,
        (None, _) => {
            return Err(String::from(
                "enableBehavior is required with more than one enableWhen",
            ));
        }
        (Some(other), _) => return Err(format!("enableBehavior '{other}' is not 'all' or 'any'")),
    };
    let mut expr: Option<Expr> = None;
    for condition in conditions {
        let leaf = read_condition(condition, questions)?;
        expr = Some(match expr {
            None => leaf,
            Some(left) => Expr::Binary {
                operator: join,
                left: Box::new(left),
                right: Box::new(leaf),
            },
        });
    }
    Ok(expr.map(|expr| expr.to_string()).unwrap_or_default())
}

/// `string-length(string(x)) > 0`: answered, whatever the answer (`false` and 0 included).
pub(crate) fn answered(field: Expr) -> Expr {
    binary(
        BinaryOperator::Greater,
        call(
            Function::StringLength,
            vec![call(Function::String, vec![field])],
        ),
        Expr::Number { value: 0.0 },
    )
}

fn number_literal(number: f64) -> Expr {
    let literal = Expr::Number {
        value: number.abs(),
    };
    if number < 0.0 {
        Expr::Negate {
            operand: Box::new(literal),
        }
    } else {
        literal
    }
}

fn string_literal(value: &str) -> Expr {
    Expr::String {
        value: value.to_owned(),
    }
}

fn read_condition(
    condition: &Value,
    questions: &HashMap<String, Question>,
) -> Result<Expr, String> {
    let object = condition
        .as_object()
        .ok_or_else(|| String::from("an enableWhen is not an object"))?;
    let question_id = object
        .get("question")
        .and_then(Value::as_str)
        .ok_or_else(|| String::from("an enableWhen has no 'question'"))?;
    let operator = object
        .get("operator")
        .and_then(Value::as_str)
        .ok_or_else(|| String::from("an enableWhen has no 'operator'"))?;
    let question = questions.get(question_id).ok_or_else(|| {
        format!("enableWhen names question '{question_id}', which is not an item")
    })?;
    let field_type = question.field_type;
    if object.keys().any(|key| {
        !matches!(key.as_str(), "question" | "operator" | "id") && !key.starts_with("answer")
    }) {
        return Err(String::from("an enableWhen has members Hale does not know"));
    }
    let answers: Vec<(&String, &Value)> = object
        .iter()
        .filter(|(key, _)| key.starts_with("answer"))
        .collect();
    let [(kind, answer)] = answers.as_slice() else {
        return Err(String::from("an enableWhen needs exactly one answer[x]"));
    };
    let kind = kind.as_str();
    let field = Expr::Field {
        name: question.name.clone(),
    };
    if operator == "exists" {
        let Some(exists) = answer.as_bool().filter(|_| kind == "answerBoolean") else {
            return Err(String::from(
                "enableWhen operator 'exists' needs answerBoolean",
            ));
        };
        let test = answered(field);
        return Ok(if exists {
            test
        } else {
            call(Function::Not, vec![test])
        });
    }
    let (hale_op, negate) = match operator {
        "!=" => (BinaryOperator::Equal, true),
        other => (
            hale_operator(other)
                .ok_or_else(|| format!("enableWhen operator '{other}' is not an R4 operator"))?,
            false,
        ),
    };
    let ordering = hale_op != BinaryOperator::Equal;
    let equality_only = || {
        if ordering {
            Err(format!(
                "enableWhen operator '{operator}' with {kind} has no Hale equivalent (only numbers and dates are ordered)"
            ))
        } else {
            Ok(())
        }
    };
    let compare = |right: Expr| binary(hale_op, field.clone(), right);
    let leaf = match (kind, field_type) {
        (
            "answerInteger" | "answerDecimal",
            FieldType::Integer | FieldType::Decimal | FieldType::Range | FieldType::Calculate,
        ) => {
            let number = answer
                .as_f64()
                .ok_or_else(|| format!("{kind} is not a number"))?;
            compare(number_literal(number))
        }
        ("answerQuantity", FieldType::Decimal | FieldType::Range | FieldType::Calculate) => {
            let number = answer
                .get("value")
                .and_then(Value::as_f64)
                .ok_or_else(|| String::from("answerQuantity has no value"))?;
            compare(number_literal(number))
        }
        ("answerDate", FieldType::Date)
        | ("answerDateTime", FieldType::Datetime)
        | ("answerTime", FieldType::Time) => {
            let text = answer
                .as_str()
                .filter(|text| !text.is_empty())
                .ok_or_else(|| format!("{kind} is not a non-empty string"))?;
            if kind == "answerTime" {
                equality_only()?;
            }
            compare(string_literal(text))
        }
        ("answerString", FieldType::Text) => {
            let value = answer
                .as_str()
                .filter(|value| !value.is_empty())
                .ok_or_else(|| String::from("answerString is not a non-empty string"))?;
            if ordering {
                // FHIRPath orders strings by code point; Hale's `<` is numeric, so the order
                // is spelled out as a pattern.
                let pattern = ordering_pattern(hale_op, value).ok_or_else(|| {
                    format!("enableWhen operator '{operator}' with a string this long has no Hale equivalent")
                })?;
                call(
                    Function::Regex,
                    vec![field.clone(), string_literal(&pattern)],
                )
            } else {
                compare(string_literal(value))
            }
        }
        ("answerCoding", FieldType::SelectOne | FieldType::SelectMultiple) => {
            equality_only()?;
            let coding = answer
                .as_object()
                .ok_or_else(|| String::from("answerCoding is not an object"))?;
            if coding
                .keys()
                .any(|key| !matches!(key.as_str(), "code" | "display" | "system"))
            {
                return Err(String::from(
                    "answerCoding may only have 'system', 'code' and 'display'",
                ));
            }
            let code = coding
                .get("code")
                .and_then(Value::as_str)
                .filter(|code| !code.is_empty())
                .ok_or_else(|| String::from("answerCoding has no code"))?;
            choice_test(field, field_type, code)
        }
        (
            "answerString" | "answerInteger" | "answerDate" | "answerTime",
            FieldType::SelectOne | FieldType::SelectMultiple,
        ) if question.choice_type.is_some() || question.field_type == FieldType::SelectOne => {
            equality_only()?;
            let text = match (kind, answer) {
                ("answerInteger", Value::Number(number)) if number.is_i64() => number.to_string(),
                ("answerInteger", _) => {
                    // Hale does not guess what a mistyped answer meant.
                    let fitting = match question.choice_type {
                        Some(ChoiceType::Date) => "answerDate",
                        Some(ChoiceType::Time) => "answerTime",
                        Some(ChoiceType::String) => "answerString",
                        Some(ChoiceType::Integer) => "answerInteger",
                        None => "answerCoding",
                    };
                    return Err(format!(
                        "enableWhen answerInteger is not a JSON integer, which R4 requires; question '{question_id}' is answered by {fitting}"
                    ));
                }
                (_, Value::String(text)) => text.clone(),
                _ => return Err(format!("{kind} is not a string")),
            };
            // A free string option's value may differ from its text (no spaces in values).
            let value = question
                .choices
                .iter()
                .find(|(value, label)| *value == text || *label == text)
                .map_or(text.clone(), |(value, _)| value.clone());
            choice_test(field, field_type, &value)
        }
        ("answerBoolean", FieldType::Boolean | FieldType::Calculate) => {
            equality_only()?;
            let flag = answer
                .as_bool()
                .ok_or_else(|| String::from("answerBoolean is not a boolean"))?;
            if flag {
                compare(call(Function::True, Vec::new()))
            } else {
                // Hale reads an unanswered boolean as false; FHIR's `= false` needs an answer.
                binary(
                    BinaryOperator::And,
                    answered(field.clone()),
                    compare(call(Function::False, Vec::new())),
                )
            }
        }
        _ => {
            return Err(format!(
                "enableWhen with {kind} on question '{question_id}' (Hale type {}) has no Hale equivalent",
                field_type.as_str()
            ));
        }
    };
    Ok(if negate {
        call(Function::Not, vec![leaf])
    } else {
        leaf
    })
}

fn choice_test(field: Expr, field_type: FieldType, value: &str) -> Expr {
    if field_type == FieldType::SelectMultiple {
        call(Function::Selected, vec![field, string_literal(value)])
    } else {
        binary(BinaryOperator::Equal, field, string_literal(value))
    }
}

/// A character in a pattern: ASCII letters and digits as they are, anything else escaped.
fn pattern_char(c: char) -> String {
    if c.is_ascii_alphanumeric() {
        c.to_string()
    } else {
        format!("\\x{{{:X}}}", u32::from(c))
    }
}

fn pattern_text(text: &[char]) -> String {
    text.iter().copied().map(pattern_char).collect()
}

/// The characters after `c`, as a class (none after the last).
fn above(c: char) -> Option<String> {
    let next = match u32::from(c) {
        0xD7FF => 0xE000,
        code => code + 1,
    };
    char::from_u32(next).map(|next| format!("[{}-\\x{{10FFFF}}]", pattern_char(next)))
}

/// The characters before `c`, as a class (none before U+0000).
fn below(c: char) -> Option<String> {
    let previous = match u32::from(c) {
        0 => return None,
        0xE000 => 0xD7FF,
        code => code - 1,
    };
    char::from_u32(previous).map(|previous| format!("[\\x{{0}}-{}]", pattern_char(previous)))
}

/// A pattern that a non-empty text matches exactly when `text <operator> constant` in
/// FHIRPath's code-point order: a longer text with the constant as prefix is greater, else the
/// first differing character decides. The constant leads the pattern in a group repeated zero
/// times, so that the exporter can read it back. `None` when longer than Hale allows.
pub(crate) fn ordering_pattern(operator: BinaryOperator, constant: &str) -> Option<String> {
    let chars: Vec<char> = constant.chars().collect();
    let mut alternatives = Vec::new();
    let greater = matches!(
        operator,
        BinaryOperator::Greater | BinaryOperator::GreaterOrEqual
    );
    if greater {
        let tail = if operator == BinaryOperator::Greater {
            ".+"
        } else {
            ".*"
        };
        alternatives.push(format!("{}{tail}", pattern_text(&chars)));
    } else {
        let longest = if operator == BinaryOperator::LessOrEqual {
            chars.len()
        } else {
            chars.len().saturating_sub(1)
        };
        alternatives.extend((1..=longest).map(|length| pattern_text(&chars[..length])));
    }
    for (index, &c) in chars.iter().enumerate() {
        let class = if greater { above(c) } else { below(c) };
        if let Some(class) = class {
            alternatives.push(format!("{}{class}.*", pattern_text(&chars[..index])));
        }
    }
    if alternatives.is_empty() {
        // Nothing is below U+0000: a class that matches nothing.
        alternatives.push(String::from("[^\\x{0}-\\x{10FFFF}]"));
    }
    let pattern = format!(
        "^(?s:(?:{}){{0}}(?:{}))$",
        pattern_text(&chars),
        alternatives.join("|")
    );
    (pattern.chars().count() <= hale_expr::MAX_PATTERN_LENGTH).then_some(pattern)
}

/// The operator and constant of a pattern [`ordering_pattern`] wrote.
fn ordering_of(pattern: &str) -> Option<(&'static str, String)> {
    let rest = pattern.strip_prefix("^(?s:(?:")?;
    let (text, _) = rest.split_once("){0}")?;
    let mut constant = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let escape: String = chars.by_ref().take_while(|c| *c != '}').collect();
            let code = u32::from_str_radix(escape.strip_prefix("x{")?, 16).ok()?;
            constant.push(char::from_u32(code)?);
        } else {
            constant.push(c);
        }
    }
    [
        (BinaryOperator::Greater, ">"),
        (BinaryOperator::GreaterOrEqual, ">="),
        (BinaryOperator::Less, "<"),
        (BinaryOperator::LessOrEqual, "<="),
    ]
    .into_iter()
    .find(|(operator, _)| ordering_pattern(*operator, &constant).as_deref() == Some(pattern))
    .map(|(_, name)| (name, constant))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hale_expr::{DateTimeValue, MapEnv, evaluate};
    use proptest::prelude::*;

    fn matches(text: &str, pattern: &str) -> bool {
        let env = MapEnv::new(DateTimeValue::parse_rfc3339("2026-01-31T08:00:00Z").unwrap());
        let test = call(
            Function::Regex,
            vec![string_literal(text), string_literal(pattern)],
        );
        evaluate(&test, &env).truthy()
    }

    const OPERATORS: [BinaryOperator; 4] = [
        BinaryOperator::Greater,
        BinaryOperator::GreaterOrEqual,
        BinaryOperator::Less,
        BinaryOperator::LessOrEqual,
    ];

    #[test]
    fn string_order_is_code_point_order() {
        let pattern = ordering_pattern(BinaryOperator::Greater, "tes").unwrap();
        assert!(matches("test", &pattern));
        assert!(matches("u", &pattern));
        assert!(!matches("tes", &pattern));
        assert!(!matches("ta", &pattern));
        assert!(!matches("", &pattern));
        let pattern = ordering_pattern(BinaryOperator::Less, "test").unwrap();
        assert!(matches("tes", &pattern));
        assert!(matches("A", &pattern));
        assert!(!matches("test", &pattern));
        // Unanswered is the empty text, which no condition holds for.
        assert!(!matches("", &pattern));
        assert_eq!(
            ordering_of(&ordering_pattern(BinaryOperator::LessOrEqual, "a.b é").unwrap()),
            Some(("<=", String::from("a.b é")))
        );
    }

    proptest! {
        #[test]
        fn patterns_order_like_fhirpath(
            text in "[a-c.é\u{D7FF}\u{E000}\u{10FFFF}]{1,4}",
            constant in "[a-c.é\u{0}\u{D7FF}\u{E000}\u{10FFFF}]{1,4}",
        ) {
            for operator in OPERATORS {
                let pattern = ordering_pattern(operator, &constant).unwrap();
                // Rust compares strings by their UTF-8 bytes, which is code-point order.
                let expected = match operator {
                    BinaryOperator::Greater => text > constant,
                    BinaryOperator::GreaterOrEqual => text >= constant,
                    BinaryOperator::Less => text < constant,
                    _ => text <= constant,
                };
                prop_assert_eq!(matches(&text, &pattern), expected, "{} {:?}", text, operator);
                prop_assert_eq!(ordering_of(&pattern).map(|(_, c)| c), Some(constant.clone()));
            }
        }
    }
}
