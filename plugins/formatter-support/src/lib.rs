//! What every first-party formatter component shares: the `formatter-plugin` bindings and
//! [`export_formatter!`], which exports a [`Formatter`] as the component's
//! `wasmcode:plugin/formatter` interface.
//!
//! ```ignore
//! struct Json;
//! impl Formatter for Json {
//!     const EXTENSIONS: &'static [&'static str] = &["json"];
//!     fn format(path: &str, content: &str) -> Result<String, FormatError> { ... }
//! }
//! export_formatter!(Json);
//! ```
//!
//! A library, not a component: the guest build embeds only `cdylib` members.

// The generated bindings and the export macro name this crate by its public path.
extern crate self as wasmcode_formatter_support;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "formatter-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_formatter_plugin",
        default_bindings_module: "::wasmcode_formatter_support::bindings",
        runtime_path: "::wasmcode_formatter_support::__private::wit_bindgen::rt",
    });
}

pub use bindings::exports::wasmcode::plugin::formatter::FormatError;

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    pub use crate::bindings::exports::wasmcode::plugin::formatter::Guest;
}

/// One formatter: a pure function of a file's path and content.
pub trait Formatter {
    /// The extensions it formats, without the dot.
    const EXTENSIONS: &'static [&'static str];

    /// The formatted content of the file at project-relative `path`.
    fn format(path: &str, content: &str) -> Result<String, FormatError>;
}

/// The result of a formatter that answers `None` for text already formatted (dprint's), as the
/// formatted text; its error as a syntax error.
pub fn formatted_or_same<E: std::fmt::Display>(
    result: Result<Option<String>, E>,
    content: &str,
) -> Result<String, FormatError> {
    match result {
        Ok(Some(formatted)) => Ok(formatted),
        Ok(None) => Ok(content.to_string()),
        Err(e) => Err(FormatError::Syntax(e.to_string())),
    }
}

/// Exports a [`Formatter`] as this component's `wasmcode:plugin/formatter` interface. Call it
/// once, at the crate root.
#[macro_export]
macro_rules! export_formatter {
    ($formatter:ty) => {
        #[doc(hidden)]
        pub struct __WasmcodeFormatter;

        impl $crate::__private::Guest for __WasmcodeFormatter {
            fn extensions() -> ::std::vec::Vec<::std::string::String> {
                <$formatter as $crate::Formatter>::EXTENSIONS
                    .iter()
                    .map(|e| e.to_string())
                    .collect()
            }

            fn format(
                path: ::std::string::String,
                content: ::std::string::String,
            ) -> ::std::result::Result<::std::string::String, $crate::FormatError> {
                <$formatter as $crate::Formatter>::format(&path, &content)
            }
        }

        // Component export names only link for wasm; native builds (unit tests) leave them out.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_formatter_plugin!(__WasmcodeFormatter with_types_in $crate::bindings);
    };
}
