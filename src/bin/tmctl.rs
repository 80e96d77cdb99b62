//! tmctl: control taskmasterd. Parses the command line and turns the outcome of
//! `taskmaster::ctl::run` into an exit code; everything else lives in the library.
//! Called as `poweroff`, `reboot`, `halt` or `shutdown` (links to it), it is that command.
//!
//! It starts from the C `main` (`no_main`), not from std's wrapper of `main`: that wrapper
//! finds the main thread's stack to guard it (glibc reads and parses /proc/self/maps for
//! it, and asks for the CPU affinity) and installs an alternate signal stack, all to
//! print "has overflowed its stack" instead of a plain SIGSEGV; with the mappings and the
//! pages it touches, 7 page faults and about 50 µs of a one-shot `tmctl status` whose whole
//! budget is a millisecond (bench/PROFILES.md). What the wrapper does that tmctl needs,
//! [`main`] does itself: standard fds 0-2 open, SIGPIPE ignored (a closed stdout is an
//! error that `exit` turns into success), a panic made exit code 101, stdout flushed.

#![no_main]
// Every unsafe block says why it is sound (a `// SAFETY:` comment), checked by clippy.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::io::Write;

// glibc linked in, so that tmctl is a static PIE (with `-static-pie`, from build.rs, which
// says why and sets this cfg on x86_64 Linux with glibc). Named here, in tmctl's own crate,
// because only this crate's native libraries come on the link line before std's
// `-Bdynamic -lc`: the archive is searched first.
#[cfg(tmctl_static_pie)]
#[link(name = "c", kind = "static", modifiers = "-bundle")]
unsafe extern "C" {}

use taskmaster::cli::{PowerCommand, TmctlCli};
use taskmaster::control::default_socket_path;
use taskmaster::ctl::{self, CtlError, Format};

/// The process's entry point, called by the C runtime (std reads the arguments by itself).
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    open_standard_fds();
    // SAFETY: setting a disposition to SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // The panic hook has printed the message; the exit code is std's for a panic.
    let code = std::panic::catch_unwind(tmctl).unwrap_or(101);
    let _ = std::io::stdout().flush();
    libc::c_int::from(code)
}

fn tmctl() -> u8 {
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
fn exit(name: &str, outcome: Result<u8, CtlError>) -> u8 {
    match outcome {
        Ok(code) => code,
        // `tmctl status | head -1`: the reader has what it wanted.
        Err(e) if e.is_closed_output() => 0,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{name}: {e}");
            1
        }
    }
}

/// As std does before `main`: a standard fd that is closed is opened on /dev/null, so that
/// the socket tmctl opens can never become its stdout (and get the table written to it).
fn open_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is an array of three initialised pollfd that poll may write to.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    for pollfd in fds {
        let closed = match polled {
            // SAFETY: F_GETFD only reads the flags of a descriptor number.
            -1 => (unsafe { libc::fcntl(pollfd.fd, libc::F_GETFD) }) == -1,
            _ => pollfd.revents & libc::POLLNVAL != 0,
        };
        // SAFETY: a NUL-terminated path and plain flags; the descriptor is the lowest free
        // one, that is the closed standard fd, and stays open for the process's life.
        if closed && (unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) }) == -1 {
            // std aborts here too: without its standard fds, tmctl cannot say anything.
            std::process::abort();
        }
    }
}
