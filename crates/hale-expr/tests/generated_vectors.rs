//! Generates a large, deterministic set of expression cases from this evaluator into
//! `tests/generated_vectors.json`, which the browser engine must pass too, and checks that the
//! committed file still matches what the evaluator gives: any drift fails here until the file
//! is regenerated on purpose with `HALE_BLESS=1 cargo test -p hale-expr --test generated_vectors`.
//!
//! The cases sweep operators over pairs of values of every kind (unanswered, booleans, numbers
//! at rounding and formatting edges, text that reads as numbers or dates, dates, date-times with
//! offsets, selections), every function, number literals, regex patterns of the shared subset,
//! calendar edges, seeded randomness, repeat rows, and parse errors with their positions. Each
//! case is the format of `tests/vectors.json` plus `tree` (the parsed tree's JSON, which the
//! browser parser must build identically), or `{"expr", "error": {"position", "message"}}` for
//! source that does not parse (`message` is left out where it quotes the regex library).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use hale_expr::{DateTimeValue, MapEnv, Value, evaluate, parse};
use serde_json::{Value as Json, json};

const NOW: &str = "2026-01-31T08:00:00Z";

/// SplitMix64: a tiny deterministic generator, so the file never depends on a crate's version.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// One case's inputs; `expected` and `tree` are computed from them.
#[derive(Default)]
struct Case {
    expr: String,
    env: BTreeMap<String, Json>,
    current: Option<Json>,
    now: Option<String>,
    nodes: BTreeMap<String, Vec<Json>>,
    position: Option<Json>,
    labels: BTreeMap<String, BTreeMap<String, String>>,
    seed: Option<String>,
    site: Option<String>,
}

impl Case {
    fn new(expr: impl Into<String>) -> Self {
        Case {
            expr: expr.into(),
            ..Case::default()
        }
    }

    fn with(mut self, field: &str, value: Json) -> Self {
        self.env.insert(field.to_owned(), value);
        self
    }

    fn current(mut self, value: Json) -> Self {
        self.current = Some(value);
        self
    }

    fn now(mut self, now: &str) -> Self {
        self.now = Some(now.to_owned());
        self
    }

    fn nodes(mut self, field: &str, values: Vec<Json>) -> Self {
        self.nodes.insert(field.to_owned(), values);
        self
    }

    /// Evaluates with the Rust engine and renders the case as one JSON line.
    fn render(&self) -> String {
        let tree = match parse(&self.expr) {
            Ok(tree) => tree,
            Err(error) => {
                let mut detail = json!({ "position": error.position });
                if !error.message.starts_with("invalid regex pattern") {
                    detail["message"] = json!(error.message);
                }
                return json!({ "expr": self.expr, "error": detail }).to_string();
            }
        };
        let now = self.now.clone().unwrap_or_else(|| NOW.to_owned());
        let read = |json: &Json| Value::from_json(json).expect("a value in the JSON encoding");
        let env = MapEnv {
            values: self.env.iter().map(|(k, v)| (k.clone(), read(v))).collect(),
            current: self.current.as_ref().map_or(Value::Null, read),
            now: DateTimeValue::parse_rfc3339(&now).expect("an RFC 3339 clock"),
            nodes: self
                .nodes
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(read).collect()))
                .collect(),
            position: self.position.as_ref().map_or(Value::Null, read),
            labels: self.labels.clone(),
            seed: self.seed.clone().unwrap_or_default(),
            site: self.site.clone().unwrap_or_default(),
            choice: BTreeMap::new(),
        };
        let expected = evaluate(&tree, &env).to_json();
        let mut case = json!({
            "expr": self.expr,
            "env": self.env,
            "current": self.current.clone().unwrap_or(Json::Null),
            "now": now,
            "expected": expected,
            "tree": serde_json::to_value(&tree).unwrap(),
        });
        if !self.nodes.is_empty() {
            case["nodes"] = json!(self.nodes);
        }
        if let Some(position) = &self.position {
            case["position"] = position.clone();
        }
        if !self.labels.is_empty() {
            case["labels"] = json!(self.labels);
        }
        if let Some(seed) = &self.seed {
            case["seed"] = json!(seed);
        }
        if let Some(site) = &self.site {
            case["site"] = json!(site);
        }
        case.to_string()
    }
}

