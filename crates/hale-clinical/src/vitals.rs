//! The vital-signs catalogue: which LOINC codes Hale records, their canonical UCUM unit, the
//! units a person may enter them in, and the plausible range used to catch typing mistakes.
//!
//! Plausible ranges are deliberately wide: they are the bounds of what a living person can
//! measure at, not reference ranges. A reading outside them is almost certainly a slip (a
//! missing decimal point, the wrong unit) and is refused; anything inside is stored and left to
//! clinical judgement. Each range is in the canonical unit and is justified next to its entry.

use serde::Serialize;

use crate::ucum::{Analyte, UnitError, convert_with_analyte};

/// LOINC codes of the catalogued vital signs, so callers never spell them by hand.
pub mod loinc {
    /// Heart rate.
    pub const HEART_RATE: &str = "8867-4";
    /// Respiratory rate.
    pub const RESPIRATORY_RATE: &str = "9279-1";
    /// Oxygen saturation in arterial blood by pulse oximetry.
    pub const OXYGEN_SATURATION: &str = "59408-5";
    /// Oxygen saturation in arterial blood; older, method-less code accepted as an alias.
    pub const OXYGEN_SATURATION_ARTERIAL: &str = "2708-6";
    /// Body temperature.
    pub const BODY_TEMPERATURE: &str = "8310-5";
    /// Blood pressure panel grouping systolic and diastolic pressure.
    pub const BLOOD_PRESSURE_PANEL: &str = "85354-9";
    /// Systolic blood pressure.
    pub const SYSTOLIC_BLOOD_PRESSURE: &str = "8480-6";
    /// Diastolic blood pressure.
    pub const DIASTOLIC_BLOOD_PRESSURE: &str = "8462-4";
    /// Body weight.
    pub const BODY_WEIGHT: &str = "29463-7";
    /// Body height.
    pub const BODY_HEIGHT: &str = "8302-2";
    /// Body mass index.
    pub const BODY_MASS_INDEX: &str = "39156-5";
    /// Glucose, mass concentration in blood.
    pub const GLUCOSE_MASS: &str = "2339-0";
    /// Glucose, substance concentration in blood.
    pub const GLUCOSE_SUBSTANCE: &str = "15074-8";
}

/// The closed interval of values a living person can plausibly be measured at, in the vital
/// sign's canonical unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PlausibleRange {
    /// Lowest plausible value, inclusive.
    pub low: f64,
    /// Highest plausible value, inclusive.
    pub high: f64,
}

impl PlausibleRange {
    /// Whether `value` lies inside the range.
    pub fn contains(&self, value: f64) -> bool {
        (self.low..=self.high).contains(&value)
    }
}

/// One catalogued vital sign.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct VitalSign {
    /// The LOINC code Hale stores the observation under.
    pub loinc: &'static str,
    /// Other LOINC codes accepted on input and mapped to [`Self::loinc`].
    pub aliases: &'static [&'static str],
    /// Human-readable name (LOINC short name style).
    pub display: &'static str,
    /// The UCUM unit values are stored in.
    pub canonical_unit: &'static str,
    /// UCUM units a person may enter the value in; the canonical unit is always among them.
    pub accepted_units: &'static [&'static str],
    /// Bounds used to refuse typing mistakes, in the canonical unit.
    pub plausible: PlausibleRange,
    /// The LOINC panel this observation is recorded inside, if any.
    pub panel: Option<&'static str>,
    /// The analyte whose molar mass bridges mass and substance units, for laboratory values.
    pub analyte: Option<Analyte>,
}

impl VitalSign {
    /// Whether `code` names this vital sign, directly or through an alias.
    pub fn is_named_by(&self, code: &str) -> bool {
        self.loinc == code || self.aliases.contains(&code)
    }

    /// Converts a reading of this vital sign to its canonical unit; see [`to_canonical`].
    pub fn to_canonical(&self, value: f64, unit: &str) -> Result<(f64, &'static str), UnitError> {
        if !self.accepted_units.contains(&unit) {
            return Err(UnitError::UnitNotAccepted {
                code: self.loinc,
                unit: unit.to_owned(),
            });
        }
        let converted = convert_reading(value, unit, self.canonical_unit, self.analyte)?;
        Ok((converted, self.canonical_unit))
    }
}

