//! Validation of a submission against a compiled form: relevance and calculations in
//! dependency order, then required, types, bounds, choices, constraints and repeat rows, and
//! finally the observations derived from coded numeric answers. Every error names the field
//! (`name`, or `repeat[row].name` with 0-based rows) and carries a stable code; no message or
//! path repeats a submitted value, because answers are PHI.

use std::collections::HashMap;

use hale_clinical::news2::News2Score;
use hale_domain::Timestamp;
use hale_domain::event::ObservationRecord;
use hale_expr::{DateTimeValue, Env, Expr, Value, evaluate};
use serde::Serialize;
use serde_json::Map;

use crate::answer::{read_answer, same_computed};
use crate::compile::{CompiledField, CompiledForm};
use crate::definition::{Choice, FieldType};
use crate::observe::{Reading, derive};

/// One problem with one answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// What a valid submission yields besides its answers.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidSubmission {
    pub observations: Vec<ObservationRecord>,
    pub news2: Option<News2Score>,
}

/// Every repeat row's values from the previous pass, by repeat index.
type RowValues = HashMap<usize, Vec<HashMap<String, Value>>>;

/// What every expression of one submission shares besides the values.
#[derive(Clone, Copy)]
struct Shared<'a> {
    form: &'a CompiledForm,
    rows: &'a RowValues,
    seed: &'a str,
}

/// The values an expression can read: the current repeat row's first, then the top level;
/// a repeat's rows through `nodes`.
struct Scope<'a> {
    top: &'a HashMap<String, Value>,
    row: Option<&'a HashMap<String, Value>>,
    current: Value,
    now: DateTimeValue,
    shared: Option<Shared<'a>>,
    /// (repeat index, 0-based row) while a row is evaluated.
    position: Option<(usize, usize)>,
    /// The field the expression belongs to, for `random()`'s call site.
    field: &'a str,
}

impl Env for Scope<'_> {
    fn nodes(&self, field: &str) -> Vec<Value> {
        let Some(shared) = self.shared else {
            return vec![self.value(field)];
        };
        let Some(index) = shared.form.index_of(field) else {
            return vec![Value::Null];
        };
        let target = &shared.form.fields[index];
        let own_repeat = self.position.map(|(repeat, _)| repeat);
        let rows = |repeat: usize| shared.rows.get(&repeat).map(Vec::as_slice).unwrap_or(&[]);
        if target.field_type == FieldType::Repeat && own_repeat != Some(index) {
            return vec![Value::Null; rows(index).len()];
        }
        match target.repeat {
            Some(repeat) if own_repeat != Some(repeat) => rows(repeat)
                .iter()
                .map(|row| row.get(field).cloned().unwrap_or(Value::Null))
                .collect(),
            _ => vec![self.value(field)],
        }
    }

    fn position(&self) -> Value {
        self.position
            .map_or(Value::Null, |(_, row)| Value::Number(row as f64 + 1.0))
    }

    fn choice_label(&self, field: &str, value: &str) -> Value {
        let label = self.shared.and_then(|shared| {
            let index = shared.form.index_of(field)?;
            let choice = shared.form.fields[index]
                .choices
                .iter()
                .find(|choice| choice.value == value)?;
            Some(
                choice
                    .label
                    .in_language(&shared.form.default_language)
                    .to_owned(),
            )
        });
        Value::String(label.unwrap_or_default())
    }

    fn random_site(&self) -> (String, String) {
        let seed = self.shared.map(|shared| shared.seed).unwrap_or("");
        let site = match self.position {
            Some((_, row)) => format!("{}#{}", self.field, row + 1),
            None => self.field.to_owned(),
        };
        (seed.to_owned(), site)
    }

    fn value(&self, field: &str) -> Value {
        self.row
            .and_then(|row| row.get(field))
            .or_else(|| self.top.get(field))
            .cloned()
            .unwrap_or(Value::Null)
    }
    fn current(&self) -> Value {
        self.current.clone()
    }
    fn now(&self) -> DateTimeValue {
        self.now
    }
}

