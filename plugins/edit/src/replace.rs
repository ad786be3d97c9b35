//! Finding `oldString` in a file and replacing it, the way OpenCode's `edit` does: an exact match
//! first, then a series of more lenient matchers for the ways models commonly get the text
//! slightly wrong (indentation, trailing spaces, escaped newlines). Each matcher proposes
//! candidate snippets of the real content; the first candidate that occurs exactly once wins,
//! so a lenient matcher can never make an ambiguous edit.

/// Why a replacement could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaceError {
    Identical,
    NotFound,
    Multiple,
}

impl ReplaceError {
    /// The message the model sees; the texts are the ones OpenCode's edit description promises.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Identical => "oldString and newString must be different",
            Self::NotFound => "oldString not found in content",
            Self::Multiple => {
                "Found multiple matches for oldString. Provide more surrounding lines in oldString to identify the correct match."
            }
        }
    }
}

type Replacer = fn(&str, &str) -> Vec<String>;

/// The matchers in the order they are tried, strictest first.
const REPLACERS: &[Replacer] = &[
    simple,
    line_trimmed,
    block_anchor,
    whitespace_normalized,
    indentation_flexible,
    escape_normalized,
    trimmed_boundary,
    context_aware,
];

/// Replaces `old` with `new` in `content`: every occurrence with `replace_all`, otherwise the
/// one unique occurrence.
pub fn replace(content: &str, old: &str, new: &str, replace_all: bool) -> Result<String, ReplaceError> {
    if old == new {
        return Err(ReplaceError::Identical);
    }
    let mut found = false;
    for replacer in REPLACERS {
        for search in replacer(content, old) {
            // An empty candidate "matches" everywhere and would mangle the file.
            if search.is_empty() {
                continue;
            }
            let Some(index) = content.find(&search) else {
                continue;
            };
            found = true;
            if replace_all {
                return Ok(content.replace(&search, new));
            }
            if content.rfind(&search) != Some(index) {
                continue;
            }
            return Ok(format!(
                "{}{new}{}",
                &content[..index],
                &content[index + search.len()..]
            ));
        }
    }
    Err(if found {
        ReplaceError::Multiple
    } else {
        ReplaceError::NotFound
    })
}

/// Byte offset where line `index` of `lines` (split on `\n`) starts.
fn line_start(lines: &[&str], index: usize) -> usize {
    lines[..index].iter().map(|l| l.len() + 1).sum()
}

/// The content of lines `start..=end`, joined by their newlines.
fn line_block(content: &str, lines: &[&str], start: usize, end: usize) -> String {
    let from = line_start(lines, start);
    let to = line_start(lines, end) + lines[end].len();
    content[from..to].to_string()
}

/// The search text's lines, without the empty one a trailing newline leaves.
fn search_lines(find: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = find.split('\n').collect();
    if lines.len() > 1 && lines.last() == Some(&"") {
        lines.pop();
    }
    lines
}

fn simple(_content: &str, find: &str) -> Vec<String> {
    vec![find.to_string()]
}

