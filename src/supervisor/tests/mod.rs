//! Scenario tests for the pure core. A fake clock and a fake OS drive [`Supervisor`] through
//! every state and policy; the tests assert exact states, pids, signals, replies and timings.
//!
//! The fake OS answers every [`Action::Spawn`] at once with [`Event::Spawned`] (pids count up
//! from [`FIRST_PID`], or an error for a service marked missing) and writes down what the
//! core asked for as short lines (`spawn web 100`, `signal 100 TERM group`, `exit`,
//! `essential db`), so a test can compare the exact sequence.

use super::*;
use crate::config::{Origin, Output, Policy, RestartPolicy, Rotation};
use crate::supervisor::{InstanceOutcome, InstanceStatus, Refusal};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::time::Duration;
use ExitStatus::{Code, Signal as Sig};
use RestartPolicy::{Always, Never, Unexpected};

const FIRST_PID: i32 = 100;
const TERM: i32 = libc::SIGTERM;
const KILL: i32 = libc::SIGKILL;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `web` → instance 0 of `web`; `web:2` → instance 2.
fn id(name: &str) -> InstanceId {
    match name.split_once(':') {
        Some((service, index)) => InstanceId {
            service: service.to_string(),
            index: index.parse().expect("instance index"),
        },
        None => InstanceId {
            service: name.to_string(),
            index: 0,
        },
    }
}

mod analyze;
mod cron;
mod dependencies;
mod drain;
mod events;
mod handover;
mod jobs;
mod pre_start;
mod readiness;
mod reload;
mod requests;
mod rescue;
mod restart_policy;
mod schedule;
mod stopping;
mod storm;
mod storm_found;
mod truth;
mod why;

// ---- service specs ---------------------------------------------------------------------

/// A service spec with SPEC.md's defaults (program `/bin/NAME`), changed field by field.
struct Svc(ServiceSpec);

fn svc(name: &str) -> Svc {
    Svc(ServiceSpec {
        name: name.to_string(),
        origin: Origin {
            file: PathBuf::from("test.kdl"),
            line: 1,
            column: 1,
        },
        numprocs: 1,
        process: std::sync::Arc::new(ProcessSpec {
            cmd: vec![format!("/bin/{name}")],
            kind: ServiceType::Simple,
            umask: None,
            workingdir: PathBuf::from("/"),
            stdout: Output::Capture,
            stderr: Output::Capture,
            env: Default::default(),
            credentials: Default::default(),
            capabilities: Default::default(),
            no_new_privs: false,
            limits: Default::default(),
            stdout_rotation: Rotation::default(),
            stderr_rotation: Rotation::default(),
            ready: Default::default(),
            watchdog: None,
            env_files: Default::default(),
            resources: Default::default(),
            console: false,
        }),
        policy: Policy {
            autostart: true,
            autorestart: Unexpected,
            exitcodes: vec![0],
            startretries: 3,
            starttime: secs(1),
            stopsignal: TERM,
            stoptime: secs(10),
            essential: false,
            ready_timeout: Duration::from_secs(90),
            restart_limit: None,
            schedule: None,
            rescue: false,
        },
        deps: Default::default(),
        pre_start: None,
        triggers: Default::default(),
    })
}