const fn range(low: f64, high: f64) -> PlausibleRange {
    PlausibleRange { low, high }
}

const CATALOGUE: &[VitalSign] = &[
    VitalSign {
        loinc: loinc::HEART_RATE,
        aliases: &[],
        display: "Heart rate",
        canonical_unit: "/min",
        accepted_units: &["/min", "{beats}/min"],
        // Below 20/min is asystole in all but trained athletes asleep; above 300/min exceeds
        // even infant supraventricular tachycardia. A slipped digit (e.g. 700) lands outside.
        plausible: range(20.0, 300.0),
        panel: None,
        analyte: None,
    },
    VitalSign {
        loinc: loinc::RESPIRATORY_RATE,
        aliases: &[],
        display: "Respiratory rate",
        canonical_unit: "/min",
        accepted_units: &["/min", "{breaths}/min"],
        // Agonal breathing can fall to 2/min; distressed neonates can exceed 100/min, so 120
        // leaves headroom while still refusing a doubled digit such as 180.
        plausible: range(2.0, 120.0),
        panel: None,
        analyte: None,
    },
    VitalSign {
        loinc: loinc::OXYGEN_SATURATION,
        aliases: &[loinc::OXYGEN_SATURATION_ARTERIAL],
        display: "Oxygen saturation in arterial blood by pulse oximetry",
        canonical_unit: "%",
        accepted_units: &["%"],
        // Saturation cannot exceed 100 %. Pulse oximeters are not calibrated far below 70 %,
        // and readings under 50 % are not meaningful from a finger probe.
        plausible: range(50.0, 100.0),
        panel: None,
        analyte: None,
    },
    VitalSign {
        loinc: loinc::BODY_TEMPERATURE,
        aliases: &[],
        display: "Body temperature",
        canonical_unit: "Cel",
        accepted_units: &["Cel", "[degF]"],
        // Clinical thermometers do not read below about 25 °C, and survivals above 45 °C are
        // isolated case reports; 20–45 keeps deep hypothermia while refusing 3.7 or 370.
        plausible: range(20.0, 45.0),
        panel: None,
        analyte: None,
    },
    VitalSign {
        loinc: loinc::SYSTOLIC_BLOOD_PRESSURE,
        aliases: &[],
        display: "Systolic blood pressure",
        canonical_unit: "mm[Hg]",
        accepted_units: &["mm[Hg]", "kPa"],
        // A cuff cannot detect pressures much below 40 mm[Hg]; the highest recorded systolic
        // pressures in people are around 300 mm[Hg].
        plausible: range(40.0, 300.0),
        panel: Some(loinc::BLOOD_PRESSURE_PANEL),
        analyte: None,
    },
    VitalSign {
        loinc: loinc::DIASTOLIC_BLOOD_PRESSURE,
        aliases: &[],
        display: "Diastolic blood pressure",
        canonical_unit: "mm[Hg]",
        accepted_units: &["mm[Hg]", "kPa"],
        // Diastolic pressure in severe shock or aortic regurgitation can be near 20; hypertensive
        // emergencies rarely pass 180, so 200 is a safe ceiling.
        plausible: range(20.0, 200.0),
        panel: Some(loinc::BLOOD_PRESSURE_PANEL),
        analyte: None,
    },
    VitalSign {
        loinc: loinc::BODY_WEIGHT,
        aliases: &[],
        display: "Body weight",
        canonical_unit: "kg",
        accepted_units: &["kg", "g", "[lb_av]", "[oz_av]"],
        // The smallest surviving preterm infants weigh about 0.25 kg; the heaviest person on
        // record about 635 kg.
        plausible: range(0.2, 700.0),
        panel: None,
        analyte: None,
    },
    VitalSign {
        loinc: loinc::BODY_HEIGHT,
        aliases: &[],
        display: "Body height",
        canonical_unit: "cm",
        accepted_units: &["cm", "m", "[in_i]", "[ft_i]"],
        // The smallest preterm infants measure about 20 cm; the tallest person on record 272 cm.
        plausible: range(20.0, 280.0),
        panel: None,
        analyte: None,
    },
    VitalSign {
        loinc: loinc::BODY_MASS_INDEX,
        aliases: &[],
        display: "Body mass index",
        canonical_unit: "kg/m2",
        accepted_units: &["kg/m2"],
        // Starvation deaths occur around a BMI of 10–12, and the heaviest people on record
        // reached about 190; 5–250 refuses weight entered in pounds against height in metres.
        plausible: range(5.0, 250.0),
        panel: None,
        analyte: None,
    },
    VitalSign {
        loinc: loinc::GLUCOSE_MASS,
        aliases: &[],
        display: "Glucose [Mass/volume] in Blood",
        canonical_unit: "mg/dL",
        accepted_units: &["mg/dL", "g/L", "mmol/L"],
        // Severe hypoglycaemia reads in single figures; the highest glucose recorded in a
        // survivor is about 2 650 mg/dL. Kept equivalent to the substance range below.
        plausible: range(5.0, 3000.0),
        panel: None,
        analyte: Some(Analyte::Glucose),
    },
    VitalSign {
        loinc: loinc::GLUCOSE_SUBSTANCE,
        aliases: &[],
        display: "Glucose [Moles/volume] in Blood",
        canonical_unit: "mmol/L",
        accepted_units: &["mmol/L", "mg/dL", "g/L"],
        // The mass range above divided by glucose's molar mass (180.156 g/mol), rounded out.
        plausible: range(0.25, 167.0),
        panel: None,
        analyte: Some(Analyte::Glucose),
    },
];

