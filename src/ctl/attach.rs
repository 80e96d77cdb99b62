//! `tmctl attach NAME`: this terminal becomes the service's console until `Ctrl-]`.
//!
//! The terminal is put in raw mode, so every key (Ctrl-C included, which the service's
//! terminal turns into SIGINT for its program) goes to the service as it is typed; its
//! size goes along at the start and at every SIGWINCH. The daemon's output chunks are
//! written as they come. `--read-only` only watches: nothing is read from stdin, which need
//! not be a terminal then.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SetArg, Termios};

use crate::control::client::Client;
use crate::control::proto::{Request, Response};

use super::error::CtlError;
use super::render::missed_notice;
use super::session::Session;

/// Ctrl-]: leaves the console, the service goes on (as telnet's escape).
pub const DETACH_KEY: u8 = 0x1d;

/// Puts the terminal back as it was, however `attach` ends.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> nix::Result<RawMode> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// The terminal's size (rows, columns), when stdout is one.
fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: an all-zero winsize is a valid value for the ioctl to fill in.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer, a live stack value.
    let ret = unsafe { libc::ioctl(io::stdout().as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (ret == 0 && size.ws_row > 0).then_some((size.ws_row, size.ws_col))
}

pub fn attach(
    session: &mut Session,
    name: &str,
    read_only: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CtlError> {
    let interactive = !read_only;
    if interactive && !nix::unistd::isatty(io::stdin().as_fd()).unwrap_or(false) {
        return Err(CtlError::Failed(
            "attach needs a terminal (stdin is not a tty); use attach --read-only to watch".into(),
        ));
    }
    let request = Request::Attach {
        name: name.to_string(),
        read_only,
    };
    let mut client = session.send(&request)?;
    match client.next_response()? {
        Some(Response::Error { message, .. }) => return Err(CtlError::Failed(message)),
        Some(Response::Ok { lines }) => {
            for line in lines {
                let _ = writeln!(err, "[tmctl: {line}]");
            }
        }
        _ => return Err(CtlError::Failed("unexpected reply to attach".into())),
    }
    // SIGWINCH as a readable fd (the handler stays installed: tmctl ends soon after).
    let (winch, winch_write) = UnixStream::pair().map_err(CtlError::Output)?;
    winch.set_nonblocking(true).map_err(CtlError::Output)?;
    // A handler: listed in process/dispositions.rs, which spawned children reset.
    signal_hook::low_level::pipe::register(libc::SIGWINCH, winch_write)
        .map_err(CtlError::Output)?;
    let raw = match interactive {
        true => Some(RawMode::enter().map_err(|e| CtlError::Output(io::Error::from(e)))?),
        false => None,
    };
    if interactive {
        if let Some((rows, cols)) = terminal_size() {
            client.send(&Request::Resize { rows, cols })?;
        }
    }
    let ended = pump(&mut client, interactive, &winch, out);
    drop(raw);
    let _ = writeln!(err, "\r\n[tmctl: detached from {name}; it goes on running]");
    ended
}

/// Copies keys to the service and its output here until the detach key or the end.
fn pump(
    client: &mut Client,
    interactive: bool,
    winch: &UnixStream,
    out: &mut dyn Write,
) -> Result<(), CtlError> {
    let mut stdin = io::stdin();
    let mut keys = [0u8; 4096];
    loop {
        while let Some(response) = client.buffered_response()? {
            match response {
                Response::Output { data, missed } => {
                    out.write_all(missed_notice(missed).as_bytes())
                        .and_then(|_| out.write_all(data.as_bytes()))
                        .and_then(|_| out.flush())
                        .map_err(CtlError::Output)?;
                }
                Response::Error { message, .. } => return Err(CtlError::Failed(message)),
                _ => {}
            }
        }
        let stdin_fd = stdin.as_fd();
        let mut fds = vec![
            PollFd::new(client.socket(), PollFlags::POLLIN),
            PollFd::new(winch.as_fd(), PollFlags::POLLIN),
        ];
        if interactive {
            fds.push(PollFd::new(stdin_fd, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(CtlError::Output(io::Error::from(e))),
            Ok(_) => {}
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let (socket_ready, winch_ready) = (ready(&fds[0]), ready(&fds[1]));
        let keys_ready = fds.get(2).is_some_and(ready);
        drop(fds);
        if socket_ready && client.read_available()? == 0 {
            return Ok(()); // the daemon went away
        }
        if winch_ready {
            let _ = (&*winch).read(&mut [0u8; 64]);
            if let Some((rows, cols)) = terminal_size() {
                client.send(&Request::Resize { rows, cols })?;
            }
        }
        if keys_ready {
            let n = match stdin.read(&mut keys) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CtlError::Output(e)),
            };
            let typed = &keys[..n];
            let (send, detach) = match typed.iter().position(|&b| b == DETACH_KEY) {
                Some(at) => (&typed[..at], true),
                None => (typed, false),
            };
            if !send.is_empty() {
                client.send(&Request::Input {
                    data: send.to_vec(),
                })?;
            }
            if detach {
                return Ok(());
            }
        }
    }
}