impl Svc {
    fn numprocs(mut self, n: u32) -> Svc {
        self.0.numprocs = n;
        self
    }
    /// `autostart #false`
    fn manual(mut self) -> Svc {
        self.0.policy.autostart = false;
        self
    }
    fn autorestart(mut self, policy: RestartPolicy) -> Svc {
        self.0.policy.autorestart = policy;
        self
    }
    fn exitcodes(mut self, codes: &[i32]) -> Svc {
        self.0.policy.exitcodes = codes.to_vec();
        self
    }
    fn startretries(mut self, n: u32) -> Svc {
        self.0.policy.startretries = n;
        self
    }
    fn starttime(mut self, d: Duration) -> Svc {
        self.0.policy.starttime = d;
        self
    }
    fn stoptime(mut self, d: Duration) -> Svc {
        self.0.policy.stoptime = d;
        self
    }
    fn stopsignal(mut self, signal: i32) -> Svc {
        self.0.policy.stopsignal = signal;
        self
    }
    /// `rescue #true`
    fn rescue(mut self) -> Svc {
        self.0.policy.rescue = true;
        self
    }
    fn essential(mut self) -> Svc {
        self.0.policy.essential = true;
        self
    }
    fn oneshot(mut self) -> Svc {
        Arc::make_mut(&mut self.0.process).kind = ServiceType::Oneshot;
        self
    }
    fn pre_start(mut self, argv: &[&str]) -> Svc {
        self.0.pre_start = Some(names(argv));
        self
    }
    fn cmd(mut self, argv: &[&str]) -> Svc {
        Arc::make_mut(&mut self.0.process).cmd = names(argv);
        self
    }
    fn requires(mut self, deps: &[&str]) -> Svc {
        self.0.deps.requires = names(deps);
        self
    }
    fn wants(mut self, deps: &[&str]) -> Svc {
        self.0.deps.wants = names(deps);
        self
    }
    fn after(mut self, deps: &[&str]) -> Svc {
        self.0.deps.after = names(deps);
        self
    }
    fn binds_to(mut self, deps: &[&str]) -> Svc {
        self.0.deps.binds_to = names(deps);
        self
    }
    fn notify(mut self) -> Svc {
        Arc::make_mut(&mut self.0.process).ready = crate::config::Readiness::Notify;
        self
    }
    /// `type "oneshot"` and `schedule TEXT` (which makes autostart default to off, as the
    /// loader does).
    fn schedule(mut self, text: &str) -> Svc {
        self.0.policy.schedule = Some(crate::config::CronSchedule::parse(text).expect("cron"));
        self.0.policy.autostart = false;
        self.oneshot()
    }
    fn before(mut self, deps: &[&str]) -> Svc {
        self.0.deps.before = names(deps);
        self
    }
}

fn config(services: impl IntoIterator<Item = Svc>) -> Config {
    Config {
        services: services
            .into_iter()
            .map(|Svc(spec)| (spec.name.clone(), spec))
            .collect(),
    }
}

// ---- the harness: fake clock, fake OS --------------------------------------------------

struct Harness {
    sup: Supervisor,
    t0: Instant,
    now: Instant,
    next_pid: i32,
    /// Services whose program cannot be executed: their spawns fail.
    missing: HashSet<String>,
    /// Processes the fake OS has running: pid → argv.
    alive: BTreeMap<i32, Vec<String>>,
    /// `pre-start` processes running: pid → argv.
    helpers: BTreeMap<i32, Vec<String>>,
    /// What the core asked the OS to do since the last `take_ops`, in order.
    ops: Vec<String>,
    logs: Vec<String>,
    replies: HashMap<ClientId, Vec<Reply>>,
    next_client: ClientId,
    /// State changes published, as `NAME EVENT`.
    published: Vec<String>,
    /// The fake wall clock: its time at `t0`, told to the core before every event as the
    /// loop does (`None`: not told, as in tests that need no wall clock).
    wall: Option<std::time::SystemTime>,
}

impl Harness {
    fn new(config: Config) -> Harness {
        let t0 = Instant::now();
        Harness {
            sup: Supervisor::new(config),
            t0,
            now: t0,
            next_pid: FIRST_PID,
            missing: HashSet::new(),
            alive: BTreeMap::new(),
            helpers: BTreeMap::new(),
            ops: Vec::new(),
            logs: Vec::new(),
            replies: HashMap::new(),
            next_client: 1,
            published: Vec::new(),
            wall: None,
        }
    }

    fn boot(config: Config) -> Harness {
        Harness::new(config).booted()
    }

    fn booted(mut self) -> Harness {
        self.feed(Event::Boot);
        self
    }

    /// Marks a service's program as impossible to execute.
    fn missing(mut self, service: &str) -> Harness {
        self.missing.insert(service.to_string());
        self
    }

    /// Feeds one event and performs the actions, feeding `Spawned` back at once like the loop.
    fn feed(&mut self, event: Event) {
        if let Some(wall) = self.wall {
            self.sup
                .set_wall_clock(self.now, wall + (self.now - self.t0));
        }
        let actions = self.sup.handle(event, self.now);
        self.perform(actions);
    }

