//! The packed form of a submission's event payload: the same `SubmissionReceived` as its JSON
//! text, in a third of the bytes. A submission is the bulk of every log, and its JSON spells
//! out field names, UUIDs in hex and the request hash in hex; packed, ids are 16 bytes, the
//! request hash 32, numbers a few, and the answers and scores stay the exact text sent.
//!
//! The chain hash is over the JSON text (`EventBody::to_payload`), never over this form:
//! [`unpack`] gives the text back byte for byte, and [`pack`] only packs a payload that unpacks
//! to the same text (checked as it packs), so a reader cannot tell which form a row was kept
//! in. Anything else, and every other event, is kept as its JSON text. The submission's id is
//! not stored: it is its event's stream id.
//!
//! The format, versioned by its first byte (a new layout takes a new byte; this one is never
//! changed, since the log keeps it forever): `1`, subject and app ids (16 bytes each), app
//! version (signed varint), `authored_at` (8 bytes, big-endian), answers (text), observations
//! (count, then each: index, field, code, value, unit), idempotency key (absent, or text),
//! request hash (32 bytes when it is 64 lowercase hex digits, else text), scores (absent, or
//! text). Text is a varint length and UTF-8; a field, code or unit is a word: a varint `2n`
//! for entry `n` of [`WORDS`] (the catalogue's LOINC codes and UCUM units), or `2l + 1`
//! followed by `l` bytes of UTF-8; a value is an integer (signed varint) when the float is one
//! exactly, else the float's 8 bytes.

use hale_domain::event::{EventBody, ObservationRecord};
use hale_domain::{AppId, SubjectId, SubmissionId, Timestamp};
use serde_json::value::RawValue;

/// The first byte of this layout.
const FORMAT: u8 = 1;

/// The words a packed observation names by number: the vital signs' LOINC codes and their
/// units (`hale-clinical`'s catalogue). Part of the format: an entry is never changed or
/// removed, since stored rows name it; a new word needs a new format byte.
const WORDS: [&str; 22] = [
    "8867-4", "9279-1", "59408-5", "2708-6", "8310-5", "85354-9", "8480-6", "8462-4", "29463-7",
    "8302-2", "39156-5", "2339-0", "15074-8", "/min", "%", "Cel", "mm[Hg]", "kg", "cm", "kg/m2",
    "mg/dL", "mmol/L",
];

/// `body` packed, if it is a submission whose packed form unpacks to `payload` (its JSON
/// text) for the event stream `stream_id`; `None` keeps the JSON text.
pub fn pack(body: &EventBody, payload: &str, stream_id: &str) -> Option<Vec<u8>> {
    let EventBody::SubmissionReceived {
        subject_id,
        app_id,
        app_version,
        authored_at,
        answers,
        observations,
        idempotency_key,
        request_hash,
        scores,
        ..
    } = body
    else {
        return None;
    };
    let mut out = Vec::with_capacity(payload.len() / 2);
    out.push(FORMAT);
    out.extend_from_slice(subject_id.as_uuid().as_bytes());
    out.extend_from_slice(app_id.as_uuid().as_bytes());
    signed(&mut out, *app_version);
    out.extend_from_slice(&authored_at.as_micros().to_be_bytes());
    text(&mut out, answers.get());
    unsigned(&mut out, observations.len() as u64);
    for observation in observations {
        unsigned(&mut out, u64::from(observation.index));
        word(&mut out, &observation.field);
        word(&mut out, &observation.code);
        let value = observation.value;
        let integer = value as i64;
        // The same bits back (so not -0.0, nor a float past the integers' range).
        if (integer as f64).to_bits() == value.to_bits() {
            out.push(0);
            signed(&mut out, integer);
        } else {
            out.push(1);
            out.extend_from_slice(&value.to_bits().to_be_bytes());
        }
        word(&mut out, &observation.unit);
    }
    optional_text(&mut out, idempotency_key.as_deref());
    match hex_digest(request_hash) {
        Some(digest) => {
            out.push(1);
            out.extend_from_slice(&digest);
        }
        None => {
            out.push(0);
            text(&mut out, request_hash);
        }
    }
    optional_text(&mut out, scores.as_deref().map(RawValue::get));
    (unpack(&out, stream_id).as_deref() == Some(payload)).then_some(out)
}

/// The JSON text of a packed payload of the event stream `stream_id`; `None` when the bytes
/// are not one (a damaged or forged row).
pub fn unpack(packed: &[u8], stream_id: &str) -> Option<String> {
    unpack_body(packed, stream_id).map(|body| body.to_payload())
}