/// The state of one level (the top, or one repeat row) while it is evaluated.
#[derive(Default)]
struct Level {
    values: HashMap<String, Value>,
    relevant: HashMap<usize, bool>,
    /// Fields whose answer was read, for the constraint pass.
    answered: Vec<usize>,
}

struct Run<'a> {
    form: &'a CompiledForm,
    now: DateTimeValue,
    errors: Vec<FieldError>,
    readings: Vec<Reading>,
    /// Repeat rows as the previous pass left them, for `count`, `sum`, … outside a repeat.
    rows: &'a RowValues,
    seed: &'a str,
    /// (repeat index, 0-based row) of the row being evaluated.
    position: Option<(usize, usize)>,
}

fn path_of(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

impl Run<'_> {
    fn error(&mut self, path: String, code: &'static str, message: &str) {
        self.errors.push(FieldError {
            field: path,
            code,
            message: message.to_owned(),
        });
    }

    fn scope<'s>(
        &'s self,
        top: &'s HashMap<String, Value>,
        row: Option<&'s HashMap<String, Value>>,
        current: Value,
        field: &'s str,
    ) -> Scope<'s> {
        Scope {
            top,
            row,
            current,
            now: self.now,
            shared: Some(Shared {
                form: self.form,
                rows: self.rows,
                seed: self.seed,
            }),
            position: self.position,
            field,
        }
    }

    fn truthy(
        &self,
        expr: &Expr,
        top: &HashMap<String, Value>,
        level: &Level,
        in_row: bool,
        field: &str,
    ) -> bool {
        let scope = self.scope(top, in_row.then_some(&level.values), Value::Null, field);
        evaluate(expr, &scope).truthy()
    }

    /// Evaluates one level: `repeat` is `None` for the top level, else the repeat's index;
    /// `prefix` is prepended to field names in error paths.
    fn level(
        &mut self,
        answers: &Map<String, serde_json::Value>,
        repeat: Option<usize>,
        prefix: &str,
        top: Option<&Level>,
    ) -> Level {
        let form = self.form;
        let mut level = Level::default();
        let empty = HashMap::new();
        let in_row = top.is_some();
        let own_fields = || {
            form.fields
                .iter()
                .enumerate()
                .filter(move |(_, field)| field.repeat == repeat)
        };
        let unknown = answers
            .keys()
            .filter(|key| {
                !own_fields().any(|(index, field)| {
                    &field.name == *key
                        && Some(index) != repeat
                        && field.field_type != FieldType::Group
                })
            })
            .count();
        if unknown > 0 {
            // Keys are client-chosen text (possibly PHI), so the error names the object that
            // holds them and how many there are, one error however many: never a key itself.
            let holder = match prefix.strip_suffix('.') {
                Some(row) => row.to_owned(),
                None => String::from("answers"),
            };
            let message = if unknown == 1 {
                String::from("1 answer names no field of this app")
            } else {
                format!("{unknown} answers name no field of this app")
            };
            self.error(holder, "unknown_field", &message);
        }
        for &index in &form.order {
            let field = &form.fields[index];
            if field.repeat != repeat || Some(index) == repeat {
                continue;
            }
            let top_values = top.map(|top| &top.values).unwrap_or(&empty);
            let values_for_eval = if in_row { top_values } else { &level.values };
            let parent_relevant = match field.parent {
                None => true,
                Some(parent) if Some(parent) == repeat => true,
                Some(parent) => level
                    .relevant
                    .get(&parent)
                    .or_else(|| top.and_then(|top| top.relevant.get(&parent)))
                    .copied()
                    .unwrap_or(true),
            };
            let relevant = parent_relevant
                && field.relevant.as_ref().is_none_or(|expr| {
                    self.truthy(expr, values_for_eval, &level, in_row, &field.name)
                });
            level.relevant.insert(index, relevant);
            let path = path_of(prefix, &field.name);
            let submitted = answers.get(&field.name).filter(|json| !json.is_null());
            match field.field_type {
                FieldType::Group => {}
                // A typed question with a calculation is a read-only computed answer; one set
                // by a trigger stays a question the person may change.
                _ if field.calculation.is_some()
                    && !field.field_type.is_container()
                    && (field.read_only || field.field_type == FieldType::Calculate) =>
                {
                    // `.` (and so `once(…)`) reads the submitted value: a value computed once
                    // on the device keeps what it first computed.
                    let own = submitted.map(computed_value).unwrap_or(Value::Null);
                    let mut value = match (&field.calculation, relevant) {
                        (Some(expr), true) => {
                            let scope = self.scope(
                                values_for_eval,
                                in_row.then_some(&level.values),
                                own.clone(),
                                &field.name,
                            );
                            evaluate(expr, &scope)
                        }
                        _ => Value::Null,
                    };
                    // A triggered value was computed when its trigger last changed, so it
                    // can be checked only when the calculation reads nothing but the
                    // triggers, whose final answers it then saw.
                    let checkable = field.trigger.is_empty()
                        || field.calculation.as_ref().is_some_and(|expr| {
                            !expr.reads_beyond_fields()
                                && expr
                                    .references()
                                    .iter()
                                    .all(|name| field.trigger.contains(name))
                        });
                    if let Some(json) = submitted {
                        if !relevant {
                            self.error(
                                path.clone(),
                                "not_relevant",
                                "this field is not relevant and must not be answered",
                            );
                        } else if !checkable {
                            value = match read_answer(field, json) {
                                _ if field.field_type == FieldType::Calculate => own,
                                Ok(answer) => answer.value,
                                Err(problem) => {
                                    self.error(path.clone(), problem.code, problem.message);
                                    Value::Null
                                }
                            };
                        } else if !same_computed(&value, json) {
                            self.error(
                                path.clone(),
                                "calculation_mismatch",
                                "the submitted value differs from the calculation",
                            );
                        }
                    } else if !field.trigger.is_empty() {
                        // Unsubmitted, it holds what its trigger last gave it: nothing until a
                        // trigger is answered.
                        let scope = self.scope(
                            values_for_eval,
                            in_row.then_some(&level.values),
                            Value::Null,
                            &field.name,
                        );
                        let triggered = field
                            .trigger
                            .iter()
                            .any(|name| !scope.value(name).is_empty());
                        if !checkable || !triggered {
                            value = Value::Null;
                        }
                    }
                    if let Value::Number(number) = value
                        && number.is_finite()
                        && field.code.is_some()
                    {
                        self.readings.push(Reading {
                            index,
                            path,
                            number,
                            in_repeat: in_row,
                        });
                    }
                    level.values.insert(field.name.clone(), value);
                }
                FieldType::Note => {
                    if submitted.is_some() {
                        self.error(path, "not_answerable", "a note takes no answer");
                    }
                }
                FieldType::Repeat => {
                    let count = field.repeat_count.as_ref().map(|expr| {
                        let scope = self.scope(
                            values_for_eval,
                            in_row.then_some(&level.values),
                            Value::Null,
                            &field.name,
                        );
                        evaluate(expr, &scope).as_number()
                    });
                    let rows = self.check_repeat(field, submitted, relevant, &path, count);
                    level
                        .values
                        .insert(field.name.clone(), Value::Number(rows as f64));
                }
                _ => {
                    let required = field.required
                        || field.required_if.as_ref().is_some_and(|expr| {
                            self.truthy(expr, values_for_eval, &level, in_row, &field.name)
                        });
                    if field.read_only && submitted.is_some() && submitted != field.default.as_ref()
                    {
                        self.error(
                            path.clone(),
                            "read_only",
                            "this field is read-only: its answer is its default",
                        );
                    }
                    if submitted.is_none() && relevant && required {
                        let message = field
                            .required_message
                            .as_ref()
                            .map(|text| text.in_language(&form.default_language).to_owned())
                            .unwrap_or_else(|| String::from("an answer is required"));
                        self.error(path.clone(), "required", &message);
                    }
                    let mut value =
                        self.answer(field, index, submitted, relevant, path.clone(), in_row);
                    if let Some(filter) = &field.choice_filter {
                        let scope = self.scope(
                            values_for_eval,
                            in_row.then_some(&level.values),
                            Value::Null,
                            &field.name,
                        );
                        if !chosen_are_offered(field, filter, &scope, &value) {
                            self.error(
                                path,
                                "choice_not_offered",
                                "the answer is not among the choices the field's choice_filter offers",
                            );
                            value = Value::Null;
                        }
                    }
                    if !value.is_empty() {
                        level.answered.push(index);
                    }
                    level.values.insert(field.name.clone(), value);
                }
            }
        }
        // Constraints may read any field, including later ones, so they run once every value
        // of the level is known.
        for &index in &level.answered {
            let field = &form.fields[index];
            let Some(expr) = &field.constraint else {
                continue;
            };
            let top_values = top.map(|top| &top.values).unwrap_or(&level.values);
            let current = level
                .values
                .get(&field.name)
                .cloned()
                .unwrap_or(Value::Null);
            let scope = self.scope(
                top_values,
                in_row.then_some(&level.values),
                current,
                &field.name,
            );
            if !evaluate(expr, &scope).truthy() {
                let message = field
                    .constraint_message
                    .as_ref()
                    .map(|text| text.in_language(&form.default_language).to_owned())
                    .unwrap_or_else(|| {
                        String::from("the answer does not meet the field's constraint")
                    });
                self.error(path_of(prefix, &field.name), "constraint_failed", &message);
            }
        }
        level
    }

    /// Checks a repeat's rows (not their contents) and returns how many there are.
    fn check_repeat(
        &mut self,
        field: &CompiledField,
        submitted: Option<&serde_json::Value>,
        relevant: bool,
        path: &str,
        count: Option<f64>,
    ) -> usize {
        let Some(json) = submitted else {
            if relevant && field.min_count.is_some_and(|low| low > 0) {
                self.error(
                    path.to_owned(),
                    "too_few_rows",
                    "the repeat has fewer rows than its minimum",
                );
            }
            return 0;
        };
        let Some(rows) = json.as_array() else {
            self.error(
                path.to_owned(),
                "not_a_list",
                "a repeat's answer is a list of rows",
            );
            return 0;
        };
        if !relevant {
            if !rows.is_empty() {
                self.error(
                    path.to_owned(),
                    "not_relevant",
                    "this field is not relevant and must not be answered",
                );
            }
            return 0;
        }
        // `repeat_count`: the client offers exactly that many rows (none when it is not a
        // number, as ODK does).
        if let Some(count) = count {
            let wanted = if count.is_finite() && count > 0.0 {
                count.trunc()
            } else {
                0.0
            };
            if rows.len() as f64 != wanted {
                self.error(
                    path.to_owned(),
                    "row_count_mismatch",
                    "the repeat does not have the number of rows its repeat_count gives",
                );
            }
        }
        if field.min_count.is_some_and(|low| rows.len() < low as usize) {
            self.error(
                path.to_owned(),
                "too_few_rows",
                "the repeat has fewer rows than its minimum",
            );
        }
        if field
            .max_count
            .is_some_and(|high| rows.len() > high as usize)
        {
            self.error(
                path.to_owned(),
                "too_many_rows",
                "the repeat has more rows than its maximum",
            );
        }
        rows.len()
    }

    fn answer(
        &mut self,
        field: &CompiledField,
        index: usize,
        submitted: Option<&serde_json::Value>,
        relevant: bool,
        path: String,
        in_repeat: bool,
    ) -> Value {
        let Some(json) = submitted else {
            return Value::Null;
        };
        if !relevant {
            self.error(
                path,
                "not_relevant",
                "this field is not relevant and must not be answered",
            );
            return Value::Null;
        }
        let answer = match read_answer(field, json) {
            Ok(answer) => answer,
            Err(problem) => {
                self.error(path, problem.code, problem.message);
                return Value::Null;
            }
        };
        if field.field_type == FieldType::SelectMultiple
            && let Some(chosen) = json.as_array().map(Vec::len)
        {
            if field.min_count.is_some_and(|low| chosen < low as usize) {
                self.error(
                    path,
                    "too_few_choices",
                    "fewer choices are selected than the field's minimum",
                );
                return Value::Null;
            }
            if field.max_count.is_some_and(|high| chosen > high as usize) {
                self.error(
                    path,
                    "too_many_choices",
                    "more choices are selected than the field's maximum",
                );
                return Value::Null;
            }
        }
        if let Some(number) = answer.number {
            if let Some(problem) = check_number(field, number) {
                self.error(path, problem.0, problem.1);
                return Value::Null;
            }
            if field.code.is_some() {
                self.readings.push(Reading {
                    index,
                    path,
                    number,
                    in_repeat,
                });
            }
        }
        answer.value
    }
}

