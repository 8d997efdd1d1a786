//! SDC `answerOptionsToggleExpression`s of a Questionnaire Hale did not write, read as one Hale
//! choice filter: the options a toggle lists are offered when its FHIRPath is true (an empty
//! result is false, as SDC says), and the options no toggle lists always are.

use hale_expr::{BinaryOperator, Expr, Function};
use serde_json::{Map, Value};

use super::{Importer, option_summary};
use crate::definition::{Choice, Field};
use crate::questionnaire::{binary, call};

const WHAT: &str = "answerOptionsToggleExpression";

fn or_all(terms: Vec<Expr>) -> Option<Expr> {
    terms
        .into_iter()
        .reduce(|left, right| binary(BinaryOperator::Or, left, right))
}

/// `name = 'a' or name = 'b' …`: the choice is one of `values`.
fn one_of(values: &[String]) -> Option<Expr> {
    or_all(
        values
            .iter()
            .map(|value| {
                binary(
                    BinaryOperator::Equal,
                    Expr::Attribute {
                        name: String::from("name"),
                    },
                    Expr::String {
                        value: value.clone(),
                    },
                )
            })
            .collect(),
    )
}

impl Importer {
    /// The choice filter the item's toggles say, over the choices already read into `field`.
    pub(super) fn toggles_filter(
        &self,
        toggles: &[&Value],
        field: &Field,
    ) -> Result<String, String> {
        let mut listed: Vec<String> = Vec::new();
        let mut terms = Vec::new();
        for toggle in toggles {
            let parts = toggle
                .get("extension")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("{WHAT} has no parts"))?;
            let mut values = Vec::new();
            let mut condition = None;
            for part in parts {
                match part.get("url").and_then(Value::as_str) {
                    Some("option") => values.push(self.toggled_choice(part, field)?),
                    Some("expression") if condition.is_none() => {
                        let source = self.expression_source(part, WHAT)?;
                        let expr = hale_expr::parse(&source)
                            .map_err(|_| format!("{WHAT} does not translate"))?;
                        condition = Some(expr);
                    }
                    _ => {
                        return Err(format!(
                            "{WHAT} has a part other than option and one expression"
                        ));
                    }
                }
            }
            let condition = condition.ok_or_else(|| format!("{WHAT} has no expression"))?;
            if values.iter().any(|value| listed.contains(value)) {
                return Err(format!(
                    "an option is listed by two {WHAT}s, which SDC leaves undefined"
                ));
            }
            let chosen = one_of(&values).ok_or_else(|| format!("{WHAT} lists no option"))?;
            terms.push(binary(BinaryOperator::And, chosen, condition));
            listed.extend(values);
        }
        // SDC: an option no toggle lists is always offered.
        if self
            .choices_of(field)
            .iter()
            .any(|choice| !listed.contains(&choice.value))
            && let Some(listed) = one_of(&listed)
        {
            terms.push(call(Function::Not, vec![listed]));
        }
        let filter = or_all(terms).ok_or_else(|| format!("{WHAT} lists no option"))?;
        Ok(filter.to_string())
    }

    /// The field's choices: its own, or its list's.
    fn choices_of<'a>(&'a self, field: &'a Field) -> &'a [Choice] {
        self.named_choices(field).unwrap_or(&field.choices)
    }

    /// The value of the item's choice a toggle's `option` part names.
    fn toggled_choice(&self, part: &Value, field: &Field) -> Result<String, String> {
        let option: Map<String, Value> = part
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, _)| key.starts_with("value"))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let (value, text, _) = option_summary(&Value::Object(option))
            .ok_or_else(|| format!("{WHAT} has an option that is not a value"))?;
        self.choices_of(field)
            .iter()
            .find(|choice| choice.value == value || choice.value == text)
            .map(|choice| choice.value.clone())
            .ok_or_else(|| format!("{WHAT} lists an option the item does not offer"))
    }
}
