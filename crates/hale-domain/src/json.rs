//! The one strict JSON reader every layer uses for text that comes from outside: request
//! bodies, submitted answers, uploaded app definitions and FHIR Questionnaires, config files.
//!
//! JSON as most parsers read it lets the same text mean two things: `{"a":1,"a":2}` is `1` to
//! one reader and `2` to another, so what was validated and what was stored can differ. This
//! reader refuses, before any typed parse, every text whose meaning is not unique or not
//! representable: a key repeated in one object (compared after unescaping, at any depth),
//! nesting deeper than [`MAX_DEPTH`], a number beyond the range of `f64` (`1e400`), and an
//! escape that is not a Unicode scalar value (a lone surrogate such as `"\ud800"`). Each
//! refusal has its own stable code and a line and column; no error ever repeats the input,
//! which may be PHI.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Deepest nesting of arrays and objects accepted. serde_json stops at 128 on its own; this
/// check comes first, so the refusal is ours and has its own code.
pub const MAX_DEPTH: usize = 64;

/// Why a JSON text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// Not JSON at all: a syntax error, truncated text, trailing characters.
    Malformed,
    /// The same key twice in one object.
    DuplicateKey,
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    NestingTooDeep,
    /// A number outside the range of a 64-bit float.
    NumberOutOfRange,
    /// Invalid UTF-8, or a `\u` escape that is not a Unicode scalar value.
    InvalidUnicode,
    /// Well-formed JSON that does not have the members and types the reader asked for.
    UnexpectedShape,
}

impl JsonErrorKind {
    /// The stable code of this refusal.
    pub const fn code(self) -> &'static str {
        match self {
            JsonErrorKind::Malformed => "malformed_json",
            JsonErrorKind::DuplicateKey => "duplicate_key",
            JsonErrorKind::NestingTooDeep => "nesting_too_deep",
            JsonErrorKind::NumberOutOfRange => "number_out_of_range",
            JsonErrorKind::InvalidUnicode => "invalid_unicode",
            JsonErrorKind::UnexpectedShape => "unexpected_shape",
        }
    }

    /// A fixed description, safe to show: it never contains the input.
    pub const fn description(self) -> &'static str {
        match self {
            JsonErrorKind::Malformed => "the text is not valid JSON",
            JsonErrorKind::DuplicateKey => "an object has the same key twice",
            JsonErrorKind::NestingTooDeep => "arrays and objects are nested more than 64 deep",
            JsonErrorKind::NumberOutOfRange => "a number is too large to represent",
            JsonErrorKind::InvalidUnicode => "the text has invalid Unicode (a lone surrogate?)",
            JsonErrorKind::UnexpectedShape => {
                "the JSON does not have the expected members and types"
            }
        }
    }
}

/// A refused JSON text: what is wrong and where, never what it said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub kind: JsonErrorKind,
    /// 1-based line of the problem (0 when unknown).
    pub line: usize,
    /// 1-based column of the problem (0 when unknown).
    pub column: usize,
}

impl JsonError {
    pub const fn code(&self) -> &'static str {
        self.kind.code()
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} (line {}, column {})",
            self.kind.description(),
            self.line,
            self.column
        )
    }
}

impl std::error::Error for JsonError {}

/// Checks that `bytes` is one JSON text with a single meaning (see the module documentation).
pub fn check(bytes: &[u8]) -> Result<(), JsonError> {
    let refusal = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let checked = Checker {
        depth: 0,
        refusal: &refusal,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    checked.map_err(|error| JsonError {
        kind: refusal.take().unwrap_or_else(|| classify(&error)),
        line: error.line(),
        column: error.column(),
    })
}

/// Reads `bytes` as a `T` after [`check`]ing it.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    check(bytes)?;
    serde_json::from_slice(bytes).map_err(|error| JsonError {
        kind: match classify(&error) {
            JsonErrorKind::Malformed => JsonErrorKind::UnexpectedShape,
            kind => kind,
        },
        line: error.line(),
        column: error.column(),
    })
}

/// Reads `text` as a `T` after [`check`]ing it.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    from_slice(text.as_bytes())
}

