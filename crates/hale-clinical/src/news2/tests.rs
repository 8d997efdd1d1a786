//! NEWS2 tests. Expected scores come from the Royal College of Physicians' NEWS2 report
//! (December 2017): band edges from "Chart 1: The NEWS scoring system", risk bands from
//! "Chart 2: NEWS thresholds and triggers". Each band edge is tested on both sides.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;

/// An observation set that scores 0 on every parameter, so each test can move one parameter
/// and see only its own contribution.
fn all_normal() -> News2Input {
    News2Input {
        respiration_rate: Some(16.0),
        spo2: Some(98.0),
        spo2_scale: Spo2Scale::Scale1,
        supplemental_oxygen: Some(false),
        systolic_bp: Some(120.0),
        pulse: Some(70.0),
        consciousness: Some(Acvpu::Alert),
        temperature_celsius: Some(37.0),
    }
}

fn scored(input: &News2Input) -> News2Score {
    news2(input).unwrap_or_else(|error| panic!("{input:?}: {error}"))
}

/// Checks one parameter across a table of `(value, expected score)`, holding the others normal.
fn check_table(
    name: &str,
    table: &[(f64, u8)],
    set: impl Fn(&mut News2Input, f64),
    get: impl Fn(&ParameterScores) -> u8,
) {
    for &(value, expected) in table {
        let mut input = all_normal();
        set(&mut input, value);
        let score = scored(&input);
        assert_eq!(get(&score.parameters), expected, "{name} = {value}");
    }
}

#[test]
fn all_normal_scores_zero_and_low_risk() {
    let score = scored(&all_normal());
    assert_eq!(score.total, 0);
    assert_eq!(score.parameters, ParameterScores::default());
    assert_eq!(score.risk, ClinicalRisk::Low);
}

#[test]
fn respiration_rate_band_edges() {
    // Chart 1: ≤8 → 3; 9–11 → 1; 12–20 → 0; 21–24 → 2; ≥25 → 3.
    let table = [
        (0.0, 3),
        (8.0, 3),
        (9.0, 1),
        (11.0, 1),
        (12.0, 0),
        (20.0, 0),
        (21.0, 2),
        (24.0, 2),
        (25.0, 3),
        (60.0, 3),
        // Between chart rows: rounded half away from zero to whole breaths first.
        (8.49, 3),
        (8.5, 1),
        (11.49, 1),
        (11.5, 0),
        (20.49, 0),
        (20.5, 2),
        (24.49, 2),
        (24.5, 3),
    ];
    check_table(
        "respiration rate",
        &table,
        |input, value| input.respiration_rate = Some(value),
        |scores| scores.respiration_rate,
    );
}

#[test]
fn spo2_scale_1_band_edges_on_air_and_oxygen() {
    // Chart 1, SpO2 Scale 1: ≤91 → 3; 92–93 → 2; 94–95 → 1; ≥96 → 0. Oxygen does not change
    // the Scale 1 score; it scores separately under "air or oxygen".
    let table = [
        (70.0, 3),
        (91.0, 3),
        (92.0, 2),
        (93.0, 2),
        (94.0, 1),
        (95.0, 1),
        (96.0, 0),
        (100.0, 0),
        (91.49, 3),
        (91.5, 2),
        (93.5, 1),
        (95.49, 1),
        (95.5, 0),
    ];
    for oxygen in [false, true] {
        check_table(
            "SpO2 scale 1",
            &table,
            |input, value| {
                input.spo2 = Some(value);
                input.supplemental_oxygen = Some(oxygen);
            },
            |scores| scores.spo2,
        );
    }
}

