//! Subjects (patients): their identifiers and the little demographic data Hale keeps.
//! Everything here except the subject id is PHI.
//!
//! An identifier is stored, and its blind index computed, only in its normalised form (see
//! [`normalise_identifier`]), so that " MRN-1", "mrn-1" and "MRN‐1" (with U+2010) are one
//! patient, not three.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::Timestamp;
use crate::event::Identifier;
use crate::ids::TenantId;

/// Earliest birth date accepted: no one alive, or whose records are still kept, was born
/// earlier, and a date before it is a typing slip (`0000-01-01`, `1066-…`).
pub const EARLIEST_BIRTH_DATE: time::Date = time::macros::date!(1850 - 01 - 01);

/// Identifier systems whose values are case-sensitive, and so are not case-folded. FHIR's
/// system for identifiers that are URIs is the one such system Hale knows; every other system
/// (MRNs, national numbers, insurance numbers) is read case-insensitively.
pub const CASE_SENSITIVE_SYSTEMS: [&str; 1] = ["urn:ietf:rfc:3986"];

/// A validated request to register a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSubject {
    pub identifiers: Vec<Identifier>,
    pub display_name: Option<String>,
    pub birth_date: Option<String>,
}

/// One problem with a subject registration. Messages never repeat the submitted values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectFieldError {
    pub field: String,
    pub code: &'static str,
    pub message: &'static str,
}

impl NewSubject {
    /// Checks every field and reports all problems at once. Identifiers come back normalised;
    /// a birth date must lie between [`EARLIEST_BIRTH_DATE`] and the day after `now` (a day of
    /// slack for time zones).
    pub fn parse(
        identifiers: Vec<Identifier>,
        display_name: Option<String>,
        birth_date: Option<String>,
        now: Timestamp,
    ) -> Result<Self, Vec<SubjectFieldError>> {
        let sent = identifiers;
        let identifiers: Vec<Identifier> = sent.iter().map(normalise_identifier).collect();
        let mut errors = Vec::new();
        if identifiers.is_empty() {
            errors.push(SubjectFieldError {
                field: "identifiers".into(),
                code: "required",
                message: "at least one identifier is required",
            });
        }
        if identifiers.len() > 20 {
            errors.push(SubjectFieldError {
                field: "identifiers".into(),
                code: "too_many",
                message: "at most 20 identifiers",
            });
        }
        // Control characters are refused as sent, before normalising turns a tab into a space;
        // the length is that of the normalised text, which is what is stored.
        let clean = |sent: &str, normalised: &str| {
            !sent.chars().any(char::is_control) && is_reasonable_text(normalised, 255)
        };
        for (index, (identifier, sent)) in identifiers.iter().zip(&sent).enumerate() {
            if !clean(&sent.system, &identifier.system) {
                errors.push(SubjectFieldError {
                    field: format!("identifiers[{index}].system"),
                    code: "invalid",
                    message: "system must be 1-255 characters without control characters",
                });
            }
            if !clean(&sent.value, &identifier.value) {
                errors.push(SubjectFieldError {
                    field: format!("identifiers[{index}].value"),
                    code: "invalid",
                    message: "value must be 1-255 characters without control characters",
                });
            }
        }
        if let Some(name) = &display_name
            && !is_reasonable_text(name, 200)
        {
            errors.push(SubjectFieldError {
                field: "display_name".into(),
                code: "invalid",
                message: "display name must be 1-200 characters without control characters",
            });
        }
        if let Some(date) = &birth_date {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let latest = now.to_datetime().date().next_day();
            match time::Date::parse(date, &format) {
                Err(_) => errors.push(SubjectFieldError {
                    field: "birth_date".into(),
                    code: "invalid_date",
                    message: "birth date must be a calendar date, YYYY-MM-DD",
                }),
                Ok(parsed)
                    if parsed < EARLIEST_BIRTH_DATE || latest.is_some_and(|l| parsed > l) =>
                {
                    errors.push(SubjectFieldError {
                        field: "birth_date".into(),
                        code: "out_of_range",
                        message: "birth date must lie between 1850-01-01 and today",
                    });
                }
                Ok(_) => {}
            }
        }
        if errors.is_empty() {
            Ok(Self {
                identifiers,
                display_name,
                birth_date,
            })
        } else {
            Err(errors)
        }
    }
}

fn is_reasonable_text(text: &str, max_chars: usize) -> bool {
    let length = text.chars().count();
    (1..=max_chars).contains(&length) && !text.chars().any(char::is_control)
}

