//! The XLSForm differential: pyxform's own test-suite forms (with pyxform's verdicts) imported
//! by Hale, verdicts compared, figures printed, and the build failing below the targets. The
//! shared corpus is found in a `shared/corpus` folder beside an ancestor of the repository (or
//! at `HALE_CORPUS_DIR`); without it the smaller corpus under `tests/pyxform_corpus/forms/`
//! (forms written from the XLSForm specification's examples) runs instead, and says so.
//!
//! With `HALE_PYXFORM_VERDICTS` naming the file `scripts/pyxform-differential` writes (pyxform
//! itself, from PyPI, run over the same forms), pyxform's verdicts are that run's, not the ones
//! recorded with the corpus: the figures are then a differential against the reference
//! converter run here, and the own forms' names (`.ok.md`, `.error.md`) must agree with it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "pyxform_corpus/md_table.rs"]
mod md_table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hale_forms_io::xlsform::{ImportLimits, import_tables};

/// Refusals that are design decisions, documented in docs/app-format.md ("XLSForm import"):
/// a form pyxform accepts and Hale refuses with one of these is not counted against the
/// acceptance target.
const DESIGN_REFUSALS: [&str; 13] = [
    "attached_data_unsupported",
    "external_data_unsupported",
    "external_choices_unsupported",
    "unsupported_sheet",
    "entities_unsupported",
    "duplicate_name",
    "last_saved_unsupported",
    "xpath_path_unsupported",
    "device_identifier_unsupported",
    "background_capture_unsupported",
    "osm_unsupported",
    "loop_unsupported",
    "encryption_unsupported",
];

/// One form with the reference converter's verdict.
struct Entry {
    source: String,
    md: String,
    pyxform_ok: bool,
    hale_subset: bool,
}

/// Hale's verdict on one form.
enum Verdict {
    Accepted,
    /// The distinct error codes, in first-seen order.
    Refused(Vec<String>),
    Crashed,
}

fn shared_corpus() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("HALE_CORPUS_DIR") {
        let path = PathBuf::from(dir).join("xlsform-pyxform.json");
        return path.is_file().then_some(path);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("shared/corpus/xlsform-pyxform.json"))
        .find(|path| path.is_file())
}

fn read_shared(path: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).unwrap();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    entries
        .into_iter()
        .map(|entry| Entry {
            source: entry["source"].as_str().unwrap_or("").to_owned(),
            md: entry["md"].as_str().unwrap_or("").to_owned(),
            pyxform_ok: entry["pyxform"] == "ok",
            hale_subset: entry["hale_subset"] == true,
        })
        .collect()
}

/// The project's own forms: `NAME.ok.md` is a form pyxform accepts, `NAME.error.md` one it
/// refuses; every one is within the features Hale promises.
fn read_own() -> Vec<Entry> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pyxform_corpus/forms");
    let mut entries: Vec<Entry> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            let pyxform_ok = if name.ends_with(".ok.md") {
                true
            } else if name.ends_with(".error.md") {
                false
            } else {
                return None;
            };
            Some(Entry {
                md: std::fs::read_to_string(&path).unwrap(),
                source: name,
                pyxform_ok,
                hale_subset: true,
            })
        })
        .collect();
    entries.sort_by(|a, b| a.source.cmp(&b.source));
    entries
}

/// pyxform's verdicts from a run of the reference converter over the same forms, when
/// `HALE_PYXFORM_VERDICTS` names its output: by own form's file name, and in the shared
/// corpus's order.
struct LiveVerdicts {
    version: String,
    forms: BTreeMap<String, bool>,
    corpus: Vec<bool>,
}

fn live_verdicts() -> Option<LiveVerdicts> {
    let path = std::env::var("HALE_PYXFORM_VERDICTS").ok()?;
    let text = std::fs::read_to_string(&path).expect("HALE_PYXFORM_VERDICTS names a readable file");
    let run: serde_json::Value = serde_json::from_str(&text).unwrap();
    let ok = |verdict: &serde_json::Value| verdict["verdict"] == "ok";
    Some(LiveVerdicts {
        version: run["pyxform"].as_str().unwrap_or("?").to_owned(),
        forms: run["forms"]
            .as_object()
            .map(|forms| {
                forms
                    .iter()
                    .map(|(name, v)| (name.clone(), ok(v)))
                    .collect()
            })
            .unwrap_or_default(),
        corpus: run["corpus"]
            .as_array()
            .map(|corpus| corpus.iter().map(ok).collect())
            .unwrap_or_default(),
    })
}

/// With `HALE_CORPUS_DETAIL` set to an error code (or `all`), every form pyxform accepts and
/// Hale refuses for that code is printed with its errors: the tool for finding what to fix.
fn detail_wanted() -> Option<String> {
    std::env::var("HALE_CORPUS_DETAIL").ok()
}

