//! Fidelity of FHIR Questionnaire import over real forms: `../shared/corpus/questionnaires-lhcforms/`
//! when present (LHC-Forms test data), else the project's own `tests/questionnaire_corpus/`.
//! Each file is classified (plain items and common SDC extensions, or out of scope: value
//! sets, launch context, x-fhir-query, modular forms, extraction), imported and exported back;
//! every accepted one must keep each item's linkId, type, required, repeats, answerOption and
//! enableWhen, and every refusal must name its construct and the linkId. Prints the figures and
//! holds floors at the measured level.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hale_forms_io::questionnaire::{export, import};
use serde_json::{Value, json};

/// Constructs that put a form out of scope, found in its text.
const OUT_OF_SCOPE: [&str; 14] = [
    "answerValueSet",
    "\"contained\"",
    "launchContext",
    "x-fhir-query",
    "subQuestionnaire",
    "assemble-expectation",
    "answerExpression",
    "observationLinkPeriod",
    "observationExtract",
    "templateExtract",
    "extractAllocateId",
    "terminology-server",
    "preferredTerminologyServer",
    "modifierExtension",
];

fn corpus() -> (Vec<PathBuf>, bool) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Beside the workspace; a git worktree one level further down finds the same folder.
    let shared = ["../../../shared", "../../../../shared"]
        .iter()
        .map(|up| manifest.join(up).join("corpus/questionnaires-lhcforms"))
        .find(|dir| dir.is_dir())
        // `HALE_OWN_CORPUS=1` runs the project's own set even where the shared one exists.
        .filter(|_| std::env::var_os("HALE_OWN_CORPUS").is_none());
    let (dir, real) = match shared {
        Some(dir) => (dir, true),
        None => (manifest.join("tests/questionnaire_corpus"), false),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    (files, real)
}

fn class(text: &str) -> &'static str {
    if OUT_OF_SCOPE
        .iter()
        .any(|construct| text.contains(construct))
    {
        "out-of-scope"
    } else {
        "plain+sdc"
    }
}

/// What must survive, per linkId.
fn facts(items: &Value, out: &mut BTreeMap<String, Value>) {
    for item in items.as_array().map(Vec::as_slice).unwrap_or_default() {
        let options: Vec<Value> = item["answerOption"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|option| {
                let coding = &option["valueCoding"];
                if coding.is_object() {
                    json!([coding["system"], coding["code"]])
                } else {
                    let value = option
                        .as_object()
                        .and_then(|object| object.iter().find(|(key, _)| key.starts_with("value")))
                        .map(|(_, value)| value.clone());
                    json!([null, value])
                }
            })
            .collect();
        let conditions: Vec<Value> = item["enableWhen"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|condition| {
                let mut condition = condition.clone();
                if let Some(coding) = condition
                    .get_mut("answerCoding")
                    .and_then(Value::as_object_mut)
                {
                    coding.remove("display");
                }
                // 80 and 80.0 are one answer.
                for kind in ["answerDecimal", "answerInteger"] {
                    if let Some(number) = condition.get(kind).and_then(Value::as_f64) {
                        condition[kind] = json!(number);
                    }
                }
                condition
            })
            .collect();
        let behavior = if conditions.len() > 1 {
            item["enableBehavior"].clone()
        } else {
            Value::Null
        };
        // `questionnaire-answerRepeats` says what `repeats` says of a question.
        let answer_repeats = item["extension"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .any(|extension| {
                extension["url"]
                    .as_str()
                    .is_some_and(|url| url.ends_with("-answerRepeats"))
                    && extension["valueBoolean"] == json!(true)
            });
        out.insert(
            item["linkId"].as_str().unwrap_or("").to_owned(),
            json!({
                "type": item["type"],
                "required": item["required"].as_bool().unwrap_or(false),
                "repeats": item["repeats"].as_bool().unwrap_or(false) || answer_repeats,
                "answerOption": options,
                "enableWhen": conditions,
                "enableBehavior": behavior,
            }),
        );
        facts(&item["item"], out);
    }
}

#[derive(Default)]
struct Tally {
    total: usize,
    accepted: usize,
    faithful: usize,
}

#[test]
fn corpus_imports_faithfully() {
    let (files, real) = corpus();
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut unfaithful = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let resource: Value = serde_json::from_str(&text).unwrap();
        let class = class(&text);
        let tally = tallies.entry(class).or_default();
        tally.total += 1;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match std::panic::catch_unwind(|| import(&resource)) {
            Err(_) => panic!("{name}: import panicked"),
            Ok(Err(errors)) => {
                for error in &errors {
                    assert!(!error.message.is_empty(), "{name}");
                    // Every item-level refusal names the item (unless it has no linkId).
                    if error.path.contains(".item[") && !error.message.starts_with("an item ") {
                        assert!(error.message.starts_with("item '"), "{name}: {error:?}");
                    }
                    if class == "plain+sdc" {
                        let reason = error
                            .message
                            .split_once("': ")
                            .map_or(error.message.as_str(), |(_, rest)| rest);
                        let reason: String = reason.chars().take(70).collect();
                        *reasons.entry(reason).or_default() += 1;
                    }
                }
            }
            Ok(Ok(definition)) => {
                tally.accepted += 1;
                let back = export(&definition);
                let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
                facts(&resource["item"], &mut before);
                facts(&back["item"], &mut after);
                if before == after {
                    tally.faithful += 1;
                } else {
                    let differing: Vec<&String> = before
                        .iter()
                        .filter(|(key, value)| after.get(*key) != Some(value))
                        .map(|(key, _)| key)
                        .collect();
                    unfaithful.push(format!("{name}: {differing:?}"));
                }
                // Exported twice gives the same resource.
                assert_eq!(export(&import(&back).unwrap()), back, "{name}");
            }
        }
    }
    println!(
        "questionnaire corpus ({}):",
        if real { "LHC-Forms" } else { "own" }
    );
    for (class, tally) in &tallies {
        println!(
            "  {class}: {} files, {} imported, {} faithful ({}%)",
            tally.total,
            tally.accepted,
            tally.faithful,
            (tally.faithful * 100).checked_div(tally.total).unwrap_or(0)
        );
    }
    let mut top: Vec<(&String, &usize)> = reasons.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1));
    println!("  top refusal reasons (plain+sdc):");
    for (reason, count) in top.iter().take(12) {
        println!("    {count:4}  {reason}");
    }
    for line in &unfaithful {
        println!("  unfaithful: {line}");
    }
    // Measured: every accepted form comes back with what it had.
    assert!(unfaithful.is_empty(), "{unfaithful:#?}");
    let plain = tallies.get("plain+sdc").map_or(0, |tally| tally.faithful);
    // Measured: 69 of the 76 plain+sdc LHC forms (90%).
    let (floor_plain, floor_total) = if real { (69, 69) } else { (3, 3) };
    assert!(
        plain >= floor_plain,
        "plain+sdc faithful {plain} < {floor_plain}"
    );
    let all: usize = tallies.values().map(|tally| tally.faithful).sum();
    assert!(all >= floor_total, "faithful {all} < {floor_total}");
}
