//! The pure core: every decision, no system calls, no clock of its own.
//!
//! The event loop feeds [`Event`]s with the current time into [`Supervisor::handle`] and
//! performs the [`Action`]s it returns. After each event the core *reconciles*: it moves
//! every instance towards its goal (up or down), in dependency order, and answers the
//! clients whose start/stop has settled. Its only timer is [`Supervisor::next_deadline`].

mod analyze;
mod checks;
mod cron;
mod demand;
mod deps;
mod drain;
mod events;
mod goals;
mod handover;
mod hook_jobs;
pub mod hooks;
mod instance;
mod instance_map;
mod jobs;
mod level;
pub mod notify;
mod pids;
pub mod policy;
mod prestart;
mod readiness;
mod reconcile;
mod reload;
mod reply;
mod requests;
mod rescue;
mod schedule;
mod services;
pub mod state;
#[cfg(test)]
mod tests;
mod timeline;
mod timers;
mod transitions;
mod waiters;
pub mod watch;
mod why;

pub use analyze::{millis_text, TimelineHandover};
pub use deps::DepKind;
pub use handover::{HandoverBusy, InstanceHandover};
pub use instance::{ForcedStop, Goal, Instance};
pub use jobs::{Adoption, JobRequest, MAX_ENDED_JOBS, MAX_LIVE_JOBS};
pub use level::Level;
pub use reply::{
    Analysis, AnalyzeEntry, Command, InstanceName, InstanceOutcome, InstanceStatus, ProcessIds,
    Refusal, Reply, StatusView,
};
pub use services::Touched;
pub use state::{ExitStatus, State};
pub use why::{span, WhyStep};

use crate::config::{Config, ProcessSpec, ServiceSpec, ServiceType};

use deps::DepTable;
use instance_map::InstanceMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use waiters::Waiter;

/// Identifies a connected client, so that a reply can come later (start waits for RUNNING).
pub type ClientId = u64;

/// Why a spawn failed. A transient failure (out of processes, descriptors or memory: the
/// machine, not the service file) counts as a failed start and is retried with back-off;
/// any other is FATAL at once (a missing program does not appear by retrying).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnFailure {
    pub reason: String,
    pub transient: bool,
}

/// An instance: the service name and its index (0 when numprocs is 1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId {
    pub service: String,
    pub index: u32,
}

/// `InstanceId` of `service` and `index`, for tests.
#[cfg(test)]
pub(crate) fn instance_id(service: &str, index: u32) -> InstanceId {
    InstanceId {
        service: service.into(),
        index,
    }
}