/// serde_json tells its errors apart only by message; these messages are part of its stable
/// 1.x behaviour, and anything unrecognised is reported as plain malformed JSON.
fn classify(error: &serde_json::Error) -> JsonErrorKind {
    if error.is_data() {
        return JsonErrorKind::UnexpectedShape;
    }
    let message = error.to_string();
    if message.starts_with("number out of range") {
        JsonErrorKind::NumberOutOfRange
    } else if message.starts_with("recursion limit exceeded") {
        JsonErrorKind::NestingTooDeep
    } else if message.contains("surrogate")
        || message.starts_with("invalid unicode code point")
        || message.starts_with("unexpected end of hex escape")
    {
        JsonErrorKind::InvalidUnicode
    } else {
        JsonErrorKind::Malformed
    }
}

/// Walks one value without keeping it, refusing repeated keys and deep nesting. The refusal
/// goes through `refusal` because serde's error type carries only a message.
#[derive(Clone, Copy)]
struct Checker<'a> {
    depth: usize,
    refusal: &'a Cell<Option<JsonErrorKind>>,
}

impl Checker<'_> {
    fn nested<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(self.refuse(JsonErrorKind::NestingTooDeep));
        }
        Ok(Checker {
            depth: self.depth + 1,
            ..self
        })
    }

    fn refuse<E: de::Error>(self, kind: JsonErrorKind) -> E {
        self.refusal.set(Some(kind));
        E::custom(kind.code())
    }
}

impl<'de> DeserializeSeed<'de> for Checker<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checker<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, number: f64) -> Result<(), E> {
        if number.is_finite() {
            Ok(())
        } else {
            Err(self.refuse(JsonErrorKind::NumberOutOfRange))
        }
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        while items.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<(), A::Error> {
        let inner = self.nested()?;
        let mut keys = HashSet::new();
        // Keys arrive unescaped, so `"a"` and `"\u0061"` are the same key, as they mean.
        while let Some(key) = members.next_key::<String>()? {
            if !keys.insert(key) {
                return Err(self.refuse(JsonErrorKind::DuplicateKey));
            }
            members.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// The position of the first number literal in `text` (JSON already [`check`]ed) that is not,
/// up to zeros and exponent, the shortest decimal of the `f64` it reads as: such a literal
/// (`300.0000000000000001`, `1e-400`, `9007199254740993`) would be validated as one number and
/// stored as another. An accepted literal and the validated `f64` name the same number.
pub fn first_inexact_number(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let (mut line, mut line_start) = (1, 0);
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\n' => {
                line += 1;
                line_start = index + 1;
                index += 1;
            }
            b'"' => {
                index += 1;
                while index < bytes.len() && bytes[index] != b'"' {
                    index += if bytes[index] == b'\\' { 2 } else { 1 };
                }
                index += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = index;
                while index < bytes.len()
                    && matches!(bytes[index], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    index += 1;
                }
                if !is_exact(&text[start..index]) {
                    return Some((line, start - line_start + 1));
                }
            }
            _ => index += 1,
        }
    }
    None
}

/// Whether a JSON number literal reads as an `f64` without losing any of its value.
fn is_exact(literal: &str) -> bool {
    // The common case, a short integer, needs no arithmetic: every integer of up to 15 digits
    // is an f64.
    let digits = literal.strip_prefix('-').unwrap_or(literal);
    if (1..=15).contains(&digits.len()) && digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return true;
    }
    let Ok(number) = literal.parse::<f64>() else {
        return false;
    };
    // `{:e}` prints the shortest digits that read back as the same f64.
    number.is_finite() && decimal(literal) == decimal(&format!("{number:e}"))
}

/// A decimal literal as (negative, significant digits, exponent of the first digit), so that
/// `36.60`, `3.66e1` and `366e-1` compare equal; zero is always `(false, "", 0)`.
fn decimal(literal: &str) -> Option<(bool, String, i64)> {
    let (negative, unsigned) = match literal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let leading = digits.len() - digits.trim_start_matches('0').len();
    let significant = digits.trim_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    let point = i64::try_from(whole.len()).ok()? - i64::try_from(leading).ok()?;
    Some((
        negative,
        significant.to_owned(),
        point.checked_add(exponent)?,
    ))
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
