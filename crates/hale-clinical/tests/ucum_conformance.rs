//! UCUM's functional tests (`tests/ucum/UcumFunctionalTests.xml`, unmodified, under the Eclipse
//! Public License as its header says) run through Hale's own API: every validation case gives
//! the verdict the file states, and every conversion case the stated outcome to the precision
//! it is written in. Prints the figures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hale_clinical::{Unit, convert};

const TESTS: &str = include_str!("ucum/UcumFunctionalTests.xml");

/// Half a unit in the last decimal written, with a relative floor: the file writes an exact
/// 25.2 as `25` and 1.575 as `1.6`.
fn agrees(actual: f64, written: &str) -> bool {
    let expected: f64 = written.parse().unwrap();
    let (mantissa, exponent) = match written.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().unwrap()),
        None => (written, 0),
    };
    let decimals = mantissa
        .split_once('.')
        .map_or(0, |(_, fraction)| fraction.len() as i32);
    let tolerance = (0.5 * 10f64.powi(exponent - decimals)).max(1e-9 * expected.abs());
    (actual - expected).abs() <= tolerance
}

fn cases<'a>(
    document: &'a roxmltree::Document<'a>,
    section: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'a>> {
    document.descendants().filter(move |node| {
        node.has_tag_name("case")
            && node
                .parent()
                .is_some_and(|parent| parent.has_tag_name(section))
    })
}

#[test]
fn every_validation_and_conversion_case_passes() {
    let document = roxmltree::Document::parse(TESTS).unwrap();
    let mut failures = Vec::new();

    let mut validations = 0;
    let mut invalid = 0;
    for case in cases(&document, "validation") {
        let unit = case.attribute("unit").unwrap();
        let valid = case.attribute("valid") == Some("true");
        validations += 1;
        invalid += usize::from(!valid);
        let parsed = Unit::parse(unit);
        if parsed.is_ok() != valid {
            failures.push(format!(
                "{} `{unit}`: want valid={valid}, got {parsed:?}",
                case.attribute("id").unwrap()
            ));
        }
    }

    let mut conversions = 0;
    for case in cases(&document, "conversion") {
        let attribute = |name| case.attribute(name).unwrap();
        let value: f64 = attribute("value").parse().unwrap();
        let (from, to, outcome) = (
            attribute("srcUnit"),
            attribute("dstUnit"),
            attribute("outcome"),
        );
        conversions += 1;
        match convert(value, from, to) {
            Ok(converted) if agrees(converted, outcome) => {}
            other => failures.push(format!(
                "{} {value} {from} → {to}: want {outcome}, got {other:?}",
                attribute("id")
            )),
        }
    }

    println!(
        "UCUM functional tests: {validations} validation cases ({invalid} of them invalid units) and {conversions} conversion cases; {} failed",
        failures.len()
    );
    // The file's figures as of its last entry (3 February 2021), so a truncated copy fails.
    assert_eq!((validations, conversions), (529, 30));
    assert!(failures.is_empty(), "{failures:#?}");
}
