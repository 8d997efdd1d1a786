//! Publication lint, run when a version is submitted for review. Findings have a severity:
//! **errors** (the app cannot work as written: every compile error — unknown references,
//! cycles, impossible bounds, a unit that contradicts the LOINC catalogue) block publication;
//! **warnings** (free text without a stated purpose, a vital with only one bound, a missing
//! translation) are shown to the reviewer, who acknowledges each; **infos** say what Hale
//! filled in (the catalogue's plausible range for a vital with no bound, the tenant's default
//! rate-limit policy). Bounds written as a constraint (`. >= 4 and . <= 60`) count as bounds.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::compile::CompiledForm;
use crate::definition::{AppDefinition, Field, FieldType, Text, data_file, fits_media_kind};

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The app cannot work as written: blocks publication.
    Error,
    /// Shown to the reviewer, who must acknowledge it to approve.
    Warning,
    /// What Hale filled in; nothing to do.
    Info,
}

/// One finding, with the JSON path of the member at fault and, when the definition was read
/// from a spreadsheet or a Questionnaire, where the analyst wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LintIssue {
    /// Names this finding within its report, `code@path` (`#2`, `#3`… for a second one of the
    /// same code at the same path): what a reviewer lists to acknowledge a warning. The same
    /// definition always gets the same ids.
    pub id: String,
    pub severity: Severity,
    pub path: String,
    pub code: &'static str,
    pub message: String,
    /// The spreadsheet cell, `survey!C7` (`survey!7:7` for a row with no column to name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<String>,
    /// The Questionnaire item's linkId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_id: Option<String>,
    /// A warning the reviewer acknowledged when approving (only in the report an approval
    /// records).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acknowledged: bool,
}

impl LintIssue {
    /// A finding whose id is `code@path`; [`LintReport::number`] makes ids unique.
    pub fn new(severity: Severity, path: &str, code: &'static str, message: String) -> Self {
        Self {
            id: format!("{code}@{path}"),
            severity,
            path: path.to_owned(),
            code,
            message,
            cell: None,
            link_id: None,
            acknowledged: false,
        }
    }
}

/// Why an approval's acknowledgements do not match the version's warnings.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Unacknowledged {
    /// Warnings the reviewer did not list.
    pub warnings: Vec<LintIssue>,
    /// Listed ids that name no warning of this version (a report read from another version,
    /// or a typo).
    pub unknown: Vec<String>,
}

/// Errors block publication; warnings need the reviewer's acknowledgement; infos say what
/// Hale filled in.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct LintReport {
    pub errors: Vec<LintIssue>,
    pub warnings: Vec<LintIssue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub infos: Vec<LintIssue>,
}

impl LintReport {
    pub fn is_publishable(&self) -> bool {
        self.errors.is_empty()
    }

    /// Makes every finding's id unique within the report: the second finding of one code at
    /// one path becomes `code@path#2`, in report order, so the ids of one definition's report
    /// never change.
    pub fn number(&mut self) {
        let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
        for issue in self.issues_mut() {
            let count = seen.entry(issue.id.clone()).or_default();
            *count += 1;
            if *count > 1 {
                issue.id = format!("{}#{count}", issue.id);
            }
        }
    }

    /// Checks an approval's acknowledgements: every warning must be listed by its id, and
    /// every listed id must name a warning. When they match, each warning is marked
    /// acknowledged, for the report the approval records.
    pub fn acknowledge(&mut self, ids: &[String]) -> Result<(), Unacknowledged> {
        let missing: Vec<LintIssue> = self
            .warnings
            .iter()
            .filter(|warning| !ids.contains(&warning.id))
            .cloned()
            .collect();
        let unknown: Vec<String> = ids
            .iter()
            .filter(|id| !self.warnings.iter().any(|warning| &warning.id == *id))
            .cloned()
            .collect();
        if !missing.is_empty() || !unknown.is_empty() {
            return Err(Unacknowledged {
                warnings: missing,
                unknown,
            });
        }
        for warning in &mut self.warnings {
            warning.acknowledged = true;
        }
        Ok(())
    }

    /// Every finding, errors first.
    pub fn issues_mut(&mut self) -> impl Iterator<Item = &mut LintIssue> {
        self.errors
            .iter_mut()
            .chain(&mut self.warnings)
            .chain(&mut self.infos)
    }