fn judge(entry: &Entry) -> Verdict {
    let md = entry.md.as_str();
    let run = std::panic::catch_unwind(|| {
        let tables = match md_table::tables(md) {
            Ok(tables) => tables,
            Err(code) => return Err(vec![code]),
        };
        import_tables(&tables, &ImportLimits::default())
            .map(|_| ())
            .map_err(|errors| {
                if let Some(wanted) = detail_wanted()
                    && (entry.pyxform_ok || wanted == "accepted")
                    && (wanted == "all" || errors.iter().any(|error| error.code == wanted))
                {
                    println!("---- {}{}", entry.source, entry.md);
                    for error in &errors {
                        println!(
                            "    {} row {} {}: {} {}",
                            error.sheet, error.row, error.column, error.code, error.message
                        );
                    }
                }
                errors.iter().map(|error| error.code.to_owned()).collect()
            })
    });
    if detail_wanted().as_deref() == Some("accepted")
        && !entry.pyxform_ok
        && matches!(run, Ok(Ok(())))
    {
        println!("---- wrongly accepted {}{}", entry.source, entry.md);
    }
    match run {
        Ok(Ok(())) => Verdict::Accepted,
        Ok(Err(codes)) => {
            let mut distinct: Vec<String> = Vec::new();
            for code in codes {
                if !distinct.contains(&code) {
                    distinct.push(code);
                }
            }
            Verdict::Refused(distinct)
        }
        Err(_) => Verdict::Crashed,
    }
}

#[derive(Default)]
struct Tally {
    ok_accepted: usize,
    ok_refused: usize,
    /// Of `ok_refused`, those refused for a documented design decision.
    ok_refused_by_design: usize,
    error_accepted: usize,
    error_refused: usize,
    crashed: usize,
    /// Codes of refusals of forms pyxform accepts, counted once per form.
    refusal_codes: BTreeMap<String, usize>,
    /// Forms pyxform refuses and Hale accepts.
    wrongly_accepted: Vec<String>,
    crashes: Vec<String>,
}

impl Tally {
    fn add(&mut self, entry: &Entry, verdict: &Verdict) {
        match (entry.pyxform_ok, verdict) {
            (_, Verdict::Crashed) => {
                self.crashed += 1;
                self.crashes.push(entry.source.clone());
            }
            (true, Verdict::Accepted) => self.ok_accepted += 1,
            (true, Verdict::Refused(codes)) => {
                self.ok_refused += 1;
                if codes
                    .iter()
                    .any(|code| DESIGN_REFUSALS.contains(&code.as_str()))
                {
                    self.ok_refused_by_design += 1;
                }
                for code in codes {
                    *self.refusal_codes.entry(code.clone()).or_default() += 1;
                }
            }
            (false, Verdict::Accepted) => {
                self.error_accepted += 1;
                self.wrongly_accepted.push(entry.source.clone());
            }
            (false, Verdict::Refused(_)) => self.error_refused += 1,
        }
    }

    fn accepted_share(&self) -> f64 {
        share(self.ok_accepted, self.ok_accepted + self.ok_refused)
    }

    /// Accepted share of the valid forms that use no construct refused by design.
    fn accepted_share_outside_design(&self) -> f64 {
        share(
            self.ok_accepted,
            self.ok_accepted + self.ok_refused - self.ok_refused_by_design,
        )
    }

    fn refused_share(&self) -> f64 {
        share(self.error_refused, self.error_refused + self.error_accepted)
    }

