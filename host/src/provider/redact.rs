//! Keeping keys out of responses. OpenCode echoes `options.apiKey` in `/config/providers` and
//! `/config`; wasmcode leaves keys out entirely. Removing (rather than masking) also keeps a
//! client that sends a fetched configuration back through `PATCH /config` from overwriting the
//! real key with a mask: a key that is absent from a merge patch is left as it is.

use serde_json::{Map, Value};

/// Option keys that hold a credential.
const SECRET_OPTIONS: [&str; 2] = ["apiKey", "api_key"];

/// Whether an HTTP header carries a credential (`Authorization`, `x-api-key`, `X-Auth-Token`...).
pub fn secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "cookie"
        || ["auth", "key", "token", "secret", "password"]
            .iter()
            .any(|word| name.contains(word))
}

/// A provider's `options` without its key or secret-bearing headers.
pub fn options(options: &Map<String, Value>) -> Map<String, Value> {
    let mut out = options.clone();
    redact_options(&mut out);
    out
}

fn redact_options(options: &mut Map<String, Value>) {
    for key in SECRET_OPTIONS {
        options.remove(key);
    }
    if let Some(Value::Object(headers)) = options.get_mut("headers") {
        headers.retain(|name, _| !secret_header(name));
    }
}

/// Removes keys from a merged configuration (what `GET /config` returns): every
/// `provider.<id>.options.apiKey`, and secret-bearing headers of providers and their models.
pub fn config(config: &mut Value) {
    let Some(Value::Object(providers)) = config.get_mut("provider") else {
        return;
    };
    for block in providers.values_mut() {
        if let Some(Value::Object(options)) = block.get_mut("options") {
            redact_options(options);
        }
        if let Some(Value::Object(models)) = block.get_mut("models") {
            for model in models.values_mut() {
                if let Some(Value::Object(headers)) = model.get_mut("headers") {
                    headers.retain(|name, _| !secret_header(name));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_and_secret_headers_are_removed_from_a_configuration() {
        let mut value = json!({"model": "fake/m", "provider": {
            "fake": {"options": {"apiKey": "sk-fake", "baseURL": "http://x/v1",
                "headers": {"Authorization": "Bearer sk", "X-Api-Key": "k", "HTTP-Referer": "wasmcode"}},
                "models": {"m": {"headers": {"x-auth-token": "t", "x-title": "ok"}}}},
            "odd": "not an object"
        }});
        config(&mut value);
        assert_eq!(
            value,
            json!({"model": "fake/m", "provider": {
                "fake": {"options": {"baseURL": "http://x/v1", "headers": {"HTTP-Referer": "wasmcode"}},
                    "models": {"m": {"headers": {"x-title": "ok"}}}},
                "odd": "not an object"
            }})
        );
        assert!(!value.to_string().contains("sk"));
    }

    #[test]
    fn secret_headers() {
        for name in [
            "Authorization",
            "x-api-key",
            "api-key",
            "X-Goog-Api-Key",
            "Cookie",
            "x-auth-token",
        ] {
            assert!(secret_header(name), "{name}");
        }
        for name in ["HTTP-Referer", "X-Title", "anthropic-beta", "User-Agent"] {
            assert!(!secret_header(name), "{name}");
        }
    }
}
