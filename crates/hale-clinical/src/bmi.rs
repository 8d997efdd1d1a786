//! Body mass index (LOINC 39156-5): weight in kilograms over the square of height in metres,
//! rounded to one decimal place as it is reported.

use crate::rounding::round_half_away_from_zero;
use crate::vitals::{PlausibleRange, loinc, vital};

/// Why a BMI could not be computed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BmiError {
    /// The weight is not a positive, finite, plausible body weight in kg.
    #[error("{0} kg is not a plausible body weight")]
    ImplausibleWeight(f64),
    /// The height is not a positive, finite, plausible body height in cm.
    #[error("{0} cm is not a plausible body height")]
    ImplausibleHeight(f64),
    /// Both inputs are plausible on their own but not together (e.g. 300 kg at 50 cm),
    /// which usually means one of them was entered in the wrong unit.
    #[error("a BMI of {0} is not plausible; check the units of weight and height")]
    ImplausibleResult(f64),
}

/// The catalogue's plausible range for a LOINC code. The codes used here are catalogued, and a
/// test keeps it so; the fallback refuses everything rather than panicking.
fn plausible(code: &str) -> PlausibleRange {
    vital(code).map_or(
        PlausibleRange {
            low: f64::INFINITY,
            high: f64::NEG_INFINITY,
        },
        |vital| vital.plausible,
    )
}

/// BMI in kg/m2, rounded half away from zero to one decimal place. Inputs and result are
/// checked against the vital-signs catalogue's plausible ranges.
pub fn bmi(weight_kg: f64, height_cm: f64) -> Result<f64, BmiError> {
    if !(weight_kg > 0.0 && plausible(loinc::BODY_WEIGHT).contains(weight_kg)) {
        return Err(BmiError::ImplausibleWeight(weight_kg));
    }
    if !(height_cm > 0.0 && plausible(loinc::BODY_HEIGHT).contains(height_cm)) {
        return Err(BmiError::ImplausibleHeight(height_cm));
    }
    let height_m = height_cm / 100.0;
    let index = round_half_away_from_zero(weight_kg / (height_m * height_m), 1);
    if plausible(loinc::BODY_MASS_INDEX).contains(index) {
        Ok(index)
    } else {
        Err(BmiError::ImplausibleResult(index))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn computes_and_rounds_to_one_decimal() {
        assert_eq!(bmi(70.0, 175.0), Ok(22.9)); // 22.857…
        assert_eq!(bmi(80.0, 180.0), Ok(24.7)); // 24.691…
        assert_eq!(bmi(100.0, 200.0), Ok(25.0));
        // 24.45 exactly: rounds away from zero.
        assert_eq!(bmi(24.45, 100.0), Ok(24.5));
    }

    #[test]
    fn catalogue_has_the_ranges_bmi_relies_on() {
        for code in [
            loinc::BODY_WEIGHT,
            loinc::BODY_HEIGHT,
            loinc::BODY_MASS_INDEX,
        ] {
            assert!(vital(code).is_some(), "{code}");
        }
    }

    #[test]
    fn refuses_non_positive_and_implausible_inputs() {
        assert_eq!(bmi(0.0, 170.0), Err(BmiError::ImplausibleWeight(0.0)));
        assert_eq!(bmi(-70.0, 170.0), Err(BmiError::ImplausibleWeight(-70.0)));
        assert_eq!(bmi(70.0, 0.0), Err(BmiError::ImplausibleHeight(0.0)));
        assert_eq!(bmi(70.0, -170.0), Err(BmiError::ImplausibleHeight(-170.0)));
        assert!(matches!(
            bmi(f64::NAN, 170.0),
            Err(BmiError::ImplausibleWeight(_))
        ));
        assert!(matches!(
            bmi(70.0, f64::INFINITY),
            Err(BmiError::ImplausibleHeight(_))
        ));
        assert_eq!(bmi(1000.0, 170.0), Err(BmiError::ImplausibleWeight(1000.0)));
        // Height in metres instead of centimetres.
        assert_eq!(bmi(70.0, 1.7), Err(BmiError::ImplausibleHeight(1.7)));
        // Each plausible alone, impossible together.
        assert!(matches!(
            bmi(600.0, 50.0),
            Err(BmiError::ImplausibleResult(_))
        ));
    }

    proptest! {
        #[test]
        fn result_is_a_one_decimal_value_close_to_the_formula(
            weight in 30.0f64..200.0,
            height in 140.0f64..210.0,
        ) {
            let index = bmi(weight, height).unwrap();
            let exact = weight / (height / 100.0).powi(2);
            prop_assert!((index - exact).abs() <= 0.05 + 1e-9);
            prop_assert!(((index * 10.0).round() - index * 10.0).abs() < 1e-6);
        }
    }
}
