//! Which provider component runs a block. OpenCode loads an AI SDK package named by `npm`;
//! wasmcode maps the packages whose protocol a first-party component speaks, and lets a block
//! name any installed provider component with `plugin` instead. Loading it is the runtime's job.

use thiserror::Error;

/// The first-party component that speaks OpenAI's chat-completions protocol.
pub const OPENAI: &str = "openai";
/// The first-party component that speaks Anthropic's messages protocol.
pub const ANTHROPIC: &str = "anthropic";

/// Why a block cannot run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Unrunnable {
    #[error(
        "no component speaks the protocol of npm package `{npm}`: use `@ai-sdk/openai-compatible` \
         if its API is OpenAI-compatible, or name an installed provider component with `\"plugin\"`"
    )]
    UnknownPackage { npm: String },
}

/// The component for a model whose package is `npm`, in a block whose `plugin` is `plugin`.
pub fn for_package(npm: &str, plugin: Option<&str>) -> Result<String, Unrunnable> {
    if let Some(plugin) = plugin.filter(|p| !p.is_empty()) {
        return Ok(plugin.to_string());
    }
    match npm {
        // OpenRouter's API is OpenAI's protocol at its own URL.
        "@ai-sdk/openai-compatible" | "@ai-sdk/openai" | "@openrouter/ai-sdk-provider" => Ok(OPENAI.into()),
        "@ai-sdk/anthropic" => Ok(ANTHROPIC.into()),
        other => Err(Unrunnable::UnknownPackage { npm: other.into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_map_to_first_party_components_and_plugins_win() {
        assert_eq!(
            for_package("@ai-sdk/openai-compatible", None).as_deref(),
            Ok("openai")
        );
        assert_eq!(for_package("@ai-sdk/openai", None).as_deref(), Ok("openai"));
        assert_eq!(for_package("@ai-sdk/anthropic", None).as_deref(), Ok("anthropic"));
        assert_eq!(
            for_package("@ai-sdk/google", Some("gemini")).as_deref(),
            Ok("gemini")
        );
        let err = for_package("@ai-sdk/google", None).expect_err("no component");
        assert!(err.to_string().contains("`@ai-sdk/google`"), "{err}");
    }
}
