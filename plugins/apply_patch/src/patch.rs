//! The patch language of `apply_patch` (the format OpenAI's models are trained to write, which
//! OpenCode's `apply_patch` takes): parsing, and applying one file's hunks to its text.

/// One file's operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOp {
    Add {
        path: String,
        contents: String,
    },
    Delete {
        path: String,
    },
    Update {
        path: String,
        move_to: Option<String>,
        chunks: Vec<Chunk>,
    },
}

impl FileOp {
    pub fn path(&self) -> &str {
        match self {
            Self::Add { path, .. } | Self::Delete { path } | Self::Update { path, .. } => path,
        }
    }
}

/// One `@@` hunk of an update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunk {
    /// The text after `@@`: a line to find first (a function's signature, say).
    pub anchor: Option<String>,
    /// The lines the hunk replaces (context and removed lines, in order).
    pub old: Vec<String>,
    /// What they become (context and added lines, in order).
    pub new: Vec<String>,
    /// `*** End of File`: the old lines end the file.
    pub at_end: bool,
}

const BEGIN: &str = "*** Begin Patch";
const END: &str = "*** End Patch";
const ADD: &str = "*** Add File: ";
const DELETE: &str = "*** Delete File: ";
const UPDATE: &str = "*** Update File: ";
const MOVE: &str = "*** Move to: ";
const END_OF_FILE: &str = "*** End of File";

/// Parses a whole patch; the message says which line is wrong and why.
pub fn parse(text: &str) -> Result<Vec<FileOp>, String> {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.trim().lines().collect();
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if first.trim() == BEGIN && last.trim() == END => {}
        _ => {
            return Err(format!(
                "the patch must start with `{BEGIN}` and end with `{END}`"
            ));
        }
    }
    let body = &lines[1..lines.len() - 1];
    let mut ops = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let line = body[i];
        if let Some(path) = line.strip_prefix(ADD) {
            i += 1;
            let mut contents = String::new();
            while i < body.len() && !body[i].starts_with("*** ") {
                let Some(added) = body[i].strip_prefix('+') else {
                    return Err(format!(
                        "line {}: every line of an added file starts with `+`: {:?}",
                        i + 2,
                        body[i]
                    ));
                };
                contents.push_str(added);
                contents.push('\n');
                i += 1;
            }
            ops.push(FileOp::Add {
                path: path.trim().to_string(),
                contents,
            });
        } else if let Some(path) = line.strip_prefix(DELETE) {
            ops.push(FileOp::Delete {
                path: path.trim().to_string(),
            });
            i += 1;
        } else if let Some(path) = line.strip_prefix(UPDATE) {
            i += 1;
            let move_to = match body.get(i).and_then(|l| l.strip_prefix(MOVE)) {
                Some(to) => {
                    i += 1;
                    Some(to.trim().to_string())
                }
                None => None,
            };
            let mut chunks: Vec<Chunk> = Vec::new();
            while i < body.len() && !is_file_header(body[i]) {
                let line = body[i];
                if let Some(anchor) = line.strip_prefix("@@") {
                    let anchor = anchor.trim();
                    chunks.push(Chunk {
                        anchor: (!anchor.is_empty()).then(|| anchor.to_string()),
                        ..Chunk::default()
                    });
                } else if line.trim() == END_OF_FILE {
                    match chunks.last_mut() {
                        Some(chunk) => chunk.at_end = true,
                        None => return Err(format!("line {}: `{END_OF_FILE}` before any change", i + 2)),
                    }
                } else {
                    if chunks.is_empty() {
                        // The first hunk may leave out its `@@`.
                        chunks.push(Chunk::default());
                    }
                    let chunk = chunks.last_mut().expect("just made sure there is one");
                    match line.chars().next() {
                        Some('+') => chunk.new.push(line[1..].to_string()),
                        Some('-') => chunk.old.push(line[1..].to_string()),
                        Some(' ') => {
                            chunk.old.push(line[1..].to_string());
                            chunk.new.push(line[1..].to_string());
                        }
                        // A blank context line whose leading space was lost on the way.
                        None => {
                            chunk.old.push(String::new());
                            chunk.new.push(String::new());
                        }
                        Some(_) => {
                            return Err(format!(
                                "line {}: a changed line starts with ` `, `-` or `+`: {line:?}",
                                i + 2
                            ));
                        }
                    }
                }
                i += 1;
            }
            if chunks.iter().all(|c| c.old.is_empty() && c.new.is_empty()) && move_to.is_none() {
                return Err(format!("the update of {} changes nothing", path.trim()));
            }
            ops.push(FileOp::Update {
                path: path.trim().to_string(),
                move_to,
                chunks,
            });
        } else if line.trim().is_empty() {
            i += 1;
        } else {
            return Err(format!(
                "line {}: expected `{ADD}`, `{DELETE}` or `{UPDATE}`, found {line:?}",
                i + 2
            ));
        }
    }
    if ops.is_empty() {
        return Err("the patch changes no file".into());
    }
    Ok(ops)
}

fn is_file_header(line: &str) -> bool {
    line.starts_with(ADD) || line.starts_with(DELETE) || line.starts_with(UPDATE)
}