/// Every catalogued vital sign, in a stable order.
pub fn catalogue() -> &'static [VitalSign] {
    CATALOGUE
}

/// The vital sign with this LOINC code or alias.
pub fn vital(code: &str) -> Option<&'static VitalSign> {
    CATALOGUE.iter().find(|vital| vital.is_named_by(code))
}

/// A converted reading is rounded to this many units per unit (ten decimal places): far below
/// any measurement's precision, and enough to drop a conversion's last-bit noise, so that
/// 113 [degF] is 45 Cel, not 45.00000000000006, and never crosses a bound it sits on.
const READING_SCALE: f64 = 1e10;

/// Converts a reading (an answer, an observation) between units as [`convert_with_analyte`]
/// does, rounded half away from zero to ten decimal places; a value in its own unit is kept
/// as it is. `units.js` rounds the same way.
pub fn convert_reading(
    value: f64,
    from: &str,
    to: &str,
    analyte: Option<Analyte>,
) -> Result<f64, UnitError> {
    let converted = convert_with_analyte(value, from, to, analyte)?;
    if from == to {
        return Ok(converted);
    }
    Ok((converted * READING_SCALE).round() / READING_SCALE)
}

/// Whether `unit` is one of the catalogue's accepted units: the units answers are converted
/// between, by the server and, with the same numbers, by the browser.
pub fn is_catalogue_unit(unit: &str) -> bool {
    CATALOGUE
        .iter()
        .any(|vital| vital.accepted_units.contains(&unit))
}

/// The catalogued vital signs recorded inside the given LOINC panel, e.g. systolic and
/// diastolic pressure for the blood pressure panel.
pub fn panel_members(panel: &str) -> impl Iterator<Item = &'static VitalSign> + '_ {
    CATALOGUE
        .iter()
        .filter(move |vital| vital.panel == Some(panel))
}

/// Converts a reading of the vital sign `code` (LOINC, aliases accepted) from the unit it was
/// entered in to the catalogue's canonical unit. Returns the value and that unit.
///
/// Only the vital sign's accepted units are allowed, even where another unit would be
/// commensurable, so that what Hale accepts stays a reviewed list.
pub fn to_canonical(code: &str, value: f64, unit: &str) -> Result<(f64, &'static str), UnitError> {
    let vital = vital(code).ok_or_else(|| UnitError::UnknownVital {
        code: code.to_owned(),
    })?;
    vital.to_canonical(value, unit)
}

