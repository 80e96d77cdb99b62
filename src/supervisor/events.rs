//! What the OS reports about processes (spawned, exited, stopped, continued) and timers.

use super::instance::ForcedStop;
use super::readiness::over_restart_limit;
use super::Level;
use super::*;
use std::time::Instant;

impl Supervisor {
    pub(super) fn on_spawned(
        &mut self,
        id: InstanceId,
        result: Result<i32, SpawnFailure>,
        now: Instant,
        out: &mut Actions,
    ) {
        let name = self.instance_name(&id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let starttime = service.spec.policy.starttime;
        let oneshot = service.is_oneshot();
        let reported = service.spec.process.ready.is_reported();
        let start_deadline = Supervisor::start_deadline(service, now);
        let essential = service.spec.policy.essential;
        let startretries = service.spec.policy.startretries;
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        match result {
            Ok(pid) => {
                instance.pid = Some(pid);
                instance.in_pre_start = false;
                if let Some(seldom) = instance.seldom.boxed_mut() {
                    seldom.last_stderr = None;
                    seldom.oom = None;
                    seldom.notify_status = None;
                }
                self.pids.insert(pid, id);
                out.push(log(Level::Info, format!("{name} spawned with pid {pid}")));
                // Up time counts from exec, not from the decision to fork: a slow spawn
                // (a loaded machine) must not eat into `starttime`.
                instance.spawned_at = Some(now);
                instance.group = Some(pid);
                instance.forced = None;
                instance.deadline = start_deadline;
                if starttime.is_zero() && !oneshot && !reported {
                    become_running(instance, &name, now, out);
                }
            }
            Err(SpawnFailure { reason, transient }) => {
                instance.deadline = None;
                instance.in_pre_start = false;
                instance.restart_pending = false;
                instance.failed_starts += 1;
                let attempt = instance.failed_starts;
                if transient && attempt <= startretries {
                    let delay = policy::backoff_delay(attempt);
                    instance.state = State::Backoff;
                    instance.deadline = Some(now + delay);
                    instance.restarts += 1;
                    out.push(log(
                        Level::Warning,
                        format!(
                            "{name} could not be spawned ({reason}): BACKOFF, restart attempt {attempt}/{startretries} in {}",
                            seconds(delay)
                        ),
                    ));
                    instance.detail = Some(reason);
                    return;
                }
                instance.state = State::Fatal;
                instance.goal = Goal::Down;
                instance.detail = Some(reason.clone());
                out.push(log(Level::Error, format!("{name} FATAL: {reason}")));
                if essential {
                    out.push(Action::EssentialFailed { name });
                }
            }
        }
    }

    /// The spawn of `pid` failed in the child: as if the spawn itself had failed, unless the
    /// instance has moved on (stopped, or another process) meanwhile.
    pub(super) fn on_exec_failed(
        &mut self,
        id: InstanceId,
        pid: i32,
        failure: SpawnFailure,
        now: Instant,
        out: &mut Actions,
    ) {
        if !self.pids.is(pid, &id) {
            return;
        }
        self.pids.remove(&pid);
        let name = self.instance_name(&id);
        let Some(instance) = self
            .services
            .get_mut(&id.service)
            .and_then(|s| s.instances.get_mut(&id.index))
        else {
            return;
        };
        instance.pid = None;
        instance.spawned_at = None;
        // The process a pending restart would have stopped never ran: nothing to restart.
        instance.restart_pending = false;
        if instance.state == State::Stopping || instance.goal == Goal::Down {
            // Asked to stop before the failure was known: it is stopped.
            instance.deadline = None;
            instance.detail = Some(failure.reason.clone());
            instance.restart_pending = false;
            // Stopping to come back (a restart): reconcile starts it again.
            instance.state = if instance.goal == Goal::Up {
                State::Pending
            } else {
                State::Stopped
            };
            out.push(log(
                Level::Warning,
                format!(
                    "{name} (pid {pid}) could not be executed: {}: {}",
                    failure.reason, instance.state
                ),
            ));
            return;
        }
        self.on_spawned(id, Err(failure), now, out);
    }

    pub(super) fn on_exit(
        &mut self,
        pid: i32,
        status: ExitStatus,
        now: Instant,
        out: &mut Actions,
    ) {
        let Some(id) = self.pids.remove(&pid) else {
            return; // an orphan we reaped as subreaper / PID 1: nothing to decide
        };
        let name = self.instance_name(&id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let policy = service.spec.policy.clone();
        let oneshot = service.is_oneshot();
        let reported = service.spec.process.ready.is_reported();
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        if instance.pid != Some(pid) {
            return; // not this instance's current process: nothing about it to decide
        }
        instance.pid = None;
        instance.last_exit = Some(status);
        instance.deadline = None;
        instance.restart_pending = false;
        let mut was = instance.paused_from.take().unwrap_or(instance.state);
        let stayed_starttime = instance
            .spawned_at
            .is_some_and(|at| now.saturating_duration_since(at) >= policy.starttime);
        // Stopped by the core itself (ready timeout, watchdog) while its goal is still Up:
        // a failure, handled as if it had ended on its own where it was.
        let forced = instance.forced.take().filter(|_| instance.goal == Goal::Up);
        match forced {
            Some(ForcedStop::ReadyTimeout) => was = State::Starting,
            Some(ForcedStop::Watchdog) => was = State::Running,
            None => {}
        }
        if was == State::Starting && stayed_starttime && !oneshot && !reported {
            // starttime passed, but its timer had not been handled before the exit was
            // reaped: the process did start.
            was = State::Running;
        }
        let expected = policy::is_expected(&policy, status);
        let how = if expected { "expected" } else { "unexpected" };
        // Whatever ended, leftovers of its process group must not outlive it when we
        // meant it to stop; the group id stays reserved while members remain.
        let mut fatal = false;
        let mut left_running = false;
        // Whether the exit came with a SIGKILL to the whole group (its cgroup, with cgroups).
        let mut killed = forced.is_some();
        if forced.is_some() {
            out.push(Action::Signal {
                pid,
                signal: libc::SIGKILL,
                group: true,
            });
        }

        if was == State::Stopping || instance.goal == Goal::Down {
            killed = true;
            out.push(Action::Signal {
                pid,
                signal: libc::SIGKILL,
                group: true,
            });
            instance.state = State::Stopped;
            instance.detail = None;
            out.push(log(
                Level::Info,
                format!("{name} (pid {pid}) exited with {status}: STOPPED"),
            ));
            if instance.goal == Goal::Up {
                instance.state = State::Pending; // restart requested: reconcile respawns it
            }
        } else if oneshot {
            if expected {
                instance.state = State::Exited;
                instance.goal = Goal::Down;
                instance.detail = None;
                out.push(log(
                    Level::Info,
                    format!("{name} (pid {pid}) exited with {status} (expected): EXITED"),
                ));
            } else {
                // A failed run is a failed start: retried like one (startretries, back-off),
                // since it often only ran too early (a database still starting).
                let who = format!("{name} (pid {pid})");
                let what = format!("oneshot failed with {status}");
                fatal = fail_start(instance, &who, &what, &policy, now, out);
            }
        } else if was == State::Starting {
            let before = if forced.is_some() {
                "without reporting ready"
            } else if reported {
                "before it was ready"
            } else {
                "before starttime"
            };
            let limited = forced.is_some() || policy::is_failed_start(&policy, status);
            let limit = if limited && instance.failed_starts < policy.startretries {
                over_restart_limit(instance, &policy, now)
            } else {
                None
            };
            if limited {
                instance.failed_starts += 1;
                let attempt = instance.failed_starts;
                if attempt > policy.startretries || limit.is_some() {
                    fatal = true;
                    instance.state = State::Fatal;
                    instance.goal = Goal::Down;
                    let reason = limit.unwrap_or_else(|| {
                        format!("exited with {status} {before}, {attempt} attempt(s), giving up")
                    });
                    out.push(log(
                        Level::Error,
                        format!("{name} (pid {pid}) FATAL: {reason}"),
                    ));
                    instance.detail = Some(reason);
                } else {
                    let delay = policy::backoff_delay(attempt);
                    instance.state = State::Backoff;
                    instance.deadline = Some(now + delay);
                    instance.restarts += 1;
                    instance.detail = Some(format!("exited with {status} {before}"));
                    out.push(log(
                        Level::Warning,
                        format!(
                            "{name} (pid {pid}) exited with {status} ({how}) {before}: BACKOFF, restart attempt {attempt}/{} in {}",
                            policy.startretries,
                            seconds(delay)
                        ),
                    ));
                }
            } else {
                instance.state = State::Exited;
                instance.goal = Goal::Down;
                instance.detail = None;
                out.push(log(
                    Level::Info,
                    format!("{name} (pid {pid}) exited with {status} ({how}): EXITED"),
                ));
            }
        } else {
            // It had reached RUNNING (or was paused while running).
            left_running = true;
            let level = if expected {
                Level::Info
            } else {
                Level::Warning
            };
            let restarts = policy::restarts_after_running(&policy, status);
            let limit = if restarts {
                over_restart_limit(instance, &policy, now)
            } else {
                None
            };
            if let Some(reason) = limit {
                fatal = true;
                instance.state = State::Fatal;
                instance.goal = Goal::Down;
                out.push(log(
                    Level::Error,
                    format!("{name} (pid {pid}) exited with {status} ({how}): FATAL: {reason}"),
                ));
                instance.detail = Some(reason);
            } else if restarts {
                let stable = instance
                    .running_since
                    .is_some_and(|since| now.duration_since(since) >= policy::STABLE_AFTER);
                // A stable run ends the streak: this crash is the first of a new one.
                instance.crash_streak = if stable {
                    1
                } else {
                    instance.crash_streak.saturating_add(1)
                };
                instance.restarts += 1;
                instance.state = State::Pending;
                instance.detail = None;
                let when = match policy::restart_delay(instance.crash_streak) {
                    None => "now".to_string(),
                    Some(delay) => {
                        instance.deadline = Some(now + delay);
                        instance.detail = Some(format!("restart in {}", seconds(delay)));
                        format!("in {}", seconds(delay))
                    }
                };
                out.push(log(
                    level,
                    format!("{name} (pid {pid}) exited with {status} ({how}): restarting {when}"),
                ));
            } else {
                instance.state = State::Exited;
                instance.goal = Goal::Down;
                instance.detail = None;
                out.push(log(
                    level,
                    format!("{name} (pid {pid}) exited with {status} ({how}): EXITED"),
                ));
            }
        }
        instance.running_since = None;
        if fatal && policy.essential {
            out.push(Action::EssentialFailed { name: name.clone() });
        }
        self.begin_drain(&id, pid, killed, now, out);
        if left_running {
            self.bounce_dependents(&id.service, now, out);
        }
    }

    /// The OOM killer killed in the cgroup of `pid`, which is about to be reported dead.
    pub(super) fn on_oom_killed(&mut self, pid: i32, reason: String, out: &mut Actions) {
        let Some(id) = self.pids.get(&pid) else {
            return;
        };
        let name = self.instance_name(&id);
        if let Some(instance) = self.instance_mut(&id) {
            if instance.pid == Some(pid) {
                out.push(log(Level::Warning, format!("{name} (pid {pid}) {reason}")));
                instance.seldom.oom = Some(reason);
            }
        }
    }

    /// The loop read what a process wrote last to stderr, just before handing us its exit.
    pub(super) fn on_last_stderr(&mut self, pid: i32, line: String) {
        let Some(id) = self.pids.get(&pid) else {
            return;
        };
        if let Some(instance) = self.instance_mut(&id) {
            if instance.pid == Some(pid) {
                instance.seldom.last_stderr = Some(line);
            }
        }
    }

    pub(super) fn on_stopped(&mut self, pid: i32, out: &mut Actions) {
        let Some(id) = self.pids.get(&pid) else {
            return;
        };
        let name = self.instance_name(&id);
        let Some(instance) = self.instance_mut(&id) else {
            return;
        };
        if matches!(instance.state, State::Starting | State::Running) {
            instance.paused_from = Some(instance.state);
            instance.state = State::Paused;
            out.push(log(
                Level::Info,
                format!("{name} (pid {pid}) paused: PAUSED"),
            ));
        }
    }

    pub(super) fn on_continued(&mut self, pid: i32, now: Instant, out: &mut Actions) {
        let Some(id) = self.pids.get(&pid) else {
            return;
        };
        let name = self.instance_name(&id);
        let restart_deadline = match self.services.get(&id.service) {
            Some(s) => Supervisor::start_deadline(s, now),
            None => return,
        };
        let Some(instance) = self.instance_mut(&id) else {
            return;
        };
        if instance.state != State::Paused {
            return;
        }
        let back_to = instance.paused_from.take().unwrap_or(State::Running);
        instance.state = back_to;
        if back_to == State::Starting {
            // Time spent stopped does not count towards starttime (or the ready timeout).
            instance.deadline = restart_deadline;
        }
        out.push(log(
            Level::Info,
            format!("{name} (pid {pid}) resumed: {}", back_to.word()),
        ));
    }

    pub(super) fn on_tick(&mut self, now: Instant, out: &mut Actions) {
        self.refresh_timers();
        // Found before the checks are handled, as the walk over every instance found them.
        let due = self.timers.due(now);
        self.check_timeouts(now, out);
        for id in due {
            if self.instance(&id).is_some_and(|i| i.seldom.drain.is_some()) {
                self.drain_due(&id, now, out);
                continue;
            }
            let name = self.instance_name(&id);
            let reported = self
                .services
                .get(&id.service)
                .is_some_and(|s| s.spec.process.ready.is_reported());
            let Some(instance) = self.instance_mut(&id) else {
                continue;
            };
            match instance.state {
                State::Starting if instance.in_pre_start => {
                    instance.deadline = None;
                    if let Some(pid) = instance.pre_start_pid {
                        out.push(log(
                            Level::Warning,
                            format!(
                                "{name} pre-start (pid {pid}) did not finish within {}: SIGKILL",
                                seconds(super::prestart::PRE_START_TIMEOUT)
                            ),
                        ));
                        out.push(Action::Signal {
                            pid,
                            signal: libc::SIGKILL,
                            group: true,
                        });
                    }
                }
                // Being stopped for good, and held until what waits for it has stopped:
                // its readiness no longer matters, and stopping it now would break that order.
                State::Starting | State::Running if reported && instance.goal == Goal::Down => {
                    instance.deadline = None
                }
                State::Starting if reported => {
                    self.force_stop(&id, ForcedStop::ReadyTimeout, now, out)
                }
                State::Running if reported => self.force_stop(&id, ForcedStop::Watchdog, now, out),
                State::Starting => {
                    instance.deadline = None;
                    become_running(instance, &name, now, out);
                }
                State::Stopping => {
                    instance.deadline = None;
                    if let Some(pid) = instance.pid {
                        out.push(log(
                            Level::Warning,
                            format!("{name} (pid {pid}) did not stop within stoptime: SIGKILL"),
                        ));
                        out.push(Action::Signal {
                            pid,
                            signal: libc::SIGKILL,
                            group: true,
                        });
                    }
                }
                // PENDING/BACKOFF retries: reconcile spawns them now that the time has come.
                State::Pending | State::Backoff => instance.deadline = None,
                _ => instance.deadline = None,
            }
        }
    }
}

/// A failed start that is not a plain early exit (a oneshot's failed run, a failed
/// `pre-start`): BACKOFF with the growing delay while `startretries` last, then FATAL.
/// Returns whether it went FATAL.
pub(super) fn fail_start(
    instance: &mut Instance,
    who: &str,
    what: &str,
    policy: &crate::config::Policy,
    now: Instant,
    out: &mut Actions,
) -> bool {
    instance.failed_starts += 1;
    instance.deadline = None;
    // The start failed: there is no process for a pending restart to stop.
    instance.restart_pending = false;
    let attempt = instance.failed_starts;
    if attempt > policy.startretries {
        instance.state = State::Fatal;
        instance.goal = Goal::Down;
        let reason = match attempt {
            1 => what.to_string(),
            n => format!("{what}, {n} attempts, giving up"),
        };
        out.push(log(Level::Error, format!("{who} FATAL: {reason}")));
        instance.detail = Some(reason);
        return true;
    }
    let delay = policy::backoff_delay(attempt);
    instance.state = State::Backoff;
    instance.deadline = Some(now + delay);
    instance.restarts += 1;
    instance.detail = Some(what.to_string());
    out.push(log(
        Level::Warning,
        format!(
            "{who} {what}: BACKOFF, restart attempt {attempt}/{} in {}",
            policy.startretries,
            seconds(delay)
        ),
    ));
    false
}

pub(super) fn become_running(instance: &mut Instance, name: &str, now: Instant, out: &mut Actions) {
    instance.state = State::Running;
    instance.failed_starts = 0;
    instance.running_since = Some(now);
    instance.detail = None;
    let pid = instance
        .pid
        .map(|p| format!(" (pid {p})"))
        .unwrap_or_default();
    out.push(log(Level::Info, format!("{name}{pid} is RUNNING")));
}
