//! `hale app …`: import, lint and export health-check apps from the command line.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use hale_core::{AppSource, Core, ExportFormat};

use crate::commands::{describe, open_store, operator};
use crate::config::Settings;

/// Reads an app from a file: `.xlsx` (XLSForm), a folder or `survey.csv` of XLSForm CSV sheets,
/// or `.json` (a FHIR Questionnaire when it has `resourceType`, else Hale's format).
pub fn read_source(path: &Path) -> anyhow::Result<AppSource> {
    let read_text = |path: &Path| {
        String::from_utf8(read_bounded(path)?)
            .with_context(|| format!("{} is not UTF-8 text", path.display()))
    };
    if path.is_dir() || path.extension().is_some_and(|extension| extension == "csv") {
        let folder = if path.is_dir() {
            path
        } else {
            path.parent().unwrap_or(Path::new("."))
        };
        let optional = |name: &str| {
            let sheet = folder.join(name);
            sheet.exists().then(|| read_text(&sheet)).transpose()
        };
        return Ok(AppSource::Csv {
            survey: read_text(&folder.join("survey.csv"))?,
            choices: optional("choices.csv")?,
            settings: optional("settings.csv")?,
        });
    }
    match path.extension().and_then(|extension| extension.to_str()) {
        Some("xlsx") => Ok(AppSource::Xlsx(read_bounded(path)?)),
        Some("json") => {
            let text = read_text(path)?;
            let value: serde_json::Value =
                hale_domain::json::from_str(&text).context("the file is not valid JSON")?;
            Ok(if value.get("resourceType").is_some() {
                AppSource::Questionnaire(value)
            } else {
                AppSource::Hale(text)
            })
        }
        _ => bail!(
            "expected an .xlsx workbook, XLSForm CSV sheets (a folder or survey.csv) or a .json file"
        ),
    }
}

/// Largest app file read: far above any real XLSForm or definition, and the importer's own
/// limits refuse anything near it anyway.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a file, refusing one larger than [`MAX_FILE_BYTES`] without reading it whole.
fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        bail!("{} is larger than {MAX_FILE_BYTES} bytes", path.display());
    }
    Ok(bytes)
}

/// Prints every problem with its place; the operator sees them all at once.
fn explain(error: hale_core::CoreError) -> anyhow::Error {
    if let hale_core::CoreError::InvalidSpreadsheet(errors) = &error {
        for problem in errors {
            eprintln!(
                "{} row {} column {}: {} ({})",
                problem.sheet, problem.row, problem.column, problem.message, problem.code
            );
        }
    }
    if let hale_core::CoreError::Invalid(errors) = &error {
        for problem in errors {
            eprintln!("{}: {} ({})", problem.field, problem.message, problem.code);
        }
    }
    if let hale_core::CoreError::LintFailed(report) = &error {
        for issue in &report.errors {
            eprintln!("{}: {} ({})", issue.path, issue.message, issue.code);
        }
    }
    describe(error)
}

pub async fn import(
    settings: &Settings,
    file: &Path,
    tenant: &str,
    name: Option<String>,
    app: Option<String>,
) -> anyhow::Result<()> {
    let source = read_source(file)?;
    let core = Core::with_system(open_store(settings).await?);
    let context = operator();
    let tenant = core
        .resolve_tenant(&context, tenant)
        .await
        .map_err(describe)?;
    match app {
        Some(app) => {
            let app = app
                .parse()
                .map_err(|_| anyhow::anyhow!("--app must be an app id"))?;
            let version = core
                .import_version(&context, tenant, app, &source)
                .await
                .map_err(explain)?
                .stored;
            println!(
                "{}",
                serde_json::json!({"app_id": version.app_id.to_string(), "version": version.version, "status": version.status.as_str()})
            );
        }
        None => {
            let summary = core
                .import_app(&context, tenant, name, &source)
                .await
                .map_err(explain)?
                .stored;
            println!(
                "{}",
                serde_json::json!({"app_id": summary.app.id.to_string(), "name": summary.app.name, "version": 1, "status": "draft"})
            );
        }
    }
    Ok(())
}

