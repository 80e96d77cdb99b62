//! `pre-start`: a command run to completion before every start of a service, and, at reload,
//! with the new config while the old process keeps running (a *check*): the new config is
//! applied only if it passes. Its process is a child like any other: the loop spawns and
//! reaps it, and nothing waits for it but a timer.

use super::events::fail_start;
use super::waiters::{Entry, What};
use super::*;
use crate::config::Output;
use crate::log::Level;
use std::time::{Duration, Instant};

/// A pre-start that has not finished by then is killed, and counts as failed.
pub const PRE_START_TIMEOUT: Duration = Duration::from_secs(90);

/// Lines of a failed pre-start's output that go to the event log and to the reload report.
const OUTPUT_LINES: usize = 20;

/// The pre-start's process: the service's own spec (user, group, environment, working
/// directory, limits, capabilities) with its command. Its output is collected by the loop.
pub(super) fn pre_start_spec(spec: &ServiceSpec) -> Option<Arc<ProcessSpec>> {
    let cmd = spec.pre_start.as_ref()?;
    let mut process = spec.process.clone();
    process.cmd = cmd.clone();
    process.kind = ServiceType::Oneshot;
    process.stdout = Output::Capture;
    process.stderr = Output::Capture;
    Some(Arc::new(process))
}

impl Supervisor {
    pub(super) fn on_helper_spawned(
        &mut self,
        id: InstanceId,
        purpose: Purpose,
        result: Result<i32, SpawnFailure>,
        now: Instant,
        out: &mut Actions,
    ) {
        let name = self.instance_name(&id);
        if purpose == Purpose::Check {
            let Some(service) = self.services.get_mut(&id.service) else {
                if let Ok(pid) = result {
                    self.kill_helper(pid, Helper::Check(id.service), out);
                }
                return;
            };
            match (result, service.candidate.as_mut()) {
                (Ok(pid), Some(candidate)) if candidate.pid.is_none() => {
                    candidate.pid = Some(pid);
                    out.push(log(
                        Level::Info,
                        format!(
                            "{} pre-start of the new config spawned with pid {pid}",
                            id.service
                        ),
                    ));
                    self.helpers.insert(pid, Helper::Check(id.service));
                }
                // Cancelled meanwhile: nothing to vet any more.
                (Ok(pid), _) => self.kill_helper(pid, Helper::Check(id.service), out),
                (Err(failure), Some(_)) => {
                    let service = id.service.clone();
                    self.check_failed(&service, format!("pre-start: {}", failure.reason), out);
                }
                (Err(_), None) => {}
            }
            return;
        }
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let policy = service.spec.policy.clone();
        let Some(instance) = service.instances.get_mut(&id.index) else {
            if let Ok(pid) = result {
                self.kill_helper(pid, Helper::PreStart(id), out);
            }
            return;
        };
        match result {
            Ok(pid) => {
                self.helpers.insert(pid, Helper::PreStart(id.clone()));
                instance.pre_start_pid = Some(pid);
                instance.detail = Some(format!("running pre-start (pid {pid})"));
                out.push(log(
                    Level::Info,
                    format!("{name} pre-start spawned with pid {pid}"),
                ));
                if instance.state == State::Stopping || !instance.in_pre_start {
                    // Stopped while it was being spawned.
                    out.push(Action::Signal {
                        pid,
                        signal: libc::SIGKILL,
                        group: true,
                    });
                }
            }
            Err(SpawnFailure { reason, transient }) => {
                instance.in_pre_start = false;
                let what = format!("pre-start could not be spawned ({reason})");
                let fatal = if transient {
                    fail_start(instance, &name, &what, &policy, now, out)
                } else {
                    instance.failed_starts = policy.startretries;
                    fail_start(instance, &name, &what, &policy, now, out)
                };
                if fatal && policy.essential {
                    out.push(Action::EssentialFailed { name });
                }
            }
        }
    }

    pub(super) fn on_helper_exit(
        &mut self,
        pid: i32,
        status: ExitStatus,
        output: String,
        now: Instant,
        out: &mut Actions,
    ) {
        match self.helpers.remove(&pid) {
            Some(Helper::PreStart(id)) => self.pre_start_done(id, pid, status, &output, now, out),
            Some(Helper::Check(service)) => self.check_done(&service, pid, status, &output, out),
            None => {}
        }
    }

