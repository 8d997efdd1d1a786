//! Form engine tests: compile errors, validation codes, observations, BMI and NEWS2, and the
//! guarantee that no error message or path repeats a submitted answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hale_domain::Timestamp;
use hale_forms::{AppDefinition, CompiledForm};
use serde_json::{Map, Value};

fn now() -> Timestamp {
    Timestamp::parse_rfc3339("2026-01-31T08:00:00Z").unwrap()
}

fn compile(json: &str) -> CompiledForm {
    AppDefinition::from_json(json).unwrap().compile().unwrap()
}

fn compile_errors(json: &str) -> Vec<&'static str> {
    AppDefinition::from_json(json)
        .unwrap()
        .compile()
        .unwrap_err()
        .into_iter()
        .map(|e| e.code)
        .collect()
}

fn answers(json: &str) -> Map<String, Value> {
    serde_json::from_str(json).unwrap()
}

const VITALS: &str = r#"{"title":"Vitals","rate_limit_policy":"daily","news2":{"oxygen":"on_oxygen","consciousness":"acvpu"},"fields":[
  {"name":"heart_rate","type":"integer","label":"Heart rate","required":true,"unit":"/min","min":20,"max":300,"code":"8867-4"},
  {"name":"temperature","type":"decimal","label":"Temperature","unit":"Cel","accepted_units":["[degF]"],"code":"8310-5"},
  {"name":"rr","type":"integer","label":"RR","unit":"/min","code":"9279-1"},
  {"name":"spo2","type":"integer","label":"SpO2","unit":"%","code":"59408-5"},
  {"name":"sbp","type":"integer","label":"SBP","unit":"mm[Hg]","code":"8480-6"},
  {"name":"weight","type":"decimal","label":"Weight","unit":"kg","code":"29463-7"},
  {"name":"height","type":"decimal","label":"Height","unit":"cm","code":"8302-2"},
  {"name":"on_oxygen","type":"boolean","label":"Oxygen"},
  {"name":"acvpu","type":"select_one","label":"ACVPU","choices":[{"value":"alert","label":"A"},{"value":"voice","label":"V"}]},
  {"name":"symptoms","type":"select_multiple","label":"Symptoms","choices":[{"value":"cough","label":"Cough"},{"value":"fever","label":"Fever"}]},
  {"name":"fever_days","type":"integer","label":"Days","relevant":"selected(${symptoms}, 'fever')","constraint":". >= 1 and . <= 30","constraint_message":"1 to 30 days"},
  {"name":"note","type":"text","label":"Note","purpose":"free comment"}
]}"#;

#[test]
fn a_valid_submission_derives_observations_bmi_and_news2() {
    let valid = compile(VITALS)
        .validate(
            &answers(
                r#"{"heart_rate":96,"temperature":{"value":98.6,"unit":"[degF]"},"rr":22,"spo2":95,"sbp":118,
                "weight":70,"height":175,"on_oxygen":false,"acvpu":"alert","symptoms":["fever"],"fever_days":2}"#,
            ),
            now(),
        )
        .unwrap();
    let codes: Vec<_> = valid.observations.iter().map(|o| o.code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "8867-4", "8310-5", "9279-1", "59408-5", "8480-6", "29463-7", "8302-2", "39156-5"
        ]
    );
    assert!((valid.observations[1].value - 37.0).abs() < 1e-9);
    assert_eq!(valid.observations[7].value, 22.9);
    assert_eq!(valid.news2.unwrap().total, 4);
}

