//! A reload's (or a restart's) `pre-start` check: the command runs with the config to vet
//! while the service's old process keeps running untouched; only if it passes is the new
//! config applied (or the restart done). A failure leaves the service as it was and is
//! reported with the command's output.

use super::prestart::{log_output, pre_start_spec, tail_lines, PRE_START_TIMEOUT};
use super::waiters::{Entry, What};
use super::Level;
use super::*;
use std::time::Instant;

impl Supervisor {
    pub(super) fn check_spawned(
        &mut self,
        id: InstanceId,
        result: Result<i32, SpawnFailure>,
        out: &mut Actions,
    ) {
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
                    format!("{} pre-start (check) spawned with pid {pid}", id.service),
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
        service.candidate = Some(Box::new(Candidate {
            vetted,
            pid: None,
            deadline: Some(now + PRE_START_TIMEOUT),
        }));
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

    pub(super) fn check_done(
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
        // From the timers (brought up to date by `on_tick`, the only caller): this runs on
        // every tick.
        let due = self.timers.checks_due(now);
        for name in due {
            let Some(candidate) = self
                .services
                .get_mut(&name)
                .and_then(|s| s.candidate.as_mut())
            else {
                continue;
            };
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
}
