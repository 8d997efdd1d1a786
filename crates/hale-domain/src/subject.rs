//! Subjects (patients): their identifiers and the little demographic data Hale keeps.
//! Everything here except the subject id is PHI.

use sha2::{Digest, Sha256};

use crate::event::Identifier;
use crate::ids::TenantId;

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
    /// Checks every field and reports all problems at once.
    pub fn parse(
        identifiers: Vec<Identifier>,
        display_name: Option<String>,
        birth_date: Option<String>,
    ) -> Result<Self, Vec<SubjectFieldError>> {
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
        for (index, identifier) in identifiers.iter().enumerate() {
            if !is_reasonable_text(&identifier.system, 255) {
                errors.push(SubjectFieldError {
                    field: format!("identifiers[{index}].system"),
                    code: "invalid",
                    message: "system must be 1-255 characters without control characters",
                });
            }
            if !is_reasonable_text(&identifier.value, 255) {
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
            if time::Date::parse(date, &format).is_err() {
                errors.push(SubjectFieldError {
                    field: "birth_date".into(),
                    code: "invalid_date",
                    message: "birth date must be a calendar date, YYYY-MM-DD",
                });
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

/// The blind index of an identifier: lets the store find a subject by identifier, and refuse a
/// duplicate, without keeping the identifier itself in an indexed column. Keyed with the tenant
/// id now; data protection will key it with a tenant secret.
pub fn identifier_key(tenant: TenantId, identifier: &Identifier) -> String {
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

    #[test]
    fn all_problems_are_reported_together() {
        let errors = NewSubject::parse(
            vec![mrn(""), mrn("ok")],
            Some("\u{7}".into()),
            Some("1990-02-30".into()),
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
}
