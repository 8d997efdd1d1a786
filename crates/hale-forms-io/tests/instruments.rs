//! Instruments as analysts write them import, lint with no errors and keep their meaning: a
//! PHQ-9 in two languages with its score and severity, a vitals form whose bounds are written
//! as constraints with a BMI calculation, and a medication diary with a repeat, `count()` and
//! a `range` with the reference converter's default parameters.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hale_domain::Timestamp;
use hale_forms::{AppDefinition, LintReport, lint};
use hale_forms_io::xlsform::import_csv;
use serde_json::{Map, Value, json};

fn import(survey: &str, choices: Option<&str>, settings: Option<&str>) -> AppDefinition {
    import_csv(survey, choices, settings).unwrap_or_else(|errors| panic!("{errors:#?}"))
}

fn codes(report: &[hale_forms::LintIssue]) -> Vec<&str> {
    report.iter().map(|issue| issue.code).collect()
}

/// The error codes of validating `answers`, empty when valid.
fn validate(app: &AppDefinition, answers: Value) -> Vec<&'static str> {
    let form = app.compile().unwrap();
    let answers: Map<String, Value> = serde_json::from_value(answers).unwrap();
    let now = Timestamp::parse_rfc3339("2026-12-01T08:00:00Z").unwrap();
    match form.validate(&answers, now) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(|error| error.code).collect(),
    }
}

fn assert_lints_without_errors_or_warnings(report: &LintReport) {
    assert!(report.is_publishable(), "{:#?}", report.errors);
    assert!(report.warnings.is_empty(), "{:#?}", report.warnings);
}

const PHQ9_ITEMS: [(&str, &str); 9] = [
    (
        "Little interest or pleasure in doing things",
        "Peu d'intérêt ou de plaisir à faire les choses",
    ),
    (
        "Feeling down, depressed, or hopeless",
        "Être triste, déprimé(e) ou désespéré(e)",
    ),
    (
        "Trouble falling or staying asleep, or sleeping too much",
        "Difficultés à s'endormir ou à rester endormi(e), ou trop dormir",
    ),
    (
        "Feeling tired or having little energy",
        "Se sentir fatigué(e) ou manquer d'énergie",
    ),
    (
        "Poor appetite or overeating",
        "Avoir peu d'appétit ou manger trop",
    ),
    (
        "Feeling bad about yourself",
        "Avoir une mauvaise opinion de soi-même",
    ),
    (
        "Trouble concentrating on things",
        "Avoir du mal à se concentrer",
    ),
    (
        "Moving or speaking so slowly that other people could have noticed",
        "Bouger ou parler si lentement que les autres auraient pu le remarquer",
    ),
    (
        "Thoughts that you would be better off dead",
        "Penser qu'il vaudrait mieux mourir",
    ),
];

fn phq9() -> AppDefinition {
    let mut survey = String::from(
        "type,name,label::English (en),label::Français (fr),required,calculation\n\
         begin group,items,Over the last 2 weeks,Au cours des 2 dernières semaines,,\n",
    );
    for (index, (english, french)) in PHQ9_ITEMS.iter().enumerate() {
        survey.push_str(&format!(
            "select_one freq,q{},\"{english}\",\"{french}\",yes,\n",
            index + 1
        ));
    }
    let sum: Vec<String> = (1..=9).map(|item| format!("${{q{item}}}")).collect();
    survey.push_str("end group,,,,,\n");
    survey.push_str(&format!("calculate,score,,,,{}\n", sum.join(" + ")));
    survey.push_str(
        "calculate,severity,,,,\"if(${score} >= 20, 'severe', if(${score} >= 15, 'moderately severe', \
         if(${score} >= 10, 'moderate', if(${score} >= 5, 'mild', 'minimal'))))\"\n\
         note,result,Score: ${score} (${severity}),Score : ${score} (${severity}),,\n",
    );
    let choices = "list_name,name,label::English (en),label::Français (fr)\n\
        freq,0,Not at all,Jamais\n\
        freq,1,Several days,Plusieurs jours\n\
        freq,2,More than half the days,Plus de la moitié du temps\n\
        freq,3,Nearly every day,Presque tous les jours\n";
    let settings = "form_title,form_id,default_language\nPHQ-9,phq9,English (en)\n";
    import(&survey, Some(choices), Some(settings))
}