fn special(name: &str) -> Json {
    json!({ "number": name })
}

/// Values of every kind, chosen at the edges where coercions and formatting differ.
fn value_pool() -> Vec<Json> {
    let mut pool = vec![
        Json::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(-0.0),
        json!(1),
        json!(-1),
        json!(0.1),
        json!(0.5),
        json!(1.5),
        json!(2.5),
        json!(-2.5),
        json!(3.7),
        json!(12),
        json!(1e21),
        json!(1.5e-7),
        json!(123_456.789),
        json!(9_007_199_254_740_993.0_f64),
        json!(1e300),
        json!(5e-324),
        json!(20_484),
        special("NaN"),
        special("Infinity"),
        special("-Infinity"),
    ];
    for text in [
        "",
        "abc",
        " 5 ",
        "5",
        "-3.25",
        "1e3",
        "+1",
        ".5",
        "5.",
        "-",
        "true",
        "false",
        "0",
        "2026-01-31",
        " 2026-01-31 ",
        "2026-01-31T10:00:00+02:00",
        "2026-02-30",
        "a b",
        " x  y ",
        "é",
        "😀",
        "\u{a0}a\u{a0}",
        "\u{feff}1",
        "\u{85}x",
        "٣",
        "\t7\n",
    ] {
        pool.push(json!(text));
    }
    for date in [
        "2026-01-31",
        "0001-01-01",
        "9999-12-31",
        "2024-02-29",
        "1969-12-31",
    ] {
        pool.push(json!({ "date": date }));
    }
    for datetime in [
        "2026-01-31T23:30:00-01:00",
        "2026-01-31T00:00:00.250Z",
        "1969-12-31T23:59:59.999+14:00",
        "2026-01-31T08:00:00Z",
        "2026-01-31T09:00:00+01:00",
    ] {
        pool.push(json!({ "datetime": datetime }));
    }
    for multi in [vec![], vec!["a"], vec!["a", "b"], vec!["7"], vec!["b", "a"]] {
        pool.push(json!({ "multi": multi }));
    }
    pool
}

const OPERATORS: [&str; 13] = [
    "or", "and", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "div", "mod",
];

fn operator_cases(draws: &mut Draws, pool: &[Json], cases: &mut Vec<Case>) {
    for operator in OPERATORS {
        for _ in 0..220 {
            let left = draws.pick(pool).clone();
            let right = draws.pick(pool).clone();
            cases.push(
                Case::new(format!("${{a}} {operator} ${{b}}"))
                    .with("a", left)
                    .with("b", right),
            );
        }
    }
    // Every pair for equality and ordering, the operators with the most rules.
    let small: Vec<Json> = pool.iter().step_by(3).cloned().collect();
    for left in &small {
        for right in &small {
            for operator in ["=", "<"] {
                cases.push(
                    Case::new(format!("${{a}} {operator} ${{b}}"))
                        .with("a", left.clone())
                        .with("b", right.clone()),
                );
            }
        }
    }
}

const UNARY: [&str; 22] = [
    "not(${a})",
    "boolean(${a})",
    "number(${a})",
    "string(${a})",
    "string-length(${a})",
    "count-selected(${a})",
    "int(${a})",
    "round(${a})",
    "date(${a})",
    "decimal-date-time(${a})",
    "boolean-from-string(${a})",
    "coalesce(${a}, 'z')",
    "concat(${a}, '|')",
    "selected(${a}, 'a')",
    "-${a}",
    "today() - ${a}",
    "${a} = today()",
    "${a} + 1",
    "if(${a}, 'yes', 'no')",
    "format-date(${a}, '%Y-%m-%d %H:%M:%S.%3 %a %b %e %n %h %y %% %q %')",
    "date(${a}) + 0",
    "${a} = ''",
];

fn unary_cases(pool: &[Json], cases: &mut Vec<Case>) {
    for template in UNARY {
        for value in pool {
            cases.push(Case::new(template).with("a", value.clone()));
        }
    }
    for value in pool {
        cases.push(
            Case::new("once(${a})")
                .with("a", json!("computed"))
                .current(value.clone()),
        );
        cases.push(Case::new(". * 2").current(value.clone()));
    }
}

