//! tmctl's command line. The commands themselves are [`crate::ctl::Command`], shared with
//! the interactive shell.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use crate::control::default_socket_path;
use crate::ctl::Command;

/// Control taskmasterd. With no command, start an interactive shell.
///
/// NAME is a service (all its instances), an instance NAME:N, or all.
#[derive(Debug, PartialEq, Eq, Parser)]
#[command(name = "tmctl", version)]
pub struct Cli {
    /// The daemon's control socket
    #[arg(short, long, global = true, env = "TASKMASTER_SOCKET", value_name = "SOCKET", default_value_os_t = default_socket_path())]
    pub socket: PathBuf,
    /// Print one JSON document instead of text (one-shot commands); before or after the command
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The command line, parsed by clap, or at once when it is a plain `status`.
    pub fn from_args() -> Cli {
        Cli::plain_status(std::env::args_os()).unwrap_or_else(Cli::parse)
    }

    /// `tmctl [-s SOCKET] [--json] status [NAME...]`, the one-shot command that monitoring
    /// scripts run over and over, recognised without clap; `None` for any other command
    /// line, which clap parses (and explains when it is wrong). Building clap's tree of
    /// every command, with the global options copied into each, was a third of the page
    /// faults of a whole `tmctl status` (bench/PROFILES.md). Only unambiguous shapes are
    /// taken: each option at most once, a socket that is not empty and does not start with
    /// `-`, names that are UTF-8, not empty, and do not start with `-`; for those the
    /// result is the one clap gives (a test holds the two to the same answers).
    pub fn plain_status(args: impl IntoIterator<Item = OsString>) -> Option<Cli> {
        let mut args = args.into_iter().skip(1);
        let (mut socket, mut json, mut command) = (None, false, None);
        while let Some(arg) = args.next() {
            let value = match arg.to_str()? {
                "-s" | "--socket" => args.next()?,
                "--json" if !json => {
                    json = true;
                    continue;
                }
                "status" if command.is_none() => {
                    command = Some(Vec::new());
                    continue;
                }
                word => match (word.strip_prefix("--socket="), &mut command) {
                    (Some(value), _) => OsString::from(value),
                    (None, Some(names)) if !word.is_empty() && !word.starts_with('-') => {
                        names.push(word.to_string());
                        continue;
                    }
                    _ => return None,
                },
            };
            let plain = !value.is_empty() && !value.as_encoded_bytes().starts_with(b"-");
            if socket.is_some() || !plain {
                return None;
            }
            socket = Some(PathBuf::from(value));
        }
        let socket = match socket {
            Some(socket) => socket,
            // As clap: the variable when set (empty, clap's error), else the default.
            None => match std::env::var_os("TASKMASTER_SOCKET") {
                Some(value) if value.is_empty() => return None,
                Some(value) => PathBuf::from(value),
                None => default_socket_path(),
            },
        };
        Some(Cli {
            socket,
            json,
            command: Some(Command::Status {
                long: false,
                names: command?,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn plain_status_is_what_clap_makes_of_it() {
        for line in [
            "tmctl status",
            "tmctl -s /run/t.sock status",
            "tmctl --socket /run/t.sock status web web:1 all",
            "tmctl --socket=/run/t.sock status",
            "tmctl status -s /run/t.sock",
            "tmctl status web --json",
            "tmctl --json -s status status status",
            "tmctl status help",
            "tmctl status status",
        ] {
            let fast = Cli::plain_status(args(line));
            let clap = Cli::try_parse_from(args(line)).expect(line);
            assert_eq!(fast.as_ref(), Some(&clap), "{line}");
        }
    }

    #[test]
    fn anything_else_is_left_to_clap() {
        for line in [
            "tmctl",
            "tmctl -s /run/t.sock",
            "tmctl status -l",
            "tmctl status --long web",
            "tmctl status -- web",
            "tmctl status --help",
            "tmctl -s",
            "tmctl -s -x status",
            "tmctl -s a -s b status",
            "tmctl --socket= status",
            "tmctl --json --json status",
            "tmctl -sx status",
            "tmctl stop web",
            "tmctl start status",
            "tmctl help status",
            "tmctl --version",
        ] {
            assert_eq!(Cli::plain_status(args(line)), None, "{line}");
        }
    }
}