    /// Names the Questionnaire item of each finding about a field: the linkId Hale reads and
    /// exports it under (the field's own `link_id`, else its name).
    pub fn name_link_ids(&mut self, app: &AppDefinition) {
        let walked = app.walk();
        for issue in self.issues_mut() {
            let field = walked
                .iter()
                .filter(|(path, _)| {
                    issue.path.strip_prefix(path.as_str()).is_some_and(|rest| {
                        rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
                    })
                })
                .max_by_key(|(path, _)| path.len());
            if let Some((_, field)) = field {
                issue.link_id = Some(field.link_id.clone().unwrap_or_else(|| field.name.clone()));
            }
        }
    }
}

fn issue(severity: Severity, path: &str, code: &'static str, message: String) -> LintIssue {
    LintIssue::new(severity, path, code, message)
}

impl LintReport {
    fn add(&mut self, severity: Severity, path: &str, code: &'static str, message: String) {
        let found = issue(severity, path, code, message);
        match severity {
            Severity::Error => self.errors.push(found),
            Severity::Warning => self.warnings.push(found),
            Severity::Info => self.infos.push(found),
        }
    }
}

/// The lower and upper bounds a field states, in `min`/`max` or as comparisons of `.` with a
/// number in its constraint (`. >= 4 and . <= 60`, `4 <= .`).
pub(crate) fn stated_bounds(field: &Field) -> (bool, bool) {
    let (mut low, mut high) = (field.min.is_some(), field.max.is_some());
    if let Some(expr) = field
        .constraint
        .as_deref()
        .and_then(|text| hale_expr::parse(text).ok())
    {
        constraint_bounds(&expr, &mut low, &mut high);
    }
    (low, high)
}

fn constraint_bounds(expr: &hale_expr::Expr, low: &mut bool, high: &mut bool) {
    use hale_expr::{BinaryOperator as Op, Expr};
    let Expr::Binary {
        operator,
        left,
        right,
    } = expr
    else {
        return;
    };
    let number = |side: &Expr| match side {
        Expr::Number { .. } => true,
        Expr::Negate { operand } => matches!(operand.as_ref(), Expr::Number { .. }),
        _ => false,
    };
    match (operator, left.as_ref(), right.as_ref()) {
        // Only `and` keeps both sides binding; under `or` neither side is a bound.
        (Op::And, _, _) => {
            constraint_bounds(left, low, high);
            constraint_bounds(right, low, high);
        }
        (Op::Greater | Op::GreaterOrEqual, Expr::Current, other) if number(other) => *low = true,
        (Op::Less | Op::LessOrEqual, Expr::Current, other) if number(other) => *high = true,
        (Op::Less | Op::LessOrEqual, other, Expr::Current) if number(other) => *low = true,
        (Op::Greater | Op::GreaterOrEqual, other, Expr::Current) if number(other) => *high = true,
        _ => {}
    }
}

