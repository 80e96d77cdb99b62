//! `tmctl upgrade`: what the core hands to the binary that replaces it, and how the new core
//! takes it over. The processes stay the daemon's children across execve, so taking over an
//! instance is putting its facts back: pid, group, goal, counters and timers (kept as
//! durations, since an `Instant` means nothing to another process image).

use super::instance::{ForcedStop, Goal, Instance, Seldom};
use super::state::{ExitStatus, State};
use super::Level;
use super::{log, Actions, InstanceId, Supervisor};
use crate::config::Rare;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// One instance, as the old core leaves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceHandover {
    pub service: String,
    pub index: u32,
    pub state: State,
    pub goal: Goal,
    pub pid: Option<i32>,
    pub group: Option<i32>,
    /// How long ago the process was spawned / became RUNNING.
    pub spawned_ago_ms: Option<u64>,
    pub running_ago_ms: Option<u64>,
    /// How long until its timer fires.
    pub deadline_in_ms: Option<u64>,
    pub failed_starts: u32,
    pub crash_streak: u32,
    pub restarts: u32,
    pub last_exit: Option<ExitStatus>,
    pub detail: Option<String>,
    pub paused_from: Option<State>,
    pub blocked: bool,
    pub wanted: bool,
    pub last_stderr: Option<String>,
    pub notify_status: Option<String>,
    pub forced: Option<ForcedStop>,
    pub restarts_ago_ms: Vec<u64>,
}

/// Why the core cannot be handed over right now (try again once it has settled).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoverBusy {
    #[error("a pre-start check is running")]
    PreStart,
    #[error("an event hook is running")]
    Hook,
    #[error("a start, stop, restart or reload is still waiting for its outcome")]
    Waiting,
    #[error("a reload is still stopping or restarting {0}")]
    Reloading(String),
    #[error("{0} is waiting for the leftover processes of its cgroup to end")]
    Draining(String),
    #[error("taskmasterd is shutting down")]
    ShuttingDown,
    /// Jobs (`run`, `adopt`) are not part of the handover yet: their processes would be
    /// taken for services gone from the config and stopped.
    #[error("job {0} is running (tmctl remove it, or wait for it, first)")]
    Job(String),
    /// Scheduled starts (`start --in`/`--at`) are not handed over yet.
    #[error("a start is scheduled (tmctl cancel it first)")]
    Scheduled,
}

pub(super) fn ago(now: Instant, at: Option<Instant>) -> Option<u64> {
    at.map(|at| now.saturating_duration_since(at).as_millis() as u64)
}

pub(super) fn back(now: Instant, ago_ms: Option<u64>) -> Option<Instant> {
    ago_ms.map(|ms| now.checked_sub(Duration::from_millis(ms)).unwrap_or(now))
}

