//! FHIR R4 Questionnaire export and import: the samples and generated definitions survive
//! `import(export(d))` unchanged, exported resources are structurally sane, and every construct
//! Hale cannot honour is refused with an error naming its linkId.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hale_forms::DefinitionError;
use hale_forms_io::questionnaire::{export, import};
use serde_json::{Value, json};

#[path = "../../hale-forms/tests/common/mod.rs"]
mod common;

fn now() -> hale_domain::Timestamp {
    hale_domain::Timestamp::parse_rfc3339("2026-01-31T08:00:00Z").unwrap()
}

/// The error codes of validating `answers` against `form`, or none.
fn codes(form: &hale_forms::CompiledForm, answers: Value) -> Vec<&'static str> {
    let answers = answers.as_object().unwrap().clone();
    match form.validate(&answers, now()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(|error| error.code).collect(),
    }
}

#[test]
fn repeating_questions_are_answer_lists() {
    let resource = questionnaire(json!([
        {"linkId": "dose", "type": "decimal", "text": "Dose", "repeats": true, "required": true,
         "initial": [{"valueDecimal": 1.5}, {"valueDecimal": 2}],
         "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs", "valueInteger": 3}],
         "item": [{"linkId": "why", "type": "string", "text": "Why"}]},
        {"linkId": "fruit", "type": "choice", "text": "Fruit", "answerOption": [
            {"valueCoding": {"code": "a"}}, {"valueCoding": {"code": "b"}}, {"valueCoding": {"code": "c"}}],
         "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-answerRepeats", "valueBoolean": true},
                       {"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs", "valueInteger": 2}]}
    ]));
    let definition = import(&resource).unwrap();
    let list = &definition.fields[0];
    assert_eq!(list.field_type, hale_forms::FieldType::Repeat);
    assert!(list.answer_list);
    assert_eq!((list.min_count, list.max_count), (Some(1), Some(3)));
    let names: Vec<&str> = list
        .children
        .iter()
        .map(|child| child.name.as_str())
        .collect();
    assert_eq!(names, ["dose_answer", "why"]);
    assert!(list.children[0].required);
    assert_eq!(
        list.default,
        Some(json!([{"dose_answer": 1.5}, {"dose_answer": 2}]))
    );
    let fruit = &definition.fields[1];
    assert_eq!(fruit.field_type, hale_forms::FieldType::SelectMultiple);
    assert_eq!(fruit.max_count, Some(2));

    let back = export(&definition);
    assert_eq!(back["item"][0]["linkId"], "dose");
    assert_eq!(back["item"][0]["type"], "decimal");
    assert_eq!(back["item"][0]["repeats"], true);
    assert_eq!(back["item"][0]["required"], true);
    assert_eq!(
        back["item"][0]["initial"],
        json!([{"valueDecimal": 1.5}, {"valueDecimal": 2}])
    );
    assert_eq!(back["item"][0]["item"][0]["linkId"], "why");
    assert_eq!(import(&back).unwrap(), definition);

    let form = definition.compile().unwrap();
    let two = json!([{"dose_answer": 1.5, "why": "pain"}, {"dose_answer": 2}]);
    assert_eq!(
        codes(&form, json!({"dose": two, "fruit": ["a", "b"]})),
        Vec::<&str>::new()
    );
    assert_eq!(codes(&form, json!({"dose": []})), ["too_few_rows"]);
    assert_eq!(codes(&form, json!({"dose": [{"why": "x"}]})), ["required"]);
    assert_eq!(
        codes(
            &form,
            json!({"dose": [{"dose_answer": 1}], "fruit": ["a", "b", "c"]})
        ),
        ["too_many_choices"]
    );
}

#[test]
fn repeating_groups_nest_and_round_trip() {
    // A repeating group in a repeating group, a repeating question in it, and a condition on a
    // question of the enclosing group instance.
    let resource = questionnaire(json!([
        {"linkId": "visits", "type": "group", "text": "Visits", "repeats": true, "item": [
            {"linkId": "seen", "type": "boolean", "text": "Seen?"},
            {"linkId": "doses", "type": "group", "text": "Doses", "repeats": true,
             "enableWhen": [{"question": "seen", "operator": "=", "answerBoolean": true}], "item": [
                {"linkId": "amount", "type": "decimal", "text": "Amount", "required": true},
                {"linkId": "times", "type": "time", "text": "Taken at", "repeats": true}
            ]}
        ]}
    ]));
    let definition = import(&resource).unwrap();
    let visits = &definition.fields[0];
    let doses = &visits.children[1];
    assert_eq!(doses.field_type, hale_forms::FieldType::Repeat);
    assert_eq!(doses.relevant.as_deref(), Some("${seen} = true()"));
    assert!(doses.children[1].answer_list);
    let form = definition.compile().unwrap();
    let answers = json!({"visits": [
        {"seen": true, "doses": [{"amount": 1.5, "times": [{"times_answer": "08:00"}]}, {"amount": 2}]},
        {"seen": false}
    ]});
    assert_eq!(codes(&form, answers), Vec::<&str>::new());
    assert_eq!(
        codes(
            &form,
            json!({"visits": [{"seen": true, "doses": [{}]}, {"doses": [{"amount": 1}]}]})
        ),
        ["required", "not_relevant"]
    );

    let back = export(&definition);
    assert_sane(&back);
    let inner = &back["item"][0]["item"][1];
    assert_eq!(inner["linkId"], "doses");
    assert_eq!(inner["repeats"], true);
    assert_eq!(
        inner["enableWhen"],
        json!([{"question": "seen", "operator": "=", "answerBoolean": true}])
    );
    assert_eq!(inner["item"][1]["repeats"], true);
    assert_eq!(import(&back).unwrap(), definition);

    // FHIRPath reads a linkId across the whole response: a row's own answer has none, a total
    // of every row from the top has one.
    let mut definition = definition;
    let mut twice = hale_forms::Field::new("twice", hale_forms::FieldType::Calculate);
    twice.calculation = Some(String::from("${amount} * 2"));
    definition.fields[0].children[1].children.push(twice);
    let mut total = hale_forms::Field::new("total", hale_forms::FieldType::Calculate);
    total.calculation = Some(String::from("sum(${amount})"));
    definition.fields.push(total);
    let back = export(&definition);
    let fhirpath = |item: &Value| {
        item["extension"]
            .as_array()
            .unwrap()
            .iter()
            .any(|extension| extension["valueExpression"]["language"] == "text/fhirpath")
    };
    assert!(!fhirpath(&back["item"][0]["item"][1]["item"][2]));
    assert!(fhirpath(&back["item"][1]));
    assert_eq!(import(&back).unwrap(), definition);
}

#[test]
fn an_empty_form_and_empty_groups_round_trip() {
    for text in [
        r#"{"title":"T","fields":[]}"#,
        r#"{"title":"T","fields":[
          {"name":"g","type":"group","label":"G"},
          {"name":"r","type":"repeat","label":"R","max_count":2}]}"#,
    ] {
        let definition = hale_forms::AppDefinition::from_json(text).unwrap();
        definition.compile().unwrap();
        let back = export(&definition);
        assert_sane(&back);
        assert_eq!(import(&back).unwrap(), definition, "{text}");
    }
}

