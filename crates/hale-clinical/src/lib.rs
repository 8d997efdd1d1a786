//! Hale's clinical vocabulary: the vital-signs catalogue keyed by LOINC, UCUM unit conversion,
//! the NEWS2 early-warning score and BMI. Everything here is pure computation on values the
//! caller supplies; nothing does I/O.
//!
//! ```
//! use hale_clinical::{Acvpu, ClinicalRisk, News2Input, Spo2Scale, news2, to_canonical};
//!
//! // A temperature typed in Fahrenheit is stored in the catalogue's canonical unit.
//! let (celsius, unit) = to_canonical("8310-5", 98.6, "[degF]")?;
//! assert_eq!(unit, "Cel");
//! assert!((celsius - 37.0).abs() < 1e-9);
//!
//! let score = news2(&News2Input {
//!     respiration_rate: Some(22.0),
//!     spo2: Some(95.0),
//!     spo2_scale: Spo2Scale::Scale1,
//!     supplemental_oxygen: Some(false),
//!     systolic_bp: Some(118.0),
//!     pulse: Some(96.0),
//!     consciousness: Some(Acvpu::Alert),
//!     temperature_celsius: Some(celsius),
//! })?;
//! assert_eq!(score.total, 4);
//! assert_eq!(score.risk, ClinicalRisk::Low);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod bmi;
pub mod news2;
mod rounding;
pub mod ucum;
pub mod vitals;

pub use self::ucum::{Analyte, Dimension, Unit, UnitError, convert, convert_with_analyte};
pub use bmi::{BmiError, bmi};
pub use news2::{
    Acvpu, ClinicalRisk, News2Error, News2Input, News2Parameter, News2Score, ParameterScores,
    Spo2Scale, clinical_risk, news2,
};
pub use vitals::{
    Measurement, PlausibleRange, VitalError, VitalSign, catalogue, convert_reading, normalise,
    panel_members, to_canonical, vital,
};
