//! `docs/app-format.schema.json` (JSON Schema 2020-12) against the Rust types. The `jsonschema`
//! crate pulls in an HTTP client and far more than 60 crates, so instead: the schema is valid
//! JSON; every member a maximal definition serialises is declared in the schema and every member
//! the schema declares is accepted by the Rust types; the field type enum matches; and the three
//! samples validate with a small validator for exactly the keywords the schema uses (it refuses
//! any other keyword, so the schema cannot outgrow it unnoticed; `pattern` is not checked).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hale_forms::{AppDefinition, Choice, Field, FieldType, News2Mapping, Text};
use serde_json::{Value, json};

mod common;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema() -> Value {
    let text = std::fs::read_to_string(root().join("docs/app-format.schema.json")).unwrap();
    serde_json::from_str(&text).expect("the schema is valid JSON")
}

fn maximal() -> AppDefinition {
    let translated = Text::Translated(BTreeMap::from([
        ("en".to_owned(), "A".to_owned()),
        ("fr".to_owned(), "B".to_owned()),
    ]));
    let choice = Choice {
        value: "a".to_owned(),
        label: translated.clone(),
        system: Some("http://loinc.org".to_owned()),
        score: Some(2.0),
        uncoded: true,
        attributes: BTreeMap::from([("state".to_owned(), "nsw".to_owned())]),
        media: BTreeMap::from([("image".to_owned(), Text::Plain("a.png".to_owned()))]),
    };
    let coding = hale_forms::Coding {
        system: Some("http://loinc.org".to_owned()),
        code: "29463-7".to_owned(),
        display: Some("Body weight".to_owned()),
    };
    let field = Field {
        name: "f".to_owned(),
        field_type: FieldType::Decimal,
        label: Some(translated.clone()),
        hint: Some(Text::Plain("h".to_owned())),
        required: true,
        required_message: Some(translated.clone()),
        constraint: Some(". > 0".to_owned()),
        constraint_message: Some(translated.clone()),
        relevant: Some("true()".to_owned()),
        calculation: Some("1".to_owned()),
        default: Some(json!(1)),
        choices: vec![choice.clone()],
        choice_list: Some("l".to_owned()),
        choices_from: Some("c".to_owned()),
        choice_file: Some("f.csv".to_owned()),
        choice_filter: Some("state = 'nsw'".to_owned()),
        trigger: vec!["c".to_owned()],
        appearance: Some("minimal".to_owned()),
        unit: Some("kg".to_owned()),
        accepted_units: vec!["[lb_av]".to_owned()],
        code: Some("29463-7".to_owned()),
        purpose: Some("p".to_owned()),
        min: Some(0.0),
        max: Some(1.0),
        step: Some(0.5),
        children: vec![Field::new("c", FieldType::Text)],
        min_count: Some(1),
        max_count: Some(2),
        answer_list: true,
        repeat_count: Some("2".to_owned()),
        required_if: Some("true()".to_owned()),
        read_only_if: Some(". = 1".to_owned()),
        read_only: true,
        default_expression: Some("today()".to_owned()),
        guidance_hint: Some(translated.clone()),
        media: BTreeMap::from([("image".to_owned(), Text::Plain("a.png".to_owned()))]),
        parameters: BTreeMap::from([("randomize".to_owned(), "true".to_owned())]),
        prefill: Some(hale_forms::Prefill::Start),
        link_id: Some("/f".to_owned()),
        codes: vec![coding.clone()],
        prefix: Some(Text::Plain("1.".to_owned())),
        hidden: true,
        open: true,
        choice_type: Some(hale_forms::ChoiceType::Integer),
        max_length: Some(10),
    };
    let mut app = AppDefinition::new("t", vec![field]);
    app.codes = vec![coding];
    app.format = Some("hale.app/1".to_owned());
    app.title = translated;
    app.version = Some("1".to_owned());
    app.languages = vec!["fr".to_owned()];
    app.schedule = Some("daily".to_owned());
    app.rate_limit_policy = Some("p".to_owned());
    app.choice_lists
        .insert("l".to_owned(), vec![choice.clone()]);
    app.data_files.insert("f.csv".to_owned(), vec![choice]);
    app.media_files.insert(
        "a.png".to_owned(),
        hale_forms::definition::MediaFile {
            media_type: "image/png".to_owned(),
            size: 73,
            sha256: "0".repeat(64),
        },
    );
    app.news2 = Some(News2Mapping {
        oxygen: "o".to_owned(),
        consciousness: "c".to_owned(),
        spo2_scale: Some("s".to_owned()),
    });
    app
}

