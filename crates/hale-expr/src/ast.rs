//! The parsed expression tree: the compiled form that is stored as JSON and shipped to the
//! browser. Its serde shape is part of Hale's stable contract (see the crate docs).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// A parsed expression. Serialised with an `"op"` tag; see the crate docs for the JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Expr {
    /// A non-negative finite decimal literal (a minus sign parses as [`Expr::Negate`]).
    Number {
        value: f64,
    },
    String {
        value: String,
    },
    /// `${name}`.
    Field {
        name: String,
    },
    /// `.`, the value of the field the expression belongs to.
    Current,
    /// A bare name in a choice filter: a member of the choice being filtered (`name` is its
    /// value, `label` its label, any other name one of its attributes).
    Attribute {
        name: String,
    },
    Negate {
        operand: Box<Expr>,
    },
    Binary {
        operator: BinaryOperator,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Call {
        function: Function,
        arguments: Vec<Expr>,
    },
}

/// Binary operators, serialised as their XLSForm spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryOperator {
    #[serde(rename = "or")]
    Or,
    #[serde(rename = "and")]
    And,
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = "<")]
    Less,
    #[serde(rename = "<=")]
    LessOrEqual,
    #[serde(rename = ">")]
    Greater,
    #[serde(rename = ">=")]
    GreaterOrEqual,
    #[serde(rename = "+")]
    Add,
    #[serde(rename = "-")]
    Subtract,
    #[serde(rename = "*")]
    Multiply,
    #[serde(rename = "div")]
    Divide,
    #[serde(rename = "mod")]
    Modulo,
}

impl BinaryOperator {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Or => "or",
            Self::And => "and",
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Less => "<",
            Self::LessOrEqual => "<=",
            Self::Greater => ">",
            Self::GreaterOrEqual => ">=",
            Self::Add => "+",
            Self::Subtract => "-",
            Self::Multiply => "*",
            Self::Divide => "div",
            Self::Modulo => "mod",
        }
    }

    /// XPath binding strength: a higher number binds tighter. Unary minus is 7.
    pub fn precedence(self) -> u8 {
        match self {
            Self::Or => 1,
            Self::And => 2,
            Self::Equal | Self::NotEqual => 3,
            Self::Less | Self::LessOrEqual | Self::Greater | Self::GreaterOrEqual => 4,
            Self::Add | Self::Subtract => 5,
            Self::Multiply | Self::Divide | Self::Modulo => 6,
        }
    }
}

/// The supported functions, serialised as their XLSForm names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Function {
    #[serde(rename = "true")]
    True,
    #[serde(rename = "false")]
    False,
    #[serde(rename = "not")]
    Not,
    #[serde(rename = "if")]
    If,
    #[serde(rename = "selected")]
    Selected,
    #[serde(rename = "count-selected")]
    CountSelected,
    #[serde(rename = "today")]
    Today,
    #[serde(rename = "now")]
    Now,
    #[serde(rename = "regex")]
    Regex,
    #[serde(rename = "string-length")]
    StringLength,
    #[serde(rename = "round")]
    Round,
    #[serde(rename = "int")]
    Int,
    #[serde(rename = "coalesce")]
    Coalesce,
    #[serde(rename = "concat")]
    Concat,
    #[serde(rename = "number")]
    Number,
    #[serde(rename = "string")]
    String,
    #[serde(rename = "boolean")]
    Boolean,
    #[serde(rename = "date")]
    Date,
    #[serde(rename = "count")]
    Count,
    #[serde(rename = "sum")]
    Sum,
    #[serde(rename = "max")]
    Max,
    #[serde(rename = "min")]
    Min,
    /// `position(..)`: the 1-based number of the repeat row being evaluated.
    #[serde(rename = "position")]
    Position,
    #[serde(rename = "indexed-repeat")]
    IndexedRepeat,
    #[serde(rename = "once")]
    Once,
    /// `jr:choice-name(value, '${select}')`: the label of a choice; the second argument is
    /// kept as a field node.
    #[serde(rename = "jr:choice-name")]
    ChoiceName,
    #[serde(rename = "format-date")]
    FormatDate,
    #[serde(rename = "decimal-date-time")]
    DecimalDateTime,
    #[serde(rename = "boolean-from-string")]
    BooleanFromString,
    #[serde(rename = "uuid")]
    Uuid,
    #[serde(rename = "random")]
    Random,
    /// `pulldata(file, column, key_column, key)`: a column of the first row of a data file
    /// attached to the app version whose `key_column` holds `key` ([`crate::Env::pull_data`]).
    #[serde(rename = "pulldata")]
    PullData,
    #[serde(rename = "contains")]
    Contains,
    #[serde(rename = "starts-with")]
    StartsWith,
    #[serde(rename = "ends-with")]
    EndsWith,
}

