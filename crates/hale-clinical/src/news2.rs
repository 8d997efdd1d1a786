//! NEWS2, the National Early Warning Score 2 (Royal College of Physicians, December 2017).
//!
//! Scores follow the published NEWS2 chart ("Chart 1: The NEWS scoring system") and the
//! clinical-risk thresholds of "Chart 2: NEWS thresholds and triggers".
//!
//! The chart is written on whole numbers (respiration, SpO2, systolic pressure, pulse) and on
//! one decimal place (temperature), leaving gaps such as 8–9 breaths/min or 36.0–36.1 °C. Inputs
//! are therefore rounded half away from zero to the chart's precision before they are banded:
//! 8.5 breaths/min scores as 9, 36.05 °C as 36.1. That is what a nurse writing the value on the
//! paper chart would do, and it puts every real number in exactly one band.

use serde::{Deserialize, Serialize};

use crate::rounding::to_chart_units;

/// Which SpO2 scale the saturation is scored on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spo2Scale {
    /// The default scale, for everyone not prescribed Scale 2.
    #[default]
    Scale1,
    /// For patients with hypercapnic respiratory failure whose target saturation of 88–92 % has
    /// been prescribed by a clinician; never chosen automatically.
    Scale2,
}

/// Level of consciousness on the ACVPU scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acvpu {
    /// Alert.
    Alert,
    /// New confusion (new-onset disorientation, delirium or any reduction in GCS).
    Confusion,
    /// Responds to voice.
    Voice,
    /// Responds to pain.
    Pain,
    /// Unresponsive.
    Unresponsive,
}

/// One observation set as recorded. A parameter that was not observed is `None`; NEWS2 is only
/// scored when all seven parameters are present.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct News2Input {
    /// Breaths per minute.
    pub respiration_rate: Option<f64>,
    /// Oxygen saturation by pulse oximetry, in percent.
    pub spo2: Option<f64>,
    /// Which SpO2 scale applies; Scale 1 unless a clinician prescribed Scale 2.
    pub spo2_scale: Spo2Scale,
    /// Whether the patient is on supplemental oxygen (`false` means on air).
    pub supplemental_oxygen: Option<bool>,
    /// Systolic blood pressure in `mm[Hg]`.
    pub systolic_bp: Option<f64>,
    /// Pulse in beats per minute.
    pub pulse: Option<f64>,
    /// Level of consciousness.
    pub consciousness: Option<Acvpu>,
    /// Body temperature in degrees Celsius.
    pub temperature_celsius: Option<f64>,
}

/// The seven NEWS2 physiological parameters, in chart order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum News2Parameter {
    /// Respiration rate.
    RespirationRate,
    /// SpO2, on whichever scale applies.
    Spo2,
    /// Air or oxygen.
    AirOrOxygen,
    /// Systolic blood pressure.
    SystolicBp,
    /// Pulse.
    Pulse,
    /// Consciousness.
    Consciousness,
    /// Temperature.
    Temperature,
}

/// The score each parameter contributed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ParameterScores {
    /// Respiration rate score (0–3).
    pub respiration_rate: u8,
    /// SpO2 score on the scale used (0–3).
    pub spo2: u8,
    /// Air or oxygen score (0 or 2).
    pub air_or_oxygen: u8,
    /// Systolic blood pressure score (0–3).
    pub systolic_bp: u8,
    /// Pulse score (0–3).
    pub pulse: u8,
    /// Consciousness score (0 or 3).
    pub consciousness: u8,
    /// Temperature score (0–3).
    pub temperature: u8,
}

impl ParameterScores {
    /// The scores in chart order, paired with their parameter.
    pub fn iter(&self) -> impl Iterator<Item = (News2Parameter, u8)> {
        [
            (News2Parameter::RespirationRate, self.respiration_rate),
            (News2Parameter::Spo2, self.spo2),
            (News2Parameter::AirOrOxygen, self.air_or_oxygen),
            (News2Parameter::SystolicBp, self.systolic_bp),
            (News2Parameter::Pulse, self.pulse),
            (News2Parameter::Consciousness, self.consciousness),
            (News2Parameter::Temperature, self.temperature),
        ]
        .into_iter()
    }
}

