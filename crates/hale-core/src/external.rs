//! How an OpenID provider's claims become a Hale identity: which claim names the person, which
//! carries their groups or app roles and what each value means in Hale, which tenant the
//! provider's people belong to, and whether it vouches for a second factor. Pure: the edge
//! verifies the token, this maps what it says.

use std::collections::BTreeMap;

use hale_domain::event::Identifier;
use hale_domain::scope::Scopes;
use hale_domain::{AccountKind, Role, TenantId, Timestamp};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::CoreError;
use crate::auth::ExternalIdentity;

/// Values of `amr` (RFC 8176) that show a second factor or a phishing-resistant method.
const SECOND_FACTOR_METHODS: [&str; 5] = ["mfa", "otp", "hwk", "sc", "swk"];

/// The longest claim value taken as a subject or a display name.
const MAX_CLAIM_CHARS: usize = 255;

/// A provider's claim mapping as written in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMappingConfig {
    /// The tenant (slug) whose accounts the provider's people become.
    pub tenant: String,
    /// The claim that identifies a person for good (`sub`; Entra ID's `oid`).
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// The claim holding groups or app roles: an array of strings, or one space-separated
    /// string.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Claim value → the Hale roles it grants. Values with no entry grant nothing.
    #[serde(default)]
    pub role_map: BTreeMap<String, Vec<String>>,
    /// Client id → the roles of a token a client got for itself (client credentials: its
    /// `sub` is its `client_id`). Such a token is an integration's, never a person's.
    #[serde(default)]
    pub client_roles: BTreeMap<String, Vec<String>>,
    /// The provider enforces a second factor for everyone it signs in (say, a conditional
    /// access policy), so roles that need one apply without `amr` showing it.
    #[serde(default)]
    pub provider_enforces_mfa: bool,
    /// Where the claims name a patient's own record: a person the provider maps to the
    /// patient role acts for the subject registered with this identifier.
    #[serde(default)]
    pub patient_identifier: Option<PatientIdentifierConfig>,
}

/// The claim that carries a patient's identifier (say, their MRN) and the identifier system
/// it belongs to (as subjects are registered with it).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientIdentifierConfig {
    pub claim: String,
    pub system: String,
}

fn default_subject_claim() -> String {
    String::from("sub")
}

fn default_roles_claim() -> String {
    String::from("roles")
}

/// A checked mapping, bound to its tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMapping {
    pub tenant: TenantId,
    subject_claim: String,
    roles_claim: String,
    role_map: BTreeMap<String, Vec<Role>>,
    client_roles: BTreeMap<String, Vec<Role>>,
    provider_enforces_mfa: bool,
    patient_identifier: Option<PatientIdentifierConfig>,
}

/// What a verified token or ID token says, as the mapping needs it.
#[derive(Clone, Copy, Debug)]
pub struct ProviderClaims<'a> {
    pub issuer: &'a str,
    pub claims: &'a Map<String, Value>,
    /// The token's `scope`, for access tokens; `None` for an ID token.
    pub scope: Option<&'a str>,
    pub issued_at: Option<i64>,
}

impl ClaimMapping {
    /// Checks the configuration: every mapped role exists, and none is platform-admin.
    pub fn new(config: &ClaimMappingConfig, tenant: TenantId) -> Result<Self, String> {
        let role_map = checked_roles("role_map", &config.role_map)?;
        let client_roles = checked_roles("client_roles", &config.client_roles)?;
        let patient_claim = config
            .patient_identifier
            .as_ref()
            .map(|patient| ("patient_identifier.claim", &patient.claim));
        for (what, claim) in [
            ("subject_claim", &config.subject_claim),
            ("roles_claim", &config.roles_claim),
        ]
        .into_iter()
        .chain(patient_claim)
        {
            if claim.is_empty() || claim.len() > 64 {
                return Err(format!("{what} must name a claim"));
            }
        }
        if config
            .patient_identifier
            .as_ref()
            .is_some_and(|patient| patient.system.trim().is_empty())
        {
            return Err(String::from(
                "patient_identifier.system must name the identifier system",
            ));
        }
        Ok(Self {
            tenant,
            subject_claim: config.subject_claim.clone(),
            roles_claim: config.roles_claim.clone(),
            role_map,
            client_roles,
            provider_enforces_mfa: config.provider_enforces_mfa,
            patient_identifier: config.patient_identifier.clone(),
        })
    }

