//! At start (not as PID 1, not after an upgrade): the processes a previous taskmasterd left
//! running, known from its state files, are adopted instead of started again. A process is
//! known by its pid *and* its start time: a pid reused by another process is never adopted
//! (nor signalled). Adopted processes are not our children: their end arrives through a
//! pidfd, and their captured output went with the old daemon's pipes.

use super::state_files::{self, StateFile};
use super::Daemon;
use crate::log::Level;
use crate::process::pidfd;
use crate::supervisor::{Goal, InstanceHandover, InstanceId, State};
use std::os::fd::OwnedFd;
use std::time::Instant;

/// What an adopted instance says until its next state change.
const ADOPTED: &str =
    "adopted from a previous taskmasterd; its captured output is lost until its next start";

impl Daemon {
    pub(super) fn adopt_survivors(&mut self) {
        let Some(files) = self.state_files.as_ref().filter(|f| f.may_hold_survivors()) else {
            return;
        };
        let dir = files.dir().to_path_buf();
        let instances: Vec<(InstanceId, String)> = self
            .core
            .instances()
            .map(|(service, index, _)| {
                let id = InstanceId {
                    service: service.to_string(),
                    index,
                };
                let name = self.core.instance_name(&id);
                (id, name)
            })
            .filter(|(_, name)| files.found_at_start(name))
            .collect();
        let mut items = Vec::new();
        let mut pidfds = Vec::new();
        for (id, name) in instances {
            match state_files::read_with_pid(&dir, &name) {
                Ok(Some(file)) => {
                    if let Some((item, fd)) = self.survivor(id, &name, &file) {
                        pidfds.push((item.pid.unwrap_or(0), fd));
                        items.push(item);
                    }
                }
                Ok(None) => {}
                Err(message) => self
                    .log
                    .write(Level::Warning, &format!("{message}; not adopted")),
            }
        }
        if items.is_empty() {
            return;
        }
        let count = items.len();
        let actions = self.core.take_over(items, Instant::now());
        self.perform_all(actions);
        for (pid, fd) in pidfds {
            self.pidfds.add(pid, fd);
        }
        self.log.write(
            Level::Info,
            &format!("adopted {count} process(es) a previous taskmasterd left running"),
        );
    }

    /// The instance to put back for one state file, with the pidfd that watches it; `None`
    /// (said in the log) when there is nothing alive to adopt.
    fn survivor(
        &mut self,
        id: InstanceId,
        name: &str,
        file: &StateFile,
    ) -> Option<(InstanceHandover, OwnedFd)> {
        let pid = file.status.pid?;
        let goal = match file.status.state.as_str() {
            "RUNNING" | "STARTING" | "PAUSED" => Goal::Up,
            // It was being stopped: adopt it, and the stop goes on.
            "STOPPING" => Goal::Down,
            _ => return None,
        };
        // A zombie has ended already; it only waits for its new parent to reap it.
        let started = state_files::process_start(pid).filter(|_| !state_files::is_zombie(pid));
        if started.is_none() {
            self.log.write(
                Level::Info,
                &format!("{name} (pid {pid}) ended while no taskmasterd watched it"),
            );
            return None;
        }
        if started != file.process_start {
            self.log.write(
                Level::Warning,
                &format!("{name}: pid {pid} is another process now (its start time differs); not adopted"),
            );
            return None;
        }
        let fd = match pidfd::open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                let text = format!("{name} (pid {pid}): pidfd_open: {e}; not adopted");
                self.log.write(Level::Warning, &text);
                return None;
            }
        };
        self.log.write(
            Level::Info,
            &format!("{name} (pid {pid}) adopted: it outlived the previous taskmasterd"),
        );
        let age = started.and_then(age_ms);
        let item = InstanceHandover {
            service: id.service,
            index: id.index,
            state: State::Running,
            goal,
            pid: Some(pid),
            group: file.process_group,
            spawned_ago_ms: age,
            running_ago_ms: age,
            deadline_in_ms: None,
            failed_starts: 0,
            crash_streak: 0,
            restarts: file.status.restarts,
            last_exit: None,
            detail: Some(ADOPTED.to_string()),
            paused_from: None,
            blocked: false,
            wanted: goal == Goal::Up,
            last_stderr: None,
            notify_status: None,
            forced: None,
            restarts_ago_ms: Vec::new(),
        };
        Some((item, fd))
    }
}

/// How long ago a process started, from its start time in clock ticks since boot.
fn age_ms(start_ticks: u64) -> Option<u64> {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let uptime: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let started = start_ticks as f64 / ticks as f64;
    Some(((uptime - started).max(0.0) * 1000.0) as u64)
}
