//! What the benchmark submits: the "Bench vitals" app definition and plausible random answers,
//! as the HTTP body and as the observations the server would derive from them.

use hale_domain::event::ObservationRecord;
use rand::Rng;
use serde_json::{Value, json};

/// The five coded vitals: field name, LOINC code, UCUM unit. The order is the order of the
/// fields in the definition, hence the index of each derived observation.
pub const VITALS: [(&str, &str, &str); 5] = [
    ("heart_rate", "8867-4", "/min"),
    ("spo2", "59408-5", "%"),
    ("body_temperature", "8310-5", "Cel"),
    ("systolic", "8480-6", "mm[Hg]"),
    ("diastolic", "8462-4", "mm[Hg]"),
];

const SYMPTOMS: [&str; 5] = ["cough", "fever", "headache", "fatigue", "sore_throat"];

/// The app every submission is made against: five coded vitals and one multiple choice.
pub fn app_definition() -> Value {
    let choices: Vec<Value> = SYMPTOMS
        .iter()
        .map(|value| json!({"value": value, "label": value.replace('_', " ")}))
        .collect();
    json!({
        "title": "Bench vitals",
        "fields": [
            {"name": "heart_rate", "type": "integer", "label": "Heart rate", "unit": "/min",
             "min": 20, "max": 300, "code": "8867-4"},
            {"name": "spo2", "type": "integer", "label": "Oxygen saturation", "unit": "%",
             "min": 50, "max": 100, "code": "59408-5"},
            {"name": "body_temperature", "type": "decimal", "label": "Body temperature",
             "unit": "Cel", "min": 30, "max": 45, "code": "8310-5"},
            {"name": "systolic", "type": "integer", "label": "Systolic blood pressure",
             "unit": "mm[Hg]", "min": 50, "max": 260, "code": "8480-6"},
            {"name": "diastolic", "type": "integer", "label": "Diastolic blood pressure",
             "unit": "mm[Hg]", "min": 30, "max": 160, "code": "8462-4"},
            {"name": "symptoms", "type": "select_multiple", "label": "Symptoms",
             "choices": choices},
        ],
    })
}

/// One set of answers: the five vitals in the order of [`VITALS`], and the symptoms.
#[derive(Clone, Debug)]
pub struct Vitals {
    pub values: [f64; 5],
    pub symptoms: Vec<&'static str>,
}

impl Vitals {
    /// Plausible adult vitals, with a little spread; always inside the definition's bounds.
    pub fn random(rng: &mut impl Rng) -> Self {
        let systolic = rng.random_range(95..=165);
        let diastolic = rng.random_range(55..=(systolic - 25).min(105));
        // One decimal place, as a thermometer shows it.
        let temperature = f64::from(rng.random_range(358..=392)) / 10.0;
        let symptoms = SYMPTOMS
            .iter()
            .copied()
            .filter(|_| rng.random_ratio(1, 6))
            .collect();
        Self {
            values: [
                f64::from(rng.random_range(48..=130)),
                f64::from(rng.random_range(88..=100)),
                temperature,
                f64::from(systolic),
                f64::from(diastolic),
            ],
            symptoms,
        }
    }

    /// The answers object, as the client sends it and the log keeps it.
    pub fn answers_json(&self) -> String {
        let [heart_rate, spo2, temperature, systolic, diastolic] = self.values;
        json!({
            "heart_rate": heart_rate as i64,
            "spo2": spo2 as i64,
            "body_temperature": temperature,
            "systolic": systolic as i64,
            "diastolic": diastolic as i64,
            "symptoms": self.symptoms,
        })
        .to_string()
    }

    /// The observations the server derives from these answers.
    pub fn observations(&self) -> Vec<ObservationRecord> {
        VITALS
            .iter()
            .zip(self.values)
            .enumerate()
            .map(|(index, ((field, code, unit), value))| ObservationRecord {
                index: index as u32,
                field: (*field).to_owned(),
                code: (*code).to_owned(),
                value,
                unit: (*unit).to_owned(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn random_vitals_stay_inside_the_definition() -> anyhow::Result<()> {
        let definition = app_definition();
        let fields = definition["fields"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("fields"))?;
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..10_000 {
            let vitals = Vitals::random(&mut rng);
            for (field, value) in fields.iter().zip(vitals.values) {
                let min = field["min"].as_f64().unwrap_or(f64::MIN);
                let max = field["max"].as_f64().unwrap_or(f64::MAX);
                assert!((min..=max).contains(&value), "{field} {value}");
            }
            assert!(vitals.values[4] < vitals.values[3]);
            let answers: Value = serde_json::from_str(&vitals.answers_json())?;
            assert_eq!(answers.as_object().map(|o| o.len()), Some(6));
            assert_eq!(vitals.observations().len(), 5);
        }
        Ok(())
    }
}
