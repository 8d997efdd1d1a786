//! Validation of a submission against a compiled form: relevance and calculations in
//! dependency order, then required, types, bounds, choices, constraints and repeat rows, and
//! finally the observations derived from coded numeric answers. Every error names the field
//! (`name`, `repeat[row].name`, `repeat[row].inner[row].name`, … with 0-based rows) and
//! carries a stable code; no message or path repeats a submitted value, because answers are
//! PHI.

use std::collections::HashMap;

use hale_clinical::news2::News2Score;
use hale_domain::Timestamp;
use hale_domain::event::ObservationRecord;
use hale_expr::{DateTimeValue, Env, Expr, Value, evaluate};
use serde::Serialize;
use serde_json::Map;

use crate::answer::{read_answer, same_computed};
use crate::compile::{CompiledField, CompiledForm, encloses};
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

/// One level of answers: the top, or one row of a repeat (at any depth of nesting).
struct Instance<'a> {
    /// The answers of the level; `None` for a row that is not an object (nothing in it is
    /// evaluated, but it counts as a row).
    answers: Option<&'a Map<String, serde_json::Value>>,
    /// Put before field names in error paths: `""`, `visits[0].`, `visits[0].doses[1].`.
    prefix: String,
    /// (repeat, 0-based row, instance) of each enclosing row and this one, outermost first.
    trail: Vec<(usize, usize, usize)>,
    values: HashMap<String, Value>,
    relevant: HashMap<usize, bool>,
    /// Fields whose answer was read, for the constraint pass.
    answered: Vec<usize>,
    /// Relevant answered fields left unanswered, for the required pass, each with where its
    /// error goes among the others (they are reported in evaluation order).
    unanswered: Vec<(usize, usize)>,
    /// The rows of each repeat answered in this level, by repeat index: instance indices.
    rows: HashMap<usize, Vec<usize>>,
}

/// The values an expression can read: its own level's first, then each enclosing row's, then
/// the top's; the rows of repeats through `nodes`, bound to the rows being evaluated.
struct Scope<'a> {
    run: &'a Run<'a>,
    instance: usize,
    current: Value,
    /// The field the expression belongs to, for `random()`'s call site.
    field: &'a str,
}

impl Scope<'_> {
    /// The repeats that multiply field `index`, outermost first, the field itself last when it
    /// is a repeat (its nodes are its rows).
    fn multipliers(&self, index: usize) -> Vec<usize> {
        let fields = &self.run.form.fields;
        let mut chain = Vec::new();
        if fields[index].field_type == FieldType::Repeat {
            chain.push(index);
        }
        let mut repeat = fields[index].repeat;
        while let Some(outer) = repeat {
            chain.push(outer);
            repeat = fields[outer].repeat;
        }
        chain.reverse();
        chain
    }

    /// The value of `field` seen from `instance`: its own level first, then outwards.
    fn value_from(&self, instance: usize, field: &str) -> Value {
        let instances = &self.run.instances;
        let mut at = Some(instance);
        while let Some(id) = at {
            if let Some(value) = instances[id].values.get(field) {
                return value.clone();
            }
            at = instances[id]
                .trail
                .len()
                .checked_sub(2)
                .map(|outer| instances[id].trail[outer].2)
                .or((id != 0).then_some(0));
        }
        Value::Null
    }

    /// Every node of `field` (field `index`) under `instance` through the repeats `chain`, in
    /// document order: the field's value in each row, or nothing (`Null`) for a repeat's rows.
    fn collect(&self, instance: usize, chain: &[usize], index: usize, out: &mut Vec<Value>) {
        let field = &self.run.form.fields[index];
        let mut rows = Vec::new();
        self.collect_rows(instance, chain, &mut rows);
        out.extend(rows.into_iter().map(|row| {
            if field.field_type == FieldType::Repeat {
                Value::Null
            } else {
                self.run.instances[row]
                    .values
                    .get(&field.name)
                    .cloned()
                    .unwrap_or(Value::Null)
            }
        }));
    }

    /// Every row under `instance` through the repeats `chain`, in document order (`instance`
    /// itself for an empty chain).
    fn collect_rows(&self, instance: usize, chain: &[usize], out: &mut Vec<usize>) {
        let Some((&repeat, rest)) = chain.split_first() else {
            out.push(instance);
            return;
        };
        let rows = self.run.instances[instance].rows.get(&repeat);
        for &row in rows.into_iter().flatten() {
            self.collect_rows(row, rest, out);
        }
    }

    /// The rows that hold field `index` as seen from this scope: those of the enclosing rows
    /// being evaluated, in document order.
    fn rows_holding(&self, index: usize) -> Vec<usize> {
        let chain = self.multipliers(index);
        let (at, depth) = self.bound(&chain);
        let mut rows = Vec::new();
        self.collect_rows(at, &chain[depth..], &mut rows);
        rows
    }

    /// How far the repeats `chain` follow the rows being evaluated: the instance they lead
    /// to and how many of them are bound.
    fn bound(&self, chain: &[usize]) -> (usize, usize) {
        let trail = &self.run.instances[self.instance].trail;
        let mut at = 0;
        let mut depth = 0;
        while depth < chain.len() && depth < trail.len() && trail[depth].0 == chain[depth] {
            at = trail[depth].2;
            depth += 1;
        }
        (at, depth)
    }
}

