//! Column headers as the reference converter reads them: its aliases (`relevance`,
//! `constraint message`, `list name`, `repeat_count`, `image`, the `bind::` and `body::`
//! spellings, …) mapped to one canonical name, keeping any `::language` suffix.

/// Survey aliases → canonical header.
const SURVEY_ALIASES: &[(&str, &str)] = &[
    ("caption", "label"),
    ("relevance", "relevant"),
    ("bind::relevant", "relevant"),
    ("bind::required", "required"),
    ("bind::constraint", "constraint"),
    ("calculate", "calculation"),
    ("bind::calculate", "calculation"),
    ("constraint message", "constraint_message"),
    ("constraining message", "constraint_message"),
    ("bind::jr:constraintmsg", "constraint_message"),
    ("required message", "required_message"),
    ("requiredmsg", "required_message"),
    ("bind::jr:requiredmsg", "required_message"),
    ("read_only", "read_only"),
    ("readonly", "read_only"),
    ("bind::readonly", "read_only"),
    ("count", "repeat_count"),
    ("jr:count", "repeat_count"),
    ("control::jr:count", "repeat_count"),
    ("control::appearance", "appearance"),
    ("body::appearance", "appearance"),
    ("image", "media::image"),
    ("big-image", "media::big-image"),
    ("audio", "media::audio"),
    ("video", "media::video"),
    ("command", "type"),
    ("tag", "name"),
    ("value", "name"),
];

/// Choices aliases → canonical header.
const CHOICE_ALIASES: &[(&str, &str)] = &[
    ("list name", "list_name"),
    ("caption", "label"),
    ("value", "name"),
    ("image", "media::image"),
    ("big-image", "media::big-image"),
    ("audio", "media::audio"),
    ("video", "media::video"),
];

/// Settings aliases → canonical header.
const SETTINGS_ALIASES: &[(&str, &str)] = &[
    ("set form title", "form_title"),
    ("set form id", "form_id"),
    ("id_string", "form_id"),
    // The reference converter's own name for the title.
    ("title", "form_title"),
];

/// The canonical name of `header` on `sheet`: lower-cased, aliases resolved, a translated
/// column's base resolved and its language kept as written (spaces around `::` dropped).
#[cfg(test)]
pub(crate) fn canonical(sheet: &str, header: &str) -> String {
    canonical_in(sheet, header, true)
}

/// [`canonical`] in a workbook where `double_colons` says whether any header has `::`. As in
/// the reference converter, a workbook with none separates a column from its language by a
/// single colon (`label:en`, `hint:French (fr)`); a header that is itself an alias
/// (`jr:count`) is read as the alias.
pub(crate) fn canonical_in(sheet: &str, header: &str, double_colons: bool) -> String {
    let aliases = match sheet {
        "survey" => SURVEY_ALIASES,
        "choices" => CHOICE_ALIASES,
        _ => SETTINGS_ALIASES,
    };
    let trimmed = header.trim();
    // `label::English (en)`: the base is everything before the last `::` that is followed by
    // a language (media columns have two: `media::image::English (en)`).
    let lower = trimmed.to_ascii_lowercase();
    let resolve = |base: &str| -> Option<String> {
        aliases
            .iter()
            .find(|(alias, _)| *alias == base)
            .map(|(_, canonical)| (*canonical).to_owned())
    };
    if let Some(found) = resolve(&lower) {
        return found;
    }
    if !double_colons && trimmed.contains(':') {
        return canonical_in(sheet, &trimmed.replace(':', "::"), true);
    }
    if let Some(split) = trimmed.rfind("::") {
        let base = lower[..split].trim_end();
        let language = trimmed[split + 2..].trim_start();
        if let Some(found) = resolve(base) {
            return format!("{found}::{language}");
        }
        return format!("{base}::{language}");
    }
    lower
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn aliases_resolve_and_languages_stay_as_written() {
        assert_eq!(canonical("survey", "Relevance"), "relevant");
        assert_eq!(
            canonical("survey", "constraint message"),
            "constraint_message"
        );
        assert_eq!(
            canonical("survey", "constraint message::Français (fr)"),
            "constraint_message::Français (fr)"
        );
        assert_eq!(canonical("survey", "image::en"), "media::image::en");
        assert_eq!(canonical("survey", "media::image::en"), "media::image::en");
        assert_eq!(
            canonical("survey", "Label::English (en)"),
            "label::English (en)"
        );
        assert_eq!(canonical("choices", "list name"), "list_name");
        assert_eq!(canonical("survey", "repeat_count"), "repeat_count");
        assert_eq!(canonical("settings", "id_string"), "form_id");
        assert_eq!(canonical("settings", "title"), "form_title");
        assert_eq!(
            canonical("survey", "constraint_message :: English (en)"),
            "constraint_message::English (en)"
        );
    }

    #[test]
    fn a_single_colon_separates_languages_only_where_no_header_has_two() {
        use super::canonical_in;
        assert_eq!(canonical_in("survey", "label:fr", false), "label::fr");
        assert_eq!(
            canonical_in("survey", "image:English (en)", false),
            "media::image::English (en)"
        );
        assert_eq!(canonical_in("survey", "jr:count", false), "repeat_count");
        assert_eq!(canonical_in("survey", "label:fr", true), "label:fr");
    }
}
