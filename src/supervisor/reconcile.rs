//! Reconcile: after every event, move each instance towards its goal in dependency order.

use super::services::Touched;
use super::waiters::{Entry, What};
use super::Level;
use super::*;
use std::collections::BTreeSet;
use std::time::Instant;

impl Supervisor {
    /// Moves every instance towards its goal, respecting dependency order both ways.
    pub(super) fn reconcile(&mut self, now: Instant, out: &mut Actions) {
        // A pass that marks more instances to restart runs again, so that they move in
        // this turn too (each pass marks only instances not marked yet).
        for _ in 0..4 {
            if !self.reconcile_pass(now, out) {
                break;
            }
        }
    }

    /// One pass of [`Supervisor::reconcile`]; whether it marked a dependent to restart.
    fn reconcile_pass(&mut self, now: Instant, out: &mut Actions) -> bool {
        let mut marked_more = false;
        // Only instances with something to do are named (cloned): reconcile runs after every
        // event. What each step below does changes only its own instance (marking
        // dependents to restart aside: that runs the pass again), so an instance that has
        // nothing to do now cannot get something to do during this pass.
        let ids = self.instances_with_work();
        for id in ids {
            let Some(instance) = self.instance(&id) else {
                continue;
            };
            let (goal, state, active, timer_pending) = (
                instance.goal,
                instance.state,
                instance.is_active(),
                instance.deadline.is_some(),
            );
            let waiting_to_start = instance.is_waiting_to_start();
            let restart_pending = instance.restart_pending;
            if goal == Goal::Up && state == State::Starting && !timer_pending {
                // Started again while held to stop (its ready timer was dropped then):
                // readiness counts again, and so does its timeout.
                self.rearm_start_timer(&id, now, out);
            }
            if goal == Goal::Up && waiting_to_start && !timer_pending {
                self.try_spawn(&id, now, out);
            } else if goal == Goal::Down && active && state != State::Stopping {
                if let Some(waiting_for) = self.alive_stopping_dependent(&id.service) {
                    if let Some(instance) = self.instance_mut(&id) {
                        instance.detail = Some(format!("waiting for {waiting_for} to stop"));
                    }
                } else {
                    self.send_stop(&id, now, out);
                }
            } else if goal == Goal::Up && restart_pending && state != State::Stopping {
                // A restart stops in reverse dependency order too: what requires this one
                // first (they are restarting as well, see `mark_restart`).
                if let Some(waiting_for) = self.alive_dependent(&id.service) {
                    // One started again after the restart was asked (its goal was down
                    // then, so it was not marked) must restart too, or this one waits
                    // for it forever.
                    marked_more |= self.mark_dependents_to_restart(&id.service);
                    if let Some(instance) = self.instance_mut(&id) {
                        instance.detail =
                            Some(format!("restart: waiting for {waiting_for} to stop"));
                    }
                } else {
                    let mut rerun = false;
                    if let Some(instance) = self.instance_mut(&id) {
                        instance.restart_pending = false;
                        instance.detail = None;
                        // A oneshot that had finished: nothing to stop, it runs again.
                        if !instance.is_active() {
                            instance.state = State::Pending;
                            rerun = true;
                        }
                    }
                    if rerun {
                        self.try_spawn(&id, now, out);
                    } else {
                        self.send_stop(&id, now, out);
                    }
                }
            }
        }
        marked_more
    }

    /// Every instance [`has_work`], in name and index order. Those that changed since the
    /// last look are added to the work list first, and those with nothing to do any more
    /// dropped: every instance with work is on it, so no walk over every instance is
    /// needed (after a change that could touch any, `Touched::All`, there is one).
    fn instances_with_work(&mut self) -> Vec<InstanceId> {
        let changed = match self.services.unreconciled.take() {
            Touched::All => {
                self.work.clear();
                self.services.keys().cloned().collect()
            }
            Touched::Some(names) => names,
        };
        for name in changed {
            let Some(service) = self.services.get(&name) else {
                continue;
            };
            for (index, instance) in &service.instances {
                if has_work(instance) {
                    self.work.insert(InstanceId {
                        service: name.clone(),
                        index: *index,
                    });
                }
            }
        }
        let services = &self.services;
        self.work.retain(|id| {
            services
                .get(&id.service)
                .and_then(|s| s.instances.get(&id.index))
                .is_some_and(has_work)
        });
        self.work.iter().cloned().collect()
    }

