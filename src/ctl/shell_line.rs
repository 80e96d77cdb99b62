//! Turning one shell line into something to do. The words are split with shell quoting
//! rules (so `signal "TERM" web` works), then parsed by the same clap enum as the command
//! line; `help`, `exit` and `quit` exist only in the shell.

use clap::{CommandFactory, Parser};

use super::command::Command;

/// What a shell line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum ShellInput {
    /// A blank line or a `#` comment.
    Nothing,
    /// `exit` or `quit`.
    Leave,
    /// `help`, or `help COMMAND`.
    Help(Option<String>),
    Run(Command),
}

#[derive(Debug, thiserror::Error)]
pub enum ShellLineError {
    #[error("error: unbalanced quotes")]
    UnbalancedQuotes,
    /// Clap's own message, with usage and suggestions; print it with `clap::Error::print`,
    /// which also sends `--help` output to stdout rather than stderr.
    #[error("{0}")]
    Clap(#[from] clap::Error),
}

/// The parser for shell lines: no program name in front, and no clap `help` subcommand,
/// since the shell's own `help` also lists `exit` and `quit`.
#[derive(Debug, Parser)]
#[command(
    name = "taskmaster",
    no_binary_name = true,
    disable_help_subcommand = true
)]
struct ShellLine {
    #[command(subcommand)]
    command: Command,
}

/// Words the shell understands besides the commands, with their help lines.
pub const SHELL_WORDS: [&str; 3] = ["help", "exit", "quit"];

/// The shell words as `help` shows them.
const SHELL_WORDS_HELP: [(&str, &str); 3] = [
    (
        "help [COMMAND]",
        "List the commands, or show one command's help",
    ),
    ("exit", "Leave the shell (also quit, Ctrl-D)"),
    ("quit", "Leave the shell"),
];

pub fn parse_shell_line(line: &str) -> Result<ShellInput, ShellLineError> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(ShellInput::Nothing);
    }
    let words = shlex::split(trimmed).ok_or(ShellLineError::UnbalancedQuotes)?;
    match words.first().map(String::as_str) {
        None => Ok(ShellInput::Nothing),
        Some("exit" | "quit") => Ok(ShellInput::Leave),
        Some("help") => Ok(ShellInput::Help(words.get(1).cloned())),
        Some(_) => Ok(ShellInput::Run(ShellLine::try_parse_from(words)?.command)),
    }
}

/// Clap's message rewritten for the shell, where there is no program name to type and no
/// `--help` flag to try: `unknown command `stpo`; did you mean `stop`? (help lists the
/// commands)`. `None` for `--help` output, which is printed as clap renders it.
pub fn shell_message(error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => None,
        ErrorKind::InvalidSubcommand => {
            let word = match error.get(ContextKind::InvalidSubcommand) {
                Some(ContextValue::String(word)) => word.clone(),
                _ => String::new(),
            };
            let commands = ShellLine::command();
            let names: Vec<&str> = commands
                .get_subcommands()
                .map(|sub| sub.get_name())
                .chain(SHELL_WORDS)
                .collect();
            // Clap lists its guesses from the least to the most likely.
            let clap_guess = match error.get(ContextKind::SuggestedSubcommand) {
                Some(ContextValue::Strings(guesses)) => guesses.last().cloned(),
                Some(ContextValue::String(guess)) => Some(guess.clone()),
                _ => None,
            };
            let suggestion = crate::config::suggest::closest(&word, names.iter().copied())
                .map(String::from)
                .or(clap_guess);
            let hint = suggestion
                .map(|name| format!("; did you mean `{name}`?"))
                .unwrap_or_default();
            Some(format!(
                "error: unknown command `{word}`{hint} (help lists the commands)"
            ))
        }
        _ => {
            let text = error.render().to_string();
            let mut lines = Vec::new();
            for line in text.lines() {
                if line.starts_with("For more information, try") {
                    continue;
                }
                lines.push(line.replace("Usage: taskmaster ", "Usage: "));
            }
            while lines.last().is_some_and(|l| l.trim().is_empty()) {
                lines.pop();
            }
            let command = error
                .get(ContextKind::Usage)
                .map(|usage| usage.to_string())
                .and_then(|usage| usage.split_whitespace().nth(2).map(String::from));
            let more = match command {
                Some(name) => format!("(help {name} shows its usage)"),
                None => "(help lists the commands)".into(),
            };
            lines.push(more);
            Some(lines.join("\n"))
        }
    }
}

/// The shell's `help`: every command with its one-line description.
pub fn help_text() -> String {
    let mut clap_command = ShellLine::command();
    // The arguments shown are deferred until built (see `Command`).
    clap_command.build();
    let mut entries: Vec<(String, String)> = clap_command
        .get_subcommands()
        .map(|sub| {
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            (usage_words(sub), about)
        })
        .collect();
    entries.extend(
        SHELL_WORDS_HELP
            .iter()
            .map(|(w, about)| (w.to_string(), about.to_string())),
    );
    let width = entries.iter().map(|(w, _)| w.len()).max().unwrap_or(0);
    let mut text = String::from("Commands (NAME is a service, an instance NAME:N, or all):\n");
    for (words, about) in entries {
        text.push_str(&format!("  {words:<width$}  {about}\n"));
    }
    text
}

/// The help of one command (`help stop`), or `None` if there is no such command.
pub fn command_help(word: &str) -> Option<String> {
    let mut clap_command = ShellLine::command();
    clap_command.build();
    let sub = clap_command.find_subcommand_mut(word)?;
    Some(sub.render_help().to_string())
}

