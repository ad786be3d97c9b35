//! Unified diffs shaped like the ones OpenCode attaches to `edit` and `write` calls: jsdiff's
//! `createTwoFilesPatch` layout (an `Index:` banner, 4 lines of context, counts on every hunk
//! range), with the indentation common to all changed and context lines trimmed away.
//!
//! Used by the `edit` and `write` tools, so the two show identical diffs.

use similar::{ChangeTag, TextDiff};

/// Context lines around each change; jsdiff's default.
const CONTEXT: usize = 4;

/// A diff and how many lines it adds and removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    pub patch: String,
    pub additions: usize,
    pub deletions: usize,
}

/// The diff from `old` to `new` for the file shown as `name`.
pub fn file_diff(name: &str, old: &str, new: &str) -> FileDiff {
    let diff = TextDiff::from_lines(old, new);
    let mut lines = vec![
        format!("Index: {name}"),
        "=".repeat(67),
        format!("--- {name}"),
        format!("+++ {name}"),
    ];
    let (mut additions, mut deletions) = (0, 0);
    for group in diff.grouped_ops(CONTEXT) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        lines.push(format!(
            "@@ -{} +{} @@",
            hunk_range(old_range),
            hunk_range(new_range)
        ));
        for op in &group {
            for change in diff.iter_changes(op) {
                let prefix = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => {
                        deletions += 1;
                        '-'
                    }
                    ChangeTag::Insert => {
                        additions += 1;
                        '+'
                    }
                };
                let text = change.value();
                lines.push(format!("{prefix}{}", text.strip_suffix('\n').unwrap_or(text)));
                if change.missing_newline() {
                    lines.push("\\ No newline at end of file".into());
                }
            }
        }
    }
    let mut patch = lines.join("\n");
    patch.push('\n');
    FileDiff {
        patch: trim_indentation(&patch),
        additions,
        deletions,
    }
}

/// `start,count` with a 1-based start; an empty range names the line before it, as in `diff -u`.
fn hunk_range(range: std::ops::Range<usize>) -> String {
    let count = range.len();
    let start = if count == 0 { range.start } else { range.start + 1 };
    format!("{start},{count}")
}

fn is_body_line(line: &str) -> bool {
    (line.starts_with('+') || line.starts_with('-') || line.starts_with(' '))
        && !line.starts_with("---")
        && !line.starts_with("+++")
}

/// Removes the leading whitespace every non-blank hunk line shares, so deeply indented code
/// stays readable in a narrow permission prompt.
fn trim_indentation(patch: &str) -> String {
    let indent = patch
        .split('\n')
        .filter(|line| is_body_line(line))
        .map(|line| &line[1..])
        .filter(|text| !text.trim().is_empty())
        .map(|text| text.chars().take_while(|c| c.is_whitespace()).count())
        .min();
    let Some(indent) = indent.filter(|&n| n > 0) else {
        return patch.to_string();
    };
    patch
        .split('\n')
        .map(|line| {
            if is_body_line(line) {
                let (prefix, text) = line.split_at(1);
                let rest: String = text.chars().skip(indent).collect();
                format!("{prefix}{rest}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::file_diff;

    #[test]
    fn formats_like_jsdiff() {
        let diff = file_diff("/p/a.txt", "one\ntwo\nthree\n", "one\n2\nthree\n");
        assert_eq!(
            diff.patch,
            format!(
                "Index: /p/a.txt\n{}\n--- /p/a.txt\n+++ /p/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n",
                "=".repeat(67)
            )
        );
        assert_eq!((diff.additions, diff.deletions), (1, 1));
    }

    #[test]
    fn new_file_starts_at_zero_and_marks_missing_newline() {
        let diff = file_diff("f", "", "a\nb");
        assert!(
            diff.patch
                .contains("@@ -0,0 +1,2 @@\n+a\n+b\n\\ No newline at end of file\n")
        );
        assert_eq!((diff.additions, diff.deletions), (2, 0));
    }

    #[test]
    fn trims_shared_indentation() {
        let diff = file_diff("f", "    a\n      b\n", "    a\n      c\n");
        assert!(diff.patch.contains("\n a\n-  b\n+  c\n"), "{}", diff.patch);
    }

    #[test]
    fn identical_content_has_no_hunks() {
        let diff = file_diff("f", "same\n", "same\n");
        assert!(!diff.patch.contains("@@"));
        assert_eq!((diff.additions, diff.deletions), (0, 0));
    }
}