#[test]
fn a_select_one_choice_with_spaces_is_a_coding_and_comes_back() {
    let definition = hale_forms::AppDefinition::from_json(
        r#"{"title":"T","choice_lists":{"states":[{"value":"option a","label":"A"}]},"fields":[
          {"name":"s","type":"select_one","label":"S","choice_list":"states"}]}"#,
    )
    .unwrap();
    definition.compile().unwrap();
    let back = export(&definition);
    assert_sane(&back);
    assert_eq!(
        back["item"][0]["answerOption"][0]["valueCoding"]["code"],
        "option a"
    );
    assert_eq!(import(&back).unwrap(), definition);
}

#[test]
fn a_rank_is_a_repeating_choice_marked_by_its_field_type_and_comes_back() {
    let definition = hale_forms::AppDefinition::from_json(
        r#"{"title":"T","fields":[{"name":"order","type":"rank","label":"Order","required":true,
          "default":["b","a"],"choices":[{"value":"a","label":"A"},{"value":"b","label":"B"}]}]}"#,
    )
    .unwrap();
    definition.compile().unwrap();
    let back = export(&definition);
    assert_sane(&back);
    let item = &back["item"][0];
    assert_eq!(item["type"], "choice");
    assert_eq!(item["repeats"], true);
    assert!(
        item["extension"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |extension| extension["url"] == "urn:hale:fhir:extension:field-type"
                    && extension["valueCode"] == "rank"
            )
    );
    // An order has no `initialSelected` form: the default is kept as Hale's JSON text.
    assert!(
        item.get("answerOption")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .all(|option| option.get("initialSelected").is_none())
    );
    assert!(
        item["extension"]
            .as_array()
            .unwrap()
            .iter()
            .any(|extension| extension["url"] == "urn:hale:fhir:extension:default")
    );
    assert_eq!(import(&back).unwrap(), definition);
}

#[test]
fn a_name_several_fields_share_exports_under_unique_link_ids_and_comes_back() {
    let definition = hale_forms::AppDefinition::from_json(
        r#"{"title":"T","fields":[
          {"name":"q","type":"integer","label":"Q"},
          {"name":"g","type":"group","label":"G","children":[{"name":"x","type":"text","label":"X"}]},
          {"name":"r","type":"repeat","label":"R","children":[
            {"name":"q","type":"integer","label":"Row Q"},
            {"name":"g","type":"group","label":"G","children":[{"name":"x","type":"integer","label":"X"}]},
            {"name":"d","type":"time","label":"D","children":[], "answer_list": false}]}]}"#,
    )
    .unwrap();
    definition.compile().unwrap();
    let back = export(&definition);
    assert_sane(&back);
    let mut link_ids = Vec::new();
    fn collect(items: &Value, out: &mut Vec<String>) {
        for item in items.as_array().unwrap() {
            out.push(item["linkId"].as_str().unwrap().to_owned());
            if let Some(children) = item.get("item") {
                collect(children, out);
            }
        }
    }
    collect(&back["item"], &mut link_ids);
    assert_eq!(link_ids, ["q", "g", "g/x", "r", "r/q", "r/g", "r/g/x", "d"]);
    assert_eq!(import(&back).unwrap(), definition);
}

use common::{SAMPLES, sample_definition as sample};

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
                    // FHIR's `id`: a constraint's key is one.
                    for part in extension["extension"].as_array().into_iter().flatten() {
                        if let Some(id) = part["valueId"].as_str() {
                            assert!(
                                (1..=64).contains(&id.len())
                                    && id.chars().all(|character| {
                                        character.is_ascii_alphanumeric()
                                            || matches!(character, '-' | '.')
                                    }),
                                "{link_id}: key {id}"
                            );
                        }
                    }
                }
            }
        }
    }
    check(&resource["item"]);
    assert_extensions_well_formed(resource);
}