/// Attaches a data or media file to a copy of a version (the newest by default) as the next draft, and
/// prints the new version with what still blocks its publication.
pub async fn attach(
    settings: &Settings,
    file: &Path,
    tenant: &str,
    app: &str,
    version: Option<i64>,
) -> anyhow::Result<()> {
    let name = file
        .file_name()
        .and_then(|name| name.to_str())
        .with_context(|| format!("{} names no file", file.display()))?
        .to_owned();
    let bytes = read_bounded(file)?;
    let core = Core::with_system(open_store(settings).await?);
    let context = operator();
    let (tenant, app, version) = version_of(&core, &context, tenant, app, version).await?;
    let attached = core
        .attach_file(&context, tenant, app, version, &name, bytes)
        .await
        .map_err(explain)?;
    for issue in &attached.lint.errors {
        eprintln!("error   {}: {} ({})", issue.path, issue.message, issue.code);
    }
    let stored = attached.stored;
    println!(
        "{}",
        serde_json::json!({"app_id": stored.app_id.to_string(), "version": stored.version, "status": stored.status.as_str(), "publishable": attached.lint.is_publishable()})
    );
    Ok(())
}

/// Lints a file; exits non-zero when anything blocks publication.
pub fn lint(file: &Path) -> anyhow::Result<std::process::ExitCode> {
    let report = match hale_core::lint_source(&operator(), &read_source(file)?) {
        Ok(report) => report,
        Err(error) => return Err(explain(error)),
    };
    for issue in &report.errors {
        println!("error   {}: {} ({})", issue.path, issue.message, issue.code);
    }
    for issue in &report.warnings {
        println!("warning {}: {} ({})", issue.path, issue.message, issue.code);
    }
    if report.is_publishable() {
        println!("lint clean: ready for review");
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        println!("{} problem(s) block publication", report.errors.len());
        Ok(std::process::ExitCode::FAILURE)
    }
}

pub async fn export(
    settings: &Settings,
    app: &str,
    tenant: &str,
    version: Option<i64>,
    format: &str,
) -> anyhow::Result<()> {
    let format = match format {
        "hale" => ExportFormat::Hale,
        "questionnaire" => ExportFormat::Questionnaire,
        _ => bail!("--format is hale or questionnaire"),
    };
    let core = Core::with_system(open_store(settings).await?);
    let context = operator();
    let (tenant, app, version) = version_of(&core, &context, tenant, app, version).await?;
    let exported = core
        .export_version(&context, tenant, app, version, format)
        .await
        .map_err(describe)?;
    println!("{}", serde_json::to_string_pretty(&exported)?);
    Ok(())
}

/// The tenant, app and version a command names: the given version, else the app's newest.
async fn version_of(
    core: &Core,
    context: &hale_domain::RequestContext,
    tenant: &str,
    app: &str,
    version: Option<i64>,
) -> anyhow::Result<(hale_domain::TenantId, hale_domain::AppId, i64)> {
    let tenant = core
        .resolve_tenant(context, tenant)
        .await
        .map_err(describe)?;
    let app = app
        .parse()
        .map_err(|_| anyhow::anyhow!("the app id is not valid"))?;
    let version = match version {
        Some(version) => version,
        None => latest_version(core, context, tenant, app).await?,
    };
    Ok((tenant, app, version))
}

/// The app's newest version, read a page of versions at a time.
async fn latest_version(
    core: &Core,
    context: &hale_domain::RequestContext,
    tenant: hale_domain::TenantId,
    app: hale_domain::AppId,
) -> anyhow::Result<i64> {
    let mut page = hale_core::VersionPage {
        after: None,
        limit: Some(hale_core::MAX_PAGE_SIZE),
    };
    let mut latest = None;
    loop {
        let summary = core
            .get_app(context, tenant, app, page)
            .await
            .map_err(describe)?;
        latest = summary.versions.last().map(|row| row.version).or(latest);
        match summary.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    latest.ok_or_else(|| anyhow::anyhow!("the app has no versions"))
}
