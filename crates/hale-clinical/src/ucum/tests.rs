//! Tests for Hale's use of UCUM: the catalogue's conversions against the UCUM specification's
//! definitions, compound codes, refusal of incommensurable conversions, the analyte bridge,
//! and round-trip properties. UCUM's own functional tests are in `tests/ucum_conformance.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;

fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= tolerance
}

#[test]
fn fahrenheit_body_temperature_is_37_celsius() {
    let celsius = convert(98.6, "[degF]", "Cel").unwrap();
    assert!(close(celsius, 37.0, 1e-9), "{celsius}");
    let fahrenheit = convert(37.0, "Cel", "[degF]").unwrap();
    assert!(close(fahrenheit, 98.6, 1e-9), "{fahrenheit}");
}

#[test]
fn temperature_scales_share_absolute_zero_and_kelvin() {
    assert!(close(convert(0.0, "Cel", "K").unwrap(), 273.15, 1e-12));
    assert!(close(convert(-40.0, "Cel", "[degF]").unwrap(), -40.0, 1e-9));
    assert!(close(convert(212.0, "[degF]", "Cel").unwrap(), 100.0, 1e-9));
    assert!(close(convert(0.0, "K", "[degF]").unwrap(), -459.67, 1e-9));
}

#[test]
fn pounds_and_ounces_follow_the_international_definition() {
    let kilograms = convert(150.0, "[lb_av]", "kg").unwrap();
    assert!(close(kilograms, 68.038_855_5, 1e-9), "{kilograms}");
    assert!(close(
        convert(16.0, "[oz_av]", "[lb_av]").unwrap(),
        1.0,
        1e-12
    ));
    assert!(close(convert(1.0, "kg", "g").unwrap(), 1000.0, 1e-9));
}

#[test]
fn lengths_follow_the_international_inch() {
    assert!(close(convert(1.0, "[in_i]", "cm").unwrap(), 2.54, 1e-12));
    assert!(close(
        convert(1.0, "[ft_i]", "[in_i]").unwrap(),
        12.0,
        1e-12
    ));
    assert!(close(convert(1.75, "m", "cm").unwrap(), 175.0, 1e-9));
}

#[test]
fn glucose_mass_and_substance_concentration_need_the_molar_mass() {
    let millimolar =
        convert_with_analyte(100.0, "mg/dL", "mmol/L", Some(Analyte::Glucose)).unwrap();
    assert_eq!((millimolar * 100.0).round() / 100.0, 5.55);
    let milligrams = convert_with_analyte(5.5, "mmol/L", "mg/dL", Some(Analyte::Glucose)).unwrap();
    assert!(close(milligrams, 99.0858, 1e-4), "{milligrams}");
    assert_eq!(
        convert(100.0, "mg/dL", "mmol/L"),
        Err(UnitError::MolarMassRequired {
            from: "mg/dL".into(),
            to: "mmol/L".into()
        })
    );
    // The analyte is irrelevant, and harmless, when units are already commensurable.
    assert!(close(
        convert_with_analyte(100.0, "mg/dL", "g/L", Some(Analyte::Glucose)).unwrap(),
        1.0,
        1e-12
    ));
}

#[test]
fn pressure_in_kilopascal_and_millimetres_of_mercury() {
    let millimetres = convert(13.3322, "kPa", "mm[Hg]").unwrap();
    assert!(close(millimetres, 100.0, 1e-9), "{millimetres}");
    let kilopascal = convert(120.0, "mm[Hg]", "kPa").unwrap();
    assert!(close(kilopascal, 15.998_64, 1e-9), "{kilopascal}");
}

#[test]
fn rates_percent_and_annotations() {
    assert!(close(convert(1.0, "/s", "/min").unwrap(), 60.0, 1e-12));
    assert!(close(
        convert(72.0, "{beats}/min", "/min").unwrap(),
        72.0,
        1e-12
    ));
    assert!(close(convert(72.0, "/min", "/h").unwrap(), 4320.0, 1e-9));
    assert!(close(convert(97.0, "%", "1").unwrap(), 0.97, 1e-12));
}

#[test]
fn compound_units_compose_from_their_parts() {
    assert!(close(convert(1.0, "kg/m2", "g/cm2").unwrap(), 0.1, 1e-12));
    assert!(close(convert(1.0, "kg.m-2", "kg/m2").unwrap(), 1.0, 1e-12));
    assert!(close(convert(1.0, "L", "dm3").unwrap(), 1.0, 1e-12));
    assert!(close(convert(1.0, "mL", "cm3").unwrap(), 1.0, 1e-12));
    assert!(close(convert(1.0, "g/L", "mg/dL").unwrap(), 100.0, 1e-9));
    assert!(close(convert(1.0, "Pa", "kg.m-1.s-2").unwrap(), 1.0, 1e-12));
}

