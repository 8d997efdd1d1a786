//! Who is acting, for which tenant, for what purpose: the context every command and query
//! receives. The transport (REST today; GraphQL and FHIR later) builds it; the core decides
//! with it. How a principal is authenticated is the gateway's business, not what it is.

use std::fmt;
use std::str::FromStr;

use crate::ids::{PrincipalId, SubjectId, TenantId};
use crate::scope::{ScopeContext, Scopes};

/// A role a principal holds within its tenant (or on the platform, for `PlatformAdmin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    PlatformAdmin,
    TenantAdmin,
    Analyst,
    Reviewer,
    Clinician,
    Researcher,
    Patient,
    Integration,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::PlatformAdmin,
        Role::TenantAdmin,
        Role::Analyst,
        Role::Reviewer,
        Role::Clinician,
        Role::Researcher,
        Role::Patient,
        Role::Integration,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform-admin",
            Role::TenantAdmin => "tenant-admin",
            Role::Analyst => "analyst",
            Role::Reviewer => "reviewer",
            Role::Clinician => "clinician",
            Role::Researcher => "researcher",
            Role::Patient => "patient",
            Role::Integration => "integration",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name Hale does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role (expected one of platform-admin, tenant-admin, analyst, reviewer, clinician, researcher, patient, integration)"
)]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or(UnknownRole)
    }
}

/// Whether an account is a person or a machine client. One person is one account, whatever
/// credential they present (password session, API key, a token from their identity provider),
/// so separation of duties holds across credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccountKind {
    User,
    Integration,
}

impl AccountKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Integration => "integration",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [AccountKind::User, AccountKind::Integration]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// An authenticated actor: the account behind the credential, and what the credential allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The account's id: the same for every credential of one person or integration.
    pub id: PrincipalId,
    /// `None` only for platform administrators, who act across tenants.
    pub tenant: Option<TenantId>,
    pub roles: Vec<Role>,
    /// For a patient: the subject record that is theirs.
    pub subject: Option<SubjectId>,
    pub kind: AccountKind,
    /// What the credential was granted (SMART scopes): narrows the roles, never widens them.
    pub scopes: Scopes,
}

impl Principal {
    /// The SMART context this principal's scopes are read in: a patient acts on their own
    /// compartment, an integration as a system, anyone else as a user.
    pub fn scope_context(&self) -> ScopeContext {
        if self.has_role(Role::Patient) {
            ScopeContext::Patient
        } else if self.kind == AccountKind::Integration {
            ScopeContext::System
        } else {
            ScopeContext::User
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn has_any_role(&self, roles: &[Role]) -> bool {
        roles.iter().any(|role| self.has_role(*role))
    }

    /// Whether this principal may act inside `tenant` at all (before any role check).
    pub fn belongs_to(&self, tenant: TenantId) -> bool {
        self.has_role(Role::PlatformAdmin) || self.tenant == Some(tenant)
    }
}

/// Why data is being accessed (HL7 v3 PurposeOfUse, the subset Hale uses). Recorded with every
/// audited access; research purposes will later be limited to de-identified data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// TREAT: care of the patient.
    Treatment,
    /// HOPERAT: running the service (administration, app building, review).
    Operations,
    /// PATRQT: the patient acting on their own record.
    PatientRequest,
    /// HRESCH: research.
    Research,
}

impl Purpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::Treatment => "TREAT",
            Purpose::Operations => "HOPERAT",
            Purpose::PatientRequest => "PATRQT",
            Purpose::Research => "HRESCH",
        }
    }

    /// The purpose a principal acts for when the request does not say.
    pub fn default_for(principal: &Principal) -> Purpose {
        if principal.has_role(Role::Patient) {
            Purpose::PatientRequest
        } else if principal.has_any_role(&[Role::Clinician, Role::Integration]) {
            Purpose::Treatment
        } else if principal.has_role(Role::Researcher) {
            Purpose::Research
        } else {
            Purpose::Operations
        }
    }
}

/// Whether a request id, chosen by a client or a proxy, is one Hale keeps: 1 to 64 of
/// `A-Z a-z 0-9 . _ -` (a UUID is one). Anything else could smuggle separators, quotes or
/// line breaks into the logs and audit records that quote it.
pub fn is_well_formed_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// Everything the core needs to know about the request in front of it, and nothing about how
/// it arrived.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub principal: Principal,
    pub purpose: Purpose,
    /// Correlates logs, audit entries and the client's view of one request. Always
    /// [`is_well_formed_request_id`]: a malformed one is replaced by `-`.
    pub request_id: String,
    /// Which front door the request came through ("rest", "cli", …); recorded, never decided on.
    pub channel: &'static str,
}

impl RequestContext {
    pub fn new(principal: Principal, request_id: String, channel: &'static str) -> Self {
        let purpose = Purpose::default_for(&principal);
        let request_id = if is_well_formed_request_id(request_id.as_bytes()) {
            request_id
        } else {
            String::from("-")
        };
        Self {
            principal,
            purpose,
            request_id,
            channel,
        }
    }

    /// The actor as recorded in events and audit entries.
    pub fn actor(&self) -> String {
        self.principal.id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_request_ids_are_kept() {
        let principal = Principal {
            id: crate::PrincipalId::from_uuid(uuid::Uuid::nil()),
            tenant: None,
            roles: vec![],
            subject: None,
            kind: crate::AccountKind::User,
            scopes: crate::scope::Scopes::unrestricted(),
        };
        let context =
            |id: &str| RequestContext::new(principal.clone(), id.into(), "test").request_id;
        assert_eq!(
            context("0b5f8d7e-8c2a-4f7e-9a51-3f2d1c0b9a88"),
            "0b5f8d7e-8c2a-4f7e-9a51-3f2d1c0b9a88"
        );
        assert_eq!(context("req_1.a-B"), "req_1.a-B");
        for hostile in ["", "a b", "x\nactor=1", "a\"b", "é", &"x".repeat(65)] {
            assert_eq!(context(hostile), "-", "{hostile:?}");
        }
    }

    #[test]
    fn every_role_name_parses_back() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole));
    }

    #[test]
    fn only_platform_admins_cross_tenants() {
        let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(7));
        let other = TenantId::from_uuid(uuid::Uuid::from_u128(8));
        let clinician = Principal {
            id: PrincipalId::from_uuid(uuid::Uuid::from_u128(1)),
            tenant: Some(tenant),
            roles: vec![Role::Clinician],
            subject: None,
            kind: crate::AccountKind::User,
            scopes: crate::scope::Scopes::unrestricted(),
        };
        assert!(clinician.belongs_to(tenant));
        assert!(!clinician.belongs_to(other));
        let admin = Principal {
            tenant: None,
            roles: vec![Role::PlatformAdmin],
            ..clinician
        };
        assert!(admin.belongs_to(other));
    }
}
