//! Tenants: the customer organisations whose data Hale keeps apart.

use std::fmt;

/// A tenant's short, URL-safe name (`contoso`): 2–40 characters of `a-z`, `0-9` and `-`,
/// starting with a letter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);

/// Why a tenant field was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("slug must be 2-40 characters of a-z, 0-9 and '-', starting with a letter")]
    InvalidSlug,
    #[error("name must be 1-200 characters without control characters")]
    InvalidName,
}

impl TenantSlug {
    pub fn parse(text: &str) -> Result<Self, TenantError> {
        let valid_length = (2..=40).contains(&text.len());
        let starts_with_letter = text.starts_with(|c: char| c.is_ascii_lowercase());
        let valid_chars = text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid_length && starts_with_letter && valid_chars {
            Ok(Self(text.to_owned()))
        } else {
            Err(TenantError::InvalidSlug)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: trimmed, 1–200 characters, no control characters.
pub fn parse_display_name(text: &str) -> Result<String, TenantError> {
    let trimmed = text.trim();
    let length = trimmed.chars().count();
    if (1..=200).contains(&length) && !trimmed.chars().any(char::is_control) {
        Ok(trimmed.to_owned())
    } else {
        Err(TenantError::InvalidName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(TenantSlug::parse("contoso").is_ok());
        assert!(TenantSlug::parse("st-marys-2").is_ok());
        for bad in [
            "",
            "a",
            "Contoso",
            "1abc",
            "con toso",
            "café",
            &"a".repeat(41),
        ] {
            assert_eq!(
                TenantSlug::parse(bad),
                Err(TenantError::InvalidSlug),
                "{bad}"
            );
        }
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_display_name("  Contoso Health "),
            Ok("Contoso Health".into())
        );
        assert!(parse_display_name("   ").is_err());
        assert!(parse_display_name("a\u{0}b").is_err());
    }

    proptest::proptest! {
        #[test]
        fn a_parsed_slug_is_always_url_safe(text in "\\PC{0,50}") {
            if let Ok(slug) = TenantSlug::parse(&text) {
                proptest::prop_assert!(slug.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            }
        }
    }
}
