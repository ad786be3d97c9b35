//! The `css` formatter: CSS, SCSS, Sass and Less with malva at its default settings, the syntax
//! chosen by the file's extension.

use malva::Syntax;
use wasmcode_formatter_support::{FormatError, Formatter, export_formatter};

pub struct Css;

impl Formatter for Css {
    const EXTENSIONS: &'static [&'static str] = &["css", "scss", "sass", "less"];

    fn format(path: &str, content: &str) -> Result<String, FormatError> {
        let syntax = match path.rsplit('.').next() {
            Some("scss") => Syntax::Scss,
            Some("sass") => Syntax::Sass,
            Some("less") => Syntax::Less,
            _ => Syntax::Css,
        };
        malva::format_text(content, syntax, &malva::config::FormatOptions::default())
            .map_err(|e| FormatError::Syntax(e.to_string()))
    }
}

export_formatter!(Css);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_css() {
        let formatted = Css::format("a.css", "a{color:red;margin:0}").expect("formats");
        assert_eq!(formatted, "a {\n  color: red;\n  margin: 0;\n}\n");
    }
}
