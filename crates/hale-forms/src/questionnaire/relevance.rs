//! Relevance as `enableWhen`: only a single comparison, or comparisons all joined by `and` or
//! all by `or`, of a field with a literal, where FHIR's meaning is exactly Hale's. In
//! particular an unanswered question makes every FHIR condition false (except `exists`), so
//! only comparisons that Hale also reads as false when unanswered are mapped: `=` with a
//! non-empty text or choice, `= true()` on a boolean, `=`, `<`, `<=`, `>`, `>=` with a number,
//! and `selected(${multi}, 'v')`. Everything else stays a Hale expression.

use std::collections::HashMap;

use hale_expr::{BinaryOperator, Expr, Function};
use serde_json::{Value, json};

use crate::definition::FieldType;

/// What the exporter knows of a field that a relevance expression may name.
pub(crate) struct Target {
    pub field_type: FieldType,
    /// The enclosing repeat, if the field is answered once per row.
    pub repeat: Option<String>,
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
    let types = targets
        .iter()
        .map(|(name, target)| (name.clone(), target.field_type))
        .collect();
    (from_enable_when(&conditions, behavior, &types).ok()? == source)
        .then_some((conditions, behavior))
}

fn flatten<'a>(expr: &'a Expr, join: BinaryOperator, out: &mut Vec<&'a Expr>) {
    match expr {
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
    let reachable = |name: &str| {
        targets
            .get(name)
            .filter(|target| target.repeat.is_none() || target.repeat.as_deref() == own_repeat)
    };
    match leaf {
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
                (FieldType::SelectOne, Expr::String { value })
                    if operator == "=" && !value.is_empty() =>
                {
                    json!({"answerCoding": {"code": value}})
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
            let mut condition = json!({"question": name, "operator": operator});
            merge(&mut condition, answer);
            Some(condition)
        }
        Expr::Call {
            function: Function::Selected,
            arguments,
        } => {
            let [Expr::Field { name }, Expr::String { value }] = arguments.as_slice() else {
                return None;
            };
            let target = reachable(name)?;
            (target.field_type == FieldType::SelectMultiple && !value.is_empty()).then(
                || json!({"question": name, "operator": "=", "answerCoding": {"code": value}}),
            )
        }
        _ => None,
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// The Hale expression for `enableWhen` conditions; `types` gives the Hale type of every
/// linkId. Errors are sentences naming what cannot be expressed.
pub(crate) fn from_enable_when(
    conditions: &[Value],
    behavior: Option<&str>,
    types: &HashMap<String, FieldType>,
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
        let leaf = read_condition(condition, types)?;
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

fn read_condition(condition: &Value, types: &HashMap<String, FieldType>) -> Result<Expr, String> {
    let object = condition
        .as_object()
        .ok_or_else(|| String::from("an enableWhen is not an object"))?;
    let question = object
        .get("question")
        .and_then(Value::as_str)
        .ok_or_else(|| String::from("an enableWhen has no 'question'"))?;
    let operator = object
        .get("operator")
        .and_then(Value::as_str)
        .ok_or_else(|| String::from("an enableWhen has no 'operator'"))?;
    let field_type = *types
        .get(question)
        .ok_or_else(|| format!("enableWhen names question '{question}', which is not an item"))?;
    let Some(hale_op) = hale_operator(operator) else {
        return Err(format!(
            "enableWhen operator '{operator}' has no exact Hale equivalent (Hale reads an unanswered question differently); use an enableWhenExpression"
        ));
    };
    let answers: Vec<(&String, &Value)> = object
        .iter()
        .filter(|(key, _)| key.starts_with("answer"))
        .collect();
    if object.keys().any(|key| {
        !matches!(key.as_str(), "question" | "operator" | "id") && !key.starts_with("answer")
    }) {
        return Err(String::from("an enableWhen has members Hale does not know"));
    }
    let [(kind, answer)] = answers.as_slice() else {
        return Err(String::from("an enableWhen needs exactly one answer[x]"));
    };
    let field = Box::new(Expr::Field {
        name: question.to_owned(),
    });
    let binary = |right: Expr| Expr::Binary {
        operator: hale_op,
        left: field.clone(),
        right: Box::new(right),
    };
    let equality_only = || {
        if operator == "=" {
            Ok(())
        } else {
            Err(format!(
                "enableWhen operator '{operator}' with {kind} has no Hale equivalent"
            ))
        }
    };
    match (kind.as_str(), field_type) {
        (
            "answerInteger" | "answerDecimal",
            FieldType::Integer | FieldType::Decimal | FieldType::Range,
        ) => {
            let number = answer
                .as_f64()
                .ok_or_else(|| format!("{kind} is not a number"))?;
            let literal = Expr::Number {
                value: number.abs(),
            };
            Ok(binary(if number < 0.0 {
                Expr::Negate {
                    operand: Box::new(literal),
                }
            } else {
                literal
            }))
        }
        ("answerString", FieldType::Text) => {
            equality_only()?;
            let value = answer
                .as_str()
                .filter(|value| !value.is_empty())
                .ok_or_else(|| String::from("answerString is not a non-empty string"))?;
            Ok(binary(Expr::String {
                value: value.to_owned(),
            }))
        }
        ("answerCoding", FieldType::SelectOne | FieldType::SelectMultiple) => {
            equality_only()?;
            let coding = answer
                .as_object()
                .ok_or_else(|| String::from("answerCoding is not an object"))?;
            if coding.keys().any(|key| key != "code" && key != "display") {
                return Err(String::from(
                    "answerCoding may only have 'code' (and 'display'): Hale choices have no system",
                ));
            }
            let code = coding
                .get("code")
                .and_then(Value::as_str)
                .filter(|code| !code.is_empty())
                .ok_or_else(|| String::from("answerCoding has no code"))?;
            let code = Expr::String {
                value: code.to_owned(),
            };
            Ok(if field_type == FieldType::SelectOne {
                binary(code)
            } else {
                Expr::Call {
                    function: Function::Selected,
                    arguments: vec![*field.clone(), code],
                }
            })
        }
        ("answerBoolean", FieldType::Boolean) => {
            equality_only()?;
            if **answer != Value::Bool(true) {
                return Err(String::from(
                    "enableWhen answerBoolean false has no exact Hale equivalent (Hale reads unanswered as false)",
                ));
            }
            Ok(binary(Expr::Call {
                function: Function::True,
                arguments: Vec::new(),
            }))
        }
        _ => Err(format!(
            "enableWhen with {kind} on question '{question}' (Hale type {}) has no Hale equivalent",
            field_type.as_str()
        )),
    }
}
