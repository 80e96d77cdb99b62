//! tmctl's command line. The commands themselves are [`crate::ctl::Command`], shared with
//! the interactive shell.

use std::path::PathBuf;

use clap::Parser;

use crate::control::default_socket_path;
use crate::ctl::Command;

/// Control taskmasterd. With no command, start an interactive shell.
///
/// NAME is a service (all its instances), an instance NAME:N, or all.
#[derive(Debug, Parser)]
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