#[test]
fn relevance_constraints_and_types_have_stable_codes() {
    let form = compile(VITALS);
    let cases = [
        (r#"{}"#, "heart_rate", "required"),
        (r#"{"heart_rate":7.5}"#, "heart_rate", "not_an_integer"),
        (r#"{"heart_rate":10}"#, "heart_rate", "below_minimum"),
        (
            r#"{"heart_rate":70,"fever_days":3}"#,
            "fever_days",
            "not_relevant",
        ),
        (
            r#"{"heart_rate":70,"symptoms":["fever"],"fever_days":40}"#,
            "fever_days",
            "constraint_failed",
        ),
        (
            r#"{"heart_rate":70,"temperature":{"value":30,"unit":"K"}}"#,
            "temperature",
            "unit_not_accepted",
        ),
        (
            r#"{"heart_rate":70,"temperature":60}"#,
            "temperature",
            "implausible_value",
        ),
        (
            r#"{"heart_rate":70,"weight":80,"x":1}"#,
            "answers",
            "unknown_field",
        ),
    ];
    for (json, field, code) in cases {
        let errors = form.validate(&answers(json), now()).unwrap_err();
        assert_eq!(errors.len(), 1, "{json}: {errors:?}");
        assert_eq!(
            (errors[0].field.as_str(), errors[0].code),
            (field, code),
            "{json}"
        );
    }
    // Unknown keys are counted, never named.
    let count = |json: &str| {
        let errors = form.validate(&answers(json), now()).unwrap_err();
        errors[0].message.clone()
    };
    assert_eq!(
        count(r#"{"heart_rate":70,"weight":80,"x":1}"#),
        "1 answer names no field of this app"
    );
    assert_eq!(
        count(r#"{"heart_rate":70,"weight":80,"x":1,"y":2}"#),
        "2 answers name no field of this app"
    );
}

#[test]
fn compile_reports_every_problem_at_once() {
    let codes = compile_errors(
        r#"{"title":"t","fields":[
            {"name":"hr","type":"integer","label":"HR","code":"8867-4","min":300,"max":20},
            {"name":"hr","type":"text","label":"x","unit":"kg"},
            {"name":"s","type":"select_one","label":"S","choice_list":"nope"},
            {"name":"a","type":"calculate","calculation":"${b} + 1"},
            {"name":"b","type":"calculate","calculation":"${a} + ${ghost}"},
            {"name":"c","type":"integer","label":"C","relevant":"${a} >"},
            {"name":"t","type":"decimal","label":"T","unit":"kg","code":"8310-5"}
        ]}"#,
    );
    assert_eq!(
        codes,
        [
            "min_above_max",
            "code_without_unit",
            "duplicate_name",
            "unit_on_non_numeric",
            "choice_list_missing",
            "expression_syntax",
            "unit_disagrees_with_catalogue",
            "unknown_reference",
            "cycle"
        ]
    );
}

#[test]
fn repeats_are_checked_row_by_row() {
    let form = compile(
        r#"{"title":"Doses","fields":[
          {"name":"doses","type":"repeat","label":"Doses","min_count":1,"max_count":3,"children":[
            {"name":"drug","type":"text","label":"Drug","required":true,"purpose":"medication name"},
            {"name":"dose","type":"decimal","label":"Dose","constraint":". > 0"},
            {"name":"twice","type":"calculate","calculation":"${dose} * 2"},
            {"name":"why","type":"text","label":"Why","relevant":"${twice} > 10","purpose":"reason"}
          ]}]}"#,
    );
    assert!(
        form.validate(&answers(r#"{"doses":[{"drug":"a","dose":1}]}"#), now())
            .is_ok()
    );
    let errors = form
        .validate(
            &answers(r#"{"doses":[{"drug":"a","dose":1,"why":"x"},{"dose":-1},{"drug":"b","dose":6,"why":"y"}]}"#),
            now(),
        )
        .unwrap_err();
    let found: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(
        found,
        [
            ("doses[0].why", "not_relevant"),
            ("doses[1].drug", "required"),
            ("doses[1].dose", "constraint_failed")
        ]
    );
    let errors = form
        .validate(&answers(r#"{"doses":[]}"#), now())
        .unwrap_err();
    assert_eq!(errors[0].code, "too_few_rows");
}

proptest::proptest! {
    #[test]
    fn no_message_ever_repeats_a_text_answer(marker in "[A-Za-z]{12}") {
        let json = format!(
            r#"{{"heart_rate":"{marker}","note":5,"acvpu":"{marker}","symptoms":["{marker}"],"temperature":{{"value":1,"unit":"{marker}"}},"{marker} x":1,"{marker}":2}}"#
        );
        let errors = compile(VITALS).validate(&answers(&json), now()).unwrap_err();
        for error in errors {
            proptest::prop_assert!(!error.message.contains(&marker));
            proptest::prop_assert!(!error.field.contains(&marker));
        }
    }
}

#[test]
fn one_name_serves_fields_of_different_levels_and_must_then_be_unambiguous() {
    // A repeat's rows are objects of their own: the same name at the top and in a row is two
    // answers; groups share their level's answers, so the same name there would be one.
    let form = compile(
        r#"{"title":"T","fields":[
          {"name":"q","type":"integer","label":"Q"},
          {"name":"g","type":"group","label":"G","children":[{"name":"x","type":"text","label":"X","purpose":"p"}]},
          {"name":"r","type":"repeat","label":"R","children":[
            {"name":"q","type":"integer","label":"Row Q","max":3},
            {"name":"g","type":"group","label":"G","children":[{"name":"x","type":"integer","label":"X"}]},
            {"name":"r","type":"calculate","calculation":"position(..)"}]}]}"#,
    );
    let errors = form
        .validate(
            &answers(r#"{"q":9,"x":"a","r":[{"q":9,"x":"b","r":1}]}"#),
            now(),
        )
        .unwrap_err();
    let found: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(
        found,
        [("r[0].q", "above_maximum"), ("r[0].x", "not_a_number")]
    );
    assert_eq!(
        compile_errors(
            r#"{"title":"T","fields":[{"name":"q","type":"integer","label":"Q"},
              {"name":"g","type":"group","label":"G","children":[{"name":"q","type":"integer","label":"Q"}]}]}"#
        ),
        ["duplicate_name"]
    );
    assert_eq!(
        compile_errors(
            r#"{"title":"T","fields":[
              {"name":"g","type":"group","label":"G","children":[{"name":"a","type":"integer","label":"A"}]},
              {"name":"g","type":"group","label":"G","children":[{"name":"b","type":"integer","label":"B"}]}]}"#
        ),
        ["duplicate_name"]
    );
    // `${q}` would be either field: refused, in expressions and in texts alike.
    assert_eq!(
        compile_errors(
            r#"{"title":"T","fields":[{"name":"q","type":"integer","label":"Q"},
              {"name":"r","type":"repeat","label":"R","children":[{"name":"q","type":"integer","label":"Q ${q}"}]},
              {"name":"n","type":"calculate","calculation":"sum(${q})"}]}"#
        ),
        ["ambiguous_reference", "ambiguous_reference"]
    );
}