impl Env for Scope<'_> {
    fn nodes(&self, field: &str) -> Vec<Value> {
        let Some(index) = self.run.form.index_of(field) else {
            return vec![Value::Null];
        };
        let chain = self.multipliers(index);
        let (at, depth) = self.bound(&chain);
        if depth == chain.len() {
            // Inside the field's own row (or the top): its one value.
            return vec![self.value_from(at, field)];
        }
        let mut out = Vec::new();
        self.collect(at, &chain[depth..], index, &mut out);
        out
    }

    fn indexed_repeat(&self, field: &str, rows: &[(&str, f64)]) -> Value {
        let form = self.run.form;
        let instances = &self.run.instances;
        let Some(index) = form.index_of(field) else {
            return Value::Null;
        };
        let chain = self.multipliers(index);
        let trail = &instances[self.instance].trail;
        let mut at = 0;
        for (depth, &repeat) in chain.iter().enumerate() {
            let given = rows
                .iter()
                .find(|(name, _)| *name == form.fields[repeat].name);
            let here = instances[at]
                .rows
                .get(&repeat)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            match given {
                Some(&(_, row)) => {
                    if row.fract() != 0.0 || row < 1.0 || row > here.len() as f64 {
                        return Value::Null;
                    }
                    at = here[row as usize - 1];
                }
                // A repeat not given follows the row being evaluated when it is inside it,
                // else its first row, as XPath reads the first of several nodes.
                None => match trail.get(depth) {
                    Some(&(own, _, id)) if own == repeat && here.contains(&id) => at = id,
                    _ => {
                        let mut out = Vec::new();
                        self.collect(at, &chain[depth..], index, &mut out);
                        return out.into_iter().next().unwrap_or(Value::Null);
                    }
                },
            }
        }
        if form.fields[index].field_type == FieldType::Repeat {
            return Value::Null;
        }
        instances[at]
            .values
            .get(field)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn position(&self) -> Value {
        self.run.instances[self.instance]
            .trail
            .last()
            .map_or(Value::Null, |&(_, row, _)| Value::Number(row as f64 + 1.0))
    }

    fn choice_label(&self, field: &str, value: &str) -> Value {
        let form = self.run.form;
        let label = form.index_of(field).and_then(|index| {
            let choice = form.fields[index]
                .choices
                .iter()
                .find(|choice| choice.value == value)?;
            Some(choice.label.in_language(&form.default_language).to_owned())
        });
        Value::String(label.unwrap_or_default())
    }

    fn pull_data(&self, file: &str, column: &str, key_column: &str, key: &str) -> Value {
        pull_data(self.run.form, file, column, key_column, key)
    }

    fn random_site(&self) -> (String, String) {
        let mut site = self.field.to_owned();
        for (_, row, _) in &self.run.instances[self.instance].trail {
            site.push_str(&format!("#{}", row + 1));
        }
        (self.run.seed.to_owned(), site)
    }

    fn value(&self, field: &str) -> Value {
        self.value_from(self.instance, field)
    }
    fn current(&self) -> Value {
        self.current.clone()
    }
    fn now(&self) -> DateTimeValue {
        self.run.now
    }
}

