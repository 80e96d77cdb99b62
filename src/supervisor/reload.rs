//! Applying a new config: add, remove, restart only what changed (SPEC.md, "Reload").

use super::deps::DepTable;
use super::{
    log, Action, Actions, ClientId, Goal, Instance, InstanceId, Service, State, Supervisor,
};
use crate::config::Config;
use crate::control::proto::Response;
use crate::log::Level;
use std::sync::Arc;

/// What a reload did, service by service.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    /// Applied in place: monitoring fields, dependencies, numprocs.
    pub changed: Vec<String>,
    /// Process fields changed: its running instances were restarted.
    pub restarted: Vec<String>,
    pub removed: Vec<String>,
}

impl Supervisor {
    pub(super) fn reload(&mut self, client: Option<ClientId>, config: Config, out: &mut Actions) {
        let mut summary = ReloadSummary::default();
        let mut to_start = Vec::new();
        let mut new_instances = Vec::new();

        let gone: Vec<String> = self
            .services
            .iter()
            .filter(|(name, s)| !s.removed && !config.services.contains_key(*name))
            .map(|(name, _)| name.clone())
            .collect();
        // Removed services still stop in dependency order (a removed `web` before a removed
        // `db` it requires), so their old edges stay in the table until they are gone.
        let mut ordering = config.clone();
        for (name, service) in &self.services {
            if !config.services.contains_key(name)
                && service.instances.values().any(|i| i.is_active())
            {
                ordering.services.insert(name.clone(), service.spec.clone());
            }
        }
        self.deps = DepTable::new(&ordering);
        for name in gone {
            self.stop_service(&name);
            if let Some(service) = self.services.get_mut(&name) {
                service.removed = true;
                for instance in service.instances.values_mut() {
                    instance.retiring = true;
                }
            }
            summary.removed.push(name);
        }

        for (name, spec) in config.services {
            let Some(service) = self.services.get_mut(&name) else {
                if spec.policy.autostart {
                    to_start.push(name.clone());
                }
                summary.added.push(name.clone());
                self.services.insert(name, Service::new(spec));
                continue;
            };
            if service.removed {
                // Removed by an earlier reload and still stopping: take it back as it is
                // (its pids stay tracked) and treat the new spec as a change.
                service.removed = false;
                for instance in service.instances.values_mut() {
                    instance.retiring = false;
                }
                if spec.policy.autostart {
                    to_start.push(name.clone());
                }
                summary.added.push(name.clone());
            }
            let process_changed = service.spec.process != spec.process;
            let in_place_changed = service.spec.policy != spec.policy
                || service.spec.deps != spec.deps
                || service.spec.numprocs != spec.numprocs;
            let old_numprocs = service.spec.numprocs;
            let new_numprocs = spec.numprocs;
            let any_up = service.instances.values().any(|i| i.goal == Goal::Up);
            service.process = Arc::new(spec.process.clone());
            service.spec = spec;
            // numprocs: add or retire instances at the end, leave the others alone.
            // An instance still retiring from an earlier shrink (or removal) is taken back as
            // it is: its pid stays tracked, and it comes back up once stopped.
            for index in 0..new_numprocs {
                service
                    .instances
                    .entry(index)
                    .and_modify(|i| i.retiring = false)
                    .or_insert_with(Instance::new);
            }
            for index in new_numprocs..old_numprocs {
                if let Some(instance) = service.instances.get_mut(&index) {
                    instance.retiring = true;
                }
            }
            if any_up || service.spec.policy.autostart {
                // Only the new ones: a sibling the user stopped (or that is FATAL) stays so.
                new_instances.extend((old_numprocs..new_numprocs).map(|index| InstanceId {
                    service: name.clone(),
                    index,
                }));
            }
            for index in new_numprocs..old_numprocs {
                self.stop_instance(&InstanceId {
                    service: name.clone(),
                    index,
                });
            }
            if process_changed && !summary.added.contains(&name) {
                summary.restarted.push(name.clone());
            } else if in_place_changed {
                summary.changed.push(name.clone());
            }
        }

        // Restart what runs with an outdated process spec: its goal stays Up, so it
        // comes back with the new spec as soon as it has stopped. What is going down
        // (stopped by a user, shutdown) or already restarting is left as it is.
        for name in &summary.restarted {
            let ids: Vec<InstanceId> = self.services[name]
                .instances
                .iter()
                .filter(|(_, i)| {
                    !i.retiring && i.is_active() && i.goal == Goal::Up && i.state != State::Stopping
                })
                .map(|(index, _)| InstanceId {
                    service: name.clone(),
                    index: *index,
                })
                .collect();
            for id in ids {
                self.mark_restart(&id);
            }
        }
        for name in to_start {
            self.start_service(&name, out);
        }
        for id in new_instances {
            self.start_instance(&id, out);
        }

        out.push(log(Level::Info, format!("reload: {}", describe(&summary))));
        if let Some(client) = client {
            out.push(Action::Reply {
                client,
                response: Response::Reload {
                    added: summary.added,
                    changed: summary.changed,
                    restarted: summary.restarted,
                    removed: summary.removed,
                },
            });
        }
    }
}

fn describe(summary: &ReloadSummary) -> String {
    let parts: Vec<String> = [
        ("added", &summary.added),
        ("changed", &summary.changed),
        ("restarted", &summary.restarted),
        ("removed", &summary.removed),
    ]
    .iter()
    .filter(|(_, names)| !names.is_empty())
    .map(|(what, names)| format!("{what} {}", names.join(", ")))
    .collect();
    if parts.is_empty() {
        "no changes".to_string()
    } else {
        parts.join("; ")
    }
}
