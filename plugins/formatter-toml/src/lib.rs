//! The `toml` formatter: TOML with taplo at its default settings. A document with syntax errors
//! is refused rather than formatted around them.

use wasmcode_formatter_support::{FormatError, Formatter, export_formatter};

pub struct Toml;

impl Formatter for Toml {
    const EXTENSIONS: &'static [&'static str] = &["toml"];

    fn format(_path: &str, content: &str) -> Result<String, FormatError> {
        if let Some(error) = taplo::parser::parse(content).errors.first() {
            return Err(FormatError::Syntax(error.to_string()));
        }
        Ok(taplo::formatter::format(
            content,
            taplo::formatter::Options::default(),
        ))
    }
}

export_formatter!(Toml);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_toml_and_refuses_what_does_not_parse() {
        let formatted =
            Toml::format("a.toml", "[package]\nname=\"x\"\nversion =   \"1\"\n").expect("formats");
        assert_eq!(formatted, "[package]\nname = \"x\"\nversion = \"1\"\n");
        assert!(matches!(
            Toml::format("a.toml", "[package\nname ="),
            Err(FormatError::Syntax(_))
        ));
    }
}
