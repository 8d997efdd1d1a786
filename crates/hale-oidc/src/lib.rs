//! OpenID Connect for Hale, both ways. As a resource server, [`Verifier`] accepts JWT access
//! tokens from configured issuers (Entra ID, Keycloak, Okta, …), with each issuer's keys found
//! through discovery and cached. As a relying party, [`RelyingParty`] signs a person in with a
//! provider: authorization code with PKCE (S256), state and nonce, the ID token checked with the
//! same key machinery.
//!
//! This is an outbound adapter: it fetches provider documents over HTTPS (rustls, no OpenSSL)
//! and knows nothing of the store, the core or the HTTP edge, which map its results onto
//! principals. Errors are small enums with stable codes; none carries a token, a secret or a
//! provider's response.

mod error;
mod fetch;
mod keys;
mod relying_party;
mod token;
mod verifier;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ConfigError, LoginError, TokenError};
pub use jsonwebtoken::Algorithm;
pub use relying_party::{
    PENDING_LOGIN_MAX_AGE_SECONDS, PendingLogin, ProviderConfig, RelyingParty, SignedIn,
    default_scopes,
};
pub use token::{MAX_TOKEN_BYTES, looks_like_jwt};
pub use verifier::{DEFAULT_ALGORITHMS, IssuerConfig, IssuerStatus, VerifiedToken, Verifier};
