//! Shared by the first-party LLM provider components (`openai`, `anthropic`): the bindings of the
//! `wasmcode:plugin/provider-plugin` world, a POST over `wasi:http` whose response body is read
//! incrementally ([`http`]), an SSE parser ([`sse`]), and the driver behind the
//! `completion-stream` resource ([`Completion`]). A provider crate writes only its wire format:
//! how a `completion-request` becomes a request body, and a [`Decoder`] for what comes back.
//!
//! ```ignore
//! struct Echo;
//!
//! impl Provider for Echo {
//!     fn stream(request: &CompletionRequest) -> Result<Completion, ProviderError> {
//!         let body = serde_json::json!({"model": request.model, "stream": true});
//!         // `{base_url}/chat`, with the common headers, this provider's (none) and the configured ones
//!         let body = http::post_json(&request.config, "chat", &body, Vec::new())?;
//!         Ok(Completion::new(body, EchoDecoder::default()))
//!     }
//! }
//!
//! export_provider!(Echo);
//! ```
//!
//! A library, not a component: the guest build embeds only `cdylib` members.

// The generated bindings and the export macro name this crate by its public path.
extern crate self as wasmcode_provider_support;

pub mod http;
pub mod models;
pub mod sse;
mod stream;

pub use stream::{Completion, Decoder, Events, Flow, decode_all};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "provider-plugin",
        path: "../../wit",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_provider_plugin",
        default_bindings_module: "::wasmcode_provider_support::bindings",
        runtime_path: "::wasmcode_provider_support::__private::wit_bindgen::rt",
    });
}

/// The types of the `provider` interface.
pub mod wit {
    pub use crate::bindings::exports::wasmcode::plugin::provider::{
        CompletionRequest, ContentPart, FinishReason, Message, ModelInfo, ProviderConfig, ProviderError,
        Role, StatusError, StreamEvent, ToolCall, ToolCallStart, ToolDefinition, ToolResult, Usage,
    };
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    pub use crate::bindings::exports::wasmcode::plugin::provider::{
        CompletionStream as CompletionStreamHandle, Guest,
    };
}

use wit::{CompletionRequest, ModelInfo, ProviderConfig, ProviderError};

/// One LLM API.
pub trait Provider {
    /// The models this provider knows without the network: by default, the configured ones.
    fn models(config: ProviderConfig) -> Vec<ModelInfo> {
        models::from_config(&config)
    }

    /// Sends the request and returns the stream of its answer once the upstream accepted it.
    fn stream(request: &CompletionRequest) -> Result<Completion, ProviderError>;
}

/// Exports a [`Provider`] as this component's `wasmcode:plugin/provider` interface. Call it once,
/// at the crate root.
#[macro_export]
macro_rules! export_provider {
    ($provider:ty) => {
        #[doc(hidden)]
        pub struct __WasmcodeProvider;

        impl $crate::__private::Guest for __WasmcodeProvider {
            type CompletionStream = $crate::Completion;

            fn models(config: $crate::wit::ProviderConfig) -> ::std::vec::Vec<$crate::wit::ModelInfo> {
                <$provider as $crate::Provider>::models(config)
            }

            fn stream(
                request: $crate::wit::CompletionRequest,
            ) -> ::std::result::Result<$crate::__private::CompletionStreamHandle, $crate::wit::ProviderError> {
                let started =
                    <$provider as $crate::Provider>::stream(&request).map($crate::__private::CompletionStreamHandle::new);
                // The host keeps an instance for one stream only, and its memory goes with it:
                // freeing a long conversation string by string would cost more than it saves.
                ::core::mem::forget(request);
                started
            }
        }

        // Component export names only link for wasm; native builds (unit tests) leave them out.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_provider_plugin!(__WasmcodeProvider with_types_in $crate::bindings);
    };
}

/// The request headers: `defaults` first, each replaced by a configured header of the same name
/// (case-insensitive), then the other configured headers.
pub fn merge_headers(
    defaults: Vec<(String, String)>,
    configured: &[(String, String)],
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = defaults
        .into_iter()
        .filter(|(name, _)| !configured.iter().any(|(c, _)| c.eq_ignore_ascii_case(name)))
        .collect();
    headers.extend(configured.iter().cloned());
    headers
}

