//! The `json` formatter: JSON and JSONC (comments and trailing commas kept), with dprint's JSON
//! formatter at its default settings.

use std::path::Path;

use dprint_plugin_json::configuration::ConfigurationBuilder;
use wasmcode_formatter_support::{FormatError, Formatter, export_formatter, formatted_or_same};

pub struct Json;

impl Formatter for Json {
    const EXTENSIONS: &'static [&'static str] = &["json", "jsonc"];

    fn format(path: &str, content: &str) -> Result<String, FormatError> {
        let config = ConfigurationBuilder::new().build();
        formatted_or_same(
            dprint_plugin_json::format_text(Path::new(path), content, &config),
            content,
        )
    }
}

export_formatter!(Json);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_json_and_refuses_what_does_not_parse() {
        let formatted = Json::format("a.json", "{\"a\":1,\n\"b\":[1,2]}").expect("formats");
        assert_eq!(formatted, "{ \"a\": 1, \"b\": [1, 2] }\n");
        assert!(matches!(
            Json::format("a.json", "{\"a\":"),
            Err(FormatError::Syntax(_))
        ));
    }
}