/// Every extension anywhere in `value` (on items, options, Codings, texts, other extensions)
/// is a FHIR Extension: a `url` and either exactly one non-empty `value[x]` or nested
/// extensions, not both (ext-1).
fn assert_extensions_well_formed(value: &Value) {
    match value {
        Value::Object(object) => {
            for extension in object
                .get("extension")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let members = extension.as_object().unwrap();
                assert!(members["url"].as_str().is_some_and(|url| !url.is_empty()));
                let values: Vec<&Value> = members
                    .iter()
                    .filter(|(key, _)| key.starts_with("value"))
                    .map(|(_, value)| value)
                    .collect();
                let nested = members.contains_key("extension");
                assert!(
                    values.len() + usize::from(nested) == 1,
                    "{extension}: one value[x] or nested extensions"
                );
                assert!(
                    values.iter().all(|value| *value != &json!("")),
                    "{extension}"
                );
                assert!(
                    members.keys().all(|key| key == "url"
                        || key == "extension"
                        || key.starts_with("value")
                        || key.starts_with("_value")),
                    "{extension}"
                );
            }
            object.values().for_each(assert_extensions_well_formed);
        }
        Value::Array(values) => values.iter().for_each(assert_extensions_well_formed),
        _ => {}
    }
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
        json!({"linkId": "mo", "type": "string", "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs", "valueInteger": 0}]}),
        "mo",
        "maxOccurs 0",
    );
    assert_refused(
        json!({"linkId": "fp", "type": "integer", "extension": [{"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression",
            "valueExpression": {"language": "text/fhirpath", "expression": "%patient.birthDate"}}]}),
        "fp",
        "%patient",
    );
    assert_refused(
        json!({"linkId": "ml", "type": "integer", "maxLength": 10}),
        "ml",
        "maxLength",
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
    for (condition, expected) in [
        (
            json!({"question": "a", "operator": "!=", "answerInteger": 1}),
            "not(${a} = 1)",
        ),
        (
            json!({"question": "a", "operator": "exists", "answerBoolean": true}),
            "string-length(string(${a})) > 0",
        ),
        (
            json!({"question": "a", "operator": "exists", "answerBoolean": false}),
            "not(string-length(string(${a})) > 0)",
        ),
        (
            json!({"question": "b", "operator": "=", "answerBoolean": false}),
            "string-length(string(${b})) > 0 and ${b} = false()",
        ),
    ] {
        let definition = import(&items(condition)).unwrap();
        assert_eq!(definition.fields[2].relevant.as_deref(), Some(expected));
    }
    for (condition, construct) in [
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

mod generated {
    use std::collections::BTreeMap;

    use hale_forms::{AppDefinition, Choice, Coding, Field, FieldType, Prefill, Text};
    use hale_forms_io::questionnaire::{export, import};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn words() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z ,.?'éà]{0,12}"
    }

    fn text() -> impl Strategy<Value = Text> {
        prop_oneof![
            words().prop_map(Text::Plain),
            words().prop_map(|en| Text::Translated(BTreeMap::from([("en".to_owned(), en)]))),
            (words(), words()).prop_map(|(en, fr)| Text::Translated(BTreeMap::from([
                ("en".to_owned(), en),
                ("fr".to_owned(), fr)
            ]))),
            words().prop_map(|fr| Text::Translated(BTreeMap::from([("fr".to_owned(), fr)]))),
        ]
    }

    fn bound() -> impl Strategy<Value = Option<f64>> {
        prop::option::of((-2000i32..2000).prop_map(|n| f64::from(n) / 10.0))
    }

    /// Choices, some with attributes for a choice filter to read (an empty one too).
    fn choices() -> impl Strategy<Value = Vec<Choice>> {
        let attributes = prop::collection::btree_map(
            prop::sample::select(vec!["state", "tier"]).prop_map(str::to_owned),
            prop::sample::select(vec!["nsw", "vic", ""]).prop_map(str::to_owned),
            0..3,
        );
        prop::collection::vec((text(), attributes), 1..4).prop_map(|choices| {
            choices
                .into_iter()
                .enumerate()
                .map(|(index, (label, attributes))| Choice {
                    attributes,
                    ..Choice::new(&format!("c{index}"), label)
                })
                .collect()
        })
    }

    /// A choice filter over the choice's members and an earlier answer: some translate to
    /// FHIRPath toggles, `regex` does not.
    fn choice_filter(index: usize) -> impl Strategy<Value = Option<String>> {
        prop::option::of((0usize..4, 0..index.max(1)).prop_map(
            move |(shape, earlier)| match shape {
                0 => String::from("state = 'nsw'"),
                1 if index > 0 => format!("tier = ${{f{earlier}}} or name = 'c0'"),
                2 => String::from("regex(label, '^[A-M]')"),
                _ => String::from("name != 'c1' and state != ''"),
            },
        ))
    }

    /// Relevance over earlier fields: some map to enableWhen, some stay expressions.
    fn relevance(count: usize) -> BoxedStrategy<Option<String>> {
        if count == 0 {
            return Just(None).boxed();
        }
        let reference = 0..count;
        prop::option::of(
            (reference.clone(), reference, 0usize..10, 0u32..20, "c[0-3]").prop_map(
                |(a, b, shape, n, choice)| match shape {
                    0 => format!("${{f{a}}} = '{choice}'"),
                    1 => format!("${{f{a}}} > {n}"),
                    2 => format!("${{f{a}}} <= {n}.5"),
                    3 => format!("selected(${{f{a}}}, '{choice}')"),
                    4 => format!("${{f{a}}} = true()"),
                    5 => format!("${{f{a}}} >= {n} and ${{f{b}}} = '{choice}'"),
                    6 => format!("${{f{a}}} < {n} or ${{f{b}}} = true() or ${{f{a}}} > 100"),
                    7 => format!("${{f{a}}} != '{choice}'"),
                    // FHIR's `= false` on a boolean, as import writes it.
                    8 => format!("string-length(string(${{f{a}}})) > 0 and ${{f{a}}} = false() and ${{f{b}}} > {n}"),
                    _ => format!("${{f{a}}} + 1 > ({n})"),
                },
            ),
        )
        .boxed()
    }

    /// Every type but groups and repeats, which the generator builds itself.
    fn types() -> Vec<FieldType> {
        FieldType::ALL
            .into_iter()
            .filter(|kind| !kind.is_container())
            .collect()
    }

    fn default_for(field: &Field, pick: u8) -> Option<Value> {
        if !pick.is_multiple_of(3) {
            return None;
        }
        Some(match field.field_type {
            FieldType::Integer => json!(i64::from(pick) - 100),
            FieldType::Decimal | FieldType::Range => json!(f64::from(pick) / 4.0),
            FieldType::Text => json!("hello"),
            FieldType::SelectOne => json!(field.choices.first().map(|c| c.value.clone())?),
            FieldType::SelectMultiple if pick.is_multiple_of(2) => {
                json!(
                    field
                        .choices
                        .iter()
                        .map(|c| c.value.clone())
                        .collect::<Vec<_>>()
                )
            }
            FieldType::SelectMultiple => json!(["c9", "c0"]),
            // A ranking's default is an order, which no `initialSelected` can say.
            FieldType::Rank => json!(
                field
                    .choices
                    .iter()
                    .rev()
                    .map(|c| c.value.clone())
                    .collect::<Vec<_>>()
            ),
            FieldType::Date => json!("2026-01-31"),
            FieldType::Datetime => json!("2026-01-31T08:30:00+01:00"),
            FieldType::Time if pick.is_multiple_of(2) => json!("08:30:00"),
            FieldType::Time => json!("08:30"),
            FieldType::Boolean | FieldType::Acknowledge => json!(pick.is_multiple_of(2)),
            _ => json!({"value": 1.5, "unit": "[lb_av]"}),
        })
    }

    prop_compose! {
        fn field(index: usize)(
            field_type in prop::sample::select(types()),
            label in prop::option::of(text()),
            hint in prop::option::of(text()),
            required in any::<bool>(),
            min in bound(),
            max in bound(),
            code in prop::option::of(prop::sample::select(vec!["8867-4", "29463-7", "8310-5"])),
            unit in prop::option::of(prop::sample::select(vec!["kg", "/min", "Cel"])),
            accepted in prop::collection::vec(prop::sample::select(vec!["[lb_av]", "[degF]"]), 0..2),
            choices in choices(),
            use_list in any::<bool>(),
            relevant in relevance(index),
            filter in choice_filter(index),
            guidance in prop::option::of(text()),
            image in prop::option::of(text()),
            extras in any::<[bool; 6]>(),
            more in any::<[bool; 3]>(),
            pick in any::<u8>(),
        ) -> Field {
            let mut field = Field::new(&format!("f{index}"), field_type);
            field.label = label;
            field.hint = hint;
            field.required = required;
            field.relevant = relevant;
            if field_type.is_numeric() || field_type == FieldType::Calculate {
                field.code = code.map(str::to_owned);
                field.min = min;
                field.max = max;
                field.unit = unit.map(str::to_owned);
                // Accepted units need the field's own (`code_without_unit`).
                if field.unit.is_some() {
                    field.accepted_units = accepted.into_iter().map(str::to_owned).collect();
                }
                field.accepted_units.dedup();
            } else if let Some(code) = code {
                // A plain LOINC code on a question that derives no observation.
                field.codes = vec![Coding {
                    system: Some(String::from("http://loinc.org")),
                    code: code.to_owned(),
                    display: None,
                }];
            }
            if field_type == FieldType::SelectMultiple && extras[0] {
                field.min_count = Some(1);
                field.max_count = Some(u32::from(pick % 4) + 1);
            }
            // A computed decimal the person does not see is still a decimal.
            if field_type == FieldType::Decimal && extras[0] && pick.is_multiple_of(5) {
                field.calculation = Some(format!("{pick} + 1"));
                field.read_only = true;
                field.hidden = true;
            }
            if field_type == FieldType::Range && extras[0] {
                field.step = Some(0.5);
            }
            if field_type.is_select() {
                if use_list {
                    field.choice_list = Some(String::from("shared"));
                } else {
                    field.choices = choices;
                }
                field.choice_filter = filter;
            }
            if field_type == FieldType::Calculate {
                field.calculation = Some(format!("{pick} * 2"));
            }
            if extras[1] {
                field.constraint = Some(String::from(". != ''"));
            }
            if extras[2] {
                field.constraint_message = Some(Text::Plain(String::from("No")));
            }
            if extras[3] {
                field.required_message = Some(Text::Plain(String::from("Please answer")));
            }
            if extras[4] {
                field.purpose = Some(String::from("why"));
            }
            if extras[5] {
                field.appearance = Some(String::from(if pick.is_multiple_of(2) { "multiline" } else { "minimal" }));
            }
            if field.choice_list.is_none() {
                field.default = default_for(&field, pick);
            }
            // XLSForm members with no FHIR home.
            field.guidance_hint = guidance;
            if let Some(image) = image {
                field.media.insert(String::from("image"), image);
            }
            if more[0] {
                field.required_if = Some(if index == 0 {
                    String::from("true()")
                } else {
                    format!("${{f{}}} != ''", index - 1)
                });
            }
            if more[2] {
                field.parameters.insert(String::from("randomize"), String::from("true"));
                field.parameters.insert(String::from("seed"), String::new());
            }
            if more[1] {
                field.prefill = match field_type {
                    FieldType::Datetime => Some(Prefill::Start),
                    FieldType::Date => Some(Prefill::Today),
                    FieldType::Text => Some(Prefill::Deviceid),
                    _ => None,
                };
            }
            field
        }
    }

    fn definition() -> impl Strategy<Value = AppDefinition> {
        (1usize..8)
            .prop_flat_map(|count| {
                (
                    (0..count).map(field).collect::<Vec<_>>(),
                    text(),
                    choices(),
                    any::<[bool; 6]>(),
                    prop::option::of(field(count)),
                )
            })
            .prop_map(|(fields, title, shared, flags, grouped)| {
                let mut definition = AppDefinition::new("", fields);
                definition.title = title;
                definition
                    .choice_lists
                    .insert(String::from("shared"), shared);
                if flags[0] {
                    definition.languages = vec![String::from("fr")];
                }
                if flags[1] {
                    definition.format = Some(String::from("hale.app/1"));
                    definition.version = Some(String::from("2026-01"));
                    definition.schedule = Some(String::from("daily"));
                    definition.rate_limit_policy = Some(String::from("participant-daily"));
                }
                if let Some(mut inner) = grouped {
                    inner.relevant = None;
                    let kind = if flags[2] {
                        FieldType::Repeat
                    } else {
                        FieldType::Group
                    };
                    let mut container = Field::new("container", kind);
                    if flags[5] && kind == FieldType::Repeat {
                        container.repeat_count = Some(String::from("${f0} + 1"));
                    }
                    if flags[3] && kind == FieldType::Repeat {
                        container.min_count = Some(1);
                        container.max_count = Some(5);
                    }
                    // A repeating question: a list of answers to its one question.
                    let listed = inner.field_type.is_answered()
                        && inner.calculation.is_none()
                        && !inner.field_type.is_select();
                    if flags[4] && kind == FieldType::Repeat && listed {
                        container.answer_list = true;
                        container.relevant = Some(String::from("${f0} != ''"));
                        inner.required = true;
                        // The question's default becomes two answers given beforehand.
                        container.default = inner.default.take().map(
                            |value| json!([{&inner.name: value.clone()}, {&inner.name: value}]),
                        );
                        if !flags[3] {
                            container.min_count = Some(2);
                        }
                    } else {
                        container.label = Some(Text::Plain(String::from("Rows")));
                    }
                    container.children = vec![inner];
                    definition.fields.push(container);
                }
                definition
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn import_export_round_trips(definition in definition()) {
            let resource = export(&definition);
            super::assert_sane(&resource);
            let again = import(&resource);
            prop_assert_eq!(again, Ok(definition));
        }
    }
}

/// A real instrument, written from the published PHQ-9 with its LOINC codes: nine questions
/// scored 0–3 by `ordinalValue`, in English and Spanish (the `translation` extension), and the
/// total as a FHIRPath `calculatedExpression` over one variable per question.
#[test]
fn phq9_imports_lints_clean_and_scores() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/questionnaire_corpus/phq-9.json"
    );
    let resource: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let imported = hale_forms_io::questionnaire::import_with_notes(&resource).unwrap();
    let definition = &imported.definition;
    let report = hale_forms::lint(definition);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    let questions = &definition.fields[0].children;
    assert_eq!(questions.len(), 9);
    let first = &questions[0];
    assert_eq!(first.link_id.as_deref(), Some("/44250-9"));
    assert_eq!(
        first.label.as_ref().unwrap().in_language("es"),
        "Poco interés o placer en hacer las cosas"
    );
    assert_eq!(first.choices[3].score, Some(3.0));
    assert_eq!(first.choices[1].label.in_language("es"), "Varios días");

    let form = definition.compile().unwrap();
    let total = definition.fields[1].name.clone();
    let mut answers = json!({});
    let picks = [
        "LA6569-3", "LA6570-1", "LA6571-9", "LA6568-5", "LA6569-3", "LA6569-3", "LA6570-1",
        "LA6568-5", "LA6568-5",
    ];
    for (question, pick) in questions.iter().zip(picks) {
        answers[&question.name] = json!(pick);
    }
    // 1 + 2 + 3 + 0 + 1 + 1 + 2 + 0 + 0.
    answers[&total] = json!(10);
    assert_eq!(codes(&form, answers.clone()), Vec::<&str>::new());
    answers[&total] = json!(11);
    assert_eq!(codes(&form, answers), ["calculation_mismatch"]);
}

#[test]
fn an_option_with_only_a_display_is_answered_by_its_display_and_exported_without_a_code() {
    let resource = questionnaire(json!([
        {"linkId": "pick", "type": "choice", "text": "Pick", "answerOption": [
            {"valueCoding": {"code": "c1"}},
            {"valueCoding": {"display": "Answer 2"}},
            {"valueCoding": {"code": "c3", "display": "Answer 3"}}]}
    ]));
    let definition = import(&resource).unwrap();
    let form = definition.compile().unwrap();
    assert_eq!(
        codes(&form, json!({"pick": "Answer_2"})),
        Vec::<&str>::new()
    );
    assert_eq!(codes(&form, json!({"pick": "c3"})), Vec::<&str>::new());
    assert_eq!(
        codes(&form, json!({"pick": "Answer 3"})),
        ["invalid_choice"]
    );
    let options = export(&definition)["item"][0]["answerOption"].clone();
    assert_eq!(
        options,
        json!([
            {"valueCoding": {"code": "c1", "display": "c1"}},
            {"valueCoding": {"display": "Answer 2"}},
            {"valueCoding": {"code": "c3", "display": "Answer 3"}}
        ])
    );
    assert_refused(
        json!({"linkId": "empty", "type": "choice", "text": "E",
               "answerOption": [{"valueCoding": {"system": "http://x"}}]}),
        "empty",
        "neither a code nor a display",
    );
}

#[test]
fn a_choice_filter_is_exported_as_options_toggled_by_fhirpath_where_it_translates() {
    let definition = hale_forms::AppDefinition::from_json(
        &json!({"title": "Cities", "choice_lists": {"cities": [
            {"value": "sydney", "label": "Sydney", "attributes": {"state": "nsw"}},
            {"value": "newcastle", "label": "Newcastle", "attributes": {"state": "nsw"}},
            {"value": "melbourne", "label": "Melbourne", "attributes": {"state": "vic"}}]},
         "fields": [
            {"name": "state", "type": "text", "label": "State", "purpose": "p"},
            {"name": "city", "type": "select_one", "label": "City", "choice_list": "cities",
             "choice_filter": "state = ${state}"},
            {"name": "town", "type": "select_one", "label": "Town", "choice_list": "cities",
             "choice_filter": "regex(name, '^s')"}]})
        .to_string(),
    )
    .unwrap();
    let resource = export(&definition);
    assert_sane(&resource);
    let toggles = |link_id: &str| -> Vec<Value> {
        let item = resource["item"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["linkId"] == link_id)
            .unwrap();
        item["extension"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|extension| {
                extension["url"]
                    == "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-answerOptionsToggleExpression"
            })
            .cloned()
            .collect()
    };
    let city = toggles("city");
    // One toggle per distinct expression: the two New South Wales cities share one.
    assert_eq!(city.len(), 2, "{city:#?}");
    let parts = city[0]["extension"].as_array().unwrap();
    let options: Vec<&Value> = parts
        .iter()
        .filter(|part| part["url"] == "option")
        .map(|part| &part["valueCoding"]["code"])
        .collect();
    assert_eq!(options, [&json!("sydney"), &json!("newcastle")]);
    assert_eq!(
        parts.last().unwrap()["valueExpression"],
        json!({"language": "text/fhirpath",
               "expression": "('nsw' = %resource.repeat(item).where(linkId = 'state').answer.value)"})
    );
    // `regex` has no FHIRPath twin here: other renderers get no toggles.
    assert!(toggles("town").is_empty());
    // Hale's own filter and the choices' attributes go in Hale's extensions, so both filters
    // come back exactly.
    assert_eq!(import(&resource), Ok(definition));
}

#[test]
fn choice_filters_and_attributes_round_trip_on_inline_and_listed_choices() {
    // Every shared form vector's definition, the choice-filter ones among them.
    let directory =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../hale-forms/tests/vectors");
    let mut filtered = 0;
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let vector: Value = serde_json::from_str(&text).unwrap();
        let definition =
            hale_forms::AppDefinition::from_json(&vector["definition"].to_string()).unwrap();
        if definition
            .walk()
            .iter()
            .any(|(_, f)| f.choice_filter.is_some())
        {
            filtered += 1;
        }
        let resource = export(&definition);
        assert_sane(&resource);
        assert_eq!(import(&resource), Ok(definition), "{}", path.display());
    }
    assert!(filtered >= 3, "{filtered} vectors with a choice filter");
    // Inline choices, single and multiple, with an empty attribute (FHIR strings are never
    // empty, so it is written without a value) and one the other choice lacks.
    let definition = hale_forms::AppDefinition::from_json(
        &json!({"title": "Filters", "fields": [
            {"name": "region", "type": "text", "label": "Region", "purpose": "p"},
            {"name": "site", "type": "select_one", "label": "Site",
             "choices": [
                {"value": "a", "label": "A", "attributes": {"region": "north", "tier": ""}},
                {"value": "b", "label": "B", "attributes": {"region": "south"}}],
             "choice_filter": "region = ${region}"},
            {"name": "dose", "type": "select_multiple", "label": "Dose",
             "choices": [
                {"value": "5", "label": "5", "attributes": {"band": "low"}},
                {"value": "50", "label": "50", "attributes": {"band": "high"}}],
             "choice_filter": "band != ${region}"}]})
        .to_string(),
    )
    .unwrap();
    let resource = export(&definition);
    assert_sane(&resource);
    let site = &resource["item"][1];
    assert_eq!(
        site["answerOption"][0]["extension"],
        json!([
            {"url": "urn:hale:fhir:extension:choice-attribute", "extension": [
                {"url": "name", "valueString": "region"}, {"url": "value", "valueString": "north"}]},
            {"url": "urn:hale:fhir:extension:choice-attribute", "extension": [
                {"url": "name", "valueString": "tier"}]}])
    );
    assert!(site["extension"].as_array().unwrap().contains(&json!(
        {"url": "urn:hale:fhir:extension:choice-filter", "valueExpression": {
            "language": "text/x-hale-xlsform", "expression": "region = ${region}"}}
    )));
    let again = import(&resource).unwrap();
    assert_eq!(again, definition);
    // The filter still works after the trip: a choice it does not offer is refused.
    let form = again.compile().unwrap();
    assert!(codes(&form, json!({"region": "north", "site": "a"})).is_empty());
    assert_eq!(
        codes(&form, json!({"region": "north", "site": "b"})),
        ["choice_not_offered"]
    );
}