#[derive(Debug)]
pub enum Event {
    /// The daemon is up: start every autostart service.
    Boot,
    /// The daemon is up in rescue mode: start only the autostart services marked
    /// `rescue #true` (and what they require).
    RescueBoot,
    /// The rescue shell was left: start every other autostart service.
    LeaveRescue,
    /// The result of an [`Action::Spawn`]: a pid, or why the program could not be executed.
    Spawned {
        id: InstanceId,
        purpose: Purpose,
        result: Result<i32, SpawnFailure>,
    },
    /// The process of an earlier `Spawned { Ok(pid) }` could not be executed after all (the
    /// child's report came in after fork); its exit, reaped later, is not an exit of the
    /// service.
    ExecFailed {
        id: InstanceId,
        pid: i32,
        failure: SpawnFailure,
    },
    /// A `pre-start` process ([`Purpose::PreStart`] or [`Purpose::Check`]) was reaped; the
    /// loop gives its output (stdout and stderr together, the end of it when long).
    HelperExited {
        pid: i32,
        status: ExitStatus,
        output: String,
    },
    /// The last line a process wrote to its captured stderr, given just before its exit
    /// (a FATAL instance shows it).
    LastStderr { pid: i32, line: String },
    /// The OOM killer killed in the cgroup of this (reaped, not yet reported) process:
    /// given just before its [`Event::Exited`], so that its exit is reported as such.
    OomKilled { pid: i32, reason: String },
    /// Processes are left in the cgroup of this (reaped, not yet reported) main process:
    /// given just before its [`Event::Exited`]; the instance stays STOPPING until
    /// [`Event::CgroupEmpty`] (see drain.rs).
    Leftovers { pid: i32, processes: usize },
    /// The cgroup of an instance that had [`Event::Leftovers`] has no process any more.
    CgroupEmpty { id: InstanceId },
    /// waitpid reported a dead child (any child: orphans too).
    Exited { pid: i32, status: ExitStatus },
    /// waitpid reported a child stopped (SIGSTOP, by anyone).
    Stopped { pid: i32 },
    /// waitpid reported a child continued (SIGCONT, by anyone).
    Continued { pid: i32 },
    /// [`Supervisor::next_deadline`] has passed.
    Tick,
    /// A request from `tmctl` that the core answers (the loop answers tail, reload, reopen).
    Request { client: ClientId, request: Command },
    /// A new, validated config to apply.
    Reload {
        client: Option<ClientId>,
        config: Config,
    },
    /// Stop everything in reverse dependency order, then [`Action::Exit`].
    Shutdown,
    /// A datagram on the notify socket: who sent it (from its kernel credentials and
    /// /proc), what it says, and, for `MAINPID=`, the same facts about the named process.
    Notify {
        sender: notify::ProcessFacts,
        message: notify::NotifyMessage,
        main_pid: Option<notify::ProcessFacts>,
    },
    /// A service with `ready "fd:N"` wrote a newline on its readiness pipe.
    FdReady { id: InstanceId, pid: i32 },
    /// `tmctl run`, validated by the loop.
    Run {
        client: ClientId,
        job: Box<JobRequest>,
    },
    /// `tmctl adopt`: the loop has opened a pidfd for the process.
    Adopt {
        client: ClientId,
        adoption: Box<Adoption>,
    },
    /// The pidfd of an adopted process said it ended; `status` when the kernel told it.
    AdoptedExited {
        pid: i32,
        status: Option<ExitStatus>,
    },
    /// A file a service watches changed (written and closed, renamed, created, deleted,
    /// attributes): it is restarted (or signalled) once its files have been quiet a while.
    WatchedChanged {
        service: String,
        path: std::path::PathBuf,
    },
    /// A connection waits on a socket of a `start-on-demand` service that is down.
    Demand { service: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Fork/exec this instance's program (or its `pre-start`, see [`Purpose`]); answer
    /// with [`Event::Spawned`].
    Spawn {
        id: InstanceId,
        name: String,
        spec: Arc<ProcessSpec>,
        purpose: Purpose,
    },
    /// Send a signal to a process group (`group`) or just to the process.
    Signal {
        pid: i32,
        signal: i32,
        group: bool,
    },
    /// Send a signal to every process in the instance's cgroup (SIGKILL: `cgroup.kill`), the
    /// leftovers of its exited main process; the loop answers [`Event::CgroupEmpty`].
    SignalCgroup {
        id: InstanceId,
        signal: i32,
    },
    Log {
        level: Level,
        text: String,
    },
    Reply {
        client: ClientId,
        response: Reply,
    },
    /// Shutdown is complete: nothing runs any more.
    Exit,
    /// An `essential` service went FATAL: the whole supervisor must shut down.
    EssentialFailed {
        name: String,
    },
    /// Send this instance's output (both streams, in order, nothing skipped) to the client
    /// that runs it, until its [`Reply::JobEnded`].
    Attach {
        client: ClientId,
        id: InstanceId,
    },
    /// The instance is gone for good (an ended job forgotten): drop its captured output.
    Forget {
        id: InstanceId,
    },
    /// An instance changed state (or its process exited), for `tmctl events` subscribers.
    Publish(hooks::StateEvent),
}

/// What a spawned process is for. A `pre-start` runs with the service's spec (its user,
/// environment, working directory, limits) and `cmd` replaced; its output is collected by
/// the loop and handed back with [`Event::HelperExited`], not captured for `tail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The service's own program.
    Main,
    /// `pre-start` before a start of this instance: the program starts only if it succeeds.
    PreStart,
    /// `pre-start` with a reloaded config, while the old process keeps running: the new
    /// config is applied (and the service restarted) only if it succeeds.
    Check,
}

/// A `pre-start` process the core waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Helper {
    PreStart(InstanceId),
    Check(String),
}

struct Service {
    spec: ServiceSpec,
    process: Arc<ProcessSpec>,
    instances: InstanceMap,
    /// Removed by a reload: dropped once every instance has stopped.
    removed: bool,
    /// A reloaded config (or a restart) waiting for its `pre-start` check; `spec` stays the
    /// running one meanwhile. Boxed, as `job` is: few services ever have either, and the
    /// core's map holds every service inline (88 of its 368 bytes, bench/PROFILES.md).
    candidate: Option<Box<Candidate>>,
    /// A job (`run`, `adopt`): not from a file, left alone by reloads.
    job: Option<Box<jobs::JobInfo>>,
}

