//! The survey sheet's `type` cell read with the reference converter's spellings: `begin group`
//! as well as `begin_group`, the type aliases (`int`, `string`, `select one`, `q picture`, …),
//! `select_one list or_other`, the metadata types, locations, barcodes and media, and by name
//! the types Hale refuses.

use crate::definition::{FieldType, Prefill};

/// What one `type` cell says.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum RowType {
    /// A select whose choices are the rows of the data file `file` (`select_one_from_file`).
    FromFile {
        kind: FieldType,
        file: String,
    },
    /// A question, note or calculation; `list` for selects, `or_other` for `… or_other`.
    Field {
        kind: FieldType,
        list: Option<String>,
        or_other: bool,
        prefill: Option<Prefill>,
    },
    /// `begin group` / `begin repeat` (and their aliases).
    Begin(FieldType),
    /// `end group` / `end repeat`.
    End(FieldType),
    /// A type Hale knows and refuses, with the reason.
    Refused(&'static str, &'static str),
    Unknown,
}

/// Plain types: every spelling the reference converter accepts for each.
const PLAIN: &[(&str, FieldType)] = &[
    ("integer", FieldType::Integer),
    ("int", FieldType::Integer),
    ("q int", FieldType::Integer),
    ("add integer prompt", FieldType::Integer),
    ("decimal", FieldType::Decimal),
    ("q decimal", FieldType::Decimal),
    ("add decimal prompt", FieldType::Decimal),
    ("text", FieldType::Text),
    ("string", FieldType::Text),
    ("q string", FieldType::Text),
    ("add text prompt", FieldType::Text),
    ("date", FieldType::Date),
    ("q date", FieldType::Date),
    ("add date prompt", FieldType::Date),
    ("datetime", FieldType::Datetime),
    ("dateTime", FieldType::Datetime),
    ("date time", FieldType::Datetime),
    ("q date time", FieldType::Datetime),
    ("q dateTime", FieldType::Datetime),
    ("add date time prompt", FieldType::Datetime),
    ("add dateTime prompt", FieldType::Datetime),
    ("time", FieldType::Time),
    ("boolean", FieldType::Boolean),
    ("acknowledge", FieldType::Acknowledge),
    ("trigger", FieldType::Acknowledge),
    ("q acknowledge", FieldType::Acknowledge),
    ("add acknowledge prompt", FieldType::Acknowledge),
    ("range", FieldType::Range),
    ("note", FieldType::Note),
    ("q note", FieldType::Note),
    ("add note prompt", FieldType::Note),
    ("calculate", FieldType::Calculate),
    ("q calculate", FieldType::Calculate),
    ("add calculate prompt", FieldType::Calculate),
    ("photo", FieldType::Photo),
    ("image", FieldType::Photo),
    ("q picture", FieldType::Photo),
    ("q image", FieldType::Photo),
    ("add image prompt", FieldType::Photo),
    ("add photo prompt", FieldType::Photo),
    ("file", FieldType::File),
    ("add file prompt", FieldType::File),
    ("geopoint", FieldType::Geopoint),
    ("gps", FieldType::Geopoint),
    ("location", FieldType::Geopoint),
    ("q geopoint", FieldType::Geopoint),
    ("q location", FieldType::Geopoint),
    ("add geopoint prompt", FieldType::Geopoint),
    ("add location prompt", FieldType::Geopoint),
    ("geotrace", FieldType::Geotrace),
    ("add geotrace prompt", FieldType::Geotrace),
    ("geoshape", FieldType::Geoshape),
    ("add geoshape prompt", FieldType::Geoshape),
    ("barcode", FieldType::Barcode),
    ("q barcode", FieldType::Barcode),
    ("add barcode prompt", FieldType::Barcode),
    ("audio", FieldType::Audio),
    ("q audio", FieldType::Audio),
    ("add audio prompt", FieldType::Audio),
    ("video", FieldType::Video),
    ("q video", FieldType::Video),
    ("add video prompt", FieldType::Video),
];

