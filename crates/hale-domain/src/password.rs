//! Password policy: which passwords an account may set. Hashing is not here (it is slow on
//! purpose and belongs to the core); this decides only whether a password is acceptable, in the
//! spirit of NIST SP 800-63B: a minimum length, a maximum that bounds the hashing work, no
//! composition rules, and a refusal of common, predictable and account-derived passwords.
//!
//! Lengths count Unicode scalar values after NFKC, the form [`normalise_password`] gives and the
//! core hashes, so a password typed with composed or decomposed accents, or full-width digits,
//! is one password.

use std::fmt;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

/// The list of common passwords, shipped in the binary. See its header for its source and
/// licence.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// An upper bound on the bytes one counted character can take before NFKC: four bytes of UTF-8,
/// times the at most four scalar values canonical composition folds into one, with room to
/// spare. Longer text is too long whatever it normalises to, so it is refused unread.
const MAX_BYTES_PER_CHARACTER: usize = 32;

/// Below this many distinct characters a password is a repetition (`aaaaaaaaaaaa`,
/// `abcabcabcabc`), however long.
const MIN_DISTINCT_CHARACTERS: usize = 4;

/// Account names (or their parts) shorter than this are not looked for in a password: a
/// two-letter name is found in too many good passwords by chance.
const MIN_NAME_LENGTH: usize = 3;
/// The words of a name (split at spaces, dots and the like) are looked for from this length on.
const MIN_NAME_PART_LENGTH: usize = 4;

/// Runs of keys people type as a password; a password read along one, forwards or backwards
/// and wrapping round, is refused.
const SEQUENCES: [&str; 3] = [
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiopasdfghjklzxcvbnm",
];

/// Which passwords are acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// The fewest characters (after NFKC); 12 by default.
    pub min_length: usize,
    /// The most characters (after NFKC); 128 by default. It bounds the work of hashing a
    /// password someone sends to the login endpoint, not the strength of anyone's password.
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: 128,
        }
    }
}

/// Why a password was refused. The message says what to do and never repeats the password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    #[error(
        "the password is too short: use at least {min} characters (a few unrelated words make a long password that is easy to remember)"
    )]
    TooShort { min: usize },
    #[error("the password is too long: use at most {max} characters")]
    TooLong { max: usize },
    #[error(
        "the password is too common or too predictable (a well-known password, a variation of one with digits or symbols added, a repetition or a run of keys): choose another"
    )]
    Common,
    #[error("the password contains the account's name or email address: choose one that does not")]
    ContainsAccountName,
    #[error("the password contains a control character (such as a tab or a line break): remove it")]
    ControlCharacter,
}

impl PasswordPolicy {
    /// Whether `password` may be set for an account known by `account_names` (user name, email
    /// address, display name: whatever names the account). The first problem found is reported,
    /// the cheap and structural ones first.
    pub fn check(&self, password: &str, account_names: &[&str]) -> Result<(), PasswordProblem> {
        let too_long = PasswordProblem::TooLong {
            max: self.max_length,
        };
        if password.len() > self.max_length.saturating_mul(MAX_BYTES_PER_CHARACTER) {
            return Err(too_long);
        }
        if password.chars().any(char::is_control) {
            return Err(PasswordProblem::ControlCharacter);
        }
        let normalised = normalise_password(password);
        let length = normalised.chars().count();
        if length > self.max_length {
            return Err(too_long);
        }
        if length < self.min_length {
            return Err(PasswordProblem::TooShort {
                min: self.min_length,
            });
        }
        let folded = normalised.to_lowercase();
        if is_common(&folded) || is_predictable(&folded) {
            return Err(PasswordProblem::Common);
        }
        if account_names
            .iter()
            .any(|name| contains_name(&folded, name))
        {
            return Err(PasswordProblem::ContainsAccountName);
        }
        Ok(())
    }
}

impl fmt::Display for PasswordPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to {} characters, not a common password",
            self.min_length, self.max_length
        )
    }
}

/// The form of a password to hash and to check: NFKC. Hash exactly this, at setting and at
/// login, so that every spelling of one password verifies.
pub fn normalise_password(password: &str) -> String {
    password.nfkc().collect()
}

/// The common-password list, sorted once so that lookups need neither hashing (whose random
/// keys come from the operating system) nor allocation per lookup.
fn common_passwords() -> &'static [&'static str] {
    static SORTED: OnceLock<Vec<&'static str>> = OnceLock::new();
    SORTED.get_or_init(|| {
        let mut list: Vec<&'static str> = COMMON_PASSWORDS
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect();
        list.sort_unstable();
        list.dedup();
        list
    })
}

fn in_common_list(candidate: &str) -> bool {
    !candidate.is_empty() && common_passwords().binary_search(&candidate).is_ok()
}

/// Digits, punctuation and spaces are what people add around a common password to pass a
/// composition rule ("Password123!"), so they are stripped before the list is consulted.
fn is_decoration(character: char) -> bool {
    character.is_ascii_digit()
        || character.is_ascii_punctuation()
        || character.is_whitespace()
        || character.is_numeric()
        || (!character.is_alphanumeric() && !character.is_ascii())
}

/// Whether the lower-cased password is on the list, as it is or without the digits and
/// punctuation added at either end.
fn is_common(folded: &str) -> bool {
    let trailing = folded.trim_end_matches(is_decoration);
    let leading = folded.trim_start_matches(is_decoration);
    let both = trailing.trim_start_matches(is_decoration);
    [folded, trailing, leading, both]
        .into_iter()
        .any(in_common_list)
}

/// A repetition of a few characters, or a run along the alphabet, the digits or the keyboard.
fn is_predictable(folded: &str) -> bool {
    let mut distinct: Vec<char> = folded.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_DISTINCT_CHARACTERS {
        return true;
    }
    let length = folded.chars().count();
    SEQUENCES.into_iter().any(|sequence| {
        // Enough turns of the sequence to hold any run of this length, wrapping round.
        let turns = length / sequence.len() + 2;
        let forwards = sequence.repeat(turns);
        let backwards: String = forwards.chars().rev().collect();
        forwards.contains(folded) || backwards.contains(folded)
    })
}

/// Whether the lower-cased password contains `name`, the local part of an email address, or
/// any longer word of either. The domain of an address is not looked for: it is shared by every
/// account of an organisation and says nothing about this one.
fn contains_name(folded_password: &str, name: &str) -> bool {
    let name = normalise_password(name.trim()).to_lowercase();
    let local_part = name.split('@').next().unwrap_or_default();
    let whole = [name.as_str(), local_part]
        .into_iter()
        .filter(|candidate| candidate.chars().count() >= MIN_NAME_LENGTH);
    let words = local_part
        .split(|character: char| !character.is_alphanumeric())
        .filter(|word| word.chars().count() >= MIN_NAME_PART_LENGTH);
    whole
        .chain(words)
        .any(|candidate| folded_password.contains(candidate))
}

#[cfg(test)]
#[path = "password_tests.rs"]
mod tests;
