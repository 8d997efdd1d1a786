//! Fuzzes SMART scope parsing: any text must parse or be refused with an error, never panic;
//! whatever parses must print canonically within the length cap and parse back to the same
//! scopes; and a `*` scope's permission must hold for every resource.
//! Run with `cargo +nightly fuzz run scopes corpus/scopes seeds/scopes` from
//! `crates/hale-domain` (new inputs go to the ignored `corpus/`; `seeds/` is kept).

#![no_main]

use hale_domain::scope::{Interaction, MAX_SCOPE_TEXT_BYTES, ResourceType, ScopeContext, Scopes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(scopes) = Scopes::parse(&text) else {
        return;
    };
    let printed = scopes.to_string();
    assert!(printed.len() <= MAX_SCOPE_TEXT_BYTES);
    assert_eq!(Scopes::parse(&printed).as_ref(), Ok(&scopes), "{printed}");
    for context in ScopeContext::ALL {
        for interaction in Interaction::ALL {
            let any = scopes.permits_any_resource(context, interaction);
            for resource in ResourceType::ALL {
                assert!(!any || scopes.permits(context, resource, interaction));
            }
        }
    }
});
