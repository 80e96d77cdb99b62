//! Readiness in the core: what a notify message does to an instance, the ready timeout,
//! the watchdog and the restart limit (SPEC.md, "Readiness"). The loop has read the
//! datagram and the sender's credentials; which instance it belongs to is decided here.

use super::events::become_running;
use super::instance::ForcedStop;
use super::notify::{NotifyMessage, ProcessFacts};
use super::Level;
use super::*;
use crate::config::{Policy, Readiness};
use std::time::{Duration, Instant};

/// Senders already reported as not belonging anywhere; beyond this many, the set is
/// cleared (a flood of spoofers must not grow memory, and a repeated log line is harmless).
const MAX_REMEMBERED_STRANGERS: usize = 1024;

impl Supervisor {
    /// When the STARTING timer of a fresh process falls due: `ready-timeout` for a service
    /// that reports readiness, `starttime` otherwise, nothing for a oneshot.
    pub(super) fn start_deadline(service: &Service, now: Instant) -> Option<Instant> {
        let policy = &service.spec.policy;
        if service.spec.process.ready.is_reported() {
            Some(now + policy.ready_timeout)
        } else if service.is_oneshot() || policy.starttime.is_zero() {
            None
        } else {
            Some(now + policy.starttime)
        }
    }

    /// The instance a process belongs to: it is an instance's main process, in its process
    /// group or session (every instance starts as a session leader), or a descendant of it.
    fn owner_of(&self, facts: &ProcessFacts) -> Option<InstanceId> {
        let lineage = std::iter::once(facts.pid).chain(facts.ancestors.iter().copied());
        for pid in lineage.clone() {
            if let Some(id) = self.pids.get(&pid) {
                return Some(id);
            }
        }
        let groups = [facts.pgid, facts.sid];
        self.services.iter().find_map(|(name, service)| {
            service.instances.iter().find_map(|(index, instance)| {
                let group = instance.group.filter(|_| instance.pid.is_some())?;
                let member = groups.contains(&Some(group)) || lineage.clone().any(|p| p == group);
                member.then(|| InstanceId {
                    service: name.clone(),
                    index: *index,
                })
            })
        })
    }

