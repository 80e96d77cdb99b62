//! The pure core: every decision, no system calls, no clock of its own.
//!
//! The event loop feeds [`Event`]s with the current time into [`Supervisor::handle`] and
//! performs the [`Action`]s it returns. After each event the core *reconciles*: it moves
//! every instance towards its goal (up or down), in dependency order, and answers the
//! clients whose start/stop has settled. Its only timer is [`Supervisor::next_deadline`].

mod deps;
mod instance;
pub mod policy;
mod reload;
mod requests;
pub mod state;
#[cfg(test)]
mod tests;

pub use deps::DepKind;
pub use instance::{Goal, Instance};
pub use state::{ExitStatus, State};

use crate::config::{Config, ProcessSpec, ServiceSpec, ServiceType};
use crate::control::proto::{Request, Response};
use crate::log::Level;
use deps::DepTable;
use requests::Waiter;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// Identifies a connected client, so that a reply can come later (start waits for RUNNING).
pub type ClientId = u64;

/// An instance: the service name and its index (0 when numprocs is 1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId {
    pub service: String,
    pub index: u32,
}

#[derive(Debug)]
pub enum Event {
    /// The daemon is up: start every autostart service.
    Boot,
    /// The result of an [`Action::Spawn`]: a pid, or why the program could not be executed.
    Spawned {
        id: InstanceId,
        result: Result<i32, String>,
    },
    /// waitpid reported a dead child (any child: orphans too).
    Exited { pid: i32, status: ExitStatus },
    /// waitpid reported a child stopped (SIGSTOP, by anyone).
    Stopped { pid: i32 },
    /// waitpid reported a child continued (SIGCONT, by anyone).
    Continued { pid: i32 },
    /// [`Supervisor::next_deadline`] has passed.
    Tick,
    /// A request from `tmctl` that the core answers (the loop answers tail, reload, reopen).
    Request { client: ClientId, request: Request },
    /// A new, validated config to apply.
    Reload {
        client: Option<ClientId>,
        config: Config,
    },
    /// Stop everything in reverse dependency order, then [`Action::Exit`].
    Shutdown,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Fork/exec this instance; answer with [`Event::Spawned`].
    Spawn {
        id: InstanceId,
        name: String,
        spec: Arc<ProcessSpec>,
    },
    /// Send a signal to a process group (`group`) or just to the process.
    Signal {
        pid: i32,
        signal: i32,
        group: bool,
    },
    Log {
        level: Level,
        text: String,
    },
    Reply {
        client: ClientId,
        response: Response,
    },
    /// Shutdown is complete: nothing runs any more.
    Exit,
    /// An `essential` service went FATAL: the whole supervisor must shut down.
    EssentialFailed {
        name: String,
    },
}

struct Service {
    spec: ServiceSpec,
    process: Arc<ProcessSpec>,
    instances: BTreeMap<u32, Instance>,
    /// Removed by a reload: dropped once every instance has stopped.
    removed: bool,
}

impl Service {
    fn new(spec: ServiceSpec) -> Service {
        let process = Arc::new(spec.process.clone());
        let instances = (0..spec.numprocs).map(|i| (i, Instance::new())).collect();
        Service {
            spec,
            process,
            instances,
            removed: false,
        }
    }

    fn instance_name(&self, index: u32) -> String {
        if self.spec.numprocs == 1 && index == 0 {
            self.spec.name.clone()
        } else {
            format!("{}:{}", self.spec.name, index)
        }
    }

    fn is_oneshot(&self) -> bool {
        self.spec.process.kind == ServiceType::Oneshot
    }
}

pub struct Supervisor {
    services: BTreeMap<String, Service>,
    deps: DepTable,
    /// pid → instance, for every process we spawned and have not reaped yet.
    pids: HashMap<i32, InstanceId>,
    waiters: Vec<Waiter>,
    shutting_down: bool,
    exit_sent: bool,
}

/// What the core returns from one event.
pub type Actions = Vec<Action>;

