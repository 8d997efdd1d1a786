//! Tests of scope parsing and checks: each rule by example, each refusal by its error, and
//! properties over generated and arbitrary scope texts.

use proptest::prelude::*;

use super::*;

use Interaction::{Create, Delete, Read, Search, Update};
use ResourceType::{Observation, Patient, Questionnaire, QuestionnaireResponse};
use ScopeContext::{System, User};

fn parse(text: &str) -> Scopes {
    Scopes::parse(text).unwrap()
}

fn only(text: &str) -> Scope {
    let scopes = parse(text);
    assert_eq!(scopes.resource_scopes().len(), 1, "{text}");
    scopes.resource_scopes()[0]
}

#[test]
fn a_v2_scope_reads_its_context_resource_and_interactions() {
    assert_eq!(
        only("patient/Observation.rs"),
        Scope {
            context: ScopeContext::Patient,
            resource: Some(Observation),
            interactions: InteractionSet::of(&[Read, Search]),
        }
    );
    assert_eq!(only("user/*.cud").resource, None);
    assert_eq!(only("user/*.cud").interactions, InteractionSet::WRITE);
    assert_eq!(only("system/QuestionnaireResponse.c").context, System);
    assert_eq!(
        only("system/QuestionnaireResponse.c").resource,
        Some(QuestionnaireResponse)
    );
    assert_eq!(
        only("user/Questionnaire.cruds").interactions,
        InteractionSet::ALL
    );
}

#[test]
fn v1_suffixes_mean_their_v2_letters() {
    assert_eq!(parse("patient/Patient.read"), parse("patient/Patient.rs"));
    assert_eq!(parse("patient/Patient.write"), parse("patient/Patient.cud"));
    assert_eq!(parse("patient/Patient.*"), parse("patient/Patient.cruds"));
    assert_eq!(parse("user/*.*").to_string(), "user/*.cruds");
}

#[test]
fn interactions_must_be_a_non_empty_subset_of_cruds_in_order() {
    for suffix in [
        "",
        "sr",
        "rr",
        "dc",
        "x",
        "crudsx",
        "CRUDS",
        "Read",
        "read\u{a0}",
        "**",
        "r*",
    ] {
        let text = format!("patient/Observation.{suffix}");
        assert_eq!(
            Scopes::parse(&text),
            Err(ScopeError::Malformed { index: 0 }),
            "{text:?}"
        );
    }
    for suffix in ["c", "r", "u", "d", "s", "rs", "cud", "cruds", "crs", "us"] {
        let text = format!("patient/Observation.{suffix}");
        assert_eq!(only(&text).interactions.to_string(), suffix);
    }
}

#[test]
fn each_refusal_names_the_index_of_the_scope_it_refuses() {
    let cases = [
        (
            "openid patient/Encounter.rs",
            ScopeError::UnknownResource { index: 1 },
        ),
        (
            "Patient/Observation.rs",
            ScopeError::UnknownContext { index: 0 },
        ),
        (
            "openid profile group/*.rs",
            ScopeError::UnknownContext { index: 2 },
        ),
        ("patient/Observation", ScopeError::Malformed { index: 0 }),
        ("patient/.rs", ScopeError::Malformed { index: 0 }),
        ("patient/observation.rs", ScopeError::Malformed { index: 0 }),
        (
            "patient/Obs-ervation.rs",
            ScopeError::Malformed { index: 0 },
        ),
        ("patient/", ScopeError::Malformed { index: 0 }),
        (
            "user/*.rs patient/Observation.rs?category=laboratory",
            ScopeError::Granular { index: 1 },
        ),
        (
            "patient/Observation.read?code=1234-5",
            ScopeError::Granular { index: 0 },
        ),
        (
            "patient/Observation.sr?code=1",
            ScopeError::Malformed { index: 0 },
        ),
        ("launch/location", ScopeError::Unrecognised { index: 0 }),
        ("openid admin", ScopeError::Unrecognised { index: 1 }),
        ("openid\tprofile", ScopeError::Unrecognised { index: 0 }),
        ("OpenID", ScopeError::Unrecognised { index: 0 }),
        ("/Observation.rs", ScopeError::UnknownContext { index: 0 }),
    ];
    for (text, expected) in cases {
        assert_eq!(Scopes::parse(text), Err(expected), "{text:?}");
        assert!(expected.index().is_some());
    }
    // Runs of spaces separate scopes without counting as scopes.
    assert_eq!(
        Scopes::parse("  openid   patient/Foo.rs "),
        Err(ScopeError::UnknownResource { index: 1 })
    );
}

#[test]
fn error_messages_never_repeat_the_scope_text() {
    let texts = [
        "patient/Secretive.rs",
        "Secretive/Observation.rs",
        "patient/Observation.rs?Secretive=1",
        "patient/Observation.Secretive",
        "Secretive",
    ];
    for text in texts {
        let error = Scopes::parse(text).unwrap_err();
        let message = error.to_string();
        assert!(!message.contains("Secretive"), "{message}");
        assert!(!message.is_empty());
    }
}