#[test]
fn options_toggled_by_fhirpath_alone_become_a_choice_filter() {
    let toggle = |codes: &[&str], state: &str| {
        let mut parts: Vec<Value> = codes
            .iter()
            .map(|code| json!({"url": "option", "valueCoding": {"code": code}}))
            .collect();
        parts.push(json!({"url": "expression", "valueExpression": {"language": "text/fhirpath",
            "expression": format!("('{state}' = %resource.repeat(item).where(linkId = 'state').answer.value)")}}));
        json!({"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-answerOptionsToggleExpression",
            "extension": parts})
    };
    let options: Vec<Value> = ["sydney", "newcastle", "melbourne", "elsewhere"]
        .iter()
        .map(|code| json!({"valueCoding": {"code": code}}))
        .collect();
    let resource = |toggles: Vec<Value>| {
        questionnaire(json!([
            {"linkId": "state", "type": "string", "text": "State"},
            {"linkId": "city", "type": "choice", "text": "City", "extension": toggles,
             "answerOption": options}]))
    };
    let definition = import(&resource(vec![
        toggle(&["sydney", "newcastle"], "nsw"),
        toggle(&["melbourne"], "vic"),
    ]))
    .unwrap();
    assert!(definition.fields[1].choice_filter.is_some());
    let form = definition.compile().unwrap();
    for (state, city, offered) in [
        ("nsw", "sydney", true),
        ("nsw", "newcastle", true),
        ("nsw", "melbourne", false),
        ("vic", "melbourne", true),
        ("vic", "sydney", false),
        // A choice no toggle lists is always offered.
        ("vic", "elsewhere", true),
    ] {
        let found = codes(&form, json!({"state": state, "city": city}));
        assert_eq!(found.is_empty(), offered, "{state} {city}: {found:?}");
    }
    // An unanswered question makes the FHIRPath empty, which SDC reads as false.
    assert_eq!(
        codes(&form, json!({"city": "sydney"})),
        ["choice_not_offered"]
    );
    assert!(codes(&form, json!({"city": "elsewhere"})).is_empty());
    // Hale's export keeps the filter read, and reads it back exactly.
    assert_eq!(import(&export(&definition)), Ok(definition));
    // What SDC leaves undefined, or names no option of the item, is refused by name.
    let refused = errors_of(resource(vec![
        toggle(&["sydney"], "nsw"),
        toggle(&["sydney"], "vic"),
    ]));
    assert!(
        refused[0]
            .message
            .contains("listed by two answerOptionsToggleExpressions"),
        "{refused:?}"
    );
    let refused = errors_of(resource(vec![toggle(&["perth"], "wa")]));
    assert!(
        refused[0].message.starts_with(
            "item 'city': answerOptionsToggleExpression lists an option the item does not offer"
        ),
        "{refused:?}"
    );
}

