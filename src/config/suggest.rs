//! "did you mean `autostart`?": the closest known name to a misspelled one.

/// The candidate closest to `unknown` by edit distance, if it is close enough to be a
/// plausible typo (at most a third of the word, and at most 3 edits). `_` and `-` are treated
/// alike so that `no_new_privs` finds `no-new-privs`; case is ignored.
pub(crate) fn closest<'c>(
    unknown: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let wanted = normalize(unknown);
    let limit = (wanted.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&wanted, &normalize(candidate)), candidate))
        .filter(|(distance, _)| *distance <= limit)
        // Smallest distance; among equals the first candidate, so the answer is stable.
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// `"; did you mean `x`?"` to append to a message, or nothing.
pub(crate) fn did_you_mean<'c>(
    unknown: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> String {
    closest(unknown, candidates)
        .map(|name| format!("; did you mean `{name}`?"))
        .unwrap_or_default()
}

/// Names other supervisors use for a field (supervisord, systemd, docker-compose), which
/// are too far from ours for [`closest`] to find (`workdir` is 3 edits from `workingdir`).
const FIELD_SYNONYMS: [(&str, &str); 17] = [
    ("workdir", "workingdir"),
    ("working-directory", "workingdir"),
    ("workingdirectory", "workingdir"),
    ("directory", "workingdir"),
    ("cwd", "workingdir"),
    ("chdir", "workingdir"),
    ("command", "cmd"),
    ("exec", "cmd"),
    ("execstart", "cmd"),
    ("environment", "env"),
    ("environmentfile", "env-file"),
    ("restart", "autorestart"),
    ("startsecs", "starttime"),
    ("stopwaitsecs", "stoptime"),
    ("killsignal", "stopsignal"),
    ("depends-on", "requires"),
    ("instances", "numprocs"),
];

/// "; did you mean `workingdir`?" for an unknown field: another tool's name for it, else
/// the closest field by spelling.
pub(crate) fn did_you_mean_field<'c>(
    unknown: &str,
    fields: impl IntoIterator<Item = &'c str>,
) -> String {
    let wanted = normalize(unknown);
    match FIELD_SYNONYMS.iter().find(|(other, _)| *other == wanted) {
        Some((_, ours)) => format!("; did you mean `{ours}`?"),
        None => did_you_mean(unknown, fields),
    }
}

fn normalize(word: &str) -> String {
    word.to_lowercase().replace('_', "-")
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [&str; 4] = ["autostart", "autorestart", "no-new-privs", "cmd"];

    #[test]
    fn finds_plausible_typos_only() {
        assert_eq!(closest("autostrat", FIELDS), Some("autostart"));
        assert_eq!(closest("auto_restart", FIELDS), Some("autorestart"));
        assert_eq!(closest("no_new_privs", FIELDS), Some("no-new-privs"));
        assert_eq!(closest("CMD", FIELDS), Some("cmd"));
        assert_eq!(closest("program", FIELDS), None);
        assert_eq!(did_you_mean("xyz", FIELDS), "");
    }

    #[test]
    fn other_tools_names_for_a_field_are_recognised() {
        let fields = ["workingdir", "cmd", "env"];
        assert_eq!(
            did_you_mean_field("workdir", fields),
            "; did you mean `workingdir`?"
        );
        assert_eq!(
            did_you_mean_field("Working_Directory", fields),
            "; did you mean `workingdir`?"
        );
        assert_eq!(
            did_you_mean_field("command", fields),
            "; did you mean `cmd`?"
        );
        assert_eq!(did_you_mean_field("cmdd", fields), "; did you mean `cmd`?");
        assert_eq!(did_you_mean_field("zzzzzz", fields), "");
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_substitutions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
