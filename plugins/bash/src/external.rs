//! The directories outside the project a command names: the arguments of the commands that read
//! or change files (`cd`, `rm`, `cp`, `mv`, `mkdir`, `touch`, `chmod`, `chown`, `cat`, as
//! OpenCode checks them, and a few more readers), resolved against the working directory. The
//! tool asks `external_directory` for them before it runs the command; the host's sandbox then
//! lets the command use the directories the user allowed, and nothing else outside the project.
//!
//! A word the shell would expand (`$HOME`, `$(...)`, `~`, a glob) cannot be resolved here and is
//! left to the sandbox, which refuses what was not allowed.

use std::path::{Component, Path, PathBuf};

/// Commands whose operands are paths.
const FILE_COMMANDS: &[&str] = &[
    "cd", "rm", "cp", "mv", "mkdir", "touch", "chmod", "chown", "cat", "ls", "head", "tail", "rmdir", "ln",
    "find",
];

/// Commands whose operands are directories themselves (for the others, a path's directory is
/// its parent).
const DIRECTORY_COMMANDS: &[&str] = &["cd", "mkdir", "rmdir", "ls", "find"];

/// The directories outside `project` that `command`, run in `cwd` (absolute), names.
pub fn directories(command: &str, cwd: &Path, project: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for simple in simple_commands(command) {
        let Some((program, operands)) = simple.split_first() else {
            continue;
        };
        let Some(program) = program.literal() else {
            continue;
        };
        let program = program.rsplit('/').next().unwrap_or(program);
        if !FILE_COMMANDS.contains(&program) {
            continue;
        }
        for operand in operands {
            let Some(text) = operand.literal() else {
                continue;
            };
            if text.starts_with('-') || (program == "chmod" && text.starts_with('+')) || text.starts_with('~')
            {
                continue;
            }
            let path = normalize(&cwd.join(text));
            if path.starts_with(project) {
                continue;
            }
            let directory = if DIRECTORY_COMMANDS.contains(&program) {
                path
            } else {
                path.parent().map_or(path.clone(), Path::to_path_buf)
            };
            if !found.contains(&directory) {
                found.push(directory);
            }
        }
    }
    found
}

/// One shell word: its text after quote removal, and whether the shell would expand it.
#[derive(Debug, PartialEq)]
struct Word {
    text: String,
    expands: bool,
}

impl Word {
    /// The word's text, if the shell takes it as it is.
    fn literal(&self) -> Option<&str> {
        (!self.expands).then_some(self.text.as_str())
    }
}

/// The simple commands of `command` (split at `;`, `&`, `|`, newlines and parentheses), each a
/// list of words, leading `VAR=value` assignments dropped.
fn simple_commands(command: &str) -> Vec<Vec<Word>> {
    let mut commands = vec![Vec::new()];
    let mut word: Option<Word> = None;
    let mut chars = command.chars().peekable();
    let end_word = |word: &mut Option<Word>, commands: &mut Vec<Vec<Word>>| {
        if let Some(w) = word.take() {
            let current = commands.last_mut().expect("one command at least");
            let assignment = current.is_empty()
                && !w.expands
                && w.text.split_once('=').is_some_and(|(name, _)| !name.is_empty());
            if !assignment {
                current.push(w);
            }
        }
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => end_word(&mut word, &mut commands),
            ';' | '&' | '|' | '\n' | '(' | ')' => {
                end_word(&mut word, &mut commands);
                if !commands.last().is_some_and(Vec::is_empty) {
                    commands.push(Vec::new());
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(empty);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.text.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(empty);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(next) = chars.next() {
                                w.text.push(next);
                            }
                        }
                        '$' | '`' => {
                            w.expands = true;
                            w.text.push(c);
                        }
                        _ => w.text.push(c),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(empty);
                if let Some(next) = chars.next() {
                    w.text.push(next);
                }
            }
            '$' | '`' | '*' | '?' | '[' | '{' | '<' | '>' => {
                // Redirections' targets are not checked here (the sandbox is); expansions and
                // globs make the word unknowable.
                if matches!(c, '<' | '>') {
                    end_word(&mut word, &mut commands);
                    // The redirection's target is the next word: mark it unknowable.
                    word = Some(Word {
                        text: String::new(),
                        expands: true,
                    });
                    while chars.peek().is_some_and(|c| matches!(c, '>' | '&' | ' ')) {
                        chars.next();
                    }
                    continue;
                }
                let w = word.get_or_insert_with(empty);
                w.expands = true;
                w.text.push(c);
            }
            _ => word.get_or_insert_with(empty).text.push(c),
        }
    }
    end_word(&mut word, &mut commands);
    commands.retain(|c| !c.is_empty());
    commands
}

fn empty() -> Word {
    Word {
        text: String::new(),
        expands: false,
    }
}

/// `path` with `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(command: &str) -> Vec<String> {
        directories(
            command,
            Path::new("/work/project/src"),
            Path::new("/work/project"),
        )
        .into_iter()
        .map(|p| p.display().to_string())
        .collect()
    }

    #[test]
    fn operands_inside_the_project_are_not_external() {
        assert!(dirs("cat main.rs ../README.md && ls .").is_empty());
        assert!(dirs("rm -rf /work/project/target").is_empty());
    }

    #[test]
    fn operands_outside_are_named_by_their_directory() {
        assert_eq!(dirs("cat ../../secret.txt"), ["/work"]);
        assert_eq!(dirs("cd /etc && ls"), ["/etc"]);
        assert_eq!(
            dirs("cp a.txt /tmp/out/a.txt; mkdir /opt/new"),
            ["/tmp/out", "/opt/new"]
        );
        assert_eq!(dirs("FOO=1 touch '/srv/with space/x'"), ["/srv/with space"]);
        assert_eq!(dirs("echo hi | cat /var/log/syslog"), ["/var/log"]);
    }

    #[test]
    fn what_the_shell_expands_is_left_to_the_sandbox() {
        assert!(dirs("cat $HOME/.ssh/id_rsa").is_empty());
        assert!(dirs("cat \"$(echo /etc/passwd)\"").is_empty());
        assert!(dirs("cat ~/.bashrc").is_empty());
        assert!(dirs("cat /etc/*.conf").is_empty());
        assert!(dirs("echo x > /tmp/out.txt").is_empty());
    }

    #[test]
    fn flags_and_other_programs_are_ignored() {
        assert_eq!(dirs("chmod +x /usr/local/bin/tool"), ["/usr/local/bin"]);
        assert!(dirs("echo /etc/passwd").is_empty());
        assert!(dirs("git -C /elsewhere status").is_empty());
    }
}
