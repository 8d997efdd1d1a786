//! XLSForm import: the three sample apps import from CSV and from xlsx alike and compile clean;
//! a spreadsheet with ten different mistakes reports all ten with sheet, row and column.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hale_domain::Timestamp;
use hale_forms::AppDefinition;
use hale_forms_io::xlsform::{import_csv, import_xlsx};

#[path = "../../hale-forms/tests/common/mod.rs"]
mod common;

use common::{SAMPLES, examples, import_sample_csv, sheet_text};

/// Builds an xlsx workbook from CSV sheets, numbers written as numbers like a spreadsheet
/// program would store them.
fn workbook(sheets: &[(&str, &str)]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    for (name, text) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(*name).unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        for (row, record) in reader.records().enumerate() {
            for (column, cell) in record.unwrap().iter().enumerate() {
                let (row, column) = (row as u32, column as u16);
                match cell.parse::<f64>() {
                    Ok(number) if row > 0 => sheet.write_number(row, column, number).unwrap(),
                    _ => sheet.write_string(row, column, cell).unwrap(),
                };
            }
        }
    }
    book.save_to_buffer().unwrap()
}

fn sample_workbook(sample: &str) -> Vec<u8> {
    let texts: Vec<(&str, String)> = ["survey", "choices", "settings"]
        .into_iter()
        .filter_map(|sheet| sheet_text(sample, sheet).map(|text| (sheet, text)))
        .collect();
    let borrowed: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (*n, t.as_str())).collect();
    workbook(&borrowed)
}

#[test]
fn every_sample_imports_from_csv_and_xlsx_and_compiles() {
    for sample in SAMPLES {
        let from_csv = import_sample_csv(sample).unwrap_or_else(|e| panic!("{sample}: {e:#?}"));
        from_csv.compile().unwrap();
        let from_xlsx = import_xlsx(&sample_workbook(sample)).unwrap();
        assert_eq!(from_csv, from_xlsx, "{sample}");
        let committed = std::fs::read(examples().join(format!("{sample}.xlsx"))).unwrap();
        assert_eq!(import_xlsx(&committed).unwrap(), from_csv, "{sample}.xlsx");
    }
}

#[test]
fn daily_vitals_scores_news2() {
    let form = import_sample_csv("daily-vitals")
        .unwrap()
        .compile()
        .unwrap();
    let answers = serde_json::json!({
        "heart_rate": 96, "spo2": 95, "temperature": 37.0, "systolic": 118, "diastolic": 80,
        "respiration_rate": 22, "consciousness": "alert", "oxygen": "air", "symptoms": ["cough"]
    });
    let now = Timestamp::parse_rfc3339("2026-01-31T08:00:00Z").unwrap();
    let valid = form.validate(answers.as_object().unwrap(), now).unwrap();
    assert_eq!(valid.news2.unwrap().total, 4);
    assert_eq!(valid.observations.len(), 6);
}

/// The codes of the errors validating `answers` at a fixed time gives (none when valid).
fn validation_codes(
    form: &hale_forms::CompiledForm,
    answers: serde_json::Value,
) -> Vec<&'static str> {
    let now = Timestamp::parse_rfc3339("2026-01-31T08:00:00Z").unwrap();
    form.validate(answers.as_object().unwrap(), now)
        .err()
        .unwrap_or_default()
        .iter()
        .map(|error| error.code)
        .collect()
}

#[test]
fn a_select_of_a_repeat_field_offers_the_rows_answers() {
    let survey = "type,name,label\n\
        begin repeat,members,Members\n\
        text,person,Name\n\
        end repeat,,\n\
        select_one ${person},head,Head\n\
        select_multiple ${person},carers,Carers\n";
    let definition = import_csv(survey, None, None).unwrap();
    assert_eq!(definition.fields[1].choices_from.as_deref(), Some("person"));
    assert_eq!(definition.fields[2].choices_from.as_deref(), Some("person"));
    assert_eq!(definition.fields[1].choice_list, None);
    let form = definition.compile().unwrap();
    let codes = |answers: serde_json::Value| validation_codes(&form, answers);
    let rows = serde_json::json!([{"person": "Ana"}, {"person": "Ben"}]);
    assert!(
        codes(serde_json::json!({"members": rows, "head": "Ben", "carers": ["Ana", "Ben"]}))
            .is_empty()
    );
    assert_eq!(
        codes(serde_json::json!({"members": rows, "head": "Cleo", "carers": ["Ana", "Cleo"]})),
        ["choice_not_offered", "choice_not_offered"]
    );
    let refused = |survey: &str| {
        import_csv(survey, None, None)
            .unwrap_err()
            .iter()
            .map(|error| (error.code, error.row, error.column.clone()))
            .collect::<Vec<_>>()
    };
    let repeat = "begin repeat,members,Members,\ntext,person,Name,\nend repeat,,,\n";
    // A filter passes rows: `${name}` of the repeat reads the row, a bare name nothing.
    let filtered = import_csv(
        &format!("type,name,label,choice_filter\n{repeat}select_one ${{person}},head,Head,${{person}} != 'Ana'\n"),
        None,
        None,
    )
    .unwrap()
    .compile()
    .unwrap();
    assert_eq!(
        validation_codes(
            &filtered,
            serde_json::json!({"members": rows, "head": "Ana"})
        ),
        ["choice_not_offered"]
    );
    assert!(
        validation_codes(
            &filtered,
            serde_json::json!({"members": rows, "head": "Ben"})
        )
        .is_empty()
    );
    assert_eq!(
        refused(&format!(
            "type,name,label,choice_filter\n{repeat}select_one ${{person}},head,Head,name != ''\n"
        )),
        [("expression_syntax", 5, String::from("choice_filter"))]
    );
    let errors = refused(&format!(
        "type,name,label,choice_filter\n{repeat}select_one ${{person}} or_other,head,Head,\n"
    ));
    assert_eq!(errors[0].0, "or_other_on_repeat_choices");
    assert_eq!(
        refused("type,name,label\ntext,person,Name\nselect_one ${person},head,Head\n"),
        [("invalid_choices_from", 3, String::from("type"))]
    );
}

