//! State changes as events: after each event the core has handled, every instance whose
//! state differs from the one last reported yields a [`StateEvent`] (and an exit of a main
//! process yields `exit`). Each goes out as [`Action::Publish`] (for `tmctl events`) and
//! to the `on-event` hooks that asked for it.
//!
//! A state passed through within one step (PENDING on the way to STARTING when nothing
//! holds it back) is not reported: events report where an instance rests.

use super::hooks::{HookKey, HookStep, StateEvent};
use super::state::{ExitStatus, State};
use super::Level;
use super::{log, Action, Actions, InstanceId, Supervisor};
use crate::config::ProcessSpec;
use std::sync::Arc;
use std::time::Instant;

/// The longest hook output kept in the event log, in lines.
const HOOK_OUTPUT_LINES: usize = 20;

/// An exit seen before the core handled it: the instance, its pid, how it ended and the
/// state it was in.
pub(super) struct SeenExit {
    pub id: InstanceId,
    pub pid: i32,
    pub status: ExitStatus,
    pub state: State,
}

impl Supervisor {
    /// Before an `Exited` event is handled: whose main process it is.
    pub(super) fn seen_exit(&self, pid: i32, status: ExitStatus) -> Option<SeenExit> {
        let id = self.pids.get(&pid)?.clone();
        let instance = self.instance(&id)?;
        if instance.pid != Some(pid) {
            return None;
        }
        Some(SeenExit {
            id,
            pid,
            status,
            state: instance.state,
        })
    }

    /// Publishes every state change since the last call, and runs the hooks they trigger.
    pub(super) fn publish_transitions(
        &mut self,
        exit: Option<SeenExit>,
        now: Instant,
        out: &mut Actions,
    ) {
        let mut events = Vec::new();
        if let Some(exit) = exit {
            events.push(StateEvent {
                event: "exit".into(),
                name: self.instance_name(&exit.id),
                service: exit.id.service.clone(),
                index: exit.id.index,
                pid: Some(exit.pid),
                exit: Some(exit.status),
                prev_state: exit.state,
            });
        }
        for service in self.services.values_mut() {
            let single = service.spec.numprocs == 1;
            for (index, instance) in service.instances.iter_mut() {
                if instance.state == instance.reported {
                    continue;
                }
                let prev = std::mem::replace(&mut instance.reported, instance.state);
                let exit = match instance.state {
                    State::Exited | State::Backoff | State::Fatal | State::Stopped => {
                        instance.last_exit
                    }
                    _ => None,
                };
                let name = if single && *index == 0 {
                    service.spec.name.clone()
                } else {
                    format!("{}:{}", service.spec.name, index)
                };
                events.push(StateEvent {
                    event: instance.state.word().to_string(),
                    name,
                    service: service.spec.name.clone(),
                    index: *index,
                    pid: instance.pid,
                    exit,
                    prev_state: prev,
                });
            }
        }
        self.note_timeline(&events, now);
        for event in events {
            self.trigger_hooks(&event, now, out);
            out.push(Action::Publish(event));
        }
    }

    fn trigger_hooks(&mut self, event: &StateEvent, now: Instant, out: &mut Actions) {
        if self.shutting_down {
            return;
        }
        let Some(service) = self.services.get(&event.service) else {
            return;
        };
        let wanted: Vec<usize> = service
            .spec
            .triggers
            .hooks
            .iter()
            .enumerate()
            .filter(|(_, hook)| hook.events.contains(&event.event))
            .map(|(n, _)| n)
            .collect();
        for hook in wanted {
            let key = HookKey {
                service: event.service.clone(),
                hook,
                index: event.index,
            };
            if let Some(step) = self.hooks.offer(key, event.clone(), now) {
                self.hook_step(step, out);
            }
        }
    }

