//! Writes every FHIR Questionnaire Hale exports from the forms it ships or is tested on, one
//! JSON file each, into the folder given as the only argument: the sample apps of `examples/`
//! (XLSForm, as workbooks and as CSV folders), the definitions of the form vectors
//! (`tests/vectors/`) that compile, the project's own Questionnaires
//! (`tests/questionnaire_corpus/`, with the PHQ-9), and the LHC-Forms corpus beside the
//! workspace when present, each imported and exported back. An independent validator reads
//! them next (`scripts/validate-questionnaires`). Forms Hale refuses are counted, not written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use hale_forms::AppDefinition;
use hale_forms_io::questionnaire::{export, import};
use hale_forms_io::xlsform::{import_csv, import_xlsx};

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: export_questionnaires OUT_DIR"),
    );
    std::fs::create_dir_all(&out).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = manifest.join("../../examples");
    let mut written = 0;
    let mut write = |source: &str, name: &str, questionnaire: serde_json::Value| {
        let path = out.join(format!("{source}--{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&questionnaire).unwrap()).unwrap();
        written += 1;
    };

    let mut apps = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let imported = if path.extension().is_some_and(|ext| ext == "xlsx") {
            import_xlsx(&std::fs::read(&path).unwrap())
        } else if path.join("survey.csv").is_file() {
            let sheet = |sheet: &str| std::fs::read_to_string(path.join(sheet)).ok();
            import_csv(
                &sheet("survey.csv").unwrap(),
                sheet("choices.csv").as_deref(),
                sheet("settings.csv").as_deref(),
            )
        } else {
            continue;
        };
        let definition = imported.unwrap_or_else(|errors| panic!("{name}: {errors:?}"));
        apps += 1;
        write("example", &name, export(&definition));
    }

    // The definitions of the shared form vectors (choice filters, repeats, units, …) that
    // compile: the members the samples do not use.
    let mut vectors = 0;
    for path in json_files(&manifest.join("../hale-forms/tests/vectors")) {
        let vector: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let Ok(definition) = AppDefinition::from_json(&vector["definition"].to_string()) else {
            continue;
        };
        if definition.compile().is_ok() {
            vectors += 1;
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            write("vector", &name, export(&definition));
        }
    }

    let mut corpora = vec![("own", manifest.join("tests/questionnaire_corpus"))];
    // Beside the workspace; a git worktree one level further down finds the same folder.
    if let Some(shared) = ["../../../shared", "../../../../shared"]
        .iter()
        .map(|up| manifest.join(up).join("corpus/questionnaires-lhcforms"))
        .find(|dir| dir.is_dir())
    {
        corpora.push(("lhcforms", shared));
    }
    let mut refused = 0;
    let mut round_trips = 0;
    for (source, dir) in &corpora {
        for path in json_files(dir) {
            let resource: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            match import(&resource) {
                Ok(definition) => {
                    round_trips += 1;
                    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                    write(source, &name, export(&definition));
                }
                Err(_) => refused += 1,
            }
        }
    }
    println!(
        "exported {written} Questionnaires: {apps} sample apps, {vectors} form vectors, {round_trips} imported Questionnaires exported back ({refused} refused on import, not exported), from {}",
        corpora
            .iter()
            .map(|(source, _)| *source)
            .collect::<Vec<_>>()
            .join(" and ")
    );
}
