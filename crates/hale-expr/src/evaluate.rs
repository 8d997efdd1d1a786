//! Evaluates a parsed [`Expr`] against an [`Env`] that supplies field values, the current
//! field's value and the clock. Total: every input yields a [`Value`], never a panic or a loop.

use std::collections::BTreeMap;

use regex::RegexBuilder;

use crate::ast::{BinaryOperator, Expr, Function};
use crate::functions;
use crate::parser::MAX_TREE_DEPTH;
use crate::value::{DateTimeValue, DateValue, Value, parse_xpath_number};

/// Longest accepted regex pattern, in characters.
pub const MAX_PATTERN_LENGTH: usize = 1024;
/// Cap on a compiled regex program and on its lazy DFA cache, in bytes.
pub const MAX_COMPILED_PATTERN_BYTES: usize = 256 * 1024;

/// Where an expression reads its inputs. The clock is injected so that evaluation is
/// reproducible and the server and browser agree.
pub trait Env {
    /// The value of `${field}`; [`Value::Null`] when unanswered or unknown.
    fn value(&self, field: &str) -> Value;
    /// The value of `.`, the field the expression belongs to.
    fn current(&self) -> Value;
    /// What `now()` returns; `today()` is its wall-clock date.
    fn now(&self) -> DateTimeValue;
    /// Every value of `${field}`: one per row for a field inside a repeat (one per row of the
    /// repeat itself for a repeat), else the one value. `count`, `sum`, `max`, `min` and
    /// `indexed-repeat` read these.
    fn nodes(&self, field: &str) -> Vec<Value> {
        vec![self.value(field)]
    }
    /// `indexed-repeat(${field}, ${r1}, n1[, ${r2}, n2[, ${r3}, n3]])`: the value of `field` in
    /// row `n1` (counted from 1) of repeat `r1`, row `n2` of the repeat `r2` inside that row,
    /// and so on; unanswered when there is no such row. The default reads [`Env::nodes`] for
    /// one repeat, and has no rows of nested repeats.
    fn indexed_repeat(&self, field: &str, rows: &[(&str, f64)]) -> Value {
        match rows {
            [(_, row)] => nth_row(self.nodes(field), *row),
            _ => Value::Null,
        }
    }
    /// `position(..)`: the 1-based row of the repeat being evaluated; unanswered outside one.
    fn position(&self) -> Value {
        Value::Null
    }
    /// The label of choice `value` of the select `field` in the form's language, for
    /// `jr:choice-name`; `""` when there is no such choice.
    fn choice_label(&self, field: &str, value: &str) -> Value {
        let _ = (field, value);
        Value::String(String::new())
    }
    /// A member of the choice a choice filter is deciding on (`name`, `label` or one of its
    /// attributes); unanswered outside a choice filter and for a member the choice lacks.
    fn attribute(&self, name: &str) -> Value {
        let _ = name;
        Value::Null
    }
    /// `pulldata(file, column, key_column, key)`: `column` of the first row of the data file
    /// `file` (named without its extension) attached to the app version whose `key_column`
    /// holds `key`; `""` when there is no such file, row or column.
    fn pull_data(&self, file: &str, column: &str, key_column: &str, key: &str) -> Value {
        let _ = (file, column, key_column, key);
        Value::String(String::new())
    }
    /// The submission's seed and the call's site (field and row) that `random()` and
    /// `uuid()` draw from (see [`crate::seeded_random`]).
    fn random_site(&self) -> (String, String) {
        (String::new(), String::new())
    }
}

/// Row `row` (counted from 1) of `values`; unanswered for anything else.
pub fn nth_row(values: Vec<Value>, row: f64) -> Value {
    if row.fract() == 0.0 && row >= 1.0 && row <= values.len() as f64 {
        values
            .into_iter()
            .nth(row as usize - 1)
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    }
}

/// An [`Env`] backed by a map, for tests, previews and simple callers.
#[derive(Debug, Clone, PartialEq)]
pub struct MapEnv {
    pub values: BTreeMap<String, Value>,
    pub current: Value,
    pub now: DateTimeValue,
    /// Row values of fields in repeats, for `count`, `sum`, …; fields missing here read as
    /// their one value.
    pub nodes: BTreeMap<String, Vec<Value>>,
    /// What `position(..)` returns.
    pub position: Value,
    /// Choice labels by select field and choice value.
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
    /// The submission's seed and the call site for `random()` and `uuid()`.
    pub seed: String,
    pub site: String,
    /// The members of the choice a choice filter is deciding on.
    pub choice: BTreeMap<String, Value>,
}