#[test]
fn dimensions_are_reported() {
    // UCUM's base order: m, s, g, rad, K, C, cd.
    assert_eq!(
        Unit::parse("mm[Hg]").unwrap().dimension(),
        Dimension([-1, -2, 1, 0, 0, 0, 0])
    );
    assert_eq!(
        Unit::parse("kg/m2").unwrap().dimension().to_string(),
        "m-2.g"
    );
    assert_eq!(Unit::parse("%").unwrap().dimension().to_string(), "1");
    assert!(
        Unit::parse("mg/dL")
            .unwrap()
            .is_commensurable_with(&Unit::parse("g/L").unwrap())
    );
}

#[test]
fn every_unit_hale_uses_parses() {
    for code in [
        "Cel", "[degF]", "K", "kg", "g", "[lb_av]", "[oz_av]", "cm", "m", "[in_i]", "[ft_i]",
        "mm[Hg]", "kPa", "/min", "%", "mg/dL", "mmol/L", "g/L", "kg/m2",
    ] {
        assert!(Unit::parse(code).is_ok(), "{code}");
    }
}

#[test]
fn incommensurable_units_are_refused() {
    for (from, to) in [
        ("kg", "cm"),
        ("Cel", "kg"),
        ("mm[Hg]", "/min"),
        ("%", "kg/m2"),
        ("mg/dL", "kg"),
        ("mmol/L", "mol"),
    ] {
        assert_eq!(
            convert(1.0, from, to),
            Err(UnitError::Incommensurable {
                from: from.into(),
                to: to.into()
            }),
            "{from} → {to}"
        );
    }
    // A molar mass cannot turn a length into anything.
    assert!(matches!(
        convert_with_analyte(1.0, "kg", "cm", Some(Analyte::Glucose)),
        Err(UnitError::Incommensurable { .. })
    ));
}

#[test]
fn malformed_and_unknown_codes_are_refused() {
    for code in [
        "",
        "kg/",
        "kg//m",
        "kg..m",
        "[lb_av",
        "{beats",
        "m{x}2",
        "m99999999999",
    ] {
        assert!(
            matches!(Unit::parse(code), Err(UnitError::Syntax { .. })),
            "{code:?} should be a syntax error"
        );
    }
    for (code, symbol) in [
        ("lb", "lb"),
        ("degF", "degF"),
        ("mmHg", "mmHg"),
        ("KG", "KG"),
        ("kmin", "kmin"),
        ("x", "x"),
        ("kg m", "kg m"),
        ("°C", "°C"),
        ("mg/furlong", "furlong"),
    ] {
        assert_eq!(
            Unit::parse(code),
            Err(UnitError::UnknownUnit {
                code: code.into(),
                symbol: symbol.into()
            }),
            "{code:?} should be unknown"
        );
    }
    assert!(matches!(
        convert(1.0, "kg", "stone"),
        Err(UnitError::UnknownUnit { .. })
    ));
}

#[test]
fn real_forms_units_are_valid_ucum() {
    for code in [
        "10*3/uL",
        "10*6/uL",
        "10*9/L",
        "mmol/(24.h)",
        "/min",
        "{beats}/min",
        "{counts}/min",
        "mL/min/{1.73_m2}",
        "[iU]/L",
        "(kg)",
        "[in_us]",
        "{score}",
        "1",
    ] {
        assert!(Unit::parse(code).is_ok(), "{code}");
    }
    assert!(close(
        convert(4.5, "10*6/uL", "10*3/uL").unwrap(),
        4500.0,
        1e-9
    ));
    assert!(close(
        convert(1.0, "mmol/(24.h)", "umol/h").unwrap(),
        1000.0 / 24.0,
        1e-9
    ));
}

#[test]
fn units_without_a_linear_scale_are_valid_but_not_converted() {
    // Temperature scales inside compounds, arbitrary and logarithmic units are UCUM, but there
    // is no factor to convert them by.
    for (from, to) in [
        ("Cel/min", "K/min"),
        ("[iU]/L", "[iU]/mL"),
        ("[arb'U]/mL", "[arb'U]/L"),
    ] {
        assert!(Unit::parse(from).is_ok(), "{from}");
        assert!(
            matches!(
                convert(1.0, from, to),
                Err(UnitError::NotConvertible { .. })
            ),
            "{from} → {to}"
        );
    }
    // A rate of temperature change is spelled with kelvin, which has no offset.
    assert!(close(
        convert(1.0, "K/h", "K/min").unwrap(),
        1.0 / 60.0,
        1e-12
    ));
}

#[test]
fn exact_atoms_win_over_prefixed_readings() {
    // `min` is minutes, not milli-inches; `Pa` is pascal; `h` is hours, `hPa` hectopascal.
    assert!(close(convert(1.0, "min", "s").unwrap(), 60.0, 0.0));
    assert!(close(convert(1.0, "h", "min").unwrap(), 60.0, 0.0));
    assert!(close(convert(1.0, "hPa", "Pa").unwrap(), 100.0, 1e-12));
    assert!(close(convert(1.0, "dam", "m").unwrap(), 10.0, 1e-12));
}