/// Lints a definition: every compile error, plus the checks above.
pub fn lint(app: &AppDefinition) -> LintReport {
    let mut report = LintReport::default();
    match app.compile() {
        Err(errors) => {
            report.errors = errors
                .into_iter()
                .map(|error| issue(Severity::Error, &error.path, error.code, error.message))
                .collect();
        }
        Ok(form) => missing_data_files(app, &form, &mut report),
    }
    let flag = |report: &mut LintReport, path: &str, code, message: String| {
        report.add(Severity::Warning, path, code, message);
    };
    if app.rate_limit_policy.is_none() {
        report.add(
            Severity::Info,
            "$.rate_limit_policy",
            "default_rate_limit_policy",
            String::from("no rate_limit_policy: submissions follow the tenant's default policy"),
        );
    }
    let languages: Vec<&String> = std::iter::once(&app.default_language)
        .chain(&app.languages)
        .collect();
    let check_text = |report: &mut LintReport, path: String, text: &Option<Text>| {
        let Some(Text::Translated(_)) = text else {
            // A plain text is one text for every language: nothing is missing.
            return;
        };
        for language in &languages {
            if text
                .as_ref()
                .is_some_and(|text| !text.has_language(language))
            {
                flag(
                    report,
                    &path,
                    "missing_translation",
                    format!("no '{language}' text"),
                );
            }
        }
    };
    check_text(
        &mut report,
        String::from("$.title"),
        &Some(app.title.clone()),
    );
    for (list, choices) in &app.choice_lists {
        for (index, choice) in choices.iter().enumerate() {
            let path = format!("$.choice_lists.{list}[{index}].media");
            media_findings(app, &choice.media, &path, &mut report);
        }
    }
    for (path, field) in app.walk() {
        check_text(&mut report, format!("{path}.label"), &field.label);
        check_text(&mut report, format!("{path}.hint"), &field.hint);
        if let Some(vital) = field.code.as_deref().and_then(hale_clinical::vital)
            && field.field_type.is_numeric()
        {
            match stated_bounds(field) {
                (true, true) => {}
                (false, false) => report.add(
                    Severity::Info,
                    &path,
                    "plausible_range_applied",
                    format!(
                        "{} has no bounds: the catalogue's plausible range ({}–{} {}) applies",
                        vital.display,
                        vital.plausible.low,
                        vital.plausible.high,
                        vital.canonical_unit
                    ),
                ),
                _ => flag(
                    &mut report,
                    &path,
                    "vital_without_bounds",
                    format!(
                        "{} states only one bound; its plausible range is {}–{} {}",
                        vital.display,
                        vital.plausible.low,
                        vital.plausible.high,
                        vital.canonical_unit
                    ),
                ),
            }
        }
        media_findings(app, &field.media, &format!("{path}.media"), &mut report);
        // A location or a barcode can identify a person as free text can.
        let free_text = field.field_type == FieldType::Text
            || field.field_type.is_attachment()
            || field.field_type.is_location()
            || field.field_type == FieldType::Barcode;
        if free_text
            && field.prefill.is_none()
            && field.purpose.as_deref().is_none_or(|p| p.trim().is_empty())
        {
            flag(
                &mut report,
                &format!("{path}.purpose"),
                "free_text_without_purpose",
                String::from("free text may collect PHI: say why it is needed in 'purpose'"),
            );
        }
    }
    report.number();
    report
}

