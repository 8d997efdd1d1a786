//! Checks on text a client asks Hale to store. U+0000 in particular: SQLite keeps it and
//! PostgreSQL's TEXT cannot, so it is refused here, before either engine, with one answer.

/// Whether JSON text holds a string with U+0000. In valid JSON that character can only be
/// written as the escape `\u0000`; an escape is one whose backslash is not itself escaped.
pub(crate) fn json_has_nul(json: &str) -> bool {
    let bytes = json.as_bytes();
    json.match_indices("u0000").any(|(at, _)| {
        let backslashes = bytes[..at]
            .iter()
            .rev()
            .take_while(|byte| **byte == b'\\')
            .count();
        backslashes % 2 == 1
    })
}

/// Whether free text (a comment) holds a control character other than line breaks and tabs.
pub(crate) fn has_control_character(text: &str) -> bool {
    text.chars()
        .any(|character| character.is_control() && !matches!(character, '\n' | '\r' | '\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_escaped_nul_but_not_an_escaped_backslash_before_u0000() {
        assert!(json_has_nul(r#"{"label":"a\u0000b"}"#));
        assert!(json_has_nul(r#"{"label":"\\\u0000"}"#));
        assert!(!json_has_nul(r#"{"label":"\\u0000"}"#));
        assert!(!json_has_nul(r#"{"label":"u0000"}"#));
    }

    #[test]
    fn comments_keep_line_breaks_but_not_other_controls() {
        assert!(!has_control_character("line one\nline two\tend"));
        assert!(has_control_character("a\u{0}b"));
        assert!(has_control_character("a\u{1b}[31m"));
    }
}
