//! Field names for FHIR linkIds: a linkId that is a valid Hale name is the name; any other
//! (`/54126-8/54125-0`, `1.1`) gets a derived one and is kept as the field's `link_id`.

use std::collections::HashSet;

use crate::definition::is_valid_name;

/// Hands out unique names, linkIds that are names first.
#[derive(Default)]
pub(crate) struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// Reserves the linkIds that are valid names as they are.
    pub(crate) fn reserve(&mut self, link_id: &str) {
        if is_valid_name(link_id) && link_id != "meta" {
            self.taken.insert(link_id.to_owned());
        }
    }

    /// The name for `link_id`: itself when valid (and reserved), else derived and unique.
    pub(crate) fn name_for(&mut self, link_id: &str) -> String {
        if is_valid_name(link_id) && link_id != "meta" {
            return link_id.to_owned();
        }
        self.fresh(link_id)
    }

    /// A name derived from `base` that no linkId and no other name has.
    pub(crate) fn fresh(&mut self, base: &str) -> String {
        let base = derive(base);
        let mut candidate = base.clone();
        let mut counter = 2_u32;
        while self.taken.contains(&candidate) || !is_valid_name(&candidate) {
            let suffix = format!("_{counter}");
            let keep = base.len().min(64 - suffix.len());
            candidate = format!("{}{suffix}", &base[..keep]);
            counter = counter.saturating_add(1);
        }
        self.taken.insert(candidate.clone());
        candidate
    }
}

/// Letters, digits, `_`, `-` and `.` kept (ASCII), everything else `_`, a leading `_` or
/// `q` when it would not start a name, at most 60 characters.
pub(crate) fn derive(link_id: &str) -> String {
    let mut name: String = link_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        name.insert(0, 'q');
    }
    if name == "meta" {
        name.push('_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn invalid_link_ids_get_unique_names() {
        let mut names = Names::default();
        names.reserve("q_54126-8");
        assert_eq!(names.name_for("valid"), "valid");
        assert_eq!(names.name_for("/54126-8"), "_54126-8");
        assert_eq!(names.name_for("1.1"), "q1.1");
        assert_eq!(names.name_for("54126-8"), "q54126-8");
        assert_eq!(names.name_for("54126 8"), "q54126_8");
        assert_eq!(names.name_for("54126/8"), "q54126_8_2");
    }

    proptest! {
        #[test]
        fn derived_names_are_valid_and_unique(ids in proptest::collection::vec(".{0,80}", 0..20)) {
            let mut names = Names::default();
            for id in &ids {
                names.reserve(id);
            }
            let mut seen = HashSet::new();
            for id in &ids {
                let name = names.name_for(id);
                prop_assert!(is_valid_name(&name), "{name}");
                if !is_valid_name(id) || id == "meta" {
                    prop_assert!(seen.insert(name));
                }
            }
        }
    }
}
