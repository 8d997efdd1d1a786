//! The XLSForm expression language (relevance, constraints, calculations): parse once into
//! a tree, store the tree as JSON, evaluate it on the server or in the browser with the same
//! semantics. Pure: no I/O, and the clock comes from the caller's [`Env`].
//!
//! ```
//! use hale_expr::{DateTimeValue, MapEnv, Value, evaluate, parse};
//!
//! let expr = parse("if(${age} >= 18, 'adult', 'minor')").unwrap();
//! let now = DateTimeValue::parse_rfc3339("2026-01-31T08:00:00Z").unwrap();
//! let env = MapEnv::new(now).with("age", Value::Number(30.0));
//! assert_eq!(evaluate(&expr, &env), Value::String("adult".into()));
//! ```
//!
//! # Syntax
//!
//! * `${name}` reads a field. Names start with a letter (Unicode `Alphabetic`) or `_`, then
//!   letters, digits (Unicode `Alphanumeric`), `_`, `-` or `.`. `.` is the current field.
//! * Literals: decimal numbers without exponent (`3`, `2.5`, `.5`), strings in `'…'` or
//!   `"…"` with no escapes, and `true()` / `false()`.
//! * Operators, loosest first: `or`; `and`; `=` `!=`; `<` `<=` `>` `>=`; `+` `-`;
//!   `*` `div` `mod`; unary `-`. Binary operators are left-associative.
//! * Functions (argument counts are checked when parsing): `true()`, `false()`, `not(x)`,
//!   `if(c, a, b)`, `selected(s, v)`, `count-selected(s)`, `today()`, `now()`,
//!   `regex(s, pattern)`, `string-length(s)`, `round(x)`, `round(x, digits)`, `int(x)`,
//!   `coalesce(a, b)`, `concat(…)` (any count), `number(x)`, `string(x)`, `boolean(x)`,
//!   `date(x)`, `count(${f})`, `sum(${f})`, `max(…)`, `min(…)` (one or more),
//!   `position(..)`, `indexed-repeat(${f}, ${repeat}, n)` (or with 5 or 7 arguments, a repeat
//!   and a row for each nested repeat), `once(x)`,
//!   `jr:choice-name(value, '${select}')`, `format-date(d, format)`,
//!   `decimal-date-time(x)`, `boolean-from-string(s)`, `uuid()`, `random()`,
//!   `pulldata(file, column, key_column, key)`, `contains(s, t)`, `starts-with(s, t)`,
//!   `ends-with(s, t)`.
//! * A choice filter ([`parse_choice_filter`], XLSForm `choice_filter`) is evaluated once per
//!   choice: there a bare name (`state`, `name`, `label`) reads that member of the choice
//!   ([`Env::attribute`]; `name` is its value), and `.` is refused.
//! * Limits: at most 4096 characters ([`MAX_SOURCE_LENGTH`]); at most 64 levels of
//!   parentheses, calls and unary minus ([`MAX_NESTING`]); a tree at most 256 deep
//!   ([`MAX_TREE_DEPTH`]). Error positions are 0-based character (not byte) offsets.
//!
//! # Tree JSON (stable)
//!
//! Every node is an object whose `"op"` says what it is:
//!
//! | node | JSON |
//! | --- | --- |
//! | number literal | `{"op":"number","value":2.5}` (always finite and non-negative) |
//! | string literal | `{"op":"string","value":"yes"}` |
//! | `${age}` | `{"op":"field","name":"age"}` |
//! | `.` | `{"op":"current"}` |
//! | a choice's member `state` (choice filters only) | `{"op":"attribute","name":"state"}` |
//! | `-x` | `{"op":"negate","operand":X}` |
//! | `a + b` | `{"op":"binary","operator":"+","left":A,"right":B}` |
//! | `f(a, b)` | `{"op":"call","function":"count-selected","arguments":[A,B]}` |
//!
//! `operator` is one of `or and = != < <= > >= + - * div mod`; `function` is the XLSForm
//! name as listed above. [`Expr`]'s `Display` prints canonical source that parses back to
//! the same tree. A tree read back from storage can be checked with [`Expr::validate`]
//! before it is trusted; [`evaluate`] stays total either way.
//!
//! # Values and their JSON encoding
//!
//! [`Value`] is `Null` (unanswered), `Bool`, `Number` (f64), `String`, `Date`, `DateTime`
//! or `Multi` (a select_multiple's chosen values). In JSON (serde, and `tests/vectors.json`):
//!
//! | value | JSON |
//! | --- | --- |
//! | Null, Bool, String | `null`, `true`, `"text"` |
//! | finite Number | a JSON number |
//! | NaN, ±Infinity | `{"number":"NaN"}`, `{"number":"Infinity"}`, `{"number":"-Infinity"}` |
//! | Date | `{"date":"2026-01-31"}` |
//! | DateTime | `{"datetime":"2026-01-31T08:00:00.000Z"}` (RFC 3339, offset required) |
//! | Multi | `{"multi":["a","b"]}` (on the submission wire: `"a b"`, see [`Value::multi_from_wire`]) |
//!
//! The shared test vectors in `tests/vectors.json` use this encoding: a list of
//! `{"expr": source, "env": {field: value}, "current": value, "now": RFC 3339 text,
//! "expected": value}`, where numbers compare exactly and NaN equals NaN. The browser
//! evaluator must pass the same file.
//!
//! # Semantics (XPath 1.0, loosely, as ODK does it)
//!
//! * **To boolean** ([`Value::truthy`]): unanswered, `false`, 0, NaN, `""` and an empty
//!   selection are false; everything else is true, including the string `"false"`.
//! * **To number** ([`Value::as_number`]): unanswered is NaN; text must be a plain decimal
//!   (optional `-`, surrounding spaces allowed) or it is NaN; `true` is 1; a date is days
//!   since 1970-01-01; a date-time is wall-clock days since then, with a fraction.
//! * **To string** ([`Value::as_string`]): unanswered is `""`; numbers print without
//!   exponent (`NaN`, `Infinity`, integers without `.0`, `-0` as `0`); dates `YYYY-MM-DD`;
//!   date-times RFC 3339 with milliseconds and `Z` or `±HH:MM`; selections space-separated.
//! * **`=`, `!=`**: if either side is a boolean, compare truthiness; else if either is a
//!   number, compare as numbers; else if either is a date or date-time, compare day numbers
//!   (an empty side equals only another empty side); else compare strings. Unanswered reads
//!   as `""`, so `${a} = ''` is true when unanswered and `${a} = 0` is false.
//! * **`<`, `<=`, `>`, `>=`**: always numeric, so anything NaN compares false. Two
//!   date-times compare by instant.
//! * **Arithmetic**: numeric, IEEE 754: `1 div 0` is Infinity, `0 div 0` and `x mod 0` are
//!   NaN, `mod` keeps the dividend's sign. Unanswered operands give NaN.
//! * **Dates**: whenever one operand of a comparison or arithmetic operator is a date or
//!   date-time, text on the other side is read as `YYYY-MM-DD` or RFC 3339 first. Date
//!   arithmetic is in days and yields a number: `today() - ${dob}` is an age in days,
//!   `today() + 7` is a day number, `date(today() + 7)` turns it back into a date.
//! * `today()` is the date of [`Env::now`] on its own offset's wall clock.
//! * `selected(s, v)` is true when the trimmed string of `v` is one of `s`'s choices; a
//!   non-`Multi` `s` is split on whitespace. `count-selected` counts them likewise.
//! * `regex(s, p)` is an unanchored search (anchor with `^…$`) in Rust `regex` syntax; the
//!   browser must use the shared subset. Patterns over 1024 characters or compiling over
//!   256 KiB, and invalid patterns, never match; a constant invalid pattern is a parse error.
//! * `string-length` counts Unicode scalar values (code points), not UTF-16 units.
//!   `contains`, `starts-with` and `ends-with` compare both arguments as strings, exactly
//!   (an empty second argument is found in every string).
//! * `round(x, d)` rounds half away from zero at `d` decimals (default 0; negative `d` rounds
//!   to tens, …), in binary floating point. `int(x)` truncates towards zero.
//! * `coalesce(a, b)` is `a` unless it is unanswered, `""` or an empty selection.
//! * `if` evaluates only the chosen branch; `and` / `or` short-circuit.
//! * `count`, `sum`, `max`, `min` and `indexed-repeat` read [`Env::nodes`]: one value per
//!   row for a field inside a repeat, else the field's one value. `sum` reads every node as
//!   a number, so one empty row makes it NaN (XPath); `max`/`min` of no nodes, or of any
//!   non-number, is NaN (ODK). `indexed-repeat` reads [`Env::indexed_repeat`]: the field in
//!   the given row of each repeat given (rows from 1; any other row is unanswered).
//!   `position(..)` is [`Env::position`], the 1-based row being evaluated.
//! * `once(x)` is the field's own value ([`Env::current`]) when it has one, else `x`: a value
//!   computed once keeps what was first computed and submitted.
//! * `jr:choice-name(v, '${s}')` is the label of choice `v` of select `s` ([`Env::choice_label`];
//!   the second argument is stored as a field node and printed back quoted).
//! * `format-date(d, f)` takes `%Y %y %m %n %b %d %e %a %H %h %M %S %3` on the value's own
//!   wall clock (English month and weekday abbreviations); an unreadable date gives `""`.
//!   `decimal-date-time(x)` is days since 1970-01-01 with the time as a fraction.
//!   `boolean-from-string(s)` is true exactly for `"true"` and `"1"`.
//! * `pulldata(f, c, k, v)` reads [`Env::pull_data`] with its four arguments as strings: column
//!   `c` of the first row of data file `f` whose column `k` is `v`, else `""`.
//! * `random()` and `uuid()` are seeded per submission so the server and the browser agree:
//!   with `(seed, site)` from [`Env::random_site`] (site = field name, then `#row` for each
//!   enclosing repeat row, outermost first),
//!   draw `n` is `splitmix64(fnv1a_64(seed + "\n" + site) + n)`; `random()` is draw 0's top 53
//!   bits over 2^53, `uuid()` a version 4 UUID from draws 1 and 2 ([`seeded_random`],
//!   [`seeded_uuid`]). Two calls in one expression give the same value.
//! * `date(x)`: dates stay, date-times give their wall-clock date, numbers count days from
//!   1970-01-01 (rounded down), text may be a date, date-time or number; anything else, or a
//!   year outside 0001–9999, is unanswered.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod ast;
mod calendar;
mod evaluate;
mod functions;
mod lexer;
mod parser;
mod print;
mod value;

pub use ast::{BinaryOperator, Expr, Function};
pub use evaluate::{
    Env, MAX_COMPILED_PATTERN_BYTES, MAX_PATTERN_LENGTH, MapEnv, evaluate, nth_row,
};
pub use functions::{seeded_draw, seeded_random, seeded_uuid};
pub use parser::{
    MAX_NESTING, MAX_SOURCE_LENGTH, MAX_TREE_DEPTH, ParseError, parse, parse_choice_filter,
};
pub use value::{DateTimeValue, DateValue, Value, format_number};
