//! Hale's clinical vocabulary: the vital-signs catalogue keyed by LOINC, UCUM unit conversion,
//! the NEWS2 early-warning score and BMI. Everything here is pure computation on values the
//! caller supplies; nothing does I/O.

#![deny(missing_docs)]

pub mod bmi;
pub mod news2;
mod rounding;
pub mod ucum;
pub mod vitals;

pub use bmi::{BmiError, bmi};
pub use news2::{
    Acvpu, ClinicalRisk, News2Error, News2Input, News2Parameter, News2Score, ParameterScores,
    Spo2Scale, clinical_risk, news2,
};
pub use ucum::{Analyte, Dimension, Unit, UnitError, convert, convert_with_analyte};
pub use vitals::{
    Measurement, PlausibleRange, VitalError, VitalSign, catalogue, normalise, panel_members,
    to_canonical, vital,
};