/// A choice filter's view of one choice: the answers as the select's own expressions see
/// them, and the choice's members as bare names.
struct ChoiceScope<'a> {
    answers: &'a Scope<'a>,
    choice: &'a Choice,
    language: &'a str,
}

impl Env for ChoiceScope<'_> {
    fn value(&self, field: &str) -> Value {
        self.answers.value(field)
    }
    fn current(&self) -> Value {
        Value::Null
    }
    fn now(&self) -> DateTimeValue {
        self.answers.now()
    }
    fn nodes(&self, field: &str) -> Vec<Value> {
        self.answers.nodes(field)
    }
    fn position(&self) -> Value {
        self.answers.position()
    }
    fn choice_label(&self, field: &str, value: &str) -> Value {
        self.answers.choice_label(field, value)
    }
    fn random_site(&self) -> (String, String) {
        self.answers.random_site()
    }
    fn attribute(&self, name: &str) -> Value {
        choice_member(self.choice, name, self.language)
    }
}

/// A member of a choice as a choice filter reads it: `name` is its value, `label` its label
/// in `language`, anything else one of its attributes (unanswered when it has none).
pub fn choice_member(choice: &Choice, name: &str, language: &str) -> Value {
    match name {
        "name" => Value::String(choice.value.clone()),
        "label" => Value::String(choice.label.in_language(language).to_owned()),
        other => choice
            .attributes
            .get(other)
            .map_or(Value::Null, |text| Value::String(text.clone())),
    }
}

