//! FHIR R4 Questionnaire export and import: the samples and generated definitions survive
//! `import(export(d))` unchanged, exported resources are structurally sane, and every construct
//! Hale cannot honour is refused with an error naming its linkId.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use hale_forms::questionnaire::{export, import};
use hale_forms::xlsform::import_csv;
use hale_forms::{AppDefinition, DefinitionError};
use serde_json::{Value, json};

const SAMPLES: [&str; 3] = ["daily-vitals", "respiratory-diary", "medication-doses"];

fn sample(name: &str) -> AppDefinition {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let read = |sheet: &str| std::fs::read_to_string(directory.join(format!("{sheet}.csv"))).ok();
    import_csv(
        &read("survey").unwrap(),
        read("choices").as_deref(),
        read("settings").as_deref(),
    )
    .unwrap()
}

/// resourceType and status, every item with a linkId and a type, answerOption only on choice
/// items, items only under groups.
fn assert_sane(resource: &Value) {
    assert_eq!(resource["resourceType"], "Questionnaire");
    assert!(resource["status"].is_string());
    fn check(items: &Value) {
        for item in items.as_array().unwrap() {
            let link_id = item["linkId"].as_str().expect("linkId");
            let kind = item["type"].as_str().expect("type");
            assert!(!link_id.is_empty());
            if item.get("answerOption").is_some() {
                assert_eq!(kind, "choice", "{link_id}");
            }
            if let Some(children) = item.get("item") {
                assert_eq!(kind, "group", "{link_id}");
                check(children);
            }
            if let Some(extensions) = item.get("extension") {
                for extension in extensions.as_array().unwrap() {
                    let url = extension["url"].as_str().unwrap();
                    assert!(
                        url.starts_with("http://hl7.org/fhir/")
                            || url.starts_with("urn:hale:fhir:extension:"),
                        "{url}"
                    );
                }
            }
        }
    }
    check(&resource["item"]);
}

#[test]
fn samples_round_trip() {
    for name in SAMPLES {
        let definition = sample(name);
        let resource = export(&definition);
        assert_sane(&resource);
        let again = import(&resource).unwrap_or_else(|errors| panic!("{name}: {errors:#?}"));
        assert_eq!(again, definition, "{name}");
        // Through JSON text too, as a resource travels.
        let text = serde_json::to_string(&resource).unwrap();
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(import(&reparsed).unwrap(), definition, "{name} via text");
    }
}

