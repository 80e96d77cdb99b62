//! A few threads working through a list of items, each taking the next item no thread has
//! taken yet: the parts of a large service file, or the files of a directory.
//!
//! Taking items one at a time, rather than each thread a fixed share, keeps the threads
//! busy to the end when one of them is slowed (other load on its CPU, a part that costs
//! more than its size says), and lets a large file be cut in many small parts: each part's
//! KDL document is freed before the thread parses its next, so the thread reuses a little
//! heap instead of faulting in the megabytes a whole document takes (bench/PROFILES.md,
//! "Cold start").

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use nix::sched::{sched_getaffinity, sched_getcpu, sched_setaffinity, CpuSet};
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;

/// At most this many threads work on one list, the caller's included.
const MAX_THREADS: usize = 8;

/// The stack of a helper thread: the config loader's (the KDL parser recurses once per
/// level of nesting, bounded before parsing; this is a margin).
const STACK_BYTES: usize = 16 * 1024 * 1024;

/// `work(i)` for every `i` in `0..items`, on up to `threads` threads (the caller is one of
/// them); the result of item `i` at index `i`. `work` returning `None` stops every thread
/// from taking more items. An item is `None` in the result when its work returned `None`,
/// when it was never taken because of such a stop, or when the thread that took it died (a
/// panic: every item that thread did is missing, not only the one it died in): the caller
/// does what is missing itself, or gives up on the batch. A helper thread that cannot start
/// is no loss: the threads that did start take its items.
pub(crate) fn share<T: Send>(
    items: usize,
    threads: usize,
    work: impl Fn(usize) -> Option<T> + Sync,
) -> Vec<Option<T>> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let take = || {
        let mut done = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let item = next.fetch_add(1, Ordering::Relaxed);
            if item >= items {
                break;
            }
            match work(item) {
                Some(result) => done.push((item, result)),
                None => stop.store(true, Ordering::Relaxed),
            }
        }
        done
    };
    let mut results: Vec<Option<T>> = (0..items).map(|_| None).collect();
    std::thread::scope(|scope| {
        // The helpers take no signal of the process: a daemon's go to its loop (a new
        // thread starts with its creator's mask, restored once they exist).
        let saved = block_signals();
        let here = sched_getcpu().ok();
        let helpers: Vec<_> = (1..threads.min(items).min(MAX_THREADS))
            .filter_map(|nth| {
                let take = &take;
                std::thread::Builder::new()
                    .name("config-part".into())
                    .stack_size(STACK_BYTES)
                    .spawn_scoped(scope, move || {
                        start_apart(nth, here);
                        take()
                    })
                    .ok()
            })
            .collect();
        restore_signals(saved);
        let mine = take();
        let theirs = helpers
            .into_iter()
            .flat_map(|helper| helper.join().unwrap_or_default());
        for (item, result) in mine.into_iter().chain(theirs) {
            results[item] = Some(result);
        }
    });
    results
}

/// Moves the calling helper, the `nth` (from 1), to the `nth` CPU it may run on other than
/// `creator`'s, then lets it run anywhere again. The scheduler starts a new thread on its
/// creator's CPU, and its balancer left the two parse threads sharing one CPU for 2 to 18
/// ms of a 45 ms parse while the other CPU sat idle (sched_switch trace of a cold start on
/// the 2-CPU VM, bench/PROFILES.md). Best effort: a CPU that cannot be had is no error.
fn start_apart(nth: usize, creator: Option<usize>) {
    let me = Pid::from_raw(0);
    let Ok(allowed) = sched_getaffinity(me) else {
        return;
    };
    let elsewhere = (0..CpuSet::count())
        .filter(|&cpu| allowed.is_set(cpu).unwrap_or(false) && Some(cpu) != creator)
        .nth(nth - 1);
    let mut one = CpuSet::new();
    if elsewhere.is_some_and(|cpu| one.set(cpu).is_ok()) && sched_setaffinity(me, &one).is_ok() {
        let _ = sched_setaffinity(me, &allowed);
    }
}

/// Every signal but the faults a thread raises itself blocked; returns the mask before.
fn block_signals() -> SigSet {
    let mut blocked = SigSet::all();
    for fault in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGABRT,
        Signal::SIGSYS,
        Signal::SIGTRAP,
    ] {
        blocked.remove(fault);
    }
    let mut saved = SigSet::empty();
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&blocked), Some(&mut saved));
    saved
}

fn restore_signals(saved: SigSet) {
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_done_once_and_comes_back_in_its_place() {
        let results = share(100, 4, |i| Some(i * 2));
        assert_eq!(results.len(), 100);
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(result, Some(i * 2));
        }
    }

    #[test]
    fn a_failed_item_stops_the_threads_taking_more() {
        // On the caller's thread alone the stop is exact: items 0 to 3 and no more.
        let taken = AtomicUsize::new(0);
        let results = share(10_000, 1, |i| {
            taken.fetch_add(1, Ordering::Relaxed);
            (i != 3).then_some(i)
        });
        assert_eq!(taken.load(Ordering::Relaxed), 4);
        assert_eq!(&results[..5], &[Some(0), Some(1), Some(2), None, None]);
        // With a helper, what was done is still in its place and the failed item missing.
        let results = share(10_000, 2, |i| (i != 3).then_some(i));
        assert_eq!(results[3], None);
        for (i, result) in results.iter().enumerate() {
            assert!(result.is_none() || *result == Some(i));
        }
    }

    #[test]
    fn the_item_of_a_thread_that_panicked_is_missing_not_wrong() {
        // The helper dies at the first item it takes; the caller does all the others.
        let results = share(50, 2, |i| {
            if std::thread::current().name() == Some("config-part") {
                panic!("a parser bug");
            }
            Some(i)
        });
        assert!(results.iter().filter(|r| r.is_none()).count() <= 1);
        for (i, result) in results.iter().enumerate() {
            assert!(result.is_none() || *result == Some(i));
        }
    }

    #[test]
    fn one_thread_does_everything_itself() {
        let caller = std::thread::current().id();
        let results = share(5, 1, |i| {
            (std::thread::current().id() == caller).then_some(i)
        });
        assert_eq!(results, vec![Some(0), Some(1), Some(2), Some(3), Some(4)]);
    }
}
