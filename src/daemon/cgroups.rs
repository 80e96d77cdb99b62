//! The loop's side of cgroups: which instance each spawned process's cgroup is, what the
//! core's group signals mean for it (SIGKILL → `cgroup.kill`, SIGSTOP/SIGCONT → freeze and
//! thaw), an OOM kill noticed when a process is reaped, and the accounting `status` shows.

use crate::config::{size_text, Rare, Resources};
use crate::control::proto::InstanceStatus;
use crate::log::{EventLog, Level};
use crate::process::cgroup::{CgroupError, Cgroups, Usage};
use crate::process::CgroupTarget;
use crate::supervisor::{InstanceId, SpawnFailure};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub(super) struct ServiceCgroups {
    cgroups: Option<Cgroups>,
    /// Why there are none, for the services whose limits cannot be applied.
    unavailable: String,
    /// Spawned main processes not reaped yet: their instance, and what the OOM count
    /// was then (an OOM kill is a rise of it).
    members: HashMap<i32, Member>,
    /// Paused by tmctl: their cgroup is frozen once waitpid has seen them stop (frozen
    /// first, a task would never act on its SIGSTOP, and never show as stopped).
    to_freeze: std::collections::HashSet<i32>,
    /// Instances whose cgroup got a `cgroup.kill`: made anew (empty) before the next
    /// spawn, so that its child can be cloned into it (see `CgroupTarget::clone_into`).
    killed: std::collections::HashSet<(Arc<str>, u32)>,
    /// Instances whose end waits for their cgroup to be empty.
    empty: super::cgroup_empty::EmptyWatch,
    /// Instances whose cgroup this daemon made with these limits and has not removed
    /// since: their next spawn only opens it (a restart skipped two `mkdir`s answered
    /// EEXIST and every controller and limit file written again, on its way to `clone3`).
    /// `Rare`: with limits inline, each entry was 88 bytes, 180 KiB for 1,000 instances
    /// that almost never have any.
    /// Keyed, as `members` and `killed` are, by the core's shared name of the service
    /// ([`Supervisor::shared_name`](crate::supervisor::Supervisor::shared_name)): an entry
    /// made at a spawn allocates nothing that lives on (see `crate::shared_names`).
    prepared: HashMap<(Arc<str>, u32), Rare<Resources>>,
}

struct Member {
    service: Arc<str>,
    index: u32,
    oom_kills: u64,
    memory_max: Option<u64>,
    /// Reaped, and its cgroup was empty then: a SIGKILL to its group has nothing left to
    /// reach there (and a `cgroup.kill` would only make the cgroup be made anew before the
    /// next spawn).
    emptied: bool,
}

impl ServiceCgroups {
    /// Sets up the daemon's subtree and says in the log what it got.
    pub(super) fn detect(log: &mut EventLog) -> ServiceCgroups {
        match Cgroups::detect() {
            Ok(cgroups) => {
                let controllers = match cgroups.controllers() {
                    [] => "none".to_string(),
                    list => list.join(" "),
                };
                let mut line = format!(
                    "cgroups: each instance runs in {}/SERVICE/INSTANCE; controllers: {controllers}",
                    cgroups.root().display()
                );
                if cgroups.controllers().len() < 3 {
                    line.push_str(
                        " (limits needing a missing controller make their service FATAL)",
                    );
                }
                log.write(Level::Info, &line);
                ServiceCgroups {
                    cgroups: Some(cgroups),
                    ..Default::default()
                }
            }
            Err(reason) => {
                log.write(
                    Level::Warning,
                    &format!(
                        "cgroups unavailable: {reason}; services run without them (a service with memory-max, cpu-max, … is FATAL)"
                    ),
                );
                ServiceCgroups {
                    unavailable: reason.to_string(),
                    ..Default::default()
                }
            }
        }
    }