#[test]
fn malformed_hale_choice_extensions_are_refused_by_name() {
    // A malformed attribute is named, not guessed at.
    assert_refused(
        json!({"linkId": "pick", "type": "choice", "answerOption": [{"valueCoding": {"code": "a"},
            "extension": [{"url": "urn:hale:fhir:extension:choice-attribute",
                "extension": [{"url": "value", "valueString": "x"}]}]}]}),
        "pick",
        "choice-attribute extension has no name",
    );
    // A data file gives a choice item its options, never a text item.
    assert_refused(
        json!({"linkId": "notes", "type": "string", "text": "Notes",
            "extension": [{"url": "urn:hale:fhir:extension:choice-file", "valueString": "f.csv"}]}),
        "notes",
        "extension 'urn:hale:fhir:extension:choice-file' is not supported on a 'string' item",
    );
    // An option's media is Hale's media extension, whole; any other Hale extension on an
    // option is named.
    assert_refused(
        json!({"linkId": "pick", "type": "choice", "answerOption": [{"valueCoding": {"code": "a"},
            "extension": [{"url": "urn:hale:fhir:extension:media",
                "extension": [{"url": "kind", "valueCode": "image"}]}]}]}),
        "pick",
        "Hale media extension needs a kind and a file",
    );
    assert_refused(
        json!({"linkId": "pick", "type": "choice", "answerOption": [{"valueCoding": {"code": "a"},
            "extension": [{"url": "urn:hale:fhir:extension:prefill", "valueCode": "start"}]}]}),
        "pick",
        "answerOption extension 'urn:hale:fhir:extension:prefill' is not supported",
    );
}