    fn print(&self, title: &str) {
        println!(
            "{title}: pyxform ok {} (Hale accepts {}, refuses {}: {:.1}% accepted); \
             pyxform error {} (Hale refuses {}, accepts {}: {:.1}% refused); crashes {}",
            self.ok_accepted + self.ok_refused,
            self.ok_accepted,
            self.ok_refused,
            100.0 * self.accepted_share(),
            self.error_accepted + self.error_refused,
            self.error_refused,
            self.error_accepted,
            100.0 * self.refused_share(),
            self.crashed,
        );
        println!(
            "  of the valid forms, {} are refused by a documented design decision; of the rest \
             Hale accepts {:.1}%",
            self.ok_refused_by_design,
            100.0 * self.accepted_share_outside_design()
        );
        let mut codes: Vec<(&String, &usize)> = self.refusal_codes.iter().collect();
        codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = codes
            .iter()
            .take(20)
            .map(|(code, count)| format!("{code} {count}"))
            .collect();
        println!(
            "  refusals of forms pyxform accepts, by code: {}",
            top.join(", ")
        );
        for source in self.wrongly_accepted.iter().take(40) {
            println!("  accepted though pyxform refuses: {source}");
        }
        for source in &self.crashes {
            println!("  CRASH: {source}");
        }
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// What this version reaches on the shared corpus (the targets are 95%, 90%, 100%).
const FLOOR_SUBSET_ACCEPTED: f64 = 0.957;
/// Of all valid forms outside design refusals (the target is 95%).
const FLOOR_ALL_ACCEPTED: f64 = 0.951;
const FLOOR_SUBSET_REFUSED: f64 = 1.0;
const FLOOR_ALL_REFUSED: f64 = 1.0;

#[test]
fn hale_agrees_with_pyxform() {
    let (entries, corpus, own) = match shared_corpus() {
        Some(path) => (
            read_shared(&path),
            format!("shared corpus {}", path.display()),
            false,
        ),
        None => (
            read_own(),
            String::from("the shared corpus is absent: running the project's own forms"),
            true,
        ),
    };
    let mut entries = entries;
    if let Some(live) = live_verdicts() {
        let live_verdicts = if own { None } else { Some(&live.corpus) };
        match live_verdicts {
            Some(verdicts) if verdicts.len() == entries.len() => {
                let agreeing = entries
                    .iter()
                    .zip(verdicts)
                    .filter(|(entry, ok)| entry.pyxform_ok == **ok)
                    .count();
                println!(
                    "pyxform {} run here over the corpus: its verdicts replace the recorded ones ({agreeing} of {} agree with them)",
                    live.version,
                    entries.len()
                );
                for (entry, ok) in entries.iter_mut().zip(verdicts) {
                    entry.pyxform_ok = *ok;
                }
            }
            Some(verdicts) => panic!(
                "the pyxform run covered {} corpus forms, the corpus has {}: run scripts/pyxform-differential again",
                verdicts.len(),
                entries.len()
            ),
            None => {}
        }
    }
    println!(
        "XLSForm differential over {} forms ({corpus})",
        entries.len()
    );
    let mut subset = Tally::default();
    let mut all = Tally::default();
    for entry in &entries {
        let verdict = judge(entry);
        if entry.hale_subset {
            subset.add(entry, &verdict);
        }
        all.add(entry, &verdict);
    }
    subset.print("hale_subset");
    all.print("all forms");
    let summary = format!(
        "subset: {:.1}% of valid accepted (target 95%; {:.1}% outside design refusals), \
         {:.1}% of invalid refused (target 90%); all: {:.1}% valid accepted ({:.1}% outside \
         design refusals), {:.1}% invalid refused (target 100%); crashes {}",
        100.0 * subset.accepted_share(),
        100.0 * subset.accepted_share_outside_design(),
        100.0 * subset.refused_share(),
        100.0 * all.accepted_share(),
        100.0 * all.accepted_share_outside_design(),
        100.0 * all.refused_share(),
        all.crashed,
    );
    println!("{summary}");
    assert_eq!(all.crashed, 0, "{summary}");
    if own {
        // The project's own forms are all within what Hale promises: every verdict agrees.
        assert_eq!(all.ok_refused + all.error_accepted, 0, "{summary}");
        return;
    }
    // The targets are not all met yet (see docs/app-format.md, "XLSForm import"): these
    // floors are what this version reaches, so that no change slips back; raise them as the
    // remaining causes are fixed.
    assert!(
        subset.accepted_share_outside_design() >= FLOOR_SUBSET_ACCEPTED,
        "{summary}"
    );
    assert!(
        all.accepted_share_outside_design() >= FLOOR_ALL_ACCEPTED,
        "{summary}"
    );
    assert!(subset.refused_share() >= FLOOR_SUBSET_REFUSED, "{summary}");
    assert!(all.refused_share() >= FLOOR_ALL_REFUSED, "{summary}");
}

/// The project's own forms say pyxform's verdict in their names; a run of pyxform itself must
/// give the same verdict for every one (without a run, the names stand).
#[test]
fn the_own_forms_names_say_what_pyxform_says() {
    let Some(live) = live_verdicts() else {
        println!("no pyxform run (HALE_PYXFORM_VERDICTS unset): the own forms' names stand");
        return;
    };
    let own = read_own();
    let differing: Vec<&str> = own
        .iter()
        .filter(|entry| live.forms.get(&entry.source) != Some(&entry.pyxform_ok))
        .map(|entry| entry.source.as_str())
        .collect();
    println!(
        "pyxform {} run here over the {} own forms: {} agree with their names",
        live.version,
        own.len(),
        own.len() - differing.len()
    );
    assert!(
        differing.is_empty(),
        "pyxform says otherwise of {differing:?}"
    );
}