    fn pre_start_done(
        &mut self,
        id: InstanceId,
        pid: i32,
        status: ExitStatus,
        output: &str,
        now: Instant,
        out: &mut Actions,
    ) {
        let name = self.instance_name(&id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let policy = service.spec.policy.clone();
        let spec = service.process.clone();
        let oneshot = service.is_oneshot();
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        if instance.pre_start_pid != Some(pid) {
            return;
        }
        instance.pre_start_pid = None;
        instance.in_pre_start = false;
        instance.deadline = None;
        if instance.state == State::Stopping || instance.goal == Goal::Down {
            instance.state = if instance.goal == Goal::Up {
                State::Pending // a restart: reconcile starts it again
            } else {
                State::Stopped
            };
            instance.detail = None;
            out.push(log(
                Level::Info,
                format!(
                    "{name} pre-start (pid {pid}) ended with {status}: {}",
                    instance.state
                ),
            ));
            return;
        }
        if status == ExitStatus::Code(0) {
            out.push(log(
                Level::Info,
                format!("{name} pre-start (pid {pid}) succeeded"),
            ));
            instance.spawned_at = Some(now);
            instance.detail = None;
            let starttime = policy.starttime;
            instance.deadline = (!oneshot && !starttime.is_zero()).then(|| now + starttime);
            out.push(Action::Spawn {
                id,
                name,
                spec,
                purpose: Purpose::Main,
            });
            return;
        }
        log_output(&name, output, out);
        let last = last_line(output);
        let what = match &last {
            Some(line) => format!("pre-start failed with {status}: {line}"),
            None => format!("pre-start failed with {status}"),
        };
        instance.last_stderr = last;
        let who = format!("{name} (pre-start pid {pid})");
        if fail_start(instance, &who, &what, &policy, now, out) && policy.essential {
            out.push(Action::EssentialFailed { name });
        }
    }

    /// Spawns the pre-start that vets a reloaded config (or a restart) of a running
    /// service; the service keeps its current spec and process until it has passed.
    pub(super) fn begin_check(
        &mut self,
        name: &str,
        vetted: Vetted,
        now: Instant,
        out: &mut Actions,
    ) {
        let Some(service) = self.services.get_mut(name) else {
            return;
        };
        let pre_start = match &vetted {
            Vetted::Reload(spec) => pre_start_spec(spec),
            Vetted::Restart(_) => pre_start_spec(&service.spec),
        };
        let Some(pre_start) = pre_start else {
            return;
        };
        // Run as the first running instance would be (its name and index).
        let index = service
            .instances
            .iter()
            .find(|(_, i)| i.pid.is_some())
            .map_or(0, |(index, _)| *index);
        let what = match vetted {
            Vetted::Reload(_) => "config changed",
            Vetted::Restart(_) => "restart requested",
        };
        service.candidate = Some(Candidate {
            vetted,
            pid: None,
            deadline: Some(now + PRE_START_TIMEOUT),
        });
        let id = InstanceId {
            service: name.to_string(),
            index,
        };
        out.push(log(
            Level::Info,
            format!("{name} {what}: running its pre-start before stopping it"),
        ));
        out.push(Action::Spawn {
            name: self.instance_name(&id),
            id,
            spec: pre_start,
            purpose: Purpose::Check,
        });
    }

    fn check_done(
        &mut self,
        service: &str,
        pid: i32,
        status: ExitStatus,
        output: &str,
        out: &mut Actions,
    ) {
        let Some(svc) = self.services.get_mut(service) else {
            return;
        };
        if svc.candidate.as_ref().and_then(|c| c.pid) != Some(pid) {
            return; // cancelled: its verdict no longer matters
        }
        let Some(candidate) = svc.candidate.take() else {
            return;
        };
        if status == ExitStatus::Code(0) {
            out.push(log(
                Level::Info,
                format!("{service} pre-start (pid {pid}) succeeded: going ahead"),
            ));
            let entries = match candidate.vetted {
                Vetted::Reload(spec) => self.apply_spec(service, *spec, out).1,
                Vetted::Restart(ids) => {
                    let mut primaries = Vec::new();
                    let mut dependents = Vec::new();
                    let mut stopped = Vec::new();
                    for id in ids {
                        // Stopped by someone while the check ran: that wins.
                        if self.instance(&id).is_some_and(|i| i.goal == Goal::Down) {
                            stopped.push(id);
                            continue;
                        }
                        dependents.extend(self.restart_instance(&id, out));
                        primaries.push(id);
                    }
                    let mut entries = self.entries(primaries, || What::Restart);
                    entries.extend(dependents);
                    for id in stopped {
                        let name = self.instance_name(&id);
                        let message = "stopped while its pre-start ran".to_string();
                        entries.push(Entry::said(id, name, "not restarted", true, message));
                    }
                    entries
                }
            };
            self.resolve_check(service, Ok(entries));
            return;
        }
        log_output(service, output, out);
        let what = match candidate.deadline {
            None => format!(
                "pre-start did not finish within {}",
                seconds(PRE_START_TIMEOUT)
            ),
            Some(_) => format!("pre-start failed with {status}"),
        };
        let mut message = match candidate.vetted {
            Vetted::Reload(_) => {
                format!("{what}; still running the old config, the next reload tries again")
            }
            Vetted::Restart(_) => format!("{what}; not restarted, still running"),
        };
        for line in tail_lines(output) {
            message.push_str("\n    ");
            message.push_str(line);
        }
        self.check_failed(service, message, out);
    }

    /// Kills the checks that ran out of time; their exit reports the failure.
    pub(super) fn check_timeouts(&mut self, now: Instant, out: &mut Actions) {
        for (name, service) in &mut self.services {
            let Some(candidate) = service.candidate.as_mut() else {
                continue;
            };
            if candidate.deadline.is_some_and(|at| at <= now) {
                candidate.deadline = None;
                if let Some(pid) = candidate.pid {
                    out.push(log(
                        Level::Warning,
                        format!(
                            "{name} pre-start (check, pid {pid}) did not finish within {}: SIGKILL",
                            seconds(PRE_START_TIMEOUT)
                        ),
                    ));
                    out.push(Action::Signal {
                        pid,
                        signal: libc::SIGKILL,
                        group: true,
                    });
                }
            }
        }
    }

    /// The check did not pass: the service stays as it is, on its old config.
    fn check_failed(&mut self, service: &str, message: String, out: &mut Actions) {
        if let Some(svc) = self.services.get_mut(service) {
            svc.candidate = None;
        }
        out.push(log(
            Level::Warning,
            format!(
                "{service} not restarted: {}",
                message.lines().next().unwrap_or("")
            ),
        ));
        let failed = Entry::said(
            InstanceId {
                service: service.to_string(),
                index: 0,
            },
            service.to_string(),
            "restart failed",
            false,
            message,
        );
        self.resolve_check(service, Err(failed));
    }

    /// Drops a check in flight (a newer reload, shutdown): its process is killed and its
    /// exit ignored; whoever waited for it is told `why`.
    pub(super) fn cancel_check(&mut self, service: &str, why: &str, out: &mut Actions) {
        let Some(candidate) = self
            .services
            .get_mut(service)
            .and_then(|s| s.candidate.take())
        else {
            return;
        };
        if let Some(pid) = candidate.pid {
            out.push(Action::Signal {
                pid,
                signal: libc::SIGKILL,
                group: true,
            });
        }
        let said = Entry::said(
            InstanceId {
                service: service.to_string(),
                index: 0,
            },
            service.to_string(),
            "not restarted",
            true,
            why.to_string(),
        );
        self.resolve_check(service, Err(said));
    }

    /// Kills a pre-start nobody waits for any more; it stays tracked until reaped.
    fn kill_helper(&mut self, pid: i32, helper: Helper, out: &mut Actions) {
        self.helpers.insert(pid, helper);
        out.push(Action::Signal {
            pid,
            signal: libc::SIGKILL,
            group: true,
        });
    }
}

/// The last non-empty line of an output, trimmed.
pub(super) fn last_line(output: &str) -> Option<String> {
    output
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .map(str::to_string)
}

/// The last [`OUTPUT_LINES`] non-empty lines.
fn tail_lines(output: &str) -> Vec<&str> {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(OUTPUT_LINES)..].to_vec()
}

fn log_output(name: &str, output: &str, out: &mut Actions) {
    for line in tail_lines(output) {
        out.push(log(
            Level::Warning,
            format!("{name} pre-start said: {line}"),
        ));
    }
}