    /// The instance's cgroup, ready for its next process: its `cgroup.procs` to join,
    /// `None` without cgroups; an error when its limits cannot be applied. `service` is the
    /// core's shared name of `id.service`.
    pub(super) fn prepare(
        &mut self,
        id: &InstanceId,
        service: Arc<str>,
        limits: &Resources,
    ) -> Result<Option<CgroupTarget>, SpawnFailure> {
        let fatal = |reason: String| SpawnFailure {
            reason,
            transient: false,
        };
        let Some(cgroups) = &self.cgroups else {
            if limits.any() {
                return Err(fatal(format!(
                    "cgroup limits cannot be applied: {}",
                    self.unavailable
                )));
            }
            return Ok(None);
        };
        // A killed cgroup, once empty, is removed and made again (prepare makes it).
        let key = (service, id.index);
        let clone_into = !self.killed.contains(&key) || {
            let renewed = cgroups.remove(&id.service, id.index).is_ok();
            if renewed {
                self.killed.remove(&key);
                self.prepared.remove(&key);
            }
            renewed
        };
        if self
            .prepared
            .get(&key)
            .is_some_and(|made| **made == *limits)
        {
            // Gone meanwhile (removed by hand): made again below.
            if let Ok(dir) = cgroups.open(&id.service, id.index) {
                return Ok(Some(CgroupTarget { dir, clone_into }));
            }
        }
        let dir = cgroups
            .prepare(&id.service, id.index, limits)
            .map_err(|e| fatal(e.to_string()))?;
        self.prepared.insert(key, Rare::new(*limits));
        Ok(Some(CgroupTarget { dir, clone_into }))
    }

    /// A process spawned into the instance's cgroup (`service`: as for `prepare`).
    pub(super) fn spawned(
        &mut self,
        pid: i32,
        id: &InstanceId,
        service: Arc<str>,
        limits: &Resources,
    ) {
        let Some(cgroups) = &self.cgroups else {
            return;
        };
        self.members.insert(
            pid,
            Member {
                service,
                index: id.index,
                oom_kills: oom_kills(cgroups, &id.service, id.index).unwrap_or(0),
                memory_max: limits.memory_max,
                emptied: false,
            },
        );
    }

    /// What a group signal (sent already) means for the cgroup of `pid`'s instance:
    /// SIGKILL kills the whole cgroup (what left the process group too), SIGSTOP freezes it
    /// once the stop is seen ([`ServiceCgroups::stopped`]), SIGCONT thaws it.
    pub(super) fn group_signal(&mut self, pid: i32, signal: i32) {
        // A stop's SIGTERM (1,000 at a stop of everything) has nothing to do here.
        if ![libc::SIGKILL, libc::SIGSTOP, libc::SIGCONT].contains(&signal) {
            return;
        }
        let Some(cgroups) = &self.cgroups else {
            return;
        };
        let Some((service, index)) = self.instance_of(cgroups, pid) else {
            return;
        };
        match signal {
            libc::SIGKILL if self.members.get(&pid).is_some_and(|m| m.emptied) => {}
            libc::SIGKILL => {
                let _ = cgroups.kill(&service, index);
                self.killed.insert((service, index));
            }
            libc::SIGSTOP => {
                self.to_freeze.insert(pid);
            }
            libc::SIGCONT => {
                self.to_freeze.remove(&pid);
                let _ = cgroups.freeze(&service, index, false);
            }
            _ => {}
        }
    }

    /// waitpid saw `pid` stop: if tmctl paused it, the rest of its cgroup is frozen now.
    pub(super) fn stopped(&mut self, pid: i32) {
        if !self.to_freeze.remove(&pid) {
            return;
        }
        if let Some(cgroups) = &self.cgroups {
            if let Some((service, index)) = self.instance_of(cgroups, pid) {
                let _ = cgroups.freeze(&service, index, true);
            }
        }
    }

    fn instance_of(&self, cgroups: &Cgroups, pid: i32) -> Option<(Arc<str>, u32)> {
        match self.members.get(&pid) {
            Some(m) => Some((m.service.clone(), m.index)),
            None => cgroups
                .instance_of(pid)
                .map(|(service, index)| (Arc::from(service), index)),
        }
    }

    /// A reaped process: the reason to report if the OOM killer killed in its cgroup
    /// while it ran (`killed by the OOM killer, memory-max 512M`).
    pub(super) fn reaped(&mut self, pid: i32) -> Option<String> {
        let cgroups = self.cgroups.as_ref()?;
        let member = self.members.get(&pid)?;
        let now = oom_kills(cgroups, &member.service, member.index)?;
        (now > member.oom_kills).then(|| match member.memory_max {
            Some(max) => format!("killed by the OOM killer, memory-max {}", size_text(max)),
            None => "killed by the OOM killer".to_string(),
        })
    }

    /// Forgets a reaped process once the core has decided about its exit (a SIGKILL to
    /// its group may have come with that decision).
    pub(super) fn forget(&mut self, pid: i32) {
        self.members.remove(&pid);
        self.to_freeze.remove(&pid);
    }

