//! Apps in and out: import from an XLSForm (xlsx or CSV), a FHIR Questionnaire or Hale's own
//! JSON; lint; export as Hale JSON or a Questionnaire; and the diff of two versions.
//!
//! An upload is untrusted and costly to read, so the caller's role is checked before a byte of
//! it is parsed, and the parse runs on a blocking thread (a few at a time, under a deadline)
//! so that the async workers keep answering everyone else.

use std::time::Duration;

use hale_domain::event::EventBody;
use hale_domain::{AppId, RequestContext, TenantId};
use hale_forms::lint::LintIssue;
use hale_forms::{AppDefinition, Change, LintReport};
use hale_forms_io::xlsform::{ImportError, ImportLimits};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::apps::{AppSummary, DraftVersion};
use crate::{Core, CoreError, Target};

/// Uploads parsed at once in this process. Each parse is bounded by the import limits; more
/// at once would let uploads take every core from the requests around them.
const PARSE_SLOTS: usize = 2;
static PARSES: Semaphore = Semaphore::const_new(PARSE_SLOTS);
/// How long an upload waits for a parse slot before the caller is asked to retry.
const SLOT_WAIT: Duration = Duration::from_secs(5);
/// How long one parse may take; the import limits keep real uploads far below it.
const PARSE_DEADLINE: Duration = Duration::from_secs(20);

/// Where an app definition comes from.
#[derive(Clone, Debug)]
pub enum AppSource {
    /// An XLSForm workbook (`.xlsx`).
    Xlsx(Vec<u8>),
    /// An XLSForm as CSV sheets.
    Csv {
        survey: String,
        choices: Option<String>,
        settings: Option<String>,
    },
    /// A FHIR R4 Questionnaire resource.
    Questionnaire(serde_json::Value),
    /// Hale's own format, `hale.app/1`.
    Hale(String),
    /// JSON exactly as uploaded, parsed only once the caller may use it: a FHIR Questionnaire
    /// when `questionnaire` is set or the object has a `resourceType`, else Hale's format.
    Json { bytes: Vec<u8>, questionnaire: bool },
}

/// How to export a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Hale,
    Questionnaire,
}

/// Turns any source into a definition; every problem is reported at once.
pub fn read_definition(source: &AppSource) -> Result<AppDefinition, CoreError> {
    read_with_origin(source).map(|read| read.definition)
}

/// A Questionnaire's import notes (what Hale derived or dropped on purpose, each naming the
/// item's linkId) as info findings.
fn questionnaire_import(resource: &serde_json::Value) -> Result<Read, CoreError> {
    hale_forms_io::questionnaire::import_with_notes(resource)
        .map(|imported| Read {
            definition: imported.definition,
            notes: imported.notes,
            source: Some(VersionSource::Questionnaire),
        })
        .map_err(CoreError::InvalidDefinition)
}

/// Where an imported definition was written, so that each lint finding can name its place
/// there: at import, and again whenever the stored version is linted (its draft event keeps
/// this). A definition in Hale's own format has none: the JSON path says where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// The rows and columns of a spreadsheet.
    Spreadsheet(hale_forms_io::xlsform::SheetMap),
    /// The items of a Questionnaire, by linkId (which the definition's fields keep).
    Questionnaire,
}

impl VersionSource {
    /// Names the cell or linkId of every finding of `report`, a lint of `definition`.
    fn name_places(&self, definition: &AppDefinition, report: &mut LintReport) {
        match self {
            VersionSource::Spreadsheet(map) => map.name_cells(report),
            VersionSource::Questionnaire => report.name_link_ids(definition),
        }
    }

