//! What Tab offers in the shell: command words first, then, depending on the command's
//! clap definition, service/instance names, signal names or the command's flags. Pure:
//! the names come from a function, so this is tested without a daemon.

use clap::{ArgAction, Subcommand};

use super::command::Command;
use super::shell_line::SHELL_WORDS;

/// Signals people send by hand, for `signal SIG`.
const SIGNALS: [&str; 12] = [
    "HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "ALRM", "TERM", "CONT", "STOP", "WINCH", "PWR",
];

/// The word under the cursor starts at the returned byte offset; the candidates would
/// replace it. `names` gives the services and instances (asked from the daemon), or
/// `None` when the daemon cannot be reached, and then no names are offered, not even
/// `all`; it is only called when a name can go under the cursor.
pub fn complete_line(
    line: &str,
    pos: usize,
    names: &mut dyn FnMut() -> Option<Vec<String>>,
) -> (usize, Vec<String>) {
    let before = line.get(..pos).unwrap_or(line);
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let prefix = &before[start..];
    let typed: Vec<&str> = before[..start].split_whitespace().collect();
    let mut candidates = match typed.as_slice() {
        [] | ["help"] => command_words(),
        [word, args @ ..] => argument_candidates(word, args, prefix, names),
    };
    candidates.retain(|c| c.starts_with(prefix) || is_signal_match(c, prefix));
    candidates.retain(|c| !typed[1.min(typed.len())..].contains(&c.as_str()));
    candidates.sort();
    candidates.dedup();
    (start, candidates)
}

/// Every command word, and the shell's own.
pub fn command_words() -> Vec<String> {
    let commands = Command::augment_subcommands(clap::Command::new("taskmaster"));
    let mut words: Vec<String> = commands
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    words.extend(SHELL_WORDS.iter().map(|w| w.to_string()));
    words
}

fn argument_candidates(
    word: &str,
    args: &[&str],
    prefix: &str,
    names: &mut dyn FnMut() -> Option<Vec<String>>,
) -> Vec<String> {
    let mut commands = Command::augment_subcommands(clap::Command::new("taskmaster"));
    // The arguments are deferred until built (see `Command`).
    commands.build();
    let Some(command) = commands.find_subcommand(word) else {
        return Vec::new();
    };
    if prefix.starts_with('-') {
        let flags = command.get_arguments().filter_map(|a| a.get_long());
        return flags
            .map(|long| format!("--{long}"))
            .chain(["--help".to_string()])
            .collect();
    }
    let positionals: Vec<&clap::Arg> = command.get_positionals().collect();
    let index = args.iter().filter(|a| !a.starts_with('-')).count();
    let arg = match positionals.get(index) {
        Some(arg) => Some(*arg),
        // Past the last positional: more of it only if it takes several values.
        None => positionals
            .last()
            .copied()
            .filter(|a| matches!(a.get_action(), ArgAction::Append)),
    };
    match arg.map(|a| a.get_id().as_str()) {
        Some("names" | "name") => match names() {
            Some(mut names) => {
                names.push("all".to_string());
                names
            }
            None => Vec::new(),
        },
        Some("signal") => SIGNALS.iter().map(|s| s.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// Signal names also complete from lower case (`ter` gives `TERM`).
fn is_signal_match(candidate: &str, prefix: &str) -> bool {
    SIGNALS.contains(&candidate) && candidate.starts_with(&prefix.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Option<Vec<String>> {
        Some(
            ["web", "web:0", "web:1", "worker", "db"]
                .map(String::from)
                .to_vec(),
        )
    }

    /// The candidates for the line with the cursor at its end.
    fn complete(line: &str) -> (usize, Vec<String>) {
        complete_line(line, line.len(), &mut names)
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn sto_completes_to_stop() {
        assert_eq!(complete("sto"), (0, words(&["stop"])));
    }

    #[test]
    fn st_offers_every_command_starting_so() {
        assert_eq!(complete("st"), (0, words(&["start", "status", "stop"])));
        assert_eq!(complete("q"), (0, words(&["quit"])));
    }

    #[test]
    fn an_empty_line_offers_all_commands() {
        let (start, all) = complete("");
        assert_eq!(start, 0);
        assert!(
            all.contains(&"reopen".to_string()) && all.contains(&"exit".to_string()),
            "{all:?}"
        );
        // Every command of the clap enum, plus the shell's own words (help, exit, quit).
        let commands = Command::augment_subcommands(clap::Command::new("t"))
            .get_subcommands()
            .count();
        assert_eq!(all.len(), commands + 3, "{all:?}");
    }

    #[test]
    fn stop_w_offers_the_names_starting_with_w() {
        assert_eq!(
            complete("stop w"),
            (5, words(&["web", "web:0", "web:1", "worker"]))
        );
        assert_eq!(complete("stop web:"), (5, words(&["web:0", "web:1"])));
        assert_eq!(
            complete("stop "),
            (5, words(&["all", "db", "web", "web:0", "web:1", "worker"]))
        );
    }

    #[test]
    fn names_already_on_the_line_are_not_offered_again() {
        assert_eq!(complete("stop web:0 web:"), (11, words(&["web:1"])));
    }

    #[test]
    fn tail_takes_one_name_and_its_flags() {
        assert_eq!(complete("tail -f d"), (8, words(&["db"])));
        assert_eq!(complete("tail db "), (8, words(&[])));
        assert_eq!(complete("tail --s"), (5, words(&["--stderr"])));
        assert_eq!(
            complete("tail -"),
            (5, words(&["--follow", "--help", "--stderr"]))
        );
    }

    #[test]
    fn signal_completes_the_signal_then_names() {
        assert_eq!(complete("signal TE"), (7, words(&["TERM"])));
        assert_eq!(complete("signal hu"), (7, words(&["HUP"])));
        assert_eq!(complete("signal HUP d"), (11, words(&["db"])));
    }

    #[test]
    fn commands_without_names_ask_nobody() {
        let mut asked = false;
        let mut names = || {
            asked = true;
            None
        };
        assert_eq!(complete_line("reload ", 7, &mut names), (7, words(&[])));
        assert_eq!(complete_line("nope ", 5, &mut names), (5, words(&[])));
        assert!(!asked);
    }

    #[test]
    fn help_completes_command_words() {
        assert_eq!(complete("help rel"), (5, words(&["reload"])));
    }

    #[test]
    fn the_cursor_may_be_mid_line() {
        assert_eq!(
            complete_line("sto web", 3, &mut names),
            (0, words(&["stop"]))
        );
    }

    #[test]
    fn an_unreachable_daemon_means_commands_only() {
        assert_eq!(complete_line("stop ", 5, &mut || None), (5, words(&[])));
        assert_eq!(complete_line("sto", 3, &mut || None), (0, words(&["stop"])));
    }

    #[test]
    fn a_daemon_without_services_still_offers_all() {
        assert_eq!(
            complete_line("stop ", 5, &mut || Some(Vec::new())),
            (5, words(&["all"]))
        );
    }
}