#[test]
fn an_empty_text_is_refused_not_read_as_unrestricted() {
    assert_eq!(Scopes::parse(""), Err(ScopeError::Empty));
    assert_eq!(Scopes::parse("    "), Err(ScopeError::Empty));
    assert_eq!(ScopeError::Empty.index(), None);
}

#[test]
fn the_text_and_the_count_are_capped() {
    let fits = format!("openid {}", " ".repeat(MAX_SCOPE_TEXT_BYTES - 7));
    assert_eq!(fits.len(), MAX_SCOPE_TEXT_BYTES);
    assert!(Scopes::parse(&fits).is_ok());
    assert_eq!(Scopes::parse(&format!("{fits} ")), Err(ScopeError::TooLong));

    let sixty_four = vec!["openid"; MAX_SCOPES].join(" ");
    assert_eq!(parse(&sixty_four).other_scopes(), ["openid"]);
    let sixty_five = vec!["openid"; MAX_SCOPES + 1].join(" ");
    assert_eq!(Scopes::parse(&sixty_five), Err(ScopeError::TooMany));
    // The count is checked before a later malformed scope is read.
    assert_eq!(
        Scopes::parse(&format!("{sixty_five} nonsense")),
        Err(ScopeError::TooMany)
    );
}

#[test]
fn repeated_scopes_are_merged() {
    let scopes =
        parse("patient/Observation.r openid patient/Observation.s openid patient/Observation.read");
    assert_eq!(scopes.to_string(), "patient/Observation.rs openid");
    assert_eq!(
        parse("user/Patient.c user/Patient.rs user/Patient.ud"),
        parse("user/Patient.cruds")
    );
}

#[test]
fn display_is_canonical() {
    let scopes =
        parse("offline_access user/Observation.read patient/*.* fhirUser openid launch/patient");
    assert_eq!(
        scopes.to_string(),
        "patient/*.cruds user/Observation.rs fhirUser launch/patient offline_access openid"
    );
    assert_eq!(parse(&scopes.to_string()), scopes);
}

#[test]
fn other_scopes_are_kept_and_grant_nothing() {
    let scopes = parse(
        "openid profile email fhirUser offline_access online_access launch launch/patient launch/encounter",
    );
    assert_eq!(scopes.other_scopes().len(), OTHER_SCOPES.len());
    assert!(scopes.includes_other("offline_access"));
    assert!(!parse("openid").includes_other("offline_access"));
    assert!(scopes.resource_scopes().is_empty());
    assert!(!scopes.is_unrestricted());
    for context in ScopeContext::ALL {
        for interaction in Interaction::ALL {
            assert!(!scopes.permits_any_resource(context, interaction));
            for resource in ResourceType::ALL {
                assert!(!scopes.permits(context, resource, interaction));
            }
        }
    }
}

#[test]
fn permits_needs_the_same_context_the_resource_or_star_and_the_interaction() {
    let scopes = parse("patient/Observation.rs user/*.r");
    assert!(scopes.permits(ScopeContext::Patient, Observation, Read));
    assert!(scopes.permits(ScopeContext::Patient, Observation, Search));
    assert!(!scopes.permits(ScopeContext::Patient, Observation, Create));
    assert!(!scopes.permits(ScopeContext::Patient, Patient, Read));
    assert!(!scopes.permits(System, Observation, Read));
    for resource in ResourceType::ALL {
        assert!(scopes.permits(User, resource, Read));
        assert!(!scopes.permits(User, resource, Search));
        assert!(!scopes.permits(User, resource, Update));
    }
}

#[test]
fn permits_any_resource_needs_a_star_scope() {
    let named = parse(
        "user/Patient.cruds user/Observation.cruds user/Questionnaire.cruds user/QuestionnaireResponse.cruds",
    );
    assert!(!named.permits_any_resource(User, Update));
    let star = parse("user/*.cu");
    assert!(star.permits_any_resource(User, Update));
    assert!(!star.permits_any_resource(User, Delete));
    assert!(!star.permits_any_resource(System, Update));
    assert!(star.permits(User, Questionnaire, Create));
}

#[test]
fn unrestricted_narrows_nothing() {
    let scopes = Scopes::unrestricted();
    assert!(scopes.is_unrestricted());
    assert!(scopes.resource_scopes().is_empty());
    assert_eq!(scopes.to_string(), "");
    for context in ScopeContext::ALL {
        for interaction in Interaction::ALL {
            assert!(scopes.permits_any_resource(context, interaction));
            for resource in ResourceType::ALL {
                assert!(scopes.permits(context, resource, interaction));
            }
        }
    }
    assert!(!parse("user/*.cruds").is_unrestricted());
}

#[test]
fn from_scopes_merges_and_drops_empty_scopes() {
    let built = Scopes::from_scopes([
        Scope {
            context: User,
            resource: Some(Observation),
            interactions: InteractionSet::EMPTY.with(Read),
        },
        Scope {
            context: User,
            resource: None,
            interactions: InteractionSet::EMPTY,
        },
        Scope {
            context: User,
            resource: Some(Observation),
            interactions: InteractionSet::EMPTY.with(Search),
        },
    ]);
    assert_eq!(built, parse("user/Observation.rs"));
}

