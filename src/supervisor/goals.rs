//! Setting goals: what `start`, `stop` and shutdown ask of instances, and the stop signal.

use super::reconcile::{health_of, Health};
use super::Level;
use super::*;
use std::time::Instant;

impl Supervisor {
    /// Sets every instance of `name` (and what it requires or wants) to go up.
    pub(super) fn start_service(&mut self, name: &str, out: &mut Actions) {
        let Some(service) = self.services.get(name) else {
            return;
        };
        let indexes: Vec<u32> = service.instances.keys().copied().collect();
        for index in indexes {
            self.start_instance(
                &InstanceId {
                    service: name.to_string(),
                    index,
                },
                out,
            );
        }
    }

    pub(super) fn start_instance(&mut self, id: &InstanceId, out: &mut Actions) {
        if self.shutting_down {
            return;
        }
        let Some(instance) = self.instance_mut(id) else {
            return;
        };
        if instance.goal == Goal::Up || instance.retiring {
            return;
        }
        instance.goal = Goal::Up;
        instance.wanted = true;
        instance.failed_starts = 0;
        instance.crash_streak = 0;
        if let Some(seldom) = instance.seldom.boxed_mut() {
            seldom.restart_times.clear();
        }
        if !instance.is_active() {
            instance.state = State::Pending;
            instance.deadline = None;
            instance.detail = None;
        } else if instance.state != State::Stopping {
            // Held to stop until its dependents had stopped: that is over.
            instance.detail = None;
        }
        // What this one requires or wants comes up too (dinit's "pull in"), except a
        // oneshot that has already succeeded: it stays done, like dinit's scripted services.
        let pulled: Vec<String> = self
            .deps
            .waits_for(&id.service)
            .iter()
            .filter(|(_, kind)| *kind != DepKind::After)
            .filter(|(dep, _)| {
                !self
                    .services
                    .get(dep)
                    .is_some_and(|s| s.is_oneshot() && health_of(s) == Health::Up)
            })
            .map(|(dep, _)| dep.clone())
            .collect();
        for dep in pulled {
            self.start_service(&dep, out);
        }
    }

    /// Sets every instance of `name` (and whatever requires it) to go down.
    pub(super) fn stop_service(&mut self, name: &str) {
        let Some(service) = self.services.get(name) else {
            return;
        };
        let indexes: Vec<u32> = service.instances.keys().copied().collect();
        for index in indexes {
            self.stop_instance(&InstanceId {
                service: name.to_string(),
                index,
            });
        }
    }

    pub(super) fn stop_instance(&mut self, id: &InstanceId) {
        let oneshot = self
            .services
            .get(&id.service)
            .is_some_and(|s| s.is_oneshot());
        let Some(instance) = self.instance_mut(id) else {
            return;
        };
        instance.wanted = false;
        if oneshot && instance.state == State::Exited {
            // A finished oneshot is "up" for what requires it: stopping it stops them too,
            // like any other dependency, and it runs again when next started or pulled in.
            instance.state = State::Stopped;
            instance.restart_pending = false;
        } else if instance.goal == Goal::Down && !instance.is_waiting_to_start() {
            return;
        }
        instance.goal = Goal::Down;
        // A stop for good supersedes a restart still waiting for its dependents to stop.
        instance.restart_pending = false;
        if matches!(instance.state, State::Pending | State::Backoff) {
            instance.state = State::Stopped;
            instance.deadline = None;
            instance.detail = None;
        }
        // Whatever requires this service cannot stay up without it: it stops first
        // (reconcile holds this one until they are down).
        let dependents: Vec<String> = self.deps.required_by(&id.service).to_vec();
        for dependent in dependents {
            self.stop_service(&dependent);
        }
    }

    pub(super) fn begin_shutdown(&mut self, out: &mut Actions) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        out.push(log(Level::Info, "shutdown: stopping every service"));
        // A hook that runs (an alert about a failure, say) is let finish; its own timeout
        // still stops it (hook_jobs.rs).
        let is_hook = |s: &Service| s.job.as_ref().is_some_and(|j| j.hook);
        let ids: Vec<InstanceId> = self
            .all_ids()
            .into_iter()
            .filter(|id| !self.services.get(&id.service).is_some_and(is_hook))
            .collect();
        for id in ids {
            self.stop_instance(&id);
        }
        // Instances removed by a reload that are still stopping count too.
        for service in self.services.values_mut().filter(|s| !is_hook(s)) {
            for instance in service.instances.values_mut() {
                instance.goal = Goal::Down;
            }
        }
        // A reload's pre-start check has nothing left to vet.
        let checks: Vec<String> = self
            .services
            .iter()
            .filter(|(_, s)| s.candidate.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        for name in checks {
            self.cancel_check(&name, "the daemon is shutting down", out);
        }
    }

