//! Applying a new config: add, remove, restart only what changed (SPEC.md, "Reload"), and
//! tell what actually happened once it has settled ("Reload that tells the truth").

use super::deps::DepTable;
use super::waiters::{Entry, What};
use super::Level;
use super::{
    log, Actions, ClientId, Goal, InstanceId, Service, ServiceSpec, State, Supervisor, Vetted,
};
use crate::config::Config;
use std::sync::Arc;
use std::time::Instant;

/// What a reload set out to do, service by service, for the event log.
#[derive(Debug, Default, PartialEq, Eq)]
struct ReloadPlan {
    added: Vec<String>,
    /// Applied in place: monitoring fields, dependencies, numprocs.
    changed: Vec<String>,
    /// Process fields changed: restarted (or given a fresh start), or just changed if idle.
    restarting: Vec<String>,
    /// Running, with a `pre-start` that must pass before they are restarted.
    checking: Vec<String>,
    removed: Vec<String>,
}

/// How a spec change touches a service.
pub(super) enum Change {
    None,
    InPlace,
    Process,
}

impl Supervisor {
    pub(super) fn reload(
        &mut self,
        client: Option<ClientId>,
        config: Config,
        now: Instant,
        out: &mut Actions,
    ) {
        // A check still running vets a config that is no longer the latest.
        let checking: Vec<String> = self
            .services
            .iter()
            .filter(|(_, s)| s.candidate.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        for name in checking {
            self.cancel_check(&name, "superseded by a later reload", out);
        }
        let mut plan = ReloadPlan::default();
        let mut entries = Vec::new();
        // Their names are made now, before the spawns the reload brings (see pids.rs).
        self.pids.know(config.services.keys().map(String::as_str));

        let gone: Vec<String> = self
            .services
            .iter()
            .filter(|(name, s)| {
                !s.removed && s.job.is_none() && !config.services.contains_key(*name)
            })
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
            let ids = self.instance_ids(&name);
            entries.extend(self.entries(ids, || What::Stop(Some("removed"))));
            self.stop_service(&name);
            if let Some(service) = self.services.get_mut(&name) {
                service.removed = true;
                self.retiring = true;
                for instance in service.instances.values_mut() {
                    instance.retiring = true;
                }
            }
            plan.removed.push(name);
        }

        for (name, spec) in config.services {
            if self.services.get(&name).is_some_and(|s| s.job.is_some()) {
                // A job holds the name: the file's service waits until it is removed.
                out.push(log(
                    Level::Error,
                    format!(
                        "reload: service {name} from {} not loaded: a job has that name (tmctl remove {name})",
                        spec.origin
                    ),
                ));
                continue;
            }
            let Some(service) = self.services.get_mut(&name) else {
                let autostart = self.starts_by_itself(&spec);
                self.services.insert(name.clone(), Service::new(spec));
                if autostart {
                    self.start_service(&name, out);
                }
                let ids = self.instance_ids(&name);
                entries.extend(self.entries(ids, || What::Added));
                plan.added.push(name);
                continue;
            };
            if service.removed {
                // Removed by an earlier reload and still stopping: take it back as it is
                // (its pids stay tracked) and treat the new spec as a change.
                service.removed = false;
                // Only those its spec has: one a shrink retired before it was removed is
                // still on its way out (`apply_spec` takes back what the new spec wants).
                let numprocs = service.spec.numprocs;
                for (index, instance) in service.instances.iter_mut() {
                    instance.retiring = *index >= numprocs;
                }
                let autostart = self.starts_by_itself(&spec);
                let (_, mut added) = self.apply_spec(&name, spec, out);
                if autostart {
                    self.start_service(&name, out);
                }
                let ids = self.instance_ids(&name);
                added.retain(|e| !matches!(e.what, What::Said { .. }));
                entries.extend(added);
                entries.extend(self.entries(ids, || What::Added));
                plan.added.push(name);
                continue;
            }
            let runs_old_process = service.spec.process != spec.process
                && service.instances.values().any(|i| {
                    !i.retiring
                        && i.pid.is_some()
                        && i.goal == Goal::Up
                        && i.state != State::Stopping
                });
            if runs_old_process && spec.pre_start.is_some() {
                // The old process keeps running until the new config's pre-start passes.
                entries.push(Entry {
                    id: InstanceId {
                        service: name.clone(),
                        index: 0,
                    },
                    name: name.clone(),
                    what: What::Check,
                });
                self.begin_check(&name, Vetted::Reload(Box::new(spec)), now, out);
                plan.checking.push(name);
                continue;
            }
            let (change, said) = self.apply_spec(&name, spec, out);
            entries.extend(said);
            match change {
                Change::Process => plan.restarting.push(name),
                Change::InPlace => plan.changed.push(name),
                Change::None => {}
            }
        }

        out.push(log(Level::Info, format!("reload: {}", describe(&plan))));
        self.wait(client, true, entries);
    }

