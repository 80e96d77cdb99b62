//! `tmctl why NAME`: why an instance is in its state, as a causal chain. The first step
//! is the instance asked about; when it waits for (or is held back by) a dependency, the
//! next step explains that dependency, and so on down to the root cause: an exec errno,
//! the exit and attempts of the last starts, a readiness that never came, a restart
//! limit, a timer. Decided here, from the core's own state; tmctl only prints it.

use super::deps::DepKind;
use super::reconcile::{health_of, Health};
use super::*;
use crate::config::{Readiness, RestartPolicy};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// One link of the chain: `NAME is STATE: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhyStep {
    pub name: String,
    pub state: State,
    pub reason: String,
}

/// How far a chain follows dependencies (a config has no cycles, but a long chain is
/// still cut: the answer stays one screen).
const MAX_STEPS: usize = 32;

impl Supervisor {
    /// The causal chain for every instance `name` resolves to (`web` with two instances
    /// explains both). An unknown name is an error, as in `status`.
    pub fn why(&self, name: &str, now: Instant) -> Result<Vec<WhyStep>, String> {
        let ids = self.resolve(&[name.to_string()])?;
        let mut steps = Vec::new();
        let mut seen = HashSet::new();
        for id in ids {
            self.explain(&id, now, &mut seen, &mut steps);
        }
        Ok(steps)
    }

    /// Adds the step for `id`, then the steps of the dependency it waits for.
    fn explain(
        &self,
        id: &InstanceId,
        now: Instant,
        seen: &mut HashSet<InstanceId>,
        steps: &mut Vec<WhyStep>,
    ) {
        if steps.len() >= MAX_STEPS || !seen.insert(id.clone()) {
            return;
        }
        let (Some(service), Some(instance)) = (self.services.get(&id.service), self.instance(id))
        else {
            return;
        };
        let (mut reason, cause) = self.reason(service, instance, now);
        if let Some(oom) = &instance.seldom.oom {
            reason = format!("{oom}; {reason}");
        }
        steps.push(WhyStep {
            name: self.instance_name(id),
            state: instance.state,
            reason,
        });
        if let Some(dep) = cause {
            if let Some(next) = self.worst_instance(&dep) {
                self.explain(&next, now, seen, steps);
            }
        }
    }

    /// The sentence for one instance, and the dependency whose state is the cause, if any.
    fn reason(&self, service: &Service, i: &Instance, now: Instant) -> (String, Option<String>) {
        let spec = &service.spec;
        let attempts = |i: &Instance| match spec.policy.startretries {
            0 => String::new(),
            retries => format!(" (attempt {} of {})", i.failed_starts, retries + 1),
        };
        let stderr = |i: &Instance| match &i.seldom.last_stderr {
            Some(line) => format!("; its last stderr line: {line}"),
            None => String::new(),
        };
        match i.state {
            State::Running => {
                let mut text = "it is up".to_string();
                if let Some(pid) = i.pid {
                    text.push_str(&format!(" (pid {pid}"));
                    if let Some(at) = i.spawned_at {
                        text.push_str(&format!(", up {}", span(now.saturating_duration_since(at))));
                    }
                    text.push(')');
                }
                if let Some(status) = &i.seldom.notify_status {
                    text.push_str(&format!("; it says: {status}"));
                }
                (text, None)
            }
            State::Pending => self.why_pending(service, i, now),
            State::Starting => (why_starting(service, i, now), None),
            State::Backoff => {
                let what = i
                    .detail
                    .clone()
                    .unwrap_or_else(|| "its start failed".into());
                let when = match i.deadline {
                    Some(at) => format!(
                        "next attempt in {}",
                        span(at.saturating_duration_since(now))
                    ),
                    None => "next attempt now".to_string(),
                };
                (format!("{what}{}; {when}{}", attempts(i), stderr(i)), None)
            }
            State::Stopping => {
                let text = match (&i.detail, i.deadline) {
                    (Some(detail), _) => detail.clone(),
                    (None, Some(at)) => format!(
                        "stop signal sent; SIGKILL in {} (stoptime)",
                        span(at.saturating_duration_since(now))
                    ),
                    (None, None) => "SIGKILL sent; waiting for it to end".to_string(),
                };
                (text, None)
            }
            State::Exited => {
                let mut text = why_exited(service, i);
                if let Some(next) = self.next_run_text(&service.spec.name) {
                    text.push_str(&format!("; next run on its schedule: {next}"));
                }
                (text, None)
            }
            State::Fatal => {
                let what = i.detail.clone().unwrap_or_else(|| "it failed".into());
                let last = match i.last_exit {
                    Some(exit) if !what.contains(&exit.to_string()) => {
                        format!("; last exit: {exit}")
                    }
                    _ => String::new(),
                };
                let hint = format!("; `tmctl start {}` tries again", spec.name);
                (format!("{what}{last}{}{hint}", stderr(i)), None)
            }
            State::Paused => {
                let from = i.paused_from.map(|s| s.word()).unwrap_or("RUNNING");
                (
                    format!("stopped with SIGSTOP while {from}; `tmctl resume` continues it"),
                    None,
                )
            }
            State::Stopped => self.why_stopped(service, i),
        }
    }

