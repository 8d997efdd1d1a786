//! Rounding to a chart's precision, half away from zero.
//!
//! Clinical charts (NEWS2, BMI categories) are written on integers or one decimal place, and a
//! value such as 36.05 °C has to land in exactly one band. Rounding half away from zero matches
//! how people round by hand and is symmetric for negative values.

/// How far (in units of the last kept place) a value may sit below a half and still be treated
/// as that half. `36.05` is stored as `36.04999…`; without this it would round down, against
/// the decimal the person typed. The tolerance is many orders of magnitude below any
/// measurement precision, so it never moves a genuinely lower reading.
const DECIMAL_TOLERANCE: f64 = 1e-9;

/// `value` rounded half away from zero and expressed in units of the last kept place: with
/// `decimals = 1`, 36.05 becomes 361 (tenths). Saturates at the `i64` range, which no clinical
/// reading approaches.
pub(crate) fn to_chart_units(value: f64, decimals: i32) -> i64 {
    let scaled = value * 10f64.powi(decimals);
    let nudged = scaled + scaled.signum() * DECIMAL_TOLERANCE;
    nudged.round() as i64
}

/// `value` rounded half away from zero to `decimals` places.
pub(crate) fn round_half_away_from_zero(value: f64, decimals: i32) -> f64 {
    to_chart_units(value, decimals) as f64 / 10f64.powi(decimals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_round_away_from_zero() {
        assert_eq!(to_chart_units(8.5, 0), 9);
        assert_eq!(to_chart_units(8.49, 0), 8);
        assert_eq!(to_chart_units(-8.5, 0), -9);
        assert_eq!(to_chart_units(36.05, 1), 361);
        assert_eq!(to_chart_units(36.04, 1), 360);
        assert_eq!(to_chart_units(35.05, 1), 351);
        assert_eq!(to_chart_units(38.05, 1), 381);
        assert_eq!(to_chart_units(0.0, 1), 0);
    }

    #[test]
    fn rounds_to_one_decimal() {
        assert_eq!(round_half_away_from_zero(24.45, 1), 24.5);
        assert_eq!(round_half_away_from_zero(24.449, 1), 24.4);
        assert_eq!(round_half_away_from_zero(22.0, 1), 22.0);
    }
}