/// One validation: every level of the answers, evaluated field by field in the form's
/// dependency order, each field in every row it has before the next field.
struct Run<'a> {
    form: &'a CompiledForm,
    now: DateTimeValue,
    seed: &'a str,
    /// Each error with the level it belongs to and its phase (0 while fields are evaluated,
    /// 1 for constraints), so that they are reported level by level in document order.
    errors: Vec<(usize, u8, FieldError)>,
    /// The level being evaluated, and the phase.
    at: (usize, u8),
    /// Readings with the (repeat, row) trail of their level, for document order.
    readings: Vec<(Vec<(usize, usize)>, Reading)>,
    /// The top first, then every row in the order it was reached.
    instances: Vec<Instance<'a>>,
    /// The instances of each level (`None` the top, else a repeat), in document order.
    levels: HashMap<Option<usize>, Vec<usize>>,
}

impl<'a> Run<'a> {
    fn error(&mut self, path: String, code: &'static str, message: &str) {
        let (level, phase) = self.at;
        self.errors.push((
            level,
            phase,
            FieldError {
                field: path,
                code,
                message: message.to_owned(),
            },
        ));
    }

    /// The answers as `field`'s expressions read them in `instance`, with `.` unanswered.
    fn scope<'s>(&'s self, instance: usize, field: &'s str) -> Scope<'s> {
        Scope {
            run: self,
            instance,
            current: Value::Null,
            field,
        }
    }

    fn evaluate(&self, instance: usize, expr: &Expr, current: Value, field: &str) -> Value {
        let scope = Scope {
            current,
            ..self.scope(instance, field)
        };
        evaluate(expr, &scope)
    }

    fn truthy(&self, instance: usize, expr: &Expr, field: &str) -> bool {
        self.evaluate(instance, expr, Value::Null, field).truthy()
    }

