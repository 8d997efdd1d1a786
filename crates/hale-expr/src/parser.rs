//! Recursive-descent parser from expression source to [`Expr`], with XPath precedence and the
//! length and depth limits that keep parsing and evaluation bounded.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ast::{BinaryOperator, Expr, Function};
use crate::evaluate::compile_pattern;
use crate::lexer::{Token, TokenKind, tokenize};

/// Longest accepted source, in characters.
pub const MAX_SOURCE_LENGTH: usize = 4096;
/// Deepest syntactic nesting: parentheses, function calls and unary minus each add a level.
pub const MAX_NESTING: usize = 64;
/// Deepest accepted tree ([`Expr::depth`]). Higher than [`MAX_NESTING`] because a long
/// chain such as `${q1} + ${q2} + ... + ${q200}` is one level of syntax but a deep tree.
pub const MAX_TREE_DEPTH: usize = 256;

/// Why an expression did not parse, and where: `position` is a 0-based character offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseError {
    pub position: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.position, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses XLSForm expression source into a tree.
pub fn parse(source: &str) -> Result<Expr, ParseError> {
    parse_with(source, false)
}

/// Parses a choice filter (XLSForm `choice_filter`): an expression evaluated once per choice,
/// where a bare name is a member of that choice ([`Expr::Attribute`]) and `.` has no meaning.
pub fn parse_choice_filter(source: &str) -> Result<Expr, ParseError> {
    parse_with(source, true)
}

fn parse_with(source: &str, choice_filter: bool) -> Result<Expr, ParseError> {
    if source.chars().nth(MAX_SOURCE_LENGTH).is_some() {
        return Err(ParseError::new(
            MAX_SOURCE_LENGTH,
            format!("expression is longer than {MAX_SOURCE_LENGTH} characters"),
        ));
    }
    let characters: Vec<char> = source.chars().collect();
    let tokens = tokenize(&characters)?;
    let mut parser = Parser {
        tokens,
        index: 0,
        nesting: 0,
        choice_filter,
    };
    let parsed = parser.expression()?;
    let token = parser.peek();
    if token.kind != TokenKind::End {
        return Err(ParseError::new(
            token.position,
            format!(
                "expected an operator or the end of the expression, found {}",
                token.kind.describe()
            ),
        ));
    }
    Ok(parsed.expr)
}

/// A subtree with its depth, tracked while building so the limit needs no second walk.
struct Parsed {
    expr: Expr,
    depth: usize,
}

impl Parsed {
    fn leaf(expr: Expr) -> Self {
        Self { expr, depth: 1 }
    }
}

struct Parser {
    tokens: Vec<Token>,
    index: usize,
    nesting: usize,
    /// Bare names are choice members, and `.` is refused.
    choice_filter: bool,
}

/// One precedence level of left-associative binary operators.
type Level = fn(&TokenKind) -> Option<BinaryOperator>;

fn or_level(kind: &TokenKind) -> Option<BinaryOperator> {
    matches!(kind, TokenKind::Name(name) if name == "or").then_some(BinaryOperator::Or)
}

fn and_level(kind: &TokenKind) -> Option<BinaryOperator> {
    matches!(kind, TokenKind::Name(name) if name == "and").then_some(BinaryOperator::And)
}

fn equality_level(kind: &TokenKind) -> Option<BinaryOperator> {
    match kind {
        TokenKind::Equal => Some(BinaryOperator::Equal),
        TokenKind::NotEqual => Some(BinaryOperator::NotEqual),
        _ => None,
    }
}

fn relational_level(kind: &TokenKind) -> Option<BinaryOperator> {
    match kind {
        TokenKind::Less => Some(BinaryOperator::Less),
        TokenKind::LessOrEqual => Some(BinaryOperator::LessOrEqual),
        TokenKind::Greater => Some(BinaryOperator::Greater),
        TokenKind::GreaterOrEqual => Some(BinaryOperator::GreaterOrEqual),
        _ => None,
    }
}

