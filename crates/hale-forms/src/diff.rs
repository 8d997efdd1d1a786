//! What changed between two versions of an app, field by field, for the reviewer: fields added,
//! removed, or changed (with the members that differ), and app-level members that differ.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::definition::{AppDefinition, Field};

/// One difference between two versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The field name, or `$` for the app itself.
    pub field: String,
    /// `added`, `removed` or `changed`.
    pub kind: &'static str,
    /// For `changed`: the members whose values differ, sorted.
    pub members: Vec<String>,
}

fn members(value: Value) -> BTreeMap<String, Value> {
    match value {
        Value::Object(map) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

fn changed_members(before: Value, after: Value) -> Vec<String> {
    let (before, after) = (members(before), members(after));
    let mut names: Vec<String> = before.keys().chain(after.keys()).cloned().collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| before.get(name) != after.get(name))
        .collect()
}

/// Every field with the names of its groups and repeats and its own, outermost first.
fn named_fields<'a>(
    fields: &'a [Field],
    outer: &[&'a str],
    out: &mut Vec<(Vec<&'a str>, &'a Field)>,
) {
    for field in fields {
        let mut names = outer.to_vec();
        names.push(field.name.as_str());
        named_fields(&field.children, &names, out);
        out.push((names, field));
    }
}

/// Compares two definitions. Fields are matched by name, so a moved field shows as a change
/// of nothing, and a renamed one as removed plus added; a name that several fields of an app
/// share (in different groups or repeats) is matched by its place, `group/…/name`.
pub fn diff(before: &AppDefinition, after: &AppDefinition) -> Vec<Change> {
    let fields = |app: &AppDefinition| -> BTreeMap<String, Value> {
        let mut all = Vec::new();
        named_fields(&app.fields, &[], &mut all);
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, field) in &all {
            *count.entry(field.name.as_str()).or_default() += 1;
        }
        all.iter()
            .map(|(names, field)| {
                let mut value = serde_json::to_value(field).unwrap_or(Value::Null);
                // Children are compared as fields of their own.
                if let Value::Object(map) = &mut value {
                    map.remove("children");
                }
                let key = if count.get(field.name.as_str()).copied().unwrap_or(0) > 1 {
                    names.join("/")
                } else {
                    field.name.clone()
                };
                (key, value)
            })
            .collect()
    };
    let app_members = |app: &AppDefinition| -> Value {
        let mut value = serde_json::to_value(app).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("fields");
        }
        value
    };
    let mut changes = Vec::new();
    let app_changes = changed_members(app_members(before), app_members(after));
    if !app_changes.is_empty() {
        changes.push(Change {
            field: String::from("$"),
            kind: "changed",
            members: app_changes,
        });
    }
    let (old, new) = (fields(before), fields(after));
    for (name, value) in &old {
        match new.get(name) {
            None => changes.push(Change {
                field: name.clone(),
                kind: "removed",
                members: Vec::new(),
            }),
            Some(other) if other != value => changes.push(Change {
                field: name.clone(),
                kind: "changed",
                members: changed_members(value.clone(), other.clone()),
            }),
            Some(_) => {}
        }
    }
    for name in new.keys().filter(|name| !old.contains_key(*name)) {
        changes.push(Change {
            field: name.clone(),
            kind: "added",
            members: Vec::new(),
        });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_removed_and_changed_fields_are_reported() {
        let before = AppDefinition::from_json(
            r#"{"title":"A","fields":[
                {"name":"hr","type":"integer","label":"HR","min":20,"max":300},
                {"name":"gone","type":"text","label":"G"}]}"#,
        )
        .unwrap();
        let after = AppDefinition::from_json(
            r#"{"title":"B","fields":[
                {"name":"hr","type":"integer","label":"Heart rate","min":20,"max":250},
                {"name":"new","type":"boolean","label":"N"}]}"#,
        )
        .unwrap();
        let changes = diff(&before, &after);
        let summary: Vec<(&str, &str, Vec<&str>)> = changes
            .iter()
            .map(|c| {
                (
                    c.field.as_str(),
                    c.kind,
                    c.members.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("$", "changed", vec!["title"]),
                ("gone", "removed", vec![]),
                ("hr", "changed", vec!["label", "max"]),
                ("new", "added", vec![]),
            ]
        );
        assert!(diff(&before, &before).is_empty());
    }

    #[test]
    fn a_shared_name_is_matched_by_its_place() {
        let app = |label: &str| {
            AppDefinition::from_json(&format!(
                r#"{{"title":"A","fields":[
                {{"name":"q","type":"integer","label":"Q"}},
                {{"name":"r","type":"repeat","label":"R","children":[{{"name":"q","type":"integer","label":"{label}"}}]}}]}}"#
            ))
            .unwrap()
        };
        let changes = diff(&app("Q"), &app("Row Q"));
        let summary: Vec<(&str, &str)> =
            changes.iter().map(|c| (c.field.as_str(), c.kind)).collect();
        assert_eq!(summary, [("r/q", "changed")]);
    }
}
