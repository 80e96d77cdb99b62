//! The daemon's helper threads (config loader, state-files writer, job specs) never take
//! the loop's signals.
//!
//! A signal sent to the process goes to any of its threads that does not block it. The
//! loop's thread blocks them and reads them from its signalfd (`signal_fd.rs`); a helper
//! that did not block them would take one with its default action (SIGTERM would end the
//! daemon, SIGCHLD would be lost). A thread starts with its creator's mask, so one made
//! after the signalfd has them blocked already; this also covers one made before.

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
use std::thread::{Builder, JoinHandle};

/// Spawns `f` on a thread made by `builder`, with the loop's signals blocked in it (a new
/// thread starts with its creator's mask: the creator's is blocked for the spawn, then
/// restored).
pub fn spawn<F, T>(builder: Builder, f: F) -> std::io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let mut saved = SigSet::empty();
    let _ = pthread_sigmask(
        SigmaskHow::SIG_BLOCK,
        Some(&super::upgrade::loop_signals()),
        Some(&mut saved),
    );
    let spawned = builder.spawn(f);
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
    spawned
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    fn blocked_now() -> SigSet {
        let mut mask = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, None, Some(&mut mask)).expect("mask");
        mask
    }

    #[test]
    fn a_helper_thread_blocks_the_loops_signals_and_the_caller_keeps_its_mask() {
        let before = blocked_now();
        let in_thread = spawn(Builder::new(), blocked_now)
            .expect("spawn")
            .join()
            .expect("join");
        for signal in super::super::upgrade::loop_signals().iter() {
            assert!(in_thread.contains(signal), "{signal:?} is not blocked");
        }
        // Faults stay deliverable (a blocked SIGSEGV kills without a word).
        assert!(!in_thread.contains(Signal::SIGSEGV));
        assert_eq!(
            blocked_now().iter().collect::<Vec<_>>(),
            before.iter().collect::<Vec<_>>()
        );
    }
}
