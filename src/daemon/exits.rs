//! Reaped children on their way to the core: a `pre-start` with the output it wrote, a
//! service's process with the last line it wrote to stderr (a FATAL instance shows it).

use super::Daemon;
use crate::supervisor::Event;

/// A FATAL instance's last stderr line is cut to this many characters.
const LAST_LINE_CHARS: usize = 500;

impl Daemon {
    /// A reaped child: a pre-start's exit goes to the core with its output; a service's
    /// exit with the last line it wrote to stderr (read now: the pipe may still hold it).
    pub(super) fn dispatch_reaped(&mut self, event: Event) {
        let Event::Exited { pid, status } = event else {
            if let Event::Stopped { pid } = event {
                self.cgroups.stopped(pid);
            }
            return self.dispatch(event);
        };
        if let Some(output) = self.helpers.reaped(pid) {
            return self.dispatch(Event::HelperExited {
                pid,
                status,
                output,
            });
        }
        if let Some(reason) = self.cgroups.reaped(pid) {
            self.dispatch(Event::OomKilled { pid, reason });
        }
        self.outputs.reaped(pid);
        if let Some(id) = self.core.instance_of_pid(pid).cloned() {
            // Its end waits for the rest of its cgroup (the core keeps it STOPPING).
            if let Some(processes) = self.cgroups.leftovers(&id, &mut self.log) {
                self.dispatch(Event::Leftovers { pid, processes });
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
                self.dispatch(Event::LastStderr { pid, line });
            }
        }
        self.dispatch(event);
        self.cgroups.forget(pid);
    }
}
