//! A workbook's zip archive checked before calamine opens it. calamine reads the shared-strings
//! table, styles and relationships whole as the workbook opens, so a zip bomb in any part would
//! be inflated before a single cell is seen. Each entry is inflated here once, through a reader
//! that stops one byte past the limit, so the sizes the archive declares are never trusted.

use std::io::{Cursor, Read};

use quick_xml::events::Event;

use super::ImportError;
use super::limits::{ImportLimits, limit_error};

fn malformed() -> ImportError {
    limit_error(
        "",
        1,
        "malformed_workbook",
        String::from("the file is not a readable .xlsx workbook"),
    )
}

fn part_too_large(limits: &ImportLimits) -> ImportError {
    limit_error(
        "",
        1,
        "workbook_too_large",
        format!(
            "a part of the workbook inflates to more than {} bytes",
            limits.max_part_bytes
        ),
    )
}

/// Checks every entry's real inflated size, their total, their number and the number of
/// shared strings.
pub(crate) fn inspect(bytes: &[u8], limits: &ImportLimits) -> Result<(), ImportError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| malformed())?;
    if archive.len() > limits.max_parts {
        return Err(limit_error(
            "",
            1,
            "workbook_too_large",
            format!("the workbook has more than {} parts", limits.max_parts),
        ));
    }
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index(index).map_err(|_| malformed())?;
        let shared_strings = entry.name().eq_ignore_ascii_case("xl/sharedStrings.xml");
        let mut limited = entry.take(limits.max_part_bytes.saturating_add(1));
        let inflated = if shared_strings {
            count_shared_strings(&mut limited, limits)?
        } else {
            std::io::copy(&mut limited, &mut std::io::sink()).map_err(|_| malformed())?
        };
        if inflated > limits.max_part_bytes {
            return Err(part_too_large(limits));
        }
        total = total.saturating_add(inflated);
        if total > limits.max_workbook_bytes {
            return Err(limit_error(
                "",
                1,
                "workbook_too_large",
                format!(
                    "the workbook inflates to more than {} bytes",
                    limits.max_workbook_bytes
                ),
            ));
        }
    }
    Ok(())
}

/// Counts the `<si>` entries as the part streams by, returning the bytes read. quick-xml reads
/// events one at a time without recursion, so nesting depth costs no stack.
fn count_shared_strings(part: &mut impl Read, limits: &ImportLimits) -> Result<u64, ImportError> {
    let mut counted = CountingReader {
        inner: part,
        bytes: 0,
    };
    let mut xml = quick_xml::Reader::from_reader(std::io::BufReader::new(&mut counted));
    let mut buffer = Vec::new();
    let mut strings = 0usize;
    loop {
        buffer.clear();
        match xml.read_event_into(&mut buffer) {
            Ok(Event::Start(element)) if element.local_name().as_ref() == b"si" => {
                strings += 1;
                if strings > limits.max_shared_strings {
                    return Err(limit_error(
                        "",
                        1,
                        "too_many_shared_strings",
                        format!(
                            "the workbook has more than {} shared strings",
                            limits.max_shared_strings
                        ),
                    ));
                }
            }
            Ok(Event::Eof) => break,
            // A part cut short by the size limit fails to parse; the size decides which error.
            Err(_) => break,
            Ok(_) => {}
        }
    }
    drop(xml);
    // Whatever the parser left unread still counts towards the part's size.
    std::io::copy(&mut counted, &mut std::io::sink()).map_err(|_| malformed())?;
    Ok(counted.bytes)
}

/// Counts the bytes that pass through.
struct CountingReader<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.bytes += read as u64;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A zip archive of the given entries, deflated.
    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn outcome(bytes: &[u8], limits: &ImportLimits) -> Result<(), &'static str> {
        inspect(bytes, limits).map_err(|error| error.code)
    }

    #[test]
    fn each_limit_admits_its_own_size_and_refuses_one_more() {
        let hundred = [b'a'; 100];
        let three = archive(&[("a", &hundred[..50]), ("b", &hundred[..50]), ("c", b"")]);
        let limits = |change: fn(&mut ImportLimits)| {
            let mut limits = ImportLimits::default();
            change(&mut limits);
            limits
        };
        assert_eq!(outcome(&three, &limits(|l| l.max_parts = 3)), Ok(()));
        assert_eq!(
            outcome(&three, &limits(|l| l.max_parts = 2)),
            Err("workbook_too_large")
        );
        let one = archive(&[("a", &hundred)]);
        assert_eq!(outcome(&one, &limits(|l| l.max_part_bytes = 100)), Ok(()));
        assert_eq!(
            outcome(&one, &limits(|l| l.max_part_bytes = 99)),
            Err("workbook_too_large")
        );
        assert_eq!(
            outcome(&three, &limits(|l| l.max_workbook_bytes = 100)),
            Ok(())
        );
        assert_eq!(
            outcome(&three, &limits(|l| l.max_workbook_bytes = 99)),
            Err("workbook_too_large")
        );
    }

    #[test]
    fn only_shared_string_entries_count_and_the_limit_admits_its_own_number() {
        // Three entries among many other elements, which must not be counted.
        let table = br#"<?xml version="1.0"?><sst xmlns="x" count="3"><si><t>a</t></si><si><t>b</t><rPh><t>c</t></rPh></si><si><t>d</t></si></sst>"#;
        let workbook = archive(&[("xl/sharedStrings.xml", table)]);
        let with = |max_shared_strings| ImportLimits {
            max_shared_strings,
            ..ImportLimits::default()
        };
        assert_eq!(outcome(&workbook, &with(3)), Ok(()));
        assert_eq!(outcome(&workbook, &with(2)), Err("too_many_shared_strings"));
        // The same part under another name is not the shared-strings table.
        let elsewhere = archive(&[("xl/other.xml", table)]);
        assert_eq!(outcome(&elsewhere, &with(0)), Ok(()));
    }

    #[test]
    fn a_file_that_is_not_a_zip_archive_is_malformed() {
        assert_eq!(
            outcome(b"not a workbook", &ImportLimits::default()),
            Err("malformed_workbook")
        );
    }
}