/// What waits for a `pre-start` check to pass.
enum Vetted {
    /// A reloaded spec, applied (and the service restarted) if it passes.
    Reload(Box<ServiceSpec>),
    /// `tmctl restart` of these running instances, done if it passes.
    Restart(Vec<InstanceId>),
}

/// A change held back until its `pre-start` has passed, while the old process runs on.
struct Candidate {
    vetted: Vetted,
    /// The check's process, once spawned.
    pid: Option<i32>,
    /// When it is killed if it has not finished; `None` once that was done.
    deadline: Option<Instant>,
}

impl Service {
    fn new(spec: ServiceSpec) -> Service {
        let process = Arc::clone(&spec.process);
        let instances = InstanceMap::numbered(spec.numprocs);
        Service {
            spec,
            process,
            instances,
            removed: false,
            candidate: None,
            job: None,
        }
    }

    /// An instance's name as `tmctl status` shows it: the service's alone for its only
    /// instance, else with the index.
    fn name_of(&self, index: u32) -> InstanceName<'_> {
        let name = &self.spec.name;
        if self.spec.numprocs == 1 && index == 0 {
            InstanceName::Whole(name)
        } else {
            InstanceName::Indexed(name, index)
        }
    }

    fn is_oneshot(&self) -> bool {
        self.spec.process.kind == ServiceType::Oneshot
    }
}

pub struct Supervisor {
    services: services::Services,
    /// Instances that may have something for reconcile to do: every instance it would act
    /// on is here (an instance that changed is looked at again, see services.rs), so that
    /// it need not walk every instance after every event.
    work: std::collections::BTreeSet<InstanceId>,
    /// Every instance and check deadline, in order (see timers.rs).
    timers: timers::Timers,
    /// The services with `start-on-demand` (kept with the timers, from the services that
    /// changed): the loop asks which wait for connections every turn.
    on_demand: std::collections::BTreeSet<String>,
    deps: DepTable,
    /// pid → instance, for every process we spawned and have not reaped yet.
    pids: pids::Pids,
    /// pid → what it checks, for every `pre-start` process not reaped yet.
    helpers: HashMap<i32, Helper>,
    waiters: Vec<Waiter>,
    shutting_down: bool,
    exit_sent: bool,
    /// Notify senders already logged as belonging to no notify instance (logged once).
    strangers: std::collections::HashSet<i32>,
    jobs: jobs::JobBook,
    /// Starts scheduled by `start --in`/`--at`.
    schedules: schedule::Schedules,
    /// The next run of each service with a `schedule`.
    crons: cron::CronTable,
    /// `on-event` hooks running and waiting.
    hooks: hooks::HookRunner,
    /// A hook's run was started or stopped during this event: reconcile once more after
    /// the changes were published (see `settle_hooks`).
    hook_reconcile: bool,
    /// Watched files that changed, waiting to be quiet.
    changes: watch::PendingChanges,
    /// The first start of each instance since boot, for `tmctl analyze`.
    timeline: timeline::Timeline,
    /// Booted in rescue mode and not left yet: only `rescue #true` services start by
    /// themselves.
    rescue: bool,
    /// A reload (or `tmctl remove`) marked instances or services to go: `forget_retired`
    /// looks for them until none is left, instead of walking every instance after every
    /// event.
    retiring: bool,
    /// What [`Supervisor::next_deadline`] found, until the next change: the loop asks
    /// twice per turn, and each answer walks every instance. Every `&mut self` entry point
    /// empties it (see `touched`).
    deadline_cache: std::cell::Cell<Option<Option<Instant>>>,
}

/// What the core returns from one event.
pub type Actions = Vec<Action>;

