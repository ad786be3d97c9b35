//! The `markdown` formatter: Markdown with dprint's Markdown formatter at its default settings;
//! code blocks are left as they are.

use dprint_plugin_markdown::configuration::ConfigurationBuilder;
use wasmcode_formatter_support::{FormatError, Formatter, export_formatter, formatted_or_same};

pub struct Markdown;

impl Formatter for Markdown {
    const EXTENSIONS: &'static [&'static str] = &["md", "markdown"];

    fn format(_path: &str, content: &str) -> Result<String, FormatError> {
        let config = ConfigurationBuilder::new().build();
        formatted_or_same(
            dprint_plugin_markdown::format_text(content, &config, |_, _, _| Ok(None)),
            content,
        )
    }
}

export_formatter!(Markdown);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_markdown() {
        let formatted = Markdown::format("a.md", "# Title\n* one\n* two\n\n\n\ntext   \n").expect("formats");
        assert_eq!(formatted, "# Title\n\n- one\n- two\n\ntext\n");
    }
}