/// Parses a JSON text the host passed through (a tool schema, request options), naming `what`
/// when it is not JSON.
pub fn parse_json(text: &str, what: &str) -> Result<serde_json::Value, ProviderError> {
    serde_json::from_str(text).map_err(|e| ProviderError::InvalidRequest(format!("{what} is not JSON: {e}")))
}

/// The request's `options-json` as the object whose fields go into the upstream body. An empty
/// text means no options.
pub fn request_options(
    request: &CompletionRequest,
) -> Result<serde_json::Map<String, serde_json::Value>, ProviderError> {
    if request.options_json.trim().is_empty() {
        return Ok(serde_json::Map::new());
    }
    match parse_json(&request.options_json, "the request options")? {
        serde_json::Value::Object(map) => Ok(map),
        serde_json::Value::Null => Ok(serde_json::Map::new()),
        _ => Err(ProviderError::InvalidRequest(
            "the request options must be a JSON object".into(),
        )),
    }
}

/// A request body: the plugin's own fields and the options as a JSON object, and the message list
/// encoded straight from borrowed, typed values. The conversation is most of a request and grows
/// with the session; encoding it without building a `serde_json::Value` tree first keeps each
/// model call's cost low however long the session is.
#[derive(Debug)]
pub struct RequestBody<M> {
    /// Everything but the messages, in order (`model`, `stream`, `tools`, options, ...).
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub messages: M,
}

impl<M: serde::Serialize> serde::Serialize for RequestBody<M> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(self.fields.len() + 1))?;
        for (key, value) in &self.fields {
            map.serialize_entry(key, value)?;
            if key == "model" {
                map.serialize_entry("messages", &self.messages)?;
            }
        }
        if !self.fields.contains_key("model") {
            map.serialize_entry("messages", &self.messages)?;
        }
        map.end()
    }
}

/// Adds `options` to a request body object without replacing the fields the plugin set itself
/// (model, messages, stream, ...): those define the request and are not options.
pub fn add_options(
    fields: &mut serde_json::Map<String, serde_json::Value>,
    options: serde_json::Map<String, serde_json::Value>,
) {
    for (key, value) in options {
        if key != "messages" {
            fields.entry(key).or_insert(value);
        }
    }
}

/// A JSON string's text cut to at most `max` bytes (on a character boundary), for error
/// messages that quote what the upstream sent.
pub fn excerpt(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_headers_replace_defaults() {
        let headers = merge_headers(
            vec![
                ("authorization".into(), "Bearer a".into()),
                ("content-type".into(), "application/json".into()),
            ],
            &[
                ("Authorization".into(), "Bearer b".into()),
                ("x-extra".into(), "1".into()),
            ],
        );
        assert_eq!(
            headers,
            vec![
                ("content-type".to_string(), "application/json".to_string()),
                ("Authorization".to_string(), "Bearer b".to_string()),
                ("x-extra".to_string(), "1".to_string()),
            ]
        );
    }

    fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        match value {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        }
    }

    #[test]
    fn options_never_replace_what_the_plugin_set() {
        let mut fields = object(serde_json::json!({"model": "m", "stream": true}));
        let options =
            object(serde_json::json!({"model": "other", "messages": [], "reasoning_effort": "high"}));
        add_options(&mut fields, options);
        let body = RequestBody {
            fields,
            messages: ["hi"],
        };
        assert_eq!(
            serde_json::to_string(&body).ok().as_deref(),
            Some(r#"{"model":"m","messages":["hi"],"stream":true,"reasoning_effort":"high"}"#)
        );
    }

    #[test]
    fn excerpts_cut_on_character_boundaries() {
        assert_eq!(excerpt("héllo", 2), "h");
        assert_eq!(excerpt("héllo", 3), "hé");
        assert_eq!(excerpt("short", 10), "short");
    }
}