#[test]
fn interaction_sets_display_in_canonical_order() {
    assert_eq!(
        InteractionSet::of(&[Search, Create, Read]).to_string(),
        "crs"
    );
    assert_eq!(InteractionSet::READ.to_string(), "rs");
    assert_eq!(InteractionSet::WRITE.to_string(), "cud");
    assert_eq!(InteractionSet::ALL.to_string(), "cruds");
    assert_eq!(InteractionSet::EMPTY.to_string(), "");
    assert_eq!(format!("{:?}", InteractionSet::READ), "InteractionSet(rs)");
}

fn suffix() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::from("read")),
        Just(String::from("write")),
        Just(String::from("*")),
        (1u8..32).prop_map(|bits| InteractionSet(bits).to_string()),
    ]
}

fn token() -> impl Strategy<Value = String> {
    let resource = prop_oneof![
        Just("*"),
        prop::sample::select(ResourceType::ALL.map(ResourceType::as_str).to_vec()),
    ];
    let context = prop::sample::select(ScopeContext::ALL.map(ScopeContext::as_str).to_vec());
    prop_oneof![
        3 => (context, resource, suffix())
            .prop_map(|(context, resource, suffix)| format!("{context}/{resource}.{suffix}")),
        1 => prop::sample::select(OTHER_SCOPES.to_vec()).prop_map(String::from),
    ]
}

fn scope_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec((token(), 1usize..3), 1..max).prop_map(|tokens| {
        tokens
            .into_iter()
            .map(|(token, spaces)| format!("{token}{}", " ".repeat(spaces)))
            .collect()
    })
}

fn all_permissions(scopes: &Scopes) -> Vec<bool> {
    let mut permissions = Vec::new();
    for context in ScopeContext::ALL {
        for interaction in Interaction::ALL {
            permissions.push(scopes.permits_any_resource(context, interaction));
            for resource in ResourceType::ALL {
                permissions.push(scopes.permits(context, resource, interaction));
            }
        }
    }
    permissions
}

proptest! {
    #[test]
    fn parse_of_display_is_the_same_scopes(text in scope_text(20)) {
        let scopes = Scopes::parse(&text).unwrap();
        let shown = scopes.to_string();
        prop_assert_eq!(Scopes::parse(&shown), Ok(scopes.clone()));
        prop_assert!(shown.len() <= text.len() + 4 * scopes.resource_scopes().len());
        prop_assert_eq!(all_permissions(&Scopes::parse(&shown).unwrap()), all_permissions(&scopes));
    }

    #[test]
    fn adding_a_scope_never_removes_a_permission(text in scope_text(16), more in scope_text(16)) {
        let before = all_permissions(&Scopes::parse(&text).unwrap());
        let after = all_permissions(&Scopes::parse(&format!("{text} {more}")).unwrap());
        for (had, has) in before.into_iter().zip(after) {
            prop_assert!(!had || has);
        }
    }

    #[test]
    fn order_does_not_matter(mut tokens in prop::collection::vec(token(), 1..20), seed in any::<u64>()) {
        let forward = Scopes::parse(&tokens.join(" ")).unwrap();
        let len = tokens.len();
        tokens.rotate_left(usize::try_from(seed % len as u64).unwrap());
        tokens.reverse();
        prop_assert_eq!(Scopes::parse(&tokens.join(" ")).unwrap(), forward);
    }

    #[test]
    fn arbitrary_text_never_panics_and_what_parses_round_trips(text in "\\PC{0,80}|[a-zA-Z*/.? ]{0,80}") {
        match Scopes::parse(&text) {
            Ok(scopes) => {
                prop_assert_eq!(Scopes::parse(&scopes.to_string()), Ok(scopes.clone()));
            }
            Err(error) => {
                prop_assert!(error.index().is_none_or(|index| index < MAX_SCOPES));
            }
        }
    }

    #[test]
    fn canonical_text_fits_the_cap_and_star_reaches_every_resource(text in scope_text(64)) {
        let Ok(scopes) = Scopes::parse(&text) else {
            // Only the byte cap can refuse a generated text.
            prop_assert!(text.len() > MAX_SCOPE_TEXT_BYTES);
            return Ok(());
        };
        prop_assert!(scopes.to_string().len() <= MAX_SCOPE_TEXT_BYTES);
        for context in ScopeContext::ALL {
            for interaction in Interaction::ALL {
                let any = scopes.permits_any_resource(context, interaction);
                for resource in ResourceType::ALL {
                    prop_assert!(!any || scopes.permits(context, resource, interaction));
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_is_refused_without_an_out_of_range_index(text in "[a-z/.* ]{0,200}") {
        match Scopes::parse(&text) {
            Ok(scopes) => {
                prop_assert_eq!(Scopes::parse(&scopes.to_string()), Ok(scopes.clone()));
            }
            Err(error) => {
                prop_assert!(error.index().is_none_or(|index| index < MAX_SCOPES));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Scopes::parse(&text);
    }
}