    /// Sends the stop signal (the instance is STOPPING until it exits; SIGKILL at the deadline).
    pub(super) fn send_stop(&mut self, id: &InstanceId, now: Instant, out: &mut Actions) {
        let name = self.instance_name(id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let policy = &service.spec.policy;
        let (signal, stoptime) = (policy.stopsignal, policy.stoptime);
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        if instance.in_pre_start && instance.pid.is_none() {
            // Only the pre-start runs: a check, not the service. It is killed, and the
            // instance is STOPPED (or starts again) once it has been reaped.
            instance.state = State::Stopping;
            instance.deadline = None;
            if let Some(pid) = instance.pre_start_pid {
                out.push(log(
                    Level::Info,
                    format!("{name} stop requested during pre-start (pid {pid}): SIGKILL STOPPING"),
                ));
                out.push(Action::Signal {
                    pid,
                    signal: libc::SIGKILL,
                    group: true,
                });
            }
            return;
        }
        let Some(pid) = instance.pid else {
            return;
        };
        let was_paused = instance.state == State::Paused;
        let comes_back = instance.goal == Goal::Up;
        instance.state = State::Stopping;
        instance.paused_from = None;
        instance.deadline = Some(now + stoptime);
        out.push(log(
            Level::Info,
            format!(
                "{name} (pid {pid}) stop requested: SIG{} STOPPING",
                crate::signals::name(signal)
            ),
        ));
        out.push(Action::Signal {
            pid,
            signal,
            group: true,
        });
        if was_paused {
            // A stopped process cannot act on its stop signal until it is continued.
            out.push(Action::Signal {
                pid,
                signal: libc::SIGCONT,
                group: true,
            });
        }
        if comes_back {
            // Going down to come back (bounced because a dependency crashed): what requires
            // it goes down with it and comes back after it. A requested restart
            // (`mark_restart`) and a stop for good (goal Down) have stopped the dependents
            // first, through `reconcile`, so there is nothing left to bounce then.
            self.bounce_dependents(&id.service, now, out);
        }
    }

    /// `stop --kill`: SIGKILL to the whole process group now (the loop adds the cgroup,
    /// through `cgroup.kill`), no stop signal and no `stoptime` first. The instance is
    /// STOPPING until it is reaped; should SIGKILL not end it (a process stuck in the
    /// kernel), it is sent again after `stoptime` as any stop does.
    pub(super) fn kill_now(&mut self, id: &InstanceId, now: Instant, out: &mut Actions) {
        let name = self.instance_name(id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let stoptime = service.spec.policy.stoptime;
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        if instance.goal != Goal::Down || !instance.is_active() {
            return;
        }
        if instance.in_pre_start && instance.pid.is_none() {
            // Only its pre-start runs: a stop kills that at once already.
            self.send_stop(id, now, out);
            return;
        }
        if instance.seldom.drain.is_some() {
            // Its main process is gone; what is left of it in its cgroup goes now.
            self.kill_drain(id, now, out);
            return;
        }
        let Some(pid) = instance.pid else {
            return;
        };
        instance.state = State::Stopping;
        instance.paused_from = None;
        instance.deadline = Some(now + stoptime);
        out.push(log(
            Level::Info,
            format!("{name} (pid {pid}) killed: SIGKILL to its process group STOPPING"),
        ));
        out.push(Action::Signal {
            pid,
            signal: libc::SIGKILL,
            group: true,
        });
        // A MAINPID= message may have moved the main pid out of the group it was spawned
        // with: that group goes too.
        if let Some(group) = instance.group.filter(|g| *g != pid) {
            out.push(Action::Signal {
                pid: group,
                signal: libc::SIGKILL,
                group: true,
            });
        }
    }

    /// A dependency's process exited: what `binds-to` it goes down now and comes back once
    /// the dependency is up again (its goal stays Up, so reconcile respawns it in order).
    /// What merely `requires` it stays up: an automatic restart is quiet for them.
    /// `send_stop` bounces their own dependents in turn, down the whole chain.
    pub(super) fn bounce_dependents(&mut self, service: &str, now: Instant, out: &mut Actions) {
        let dependents: Vec<String> = self.deps.bound_by(service).to_vec();
        for dependent in dependents {
            let ids: Vec<InstanceId> = match self.services.get(&dependent) {
                Some(s) => s
                    .instances
                    .keys()
                    .map(|&index| InstanceId {
                        service: dependent.clone(),
                        index,
                    })
                    .collect(),
                None => continue,
            };
            for id in ids {
                let bounce = self.instance(&id).is_some_and(|i| {
                    i.goal == Goal::Up
                        && matches!(i.state, State::Starting | State::Running | State::Paused)
                });
                if bounce {
                    out.push(log(
                        Level::Info,
                        format!(
                            "{}: dependency {service} left RUNNING, restarting it after {service}",
                            self.instance_name(&id)
                        ),
                    ));
                    self.send_stop(&id, now, out);
                }
            }
        }
    }
}