/// A reading in canonical form, ready to store.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Measurement {
    /// The catalogue's LOINC code (an alias on input is replaced by it).
    pub loinc: &'static str,
    /// The value in the canonical unit.
    pub value: f64,
    /// The canonical UCUM unit.
    pub unit: &'static str,
}

/// Why a reading was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum VitalError {
    /// The code or unit is not usable, or the value could not be converted.
    #[error(transparent)]
    Unit(#[from] UnitError),
    /// The converted value lies outside the vital sign's plausible range.
    #[error("{value} {unit} is not a plausible value for LOINC {loinc} ({low}–{high} {unit})")]
    Implausible {
        /// The catalogue's LOINC code.
        loinc: &'static str,
        /// The value in the canonical unit.
        value: f64,
        /// The canonical unit.
        unit: &'static str,
        /// Lowest plausible value.
        low: f64,
        /// Highest plausible value.
        high: f64,
    },
}

/// Converts a reading to canonical form and refuses it if it is implausible.
pub fn normalise(code: &str, value: f64, unit: &str) -> Result<Measurement, VitalError> {
    let vital = vital(code).ok_or_else(|| UnitError::UnknownVital {
        code: code.to_owned(),
    })?;
    let (converted, canonical_unit) = vital.to_canonical(value, unit)?;
    if !vital.plausible.contains(converted) {
        return Err(VitalError::Implausible {
            loinc: vital.loinc,
            value: converted,
            unit: canonical_unit,
            low: vital.plausible.low,
            high: vital.plausible.high,
        });
    }
    Ok(Measurement {
        loinc: vital.loinc,
        value: converted,
        unit: canonical_unit,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_required_code_is_catalogued() {
        for code in [
            "8867-4", "9279-1", "59408-5", "2708-6", "8310-5", "8480-6", "8462-4", "29463-7",
            "8302-2", "39156-5", "2339-0", "15074-8",
        ] {
            assert!(vital(code).is_some(), "{code} missing");
        }
        assert!(vital("1234-5").is_none());
    }

    #[test]
    fn spo2_alias_resolves_to_pulse_oximetry_code() {
        assert_eq!(vital("2708-6").unwrap().loinc, "59408-5");
        let measurement = normalise("2708-6", 97.0, "%").unwrap();
        assert_eq!(measurement.loinc, "59408-5");
    }

    #[test]
    fn blood_pressure_panel_holds_systolic_and_diastolic() {
        let members: Vec<_> = panel_members("85354-9").map(|vital| vital.loinc).collect();
        assert_eq!(members, ["8480-6", "8462-4"]);
    }

    #[test]
    fn catalogue_is_self_consistent() {
        for vital in catalogue() {
            assert!(
                vital.accepted_units.contains(&vital.canonical_unit),
                "{}: canonical unit must be accepted",
                vital.loinc
            );
            assert!(
                vital.plausible.low < vital.plausible.high,
                "{}",
                vital.loinc
            );
            for unit in vital.accepted_units {
                let midpoint = (vital.plausible.low + vital.plausible.high) / 2.0;
                let canonical_value = to_canonical(vital.loinc, midpoint, vital.canonical_unit)
                    .unwrap()
                    .0;
                let entered = convert_with_analyte(
                    canonical_value,
                    vital.canonical_unit,
                    unit,
                    vital.analyte,
                )
                .unwrap_or_else(|error| panic!("{} in {unit}: {error}", vital.loinc));
                let back = to_canonical(vital.loinc, entered, unit).unwrap().0;
                assert!((back - midpoint).abs() < 1e-9 * midpoint.abs().max(1.0));
            }
        }
        let codes: Vec<_> = catalogue().iter().map(|vital| vital.loinc).collect();
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(codes.len(), unique.len(), "duplicate LOINC codes");
    }

    #[test]
    fn glucose_ranges_describe_the_same_interval() {
        let mass = vital(loinc::GLUCOSE_MASS).unwrap().plausible;
        let substance = vital(loinc::GLUCOSE_SUBSTANCE).unwrap().plausible;
        let low = to_canonical(loinc::GLUCOSE_SUBSTANCE, mass.low, "mg/dL")
            .unwrap()
            .0;
        let high = to_canonical(loinc::GLUCOSE_SUBSTANCE, mass.high, "mg/dL")
            .unwrap()
            .0;
        assert!(substance.low <= low && low - substance.low < 0.1);
        assert!(substance.high >= high && substance.high - high < 1.0);
    }

    #[test]
    fn converts_entered_units_to_canonical() {
        let (celsius, unit) = to_canonical(loinc::BODY_TEMPERATURE, 98.6, "[degF]").unwrap();
        assert_eq!(unit, "Cel");
        assert!((celsius - 37.0).abs() < 1e-9);
        let (kilograms, _) = to_canonical(loinc::BODY_WEIGHT, 150.0, "[lb_av]").unwrap();
        assert!((kilograms - 68.038_855_5).abs() < 1e-9);
        let (centimetres, _) = to_canonical(loinc::BODY_HEIGHT, 6.0, "[ft_i]").unwrap();
        assert!((centimetres - 182.88).abs() < 1e-9);
        let (millimolar, unit) = to_canonical(loinc::GLUCOSE_SUBSTANCE, 100.0, "mg/dL").unwrap();
        assert_eq!(unit, "mmol/L");
        assert!((millimolar - 5.55).abs() < 0.005);
        let (beats, _) = to_canonical(loinc::HEART_RATE, 72.0, "{beats}/min").unwrap();
        assert!((beats - 72.0).abs() < 1e-12);
    }

    #[test]
    fn converted_readings_drop_the_last_bits_noise() {
        // Through UCUM's kelvin, 113 [degF] is 45.00000000000006 Cel: just past the bound.
        assert!(convert_with_analyte(113.0, "[degF]", "Cel", None).unwrap() > 45.0);
        assert_eq!(convert_reading(113.0, "[degF]", "Cel", None).unwrap(), 45.0);
        assert_eq!(
            to_canonical(loinc::BODY_TEMPERATURE, 105.8, "[degF]")
                .unwrap()
                .0,
            41.0
        );
        // A reading in its own unit is kept to the last digit typed.
        assert_eq!(
            convert_reading(36.123_456_789_012_3, "Cel", "Cel", None).unwrap(),
            36.123_456_789_012_3
        );
        assert!(is_catalogue_unit("[lb_av]") && !is_catalogue_unit("10*3/uL"));
    }

    #[test]
    fn refuses_unknown_codes_and_unaccepted_units() {
        assert_eq!(
            to_canonical("0000-0", 1.0, "kg"),
            Err(UnitError::UnknownVital {
                code: "0000-0".into()
            })
        );
        // Commensurable, but not a unit people record heart rate in.
        assert_eq!(
            to_canonical(loinc::HEART_RATE, 1.2, "/s"),
            Err(UnitError::UnitNotAccepted {
                code: "8867-4",
                unit: "/s".into()
            })
        );
        assert!(matches!(
            to_canonical(loinc::BODY_WEIGHT, 70.0, "cm"),
            Err(UnitError::UnitNotAccepted { .. })
        ));
    }

    #[test]
    fn refuses_implausible_readings() {
        assert!(normalise(loinc::HEART_RATE, 72.0, "/min").is_ok());
        assert!(normalise(loinc::HEART_RATE, 20.0, "/min").is_ok());
        assert!(normalise(loinc::HEART_RATE, 300.0, "/min").is_ok());
        assert!(matches!(
            normalise(loinc::HEART_RATE, 720.0, "/min"),
            Err(VitalError::Implausible { low, high, .. }) if low == 20.0 && high == 300.0
        ));
        assert!(normalise(loinc::BODY_TEMPERATURE, 3.7, "Cel").is_err());
        // 37 °F is a unit slip for 37 °C and is about 2.8 °C.
        assert!(normalise(loinc::BODY_TEMPERATURE, 37.0, "[degF]").is_err());
        assert!(normalise(loinc::OXYGEN_SATURATION, 101.0, "%").is_err());
        assert!(normalise(loinc::BODY_WEIGHT, f64::NAN, "kg").is_err());
    }
}