    /// As the draft event records it.
    pub(crate) fn to_json(&self) -> String {
        // A map of strings and numbers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The lint of a stored version, each finding naming its cell or linkId where the version
/// records where it was written. A source that no longer reads names nothing (the findings
/// are the same; only their places are missing).
pub(crate) fn stored_lint(row: &hale_store::AppVersionRow) -> Result<LintReport, CoreError> {
    let definition = stored_definition(&row.definition)?;
    let mut report = hale_forms::lint(&definition);
    if let Some(source) = recorded_source(row) {
        source.name_places(&definition, &mut report);
    }
    report.number();
    Ok(report)
}

/// Where a stored version was written, as its draft event recorded it.
fn recorded_source(row: &hale_store::AppVersionRow) -> Option<VersionSource> {
    serde_json::from_str(row.source.as_deref()?).ok()
}

/// A definition as read, with the import's info notes (only Questionnaires have any).
struct Read {
    definition: AppDefinition,
    notes: Vec<LintIssue>,
    source: Option<VersionSource>,
}

fn spreadsheet(
    imported: Result<(AppDefinition, hale_forms_io::xlsform::SheetMap), Vec<ImportError>>,
) -> Result<Read, CoreError> {
    let (definition, map) = imported.map_err(CoreError::InvalidSpreadsheet)?;
    Ok(Read {
        definition,
        notes: Vec::new(),
        source: Some(VersionSource::Spreadsheet(map)),
    })
}

fn read_with_origin(source: &AppSource) -> Result<Read, CoreError> {
    let hale = |definition: AppDefinition| Read {
        definition,
        notes: Vec::new(),
        source: None,
    };
    let limits = ImportLimits::default();
    match source {
        AppSource::Xlsx(bytes) => {
            spreadsheet(hale_forms_io::xlsform::import_xlsx_mapped(bytes, &limits))
        }
        AppSource::Csv {
            survey,
            choices,
            settings,
        } => spreadsheet(hale_forms_io::xlsform::import_csv_mapped(
            survey,
            choices.as_deref(),
            settings.as_deref(),
            &limits,
        )),
        AppSource::Questionnaire(resource) => questionnaire_import(resource),
        AppSource::Hale(text) => AppDefinition::from_json(text)
            .map(hale)
            .map_err(CoreError::InvalidDefinition),
        AppSource::Json {
            bytes,
            questionnaire,
        } => {
            // The strict reader refuses repeated keys and bounds nesting before serde sees it.
            let value: serde_json::Value =
                hale_domain::json::from_slice(bytes).map_err(CoreError::MalformedJson)?;
            if *questionnaire || value.get("resourceType").is_some() {
                questionnaire_import(&value)
            } else {
                // The strict reader has refused invalid UTF-8 already; the definition is read
                // again from the text so that its errors keep their line and column.
                let text = String::from_utf8_lossy(bytes);
                AppDefinition::from_json(&text)
                    .map(hale)
                    .map_err(CoreError::InvalidDefinition)
            }
        }
    }
}

/// Lints a definition read from a local file once the caller's role allows it: what `hale app
/// lint` runs offline, with no store. A request from a caller goes through [`Core::lint`],
/// which is audited and parses off the async workers.
pub fn lint_source(context: &RequestContext, source: &AppSource) -> Result<LintReport, CoreError> {
    crate::policy::permit::<crate::policy::LintApps>(&context.principal)?;
    lint_with_notes(source)
}

/// The lint of what `source` reads as, with the import's notes among the infos, each finding
/// naming its spreadsheet cell or Questionnaire linkId.
fn lint_with_notes(source: &AppSource) -> Result<LintReport, CoreError> {
    read_and_lint(source).map(|linted| linted.lint)
}

/// An upload read, with its lint (the import's notes among the infos) and where it was
/// written.
struct Linted {
    definition: AppDefinition,
    lint: LintReport,
    source: Option<VersionSource>,
}

impl Linted {
    /// The draft of the definition, with where it was written.
    fn draft(&self) -> DraftVersion {
        DraftVersion {
            definition: self.definition.to_json(),
            source: self.source.clone(),
        }
    }
}

fn read_and_lint(source: &AppSource) -> Result<Linted, CoreError> {
    let read = read_with_origin(source)?;
    let lint = report_of(&read);
    Ok(Linted {
        definition: read.definition,
        lint,
        source: read.source,
    })
}

fn report_of(read: &Read) -> LintReport {
    let mut report = hale_forms::lint(&read.definition);
    if let Some(source) = &read.source {
        source.name_places(&read.definition, &mut report);
    }
    // The notes name their linkId already, from the Questionnaire's own paths.
    report.infos.extend(read.notes.iter().cloned());
    report.number();
    report
}

/// What an import stored, with the lint of the upload as read: its findings name their
/// spreadsheet cell or Questionnaire linkId, and its infos include the import's notes (what
/// Hale derived, or dropped on purpose), which the stored definition no longer shows.
#[derive(Clone, Debug)]
pub struct Imported<T> {
    pub stored: T,
    pub lint: LintReport,
}

/// How many uploads this process is parsing right now, off the async workers: what an operator's
/// gauge (and a test that the workers stay free meanwhile) reads.
pub fn uploads_being_parsed() -> usize {
    PARSE_SLOTS - PARSES.available_permits()
}

/// A media file as a version keeps it.
#[derive(Clone, Debug)]
pub struct MediaContent {
    pub media_type: String,
    /// SHA-256 of the bytes, lowercase hex: what a cache can check them by.
    pub sha256: String,
    pub bytes: Vec<u8>,
}

/// The most a media file may hold; the body limit of uploads (`max_body_bytes`) is usually
/// far lower.
pub const MAX_MEDIA_BYTES: usize = 16 * 1024 * 1024;

/// What the magic bytes of a file of `media_type` may be read as: the file's own type, or the
/// names the sniffer gives the same formats (`audio/x-wav` for WAV, an Opus stream in Ogg, an
/// M4A in an MP4 box with a general brand).
fn sniffed_as(media_type: &str, sniffed: &str) -> bool {
    sniffed == media_type
        || matches!(
            (media_type, sniffed),
            ("audio/wav", "audio/x-wav")
                | ("audio/ogg", "audio/opus")
                | ("audio/mp4", "audio/m4a" | "video/mp4")
        )
}

/// Checks the bytes of a media file named as `media_type` (the size, then that the bytes are
/// that type, by their magic numbers: a script or an SVG named `pain.png` is refused) and
/// describes it for the definition, with its bytes as the event carries them (base64).
fn read_media_file(
    media_type: &'static str,
    bytes: &[u8],
) -> Result<(hale_forms::definition::MediaFile, String), CoreError> {
    use base64::Engine as _;
    use sha2::Digest as _;
    if bytes.is_empty() || bytes.len() > MAX_MEDIA_BYTES {
        return Err(CoreError::invalid(
            "file",
            "invalid_media_file",
            "a media file holds between 1 byte and 16 MiB",
        ));
    }
    let sniffed = infer::get(bytes).map(|kind| kind.mime_type());
    if !sniffed.is_some_and(|sniffed| sniffed_as(media_type, sniffed)) {
        return Err(CoreError::invalid(
            "file",
            "media_type_mismatch",
            &format!("the file's bytes are not {media_type}, the type its name gives"),
        ));
    }
    let described = hale_forms::definition::MediaFile {
        media_type: media_type.to_owned(),
        size: bytes.len() as u64,
        sha256: hex::encode(sha2::Sha256::digest(bytes)),
    };
    let content = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok((described, content))
}

/// Runs `work` (a parse of an upload) on a blocking thread, in one of the process's parse
/// slots and under a deadline. The slot travels with the work, so a parse that outlives its
/// deadline keeps its slot until it ends and can never pile up behind the caller's back.
async fn off_the_workers<T, F>(work: F) -> Result<T, CoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, CoreError> + Send + 'static,
{
    let slot = tokio::time::timeout(SLOT_WAIT, PARSES.acquire())
        .await
        .map_err(|_| CoreError::Busy)?
        .map_err(|_| CoreError::Unavailable)?;
    let task = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work()
    });
    match tokio::time::timeout(PARSE_DEADLINE, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => {
            tracing::error!("an upload parse ended abnormally");
            Err(CoreError::Unavailable)
        }
        Err(_) => Err(CoreError::Busy),
    }
}