    /// Asks for a restart of a running instance and of everything that requires it, down
    /// the chain; `reconcile` stops them from the top and they come back in order.
    /// Each instance it marks is added to `marked`, in dependency order.
    pub(super) fn mark_restart(&mut self, id: &InstanceId, marked: &mut Vec<InstanceId>) {
        let Some(instance) = self.instance_mut(id) else {
            return;
        };
        let done_oneshot = instance.state == State::Exited
            && self
                .services
                .get(&id.service)
                .is_some_and(|s| s.is_oneshot());
        let Some(instance) = self.instance_mut(id) else {
            return;
        };
        if instance.restart_pending
            || !(instance.is_active() || done_oneshot)
            || instance.state == State::Stopping
        {
            return;
        }
        instance.goal = Goal::Up;
        instance.restart_pending = true;
        marked.push(id.clone());
        let dependents: Vec<InstanceId> = self
            .deps
            .required_by(&id.service)
            .iter()
            .filter_map(|name| self.services.get(name))
            .flat_map(|s| {
                s.instances
                    .iter()
                    .filter(|(_, i)| i.goal == Goal::Up)
                    .map(|(index, _)| InstanceId {
                        service: s.spec.name.clone(),
                        index: *index,
                    })
            })
            .collect();
        for dependent in dependents {
            self.mark_restart(&dependent, marked);
        }
    }

    /// [`Supervisor::mark_restart`], and what to tell the user: the instance restarts, and
    /// so does every instance that requires it, down the chain (they are named, so that
    /// a dependent that does not come back is reported).
    pub(super) fn restart_with_dependents(&mut self, id: &InstanceId) -> Vec<Entry> {
        let mut marked = Vec::new();
        self.mark_restart(id, &mut marked);
        marked
            .into_iter()
            .filter(|other| other != id)
            .map(|dependent| Entry {
                name: self.instance_name(&dependent),
                id: dependent,
                what: What::With(id.service.clone()),
            })
            .collect()
    }

    /// Gives a STARTING process its start timer again, if it has none: one started again
    /// while it was held to stop (its ready timer was dropped then), or whose service
    /// became a long-running one meanwhile (a reload while it was going down). Without it
    /// nothing would ever make it RUNNING or end its start.
    fn rearm_start_timer(&mut self, id: &InstanceId, now: Instant, out: &mut Actions) {
        let name = self.instance_name(id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let oneshot = service.is_oneshot();
        let reported = service.spec.process.ready.is_reported();
        let policy = &service.spec.policy;
        let (timeout, starttime) = (policy.ready_timeout, policy.starttime);
        let Some(i) = service.instances.get_mut(&id.index) else {
            return;
        };
        if oneshot || i.pid.is_none() || i.in_pre_start || i.deadline.is_some() {
            return; // a oneshot's start ends with its exit
        }
        if reported {
            i.deadline = Some(now + timeout);
        } else if starttime.is_zero() {
            super::events::become_running(i, &name, now, out);
        } else {
            let since = i.spawned_at.unwrap_or(now);
            i.deadline = Some((since + starttime).max(now));
        }
    }

    /// Marks to restart every instance that requires `service`, is meant to run and is not
    /// on its way down yet. Whether it marked any.
    fn mark_dependents_to_restart(&mut self, service: &str) -> bool {
        let dependents: Vec<InstanceId> = self
            .deps
            .required_by(service)
            .iter()
            .filter_map(|name| self.services.get(name))
            .flat_map(|s| {
                s.instances
                    .iter()
                    .filter(|(_, i)| {
                        i.goal == Goal::Up
                            && i.is_active()
                            && !i.restart_pending
                            && i.state != State::Stopping
                    })
                    .map(|(index, _)| InstanceId {
                        service: s.spec.name.clone(),
                        index: *index,
                    })
            })
            .collect();
        let mut marked = Vec::new();
        for dependent in dependents {
            self.mark_restart(&dependent, &mut marked);
        }
        !marked.is_empty()
    }

    /// A service that requires `service` and still has a process.
    pub(super) fn alive_dependent(&self, service: &str) -> Option<String> {
        self.deps.required_by(service).iter().find_map(|dependent| {
            let s = self.services.get(dependent)?;
            s.instances
                .values()
                .any(|i| i.is_active())
                .then(|| dependent.clone())
        })
    }

    /// A service that waits for `service`, is going down, and still has a process: stopping
    /// `service` must wait for it (reverse dependency order). The order holds through a
    /// dependent that has no process (a finished oneshot, say `devlog` between journald and
    /// sshd): what waits for that one is looked at in turn, or journald would stop before
    /// the daemons that log to it.
    pub(super) fn alive_stopping_dependent(&self, service: &str) -> Option<String> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut todo: Vec<&str> = vec![service];
        while let Some(name) = todo.pop() {
            for dependent in self.deps.waited_by(name) {
                if !seen.insert(dependent) {
                    continue;
                }
                let Some(s) = self.services.get(dependent) else {
                    continue;
                };
                if s.instances
                    .values()
                    .any(|i| i.goal == Goal::Down && i.is_active())
                {
                    return Some(dependent.clone());
                }
                if !s.instances.values().any(|i| i.is_active()) {
                    todo.push(dependent);
                }
            }
        }
        None
    }