    fn why_pending(
        &self,
        service: &Service,
        i: &Instance,
        now: Instant,
    ) -> (String, Option<String>) {
        if let Some(at) = i.deadline {
            // A timer: a restart's growing delay, or a start asked for later.
            let when = span(at.saturating_duration_since(now));
            let text = match &i.detail {
                Some(detail) if detail.starts_with("restart in") => {
                    let exit = i
                        .last_exit
                        .map(|e| format!(" with {e}"))
                        .unwrap_or_default();
                    format!(
                        "it crashed{exit} soon after it was up ({} time(s) in a row); restart in {when}",
                        i.crash_streak
                    )
                }
                Some(detail) => format!("{detail}; starts in {when}"),
                None => format!("starts in {when}"),
            };
            return (text, None);
        }
        if let Some((dep, kind)) = self.waited_dependency(&service.spec.name) {
            let how = match kind {
                DepKind::Requires => "it requires",
                DepKind::Wants => "it wants",
                DepKind::After => "it starts after",
            };
            let condition = match self.services.get(&dep).map(health_of) {
                Some(Health::Failed) => "which failed",
                Some(Health::HeldBack) => "which is held back",
                Some(Health::Idle) => "which is not running and nobody asked it to",
                _ => "which is not up yet",
            };
            return (format!("{how} {dep}, {condition}"), Some(dep));
        }
        let text = i
            .detail
            .clone()
            .unwrap_or_else(|| "about to be started".to_string());
        (text, None)
    }

    fn why_stopped(&self, service: &Service, i: &Instance) -> (String, Option<String>) {
        if let Some(dep) = self.stopped_requirement(&service.spec.name) {
            if i.last_exit.is_some() {
                return (
                    format!("it requires {dep}, which was stopped, so it was stopped first"),
                    Some(dep),
                );
            }
        }
        if self.shutting_down {
            return ("taskmasterd is shutting down".to_string(), None);
        }
        let scheduled = service.spec.policy.schedule.as_ref().and_then(|schedule| {
            let next = self.next_run_text(&service.spec.name)?;
            Some(format!(
                "it runs on its schedule {:?}: {next}",
                schedule.text()
            ))
        });
        let text = match (i.last_exit, &i.detail) {
            (_, Some(detail)) => format!("stopped: {detail}"),
            (None, None) if scheduled.is_some() => scheduled.unwrap_or_default(),
            (Some(exit), None) => {
                format!("stopped by request (tmctl stop or a reload); last exit: {exit}")
            }
            (None, None) if self.rescue && service.spec.policy.autostart && !service.spec.policy.rescue => {
                "rescue mode: only services marked rescue #true start at boot (leave the rescue shell to start the rest)".to_string()
            }
            (None, None) if !service.spec.policy.autostart => {
                "autostart is #false and nobody started it".to_string()
            }
            (None, None) => "stopped by request before it ran".to_string(),
        };
        (text, None)
    }

