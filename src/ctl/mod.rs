//! tmctl: one-shot commands, the interactive shell, and how replies are shown.
//!
//! One-shot mode and the shell share everything below the command line: the clap
//! [`command::Command`] enum, [`execute`] on a [`session::Session`], and [`render`].

pub mod analyze;
mod attach;
pub mod command;
pub mod complete;
pub mod ctrl_c;
pub mod error;
pub mod execute;
pub mod history;
pub mod jobs;
mod passwd_home;
pub mod power;
pub mod ps;
pub mod render;
pub mod session;
pub mod shell;
pub mod shell_helper;
pub mod shell_line;
pub mod status_table;
pub mod when;

#[cfg(test)]
pub(crate) mod fake_daemon;

use std::io;
use std::path::Path;

use ctrl_c::CtrlCPipe;
use session::Session;

pub use command::Command;
pub use error::CtlError;
pub use render::Format;
pub use shell::run_shell;

/// Run `command`, or the interactive shell when there is none (`format` applies to
/// one-shot commands only). Output is already printed; the error, if any, is for the
/// caller to report in one line. The exit code: 0, or a job's (`run`, `wait`).
pub fn run(socket: &Path, format: Format, command: Option<Command>) -> Result<u8, CtlError> {
    let Some(command) = command else {
        return run_shell(socket).map(|()| 0);
    };
    match &command {
        Command::Run(args) if !args.detach => {
            let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
            return jobs::run_attached(socket, args, format, &mut out, &mut err);
        }
        Command::Wait { name } => {
            return jobs::wait(socket, name, format, &mut io::stdout().lock());
        }
        _ => {}
    }
    let mut session = Session::new(socket);
    // Only `tail -f` waits for Ctrl-C; every other command may simply die of it.
    let ctrl_c = match command {
        Command::Tail { follow: true, .. } | Command::Top { .. } => {
            Some(CtrlCPipe::catch().map_err(CtlError::CtrlC)?)
        }
        _ => None,
    };
    if let Some(ctrl_c) = &ctrl_c {
        session = session.interruptible_by(ctrl_c.fd().map_err(CtlError::CtrlC)?);
    }
    execute::execute(
        &mut session,
        &command,
        format,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    )
    .map(|()| 0)
}

/// The control shell of `taskmasterd --shell`, run in a child process of the daemon: it
/// takes the terminal (its own process group in the foreground, so ^C reaches it and not
/// the daemon), runs the shell, and returns the exit status.
pub fn run_shell_on_terminal(socket: &Path) -> u8 {
    take_terminal();
    match run_shell(socket) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("taskmasterd: control shell: {err}");
            1
        }
    }
}

fn take_terminal() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    use nix::unistd::{getpgrp, tcsetpgrp};
    // A background process group calling tcsetpgrp gets SIGTTOU unless it is ignored.
    // (Listed in process/dispositions.rs, which spawned children reset.)
    // SAFETY: setting a disposition to SIG_IGN and back installs no handler code.
    unsafe {
        let _ = signal(Signal::SIGTTOU, SigHandler::SigIgn);
    }
    let _ = tcsetpgrp(std::io::stdin(), getpgrp());
    // SAFETY: as above.
    unsafe {
        let _ = signal(Signal::SIGTTOU, SigHandler::SigDfl);
    }
}
