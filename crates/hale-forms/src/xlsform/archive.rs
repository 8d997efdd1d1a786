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