#[test]
fn simple_relevance_becomes_enable_when() {
    let resource = export(&sample("respiratory-diary"));
    let severity = &resource["item"][2];
    assert_eq!(severity["linkId"], "severity");
    assert_eq!(
        severity["enableWhen"],
        json!([{"question": "breathless", "operator": "=", "answerCoding": {"code": "yes"}}])
    );
    let vitals = export(&sample("daily-vitals"));
    let other = vitals["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["linkId"] == "other_symptom")
        .unwrap();
    assert_eq!(
        other["enableWhen"],
        json!([{"question": "symptoms", "operator": "=", "answerCoding": {"code": "other"}}])
    );
}

fn errors_of(resource: Value) -> Vec<DefinitionError> {
    import(&resource).expect_err("should be refused")
}

fn questionnaire(items: Value) -> Value {
    json!({"resourceType": "Questionnaire", "status": "active", "title": "T", "item": items})
}

fn assert_refused(item: Value, link_id: &str, construct: &str) {
    let errors = errors_of(questionnaire(json!([item])));
    assert!(
        errors
            .iter()
            .any(|error| error.message.contains(&format!("'{link_id}'"))
                && error.message.contains(construct)),
        "{link_id}/{construct}: {errors:#?}"
    );
}

#[test]
fn unsupported_constructs_are_refused_naming_the_link_id() {
    assert_refused(
        json!({"linkId": "oc", "type": "open-choice", "answerOption": [{"valueString": "a"}]}),
        "oc",
        "open-choice",
    );
    assert_refused(
        json!({"linkId": "vs", "type": "choice", "answerValueSet": "http://example.org/vs"}),
        "vs",
        "answerValueSet",
    );
    assert_refused(json!({"linkId": "u", "type": "url"}), "u", "'url'");
    assert_refused(
        json!({"linkId": "r", "type": "reference"}),
        "r",
        "'reference'",
    );
    assert_refused(
        json!({"linkId": "x", "type": "string", "extension": [{"url": "http://example.org/x", "valueString": "y"}]}),
        "x",
        "http://example.org/x",
    );
    assert_refused(
        json!({"linkId": "ml", "type": "string", "maxLength": 10}),
        "ml",
        "maxLength",
    );
    assert_refused(
        json!({"linkId": "c", "type": "integer", "code": [{"system": "http://snomed.info/sct", "code": "1"}]}),
        "c",
        "LOINC",
    );
    assert_refused(
        json!({"linkId": "rs", "type": "string", "repeats": true}),
        "rs",
        "repeats",
    );
    assert_refused(
        json!({"linkId": "fp", "type": "integer", "extension": [{"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression",
            "valueExpression": {"language": "text/fhirpath", "expression": "1 + 1"}}]}),
        "fp",
        "text/fhirpath",
    );
    assert_refused(
        json!({"linkId": "co", "type": "choice", "answerOption": [{"valueCoding": {"system": "http://snomed.info/sct", "code": "1"}}]}),
        "co",
        "system",
    );
    assert_refused(
        json!({"linkId": "outer", "type": "group", "repeats": true, "item": [
            {"linkId": "inner", "type": "group", "repeats": true, "item": [{"linkId": "a", "type": "string"}]}
        ]}),
        "inner",
        "nested repeat",
    );
}

#[test]
fn enable_when_without_exact_equivalent_is_refused() {
    let items = |condition: Value| {
        questionnaire(json!([
            {"linkId": "a", "type": "integer"},
            {"linkId": "b", "type": "boolean"},
            {"linkId": "t", "type": "string", "enableWhen": [condition]},
        ]))
    };
    for (condition, construct) in [
        (
            json!({"question": "a", "operator": "!=", "answerInteger": 1}),
            "'!='",
        ),
        (
            json!({"question": "a", "operator": "exists", "answerBoolean": true}),
            "'exists'",
        ),
        (
            json!({"question": "b", "operator": "=", "answerBoolean": false}),
            "answerBoolean false",
        ),
        (
            json!({"question": "a", "operator": "=", "answerString": "x"}),
            "answerString",
        ),
        (
            json!({"question": "zz", "operator": "=", "answerInteger": 1}),
            "'zz'",
        ),
    ] {
        let errors = errors_of(items(condition));
        assert!(
            errors
                .iter()
                .any(|error| error.message.contains("'t'") && error.message.contains(construct)),
            "{construct}: {errors:#?}"
        );
    }
    let errors = errors_of(questionnaire(json!([
        {"linkId": "a", "type": "integer"},
        {"linkId": "t", "type": "string", "enableWhen": [
            {"question": "a", "operator": ">", "answerInteger": 1},
            {"question": "a", "operator": "<", "answerInteger": 5}]},
    ])));
    assert!(errors[0].message.contains("enableBehavior"), "{errors:#?}");
}

#[test]
fn foreign_questionnaire_imports() {
    let resource = json!({
        "resourceType": "Questionnaire", "id": "x", "url": "http://example.org/q", "status": "active",
        "title": "Hello", "_title": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/translation",
            "extension": [{"url": "lang", "valueCode": "fr"}, {"url": "content", "valueString": "Bonjour"}]}]},
        "item": [
            {"linkId": "hr", "type": "integer", "text": "Heart rate", "prefix": "1.",
             "code": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}],
             "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl",
                 "valueCodeableConcept": {"coding": [{"code": "slider"}]}},
                 {"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unit",
                  "valueCoding": {"system": "http://unitsofmeasure.org", "code": "/min"}}]},
            {"linkId": "c", "type": "choice", "text": "C", "answerOption": [{"valueString": "a"}, {"valueCoding": {"code": "b", "display": "Bee"}}]},
            {"linkId": "n", "type": "text", "text": "N", "enableWhen": [{"question": "hr", "operator": ">=", "answerInteger": 100},
                {"question": "c", "operator": "=", "answerCoding": {"code": "b"}}], "enableBehavior": "any"}
        ]
    });
    let definition = import(&resource).unwrap();
    assert_eq!(
        definition.title,
        hale_forms::Text::Translated(
            [
                ("en".to_owned(), "Hello".to_owned()),
                ("fr".to_owned(), "Bonjour".to_owned())
            ]
            .into()
        )
    );
    assert_eq!(definition.fields[0].code.as_deref(), Some("8867-4"));
    assert_eq!(definition.fields[1].choices[1].value, "b");
    assert_eq!(
        definition.fields[2].relevant.as_deref(),
        Some("${hr} >= 100 or ${c} = 'b'")
    );
    assert_eq!(
        definition.fields[2].appearance.as_deref(),
        Some("multiline")
    );
    definition.compile().unwrap();
}
