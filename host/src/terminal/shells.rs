//! Which shells a terminal may run (`/etc/shells`), and the one it runs by default.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Serialize;
use utoipa::ToSchema;

/// A login shell of this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Shell {
    pub path: String,
    pub name: String,
    /// Whether it can run an interactive session (`nologin` and `false` cannot).
    pub acceptable: bool,
}

/// The shells `/etc/shells` lists that exist here, in its order.
pub fn list() -> Vec<Shell> {
    let listed = std::fs::read_to_string("/etc/shells").unwrap_or_default();
    listed
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with('/'))
        .filter(|path| executable(Path::new(path)))
        .map(|path| {
            let name = Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Shell {
                acceptable: !matches!(name.as_str(), "nologin" | "false"),
                path: path.to_string(),
                name,
            }
        })
        .collect()
}

/// The user's shell (`$SHELL`) when it can be run, else bash, else `sh`.
pub fn preferred(user_shell: Option<&str>) -> String {
    user_shell
        .filter(|shell| executable(Path::new(shell)))
        .or_else(|| {
            ["/bin/bash", "/usr/bin/bash"]
                .into_iter()
                .find(|p| executable(Path::new(p)))
        })
        .unwrap_or("/bin/sh")
        .to_string()
}

/// Whether a shell is started as a login shell (`-l`) when no arguments are given, as the
/// reference does for the shells that take it.
pub fn is_login_shell(command: &str) -> bool {
    let name = Path::new(command)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    matches!(
        name.as_str(),
        "bash" | "zsh" | "sh" | "dash" | "ksh" | "fish" | "ash"
    )
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
