//! Namespace content checked against its format: an invalid JSON, YAML or XML document is
//! refused with where it is wrong. (Item keys and sizes are checked by the store, which also
//! knows the namespace's format; see `store::input`.)

use crate::{Error, Format, Result};

/// Checks a whole document against its format.
pub(crate) fn content(format: Format, text: &str) -> Result<()> {
    let invalid = |why: String| {
        Err(Error::Invalid(format!(
            "content is not valid {format}: {why}"
        )))
    };
    match format {
        Format::Properties | Format::Text => Ok(()),
        Format::Json => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(_) => Ok(()),
            Err(e) => invalid(format!("{e}")),
        },
        Format::Yaml => match yaml_rust2::YamlLoader::load_from_str(text) {
            Ok(_) => Ok(()),
            Err(e) => invalid(format!(
                "{} at line {} column {}",
                e.info(),
                e.marker().line(),
                e.marker().col() + 1
            )),
        },
        Format::Xml => match roxmltree::Document::parse(text) {
            Ok(_) => Ok(()),
            Err(e) => invalid(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_checked_and_errors_say_where() {
        content(Format::Json, r#"{"a": [1, 2]}"#).unwrap();
        let err = content(Format::Json, "{\"a\": [1, 2}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1 column"), "{err}");
        content(Format::Yaml, "a:\n  b: 1\n").unwrap();
        let err = content(Format::Yaml, "a: [1, 2\nb: 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line"), "{err}");
        content(Format::Xml, "<a><b/></a>").unwrap();
        let err = content(Format::Xml, "<a><b></a>").unwrap_err().to_string();
        assert!(err.contains("1:"), "{err}");
    }
}