/// Line by line, ignoring each line's leading and trailing whitespace.
fn line_trimmed(content: &str, find: &str) -> Vec<String> {
    let lines: Vec<&str> = content.split('\n').collect();
    let wanted = search_lines(find);
    if wanted.len() > lines.len() {
        return Vec::new();
    }
    (0..=lines.len() - wanted.len())
        .filter(|&i| {
            wanted
                .iter()
                .enumerate()
                .all(|(j, w)| lines[i + j].trim() == w.trim())
        })
        .map(|i| line_block(content, &lines, i, i + wanted.len() - 1))
        .collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() || b.is_empty() {
        return a.len().max(b.len());
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// A block of 3+ lines whose first and last lines match (trimmed); when several blocks qualify,
/// the one whose middle lines are most similar, if similar enough.
fn block_anchor(content: &str, find: &str) -> Vec<String> {
    const MULTIPLE_CANDIDATES_THRESHOLD: f64 = 0.3;
    if find.split('\n').count() < 3 {
        return Vec::new();
    }
    let lines: Vec<&str> = content.split('\n').collect();
    let wanted = search_lines(find);
    let (Some(first), Some(last)) = (wanted.first().map(|l| l.trim()), wanted.last().map(|l| l.trim()))
    else {
        return Vec::new();
    };
    let mut candidates = Vec::new();
    for start in 0..lines.len() {
        if lines[start].trim() != first {
            continue;
        }
        if let Some(end) = (start + 2..lines.len()).find(|&j| lines[j].trim() == last) {
            candidates.push((start, end));
        }
    }
    let similarity = |(start, end): (usize, usize)| -> f64 {
        let actual = end - start + 1;
        let checked = wanted.len().min(actual).saturating_sub(2);
        if checked == 0 {
            return 1.0;
        }
        let mut total = 0.0;
        for j in 1..wanted.len().min(actual) - 1 {
            let (a, b) = (lines[start + j].trim(), wanted[j].trim());
            let longest = a.chars().count().max(b.chars().count());
            if longest > 0 {
                total += 1.0 - levenshtein(a, b) as f64 / longest as f64;
            }
        }
        total / checked as f64
    };
    let chosen = match candidates.as_slice() {
        [] => None,
        // A single anchored block is accepted whatever its middle looks like (OpenCode's
        // threshold for this case is 0).
        [only] => Some(*only),
        many => {
            let mut best: Option<((usize, usize), f64)> = None;
            for &candidate in many {
                let score = similarity(candidate);
                if best.is_none_or(|(_, top)| score > top) {
                    best = Some((candidate, score));
                }
            }
            best.filter(|(_, score)| *score >= MULTIPLE_CANDIDATES_THRESHOLD)
                .map(|(c, _)| c)
        }
    };
    chosen
        .map(|(start, end)| vec![line_block(content, &lines, start, end)])
        .unwrap_or_default()
}

fn normalize_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The leftmost span of `line` holding `words` in order, separated by any runs of whitespace.
fn find_words(line: &str, words: &[&str]) -> Option<String> {
    for (start, _) in line.char_indices() {
        let mut pos = start;
        let mut matched = true;
        for (i, word) in words.iter().enumerate() {
            if !line[pos..].starts_with(word) {
                matched = false;
                break;
            }
            pos += word.len();
            if i + 1 < words.len() {
                let gap: usize = line[pos..]
                    .chars()
                    .take_while(|c| c.is_whitespace())
                    .map(char::len_utf8)
                    .sum();
                if gap == 0 {
                    matched = false;
                    break;
                }
                pos += gap;
            }
        }
        if matched {
            return Some(line[start..pos].to_string());
        }
    }
    None
}

/// Equal once every run of whitespace is collapsed to one space.
fn whitespace_normalized(content: &str, find: &str) -> Vec<String> {
    let wanted = normalize_whitespace(find);
    let lines: Vec<&str> = content.split('\n').collect();
    let words: Vec<&str> = find.split_whitespace().collect();
    let mut out = Vec::new();
    for line in &lines {
        let normalized = normalize_whitespace(line);
        if normalized == wanted {
            out.push(line.to_string());
        } else if !words.is_empty() && normalized.contains(&wanted) {
            out.extend(find_words(line, &words));
        }
    }
    let find_lines = find.split('\n').count();
    if find_lines > 1 && find_lines <= lines.len() {
        for window in lines.windows(find_lines) {
            let block = window.join("\n");
            if normalize_whitespace(&block) == wanted {
                out.push(block);
            }
        }
    }
    out
}

/// `text` with the indentation all its non-blank lines share removed.
fn remove_indentation(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.chars().take_while(|c| c.is_whitespace()).count())
        .min();
    let Some(indent) = indent else {
        return text.to_string();
    };
    lines
        .iter()
        .map(|l| {
            if l.trim().is_empty() {
                l.to_string()
            } else {
                l.chars().skip(indent).collect()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Equal once each side's common indentation is removed (the block was re-indented).
fn indentation_flexible(content: &str, find: &str) -> Vec<String> {
    let wanted = remove_indentation(find);
    let lines: Vec<&str> = content.split('\n').collect();
    let count = find.split('\n').count();
    if count > lines.len() {
        return Vec::new();
    }
    lines
        .windows(count)
        .map(|w| w.join("\n"))
        .filter(|block| remove_indentation(block) == wanted)
        .collect()
}

/// Resolves the backslash escapes a model may have left in literally (`\n`, `\t`, `\"`, ...).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let replacement = match chars.peek() {
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some(&other @ ('\'' | '"' | '`' | '\\' | '\n' | '$')) => other,
            _ => {
                out.push(c);
                continue;
            }
        };
        chars.next();
        out.push(replacement);
    }
    out
}

/// Equal once escape sequences are resolved, in the search text or in the file.
fn escape_normalized(content: &str, find: &str) -> Vec<String> {
    let wanted = unescape(find);
    let mut out = Vec::new();
    if content.contains(&wanted) {
        out.push(wanted.clone());
    }
    let lines: Vec<&str> = content.split('\n').collect();
    let count = wanted.split('\n').count();
    if count <= lines.len() {
        for window in lines.windows(count) {
            let block = window.join("\n");
            if unescape(&block) == wanted {
                out.push(block);
            }
        }
    }
    out
}

/// Equal once leading and trailing whitespace of the whole search text is ignored.
fn trimmed_boundary(content: &str, find: &str) -> Vec<String> {
    let trimmed = find.trim();
    if trimmed == find {
        return Vec::new();
    }
    let mut out = Vec::new();
    if content.contains(trimmed) {
        out.push(trimmed.to_string());
    }
    let lines: Vec<&str> = content.split('\n').collect();
    let count = find.split('\n').count();
    if count <= lines.len() {
        for window in lines.windows(count) {
            let block = window.join("\n");
            if block.trim() == trimmed {
                out.push(block);
            }
        }
    }
    out
}

/// A block with the same first and last lines and the same length, at least half of whose
/// non-blank middle lines match.
fn context_aware(content: &str, find: &str) -> Vec<String> {
    if find.split('\n').count() < 3 {
        return Vec::new();
    }
    let wanted = search_lines(find);
    let lines: Vec<&str> = content.split('\n').collect();
    let (Some(first), Some(last)) = (wanted.first().map(|l| l.trim()), wanted.last().map(|l| l.trim()))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for start in 0..lines.len() {
        if lines[start].trim() != first {
            continue;
        }
        let Some(end) = (start + 2..lines.len()).find(|&j| lines[j].trim() == last) else {
            continue;
        };
        let block = &lines[start..=end];
        if block.len() == wanted.len() {
            let (mut matching, mut non_blank) = (0, 0);
            for k in 1..block.len() - 1 {
                let (a, b) = (block[k].trim(), wanted[k].trim());
                if !a.is_empty() || !b.is_empty() {
                    non_blank += 1;
                    if a == b {
                        matching += 1;
                    }
                }
            }
            if non_blank == 0 || matching * 2 >= non_blank {
                out.push(block.join("\n"));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_unique_exact_match() {
        assert_eq!(replace("a b c", "b", "x", false), Ok("a x c".into()));
    }

    #[test]
    fn refuses_identical_strings() {
        assert_eq!(replace("abc", "b", "b", false), Err(ReplaceError::Identical));
    }

    #[test]
    fn reports_not_found() {
        let err = replace("hello world", "goodbye", "x", false).expect_err("no match");
        assert_eq!(err, ReplaceError::NotFound);
        assert_eq!(err.message(), "oldString not found in content");
    }

    #[test]
    fn reports_multiple_matches_unless_replace_all() {
        let err = replace("foo\nbar\nfoo\n", "foo", "baz", false).expect_err("ambiguous");
        assert_eq!(err, ReplaceError::Multiple);
        assert!(err.message().starts_with("Found multiple matches for oldString."));
        assert_eq!(
            replace("foo\nbar\nfoo\n", "foo", "baz", true),
            Ok("baz\nbar\nbaz\n".into())
        );
    }

    #[test]
    fn line_trimmed_fallback_tolerates_indentation() {
        let content = "fn main() {\n    let x = 1;\n    println!(\"{x}\");\n}\n";
        let edited =
            replace(content, "let x = 1;\nprintln!(\"{x}\");", "let y = 2;", false).expect("matched");
        // The matched lines are replaced whole, their indentation included, as OpenCode does.
        assert_eq!(edited, "fn main() {\nlet y = 2;\n}\n");
        assert_eq!(
            line_trimmed(content, "let x = 1;  \n"),
            vec!["    let x = 1;".to_string()]
        );
    }

    #[test]
    fn block_anchor_picks_the_most_similar_block() {
        let content = "start\nalpha\nend\nstart\nbeta gamma\nend\n";
        let found = block_anchor(content, "start\nbeta gama\nend");
        assert_eq!(found, vec!["start\nbeta gamma\nend".to_string()]);
    }

    #[test]
    fn whitespace_normalized_matches_inside_a_line() {
        let found = whitespace_normalized("let   x =  1; // note", "x = 1;");
        assert_eq!(found, vec!["x =  1;".to_string()]);
    }

    #[test]
    fn indentation_flexible_matches_a_reindented_block() {
        let content = "    if a {\n        b();\n    }\n";
        assert_eq!(
            indentation_flexible(content, "if a {\n    b();\n}"),
            vec!["    if a {\n        b();\n    }"]
        );
    }

    #[test]
    fn escape_normalized_resolves_literal_escapes() {
        assert_eq!(unescape(r#"a\nb\t\"c\""#), "a\nb\t\"c\"");
        assert_eq!(replace("x\ny\n", r"x\ny", "z", false), Ok("z\n".into()));
    }

    #[test]
    fn trimmed_boundary_ignores_surrounding_blank_space() {
        assert_eq!(
            trimmed_boundary("a\nbc\n", "  bc\n"),
            vec!["bc".to_string(), "bc\n".to_string()]
        );
    }

    #[test]
    fn context_aware_needs_half_the_middle_lines() {
        let content = "{\none\ntwo\nthree\n}";
        assert_eq!(context_aware(content, "{\none\nTWO\nthree\n}").len(), 1);
        assert!(context_aware(content, "{\nx\ny\nthree\n}").is_empty());
    }

    #[test]
    fn lenient_matches_must_still_be_unique() {
        let content = "  a\n  b\n\n  a\n  b\n";
        assert_eq!(replace(content, "a\nb", "c", false), Err(ReplaceError::Multiple));
    }
}