impl Function {
    pub const ALL: [Self; 35] = [
        Self::True,
        Self::False,
        Self::Not,
        Self::If,
        Self::Selected,
        Self::CountSelected,
        Self::Today,
        Self::Now,
        Self::Regex,
        Self::StringLength,
        Self::Round,
        Self::Int,
        Self::Coalesce,
        Self::Concat,
        Self::Number,
        Self::String,
        Self::Boolean,
        Self::Date,
        Self::Count,
        Self::Sum,
        Self::Max,
        Self::Min,
        Self::Position,
        Self::IndexedRepeat,
        Self::Once,
        Self::ChoiceName,
        Self::FormatDate,
        Self::DecimalDateTime,
        Self::BooleanFromString,
        Self::Uuid,
        Self::Random,
        Self::PullData,
        Self::Contains,
        Self::StartsWith,
        Self::EndsWith,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::True => "true",
            Self::False => "false",
            Self::Not => "not",
            Self::If => "if",
            Self::Selected => "selected",
            Self::CountSelected => "count-selected",
            Self::Today => "today",
            Self::Now => "now",
            Self::Regex => "regex",
            Self::StringLength => "string-length",
            Self::Round => "round",
            Self::Int => "int",
            Self::Coalesce => "coalesce",
            Self::Concat => "concat",
            Self::Number => "number",
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Count => "count",
            Self::Sum => "sum",
            Self::Max => "max",
            Self::Min => "min",
            Self::Position => "position",
            Self::IndexedRepeat => "indexed-repeat",
            Self::Once => "once",
            Self::ChoiceName => "jr:choice-name",
            Self::FormatDate => "format-date",
            Self::DecimalDateTime => "decimal-date-time",
            Self::BooleanFromString => "boolean-from-string",
            Self::PullData => "pulldata",
            Self::Contains => "contains",
            Self::StartsWith => "starts-with",
            Self::EndsWith => "ends-with",
            Self::Uuid => "uuid",
            Self::Random => "random",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|function| function.name() == name)
    }

    /// The fewest and most arguments accepted; `None` means no upper bound.
    pub fn arity(self) -> (usize, Option<usize>) {
        match self {
            Self::True
            | Self::False
            | Self::Today
            | Self::Now
            | Self::Position
            | Self::Uuid
            | Self::Random => (0, Some(0)),
            Self::Count
            | Self::Sum
            | Self::Once
            | Self::DecimalDateTime
            | Self::BooleanFromString => (1, Some(1)),
            Self::Max | Self::Min => (1, None),
            Self::ChoiceName
            | Self::FormatDate
            | Self::Contains
            | Self::StartsWith
            | Self::EndsWith => (2, Some(2)),
            Self::PullData => (4, Some(4)),
            // A field, then a repeat and a row for each enclosing repeat given: 3, 5 or 7.
            Self::IndexedRepeat => (3, Some(7)),
            Self::Not
            | Self::CountSelected
            | Self::StringLength
            | Self::Int
            | Self::Number
            | Self::String
            | Self::Boolean
            | Self::Date => (1, Some(1)),
            Self::Round => (1, Some(2)),
            Self::Selected | Self::Regex | Self::Coalesce => (2, Some(2)),
            Self::If => (3, Some(3)),
            Self::Concat => (0, None),
        }
    }
}

impl Expr {
    /// Field names referenced through `${...}`, for dependency graphs and cycle detection.
    pub fn references(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        self.visit(&mut |node| {
            if let Self::Field { name } = node {
                names.insert(name.clone());
            }
        });
        names
    }

    /// The bare names of a choice filter: the members of the choice it reads.
    pub fn attributes(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        self.visit(&mut |node| {
            if let Self::Attribute { name } = node {
                names.insert(name.clone());
            }
        });
        names
    }

