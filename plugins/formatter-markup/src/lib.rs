//! The `markup` formatter: HTML, Vue, Svelte and Astro with markup_fmt at its default settings.
//!
//! markup_fmt formats the markup and hands each piece of embedded code back to its caller:
//! `<script>` and `<style>` blocks, `style` attributes, the expressions of Vue directives and
//! Svelte blocks. Those go through the crates of the `typescript`, `css` and `json` formatters, so
//! embedded code comes out as it would in a file of its own. A piece that does not parse is kept
//! as written: one broken script must not leave the page around it unformatted.

use std::borrow::Cow;
use std::path::Path;

use malva::Syntax;
use markup_fmt::config::{FormatOptions, ScriptFormatter};
use markup_fmt::{Hints, Language};
use wasmcode_formatter_support::{FormatError, Formatter, export_formatter};

pub struct Markup;

impl Formatter for Markup {
    const EXTENSIONS: &'static [&'static str] = &["html", "htm", "xhtml", "vue", "svelte", "astro"];

    fn format(path: &str, content: &str) -> Result<String, FormatError> {
        // `detect_language` tells Angular templates (`*.component.html`) from plain HTML, and
        // does not know `.htm` or `.xhtml`, which are plain HTML.
        let language = markup_fmt::detect_language(path).unwrap_or(Language::Html);
        let mut options = FormatOptions::default();
        // dprint indents a script by the level it is given (`file_indent_level`): markup_fmt is
        // told to keep that indentation rather than detect and replace it.
        options.language.script_formatter = Some(ScriptFormatter::Dprint);
        // The callback never fails, so markup_fmt's only error is the markup's own syntax.
        markup_fmt::format_text(content, language, &options, |code, hints| {
            Ok(embedded(code, &hints))
        })
        .map_err(|e| FormatError::Syntax(e.to_string()))
    }
}

export_formatter!(Markup);

/// `code` formatted as the language markup_fmt names by `hints.ext` (a file extension), or as
/// written if it does not parse or is in a language without a formatter here (Stylus, say).
fn embedded<'a>(code: &'a str, hints: &Hints) -> Cow<'a, str> {
    let formatted = match hints.ext {
        "js" | "jsx" | "mjs" | "cjs" | "ts" | "tsx" | "mts" | "cts" => script(code, hints),
        "css" => style(code, Syntax::Css, hints),
        "scss" => style(code, Syntax::Scss, hints),
        "sass" => style(code, Syntax::Sass, hints),
        "less" => style(code, Syntax::Less, hints),
        "json" => json(code, hints),
        _ => None,
    };
    formatted.map_or(Cow::Borrowed(code), Cow::Owned)
}

/// JavaScript or TypeScript, `None` when already formatted or not parsed.
fn script(code: &str, hints: &Hints) -> Option<String> {
    use dprint_plugin_typescript::configuration::{ConfigurationBuilder, QuoteStyle};

    let mut config = ConfigurationBuilder::new();
    config
        .line_width(hints.print_width as u32)
        .file_indent_level(hints.indent_level);
    if hints.attr {
        // The attribute's value is in double quotes: the expression's strings take single ones.
        config.quote_style(QuoteStyle::AlwaysSingle);
    }
    dprint_plugin_typescript::format_text(dprint_plugin_typescript::FormatTextOptions {
        path: Path::new("embedded"),
        extension: Some(hints.ext),
        text: code.to_string(),
        config: &config.build(),
        external_formatter: None,
    })
    .ok()
    .flatten()
}

/// CSS, SCSS, Sass or Less, `None` when not parsed.
fn style(code: &str, syntax: Syntax, hints: &Hints) -> Option<String> {
    let mut options = malva::config::FormatOptions::default();
    options.layout.print_width = hints.print_width;
    // A `style` attribute's declarations stay on the attribute's line.
    options.language.single_line_top_level_declarations = hints.attr;
    malva::format_text(code, syntax, &options).ok()
}

