//! The FHIRPath that SDC forms write in `variable`, `calculatedExpression`,
//! `enableWhenExpression` and `initialExpression`, translated to Hale's expression tree, and
//! Hale expressions written back as FHIRPath for other renderers. Only a subset: answer paths
//! (`%resource.item.where(linkId='x').answer.value`, through `.item`, `[n]`, `repeat(item)`),
//! `%name` variables (inlined), literals, arithmetic, comparisons, `and`/`or`/`implies`, `&`,
//! `iif`, `exists()`, `empty()`, `not()`, `count()`, `sum()`, `today()`, `now()`, and the
//! score look-up `%questionnaire…answerOption.where(…).extension.where(url=…).valueDecimal`.
//! Anything else is refused by name. The parser is hand-written and bounded: at most
//! [`MAX_LENGTH`] characters and [`MAX_DEPTH`] levels of nesting, so hostile text cannot
//! exhaust the stack.

use std::collections::HashMap;

use hale_expr::{BinaryOperator, Expr, Function, format_number};

use super::relevance::{Question, answered};
use super::{binary, call};
use crate::definition::{ChoiceType, FieldType};

/// Longest FHIRPath text read.
pub(crate) const MAX_LENGTH: usize = 4096;
/// Deepest nesting of parentheses, calls, unary minus and operators read.
pub(crate) const MAX_DEPTH: usize = 48;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Number(f64),
    Str(String),
    Ident(String),
    Constant(String),
    Symbol(&'static str),
}

fn lex(source: &str) -> Result<Vec<Token>, String> {
    if source.chars().count() > MAX_LENGTH {
        return Err(format!("is longer than {MAX_LENGTH} characters"));
    }
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c.is_whitespace() {
            at += 1;
        } else if c == '/' && chars.get(at + 1) == Some(&'/') {
            while at < chars.len() && chars[at] != '\n' {
                at += 1;
            }
        } else if c.is_ascii_digit() {
            let start = at;
            while at < chars.len() && (chars[at].is_ascii_digit() || chars[at] == '.') {
                if chars[at] == '.' && !chars.get(at + 1).is_some_and(char::is_ascii_digit) {
                    break;
                }
                at += 1;
            }
            let text: String = chars[start..at].iter().collect();
            let number = text
                .parse::<f64>()
                .map_err(|_| String::from("has a malformed number"))?;
            tokens.push(Token::Number(number));
        } else if c == '\'' || c == '`' {
            let quote = c;
            at += 1;
            let mut text = String::new();
            loop {
                let Some(&next) = chars.get(at) else {
                    return Err(String::from("has an unterminated string"));
                };
                at += 1;
                if next == quote {
                    break;
                }
                if next == '\\' {
                    let Some(&escaped) = chars.get(at) else {
                        return Err(String::from("has an unterminated string"));
                    };
                    at += 1;
                    text.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                } else {
                    text.push(next);
                }
            }
            tokens.push(if quote == '`' {
                Token::Ident(text)
            } else {
                Token::Str(text)
            });
        } else if c.is_alphabetic() || c == '_' || c == '%' {
            let constant = c == '%';
            if constant {
                at += 1;
                if chars.get(at) == Some(&'`') || chars.get(at) == Some(&'\'') {
                    let quote = chars[at];
                    let start = at + 1;
                    let end = chars[start..]
                        .iter()
                        .position(|&c| c == quote)
                        .ok_or_else(|| String::from("has an unterminated constant name"))?;
                    tokens.push(Token::Constant(chars[start..start + end].iter().collect()));
                    at = start + end + 1;
                    continue;
                }
            }
            let start = at;
            while at < chars.len() && (chars[at].is_alphanumeric() || chars[at] == '_') {
                at += 1;
            }
            if start == at {
                return Err(String::from("has '%' without a name"));
            }
            let name: String = chars[start..at].iter().collect();
            tokens.push(if constant {
                Token::Constant(name)
            } else {
                Token::Ident(name)
            });
        } else {
            let two: String = chars[at..chars.len().min(at + 2)].iter().collect();
            let symbol = ["<=", ">=", "!=", "!~"]
                .into_iter()
                .find(|symbol| two == *symbol)
                .or_else(|| {
                    [
                        ".", "(", ")", "[", "]", ",", "+", "-", "*", "/", "&", "=", "~", "<", ">",
                        "|", "{", "}",
                    ]
                    .into_iter()
                    .find(|symbol| symbol.starts_with(c))
                })
                .ok_or_else(|| format!("has the character '{c}', which FHIRPath does not use"))?;
            at += symbol.chars().count();
            tokens.push(Token::Symbol(symbol));
        }
    }
    Ok(tokens)
}