#[test]
fn rank_orders_every_offered_choice() {
    let survey = "type,name,label,choice_filter,default\n\
        select_one colour,colour,Colour,,\n\
        rank fruit,order,Order,colour = ${colour} or colour = '',\n\
        rank fruit,plain,Plain,,c b a\n";
    let choices = "list_name,name,label,colour\nfruit,a,A,red\nfruit,b,B,blue\nfruit,c,C,\n\
        colour,red,Red,\ncolour,blue,Blue,\n";
    let definition = import_csv(survey, Some(choices), None).unwrap();
    assert_eq!(definition.fields[1].field_type, hale_forms::FieldType::Rank);
    assert_eq!(
        definition.fields[2].default,
        Some(serde_json::json!(["c", "b", "a"]))
    );
    let form = definition.compile().unwrap();
    let codes = |answers: serde_json::Value| validation_codes(&form, answers);
    assert!(
        codes(serde_json::json!({"colour": "red", "order": ["c", "a"], "plain": ["b", "a", "c"]}))
            .is_empty()
    );
    assert_eq!(
        codes(serde_json::json!({"colour": "red", "order": ["a"], "plain": ["a", "b"]})),
        ["incomplete_ranking", "incomplete_ranking"]
    );
    assert_eq!(
        codes(serde_json::json!({"colour": "red", "order": ["c", "b"]})),
        ["choice_not_offered"]
    );
    assert_eq!(
        codes(serde_json::json!({"plain": ["a", "a", "b"]})),
        ["duplicate_choice"]
    );
    let refused = |survey: &str| {
        import_csv(survey, Some("list_name,name,label\nl,x y,X\n"), None)
            .unwrap_err()
            .iter()
            .map(|error| error.code)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        refused("type,name,label\nrank l,r,R\n"),
        ["invalid_choice_value"]
    );
    assert_eq!(
        refused("type,name,label\nrank l or_other,r,R\n"),
        ["unknown_type"]
    );
}

#[test]
fn ten_mistakes_are_all_reported_with_their_cells() {
    let survey = "type,name,label,required,relevant,constraint,calculation,unit,code,choice_filter\n\
        osm,scan,Scan,,,,,,,\n\
        integer,age,Age,,,,,,,\n\
        integer,age,Age again,,,,,,,\n\
        text,why,Why,,${ghost} > 1,,,,,\n\
        calculate,a,,,,,${b} + 1,,,\n\
        calculate,b,,,,,${a} + 1,,,\n\
        end_group,,,,,,,,,\n\
        select_one nolist,pick,Pick,,,,,,,name = .\n\
        integer,score,Score,,,. >,,,,\n\
        integer,pulse,Pulse,maybe,,,,kg,8867-4,\n";
    let choices = "list_name,name,label\nyn,yes,Yes\n";
    let errors = import_csv(survey, Some(choices), None).unwrap_err();
    let mut found: Vec<(String, usize, String, &str)> = errors
        .iter()
        .map(|e| (e.sheet.clone(), e.row, e.column.clone(), e.code))
        .collect();
    found.sort();
    let expected = [
        ("survey", 2, "type", "osm_unsupported"),
        ("survey", 4, "name", "duplicate_name"),
        ("survey", 5, "relevant", "unknown_reference"),
        ("survey", 6, "calculation", "cycle"),
        ("survey", 8, "type", "unbalanced_group"),
        ("survey", 9, "choice_filter", "expression_syntax"),
        ("survey", 9, "type", "choice_list_missing"),
        ("survey", 10, "constraint", "expression_syntax"),
        ("survey", 11, "required", "expression_syntax"),
        ("survey", 11, "unit", "unit_disagrees_with_catalogue"),
    ];
    let expected: Vec<(String, usize, String, &str)> = expected
        .iter()
        .map(|(s, r, c, code)| (s.to_string(), *r, c.to_string(), *code))
        .collect();
    assert_eq!(found, expected, "{errors:#?}");
    let syntax = errors
        .iter()
        .find(|e| e.code == "expression_syntax")
        .unwrap();
    assert!(syntax.message.contains("character"), "{}", syntax.message);
    // The same spreadsheet as xlsx reports the same cells.
    let from_xlsx =
        import_xlsx(&workbook(&[("survey", survey), ("choices", choices)])).unwrap_err();
    assert_eq!(from_xlsx.len(), errors.len());
}

/// Regenerates `examples/*.xlsx` from the CSV sheets: `cargo test -p hale-forms-io --test xlsform
/// -- --ignored write_sample_workbooks`.
#[test]
#[ignore]
fn write_sample_workbooks() {
    for sample in SAMPLES {
        std::fs::write(
            examples().join(format!("{sample}.xlsx")),
            sample_workbook(sample),
        )
        .unwrap();
    }
}

#[test]
fn every_sample_lints_clean() {
    for sample in SAMPLES {
        let report = hale_forms::lint(&import_sample_csv(sample).unwrap());
        assert!(report.errors.is_empty(), "{sample}: {report:#?}");
        assert!(report.warnings.is_empty(), "{sample}: {report:#?}");
    }
}