fn additive_level(kind: &TokenKind) -> Option<BinaryOperator> {
    match kind {
        TokenKind::Plus => Some(BinaryOperator::Add),
        TokenKind::Minus => Some(BinaryOperator::Subtract),
        _ => None,
    }
}

fn multiplicative_level(kind: &TokenKind) -> Option<BinaryOperator> {
    match kind {
        TokenKind::Star => Some(BinaryOperator::Multiply),
        TokenKind::Name(name) if name == "div" => Some(BinaryOperator::Divide),
        TokenKind::Name(name) if name == "mod" => Some(BinaryOperator::Modulo),
        _ => None,
    }
}

/// Loosest first; each level's operands are expressions of the next level.
const LEVELS: [Level; 6] = [
    or_level,
    and_level,
    equality_level,
    relational_level,
    additive_level,
    multiplicative_level,
];

fn is_operator_word(name: &str) -> bool {
    matches!(name, "and" | "or" | "div" | "mod")
}

impl Parser {
    fn peek(&self) -> &Token {
        // `tokenize` always ends with `End`, and nothing advances past it.
        &self.tokens[self.index.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::End {
            self.index += 1;
        }
        token
    }

    /// Counts one level of syntactic nesting; the caller must call [`Self::leave`] after.
    fn enter(&mut self, position: usize) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(ParseError::new(
                position,
                format!("expression is nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn node(expr: Expr, child_depth: usize, position: usize) -> Result<Parsed, ParseError> {
        let depth = child_depth + 1;
        if depth > MAX_TREE_DEPTH {
            return Err(ParseError::new(
                position,
                format!(
                    "expression has too many chained operations (tree deeper than {MAX_TREE_DEPTH}); split it across calculate fields"
                ),
            ));
        }
        Ok(Parsed { expr, depth })
    }

    /// A full expression: the loosest precedence level.
    fn expression(&mut self) -> Result<Parsed, ParseError> {
        let position = self.peek().position;
        self.enter(position)?;
        let result = self.level(0);
        self.leave();
        result
    }

    fn level(&mut self, level: usize) -> Result<Parsed, ParseError> {
        let Some(&operator_of) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut left = self.level(level + 1)?;
        while let Some(operator) = operator_of(&self.peek().kind) {
            let position = self.advance().position;
            let right = self.level(level + 1)?;
            let child_depth = left.depth.max(right.depth);
            left = Self::node(
                Expr::Binary {
                    operator,
                    left: Box::new(left.expr),
                    right: Box::new(right.expr),
                },
                child_depth,
                position,
            )?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Parsed, ParseError> {
        if self.peek().kind != TokenKind::Minus {
            return self.primary();
        }
        let position = self.advance().position;
        self.enter(position)?;
        let operand = self.unary();
        self.leave();
        let operand = operand?;
        Self::node(
            Expr::Negate {
                operand: Box::new(operand.expr),
            },
            operand.depth,
            position,
        )
    }

    fn primary(&mut self) -> Result<Parsed, ParseError> {
        let token = self.advance();
        match token.kind {
            TokenKind::Number(value) => Ok(Parsed::leaf(Expr::Number { value })),
            TokenKind::String(value) => Ok(Parsed::leaf(Expr::String { value })),
            TokenKind::Field(name) => Ok(Parsed::leaf(Expr::Field { name })),
            TokenKind::Dot if self.choice_filter => Err(ParseError::new(
                token.position,
                "'.' has no meaning in a choice filter: the choice's value is 'name'",
            )),
            TokenKind::Dot => Ok(Parsed::leaf(Expr::Current)),
            TokenKind::LeftParen => {
                let inner = self.expression()?;
                self.expect_closing(token.position)?;
                Ok(inner)
            }
            TokenKind::Name(name) if self.peek().kind == TokenKind::LeftParen => {
                self.call(&name, token.position)
            }
            TokenKind::Name(name) if is_operator_word(&name) => Err(ParseError::new(
                token.position,
                format!("expected an expression, found the operator '{name}'"),
            )),
            TokenKind::Name(name) if self.choice_filter => {
                Ok(Parsed::leaf(Expr::Attribute { name }))
            }
            TokenKind::Name(name) => Err(ParseError::new(
                token.position,
                format!("unexpected name '{name}': refer to fields as ${{{name}}}"),
            )),
            other => Err(ParseError::new(
                token.position,
                format!("expected an expression, found {}", other.describe()),
            )),
        }
    }

    fn expect_closing(&mut self, opened_at: usize) -> Result<(), ParseError> {
        let token = self.peek();
        if token.kind == TokenKind::RightParen {
            self.advance();
            return Ok(());
        }
        let message = if token.kind == TokenKind::End {
            format!("unclosed '(' opened at character {opened_at}: expected ')'")
        } else {
            format!(
                "expected ')' or an operator, found {}",
                token.kind.describe()
            )
        };
        Err(ParseError::new(token.position, message))
    }

    /// Parses a call whose name has been consumed and whose `(` is next.
    fn call(&mut self, name: &str, position: usize) -> Result<Parsed, ParseError> {
        let function = Function::from_name(name)
            .ok_or_else(|| ParseError::new(position, format!("unknown function '{name}'")))?;
        let open = self.advance().position;
        if function == Function::Position {
            // Only `position(..)`, the row of the enclosing repeat, has a meaning here.
            let parent = self.advance();
            let second = self.advance();
            let closing = self.advance();
            if parent.kind != TokenKind::Dot
                || second.kind != TokenKind::Dot
                || closing.kind != TokenKind::RightParen
            {
                return Err(ParseError::new(
                    position,
                    "position takes exactly '..', the enclosing repeat: position(..)",
                ));
            }
            return Ok(Parsed::leaf(Expr::Call {
                function,
                arguments: Vec::new(),
            }));
        }
        self.enter(open)?;
        let arguments = self.arguments(open);
        self.leave();
        let arguments = arguments?;
        check_arity(function, arguments.len(), position)?;
        let mut arguments = arguments;
        if function == Function::ChoiceName {
            // The select is named in a string, `'${name}'`, as XLSForm writes it.
            let named = arguments.get(1).and_then(|argument| match &argument.expr {
                Expr::String { value } => value
                    .trim()
                    .strip_prefix("${")
                    .and_then(|rest| rest.strip_suffix('}'))
                    .map(str::to_owned),
                _ => None,
            });
            let Some(name) = named else {
                return Err(ParseError::new(
                    position,
                    "jr:choice-name names its select as a string: jr:choice-name(value, '${name}')",
                ));
            };
            if let Some(argument) = arguments.get_mut(1) {
                argument.expr = Expr::Field { name };
            }
        }
        if matches!(
            function,
            Function::Count | Function::Sum | Function::IndexedRepeat
        ) {
            // The field, and for `indexed-repeat` each repeat (every argument but the rows).
            let reads_rows = |index: usize| {
                index == 0 || (function == Function::IndexedRepeat && index % 2 == 1)
            };
            if arguments.iter().enumerate().any(|(index, argument)| {
                reads_rows(index) && !matches!(argument.expr, Expr::Field { .. })
            }) {
                return Err(ParseError::new(
                    position,
                    format!("{name} reads the rows of a field: give it as ${{name}}"),
                ));
            }
        }
        if function == Function::Regex {
            self.check_literal_pattern(&arguments, position)?;
        }
        let child_depth = arguments.iter().map(|argument| argument.depth).max();
        Self::node(
            Expr::Call {
                function,
                arguments: arguments
                    .into_iter()
                    .map(|argument| argument.expr)
                    .collect(),
            },
            child_depth.unwrap_or(0),
            position,
        )
    }

    fn arguments(&mut self, open: usize) -> Result<Vec<Parsed>, ParseError> {
        let mut arguments = Vec::new();
        if self.peek().kind == TokenKind::RightParen {
            self.advance();
            return Ok(arguments);
        }
        loop {
            arguments.push(self.level(0)?);
            if self.peek().kind == TokenKind::Comma {
                self.advance();
                continue;
            }
            self.expect_closing(open)?;
            return Ok(arguments);
        }
    }

    /// A constant pattern is checked now, so an analyst learns of a bad regex when saving
    /// the form rather than when a respondent first types an answer.
    fn check_literal_pattern(
        &self,
        arguments: &[Parsed],
        call_position: usize,
    ) -> Result<(), ParseError> {
        if let Some(Parsed {
            expr: Expr::String { value },
            ..
        }) = arguments.get(1)
        {
            let pattern_position = self.pattern_position(call_position);
            compile_pattern(value).map_err(|message| {
                ParseError::new(
                    pattern_position,
                    format!("invalid regex pattern: {message}"),
                )
            })?;
        }
        Ok(())
    }

    /// Finds where the pattern literal starts: the last string token before the current one.
    fn pattern_position(&self, fallback: usize) -> usize {
        self.tokens[..self.index]
            .iter()
            .rev()
            .find(|token| matches!(token.kind, TokenKind::String(_)))
            .map_or(fallback, |token| token.position)
    }
}

fn check_arity(function: Function, count: usize, position: usize) -> Result<(), ParseError> {
    if function == Function::IndexedRepeat && count.is_multiple_of(2) {
        return Err(ParseError::new(
            position,
            format!(
                "function 'indexed-repeat' takes a field, then a repeat and a row for each repeat: 3, 5 or 7 arguments, found {count}"
            ),
        ));
    }
    let (minimum, maximum) = function.arity();
    let fits = count >= minimum && maximum.is_none_or(|maximum| count <= maximum);
    if fits {
        return Ok(());
    }
    let expected = match maximum {
        Some(maximum) if maximum == minimum => format!("{minimum}"),
        Some(maximum) => format!("{minimum} to {maximum}"),
        None => format!("at least {minimum}"),
    };
    let plural = if expected == "1" { "" } else { "s" };
    Err(ParseError::new(
        position,
        format!(
            "function '{}' takes {expected} argument{plural}, found {count}",
            function.name()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(source: &str) -> ParseError {
        parse(source).unwrap_err()
    }

    #[test]
    fn unexpected_operator_points_at_it() {
        let failure = error("1 + * 2");
        assert_eq!(failure.position, 4);
        assert!(failure.message.contains("'*'"), "{failure}");
    }

    #[test]
    fn unbalanced_field_reference_points_at_its_start() {
        let failure = error("1 + ${a");
        assert_eq!(failure.position, 4);
        assert!(failure.message.contains("unclosed"), "{failure}");
        assert_eq!(error("${a b}").position, 3);
        assert_eq!(error("${1a}").position, 2);
        assert_eq!(error("$a").position, 0);
    }

    #[test]
    fn unknown_function_is_named() {
        let failure = error("${a} + summ(${b})");
        assert_eq!(failure.position, 7);
        assert_eq!(failure.message, "unknown function 'summ'");
    }

    #[test]
    fn arity_is_checked() {
        let failure = error("if(${a}, 1)");
        assert_eq!(failure.position, 0);
        assert_eq!(failure.message, "function 'if' takes 3 arguments, found 2");
        assert_eq!(
            error("today(1)").message,
            "function 'today' takes 0 arguments, found 1"
        );
        assert_eq!(
            error("round()").message,
            "function 'round' takes 1 to 2 arguments, found 0"
        );
        assert_eq!(
            error("not(1, 2)").message,
            "function 'not' takes 1 argument, found 2"
        );
        assert!(parse("concat()").is_ok());
    }

    #[test]
    fn literal_regex_is_validated_at_parse_time() {
        let failure = error("regex(., '[a-')");
        assert_eq!(failure.position, 9);
        assert!(failure.message.starts_with("invalid regex pattern"));
        assert!(parse("regex(., concat('[a-', 'z]'))").is_ok());
    }

    #[test]
    fn other_errors_have_positions() {
        assert_eq!(error("").position, 0);
        assert_eq!(error("(1 + 2").position, 6);
        assert_eq!(error("1 2").position, 2);
        assert_eq!(error("'abc").position, 0);
        assert_eq!(error("age > 3").position, 0);
        assert_eq!(error("1 and").position, 5);
        assert_eq!(error("and 1").position, 0);
        assert_eq!(error("/data/age").position, 0);
        assert_eq!(error("1 ! 2").position, 2);
        assert_eq!(error("f(1,)").message, "unknown function 'f'");
        assert_eq!(error("not(1,)").position, 6);
        assert_eq!(error("(1))").position, 3);
        assert_eq!(error("1 # 2").position, 2);
    }

    #[test]
    fn limits_are_enforced() {
        let long = "1".repeat(MAX_SOURCE_LENGTH + 1);
        assert_eq!(error(&long).position, MAX_SOURCE_LENGTH);
        assert!(parse(&"1".repeat(400)).is_err(), "number too large");
        let nested = format!("{}1{}", "(".repeat(70), ")".repeat(70));
        assert!(error(&nested).message.contains("nested too deeply"));
        let nested_ok = format!("{}1{}", "(".repeat(60), ")".repeat(60));
        assert!(parse(&nested_ok).is_ok());
        assert!(
            error(&"-".repeat(100))
                .message
                .contains("nested too deeply")
        );
        let chain = vec!["${q}"; 300].join(" + ");
        assert!(error(&chain).message.contains("too many chained"));
        let sum = vec!["${q}"; 200].join(" + ");
        assert!(parse(&sum).is_ok());
    }

    fn binary(operator: BinaryOperator, left: Expr, right: Expr) -> Expr {
        Expr::Binary {
            operator,
            left: Box::new(left),
            right: Box::new(right),
        }
    }

    fn number(value: f64) -> Expr {
        Expr::Number { value }
    }

    #[test]
    fn precedence_follows_xpath() {
        use BinaryOperator::*;
        assert_eq!(
            parse("1 + 2 * 3").unwrap(),
            binary(Add, number(1.0), binary(Multiply, number(2.0), number(3.0)))
        );
        assert_eq!(
            parse("1 - 2 - 3").unwrap(),
            binary(
                Subtract,
                binary(Subtract, number(1.0), number(2.0)),
                number(3.0)
            )
        );
        assert_eq!(
            parse("1 or 2 and 3").unwrap(),
            binary(Or, number(1.0), binary(And, number(2.0), number(3.0)))
        );
        assert_eq!(
            parse("1 = 2 < 3").unwrap(),
            binary(Equal, number(1.0), binary(Less, number(2.0), number(3.0)))
        );
        assert_eq!(
            parse("1 < 2 + 3").unwrap(),
            binary(Less, number(1.0), binary(Add, number(2.0), number(3.0)))
        );
        assert_eq!(
            parse("-2 * 3").unwrap(),
            binary(
                Multiply,
                Expr::Negate {
                    operand: Box::new(number(2.0))
                },
                number(3.0)
            )
        );
        assert_eq!(
            parse("(1 + 2) mod 3").unwrap(),
            binary(Modulo, binary(Add, number(1.0), number(2.0)), number(3.0))
        );
        assert_eq!(
            parse("6 div-3").unwrap(),
            binary(
                Divide,
                number(6.0),
                Expr::Negate {
                    operand: Box::new(number(3.0))
                }
            )
        );
    }

    #[test]
    fn references_are_collected() {
        let expr = parse("if(selected(${b}, 'x'), ${a} + ${a-2}, .)").unwrap();
        let names: Vec<String> = expr.references().into_iter().collect();
        assert_eq!(names, vec!["a", "a-2", "b"]);
        assert!(expr.uses_current());
    }
}