fn keys(value: &Value) -> Vec<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn schema_members_match_the_rust_types() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let app: Value = serde_json::from_str(&maximal().to_json()).unwrap();
    let field = &app["fields"][0];
    let pairs = [
        (keys(&app), &schema["properties"]),
        (keys(field), &schema["$defs"]["field"]["properties"]),
        (
            keys(&app["choice_lists"]["l"][0]),
            &schema["$defs"]["choice"]["properties"],
        ),
        (keys(&app["news2"]), &schema["$defs"]["news2"]["properties"]),
    ];
    for (serialised, declared) in pairs {
        // Every member the maximal definition serialises is declared, and nothing more.
        assert_eq!(serialised, keys(declared));
    }
    let types: Vec<&str> = schema["$defs"]["field_type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap())
        .collect();
    let rust: Vec<&str> = FieldType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(types, rust);
    // The maximal definition is valid against the schema too.
    validate(&schema, &schema, &app, "$").unwrap();
}

/// A validator for the keywords the schema uses; any other keyword fails the test.
fn validate(root: &Value, schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let schema = schema.as_object().unwrap();
    // As in JSON Schema, object keywords apply only to objects, `items` only to arrays and
    // bounds only to numbers.
    let applies = |keyword: &str| match keyword {
        "required" | "properties" | "additionalProperties" => value.is_object(),
        "items" => value.is_array(),
        "minimum" | "maximum" => value.is_number(),
        _ => true,
    };
    for (keyword, rule) in schema.iter().filter(|(keyword, _)| applies(keyword)) {
        match keyword.as_str() {
            "$schema" | "$id" | "title" | "description" | "default" | "$defs" | "pattern" => {}
            "$ref" => {
                let name = rule.as_str().unwrap().strip_prefix("#/$defs/").unwrap();
                validate(root, &root["$defs"][name], value, path)?;
            }
            "type" => {
                let ok = match rule.as_str().unwrap() {
                    "object" => value.is_object(),
                    "array" => value.is_array(),
                    "string" => value.is_string(),
                    "boolean" => value.is_boolean(),
                    "number" => value.is_number(),
                    "integer" => value.is_u64() || value.is_i64(),
                    other => panic!("type {other}"),
                };
                if !ok {
                    return Err(format!("{path}: not a {rule}"));
                }
            }
            "const" if value != rule => return Err(format!("{path}: not {rule}")),
            "const" => {}
            "enum" if !rule.as_array().unwrap().contains(value) => {
                return Err(format!("{path}: not one of {rule}"));
            }
            "enum" => {}
            "minimum" | "maximum" => {
                let (number, bound) = (value.as_f64().unwrap(), rule.as_f64().unwrap());
                if (keyword == "minimum" && number < bound)
                    || (keyword == "maximum" && number > bound)
                {
                    return Err(format!("{path}: out of bounds"));
                }
            }
            "required" => {
                for name in rule.as_array().unwrap() {
                    if value.get(name.as_str().unwrap()).is_none() {
                        return Err(format!("{path}: missing {name}"));
                    }
                }
            }
            "properties" => {
                for (name, member) in value.as_object().unwrap() {
                    if let Some(sub) = rule.get(name) {
                        validate(root, sub, member, &format!("{path}.{name}"))?;
                    }
                }
            }
            "additionalProperties" => {
                let declared = schema.get("properties");
                for (name, member) in value.as_object().unwrap() {
                    if declared.is_some_and(|declared| declared.get(name).is_some()) {
                        continue;
                    }
                    match rule {
                        Value::Bool(false) => return Err(format!("{path}: unknown member {name}")),
                        sub => validate(root, sub, member, &format!("{path}.{name}"))?,
                    }
                }
            }
            "items" => {
                for (index, item) in value.as_array().unwrap().iter().enumerate() {
                    validate(root, rule, item, &format!("{path}[{index}]"))?;
                }
            }
            "oneOf" => {
                let passing = rule
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|sub| validate(root, sub, value, path).is_ok())
                    .count();
                if passing != 1 {
                    return Err(format!("{path}: matches {passing} of oneOf"));
                }
            }
            other => panic!("the test validator does not know keyword {other}"),
        }
    }
    Ok(())
}

#[test]
fn samples_validate_against_the_schema() {
    let schema = schema();
    for name in common::SAMPLES {
        let definition = common::sample_definition(name);
        let value: Value = serde_json::from_str(&definition.to_json()).unwrap();
        validate(&schema, &schema, &value, "$").unwrap_or_else(|error| panic!("{name}: {error}"));
    }
    // And the validator does refuse: an unknown member, a wrong type.
    let bad = json!({"title": "t", "fields": [{"name": "a", "type": "integer", "maximum": 3}]});
    assert!(validate(&schema, &schema, &bad, "$").is_err());
    let bad = json!({"title": "t", "fields": [{"name": "a", "type": "number"}]});
    assert!(validate(&schema, &schema, &bad, "$").is_err());
}