/// `text` with `chunks` applied, in order; the message names the lines that were not found.
pub fn apply(text: &str, chunks: &[Chunk], path: &str) -> Result<String, String> {
    let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
    // A final newline leaves an empty last element: it is not a line.
    let final_newline = lines.last().is_some_and(String::is_empty);
    if final_newline {
        lines.pop();
    }
    let mut replacements: Vec<(usize, usize, Vec<String>)> = Vec::new();
    let mut from = 0;
    for chunk in chunks {
        if let Some(anchor) = &chunk.anchor {
            let found = find(&lines, std::slice::from_ref(anchor), from, false)
                .ok_or_else(|| format!("Failed to find context '{anchor}' in {path}"))?;
            from = found + 1;
        }
        if chunk.old.is_empty() {
            // Only additions: at the end of the file.
            replacements.push((lines.len(), 0, chunk.new.clone()));
            continue;
        }
        let (start, len) = find(&lines, &chunk.old, from, chunk.at_end)
            .map(|start| (start, chunk.old.len()))
            .or_else(|| {
                // A trailing empty line in the hunk that the file lacks.
                let trimmed = chunk.old.strip_suffix(&[String::new()])?;
                find(&lines, trimmed, from, chunk.at_end).map(|start| (start, trimmed.len()))
            })
            .ok_or_else(|| {
                format!(
                    "Failed to find expected lines in {path}:\n{}",
                    chunk.old.join("\n")
                )
            })?;
        replacements.push((start, len, chunk.new.clone()));
        from = start + len;
    }
    for (start, len, new) in replacements.into_iter().rev() {
        lines.splice(start..start + len, new);
    }
    let mut out = lines.join("\n");
    if final_newline || !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

/// Where `needle` starts in `lines` at or after `from` (at the end, when `at_end`): exactly, else
/// ignoring trailing whitespace, else ignoring all surrounding whitespace.
fn find(lines: &[String], needle: &[String], from: usize, at_end: bool) -> Option<usize> {
    if needle.len() > lines.len() {
        return None;
    }
    let comparisons: [fn(&str, &str) -> bool; 3] = [
        |a, b| a == b,
        |a, b| a.trim_end() == b.trim_end(),
        |a, b| a.trim() == b.trim(),
    ];
    let last = lines.len() - needle.len();
    for same in comparisons {
        let matches = |start: usize| needle.iter().zip(&lines[start..]).all(|(n, l)| same(l, n));
        if at_end {
            if last >= from && matches(last) {
                return Some(last);
            }
            continue;
        }
        if let Some(start) = (from..=last).find(|&start| matches(start)) {
            return Some(start);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_operation() {
        let ops = parse(
            "*** Begin Patch\n*** Add File: a.txt\n+one\n+two\n*** Update File: b.txt\n*** Move to: c.txt\n@@ fn main\n-old\n+new\n context\n*** End of File\n*** Delete File: d.txt\n*** End Patch\n",
        )
        .expect("parses");
        assert_eq!(ops.len(), 3);
        assert_eq!(
            ops[0],
            FileOp::Add {
                path: "a.txt".into(),
                contents: "one\ntwo\n".into()
            }
        );
        let FileOp::Update { move_to, chunks, .. } = &ops[1] else {
            panic!("an update")
        };
        assert_eq!(move_to.as_deref(), Some("c.txt"));
        assert_eq!(chunks[0].anchor.as_deref(), Some("fn main"));
        assert_eq!(chunks[0].old, ["old", "context"]);
        assert_eq!(chunks[0].new, ["new", "context"]);
        assert!(chunks[0].at_end);
        assert_eq!(ops[2], FileOp::Delete { path: "d.txt".into() });
    }

    #[test]
    fn refuses_what_is_not_a_patch() {
        assert!(parse("hello").is_err());
        assert!(parse("*** Begin Patch\n*** End Patch").is_err());
        assert!(parse("*** Begin Patch\n*** Add File: a\nno plus\n*** End Patch").is_err());
        assert!(parse("*** Begin Patch\n*** Frobnicate: a\n*** End Patch").is_err());
    }

    #[test]
    fn applies_hunks_in_order_with_lenient_whitespace() {
        let text = "fn a() {\n    1\n}\nfn b() {\n    1\n}\n";
        let chunks = vec![Chunk {
            anchor: Some("fn b() {".into()),
            old: vec!["    1  ".into()],
            new: vec!["    2".into()],
            at_end: false,
        }];
        assert_eq!(
            apply(text, &chunks, "x.rs").expect("applies"),
            "fn a() {\n    1\n}\nfn b() {\n    2\n}\n"
        );
        let missing = vec![Chunk {
            old: vec!["nope".into()],
            new: vec![],
            ..Chunk::default()
        }];
        assert!(
            apply(text, &missing, "x.rs")
                .expect_err("fails")
                .contains("Failed to find expected lines in x.rs")
        );
        let append = vec![Chunk {
            new: vec!["// end".into()],
            ..Chunk::default()
        }];
        assert!(
            apply(text, &append, "x.rs")
                .expect("appends")
                .ends_with("}\n// end\n")
        );
    }
}
