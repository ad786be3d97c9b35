//! OpenCode's wildcard patterns: `*` matches any run of characters (slashes included), `?` one
//! character, everything else itself.

/// Whether `text` matches `pattern` in full. Iterative with one backtrack point, so it is
/// linear-ish and cannot blow up on adversarial patterns.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((star_p, star_t)) = star {
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("*", ""));
        assert!(matches("*.env", "/home/x/.env"));
        assert!(!matches("*.env", "/home/x/.env.local"));
        assert!(matches("*.env.*", "/home/x/.env.local"));
        assert!(matches("git *", "git status"));
        assert!(!matches("git *", "gitk"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("**a", "bba"));
        // A `*` in the pattern is a wildcard even where the text has a literal `*`.
        assert!(matches("*", "**/*.rs"));
        assert!(matches("src/*", "src/*.rs"));
    }
}
