//! Splits expression source into tokens, each tagged with its character offset so parse
//! errors can point at the exact place.

use crate::parser::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    Number(f64),
    String(String),
    Field(String),
    Dot,
    /// A function name or an operator word (`and`, `or`, `div`, `mod`).
    Name(String),
    LeftParen,
    RightParen,
    Comma,
    Plus,
    Minus,
    Star,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    End,
}

impl TokenKind {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Number(_) => String::from("a number"),
            Self::String(_) => String::from("a string"),
            Self::Field(name) => format!("'${{{name}}}'"),
            Self::Dot => String::from("'.'"),
            Self::Name(name) => format!("'{name}'"),
            Self::LeftParen => String::from("'('"),
            Self::RightParen => String::from("')'"),
            Self::Comma => String::from("','"),
            Self::Plus => String::from("'+'"),
            Self::Minus => String::from("'-'"),
            Self::Star => String::from("'*'"),
            Self::Equal => String::from("'='"),
            Self::NotEqual => String::from("'!='"),
            Self::Less => String::from("'<'"),
            Self::LessOrEqual => String::from("'<='"),
            Self::Greater => String::from("'>'"),
            Self::GreaterOrEqual => String::from("'>='"),
            Self::End => String::from("the end of the expression"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    /// Character (not byte) offset of the token's first character.
    pub(crate) position: usize,
}

fn is_field_start(character: char) -> bool {
    character.is_alphabetic() || character == '_'
}

fn is_field_continue(character: char) -> bool {
    character.is_alphanumeric() || matches!(character, '_' | '-' | '.')
}

fn is_whitespace(character: char) -> bool {
    matches!(character, ' ' | '\t' | '\n' | '\r')
}

/// Tokenises the whole source; the last token is always [`TokenKind::End`].
pub(crate) fn tokenize(source: &[char]) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < source.len() {
        let character = source[index];
        let start = index;
        let next = source.get(index + 1).copied();
        let kind = match character {
            _ if is_whitespace(character) => {
                index += 1;
                continue;
            }
            '$' => {
                let (name, end) = lex_field(source, start)?;
                index = end;
                TokenKind::Field(name)
            }
            '0'..='9' => {
                let (number, end) = lex_number(source, start)?;
                index = end;
                TokenKind::Number(number)
            }
            '.' if next.is_some_and(|after| after.is_ascii_digit()) => {
                let (number, end) = lex_number(source, start)?;
                index = end;
                TokenKind::Number(number)
            }
            '\'' | '"' => {
                let closing = source[start + 1..]
                    .iter()
                    .position(|&candidate| candidate == character)
                    .ok_or_else(|| ParseError::new(start, "unterminated string literal"))?;
                let end = start + 1 + closing;
                index = end + 1;
                TokenKind::String(source[start + 1..end].iter().collect())
            }
            _ if is_field_start(character) => {
                index += 1;
                // A hyphen belongs to the name only before a letter, so `count-selected` is one
                // name but `5 div-3` still reads as `div` then minus.
                while let Some(&following) = source.get(index) {
                    let continues = following.is_alphanumeric()
                        || following == '_'
                        || (following == '-'
                            && source
                                .get(index + 1)
                                .is_some_and(|after| after.is_alphabetic()));
                    if !continues {
                        break;
                    }
                    index += 1;
                }
                // `jr:choice-name`: the one namespaced function name XLSForm uses.
                let prefix: String = source[start..index].iter().collect();
                if prefix == "jr" && source.get(index) == Some(&':') {
                    index += 1;
                    while let Some(&following) = source.get(index) {
                        if !(following.is_alphanumeric() || following == '-') {
                            break;
                        }
                        index += 1;
                    }
                }
                TokenKind::Name(source[start..index].iter().collect())
            }
            _ => {
                let (kind, width) = match (character, next) {
                    ('.', _) => (TokenKind::Dot, 1),
                    ('(', _) => (TokenKind::LeftParen, 1),
                    (')', _) => (TokenKind::RightParen, 1),
                    (',', _) => (TokenKind::Comma, 1),
                    ('+', _) => (TokenKind::Plus, 1),
                    ('-', _) => (TokenKind::Minus, 1),
                    ('*', _) => (TokenKind::Star, 1),
                    ('=', _) => (TokenKind::Equal, 1),
                    ('!', Some('=')) => (TokenKind::NotEqual, 2),
                    ('<', Some('=')) => (TokenKind::LessOrEqual, 2),
                    ('<', _) => (TokenKind::Less, 1),
                    ('>', Some('=')) => (TokenKind::GreaterOrEqual, 2),
                    ('>', _) => (TokenKind::Greater, 1),
                    ('!', _) => return Err(ParseError::new(start, "expected '=' after '!'")),
                    ('/', _) => {
                        return Err(ParseError::new(
                            start,
                            "paths and '/' are not supported: refer to fields as ${name} and divide with 'div'",
                        ));
                    }
                    _ => {
                        return Err(ParseError::new(
                            start,
                            format!("unexpected character {character:?}"),
                        ));
                    }
                };
                index += width;
                kind
            }
        };
        tokens.push(Token {
            kind,
            position: start,
        });
    }
    tokens.push(Token {
        kind: TokenKind::End,
        position: source.len(),
    });
    Ok(tokens)
}

