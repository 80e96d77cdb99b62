//! What can go wrong in init's own steps, named by the step. None of these stops the boot:
//! the loop logs them and goes on.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("cannot open /dev/console: {0}")]
    Console(#[source] io::Error),
    /// Bringing up `lo`, at `step` (socket, get flags, set up).
    #[error("loopback: {step}: {source}")]
    Loopback {
        step: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("no emergency shell: {0} does not exist")]
    NoShell(PathBuf),
    #[error("emergency shell: /dev/console: {0}")]
    ShellConsole(#[source] io::Error),
    #[error("emergency shell: {path}: {source}")]
    ShellSpawn {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}
