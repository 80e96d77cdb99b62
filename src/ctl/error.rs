//! Why a tmctl command failed, in words a user can act on. Each is printed as one line.

use std::io;

use crate::control::client::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// Cannot connect, permission denied, connection lost, bad reply.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The daemon said no: its `Error` message, or which instances failed to start/stop.
    #[error("{0}")]
    Failed(String),
    /// A time or duration on the command line that cannot be read.
    #[error(transparent)]
    When(#[from] super::when::WhenError),
    /// From the library API (`run`, `wait`).
    #[error(transparent)]
    Api(#[from] crate::client::Error),
    #[error("cannot write the output: {0}")]
    Output(#[source] io::Error),
    #[error("cannot encode the JSON output: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot catch Ctrl-C: {0}")]
    CtrlC(#[source] io::Error),
    #[error("cannot run the shell: {0}")]
    Shell(#[from] rustyline::error::ReadlineError),
}

impl CtlError {
    /// Our stdout was closed early (`tmctl status | head -1`): not worth a message.
    pub fn is_closed_output(&self) -> bool {
        matches!(self, CtlError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }

    /// Ctrl-C ended a wait: the daemon goes on with the request.
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            CtlError::Client(ClientError::Interrupted)
                | CtlError::Api(crate::client::Error::Connection(ClientError::Interrupted))
        )
    }
}