#[test]
fn non_finite_values_are_refused() {
    assert_eq!(convert(f64::NAN, "kg", "g"), Err(UnitError::NonFiniteValue));
    assert_eq!(
        convert(f64::INFINITY, "Cel", "K"),
        Err(UnitError::NonFiniteValue)
    );
    assert_eq!(
        convert(f64::MAX, "kg", "ug"),
        Err(UnitError::NonFiniteValue)
    );
}

#[test]
fn huge_exponents_are_refused_or_saturate() {
    assert!(Unit::parse("m99999999999").is_err());
    // UCUM's exponents saturate rather than overflow: a nonsense unit, but no panic.
    assert!(Unit::parse("m2147483647.m2147483647").is_ok());
}

/// Groups of mutually commensurable units, for round-trip properties.
const COMMENSURABLE_GROUPS: &[&[&str]] = &[
    &["Cel", "[degF]", "K"],
    &["kg", "g", "[lb_av]", "[oz_av]", "mg"],
    &["cm", "m", "[in_i]", "[ft_i]", "mm"],
    &["mm[Hg]", "kPa", "Pa", "hPa"],
    &["/min", "/s", "/h", "{beats}/min"],
    &["mg/dL", "g/L", "kg/m3"],
    &["mmol/L", "mol/m3", "umol/mL"],
    &["kg/m2", "g/cm2", "[lb_av]/[in_i]2"],
    &["%", "1"],
];

fn commensurable_pair() -> impl Strategy<Value = (&'static str, &'static str)> {
    commensurable_triple().prop_map(|(first, second, _)| (first, second))
}

fn commensurable_triple() -> impl Strategy<Value = (&'static str, &'static str, &'static str)> {
    (0..COMMENSURABLE_GROUPS.len()).prop_flat_map(|group| {
        let units = COMMENSURABLE_GROUPS[group];
        (
            proptest::sample::select(units),
            proptest::sample::select(units),
            proptest::sample::select(units),
        )
    })
}

fn relative_tolerance(value: f64) -> f64 {
    1e-9 * value.abs().max(1.0)
}

proptest! {
    #[test]
    fn conversion_round_trips((from, to) in commensurable_pair(), value in -1e6f64..1e6) {
        let there = convert(value, from, to).unwrap();
        let back = convert(there, to, from).unwrap();
        prop_assert!((back - value).abs() <= relative_tolerance(value), "{value} {from} → {there} {to} → {back}");
    }

    #[test]
    fn glucose_round_trips(value in 0.0f64..5000.0) {
        let glucose = Some(Analyte::Glucose);
        let there = convert_with_analyte(value, "mg/dL", "mmol/L", glucose).unwrap();
        let back = convert_with_analyte(there, "mmol/L", "mg/dL", glucose).unwrap();
        prop_assert!((back - value).abs() <= relative_tolerance(value));
    }

    #[test]
    fn conversion_is_transitive(
        (from, via, to) in commensurable_triple(),
        value in -1e4f64..1e4,
    ) {
        // Going through an intermediate unit gives the same answer as converting directly,
        // which catches an offset applied on the wrong side of a factor.
        let direct = convert(value, from, to).unwrap();
        let indirect = convert(convert(value, from, via).unwrap(), via, to).unwrap();
        prop_assert!((direct - indirect).abs() <= relative_tolerance(direct));
    }

    #[test]
    fn identity_conversion_is_exact_enough((unit, _) in commensurable_pair(), value in -1e6f64..1e6) {
        let same = convert(value, unit, unit).unwrap();
        prop_assert!((same - value).abs() <= relative_tolerance(value));
    }

    #[test]
    fn parsing_never_panics(code in "\\PC{0,12}") {
        let _ = Unit::parse(&code);
    }

    #[test]
    fn parsing_ucum_like_codes_never_panics(code in "[kmgLdc/.{}\\[\\]_a-z0-9+-]{0,12}") {
        let _ = Unit::parse(&code);
    }
}

#[test]
fn a_unit_converts_to_itself_exactly() {
    // Through the base unit and back, 36.6 Cel would come out as 36.600000000000023.
    assert_eq!(convert(36.6, "Cel", "Cel").unwrap(), 36.6);
    assert_eq!(convert(98.6, "[degF]", "[degF]").unwrap(), 98.6);
}

#[test]
fn the_mole_is_avogadros_number_as_units_js_holds_it() {
    assert_eq!(Unit::parse("mol").unwrap().factor(), 6.022_140_76e23);
    assert_eq!(
        Unit::parse("mmol/L").unwrap().dimension(),
        Unit::parse("/L").unwrap().dimension()
    );
}