/// The event a packed payload holds, without going through its JSON text.
pub(crate) fn unpack_body(packed: &[u8], stream_id: &str) -> Option<EventBody> {
    let mut reader = Reader(packed);
    if reader.byte()? != FORMAT {
        return None;
    }
    let submission_id = SubmissionId::from_uuid(uuid::Uuid::parse_str(stream_id).ok()?);
    let subject_id = SubjectId::from_uuid(reader.uuid()?);
    let app_id = AppId::from_uuid(reader.uuid()?);
    let app_version = reader.signed()?;
    let authored_at = Timestamp::from_micros(i64::from_be_bytes(reader.array()?));
    let answers = RawValue::from_string(reader.text()?).ok()?;
    let count = reader.unsigned()?;
    let mut observations = Vec::new();
    for _ in 0..count {
        let index = u32::try_from(reader.unsigned()?).ok()?;
        let field = reader.word()?;
        let code = reader.word()?;
        let value = match reader.byte()? {
            0 => reader.signed()? as f64,
            1 => f64::from_bits(u64::from_be_bytes(reader.array()?)),
            _ => return None,
        };
        let unit = reader.word()?;
        observations.push(ObservationRecord {
            index,
            field,
            code,
            value,
            unit,
        });
    }
    let idempotency_key = reader.optional_text()?;
    let request_hash = match reader.byte()? {
        0 => reader.text()?,
        1 => hex::encode(reader.array::<32>()?),
        _ => return None,
    };
    let scores = match reader.optional_text()? {
        Some(scores) => Some(RawValue::from_string(scores).ok()?),
        None => None,
    };
    if !reader.0.is_empty() {
        return None;
    }
    Some(EventBody::SubmissionReceived {
        submission_id,
        subject_id,
        app_id,
        app_version,
        authored_at,
        answers,
        observations,
        idempotency_key,
        request_hash,
        scores,
    })
}

/// A claim's request hash as stored: `1` and its 32 bytes when it is 64 lowercase hex digits
/// (a SHA-256, as the core writes it), else `0` and its text.
pub fn claim_hash(text: &str) -> Vec<u8> {
    tagged(text, hex_digest(text).map(|digest| digest.to_vec()))
}

/// A claim's stream id as stored: `1` and its 16 bytes when it is a UUID in its canonical form
/// (every stream's is), else `0` and its text.
pub fn claim_stream(text: &str) -> Vec<u8> {
    let id = uuid::Uuid::parse_str(text)
        .ok()
        .filter(|id| id.to_string() == text);
    tagged(text, id.map(|id| id.as_bytes().to_vec()))
}

/// The text of a stored [`claim_hash`] or [`claim_stream`]; `None` if the bytes are neither.
pub(crate) fn claim_text(stored: &[u8]) -> Option<String> {
    match stored.split_first()? {
        (0, text) => String::from_utf8(text.to_vec()).ok(),
        (1, digest) if digest.len() == 32 => Some(hex::encode(digest)),
        (1, id) => uuid::Uuid::from_slice(id).ok().map(|id| id.to_string()),
        _ => None,
    }
}

fn tagged(text: &str, compact: Option<Vec<u8>>) -> Vec<u8> {
    let (tag, body) = match compact {
        Some(bytes) => (1, bytes),
        None => (0, text.as_bytes().to_vec()),
    };
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(tag);
    out.extend_from_slice(&body);
    out
}

/// The 32 bytes of a SHA-256 written as 64 lowercase hex digits (the form unpacking gives).
fn hex_digest(text: &str) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    let lowercase = text
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (lowercase && hex::decode_to_slice(text, &mut digest).is_ok()).then_some(digest)
}