/// Whether every chosen value that is one of the field's choices passes its filter (a free
/// answer to an open select is no choice, so no filter applies to it).
fn chosen_are_offered(
    field: &CompiledField,
    filter: &Expr,
    answers: &Scope,
    value: &Value,
) -> bool {
    let language = answers
        .shared
        .map_or("", |shared| shared.form.default_language.as_str());
    let chosen: Vec<&str> = match value {
        Value::String(text) => vec![text.as_str()],
        Value::Multi(values) => values.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    chosen.into_iter().all(|chosen| {
        field
            .choices
            .iter()
            .find(|choice| choice.value == chosen)
            .is_none_or(|choice| {
                let scope = ChoiceScope {
                    answers,
                    choice,
                    language,
                };
                evaluate(filter, &scope).truthy()
            })
    })
}

/// A submitted computed value read back as an expression value, for `.` and `once(…)`.
fn computed_value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Bool(flag) => Value::Bool(*flag),
        serde_json::Value::Number(number) => number.as_f64().map_or(Value::Null, Value::Number),
        serde_json::Value::String(text) => Value::String(text.clone()),
        _ => Value::Null,
    }
}

fn check_number(field: &CompiledField, number: f64) -> Option<(&'static str, &'static str)> {
    if !number.is_finite() {
        return Some(("not_a_number", "the answer must be a finite number"));
    }
    if field.min.is_some_and(|min| number < min) {
        return Some(("below_minimum", "the answer is below the field's minimum"));
    }
    if field.max.is_some_and(|max| number > max) {
        return Some(("above_maximum", "the answer is above the field's maximum"));
    }
    if let (FieldType::Range, Some(min)) = (field.field_type, field.min) {
        let step = field.step.unwrap_or(1.0);
        let steps = (number - min) / step;
        if (steps - steps.round()).abs() > 1e-9 {
            return Some(("off_step", "the answer is not on the range's steps"));
        }
    }
    None
}

