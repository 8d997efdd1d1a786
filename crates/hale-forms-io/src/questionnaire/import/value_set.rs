//! Contained ValueSets: the codes a `contained` ValueSet lists (its `expansion.contains`, else
//! its `compose.include.concept`) become the `answerOption`s of every item whose
//! `answerValueSet` names it (`#id`, or the ValueSet's own `url`), before the items are read.
//! A value set Hale would have to expand (include filters, other value sets, exclusions) or
//! fetch (a canonical URL not contained) is refused by the item reading it. A contained Binary
//! (an image that only display-only rendering shows) is dropped with a note.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::{INVALID, Importer, MAX_ITEM_DEPTH, UNSUPPORTED, error};
use crate::definition::DefinitionError;

/// The options of each readable contained ValueSet, with their size as JSON text, by every
/// name an `answerValueSet` may use for it (`#id`, `url`).
#[derive(Default)]
pub(super) struct ValueSets {
    options: HashMap<String, (Vec<Value>, usize)>,
}

/// Most bytes (as JSON text) of options contained ValueSets may give all items together: every
/// item naming a set gets its own copy, so a large set named by many items is refused rather
/// than copied without bound.
pub const MAX_COPIED_VALUE_SET_BYTES: usize = 16 * 1024 * 1024;

/// Members of a code in an expansion or a compose that carry the code.
const CODE_MEMBERS: [&str; 5] = ["system", "version", "code", "display", "_display"];

impl Importer {
    /// Reads the `contained` member: its ValueSets, and a note for each Binary (an image that
    /// only display-only rendering shows); any other resource is refused.
    pub(super) fn contained(&mut self, contained: &Value) -> ValueSets {
        let mut sets = ValueSets::default();
        let Some(resources) = contained.as_array() else {
            self.errors.push(error(
                "$.contained",
                INVALID,
                String::from("contained is not an array"),
            ));
            return sets;
        };
        let mut ids = HashSet::new();
        for (index, resource) in resources.iter().enumerate() {
            let path = format!("$.contained[{index}]");
            if let Some(id) = resource.get("id").and_then(Value::as_str)
                && !ids.insert(id)
            {
                self.errors.push(error(
                    &path,
                    INVALID,
                    String::from("two contained resources have one id"),
                ));
            }
            match resource.get("resourceType").and_then(Value::as_str) {
                Some("ValueSet") => sets.read(resource, &path, &mut self.errors),
                Some("Binary") => self.note(
                    &path,
                    "fhir_contained_dropped",
                    String::from(
                        "a contained Binary (an image for display-only rendering) is not kept",
                    ),
                ),
                _ => self.errors.push(error(
                    &path,
                    UNSUPPORTED,
                    String::from(
                        "a contained resource other than a ValueSet or a Binary is not supported (a contained ValueSet's codes become the options of the items naming it)",
                    ),
                )),
            }
        }
        sets
    }
}

impl ValueSets {
    /// Reads one contained ValueSet, reporting it when Hale cannot list its codes.
    fn read(&mut self, resource: &Value, path: &str, errors: &mut Vec<DefinitionError>) {
        let options = match options(resource) {
            Ok(options) => options,
            Err(message) => {
                errors.push(error(
                    path,
                    UNSUPPORTED,
                    format!("contained ValueSet: {message}"),
                ));
                return;
            }
        };
        let id = resource
            .get("id")
            .and_then(Value::as_str)
            .map(|id| format!("#{id}"));
        let url = resource
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let size = serde_json::to_string(&options).map_or(usize::MAX, |text| text.len());
        for name in [id, url].into_iter().flatten() {
            self.options.insert(name, (options.clone(), size));
        }
    }

    /// Gives every item naming a readable contained ValueSet its codes as `answerOption`; the
    /// error when they would be more than [`MAX_COPIED_VALUE_SET_BYTES`] in all (nothing more
    /// is worth reading then).
    pub(super) fn inline_all(&self, items: &mut [Value]) -> Result<(), DefinitionError> {
        let mut budget = MAX_COPIED_VALUE_SET_BYTES;
        self.inline(items, 0, &mut budget).map_err(|()| {
            error(
                "$.contained",
                UNSUPPORTED,
                format!(
                    "contained ValueSets give the items more than {MAX_COPIED_VALUE_SET_BYTES} bytes of options in all"
                ),
            )
        })
    }

    fn inline(&self, items: &mut [Value], depth: usize, budget: &mut usize) -> Result<(), ()> {
        if depth > MAX_ITEM_DEPTH || self.options.is_empty() {
            return Ok(());
        }
        for item in items {
            let Some(object) = item.as_object_mut() else {
                continue;
            };
            let named = object
                .get("answerValueSet")
                .and_then(Value::as_str)
                .and_then(|name| self.options.get(name));
            if let Some((options, size)) = named
                && !object.contains_key("answerOption")
            {
                *budget = budget.checked_sub(*size).ok_or(())?;
                let options = Value::Array(options.clone());
                object.remove("answerValueSet");
                object.insert("answerOption".into(), options);
            }
            if let Some(Value::Array(children)) = object.get_mut("item") {
                self.inline(children, depth + 1, budget)?;
            }
        }
        Ok(())
    }
}