    /// Turns what the hooks want into actions.
    pub(super) fn hook_step(&mut self, step: HookStep, out: &mut Actions) {
        match step {
            HookStep::Launch {
                key,
                event,
                coalesced,
            } => {
                let hook = self
                    .services
                    .get(&key.service)
                    .and_then(|s| Some((s, s.spec.triggers.hooks.get(key.hook)?)));
                let Some((service, hook)) = hook else {
                    // Removed by a reload since: nothing to run, the place is free again.
                    for step in self.hooks.spawned(&key, None, Instant::now()) {
                        self.hook_step(step, out);
                    }
                    return;
                };
                let mut spec: ProcessSpec = ProcessSpec::clone(&service.spec.process);
                spec.cmd = hook.cmd.clone();
                spec.env.extend(event.environment());
                spec.ready = crate::config::Readiness::Started;
                spec.console = false;
                let folded = if coalesced > 0 {
                    format!(" ({coalesced} earlier event(s) folded into this run)")
                } else {
                    String::new()
                };
                out.push(log(
                    Level::Info,
                    format!(
                        "{}: starting for {} of {}{folded}",
                        key.job_name(),
                        event.event,
                        event.name
                    ),
                ));
                out.push(Action::RunHook {
                    id: InstanceId {
                        service: key.service.clone(),
                        index: key.index,
                    },
                    name: event.name.clone(),
                    key,
                    spec: Arc::new(spec),
                });
            }
            HookStep::Signal { pid, signal, key } => {
                out.push(log(
                    Level::Warning,
                    format!(
                        "{} (pid {pid}) still running after {} s: SIG{}",
                        key.job_name(),
                        super::hooks::HOOK_TIMEOUT.as_secs(),
                        crate::signals::name(signal)
                    ),
                ));
                out.push(Action::Signal {
                    pid,
                    signal,
                    group: true,
                });
            }
        }
    }

    /// The result of an [`Action::RunHook`].
    pub(super) fn on_hook_spawned(
        &mut self,
        key: HookKey,
        result: Result<i32, super::SpawnFailure>,
        now: Instant,
        out: &mut Actions,
    ) {
        let pid = match result {
            Ok(pid) => {
                out.push(log(
                    Level::Info,
                    format!("{} spawned with pid {pid}", key.job_name()),
                ));
                Some(pid)
            }
            Err(failure) => {
                out.push(log(
                    Level::Error,
                    format!("{} could not start: {}", key.job_name(), failure.reason),
                ));
                None
            }
        };
        for step in self.hooks.spawned(&key, pid, now) {
            self.hook_step(step, out);
        }
    }

    /// A hook's process was reaped: its output goes to the event log.
    pub(super) fn on_hook_exit(
        &mut self,
        pid: i32,
        status: ExitStatus,
        output: &str,
        now: Instant,
        out: &mut Actions,
    ) {
        let Some((key, event, next)) = self.hooks.exited(pid, now) else {
            return;
        };
        let level = if status == ExitStatus::Code(0) {
            Level::Info
        } else {
            Level::Warning
        };
        out.push(log(
            level,
            format!("{} ({event}) pid {pid} ended: {status}", key.job_name()),
        ));
        let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        for line in lines.iter().take(HOOK_OUTPUT_LINES) {
            out.push(log(level, format!("{}: {line}", key.job_name())));
        }
        if lines.len() > HOOK_OUTPUT_LINES {
            out.push(log(
                level,
                format!(
                    "{}: ({} more line(s) not logged)",
                    key.job_name(),
                    lines.len() - HOOK_OUTPUT_LINES
                ),
            ));
        }
        for step in next {
            self.hook_step(step, out);
        }
    }

    /// Events not yet run for hooks a reload removed are dropped.
    pub(super) fn forget_removed_hooks(&mut self) {
        let services = &self.services;
        self.hooks.retain(|key| {
            services
                .get(&key.service)
                .is_some_and(|s| !s.removed && key.hook < s.spec.triggers.hooks.len())
        });
    }
}