#[test]
fn spo2_scale_2_band_edges_on_air() {
    // Chart 1, SpO2 Scale 2: ≤83 → 3; 84–85 → 2; 86–87 → 1; 88–92 → 0; ≥93 on air → 0.
    let table = [
        (70.0, 3),
        (83.0, 3),
        (84.0, 2),
        (85.0, 2),
        (86.0, 1),
        (87.0, 1),
        (88.0, 0),
        (92.0, 0),
        (93.0, 0),
        (94.0, 0),
        (96.0, 0),
        (97.0, 0),
        (100.0, 0),
        (83.5, 2),
        (87.49, 1),
        (87.5, 0),
    ];
    check_table(
        "SpO2 scale 2 on air",
        &table,
        |input, value| {
            input.spo2 = Some(value);
            input.spo2_scale = Spo2Scale::Scale2;
            input.supplemental_oxygen = Some(false);
        },
        |scores| scores.spo2,
    );
}

#[test]
fn spo2_scale_2_band_edges_on_oxygen() {
    // Chart 1, SpO2 Scale 2: as on air up to 88–92 → 0, then on oxygen 93–94 → 1;
    // 95–96 → 2; ≥97 → 3.
    let table = [
        (70.0, 3),
        (83.0, 3),
        (84.0, 2),
        (85.0, 2),
        (86.0, 1),
        (87.0, 1),
        (88.0, 0),
        (92.0, 0),
        (93.0, 1),
        (94.0, 1),
        (95.0, 2),
        (96.0, 2),
        (97.0, 3),
        (100.0, 3),
        (92.49, 0),
        (92.5, 1),
        (94.5, 2),
        (96.49, 2),
        (96.5, 3),
    ];
    check_table(
        "SpO2 scale 2 on oxygen",
        &table,
        |input, value| {
            input.spo2 = Some(value);
            input.spo2_scale = Spo2Scale::Scale2;
            input.supplemental_oxygen = Some(true);
        },
        |scores| scores.spo2,
    );
}

#[test]
fn air_or_oxygen() {
    // Chart 1: oxygen → 2; air → 0.
    let mut input = all_normal();
    input.supplemental_oxygen = Some(false);
    assert_eq!(scored(&input).parameters.air_or_oxygen, 0);
    input.supplemental_oxygen = Some(true);
    let score = scored(&input);
    assert_eq!(score.parameters.air_or_oxygen, 2);
    assert_eq!(score.total, 2);
}

#[test]
fn systolic_blood_pressure_band_edges() {
    // Chart 1: ≤90 → 3; 91–100 → 2; 101–110 → 1; 111–219 → 0; ≥220 → 3.
    let table = [
        (50.0, 3),
        (90.0, 3),
        (91.0, 2),
        (100.0, 2),
        (101.0, 1),
        (110.0, 1),
        (111.0, 0),
        (219.0, 0),
        (220.0, 3),
        (260.0, 3),
        (90.49, 3),
        (90.5, 2),
        (110.5, 0),
        (219.49, 0),
        (219.5, 3),
    ];
    check_table(
        "systolic blood pressure",
        &table,
        |input, value| input.systolic_bp = Some(value),
        |scores| scores.systolic_bp,
    );
}

#[test]
fn pulse_band_edges() {
    // Chart 1: ≤40 → 3; 41–50 → 1; 51–90 → 0; 91–110 → 1; 111–130 → 2; ≥131 → 3.
    let table = [
        (25.0, 3),
        (40.0, 3),
        (41.0, 1),
        (50.0, 1),
        (51.0, 0),
        (90.0, 0),
        (91.0, 1),
        (110.0, 1),
        (111.0, 2),
        (130.0, 2),
        (131.0, 3),
        (200.0, 3),
        (40.49, 3),
        (40.5, 1),
        (50.5, 0),
        (90.5, 1),
        (110.5, 2),
        (130.49, 2),
        (130.5, 3),
    ];
    check_table(
        "pulse",
        &table,
        |input, value| input.pulse = Some(value),
        |scores| scores.pulse,
    );
}

