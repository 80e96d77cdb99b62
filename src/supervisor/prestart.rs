//! `pre-start`: a command run to completion before every start of a service, and, at reload,
//! with the new config while the old process keeps running (a *check*): the new config is
//! applied only if it passes. Its process is a child like any other: the loop spawns and
//! reaps it, and nothing waits for it but a timer.

use super::events::fail_start;
use super::Level;
use super::*;
use crate::config::Output;
use std::time::{Duration, Instant};

/// A pre-start that has not finished by then is killed, and counts as failed.
pub const PRE_START_TIMEOUT: Duration = Duration::from_secs(90);

/// Lines of a failed pre-start's output that go to the event log and to the reload report.
const OUTPUT_LINES: usize = 20;

/// The pre-start's process: the service's own spec (user, group, environment, working
/// directory, limits, capabilities) with its command. Its output is collected by the loop.
pub(super) fn pre_start_spec(spec: &ServiceSpec) -> Option<Arc<ProcessSpec>> {
    let cmd = spec.pre_start.as_ref()?;
    let mut process = ProcessSpec::clone(&spec.process);
    process.cmd = cmd.clone();
    process.kind = ServiceType::Oneshot;
    process.stdout = Output::Capture;
    process.stderr = Output::Capture;
    // A check runs to completion: no readiness protocol, no watchdog.
    process.ready = crate::config::Readiness::default();
    process.watchdog = None;
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
            return self.check_spawned(id, result, out);
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
        // What it waits for may have gone down while the pre-start ran (a required service
        // crashed and is restarting): the program must not start before it is back.
        let deps_ready = matches!(
            self.dependency_verdict(&id.service),
            super::reconcile::Verdict::Go
        );
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let policy = service.spec.policy.clone();
        let spec = service.process.clone();
        // Counted from the program's own exec: starttime, or ready-timeout.
        let deadline = Supervisor::start_deadline(service, now);
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
        if status == ExitStatus::Code(0) && !deps_ready {
            // Back to PENDING: reconcile starts it again (pre-start included) once what it
            // waits for is up.
            out.push(log(
                Level::Info,
                format!("{name} pre-start (pid {pid}) succeeded, but a dependency went down meanwhile: PENDING"),
            ));
            instance.state = State::Pending;
            instance.spawned_at = None;
            instance.detail = None;
            return;
        }
        if status == ExitStatus::Code(0) {
            out.push(log(
                Level::Info,
                format!("{name} pre-start (pid {pid}) succeeded"),
            ));
            instance.spawned_at = Some(now);
            instance.detail = None;
            instance.deadline = deadline;
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
        if last.is_some() || instance.seldom.boxed_mut().is_some() {
            instance.seldom.last_stderr = last;
        }
        let who = format!("{name} (pre-start pid {pid})");
        if fail_start(instance, &who, &what, &policy, now, out) && policy.essential {
            out.push(Action::EssentialFailed { name });
        }
    }

    /// Kills a pre-start nobody waits for any more; it stays tracked until reaped.
    pub(super) fn kill_helper(&mut self, pid: i32, helper: Helper, out: &mut Actions) {
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
pub(super) fn tail_lines(output: &str) -> Vec<&str> {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(OUTPUT_LINES)..].to_vec()
}

pub(super) fn log_output(name: &str, output: &str, out: &mut Actions) {
    for line in tail_lines(output) {
        out.push(log(
            Level::Warning,
            format!("{name} pre-start said: {line}"),
        ));
    }
}