impl CompiledForm {
    /// Validates every answer and reports every problem at once. `now` is what `now()` and
    /// `today()` mean in expressions (UTC); `random()` and `uuid()` draw from an empty seed.
    pub fn validate(
        &self,
        answers: &Map<String, serde_json::Value>,
        now: Timestamp,
    ) -> Result<ValidSubmission, Vec<FieldError>> {
        self.validate_seeded(answers, now, "")
    }

    /// Whether an expression outside a repeat reads that repeat's rows (`count`, `sum`, …):
    /// the top level then needs the rows first, so validation runs in passes.
    fn reads_rows_across_levels(&self) -> bool {
        self.fields.iter().any(|field| {
            [
                &field.relevant,
                &field.calculation,
                &field.constraint,
                &field.repeat_count,
                &field.required_if,
            ]
            .into_iter()
            .flatten()
            .any(|expr| {
                expr.references().iter().any(|name| {
                    self.index_of(name).is_some_and(|index| {
                        let target = &self.fields[index];
                        let rows_of = if target.field_type == FieldType::Repeat {
                            Some(index)
                        } else {
                            target.repeat
                        };
                        rows_of.is_some() && rows_of != field.repeat
                    })
                })
            })
        })
    }

    /// Validates with `seed` (the submission's own, shared with the client) for `random()`
    /// and `uuid()`.
    pub fn validate_seeded(
        &self,
        answers: &Map<String, serde_json::Value>,
        now: Timestamp,
        seed: &str,
    ) -> Result<ValidSubmission, Vec<FieldError>> {
        let now = DateTimeValue::new(now.as_micros().div_euclid(1000), 0)
            .or_else(|| DateTimeValue::new(0, 0));
        let Some(now) = now else {
            return Err(vec![FieldError {
                field: String::from("$"),
                code: "invalid_clock",
                message: String::from("the server clock is out of range"),
            }]);
        };
        // The top level reads rows through `count`, `sum`, …, and rows read the top level:
        // each pass sees the rows of the one before, and three passes settle every chain
        // top → rows → top → rows that an acyclic form can have across its two levels.
        let passes = if self.reads_rows_across_levels() {
            3
        } else {
            1
        };
        let mut rows = RowValues::new();
        let mut outcome = None;
        for _ in 0..passes {
            let (run, top, next_rows) = self.pass(answers, now, seed, &rows);
            rows = next_rows;
            outcome = Some((run, top));
        }
        let Some((run, top)) = outcome else {
            return Err(Vec::new());
        };
        let (mut errors, readings) = run;
        let derived = derive(self, &readings, &top.values, &mut errors);
        if errors.is_empty() {
            Ok(derived)
        } else {
            Err(errors)
        }
    }

