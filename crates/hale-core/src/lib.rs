//! Hale's use cases. Every command and query takes a [`RequestContext`] (who, for which
//! purpose, which request) and nothing about the transport: REST today, GraphQL and FHIR later
//! are thin mappings over the same calls.
//!
//! The core is the only path to PHI. It decides authorization (tenant isolation first, then
//! role, then ownership for patients), answers "missing" and "not yours" alike, and writes an
//! audit record for every call on both outcomes through one wrapper, [`Core::audited`].

mod app_io;
mod apps;
mod assignments;
mod auth;
mod error;
mod external;
mod home;
pub mod policy;
mod subjects;
mod submissions;
mod tenants;
mod text;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

use hale_domain::{Clock, Principal, RequestContext, Role, SubjectId, TenantId, Timestamp};
use hale_forms::CompiledForm;
use hale_store::Store;

pub use app_io::{
    AppSource, ExportFormat, Imported, MAX_MEDIA_BYTES, MediaContent, VersionSource, lint_source,
    read_definition, uploads_being_parsed,
};
pub use apps::{AppSummary, DraftVersion, StepNote, VersionPage, VersionStep};
pub use assignments::NewAssignment;
pub use auth::{
    AccountSummary, ApiKeySummary, Argon2Settings, AuthSettings, CreatedAccount, Credential,
    ExternalIdentity, IssueToken, IssuedKey, IssuedToken, MFA_ROLES, MfaCoverage, MfaOffer,
    NewAccount, NewApiKey, NewSession, Secret, SignIn, token_hash,
};
pub use error::{CoreError, ErrorCode};
pub use external::{ClaimMapping, ClaimMappingConfig, ProviderClaims};
pub use home::{
    HISTORY_DAYS, HISTORY_LIMIT, Home, HomeAssignment, OVERVIEW_LIMIT, PatientOverview,
    PublishedApp,
};
pub use subjects::RegisterSubject;
pub use submissions::{DEFAULT_PAGE_SIZE, Listing, MAX_PAGE_SIZE, SubmitAnswers, Submitted};

pub use hale_store::{
    AppRow, AppVersionRow, AssignmentRow, LatestObservation, News2Row, ObservationRow, Page,
    PatientRow, SubjectRow, SubmissionRow, TenantRow, TimeRange,
};

/// Generates identifiers and secrets; injected so tests can make them predictable.
pub trait Randomness: Send + Sync + 'static {
    fn uuid(&self) -> uuid::Uuid;
    fn secret_bytes(&self) -> [u8; 32];
}

/// Operating-system randomness; UUIDv7 ids so that new rows land at the end of indexes.
pub struct SystemRandomness;

impl Randomness for SystemRandomness {
    fn uuid(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
    fn secret_bytes(&self) -> [u8; 32] {
        rand::random()
    }
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_micros() as i64)
            .unwrap_or(0);
        Timestamp::from_micros(micros)
    }
}

/// What an audited call touched: ids only, never PHI.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub tenant: Option<TenantId>,
    pub kind: &'static str,
    pub id: Option<&'a str>,
}

/// Entries kept in each in-memory cache before it is cleared; bounds memory whatever the load.
const CACHE_LIMIT: usize = 50_000;

/// The use cases, over one store. Cheap to clone.
#[derive(Clone)]
pub struct Core {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    randomness: Arc<dyn Randomness>,
    /// Published versions never change, so their compiled forms are cached for good.
    forms: RwLock<HashMap<(TenantId, hale_domain::AppId, i64), Arc<CompiledForm>>>,
    /// Subjects known to exist (subjects are never deleted before erasure lands).
    subjects: RwLock<HashMap<(TenantId, SubjectId), ()>>,
    auth: auth::Authenticator,
}

impl Core {
    /// A core with the default sign-in settings.
    pub fn new(store: Store, clock: Arc<dyn Clock>, randomness: Arc<dyn Randomness>) -> Self {
        Self::configured(store, clock, randomness, AuthSettings::default())
            .unwrap_or_else(|_| unreachable!("the default Argon2 parameters are valid"))
    }