/// Metadata the client records itself, with the type of the value it records.
const METADATA: &[(&str, Prefill, FieldType)] = &[
    ("start", Prefill::Start, FieldType::Datetime),
    ("start time", Prefill::Start, FieldType::Datetime),
    ("get start time", Prefill::Start, FieldType::Datetime),
    ("end", Prefill::End, FieldType::Datetime),
    ("end time", Prefill::End, FieldType::Datetime),
    ("get end time", Prefill::End, FieldType::Datetime),
    ("today", Prefill::Today, FieldType::Date),
    ("get today", Prefill::Today, FieldType::Date),
    ("deviceid", Prefill::Deviceid, FieldType::Text),
    ("device id", Prefill::Deviceid, FieldType::Text),
    ("get device id", Prefill::Deviceid, FieldType::Text),
    ("imei", Prefill::Deviceid, FieldType::Text),
    ("username", Prefill::Username, FieldType::Text),
    ("audit", Prefill::Audit, FieldType::File),
];

/// Select spellings, longest first so that `select one from` wins over `select one`.
const SELECT: &[(&str, FieldType)] = &[
    (
        "add select multiple prompt using",
        FieldType::SelectMultiple,
    ),
    ("add select one prompt using", FieldType::SelectOne),
    ("select all that apply from", FieldType::SelectMultiple),
    ("select all that apply", FieldType::SelectMultiple),
    ("select multiple using", FieldType::SelectMultiple),
    ("select multiple from", FieldType::SelectMultiple),
    ("select one using", FieldType::SelectOne),
    ("select one from", FieldType::SelectOne),
    ("select_multiple", FieldType::SelectMultiple),
    ("select_one", FieldType::SelectOne),
    ("select one", FieldType::SelectOne),
    ("q select1", FieldType::SelectOne),
    ("q select", FieldType::SelectMultiple),
    ("select1", FieldType::SelectOne),
];

/// Spellings of a select whose choices are the rows of a data file attached to the version.
const FROM_FILE: &[(&str, FieldType)] = &[
    ("select_one_from_file", FieldType::SelectOne),
    ("select_multiple_from_file", FieldType::SelectMultiple),
    ("select one from file", FieldType::SelectOne),
    ("select multiple from file", FieldType::SelectMultiple),
];

/// Types Hale refuses on purpose, each with why (see docs/app-format.md, "XLSForm import").
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "select_one_external",
        "external_choices_unsupported",
        "select_one_external (choices from an external_choices sheet) is not supported",
    ),
    (
        "csv-external",
        "external_data_unsupported",
        "external data files (csv-external, xml-external) are read through instance() paths, which Hale does not evaluate; attach the file and read it with pulldata() or select_one_from_file",
    ),
    (
        "xml-external",
        "external_data_unsupported",
        "external data files (csv-external, xml-external) are read through instance() paths, which Hale does not evaluate; attach the file and read it with pulldata() or select_one_from_file",
    ),
    (
        "phonenumber",
        "device_identifier_unsupported",
        "phone number, SIM serial, subscriber id and e-mail metadata identify the device owner and are not collected",
    ),
    (
        "phone number",
        "device_identifier_unsupported",
        "phone number, SIM serial, subscriber id and e-mail metadata identify the device owner and are not collected",
    ),
    (
        "get phone number",
        "device_identifier_unsupported",
        "phone number, SIM serial, subscriber id and e-mail metadata identify the device owner and are not collected",
    ),
    (
        "sim id",
        "device_identifier_unsupported",
        "phone number, SIM serial, subscriber id and e-mail metadata identify the device owner and are not collected",
    ),
    (
        "get sim id",
        "device_identifier_unsupported",
        "phone number, SIM serial, subscriber id and e-mail metadata identify the device owner and are not collected",
    ),
    (
        "subscriber id",
        "device_identifier_unsupported",
        "phone number, SIM serial, subscriber id and e-mail metadata identify the device owner and are not collected",
    ),
    (
        "get subscriber id",
        "device_identifier_unsupported",
        "phone number, SIM serial, subscriber id and e-mail metadata identify the device owner and are not collected",
    ),
    (
        "simserial",
        "device_identifier_unsupported",
        "phone number, SIM serial, subscriber id and e-mail metadata identify the device owner and are not collected",
    ),
    (
        "subscriberid",
        "device_identifier_unsupported",
        "phone number, SIM serial, subscriber id and e-mail metadata identify the device owner and are not collected",
    ),
    (
        "email",
        "device_identifier_unsupported",
        "phone number, SIM serial, subscriber id and e-mail metadata identify the device owner and are not collected",
    ),
    (
        "start-geopoint",
        "background_capture_unsupported",
        "background location and audio recording are not supported",
    ),
    (
        "background-geopoint",
        "background_capture_unsupported",
        "background location and audio recording are not supported",
    ),
    (
        "background-audio",
        "background_capture_unsupported",
        "background location and audio recording are not supported",
    ),
    (
        "osm",
        "osm_unsupported",
        "OpenStreetMap questions are not supported",
    ),
    (
        "hidden",
        "unknown_type",
        "'hidden' is not an XLSForm type; use calculate",
    ),
];