/// The media of a label (a field's or a choice's, at `path`) that no client can show: a file
/// not attached to the version yet (the question or choice shows without it: the reviewer
/// decides whether it reads well so), one of another kind than the media names (a sound as
/// the image), or one whose name is made from answers.
fn media_findings(
    app: &AppDefinition,
    media: &BTreeMap<String, Text>,
    path: &str,
    report: &mut LintReport,
) {
    for (kind, names) in media {
        for name in names.texts() {
            // XLSForm lets a file's name be written from answers (`${photo}.png`), which no
            // client of Hale resolves.
            if name.contains("${") {
                report.add(
                    Severity::Warning,
                    path,
                    "media_not_shown",
                    format!("the {kind} file's name is made from answers ({name}), which Hale does not do: it is not shown"),
                );
                continue;
            }
            match app.media_files.get(name) {
                None => report.add(
                    Severity::Warning,
                    path,
                    "media_missing",
                    format!("attach {name} to this version: until it is, the {kind} is not shown"),
                ),
                Some(file) if !fits_media_kind(kind, &file.media_type) => report.add(
                    Severity::Warning,
                    path,
                    "media_kind_mismatch",
                    format!(
                        "{name} is {}, which cannot be shown as the {kind}",
                        file.media_type
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}

/// A data file that a select offers or `pulldata()` reads and that is not attached to the
/// version yet: the app cannot work as written until it is, so each is an error.
fn missing_data_files(app: &AppDefinition, form: &CompiledForm, report: &mut LintReport) {
    // The compiled fields are the definition's, depth first, in the same order.
    for ((path, field), compiled) in app.walk().into_iter().zip(&form.fields) {
        if let Some(file) = &field.choice_file
            && !app.data_files.contains_key(file)
        {
            report.add(
                Severity::Error,
                &format!("{path}.choice_file"),
                "data_file_missing",
                format!("attach {file} to this version: its rows are this field's choices"),
            );
        }
        let expressions = [
            &compiled.relevant,
            &compiled.constraint,
            &compiled.calculation,
            &compiled.choice_filter,
            &compiled.repeat_count,
            &compiled.required_if,
            &compiled.read_only_if,
            &compiled.default_expression,
        ];
        let stems: BTreeSet<String> = expressions
            .into_iter()
            .flatten()
            .flat_map(hale_expr::Expr::data_files_read)
            .collect();
        for stem in stems {
            if data_file(&app.data_files, &stem).is_none() {
                report.add(
                    Severity::Error,
                    &path,
                    "data_file_missing",
                    format!("attach {stem}.csv or {stem}.xml to this version: pulldata() reads it"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Two languages missing from one title, and a free text without a purpose: three warnings.
    fn warned() -> LintReport {
        let app = AppDefinition::from_json(
            r#"{"title":{"de":"T"},"default_language":"en","languages":["fr"],"fields":[
                {"name":"note","type":"text","label":"Note"}]}"#,
        )
        .unwrap();
        lint(&app)
    }

    fn ids(issues: &[LintIssue]) -> Vec<&str> {
        issues.iter().map(|issue| issue.id.as_str()).collect()
    }

    #[test]
    fn warnings_have_ids_unique_in_the_report_and_the_same_on_every_lint() {
        let report = warned();
        assert_eq!(
            ids(&report.warnings),
            [
                "missing_translation@$.title",
                "missing_translation@$.title#2",
                "free_text_without_purpose@$.fields[0].purpose",
            ]
        );
        assert_eq!(report, warned());
        let mut again = report.clone();
        again.number();
        assert_eq!(again, report, "numbering twice changes nothing");
    }

    #[test]
    fn an_approval_acknowledges_every_warning_and_only_warnings_the_report_has() {
        let all: Vec<String> = ids(&warned().warnings)
            .into_iter()
            .map(String::from)
            .collect();
        let mut report = warned();
        let missing = report.acknowledge(&all[..2]).unwrap_err();
        assert_eq!(ids(&missing.warnings), [all[2].as_str()]);
        assert!(missing.unknown.is_empty());
        assert!(report.warnings.iter().all(|warning| !warning.acknowledged));

        let mut listed = all.clone();
        listed.push(String::from("vital_without_bounds@fields[9]"));
        let unknown = report.acknowledge(&listed).unwrap_err();
        assert!(unknown.warnings.is_empty());
        assert_eq!(unknown.unknown, ["vital_without_bounds@fields[9]"]);
        assert!(report.warnings.iter().all(|warning| !warning.acknowledged));

        report.acknowledge(&all).unwrap();
        assert!(report.warnings.iter().all(|warning| warning.acknowledged));
        let recorded = serde_json::to_value(&report).unwrap();
        assert_eq!(recorded["warnings"][2]["acknowledged"], true);
        assert_eq!(recorded["warnings"][2]["id"], all[2].as_str());
        assert!(
            recorded["infos"][0].get("acknowledged").is_none(),
            "only acknowledged warnings say so"
        );
    }

    /// Every data file a select or a `pulldata()` names, in any expression of any field, is an
    /// error until it is attached, whether as CSV or XML; one not named by a literal is not.
    #[test]
    fn a_data_file_not_attached_is_an_error_until_it_is() {
        let app = |files: &str| {
            AppDefinition::from_json(&format!(
                r#"{{"title":"T","data_files":{{{files}}},"fields":[
                {{"name":"g","type":"group","label":"G","relevant":"pulldata('shops', 'open', 'name', 'a') = 'yes'","children":[
                    {{"name":"s","type":"select_one","label":"S","choice_file":"fruits.csv"}},
                    {{"name":"n","type":"integer","label":"N","constraint":". < pulldata('prices', 'max', 'name', ${{s}})"}},
                    {{"name":"c","type":"calculate","calculation":"pulldata(concat('pri', 'ces'), 'max', 'name', 'x')"}}]}}]}}"#
            ))
            .unwrap()
        };
        let missing = |report: &LintReport| -> Vec<(String, String)> {
            report
                .errors
                .iter()
                .map(|issue| (issue.path.clone(), issue.message.clone()))
                .collect()
        };
        let row = r#"[{"value":"a","label":"A"}]"#;
        let report = lint(&app(""));
        assert!(!report.is_publishable());
        assert!(
            report
                .errors
                .iter()
                .all(|issue| issue.code == "data_file_missing")
        );
        assert_eq!(
            missing(&report),
            [
                (
                    String::from("$.fields[0]"),
                    String::from(
                        "attach shops.csv or shops.xml to this version: pulldata() reads it"
                    )
                ),
                (
                    String::from("$.fields[0].children[0].choice_file"),
                    String::from(
                        "attach fruits.csv to this version: its rows are this field's choices"
                    )
                ),
                (
                    String::from("$.fields[0].children[1]"),
                    String::from(
                        "attach prices.csv or prices.xml to this version: pulldata() reads it"
                    )
                ),
            ]
        );
        let attached = lint(&app(&format!(
            r#""shops.xml":{row},"fruits.csv":{row},"prices.csv":{row}"#
        )));
        assert_eq!(missing(&attached), []);
        let other = lint(&app(&format!(
            r#""shops.csv":{row},"fruits.xml":{row},"prices.xml":{row}"#
        )));
        assert_eq!(
            missing(&other),
            [(
                String::from("$.fields[0].children[0].choice_file"),
                String::from(
                    "attach fruits.csv to this version: its rows are this field's choices"
                )
            )],
            "a select names its file exactly; pulldata() takes either format"
        );
    }

    #[test]
    fn media_not_attached_or_of_another_kind_is_a_warning_until_it_is_attached() {
        let digest = "0".repeat(64);
        let file = |name: &str, media_type: &str| {
            format!(r#""{name}":{{"media_type":"{media_type}","size":3,"sha256":"{digest}"}}"#)
        };
        let app = |files: &[String], media: &str| {
            AppDefinition::from_json(&format!(
                r#"{{"title":"T","media_files":{{{}}},"choice_lists":{{"faces":[
                    {{"value":"1","label":"Fine","media":{{"image":{{"en":"fine.png","fr":"fine.png"}}}}}}]}},
                    "fields":[
                    {{"name":"a","type":"integer","label":"A","media":{media}}},
                    {{"name":"b","type":"select_one","label":"B","choice_list":"faces"}}]}}"#,
                files.join(",")
            ))
            .unwrap()
        };
        let both = r#"{"image":"a.png","audio":"a.mp3"}"#;
        let none = lint(&app(&[], both));
        assert!(none.is_publishable(), "warnings, not errors: {none:?}");
        assert_eq!(
            ids(&none.warnings),
            [
                "media_missing@$.choice_lists.faces[0].media",
                "media_missing@$.fields[0].media",
                "media_missing@$.fields[0].media#2"
            ],
            "one finding per file, a translated name given once"
        );
        let messages: Vec<&str> = none.warnings.iter().map(|w| w.message.as_str()).collect();
        assert!(messages[0].contains("fine.png"), "{messages:?}");
        assert!(
            messages[1].contains("a.mp3") && messages[1].contains("audio"),
            "{messages:?}"
        );
        assert!(
            messages[2].contains("a.png") && messages[2].contains("image"),
            "{messages:?}"
        );
        let files = [
            file("fine.png", "image/png"),
            file("a.png", "image/png"),
            file("a.mp3", "audio/mpeg"),
        ];
        assert_eq!(lint(&app(&files, both)).warnings, []);
        let swapped = lint(&app(&files, r#"{"image":"a.mp3"}"#));
        assert_eq!(
            ids(&swapped.warnings),
            ["media_kind_mismatch@$.fields[0].media"]
        );
        assert!(
            swapped.warnings[0].message.contains("audio/mpeg"),
            "{swapped:?}"
        );
        // A video is shown as a video, nothing else is.
        let videos = [
            files[0].clone(),
            files[1].clone(),
            files[2].clone(),
            file("walk.mp4", "video/mp4"),
        ];
        assert_eq!(lint(&app(&videos, r#"{"video":"walk.mp4"}"#)).warnings, []);
        let still = lint(&app(&videos, r#"{"video":"a.png","audio":"walk.mp4"}"#));
        assert_eq!(
            ids(&still.warnings),
            [
                "media_kind_mismatch@$.fields[0].media",
                "media_kind_mismatch@$.fields[0].media#2"
            ]
        );
        let computed = lint(&app(&files, r#"{"image":"${b}.png"}"#));
        assert_eq!(
            ids(&computed.warnings),
            ["media_not_shown@$.fields[0].media"]
        );
    }

    #[test]
    fn a_report_without_warnings_is_approved_with_no_acknowledgement() {
        let app = AppDefinition::from_json(
            r#"{"title":"T","fields":[{"name":"a","type":"integer","label":"A"}]}"#,
        )
        .unwrap();
        let mut report = lint(&app);
        assert!(report.warnings.is_empty());
        report.acknowledge(&[]).unwrap();
        assert_eq!(
            report
                .acknowledge(&[String::from("x@y")])
                .unwrap_err()
                .unknown,
            ["x@y"]
        );
    }
}