    pub(super) fn try_spawn(&mut self, id: &InstanceId, now: Instant, out: &mut Actions) {
        let verdict = self.dependency_verdict(&id.service);
        let name = self.instance_name(id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let pre_start = super::prestart::pre_start_spec(&service.spec);
        let deadline = Supervisor::start_deadline(service, now);
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        let spec = instance
            .process
            .clone()
            .unwrap_or_else(|| service.process.clone());
        // No process: a restart still pending (of a finished oneshot started again
        // meanwhile) is this start.
        instance.restart_pending = false;
        match verdict {
            Verdict::Go => {
                instance.state = State::Starting;
                instance.blocked = false;
                instance.detail = None;
                instance.spawned_at = Some(now);
                instance.running_since = None;
                if let Some(pre_start) = pre_start {
                    // The program starts once its pre-start has succeeded (`on_helper_exit`).
                    instance.in_pre_start = true;
                    instance.pre_start_pid = None;
                    instance.deadline = Some(now + super::prestart::PRE_START_TIMEOUT);
                    out.push(Action::Spawn {
                        id: id.clone(),
                        name,
                        spec: pre_start,
                        purpose: Purpose::PreStart,
                    });
                } else {
                    instance.deadline = deadline;
                    out.push(Action::Spawn {
                        id: id.clone(),
                        name,
                        spec,
                        purpose: Purpose::Main,
                    });
                }
            }
            Verdict::Wait(reason) => {
                instance.state = State::Pending;
                instance.blocked = false;
                instance.detail = Some(reason);
            }
            Verdict::Blocked(reason) => {
                if !instance.blocked {
                    out.push(log(
                        Level::Warning,
                        format!("{name} held back: {reason}: PENDING"),
                    ));
                }
                instance.state = State::Pending;
                instance.blocked = true;
                instance.detail = Some(reason);
            }
        }
    }

    /// Whether a service may start now, given the state of what it waits for.
    pub(super) fn dependency_verdict(&self, service: &str) -> Verdict {
        for (dep, kind) in self.deps.waits_for(service) {
            let Some(dep_service) = self.services.get(dep) else {
                continue;
            };
            let health = self.health(dep_service);
            match (kind, health) {
                (_, Health::Up) => {}
                (DepKind::Requires, Health::Failed) => {
                    return Verdict::Blocked(format!("dependency {dep} is FATAL"));
                }
                (DepKind::Requires, Health::HeldBack) => {
                    return Verdict::Blocked(format!("dependency {dep} is held back"));
                }
                (DepKind::Requires, Health::Idle) => {
                    return Verdict::Wait(format!("waiting for {dep}, which is not running"));
                }
                (DepKind::Requires, _) => return Verdict::Wait(format!("waiting for {dep}")),
                (_, Health::Starting) => return Verdict::Wait(format!("waiting for {dep}")),
                (
                    DepKind::Wants | DepKind::After,
                    Health::Failed | Health::HeldBack | Health::Idle,
                ) => {}
            }
        }
        Verdict::Go
    }

    /// A required dependency that is not running and not asked to (it exited for good, or
    /// was stopped), or that waits itself for such a one, down the chain: waiting for it
    /// would be waiting forever.
    pub(super) fn idle_requirement(&self, service: &str) -> Option<&str> {
        self.deps.waits_for(service).iter().find_map(|(dep, kind)| {
            let idle = *kind == DepKind::Requires
                && self
                    .services
                    .get(dep)
                    .is_some_and(|s| self.health(s) == Health::Idle);
            idle.then_some(dep.as_str())
        })
    }

    /// [`health_of`], where a service that is on its way up only in name (every instance
    /// not up is PENDING on an idle requirement of its own) counts as idle: it will not
    /// come up by itself, so waiting for it would be waiting forever.
    pub(super) fn health(&self, service: &Service) -> Health {
        let health = health_of(service);
        if health != Health::Starting {
            return health;
        }
        let stuck = service
            .instances
            .values()
            .filter(|i| !i.retiring && !is_up(service, i))
            .all(|i| {
                let idle = i.goal == Goal::Down && !i.is_active();
                let waiting = i.state == State::Pending && i.deadline.is_none() && !i.blocked;
                idle || waiting
            })
            && self.idle_requirement(&service.spec.name).is_some();
        if stuck {
            Health::Idle
        } else {
            Health::Starting
        }
    }

    /// Forgets instances and services that a reload removed, once they have stopped.
    pub(super) fn forget_retired(&mut self) {
        // This runs after every event: it looks only while a reload (or `tmctl remove`) has
        // left something to go, and the maps are only rebuilt when something goes.
        if !self.retiring {
            return;
        }
        let (mut removed, mut left) = (false, false);
        let mut done = Vec::new();
        for (name, service) in self.services.iter() {
            removed |= service.removed;
            // What is still retiring after the instances that stopped are forgotten below.
            left |= service.removed
                || service
                    .instances
                    .values()
                    .any(|i| i.retiring && i.is_active());
            if service
                .instances
                .values()
                .any(|i| i.retiring && !i.is_active())
            {
                done.push(name.clone());
            }
        }
        for name in done {
            if let Some(service) = self.services.get_mut(&name) {
                service
                    .instances
                    .retain(|_, i| !i.retiring || i.is_active());
            }
        }
        if removed {
            self.services
                .retain(|_, s| !(s.removed && s.instances.is_empty()));
        }
        self.retiring = left;
    }
}

pub(super) enum Verdict {
    Go,
    Wait(String),
    Blocked(String),
}

/// A dependency's condition, summed over its instances.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Health {
    /// Every instance RUNNING (a oneshot: exited successfully).
    Up,
    /// An instance is FATAL (a oneshot failed): hard dependents are held back.
    Failed,
    /// Held back by a failed dependency of its own (PENDING, blocked).
    HeldBack,
    /// On its way up.
    Starting,
    /// Not asked to run.
    Idle,
}