/// Characters that look like an ASCII hyphen-minus and are typed or pasted in its place:
/// hyphens and dashes (U+2010–U+2015), the minus sign, small and full-width hyphen-minus.
fn is_dash(character: char) -> bool {
    matches!(
        character,
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe58}' | '\u{fe63}' | '\u{ff0d}'
    )
}

/// Characters that show as nothing and so cannot tell two identifiers apart.
fn is_invisible(character: char) -> bool {
    matches!(
        character,
        '\u{00ad}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}'
    )
}

/// Compatibility-normalises (NFKC: full-width letters, no-break spaces and the like become
/// their plain forms), folds look-alike dashes to `-`, drops invisible characters, turns every
/// run of white space into one space and trims the ends.
fn fold_text(text: &str) -> String {
    // Dropping a character can let its neighbours compose (`A`, space, U+0308 is `Ä` once the
    // space goes), so fold until nothing changes; two or three rounds settle any real text.
    let mut folded = fold_once(text);
    for _ in 0..4 {
        let again = fold_once(&folded);
        if again == folded {
            break;
        }
        folded = again;
    }
    folded
}

fn fold_once(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for character in text.nfkc() {
        if is_invisible(character) {
            continue;
        }
        if character.is_whitespace() {
            if !folded.is_empty() && !folded.ends_with(' ') {
                folded.push(' ');
            }
        } else if is_dash(character) {
            folded.push('-');
        } else {
            folded.push(character);
        }
    }
    folded.truncate(folded.trim_end().len());
    folded
}

/// A system URI in one spelling: scheme and host of a URL lower-cased and trailing slashes
/// removed (`HTTPS://Hospital.Example/mrn/` → `https://hospital.example/mrn`); `urn:` and its
/// namespace lower-cased (`URN:MRN` → `urn:mrn`), since RFC 3986 and RFC 8141 make those parts
/// case-insensitive. The path keeps its case.
pub fn normalise_system(system: &str) -> String {
    let folded = fold_text(&fold_text(system).replace(' ', ""));
    let normalised = if let Some((scheme, rest)) = folded.split_once("://") {
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (host, path) = rest.split_at(host_end);
        format!(
            "{}://{}{}",
            scheme.to_ascii_lowercase(),
            host.to_lowercase(),
            path
        )
    } else if let Some(rest) = folded
        .get(..4)
        .filter(|prefix| prefix.eq_ignore_ascii_case("urn:"))
        .and_then(|_| folded.get(4..))
    {
        let namespace_end = rest.find(':').unwrap_or(rest.len());
        let (namespace, specific) = rest.split_at(namespace_end);
        format!("urn:{}{}", namespace.to_ascii_lowercase(), specific)
    } else {
        folded
    };
    normalised.trim_end_matches('/').to_owned()
}

/// An identifier in the one form Hale stores and indexes: the system as [`normalise_system`]
/// gives it; the value compatibility-normalised, with look-alike dashes folded to `-`, invisible
/// characters dropped, white space collapsed and trimmed, and upper-cased unless its system is
/// one of [`CASE_SENSITIVE_SYSTEMS`]. Idempotent.
pub fn normalise_identifier(identifier: &Identifier) -> Identifier {
    let system = normalise_system(&identifier.system);
    let folded = fold_text(&identifier.value);
    let value = if CASE_SENSITIVE_SYSTEMS.contains(&system.as_str()) {
        folded
    } else {
        // Upper-casing can leave a decomposed sequence (`ǰ` → `J̌`); folding again restores
        // the composed form, so normalising twice changes nothing.
        fold_text(&folded.to_uppercase())
    };
    Identifier { system, value }
}