    /// Adds a level: the top (`parent` `None`) or row `row` of `repeat` in `parent`, and
    /// reports answers that name no field of it.
    fn add(
        &mut self,
        repeat: Option<usize>,
        parent: Option<(usize, usize)>,
        answers: Option<&'a Map<String, serde_json::Value>>,
        prefix: String,
    ) -> usize {
        let id = self.instances.len();
        let mut trail = Vec::new();
        if let (Some(repeat), Some((parent, row))) = (repeat, parent) {
            trail = self.instances[parent].trail.clone();
            trail.push((repeat, row, id));
            self.instances[parent]
                .rows
                .entry(repeat)
                .or_default()
                .push(id);
        }
        let outer = self.at;
        self.at = (id, 0);
        if let Some(answers) = answers {
            let form = self.form;
            let unknown = answers
                .keys()
                .filter(|key| {
                    !form.fields.iter().enumerate().any(|(index, field)| {
                        field.repeat == repeat
                            && &field.name == *key
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
        }
        self.at = outer;
        self.instances.push(Instance {
            answers,
            prefix,
            trail,
            values: HashMap::new(),
            relevant: HashMap::new(),
            answered: Vec::new(),
            unanswered: Vec::new(),
            rows: HashMap::new(),
        });
        self.levels.entry(repeat).or_default().push(id);
        id
    }

    /// Evaluates field `index` in level `id`.
    fn field(&mut self, id: usize, index: usize) {
        let form = self.form;
        let field = &form.fields[index];
        let Some(answers) = self.instances[id].answers else {
            return;
        };
        self.at = (id, 0);
        let parent_relevant = match field.parent {
            None => true,
            Some(parent) if Some(parent) == field.repeat => true,
            Some(parent) => self.instances[id]
                .relevant
                .get(&parent)
                .copied()
                .unwrap_or(true),
        };
        let relevant = parent_relevant
            && field
                .relevant
                .as_ref()
                .is_none_or(|expr| self.truthy(id, expr, &field.name));
        self.instances[id].relevant.insert(index, relevant);
        let path = path_of(&self.instances[id].prefix, &field.name);
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
                    (Some(expr), true) => self.evaluate(id, expr, own.clone(), &field.name),
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
                    let scope = self.scope(id, &field.name);
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
                    self.reading(id, index, path, number);
                }
                self.instances[id].values.insert(field.name.clone(), value);
            }
            FieldType::Note => {
                if submitted.is_some() {
                    self.error(path, "not_answerable", "a note takes no answer");
                }
            }
            FieldType::Repeat => {
                let count = field.repeat_count.as_ref().map(|expr| {
                    self.evaluate(id, expr, Value::Null, &field.name)
                        .as_number()
                });
                let rows = self.check_repeat(field, submitted, relevant, &path, count);
                self.instances[id]
                    .values
                    .insert(field.name.clone(), Value::Number(rows as f64));
                if relevant && let Some(rows) = submitted.and_then(|json| json.as_array()) {
                    for (row_number, row) in rows.iter().enumerate() {
                        let object = row.as_object();
                        let prefix = format!("{path}[{row_number}].");
                        let row_id = self.add(Some(index), Some((id, row_number)), object, prefix);
                        if object.is_none() {
                            self.at = (row_id, 0);
                            self.error(
                                format!("{path}[{row_number}]"),
                                "not_an_object",
                                "a repeat row is an object of answers",
                            );
                            self.at = (id, 0);
                        }
                    }
                }
            }
            _ => {
                let read_only = field.read_only
                    || field.read_only_if.as_ref().is_some_and(|expr| {
                        let own = submitted.map(computed_value).unwrap_or(Value::Null);
                        relevant && self.evaluate(id, expr, own, &field.name).truthy()
                    });
                if read_only && submitted.is_some() && submitted != field.default.as_ref() {
                    self.error(
                        path.clone(),
                        "read_only",
                        "this field is read-only: its answer is its default",
                    );
                }
                if submitted.is_none() && relevant {
                    let at = self.errors.len();
                    self.instances[id].unanswered.push((index, at));
                }
                let mut value = self.answer(id, field, index, submitted, relevant, path.clone());
                let scope = self.scope(id, &field.name);
                // A filter on choices from a repeat's answers passes rows, with them.
                let offered = field.choices_from.is_some()
                    || field
                        .choice_filter
                        .as_ref()
                        .is_none_or(|filter| chosen_are_offered(field, filter, &scope, &value));
                let ranked = !offered || ranks_every_offered(field, &scope, &value);
                let from_rows = field
                    .choices_from
                    .as_ref()
                    .is_none_or(|source| chosen_from_rows(field, source, &scope, &value));
                if !from_rows {
                    self.error(
                        path,
                        "choice_not_offered",
                        "the answer is not among the answers the repeat's rows gave",
                    );
                    value = Value::Null;
                } else if !offered {
                    self.error(
                        path,
                        "choice_not_offered",
                        "the answer is not among the choices the field's choice_filter offers",
                    );
                    value = Value::Null;
                } else if !ranked {
                    self.error(
                        path,
                        "incomplete_ranking",
                        "a ranking orders every choice the field offers, each once",
                    );
                    value = Value::Null;
                }
                if !value.is_empty() {
                    self.instances[id].answered.push(index);
                }
                self.instances[id].values.insert(field.name.clone(), value);
            }
        }
    }

    fn reading(&mut self, id: usize, index: usize, path: String, number: f64) {
        let trail = self.instances[id]
            .trail
            .iter()
            .map(|&(repeat, row, _)| (repeat, row))
            .collect();
        self.readings.push((
            trail,
            Reading {
                index,
                path,
                number,
                in_repeat: id != 0,
            },
        ));
    }

    /// What needs every value: `required` (as an expression it may read any field) and
    /// constraints, in every level.
    fn finish(&mut self) {
        let form = self.form;
        let mut missing = Vec::new();
        for id in 0..self.instances.len() {
            let prefix = self.instances[id].prefix.clone();
            for (index, at) in self.instances[id].unanswered.clone() {
                let field = &form.fields[index];
                let required = field.required
                    || field
                        .required_if
                        .as_ref()
                        .is_some_and(|expr| self.truthy(id, expr, &field.name));
                if required {
                    let message = field
                        .required_message
                        .as_ref()
                        .map(|text| text.in_language(&form.default_language).to_owned())
                        .unwrap_or_else(|| String::from("an answer is required"));
                    missing.push((
                        at,
                        (
                            id,
                            0,
                            FieldError {
                                field: path_of(&prefix, &field.name),
                                code: "required",
                                message,
                            },
                        ),
                    ));
                }
            }
        }
        // Each `required` where the field was evaluated, the constraints after everything.
        missing.sort_by_key(|(at, _)| *at);
        let mut missing = missing.into_iter().peekable();
        let mut errors = Vec::with_capacity(self.errors.len() + missing.len());
        for (position, error) in std::mem::take(&mut self.errors).into_iter().enumerate() {
            while let Some((_, required)) = missing.next_if(|(at, _)| *at <= position) {
                errors.push(required);
            }
            errors.push(error);
        }
        errors.extend(missing.map(|(_, required)| required));
        self.errors = errors;
        for id in 0..self.instances.len() {
            self.at = (id, 1);
            let prefix = self.instances[id].prefix.clone();
            for index in self.instances[id].answered.clone() {
                let field = &form.fields[index];
                let Some(expr) = &field.constraint else {
                    continue;
                };
                let current = self.instances[id]
                    .values
                    .get(&field.name)
                    .cloned()
                    .unwrap_or(Value::Null);
                if !self.evaluate(id, expr, current, &field.name).truthy() {
                    let message = field
                        .constraint_message
                        .as_ref()
                        .map(|text| text.in_language(&form.default_language).to_owned())
                        .unwrap_or_else(|| {
                            String::from("the answer does not meet the field's constraint")
                        });
                    self.error(path_of(&prefix, &field.name), "constraint_failed", &message);
                }
            }
        }
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
        id: usize,
        field: &CompiledField,
        index: usize,
        submitted: Option<&serde_json::Value>,
        relevant: bool,
        path: String,
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
                self.reading(id, index, path, number);
            }
        }
        answer.value
    }
}

