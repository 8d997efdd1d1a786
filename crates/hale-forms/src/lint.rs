//! Publication lint, run when a version is submitted for review. Findings have a severity:
//! **errors** (the app cannot work as written: every compile error — unknown references,
//! cycles, impossible bounds, a unit that contradicts the LOINC catalogue) block publication;
//! **warnings** (free text without a stated purpose, a vital with only one bound, a missing
//! translation) are shown to the reviewer, who acknowledges each; **infos** say what Hale
//! filled in (the catalogue's plausible range for a vital with no bound, the tenant's default
//! rate-limit policy). Bounds written as a constraint (`. >= 4 and . <= 60`) count as bounds.

use serde::Serialize;

use crate::definition::{AppDefinition, Field, FieldType, Text};

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
    LintIssue {
        severity,
        path: path.to_owned(),
        code,
        message,
        cell: None,
        link_id: None,
    }
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
    if let Err(errors) = app.compile() {
        report.errors = errors
            .into_iter()
            .map(|error| issue(Severity::Error, &error.path, error.code, error.message))
            .collect();
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
    report
}