/// Reads `${name}` starting at the `$`; returns the name and the index after `}`.
fn lex_field(source: &[char], start: usize) -> Result<(String, usize), ParseError> {
    if source.get(start + 1) != Some(&'{') {
        return Err(ParseError::new(start, "expected '{' after '$'"));
    }
    let name_start = start + 2;
    match source.get(name_start) {
        Some(&first) if is_field_start(first) => {}
        _ => {
            return Err(ParseError::new(
                name_start,
                "expected a field name (a letter or '_' first) after '${'",
            ));
        }
    }
    let mut index = name_start + 1;
    while source
        .get(index)
        .is_some_and(|&character| is_field_continue(character))
    {
        index += 1;
    }
    match source.get(index) {
        Some('}') => Ok((source[name_start..index].iter().collect(), index + 1)),
        Some(&other) => Err(ParseError::new(
            index,
            format!("unexpected character {other:?} in field reference; expected '}}'"),
        )),
        None => Err(ParseError::new(
            start,
            "unclosed field reference: expected '}'",
        )),
    }
}

/// Reads `digits[.digits]` or `.digits`; exponents are not part of XPath 1.0.
fn lex_number(source: &[char], start: usize) -> Result<(f64, usize), ParseError> {
    let mut index = start;
    while source.get(index).is_some_and(char::is_ascii_digit) {
        index += 1;
    }
    if source.get(index) == Some(&'.') {
        index += 1;
        while source.get(index).is_some_and(char::is_ascii_digit) {
            index += 1;
        }
    }
    let text: String = source[start..index].iter().collect();
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok((number, index)),
        _ => Err(ParseError::new(start, "number literal is too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<TokenKind> {
        let chars: Vec<char> = source.chars().collect();
        tokenize(&chars)
            .unwrap()
            .into_iter()
            .map(|token| token.kind)
            .collect()
    }

    #[test]
    fn hyphenated_names_and_operator_words() {
        assert_eq!(
            kinds("count-selected(.) div-3"),
            vec![
                TokenKind::Name(String::from("count-selected")),
                TokenKind::LeftParen,
                TokenKind::Dot,
                TokenKind::RightParen,
                TokenKind::Name(String::from("div")),
                TokenKind::Minus,
                TokenKind::Number(3.0),
                TokenKind::End,
            ]
        );
    }

    #[test]
    fn numbers_fields_and_strings() {
        assert_eq!(
            kinds("${a_1-b.c}>=.5 \"it's\""),
            vec![
                TokenKind::Field(String::from("a_1-b.c")),
                TokenKind::GreaterOrEqual,
                TokenKind::Number(0.5),
                TokenKind::String(String::from("it's")),
                TokenKind::End,
            ]
        );
    }

    #[test]
    fn positions_are_character_offsets() {
        let chars: Vec<char> = "'é' = x".chars().collect();
        let tokens = tokenize(&chars).unwrap();
        assert_eq!(tokens[1].position, 4);
        assert_eq!(tokens[2].position, 6);
    }
}