/// Reads a `type` cell. White space inside is collapsed as the reference converter does.
pub(crate) fn parse_type(text: &str) -> RowType {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = words.join(" ");
    if let Some(container) = container(&words, "begin") {
        return container.map_or(
            RowType::Refused(
                "loop_unsupported",
                "begin loop (a group repeated once per choice) is not supported; use a repeat",
            ),
            RowType::Begin,
        );
    }
    if let Some(container) = container(&words, "end") {
        return container.map_or(
            RowType::Refused(
                "loop_unsupported",
                "begin loop (a group repeated once per choice) is not supported; use a repeat",
            ),
            RowType::End,
        );
    }
    let plain = |kind: FieldType| RowType::Field {
        kind,
        list: None,
        or_other: false,
        prefill: None,
    };
    if let Some((_, kind)) = PLAIN.iter().find(|(name, _)| *name == joined) {
        return plain(*kind);
    }
    if let Some((_, prefill, kind)) = METADATA.iter().find(|(name, _, _)| *name == joined) {
        return RowType::Field {
            kind: *kind,
            list: None,
            or_other: false,
            prefill: Some(*prefill),
        };
    }
    for (spelling, kind) in FROM_FILE {
        // A select from a file that names none is no select from a list named `file`.
        if joined == *spelling {
            return RowType::Unknown;
        }
        if let Some(rest) = joined.strip_prefix(&format!("{spelling} ")) {
            return match rest.split_once(' ') {
                None if rest.ends_with(".geojson") => RowType::Refused(
                    "data_file_format_unsupported",
                    "GeoJSON data files are not read: attach the choices as CSV or XML",
                ),
                None => RowType::FromFile {
                    kind: *kind,
                    file: rest.to_owned(),
                },
                Some(_) => RowType::Unknown,
            };
        }
    }
    for (name, code, message) in REFUSED {
        if joined == *name || joined.starts_with(&format!("{name} ")) {
            return RowType::Refused(code, message);
        }
    }
    // `rank LIST` orders the list's choices; it takes no `or_other`.
    if let ["rank", list] = words.as_slice() {
        return RowType::Field {
            kind: FieldType::Rank,
            list: Some((*list).to_owned()),
            or_other: false,
            prefill: None,
        };
    }
    for (spelling, kind) in SELECT {
        let Some(rest) = joined.strip_prefix(spelling) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix(' ') else {
            continue;
        };
        let mut parts = rest.splitn(2, ' ');
        let list = parts.next().unwrap_or("").to_owned();
        return match parts.next() {
            None => RowType::Field {
                kind: *kind,
                list: Some(list),
                or_other: false,
                prefill: None,
            },
            Some("or_other" | "or specify other" | "or other") => RowType::Field {
                kind: *kind,
                list: Some(list),
                or_other: true,
                prefill: None,
            },
            Some(_) => RowType::Unknown,
        };
    }
    RowType::Unknown
}