#[test]
fn temperature_band_edges() {
    // Chart 1: ≤35.0 → 3; 35.1–36.0 → 1; 36.1–38.0 → 0; 38.1–39.0 → 1; ≥39.1 → 2.
    let table = [
        (30.0, 3),
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (42.0, 2),
        // Between chart rows: rounded half away from zero to one decimal first. 36.05 is not
        // exactly representable in binary and must still count as the typed half.
        (35.04, 3),
        (35.05, 1),
        (36.04, 1),
        (36.05, 0),
        (38.04, 0),
        (38.05, 1),
        (39.04, 1),
        (39.05, 2),
    ];
    check_table(
        "temperature",
        &table,
        |input, value| input.temperature_celsius = Some(value),
        |scores| scores.temperature,
    );
}

#[test]
fn consciousness_acvpu() {
    // Chart 1: Alert → 0; new Confusion, Voice, Pain or Unresponsive → 3.
    for (level, expected) in [
        (Acvpu::Alert, 0),
        (Acvpu::Confusion, 3),
        (Acvpu::Voice, 3),
        (Acvpu::Pain, 3),
        (Acvpu::Unresponsive, 3),
    ] {
        let mut input = all_normal();
        input.consciousness = Some(level);
        assert_eq!(
            scored(&input).parameters.consciousness,
            expected,
            "{level:?}"
        );
    }
}

/// Builds an input from chart values, in chart order.
fn observations(
    respiration_rate: f64,
    spo2: f64,
    oxygen: bool,
    systolic_bp: f64,
    pulse: f64,
    consciousness: Acvpu,
    temperature: f64,
) -> News2Input {
    News2Input {
        respiration_rate: Some(respiration_rate),
        spo2: Some(spo2),
        spo2_scale: Spo2Scale::Scale1,
        supplemental_oxygen: Some(oxygen),
        systolic_bp: Some(systolic_bp),
        pulse: Some(pulse),
        consciousness: Some(consciousness),
        temperature_celsius: Some(temperature),
    }
}

#[test]
fn aggregate_and_clinical_risk_bands() {
    use Acvpu::*;
    // Chart 2: 0–4 low; a single parameter scoring 3 → low–medium (urgent ward-based
    // response); 5–6 medium; ≥7 high. Rows: (observations, total, risk).
    let rows = [
        // 0: low.
        (
            observations(16.0, 98.0, false, 120.0, 70.0, Alert, 37.0),
            0,
            ClinicalRisk::Low,
        ),
        // 1: pulse 95.
        (
            observations(16.0, 98.0, false, 120.0, 95.0, Alert, 37.0),
            1,
            ClinicalRisk::Low,
        ),
        // 4 from two 2s: still low, no single 3.
        (
            observations(22.0, 98.0, false, 95.0, 70.0, Alert, 37.0),
            4,
            ClinicalRisk::Low,
        ),
        // 4 from 1+1+1+1.
        (
            observations(10.0, 95.0, false, 105.0, 95.0, Alert, 37.0),
            4,
            ClinicalRisk::Low,
        ),
        // 3 from one parameter alone: low–medium.
        (
            observations(8.0, 98.0, false, 120.0, 70.0, Alert, 37.0),
            3,
            ClinicalRisk::LowMedium,
        ),
        // New confusion alone.
        (
            observations(16.0, 98.0, false, 120.0, 70.0, Confusion, 37.0),
            3,
            ClinicalRisk::LowMedium,
        ),
        // 4 including a 3: still low–medium.
        (
            observations(25.0, 98.0, false, 120.0, 95.0, Alert, 37.0),
            4,
            ClinicalRisk::LowMedium,
        ),
        // 5 without a 3: medium.
        (
            observations(22.0, 98.0, false, 95.0, 95.0, Alert, 37.0),
            5,
            ClinicalRisk::Medium,
        ),
        // 5 with a 3: medium (aggregate decides above 4).
        (
            observations(16.0, 98.0, true, 120.0, 70.0, Alert, 35.0),
            5,
            ClinicalRisk::Medium,
        ),
        // 6: medium.
        (
            observations(22.0, 93.0, false, 95.0, 70.0, Alert, 37.0),
            6,
            ClinicalRisk::Medium,
        ),
        // 7: high.
        (
            observations(22.0, 93.0, false, 95.0, 95.0, Alert, 37.0),
            7,
            ClinicalRisk::High,
        ),
        // Worst possible: every parameter at its maximum.
        (
            observations(30.0, 85.0, true, 80.0, 150.0, Unresponsive, 34.0),
            20,
            ClinicalRisk::High,
        ),
    ];
    for (input, total, risk) in rows {
        let score = scored(&input);
        assert_eq!(score.total, total, "{input:?}");
        assert_eq!(score.risk, risk, "{input:?}");
        let sum: u8 = score.parameters.iter().map(|(_, score)| score).sum();
        assert_eq!(sum, score.total);
    }
}

