//! Fuzzes parsing, printing and evaluation together: any input must parse or fail cleanly,
//! and whatever parses must print back to the same tree and evaluate without panicking.
//! Run with `cargo +nightly fuzz run parse_evaluate` from `crates/hale-expr`.

#![no_main]

use hale_expr::{DateTimeValue, MapEnv, Value, evaluate, parse};
use libfuzzer_sys::fuzz_target;

/// The first bytes choose the environment; the rest is the expression source.
fn environment(seed: &[u8]) -> MapEnv {
    let byte = |index: usize| seed.get(index).copied().unwrap_or(0);
    let millis = i64::from(i32::from_le_bytes([byte(0), byte(1), byte(2), byte(3)])) * 1000;
    let offset = i32::from(i8::from_le_bytes([byte(4)])) * 10;
    let now = DateTimeValue::new(millis, offset)
        .or_else(|| DateTimeValue::new(0, 0))
        .unwrap_or_else(|| unreachable!("the epoch is in range"));
    let values = [
        Value::Null,
        Value::Bool(byte(5) % 2 == 0),
        Value::Number(f64::from(i8::from_le_bytes([byte(6)])) / 4.0),
        Value::String(String::from("a b 2026-01-31")),
        Value::multi_from_wire("a c"),
        Value::Number(f64::NAN),
        Value::Date(now.local_date()),
        Value::DateTime(now),
    ];
    let pick = |index: usize| values[usize::from(byte(index)) % values.len()].clone();
    MapEnv::new(now)
        .with("a", pick(7))
        .with("b", pick(8))
        .with("c", pick(9))
        .with_current(pick(10))
}

fuzz_target!(|data: &[u8]| {
    let (seed, source) = data.split_at(data.len().min(11));
    let source = String::from_utf8_lossy(source);
    if let Ok(expr) = parse(&source) {
        let printed = expr.to_string();
        assert_eq!(parse(&printed).ok().as_ref(), Some(&expr), "{printed}");
        let env = environment(seed);
        let _ = evaluate(&expr, &env).as_string();
    }
});