/// Clinical risk band from RCP Chart 2, which sets the urgency of the clinical response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClinicalRisk {
    /// Aggregate 0–4 with no single parameter scoring 3: ward-based response.
    Low,
    /// Aggregate 0–4 but one parameter scored 3: urgent ward-based response.
    LowMedium,
    /// Aggregate 5–6: key threshold for urgent response.
    Medium,
    /// Aggregate 7 or more: urgent or emergency response.
    High,
}

/// A computed NEWS2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct News2Score {
    /// Aggregate score, the sum of the parameter scores (0–20).
    pub total: u8,
    /// What each parameter contributed.
    pub parameters: ParameterScores,
    /// The clinical risk band.
    pub risk: ClinicalRisk,
}

/// Why NEWS2 could not be scored.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum News2Error {
    /// One or more parameters were not observed; a partial NEWS2 would understate risk.
    #[error("NEWS2 needs all seven parameters; missing: {0:?}")]
    Missing(Vec<News2Parameter>),
    /// A value cannot be a real observation (NaN, infinite, negative, or SpO2 above 100 %).
    #[error("{value} is not a valid value for NEWS2 parameter {parameter:?}")]
    InvalidValue {
        /// The offending parameter.
        parameter: News2Parameter,
        /// The value given.
        value: f64,
    },
}

/// Band boundaries as `(upper bound inclusive, score)`, searched in order; the last band has no
/// upper bound. Bounds are in chart units (whole numbers, or tenths for temperature).
type Bands = &'static [(i64, u8)];

