//! tmctl: control taskmasterd. Parses the command line and turns the outcome of
//! `taskmaster::ctl::run` into an exit code; everything else lives in the library.
//! Called as `poweroff`, `reboot`, `halt` or `shutdown` (links to it), it is that command.

// Every unsafe block says why it is sound (a `// SAFETY:` comment), checked by clippy.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::io::Write;
use std::process::ExitCode;

use taskmaster::cli::{PowerCommand, TmctlCli};
use taskmaster::control::default_socket_path;
use taskmaster::ctl::{self, CtlError, Format};

fn main() -> ExitCode {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if let Some(power) = PowerCommand::from_argv0(&argv0) {
        let action = power
            .parse(std::env::args_os())
            .unwrap_or_else(|e| e.exit());
        // TASKMASTER_SOCKET, else the daemon's default, as for tmctl.
        let socket = default_socket_path();
        return exit(
            power.name(),
            ctl::power::run_power(&socket, &action).map(|()| 0),
        );
    }
    let cli = TmctlCli::from_args();
    let format = if cli.json {
        Format::Json
    } else {
        Format::Human
    };
    exit("tmctl", ctl::run(&cli.socket, format, cli.command))
}

/// 0, or the exit code of the job that `run` or `wait` waited for; 1 with a one-line
/// message on failure.
fn exit(name: &str, outcome: Result<u8, CtlError>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        // `tmctl status | head -1`: the reader has what it wanted.
        Err(e) if e.is_closed_output() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