/// A finite double from random bits, or one of the kinds people type.
fn random_number(draws: &mut Draws) -> f64 {
    match draws.below(5) {
        0 => {
            let number = f64::from_bits(draws.next());
            if number.is_finite() { number } else { 0.25 }
        }
        1 => (draws.next() % 2_000_001) as f64 / 1000.0 - 1000.0,
        2 => (draws.next() % 100_000) as f64 / 10_f64.powi(draws.below(12) as i32),
        3 => {
            let exponent = draws.below(60) as i32 - 30;
            10_f64.powi(exponent) * (1.0 + (draws.below(9) as f64) * 0.5)
        }
        _ => (draws.next() >> 11) as f64 * if draws.below(2) == 0 { 1.0 } else { -1e-9 },
    }
}

fn number_cases(draws: &mut Draws, cases: &mut Vec<Case>) {
    for _ in 0..400 {
        let number = random_number(draws);
        cases.push(Case::new("string(${a})").with("a", json!(number)));
    }
    let digits = [
        -400.0, -309.0, -308.0, -20.0, -3.0, -2.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 9.0,
        12.0, 15.0, 16.0, 17.0, 22.0, 23.0, 25.0, 300.0, 308.0, 400.0, -0.5, 1.9,
    ];
    let numbers = [
        1.005,
        2.675,
        1.5,
        2.5,
        -2.5,
        0.125,
        0.375,
        1234.5678,
        -1234.5678,
        1e-10,
        123_456_789.0,
        1e22,
        1e300,
        5e-324,
        0.1,
        0.7,
        8.345,
        1.45,
        4.35,
        9.995,
        99.5,
        1e15 + 0.5,
    ];
    for number in numbers {
        for digit in digits {
            cases.push(
                Case::new("round(${a}, ${d})")
                    .with("a", json!(number))
                    .with("d", json!(digit)),
            );
        }
    }
    for _ in 0..200 {
        let number = random_number(draws);
        let digit = draws.below(40) as f64 - 10.0;
        cases.push(
            Case::new("round(${a}, ${d})")
                .with("a", json!(number))
                .with("d", json!(digit)),
        );
    }
    // Literals read with correct rounding, arithmetic in IEEE 754.
    for _ in 0..200 {
        let whole = draws.next() % 1_000_000_000;
        let fraction = draws.next() % 10_u64.pow(1 + draws.below(18) as u32);
        cases.push(Case::new(format!(
            "string({whole}.{fraction:0>width$})",
            width = 1 + draws.below(25)
        )));
    }
    for _ in 0..150 {
        let left = random_number(draws);
        let right = random_number(draws);
        let operator = draws.pick(&["+", "-", "*", "div", "mod"]);
        cases.push(
            Case::new(format!("string(${{a}} {operator} ${{b}})"))
                .with("a", json!(left))
                .with("b", json!(right)),
        );
    }
    for text in [
        "12",
        " 12 ",
        "-12.5",
        "1.",
        ".25",
        "-.25",
        "--1",
        "1e3",
        "0x10",
        "1 2",
        "",
        " ",
        "-",
        ".",
        "+3",
        "Infinity",
        "NaN",
        "١٢",
        "00012.5000",
        "\u{a0}1",
        "1\u{85}",
        "123456789012345678901234567890",
        "0.1000000000000000055511151231257827",
    ] {
        cases.push(Case::new("number(${a})").with("a", json!(text)));
        cases.push(Case::new("${a} * 1").with("a", json!(text)));
    }
    for source in [
        "1 div 0",
        "-1 div 0",
        "0 div 0",
        "-0",
        "1 div -0",
        "1 div sum(${q})",
        "1 div max(-0, 0)",
        "1 div max(0, -0)",
        "1 div min(-0, 0)",
        "1 div min(0, -0)",
        "1 div round(-0.4)",
        "1 div int(-0.5)",
        "1 div (-5 mod 5)",
        "5.5 mod -2",
        "-5.5 mod 2",
        "1e308",
        "0.30000000000000004 = 0.1 + 0.2",
        "string(100000000000000000000000)",
        "string(0.000001)",
        "string(0.0000001)",
        "9007199254740993 = 9007199254740992",
    ] {
        cases.push(Case::new(source).nodes("q", vec![]));
    }
}

