//! Runs the shared test vectors in `tests/vectors/*.json`; the browser engine runs the same
//! files. Each file is one case: `{definition, answers, now, expected: {valid, errors:
//! [{field, code}], observations: [{code, value, unit}], news2_total}}`. Errors compare as a
//! set (order is not part of the contract); observations compare in order, values to 1e-9.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use hale_domain::Timestamp;
use hale_forms::AppDefinition;
use serde_json::Value;

fn run(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let definition = AppDefinition::from_json(&case["definition"].to_string())
        .map_err(|e| format!("definition: {e:?}"))?;
    let form = definition
        .compile()
        .map_err(|e| format!("compile: {e:?}"))?;
    let now =
        Timestamp::parse_rfc3339(case["now"].as_str().unwrap_or("")).map_err(|e| e.to_string())?;
    let answers = case["answers"].as_object().cloned().unwrap_or_default();
    let expected = &case["expected"];
    match form.validate(&answers, now) {
        Ok(valid) => {
            if expected["valid"] != Value::Bool(true) {
                return Err("expected errors, got a valid submission".into());
            }
            let got: Vec<(String, f64, String)> = valid
                .observations
                .iter()
                .map(|o| (o.code.clone(), o.value, o.unit.clone()))
                .collect();
            let want: Vec<(String, f64, String)> = expected["observations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|o| {
                    (
                        o["code"].as_str().unwrap_or("").to_owned(),
                        o["value"].as_f64().unwrap_or(f64::NAN),
                        o["unit"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            let same = got.len() == want.len()
                && got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g.0 == w.0 && g.2 == w.2 && (g.1 - w.1).abs() < 1e-9);
            if !same {
                return Err(format!("observations: got {got:?}, want {want:?}"));
            }
            let news2 = valid.news2.map(|score| Value::from(score.total));
            if news2.unwrap_or(Value::Null) != expected["news2_total"] {
                return Err(format!("news2: got {:?}", valid.news2));
            }
            Ok(())
        }
        Err(errors) => {
            let mut got: Vec<(String, String)> = errors
                .iter()
                .map(|e| (e.field.clone(), e.code.to_owned()))
                .collect();
            let mut want: Vec<(String, String)> = expected["errors"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or("").to_owned(),
                        e["code"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            got.sort();
            want.sort();
            if expected["valid"] == Value::Bool(true) || got != want {
                return Err(format!("errors: got {got:?}, want {want:?}"));
            }
            Ok(())
        }
    }
}

#[test]
fn every_shared_vector_passes() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut paths: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 30, "only {} vectors", paths.len());
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|path| {
            run(path)
                .err()
                .map(|why| format!("{}: {why}", path.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
