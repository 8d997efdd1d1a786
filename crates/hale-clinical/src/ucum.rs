//! UCUM (the Unified Code for Units of Measure) for Hale: any unit a form may carry is read by
//! the `ucum-units` crate, which implements the whole grammar and atom table and passes UCUM's
//! functional tests (`tests/ucum_conformance.rs` runs them here too); this module adds what
//! clinical data needs on top of it.
//!
//! - Conversion between commensurable units is UCUM's: `base = factor · value + offset`, then
//!   `(base − offset′) / factor′`, with the factor and offset the crate's analysis gives. The
//!   browser engine (`units.js`) holds those numbers for the catalogue's units and computes the
//!   same expression, so both agree to the last bit.
//! - UCUM counts the mole as a number (6.02214076 × 10²³), so `mg/dL` and `mmol/L` differ by a
//!   mass and are not commensurable; [`convert_with_analyte`] bridges them with the analyte's
//!   molar mass.
//! - Units that UCUM defines but that have no linear scale (arbitrary units such as `[iU]`,
//!   logarithmic ones, `Cel` inside a compound) are valid codes that cannot be converted.

use std::fmt;

/// The exponents of UCUM's seven base quantities (`m`, `s`, `g`, `rad`, `K`, `C`, `cd`).
pub use ::ucum::Dimension;

/// Why a unit code could not be understood or a conversion could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The code is empty or not well-formed UCUM.
    #[error("`{code}` is not a valid UCUM unit: {reason}")]
    Syntax {
        /// The code as given.
        code: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A symbol in the code is not a UCUM unit (with or without a prefix).
    #[error("`{symbol}` in `{code}` is not a UCUM unit")]
    UnknownUnit {
        /// The code as given.
        code: String,
        /// The unrecognised symbol.
        symbol: String,
    },
    /// The two units measure different kinds of quantity.
    #[error("cannot convert `{from}` to `{to}`: they measure different kinds of quantity")]
    Incommensurable {
        /// The source unit.
        from: String,
        /// The target unit.
        to: String,
    },
    /// The unit is valid UCUM but has no linear scale to convert through: an arbitrary unit
    /// (`[iU]`), a logarithmic one (`[pH]`), or a temperature scale inside a compound.
    #[error("`{unit}` is a UCUM unit that cannot be converted")]
    NotConvertible {
        /// The unit as given.
        unit: String,
    },
    /// A mass concentration and a substance concentration were given without an analyte, so
    /// there is no molar mass to bridge them.
    #[error("converting `{from}` to `{to}` needs the analyte's molar mass")]
    MolarMassRequired {
        /// The source unit.
        from: String,
        /// The target unit.
        to: String,
    },
    /// The value to convert is NaN or infinite.
    #[error("the value to convert is not a finite number")]
    NonFiniteValue,
    /// The LOINC code is not in the vital-signs catalogue.
    #[error("`{code}` is not a LOINC code in Hale's vital-signs catalogue")]
    UnknownVital {
        /// The LOINC code as given.
        code: String,
    },
    /// The unit is valid UCUM but not one a user may record this vital sign in.
    #[error("`{unit}` is not an accepted unit for LOINC {code}")]
    UnitNotAccepted {
        /// The LOINC code of the vital sign.
        code: &'static str,
        /// The unit as given.
        unit: String,
    },
}

impl UnitError {
    fn from_ucum(code: &str, error: ::ucum::UcumError) -> UnitError {
        match error {
            ::ucum::UcumError::Parse { msg, .. } => UnitError::Syntax {
                code: code.to_owned(),
                reason: msg,
            },
            ::ucum::UcumError::UnknownAtom { code: symbol } => UnitError::UnknownUnit {
                code: code.to_owned(),
                symbol,
            },
            ::ucum::UcumError::NotComparable { from, to } => {
                UnitError::Incommensurable { from, to }
            }
            ::ucum::UcumError::UnsupportedSpecial { unit } => UnitError::NotConvertible { unit },
            other => UnitError::Syntax {
                code: code.to_owned(),
                reason: other.to_string(),
            },
        }
    }
}

/// A parsed UCUM unit: its dimension and how to get from a value in it to UCUM's base units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit {
    analysis: ::ucum::Analysis,
}

