//! Nacos config types (`type=`) onto keel formats, and the headers a read answers with.

use keel_config_center::Format;

/// The keel format of a Nacos type, and the type to keep. Unknown and missing types are
/// `text`, as Nacos stores them.
pub(crate) fn format_of(nacos_type: Option<&str>) -> (Format, &'static str) {
    match nacos_type
        .map(str::trim)
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "properties" => (Format::Properties, "properties"),
        "json" => (Format::Json, "json"),
        "yaml" => (Format::Yaml, "yaml"),
        "yml" => (Format::Yaml, "yml"),
        "xml" => (Format::Xml, "xml"),
        "html" => (Format::Text, "html"),
        "toml" => (Format::Text, "toml"),
        "unset" => (Format::Text, "unset"),
        _ => (Format::Text, "text"),
    }
}

/// The `Config-Type` of a config: the type it was published as, else its format's name.
pub(crate) fn config_type(content_type: Option<&str>, format: Format) -> &str {
    content_type.unwrap_or(format.as_str())
}

/// The `Content-Type` Nacos answers a read of a config of type `config_type` with.
pub(crate) fn media_type(config_type: &str) -> &'static str {
    match config_type {
        "json" => "application/json;charset=UTF-8",
        "xml" => "application/xml;charset=UTF-8",
        "html" => "text/html;charset=UTF-8",
        _ => "text/plain;charset=UTF-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_onto_formats_and_back() {
        assert_eq!(
            format_of(Some("properties")),
            (Format::Properties, "properties")
        );
        assert_eq!(format_of(Some("YML")), (Format::Yaml, "yml"));
        assert_eq!(format_of(Some("html")), (Format::Text, "html"));
        assert_eq!(format_of(Some("weird")), (Format::Text, "text"));
        assert_eq!(format_of(None), (Format::Text, "text"));
        assert_eq!(config_type(None, Format::Json), "json");
        assert_eq!(config_type(Some("html"), Format::Text), "html");
        assert_eq!(media_type("json"), "application/json;charset=UTF-8");
        assert_eq!(media_type("yaml"), "text/plain;charset=UTF-8");
    }
}
