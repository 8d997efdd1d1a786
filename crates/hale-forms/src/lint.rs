//! Publication lint: compile errors (unknown references, cycles, unit/catalogue mismatches, …)
//! are errors that block publication; vital-sign fields without plausible bounds, free text
//! without a purpose note, missing translations and a missing rate-limit policy are warnings.

use serde::Serialize;

use crate::definition::{AppDefinition, FieldType, Text};

/// One finding, with the JSON path of the member at fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LintIssue {
    pub path: String,
    pub code: &'static str,
    pub message: String,
}

/// Errors block publication; warnings are for the reviewer.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct LintReport {
    pub errors: Vec<LintIssue>,
    pub warnings: Vec<LintIssue>,
}

impl LintReport {
    pub fn is_publishable(&self) -> bool {
        self.errors.is_empty()
    }
}

fn issue(path: &str, code: &'static str, message: String) -> LintIssue {
    LintIssue {
        path: path.to_owned(),
        code,
        message,
    }
}

/// Lints a definition: every compile error, plus the checks above.
pub fn lint(app: &AppDefinition) -> LintReport {
    let mut report = LintReport::default();
    if let Err(errors) = app.compile() {
        report.errors = errors
            .into_iter()
            .map(|error| issue(&error.path, error.code, error.message))
            .collect();
    }
    let warn = |report: &mut LintReport, path: &str, code, message: String| {
        report.warnings.push(issue(path, code, message));
    };
    if app.rate_limit_policy.is_none() {
        warn(
            &mut report,
            "$.rate_limit_policy",
            "no_rate_limit_policy",
            String::from("name a rate-limit policy so submissions cannot flood the server"),
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
                warn(
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
    for (path, field) in app.walk() {
        check_text(&mut report, format!("{path}.label"), &field.label);
        check_text(&mut report, format!("{path}.hint"), &field.hint);
        if let Some(vital) = field.code.as_deref().and_then(hale_clinical::vital)
            && field.field_type.is_numeric()
            && (field.min.is_none() || field.max.is_none())
        {
            warn(
                &mut report,
                &path,
                "vital_without_bounds",
                format!(
                    "{} should have min and max within its plausible range ({}–{} {})",
                    vital.display, vital.plausible.low, vital.plausible.high, vital.canonical_unit
                ),
            );
        }
        let free_text = matches!(
            field.field_type,
            FieldType::Text | FieldType::File | FieldType::Photo
        );
        if free_text && field.purpose.as_deref().is_none_or(|p| p.trim().is_empty()) {
            warn(
                &mut report,
                &format!("{path}.purpose"),
                "free_text_without_purpose",
                String::from("free text may collect PHI: say why it is needed in 'purpose'"),
            );
        }
    }
    report
}