    /// The first dependency `service` waits for that is not up (the order `reconcile`
    /// checks them in): what a PENDING instance is waiting on.
    fn waited_dependency(&self, service: &str) -> Option<(String, DepKind)> {
        self.deps
            .waits_for(service)
            .iter()
            .find(|(dep, kind)| {
                let Some(health) = self.services.get(dep).map(health_of) else {
                    return false;
                };
                match kind {
                    DepKind::Requires => health != Health::Up,
                    DepKind::Wants | DepKind::After => health == Health::Starting,
                }
            })
            .map(|(dep, kind)| (dep.clone(), *kind))
    }

    /// A required dependency nobody asked to run (it was stopped).
    fn stopped_requirement(&self, service: &str) -> Option<String> {
        self.deps.waits_for(service).iter().find_map(|(dep, kind)| {
            let idle = *kind == DepKind::Requires
                && self
                    .services
                    .get(dep)
                    .is_some_and(|s| health_of(s) == Health::Idle);
            idle.then(|| dep.clone())
        })
    }

    /// The instance of `service` that best explains why it is not up: a FATAL one first,
    /// then one that is held back, then any that is not up.
    fn worst_instance(&self, service: &str) -> Option<InstanceId> {
        let s = self.services.get(service)?;
        let rank = |i: &Instance| match i.state {
            State::Fatal => 0,
            _ if i.blocked => 1,
            State::Running => 9,
            State::Exited if s.is_oneshot() => 9,
            _ => 2,
        };
        let (index, _) = s
            .instances
            .iter()
            .filter(|(_, i)| !i.retiring)
            .min_by_key(|(_, i)| rank(i))?;
        Some(InstanceId {
            service: service.to_string(),
            index: *index,
        })
    }
}

fn why_starting(service: &Service, i: &Instance, now: Instant) -> String {
    let left = |what: &str| match i.deadline {
        Some(at) => format!("; {what} in {}", span(at.saturating_duration_since(now))),
        None => String::new(),
    };
    if i.in_pre_start {
        let pid = i
            .pre_start_pid
            .map(|p| format!(" (pid {p})"))
            .unwrap_or_default();
        return format!("its pre-start{pid} is running{}", left("killed"));
    }
    let retry = match i.failed_starts {
        0 => String::new(),
        n => format!(
            " (attempt {} of {})",
            n + 1,
            service.spec.policy.startretries + 1
        ),
    };
    let waiting = match service.spec.process.ready {
        Readiness::Notify => format!(
            "waiting for READY=1 on its notify socket{}",
            left("a failed start (ready-timeout)")
        ),
        Readiness::Fd(fd) => format!(
            "waiting for a newline on its fd {fd}{}",
            left("a failed start (ready-timeout)")
        ),
        Readiness::Started if service.is_oneshot() => "a oneshot, still running".to_string(),
        Readiness::Started => format!(
            "it must stay up for starttime {}{}",
            span(service.spec.policy.starttime),
            left("RUNNING")
        ),
    };
    format!("{waiting}{retry}")
}

fn why_exited(service: &Service, i: &Instance) -> String {
    let exit = i
        .last_exit
        .map(|e| e.to_string())
        .unwrap_or_else(|| "an unknown status".to_string());
    if service.is_oneshot() {
        return format!("a oneshot that finished with {exit} (success)");
    }
    let expected = i
        .last_exit
        .is_some_and(|e| policy::is_expected(&service.spec.policy, e));
    let policy = match service.spec.policy.autorestart {
        RestartPolicy::Never => "autorestart is \"never\"",
        RestartPolicy::Unexpected if expected => {
            "the exit was expected (exitcodes) and autorestart is \"unexpected\""
        }
        RestartPolicy::Unexpected => "autorestart is \"unexpected\"",
        RestartPolicy::Always => "autorestart is \"always\"",
    };
    format!("it exited with {exit}; not restarted: {policy}")
}

/// A duration as people read it: `850ms`, `4.2s`, `3m 10s`, `2h 5m`.
pub fn span(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{}h {}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{}m {}s", secs / 60, secs % 60)
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