    /// Performs what the core asked for, feeding `Spawned` back at once like the loop.
    fn perform(&mut self, actions: Actions) {
        let mut queue: VecDeque<Event> = VecDeque::new();
        let mut actions = actions;
        loop {
            for action in std::mem::take(&mut actions) {
                match action {
                    Action::Spawn {
                        id,
                        name,
                        spec,
                        purpose: purpose @ (Purpose::PreStart | Purpose::Check),
                    } => {
                        let pid = self.next_pid;
                        self.next_pid += 1;
                        self.helpers.insert(pid, spec.cmd.clone());
                        let what = match purpose {
                            Purpose::Check => "check",
                            _ => "pre-start",
                        };
                        self.ops.push(format!("{what} {name} {pid}"));
                        queue.push_back(Event::Spawned {
                            id,
                            purpose,
                            result: Ok(pid),
                        });
                    }
                    Action::Spawn { id, name, spec, .. } => {
                        let result = if self.missing.contains(&id.service) {
                            self.ops.push(format!("spawn {name} failed"));
                            Err(SpawnFailure {
                                reason: format!("exec {}: No such file or directory", spec.cmd[0]),
                                transient: false,
                            })
                        } else {
                            let pid = self.next_pid;
                            self.next_pid += 1;
                            self.alive.insert(pid, spec.cmd.clone());
                            // A hook's run says what it runs for.
                            match (
                                spec.env.get("TASKMASTER_NAME"),
                                spec.env.get("TASKMASTER_EVENT"),
                            ) {
                                (Some(about), Some(event)) => {
                                    self.ops.push(format!("hook {name} {about} {event} {pid}"))
                                }
                                _ => self.ops.push(format!("spawn {name} {pid}")),
                            }
                            Ok(pid)
                        };
                        queue.push_back(Event::Spawned {
                            id,
                            purpose: Purpose::Main,
                            result,
                        });
                    }
                    Action::Signal { pid, signal, group } => {
                        let to = if group { "group" } else { "pid" };
                        let signal = crate::signals::name(signal);
                        self.ops.push(format!("signal {pid} {signal} {to}"));
                    }
                    Action::SignalCgroup { id, signal } => {
                        let signal = crate::signals::name(signal);
                        self.ops
                            .push(format!("signal {} {signal} cgroup", id.service));
                    }
                    Action::Log { level, text } => {
                        self.logs.push(format!("{}: {text}", level.word()))
                    }
                    Action::Reply { client, response } => {
                        self.replies.entry(client).or_default().push(response)
                    }
                    Action::Exit => self.ops.push("exit".to_string()),
                    Action::EssentialFailed { name } => self.ops.push(format!("essential {name}")),
                    Action::Attach { client, id } => {
                        self.ops.push(format!("attach {client} {}", id.service))
                    }
                    Action::Forget { id } => self.ops.push(format!("forget {}", id.service)),
                    Action::Publish(event) => self
                        .published
                        .push(format!("{} {}", event.name, event.event)),
                }
            }
            match queue.pop_front() {
                Some(event) => actions = self.sup.handle(event, self.now),
                None => break,
            }
        }
    }