    /// The main process `pid` of `id` was reaped: how many processes its cgroup still has
    /// (then watched until it is empty), or `None`.
    pub(super) fn leftovers(
        &mut self,
        pid: i32,
        id: &InstanceId,
        log: &mut EventLog,
    ) -> Option<usize> {
        let cgroups = self.cgroups.as_ref()?;
        let mut problem = None;
        let left = self.empty.watch(cgroups, id, &mut problem);
        match problem {
            Some(problem) => log.write(Level::Warning, &problem),
            None if left.is_none() => {
                if let Some(member) = self.members.get_mut(&pid) {
                    member.emptied = true;
                }
            }
            None => {}
        }
        left
    }

    /// The inotify fd telling of emptied cgroups, while one is awaited.
    pub(super) fn empty_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.empty.polled()
    }

    /// The instances whose awaited cgroup is empty now.
    pub(super) fn read_empty(&mut self) -> Vec<InstanceId> {
        match &self.cgroups {
            Some(cgroups) => self.empty.read(cgroups),
            None => Vec::new(),
        }
    }

    /// A signal to every process left in the instance's cgroup (SIGKILL: `cgroup.kill`).
    pub(super) fn signal_cgroup(&self, id: &InstanceId, signal: i32) -> Result<(), CgroupError> {
        let Some(cgroups) = &self.cgroups else {
            return Ok(());
        };
        cgroups
            .signal_all(&id.service, id.index, signal)
            .map(|_| ())
            .map_err(|error| CgroupError::Dir {
                path: cgroups.dir(&id.service, id.index),
                error,
            })
    }

    /// Adds memory, CPU time and tasks to each status line (null without cgroups).
    pub(super) fn account(&self, instances: &mut [InstanceStatus]) {
        let Some(cgroups) = &self.cgroups else {
            return;
        };
        for status in instances.iter_mut().filter(|s| s.pid.is_some()) {
            let index = match status.name.rsplit_once(':') {
                Some((_, n)) => n.parse().unwrap_or(0),
                None => 0,
            };
            let usage: Usage = cgroups.usage(&status.service, index);
            status.memory_bytes = usage.memory_bytes;
            status.memory_peak_bytes = usage.memory_peak;
            status.cpu_usec = usage.cpu_usec;
            status.tasks = usage.tasks;
        }
    }

    /// `ps`: the cgroup directory of each instance that has a process and a cgroup.
    pub(super) fn locate(&self, instances: &mut [crate::control::proto::PsInstance]) {
        let Some(cgroups) = &self.cgroups else {
            return;
        };
        for instance in instances.iter_mut().filter(|i| i.pid.is_some()) {
            let dir = cgroups.dir(&instance.service, instance.index);
            if dir.is_dir() {
                instance.cgroup = Some(dir.to_string_lossy().into_owned());
            }
        }
    }

    /// An instance gone for good (an ended job forgotten): its cgroup is removed now, not at
    /// exit, so that 10,000 jobs coming and going do not leave 10,000 cgroups behind (each
    /// costs kernel memory). Best effort: one still populated stays until exit.
    pub(super) fn forget_instance(&mut self, id: &InstanceId, service: Arc<str>) {
        self.prepared.remove(&(service, id.index));
        if let Some(cgroups) = &self.cgroups {
            cgroups.remove_gone(&id.service, id.index);
        }
    }

    /// At exit: the cgroups left empty are removed.
    pub(super) fn clean_up(&self) {
        let Some(cgroups) = &self.cgroups else {
            return;
        };
        // The ones this daemon made are removed by name: finding them by walking the tree
        // cost an open, two getdents and a close per service (a third of the removal's
        // system calls after a stop of 1,000).
        let mut services: Vec<&str> = Vec::with_capacity(self.prepared.len());
        for (service, index) in self.prepared.keys() {
            let _ = cgroups.remove(service, *index);
            services.push(service);
        }
        services.sort_unstable();
        services.dedup();
        for service in services {
            cgroups.remove_service(service);
        }
        // What is left: instances gone earlier, or made by a daemon before this one.
        cgroups.remove_empty();
    }
}

/// The OOM kills counted in the instance's cgroup; `None` without the memory controller,
/// whose `memory.events` is then not there: not looked for at every spawn and exit.
fn oom_kills(cgroups: &Cgroups, service: &str, index: u32) -> Option<u64> {
    if !cgroups.controllers().contains(&"memory") {
        return None;
    }
    cgroups.oom_kills(service, index)
}
