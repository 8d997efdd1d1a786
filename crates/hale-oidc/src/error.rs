//! The three error enums of this crate, one per operation area. Each variant has a stable
//! snake_case code for the edge's problem+json; no message repeats a token, a secret, a claim or
//! anything a provider answered.

use jsonwebtoken::Algorithm;

/// A configuration that cannot work, found when the verifier or relying party is built rather
/// than on the first token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not an absolute `https` URL (plain `http` only on a loopback host), or it carries
    /// credentials, a query or a fragment. The URL itself is not repeated: it may hold a secret.
    #[error("issuer number {position} is not an absolute https URL without query or fragment")]
    InvalidIssuer { position: usize },
    #[error("the issuer {0:?} is configured twice")]
    DuplicateIssuer(String),
    #[error("issuer {issuer:?}: the audience is empty")]
    EmptyAudience { issuer: String },
    #[error("issuer {issuer:?}: no signature algorithm is allowed")]
    NoAlgorithms { issuer: String },
    /// HMAC algorithms would let anyone holding a published public key forge tokens.
    #[error(
        "issuer {issuer:?}: {algorithm:?} is not accepted; only asymmetric signatures are (RS*, PS*, ES256, ES384, EdDSA)"
    )]
    ForbiddenAlgorithm {
        issuer: String,
        algorithm: Algorithm,
    },
    #[error("issuer {issuer:?}: a clock leeway above {max} seconds is refused")]
    LeewayTooLarge { issuer: String, max: u64 },
    #[error("a provider name must be 1-64 of a-z, 0-9, '-' and '_'")]
    InvalidProviderName,
    #[error("provider {provider:?}: {field} is empty or holds control characters")]
    InvalidField {
        provider: String,
        field: &'static str,
    },
    #[error("provider {provider:?}: the issuer is not an absolute https URL")]
    InvalidProviderIssuer { provider: String },
    #[error(
        "provider {provider:?}: the redirect URI is not an absolute https URL (http only on loopback) without fragment"
    )]
    InvalidRedirectUri { provider: String },
    #[error(
        "provider {provider:?}: scopes must include \"openid\" and each be printable ASCII without spaces, quotes or backslashes"
    )]
    InvalidScopes { provider: String },
    #[error("the HTTP client for providers could not be built")]
    HttpClient,
}

/// Why a bearer token was refused. `ProviderUnavailable` is the only one that is not the
/// token's fault: the issuer's keys could not be fetched (the edge answers 503, the rest 401).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's issuer is not trusted")]
    UnknownIssuer,
    #[error("the token is signed with a key its issuer does not publish")]
    UnknownKey,
    #[error("the token's signature algorithm is not accepted")]
    DisallowedAlgorithm,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is not meant for this service")]
    WrongAudience,
    #[error("the token lacks the claim {0}")]
    MissingClaim(&'static str),
    #[error("the token's issuer could not be reached for its keys")]
    ProviderUnavailable,
}

impl TokenError {
    /// Stable code for logs and problem+json.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Malformed => "token_malformed",
            Self::UnknownIssuer => "token_unknown_issuer",
            Self::UnknownKey => "token_unknown_key",
            Self::DisallowedAlgorithm => "token_disallowed_algorithm",
            Self::BadSignature => "token_bad_signature",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::WrongAudience => "token_wrong_audience",
            Self::MissingClaim(_) => "token_missing_claim",
            Self::ProviderUnavailable => "provider_unavailable",
        }
    }
}

/// Why a sign-in could not be completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// The callback's `state` is not the one this login started with: a forged or crossed
    /// callback (login CSRF).
    #[error("the sign-in callback does not belong to this sign-in")]
    StateMismatch,
    /// The pending login was started for another provider.
    #[error("the sign-in was started with another provider")]
    WrongProvider,
    /// The pending login is older than [`crate::PENDING_LOGIN_MAX_AGE_SECONDS`].
    #[error("the sign-in took too long; start again")]
    Expired,
    /// The callback carries no usable code (empty, oversized or not printable ASCII).
    #[error("the sign-in callback is malformed")]
    InvalidCallback,
    /// The provider refused the code: used already, expired, or the PKCE verifier does not
    /// match (`invalid_grant`).
    #[error("the provider refused the authorization code")]
    CodeRejected,
    /// The provider answered the token request with another error (for example a wrong client
    /// secret), or without an ID token.
    #[error("the provider refused the sign-in")]
    ProviderRefused,
    /// The ID token failed verification.
    #[error("the provider's ID token was refused: {0}")]
    InvalidIdToken(TokenError),
    /// The ID token's nonce is not this login's: a token injected from another login.
    #[error("the ID token does not belong to this sign-in")]
    NonceMismatch,
    /// The provider could not be reached, or answered with something that is not OpenID
    /// Connect.
    #[error("the sign-in provider could not be reached")]
    ProviderUnavailable,
    /// The operating system gave no randomness for state, nonce and verifier.
    #[error("no randomness available")]
    RandomnessUnavailable,
}

impl LoginError {
    /// Stable code for logs and problem+json.
    pub const fn code(self) -> &'static str {
        match self {
            Self::StateMismatch => "login_state_mismatch",
            Self::WrongProvider => "login_wrong_provider",
            Self::Expired => "login_expired",
            Self::InvalidCallback => "login_invalid_callback",
            Self::CodeRejected => "login_code_rejected",
            Self::ProviderRefused => "login_provider_refused",
            Self::InvalidIdToken(_) => "login_invalid_id_token",
            Self::NonceMismatch => "login_nonce_mismatch",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::RandomnessUnavailable => "internal_error",
        }
    }
}