#[test]
fn any_valid_ucum_unit_imports_and_an_invalid_one_is_named() {
    let item = |link_id: &str, unit: &str| {
        json!({"linkId": link_id, "type": "decimal", "text": link_id, "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unit",
             "valueCoding": {"system": "http://unitsofmeasure.org", "code": unit}}]})
    };
    let resource = questionnaire(json!([
        item("wbc", "10*3/uL"),
        item("urine", "mmol/(24.h)"),
        item("rate", "/min"),
        item("beats", "{beats}/min"),
        item("egfr", "mL/min/{1.73_m2}"),
    ]));
    let definition = import(&resource).unwrap();
    let units: Vec<&str> = definition
        .fields
        .iter()
        .filter_map(|field| field.unit.as_deref())
        .collect();
    assert_eq!(
        units,
        [
            "10*3/uL",
            "mmol/(24.h)",
            "/min",
            "{beats}/min",
            "mL/min/{1.73_m2}"
        ]
    );
    definition.compile().unwrap();

    let refused = import(&questionnaire(json!([item("pressure", "mmHg")])))
        .unwrap()
        .compile()
        .unwrap_err();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0].code, "unknown_unit");
    assert!(
        refused[0].message.contains("`mmHg`"),
        "{}",
        refused[0].message
    );

    // Answers in another unit are converted between the catalogue's units only, so that the
    // browser converts them with the same numbers.
    let mut counts = item("neutrophils", "10*3/uL");
    counts["type"] = json!("quantity");
    counts["extension"].as_array_mut().unwrap().push(
        json!({"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption",
                     "valueCoding": {"system": "http://unitsofmeasure.org", "code": "10*6/uL"}}),
    );
    let refused = import(&questionnaire(json!([counts])))
        .unwrap()
        .compile()
        .unwrap_err();
    assert_eq!(refused[0].code, "unit_not_convertible");
    assert!(
        refused[0].message.contains("catalogue"),
        "{}",
        refused[0].message
    );
}

#[test]
fn a_trigger_round_trips_and_its_calculation_gets_no_fhirpath_twin() {
    let definition = hale_forms::AppDefinition::from_json(
        &json!({"title": "Stamp", "fields": [
            {"name": "a", "type": "text", "label": "A", "purpose": "p"},
            {"name": "stamp", "type": "datetime", "label": "When", "calculation": "now()",
             "trigger": ["a"]},
            {"name": "home", "type": "geopoint", "label": "Home", "purpose": "p"}]})
        .to_string(),
    )
    .unwrap();
    let resource = export(&definition);
    assert_sane(&resource);
    let stamp = &resource["item"][1];
    let urls: Vec<&str> = stamp["extension"]
        .as_array()
        .unwrap()
        .iter()
        .map(|extension| extension["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression",
            "urn:hale:fhir:extension:trigger"
        ]
    );
    assert_eq!(import(&resource).unwrap(), definition);
}

#[test]
fn lint_findings_name_the_link_id_they_come_from() {
    let resource = questionnaire(json!([
        {"linkId": "1.a", "type": "string", "text": "Why"},
        {"linkId": "pulse", "type": "integer", "text": "Pulse",
         "_text": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/rendering-style", "valueString": "color: red"}]},
         "code": [{"system": "http://loinc.org", "code": "8867-4"}],
         "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unit",
                        "valueCoding": {"system": "http://unitsofmeasure.org", "code": "/min"}}]}
    ]));
    let imported = hale_forms_io::questionnaire::import_with_notes(&resource).unwrap();
    let mut report = hale_forms::lint(&imported.definition);
    report.name_link_ids(&imported.definition);
    let warning = &report.warnings[0];
    assert_eq!(warning.code, "free_text_without_purpose");
    // A linkId that is not a field name is still the one named.
    assert_eq!(warning.link_id.as_deref(), Some("1.a"));
    let range = report
        .infos
        .iter()
        .find(|issue| issue.code == "plausible_range_applied")
        .unwrap();
    assert_eq!(range.link_id.as_deref(), Some("pulse"));
    // The import's own notes name the item too, read from the Questionnaire's paths.
    assert!(
        imported
            .notes
            .iter()
            .any(|note| note.link_id.as_deref() == Some("pulse")),
        "{:#?}",
        imported.notes
    );
}