impl Core {
    /// Lints an uploaded definition for a caller, nothing stored: audited, role first, then
    /// the parse off the async workers.
    pub async fn lint(
        &self,
        context: &RequestContext,
        source: AppSource,
    ) -> Result<LintReport, CoreError> {
        let target = Target {
            tenant: context.principal.tenant,
            kind: "app",
            id: None,
        };
        self.audited::<crate::policy::LintApps, _>(context, "app.lint", target, async {
            off_the_workers(move || lint_with_notes(&source)).await
        })
        .await
    }

    /// Reads and lints an upload for someone allowed to draft apps.
    async fn read_upload(
        context: &RequestContext,
        source: &AppSource,
    ) -> Result<Linted, CoreError> {
        crate::policy::permit::<crate::policy::BuildApps>(&context.principal)?;
        let source = source.clone();
        off_the_workers(move || read_and_lint(&source)).await
    }

    /// Creates an app whose first draft is the imported definition. An upload that does not
    /// read is audited here; one that does is audited again as the app's creation.
    pub async fn import_app(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        name: Option<String>,
        source: &AppSource,
    ) -> Result<Imported<AppSummary>, CoreError> {
        let target = Target {
            tenant: Some(tenant),
            kind: "app",
            id: None,
        };
        self.audited::<crate::policy::BuildApps, _>(context, "app.import", target, async {
            let linted = Self::read_upload(context, source).await?;
            let name = match name {
                Some(name) => name,
                None => {
                    let definition = &linted.definition;
                    let title = definition.title.in_language(&definition.default_language);
                    if title.trim().is_empty() {
                        return Err(CoreError::invalid(
                            "name",
                            "name_required",
                            "the upload has no title (form_title or form_id): name the app with ?name=",
                        ));
                    }
                    title.to_owned()
                }
            };
            let stored = self
                .create_app(context, tenant, &name, linted.draft())
                .await?;
            Ok(Imported {
                stored,
                lint: linted.lint,
            })
        })
        .await
    }