impl MapEnv {
    pub fn new(now: DateTimeValue) -> Self {
        Self {
            values: BTreeMap::new(),
            current: Value::Null,
            now,
            nodes: BTreeMap::new(),
            position: Value::Null,
            labels: BTreeMap::new(),
            seed: String::new(),
            site: String::new(),
            choice: BTreeMap::new(),
        }
    }

    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.values.insert(String::from(field), value);
        self
    }

    pub fn with_current(mut self, value: Value) -> Self {
        self.current = value;
        self
    }
}

impl Env for MapEnv {
    fn value(&self, field: &str) -> Value {
        self.values.get(field).cloned().unwrap_or(Value::Null)
    }

    fn current(&self) -> Value {
        self.current.clone()
    }

    fn now(&self) -> DateTimeValue {
        self.now
    }

    fn nodes(&self, field: &str) -> Vec<Value> {
        self.nodes
            .get(field)
            .cloned()
            .unwrap_or_else(|| vec![self.value(field)])
    }

    fn position(&self) -> Value {
        self.position.clone()
    }

    fn choice_label(&self, field: &str, value: &str) -> Value {
        Value::String(
            self.labels
                .get(field)
                .and_then(|labels| labels.get(value))
                .cloned()
                .unwrap_or_default(),
        )
    }

    fn random_site(&self) -> (String, String) {
        (self.seed.clone(), self.site.clone())
    }

    fn attribute(&self, name: &str) -> Value {
        self.choice.get(name).cloned().unwrap_or(Value::Null)
    }
}

/// Evaluates `expr`. Trees deeper than the parser allows (only possible when built by hand
/// or deserialised from elsewhere) evaluate to [`Value::Null`] below the limit instead of
/// risking the stack.
pub fn evaluate(expr: &Expr, env: &dyn Env) -> Value {
    evaluate_at(expr, env, 1)
}

fn evaluate_at(expr: &Expr, env: &dyn Env, depth: usize) -> Value {
    if depth > MAX_TREE_DEPTH {
        return Value::Null;
    }
    let below = depth + 1;
    match expr {
        Expr::Number { value } => Value::Number(*value),
        Expr::String { value } => Value::String(value.clone()),
        Expr::Field { name } => env.value(name),
        Expr::Current => env.current(),
        Expr::Attribute { name } => env.attribute(name),
        Expr::Negate { operand } => Value::Number(-evaluate_at(operand, env, below).as_number()),
        Expr::Binary {
            operator,
            left,
            right,
        } => binary(*operator, left, right, env, below),
        Expr::Call {
            function,
            arguments,
        } => call(*function, arguments, env, below),
    }
}

fn binary(
    operator: BinaryOperator,
    left: &Expr,
    right: &Expr,
    env: &dyn Env,
    depth: usize,
) -> Value {
    // `and` and `or` short-circuit, as XPath requires.
    match operator {
        BinaryOperator::Or => {
            return Value::Bool(
                evaluate_at(left, env, depth).truthy() || evaluate_at(right, env, depth).truthy(),
            );
        }
        BinaryOperator::And => {
            return Value::Bool(
                evaluate_at(left, env, depth).truthy() && evaluate_at(right, env, depth).truthy(),
            );
        }
        _ => {}
    }
    let left = evaluate_at(left, env, depth);
    let right = evaluate_at(right, env, depth);
    match operator {
        BinaryOperator::Equal => Value::Bool(equal(&left, &right)),
        BinaryOperator::NotEqual => Value::Bool(!equal(&left, &right)),
        BinaryOperator::Less
        | BinaryOperator::LessOrEqual
        | BinaryOperator::Greater
        | BinaryOperator::GreaterOrEqual => Value::Bool(relational(operator, &left, &right)),
        _ => {
            let (left, right) = numeric_operands(&left, &right);
            Value::Number(match operator {
                BinaryOperator::Add => left + right,
                BinaryOperator::Subtract => left - right,
                BinaryOperator::Multiply => left * right,
                BinaryOperator::Divide => left / right,
                // Truncating remainder with the sign of the dividend, as in XPath; x mod 0 is NaN.
                _ => left % right,
            })
        }
    }
}

fn is_temporal(value: &Value) -> bool {
    matches!(value, Value::Date(_) | Value::DateTime(_))
}

/// A value as days since 1970-01-01, for operations where the other side is a date: text
/// is read as a date or date-time before falling back to a plain number.
fn day_number(value: &Value) -> f64 {
    if let Value::String(text) = value {
        let trimmed = text.trim();
        if let Some(date) = DateValue::parse(trimmed) {
            return date.days_since_epoch() as f64;
        }
        if let Some(datetime) = DateTimeValue::parse_rfc3339(trimmed) {
            return datetime.local_days();
        }
        return parse_xpath_number(trimmed);
    }
    value.as_number()
}