#[test]
fn a_contained_value_set_gives_its_codes_as_the_options() {
    let resource = json!({"resourceType": "Questionnaire", "status": "active", "title": "T",
        "contained": [
            {"resourceType": "ValueSet", "id": "severity", "url": "http://example.org/vs/severity",
             "status": "active", "expansion": {"timestamp": "2026-01-01", "contains": [
                {"system": "http://snomed.info/sct", "code": "255604002", "display": "Mild",
                 "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 1}]},
                {"abstract": true, "display": "Worse", "contains": [
                    {"system": "http://snomed.info/sct", "code": "24484000", "display": "Severe",
                     "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 3}]}]}]}},
            {"resourceType": "ValueSet", "id": "yn", "compose": {"include": [
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0136",
                 "concept": [{"code": "Y", "display": "Yes"}, {"code": "N"}]}]}}],
        "item": [
            {"linkId": "pain", "type": "choice", "text": "Pain", "answerValueSet": "#severity"},
            {"linkId": "itch", "type": "choice", "text": "Itch", "repeats": true,
             "answerValueSet": "http://example.org/vs/severity"},
            {"linkId": "ok", "type": "choice", "text": "OK?", "answerValueSet": "#yn",
             "enableWhen": [{"question": "pain", "operator": "=",
                "answerCoding": {"system": "http://snomed.info/sct", "code": "24484000"}}]}]});
    let definition = import(&resource).unwrap();
    let pain = &definition.fields[0];
    let values: Vec<(&str, Option<f64>, Option<&str>)> = pain
        .choices
        .iter()
        .map(|choice| {
            (
                choice.value.as_str(),
                choice.score,
                choice.system.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        values,
        [
            ("255604002", Some(1.0), Some("http://snomed.info/sct")),
            ("24484000", Some(3.0), Some("http://snomed.info/sct"))
        ]
    );
    // By its canonical URL, the contained set is the same one.
    assert_eq!(definition.fields[1].choices, pain.choices);
    let ok = &definition.fields[2];
    assert_eq!(ok.choices[1].value, "N");
    assert_eq!(ok.choices[1].label.in_language("en"), "N");
    assert_eq!(
        ok.choices[0].system.as_deref(),
        Some("http://terminology.hl7.org/CodeSystem/v2-0136")
    );
    // enableWhen reads the options the set gave.
    assert_eq!(ok.relevant.as_deref(), Some("${pain} = '24484000'"));
    // Exported as inline options, which read back the same.
    let exported = export(&definition);
    assert!(exported.get("contained").is_none());
    assert_eq!(
        exported["item"][0]["answerOption"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(import(&exported), Ok(definition));
}

#[test]
fn value_sets_hale_cannot_read_are_refused_by_name() {
    let with = |contained: Value, value_set: &str| {
        json!({"resourceType": "Questionnaire", "status": "active", "title": "T",
            "contained": contained,
            "item": [{"linkId": "q", "type": "choice", "answerValueSet": value_set}]})
    };
    let messages = |resource: Value| -> Vec<(String, String)> {
        errors_of(resource)
            .into_iter()
            .map(|error| (error.path, error.message))
            .collect()
    };
    let listed = json!([{"resourceType": "ValueSet", "id": "vs",
        "expansion": {"contains": [{"code": "a"}]}}]);
    // A canonical URL Hale would have to fetch.
    let refused = messages(with(listed.clone(), "http://example.org/vs"));
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, "$.item[0]");
    assert!(
        refused[0]
            .1
            .starts_with("item 'q': answerValueSet by canonical URL")
    );
    // A contained id that is not there.
    let refused = messages(with(listed, "#other"));
    assert!(
        refused[0]
            .1
            .contains("names no ValueSet the Questionnaire contains")
    );
    // A compose that needs expanding, and a contained resource that is no ValueSet.
    let refused = messages(with(
        json!([
            {"resourceType": "ValueSet", "id": "vs", "compose": {"include": [
                {"system": "http://snomed.info/sct", "filter": [{"property": "concept", "op": "is-a", "value": "404684003"}]}]}},
            {"resourceType": "Patient", "id": "someone"}]),
        "#vs",
    ));
    let paths: Vec<&str> = refused.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        ["$.contained[0]", "$.contained[1]", "$.item[0]"],
        "{refused:?}"
    );
    assert!(
        refused[0]
            .1
            .contains("member 'filter', which is not supported: it needs a terminology server")
    );
    assert!(refused[1].1.contains("other than a ValueSet or a Binary"));
    // An image that only display-only rendering shows is dropped with a note.
    let imported = hale_forms_io::questionnaire::import_with_notes(&json!({
        "resourceType": "Questionnaire", "status": "active", "title": "T",
        "contained": [{"resourceType": "Binary", "id": "image1", "contentType": "image/png", "data": "AA=="}],
        "item": [{"linkId": "n", "type": "display", "text": "Look"}]}))
    .unwrap();
    let notes: Vec<(&str, &str)> = imported
        .notes
        .iter()
        .map(|note| (note.path.as_str(), note.code))
        .collect();
    assert_eq!(notes, [("$.contained[0]", "fhir_contained_dropped")]);
    // Two contained resources with one id are refused.
    let refused = messages(
        json!({"resourceType": "Questionnaire", "status": "active", "title": "T",
        "contained": [{"resourceType": "Binary", "id": "x"}, {"resourceType": "Binary", "id": "x"}]}),
    );
    assert_eq!(
        refused,
        [(
            String::from("$.contained[1]"),
            String::from("two contained resources have one id")
        )]
    );
    // Options in STU3's member are named as such.
    assert_refused(
        json!({"linkId": "old", "type": "choice", "option": [{"valueCoding": {"code": "a"}}]}),
        "old",
        "FHIR STU3",
    );
}

#[test]
fn a_large_contained_value_set_named_by_many_items_is_refused_not_copied_unbounded() {
    // One code with a 1 MiB display: each item naming the set would get a copy of it.
    let display = "x".repeat(1024 * 1024);
    let resource = |items: usize| {
        json!({"resourceType": "Questionnaire", "status": "active", "title": "T",
            "contained": [{"resourceType": "ValueSet", "id": "big",
                "expansion": {"contains": [{"code": "c", "display": display}]}}],
            "item": (0..items)
                .map(|n| json!({"linkId": format!("q{n}"), "type": "choice", "answerValueSet": "#big"}))
                .collect::<Vec<_>>()})
    };
    // Fifteen copies fit the 16 MiB bound; seventeen do not.
    assert_eq!(import(&resource(15)).unwrap().fields.len(), 15);
    let errors = errors_of(resource(17));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "$.contained");
    assert!(
        errors[0]
            .message
            .contains("more than 16777216 bytes of options")
    );
}

mod hostile_value_sets {
    use hale_forms_io::questionnaire::import;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// JSON of every type, with the members a ValueSet reader looks at among the keys.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z#]{0,4}".prop_map(Value::String),
            Just(json!("ValueSet")),
            Just(json!("#vs")),
        ];
        leaf.prop_recursive(4, 48, 5, |inner| {
            let key = prop::sample::select(vec![
                "resourceType",
                "id",
                "url",
                "expansion",
                "contains",
                "compose",
                "include",
                "concept",
                "code",
                "display",
                "system",
                "abstract",
                "extension",
                "filter",
            ]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.prop_map(str::to_owned), inner, 0..5)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_contained_value_set_is_read_or_refused_without_a_panic(
            contained in any_json(),
            named in prop_oneof![Just(json!("#vs")), any_json()],
        ) {
            let resource = json!({"resourceType": "Questionnaire", "status": "active",
                "title": "T", "contained": [contained.clone(), {"resourceType": "ValueSet",
                    "id": "vs", "expansion": contained}],
                "item": [{"linkId": "q", "type": "choice", "answerValueSet": named}]});
            if let Err(errors) = import(&resource) {
                prop_assert!(errors.iter().all(|error| !error.message.is_empty()));
            }
        }
    }
}

#[test]
fn an_answer_integer_holding_text_is_refused_naming_the_answer_that_fits() {
    // As in LHC-Forms' own enableWhen test form: a date (or time) option compared with an
    // `answerInteger` that holds the date as text, which R4 does not allow.
    for (kind, option, fitting) in [
        ("date", json!({"valueDate": "2022-09"}), "answerDate"),
        ("time", json!({"valueTime": "13:30:00"}), "answerTime"),
    ] {
        let text = option.as_object().unwrap().values().next().unwrap().clone();
        let errors = errors_of(questionnaire(json!([
            {"linkId": "when", "type": kind, "answerOption": [option]},
            {"linkId": "then", "type": "string",
             "enableWhen": [{"question": "when", "operator": "=", "answerInteger": text}]}])));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0].message,
            format!(
                "item 'then': enableWhen answerInteger is not a JSON integer, which R4 requires; question 'when' is answered by {fitting}"
            )
        );
    }
}

/// Drops Hale's own choice filters from an exported Questionnaire, leaving the SDC toggles
/// another tool would read; returns how many it dropped and how many items had toggles.
fn strip_hale_filters(items: &mut Value) -> (usize, usize) {
    let (mut dropped, mut toggled) = (0, 0);
    for item in items.as_array_mut().into_iter().flatten() {
        if let Some(extensions) = item.get_mut("extension").and_then(Value::as_array_mut) {
            let before = extensions.len();
            extensions
                .retain(|extension| extension["url"] != "urn:hale:fhir:extension:choice-filter");
            dropped += before - extensions.len();
            if extensions.iter().any(|extension| {
                extension["url"]
                    .as_str()
                    .is_some_and(|url| url.ends_with("answerOptionsToggleExpression"))
            }) {
                toggled += 1;
            }
        }
        if let Some(children) = item.get_mut("item") {
            let (more_dropped, more_toggled) = strip_hale_filters(children);
            dropped += more_dropped;
            toggled += more_toggled;
        }
    }
    (dropped, toggled)
}

#[test]
fn the_fhirpath_toggles_hale_exports_filter_as_hale_does() {
    // Every vector with a choice filter whose every filter has FHIRPath toggles: read back
    // from the toggles alone, as another tool's Questionnaire, it judges the vector's
    // answers as the original does.
    let directory =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../hale-forms/tests/vectors");
    let mut compared = 0;
    for entry in std::fs::read_dir(directory).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let vector: Value = serde_json::from_str(&text).unwrap();
        let definition =
            hale_forms::AppDefinition::from_json(&vector["definition"].to_string()).unwrap();
        let mut resource = export(&definition);
        let (dropped, toggled) = strip_hale_filters(&mut resource["item"]);
        if dropped == 0 || dropped != toggled {
            continue;
        }
        let foreign = import(&resource).unwrap();
        let answers = vector["answers"].clone();
        let judged = |definition: &hale_forms::AppDefinition| {
            let mut found = codes(&definition.compile().unwrap(), answers.clone());
            found.sort_unstable();
            found
        };
        assert_eq!(judged(&foreign), judged(&definition), "{text}");
        compared += 1;
    }
    assert!(compared >= 2, "{compared} vectors compared");
}

#[test]
fn a_choice_filter_reading_a_row_gets_no_fhirpath_toggles() {
    // FHIRPath reads a question of a repeat in every row: a filter in a row reading its own
    // row has no toggles (Hale's own filter still comes back), one reading a top field has.
    let definition = hale_forms::AppDefinition::from_json(
        &json!({"title": "Rows", "fields": [
            {"name": "top", "type": "text", "label": "Top", "purpose": "p"},
            {"name": "rows", "type": "repeat", "label": "Rows", "children": [
                {"name": "kind", "type": "text", "label": "Kind", "purpose": "p"},
                {"name": "by_row", "type": "select_one", "label": "By row",
                 "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}],
                 "choice_filter": "name = ${kind}"},
                {"name": "by_top", "type": "select_one", "label": "By top",
                 "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}],
                 "choice_filter": "name = ${top}"}]}]})
        .to_string(),
    )
    .unwrap();
    let resource = export(&definition);
    let toggles = |index: usize| {
        resource["item"][1]["item"][index]["extension"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|extension| {
                extension["url"]
                    .as_str()
                    .is_some_and(|url| url.ends_with("answerOptionsToggleExpression"))
            })
            .count()
    };
    assert_eq!((toggles(1), toggles(2)), (0, 2));
    assert_eq!(import(&resource), Ok(definition));
}

#[test]
fn a_value_set_expansion_nested_past_the_item_depth_is_refused() {
    let nested = |levels: usize| {
        let mut contains = json!([{"system": "http://example.org/cs", "code": "leaf"}]);
        for level in 0..levels {
            contains = json!([{"abstract": true, "display": format!("level {level}"), "contains": contains}]);
        }
        json!({"resourceType": "Questionnaire", "status": "active", "title": "T",
            "contained": [{"resourceType": "ValueSet", "id": "deep", "expansion": {"contains": contains}}],
            "item": [{"linkId": "q", "type": "choice", "text": "Q", "answerValueSet": "#deep"}]})
    };
    let limit = hale_forms_io::questionnaire::MAX_ITEM_DEPTH;
    let at_limit = import(&nested(limit)).unwrap();
    assert_eq!(at_limit.fields[0].choices[0].value, "leaf");
    let refused = errors_of(nested(limit + 1));
    assert!(
        refused
            .iter()
            .any(|error| error.message.contains("nests deeper than")),
        "{refused:?}"
    );
}

#[test]
fn a_toggle_has_one_expression_and_no_term_for_unlisted_options_when_every_option_is_listed() {
    let toggle = |codes: &[&str], expressions: &[&str]| {
        let mut parts: Vec<Value> = codes
            .iter()
            .map(|code| json!({"url": "option", "valueCoding": {"code": code}}))
            .collect();
        for expression in expressions {
            parts.push(json!({"url": "expression", "valueExpression": {"language": "text/fhirpath",
                "expression": format!("('{expression}' = %resource.repeat(item).where(linkId = 'state').answer.value)")}}));
        }
        json!({"url": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-answerOptionsToggleExpression",
            "extension": parts})
    };
    let resource = |toggles: Vec<Value>| {
        questionnaire(json!([
            {"linkId": "state", "type": "string", "text": "State"},
            {"linkId": "city", "type": "choice", "text": "City", "extension": toggles,
             "answerOption": [{"valueCoding": {"code": "sydney"}}, {"valueCoding": {"code": "melbourne"}}]}]))
    };
    let two = errors_of(resource(vec![toggle(&["sydney"], &["nsw", "vic"])]));
    assert!(
        two[0]
            .message
            .contains("a part other than option and one expression"),
        "{two:?}"
    );
    let every = import(&resource(vec![
        toggle(&["sydney"], &["nsw"]),
        toggle(&["melbourne"], &["vic"]),
    ]))
    .unwrap();
    let filter = every.fields[1].choice_filter.clone().unwrap();
    assert!(!filter.contains("not("), "{filter}");
}

#[test]
fn choices_from_a_repeats_answers_export_as_a_choice_naming_the_field_and_come_back() {
    let definition = hale_forms::AppDefinition::from_json(
        r#"{"title":"T","fields":[
          {"name":"members","type":"repeat","label":"Members","children":[
            {"name":"person","type":"text","label":"Name"}]},
          {"name":"head","type":"select_one","label":"Head","choices_from":"person"},
          {"name":"carers","type":"select_multiple","label":"Carers","choices_from":"person"}]}"#,
    )
    .unwrap();
    definition.compile().unwrap();
    let back = export(&definition);
    assert_sane(&back);
    let head = &back["item"][1];
    assert_eq!(head["type"], "choice");
    assert_eq!(back["item"][2]["repeats"], true);
    assert!(head.get("answerOption").is_none());
    assert!(
        head["extension"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |extension| extension["url"] == "urn:hale:fhir:extension:choices-from"
                    && extension["valueString"] == "person"
            )
    );
    assert_eq!(import(&back).unwrap(), definition);
}