    /// Puts `spec` in place of a service's current one: numprocs grows or shrinks, and
    /// when the process changed, every instance meant to run is restarted (or, when FATAL,
    /// BACKOFF or EXITED, started afresh) with it. Returns what to tell the user.
    pub(super) fn apply_spec(
        &mut self,
        name: &str,
        spec: ServiceSpec,
        out: &mut Actions,
    ) -> (Change, Vec<Entry>) {
        let mut entries = Vec::new();
        let autostart = self.starts_by_itself(&spec);
        // Instances beyond a smaller numprocs are retired below: `forget_retired` looks.
        self.retiring = true;
        let Some(service) = self.services.get_mut(name) else {
            return (Change::None, entries);
        };
        let process_changed = service.spec.process != spec.process;
        let in_place_changed = service.spec.policy != spec.policy
            || service.spec.deps != spec.deps
            || service.spec.numprocs != spec.numprocs
            || service.spec.pre_start != spec.pre_start
            || service.spec.triggers != spec.triggers;
        let old_numprocs = service.spec.numprocs;
        let new_numprocs = spec.numprocs;
        let any_up = service.instances.values().any(|i| i.goal == Goal::Up);
        service.process = Arc::clone(&spec.process);
        service.spec = spec;
        // numprocs: add or retire instances at the end, leave the others alone.
        // An instance still retiring from an earlier shrink (or removal) is taken back as
        // it is: its pid stays tracked, and it comes back up once stopped.
        for index in 0..new_numprocs {
            service.instances.get_or_insert_new(index).retiring = false;
        }
        for index in new_numprocs..old_numprocs {
            if let Some(instance) = service.instances.get_mut(&index) {
                instance.retiring = true;
            }
        }
        let id = |index| InstanceId {
            service: name.to_string(),
            index,
        };
        if any_up || autostart {
            // Only the new ones: a sibling the user stopped (or that is FATAL) stays so.
            for index in old_numprocs..new_numprocs {
                self.start_instance(&id(index), out);
                entries.push(Entry {
                    name: self.instance_name(&id(index)),
                    id: id(index),
                    what: What::Added,
                });
            }
        }
        for index in new_numprocs..old_numprocs {
            let name = self.instance_name(&id(index));
            entries.push(Entry {
                name,
                id: id(index),
                what: What::Stop(Some("removed")),
            });
            self.stop_instance(&id(index));
        }
        if !process_changed {
            if in_place_changed {
                entries.push(Entry::said(
                    id(0),
                    name.to_string(),
                    "changed in place",
                    true,
                    String::new(),
                ));
                return (Change::InPlace, entries);
            }
            return (Change::None, entries);
        }
        for index in 0..new_numprocs.min(old_numprocs) {
            entries.extend(self.renew_instance(&id(index), out));
        }
        (Change::Process, entries)
    }

    /// Brings an instance onto its service's new process spec: restarted if it runs and is
    /// meant to, started afresh if it is meant to run but failed or ended, else left alone
    /// (the new spec applies at its next start).
    fn renew_instance(&mut self, id: &InstanceId, out: &mut Actions) -> Vec<Entry> {
        let name = self.instance_name(id);
        let Some(i) = self.instance(id) else {
            return Vec::new();
        };
        let (state, goal, active, wanted) = (i.state, i.goal, i.is_active(), i.wanted);
        if active && goal == Goal::Up && state != State::Stopping {
            let mut entries = vec![Entry {
                name,
                id: id.clone(),
                what: What::Restart,
            }];
            entries.extend(self.restart_with_dependents(id));
            return entries;
        }
        let failed = matches!(state, State::Fatal | State::Backoff | State::Exited)
            || (state == State::Pending && i.deadline.is_some());
        if !active && wanted && failed {
            out.push(log(
                Level::Info,
                format!("{name} is {state} and its config changed: starting it afresh"),
            ));
            if let Some(i) = self.instance_mut(id) {
                i.goal = Goal::Down;
                i.state = State::Stopped;
                i.deadline = None;
            }
            self.start_instance(id, out);
            return vec![Entry {
                name,
                id: id.clone(),
                what: What::Restart,
            }];
        }
        if state == State::Stopping && goal == Goal::Up {
            // Already on its way down to come back: it comes back with the new spec.
            return vec![Entry {
                name,
                id: id.clone(),
                what: What::Restart,
            }];
        }
        let message = format!("{state}: the new config applies at its next start");
        vec![Entry::said(id.clone(), name, "changed", true, message)]
    }

    /// Every instance of a service, retiring ones included.
    fn instance_ids(&self, name: &str) -> Vec<InstanceId> {
        self.services.get(name).map_or_else(Vec::new, |s| {
            s.instances
                .keys()
                .map(|&index| InstanceId {
                    service: name.to_string(),
                    index,
                })
                .collect()
        })
    }
}

fn describe(plan: &ReloadPlan) -> String {
    let parts: Vec<String> = [
        ("added", &plan.added),
        ("changed", &plan.changed),
        ("restarting", &plan.restarting),
        ("checking with pre-start", &plan.checking),
        ("removed", &plan.removed),
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
