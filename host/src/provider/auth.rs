//! Stored provider credentials (`PUT /auth/{providerID}`): `$XDG_DATA_HOME/wasmcode/auth.json`,
//! OpenCode's format (`{"<providerID>": {"type": "api", "key": "..."}}`), private to this user
//! (0600) and replaced atomically. Credentials are never logged nor sent back to clients.
//!
//! The file is read once and kept in memory; every change re-reads it first, so entries written
//! by someone else meanwhile (or of a type we do not know) are kept, then writes it whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use utoipa::ToSchema;

use crate::atomic::{self, Access};

/// One provider's credentials, as OpenCode's `Auth` union. Only `api` keys are used to call
/// providers; the other kinds are accepted and kept so OpenCode's clients can store them.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
#[schema(as = Auth)]
pub enum AuthInfo {
    /// An API key.
    Api {
        #[schema(min_length = 1)]
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metadata: Option<BTreeMap<String, String>>,
    },
    /// OAuth tokens (stored, not used: wasmcode offers no OAuth sign-in).
    Oauth {
        refresh: String,
        access: String,
        /// Expiry, epoch milliseconds.
        expires: u64,
        #[serde(default, rename = "accountId", skip_serializing_if = "Option::is_none")]
        account_id: Option<String>,
        #[serde(default, rename = "enterpriseUrl", skip_serializing_if = "Option::is_none")]
        enterprise_url: Option<String>,
    },
    /// A token from a `.well-known/opencode` endpoint (stored, not used).
    Wellknown { key: String, token: String },
}

impl AuthInfo {
    /// What is wrong with credentials that parse but cannot be used.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::Api { key, .. } if key.trim().is_empty() => Err("`key` must not be empty".into()),
            _ => Ok(()),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Api { .. } => "api",
            Self::Oauth { .. } => "oauth",
            Self::Wellknown { .. } => "wellknown",
        }
    }
}

/// Shows the kind only: the rest is secret.
impl std::fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthInfo({}, [redacted])", self.kind())
    }
}

#[derive(Debug, Error)]
pub enum AuthError {
    /// The file exists but is not a JSON object: it is left alone for the user to repair
    /// (retrying cannot help).
    #[error("{file} is not a valid credentials file ({message}); fix or remove it")]
    Corrupt { file: String, message: String },
    /// Reading or writing failed (permissions, disk full); a retry may help.
    #[error("{file}: {source}")]
    Io { file: String, source: std::io::Error },
}

pub struct AuthStore {
    path: PathBuf,
    entries: RwLock<BTreeMap<String, AuthInfo>>,
    /// One change at a time: read-modify-write of the file.
    writing: Mutex<()>,
}

