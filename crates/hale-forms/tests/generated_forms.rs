//! Generates form cases from this engine into `tests/generated_forms.json`, which the browser
//! engine must pass too, and checks that the committed file still matches what validation gives:
//! drift fails here until the file is regenerated on purpose with
//! `HALE_BLESS=1 cargo test -p hale-forms --test generated_forms`.
//!
//! The definitions are the sample apps and forms written for repeats (rows read across levels, repeats nested in repeats,
//! `position`, `indexed-repeat`, `repeat_count`), relevance chains, calculations, unit
//! conversion through every accepted unit of the catalogue, required and `required_if`,
//! constraints with translated messages, and NEWS2; each is answered many times at random, from
//! a valid answer to every kind of wrong one. Broken definitions record their compile errors.
//! The file is `{"definitions": {name: definition}, "cases": [{definition: name, answers, now,
//! expected: {valid, errors: [{field, code, message}], observations: [{code, value, unit}],
//! news2_total}} | {definition: name, expected: {compile_errors: [{path, code, message}]}}]}`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use hale_domain::Timestamp;
use hale_forms::AppDefinition;
use serde_json::{Map, Value, json};

/// SplitMix64, so the cases never depend on a crate's version.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A number between `low` and `high` with `decimals` decimals.
    fn decimal(&mut self, low: f64, high: f64, decimals: i32) -> f64 {
        let scale = 10_f64.powi(decimals);
        let steps = ((high - low) * scale).max(1.0) as u64;
        low + (self.next() % (steps + 1)) as f64 / scale
    }
}

const NOWS: [&str; 4] = [
    "2026-01-31T08:00:00Z",
    "2026-01-31T23:59:59.999Z",
    "2024-02-29T00:00:00Z",
    "2026-06-15T12:30:00.250Z",
];

fn repeats() -> Value {
    json!({
        "title": "Repeats",
        "rate_limit_policy": "daily",
        "choice_lists": {"drugs": [{"value": "para", "label": "Paracetamol"}, {"value": "ibu", "label": "Ibuprofen"}, {"value": "other", "label": "Other"}]},
        "fields": [
            {"name": "limit", "type": "decimal", "label": "Daily limit", "min": 0, "max": 100},
            {"name": "doses", "type": "repeat", "label": "Doses", "min_count": 1, "max_count": 3, "children": [
                {"name": "drug", "type": "select_one", "label": "Drug", "choice_list": "drugs", "required": true},
                {"name": "drug_other", "type": "text", "label": "Which?", "relevant": "${drug} = 'other'", "required": true, "purpose": "names the drug"},
                {"name": "amount", "type": "decimal", "label": "Amount", "required": true, "constraint": ". > 0 and . <= ${limit}", "constraint_message": "Within the limit"},
                {"name": "row", "type": "calculate", "calculation": "position(..)"},
                {"name": "running", "type": "calculate", "calculation": "${amount} * position(..)"},
                {"name": "label", "type": "calculate", "calculation": "jr:choice-name(${drug}, '${drug}')"},
                {"name": "high", "type": "acknowledge", "label": "High dose", "relevant": "${amount} > ${limit} div 2"}
            ]},
            {"name": "dose_count", "type": "calculate", "calculation": "count(${doses})"},
            {"name": "total", "type": "calculate", "calculation": "sum(${amount})"},
            {"name": "largest", "type": "calculate", "calculation": "max(${amount})"},
            {"name": "first", "type": "calculate", "calculation": "indexed-repeat(${amount}, ${doses}, 1)"},
            {"name": "over", "type": "acknowledge", "label": "Over the limit", "relevant": "${total} > ${limit}", "required": true},
            {"name": "checks", "type": "repeat", "label": "Checks", "repeat_count": "${dose_count}", "children": [
                {"name": "ok", "type": "boolean", "label": "Taken?", "required_if": "position(..) = 1"}
            ]},
            {"name": "note_rows", "type": "note", "label": "Rows: ${dose_count}"}
        ]
    })
}