    /// The tree with every node for which `replace` gives a tree replaced by it (the node's
    /// own children are then not visited); other nodes are kept, their children rewritten.
    pub fn rewrite(&self, replace: &dyn Fn(&Self) -> Option<Self>) -> Self {
        if let Some(replaced) = replace(self) {
            return replaced;
        }
        let inner = |expr: &Self| Box::new(expr.rewrite(replace));
        match self {
            Self::Negate { operand } => Self::Negate {
                operand: inner(operand),
            },
            Self::Binary {
                operator,
                left,
                right,
            } => Self::Binary {
                operator: *operator,
                left: inner(left),
                right: inner(right),
            },
            Self::Call {
                function,
                arguments,
            } => Self::Call {
                function: *function,
                arguments: arguments
                    .iter()
                    .map(|argument| argument.rewrite(replace))
                    .collect(),
            },
            leaf => leaf.clone(),
        }
    }

    /// Field names read as one value, not as every row of a repeat: all references except the
    /// direct arguments of `count`, `sum`, `max`, `min` and the field and repeats of
    /// `indexed-repeat` (every argument but its rows), which read a repeat's rows from outside it.
    pub fn scalar_references(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        self.visit_scalar(&mut names);
        names
    }

    fn visit_scalar(&self, names: &mut BTreeSet<String>) {
        match self {
            Self::Field { name } => {
                names.insert(name.clone());
            }
            Self::Number { .. } | Self::String { .. } | Self::Current | Self::Attribute { .. } => {}
            Self::Negate { operand } => operand.visit_scalar(names),
            Self::Binary { left, right, .. } => {
                left.visit_scalar(names);
                right.visit_scalar(names);
            }
            Self::Call {
                function,
                arguments,
            } => {
                for (index, argument) in arguments.iter().enumerate() {
                    let reads_rows = match function {
                        Function::Count | Function::Sum | Function::Max | Function::Min => true,
                        Function::IndexedRepeat => index == 0 || index % 2 == 1,
                        _ => false,
                    };
                    if reads_rows && matches!(argument, Self::Field { .. }) {
                        continue;
                    }
                    argument.visit_scalar(names);
                }
            }
        }
    }

    /// The data files `pulldata()` names with a string literal, by stem (`'fruits'`), in
    /// order: what must be attached to the version for the expression to read anything.
    pub fn data_files_read(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        self.visit(&mut |node| {
            if let Self::Call {
                function: Function::PullData,
                arguments,
            } = node
                && let Some(Self::String { value }) = arguments.first()
            {
                names.insert(value.clone());
            }
        });
        names
    }

    /// Whether `.` appears, i.e. the expression reads the value of its own field.
    pub fn uses_current(&self) -> bool {
        let mut found = false;
        self.visit(&mut |node| found |= matches!(node, Self::Current));
        found
    }

    /// Whether the value depends on more than the fields it names: the clock (`now`,
    /// `today`), the submission's seed (`random`, `uuid`) or its own field (`.`, `once`).
    pub fn reads_beyond_fields(&self) -> bool {
        let mut found = false;
        self.visit(&mut |node| {
            found |= match node {
                Self::Current => true,
                Self::Call { function, .. } => matches!(
                    function,
                    Function::Now
                        | Function::Today
                        | Function::Random
                        | Function::Uuid
                        | Function::Once
                ),
                _ => false,
            }
        });
        found
    }

    /// Nodes on the longest path from the root to a leaf; a lone literal has depth 1.
    pub fn depth(&self) -> usize {
        match self {
            Self::Number { .. }
            | Self::String { .. }
            | Self::Field { .. }
            | Self::Current
            | Self::Attribute { .. } => 1,
            Self::Negate { operand } => 1 + operand.depth(),
            Self::Binary { left, right, .. } => 1 + left.depth().max(right.depth()),
            Self::Call { arguments, .. } => {
                1 + arguments.iter().map(Self::depth).max().unwrap_or(0)
            }
        }
    }

