//! Placeholder until the full module lands (replaced on merge).
use crate::Timestamp;
pub struct TotpSecret(pub [u8; 20]);
impl std::fmt::Debug for TotpSecret { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("[redacted]") } }
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TotpStep(pub i64);
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpError { Malformed, Wrong, Replayed }
impl TotpSecret {
    pub fn from_bytes(bytes: [u8; 20]) -> Self { Self(bytes) }
    pub fn to_base32(&self) -> String { String::new() }
    pub fn from_base32(_text: &str) -> Result<Self, TotpError> { Err(TotpError::Malformed) }
    pub fn otpauth_uri(&self, _issuer: &str, _account: &str) -> String { String::new() }
}
pub fn verify_totp(_s: &TotpSecret, _c: &str, _now: Timestamp, _l: Option<TotpStep>) -> Result<TotpStep, TotpError> { Err(TotpError::Wrong) }
pub struct RecoveryCode(pub String);
impl RecoveryCode { pub fn expose(&self) -> &str { &self.0 } }
pub fn recovery_code_from_bytes(_b: [u8; 10]) -> RecoveryCode { RecoveryCode(String::new()) }
pub fn recovery_code_hash(_c: &str) -> String { String::new() }
pub fn recovery_code_matches(_c: &str, _h: &str) -> bool { false }