fn path_of(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

/// A choice filter's view of one row of a repeat whose answers are a select's choices: the
/// fields of that repeat (level `level`, and the repeats inside it, whose rows are the row's
/// own) and its position read the row, everything else reads as the select's own expressions
/// do.
struct RowScope<'a> {
    row: &'a Scope<'a>,
    own: &'a Scope<'a>,
    level: Option<usize>,
}

impl RowScope<'_> {
    /// The scope that reads `field`.
    fn side(&self, field: &str) -> &Scope<'_> {
        let form = self.own.run.form;
        match form.index_of(field) {
            Some(index) if encloses(&form.fields, self.level, form.fields[index].repeat) => {
                self.row
            }
            _ => self.own,
        }
    }
}

impl Env for RowScope<'_> {
    fn value(&self, field: &str) -> Value {
        self.side(field).value(field)
    }
    fn current(&self) -> Value {
        Value::Null
    }
    fn now(&self) -> DateTimeValue {
        self.own.now()
    }
    fn nodes(&self, field: &str) -> Vec<Value> {
        self.side(field).nodes(field)
    }
    fn indexed_repeat(&self, field: &str, rows: &[(&str, f64)]) -> Value {
        self.own.indexed_repeat(field, rows)
    }
    fn position(&self) -> Value {
        self.row.position()
    }
    fn choice_label(&self, field: &str, value: &str) -> Value {
        self.own.choice_label(field, value)
    }
    fn pull_data(&self, file: &str, column: &str, key_column: &str, key: &str) -> Value {
        self.own.pull_data(file, column, key_column, key)
    }
    fn random_site(&self) -> (String, String) {
        self.own.random_site()
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
    fn indexed_repeat(&self, field: &str, rows: &[(&str, f64)]) -> Value {
        self.answers.indexed_repeat(field, rows)
    }
    fn position(&self) -> Value {
        self.answers.position()
    }
    fn choice_label(&self, field: &str, value: &str) -> Value {
        self.answers.choice_label(field, value)
    }
    fn pull_data(&self, file: &str, column: &str, key_column: &str, key: &str) -> Value {
        self.answers.pull_data(file, column, key_column, key)
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

/// `pulldata(file, column, key_column, key)`: `column` of the first row of the data file whose
/// `key_column` is `key`, each read as a choice filter reads a choice's members; `""` when
/// there is no such file, row or column.
fn pull_data(form: &CompiledForm, file: &str, column: &str, key_column: &str, key: &str) -> Value {
    let language = form.default_language.as_str();
    let read = |row: &Choice, member: &str| match choice_member(row, member, language) {
        Value::Null => None,
        value => Some(value.as_string()),
    };
    crate::definition::data_file(&form.data_files, file)
        .and_then(|rows| {
            rows.iter()
                .find(|row| read(row, key_column).as_deref() == Some(key))
        })
        .and_then(|row| read(row, column))
        .map_or(Value::String(String::new()), Value::String)
}

/// Whether a rank's answer orders every choice it offers (an empty list orders none). Its values
/// are distinct choices that pass the filter (read and checked before), so that is as many
/// values as choices offered.
fn ranks_every_offered(field: &CompiledField, answers: &Scope, value: &Value) -> bool {
    let Value::Multi(ranked) = value else {
        return true;
    };
    if field.field_type != FieldType::Rank {
        return true;
    }
    let language = answers.run.form.default_language.as_str();
    let offered = field
        .choices
        .iter()
        .filter(|choice| {
            field
                .choice_filter
                .as_ref()
                .is_none_or(|filter| passes(filter, choice, answers, language))
        })
        .count();
    ranked.len() == offered
}

/// The choices a select offers from the rows of a repeat: each non-empty answer that field
/// `source` has in the rows seen from `answers` whose row passes the select's choice filter,
/// once, in row order.
fn repeat_choices(source: &str, filter: Option<&Expr>, answers: &Scope) -> Vec<String> {
    let run = answers.run;
    let Some(index) = run.form.index_of(source) else {
        return Vec::new();
    };
    let mut offered: Vec<String> = Vec::new();
    for row in answers.rows_holding(index) {
        let in_row = run.scope(row, answers.field);
        let passes = filter.is_none_or(|filter| {
            let scope = RowScope {
                row: &in_row,
                own: answers,
                level: run.form.fields[index].repeat,
            };
            evaluate(filter, &scope).truthy()
        });
        let text = in_row.value_from(row, source).as_string();
        if passes && !text.is_empty() && !offered.contains(&text) {
            offered.push(text);
        }
    }
    offered
}

/// Whether every value chosen is an answer field `source` has in the rows its filter passes.
fn chosen_from_rows(field: &CompiledField, source: &str, answers: &Scope, value: &Value) -> bool {
    let offered = repeat_choices(source, field.choice_filter.as_ref(), answers);
    chosen_values(value)
        .into_iter()
        .all(|chosen| offered.iter().any(|text| text == chosen))
}

/// The values an answer to a select chose: none, one or several.
fn chosen_values(value: &Value) -> Vec<&str> {
    match value {
        Value::String(text) => vec![text.as_str()],
        Value::Multi(values) => values.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether `choice` passes the field's choice filter.
fn passes(filter: &Expr, choice: &Choice, answers: &Scope, language: &str) -> bool {
    let scope = ChoiceScope {
        answers,
        choice,
        language,
    };
    evaluate(filter, &scope).truthy()
}

/// Whether every chosen value that is one of the field's choices passes its filter (a free
/// answer to an open select is no choice, so no filter applies to it).
fn chosen_are_offered(
    field: &CompiledField,
    filter: &Expr,
    answers: &Scope,
    value: &Value,
) -> bool {
    let language = answers.run.form.default_language.as_str();
    chosen_values(value).into_iter().all(|chosen| {
        field
            .choices
            .iter()
            .find(|choice| choice.value == chosen)
            .is_none_or(|choice| passes(filter, choice, answers, language))
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

    /// Validates with `seed` (the submission's own, shared with the client) for `random()`
    /// and `uuid()`.
    ///
    /// Fields are evaluated in the dependency order, each in every level it has (the top, or
    /// every row of its repeat, at any depth) before the next: whatever an expression reads,
    /// in its own row, an enclosing one or the rows of a repeat, is known before it is read.
    /// `required` and constraints, which may read any field, come once every value is known.
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
        let mut run = Run {
            form: self,
            now,
            seed,
            errors: Vec::new(),
            at: (0, 0),
            readings: Vec::new(),
            instances: Vec::new(),
            levels: HashMap::new(),
        };
        run.add(None, None, Some(answers), String::new());
        for &index in &self.order {
            let level = self.fields[index].repeat;
            let ids = run.levels.get(&level).cloned().unwrap_or_default();
            for id in ids {
                run.field(id, index);
            }
        }
        run.finish();
        // Observations in document order: the top's, then each row's before its nested rows.
        run.readings.sort_by(|a, b| a.0.cmp(&b.0));
        let readings: Vec<Reading> = run
            .readings
            .into_iter()
            .map(|(_, reading)| reading)
            .collect();
        // Errors level by level in document order (the top's, then each row's before its
        // nested rows'), each level's constraints after its other errors.
        let trails: Vec<Vec<(usize, usize)>> = run
            .instances
            .iter()
            .map(|instance| {
                instance
                    .trail
                    .iter()
                    .map(|&(repeat, row, _)| (repeat, row))
                    .collect()
            })
            .collect();
        run.errors
            .sort_by(|a, b| (&trails[a.0], a.1).cmp(&(&trails[b.0], b.1)));
        let mut errors: Vec<FieldError> =
            run.errors.into_iter().map(|(_, _, error)| error).collect();
        let top = run.instances.swap_remove(0);
        let derived = derive(self, &readings, &top.values, &mut errors);
        if errors.is_empty() {
            Ok(derived)
        } else {
            Err(errors)
        }
    }
}
