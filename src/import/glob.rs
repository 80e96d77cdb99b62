//! The globs of supervisord's `[include] files = conf.d/*.conf`: `*`, `?` and `[...]`
//! in any path component, matched against the directory's entries (sorted, hidden files
//! only when the pattern names them, as Python's glob does).

use std::path::{Path, PathBuf};

/// The files matching `pattern` (relative patterns start at `base`).
pub fn expand(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let start = if pattern.starts_with('/') {
        PathBuf::from("/")
    } else {
        base.to_path_buf()
    };
    let mut current = vec![start];
    for component in pattern.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let mut next = Vec::new();
        for dir in &current {
            if !has_wildcard(component) {
                let path = dir.join(component);
                if path.exists() {
                    next.push(path);
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with('.') || component.starts_with('.'))
                .filter(|name| matches(component, name))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|name| dir.join(name)));
        }
        current = next;
    }
    current.retain(|path| path.is_file());
    current
}

fn has_wildcard(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

/// fnmatch for one component: `*`, `?`, `[abc]`, `[a-z]`, `[!abc]`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    matches_at(&pattern, &name)
}

fn matches_at(pattern: &[char], name: &[char]) -> bool {
    match pattern.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|skip| matches_at(&pattern[1..], &name[skip..])),
        Some('?') => !name.is_empty() && matches_at(&pattern[1..], &name[1..]),
        Some('[') => {
            let Some(close) = pattern.iter().skip(2).position(|c| *c == ']') else {
                return name.first() == Some(&'[') && matches_at(&pattern[1..], &name[1..]);
            };
            let class = &pattern[1..close + 2];
            let rest = &pattern[close + 3..];
            let Some(c) = name.first() else {
                return false;
            };
            let (negated, class) = match class.first() {
                Some('!') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= (class[i]..=class[i + 2]).contains(c);
                    i += 3;
                } else {
                    hit |= class[i] == *c;
                    i += 1;
                }
            }
            hit != negated && matches_at(rest, &name[1..])
        }
        Some(literal) => name.first() == Some(literal) && matches_at(&pattern[1..], &name[1..]),
    }
}