/// Respiration rate, breaths/min: ≤8 → 3, 9–11 → 1, 12–20 → 0, 21–24 → 2, ≥25 → 3.
const RESPIRATION_BANDS: Bands = &[(8, 3), (11, 1), (20, 0), (24, 2), (i64::MAX, 3)];
/// SpO2 Scale 1, %: ≤91 → 3, 92–93 → 2, 94–95 → 1, ≥96 → 0.
const SPO2_SCALE_1_BANDS: Bands = &[(91, 3), (93, 2), (95, 1), (i64::MAX, 0)];
/// SpO2 Scale 2 on air, %: ≤83 → 3, 84–85 → 2, 86–87 → 1, 88–92 → 0, ≥93 on air → 0.
const SPO2_SCALE_2_AIR_BANDS: Bands = &[(83, 3), (85, 2), (87, 1), (i64::MAX, 0)];
/// SpO2 Scale 2 on oxygen, %: as on air up to 92, then 93–94 → 1, 95–96 → 2, ≥97 → 3; over-
/// oxygenation is itself a risk in hypercapnic respiratory failure.
const SPO2_SCALE_2_OXYGEN_BANDS: Bands = &[
    (83, 3),
    (85, 2),
    (87, 1),
    (92, 0),
    (94, 1),
    (96, 2),
    (i64::MAX, 3),
];
/// Systolic blood pressure, `mm[Hg]`: ≤90 → 3, 91–100 → 2, 101–110 → 1, 111–219 → 0, ≥220 → 3.
const SYSTOLIC_BANDS: Bands = &[(90, 3), (100, 2), (110, 1), (219, 0), (i64::MAX, 3)];
/// Pulse, /min: ≤40 → 3, 41–50 → 1, 51–90 → 0, 91–110 → 1, 111–130 → 2, ≥131 → 3.
const PULSE_BANDS: Bands = &[(40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (i64::MAX, 3)];
/// Temperature in tenths of a degree Celsius: ≤35.0 → 3, 35.1–36.0 → 1, 36.1–38.0 → 0,
/// 38.1–39.0 → 1, ≥39.1 → 2.
const TEMPERATURE_BANDS: Bands = &[(350, 3), (360, 1), (380, 0), (390, 1), (i64::MAX, 2)];

fn band_score(bands: Bands, chart_value: i64) -> u8 {
    bands
        .iter()
        .find(|(upper, _)| chart_value <= *upper)
        .map_or(0, |(_, score)| *score)
}

/// Rejects values no monitor could produce before they are silently scored as extreme. This is
/// not a plausibility check: that belongs to the vital-signs catalogue, before values get here.
fn checked(parameter: News2Parameter, value: f64, maximum: f64) -> Result<f64, News2Error> {
    if value.is_finite() && (0.0..=maximum).contains(&value) {
        Ok(value)
    } else {
        Err(News2Error::InvalidValue { parameter, value })
    }
}

/// Score for one parameter, rounded to the chart's precision first (see the module docs).
fn score(
    parameter: News2Parameter,
    value: f64,
    maximum: f64,
    decimals: i32,
    bands: Bands,
) -> Result<u8, News2Error> {
    let value = checked(parameter, value, maximum)?;
    Ok(band_score(bands, to_chart_units(value, decimals)))
}

/// The parameters not observed, in chart order.
fn missing_parameters(input: &News2Input) -> Vec<News2Parameter> {
    [
        (
            News2Parameter::RespirationRate,
            input.respiration_rate.is_none(),
        ),
        (News2Parameter::Spo2, input.spo2.is_none()),
        (
            News2Parameter::AirOrOxygen,
            input.supplemental_oxygen.is_none(),
        ),
        (News2Parameter::SystolicBp, input.systolic_bp.is_none()),
        (News2Parameter::Pulse, input.pulse.is_none()),
        (News2Parameter::Consciousness, input.consciousness.is_none()),
        (
            News2Parameter::Temperature,
            input.temperature_celsius.is_none(),
        ),
    ]
    .into_iter()
    .filter_map(|(parameter, is_missing)| is_missing.then_some(parameter))
    .collect()
}

/// Computes NEWS2 for one complete set of observations.
pub fn news2(input: &News2Input) -> Result<News2Score, News2Error> {
    let (
        Some(respiration_rate),
        Some(spo2),
        Some(supplemental_oxygen),
        Some(systolic_bp),
        Some(pulse),
        Some(consciousness),
        Some(temperature_celsius),
    ) = (
        input.respiration_rate,
        input.spo2,
        input.supplemental_oxygen,
        input.systolic_bp,
        input.pulse,
        input.consciousness,
        input.temperature_celsius,
    )
    else {
        return Err(News2Error::Missing(missing_parameters(input)));
    };

    let spo2_bands = match (input.spo2_scale, supplemental_oxygen) {
        (Spo2Scale::Scale1, _) => SPO2_SCALE_1_BANDS,
        (Spo2Scale::Scale2, false) => SPO2_SCALE_2_AIR_BANDS,
        (Spo2Scale::Scale2, true) => SPO2_SCALE_2_OXYGEN_BANDS,
    };
    let parameters = ParameterScores {
        respiration_rate: score(
            News2Parameter::RespirationRate,
            respiration_rate,
            f64::MAX,
            0,
            RESPIRATION_BANDS,
        )?,
        spo2: score(News2Parameter::Spo2, spo2, 100.0, 0, spo2_bands)?,
        air_or_oxygen: if supplemental_oxygen { 2 } else { 0 },
        systolic_bp: score(
            News2Parameter::SystolicBp,
            systolic_bp,
            f64::MAX,
            0,
            SYSTOLIC_BANDS,
        )?,
        pulse: score(News2Parameter::Pulse, pulse, f64::MAX, 0, PULSE_BANDS)?,
        consciousness: match consciousness {
            Acvpu::Alert => 0,
            Acvpu::Confusion | Acvpu::Voice | Acvpu::Pain | Acvpu::Unresponsive => 3,
        },
        temperature: score(
            News2Parameter::Temperature,
            temperature_celsius,
            f64::MAX,
            1,
            TEMPERATURE_BANDS,
        )?,
    };
    let total = parameters.iter().map(|(_, score)| score).sum();
    Ok(News2Score {
        total,
        parameters,
        risk: clinical_risk(total, &parameters),
    })
}

/// Clinical risk per RCP Chart 2: the aggregate decides, except that a single parameter
/// scoring 3 raises an otherwise low aggregate to low–medium.
pub fn clinical_risk(total: u8, parameters: &ParameterScores) -> ClinicalRisk {
    match total {
        7.. => ClinicalRisk::High,
        5..=6 => ClinicalRisk::Medium,
        _ if parameters.iter().any(|(_, score)| score == 3) => ClinicalRisk::LowMedium,
        _ => ClinicalRisk::Low,
    }
}

#[cfg(test)]
mod tests;
