//! The `yaml` formatter: YAML with pretty_yaml at its default settings.

use wasmcode_formatter_support::{FormatError, Formatter, export_formatter};

pub struct Yaml;

impl Formatter for Yaml {
    const EXTENSIONS: &'static [&'static str] = &["yaml", "yml"];

    fn format(_path: &str, content: &str) -> Result<String, FormatError> {
        pretty_yaml::format_text(content, &pretty_yaml::config::FormatOptions::default())
            .map_err(|e| FormatError::Syntax(e.to_string()))
    }
}

export_formatter!(Yaml);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_yaml() {
        let formatted = Yaml::format("a.yaml", "a:    1\nlist:\n    -   x\n").expect("formats");
        assert_eq!(formatted, "a: 1\nlist:\n  - x\n");
    }
}