/// RUNNING (a oneshot: exited successfully), and not about to restart.
fn is_up(service: &Service, i: &Instance) -> bool {
    (i.state == State::Running && !i.restart_pending)
        || (service.is_oneshot() && i.state == State::Exited && !i.restart_pending)
}

pub(super) fn health_of(service: &Service) -> Health {
    let instances: Vec<&Instance> = service.instances.values().filter(|i| !i.retiring).collect();
    let up = |i: &&Instance| is_up(service, i);
    if instances.iter().all(up) {
        Health::Up
    } else if instances.iter().any(|i| i.state == State::Fatal) {
        Health::Failed
    } else if instances.iter().any(|i| i.blocked && i.goal == Goal::Up) {
        // Waiting on a failed dependency of its own: it will not come up by itself, so
        // whoever orders after it goes on, and whoever requires it is held back too.
        Health::HeldBack
    } else if instances.iter().any(|i| !up(i) && i.goal == Goal::Up) {
        // Only an instance on its way up is worth waiting for: one that ended for good
        // while its siblings run (EXITED, STOPPED) will not come back by itself.
        Health::Starting
    } else {
        Health::Idle
    }
}

/// Whether `reconcile` may act on this instance: exactly the union of its branches.
fn has_work(instance: &Instance) -> bool {
    let (goal, state) = (instance.goal, instance.state);
    let rearm = goal == Goal::Up
        && state == State::Starting
        && instance.deadline.is_none()
        && instance.pid.is_some()
        && !instance.in_pre_start;
    let spawn = goal == Goal::Up && instance.is_waiting_to_start() && instance.deadline.is_none();
    let stop = goal == Goal::Down && instance.is_active() && state != State::Stopping;
    let restart = goal == Goal::Up && instance.restart_pending && state != State::Stopping;
    rearm || spawn || stop || restart
}
