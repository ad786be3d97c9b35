//! Where wasmcode keeps things: XDG directories, resolved once and passed down, so tests can
//! point everything at a temporary directory.

use std::path::PathBuf;

use crate::environment::Environment;

#[derive(Debug, Clone)]
pub struct Paths {
    /// `$XDG_DATA_HOME/wasmcode`: installed plugins, trust list, the database.
    pub data: PathBuf,
    /// `$XDG_CACHE_HOME/wasmcode`: compiled components.
    pub cache: PathBuf,
    /// `$XDG_CONFIG_HOME/opencode`: the global `opencode.json`, shared with OpenCode.
    pub config: PathBuf,
}

impl Paths {
    /// From the XDG variables, falling back to `~/.local/share`, `~/.cache`, `~/.config`.
    pub fn from_environment(environment: &Environment) -> Self {
        let xdg = |var: &str, fallback: &str| {
            environment
                .var(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| environment.home.join(fallback))
        };
        Self {
            data: xdg("XDG_DATA_HOME", ".local/share").join("wasmcode"),
            cache: xdg("XDG_CACHE_HOME", ".cache").join("wasmcode"),
            config: xdg("XDG_CONFIG_HOME", ".config").join("opencode"),
        }
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.data.join("plugins")
    }

    pub fn compile_cache_dir(&self) -> PathBuf {
        self.cache.join("components")
    }

    pub fn trust_file(&self) -> PathBuf {
        self.data.join("trusted-plugins.json")
    }

    /// What users said of each project (`PATCH /project/{projectID}`), a JSON file per project.
    pub fn project_details_dir(&self) -> PathBuf {
        self.data.join("project")
    }

    /// Provider keys stored with `PUT /auth/{providerID}` (mode 0600).
    pub fn auth_file(&self) -> PathBuf {
        self.data.join("auth.json")
    }

    /// The SQLite database: sessions, messages, parts, pending permission requests.
    pub fn database(&self) -> PathBuf {
        self.data.join("wasmcode.db")
    }
}