fn date_cases(draws: &mut Draws, cases: &mut Vec<Case>) {
    let nows = [
        NOW,
        "2026-01-31T23:59:59.999Z",
        "2026-01-31T00:00:00Z",
        "2026-01-31T01:00:00+02:00",
        "2026-01-31T20:00:00-05:00",
        "2024-02-29T12:00:00+13:45",
        "2000-01-01T00:00:00-12:00",
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:00:00-00:30",
        "9999-12-31T23:59:59.999Z",
        "0001-01-01T00:00:00Z",
        "2026-03-29T01:30:00+01:00",
    ];
    for now in nows {
        for source in [
            "today()",
            "now()",
            "string(now())",
            "today() + 1",
            "date(today() + 1)",
            "now() - today()",
            "decimal-date-time(now())",
            "format-date(now(), '%Y-%m-%d %H:%M:%S.%3 %a %b')",
            "format-date(today(), '%y %n %e %a')",
            "date(now())",
            "${d} < today()",
            "${d} = today()",
            "${t} < now()",
            "${t} = now()",
            "today() - ${d}",
            "round(now() - ${t}, 6)",
        ] {
            cases.push(
                Case::new(source)
                    .now(now)
                    .with("d", json!({ "date": "2026-01-31" }))
                    .with("t", json!({ "datetime": "2026-01-31T09:00:00+01:00" })),
            );
        }
    }
    for _ in 0..250 {
        let days = draws.below(3_652_059) as i64 - 719_162;
        cases.push(Case::new(format!(
            "format-date(date({days}), '%Y-%m-%d %a %b')"
        )));
    }
    for _ in 0..150 {
        let fraction = draws.below(1000) as f64 / 997.0;
        let days = draws.below(40_000) as f64 - 20_000.0 + fraction;
        cases.push(Case::new("string(date(${a}))").with("a", json!(days)));
    }
    for _ in 0..200 {
        let year = 1 + draws.below(9999);
        let month = draws.below(14);
        let day = draws.below(33);
        let text = format!("{year:04}-{month:02}-{day:02}");
        cases.push(Case::new("date(${a})").with("a", json!(text)));
    }
    for _ in 0..200 {
        let hour = draws.below(25);
        let minute = draws.below(61);
        let second = draws.below(61);
        let fraction = *draws.pick(&["", ".5", ".25", ".123456", ".", ".0001"]);
        let offset = *draws.pick(&[
            "Z", "+00:00", "-00:00", "+02:00", "-05:30", "+14:00", "-23:59", "+24:00", "+0200", "",
        ]);
        let text = format!("2026-01-31T{hour:02}:{minute:02}:{second:02}{fraction}{offset}");
        cases.push(Case::new("string(date(${a}))").with("a", json!(text)));
        cases.push(Case::new("decimal-date-time(${a})").with("a", json!(text)));
        cases.push(
            Case::new("format-date(${a}, '%H:%M:%S.%3')")
                .with("a", json!(text))
                .now(NOW),
        );
    }
    for source in [
        "date(-719162)",
        "date(-719163)",
        "date(2932896)",
        "date(2932897)",
        "date(1000000000)",
        "date(-1000000001)",
        "date('0000-12-31')",
        "date('10000-01-01')",
        "date(' 2026-01-31 ')",
        "date('2026-01-31T23:30:00-01:00')",
        "date('2026-01-31T23:30:00')",
        "date('20484')",
        "date('20484.9')",
        "today() - '2026-01-01'",
        "'2026-01-01' < today()",
        "today() = '2026-01-31T08:00:00Z'",
        "today() - '2026-01-31T12:00:00Z'",
        "format-date('2026-01-31', '%Y')",
        "format-date(' 2026-01-31T10:00:00+02:00 ', '%H %h')",
        "format-date(20484, '%Y')",
        "decimal-date-time('')",
        "decimal-date-time(' 1970-01-02T06:00:00Z ')",
        "decimal-date-time('1.5')",
    ] {
        cases.push(Case::new(source));
    }
}