#[test]
fn lint_grades_findings_by_severity() {
    let app = AppDefinition::from_json(
        r#"{"title":{"en":"T"},"languages":["fr"],"fields":[
            {"name":"hr","type":"integer","label":"HR","unit":"/min","code":"8867-4"},
            {"name":"note","type":"text","label":{"en":"Note","fr":"Note"}},
            {"name":"x","type":"integer","label":"X","relevant":"${nope}"}]}"#,
    )
    .unwrap();
    let report = hale_forms::lint(&app);
    let codes = |issues: &[hale_forms::LintIssue]| -> Vec<&str> {
        issues.iter().map(|issue| issue.code).collect()
    };
    assert!(!report.is_publishable());
    assert_eq!(codes(&report.errors), ["unknown_reference"]);
    assert_eq!(
        codes(&report.warnings),
        ["missing_translation", "free_text_without_purpose"]
    );
    assert_eq!(
        codes(&report.infos),
        ["default_rate_limit_policy", "plausible_range_applied"]
    );
}

/// Validates `answers` (JSON text) against a survey given as CSV; the error codes, empty
/// when valid.
fn codes(survey: &str, answers: &str) -> Vec<&'static str> {
    let form = import_csv(survey, None, None).unwrap().compile().unwrap();
    let answers: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(answers).unwrap();
    let now = Timestamp::parse_rfc3339("2026-01-31T08:00:00Z").unwrap();
    match form.validate(&answers, now) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(|error| error.code).collect(),
    }
}

