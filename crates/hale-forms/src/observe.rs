//! Observations derived from a valid submission: coded numeric answers in the catalogue's
//! canonical unit (refusing implausible values), BMI from weight and height, and NEWS2 when
//! all seven parameters are present.

use std::collections::HashMap;

use hale_clinical::news2::{Acvpu, News2Input, Spo2Scale, news2};
use hale_clinical::vitals::loinc;
use hale_domain::event::ObservationRecord;
use hale_expr::Value;

use crate::compile::CompiledForm;
use crate::validate::{FieldError, ValidSubmission};

/// A coded number as answered, in the field's own unit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reading {
    pub index: usize,
    pub path: String,
    pub number: f64,
    pub in_repeat: bool,
}

/// Where a derived BMI observation says it came from (no field holds it).
pub const DERIVED_BMI_FIELD: &str = "$derived.bmi";

pub(crate) fn derive(
    form: &CompiledForm,
    readings: &[Reading],
    top_values: &HashMap<String, Value>,
    errors: &mut Vec<FieldError>,
) -> ValidSubmission {
    let mut observations: Vec<ObservationRecord> = Vec::new();
    // Canonical top-level values by catalogue LOINC, for BMI and NEWS2.
    let mut vitals: HashMap<&'static str, f64> = HashMap::new();
    for reading in readings {
        let field = &form.fields[reading.index];
        let (Some(code), Some(unit)) = (&field.code, &field.unit) else {
            continue;
        };
        let (code, value, unit) = match hale_clinical::vital(code) {
            Some(vital) => match vital.to_canonical(reading.number, unit) {
                Ok((value, canonical)) if vital.plausible.contains(value) => {
                    if !reading.in_repeat {
                        vitals.entry(vital.loinc).or_insert(value);
                    }
                    (vital.loinc.to_owned(), value, canonical.to_owned())
                }
                _ => {
                    errors.push(FieldError {
                        field: reading.path.clone(),
                        code: "implausible_value",
                        message: format!(
                            "the answer is outside the plausible range for {} ({}–{} {})",
                            vital.display,
                            vital.plausible.low,
                            vital.plausible.high,
                            vital.canonical_unit
                        ),
                    });
                    continue;
                }
            },
            None => (code.clone(), reading.number, unit.clone()),
        };
        observations.push(ObservationRecord {
            index: observations.len() as u32,
            field: reading.path.clone(),
            code,
            value,
            unit,
        });
    }
    let has_bmi = observations
        .iter()
        .any(|observation| observation.code == loinc::BODY_MASS_INDEX);
    if let (false, Some(weight), Some(height)) = (
        has_bmi,
        vitals.get(loinc::BODY_WEIGHT),
        vitals.get(loinc::BODY_HEIGHT),
    ) {
        // An implausible BMI from plausible inputs is left underived rather than refusing
        // the person's answers, which are each within range.
        if let Ok(index) = hale_clinical::bmi(*weight, *height) {
            observations.push(ObservationRecord {
                index: observations.len() as u32,
                field: DERIVED_BMI_FIELD.to_owned(),
                code: loinc::BODY_MASS_INDEX.to_owned(),
                value: index,
                unit: String::from("kg/m2"),
            });
        }
    }
    let news2 = news2_input(form, &vitals, top_values).and_then(|input| news2(&input).ok());
    ValidSubmission {
        observations,
        news2,
    }
}

/// All seven NEWS2 parameters, or `None` when any is missing: a partial score would
/// understate risk.
fn news2_input(
    form: &CompiledForm,
    vitals: &HashMap<&'static str, f64>,
    top_values: &HashMap<String, Value>,
) -> Option<News2Input> {
    let mapping = form.news2.as_ref()?;
    let oxygen = match top_values.get(&mapping.oxygen)? {
        Value::Bool(flag) => *flag,
        Value::String(choice) => choice == "oxygen",
        _ => return None,
    };
    let consciousness = match top_values.get(&mapping.consciousness)? {
        Value::String(choice) => match choice.as_str() {
            "alert" => Acvpu::Alert,
            "confusion" => Acvpu::Confusion,
            "voice" => Acvpu::Voice,
            "pain" => Acvpu::Pain,
            "unresponsive" => Acvpu::Unresponsive,
            _ => return None,
        },
        _ => return None,
    };
    let scale = match mapping
        .spo2_scale
        .as_ref()
        .and_then(|name| top_values.get(name))
    {
        Some(Value::String(choice)) if choice == "scale2" => Spo2Scale::Scale2,
        _ => Spo2Scale::Scale1,
    };
    Some(News2Input {
        respiration_rate: Some(*vitals.get(loinc::RESPIRATORY_RATE)?),
        spo2: Some(*vitals.get(loinc::OXYGEN_SATURATION)?),
        spo2_scale: scale,
        supplemental_oxygen: Some(oxygen),
        systolic_bp: Some(*vitals.get(loinc::SYSTOLIC_BLOOD_PRESSURE)?),
        pulse: Some(*vitals.get(loinc::HEART_RATE)?),
        consciousness: Some(consciousness),
        temperature_celsius: Some(*vitals.get(loinc::BODY_TEMPERATURE)?),
    })
}