/// JSON (`<script type="application/json">`, import maps), `None` when already formatted or not
/// parsed.
fn json(code: &str, hints: &Hints) -> Option<String> {
    let config = dprint_plugin_json::configuration::ConfigurationBuilder::new()
        .line_width(hints.print_width as u32)
        .build();
    dprint_plugin_json::format_text(Path::new("embedded.json"), code, &config)
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_html_and_its_script_and_style() {
        let formatted = Markup::format(
            "page.html",
            concat!(
                "<!DOCTYPE html>\n",
                "<html><head><title>Demo</title>",
                "<style>body{margin:0;font-family:sans-serif}</style></head>",
                "<body><h1>Hi</h1><script>const items=[1,2,3]\nfunction f( a ){return a}</script>",
                "</body></html>\n",
            ),
        )
        .expect("formats");
        assert_eq!(
            formatted,
            concat!(
                "<!DOCTYPE html>\n",
                "<html>\n",
                "  <head>\n",
                "    <title>Demo</title>\n",
                "    <style>\n",
                "    body {\n",
                "      margin: 0;\n",
                "      font-family: sans-serif;\n",
                "    }\n",
                "    </style>\n",
                "  </head>\n",
                "  <body>\n",
                "    <h1>Hi</h1>\n",
                "    <script>\n",
                "    const items = [1, 2, 3];\n",
                "    function f(a) {\n",
                "      return a;\n",
                "    }\n",
                "    </script>\n",
                "  </body>\n",
                "</html>\n",
            )
        );
    }

    #[test]
    fn formats_a_vue_component() {
        let formatted = Markup::format(
            "App.vue",
            concat!(
                "<template>\n",
                "<div :class=\"{active:isActive,'text-danger':hasError}\">{{ msg+\"!\" }}</div>\n",
                "</template>\n",
                "<script setup lang=\"ts\">\n",
                "import {ref} from 'vue'\n",
                "const count=ref<number>(0)\n",
                "</script>\n",
                "<style scoped>\n",
                ".a{color:red}\n",
                "</style>\n",
            ),
        )
        .expect("formats");
        // The directive's strings keep single quotes: its value is in double ones.
        assert_eq!(
            formatted,
            concat!(
                "<template>\n",
                "  <div :class=\"{ active: isActive, 'text-danger': hasError }\">\n",
                "    {{ msg + \"!\" }}\n",
                "  </div>\n",
                "</template>\n",
                "<script setup lang=\"ts\">\n",
                "import { ref } from \"vue\";\n",
                "const count = ref<number>(0);\n",
                "</script>\n",
                "<style scoped>\n",
                ".a {\n",
                "  color: red;\n",
                "}\n",
                "</style>\n",
            )
        );
    }

    #[test]
    fn formats_a_svelte_component() {
        let formatted = Markup::format(
            "Counter.svelte",
            concat!(
                "<script>\n",
                "let count=0\n",
                "function inc(){count+=1}\n",
                "</script>\n",
                "<button on:click={inc}>Clicked {count===1?'once':count+' times'}</button>\n",
                "<style>\n",
                "button{color:red}\n",
                "</style>\n",
            ),
        )
        .expect("formats");
        assert_eq!(
            formatted,
            concat!(
                "<script>\n",
                "let count = 0;\n",
                "function inc() {\n",
                "  count += 1;\n",
                "}\n",
                "</script>\n",
                "<button on:click={inc}>\n",
                "  Clicked {count === 1 ? \"once\" : count + \" times\"}\n",
                "</button>\n",
                "<style>\n",
                "button {\n",
                "  color: red;\n",
                "}\n",
                "</style>\n",
            )
        );
    }

    #[test]
    fn keeps_a_script_that_does_not_parse_and_formats_the_rest() {
        let formatted = Markup::format(
            "page.html",
            concat!(
                "<script>\n",
                "let x = ;\n",
                "  foo( 1 )\n",
                "</script>\n",
                "<div><p>a</p><p>b</p></div>\n",
                "<style>a{color:red}</style>\n",
            ),
        )
        .expect("formats");
        assert_eq!(
            formatted,
            concat!(
                "<script>\n",
                "let x = ;\n",
                "  foo( 1 )\n",
                "</script>\n",
                "<div>\n",
                "  <p>a</p>\n",
                "  <p>b</p>\n",
                "</div>\n",
                "<style>\n",
                "a {\n",
                "  color: red;\n",
                "}\n",
                "</style>\n",
            )
        );
    }

    #[test]
    fn refuses_markup_that_does_not_parse() {
        assert!(matches!(
            Markup::format("page.html", "<div><p>a</div>\n"),
            Err(FormatError::Syntax(_))
        ));
    }
}
