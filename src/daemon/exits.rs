//! Reaped children on their way to the core: a `pre-start` with the output it wrote, a
//! service's process with the last line it wrote to stderr (a FATAL instance shows it).
//!
//! Everything one turn reaped goes to the core as one batch ([`Supervisor::handle_all`]):
//! what follows from an exit (reconcile, state events, hooks) walks every instance, and
//! 1,000 services stopping at once reap in a handful of turns, not one exit at a time.
//!
//! [`Supervisor::handle_all`]: crate::supervisor::Supervisor::handle_all

use super::Daemon;
use crate::supervisor::Event;

/// A FATAL instance's last stderr line is cut to this many characters.
const LAST_LINE_CHARS: usize = 500;

/// What one turn reaped, in order, with what the core is told before each exit.
#[derive(Default)]
pub(super) struct Reaped {
    events: Vec<Event>,
    /// Main processes whose cgroup bookkeeping goes once the core has handled them (a
    /// SIGKILL to their group, which the core asks for, still finds their cgroup).
    gone: Vec<i32>,
}

impl Daemon {
    /// A reaped child: a pre-start's exit goes to the core with its output; a service's
    /// exit with the last line it wrote to stderr (read now: the pipe may still hold it).
    pub(super) fn collect_reaped(&mut self, event: Event, reaped: &mut Reaped) {
        // A batch of 1,000 takes a while (a `cgroup.events` read each): the exits that come
        // meanwhile are reaped on the way (see reaped_early.rs).
        self.reaped_early.step();
        let Event::Exited { pid, status } = event else {
            if let Event::Stopped { pid } = event {
                self.cgroups.stopped(pid);
            }
            return reaped.events.push(event);
        };
        if let Some(output) = self.helpers.reaped(pid) {
            return reaped.events.push(Event::HelperExited {
                pid,
                status,
                output,
            });
        }
        if let Some(reason) = self.cgroups.reaped(pid) {
            reaped.events.push(Event::OomKilled { pid, reason });
        }
        self.outputs.reaped(pid);
        if let Some(id) = self.core.instance_of_pid(pid) {
            // Its end waits for the rest of its cgroup (the core keeps it STOPPING).
            if let Some(processes) = self.cgroups.leftovers(pid, &id, &mut self.log) {
                reaped.events.push(Event::Leftovers { pid, processes });
            }
            for index in (0..self.outputs.pipes.len()).rev() {
                let pipe = &self.outputs.pipes[index];
                if pipe.id == id && pipe.stderr {
                    self.read_pipe(index);
                }
            }
            let captured = self.outputs.stderr_of_last_process(&id);
            let text = String::from_utf8_lossy(&captured);
            if let Some(line) = text.lines().map(str::trim).rfind(|l| !l.is_empty()) {
                let line = line.chars().take(LAST_LINE_CHARS).collect();
                reaped.events.push(Event::LastStderr { pid, line });
            }
        }
        reaped.events.push(event);
        reaped.gone.push(pid);
    }

    /// Hands what was reaped so far to the core, and does what it asks.
    pub(super) fn dispatch_reaped(&mut self, reaped: &mut Reaped) {
        let Reaped { events, mut gone } = std::mem::take(reaped);
        if !events.is_empty() {
            gone.sort_unstable();
            self.reaped_now = gone;
            self.dispatch_all(events);
            gone = std::mem::take(&mut self.reaped_now);
        }
        for pid in gone {
            self.cgroups.forget(pid);
        }
    }
}
