//! Opaque bearer tokens: how a principal is found until the gateway brings real identity.
//! A token is 32 random bytes; only its SHA-256 is stored, so a database leak yields no token,
//! and lookup is by that hash, so response timing says nothing about any stored secret.

use std::fmt;

use base64::Engine;
use hale_domain::event::{EventBody, ExpectedVersion, NewEvent, StreamRef};
use hale_domain::{Principal, PrincipalId, RequestContext, Role, SubjectId, TenantId};
use hale_store::Append;
use sha2::{Digest, Sha256};

use crate::{Core, CoreError, Target, remember, require};

/// A secret that never shows itself in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    /// The secret itself; call only where it must leave the process (shown once to its owner).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A request to issue an access token.
#[derive(Clone, Debug)]
pub struct IssueToken {
    /// `None` only for platform administrators.
    pub tenant: Option<TenantId>,
    pub roles: Vec<Role>,
    /// The patient's own subject, for patient tokens.
    pub subject: Option<SubjectId>,
    pub label: String,
}

/// A freshly issued token: shown once, stored only as a hash.
#[derive(Debug)]
pub struct IssuedToken {
    pub principal_id: PrincipalId,
    pub token: Secret,
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

const TOKEN_PREFIX: &str = "hale_";

impl Core {
    /// Finds the principal behind a bearer token.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, CoreError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Err(CoreError::Unauthenticated);
        }
        let hash = token_hash(token);
        if let Some(principal) = self
            .inner
            .principals
            .read()
            .ok()
            .and_then(|cache| cache.get(&hash).cloned())
        {
            return Ok(principal);
        }
        let row = self
            .store()
            .principal_by_token_hash(&hash)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let principal = Principal {
            id: row.principal_id,
            tenant: row.tenant_id,
            roles: row
                .roles
                .iter()
                .filter_map(|role| role.parse().ok())
                .collect(),
            subject: row.subject_id,
        };
        remember(&self.inner.principals, hash, principal.clone());
        Ok(principal)
    }

    /// Issues the first platform-admin token when no token exists yet; `None` afterwards.
    pub async fn bootstrap_admin(&self) -> Result<Option<IssuedToken>, CoreError> {
        if self.store().has_access_tokens().await? {
            return Ok(None);
        }
        let issued = self
            .write_token(
                "system",
                IssueToken {
                    tenant: None,
                    roles: vec![Role::PlatformAdmin],
                    subject: None,
                    label: "bootstrap administrator".into(),
                },
            )
            .await?;
        Ok(Some(issued))
    }

    /// Issues a token. Platform administrators issue any; tenant administrators issue tokens
    /// for their own tenant below platform level.
    pub async fn issue_token(
        &self,
        context: &RequestContext,
        request: IssueToken,
    ) -> Result<IssuedToken, CoreError> {
        let target = Target {
            tenant: request.tenant,
            kind: "access_token",
            id: None,
        };
        self.audited(context, "token.issue", target, async {
            let principal = &context.principal;
            let platform_level =
                request.tenant.is_none() || request.roles.contains(&Role::PlatformAdmin);
            if platform_level {
                require(principal, &[])?;
            } else {
                require(principal, &[Role::TenantAdmin])?;
                if request
                    .tenant
                    .is_some_and(|tenant| !principal.belongs_to(tenant))
                {
                    return Err(CoreError::NotFound);
                }
            }
            if request.roles.is_empty() {
                return Err(CoreError::invalid(
                    "roles",
                    "required",
                    "at least one role is required",
                ));
            }
            // The label is stored as plain text: bounded, and without U+0000, which
            // PostgreSQL cannot store, or other control characters.
            if request.label.chars().count() > 200 || request.label.chars().any(char::is_control) {
                return Err(CoreError::invalid(
                    "label",
                    "invalid_label",
                    "a label has at most 200 characters and no control characters",
                ));
            }
            if request.roles.contains(&Role::Patient) != request.subject.is_some() {
                return Err(CoreError::invalid(
                    "subject",
                    "patient_subject",
                    "a patient token needs its subject, and only a patient token has one",
                ));
            }
            if let (Some(tenant), Some(subject)) = (request.tenant, request.subject) {
                self.store()
                    .subject(tenant, subject)
                    .await?
                    .ok_or(CoreError::NotFound)?;
            }
            self.write_token(&context.actor(), request).await
        })
        .await
    }

    async fn write_token(
        &self,
        actor: &str,
        request: IssueToken,
    ) -> Result<IssuedToken, CoreError> {
        let principal_id = PrincipalId::from_uuid(self.new_uuid());
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.inner.randomness.secret_bytes());
        let token = format!("{TOKEN_PREFIX}{encoded}");
        let hash = token_hash(&token);
        self.store()
            .append(Append {
                tenant: request.tenant.unwrap_or(TenantId::PLATFORM),
                actor: actor.to_owned(),
                recorded_at: self.now(),
                events: vec![NewEvent {
                    stream: StreamRef::principal(principal_id),
                    expected: ExpectedVersion::NoStream,
                    body: EventBody::AccessTokenIssued {
                        principal_id,
                        tenant_id: request.tenant,
                        token_hash: hash,
                        roles: request
                            .roles
                            .iter()
                            .map(|role| role.as_str().to_owned())
                            .collect(),
                        subject_id: request.subject,
                        label: request.label,
                    },
                }],
                idempotency: None,
                preconditions: Vec::new(),
            })
            .await?;
        Ok(IssuedToken {
            principal_id,
            token: Secret::new(token),
        })
    }
}