    /// Adds the imported definition as the app's next draft version.
    pub async fn import_version(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app: AppId,
        source: &AppSource,
    ) -> Result<Imported<hale_store::AppVersionRow>, CoreError> {
        let id = app.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "app",
            id: Some(&id),
        };
        self.audited::<crate::policy::BuildApps, _>(context, "app.version.import", target, async {
            let linted = Self::read_upload(context, source).await?;
            let stored = self
                .draft_version(context, tenant, app, linted.draft())
                .await?;
            Ok(Imported {
                stored,
                lint: linted.lint,
            })
        })
        .await
    }

    /// Attaches a file to a copy of version `version`, stored as the app's next draft: a data
    /// file (`fruits.csv`, `shops.xml`: the rows `select_one_from_file` offers and `pulldata()`
    /// reads) or a media file (`pain.png`, `cough.mp3`, `walk.mp4`: what a label or a choice
    /// shows). A version under review or published never changes, and the reviewer sees the
    /// file in the next version's diff. A file of the same name is replaced. The answer is the
    /// new version with its lint, which no longer reports the file missing.
    pub async fn attach_file(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app: AppId,
        version: i64,
        file: &str,
        bytes: Vec<u8>,
    ) -> Result<Imported<hale_store::AppVersionRow>, CoreError> {
        let id = format!("{app}/{version}");
        let target = Target {
            tenant: Some(tenant),
            kind: "app_version",
            id: Some(&id),
        };
        self.audited::<crate::policy::BuildApps, _>(context, "app.version.attach", target, async {
            let row = self.visible_version(context, tenant, app, version).await?;
            let mut definition = stored_definition(&row.definition)?;
            let name = file.to_owned();
            let mut before = Vec::new();
            if let Some(media_type) = hale_forms::definition::media_type_of(file) {
                let (described, content) =
                    off_the_workers(move || read_media_file(media_type, &bytes)).await?;
                if !self
                    .store()
                    .has_app_media(tenant, &described.sha256)
                    .await?
                {
                    before.push(EventBody::MediaAttached {
                        sha256: described.sha256.clone(),
                        media_type: media_type.to_owned(),
                        content,
                    });
                }
                definition.media_files.insert(name, described);
            } else {
                let language = definition.default_language.clone();
                let rows = off_the_workers(move || {
                    hale_forms_io::xlsform::read_data_file(
                        &name,
                        &bytes,
                        &language,
                        &ImportLimits::default(),
                    )
                    .map_err(CoreError::InvalidSpreadsheet)
                })
                .await?;
                definition.data_files.insert(file.to_owned(), rows);
            }
            // The fields stay where they were, so the version's source still places them.
            let draft = DraftVersion {
                definition: definition.to_json(),
                source: recorded_source(&row),
            };
            let stored = self
                .draft_version_after(context, tenant, app, draft, before)
                .await?;
            let lint = stored_lint(&stored)?;
            Ok(Imported { stored, lint })
        })
        .await
    }

    /// A media file of a version as its reader may see it (patients and integrations reach
    /// published versions only): its media type and bytes. A name the version does not
    /// describe looks missing, as does a version the reader may not see.
    pub async fn media_file(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app: AppId,
        version: i64,
        file: &str,
    ) -> Result<MediaContent, CoreError> {
        let id = format!("{app}/{version}");
        let target = Target {
            tenant: Some(tenant),
            kind: "app_version",
            id: Some(&id),
        };
        self.audited::<crate::policy::ReadApps, _>(context, "app.version.media", target, async {
            let row = self.visible_version(context, tenant, app, version).await?;
            let definition = stored_definition(&row.definition)?;
            let described = definition
                .media_files
                .get(file)
                .ok_or(CoreError::NotFound)?;
            let (media_type, bytes) = self
                .store()
                .app_media(tenant, &described.sha256)
                .await?
                .ok_or_else(|| CoreError::internal("a version's media file is not kept"))?;
            Ok(MediaContent {
                media_type,
                sha256: described.sha256.clone(),
                bytes,
            })
        })
        .await
    }

    /// One version's definition, as Hale JSON or as a FHIR Questionnaire.
    pub async fn export_version(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app: AppId,
        version: i64,
        format: ExportFormat,
    ) -> Result<serde_json::Value, CoreError> {
        let id = format!("{app}/{version}");
        let target = Target {
            tenant: Some(tenant),
            kind: "app_version",
            id: Some(&id),
        };
        self.audited::<crate::policy::ReadApps, _>(context, "app.version.read", target, async {
            // One row, not the app's every version: a long-lived app has many.
            let row = self.visible_version(context, tenant, app, version).await?;
            let definition = stored_definition(&row.definition)?;
            Ok(match format {
                ExportFormat::Hale => serde_json::to_value(&definition)
                    .map_err(|_| CoreError::internal("a definition did not serialise"))?,
                ExportFormat::Questionnaire => hale_forms_io::questionnaire::export(&definition),
            })
        })
        .await
    }

    /// A version as its reviewer reads it: its workflow state and the lint report an approval
    /// is checked against, linted now, each warning with the id the approval acknowledges it by.
    /// Staff who review or author apps only.
    pub async fn review_version(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app: AppId,
        version: i64,
    ) -> Result<(hale_store::AppVersionRow, LintReport), CoreError> {
        let id = format!("{app}/{version}");
        let target = Target {
            tenant: Some(tenant),
            kind: "app_version",
            id: Some(&id),
        };
        self.audited::<crate::policy::LintApps, _>(context, "app.version.review", target, async {
            let row = self.visible_version(context, tenant, app, version).await?;
            let report = stored_lint(&row)?;
            Ok((row, report))
        })
        .await
    }

    /// What changed from one version to another, for review.
    pub async fn diff_versions(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        app: AppId,
        from: i64,
        to: i64,
    ) -> Result<Vec<Change>, CoreError> {
        let id = app.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "app",
            id: Some(&id),
        };
        self.audited::<crate::policy::DiffVersions, _>(context, "app.version.diff", target, async {
            let find = |version: i64| async move {
                self.store()
                    .app_version(tenant, app, version)
                    .await?
                    .ok_or(CoreError::NotFound)
                    .and_then(|row| stored_definition(&row.definition))
            };
            let (before, after) = (find(from).await?, find(to).await?);
            Ok(hale_forms::diff(&before, &after))
        })
        .await
    }
}

