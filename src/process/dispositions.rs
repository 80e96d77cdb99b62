//! Which signal dispositions a child resets before its execve.
//!
//! execve resets every handled signal to SIG_DFL by itself, but keeps an ignored one
//! (SIG_IGN) ignored, and a handler must not run in the child before execve either (it
//! shares the daemon's memory, see `spawn.rs`). Resetting all 62 dispositions cost each
//! child 62 `rt_sigaction` calls, 13-15 µs (bench/PROFILES.md "Cold start"); the child now
//! resets only the signals that may not be at SIG_DFL in the daemon:
//! - those found not at SIG_DFL at the first spawn: what the daemon inherited ignored (a
//!   `nohup`, `cargo test`'s signal 32) and what the runtime set before `main`;
//! - [`SET_AFTER_START`]: every signal this crate, its runtime or glibc may change later.
//!
//! The daemon itself changes no disposition: it takes its signals through a signalfd
//! (`daemon/signal_fd.rs`), blocked, not handled. A new place that sets a disposition
//! adds its signal to [`SET_AFTER_START`].

use std::sync::OnceLock;

use libc::c_ulong;

use super::sys;

/// Signals are 1..NSIG: 64 of them on every Linux architecture but MIPS (128; not a
/// target of taskmaster).
const NSIG: u32 = 65;

/// The size of the kernel's sigset_t (64 bits), which rt_sigaction insists on.
pub(super) const KERNEL_SIGSET_SIZE: usize = 8;

/// Signals whose disposition may change after the first spawn, and who changes it.
const SET_AFTER_START: [libc::c_int; 8] = [
    // Ignored by Rust's runtime before `main` and by tmctl's `main`.
    libc::SIGPIPE,
    // Handled by std's stack-overflow detection, on each thread it starts.
    libc::SIGSEGV,
    libc::SIGBUS,
    // tmctl's handlers and its ignore around a terminal handover (`ctl/`), which the
    // library's tests run in the same process as spawns.
    libc::SIGINT,
    libc::SIGWINCH,
    libc::SIGTTOU,
    // glibc's own (SIGCANCEL, SIGSETXID), installed when first needed.
    32,
    33,
];

/// A set of signals, bit n - 1 for signal n (as in the kernel's sigset): what the child
/// walks without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SignalBits(u64);

impl SignalBits {
    /// The signals the child resets: computed at the first call, by 62 queries.
    pub fn to_reset() -> SignalBits {
        static TO_RESET: OnceLock<SignalBits> = OnceLock::new();
        *TO_RESET.get_or_init(|| SignalBits::not_default().with(&SET_AFTER_START))
    }

    fn with(self, signals: &[libc::c_int]) -> SignalBits {
        SignalBits(
            signals
                .iter()
                .fold(self.0, |bits, signal| bits | bit(*signal as u32)),
        )
    }

    /// The signals this process has not at SIG_DFL now. One that cannot be read counts as
    /// not at SIG_DFL: resetting it costs one call, missing it leaks an ignore.
    fn not_default() -> SignalBits {
        SignalBits(
            settable()
                .filter(|signal| !is_default(*signal))
                .fold(0, |bits, signal| bits | bit(signal)),
        )
    }

    /// Each signal in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = u32> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            (bits != 0).then(|| {
                let signal = bits.trailing_zeros() + 1;
                bits &= bits - 1;
                signal
            })
        })
    }
}

fn bit(signal: u32) -> u64 {
    1 << (signal - 1)
}

fn settable() -> impl Iterator<Item = u32> {
    (1..NSIG).filter(|s| *s != libc::SIGKILL as u32 && *s != libc::SIGSTOP as u32)
}

/// The raw system call, because glibc's sigaction refuses 32 and 33 (its own). The
/// handler is the first word of the kernel's struct sigaction on every architecture's
/// layout, and SIG_DFL is 0; the buffer is larger than any of them.
fn is_default(signal: u32) -> bool {
    let mut old = [0 as c_ulong; 8];
    // SAFETY: `old` is a live stack buffer at least as large as the kernel's struct
    // sigaction; no new action is set (NULL).
    let read = unsafe {
        sys::call(
            libc::SYS_rt_sigaction,
            [
                signal as usize,
                0,
                old.as_mut_ptr() as usize,
                KERNEL_SIGSET_SIZE,
                0,
                0,
            ],
        )
    };
    read.is_ok() && old[0] == libc::SIG_DFL as c_ulong
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_walks_each_signal_once_lowest_first() {
        let bits = SignalBits(0).with(&[libc::SIGPIPE, 1, 64]);
        assert_eq!(bits.iter().collect::<Vec<_>>(), [1, 13, 64]);
        assert_eq!(SignalBits(0).iter().count(), 0);
    }

    #[test]
    fn what_the_runtime_ignores_and_handles_is_found() {
        // Rust's runtime ignores SIGPIPE before main; std handles SIGSEGV.
        let found = SignalBits::not_default();
        assert!(found.iter().any(|s| s == libc::SIGPIPE as u32));
        assert!(found.iter().any(|s| s == libc::SIGSEGV as u32));
    }
}