/// `tail [-f] [--stderr] NAME`: the command word and its arguments, as the user types them.
fn usage_words(sub: &clap::Command) -> String {
    let mut words = vec![sub.get_name().to_string()];
    for arg in sub.get_arguments().filter(|a| a.get_id() != "help") {
        let value = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map(|n| n.to_string())
            .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
        let word = match (arg.is_positional(), arg.get_long(), arg.get_short()) {
            (true, _, _) if is_repeatable(arg) && arg.is_required_set() => format!("{value}..."),
            (true, _, _) if is_repeatable(arg) => format!("[{value}...]"),
            (true, _, _) => value,
            (false, Some(long), None) => format!("[--{long}]"),
            (false, _, Some(short)) => format!("[-{short}]"),
            (false, None, None) => continue,
        };
        words.push(word);
    }
    words.join(" ")
}

fn is_repeatable(arg: &clap::Arg) -> bool {
    matches!(arg.get_action(), clap::ArgAction::Append)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Command {
        match parse_shell_line(line) {
            Ok(ShellInput::Run(command)) => command,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn clap_error(line: &str) -> clap::Error {
        match parse_shell_line(line) {
            Err(ShellLineError::Clap(e)) => e,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(
            run("status"),
            Command::Status {
                long: false,
                names: vec![]
            }
        );
        assert_eq!(
            run("  stop web db:1 "),
            Command::Stop {
                kill: false,
                names: vec!["web".into(), "db:1".into()]
            }
        );
        assert_eq!(
            run("tail -f --stderr web:0"),
            Command::Tail {
                follow: true,
                stderr: true,
                name: "web:0".into()
            }
        );
        assert_eq!(
            run("signal HUP all"),
            Command::Signal {
                signal: "HUP".into(),
                names: vec!["all".into()]
            }
        );
        assert_eq!(run("graph --dot"), Command::Graph { dot: true });
    }

    #[test]
    fn quotes_group_words_like_a_shell() {
        assert_eq!(
            run(r#"signal "TERM" 'web' "a b""#),
            Command::Signal {
                signal: "TERM".into(),
                names: vec!["web".into(), "a b".into()]
            }
        );
        assert!(matches!(
            parse_shell_line("stop 'web"),
            Err(ShellLineError::UnbalancedQuotes)
        ));
    }

    #[test]
    fn shell_words_blank_lines_and_comments() {
        assert_eq!(parse_shell_line("").ok(), Some(ShellInput::Nothing));
        assert_eq!(
            parse_shell_line("   # a comment").ok(),
            Some(ShellInput::Nothing)
        );
        assert_eq!(parse_shell_line("exit").ok(), Some(ShellInput::Leave));
        assert_eq!(parse_shell_line("quit").ok(), Some(ShellInput::Leave));
        assert_eq!(parse_shell_line("help").ok(), Some(ShellInput::Help(None)));
        assert_eq!(
            parse_shell_line("help stop").ok(),
            Some(ShellInput::Help(Some("stop".into())))
        );
    }

    #[test]
    fn a_typo_gets_clap_suggestions() {
        let error = clap_error("stpo web");
        assert_eq!(error.kind(), clap::error::ErrorKind::InvalidSubcommand);
        assert!(error.to_string().contains("'stop'"), "{error}");
    }

    #[test]
    fn shell_messages_name_no_program_and_no_flag_the_shell_lacks() {
        let message = shell_message(&clap_error("stpo web")).expect("a message");
        assert_eq!(
            message,
            "error: unknown command `stpo`; did you mean `stop`? (help lists the commands)"
        );
        let message = shell_message(&clap_error("frobnicate")).expect("a message");
        assert_eq!(
            message,
            "error: unknown command `frobnicate` (help lists the commands)"
        );
        let message = shell_message(&clap_error("start")).expect("a message");
        assert!(!message.contains("taskmaster"), "{message}");
        assert!(!message.contains("--help"), "{message}");
        assert!(message.contains("Usage: start"), "{message}");
        assert!(shell_message(&clap_error("stop --help")).is_none());
    }

    #[test]
    fn missing_and_unknown_arguments_are_errors() {
        assert_eq!(
            clap_error("start").kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            clap_error("tail").kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            clap_error("reload now").kind(),
            clap::error::ErrorKind::UnknownArgument
        );
        assert_eq!(
            clap_error("graph --dto").kind(),
            clap::error::ErrorKind::UnknownArgument
        );
    }

    #[test]
    fn dash_dash_help_is_a_help_display_not_a_failure() {
        assert_eq!(
            clap_error("stop --help").kind(),
            clap::error::ErrorKind::DisplayHelp
        );
    }

    #[test]
    fn help_lists_every_command_and_the_shell_words() {
        let help = help_text();
        for line in [
            "status [-l] [NAME...]",
            "start NAME...",
            "tail [-f] [--stderr] NAME",
            "signal SIG NAME...",
            "graph [--dot]",
            "reopen",
            "exit",
            "quit",
        ] {
            assert!(help.contains(line), "{line:?} missing from\n{help}");
        }
        let stop = help
            .lines()
            .find(|l| l.trim_start().starts_with("stop "))
            .unwrap_or_default();
        assert!(stop.contains("Stop gracefully"), "{stop}");
    }

    #[test]
    fn help_of_one_command() {
        let help = command_help("tail").unwrap_or_default();
        assert!(help.contains("--stderr"), "{help}");
        assert_eq!(command_help("nope"), None);
    }
}