    /// Moves the fake clock forward, feeding `Tick` at every deadline that passes.
    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        let mut ticks = 0;
        while let Some(deadline) = self.sup.next_deadline().filter(|d| *d <= target) {
            ticks += 1;
            assert!(ticks < 1000, "the deadline does not move on Tick");
            self.now = self.now.max(deadline);
            self.feed(Event::Tick);
        }
        self.now = target;
    }

    /// Several events handed over at once, as the loop does with what one turn reaped.
    fn feed_all(&mut self, events: Vec<Event>) {
        for event in &events {
            if let Event::Exited { pid, .. } = event {
                self.alive.remove(pid);
            }
        }
        let actions = self.sup.handle_all(events, self.now);
        self.perform(actions);
    }

    /// waitpid reported `pid` dead.
    #[track_caller]
    fn kill(&mut self, pid: i32, status: ExitStatus) {
        assert!(
            self.alive.remove(&pid).is_some(),
            "pid {pid} is not running"
        );
        self.feed(Event::Exited { pid, status });
    }

    /// waitpid reported a `pre-start` dead, and this is what it wrote.
    #[track_caller]
    fn helper_exit(&mut self, pid: i32, status: ExitStatus, output: &str) {
        assert!(
            self.helpers.remove(&pid).is_some(),
            "pre-start pid {pid} is not running"
        );
        self.feed(Event::HelperExited {
            pid,
            status,
            output: output.to_string(),
        });
    }

    fn request(&mut self, request: Command) -> ClientId {
        let client = self.next_client;
        self.next_client += 1;
        self.feed(Event::Request { client, request });
        client
    }

    fn reload(&mut self, config: Config) -> ClientId {
        let client = self.next_client;
        self.next_client += 1;
        self.feed(Event::Reload {
            client: Some(client),
            config,
        });
        client
    }

    /// The reply a client got, if any; a client never gets two.
    #[track_caller]
    fn reply(&mut self, client: ClientId) -> Option<Reply> {
        let mut replies = self.replies.remove(&client)?;
        assert_eq!(replies.len(), 1, "client {client} got {replies:?}");
        replies.pop()
    }

    #[track_caller]
    fn instance(&self, name: &str) -> &Instance {
        self.sup
            .instance(&id(name))
            .unwrap_or_else(|| panic!("no instance {name}"))
    }

    fn exists(&self, name: &str) -> bool {
        self.sup.instance(&id(name)).is_some()
    }

    #[track_caller]
    fn state_of(&self, name: &str) -> State {
        self.instance(name).state
    }

    #[track_caller]
    fn pid_of(&self, name: &str) -> Option<i32> {
        self.instance(name).pid
    }

    #[track_caller]
    fn detail_of(&self, name: &str) -> Option<String> {
        self.instance(name).detail.clone()
    }

    #[track_caller]
    fn status(&self, name: &str) -> InstanceStatus {
        self.sup
            .status_of(&id(name), self.now)
            .unwrap_or_else(|| panic!("no instance {name}"))
    }

    /// How long until the core's next timer, from now.
    fn deadline_in(&self) -> Option<Duration> {
        self.sup.next_deadline().map(|d| {
            d.checked_duration_since(self.now)
                .expect("a deadline in the past was left behind")
        })
    }

    /// Time since the harness started.
    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    fn take_ops(&mut self) -> Vec<String> {
        std::mem::take(&mut self.ops)
    }

    #[track_caller]
    fn expect_ops(&mut self, want: &[&str]) {
        let got = self.take_ops();
        assert_eq!(got, want, "at {:?}", self.elapsed());
    }

    fn take_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }

    /// The names `status` lists (every instance, as the user sees them).
    #[track_caller]
    fn listed(&mut self) -> Vec<String> {
        let client = self.request(Command::Status { names: vec![] });
        match self.reply(client) {
            Some(Reply::Status { instances }) => instances.into_iter().map(|i| i.name).collect(),
            other => panic!("status: {other:?}"),
        }
    }
}

/// The reply to start/stop/restart: `(instance, ok, message)` per instance.
fn outcome(ok: bool, results: &[(&str, bool, &str)]) -> Reply {
    Reply::Outcome {
        ok,
        results: results
            .iter()
            .map(|(name, ok, message)| InstanceOutcome {
                name: name.to_string(),
                action: None,
                ok: *ok,
                message: message.to_string(),
            })
            .collect(),
    }
}

/// The reply to restart: `(instance, action, ok, message)` per instance.
fn reported(ok: bool, results: &[(&str, &str, bool, &str)]) -> Reply {
    Reply::Outcome {
        ok,
        results: results
            .iter()
            .map(|(name, action, ok, message)| InstanceOutcome {
                name: name.to_string(),
                action: Some(action.to_string()),
                ok: *ok,
                message: message.to_string(),
            })
            .collect(),
    }
}

fn error(kind: Refusal, message: &str) -> Reply {
    Reply::refused(kind, message)
}
