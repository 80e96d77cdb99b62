//! The loop's signals (SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2; SIGIO only kept
//! from ending the daemon, see state_swap.rs), blocked in every thread and read from a
//! signalfd the loop polls, as the C respawner reads its SIGCHLD.
//!
//! With a handler (signal-hook's self-pipe, before), each SIGCHLD interrupted the poll, built
//! a signal frame, ran the handler (a `sendto` to the pipe, 10-40 µs on this project's VM
//! under load), returned through `rt_sigreturn`, polled again and read the pipe twice: about
//! 50 µs from the poll's return to the restart's `wait4`, on the way of every restart. Here
//! the poll returns and one `read` says who sent what. Each record names the sender
//! (`ssi_pid`: for SIGCHLD the child), as `WithOrigin` did.
//!
//! Blocked signals are never dropped by the kernel, not even as PID 1 (which the kernel
//! spares signals it has no handler for: a blocked signal is queued first, see
//! `sig_ignored`). Every child starts with an empty mask: `process::start`'s child clears
//! it, and so does std's `Command`; the helper threads block the loop's signals anyway
//! (threads.rs), and an upgrade's execve keeps them blocked and pending for the new image.

use nix::errno::Errno;
use nix::sys::signal::{pthread_sigmask, SigmaskHow};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsFd, BorrowedFd};

/// One signal read: which, and from which process (`None`: the kernel or a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub signal: i32,
    pub pid: Option<i32>,
}

pub struct LoopSignals {
    fd: SignalFd,
}

impl LoopSignals {
    /// Blocks the loop's signals in this (the loop's) thread and opens the signalfd. Call
    /// before any other thread starts: threads inherit the mask.
    pub fn new() -> nix::Result<LoopSignals> {
        let set = super::upgrade::loop_signals();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(LoopSignals { fd })
    }

    /// The fd to poll for POLLIN.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Every signal pending now, in the order the kernel gives them (without waiting).
    pub fn pending(&mut self) -> Vec<Origin> {
        let mut out = Vec::new();
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) => out.push(Origin {
                    signal: info.ssi_signo as i32,
                    pid: (info.ssi_pid > 0).then_some(info.ssi_pid as i32),
                }),
                Ok(None) => break,
                Err(Errno::EINTR) => continue,
                // EAGAIN comes as Ok(None); anything else leaves the rest for the next turn.
                Err(_) => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_sent_to_the_process_is_read_with_its_sender() {
        // A thread of its own: the mask is per thread, and the signalfd reads what is
        // pending for the thread that reads it or for the whole process.
        std::thread::spawn(|| {
            let mut signals = LoopSignals::new().expect("signalfd");
            // SAFETY: getpid and tgkill take plain integers; the signal goes to this thread,
            // where it is blocked, so it waits in the signalfd.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::pid_t;
                libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, libc::SIGUSR2);
            }
            let got = signals.pending();
            assert_eq!(
                got,
                vec![Origin {
                    signal: libc::SIGUSR2,
                    pid: Some(std::process::id() as i32)
                }]
            );
            assert!(signals.pending().is_empty());
        })
        .join()
        .expect("thread");
    }
}
