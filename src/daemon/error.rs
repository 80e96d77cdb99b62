//! Why the daemon could not start, named by the step. As PID 1 none of these ends init:
//! `run` reports it and reaps for ever.

use super::listener::ListenError;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config has errors (each already logged with its location).
    #[error("{count} error(s) in {}; nothing started", dir.display())]
    Config { count: usize, dir: PathBuf },
    #[error("cannot become child subreaper: {0}")]
    Subreaper(#[source] nix::errno::Errno),
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error("cannot read signals from a signalfd: {0}")]
    Signals(#[source] nix::errno::Errno),
    /// `--shell`: the control shell could not be started (nothing was started either).
    #[error("--shell: cannot start the control shell: {0}")]
    Shell(#[source] io::Error),
}

/// The open-files limit could not be raised (the daemon goes on with the one it has).
#[derive(Debug, thiserror::Error)]
#[error("cannot raise the open-files limit from {soft} to {hard}: {errno}")]
pub struct RaiseNofileError {
    pub soft: u64,
    pub hard: u64,
    pub errno: nix::errno::Errno,
}