    /// The identity the claims describe. A token without its subject claim, or whose SMART
    /// scopes do not parse, identifies no one (`Unauthenticated`).
    pub fn identity(&self, token: ProviderClaims<'_>) -> Result<ExternalIdentity, CoreError> {
        let subject =
            short_text(token.claims.get(&self.subject_claim)).ok_or(CoreError::Unauthenticated)?;
        let client = token.claims.get("client_id").and_then(Value::as_str);
        let integration = client.is_some_and(|client| client == subject);
        let mut roles: Vec<Role> = Vec::new();
        let granted = if integration {
            client
                .and_then(|client| self.client_roles.get(client))
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
        } else {
            claim_values(token.claims.get(&self.roles_claim))
                .filter_map(|value| self.role_map.get(value))
                .flatten()
                .collect()
        };
        for role in granted {
            if !roles.contains(role) {
                roles.push(*role);
            }
        }
        let scopes = smart_scopes(token.scope)?;
        let display_name = ["name", "preferred_username", "email"]
            .iter()
            .find_map(|claim| short_text(token.claims.get(*claim)))
            .unwrap_or_default();
        // Only a patient's claims name their record: a clinician's MRN claim, say, is not one.
        let patient_identifier = self
            .patient_identifier
            .as_ref()
            .filter(|_| !integration && roles.contains(&Role::Patient))
            .and_then(|patient| {
                short_text(token.claims.get(&patient.claim)).map(|value| Identifier {
                    system: patient.system.clone(),
                    value,
                })
            });
        let mfa = self.provider_enforces_mfa
            || claim_values(token.claims.get("amr"))
                .any(|method| SECOND_FACTOR_METHODS.contains(&method));
        Ok(ExternalIdentity {
            kind: if integration {
                AccountKind::Integration
            } else {
                AccountKind::User
            },
            issuer: token.issuer.to_owned(),
            subject,
            tenant: self.tenant,
            roles,
            scopes,
            issued_at: token
                .issued_at
                .and_then(|seconds| seconds.checked_mul(1_000_000))
                .map(Timestamp::from_micros),
            display_name,
            mfa,
            patient_identifier,
        })
    }
}

/// Role names from the configuration, checked: each is a Hale role, and none is
/// platform-admin (a provider never makes someone the platform's operator).
fn checked_roles(
    what: &str,
    entries: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<Role>>, String> {
    let mut checked = BTreeMap::new();
    for (value, names) in entries {
        let mut roles = Vec::with_capacity(names.len());
        for name in names {
            let role: Role = name
                .parse()
                .map_err(|_| format!("{what}: `{name}` is not a Hale role"))?;
            if role == Role::PlatformAdmin {
                return Err(format!(
                    "{what}: platform-admin cannot be granted by a provider's claim"
                ));
            }
            roles.push(role);
        }
        checked.insert(value.clone(), roles);
    }
    Ok(checked)
}

/// The SMART scopes among a token's scopes (`patient/…`, `user/…`, `system/…`); the others
/// (`openid`, a provider's API scopes) say nothing about Hale's resources. A token with none is
/// bounded by its roles alone.
fn smart_scopes(scope: Option<&str>) -> Result<Scopes, CoreError> {
    let smart: Vec<&str> = scope
        .unwrap_or_default()
        .split_ascii_whitespace()
        .filter(|scope| {
            ["patient/", "user/", "system/"]
                .iter()
                .any(|prefix| scope.starts_with(prefix))
        })
        .collect();
    if smart.is_empty() {
        return Ok(Scopes::unrestricted());
    }
    Scopes::parse(&smart.join(" ")).map_err(|_| CoreError::Unauthenticated)
}

/// A claim's string values: each string of an array, or the words of one string.
fn claim_values(value: Option<&Value>) -> Box<dyn Iterator<Item = &str> + '_> {
    match value {
        Some(Value::String(text)) => Box::new(text.split_ascii_whitespace()),
        Some(Value::Array(items)) => Box::new(items.iter().filter_map(Value::as_str)),
        _ => Box::new(std::iter::empty()),
    }
}

