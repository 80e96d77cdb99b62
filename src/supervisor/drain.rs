//! The end of an instance waits until its cgroup is empty.
//!
//! When a main process is reaped, the loop looks at the instance's cgroup: if processes are
//! still in it (a daemon that double-forked and called setsid, a child still dying), it says
//! so with [`Event::Leftovers`] just before the exit. The core then decides about the exit as
//! always (log line, restart count, next state), but the instance stays STOPPING, without a
//! pid, until the loop reports [`Event::CgroupEmpty`]: no restart, no STOPPED, no answer to a
//! `tmctl stop` while something of it still runs. The leftovers get the stop policy: the stop
//! signal, SIGKILL (`cgroup.kill`) after `stoptime`; after a stop, whose SIGKILL has already
//! gone to the whole cgroup, only the wait remains. A process that SIGKILL cannot end (in
//! uninterruptible sleep on a dead NFS server, say) must not hold the instance forever: after
//! [`KILL_WAIT`] the instance moves on without it, and the log says so.

use super::Level;
use super::*;
use std::time::{Duration, Instant};

/// How long leftovers get to die after SIGKILL before the instance moves on without them.
pub const KILL_WAIT: Duration = Duration::from_secs(5);

/// An instance whose main process has exited while its cgroup still has processes.
#[derive(Debug, Clone, PartialEq)]
pub struct Drain {
    /// The main process that exited (for the log).
    pid: i32,
    /// SIGKILL has gone to the whole cgroup: only waiting now, at most [`KILL_WAIT`].
    killed: bool,
    /// Where the exit sent the instance, to go on to once the cgroup is empty, with the
    /// timer and detail it had then (a restart delay, a reason).
    then: State,
    then_deadline: Option<Instant>,
    then_detail: Option<String>,
}

impl Supervisor {
    /// The loop found `processes` processes left in the cgroup of `pid`, whose exit comes
    /// next: remembered for [`Supervisor::begin_drain`].
    pub(super) fn on_leftovers(&mut self, pid: i32, processes: usize) {
        let Some(id) = self.pids.get(&pid) else {
            return;
        };
        if let Some(instance) = self.instance_mut(&id) {
            if instance.pid == Some(pid) {
                instance.seldom.leftovers = Some(processes);
            }
        }
    }

    /// After the exit of `pid` was decided: if the loop said its cgroup still has processes,
    /// the instance waits STOPPING for them, after sending them the stop signal (unless the
    /// exit already came with a SIGKILL to the whole group, `killed`).
    pub(super) fn begin_drain(
        &mut self,
        id: &InstanceId,
        pid: i32,
        killed: bool,
        now: Instant,
        out: &mut Actions,
    ) {
        let name = self.instance_name(id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let (stopsignal, stoptime) = (service.spec.policy.stopsignal, service.spec.policy.stoptime);
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        let Some(processes) = instance.seldom.boxed_mut().and_then(|s| s.leftovers.take()) else {
            return;
        };
        let what = if killed {
            "SIGKILL sent".to_string()
        } else {
            out.push(Action::SignalCgroup {
                id: id.clone(),
                signal: stopsignal,
            });
            format!(
                "SIG{} sent, SIGKILL after stoptime",
                crate::signals::name(stopsignal)
            )
        };
        out.push(log(
            Level::Info,
            format!(
                "{name}: {processes} process(es) left in its cgroup after pid {pid} exited: {what}; STOPPING until they are gone"
            ),
        ));
        instance.seldom.drain = Some(Drain {
            pid,
            killed,
            then: instance.state,
            then_deadline: instance.deadline,
            then_detail: instance.detail.take(),
        });
        instance.state = State::Stopping;
        instance.deadline = Some(now + if killed { KILL_WAIT } else { stoptime });
        instance.detail = Some(format!(
            "main process {pid} exited; waiting for {processes} leftover process(es) of its cgroup to end ({what})"
        ));
    }

    /// The drain's timer: SIGKILL to the cgroup after `stoptime`; [`KILL_WAIT`] after that,
    /// the instance goes on without what would not die.
    pub(super) fn drain_due(&mut self, id: &InstanceId, now: Instant, out: &mut Actions) {
        let name = self.instance_name(id);
        let Some(instance) = self.instance_mut(id) else {
            return;
        };
        let Some(drain) = instance.seldom.boxed_mut().and_then(|s| s.drain.as_mut()) else {
            return;
        };
        if !drain.killed {
            drain.killed = true;
            instance.deadline = Some(now + KILL_WAIT);
            out.push(log(
                Level::Warning,
                format!("{name}: leftover processes did not end within stoptime: SIGKILL"),
            ));
            out.push(Action::SignalCgroup {
                id: id.clone(),
                signal: libc::SIGKILL,
            });
            return;
        }
        out.push(log(
            Level::Warning,
            format!(
                "{name}: processes still in its cgroup {} after SIGKILL (uninterruptible sleep?): going on without them",
                span(KILL_WAIT)
            ),
        ));
        self.end_drain(id);
    }

    /// `tmctl kill` of an instance waiting for its leftovers: SIGKILL to them now, not
    /// after `stoptime`.
    pub(super) fn kill_drain(&mut self, id: &InstanceId, now: Instant, out: &mut Actions) {
        let name = self.instance_name(id);
        let Some(instance) = self.instance_mut(id) else {
            return;
        };
        let Some(drain) = instance
            .seldom
            .boxed_mut()
            .and_then(|s| s.drain.as_mut())
            .filter(|d| !d.killed)
        else {
            return;
        };
        drain.killed = true;
        instance.deadline = Some(now + KILL_WAIT);
        out.push(log(
            Level::Info,
            format!("{name} killed: SIGKILL to the leftover processes of its cgroup"),
        ));
        out.push(Action::SignalCgroup {
            id: id.clone(),
            signal: libc::SIGKILL,
        });
    }

    /// The loop saw the instance's cgroup empty.
    pub(super) fn on_cgroup_empty(&mut self, id: &InstanceId, out: &mut Actions) {
        let name = self.instance_name(id);
        let Some(drain) = self.instance(id).and_then(|i| i.seldom.drain.as_ref()) else {
            return;
        };
        out.push(log(
            Level::Info,
            format!(
                "{name}: its cgroup is empty (the leftovers of pid {} are gone): {}",
                drain.pid,
                self.after_drain(id)
            ),
        ));
        self.end_drain(id);
    }

    /// Where the instance goes once drained: where the exit sent it, unless a request came
    /// meanwhile (started again: PENDING; stopped for good: STOPPED).
    fn after_drain(&self, id: &InstanceId) -> State {
        let Some(i) = self.instance(id) else {
            return State::Stopped;
        };
        let Some(drain) = &i.seldom.drain else {
            return i.state;
        };
        match (i.goal, drain.then) {
            (Goal::Up, State::Stopped | State::Exited | State::Fatal) => State::Pending,
            (Goal::Down, State::Pending | State::Backoff) => State::Stopped,
            (_, then) => then,
        }
    }

    fn end_drain(&mut self, id: &InstanceId) {
        let next = self.after_drain(id);
        let Some(instance) = self.instance_mut(id) else {
            return;
        };
        let Some(drain) = instance.seldom.boxed_mut().and_then(|s| s.drain.take()) else {
            return;
        };
        instance.state = next;
        if next == drain.then {
            instance.deadline = drain.then_deadline;
            instance.detail = drain.then_detail;
        } else {
            instance.deadline = None;
            instance.detail = None;
        }
    }
}
