//! tmctl: control taskmasterd. Parses the command line and turns the outcome of
//! `taskmaster::ctl::run` into an exit code; everything else lives in the library.

// Every unsafe block says why it is sound (a `// SAFETY:` comment), checked by clippy.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use taskmaster::control::default_socket_path;
use taskmaster::ctl::{self, Command, Format};

/// Control taskmasterd. With no command, start an interactive shell.
///
/// NAME is a service (all its instances), an instance NAME:N, or all.
#[derive(Debug, Parser)]
#[command(name = "tmctl", version)]
struct Cli {
    /// The daemon's control socket
    #[arg(short, long, global = true, env = "TASKMASTER_SOCKET", value_name = "SOCKET", default_value_os_t = default_socket_path())]
    socket: PathBuf,
    /// Print one JSON document instead of text (one-shot commands); before or after the command
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = if cli.json {
        Format::Json
    } else {
        Format::Human
    };
    match ctl::run(&cli.socket, format, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        // `tmctl status | head -1`: the reader has what it wanted.
        Err(e) if e.is_closed_output() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "tmctl: {e}");
            ExitCode::FAILURE
        }
    }
}