impl Supervisor {
    pub fn new(config: Config) -> Supervisor {
        let deps = DepTable::new(&config);
        let services = config
            .services
            .into_iter()
            .map(|(name, spec)| (name, Service::new(spec)))
            .collect();
        Supervisor {
            services,
            deps,
            pids: HashMap::new(),
            waiters: Vec::new(),
            shutting_down: false,
            exit_sent: false,
        }
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Actions {
        let mut out = Vec::new();
        if let Event::Exited { pid, .. } = event {
            if !self.pids.contains_key(&pid) {
                // An orphan reaped as PID 1 or subreaper: nothing changed for any service,
                // and an orphan storm must not cost a reconcile per reaped process.
                return out;
            }
        }
        match event {
            Event::Boot => {
                let autostart: Vec<String> = self
                    .services
                    .values()
                    .filter(|s| s.spec.policy.autostart)
                    .map(|s| s.spec.name.clone())
                    .collect();
                for name in autostart {
                    self.start_service(&name, &mut out);
                }
            }
            Event::Spawned { id, result } => self.on_spawned(id, result, now, &mut out),
            Event::Exited { pid, status } => self.on_exit(pid, status, now, &mut out),
            Event::Stopped { pid } => self.on_stopped(pid, &mut out),
            Event::Continued { pid } => self.on_continued(pid, now, &mut out),
            Event::Tick => self.on_tick(now, &mut out),
            Event::Request { client, request } => self.on_request(client, request, now, &mut out),
            Event::Reload { client, config } => self.reload(client, config, now, &mut out),
            Event::Shutdown => self.begin_shutdown(&mut out),
        }
        self.reconcile(now, &mut out);
        self.answer_waiters(&mut out);
        self.forget_retired();
        if self.shutting_down && !self.exit_sent && !self.anything_active() {
            self.exit_sent = true;
            out.push(Action::Exit);
        }
        out
    }

    /// The earliest instance timer, for the loop's poll timeout. `None`: sleep until an event.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.services
            .values()
            .flat_map(|s| s.instances.values())
            .filter_map(|i| i.deadline)
            .min()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// The display name of an instance (`web`, `web:1`).
    pub fn instance_name(&self, id: &InstanceId) -> String {
        match self.services.get(&id.service) {
            Some(service) => service.instance_name(id.index),
            None => format!("{}:{}", id.service, id.index),
        }
    }

    /// The process spec of a service (for the loop's output handling and `tail`).
    pub fn process_spec(&self, service: &str) -> Option<&Arc<ProcessSpec>> {
        self.services.get(service).map(|s| &s.process)
    }

    /// Resolves `all`, `NAME` or `NAME:N` to instances; an unknown name is an error.
    pub fn resolve(&self, names: &[String]) -> Result<Vec<InstanceId>, String> {
        let mut ids = Vec::new();
        for name in names {
            if name == "all" {
                ids.extend(self.all_ids());
                continue;
            }
            let (service_name, index) = match name.rsplit_once(':') {
                Some((service, index)) => match index.parse::<u32>() {
                    Ok(index) => (service, Some(index)),
                    Err(_) => return Err(format!("no such instance: {name}")),
                },
                None => (name.as_str(), None),
            };
            let service = match self.services.get(service_name) {
                Some(s) if !s.removed => s,
                _ => return Err(format!("no such service: {service_name}")),
            };
            match index {
                Some(index) if index < service.spec.numprocs => ids.push(InstanceId {
                    service: service_name.to_string(),
                    index,
                }),
                Some(_) => return Err(format!("no such instance: {name}")),
                None => ids.extend((0..service.spec.numprocs).map(|index| InstanceId {
                    service: service_name.to_string(),
                    index,
                })),
            }
        }
        ids.dedup();
        Ok(ids)
    }

    fn all_ids(&self) -> Vec<InstanceId> {
        self.services
            .values()
            .filter(|s| !s.removed)
            .flat_map(|s| {
                s.instances
                    .iter()
                    .filter(|(_, i)| !i.retiring)
                    .map(|(index, _)| InstanceId {
                        service: s.spec.name.clone(),
                        index: *index,
                    })
            })
            .collect()
    }

    fn instance(&self, id: &InstanceId) -> Option<&Instance> {
        self.services.get(&id.service)?.instances.get(&id.index)
    }

    fn instance_mut(&mut self, id: &InstanceId) -> Option<&mut Instance> {
        self.services
            .get_mut(&id.service)?
            .instances
            .get_mut(&id.index)
    }

    fn anything_active(&self) -> bool {
        !self.pids.is_empty()
            || self
                .services
                .values()
                .flat_map(|s| s.instances.values())
                .any(|i| i.is_active())
    }

    // ---- starting and stopping -------------------------------------------------------

    /// Sets every instance of `name` (and what it requires or wants) to go up.
    fn start_service(&mut self, name: &str, out: &mut Actions) {
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

    fn start_instance(&mut self, id: &InstanceId, out: &mut Actions) {
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
        instance.failed_starts = 0;
        instance.crash_streak = 0;
        if !instance.is_active() {
            instance.state = State::Pending;
            instance.deadline = None;
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
    fn stop_service(&mut self, name: &str) {
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

    fn stop_instance(&mut self, id: &InstanceId) {
        let Some(instance) = self.instance_mut(id) else {
            return;
        };
        if instance.goal == Goal::Down && !instance.is_waiting_to_start() {
            return;
        }
        instance.goal = Goal::Down;
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

    fn begin_shutdown(&mut self, out: &mut Actions) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        out.push(log(Level::Info, "shutdown: stopping every service"));
        for id in self.all_ids() {
            self.stop_instance(&id);
        }
        // Instances removed by a reload that are still stopping count too.
        for service in self.services.values_mut() {
            for instance in service.instances.values_mut() {
                instance.goal = Goal::Down;
            }
        }
    }

    /// Sends the stop signal (the instance is STOPPING until it exits; SIGKILL at the deadline).
    fn send_stop(&mut self, id: &InstanceId, now: Instant, out: &mut Actions) {
        let name = self.instance_name(id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let policy = &service.spec.policy;
        let (signal, stoptime) = (policy.stopsignal, policy.stoptime);
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
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
            // A restart (requested, or by reload): what requires it goes down with it and
            // comes back after it, as after a crash. A stop for good (goal Down) instead
            // stops the dependents first, through `stop_instance` and `reconcile`.
            self.bounce_dependents(&id.service, now, out);
        }
    }

    // ---- process events ----------------------------------------------------------------

    fn on_spawned(
        &mut self,
        id: InstanceId,
        result: Result<i32, String>,
        now: Instant,
        out: &mut Actions,
    ) {
        let name = self.instance_name(&id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let starttime = service.spec.policy.starttime;
        let oneshot = service.is_oneshot();
        let essential = service.spec.policy.essential;
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        match result {
            Ok(pid) => {
                instance.pid = Some(pid);
                self.pids.insert(pid, id);
                out.push(log(Level::Info, format!("{name} spawned with pid {pid}")));
                if starttime.is_zero() && !oneshot {
                    instance.deadline = None;
                    become_running(instance, &name, now, out);
                }
            }
            Err(reason) => {
                instance.state = State::Fatal;
                instance.goal = Goal::Down;
                instance.deadline = None;
                instance.detail = Some(reason.clone());
                out.push(log(Level::Error, format!("{name} FATAL: {reason}")));
                if essential {
                    out.push(Action::EssentialFailed { name });
                }
            }
        }
    }

    fn on_exit(&mut self, pid: i32, status: ExitStatus, now: Instant, out: &mut Actions) {
        let Some(id) = self.pids.remove(&pid) else {
            return; // an orphan we reaped as subreaper / PID 1: nothing to decide
        };
        let name = self.instance_name(&id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let policy = service.spec.policy.clone();
        let oneshot = service.is_oneshot();
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        instance.pid = None;
        instance.last_exit = Some(status);
        instance.deadline = None;
        let was = instance.paused_from.take().unwrap_or(instance.state);
        let expected = policy::is_expected(&policy, status);
        let how = if expected { "expected" } else { "unexpected" };
        // Whatever ended, leftovers of its process group must not outlive it when we
        // meant it to stop; the group id stays reserved while members remain.
        let mut fatal = false;
        let mut left_running = false;

        if was == State::Stopping || instance.goal == Goal::Down {
            out.push(Action::Signal {
                pid,
                signal: libc::SIGKILL,
                group: true,
            });
            instance.state = State::Stopped;
            instance.detail = None;
            out.push(log(
                Level::Info,
                format!("{name} (pid {pid}) exited with {status}: STOPPED"),
            ));
            if instance.goal == Goal::Up {
                instance.state = State::Pending; // restart requested: reconcile respawns it
            }
        } else if oneshot {
            if expected {
                instance.state = State::Exited;
                instance.detail = None;
                out.push(log(
                    Level::Info,
                    format!("{name} (pid {pid}) exited with {status} (expected): EXITED"),
                ));
            } else {
                fatal = true;
                instance.state = State::Fatal;
                instance.detail = Some(format!("oneshot failed with {status}"));
                out.push(log(
                    Level::Error,
                    format!("{name} (pid {pid}) exited with {status} (unexpected): FATAL"),
                ));
            }
            instance.goal = Goal::Down;
        } else if was == State::Starting {
            if policy::is_failed_start(&policy, status) {
                instance.failed_starts += 1;
                let attempt = instance.failed_starts;
                if attempt > policy.startretries {
                    fatal = true;
                    instance.state = State::Fatal;
                    instance.goal = Goal::Down;
                    let reason = format!(
                        "exited with {status} before starttime, {} attempt(s), giving up",
                        attempt
                    );
                    out.push(log(
                        Level::Error,
                        format!("{name} (pid {pid}) FATAL: {reason}"),
                    ));
                    instance.detail = Some(reason);
                } else {
                    let delay = policy::backoff_delay(attempt);
                    instance.state = State::Backoff;
                    instance.deadline = Some(now + delay);
                    instance.restarts += 1;
                    instance.detail = Some(format!("exited with {status} before starttime"));
                    out.push(log(
                        Level::Warning,
                        format!(
                            "{name} (pid {pid}) exited with {status} ({how}) before starttime: BACKOFF, restart attempt {attempt}/{} in {}",
                            policy.startretries,
                            seconds(delay)
                        ),
                    ));
                }
            } else {
                instance.state = State::Exited;
                instance.goal = Goal::Down;
                instance.detail = None;
                out.push(log(
                    Level::Info,
                    format!("{name} (pid {pid}) exited with {status} ({how}): EXITED"),
                ));
            }
        } else {
            // It had reached RUNNING (or was paused while running).
            left_running = true;
            let level = if expected {
                Level::Info
            } else {
                Level::Warning
            };
            if policy::restarts_after_running(&policy, status) {
                let stable = instance
                    .running_since
                    .is_some_and(|since| now.duration_since(since) >= policy::STABLE_AFTER);
                instance.crash_streak = if stable { 0 } else { instance.crash_streak + 1 };
                instance.restarts += 1;
                instance.state = State::Pending;
                instance.detail = None;
                let when = if instance.crash_streak == 0 {
                    "now".to_string()
                } else {
                    let delay = policy::backoff_delay(instance.crash_streak);
                    instance.deadline = Some(now + delay);
                    instance.detail = Some(format!("restart in {}", seconds(delay)));
                    format!("in {}", seconds(delay))
                };
                out.push(log(
                    level,
                    format!("{name} (pid {pid}) exited with {status} ({how}): restarting {when}"),
                ));
            } else {
                instance.state = State::Exited;
                instance.goal = Goal::Down;
                instance.detail = None;
                out.push(log(
                    level,
                    format!("{name} (pid {pid}) exited with {status} ({how}): EXITED"),
                ));
            }
        }
        instance.running_since = None;
        if fatal && policy.essential {
            out.push(Action::EssentialFailed { name: name.clone() });
        }
        if left_running {
            self.bounce_dependents(&id.service, now, out);
        }
    }

    /// A dependency left RUNNING: what requires it goes down now and comes back once the
    /// dependency is up again (its goal stays Up, so reconcile respawns it in order).
    /// `send_stop` bounces their own dependents in turn, down the whole chain.
    fn bounce_dependents(&mut self, service: &str, now: Instant, out: &mut Actions) {
        let dependents: Vec<String> = self.deps.required_by(service).to_vec();
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

    fn on_stopped(&mut self, pid: i32, out: &mut Actions) {
        let Some(id) = self.pids.get(&pid).cloned() else {
            return;
        };
        let name = self.instance_name(&id);
        let Some(instance) = self.instance_mut(&id) else {
            return;
        };
        if matches!(instance.state, State::Starting | State::Running) {
            instance.paused_from = Some(instance.state);
            instance.state = State::Paused;
            out.push(log(
                Level::Info,
                format!("{name} (pid {pid}) paused: PAUSED"),
            ));
        }
    }

    fn on_continued(&mut self, pid: i32, now: Instant, out: &mut Actions) {
        let Some(id) = self.pids.get(&pid).cloned() else {
            return;
        };
        let name = self.instance_name(&id);
        let starttime = match self.services.get(&id.service) {
            Some(s) => s.spec.policy.starttime,
            None => return,
        };
        let Some(instance) = self.instance_mut(&id) else {
            return;
        };
        if instance.state != State::Paused {
            return;
        }
        let back_to = instance.paused_from.take().unwrap_or(State::Running);
        instance.state = back_to;
        if back_to == State::Starting {
            // Time spent stopped does not count towards starttime.
            instance.deadline = Some(now + starttime);
        }
        out.push(log(
            Level::Info,
            format!("{name} (pid {pid}) resumed: {}", back_to.word()),
        ));
    }

    fn on_tick(&mut self, now: Instant, out: &mut Actions) {
        let due: Vec<InstanceId> = self
            .services
            .iter()
            .flat_map(|(name, s)| {
                s.instances
                    .iter()
                    .filter(|(_, i)| i.deadline.is_some_and(|d| d <= now))
                    .map(|(index, _)| InstanceId {
                        service: name.clone(),
                        index: *index,
                    })
            })
            .collect();
        for id in due {
            let name = self.instance_name(&id);
            let Some(instance) = self.instance_mut(&id) else {
                continue;
            };
            match instance.state {
                State::Starting => {
                    instance.deadline = None;
                    become_running(instance, &name, now, out);
                }
                State::Stopping => {
                    instance.deadline = None;
                    if let Some(pid) = instance.pid {
                        out.push(log(
                            Level::Warning,
                            format!("{name} (pid {pid}) did not stop within stoptime: SIGKILL"),
                        ));
                        out.push(Action::Signal {
                            pid,
                            signal: libc::SIGKILL,
                            group: true,
                        });
                    }
                }
                // PENDING/BACKOFF retries: reconcile spawns them now that the time has come.
                State::Pending | State::Backoff => instance.deadline = None,
                _ => instance.deadline = None,
            }
        }
    }

    // ---- reconcile -----------------------------------------------------------------------

    /// Moves every instance towards its goal, respecting dependency order both ways.
    fn reconcile(&mut self, now: Instant, out: &mut Actions) {
        let ids: Vec<InstanceId> = self
            .services
            .iter()
            .flat_map(|(name, s)| {
                s.instances.keys().map(|index| InstanceId {
                    service: name.clone(),
                    index: *index,
                })
            })
            .collect();
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
            if goal == Goal::Up && instance.is_waiting_to_start() && !timer_pending {
                self.try_spawn(&id, now, out);
            } else if goal == Goal::Down && active && state != State::Stopping {
                if let Some(waiting_for) = self.alive_stopping_dependent(&id.service) {
                    if let Some(instance) = self.instance_mut(&id) {
                        instance.detail = Some(format!("waiting for {waiting_for} to stop"));
                    }
                } else {
                    self.send_stop(&id, now, out);
                }
            }
        }
    }

    /// A service that waits for `service`, is going down, and still has a process: stopping
    /// `service` must wait for it (reverse dependency order).
    fn alive_stopping_dependent(&self, service: &str) -> Option<String> {
        self.deps.waited_by(service).iter().find_map(|dependent| {
            let s = self.services.get(dependent)?;
            s.instances
                .values()
                .any(|i| i.goal == Goal::Down && i.is_active())
                .then(|| dependent.clone())
        })
    }

    fn try_spawn(&mut self, id: &InstanceId, now: Instant, out: &mut Actions) {
        let verdict = self.dependency_verdict(&id.service);
        let name = self.instance_name(id);
        let Some(service) = self.services.get_mut(&id.service) else {
            return;
        };
        let spec = service.process.clone();
        let oneshot = service.is_oneshot();
        let starttime = service.spec.policy.starttime;
        let Some(instance) = service.instances.get_mut(&id.index) else {
            return;
        };
        match verdict {
            Verdict::Go => {
                instance.state = State::Starting;
                instance.blocked = false;
                instance.detail = None;
                instance.spawned_at = Some(now);
                instance.running_since = None;
                instance.deadline = (!oneshot && !starttime.is_zero()).then(|| now + starttime);
                out.push(Action::Spawn {
                    id: id.clone(),
                    name,
                    spec,
                });
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
    fn dependency_verdict(&self, service: &str) -> Verdict {
        for (dep, kind) in self.deps.waits_for(service) {
            let Some(dep_service) = self.services.get(dep) else {
                continue;
            };
            let health = health_of(dep_service);
            match (kind, health) {
                (_, Health::Up) => {}
                (DepKind::Requires, Health::Failed) => {
                    return Verdict::Blocked(format!("dependency {dep} is FATAL"));
                }
                (DepKind::Requires, _) => return Verdict::Wait(format!("waiting for {dep}")),
                (_, Health::Starting) => return Verdict::Wait(format!("waiting for {dep}")),
                (DepKind::Wants | DepKind::After, Health::Failed | Health::Idle) => {}
            }
        }
        Verdict::Go
    }

    /// Forgets instances and services that a reload removed, once they have stopped.
    fn forget_retired(&mut self) {
        for service in self.services.values_mut() {
            service
                .instances
                .retain(|_, i| !i.retiring || i.is_active());
        }
        self.services
            .retain(|_, s| !(s.removed && s.instances.is_empty()));
    }
}

enum Verdict {
    Go,
    Wait(String),
    Blocked(String),
}

/// A dependency's condition, summed over its instances.
#[derive(Debug, PartialEq, Eq)]
enum Health {
    /// Every instance RUNNING (a oneshot: exited successfully).
    Up,
    /// An instance is FATAL (a oneshot failed): hard dependents are held back.
    Failed,
    /// On its way up.
    Starting,
    /// Not asked to run.
    Idle,
}

fn health_of(service: &Service) -> Health {
    let instances: Vec<&Instance> = service.instances.values().filter(|i| !i.retiring).collect();
    let up = |i: &&Instance| {
        i.state == State::Running || (service.is_oneshot() && i.state == State::Exited)
    };
    if instances.iter().all(up) {
        Health::Up
    } else if instances.iter().any(|i| i.state == State::Fatal) {
        Health::Failed
    } else if instances.iter().any(|i| i.goal == Goal::Up) {
        Health::Starting
    } else {
        Health::Idle
    }
}

fn become_running(instance: &mut Instance, name: &str, now: Instant, out: &mut Actions) {
    instance.state = State::Running;
    instance.failed_starts = 0;
    instance.running_since = Some(now);
    instance.detail = None;
    let pid = instance
        .pid
        .map(|p| format!(" (pid {p})"))
        .unwrap_or_default();
    out.push(log(Level::Info, format!("{name}{pid} is RUNNING")));
}

fn log(level: Level, text: impl Into<String>) -> Action {
    Action::Log {
        level,
        text: text.into(),
    }
}

fn seconds(duration: std::time::Duration) -> String {
    format!("{:.2}s", duration.as_secs_f64())
}