#[test]
fn scale_2_on_oxygen_adds_both_oxygen_and_saturation_scores() {
    let mut input = all_normal();
    input.spo2_scale = Spo2Scale::Scale2;
    input.supplemental_oxygen = Some(true);
    input.spo2 = Some(97.0);
    let score = scored(&input);
    assert_eq!(score.parameters.spo2, 3);
    assert_eq!(score.parameters.air_or_oxygen, 2);
    assert_eq!(score.total, 5);
    assert_eq!(score.risk, ClinicalRisk::Medium);
}

#[test]
fn missing_parameters_are_listed_in_chart_order() {
    assert_eq!(
        news2(&News2Input::default()),
        Err(News2Error::Missing(vec![
            News2Parameter::RespirationRate,
            News2Parameter::Spo2,
            News2Parameter::AirOrOxygen,
            News2Parameter::SystolicBp,
            News2Parameter::Pulse,
            News2Parameter::Consciousness,
            News2Parameter::Temperature,
        ]))
    );
    let mut input = all_normal();
    input.supplemental_oxygen = None;
    input.temperature_celsius = None;
    assert_eq!(
        news2(&input),
        Err(News2Error::Missing(vec![
            News2Parameter::AirOrOxygen,
            News2Parameter::Temperature
        ]))
    );
}

/// Replaces one observation with a value no monitor could produce.
type Spoil = fn(&mut News2Input);

#[test]
fn impossible_values_are_refused() {
    let cases: [(Spoil, News2Parameter); 5] = [
        (
            |input| input.respiration_rate = Some(f64::NAN),
            News2Parameter::RespirationRate,
        ),
        (|input| input.pulse = Some(-1.0), News2Parameter::Pulse),
        (|input| input.spo2 = Some(100.5), News2Parameter::Spo2),
        (
            |input| input.systolic_bp = Some(f64::INFINITY),
            News2Parameter::SystolicBp,
        ),
        (
            |input| input.temperature_celsius = Some(-0.1),
            News2Parameter::Temperature,
        ),
    ];
    for (spoil, parameter) in cases {
        let mut input = all_normal();
        spoil(&mut input);
        assert!(
            matches!(news2(&input), Err(News2Error::InvalidValue { parameter: found, .. }) if found == parameter),
            "{parameter:?}"
        );
    }
}

#[test]
fn clinical_risk_thresholds_directly() {
    let none = ParameterScores::default();
    let one_three = ParameterScores {
        pulse: 3,
        ..ParameterScores::default()
    };
    assert_eq!(clinical_risk(0, &none), ClinicalRisk::Low);
    assert_eq!(clinical_risk(4, &none), ClinicalRisk::Low);
    assert_eq!(clinical_risk(3, &one_three), ClinicalRisk::LowMedium);
    assert_eq!(clinical_risk(5, &none), ClinicalRisk::Medium);
    assert_eq!(clinical_risk(6, &one_three), ClinicalRisk::Medium);
    assert_eq!(clinical_risk(7, &none), ClinicalRisk::High);
    assert_eq!(clinical_risk(20, &one_three), ClinicalRisk::High);
}