fn numeric_operands(left: &Value, right: &Value) -> (f64, f64) {
    if is_temporal(left) || is_temporal(right) {
        (day_number(left), day_number(right))
    } else {
        (left.as_number(), right.as_number())
    }
}

/// XPath `=` for single values, with unanswered read as the empty string: a boolean on
/// either side compares truthiness, else a number compares numerically, else a date compares
/// by day number, else both compare as strings.
fn equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Bool(_), _) | (_, Value::Bool(_)) => left.truthy() == right.truthy(),
        (Value::DateTime(first), Value::DateTime(second)) => {
            first.unix_millis() == second.unix_millis()
        }
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            let (left, right) = numeric_operands(left, right);
            left == right
        }
        _ if is_temporal(left) || is_temporal(right) => {
            if left.is_empty() || right.is_empty() {
                return left.is_empty() && right.is_empty();
            }
            day_number(left) == day_number(right)
        }
        _ => left.as_string() == right.as_string(),
    }
}

/// XPath `<`, `<=`, `>`, `>=`: always numeric (so unanswered is NaN and compares false);
/// date-times against date-times compare by instant.
fn relational(operator: BinaryOperator, left: &Value, right: &Value) -> bool {
    let (left, right) = match (left, right) {
        (Value::DateTime(first), Value::DateTime(second)) => {
            (first.unix_millis() as f64, second.unix_millis() as f64)
        }
        _ => numeric_operands(left, right),
    };
    match operator {
        BinaryOperator::Less => left < right,
        BinaryOperator::LessOrEqual => left <= right,
        BinaryOperator::Greater => left > right,
        _ => left >= right,
    }
}

fn call(function: Function, arguments: &[Expr], env: &dyn Env, depth: usize) -> Value {
    let argument = |index: usize| {
        arguments
            .get(index)
            .map_or(Value::Null, |expr| evaluate_at(expr, env, depth))
    };
    // The rows of a field argument, or the one value of any other argument.
    let nodes = |index: usize| match arguments.get(index) {
        Some(Expr::Field { name }) => env.nodes(name),
        Some(other) => vec![evaluate_at(other, env, depth)],
        None => Vec::new(),
    };
    match function {
        Function::True => Value::Bool(true),
        Function::False => Value::Bool(false),
        Function::Not => Value::Bool(!argument(0).truthy()),
        Function::If => {
            // Only the chosen branch runs, so an unused branch cannot cost anything.
            if argument(0).truthy() {
                argument(1)
            } else {
                argument(2)
            }
        }
        Function::Selected => {
            let wanted = argument(1).as_string();
            let wanted = wanted.trim();
            Value::Bool(argument(0).choices().iter().any(|choice| choice == wanted))
        }
        Function::CountSelected => Value::Number(argument(0).choices().len() as f64),
        Function::Today => Value::Date(env.now().local_date()),
        Function::Now => Value::DateTime(env.now()),
        Function::Regex => {
            let pattern = argument(1).as_string();
            let subject = argument(0).as_string();
            Value::Bool(compile_pattern(&pattern).is_ok_and(|regex| regex.is_match(&subject)))
        }
        Function::StringLength => Value::Number(argument(0).as_string().chars().count() as f64),
        Function::Contains => {
            Value::Bool(argument(0).as_string().contains(&argument(1).as_string()))
        }
        Function::StartsWith => Value::Bool(
            argument(0)
                .as_string()
                .starts_with(&argument(1).as_string()),
        ),
        Function::EndsWith => {
            Value::Bool(argument(0).as_string().ends_with(&argument(1).as_string()))
        }
        Function::Round => {
            let digits = if arguments.len() > 1 {
                argument(1).as_number()
            } else {
                0.0
            };
            Value::Number(round_to_digits(argument(0).as_number(), digits))
        }
        Function::Int => Value::Number(argument(0).as_number().trunc()),
        Function::Coalesce => {
            let first = argument(0);
            if first.is_empty() { argument(1) } else { first }
        }
        Function::Concat => Value::String(
            arguments
                .iter()
                .map(|expr| evaluate_at(expr, env, depth).as_string())
                .collect(),
        ),
        Function::Number => Value::Number(argument(0).as_number()),
        Function::String => Value::String(argument(0).as_string()),
        Function::Boolean => Value::Bool(argument(0).truthy()),
        Function::Date => to_date(argument(0)),
        Function::Count => Value::Number(nodes(0).len() as f64),
        Function::Sum => functions::sum(&nodes(0)),
        Function::Max | Function::Min => {
            let mut all = Vec::new();
            for (index, argument) in arguments.iter().enumerate() {
                match argument {
                    Expr::Field { .. } => all.extend(nodes(index)),
                    other => all.push(evaluate_at(other, env, depth)),
                }
            }
            functions::extreme(&all, function == Function::Max)
        }
        Function::Position => env.position(),
        Function::IndexedRepeat => {
            // The field, then each repeat with its row (counted from 1; anything else is no row).
            let Some(Expr::Field { name }) = arguments.first() else {
                return Value::Null;
            };
            let mut rows = Vec::new();
            for pair in arguments[1..].chunks(2) {
                let [Expr::Field { name: repeat }, row] = pair else {
                    return Value::Null;
                };
                rows.push((repeat.as_str(), evaluate_at(row, env, depth).as_number()));
            }
            env.indexed_repeat(name, &rows)
        }
        Function::Once => {
            // The field keeps the value it already has; only an empty one is computed.
            let own = env.current();
            if own.is_empty() { argument(0) } else { own }
        }
        Function::ChoiceName => match arguments.get(1) {
            Some(Expr::Field { name }) => env.choice_label(name, argument(0).as_string().trim()),
            _ => Value::String(String::new()),
        },
        Function::FormatDate => functions::format_date(&argument(0), &argument(1).as_string()),
        Function::DecimalDateTime => functions::decimal_date_time(&argument(0)),
        Function::BooleanFromString => functions::boolean_from_string(&argument(0)),
        Function::PullData => env.pull_data(
            &argument(0).as_string(),
            &argument(1).as_string(),
            &argument(2).as_string(),
            &argument(3).as_string(),
        ),
        Function::Uuid => {
            let (seed, site) = env.random_site();
            Value::String(functions::seeded_uuid(&seed, &site))
        }
        Function::Random => {
            let (seed, site) = env.random_site();
            Value::Number(functions::seeded_random(&seed, &site))
        }
    }
}

