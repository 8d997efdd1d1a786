//! Second factors: RFC 6238 time-based one-time passwords (6 digits, HMAC-SHA-1, 30-second
//! steps, what every authenticator app speaks) and one-time recovery codes.
//!
//! Deterministic like the rest of the domain: the time comes in as a [`Timestamp`] and the
//! secrets as bytes the caller drew from its randomness. Codes and secrets are compared in
//! constant time and never appear in `Debug` output.

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::Timestamp;

/// Bytes in a TOTP secret: 160 bits, the HMAC-SHA-1 block the RFC recommends.
pub const TOTP_SECRET_BYTES: usize = 20;
/// The length of a step, in microseconds (30 s, RFC 6238's default and the apps' assumption).
const STEP_MICROS: i64 = 30_000_000;
/// Digits in a code.
const DIGITS: u32 = 6;
/// Longer input than this is not a code or a secret, whatever spaces it holds: refused unread.
const MAX_INPUT_BYTES: usize = 256;
/// How many recovery codes an account is given at once.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// RFC 4648 base32, the alphabet authenticator apps read secrets in.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Crockford's base32 in lower case: no `i`, `l`, `o` or `u`, so a recovery code read off paper
/// has no letter that looks like another or like a digit.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters in a recovery code, dashes aside: 60 bits.
const RECOVERY_CODE_CHARACTERS: usize = 12;

/// A TOTP shared secret. Wiped from memory on drop; `Debug` prints no byte of it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TotpSecret([u8; TOTP_SECRET_BYTES]);

/// Why a code or secret was refused. `Replayed` tells the caller the code was right but already
/// used; whether to tell the user more than "wrong code" is the caller's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("not a 6-digit code, or not a base32 secret of 160 bits")]
    Malformed,
    #[error("the code is wrong or has expired")]
    Wrong,
    #[error("the code was already used: wait for the next one")]
    Replayed,
}