const PATTERNS: [&str; 60] = [
    "^[0-9]{3}$",
    "^\\d+$",
    "\\w+",
    "^\\s*$",
    "(?i)^yes$",
    "^(?i:yes|no)$",
    "^[A-Z][a-z]+$",
    "^\\p{L}+$",
    "\\pN",
    "\\p{Greek}",
    "a|b",
    "^(ab)+$",
    ".",
    "^.$",
    "colou?r",
    "^[^0-9]*$",
    "^\\+?[0-9 ]{6,15}$",
    "\\bcat\\b",
    "\\Bat",
    "^[\\w.+-]+@[\\w-]+\\.[\\w.]+$",
    "(?m)^b$",
    "(?s)a.b",
    "a.b",
    "[[:alpha:]]+",
    "^[[:^digit:]]+$",
    "[a-z&&[^aeiou]]{2}",
    "^\\x41",
    "\\u{e9}",
    "a{2,}",
    "^a*?$",
    "(?x) a b # comment",
    "\\.",
    "^$",
    "",
    "^\\D\\S\\W",
    "[\\d-]+$",
    "^(?P<year>\\d{4})-(?<month>\\d\\d)$",
    "\\A\\d\\z",
    "[^\\n]",
    "(?U)a+",
    "^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$",
    "^\\d{1,3}(\\.\\d{1,2})?$",
    "^(0?[1-9]|1[0-2]):[0-5]\\d$",
    "(?i)^[a-c]+$",
    "[^\\p{L}\\s]",
    "\\p{Lu}",
    "^\\S+$",
    "[\\u{41}-\\u{5a}]{2}",
    "^a{0}$",
    "(a|b)*c",
    "^\\w{3,}$",
    "[[:space:]]",
    "[\\[\\]]",
    "[a\\-z]",
    "^[^\\s@]+$",
    "\\b\\w",
    "\\<c",
    "t\\>",
    "^(?:\\+|00)\\d+",
    "(?i)straße|é",
];

const SUBJECTS: [&str; 27] = [
    "",
    "abc",
    "123",
    "Yes",
    "YES",
    "é",
    "٣",
    "a\nb",
    "cat",
    "concat",
    "x@y.z",
    "+44 20 7946 0958",
    "ab ab",
    "aab",
    "A1",
    "ΑΒΓ",
    "2026-01",
    "7",
    "colour",
    "a\u{a0}b",
    "ABC",
    "a@b.co",
    "12.34",
    "9:05",
    "[x]",
    "a-z",
    "STRASSE",
];

fn regex_cases(cases: &mut Vec<Case>) {
    for pattern in PATTERNS {
        for subject in SUBJECTS {
            cases.push(
                Case::new(format!("regex(${{s}}, {})", quote(pattern))).with("s", json!(subject)),
            );
        }
    }
    // Patterns Rust refuses never match when they are not constants ...
    for pattern in [
        "(?=x)",
        "(?!x)",
        "(?<=x)",
        "(?<!x)",
        "(x)\\1",
        "[a-",
        "a{2,1}",
        "*a",
        "\\q",
        "(",
        ")",
        "a{",
        "[z-a]",
        "\\p{NotAProperty}",
        "(?P<n>a)(?P<n>b)",
    ] {
        cases.push(
            Case::new("regex('x', concat(${p}, ''))")
                .with("p", json!(pattern))
                .current(json!("x")),
        );
        // ... and do not parse when they are.
        cases.push(Case::new(format!("regex(., {})", quote(pattern))));
    }
}