/// Rounds half away from zero at `digits` decimal places (negative digits round to tens,
/// hundreds, ...). Works on binary floating point, so `round(1.005, 2)` is 1 (1.005 is
/// stored as 1.00499...).
fn round_to_digits(number: f64, digits: f64) -> f64 {
    if !number.is_finite() || digits.is_nan() {
        return if digits.is_nan() { f64::NAN } else { number };
    }
    // Beyond ±308 the scale factor leaves the f64 range; no result would change anyway.
    let digits = digits.trunc().clamp(-308.0, 308.0) as i32;
    if digits == 0 {
        return number.round();
    }
    if digits > 0 {
        let scale = 10_f64.powi(digits);
        let scaled = number * scale;
        if !scaled.is_finite() {
            return number;
        }
        scaled.round() / scale
    } else {
        let scale = 10_f64.powi(-digits);
        (number / scale).round() * scale
    }
}

/// `date(x)`: a date stays, a date-time gives its wall-clock date, a number counts days from
/// 1970-01-01 (fractions dropped towards the past), text may be `YYYY-MM-DD`, RFC 3339 or a
/// number. Anything else, or a date outside 0001–9999, is unanswered.
fn to_date(value: Value) -> Value {
    let days = match &value {
        Value::Date(date) => return Value::Date(*date),
        Value::DateTime(datetime) => return Value::Date(datetime.local_date()),
        Value::Number(number) => *number,
        Value::String(_) | Value::Multi(_) => {
            let text = value.as_string();
            let text = text.trim();
            if let Some(date) = DateValue::parse(text) {
                return Value::Date(date);
            }
            if let Some(datetime) = DateTimeValue::parse_rfc3339(text) {
                return Value::Date(datetime.local_date());
            }
            parse_xpath_number(text)
        }
        Value::Null | Value::Bool(_) => return Value::Null,
    };
    if !days.is_finite() || days.abs() > 1e9 {
        return Value::Null;
    }
    DateValue::from_days(days.floor() as i64).map_or(Value::Null, Value::Date)
}

/// Compiles a pattern under the length and size caps. Matching is unanchored (use `^` and
/// `$` to match the whole value) and linear-time in the input.
pub(crate) fn compile_pattern(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.chars().nth(MAX_PATTERN_LENGTH).is_some() {
        return Err(format!(
            "pattern is longer than {MAX_PATTERN_LENGTH} characters"
        ));
    }
    RegexBuilder::new(pattern)
        .size_limit(MAX_COMPILED_PATTERN_BYTES)
        .dfa_size_limit(MAX_COMPILED_PATTERN_BYTES)
        .nest_limit(64)
        .build()
        .map_err(|error| match error {
            regex::Error::CompiledTooBig(_) => String::from("pattern compiles too large"),
            other => other
                .to_string()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string(),
        })
}