    /// A core with these sign-in settings; refuses Argon2 parameters out of range.
    pub fn configured(
        store: Store,
        clock: Arc<dyn Clock>,
        randomness: Arc<dyn Randomness>,
        auth: AuthSettings,
    ) -> Result<Self, CoreError> {
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                clock,
                randomness,
                forms: RwLock::default(),
                subjects: RwLock::default(),
                auth: auth::Authenticator::new(auth)?,
            }),
        })
    }

    /// A core on the system clock and operating-system randomness.
    pub fn with_system(store: Store) -> Self {
        Self::new(store, Arc::new(SystemClock), Arc::new(SystemRandomness))
    }

    /// A request context for a caller not yet authenticated (sign-in, invitations).
    pub fn anonymous(request_id: String, channel: &'static str) -> RequestContext {
        RequestContext::new(
            Principal {
                id: hale_domain::PrincipalId::from_uuid(uuid::Uuid::nil()),
                tenant: None,
                roles: Vec::new(),
                subject: None,
                kind: hale_domain::AccountKind::User,
                scopes: hale_domain::scope::Scopes::unrestricted(),
            },
            request_id,
            channel,
        )
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The core's clock (tests set it).
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub(crate) fn new_uuid(&self) -> uuid::Uuid {
        self.inner.randomness.uuid()
    }

    /// Runs one use case and records its outcome, success or failure, in the audit trail.
    /// Every public command and query goes through here.
    /// The policy `P` is checked first (roles, then the credential's scopes); `work` runs only
    /// when it admits the caller.
    pub(crate) async fn audited<P: policy::Policy, T>(
        &self,
        context: &RequestContext,
        action: &'static str,
        target: Target<'_>,
        work: impl Future<Output = Result<T, CoreError>>,
    ) -> Result<T, CoreError> {
        let result = match policy::permit::<P>(&context.principal) {
            Ok(()) => work.await,
            Err(refused) => Err(refused),
        };
        let outcome = match &result {
            Ok(_) => "success",
            Err(error) => error.code().as_str(),
        };
        record_audit(context, action, target, outcome);
        result
    }

    /// Finds the tenant a request names (by id or slug) and checks the caller belongs to it.
    /// A tenant the caller may not see is reported as missing. Audited like every use case: the
    /// record names the tenant the reference resolved to (never the reference text, which the
    /// client wrote), so attempts on another tenant show in the trail.
    pub async fn resolve_tenant(
        &self,
        context: &RequestContext,
        reference: &str,
    ) -> Result<TenantId, CoreError> {
        let named = match reference.parse::<TenantId>() {
            Ok(id) => self
                .store()
                .tenant(id)
                .await
                .map(|row| row.map(|row| row.id)),
            Err(_) => self
                .store()
                .tenant_by_slug(reference)
                .await
                .map(|row| row.map(|row| row.id)),
        };
        let target = Target {
            tenant: named.as_ref().ok().copied().flatten(),
            kind: "tenant",
            id: None,
        };
        self.audited::<policy::ResolveTenant, _>(context, "tenant.resolve", target, async move {
            match named? {
                Some(id) if context.principal.belongs_to(id) && id != TenantId::PLATFORM => Ok(id),
                _ => Err(CoreError::NotFound),
            }
        })
        .await
    }
}

/// Writes one audit record. Every field is a string value, never `Display` text spliced into
/// the line: the text formatter quotes and escapes it, the JSON formatter writes a JSON string,
/// so no content (a request id, say) can end the record or forge another field or record.
fn record_audit(context: &RequestContext, action: &str, target: Target<'_>, outcome: &str) {
    let tenant = target.tenant.map(|tenant| tenant.to_string());
    tracing::info!(
        target: "hale::audit",
        request_id = context.request_id.as_str(),
        actor = context.principal.id.to_string().as_str(),
        channel = context.channel,
        purpose = context.purpose.as_str(),
        action,
        tenant = tenant.as_deref().unwrap_or(""),
        resource = target.kind,
        resource_id = target.id.unwrap_or(""),
        outcome,
    );
}