#[test]
fn a_phq9_in_two_languages_scores_and_grades_its_answers() {
    let app = phq9();
    assert_eq!(app.languages.len(), 1, "French beside the default English");
    let report = lint(&app);
    assert_lints_without_errors_or_warnings(&report);
    assert_eq!(codes(&report.infos), ["default_rate_limit_policy"]);

    let mut answers = Map::new();
    for (item, value) in (1..=9).zip(["1", "2", "3", "0", "1", "2", "3", "0", "0"]) {
        answers.insert(format!("q{item}"), json!(value));
    }
    let with = |score: i64, severity: &str| {
        let mut all = answers.clone();
        all.insert("score".into(), json!(score));
        all.insert("severity".into(), json!(severity));
        Value::Object(all)
    };
    assert_eq!(validate(&app, with(12, "moderate")), Vec::<&str>::new());
    assert_eq!(
        validate(&app, with(11, "moderate")),
        ["calculation_mismatch"]
    );
    assert_eq!(validate(&app, with(12, "mild")), ["calculation_mismatch"]);
    let mut unanswered = answers.clone();
    unanswered.remove("q9");
    unanswered.insert("score".into(), json!(12));
    unanswered.insert("severity".into(), json!("moderate"));
    assert!(validate(&app, Value::Object(unanswered)).contains(&"required"));
}

fn vitals() -> AppDefinition {
    let survey = "type,name,label,constraint,constraint_message,calculation,unit,code\n\
        integer,rr,Breaths per minute,. >= 4 and . <= 60,Between 4 and 60,,/min,9279-1\n\
        integer,pulse,Pulse,. >= 20 and . <= 300,Between 20 and 300,,/min,8867-4\n\
        decimal,weight,Weight,. >= 1 and . <= 400,,,kg,29463-7\n\
        decimal,height,Height,. >= 30 and . <= 250,,,cm,8302-2\n\
        calculate,bmi,,,,\"round(${weight} div ((${height} div 100) * (${height} div 100)), 1)\",kg/m2,39156-5\n";
    import(
        survey,
        None,
        Some("form_title,rate_limit_policy\nVitals,patient-default\n"),
    )
}

#[test]
fn a_vitals_form_with_bounds_as_constraints_and_a_bmi_lints_clean_and_computes_it() {
    let app = vitals();
    let report = lint(&app);
    assert_lints_without_errors_or_warnings(&report);
    assert!(
        !codes(&report.infos).contains(&"plausible_range_applied"),
        "the constraints are the bounds: {:#?}",
        report.infos
    );
    let answers =
        |bmi: f64| json!({"rr": 16, "pulse": 72, "weight": 70.0, "height": 175.0, "bmi": bmi});
    assert_eq!(validate(&app, answers(22.9)), Vec::<&str>::new());
    assert_eq!(validate(&app, answers(23.0)), ["calculation_mismatch"]);
    let out_of_bounds =
        json!({"rr": 70, "pulse": 72, "weight": 70.0, "height": 175.0, "bmi": 22.9});
    assert_eq!(validate(&app, out_of_bounds), ["constraint_failed"]);
    let form = app.compile().unwrap();
    let valid = form
        .validate(
            answers(22.9).as_object().unwrap(),
            Timestamp::parse_rfc3339("2026-12-01T08:00:00Z").unwrap(),
        )
        .unwrap();
    let bmi = valid
        .observations
        .iter()
        .find(|observation| observation.code == "39156-5")
        .expect("BMI is an observation");
    assert_eq!((bmi.value, bmi.unit.as_str()), (22.9, "kg/m2"));
}

#[test]
fn a_medication_diary_counts_its_rows_and_reads_a_default_range() {
    let survey = "type,name,label,parameters,calculation,required\n\
        begin repeat,doses,Doses taken,,,\n\
        select_one medicine,drug,Medicine,,,yes\n\
        integer,amount,Tablets,,,yes\n\
        end repeat,,,,,\n\
        calculate,total,,,count(${doses}),\n\
        range,pain,Pain today (0-10),,,yes\n\
        note,summary,${total} doses today,,,\n";
    let choices =
        "list_name,name,label\nmedicine,paracetamol,Paracetamol\nmedicine,ibuprofen,Ibuprofen\n";
    let app = import(
        survey,
        Some(choices),
        Some("form_title\nMedication diary\n"),
    );
    assert_lints_without_errors_or_warnings(&lint(&app));
    let rows = json!([{"drug": "paracetamol", "amount": 2}, {"drug": "ibuprofen", "amount": 1}]);
    let with = |total: i64, pain: i64| json!({"doses": rows, "total": total, "pain": pain});
    assert_eq!(validate(&app, with(2, 4)), Vec::<&str>::new());
    assert_eq!(validate(&app, with(1, 4)), ["calculation_mismatch"]);
    // A range without parameters runs from 1 to 10 by 1, as the reference converter sets it.
    assert_eq!(validate(&app, with(2, 1)), Vec::<&str>::new());
    assert_eq!(validate(&app, with(2, 10)), Vec::<&str>::new());
    assert_eq!(validate(&app, with(2, 0)), ["below_minimum"]);
    assert!(!validate(&app, with(2, 11)).is_empty());
}
