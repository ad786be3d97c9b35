//! Test fixture `fixture-wrong-world`: a valid component of the `formatter-plugin` world (it
//! trims trailing whitespace), which the host must refuse to load as a tool plugin and installs
//! as the formatter it is. Content saying `panic, formatter` makes it panic, and content saying
//! `not valid` is refused as a syntax error, for the host's handling of failing formatters.

/// The `formatter-plugin` world's bindings and the component's exports.
#[allow(
    unsafe_code,
    reason = "wit-bindgen's generated glue (exported functions, canonical ABI) is unsafe code, and \
              the export macro it defines here is local, so the lint sees its expansion"
)]
mod bindings {
    wit_bindgen::generate!({
        world: "formatter-plugin",
        path: "../../../wit",
    });

    use super::TrimTrailingWhitespace;

    export!(TrimTrailingWhitespace);
}

use bindings::exports::wasmcode::plugin::formatter::{FormatError, Guest};

struct TrimTrailingWhitespace;

impl Guest for TrimTrailingWhitespace {
    fn extensions() -> Vec<String> {
        vec!["txt".to_string(), "md".to_string()]
    }

    fn format(_path: String, content: String) -> Result<String, FormatError> {
        if content.contains("panic, formatter") {
            panic!("the fixture formatter was told to panic");
        }
        if content.contains("not valid") {
            return Err(FormatError::Syntax("line 1: not valid".to_string()));
        }
        let mut out = content.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
        if content.ends_with('\n') {
            out.push('\n');
        }
        Ok(out)
    }
}