#[test]
fn a_typed_calculation_is_a_read_only_computed_answer() {
    let survey = "type,name,label,calculation\ninteger,a,A,\ninteger,b,B,${a} * 2\n";
    assert!(codes(survey, r#"{"a": 2, "b": 4}"#).is_empty());
    assert_eq!(
        codes(survey, r#"{"a": 2, "b": 5}"#),
        ["calculation_mismatch"]
    );
}

#[test]
fn repeat_count_fixes_the_rows_and_count_and_sum_read_them_from_outside() {
    let survey = "type,name,label,repeat_count,calculation,constraint\n\
        integer,n,N,,,\n\
        begin repeat,r,R,${n},,\n\
        integer,x,X,,,\n\
        calculate,pos,,,position(..),\n\
        end repeat,,,,,\n\
        calculate,rows,,,count(${r}),\n\
        calculate,total,,,sum(${x}),\n\
        integer,check,Check,,,. = ${total}\n";
    let two_rows = r#"{"n": 2, "r": [{"x": 3, "pos": 1}, {"x": 4, "pos": 2}], "rows": 2, "total": 7, "check": 7}"#;
    assert!(
        codes(survey, two_rows).is_empty(),
        "{:?}",
        codes(survey, two_rows)
    );
    let wrong_sum = r#"{"n": 2, "r": [{"x": 3, "pos": 1}, {"x": 4, "pos": 2}], "rows": 2, "total": 7, "check": 8}"#;
    assert_eq!(codes(survey, wrong_sum), ["constraint_failed"]);
    let one_row = r#"{"n": 2, "r": [{"x": 3, "pos": 1}], "rows": 1, "total": 3, "check": 3}"#;
    assert_eq!(codes(survey, one_row), ["row_count_mismatch"]);
    let wrong_position =
        r#"{"n": 1, "r": [{"x": 3, "pos": 2}], "rows": 1, "total": 3, "check": 3}"#;
    assert_eq!(codes(survey, wrong_position), ["calculation_mismatch"]);
}

#[test]
fn required_as_an_expression_and_range_defaults() {
    let survey = "type,name,label,required\ninteger,age,Age,yes\ntext,guardian,Guardian,${age} < 18\nrange,pain,Pain,\n";
    assert_eq!(codes(survey, r#"{"age": 12}"#), ["required"]);
    assert!(codes(survey, r#"{"age": 40}"#).is_empty());
    // XLSForm's range defaults: start 1, end 10, step 1.
    assert!(codes(survey, r#"{"age": 40, "pain": 10}"#).is_empty());
    assert!(codes(survey, r#"{"age": 40, "pain": 1}"#).is_empty());
    assert_eq!(
        codes(survey, r#"{"age": 40, "pain": 0}"#),
        ["below_minimum"]
    );
    assert_eq!(
        codes(survey, r#"{"age": 40, "pain": 11}"#),
        ["above_maximum"]
    );
    assert_eq!(codes(survey, r#"{"age": 40, "pain": 2.5}"#), ["off_step"]);
}

#[test]
fn spellings_aliases_and_metadata_import() {
    let survey = "type,name,label,default\nstart,start,,\nbegin group,g,G,\nint,a,A,3\nselect one yn,s,S,\nend group,,,\ndateTime,d,D,now()\n";
    let choices = "list name,name,label\nyn,yes,Yes\nyn,no,No\n";
    let app = import_csv(survey, Some(choices), None).unwrap();
    let walked = app.walk();
    assert_eq!(walked.len(), 5);
    assert_eq!(walked[0].1.prefill, Some(hale_forms::Prefill::Start));
    assert_eq!(walked[2].1.default, Some(serde_json::json!(3)));
    assert_eq!(walked[4].1.default_expression.as_deref(), Some("now()"));
}

#[test]
fn bounds_written_as_constraints_count_and_a_missing_policy_is_the_default() {
    let survey =
        "type,name,label,constraint,code,unit\ninteger,rr,Breaths,. >= 4 and . <= 60,9279-1,/min\n";
    let report = hale_forms::lint(&import_csv(survey, None, None).unwrap());
    assert!(report.is_publishable(), "{report:?}");
    assert!(report.warnings.is_empty(), "{report:?}");
    let codes: Vec<&str> = report.infos.iter().map(|issue| issue.code).collect();
    assert_eq!(codes, ["default_rate_limit_policy"]);
    let unbounded = "type,name,label,code,unit\ninteger,rr,Breaths,9279-1,/min\n";
    let report = hale_forms::lint(&import_csv(unbounded, None, None).unwrap());
    assert!(
        report
            .infos
            .iter()
            .any(|issue| issue.code == "plausible_range_applied")
    );
}

#[test]
fn a_ranges_tick_labels_name_a_list_and_with_no_ticks_label_its_two_ends() {
    let lint = |parameters: &str, appearance: &str, choices: &str| -> Vec<(String, &'static str)> {
        let survey = format!(
            "type,name,label,parameters,appearance\nrange,q1,Q1,{parameters},{appearance}\n"
        );
        match import_csv(&survey, Some(choices), None) {
            Ok(_) => Vec::new(),
            Err(errors) => errors
                .into_iter()
                .map(|error| {
                    (
                        format!("{} {} {}", error.sheet, error.row, error.column),
                        error.code,
                    )
                })
                .collect(),
        }
    };
    let ends = "list_name,name,label\nc1,1,Low\nc1,10,High\n";
    assert!(lint("tick_labelset=c1", "no-ticks", ends).is_empty());
    assert!(
        lint(
            "tick_labelset=c1",
            "",
            "list_name,name,label\nc1,2,A\nc1,4,B\nc1,6,C\n"
        )
        .is_empty()
    );
    let refused = vec![(String::from("survey 2 parameters"), "invalid_parameter")];
    assert_eq!(lint("tick_labelset=c9", "", ends), refused);
    let three = "list_name,name,label\nc1,1,A\nc1,5,B\nc1,10,C\n";
    assert_eq!(lint("tick_labelset=c1", "no-ticks", three), refused);
    let not_the_end = "list_name,name,label\nc1,1,A\nc1,9,B\n";
    assert_eq!(lint("tick_labelset=c1", "no-ticks", not_the_end), refused);
    assert!(
        lint(
            "start=0 end=9 tick_labelset=c1",
            "no-ticks",
            "list_name,name,label\nc1,0,A\nc1,9,B\n"
        )
        .is_empty()
    );
}

/// Where each error of importing the CSV sheets is: `sheet row column code`.
fn refusals(survey: &str, choices: Option<&str>, settings: Option<&str>) -> Vec<String> {
    match import_csv(survey, choices, settings) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|error| {
                format!(
                    "{} {} {} {}",
                    error.sheet, error.row, error.column, error.code
                )
            })
            .collect(),
    }
}

#[test]
fn the_reference_converters_name_and_parameter_rules_are_kept() {
    let choices = Some("list_name,name,label\nc,a,A\n");
    // Parameter values are read lower-cased; a seed is a number or a plain `${name}`.
    let select = |parameters: &str| {
        refusals(
            &format!(
                "type,name,label,parameters\ninteger,s,S,\nselect_one c,q,Q,\"{parameters}\"\n"
            ),
            choices,
            None,
        )
    };
    assert!(select("randomize=True").is_empty());
    assert!(select("randomize=true seed=${s}").is_empty());
    assert!(select("randomize=true seed=12.5").is_empty());
    let bad_seed = vec![String::from("survey 3 parameters invalid_parameter")];
    assert_eq!(select("randomize=true seed=int(${s})"), bad_seed);
    assert_eq!(select("randomize=true seed=soon"), bad_seed);
    assert_eq!(
        select("randomize=true seed=${nobody}"),
        vec![String::from("survey 3 parameters unknown_reference")]
    );
    // A repeat_count that is not a plain reference is computed in `<repeat>_count`.
    let counted = |count: &str, other: &str| {
        refusals(
            &format!(
                "type,name,label,repeat_count\ninteger,{other},N,\nbegin repeat,r1,R,{count}\ntext,q,Q,\nend repeat,,,\n"
            ),
            None,
            None,
        )
    };
    assert!(counted("${r1_count}", "r1_count").is_empty());
    assert!(counted("2", "n").is_empty());
    assert_eq!(
        counted("2", "r1_count"),
        vec![String::from("survey 3 repeat_count generated_name_taken")]
    );
    // The root's name, the audit's name, big-image without an image, settings references.
    assert_eq!(
        refusals(
            "type,name,label\nbegin repeat,data,R\ntext,q,Q\nend repeat,,\n",
            None,
            None
        ),
        vec![String::from("survey 2 name reserved_name")]
    );
    assert!(refusals("type,name,label\naudit,,\ntext,q,Q\n", None, None).is_empty());
    assert_eq!(
        refusals("type,name,label\naudit,bobby,\ntext,q,Q\n", None, None),
        vec![String::from("survey 2 name invalid_name")]
    );
    assert_eq!(
        refusals(
            "type,name,label,media::big-image\ntext,q,Q,b.png\n",
            None,
            None
        ),
        vec![String::from("survey 2 media::big-image image_missing")]
    );
    assert!(
        refusals(
            "type,name,label,media::big-image,media::image::fr\ntext,q,Q,b.png,i.png\n",
            None,
            None
        )
        .is_empty()
    );
    let named = |instance: &str| {
        refusals(
            "type,name,label\ntext,q,Q\n",
            None,
            Some(&format!("form_title,instance_name\nT,{instance}\n")),
        )
    };
    assert!(named("visit ${q}").is_empty());
    assert_eq!(
        named("${q2}"),
        vec![String::from("settings 2 instance_name unknown_reference")]
    );
}

#[test]
fn a_choice_filter_offers_the_choices_whose_columns_pass_it() {
    let survey = "type,name,label,choice_filter\n\
        select_one states,state,State,\n\
        select_one cities,city,City,State = ${state}\n\
        select_one cities or_other,other_city,Other city,State = ${state}\n";
    let choices = "list_name,name,label,State,e f\n\
        states,nsw,NSW,,\n\
        states,vic,Victoria,,\n\
        cities,sydney,Sydney,nsw,x\n\
        cities,melbourne,Melbourne,vic,y\n";
    // With `or_other` the generated `other` choice would have to pass the filter too.
    let errors = import_csv(survey, Some(choices), None).unwrap_err();
    let cells: Vec<(usize, &str, &str)> = errors
        .iter()
        .map(|error| (error.row, error.column.as_str(), error.code))
        .collect();
    assert_eq!(
        cells,
        [(4, "choice_filter", "choice_filter_with_or_other")],
        "{errors:?}"
    );
    let survey = survey.lines().take(3).collect::<Vec<_>>().join("\n");
    let app = import_csv(&survey, Some(choices), None).unwrap();
    // The extra column is an attribute named as written; one that is no name is passed over.
    let sydney = &app.choice_lists["cities"][0];
    assert_eq!(
        sydney.attributes,
        std::collections::BTreeMap::from([("State".to_owned(), "nsw".to_owned())])
    );
    let form = app.compile().unwrap();
    let now = Timestamp::parse_rfc3339("2026-01-31T08:00:00Z").unwrap();
    let judge = |answers: serde_json::Value| {
        form.validate(answers.as_object().unwrap(), now)
            .err()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| (e.field.clone(), e.code))
                    .collect::<Vec<_>>()
            })
    };
    assert_eq!(
        judge(serde_json::json!({"state": "nsw", "city": "sydney"})),
        None
    );
    assert_eq!(
        judge(serde_json::json!({"state": "nsw", "city": "melbourne"})),
        Some(vec![("city".to_owned(), "choice_not_offered")])
    );
    // Unanswered, the state reads as '' and no city passes.
    assert_eq!(
        judge(serde_json::json!({"city": "sydney"})),
        Some(vec![("city".to_owned(), "choice_not_offered")])
    );
}

#[test]
fn any_valid_ucum_unit_imports_and_an_invalid_one_is_named_at_its_cell() {
    let survey = "type,name,label,unit\n\
        decimal,wbc,White cells,10*3/uL\n\
        decimal,urine,Urine sodium,mmol/(24.h)\n\
        integer,pulse,Pulse,{beats}/min\n";
    let definition = import_csv(survey, None, None).unwrap();
    assert_eq!(definition.fields[1].unit.as_deref(), Some("mmol/(24.h)"));
    let errors =
        import_csv(&format!("{survey}decimal,bp,Pressure,mmHg\n"), None, None).unwrap_err();
    let found: Vec<(&str, usize, &str, &str)> = errors
        .iter()
        .map(|error| {
            (
                error.sheet.as_str(),
                error.row,
                error.column.as_str(),
                error.code,
            )
        })
        .collect();
    assert_eq!(found, [("survey", 5, "unit", "unknown_unit")]);
    assert!(
        errors[0].message.contains("`mmHg`"),
        "{}",
        errors[0].message
    );
}

#[test]
fn locations_barcodes_and_media_import_and_their_answers_are_checked() {
    let survey = "type,name,label,appearance,parameters,purpose\n\
        gps,home,Home,,capture-accuracy=5,where the visit happens\n\
        geotrace,walk,Walk,,incremental=true,route walked\n\
        geoshape,plot,Plot,,,the garden's area\n\
        barcode,kit,Kit,,,the test kit's number\n\
        audio,voice,Voice,,quality=voice-only,symptoms described\n\
        video,gait,Gait,,,walking assessment\n\
        image,signature,Signature,signature,,consent\n";
    let app = import_csv(survey, None, None).unwrap();
    let types: Vec<&str> = app.fields.iter().map(|f| f.field_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "geopoint", "geotrace", "geoshape", "barcode", "audio", "video", "photo"
        ]
    );
    assert_eq!(app.fields[6].appearance.as_deref(), Some("signature"));
    // Parameters the reference converter refuses for the type are refused here too.
    let refused = import_csv(
        "type,name,label,parameters,purpose\ngeoshape,plot,Plot,warning-accuracy=5,p\naudio,v,V,quality=best,p\n",
        None,
        None,
    )
    .unwrap_err();
    let codes: Vec<&str> = refused.iter().map(|e| e.code).collect();
    assert_eq!(codes, ["unsupported_parameter", "invalid_parameter"]);
    let form = app.compile().unwrap();
    let now = Timestamp::parse_rfc3339("2026-01-31T08:00:00Z").unwrap();
    let answers = serde_json::json!({
        "home": "-33.8688 151.2093 58 4.5",
        "walk": "-33.86 151.20;-33.87 151.21",
        "plot": "0 0;0 1;1 1;0 0",
        "kit": "9780141036144",
        "voice": {"reference": "v.ogg", "media_type": "audio/ogg", "size": 2048},
        "gait": "gait.mp4",
        "signature": {"reference": "sig.png", "media_type": "image/png"},
    });
    assert!(form.validate(answers.as_object().unwrap(), now).is_ok());
    let wrong = serde_json::json!({
        "home": "-33.8688",
        "plot": "0 0;0 1;1 1",
        "voice": {"reference": "v.mp4", "media_type": "video/mp4"},
    });
    let errors = form.validate(wrong.as_object().unwrap(), now).unwrap_err();
    let codes: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(
        codes,
        [
            ("home", "invalid_location"),
            ("plot", "invalid_location"),
            ("voice", "media_type_not_accepted")
        ]
    );
}

#[test]
fn a_trigger_names_questions_the_person_answers() {
    let refused = |trigger: &str| {
        let survey = format!(
            "type,name,label,calculation,trigger\n\
             text,a,A,,\n\
             calculate,c,,1 + 1,\n\
             dateTime,b,B,now(),{trigger}\n"
        );
        refusals(&survey, None, None)
    };
    assert!(refused("${a}").is_empty());
    assert!(refused("${a} ${a}").is_empty());
    assert_eq!(refused("6"), ["survey 4 trigger invalid_trigger"]);
    assert_eq!(refused("${nobody}"), ["survey 4 trigger unknown_reference"]);
    // A calculation never changes by the person's hand, so it triggers nothing.
    assert_eq!(refused("${c}"), ["survey 4 trigger invalid_trigger"]);
}

#[test]
fn lint_findings_name_the_cell_they_come_from() {
    let survey = "type,name,label,purpose,unit,code\n\
        text,why,Why,,,\n\
        integer,pulse,Pulse,,/min,8867-4\n";
    let settings = "form_title,default_language\nPulse,en\n";
    let (app, map) = hale_forms_io::xlsform::import_csv_mapped(
        survey,
        None,
        Some(settings),
        &hale_forms_io::xlsform::ImportLimits::default(),
    )
    .unwrap();
    let mut report = hale_forms::lint(&app);
    map.name_cells(&mut report);
    let found = |issues: &[hale_forms::LintIssue]| -> Vec<(&str, String)> {
        issues
            .iter()
            .map(|issue| (issue.code, issue.cell.clone().unwrap_or_default()))
            .collect()
    };
    assert_eq!(
        found(&report.warnings),
        [("free_text_without_purpose", String::from("survey!D2"))]
    );
    // No rate_limit_policy column: the settings row names the finding.
    assert_eq!(
        found(&report.infos),
        [
            ("default_rate_limit_policy", String::from("settings!2:2")),
            ("plausible_range_applied", String::from("survey!A3")),
        ]
    );
    assert_eq!(map.cell("$.title"), "settings!A2");
    assert_eq!(map.cell("$.fields[1].unit"), "survey!E3");
    // The same sheets as a workbook name the same cells.
    let (_, from_xlsx) = hale_forms_io::xlsform::import_xlsx_mapped(
        &workbook(&[("survey", survey), ("settings", settings)]),
        &hale_forms_io::xlsform::ImportLimits::default(),
    )
    .unwrap();
    assert_eq!(from_xlsx.cell("$.fields[0].purpose"), "survey!D2");
    assert_eq!(from_xlsx.cell("$.fields[1]"), "survey!A3");
}

#[test]
fn a_name_may_repeat_in_another_level_but_not_among_one_levels_answers() {
    // As the reference converter allows: the same name in a group at the top and in a repeat.
    let across = "type,name,label\nbegin group,g1,G1\ntext,q1,Q1\nend group,,\nbegin repeat,r1,R1\nbegin group,g1,G1\ntext,q1,Q1\nend group,,\ntext,q2,Q2\nend repeat,,\n";
    assert!(refusals(across, None, None).is_empty());
    // Two groups of one level share its answers: one name there would be one answer.
    let one_level = "type,name,label\ntext,q1,Q1\nbegin group,g1,G1\ntext,q1,Q1\nend group,,\n";
    assert_eq!(
        refusals(one_level, None, None),
        vec![String::from("survey 4 name duplicate_name")]
    );
    // `${q1}` must then name one field, as the reference converter requires.
    let referenced = "type,name,label,relevant\ntext,q1,Q1,\nbegin repeat,r1,R1,\ntext,q1,Q1,\nend repeat,,,\ntext,q3,Q3,${q1} != ''\n";
    assert_eq!(
        refusals(referenced, None, None),
        vec![String::from("survey 6 relevant ambiguous_reference")]
    );
}

fn find<'a>(app: &'a AppDefinition, name: &str) -> &'a hale_forms::Field {
    app.walk()
        .into_iter()
        .map(|(_, field)| field)
        .find(|field| field.name == name)
        .unwrap_or_else(|| panic!("no field {name}"))
}

fn import_codes(survey: &str, choices: Option<&str>, settings: Option<&str>) -> Vec<&'static str> {
    match import_csv(survey, choices, settings) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(|error| error.code).collect(),
    }
}

#[test]
fn an_audit_takes_the_parameters_of_the_log_the_client_keeps() {
    let survey = "type,name,label,parameters\n\
        audit,audit,,\"location-priority=balanced, location-min-interval=60, location-max-age=300, track-changes=true, identify-user=false, track-changes-reasons=on-form-edit\"\n\
        text,q,Q,\n";
    let app = import_csv(survey, None, None).unwrap();
    let audit = find(&app, "audit");
    assert_eq!(audit.parameters["location-priority"], "balanced");
    assert_eq!(audit.parameters["location-max-age"], "300");
    assert_eq!(audit.parameters["track-changes"], "true");
    assert_eq!(audit.parameters["track-changes-reasons"], "on-form-edit");
    // The reference converter's rules: all three location parameters, an age no shorter than
    // the interval, known values; a file question takes none of them.
    for (parameters, code) in [
        (
            "location-max-age=3 location-min-interval=1",
            "invalid_parameter",
        ),
        (
            "location-priority=balanced location-min-interval=2 location-max-age=1",
            "invalid_parameter",
        ),
        (
            "location-priority=foo location-min-interval=1 location-max-age=2",
            "invalid_parameter",
        ),
        (
            "location-priority=balanced location-min-interval=-1 location-max-age=1",
            "invalid_parameter",
        ),
        ("track-changes=foo", "invalid_parameter"),
        ("identify-user=foo", "invalid_parameter"),
        ("track-changes-reasons=foo", "invalid_parameter"),
    ] {
        let survey = format!("type,name,label,parameters\naudit,audit,,{parameters}\ntext,q,Q,\n");
        let mut codes = import_codes(&survey, None, None);
        codes.dedup();
        assert_eq!(codes, [code], "{parameters}");
    }
    let file = "type,name,label,parameters\nfile,f,F,track-changes=true\n";
    assert_eq!(import_codes(file, None, None), ["unsupported_parameter"]);
}

#[test]
fn a_single_colon_names_languages_when_no_header_has_two() {
    let survey = "type,name,label:en,label:fr\nselect_one yn,q,Q EN,Q FR\n";
    let choices = "list_name,name,label:en,label:fr\nyn,yes,Yes,Oui\nyn,no,No,Non\n";
    let app = import_csv(survey, Some(choices), None).unwrap();
    let q = find(&app, "q");
    let label = serde_json::to_value(q.label.as_ref().unwrap()).unwrap();
    assert_eq!(label, serde_json::json!({"en": "Q EN", "fr": "Q FR"}));
    let yes = serde_json::to_value(&app.choice_lists["yn"][0].label).unwrap();
    assert_eq!(yes, serde_json::json!({"en": "Yes", "fr": "Oui"}));
    // Once any header has `::`, `label:fr` is no language but an unknown column.
    let mixed = "type,name,label::en,label:fr\ntext,q,Q EN,Q FR\n";
    assert_eq!(import_codes(mixed, None, None), ["unknown_column"]);
    // Spaces around `::` are not part of the column or the language.
    let spaced = "type,name,label :: French (fr),label::English (en)\ntext,q,Q FR,Q EN\n";
    let app = import_csv(spaced, None, None).unwrap();
    let label = serde_json::to_value(find(&app, "q").label.as_ref().unwrap()).unwrap();
    assert_eq!(label, serde_json::json!({"en": "Q EN", "fr": "Q FR"}));
}

#[test]
fn delivery_columns_and_settings_are_read_and_change_nothing() {
    let survey = "type,name,label,intent,compact_tag,instance::ex:duration,body::rows,body::accept\n\
        begin group,g,G,ex:org.example.APP,,,,\n\
        text,notes,Notes,,n,10,5,\n\
        end group,,,,,,,\n\
        file,scan,Scan,,,,,application/pdf\n";
    let settings = "title,name,prefix,delimiter,attribute::xyz\nMy survey,root_v2.1,sms,~,1234\n";
    let app = import_csv(survey, None, Some(settings)).unwrap();
    assert_eq!(
        serde_json::to_value(&app.title).unwrap(),
        serde_json::json!("My survey")
    );
    // body::rows is the text box's `rows` parameter; body::accept the picker's file types.
    assert_eq!(find(&app, "notes").parameters["rows"], "5");
    assert_eq!(find(&app, "scan").parameters["accept"], "application/pdf");
    // Otherwise the form is the one written without those columns.
    let mut plain = import_csv(
        "type,name,label,parameters\nbegin group,g,G,\ntext,notes,Notes,rows=5\nend group,,,\nfile,scan,Scan,\n",
        None,
        None,
    )
    .unwrap();
    plain.fields[1]
        .parameters
        .insert(String::from("accept"), String::from("application/pdf"));
    assert_eq!(app.fields, plain.fields);
    // The root element's name follows XML's rules, as the reference converter checks.
    let bad = "name\nbad@filename\n";
    assert_eq!(
        import_codes("type,name,label\ntext,q,Q\n", None, Some(bad)),
        ["invalid_name"]
    );
    // Encrypted submissions cannot be validated: refused by name.
    let key = "form_id,public_key\nf,MIIB\n";
    assert_eq!(
        import_codes("type,name,label\ntext,q,Q\n", None, Some(key)),
        ["encryption_unsupported"]
    );
}

#[test]
fn a_choice_without_a_label_is_shown_by_its_name() {
    let survey = "type,name,label\nselect_one c,q,Q\n";
    let choices = "list_name,name,label\nc,1,\nc,2,Two\n";
    let app = import_csv(survey, Some(choices), None).unwrap();
    let labels: Vec<serde_json::Value> = app.choice_lists["c"]
        .iter()
        .map(|choice| serde_json::to_value(&choice.label).unwrap())
        .collect();
    assert_eq!(labels, [serde_json::json!("1"), serde_json::json!("Two")]);
    // A ${name} in a choice's media must still name a field.
    let audio = "list_name,name,audio\nc,n1,${nowhere}\n";
    assert_eq!(
        import_codes(survey, Some(audio), None),
        ["unknown_reference"]
    );
    let audio = "list_name,name,audio\nc,n1,${q}\n";
    assert!(import_codes(survey, Some(audio), None).is_empty());
    // A choice's media are kept, translated as its label is.
    let images = "list_name,name,label,media::image::English (en),media::image::French (fr)\nc,n1,One,one.png,un.png\n";
    let app = import_csv(survey, Some(images), None).unwrap();
    assert_eq!(
        serde_json::to_value(&app.choice_lists["c"][0].media).unwrap(),
        serde_json::json!({"image": {"en": "one.png", "fr": "un.png"}})
    );
}

#[test]
fn arithmetic_defaults_are_expressions_and_words_with_dashes_are_constants() {
    let survey =
        "type,name,label,default\ninteger,a,A,1 + 1\nselect_one c,s,S,a-2\ndate,d,D,2020-01-02\n";
    let choices = "list_name,name,label\nc,a-1,A1\nc,a-2,A2\n";
    let app = import_csv(survey, Some(choices), None).unwrap();
    assert_eq!(find(&app, "a").default_expression.as_deref(), Some("1 + 1"));
    assert_eq!(find(&app, "s").default, Some(serde_json::json!("a-2")));
    assert_eq!(
        find(&app, "d").default,
        Some(serde_json::json!("2020-01-02"))
    );
    // A calculate with only a default is computed once, when the form opens.
    let once = import_csv(
        "type,name,label,default\ncalculate,r,,random()\n",
        None,
        None,
    )
    .unwrap();
    assert_eq!(
        find(&once, "r").calculation.as_deref(),
        Some("once(random())")
    );
    // The value the client computed is what is submitted and kept.
    assert!(
        codes(
            "type,name,label,default\ncalculate,r,,random()\n",
            r#"{"r": 0.25}"#
        )
        .is_empty()
    );
    // One that reads only calculates set so before it is too; one that reads a question
    // could be computed later than the form opens: still refused.
    let chained = import_csv(
        "type,name,label,default\ncalculate,r,,random()\ncalculate,s,,\"if(${r} < 0.5, 'A', 'B')\"\n",
        None,
        None,
    )
    .unwrap();
    assert_eq!(
        find(&chained, "s").calculation.as_deref(),
        Some("once(if(${r} < 0.5, 'A', 'B'))")
    );
    assert_eq!(
        import_codes(
            "type,name,label,default\ninteger,a,A,\ncalculate,r,,${a} + 1\n",
            None,
            None
        ),
        ["calculation_missing"]
    );
}

#[test]
fn or_other_keeps_a_lists_own_other_and_a_triggered_question_may_go_unlabelled() {
    let survey = "type,name,label\nselect_one c or_other,q,Q\n";
    let choices = "list_name,name,label\nc,a,A\nc,other,Something else\n";
    let app = import_csv(survey, Some(choices), None).unwrap();
    let q = find(&app, "q");
    let values: Vec<&str> = q
        .choices
        .iter()
        .map(|choice| choice.value.as_str())
        .collect();
    assert_eq!(values, ["a", "other"]);
    assert_eq!(
        serde_json::to_value(&q.choices[1].label).unwrap(),
        serde_json::json!("Something else")
    );
    assert!(app.walk().iter().any(|(_, field)| field.name == "q_other"));
    let triggered = "type,name,label,trigger\ntext,a,A,\ndecimal,e,,${a}\n";
    let app = import_csv(triggered, None, None).unwrap();
    assert_eq!(
        serde_json::to_value(find(&app, "e").label.as_ref().unwrap()).unwrap(),
        serde_json::json!("e")
    );
    // Without a trigger (or calculation) a question still needs a label or hint.
    assert_eq!(
        import_codes("type,name,label\ninteger,a,\n", None, None),
        ["label_missing"]
    );
}

#[test]
fn allowed_duplicate_choices_are_offered_once_and_a_groups_trigger_sets_nothing() {
    let survey = "type,name,label\nselect_one c,q,Q\n";
    let choices = "list_name,name,label\nc,a,A\nc,b,B\nc,b,Also B\n";
    let allowed = "allow_choice_duplicates\nyes\n";
    let app = import_csv(survey, Some(choices), Some(allowed)).unwrap();
    let offered: Vec<(String, serde_json::Value)> = app.choice_lists["c"]
        .iter()
        .map(|choice| {
            (
                choice.value.clone(),
                serde_json::to_value(&choice.label).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        offered,
        [
            (String::from("a"), serde_json::json!("A")),
            (String::from("b"), serde_json::json!("B"))
        ]
    );
    assert_eq!(
        import_codes(survey, Some(choices), None),
        ["duplicate_choice"]
    );
    // A copy a choice filter would read differently is still refused.
    let filtered = "list_name,name,label,size\nc,a,A,s\nc,a,A,l\n";
    assert_eq!(
        import_codes(survey, Some(filtered), Some(allowed)),
        ["duplicate_choice"]
    );
    let grouped = "type,name,label,calculation,trigger\n\
        text,a,A,,\n\
        begin group,g,,,${a}\n\
        dateTime,c,C,now(),${a}\n\
        end group,,,,\n";
    let app = import_csv(grouped, None, None).unwrap();
    assert!(find(&app, "g").trigger.is_empty());
    assert_eq!(find(&app, "c").trigger, ["a"]);
    let unknown = grouped.replace("begin group,g,,,${a}", "begin group,g,,,${nowhere}");
    assert_eq!(import_codes(&unknown, None, None), ["unknown_reference"]);
}

#[test]
fn a_select_from_a_data_file_imports_its_file_and_refuses_what_it_cannot_read() {
    let app = import_csv(
        "type,name,label,parameters\nselect_one_from_file fruits.csv,f,F,value=name label=label\nselect multiple from file shops.xml,s,S,\n",
        None,
        None,
    )
    .unwrap();
    assert_eq!(find(&app, "f").choice_file.as_deref(), Some("fruits.csv"));
    assert_eq!(find(&app, "f").field_type, hale_forms::FieldType::SelectOne);
    assert_eq!(find(&app, "s").choice_file.as_deref(), Some("shops.xml"));
    assert_eq!(
        find(&app, "s").field_type,
        hale_forms::FieldType::SelectMultiple
    );
    assert_eq!(
        refusals(
            "type,name,label,parameters\nselect_one_from_file places.geojson,p,P,\nselect_one_from_file fruits.csv,f,F,value=id\nselect_one_from_file fruits.csv,g,G,label=title\nselect_one_from_file fruits.txt,h,H,\n",
            None,
            None
        ),
        vec![
            String::from("survey 2 type data_file_format_unsupported"),
            String::from("survey 3 parameters data_file_columns_unsupported"),
            String::from("survey 4 parameters data_file_columns_unsupported"),
            String::from("survey 5 type invalid_data_file"),
        ]
    );
    // Only a select from a file names columns: on any other select they are no parameter.
    assert_eq!(
        refusals(
            "type,name,label,parameters\nselect_one yn,a,A,value=name\n",
            Some("list_name,name,label\nyn,y,Yes\n"),
            None
        ),
        vec![String::from("survey 2 parameters unsupported_parameter")]
    );
}