    /// Checks a tree that did not come straight from [`crate::parse`] (for example one read
    /// back from storage) against everything the parser guarantees: depth at most
    /// [`crate::MAX_TREE_DEPTH`], finite non-negative number literals, argument counts, and
    /// valid constant regex patterns. Walks with an explicit stack, so even a tree far too
    /// deep to evaluate is rejected without recursion.
    pub fn validate(&self) -> Result<(), String> {
        let mut pending = vec![(self, 1_usize)];
        while let Some((node, depth)) = pending.pop() {
            if depth > crate::MAX_TREE_DEPTH {
                return Err(format!("tree is deeper than {}", crate::MAX_TREE_DEPTH));
            }
            match node {
                Self::Number { value } if !value.is_finite() || *value < 0.0 => {
                    return Err(format!(
                        "number literal {value} is not finite and non-negative"
                    ));
                }
                Self::Number { .. }
                | Self::String { .. }
                | Self::Field { .. }
                | Self::Current
                | Self::Attribute { .. } => {}
                Self::Negate { operand } => pending.push((operand, depth + 1)),
                Self::Binary { left, right, .. } => {
                    pending.push((left, depth + 1));
                    pending.push((right, depth + 1));
                }
                Self::Call {
                    function,
                    arguments,
                } => {
                    let (minimum, maximum) = function.arity();
                    let count = arguments.len();
                    if count < minimum
                        || maximum.is_some_and(|maximum| count > maximum)
                        || (*function == Function::IndexedRepeat && count.is_multiple_of(2))
                    {
                        return Err(format!(
                            "function '{}' called with {count} arguments",
                            function.name()
                        ));
                    }
                    if let (Function::Regex, Some(Self::String { value })) =
                        (function, arguments.get(1))
                    {
                        crate::evaluate::compile_pattern(value)
                            .map_err(|message| format!("invalid regex pattern: {message}"))?;
                    }
                    pending.extend(arguments.iter().map(|argument| (argument, depth + 1)));
                }
            }
        }
        Ok(())
    }

    fn visit(&self, action: &mut dyn FnMut(&Self)) {
        action(self);
        match self {
            Self::Number { .. }
            | Self::String { .. }
            | Self::Field { .. }
            | Self::Current
            | Self::Attribute { .. } => {}
            Self::Negate { operand } => operand.visit(action),
            Self::Binary { left, right, .. } => {
                left.visit(action);
                right.visit(action);
            }
            Self::Call { arguments, .. } => {
                for argument in arguments {
                    argument.visit(action);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_round_trip() {
        for function in Function::ALL {
            assert_eq!(Function::from_name(function.name()), Some(function));
            let json = serde_json::to_string(&function).unwrap();
            assert_eq!(json, format!("\"{}\"", function.name()));
        }
        assert_eq!(Function::from_name("summ"), None);
    }

    #[test]
    fn json_shape_is_tagged_by_op() {
        let expr = Expr::Binary {
            operator: BinaryOperator::Add,
            left: Box::new(Expr::Field {
                name: String::from("age"),
            }),
            right: Box::new(Expr::Call {
                function: Function::CountSelected,
                arguments: vec![Expr::Current],
            }),
        };
        let json = serde_json::to_value(&expr).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "op": "binary",
                "operator": "+",
                "left": { "op": "field", "name": "age" },
                "right": { "op": "call", "function": "count-selected", "arguments": [{ "op": "current" }] }
            })
        );
        let back: Expr = serde_json::from_value(json).unwrap();
        assert_eq!(back, expr);
        assert_eq!(back.validate(), Ok(()));
        assert!(expr.uses_current());
        assert_eq!(expr.depth(), 3);
    }

    #[test]
    fn validation_rejects_what_the_parser_never_produces() {
        let call = |function, arguments| Expr::Call {
            function,
            arguments,
        };
        let number = |value| Expr::Number { value };
        assert!(number(-1.0).validate().is_err());
        assert!(number(f64::NAN).validate().is_err());
        assert!(call(Function::If, vec![number(1.0)]).validate().is_err());
        let bad_pattern = Expr::String {
            value: String::from("("),
        };
        assert!(
            call(Function::Regex, vec![Expr::Current, bad_pattern])
                .validate()
                .is_err()
        );
        let mut deep = number(1.0);
        for _ in 0..crate::MAX_TREE_DEPTH {
            deep = Expr::Negate {
                operand: Box::new(deep),
            };
        }
        assert!(deep.validate().is_err());
    }
}
