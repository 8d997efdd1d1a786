//! The customer's OpenID providers, as the edge uses them: issuers whose JWT access tokens
//! authenticate API calls, and providers people sign in with. Each comes with the claim
//! mapping that turns what it says into a Hale identity (`hale_core::ClaimMapping`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use hale_core::{ClaimMapping, CoreError, ExternalIdentity, ProviderClaims};
use hale_oidc::{ConfigError, IssuerConfig, ProviderConfig, RelyingParty, Verifier};

/// Every configured provider; empty when none is.
#[derive(Clone, Default)]
pub struct Oidc {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    verifier: Option<Verifier>,
    mappings: HashMap<String, ClaimMapping>,
    providers: BTreeMap<String, SignInProvider>,
}

/// A provider people sign in with.
pub struct SignInProvider {
    pub party: RelyingParty,
    pub mapping: ClaimMapping,
}

impl Oidc {
    /// Checks every issuer and provider; fetches nothing yet (discovery happens on first use).
    pub fn new(
        issuers: Vec<(IssuerConfig, ClaimMapping)>,
        providers: Vec<(ProviderConfig, ClaimMapping)>,
    ) -> Result<Self, ConfigError> {
        let mut mappings = HashMap::with_capacity(issuers.len());
        let mut configs = Vec::with_capacity(issuers.len());
        for (config, mapping) in issuers {
            mappings.insert(config.issuer.clone(), mapping);
            configs.push(config);
        }
        let verifier = if configs.is_empty() {
            None
        } else {
            Some(Verifier::new(configs)?)
        };
        let mut parties = BTreeMap::new();
        for (config, mapping) in providers {
            let party = RelyingParty::new(config)?;
            parties.insert(party.name().to_owned(), SignInProvider { party, mapping });
        }
        Ok(Self {
            inner: Arc::new(Inner {
                verifier,
                mappings,
                providers: parties,
            }),
        })
    }

    /// Whether a bearer token should be read as a provider's JWT: some issuer is trusted
    /// and the token has a JWT's shape (Hale's own keys never do).
    pub fn takes(&self, token: &str) -> bool {
        self.inner.verifier.is_some() && hale_oidc::looks_like_jwt(token)
    }

    /// The identity behind a provider's access token. Every failure is `Unauthenticated`
    /// (the reason is logged by code, never with the token), except a provider that cannot
    /// be reached, which is `Unavailable`.
    pub async fn identity(&self, token: &str) -> Result<ExternalIdentity, CoreError> {
        let verifier = self
            .inner
            .verifier
            .as_ref()
            .ok_or(CoreError::Unauthenticated)?;
        let verified = verifier.verify(token).await.map_err(|error| {
            tracing::info!(reason = error.code(), "a provider's token was refused");
            if error == hale_oidc::TokenError::ProviderUnavailable {
                CoreError::Unavailable
            } else {
                CoreError::Unauthenticated
            }
        })?;
        let mapping = self
            .inner
            .mappings
            .get(&verified.issuer)
            .ok_or(CoreError::Unauthenticated)?;
        mapping.identity(ProviderClaims {
            issuer: &verified.issuer,
            claims: &verified.claims,
            scope: verified.scope.as_deref(),
            issued_at: verified.issued_at,
        })
    }

    /// Each trusted issuer's key cache, for the security posture.
    pub fn issuer_status(&self) -> Vec<hale_oidc::IssuerStatus> {
        self.inner
            .verifier
            .as_ref()
            .map(Verifier::status)
            .unwrap_or_default()
    }

    /// A sign-in provider by its name in URLs.
    pub fn provider(&self, name: &str) -> Option<&SignInProvider> {
        self.inner.providers.get(name)
    }

    /// Every sign-in provider, by name.
    pub fn providers(&self) -> impl Iterator<Item = &SignInProvider> {
        self.inner.providers.values()
    }
}
