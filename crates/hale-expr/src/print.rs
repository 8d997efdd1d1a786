//! Canonical printer: turns a tree back into XLSForm source with single spaces around
//! operators and only the parentheses that precedence requires. For every tree the parser
//! produces, `parse(&expr.to_string())` gives back an equal tree.

use std::fmt;

use crate::ast::{Expr, Function};
use crate::value::format_number;

/// Binding strength of unary minus and of anything that is not an operator.
const UNARY_PRECEDENCE: u8 = 7;
const PRIMARY_PRECEDENCE: u8 = 8;

fn precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Binary { operator, .. } => operator.precedence(),
        Expr::Negate { .. } => UNARY_PRECEDENCE,
        _ => PRIMARY_PRECEDENCE,
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_expr(self, &mut out);
        f.write_str(&out)
    }
}

fn write_operand(expr: &Expr, needs_parentheses: bool, out: &mut String) {
    if needs_parentheses {
        out.push('(');
        write_expr(expr, out);
        out.push(')');
    } else {
        write_expr(expr, out);
    }
}

fn write_expr(expr: &Expr, out: &mut String) {
    match expr {
        Expr::Number { value } => write_number(*value, out),
        Expr::String { value } => write_string(value, out),
        Expr::Field { name } => {
            out.push_str("${");
            out.push_str(name);
            out.push('}');
        }
        Expr::Current => out.push('.'),
        Expr::Attribute { name } => out.push_str(name),
        Expr::Negate { operand } => {
            out.push('-');
            write_operand(operand, precedence(operand) < UNARY_PRECEDENCE, out);
        }
        Expr::Binary {
            operator,
            left,
            right,
        } => {
            let own = operator.precedence();
            // Operators are left-associative, so an equal-strength right operand keeps its
            // parentheses: `1 - (2 - 3)`.
            write_operand(left, precedence(left) < own, out);
            out.push(' ');
            out.push_str(operator.symbol());
            out.push(' ');
            write_operand(right, precedence(right) <= own, out);
        }
        Expr::Call {
            function: Function::Position,
            ..
        } => out.push_str("position(..)"),
        Expr::Call {
            function: Function::ChoiceName,
            arguments,
        } => {
            out.push_str("jr:choice-name(");
            if let Some(value) = arguments.first() {
                write_expr(value, out);
            }
            out.push_str(", ");
            match arguments.get(1) {
                Some(Expr::Field { name }) => {
                    out.push_str("'${");
                    out.push_str(name);
                    out.push_str("}'");
                }
                Some(other) => write_expr(other, out),
                None => out.push_str("''"),
            }
            out.push(')');
        }
        Expr::Call {
            function,
            arguments,
        } => {
            out.push_str(function.name());
            out.push('(');
            for (index, argument) in arguments.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_expr(argument, out);
            }
            out.push(')');
        }
    }
}

/// Numbers the parser cannot produce still print as source that evaluates to them.
fn write_number(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("(0 div 0)");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 {
            "(1 div 0)"
        } else {
            "(-1 div 0)"
        });
    } else if value < 0.0 {
        out.push('(');
        out.push_str(&format_number(value));
        out.push(')');
    } else {
        out.push_str(&format_number(value));
    }
}

/// XPath 1.0 literals have no escapes: use whichever quote the text lacks, and for text with
/// both, join single-quoted and double-quoted pieces with `concat`.
fn write_string(value: &str, out: &mut String) {
    if !value.contains('\'') {
        out.push('\'');
        out.push_str(value);
        out.push('\'');
    } else if !value.contains('"') {
        out.push('"');
        out.push_str(value);
        out.push('"');
    } else {
        out.push_str("concat(");
        let mut first = true;
        for piece in value.split_inclusive('\'') {
            let (text, quote) = match piece.strip_suffix('\'') {
                Some(text) => (text, true),
                None => (piece, false),
            };
            for part in [text, if quote { "'" } else { "" }] {
                if part.is_empty() {
                    continue;
                }
                if !first {
                    out.push_str(", ");
                }
                first = false;
                let delimiter = if part == "'" { '"' } else { '\'' };
                out.push(delimiter);
                out.push_str(part);
                out.push(delimiter);
            }
        }
        out.push(')');
    }
}

#[cfg(test)]
mod tests {
    use crate::{MapEnv, Value, evaluate, parse};

    fn canonical(source: &str) -> String {
        parse(source).unwrap().to_string()
    }

    #[test]
    fn prints_minimal_parentheses() {
        assert_eq!(canonical("1+2*3"), "1 + 2 * 3");
        assert_eq!(canonical("(1+2)*3"), "(1 + 2) * 3");
        assert_eq!(canonical("1-(2-3)"), "1 - (2 - 3)");
        assert_eq!(canonical("(1-2)-3"), "1 - 2 - 3");
        assert_eq!(canonical("-(1+2)"), "-(1 + 2)");
        assert_eq!(canonical("- -1"), "--1");
        assert_eq!(canonical("6 div-3"), "6 div -3");
        assert_eq!(
            canonical("if(${a}>=.5,concat('x',\"it's\"),.)"),
            "if(${a} >= 0.5, concat('x', \"it's\"), .)"
        );
        assert_eq!(canonical("not((1 or 2) and 3)"), "not((1 or 2) and 3)");
    }

    #[test]
    fn strings_with_both_quotes_print_as_concat() {
        let expr = crate::Expr::String {
            value: String::from("a'b\"c'"),
        };
        let printed = expr.to_string();
        assert_eq!(printed, "concat('a', \"'\", 'b\"c', \"'\")");
        let env = MapEnv::new(crate::DateTimeValue::new(0, 0).unwrap());
        let reparsed = parse(&printed).unwrap();
        assert_eq!(
            evaluate(&reparsed, &env),
            Value::String(String::from("a'b\"c'"))
        );
    }
}