fn unsigned(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn signed(out: &mut Vec<u8>, value: i64) {
    unsigned(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn text(out: &mut Vec<u8>, value: &str) {
    unsigned(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

fn word(out: &mut Vec<u8>, value: &str) {
    match WORDS.iter().position(|word| *word == value) {
        Some(index) => unsigned(out, index as u64 * 2),
        None => {
            unsigned(out, value.len() as u64 * 2 + 1);
            out.extend_from_slice(value.as_bytes());
        }
    }
}

fn optional_text(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => {
            out.push(1);
            text(out, value);
        }
        None => out.push(0),
    }
}

/// Reads the packed form front to back; every read is `None` past the end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, length: usize) -> Option<&[u8]> {
        if length > self.0.len() {
            return None;
        }
        let (taken, rest) = self.0.split_at(length);
        self.0 = rest;
        Some(taken)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|bytes| bytes[0])
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn uuid(&mut self) -> Option<uuid::Uuid> {
        self.array().map(uuid::Uuid::from_bytes)
    }

    fn unsigned(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn signed(&mut self) -> Option<i64> {
        let value = self.unsigned()?;
        Some(((value >> 1) as i64) ^ -((value & 1) as i64))
    }

    fn text(&mut self) -> Option<String> {
        let length = usize::try_from(self.unsigned()?).ok()?;
        String::from_utf8(self.take(length)?.to_vec()).ok()
    }

    fn word(&mut self) -> Option<String> {
        let tag = self.unsigned()?;
        if tag % 2 == 0 {
            let word = WORDS.get(usize::try_from(tag / 2).ok()?)?;
            return Some((*word).to_owned());
        }
        let length = usize::try_from(tag / 2).ok()?;
        String::from_utf8(self.take(length)?.to_vec()).ok()
    }

    fn optional_text(&mut self) -> Option<Option<String>> {
        match self.byte()? {
            0 => Some(None),
            1 => self.text().map(Some),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn submission(
        answers: &str,
        values: &[f64],
        key: Option<&str>,
        request_hash: &str,
        scores: Option<&str>,
    ) -> (EventBody, String) {
        let id = SubmissionId::from_uuid(uuid::Uuid::from_u128(0x0123_4567_89ab_cdef));
        let body = EventBody::SubmissionReceived {
            submission_id: id,
            subject_id: SubjectId::from_uuid(uuid::Uuid::from_u128(7)),
            app_id: AppId::from_uuid(uuid::Uuid::from_u128(u128::MAX)),
            app_version: 3,
            authored_at: Timestamp::from_micros(1_796_319_877_987_698),
            answers: RawValue::from_string(answers.to_owned()).unwrap(),
            observations: values
                .iter()
                .enumerate()
                .map(|(index, value)| ObservationRecord {
                    index: index as u32,
                    field: format!("field_{index}"),
                    code: "8867-4".into(),
                    value: *value,
                    unit: "/min".into(),
                })
                .collect(),
            idempotency_key: key.map(str::to_owned),
            request_hash: request_hash.to_owned(),
            scores: scores.map(|scores| RawValue::from_string(scores.to_owned()).unwrap()),
        };
        (body, id.to_string())
    }

    #[test]
    fn a_submission_packs_to_a_third_and_unpacks_to_its_exact_text() {
        let (body, stream) = submission(
            r#"{ "heart_rate" : 72,"note":"é\u00e9" }"#,
            &[72.0, 36.6, -0.0, 1e300, f64::MIN_POSITIVE],
            Some("retry-1"),
            &"a7".repeat(32),
            Some(r#"{"news2": {"total": 1}}"#),
        );
        let payload = body.to_payload();
        let packed = pack(&body, &payload, &stream).unwrap();
        assert_eq!(packed[0], FORMAT);
        assert!(
            packed.len() * 2 < payload.len(),
            "{} of {}",
            packed.len(),
            payload.len()
        );
        assert_eq!(unpack(&packed, &stream).unwrap(), payload);
    }

    #[test]
    fn a_whole_value_takes_a_varint_and_any_other_its_eight_bytes() {
        let size = |value: f64| {
            let (body, stream) = submission("{}", &[value], None, "h", None);
            pack(&body, &body.to_payload(), &stream).map(|packed| packed.len())
        };
        let whole = size(36.0).unwrap();
        // Zigzag: a negative whole value takes as few bytes as its positive twin.
        assert_eq!(
            size(-36.0),
            Some(whole),
            "a negative whole value is packed too"
        );
        assert_eq!(
            size(72.5),
            Some(whole + 7),
            "tag, then 8 bytes instead of 1"
        );
        assert_eq!(size(-0.0), Some(whole + 7), "-0.0 keeps its sign bit");
        assert_eq!(size(1e300), Some(whole + 7));
    }

    #[test]
    fn what_would_not_unpack_to_the_same_text_stays_json() {
        let (body, stream) = submission("{}", &[1.0], None, "h", None);
        let payload = body.to_payload();
        // Another stream's id would give another submission id back.
        assert_eq!(pack(&body, &payload, &Uuid::from_u128(1).to_string()), None);
        assert_eq!(pack(&body, &payload, "not a uuid"), None);
        // A text that is not the body's own JSON.
        assert_eq!(pack(&body, &format!("{payload} "), &stream), None);
        // Other events are never packed.
        let other = EventBody::AppCreated {
            app_id: AppId::from_uuid(Uuid::from_u128(1)),
            name: "x".into(),
        };
        assert_eq!(pack(&other, &other.to_payload(), &stream), None);
        // A request hash in capitals is kept as text, not folded to lowercase.
        let (body, stream) = submission("{}", &[], None, &"AB".repeat(32), None);
        let payload = body.to_payload();
        assert_eq!(
            unpack(&pack(&body, &payload, &stream).unwrap(), &stream).unwrap(),
            payload
        );
    }

    use uuid::Uuid;

    #[test]
    fn catalogue_words_take_one_byte_and_others_are_spelt_out() {
        let mut out = Vec::new();
        word(&mut out, "mm[Hg]");
        word(&mut out, "1234-5");
        assert_eq!(out[0], 16 * 2);
        assert_eq!(out[1], 6 * 2 + 1);
        let mut reader = Reader(&out);
        assert_eq!(reader.word().as_deref(), Some("mm[Hg]"));
        assert_eq!(reader.word().as_deref(), Some("1234-5"));
        assert_eq!(
            Reader(&[WORDS.len() as u8 * 2]).word(),
            None,
            "no such word"
        );
        let distinct: std::collections::BTreeSet<&str> = WORDS.iter().copied().collect();
        assert_eq!(distinct.len(), WORDS.len());
    }

    #[test]
    fn a_claim_keeps_its_hash_and_stream_in_their_bytes_and_anything_else_as_text() {
        let digest = "a7".repeat(32);
        let stream = Uuid::from_u128(42).to_string();
        assert_eq!(claim_hash(&digest).len(), 33);
        assert_eq!(claim_stream(&stream).len(), 17);
        for text in [
            digest.as_str(),
            stream.as_str(),
            "h",
            "",
            &"A7".repeat(32),
            &stream.to_uppercase(),
            &"x".repeat(16),
            &"x".repeat(32),
        ] {
            assert_eq!(claim_text(&claim_hash(text)).as_deref(), Some(text));
            assert_eq!(claim_text(&claim_stream(text)).as_deref(), Some(text));
        }
        assert_eq!(claim_text(&[]), None);
        assert_eq!(claim_text(&[1, 2, 3]), None);
        assert_eq!(claim_text(&[2, b'a']), None);
    }

    #[test]
    fn damaged_bytes_do_not_unpack() {
        let (body, stream) = submission("{\"a\":1}", &[1.5, 2.0], Some("k"), "h", None);
        let packed = pack(&body, &body.to_payload(), &stream).unwrap();
        assert_eq!(
            unpack(&packed[..packed.len() - 1], &stream),
            None,
            "cut short"
        );
        let mut longer = packed.clone();
        longer.push(0);
        assert_eq!(unpack(&longer, &stream), None, "trailing bytes");
        let mut other_format = packed.clone();
        other_format[0] = 2;
        assert_eq!(unpack(&other_format, &stream), None, "unknown format");
        assert_eq!(unpack(&[], &stream), None);
        assert_eq!(unpack(&packed, "not a uuid"), None);
    }

    proptest! {
        /// Whatever a submission holds, its packed form is its JSON text again, or it is not
        /// packed at all; damaging a packed form never panics.
        #[test]
        fn packing_never_changes_the_text(
            values in proptest::collection::vec(any::<f64>().prop_filter("finite", |v| v.is_finite()), 0..6),
            key in proptest::option::of("[ -~é]{0,20}"),
            request_hash in "[0-9a-fA-F]{0,64}",
            note in "[ -~é]{0,20}",
            code in proptest::sample::select(vec!["8867-4", "%", "x", "", "1234-5"]),
            flip in any::<(usize, u8)>(),
        ) {
            let answers = serde_json::json!({ "note": note }).to_string();
            let (mut body, stream) =
                submission(&answers, &values, key.as_deref(), &request_hash, None);
            if let EventBody::SubmissionReceived { observations, .. } = &mut body {
                for observation in observations {
                    observation.code = code.to_owned();
                    observation.unit = note.clone();
                }
            }
            let payload = body.to_payload();
            let packed = pack(&body, &payload, &stream);
            prop_assert!(packed.is_some());
            let mut packed = packed.unwrap_or_default();
            prop_assert_eq!(unpack(&packed, &stream), Some(payload));
            let at = flip.0 % packed.len();
            packed[at] ^= flip.1;
            let _ = unpack(&packed, &stream);
        }
    }
}