#[test]
fn json_shape_is_stable() {
    let input: News2Input = serde_json::from_str(
        r#"{"respiration_rate":16,"spo2":98,"supplemental_oxygen":false,"systolic_bp":120,
            "pulse":70,"consciousness":"alert","temperature_celsius":37.0}"#,
    )
    .unwrap();
    // The scale may be left out and defaults to Scale 1.
    assert_eq!(input, all_normal());
    let score = scored(&input);
    let json = serde_json::to_value(score).unwrap();
    assert_eq!(json["total"], 0);
    assert_eq!(json["risk"], "low");
    assert_eq!(json["parameters"]["air_or_oxygen"], 0);
    let back: News2Score = serde_json::from_value(json).unwrap();
    assert_eq!(back, score);
    assert_eq!(
        serde_json::to_value(ClinicalRisk::LowMedium).unwrap(),
        "low_medium"
    );
    assert_eq!(serde_json::to_value(Spo2Scale::Scale2).unwrap(), "scale2");
}

fn any_input() -> impl Strategy<Value = News2Input> {
    let acvpu = prop_oneof![
        Just(Acvpu::Alert),
        Just(Acvpu::Confusion),
        Just(Acvpu::Voice),
        Just(Acvpu::Pain),
        Just(Acvpu::Unresponsive),
    ];
    let scale = prop_oneof![Just(Spo2Scale::Scale1), Just(Spo2Scale::Scale2)];
    (
        0.0f64..60.0,
        50.0f64..=100.0,
        scale,
        any::<bool>(),
        40.0f64..300.0,
        20.0f64..250.0,
        acvpu,
        25.0f64..45.0,
    )
        .prop_map(
            |(respiration, spo2, scale, oxygen, systolic, pulse, consciousness, temperature)| {
                News2Input {
                    respiration_rate: Some(respiration),
                    spo2: Some(spo2),
                    spo2_scale: scale,
                    supplemental_oxygen: Some(oxygen),
                    systolic_bp: Some(systolic),
                    pulse: Some(pulse),
                    consciousness: Some(consciousness),
                    temperature_celsius: Some(temperature),
                }
            },
        )
}

proptest! {
    #[test]
    fn total_is_the_sum_and_risk_follows_it(input in any_input()) {
        let score = news2(&input).unwrap();
        let scores: Vec<u8> = score.parameters.iter().map(|(_, score)| score).collect();
        prop_assert_eq!(scores.iter().sum::<u8>(), score.total);
        prop_assert!(score.total <= 20);
        prop_assert!(scores.iter().all(|&score| score <= 3));
        let expected = match score.total {
            7.. => ClinicalRisk::High,
            5..=6 => ClinicalRisk::Medium,
            _ if scores.contains(&3) => ClinicalRisk::LowMedium,
            _ => ClinicalRisk::Low,
        };
        prop_assert_eq!(score.risk, expected);
    }

    #[test]
    fn scoring_a_value_equals_scoring_it_rounded_to_the_chart(input in any_input()) {
        // Rounding first is the documented rule, so pre-rounded input must score identically.
        let rounded = News2Input {
            respiration_rate: input.respiration_rate.map(|value| crate::rounding::round_half_away_from_zero(value, 0)),
            spo2: input.spo2.map(|value| crate::rounding::round_half_away_from_zero(value, 0)),
            systolic_bp: input.systolic_bp.map(|value| crate::rounding::round_half_away_from_zero(value, 0)),
            pulse: input.pulse.map(|value| crate::rounding::round_half_away_from_zero(value, 0)),
            temperature_celsius: input.temperature_celsius.map(|value| crate::rounding::round_half_away_from_zero(value, 1)),
            ..input
        };
        prop_assert_eq!(news2(&input).unwrap(), news2(&rounded).unwrap());
    }
}