/// Repeats inside repeats: rows read their own row, the enclosing row and the top; `count`,
/// `sum` and `max` read the rows under the row being evaluated (or every row, from the top);
/// `position(..)` and `indexed-repeat` with 3 and 5 arguments; coded answers in nested rows.
fn nested() -> Value {
    json!({
        "title": "Nested repeats",
        "rate_limit_policy": "daily",
        "choice_lists": {"drugs": [{"value": "para", "label": "Paracetamol"}, {"value": "ibu", "label": "Ibuprofen"}]},
        "fields": [
            {"name": "limit", "type": "decimal", "label": "Dose limit", "min": 0, "max": 100},
            {"name": "visits", "type": "repeat", "label": "Visits", "max_count": 3, "children": [
                {"name": "seen", "type": "date", "label": "Seen on", "required": true},
                {"name": "planned", "type": "integer", "label": "Checks planned", "min": 0, "max": 3},
                {"name": "visit_row", "type": "calculate", "calculation": "position(..)"},
                {"name": "doses", "type": "repeat", "label": "Doses", "relevant": "${seen} != ''", "max_count": 3, "children": [
                    {"name": "drug", "type": "select_one", "label": "Drug", "choice_list": "drugs", "required": true},
                    {"name": "amount", "type": "decimal", "label": "Amount", "required": true, "constraint": ". > 0 and . <= ${limit}"},
                    {"name": "pulse", "type": "integer", "label": "Pulse", "code": "8867-4", "unit": "/min", "relevant": "${visit_row} = 1"},
                    {"name": "where", "type": "calculate", "calculation": "concat(${visit_row}, '.', position(..))"},
                    {"name": "previous", "type": "calculate", "calculation": "indexed-repeat(${amount}, ${doses}, position(..) - 1)"},
                    {"name": "more", "type": "acknowledge", "label": "More than before", "relevant": "${amount} > ${previous}"},
                    {"name": "draw", "type": "calculate", "calculation": "round(random(), 3)"}
                ]},
                {"name": "visit_total", "type": "calculate", "calculation": "sum(${amount})"},
                {"name": "visit_doses", "type": "calculate", "calculation": "count(${doses})"},
                {"name": "checks", "type": "repeat", "label": "Checks", "repeat_count": "${planned}", "children": [
                    {"name": "done", "type": "boolean", "label": "Done?", "required_if": "${visit_doses} > 0"}
                ]},
                {"name": "heavy", "type": "acknowledge", "label": "Heavy visit", "relevant": "${visit_total} > ${limit}", "required": true}
            ]},
            {"name": "all_doses", "type": "calculate", "calculation": "count(${doses})"},
            {"name": "all_total", "type": "calculate", "calculation": "sum(${amount})"},
            {"name": "largest", "type": "calculate", "calculation": "max(${visit_total})"},
            {"name": "first_second", "type": "calculate", "calculation": "indexed-repeat(${amount}, ${visits}, 1, ${doses}, 2)"},
            {"name": "last_visit_first", "type": "calculate", "calculation": "indexed-repeat(${drug}, ${visits}, count(${visits}), ${doses}, 1)"},
            {"name": "note_all", "type": "note", "label": "Doses: ${all_doses}"}
        ]
    })
}

