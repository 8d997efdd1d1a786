//! The permission each use case needs, as a type. [`Core::audited`](crate::Core) — the one
//! wrapper every public use case runs in — takes a policy type argument and checks it before
//! the use case's work starts: the caller's roles first, then the SMART scopes of the
//! credential it presented. A use case cannot be written without naming its policy (the
//! wrapper has no other form), so an omitted check does not compile; what a policy allows is
//! read in one place, this file.
//!
//! Finer rules stay in the use cases, after the policy: tenant membership (`belongs_to`),
//! a patient's own subject (`require_subject_access`), the review workflow's author ≠
//! approver, and who may see drafts.

use std::marker::PhantomData;

use hale_domain::scope::{Interaction, ResourceType};
use hale_domain::{Principal, Role};

use crate::CoreError;

/// Which roles a policy admits. Platform administrators run the platform (tenants,
/// accounts), not care: they are admitted to administration, never to a tenant's health data
/// or apps by that role alone.
#[derive(Clone, Copy, Debug)]
pub enum Roles {
    /// Anyone, authenticated or not: the use case decides (sign-in, one's own account).
    Anyone,
    /// Platform administrators only.
    Platform,
    /// Platform administrators, and holders of any of these roles.
    Administration(&'static [Role]),
    /// Holders of any of these roles.
    AnyOf(&'static [Role]),
}

/// What a credential's scopes must grant.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// Nothing: the action touches no FHIR resource and no one else's data.
    Nothing,
    /// The interaction on this FHIR resource type.
    Resource(ResourceType, Interaction),
    /// The interaction on every resource (`*`): administration, which has no FHIR resource
    /// of its own, is open only to credentials that are not narrowed to some resources.
    Administration(Interaction),
}

/// A permission: the roles it admits and the scope it needs.
pub trait Policy {
    const ROLES: Roles;
    const NEED: Need;
}

/// Checks `P` for `principal`: roles (a role the caller lacks is 403), then scopes (a scope
/// the credential lacks is 403 as well).
pub(crate) fn permit<P: Policy>(principal: &Principal) -> Result<(), CoreError> {
    let admitted = match P::ROLES {
        Roles::Anyone => true,
        Roles::Platform => principal.has_role(Role::PlatformAdmin),
        Roles::Administration(roles) => {
            principal.has_role(Role::PlatformAdmin) || principal.has_any_role(roles)
        }
        Roles::AnyOf(roles) => principal.has_any_role(roles),
    };
    if !admitted {
        return Err(CoreError::Forbidden);
    }
    let context = principal.scope_context();
    let granted = match P::NEED {
        Need::Nothing => true,
        Need::Resource(resource, interaction) => {
            principal.scopes.permits(context, resource, interaction)
        }
        Need::Administration(interaction) => {
            principal.scopes.permits_any_resource(context, interaction)
        }
    };
    if granted {
        Ok(())
    } else {
        Err(CoreError::Forbidden)
    }
}

/// `P`, open to platform administrators only.
pub struct Platform<P>(PhantomData<P>);

impl<P: Policy> Policy for Platform<P> {
    const ROLES: Roles = Roles::Platform;
    const NEED: Need = P::NEED;
}

macro_rules! policies {
    ($($(#[$doc:meta])* $name:ident: $roles:expr, $need:expr;)*) => {
        $(
            $(#[$doc])*
            pub struct $name;
            impl Policy for $name {
                const ROLES: Roles = $roles;
                const NEED: Need = $need;
            }
        )*
    };
}

use Interaction::{Create, Read, Search, Update};
use ResourceType::{Observation, Patient, Questionnaire, QuestionnaireResponse};
use Role::{Analyst, Clinician, Integration, Researcher, Reviewer, TenantAdmin};

/// Staff who build, review or run apps.
pub(crate) const APP_STAFF: &[Role] = &[TenantAdmin, Analyst, Reviewer, Clinician, Researcher];

policies! {
    /// Sign-in, invitations, one's own second factor, sessions and keys: the use case checks
    /// whose account it is.
    Anyone: Roles::Anyone, Need::Nothing;
    /// Tenant resolution: membership is checked by the use case.
    ResolveTenant: Roles::Anyone, Need::Nothing;
    ManageTenants: Roles::Platform, Need::Administration(Create);
    /// The platform's security posture: no tenant's data, only counts and settings.
    ReadPosture: Roles::Platform, Need::Administration(Read);
    /// Tenants: each caller sees only the ones it belongs to (the use case filters).
    ListTenants: Roles::Anyone, Need::Nothing;
    /// Accounts and their keys, within the administrator's tenant.
    ManageAccounts: Roles::Administration(&[TenantAdmin]), Need::Administration(Update);
    RegisterSubjects: Roles::AnyOf(&[TenantAdmin, Clinician, Integration]),
        Need::Resource(Patient, Create);
    /// One subject: a patient reaches only their own (checked by the use case).
    ReadSubject: Roles::AnyOf(&[TenantAdmin, Clinician, Integration, Role::Patient]),
        Need::Resource(Patient, Read);
    ListSubjects: Roles::AnyOf(&[TenantAdmin, Clinician, Integration]),
        Need::Resource(Patient, Search);
    BuildApps: Roles::AnyOf(&[Analyst, TenantAdmin]), Need::Resource(Questionnaire, Create);
    LintApps: Roles::AnyOf(&[Analyst, Reviewer, TenantAdmin]), Need::Resource(Questionnaire, Read);
    /// Submit, approve, reject, retire: which role may take which step is the workflow's.
    StepVersions: Roles::AnyOf(APP_STAFF), Need::Resource(Questionnaire, Update);
    /// Apps and their versions; patients and integrations see published ones only.
    ReadApps: Roles::AnyOf(&[
        TenantAdmin, Analyst, Reviewer, Clinician, Researcher, Integration, Role::Patient,
    ]), Need::Resource(Questionnaire, Read);
    ListApps: Roles::AnyOf(&[
        TenantAdmin, Analyst, Reviewer, Clinician, Researcher, Integration, Role::Patient,
    ]), Need::Resource(Questionnaire, Search);
    /// Definitions side by side: staff only.
    DiffVersions: Roles::AnyOf(APP_STAFF), Need::Resource(Questionnaire, Read);
    Submit: Roles::AnyOf(&[TenantAdmin, Clinician, Integration, Role::Patient]),
        Need::Resource(QuestionnaireResponse, Create);
    ReadSubmissions: Roles::AnyOf(&[TenantAdmin, Clinician, Integration, Role::Patient]),
        Need::Resource(QuestionnaireResponse, Read);
    ListSubmissions: Roles::AnyOf(&[TenantAdmin, Clinician, Integration, Role::Patient]),
        Need::Resource(QuestionnaireResponse, Search);
    ListObservations: Roles::AnyOf(&[TenantAdmin, Clinician, Integration, Role::Patient]),
        Need::Resource(Observation, Search);
    /// Asking a subject to fill in an app changes their care: clinicians and administrators.
    Assign: Roles::AnyOf(&[TenantAdmin, Clinician]), Need::Resource(Patient, Update);
    /// A patient sees their own assignments through their home, never through this.
    ListAssignments: Roles::AnyOf(&[TenantAdmin, Clinician]), Need::Resource(Patient, Read);
    EndAssignment: Roles::AnyOf(&[TenantAdmin, Clinician]), Need::Resource(Patient, Update);
    /// A patient's own home: their assignments, the apps to fill in, their recent readings.
    ReadHome: Roles::AnyOf(&[Role::Patient]), Need::Resource(Observation, Read);
    /// Every patient's newest readings; the use case also needs `ListSubjects` for the names.
    ReadPatientOverview: Roles::AnyOf(&[TenantAdmin, Clinician]),
        Need::Resource(Observation, Search);
}
