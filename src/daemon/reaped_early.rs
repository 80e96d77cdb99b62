//! Children reaped while a turn does something for many children, before the turn's
//! SIGCHLD is read.
//!
//! A stop of every service sends 1,000 signals in one turn, and the services die while it
//! goes on, on the other CPU. Left for the SIGCHLD turn after it, their reaps (`wait4`, in
//! which the kernel releases each task and its `/proc` entries) ran after the last signal,
//! one after the other while the exits were over and the other CPU was idle; and then the
//! handling of that batch (each exit's `cgroup.events`, the core, the SIGKILL to each group)
//! held up the reaps of the exits that came meanwhile. So at every [`EVERY`]th step of such
//! work in a turn (a signal sent, a reaped exit collected) the loop reaps what is ready; what
//! it finds waits here and goes to the core as one batch at the end of the same turn, as a
//! SIGCHLD turn's would (see `Daemon::handle_reaped_early`). An instance whose exit is
//! handled in the turn of its stop has its STOPPED state written, not its STOPPING one.

use super::reaper;
use crate::supervisor::Event;

/// How many steps (signals sent, exits collected) between two looks for ended children.
/// Each look ends with a `wait4` that finds nothing, which looks at every child (about
/// 0.1-0.2 ms at 1,000): a few dozen per stop of 1,000, none for a stop of a few services.
const EVERY: u32 = 64;

#[derive(Default)]
pub(super) struct ReapedEarly {
    events: Vec<Event>,
    /// The pids among them that ended, sorted: until the core has been told, a group signal
    /// to one of them must reach what is left of its group only, never the (free) pid.
    pids: Vec<i32>,
    /// Steps since the batch was last taken.
    steps: u32,
}

impl ReapedEarly {
    /// One more step of work for a child this turn (a signal sent, a reaped exit
    /// collected); at every [`EVERY`]th, what has ended is reaped.
    pub fn step(&mut self) {
        self.step_then(reaper::reap_all);
    }

    /// [`ReapedEarly::step`] with the reaping given (a test's must not take other tests'
    /// children).
    fn step_then(&mut self, reap: impl FnOnce() -> Vec<Event>) {
        self.steps += 1;
        if !self.steps.is_multiple_of(EVERY) {
            return;
        }
        for event in reap() {
            if let Event::Exited { pid, .. } = event {
                if let Err(at) = self.pids.binary_search(&pid) {
                    self.pids.insert(at, pid);
                }
            }
            self.events.push(event);
        }
    }

    /// Whether `pid` was reaped here and the core not told yet.
    pub fn has_reaped(&self, pid: i32) -> bool {
        self.pids.binary_search(&pid).is_ok()
    }

    /// Whether nothing waits for the core (an upgrade's new image would never hear of it).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// What was reaped since the last call, in order, for the core; the count of steps
    /// starts again.
    pub fn take(&mut self) -> Vec<Event> {
        self.steps = 0;
        self.pids.clear();
        std::mem::take(&mut self.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::ExitStatus;

    fn ended(pid: i32) -> Event {
        Event::Exited {
            pid,
            status: ExitStatus::Signal(libc::SIGTERM),
        }
    }

    #[test]
    fn every_64th_step_reaps_and_what_it_found_is_taken_once() {
        let mut early = ReapedEarly::default();
        let mut looks = 0;
        for _ in 0..EVERY - 1 {
            early.step_then(|| {
                looks += 1;
                vec![ended(7)]
            });
        }
        assert_eq!(looks, 0);
        early.step_then(|| vec![ended(9), Event::Continued { pid: 8 }, ended(7)]);
        assert!(early.has_reaped(7) && early.has_reaped(9));
        assert!(!early.has_reaped(8), "continued, not reaped");
        assert_eq!(early.take().len(), 3);
        assert!(!early.has_reaped(7));
        assert!(early.take().is_empty());
        // The count starts again once taken.
        for _ in 0..EVERY - 1 {
            early.step_then(|| vec![ended(5)]);
        }
        assert!(!early.has_reaped(5));
    }
}