/// A string literal for `text`, in whichever quote it does not contain.
fn quote(text: &str) -> String {
    if text.contains('\'') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

fn string_cases(draws: &mut Draws, cases: &mut Vec<Case>) {
    let texts = [
        "",
        "a",
        "a b",
        " a  b ",
        "a\u{a0}b",
        "a\u{feff}b",
        "a\u{85}b",
        "😀x",
        "e\u{301}",
        "\t a\n",
        "b a",
        "x y z",
    ];
    for text in texts {
        for wanted in ["a", " a ", "b", "a b", ""] {
            cases.push(
                Case::new(format!("selected(${{m}}, {})", quote(wanted))).with("m", json!(text)),
            );
        }
        cases.push(Case::new("count-selected(${m})").with("m", json!(text)));
        cases.push(Case::new("string-length(${m})").with("m", json!(text)));
        cases.push(Case::new("concat(${m}, ${m})").with("m", json!(text)));
        cases.push(Case::new("boolean-from-string(${m})").with("m", json!(text)));
        cases.push(Case::new("${m} = 'a'").with("m", json!(text)));
    }
    for _ in 0..100 {
        let count = draws.below(5);
        let parts: Vec<String> = (0..count)
            .map(|_| {
                let value = value_pool()[draws.below(value_pool().len())].clone();
                value.to_string()
            })
            .collect();
        let env: Vec<(String, Json)> = (0..count)
            .map(|index| {
                (
                    format!("v{index}"),
                    serde_json::from_str(&parts[index]).unwrap(),
                )
            })
            .collect();
        let arguments: Vec<String> = (0..count).map(|index| format!("${{v{index}}}")).collect();
        let mut case = Case::new(format!("concat({})", arguments.join(", ")));
        for (name, value) in env {
            case = case.with(&name, value);
        }
        cases.push(case);
    }
    for (select, value) in [("q", "y"), ("q", " y "), ("q", "z"), ("r", "y"), ("q", "")] {
        let mut case =
            Case::new(format!("jr:choice-name(${{v}}, '${{{select}}}')")).with("v", json!(value));
        case.labels.insert(
            String::from("q"),
            BTreeMap::from([
                (String::from("y"), String::from("Yes")),
                (String::from("n"), String::from("Non")),
            ]),
        );
        cases.push(case);
    }
}

fn repeat_cases(draws: &mut Draws, pool: &[Json], cases: &mut Vec<Case>) {
    for _ in 0..150 {
        let rows: Vec<Json> = (0..draws.below(5))
            .map(|_| draws.pick(pool).clone())
            .collect();
        let source = *draws.pick(&[
            "count(${q})",
            "sum(${q})",
            "max(${q})",
            "min(${q})",
            "max(${q}, 3)",
            "min(${q}, ${a})",
            "indexed-repeat(${q}, ${r}, ${a})",
            "indexed-repeat(${q}, ${r}, position(..))",
            "position(..) = count(${q})",
        ]);
        let mut case = Case::new(source)
            .nodes("q", rows)
            .with("a", draws.pick(pool).clone());
        case.position = Some(json!(1 + draws.below(4)));
        cases.push(case);
    }
    // Rows of a nested repeat are the form's: an environment without them reads none.
    for row in [json!(1), json!(2)] {
        cases.push(
            Case::new("indexed-repeat(${q}, ${r}, ${a}, ${s}, 1)")
                .nodes("q", vec![json!("x"), json!("y")])
                .with("a", row),
        );
    }
    for numbers in [
        vec![json!(1), json!(2), json!(3)],
        vec![json!(0.1), json!(0.2), json!(0.3)],
        vec![json!(1e308), json!(1e308)],
        vec![json!("2"), json!(" 3 ")],
        vec![json!(-0.0)],
    ] {
        cases.push(Case::new("sum(${q})").nodes("q", numbers.clone()));
        cases.push(Case::new("string(sum(${q}) div count(${q}))").nodes("q", numbers));
    }
}

fn random_cases(cases: &mut Vec<Case>) {
    for seed in [
        "",
        "submission-1",
        "00000000-0000-4000-8000-000000000000",
        "é😀",
    ] {
        for site in ["", "score", "r#1", "r#12", "champ"] {
            for source in [
                "random()",
                "uuid()",
                "random() = random()",
                "round(random(), 3)",
            ] {
                let mut case = Case::new(source);
                case.seed = Some(seed.to_owned());
                case.site = Some(site.to_owned());
                cases.push(case);
            }
        }
    }
}

/// Sources that parse into interesting trees or fail at a known position.
fn syntax_cases(cases: &mut Vec<Case>) {
    let sources = [
        "1 + 2 * 3 - 4 div 5 mod 6",
        "1 or 2 and 3 = 4 != 5 < 6 <= 7 > 8 >= 9",
        "-(-1)",
        "--1",
        "- - 1",
        "6 div-3",
        "5 mod-2",
        "${a}div${b}",
        "${âge} + ${a_1-b.c}",
        "${a.}",
        "${_x}",
        "count-selected(.)",
        "jr:choice-name(1, ' ${q} ')",
        "jr:choice-name(1, 'q')",
        "jr:other(1)",
        "position(..)",
        "position(.)",
        "position()",
        "if(1,2)",
        "if(1,2,3,4)",
        "concat()",
        "round()",
        "max()",
        "today(1)",
        "not(1,)",
        "f(1)",
        "sum(1)",
        "count(. + 1)",
        "indexed-repeat(${a}, 1, 1)",
        "indexed-repeat(${a}, ${r}, 1, ${s})",
        "indexed-repeat(${a}, ${r}, 1, 2, 1)",
        "indexed-repeat(${a}, ${r})",
        "indexed-repeat(${a}, ${r}, 1, ${s}, 1, ${t}, 1, ${u}, 1)",
        "",
        "   ",
        "(1 + 2",
        "(1))",
        "1 2",
        "'abc",
        "\"abc",
        "age > 3",
        "1 and",
        "and 1",
        "/data/age",
        "1 ! 2",
        "1 # 2",
        "1 @ 2",
        "1 \u{a0} 2",
        "1 € 2",
        "1 \\ 2",
        "1 ; 2",
        "${",
        "${a",
        "$a",
        "${1a}",
        "${a b}",
        "${a#}",
        "${a\u{301}}",
        "1 + * 2",
        ". .",
        "..",
        "1.2.3",
        ".5.5",
        "true() = false()",
        "TRUE()",
        "'é' = x",
        "\"it's\" = 'it\"s'",
        "\t1\n+\r2",
        "${a} = 'x' or selected(${b}, 'y') and not(${c})",
    ];
    for source in sources {
        cases.push(Case::new(source));
    }
    cases.push(Case::new("1".repeat(400)));
    cases.push(Case::new(format!("{}1{}", "(".repeat(63), ")".repeat(63))));
    cases.push(Case::new(format!("{}1{}", "(".repeat(64), ")".repeat(64))));
    cases.push(Case::new(format!("{}1", "-".repeat(63))));
    cases.push(Case::new(format!("{}1", "-".repeat(64))));
    cases.push(Case::new(vec!["1"; 256].join(" + ")));
    cases.push(Case::new(vec!["1"; 257].join(" + ")));
    cases.push(Case::new(format!("'{}'", "x".repeat(4094))));
    cases.push(Case::new(format!("'{}'", "x".repeat(4095))));
    cases.push(Case::new(format!("'{}'", "é".repeat(4094))));
    cases.push(Case::new(format!(
        "concat({})",
        vec!["if(1, 2, 3)"; 30].join(", ")
    )));
}

fn all_cases() -> Vec<Case> {
    let mut draws = Draws(0x4841_4c45);
    let pool = value_pool();
    let mut cases = Vec::new();
    operator_cases(&mut draws, &pool, &mut cases);
    unary_cases(&pool, &mut cases);
    number_cases(&mut draws, &mut cases);
    date_cases(&mut draws, &mut cases);
    regex_cases(&mut cases);
    string_cases(&mut draws, &mut cases);
    repeat_cases(&mut draws, &pool, &mut cases);
    random_cases(&mut cases);
    syntax_cases(&mut cases);
    cases
}

fn render_all() -> String {
    let lines: Vec<String> = all_cases().iter().map(Case::render).collect();
    format!("[\n{}\n]\n", lines.join(",\n"))
}

#[test]
fn generated_vectors_match_the_evaluator() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/generated_vectors.json");
    let generated = render_all();
    if std::env::var("HALE_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let drift = committed
        .lines()
        .zip(generated.lines())
        .enumerate()
        .find(|(_, (old, new))| old != new);
    if let Some((line, (old, new))) = drift {
        panic!(
            "tests/generated_vectors.json drifted from the evaluator at line {}:\n  committed {old}\n  evaluator {new}\nregenerate on purpose with HALE_BLESS=1 cargo test -p hale-expr --test generated_vectors",
            line + 1
        );
    }
    assert_eq!(
        committed.lines().count(),
        generated.lines().count(),
        "tests/generated_vectors.json has a different number of cases than the generator; regenerate with HALE_BLESS=1"
    );
    assert!(generated.lines().count() > 5000);
}