/// The parsed FHIRPath.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    Number(f64),
    Str(String),
    Bool(bool),
    Empty,
    Constant(String),
    /// `base.name`, `base.name(arguments)`, or a root `name`/`name(arguments)`.
    Path {
        base: Option<Box<Node>>,
        name: String,
        arguments: Option<Vec<Node>>,
    },
    Index(Box<Node>, Box<Node>),
    Binary(String, Box<Node>, Box<Node>),
    Negate(Box<Node>),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

/// Binary operators, loosest first.
const LEVELS: [&[&str]; 9] = [
    &["implies"],
    &["or", "xor"],
    &["and"],
    &["in", "contains"],
    &["=", "~", "!=", "!~"],
    &["<", "<=", ">", ">="],
    &["|"],
    &["+", "-", "&"],
    &["*", "/", "div", "mod"],
];

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn symbol(&mut self, symbol: &str) -> bool {
        if self.peek()
            == Some(&Token::Symbol(match symbol {
                "(" => "(",
                ")" => ")",
                "," => ",",
                "." => ".",
                "[" => "[",
                "]" => "]",
                "}" => "}",
                _ => return false,
            }))
        {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, symbol: &str) -> Result<(), String> {
        if self.symbol(symbol) {
            Ok(())
        } else {
            Err(format!("expects '{symbol}'"))
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(format!("nests deeper than {MAX_DEPTH} levels"))
        } else {
            Ok(())
        }
    }

    fn operator_at(&self, level: usize) -> Option<String> {
        let text = match self.peek()? {
            Token::Symbol(symbol) => (*symbol).to_owned(),
            Token::Ident(name) => name.clone(),
            _ => return None,
        };
        LEVELS[level].contains(&text.as_str()).then_some(text)
    }

    fn binary(&mut self, level: usize) -> Result<Node, String> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(operator) = self.operator_at(level) {
            self.at += 1;
            let right = self.binary(level + 1)?;
            left = Node::Binary(operator, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, String> {
        self.enter()?;
        let node = match self.peek() {
            Some(Token::Symbol("-")) => {
                self.at += 1;
                Node::Negate(Box::new(self.unary()?))
            }
            Some(Token::Symbol("+")) => {
                self.at += 1;
                self.unary()?
            }
            _ => self.postfix()?,
        };
        self.depth -= 1;
        Ok(node)
    }

    fn arguments(&mut self) -> Result<Option<Vec<Node>>, String> {
        if !self.symbol("(") {
            return Ok(None);
        }
        let mut arguments = Vec::new();
        if !self.symbol(")") {
            loop {
                arguments.push(self.binary(0)?);
                if self.symbol(")") {
                    break;
                }
                self.expect(",")?;
            }
        }
        Ok(Some(arguments))
    }

    fn postfix(&mut self) -> Result<Node, String> {
        let mut node = self.term()?;
        loop {
            if self.symbol(".") {
                let Some(Token::Ident(name)) = self.peek().cloned() else {
                    return Err(String::from("expects a name after '.'"));
                };
                self.at += 1;
                let arguments = self.arguments()?;
                node = Node::Path {
                    base: Some(Box::new(node)),
                    name,
                    arguments,
                };
            } else if self.symbol("[") {
                let index = self.binary(0)?;
                self.expect("]")?;
                node = Node::Index(Box::new(node), Box::new(index));
            } else {
                return Ok(node);
            }
        }
    }

    fn term(&mut self) -> Result<Node, String> {
        let token = self
            .peek()
            .cloned()
            .ok_or_else(|| String::from("ends too early"))?;
        self.at += 1;
        Ok(match token {
            Token::Number(number) => Node::Number(number),
            Token::Str(text) => Node::Str(text),
            Token::Constant(name) => Node::Constant(name),
            Token::Ident(name) if name == "true" || name == "false" => Node::Bool(name == "true"),
            Token::Ident(name) => {
                let arguments = self.arguments()?;
                Node::Path {
                    base: None,
                    name,
                    arguments,
                }
            }
            Token::Symbol("(") => {
                let inner = self.binary(0)?;
                self.expect(")")?;
                inner
            }
            Token::Symbol("{") => {
                self.expect("}")?;
                Node::Empty
            }
            Token::Symbol(symbol) => return Err(format!("has '{symbol}' where a value belongs")),
        })
    }
}

fn parse(source: &str) -> Result<Node, String> {
    let tokens = lex(source)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let node = parser.binary(0)?;
    if parser.at != parser.tokens.len() {
        return Err(String::from("has text after the end of the expression"));
    }
    Ok(node)
}

/// What a translation may read: the items by linkId, the variables in scope (innermost
/// last), and each item's choice scores.
pub(crate) struct Scope<'a> {
    pub questions: &'a HashMap<String, Question>,
    pub variables: &'a [(String, Expr)],
    pub scores: &'a HashMap<String, Vec<(String, f64)>>,
}

/// Translates FHIRPath `source` into a Hale expression, or says which construct it cannot.
pub(crate) fn translate(source: &str, scope: &Scope) -> Result<Expr, String> {
    let node = parse(source).map_err(|message| format!("FHIRPath {message}"))?;
    let expr = lower(&node, scope, 0)?;
    expr.validate()
        .map_err(|message| format!("FHIRPath translates to an invalid expression: {message}"))?;
    Ok(expr)
}

/// The steps of a path from its root: (name, arguments) with indexes as `[`.
fn steps(node: &Node, out: &mut Vec<(String, Option<Vec<Node>>)>) -> Option<()> {
    match node {
        Node::Path {
            base,
            name,
            arguments,
        } => {
            if let Some(base) = base {
                steps(base, out)?;
            }
            out.push((name.clone(), arguments.clone()));
            Some(())
        }
        Node::Constant(name) => {
            out.push((format!("%{name}"), None));
            Some(())
        }
        Node::Index(base, _) => {
            steps(base, out)?;
            out.push((String::from("["), None));
            Some(())
        }
        _ => None,
    }
}

/// `where(linkId = 'x')` → `x`.
fn link_id_filter(arguments: Option<&Vec<Node>>) -> Option<String> {
    let [Node::Binary(operator, left, right)] = arguments?.as_slice() else {
        return None;
    };
    match (operator.as_str(), left.as_ref(), right.as_ref()) {
        (
            "=",
            Node::Path {
                base: None,
                name,
                arguments: None,
            },
            Node::Str(id),
        )
        | (
            "=",
            Node::Str(id),
            Node::Path {
                base: None,
                name,
                arguments: None,
            },
        ) if name == "linkId" => Some(id.clone()),
        _ => None,
    }
}

/// An answer path or a score look-up, when `node` is one.
fn answer_reference(node: &Node, scope: &Scope) -> Option<Result<Expr, String>> {
    let mut path = Vec::new();
    steps(node, &mut path)?;
    let (root, _) = path.first()?;
    let filter = path.iter().rposition(|(name, arguments)| {
        name == "where" && link_id_filter(arguments.as_ref()).is_some()
    })?;
    let link_id = link_id_filter(path[filter].1.as_ref())?;
    let Some(question) = scope.questions.get(&link_id) else {
        return Some(Err(format!(
            "FHIRPath reads item '{link_id}', which is not in the Questionnaire"
        )));
    };
    let field = Expr::Field {
        name: question.name.clone(),
    };
    if root == "%questionnaire" {
        let scored = path.iter().any(|(name, _)| name == "answerOption")
            && path
                .last()
                .is_some_and(|(name, _)| name == "valueDecimal" || name == "valueInteger");
        if !scored {
            return Some(Err(String::from(
                "FHIRPath reads the Questionnaire itself beyond choice scores",
            )));
        }
        let Some(scores) = scope
            .scores
            .get(&link_id)
            .filter(|scores| !scores.is_empty())
        else {
            return Some(Err(format!(
                "FHIRPath reads choice scores of item '{link_id}', whose options have none"
            )));
        };
        let mut expr = Expr::String {
            value: String::new(),
        };
        for (code, score) in scores.iter().rev() {
            let number = Expr::Number { value: score.abs() };
            let number = if *score < 0.0 {
                Expr::Negate {
                    operand: Box::new(number),
                }
            } else {
                number
            };
            expr = call(
                Function::If,
                vec![
                    binary(
                        BinaryOperator::Equal,
                        field.clone(),
                        Expr::String {
                            value: code.clone(),
                        },
                    ),
                    number,
                    expr,
                ],
            );
        }
        return Some(Ok(expr));
    }
    let before_ok = path[..filter].iter().enumerate().all(|(index, (name, arguments))| {
        match (index, name.as_str()) {
            (0, "%resource" | "%context" | "item") => true,
            (0, _) => false,
            (_, "item" | "[" | "descendants" | "first") => true,
            (_, "repeat") => arguments.as_ref().is_some_and(|arguments| {
                matches!(arguments.as_slice(), [Node::Path { base: None, name, arguments: None }] if name == "item")
            }),
            _ => false,
        }
    });
    let after: Vec<&str> = path[filter + 1..]
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    let after_ok = match after.as_slice() {
        ["answer", rest @ ..] => {
            let rest = match rest {
                ["[" | "first", rest @ ..] => rest,
                rest => rest,
            };
            matches!(
                rest,
                [value] | [value, "code"] if value.starts_with("value")
            )
        }
        _ => false,
    };
    if !after_ok {
        // Perhaps an answer path with a function after it, read by the caller.
        return None;
    }
    if !before_ok {
        return Some(Err(String::from(
            "FHIRPath path is not an answer path (%resource.item.where(linkId='x').answer.value)",
        )));
    }
    if question.field_type.is_container() {
        // A repeating question's answers are its rows; a group has none.
        return Some(Err(format!(
            "FHIRPath reads the answers of item '{link_id}', which is a group or repeats: not supported"
        )));
    }
    Some(Ok(field))
}

fn lower(node: &Node, scope: &Scope, depth: usize) -> Result<Expr, String> {
    if depth > MAX_DEPTH {
        return Err(format!("FHIRPath nests deeper than {MAX_DEPTH} levels"));
    }
    let lower_at = |node: &Node| lower(node, scope, depth + 1);
    if let Some(reference) = answer_reference(node, scope) {
        return reference;
    }
    Ok(match node {
        Node::Number(value) => Expr::Number { value: *value },
        Node::Str(value) => Expr::String {
            value: value.clone(),
        },
        Node::Bool(flag) => call(
            if *flag {
                Function::True
            } else {
                Function::False
            },
            Vec::new(),
        ),
        Node::Empty => Expr::String {
            value: String::new(),
        },
        Node::Constant(name) => scope
            .variables
            .iter()
            .rev()
            .find(|(variable, _)| variable == name)
            .map(|(_, expr)| expr.clone())
            .ok_or_else(|| match name.as_str() {
                "resource" | "questionnaire" | "context" | "patient" | "user" | "encounter" => {
                    format!(
                        "FHIRPath reads %{name} beyond an answer (launch context or resource data)"
                    )
                }
                other => format!("FHIRPath names variable %{other}, which is not defined here"),
            })?,
        Node::Negate(operand) => Expr::Negate {
            operand: Box::new(lower_at(operand)?),
        },
        Node::Binary(operator, left, right) => {
            let (left, right) = (lower_at(left)?, lower_at(right)?);
            let simple = match operator.as_str() {
                "=" => Some(BinaryOperator::Equal),
                "!=" => Some(BinaryOperator::NotEqual),
                "<" => Some(BinaryOperator::Less),
                "<=" => Some(BinaryOperator::LessOrEqual),
                ">" => Some(BinaryOperator::Greater),
                ">=" => Some(BinaryOperator::GreaterOrEqual),
                "+" => Some(BinaryOperator::Add),
                "-" => Some(BinaryOperator::Subtract),
                "*" => Some(BinaryOperator::Multiply),
                "/" => Some(BinaryOperator::Divide),
                "mod" => Some(BinaryOperator::Modulo),
                "and" => Some(BinaryOperator::And),
                "or" => Some(BinaryOperator::Or),
                _ => None,
            };
            match (simple, operator.as_str()) {
                (Some(operator), _) => binary(operator, left, right),
                (None, "div") => call(
                    Function::Int,
                    vec![binary(BinaryOperator::Divide, left, right)],
                ),
                (None, "&") => call(Function::Concat, vec![left, right]),
                (None, "implies") => {
                    binary(BinaryOperator::Or, call(Function::Not, vec![left]), right)
                }
                (None, "contains") if matches!(left, Expr::Field { .. }) => {
                    call(Function::Selected, vec![left, right])
                }
                (None, other) => {
                    return Err(format!("FHIRPath operator '{other}' is not supported"));
                }
            }
        }
        Node::Index(..) => {
            return Err(String::from(
                "FHIRPath indexes something other than an answer",
            ));
        }
        Node::Path {
            base: None,
            name,
            arguments,
        } => {
            let arguments = arguments
                .as_ref()
                .ok_or_else(|| format!("FHIRPath reads '{name}' outside an answer path"))?;
            let lowered = arguments
                .iter()
                .map(lower_at)
                .collect::<Result<Vec<_>, _>>()?;
            match (name.as_str(), lowered.len()) {
                ("iif", 2 | 3) => {
                    let mut lowered = lowered;
                    if lowered.len() == 2 {
                        lowered.push(Expr::String {
                            value: String::new(),
                        });
                    }
                    call(Function::If, lowered)
                }
                ("today", 0) => call(Function::Today, lowered),
                ("now", 0) => call(Function::Now, lowered),
                (other, _) => {
                    return Err(format!("FHIRPath function '{other}' is not supported"));
                }
            }
        }
        Node::Path {
            base: Some(base),
            name,
            arguments,
        } => {
            let target = lower_at(base)?;
            let arguments = arguments.as_deref().unwrap_or_default();
            let lowered = arguments
                .iter()
                .map(lower_at)
                .collect::<Result<Vec<_>, _>>()?;
            let multiple = |expr: &Expr| match expr {
                Expr::Field { name } => scope
                    .questions
                    .values()
                    .any(|question| question.name == *name && question.field_type.lists_choices()),
                _ => false,
            };
            match (name.as_str(), lowered.len()) {
                ("exists", 0) => answered(target),
                ("empty", 0) => call(Function::Not, vec![answered(target)]),
                ("not", 0) => call(Function::Not, vec![target]),
                ("first", 0) => target,
                ("count", 0) if multiple(&target) => call(Function::CountSelected, vec![target]),
                ("count", 0) => call(
                    Function::If,
                    vec![
                        answered(target),
                        Expr::Number { value: 1.0 },
                        Expr::Number { value: 0.0 },
                    ],
                ),
                ("sum", 0) if matches!(target, Expr::Field { .. }) => {
                    call(Function::Sum, vec![target])
                }
                ("toString", 0) => call(Function::String, vec![target]),
                ("toDecimal", 0) => call(Function::Number, vec![target]),
                ("toInteger", 0) => call(Function::Int, vec![call(Function::Number, vec![target])]),
                ("length", 0) => call(Function::StringLength, vec![target]),
                ("round", 0 | 1) => {
                    let mut arguments = vec![target];
                    arguments.extend(lowered);
                    call(Function::Round, arguments)
                }
                (other, _) => {
                    return Err(format!(
                        "FHIRPath function '{other}()' is not supported here"
                    ));
                }
            }
        }
    })
}

/// What the FHIRPath printer needs of a field: its linkId and whether its answer is a Coding.
pub(crate) struct Answer {
    pub link_id: String,
    pub coded: bool,
}

/// `expr` as FHIRPath over the QuestionnaireResponse, when every part of it has one.
pub(crate) fn to_fhirpath(expr: &Expr, answers: &HashMap<String, Answer>) -> Option<String> {
    print(expr, answers, 0)
}

fn quote(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out.push('\'');
    out
}

fn print(expr: &Expr, answers: &HashMap<String, Answer>, depth: usize) -> Option<String> {
    if depth > hale_expr::MAX_TREE_DEPTH {
        return None;
    }
    let inner = |expr: &Expr| print(expr, answers, depth + 1);
    Some(match expr {
        Expr::Number { value } => format_number(*value),
        Expr::String { value } => quote(value),
        Expr::Field { name } => {
            let answer = answers.get(name)?;
            format!(
                "%resource.repeat(item).where(linkId = {}).answer.value{}",
                quote(&answer.link_id),
                if answer.coded { ".code" } else { "" }
            )
        }
        // A choice filter's member is made a constant per option before translating.
        Expr::Current | Expr::Attribute { .. } => return None,
        Expr::Negate { operand } => format!("-({})", inner(operand)?),
        Expr::Binary {
            operator,
            left,
            right,
        } => {
            let symbol = match operator {
                BinaryOperator::Divide => "/",
                other => other.symbol(),
            };
            format!("({} {symbol} {})", inner(left)?, inner(right)?)
        }
        Expr::Call {
            function,
            arguments,
        } => {
            let all = arguments.iter().map(inner).collect::<Option<Vec<_>>>()?;
            match (function, all.as_slice()) {
                (Function::True, []) => String::from("true"),
                (Function::False, []) => String::from("false"),
                (Function::Today, []) => String::from("today()"),
                (Function::Now, []) => String::from("now()"),
                (Function::Not, [x]) => format!("({x}).not()"),
                (Function::If, [c, a, b]) => format!("iif({c}, {a}, {b})"),
                (Function::Selected, [s, v]) => format!("({s} contains {v})"),
                (Function::CountSelected | Function::Count, [s]) => format!("({s}).count()"),
                (Function::Sum, [s]) => format!("({s}).sum()"),
                (Function::StringLength, [s]) => format!("({s}).length()"),
                (Function::String, [s]) => format!("({s}).toString()"),
                (Function::Number, [s]) => format!("({s}).toDecimal()"),
                (Function::Int, [s]) => format!("({s}).truncate()"),
                (Function::Round, [s]) => format!("({s}).round()"),
                (Function::Round, [s, d]) => format!("({s}).round({d})"),
                (Function::Coalesce, [a, b]) => format!("iif(({a}).exists(), {a}, {b})"),
                (Function::Concat, parts) if !parts.is_empty() => {
                    format!("({})", parts.join(" & "))
                }
                _ => return None,
            }
        }
    })
}

/// Whether a select's answers are Codings in FHIR (coded choices).
pub(crate) fn coded(field_type: FieldType, choice_type: Option<ChoiceType>) -> bool {
    field_type.is_select() && choice_type.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn questions() -> HashMap<String, Question> {
        let question = |name: &str, field_type| Question {
            name: name.to_owned(),
            field_type,
            choice_type: None,
            choices: Vec::new(),
        };
        HashMap::from([
            ("/w".to_owned(), question("_w", FieldType::Decimal)),
            ("h".to_owned(), question("h", FieldType::Decimal)),
            ("m".to_owned(), question("m", FieldType::SelectMultiple)),
            ("c".to_owned(), question("c", FieldType::SelectOne)),
        ])
    }

    fn run(source: &str, variables: &[(String, Expr)]) -> Result<String, String> {
        let questions = questions();
        let scores = HashMap::from([(
            "c".to_owned(),
            vec![("a".to_owned(), 1.0), ("b".to_owned(), -2.0)],
        )]);
        let scope = Scope {
            questions: &questions,
            variables,
            scores: &scores,
        };
        translate(source, &scope).map(|expr| expr.to_string())
    }

    #[test]
    fn answer_paths_become_fields() {
        let cases = [
            ("%resource.item.where(linkId='/w').answer.value", "${_w}"),
            (
                "%resource.item[0].item.where(linkId = 'h').answer[0].valueDecimal * 2",
                "${h} * 2",
            ),
            (
                "%resource.repeat(item).where(linkId='c').answer.value.code = 'a'",
                "${c} = 'a'",
            ),
            (
                "item.where(linkId='h').answer.first().value > 1.5",
                "${h} > 1.5",
            ),
            (
                "%resource.item.where(linkId='h').answer.value.exists()",
                "string-length(string(${h})) > 0",
            ),
            (
                "iif(%resource.item.where(linkId='h').answer.value.empty(), 0, 1)",
                "if(not(string-length(string(${h})) > 0), 0, 1)",
            ),
            (
                "%resource.item.where(linkId='m').answer.value.count()",
                "count-selected(${m})",
            ),
            ("today()", "today()"),
            ("'a' & 'b'", "concat('a', 'b')"),
            ("7 div 2", "int(7 div 2)"),
            ("true implies false", "not(true()) or false()"),
            (
                "%resource.item.where(linkId='m').answer.value.code contains 'x'",
                "selected(${m}, 'x')",
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(run(source, &[]).as_deref(), Ok(expected), "{source}");
        }
    }

    #[test]
    fn variables_are_inlined_and_scores_looked_up() {
        let variables = vec![("a".to_owned(), hale_expr::parse("${h} + 1").unwrap())];
        assert_eq!(run("%a * 2", &variables).as_deref(), Ok("(${h} + 1) * 2"));
        assert_eq!(
            run("%questionnaire.item.where(linkId = 'c').answerOption.where(valueCoding.code=%resource.item.where(linkId = 'c').answer.valueCoding.code).extension.where(url='http://hl7.org/fhir/StructureDefinition/itemWeight').valueDecimal", &[]).as_deref(),
            Ok("if(${c} = 'a', 1, if(${c} = 'b', -2, ''))")
        );
    }

    #[test]
    fn refusals_name_the_construct() {
        for (source, needle) in [
            ("%patient.birthDate", "%patient"),
            ("%nope + 1", "%nope"),
            ("%resource.item.where(linkId='zz').answer.value", "'zz'"),
            ("('a').combine('b')", "combine"),
            ("1 ~ 2", "'~'"),
            ("(((", "ends too early"),
            ("'open", "unterminated"),
            ("Observation.value", "outside an answer path"),
        ] {
            let error = run(source, &[]).unwrap_err();
            assert!(error.contains(needle), "{source}: {error}");
        }
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(run(&deep, &[]).unwrap_err().contains("deeper"));
        assert!(run(&"1+".repeat(3000), &[]).unwrap_err().contains("longer"));
    }

    #[test]
    fn hale_expressions_print_as_fhirpath_that_reads_back() {
        let answers = HashMap::from([
            (
                "h".to_owned(),
                Answer {
                    link_id: "h".to_owned(),
                    coded: false,
                },
            ),
            (
                "c".to_owned(),
                Answer {
                    link_id: "c".to_owned(),
                    coded: true,
                },
            ),
        ]);
        for source in [
            "${h} * 2 + 1 > 3 and ${c} = 'a'",
            "if(${h} > 1, 'x', 'y')",
            "not(${h} = 2)",
        ] {
            let expr = hale_expr::parse(source).unwrap();
            let fhirpath = to_fhirpath(&expr, &answers).unwrap();
            let back = run(&fhirpath, &[]).unwrap();
            assert_eq!(hale_expr::parse(&back).unwrap(), expr, "{fhirpath}");
        }
        assert_eq!(to_fhirpath(&Expr::Current, &answers), None);
    }

    proptest! {
        #[test]
        fn translation_never_panics(source in "[%a-z0-9'().,\\[\\]=<>!+*/&| -]{0,200}") {
            let _ = run(&source, &[]);
        }

        #[test]
        fn translation_never_panics_on_any_text(source in "\\PC{0,300}") {
            let _ = run(&source, &[]);
        }
    }
}
