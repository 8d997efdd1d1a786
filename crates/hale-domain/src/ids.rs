//! Typed identifiers. Every id is a UUID on the wire and in storage, but the types keep a
//! subject id from ever being passed where a tenant id is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Declares a UUID-backed identifier type. Kept as a tiny macro because the id types differ
/// only in name; behaviour must stay identical across them.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId)
            }
        }
    };
}

/// A string that is not a valid identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid identifier")]
pub struct InvalidId;

uuid_id!(
    /// A customer organisation. All data belongs to exactly one tenant.
    TenantId
);
uuid_id!(
    /// A patient (FHIR `Patient`) within a tenant.
    SubjectId
);
uuid_id!(
    /// A health-check app; its definitions live in numbered versions.
    AppId
);
uuid_id!(
    /// One submission of answers against one published app version.
    SubmissionId
);
uuid_id!(
    /// A user or machine client acting on Hale.
    PrincipalId
);
uuid_id!(
    /// One app assigned to one subject on a schedule.
    AssignmentId
);

impl TenantId {
    /// The platform itself: tenant creation and other platform-level events live in this chain.
    pub const PLATFORM: TenantId = TenantId(Uuid::nil());
}
