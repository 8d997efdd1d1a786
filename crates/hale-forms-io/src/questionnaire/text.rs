//! Texts: the default language's text in the FHIR string, every translation (the default
//! language's included, so that a one-language translated text stays translated) in the
//! standard `translation` extension on the primitive's `_` element.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{DISPLAY_ONLY_TEXT_EXTENSIONS, TRANSLATION, hale};
use crate::definition::Text;

/// Marks a translated text that has no text in the default language: the FHIR string then
/// holds the first translation and must not be read as the default language's.
const NO_DEFAULT_TEXT: &str = "no-default-language-text";

/// Writes `text` as `object[name]` and, when translated, `object["_" + name]`.
pub(crate) fn put_text(object: &mut Map<String, Value>, name: &str, text: &Text, language: &str) {
    match text {
        Text::Plain(plain) => {
            object.insert(name.to_owned(), json!(plain));
        }
        Text::Translated(map) => {
            let main = map
                .get(language)
                .or_else(|| map.values().next())
                .cloned()
                .unwrap_or_default();
            object.insert(name.to_owned(), json!(main));
            let mut extensions: Vec<Value> = map
                .iter()
                .map(|(lang, content)| {
                    json!({"url": TRANSLATION, "extension": [
                        {"url": "lang", "valueCode": lang},
                        {"url": "content", "valueString": content},
                    ]})
                })
                .collect();
            if !map.contains_key(language) {
                extensions.push(json!({"url": hale(NO_DEFAULT_TEXT), "valueBoolean": true}));
            }
            object.insert(format!("_{name}"), json!({ "extension": extensions }));
        }
    }
}

/// Reads `object[name]` and `object["_" + name]` back into a text. Errors are plain
/// sentences; the caller adds where.
pub(crate) fn get_text(
    object: &Map<String, Value>,
    name: &str,
    language: &str,
) -> Result<Option<Text>, String> {
    let main = match object.get(name) {
        None => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => return Err(format!("'{name}' is not a string")),
    };
    let Some(element) = object.get(&format!("_{name}")) else {
        return Ok(main.map(Text::Plain));
    };
    let element = element
        .as_object()
        .ok_or_else(|| format!("'_{name}' is not an object"))?;
    let mut translations = BTreeMap::new();
    let mut no_default = false;
    for (key, value) in element {
        match key.as_str() {
            "id" => {}
            "extension" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| format!("'_{name}.extension' is not an array"))?;
                for extension in list {
                    let url = extension.get("url").and_then(Value::as_str).unwrap_or("");
                    if url == TRANSLATION {
                        let (lang, content) = read_translation(extension)
                            .ok_or_else(|| format!("a translation of '{name}' is malformed"))?;
                        if translations.insert(lang.clone(), content).is_some() {
                            return Err(format!("'{name}' has two '{lang}' translations"));
                        }
                    } else if url == hale(NO_DEFAULT_TEXT) {
                        no_default = extension.get("valueBoolean") == Some(&Value::Bool(true));
                    } else if !DISPLAY_ONLY_TEXT_EXTENSIONS.contains(&url) {
                        return Err(format!(
                            "extension '{url}' on '{name}' is not supported (only translations and display-only rendering extensions are)"
                        ));
                    }
                }
            }
            other => return Err(format!("'_{name}.{other}' is not supported")),
        }
    }
    if translations.is_empty() {
        return Ok(main.map(Text::Plain));
    }
    if !no_default && let Some(main) = main {
        translations.entry(language.to_owned()).or_insert(main);
    }
    Ok(Some(Text::Translated(translations)))
}

fn read_translation(extension: &Value) -> Option<(String, String)> {
    let parts = extension.get("extension")?.as_array()?;
    let mut lang = None;
    let mut content = None;
    for part in parts {
        match part.get("url")?.as_str()? {
            "lang" => lang = Some(part.get("valueCode")?.as_str()?.to_owned()),
            "content" => content = Some(part.get("valueString")?.as_str()?.to_owned()),
            _ => return None,
        }
    }
    Some((lang?, content?))
}