    pub(super) fn on_notify(
        &mut self,
        sender: ProcessFacts,
        message: NotifyMessage,
        main_pid: Option<ProcessFacts>,
        now: Instant,
        out: &mut Actions,
    ) {
        let owner = self.owner_of(&sender).filter(|id| {
            self.services
                .get(&id.service)
                .is_some_and(|s| s.spec.process.ready == Readiness::Notify)
        });
        let Some(id) = owner else {
            if self.strangers.len() >= MAX_REMEMBERED_STRANGERS {
                self.strangers.clear();
            }
            if self.strangers.insert(sender.pid) {
                out.push(log(
                    Level::Warning,
                    format!(
                        "notify: ignored a message from pid {} (uid {}): not a process of a \
                         service with ready \"notify\"",
                        sender.pid, sender.uid
                    ),
                ));
            }
            return;
        };
        if let Some(target) = main_pid {
            self.move_main_pid(&id, &sender, target, out);
        }
        let name = self.instance_name(&id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let watchdog = service.spec.process.watchdog;
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        match message.status {
            Some(status) if !status.is_empty() => instance.seldom.notify_status = Some(status),
            // An empty `STATUS=` clears: through `boxed_mut`, so an instance that never had a
            // status does not box its seldom part for nothing.
            Some(_) => {
                if let Some(seldom) = instance.seldom.boxed_mut() {
                    seldom.notify_status = None;
                }
            }
            None => {}
        }
        if message.reloading {
            out.push(log(
                Level::Info,
                format!("{name} is reloading (RELOADING=1)"),
            ));
        }
        if message.stopping {
            out.push(log(Level::Info, format!("{name} is stopping (STOPPING=1)")));
        }
        if message.ready && instance.state == State::Starting {
            become_running(instance, &name, now, out);
            instance.deadline = watchdog.map(|period| now + period);
        } else if message.watchdog && instance.state == State::Running {
            instance.deadline = watchdog.map(|period| now + period);
        }
        if let Some(extra) = message.extend_timeout {
            let timed = matches!(instance.state, State::Starting | State::Stopping)
                || (instance.state == State::Running && watchdog.is_some());
            if timed {
                let extended = now + extra;
                instance.deadline = Some(instance.deadline.map_or(extended, |d| d.max(extended)));
            }
        }
        if message.watchdog_trigger && instance.state == State::Running && watchdog.is_some() {
            instance.deadline = Some(now);
        }
    }

    /// The fd:N newline: RUNNING, if that process is still the instance's one and starting.
    pub(super) fn on_fd_ready(
        &mut self,
        id: &InstanceId,
        pid: i32,
        now: Instant,
        out: &mut Actions,
    ) {
        let name = self.instance_name(id);
        let Some(instance) = self.instance_mut(id) else {
            return;
        };
        if instance.group == Some(pid) && instance.state == State::Starting {
            instance.deadline = None;
            become_running(instance, &name, now, out);
        }
    }

    /// `MAINPID=N`: accepted when N belongs to the same instance, or when the sender is root
    /// (a daemon that daemonizes into a session of its own can only be followed on its
    /// word; root could signal anything anyway, and systemd trusts root the same way).
    fn move_main_pid(
        &mut self,
        id: &InstanceId,
        sender: &ProcessFacts,
        target: ProcessFacts,
        out: &mut Actions,
    ) {
        let name = self.instance_name(id);
        let belongs = self.owner_of(&target).as_ref() == Some(id);
        if !belongs && sender.uid != 0 {
            out.push(log(
                Level::Warning,
                format!(
                    "{name}: ignored MAINPID={} from pid {}: not a process of {name}",
                    target.pid, sender.pid
                ),
            ));
            return;
        }
        if self.pids.get(&target.pid).is_some_and(|other| other != *id) {
            return; // another instance's process: never taken over
        }
        let Some(instance) = self.instance_mut(id) else {
            return;
        };
        let Some(old) = instance.pid.filter(|old| *old != target.pid) else {
            return;
        };
        instance.pid = Some(target.pid);
        self.pids.remove(&old);
        self.pids.insert(target.pid, id.clone());
        out.push(log(
            Level::Info,
            format!("{name} main pid is now {} (MAINPID, was {old})", target.pid),
        ));
    }

    /// A STARTING instance whose `ready-timeout` passed, or a RUNNING one whose watchdog
    /// did: the core stops it itself, and its exit then counts as a failure (see `on_exit`).
    pub(super) fn force_stop(
        &mut self,
        id: &InstanceId,
        why: ForcedStop,
        now: Instant,
        out: &mut Actions,
    ) {
        let name = self.instance_name(id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let policy = service.spec.policy.clone();
        let watchdog = service.spec.process.watchdog.unwrap_or_default();
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        let Some(pid) = instance.pid else {
            return;
        };
        instance.forced = Some(why);
        instance.state = State::Stopping;
        instance.deadline = Some(now + policy.stoptime);
        let (text, signal, group) = match why {
            ForcedStop::ReadyTimeout => (
                format!(
                    "did not report ready within {}: SIG{} STOPPING",
                    seconds(policy.ready_timeout),
                    crate::signals::name(policy.stopsignal)
                ),
                policy.stopsignal,
                true,
            ),
            // SIGABRT to the main process, so that a core dump shows where it hung.
            ForcedStop::Watchdog => (
                format!(
                    "sent no WATCHDOG=1 for {}: SIGABRT STOPPING",
                    seconds(watchdog)
                ),
                libc::SIGABRT,
                false,
            ),
        };
        instance.detail = Some(text.split(':').next().unwrap_or_default().to_string());
        out.push(log(Level::Error, format!("{name} (pid {pid}) {text}")));
        out.push(Action::Signal { pid, signal, group });
    }
}

/// Counts one more automatic restart; `Some(reason)` when it is one too many.
pub(super) fn over_restart_limit(
    instance: &mut Instance,
    policy: &Policy,
    now: Instant,
) -> Option<String> {
    let limit = policy.restart_limit?;
    let seldom = &mut *instance.seldom;
    while seldom
        .restart_times
        .front()
        .is_some_and(|at| now.saturating_duration_since(*at) > limit.window)
    {
        seldom.restart_times.pop_front();
    }
    seldom.restart_times.push_back(now);
    (seldom.restart_times.len() > limit.count as usize).then(|| {
        seldom.restart_times.clear();
        format!(
            "restart limit: {} restarts in {} s",
            limit.count,
            trim_seconds(limit.window)
        )
    })
}

fn trim_seconds(window: Duration) -> String {
    let text = format!("{:.3}", window.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