impl Supervisor {
    pub fn new(config: Config) -> Supervisor {
        let deps = DepTable::new(&config);
        let mut pids = pids::Pids::default();
        pids.know(config.services.keys().map(String::as_str));
        let services = config
            .services
            .into_iter()
            .map(|(name, spec)| (name, Service::new(spec)))
            .collect();
        Supervisor {
            services,
            work: Default::default(),
            timers: Default::default(),
            on_demand: Default::default(),
            deps,
            pids,
            helpers: HashMap::new(),
            waiters: Vec::new(),
            shutting_down: false,
            exit_sent: false,
            strangers: Default::default(),
            jobs: Default::default(),
            schedules: Default::default(),
            crons: Default::default(),
            hooks: Default::default(),
            hook_reconcile: false,
            changes: Default::default(),
            timeline: Default::default(),
            rescue: false,
            retiring: false,
            deadline_cache: Default::default(),
        }
    }

    /// Called by every public `&mut self` method: the state may change, so what was
    /// worked out from it is worked out again.
    fn touched(&mut self) {
        self.deadline_cache.set(None);
    }

    /// The service's name as the core's tables share it, made once at load (see
    /// `crate::shared_names`): the daemon's tables with an entry per instance hold it too,
    /// instead of a set of copies of their own.
    pub fn shared_name(&self, service: &str) -> Arc<str> {
        self.pids.shared_name(service)
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Actions {
        self.handle_all(std::iter::once(event), now)
    }

    /// Several events at once (what one loop turn reaped): each is applied in order, then
    /// what follows from all of them (reconcile, state events, hooks, the exit check) is
    /// worked out once. Each of those walks every instance: with 1,000 services stopping,
    /// once per exit made a shutdown quadratic.
    pub fn handle_all(&mut self, events: impl IntoIterator<Item = Event>, now: Instant) -> Actions {
        self.touched();
        let mut out = Vec::new();
        let mut exits = Vec::new();
        let mut applied = false;
        for event in events {
            if let Event::Exited { pid, status } = event {
                if !self.pids.contains_key(&pid) {
                    // An orphan reaped as PID 1 or subreaper: nothing changed for any
                    // service, and an orphan storm must not cost a reconcile per reaped
                    // process.
                    continue;
                }
                exits.extend(self.seen_exit(pid, status));
            }
            applied = true;
            self.apply(event, now, &mut out);
        }
        if !applied {
            return out;
        }
        self.settle(exits, now, &mut out);
        self.refresh_timers();
        out
    }

    /// Brings the timers (and the list of `start-on-demand` services) up to date with the
    /// services that changed.
    fn refresh_timers(&mut self) {
        match self.services.untimed.take() {
            services::Touched::All => {
                self.timers.rebuild(&self.services);
                self.on_demand = self
                    .services
                    .iter()
                    .filter(|(_, s)| s.spec.triggers.start_on_demand)
                    .map(|(name, _)| name.clone())
                    .collect();
            }
            services::Touched::Some(names) => {
                for name in names {
                    let service = self.services.get(&name);
                    self.timers.update(&name, service);
                    if service.is_some_and(|s| s.spec.triggers.start_on_demand) {
                        self.on_demand.insert(name);
                    } else {
                        self.on_demand.remove(&name);
                    }
                }
            }
        }
    }

    /// What one event changes by itself.
    fn apply(&mut self, event: Event, now: Instant, out: &mut Actions) {
        match event {
            Event::Boot => self.boot(false, now, out),
            Event::RescueBoot => self.boot(true, now, out),
            Event::LeaveRescue => self.leave_rescue(out),
            Event::Spawned {
                id,
                purpose: Purpose::Main,
                result,
            } => self.on_spawned(id, result, now, out),
            Event::Spawned {
                id,
                purpose,
                result,
            } => self.on_helper_spawned(id, purpose, result, now, out),
            Event::HelperExited {
                pid,
                status,
                output,
            } => self.on_helper_exit(pid, status, output, now, out),
            Event::WatchedChanged { service, path } => self.on_watched_change(service, path, now),
            Event::Demand { service } => self.on_demand(&service, out),
            Event::LastStderr { pid, line } => self.on_last_stderr(pid, line),
            Event::OomKilled { pid, reason } => self.on_oom_killed(pid, reason, out),
            Event::Leftovers { pid, processes } => self.on_leftovers(pid, processes),
            Event::CgroupEmpty { id } => self.on_cgroup_empty(&id, out),
            Event::ExecFailed { id, pid, failure } => {
                self.on_exec_failed(id, pid, failure, now, out)
            }
            Event::Exited { pid, status } => self.on_exit(pid, status, now, out),
            Event::Stopped { pid } => self.on_stopped(pid, out),
            Event::Continued { pid } => self.on_continued(pid, now, out),
            Event::Tick => {
                for step in self.hooks.on_tick(now) {
                    self.hook_step(step, now, out);
                }
                self.act_on_changes(now, out);
                self.on_tick(now, out)
            }
            Event::Request { client, request } => {
                let request = self
                    .on_job_request(client, request, out)
                    .and_then(|r| self.on_schedule_request(client, r, now, out));
                if let Some(request) = request {
                    self.on_request(client, request, now, out)
                }
            }
            Event::Run { client, job } => self.on_run(client, *job, now, out),
            Event::Adopt { client, adoption } => self.on_adopt(client, *adoption, now, out),
            Event::AdoptedExited { pid, status } => self.on_adopted_exit(pid, status, now, out),
            Event::Reload { client, config } => {
                self.reload(client, config, now, out);
                self.crons.mark_stale();
                self.forget_removed_hooks();
                self.forget_removed_watches();
            }
            Event::Shutdown => {
                self.hooks.drop_pending();
                self.begin_shutdown(out)
            }
            Event::Notify {
                sender,
                message,
                main_pid,
            } => self.on_notify(sender, message, main_pid, now, out),
            Event::FdReady { id, pid } => self.on_fd_ready(&id, pid, now, out),
        }
    }

    /// What follows from the events just applied; `exits` are the main processes among
    /// them that ended, in the order they were reaped.
    fn settle(&mut self, exits: Vec<transitions::SeenExit>, now: Instant, out: &mut Actions) {
        self.fire_schedules(now, out);
        self.fire_crons(now, out);
        self.expire_jobs(now, out);
        self.reconcile(now, out);
        self.answer_waiters(out);
        self.publish_transitions(exits, now, out);
        self.settle_hooks(now, out);
        self.settle_jobs(now, out);
        self.forget_retired();
        self.ungroup_adopted(out);
        if self.shutting_down && !self.exit_sent && !self.anything_active() {
            self.exit_sent = true;
            out.push(Action::Exit);
        }
    }

    /// The earliest instance timer, for the loop's poll timeout. `None`: sleep until an event.
    pub fn next_deadline(&self) -> Option<Instant> {
        if let Some(known) = self.deadline_cache.get() {
            return known;
        }
        let deadline = self.find_next_deadline();
        self.deadline_cache.set(Some(deadline));
        deadline
    }

    /// [`Supervisor::next_deadline`], worked out: one walk over the services.
    fn find_next_deadline(&self) -> Option<Instant> {
        let timers = if self.services.untimed.is_empty() {
            self.timers.earliest()
        } else {
            // Changed since the timers were brought up to date (outside `handle_all`): a
            // walk, as the timers would have to be changed to be asked.
            self.services
                .values()
                .filter_map(|s| {
                    let instances = s.instances.values().filter_map(|i| i.deadline).min();
                    let check = s.candidate.as_ref().and_then(|c| c.deadline);
                    instances.into_iter().chain(check).min()
                })
                .min()
        };
        timers
            .into_iter()
            .chain(self.next_job_deadline())
            .chain(self.schedules.next_deadline())
            .chain(self.crons.next_deadline().filter(|_| !self.shutting_down))
            .chain(self.hooks.next_deadline())
            .chain(self.changes.next_deadline())
            .min()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// The display name of an instance (`web`, `web:1`).
    pub fn instance_name(&self, id: &InstanceId) -> String {
        self.name_of(&id.service, id.index).to_string()
    }

    /// The display name of an instance without making it (one of a service no longer
    /// loaded is named with its index).
    pub fn name_of<'a>(&'a self, service: &'a str, index: u32) -> InstanceName<'a> {
        match self.services.get(service) {
            Some(service) => service.name_of(index),
            None => InstanceName::Indexed(service, index),
        }
    }

    /// The instance a (not yet reaped) main process belongs to.
    pub fn instance_of_pid(&self, pid: i32) -> Option<InstanceId> {
        self.pids.get(&pid)
    }

    /// Whether this instance exists (a removed one exists until it has stopped).
    pub fn has_instance(&self, id: &InstanceId) -> bool {
        self.instance(id).is_some()
    }

    /// The process spec of a service (for the loop's output handling and `tail`).
    pub fn process_spec(&self, service: &str) -> Option<&Arc<ProcessSpec>> {
        self.services.get(service).map(|s| &s.process)
    }

    /// The spec a service file gave `service`, exactly as it was loaded and runs now; `None`
    /// for a job, a removed service, or one with a check pending (a reloaded spec waiting
    /// for its `pre-start`). Reload takes these instead of parsing unchanged files again.
    pub fn loaded_spec(&self, service: &str) -> Option<&ServiceSpec> {
        self.services
            .get(service)
            .filter(|s| s.job.is_none() && !s.removed && s.candidate.is_none())
            .map(|s| &s.spec)
    }

    /// Resolves `all`, `NAME` or `NAME:N` to instances; an unknown name is an error.
    pub fn resolve(&self, names: &[String]) -> Result<Vec<InstanceId>, String> {
        // Each distinct name is looked at once and each instance kept once, so the work
        // and the reply grow with what exists, not with how often a request repeats a
        // name (`all` × 9,000 once cost hundreds of MB).
        let mut seen_names = std::collections::HashSet::new();
        let mut seen = std::collections::HashSet::new();
        let mut ids = Vec::new();
        let mut keep = |id: InstanceId, ids: &mut Vec<InstanceId>| {
            if seen.insert(id.clone()) {
                ids.push(id);
            }
        };
        for name in names {
            if !seen_names.insert(name.as_str()) {
                continue;
            }
            if name == "all" {
                for id in self.all_ids() {
                    keep(id, &mut ids);
                }
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
                // Existing instances only: a hook's job has those of its runs going on.
                Some(index)
                    if index < service.spec.numprocs && service.instances.contains_key(&index) =>
                {
                    keep(
                        InstanceId {
                            service: service_name.to_string(),
                            index,
                        },
                        &mut ids,
                    )
                }
                Some(_) => return Err(format!("no such instance: {name}")),
                None => {
                    let existing = service.instances.keys().copied();
                    for index in existing.filter(|i| *i < service.spec.numprocs) {
                        let id = InstanceId {
                            service: service_name.to_string(),
                            index,
                        };
                        keep(id, &mut ids);
                    }
                }
            }
        }
        Ok(ids)
    }

    /// The services changed (an instance's fields, its instances added or removed, the
    /// service itself gone) since the last call, for the loop's state files.
    pub fn take_changed(&mut self) -> Touched {
        self.services.unsynced.take()
    }

    /// The instances of one service, by index (none when it does not exist).
    pub fn instances_of<'a>(
        &'a self,
        service: &str,
    ) -> impl Iterator<Item = (u32, &'a Instance)> + 'a {
        self.services
            .get(service)
            .into_iter()
            .flat_map(|s| s.instances.iter().map(|(index, i)| (*index, i)))
    }

    /// Whether an instance is still STARTING (the loop waits for a start to settle before
    /// it gives back what only the start needed).
    pub fn any_starting(&self) -> bool {
        self.instances().any(|(_, _, i)| i.state == State::Starting)
    }

    /// Every instance with its service name and index, in name order (those a reload is
    /// retiring too: they have a process until they stop). For the loop's views of the core.
    pub fn instances(&self) -> impl Iterator<Item = (&str, u32, &Instance)> + '_ {
        self.services.values().flat_map(|s| {
            s.instances
                .iter()
                .map(move |(index, i)| (s.spec.name.as_str(), *index, i))
        })
    }

    /// The instances a user sees (not those of removed services, nor those a reload is
    /// retiring), in name order, with their service and index.
    fn visible(&self) -> impl Iterator<Item = (&Service, u32, &Instance)> + Clone + '_ {
        self.services.values().filter(|s| !s.removed).flat_map(|s| {
            s.instances
                .iter()
                .filter(|(_, i)| !i.retiring)
                .map(move |(index, i)| (s, *index, i))
        })
    }

    fn all_ids(&self) -> Vec<InstanceId> {
        self.visible()
            .map(|(s, index, _)| InstanceId {
                service: s.spec.name.clone(),
                index,
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
            || !self.helpers.is_empty()
            || self.hooks.any_running()
            || self
                .services
                .values()
                .flat_map(|s| s.instances.values())
                .any(|i| i.is_active())
    }
}

pub(super) fn log(level: Level, text: impl Into<String>) -> Action {
    Action::Log {
        level,
        text: text.into(),
    }
}

pub(super) fn seconds(duration: std::time::Duration) -> String {
    format!("{:.2}s", duration.as_secs_f64())
}