/// A patient reaches only their own subject; anyone else with the role reaches all of the
/// tenant's. A subject that is not the patient's own is reported as missing.
pub(crate) fn require_subject_access(
    principal: &Principal,
    subject: SubjectId,
) -> Result<(), CoreError> {
    let staff = [
        Role::PlatformAdmin,
        Role::TenantAdmin,
        Role::Clinician,
        Role::Integration,
    ];
    if principal.has_any_role(&staff) {
        return Ok(());
    }
    if principal.has_role(Role::Patient) && principal.subject == Some(subject) {
        return Ok(());
    }
    Err(CoreError::NotFound)
}

/// Remembers a value in a bounded cache.
pub(crate) fn remember<K: std::hash::Hash + Eq, V>(
    cache: &RwLock<HashMap<K, V>>,
    key: K,
    value: V,
) {
    if let Ok(mut map) = cache.write() {
        if map.len() >= CACHE_LIMIT {
            map.clear();
        }
        map.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use hale_domain::PrincipalId;

    use super::*;

    fn principal(roles: &[Role], subject: Option<u128>) -> Principal {
        Principal {
            id: PrincipalId::from_uuid(uuid::Uuid::from_u128(1)),
            tenant: Some(TenantId::from_uuid(uuid::Uuid::from_u128(2))),
            roles: roles.to_vec(),
            subject: subject.map(|n| SubjectId::from_uuid(uuid::Uuid::from_u128(n))),
            kind: hale_domain::AccountKind::User,
            scopes: hale_domain::scope::Scopes::unrestricted(),
        }
    }

    fn subject(n: u128) -> SubjectId {
        SubjectId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn a_patient_reaches_only_their_own_subject_and_others_look_missing() {
        let patient = principal(&[Role::Patient], Some(7));
        assert!(require_subject_access(&patient, subject(7)).is_ok());
        assert!(matches!(
            require_subject_access(&patient, subject(8)),
            Err(CoreError::NotFound)
        ));
    }

    #[test]
    fn staff_roles_reach_every_subject_of_their_tenant_and_others_do_not() {
        for role in [
            Role::TenantAdmin,
            Role::Clinician,
            Role::Integration,
            Role::PlatformAdmin,
        ] {
            assert!(
                require_subject_access(&principal(&[role], None), subject(9)).is_ok(),
                "{role}"
            );
        }
        for role in [Role::Analyst, Role::Reviewer, Role::Researcher] {
            assert!(
                require_subject_access(&principal(&[role], None), subject(9)).is_err(),
                "{role}"
            );
        }
    }

    #[test]
    fn roles_are_required_and_platform_admins_administer_but_reach_no_care_data() {
        use policy::{
            BuildApps, ListObservations, ManageAccounts, ManageTenants, StepVersions, permit,
        };
        let analyst = principal(&[Role::Analyst], None);
        assert!(permit::<BuildApps>(&analyst).is_ok());
        let clinician = principal(&[Role::Clinician], None);
        assert!(matches!(
            permit::<BuildApps>(&clinician),
            Err(CoreError::Forbidden)
        ));
        let platform = principal(&[Role::PlatformAdmin], None);
        assert!(permit::<ManageTenants>(&platform).is_ok());
        assert!(permit::<ManageAccounts>(&platform).is_ok());
        assert!(permit::<StepVersions>(&platform).is_err());
        assert!(permit::<ListObservations>(&platform).is_err());
        assert!(permit::<ManageAccounts>(&principal(&[Role::TenantAdmin], None)).is_ok());
        assert!(matches!(
            permit::<ManageTenants>(&analyst),
            Err(CoreError::Forbidden)
        ));
    }

    #[test]
    fn scopes_narrow_a_role_and_never_widen_it() {
        use hale_domain::scope::Scopes;
        use policy::{BuildApps, ListObservations, ManageAccounts, Submit, permit};
        let scoped = |roles: &[Role], scopes: &str| {
            let mut principal = principal(roles, Some(7));
            principal.scopes = Scopes::parse(scopes).unwrap_or_else(|_| Scopes::unrestricted());
            principal
        };
        let patient = scoped(&[Role::Patient], "patient/Observation.rs");
        assert!(permit::<ListObservations>(&patient).is_ok());
        assert!(matches!(
            permit::<Submit>(&patient),
            Err(CoreError::Forbidden)
        ));
        // A user/ scope does not reach a patient's compartment, nor the reverse.
        let patient = scoped(&[Role::Patient], "user/*.cruds");
        assert!(matches!(
            permit::<Submit>(&patient),
            Err(CoreError::Forbidden)
        ));
        // A wide scope gives no role: an analyst's key cannot submit whatever its scopes.
        let analyst = scoped(&[Role::Analyst], "user/*.cruds");
        assert!(matches!(
            permit::<Submit>(&analyst),
            Err(CoreError::Forbidden)
        ));
        assert!(permit::<BuildApps>(&analyst).is_ok());
        // Administration needs a scope over every resource.
        let admin = scoped(&[Role::TenantAdmin], "user/Patient.cruds");
        assert!(matches!(
            permit::<ManageAccounts>(&admin),
            Err(CoreError::Forbidden)
        ));
        let admin = scoped(&[Role::TenantAdmin], "user/*.u");
        assert!(permit::<ManageAccounts>(&admin).is_ok());
    }

    /// A writer into a shared buffer, for capturing log output.
    #[derive(Clone, Default)]
    struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    /// The audit output of one record, in text or JSON.
    fn audit_output(context: &RequestContext, json: bool) -> String {
        let buffer = Buffer::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .with_ansi(false);
        let record = || {
            record_audit(
                context,
                "subject.read",
                Target {
                    tenant: Some(TenantId::from_uuid(uuid::Uuid::from_u128(2))),
                    kind: "subject",
                    id: Some("3"),
                },
                "not_found",
            )
        };
        if json {
            tracing::subscriber::with_default(builder.json().finish(), record);
        } else {
            tracing::subscriber::with_default(builder.finish(), record);
        }
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn content_cannot_forge_an_audit_line_or_field() {
        let mut context =
            RequestContext::new(principal(&[Role::Patient], Some(7)), "r".into(), "rest");
        let victim = "00000000-0000-0000-0000-0000000000aa";
        // Past the edge's own check, as any future channel might pass it.
        context.request_id = format!(
            "x actor={victim} outcome=success\n2026-12-01T00:00:00Z  INFO hale::audit: actor={victim} action=\"subject.erase\""
        );
        let actor = context.principal.id.to_string();

        let text = audit_output(&context, false);
        assert_eq!(text.lines().count(), 1, "{text}");
        // The hostile text stays inside the quoted request id; outside it, the one actor is
        // the real one.
        let quoted = format!("request_id={:?}", context.request_id);
        assert!(text.contains(&quoted), "{text}");
        let rest = text.replace(&quoted, "");
        assert!(rest.contains(&format!(" actor=\"{actor}\" ")), "{text}");
        assert!(!rest.contains(victim), "{text}");

        let json = audit_output(&context, true);
        assert_eq!(json.lines().count(), 1, "{json}");
        let record: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        assert_eq!(record["target"], "hale::audit");
        assert_eq!(record["fields"]["actor"], actor.as_str());
        assert_eq!(record["fields"]["request_id"], context.request_id.as_str());
        assert_eq!(record["fields"]["outcome"], "not_found");
        assert_eq!(
            record["fields"]["tenant"],
            uuid::Uuid::from_u128(2).to_string()
        );
    }

    #[test]
    fn caches_stay_bounded() {
        let cache: RwLock<HashMap<u32, ()>> = RwLock::default();
        for key in 0..(CACHE_LIMIT as u32 + 10) {
            remember(&cache, key, ());
        }
        assert!(cache.read().map(|map| map.len()).unwrap_or(usize::MAX) <= CACHE_LIMIT);
    }
}
