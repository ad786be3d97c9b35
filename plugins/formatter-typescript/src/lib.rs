//! The `typescript` formatter: TypeScript and JavaScript (with JSX, and the module variants),
//! with dprint's TypeScript formatter at its default settings.

use std::path::Path;

use dprint_plugin_typescript::configuration::ConfigurationBuilder;
use dprint_plugin_typescript::{FormatTextOptions, format_text};
use wasmcode_formatter_support::{FormatError, Formatter, export_formatter, formatted_or_same};

pub struct TypeScript;

impl Formatter for TypeScript {
    const EXTENSIONS: &'static [&'static str] = &["ts", "tsx", "mts", "cts", "js", "jsx", "mjs", "cjs"];

    fn format(path: &str, content: &str) -> Result<String, FormatError> {
        let config = ConfigurationBuilder::new().build();
        let options = FormatTextOptions {
            path: Path::new(path),
            extension: None,
            text: content.to_string(),
            config: &config,
            external_formatter: None,
        };
        formatted_or_same(format_text(options), content)
    }
}

export_formatter!(TypeScript);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_typescript_and_refuses_what_does_not_parse() {
        let formatted =
            TypeScript::format("a.ts", "const x:number=1\nfunction f( a ){return a}").expect("formats");
        assert_eq!(
            formatted,
            "const x: number = 1;\nfunction f(a) {\n  return a;\n}\n"
        );
        assert!(matches!(
            TypeScript::format("a.ts", "const = ;"),
            Err(FormatError::Syntax(_))
        ));
    }
}