/// A claim's value as text fit to keep: a non-empty string (or a number, as some providers
/// write ids) of at most [`MAX_CLAIM_CHARS`], with no control characters.
fn short_text(value: Option<&Value>) -> Option<String> {
    let text = match value? {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return None,
    };
    let fits = !text.is_empty()
        && text.chars().count() <= MAX_CLAIM_CHARS
        && !text.chars().any(char::is_control);
    fits.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping() -> ClaimMapping {
        let config: ClaimMappingConfig = toml_like(json!({
            "tenant": "contoso",
            "role_map": {
                "Hale.Clinician": ["clinician"],
                "ward-leads": ["clinician", "researcher"],
                "admins": ["tenant-admin"],
            }
        }));
        ClaimMapping::new(&config, TenantId::from_uuid(uuid::Uuid::nil())).unwrap()
    }

    fn toml_like(value: Value) -> ClaimMappingConfig {
        serde_json::from_value(value).unwrap()
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn identity(mapping: &ClaimMapping, value: Value, scope: Option<&str>) -> ExternalIdentity {
        let claims = claims(value);
        mapping
            .identity(ProviderClaims {
                issuer: "https://idp.test",
                claims: &claims,
                scope,
                issued_at: Some(1_700_000_000),
            })
            .unwrap()
    }

    #[test]
    fn roles_come_from_mapped_values_only_once_each() {
        let mapping = mapping();
        let person = identity(
            &mapping,
            json!({"sub": "p1", "roles": ["Hale.Clinician", "ward-leads", "unmapped"]}),
            None,
        );
        assert_eq!(person.roles, vec![Role::Clinician, Role::Researcher]);
        assert_eq!(person.subject, "p1");
        assert_eq!(
            person.issued_at,
            Some(Timestamp::from_micros(1_700_000_000_000_000))
        );
        let spaced = identity(&mapping, json!({"sub": "p2", "roles": "admins x"}), None);
        assert_eq!(spaced.roles, vec![Role::TenantAdmin]);
        let none = identity(&mapping, json!({"sub": "p3", "roles": 7}), None);
        assert!(none.roles.is_empty());
    }

    #[test]
    fn a_clients_own_token_is_an_integration_with_the_clients_roles() {
        let config = toml_like(json!({
            "tenant": "contoso",
            "role_map": {"lab": ["clinician"]},
            "client_roles": {"lab-feed": ["integration"]},
        }));
        let mapping = ClaimMapping::new(&config, TenantId::from_uuid(uuid::Uuid::nil())).unwrap();
        let client = identity(
            &mapping,
            json!({"sub": "lab-feed", "client_id": "lab-feed", "roles": ["lab"]}),
            None,
        );
        assert_eq!(client.kind, AccountKind::Integration);
        assert_eq!(client.roles, vec![Role::Integration]);
        let stranger = identity(
            &mapping,
            json!({"sub": "other", "client_id": "other"}),
            None,
        );
        assert!(stranger.roles.is_empty());
        // A person's token through a client is the person's, with the person's roles.
        let person = identity(
            &mapping,
            json!({"sub": "p1", "client_id": "lab-feed", "roles": ["lab"]}),
            None,
        );
        assert_eq!(person.kind, AccountKind::User);
        assert_eq!(person.roles, vec![Role::Clinician]);
    }

    #[test]
    fn a_patients_identifier_is_read_from_the_named_claim_for_patients_only() {
        let config = toml_like(json!({
            "tenant": "contoso",
            "role_map": {"patients": ["patient"], "staff": ["clinician"]},
            "patient_identifier": {"claim": "mrn", "system": "urn:mrn"},
        }));
        let mapping = ClaimMapping::new(&config, TenantId::from_uuid(uuid::Uuid::nil())).unwrap();
        let patient = identity(
            &mapping,
            json!({"sub": "p", "roles": ["patients"], "mrn": "MRN-7"}),
            None,
        );
        assert_eq!(
            patient.patient_identifier,
            Some(Identifier {
                system: "urn:mrn".into(),
                value: "MRN-7".into()
            })
        );
        let clinician = identity(
            &mapping,
            json!({"sub": "c", "roles": ["staff"], "mrn": "MRN-7"}),
            None,
        );
        assert_eq!(clinician.patient_identifier, None);
        let unnamed = identity(&mapping, json!({"sub": "q", "roles": ["patients"]}), None);
        assert_eq!(unnamed.patient_identifier, None);
        let without = ClaimMapping::new(
            &toml_like(json!({"tenant": "contoso", "role_map": {"patients": ["patient"]}})),
            TenantId::from_uuid(uuid::Uuid::nil()),
        )
        .unwrap();
        let plain = identity(
            &without,
            json!({"sub": "p", "roles": ["patients"], "mrn": "MRN-7"}),
            None,
        );
        assert_eq!(plain.patient_identifier, None);
        for (claim, system) in [("", "urn:mrn"), ("mrn", " ")] {
            let config = toml_like(json!({
                "tenant": "contoso",
                "patient_identifier": {"claim": claim, "system": system},
            }));
            assert!(ClaimMapping::new(&config, TenantId::from_uuid(uuid::Uuid::nil())).is_err());
        }
    }

    #[test]
    fn the_subject_claim_is_configurable_and_required() {
        let config = ClaimMappingConfig {
            subject_claim: "oid".into(),
            ..toml_like(json!({"tenant": "contoso"}))
        };
        let mapping = ClaimMapping::new(&config, TenantId::from_uuid(uuid::Uuid::nil())).unwrap();
        let person = identity(&mapping, json!({"sub": "pairwise", "oid": "stable"}), None);
        assert_eq!(person.subject, "stable");
        let pairwise = claims(json!({"sub": "pairwise"}));
        let missing = mapping.identity(ProviderClaims {
            issuer: "i",
            claims: &pairwise,
            scope: None,
            issued_at: None,
        });
        assert!(matches!(missing, Err(CoreError::Unauthenticated)));
        for bad in [
            json!(""),
            json!("a\nb"),
            json!("x".repeat(256)),
            json!(["x"]),
        ] {
            let odd = claims(json!({"oid": bad}));
            let refused = mapping.identity(ProviderClaims {
                issuer: "i",
                claims: &odd,
                scope: None,
                issued_at: None,
            });
            assert!(refused.is_err(), "{bad}");
        }
        let numeric = identity(&mapping, json!({"oid": 4711}), None);
        assert_eq!(numeric.subject, "4711");
        let longest = identity(&mapping, json!({"oid": "x".repeat(255)}), None);
        assert_eq!(longest.subject.len(), 255);
    }

    #[test]
    fn only_smart_scopes_narrow_and_a_bad_one_refuses() {
        let mapping = mapping();
        let open = identity(
            &mapping,
            json!({"sub": "a"}),
            Some("openid profile api://x"),
        );
        assert!(open.scopes.is_unrestricted());
        let narrowed = identity(
            &mapping,
            json!({"sub": "a"}),
            Some("openid user/Observation.rs"),
        );
        assert!(!narrowed.scopes.is_unrestricted());
        let plain = claims(json!({"sub": "a"}));
        let bad = mapping.identity(ProviderClaims {
            issuer: "i",
            claims: &plain,
            scope: Some("user/Observation.zz"),
            issued_at: None,
        });
        assert!(matches!(bad, Err(CoreError::Unauthenticated)));
    }

    #[test]
    fn a_second_factor_shows_in_amr_or_is_vouched_for() {
        let mapping = mapping();
        assert!(!identity(&mapping, json!({"sub": "a", "amr": ["pwd"]}), None).mfa);
        assert!(!identity(&mapping, json!({"sub": "a"}), None).mfa);
        assert!(identity(&mapping, json!({"sub": "a", "amr": ["pwd", "otp"]}), None).mfa);
        assert!(identity(&mapping, json!({"sub": "a", "amr": "mfa"}), None).mfa);
        let config = ClaimMappingConfig {
            provider_enforces_mfa: true,
            ..toml_like(json!({"tenant": "contoso"}))
        };
        let vouched = ClaimMapping::new(&config, TenantId::from_uuid(uuid::Uuid::nil())).unwrap();
        assert!(identity(&vouched, json!({"sub": "a"}), None).mfa);
    }

    #[test]
    fn the_display_name_prefers_name_then_username_then_email() {
        let mapping = mapping();
        let named = identity(
            &mapping,
            json!({"sub": "a", "name": "Ada", "email": "a@x"}),
            None,
        );
        assert_eq!(named.display_name, "Ada");
        let mailed = identity(&mapping, json!({"sub": "a", "email": "a@x"}), None);
        assert_eq!(mailed.display_name, "a@x");
    }

    #[test]
    fn a_mapping_to_no_role_or_to_platform_admin_is_refused() {
        for (roles, message) in [
            (json!(["surgeon"]), "`surgeon` is not a Hale role"),
            (
                json!(["platform-admin"]),
                "platform-admin cannot be granted",
            ),
        ] {
            let config = toml_like(json!({"tenant": "t", "role_map": {"g": roles}}));
            let error =
                ClaimMapping::new(&config, TenantId::from_uuid(uuid::Uuid::nil())).unwrap_err();
            assert!(error.contains(message), "{error}");
        }
        let config = ClaimMappingConfig {
            roles_claim: String::new(),
            ..toml_like(json!({"tenant": "t"}))
        };
        assert!(ClaimMapping::new(&config, TenantId::from_uuid(uuid::Uuid::nil())).is_err());
    }
}