/// The blind index of an identifier: lets the store find a subject by identifier, and refuse a
/// duplicate, without keeping the identifier itself in an indexed column. Computed over the
/// normalised identifier, so spellings of one identifier share one key. Keyed with the tenant
/// id now; data protection will key it with a tenant secret.
pub fn identifier_key(tenant: TenantId, identifier: &Identifier) -> String {
    let identifier = normalise_identifier(identifier);
    let mut hasher = Sha256::new();
    hasher.update(b"hale.identifier.v1");
    hasher.update(tenant.as_uuid().as_bytes());
    for part in [&identifier.system, &identifier.value] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest: [u8; 32] = hasher.finalize().into();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mrn(value: &str) -> Identifier {
        Identifier {
            system: "urn:hale:mrn".into(),
            value: value.into(),
        }
    }

    /// 2026-12-01T12:00:00Z.
    const NOW: Timestamp = Timestamp::from_micros(1_796_126_400_000_000);

    #[test]
    fn all_problems_are_reported_together() {
        let errors = NewSubject::parse(
            vec![mrn(""), mrn("ok")],
            Some("\u{7}".into()),
            Some("1990-02-30".into()),
            NOW,
        )
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["identifiers[0].value", "display_name", "birth_date"]
        );
    }

    #[test]
    fn identifier_keys_differ_by_tenant_and_value() {
        let a = TenantId::from_uuid(uuid::Uuid::from_u128(1));
        let b = TenantId::from_uuid(uuid::Uuid::from_u128(2));
        assert_eq!(identifier_key(a, &mrn("1")), identifier_key(a, &mrn("1")));
        assert_ne!(identifier_key(a, &mrn("1")), identifier_key(b, &mrn("1")));
        assert_ne!(identifier_key(a, &mrn("1")), identifier_key(a, &mrn("2")));
    }

    #[test]
    fn spellings_of_one_identifier_share_one_key() {
        let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
        let key = identifier_key(tenant, &mrn("MRN-1"));
        for spelling in [
            " MRN-1",
            "mrn-1",
            "MRN\u{2010}1",
            "MRN\u{2011}1",
            "MRN\u{2212}1",
            "MRN\u{ff0d}1\u{a0}",
            "\u{ff2d}\u{ff32}\u{ff2e}-1",
            "MR\u{200b}N-1",
        ] {
            assert_eq!(identifier_key(tenant, &mrn(spelling)), key, "{spelling:?}");
        }
        let shouted = Identifier {
            system: "URN:HALE:mrn/".into(),
            value: "mrn-1".into(),
        };
        assert_eq!(identifier_key(tenant, &shouted), key);
        assert_ne!(identifier_key(tenant, &mrn("MRN 1")), key);
    }

    #[test]
    fn systems_fold_only_their_case_insensitive_parts() {
        assert_eq!(
            normalise_system(" HTTPS://Hospital.Example/MRN/ "),
            "https://hospital.example/MRN"
        );
        assert_eq!(normalise_system("URN:OID:1.2.3"), "urn:oid:1.2.3");
        assert_eq!(normalise_system("urn:hale:MRN"), "urn:hale:MRN");
        let uri = Identifier {
            system: "urn:ietf:rfc:3986".into(),
            value: " https://example.org/Patient/aBc ".into(),
        };
        assert_eq!(
            normalise_identifier(&uri).value,
            "https://example.org/Patient/aBc"
        );
    }

    #[test]
    fn registration_stores_the_normalised_identifier() {
        let subject = NewSubject::parse(vec![mrn("  ab\u{2010}7 ")], None, None, NOW).unwrap();
        assert_eq!(subject.identifiers, [mrn("AB-7")]);
        let blank = NewSubject::parse(vec![mrn(" \u{200b} ")], None, None, NOW).unwrap_err();
        assert_eq!(blank[0].field, "identifiers[0].value");
    }

    #[test]
    fn birth_dates_lie_between_1850_and_tomorrow() {
        let birth = |date: &str| {
            NewSubject::parse(vec![mrn("1")], None, Some(date.into()), NOW)
                .map(|_| ())
                .map_err(|errors| errors[0].code)
        };
        assert_eq!(birth("1850-01-01"), Ok(()));
        assert_eq!(birth("2026-12-02"), Ok(()));
        for date in ["1849-12-31", "0000-01-01", "2026-12-03", "2999-01-01"] {
            assert_eq!(birth(date), Err("out_of_range"), "{date}");
        }
        assert_eq!(birth("1990-02-30"), Err("invalid_date"));
    }

    proptest::proptest! {
        #[test]
        fn normalising_twice_changes_nothing(system in "\\PC{0,12}", value in "\\PC{0,12}") {
            let once = normalise_identifier(&Identifier { system, value });
            proptest::prop_assert_eq!(normalise_identifier(&once), once);
        }

        #[test]
        fn normalising_twice_changes_nothing_on_look_alikes(
            value in "[ a-zA-Z0-9\u{2010}-\u{2015}\u{2212}\u{a0}\u{3000}\u{ff10}-\u{ff5a}\u{1f0}\u{df}\u{200b}]{0,12}",
        ) {
            let once = normalise_identifier(&Identifier { system: "urn:mrn".into(), value });
            proptest::prop_assert_eq!(normalise_identifier(&once), once.clone());
            proptest::prop_assert!(once.value.trim() == once.value);
        }
    }
}