/// A ValueSet's codes as `answerOption`s: its expansion when it has one, else its compose.
fn options(resource: &Value) -> Result<Vec<Value>, String> {
    if resource.get("modifierExtension").is_some() {
        return Err(String::from("modifierExtension is not supported"));
    }
    let mut options = Vec::new();
    if let Some(expansion) = resource.get("expansion") {
        let contains = expansion
            .get("contains")
            .ok_or_else(|| String::from("its expansion lists no codes (contains)"))?;
        expansion_options(contains, 0, &mut options)?;
    } else if let Some(compose) = resource.get("compose") {
        compose_options(compose, &mut options)?;
    } else {
        return Err(String::from(
            "it has neither an expansion nor a compose listing its codes",
        ));
    }
    if options.is_empty() {
        return Err(String::from("it lists no codes"));
    }
    Ok(options)
}

/// `expansion.contains`, nested entries included; an `abstract` entry only groups others.
fn expansion_options(contains: &Value, depth: usize, out: &mut Vec<Value>) -> Result<(), String> {
    if depth > MAX_ITEM_DEPTH {
        return Err(format!(
            "its expansion nests deeper than {MAX_ITEM_DEPTH} levels"
        ));
    }
    let entries = contains
        .as_array()
        .ok_or_else(|| String::from("expansion.contains is not an array"))?;
    for entry in entries {
        let object = members(
            entry,
            "an expansion entry",
            &[
                &CODE_MEMBERS[..],
                &["id", "extension", "contains", "abstract"],
            ]
            .concat(),
            "",
        )?;
        if object.get("abstract") != Some(&Value::Bool(true)) {
            out.push(option(object, None)?);
        }
        if let Some(nested) = object.get("contains") {
            expansion_options(nested, depth + 1, out)?;
        }
    }
    Ok(())
}

/// `compose.include[].concept[]`, each in its include's system; anything that needs a
/// terminology server to expand is refused.
fn compose_options(compose: &Value, out: &mut Vec<Value>) -> Result<(), String> {
    let compose = members(
        compose,
        "compose",
        &["id", "include", "lockedDate", "inactive"],
        " (Hale reads listed concepts only)",
    )?;
    let includes = compose
        .get("include")
        .and_then(Value::as_array)
        .ok_or_else(|| String::from("compose has no include list"))?;
    for include in includes {
        let include = members(
            include,
            "a compose include",
            &["id", "system", "version", "concept"],
            ": it needs a terminology server to expand, which Hale does not use",
        )?;
        let concepts = include.get("concept").and_then(Value::as_array).ok_or_else(|| {
            String::from(
                "a compose include without concepts (a whole code system) needs a terminology server to expand",
            )
        })?;
        for concept in concepts {
            let concept = members(
                concept,
                "a compose concept",
                &["id", "code", "display", "_display", "extension"],
                "",
            )?;
            out.push(option(concept, Some(include))?);
        }
    }
    Ok(())
}

/// `value` as an object with only the `allowed` members; `what` names it, `why` says why
/// another member is refused.
fn members<'a>(
    value: &'a Value,
    what: &str,
    allowed: &[&str],
    why: &str,
) -> Result<&'a Map<String, Value>, String> {
    let object = value
        .as_object()
        .ok_or_else(|| format!("{what} is not an object"))?;
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(other) => Err(format!(
            "{what} has member '{other}', which is not supported{why}"
        )),
        None => Ok(object),
    }
}

/// One code as an `answerOption`: a `valueCoding` of its system, version, code and display,
/// its extensions (a score, display-only ones) on the option, where Hale reads them.
fn option(
    entry: &Map<String, Value>,
    include: Option<&Map<String, Value>>,
) -> Result<Value, String> {
    if !entry.get("code").is_some_and(Value::is_string) {
        return Err(String::from("a code of the value set has no code"));
    }
    let mut coding = Map::new();
    for member in CODE_MEMBERS {
        let value = entry.get(member).or_else(|| match member {
            "system" | "version" => include.and_then(|include| include.get(member)),
            _ => None,
        });
        if let Some(value) = value {
            coding.insert(member.into(), value.clone());
        }
    }
    let mut option = Map::new();
    option.insert("valueCoding".into(), Value::Object(coding));
    if let Some(extensions) = entry.get("extension") {
        option.insert("extension".into(), extensions.clone());
    }
    Ok(json!(option))
}