/// A definition as stored; it passed compile when drafted, so failure here means corruption.
pub(crate) fn stored_definition(text: &str) -> Result<AppDefinition, CoreError> {
    AppDefinition::from_json(text)
        .map_err(|_| CoreError::internal("a stored app definition no longer parses"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use hale_domain::{Principal, PrincipalId, Role};

    use super::*;

    fn caller(roles: Vec<Role>) -> RequestContext {
        let principal = Principal {
            id: PrincipalId::from_uuid(uuid::Uuid::nil()),
            tenant: None,
            roles,
            subject: None,
            kind: hale_domain::AccountKind::User,
            scopes: hale_domain::scope::Scopes::unrestricted(),
        };
        RequestContext::new(principal, String::from("test"), "test")
    }

    /// Magic numbers of each media type a version carries, as the sniffer knows them.
    const MAGIC: [(&str, &[u8]); 10] = [
        ("image/png", b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"),
        ("image/jpeg", b"\xff\xd8\xff\xe0\0\x10JFIF"),
        ("image/gif", b"GIF89a\x01\0\x01\0"),
        ("image/webp", b"RIFF\x24\0\0\0WEBPVP8 "),
        ("audio/mpeg", b"ID3\x04\0\0\0\0\0\0"),
        ("audio/ogg", b"OggS\0\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x1e\x01vorbis"),
        ("audio/wav", b"RIFF\x24\0\0\0WAVEfmt "),
        ("audio/mp4", b"\0\0\0\x20ftypM4A \0\0\0\0"),
        ("video/mp4", b"\0\0\0\x20ftypisom\0\0\x02\0"),
        ("video/webm", b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm"),
    ];

    #[test]
    fn a_media_file_is_its_own_type_by_its_bytes_and_no_other() {
        for (media_type, magic) in MAGIC {
            // A real file goes on after its header (the WebM sniffer reads 256 bytes).
            let magic = &[magic, &[0; 300]].concat();
            let (described, content) = read_media_file(media_type, magic).unwrap();
            assert_eq!(described.media_type, media_type);
            assert_eq!(described.size, magic.len() as u64);
            assert_eq!(described.sha256.len(), 64);
            use base64::Engine as _;
            assert_eq!(
                &base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .unwrap(),
                magic
            );
            for (other, _) in MAGIC {
                // An MP4 box holds sound as well as video; every other pair differs.
                if other == media_type || (media_type, other) == ("video/mp4", "audio/mp4") {
                    continue;
                }
                assert!(
                    read_media_file(other, magic).is_err(),
                    "{media_type} bytes taken as {other}"
                );
            }
        }
        // The bound admits exactly 16 MiB, as the messages say, and refuses one byte more by
        // its size (the bytes are a PNG's, so no other check refuses them).
        let png = |size: usize| {
            let mut bytes = MAGIC[0].1.to_vec();
            bytes.resize(size, 0);
            bytes
        };
        let largest = read_media_file("image/png", &png(16 * 1024 * 1024)).unwrap();
        assert_eq!(largest.0.size, 16 * 1024 * 1024);
        for refused in [png(16 * 1024 * 1024 + 1), Vec::new()] {
            let Err(CoreError::Invalid(errors)) = read_media_file("image/png", &refused) else {
                panic!("{} bytes are not refused as invalid", refused.len());
            };
            assert_eq!(errors[0].code, "invalid_media_file", "{errors:?}");
        }
        assert!(read_media_file("image/png", b"<svg onload=alert(1)>").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_as_any_media_type_are_read_or_refused_without_panicking(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            index in 0..MAGIC.len(),
            magic in proptest::prelude::any::<bool>(),
        ) {
            let (media_type, prefix) = MAGIC[index];
            let bytes = if magic { [prefix, &bytes].concat() } else { bytes };
            if let Ok((described, _)) = read_media_file(media_type, &bytes) {
                proptest::prop_assert_eq!(described.size, bytes.len() as u64);
                let sniffed = infer::get(&bytes).map(|kind| kind.mime_type()).unwrap_or("");
                proptest::prop_assert!(sniffed_as(media_type, sniffed));
            }
        }
    }

    #[test]
    fn lint_refuses_a_role_before_reading_the_upload() {
        // Bytes that do not parse: a 403 rather than a parse error shows the order.
        let source = AppSource::Xlsx(b"not a workbook".to_vec());
        for role in [
            Role::Patient,
            Role::Clinician,
            Role::Researcher,
            Role::Integration,
            Role::PlatformAdmin,
        ] {
            let refused = lint_source(&caller(vec![role]), &source).unwrap_err();
            assert!(
                matches!(refused, CoreError::Forbidden),
                "{role:?}: {refused:?}"
            );
        }
        for role in [Role::Analyst, Role::Reviewer, Role::TenantAdmin] {
            let read = lint_source(&caller(vec![role]), &source).unwrap_err();
            assert!(
                matches!(read, CoreError::InvalidSpreadsheet(_)),
                "{role:?}: {read:?}"
            );
        }
    }

    #[test]
    fn questionnaire_import_notes_are_lint_infos() {
        let resource = serde_json::json!({
            "resourceType": "Questionnaire",
            "name": "weight",
            "item": [{"linkId": "w", "type": "decimal", "text": "Weight",
                "definition": "http://example.org/Observation#Observation.value"}]
        });
        let source = AppSource::Questionnaire(resource);
        let report = lint_source(&caller(vec![Role::Analyst]), &source).unwrap();
        let codes: Vec<&str> = report.infos.iter().map(|info| info.code).collect();
        assert!(codes.contains(&"fhir_title_derived"), "{codes:?}");
        let dropped = report
            .infos
            .iter()
            .find(|info| info.code == "fhir_definition_dropped")
            .expect("the dropped definition is told");
        assert_eq!(dropped.severity, hale_forms::lint::Severity::Info);
        assert!(dropped.message.contains("'w'"), "{}", dropped.message);
        assert_eq!(dropped.link_id.as_deref(), Some("w"));
        assert!(report.errors.is_empty(), "{:?}", report.errors);
    }

    #[test]
    fn lint_findings_name_their_cell_or_link_id() {
        let csv = AppSource::Csv {
            survey: String::from(
                "type,name,label
text,why,Why
",
            ),
            choices: None,
            settings: None,
        };
        let report = lint_source(&caller(vec![Role::Analyst]), &csv).unwrap();
        assert_eq!(report.warnings[0].code, "free_text_without_purpose");
        // No purpose column: the row is named.
        assert_eq!(report.warnings[0].cell.as_deref(), Some("survey!2:2"));
        assert_eq!(report.warnings[0].link_id, None);
        let questionnaire = AppSource::Questionnaire(serde_json::json!({
            "resourceType": "Questionnaire", "title": "T",
            "item": [{"linkId": "why", "type": "string", "text": "Why"}]
        }));
        let report = lint_source(&caller(vec![Role::Analyst]), &questionnaire).unwrap();
        assert_eq!(report.warnings[0].link_id.as_deref(), Some("why"));
        assert_eq!(report.warnings[0].cell, None);
    }

    #[tokio::test]
    async fn parses_past_the_slots_are_told_to_retry_and_slots_come_back() {
        let held = PARSES.acquire_many(PARSE_SLOTS as u32).await.unwrap();
        let refused = off_the_workers(|| Ok(())).await.unwrap_err();
        assert!(matches!(refused, CoreError::Busy), "{refused:?}");
        assert_eq!(refused.code(), crate::ErrorCode::Busy);
        drop(held);
        off_the_workers(|| Ok(())).await.unwrap();
        let failed: Result<(), CoreError> = off_the_workers(|| Err(CoreError::NotFound)).await;
        assert!(matches!(failed, Err(CoreError::NotFound)));
        assert_eq!(PARSES.available_permits(), PARSE_SLOTS);
    }
}