fn relevance() -> Value {
    json!({
        "title": "Relevance chains",
        "rate_limit_policy": "daily",
        "fields": [
            {"name": "a", "type": "select_one", "label": "A", "choices": [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No"}], "required": true},
            {"name": "b", "type": "integer", "label": "B", "relevant": "${a} = 'yes'", "required": true, "min": 0, "max": 10},
            {"name": "c", "type": "text", "label": "C", "relevant": "${b} > 5", "required": true, "purpose": "why"},
            {"name": "g", "type": "group", "label": "G", "relevant": "${b} >= 3", "children": [
                {"name": "d", "type": "date", "label": "D", "required": true, "constraint": ". <= today()"},
                {"name": "e", "type": "time", "label": "E", "relevant": "${d} != ''"},
                {"name": "inner", "type": "group", "label": "Inner", "relevant": "${e} != ''", "children": [
                    {"name": "f", "type": "boolean", "label": "F", "required": true}
                ]}
            ]},
            {"name": "h", "type": "decimal", "label": "H", "required_if": "${a} = 'no' or ${f}"},
            {"name": "i", "type": "select_multiple", "label": "I", "choices": [{"value": "x", "label": "X"}, {"value": "y", "label": "Y"}, {"value": "z", "label": "Z"}], "min_count": 1, "max_count": 2, "relevant": "not(${a} = 'no')"},
            {"name": "j", "type": "text", "label": "J", "relevant": "selected(${i}, 'z')", "required": true, "max_length": 5, "purpose": "why"}
        ]
    })
}

fn calculations() -> Value {
    json!({
        "title": "Calculations",
        "rate_limit_policy": "daily",
        "default_language": "fr",
        "languages": ["en"],
        "choice_lists": {"sizes": [{"value": "s", "label": {"en": "Small", "fr": "Petit"}}, {"value": "l", "label": {"en": "Large", "fr": "Grand"}}]},
        "fields": [
            {"name": "weight", "type": "decimal", "label": "Weight", "unit": "kg", "accepted_units": ["[lb_av]"], "code": "29463-7", "required": true},
            {"name": "height", "type": "decimal", "label": "Height", "unit": "cm", "accepted_units": ["m", "[in_i]"], "code": "8302-2"},
            {"name": "bmi_calc", "type": "calculate", "calculation": "round(${weight} div ((${height} div 100) * (${height} div 100)), 1)"},
            {"name": "band", "type": "calculate", "calculation": "if(${bmi_calc} >= 30, 'obese', if(${bmi_calc} >= 25, 'over', 'ok'))"},
            {"name": "size", "type": "select_one", "label": "Size", "choice_list": "sizes"},
            {"name": "size_name", "type": "calculate", "calculation": "jr:choice-name(${size}, '${size}')"},
            {"name": "born", "type": "date", "label": "Born"},
            {"name": "age_days", "type": "calculate", "calculation": "today() - ${born}"},
            {"name": "born_text", "type": "calculate", "calculation": "format-date(${born}, '%e %b %Y')"},
            {"name": "stamp", "type": "calculate", "calculation": "once(string(now()))"},
            {"name": "summary", "type": "calculate", "calculation": "concat(${band}, '/', ${size_name}, '/', string-length(${size_name}))"},
            {"name": "double", "type": "integer", "label": "Double", "calculation": "${age_days} * 2"},
            {"name": "heart", "type": "calculate", "calculation": "60 + ${age_days} mod 50", "unit": "/min", "code": "8867-4"},
            {"name": "flag", "type": "boolean", "label": "Flag", "read_only": true, "default": false}
        ]
    })
}

/// One field per accepted unit of each catalogued vital, accepting the others it converts from
/// without a molar mass, so every conversion is exercised (glucose's through its analyte when
/// the observation is put in the canonical unit).
fn units() -> Value {
    let mut fields = Vec::new();
    for vital in hale_clinical::catalogue() {
        if vital.loinc == "39156-5" {
            continue;
        }
        for (index, unit) in vital.accepted_units.iter().enumerate() {
            let others: Vec<&str> = vital
                .accepted_units
                .iter()
                .copied()
                .filter(|other| other != unit && hale_clinical::convert(1.0, other, unit).is_ok())
                .collect();
            fields.push(json!({
                "name": format!("v{}_{index}", vital.loinc.replace('-', "_")),
                "type": "decimal",
                "label": vital.display,
                "unit": unit,
                "accepted_units": others,
                "code": vital.loinc,
            }));
        }
    }
    json!({"title": "Units", "rate_limit_policy": "daily", "fields": fields})
}

fn constraints() -> Value {
    json!({
        "title": "Constraints",
        "rate_limit_policy": "daily",
        "default_language": "en",
        "languages": ["fr"],
        "fields": [
            {"name": "phone", "type": "text", "label": "Phone", "constraint": "regex(., '^\\+?[0-9 ]{6,15}$')", "constraint_message": {"en": "A phone number", "fr": "Un numéro"}, "purpose": "contact"},
            {"name": "code", "type": "text", "label": "Code", "constraint": "regex(., '^[A-Z]{2}\\d{3}$') and string-length(.) = 5", "constraint_message": "Two letters then three digits", "required": true, "required_message": {"fr": "Obligatoire", "en": "Required, please"}, "purpose": "id"},
            {"name": "visit", "type": "date", "label": "Visit", "constraint": ". >= today() - 30 and . <= today()", "constraint_message": "Within the last 30 days"},
            {"name": "at", "type": "datetime", "label": "At", "constraint": ". <= now()", "constraint_message": "Not in the future"},
            {"name": "score", "type": "range", "label": "Score", "min": 0, "max": 10, "step": 0.5, "constraint": ". != 5", "constraint_message": "Not five"},
            {"name": "count", "type": "integer", "label": "Count", "min": -5, "max": 5, "constraint": ". mod 2 = 0"},
            {"name": "later", "type": "integer", "label": "Later", "constraint": ". > ${count}", "constraint_message": "More than the count"},
            {"name": "photo", "type": "photo", "label": "Photo"},
            {"name": "consent", "type": "acknowledge", "label": "Consent", "required": true},
            {"name": "when", "type": "time", "label": "When", "constraint": "${consent}"}
        ]
    })
}

fn news2(oxygen_as_boolean: bool) -> Value {
    let oxygen = if oxygen_as_boolean {
        json!({"name": "oxygen", "type": "boolean", "label": "On oxygen", "required": true})
    } else {
        json!({"name": "oxygen", "type": "select_one", "label": "Air or oxygen", "required": true,
               "choices": [{"value": "air", "label": "Air"}, {"value": "oxygen", "label": "Oxygen"}]})
    };
    json!({
        "title": "NEWS2",
        "rate_limit_policy": "daily",
        "news2": {"oxygen": "oxygen", "consciousness": "acvpu", "spo2_scale": "scale"},
        "fields": [
            {"name": "rr", "type": "decimal", "label": "RR", "unit": "/min", "accepted_units": ["{breaths}/min"], "code": "9279-1"},
            {"name": "spo2", "type": "decimal", "label": "SpO2", "unit": "%", "code": "59408-5"},
            {"name": "scale", "type": "select_one", "label": "Scale", "choices": [{"value": "scale1", "label": "1"}, {"value": "scale2", "label": "2"}]},
            oxygen,
            {"name": "sbp", "type": "decimal", "label": "SBP", "unit": "mm[Hg]", "accepted_units": ["kPa"], "code": "8480-6"},
            {"name": "pulse", "type": "decimal", "label": "Pulse", "unit": "/min", "code": "8867-4"},
            {"name": "acvpu", "type": "select_one", "label": "ACVPU", "choices": [
                {"value": "alert", "label": "A"}, {"value": "confusion", "label": "C"}, {"value": "voice", "label": "V"},
                {"value": "pain", "label": "P"}, {"value": "unresponsive", "label": "U"}]},
            {"name": "temp", "type": "decimal", "label": "Temperature", "unit": "Cel", "accepted_units": ["[degF]"], "code": "8310-5"},
            {"name": "readings", "type": "repeat", "label": "More pulses", "children": [
                {"name": "extra_pulse", "type": "integer", "label": "Pulse", "unit": "/min", "code": "8867-4"}
            ]}
        ]
    })
}

fn sample(name: &str) -> Value {
    serde_json::from_str(&common::sample_definition(name).to_json()).unwrap()
}

/// The choice values of a select field, inline or from the app's list.
fn choice_values(definition: &Value, field: &Value) -> Vec<String> {
    let choices = match field["choice_list"].as_str() {
        Some(list) => definition["choice_lists"][list].clone(),
        None => field["choices"].clone(),
    };
    choices
        .as_array()
        .map(|choices| {
            choices
                .iter()
                .filter_map(|choice| choice["value"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A number near the field's bounds (or the catalogue's plausible range), sometimes past them.
fn number_for(draws: &mut Draws, field: &Value, whole: bool) -> Value {
    let plausible = field["code"]
        .as_str()
        .and_then(hale_clinical::vital)
        .map(|vital| (vital.plausible.low, vital.plausible.high));
    let low = field["min"]
        .as_f64()
        .or(plausible.map(|range| range.0))
        .unwrap_or(-20.0);
    let high = field["max"]
        .as_f64()
        .or(plausible.map(|range| range.1))
        .unwrap_or(120.0);
    let span = (high - low).max(1.0);
    let (low, high) = if draws.chance(15) {
        (low - span * 0.2, high + span * 0.2)
    } else {
        (low, high)
    };
    if whole {
        json!(draws.decimal(low, high, 0).round() as i64)
    } else if field["type"] == "range" {
        let step = field["step"].as_f64().unwrap_or(1.0);
        let steps = ((high - low) / step) as usize;
        let extra = if draws.chance(10) { 0.25 } else { 0.0 };
        json!(low + step * draws.below(steps + 1) as f64 + extra)
    } else {
        let decimals = *draws.pick(&[0, 1, 1, 2]);
        json!(draws.decimal(low, high, decimals))
    }
}

/// A quantity in another accepted unit, converted from a plausible value.
fn quantity_for(draws: &mut Draws, field: &Value) -> Value {
    let units: Vec<&str> = field["accepted_units"]
        .as_array()
        .map(|units| units.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let own = field["unit"].as_str().unwrap_or("");
    let unit = if units.is_empty() || draws.chance(15) {
        *draws.pick(&[own, "kg", "[stone]", "Cel"])
    } else {
        *draws.pick(&units)
    };
    let number = number_for(draws, field, false).as_f64().unwrap_or(1.0);
    let analyte = field["code"]
        .as_str()
        .and_then(hale_clinical::vital)
        .and_then(|vital| vital.analyte);
    let converted = hale_clinical::convert_with_analyte(number, own, unit, analyte)
        .map(|value| (value * 100.0).round() / 100.0)
        .unwrap_or(number);
    json!({"value": converted, "unit": unit})
}

/// A valid answer of the field's type, or (now and then, when `wrong_too`) a wrong one.
fn answer_for(
    draws: &mut Draws,
    definition: &Value,
    field: &Value,
    wrong_too: bool,
) -> Option<Value> {
    let kind = field["type"].as_str().unwrap_or("");
    let wrong = wrong_too && draws.chance(12);
    let answer = match kind {
        "integer" if wrong => draws
            .pick(&[json!(72.5), json!("72"), json!(true), json!({"value": 1})])
            .clone(),
        "integer" => number_for(draws, field, true),
        "decimal" | "range" if wrong => draws
            .pick(&[
                json!("37.5"),
                json!([1]),
                json!({"value": "1", "unit": "kg"}),
            ])
            .clone(),
        "decimal" | "range" if field["unit"].is_string() && draws.chance(30) => {
            quantity_for(draws, field)
        }
        "decimal" | "range" => number_for(draws, field, false),
        "select_one" => {
            let values = choice_values(definition, field);
            if wrong || values.is_empty() {
                draws.pick(&[json!("zzz"), json!(1), json!(["a"])]).clone()
            } else {
                json!(draws.pick(&values))
            }
        }
        "select_multiple" => {
            let values = choice_values(definition, field);
            if wrong {
                draws
                    .pick(&[json!("x y"), json!(["x", "x"]), json!(["nope"]), json!([1])])
                    .clone()
            } else {
                let chosen: Vec<&String> = values.iter().filter(|_| draws.chance(40)).collect();
                json!(chosen)
            }
        }
        "text" => {
            let texts = [
                json!("fine"),
                json!("AB123"),
                json!("+44 20 7946 0958"),
                json!("a"),
                json!("ab12"),
                json!("12345"),
                json!("x".repeat(12)),
                json!(""),
            ];
            if wrong {
                json!(42)
            } else {
                draws.pick(&texts).clone()
            }
        }
        "date" => {
            let dates = [
                "2026-01-31",
                "2026-01-01",
                "2025-12-15",
                "2026-02-01",
                "2024-02-29",
                "2026-06-15",
                "2026-02-30",
                "2026-1-5",
            ];
            json!(draws.pick(&dates))
        }
        "datetime" => json!(draws.pick(&[
            "2026-01-31T07:00:00Z",
            "2026-01-31T09:30:00+01:00",
            "2026-02-01T00:00:00Z",
            "2026-01-31T07:00:00",
            "2026-06-15T12:30:00.250Z",
        ])),
        "time" => json!(draws.pick(&["08:30", "23:59:59", "24:00", "8:30", "+1:30", "12:00:60"])),
        "boolean" => {
            if wrong {
                json!("true")
            } else {
                json!(draws.chance(50))
            }
        }
        "acknowledge" => json!(draws.pick(&[json!(true), json!(true), json!(false), json!("yes")])),
        "file" | "photo" => json!(draws.pick(&["photo-1.jpg", "has space.jpg", ""])),
        "note" | "calculate" => {
            if !draws.chance(8) {
                return None;
            }
            draws.pick(&[json!(1), json!("ok"), json!(true)]).clone()
        }
        "repeat" => {
            if wrong {
                return Some(draws.pick(&[json!({}), json!([1, {}])]).clone());
            }
            let count = draws.below(5);
            let rows: Vec<Value> = (0..count)
                .map(|_| {
                    Value::Object(answers_for(
                        draws,
                        definition,
                        &field["children"],
                        wrong_too,
                    ))
                })
                .collect();
            json!(rows)
        }
        _ => return None,
    };
    Some(answer)
}

/// Answers for a level of fields (group members answered at the same level), each left out
/// now and then.
fn answers_for(
    draws: &mut Draws,
    definition: &Value,
    fields: &Value,
    wrong_too: bool,
) -> Map<String, Value> {
    let mut answers = Map::new();
    for field in fields.as_array().into_iter().flatten() {
        if field["type"] == "group" {
            answers.extend(answers_for(
                draws,
                definition,
                &field["children"],
                wrong_too,
            ));
            continue;
        }
        if draws.chance(15) {
            continue;
        }
        if let Some(answer) = answer_for(draws, definition, field, wrong_too) {
            answers.insert(field["name"].as_str().unwrap_or("").to_owned(), answer);
        }
    }
    if wrong_too && draws.chance(3) {
        answers.insert(String::from("not_a_field"), json!(1));
    }
    answers
}

/// Every field of a definition by name, inside groups and repeats too.
fn field_named<'a>(fields: &'a Value, name: &str) -> Option<&'a Value> {
    fields.as_array()?.iter().find_map(|field| {
        if field["name"] == name {
            Some(field)
        } else {
            field_named(&field["children"], name)
        }
    })
}

/// Moves random answers towards a valid submission, the way a person corrects a form: an
/// answer an error names is taken back, and a missing required one is given, until the
/// server accepts it or a few rounds have passed.
fn repair(
    draws: &mut Draws,
    definition: &Value,
    mut answers: Map<String, Value>,
    now: &str,
) -> Map<String, Value> {
    let form = AppDefinition::from_json(&definition.to_string())
        .unwrap()
        .compile()
        .unwrap();
    for _ in 0..10 {
        let Err(errors) = form.validate(&answers, Timestamp::parse_rfc3339(now).unwrap()) else {
            break;
        };
        for error in errors {
            // `name`, `repeat[row].name`, `repeat[row]` or `answers`, with rows nested in rows.
            let (holder, name) = match error.field.rsplit_once('.') {
                Some((rows, name)) => (Some(rows.to_owned()), name.to_owned()),
                None => (None, error.field.clone()),
            };
            let mut level = Some(&mut answers);
            for row in holder.iter().flat_map(|rows| rows.split('.')) {
                let (repeat, index) = row.trim_end_matches(']').split_once('[').unwrap();
                let index: usize = index.parse().unwrap();
                level = level
                    .and_then(|level| level.get_mut(repeat))
                    .and_then(|rows| rows.get_mut(index))
                    .and_then(Value::as_object_mut);
            }
            let Some(level) = level else { continue };
            if name == "answers" {
                level.remove("not_a_field");
            } else if let Some((repeat, index)) = name.trim_end_matches(']').split_once('[') {
                let index: usize = index.parse().unwrap();
                if let Some(rows) = level.get_mut(repeat).and_then(Value::as_array_mut)
                    && index < rows.len()
                {
                    rows.remove(index);
                }
            } else if error.code == "required" || error.code == "too_few_rows" {
                let field = field_named(&definition["fields"], &name).unwrap();
                if let Some(answer) = answer_for(draws, definition, field, false) {
                    level.insert(name, answer);
                }
            } else {
                level.remove(&name);
            }
        }
    }
    answers
}

/// The server's verdict on one submission, in the file's `expected` form.
fn verdict(definition: &Value, answers: &Map<String, Value>, now: &str) -> Value {
    let form = AppDefinition::from_json(&definition.to_string())
        .unwrap()
        .compile()
        .unwrap();
    match form.validate(answers, Timestamp::parse_rfc3339(now).unwrap()) {
        Ok(valid) => json!({
            "valid": true,
            "errors": [],
            "observations": valid.observations.iter()
                .map(|o| json!({"code": o.code, "value": o.value, "unit": o.unit}))
                .collect::<Vec<_>>(),
            "news2_total": valid.news2.map(|score| score.total),
        }),
        Err(errors) => json!({
            "valid": false,
            "errors": errors.iter()
                .map(|e| json!({"field": e.field, "code": e.code, "message": e.message}))
                .collect::<Vec<_>>(),
            "observations": [],
            "news2_total": null,
        }),
    }
}

/// NEWS2 answers that are all present and plausible, over the whole chart.
fn news2_answers(draws: &mut Draws, oxygen_as_boolean: bool) -> Map<String, Value> {
    let mut answers = Map::new();
    answers.insert("rr".into(), json!(draws.decimal(5.0, 30.0, 1)));
    answers.insert("spo2".into(), json!(draws.decimal(80.0, 100.0, 0)));
    answers.insert("sbp".into(), json!(draws.decimal(80.0, 230.0, 0)));
    answers.insert("pulse".into(), json!(draws.decimal(35.0, 140.0, 1)));
    answers.insert("temp".into(), json!(draws.decimal(34.5, 39.5, 2)));
    if draws.chance(30) {
        answers.insert(
            "temp".into(),
            quantity_for(
                draws,
                &json!({"unit": "Cel", "accepted_units": ["[degF]"], "code": "8310-5"}),
            ),
        );
    }
    if draws.chance(20) {
        answers.insert(
            "sbp".into(),
            json!({"value": draws.decimal(10.0, 30.0, 1), "unit": "kPa"}),
        );
    }
    let oxygen = draws.chance(40);
    answers.insert(
        "oxygen".into(),
        if oxygen_as_boolean {
            json!(oxygen)
        } else {
            json!(if oxygen { "oxygen" } else { "air" })
        },
    );
    answers.insert(
        "acvpu".into(),
        json!(draws.pick(&[
            "alert",
            "alert",
            "alert",
            "confusion",
            "voice",
            "pain",
            "unresponsive"
        ])),
    );
    if draws.chance(40) {
        answers.insert("scale".into(), json!(draws.pick(&["scale1", "scale2"])));
    }
    if draws.chance(30) {
        answers.insert(
            "readings".into(),
            json!([{"extra_pulse": 70}, {"extra_pulse": 400}]),
        );
    }
    answers
}

/// Definitions that must not compile, with the errors that say why.
fn broken() -> Vec<(&'static str, Value)> {
    let field = |extra: Value| {
        let mut base = json!({"name": "a", "type": "integer", "label": "A"});
        for (key, value) in extra.as_object().unwrap() {
            base[key] = value.clone();
        }
        base
    };
    let one = |extra: Value| json!({"title": "Broken", "fields": [field(extra)]});
    vec![
        (
            "unknown-format",
            json!({"title": "Broken", "format": "hale.app/2", "fields": [field(json!({}))]}),
        ),
        ("unknown-reference", one(json!({"relevant": "${nope} = 1"}))),
        ("syntax", one(json!({"relevant": "${a} = = 1"}))),
        ("xpath-path", one(json!({"relevant": "/data/a = 1"}))),
        ("instance", one(json!({"calculation": "instance('x')"}))),
        (
            "read-only-if-reference",
            one(json!({"read_only_if": "${nope} = 1"})),
        ),
        (
            "pulldata-arguments",
            one(json!({"calculation": "pulldata('x', 'y')"})),
        ),
        (
            "choice-file-and-list",
            json!({"title": "Broken", "choice_lists": {"l": [{"value": "a", "label": "A"}]},
                "fields": [field(json!({"type": "select_one", "choice_list": "l", "choice_file": "f.csv"}))]}),
        ),
        (
            "choice-file-name",
            one(json!({"type": "select_one", "choice_file": "f.txt"})),
        ),
        (
            "choice-file-on-text",
            one(json!({"type": "text", "purpose": "p", "choice_file": "f.csv"})),
        ),
        (
            "choice-file-and-repeat-choices",
            json!({"title": "Broken", "fields": [
                {"name": "r", "type": "repeat", "label": "R", "children": [{"name": "m", "type": "text", "label": "M", "purpose": "p"}]},
                field(json!({"type": "select_one", "choices_from": "m", "choice_file": "f.csv"}))]}),
        ),
        (
            "data-file-name",
            json!({"title": "Broken", "data_files": {"f.json": [{"value": "a", "label": "A"}], "g.csv": []},
                "fields": [field(json!({}))]}),
        ),
        (
            "data-file-rows",
            json!({"title": "Broken", "data_files": {"f.csv": [{"value": "a b", "label": "A"}, {"value": "c", "label": "C"}, {"value": "c", "label": "D", "attributes": {"name": "x"}}]},
                "fields": [field(json!({"type": "select_multiple", "choice_file": "f.csv"}))]}),
        ),
        (
            "media-files",
            json!({"title": "Broken", "media_files": {
                    "pain.svg": {"media_type": "image/svg+xml", "size": 1, "sha256": "0".repeat(64)},
                    "pain.PNG": {"media_type": "image/png", "size": 1, "sha256": "a".repeat(64)},
                    "cough.mp3": {"media_type": "audio/ogg", "size": 1, "sha256": "b".repeat(64)},
                    "walk.mp4": {"media_type": "video/mp4", "size": 1, "sha256": "C".repeat(64)},
                    ".mp4": {"media_type": "video/mp4", "size": 1, "sha256": "c".repeat(64)}},
                "choice_lists": {"faces": [{"value": "1", "label": "Fine", "media": {"image": "fine.png"}}]},
                "fields": [field(json!({"type": "select_one", "choice_list": "faces", "media": {"image": "pain.PNG"}}))]}),
        ),
        (
            "regex-literal",
            one(json!({"constraint": "regex(., '(?=x)')"})),
        ),
        (
            "bounds",
            one(json!({"type": "text", "min": 1, "purpose": "p"})),
        ),
        ("min-above-max", one(json!({"min": 5, "max": 1}))),
        ("range-bounds", one(json!({"type": "range", "min": 1}))),
        (
            "invalid-step",
            one(json!({"type": "range", "min": 0, "max": 1, "step": 0})),
        ),
        ("step-on-integer", one(json!({"step": 1}))),
        ("unknown-unit", one(json!({"unit": "furlong"}))),
        (
            "not-convertible",
            one(json!({"unit": "kg", "accepted_units": ["cm"]})),
        ),
        ("code-without-unit", one(json!({"code": "8867-4"}))),
        (
            "unit-disagrees",
            one(json!({"code": "8867-4", "unit": "/s"})),
        ),
        (
            "code-on-text",
            one(json!({"type": "text", "code": "8867-4", "unit": "/min", "purpose": "p"})),
        ),
        ("choices-missing", one(json!({"type": "select_one"}))),
        (
            "choice-list-missing",
            one(json!({"type": "select_one", "choice_list": "nope"})),
        ),
        (
            "duplicate-choice",
            one(
                json!({"type": "select_one", "choices": [{"value": "x", "label": "X"}, {"value": "x", "label": "Y"}]}),
            ),
        ),
        (
            "choice-with-double-space",
            one(json!({"type": "select_one", "choices": [{"value": "x  y", "label": "X"}]})),
        ),
        (
            "choice-with-tab",
            one(json!({"type": "select_one", "choices": [{"value": "x\ty", "label": "X"}]})),
        ),
        (
            "multiple-choice-with-space",
            one(
                json!({"type": "select_multiple", "choices": [{"value": "x", "label": "X"}, {"value": "x y", "label": "X Y"}]}),
            ),
        ),
        (
            "rank-choice-with-space",
            one(json!({"type": "rank", "choices": [{"value": "x y", "label": "X"}]})),
        ),
        (
            "open-rank",
            one(
                json!({"type": "rank", "open": true, "min_count": 1, "choices": [{"value": "x", "label": "X"}]}),
            ),
        ),
        (
            "multiple-choice-list-with-space",
            json!({"title": "Broken", "choice_lists": {"l": [{"value": "x y", "label": "X"}]},
            "fields": [field(json!({"type": "select_one", "choice_list": "l"})),
            field(json!({"name": "b", "type": "select_multiple", "choice_list": "l"}))]}),
        ),
        (
            "choices-on-integer",
            one(json!({"choices": [{"value": "x", "label": "X"}]})),
        ),
        (
            "label-missing",
            json!({"title": "Broken", "fields": [{"name": "a", "type": "integer"}]}),
        ),
        (
            "invalid-name",
            json!({"title": "Broken", "fields": [field(json!({"name": "1a"}))]}),
        ),
        (
            "reserved-name",
            json!({"title": "Broken", "fields": [field(json!({"name": "meta"}))]}),
        ),
        (
            "duplicate-name",
            json!({"title": "Broken", "fields": [field(json!({})), field(json!({}))]}),
        ),
        (
            "duplicate-in-one-level",
            json!({"title": "Broken", "fields": [field(json!({})),
            {"name": "g", "type": "group", "label": "G", "children": [field(json!({}))]}]}),
        ),
        (
            "ambiguous-reference",
            json!({"title": "Broken", "fields": [field(json!({})),
            {"name": "r", "type": "repeat", "label": "R", "children": [field(json!({}))]},
            {"name": "t", "type": "calculate", "calculation": "count(${a})"}]}),
        ),
        (
            "reference-into-nested-repeat",
            json!({"title": "Broken", "fields": [{"name": "r", "type": "repeat", "children": [
                {"name": "s", "type": "repeat", "children": [field(json!({}))]},
                {"name": "t", "type": "calculate", "calculation": "${a} + 1"}]}]}),
        ),
        (
            "calculation-missing",
            json!({"title": "Broken", "fields": [{"name": "c", "type": "calculate"}]}),
        ),
        (
            "cycle",
            json!({"title": "Broken", "fields": [
            {"name": "x", "type": "calculate", "calculation": "${y} + 1"},
            {"name": "y", "type": "calculate", "calculation": "${x} + 1"}]}),
        ),
        (
            "reference-into-repeat",
            json!({"title": "Broken", "fields": [
            {"name": "r", "type": "repeat", "children": [field(json!({}))]},
            {"name": "t", "type": "calculate", "calculation": "${a} + 1"}]}),
        ),
        (
            "choices-from-outside-repeat",
            json!({"title": "Broken", "fields": [
            field(json!({"type": "text"})),
            {"name": "s", "type": "select_one", "label": "S", "choices_from": "a"}]}),
        ),
        (
            "choices-from-own-repeat",
            json!({"title": "Broken", "fields": [
            {"name": "r", "type": "repeat", "children": [field(json!({"type": "text"})),
            {"name": "s", "type": "select_one", "label": "S", "choices_from": "a"}]}]}),
        ),
        (
            "choices-from-date",
            json!({"title": "Broken", "fields": [
            {"name": "r", "type": "repeat", "children": [field(json!({"type": "date"}))]},
            {"name": "s", "type": "select_multiple", "label": "S", "choices_from": "a"}]}),
        ),
        (
            "choices-from-unknown",
            one(json!({"type": "select_one", "choices_from": "nope"})),
        ),
        (
            "choices-from-with-filter-and-list",
            json!({"title": "Broken", "choice_lists": {"l": [{"value": "x", "label": "X"}]}, "fields": [
            {"name": "r", "type": "repeat", "children": [field(json!({"type": "text"}))]},
            {"name": "s", "type": "rank", "label": "S", "choices_from": "a", "choice_list": "l",
             "choice_filter": "name != ''", "open": true}]}),
        ),
        (
            "reference-to-group",
            json!({"title": "Broken", "fields": [
            {"name": "g", "type": "group", "children": [field(json!({}))]},
            {"name": "t", "type": "calculate", "calculation": "${g}"}]}),
        ),
        ("label-reference", one(json!({"label": "Hello ${nobody}"}))),
        ("invalid-default", one(json!({"default": "x"}))),
        (
            "default-on-note",
            json!({"title": "Broken", "fields": [{"name": "n", "type": "note", "label": "N", "default": 1}]}),
        ),
        (
            "required-note",
            json!({"title": "Broken", "fields": [{"name": "n", "type": "note", "label": "N", "required": true}]}),
        ),
        (
            "news2-mismatch",
            json!({"title": "Broken", "news2": {"oxygen": "a", "consciousness": "nope"}, "fields": [field(json!({}))]}),
        ),
        ("count-on-integer", one(json!({"min_count": 1}))),
        ("max-length-on-integer", one(json!({"max_length": 3}))),
        ("repeat-count-on-integer", one(json!({"repeat_count": "1"}))),
        ("unknown-member", one(json!({"maximum": 3}))),
        ("prefill-mismatch", one(json!({"prefill": "start"}))),
    ]
}

fn compile_verdict(definition: &Value) -> Value {
    let errors = match AppDefinition::from_json(&definition.to_string()) {
        Err(errors) => errors,
        Ok(app) => app.compile().expect_err("a broken definition"),
    };
    let malformed = errors.iter().any(|e| e.code == "malformed_definition");
    json!({"compile_errors": errors.iter().map(|e| {
        // serde's and the regex library's wording is their own; the browser reports the same
        // code at the same path.
        if malformed || e.message.contains("invalid regex pattern") {
            json!({"path": e.path, "code": e.code})
        } else {
            json!({"path": e.path, "code": e.code, "message": e.message})
        }
    }).collect::<Vec<_>>()})
}

fn generate() -> Value {
    let mut draws = Draws(0x464f_524d);
    let mut definitions: BTreeMap<String, Value> = BTreeMap::new();
    let mut cases = Vec::new();
    let forms: Vec<(&str, Value, usize)> = vec![
        ("daily-vitals", sample("daily-vitals"), 120),
        ("respiratory-diary", sample("respiratory-diary"), 60),
        ("medication-doses", sample("medication-doses"), 60),
        ("repeats", repeats(), 150),
        ("relevance", relevance(), 120),
        ("calculations", calculations(), 100),
        ("units", units(), 80),
        ("constraints", constraints(), 100),
        ("news2-boolean", news2(true), 40),
        ("news2-select", news2(false), 40),
    ];
    for (name, definition, count) in forms {
        for _ in 0..count {
            let now = *draws.pick(&NOWS);
            let wrong_too = draws.chance(50);
            let mut answers =
                answers_for(&mut draws, &definition, &definition["fields"], wrong_too);
            if !wrong_too {
                answers = repair(&mut draws, &definition, answers, now);
            }
            let expected = verdict(&definition, &answers, now);
            cases.push(
                json!({"definition": name, "answers": answers, "now": now, "expected": expected}),
            );
        }
        definitions.insert(name.to_owned(), definition);
    }
    for oxygen_as_boolean in [true, false] {
        let name = if oxygen_as_boolean {
            "news2-boolean"
        } else {
            "news2-select"
        };
        for _ in 0..150 {
            let answers = news2_answers(&mut draws, oxygen_as_boolean);
            let now = NOWS[0];
            let expected = verdict(&definitions[name], &answers, now);
            cases.push(
                json!({"definition": name, "answers": answers, "now": now, "expected": expected}),
            );
        }
    }
    // Nested repeats, from draws of their own so that the cases above stay as they were.
    let mut nested_draws = Draws(0x4e45_5354);
    let definition = nested();
    for _ in 0..150 {
        let draws = &mut nested_draws;
        let now = *draws.pick(&NOWS);
        let wrong_too = draws.chance(50);
        let mut answers = answers_for(draws, &definition, &definition["fields"], wrong_too);
        if !wrong_too {
            answers = repair(draws, &definition, answers, now);
        }
        let expected = verdict(&definition, &answers, now);
        cases.push(
            json!({"definition": "nested", "answers": answers, "now": now, "expected": expected}),
        );
    }
    definitions.insert(String::from("nested"), definition);
    for (name, definition) in broken() {
        let name = format!("broken-{name}");
        cases.push(json!({"definition": name, "expected": compile_verdict(&definition)}));
        definitions.insert(name, definition);
    }
    json!({"definitions": definitions, "cases": cases})
}

/// One case per line, so a drift shows as the lines that changed.
fn render(generated: &Value) -> String {
    let definitions: Vec<String> = generated["definitions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, definition)| format!("  {}: {}", json!(name), definition))
        .collect();
    let cases: Vec<String> = generated["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| format!("  {case}"))
        .collect();
    format!(
        "{{\n \"definitions\": {{\n{}\n }},\n \"cases\": [\n{}\n ]\n}}\n",
        definitions.join(",\n"),
        cases.join(",\n")
    )
}

#[test]
fn generated_form_cases_match_validation() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/generated_forms.json");
    let generated = render(&generate());
    if std::env::var("HALE_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let drift = committed
        .lines()
        .zip(generated.lines())
        .enumerate()
        .find(|(_, (old, new))| old != new);
    if let Some((line, (old, new))) = drift {
        panic!(
            "tests/generated_forms.json drifted from validation at line {}:\n  committed {old}\n  engine    {new}\nregenerate on purpose with HALE_BLESS=1 cargo test -p hale-forms --test generated_forms",
            line + 1
        );
    }
    assert_eq!(
        committed.lines().count(),
        generated.lines().count(),
        "tests/generated_forms.json has a different number of lines; regenerate with HALE_BLESS=1"
    );
    let valid = generated.matches("\"valid\":true").count();
    let invalid = generated.matches("\"valid\":false").count();
    assert!(
        valid > 200 && invalid > 200,
        "{valid} valid, {invalid} invalid"
    );
}