impl TotpSecret {
    /// Takes 20 bytes the caller drew from a cryptographic random source.
    pub fn from_bytes(bytes: [u8; TOTP_SECRET_BYTES]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, for the core to seal and store.
    pub fn expose_bytes(&self) -> &[u8; TOTP_SECRET_BYTES] {
        &self.0
    }

    /// RFC 4648 base32 without padding (160 bits are exactly 32 characters), as apps take it.
    pub fn to_base32(&self) -> String {
        let mut text = String::with_capacity(32);
        for chunk in self.0.chunks(5) {
            let mut group = [0u8; 5];
            group[..chunk.len()].copy_from_slice(chunk);
            let bits = group
                .iter()
                .fold(0u64, |bits, byte| (bits << 8) | u64::from(*byte));
            for shift in (0..8).rev() {
                let index = ((bits >> (shift * 5)) & 31) as usize;
                text.push(char::from(BASE32[index]));
            }
        }
        text
    }

    /// Reads a base32 secret as people copy it: any case, spaces and dashes between groups,
    /// `=` padding at the end. It must decode to exactly 160 bits.
    pub fn from_base32(text: &str) -> Result<Self, TotpError> {
        if text.len() > MAX_INPUT_BYTES {
            return Err(TotpError::Malformed);
        }
        let text = text.trim_end_matches(['=', ' ']);
        let mut bytes = Zeroizing::new([0u8; TOTP_SECRET_BYTES]);
        let mut bits: u64 = 0;
        let mut pending = 0u32;
        let mut written = 0usize;
        for character in text.bytes().filter(|byte| *byte != b' ' && *byte != b'-') {
            let upper = character.to_ascii_uppercase();
            let value = BASE32
                .iter()
                .position(|symbol| *symbol == upper)
                .ok_or(TotpError::Malformed)?;
            bits = (bits << 5) | value as u64;
            pending += 5;
            if pending >= 8 {
                pending -= 8;
                let slot = bytes.get_mut(written).ok_or(TotpError::Malformed)?;
                *slot = (bits >> pending) as u8;
                written += 1;
            }
            bits &= (1 << pending) - 1;
        }
        bits.zeroize();
        if written != TOTP_SECRET_BYTES || pending != 0 {
            return Err(TotpError::Malformed);
        }
        Ok(Self(*bytes))
    }

    /// The `otpauth://` URI an authenticator app reads from a QR code (the Key Uri Format), with
    /// the issuer both in the label and as a parameter, as the apps expect.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = percent_encode(issuer);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period=30",
            account = percent_encode(account),
            secret = self.to_base32(),
        )
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// The 30-second time step a code belongs to: steps since the Unix epoch. Stored after each
/// accepted code, so that the same code (or an older one) is never accepted twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TotpStep(pub i64);

impl TotpStep {
    /// The step `now` falls in.
    pub const fn at(now: Timestamp) -> Self {
        Self(now.as_micros().div_euclid(STEP_MICROS))
    }
}

/// The code an authenticator shows during `step`, for tests and for showing a code in setup.
/// `None` before the epoch, where RFC 6238 defines no code.
pub fn totp_code(secret: &TotpSecret, step: TotpStep) -> Option<String> {
    let code = hotp(secret, u64::try_from(step.0).ok()?)?;
    Some(format!("{code:06}"))
}

/// Checks a code typed by the user at `now`, accepting the current step and one either side
/// (clock drift, and the seconds it takes to type), but no step at or before `last_used`. The
/// accepted step is returned for the caller to store as the new `last_used`.
///
/// The code must be exactly six ASCII digits; spaces (as in "123 456") are ignored.
pub fn verify_totp(
    secret: &TotpSecret,
    code: &str,
    now: Timestamp,
    last_used: Option<TotpStep>,
) -> Result<TotpStep, TotpError> {
    let typed = parse_code(code)?;
    let current = TotpStep::at(now).0;
    let mut accepted: Option<TotpStep> = None;
    let mut replayed = false;
    // Every candidate step is computed and compared, so the time taken says nothing about
    // which step (if any) matched.
    for step in [current - 1, current, current + 1] {
        let Ok(counter) = u64::try_from(step) else {
            continue;
        };
        let Some(expected) = hotp(secret, counter) else {
            continue;
        };
        let matches: bool = expected.ct_eq(&typed).into();
        if !matches {
            continue;
        }
        if last_used.is_some_and(|last| step <= last.0) {
            replayed = true;
        } else {
            // The latest step a code matches is the one recorded, so that a code that happens
            // to match two steps of the window cannot be accepted a second time.
            accepted = Some(TotpStep(step));
        }
    }
    match accepted {
        Some(step) => Ok(step),
        None if replayed => Err(TotpError::Replayed),
        None => Err(TotpError::Wrong),
    }
}

/// Six ASCII digits, spaces ignored, as a number.
fn parse_code(code: &str) -> Result<u32, TotpError> {
    if code.len() > MAX_INPUT_BYTES {
        return Err(TotpError::Malformed);
    }
    let mut value = 0u32;
    let mut digits = 0u32;
    for byte in code.bytes().filter(|byte| *byte != b' ') {
        if !byte.is_ascii_digit() || digits == DIGITS {
            return Err(TotpError::Malformed);
        }
        value = value * 10 + u32::from(byte - b'0');
        digits += 1;
    }
    if digits == DIGITS {
        Ok(value)
    } else {
        Err(TotpError::Malformed)
    }
}

/// RFC 4226 HOTP with dynamic truncation, reduced to six digits.
fn hotp(secret: &TotpSecret, counter: u64) -> Option<u32> {
    Some(hotp_truncated(secret, counter)? % 10u32.pow(DIGITS))
}

/// The 31-bit number RFC 4226 truncates the HMAC to, before reduction to digits.
/// `None` only if HMAC refused the key, which it does for no key length.
fn hotp_truncated(secret: &TotpSecret, counter: u64) -> Option<u32> {
    let mut mac = Hmac::<Sha1>::new_from_slice(&secret.0).ok()?;
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let word = [
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ];
    Some(u32::from_be_bytes(word) & 0x7fff_ffff)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so an issuer or account
/// name cannot add a parameter or a label separator to the URI.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A recovery code, to be shown to its owner once and then kept only as its hash. Wiped on
/// drop; `Debug` prints none of it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    /// The code as shown: `xxxx-xxxx-xxxx`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash to store.
    pub fn hash(&self) -> String {
        recovery_code_hash(&self.0)
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

/// Makes a recovery code from 10 random bytes: the first 60 bits, in three dash-separated
/// groups of four lower-case Crockford base32 characters. Sixty bits cannot be guessed online
/// and are few enough to type.
pub fn recovery_code_from_bytes(bytes: [u8; 10]) -> RecoveryCode {
    let bits = Zeroizing::new(u64::from_be_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ]));
    let mut bytes = bytes;
    bytes.zeroize();
    let mut code = String::with_capacity(RECOVERY_CODE_CHARACTERS + 2);
    for position in 0..RECOVERY_CODE_CHARACTERS {
        if position > 0 && position % 4 == 0 {
            code.push('-');
        }
        let shift = 64 - 5 * (position + 1);
        let index = ((*bits >> shift) & 31) as usize;
        code.push(char::from(RECOVERY_ALPHABET[index]));
    }
    RecoveryCode(code)
}

/// The hash of a recovery code as typed: case, dashes and spaces ignored, and the letters
/// Crockford's base32 reads as digits (`o` as 0, `i` and `l` as 1) read so. SHA-256, unsalted
/// and fast: a code carries 60 random bits, beyond brute force even from a stolen database.
pub fn recovery_code_hash(code: &str) -> String {
    let mut hasher = Sha256::new();
    for byte in code.bytes() {
        let normalised = match byte.to_ascii_lowercase() {
            b'-' | b' ' => continue,
            b'o' => b'0',
            b'i' | b'l' => b'1',
            other => other,
        };
        hasher.update([normalised]);
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// Whether a typed code is the one `stored_hash` was made from, compared in constant time.
pub fn recovery_code_matches(code: &str, stored_hash: &str) -> bool {
    recovery_code_hash(code)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

#[cfg(test)]
#[path = "totp_tests.rs"]
mod tests;