    /// One evaluation of every level: its errors and readings, the top level, and every
    /// repeat row's values for the next pass.
    fn pass(
        &self,
        answers: &Map<String, serde_json::Value>,
        now: DateTimeValue,
        seed: &str,
        rows: &RowValues,
    ) -> ((Vec<FieldError>, Vec<Reading>), Level, RowValues) {
        let mut run = Run {
            form: self,
            now,
            errors: Vec::new(),
            readings: Vec::new(),
            rows,
            seed,
            position: None,
        };
        let top = run.level(answers, None, "", None);
        let mut next_rows = RowValues::new();
        for (index, field) in self.fields.iter().enumerate() {
            if field.field_type != FieldType::Repeat || field.repeat.is_some() {
                continue;
            }
            if !top.relevant.get(&index).copied().unwrap_or(false) {
                continue;
            }
            let Some(submitted) = answers.get(&field.name).and_then(|json| json.as_array()) else {
                continue;
            };
            let values = next_rows.entry(index).or_default();
            for (row_number, row) in submitted.iter().enumerate() {
                let prefix = format!("{}[{row_number}].", field.name);
                run.position = Some((index, row_number));
                match row.as_object() {
                    Some(row) => {
                        let level = run.level(row, Some(index), &prefix, Some(&top));
                        values.push(level.values);
                    }
                    None => {
                        run.error(
                            format!("{}[{row_number}]", field.name),
                            "not_an_object",
                            "a repeat row is an object of answers",
                        );
                        values.push(HashMap::new());
                    }
                }
            }
            run.position = None;
        }
        let Run {
            errors, readings, ..
        } = run;
        ((errors, readings), top, next_rows)
    }
}