impl Unit {
    /// Parses a UCUM code (case-sensitive, as UCUM's c/s form is).
    pub fn parse(code: &str) -> Result<Unit, UnitError> {
        ::ucum::analyze(code)
            .map(|analysis| Unit { analysis })
            .map_err(|error| UnitError::from_ucum(code, error))
    }

    /// The dimension vector over UCUM's base quantities.
    pub fn dimension(&self) -> Dimension {
        self.analysis.dimension
    }

    /// Whether values in this unit can be converted to `other` without extra information.
    pub fn is_commensurable_with(&self, other: &Unit) -> bool {
        self.analysis.dimension == other.analysis.dimension
    }

    /// The factor to UCUM's base units (`g`, `m`, `s`, `K`, …; a mole is 6.02214076 × 10²³).
    pub fn factor(&self) -> f64 {
        self.analysis.factor
    }

    /// The offset to base units: non-zero only for `Cel` and `[degF]`.
    pub fn offset(&self) -> f64 {
        self.analysis.offset
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} × {} + {}",
            self.analysis.factor, self.analysis.dimension, self.analysis.offset
        )
    }
}

/// A substance whose molar mass lets mass and substance concentrations be converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Analyte {
    /// D-glucose, C₆H₁₂O₆.
    Glucose,
}

impl Analyte {
    /// Molar mass in g/mol.
    pub const fn molar_mass_grams_per_mole(self) -> f64 {
        match self {
            Analyte::Glucose => 180.156,
        }
    }
}

/// Converts `value` from one UCUM unit to another commensurable one.
///
/// Refuses incommensurable units, including mass ↔ substance concentration; use
/// [`convert_with_analyte`] for those.
pub fn convert(value: f64, from: &str, to: &str) -> Result<f64, UnitError> {
    convert_with_analyte(value, from, to, None)
}

/// The dimension of a gram, which is what separates `mg/dL` from `mmol/L` once UCUM has made
/// the mole a number.
const MASS: Dimension = Dimension([0, 0, 1, 0, 0, 0, 0]);

/// Converts `value` from one UCUM unit to another, bridging mass and substance (e.g. `mg/dL` ↔
/// `mmol/L`) through the analyte's molar mass when one is given. The analyte is ignored when
/// the units are directly commensurable.
pub fn convert_with_analyte(
    value: f64,
    from: &str,
    to: &str,
    analyte: Option<Analyte>,
) -> Result<f64, UnitError> {
    if !value.is_finite() {
        return Err(UnitError::NonFiniteValue);
    }
    let source = Unit::parse(from)?;
    let target = Unit::parse(to)?;
    // The same unit converts to itself exactly: going through the base unit and back would
    // turn 36.6 Cel into 36.600000000000023.
    if from == to {
        return Ok(value);
    }
    let converted = if source.is_commensurable_with(&target) {
        ::ucum::convert(value, from, to).map_err(|error| UnitError::from_ucum(from, error))?
    } else {
        bridge(value, (from, source), (to, target), analyte)?
    };
    if converted.is_finite() {
        Ok(converted)
    } else {
        Err(UnitError::NonFiniteValue)
    }
}

/// Mass ↔ substance concentration: into base units, through the molar mass and the number of
/// entities in a mole, and out, in the order `units.js` follows.
fn bridge(
    value: f64,
    (from, source): (&str, Unit),
    (to, target): (&str, Unit),
    analyte: Option<Analyte>,
) -> Result<f64, UnitError> {
    let difference = source.dimension().mul(target.dimension().inv());
    let mass_to_substance = difference == MASS;
    if !mass_to_substance && difference != MASS.inv() {
        return Err(UnitError::Incommensurable {
            from: from.to_owned(),
            to: to.to_owned(),
        });
    }
    for (code, unit) in [(from, source), (to, target)] {
        if unit.analysis.is_special {
            return Err(UnitError::NotConvertible {
                unit: code.to_owned(),
            });
        }
    }
    let Some(analyte) = analyte else {
        return Err(UnitError::MolarMassRequired {
            from: from.to_owned(),
            to: to.to_owned(),
        });
    };
    let molar_mass = analyte.molar_mass_grams_per_mole();
    let mole = Unit::parse("mol")?.factor();
    let base = source.factor() * value;
    let bridged = if mass_to_substance {
        base / molar_mass * mole
    } else {
        base / mole * molar_mass
    };
    Ok(bridged / target.factor())
}

#[cfg(test)]
mod tests;