impl Supervisor {
    /// Every instance's facts, or why not now: anything in flight that only this process
    /// image could finish (a `pre-start`, a client waiting, a reload half done) must settle.
    pub fn handover(&self, now: Instant) -> Result<Vec<InstanceHandover>, HandoverBusy> {
        if self.shutting_down {
            return Err(HandoverBusy::ShuttingDown);
        }
        if !self.helpers.is_empty() {
            return Err(HandoverBusy::PreStart);
        }
        if self.hooks.any_running() {
            return Err(HandoverBusy::Hook);
        }
        if !self.waiters.is_empty() {
            return Err(HandoverBusy::Waiting);
        }
        if let Some(job) = self.live_job() {
            return Err(HandoverBusy::Job(job));
        }
        if !self.schedules.is_empty() {
            return Err(HandoverBusy::Scheduled);
        }
        let mut out = Vec::new();
        // Ended jobs are records only; they are not handed over.
        for service in self.services.values().filter(|s| s.job.is_none()) {
            let name = &service.spec.name;
            if service.removed || service.candidate.is_some() {
                return Err(HandoverBusy::Reloading(name.clone()));
            }
            for (index, i) in &service.instances {
                if i.retiring || i.restart_pending || i.in_pre_start {
                    return Err(HandoverBusy::Reloading(service.name_of(*index).to_string()));
                }
                if i.seldom.drain.is_some() {
                    return Err(HandoverBusy::Draining(service.name_of(*index).to_string()));
                }
                out.push(InstanceHandover {
                    service: name.clone(),
                    index: *index,
                    state: i.state,
                    goal: i.goal,
                    pid: i.pid,
                    group: i.group,
                    spawned_ago_ms: ago(now, i.spawned_at),
                    running_ago_ms: ago(now, i.running_since),
                    deadline_in_ms: i
                        .deadline
                        .map(|at| at.saturating_duration_since(now).as_millis() as u64),
                    failed_starts: i.failed_starts,
                    crash_streak: i.crash_streak,
                    restarts: i.restarts,
                    last_exit: i.last_exit,
                    detail: i.detail.clone(),
                    paused_from: i.paused_from,
                    blocked: i.blocked,
                    wanted: i.wanted,
                    last_stderr: i.seldom.last_stderr.clone(),
                    notify_status: i.seldom.notify_status.clone(),
                    forced: i.forced,
                    restarts_ago_ms: i
                        .seldom
                        .restart_times
                        .iter()
                        .filter_map(|at| ago(now, Some(*at)))
                        .collect(),
                });
            }
        }
        Ok(out)
    }

    /// Puts handed-over instances back, before any other event. The config is the one on
    /// disk now: an instance whose service (or index) is gone from it has its process group
    /// stopped; a service that is new in it and `autostart` is started, as a reload would.
    pub fn take_over(&mut self, items: Vec<InstanceHandover>, now: Instant) -> Actions {
        self.touched();
        let mut out = Vec::new();
        let mut known = std::collections::HashSet::new();
        for item in items {
            known.insert(item.service.clone());
            let id = InstanceId {
                service: item.service.clone(),
                index: item.index,
            };
            let Some(instance) = self.instance_mut(&id) else {
                if let Some(group) = item.group.or(item.pid) {
                    out.push(log(
                        Level::Warning,
                        format!(
                            "upgrade: {}:{} is not in the config any more: stopping its process group {group}",
                            item.service, item.index
                        ),
                    ));
                    out.push(super::Action::Signal {
                        pid: group,
                        signal: libc::SIGTERM,
                        group: true,
                    });
                }
                continue;
            };
            *instance = Instance {
                state: item.state,
                goal: item.goal,
                pid: item.pid,
                spawned_at: back(now, item.spawned_ago_ms),
                running_since: back(now, item.running_ago_ms),
                deadline: item
                    .deadline_in_ms
                    .map(|ms| now + Duration::from_millis(ms)),
                failed_starts: item.failed_starts,
                crash_streak: item.crash_streak,
                restarts: item.restarts,
                last_exit: item.last_exit,
                detail: item.detail,
                paused_from: item.paused_from,
                blocked: item.blocked,
                wanted: item.wanted,
                group: item.group,
                forced: item.forced,
                seldom: Rare::new(Seldom {
                    last_stderr: item.last_stderr,
                    notify_status: item.notify_status,
                    restart_times: item
                        .restarts_ago_ms
                        .iter()
                        .filter_map(|ms| back(now, Some(*ms)))
                        .collect(),
                    ..Seldom::default()
                }),
                ..Instance::new()
            };
            if let Some(pid) = item.pid {
                self.pids.insert(pid, id);
            }
        }
        let added: Vec<String> = self
            .services
            .values()
            .filter(|s| self.starts_by_itself(&s.spec) && !known.contains(&s.spec.name))
            .map(|s| s.spec.name.clone())
            .collect();
        for name in added {
            out.push(log(
                Level::Info,
                format!("upgrade: {name} is new in the config: starting it"),
            ));
            self.start_service(&name, &mut out);
        }
        self.fire_crons(now, &mut out);
        self.reconcile(now, &mut out);
        out
    }
}
