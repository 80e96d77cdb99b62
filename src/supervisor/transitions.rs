//! State changes as events: after each event the core has handled, every instance whose
//! state differs from the one last reported yields a [`StateEvent`] (and an exit of a main
//! process yields `exit`). Each goes out as [`Action::Publish`] (for `tmctl events`) and
//! to the `on-event` hooks that asked for it.
//!
//! A state passed through within one step (PENDING on the way to STARTING when nothing
//! holds it back) is not reported: events report where an instance rests.

use super::hooks::StateEvent;
use super::services::Touched;
use super::state::{ExitStatus, State};
use super::{Action, Actions, InstanceId, Supervisor};
use std::time::Instant;

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
        let id = self.pids.get(&pid)?;
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

    /// Publishes every state change since the last call (after the exits of main processes
    /// handled since), and runs the hooks they trigger.
    pub(super) fn publish_transitions(
        &mut self,
        exits: Vec<SeenExit>,
        now: Instant,
        out: &mut Actions,
    ) {
        // The exits first, in the order they were reaped, then where each instance rests.
        let mut events = Vec::new();
        for exit in exits {
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
        // Only services changed since the last call can have an instance whose state moved.
        let names: Vec<String> = match self.services.unpublished.take() {
            Touched::All => self.services.keys().cloned().collect(),
            Touched::Some(names) => names,
        };
        for name in names {
            let Some(service) = self.services.get(&name) else {
                continue;
            };
            if service.instances.values().all(|i| i.state == i.reported) {
                continue;
            }
            let single = service.spec.numprocs == 1;
            let Some(service) = self.services.get_quiet(&name) else {
                continue;
            };
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