impl AuthStore {
    /// Opens the store at `path`. A missing file is an empty store; an unreadable one is
    /// reported and treated as empty (and changes are refused until it is repaired).
    pub fn open(path: PathBuf) -> Self {
        let entries = match read_file(&path) {
            Ok(raw) => typed(&raw),
            Err(error) => {
                tracing::warn!("stored provider keys not loaded: {error}");
                BTreeMap::new()
            }
        };
        Self {
            path,
            entries: RwLock::new(entries),
            writing: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored API key of `provider`, if its credentials are an API key.
    pub fn api_key(&self, provider: &str) -> Option<String> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(provider) {
            Some(AuthInfo::Api { key, .. }) if !key.is_empty() => Some(key.clone()),
            _ => None,
        }
    }

    /// Stores `info` for `provider`, replacing what was there. Blocking file I/O.
    pub fn set(&self, provider: &str, info: AuthInfo) -> Result<(), AuthError> {
        let value = serde_json::to_value(&info).map_err(|e| AuthError::Corrupt {
            file: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        self.change(|raw| {
            raw.insert(provider.to_string(), value);
        })?;
        tracing::info!(provider, kind = info.kind(), "provider credentials stored");
        Ok(())
    }

    /// Removes `provider`'s credentials; whether there were any. Blocking file I/O.
    pub fn remove(&self, provider: &str) -> Result<bool, AuthError> {
        let mut existed = false;
        self.change(|raw| existed = raw.remove(provider).is_some())?;
        if existed {
            tracing::info!(provider, "provider credentials removed");
        }
        Ok(existed)
    }

    fn change(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> Result<(), AuthError> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut raw = read_file(&self.path)?;
        edit(&mut raw);
        let mut text = serde_json::to_string_pretty(&raw).map_err(|e| AuthError::Corrupt {
            file: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        text.push('\n');
        atomic::write(&self.path, text.as_bytes(), Access::Private).map_err(|source| AuthError::Io {
            file: self.path.display().to_string(),
            source,
        })?;
        *self.entries.write().unwrap_or_else(|e| e.into_inner()) = typed(&raw);
        Ok(())
    }
}

impl std::fmt::Debug for AuthStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The file as a JSON object (empty when missing).
fn read_file(path: &Path) -> Result<Map<String, Value>, AuthError> {
    let file = || path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => return Err(AuthError::Io { file: file(), source }),
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        // The serde message names a position, never the content.
        Ok(_) => Err(AuthError::Corrupt {
            file: file(),
            message: "not a JSON object".into(),
        }),
        Err(e) => Err(AuthError::Corrupt {
            file: file(),
            message: e.to_string(),
        }),
    }
}

/// The entries we understand; others stay in the file untouched.
fn typed(raw: &Map<String, Value>) -> BTreeMap<String, AuthInfo> {
    raw.iter()
        .filter_map(|(id, value)| Some((id.clone(), serde_json::from_value(value.clone()).ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn api(key: &str) -> AuthInfo {
        AuthInfo::Api {
            key: key.into(),
            metadata: None,
        }
    }

    #[test]
    fn keys_are_stored_private_and_replaced_atomically() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data/wasmcode/auth.json");
        let store = AuthStore::open(path.clone());
        assert_eq!(store.api_key("anthropic"), None);

        store.set("anthropic", api("sk-ant-1")).expect("stored");
        assert_eq!(store.api_key("anthropic").as_deref(), Some("sk-ant-1"));
        let mode = std::fs::metadata(&path).expect("written").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        // Replaced, not edited in place: a reader holding the old file keeps the old content.
        let before = std::fs::File::open(&path).expect("open");
        store.set("anthropic", api("sk-ant-2")).expect("replaced");
        let old = std::io::read_to_string(before).expect("read old");
        assert!(old.contains("sk-ant-1") && !old.contains("sk-ant-2"), "{old}");
        assert_eq!(
            std::fs::metadata(&path).expect("written").permissions().mode() & 0o777,
            0o600
        );
        let reopened = AuthStore::open(path.clone());
        assert_eq!(reopened.api_key("anthropic").as_deref(), Some("sk-ant-2"));
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, ["auth.json"], "no temporary file is left behind");
    }

    #[test]
    fn all_of_opencodes_kinds_are_kept_but_only_api_keys_are_used() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("auth.json");
        let store = AuthStore::open(path.clone());
        let oauth: AuthInfo =
            serde_json::from_value(json!({"type": "oauth", "refresh": "r", "access": "a", "expires": 1}))
                .expect("valid oauth");
        let wellknown: AuthInfo =
            serde_json::from_value(json!({"type": "wellknown", "key": "K", "token": "t"})).expect("valid");
        store.set("openai", oauth).expect("stored");
        store.set("corp", wellknown).expect("stored");
        assert_eq!(store.api_key("openai"), None);
        assert_eq!(store.api_key("corp"), None);
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(file["openai"]["type"], "oauth");
        assert_eq!(
            file["corp"],
            json!({"type": "wellknown", "key": "K", "token": "t"})
        );
        assert!(store.remove("openai").expect("removed"));
        assert!(!store.remove("openai").expect("already gone"));
    }

    #[test]
    fn unknown_entries_and_outside_edits_survive_a_change() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("auth.json");
        std::fs::write(&path, r#"{"future": {"type": "passkey", "x": 1}}"#).expect("write");
        let store = AuthStore::open(path.clone());
        // Written by another process after we loaded.
        std::fs::write(
            &path,
            r#"{"future": {"type": "passkey", "x": 1}, "openai": {"type": "api", "key": "k"}}"#,
        )
        .expect("write");
        store.set("anthropic", api("a")).expect("stored");
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(file["future"], json!({"type": "passkey", "x": 1}));
        assert_eq!(store.api_key("openai").as_deref(), Some("k"));
    }

    #[test]
    fn a_corrupt_file_is_left_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("auth.json");
        std::fs::write(&path, "{not json").expect("write");
        let store = AuthStore::open(path.clone());
        assert!(matches!(store.set("x", api("k")), Err(AuthError::Corrupt { .. })));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{not json");
    }

    #[test]
    fn bodies_are_checked_and_never_printed() {
        for bad in [
            json!({"type": "api"}),
            json!({"type": "bearer", "key": "k"}),
            json!({"key": "k"}),
        ] {
            assert!(serde_json::from_value::<AuthInfo>(bad.clone()).is_err(), "{bad}");
        }
        // Keys it does not know are dropped, as the reference drops them.
        let lenient = serde_json::from_value::<AuthInfo>(json!({"type": "api", "key": "k", "extra": 1}));
        assert!(lenient.is_ok_and(|info| info == api("k")));
        assert!(api(" ").validate().is_err());
        assert!(!format!("{:?}", api("sk-very-secret")).contains("sk-very-secret"));
    }
}