/// `begin group`, `begin_repeat`, `end looped group`, …: `Some(Some(kind))` for groups and
/// repeats, `Some(None)` for loops, `None` when the words are not a container at all.
fn container(words: &[&str], verb: &str) -> Option<Option<FieldType>> {
    let (first, rest) = words.split_first()?;
    let (head, rest): (String, &[&str]) = if *first == verb {
        let (second, rest) = rest.split_first()?;
        ((*second).to_owned(), rest)
    } else {
        let second = first.strip_prefix(verb)?.strip_prefix('_')?;
        (second.to_owned(), rest)
    };
    let kind = match (head.as_str(), rest) {
        ("group", []) => Some(FieldType::Group),
        ("repeat" | "lgroup", []) => Some(FieldType::Repeat),
        ("looped", ["group"]) => Some(FieldType::Repeat),
        ("loop", _) => None,
        _ => return None,
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(kind: FieldType, list: Option<&str>) -> RowType {
        RowType::Field {
            kind,
            list: list.map(str::to_owned),
            or_other: false,
            prefill: None,
        }
    }

    #[test]
    fn spellings_and_aliases_read_as_the_reference_converter_reads_them() {
        assert_eq!(parse_type("begin group"), RowType::Begin(FieldType::Group));
        assert_eq!(parse_type("begin_group"), RowType::Begin(FieldType::Group));
        assert_eq!(parse_type("end  repeat"), RowType::End(FieldType::Repeat));
        assert_eq!(
            parse_type("begin_repeat"),
            RowType::Begin(FieldType::Repeat)
        );
        assert_eq!(parse_type("int"), field(FieldType::Integer, None));
        assert_eq!(parse_type("string"), field(FieldType::Text, None));
        assert_eq!(parse_type("dateTime"), field(FieldType::Datetime, None));
        assert_eq!(parse_type("image"), field(FieldType::Photo, None));
        assert_eq!(
            parse_type("select one yn"),
            field(FieldType::SelectOne, Some("yn"))
        );
        assert_eq!(
            parse_type("select_multiple  yn"),
            field(FieldType::SelectMultiple, Some("yn"))
        );
        assert_eq!(
            parse_type("select_one yn or_other"),
            RowType::Field {
                kind: FieldType::SelectOne,
                list: Some("yn".to_owned()),
                or_other: true,
                prefill: None
            }
        );
        assert_eq!(
            parse_type("start"),
            RowType::Field {
                kind: FieldType::Datetime,
                list: None,
                or_other: false,
                prefill: Some(Prefill::Start)
            }
        );
    }

    #[test]
    fn refusals_are_named_and_nonsense_is_unknown() {
        assert!(matches!(
            parse_type("begin loop over yn"),
            RowType::Refused("loop_unsupported", _)
        ));
        assert_eq!(
            parse_type("select_one_from_file a.csv"),
            RowType::FromFile {
                kind: FieldType::SelectOne,
                file: String::from("a.csv")
            }
        );
        assert_eq!(
            parse_type("select multiple from file  b.xml"),
            RowType::FromFile {
                kind: FieldType::SelectMultiple,
                file: String::from("b.xml")
            }
        );
        assert_eq!(parse_type("select_one_from_file a.csv b"), RowType::Unknown);
        assert_eq!(parse_type("select one from file"), RowType::Unknown);
        assert_eq!(parse_type("select_multiple_from_file"), RowType::Unknown);
        assert_eq!(parse_type("select_one"), RowType::Unknown);
        assert_eq!(parse_type("select_one a b"), RowType::Unknown);
        assert_eq!(parse_type("integr"), RowType::Unknown);
        assert_eq!(parse_type("begin grou"), RowType::Unknown);
    }
}
